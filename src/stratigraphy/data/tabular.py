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
from stratigraphy.data.tables import encode_labels, read_table, require_columns

MAX_CATEGORIES = 30


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
        parts[c] = pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False)
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


def load_tabular(
    path: str | Path, label_column: str, drop: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Encoded features, integer labels and class names of a CSV/Parquet table."""
    table = read_table(path)
    require_columns(table, path, label_column, *drop)
    X, _ = encode_table(table, label_column, drop)
    y, names = encode_labels(table.column(label_column), label_column)
    return X, y, names
