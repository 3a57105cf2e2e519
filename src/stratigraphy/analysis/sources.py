"""Where the engine reads recorded signals from: N×E arrays in memory, or the dynamics store.

Both meet :class:`SignalSource`: the signals of chosen rows (the probes, to fit on) and
consecutive chunks of rows (to score). :class:`~stratigraphy.record.store.DynamicsStore` meets it
as it is, streaming one row group of every epoch file at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from stratigraphy.core.errors import DataValidationError
from stratigraphy.record.store import ROW_GROUP, SIGNALS

Signals = dict[str, np.ndarray]


class SignalSource(Protocol):
    """Per-row signals (``loss``, ``margin``, ``p_label``, ``el2n``, ``pred``), rows × epochs."""

    def row_count(self) -> int: ...

    def read_rows(self, rows: np.ndarray, signals: Sequence[str] = SIGNALS) -> Signals: ...

    def iter_chunks(
        self, chunk_rows: int = ROW_GROUP, signals: Sequence[str] = SIGNALS
    ) -> Iterator[tuple[int, Signals]]: ...


class ArraySource:
    """Signals already in memory (a recorder's ``arrays()``, or a store's ``read_all()``)."""

    def __init__(self, signals: Signals) -> None:
        missing = [s for s in SIGNALS if s not in signals]
        if missing:
            raise DataValidationError(f"signals lack {missing}; record them with DynamicsRecorder.")
        shapes = {signals[s].shape for s in SIGNALS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise DataValidationError(f"signals must share one rows × epochs shape; got {shapes}.")
        self.signals = signals
        self.n_rows = int(signals["loss"].shape[0])

    def row_count(self) -> int:
        return self.n_rows

    def read_rows(self, rows: np.ndarray, signals: Sequence[str] = SIGNALS) -> Signals:
        return {s: self.signals[s][rows] for s in signals}

    def iter_chunks(
        self, chunk_rows: int = ROW_GROUP, signals: Sequence[str] = SIGNALS
    ) -> Iterator[tuple[int, Signals]]:
        for start in range(0, self.n_rows, chunk_rows):
            yield start, {s: self.signals[s][start : start + chunk_rows] for s in signals}
