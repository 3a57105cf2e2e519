"""A cheap, training-free typicality proxy standing in for C-scores, which user data never has.

An example is typical when its nearest neighbours in input space share its label and lie close;
atypical when few do and they lie far. This is the k-NN estimate of the leave-one-out consistency
that C-scores measure by retraining, at the cost of one chunked neighbour search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.decomposition import PCA

from stratigraphy.core.knn import knn_search, vote_shares
from stratigraphy.core.seeding import stream

MAX_REFERENCES = 20_000
MAX_DIMS = 64


@dataclass
class Typicality:
    """Per-example proxy: ``consistency`` (neighbour label agreement), ``agrees`` (label is the
    neighbours' plurality), ``distance`` (mean distance to them), ``score`` in [0, 1], and the
    neighbours' plurality label with its share (evidence for label fixes); ``confusion[c]``: the
    mean share of each class among the neighbours of class c's examples (the data's own
    confusions, which realistic mislabeled probes follow)."""

    consistency: np.ndarray
    agrees: np.ndarray
    distance: np.ndarray
    score: np.ndarray
    neighbour_label: np.ndarray
    neighbour_share: np.ndarray
    confusion: np.ndarray | None = None


def embed_for_neighbours(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flatten, standardise and (above 64 dimensions) project with PCA, as float32."""
    flat = X.reshape(X.shape[0], -1).astype(np.float32)
    flat = (flat - flat.mean(0)) / (flat.std(0) + 1e-6)
    if flat.shape[1] > MAX_DIMS:
        fit_rows = flat
        if flat.shape[0] > MAX_REFERENCES:
            pick = stream(seed, "typicality-pca").choice(
                flat.shape[0], MAX_REFERENCES, replace=False
            )
            fit_rows = flat[pick]
        pca = PCA(n_components=MAX_DIMS, svd_solver="randomized", random_state=seed).fit(fit_rows)
        flat = pca.transform(flat).astype(np.float32)
    return flat


def neighbour_typicality(X: np.ndarray, y: np.ndarray, k: int = 20, seed: int = 0) -> Typicality:
    """Typicality of every example from its k nearest neighbours (a random reference subset of at
    most 20,000 examples keeps the cost linear in N)."""
    n = X.shape[0]
    emb = embed_for_neighbours(X, seed)
    if n > MAX_REFERENCES:
        ref_rows = np.sort(stream(seed, "typicality-refs").choice(n, MAX_REFERENCES, replace=False))
    else:
        ref_rows = np.arange(n)
    self_index = np.full(n, -1, dtype=np.int64)
    self_index[ref_rows] = np.arange(ref_rows.size)
    dist, nbr = knn_search(emb, emb[ref_rows], k, self_index=self_index)
    n_classes = int(y.max()) + 1
    shares = vote_shares(nbr, y[ref_rows], n_classes)
    consistency = shares[np.arange(n), y]
    plurality = shares.argmax(1)
    agrees = plurality == y
    distance = dist.mean(1)
    score = (rankdata(consistency) + rankdata(-distance)) / (2.0 * n)
    confusion = np.zeros((n_classes, n_classes), dtype=np.float64)
    np.add.at(confusion, y, shares)
    confusion /= np.maximum(np.bincount(y, minlength=n_classes), 1)[:, None]
    return Typicality(
        consistency.astype(np.float32),
        agrees,
        distance.astype(np.float32),
        score.astype(np.float32),
        plurality.astype(np.int64),
        shares.max(1).astype(np.float32),
        confusion,
    )
