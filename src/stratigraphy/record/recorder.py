"""Recording per-example learning dynamics from the training forward pass, in any PyTorch loop.

Wrap the dataset in :class:`IndexedDataset` so every batch carries its example indices, call
:meth:`DynamicsRecorder.update` after the forward pass and :meth:`DynamicsRecorder.end_epoch`
after each epoch. Everything is vectorised per batch; nothing is copied to the host until the
epoch ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from stratigraphy.core.errors import DataValidationError, RunDirectoryError, TrainingDivergedError
from stratigraphy.record.distributed import MergeStats, merge_rows, world
from stratigraphy.record.store import FLOAT_SIGNALS, DynamicsStore


class IndexedDataset(Dataset):
    """Wraps a map-style dataset so each item is ``(*item, index)``; the data is not copied."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        item = self.dataset[index]
        if isinstance(item, tuple):
            return (*item, index)
        return (item, index)


@torch.no_grad()
def signals_from_logits(
    logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Per-example loss, margin, probability of the given label, EL2N and prediction."""
    logits = logits.detach().float()
    labels = labels.detach().long()
    logp = torch.log_softmax(logits, dim=1)
    logp_y = logp.gather(1, labels[:, None]).squeeze(1)
    p = logp.exp()
    p_y = logp_y.exp()
    other = logits.scatter(1, labels[:, None], float("-inf"))
    margin = logits.gather(1, labels[:, None]).squeeze(1) - other.max(1).values
    el2n = ((p * p).sum(1) - 2.0 * p_y + 1.0).clamp_(min=0.0).sqrt_()
    return {
        "loss": -logp_y if loss is None else loss.detach().float(),
        "margin": margin,
        "p_label": p_y,
        "el2n": el2n,
        "pred": logits.argmax(1).to(torch.int32),
    }


class DynamicsRecorder:
    """Collects one value per example per epoch of each signal; see the module docstring.

    ``store`` is a directory (or :class:`DynamicsStore`) that receives each finished epoch; with
    ``None`` the epochs stay in memory, available from :meth:`arrays`. While an epoch's logits fit
    in ``defer_bytes``, a batch costs one copy of its logits into a buffer and the signals are
    computed for all examples at once when the epoch ends; above it they are computed per batch.

    Under ``torch.distributed`` each rank records the batches of its own shard; ``end_epoch``
    (called on every rank) gathers them so every rank holds one value per example, and rank 0
    alone writes the store. ``last_merge`` tells how many repeats the sampler's padding caused.
    """

    def __init__(
        self,
        n_examples: int,
        store: DynamicsStore | str | Path | None = None,
        start_epoch: int = 0,
        defer_bytes: int = 512 * 2**20,
    ) -> None:
        if n_examples <= 0:
            raise ValueError("n_examples must be positive.")
        self.n_examples = n_examples
        self.store = DynamicsStore(store, n_examples) if isinstance(store, str | Path) else store
        if self.store is not None and self.store.finished_epochs() > start_epoch:
            raise RunDirectoryError(
                f"{self.store.directory} already holds {self.store.finished_epochs()} recorded "
                f"epoch(s): pass start_epoch={self.store.finished_epochs()} to continue that run, "
                "or record into an empty directory."
            )
        self.epoch = start_epoch
        self._negative_labels: torch.Tensor | None = None
        self.defer_bytes = defer_bytes
        self._buffers: dict[str, torch.Tensor] | None = None
        self._memory: list[dict[str, np.ndarray]] = []
        self.last_merge: MergeStats | None = None

    def _allocate(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        device, n = logits.device, self.n_examples
        bufs = {"loss": torch.full((n,), float("nan"), device=device)}
        if n * logits.shape[1] * 4 <= self.defer_bytes:
            bufs["logits"] = torch.zeros((n, logits.shape[1]), device=device)
            bufs["labels"] = torch.full((n,), -1, dtype=torch.long, device=device)
            return bufs
        for name in FLOAT_SIGNALS[1:]:
            bufs[name] = torch.full((n,), float("nan"), device=device)
        bufs["pred"] = torch.full((n,), -1, dtype=torch.int32, device=device)
        return bufs

    def update(
        self,
        indices: torch.Tensor,
        logits: torch.Tensor,
        labels: torch.Tensor,
        loss: torch.Tensor | None = None,
    ) -> None:
        """Record a batch: its example ``indices``, ``logits`` (B×C), ``labels`` and optionally the
        per-example ``loss`` already computed (``reduction='none'``), kept as the loss signal."""
        if self._buffers is None:
            self._buffers = self._allocate(logits)
            self._negative_labels = torch.zeros((), dtype=torch.long, device=logits.device)
        bufs = self._buffers
        idx = indices.to(bufs["loss"].device, torch.long)
        assert self._negative_labels is not None
        self._negative_labels += (labels.detach().to(self._negative_labels.device) < 0).sum()
        try:
            with torch.no_grad():
                if "logits" in bufs:
                    bufs["logits"].index_copy_(0, idx, logits.detach().float())
                    bufs["labels"].index_copy_(0, idx, labels.detach().long())
                    if loss is not None:
                        bufs["loss"].index_copy_(0, idx, loss.detach().float())
                    return
                for name, value in signals_from_logits(logits, labels, loss).items():
                    bufs[name].index_copy_(0, idx, value.to(bufs[name].dtype))
        except (IndexError, RuntimeError) as exc:
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n_examples):
                raise IndexError(
                    f"example index out of range 0..{self.n_examples - 1}; wrap the dataset in "
                    "IndexedDataset and pass the batch's indices."
                ) from exc
            raise

    def _finish(self, bufs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        if "logits" not in bufs:
            return {name: buf.cpu().numpy() for name, buf in bufs.items()}
        seen = torch.nonzero(bufs["labels"] >= 0).squeeze(1)
        sig = signals_from_logits(bufs["logits"][seen], bufs["labels"][seen])
        given = bufs["loss"][seen]
        sig["loss"] = torch.where(torch.isnan(given), sig["loss"], given)
        out = {}
        for name, value in sig.items():
            fill = -1 if name == "pred" else float("nan")
            full = torch.full((self.n_examples,), fill, dtype=value.dtype, device=value.device)
            out[name] = full.index_copy_(0, seen, value).cpu().numpy()
        return out

    def end_epoch(self) -> dict[str, np.ndarray]:
        """Close the epoch: hand its signals to the store (or memory) and reset the buffers."""
        if self._buffers is None:
            raise RuntimeError("end_epoch() called before any update() in this epoch.")
        bufs = self._buffers
        if self._negative_labels is not None and int(self._negative_labels):
            self._buffers = None
            raise DataValidationError(
                f"{int(self._negative_labels)} label(s) below 0 were recorded in epoch "
                f"{self.epoch}: labels are class indices 0..C-1 (ignore-index targets such as "
                "-100 must be left out of update())."
            )
        rank, size = world()
        if size > 1:
            seen = bufs["labels"] >= 0 if "logits" in bufs else bufs["pred"] >= 0
            bufs, self.last_merge = merge_rows(bufs, seen)
        out = self._finish(bufs)
        diverged = (out["pred"] >= 0) & ~np.isfinite(out["loss"])
        if diverged.any():
            self._buffers = None
            raise TrainingDivergedError(
                f"{int(diverged.sum())} example(s) had a NaN or infinite loss or logits in epoch "
                f"{self.epoch}: training diverged. The epoch is not recorded; the "
                f"{self.epoch} before it are kept."
            )
        if self.store is not None and rank == 0:
            self.store.write_epoch(self.epoch, out)
        else:
            self._memory.append(
                {k: v.astype(np.float16 if k != "pred" else np.int32) for k, v in out.items()}
            )
        self.epoch += 1
        self._buffers = None
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """Every recorded signal as an N×E array (from the store or memory)."""
        if self.store is not None:
            return self.store.read_all()
        if not self._memory:
            raise RuntimeError("nothing recorded yet: call end_epoch() after each epoch.")
        return {k: np.stack([m[k] for m in self._memory], axis=1) for k in self._memory[0]}
