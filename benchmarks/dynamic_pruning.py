"""Dynamic pruning (InfoBatch-style PruningSampler) on Fashion-MNIST: test accuracy against wall
time and against backward passes (examples back-propagated), for several pruning budgets, next
to full training. Same MLP, schedule and epochs; mean over seeds.

    python benchmarks/dynamic_pruning.py [--epochs 20] [--seeds 2] [--prune 0.3 0.5 0.7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _fmnist as fm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from stratigraphy import IndexedDataset
from stratigraphy.sampling import PruningSampler

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--seeds", type=int, default=2)
ap.add_argument("--prune", type=float, nargs="+", default=[0.3, 0.5, 0.7])
ap.add_argument("--anneal", type=float, default=0.875)
a = ap.parse_args()

X, y = torch.from_numpy(fm.TRAIN.X), torch.from_numpy(fm.TRAIN.y)
dataset = IndexedDataset(TensorDataset(X, y))


def train(prune: float, seed: int) -> tuple[float, int, float]:
    model = fm.new_model(fm.TRAIN.X, seed)
    opt = fm.optimiser(model)
    sampler = PruningSampler(len(X), a.epochs, prune=prune, anneal=a.anneal, seed=seed)
    loader = DataLoader(dataset, batch_size=fm.BATCH, sampler=sampler)
    backward = 0
    t0 = time.perf_counter()
    for epoch in range(a.epochs):
        fm.set_lr(opt, epoch, a.epochs)
        sampler.set_epoch(epoch)
        for xb, yb, idx in loader:
            loss = F.cross_entropy(model(xb), yb, reduction="none")
            sampler.update(idx, loss)
            opt.zero_grad(set_to_none=True)
            (loss * sampler.weights(idx)).mean().backward()
            opt.step()
            backward += len(idx)
    seconds = time.perf_counter() - t0
    return fm.evaluate(model)[0], backward, seconds


results = {}
for prune in [0.0, *a.prune]:
    runs = [train(prune, s) for s in range(a.seeds)]
    results[prune] = runs
    acc = statistics.mean(r[0] for r in runs)
    print(
        f"prune {prune}: accuracy {acc:.2f}% ({', '.join(f'{r[0]:.2f}' for r in runs)}), "
        f"backward {runs[0][1]}, wall {statistics.mean(r[2] for r in runs):.0f} s",
        flush=True,
    )

full_acc = statistics.mean(r[0] for r in results[0.0])
full_bwd = statistics.mean(r[1] for r in results[0.0])
full_s = statistics.mean(r[2] for r in results[0.0])
print(f"\nFashion-MNIST, MLP, {a.epochs} epochs, anneal {a.anneal}, mean of {a.seeds} seeds\n")
print(
    "| pruning r | test accuracy % (per seed) | Δ accuracy (points) | backward passes | "
    "saved | wall s | saved |"
)
print("|---|---|---|---|---|---|---|")
for prune, runs in results.items():
    acc = statistics.mean(r[0] for r in runs)
    bwd = statistics.mean(r[1] for r in runs)
    sec = statistics.mean(r[2] for r in runs)
    print(
        f"| {'full data' if prune == 0 else prune} | {acc:.2f} "
        f"({', '.join(f'{r[0]:.2f}' for r in runs)}) | {acc - full_acc:+.2f} | {bwd:,.0f} | "
        f"{1 - bwd / full_bwd:.1%} | {sec:.0f} | {1 - sec / full_s:.1%} |"
    )
