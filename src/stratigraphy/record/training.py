"""The main job's training loop: one seeded, resumable pass per epoch with the recorder attached."""

from __future__ import annotations

import math
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stratigraphy.core.atomic import atomic_write
from stratigraphy.core.errors import ConfigError, RunDirectoryError, TrainingDivergedError
from stratigraphy.record.models import MODEL_KINDS, make_model
from stratigraphy.record.recorder import DynamicsRecorder
from stratigraphy.record.store import DynamicsStore

EVAL_BATCH = 1024


@dataclass
class TrainConfig:
    """Optimisation settings: SGD with momentum and a cosine learning-rate schedule."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    model: str = "auto"
    seed: int = 0
    eval_pass: bool = False
    device: str = "auto"

    def validate(self) -> None:
        if self.epochs < 2:
            raise ConfigError("--epochs must be at least 2: trajectories need several epochs.")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1; got {self.batch_size}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a finite number greater than 0; got {self.lr}.")
        if not (0 <= self.momentum < 1 and 0 <= self.weight_decay < 1):
            raise ConfigError("momentum and weight decay must lie in [0, 1).")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be an integer in 0..2**32-1; got {self.seed}.")
        if self.model not in MODEL_KINDS:
            raise ConfigError(f"--model must be one of {MODEL_KINDS}; got {self.model!r}.")
        resolve_device(self.device)


def resolve_device(name: str) -> torch.device:
    """``auto`` trains on the GPU when torch sees one (CUDA, then Apple's MPS), else the CPU; a
    named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    choices = f"--device must be auto, cpu, cuda, cuda:N or mps; got {name!r}."
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(choices) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu.")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: Apple's MPS backend is not available here.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(choices)
    return device


@dataclass
class TrainResult:
    model: nn.Module
    epoch_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    resumed_from: int = 0
    device: str = "cpu"
    history: list[tuple[float, float]] = field(default_factory=list)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling stream of one epoch, derived from (seed, epoch) so a resumed run replays it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    return 0.5 * base * (1.0 + math.cos(math.pi * epoch / epochs))


def _save_checkpoint(path: Path, epoch: int, model: nn.Module, opt: torch.optim.Optimizer) -> None:
    state = {"epoch": epoch, "model": model.state_dict(), "optim": opt.state_dict()}
    try:
        atomic_write(path, lambda tmp: torch.save(state, tmp))
    except RuntimeError as exc:  # torch reports a failed write (a full disk) as RuntimeError
        raise RunDirectoryError(
            f"could not write the checkpoint {path} after epoch {epoch}: is the disk full? Free "
            f"space and continue with --resume ({str(exc).splitlines()[0]})."
        ) from exc


def _load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The checkpoint's state, or None (with a warning) where the file is damaged: the run then
    retrains from epoch 0, which gives the same result."""
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        if not isinstance(state, dict) or not {"epoch", "model", "optim"} <= set(state):
            raise ValueError("not a stratigraphy checkpoint")
        return state
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        warnings.warn(f"{path} is damaged ({exc}); retraining from epoch 0.", stacklevel=2)
        return None


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    seed: int,
    epoch: int,
    recorder: DynamicsRecorder | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[float, float]:
    """One seeded pass of SGD over (X, y), on the device they live on; the recorder, when given,
    sees every batch and closes the epoch. The order is drawn on the CPU, so every device sees
    the same batches. Returns the epoch's mean training loss and accuracy."""
    n = X.shape[0]
    perm = torch.randperm(n, generator=epoch_generator(seed, epoch)).to(X.device)
    finite = torch.ones((), dtype=torch.bool, device=X.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
    correct = torch.zeros((), dtype=torch.long, device=X.device)
    for b, lo in enumerate(range(0, n, batch_size)):
        idx = perm[lo : lo + batch_size]
        xb, yb = X[idx], y[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb, reduction="none")
        finite &= torch.isfinite(loss).all()  # no host sync per batch: checked once per epoch
        loss_sum += loss.detach().sum()
        correct += (logits.detach().argmax(1) == yb).sum()
        opt.zero_grad(set_to_none=True)
        loss.mean().backward()
        opt.step()
        if recorder is not None:
            recorder.update(idx, logits, yb, loss)
        if on_batch is not None:
            on_batch(epoch, b + 1)
    if not bool(finite):
        raise TrainingDivergedError(
            f"training diverged in epoch {epoch + 1}: the loss became NaN or infinite. The "
            f"{epoch} finished epoch(s) are kept; lower --lr and start a new run."
        )
    if recorder is not None:
        recorder.end_epoch()
    return float(loss_sum) / n, int(correct) / n


@torch.no_grad()
def evaluation_pass(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, rec: DynamicsRecorder
) -> None:
    """Augmentation-free signals of every row in evaluation mode (one extra forward pass)."""
    model.eval()
    for start in range(0, X.shape[0], EVAL_BATCH):
        idx = torch.arange(start, min(start + EVAL_BATCH, X.shape[0]), device=X.device)
        rec.update(idx, model(X[idx]), y[idx])
    rec.end_epoch()
    model.train()


def _resume(
    ckpt: Path | None,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    stores: list[DynamicsStore],
    resume: bool,
) -> int:
    """The epoch to start from: the last one the checkpoint and every store finished (with
    ``resume``), else 0; stores lose any epoch after it."""
    start = 0
    if resume and ckpt is not None and ckpt.is_file():
        state = _load_checkpoint(ckpt, next(model.parameters()).device)
        done = [s.readable_epochs() for s in stores]
        if state is not None and min([state["epoch"], *done]) == state["epoch"]:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optim"])
            start = state["epoch"]
    for s in stores:
        s.truncate(start)
    return start


def train_and_record(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    config: TrainConfig,
    run_dir: Path | None = None,
    resume: bool = False,
    record: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train on (X, y), recording every row's signals each epoch into ``run_dir/dynamics``.

    With ``resume`` it continues from the last epoch both the store and the checkpoint finished;
    the replay is exact because shuffling and initialisation derive from the seed alone.
    ``on_batch(epoch, batches_done)`` and ``on_epoch(epoch, mean_loss, accuracy)`` let a caller
    draw progress.
    """
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = make_model(config.model, X, n_classes).to(device)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=True,
    )
    n = X.shape[0]
    store = eval_store = None
    if record and run_dir is not None:
        store = DynamicsStore(run_dir / "dynamics", n)
        if config.eval_pass:
            eval_store = DynamicsStore(run_dir / "dynamics" / "eval", n)
    ckpt = run_dir / "checkpoint.pt" if run_dir else None
    start = _resume(ckpt, model, opt, [s for s in (store, eval_store) if s is not None], resume)
    rec = DynamicsRecorder(n, store, start_epoch=start) if record else None
    eval_rec = DynamicsRecorder(n, eval_store, start_epoch=start) if eval_store else None
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    result = TrainResult(model, resumed_from=start, device=str(device))
    model.train()
    for epoch in range(start, config.epochs):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(config.lr, epoch, config.epochs)
        t0 = time.perf_counter()
        stats = train_epoch(model, opt, Xt, yt, config.batch_size, config.seed, epoch, rec,
                            on_batch)  # fmt: skip
        result.epoch_seconds.append(time.perf_counter() - t0)
        result.history.append(stats)
        if on_epoch is not None:
            on_epoch(epoch, *stats)
        if eval_rec is not None:
            t1 = time.perf_counter()
            evaluation_pass(model, Xt, yt, eval_rec)
            result.eval_seconds.append(time.perf_counter() - t1)
        if ckpt is not None:
            _save_checkpoint(ckpt, epoch + 1, model, opt)
    return result
