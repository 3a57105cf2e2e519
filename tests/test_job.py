import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from stratigraphy import (
    ConfigError,
    DataValidationError,
    LabelledData,
    ProbeBudgetError,
    RunConfig,
    RunDirectoryError,
    run,
)
from stratigraphy.issues.registry import issue_columns
from stratigraphy.record.store import DynamicsStore

from .conftest import blobs


def test_run_directory_holds_the_contracted_files(digits_run, digits):
    out = digits_run.out
    for name in ("run.json", "probes.parquet", "examples.parquet", "summary.json", "dynamics"):
        assert (out / name).exists(), name
    ex = pq.read_table(out / "examples.parquet").to_pandas()
    assert len(ex) == digits.n and (ex["index"] == np.arange(digits.n)).all()
    expected = {
        "index",
        "label",
        "metadata",
        "confidence",
        "mislabel_score",
        "suggested_label",
        "mean_loss",
        "cartography_confidence",
        "variability",
        "correctness",
        "aum",
        "forgetting",
        "el2n",
        "first_learned",
        "planted_error",
        "true_label",
    }
    assert expected <= set(ex.columns)
    assert set(issue_columns()) <= set(ex.columns)  # what a re-analysis carries over
    suites = json.loads((out / "summary.json").read_text())["inference"]["suites"]
    assert {f"p_{s}" for s in suites} <= set(ex.columns)
    assert (ex.metadata != "unscored").all() and (ex.verdict != "unscored").all()
    scored = ex
    proba = scored[[f"p_{s}" for s in suites]].to_numpy()
    np.testing.assert_allclose(proba.max(axis=1), scored.confidence, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(suites)[proba.argmax(axis=1)], scored.metadata)
    np.testing.assert_allclose(scored[[f"p_{s}" for s in suites]].sum(axis=1), 1.0, atol=1e-5)
    # Probe sources have no row in the main training; the source fold judged them.
    sources = ex.probe_suite.isin(["mislabeled", "corrupted"])
    assert (ex.row < 0).sum() == sources.sum() > 0
    assert (ex.fold_row[ex.row < 0] >= 0).all() and (ex.fold_row[ex.row >= 0] < 0).all()
    store = DynamicsStore(out / "dynamics")
    assert store.read("loss").shape == (
        json.loads((out / "run.json").read_text())["training_rows"],
        12,
    )


def test_planted_errors_rise_to_the_top(digits_run):
    det = digits_run.summary["detection"]
    assert det["planted"] == 180
    assert det["scores"]["mislabel_score"]["auroc"] > 0.95
    assert det["scores"]["mislabel_score"]["precision_at_k"] > 0.8
    ex = digits_run.examples.to_pandas()
    flagged = ex[(ex.metadata == "mislabeled") & ex.planted_error]
    # The suggested label of a caught error is mostly its true label.
    assert (flagged.suggested_label == flagged.true_label).mean() > 0.8


def test_summary_reports_heldout_accuracy_and_confusion(digits_run):
    inf = digits_run.summary["inference"]
    assert inf["method"] in inf["heldout"]
    rep = inf["heldout"][inf["method"]]
    cm = np.array(rep["confusion"])
    assert cm.shape == (len(inf["suites"]),) * 2 and cm.sum() > 0
    assert rep["per_suite"]["mislabeled"] > 0.8
    assert (
        digits_run.summary["mislabel_score"]["chosen"] in digits_run.summary["detection"]["scores"]
    )


def test_same_seed_gives_identical_examples_parquet(tmp_path):
    X, y = blobs(500, seed=1)
    data = LabelledData(X, y)
    a = run(
        RunConfig.build(tmp_path / "a", epochs=4, seed=3, probe_size=12, noise_rate=0.1),
        data=data,
    )
    b = run(
        RunConfig.build(tmp_path / "b", epochs=4, seed=3, probe_size=12, noise_rate=0.1),
        data=data,
    )
    assert (a.out / "examples.parquet").read_bytes() == (b.out / "examples.parquet").read_bytes()


class Killed(Exception):
    pass


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    X, y = blobs(500, seed=2)
    data = LabelledData(X, y)

    def cfg(out, resume=False):
        return RunConfig.build(
            out=out, epochs=6, seed=5, probe_size=12, noise_rate=0.1, resume=resume
        )

    full = run(cfg(tmp_path / "full"), data=data)

    def kill_at_epoch_3(epoch, batch):
        if epoch == 3 and batch == 2:
            raise Killed

    with pytest.raises(Killed):
        run(cfg(tmp_path / "killed"), data=data, on_batch=kill_at_epoch_3)
    assert DynamicsStore(tmp_path / "killed" / "dynamics").finished_epochs() == 3
    with pytest.raises(RunDirectoryError, match="--resume"):
        run(cfg(tmp_path / "killed"), data=data)
    resumed = run(cfg(tmp_path / "killed", resume=True), data=data)
    assert resumed.summary["timings"]["resumed_from_epoch"] == 3
    assert (tmp_path / "killed" / "examples.parquet").read_bytes() == (
        full.out / "examples.parquet"
    ).read_bytes()


def test_a_directory_holding_a_different_run_is_refused_before_writing(tmp_path, digits_run):
    before = {p.name: p.stat().st_mtime for p in digits_run.out.iterdir()}
    with pytest.raises(RunDirectoryError, match="different run"):
        run(RunConfig.build(digits_run.out, epochs=5, seed=1, resume=True))
    assert before == {p.name: p.stat().st_mtime for p in digits_run.out.iterdir()}
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="not a stratigraphy run"):
        run(RunConfig.build(tmp_path / "junk", epochs=3))


def test_bad_data_and_tiny_data_fail_before_anything_is_written(tmp_path):
    X, y = blobs(60)
    with pytest.raises(ProbeBudgetError):
        run(RunConfig.build(tmp_path / "tiny", epochs=3), data=LabelledData(X, y))
    assert not (tmp_path / "tiny").exists()
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=np.full((50, 3), np.nan), y=np.arange(50) % 2)
    with pytest.raises(DataValidationError, match="NaN"):
        run(RunConfig.build(tmp_path / "bad", source=str(bad), epochs=3))
    assert not (tmp_path / "bad").exists()


def test_eval_pass_records_its_own_dynamics_and_reports_its_cost(tmp_path):
    X, y = blobs(400, seed=4)
    res = run(
        RunConfig.build(
            out=tmp_path / "ev", epochs=3, probe_size=10, noise_rate=0.1, eval_pass=True
        ),
        data=LabelledData(X, y),
    )
    assert DynamicsStore(tmp_path / "ev" / "dynamics" / "eval").finished_epochs() == 3
    assert DynamicsStore(tmp_path / "ev" / "dynamics").finished_epochs() == 3
    assert len(res.summary["timings"]["eval_pass_s"]) == 3
    assert res.summary["detection"]["scores"]["mislabel_score"]["auroc"] > 0.5


def test_the_device_is_recorded_and_a_run_resumes_on_another(tmp_path):
    X, y = blobs(500, seed=4)
    data = LabelledData(X, y)

    def cfg(device, resume=False):
        return RunConfig.build(tmp_path / "r", epochs=4, seed=1, probe_size=12, noise_rate=0.1,
                               device=device, resume=resume)  # fmt: skip

    def kill_at_epoch_2(epoch, batch):
        if epoch == 2 and batch == 1:
            raise Killed

    with pytest.raises(Killed):
        run(cfg("cpu"), data=data, on_batch=kill_at_epoch_2)
    resumed = run(cfg("auto", resume=True), data=data)
    assert resumed.summary["timings"]["resumed_from_epoch"] == 2
    info = json.loads((resumed.out / "run.json").read_text())
    expected = "cuda" if torch.cuda.is_available() else info["device"]
    assert info["device"] == expected and info["config"]["training"]["device"] == "auto"
    assert "device" not in info["identity"]["training"]


@pytest.mark.parametrize("device", ["tpu", "cuda:99", "gpu"])
def test_a_device_torch_cannot_use_is_refused_before_anything_is_written(tmp_path, device):
    with pytest.raises(ConfigError, match="--device"):
        cfg = RunConfig.build(tmp_path / "r", epochs=2, device=device)
        run(cfg, data=LabelledData(*blobs(200)))
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_on_the_gpu_finds_the_planted_errors(tmp_path):
    X, y = blobs(2000, seed=6)
    result = run(RunConfig.build(tmp_path / "g", epochs=8, probe_size=30, noise_rate=0.1,
                                 device="cuda"), data=LabelledData(X, y))  # fmt: skip
    assert json.loads((result.out / "run.json").read_text())["device"].startswith("cuda")
    assert result.summary["detection"]["scores"]["mislabel_score"]["auroc"] > 0.9
