"""Offline label correction: turn a run's verdicts and people's review decisions into a dataset.

Human decisions from ``review.sqlite`` come first: relabel sets the label, remove and ood drop
the example, keep protects it from automatic changes. The rest follows the policy: ``relabel``
gives examples with p(mislabeled) ≥ threshold their suggested label and drops those with
p(random_input) ≥ threshold (an input that resembles no class has no right label to give it),
``remove`` drops both, ``keep`` changes nothing and only lists them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import ConfigError, RunDirectoryError
from .review_log import REVIEW_DB, ReviewLog
from .runview import RunView
from .store import atomic_write_bytes, atomic_write_table

POLICIES = ("relabel", "remove", "keep")
FIX_COLUMNS = (
    "index", "action", "old_label", "new_label", "source", "reason", "p_mislabeled",
    "mislabel_score", "suggested_label", "neighbour_label", "neighbour_share",
)  # fmt: skip


@dataclass
class FixPlan:
    """New labels and kept mask over the original examples, and one record per changed or
    listed example, in index order."""

    labels: np.ndarray
    keep: np.ndarray
    changes: list[dict[str, object]]


def _prob(ex: dict[str, np.ndarray], suite: str) -> np.ndarray:
    col = ex.get(f"p_{suite}")
    return np.zeros(ex["index"].size) if col is None else np.nan_to_num(col.astype(np.float64))


def plan_fixes(
    run: str | Path | RunView,
    policy: str = "relabel",
    threshold: float = 0.5,
    use_review: bool = True,
) -> FixPlan:
    """Decide every example's fate; human decisions first, then the policy."""
    if policy not in POLICIES:
        raise ConfigError(f"--policy must be one of {POLICIES}; got {policy!r}.")
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"--threshold must lie in (0, 1]; got {threshold}.")
    view = run if isinstance(run, RunView) else RunView.open(run)
    run_dir = view.path
    ex = view.examples
    if "p_mislabeled" not in ex:
        raise ConfigError("this run has no mislabeled probe suite, so p(mislabeled) is unknown.")
    given = ex["label"].astype(np.int64)
    labels = given.copy()
    keep = np.ones(given.size, dtype=bool)
    p_mis, p_ood = _prob(ex, "mislabeled"), _prob(ex, "random_input")
    suggested = ex["suggested_label"].astype(np.int64)
    names = view.class_names

    def record(i: int, action: str, new: int, source: str, reason: str) -> dict[str, object]:
        return {
            "index": i,
            "action": action,
            "old_label": int(given[i]),
            "new_label": new,
            "source": source,
            "reason": reason,
            "p_mislabeled": round(float(p_mis[i]), 4),
            "mislabel_score": float(ex["mislabel_score"][i]),
            "suggested_label": int(suggested[i]),
            "neighbour_label": int(ex["neighbour_label"][i]),
            "neighbour_share": round(float(ex["neighbour_share"][i]), 3),
        }

    changes: dict[int, dict[str, object]] = {}
    decided: set[int] = set()
    if use_review and (Path(run_dir) / REVIEW_DB).is_file():
        log = ReviewLog(Path(run_dir) / REVIEW_DB, view.n_examples, len(names))
        for i, d in log.state().items():
            decided.add(i)
            who = f"review: {d.decision} by {d.reviewer} at {d.created_at[:19]}"
            if d.decision == "relabel" and d.label is not None:
                labels[i] = d.label
                changes[i] = record(i, "relabel", d.label, "review", who)
            elif d.decision in ("remove", "ood"):
                keep[i] = False
                changes[i] = record(i, "remove", int(given[i]), "review", who)
            else:
                changes[i] = record(i, "keep", int(given[i]), "review", who)

    scored = ex["row"] >= 0
    mis = np.flatnonzero(scored & (p_mis >= threshold))
    ood = np.flatnonzero(scored & (p_ood >= threshold)) if policy != "keep" else np.array([], int)
    for i in mis.tolist():
        if i in decided:
            continue
        evidence = (
            f"p_mislabeled {p_mis[i]:.2f} ≥ {threshold:g}; the model predicted "
            f"{names[suggested[i]]!r} most often; {ex['neighbour_share'][i]:.0%} of input-space "
            f"neighbours are {names[int(ex['neighbour_label'][i])]!r}"
        )
        if policy == "relabel" and suggested[i] != given[i]:
            labels[i] = suggested[i]
            changes[i] = record(i, "relabel", int(suggested[i]), "auto", evidence)
        elif policy == "remove":
            keep[i] = False
            changes[i] = record(i, "remove", int(given[i]), "auto", evidence)
        else:
            changes[i] = record(i, "keep", int(given[i]), "auto", "flagged only: " + evidence)
    for i in ood.tolist():
        if i in decided or i in changes:
            continue
        keep[i] = False
        reason = f"p_random_input {p_ood[i]:.2f} ≥ {threshold:g}: looks out of distribution"
        changes[i] = record(i, "remove", int(given[i]), "auto", reason)
    return FixPlan(labels, keep, [changes[i] for i in sorted(changes)])


def write_changes_csv(plan: FixPlan, path: Path) -> None:
    """Every changed or listed example with its action, source and evidence."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(FIX_COLUMNS))
    w.writeheader()
    w.writerows(plan.changes)
    atomic_write_bytes(path, buf.getvalue().encode())


def check_output_suffix(out: Path) -> None:
    if out.suffix not in (".npz", ".csv", ".parquet"):
        raise ConfigError(f"--out must end in .npz, .csv or .parquet; got {out.name}.")


def write_subset(view: RunView, kept: np.ndarray, labels: np.ndarray, out: Path) -> None:
    """Write the examples ``kept`` with ``labels``: .npz with inputs (``X``, ``y``, ``index``,
    ``class_names``), or .csv / .parquet with index and label only."""
    check_output_suffix(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        data = view.data
        if data is None:
            raise RunDirectoryError(
                "the run's inputs cannot be reloaded (source moved or changed); write labels "
                "only with --out FILE.csv or FILE.parquet."
            )
        tmp = out.with_name(f".{out.stem}.tmp.npz")
        np.savez_compressed(
            tmp, X=data.X[kept], y=labels[kept], index=kept,
            class_names=np.asarray(view.class_names),
        )  # fmt: skip
        tmp.replace(out)
        return
    table = pa.table(
        {
            "index": kept,
            "label": labels[kept],
            "label_name": np.asarray(view.class_names, dtype=object)[labels[kept]],
        }
    )
    if out.suffix == ".csv":
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf)
        atomic_write_bytes(out, buf.getvalue().to_pybytes())
    else:
        atomic_write_table(out, table)


def apply_fixes(
    run_dir: str | Path,
    out: str | Path,
    policy: str = "relabel",
    threshold: float = 0.5,
    use_review: bool = True,
) -> tuple[FixPlan, Path]:
    """Write the fixed dataset to ``out`` (.npz with inputs; .csv / .parquet with index and
    label) and every change with its reason to ``<out>.changes.csv``."""
    out = Path(out)
    check_output_suffix(out)
    view = RunView.open(run_dir)
    plan = plan_fixes(view, policy, threshold, use_review)
    write_subset(view, np.flatnonzero(plan.keep), plan.labels, out)
    changes = out.with_name(out.stem + ".changes.csv")
    write_changes_csv(plan, changes)
    return plan, changes
