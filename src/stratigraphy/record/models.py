"""The small models the main job trains: an MLP for vectors and small images, a CNN for images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stratigraphy.core.errors import ConfigError

MODEL_KINDS = ("auto", "mlp", "cnn")
CNN_MIN_SIDE = 16


class Standardize(nn.Module):
    """Input normalisation with statistics of the training data, kept in the checkpoint."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def resolve_kind(kind: str, input_shape: tuple[int, ...]) -> str:
    """``auto`` picks the CNN for images of side ≥ 16, the MLP otherwise."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"model must be one of {MODEL_KINDS}; got {kind!r}.")
    is_image = len(input_shape) == 3
    if kind == "cnn" and not is_image:
        raise ConfigError("the CNN needs image inputs (N×C×H×W); use --model mlp for vectors.")
    if kind == "auto":
        return "cnn" if is_image and min(input_shape[1:]) >= CNN_MIN_SIDE else "mlp"
    return kind


def make_model(kind: str, X: np.ndarray, n_classes: int, width: int = 256) -> nn.Module:
    """Build the model for inputs like ``X`` (statistics taken from it for normalisation)."""
    kind = resolve_kind(kind, tuple(X.shape[1:]))
    if kind == "mlp":
        flat = X.reshape(X.shape[0], -1)
        return nn.Sequential(
            nn.Flatten(),
            Standardize(flat.mean(0), flat.std(0) + 1e-3),
            nn.Linear(flat.shape[1], width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, n_classes),
        )
    c = X.shape[1]
    mean = X.mean(axis=(0, 2, 3)).reshape(c, 1, 1)
    std = X.std(axis=(0, 2, 3)).reshape(c, 1, 1) + 1e-3

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]

    return nn.Sequential(
        Standardize(mean, std),
        *block(c, 32),
        *block(32, 64),
        *block(64, 128),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * 4, width),
        nn.ReLU(),
        nn.Linear(width, n_classes),
    )
