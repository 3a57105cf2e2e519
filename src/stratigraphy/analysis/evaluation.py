"""Detection quality of any score against known errors: AUROC, AP, precision and recall at k."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from stratigraphy.data.planting import PLANTED_KINDS
from stratigraphy.probes.suites import SUITES

PLANTED_ORDER = PLANTED_KINDS
MATCHING_SUITE = {s.planted_kind: s.name for s in SUITES.values() if s.planted_kind is not None}


def detection_quality(
    score: np.ndarray, truth: np.ndarray, k: int | None = None
) -> dict[str, float]:
    """Higher ``score`` should mean likelier error. ``k`` defaults to the number of true errors."""
    truth = np.asarray(truth, dtype=bool)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf, posinf=1e300)
    score = np.where(np.isneginf(score), -1e300, score)
    n_pos = int(truth.sum())
    k = n_pos if k is None else int(k)
    if n_pos == 0 or n_pos == truth.size:
        nan = float("nan")
        return {"auroc": nan, "ap": nan, "precision_at_k": nan, "recall_at_k": nan, "k": k}
    top = np.argsort(-score, kind="stable")[:k]
    hits = int(truth[top].sum())
    return {
        "auroc": float(roc_auc_score(truth, score)),
        "ap": float(average_precision_score(truth, score)),
        "precision_at_k": hits / max(k, 1),
        "recall_at_k": hits / n_pos,
        "k": k,
    }


def kind_confusion(planted: np.ndarray, inferred: np.ndarray, suites: list[str]) -> dict[str, Any]:
    """Planted kind (rows) against inferred metadata (columns) over the scored examples, as counts
    and as shares of each planted kind; ``random_input`` is the suite that stands for
    out-of-distribution inputs, so its column is labelled so."""
    planted = np.asarray(planted, dtype=object)
    inferred = np.asarray(inferred, dtype=object)
    scored = np.isin(inferred, suites)
    kinds = [k for k in PLANTED_ORDER if (planted[scored] == k).any()]
    counts = np.zeros((len(kinds), len(suites)), dtype=np.int64)
    for i, k in enumerate(kinds):
        row = inferred[scored & (planted == k)]
        for j, s in enumerate(suites):
            counts[i, j] = int((row == s).sum())
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    diagonal = {
        k: float(shares[i, suites.index(MATCHING_SUITE[k])])
        for i, k in enumerate(kinds)
        if MATCHING_SUITE.get(k) in suites
    }
    return {
        "rows": kinds,
        "columns": suites,
        "counts": counts.tolist(),
        "shares": shares.round(4).tolist(),
        "diagonal": diagonal,
    }
