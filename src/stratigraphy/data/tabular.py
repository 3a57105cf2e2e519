"""Tabular datasets: numeric and categorical columns of a CSV or Parquet table, encoded for an MLP.

Numeric columns are median-imputed (with a missing-value indicator where values are missing) and
standardised; text-like and boolean columns are one-hot encoded, the rarest categories pooled.
Encoding uses scikit-learn, so it behaves as users' own preprocessing does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from stratigraphy.core.errors import DataValidationError
from stratigraphy.data.checks import MAX_ABS_INPUT
from stratigraphy.data.tables import encode_labels, read_table, require_columns

MAX_CATEGORIES = 30
FREE_TEXT_CHARS = 20
LEAK_ACCURACY = 0.99
LEAK_MIN_ROWS = 20


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def encode_table(
    table: pa.Table, label_column: str, drop: tuple[str, ...] = ()
) -> tuple[np.ndarray, list[str]]:
    """N×D float32 features from every column but the label and ``drop``; and their names."""
    cols = [c for c in table.column_names if c != label_column and c not in drop]
    numeric = [c for c in cols if _is_numeric(table.schema.field(c).type)]
    categorical = [c for c in cols if c not in numeric]
    if not cols:
        raise DataValidationError("the table has no feature column besides the label.")
    parts = {}
    for c in numeric:
        parts[c] = _numeric_column(table, c)
    for c in categorical:
        values = pc.cast(table.column(c), pa.string()).to_numpy(zero_copy_only=False)
        parts[c] = np.where(values == None, "<missing>", values).astype(object)  # noqa: E711
    steps = []
    if numeric:
        steps.append(
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                list(range(len(numeric))),
            )
        )
    if categorical:
        steps.append(
            (
                "categorical",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    max_categories=MAX_CATEGORIES,
                    sparse_output=False,
                ),
                list(range(len(numeric), len(cols))),
            )
        )
    order = numeric + categorical
    matrix = np.empty((table.num_rows, len(order)), dtype=object)
    for j, c in enumerate(order):
        matrix[:, j] = parts[c]
    encoder = ColumnTransformer(steps)
    X = encoder.fit_transform(matrix)
    names = [
        re.sub(r"\bx(\d+)", lambda m: order[int(m.group(1))], str(n))
        for n in encoder.get_feature_names_out()
    ]
    return np.asarray(X, dtype=np.float32), names


def _numeric_column(table: pa.Table, c: str) -> np.ndarray:
    """A numeric column as float64, refusing infinite values and values whose square overflows
    the standardisation (missing ones stay NaN, to be imputed)."""
    values = pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False)
    inf = np.flatnonzero(np.isinf(values))
    if inf.size:
        raise DataValidationError(
            f"column {c!r} holds infinite values in {inf.size} row(s), first at "
            f"{inf[:5].tolist()}: replace them (or leave them empty to be imputed)."
        )
    huge = np.flatnonzero(np.abs(np.nan_to_num(values)) > MAX_ABS_INPUT)
    if huge.size:
        raise DataValidationError(
            f"column {c!r} holds values too large to standardise ({values[huge[0]]:.3g} "
            f"at row {int(huge[0])}; the limit is {MAX_ABS_INPUT:.0e}): rescale or clip it."
        )
    return np.asarray(values)


def load_tabular(
    path: str | Path, label_column: str, drop: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Encoded features, integer labels and class names of a CSV/Parquet table."""
    table = read_table(path)
    require_columns(table, path, label_column, *drop)
    y, names = encode_labels(table.column(label_column), label_column)
    features = [c for c in table.column_names if c != label_column and c not in drop]
    check_feature_columns(table, features, y)
    X, _ = encode_table(table, label_column, drop)
    return X, y, names


def _as_strings(column: pa.ChunkedArray) -> np.ndarray:
    """A column's values as strings, missing and blank cells as ``None``."""
    strings = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    strings = pc.if_else(pc.equal(pc.utf8_length(strings), 0), None, strings)
    return np.asarray(strings.to_numpy(zero_copy_only=False), dtype=object)


def free_text_columns(table: pa.Table, columns: list[str]) -> list[tuple[str, int, float]]:
    """String columns that read as free text — mostly distinct values of several words — with
    their number of distinct values and median length."""
    found = []
    for c in columns:
        if _is_numeric(table.schema.field(c).type):
            continue
        strings = pc.cast(table.column(c), pa.string()).drop_null()
        if len(strings) == 0:
            continue
        distinct = pc.count_distinct(strings).as_py()
        median = float(np.median(pc.utf8_length(strings).to_numpy(zero_copy_only=False)))
        spaced = pc.mean(pc.cast(pc.match_substring(strings, " "), pa.float64())).as_py()
        if distinct > 0.5 * table.num_rows and median >= FREE_TEXT_CHARS and spaced > 0.5:
            found.append((c, int(distinct), median))
    return found


def label_leaks(table: pa.Table, columns: list[str], y: np.ndarray) -> list[tuple[str, int]]:
    """Columns that determine the label wherever they are filled: a value → majority-label rule
    learnt on a random half of the rows is right on ≥ 99% of the other half's filled rows (and
    covers enough of them). Returns each such column and how many rows it covers."""
    n, c = y.size, int(y.max()) + 1
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    fit, held = order[: n // 2], order[n // 2 :]
    found = []
    for col in columns:
        values = _as_strings(table.column(col))
        filled = values != None  # noqa: E711
        codes = np.unique(np.where(filled, values, ""), return_inverse=True)[1]
        counts = np.zeros((codes.max() + 1, c), dtype=np.int64)
        np.add.at(counts, (codes[fit[filled[fit]]], y[fit[filled[fit]]]), 1)
        seen = counts.sum(1) > 0
        cover = held[filled[held] & seen[codes[held]]]
        if cover.size < max(LEAK_MIN_ROWS, 0.1 * held.size):
            continue
        right = float(np.mean(counts.argmax(1)[codes[cover]] == y[cover]))
        if right >= LEAK_ACCURACY:
            found.append((col, int(filled.sum())))
    return found


def check_feature_columns(table: pa.Table, columns: list[str], y: np.ndarray) -> None:
    """Refuse a table whose features hold free text (it belongs in ``--text-column``) or a column
    that gives the label away (every example would look easy, and nothing would be found)."""
    text = free_text_columns(table, columns)
    if text:
        c, distinct, median = text[0]
        raise DataValidationError(
            f"column {c!r} looks like free text ({distinct:,} distinct values, median "
            f"{median:.0f} characters): pass --text-column {c} to embed it as text, or "
            f"--drop-column {c} to leave it out of the features."
        )
    leaks = label_leaks(table, columns, y)
    if leaks:
        names = ", ".join(f"{c!r} (filled in {k:,} rows)" for c, k in leaks)
        flags = " ".join(f"--drop-column {c}" for c, _ in leaks)
        raise DataValidationError(
            f"column(s) {names} give the label away: wherever filled they determine it on "
            f"held-out rows, so every example would look easy. Leave them out with {flags}."
        )
