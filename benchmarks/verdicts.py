"""Verdicts a user can trust, measured: prevalence, flags at a stated error level, actions.

For each setting the main job runs end to end (``strat run``: probes, one training, the source
fold, the engine) and cleanlab runs on the same planted data with the same model and epochs
(5-fold cross-validated probabilities from the library's MLP). Per setting it prints:

- the estimated share of each planted kind with its 95% interval, beside the truth and beside
  cleanlab's estimated share of label issues (``num_label_issues`` and ``1 - trace`` of
  ``estimate_joint``);
- at ``--fdr 0.1``: how many examples are flagged, the realised share of false flags (flagged
  but nothing planted) and the share of planted problems caught, beside
  ``find_label_issues``' precision and recall;
- the AP of ``mislabel_score`` against planted label errors (or, for the tweets as they are,
  against crowd agreement < 0.6), the best classic score's and cleanlab's self-confidence AP;
- ``strat fix --policy relabel``'s removed share and the review queue against the estimate;
- unscored rows and the source fold's cost beside the main training;
- with ``--relevel 0.2``: the run flagged again at that level (``strat analyze
  RUN --fdr 0.2``, no training) beside the count its summary foretold
  (``flags.flagged_share_at``), with the realised false share;
- at the end, one row per setting against the issue's must-show (:func:`status_row`).

With ``--again`` no setting is trained: each run recorded before (in ``benchmarks/out/verdicts``
or the directory given) is analysed again with this checkout's engine (``strat analyze``, a
minute or two per setting where a training takes several), which is how a change to the
analysis is measured on every setting at once.

    python benchmarks/verdicts.py                          # every setting
    python benchmarks/verdicts.py --only fmnist-none,tweets-crowd [--limit 20000] [--epochs 15]
    python benchmarks/verdicts.py --clean-sampling extremes # MAP-D's most and least typical probes
    python benchmarks/verdicts.py --only tweets-sym20,tweets-sym40 --relevel 0.2
    python benchmarks/verdicts.py --again --no-cleanlab      # the recorded runs, analysed again

Fashion-MNIST settings use its first ``--limit`` training images (default 20,000; ``strat run
--limit``, so each run can be analysed again) so that the six trainings of a setting (one run,
five cross-validation folds) fit on two CPU cores. The ``fmnistlt-*`` settings use a long-tailed
subset instead (:func:`long_tailed_fashion_mnist`: 4,000 T-shirts down to 400 ankle boots),
since the counts users distrust most are those on imbalanced data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from _common import OUT, fashion_mnist_available
from detect import TWEETS, cv_probs

from stratigraphy import RunConfig, run
from stratigraphy.analysis.evaluation import detection_quality
from stratigraphy.analysis.flags import flagged_at
from stratigraphy.analysis.scores import SCORES, mislabel_direction
from stratigraphy.curate.fixes import plan_fixes
from stratigraphy.data.sources import LabelledData
from stratigraphy.data.tables import read_table
from stratigraphy.job import reanalyse
from stratigraphy.rundir.layout import read_json

KIND_TO_SUITE = {"mislabeled": "mislabeled", "corrupted": "corrupted",
                 "out_of_distribution": "random_input"}  # fmt: skip


@dataclass
class Setting:
    name: str
    data: str
    plant: dict[str, object]
    title: str


MIXES = [
    ("none", {"noise_rate": 0.0}, "nothing planted"),
    ("sym20", {"noise_rate": 0.2}, "20% symmetric"),
    ("sym40", {"noise_rate": 0.4}, "40% symmetric"),
    ("asym20", {"noise_rate": 0.2, "noise_kind": "asymmetric"}, "20% asymmetric (real confusions)"),
    ("mix", {"noise_rate": 0.1, "corrupt_rate": 0.05, "ood_rate": 0.03},
     "10% mislabeled + 5% corrupted + 3% out-of-distribution"),
]  # fmt: skip
DATASETS = {"fmnist": "Fashion-MNIST", "tweets": "airline tweets",
            "fmnistlt": "long-tailed Fashion-MNIST (10x imbalance)"}  # fmt: skip
LONG_TAIL_HEAD, LONG_TAIL_RATIO = 4000, 10.0
SETTINGS = [
    Setting(f"{data}-{'crowd' if data == 'tweets' and name == 'none' else name}", data, plant,
            f"{title}, {what}" + (" (reference: crowd agreement < 0.6)"
                                  if data == "tweets" and name == "none" else ""))
    for data, title in DATASETS.items()
    for name, plant, what in MIXES
]  # fmt: skip


def _config(
    s: Setting, out: Path, epochs: int, seed: int, clean_sampling: str = "halves",
    limit: int = 20_000,
) -> RunConfig:  # fmt: skip
    flags = {**s.plant, "model": "mlp", "epochs": epochs, "clean_sampling": clean_sampling}
    if s.data == "tweets":
        flags.update(source=str(TWEETS), text_column="text", label_column="airline_sentiment")
    elif s.data == "fmnistlt":
        flags.update(source=str(long_tailed_fashion_mnist()))
    else:
        flags.update(source="fashion-mnist", limit=limit)  # in the run's configuration
    return RunConfig.build(out, seed=seed, **flags)


def long_tailed_fashion_mnist() -> Path:
    """Fashion-MNIST's training images with class k kept at ``LONG_TAIL_HEAD`` · ratio^(−k/9)
    (4,000 T-shirts down to 400 ankle boots, 16,349 images; the first of each class, in the
    data's order), written once to an ``.npz`` under ``benchmarks/out`` so each run can be
    analysed again. Imbalance is where a count of label errors is hardest to believe: a rare
    class's clean images are learnt late and look doubtful, and symmetric noise sends a rare
    class as many wrong labels as it has right ones."""
    path = OUT / f"fashion-mnist-lt{LONG_TAIL_RATIO:g}.npz"
    if path.is_file():
        return path
    from stratigraphy.data.sources import load_fashion_mnist

    full = load_fashion_mnist()
    keep = []
    for k in range(full.n_classes):
        want = int(round(LONG_TAIL_HEAD * LONG_TAIL_RATIO ** (-k / (full.n_classes - 1))))
        keep.append(np.flatnonzero(full.y == k)[:want])
    rows = np.sort(np.concatenate(keep))
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=full.X[rows], y=full.y[rows], class_names=np.array(full.class_names))
    return path


def _trained(s: Setting, out: Path, epochs: int, seed: int, clean_sampling: str, limit: int,
             again: Path | None) -> tuple[RunConfig, dict, float, Path, LabelledData] | None:  # fmt: skip
    """The setting's run: trained afresh into ``out``, or with ``again`` its run recorded
    there analysed again into ``NAME-again`` beside it (None where none is recorded).
    Returns its configuration, summary, wall time, directory and source data."""
    if again is not None:
        out = again / out.name
        if not (out / "run.json").is_file():
            print(f"skipping {s.name}: no recorded run in {out}")
            return None
        cfg = RunConfig.from_dict(read_json(out / "run.json")["config"])
        where = out.parent / f"{out.name}-again"
        shutil.rmtree(where, ignore_errors=True)
        t0 = time.perf_counter()
        summary = reanalyse(out, where)
        return cfg, summary, time.perf_counter() - t0, where, cfg.data.load_source(None)
    cfg = _config(s, out, epochs, seed, clean_sampling, limit)
    if out.exists():
        shutil.rmtree(out)
    source = cfg.data.load_source(None)
    t0 = time.perf_counter()
    summary = run(cfg, data=source).summary
    return cfg, summary, time.perf_counter() - t0, out, source


def evaluate(
    s: Setting,
    epochs: int,
    seed: int,
    limit: int,
    clean_sampling: str,
    with_cleanlab: bool = True,
    relevel: float | None = None,
    again: Path | None = None,
) -> dict | None:
    """Run the setting end to end and measure it; with ``again`` (a directory of recorded
    runs, such as ``benchmarks/out/verdicts``), analyse its run ``again/NAME`` again with this
    checkout's engine instead (``strat analyze``, into ``NAME-again``: no training, the
    run's own epochs and seed), or None where no run is recorded there."""
    out = OUT / "verdicts" / (s.name + ("" if clean_sampling == "halves" else f"-{clean_sampling}"))
    trained = _trained(s, out, epochs, seed, clean_sampling, limit, again)
    if trained is None:
        return None
    cfg, summary, wall, where, source = trained
    planted = cfg.data.planted(source)
    data = planted.data if planted is not None else source
    kind = planted.kind if planted is not None else np.full(data.n, "clean", dtype=object)
    ex = pq.read_table(where / "examples.parquet").to_pandas()
    prev = summary["prevalence"]
    n = data.n
    r: dict = {"setting": s.name, "title": s.title, "n": n, "epochs": cfg.training.epochs,
               "wall_s": wall, "again": again is not None}  # fmt: skip
    r["unscored"] = int((ex.verdict == "unscored").sum())
    t = summary.get("timings", {})
    r["training_s"], r["source_fold_s"] = t.get("training_s", 0.0), t.get("source_fold_s", 0.0)
    r["prevalence"] = {
        suite: {"truth": float(np.mean(kind == k)), "share": prev["share"][suite],
                "low": prev["low"][suite], "high": prev["high"][suite]}
        for k, suite in KIND_TO_SUITE.items()
    }  # fmt: skip
    problem = np.asarray(kind != "clean")
    np.save(where / "planted_kind.npy", np.asarray(kind, dtype=str))
    flagged = ex.flagged.to_numpy()
    disputed = _crowd_disputed(n) if s.data == "tweets" else np.zeros(n, dtype=bool)
    r["flags"] = {
        "flagged": int(flagged.sum()),
        "false_share": float((~problem[flagged]).mean()) if flagged.any() else 0.0,
        "false_share_unanimous": (
            float((~problem & ~disputed)[flagged].mean())
            if flagged.any() and s.data == "tweets"
            else None
        ),
        "caught": float(flagged[problem].mean()) if problem.any() else float("nan"),
        "by_kind": summary["flags"]["by_kind"],
        "withheld": summary["flags"].get("withheld", []),
        "corrupted_or_random": float(ex.verdict.isin(["corrupted", "random_input"]).mean()),
    }
    r["flags"]["spread"] = summary["flags"].get("flagged_share_spread", {})
    r["by_fold"] = _flags_by_fold(ex, problem, disputed)
    r["oracle"] = _oracle_cut(ex, problem)
    if planted is not None and planted.label_errors.any():
        r["suggestion"] = suggestion_quality(ex, planted.label_errors, planted.true_label)
    if relevel is not None:
        r["relevel"] = _relevel(out, summary, relevel, problem, disputed)
    est_problems = n * sum(prev["share"][k] for k in summary["flags"]["by_kind"])
    r["review"] = {"queue": int(flagged.sum()), "estimated_problems": est_problems,
                   "allowed": est_problems + 0.1 * flagged.sum()}  # fmt: skip
    plan = plan_fixes(where, "relabel", use_review=False)
    r["fix_removed_share"] = float((~plan.keep).mean())
    r.update(_against_cleanlab(data, problem, disputed, cfg.training.epochs, cfg.seed)
             if with_cleanlab else {})  # fmt: skip
    truth = planted.label_errors if planted is not None and planted.label_errors.any() else None
    if s.name == "tweets-crowd":
        conf = read_table(TWEETS).column("airline_sentiment_confidence").to_numpy()
        truth = np.asarray(conf, dtype=np.float64) < 0.6
    if truth is not None:
        r["ap"] = _ap(ex, summary, truth, r.get("cleanlab_score"))
    r.pop("cleanlab_score", None)
    return r


def _oracle_cut(ex, problem: np.ndarray, level: float = 0.1) -> dict:
    """The most examples any cut of ``mislabel_score`` flags with at most ``level`` of them
    clean (the planted truth known: what a perfectly calibrated error rate would flag on
    this score), and the share of planted problems that catches: the reference for the flags'
    count."""
    order = np.argsort(-np.nan_to_num(ex.mislabel_score.to_numpy(), nan=-np.inf), kind="stable")
    hits = np.cumsum(problem[ex["index"].to_numpy()[order]])
    ok = np.flatnonzero(hits >= (1.0 - level) * np.arange(1, hits.size + 1))
    k = int(ok[-1] + 1) if ok.size else 0
    caught = float(hits[k - 1] / max(problem.sum(), 1)) if k else 0.0
    return {"level": level, "flagged": k, "caught": caught}


def suggestion_quality(ex, errors: np.ndarray, true_label: np.ndarray, bins: int = 10) -> dict:
    """Over the planted label errors that got a suggested label: how often it is the true one,
    the mean ``suggested_confidence``, and its expected calibration error (the gap between
    confidence and accuracy in ten equal-width bins, weighted by their rows)."""
    index = ex["index"].to_numpy()
    conf = ex.suggested_confidence.to_numpy(np.float64)
    has = errors[index] & np.isfinite(conf)
    right = ex.suggested_label.to_numpy()[has] == true_label[index[has]]
    conf = conf[has]
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = sum(abs(conf[which == b].mean() - right[which == b].mean()) * np.mean(which == b)
              for b in range(bins) if np.any(which == b))  # fmt: skip
    return {"errors": int(has.sum()), "right": float(right.mean()) if has.any() else 0.0,
            "mean_confidence": float(conf.mean()) if has.any() else 0.0, "ece": float(ece)}  # fmt: skip


def _flags_by_fold(ex, problem: np.ndarray, disputed: np.ndarray) -> dict:
    """The flags split by who judged the rows: the main training, or the source fold (the
    former probe sources, ``fold_row`` ≥ 0), each with its realised false share."""
    index = ex["index"].to_numpy()
    fold = ex.fold_row.fillna(-1).to_numpy() >= 0
    flagged = ex.flagged.to_numpy(bool)
    result = {}
    for name, rows in (("main", ~fold), ("source_fold", fold)):
        hit = index[rows & flagged]
        result[name] = {
            "rows": int(rows.sum()),
            "flagged": int(hit.size),
            "false_share": float((~problem[hit]).mean()) if hit.size else 0.0,
            "false_share_unanimous": float((~problem & ~disputed)[hit].mean()) if hit.size else 0.0,
        }  # fmt: skip
    return result


def _relevel(out: Path, summary: dict, level: float, problem: np.ndarray,
             disputed: np.ndarray) -> dict:  # fmt: skip
    """The recorded run flagged again at ``level`` without training (``strat analyze RUN
    --fdr``), beside what the run's summary foretold for that level."""
    where = out.parent / f"{out.name}-fdr{level:g}"
    again = reanalyse(out, where, fdr=level)
    ex = pq.read_table(where / "examples.parquet").to_pandas()
    hit = ex["index"].to_numpy()[ex.flagged.to_numpy(bool)]
    return {
        "level": level,
        "foretold": sum(by.get(level, 0) for by in flagged_at(summary).values()),
        "flagged": int(again["flags"]["flagged"]),
        "false_share": float((~problem[hit]).mean()) if hit.size else 0.0,
        "false_share_unanimous": float((~problem & ~disputed)[hit].mean()) if hit.size else 0.0,
        "caught": float(np.isin(np.flatnonzero(problem), hit).mean()) if problem.any() else None,
    }


def _crowd_disputed(n: int) -> np.ndarray:
    """Tweets whose annotators did not all agree (``airline_sentiment_confidence`` < 1): the
    data's own doubtful labels. A flag on one that nothing was planted in is not known to be
    false, so the tweets' false share is also given counting only unanimous tweets as clean.
    Rows past the file's (planted inserts) are not disputed."""
    conf = read_table(TWEETS).column("airline_sentiment_confidence").to_numpy()
    disputed = np.zeros(n, dtype=bool)
    disputed[: conf.size] = np.asarray(conf, dtype=np.float64)[:n] < 1.0
    return disputed


def _against_cleanlab(
    data: LabelledData, problem: np.ndarray, disputed: np.ndarray, epochs: int, seed: int
) -> dict:
    """cleanlab's estimates from 5-fold cross-validated probabilities of the same MLP."""
    from cleanlab.count import estimate_joint, num_label_issues
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs, cl_wall = cv_probs(data, data.y, epochs, seed)
    cl_score = 1.0 - get_label_quality_scores(data.y, probs)
    cl_issues = find_label_issues(data.y, probs)
    joint = estimate_joint(data.y, probs)
    n = data.n
    cleanlab = {
        "num_label_issues_share": float(num_label_issues(data.y, probs) / n),
        "joint_noise_share": float(1.0 - np.trace(joint)),
        "flagged": int(cl_issues.sum()),
        "precision": float(problem[cl_issues].mean()) if cl_issues.any() else float("nan"),
        "precision_unanimous": (
            float(1.0 - (~problem & ~disputed)[cl_issues].mean())
            if cl_issues.any()
            else float("nan")
        ),
        "recall": float(cl_issues[problem].mean()) if problem.any() else float("nan"),
        "wall_s": cl_wall,
    }
    return {"cleanlab": cleanlab, "cleanlab_score": cl_score}


def _ap(ex, summary: dict, truth: np.ndarray, cl_score: np.ndarray | None) -> dict:
    """AP of ``mislabel_score``, of every classic score (the best named) and of cleanlab's
    against ``truth``."""
    aps = {name: detection_quality(mislabel_direction(name) * ex[name].to_numpy(), truth)["ap"]
           for name in SCORES if name in ex}  # fmt: skip
    best = max(aps, key=lambda k: aps[k])
    return {
        "reference": int(truth.sum()),
        "mislabel_score": detection_quality(ex.mislabel_score.to_numpy(), truth)["ap"],
        "chosen": summary["mislabel_score"]["chosen"],
        "best_classic": best,
        "best_classic_ap": aps[best],
        "classic": aps,
        "cleanlab": detection_quality(cl_score, truth)["ap"] if cl_score is not None else None,
    }


def print_setting(r: dict) -> None:
    print(f"\n### {r['title']} ({r['n']} examples, {r['epochs']} epochs)\n")
    print("| kind | truth | estimated | 95% interval |")
    print("|---|---|---|---|")
    for suite, p in r["prevalence"].items():
        print(f"| {suite} | {p['truth']:.1%} | {p['share']:.1%} | {p['low']:.1%}–{p['high']:.1%} |")
    c = r.get("cleanlab")
    if c:
        print(f"\ncleanlab (5-fold CV, same MLP): num_label_issues "
              f"{c['num_label_issues_share']:.1%}, 1 − trace(estimate_joint) "
              f"{c['joint_noise_share']:.1%}.\n")  # fmt: skip
    f = r["flags"]
    caught = f"{f['caught']:.3f}" if f["caught"] == f["caught"] else "—"
    unanimous = f.get("false_share_unanimous")
    print(f"- flags at fdr 0.1: {f['flagged']} ({f['by_kind']}), realised false share "
          f"{f['false_share']:.3f}"
          + (f" ({unanimous:.3f} counting only unanimous tweets as clean)"
             if unanimous is not None else "")
          + f", planted problems caught {caught}; corrupted or random-input "
          f"verdicts {f['corrupted_or_random']:.2%}"
          + (f"; withheld (probes unlike the data's errors): {f['withheld']}"
             if f.get("withheld") else ""))  # fmt: skip
    spread = {k: f"{lo * r['n']:.0f}–{hi * r['n']:.0f}" for k, (lo, hi) in f["spread"].items()
              if hi > 0}  # fmt: skip
    if "suggestion" in r:
        g = r["suggestion"]
        print(f"- suggested labels on {g['errors']:,} planted errors: {g['right']:.3f} right, "
              f"mean suggested_confidence {g['mean_confidence']:.3f}, expected calibration "
              f"error {g['ece']:.3f}")  # fmt: skip
    o = r["oracle"]
    print(f"- an oracle cut of mislabel_score at {o['level']:g} (truth known) would flag "
          f"{o['flagged']:,}, catching {o['caught']:.3f}")  # fmt: skip
    main, fold = r["by_fold"]["main"], r["by_fold"]["source_fold"]
    print(f"- as the probes are drawn again (10th–90th percentile): {spread or 'none'}; the "
          f"main training's {main['rows']} rows: {main['flagged']} flagged (false "
          f"{main['false_share']:.3f}; unanimous {main['false_share_unanimous']:.3f}), the "
          f"source fold's {fold['rows']}: {fold['flagged']} (false {fold['false_share']:.3f}; "
          f"unanimous {fold['false_share_unanimous']:.3f})")  # fmt: skip
    if c:
        print(f"- cleanlab find_label_issues: {c['flagged']} flagged, precision "
              f"{c['precision']:.3f}"
              + (f" ({c['precision_unanimous']:.3f} unanimous)" if unanimous is not None else "")
              + f", recall {c['recall']:.3f}")  # fmt: skip
    if "ap" in r:
        a = r["ap"]
        print(f"- AP against {a['reference']} references: mislabel_score ({a['chosen']}) "
              f"{a['mislabel_score']:.3f}; best classic ({a['best_classic']}) "
              f"{a['best_classic_ap']:.3f}; cleanlab "
              f"{a['cleanlab'] if a['cleanlab'] is None else round(a['cleanlab'], 3)}")  # fmt: skip
    if "relevel" in r:
        v = r["relevel"]
        caught = "—" if v["caught"] is None else f"{v['caught']:.3f}"
        unanimous = (f" ({v['false_share_unanimous']:.3f} against unanimous tweets)"
                     if r["setting"].startswith("tweets") else "")  # fmt: skip
        print(f"- flagged again at fdr {v['level']:g} without training: {v['flagged']} "
              f"(foretold {v['foretold']}), realised false share {v['false_share']:.3f}"
              f"{unanimous}, planted problems caught {caught}")  # fmt: skip
    q = r["review"]
    print(f"- strat fix --policy relabel removes {r['fix_removed_share']:.2%}; review queue "
          f"{q['queue']} against {q['estimated_problems']:.0f} estimated problems "
          f"(+ allowed false share: {q['allowed']:.0f})")  # fmt: skip
    print(
        f"- unscored rows {r['unscored']}; main training {r['training_s']:.0f} s, source fold "
        f"{r['source_fold_s']:.0f} s ({r['source_fold_s'] / r['training_s']:.0%} more); "
        + ("analysed again in" if r.get("again") else "run wall")
        + f" {r['wall_s']:.0f} s"
        + (f", cleanlab {c['wall_s']:.0f} s" if c else "")
    )


def _share_cell(p: dict) -> str:
    return f"{p['truth']:.1%} / {p['share']:.1%} ({p['low']:.1%}–{p['high']:.1%})"


def status_row(r: dict) -> list[str]:
    """One setting against issue 12's must-show: each planted kind's share (truth / estimate)
    within 2 points, the realised false share at most 0.12, ``strat fix`` removing at most 1%
    where nothing is planted, the review queue within the estimate plus the allowed false share,
    no unscored row. A check mark where it holds, a cross where not."""
    mark = {True: "✓", False: "✗"}
    p, f = r["prevalence"], r["flags"]
    shares_ok = all(abs(v["share"] - v["truth"]) <= 0.02 for v in p.values())
    unanimous = f.get("false_share_unanimous")
    false = f"{f['false_share']:.3f}" + (f" ({unanimous:.3f})" if unanimous is not None else "")
    caught = f"{f['caught']:.3f}" if f["caught"] == f["caught"] else "—"
    withheld = " withheld: " + ", ".join(f["withheld"]) if f.get("withheld") else ""
    a = r.get("ap")
    ap = "—"
    if a:
        ap = f"{a['mislabel_score']:.3f} / {a['best_classic_ap']:.3f}"
        ap += f" / {a['cleanlab']:.3f}" if a.get("cleanlab") is not None else ""
    nothing = all(v["truth"] == 0 for v in p.values())
    fix = f"{r['fix_removed_share']:.2%}" + (
        f" {mark[r['fix_removed_share'] <= 0.01]}" if nothing else "")  # fmt: skip
    q = r["review"]
    return [
        r["setting"], *(_share_cell(v) for v in p.values()), mark[shares_ok],
        f"{f['flagged']:,}{withheld}", f"{false} {mark[f['false_share'] <= 0.12]}",
        f"{caught} ({r['oracle']['flagged']:,}; {r['oracle']['caught']:.3f})", ap,
        fix, f"{q['queue']:,} ≤ {q['allowed']:,.0f} {mark[q['queue'] <= q['allowed']]}",
        f"{r['unscored']} {mark[r['unscored'] == 0]}",
    ]  # fmt: skip


def print_status(results: list[dict]) -> None:
    """The settings measured, one row each, as a Markdown table (:func:`status_row`)."""
    head = ["setting", "label errors: truth / estimate", "corrupted", "random input",
            "shares within 2 points", "flagged at 0.1", "false share (unanimous tweets)",
            "caught (oracle cut: flagged; caught)", "AP mislabel_score / best classic (/ cleanlab)", "fix removes",
            "review queue ≤ allowed", "unscored"]  # fmt: skip
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        print("| " + " | ".join(status_row(r)) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(s.name for s in SETTINGS))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=20_000)
    ap.add_argument("--clean-sampling", default="halves", choices=("extremes", "halves"))
    ap.add_argument("--no-cleanlab", action="store_true", help="skip cleanlab's 5-fold runs")
    ap.add_argument("--relevel", type=float, default=None,
                    help="flag each run again at this level without training")  # fmt: skip
    ap.add_argument("--again", nargs="?", const=OUT / "verdicts", type=Path, default=None,
                    help="analyse each setting's run recorded in this directory again, "
                         "without training (default: benchmarks/out/verdicts)")  # fmt: skip
    args = ap.parse_args()
    wanted = set(args.only.split(","))
    results = []
    for s in SETTINGS:
        if s.name not in wanted:
            continue
        if s.data.startswith("fmnist") and not fashion_mnist_available():
            print(f"skipping {s.name}: Fashion-MNIST is not installed (dataset-fashion-mnist)")
            continue
        if s.data == "tweets" and not TWEETS.is_file():
            print(f"skipping {s.name}: {TWEETS} is absent")
            continue
        r = evaluate(s, args.epochs, args.seed, args.limit, args.clean_sampling,
                     not args.no_cleanlab, args.relevel, args.again)  # fmt: skip
        if r is None:
            continue
        print_setting(r)
        sys.stdout.flush()
        results.append(r)
        (OUT / f"verdicts-{args.clean_sampling}.json").write_text(
            json.dumps(results, indent=1, default=float)
        )
    print_status(results)


if __name__ == "__main__":
    main()
