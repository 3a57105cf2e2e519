"""A Lightning callback that records learning dynamics without changes to the user's model.

    trainer = L.Trainer(callbacks=[DynamicsCallback("runs/mine/dynamics")])

At the end of every training epoch it runs the LightningModule over the training set in index
order, in evaluation mode, and stores one row per example (see :mod:`stratigraphy.record.passes`).
Under a DDP strategy each rank takes its shard and rank 0 writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from stratigraphy.record.passes import Batch, default_labels, record_pass
from stratigraphy.record.recorder import DynamicsRecorder


def _default_forward(module: torch.nn.Module, batch: Batch) -> torch.Tensor:
    return module(batch[0])


class DynamicsCallback(pl.Callback):
    """Records loss, margin, p(label), EL2N and prediction of every training example per epoch.

    ``forward(module, batch)`` returns logits (default: ``module(batch[0])``); ``labels(batch)``
    the labels (default: ``batch[1]`` or ``batch["labels"]``). ``dataset`` defaults to the
    trainer's training dataset.
    """

    def __init__(
        self,
        store: str | Path | None = None,
        dataset: Any = None,
        batch_size: int = 256,
        forward: Callable[[torch.nn.Module, Batch], torch.Tensor] = _default_forward,
        labels: Callable[[Batch], torch.Tensor] = default_labels,
    ) -> None:
        self.store = store
        self.dataset = dataset
        self.batch_size = batch_size
        self.forward = forward
        self.labels = labels
        self.recorder: DynamicsRecorder | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loader = trainer.train_dataloader
        dataset = self.dataset if self.dataset is not None else getattr(loader, "dataset", None)
        if dataset is None:
            raise RuntimeError("the trainer has no training dataloader; pass dataset=.")
        if self.recorder is None:
            self.recorder = DynamicsRecorder(len(dataset), self.store)
        record_pass(
            pl_module,
            self.forward,
            dataset,
            self.recorder,
            self.batch_size,
            collate_fn=getattr(loader, "collate_fn", None) if self.dataset is None else None,
            labels=self.labels,
            to_device=lambda b: pl_module.transfer_batch_to_device(b, pl_module.device, 0),
        )

    def arrays(self) -> dict[str, Any]:
        """Every recorded signal as an N×E array."""
        if self.recorder is None:
            raise RuntimeError("no epoch has ended yet.")
        return self.recorder.arrays()
