"""Fashion-MNIST train/test tensors, the MLP used by the action benchmarks, and evaluation."""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from stratigraphy import load_fashion_mnist
from stratigraphy.data.sources import FASHION_MNIST_DIR
from stratigraphy.record.models import make_model
from stratigraphy.record.training import cosine_lr

if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
    sys.exit("Fashion-MNIST idx files not found: apt-get install dataset-fashion-mnist")

TRAIN = load_fashion_mnist(split="train")
TEST = load_fashion_mnist(split="test")
X_TEST = torch.from_numpy(TEST.X)
Y_TEST = torch.from_numpy(TEST.y)
LR = 0.05
BATCH = 128
MODEL = "mlp"


def new_model(X: np.ndarray, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return make_model(MODEL, X, 10)


def optimiser(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=5e-4
    )


def set_lr(opt: torch.optim.Optimizer, epoch: int, epochs: int) -> None:
    for g in opt.param_groups:
        g["lr"] = cosine_lr(LR, epoch, epochs)


@torch.no_grad()
def evaluate(model: torch.nn.Module) -> tuple[float, float]:
    """Test accuracy and worst-class test accuracy, in percent."""
    model.eval()
    pred = torch.cat([model(X_TEST[i : i + 2048]).argmax(1) for i in range(0, len(X_TEST), 2048)])
    model.train()
    right = (pred == Y_TEST).float()
    per_class = torch.zeros(10).index_add_(0, Y_TEST, right) / torch.bincount(Y_TEST, minlength=10)
    return 100 * right.mean().item(), 100 * per_class.min().item()


def train_plain(X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> torch.nn.Module:
    """Plain cross-entropy training, the reference every action is compared with."""
    model = new_model(X, seed)
    opt = optimiser(model)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        set_lr(opt, epoch, epochs)
        perm = torch.randperm(len(Xt), generator=g)
        for lo in range(0, len(Xt), BATCH):
            idx = perm[lo : lo + BATCH]
            loss = F.cross_entropy(model(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model
