"""Merging what every rank of a ``torch.distributed`` job recorded into one row per example.

``DistributedSampler`` pads uneven shards by repeating examples, so an example can be seen by
two ranks in one epoch; :func:`merge_rows` keeps the lowest rank's value (deterministic) and
counts the repeats. Works with any backend whose ``all_gather`` supports the buffers' device
(gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@dataclass
class MergeStats:
    """Rows gathered over all ranks, distinct examples among them, and repeats dropped."""

    gathered: int
    distinct: int

    @property
    def duplicates(self) -> int:
        return self.gathered - self.distinct


def _all_gather_padded(t: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    longest = max(sizes)
    padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return [p[:s] for p, s in zip(parts, sizes, strict=True)]


def merge_rows(
    buffers: dict[str, torch.Tensor], seen: torch.Tensor
) -> tuple[dict[str, torch.Tensor], MergeStats]:
    """All-gather the ``seen`` rows of every full-length buffer and return full-length buffers
    holding, for each example, the value of the lowest rank that saw it; unseen rows keep their
    fill values. Every rank gets the same result."""
    idx = torch.nonzero(seen).squeeze(1)
    count = torch.tensor([idx.numel()], dtype=torch.long, device=idx.device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    all_idx = _all_gather_padded(idx, sizes)
    merged: dict[str, torch.Tensor] = {}
    for name, buf in buffers.items():
        parts = _all_gather_padded(buf[idx], sizes)
        out = buf.clone()
        # Highest rank first, so the lowest rank's value is written last and wins.
        for rows, values in zip(reversed(all_idx), reversed(parts), strict=True):
            out.index_copy_(0, rows, values)
        merged[name] = out
    distinct = int(torch.unique(torch.cat(all_idx)).numel())
    return merged, MergeStats(sum(sizes), distinct)
