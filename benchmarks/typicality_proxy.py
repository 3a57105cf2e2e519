"""How well does the training-free typicality proxy track C-score-style consistency?

The reference is the definition of the C-score (Jiang et al. 2021) estimated by retraining:
an example's expected held-out accuracy over many models trained on random halves of the data.
Measured on digits with clean labels:

    python benchmarks/typicality_proxy.py [--runs 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr
from sklearn.neural_network import MLPClassifier

from stratigraphy import load_digits_data
from stratigraphy.probes.typicality import neighbour_typicality

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=40)
a = ap.parse_args()

d = load_digits_data()
X = d.X.reshape(d.n, -1)
rng = np.random.default_rng(0)
hits = np.zeros(d.n)
seen = np.zeros(d.n)
t0 = time.perf_counter()
for r in range(a.runs):
    train = rng.random(d.n) < 0.5
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=300, random_state=r).fit(
        X[train], d.y[train]
    )
    hits[~train] += clf.predict(X[~train]) == d.y[~train]
    seen[~train] += 1
cscore = hits / np.maximum(seen, 1)
t_ref = time.perf_counter() - t0
t0 = time.perf_counter()
typ = neighbour_typicality(d.X, d.y)
t_proxy = time.perf_counter() - t0

rho, _ = spearmanr(typ.score, cscore)
rho_c, _ = spearmanr(typ.consistency, cscore)
order = np.argsort(-typ.score)
k = 45  # the default probe size on digits
print(f"reference: {a.runs} MLPs on random halves, {t_ref:.1f} s; proxy: {t_proxy:.2f} s\n")
print("| measure | value |")
print("|---|---|")
print(f"| Spearman ρ(proxy score, C-score estimate) | {rho:.3f} |")
print(f"| Spearman ρ(neighbour consistency alone, C-score estimate) | {rho_c:.3f} |")
print(f"| mean C-score estimate, all examples | {cscore.mean():.3f} |")
print(f"| mean C-score estimate, {k} most typical by proxy | {cscore[order[:k]].mean():.3f} |")
atyp = order[::-1][typ.agrees[order[::-1]]][:k]
print(
    f"| mean C-score estimate, {k} proxy-atypical (label = neighbours' plurality) | {cscore[atyp].mean():.3f} |"
)
print(f"| mean C-score estimate, {k} lowest C-score | {np.sort(cscore)[:k].mean():.3f} |")
