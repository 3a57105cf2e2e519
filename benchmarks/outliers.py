"""Outliers among the real examples: planted out-of-distribution inserts found by the
representation-space outlier score, by the random-input probes alone, by their rank average,
and by cleanlab's Datalab ``outlier`` issue on the same recorded representations.

python benchmarks/outliers.py [--epochs 15] [--limit 20000] [--only fmnist-ood,fmnist-mix,tweets-ood]

Each setting is the main job (``run()``, MLP) on planted data: ``ood`` inserts 3% foreign
inputs (Fashion-MNIST: scikit-learn digits resized; tweets: strings of random letters) under
random labels; ``mix`` is 10% mislabeled + 5% corrupted + 3% foreign together. Reported per
score: AUROC and AP against the inserts (consumed probe sources are left out of the probes'
posterior: they have none); for the flags (``is_outlier``, Datalab's
``is_outlier_issue``), how many were raised, precision and recall.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from _common import OUT, fashion_mnist_available
from detect import TWEETS
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

from stratigraphy import LabelledData, RunConfig, load_fashion_mnist, run
from stratigraphy.analysis.engine import AnalysisEngine
from stratigraphy.analysis.sources import ArraySource
from stratigraphy.issues.run import REPRESENTATIONS
from stratigraphy.probes.build import build_probes
from stratigraphy.record.store import DynamicsStore

SETTINGS = {
    "fmnist-ood": ("fmnist", {"ood_rate": 0.03}),
    "fmnist-mix": ("fmnist", {"noise_rate": 0.1, "corrupt_rate": 0.05, "ood_rate": 0.03}),
    "tweets-ood": ("tweets", {"ood_rate": 0.03}),
}


def datalab_outliers(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                         float]:  # fmt: skip
    """Datalab's outlier score (higher: more outlying, for AUROC) and flags, and the seconds."""
    from cleanlab import Datalab

    t0 = time.perf_counter()
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    lab.find_issues(features=features.astype(np.float32), issue_types={"outlier": {}})
    issues = lab.get_issues("outlier")
    wall = time.perf_counter() - t0
    return 1.0 - issues["outlier_score"].to_numpy(), issues["is_outlier_issue"].to_numpy(), wall


def raw_random_input(cfg: RunConfig, source: LabelledData | None) -> np.ndarray:
    """The inferer's random-input posterior before the prior adjustment (which zeroes a kind the
    prevalence estimate calls absent), per original example; NaN for consumed probe sources."""
    data = source if source is not None else cfg.data.load_source(None)
    planted = cfg.data.planted(data)
    data = planted.data if planted is not None else data
    probed = build_probes(data.X, data.y, data.n_classes, cfg.probes)
    signals = DynamicsStore(Path(cfg.out) / "dynamics").read_all()
    engine = AnalysisEngine(cfg.inference).fit(ArraySource(signals), probed)
    proba = engine.suite_proba(signals, probed.y, np.arange(probed.y.size))[engine.method_]
    column = proba[:, engine.suites_.index("random_input")]
    rows = probed.example_row
    return np.where(rows >= 0, column[np.maximum(rows, 0)], np.nan)


def quality(score: np.ndarray, truth: np.ndarray) -> dict:
    score = np.asarray(score, dtype=np.float64)
    scored = np.isfinite(score)
    return {"auroc": float(roc_auc_score(truth[scored], score[scored])),
            "ap": float(average_precision_score(truth[scored], score[scored]))}  # fmt: skip


def flags(flagged: np.ndarray, truth: np.ndarray) -> dict:
    flagged = np.asarray(flagged, dtype=bool)
    return {"flagged": int(flagged.sum()),
            "precision": float(truth[flagged].mean()) if flagged.any() else float("nan"),
            "recall": float(flagged[truth].mean())}  # fmt: skip


def evaluate(name: str, epochs: int, limit: int) -> dict:
    data_name, plant = SETTINGS[name]
    out = OUT / "outliers" / name
    shutil.rmtree(out, ignore_errors=True)
    options: dict = {**plant, "model": "mlp", "epochs": epochs}
    source = None
    if data_name == "tweets":
        options.update(source=str(TWEETS), text_column="text", label_column="airline_sentiment")
    else:
        d = load_fashion_mnist()
        source = LabelledData(d.X[:limit], d.y[:limit], d.class_names, name=d.name)
        options.update(source="fashion-mnist")
    cfg = RunConfig.build(out, **options)
    t0 = time.perf_counter()
    res = run(cfg, data=source)
    wall = time.perf_counter() - t0
    ex = res.examples.to_pandas().sort_values("index")
    truth = (ex.planted == "out_of_distribution").to_numpy()
    ours, probes = ex.outlier_score.to_numpy(), raw_random_input(cfg, source)
    both = rankdata(np.nan_to_num(ours, nan=-np.inf)) + rankdata(np.nan_to_num(probes, nan=-1))
    feats = np.load(out / REPRESENTATIONS).astype(np.float32)
    dl_score, dl_flag, dl_wall = datalab_outliers(feats, ex.label.to_numpy())
    return {
        "setting": name, "n": int(truth.size), "inserted": int(truth.sum()), "run_s": wall,
        "outlier_s": res.summary["timings"].get("issues_s"),
        "scores": {"outlier_score": quality(ours, truth),
                   "random-input probes (posterior before prior adjustment)":
                       quality(probes, truth),
                   "p_random_input (after the prevalence estimate)":
                       quality(ex.p_random_input.to_numpy(), truth),
                   "rank average of both": quality(both, truth),
                   "Datalab outlier": quality(dl_score, truth)},
        "flags": {"is_outlier": flags(ex.is_outlier.to_numpy(), truth),
                  "verdict random_input": flags((ex.verdict == "random_input").to_numpy(), truth),
                  "Datalab is_outlier_issue": flags(dl_flag, truth)},
        "datalab_s": dl_wall,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--limit", type=int, default=20_000)
    ap.add_argument("--only", default=",".join(SETTINGS))
    args = ap.parse_args()
    results = []
    for name in args.only.split(","):
        if name.startswith("fmnist") and not fashion_mnist_available():
            print(f"skipping {name}: Fashion-MNIST is not installed")
            continue
        if name.startswith("tweets") and not TWEETS.is_file():
            print(f"skipping {name}: {TWEETS} is absent")
            continue
        results.append(evaluate(name, args.epochs, args.limit))
    print(json.dumps(results, indent=1))
    print("\n| setting | examples | inserted | score | AUROC | AP |\n|---|---|---|---|---|---|")
    for r in results:
        for score, q in r["scores"].items():
            print(f"| {r['setting']} | {r['n']:,} | {r['inserted']} | {score} | "
                  f"{q['auroc']:.3f} | {q['ap']:.3f} |")  # fmt: skip
    print("\n| setting | flags | flagged | precision | recall |\n|---|---|---|---|---|")
    for r in results:
        for what, q in r["flags"].items():
            print(f"| {r['setting']} | {what} | {q['flagged']} | {q['precision']:.3f} | "
                  f"{q['recall']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
