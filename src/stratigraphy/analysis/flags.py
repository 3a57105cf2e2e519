"""Flags with a stated error rate: conformal p-values against correctly labelled probes, then
Benjamini–Hochberg.

For each problem kind (a suite flagged for review) every example gets a score: ``mislabel_score``
for a suite whose label is wrong, the kind's posterior otherwise. Its conformal p-value is the
share of calibration scores at least as large, (1 + #{cal ≥ s}) / (n_cal + 1); the calibration
set is the held-out probes of the suites that are neither wrong nor flagged (typical, atypical,
user suites): real, correctly labelled examples the inferers never fitted. An example's p-value
over all kinds calibrates its smallest per-kind p-value the same way, against the calibration
probes' own smallest p-values (each taken against the other probes), so looking at several
kinds costs nothing. Benjamini–Hochberg at level ``fdr`` keeps the expected share of false flags
at or below ``fdr`` when clean examples and calibration probes are exchangeable (Bates et al.
2023). Its cut is a threshold on the p-value, found from the reference rows' p-values (every
real row up to 65,536, a seeded sample above), so each row is flagged alone.

Flags must also agree with the prevalence: at a false-flag share of at most ``fdr``, a kind
that makes up at most a share h of the data (the upper end of its interval) cannot rightly
have more than h / (1 − fdr) of the rows flagged. Where the p-value cut flags more reference
rows of a kind than that, only the kind's strongest evidence is kept (a floor on its score),
so a kind the data barely holds cannot fill the review queue with hard but ordinary examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_FDR = 0.1


def _finite(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(a, dtype=np.float64), nan=-np.inf)


def _upper_share(cal: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(1 + #{cal ≥ v}) / (n_cal + 1) for each v; ``cal`` sorted."""
    at_least = cal.size - np.searchsorted(cal, values, side="left")
    return (1.0 + at_least) / (cal.size + 1.0)


@dataclass
class ConformalFlagger:
    """Calibration scores per kind, the calibration probes' own smallest p-values, and the
    p-value cut Benjamini–Hochberg chose."""

    kinds: list[str]
    calibration: dict[str, np.ndarray]
    calibration_min_p: np.ndarray
    fdr: float = DEFAULT_FDR
    threshold: float = 0.0
    floors: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, kinds: list[str], calibration: dict[str, np.ndarray], fdr: float = DEFAULT_FDR
    ) -> ConformalFlagger:
        """``calibration``: each kind's scores of the same calibration probes, in one order."""
        cal = {k: _finite(v) for k, v in calibration.items()}
        n = next(iter(cal.values())).size
        # Each probe's p-value for each kind against the other probes (leave one out).
        loo = np.stack(
            [(1.0 + (v[None, :] >= v[:, None]).sum(1) - 1.0) / n for v in cal.values()], axis=1
        )
        sorted_cal = {k: np.sort(v) for k, v in cal.items()}
        return cls(kinds, sorted_cal, np.sort(loo.min(1)), fdr)

    @property
    def n_calibration(self) -> int:
        return int(self.calibration_min_p.size)

    def p_values(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each kind's conformal p-value of every row (larger scores: smaller p)."""
        return {k: _upper_share(self.calibration[k], _finite(scores[k])) for k in self.kinds}

    def combined(self, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The conformal p-value of each row's smallest per-kind p-value, and that kind."""
        stacked = np.stack([p[k] for k in self.kinds], axis=1)
        smallest = stacked.min(1)
        at_most = np.searchsorted(self.calibration_min_p, smallest, side="right")
        return (1.0 + at_most) / (self.n_calibration + 1.0), stacked.argmin(1)

    def set_threshold(self, reference_p: np.ndarray) -> float:
        """Benjamini–Hochberg's cut: the largest t with t ≤ fdr · share(p ≤ t) among the
        reference rows (their share stands for every row's)."""
        p = np.sort(np.asarray(reference_p, np.float64))
        if p.size == 0:
            self.threshold = 0.0
            return 0.0
        ranks = np.arange(1, p.size + 1)
        ok = p <= self.fdr * ranks / p.size
        self.threshold = float(p[np.flatnonzero(ok).max()]) if ok.any() else 0.0
        return self.threshold

    @property
    def smallest_p(self) -> float:
        """The smallest p-value any example can reach: 1 / (calibration probes + 1)."""
        return 1.0 / (self.n_calibration + 1.0)

    def cap(self, reference_p: np.ndarray, which: np.ndarray, scores: dict[str, np.ndarray],
            upper: dict[str, float]) -> None:  # fmt: skip
        """Floors on each kind's score so that no kind flags more of the reference rows than
        ``upper[kind] / (1 − fdr)`` (``upper``: the upper end of the kind's prevalence)."""
        self.floors = {}
        below = np.asarray(reference_p) <= self.threshold
        for j, kind in enumerate(self.kinds):
            hit = below & (which == j)
            allowed = int(np.floor(upper[kind] / (1.0 - self.fdr) * below.size))
            if hit.sum() > allowed:
                strongest = np.sort(_finite(scores[kind][hit]))[::-1]
                self.floors[kind] = float(strongest[allowed - 1]) if allowed > 0 else np.inf

    def flag(self, combined_p: np.ndarray, which: np.ndarray | None = None,
             scores: dict[str, np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
        """Rows whose combined p-value clears the cut and whose kind's score its floor."""
        out = np.asarray(combined_p) <= self.threshold
        if self.floors and which is not None and scores is not None:
            for j, kind in enumerate(self.kinds):
                if kind in self.floors:
                    out &= ~((which == j) & (_finite(scores[kind]) < self.floors[kind]))
        return out
