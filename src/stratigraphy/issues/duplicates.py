"""Near and exact duplicates within the data, and leaks of training examples into a held-out
set, found as nearest neighbours in representation space with faiss.

Tables and vectors are compared by the cosine distance between their representations (encoded
features). Texts are not: sentence embeddings move under a change of case or a dropped word as
much as two different tweets about the same flight differ (docs/benchmarks.md), so texts are
compared by the cosine between their character 3-gram TF-IDF vectors (lower case, punctuation
dropped), with candidates from both that space (projected to ``TEXT_SVD_DIMS`` dimensions) and
the sentence embeddings. Images are not either: a classifier's features map a copy
shifted by one pixel farther from its source than most examples lie from their nearest
neighbour (measured on Fashion-MNIST, docs/benchmarks.md), and so do raw pixels. Candidates are
retrieved by the magnitude of each image's 2-D Fourier transform, which a shift leaves
unchanged, and verified in pixel space: the distance of a pair is the smallest cosine distance
between one image and the other moved by at most one pixel each way.

An example is a near duplicate when its nearest other example lies within
``RELATIVE_THRESHOLD`` (texts: ``TEXT_RELATIVE_THRESHOLD``) × the median nearest-neighbour
distance of the data (scale-free, as cleanlab's Datalab does); pairs form duplicate sets, and
a set whose labels differ is called out as a conflict. A held-out example leaks when a training
example lies within the same distance. Search is exact (``IndexFlatIP``) up to ``EXACT_UP_TO``
rows and inverted-file above.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from stratigraphy.issues.registry import IssueContext, IssueResult, IssueType, register_issue

RELATIVE_THRESHOLD = 0.1
TEXT_RELATIVE_THRESHOLD = 0.15
TEXT_SVD_DIMS = 128
_PUNCTUATION = re.compile(r"[^\w@#' ]+")
NEIGHBOURS = 10
LEAK_CANDIDATES = 5
EXACT_UP_TO = 200_000
MAX_SPECTRUM_SIDE = 32
PAIR_CHUNK = 16_384


def _normalised(features: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(features, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _index(refs: np.ndarray) -> Any:
    """An inner-product index over normalised references: exact, or IVF for large N."""
    import faiss

    d = refs.shape[1]
    if refs.shape[0] <= EXACT_UP_TO:
        flat = faiss.IndexFlatIP(d)
        flat.add(refs)
        return flat
    nlist = int(4 * np.sqrt(refs.shape[0]))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(refs.shape[0], min(refs.shape[0], 64 * nlist))
    ivf.train(refs[sample])
    ivf.nprobe = 16
    ivf.add(refs)
    return ivf


def nearest(
    queries: np.ndarray, refs: np.ndarray, k: int, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances and indices of each query's k nearest references (itself left out when
    ``same``); Q×k, nearest first."""
    k = min(k, refs.shape[0] - int(same))
    sims, idx = _index(refs).search(queries, k + int(same))
    if same:
        own = idx == np.arange(queries.shape[0])[:, None]
        keep = ~own
        keep[:, -1] &= own.any(1)  # drop the self-match, or the last column where none came back
        sims = sims[keep].reshape(queries.shape[0], k)
        idx = idx[keep].reshape(queries.shape[0], k)
    return np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32), idx


def spectra(images: np.ndarray) -> np.ndarray:
    """N×F shift-invariant descriptors of N×C×H×W images: the normalised magnitude of each
    channel's 2-D Fourier transform (images above 32 pixels a side are average-pooled first)."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    while max(x.shape[2:]) > MAX_SPECTRUM_SIDE:
        x = torch.nn.functional.avg_pool2d(x, 2, ceil_mode=True)
    mag = torch.fft.rfft2(x).abs().reshape(x.shape[0], -1)
    return _normalised(mag.numpy())


def aligned_distances(a: np.ndarray, b: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """For pairs (i, j) of rows of ``a`` and ``b`` (N×C×H×W), the smallest cosine distance
    between ``a[i]`` and ``b[j]`` moved by at most one pixel each way; chunked, in torch."""
    ta = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
    out = np.empty(pairs.shape[0], dtype=np.float32)
    for lo in range(0, pairs.shape[0], PAIR_CHUNK):
        i = torch.from_numpy(pairs[lo : lo + PAIR_CHUNK, 0])
        j = torch.from_numpy(pairs[lo : lo + PAIR_CHUNK, 1])
        x = ta[i].flatten(1)
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        y = tb[j]
        best = torch.full((i.shape[0],), 2.0)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                z = torch.roll(y, (dy, dx), dims=(2, 3)).flatten(1)
                z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
                best = torch.minimum(best, 1.0 - (x * z).sum(1))
        out[lo : lo + PAIR_CHUNK] = best.clamp_min(0.0).numpy()
    return out


def _plain(text: str) -> str:
    return _PUNCTUATION.sub(" ", text.lower())


def char_grams(train: Sequence[str], *others: Sequence[str]) -> list[csr_matrix]:
    """Unit-length character 3-gram TF-IDF vectors of ``train`` and of each of ``others`` (the
    vocabulary and weights fitted on ``train``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), preprocessor=_plain,
                          sublinear_tf=True, dtype=np.float32)  # fmt: skip
    return [vec.fit_transform(list(train)), *(vec.transform(list(o)) for o in others)]


def gram_distances(a: csr_matrix, b: csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """Cosine distance of rows ``a[i]`` and ``b[j]`` for pairs (i, j) of unit-length rows."""
    out = np.empty(pairs.shape[0], dtype=np.float32)
    for lo in range(0, pairs.shape[0], PAIR_CHUNK):
        chunk = pairs[lo : lo + PAIR_CHUNK]
        dots = np.asarray(a[chunk[:, 0]].multiply(b[chunk[:, 1]]).sum(1)).ravel()
        out[lo : lo + PAIR_CHUNK] = np.clip(1.0 - dots, 0.0, 2.0)
    return out


@dataclass
class TextSpace:
    """Texts' character 3-gram vectors (training rows, and held-out rows if any) with a linear
    projection of them for the candidate search."""

    grams: csr_matrix
    test_grams: csr_matrix | None
    projection: Any

    @classmethod
    def fit(cls, texts: Sequence[str], test_texts: Sequence[str] | None) -> TextSpace:
        from sklearn.decomposition import TruncatedSVD

        grams = char_grams(texts, *([test_texts] if test_texts is not None else []))
        dims = min(TEXT_SVD_DIMS, grams[0].shape[1] - 1, grams[0].shape[0] - 1)
        svd = TruncatedSVD(dims, random_state=0).fit(grams[0]) if dims >= 2 else None
        return cls(grams[0], grams[1] if len(grams) > 1 else None, svd)

    def project(self, grams: csr_matrix) -> np.ndarray:
        dense = grams.toarray() if self.projection is None else self.projection.transform(grams)
        return _normalised(dense)


def _text_candidates(
    space: TextSpace, q_emb: np.ndarray, r_emb: np.ndarray, k: int, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k nearest training texts by character 3-gram distance, among the nearest by
    that space's projection and by the sentence embeddings."""
    queries = space.grams if same else space.test_grams
    assert queries is not None
    lists = [nearest(_normalised(q_emb), _normalised(r_emb), k, same)[1],
             nearest(space.project(queries), space.project(space.grams), k, same)[1]]  # fmt: skip
    idx = np.sort(np.concatenate(lists, 1), axis=1)
    pairs = np.stack([np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()], 1)
    dist = gram_distances(queries, space.grams, pairs).reshape(idx.shape)
    dist[:, 1:][idx[:, 1:] == idx[:, :-1]] = 2.0
    order = np.argsort(dist, axis=1, kind="stable")[:, : min(k, idx.shape[1])]
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def _candidates(
    queries: np.ndarray, refs: np.ndarray, k: int, same: bool, images: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k nearest references, nearest first: by representation, or (images) by
    spectrum and then re-ranked by the aligned pixel distance."""
    if not images:
        return nearest(_normalised(queries), _normalised(refs), k, same)
    _, idx = nearest(spectra(queries), spectra(refs), k, same)
    pairs = np.stack([np.repeat(np.arange(queries.shape[0]), idx.shape[1]), idx.ravel()], 1)
    dist = aligned_distances(queries, refs, pairs).reshape(idx.shape)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def exact_groups(inputs: np.ndarray) -> np.ndarray:
    """A group id per row, equal for rows with byte-identical inputs."""
    flat = np.ascontiguousarray(inputs).reshape(inputs.shape[0], -1)
    rows = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].astype(np.int64).ravel()


def _sets(n: int, pairs_i: np.ndarray, pairs_j: np.ndarray) -> np.ndarray:
    """Connected components of the near-duplicate pairs; -1 for rows in no pair."""
    graph = coo_matrix((np.ones(pairs_i.size), (pairs_i, pairs_j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    in_pair = np.zeros(n, dtype=bool)
    in_pair[pairs_i] = in_pair[pairs_j] = True
    _, dense = np.unique(comp[in_pair], return_inverse=True)
    out = np.full(n, -1, dtype=np.int64)
    out[in_pair] = dense
    return out


def _conflicting(sets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per duplicate set: whether its members carry more than one label."""
    n_sets = int(sets.max()) + 1 if (sets >= 0).any() else 0
    if not n_sets:
        return np.zeros(0, dtype=bool)
    lo = np.full(n_sets, np.iinfo(np.int64).max)
    hi = np.full(n_sets, -1)
    member = sets >= 0
    np.minimum.at(lo, sets[member], labels[member])
    np.maximum.at(hi, sets[member], labels[member])
    return lo != hi


def find_duplicates(ctx: IssueContext, relative: float | None = None) -> IssueResult:
    """Near-duplicate columns, duplicate sets with label conflicts, and leaks into the test set."""
    images = ctx.inputs is not None and ctx.inputs.ndim == 4
    text = TextSpace.fit(ctx.texts, ctx.test_texts) if ctx.texts is not None else None
    if relative is None:
        relative = TEXT_RELATIVE_THRESHOLD if text is not None else RELATIVE_THRESHOLD
    data = ctx.inputs if images else ctx.features
    assert data is not None
    n = data.shape[0]
    if text is not None:
        dist, idx = _text_candidates(text, ctx.features, ctx.features, NEIGHBOURS, same=True)
    else:
        dist, idx = _candidates(data, data, NEIGHBOURS, same=True, images=images)
    scale = float(np.median(dist[:, 0]))
    cut = relative * scale
    close = dist <= cut
    rows = np.repeat(np.arange(n), idx.shape[1])[close.ravel()]
    cols = idx.ravel()[close.ravel()]
    sets = _sets(n, rows, cols)
    conflict_sets = _conflicting(sets, np.asarray(ctx.labels))
    conflict = np.zeros(n, dtype=bool)
    conflict[sets >= 0] = conflict_sets[sets[sets >= 0]]
    score = np.clip(1.0 - dist[:, 0] / max(scale, 1e-12), 0.0, 1.0).astype(np.float32)
    columns = {
        "is_near_duplicate": sets >= 0,
        "near_duplicate_score": score,
        "duplicate_set": sets,
        "duplicate_of": np.where(sets >= 0, idx[:, 0], -1),
        "duplicate_conflict": conflict,
    }
    summary: dict = {
        "near_duplicates": int((sets >= 0).sum()),
        "sets": int(conflict_sets.size),
        "conflicting_sets": int(conflict_sets.sum()),
        "examples_in_conflicting_sets": int(conflict.sum()),
        "distance": "cosine between pixels after aligning by up to one pixel, candidates by "
        "Fourier magnitude"
        if images
        else "cosine between character 3-gram TF-IDF vectors, candidates by them and by "
        f"{ctx.space}"
        if text is not None
        else f"cosine between {ctx.space}",
        "median_nearest_distance": scale,
        "threshold": cut,
        "relative_threshold": relative,
        "search": "exact (faiss IndexFlatIP)" if n <= EXACT_UP_TO else "faiss IVF",
        "space": "images" if images else "texts" if text is not None else ctx.space,
    }
    if ctx.inputs is not None:
        groups = exact_groups(ctx.inputs)
        counts = np.bincount(groups)
        summary["exact_duplicates"] = int((counts[groups] > 1).sum())
    tables = {}
    if ctx.test_features is not None:
        leaks, leak_summary = find_leaks(ctx, scale, cut, text)
        tables["leaks"] = leaks
        summary["leakage"] = leak_summary
    return IssueResult(columns, summary, tables)


def find_leaks(
    ctx: IssueContext, scale: float, cut: float, text: TextSpace | None = None
) -> tuple[pa.Table, dict]:
    """Held-out examples whose nearest training example lies within the near-duplicate cut."""
    images = ctx.inputs is not None and ctx.inputs.ndim == 4 and ctx.test_inputs is not None
    train = ctx.inputs if images else ctx.features
    test = ctx.test_inputs if images else ctx.test_features
    assert train is not None and test is not None
    if text is not None and text.test_grams is not None:
        dist, idx = _text_candidates(text, test, train, LEAK_CANDIDATES, same=False)
    else:
        dist, idx = _candidates(test, train, LEAK_CANDIDATES, same=False, images=images)
    leak = np.flatnonzero(dist[:, 0] <= cut)
    train_labels = np.asarray(ctx.labels)[idx[leak, 0]]
    test_labels = (
        np.asarray(ctx.test_labels)[leak] if ctx.test_labels is not None else np.full(leak.size, -1)
    )
    table = pa.table(
        {
            "test_index": leak.astype(np.int64),
            "train_index": idx[leak, 0].astype(np.int64),
            "distance": dist[leak, 0],
            "test_label": test_labels.astype(np.int64),
            "train_label": train_labels.astype(np.int64),
        }
    )
    return table, {
        "test_examples": int(test.shape[0]),
        "leaked": int(leak.size),
        "leaked_with_other_label": int((test_labels != train_labels).sum())
        if ctx.test_labels is not None
        else None,
        "nearest_distance_median": float(np.median(dist[:, 0])),
        "relative_to_train_scale": float(np.median(dist[:, 0]) / max(scale, 1e-12)),
    }


NEAR_DUPLICATE = register_issue(
    IssueType(
        "near_duplicate",
        "examples (nearly) identical to another in representation space; with --test, held-out "
        "examples that duplicate training ones (leakage)",
        find_duplicates,
        (
            "is_near_duplicate",
            "near_duplicate_score",
            "duplicate_set",
            "duplicate_of",
            "duplicate_conflict",
        ),
    )
)
