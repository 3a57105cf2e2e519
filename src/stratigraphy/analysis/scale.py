"""One training's scores on another's scale, by quantiles over the examples both learned from.

The source fold judges the examples the main training consumed as probe sources, in a training
of its own: fewer examples, other probes, another seed. Its losses and margins sit elsewhere
(on the airline tweets it fits further: over the examples both learned from, its median AUM
is 3.31 against the main training's 2.15; docs/benchmarks.md), so its scores rank its own
examples but cannot be set beside the main training's. Both trainings learn from the
fold's other examples; matching the two distributions of a score over those examples
(quantile mapping) maps each value of the fold to the main training's value of the same rank.
"""

from __future__ import annotations

import numpy as np

SCALE_LEVELS = 101
MIN_SHARED = 50


def quantile_scale(own: np.ndarray, target: np.ndarray) -> dict[str, list[float]] | None:
    """The map from ``own``'s scale to ``target``'s: both scores' quantiles at
    :data:`SCALE_LEVELS` levels over the same examples (None when fewer than
    :data:`MIN_SHARED` have both)."""
    own, target = np.asarray(own, np.float64), np.asarray(target, np.float64)
    both = np.isfinite(own) & np.isfinite(target)
    if both.sum() < MIN_SHARED:
        return None
    levels = np.linspace(0.0, 1.0, SCALE_LEVELS)
    return {
        "own": np.quantile(own[both], levels).round(6).tolist(),
        "target": np.quantile(target[both], levels).round(6).tolist(),
    }


def to_scale(values: np.ndarray, scale: dict[str, list[float]]) -> np.ndarray:
    """``values`` on the target scale: each value's level among the own quantiles (the middle of
    the levels it equals, for counts and other tied values; linear between them), then the
    target's value at that level. NaN stays NaN."""
    own, target = np.asarray(scale["own"]), np.asarray(scale["target"])
    levels = np.linspace(0.0, 1.0, own.size)
    x = np.asarray(values, np.float64)
    lo, hi = np.searchsorted(own, x, "left"), np.searchsorted(own, x, "right")
    tied = hi > lo
    middle = (levels[np.minimum(lo, own.size - 1)] + levels[np.maximum(hi - 1, 0)]) / 2
    level = np.where(tied, middle, np.interp(x, own, levels))
    return np.where(np.isfinite(x), np.interp(level, levels, target), np.nan)
