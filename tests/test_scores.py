import numpy as np

from stratigraphy import compute_scores, detection_quality
from stratigraphy.analysis.mislabel import (
    CONSENSUS,
    PROBE_FREE_SCORE,
    TIE_MARGIN,
    RankReference,
    choose_mislabel_score,
    coarse_candidates,
    consensus,
    near_ties,
)
from stratigraphy.analysis.scores import first_learned_epoch, forgetting_events, soft_correctness


def test_forgetting_counts_correct_to_incorrect_and_never_learned_gets_the_maximum():
    correct = np.array(
        [
            [1, 0, 1, 0, 1],  # two forgetting events
            [0, 0, 1, 1, 1],  # learned, never forgotten
            [0, 0, 0, 0, 0],  # never learned
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(forgetting_events(correct), [2, 0, 5])
    np.testing.assert_array_equal(first_learned_epoch(correct), [4, 2, 5])


def test_cartography_aum_and_el2n_from_signals():
    p = np.array([[0.2, 0.4, 0.6], [0.9, 0.9, 0.9]], dtype=np.float16)
    signals = {
        "loss": -np.log(p.astype(np.float32)).astype(np.float16),
        "p_label": p,
        "margin": np.array([[-1.0, 0.0, 1.0], [3.0, 3.0, 3.0]], dtype=np.float16),
        "el2n": np.array([[0.9, 0.5, 0.1], [0.1, 0.1, 0.1]], dtype=np.float16),
        "pred": np.array([[1, 0, 0], [1, 1, 1]], dtype=np.int32),
    }
    s = compute_scores(signals, np.array([0, 1]), el2n_epoch=0)
    np.testing.assert_allclose(s["cartography_confidence"], [0.4, 0.9], atol=1e-3)
    np.testing.assert_allclose(s["variability"], [np.std([0.2, 0.4, 0.6]), 0.0], atol=1e-3)
    np.testing.assert_allclose(s["correctness"], [2 / 3, 1.0])
    np.testing.assert_allclose(s["aum"], [0.0, 3.0])
    np.testing.assert_allclose(s["el2n"], [0.9, 0.1], atol=1e-3)


def test_soft_correctness_breaks_correctness_ties_by_how_near_the_boundary_each_epoch_was():
    """Rows right in 1 of 3 epochs all share correctness 1/3; soft correctness orders them by
    their margins, keeps rows right more often (by a clear margin) above them, ignores unseen
    epochs, and at a small temperature is correctness itself."""
    margin = np.array(
        [
            [-3.0, -3.0, 0.5],  # right once, clearly wrong otherwise
            [-0.1, -0.1, 0.5],  # right once, nearly right otherwise
            [1.0, 1.0, -0.1],  # right twice
            [2.0, np.nan, 2.0],  # right whenever seen
        ]
    )
    correct = margin > 0
    soft = soft_correctness(margin)
    assert soft[0] < soft[1] < soft[2] < soft[3]
    assert np.all((soft > 0) & (soft < 1))
    sharp = soft_correctness(margin, temperature=1e-4)
    seen = ~np.isnan(margin)
    np.testing.assert_allclose(sharp, (correct & seen).sum(1) / seen.sum(1), atol=1e-3)
    s = compute_scores(
        {"loss": np.ones((4, 3)), "p_label": np.full((4, 3), 0.5), "margin": margin,
         "el2n": np.ones((4, 3)), "pred": np.where(correct, 0, 1)}, np.zeros(4, np.int64),
    )  # fmt: skip
    np.testing.assert_allclose(s["soft_correctness"], soft, rtol=1e-6)


def test_the_probes_never_choose_the_score_that_stands_in_for_them():
    """``soft_correctness`` ranks errors where the probes cannot choose; it is no candidate of
    their choice even where it tells their held-out probes apart best."""
    truth = np.r_[np.ones(20, bool), np.zeros(80, bool)]
    rng = np.random.default_rng(0)
    candidates = {PROBE_FREE_SCORE: truth + 0.0, "mean_loss": truth + rng.random(100)}
    suites = np.where(truth, "mislabeled", "typical")
    chosen, aps = choose_mislabel_score(candidates, np.arange(100), suites, np.ones(100, bool))
    assert chosen == "mean_loss" and PROBE_FREE_SCORE not in aps


def test_detection_quality_of_a_perfect_and_a_reversed_score():
    truth = np.array([0, 0, 1, 1, 0], dtype=bool)
    good = detection_quality(np.array([0.1, 0.2, 0.9, 0.8, 0.3]), truth)
    assert good["auroc"] == 1.0 and good["ap"] == 1.0 and good["precision_at_k"] == 1.0
    bad = detection_quality(np.array([0.9, 0.8, 0.1, 0.2, 0.7]), truth, k=1)
    assert bad["auroc"] == 0.0 and bad["precision_at_k"] == 0.0 and bad["recall_at_k"] == 0.0


def test_near_tied_candidates_are_averaged_and_their_consensus_ranks_errors_better():
    """Three scores that each see the planted errors through their own noise: the held-out
    probes cannot tell them apart (APs within the margin), and the mean of their ranks ranks
    the errors better than any one of them. A clear winner is kept alone."""
    rng = np.random.default_rng(0)
    truth = rng.random(20_000) < 0.2
    scores = {f"s{i}": 1.5 * truth + rng.standard_normal(truth.size) for i in range(3)}
    aps = {k: detection_quality(v, truth)["ap"] for k, v in scores.items()}
    assert near_ties({**aps, "weak": 0.3}) == ["s0", "s1", "s2"]
    assert near_ties({"s0": 0.9, "s1": 0.7}) == [] and near_ties({}) == []
    assert near_ties(aps, coarse=frozenset({"s1"})) == ["s0", "s2"]
    counts = {"per_epoch": rng.integers(0, 16, truth.size).astype(float), **scores}
    assert coarse_candidates(counts, epochs=15) == {"per_epoch"}
    ranks = RankReference.fit(scores)
    agreed = consensus(scores, ["s0", "s1", "s2"], ranks)
    assert detection_quality(agreed, truth)["ap"] > max(aps.values()) + 0.05
    part = {k: v[:1_000] for k, v in scores.items()}
    np.testing.assert_array_equal(consensus(part, ["s0", "s1", "s2"], ranks), agreed[:1_000])


def test_a_run_scores_by_the_consensus_of_its_tied_candidates(digits_run):
    """Where the held-out APs tie, ``mislabel_score`` is their consensus, recorded with its
    members (each within the margin of the best) and its own held-out AP, and the source fold
    judges by the same score."""
    summary = digits_run.summary
    chosen = summary["mislabel_score"]
    members, aps = chosen["consensus_of"], chosen["heldout_ap"]
    if chosen["chosen"] == CONSENSUS:
        best = max(v for k, v in aps.items() if k != CONSENSUS)
        assert len(members) >= 2 and all(aps[m] >= best - TIE_MARGIN for m in members)
        assert not {"correctness", "first_learned", "forgetting"} & set(members)
        assert CONSENSUS in aps and CONSENSUS in summary["detection"]["scores"]
    else:
        assert members == [] and chosen["chosen"] in aps
    assert summary["source_fold"]["mislabel_score"] == chosen["chosen"]
