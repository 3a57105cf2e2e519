"""Compare two run directories column by column: examples.parquet and summary.json (timings
aside). Used to show that a refactor keeps a run's outputs.

python benchmarks/compare_runs.py RUN_A RUN_B
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def compare_examples(a_dir: str, b_dir: str) -> list[str]:
    a = pq.read_table(f"{a_dir}/examples.parquet")
    b = pq.read_table(f"{b_dir}/examples.parquet")
    lines = [f"rows {a.num_rows} / {b.num_rows}; same columns in the same order: "
             f"{a.schema.names == b.schema.names}"]  # fmt: skip
    for name in a.schema.names:
        if name not in b.schema.names:
            lines.append(f"  {name}: only in {a_dir}")
            continue
        x = a.column(name).to_numpy(zero_copy_only=False)
        y = b.column(name).to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            differ = ~((x == y) | (np.isnan(x) & np.isnan(y)))
        else:
            differ = np.array([p != q for p, q in zip(x.tolist(), y.tolist(), strict=True)])
        if differ.any() or x.dtype != y.dtype:
            lines.append(f"  {name}: {int(differ.sum())} rows differ ({x.dtype} / {y.dtype})")
    lines += [f"  {n}: only in {b_dir}" for n in b.schema.names if n not in a.schema.names]
    return lines


def compare_summaries(a_dir: str, b_dir: str) -> list[str]:
    sa = json.loads(Path(a_dir, "summary.json").read_text())
    sb = json.loads(Path(b_dir, "summary.json").read_text())
    lines = []
    for key in sorted((set(sa) | set(sb)) - {"timings"}):
        if sa.get(key) != sb.get(key):
            lines.append(f"  summary[{key!r}] differs: {json.dumps(sa.get(key))[:200]} / "
                         f"{json.dumps(sb.get(key))[:200]}")  # fmt: skip
    inference = (sa["timings"]["inference_s"], sb["timings"]["inference_s"])
    lines.append(f"inference seconds: {inference[0]:.2f} / {inference[1]:.2f}")
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    out = compare_examples(args.a, args.b) + compare_summaries(args.a, args.b)
    print("\n".join(out))
    same = len(out) == 2
    print("identical (timings aside)" if same else "differences above")
