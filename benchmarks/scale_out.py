"""The analysis on Ray against the single-process engine: synthetic stores of N rows × 50 epochs
(benchmarks/out_of_core.py's trajectories), analysed in a fresh process per engine so each
peak resident memory is its own; the probe plan is saved beside the store once and mapped by
each analysis; Ray runs a local cluster of 1 or 2 worker processes.

    python benchmarks/scale_out.py [--sizes 1000000,5000000] [--epochs 50] [--dir DIR]
                                   [--engines local:1,ray:1,ray:2]

Prints wall time, the driver's peak RSS and the largest worker's peak RSS per engine and N.
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

sys.path.insert(0, str(Path(__file__).parent))
from out_of_core import SUITES, kinds, write_store  # noqa: E402


def save_synthetic_plan(directory: Path, n: int, n_probes: int = 1000) -> Path:
    """The probe plan of the synthetic store, saved beside it once (as a run at scale keeps its
    plan on disk), so the measured process maps it rather than building it."""
    from stratigraphy.probes.build import ProbedData
    from stratigraphy.probes.plan_file import save_plan

    kind = kinds(n)
    rng = np.random.default_rng(2)
    probe_rows = np.sort(rng.choice(n, size=2 * n_probes, replace=False))
    is_fit = rng.permutation(np.r_[np.ones(n_probes, bool), np.zeros(n_probes, bool)])
    probed = ProbedData.in_place(np.zeros(n, np.int64), probe_rows, kind[probe_rows], is_fit,
                                 list(SUITES))  # fmt: skip
    return save_plan(probed, directory / "plan")


def analyse(directory: Path, engine: str, workers: int) -> dict:
    from stratigraphy.analysis.engine import analyze_source
    from stratigraphy.probes.plan_file import open_plan
    from stratigraphy.record.store import DynamicsStore

    probed, _ = open_plan(directory / "plan")
    if engine == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    out = directory / f"examples-{engine}-{workers}.parquet"
    t0 = time.perf_counter()
    analysis = analyze_source(DynamicsStore(directory), probed, ["0", "1"], out, engine=engine)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "driver_peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "worker_peak_gib": getattr(analysis.engine, "worker_peak_mib_", 0.0) / 1024,
        "flagged": analysis.summary["flags"]["flagged"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,5000000,20000000")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--engines", default="local:1,ray:1,ray:2", help="ENGINE:WORKERS, …")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # DIR ENGINE WORKERS
    a = ap.parse_args()
    if a.one:
        d, engine, workers = a.one
        print(json.dumps(analyse(Path(d), engine, int(workers))))
        return
    print("| rows | engine | workers | wall s | driver peak GiB | worker peak GiB | flagged |")
    print("|---|---|---|---|---|---|---|")
    for n in [int(s) for s in a.sizes.split(",")]:
        directory = (a.dir or Path(tempfile.mkdtemp(prefix="strat-scale-"))) / f"n{n}"
        if not directory.is_dir():
            write_store(directory, n, a.epochs)
        if not (directory / "plan").is_dir():
            save_synthetic_plan(directory, n)
        for engine, workers in [(e, int(w)) for e, w in
                                (p.split(":") for p in a.engines.split(","))]:  # fmt: skip
            proc = subprocess.run([sys.executable, __file__, "--one", str(directory), engine,
                                   str(workers)],
                                  check=True, capture_output=True, text=True)  # fmt: skip
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"| {n:,} | {engine} | {workers} | {r['seconds']:.1f} | "
                  f"{r['driver_peak_gib']:.2f} | {r['worker_peak_gib']:.2f} | {r['flagged']:,} |",
                  flush=True)  # fmt: skip
        if a.dir is None:
            shutil.rmtree(directory)


if __name__ == "__main__":
    main()
