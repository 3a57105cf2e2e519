"""Label correction on Fashion-MNIST with 40% symmetric noise: test accuracy of plain training,
fix-then-retrain, online bootstrapping with probe-based and with Beta-mixture noise estimates,
and training on the clean labels. Same MLP, schedule and epochs for all.

    python benchmarks/correction.py [--epochs 20] [--noise 0.4] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _fmnist as fm
import numpy as np
import torch

from stratigraphy import RunConfig, plant_label_noise, run
from stratigraphy.bootstrap import (
    BetaMixture,
    ProbeNoiseEstimator,
    bootstrap_loss,
    mixup_bootstrap_step,
)
from stratigraphy.fixes import plan_fixes
from stratigraphy.probes import ProbeConfig, build_probes

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--noise", type=float, default=0.4)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--warmup", type=int, default=3, help="plain epochs before bootstrapping starts")
ap.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
ap.add_argument("--quick", action="store_true", help="skip remove-then-retrain, BMM and mixup rows")
a = ap.parse_args()
fm.MODEL = a.model

X, y_true = fm.TRAIN.X, fm.TRAIN.y
y_noisy, flipped = plant_label_noise(y_true, 10, a.noise, "symmetric", seed=a.seed)
rows = []


def report(name: str, model: torch.nn.Module, passes: int, seconds: float) -> None:
    acc, worst = fm.evaluate(model)
    rows.append((name, acc, worst, passes, seconds))
    print(
        f"{name}: {acc:.2f}% (worst class {worst:.1f}%), {passes} training passes, {seconds:.0f} s",
        flush=True,
    )


def bootstrapped(
    estimator: str, labels: np.ndarray, mixup: bool = False, keep: np.ndarray | None = None
) -> torch.nn.Module:
    """Arazo et al.'s dynamic hard bootstrapping (with ``mixup``: their M-DYR-H); p(noisy) per
    example re-estimated every epoch from the previous epoch's losses, by the probes or by a
    Beta mixture."""
    keep = np.ones(labels.size, dtype=bool) if keep is None else keep
    probed = build_probes(X[keep], labels[keep], 10, ProbeConfig(seed=a.seed))
    suites = np.asarray(probed.probes.column("suite").to_pylist())
    fit = probed.is_fit()
    rows_mis = probed.probe_rows[fit & (suites == "mislabeled")]
    rows_clean = probed.probe_rows[fit & np.isin(suites, ["typical", "atypical", "corrupted"])]
    model = fm.new_model(probed.X, a.seed)
    opt = fm.optimiser(model)
    Xt, yt = torch.from_numpy(probed.X), torch.from_numpy(probed.y)
    last_loss = torch.zeros(len(Xt))
    p_noisy = torch.zeros(len(Xt))
    g = torch.Generator().manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    for epoch in range(a.epochs):
        fm.set_lr(opt, epoch, a.epochs)
        if epoch >= a.warmup:
            loss_np = last_loss.numpy()
            if estimator == "probes":
                est = ProbeNoiseEstimator().fit(loss_np[rows_mis], loss_np[rows_clean], loss_np)
            else:
                est = BetaMixture().fit(loss_np)
            p_noisy = torch.from_numpy(est.posterior_noisy(loss_np))
        perm = torch.randperm(len(Xt), generator=g)
        for lo in range(0, len(Xt), fm.BATCH):
            idx = perm[lo : lo + fm.BATCH]
            if mixup:
                loss, ce = mixup_bootstrap_step(model, Xt[idx], yt[idx], p_noisy[idx], rng)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                last_loss[idx] = ce
                continue
            logits = model(Xt[idx])
            loss = bootstrap_loss(logits, yt[idx], p_noisy[idx])
            opt.zero_grad(set_to_none=True)
            loss.mean().backward()
            opt.step()
            with torch.no_grad():
                last_loss[idx] = torch.nn.functional.cross_entropy(
                    logits, yt[idx], reduction="none"
                )
    return model


t = time.perf_counter()
report(
    "plain training on noisy labels",
    fm.train_plain(X, y_noisy, a.epochs, a.seed),
    1,
    time.perf_counter() - t,
)

t = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    np.savez(Path(tmp) / "noisy.npz", X=X, y=y_noisy)
    run(
        RunConfig(
            out=Path(tmp) / "run",
            source=str(Path(tmp) / "noisy.npz"),
            epochs=a.epochs,
            model=a.model,
            seed=a.seed,
            noise_rate=0.0,
        )
    )
    plan = plan_fixes(Path(tmp) / "run", "relabel", 0.5)
    removal = plan_fixes(Path(tmp) / "run", "remove", 0.5)
t_run = time.perf_counter() - t
fixed, fix_keep = plan.labels, plan.keep
n_relabel = sum(c["action"] == "relabel" for c in plan.changes)
print(
    f"  fix: {n_relabel} relabelled, {int((~fix_keep).sum())} removed as out-of-distribution; "
    f"label errors {int((y_noisy != y_true).sum())} → "
    f"{int((fixed[fix_keep] != y_true[fix_keep]).sum())} among {int(fix_keep.sum())} kept",
    flush=True,
)
report(
    "fix-then-retrain (strat run + strat fix --policy relabel)",
    fm.train_plain(X[fix_keep], fixed[fix_keep], a.epochs, a.seed),
    2,
    time.perf_counter() - t,
)
if not a.quick:
    t = time.perf_counter()
    kept = removal.keep
    print(
        f"  remove: {int((~kept).sum())} removed; label errors among the kept "
        f"{int((y_noisy[kept] != y_true[kept]).sum())}",
        flush=True,
    )
    report(
        "remove-then-retrain (strat run + strat fix --policy remove)",
        fm.train_plain(X[kept], y_noisy[kept], a.epochs, a.seed),
        2,
        t_run + time.perf_counter() - t,
    )
t = time.perf_counter()
report(
    "fix-then-retrain with probe bootstrapping",
    bootstrapped("probes", fixed, keep=fix_keep),
    2,
    t_run + time.perf_counter() - t,
)

t = time.perf_counter()
report(
    "online bootstrapping, p(noisy) from probes (MAP-D)",
    bootstrapped("probes", y_noisy),
    1,
    time.perf_counter() - t,
)
if not a.quick:
    t = time.perf_counter()
    report(
        "online bootstrapping, p(noisy) from a Beta mixture (Arazo)",
        bootstrapped("bmm", y_noisy),
        1,
        time.perf_counter() - t,
    )
    t = time.perf_counter()
    report(
        "online bootstrapping with mixup, p(noisy) from probes (MAP-D + M-DYR-H)",
        bootstrapped("probes", y_noisy, mixup=True),
        1,
        time.perf_counter() - t,
    )
    t = time.perf_counter()
    report(
        "online bootstrapping with mixup, p(noisy) from a Beta mixture (Arazo's M-DYR-H)",
        bootstrapped("bmm", y_noisy, mixup=True),
        1,
        time.perf_counter() - t,
    )
t = time.perf_counter()
report(
    "clean labels (reference)",
    fm.train_plain(X, y_true, a.epochs, a.seed),
    1,
    time.perf_counter() - t,
)

print(
    f"\nFashion-MNIST, {a.noise:.0%} symmetric noise, {a.model.upper()}, {a.epochs} epochs, "
    f"seed {a.seed}\n"
)
print("| method | test accuracy % | worst class % | training passes | wall s |")
print("|---|---|---|---|---|")
for name, acc, worst, passes, sec in rows:
    print(f"| {name} | {acc:.2f} | {worst:.1f} | {passes} | {sec:.0f} |")
