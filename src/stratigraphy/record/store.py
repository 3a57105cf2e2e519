"""The dynamics store: one Parquet file per finished epoch, written atomically, read as N×E arrays.

Each ``epoch_#####.parquet`` holds one row per training row: ``row`` (int32), ``loss``,
``margin``, ``p_label``, ``el2n`` (float16; NaN where the row was not seen that epoch) and
``pred`` (int32; -1 where unseen). Any Parquet reader (pandas, polars, DuckDB) opens them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stratigraphy.core.atomic import atomic_write_table

FLOAT_SIGNALS = ("loss", "margin", "p_label", "el2n")
SIGNALS = (*FLOAT_SIGNALS, "pred")
_EPOCH_FILE = re.compile(r"^epoch_(\d{5})\.parquet$")
ROW_GROUP = 262_144


class DynamicsStore:
    """Per-epoch signals of ``n_rows`` training rows under ``directory``, written in row groups
    of ``row_group`` rows (the unit the streaming and the Ray engine read)."""

    def __init__(
        self, directory: str | Path, n_rows: int | None = None, row_group: int = ROW_GROUP
    ) -> None:
        self.directory = Path(directory)
        self.n_rows = n_rows
        self.row_group = row_group

    def path(self, epoch: int) -> Path:
        return self.directory / f"epoch_{epoch:05d}.parquet"

    def write_epoch(self, epoch: int, signals: Mapping[str, np.ndarray]) -> Path:
        """Store one epoch's signals (arrays of length ``n_rows``) atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        n = len(signals["loss"])
        if self.n_rows is not None and n != self.n_rows:
            raise ValueError(f"epoch {epoch} has {n} rows; the store holds {self.n_rows}.")
        columns: dict[str, pa.Array] = {"row": pa.array(np.arange(n, dtype=np.int32))}
        for name in FLOAT_SIGNALS:
            columns[name] = pa.array(np.asarray(signals[name], dtype=np.float16))
        columns["pred"] = pa.array(np.asarray(signals["pred"], dtype=np.int32))
        path = self.path(epoch)
        atomic_write_table(path, pa.table(columns), row_group_size=self.row_group)
        return path

    def finished_epochs(self) -> int:
        """Number of consecutive finished epochs from epoch 0."""
        if not self.directory.is_dir():
            return 0
        found = {
            int(m.group(1)) for p in self.directory.iterdir() if (m := _EPOCH_FILE.match(p.name))
        }
        n = 0
        while n in found:
            n += 1
        return n

    def readable_epochs(self) -> int:
        """Consecutive finished epochs from 0 whose file opens and holds ``n_rows`` rows: a file
        damaged outside this package ends the count, so a resume retrains from there."""
        n = 0
        for epoch in range(self.finished_epochs()):
            try:
                rows = pq.read_metadata(self.path(epoch)).num_rows
            except (OSError, pa.ArrowInvalid):
                break
            if self.n_rows is not None and rows != self.n_rows:
                break
            n += 1
        return n

    def row_count(self) -> int:
        """Rows per epoch: ``n_rows`` when given, else read from the first epoch's footer."""
        if self.n_rows is not None:
            return self.n_rows
        if self.finished_epochs() == 0:
            return 0
        return int(pq.read_metadata(self.path(0)).num_rows)

    def truncate(self, n_epochs: int) -> None:
        """Delete epochs from ``n_epochs`` on (an unfinished tail left by a killed run)."""
        if not self.directory.is_dir():
            return
        for p in self.directory.iterdir():
            m = _EPOCH_FILE.match(p.name)
            if (m and int(m.group(1)) >= n_epochs) or p.name.startswith("."):
                p.unlink()

    def read(self, signal: str, epochs: Sequence[int] | None = None) -> np.ndarray:
        """One signal as an N×E array (float16 for float signals, int32 for ``pred``)."""
        if signal not in SIGNALS:
            raise KeyError(f"unknown signal {signal!r}; the store holds {SIGNALS}.")
        return self._read((signal,), epochs)[signal]

    def read_all(self) -> dict[str, np.ndarray]:
        """Every signal as an N×E array, each epoch file read once."""
        return self._read(SIGNALS)

    def read_rows(
        self, rows: np.ndarray, signals: Sequence[str] = SIGNALS
    ) -> dict[str, np.ndarray]:
        """Signals of the given rows only (e.g. the probes), read from the row groups that hold
        them, one at a time, so memory grows with the rows asked for, not with the store."""
        rows = np.asarray(rows, dtype=np.int64)
        ep = self._epochs()
        out = {s: np.empty((rows.size, len(ep)), np.int32 if s == "pred" else np.float16)
               for s in signals}  # fmt: skip
        groups = self.row_groups()
        starts = np.array([g[0] for g in groups] + [groups[-1][0] + groups[-1][1]])
        which = np.searchsorted(starts, rows, side="right") - 1
        hits = [(g, np.flatnonzero(which == g)) for g in np.unique(which).tolist()]
        asks = [(g, rows[hit] - starts[g]) for g, hit in hits]
        for (_, hit), part in zip(hits, self.read_group_rows(asks, signals), strict=True):
            for name in signals:
                out[name][hit] = part[name]
        return out

    def read_group_rows(
        self, asks: list[tuple[int, np.ndarray]], signals: Sequence[str] = SIGNALS
    ) -> Iterator[dict[str, np.ndarray]]:
        """For each ``(group, rows within it)``, those rows' signals, a group at a time."""
        for group, local in asks:
            part = self.read_row_group(group, signals)
            yield {name: values[local] for name, values in part.items()}

    def row_groups(self) -> list[tuple[int, int]]:
        """``(first_row, rows)`` of each row group, the same in every epoch file."""
        files = [pq.ParquetFile(self.path(e)) for e in self._epochs()]

        def layout(f: pq.ParquetFile) -> list[int]:
            return [f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)]

        sizes = layout(files[0])
        if any(layout(f) != sizes for f in files[1:]):
            raise ValueError(f"{self.directory}: epoch files differ in row-group layout.")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
        return list(zip(starts, sizes, strict=True))

    def read_row_group(self, group: int, signals: Sequence[str] = SIGNALS) -> dict[str, np.ndarray]:
        """The signals of one row group of every epoch, rows × epochs."""
        files = [pq.ParquetFile(self.path(e)) for e in self._epochs()]
        tables = [f.read_row_group(group, columns=list(signals), use_threads=False) for f in files]
        n = tables[0].num_rows
        arrays = {}
        for name in signals:
            a = np.empty((n, len(files)), dtype=np.int32 if name == "pred" else np.float16)
            for j, t in enumerate(tables):
                a[:, j] = t.column(name).to_numpy()
            arrays[name] = a
        return arrays

    def iter_chunks(
        self, chunk_rows: int = ROW_GROUP, signals: Sequence[str] = SIGNALS
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """``(first_row, signals)`` for consecutive chunks of rows (at most ``chunk_rows``, within
        one row group), every epoch file read a row group at a time in step, so memory holds one
        row group of every epoch and never the whole N×E."""
        for g, (start, n) in enumerate(self.row_groups()):
            arrays = self.read_row_group(g, signals)
            for lo in range(0, n, chunk_rows):
                yield start + lo, {k: v[lo : lo + chunk_rows] for k, v in arrays.items()}

    def _epochs(self) -> list[int]:
        ep = list(range(self.finished_epochs()))
        if not ep:
            raise FileNotFoundError(f"{self.directory} holds no finished epoch.")
        return ep

    def _read(
        self, signals: Sequence[str], epochs: Sequence[int] | None = None
    ) -> dict[str, np.ndarray]:
        ep = self._epochs() if epochs is None else list(epochs)
        out: dict[str, np.ndarray] = {}
        for j, e in enumerate(ep):
            table = pq.read_table(self.path(e), columns=list(signals))
            for name in signals:
                col = table.column(name).to_numpy()
                if j == 0:
                    dtype = np.int32 if name == "pred" else np.float16
                    out[name] = np.empty((col.shape[0], len(ep)), dtype=dtype)
                out[name][:, j] = col
        return out
