"""Dynamic pruning (InfoBatch-style PruningSampler) on Fashion-MNIST: test accuracy against wall
time and against backward passes (examples back-propagated), for several pruning budgets, next
to full training. Same MLP, schedule and epochs; mean over seeds.

    python benchmarks/dynamic_pruning.py [--epochs 20] [--seeds 2] [--prune 0.3 0.5 0.7]
        [--plot docs/img/dynamic_pruning.png]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _fmnist as fm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from stratigraphy import IndexedDataset
from stratigraphy.curate.sampling import PruningSampler

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--seeds", type=int, default=2)
ap.add_argument("--prune", type=float, nargs="+", default=[0.3, 0.5, 0.7])
ap.add_argument("--anneal", type=float, default=0.875)
ap.add_argument("--plot", type=Path, help="write the trade-off curves to this PNG")
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


def plot(path: Path) -> None:
    """Accuracy against backward passes and against wall time, one point per budget and seed
    (the mean joined by a line), full training marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, col, label in ((axes[0], 1, "backward passes (millions)"), (axes[1], 2, "wall s")):
        scale = 1e6 if col == 1 else 1.0
        xs = [statistics.mean(r[col] for r in runs) / scale for runs in results.values()]
        ys = [statistics.mean(r[0] for r in runs) for runs in results.values()]
        ax.plot(xs, ys, "-o", color="tab:blue", label="mean of seeds")
        for (prune, runs), x, y in zip(results.items(), xs, ys, strict=True):
            ax.scatter([r[col] / scale for r in runs], [r[0] for r in runs], s=12, color="gray")
            name = "full" if prune == 0 else f"r={prune:g}"
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
        ax.axhline(full_acc - 0.3, color="tab:red", ls="--", lw=1, label="full − 0.3 points")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].axvline(0.7 * full_bwd / 1e6, color="tab:green", ls=":", lw=1, label="30% fewer")
    axes[0].set_ylabel("test accuracy %")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"PruningSampler on Fashion-MNIST, MLP, {a.epochs} epochs")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if a.plot:
    plot(a.plot)
