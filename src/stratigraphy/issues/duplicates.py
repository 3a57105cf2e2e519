"""Near and exact duplicates within the data, and leaks of training examples into a held-out
set, found as nearest neighbours in representation space with faiss.

Distances are cosine distances between L2-normalised representations. An example is a near
duplicate when its nearest other example lies within ``RELATIVE_THRESHOLD`` × the median
nearest-neighbour distance of the data (scale-free, as cleanlab's Datalab does); near
duplicates linked by such pairs form duplicate sets, and a set whose labels differ is called out
as a conflict. A held-out example leaks when a training example lies within the same distance.
Search is exact (``IndexFlatIP``) up to ``EXACT_UP_TO`` rows and inverted-file above.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from stratigraphy.issues.registry import IssueContext, IssueResult, IssueType, register_issue

RELATIVE_THRESHOLD = 0.1
NEIGHBOURS = 10
EXACT_UP_TO = 200_000


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


def find_duplicates(ctx: IssueContext, relative: float = RELATIVE_THRESHOLD) -> IssueResult:
    """Near-duplicate columns, duplicate sets with label conflicts, and leaks into the test set."""
    feats = _normalised(ctx.features)
    n = feats.shape[0]
    dist, idx = nearest(feats, feats, NEIGHBOURS, same=True)
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
        "distance": f"cosine between {ctx.space}",
        "median_nearest_distance": scale,
        "threshold": cut,
        "relative_threshold": relative,
        "search": "exact (faiss IndexFlatIP)" if n <= EXACT_UP_TO else "faiss IVF",
    }
    if ctx.inputs is not None:
        groups = exact_groups(ctx.inputs)
        counts = np.bincount(groups)
        summary["exact_duplicates"] = int((counts[groups] > 1).sum())
    tables = {}
    if ctx.test_features is not None:
        leaks, leak_summary = find_leaks(ctx, scale, cut)
        tables["leaks"] = leaks
        summary["leakage"] = leak_summary
    return IssueResult(columns, summary, tables)


def find_leaks(ctx: IssueContext, scale: float, cut: float) -> tuple[pa.Table, dict]:
    """Held-out examples whose nearest training example lies within the near-duplicate cut."""
    assert ctx.test_features is not None
    test = _normalised(ctx.test_features)
    dist, idx = nearest(test, _normalised(ctx.features), 1, same=False)
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
    )
)
