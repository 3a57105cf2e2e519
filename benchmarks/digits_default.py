"""`strat run` on the embedded default, three seeds: wall time, planted errors in the top k, and
the answer a newcomer reads (the estimated share of label errors, of corrupted and random
inputs, of which none are planted, and the flags at 0.1).

python benchmarks/digits_default.py
"""

from __future__ import annotations

import pyarrow.parquet as pq
from _common import OUT, strat

rows = []
for seed in (0, 1, 2):
    out = OUT / f"digits-seed{seed}"
    wall, s = strat(["digits", "--seed", str(seed)], out)
    q = s["detection"]["scores"]["mislabel_score"]
    prev = s["prevalence"]
    share = tuple(100 * prev[k]["mislabeled"] for k in ("share", "low", "high"))
    absent = tuple(100 * prev["share"][k] for k in ("corrupted", "random_input"))
    ex = pq.read_table(out / "examples.parquet", columns=["flagged", "planted_error"]).to_pandas()
    flagged = ex.flagged.to_numpy(bool)
    false = float((~ex.planted_error.to_numpy(bool)[flagged]).mean()) if flagged.any() else 0.0
    rows.append(
        (
            seed,
            wall,
            s["detection"]["planted_scored"],
            q["precision_at_k"],
            q["auroc"],
            q["ap"],
            s["mislabel_score"]["chosen"],
            share,
            absent,
            int(flagged.sum()),
            false,
        )
    )

print(
    "| seed | wall s (whole CLI) | planted (scored) | share in top k | AUROC | AP | mislabel_score "
    "| mislabeled share (95% interval) | corrupted / random input | flagged (false share) |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
for seed, wall, n, p, auroc, ap, chosen, (sh, lo, hi), (cor, rnd), k, false in rows:
    print(
        f"| {seed} | {wall:.1f} | {n} | {p:.3f} | {auroc:.4f} | {ap:.4f} | {chosen} "
        f"| {sh:.1f}% ({lo:.1f}–{hi:.1f}) | {cor:.1f} / {rnd:.1f}% | {k} ({false:.3f}) |"
    )
