"""Trusted verdicts: prevalence under the data's own priors, flags with a stated error rate, a
reason for each flag, and actions that follow only the flags."""

from __future__ import annotations

import numpy as np
import pytest

from stratigraphy.analysis.flags import ConformalFlagger
from stratigraphy.analysis.prevalence import (
    adjust_posteriors,
    em_priors,
    estimate_prevalence,
    shift_priors,
)
from stratigraphy.core.errors import ConfigError


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


@pytest.mark.parametrize("fdr", [0.05, 0.1, 0.2])
def test_conformal_bh_keeps_the_share_of_false_flags_at_the_level(fdr: float) -> None:
    """Two populations: clean scores ~ N(0, 1), problems ~ N(3, 1); calibration from the clean
    population. Over repetitions the mean share of false flags stays at or below the level."""
    false_shares, caught = [], []
    for rep in range(40):
        rng = np.random.default_rng(rep)
        calibration = rng.standard_normal(500)
        problem = rng.random(4_000) < 0.15
        score = np.where(problem, 3.0, 0.0) + rng.standard_normal(4_000)
        flagger = ConformalFlagger.fit(["x"], {"x": calibration}, fdr)
        p, _ = flagger.combined(flagger.p_values({"x": score}))
        flagger.set_threshold(p)
        flags = flagger.flag(p)
        false_shares.append((flags & ~problem).sum() / max(flags.sum(), 1))
        caught.append((flags & problem).sum() / problem.sum())
    assert np.mean(false_shares) <= fdr + 0.02
    assert np.mean(caught) > 0.3


def test_several_kinds_are_combined_without_a_bonferroni_penalty() -> None:
    rng = np.random.default_rng(0)
    cal = {"a": rng.standard_normal(300), "b": rng.standard_normal(300)}
    flagger = ConformalFlagger.fit(["a", "b"], cal)
    p, which = flagger.combined(flagger.p_values({"a": np.array([9.0, 0.0]),
                                                  "b": np.array([0.0, 9.0])}))  # fmt: skip
    assert p[0] == pytest.approx(1 / 301) and p[1] == pytest.approx(1 / 301)
    assert which.tolist() == [0, 1]
    assert flagger.smallest_p == pytest.approx(1 / 301)


def test_no_kind_flags_more_rows_than_its_prevalence_allows() -> None:
    """A kind the data barely holds (upper prevalence 1%) whose scores clear the cut on 20% of
    the rows keeps only its strongest 1% / (1 - fdr); a kind with room is left alone."""
    rng = np.random.default_rng(0)
    cal = {"a": rng.standard_normal(500), "b": rng.standard_normal(500)}
    flagger = ConformalFlagger.fit(["a", "b"], cal, fdr=0.1)
    n = 10_000
    scores = {"a": np.where(np.arange(n) < 2_000, 4.0 + rng.random(n), rng.standard_normal(n)),
              "b": np.where(np.arange(n) >= 9_000, 4.0 + rng.random(n), -5.0)}  # fmt: skip
    p, which = flagger.combined(flagger.p_values(scores))
    flagger.set_threshold(p)
    before = flagger.flag(p)
    flagger.cap(p, which, scores, {"a": 0.01, "b": 0.5})
    after = flagger.flag(p, which, scores)
    assert before[which == 0].sum() >= 2_000 and before[which == 1].sum() >= 1_000
    assert after[which == 0].sum() == int(0.01 / 0.9 * n)
    kept_a = scores["a"][after & (which == 0)]
    assert kept_a.min() >= np.sort(scores["a"][before & (which == 0)])[-kept_a.size]
    assert after[which == 1].sum() == before[which == 1].sum()
    assert set(flagger.floors) == {"a"}


def test_a_run_judges_every_example_and_gives_every_flag_a_reason(digits_run) -> None:
    ex = digits_run.examples.to_pandas()
    summary = digits_run.summary
    assert (ex.verdict != "unscored").all() and ex.p_value.notna().all()
    assert summary["n_scored"] == summary["n_examples"] == len(ex)
    assert summary["source_fold"]["judged"] == int((ex.row < 0).sum()) > 0
    flagged = ex[ex.flagged]
    assert len(flagged) and (flagged.reason.str.len() > 20).all()
    assert (ex.reason[~ex.flagged] == "").all()
    assert set(flagged.verdict) <= {"mislabeled", "corrupted", "random_input"}
    assert summary["flags"]["flagged"] == len(flagged)


def test_prevalence_recovers_the_planted_share_on_digits(digits_run) -> None:
    """10% of labels flipped (symmetric): the estimated mislabeled share within 3 points of the
    share among the examples, the interval around it, and no corrupted or random inputs."""
    prev = digits_run.summary["prevalence"]
    ex = digits_run.examples.to_pandas()
    truth = ex.planted_error[ex.row >= 0].mean()
    assert abs(prev["share"]["mislabeled"] - truth) < 0.03
    assert prev["low"]["mislabeled"] <= prev["share"]["mislabeled"] <= prev["high"]["mislabeled"]
    assert prev["share"]["corrupted"] + prev["share"]["random_input"] < 0.02
