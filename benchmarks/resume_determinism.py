"""Kill a Fashion-MNIST run during training, resume it, and compare with uninterrupted runs.

python benchmarks/resume_determinism.py [--epochs 6] [--kill-after-epoch 3]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import subprocess
import sys
import time

from _common import OUT, fashion_mnist_available, strat

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=6)
ap.add_argument("--kill-after-epoch", type=int, default=3)
a = ap.parse_args()
if not fashion_mnist_available():
    sys.exit("Fashion-MNIST idx files not found: apt-get install dataset-fashion-mnist")

common = ["fashion-mnist", "--epochs", str(a.epochs), "--noise-rate", "0.2", "--seed", "7"]


def digest(run: str) -> str:
    return hashlib.sha256((OUT / run / "examples.parquet").read_bytes()).hexdigest()[:16]


strat(common, OUT / "fm-a")
strat(common, OUT / "fm-b")

killed = OUT / "fm-killed"
shutil.rmtree(killed, ignore_errors=True)
proc = subprocess.Popen(
    [sys.executable, "-m", "stratigraphy", "run", *common, "--out", str(killed)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
marker = killed / "dynamics" / f"epoch_{a.kill_after_epoch - 1:05d}.parquet"
while not marker.exists():
    time.sleep(0.2)
time.sleep(2.0)  # well inside the next epoch
proc.send_signal(signal.SIGKILL)
proc.wait()
finished = sorted(p.name for p in (killed / "dynamics").glob("epoch_*.parquet"))
print(f"killed with SIGKILL during epoch {a.kill_after_epoch + 1}; files left: {finished}")
_, s = strat([*common, "--resume"], killed, fresh=False)
print(f"resumed from epoch {s['timings']['resumed_from_epoch']}\n")
print("| run | examples.parquet sha256 |")
print("|---|---|")
for run in ("fm-a", "fm-b", "fm-killed"):
    print(f"| {run} | {digest(run)} |")
same = digest("fm-a") == digest("fm-b")
resumed = digest("fm-a") == digest("fm-killed")
print(f"\nsame seed twice identical: {same}; killed + resumed equals uninterrupted: {resumed}")
