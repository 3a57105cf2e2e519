"""`strat run` on the embedded default, three seeds: wall time and planted errors in the top k.

python benchmarks/digits_default.py
"""

from __future__ import annotations

from _common import OUT, strat

rows = []
for seed in (0, 1, 2):
    wall, s = strat(["digits", "--seed", str(seed)], OUT / f"digits-seed{seed}")
    q = s["detection"]["scores"]["mislabel_score"]
    rows.append(
        (
            seed,
            wall,
            s["detection"]["planted_scored"],
            q["precision_at_k"],
            q["auroc"],
            q["ap"],
            s["mislabel_score"]["chosen"],
        )
    )

print(
    "| seed | wall s (whole CLI) | planted (scored) | share in top k | AUROC | AP | mislabel_score |"
)
print("|---|---|---|---|---|---|---|")
for seed, wall, n, p, auroc, ap, chosen in rows:
    print(f"| {seed} | {wall:.1f} | {n} | {p:.3f} | {auroc:.4f} | {ap:.4f} | {chosen} |")
