"""Trusted verdicts: prevalence under the data's own priors, flags with a stated error rate, a
reason for each flag, and actions that follow only the flags."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stratigraphy.analysis import prevalence
from stratigraphy.analysis.confusions import pair_weights
from stratigraphy.analysis.engine import AnalysisEngine, InferenceConfig
from stratigraphy.analysis.flags import (
    CalibrationMix,
    MixtureFlagger,
    contradicts_share,
    flag_shortfall,
    flagged_at,
    flagged_spread,
    mixture_proportion,
    mixture_proportion_interval,
    probe_reach,
)
from stratigraphy.analysis.mislabel import CONSENSUS, PROBE_FREE_SCORE
from stratigraphy.analysis.prevalence import (
    Prevalence,
    adjust_posteriors,
    em_priors,
    estimate_prevalence,
    shift_priors,
)
from stratigraphy.analysis.shares import Agreement, mostly_agree
from stratigraphy.cli import _answer_table, _shortfall_hint, app
from stratigraphy.core.errors import ConfigError
from stratigraphy.curate.fixes import plan_fixes
from stratigraphy.job import reanalyse
from stratigraphy.probes.suites import BUILTIN_SUITES
from stratigraphy.rundir.layout import write_json
from stratigraphy.rundir.view import RunView


def _posteriors(priors: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated posteriors of a 3-kind Gaussian mixture under *balanced* training priors, for
    data drawn with ``priors``."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=priors)
    centres = np.array([-2.0, 0.0, 2.5])
    x = centres[kind] + rng.standard_normal(n)
    like = np.exp(-0.5 * (x[:, None] - centres[None, :]) ** 2)
    return like / like.sum(1, keepdims=True), kind


def test_em_recovers_the_data_priors_from_balanced_posteriors() -> None:
    truth = np.array([0.85, 0.12, 0.03])
    proba, _ = _posteriors(truth, 20_000, seed=0)
    balanced = np.full(3, 1 / 3)
    naive = np.bincount(proba.argmax(1), minlength=3) / proba.shape[0]
    estimate = em_priors(proba, balanced)
    assert np.abs(estimate - truth).max() < 0.02
    assert np.abs(naive - truth).max() > 0.05  # the argmax count is what a user cannot believe


@pytest.mark.parametrize("cells", [1 << 22, 64])
def test_em_fits_many_resamplings_together_as_it_fits_each(
    cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bootstrap's resamplings are fitted in one batch (rows in blocks where the batch
    would not fit at once): each gives the priors fitted on its weights alone."""
    proba, _ = _posteriors(np.array([0.7, 0.25, 0.05]), 2_000, seed=5)
    whole = em_priors(proba, np.full(3, 1 / 3))
    monkeypatch.setattr(prevalence, "_BLOCK_CELLS", cells)
    rng = np.random.default_rng(6)
    weights = rng.multinomial(2_000, np.full(2_000, 1 / 2_000), size=7).astype(float)
    weights[3] = 1.0  # one resampling that is the data itself
    start = np.array([0.5, 0.3, 0.2])
    together = em_priors(proba, np.full(3, 1 / 3), weights, start)
    assert together.shape == (7, 3)
    for w, fitted in zip(weights, together, strict=True):
        np.testing.assert_allclose(fitted, em_priors(proba, np.full(3, 1 / 3), w, start),
                                   atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(together[3], whole, atol=1e-6)
    assert np.ptp(together[:, 0]) > 1e-3  # the resamplings differ, so the batch is not one fit


@pytest.mark.parametrize("method", ["bbse", "em"])
def test_an_absent_kind_comes_out_near_zero_with_an_interval_covering_the_truth(
    method: str,
) -> None:
    truth = np.array([0.9, 0.1, 0.0])
    proba, _ = _posteriors(truth, 5_000, seed=1)
    heldout, suite = _posteriors(np.full(3, 1 / 3), 600, seed=2)
    prev = estimate_prevalence(proba, heldout, suite, np.full(3, 1 / 3), ["a", "b", "c"],
                               seed=0, method=method, rounds=50)  # fmt: skip
    assert prev.share[2] < 0.01 and abs(prev.share.sum() - 1) < 1e-6
    assert np.all(prev.low <= truth + 0.01) and np.all(prev.high >= truth - 0.01)
    adjusted = adjust_posteriors(proba, np.full(3, 1 / 3), prev.share)
    np.testing.assert_allclose(adjusted.sum(1), 1.0, rtol=1e-5)
    assert (adjusted.argmax(1) == 2).mean() < (proba.argmax(1) == 2).mean()


def test_shift_estimation_recovers_priors_from_miscalibrated_posteriors() -> None:
    """Posteriors sharpened (overconfident) the same way on probes and real rows: EM drifts,
    black-box shift estimation does not need calibration."""
    truth = np.array([0.85, 0.12, 0.03])
    proba, _ = _posteriors(truth, 20_000, seed=3)
    heldout, suite = _posteriors(np.full(3, 1 / 3), 3_000, seed=4)
    sharpen = lambda p: p**3 / (p**3).sum(1, keepdims=True)  # noqa: E731
    est = shift_priors(sharpen(proba), sharpen(heldout), suite)
    assert np.abs(est - truth).max() < 0.02
    assert np.abs(em_priors(sharpen(proba), np.full(3, 1 / 3)) - truth).max() > 0.05
    with pytest.raises(ConfigError):
        estimate_prevalence(proba, heldout, suite, np.full(3, 1 / 3), list("abc"), method="x")


def test_the_shift_estimate_has_an_interval_that_holds_the_truth() -> None:
    """:func:`shift_estimate`: the priors of :func:`shift_priors` with a bootstrap interval over
    rows and probes that holds the truth, narrower with more rows."""
    truth = np.array([0.8, 0.15, 0.05])
    widths = []
    for n, seed in ((2_000, 7), (20_000, 8)):
        proba, _ = _posteriors(truth, n, seed=seed)
        heldout, suite = _posteriors(np.full(3, 1 / 3), 900, seed=seed + 10)
        share, low, high = prevalence.shift_estimate(proba, heldout, suite, seed=0, rounds=100)
        np.testing.assert_allclose(share, shift_priors(proba, heldout, suite))
        assert np.all(low <= truth) and np.all(truth <= high) and np.all(low <= share)
        widths.append(float((high - low)[1]))
    assert widths[1] < widths[0]


@pytest.mark.parametrize("fdr", [0.05, 0.1, 0.2])
def test_two_groups_fdr_keeps_the_share_of_false_flags_at_the_level(fdr: float) -> None:
    """Two populations: ordinary scores ~ N(0, 1), problems ~ N(2.5, 1) at 15%; 250 probes drawn
    like the problems and the true share. Over repetitions the mean share of false flags stays
    at or below the level, and most problems are caught."""
    false_shares, caught = [], []
    for rep in range(40):
        rng = np.random.default_rng(rep)
        problem = rng.random(20_000) < 0.15
        score = np.where(problem, 2.5, 0.0) + rng.standard_normal(problem.size)
        probes = 2.5 + rng.standard_normal(250)
        flagger = MixtureFlagger.fit(["x"], {"x": probes}, {"x": score}, {"x": 0.15}, fdr)
        q, _ = flagger.combined(flagger.q_values({"x": score}))
        flags = flagger.flag(q)
        false_shares.append((flags & ~problem).sum() / max(flags.sum(), 1))
        caught.append((flags & problem).sum() / problem.sum())
    assert np.mean(false_shares) <= fdr + 0.02
    assert np.mean(caught) > 0.3


def test_the_median_over_probe_draws_steadies_the_cut_where_the_rate_is_flat() -> None:
    """20% label errors ~N(3, 1) among ordinary rows ~N(0, 1), and 2% of clean rows that score
    like errors: the expected share of false flags stays near 0.1 over a long stretch of the
    evidence, so one draw of 250 probes puts the cut anywhere along it. The median over
    redrawn probes moves the flag count far less from one draw to the next, with the false
    share still at the level, and the spread it reports holds the count it flags."""
    rng = np.random.default_rng(7)
    kind = rng.choice(3, size=20_000, p=[0.78, 0.2, 0.02])
    score = np.where(kind == 0, 0.0, 3.0) + rng.standard_normal(kind.size)
    counts: dict[int, list[int]] = {0: [], 60: []}
    for rounds, found in counts.items():
        false = []
        for trial in range(30):
            probes = 3.0 + np.random.default_rng(100 + trial).standard_normal(250)
            flagger = MixtureFlagger.fit(["x"], {"x": probes}, {"x": score}, {"x": 0.2}, 0.1,
                                         seed=trial, rounds=rounds)  # fmt: skip
            flags = flagger.flag(flagger.q_values({"x": score})["x"])
            found.append(int(flags.sum()))
            false.append((kind[flags] != 1).mean() if flags.any() else 0.0)
            low, high = flagger.cuts["x"].flagged_spread
            assert low - 1e-9 <= flags.mean() <= high + 1e-9
        assert np.mean(false) <= 0.1 + 0.03
    assert np.std(counts[60]) < 0.8 * np.std(counts[0])
    assert min(counts[60]) > 10 * max(min(counts[0]), 1)
    with pytest.raises(ConfigError, match="flag_draws"):
        InferenceConfig(flag_draws=-1).validate()


def test_the_mixture_bound_recovers_the_share_and_never_undershoots_much() -> None:
    """Where the problems' scores reach beyond the ordinary ones, the bound min S_real / S_probes
    lands on the true share; where they overlap completely it can only overestimate."""
    rng = np.random.default_rng(1)
    for share in (0.05, 0.2, 0.4):
        errors = []
        for _ in range(10):
            problem = rng.random(20_000) < share
            score = np.where(problem, 4.0, 0.0) + rng.standard_normal(problem.size)
            errors.append(
                mixture_proportion(score, 4.0 + rng.standard_normal(250)) - problem.mean()
            )
        assert abs(np.mean(errors)) < 0.015 and np.abs(errors).max() < 0.06, errors
    overlap = rng.standard_normal(20_000)
    assert mixture_proportion(overlap, rng.standard_normal(500)) > 0.8
    low, high = mixture_proportion_interval(score, 4.0 + rng.standard_normal(500))
    assert low <= problem.mean() + 0.03 and high >= problem.mean() - 0.03


def test_a_kind_with_no_share_flags_nothing_and_kinds_combine() -> None:
    rng = np.random.default_rng(0)
    n = 5_000
    a = np.where(np.arange(n) < 500, 5.0, 0.0) + rng.standard_normal(n)
    b = np.where(np.arange(n) >= n - 500, 5.0, 0.0) + rng.standard_normal(n)
    probes = {"a": 5.0 + rng.standard_normal(300), "b": 5.0 + rng.standard_normal(300)}
    flagger = MixtureFlagger.fit(["a", "b"], probes, {"a": a, "b": b}, {"a": 0.1, "b": 0.1})
    q, which = flagger.combined(flagger.q_values({"a": a, "b": b}))
    flags = flagger.flag(q)
    assert flags[:500].mean() > 0.9 and (which[:500][flags[:500]] == 0).all()
    assert flags[-500:].mean() > 0.9 and (which[-500:][flags[-500:]] == 1).all()
    assert flags[500:-500].sum() / flags.sum() <= 0.12
    none = MixtureFlagger.fit(["a"], {"a": probes["a"]}, {"a": a}, {"a": 0.0})
    assert not none.flag(none.combined(none.q_values({"a": a}))[0]).any()
    assert none.summary()["evidence_cut"] == {"a": None}


def test_members_of_another_kind_count_as_problems_found_not_as_false_flags() -> None:
    """Kind a's members (10%) and kind b's (10%) both score high on a's evidence. Counting b's
    probes at b's share in a's alternative flags the b members that a's evidence reaches (they
    are problems) instead of treating them as clean: over repetitions the mean share of
    flagged clean rows stays at the level, and a flags far more than without them."""
    false_shares, gain = [], []
    for rep in range(10):
        rng = np.random.default_rng(rep)
        kind = rng.choice(3, size=20_000, p=[0.8, 0.1, 0.1])
        score = np.array([0.0, 3.0, 2.0])[kind] + rng.standard_normal(kind.size)
        probes = {"a": 3.0 + rng.standard_normal(300), "b": 2.0 + rng.standard_normal(300)}
        prior = {"a": 0.1, "b": 0.1}
        alone = MixtureFlagger.fit(["a"], {"a": probes["a"]}, {"a": score}, prior)
        joint = MixtureFlagger.fit(["a"], {"a": probes["a"]}, {"a": score}, prior,
                                   others={"a": {"b": probes["b"]}})  # fmt: skip
        flags_alone = alone.flag(alone.q_values({"a": score})["a"])
        flags = joint.flag(joint.q_values({"a": score})["a"])
        false_shares.append((kind[flags] == 0).mean())
        gain.append(flags.sum() / max(flags_alone.sum(), 1))
    assert np.mean(false_shares) <= 0.12
    assert np.median(gain) > 3


def test_a_kind_expected_to_hold_less_than_one_row_flags_none() -> None:
    """Kind b's members (10%) reach kind a's evidence, and a's share is 1e-28 (EM's fixed point
    short of zero): a's q-values would rest on b's members alone and flag them as a. It flags
    nothing, as at a share of 0, and does flag at one row's worth and more."""
    rng = np.random.default_rng(0)
    member = rng.random(20_000) < 0.1
    score = np.where(member, 3.0, 0.0) + rng.standard_normal(member.size)
    probes = {"a": 3.0 + rng.standard_normal(300), "b": 3.0 + rng.standard_normal(300)}
    for share, flags in ((0.0, False), (1e-28, False), (0.01, True)):
        flagger = MixtureFlagger.fit(
            ["a"], {"a": probes["a"]}, {"a": score}, {"a": share, "b": 0.1},
            others={"a": {"b": probes["b"]}},
        )  # fmt: skip
        assert bool(flagger.flag(flagger.q_values({"a": score})["a"]).any()) is flags


def test_a_run_judges_every_example_and_gives_every_flag_a_reason(digits_run) -> None:
    ex = digits_run.examples.to_pandas()
    summary = digits_run.summary
    assert (ex.verdict != "unscored").all() and ex.q_value.notna().all()
    assert summary["n_scored"] == summary["n_examples"] == len(ex)
    assert summary["source_fold"]["judged"] == int((ex.row < 0).sum()) > 0
    flagged = ex[ex.flagged]
    assert len(flagged) and (flagged.reason.str.len() > 20).all()
    assert (ex.reason[~ex.flagged] == "").all()
    assert set(flagged.verdict) <= {"mislabeled", "corrupted", "random_input"}
    assert summary["flags"]["flagged"] == len(flagged)


def test_prevalence_recovers_the_planted_share_on_digits(digits_run) -> None:
    """10% of labels flipped (symmetric): the estimated mislabeled share of every example (the
    probe sources, judged in the source fold, included) within 3 points of the truth, the
    interval around it, and no corrupted or random inputs."""
    prev = digits_run.summary["prevalence"]
    ex = digits_run.examples.to_pandas()
    assert prev["examples_described"] == digits_run.summary["n_examples"] == len(ex)
    truth = ex.planted_error.mean()
    assert abs(prev["share"]["mislabeled"] - truth) < 0.03
    assert prev["low"]["mislabeled"] <= prev["share"]["mislabeled"] <= prev["high"]["mislabeled"]
    assert prev["share"]["corrupted"] + prev["share"]["random_input"] < 0.02


def test_a_lowered_share_goes_to_the_kinds_named_and_intervals_follow() -> None:
    """Lowering a problem kind's share (its mixture bound) hands the freed share to the clean
    kinds only, in proportion, and keeps every estimate inside its interval."""
    from stratigraphy.analysis.prevalence import Prevalence

    share, low, high = [0.5, 0.3, 0.15, 0.05], [0.45, 0.25, 0.1, 0.03], [0.55, 0.35, 0.2, 0.07]
    prev = Prevalence(list("tamr"), np.array(share), np.array(low), np.array(high), 100)
    lowered = prev.with_share(3, 0.01, 0.0, 0.02, into=[0, 1])
    assert lowered.share.sum() == pytest.approx(1.0)
    assert lowered.share[2] == 0.15 and lowered.share[3] == 0.01
    assert lowered.share[0] / lowered.share[1] == pytest.approx(0.5 / 0.3)
    assert (lowered.low <= lowered.share).all() and (lowered.share <= lowered.high).all()


def test_the_shares_cover_the_probe_sources_by_their_posteriors() -> None:
    """An estimate over 900 rows joined by 100 sources judged elsewhere: each kind's share is
    the rows' share and the sources' summed posteriors over all 1,000, intervals alike."""
    from stratigraphy.analysis.prevalence import Prevalence

    prev = Prevalence(list("cm"), np.array([0.8, 0.2]), np.array([0.75, 0.15]),
                      np.array([0.85, 0.25]), 900)  # fmt: skip
    sources = np.tile([0.95, 0.05], (100, 1))
    whole = prev.covering(900, sources)
    assert whole.covers == 1000 and whole.n == 900
    assert whole.share == pytest.approx([(720 + 95) / 1000, (180 + 5) / 1000])
    assert whole.share.sum() == pytest.approx(1.0)
    assert whole.low[1] == pytest.approx((135 + 5) / 1000)
    assert whole.high[1] == pytest.approx((225 + 5) / 1000)
    assert prev.covering(900, np.empty((0, 2))) is prev


def _engine_with_share(share: float) -> AnalysisEngine:
    """An engine at the point where the shares are tightened: built-in suites, balanced training
    priors and an EM estimate putting ``share`` on mislabeled, the rest on the clean kinds."""
    engine = AnalysisEngine()
    engine.suites_ = list(BUILTIN_SUITES)
    k = len(engine.suites_)
    engine.train_priors_ = np.full(k, 1.0 / k)
    prior = np.zeros(k)
    prior[engine.suites_.index("mislabeled")] = share
    prior[[engine.suites_.index("typical"), engine.suites_.index("atypical")]] = (1 - share) / 2
    engine.prevalence_ = Prevalence(engine.suites_, prior, prior, prior, 20_000)
    engine.n_classes_, engine.calibration_probes_ = 10, False
    return engine


@pytest.mark.parametrize("probe_centre", [2.0, 6.0])
def test_flags_are_withheld_where_the_probes_do_not_stand_for_the_data_errors(
    probe_centre: float,
) -> None:
    """15% label errors score ~N(2, 1) among ordinary rows ~N(0, 1). Probes drawn like them
    give flags at the level. Probes far above them (systematic noise the model partly learns,
    against random flips) put the mixture bound far below EM's share: those flags could be
    false at any rate, so none are raised, the share stays and a note says why."""
    rng = np.random.default_rng(3)
    wrong = rng.random(20_000) < 0.15
    score = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
    probes = probe_centre + rng.standard_normal(250)
    engine = _engine_with_share(0.15)
    k = len(engine.suites_)
    posteriors = np.full((wrong.size, k), 1.0 / k)
    probe_suite = np.full(probes.size, "mislabeled", dtype=object)
    engine._fit_shares_and_flags(
        (posteriors, score), (np.full((probes.size, k), 1.0 / k), probes), probe_suite, None
    )
    engine.chosen_, engine.consensus_ = CONSENSUS, ["aum", "mean_loss"]
    engine._rank_without_probes(None)
    fold = AnalysisEngine()
    fold._rank_without_probes(engine)
    assert fold.probe_choice_ == engine.probe_choice_
    assert engine.flagger_ is not None
    flags = engine.flagger_.flag(engine.flagger_.cuts["mislabeled"].q_values(score))
    if probe_centre == 2.0:
        assert engine.withheld_ == [] and flags.sum() > 500
        assert (~wrong[flags]).mean() <= 0.12
        assert engine.chosen_ == CONSENSUS and engine.probe_choice_ is None
    else:
        # the probes' held-out AP cannot choose the score either: it is set aside, and kept
        assert engine.chosen_ == PROBE_FREE_SCORE and engine.consensus_ == []
        assert engine.probe_choice_ == {"chosen": CONSENSUS, "consensus_of": ["aum", "mean_loss"]}
        assert engine.withheld_ == ["mislabeled"] and not flags.any()
        assert engine.flagger_.summary()["withheld"] == ["mislabeled"]
        assert "nothing is flagged as mislabeled" in engine.notes_[0]
        assert engine.prevalence_.share[engine.suites_.index("mislabeled")] == pytest.approx(0.15)


def test_a_withheld_share_is_uncertain_up_to_the_probes_weighted_to_the_data_errors() -> None:
    """15% label errors, all T-shirts called shirts (class 0 → 1), score ~N(2, 1); half the
    calibration probes make that confusion and score like them, half relabel uniformly and
    score far above (~N(6, 1)). EM, trained on such probes, says 7%: the flags are withheld,
    and the interval, which was EM's alone, now reaches the bound of the probes weighted to
    the data's own error pair, which holds the truth. Without the data's pairs it stays."""
    rng = np.random.default_rng(5)
    wrong = rng.random(20_000) < 0.15
    score = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
    plausible = np.arange(250) % 2 == 0
    probes = np.where(plausible, 2.0, 6.0) + rng.standard_normal(250)
    source = np.where(plausible, 0, rng.integers(2, 10, 250))
    label = np.where(plausible, 1, (source + rng.integers(1, 10, 250)) % 10)
    pairs = np.zeros((10, 10))
    pairs[0, 1] = 1.0
    j = BUILTIN_SUITES.index("mislabeled")
    for known in (True, False):
        engine = _engine_with_share(0.07)
        engine.error_pairs_ = pairs if known else None
        k = len(engine.suites_)
        engine._fit_shares_and_flags(
            (np.full((wrong.size, k), 1.0 / k), score),
            (np.full((250, k), 1.0 / k), probes),
            np.full(250, "mislabeled", dtype=object), None,
            weights=pair_weights(source, label, pairs),
        )  # fmt: skip
        assert engine.withheld_ == ["mislabeled"]
        share, high = engine.prevalence_.share[j], engine.prevalence_.high[j]
        assert share == pytest.approx(0.07)
        # the pairs bear EM's share out: its lower end stays; without them it reaches the bound
        assert bool(engine.prevalence_.low[j] == pytest.approx(0.07)) is known
        if known:
            assert 0.15 <= high <= 0.22
            assert engine.reweighted_["mislabeled"]["bound"] == pytest.approx(high)
            assert "bound the share at" in engine.notes_[0]
            assert "most often 0→1" in engine.notes_[0]  # no class names: indices
            engine.class_names_ = ["T-shirt/top", "Trouser", *map(str, range(2, 10))]
            named = engine._bound_by_pairs("mislabeled", 0.2, 0.07, 0.07)
            assert "most often T-shirt/top→Trouser" in named
        else:
            assert high == pytest.approx(0.07) and engine.reweighted_ == {}


def test_a_withheld_share_is_the_shift_estimate_where_the_data_errors_bear_it_out() -> None:
    """15% label errors, all T-shirts called shirts, look partly clean to the inferers
    (posteriors near 0.4 typical, 0.5 mislabeled) and score like the plausible half of the
    calibration probes, whose posteriors are theirs; the held-out clean probes are plain.
    EM, trained on plainer errors, says 7%; the flags are withheld. Where the data's error
    pair bears EM's share out, the estimate becomes the shift estimate against the
    calibration probes, near the truth, inside an interval from EM's lower end; without the
    pair it stays EM's."""
    rng = np.random.default_rng(13)
    n, m = 20_000, 250
    wrong = rng.random(n) < 0.15
    score = np.where(wrong, 2.0, 0.0) + rng.standard_normal(n)
    plausible = np.arange(m) % 2 == 0
    calibration = np.where(plausible, 2.0, 6.0) + rng.standard_normal(m)
    source = np.where(plausible, 0, rng.integers(2, 10, m))
    label = np.where(plausible, 1, (source + rng.integers(1, 10, m)) % 10)
    pairs = np.zeros((10, 10))
    pairs[0, 1] = 1.0
    look = {"typical": [0.8, 0.1, 0.1, 0, 0], "atypical": [0.2, 0.7, 0.1, 0, 0],
            "mislabeled": [0.4, 0.1, 0.5, 0, 0]}  # fmt: skip

    def posteriors(kinds: np.ndarray) -> np.ndarray:
        """A Dirichlet draw around each kind's look per row."""
        names, inverse = np.unique(kinds, return_inverse=True)
        mean = np.array([look[str(k)] for k in names])[inverse] + 1e-3
        drawn = rng.gamma(50.0 * mean)
        return drawn / drawn.sum(1, keepdims=True)

    rows = np.where(wrong, "mislabeled", np.where(rng.random(n) < 0.5, "typical", "atypical"))
    probe_suite = np.repeat(np.array(["typical", "atypical", "mislabeled"], dtype=object), m)
    probe_score = np.concatenate([rng.standard_normal(2 * m), calibration])
    weights = np.concatenate([np.zeros(2 * m), pair_weights(source, label, pairs)])
    j = BUILTIN_SUITES.index("mislabeled")
    for known in (True, False):
        engine = _engine_with_share(0.07)
        engine.calibration_probes_ = True
        engine.error_pairs_ = pairs if known else None
        engine._fit_shares_and_flags(
            (posteriors(rows), score), (posteriors(probe_suite), probe_score), probe_suite,
            None, weights=weights,
        )  # fmt: skip
        assert engine.withheld_ == ["mislabeled"]
        share, low, high = (float(engine.prevalence_.share[j]), float(engine.prevalence_.low[j]),
                            float(engine.prevalence_.high[j]))  # fmt: skip
        assert engine.prevalence_.share.sum() == pytest.approx(1.0)
        if known:
            assert share == pytest.approx(0.15, abs=0.02) and low == pytest.approx(0.07)
            assert share <= high and engine.reweighted_["mislabeled"]["shifted"] == share
            assert "black-box shift estimation" in engine.notes_[-1]
        else:
            assert share == pytest.approx(0.07) and "shift" not in engine.notes_[-1]


def test_a_withheld_share_reaches_down_to_the_bound_where_ems_errors_may_be_clean_rows() -> None:
    """No label errors at all: every row scores ~N(0, 1), the calibration probes ~N(3, 1), and
    EM, misled by hard clean rows (a rare class's, outvoted by its neighbours), reads 4%. The
    bound contradicts that, so the flags are withheld and the share stays EM's, but its
    interval, EM's alone before (4.0–4.0%), now reaches down to the bound's lower end and holds
    the truth (no error pairs bear EM's share out); the note names both readings."""
    rng = np.random.default_rng(7)
    score = rng.standard_normal(20_000)
    probes = 3.0 + rng.standard_normal(250)
    engine = _engine_with_share(0.04)
    k, j = len(engine.suites_), engine.suites_.index("mislabeled")
    engine._fit_shares_and_flags(
        (np.full((score.size, k), 1.0 / k), score), (np.full((250, k), 1.0 / k), probes),
        np.full(250, "mislabeled", dtype=object), None,
    )  # fmt: skip
    assert engine.withheld_ == ["mislabeled"]
    assert engine.prevalence_.share[j] == pytest.approx(0.04)
    assert engine.prevalence_.low[j] <= 0.005 and engine.prevalence_.high[j] == pytest.approx(0.04)
    assert "take hard clean examples for wrong labels" in engine.notes_[0]


def test_wrong_label_flags_assume_the_errors_among_the_clean_suites_too() -> None:
    """42% label errors ~N(2, 1) among clean rows ~N(0, 1), calibration probes drawn like them.
    EM puts 34% on the wrong-label suite and counts a fifth of the typical suite's share
    (33%) as errors too: 40.6% as a kind, at its lower end. The calibration probes stand for
    all of them, so
    the flags assume the kind's share's lower end, not the suite's 34%: they then catch far
    more of the errors and still hold the level. Without calibration probes, and for a kind
    whose flags are withheld, the suite's share stays."""
    rng = np.random.default_rng(11)
    wrong = rng.random(20_000) < 0.42
    score = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
    probes = 2.0 + rng.standard_normal(250)
    engine = _engine_with_share(0.34)
    engine.calibration_probes_ = True
    j, t = engine.suites_.index("mislabeled"), engine.suites_.index("typical")
    engine.unmixing_ = ((t, j, 0.2, 0.2, 0.2),)
    engine.withheld_, engine.flag_scale_ = [], {}
    kind_low = float(engine.kind_prevalence().low[j])
    assert kind_low == pytest.approx(0.34 + 0.2 * 0.33)
    assumed = engine._for_flags({"mislabeled": 0.34})["mislabeled"]
    assert assumed == pytest.approx(kind_low)
    caught = {}
    for prior in (0.34, assumed):
        flagger = MixtureFlagger.fit(["mislabeled"], {"mislabeled": probes},
                                     {"mislabeled": score}, {"mislabeled": prior})  # fmt: skip
        flags = flagger.flag(flagger.cuts["mislabeled"].q_values(score))
        assert (~wrong[flags]).mean() <= 0.12
        caught[prior] = flags[wrong].mean()
    assert caught[assumed] > caught[0.34] + 0.2
    engine.withheld_ = ["mislabeled"]
    assert engine._for_flags({"mislabeled": 0.34})["mislabeled"] == pytest.approx(0.34)
    engine.withheld_, engine.calibration_probes_ = [], False
    assert engine._for_flags({"mislabeled": 0.34})["mislabeled"] == pytest.approx(0.34)


def _tighten_inputs(
    errors: float, probe_centre: float, n_probes: int, n_rows: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows with ``errors`` label errors scoring ~N(2, 1) among ordinary rows ~N(0, 1), and
    calibration probes ~N(``probe_centre``, 1)."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(n_rows) < errors
    score = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
    return score, probe_centre + rng.standard_normal(n_probes)


def _tighten(
    share: float,
    errors: float,
    probe_centre: float,
    n_probes: int = 250,
    n_rows: int = 20_000,
    seed: int = 11,
    calibration: bool = True,
) -> tuple[AnalysisEngine, int, float]:
    """An engine whose EM put ``share`` on mislabeled (interval from 0.9 of it to 2 points
    above) tightened against :func:`_tighten_inputs` (as calibration probes, drawn like the
    data's errors, or not); with the mislabeled index and EM's upper end."""
    score, probes = _tighten_inputs(errors, probe_centre, n_probes, n_rows, seed)
    engine = _engine_with_share(share)
    engine.calibration_probes_ = calibration
    j = engine.suites_.index("mislabeled")
    em = engine.prevalence_.share
    em_high = em[j] + 0.02
    high = np.where(np.arange(em.size) == j, em_high, em)
    engine.prevalence_ = Prevalence(engine.suites_, em, em * 0.9, high, 20_000)
    k = len(engine.suites_)
    engine._fit_shares_and_flags(
        (np.full((n_rows, k), 1.0 / k), score), (np.full((n_probes, k), 1.0 / k), probes),
        np.full(n_probes, "mislabeled", dtype=object), None,
    )  # fmt: skip
    return engine, j, em_high


@pytest.mark.parametrize("errors", [0.15, 0.0])
def test_a_share_capped_at_its_bound_keeps_ems_upper_end(errors: float) -> None:
    """15% label errors score ~N(2, 1), but the 250 calibration probes score higher, ~N(2.4, 1),
    so at the probes' upper quantiles fewer rows reach them than EM's 15% of members would,
    beyond the probes' draw: the probes contradict EM, and the share is cut to the mixture
    bound, which falls short of the truth (about 9%). Its interval reaches EM's upper end,
    which holds the truth; a note says why. With no label errors EM's 1.6% (hard clean rows)
    is cut under half a point, the interval still reaching EM's 3.6%, and no note. The flags
    assume the interval's lower end: at the bound itself, the rows above the threshold that
    sets it would all count as members."""
    engine, j, em_high = _tighten(max(errors, 0.016), errors, 2.4)
    got = engine.prevalence_
    assert engine.withheld_ == [] and got.high[j] == pytest.approx(em_high)
    if errors:
        assert got.low[j] <= got.share[j] < 0.10 < errors < got.high[j]
        assert any(n.startswith("EM puts 15.0% of the examples") for n in engine.notes_)
    else:
        assert got.share[j] < 0.005 and engine.notes_ == []
    assert engine.flagger_ is not None
    assert engine.flagger_.cuts["mislabeled"].prior == pytest.approx(got.low[j])
    assert got.low[j] < got.share[j]


@pytest.mark.parametrize("calibration", [True, False])
def test_ems_share_stays_where_the_bound_lies_below_it_by_no_more_than_the_probes_draw(
    calibration: bool,
) -> None:
    """50 wrong-label probes ~N(2.2, 1) against the data's errors ~N(2, 1), as a draw on small
    data can fall: the mixture bound reads 9% where EM (and the truth) say 15%, but at no
    threshold by more than 50 probes' draw explains. EM's share stays, its interval reaches
    down to the bound and a note says so. The flags do not take EM's share: calibration
    probes (drawn like the data's errors) flag at the larger of the bound and EM's lower end
    (here EM's, 13.5%), other probes at the bound."""
    engine, j, em_high = _tighten(0.15, 0.15, 2.2, n_probes=50, calibration=calibration)
    got = engine.prevalence_
    bound = mixture_proportion(*_tighten_inputs(0.15, 2.2, 50, 20_000, 11))
    assert got.share[j] == pytest.approx(0.15) and got.high[j] == pytest.approx(em_high)
    assert 0.07 < bound < 0.11 and got.low[j] == pytest.approx(bound)
    for_flags = 0.135 if calibration else bound
    assert any("EM's share is kept" in n and f"assume {for_flags:.1%}" in n
               for n in engine.notes_)  # fmt: skip
    assert engine.flagger_ is not None
    assert engine.flagger_.cuts["mislabeled"].prior == pytest.approx(for_flags)


@pytest.mark.parametrize("low", [0.0, 0.00002, 0.015])
def test_a_kind_whose_interval_reaches_zero_flags_nothing(low: float) -> None:
    """2% label errors ~N(3, 1) among rows ~N(0, 1), probes drawn like them, EM at 2%. With
    EM's interval reaching 0, or less than one of the 20,000 rows, the kind may be absent: no
    error rate can be vouched for, so it flags nothing and a note says so. With the interval
    above that it flags."""
    rng = np.random.default_rng(5)
    wrong = rng.random(20_000) < 0.02
    score = np.where(wrong, 3.0, 0.0) + rng.standard_normal(wrong.size)
    probes = 3.0 + rng.standard_normal(250)
    engine = _engine_with_share(0.02)
    j = engine.suites_.index("mislabeled")
    em = engine.prevalence_.share
    engine.prevalence_ = Prevalence(
        engine.suites_, em, np.where(np.arange(em.size) == j, low, em), em + 0.01, 20_000
    )
    k = len(engine.suites_)
    engine._fit_shares_and_flags(
        (np.full((wrong.size, k), 1.0 / k), score), (np.full((250, k), 1.0 / k), probes),
        np.full(250, "mislabeled", dtype=object), None,
    )  # fmt: skip
    assert engine.flagger_ is not None
    q = engine.flagger_.q_values(dict.fromkeys(engine.flagger_.kinds, score))["mislabeled"]
    assert bool(engine.flagger_.flag(q).any()) is (low * 20_000 >= 1)
    assert any("the interval reaches 0" in n for n in engine.notes_) is (low * 20_000 < 1)


@pytest.mark.parametrize(("probe_centre", "withheld"), [(2.6, False), (2.8, True)])
def test_flags_are_withheld_only_where_the_probes_contradict_the_share(
    probe_centre: float, withheld: bool
) -> None:
    """3,000 rows, 15% label errors ~N(2, 1), 50 calibration probes. Probes ~N(2.6, 1) put the
    bound under half of EM's 15% (7%), but no more than 50 probes' draw explains: EM's share
    and the flags stay. Probes ~N(2.8, 1) (bound 4.7%) contradict it: the probes are unlike
    the data's errors, and the flags are withheld. Either way the interval reaches down to
    the bound."""
    engine, j, _ = _tighten(0.15, 0.15, probe_centre, n_probes=50, n_rows=3_000)
    assert engine.withheld_ == (["mislabeled"] if withheld else [])
    assert engine.prevalence_.share[j] == pytest.approx(0.15)
    assert engine.prevalence_.low[j] < 0.075


def test_the_probes_contradict_a_share_only_beyond_their_draw() -> None:
    """10% members ~N(2, 1) among rows ~N(0, 1), probes drawn like the members: over 40 draws
    of 1,500 rows and 50 probes the true share is never contradicted (the test holds 2.5%
    over all thresholds together), and with 250 probes and 20,000 rows three times the share
    is (the ordinary rows reach the members' evidence too, which takes some power)."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        wrong = rng.random(1_500) < 0.1
        real = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
        assert not contradicts_share(real, 2.0 + rng.standard_normal(50), float(wrong.mean()))
    rng = np.random.default_rng(0)
    wrong = rng.random(20_000) < 0.1
    real = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
    probes = 2.0 + rng.standard_normal(250)
    assert not contradicts_share(real, probes, 0.1) and contradicts_share(real, probes, 0.3)
    assert not contradicts_share(real, probes, 0.0)


def test_made_probes_are_trusted_only_up_to_their_median() -> None:
    """5% members whose evidence follows the probes' past the probes' median and falls short
    of their top (inserted images against random-input probes), among rows far below: the
    bound to the 80th percentile contradicts the true share and reads a fraction of it; to the
    median, the reach of a synthetic suite's probes, it does not, and reads close to it."""
    rng = np.random.default_rng(0)
    probes = rng.uniform(0.0, 1.0, 500)
    members = rng.uniform(0.0, 1.0, 1_000)
    members = np.where(members > 0.6, 0.6 + 0.2 * (members - 0.6), members)
    real = np.concatenate([members, rng.uniform(-1.0, -0.5, 19_000)])
    far = probe_reach("mislabeled")
    assert probe_reach("random_input") == 0.5 and far == probe_reach("corrupted") == 0.8
    assert contradicts_share(real, probes, 0.05, reach=far)
    assert mixture_proportion(real, probes, reach=far) < 0.02
    assert not contradicts_share(real, probes, 0.05, reach=0.5)
    assert 0.04 < mixture_proportion(real, probes, reach=0.5) <= 0.06


def test_a_random_input_share_its_probes_top_does_not_bear_out_is_kept_and_flags_less() -> None:
    """1.5% of the rows follow the random-input probes' evidence up to their 60th percentile
    and fall short of their top, as EM says: the share stays (the median's bound does not
    contradict it), its interval reaches down to the share that reaches the top, the flags
    assume that one (almost none here), and a note says so."""
    rng = np.random.default_rng(2)
    engine = _engine_with_share(0.0)
    suites, k = engine.suites_, len(engine.suites_)
    j, typ = suites.index("random_input"), suites.index("typical")
    prior = engine.prevalence_.share.copy()
    prior[j], prior[typ] = 0.015, prior[typ] - 0.015
    engine.prevalence_ = Prevalence(suites, prior, prior, prior, 20_000)
    member = rng.random(20_000) < 0.015
    evidence = rng.uniform(0.0, 1.0, member.size)
    evidence = np.where(evidence > 0.6, 0.6 + 0.2 * (evidence - 0.6), evidence)
    real = np.zeros((member.size, k))
    real[:, j] = np.where(member, evidence, rng.uniform(0.0, 0.01, member.size))
    real[:, typ] = 1.0 - real[:, j]
    probes = np.zeros((250, k))
    probes[:, j] = rng.uniform(0.0, 1.0, 250)
    probes[:, typ] = 1.0 - probes[:, j]
    engine._fit_shares_and_flags(
        (real, np.zeros(member.size)), (probes, np.zeros(250)),
        np.full(250, "random_input", dtype=object), None,
    )  # fmt: skip
    assert engine.prevalence_.share[j] == pytest.approx(0.015)
    assert engine.prevalence_.low[j] < 0.005 and engine.flag_scale_["random_input"] < 0.3
    assert any("reach its top" in n for n in engine.notes_)


def _fit_on_corrupted_posteriors(
    engine: AnalysisEngine, rng: np.random.Generator, members: float,
    member_range: tuple[float, float], rest_top: float,
) -> np.ndarray:  # fmt: skip
    """Fit ``engine``'s shares and flags on 20,000 rows whose corrupted posterior is
    ~U(``member_range``) for a share ``members`` of them and ~U(0, ``rest_top``) otherwise,
    against 250 corrupted probes drawn like the members; the rows' posteriors."""
    k, j = len(engine.suites_), engine.suites_.index("corrupted")
    member = rng.random(20_000) < members
    real = np.zeros((member.size, k))
    real[:, j] = np.where(member, rng.uniform(*member_range, member.size),
                          rng.uniform(0.0, rest_top, member.size))  # fmt: skip
    real[:, 0] = 1.0 - real[:, j]
    probes = np.zeros((250, k))
    probes[:, j] = rng.uniform(*member_range, 250)
    probes[:, 0] = 1.0 - probes[:, j]
    engine._fit_shares_and_flags(
        (real, np.zeros(member.size)), (probes, np.zeros(250)),
        np.full(250, "corrupted", dtype=object), None,
    )  # fmt: skip
    return real


@pytest.mark.parametrize("members", [0.05, 0.0])
def test_an_absent_kind_s_interval_reaches_the_share_its_probes_bound(members: float) -> None:
    """EM and shift estimation put nothing on corrupted (interval 0–0), but 5% of the rows
    score like the corrupted probes (posterior ~U(0.4, 0.9) against ~U(0, 0.5)): the clean
    probes held such rows, so the estimators read them as clean. The share stays 0, the
    interval reaches the probes' mixture bound, which holds the truth, and a note says so.
    With no such rows the interval stays 0–0."""
    engine = _engine_with_share(0.0)
    j = engine.suites_.index("corrupted")
    _fit_on_corrupted_posteriors(engine, np.random.default_rng(7), members, (0.4, 0.9), 0.5)
    share, high = engine.prevalence_.share[j], engine.prevalence_.high[j]
    assert share == 0.0 and engine.prevalence_.low[j] == 0.0
    if members:
        assert members <= high <= 0.15
        assert any(n.startswith("No corrupted examples are estimated") for n in engine.notes_)
    else:
        assert high == 0.0 and engine.notes_ == []


def _discount_trials(
    seeds: range, clean_errors: float, plain: float | None, fixed: float
) -> tuple[float, float]:
    """30% label errors (evidence ~N(3, 1) against N(0, 1)) and 250 probes, a fifth of them
    relabelled back (scoring like clean rows); ``clean_errors`` of the 250 clean probes are
    label errors. Over the seeds: the mean share of false flags when the discount (ε = 0.2)
    takes the clean probes' errors as ``fixed``, and the median ratio of those flags to the
    ones with ``plain`` (None: no discount)."""
    false_shares, gain = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        wrong = rng.random(20_000) < 0.3
        score = np.where(wrong, 3.0, 0.0) + rng.standard_normal(wrong.size)
        probes = np.where(rng.random(250) < 0.2, 0.0, 3.0) + rng.standard_normal(250)
        errors = rng.random(250) < clean_errors if clean_errors > 0 else np.zeros(250, bool)
        clean = np.where(errors, 3.0, 0.0) + rng.standard_normal(250)
        flags = []
        for c in (plain, fixed):
            mix = None if c is None else {"x": CalibrationMix(0.2, clean, c)}
            flagger = MixtureFlagger.fit(["x"], {"x": probes}, {"x": score}, {"x": 0.3}, mix=mix)
            flags.append(flagger.flag(flagger.q_values({"x": score})["x"]))
        false_shares.append((~wrong[flags[1]]).mean())
        gain.append(flags[1].sum() / max(flags[0].sum(), 1))
    return float(np.mean(false_shares)), float(np.median(gain))


def test_probes_a_new_label_made_correct_are_discounted() -> None:
    """Probes built by relabelling examples drawn at random: where the example's label was
    already wrong, the new one can be right, and such a probe scores like a clean row. With a
    fifth of the probes restored, taking them at face value understates the members' evidence
    and flags far fewer at the level; discounting them (ε = 0.2, against the correctly labelled
    probes' evidence) keeps the mean share of false flags at the level and catches more."""
    false_share, gain = _discount_trials(range(20), clean_errors=0.0, plain=None, fixed=0.0)
    assert false_share <= 0.1 + 0.01
    assert gain > 1.5


def test_probes_drawn_from_odd_inputs_are_discounted() -> None:
    """10% label errors (evidence ~N(3, 1)) and 8% odd inputs with their own labels (~N(0.5,
    1), as clean rows ~N(0, 1)); the 250 calibration probes are drawn from any row, so 8% of
    them are odd inputs under a new label, scoring like the random-input probes (~N(1.5, 0.5)).
    Taken at face value they understate the members' evidence and the flags run far under the
    level; discounting them at a share below theirs (6%) flags more, still at the level on
    average over the seeds, and the summary says what was discounted."""
    false_shares, gain = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        kind = rng.choice(3, size=20_000, p=[0.82, 0.1, 0.08])
        score = np.array([0.0, 3.0, 0.5])[kind] + rng.standard_normal(kind.size)
        odd = rng.random(250) < 0.08
        probes = np.where(odd, 1.5 + 0.5 * rng.standard_normal(250), 3 + rng.standard_normal(250))
        random_probes = 1.5 + 0.5 * rng.standard_normal(500)
        flags = []
        for mix in (None, {"x": CalibrationMix(inputs=(("odd", 0.06, random_probes),))}):
            flagger = MixtureFlagger.fit(["x"], {"x": probes}, {"x": score}, {"x": 0.1}, mix=mix)
            flags.append(flagger.flag(flagger.q_values({"x": score})["x"]))
        false_shares.append((kind[flags[1]] == 0).mean())
        gain.append(flags[1].sum() / max(flags[0].sum(), 1))
    assert np.mean(false_shares) <= 0.1 + 0.01
    assert np.median(gain) > 1.1
    assert flagger.summary()["probes_discounted"] == {"x": {"restored": 0.0, "odd": 0.06}}


def test_the_mixture_bound_takes_off_other_kinds_members_that_reach_the_evidence() -> None:
    """A fifth of the rows are label errors whose random-input evidence is raised (~N(2, 1)
    against N(0, 1)); random inputs score ~N(4, 1). Without random inputs in the data, the
    plain bound still leaves a share behind, which flags would spend on clean rows; taking the
    label errors off (at their share, by their probes' evidence) leaves none, and where 5% are
    random inputs it still finds them."""
    rng = np.random.default_rng(5)
    wrong_probes = 2.0 + rng.standard_normal(250)
    random_probes = 4.0 + rng.standard_normal(250)
    for share in (0.0, 0.05):
        kind = rng.choice(3, size=20_000, p=[0.8 - share, 0.2, share])
        evidence = np.array([0.0, 2.0, 4.0])[kind] + rng.standard_normal(kind.size)
        plain = mixture_proportion(evidence, random_probes)
        net = mixture_proportion(evidence, random_probes, others=[(0.2, wrong_probes)])
        if share == 0.0:
            assert plain > 0.001 and net < 0.0005
        else:
            assert abs(net - share) < 0.015 and net <= plain


def test_a_moved_part_of_a_suite_counts_as_another_kind_and_is_recorded() -> None:
    """Moving a fifth of suite t's share to kind m keeps the total, adds to m what t loses,
    widens both intervals by the part's own, and says so in the summary."""
    from stratigraphy.analysis.prevalence import Prevalence

    prev = Prevalence(list("tam"), np.array([0.4, 0.3, 0.3]), np.array([0.35, 0.25, 0.25]),
                      np.array([0.45, 0.35, 0.35]), 100)  # fmt: skip
    moved = prev.remixed([(0, 2, 0.2, 0.1, 0.3)])
    assert moved.share == pytest.approx([0.32, 0.3, 0.38]) and moved.share.sum() == 1.0
    assert moved.low[2] == pytest.approx(0.25 + 0.1 * 0.35)
    assert moved.high[2] == pytest.approx(0.35 + 0.3 * 0.45)
    assert moved.low[0] == pytest.approx(0.35 * 0.7) and moved.high[0] == pytest.approx(0.45 * 0.9)
    assert (moved.low <= moved.share).all() and (moved.share <= moved.high).all()
    assert moved.to_dict()["members_in_other_suites"] == {"m": {"t": 0.2}}
    assert prev.to_dict()["members_in_other_suites"] == {}


def test_label_errors_among_the_clean_probes_count_towards_the_wrong_label_share() -> None:
    """40% of the rows are label errors (evidence ~N(3, 1) against N(0, 1)), and so are a fifth
    of the typical probes, as on heavily noisy data where typical sources carry their own
    wrong labels. EM's suites put 30% on mislabeled and 35% on typical; a fifth of the typical
    share is label errors, so the wrong-label share comes to about 37%. Atypical probes that
    are clean move nothing."""
    rng = np.random.default_rng(11)
    wrong = rng.random(20_000) < 0.4
    score = np.where(wrong, 3.0, 0.0) + rng.standard_normal(wrong.size)
    typical = np.where(rng.random(250) < 0.2, 3.0, 0.0) + rng.standard_normal(250)
    probes = np.concatenate([3.0 + rng.standard_normal(250), typical, rng.standard_normal(250)])
    probe_suite = np.repeat(np.array(["mislabeled", "typical", "atypical"], dtype=object), 250)
    engine = _engine_with_share(0.3)
    k = len(engine.suites_)
    engine._fit_shares_and_flags(
        (np.full((wrong.size, k), 1.0 / k), score),
        (np.full((probes.size, k), 1.0 / k), probes), probe_suite, None,
    )  # fmt: skip
    assert engine.prevalence_.share[engine.suites_.index("mislabeled")] == pytest.approx(0.3)
    kinds = engine.kind_prevalence()
    share = kinds.share
    mislabeled, typical_at = engine.suites_.index("mislabeled"), engine.suites_.index("typical")
    parts = kinds.moved_parts["mislabeled"]
    assert abs(parts["typical"] - 0.2) < 0.07 and parts.get("atypical", 0.0) < 0.03
    assert share[mislabeled] == pytest.approx(0.3 + 0.35 * parts["typical"], abs=0.012)
    assert share[typical_at] == pytest.approx(0.35 * (1 - parts["typical"]), abs=0.012)
    assert share.sum() == pytest.approx(1.0)


def test_label_errors_among_the_clean_probes_are_taken_off_the_discount() -> None:
    """As above, but a third of the clean probes are label errors themselves (noisy data's
    typical examples keep their wrong labels): their survival at the top is then the errors',
    so discounting against it at face value takes too much off the members' and flags fewer.
    Given that share (c = 1/3), the members' survival is solved for, the mean share of false
    flags stays at the level and more are caught."""
    false_share, gain = _discount_trials(range(100, 120), clean_errors=1 / 3, plain=0.0,
                                         fixed=1 / 3)  # fmt: skip
    assert false_share <= 0.1 + 0.01
    assert gain > 1.1


@st.composite
def _estimates_and_moves(draw):
    """A prevalence estimate over three to six kinds with an interval around each share, and
    one to three parts of one kind to move to another, each with an interval around it."""
    k = draw(st.integers(3, 6))
    weights = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k))) + 1e-6
    share = weights / weights.sum()
    below = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    above = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    low, high = share * (1 - below), share + (1 - share) * above
    moves = []
    for _ in range(draw(st.integers(1, 3))):
        source, target = draw(st.lists(st.integers(0, k - 1), min_size=2, max_size=2, unique=True))
        part = draw(st.floats(0.0, 1.0))
        p_low = part * draw(st.floats(0.0, 1.0))
        p_high = part + (1 - part) * draw(st.floats(0.0, 1.0))
        moves.append((source, target, part, p_low, p_high))
    return share, low, high, moves


@given(_estimates_and_moves())
@settings(max_examples=200, deadline=None)
def test_moved_parts_keep_every_share_a_share_inside_its_interval(case) -> None:
    """Whatever the estimate and the parts moved (several from one kind included): the shares
    still sum to one, each lies in [0, 1] and inside its interval, and a single move gives the
    target exactly what the source loses, whichever the order of the moves."""
    from stratigraphy.analysis.prevalence import Prevalence

    share, low, high, moves = case
    prev = Prevalence([f"k{i}" for i in range(share.size)], share, low, high, 100)
    moved = prev.remixed(moves)
    assert moved.share.sum() == pytest.approx(1.0)
    assert ((moved.share >= -1e-12) & (moved.share <= 1 + 1e-12)).all()
    assert (moved.low <= moved.share + 1e-12).all() and (moved.share <= moved.high + 1e-12).all()
    assert moved.share == pytest.approx(prev.remixed(moves[::-1]).share)
    if len(moves) == 1:
        source, target = moves[0][:2]
        gained = moved.share[target] - share[target]
        assert gained == pytest.approx(share[source] - moved.share[source])


def test_probes_relabelled_back_to_their_true_class_count_as_clean() -> None:
    """A third of the rows that wrong-label probes are drawn from (the pool) are mislabeled on
    three classes, so about a sixth of those probes got their true label back and describe
    clean rows: that part of the wrong-label suite's share counts as typical. Outside a pool,
    or without calibration probes, nothing moves."""
    rng = np.random.default_rng(12)
    pool = rng.random(20_000) < 0.5
    wrong = rng.random(pool.size) < np.where(pool, 1 / 3, 0.3)
    score = np.where(wrong, 3.0, 0.0) + rng.standard_normal(pool.size)
    probes = np.concatenate([3.0 + rng.standard_normal(250), rng.standard_normal(500)])
    probe_suite = np.repeat(np.array(["mislabeled", "typical", "atypical"], dtype=object),
                            [250, 250, 250])  # fmt: skip
    for calibrated, rows in ((True, pool), (False, pool), (True, None)):
        engine = _engine_with_share(0.3)
        engine.n_classes_, engine.calibration_probes_ = 3, calibrated
        k = len(engine.suites_)
        engine._fit_shares_and_flags(
            (np.full((wrong.size, k), 1.0 / k), score),
            (np.full((probes.size, k), 1.0 / k), probes), probe_suite, None, rows,
        )  # fmt: skip
        parts = engine.kind_prevalence().moved_parts.get("typical", {})
        if calibrated and rows is not None:
            assert parts["mislabeled"] == pytest.approx(wrong[pool].mean() / 2, abs=0.04)
            kinds = engine.kind_prevalence().share
            assert kinds[engine.suites_.index("mislabeled")] < 0.3
        else:
            assert "mislabeled" not in parts


def test_the_source_folds_flags_hold_their_level_on_its_sources_drawn_at_random() -> None:
    """20% label errors, evidence ~N(3.5, 1) against N(0, 1). The examples to judge are 1,000
    drawn from a clean-looking pool (1 in 300 of its rows a label error) and 250 at random,
    as the source fold's are. Flags fitted over those 1,250 at the data's 20% let a large share
    of false flags through among them; fitted over every row but the pool's 1,000, a random
    sample of the data, the level holds among the 250 (the pool's rows are never flagged: see
    the run test)."""
    rng = np.random.default_rng(11)
    n = 20_000
    wrong = rng.random(n) < 0.2
    score = np.where(wrong, 3.5, 0.0) + rng.standard_normal(n)
    k = len(BUILTIN_SUITES)
    cols = {s: i for i, s in enumerate(BUILTIN_SUITES)}
    like = np.full((n, k), 1e-12)
    like[:, cols["typical"]] = like[:, cols["atypical"]] = np.exp(-0.5 * score**2)
    like[:, cols["mislabeled"]] = np.exp(-0.5 * (score - 3.5) ** 2)
    posteriors = like / like.sum(1, keepdims=True)
    pool = np.where(wrong, rng.random(n) < 0.001, rng.random(n) < 0.4)
    judged = np.zeros(n, dtype=bool)
    judged[rng.choice(np.flatnonzero(pool), 1000, replace=False)] = True
    random_part = np.zeros(n, dtype=bool)
    random_part[rng.choice(np.flatnonzero(~judged), 250, replace=False)] = True
    judged |= random_part
    probes = 3.5 + rng.standard_normal(250)
    probe_args = (np.full((250, k), 1.0 / k), probes), np.full(250, "mislabeled", dtype=object)
    main = _engine_with_share(0.2)
    main._fit_shares_and_flags((posteriors, score), *probe_args, None, pool=pool)
    false = []
    for scope, among in ((judged, judged), (~(judged & ~random_part), random_part)):
        fold = _engine_with_share(0.2)
        fold._fit_shares_and_flags((posteriors, score), *probe_args, main, scope=scope)
        assert fold.flagger_ is not None
        flags = among & fold.flagger_.flag(fold.flagger_.cuts["mislabeled"].q_values(score))
        false.append((~wrong[flags]).mean())
        assert flags.sum() > 20
    assert false[0] > 0.2 and false[1] <= 0.12


def test_the_fold_flags_none_of_its_sources_drawn_clean_looking(digits_run) -> None:
    """The former sources drawn from the clean-looking pool get a verdict and posteriors but no
    flag (no probe stands for their label errors), and the summary counts them; the
    calibration probes' former sources, drawn at random, are flagged as any example."""
    ex = digits_run.examples.to_pandas()
    probes = pq.read_table(digits_run.out / "probes.parquet", columns=["role", "source"])
    drawn = probes.to_pandas().query("role == 'calibration'").source
    calibration = ex["index"].isin(drawn).to_numpy()
    pool = (ex.row < 0).to_numpy() & ~calibration
    assert pool.sum() > 0 and not ex.flagged[pool].any()
    assert (ex.q_value[pool] == 1.0).all() and (ex.verdict[pool] == "clean").all()
    assert ex.p_mislabeled[pool].notna().all()
    assert digits_run.summary["source_fold"]["not_flagged"] == int(pool.sum())
    notes = digits_run.summary["flags"]["notes"]
    assert any(n.startswith(f"{int(pool.sum()):,} examples drawn clean-looking") for n in notes)
    assert ((ex.row < 0).to_numpy() & calibration).sum() > 0


def test_the_flags_at_other_levels_are_read_off_the_same_q_values() -> None:
    """What a kind would flag at another error level is what flagging at that level gives on
    the same rows; it grows with the level, is recorded at a few levels beside the run's, and
    a withheld kind would flag nothing at any of them."""
    rng = np.random.default_rng(3)
    problem = rng.random(5_000) < 0.2
    score = np.where(problem, 3.0, 0.0) + rng.standard_normal(problem.size)
    probes = {"x": 3.0 + rng.standard_normal(250), "y": 3.0 + rng.standard_normal(250)}
    flagger = MixtureFlagger.fit(["x", "y"], probes, {"x": score, "y": score},
                                 {"x": 0.2, "y": 0.2}, 0.3, withheld=("y",), seed=1)  # fmt: skip
    q = flagger.q_values({"x": score, "y": score})["x"]
    shares = []
    for level in (0.05, 0.1, 0.2, 0.3):
        assert flagger.cuts["x"].flagged_share(level) == pytest.approx((q <= level).mean())
        shares.append(flagger.cuts["x"].flagged_share(level))
    assert shares == sorted(shares) and 0 < shares[0] < shares[-1]
    at = flagger.summary()["flagged_share_at"]
    assert list(at["x"]) == ["0.05", "0.1", "0.2", "0.3"] and at["x"]["0.3"] == shares[-1]
    assert set(at["y"].values()) == {0.0}
    flags = {"fdr": 0.3, "by_kind": {"x": int((q <= 0.3).sum()), "y": 0}, **flagger.summary()}
    counts = flagged_at({"n_examples": 5_000, "flags": flags})
    assert counts["x"][0.3] == flags["by_kind"]["x"] and set(counts["y"].values()) == {0}
    assert abs(counts["x"][0.2] - 5_000 * shares[2]) <= 1


def test_flags_far_short_of_the_estimated_problems_are_called_so_with_a_looser_level() -> None:
    """The tweets at 20% symmetric noise, seed 0: 21 flags where the lower end of the share
    holds 2,977 errors; the summary foretells 2,089 at 0.2, and the CLI and the report say
    so. Not where the flags are a fair part of the estimate, where the kind's share may be
    all but absent, nor for a withheld kind (its own note says why none is flagged)."""
    n = 14_640
    summary = {"n_examples": n,
               "prevalence": {"share": {"mislabeled": 0.2349, "random_input": 0.0},
                              "low": {"mislabeled": 0.2034, "random_input": 0.0}},
               "flags": {"fdr": 0.1, "flagged": 21, "by_kind": {"mislabeled": 21,
                                                                "random_input": 0},
                         "flagged_share_at": {"mislabeled": {"0.05": 0.0014, "0.1": 0.0015,
                                                             "0.2": 0.1441},
                                              "random_input": {"0.05": 0.0, "0.1": 0.0,
                                                               "0.2": 0.0}}}}  # fmt: skip
    short = flag_shortfall(summary)
    assert short is not None and (short.flagged, short.estimated) == (21, 2977)
    assert short.looser is not None and short.looser[0] == 0.2
    assert abs(short.looser[1] - (21 + round((0.1441 - 0.0015) * n))) <= 1
    hint = _shortfall_hint(summary, Path("runs/tw"))
    assert hint is not None and "Only 21 flagged" in hint and "--fdr 0.2" in hint
    fair = {**summary, "flags": {**summary["flags"], "by_kind": {"mislabeled": 385}}}
    assert flag_shortfall(fair) is None and _shortfall_hint(fair, Path("r")) is None
    faint = {**summary, "prevalence": {**summary["prevalence"], "low": {"mislabeled": 0.0005}}}
    assert flag_shortfall(faint) is None  # 7 examples at the lower end: may be all but absent
    withheld = {**summary, "flags": {**summary["flags"], "withheld": ["mislabeled"]}}
    assert flag_shortfall(withheld) is None
    at = {"mislabeled": {"0.05": 0.0014, "0.1": 0.0015, "0.2": 0.0030}}
    nothing_looser = {**summary, "flags": {**summary["flags"], "flagged_share_at": at}}
    assert flag_shortfall(nothing_looser) is None  # 0.2 would not flag a tenth of them more
    older = {**summary, "prevalence": {"share": summary["prevalence"]["share"]}}
    assert flag_shortfall(older) is None  # a summary written before intervals were recorded


def test_the_closing_lines_say_the_flags_fall_short_and_where_to_start(digits_run, capsys):
    """A run whose 3 flags fall far short of the 143 errors its share's lower end holds: the
    closing lines say so, with the looser level, and send the reviewer to the likeliest."""
    import copy
    from types import SimpleNamespace

    from stratigraphy.cli import _print_closing

    summary = copy.deepcopy(digits_run.summary)
    flags = summary["flags"]
    flags["by_kind"] = {**{k: 0 for k in flags["by_kind"]}, "mislabeled": 3}
    flags["flagged"], flags["withheld"] = 3, []
    summary["prevalence"]["low"]["mislabeled"] = 0.08
    _print_closing(SimpleNamespace(summary=summary, out=Path("runs/x")))
    said = " ".join(capsys.readouterr().out.split())
    assert "Only 3 flagged where the estimate holds at least 143 problems" in said
    assert "--fdr 0.2 --out relevelled" in said
    assert "review the likeliest label errors, flagged or not, with strat review runs/x" in said
    _print_closing(SimpleNamespace(summary=digits_run.summary, out=Path("runs/x")))
    said = " ".join(capsys.readouterr().out.split())
    assert "where the estimate holds" not in said
    assert "review the flagged with strat review runs/x" in said


def test_the_spread_as_the_probes_vary_moves_with_the_flags_counted() -> None:
    """The spread's shares are the main training's; where the source fold's rows flag short of
    them, the counted flags fall below the share times the rows, and the spread moves by as
    much, so it reads around the count shown beside it."""
    flags = {"fdr": 0.2, "by_kind": {"x": 177, "y": 0},
             "flagged_share_at": {"x": {"0.2": 0.1118}, "y": {"0.2": 0.0}},
             "flagged_share_spread": {"x": [0.1021, 0.1131], "y": [0.0, 0.0]}}  # fmt: skip
    spread = flagged_spread({"n_examples": 1797, "flags": flags})
    assert spread == {"x": (160, 179), "y": (0, 0)}
    assert spread["x"][0] <= flags["by_kind"]["x"] <= spread["x"][1]
    del flags["flagged_share_at"]  # a summary written before the counts were recorded
    assert flagged_spread({"n_examples": 1797, "flags": flags})["x"] == (183, 203)


def test_a_reanalysis_copies_what_the_file_system_will_not_link(
    digits_run, tmp_path, monkeypatch
) -> None:
    """Where symbolic links are refused (Windows without the privilege), the recorded files
    are hard-linked or copied instead, and the directory reads as the run does."""

    def refuse(self: Path, target: Path, target_is_directory: bool = False) -> None:
        raise OSError("symbolic link privilege not held")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    out = tmp_path / "copied"
    reanalyse(digits_run.out, out, fdr=0.2)
    recorded = [out / "dynamics", out / "probes.parquet", out / "source_fold"]
    assert all(p.exists() and not p.is_symlink() for p in recorded)
    np.testing.assert_array_equal(RunView.open(out).loss, RunView.open(digits_run.out).loss)


def test_a_finished_run_is_flagged_again_at_another_level_without_training(
    digits_run, tmp_path
) -> None:
    """``strat analyze RUN --fdr 0.2``: the same recorded run flagged at a looser level flags
    at least as many, about as many as the run's summary said that level would, each with
    its q-value under it; a level outside (0, 1) is refused before anything is written."""
    before = digits_run.summary
    predicted = flagged_at(before)["mislabeled"][0.2]
    with pytest.raises(ConfigError, match="fdr"):
        reanalyse(digits_run.out, tmp_path / "bad", fdr=1.5)
    assert not (tmp_path / "bad").exists()
    after = reanalyse(digits_run.out, tmp_path / "loose", fdr=0.2)
    found = after["flags"]["by_kind"]["mislabeled"]
    assert after["flags"]["fdr"] == 0.2
    assert found >= before["flags"]["by_kind"]["mislabeled"]
    assert abs(found - predicted) <= 0.2 * predicted + 10
    ex = pq.read_table(tmp_path / "loose" / "examples.parquet").to_pandas()
    assert int(ex.flagged.sum()) == after["flags"]["flagged"]
    assert (ex.q_value[ex.flagged] <= 0.2).all() and (ex.q_value[~ex.flagged] > 0.2).all()
    # the new directory is a run directory: the actions take its flags, its pages show them
    listed = plan_fixes(tmp_path / "loose", "keep", use_review=False).changes
    assert sorted(c["index"] for c in listed) == ex["index"][ex.flagged].tolist()
    view = RunView.open(tmp_path / "loose")
    assert view.loss.shape == RunView.open(digits_run.out).loss.shape
    own = pq.read_table(digits_run.out / "examples.parquet").to_pandas()
    assert (ex.is_near_duplicate == own.is_near_duplicate).all()
    assert view.summary["issues"].keys() == digits_run.summary["issues"].keys()
    assert (tmp_path / "loose" / "report.html").is_file()
    other = tmp_path / "other"
    other.mkdir()
    write_json(other / "run.json", {"status": "complete"})
    with pytest.raises(ConfigError, match="run of its own"):
        reanalyse(digits_run.out, other, fdr=0.2)
    assert sorted(p.name for p in other.iterdir()) == ["run.json"]
    html = (digits_run.out / "report.html").read_text()
    assert "at 5% / 20%" in html
    shown = CliRunner().invoke(app, ["analyze", str(digits_run.out), "--fdr", "0.2", "--out",
                                     str(tmp_path / "cli")])  # fmt: skip
    assert shown.exit_code == 0 and "≤ 0.2" in shown.output, shown.output
    assert "What the data holds" in shown.output and "95% interval" in shown.output
    refused = CliRunner().invoke(app, ["analyze", str(tmp_path / "x.npy"), "--fdr", "0.2"])
    assert refused.exit_code != 0 and "finished run" in refused.output
    table = _answer_table(before)
    assert [c.header for c in table.columns][-1] == "at 5% / 20%"


def _suite_posteriors(means: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Posteriors over the five built-in suites around the logits ``means``."""
    logits = means + rng.standard_normal((n, means.size))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


@functools.cache
def _agreeing_rows(
    corrupted: tuple[int, int], sharpness: float, per_suite: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mix of :func:`_agreeing_mix` (read-only, shared by the tests that draw the same
    one): the real rows' and held-out probes' posteriors, the probes' suites, which real rows
    agree with their neighbours, and the shares EM estimates over every row."""
    rng = np.random.default_rng(11)
    engine = _engine_with_share(0.0)
    suites = engine.suites_
    k = len(suites)
    means = np.zeros((k, k))
    means[np.arange(k), np.arange(k)] = 2.5
    means[suites.index("atypical"), suites.index("corrupted")] = 1.5
    means[suites.index("corrupted"), suites.index("atypical")] = 1.5
    ambiguous = np.array([0.0, 1.5, 1.5, -3.0, 1.5])
    heldout = np.vstack([_suite_posteriors(means[j], per_suite, rng) for j in range(k)])
    suite_of = np.repeat(np.arange(k), per_suite)
    typ, atyp, cor, mis = (
        suites.index(s) for s in ("typical", "atypical", "corrupted", "mislabeled")
    )
    noisy = means[cor].copy()
    noisy[cor] = sharpness
    parts = [(means[typ], 7_000), (means[atyp], 7_000), (noisy, corrupted[0]),  # agreeing rows
             (noisy, corrupted[1]), (means[mis], 2_000), (ambiguous, 2_750)]  # fmt: skip
    real = np.vstack([_suite_posteriors(m, n, rng) for m, n in parts])
    agrees = np.r_[np.ones(14_000 + corrupted[0], bool), np.zeros(4_750 + corrupted[1], bool)]
    engine._fit_prevalence(real, heldout, suite_of, np.full(k, 1.0 / k), None)
    out = (real, heldout, suite_of, agrees, engine.prevalence_.share.copy())
    for a in out:
        a.setflags(write=False)
    return out


def _agreeing_mix(
    counts: dict[str, tuple[int, int]],
    lookalike: dict[str, float] | None = None,
    corrupted: tuple[int, int] = (737, 250),
    sharpness: float = 2.5,
    per_suite: int = 250,
    recall: dict[str, float] | None = None,
) -> tuple[AnalysisEngine, np.ndarray, list[str], float]:
    """``corrupted`` rows (5% by default) among the rows whose label is their neighbours'
    plurality and among the others. The agreeing rows are otherwise clean ones like the clean
    probes; the others are label errors and clean rows the probes do not stand for (partly
    mislabeled-, partly random-looking, not corrupted-looking at all). ``sharpness``: the
    corrupted rows' logit for their own suite (the probes' is 2.5); ``per_suite``: held-out
    probes per suite. Returns the engine fitted with the suites' agreement ``counts`` (and the
    share of inputs that look like each kind's transform, ``lookalike``, found at ``recall``),
    the shares estimated over every row, the suites and the truth."""
    real, heldout, suite_of, agrees, everywhere = _agreeing_rows(corrupted, sharpness, per_suite)
    engine = _engine_with_share(0.0)
    train = np.full(len(engine.suites_), 1.0 / len(engine.suites_))
    engine._fit_prevalence(
        real, heldout, suite_of, train, None, Agreement(agrees, counts, lookalike, recall)
    )
    return engine, everywhere, list(engine.suites_), sum(corrupted) / real.shape[0]


def test_an_input_kind_is_measured_among_the_rows_whose_label_their_neighbours_share() -> None:
    """The estimate over every row explains the rows no suite stands for with the clean kinds
    and loses the corrupted share; among the agreeing rows it finds it. Random input, whose
    probes rarely agree, keeps the estimate over every row."""
    counts = {"corrupted": (225, 250), "random_input": (25, 250), "mislabeled": (5, 250)}
    engine, everywhere, suites, truth = _agreeing_mix(counts)
    cor, rnd = suites.index("corrupted"), suites.index("random_input")
    share = engine.prevalence_.share
    assert abs(share[cor] - truth) < 0.01 < abs(everywhere[cor] - truth)
    assert engine.prevalence_.low[cor] < share[cor] < engine.prevalence_.high[cor]
    assert share[rnd] == everywhere[rnd]
    assert share.sum() == pytest.approx(1.0)
    assert engine.measured_where_agreeing_ == ("corrupted",)


@pytest.mark.parametrize("found", [0.04, 0.0, None])
def test_a_share_among_the_agreeing_rows_is_taken_only_where_the_inputs_bear_it_out(
    found: float | None,
) -> None:
    """The probes mostly agree, but the look-alike detector found no input like their
    transform (the airline tweets' noised embeddings): the share measured among the agreeing
    rows is not taken, a note says why, and the estimate over every row stands. Where it found
    4% of the inputs (the Fashion-MNIST mix), or where it was not recorded, it is taken."""
    counts = {"corrupted": (225, 250), "random_input": (25, 250)}
    engine, everywhere, suites, truth = _agreeing_mix(
        counts, None if found is None else {"corrupted": found}
    )
    cor = suites.index("corrupted")
    taken = found != 0.0
    assert engine.measured_where_agreeing_ == (("corrupted",) if taken else ())
    assert (abs(engine.prevalence_.share[cor] - truth) < 0.01) == taken
    if not taken:
        np.testing.assert_array_equal(engine.prevalence_.share, everywhere)
        assert any("like the corrupted transform" in n for n in engine.prevalence_notes_)


def test_an_agreeing_kinds_interval_reaches_down_to_the_inputs_found_like_its_transform() -> None:
    """EM among the agreeing rows reads 4.2% against 5.0%, its bootstrap from 3.3%. The
    detector, sure of fewer inputs (3%), brings the interval's lower end down to its count;
    finding more (4%) leaves EM's."""
    counts = {"corrupted": (225, 250), "random_input": (25, 250)}
    lows = {}
    for found in (0.03, 0.04):
        engine, _, suites, truth = _agreeing_mix(counts, {"corrupted": found})
        j = suites.index("corrupted")
        lows[found] = float(engine.prevalence_.low[j])
        assert lows[found] < engine.prevalence_.share[j] < truth < engine.prevalence_.high[j]
    assert lows[0.03] == 0.03 and 0.03 < lows[0.04] < 0.04


@pytest.mark.parametrize("found", [0.04, 0.015, 0.0])
def test_an_agreeing_kinds_share_is_the_detectors_count_over_its_recall(found: float) -> None:
    """Where the detector's recall on fresh transforms is known, the share of a kind measured
    among the agreeing rows is the count it is sure of over that recall (adjusted classify and
    count): 4% found at 0.8 reads the 5% planted, EM's reading (4.2%) widening the interval.
    Where EM reads far more than the detector finds (1.5%: as on Fashion-MNIST with only
    noisy images planted, EM 9.3% against 5%) a note says EM's is not taken and the share is
    still the detector's; where it finds nothing (the tweets), 0."""
    counts = {"corrupted": (225, 250), "random_input": (25, 250)}
    engine, _, suites, truth = _agreeing_mix(
        counts, {"corrupted": found}, recall={"corrupted": 0.8}
    )
    j = suites.index("corrupted")
    prevalence = engine.prevalence_
    share, low, high = (float(a[j]) for a in (prevalence.share, prevalence.low, prevalence.high))
    assert share == pytest.approx(found / 0.8)
    assert engine.measured_where_agreeing_ == ("corrupted",)
    assert engine.prevalence_.share.sum() == pytest.approx(1.0)
    noted = any("fresh transforms" in n for n in engine.prevalence_notes_)
    if found == 0.04:
        assert low < share < high and low <= 0.04 and abs(share - truth) < 0.001
        assert not noted
    else:
        assert noted and low <= share <= high
        assert high < 0.03


def test_a_detector_that_misses_most_transforms_reads_no_share_off_its_count() -> None:
    """At a recall of 0.3 the count over the recall would be a guess (4% found: 13%); EM's
    reading among the agreeing rows is the share, as where the recall is not known."""
    counts = {"corrupted": (225, 250), "random_input": (25, 250)}
    shares = []
    for recall in ({"corrupted": 0.3}, None, {"corrupted": 0.8}):
        engine, _, suites, _ = _agreeing_mix(counts, {"corrupted": 0.04}, recall=recall)
        shares.append(float(engine.prevalence_.share[suites.index("corrupted")]))
    assert shares[0] == shares[1] != pytest.approx(0.04 / 0.3)
    assert shares[2] == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("found", "recall", "held"),
    [(0.0005, 0.93, True), (0.0, 0.93, True), (0.05, 0.93, False), (0.0005, 0.3, False)],
)
def test_a_trajectory_share_of_an_input_kind_is_held_to_what_the_inputs_show(
    found: float, recall: float, held: bool
) -> None:
    """Clean rows of which 5% look like the corrupted probes to the inferers, the probes not
    keeping their neighbours' label (the embedded digits at seed 2: EM read 5.1% corrupted;
    here about 4%):
    where the detector, finding most fresh transforms, finds almost no input like them, the
    share is its count over its recall, a note says so and the interval reaches EM's reading;
    where it finds as many as EM reads, or misses most transforms, EM's share stands."""
    rng = np.random.default_rng(3)
    engine = _engine_with_share(0.0)
    suites = engine.suites_
    k = len(suites)
    means = 5.0 * np.eye(k)
    heldout = np.vstack([_suite_posteriors(means[j], 250, rng) for j in range(k)])
    parts = [(means[suites.index("typical")], 9_500), (means[suites.index("atypical")], 9_500),
             (means[suites.index("corrupted")], 1_000)]  # fmt: skip
    real = np.vstack([_suite_posteriors(m, n, rng) for m, n in parts])
    counts = {"corrupted": (25, 250), "random_input": (25, 250)}
    agreement = Agreement(np.ones(real.shape[0], bool), counts, {"corrupted": found},
                          {"corrupted": recall})  # fmt: skip
    engine._fit_prevalence(real, heldout, np.repeat(np.arange(k), 250), np.full(k, 1 / k), None,
                           agreement)  # fmt: skip
    j = suites.index("corrupted")
    prevalence = engine.prevalence_
    share, low, high = (float(a[j]) for a in (prevalence.share, prevalence.low, prevalence.high))
    noted = any("taken from the inputs" in n for n in engine.prevalence_notes_)
    assert engine.measured_where_agreeing_ == () and prevalence.share.sum() == pytest.approx(1.0)
    assert noted == held
    if held:
        assert share == pytest.approx(found / recall) and low == found and high > 0.03
    else:
        assert abs(share - 0.05) < 0.015


@pytest.mark.parametrize("found", [0.03, 0.0, None])
def test_the_inputs_not_the_bootstrap_say_whether_an_agreeing_kind_is_there(
    found: float | None,
) -> None:
    """2% corrupted rows, 80 held-out probes a suite: shift estimation's bootstrap among the
    agreeing rows cannot prove the kind is there (as at four seeds of eight in the
    Fashion-MNIST mix), so without the look-alike detector's count the share stays 0. Where
    the detector found 3% of the inputs like the transform, EM among the agreeing rows is told
    the kind is there and finds it; where it found none, the share is refused with a note."""
    counts = {"corrupted": (225, 250), "random_input": (25, 250)}
    engine, everywhere, suites, truth = _agreeing_mix(
        counts, None if found is None else {"corrupted": found}, (300, 100), 3.0, 80
    )
    share = engine.prevalence_.share[suites.index("corrupted")]
    if found:
        assert abs(share - truth) < 0.005 and everywhere[suites.index("corrupted")] == 0.0
        assert engine.measured_where_agreeing_ == ("corrupted",)
    elif found is None:
        assert share == 0.0 and engine.measured_where_agreeing_ == ("corrupted",)
    else:
        np.testing.assert_array_equal(engine.prevalence_.share, everywhere)
        assert engine.measured_where_agreeing_ == ()
        assert any("like the corrupted transform" in n for n in engine.prevalence_notes_)


@pytest.mark.parametrize("agreeing", [0, 118, 130, 139])
def test_a_kind_whose_probes_do_not_clearly_mostly_agree_is_measured_over_every_row(
    agreeing: int,
) -> None:
    """ "Mostly agree" is a one-sided binomial test, not a rate read against one half: 130 of
    250 (0.52) is within the draw of a half and changes nothing; 139 of 250 (0.556,
    p 0.043) not yet; 150 of 250 does."""
    counts = {"corrupted": (agreeing, 250), "random_input": (25, 250)}
    engine, everywhere, _, _ = _agreeing_mix(counts)
    np.testing.assert_array_equal(engine.prevalence_.share, everywhere)
    assert engine.measured_where_agreeing_ == ()
    assert not mostly_agree(agreeing, 250) and mostly_agree(150, 250)
    assert not mostly_agree(0, 0) and not mostly_agree(30, 50) and mostly_agree(34, 50)


@pytest.mark.parametrize("measured", [True, False])
def test_a_kind_measured_among_the_agreeing_rows_flags_nothing(measured: bool) -> None:
    """5% corrupted rows that score clearly above the rest, as the corrupted probes do: measured
    over every row the kind flags at its share; measured among the agreeing rows it flags
    nothing and a note says why."""
    engine = _engine_with_share(0.0)
    j = engine.suites_.index("corrupted")
    engine.prevalence_ = engine.prevalence_.with_share(j, 0.05, 0.04, 0.06)
    engine.measured_where_agreeing_ = ("corrupted",) if measured else ()
    real = _fit_on_corrupted_posteriors(engine, np.random.default_rng(5), 0.05, (0.6, 1.0), 0.4)
    assert engine.flagger_ is not None
    scores = engine._kind_scores(real, np.zeros(real.shape[0]))
    flagged = engine.flagger_.flag(engine.flagger_.combined(engine.flagger_.q_values(scores))[0])
    noted = any("keep their neighbours' label, so their share" in n for n in engine.notes_)
    if measured:
        assert not flagged.any() and noted
    else:
        assert flagged.sum() > 500 and not noted
