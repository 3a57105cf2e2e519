"""One recorded forward pass over a dataset in a fixed order, for loops the library does not own.

Framework callbacks (Lightning, Hugging Face) cannot see which examples a shuffled training
batch holds, so they record at the end of each epoch with an extra pass in evaluation mode over
the training set in index order; under ``torch.distributed`` each rank takes its
``DistributedSampler`` shard and the recorder merges them. Any ``collate_fn`` works, because the
example indices come from the sampler, not from the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler

from stratigraphy.record.distributed import world
from stratigraphy.record.recorder import DynamicsRecorder

Batch = Any
LABEL_KEYS = ("labels", "label", "y")


def ordered_batches(
    dataset: Any, batch_size: int, collate_fn: Callable[[list[Any]], Batch] | None = None
) -> Iterator[tuple[torch.Tensor, Batch]]:
    """``(indices, batch)`` over the whole dataset in index order (this rank's shard when
    distributed)."""
    rank, size = world()
    sampler: Any = (
        DistributedSampler(dataset, num_replicas=size, rank=rank, shuffle=False)
        if size > 1
        else SequentialSampler(dataset)
    )
    order = torch.tensor(list(sampler), dtype=torch.long)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn)
    for b, batch in enumerate(loader):
        yield order[b * batch_size : (b + 1) * batch_size], batch


def default_labels(batch: Batch) -> torch.Tensor:
    """The labels of an ``(inputs, labels, ...)`` tuple or of a dict with ``labels``/``label``."""
    if isinstance(batch, Mapping):
        for key in LABEL_KEYS:
            if key in batch:
                return batch[key]
        raise KeyError(f"no labels in the batch (keys {sorted(batch)}); pass labels=.")
    return batch[1]


def default_forward(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Logits of a dict batch (``model(**inputs)``, labels left out) or of an ``(inputs, labels)``
    tuple (``model(inputs)``); an output with ``.logits`` (Hugging Face) or a tuple gives its
    logits or first element."""
    if isinstance(batch, Mapping):
        out = model(**{k: v for k, v in batch.items() if k not in LABEL_KEYS})
    else:
        out = model(batch[0])
    if hasattr(out, "logits"):
        return out.logits
    return out[0] if isinstance(out, tuple) else out


def batch_to(device: torch.device) -> Callable[[Batch], Batch]:
    """Moves a dict or tuple batch's tensors to ``device``."""

    def move(batch: Batch) -> Batch:
        if isinstance(batch, Mapping):
            return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        return [v.to(device) if torch.is_tensor(v) else v for v in batch]

    return move


def dataset_labels(
    dataset: Any,
    batch_size: int = 1024,
    collate_fn: Callable[[list[Any]], Batch] | None = None,
    labels: Callable[[Batch], torch.Tensor] = default_labels,
) -> np.ndarray:
    """Every example's label in index order, read from the batches as :func:`record_pass` sees
    them (a dataset with a ``plan``, such as ``ProbedDataset``, gives ``plan.y`` directly)."""
    plan = getattr(dataset, "plan", None)
    if plan is not None:
        return np.asarray(plan.y, dtype=np.int64)
    out = np.full(len(dataset), -1, dtype=np.int64)
    for idx, batch in ordered_batches(dataset, batch_size, collate_fn):
        out[idx.numpy()] = torch.as_tensor(labels(batch)).cpu().numpy()
    return out


@torch.no_grad()
def record_pass(
    model: torch.nn.Module,
    forward: Callable[[torch.nn.Module, Batch], torch.Tensor],
    dataset: Any,
    recorder: DynamicsRecorder,
    batch_size: int = 256,
    collate_fn: Callable[[list[Any]], Batch] | None = None,
    labels: Callable[[Batch], torch.Tensor] = default_labels,
    to_device: Callable[[Batch], Batch] | None = None,
) -> dict[str, Any]:
    """Record every example's signals from ``forward(model, batch)`` logits in evaluation mode,
    restore the model's mode, and close the recorder's epoch."""
    was_training = model.training
    model.eval()
    try:
        for idx, batch in ordered_batches(dataset, batch_size, collate_fn):
            if to_device is not None:
                batch = to_device(batch)
            logits = forward(model, batch)
            recorder.update(idx, logits, labels(batch))
    finally:
        model.train(was_training)
    return recorder.end_epoch()
