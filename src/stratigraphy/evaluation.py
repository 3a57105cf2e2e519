"""Detection quality of any score against known errors: AUROC, AP, precision and recall at k."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


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
