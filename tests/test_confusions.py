"""The data's own label errors by pair of classes, and probes weighted to follow them."""

from __future__ import annotations

import numpy as np

from stratigraphy.analysis.confusions import error_pairs, pair_weights, top_pairs
from stratigraphy.analysis.flags import mixture_proportion


def test_error_pairs_count_only_rows_predicted_as_another_class() -> None:
    """A row votes for (its alternative → its label) with its weight; rows whose alternative is
    their own label or missing (-1) do not, and the votes are shares."""
    given = np.array([1, 1, 2, 0, 0])
    alternative = np.array([0, 0, 2, -1, 2])
    pairs = error_pairs(given, alternative, np.array([1.0, 3.0, 5.0, 5.0, 4.0]), 3)
    assert pairs.sum() == 1.0
    assert pairs[0, 1] == 0.5 and pairs[2, 0] == 0.5
    assert top_pairs(pairs) == [(0, 1, 0.5), (2, 0, 0.5)]
    assert error_pairs(given, given, np.ones(5), 3).sum() == 0.0


def test_pair_weights_make_the_probes_follow_the_pairs() -> None:
    """Probes drawn uniformly over the pairs, weighted, hold the pairs in the shares asked for;
    pairs the probes never drew carry nothing."""
    rng = np.random.default_rng(0)
    source = rng.integers(0, 4, 4000)
    label = (source + rng.integers(1, 4, source.size)) % 4
    target = np.zeros((4, 4))
    target[0, 1], target[2, 3], target[1, 1] = 0.6, 0.3, 0.1
    w = pair_weights(source, label, target)
    held = np.zeros((4, 4))
    np.add.at(held, (source, label), w)
    drawn = target.copy()
    drawn[1, 1] = 0.0
    assert np.allclose(held / held.sum(), drawn / drawn.sum())
    assert w[(source == 3)].sum() == 0.0


def test_weighted_probes_give_the_mixture_bound_of_the_members_they_stand_for() -> None:
    """Unit weights change nothing. 15% errors score ~N(2, 1); the probes hold as many like
    them as far above them (~N(6, 1)): unweighted, the bound falls far short, weighted to the
    like ones it lands on the share."""
    rng = np.random.default_rng(4)
    wrong = rng.random(20_000) < 0.15
    real = np.where(wrong, 2.0, 0.0) + rng.standard_normal(wrong.size)
    like = rng.random(500) < 0.5
    probes = np.where(like, 2.0, 6.0) + rng.standard_normal(like.size)
    assert mixture_proportion(real, probes, weights=np.ones(500)) == mixture_proportion(
        real, probes
    )
    assert mixture_proportion(real, probes) < 0.05
    assert abs(mixture_proportion(real, probes, weights=like.astype(float)) - 0.15) < 0.03
