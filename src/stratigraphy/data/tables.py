"""Reading CSV and Parquet tables (pyarrow, no pandas needed) and encoding their label column."""

from __future__ import annotations

import warnings
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
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataValidationError(f"{path}: tables must be .csv or .parquet.")
    try:
        table = _read_csv(path) if suffix == ".csv" else pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{path} is not a readable {suffix[1:]} file: {exc}") from exc
    if table.num_rows == 0:
        raise DataValidationError(f"{path} has no rows (only a header): nothing to learn from.")
    return table


def _read_csv(path: Path) -> pa.Table:
    """UTF-8 first; a file that is not valid UTF-8 is read as Latin-1, with a warning, rather
    than handing byte strings on as text."""
    parse = pacsv.ParseOptions(newlines_in_values=True)
    try:
        table = pacsv.read_csv(path, parse_options=parse)
        _ = table.column_names  # decoded lazily: a header that is not UTF-8 fails here
    except UnicodeDecodeError:
        table = None
    if table is not None and not any(
        pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema
    ):
        return table
    warnings.warn(f"{path} is not valid UTF-8; read it as Latin-1.", stacklevel=3)
    return pacsv.read_csv(path, pacsv.ReadOptions(encoding="latin-1"), parse)


def require_columns(table: pa.Table, path: str | Path, *columns: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataValidationError(
            f"{path} has no column(s) {missing}; its columns are {table.column_names}."
        )


def encode_labels(column: pa.ChunkedArray, name: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels 0..C-1 (classes in sorted order) and the class names; rows without a label
    are refused."""
    strings = pc.cast(column, pa.string())
    length = pc.utf8_length(pc.utf8_trim_whitespace(strings))
    empty = pc.fill_null(pc.equal(length, 0), True).to_numpy(zero_copy_only=False)
    if empty.any():
        rows = np.flatnonzero(empty)
        raise DataValidationError(
            f"label column {name!r} is empty in {rows.size} row(s), first at {rows[:5].tolist()}: "
            "drop those rows or give them a label."
        )
    values = strings.to_numpy(zero_copy_only=False).astype(str)
    names, y = np.unique(values, return_inverse=True)
    if names.size < 2:
        raise DataValidationError(f"label column {name!r} holds a single class {names.tolist()}.")
    if names.size > max(2, len(values) // 2):
        raise DataValidationError(
            f"label column {name!r} holds {names.size} distinct values in {len(values)} rows "
            "(fewer than two rows per class): it looks like free text or an identifier, not a "
            "class label. Name the label with --label-column."
        )
    return y.astype(np.int64), [str(n) for n in names]
