"""The one analysis engine: from recorded dynamics to a verdict per example.

The engine is fitted once on the probe rows of a signal source (every inferer, its held-out
report, the choice of inferer and of ``mislabel_score``), then scores every chunk of rows
through one function, writes the examples table through one sink a chunk at a time, and builds
the summary in one place. Everything it computes per row depends
on that row alone, so the in-memory path (one chunk) and the store path (many) give the same
table; memory is bounded by the chunk, not by N.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stratigraphy.analysis.confusions import error_pairs, pair_weights
from stratigraphy.analysis.example_table import ExampleTable
from stratigraphy.analysis.flags import (
    BAG_ROUNDS,
    DEFAULT_FDR,
    CalibrationMix,
    MixtureFlagger,
    withholds_wrong_labels,
)
from stratigraphy.analysis.inference import (
    INFERERS,
    CrossFitted,
    HeldoutReport,
    Inferer,
    heldout_report,
)
from stratigraphy.analysis.mislabel import (
    CONSENSUS,
    PROBE_FREE_REASON,
    PROBE_FREE_SCORE,
    RankReference,
    choose_mislabel_score,
    coarse_candidates,
    consensus,
    mislabel_candidates,
    near_ties,
    rank_inputs,
    reference_rows,
)
from stratigraphy.analysis.prevalence import (
    PREVALENCE_METHODS,
    adjust_posteriors,
)
from stratigraphy.analysis.reasons import OtherPrediction, flag_reasons, other_prediction
from stratigraphy.analysis.scores import compute_scores
from stratigraphy.analysis.shares import Agreement, KindShares
from stratigraphy.analysis.sources import ArraySource, Signals, SignalSource
from stratigraphy.analysis.tally import Tally
from stratigraphy.core.atomic import RowGroupWriter
from stratigraphy.core.errors import ConfigError, DataValidationError, RunDirectoryError
from stratigraphy.probes.build import ProbedData, consumed_pool
from stratigraphy.probes.suites import CLEAN, suite_info
from stratigraphy.record.store import ROW_GROUP, DynamicsStore
from stratigraphy.rundir.layout import balanced_column

ENGINES = ("local", "ray")
CROSS_FIT = 5


@dataclass
class InferenceConfig:
    """How verdicts are inferred: kNN's ``k``, the seed, the inferers to try, rows per chunk,
    the expected share of false flags allowed (``fdr``), how many draws of the probes the flags'
    q-values are the median over (``flag_draws``; 0: the probes as they are), how the kinds'
    priors on the real data are estimated (``prevalence``: ``bbse-em``, ``bbse`` or ``em``) and
    in how many folds the inferers are cross-fitted over the fitting and held-out probes
    together (``cross_fit``; 1: fitted on the fitting probes, measured on the held-out ones)."""

    k: int = 20
    seed: int = 0
    methods: tuple[str, ...] = tuple(INFERERS)
    chunk_rows: int = ROW_GROUP
    fdr: float = DEFAULT_FDR
    flag_draws: int = BAG_ROUNDS
    prevalence: str = "bbse-em"
    cross_fit: int = CROSS_FIT

    def validate(self) -> None:
        if self.k < 1:
            raise ConfigError(f"--k must be at least 1; got {self.k}.")
        unknown = [m for m in self.methods if m not in INFERERS]
        if unknown or not self.methods:
            raise ConfigError(f"inferers must be among {tuple(INFERERS)}; got {self.methods}.")
        if not 0.0 < self.fdr < 1.0:
            raise ConfigError(f"--fdr must lie strictly between 0 and 1; got {self.fdr}.")
        if self.prevalence not in PREVALENCE_METHODS:
            raise ConfigError(
                f"prevalence must be one of {PREVALENCE_METHODS}; got {self.prevalence!r}."
            )
        if self.flag_draws < 0:
            raise ConfigError(f"flag_draws must be at least 0; got {self.flag_draws}.")
        if self.chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be at least 1; got {self.chunk_rows}.")
        if self.cross_fit < 1:
            raise ConfigError(f"cross_fit must be at least 1 fold; got {self.cross_fit}.")


@dataclass
class Analysis:
    """``summary``: counts, held-out probe accuracy, the chosen mislabel score and, when the truth
    is known, detection quality of every candidate; ``examples``: one row per original example
    (the ``examples.parquet`` table, read from ``path`` when it was written there)."""

    summary: dict[str, Any]
    engine: AnalysisEngine
    path: Path | None = None
    _examples: pa.Table | None = None

    @property
    def examples(self) -> pa.Table:
        if self._examples is None:
            assert self.path is not None
            self._examples = pq.read_table(self.path)
        return self._examples

    def to_pandas(self) -> Any:
        return self.examples.to_pandas()


class _MemorySink:
    """Collects the examples table in memory (the other sink is a Parquet row-group writer)."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.parts.append(table)

    def table(self) -> pa.Table:
        return pa.concat_tables(self.parts)


class AnalysisEngine(KindShares):
    """Fit once on the probes with :meth:`fit`; :meth:`score` any rows; :meth:`run` writes the
    examples table and returns the summary. The kinds' shares are fitted by the steps of
    :class:`~stratigraphy.analysis.shares.KindShares`."""

    config: InferenceConfig
    probe_choice_: dict[str, Any] | None = None

    def __init__(self, config: InferenceConfig | None = None) -> None:
        self.config = config or InferenceConfig()

    def fit(
        self, source: SignalSource, probed: ProbedData, like: AnalysisEngine | None = None,
        unvouched: np.ndarray | None = None, class_names: list[str] | None = None,
    ) -> AnalysisEngine:  # fmt: skip
        """Fit the inferers on the fitting probes, keep the best on the held-out ones; choose
        ``mislabel_score``; fix what needs every row (ranks, priors, the flags' error rates) from
        the reference rows. ``like``: a fitted engine whose priors this one shares (a second
        fold); ``unvouched``: examples judged but never flagged nor among the rows the flags are
        fitted on (:mod:`stratigraphy.folds`); ``class_names``: what the notes call classes."""
        self.config.validate()
        self.class_names_ = list(class_names) if class_names is not None else None
        self.suites_ = list(probed.suites)
        self.n_classes_ = probed.n_classes
        rows, suite_ids = probed.probe_rows, probed.suite_ids()
        is_fit, heldout, calibration = self._roles(probed)
        reference = reference_rows(int(probed.y.size), self.config.seed)
        needed = np.union1d(rows, reference)
        sig_all = source.read_rows(needed)

        def take(r: np.ndarray) -> Signals:
            return {k: v[np.searchsorted(needed, r)] for k, v in sig_all.items()}

        sig, labels = take(rows), probed.labels_at(rows)
        self._fit_inferers(sig, labels, rows, suite_ids, is_fit, heldout)
        ref_sig, ref_labels = take(reference), probed.labels_at(reference)
        ref_proba = self.suite_proba(ref_sig, ref_labels, reference)
        ref_scores = compute_scores(ref_sig, ref_labels)
        self.ranks_ = RankReference.fit(rank_inputs(ref_scores, self._p_mislabeled(ref_proba)))
        ref_candidates = mislabel_candidates(ref_scores, self._p_mislabeled(ref_proba), self.ranks_)
        self.candidate_ranks_ = RankReference.fit(ref_candidates)
        coarse = coarse_candidates(ref_candidates, int(ref_sig["loss"].shape[1]))
        proba = self.suite_proba(sig, labels, rows)
        names = np.asarray(self.suites_, dtype=object)[suite_ids]
        candidates = self._choose_mislabel_score(sig, labels, proba, names, heldout, like, coarse)
        ref_candidates = self._with_consensus(ref_candidates)
        real = reference < probed.n_kept
        examples = probed.origin[reference[real]]
        train = np.bincount(suite_ids[is_fit], minlength=len(self.suites_)) / is_fit.sum()
        agreement = Agreement.of(probed, examples)
        self._fit_prevalence(ref_proba[self.method_][real], proba[self.method_][heldout],
                             suite_ids[heldout], train, like, agreement)  # fmt: skip
        self.train_priors_ = train
        # The flags and the wrong-label share are measured against the calibration probes
        # (drawn like the data's own errors) where the probes have them.
        wrong = np.isin(names, [s for s in self.suites_ if suite_info(s).label_wrong])
        held = np.where(wrong & calibration.any(), calibration, heldout)
        self.calibration_probes_ = bool(calibration.any())
        pool = consumed_pool(probed.typicality)[examples]
        weights = self._pair_weights(
            ref_sig["pred"][real], ref_labels[real], ref_proba[self.method_][real], probed, held
        )
        spared = np.zeros(0, np.int64) if unvouched is None else unvouched
        self.unvouched_, scope = probed.example_row[spared], ~np.isin(examples, spared)
        self._fit_shares_and_flags(
            (ref_proba[self.method_][real], ref_candidates[self.chosen_][real]),
            (proba[self.method_][held], candidates[self.chosen_][held]), names[held], like, pool,
            weights, scope,
        )  # fmt: skip
        self._rank_without_probes(like)
        return self

    def _roles(self, probed: ProbedData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which probes the inferers are fitted on, which measure them, and the calibration
        probes; with ``cross_fit`` folds the first two are both every other probe."""
        is_fit, heldout = probed.is_fit(), probed.is_heldout()
        if self.config.cross_fit > 1:
            is_fit = heldout = is_fit | heldout
        return is_fit, heldout, probed.is_calibration()

    def _choose_mislabel_score(self, sig: Signals, labels: np.ndarray,
                               proba: dict[str, np.ndarray], names: np.ndarray,
                               heldout: np.ndarray, like: AnalysisEngine | None,
                               coarse: frozenset[str]) -> dict[str, np.ndarray]:  # fmt: skip
        """Every candidate's value on the probes; ``chosen_`` is the one with the best held-out
        AP, or the consensus of the candidates tied with it (:func:`near_ties`, ``coarse``
        ones left out), or ``like``'s where this engine shares its priors (one score across
        the folds)."""
        candidates = mislabel_candidates(
            compute_scores(sig, labels), self._p_mislabeled(proba), self.ranks_
        )
        at = np.arange(labels.size)
        self.chosen_, self.candidate_ap_ = choose_mislabel_score(candidates, at, names, heldout)
        if like is None:
            self.consensus_ = near_ties(self.candidate_ap_, coarse=coarse)
        else:
            self.consensus_ = [m for m in like.consensus_ if m in candidates]
            self.chosen_ = like.chosen_ if like.chosen_ in candidates else self.chosen_
        candidates = self._with_consensus(candidates)
        if self.consensus_:
            self.chosen_ = CONSENSUS
            own = choose_mislabel_score({CONSENSUS: candidates[CONSENSUS]}, at, names, heldout)
            self.candidate_ap_.update(own[1])
        return candidates

    def _rank_without_probes(self, like: AnalysisEngine | None) -> None:
        """Where a wrong-label kind's flags are withheld because its probes are unlike the
        data's label errors, their held-out AP cannot choose ``mislabel_score`` either: it is
        then :data:`PROBE_FREE_SCORE`, and what the probes chose is kept in ``probe_choice_``.
        With asymmetric noise its AP is 0.781 on Fashion-MNIST and 0.423 on the airline tweets,
        against the probes' choice's 0.707 and 0.376 (seed 0; docs/benchmarks.md). A fold sharing
        ``like``'s choice has it already."""
        if like is not None:
            self.probe_choice_ = like.probe_choice_
            return
        self.probe_choice_ = None
        if withholds_wrong_labels(self.withheld_):
            self.probe_choice_ = {"chosen": self.chosen_, "consensus_of": self.consensus_}
            self.chosen_, self.consensus_ = PROBE_FREE_SCORE, []

    def _with_consensus(self, candidates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The candidates, with their near-tied ones' consensus where there is one."""
        if not self.consensus_:
            return candidates
        agreed = consensus(candidates, self.consensus_, self.candidate_ranks_)
        return {**candidates, CONSENSUS: agreed}

    def _pair_weights(self, pred: np.ndarray, labels: np.ndarray, best: np.ndarray,
                      probed: ProbedData, held: np.ndarray) -> np.ndarray | None:  # fmt: skip
        """Importance weights that make the probes measured against (``held``) follow the
        data's own label errors by pair of classes, estimated from the real rows predicted as
        another class in most epochs (``pred``), their labels and posteriors (see
        :mod:`stratigraphy.analysis.confusions`)."""
        wrong = [j for j, s in enumerate(self.suites_) if suite_info(s).label_wrong]
        if not wrong or labels.size == 0:
            return None
        other = other_prediction(labels, pred, self.n_classes_)
        mostly = other.times > pred.shape[1] / 2
        self.error_pairs_ = error_pairs(
            labels, np.where(mostly, other.alt, -1), best[:, wrong[0]], self.n_classes_
        )
        table = probed.probes
        source = table.column("source_label").to_numpy()[held]
        return pair_weights(source, table.column("label").to_numpy()[held], self.error_pairs_)

    def _fit_shares_and_flags(self, real: tuple[np.ndarray, np.ndarray],
                              probes: tuple[np.ndarray, np.ndarray], probe_suite: np.ndarray,
                              like: AnalysisEngine | None, pool: np.ndarray | None = None,
                              weights: np.ndarray | None = None,
                              scope: np.ndarray | None = None,
                              ) -> None:  # fmt: skip
        """Tighten the kinds' shares by their probes (unless ``like``'s are shared), then fit
        the flags; ``real`` and ``probes``: the chosen inferer's posteriors and the mislabel
        score of the real reference rows and of the probes the kinds are measured against;
        ``pool``: which real rows belong to the pool transformed probes are drawn from;
        ``weights``: the probes' weights towards the data's own error pairs
        (:meth:`_pair_weights`); ``scope``: the real rows the flags are fitted on
        (:meth:`fit`), else all of them; either way at the data's shares."""
        self.notes_: list[str] = (
            list(like.notes_) if like is not None else list(self.prevalence_notes_)
        )
        self.withheld_: list[str] = list(like.withheld_) if like is not None else []
        self.reweighted_: dict[str, dict[str, Any]] = (
            dict(like.reweighted_) if like is not None else {}
        )
        self.flag_scale_: dict[str, float] = dict(like.flag_scale_) if like is not None else {}
        if like is not None:
            self.unmixing_ = like.unmixing_
        else:
            real_balanced = self._kind_scores(*real, adjust=False)
            probes_balanced = self._kind_scores(*probes, adjust=False)
            self._unmix_suites(real_balanced, probes_balanced, probe_suite, pool)
            self._tighten_shares(real_balanced, probes_balanced, probe_suite, weights,
                                 (real[0], probes[0]))  # fmt: skip
        self.priors_ = self.prevalence_.share
        evidence = self._kind_scores(*real)
        if scope is not None and not scope.all():
            evidence = {k: v[scope] for k, v in evidence.items()}
        self._fit_flags(evidence, self._kind_scores(*probes), probe_suite)

    def _fit_inferers(self, sig: Signals, labels: np.ndarray, rows: np.ndarray,
                      suite_ids: np.ndarray, is_fit: np.ndarray,
                      heldout: np.ndarray) -> None:  # fmt: skip
        """Every inferer fitted on the fitting probes, measured on the held-out ones (with
        ``cross_fit`` folds, both are every probe but the calibration ones, each measured by
        the copy fitted without it: :class:`CrossFitted`)."""
        fit_sig = {k: v[is_fit] for k, v in sig.items()}
        self.inferers_: dict[str, Inferer] = {}
        cfg = self.config
        for name in cfg.methods:
            make = partial(INFERERS[name], cfg.k, cfg.seed)
            inferer = CrossFitted(make, cfg.cross_fit, cfg.seed) if cfg.cross_fit > 1 else make()
            self.inferers_[name] = inferer.fit(
                fit_sig, labels[is_fit], rows[is_fit], suite_ids[is_fit], len(self.suites_)
            )
        proba = self.suite_proba(sig, labels, rows)
        self.heldout_: dict[str, HeldoutReport] = {
            m: heldout_report(self.suites_, suite_ids[heldout], p[heldout])
            for m, p in proba.items()
        }
        self.method_ = max(self.heldout_, key=lambda m: (self.heldout_[m].accuracy, m == "knn"))

    def _kind_scores(
        self, best: np.ndarray, mislabel: np.ndarray, adjust: bool = True
    ) -> dict[str, np.ndarray]:
        """Each problem kind's evidence: ``mislabel_score`` for a wrong-label kind, its posterior
        (under the data's priors, or with ``adjust=False`` the balanced suites') otherwise."""
        adjusted = self.adjusted(best) if adjust else best
        return {
            s: mislabel if suite_info(s).label_wrong else adjusted[:, self.suites_.index(s)]
            for s in self._flag_kinds()
        }

    def _fit_flags(self, reference: dict[str, np.ndarray], probes: dict[str, np.ndarray],
                   probe_suite: np.ndarray) -> None:  # fmt: skip
        """Each problem kind's false-discovery rate against its probes, over the ``reference``
        rows (a random sample of the data, holding the kinds at its shares)."""
        self.flagger_: MixtureFlagger | None = None
        kinds = self._flag_kinds()
        if not kinds:
            return
        share = self._for_flags(dict(zip(self.suites_, self.prevalence_.share.tolist(),
                                         strict=True)))  # fmt: skip
        self.flagger_ = MixtureFlagger.fit(
            kinds, {k: probes[k][probe_suite == k] for k in kinds}, reference,
            {k: share[k] for k in kinds}, self.config.fdr,
            {k: {j: probes[k][probe_suite == j] for j in kinds if j != k} for k in kinds},
            tuple(self.withheld_), self._calibration_mix(probes, probe_suite, share),
            self.config.seed,
            self.config.flag_draws,
        )  # fmt: skip

    def _for_flags(self, shares: dict[str, float]) -> dict[str, float]:
        """The kinds' shares the flags assume (``flag_scale_``): a share cut to its bound at its
        interval's lower end (:meth:`_cap_at_bound`), one kept above its bound as
        :meth:`_keep_above_bound` says, one that may be absent at 0
        (:meth:`_unflag_unestablished`). A wrong-label kind measured against calibration
        probes assumes at least the lower end of its share as a kind, the label errors EM
        counts among the clean suites included (:meth:`_unmix_suites`): the probes are drawn
        from any example, so they stand for those errors too. At 40% symmetric noise the
        suite's own share is 34% where 42% of the rows are errors; eight points short, π kept
        the estimated error rate at the top of the evidence above the level, and long-tailed
        Fashion-MNIST flagged 350 of its 6,540 errors (docs/benchmarks.md)."""
        out = {k: v * self.flag_scale_.get(k, 1.0) for k, v in shares.items()}
        if not self.calibration_probes_:
            return out
        low = dict(zip(self.suites_, self.kind_prevalence().low.tolist(), strict=True))
        for k in out:
            if suite_info(k).label_wrong and out[k] > 0 and k not in self.withheld_:
                out[k] = max(out[k], low[k])
        return out

    def _calibration_mix(
        self, probes: dict[str, np.ndarray], probe_suite: np.ndarray, share: dict[str, float]
    ) -> dict[str, CalibrationMix]:
        """For each wrong-label kind measured against calibration probes (drawn from any
        example), what they hold besides its members (see :mod:`stratigraphy.analysis.flags`):
        the share a new label made correct (π/(C − 1)) with the clean suites' probes' evidence
        and the share of those that are the kind's members (:meth:`_unmix_suites`); and the
        probes drawn from an input kind's members, at the lower end of that kind's interval,
        scoring like the random-input probes (an input its label does not fit; a kind's own
        probes where there are none)."""
        if not self.calibration_probes_ or self.n_classes_ < 2:
            return {}
        clean = np.isin(probe_suite, self._clean_suites())
        counts = {s: int((probe_suite == s).sum()) for s in self._clean_suites()}
        wrong = sum(share[k] for k in self._flag_kinds() if suite_info(k).label_wrong)
        inputs = self._input_kinds()
        odd = [s for s in inputs if suite_info(s).origin == "synthetic"]

        def members(kind: str) -> float:
            target = self.suites_.index(kind)
            parts = {self.suites_[s]: p for s, t, p, _, _ in self.unmixing_ if t == target}
            return sum(parts.get(s, 0.0) * n for s, n in counts.items()) / max(clean.sum(), 1)

        def scored(kind: str, like: str) -> np.ndarray:
            return probes[kind][np.isin(probe_suite, odd or [like])]

        return {
            k: CalibrationMix(
                wrong / (self.n_classes_ - 1), probes[k][clean], members(k),
                tuple((j, float(self.prevalence_.low[self.suites_.index(j)]), scored(k, j))
                      for j in inputs),
            )
            for k in self._flag_kinds() if suite_info(k).label_wrong
        }  # fmt: skip

    def adjusted(self, best: np.ndarray) -> np.ndarray:
        """The chosen inferer's posteriors under the kinds' priors on the real data."""
        return adjust_posteriors(best, self.train_priors_, self.priors_)

    def suite_proba(self, sig: Signals, labels: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
        """Every inferer's suite probabilities for these training rows (balanced suites)."""
        return {m: inf.predict_proba(sig, labels, rows) for m, inf in self.inferers_.items()}

    def _p_mislabeled(self, proba: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wrong = [j for j, s in enumerate(self.suites_) if suite_info(s).label_wrong]
        return {m: p[:, wrong[0]] for m, p in proba.items()} if wrong else {}

    def score(self, start: int, sig: Signals, labels: np.ndarray,
              class_names: list[str] | None = None) -> dict[str, np.ndarray]:  # fmt: skip
        """Verdict, kind probabilities, every score, every mislabel candidate, the suggested label
        and the reason for a flag, for training rows ``start, start + 1, …``, each a function of
        its row alone."""
        rows = np.arange(start, start + labels.size)
        proba = self.suite_proba(sig, labels, rows)
        adjusted = self.adjusted(proba[self.method_])
        scores = compute_scores(sig, labels)
        candidates = self._with_consensus(
            mislabel_candidates(scores, self._p_mislabeled(proba), self.ranks_)
        )
        metadata = np.asarray(self.suites_, dtype=object)[adjusted.argmax(1)]
        out: dict[str, np.ndarray] = {"metadata": metadata, "confidence": adjusted.max(1)}
        out.update({f"p_{s}": adjusted[:, j] for j, s in enumerate(self.suites_)})
        out.update({balanced_column(s): proba[self.method_][:, self.suites_.index(s)]
                    for s in self._input_kinds()})  # fmt: skip
        out.update(scores)
        out["mislabel_score"] = candidates[self.chosen_]
        out.update(self._verdicts(proba, candidates[self.chosen_], scores, sig, labels,
                                  class_names, np.isin(rows, self.unvouched_)))  # fmt: skip
        out.update({f"candidate:{k}": v for k, v in candidates.items()})
        return out

    def _verdicts(self, proba: dict[str, np.ndarray], mislabel: np.ndarray,
                  scores: dict[str, np.ndarray], sig: Signals, labels: np.ndarray,
                  class_names: list[str] | None,
                  unvouched: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
        """``verdict`` (clean or a problem kind), ``flagged``, ``q_value``, ``reason`` and the
        suggested label with its confidence; ``unvouched`` rows are never flagged
        (:meth:`fit`)."""
        n, epochs = labels.size, sig["pred"].shape[1]
        verdict = np.full(n, CLEAN, dtype=object)
        q_value, flagged = np.ones(n), np.zeros(n, dtype=bool)
        kinds = self._flag_kinds()
        if self.flagger_ is not None:
            kind_scores = self._kind_scores(proba[self.method_], mislabel)
            q_value, which = self.flagger_.combined(self.flagger_.q_values(kind_scores))
            q_value = np.where(unvouched, 1.0, q_value)
            flagged = self.flagger_.flag(q_value)
            verdict[flagged] = np.asarray(kinds, dtype=object)[which[flagged]]
        other = other_prediction(labels, sig["pred"], self.n_classes_)
        alt, alt_count = other.alt, other.times
        wrong = [s for s in self.suites_ if suite_info(s).label_wrong]
        relabel = np.isin(verdict, wrong) | np.isin(
            np.asarray(self.suites_, dtype=object)[proba[self.method_].argmax(1)], wrong
        )
        suggested = np.where(relabel & (alt_count > 0), alt, labels)
        names = class_names or [str(c) for c in range(max(self.n_classes_, int(alt.max()) + 1))]
        reason = np.full(n, "", dtype=object)
        hit = np.flatnonzero(flagged)
        if hit.size:
            evidence = self._evidence(proba, scores, other, verdict, epochs)
            reason[hit] = flag_reasons(hit, verdict[hit].tolist(), q_value, self.config.fdr,
                                       evidence, names)  # fmt: skip
        return {"verdict": verdict, "flagged": flagged, "q_value": q_value, "reason": reason,
                "suggested_label": suggested,
                "suggested_confidence": np.where(relabel & (alt_count > 0), other.confidence(),
                                                 np.nan)}  # fmt: skip

    def _evidence(self, proba: dict[str, np.ndarray], scores: dict[str, np.ndarray],
                  other: OtherPrediction, verdict: np.ndarray,
                  epochs: int) -> dict[str, np.ndarray]:  # fmt: skip
        n = verdict.size
        col = np.array([self.suites_.index(v) if v in self.suites_ else 0 for v in verdict])
        adjusted = self.adjusted(proba[self.method_])
        evidence = {"alt": other.alt, "alt_count": other.times, "disagreed": other.disagreed,
                    "epochs": np.full(n, epochs),
                    "forgetting": scores["forgetting"], "correctness": scores["correctness"],
                    "aum": scores["aum"], "p_kind": adjusted[np.arange(n), col]}  # fmt: skip
        if "knn" in self.inferers_:
            k = self.config.k
            evidence["knn_votes"] = np.rint(proba["knn"][np.arange(n), col] * k)
            evidence["k"] = np.full(n, k)
        return evidence

    def run(
        self,
        source: SignalSource,
        probed: ProbedData,
        sink: Any,
        class_names: list[str] | None = None,
        truth: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Score every row of ``source`` a chunk at a time, write one examples table per chunk to
        ``sink`` (anything with ``write(table)``) and return the summary."""
        names = list(class_names or [str(c) for c in range(self.n_classes_)])
        table = ExampleTable(probed, names, self.suites_, extra or {})
        tally = Tally(probed, truth)
        for span in table.spans(source, self.config.chunk_rows):
            labels = probed.y[span.start : span.stop]
            verdicts = self.score(span.start, span.signals, labels, names)
            part = table.part(span, verdicts)
            tally.add(span, part, verdicts)
            sink.write(part)
            if on_progress is not None:
                on_progress(span.stop, probed.n_kept)
        self.tally_ = tally
        return self._summary(probed, tally)

    def _flag_summary(self, tally: Tally) -> dict[str, Any]:
        """How many examples are flagged, of which kind, at which error level and evidence cut."""
        by_kind = {k: tally.verdicts.get(k, 0) for k in self._flag_kinds()}
        flagger = self.flagger_
        return {
            "fdr": self.config.fdr,
            **(flagger.summary() if flagger else {}),
            "notes": list(self.notes_),
            "flagged": int(sum(by_kind.values())),
            "by_kind": by_kind,
            "clean": tally.verdicts.get(CLEAN, 0),
        }

    def _summary(self, probed: ProbedData, tally: Tally) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "n_examples": int(probed.source_labels.size),
            "n_scored": probed.n_kept,
            "counts": dict(sorted(tally.counts.items())),
            "inference": {
                "method": self.method_,
                "k": self.config.k,
                "cross_fit": self.config.cross_fit,
                "suites": self.suites_,
                "heldout": {m: r.to_dict() for m, r in self.heldout_.items()},
            },
            "mislabel_score": {
                "chosen": self.chosen_,
                "heldout_ap": self.candidate_ap_,
                "consensus_of": self.consensus_,
                **(
                    {"probes_chose": self.probe_choice_, "because": PROBE_FREE_REASON}
                    if self.probe_choice_
                    else {}
                ),
            },  # fmt: skip
            "prevalence": self.prevalence_summary(replace(self.prevalence_, covers=probed.n_kept)),
            "flags": self._flag_summary(tally),
        }
        if tally.truth is not None:
            summary["detection"] = tally.detection()
        return summary


def _check_analysis_inputs(
    source: SignalSource,
    probed: ProbedData,
    class_names: list[str] | None,
    truth: np.ndarray | None,
    true_labels: np.ndarray | None,
    extra: dict[str, Any] | None,
) -> None:
    """Typed errors for arguments that do not belong together, before any fitting; a warning
    when the probes' losses hold no finite value (every verdict would be meaningless)."""
    if not isinstance(probed, ProbedData):
        raise ConfigError(f"probed must be the ProbedData of build_probes(); got {type(probed)}.")
    n_train, n_examples = probed.X.shape[0], probed.source_labels.shape[0]
    if source.row_count() != n_train:
        raise DataValidationError(
            f"signals cover {source.row_count()} rows but the probed training set has {n_train}; "
            "record the dataset built by build_probes()."
        )
    n_classes = probed.n_classes
    if class_names is not None and len(class_names) < n_classes:
        raise DataValidationError(
            f"{len(class_names)} class names for labels up to {n_classes - 1}; give one per class."
        )
    named = {"truth": truth, "true_labels": true_labels, **(extra or {})}
    for name, values in named.items():
        if values is not None and len(values) != n_examples:
            raise DataValidationError(
                f"{name} has {len(values)} values for {n_examples} examples; give one per example."
            )
    probe_rows = np.sort(probed.probes.column("row").to_numpy())
    loss = source.read_rows(probe_rows, ("loss",))["loss"]
    if not np.isfinite(loss).any():
        warnings.warn(
            "the probes' recorded losses hold no finite value (NaN or infinite everywhere): "
            "training diverged or nothing was recorded, so no verdict can be trusted.",
            stacklevel=3,
        )


def analyze_source(
    source: SignalSource,
    probed: ProbedData,
    class_names: list[str] | None = None,
    out: str | Path | None = None,
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    config: InferenceConfig | None = None,
    like: AnalysisEngine | None = None,
    engine: str = "local",
    address: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    unvouched: np.ndarray | None = None,
) -> Analysis:
    """Fit the engine on ``source``'s probes and score all its rows; with ``out``, the examples
    table is written there (Parquet, one row group per chunk, atomically), else kept in memory.
    ``truth`` (a boolean mask of known label errors) adds detection quality; ``extra`` holds
    further per-example columns (planted kind, captions); ``like`` and ``unvouched``: see
    :meth:`AnalysisEngine.fit`. ``engine="ray"`` scores the store's row groups as Ray tasks
    (``address``: the cluster's; see :mod:`stratigraphy.analysis.ray_engine`) and writes
    ``out`` as a directory of Parquet parts. ``on_progress(rows_done, rows)`` after each
    chunk or part."""
    if engine == "ray" and isinstance(source, DynamicsStore):
        from stratigraphy.analysis.ray_engine import ClusterStore

        source = ClusterStore(source, address)
    _check_analysis_inputs(source, probed, class_names, truth, true_labels, extra)
    columns: dict[str, Any] = {}
    if truth is not None:
        columns["planted_error"] = np.asarray(truth, dtype=bool)
    if true_labels is not None:
        columns["true_label"] = np.asarray(true_labels, dtype=np.int64)
    columns.update(extra or {})
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {ENGINES}; got {engine!r}.")
    if engine == "ray" and (out is None or not isinstance(source, DynamicsStore)):
        raise ConfigError("The ray engine streams a dynamics store into a directory: give a "
                          "DynamicsStore and out.")  # fmt: skip
    fitted = AnalysisEngine(config).fit(source, probed, like, unvouched, class_names)
    if out is None:
        sink = _MemorySink()
        summary = fitted.run(source, probed, sink, class_names, truth, columns, on_progress)
        return Analysis(summary, fitted, _examples=sink.table())
    path = Path(out)
    if engine == "ray":
        from stratigraphy.analysis.ray_engine import run_on_ray

        assert isinstance(source, DynamicsStore)
        names = list(class_names or [str(c) for c in range(fitted.n_classes_)])
        tally = Tally(probed, truth)
        run_on_ray(fitted, source, probed, columns, tally, path, names, address, on_progress)
        fitted.tally_ = tally
        return Analysis(fitted._summary(probed, tally), fitted, path)
    with RowGroupWriter(path, fitted.config.chunk_rows) as writer:
        summary = fitted.run(source, probed, writer, class_names, truth, columns, on_progress)
    return Analysis(summary, fitted, path)


def analyze(
    signals: Signals,
    probed: ProbedData,
    class_names: list[str] | None = None,
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    k: int = 20,
    seed: int = 0,
) -> Analysis:
    """Scores and inferred metadata of every original example from N×E signals in memory (from
    :meth:`DynamicsRecorder.arrays` or :meth:`DynamicsStore.read_all`), as one chunk."""
    source = ArraySource(signals)
    config = InferenceConfig(k=k, seed=seed, chunk_rows=max(probed.X.shape[0], 1))
    return analyze_source(source, probed, class_names, None, truth, true_labels, config=config)


def analyze_store(
    store: DynamicsStore | str | Path,
    probed: ProbedData,
    class_names: list[str] | None = None,
    out: str | Path = "examples.parquet",
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    config: InferenceConfig | None = None,
    engine: str = "local",
    address: str | None = None,
) -> Analysis:
    """:func:`analyze` for runs whose signals do not fit in memory: rows stream from the store
    a chunk at a time and the examples table is written to ``out`` a row group at a time.
    ``engine="ray"``: the row groups are scored on the Ray cluster at ``address`` and ``out``
    is a directory of parts; with ``probed`` from :func:`~stratigraphy.probes.plan_file.open_plan`
    the driver's memory does not grow with N."""
    store = store if isinstance(store, DynamicsStore) else DynamicsStore(store)
    if store.finished_epochs() == 0:
        raise RunDirectoryError(f"{store.directory} holds no recorded epoch to analyse.")
    return analyze_source(store, probed, class_names, out, truth, true_labels, extra, config,
                          engine=engine, address=address)  # fmt: skip
