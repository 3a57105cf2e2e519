"""A probe plan on disk, memory-mapped: the per-row and per-example bookkeeping of a
:class:`ProbedData` (labels, origins, training rows, typicality) and any per-example columns
that go with it, saved once and opened by every process that needs a stretch of it.

Opening maps the files and reads nothing: a process pays in memory only for the rows it
touches. That is what keeps the Ray driver's memory free of N (it touches the probes' rows and
one origin per chunk) and each Ray task's to its own row group. Numeric arrays are ``.npy``
files opened with ``mmap_mode="r"``; other columns (strings) one uncompressed Feather (Arrow
IPC) file, mapped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from stratigraphy.core.atomic import atomic_write_bytes, atomic_write_table
from stratigraphy.core.errors import RunDirectoryError
from stratigraphy.probes.build import ProbedData
from stratigraphy.probes.typicality import Typicality

PLAN_JSON, PROBES, COLUMNS = "plan.json", "probes.parquet", "columns.arrow"
ARRAYS = ("y", "origin", "example_row", "source_labels")
TYPICALITY = ("consistency", "agrees", "distance", "score", "neighbour_label", "neighbour_share")
FORMAT = 1


def save_plan(probed: ProbedData, directory: str | Path,
              columns: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Write ``probed``'s bookkeeping (not its inputs) and per-example ``columns`` under
    ``directory``; :func:`open_plan` maps it back."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    typ = probed.typicality
    arrays = {name: getattr(probed, name) for name in ARRAYS}
    arrays.update({f"typicality.{name}": getattr(typ, name) for name in TYPICALITY})
    numeric, other = {}, {}
    for name, values in (columns or {}).items():
        if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
            numeric[f"column.{name}"] = values
        else:
            other[name] = pa.array(list(values) if isinstance(values, np.ndarray) else values)
    for name, values in {**arrays, **numeric}.items():
        np.save(directory / f"{name}.npy", np.ascontiguousarray(values))
    if other:
        feather.write_feather(pa.table(other), directory / COLUMNS, compression="uncompressed")
    atomic_write_table(directory / PROBES, probed.probes)
    meta = {
        "format": FORMAT, "suites": list(probed.suites), "n_rows": int(probed.y.size),
        "n_examples": int(probed.source_labels.size), "n_kept": probed.n_kept,
        "n_classes": probed.n_classes,
        "confusion": None if typ.confusion is None else np.asarray(typ.confusion).tolist(),
        "columns": list(columns or {}), "numeric": [k.removeprefix("column.") for k in numeric],
        "lookalikes": dict(probed.lookalikes),
        "lookalike_recall": dict(probed.lookalike_recall),
    }  # fmt: skip
    atomic_write_bytes(directory / PLAN_JSON, json.dumps(meta, indent=2).encode())
    return directory


def open_plan(directory: str | Path) -> tuple[ProbedData, dict[str, Any]]:
    """The :class:`ProbedData` saved under ``directory`` (its arrays memory-mapped, no inputs:
    ``X`` has no columns) and its per-example columns (arrays or Arrow columns, mapped too)."""
    directory = Path(directory)
    meta_path = directory / PLAN_JSON
    if not meta_path.is_file():
        raise RunDirectoryError(f"{directory} holds no saved probe plan ({PLAN_JSON} missing).")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise RunDirectoryError(f"{directory}: probe plan format {meta.get('format')} is not "
                                f"{FORMAT}; save the plan again.")  # fmt: skip

    def load(name: str) -> np.ndarray:
        return np.load(directory / f"{name}.npy", mmap_mode="r")

    confusion = meta["confusion"]
    typ = Typicality(**{n: load(f"typicality.{n}") for n in TYPICALITY},
                     confusion=None if confusion is None else np.asarray(confusion))  # fmt: skip
    probed = ProbedData(
        X=np.empty((meta["n_rows"], 0), np.float32), y=load("y"), origin=load("origin"),
        example_row=load("example_row"), probes=pq.read_table(directory / PROBES),
        suites=list(meta["suites"]), typicality=typ, source_labels=load("source_labels"),
        directory=directory, lookalikes=dict(meta.get("lookalikes", {})),
        lookalike_recall=dict(meta.get("lookalike_recall", {})),
    )  # fmt: skip
    probed.__dict__.update(n_kept=meta["n_kept"], n_classes=meta["n_classes"])
    columns: dict[str, Any] = {name: load(f"column.{name}") for name in meta["numeric"]}
    if (directory / COLUMNS).is_file():
        mapped = feather.read_table(directory / COLUMNS, memory_map=True)
        columns.update({name: mapped[name] for name in mapped.column_names})
    columns = {name: columns[name] for name in meta["columns"]}
    return probed, columns
