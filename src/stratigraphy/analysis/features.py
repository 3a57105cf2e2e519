"""Trajectory features for the probe-trained classifier: several signals and their summaries."""

from __future__ import annotations

import numpy as np

MAX_TRAJECTORY_POINTS = 32


def _resample(a: np.ndarray, points: int) -> np.ndarray:
    """Average an N×E trajectory into at most ``points`` equal spans of epochs."""
    n_epochs = a.shape[1]
    if n_epochs <= points:
        return a
    edges = np.linspace(0, n_epochs, points + 1).round().astype(int)
    return np.add.reduceat(a, edges[:-1], axis=1) / np.diff(edges)


def _summaries(a: np.ndarray) -> list[np.ndarray]:
    n_epochs = a.shape[1]
    half = max(n_epochs // 2, 1)
    return [
        a.mean(1),
        a.std(1),
        a.min(1),
        a.max(1),
        a[:, -1],
        a[:, :half].mean(1) - a[:, half:].mean(1) if n_epochs > 1 else np.zeros(a.shape[0]),
    ]


def trajectory_features(
    loss: np.ndarray,
    margin: np.ndarray,
    p_label: np.ndarray,
    correct: np.ndarray,
    el2n: np.ndarray | None = None,
) -> np.ndarray:
    """N×F float32: resampled loss and margin trajectories plus summary statistics of loss,
    margin, probability of the given label and correctness; with ``el2n``, also of the
    prediction's purity Σₖpₖ² = EL2N² + 2·p(label) − 1, which tells a confident prediction of
    another class (a wrong label) from a spread one (an input that resembles no class)."""
    loss = np.nan_to_num(loss.astype(np.float32), nan=0.0)
    margin = np.nan_to_num(margin.astype(np.float32), nan=0.0)
    p_label = np.nan_to_num(p_label.astype(np.float32), nan=0.0)
    c = correct.astype(np.float32)
    parts = [
        _resample(loss, MAX_TRAJECTORY_POINTS),
        _resample(margin, MAX_TRAJECTORY_POINTS),
        *[s[:, None] for s in _summaries(loss)],
        *[s[:, None] for s in _summaries(margin)],
        *[s[:, None] for s in _summaries(p_label)],
        c.mean(1, keepdims=True),
        c[:, -max(c.shape[1] // 4, 1) :].mean(1, keepdims=True),
    ]
    if el2n is not None:
        e = np.nan_to_num(el2n.astype(np.float32), nan=0.0)
        purity = np.clip(e * e + 2.0 * p_label - 1.0, 0.0, 1.0)
        parts += [s[:, None] for s in _summaries(purity)]
    return np.concatenate(parts, axis=1).astype(np.float32)
