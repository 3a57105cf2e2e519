"""Prioritised training on Fashion-MNIST with 0%, 20% and 40% planted noise: steps to reach a
target test accuracy when each step trains on 32 examples chosen from 320 uniform candidates
by uniform, loss-based or MAP-D selection (½·[p(typical) + (1 − p_model(y|x))]).

MAP-D's p(typical) comes from a short recorded run with probes (`--warmup-epochs`), whose cost
is reported beside the steps.

    python benchmarks/prioritised.py [--target 82] [--max-steps 3000] [--lr 0.01]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _fmnist as fm
import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from stratigraphy import RunConfig, plant_label_noise, run
from stratigraphy.curate.sampling import select_batch

ap = argparse.ArgumentParser()
ap.add_argument("--target", type=float, default=82.0)
ap.add_argument("--max-steps", type=int, default=3000)
ap.add_argument("--eval-every", type=int, default=100)
ap.add_argument("--warmup-epochs", type=int, default=5)
ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.2, 0.4])
ap.add_argument("--lr", type=float, default=0.01)
a = ap.parse_args()

X = torch.from_numpy(fm.TRAIN.X)
results = []


def steps_to_target(
    y: torch.Tensor, rule: str, p_typical: torch.Tensor | None
) -> tuple[int | None, float]:
    model = fm.new_model(fm.TRAIN.X, 0)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(0)
    best = 0.0
    for step in range(1, a.max_steps + 1):
        cand = torch.randint(0, len(X), (320,), generator=g)
        with torch.no_grad():
            logits = model(X[cand])
            loss = F.cross_entropy(logits, y[cand], reduction="none")
            p_label = logits.softmax(1).gather(1, y[cand][:, None]).squeeze(1)
        chosen = select_batch(
            cand, loss, 32, rule, None if p_typical is None else p_typical[cand], p_label, g
        )
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(X[chosen]), y[chosen]).backward()
        opt.step()
        if step % a.eval_every == 0:
            acc = fm.evaluate(model)[0]
            best = max(best, acc)
            if acc >= a.target:
                return step, best
    return None, best


for noise in a.noise:
    y_np, _ = plant_label_noise(fm.TRAIN.y, 10, noise, "symmetric", seed=0)
    y = torch.from_numpy(y_np)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "d.npz", X=fm.TRAIN.X, y=y_np)
        run(
            RunConfig.build(
                out=Path(tmp) / "r",
                source=str(Path(tmp) / "d.npz"),
                model="mlp",
                epochs=a.warmup_epochs,
                noise_rate=0.0,
            )
        )
        p_typ = pq.read_table(Path(tmp) / "r" / "examples.parquet", columns=["p_typical"])
        p_typical = torch.from_numpy(np.nan_to_num(p_typ.column(0).to_numpy()))
    warm = time.perf_counter() - t0
    for rule in ("uniform", "loss", "mapd"):
        steps, best = steps_to_target(y, rule, p_typical if rule == "mapd" else None)
        results.append((noise, rule, steps, best, warm if rule == "mapd" else 0.0))
        print(noise, rule, steps, f"{best:.2f}", flush=True)

print(
    f"\nFashion-MNIST, MLP, batches of 32 chosen from 320 candidates, target {a.target:g}% "
    f"test accuracy (checked every {a.eval_every} steps, at most {a.max_steps}).\n"
)
print("| noise | selection | steps to target | best test accuracy % | extra cost |")
print("|---|---|---|---|---|")
for noise, rule, steps, best, warm in results:
    extra = f"{a.warmup_epochs}-epoch recorded run ({warm:.0f} s)" if rule == "mapd" else "—"
    print(
        f"| {noise:.0%} | {rule} | {steps if steps else f'not reached in {a.max_steps}'} | "
        f"{best:.2f} | {extra} |"
    )
