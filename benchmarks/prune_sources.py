"""The former probe sources in ``strat prune``: ranked by the source fold's scores mapped onto
the main training's scale, against their raw fold scores.

For each run directory and pruning score it prints the map's quartiles (the fold's value →
the main training's, over the examples both trainings learned from) and, at ``--keep``, how
many of the former sources the pruned set keeps with the mapped scores and with the raw ones.
Before the map, ``strat prune`` left every former source out.

    python benchmarks/prune_sources.py RUN [RUN ...] [--keep 0.5]
"""

from __future__ import annotations

import argparse

import numpy as np

from stratigraphy.curate.prune_by import prune_scores
from stratigraphy.curate.pruning import ranked_scores, select_keep
from stratigraphy.rundir.view import RunView

ap = argparse.ArgumentParser()
ap.add_argument("runs", nargs="+")
ap.add_argument("--keep", type=float, default=0.5)
a = ap.parse_args()

print("| run | score | fold → main at the 25th / 50th / 75th percentile | sources | kept, mapped | "
      "kept, raw |")  # fmt: skip
print("|---|---|---|---|---|---|")
for run_dir in a.runs:
    view = RunView.open(run_dir)
    ex, summary = view.examples, view.summary
    labels = ex["label"].astype(np.int64)
    sources = ex["row"] < 0
    scales = summary.get("source_fold", {}).get("scales", {})
    for by in prune_scores():
        if by not in scales:
            continue
        mapped, unranked = ranked_scores(ex, summary, by)
        raw = {k: np.asarray(ex[k], dtype=np.float64) for k in mapped}
        kept = [select_keep(s, labels, a.keep, by, drop=unranked) for s in (mapped, raw)]
        own, main = scales[by]["own"], scales[by]["target"]
        quartiles = " / ".join(f"{own[q]:.2f} → {main[q]:.2f}" for q in (25, 50, 75))
        print(f"| {run_dir} | {by} | {quartiles} | {int(sources.sum()):,} | "
              f"{int(sources[kept[0]].sum()):,} | {int(sources[kept[1]].sum()):,} |")  # fmt: skip
