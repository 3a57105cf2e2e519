"""One engine: the in-memory source (one chunk) and the store (many chunks) give the same
examples table and summary, and every value is a function of its row alone."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stratigraphy import DynamicsStore, ProbeConfig, RunConfig, analyze, analyze_store, run
from stratigraphy.analysis.engine import AnalysisEngine, InferenceConfig, analyze_source
from stratigraphy.analysis.inference import CrossFitted, KNNInferer, stratified_folds
from stratigraphy.analysis.sources import ArraySource
from stratigraphy.data.noise import plant_label_noise
from stratigraphy.probes.build import build_probes
from stratigraphy.record.training import TrainConfig, train_and_record


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, digits):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("engine")
    given, flipped = plant_label_noise(digits.y, 10, 0.1, seed=0)
    probed = build_probes(digits.X, given, 10, ProbeConfig(seed=0))
    train_and_record(probed.X, probed.y, 10, TrainConfig(epochs=8, model="mlp"), out)
    return out, probed, flipped


def _same_tables(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.schema.names == b.schema.names
    assert a.num_rows == b.num_rows
    for name in a.schema.names:
        x, y = (
            a.column(name).to_numpy(zero_copy_only=False),
            b.column(name).to_numpy(zero_copy_only=False),
        )
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x.tolist() == y.tolist(), name


@pytest.mark.parametrize("chunk_rows", [97, 300, 1024])
def test_store_in_small_chunks_equals_one_chunk_in_memory(recorded, chunk_rows, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, probed, flipped = recorded
    store = DynamicsStore(out / "dynamics")
    mem = analyze(store.read_all(), probed, truth=flipped)
    path = tmp_path / "examples.parquet"
    big = analyze_store(store, probed, out=path, truth=flipped,
                        config=InferenceConfig(chunk_rows=chunk_rows))  # fmt: skip
    assert pq.ParquetFile(path).metadata.num_row_groups > 1
    _same_tables(mem.examples, big.examples)
    assert json.dumps(mem.summary, sort_keys=True) == json.dumps(big.summary, sort_keys=True)
    assert big.examples.column("index").to_pylist() == list(range(probed.source_labels.size))
    assert set(mem.summary["detection"]["scores"]) >= {"mislabel_score", "aum", "el2n"}
    assert any("+aum" in name for name in mem.summary["mislabel_score"]["heldout_ap"])


def test_scores_depend_on_the_row_alone(recorded) -> None:  # type: ignore[no-untyped-def]
    out, probed, _ = recorded
    signals = DynamicsStore(out / "dynamics").read_all()
    engine = AnalysisEngine().fit(ArraySource(signals), probed)
    whole = engine.score(0, signals, probed.y)
    lo, hi = 500, 777
    part = engine.score(lo, {k: v[lo:hi] for k, v in signals.items()}, probed.y[lo:hi])
    for name, values in part.items():
        np.testing.assert_array_equal(values, whole[name][lo:hi], err_msg=name)


def test_engine_is_an_estimator(recorded) -> None:  # type: ignore[no-untyped-def]
    out, probed, _ = recorded
    engine = AnalysisEngine(InferenceConfig(k=5))
    assert not hasattr(engine, "method_")
    fitted = engine.fit(DynamicsStore(out / "dynamics"), probed)
    assert fitted is engine and engine.method_ in engine.heldout_
    assert engine.chosen_ in engine.candidate_ap_
    assert set(engine.inferers_) == {"knn", "classifier"}
    assert engine.inferers_["knn"].k == 5


def test_job_memory_and_store_paths_write_the_same_files(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    common = dict(epochs=6, seed=0, corrupt_rate=0.03, ood_rate=0.03)
    mem = run(RunConfig.build(tmp_path / "mem", **common), data=digits)  # type: ignore[arg-type]
    big = RunConfig.build(tmp_path / "big", in_memory_cells=1, **common)  # type: ignore[arg-type]
    big.inference.chunk_rows = 211
    streamed = run(big, data=digits)
    assert pq.ParquetFile(tmp_path / "big" / "examples.parquet").metadata.num_row_groups > 1
    _same_tables(mem.examples, streamed.examples)
    a, b = (dict(r.summary) for r in (mem, streamed))
    a.pop("timings"), b.pop("timings")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (tmp_path / "big" / "report.html").is_file()


def test_analyze_source_rejects_bad_signals(recorded) -> None:  # type: ignore[no-untyped-def]
    out, probed, _ = recorded
    signals = DynamicsStore(out / "dynamics").read_all()
    with pytest.raises(ValueError, match="signals lack"):
        analyze_source(ArraySource({"loss": signals["loss"]}), probed)


def test_the_suggestion_and_its_confidence_come_from_the_epochs_that_disagreed() -> None:
    """The suggested class is the one predicted most often in the epochs that disagreed with
    the label; its confidence is its share of those epochs, not of all of them (a label
    memorised early leaves few disagreeing epochs, and they still name the class), and none
    where the model never disagreed."""
    from stratigraphy.analysis.reasons import other_prediction

    labels = np.array([0, 0, 1, 2])
    pred = np.array([[1, 2, 2, 0], [0, 0, 0, 0], [-1, 3, 3, 1], [1, 2, 2, 2]])  # 3: beyond labels
    other = other_prediction(labels, pred, 3)
    np.testing.assert_array_equal(other.alt[[0, 2, 3]], [2, 3, 1])
    np.testing.assert_array_equal(other.times, [2, 0, 2, 1])
    np.testing.assert_array_equal(other.disagreed, [3, 0, 2, 1])
    np.testing.assert_allclose(other.confidence(), [2 / 3, np.nan, 1.0, 1.0])


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.int64, st.tuples(st.integers(1, 8), st.integers(1, 6)),
               elements=st.integers(-1, 4)),
    st.data(),
)  # fmt: skip
def test_the_suggestion_counts_only_epochs_that_named_another_class(pred, data) -> None:
    """Whatever the predictions (-1: not recorded), the suggestion is another class than the
    label, named in ``times`` of the ``disagreed`` epochs, and its confidence is that share."""
    from stratigraphy.analysis.reasons import other_prediction

    labels = data.draw(hnp.arrays(np.int64, pred.shape[0], elements=st.integers(0, 3)))
    other = other_prediction(labels, pred, 4)
    named = (pred == other.alt[:, None]).sum(1)
    disagreed = ((pred != labels[:, None]) & (pred >= 0)).sum(1)
    some = other.times > 0
    np.testing.assert_array_equal(other.disagreed, disagreed)
    assert (other.alt[some] != labels[some]).all() and (other.times[some] == named[some]).all()
    assert (other.times <= other.disagreed).all() and (some == (disagreed > 0)).all()
    conf = other.confidence()
    assert np.isnan(conf[~some]).all() and ((conf[some] > 0) & (conf[some] <= 1)).all()
    np.testing.assert_allclose(conf[some], named[some] / disagreed[some])


def test_a_reason_says_how_many_disagreeing_epochs_named_the_class() -> None:
    """Where other epochs named yet another class, the reason says so; an error rate
    estimated at zero reads as below 0.001, not as a certainty."""
    from stratigraphy.analysis.reasons import flag_reasons

    evidence = {"alt": np.array([2, 1]), "alt_count": np.array([4, 3]),
                "disagreed": np.array([5, 3]), "epochs": np.array([12, 12]),
                "forgetting": np.array([0, 2]), "correctness": np.array([0, 5]),
                "aum": np.array([-2.0, 0.5]), "p_kind": np.array([0.9, 0.7])}  # fmt: skip
    out = flag_reasons(np.array([0, 1]), ["mislabeled"] * 2, np.array([0.0, 0.05]), 0.1,
                       evidence, ["a", "b", "c"])  # fmt: skip
    assert out[0].startswith("mislabeled: q < 0.001 ≤ 0.1; p(mislabeled) 0.90")
    assert "predicted 'c' in 4 of 12 epochs (4 of the 5 that disagreed);" in out[0]
    assert "q = 0.05 ≤ 0.1" in out[1] and "predicted 'b' in 3 of 12 epochs;" in out[1]


@pytest.mark.parametrize("n_suites", [2, 5])
def test_classifier_rows_do_not_depend_on_their_batch(n_suites: int) -> None:
    """The classifier's probabilities are scikit-learn's, and a row scored alone or in a
    batch of any size gets the same bits (the engine writes one table whatever the chunks)."""
    from stratigraphy.analysis.inference import TrajectoryClassifier, trajectory_inputs

    rng = np.random.default_rng(3)
    n, epochs = 1851, 12
    sig = {"loss": rng.random((n, epochs), dtype=np.float32),
           "margin": rng.standard_normal((n, epochs), dtype=np.float32),
           "p_label": rng.random((n, epochs), dtype=np.float32),
           "pred": rng.integers(0, 3, (n, epochs)),
           "el2n": rng.random((n, epochs), dtype=np.float32)}  # fmt: skip
    labels = rng.integers(0, 3, n)
    model = TrajectoryClassifier().fit(sig, labels, np.arange(n), rng.integers(0, n_suites, n),
                                       n_suites)  # fmt: skip
    whole = model.predict_proba(sig, labels, np.arange(n))
    np.testing.assert_allclose(whole, model.model_.predict_proba(trajectory_inputs(sig, labels)),
                               atol=1e-6)  # fmt: skip
    for lo, hi in [(n - 1, n), (n - 8, n), (97, 194)]:
        part = model.predict_proba({k: v[lo:hi] for k, v in sig.items()}, labels[lo:hi],
                                   np.arange(lo, hi))  # fmt: skip
        np.testing.assert_array_equal(part, whole[lo:hi])


def _resplit(probed, seed: int):  # type: ignore[no-untyped-def]
    """The same probes with their fitting and held-out halves drawn again."""
    role = np.asarray(probed.probes.column("role").to_pylist(), dtype=object)
    pooled = np.flatnonzero(role != "calibration")
    rng = np.random.default_rng(seed)
    role[pooled] = np.where(rng.random(pooled.size) < 0.5, "fit", "heldout")
    table = probed.probes
    table = table.set_column(table.schema.get_field_index("role"), "role", pa.array(list(role)))
    return replace(probed, probes=table)


def test_cross_fitted_verdicts_do_not_depend_on_the_held_out_half(recorded) -> None:  # type: ignore[no-untyped-def]
    out, probed, flipped = recorded
    signals = DynamicsStore(out / "dynamics").read_all()
    first = analyze(signals, probed, truth=flipped)
    again = analyze(signals, _resplit(probed, 1), truth=flipped)
    _same_tables(first.examples, again.examples)
    assert first.summary["prevalence"] == again.summary["prevalence"]
    split = analyze_source(ArraySource(signals), _resplit(probed, 1), truth=flipped,
                           config=InferenceConfig(cross_fit=1))  # fmt: skip
    assert split.summary["inference"]["heldout"] != first.summary["inference"]["heldout"]


def test_a_cross_fitted_probe_is_judged_by_the_copy_that_never_saw_it(recorded) -> None:  # type: ignore[no-untyped-def]
    out, probed, _ = recorded
    signals = DynamicsStore(out / "dynamics").read_all()
    rows, suites = probed.probe_rows, probed.suite_ids()
    fold = stratified_folds(suites, 5, 0)
    for s in np.unique(suites):
        sizes = np.bincount(fold[suites == s], minlength=5)
        assert sizes.max() - sizes.min() <= 1
    sig = {k: v[rows] for k, v in signals.items()}
    labels = probed.labels_at(rows)
    inferer = CrossFitted(lambda: KNNInferer(5), 5, 0).fit(sig, labels, rows, suites, 5)
    proba = inferer.predict_proba(sig, labels, rows)
    for f, model in enumerate(inferer.models_):
        held = fold == f
        own = {k: v[held] for k, v in sig.items()}
        np.testing.assert_allclose(proba[held], model.predict_proba(own, labels[held], rows[held]))
    real = np.setdiff1d(np.arange(probed.n_kept), rows)[:50]
    real_sig = {k: v[real] for k, v in signals.items()}
    each = [m.predict_proba(real_sig, probed.y[real], real) for m in inferer.models_]
    np.testing.assert_allclose(inferer.predict_proba(real_sig, probed.y[real], real),
                               np.mean(each, axis=0), rtol=1e-6)  # fmt: skip
    assert inferer.name == "knn" and inferer.k == 5
