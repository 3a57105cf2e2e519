"""Held-out probe accuracy per suite: digits (10% noise) and Fashion-MNIST (20% symmetric noise).

python benchmarks/probe_accuracy.py [--fashion-epochs 15]
"""

from __future__ import annotations

import argparse

from _common import OUT, fashion_mnist_available, strat

parser = argparse.ArgumentParser()
parser.add_argument("--fashion-epochs", type=int, default=15)
args = parser.parse_args()

settings = [("digits (10% sym.)", ["digits"])]
if fashion_mnist_available():
    settings.append(
        (
            "Fashion-MNIST (20% sym.)",
            ["fashion-mnist", "--noise-rate", "0.2", "--epochs", str(args.fashion_epochs)],
        )
    )
else:
    print("Fashion-MNIST idx files not found: apt-get install dataset-fashion-mnist")

for name, cli in settings:
    wall, s = strat(cli, OUT / ("probe-acc-" + cli[0]))
    inf = s["inference"]
    print(f"\n### {name}: chosen inferer `{inf['method']}`, wall {wall:.0f} s\n")
    methods = list(inf["heldout"])
    print("| suite | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for suite in [*inf["suites"], "overall"]:
        vals = [
            inf["heldout"][m]["accuracy"]
            if suite == "overall"
            else inf["heldout"][m]["per_suite"][suite]
            for m in methods
        ]
        print(f"| {suite} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    best = inf["heldout"][inf["method"]]
    print("\nConfusion matrix of the chosen inferer (rows: true suite, columns: inferred):\n")
    print("| | " + " | ".join(inf["suites"]) + " |")
    print("|---|" + "---|" * len(inf["suites"]))
    for suite, row in zip(inf["suites"], best["confusion"], strict=True):
        print(f"| {suite} | " + " | ".join(map(str, row)) + " |")
    det = s["detection"]
    q = det["scores"]["mislabel_score"]
    print(
        f"\nmislabel_score = `{s['mislabel_score']['chosen']}`: AUROC {q['auroc']:.3f}, "
        f"AP {q['ap']:.3f}, precision@k {q['precision_at_k']:.3f} (k = {q['k']}); "
        f"counts {s['counts']}"
    )
