"""Each problem kind's share of the data, tightened by its probes.

EM's priors (:mod:`stratigraphy.analysis.prevalence`) rest on inferers trained on balanced
probe suites. Here they are checked against what the probes show directly: the label errors
among the clean suites' probes and the wrong-label probes a new label made correct are counted
as such (:meth:`KindShares._unmix_suites`); each problem kind's share is held to the mixture
bound of its evidence against its probes, where the data contradict it, and which share its
flags assume is set (:meth:`KindShares._tighten_shares`); an input kind whose probes keep their
neighbours' label is measured among the rows that do (:meth:`KindShares._measure_where_agreeing`).
:class:`KindShares` holds these steps for :class:`stratigraphy.analysis.engine.AnalysisEngine`,
which fits the inferers, the flags and the verdicts around them. Measurements:
``docs/benchmarks.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np
from scipy.stats import binomtest

from stratigraphy.analysis.confusions import top_pairs
from stratigraphy.analysis.flags import (
    contradicts_share,
    mixture_proportion,
    mixture_proportion_estimate,
    mixture_proportion_interval,
    probe_reach,
    reach_bounds,
)
from stratigraphy.analysis.mislabel import PROBE_FREE_SCORE
from stratigraphy.analysis.prevalence import Prevalence, estimate_prevalence, shift_estimate
from stratigraphy.probes.build import ProbedData
from stratigraphy.probes.suites import TYPICAL, suite_info
from stratigraphy.rundir.layout import balanced_column

MPE_FALLBACK = 0.02
AGREEING_LEVEL = 0.025
LOOKALIKE_RECALL = 0.5
MIN_AGREEING_ROWS = 100
NOTE_PART = 0.05
ABSENT_NOTE = 0.01


class Agreement(NamedTuple):
    """Whether each real row's label is its neighbours' plurality; per suite how many of its
    probes' is, of how many; per label-keeping input kind the share of the examples that look
    like its transform, and the detector's recall on fresh transforms
    (:meth:`KindShares._measure_where_agreeing`)."""

    agrees: np.ndarray
    counts: dict[str, tuple[int, int]]
    lookalike: dict[str, float] | None = None
    recall: dict[str, float] | None = None

    @classmethod
    def of(cls, probed: ProbedData, examples: np.ndarray) -> Agreement:
        """The agreement of ``examples`` (the real rows, as example indices) and ``probed``'s
        probes, and the share of ``probed``'s examples like each kind's transform."""
        n = max(int(probed.source_labels.size), 1)
        return cls(probed.typicality.agrees[examples], probed.agreement_counts(),
                   {k: c / n for k, c in probed.lookalikes.items()},
                   dict(probed.lookalike_recall))  # fmt: skip

    def counted(self) -> dict[str, float]:
        """Per kind, the share of the examples like its transform over the detector's recall
        on fresh ones (adjusted classify and count), where that recall is at least
        ``LOOKALIKE_RECALL``: a detector that misses most transforms reads no share."""
        lookalike = self.lookalike or {}
        return {k: min(1.0, lookalike[k] / r) for k, r in (self.recall or {}).items()
                if k in lookalike and r >= LOOKALIKE_RECALL}  # fmt: skip


def inputs_bear_out(found: float, share: float) -> bool:
    """Whether ``found``, the share of the inputs like a kind's transform, bears out ``share``
    of the kind: at least ``LOOKALIKE_RECALL`` of it."""
    return found >= LOOKALIKE_RECALL * share


def mostly_agree(agreeing: int, probes: int, level: float = AGREEING_LEVEL) -> bool:
    """Whether more than half of a suite's probes keep their neighbours' label, at one-sided
    ``level`` (a binomial test against one half): ``agreeing`` of ``probes`` do."""
    if probes <= 0 or 2 * agreeing <= probes:
        return False
    return bool(binomtest(agreeing, probes, 0.5, alternative="greater").pvalue < level)


class _Settings(Protocol):
    """What the share estimates read of the engine's settings."""

    seed: int
    prevalence: str


class KindShares:
    """The steps that fix each kind's share of the data and the share its flags assume, over
    the state an engine fits: its suites, its priors (``prevalence_``) and what the probes
    showed of them (``unmixing_``, ``withheld_``, ``flag_scale_``, ``notes_``)."""

    config: _Settings
    suites_: list[str]
    n_classes_: int
    calibration_probes_: bool
    prevalence_: Prevalence
    unmixing_: tuple[tuple[int, int, float, float, float], ...] = ()
    error_pairs_: np.ndarray | None = None
    class_names_: list[str] | None = None
    measured_where_agreeing_: tuple[str, ...] = ()
    prevalence_notes_: tuple[str, ...] = ()
    notes_: list[str]
    withheld_: list[str]
    reweighted_: dict[str, dict[str, Any]]
    flag_scale_: dict[str, float]

    def _unmix_suites(self, real: dict[str, np.ndarray], probes: dict[str, np.ndarray],
                      probe_suite: np.ndarray, pool: np.ndarray | None) -> None:  # fmt: skip
        """Measure the label errors among the clean suites' probes, and the wrong-label probes
        that a new label made correct. Typical and atypical probes are real examples with their
        given labels, so on noisy data some are mislabeled (at 40% symmetric noise 17–23% of the
        typical ones), the inferers learn that such trajectories are partly clean, and EM's
        share of the wrong-label suite falls short of the data's (36% against 42%). Each clean
        suite's share of label errors is the mixture proportion of the wrong-label probes'
        evidence in its held-out probes (Blanchard, Lee and Scott; see
        :mod:`stratigraphy.analysis.flags`): a suite's density is its members' and its errors'
        mixture, so the kinds' shares are the suites' shares through that mixture
        (:meth:`kind_prevalence`). The suites' shares themselves stay as they are: they are the
        priors of the inferers' posteriors, and the flags' share, which an overestimate would
        fill with false flags (raised at most to the kinds' share's lower end, where calibration
        probes stand for those errors: ``AnalysisEngine._for_flags``). Only wrong-label
        kinds: their calibration probes are drawn like the data's own errors, while a kind's
        posterior on clean probes (a blurred-looking atypical image) measures nothing of the
        sort (docs/benchmarks.md).

        The other way round: the wrong-label suite's probes relabel examples of the ``pool``,
        some of which were mislabeled already, and a new label can be the true one (4–7% of them
        on the tweets at 40% noise). The pool's share of label errors e is measured the same
        way on its real rows, and e/(C − 1) of the wrong-label suite (a uniform flip's chance
        of landing on the true class: a lower bound, see :mod:`stratigraphy.analysis.flags`)
        counts as typical, the clean-looking suite the pool resembles."""
        moves = []
        for kind in self._flag_kinds():
            own = probes[kind][probe_suite == kind]
            if not suite_info(kind).label_wrong or own.size == 0:
                continue
            target = self.suites_.index(kind)
            for clean in self._clean_suites():
                theirs = probes[kind][probe_suite == clean]
                part, low, high = mixture_proportion_estimate(theirs, own, self.config.seed)
                if part <= 0:
                    continue
                moves.append((self.suites_.index(clean), target, part, low, high))
                if part >= NOTE_PART:
                    flags = (
                        "the flags assume at least the lower end of that share, since the "
                        "calibration probes, drawn from any example, stand for these errors too"
                        if self.calibration_probes_
                        else f"the flags use the {kind} probes' share alone, so they stay on the "
                        "side of fewer"
                    )
                    self.notes_.append(
                        f"{part:.0%} of the {clean} probes look like {kind} examples themselves "
                        "(their given labels are wrong): the data is noisy enough that "
                        f"examples chosen as {clean} carry label errors too. They count as "
                        f"{kind} in the estimated shares; {flags}."
                    )
            restored = self._restored_in_suite(real[kind], own, pool)
            if restored is not None:
                moves.append((target, *restored))
        self.unmixing_ = tuple(moves)

    def _restored_in_suite(
        self, real: np.ndarray, own: np.ndarray, pool: np.ndarray | None
    ) -> tuple[int, float, float, float] | None:
        """The typical suite, and the share of a wrong-label suite's probes that a new label
        made correct, with its interval (see :meth:`_unmix_suites`); None where not measured."""
        if (pool is None or not pool.any() or not self.calibration_probes_
                or self.n_classes_ < 2 or TYPICAL.name not in self.suites_):  # fmt: skip
            return None
        errors, low, high = mixture_proportion_estimate(real[pool], own, self.config.seed)
        if errors <= 0:
            return None
        chance = 1.0 / (self.n_classes_ - 1)
        return self.suites_.index(TYPICAL.name), errors * chance, low * chance, high * chance

    def kind_prevalence(self, prevalence: Prevalence | None = None) -> Prevalence:
        """The share of each kind in the data: the suites' shares (``prevalence``, default this
        engine's) with the label errors among the clean suites' probes counted as such, and the
        wrong-label probes relabelled back to their true class as typical (see
        :meth:`_unmix_suites`)."""
        out = self.prevalence_ if prevalence is None else prevalence
        return out.remixed(self.unmixing_)

    def prevalence_summary(self, prevalence: Prevalence) -> dict[str, Any]:
        """``summary.json``'s shares: :meth:`kind_prevalence` of ``prevalence``, with any bound
        measured against probes weighted to the data's own confusions (:meth:`_reweigh_share`)."""
        return {
            **self.kind_prevalence(prevalence).to_dict(),
            "confusion_weighted": self.reweighted_,
        }

    def _tighten_shares(self, real: dict[str, np.ndarray], probes: dict[str, np.ndarray],
                        probe_suite: np.ndarray, weights: np.ndarray | None = None,
                        posteriors: tuple[np.ndarray, np.ndarray] | None = None,
                        ) -> None:  # fmt: skip
        """Each problem kind's share is at most the mixture-proportion bound of its evidence
        against its probes, less the members of the kinds bounded before it (wrong labels
        first) that reach it (see :mod:`stratigraphy.analysis.flags`). Where the estimate lies
        above the bound by more than the probes' draw explains (:func:`contradicts_share`), the
        share is cut to the bound, the freed share going to the clean kinds; otherwise the
        estimate stays and its interval reaches down to the bound. For a wrong-label kind
        whose bound contradicts the estimate and falls far below it (more than
        ``MPE_FALLBACK`` and under half), the probes do not resemble the data's label errors:
        the estimate stays, and since the flags' error rate is measured against those probes,
        that kind's flags are withheld (measured in docs/benchmarks.md: with such noise the top
        of the evidence held 20–50% false flags at ``fdr`` 0.1), with a note saying so, and
        the share is measured again against the probes weighted to the data's own error pairs
        to bound how far off the estimate can be (:meth:`_reweigh_share`)."""
        clean = [self.suites_.index(c) for c in self._clean_suites()]
        bounded: list[str] = []
        for kind in self._flag_kinds():
            j = self.suites_.index(kind)
            own = probes[kind][probe_suite == kind]
            others = [
                (
                    float(self.prevalence_.share[self.suites_.index(o)]),
                    probes[kind][probe_suite == o],
                )
                for o in bounded
                if o not in self.withheld_
            ]
            bounded.append(kind)
            bound, floor = reach_bounds(real[kind], own, kind, others)
            estimate = float(self.prevalence_.share[j])
            contradicted = bound < estimate and contradicts_share(
                real[kind], own, estimate, others, reach=probe_reach(kind)
            )
            unlike = contradicted and estimate - bound > MPE_FALLBACK and bound < estimate / 2
            if suite_info(kind).label_wrong and unlike:
                self.withheld_.append(kind)
                own_weights = None if weights is None else weights[probe_suite == kind]
                shift = None if posteriors is None else (*posteriors, probe_suite)
                self._reweigh_share(kind, (real[kind], own, own_weights), (bound, floor), others,
                                    shift)  # fmt: skip
                continue
            if contradicted:
                self._cap_at_bound(kind, (bound, floor), real[kind], own, others, clean)
            elif floor < estimate:
                self._keep_above_bound(kind, bound, floor)
            elif bound > float(self.prevalence_.high[j]) and kind in self._input_kinds():
                self._reach_bound(kind, bound)
        self._unflag_unestablished()
        self._unflag_measured_where_agreeing()

    def _unflag_measured_where_agreeing(self) -> None:
        """A kind measured among the rows whose label their neighbours share flags nothing: its
        evidence barely parts its members from hard clean examples, and its share, measured in
        part of the data, would also count as other kinds' problems found in their flags. In
        the Fashion-MNIST mix such corrupted flags were 18% false where the share came out 2.5
        points over the truth (38 flags), and 8 of 24 false over four seeds of an earlier
        draft (docs/benchmarks.md). The review page ranks the likeliest."""
        for kind in self.measured_where_agreeing_:
            self.flag_scale_[kind] = 0.0
            share = float(self.prevalence_.share[self.suites_.index(kind)])
            if share * self.prevalence_.n >= 1:
                self.notes_.append(
                    f"{share:.1%} of the examples are estimated {kind}: such inputs keep their "
                    f"neighbours' label, so their share is read from the inputs that look like "
                    f"the {kind} transform (or among the examples whose label their neighbours "
                    f"share). The {kind} evidence does not part such examples from hard clean "
                    f"ones well enough to vouch for an error rate, so nothing is flagged as "
                    f"{kind}; the review page ranks the likeliest."
                )

    def _unflag_unestablished(self) -> None:
        """A problem kind whose interval reaches zero, or less than one of the rows, may be
        absent, and flags at a share that may be zero can all be false (the airline tweets with
        asymmetric noise: 2 random-input flags at 0.1%, interval from 0, neither on a planted
        problem; the digits default: 8 at 0.26%, interval from 0.006%, a tenth of a row, all
        clean digits; docs/benchmarks.md): it flags nothing, and a note says so where it would
        have flagged."""
        for kind in self._flag_kinds():
            j = self.suites_.index(kind)
            share, low = float(self.prevalence_.share[j]), float(self.prevalence_.low[j])
            if low * self.prevalence_.n >= 1 or share <= 0 or kind in self.withheld_:
                continue
            self.flag_scale_[kind] = 0.0
            if share * self.prevalence_.n >= 1:
                self.notes_.append(
                    f"{share:.1%} of the examples are estimated {kind}, but the interval "
                    f"reaches 0 (less than one example): the kind may be absent, so no error "
                    f"rate can be vouched for and nothing is flagged as {kind}. The review page "
                    f"ranks the likeliest."
                )

    def _cap_at_bound(
        self, kind: str, bounds: tuple[float, float], real: np.ndarray, own: np.ndarray,
        others: list[tuple[float, np.ndarray]], clean: list[int],
    ) -> None:  # fmt: skip
        """A kind's share is its mixture bound where the probes contradict EM's estimate, the
        freed share going to the ``clean`` kinds. The interval runs from the bound's lower end
        to EM's upper end: the two err in opposite directions (EM turns the inferers'
        miscalibration on hard clean rows into a share, 1.6% of label errors on Fashion-MNIST
        with none; the bound falls short where the calibration probes score above the data's
        errors), so the truth lies between them (docs/benchmarks.md). A note says so where
        they are 2 points apart. The flags assume the interval's lower end: at the bound itself
        the rows above the threshold that sets it all count as members, and where a few odd
        clean rows set it, they were all flagged (Fashion-MNIST with asymmetric noise: 7
        random-input flags at 0.1%, every one a clean image). ``bounds``: the bound and the
        interval's lowest (:func:`reach_bounds`)."""
        j = self.suites_.index(kind)
        (bound, floor), em_high = bounds, float(self.prevalence_.high[j])
        estimate = float(self.prevalence_.share[j])
        low = self._bound_low(kind, real, own, others, floor)
        self.prevalence_ = self.prevalence_.with_share(j, bound, low, em_high, into=clean or None)
        if bound > 0:
            self.flag_scale_[kind] = min(low, bound) / bound
        if estimate - bound > MPE_FALLBACK:
            self.notes_.append(
                f"EM puts {estimate:.1%} of the examples trained beside the probes at {kind}, "
                f"but at most {bound:.1%} of them score like the {kind} probes: the smaller is "
                f"kept and the interval reaches EM's, since either can be off (EM where hard "
                f"examples look like {kind} ones to the inferers, the bound where the probes "
                f"look more like {kind} examples than the data's own do)."
            )

    def _bound_low(self, kind: str, real: np.ndarray, own: np.ndarray,
                   others: list[tuple[float, np.ndarray]], floor: float) -> float:  # fmt: skip
        """The lowest a kind's interval reaches where it runs down to the mixture bound: the
        bound's bootstrap lower end, or ``floor`` (:func:`reach_bounds`) if that is lower."""
        low, _ = mixture_proportion_interval(real, own, self.config.seed, others=others,
                                             reach=probe_reach(kind))  # fmt: skip
        return min(low, floor)

    def _keep_above_bound(self, kind: str, bound: float, floor: float) -> None:
        """EM's share stays where it lies above the mixture bound by no more than the probes'
        draw explains (:func:`contradicts_share`); the interval reaches down to the bound, and
        a note says so where they are 2 points apart. The flags do not take EM's share: once a
        kind's members are found, each further flag at level α needs (1 − α) of a member, so
        they number about share · n / (1 − α), and a share above the truth lets false flags in
        one for one (digits, seed 3: EM's 11.8% against 11.1% took the realised false share
        from 0.108 to 0.164; docs/benchmarks.md). A wrong-label kind measured against
        calibration probes (drawn like the data's own errors) flags at the larger of the bound
        and EM's lower end; any other kind at the bound: its probes are made, not drawn, and
        where they reach further than the data's members a share above the bound lets false
        flags in (the Fashion-MNIST mix's random input: 11% → 15% false at EM's lower end).
        ``floor``: the bound a synthetic kind's members may fall short of (:func:`reach_bounds`),
        its interval's lowest and its flags' share."""
        j = self.suites_.index(kind)
        estimate = float(self.prevalence_.share[j])
        drawn = bool(suite_info(kind).label_wrong) and self.calibration_probes_
        for_flags = max(bound, float(self.prevalence_.low[j])) if drawn else floor
        self.flag_scale_[kind] = for_flags / estimate
        self.prevalence_ = self.prevalence_.with_share(
            j, estimate, min(float(self.prevalence_.low[j]), floor),
            float(self.prevalence_.high[j]), into=[],
        )  # fmt: skip
        if estimate - bound > MPE_FALLBACK:
            self.notes_.append(
                f"At most {bound:.1%} of the examples trained beside the probes score like the "
                f"{kind} probes, below EM's {estimate:.1%}, but by no more than the draw of "
                f"{kind} probes explains: EM's share is kept, and the interval reaches down to "
                f"the bound. The flags assume {for_flags:.1%}, so they err on the side of fewer."
            )
        elif floor < bound and estimate - floor >= ABSENT_NOTE:
            self.notes_.append(
                f"{estimate:.1%} of the examples are estimated {kind}, which the examples "
                f"reaching the middle of the {kind} probes' evidence allow (up to {bound:.1%}), "
                f"but only {floor:.1%} reach its top, which such examples seldom do, so either "
                f"can be the truth: the interval reaches down to {floor:.1%}, and the flags "
                f"assume that, so they err on the side of fewer."
            )

    def _reach_bound(self, kind: str, bound: float) -> None:
        """The interval of an input kind (corrupted, random input) whose mixture bound lies
        above it reaches the bound. Shift estimation and EM read the clean suites' probes as
        free of the kind, but they are real examples, and the atypical ones hold the data's odd
        inputs first (in the Fashion-MNIST mix 15% of them were corrupted images: the kind came
        out 0.0%, interval 0.0–0.0, against 4.9%). The bound does not rest on that: at most
        that share of the rows is distributed as the kind's probes (docs/benchmarks.md). The
        estimate stays; a note says so where the kind is estimated absent. Wrong-label kinds
        have their members among the clean probes measured instead (:meth:`_unmix_suites`)."""
        j = self.suites_.index(kind)
        estimate = float(self.prevalence_.share[j])
        self.prevalence_ = self.prevalence_.with_share(
            j, estimate, float(self.prevalence_.low[j]), bound, into=[]
        )
        if estimate <= 0 and bound >= ABSENT_NOTE:
            self.notes_.append(
                f"No {kind} examples are estimated, but up to {bound:.1%} of the examples "
                f"trained beside the probes reach the {kind} probes' evidence: the clean probes "
                f"are real examples and may hold some, so the interval reaches that far. The "
                f"review page's {kind} queue ranks every example by {balanced_column(kind)} "
                f"(how much it looks like the {kind} probes, every kind taken as equally likely)."
            )

    def _reweigh_share(
        self, kind: str, evidence: tuple[np.ndarray, np.ndarray, np.ndarray | None],
        bounds: tuple[float, float], others: list[tuple[float, np.ndarray]],
        posteriors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:  # fmt: skip
        """A wrong-label kind whose mixture bound falls far below EM's share, with the flags
        withheld (see :meth:`_tighten_shares`). Either the probes do not resemble the data's
        label errors, and EM, resting on inferers trained on them, reads such errors as partly
        clean (Fashion-MNIST with asymmetric noise: 6.7%, interval 6.3–7.1%, against 12.6%),
        or EM reads hard clean examples as errors (long-tailed Fashion-MNIST with nothing
        planted, seed 0: 2.0%, interval 1.8–2.3%, where a rare class's clean shirts, outvoted
        by their neighbours, look like probes relabelled towards it; docs/benchmarks.md). The
        same probes weighted to the data's own error pairs tell which. Where they bear out
        EM's share, the estimate is the shift estimate against the calibration probes
        (:meth:`_shifted_estimate`) and the interval's upper end reaches their bound (20.0% on
        the former: clean but ambiguous examples reach such errors' evidence, so it is not
        tight); where they do not (0.2% on the latter), the estimate stays EM's and the
        interval's lower end reaches the bound's as :meth:`_cap_at_bound`'s does.
        ``evidence``: the rows', the kind's probes' and their weights; ``bounds``: see
        :func:`reach_bounds`; ``posteriors``: see :meth:`_shifted_estimate`."""
        j = self.suites_.index(kind)
        (real, own, weights), (bound, floor) = evidence, bounds
        em = estimate = float(self.prevalence_.share[j])
        low, high = float(self.prevalence_.low[j]), float(self.prevalence_.high[j])
        weighed = weights is not None and self.error_pairs_ is not None and weights.sum() > 0
        reweighted = mixture_proportion(real, own, weights=weights) if weighed else 0.0
        note = (
            f"The {kind} calibration probes score higher than the examples EM reads as {kind} "
            f"(mixture bound {bound:.1%} against EM's {em:.1%}; this note's shares are of the "
            f"examples trained beside the probes, the estimate's of every example). "
        )
        if weighed and reweighted >= em:
            note += self._bound_by_pairs(kind, reweighted, em, high)
            estimate, reach, said = self._shifted_estimate(kind, em, posteriors)
            note += said
            high = max(high, reweighted, reach)
        if reweighted < em:
            low = min(low, self._bound_low(kind, real, own, others, floor))
            who = "The inferers"
            if weighed:
                who = (f"Even weighted to the data's own confusions the probes bear out only "
                       f"{reweighted:.1%}: the inferers")  # fmt: skip
            note += (
                f"{who} may take hard clean examples for wrong labels (a rare class's among a "
                f"common one's), or the errors are unlike the probes, so the interval reaches "
                f"down to {low:.1%}. "
            )
        clean = [self.suites_.index(c) for c in self._clean_suites()]
        self.prevalence_ = self.prevalence_.with_share(j, estimate, low, high, into=clean)
        self.notes_.append(
            note + f"No error rate can be vouched for, so nothing is flagged as {kind}: rank by "
            f"mislabel_score (here {PROBE_FREE_SCORE}, which does not rest on the probes) or "
            f"review the {kind} kind to look at the likeliest."
        )

    def _class_name(self, label: int) -> str:
        """A class as the notes name it: its name where the data gives names, else its index."""
        names = self.class_names_
        return names[label] if names is not None and 0 <= label < len(names) else str(label)

    def _bound_by_pairs(self, kind: str, reweighted: float, em: float, high: float) -> str:
        """Record the bound of the probes weighted to the data's own error pairs, which bears
        out EM's share (``confusion_weighted`` in the summary), and what the note says of it."""
        pairs = top_pairs(self.error_pairs_) if self.error_pairs_ is not None else []
        self.reweighted_[kind] = {"bound": reweighted, "em": em,
                                  "pairs": [list(p) for p in pairs]}  # fmt: skip
        if reweighted <= high:
            return ""
        named = ", ".join(f"{self._class_name(a)}→{self._class_name(b)}" for a, b, _ in pairs[:3])
        return (
            f"Weighted to the data's own confusions (true class → given label, most often "
            f"{named}), the probes bound the share at {reweighted:.1%}: the label noise is "
            f"unlike the probes' (systematic, between a few classes), and the estimate is "
            f"uncertain up to there. "
        )

    def _shifted_estimate(
        self, kind: str, em: float, posteriors: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    ) -> tuple[float, float, str]:
        """A withheld wrong-label kind's estimate where the probes weighted to the data's error
        pairs bear out EM's share: black-box shift estimation (Lipton, Wang and Smola 2018)
        with the kind's calibration probes, drawn from any example like the data's own errors,
        as the reference for what its members' posteriors look like, where it reads more than
        EM. ``posteriors``: the chosen inferer's balanced posteriors of the real rows and of
        the probes measured against, and those probes' suites. EM rests on inferers that
        learnt wrong labels from probes with plain sources, and a real error between two
        classes the data confuses looks partly clean to them. With asymmetric noise on
        Fashion-MNIST EM read 6.7% where 12.6% of the rows are errors, the shift estimate
        11.4%: 77% of the errors and 1.8% of the clean rows (2.6% of them with nothing planted;
        docs/benchmarks.md). Returns the estimate, its bootstrap interval's upper end and what
        the note says of it."""
        if posteriors is None or not self.calibration_probes_:
            return em, em, ""
        real, probes, probe_suite = posteriors
        names, inverse = np.unique(probe_suite, return_inverse=True)
        ids = np.array([self.suites_.index(str(n)) for n in names])[inverse]
        share, _, high = shift_estimate(real, probes, ids, self.config.seed)
        j = self.suites_.index(kind)
        shifted = float(share[j])
        if shifted <= em:
            return em, em, ""
        self.reweighted_[kind]["shifted"] = shifted
        note = (
            f"Measured against the calibration probes, drawn from any example like the data's "
            f"own errors (black-box shift estimation), the {kind} suite's share comes to "
            f"{shifted:.1%} where EM's is {em:.1%}; that reading is taken, since EM's inferers "
            f"learnt wrong labels from plainer errors. "
        )
        return shifted, float(high[j]), note

    def _fit_prevalence(self, real: np.ndarray, heldout: np.ndarray, heldout_suite: np.ndarray,
                        train: np.ndarray, like: KindShares | None,
                        agreement: Agreement | None = None,
                        ) -> None:  # fmt: skip
        """The kinds' priors on the real rows (or ``like``'s); ``agreement``: see
        :meth:`_measure_where_agreeing`."""
        self.prevalence_notes_ = ()
        if like is not None and like.suites_ == self.suites_:
            self.prevalence_ = like.prevalence_
            self.measured_where_agreeing_ = like.measured_where_agreeing_
            return
        always = tuple(self.suites_.index(c) for c in self._clean_suites())
        self.prevalence_ = estimate_prevalence(
            real, heldout, heldout_suite, train, self.suites_, self.config.seed,
            self.config.prevalence, always=always,
        )  # fmt: skip
        if agreement is not None:
            self._measure_where_agreeing(real, heldout, heldout_suite, train, always, agreement)
            self._hold_to_inputs(agreement, always)

    def _hold_to_inputs(self, agreement: Agreement, clean: tuple[int, ...]) -> None:
        """An input kind measured from the trajectories alone (its probes do not keep their
        neighbours' label) is held to what the inputs show where the look-alike detector finds
        most fresh transforms (``LOOKALIKE_RECALL``): a share the inputs do not bear out
        (:meth:`_borne_out`) becomes the detector's count over its recall, the freed share
        going to the ``clean`` kinds, and the trajectories' reading stays the interval's upper
        end (with a note from ``ABSENT_NOTE``). On the embedded digits, where noisy 8×8 images
        lose their class and the corrupted probes are told from clean ones at 0.74, seed 2's
        shift estimate passed the presence test (above zero in 98.5% of its bootstrap, 97.5%
        needed) and EM read 5.1% corrupted digits, interval 3.0-14.6%, where the detector,
        finding 93% of fresh transforms, found one image (docs/benchmarks.md)."""
        lookalike, recall = agreement.lookalike or {}, agreement.recall or {}
        for kind, counted in agreement.counted().items():
            if kind in self.measured_where_agreeing_ or kind not in self.suites_:
                continue
            j = self.suites_.index(kind)
            share = float(self.prevalence_.share[j])
            if inputs_bear_out(lookalike[kind], share):
                continue
            self.prevalence_ = self.prevalence_.with_share(
                j, counted, lookalike[kind], share, into=list(clean)
            )
            if share < ABSENT_NOTE:
                continue
            self.prevalence_notes_ = (
                *self.prevalence_notes_,
                f"{share:.1%} of the examples look like the {kind} probes to the inferers, but "
                f"only {lookalike[kind]:.1%} of the inputs look like the {kind} transform (the "
                f"detector finds {recall[kind]:.0%} of fresh ones): the {kind} share is taken from "
                f"the inputs ({counted:.1%}), and its interval reaches the inferers' reading.",
            )

    def _measure_where_agreeing(self, real: np.ndarray, heldout: np.ndarray,
                                heldout_suite: np.ndarray, train: np.ndarray,
                                clean: tuple[int, ...], agreement: Agreement) -> None:  # fmt: skip
        """An input kind whose probes mostly keep their neighbours' label (a noisy image) is
        measured among the real rows that do. The clean suites' probes are such rows (an
        atypical probe must agree, to keep label errors out), so there they stand for the clean
        rows; among the rows that do not, a clean row whose label is not its neighbours' looks
        like no suite, partly mislabeled and partly random input, and the estimate over all
        rows pays for it with the input kind's share (the Fashion-MNIST mix: 0.0% corrupted
        against 4.9%; docs/benchmarks.md). The same estimator among the agreeing rows gives the
        kind's share there, taken as its share of all rows (the kind as common among the rows
        that agree as among those that do not: its probes' own rate of agreement depends on
        whether the data holds such inputs for them to sit among, 0.46 on clean Fashion-MNIST
        against 0.91 in the mix, so it cannot rescale the share); the difference is taken from
        the clean kinds (``clean``: their indices). "Mostly" is tested, not read off the
        count (:func:`mostly_agree`): on clean Fashion-MNIST the corrupted probes agree at
        0.42-0.48 of 500, one to four standard errors (0.022) under the line, and past it the
        agreeing rows' estimate reads 1.1% corrupted where there is none (seed 0).

        The share is read from the inputs where the look-alike detector's recall on fresh
        transforms is known: the share of examples it is sure are transformed, over that recall
        (Forman's adjusted classify-and-count, its false positives taken as none: 0.2-0.4% of
        clean Fashion-MNIST). In the mix it reads 4.2-4.5% against 4.85% at seeds 0-7, where EM
        among the agreeing rows read 2.9-7.4%; with only noisy images planted (5%) EM there
        reads 9.3 and 11.1%, the detector 4.4 and 4.6%. EM among the agreeing rows, told the
        kind is there, is a second reading: where the detector bears it out (:meth:`_borne_out`)
        the interval spans both, otherwise a note says it is not taken. Where the recall is not
        known (a plan saved before it was recorded), or under ``LOOKALIKE_RECALL`` (a detector
        that misses most transforms cannot read a share off its count), EM's reading is the
        share, its lower end reaching the detector's count; where the count is not known
        either, shift estimation's bootstrap decides whether the kind is there."""
        agrees, lookalike = agreement.agrees, agreement.lookalike or {}
        counted = agreement.counted()
        kinds = [k for k in self._input_kinds()
                 if mostly_agree(*agreement.counts.get(k, (0, 0)))]  # fmt: skip
        if not kinds or agrees.sum() < MIN_AGREEING_ROWS:
            return
        among, borne = self._em_where_agreeing(real[agrees], (heldout, heldout_suite, train),
                                               clean, kinds, lookalike, counted)  # fmt: skip
        measured = []
        for kind in kinds:
            j, taken = self.suites_.index(kind), kind in borne
            if kind not in counted and not taken:
                continue
            share = counted.get(kind, float(among.share[j]))
            low = min(lookalike.get(kind, 1.0), float(among.low[j]) if taken else 1.0)
            high = max(share, float(among.high[j]) if taken else 0.0)
            self.prevalence_ = self.prevalence_.with_share(j, share, low, high, into=list(clean))
            measured.append(kind)
        self.measured_where_agreeing_ = tuple(measured)

    def _em_where_agreeing(self, real: np.ndarray,
                           probes: tuple[np.ndarray, np.ndarray, np.ndarray],
                           clean: tuple[int, ...], kinds: list[str],
                           lookalike: dict[str, float], counted: dict[str, float],
                           ) -> tuple[Prevalence, list[str]]:  # fmt: skip
        """EM among the agreeing rows (``real``), told that ``kinds`` are there where the
        detector's count is known, and the kinds whose reading it bears out
        (:meth:`_borne_out`); EM again without those it does not."""
        while True:
            forced = tuple(self.suites_.index(k) for k in kinds if k in lookalike)
            among = estimate_prevalence(
                real, *probes, self.suites_, self.config.seed, self.config.prevalence,
                always=(*clean, *forced),
            )  # fmt: skip
            share = {k: float(among.share[self.suites_.index(k)]) for k in kinds}
            borne = [k for k in kinds
                     if self._borne_out(k, share[k], lookalike, counted.get(k))]  # fmt: skip
            if borne == kinds or not borne:
                return among, borne
            kinds = borne

    def _borne_out(self, kind: str, share: float, lookalike: dict[str, float],
                   counted: float | None = None) -> bool:  # fmt: skip
        """Whether the data's inputs bear out a share measured among the agreeing rows: the
        look-alike detector (:mod:`stratigraphy.probes.lookalikes`) found at least
        ``LOOKALIKE_RECALL`` of that share among the examples. Probes can keep their
        neighbours' label because their inputs sit among the data's such inputs (noisy images
        in the Fashion-MNIST mix: the detector finds 74-85% of them, 3.8-4.3% of the images)
        or because the transform barely moves them (the airline tweets' noised embeddings,
        agreeing at 0.95-0.99): there the agreeing rows read 5.5% corrupted tweets at seed 1
        where none was planted and the detector finds no tweet like the probes
        (docs/benchmarks.md). Not known (a plan saved before it was recorded): taken."""
        found = lookalike.get(kind)
        if found is None or inputs_bear_out(found, share):
            return True
        if share >= ABSENT_NOTE:
            instead = (
                "the one estimated over every example" if counted is None else
                f"that of the inputs like the transform, over the share of fresh transforms "
                f"the detector finds ({counted:.1%})"
            )  # fmt: skip
            self.prevalence_notes_ = (
                *self.prevalence_notes_,
                f"Among the examples whose label their neighbours share, {share:.1%} look like "
                f"the {kind} probes to the inferers, but only {found:.1%} of the inputs look "
                f"like the {kind} transform: that share is not taken, and the {kind} share is "
                f"{instead}.",
            )
        return False

    def _clean_suites(self) -> list[str]:
        """Suites of real, correctly labelled examples: the flags' calibration set."""
        return [s for s in self.suites_ if suite_info(s).label_wrong is False
                and not suite_info(s).flagged]  # fmt: skip

    def _input_kinds(self) -> list[str]:
        """Problem kinds of the input rather than the label (corrupted, random input)."""
        return [s for s in self._flag_kinds() if not suite_info(s).label_wrong]

    def _flag_kinds(self) -> list[str]:
        return [s for s in self.suites_ if suite_info(s).flagged]
