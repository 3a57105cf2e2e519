"""Label correction on Fashion-MNIST with 40% symmetric noise: test accuracy of plain training,
fix-then-retrain, online bootstrapping with probe-based and with Beta-mixture noise estimates,
and training on the clean labels. Same model, schedule and epochs for all.

    python benchmarks/correction.py [--epochs 20] [--noise 0.4] [--seed 0] [--model mlp|cnn]
        [--quick | --rows online,co,clean]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _fmnist as fm
import numpy as np
import torch

from stratigraphy import RunConfig, plant_label_noise, run
from stratigraphy.curate.bootstrap import (
    BetaMixture,
    ProbeNoiseEstimator,
    bootstrap_loss,
    mixup_bootstrap_step,
    peer_targets,
)
from stratigraphy.curate.fixes import plan_fixes
from stratigraphy.probes.build import ProbeConfig, build_probes

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--noise", type=float, default=0.4)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--warmup", type=int, default=3, help="plain epochs before bootstrapping starts")
ap.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
ROWS = ("plain", "fix", "remove", "fixboot", "online", "co", "bmm", "mixup", "mixup-bmm", "clean")
QUICK = ("plain", "fix", "fixboot", "online", "co", "clean")
ap.add_argument("--quick", action="store_true", help=f"only the rows {', '.join(QUICK)}")
ap.add_argument("--rows", help=f"comma-separated subset of {', '.join(ROWS)}")
a = ap.parse_args()
wanted = set(a.rows.split(",") if a.rows else QUICK if a.quick else ROWS)
if wanted - set(ROWS):
    ap.error(f"unknown rows {sorted(wanted - set(ROWS))}; choose from {', '.join(ROWS)}")
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
    estimator: str,
    labels: np.ndarray,
    mixup: bool = False,
    keep: np.ndarray | None = None,
    peers: int = 1,
) -> torch.nn.Module:
    """Arazo et al.'s dynamic hard bootstrapping (with ``mixup``: their M-DYR-H); p(noisy) per
    example re-estimated every epoch from the previous epoch's losses, by the probes or by a
    Beta mixture. With ``peers`` = 2, two networks train side by side on the same batches, each
    with its own p(noisy), both bootstrapping toward their mean prediction; the first is
    returned (and evaluated alone)."""
    if mixup and peers > 1:
        raise ValueError("the mixup rows train one network; peers must be 1")
    keep = np.ones(labels.size, dtype=bool) if keep is None else keep
    probed = build_probes(X[keep], labels[keep], 10, ProbeConfig(seed=a.seed))
    suites = np.asarray(probed.probes.column("suite").to_pylist())
    fit = probed.is_fit()
    rows_mis = probed.probe_rows[fit & (suites == "mislabeled")]
    rows_clean = probed.probe_rows[fit & np.isin(suites, ["typical", "atypical", "corrupted"])]
    models = [fm.new_model(probed.X, a.seed + k) for k in range(peers)]
    opts = [fm.optimiser(m) for m in models]
    Xt, yt = torch.from_numpy(probed.X), torch.from_numpy(probed.y)
    last_loss = torch.zeros(peers, len(Xt))
    p_noisy = torch.zeros(peers, len(Xt))
    g = torch.Generator().manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    for epoch in range(a.epochs):
        for opt in opts:
            fm.set_lr(opt, epoch, a.epochs)
        if epoch >= a.warmup:
            for k in range(peers):
                loss_np = last_loss[k].numpy()
                if estimator == "probes":
                    est = ProbeNoiseEstimator().fit(loss_np[rows_mis], loss_np[rows_clean], loss_np)
                else:
                    est = BetaMixture().fit(loss_np)
                p_noisy[k] = torch.from_numpy(est.posterior_noisy(loss_np))
        perm = torch.randperm(len(Xt), generator=g)
        for lo in range(0, len(Xt), fm.BATCH):
            idx = perm[lo : lo + fm.BATCH]
            if mixup:
                loss, ce = mixup_bootstrap_step(models[0], Xt[idx], yt[idx], p_noisy[0, idx], rng)
                opts[0].zero_grad(set_to_none=True)
                loss.backward()
                opts[0].step()
                last_loss[0, idx] = ce
                continue
            logits = [m(Xt[idx]) for m in models]
            target = peer_targets(*logits) if peers > 1 else None
            for k in range(peers):
                loss = bootstrap_loss(logits[k], yt[idx], p_noisy[k, idx], target)
                opts[k].zero_grad(set_to_none=True)
                loss.mean().backward()
                opts[k].step()
                with torch.no_grad():
                    last_loss[k, idx] = torch.nn.functional.cross_entropy(
                        logits[k], yt[idx], reduction="none"
                    )
    for k in range(1, peers):
        acc, worst = fm.evaluate(models[k])
        print(f"  peer network {k}: {acc:.2f}% (worst class {worst:.1f}%)", flush=True)
    return models[0]


def timed(
    key: str, name: str, passes: int, train: Callable[[], torch.nn.Module], after_run: bool = False
) -> None:
    """Train and report one row if it was asked for; rows ``after_run`` (the fixes) include the
    recorded run's time. ``passes`` counts trainings of a network over the data."""
    if key not in wanted:
        return
    t = time.perf_counter()
    model = train()
    report(name, model, passes, time.perf_counter() - t + (t_run if after_run else 0.0))


timed(
    "plain",
    "plain training on noisy labels",
    1,
    lambda: fm.train_plain(X, y_noisy, a.epochs, a.seed),
)
t_run = 0.0
if wanted & {"fix", "remove", "fixboot"}:
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "noisy.npz", X=X, y=y_noisy)
        run(
            RunConfig.build(
                out=Path(tmp) / "run",
                source=str(Path(tmp) / "noisy.npz"),
                epochs=a.epochs,
                model=a.model,
                seed=a.seed,
                noise_rate=0.0,
            )
        )
        plan = plan_fixes(Path(tmp) / "run", "relabel", 0.5)
        kept = plan_fixes(Path(tmp) / "run", "remove", 0.5).keep
    t_run = time.perf_counter() - t
    fixed, fix_keep = plan.labels, plan.keep
    n_relabel = sum(c["action"] == "relabel" for c in plan.changes)
    print(
        f"  fix: {n_relabel} relabelled, {int((~fix_keep).sum())} removed as out-of-distribution; "
        f"label errors {int((y_noisy != y_true).sum())} → "
        f"{int((fixed[fix_keep] != y_true[fix_keep]).sum())} among {int(fix_keep.sum())} kept; "
        f"--policy remove: {int((~kept).sum())} removed, "
        f"{int((y_noisy[kept] != y_true[kept]).sum())} errors left",
        flush=True,
    )
    timed(
        "fix",
        "fix-then-retrain (strat run + strat fix --policy relabel)",
        2,
        lambda: fm.train_plain(X[fix_keep], fixed[fix_keep], a.epochs, a.seed),
        after_run=True,
    )
    timed(
        "remove",
        "remove-then-retrain (strat run + strat fix --policy remove)",
        2,
        lambda: fm.train_plain(X[kept], y_noisy[kept], a.epochs, a.seed),
        after_run=True,
    )
    timed(
        "fixboot",
        "fix-then-retrain with probe bootstrapping",
        2,
        lambda: bootstrapped("probes", fixed, keep=fix_keep),
        after_run=True,
    )
timed(
    "online",
    "online bootstrapping, p(noisy) from probes (MAP-D)",
    1,
    lambda: bootstrapped("probes", y_noisy),
)
timed(
    "co",
    "online co-bootstrapping of two networks, p(noisy) from probes",
    2,
    lambda: bootstrapped("probes", y_noisy, peers=2),
)
timed(
    "bmm",
    "online bootstrapping, p(noisy) from a Beta mixture (Arazo)",
    1,
    lambda: bootstrapped("bmm", y_noisy),
)
timed(
    "mixup",
    "online bootstrapping with mixup, p(noisy) from probes (MAP-D + M-DYR-H)",
    1,
    lambda: bootstrapped("probes", y_noisy, mixup=True),
)
timed(
    "mixup-bmm",
    "online bootstrapping with mixup, p(noisy) from a Beta mixture (Arazo's M-DYR-H)",
    1,
    lambda: bootstrapped("bmm", y_noisy, mixup=True),
)
timed("clean", "clean labels (reference)", 1, lambda: fm.train_plain(X, y_true, a.epochs, a.seed))

print(
    f"\nFashion-MNIST, {a.noise:.0%} symmetric noise, {a.model.upper()}, {a.epochs} epochs, "
    f"seed {a.seed}\n"
)
print("| method | test accuracy % | worst class % | training passes | wall s |")
print("|---|---|---|---|---|")
for name, acc, worst, passes, sec in rows:
    print(f"| {name} | {acc:.2f} | {worst:.1f} | {passes} | {sec:.0f} |")
