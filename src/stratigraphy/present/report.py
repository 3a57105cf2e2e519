"""``report.html``: one self-contained page (figures inlined as data URIs) that works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pyarrow.parquet as pq
from markupsafe import Markup

from stratigraphy.analysis.flags import (
    flag_shortfall,
    flagged_at,
    flagged_spread,
    other_levels,
    wrong_labels_withheld,
)
from stratigraphy.analysis.neighbours import ProbeNeighbours
from stratigraphy.core.atomic import atomic_write_bytes
from stratigraphy.data.sources import LabelledData
from stratigraphy.present import plots
from stratigraphy.rundir.layout import REPORT_HTML, SLICES_PARQUET
from stratigraphy.rundir.view import RunView

DUPLICATE_SETS_SHOWN = 8
OUTLIERS_SHOWN = 12
SLICES_SHOWN = 10
GALLERY_SIZE = 8
GALLERY_NEIGHBOURS = 10

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("stratigraphy.present", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)


def _gallery(view: RunView) -> list[dict[str, Any]]:
    """For every inferred kind, its most confident examples with input, labels and trajectory
    beside the trajectories of their nearest fitting probes."""
    ex = view.examples
    probes = ProbeNeighbours(view)
    loss, refs, probe_kinds = probes.loss, probes.refs, probes.kinds
    data = view.data
    names = view.class_names
    # One loss scale for every card: the 99th percentile of all recorded losses.
    scale = float(np.nanpercentile(loss, 99)) if np.isfinite(loss).any() else 1.0
    out = []
    for kind in view.suites:
        members = np.flatnonzero((ex["metadata"] == kind) & (ex["row"] >= 0))
        if members.size == 0:
            continue
        top = members[np.argsort(-ex["confidence"][members], kind="stable")[:GALLERY_SIZE]]
        rows = ex["row"][top]
        nbr = probes.nearest(rows, GALLERY_NEIGHBOURS)
        items = []
        for i, r, nb in zip(top, rows, nbr, strict=True):
            image = plots.input_png(data.X[i]) if data is not None else None
            items.append(
                {
                    "index": int(i),
                    "label": names[int(ex["label"][i])],
                    "suggested": names[int(ex["suggested_label"][i])],
                    "suggested_confidence": view.value_at("suggested_confidence", int(i)),
                    "confidence": float(ex["confidence"][i]),
                    "image": plots.data_uri(image) if image else None,
                    "caption": str(ex["caption"][i]) if "caption" in ex else None,
                    "trajectory": Markup(
                        plots.sparkline_svg(loss[r], refs[nb], probe_kinds[nb].tolist(), scale)
                    ),
                    "neighbours": ", ".join(
                        f"{k} {c}"
                        for k, c in zip(
                            *np.unique(probe_kinds[nb], return_counts=True), strict=True
                        )
                    ),
                }
            )
        out.append({"kind": kind, "count": int(members.size), "examples": items})
    return out


def _card(view: RunView, i: int) -> dict[str, Any]:
    """One example as a small card: index, label, input image or caption."""
    ex, data = view.examples, view.data
    image = plots.input_png(data.X[i]) if data is not None else None
    return {
        "index": int(i),
        "label": view.class_names[int(ex["label"][i])],
        "image": plots.data_uri(image) if image else None,
        "caption": str(ex["caption"][i]) if "caption" in ex else None,
    }


def _outliers(view: RunView) -> dict[str, Any] | None:
    """The outlier section: how many, in which classes, and the farthest examples with their
    probes' random-input posterior beside the representation score."""
    found = view.summary.get("issues", {}).get("outlier")
    ex = view.examples
    if found is None or "outlier_score" not in ex:
        return None
    score = np.nan_to_num(ex["outlier_score"], nan=-np.inf)
    flagged = np.flatnonzero(ex["is_outlier"])
    shown = flagged[np.argsort(-score[flagged], kind="stable")][:OUTLIERS_SHOWN]
    cards = [{**_card(view, int(i)), "score": float(score[i]),
              "p_random_input": float(ex["p_random_input"][i]) if "p_random_input" in ex
              else None} for i in shown]  # fmt: skip
    return {"summary": found, "examples": cards}


def _slices(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The weak-slice section: the worst slices (classes and groups) and the class imbalance."""
    found = summary.get("issues", {}).get("weak_slices")
    if found is None or not (run_dir / SLICES_PARQUET).is_file():
        return None
    rows = pq.read_table(run_dir / SLICES_PARQUET).slice(0, SLICES_SHOWN).to_pylist()
    return {"summary": found, "rows": rows}


def _duplicates(view: RunView, run_dir: Path) -> dict[str, Any] | None:
    """The near-duplicate section: counts, the first sets (conflicting labels first) with their
    inputs or texts side by side, and the leaks into the held-out set."""
    found = view.summary.get("issues", {}).get("near_duplicate")
    ex = view.examples
    if found is None or "duplicate_set" not in ex:
        return None
    sets, names = ex["duplicate_set"], view.class_names
    members = np.flatnonzero(sets >= 0)
    order = members[np.lexsort((sets[members], ~ex["duplicate_conflict"][members]))]

    shown: list[dict[str, Any]] = []
    for set_id in dict.fromkeys(sets[order].tolist()):
        if len(shown) == DUPLICATE_SETS_SHOWN:
            break
        rows = np.flatnonzero(sets == set_id)[:4]
        shown.append({"conflict": bool(ex["duplicate_conflict"][rows[0]]),
                      "items": [_card(view, int(i)) for i in rows]})  # fmt: skip
    leaks = None
    if (run_dir / "leaks.parquet").is_file():
        table = pq.read_table(run_dir / "leaks.parquet").slice(0, 20).to_pylist()
        leaks = [{**r, "train_label": names[r["train_label"]],
                  "test_label": names[r["test_label"]] if r["test_label"] >= 0 else "?"}
                 for r in table]  # fmt: skip
    return {"summary": found, "sets": shown, "leaks": leaks}


def _answer(summary: dict[str, Any], run_dir: Path) -> dict[str, Any] | None:
    """The report's first section: estimated share of each kind, flags, what to do next."""
    prevalence, flags = summary.get("prevalence"), summary.get("flags")
    if prevalence is None or flags is None:
        return None
    spread, at = flagged_spread(summary), flagged_at(summary)
    levels = other_levels(summary)
    withheld = flags.get("withheld", [])
    rows = [
        {"kind": k, "share": prevalence["share"][k], "low": prevalence["low"][k],
         "high": prevalence["high"][k], "flagged": flags["by_kind"].get(k),
         "withheld": k in withheld, "spread": spread.get(k),
         "at": [at[k][lv] for lv in levels] if k in at and k not in withheld else None}
        for k in prevalence["share"]
    ]  # fmt: skip
    probes = flags.get("probes", {})
    return {
        "rows": rows,
        "flagged": flags["flagged"],
        "fdr": flags["fdr"],
        "levels": levels,
        "probes": sum(probes.values()),
        "short": flag_shortfall(summary),
        "notes": flags.get("notes", []),
        "run": str(run_dir),
        "rank_first": wrong_labels_withheld(summary),
    }


def build_report(run_dir: str | Path, data: LabelledData | None = None) -> str:
    """Render the report of a finished run as one HTML string; ``data``: its inputs, where the
    caller holds them (else they are loaded from the run's source)."""
    view = RunView.open(run_dir).with_inputs(data)
    ex, summary, run = view.examples, view.summary, view.run
    kinds = ex["metadata"].astype(str)
    loss = view.loss
    suites = view.suites
    probe_groups = {s: loss[view.probes["row"][view.probes["suite"] == s]] for s in suites}
    scored = ex["row"] >= 0
    kind_groups = {
        k: loss[ex["row"][scored & (kinds == k)]] for k in suites if np.any(scored & (kinds == k))
    }
    inf = summary["inference"]
    chosen = inf["heldout"][inf["method"]]
    present = [k for k in [*suites, "unscored"] if np.any(kinds == k)]
    labels = ex["label"]
    per_class = [
        {"name": name, "counts": [int(np.sum((labels == c) & (kinds == k))) for k in present]}
        for c, name in enumerate(view.class_names)
    ]
    det = summary.get("detection")
    detection = None if det is None else {**det, "rows": sorted(
        det["scores"].items(), key=lambda kv: -kv[1]["ap"])}  # fmt: skip
    context = {
        "run": run,
        "training": view.training,
        "answer": _answer(summary, Path(run_dir)),
        "summary": summary,
        "counts": sorted(summary["counts"].items(), key=lambda kv: -kv[1]),
        "present": present,
        "per_class": per_class,
        "heldout": [
            {"suite": s, **{m: r["per_suite"][s] for m, r in inf["heldout"].items()}}
            for s in suites
        ],
        "methods": list(inf["heldout"]),
        "data_map": plots.data_uri(
            plots.data_map(ex["variability"], ex["cartography_confidence"], kinds)
        ),
        "probe_curves": plots.data_uri(
            plots.mean_trajectories(probe_groups, "Loss of probe suites (mean, IQR band)")
        ),
        "kind_curves": plots.data_uri(
            plots.mean_trajectories(kind_groups, "Loss of examples by inferred kind")
        ),
        "confusion": plots.data_uri(
            plots.confusion(
                np.array(chosen["confusion"]), suites, f"Held-out probes ({inf['method']})"
            )
        ),
        "gallery": _gallery(view),
        "duplicates": _duplicates(view, Path(run_dir)),
        "outliers": _outliers(view),
        "slices": _slices(Path(run_dir), view.summary),
        "detection": detection,
        "planted": summary.get("planted"),
        "has_inputs": view.data is not None,
    }
    return _env.get_template("report.html.j2").render(**context)


def write_report(run_dir: str | Path, data: LabelledData | None = None) -> Path:
    """Write ``RUN/report.html`` atomically and return its path (``data``: see
    :func:`build_report`)."""
    path = Path(run_dir) / REPORT_HTML
    atomic_write_bytes(path, build_report(run_dir, data).encode())
    return path
