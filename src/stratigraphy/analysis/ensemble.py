"""Several training seeds: trajectories averaged over seeds, and how stable verdicts are.

Averaging the per-epoch signals of N runs that differ only in initialisation and order removes
the part of an example's trajectory that is luck; the verdicts of the single runs show how much
of the analysis that luck would have changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stratigraphy.analysis.engine import analyze
from stratigraphy.probes.build import ProbedData

SIGNAL_DTYPES = {
    "loss": np.float16,
    "margin": np.float16,
    "p_label": np.float16,
    "el2n": np.float16,
}


def average_signals(runs: list[dict[str, np.ndarray]], n_classes: int) -> dict[str, np.ndarray]:
    """Mean of every float signal over runs (NaN where no run saw the row); ``pred`` is the class
    predicted by most runs (lowest class on ties, -1 where no run saw it)."""
    out: dict[str, np.ndarray] = {}
    for name, dtype in SIGNAL_DTYPES.items():
        total = np.zeros(runs[0][name].shape, dtype=np.float32)
        count = np.zeros(runs[0][name].shape, dtype=np.float32)
        for r in runs:
            v = r[name].astype(np.float32)
            seen = ~np.isnan(v)
            total += np.where(seen, v, 0.0)
            count += seen
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(count > 0, total / count, np.nan).astype(dtype)
    votes = np.zeros((*runs[0]["pred"].shape, n_classes), dtype=np.int16)
    for r in runs:
        p = r["pred"]
        valid = p >= 0
        np.add.at(votes, (*np.nonzero(valid), p[valid]), 1)
    pred = votes.argmax(-1).astype(np.int32)
    out["pred"] = np.where(votes.sum(-1) > 0, pred, -1).astype(np.int32)
    return out


def seed_stability(
    runs: list[dict[str, np.ndarray]],
    averaged_ap: float | None,
    probed: ProbedData,
    class_names: list[str],
    truth: np.ndarray | None,
    true_labels: np.ndarray | None,
    k: int,
    seed: int,
) -> dict[str, Any]:
    """Share of scored examples whose inferred kind is the same in every single-seed run, and,
    with planted errors, the AP of ``mislabel_score`` for each seed alone and for the average."""
    single = [analyze(r, probed, class_names, truth, true_labels, k=k, seed=seed) for r in runs]
    verdicts = np.stack(
        [np.asarray(a.examples.column("metadata").to_pylist(), dtype=object) for a in single]
    )
    scored = probed.example_row >= 0
    same = (verdicts == verdicts[0]).all(0)[scored]
    out: dict[str, Any] = {
        "n": len(runs),
        "same_verdict_share": float(same.mean()),
        "same_verdict_count": int(same.sum()),
        "scored": int(scored.sum()),
    }
    if truth is not None:
        out["ap_single"] = [
            a.summary["detection"]["scores"]["mislabel_score"]["ap"] for a in single
        ]
        out["ap_averaged"] = averaged_ap
    return out
