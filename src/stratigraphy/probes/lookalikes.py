"""Examples that look like what an input kind's transform makes, kept out of the clean suites.

The typical and atypical probes are real examples taken as they are, so they hold whatever the
data holds. Label errors are kept out by asking that an atypical probe's label be its
neighbours' plurality; nothing kept corrupted inputs out, and the least typical examples are
the odd inputs first: in the Fashion-MNIST mix (4.9% of the images corrupted by Gaussian noise)
15% of the atypical probes were corrupted images, the inferers learnt that such trajectories are
atypical, and the corrupted share came out 0.0% (docs/benchmarks.md). Here each input kind that
keeps the label (``label_wrong`` False, e.g. ``corrupted``) trains a detector on random examples
against the kind's transform of other random examples, and the examples it calls transformed
are no clean probe's source. The detector is a logistic regression on the standardised inputs
and their squares (noise shows as energy where the data has little), on at most 1,024
dimensions (a PCA above). Its recall on fresh transforms turns the count into the kind's share
where the engine measures it from the inputs (:mod:`stratigraphy.analysis.shares`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stratigraphy.core.seeding import stream
from stratigraphy.probes.suites import SUITES, ArrayTransform, TransformContext
from stratigraphy.probes.typicality import standardised

DETECTOR_ROWS = 2_000
MAX_DETECTOR_DIMS = 1_024
PCA_DIMS = 256
THRESHOLD = 0.9


def label_keeping_kinds(suites: tuple[str, ...]) -> list[str]:
    """The built-in suites among ``suites`` whose transform changes the input and keeps the
    label (a problem with the input, not the label)."""
    return [
        s for s in suites
        if s in SUITES and SUITES[s].label_wrong is False and SUITES[s].transform is not None
    ]  # fmt: skip


def _features(z: np.ndarray, pca: PCA | None) -> np.ndarray:
    """Standardised inputs (projected where the PCA is fitted) and their squares."""
    if pca is not None:
        z = pca.transform(z)
    return np.hstack([z, z * z]).astype(np.float32)


def _transformed(ctx: TransformContext, transform: ArrayTransform, rows: np.ndarray,
                 gen: np.random.Generator, scale: tuple[np.ndarray, np.ndarray, PCA | None],
                 ) -> np.ndarray:  # fmt: skip
    """The detector's features of ``transform`` applied to the examples ``rows``."""
    mean, std, pca = scale
    out = transform(ctx, rows, rows.size, gen).X.reshape(rows.size, -1).astype(np.float32)
    return _features((out - mean) / std, pca)


def _called(detector: Any, features: np.ndarray) -> np.ndarray:
    """Which rows ``detector`` calls transformed (posterior above ``THRESHOLD``)."""
    return np.asarray(detector.predict_proba(features)[:, 1] > THRESHOLD)


@dataclass(frozen=True)
class Lookalikes:
    """Per label-keeping input kind: ``found``, N-bool, the examples the detector trained on
    its transform calls transformed; ``recall``, the share of fresh transforms (of examples
    drawn apart from its training pairs) it calls so, which turns the count into the kind's
    share (Forman's adjusted classify-and-count; see
    :meth:`stratigraphy.analysis.shares.KindShares._measure_where_agreeing`)."""

    found: dict[str, np.ndarray] = field(default_factory=dict)
    recall: dict[str, float] = field(default_factory=dict)


def transform_lookalikes(
    ctx: TransformContext, suites: tuple[str, ...], seed: int = 0
) -> np.ndarray:
    """N-bool: examples a detector trained on any label-keeping input kind's transform calls
    transformed (see :func:`lookalikes_by_kind`)."""
    return any_kind(lookalikes_by_kind(ctx, suites, seed).found, ctx.X.shape[0])


def any_kind(by_kind: dict[str, np.ndarray], n: int) -> np.ndarray:
    """N-bool: the examples :func:`lookalikes_by_kind` found for any kind."""
    return np.logical_or.reduce([*by_kind.values(), np.zeros(n, dtype=bool)])


def lookalikes_by_kind(ctx: TransformContext, suites: tuple[str, ...], seed: int = 0) -> Lookalikes:
    """Per label-keeping input kind, the examples a detector trained on its transform calls
    transformed (posterior above ``THRESHOLD``, the two classes balanced in training), and its
    recall on fresh transforms. Their count also says whether the data holds inputs like the
    kind's probes at all: on the airline tweets none is found (the corrupted probes are noised
    embeddings), in the Fashion-MNIST mix 3.8-4.3% of the images, 74-85% of the planted noisy
    ones; over the recall it reads the kind's share."""
    kinds = label_keeping_kinds(suites)
    n = ctx.X.shape[0]
    m = min(DETECTOR_ROWS, n // 4)
    if not kinds or m < 10:
        return Lookalikes()
    found = {kind: np.zeros(n, dtype=bool) for kind in kinds}
    recall: dict[str, float] = {}
    z, mean, std = standardised(ctx.X)
    rng = stream(seed, "lookalikes")
    # The recall's own stream: the detectors and what they find stay those of one stream.
    recall_rng = stream(seed, "lookalike-recall")
    pca = None
    if z.shape[1] > MAX_DETECTOR_DIMS:
        rows = rng.choice(n, min(n, 20_000), replace=False)
        pca = PCA(PCA_DIMS, svd_solver="randomized", random_state=seed).fit(z[rows])
    scale = (mean, std, pca)
    for kind in kinds:
        transform = SUITES[kind].transform
        assert transform is not None
        originals, sources = rng.choice(n, m, replace=False), rng.choice(n, m, replace=False)
        made = _transformed(ctx, transform, sources, rng, scale)
        detector = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3_000))
        detector.fit(
            np.vstack([_features(z[originals], pca), made]), np.r_[np.zeros(m), np.ones(m)]
        )
        fresh = _transformed(
            ctx, transform, recall_rng.choice(n, m, replace=False), recall_rng, scale
        )
        recall[kind] = float(_called(detector, fresh).mean())
        for start in range(0, n, 16_384):
            part = slice(start, start + 16_384)
            found[kind][part] = _called(detector, _features(z[part], pca))
    return Lookalikes(found, recall)
