"""Dynamics from checkpoints a user already saved: each checkpoint is loaded into a fresh model
from ``model_factory`` and run once over the dataset in index order, in evaluation mode, exactly
as the in-loop callbacks record an epoch (:func:`record_pass`), so the signals equal the ones a
callback would have recorded at the moments the checkpoints were taken.

A checkpoint is a state dict, a file holding one (``torch.save``; ``.safetensors``; or a dict
with ``model``/``state_dict``/``model_state_dict``, as stratigraphy's own runs and many training
scripts save), or a directory holding ``model.safetensors`` or ``pytorch_model.bin`` (a Hugging
Face ``Trainer`` checkpoint). :func:`find_checkpoints` lists a Trainer's ``checkpoint-<step>``
directories in step order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from stratigraphy.core.errors import ConfigError, DataValidationError
from stratigraphy.record.passes import Batch, batch_to, default_forward, default_labels, record_pass
from stratigraphy.record.recorder import DynamicsRecorder
from stratigraphy.record.store import DynamicsStore

Checkpoint = str | Path | Mapping[str, torch.Tensor]
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
STATE_KEYS = ("model", "state_dict", "model_state_dict")
_STEP = re.compile(r"checkpoint-(\d+)$")


def checkpoint_paths(given: Sequence[Path]) -> list[Path]:
    """The checkpoints named on a command line: a single directory that is not itself a
    checkpoint is a Trainer output directory, read in step order."""
    if (
        len(given) == 1
        and given[0].is_dir()
        and not any((given[0] / f).is_file() for f in WEIGHT_FILES)
    ):
        return find_checkpoints(given[0])
    return list(given)


def find_checkpoints(directory: str | Path) -> list[Path]:
    """A Trainer output directory's ``checkpoint-<step>`` folders, in step order."""
    root = Path(directory)
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP.search(p.name))]
    if not found:
        raise DataValidationError(f"{root}: no checkpoint-<step> directories in it.")
    return [p for _, p in sorted(found)]


def load_state_dict(checkpoint: Checkpoint) -> Mapping[str, torch.Tensor]:
    """The model weights of one checkpoint (see the module docstring for the forms accepted)."""
    if isinstance(checkpoint, Mapping):
        state: Any = checkpoint
    else:
        path = Path(checkpoint)
        if path.is_dir():
            weights = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
            if not weights:
                raise DataValidationError(
                    f"{path}: a checkpoint directory must hold one of {', '.join(WEIGHT_FILES)}."
                )
            path = weights[0]
        if not path.is_file():
            raise DataValidationError(f"{path}: no such checkpoint.")
        if path.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError as exc:
                raise ConfigError(
                    f"{path} is a .safetensors file: pip install safetensors (it comes with "
                    '"stratigraphy[huggingface]").'
                ) from exc
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    for key in STATE_KEYS:
        if isinstance(state.get(key), Mapping):
            return state[key]
    if not all(torch.is_tensor(v) for v in state.values()):
        raise DataValidationError(
            f"checkpoint {checkpoint!s:.80}: not a state dict (keys {sorted(state)[:5]}); save "
            "model.state_dict(), or a dict holding it under one of " + ", ".join(STATE_KEYS) + "."
        )
    return state


def _untied(model: torch.nn.Module, missing: list[str]) -> list[str]:
    """The missing weights that are not tied to a loaded one (saved files keep a tied weight,
    such as shared input and output embeddings, once)."""
    state = model.state_dict(keep_vars=True)
    loaded = {state[k].data_ptr() for k in state if k not in set(missing)}
    return [k for k in missing if state[k].data_ptr() not in loaded]


def record_checkpoints(
    checkpoints: Sequence[Checkpoint],
    dataset: Any,
    model_factory: Callable[[], torch.nn.Module],
    forward: Callable[[torch.nn.Module, Batch], torch.Tensor] = default_forward,
    batch_size: int = 256,
    collate_fn: Callable[[list[Any]], Batch] | None = None,
    labels: Callable[[Batch], torch.Tensor] = default_labels,
    device: str | torch.device = "cpu",
    store: DynamicsStore | str | Path | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Every example's N×E signals, one epoch per checkpoint in the order given. ``dataset`` may
    be a :class:`ProbedDataset`; then ``analyze(signals, dataset.plan)`` gives the full inference.
    With ``store`` the epochs are written there as they finish (a run's ``dynamics``)."""
    if len(checkpoints) < 2:
        raise DataValidationError(f"Dynamics need at least 2 checkpoints; got {len(checkpoints)}.")
    target = torch.device(device)
    recorder = DynamicsRecorder(len(dataset), store)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("checkpoints", total=len(checkpoints))
        for checkpoint in checkpoints:
            model = model_factory()
            missing, unexpected = model.load_state_dict(load_state_dict(checkpoint), strict=False)
            missing = _untied(model, missing)
            if missing or unexpected:
                raise DataValidationError(
                    f"checkpoint {checkpoint!s:.80} does not fit the model from model_factory: "
                    f"{len(missing)} weight(s) missing (e.g. {missing[:1]}), {len(unexpected)} "
                    f"unexpected (e.g. {unexpected[:1]})."
                )
            record_pass(model.to(target), forward, dataset, recorder, batch_size, collate_fn,
                        labels, batch_to(target))  # fmt: skip
            bar.advance(task)
    return recorder.arrays()
