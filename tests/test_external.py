"""Dynamics from a model the user already trained: per-epoch outputs saved by any framework."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from stratigraphy.analysis.external import analyze_outputs, read_epoch_arrays, signals_from_epochs
from stratigraphy.analysis.scores import compute_scores
from stratigraphy.cli import app
from stratigraphy.core.errors import DataValidationError
from stratigraphy.record.checkpoints import find_checkpoints, load_state_dict, record_checkpoints
from stratigraphy.record.recorder import DynamicsRecorder

from .conftest import blobs


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny MLP trained 6 epochs on blobs with 15% flipped labels; after each epoch its
    logits on every example go both to a DynamicsRecorder and to a .npy file, and its weights
    to a checkpoint file."""
    X, y = blobs(600, d=8, seed=3)
    rng = np.random.default_rng(0)
    flipped = rng.random(y.size) < 0.15
    y = np.where(flipped, (y + rng.integers(1, 4, y.size)) % 4, y)
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    rec = DynamicsRecorder(y.size)
    folder = tmp_path_factory.mktemp("outputs")
    for epoch in range(6):
        for batch in torch.randperm(y.size).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
            opt.step()
        with torch.no_grad():
            logits = model(xt)
        rec.update(torch.arange(y.size), logits, yt)
        rec.end_epoch()
        np.save(folder / f"epoch_{epoch:02d}.npy", logits.numpy())
        torch.save(model.state_dict(), folder / f"model_{epoch}.pt")
    np.save(folder / "labels.npy", y)
    return folder, y, flipped, rec.arrays()


def assert_same_dynamics(signals: dict, recorded: dict, y: np.ndarray) -> None:
    """The same signals (float16 tolerance) and the same classic scores."""
    for name in ("loss", "margin", "p_label", "el2n"):
        ours = signals[name].astype(np.float32)
        np.testing.assert_allclose(ours, recorded[name].astype(np.float32), rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(signals["pred"], recorded["pred"])
    ours, theirs = compute_scores(signals, y), compute_scores(recorded, y)
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-3, atol=1e-3)


def test_saved_outputs_give_the_recorded_signals_and_scores(trained):
    folder, y, _, recorded = trained
    epochs = read_epoch_arrays(sorted(folder.glob("epoch_*.npy")))
    signals = signals_from_epochs(epochs, y)
    assert_same_dynamics(signals, recorded, y)


def test_probabilities_are_recognised_and_rank_like_logits(trained):
    folder, y, _, _ = trained
    epochs = read_epoch_arrays(sorted(folder.glob("epoch_*.npy")))
    probs = [torch.softmax(torch.from_numpy(e), 1).numpy() for e in epochs]
    a, b = signals_from_epochs(epochs, y), signals_from_epochs(probs, y)
    np.testing.assert_allclose(a["loss"].astype(np.float32), b["loss"].astype(np.float32),
                               atol=2e-3)  # fmt: skip


def test_the_cli_ranks_flipped_labels_first(trained, tmp_path):
    folder, y, flipped, _ = trained
    files = [str(p) for p in sorted(folder.glob("epoch_*.npy"))]
    res = CliRunner().invoke(app, ["analyze", *files, "--labels", str(folder / "labels.npy"),
                                   "--out", str(tmp_path / "a")])  # fmt: skip
    assert res.exit_code == 0, res.output
    ex = pq.read_table(tmp_path / "a" / "examples.parquet").to_pandas()
    ap = average_precision_score(flipped, ex.mislabel_score)
    assert ap > 4 * flipped.mean()  # a random ranking scores about the base rate
    right = ex.suggested_label[flipped & (ex.suggested_label != ex.label)]
    assert len(right) > 0


def test_bad_outputs_raise_typed_errors(trained, tmp_path):
    folder, y, _, _ = trained
    one = read_epoch_arrays([folder / "epoch_00.npy"])
    with pytest.raises(DataValidationError, match="at least 2 epochs"):
        signals_from_epochs(one, y)
    with pytest.raises(DataValidationError, match="N = 599"):
        signals_from_epochs(one * 2, y[:-1])
    with pytest.raises(DataValidationError, match="integers in 0..3"):
        signals_from_epochs(one * 2, y + 4)
    with pytest.raises(DataValidationError, match="no such file"):
        read_epoch_arrays([tmp_path / "missing.npy"])
    table, summary = analyze_outputs(signals_from_epochs(one * 2, y), y)
    assert table.num_rows == y.size and summary["epochs"] == 2


def test_checkpoints_give_the_signals_recorded_in_the_loop(trained):
    folder, y, flipped, recorded = trained
    X, _ = blobs(600, d=8, seed=3)
    data = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)))
    paths = [folder / f"model_{e}.pt" for e in range(6)]
    signals = record_checkpoints(paths, data, mlp, batch_size=100, progress=False)
    assert_same_dynamics(signals, recorded, y)
    table, _ = analyze_outputs(signals, y)
    assert average_precision_score(flipped, table["mislabel_score"].to_numpy()) > 0.5


def test_checkpoint_forms_and_order(trained, tmp_path):
    folder, *_ = trained
    state = torch.load(folder / "model_0.pt", weights_only=True)
    torch.save({"epoch": 0, "model": state, "opt": {}}, tmp_path / "ours.pt")
    for step in (10, 9, 100):
        (tmp_path / "out" / f"checkpoint-{step}").mkdir(parents=True)
    (tmp_path / "out" / "runs").mkdir()
    found = find_checkpoints(tmp_path / "out")
    assert [p.name for p in found] == ["checkpoint-9", "checkpoint-10", "checkpoint-100"]
    for form in (state, tmp_path / "ours.pt"):
        loaded = load_state_dict(form)
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    with pytest.raises(DataValidationError, match="must hold one of"):
        load_state_dict(found[0])
    torch.save({"epoch": 3}, tmp_path / "bad.pt")
    with pytest.raises(DataValidationError, match="not a state dict"):
        load_state_dict(tmp_path / "bad.pt")
    data = torch.utils.data.TensorDataset(torch.zeros(5, 8), torch.zeros(5, dtype=torch.long))
    wrong = lambda: torch.nn.Linear(8, 4)  # noqa: E731
    with pytest.raises(DataValidationError, match="does not fit the model"):
        record_checkpoints([state, state], data, wrong, progress=False)
    with pytest.raises(DataValidationError, match="at least 2 checkpoints"):
        record_checkpoints([state], data, mlp, progress=False)


CHECKPOINT_MODULE = """
import json

import numpy as np
import torch
from stratigraphy import ProbeConfig, load_digits_data
from stratigraphy.probes.dataset import ProbedDataset


def model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10))


def dataset():
    d = load_digits_data()
    base = torch.utils.data.TensorDataset(torch.from_numpy(d.X.astype(np.float32)),
                                          torch.from_numpy(d.y.astype(np.int64)))
    return ProbedDataset(base, n_classes=10, config=ProbeConfig(seed=0))
"""


def test_cli_replays_checkpoints_of_a_probed_dataset_into_a_full_analysis(tmp_path):
    spec = tmp_path / "user_code.py"
    spec.write_text(CHECKPOINT_MODULE)
    namespace: dict = {}
    exec(compile(CHECKPOINT_MODULE, str(spec), "exec"), namespace)
    data, net = namespace["dataset"](), namespace["model"]()
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
    for epoch in range(6):
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        folder = tmp_path / "trained" / f"checkpoint-{(epoch + 1) * len(loader)}"
        folder.mkdir(parents=True)
        torch.save(net.state_dict(), folder / "pytorch_model.bin")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "trained"), "--model",
                                      f"{spec}:model", "--dataset", f"{spec}:dataset",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "examples.parquet")
    assert table.num_rows == 1797 and {"verdict", "flagged", "mislabel_score"} <= set(
        table.column_names
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "checkpoints" and summary["n_examples"] == 1797
    assert (out / "dynamics").is_dir()
    missing = CliRunner().invoke(app, ["analyze", str(tmp_path / "trained"), "--model",
                                       f"{spec}:model", "--out", str(tmp_path / "x")])  # fmt: skip
    assert missing.exit_code == 2 and "both --model and --dataset" in missing.output
