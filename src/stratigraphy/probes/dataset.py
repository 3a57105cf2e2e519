"""Probe suites over a user's own map-style dataset (PyTorch or Hugging Face ``datasets``).

:class:`ProbedDataset` wraps the dataset and copies nothing: training row ``r`` is the base
example ``origin[r]`` with, for probes, its label replaced (``mislabeled``), its input corrupted
(``corrupted``) or replaced by random values (``random_input``), each drawn from a stream seeded
by the row, so an item is the same every time it is read. The suites are chosen exactly as
:func:`~stratigraphy.probes.build_probes` chooses them, on a feature matrix: the user's own
(embeddings, say) or, for float inputs, the flattened inputs themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from stratigraphy.core.errors import ConfigError, DataValidationError
from stratigraphy.core.seeding import stream
from stratigraphy.probes.build import ProbeConfig, ProbedData, build_probes
from stratigraphy.probes.suites import suite_info

Corrupt = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
FEATURE_CHUNK = 1024


def default_corrupt(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Float inputs: Gaussian noise of the input's own standard deviation. Token ids: half of the
    tokens replaced by ids drawn from the sequence's own range."""
    if x.is_floating_point():
        scale = x.std().clamp(min=1e-6)
        return x + scale * torch.randn(x.shape, generator=g, dtype=x.dtype)
    lo, hi = int(x.min()), int(x.max()) + 1
    swap = torch.rand(x.shape, generator=g) < 0.5
    return torch.where(swap, torch.randint(lo, hi, x.shape, generator=g, dtype=x.dtype), x)


def default_random_input(like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """An input shaped like ``like`` with no signal: Gaussian values (floats) or random ids."""
    if like.is_floating_point():
        return like.mean() + like.std() * torch.randn(like.shape, generator=g, dtype=like.dtype)
    return torch.randint(int(like.min()), int(like.max()) + 1, like.shape, generator=g).to(
        like.dtype
    )


def _is_hf_dataset(dataset: Any) -> bool:
    return hasattr(dataset, "column_names") and hasattr(dataset, "with_format")


class ProbedDataset(Dataset):
    """``dataset`` with probe suites mixed in; see the module docstring.

    Items are ``(input, label)`` tuples or dicts; ``input_key``/``label_key`` name the fields
    of dict items (defaults: the first of ``input_ids``, ``pixel_values``, ``x``, ``input`` and
    ``label``/``labels``). ``features`` (N×d) drive the choice of typical and atypical probes.
    """

    def __init__(
        self,
        dataset: Any,
        n_classes: int | None = None,
        config: ProbeConfig | None = None,
        features: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        input_key: str | None = None,
        label_key: str | None = None,
        corrupt: Corrupt = default_corrupt,
        random_input: Corrupt = default_random_input,
    ) -> None:
        self.dataset = dataset
        self.config = config or ProbeConfig()
        self.corrupt = corrupt
        self.random_input = random_input
        first = dataset[0]
        self.input_key, self.label_key = self._keys(first, input_key, label_key)
        y = self._labels() if labels is None else np.asarray(labels, dtype=np.int64)
        if y.shape[0] != len(dataset):
            raise DataValidationError(f"{y.shape[0]} labels for {len(dataset)} examples.")
        self.n_classes = int(n_classes if n_classes is not None else y.max() + 1)
        feats = self._features() if features is None else np.asarray(features, dtype=np.float32)
        if feats.shape[0] != len(dataset):
            raise DataValidationError(f"{feats.shape[0]} feature rows for {len(dataset)} examples.")
        self.plan: ProbedData = build_probes(feats, y, self.n_classes, self.config)
        self._hook = np.full(self.plan.y.shape[0], None, dtype=object)
        hooks = [suite_info(s).item_transform for s in self.plan.probes.column("suite").to_pylist()]
        self._hook[self.plan.probe_rows] = hooks
        self._labels_t = torch.as_tensor(self.plan.y)

    def _keys(
        self, item: Any, input_key: str | None, label_key: str | None
    ) -> tuple[str | None, str | None]:
        if not isinstance(item, Mapping):
            return None, None
        pick = input_key or next(
            (k for k in ("input_ids", "pixel_values", "x", "input") if k in item), None
        )
        lab = label_key or next((k for k in ("label", "labels") if k in item), None)
        if pick is None or lab is None:
            raise DataValidationError(
                f"dict items need an input and a label field (keys {sorted(item)}); pass "
                "input_key= and label_key=."
            )
        return pick, lab

    def _input(self, item: Any) -> torch.Tensor:
        x = item[self.input_key] if self.input_key is not None else item[0]
        return torch.as_tensor(x)

    def _labels(self) -> np.ndarray:
        if _is_hf_dataset(self.dataset) and self.label_key is not None:
            return np.asarray(self.dataset.with_format("numpy")[self.label_key], dtype=np.int64)
        key = self.label_key if self.label_key is not None else 1
        return np.array([int(self.dataset[i][key]) for i in range(len(self.dataset))])

    def _features(self) -> np.ndarray:
        """Flattened float inputs, read a chunk of items at a time."""
        if not self._input(self.dataset[0]).is_floating_point():
            raise ConfigError(
                "inputs are not floats (token ids?); pass features= (e.g. sentence embeddings) "
                "to choose typical and atypical probes."
            )
        if _is_hf_dataset(self.dataset) and self.input_key is not None:
            col = self.dataset.with_format("numpy")[self.input_key]
            return np.asarray(col, dtype=np.float32).reshape(len(self.dataset), -1)
        rows = [self._input(self.dataset[i]).reshape(-1).float() for i in range(len(self.dataset))]
        return torch.stack(rows).numpy()

    def __len__(self) -> int:
        return int(self.plan.y.shape[0])

    def __getitem__(self, row: int) -> Any:
        hook = self._hook[row]
        origin = int(self.plan.origin[row])
        label = self._labels_t[row]
        if hook == "random_input":
            # Another example's item (so every other field, e.g. an attention mask, stays
            # valid) with its input replaced by one shaped like it that carries no class.
            g = torch.Generator().manual_seed(self._row_seed(row))
            item = self.dataset[int(torch.randint(len(self.dataset), (1,), generator=g))]
            x = self.random_input(self._input(item), g)
            item = self._replace(item, self.input_key, 0, x)
        else:
            item = self.dataset[origin]
            if hook == "corrupt":
                g = torch.Generator().manual_seed(self._row_seed(row))
                x = self.corrupt(self._input(item), g)
                item = self._replace(item, self.input_key, 0, x)
        return self._replace(item, self.label_key, 1, label)

    def _row_seed(self, row: int) -> int:
        return int(stream(self.config.seed, f"probe-item-{row}").integers(2**62))

    @staticmethod
    def _replace(item: Any, key: str | None, pos: int, value: Any) -> Any:
        if key is not None:
            out = dict(item)
            out[key] = value
            return out
        parts = list(item)
        while len(parts) <= pos:
            parts.append(None)
        parts[pos] = value
        return tuple(parts)
