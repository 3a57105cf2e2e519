"""Reading CSV and Parquet tables (pyarrow, no pandas needed) and encoding their label column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from stratigraphy.core.errors import DataValidationError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path) -> pa.Table:
    """A CSV (quoted newlines allowed) or Parquet file as an Arrow table."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"No such file: {path}")
    if path.suffix.lower() == ".csv":
        try:
            return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True))
        except pa.ArrowInvalid as exc:
            raise DataValidationError(f"{path} is not a readable CSV file: {exc}") from exc
    if path.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(path)
    raise DataValidationError(f"{path}: tables must be .csv or .parquet.")


def require_columns(table: pa.Table, path: str | Path, *columns: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataValidationError(
            f"{path} has no column(s) {missing}; its columns are {table.column_names}."
        )


def encode_labels(column: pa.ChunkedArray, name: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels 0..C-1 (classes in sorted order) and the class names; rows without a label
    are refused."""
    if column.null_count:
        rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
        raise DataValidationError(
            f"label column {name!r} is empty in {rows.size} row(s), first at {rows[:5].tolist()}."
        )
    values = pc.cast(column, pa.string()).to_numpy(zero_copy_only=False)
    names, y = np.unique(values, return_inverse=True)
    if names.size < 2:
        raise DataValidationError(f"label column {name!r} holds a single class {names.tolist()}.")
    return y.astype(np.int64), [str(n) for n in names]
