"""Metadata inference: which probe suite does each example's learning trajectory resemble?

Two inferers, both fitted on the fitting probes only: MAP-D's k-nearest neighbours over loss
trajectories (k = 20, Euclidean, uniform weights; a suite's share of the neighbours is its
probability), and a logistic-regression classifier over richer trajectory features. Held-out
probes measure both; the more accurate one is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .features import trajectory_features
from .knn import knn_search, vote_shares

PREDICT_CHUNK = 65_536


@dataclass
class HeldoutReport:
    """Accuracy of an inferer on the held-out probes, overall and per suite, with its confusion
    matrix (rows: true suite, columns: inferred suite)."""

    accuracy: float
    per_suite: dict[str, float]
    confusion: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "per_suite": self.per_suite, "confusion": self.confusion}


@dataclass
class MetadataInference:
    """Suite probabilities for every training row, from the inferer the held-out probes chose."""

    suites: list[str]
    proba: np.ndarray
    method: str
    heldout: dict[str, HeldoutReport] = field(default_factory=dict)
    proba_by_method: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def metadata(self) -> np.ndarray:
        return np.asarray(self.suites, dtype=object)[self.proba.argmax(1)]

    @property
    def confidence(self) -> np.ndarray:
        return self.proba.max(1)


def _report(suites: list[str], truth: np.ndarray, proba: np.ndarray) -> HeldoutReport:
    pred = proba.argmax(1)
    labels = np.arange(len(suites))
    per_suite = {
        s: float((pred[truth == i] == i).mean()) if (truth == i).any() else float("nan")
        for i, s in enumerate(suites)
    }
    cm = confusion_matrix(truth, pred, labels=labels)
    return HeldoutReport(float((pred == truth).mean()), per_suite, cm.tolist())


def knn_proba(
    trajectories: np.ndarray,
    probe_rows: np.ndarray,
    probe_suite: np.ndarray,
    n_suites: int,
    k: int = 20,
) -> np.ndarray:
    """MAP-D's kNN: suite shares among each row's k nearest fitting probes (N×E, float16 ok)."""
    refs = np.nan_to_num(trajectories[probe_rows].astype(np.float32))
    self_index = np.full(trajectories.shape[0], -1, dtype=np.int64)
    self_index[probe_rows] = np.arange(probe_rows.size)
    queries = trajectories
    if np.isnan(trajectories).any():
        queries = np.nan_to_num(trajectories)
    _, nbr = knn_search(queries, refs, k, self_index=self_index)
    return vote_shares(nbr, probe_suite, n_suites)


def classifier_proba(
    signals: dict[str, np.ndarray],
    labels: np.ndarray,
    probe_rows: np.ndarray,
    probe_suite: np.ndarray,
    n_suites: int,
    seed: int,
) -> np.ndarray:
    """Probabilities from a classifier fitted on the fitting probes' trajectory features; features
    are built and scored one chunk of rows at a time, so memory stays bounded."""

    def features(rows: np.ndarray | slice) -> np.ndarray:
        correct = signals["pred"][rows] == labels[rows][:, None]
        return trajectory_features(
            signals["loss"][rows],
            signals["margin"][rows],
            signals["p_label"][rows],
            correct,
            signals["el2n"][rows] if "el2n" in signals else None,
        )

    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    )
    model.fit(features(probe_rows), probe_suite)
    n = labels.shape[0]
    out = np.zeros((n, n_suites), dtype=np.float32)
    cols = model.classes_
    for start in range(0, n, PREDICT_CHUNK):
        chunk = slice(start, min(start + PREDICT_CHUNK, n))
        out[chunk, cols] = model.predict_proba(features(chunk))
    return out


def infer_metadata(
    signals: dict[str, np.ndarray],
    labels: np.ndarray,
    probe_rows: np.ndarray,
    probe_suite: np.ndarray,
    is_fit: np.ndarray,
    suites: list[str],
    k: int = 20,
    seed: int = 0,
    methods: tuple[str, ...] = ("knn", "classifier"),
) -> MetadataInference:
    """Fit each inferer on the fitting probes, score it on the held-out probes, keep the best."""
    n_suites = len(suites)
    fit_rows, fit_suite = probe_rows[is_fit], probe_suite[is_fit]
    held_rows, held_suite = probe_rows[~is_fit], probe_suite[~is_fit]
    result: dict[str, np.ndarray] = {}
    if "knn" in methods:
        result["knn"] = knn_proba(signals["loss"], fit_rows, fit_suite, n_suites, k)
    if "classifier" in methods:
        result["classifier"] = classifier_proba(
            signals, labels, fit_rows, fit_suite, n_suites, seed
        )
    reports = {m: _report(suites, held_suite, p[held_rows]) for m, p in result.items()}
    best = max(reports, key=lambda m: (reports[m].accuracy, m == "knn"))
    return MetadataInference(suites, result[best], best, reports, result)
