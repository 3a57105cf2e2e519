"""Record learning dynamics in a Lightning loop with stratigraphy's callback, then analyse.

    python examples/lightning_train.py --out runs/lightning [--epochs 15]

The LightningModule is an ordinary one: the callback runs it over the training set at the end
of each epoch; nothing in the model or the training step changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning.pytorch as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stratigraphy import ProbeConfig, analyze, load_digits_data, plant_label_noise
from stratigraphy.probes.dataset import ProbedDataset
from stratigraphy.record.lightning_callback import DynamicsCallback


class Classifier(L.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    digits = load_digits_data()
    noisy, truth = plant_label_noise(digits.y, 10, 0.1, seed=0)
    data = TensorDataset(torch.from_numpy(digits.X), torch.from_numpy(noisy))
    probed = ProbedDataset(data, n_classes=10, config=ProbeConfig(seed=0))
    callback = DynamicsCallback(args.out / "dynamics")
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(
        max_epochs=args.epochs, callbacks=[callback], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(Classifier(), DataLoader(probed, batch_size=64, shuffle=True))
    result = analyze(callback.arrays(), probed.plan, digits.class_names, truth, digits.y)
    quality = result.summary["detection"]["scores"]["mislabel_score"]
    print("metadata:", result.summary["counts"])
    print(f"planted label errors: AP {quality['ap']:.3f}, AUROC {quality['auroc']:.3f}")


if __name__ == "__main__":
    main()
