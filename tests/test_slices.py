"""Weak slices: per class and per user group, worst first, with the class imbalance stated."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stratigraphy import LabelledData, RunConfig, load_digits_data, run
from stratigraphy.cli import app
from stratigraphy.core.errors import DataValidationError
from stratigraphy.issues.slices import calibration_error, read_groups, weak_slices

from .conftest import blobs


def test_a_group_with_extra_label_noise_is_ranked_first(tmp_path):
    d = load_digits_data()
    rng = np.random.default_rng(0)
    groups = rng.choice(["north", "south", "east", "west"], d.n)
    y = d.y.copy()
    noisy = (groups == "east") & (rng.random(d.n) < 0.4)
    y[noisy] = (y[noisy] + rng.integers(1, 10, noisy.sum())) % 10
    np.save(tmp_path / "groups.npy", groups)
    cfg = RunConfig.build(tmp_path / "r", epochs=6, groups=str(tmp_path / "groups.npy"))
    res = run(cfg, data=LabelledData(d.X, y, d.class_names))
    worst = res.summary["issues"]["weak_slices"]["worst"]
    assert (worst[0]["slice"], worst[0]["name"]) == ("group", "east")
    table = pq.read_table(tmp_path / "r" / "slices.parquet").to_pylist()
    assert {r["name"] for r in table if r["slice"] == "group"} == {"north", "south", "east", "west"}
    assert len([r for r in table if r["slice"] == "class"]) == 10
    assert "Weak slices" in (tmp_path / "r" / "report.html").read_text()


def test_slices_rank_by_accuracy_and_state_the_imbalance():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    correct = np.where(labels == 1, 0.4, 0.9)
    ex = {"label": labels, "correctness": correct, "cartography_confidence": correct,
          "flagged": labels == 1, "p_mislabeled": np.zeros(1000)}  # fmt: skip
    table, summary = weak_slices(ex, ["a", "b", "c"])
    assert summary["worst"][0]["name"] == "b"
    assert summary["worst"][0]["flagged_share"] == 1.0
    assert summary["class_imbalance"] == pytest.approx(6.0)
    assert (summary["largest_class"], summary["smallest_class"]) == ("a", "c")
    assert table.num_rows == 3


def test_calibration_error_is_zero_when_confidence_matches_accuracy():
    conf = np.linspace(0.05, 0.95, 10).repeat(50)
    assert calibration_error(conf, conf) == pytest.approx(0.0)
    assert calibration_error(np.full(100, 0.9), np.full(100, 0.5)) == pytest.approx(0.4)


def test_groups_must_match_the_data(tmp_path):
    (tmp_path / "g.txt").write_text("group\na\nb\n")
    assert read_groups(tmp_path / "g.txt", 2).tolist() == ["a", "b"]
    with pytest.raises(DataValidationError, match="holds 2 values; the data has 3"):
        read_groups(tmp_path / "g.txt", 3)
    (tmp_path / "e.txt").write_text("a\n\nb\n")
    with pytest.raises(DataValidationError, match="empty group"):
        read_groups(tmp_path / "e.txt", 3)
    with pytest.raises(DataValidationError, match="no such file"):
        read_groups(tmp_path / "missing.txt", 3)


def test_the_cli_refuses_bad_groups_before_writing(tmp_path):
    (tmp_path / "g.txt").write_text("a\nb\n")
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["run", "--out", str(out), "--groups", str(tmp_path / "g.txt"),
                                   "--epochs", "2"])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "the data has 1797 examples" in res.output
    assert not out.exists()


def test_groups_can_be_a_column_of_the_data_table(tmp_path):
    X, y = blobs(400, d=6, seed=9)
    rng = np.random.default_rng(0)
    site = rng.choice(["lab", "field"], 400)
    noisy = (site == "field") & (rng.random(400) < 0.4)
    y = np.where(noisy, (y + 1) % 4, y)
    table = pa.table({**{f"f{i}": X[:, i] for i in range(6)}, "site": site,
                      "label": [f"c{v}" for v in y]})  # fmt: skip
    pacsv.write_csv(table, tmp_path / "data.csv")
    assert read_groups("site", 400, tmp_path / "data.csv").tolist() == site.tolist()
    with pytest.raises(DataValidationError, match="neither a file nor a column"):
        read_groups("region", 400, tmp_path / "data.csv")
    out = tmp_path / "r"
    args = ["run", str(tmp_path / "data.csv"), "--drop-column", "site", "--groups", "site",
            "--epochs", "4", "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    slices = pq.read_table(out / "slices.parquet").to_pylist()
    groups = [s for s in slices if s["slice"] == "group"]
    assert {s["name"] for s in groups} == {"lab", "field"}
    assert min(groups, key=lambda s: s["rank"])["name"] == "field"
