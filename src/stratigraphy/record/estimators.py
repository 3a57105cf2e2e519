"""Learning dynamics of scikit-learn estimators, so tabular users get the same analysis.

Estimators with ``partial_fit`` (SGDClassifier, MLPClassifier, Perceptron, ...) are trained one
epoch at a time over a seeded shuffle; boosted ensembles with staged predictions
(HistGradientBoostingClassifier, GradientBoostingClassifier) are fitted once and read one
iteration at a time; estimators with ``warm_start`` (random forests, ...) grow by a step per
recorded point. After every epoch or iteration each row's logits go through the same recorder as
a PyTorch loop's, so :func:`~stratigraphy.analysis.analyze` applies unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import clone

from stratigraphy.core.errors import ConfigError
from stratigraphy.core.seeding import stream
from stratigraphy.record.recorder import DynamicsRecorder
from stratigraphy.record.store import DynamicsStore

CHUNK = 65_536
EPS = 1e-7


def _logits(est: Any, X: np.ndarray) -> np.ndarray:
    if hasattr(est, "decision_function"):
        d = np.asarray(est.decision_function(X), dtype=np.float32)
        return np.stack([np.zeros_like(d), d], axis=1) if d.ndim == 1 else d
    return np.log(np.asarray(est.predict_proba(X), dtype=np.float32) + EPS)


def _record(rec: DynamicsRecorder, logits: np.ndarray, y: np.ndarray) -> None:
    for start in range(0, y.shape[0], CHUNK):
        stop = min(start + CHUNK, y.shape[0])
        rec.update(
            torch.arange(start, stop),
            torch.from_numpy(np.ascontiguousarray(logits[start:stop])),
            torch.from_numpy(y[start:stop]),
        )
    rec.end_epoch()


def _staged(est: Any, X: np.ndarray) -> Iterator[np.ndarray]:
    if hasattr(est, "staged_decision_function"):
        for d in est.staged_decision_function(X):
            d = np.asarray(d, dtype=np.float32)
            yield np.stack([np.zeros_like(d), d], axis=1) if d.ndim == 1 else d
    else:
        for p in est.staged_predict_proba(X):
            yield np.log(np.asarray(p, dtype=np.float32) + EPS)


def record_estimator(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    store: str | Path | DynamicsStore | None = None,
    seed: int = 0,
) -> tuple[Any, dict[str, np.ndarray]]:
    """Fit a clone of ``estimator`` on ``(X, y)`` while recording ``epochs`` points of every
    row's trajectory (labels must be 0..C-1); returns the fitted estimator and N×E signals."""
    y = np.asarray(y, dtype=np.int64)
    if X.shape[0] != y.shape[0]:
        raise ConfigError(f"X has {X.shape[0]} rows but y has {y.shape[0]}.")
    if epochs < 2:
        raise ConfigError("epochs must be at least 2: trajectories need several points.")
    X = X.reshape(X.shape[0], -1)
    est = clone(estimator)
    n = y.shape[0]
    rec = DynamicsRecorder(n, store)
    classes = np.arange(int(y.max()) + 1)
    params = est.get_params()
    if hasattr(est, "partial_fit"):
        rng = stream(seed, "sklearn-epochs")
        for _ in range(epochs):
            perm = rng.permutation(n)
            est.partial_fit(X[perm], y[perm], classes=classes)
            _record(rec, _logits(est, X), y)
    elif hasattr(est, "staged_predict_proba"):
        iters = "max_iter" if "max_iter" in params else "n_estimators"
        settings: dict[str, Any] = {iters: epochs}
        if "early_stopping" in params:
            settings["early_stopping"] = False
        est.set_params(**settings)
        est.fit(X, y)
        for logits in _staged(est, X):
            _record(rec, logits, y)
    elif "warm_start" in params and "n_estimators" in params:
        step = max(1, int(params["n_estimators"]) // epochs)
        est.set_params(warm_start=True)
        for e in range(1, epochs + 1):
            est.set_params(n_estimators=step * e)
            est.fit(X, y)
            _record(rec, _logits(est, X), y)
    else:
        raise ConfigError(
            f"{type(est).__name__} has neither partial_fit, staged predictions nor warm_start "
            "with n_estimators; its training cannot be observed step by step."
        )
    return est, rec.arrays()
