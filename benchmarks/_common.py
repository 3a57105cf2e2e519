"""Helpers shared by the benchmark scripts: timed CLI runs and reading a run's summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def strat(args: list[str], out: Path, fresh: bool = True) -> tuple[float, dict]:
    """Run ``strat run`` in a subprocess; return its wall seconds and the run's summary."""
    if fresh and out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "stratigraphy", "run", *args, "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "summary.json").read_text())


def fashion_mnist_available() -> bool:
    from stratigraphy.data.sources import FASHION_MNIST_DIR

    return (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
