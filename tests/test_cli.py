import json
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from stratigraphy.cli import app

from .conftest import blobs

runner = CliRunner()


def test_strat_run_on_an_npz_prints_the_tables(tmp_path):
    X, y = blobs(500)
    np.savez(tmp_path / "d.npz", X=X, y=y, class_names=["a", "b", "c", "d"])
    (tmp_path / "group.txt").write_text("\n".join(map(str, range(15))))
    res = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "4",
            "--probe-size",
            "12",
            "--noise-rate",
            "0.1",
            "--noise-kind",
            "asymmetric",
            "--suite",
            f"group={tmp_path / 'group.txt'}",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Examples per inferred kind" in res.output and "Held-out probe accuracy" in res.output
    assert "Detection of 50 planted errors" in res.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "group" in summary["inference"]["suites"]


def test_bad_options_exit_2_with_a_message(tmp_path):
    res = runner.invoke(app, ["run", "--out", str(tmp_path / "r"), "--model", "transformer"])
    assert res.exit_code == 2 and "model must be one of" in res.output
    res = runner.invoke(app, ["run", "--out", str(tmp_path / "r"), "--probes", "typical,bogus"])
    assert res.exit_code == 2 and "Unknown probe suite" in res.output
    res = runner.invoke(app, ["run", "--out", str(tmp_path / "r"), "--suite", "nofile"])
    assert res.exit_code == 2 and "NAME=FILE" in res.output
    assert not (tmp_path / "r").exists()


def test_python_dash_m_entry_point():
    res = subprocess.run(
        [sys.executable, "-m", "stratigraphy", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--noise-rate" in res.stdout and "--resume" in res.stdout
