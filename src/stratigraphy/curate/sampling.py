"""Dynamic pruning during training, in the manner of InfoBatch (Qin et al., ICLR 2024).

:class:`PruningSampler` is an ordinary ``torch.utils.data.Sampler``: each epoch it skips, with
probability ``prune``, the examples whose last recorded loss is below the mean, and gives the
kept low-loss examples the weight 1/(1 − prune) so the expected gradient is unbiased; the final
``1 − anneal`` share of epochs uses all data. The user's dataset and DataLoader stay as they
are: pass the sampler, feed it the batch's per-example losses, multiply the loss by
:meth:`weights`. Sharding over ``num_replicas`` ranks works like ``DistributedSampler``; under
``torch.distributed`` :meth:`set_epoch` first shares the losses every rank saw, so all ranks plan
the same epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from stratigraphy.core.errors import ConfigError


class PruningSampler(Sampler[int]):
    """Unbiased random skipping of well-learned examples; see the module docstring."""

    def __init__(
        self,
        n_examples: int,
        epochs: int,
        prune: float = 0.5,
        anneal: float = 0.875,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
    ) -> None:
        if not 0.0 <= prune < 1.0:
            raise ConfigError(f"prune must lie in [0, 1); got {prune}.")
        if not 0.0 < anneal <= 1.0:
            raise ConfigError(f"anneal must lie in (0, 1]; got {anneal}.")
        if not 0 <= rank < num_replicas:
            raise ConfigError(f"rank {rank} is outside 0..{num_replicas - 1}.")
        self.n = n_examples
        self.epochs = epochs
        self.prune = prune
        self.anneal = anneal
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.epoch = 0
        self.loss = torch.full((n_examples,), float("nan"))
        self._weights = torch.ones(n_examples)
        self._touched = torch.zeros(n_examples, dtype=torch.bool)
        self.visited = 0
        self._plan()

    def set_epoch(self, epoch: int) -> None:
        """Choose the examples of ``epoch`` (call before iterating, as with DistributedSampler)."""
        self.epoch = epoch
        self._share_losses()
        self._plan()

    def update(self, indices: torch.Tensor, loss: torch.Tensor) -> None:
        """Record the batch's per-example losses (``reduction='none'``), detached."""
        idx = indices.cpu().long()
        self.loss[idx] = loss.detach().float().cpu()
        self._touched[idx] = True

    def _share_losses(self) -> None:
        """Average each example's fresh loss over the ranks that saw it (padding repeats some)."""
        if self.num_replicas > 1 and dist.is_available() and dist.is_initialized():
            total = torch.where(self._touched, self.loss, torch.zeros_like(self.loss))
            count = self._touched.float()
            dist.all_reduce(total)
            dist.all_reduce(count)
            self.loss = torch.where(count > 0, total / count.clamp(min=1.0), self.loss)
        self._touched.zero_()

    def weights(self, indices: torch.Tensor) -> torch.Tensor:
        """Loss weights of a batch: 1/(1 − prune) for kept low-loss examples, 1 otherwise."""
        return self._weights[indices.cpu().long()]

    def _plan(self) -> None:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        self._weights = torch.ones(self.n)
        known = ~torch.isnan(self.loss)
        full_data = self.epoch >= math.floor(self.anneal * self.epochs)
        if self.prune > 0 and not full_data and known.any():
            well_learned = known & (self.loss < self.loss[known].mean())
            draw = torch.rand(self.n, generator=g)
            skip = well_learned & (draw < self.prune)
            self._weights[well_learned & ~skip] = 1.0 / (1.0 - self.prune)
            order = order[~skip[order]]
        # Pad to a multiple of the replicas, as DistributedSampler does, then take this rank's part.
        per_rank = math.ceil(order.numel() / self.num_replicas)
        pad = per_rank * self.num_replicas - order.numel()
        if pad:
            order = torch.cat([order, order[:pad]])
        self._indices = order[self.rank :: self.num_replicas]
        self.visited = int(order.numel()) - pad

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices.tolist())

    def __len__(self) -> int:
        return int(self._indices.numel())


def select_batch(
    candidates: torch.Tensor,
    loss: torch.Tensor,
    size: int,
    rule: str = "mapd",
    p_typical: torch.Tensor | None = None,
    p_label: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Online batch selection: choose ``size`` of the ``candidates`` (indices).

    ``uniform`` picks at random; ``loss`` the highest current losses; ``mapd`` MAP-D's rule,
    the highest ½·[p(typical) + (1 − p_model(y|x))]: learnable and worth learning (typical, not
    noise) but not yet learned.
    """
    if rule == "uniform":
        pick = torch.randperm(candidates.numel(), generator=generator)[:size]
    elif rule == "loss":
        pick = torch.topk(loss, size).indices
    elif rule == "mapd":
        if p_typical is None or p_label is None:
            raise ConfigError("the mapd rule needs p_typical and p_label of the candidates.")
        pick = torch.topk(0.5 * (p_typical + (1.0 - p_label)), size).indices
    else:
        raise ConfigError(f"rule must be uniform, loss or mapd; got {rule!r}.")
    return candidates[pick]
