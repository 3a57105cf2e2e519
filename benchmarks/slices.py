"""Weak slices: a planted weak slice must rank first among all slices.

python benchmarks/slices.py [--epochs 15] [--limit 20000]

Two runs of the main job (MLP) on the first ``--limit`` Fashion-MNIST images, 10% symmetric
label noise everywhere: (a) four random groups given with ``--groups``, one of which ("east")
gets another 30% of its labels flipped; (b) one class (Coat) whose inputs are made harder to
tell from its neighbours: each Coat image blended half-and-half with a random Pullover or
Shirt image. Reported: the rank of the planted slice, its accuracy against the data's, and the
next slice.
"""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
from _common import OUT, fashion_mnist_available

from stratigraphy import LabelledData, RunConfig, load_fashion_mnist, run


def _run(name: str, data: LabelledData, epochs: int, groups: np.ndarray | None) -> list[dict]:
    out = OUT / "slices" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    options: dict = {"model": "mlp", "epochs": epochs, "noise_rate": 0.1}
    if groups is not None:
        np.save(out.parent / f"{name}-groups.npy", groups)
        options["groups"] = str(out.parent / f"{name}-groups.npy")
    run(RunConfig.build(out, **options), data=data)
    return pq.read_table(out / "slices.parquet").to_pylist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--limit", type=int, default=20_000)
    args = ap.parse_args()
    if not fashion_mnist_available():
        print("skipping: Fashion-MNIST is not installed")
        return
    d = load_fashion_mnist()
    X, y, names = d.X[: args.limit].copy(), d.y[: args.limit].copy(), d.class_names
    rng = np.random.default_rng(0)
    groups = rng.choice(["north", "south", "east", "west"], y.size)
    noisy = (groups == "east") & (rng.random(y.size) < 0.3)
    y_group = y.copy()
    y_group[noisy] = (y_group[noisy] + rng.integers(1, 10, noisy.sum())) % 10
    coat, look_alike = names.index("Coat"), [names.index("Pullover"), names.index("Shirt")]
    X_class = X.copy()
    members = np.flatnonzero(y == coat)
    partners = rng.choice(np.flatnonzero(np.isin(y, look_alike)), members.size)
    X_class[members] = 0.5 * X[members] + 0.5 * X[partners]
    results = {}
    for name, data, g, planted in (
        ("group-noise", LabelledData(X, y_group, names, name=d.name), groups, ("group", "east")),
        ("hard-class", LabelledData(X_class, y, names, name=d.name), None, ("class", "Coat")),
    ):
        rows = _run(name, data, args.epochs, g)
        hit = next(r for r in rows if (r["slice"], r["name"]) == planted)
        other = next(r for r in rows if (r["slice"], r["name"]) != planted)
        results[name] = {"planted": f"{planted[0]} {planted[1]}", "rank": hit["rank"],
                         "slices": len(rows), "accuracy": hit["accuracy"],
                         "accuracy_gap": hit["accuracy_gap"],
                         "calibration_error": hit["calibration_error"],
                         "flagged_share": hit["flagged_share"],
                         "next": f"{other['slice']} {other['name']}",
                         "next_gap": other["accuracy_gap"]}  # fmt: skip
    print(json.dumps(results, indent=1))
    print("\n| planted weak slice | rank | slices | accuracy | below overall | calibration error | "
          "flagged | next slice (below overall) |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in results.values():
        print(f"| {r['planted']} | {r['rank']} | {r['slices']} | {r['accuracy']:.3f} | "
              f"{r['accuracy_gap']:+.3f} | {r['calibration_error']:.3f} | "
              f"{r['flagged_share']:.3f} | {r['next']} ({r['next_gap']:+.3f}) |")  # fmt: skip


if __name__ == "__main__":
    main()
