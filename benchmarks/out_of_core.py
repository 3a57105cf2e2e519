"""Out-of-core inference: 5,000,000 rows × 50 epochs of synthetic trajectories, streamed from
the store in chunks, with ``examples``-style rows written to Parquet in row groups.

The store is written epoch by epoch (never whole in memory); the analysis then runs in a fresh
process so its peak resident memory (ru_maxrss) is its own:

    python benchmarks/out_of_core.py [--n 5000000] [--epochs 50] [--probes 1000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stratigraphy.record.store import DynamicsStore

SUITES = ["typical", "atypical", "mislabeled", "corrupted", "random_input"]
SHAPES = (8.0, 3.0, 0.7, 1.5, 0.0)


def kinds(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 5, size=n)


def write_store(directory: Path, n: int, epochs: int) -> None:
    """Loss-like trajectories of five kinds, one epoch file at a time."""
    kind = kinds(n)
    rate = np.asarray(SHAPES, dtype=np.float32)[kind]
    offset = np.where(kind == 3, 0.3, 0.0).astype(np.float32)
    store = DynamicsStore(directory, n)
    rng = np.random.default_rng(1)
    for e in range(epochs):
        t = e / max(epochs - 1, 1)
        loss = 2.3 * np.exp(-rate * t) + offset
        loss = np.where(kind == 4, 2.2, loss) + 0.6 * rng.standard_normal(n, dtype=np.float32)
        loss = np.clip(loss, 0, None)
        p = np.exp(-loss)
        store.write_epoch(
            e,
            {
                "loss": loss,
                "p_label": p,
                "margin": np.log(p + 1e-6) + 1.5,
                "el2n": 1 - p,
                "pred": np.where(loss < 0.7, 0, 1).astype(np.int32),
            },
        )


def analyse(directory: Path, n: int, n_probes: int) -> dict:
    from stratigraphy.analysis.engine import analyze_store
    from stratigraphy.probes.build import ProbedData

    kind = kinds(n)
    rng = np.random.default_rng(2)
    probe_rows = np.sort(rng.choice(n, size=2 * n_probes, replace=False))
    is_fit = rng.permutation(np.r_[np.ones(n_probes, bool), np.zeros(n_probes, bool)])
    labels = np.zeros(n, dtype=np.int64)
    t0 = time.perf_counter()
    probed = ProbedData.in_place(labels, probe_rows, kind[probe_rows], is_fit, list(SUITES))
    summary = analyze_store(directory, probed, out=directory / "examples.parquet").summary[
        "inference"
    ]
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(directory / "examples.parquet")
    hits = 0
    for g in range(pf.metadata.num_row_groups):
        rows = pf.read_row_group(g, columns=["row", "metadata"])
        meta = rows.column("metadata").dictionary_encode().combine_chunks()
        found = np.asarray([SUITES.index(v) for v in meta.dictionary.to_pylist()])
        hits += int((found[meta.indices.to_numpy()] == kind[rows.column("row").to_numpy()]).sum())
    return {
        "seconds": seconds,
        "peak_gib": peak,
        "accuracy": hits / n,
        "method": summary["method"],
        "row_groups": pf.metadata.num_row_groups,
        "rows": pf.metadata.num_rows,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--analyse-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.analyse_only:
        print(json.dumps(analyse(a.dir, a.n, a.probes)))
        sys.exit(0)
    directory = a.dir or Path(tempfile.mkdtemp(prefix="strat-ooc-"))
    t0 = time.perf_counter()
    write_store(directory, a.n, a.epochs)
    write_s = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in directory.iterdir()) / 2**30
    proc = subprocess.run(
        [sys.executable, __file__, "--analyse-only", "--dir", str(directory), "--n", str(a.n),
         "--probes", str(a.probes)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{a.n:,} rows × {a.epochs} epochs; store {size:.2f} GiB written in {write_s:.1f} s")
    print("| inference s | peak RSS GiB | accuracy vs synthetic kinds | method | row groups |")
    print("|---|---|---|---|---|")
    print(
        f"| {res['seconds']:.1f} | {res['peak_gib']:.2f} | {res['accuracy']:.3f} | "
        f"{res['method']} | {res['row_groups']} |"
    )
    if a.dir is None:
        shutil.rmtree(directory)
