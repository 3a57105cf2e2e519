"""The main job on the CPU and on a GPU, side by side: wall time, time per epoch and detection.

python benchmarks/devices.py [--data-dir DIR] [--epochs 15] [--devices cuda,cpu]

Runs ``strat run digits`` and ``strat run fashion-mnist --noise-rate 0.2`` (the default CNN) on
each device in turn; Fashion-MNIST is skipped when its idx files are absent.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from _common import OUT, fashion_mnist_available, strat

parser = argparse.ArgumentParser()
parser.add_argument("--data-dir", default=None, help="directory of Fashion-MNIST idx files")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--devices", default="cuda,cpu")
args = parser.parse_args()

settings = [("digits", ["digits"])]
if args.data_dir or fashion_mnist_available():
    fm = ["fashion-mnist", "--noise-rate", "0.2", "--epochs", str(args.epochs)]
    settings.append(("fashion-mnist 20% sym.", fm + (["--data-dir", args.data_dir]
                                                       if args.data_dir else [])))  # fmt: skip

print(f"CPU cores visible: {os.cpu_count()}")
print("| data | device | wall s (whole CLI) | training s | median epoch s | source fold s "
      "| inference s | mislabel_score AP | flagged |")  # fmt: skip
print("|---|---|---|---|---|---|---|---|---|")
for name, cli in settings:
    for device in args.devices.split(","):
        out = OUT / f"devices-{Path(cli[0]).name}-{device}"
        wall, s = strat([*cli, "--device", device], out)
        t = s["timings"]
        ap = s["detection"]["scores"]["mislabel_score"]["ap"]
        flagged = s.get("flags", {}).get("flagged", "")
        print(f"| {name} | {device} | {wall:.1f} | {t['training_s']:.1f} "
              f"| {statistics.median(t['epoch_s']):.2f} | {t['source_fold_s']:.1f} "
              f"| {t['inference_s']:.1f} | {ap:.3f} | {flagged} |", flush=True)  # fmt: skip
