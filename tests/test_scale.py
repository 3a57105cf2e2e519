"""One training's scores on another's scale (the source fold's, for pruning every example)."""

import numpy as np

from stratigraphy.analysis.scale import MIN_SHARED, quantile_scale, to_scale


def test_quantile_mapping_recovers_a_monotone_change_of_scale() -> None:
    rng = np.random.default_rng(0)
    own = rng.gamma(2.0, 0.3, 4000)  # the fold's losses on the examples both learned from
    target = np.log1p(3.0 * own) + 0.2  # the main training's, larger and bent
    scale = quantile_scale(own, target)
    assert scale is not None
    values = rng.gamma(2.0, 0.3, 500)
    inside = (values >= own.min()) & (values <= own.max())
    mapped = to_scale(values, scale)
    np.testing.assert_allclose(mapped[inside], np.log1p(3.0 * values[inside]) + 0.2, atol=0.03)
    order = np.argsort(values)
    assert (np.diff(mapped[order]) >= 0).all()  # the fold's own ranking is kept
    # beyond the shared examples' range, the ends of the target's range
    assert to_scale(np.array([-1.0, 99.0]), scale).tolist() == [scale["target"][0],
                                                               scale["target"][-1]]  # fmt: skip


def test_counts_map_to_the_same_counts_and_nan_stays_nan() -> None:
    counts = np.repeat([0.0, 1.0, 2.0, 5.0], [60, 25, 10, 5])
    scale = quantile_scale(counts, counts)
    assert scale is not None
    np.testing.assert_array_equal(to_scale(np.array([0.0, 1.0, 2.0, 5.0]), scale), [0, 1, 2, 5])
    assert np.isnan(to_scale(np.array([np.nan]), scale)).all()
    # a training that forgets twice as often: one forgetting there is none here, and so on
    doubled = quantile_scale(2 * counts, counts)
    assert doubled is not None
    np.testing.assert_array_equal(to_scale(np.array([0.0, 2.0, 4.0]), doubled), [0, 1, 2])


def test_too_few_shared_examples_give_no_map() -> None:
    few = np.arange(MIN_SHARED - 1, dtype=float)
    assert quantile_scale(few, few) is None
    with_nan = np.r_[np.arange(MIN_SHARED, dtype=float), np.nan]
    assert quantile_scale(with_nan, with_nan[::-1]) is None  # one row lacks either value


def test_only_the_former_sources_are_put_on_the_main_scale() -> None:
    from stratigraphy.curate.pruning import on_main_scale, ranked_scores

    own = np.linspace(0.0, 1.0, 200)
    scale = quantile_scale(own, 10.0 * own)  # the main training's losses ten times the fold's
    ex = {
        "row": np.array([0, 1, -1, -1]),
        "fold_row": np.array([-1, -1, 5, -1]),  # the last was judged by no training
        "mean_loss": np.array([0.5, 0.5, 0.5, 0.5]),
        "correctness": np.array([1.0, 0.5, 0.5, 0.5]),
    }
    mapped = on_main_scale(ex, {"source_fold": {"scales": {"mean_loss": scale}}})
    assert set(mapped) == {"mean_loss"}
    np.testing.assert_allclose(mapped["mean_loss"], [0.5, 0.5, 5.0, 0.5])
    scores, unranked = ranked_scores(ex, {"source_fold": {"scales": {"mean_loss": scale}}},
                                     "mean_loss")  # fmt: skip
    assert unranked.tolist() == [False, False, False, True]
    assert ranked_scores(ex, {}, "mean_loss")[1].tolist() == [False, False, True, True]
