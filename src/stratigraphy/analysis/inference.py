"""Metadata inference: which probe suite does each example's learning trajectory resemble?

Inferers are scikit-learn-style estimators (parameters in ``__init__``, learned state with a
trailing underscore, ``fit`` returns self), fitted on the fitting probes only: MAP-D's k-nearest
neighbours over loss trajectories (k = 20, Euclidean, uniform weights; a suite's share of the
neighbours is its probability), and a logistic-regression classifier over richer trajectory
features. Held-out probes measure each; the engine uses the more accurate one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from stratigraphy.analysis.features import trajectory_features
from stratigraphy.core.knn import knn_search, vote_shares
from stratigraphy.core.seeding import stream

PREDICT_CHUNK = 65_536
# Newton steps on the exact Hessian: 8 iterations where L-BFGS takes 160 and stops up to 0.015
# in probability short of the optimum (2,500 Fashion-MNIST probes; docs/benchmarks.md).
SOLVER = "newton-cholesky"


@dataclass
class HeldoutReport:
    """Accuracy of an inferer on the held-out probes, overall and per suite, with its confusion
    matrix (rows: true suite, columns: inferred suite)."""

    accuracy: float
    per_suite: dict[str, float]
    confusion: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "per_suite": self.per_suite, "confusion": self.confusion}


def heldout_report(suites: list[str], truth: np.ndarray, proba: np.ndarray) -> HeldoutReport:
    pred = proba.argmax(1)
    labels = np.arange(len(suites))
    per_suite = {
        s: float((pred[truth == i] == i).mean()) if (truth == i).any() else float("nan")
        for i, s in enumerate(suites)
    }
    cm = confusion_matrix(truth, pred, labels=labels)
    return HeldoutReport(float((pred == truth).mean()), per_suite, cm.tolist())


def trajectory_inputs(signals: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
    """The classifier's features of some rows, from their signals and given labels."""
    correct = signals["pred"] == labels[:, None]
    return trajectory_features(
        signals["loss"], signals["margin"], signals["p_label"], correct, signals.get("el2n")
    )


class KNNInferer:
    """MAP-D's kNN over loss trajectories: the share of each suite among a row's ``k`` nearest
    fitting probes (Euclidean, uniform weights). A fitting probe is never its own neighbour."""

    name = "knn"

    def __init__(self, k: int = 20) -> None:
        self.k = k

    def fit(self, signals: dict[str, np.ndarray], labels: np.ndarray, rows: np.ndarray,
            suites: np.ndarray, n_suites: int) -> KNNInferer:  # fmt: skip
        """Remember the fitting probes (``rows``: their training rows; ``suites``: suite ids)."""
        self.refs_ = np.nan_to_num(signals["loss"].astype(np.float32))
        self.ref_suite_ = np.asarray(suites)
        self.n_suites_ = n_suites
        order = np.argsort(rows)
        self.rows_sorted_, self.rows_pos_ = rows[order], order
        return self

    def predict_proba(self, signals: dict[str, np.ndarray], labels: np.ndarray,
                      rows: np.ndarray) -> np.ndarray:  # fmt: skip
        pos = np.searchsorted(self.rows_sorted_, rows).clip(max=self.rows_sorted_.size - 1)
        self_index = np.where(self.rows_sorted_[pos] == rows, self.rows_pos_[pos], -1)
        _, nbr = knn_search(np.nan_to_num(signals["loss"]), self.refs_, self.k, self_index)
        return vote_shares(nbr, self.ref_suite_, self.n_suites_)


class TrajectoryClassifier:
    """A standardised logistic regression over trajectory features (several signals and their
    summaries), fitted on the fitting probes."""

    name = "classifier"

    def __init__(self, C: float = 1.0, seed: int = 0) -> None:
        self.C, self.seed = C, seed

    def fit(self, signals: dict[str, np.ndarray], labels: np.ndarray, rows: np.ndarray,
            suites: np.ndarray, n_suites: int) -> TrajectoryClassifier:  # fmt: skip
        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, solver=SOLVER, max_iter=200, random_state=self.seed),
        )
        with threadpool_limits(1):  # a few thousand probes: threads cost more than they give
            self.model_.fit(trajectory_inputs(signals, labels), suites)
        self.n_suites_ = n_suites
        return self

    def predict_proba(self, signals: dict[str, np.ndarray], labels: np.ndarray,
                      rows: np.ndarray) -> np.ndarray:  # fmt: skip
        out = np.zeros((labels.shape[0], self.n_suites_), dtype=np.float32)
        for start in range(0, labels.shape[0], PREDICT_CHUNK):
            part = slice(start, start + PREDICT_CHUNK)
            sig = {k: v[part] for k, v in signals.items()}
            out[part, self.model_.classes_] = self._proba(trajectory_inputs(sig, labels[part]))
        return out

    def _proba(self, features: np.ndarray) -> np.ndarray:
        """The model's class probabilities, each row's logits summed on their own: a matrix
        product's last bit depends on how many rows share the batch (BLAS picks its kernel by
        shape), and a row's verdict must not depend on the chunk it was scored in."""
        scaler, model = self.model_[0], self.model_[-1]
        z = scaler.transform(features).astype(np.float64)
        coef = model.coef_.astype(np.float64)
        logits = np.stack([(z * w).sum(1) for w in coef], axis=1) + model.intercept_
        if logits.shape[1] == 1:
            p = expit(logits[:, 0])
            return np.stack([1.0 - p, p], axis=1)
        return softmax(logits, axis=1)


class CrossFitted:
    """``folds`` copies of an inferer, each fitted on the probes outside one fold (folds drawn
    at random within each suite): a probe's posterior is that of the copy that never saw it,
    any other row's the mean over the copies. Every probe is then held out once, so the
    shares, the flags' error rate and the choice of ``mislabel_score`` are measured on all of
    them, and none of these depends on which half was held out: with one split, drawing the
    halves again moved the Fashion-MNIST mix's flags from 168 to 1,362 (docs/benchmarks.md)."""

    def __init__(self, make: Callable[[], Inferer], folds: int, seed: int) -> None:
        self.make, self.folds, self.seed = make, folds, seed

    @property
    def name(self) -> str:
        return str(self.models_[0].name)

    @property
    def k(self) -> int:
        """The neighbours each copy of a kNN inferer counts."""
        model = self.models_[0]
        if not isinstance(model, KNNInferer):
            raise AttributeError(f"a cross-fitted {model.name} inferer has no k")
        return model.k

    def fit(self, signals: dict[str, np.ndarray], labels: np.ndarray, rows: np.ndarray,
            suites: np.ndarray, n_suites: int) -> CrossFitted:  # fmt: skip
        self.fold_ = stratified_folds(np.asarray(suites), self.folds, self.seed)
        self.models_: list[Inferer] = []
        for f in range(self.folds):
            out = self.fold_ != f
            part = {k: v[out] for k, v in signals.items()}
            self.models_.append(
                self.make().fit(part, labels[out], rows[out], suites[out], n_suites)
            )
        order = np.argsort(rows)
        self.rows_sorted_, self.fold_sorted_ = rows[order], self.fold_[order]
        return self

    def predict_proba(self, signals: dict[str, np.ndarray], labels: np.ndarray,
                      rows: np.ndarray) -> np.ndarray:  # fmt: skip
        each = np.stack([m.predict_proba(signals, labels, rows) for m in self.models_])
        pos = np.searchsorted(self.rows_sorted_, rows).clip(max=self.rows_sorted_.size - 1)
        own = np.where(self.rows_sorted_[pos] == rows, self.fold_sorted_[pos], -1)
        out = each.mean(0)
        probe = own >= 0
        out[probe] = each[own[probe], np.flatnonzero(probe)]
        return out.astype(np.float32)


def stratified_folds(suites: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold id per probe, each suite's probes dealt round the folds in random order."""
    rng = stream(seed, "cross-fit")
    fold = np.empty(suites.size, dtype=np.int64)
    for s in np.unique(suites):
        members = np.flatnonzero(suites == s)
        fold[members[rng.permutation(members.size)]] = np.arange(members.size) % folds
    return fold


Inferer = KNNInferer | TrajectoryClassifier | CrossFitted
INFERERS: dict[str, Callable[[int, int], Inferer]] = {
    "knn": lambda k, seed: KNNInferer(k),
    "classifier": lambda k, seed: TrajectoryClassifier(seed=seed),
}
"""Every inferer by name, made from (k, seed); the engine fits each, and the held-out probes
choose (ties go to the first)."""
