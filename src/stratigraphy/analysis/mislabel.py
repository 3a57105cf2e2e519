"""Label errors: the candidate scores, choosing ``mislabel_score`` on the held-out probes, and
suggesting labels.

Every candidate is oriented so that larger means likelier mislabeled, and every candidate is
computed row by row (so any chunk of rows gets the same values as the whole): ranks are taken
against reference values fixed when the engine is fitted — every training row's when there are
at most ``RANK_REFERENCE_ROWS``, a seeded sample of rows otherwise. The held-out probes
of suites whose label is wrong are the positives; those of suites whose label is right
(typical, atypical, corrupted, user suites) the negatives, so the chosen score is the one that
best tells a wrong label from a hard or noisy but correctly labelled example. Suites whose label
is neither (random inputs) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score

from stratigraphy.analysis.scores import mislabel_direction
from stratigraphy.probes.suites import suite_info

FALLBACK_SCORE = "mean_loss"
PAIRED_SCORE = "aum"
CONSENSUS = "consensus"
PROBE_FREE_SCORE = "soft_correctness"
PROBE_FREE_REASON = (
    "the wrong-label probes are unlike this data's label errors (their flags are withheld), so "
    "their held-out AP cannot choose the score either; under noise between a few classes a "
    "model still predicts the true class where it is sure, and soft correctness ranks by how "
    "often and how clearly the given label lost that choice"
)
TIE_MARGIN = 0.02
RANK_REFERENCE_ROWS = 65_536


def _finite(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(a, dtype=np.float64), nan=-np.inf)


def reference_rows(n_rows: int, seed: int) -> np.ndarray:
    """The training rows whose values ranks are taken against: all of them, or a seeded sample."""
    if n_rows <= RANK_REFERENCE_ROWS:
        return np.arange(n_rows)
    rng = np.random.default_rng([seed, 0x5EED])
    return np.sort(rng.choice(n_rows, size=RANK_REFERENCE_ROWS, replace=False))


@dataclass
class RankReference:
    """Ranks against fixed reference values, scaled to (0, 1], ties averaged and NaN lowest: for
    a value of the references this is scipy's average rank over them divided by their count,
    so a rank average is computed row by row."""

    references: dict[str, np.ndarray]

    @classmethod
    def fit(cls, values: dict[str, np.ndarray]) -> RankReference:
        return cls({k: np.sort(_finite(v)) for k, v in values.items()})

    def rank(self, name: str, x: np.ndarray) -> np.ndarray:
        ref, v = self.references[name], _finite(x)
        below = np.searchsorted(ref, v, side="left")
        upto = np.searchsorted(ref, v, side="right")
        return ((below + upto + 1) / 2 / ref.size).astype(np.float32)


def rank_inputs(
    scores: dict[str, np.ndarray], p_mislabeled: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The values that ranks are taken of: the mean loss, each p(mislabeled) and −AUM."""
    out = {f"p_{m}": p for m, p in p_mislabeled.items()}
    out[FALLBACK_SCORE] = scores[FALLBACK_SCORE]
    out[PAIRED_SCORE] = -scores[PAIRED_SCORE]
    return out


def mislabel_candidates(
    scores: dict[str, np.ndarray], p_mislabeled: dict[str, np.ndarray], ranks: RankReference
) -> dict[str, np.ndarray]:
    """Each classic score oriented towards label errors, each inferer's p(mislabeled) (its coarse
    ties — k + 1 values for kNN — broken by the mean loss's rank, below 1e-3), and the rank
    average of p(mislabeled) with the best-known single signal (AUM)."""
    cands = {name: mislabel_direction(name) * v for name, v in scores.items()}
    loss_rank = ranks.rank(FALLBACK_SCORE, scores[FALLBACK_SCORE])
    paired = ranks.rank(PAIRED_SCORE, -scores[PAIRED_SCORE])
    for method, p in p_mislabeled.items():
        cands[f"p_mislabeled_{method}"] = p + 1e-3 * loss_rank
        cands[f"p_mislabeled_{method}+{PAIRED_SCORE}"] = 0.5 * (
            ranks.rank(f"p_{method}", p) + paired
        )
    return cands


def choose_mislabel_score(
    candidates: dict[str, np.ndarray],
    probe_rows: np.ndarray,
    probe_suites: np.ndarray,
    is_heldout: np.ndarray,
) -> tuple[str, dict[str, float]]:
    """The candidate with the highest average precision on the held-out probes, and every AP;
    ``PROBE_FREE_SCORE`` is not one (it stands in where the probes cannot choose)."""
    candidates = {k: v for k, v in candidates.items() if k != PROBE_FREE_SCORE}
    wrong = np.array([suite_info(str(s)).label_wrong for s in probe_suites], dtype=object)
    held = is_heldout & (wrong != None)  # noqa: E711 (elementwise)
    rows = probe_rows[held]
    truth = wrong[held] == True  # noqa: E712 (elementwise)
    if truth.all() or not truth.any():
        return FALLBACK_SCORE, {}
    aps = {
        name: float(average_precision_score(truth, np.nan_to_num(v[rows], nan=-1e30)))
        for name, v in candidates.items()
    }
    return max(aps, key=lambda n: (aps[n], n == PAIRED_SCORE)), aps


def near_ties(
    aps: dict[str, float], margin: float = TIE_MARGIN, coarse: frozenset[str] = frozenset()
) -> list[str]:
    """The candidates whose held-out AP is within ``margin`` of the best, when there are two or
    more. A few hundred held-out probes do not tell such candidates apart (their APs sit
    within 0.01–0.02 of each other), while on the data they rank the real errors up to 5
    points apart, and no one candidate is best everywhere (docs/benchmarks.md). ``coarse``
    candidates (a value per epoch count, such as correctness or the first-learned epoch) stay
    out: their many ties at the top flatten the mean rank where the probes and the real
    errors meet, and on digits their joining halved the mixture bound of the wrong-label
    share, so its flags were withheld."""
    if not aps:
        return []
    best = max(aps.values())
    tied = sorted(k for k, v in aps.items() if v >= best - margin and k not in coarse)
    return tied if len(tied) > 1 else []


def coarse_candidates(candidates: dict[str, np.ndarray], epochs: int) -> frozenset[str]:
    """The candidates with at most one distinct value per epoch count (``epochs`` + 1) over
    the reference rows."""
    return frozenset(k for k, v in candidates.items() if np.unique(v).size <= epochs + 1)


def consensus(
    candidates: dict[str, np.ndarray], members: list[str], ranks: RankReference
) -> np.ndarray:
    """The mean of the ``members``' ranks against their reference values, row by row: the
    near-tied candidates averaged, so that no one of them is bet on by chance."""
    return np.mean([ranks.rank(m, candidates[m]) for m in members], axis=0).astype(np.float32)
