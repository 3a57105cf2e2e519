import numpy as np
import pytest

from stratigraphy import ConfigError, plant_label_noise


@pytest.mark.parametrize("kind", ["symmetric", "asymmetric"])
def test_exact_share_flipped_and_every_flip_changes_the_label(kind):
    y = np.arange(1000) % 10
    noisy, mask = plant_label_noise(y, 10, 0.2, kind, seed=3)
    assert mask.sum() == 200
    assert np.all(noisy[mask] != y[mask]) and np.all(noisy[~mask] == y[~mask])


def test_asymmetric_follows_the_transition_table():
    y = np.arange(100) % 4
    noisy, mask = plant_label_noise(y, 4, 0.5, "asymmetric", seed=0, transitions={0: 2, 2: 0})
    np.testing.assert_array_equal(noisy[mask & (y == 0)], 2)
    np.testing.assert_array_equal(noisy[mask & (y == 1)], 2)


def test_same_seed_same_noise_other_seed_other_noise():
    y = np.arange(500) % 5
    a = plant_label_noise(y, 5, 0.1, seed=1)[0]
    assert np.array_equal(a, plant_label_noise(y, 5, 0.1, seed=1)[0])
    assert not np.array_equal(a, plant_label_noise(y, 5, 0.1, seed=2)[0])


def test_bad_rate_and_kind():
    with pytest.raises(ConfigError):
        plant_label_noise(np.zeros(3, dtype=int), 2, 1.5)
    with pytest.raises(ConfigError):
        plant_label_noise(np.zeros(3, dtype=int), 2, 0.1, kind="pairwise")


def test_planted_noise_is_independent_of_the_other_random_choices():
    """Regression: noise and the typicality reference subset once shared one stream, so on large
    data the references were exactly the flipped examples."""
    from stratigraphy.core.seeding import stream

    y = np.arange(60_000) % 10
    _, flipped = plant_label_noise(y, 10, 0.4, seed=0)
    refs = stream(0, "typicality-refs").choice(60_000, 20_000, replace=False)
    assert abs(flipped[refs].mean() - 0.4) < 0.02
