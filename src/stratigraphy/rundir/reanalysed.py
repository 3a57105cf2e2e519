"""A finished run analysed again into a directory of its own: that directory is a run directory
too (``strat fix``, ``strat prune``, ``strat review`` and ``strat report`` act on it), holding
its own analysis and linking to the files the run recorded, which it copies only where the file
system refuses links."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

from stratigraphy.core.errors import ConfigError
from stratigraphy.rundir.layout import (
    EXAMPLES_PARQUET,
    REPORT_HTML,
    REVIEW_DB,
    RUN_JSON,
    SLICES_PARQUET,
    SUMMARY_JSON,
    read_json,
)

ANALYSED_FROM = "analysed_from"
OWN_FILES = (EXAMPLES_PARQUET, SUMMARY_JSON, RUN_JSON, SLICES_PARQUET, REPORT_HTML)
OWN_PREFIXES = (REVIEW_DB,)  # the decisions taken on this directory's flags (+ -wal, -shm)


def check_target(run_dir: Path, out: Path) -> None:
    """Refuse an ``out`` that is the run itself or holds another run of its own, before anything
    is written (an analysis into it would replace that run's tables)."""
    if out.resolve() == run_dir.resolve():
        raise ConfigError("Write the new analysis beside the run (--out), not over it.")
    if (out / RUN_JSON).is_file() and ANALYSED_FROM not in read_json(out / RUN_JSON):
        raise ConfigError(
            f"{out} holds a run of its own; write the new analysis into another --out."
        )


def link_recorded(run_dir: Path, out: Path) -> list[str]:
    """Link every file and directory the run recorded (its dynamics, probes, source fold,
    representations, planted truth) into ``out``, except the analysis's own and the review
    decisions; return the names linked."""
    linked = []
    for entry in sorted(run_dir.iterdir()):
        name = entry.name
        if name in OWN_FILES or name.startswith(OWN_PREFIXES) or entry.resolve() == out.resolve():
            continue
        target = out / name
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            continue
        _link_or_copy(entry, target)
        linked.append(name)
    return linked


def _link_or_copy(entry: Path, target: Path) -> None:
    """A symbolic link at ``target`` to ``entry``; where the platform or file system refuses one
    (Windows without the privilege, some network mounts), a hard link for a file, else a copy."""
    try:
        target.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        return
    except OSError:
        pass
    if entry.is_dir():
        shutil.copytree(entry, target)
        return
    try:
        os.link(entry, target)
    except OSError:
        shutil.copy2(entry, target)


def carried_columns(run_dir: Path, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The run's own examples-table columns among ``names`` (one row per example, in index
    order): what the new analysis does not compute again (near duplicates, outliers)."""
    path = run_dir / EXAMPLES_PARQUET
    if not path.exists():
        return {}
    dataset = ds.dataset(path, format="parquet")
    wanted = [n for n in names if n in dataset.schema.names]
    if not wanted:
        return {}
    table = dataset.to_table(columns=["index", *wanted]).sort_by("index")
    return {n: table.column(n).to_numpy(zero_copy_only=False) for n in wanted}
