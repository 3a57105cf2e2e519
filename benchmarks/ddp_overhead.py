"""Recording overhead under DistributedDataParallel: the torchrun example with and without the
recorder, 2 gloo processes on CPU, runs alternating (order swapped every pair to cancel drift).
Times are the training loop only (the epoch-end gather and rank 0's Parquet write included).

    python benchmarks/ddp_overhead.py [--pairs 4] [--model cnn] [--epochs 2] [--limit 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import fashion_mnist_available

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--pairs", type=int, default=4)
ap.add_argument("--model", default="cnn")
ap.add_argument("--epochs", type=int, default=2)
ap.add_argument("--limit", type=int, default=20000)
a = ap.parse_args()
if not fashion_mnist_available():
    sys.exit("Fashion-MNIST is absent (apt-get install dataset-fashion-mnist); skipping.")


def one(record: bool) -> float:
    out = Path(tempfile.mkdtemp())
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(ROOT / "examples" / "ddp_train.py"), "--out", str(out), "--data", "fashion-mnist",
        "--limit", str(a.limit), "--epochs", str(a.epochs), "--model", a.model,
    ] + ([] if record else ["--no-record"])  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "ddp_summary.json").read_text())["train_seconds"]


with_rec, without = [], []
for p in range(a.pairs):
    for rec in (True, False) if p % 2 == 0 else (False, True):
        (with_rec if rec else without).append(one(rec))
ratio = statistics.median(w / o for w, o in zip(with_rec, without, strict=True))
print(
    f"2 processes (gloo, 1 thread each), {a.limit} examples + probes, {a.model}, {a.epochs} epochs"
)
print("| | median s | all runs s |")
print("|---|---|---|")
for name, ts in (("with recorder", with_rec), ("without", without)):
    print(f"| {name} | {statistics.median(ts):.2f} | {', '.join(f'{t:.2f}' for t in ts)} |")
print(
    f"\nratio (median of paired ratios) = {ratio:.4f}; ratio of totals = {sum(with_rec) / sum(without):.4f}"
)
