"""Static pruning: keep a fraction of the data by any score, optionally with per-class quotas
that protect the worst class (Vysogorets et al., DRoP) and after dropping examples inferred as
mislabeled or out-of-distribution.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from stratigraphy.analysis.scale import to_scale
from stratigraphy.core.errors import ConfigError
from stratigraphy.core.seeding import stream
from stratigraphy.curate.fixes import write_subset
from stratigraphy.curate.prune_by import RANDOM, keep_high
from stratigraphy.issues.slices import dynamics_class_error
from stratigraphy.probes.suites import suites_with_action
from stratigraphy.rundir.view import RunView


def class_quotas(labels: np.ndarray, class_error: np.ndarray, n_keep: int) -> np.ndarray:
    """Examples to keep per class: proportional to the class's error rate (harder classes keep
    more), capped at the class's size, the surplus handed on to the classes with room left."""
    n_classes = class_error.size
    sizes = np.bincount(labels, minlength=n_classes)
    weight = np.maximum(np.asarray(class_error, dtype=np.float64), 1e-3) * (sizes > 0)
    quota = np.zeros(n_classes, dtype=np.int64)
    open_ = sizes > 0
    remaining = min(n_keep, int(sizes.sum()))
    while remaining > 0 and open_.any():
        share = weight * open_ / (weight * open_).sum()
        alloc = np.floor(remaining * share).astype(np.int64)
        if alloc.sum() == 0:
            alloc[np.argmax(share)] = 1
        quota = np.minimum(quota + alloc, sizes)
        remaining = min(n_keep, int(sizes.sum())) - int(quota.sum())
        open_ = quota < sizes
    return quota


def select_keep(
    scores: dict[str, np.ndarray],
    labels: np.ndarray,
    keep: float,
    by: str = "el2n",
    class_error: np.ndarray | None = None,
    drop: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of the examples to keep (sorted). ``drop`` marks examples removed first (e.g.
    flagged as mislabeled or out-of-distribution); ``class_error`` switches on class quotas."""
    if not 0.0 < keep <= 1.0:
        raise ConfigError(f"--keep must lie in (0, 1]; got {keep}.")
    ends = keep_high()
    if by not in ends:
        raise ConfigError(f"--by must be one of {tuple(ends)}; got {by!r}.")
    n = labels.size
    rng = stream(seed, "pruning")
    if by == RANDOM:
        value = rng.random(n)
    else:
        value = np.nan_to_num(np.asarray(scores[by], dtype=np.float64), nan=-np.inf)
        value = value if ends[by] else -value
    eligible = np.ones(n, dtype=bool) if drop is None else ~np.asarray(drop, dtype=bool)
    n_keep = min(int(round(keep * n)), int(eligible.sum()))
    order = np.lexsort((rng.random(n), -value))  # highest value first, random tie-break
    order = order[eligible[order]]
    if class_error is None:
        return np.sort(order[:n_keep])
    quota = class_quotas(labels[order], np.asarray(class_error), n_keep)
    rank_in_class = np.empty(order.size, dtype=np.int64)
    for c in range(quota.size):
        members = labels[order] == c
        rank_in_class[members] = np.arange(members.sum())
    return np.sort(order[rank_in_class < quota[labels[order]]])


def on_main_scale(
    ex: dict[str, np.ndarray], summary: dict[str, Any], names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """The score columns ``names`` (default: all) that have a map in ``summary.json`` →
    ``source_fold.scales``, the former probe sources' values (judged in the source fold) mapped
    onto the main training's scale."""
    scales = _scales(summary)
    fold = _fold_rows(ex)
    return {
        name: np.where(fold, to_scale(ex[name], scales[name]), np.asarray(ex[name], np.float64))
        for name in (scales if names is None else names)
        if name in scales and name in ex
    }


def _scales(summary: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    scales: dict[str, dict[str, list[float]]] = summary.get("source_fold", {}).get("scales", {})
    return scales


def _fold_rows(ex: dict[str, np.ndarray]) -> np.ndarray:
    return (ex["row"] < 0) & (ex["fold_row"] >= 0) if "fold_row" in ex else ex["row"] < 0


def unranked(ex: dict[str, np.ndarray], summary: dict[str, Any], by: str) -> np.ndarray:
    """The examples ``by`` cannot rank: the former probe sources, in a run without the map of
    their scores onto the main training's scale."""
    ranked = (ex["row"] >= 0) | (_fold_rows(ex) & (by == RANDOM or by in _scales(summary)))
    return ~ranked


def ranked_scores(
    ex: dict[str, np.ndarray], summary: dict[str, Any], by: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The pruning score ``by`` of every example on the main training's scale
    (:func:`on_main_scale`; the only score :func:`select_keep` reads), and the examples ``by``
    cannot rank (:func:`unranked`)."""
    names = [by] if by in ex else []
    mapped = on_main_scale(ex, summary, names)
    scores = {k: mapped.get(k, np.asarray(ex[k], np.float64)) for k in names}
    return scores, unranked(ex, summary, by)


def prune_run(
    run_dir: str | Path,
    out: str | Path,
    keep: float,
    by: str = "el2n",
    quotas: bool = False,
    class_error: np.ndarray | None = None,
    drop_flagged: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Select the examples of a run to keep and write them like ``strat fix`` does."""
    view = RunView.open(run_dir)
    ex = view.examples
    labels = ex["label"].astype(np.int64)
    n_classes = len(view.class_names)
    scores, drop = ranked_scores(ex, view.summary, by)
    if drop_flagged:
        if "flagged" not in ex:
            raise ConfigError(f"{run_dir} has no flags (written by an older stratigraphy).")
        acted_on = np.isin(ex["verdict"].astype(str), suites_with_action())
        drop |= ex["flagged"].astype(bool) & acted_on
    error = None
    if quotas:
        error = (
            np.asarray(class_error, dtype=np.float64)
            if class_error is not None
            else dynamics_class_error(
                labels,
                on_main_scale(ex, view.summary, ["correctness"]).get(
                    "correctness", ex["correctness"]
                ),
                n_classes,
            )
        )
        if error.size != n_classes:
            raise ConfigError(f"class errors must give one value per class ({n_classes}).")
    kept = select_keep(scores, labels, keep, by, error, drop, seed)
    write_subset(view, kept, labels, Path(out))
    return kept
