"""How much of each kind the data holds: the suite priors re-estimated on the real data.

The inferers learn from balanced probe suites, so their posteriors assume every kind is equally
common; the real data is not balanced. Two classic estimators of the data's priors disagree
where it matters: Saerens, Latinne and Decaestecker's (2002) EM is efficient but turns the
inferers' miscalibration on hard real examples into several per cent of a kind that is not
there; black-box shift estimation with soft predictions (Lipton, Wang and Smola 2018: the
held-out probes' mean posterior per suite are the columns of C, the real rows' mean posterior
is q, and C π = q is solved on the simplex) needs no calibration but is noisy where held-out
probes are few. The default, ``bbse-em``, lets shift estimation decide which problem kinds are
present (above zero in 97.5% of its bootstrap) and EM estimate the shares of those; the others
are zero, with the shift estimate's upper bound as their interval. The posteriors are then
adjusted to the priors by Bayes' rule. Measurements: ``docs/benchmarks.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import nnls

from stratigraphy.core.errors import ConfigError

PREVALENCE_METHODS = ("bbse-em", "bbse", "em")
_SIMPLEX_WEIGHT = 1e3
EM_ITERATIONS = 500
EM_TOLERANCE = 1e-7
BOOTSTRAP_ROUNDS = 200
INTERVAL = 0.95
_FLOOR = 1e-12
_BLOCK_CELLS = 1 << 22


def adjust_posteriors(
    proba: np.ndarray, train_priors: np.ndarray, priors: np.ndarray
) -> np.ndarray:
    """Posteriors under ``priors`` from posteriors under ``train_priors`` (Bayes' rule, rows
    renormalised; a row with no mass keeps its value)."""
    w = np.asarray(priors, np.float64) / np.maximum(np.asarray(train_priors, np.float64), _FLOOR)
    out = np.asarray(proba, np.float64) * w
    total = out.sum(1, keepdims=True)
    return np.where(total > _FLOOR, out / np.maximum(total, _FLOOR), proba).astype(np.float32)


def em_priors(
    proba: np.ndarray,
    train_priors: np.ndarray,
    weights: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Saerens et al.'s EM: the class priors under which the adjusted posteriors average to the
    priors themselves (``weights``: per-row counts, for the bootstrap, or B×N of them for B
    resamplings fitted together, giving B×K priors; ``start``: first guess)."""
    p = np.asarray(proba, np.float64)
    w = np.ones(p.shape[0]) if weights is None else np.asarray(weights, np.float64)
    batch = w.reshape(-1, p.shape[0])
    train = np.maximum(np.asarray(train_priors, np.float64), _FLOOR)
    first = train if start is None else np.asarray(start, np.float64)
    priors = np.tile(first, (batch.shape[0], 1))
    out, active = priors.copy(), np.arange(batch.shape[0])
    total = batch.sum(1)
    for _ in range(EM_ITERATIONS):
        ratio = priors[active] / train
        mass = np.zeros_like(ratio)
        for rows in _row_blocks(p.shape[0], active.size):
            depth = np.maximum(p[rows] @ ratio.T, _FLOOR)
            mass += (batch[active, rows] / depth.T) @ p[rows]
        new = ratio * mass / total[active, None]
        done = np.abs(new - priors[active]).max(1) < EM_TOLERANCE
        out[active[done]] = new[done]
        priors[active] = new
        active = active[~done]
        if active.size == 0:
            break
    out[active] = priors[active]
    return out if w.ndim == 2 else out[0]


def _row_blocks(n: int, width: int) -> list[slice]:
    """Row slices of at most ``_BLOCK_CELLS`` / ``width`` rows each: the N×B product of the
    resamplings held in parts (32 MiB each), not whole for millions of rows."""
    step = max(1, _BLOCK_CELLS // max(width, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


@dataclass
class Prevalence:
    """The estimated share of each kind, with its bootstrap interval."""

    suites: list[str]
    share: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int
    covers: int | None = None
    moved_parts: dict[str, dict[str, float]] = field(default_factory=dict)

    def with_share(
        self, j: int, value: float, low: float, high: float, into: list[int] | None = None
    ) -> Prevalence:
        """The same estimate with kind ``j``'s share set to ``value`` (interval ``low`` to
        ``high``); the share freed or taken goes to or comes from the kinds ``into`` (default:
        all others) in proportion to theirs."""
        share = self.share.astype(np.float64).copy()
        others = np.zeros(share.size, dtype=bool)
        others[into if into is not None else slice(None)] = True
        others[j] = False
        grow = 1.0 + (share[j] - value) / max(float(share[others].sum()), _FLOOR)
        share[others] *= grow
        share[j] = value
        lows, highs = self.low.astype(np.float64).copy(), self.high.astype(np.float64).copy()
        lows[others] *= grow
        highs[others] = np.minimum(highs[others] * grow, 1.0)
        lows[j], highs[j] = min(low, value), max(high, value)
        return replace(self, share=share, low=lows, high=highs)

    def remixed(self, moves: Sequence[tuple[int, int, float, float, float]]) -> Prevalence:
        """The same estimate with, for each (source, target, part, low, high), a share ``part``
        (interval ``low`` to ``high``) of kind ``source``'s examples counted as kind ``target``:
        a suite whose probes are known to hold some members of another kind describes those
        members, not its own. Every part is of the shares as they are here, so the order of
        the moves does not matter; the parts taken from one kind are scaled down to at most
        all of it (``moved_parts`` records each, by target and source)."""
        share = self.share.astype(np.float64)
        low, high = self.low.astype(np.float64), self.high.astype(np.float64)
        k = share.size
        committed = np.ones(k)
        for source, _, _, _, p_high in moves:
            committed[source] += p_high
        scale = 1.0 / np.maximum(committed - 1.0, 1.0)
        part, part_low, part_high = np.zeros(k), np.zeros(k), np.zeros(k)
        gain, gain_low, gain_high = np.zeros(k), np.zeros(k), np.zeros(k)
        parts = {t: dict(v) for t, v in self.moved_parts.items()}
        for source, target, p, p_low, p_high in moves:
            p, p_low, p_high = (x * scale[source] for x in (p, p_low, p_high))
            part[source] += p
            part_low[source] += p_low
            part_high[source] += p_high
            gain[target] += p * share[source]
            gain_low[target] += p_low * low[source]
            gain_high[target] += p_high * high[source]
            parts.setdefault(self.suites[target], {})[self.suites[source]] = round(float(p), 6)
        return replace(
            self,
            share=share * (1.0 - part) + gain,
            low=low * (1.0 - part_high) + gain_low,
            high=np.minimum(high * (1.0 - part_low) + gain_high, 1.0),
            moved_parts=parts,
        )

    def covering(self, rows: int, others: np.ndarray) -> Prevalence:
        """The share of every example, when this estimate describes ``rows`` of them and
        ``others`` (M×K: the kinds' posteriors under these priors) are the rest: the probe
        sources, which a run judges in its source fold. Drawn as clean-looking examples, they
        would otherwise be left out of "how much of my data", and the shares overstated."""
        m = int(others.shape[0])
        if m == 0:
            return self
        total = float(rows + m)
        extra = np.asarray(others, np.float64).sum(0)

        def mix(part: np.ndarray) -> np.ndarray:
            return (rows * np.asarray(part, np.float64) + extra) / total

        return replace(self, share=mix(self.share), low=mix(self.low), high=mix(self.high),
                       covers=rows + m)  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        return {
            "n_examples_used": self.n,
            "examples_described": self.covers,
            "interval": INTERVAL,
            "share": {s: round(float(v), 6) for s, v in zip(self.suites, self.share, strict=True)},
            "low": {s: round(float(v), 6) for s, v in zip(self.suites, self.low, strict=True)},
            "high": {s: round(float(v), 6) for s, v in zip(self.suites, self.high, strict=True)},
            "members_in_other_suites": self.moved_parts,
        }


def shift_priors(
    proba: np.ndarray, heldout: np.ndarray, heldout_suite: np.ndarray,
    weights: np.ndarray | None = None, heldout_weights: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Soft black-box shift estimation: the priors π ≥ 0, Σπ = 1, with C π closest to q, where
    C[:, j] is the mean posterior of held-out probes of suite j and q the real rows' mean."""
    k = proba.shape[1]
    w = np.ones(proba.shape[0]) if weights is None else np.asarray(weights, np.float64)
    hw = np.ones(heldout.shape[0]) if heldout_weights is None else heldout_weights
    q = w @ np.asarray(proba, np.float64) / w.sum()
    sums = np.bincount(heldout_suite, weights=hw, minlength=k)
    C = np.stack(
        [hw[heldout_suite == j] @ heldout[heldout_suite == j] / max(sums[j], _FLOOR)
         for j in range(k)], axis=1,
    )  # fmt: skip
    pi, _ = nnls(np.vstack([C, np.full((1, k), _SIMPLEX_WEIGHT)]), np.r_[q, _SIMPLEX_WEIGHT])
    return np.asarray(pi / max(pi.sum(), _FLOOR))


def shift_estimate(
    proba: np.ndarray, heldout: np.ndarray, heldout_suite: np.ndarray, seed: int = 0,
    rounds: int = BOOTSTRAP_ROUNDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`shift_priors` with its percentile bootstrap interval over real rows and
    held-out probes: (priors, low, high)."""
    rng = np.random.default_rng([seed, 0x5F1])
    low, high = _shift_interval(proba, heldout, heldout_suite, rng, rounds)
    return shift_priors(proba, heldout, heldout_suite), low, high


def _shift_interval(
    proba: np.ndarray, heldout: np.ndarray, heldout_suite: np.ndarray,
    rng: np.random.Generator, rounds: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The percentile bootstrap interval of :func:`shift_priors` over ``rounds`` draws of the
    real rows and the held-out probes."""
    real, probes = _resamplings(proba.shape[0], heldout.shape[0], rng, rounds)
    draws = np.stack([shift_priors(proba, heldout, heldout_suite, w, hw)
                      for w, hw in zip(real, probes, strict=True)])  # fmt: skip
    tail = (1.0 - INTERVAL) / 2
    low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return low, high


def _resamplings(
    n: int, m: int, rng: np.random.Generator, rounds: int
) -> tuple[np.ndarray, np.ndarray]:
    """``rounds`` draws with replacement of the real rows and of the held-out probes, as
    counts per row (rounds×N and rounds×M), drawn alternately, one pair per round."""
    draws = [(rng.multinomial(n, np.full(n, 1.0 / n)), rng.multinomial(m, np.full(m, 1.0 / m)))
             for _ in range(rounds)]  # fmt: skip
    real, probes = zip(*draws, strict=True) if draws else ((), ())
    return (np.array(real, np.float64).reshape(rounds, n),
            np.array(probes, np.float64).reshape(rounds, m))  # fmt: skip


def estimate_prevalence(
    proba: np.ndarray,
    heldout: np.ndarray,
    heldout_suite: np.ndarray,
    train_priors: np.ndarray,
    suites: list[str],
    seed: int = 0,
    method: str = "bbse-em",
    rounds: int = BOOTSTRAP_ROUNDS,
    always: tuple[int, ...] = (),
) -> Prevalence:
    """The real examples' kind priors and a percentile bootstrap interval over real rows and
    held-out probes. ``bbse-em``: the kinds whose shift estimate stays above zero in at least
    97.5% of the bootstrap (and the ``always`` kinds, e.g. the clean suites) are present, and
    EM estimates their shares (the rest keep zero, their interval that of the shift estimate);
    ``bbse`` or ``em`` alone otherwise."""
    if method not in PREVALENCE_METHODS:
        raise ConfigError(f"prevalence method must be one of {PREVALENCE_METHODS}; got {method!r}.")
    n, m = proba.shape[0], heldout.shape[0]
    rng = np.random.default_rng([seed, 0xB007])
    tail = (1.0 - INTERVAL) / 2
    present = np.ones(proba.shape[1], dtype=bool)
    shift_high = np.ones(proba.shape[1])
    if method != "em":
        low, high = _shift_interval(proba, heldout, heldout_suite, rng, rounds)
        if method == "bbse":
            shift = shift_priors(proba, heldout, heldout_suite)
            return Prevalence(list(suites), shift, low, high, n)
        present = low > 0
        present[list(always)] = True
        shift_high = high
    train = np.where(present, train_priors, 0.0)
    sub = proba * present
    share = em_priors(sub, train)
    draws = em_priors(sub, train, _resamplings(n, m, rng, rounds)[0], share)
    low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    high = np.where(present, high, shift_high)
    return Prevalence(list(suites), share, low, high, n)
