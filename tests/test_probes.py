import numpy as np
import pytest

from stratigraphy import ConfigError, ProbeBudgetError, ProbeConfig, build_probes

from .conftest import blobs


@pytest.fixture(scope="module")
def probed():
    X, y = blobs(600, seed=2)
    return X, y, build_probes(X, y, 4, ProbeConfig(size=20, seed=0))


def test_bookkeeping_maps_every_row_back(probed):
    X, y, p = probed
    table = p.probes.to_pydict()
    suites = np.array(table["suite"])
    # 20 per suite, and 10 more mislabeled ones drawn from any example to calibrate the flags
    expected = {**dict.fromkeys(p.suites, 20), "mislabeled": 30}
    assert {s: int((suites == s).sum()) for s in p.suites} == expected
    consumed = p.example_row < 0
    assert consumed.sum() == 50  # mislabeled and corrupted sources leave the training data
    kept = np.flatnonzero(~consumed)
    np.testing.assert_array_equal(p.X[p.example_row[kept]], X[kept])
    np.testing.assert_array_equal(p.origin[p.example_row[kept]], kept)
    assert p.X.shape[0] == 600 - 50 + 70  # three appended suites


def test_each_suite_carries_its_metadata(probed):
    X, y, p = probed
    t = p.probes.to_pydict()
    rows, suites, src = np.array(t["row"]), np.array(t["suite"]), np.array(t["source"])
    mis = suites == "mislabeled"
    assert np.all(p.y[rows[mis]] != y[src[mis]])
    np.testing.assert_array_equal(p.X[rows[mis]], X[src[mis]])
    cor = suites == "corrupted"
    np.testing.assert_array_equal(p.y[rows[cor]], y[src[cor]])
    assert not np.allclose(p.X[rows[cor]], X[src[cor]])
    assert np.all(src[suites == "random_input"] == -1)
    inplace = np.isin(suites, ["typical", "atypical"])
    np.testing.assert_array_equal(rows[inplace], p.example_row[src[inplace]])
    typ = p.typicality.score
    assert typ[src[suites == "typical"]].min() > typ[src[suites == "atypical"]].max()


def test_fitting_and_heldout_split_every_suite_in_half(probed):
    _, _, p = probed
    t = p.probes.to_pydict()
    for s in p.suites:
        roles = [r for r, su in zip(t["role"], t["suite"], strict=True) if su == s]
        assert roles.count("fit") == roles.count("heldout") == 10
        assert roles.count("calibration") == (10 if s == "mislabeled" else 0)


def test_probes_avoid_doubtful_labels_and_calibration_ones_are_drawn_at_random():
    """Fitting and held-out probes are one kind of problem only; the mislabeled calibration
    probes stand for the data's own errors, so they come from any example."""
    X, y = blobs(800, seed=5)
    y = y.copy()
    y[:40] = (y[:40] + 1) % 4  # wrong labels the proxy can see
    p = build_probes(X, y, 4, ProbeConfig(size=20, seed=1))
    t = p.probes.to_pydict()
    consumed = np.isin(t["suite"], ["mislabeled", "corrupted"])
    calibration = np.array(t["role"]) == "calibration"
    src = np.array(t["source"])
    assert not np.isin(src[consumed & ~calibration], np.arange(40)).any()
    assert calibration.sum() == 10 and set(np.array(t["suite"])[calibration]) == {"mislabeled"}
    assert (
        p.is_calibration().sum() == 10 and (p.is_fit() | p.is_heldout() | p.is_calibration()).all()
    )
    clean = build_probes(X, y, 4, ProbeConfig(size=20, seed=1, heldout_sources="clean"))
    t = clean.probes.to_pydict()
    src = np.array(t["source"])[np.isin(t["suite"], ["mislabeled", "corrupted"])]
    assert not np.isin(src, np.arange(40)).any()
    with pytest.raises(ConfigError, match="heldout_sources"):
        ProbeConfig(heldout_sources="x").validate()


def test_user_suites_stay_in_place():
    X, y = blobs(400)
    p = build_probes(X, y, 4, ProbeConfig(size=10, user_suites={"minority": np.arange(12)}))
    t = p.probes.to_pydict()
    mine = [s for s, su in zip(t["source"], t["suite"], strict=True) if su == "minority"]
    assert sorted(mine) == list(range(12)) and "minority" in p.suites
    assert np.all(p.example_row[:12] >= 0)


def test_too_few_examples_for_the_probes_is_explained():
    X, y = blobs(100)
    with pytest.raises(ProbeBudgetError, match="probe-size"):
        build_probes(X, y, 4, ProbeConfig(size=30))


def test_bad_suite_configuration():
    X, y = blobs(100)
    with pytest.raises(ConfigError, match="Unknown probe suite"):
        build_probes(X, y, 4, ProbeConfig(suites=("typical", "weird")))
    with pytest.raises(ConfigError, match="at least two"):
        build_probes(X, y, 4, ProbeConfig(suites=("typical",)))
    with pytest.raises(ConfigError, match="index 1000 is outside 0..99"):
        build_probes(X, y, 4, ProbeConfig(size=5, user_suites={"g": np.array([1000, 1001])}))


def test_same_seed_same_probes():
    X, y = blobs(300)
    a = build_probes(X, y, 4, ProbeConfig(size=10, seed=4))
    b = build_probes(X, y, 4, ProbeConfig(size=10, seed=4))
    assert a.probes.equals(b.probes) and np.array_equal(a.X, b.X)


def test_clean_probes_can_span_the_data_instead_of_its_extremes(probed):
    """``extremes``: the 20 most typical are the typical probes; ``halves`` (the default): a
    random 20 of the upper half (not only its top) and a random 20 of the agreeing lower half."""
    X, y, _ = probed
    p = build_probes(X, y, 4, ProbeConfig(size=20, seed=0, clean_sampling="extremes"))
    halves = build_probes(X, y, 4, ProbeConfig(size=20, seed=0))
    typ = p.typicality.score

    def sources(q, suite):
        t = q.probes.to_pydict()
        return np.array(t["source"])[np.array(t["suite"]) == suite]

    top20 = np.sort(np.argsort(-typ, kind="stable")[:20])
    np.testing.assert_array_equal(np.sort(sources(p, "typical")), top20)
    median = np.median(typ)
    up, low = sources(halves, "typical"), sources(halves, "atypical")
    assert (typ[up] >= median).all() and (typ[low] < median).all()
    assert halves.typicality.agrees[low].all()
    assert not np.array_equal(np.sort(up), top20)
    with pytest.raises(ConfigError):
        build_probes(X, y, 4, ProbeConfig(size=20, clean_sampling="middle"))


def _noisy_digits(share: float, seed: int = 0):
    """Digits as [0, 1] images with ``share`` of them under Gaussian noise of σ 0.35 (stronger
    than the corrupted probes' 0.25, as the planted corruption of the benchmarks)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]
    rng = np.random.default_rng(seed)
    noisy = rng.random(X.shape[0]) < share
    X[noisy] = np.clip(X[noisy] + 0.35 * rng.standard_normal(X[noisy].shape), 0, 1)
    return X, d.target, noisy


def test_inputs_that_look_like_an_input_kinds_transform_are_found():
    """The corrupted suite's detector finds most noisy 8×8 digits and almost no clean ones, and
    with none planted almost none; on Gaussian blobs, where noise only spreads the clusters, it
    stays out of the way. Only kinds that keep the label have a detector."""
    from stratigraphy.probes.lookalikes import label_keeping_kinds, transform_lookalikes
    from stratigraphy.probes.suites import BUILTIN_SUITES, TransformContext

    assert label_keeping_kinds(BUILTIN_SUITES) == ["corrupted"]
    for share in (0.05, 0.0):
        X, y, noisy = _noisy_digits(share)
        found = transform_lookalikes(TransformContext(X, y, 10, None, "mixed"), BUILTIN_SUITES)
        if noisy.any():
            assert found[noisy].mean() > 0.5
        assert found[~noisy].mean() < 0.01
    X, y = blobs(600, seed=2)
    assert (
        transform_lookalikes(TransformContext(X, y, 4, None, "mixed"), BUILTIN_SUITES).mean() < 0.01
    )
    ctx = TransformContext(X, y, 4, None, "mixed")
    assert not transform_lookalikes(ctx, ("typical", "atypical", "mislabeled")).any()


def test_noisy_inputs_are_no_clean_probe_and_probes_record_their_neighbours_agreement():
    """Noisy images are kept out of the typical and atypical probes (and out of the transformed
    probes' sources), which stand for clean examples. Each probe records whether its label is
    its input's neighbours' plurality: a noisy copy mostly keeps it, a wrong label rarely."""
    X, y, noisy = _noisy_digits(0.08, seed=1)
    p = build_probes(X, y, 10, ProbeConfig(size=60, seed=0))
    t = p.probes.to_pydict()
    suites, src = np.array(t["suite"]), np.array(t["source"])
    role = np.array(t["role"])
    clean = np.isin(suites, ["typical", "atypical"]) | (
        np.isin(suites, ["mislabeled", "corrupted"]) & (role != "calibration")
    )
    assert noisy[src[clean]].mean() < 0.01 < noisy.mean()
    assert noisy.sum() / 3 < p.lookalikes["corrupted"] <= noisy.sum()
    # Over the detector's recall on fresh transforms (0.69 here) the count reads the noisy
    # share within a third (105 of 140: these digits' noise is found less often, 0.52).
    recall = p.lookalike_recall["corrupted"]
    assert 0.5 < recall <= 1.0
    assert abs(p.lookalikes["corrupted"] / recall - noisy.sum()) < noisy.sum() / 3
    rates = p.agreement_rates()
    assert rates["corrupted"] > 0.5 > rates["mislabeled"]
    assert rates["atypical"] == 1.0 and rates["random_input"] < 0.5
    agrees = np.array(t["agrees"])
    inplace = np.isin(suites, ["typical", "atypical"])
    np.testing.assert_array_equal(agrees[inplace], p.typicality.agrees[src[inplace]])
