"""Offline label correction: turn a run's verdicts and people's review decisions into a dataset.

Human decisions from ``review.sqlite`` come first: relabel sets the label, remove and ood drop
the example, keep protects it from automatic changes. The rest follows the policy, and acts
only on examples the run flagged at its stated error level (``flagged``; ``strat run --fdr``),
never on a raw probability: ``relabel`` gives a flagged example whose verdict is a wrong-label
kind its suggested label and drops one whose verdict is an input like no class (it has no right
label to give), ``remove`` drops both, ``keep`` changes nothing and only lists them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from stratigraphy.core.atomic import atomic_write, atomic_write_bytes, atomic_write_table
from stratigraphy.core.errors import ConfigError, RunDirectoryError
from stratigraphy.curate.review_log import ReviewLog
from stratigraphy.probes.suites import suites_where
from stratigraphy.rundir.layout import REVIEW_DB
from stratigraphy.rundir.view import RunView

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


def _suite_with(action: str, ex: dict[str, np.ndarray]) -> str | None:
    """The run's suite whose inferred members ``strat fix`` relabels (or removes)."""
    return next((s for s in suites_where(action=action) if f"p_{s}" in ex), None)


class _Planner:
    """One fix plan in the making: labels, kept mask and one record per changed example."""

    def __init__(self, view: RunView) -> None:
        self.view, ex = view, view.examples
        self.ex = ex
        self.given = ex["label"].astype(np.int64)
        self.labels, self.keep = self.given.copy(), np.ones(self.given.size, dtype=bool)
        relabel = _suite_with("relabel", ex)
        if relabel is None:
            raise ConfigError(
                "this run has no mislabeled probe suite, so p(mislabeled) is unknown."
            )
        if "flagged" not in ex:
            raise ConfigError(
                f"{view.path} has no flags (written by an older stratigraphy); run it again."
            )
        self.relabel, self.remove = relabel, _suite_with("remove", ex) or ""
        self.p_mis = _prob(ex, relabel)
        self.suggested = ex["suggested_label"].astype(np.int64)
        self.changes: dict[int, dict[str, object]] = {}
        self.decided: set[int] = set()

    def record(self, i: int, action: str, new: int | None, source: str, reason: str) -> None:
        if action == "relabel" and new is not None:
            self.labels[i] = new
        elif action == "remove":
            self.keep[i] = False
        ex = self.ex
        self.changes[i] = {
            "index": i, "action": action, "old_label": int(self.given[i]),
            "new_label": int(self.given[i]) if new is None else new, "source": source,
            "reason": reason, "p_mislabeled": round(float(self.p_mis[i]), 4),
            "mislabel_score": float(ex["mislabel_score"][i]),
            "suggested_label": int(self.suggested[i]),
            "neighbour_label": int(ex["neighbour_label"][i]),
            "neighbour_share": round(float(ex["neighbour_share"][i]), 3),
        }  # fmt: skip

    def apply_review(self) -> None:
        """People's decisions first: relabel, remove (or out of distribution), keep."""
        view = self.view
        log = ReviewLog(Path(view.path) / REVIEW_DB, view.n_examples, len(view.class_names))
        for i, d in log.state().items():
            self.decided.add(i)
            who = f"review: {d.decision} by {d.reviewer} at {d.created_at[:19]}"
            if d.decision == "relabel" and d.label is not None:
                self.record(i, "relabel", d.label, "review", who)
            elif d.decision in ("remove", "ood"):
                self.record(i, "remove", None, "review", who)
            else:
                self.record(i, "keep", None, "review", who)

    def apply_policy(self, policy: str) -> None:
        """The run's flags, by verdict: wrong labels relabelled (or removed, or listed), inputs
        like no class removed (or listed)."""
        ex, names, given = self.ex, self.view.class_names, self.given
        flagged = ex["flagged"].astype(bool)
        verdict = ex["verdict"].astype(str)
        for i in np.flatnonzero(flagged & (verdict == self.relabel)).tolist():
            if i in self.decided:
                continue
            evidence = (
                f"{ex['reason'][i]}; {ex['neighbour_share'][i]:.0%} of input-space neighbours "
                f"are {names[int(ex['neighbour_label'][i])]!r}"
            )
            if policy == "relabel" and self.suggested[i] != given[i]:
                self.record(i, "relabel", int(self.suggested[i]), "auto", evidence)
            elif policy == "remove":
                self.record(i, "remove", None, "auto", evidence)
            else:
                self.record(i, "keep", None, "auto", "flagged only: " + evidence)
        for i in np.flatnonzero(flagged & (verdict == self.remove)).tolist():
            if i in self.decided or i in self.changes:
                continue
            action = "keep" if policy == "keep" else "remove"
            prefix = "flagged only: " if policy == "keep" else ""
            self.record(i, action, None, "auto", prefix + str(ex["reason"][i]))


def plan_fixes(
    run: str | Path | RunView,
    policy: str = "relabel",
    use_review: bool = True,
) -> FixPlan:
    """Decide every example's fate; human decisions first, then the policy on the run's flags."""
    if policy not in POLICIES:
        raise ConfigError(f"--policy must be one of {POLICIES}; got {policy!r}.")
    view = run if isinstance(run, RunView) else RunView.open(run)
    planner = _Planner(view)
    if use_review and (Path(view.path) / REVIEW_DB).is_file():
        planner.apply_review()
    planner.apply_policy(policy)
    changes = [planner.changes[i] for i in sorted(planner.changes)]
    return FixPlan(planner.labels, planner.keep, changes)


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
        arrays = {"X": data.X[kept], "y": labels[kept], "index": kept,
                  "class_names": np.asarray(view.class_names)}  # fmt: skip
        atomic_write(out, lambda tmp: np.savez_compressed(tmp, **arrays))
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
    use_review: bool = True,
) -> tuple[FixPlan, Path]:
    """Write the fixed dataset to ``out`` (.npz with inputs; .csv / .parquet with index and
    label) and every change with its reason to ``<out>.changes.csv``."""
    out = Path(out)
    check_output_suffix(out)
    view = RunView.open(run_dir)
    plan = plan_fixes(view, policy, use_review)
    write_subset(view, np.flatnonzero(plan.keep), plan.labels, out)
    changes = out.with_name(out.stem + ".changes.csv")
    write_changes_csv(plan, changes)
    return plan, changes
