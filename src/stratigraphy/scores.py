"""The classic per-example scores of the field, all computed from one run's recorded dynamics.

Inputs are N×E arrays from the store; NaN marks an epoch in which a row was not seen.
Every score is vectorised over examples and epochs.
"""

from __future__ import annotations

import numpy as np

# Orientation that makes each score larger for a likelier label error (used by mislabel_score).
MISLABEL_DIRECTION = {
    "mean_loss": 1.0,
    "cartography_confidence": -1.0,
    "variability": 1.0,
    "correctness": -1.0,
    "aum": -1.0,
    "forgetting": 1.0,
    "el2n": 1.0,
    "first_learned": 1.0,
}


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


def compute_scores(
    signals: dict[str, np.ndarray], labels: np.ndarray, el2n_epoch: int | None = None
) -> dict[str, np.ndarray]:
    """Mean loss, cartography confidence / variability / correctness, AUM, forgetting events,
    EL2N at an early epoch and first-learned epoch, each an (N,) float32 array."""
    loss = signals["loss"].astype(np.float32)
    p = signals["p_label"].astype(np.float32)
    margin = signals["margin"].astype(np.float32)
    correct = signals["pred"] == labels[:, None]
    n_epochs = loss.shape[1]
    e = default_el2n_epoch(n_epochs) if el2n_epoch is None else min(el2n_epoch, n_epochs - 1)
    return {
        "mean_loss": np.nanmean(loss, axis=1),
        "cartography_confidence": np.nanmean(p, axis=1),
        "variability": np.nanstd(p, axis=1),
        "correctness": correct.mean(1).astype(np.float32),
        "aum": np.nanmean(margin, axis=1),
        "forgetting": forgetting_events(correct),
        "el2n": signals["el2n"][:, e].astype(np.float32),
        "first_learned": first_learned_epoch(correct),
    }
