"""The run directory: its file names, its identity check before anything is written, JSON I/O."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from stratigraphy.core.atomic import atomic_write_bytes
from stratigraphy.core.errors import RunDirectoryError

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"
PROBES_PARQUET = "probes.parquet"
EXAMPLES_PARQUET = "examples.parquet"
PLANTED_PARQUET = "planted.parquet"
SLICES_PARQUET = "slices.parquet"
ROWS_PARQUET = "rows.parquet"
DYNAMICS_DIR = "dynamics"
REPORT_HTML = "report.html"
REVIEW_DB = "review.sqlite"


def balanced_column(kind: str) -> str:
    """The examples-table column of an input kind's probability with every suite taken as
    equally likely (the inferer's own, before the data's priors): it still ranks the examples
    where the kind's share, and so its ``p_<kind>``, is estimated at zero."""
    return f"p_{kind}_balanced"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    with open(path) as fh:
        payload: dict[str, Any] = json.load(fh)
    return payload


def library_versions() -> dict[str, str]:
    """Versions that decide whether two runs can be bit-identical."""
    out = {"python": platform.python_version()}
    for pkg in ("stratigraphy", "numpy", "torch", "scikit-learn", "pyarrow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def check_writable(out: Path) -> None:
    """Refuse an output path under a file or in a directory this process cannot write to."""
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunDirectoryError(f"cannot write {out}: {ancestor} is a file, not a directory.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RunDirectoryError(
            f"cannot write {out}: {ancestor} is not writable (read-only or not yours)."
        )


def _is_temporary(path: Path) -> bool:
    return path.is_file() and path.name.startswith(".") and ".tmp-" in path.name


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary siblings (``.NAME.tmp-PID.SUFFIX``) a killed writer left behind."""
    stale = [p for p in directory.rglob(".*.tmp-*") if _is_temporary(p)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def check_run_dir(out: Path, identity: dict[str, Any], resume: bool) -> None:
    """Refuse a directory that cannot be written, holds something else, or holds the same run
    without ``resume``; temporary files a killed writer left behind are removed."""
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"{out} exists and is not a directory.")
    check_writable(out)
    if not out.is_dir() or not any(p for p in out.iterdir() if not _is_temporary(p)):
        if out.is_dir():
            remove_stale_temporaries(out)
        return
    run_json = out / RUN_JSON
    if not run_json.is_file():
        raise RunDirectoryError(
            f"{out} is not empty and holds no {RUN_JSON}: it is not a stratigraphy run. "
            "Choose an empty or new --out directory."
        )
    try:
        previous = read_json(run_json).get("identity", {})
    except (ValueError, OSError) as exc:
        raise RunDirectoryError(
            f"{run_json} is damaged ({exc}); it cannot be resumed. Use another --out directory."
        ) from exc
    if previous != identity:
        changed = sorted(
            k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k)
        )
        raise RunDirectoryError(
            f"{out} holds a different run (differs in: {', '.join(changed)}). "
            "Use another --out directory, or the same settings to resume it."
        )
    if not resume:
        raise RunDirectoryError(
            f"{out} already holds this run; pass --resume to continue it (or use another --out)."
        )
    remove_stale_temporaries(out)
