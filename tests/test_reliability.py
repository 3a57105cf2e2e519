"""Crashes and damage survived: divergence stops with a message, a damaged run directory resumes
to the uninterrupted result or says why it cannot, and the recorder refuses silent garbage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stratigraphy import LabelledData, RunConfig, run
from stratigraphy.cli import app
from stratigraphy.core.errors import (
    DataValidationError,
    RunDirectoryError,
    TrainingDivergedError,
)
from stratigraphy.record.recorder import DynamicsRecorder
from stratigraphy.record.store import DynamicsStore

from .conftest import blobs


class Killed(Exception):
    pass


def _cfg(out, resume=False, **kw):
    return RunConfig.build(out, epochs=5, seed=2, probe_size=12, noise_rate=0.1, resume=resume,
                           **kw)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    return LabelledData(*blobs(500, seed=9))


@pytest.fixture(scope="module")
def full(tmp_path_factory, data):
    return run(_cfg(tmp_path_factory.mktemp("full") / "run"), data=data)


def _killed_at(out, data, epoch):
    def kill(e, b):
        if e == epoch and b == 1:
            raise Killed

    with pytest.raises(Killed):
        run(_cfg(out), data=data, on_batch=kill)


def _same_examples(a, b):
    return (a / "examples.parquet").read_bytes() == (b / "examples.parquet").read_bytes()


def test_a_diverging_run_stops_with_a_message_and_keeps_its_finished_epochs(tmp_path, data):
    with pytest.raises(TrainingDivergedError, match="diverged in epoch"):
        run(_cfg(tmp_path / "r", lr=1e12), data=data)
    kept = DynamicsStore(tmp_path / "r" / "dynamics").finished_epochs()
    assert kept < 5
    res = CliRunner().invoke(app, ["run", "--out", str(tmp_path / "c"), "--lr", "1e12"])
    assert res.exit_code == 2 and "diverged" in res.output and "Traceback" not in res.output


def test_a_zero_byte_checkpoint_resumes_to_the_uninterrupted_result(tmp_path, data, full):
    out = tmp_path / "r"
    _killed_at(out, data, 3)
    (out / "checkpoint.pt").write_bytes(b"")
    with pytest.warns(UserWarning, match="damaged"):
        run(_cfg(out, resume=True), data=data)
    assert _same_examples(out, full.out)


def test_a_truncated_epoch_file_is_retrained_on_resume(tmp_path, data, full):
    out = tmp_path / "r"
    _killed_at(out, data, 3)
    epoch1 = DynamicsStore(out / "dynamics").path(1)
    epoch1.write_bytes(epoch1.read_bytes()[:100])
    resumed = run(_cfg(out, resume=True), data=data)
    assert resumed.summary["timings"]["resumed_from_epoch"] == 0
    assert _same_examples(out, full.out)


def test_temporary_files_of_a_killed_writer_are_removed_on_resume(tmp_path, data, full):
    out = tmp_path / "r"
    _killed_at(out, data, 2)
    stale = [out / ".checkpoint.tmp-99999.pt", out / "dynamics" / ".epoch_00002.tmp-1.parquet"]
    for p in stale:
        p.write_bytes(b"half")
    run(_cfg(out, resume=True), data=data)
    assert not any(p.exists() for p in stale)
    assert not list(out.rglob(".*.tmp-*"))
    assert _same_examples(out, full.out)


def test_a_kill_during_the_first_run_json_write_leaves_a_directory_a_new_run_takes(tmp_path, data):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".run.tmp-4242.json").write_text('{"identity": ')
    run(_cfg(out), data=data)
    assert (out / "run.json").is_file() and not (out / ".run.tmp-4242.json").exists()


def test_a_truncated_run_json_is_a_message_on_resume(tmp_path, data):
    out = tmp_path / "r"
    _killed_at(out, data, 2)
    (out / "run.json").write_text('{"identity": {"data"')
    with pytest.raises(RunDirectoryError, match="run.json is damaged"):
        run(_cfg(out, resume=True), data=data)


def test_the_recorder_refuses_a_store_holding_an_earlier_run(tmp_path):
    rec = DynamicsRecorder(4, tmp_path / "store")
    for _ in range(2):
        rec.update(torch.arange(4), torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
        rec.end_epoch()
    with pytest.raises(RunDirectoryError, match="already holds 2"):
        DynamicsRecorder(4, tmp_path / "store")
    assert DynamicsRecorder(4, tmp_path / "store", start_epoch=2).epoch == 2


def test_the_recorder_refuses_negative_labels_and_non_finite_logits():
    rec = DynamicsRecorder(4)
    rec.update(torch.arange(4), torch.randn(4, 3), torch.tensor([0, -1, 2, 0]))
    with pytest.raises(DataValidationError, match="below 0"):
        rec.end_epoch()
    logits = torch.randn(4, 3)
    logits[2, 1] = float("nan")
    rec.update(torch.arange(4), logits, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(TrainingDivergedError, match="1 example"):
        rec.end_epoch()


def test_a_failed_checkpoint_write_names_the_disk(tmp_path, data, monkeypatch):
    def full_disk(*_a, **_k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 0 vs 64")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(RunDirectoryError, match="disk full"):
        run(_cfg(tmp_path / "r"), data=data)


def test_uint8_images_are_scaled_and_the_scaling_is_recorded(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    X = (rng.random((600, 8, 8)) * 60 + 60 * y[:, None, None]).astype(np.uint8)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    res = CliRunner().invoke(app, ["run", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"),
                                   "--epochs", "3", "--probe-size", "12"])  # fmt: skip
    assert res.exit_code == 0, res.output
    info = __import__("json").loads((tmp_path / "r" / "run.json").read_text())
    assert info["data"]["input_preparation"] == [
        "uint8 images scaled to [0, 1] by their dtype's range"
    ]


def test_channel_last_images_are_moved_channels_first_with_a_warning():
    X = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="channels last"):
        d = LabelledData(X, np.arange(40) % 2)
    assert d.X.shape == (40, 3, 8, 8) and "channels first" in d.notes[0]


def test_kill_9_mid_training_resumes_to_a_bit_identical_table(tmp_path):
    """A real SIGKILL (no exception handler runs) while the third epoch trains."""
    import signal
    import subprocess
    import sys
    import time

    X, y = blobs(3000, seed=3)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    args = [sys.executable, "-m", "stratigraphy", "run", str(tmp_path / "d.npz")]
    args += ["--epochs", "8", "--probe-size", "20", "--noise-rate", "0.1", "--seed", "4"]
    subprocess.run([*args, "--out", str(tmp_path / "full")], check=True, capture_output=True)
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "k")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    store = DynamicsStore(tmp_path / "k" / "dynamics")
    deadline = time.monotonic() + 120
    while store.finished_epochs() < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "k" / "examples.parquet").exists(), "killed too late to test"
    subprocess.run([*args, "--out", str(tmp_path / "k"), "--resume"], check=True,
                   capture_output=True)  # fmt: skip
    assert _same_examples(tmp_path / "k", tmp_path / "full")
    assert not list((tmp_path / "k").rglob(".*.tmp-*"))


@pytest.mark.parametrize("damage", ["run.json", "summary.json", "examples.parquet"])
def test_strat_review_and_report_name_a_damaged_run_file(run_copy, damage):
    target = run_copy / damage
    target.write_bytes(target.read_bytes()[:40])
    for cmd in (["review", str(run_copy), "--verify"], ["report", str(run_copy)]):
        res = CliRunner().invoke(app, cmd)
        assert res.exit_code == 2 and "damaged" in res.output, res.output
        assert "Traceback" not in res.output


def test_text_that_is_not_utf8_is_read_as_latin1_not_as_bytes(tmp_path):
    from stratigraphy.data.text import load_text_table

    rows = "text,label\n" + "".join(f"caf\xe9 n\xba {i} tr\xe8s bien,{i % 2}\n" for i in range(20))
    (tmp_path / "t.csv").write_bytes(rows.encode("latin-1"))
    with pytest.warns(UserWarning, match="Latin-1"):
        texts, y, names = load_text_table(tmp_path / "t.csv", "text", "label")
    assert texts[0] == "café nº 0 très bien" and names == ["0", "1"]
