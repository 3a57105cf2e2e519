"""Weak slices: the classes (and the user's groups) on which the model does worst.

For each slice (every class; every value of ``--groups`` when given) from the examples table:
its size and share of the data, accuracy over training (``correctness``: the share of epochs the
model predicted the given label), confidence (``cartography_confidence``: the mean probability
of the given label), expected calibration error (confidence against accuracy in ten bins of
confidence), the share flagged and the estimated share mislabeled (mean ``p_mislabeled``).
Slices are ranked by how far their accuracy falls below the data's; the class imbalance
(largest over smallest class) is stated beside them. Static pruning's class quotas read their
per-class error from :func:`dynamics_class_error` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from stratigraphy.core.errors import DataValidationError
from stratigraphy.data.tables import TABLE_SUFFIXES, read_table
from stratigraphy.rundir.layout import EXAMPLES_PARQUET

CALIBRATION_BINS = 10
WORST_SHOWN = 5


def dynamics_class_error(labels: np.ndarray, correctness: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class error over the recorded epochs (1 − mean correctness): how hard each class was to
    learn, the stand-in for validation error when none is given."""
    wrong = 1.0 - np.nan_to_num(np.asarray(correctness, dtype=np.float64), nan=1.0)
    sums = np.bincount(labels, weights=wrong, minlength=n_classes)
    return sums / np.maximum(np.bincount(labels, minlength=n_classes), 1)


def calibration_error(confidence: np.ndarray, accuracy: np.ndarray) -> float:
    """Expected calibration error: Σ_b (n_b / n) |mean accuracy_b − mean confidence_b| over ten
    equal-width bins of confidence."""
    if confidence.size == 0:
        return float("nan")
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    count = np.bincount(bins, minlength=CALIBRATION_BINS)
    gap = np.abs(np.bincount(bins, accuracy, CALIBRATION_BINS)
                 - np.bincount(bins, confidence, CALIBRATION_BINS))  # fmt: skip
    return float(gap.sum() / max(count.sum(), 1))


def _slice_rows(kind: str, values: np.ndarray, names: list[str],
                ex: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:  # fmt: skip
    acc = np.nan_to_num(np.asarray(ex["correctness"], np.float64))
    conf = np.nan_to_num(np.asarray(ex["cartography_confidence"], np.float64))
    flagged = np.asarray(ex["flagged"], bool)
    p_mis = ex.get("p_mislabeled")
    rows = []
    for code, name in enumerate(names):
        members = values == code
        if not members.any():
            continue
        rows.append({
            "slice": kind, "name": name, "examples": int(members.sum()),
            "share_of_data": float(members.mean()), "accuracy": float(acc[members].mean()),
            "confidence": float(conf[members].mean()),
            "calibration_error": calibration_error(conf[members], acc[members]),
            "flagged_share": float(flagged[members].mean()),
            "mislabeled_share": float(np.nanmean(np.asarray(p_mis)[members]))
            if p_mis is not None else float("nan"),
        })  # fmt: skip
    return rows


def weak_slices(ex: Mapping[str, np.ndarray], class_names: list[str],
                groups: np.ndarray | None = None) -> tuple[pa.Table, dict[str, Any]]:  # fmt: skip
    """Per-slice figures, worst first (by accuracy below the data's), and the summary section."""
    labels = np.asarray(ex["label"], np.int64)
    rows = _slice_rows("class", labels, list(class_names), ex)
    if groups is not None:
        names, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        rows += _slice_rows("group", codes, names.tolist(), ex)
    overall = float(np.nan_to_num(np.asarray(ex["correctness"], np.float64)).mean())
    for r in rows:
        r["accuracy_gap"] = overall - r["accuracy"]
    rows.sort(key=lambda r: -r["accuracy_gap"])
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    counts = np.bincount(labels, minlength=len(class_names))
    present = counts[counts > 0]
    summary = {
        "overall_accuracy": overall,
        "worst": [{k: r[k] for k in ("slice", "name", "accuracy", "accuracy_gap",
                                     "calibration_error", "flagged_share", "examples")}
                  for r in rows[:WORST_SHOWN]],  # fmt: skip
        "class_imbalance": float(present.max() / present.min()) if present.size else float("nan"),
        "largest_class": class_names[int(counts.argmax())] if present.size else None,
        "smallest_class": class_names[int(np.where(counts > 0, counts, np.inf).argmin())]
        if present.size else None,
        "groups": int(len(set(np.asarray(groups).astype(str).tolist())))
        if groups is not None else 0,
        "accuracy": "share of epochs the model predicted the given label (correctness)",
    }  # fmt: skip
    return pa.Table.from_pylist(rows), summary


SLICE_COLUMNS = ("index", "label", "correctness", "cartography_confidence", "flagged",
                 "p_mislabeled")  # fmt: skip


def slices_of_run(run_dir: str | Path, class_names: list[str],
                  groups: np.ndarray | None = None) -> tuple[pa.Table, dict[str, Any]]:  # fmt: skip
    """:func:`weak_slices` of a run directory's examples table (``groups`` in the data's order)."""
    path = Path(run_dir) / EXAMPLES_PARQUET
    names = [c for c in SLICE_COLUMNS if c in ds.dataset(path, format="parquet").schema.names]
    table = pq.read_table(path, columns=names).sort_by("index")
    ex = {c: table.column(c).to_numpy() for c in names}
    return weak_slices(ex, class_names, groups)


def read_groups(
    path: str | Path, n: int, table: str | Path | None = None, first: bool = False
) -> np.ndarray:
    """One group per example, in the data's order: a ``.npy`` array, a text file with one
    value per line (a header line ``group`` is skipped), or the name of a column of ``table``
    (the CSV or Parquet file the data comes from). ``first``: the data is the source's first
    ``n`` examples (``--limit``), so the groups may run on; the first ``n`` are kept."""
    p = Path(path)
    if not p.is_file() and table is not None and Path(table).suffix.lower() in TABLE_SUFFIXES:
        data = read_table(table)
        if str(path) in data.column_names:
            column = pc.cast(data.column(str(path)), pa.string())
            values = pc.fill_null(pc.utf8_trim_whitespace(column), "").to_numpy(
                zero_copy_only=False
            )
            return _checked(np.asarray(values, dtype=str), f"column {path!r}", n, first)
        raise DataValidationError(
            f"--groups {path}: neither a file nor a column of {table} (columns: "
            f"{data.column_names})."
        )
    if not p.is_file():
        raise DataValidationError(f"--groups {p}: no such file.")
    if p.suffix == ".npy":
        try:
            values = np.load(p, allow_pickle=False).astype(str)
        except ValueError as exc:
            raise DataValidationError(f"--groups {p}: not a plain numpy array ({exc}).") from exc
    else:
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataValidationError(f"--groups {p} is not UTF-8 text.") from exc
        lines = lines[1:] if lines and lines[0].strip().lower() == "group" else lines
        values = np.array([line.strip() for line in lines], dtype=str)
    return _checked(values, str(p), n, first)


def _checked(values: np.ndarray, where: str, n: int, first: bool = False) -> np.ndarray:
    if first and values.ndim == 1 and values.size > n:
        values = values[:n]
    if values.ndim != 1 or values.size != n:
        raise DataValidationError(
            f"--groups {where} holds {values.size} values; the data has {n} examples "
            "(one group per example, in the data's order)."
        )
    if (np.char.str_len(values) == 0).any():
        raise DataValidationError(f"--groups {where}: {int((np.char.str_len(values) == 0).sum())} "
                                  "examples have an empty group.")  # fmt: skip
    return values
