"""The one way this package writes a file: to a temporary sibling, fsync, then rename, so a reader
(or a resumed run) sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it is fsynced and renamed onto
    ``path``, on error removed. The temporary name keeps the suffix, for writers that need it."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable: fsync the directory entry (where the platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        write(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_table(path: Path, table: pa.Table, row_group_size: int | None = None) -> None:
    """Write a Parquet table atomically (zstd)."""
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, row_group_size, compression="zstd"))


class RowGroupWriter:
    """Appends tables to one Parquet file, one row group each, and moves it into place only when
    the ``with`` block ends without error; it counts the values of ``count_column`` it writes."""

    def __init__(self, out: Path, row_group: int, count_column: str | None = None) -> None:
        self.out, self.row_group, self.count_column = Path(out), row_group, count_column
        self.counts: dict[str, int] = {}
        self._writer: pq.ParquetWriter | None = None
        self._ctx = atomic_path(self.out)

    def __enter__(self) -> RowGroupWriter:
        self._tmp = self._ctx.__enter__()
        return self

    def write(self, table: pa.Table) -> None:
        if self.count_column is not None:
            kinds, n = np.unique(
                table.column(self.count_column).to_numpy(zero_copy_only=False), return_counts=True
            )
            for kind, c in zip(kinds.tolist(), n.tolist(), strict=True):
                self.counts[str(kind)] = self.counts.get(str(kind), 0) + int(c)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table.cast(self._writer.schema), row_group_size=self.row_group)

    def __exit__(self, *exc: Any) -> None:
        if self._writer is not None:
            self._writer.close()
        self._ctx.__exit__(*exc)
