"""Near-duplicates and train/test leaks, planted in Fashion-MNIST and the airline tweets, found by
`strat run --test` against cleanlab's Datalab `near_duplicate` on the same representations.

python benchmarks/issues.py [--epochs 10] [--only fmnist,tweets]

Planted near-duplicates: augmented copies appended to the training data (images: a shift of
one pixel and Gaussian noise σ 0.02; texts: light paraphrase-like edits — case, punctuation, one
word dropped or two swapped). Planted leaks: augmented copies of training examples put into the
held-out set beside ordinary held-out examples. Scored on the planted members: recall (both the
source and its copy flagged), and precision counting as right the planted members and examples
byte-identical to another (natural exact duplicates); the rest of the flagged are reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from _common import OUT, fashion_mnist_available
from detect import TWEETS

from stratigraphy.data.tables import read_table

ROOT = Path(__file__).resolve().parents[1]
REUSE = "--reuse" in sys.argv  # evaluate runs already in benchmarks/out instead of retraining


def strat(args: list[str], out: Path) -> float:
    if REUSE and (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text())["timings"]["total_s"]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stratigraphy", "run", *args, "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0


def augment_images(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shifted = np.roll(X, shift=rng.choice([-1, 1], size=2).tolist(), axis=(2, 3))
    return np.clip(shifted + rng.normal(0, 0.02, X.shape), 0, 1).astype(np.float32)


def edit_text(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    choice = rng.integers(4)
    if choice == 0:
        return text.lower() if text != text.lower() else text.upper()
    if choice == 1:
        return re.sub(r"[!?.,]+", "", text) if re.search(r"[!?.,]", text) else text + "!"
    if choice == 2 and len(words) > 4:
        del words[rng.integers(1, len(words))]
        return " ".join(words)
    if len(words) > 3:
        i = rng.integers(1, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words) + ("" if len(words) > 3 else " .")


def score(flagged: np.ndarray, truth: np.ndarray, exact: np.ndarray, copy: np.ndarray) -> dict:
    """Recall of the planted members; precision strict (planted or byte-identical) and judged
    (also right: the partner is a near copy in input space, a natural near-duplicate)."""
    flagged = np.asarray(flagged, dtype=bool)
    return {
        "flagged": int(flagged.sum()),
        "recall": float((flagged & truth).sum() / truth.sum()),
        "precision": float((flagged & (truth | exact)).sum() / max(flagged.sum(), 1)),
        "judged_precision": float((flagged & (truth | exact | copy)).sum() / max(flagged.sum(), 1)),
        "other_flagged": int((flagged & ~truth & ~exact & ~copy).sum()),
    }


def _tokens(text: str) -> set[str]:
    return set(re.sub(r"http\S+|[^\w@ ]", " ", text.lower()).split())


def near_copy(inputs: np.ndarray, partner: np.ndarray, others: np.ndarray | None = None
              ) -> np.ndarray:  # fmt: skip
    """Whether each example's partner (a row of ``others``, default ``inputs``) is a near copy in
    input space: images within an RMSE of 0.05 after the best one-pixel shift; texts sharing
    ≥ 60% of their words (lower case, URLs and punctuation removed)."""
    others = inputs if others is None else others
    has = partner >= 0
    out = np.zeros(partner.size, dtype=bool)
    rows = np.flatnonzero(has)
    if inputs.dtype == object:
        out[rows] = [len((a := _tokens(inputs[i])) & (b := _tokens(others[partner[i]])))
                     / max(len(a | b), 1) >= 0.6 for i in rows]  # fmt: skip
        return out
    a, b = inputs[rows], others[partner[rows]]
    best = np.full(rows.size, np.inf)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = np.roll(b, (dy, dx), axis=(2, 3))
            best = np.minimum(best, np.sqrt(((a - shifted) ** 2).mean(axis=(1, 2, 3))))
    out[rows] = best <= 0.05
    return out


def exact_members(inputs: np.ndarray) -> np.ndarray:
    from stratigraphy.issues.duplicates import exact_groups

    groups = exact_groups(inputs)
    return np.bincount(groups)[groups] > 1


def datalab(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Datalab's near_duplicate flags, each example's first set partner, and the seconds."""
    from cleanlab import Datalab

    t0 = time.perf_counter()
    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    lab.find_issues(features=features.astype(np.float32), issue_types={"near_duplicate": {}})
    issues = lab.get_issues("near_duplicate")
    wall = time.perf_counter() - t0
    partner = np.array([s[0] if len(s) else -1 for s in issues["near_duplicate_sets"]])
    return issues["is_near_duplicate_issue"].to_numpy(), partner, wall


def evaluate(name: str, run_dir: Path, truth: np.ndarray, inputs: np.ndarray,
             leak_truth: set[int], wall: float, test_inputs: np.ndarray) -> dict:  # fmt: skip
    ex = pq.read_table(run_dir / "examples.parquet").to_pydict()
    summary = json.loads((run_dir / "summary.json").read_text())
    feats = np.load(run_dir / "representations.npy").astype(np.float32)
    codes = (
        np.unique(inputs.astype(str), return_inverse=True)[1] if inputs.dtype == object else inputs
    )
    exact = exact_members(codes.reshape(codes.shape[0], -1))
    partner = np.asarray(ex["duplicate_of"])
    ours = score(np.asarray(ex["is_near_duplicate"]), truth, exact, near_copy(inputs, partner))
    dl_flags, dl_partner, dl_wall = datalab(feats, np.asarray(ex["label"]))
    theirs = score(dl_flags, truth, exact, near_copy(inputs, dl_partner))
    leak_table = pq.read_table(run_dir / "leaks.parquet")
    leaks = set(leak_table.column("test_index").to_pylist())
    test_idx = leak_table.column("test_index").to_numpy()
    natural = near_copy(test_inputs[test_idx], leak_table.column("train_index").to_numpy(), inputs)
    planted_leak = np.isin(test_idx, list(leak_truth))
    judged_leaks = int(planted_leak.sum() + (natural & ~planted_leak).sum())
    found = summary["issues"]["near_duplicate"]
    return {
        "data": name, "n": int(truth.size), "planted": int(truth.sum()), "ours": ours,
        "datalab": theirs, "datalab_s": dl_wall, "issues_s": summary["timings"]["issues_s"],
        "run_s": wall, "leak_recall": len(leaks & leak_truth) / len(leak_truth),
        "leak_precision": len(leaks & leak_truth) / max(len(leaks), 1), "leaks": len(leaks),
        "leak_judged_precision": judged_leaks / max(len(leaks), 1),
        "planted_leaks": len(leak_truth), "exact_in_data": int(exact.sum()),
        "sets": found["sets"], "conflicting_sets": found["conflicting_sets"],
    }  # fmt: skip


def fmnist(epochs: int, rng: np.random.Generator) -> dict:
    from stratigraphy import load_fashion_mnist

    train, test = load_fashion_mnist(split="train"), load_fashion_mnist(split="test")
    src = rng.choice(train.n, 600, replace=False)
    X = np.concatenate([train.X, augment_images(train.X[src], rng)])
    y = np.concatenate([train.y, train.y[src]])
    truth = np.zeros(X.shape[0], dtype=bool)
    truth[src] = truth[train.n :] = True
    leak_src = rng.choice(np.setdiff1d(np.arange(train.n), src), 200, replace=False)
    X_test = np.concatenate([test.X[:2000], augment_images(train.X[leak_src], rng)])
    y_test = np.concatenate([test.y[:2000], train.y[leak_src]])
    d = OUT / "issues-fmnist"
    d.mkdir(parents=True, exist_ok=True)
    np.savez(d / "train.npz", X=X, y=y, class_names=train.class_names)
    np.savez(d / "test.npz", X=X_test, y=y_test, class_names=train.class_names)
    run_dir = d / "run"
    wall = strat([str(d / "train.npz"), "--test", str(d / "test.npz"), "--epochs", str(epochs)],
                 run_dir)  # fmt: skip
    return evaluate("Fashion-MNIST", run_dir, truth, X, set(range(2000, 2200)), wall, X_test)


def tweets(epochs: int, rng: np.random.Generator) -> dict:
    table = read_table(TWEETS)
    texts = [str(t) for t in table.column("text").to_pylist()]
    labels = [str(t) for t in table.column("airline_sentiment").to_pylist()]
    order = rng.permutation(len(texts))
    held, train = order[:1000], order[1000:]
    src = rng.choice(train, 150, replace=False)
    leak_src = rng.choice(np.setdiff1d(train, src), 100, replace=False)
    rows_train = [(texts[i], labels[i]) for i in train]
    rows_train += [(edit_text(texts[i], rng), labels[i]) for i in src]
    rows_test = [(texts[i], labels[i]) for i in held[:500]]
    rows_test += [(edit_text(texts[i], rng), labels[i]) for i in leak_src]
    d = OUT / "issues-tweets"
    d.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.csv", rows_train), ("test.csv", rows_test)):
        with open(d / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "airline_sentiment"])
            w.writerows(rows)
    truth = np.zeros(len(rows_train), dtype=bool)
    position = {int(i): k for k, i in enumerate(train)}
    truth[[position[int(i)] for i in src]] = True
    truth[len(train) :] = True
    run_dir = d / "run"
    wall = strat([str(d / "train.csv"), "--text-column", "text", "--label-column",
                  "airline_sentiment", "--test", str(d / "test.csv"), "--epochs", str(epochs)],
                 run_dir)  # fmt: skip
    inputs = np.array([t for t, _ in rows_train], dtype=object)
    test_inputs = np.array([t for t, _ in rows_test], dtype=object)
    result = evaluate("airline tweets", run_dir, truth, inputs, set(range(500, 600)), wall,
                      test_inputs)  # fmt: skip
    result["sweep"] = sweep(run_dir, truth, inputs)
    return result


def sweep(run_dir: Path, truth: np.ndarray, inputs: np.ndarray) -> list[dict]:
    """Recall and judged precision at other relative thresholds, from the saved representations."""
    from stratigraphy.issues.duplicates import find_duplicates
    from stratigraphy.issues.registry import IssueContext

    feats = np.load(run_dir / "representations.npy").astype(np.float32)
    labels = np.asarray(pq.read_table(run_dir / "examples.parquet").column("label"))
    codes = np.unique(inputs.astype(str), return_inverse=True)[1].reshape(-1, 1)
    exact = exact_members(codes)
    out = []
    for space, texts in (("sentence embeddings", None), ("character 3-grams", list(inputs))):
        for r in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3):
            ctx = IssueContext(feats, labels, [], texts=texts)
            cols = find_duplicates(ctx, relative=r).columns
            partner = near_copy(inputs, cols["duplicate_of"])
            out.append({"space": space, "relative": r,
                        **score(cols["is_near_duplicate"], truth, exact, partner)})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--only", default="fmnist,tweets")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs, no training")
    args = ap.parse_args()
    # One stream per data set, so --only gives the same planted data as a full run.
    results = []
    if "fmnist" in args.only and fashion_mnist_available():
        results.append(fmnist(args.epochs, np.random.default_rng(0)))
    if "tweets" in args.only and TWEETS.is_file():
        results.append(tweets(args.epochs, np.random.default_rng(1)))
    print("| data | examples | planted members | method | recall | precision (strict) | "
          "precision (judged) | flagged | unexplained | leaks found / planted | leak precision "
          "(strict / judged) | detection s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for method, q, secs in (("stratigraphy", r["ours"], r["issues_s"]),
                                ("Datalab near_duplicate", r["datalab"], r["datalab_s"])):  # fmt: skip
            leak = (f"{round(r['leak_recall'] * r['planted_leaks'])}/{r['planted_leaks']} | "
                    f"{r['leak_precision']:.3f} / {r['leak_judged_precision']:.3f}"
                    ) if method == "stratigraphy" else "— | —"  # fmt: skip
            print(f"| {r['data']} | {r['n']:,} | {r['planted']} | {method} | {q['recall']:.3f} | "
                  f"{q['precision']:.3f} | {q['judged_precision']:.3f} | {q['flagged']} | "
                  f"{q['other_flagged']} | {leak} | {secs:.1f} |")  # fmt: skip
    for r in results:
        for q in r.get("sweep", []):
            print(f"{r['data']}, {q['space']}: relative threshold {q['relative']}: "
                  f"recall {q['recall']:.3f}, "
                  f"judged precision {q['judged_precision']:.3f}, flagged {q['flagged']}")  # fmt: skip
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
