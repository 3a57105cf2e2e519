"""Metadata inference at scale: 1,000,000 examples × 100 epochs against 1,000 fitting probes.

Synthetic trajectories (float16, as the store holds them). Each contender runs in its own
process so its peak resident memory (ru_maxrss) is its own:

    python benchmarks/inference_scale.py [--n 1000000] [--epochs 100] [--probes 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SUITES = ["typical", "atypical", "mislabeled", "corrupted", "random_input"]


def synthetic(n: int, epochs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Loss-like trajectories of five kinds, made chunk by chunk so float64 never holds N×E."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, epochs, dtype=np.float32)
    shapes = np.stack(
        [
            2.3 * np.exp(-8 * t),
            2.3 * np.exp(-3 * t),
            2.3 * np.exp(-0.7 * t),
            2.3 * np.exp(-1.5 * t) + 0.3,
            np.full_like(t, 2.2),
        ]
    )
    kind = rng.integers(0, 5, size=n)
    loss = np.empty((n, epochs), dtype=np.float16)
    for lo in range(0, n, 100_000):
        k = kind[lo : lo + 100_000]
        noise = rng.standard_normal((k.size, epochs), dtype=np.float32) * 0.6
        loss[lo : lo + 100_000] = np.clip(shapes[k] + noise, 0, None)
    p = np.exp(-loss.astype(np.float32)).astype(np.float16)
    return {
        "loss": loss,
        "p_label": p,
        "margin": (np.log(p.astype(np.float32) + 1e-6) + 1.5).astype(np.float16),
        "pred": np.where(loss < 0.7, 0, 1).astype(np.int32),
        "kind": kind,
    }


def run_contender(name: str, n: int, epochs: int, n_probes: int) -> dict:
    sig = synthetic(n, epochs)
    rng = np.random.default_rng(1)
    probe_rows = rng.choice(n, size=2 * n_probes, replace=False)
    is_fit = np.zeros(2 * n_probes, dtype=bool)
    is_fit[:n_probes] = True
    probe_suite = sig["kind"][probe_rows]
    labels = np.zeros(n, dtype=np.int64)
    t0 = time.perf_counter()
    if name.startswith("stratigraphy"):
        from stratigraphy.analysis.engine import AnalysisEngine, InferenceConfig
        from stratigraphy.analysis.sources import ArraySource
        from stratigraphy.probes.build import ProbedData

        methods = ("knn",) if name == "stratigraphy-knn" else ("knn", "classifier")
        probed = ProbedData.in_place(labels, probe_rows, probe_suite, is_fit, list(SUITES))
        signals = {**sig, "el2n": 1 - sig["p_label"]}
        engine = AnalysisEngine(InferenceConfig(methods=methods))
        engine.fit(
            ArraySource({k: signals[k] for k in ("loss", "margin", "p_label", "el2n", "pred")}),
            probed,
        )
        rows = np.arange(n)
        proba = engine.suite_proba(signals, labels, rows)[engine.method_]
    else:
        from sklearn.neighbors import KNeighborsClassifier

        fit_rows = probe_rows[is_fit]
        clf = KNeighborsClassifier(n_neighbors=20, algorithm="brute")
        clf.fit(sig["loss"][fit_rows].astype(np.float32), probe_suite[is_fit])
        proba = clf.predict_proba(sig["loss"])
    seconds = time.perf_counter() - t0
    acc = float((proba.argmax(1) == sig["kind"]).mean())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"contender": name, "seconds": seconds, "peak_gib": peak, "accuracy": acc}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--contender")
    a = ap.parse_args()
    if a.contender:
        print(json.dumps(run_contender(a.contender, a.n, a.epochs, a.probes)))
        sys.exit(0)
    print(f"{a.n:,} examples × {a.epochs} epochs, {a.probes} fitting probes, k = 20\n")
    print(
        "| contender | inference s | peak memory GiB (whole process, data included) | agreement with true kind |"
    )
    print("|---|---|---|---|")
    for name in ("stratigraphy-knn", "stratigraphy-knn+classifier", "sklearn-KNeighborsClassifier"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--contender",
                name,
                "--n",
                str(a.n),
                "--epochs",
                str(a.epochs),
                "--probes",
                str(a.probes),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {name} | {r['seconds']:.1f} | {r['peak_gib']:.2f} | {r['accuracy']:.3f} |")
