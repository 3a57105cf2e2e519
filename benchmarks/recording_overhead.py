"""Recording overhead: Fashion-MNIST, the default CNN, epochs with and without the recorder
alternating in one process (order swapped every pair to cancel drift).

    python benchmarks/recording_overhead.py [--pairs 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from stratigraphy import DynamicsRecorder, load_fashion_mnist
from stratigraphy.record.models import make_model
from stratigraphy.record.training import train_epoch

ap = argparse.ArgumentParser()
ap.add_argument("--pairs", type=int, default=4)
ap.add_argument("--batch-size", type=int, default=128)
a = ap.parse_args()

data = load_fashion_mnist()
X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
n = X.shape[0]
torch.manual_seed(0)
model = make_model("auto", data.X, data.n_classes)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
store_dir = tempfile.mkdtemp()
recorder = DynamicsRecorder(n, store_dir)


def epoch(e: int, record: bool) -> float:
    """One epoch of the library's own loop; the recorded one includes the epoch's Parquet write."""
    t0 = time.perf_counter()
    train_epoch(model, opt, X, y, a.batch_size, 0, e, recorder if record else None)
    return time.perf_counter() - t0


epoch(0, False)  # warm-up
with_rec, without = [], []
for p in range(a.pairs):
    order = (True, False) if p % 2 == 0 else (False, True)
    for rec in order:
        (with_rec if rec else without).append(epoch(2 * p + int(rec), rec))
ratio = statistics.median(w / o for w, o in zip(with_rec, without, strict=True))
print(f"threads {torch.get_num_threads()}, {n} examples, batch {a.batch_size}")
print("| | median epoch s | all epochs s |")
print("|---|---|---|")
print(
    f"| with recorder | {statistics.median(with_rec):.2f} | {', '.join(f'{t:.2f}' for t in with_rec)} |"
)
print(f"| without | {statistics.median(without):.2f} | {', '.join(f'{t:.2f}' for t in without)} |")
print(
    f"\nratio (median of paired ratios) = {ratio:.4f}; "
    f"ratio of totals = {sum(with_rec) / sum(without):.4f}"
)
