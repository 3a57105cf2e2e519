"""Flags with a stated error rate: a two-groups false-discovery rate per problem kind.

For each problem kind (a suite flagged for review) every example has evidence s:
``mislabel_score`` for a suite whose label is wrong, the kind's posterior otherwise. The real
rows' evidence is a mixture: a share π of the kind's members and the rest. The kind's probes
stand for the members: for a wrong-label kind its calibration probes, built from examples
drawn at random from the data (``ProbeConfig.heldout_sources="any"``), so their evidence is
distributed as the data's own label errors (measured in docs/benchmarks.md: a symmetric-noise
run's real label errors and such probes have the same quantiles); for other kinds their
held-out probes. Among the rows with
evidence at least t, the expected share of false flags is then

    FDR(t) = 1 − π · S_probes(t) / S_real(t)

(Efron's two-groups model, Storey's estimator with the alternative known), where S are the
survival functions of the real rows and of the probes. A flag is false when the example is
clean: a member of another problem kind whose evidence also reaches t (an inserted image
scores high on ``mislabel_score`` too) is a problem found, so the other kinds' probes, at
their own shares, join the alternative: π · S_probes(t) becomes Σ_j π_j · S_probes_j(t), each
on this kind's evidence. A row's q-value is the smallest
FDR(t) over the thresholds t at or below its evidence, the median of it over draws of the
probes with replacement (bagging: one draw's first dip below the level moves the cut far
where FDR(t) stays near it); it is flagged when its q-value is at most ``fdr``. Each kind
keeps its own flags at that level, so their union does too. π is the kind's estimated share;
where it comes to less than one row the kind flags nothing.

A calibration probe is built by giving an example drawn at random a different label; where
that example's own label was already wrong, the new label can be its true one. Such restored
probes are correctly labelled and score like clean rows, so the probes' survival understates
the members' by their share ε: S_members(t) = (S_probes(t) − ε·S_clean(t)) / (1 − ε), with
S_clean from the held-out clean suites' probes. Those are real examples with their given
labels, so on noisy data a share c of them are label errors themselves (measured by the same
mixture bound: see the engine); with S_cp their survival, S_clean = (S_cp − c·S_members) /
(1 − c), and solving both for the members gives S_members = (S_probes − ε·S_cp / (1 − c)) /
(1 − ε − ε·c / (1 − c)). A wrong source is drawn with probability π and a uniform flip lands
on its true class with probability 1/(C − 1), so ε = π/(C − 1);
flips towards a plausible class land there more often, so this ε is a lower bound and the
correction stays on the side of fewer flags. At 40% symmetric noise this is 4% of the probes
on Fashion-MNIST and 17% on the three-class airline tweets (docs/benchmarks.md).

An example drawn at random can also be a member of an input kind (a corrupted image, an
inserted one): relabelled, it is still an odd input whose label it does not bear out, and it
scores like the random-input probes (inputs without a class under a drawn label), below the
data's label errors of clean inputs. With δ_j the share of input kind j among the sources and
S_j its evidence, S_members = (S_probes − ε·S_cp / (1 − c) − Σ δ_j·S_j) / (1 − ε − ε·c / (1 − c)
− Σ δ_j). δ_j is the lower end of kind j's interval, so this errs on the side of fewer flags
too. In the Fashion-MNIST mix (8% of the sources such inputs) the uncorrected survival sat a
tenth below the members' at the top of the evidence, and the flags ran at 0.006–0.080 false
where the level is 0.1, catching 10–83% of the label errors; now 0.011–0.120 (0.058 on
average) and 54–88% over eight seeds (eight more: 0.012–0.101; docs/benchmarks.md).

π itself comes from the prevalence estimate, tightened by the same two distributions: since
every probe-like share of the real rows is at most the share of members, π ≤ S_real(t) /
S_probes(t) at every t (Blanchard, Lee and Scott's mixture proportion bound), which
:func:`mixture_proportion` evaluates. An earlier design calibrated conformal p-values against
the typical and atypical probes; hard but correct examples are not exchangeable with those,
and it let 15–45% false flags through at ``fdr`` 0.1 (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from stratigraphy.probes.suites import SUITES, suite_info

DEFAULT_FDR = 0.1
MPE_QUANTILES = (0.02, 0.8)
SYNTHETIC_REACH = 0.5
MPE_POINTS = 80
CONTRADICTION_Z = float(norm.isf(0.025 / MPE_POINTS))
MPE_Z = 1.0
MAX_THRESHOLDS = 8192
BAG_ROUNDS = 60
SPREAD = (0.1, 0.9)
LEVELS = (0.05, 0.1, 0.2)
SHORT_OF_PROBLEMS = 0.1


def _finite(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(a, dtype=np.float64), nan=-np.inf)


def survival(sorted_values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Share of ``sorted_values`` at least each t."""
    n = max(sorted_values.size, 1)
    return (sorted_values.size - np.searchsorted(sorted_values, t, side="left")) / n


def _members_reaching(others: list[tuple[float, np.ndarray]] | None, t: np.ndarray) -> np.ndarray:
    """Σ share · S(t) over other kinds given as (share, their probes' evidence): the share of
    the real rows that their members make up at or above each t."""
    total = np.zeros(np.shape(t))
    for share, values in others or []:
        if share > 0 and np.size(values):
            total += share * survival(np.sort(_finite(values)), t)
    return total


def _weighted(values: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Values sorted, with their weights' running sums (unit weights where none are given)."""
    values = _finite(values)
    w = np.ones(values.size) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    return values[order], np.cumsum(w[order])


def _weighted_survival(values: np.ndarray, cum: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Share of the weight at least each t (``values`` sorted, ``cum`` their running sums)."""
    before = np.concatenate([[0.0], cum])[np.searchsorted(values, t, side="left")]
    return (cum[-1] - before) / cum[-1]


def mixture_proportion(
    real: np.ndarray,
    probes: np.ndarray,
    z: float = MPE_Z,
    others: list[tuple[float, np.ndarray]] | None = None,
    weights: np.ndarray | None = None,
    reach: float = MPE_QUANTILES[1],
) -> float:
    """The smallest S_real(t) / S_probes(t) over the probes' quantiles between 2% and 80%: an
    upper bound on the share of the real rows distributed as the probes, tight where other rows
    seldom reach the probes' evidence. S_probes is taken one standard error low, since the
    smallest of many noisy ratios would otherwise fall below the share (by 3 points at a 40%
    share with 250 probes; within half a point so). A larger share lets more false flags
    through, so ``z`` stays where the bound is at most unbiased (docs/benchmarks.md).
    ``others``: (share, evidence of their probes) of other kinds whose members reach this
    evidence too; their part of S_real is taken off first (the members of all kinds together
    are at most the rows reaching t), so label errors that look a little like random inputs
    do not leave a random-input share behind. ``weights``: the probes' importance weights,
    where they are drawn unlike the members (the standard error then uses their effective
    number, (Σw)² / Σw²). ``reach``: the probes' highest quantile taken (see
    :func:`probe_reach`)."""
    grid = _survival_grid(real, probes, others, weights, reach)
    if grid is None:
        return 0.0
    s_real, s_probes, n_eff = grid
    lower = s_probes - z * np.sqrt(s_probes * (1.0 - s_probes) / n_eff)
    ratio = s_real / np.maximum(lower, 1e-12)
    return float(np.clip(ratio.min(), 0.0, 1.0))


def _survival_grid(
    real: np.ndarray,
    probes: np.ndarray,
    others: list[tuple[float, np.ndarray]] | None = None,
    weights: np.ndarray | None = None,
    reach: float = MPE_QUANTILES[1],
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """At the probes' quantiles between 2% and ``reach`` (80%): the real rows' survival less the
    other kinds' members (at least 0), the probes' survival, and the probes' effective number;
    None where either side is empty."""
    real = np.sort(_finite(real))
    probes, cum = _weighted(probes, weights)
    if real.size == 0 or probes.size == 0 or cum[-1] <= 0:
        return None
    if weights is None:
        t = np.quantile(probes, np.linspace(MPE_QUANTILES[0], reach, MPE_POINTS))
        n_eff = float(probes.size)
    else:
        w = np.diff(np.concatenate([[0.0], cum]))
        at = (cum - w) / max(cum[-1] - w[-1], 1e-12)
        t = np.interp(np.linspace(MPE_QUANTILES[0], reach, MPE_POINTS), at, probes)
        n_eff = cum[-1] ** 2 / max(float((w**2).sum()), 1e-12)
    s_real = np.maximum(survival(real, t) - _members_reaching(others, t), 0.0)
    return s_real, _weighted_survival(probes, cum, t), n_eff


def contradicts_share(
    real: np.ndarray,
    probes: np.ndarray,
    share: float,
    others: list[tuple[float, np.ndarray]] | None = None,
    z: float = CONTRADICTION_Z,
    reach: float = MPE_QUANTILES[1],
) -> bool:
    """Whether the probes show ``share`` too large for the real rows: at some threshold t,
    share · S_probes(t) exceeds S_real(t) by more than ``z`` standard errors of the difference
    (binomial, real rows and probes). ``z`` holds the 95% level over the thresholds together
    (one-sided 2.5%, Bonferroni over the 80 of :func:`mixture_proportion`). The bound itself is
    the smallest of 80 noisy ratios: with 50 calibration probes a draw that scores high moves
    it half below the truth (digits, seed 0: 5.6% against 11%), where EM's estimate is right
    and this test does not reject it (docs/benchmarks.md)."""
    grid = _survival_grid(real, probes, others, reach=reach)
    if grid is None or share <= 0:
        return False
    s_real, s_probes, n_eff = grid
    se = np.sqrt(share**2 * s_probes * (1.0 - s_probes) / n_eff
                 + s_real * (1.0 - s_real) / np.size(real))  # fmt: skip
    excess = share * s_probes - s_real
    return bool(np.any(excess > z * np.maximum(se, 1e-12)))


def probe_reach(kind: str) -> float:
    """How far up its probes' evidence a kind's members are taken to reach as often as the
    probes do: the bound's thresholds run to this quantile. Probes drawn from the data or made
    from one of its examples each, to their 80th percentile; probes of no one example
    (``synthetic`` suites: random inputs, patches shuffled and examples blended) to their
    median. Such probes are the most extreme of their kind, and the data's members reach their
    top less often: the Fashion-MNIST mix's inserted digits pass the random-input probes' median
    at 37% and their 80th percentile at 3% (seed 7), so the bound to the 80th read 0.0% against
    3.05% and cut EM's 3.7% to it; to the median it reads 2.0% (docs/benchmarks.md)."""
    return SYNTHETIC_REACH if suite_info(kind).origin == "synthetic" else MPE_QUANTILES[1]


def reach_bounds(
    real: np.ndarray, probes: np.ndarray, kind: str,
    others: list[tuple[float, np.ndarray]] | None = None,
) -> tuple[float, float]:  # fmt: skip
    """A kind's mixture bound to its probes' reach (:func:`probe_reach`), which holds its
    share, and to their 80th percentile, the same where that is the reach: that one assumes
    the members reach the probes' top as often as the probes, so it is where a synthetic kind's
    interval may reach down to and the share its flags assume (flags err on the side of fewer:
    with nothing planted the random-input evidence of a few odd clean images passes the
    probes' median and none their top)."""
    reach = probe_reach(kind)
    bound = mixture_proportion(real, probes, others=others, reach=reach)
    if reach == MPE_QUANTILES[1]:
        return bound, bound
    return bound, min(bound, mixture_proportion(real, probes, others=others))


def mixture_proportion_interval(
    real: np.ndarray,
    probes: np.ndarray,
    seed: int = 0,
    rounds: int = 200,
    level: float = 0.95,
    others: list[tuple[float, np.ndarray]] | None = None,
    reach: float = MPE_QUANTILES[1],
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`mixture_proportion` over real rows and probes."""
    real, probes = _finite(real), _finite(probes)
    if real.size == 0 or probes.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng([seed, 0x3BE])
    draws = [mixture_proportion(real[rng.integers(0, real.size, real.size)],
                                probes[rng.integers(0, probes.size, probes.size)],
                                others=others, reach=reach)
             for _ in range(rounds)]  # fmt: skip
    tail = (1.0 - level) / 2
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def mixture_proportion_estimate(
    real: np.ndarray, probes: np.ndarray, seed: int = 0
) -> tuple[float, float, float]:
    """:func:`mixture_proportion` and its bootstrap interval, widened to hold it (no interval
    is drawn where the bound is zero)."""
    value = mixture_proportion(real, probes)
    if value <= 0:
        return 0.0, 0.0, 0.0
    low, high = mixture_proportion_interval(real, probes, seed)
    return value, min(low, value), max(high, value)


@dataclass(frozen=True)
class CalibrationMix:
    """What a wrong-label kind's calibration probes hold besides its members (see the module's
    docstring): ``restored``, the share ε a new label made correct, scoring like the clean
    suites' probes (evidence ``clean``, a share ``contamination`` of them the kind's members);
    ``inputs``, per input kind its name, the share δ of the probes drawn from its members and
    the evidence they score like."""

    restored: float = 0.0
    clean: np.ndarray | None = None
    contamination: float = 0.0
    inputs: tuple[tuple[str, float, np.ndarray], ...] = ()

    def shares(self) -> dict[str, float]:
        """The shares of the probes taken for non-members: restored, and per input kind."""
        return {"restored": float(self.restored), **{k: float(d) for k, d, _ in self.inputs}}

    def non_members(self, thresholds: np.ndarray) -> tuple[np.ndarray, float]:
        """The survival the non-members add to the probes' at each threshold, and the members'
        part of the probes once the clean suites' own members are solved for: S_members =
        (S_probes − first) / second."""
        discount, scale = np.zeros(np.shape(thresholds)), 1.0
        if self.restored > 0 and self.clean is not None and np.size(self.clean):
            eps, c = min(self.restored, 0.5), min(self.contamination, 0.5)
            discount += eps * survival(np.sort(_finite(self.clean)), thresholds) / (1.0 - c)
            scale -= eps + eps * c / (1.0 - c)
        for _, share, values in self.inputs:
            if share > 0 and np.size(values):
                discount += share * survival(np.sort(_finite(values)), thresholds)
                scale -= share
        return discount, max(scale, 0.1)


@dataclass
class KindCut:
    """One kind's estimated false-discovery rate as a step function of the evidence;
    ``flagged_spread``: the share of the real rows it flags at the flagger's level, 10th to
    90th percentile as the probes are drawn again; ``reach``: the share of the real rows at or
    above each threshold (None: no real rows)."""

    thresholds: np.ndarray
    q: np.ndarray
    prior: float
    probes: int
    flagged_spread: tuple[float, float] = (0.0, 0.0)
    reach: np.ndarray | None = None

    def q_values(self, scores: np.ndarray) -> np.ndarray:
        j = np.searchsorted(self.thresholds, _finite(scores), side="right") - 1
        return np.where(j >= 0, self.q[np.maximum(j, 0)], 1.0)

    def cut(self, fdr: float) -> float | None:
        """The lowest evidence flagged at ``fdr`` (None: nothing is)."""
        ok = np.flatnonzero(self.q <= fdr)
        return float(self.thresholds[ok[0]]) if ok.size else None

    def flagged_share(self, fdr: float) -> float:
        """The share of the real rows this kind flags at ``fdr``: what another error level
        would give, read off the same q-values without fitting again."""
        return 0.0 if self.reach is None else _flagged(self.q, self.reach, fdr)


@dataclass
class MixtureFlagger:
    """Per kind, the q-value of any evidence; rows flagged where their smallest q ≤ ``fdr``."""

    kinds: list[str]
    cuts: dict[str, KindCut]
    fdr: float = DEFAULT_FDR
    withheld: tuple[str, ...] = ()
    discounted: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        kinds: list[str],
        probes: dict[str, np.ndarray],
        reference: dict[str, np.ndarray],
        prior: dict[str, float],
        fdr: float = DEFAULT_FDR,
        others: dict[str, dict[str, np.ndarray]] | None = None,
        withheld: tuple[str, ...] = (),
        mix: dict[str, CalibrationMix] | None = None,
        seed: int = 0,
        rounds: int = BAG_ROUNDS,
    ) -> MixtureFlagger:
        """``probes``: each kind's probes' evidence; ``reference``: the real rows' (a sample
        stands for all); ``prior``: each kind's share of the real rows; ``others[k][j]``: kind
        ``k``'s evidence on kind ``j``'s probes (problems of another kind, counted as found);
        ``withheld``: kinds whose probes are known not to stand for the data's members, so no
        error rate can be vouched for: they flag nothing, and their probes do not join the
        other kinds' alternative either; ``mix[k]``: what kind ``k``'s probes hold besides
        its members (:class:`CalibrationMix`); ``rounds``: probe draws the q-values are the
        median over (0: the probes as they are)."""
        others, mix = others or {}, mix or {}
        cuts = {
            k: KindCut(np.array([np.inf]), np.ones(1), float(prior[k]), int(np.size(probes[k])))
            if k in withheld else
            _kind_cut(reference[k], probes[k], prior[k],
                      [(prior[j], v) for j, v in others.get(k, {}).items()
                       if j != k and j not in withheld], mix.get(k),
                      fdr=fdr, seed=seed, rounds=rounds)
            for k in kinds
        }  # fmt: skip
        discounted = {k: m.shares() for k, m in mix.items() if k in kinds and k not in withheld}
        return cls(kinds, cuts, fdr, tuple(withheld), discounted)

    def q_values(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: self.cuts[k].q_values(scores[k]) for k in self.kinds}

    def combined(self, q: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's smallest q-value over the kinds, and that kind's position."""
        stacked = np.stack([q[k] for k in self.kinds], axis=1)
        return stacked.min(1), stacked.argmin(1)

    def flag(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(q) <= self.fdr

    def summary(self) -> dict[str, object]:
        return {
            "method": "two-groups false-discovery rate against the probes",
            "evidence_cut": {k: c.cut(self.fdr) for k, c in self.cuts.items()},
            "prior": {k: c.prior for k, c in self.cuts.items()},
            "probes": {k: c.probes for k, c in self.cuts.items()},
            "flagged_share_spread": {k: list(c.flagged_spread) for k, c in self.cuts.items()},
            "flagged_share_at": {
                k: {f"{level:g}": c.flagged_share(level) for level in sorted({*LEVELS, self.fdr})}
                for k, c in self.cuts.items()
            },  # fmt: skip
            "withheld": list(self.withheld),
            "probes_discounted": self.discounted,
        }


def _kind_cut(
    reference: np.ndarray,
    probes: np.ndarray,
    prior: float,
    others: list[tuple[float, np.ndarray]] | None = None,
    mix: CalibrationMix | None = None,
    *,
    fdr: float = DEFAULT_FDR,
    seed: int = 0,
    rounds: int = BAG_ROUNDS,
) -> KindCut:
    """The q-value at every threshold: the median over ``rounds`` draws of the probes (with
    replacement) of the running minimum of the estimated FDR. The estimate stays near the
    level over a long stretch of evidence, so one draw's first dip below it moves the cut far
    (the flag count swung by 3–70 times with the seed); the median over draws is bagging's
    steadier cut (docs/benchmarks.md). The median of non-increasing curves is one too. A kind
    expected to hold less than one of the rows flags none of them: its q-values would rest on
    the other kinds' members alone."""
    real = np.sort(_finite(reference))
    alt = np.sort(_finite(probes))
    thresholds = np.unique(real)
    if thresholds.size > MAX_THRESHOLDS:
        thresholds = np.unique(np.quantile(real, np.linspace(0, 1, MAX_THRESHOLDS)))
    if prior * real.size < 1 or alt.size == 0 or thresholds.size == 0:
        return KindCut(thresholds, np.ones(thresholds.size), float(prior), int(alt.size))
    s_real = survival(real, thresholds)
    discount, scale = (mix or CalibrationMix()).non_members(thresholds)
    reached = _members_reaching(others, thresholds)

    def q_of(drawn: np.ndarray) -> np.ndarray:
        members = (survival(drawn, thresholds) - discount) / scale
        found = prior * np.clip(members, 0.0, 1.0) + reached
        rate = 1.0 - found / np.maximum(s_real, 1e-12)
        return np.minimum.accumulate(np.clip(rate, 0.0, 1.0))

    if rounds < 1:
        q = q_of(alt)
        return KindCut(
            thresholds, q, float(prior), int(alt.size), (_flagged(q, s_real, fdr),) * 2, s_real
        )
    rng = np.random.default_rng([seed, 0xBA6])
    draws = np.stack([q_of(np.sort(alt[rng.integers(0, alt.size, alt.size)]))
                      for _ in range(rounds)])  # fmt: skip
    flagged = [_flagged(d, s_real, fdr) for d in draws]
    low, high = np.quantile(flagged, SPREAD)
    return KindCut(thresholds, np.median(draws, axis=0), float(prior), int(alt.size),
                   (float(low), float(high)), s_real)  # fmt: skip


def _flagged(q: np.ndarray, s_real: np.ndarray, fdr: float) -> float:
    """The share of the real rows a q-value curve flags at ``fdr``."""
    ok = np.flatnonzero(q <= fdr)
    return float(s_real[ok[0]]) if ok.size else 0.0


def flagged_spread(summary: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per kind, how many of the data's examples the flags would take at the 10th and 90th
    percentile of the probe draws: ``summary.json``'s ``flags.flagged_share_spread`` over its
    ``n_examples``, moved as :func:`flagged_at`'s counts are by what the source fold's rows
    flag short of the main training's share (on the digits default at 0.2, 177 flagged where
    the unmoved spread read 184–203). Empty for a summary written before it was recorded."""
    n = int(summary.get("n_examples", 0))
    flags = summary.get("flags", {})
    spread = flags.get("flagged_share_spread", {})
    return {k: (_counted(flags, k, lo, n), _counted(flags, k, hi, n))
            for k, (lo, hi) in spread.items()}  # fmt: skip


def _counted(flags: dict[str, Any], kind: str, share: float, n: int) -> int:
    """How many of the ``n`` examples a kind would flag where the main training's rows flag
    ``share``: the count flagged at the run's level, moved by ``share``'s difference from the
    share flagged there (the source fold's rows flag at their own, lower rate, so ``share``
    times ``n`` alone would foretell more); ``share`` times ``n`` where that share is not
    recorded."""
    at = flags.get("flagged_share_at", {}).get(kind, {})
    fdr = f"{flags.get('fdr', 0):g}"
    if fdr not in at:
        return max(0, round(share * n))
    return max(0, flags["by_kind"].get(kind, 0) + round((share - at[fdr]) * n))


def flagged_at(summary: dict[str, Any]) -> dict[str, dict[float, int]]:
    """Per kind, about how many of the data's examples would be flagged at each of a few error
    levels: what a stricter or looser ``--fdr`` would give, without fitting again. The
    count flagged at the run's level, moved by the change ``summary.json``'s
    ``flags.flagged_share_at`` foretells over its ``n_examples`` (the shares are the main
    training's; the source fold's rows flag at their own, lower rate, so scaling the share
    alone would foretell more at the run's level than it flagged). Empty for a summary
    written before it was recorded."""
    n = int(summary.get("n_examples", 0))
    flags = summary.get("flags", {})
    return {k: {float(lv): _counted(flags, k, share, n) for lv, share in by.items()}
            for k, by in flags.get("flagged_share_at", {}).items()}  # fmt: skip


def other_levels(summary: dict[str, Any]) -> list[float]:
    """The error levels :func:`flagged_at` counts besides the run's own, in order."""
    fdr = float(summary.get("flags", {}).get("fdr", 0))
    return sorted({lv for by in flagged_at(summary).values() for lv in by} - {fdr})


@dataclass(frozen=True)
class Shortfall:
    """Flags far fewer than the problems the data surely holds: ``flagged`` of at least
    ``estimated``; ``looser``: the next looser error level and about how many it would flag
    (None where no count is recorded); ``level``: the level to suggest (that one, else twice
    the run's, at most 0.9)."""

    flagged: int
    estimated: int
    looser: tuple[float, int] | None
    level: float


def flag_shortfall(summary: dict[str, Any]) -> Shortfall | None:
    """Whether a run's flags number under ``SHORT_OF_PROBLEMS`` of the examples the lower ends
    of the flagged kinds' shares hold (withheld kinds aside): their evidence overlaps ordinary
    examples too much for a queue that clean, and the user should hear it with how many a
    looser level gives (tweets, 20% symmetric noise, seed 0: 21 flags where at least 2,977
    errors are estimated, about 2,089 at 0.2; docs/benchmarks.md). None where the flags are
    not short, where the kinds' shares may be all but absent (under ``1 / SHORT_OF_PROBLEMS``
    examples at their lower ends), or where the looser level would not flag a tenth of them
    more (nothing to suggest: the tweets with asymmetric noise hold at least 12 random inputs
    by the lower end, and 0.2 flags none)."""
    prevalence, flags = summary.get("prevalence"), summary.get("flags")
    if not prevalence or not flags:
        return None
    withheld = set(flags.get("withheld", []))
    kinds = [k for k in flags.get("by_kind", {}) if k not in withheld]
    n = int(summary.get("n_examples", 0))
    estimated = int(n * sum(prevalence.get("low", {}).get(k, 0.0) for k in kinds))
    flagged = sum(int(flags["by_kind"][k]) for k in kinds)
    if estimated * SHORT_OF_PROBLEMS < 1 or flagged >= SHORT_OF_PROBLEMS * estimated:
        return None
    at = flagged_at(summary)
    looser = [lv for lv in other_levels(summary) if lv > float(flags["fdr"])]
    count = (looser[0], sum(at[k][looser[0]] for k in kinds if k in at)) if looser else None
    if count is not None and count[1] < flagged + SHORT_OF_PROBLEMS * estimated:
        return None
    level = count[0] if count is not None else min(2 * float(flags["fdr"]), 0.9)
    return Shortfall(flagged, estimated, count, level)


def withholds_wrong_labels(withheld: Iterable[str]) -> bool:
    """Whether any of the ``withheld`` kinds is a wrong-label kind (its probes unlike the data's
    errors): the likeliest label errors are then ranked without the probes and reviewed by
    rank, none being flagged."""
    return any(k in SUITES and suite_info(k).label_wrong for k in withheld)


def wrong_labels_withheld(summary: dict[str, Any]) -> bool:
    """:func:`withholds_wrong_labels` of a run's ``summary.json``."""
    return withholds_wrong_labels(summary.get("flags", {}).get("withheld", []))
