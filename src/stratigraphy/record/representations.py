"""What the trained model makes of each input: its penultimate-layer features, recorded once at
the end of training (float16), for the issue types that work in representation space."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stratigraphy.core.errors import ConfigError

BATCH = 1024


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (its classification head): its input is the penultimate
    representation."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("the model has no nn.Linear head to take penultimate features from.")
    return linears[-1]


@torch.no_grad()
def penultimate_features(model: nn.Module, X: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """N×D float16 inputs of the model's last linear layer, in evaluation mode, in row order."""
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []
    hook = last_linear(model).register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].detach().float().cpu())
    )
    was_training = model.training
    model.eval()
    try:
        for start in range(0, X.shape[0], batch):
            model(torch.from_numpy(np.ascontiguousarray(X[start : start + batch])).to(device))
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured).numpy().astype(np.float16)
