"""Detection quality side by side: stratigraphy vs cleanlab (5-fold CV) vs the aum package.

Same data, same model (the library's MLP), same epochs and optimiser for every contender:

- stratigraphy: one training run with the probe suites mixed in and the recorder attached;
  MAP-D kNN and the probe-trained classifier's p(mislabeled), ``mislabel_score`` (chosen on
  held-out probes) and every classic score.
- aum: the ``aum`` package's ``AUMCalculator`` fed the logits of that same training loop.
- cleanlab: ``find_label_issues`` and self-confidence label-quality scores from 5-fold
  cross-validated probabilities (five training runs on 4/5 of the data).
- mapd (PyPI): its pins (numpy<2, pyarrow<12, torchvision 0.15) cannot install beside torch 2.x
  and numpy 2, so it is left out; see docs/benchmarks.md.

Scores are compared on the examples that have a trajectory (probe sources are consumed).

    python benchmarks/detect.py [--only fmnist-sym20,tweets-crowd,...] [--epochs 20]
    python benchmarks/detect.py --only mixed        # kinds planted together: confusion matrix
    python benchmarks/detect.py --only seeds        # --seeds 3: stability and averaged AP
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from _common import OUT, fashion_mnist_available
from sklearn.model_selection import StratifiedKFold

from stratigraphy import (
    DynamicsRecorder,
    ProbeConfig,
    RunConfig,
    analyze,
    build_probes,
    detection_quality,
    load_digits_data,
    load_fashion_mnist,
    run,
)
from stratigraphy.data.planting import PlantSpec, plant
from stratigraphy.data.sources import LabelledData
from stratigraphy.data.tables import read_table
from stratigraphy.data.text import embed_texts, load_text_table
from stratigraphy.record.models import make_model
from stratigraphy.record.training import TrainConfig, cosine_lr, train_epoch

TWEETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "airline-tweets" / "Tweets.csv"


@dataclass
class Setting:
    name: str
    data: str
    spec: PlantSpec | None
    epochs: int
    title: str


SETTINGS = [
    Setting("fmnist-sym20", "fmnist", PlantSpec(0.2, "symmetric"), 20, "Fashion-MNIST, 20% symmetric"),
    Setting("fmnist-sym40", "fmnist", PlantSpec(0.4, "symmetric"), 20, "Fashion-MNIST, 40% symmetric"),
    Setting("fmnist-asym20", "fmnist", PlantSpec(0.2, "asymmetric"), 20,
            "Fashion-MNIST, 20% asymmetric (T-shirt↔shirt, pullover↔coat, sneaker↔boot)"),
    Setting("digits-sym20", "digits", PlantSpec(0.2, "symmetric"), 30, "digits, 20% symmetric"),
    Setting("tweets-sym20", "tweets", PlantSpec(0.2, "symmetric"), 20, "airline tweets, 20% symmetric"),
    Setting("tweets-crowd", "tweets", None, 20,
            "airline tweets as they are; reference: crowd agreement < 0.6"),
]  # fmt: skip


def load(name: str) -> LabelledData:
    if name == "fmnist":
        return load_fashion_mnist()
    if name == "digits":
        return load_digits_data()
    texts, y, names = load_text_table(TWEETS, "text", "airline_sentiment")
    return LabelledData(embed_texts(texts), y, names, name="tweets", captions=texts, kind="text")


def train(X: np.ndarray, y: np.ndarray, n_classes: int, epochs: int, seed: int, recorder=None):  # type: ignore[no-untyped-def]
    """The library's own loop (SGD, Nesterov momentum, cosine schedule), as `strat run` trains."""
    cfg = TrainConfig(epochs=epochs, model="mlp", seed=seed)
    torch.manual_seed(seed)
    model = make_model("mlp", X, n_classes)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)  # fmt: skip
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for e in range(epochs):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(cfg.lr, e, epochs)
        train_epoch(model, opt, Xt, yt, cfg.batch_size, seed, e, recorder)
    return model


class AUMTap(DynamicsRecorder):
    """The recorder, also feeding every batch's logits to the aum package's calculator."""

    def __init__(self, n: int, calc) -> None:  # type: ignore[no-untyped-def]
        super().__init__(n)
        self.calc = calc
        self.aum_seconds = 0.0

    def update(self, indices, logits, labels, loss=None) -> None:  # type: ignore[no-untyped-def, override]
        super().update(indices, logits, labels, loss)
        t0 = time.perf_counter()
        self.calc.update(logits.detach(), labels, indices.tolist())
        self.aum_seconds += time.perf_counter() - t0


def stratigraphy_and_aum(data: LabelledData, given: np.ndarray, epochs: int, seed: int):  # type: ignore[no-untyped-def]
    from aum import AUMCalculator

    t0 = time.perf_counter()
    probed = build_probes(data.X, given, data.n_classes, ProbeConfig(seed=seed))
    aum_dir = tempfile.mkdtemp()
    tap = AUMTap(probed.X.shape[0], AUMCalculator(aum_dir, compressed=True))
    train(probed.X, probed.y, data.n_classes, epochs, seed, tap)
    signals = tap.arrays()
    result = analyze(signals, probed, data.class_names, k=20, seed=seed)
    wall = time.perf_counter() - t0 - tap.aum_seconds
    proba = result.engine.suite_proba(signals, probed.y, np.arange(probed.y.size))
    t1 = time.perf_counter()
    tap.calc.finalize()
    table = read_table(Path(aum_dir) / "aum_values.csv")
    aum_rows = np.full(probed.X.shape[0], np.nan)
    aum_rows[table.column("sample_id").to_numpy()] = table.column("aum").to_numpy()
    aum_seconds = tap.aum_seconds + time.perf_counter() - t1
    epochs_over_data = epochs * probed.X.shape[0] / data.n
    return probed, result, proba, aum_rows, wall, aum_seconds, epochs_over_data


def cv_probs(data: LabelledData, given: np.ndarray, epochs: int, seed: int):  # type: ignore[no-untyped-def]
    """5-fold cross-validated class probabilities of the library's MLP, and the seconds."""
    t0 = time.perf_counter()
    probs = np.zeros((data.n, data.n_classes), dtype=np.float32)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for f, (tr, te) in enumerate(folds.split(data.X.reshape(data.n, -1), given)):
        model = train(data.X[tr], given[tr], data.n_classes, epochs, seed + f)
        model.eval()
        with torch.no_grad():
            probs[te] = torch.softmax(model(torch.from_numpy(data.X[te])), 1).numpy()
    return probs, time.perf_counter() - t0


def cleanlab_cv(data: LabelledData, given: np.ndarray, epochs: int, seed: int):  # type: ignore[no-untyped-def]
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs, wall = cv_probs(data, given, epochs, seed)
    quality = get_label_quality_scores(given, probs)
    issues = find_label_issues(given, probs)
    return 1.0 - quality, issues, wall, 5 * epochs * 0.8


def detection_setting(s: Setting, seed: int, epochs: int | None) -> dict:
    epochs = epochs or s.epochs
    data = load(s.data)
    if s.spec is not None:
        s.spec.seed = seed
        planted = plant(data, s.spec)
        given, truth = planted.data.y, planted.label_errors
    else:
        given, truth = data.y, None
    probed, res, proba, aum_rows, wall, aum_s, passes = stratigraphy_and_aum(
        data, given, epochs, seed
    )
    row = probed.example_row
    scored = row >= 0
    r = row[scored]
    ex = res.examples
    scores: dict[str, np.ndarray] = {
        "stratigraphy mislabel_score": ex.column("mislabel_score").to_numpy()[scored],
        "stratigraphy p(mislabeled) kNN": proba["knn"][r, probed.suites.index("mislabeled")],
        "stratigraphy p(mislabeled) classifier": proba["classifier"][r, probed.suites.index("mislabeled")],
    }  # fmt: skip
    for name in ("mean_loss", "aum", "cartography_confidence", "correctness", "forgetting",
                 "el2n", "first_learned", "variability"):  # fmt: skip
        from stratigraphy.analysis.scores import mislabel_direction

        scores[f"stratigraphy {name}"] = (
            mislabel_direction(name) * ex.column(name).to_numpy()[scored]
        )
    scores["aum package (same loop)"] = -aum_rows[r]
    cl_score, cl_issues, cl_wall, cl_passes = cleanlab_cv(data, given, epochs, seed)
    scores["cleanlab 5-fold (self-confidence)"] = cl_score[scored]
    cost = {name: (1, passes, wall) for name in scores}
    cost["aum package (same loop)"] = (1, passes, wall + aum_s)
    cost["cleanlab 5-fold (self-confidence)"] = (5, cl_passes, cl_wall)
    flagged = {
        "stratigraphy (flagged mislabeled)": (np.asarray(ex.column("verdict").to_pylist(), dtype=object) == "mislabeled")[scored],
        "cleanlab find_label_issues": cl_issues[scored],
    }  # fmt: skip
    out: dict = {
        "setting": s.name,
        "title": s.title,
        "epochs": epochs,
        "n_scored": int(scored.sum()),
    }
    if truth is not None:
        t = truth[scored]
        out["planted"] = int(t.sum())
        out["rows"] = {
            name: {**detection_quality(v, t), "runs": cost[name][0], "epochs": cost[name][1], "seconds": cost[name][2]}
            for name, v in scores.items()
        }  # fmt: skip
        out["flagged"] = {
            name: {"flagged": int(m.sum()), "precision": float(t[m].mean()) if m.any() else float("nan"),
                   "recall": float(m[t].mean())}
            for name, m in flagged.items()
        }  # fmt: skip
    else:
        conf = read_table(TWEETS).column("airline_sentiment_confidence").to_numpy()
        c = np.asarray(conf, dtype=np.float64)[scored]
        low = c < 0.6
        out["planted"] = int(low.sum())
        out["rows"] = {
            name: {**detection_quality(v, low), "runs": cost[name][0], "epochs": cost[name][1], "seconds": cost[name][2]}
            for name, v in scores.items()
        }  # fmt: skip
        out["flagged"] = {
            name: {"flagged": int(m.sum()), "agreement_flagged": float(c[m].mean()),
                   "agreement_rest": float(c[~m].mean())}
            for name, m in flagged.items()
        }  # fmt: skip
    return out


def print_setting(r: dict) -> None:
    ref = "agreement < 0.6" if r["setting"] == "tweets-crowd" else "planted label errors"
    print(
        f"\n### {r['title']} ({r['epochs']} epochs; {r['planted']} {ref} among {r['n_scored']} scored)\n"
    )
    print(
        "| method | AUROC | AP | precision@k | recall@k | training runs | epochs over the data | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, q in sorted(r["rows"].items(), key=lambda kv: -kv[1]["ap"]):
        print(
            f"| {name} | {q['auroc']:.3f} | {q['ap']:.3f} | {q['precision_at_k']:.3f} | "
            f"{q['recall_at_k']:.3f} | {q['runs']} | {q['epochs']:.1f} | {q['seconds']:.0f} |"
        )
    print()
    for name, f in r["flagged"].items():
        if "precision" in f:
            print(
                f"- {name}: flags {f['flagged']}, precision {f['precision']:.3f}, recall {f['recall']:.3f}"
            )
        else:
            print(
                f"- {name}: flags {f['flagged']}; mean crowd agreement {f['agreement_flagged']:.3f} "
                f"flagged vs {f['agreement_rest']:.3f} for the rest"
            )


def mixed(seed: int, epochs: int) -> dict:
    out = Path(tempfile.mkdtemp()) / "mixed"
    cfg = RunConfig.build(out, source="fashion-mnist", model="mlp", epochs=epochs, seed=seed,
                    noise_rate=0.1, corrupt_rate=0.05, ood_rate=0.05)  # fmt: skip
    res = run(cfg)
    p = res.summary["planted"]
    print(
        f"\n### Fashion-MNIST, 10% mislabeled + 5% corrupted + 5% out-of-distribution inserts "
        f"(digits), {epochs} epochs\n"
    )
    print(
        "| planted \\ inferred | "
        + " | ".join(c.replace("random_input", "random_input (OOD)") for c in p["columns"])
        + " |"
    )
    print("|---|" + "---|" * len(p["columns"]))
    for kind, shares, counts in zip(p["rows"], p["shares"], p["counts"], strict=True):
        cells = " | ".join(f"{s:.2f} ({c})" for s, c in zip(shares, counts, strict=True))
        print(f"| {kind} | {cells} |")
    print("\ndiagonal: " + ", ".join(f"{k} {v:.3f}" for k, v in p["diagonal"].items()))
    return {"setting": "mixed", "planted": p, "heldout": res.summary["inference"]["heldout"]}


def seeds(seed: int, epochs: int, n_seeds: int = 3) -> dict:
    out = Path(tempfile.mkdtemp()) / "seeds"
    cfg = RunConfig.build(out, source="fashion-mnist", model="mlp", epochs=epochs, seed=seed,
                    noise_rate=0.2, seeds=n_seeds)  # fmt: skip
    res = run(cfg)
    st = res.summary["seeds"]
    print(f"\n### --seeds {n_seeds}: Fashion-MNIST, 20% symmetric, {epochs} epochs\n")
    print(
        f"- same verdict in all {n_seeds} seeds: {st['same_verdict_count']} of {st['scored']} "
        f"({st['same_verdict_share']:.3f})"
    )
    print(
        f"- mislabel_score AP per single seed: {', '.join(f'{a:.4f}' for a in st['ap_single'])}; "
        f"averaged trajectories: {st['ap_averaged']:.4f}"
    )
    return {"setting": "seeds", **st}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None, help="comma-separated setting names, mixed, seeds")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    wanted = a.only.split(",") if a.only else [s.name for s in SETTINGS] + ["mixed", "seeds"]
    if not fashion_mnist_available():
        wanted = [w for w in wanted if "fmnist" not in w and w not in ("mixed", "seeds")]
        print("Fashion-MNIST absent: its settings are skipped.", file=sys.stderr)
    if not TWEETS.is_file():
        wanted = [w for w in wanted if not w.startswith("tweets")]
        print(f"{TWEETS} absent: tweet settings are skipped.", file=sys.stderr)
    results = []
    for s in SETTINGS:
        if s.name in wanted:
            r = detection_setting(s, a.seed, a.epochs)
            print_setting(r)
            results.append(r)
            sys.stdout.flush()
    if "mixed" in wanted:
        results.append(mixed(a.seed, a.epochs or 20))
    if "seeds" in wanted:
        results.append(seeds(a.seed, a.epochs or 20))
    OUT.mkdir(exist_ok=True)
    (OUT / f"detect_{a.only or 'all'}.json").write_text(
        json.dumps(results, indent=1, default=float)
    )


if __name__ == "__main__":
    main()
