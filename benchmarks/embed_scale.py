"""Sentence embedding in one process against Ray Data (``--engine ray``): the airline tweets
(``../shared/data/airline-tweets``), a fresh cache per engine so every text is embedded, each
engine in a fresh process; Ray on a local cluster of 1 or 2 worker processes.

    python benchmarks/embed_scale.py [--limit 14640] [--engines local:1,ray:1,ray:2]

Prints wall time, texts per second and the largest difference from the local vectors.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TWEETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "airline-tweets" / "Tweets.csv"


def embed(engine: str, workers: int, limit: int, out: Path) -> dict:
    import pyarrow.csv as pacsv

    from stratigraphy.data.text import embed_texts

    texts = [str(t) for t in pacsv.read_csv(TWEETS).column("text").to_pylist()[:limit]]
    if engine == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    t0 = time.perf_counter()
    vectors = embed_texts(texts, Path(tempfile.mkdtemp(prefix="strat-embed-")), engine=engine)
    seconds = time.perf_counter() - t0
    np.save(out, vectors)
    return {"texts": len(texts), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=14_640)
    ap.add_argument("--engines", default="local:1,ray:1,ray:2")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # ENGINE WORKERS OUT
    a = ap.parse_args()
    if a.one:
        engine, workers, out = a.one
        print(json.dumps(embed(engine, int(workers), a.limit, Path(out))))
        return
    if not TWEETS.is_file():
        print(f"skipped: {TWEETS} is absent")
        return
    work = Path(tempfile.mkdtemp(prefix="strat-embed-out-"))
    reference = None
    print("| texts | engine | workers | wall s | texts/s | max diff from local |")
    print("|---|---|---|---|---|---|")
    for engine, workers in [p.split(":") for p in a.engines.split(",")]:
        out = work / f"{engine}-{workers}.npy"
        proc = subprocess.run([sys.executable, __file__, "--limit", str(a.limit), "--one", engine,
                               workers, str(out)], check=True, capture_output=True, text=True)  # fmt: skip
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        vectors = np.load(out)
        reference = vectors if reference is None else reference
        diff = float(np.abs(vectors - reference).max())
        print(f"| {r['texts']:,} | {engine} | {workers} | {r['seconds']:.1f} | "
              f"{r['texts'] / r['seconds']:.0f} | {diff:.1e} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
