"""Static pruning on Fashion-MNIST: keep 30 / 50 / 70% by each score, with and without class
quotas (DRoP: quotas from per-class validation error); average and worst-class test accuracy.

Scores come from one recorded run on the training split (54,000 examples); class errors from
that run's model on the 6,000 held-out validation examples.

    python benchmarks/static_pruning.py [--score-epochs 10] [--epochs 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import _fmnist as fm
import numpy as np
import torch

from stratigraphy import compute_scores
from stratigraphy.curate.pruning import select_keep
from stratigraphy.record.store import DynamicsStore
from stratigraphy.record.training import TrainConfig, train_and_record

ap = argparse.ArgumentParser()
ap.add_argument("--score-epochs", type=int, default=10)
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--keep", type=float, nargs="+", default=[0.3, 0.5, 0.7])
ap.add_argument("--by", nargs="+", default=["el2n", "forgetting", "aum", "mean_loss", "random"])
ap.add_argument(
    "--train-seeds", type=int, default=1, help="trainings per cell (different seeds), averaged"
)
a = ap.parse_args()

rng = np.random.default_rng(0)
perm = rng.permutation(len(fm.TRAIN.y))
val, tr = perm[:6000], perm[6000:]
X, y = fm.TRAIN.X[tr], fm.TRAIN.y[tr]

with tempfile.TemporaryDirectory() as tmp:
    res = train_and_record(X, y, 10, TrainConfig(epochs=a.score_epochs, model="mlp"), Path(tmp))
    signals = DynamicsStore(Path(tmp) / "dynamics").read_all()
scores = compute_scores(signals, y)
with torch.no_grad():
    pred = res.model(torch.from_numpy(fm.TRAIN.X[val])).argmax(1).numpy()
wrong = (pred != fm.TRAIN.y[val]).astype(float)
class_error = np.bincount(fm.TRAIN.y[val], weights=wrong, minlength=10) / np.bincount(
    fm.TRAIN.y[val], minlength=10
)
print("validation error per class:", np.round(class_error, 3).tolist(), flush=True)

full = fm.train_plain(X, y, a.epochs, 0)
full_acc, full_worst = fm.evaluate(full)
print(f"full data: {full_acc:.2f} / worst {full_worst:.1f}", flush=True)
rows = []
for keep in a.keep:
    for by in a.by:
        cells = []
        for quotas in (False, True):
            kept = select_keep(scores, y, keep, by, class_error if quotas else None, seed=0)
            runs = [
                fm.evaluate(fm.train_plain(X[kept], y[kept], a.epochs, s))
                for s in range(a.train_seeds)
            ]
            cells.append(tuple(float(np.mean(v)) for v in zip(*runs, strict=True)))
            if a.train_seeds > 1:
                print(f"  {keep} {by} quotas={quotas} per seed:", runs, flush=True)
        rows.append((keep, by, cells))
        print(keep, by, cells, flush=True)

print(
    f"\nFashion-MNIST (54,000 training examples), MLP, {a.epochs} epochs; scores from a "
    f"{a.score_epochs}-epoch recorded run; each cell the mean of {a.train_seeds} training "
    f"seed(s). Full data: {full_acc:.2f}% average, "
    f"{full_worst:.1f}% worst class.\n"
)
print("| keep | score | average % | worst class % | average %, quotas | worst class %, quotas |")
print("|---|---|---|---|---|---|")
for keep, by, ((acc, worst), (acc_q, worst_q)) in rows:
    mark = " **" if worst_q > worst else ""
    print(f"| {keep:.0%} | {by} | {acc:.2f} | {worst:.1f} | {acc_q:.2f} | {worst_q:.1f}{mark} |")
