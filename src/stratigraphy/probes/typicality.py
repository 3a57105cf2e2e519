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


@dataclass
class NeighbourIndex:
    """The input space the typicality proxy searches: the data flattened and standardised
    (and above 64 dimensions projected with PCA), and the reference examples with their labels.
    New inputs (a probe's transformed copy) are placed in the same space."""

    mean: np.ndarray
    std: np.ndarray
    pca: PCA | None
    references: np.ndarray
    reference_rows: np.ndarray
    reference_labels: np.ndarray
    n_classes: int
    k: int

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Inputs in the index's space, as float32."""
        flat = (X.reshape(X.shape[0], -1).astype(np.float32) - self.mean) / self.std
        return (self.pca.transform(flat) if self.pca is not None else flat).astype(np.float32)

    def neighbours(
        self, emb: np.ndarray, self_index: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances from embedded inputs to their k nearest references, and each class's share
        of those."""
        dist, nbr = knn_search(emb, self.references, self.k, self_index=self_index)
        return dist, vote_shares(nbr, self.reference_labels, self.n_classes)

    def agrees(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each new input's label is its neighbours' plurality: a transformed copy that
        keeps its label (a noisy image) mostly does, a wrong label or a random input does not."""
        if len(y) == 0:
            return np.zeros(0, dtype=bool)
        _, shares = self.neighbours(self.embed(X))
        return np.asarray(shares.argmax(1) == y)


def standardised(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every example flattened and standardised (float32), with the mean and the scale used,
    so that new inputs can be put on the same scale."""
    flat = X.reshape(X.shape[0], -1).astype(np.float32)
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    return (flat - mean) / std, mean, std


def _fit_index(
    X: np.ndarray, y: np.ndarray, k: int, seed: int
) -> tuple[NeighbourIndex, np.ndarray]:
    """The index over ``X`` (the embedding fitted on it, a random reference subset of at most
    20,000 examples, which keeps a search linear in N) and every example embedded."""
    n = X.shape[0]
    flat, mean, std = standardised(X)
    pca = None
    if flat.shape[1] > MAX_DIMS:
        fit_rows = flat
        if n > MAX_REFERENCES:
            fit_rows = flat[stream(seed, "typicality-pca").choice(n, MAX_REFERENCES, replace=False)]
        pca = PCA(n_components=MAX_DIMS, svd_solver="randomized", random_state=seed).fit(fit_rows)
        flat = pca.transform(flat)
    emb = flat.astype(np.float32)
    if n > MAX_REFERENCES:
        ref_rows = np.sort(stream(seed, "typicality-refs").choice(n, MAX_REFERENCES, replace=False))
    else:
        ref_rows = np.arange(n)
    index = NeighbourIndex(
        mean, std, pca, emb[ref_rows], ref_rows, y[ref_rows], int(y.max()) + 1, k
    )
    return index, emb


def neighbour_typicality(X: np.ndarray, y: np.ndarray, k: int = 20, seed: int = 0) -> Typicality:
    """Typicality of every example from its k nearest neighbours among the references."""
    return typicality_and_index(X, y, k, seed)[0]


def typicality_and_index(
    X: np.ndarray, y: np.ndarray, k: int = 20, seed: int = 0
) -> tuple[Typicality, NeighbourIndex]:
    """:func:`neighbour_typicality`, and the index it searched (to place new inputs in)."""
    n = X.shape[0]
    index, emb = _fit_index(X, y, k, seed)
    self_index = np.full(n, -1, dtype=np.int64)
    self_index[index.reference_rows] = np.arange(index.reference_rows.size)
    dist, shares = index.neighbours(emb, self_index)
    n_classes = index.n_classes
    consistency = shares[np.arange(n), y]
    plurality = shares.argmax(1)
    agrees = plurality == y
    distance = dist.mean(1)
    score = (rankdata(consistency) + rankdata(-distance)) / (2.0 * n)
    confusion = np.zeros((n_classes, n_classes), dtype=np.float64)
    np.add.at(confusion, y, shares)
    confusion /= np.maximum(np.bincount(y, minlength=n_classes), 1)[:, None]
    typ = Typicality(
        consistency.astype(np.float32),
        agrees,
        distance.astype(np.float32),
        score.astype(np.float32),
        plurality.astype(np.int64),
        shares.max(1).astype(np.float32),
        confusion,
    )
    return typ, index
