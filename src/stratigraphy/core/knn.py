"""Chunked exact k-nearest-neighbour search and vote shares; no Q×R matrix is ever whole."""

from __future__ import annotations

import numpy as np
import torch

_CHUNK_BYTES = 256 * 2**20


def knn_search(
    queries: np.ndarray,
    refs: np.ndarray,
    k: int,
    self_index: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean k nearest references of every query: ``(distances, indices)``, each Q×k.

    ``self_index[q]`` (≥ 0) names a reference that is query q itself and must not count as its
    own neighbour. Queries may be float16; they are widened to float32 one chunk at a time.
    """
    n_q, n_r = queries.shape[0], refs.shape[0]
    k = min(k, n_r - (1 if self_index is not None and (self_index >= 0).any() else 0))
    if k <= 0:
        raise ValueError("knn_search needs more references than excluded self-matches.")
    ref = torch.as_tensor(np.ascontiguousarray(refs), dtype=torch.float32)
    ref_sq = (ref * ref).sum(1)
    if chunk_size is None:
        chunk_size = max(1024, _CHUNK_BYTES // (4 * max(n_r, 1) * 3))
    out_d = np.empty((n_q, k), dtype=np.float32)
    out_i = np.empty((n_q, k), dtype=np.int64)
    for start in range(0, n_q, chunk_size):
        stop = min(start + chunk_size, n_q)
        q = torch.as_tensor(np.asarray(queries[start:stop]), dtype=torch.float32)
        d2 = torch.addmm(ref_sq.unsqueeze(0), q, ref.T, beta=1.0, alpha=-2.0)
        d2.add_((q * q).sum(1, keepdim=True)).clamp_(min=0.0)
        if self_index is not None:
            si = torch.as_tensor(self_index[start:stop])
            hit = torch.nonzero(si >= 0).squeeze(1)
            d2[hit, si[hit]] = float("inf")
        d, i = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        out_d[start:stop] = d.sqrt_().numpy()
        out_i[start:stop] = i.numpy()
    return out_d, out_i


def vote_shares(neighbours: np.ndarray, ref_labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Share of each label among every query's neighbours (uniform weights), Q×n_labels float32."""
    lab = torch.as_tensor(ref_labels, dtype=torch.int64)[torch.as_tensor(neighbours)]
    counts = torch.zeros(lab.shape[0], n_labels, dtype=torch.float32)
    counts.scatter_add_(1, lab, torch.ones_like(lab, dtype=torch.float32))
    return (counts / lab.shape[1]).numpy()
