"""A Hugging Face ``transformers`` TrainerCallback that records learning dynamics.

    trainer = Trainer(..., callbacks=[DynamicsTrainerCallback("runs/mine/dynamics")])

At the end of every epoch it runs the model over the Trainer's training set (after the Trainer's
own column removal, with its data collator) in index order, in evaluation mode, and stores one
row per example; the logits come from the model's output ``.logits``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from stratigraphy.record.passes import batch_to, default_forward, default_labels, record_pass
from stratigraphy.record.recorder import DynamicsRecorder


class DynamicsTrainerCallback(TrainerCallback):
    """Records every training example's signals once per epoch; ``arrays()`` returns them."""

    def __init__(self, store: str | Path | None = None, batch_size: int = 256) -> None:
        self.store = store
        self.batch_size = batch_size
        self.recorder: DynamicsRecorder | None = None

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model, loader = kwargs["model"], kwargs["train_dataloader"]
        dataset = loader.dataset
        if self.recorder is None:
            self.recorder = DynamicsRecorder(len(dataset), self.store)
        record_pass(
            model,
            default_forward,
            dataset,
            self.recorder,
            self.batch_size,
            collate_fn=loader.collate_fn,
            labels=default_labels,
            to_device=batch_to(next(model.parameters()).device),
        )

    def arrays(self) -> dict[str, Any]:
        """Every recorded signal as an N×E array."""
        if self.recorder is None:
            raise RuntimeError("no epoch has ended yet.")
        return self.recorder.arrays()
