"""Outliers among the real examples: how far each example lies from the examples that look like
their class, in representation space, against what is usual for its class.

Foreign inputs seldom come alone: a batch of scans from another source, a few hundred inserts
from another data set lie close to *each other*, so the plain distance to the nearest examples
misses them (cleanlab's Datalab scores that way; docs/benchmarks.md measures both). The
reference set is therefore the examples whose label agrees with at least half of their
``AGREE_NEIGHBOURS`` nearest neighbours; inserts under arbitrary labels rarely agree, so they
are measured against the real data. An example's distance is the mean cosine distance to its
``NEIGHBOURS`` nearest reference examples (itself left out; faiss, as for near-duplicates).
Classes differ in spread (sandals lie farther apart than trousers), so the score is normalised
per class by Tukey's rule on the log distance: score = (log d − Q3) / IQR of the example's
labelled class (the whole data's where the class holds too few examples), and an example is an
outlier beyond Tukey's fence, ``FENCE`` IQRs above Q3. The probes' ``random_input`` posterior
judges the same examples from their training dynamics instead; which wins where is measured in
docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np

from stratigraphy.issues.duplicates import _normalised, nearest
from stratigraphy.issues.registry import IssueContext, IssueResult, IssueType, register_issue

NEIGHBOURS = 10
AGREE_NEIGHBOURS = 20
AGREEMENT = 0.5
FENCE = 1.5
MIN_CLASS = 20
_EPS = 1e-6


def reference_distance(features: np.ndarray, labels: np.ndarray, k: int = NEIGHBOURS
                       ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Mean cosine distance of each example to its ``k`` nearest reference examples (those
    whose label agrees with at least ``AGREEMENT`` of their nearest neighbours; all examples
    where fewer than ``k + 1`` agree), and the reference mask."""
    x = _normalised(features)
    labels = np.asarray(labels)
    _, idx = nearest(x, x, min(AGREE_NEIGHBOURS, x.shape[0] - 1), same=True)
    reference = (labels[idx] == labels[:, None]).mean(1) >= AGREEMENT
    if reference.sum() <= k:
        reference[:] = True
    rows = np.flatnonzero(reference)
    dist, near = nearest(x, x[rows], k + 1, same=False)
    own = rows[near] == np.arange(x.shape[0])[:, None]
    # Drop each row's own match (or the farthest where it did not come back), keep k.
    own[:, -1] |= ~own.any(1)
    return dist[~own].reshape(x.shape[0], k).mean(1), reference


def class_normalised(log_distance: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(log d − Q3) / IQR within each example's class (the whole data's for small classes)."""
    labels = np.asarray(labels)
    q1, q3 = np.percentile(log_distance, [25, 75])
    lower = np.full(log_distance.size, q3)
    spread = np.full(log_distance.size, q3 - q1)
    for c in np.unique(labels):
        members = labels == c
        if members.sum() >= MIN_CLASS:
            c1, c3 = np.percentile(log_distance[members], [25, 75])
            lower[members], spread[members] = c3, c3 - c1
    return (log_distance - lower) / np.maximum(spread, _EPS)


def find_outliers(ctx: IssueContext, fence: float = FENCE) -> IssueResult:
    """``outlier_score`` (IQRs beyond the class's upper quartile) and ``is_outlier``."""
    n = ctx.features.shape[0]
    if n < 4:
        zeros = np.zeros(n, dtype=np.float32)
        return IssueResult({"is_outlier": zeros.astype(bool), "outlier_score": zeros},
                           {"outliers": 0, "fence": fence})  # fmt: skip
    distance, reference = reference_distance(ctx.features, ctx.labels, min(NEIGHBOURS, n - 2))
    score = class_normalised(np.log(distance + _EPS), ctx.labels).astype(np.float32)
    flagged = score > fence
    labels = np.asarray(ctx.labels)
    per_class = np.bincount(labels[flagged], minlength=len(ctx.class_names))
    summary = {
        "outliers": int(flagged.sum()),
        "share": float(flagged.mean()),
        "by_class": {ctx.class_names[c]: int(per_class[c]) for c in np.flatnonzero(per_class)},
        "fence": fence,
        "neighbours": min(NEIGHBOURS, n - 2),
        "reference_share": float(reference.mean()),
        "distance": f"mean cosine distance to the nearest label-consistent examples in {ctx.space}",
        "space": ctx.space,
    }
    return IssueResult({"is_outlier": flagged, "outlier_score": score}, summary)


OUTLIER = register_issue(
    IssueType(
        "outlier",
        "examples far from every other example of their class in representation space",
        find_outliers,
        ("is_outlier", "outlier_score"),
    )
)
