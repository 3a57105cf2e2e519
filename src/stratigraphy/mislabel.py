"""Label errors: choosing ``mislabel_score`` on the held-out probes, and suggesting labels.

Every candidate score is oriented so that larger means likelier mislabeled. The held-out
``mislabeled`` probes are the positives; the held-out probes of every suite whose label is right
(typical, atypical, corrupted, user suites) are the negatives, so the chosen score is the one
that best tells a wrong label from a hard or noisy but correctly labelled example. Random-input
probes are left out: their labels are neither right nor wrong.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score

from .scores import MISLABEL_DIRECTION

EXCLUDED_SUITES = ("random_input",)


def rank01(a: np.ndarray) -> np.ndarray:
    """Ranks scaled to (0, 1], NaN last, so scores of different units can be combined."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=-np.inf)
    return (rankdata(a) / a.size).astype(np.float32)


def mislabel_candidates(
    scores: dict[str, np.ndarray], p_mislabeled: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each classic score oriented towards label errors, each inferer's p(mislabeled), and their
    rank average with the best-known single signal (AUM)."""
    cands = {name: MISLABEL_DIRECTION[name] * v for name, v in scores.items()}
    for method, p in p_mislabeled.items():
        # p is coarse (k+1 values for kNN); the loss breaks its ties.
        cands[f"p_mislabeled_{method}"] = p + 1e-3 * rank01(scores["mean_loss"])
        cands[f"p_mislabeled_{method}+aum"] = 0.5 * (rank01(p) + rank01(-scores["aum"]))
    return cands


def choose_mislabel_score(
    candidates: dict[str, np.ndarray],
    probe_rows: np.ndarray,
    probe_suites: np.ndarray,
    is_heldout: np.ndarray,
) -> tuple[str, dict[str, float]]:
    """The candidate with the highest average precision on the held-out probes, and every AP."""
    held = is_heldout & ~np.isin(probe_suites, EXCLUDED_SUITES)
    rows = probe_rows[held]
    truth = probe_suites[held] == "mislabeled"
    if truth.all() or not truth.any():
        return "mean_loss", {}
    aps = {
        name: float(average_precision_score(truth, np.nan_to_num(v[rows], nan=-1e30)))
        for name, v in candidates.items()
    }
    return max(aps, key=lambda n: (aps[n], n == "aum")), aps


def suggest_labels(
    labels: np.ndarray, pred: np.ndarray, flagged: np.ndarray, n_classes: int
) -> np.ndarray:
    """For flagged rows, the class predicted most often in the epochs that disagreed with the given
    label (the model's view before it memorised it); every other row keeps its label."""
    n = pred.shape[0]
    rows, epochs = np.nonzero((pred != labels[:, None]) & (pred >= 0))
    counts = np.bincount(rows * n_classes + pred[rows, epochs], minlength=n * n_classes)
    counts = counts.reshape(n, n_classes)
    alt = counts.argmax(1)
    has_alt = counts.max(1) > 0
    return np.where(flagged & has_alt, alt, labels)
