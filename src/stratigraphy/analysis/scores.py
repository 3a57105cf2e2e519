"""The classic per-example scores of the field, all computed from one run's recorded dynamics.

Inputs are N×E arrays from the store; NaN marks an epoch in which a row was not seen.
Every score is vectorised over examples and epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from stratigraphy.core.registry import Registry

SOFT_TEMPERATURE = 0.25


def default_el2n_epoch(n_epochs: int) -> int:
    """EL2N's early epoch: a tenth of the way through training (epoch 10–20 of 200 on CIFAR)."""
    return max(1, round(0.1 * n_epochs)) - 1


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """Correct→incorrect transitions between consecutive epochs (Toneva et al.); examples never
    learned get E, more than any learned example can reach."""
    c = correct.astype(np.int8)
    events = ((c[:, :-1] == 1) & (c[:, 1:] == 0)).sum(1).astype(np.float32)
    events[~correct.any(1)] = correct.shape[1]
    return events


def first_learned_epoch(correct: np.ndarray) -> np.ndarray:
    """First epoch from which the example stays predicted correctly to the end; E if never."""
    n_epochs = correct.shape[1]
    wrong = ~correct
    any_wrong = wrong.any(1)
    last_wrong = n_epochs - 1 - np.argmax(wrong[:, ::-1], axis=1)
    return np.where(any_wrong, last_wrong + 1, 0).astype(np.float32)


@dataclass
class ScoreInputs:
    """The arrays every score is computed from, each converted once."""

    loss: np.ndarray
    p_label: np.ndarray
    margin: np.ndarray
    correct: np.ndarray
    el2n_early: np.ndarray


@dataclass(frozen=True)
class Score:
    """A per-example score: how to compute it, which way points to a label error (+1: larger
    is likelier wrong), and which end static pruning keeps (None: not offered for pruning)."""

    name: str
    compute: Callable[[ScoreInputs], np.ndarray]
    mislabel_direction: float
    prune_keep_high: bool | None = None


SCORES: Registry[Score] = Registry("score")


def register_score(score: Score) -> Score:
    """Add a score to the registry; every run computes it and the mislabel choice considers it."""
    return SCORES.register(score)


def _nanmean(a: np.ndarray) -> np.ndarray:
    return np.nanmean(a, axis=1)


def soft_correctness(margin: np.ndarray, temperature: float = SOFT_TEMPERATURE) -> np.ndarray:
    """Cartography's correctness with each epoch counted by σ(margin / τ) instead of 0 or 1 (the
    logit margin of the given label over the strongest other class): how often, and how
    clearly, the given label was the model's choice. Correctness's many ties (one value per
    epoch count) are broken by how near the boundary each epoch was; from τ = 0.05 to 0.25 its
    AP against label errors is the same (docs/benchmarks.md)."""
    return _nanmean(expit(margin / temperature)).astype(np.float32)


for _score in (
    # Pruning keeps the informative, hard end (EL2N, Paul et al.; forgetting, Toneva et al.).
    Score("mean_loss", lambda s: _nanmean(s.loss), 1.0, prune_keep_high=True),
    Score("cartography_confidence", lambda s: _nanmean(s.p_label), -1.0),
    Score("variability", lambda s: np.nanstd(s.p_label, axis=1), 1.0),
    Score("correctness", lambda s: s.correct.mean(1).astype(np.float32), -1.0),
    Score("aum", lambda s: _nanmean(s.margin), -1.0, prune_keep_high=False),
    Score("forgetting", lambda s: forgetting_events(s.correct), 1.0, prune_keep_high=True),
    Score("el2n", lambda s: s.el2n_early, 1.0, prune_keep_high=True),
    Score("first_learned", lambda s: first_learned_epoch(s.correct), 1.0),
    Score("soft_correctness", lambda s: soft_correctness(s.margin), -1.0),
):
    register_score(_score)


def mislabel_direction(name: str) -> float:
    return SCORES[name].mislabel_direction


def compute_scores(
    signals: dict[str, np.ndarray], labels: np.ndarray, el2n_epoch: int | None = None
) -> dict[str, np.ndarray]:
    """Every registered score (mean loss, cartography confidence / variability / correctness,
    AUM, forgetting events, EL2N at an early epoch, first-learned epoch, soft correctness), each
    (N,) float32."""
    loss = signals["loss"].astype(np.float32)
    n_epochs = loss.shape[1]
    e = default_el2n_epoch(n_epochs) if el2n_epoch is None else min(el2n_epoch, n_epochs - 1)
    inputs = ScoreInputs(
        loss=loss,
        p_label=signals["p_label"].astype(np.float32),
        margin=signals["margin"].astype(np.float32),
        correct=signals["pred"] == labels[:, None],
        el2n_early=signals["el2n"][:, e].astype(np.float32),
    )
    return {name: s.compute(inputs) for name, s in SCORES.items()}
