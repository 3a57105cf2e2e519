"""The analysis on Ray: a local cluster of 2 worker processes gives the same examples table and
summary as the single-process engine."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stratigraphy.cli import app
from stratigraphy.job import reanalyse
from stratigraphy.record.store import DynamicsStore

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")  # fmt: skip
    yield
    ray.shutdown()


def assert_same_analysis(local, on_ray) -> None:
    a = pq.read_table(local / "examples.parquet").sort_by("index").to_pandas()
    b = pq.read_table(on_ray / "examples.parquet").sort_by("index").to_pandas()
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for name in a.columns:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)  # NaN equals NaN here
        else:
            assert (x == y).all() or all(str(p) == str(q) for p, q in zip(x, y, strict=True)), name
    sa = json.loads((local / "summary.json").read_text())
    sb = json.loads((on_ray / "summary.json").read_text())
    assert sa.pop("engine") == "local" and sb.pop("engine") == "ray"
    assert sa == sb


def test_ray_engine_equals_the_single_process_engine_on_digits(cluster, digits_run, tmp_path):
    reanalyse(digits_run.out, tmp_path / "local")
    result = CliRunner().invoke(app, ["analyze", str(digits_run.out), "--engine", "ray",
                                      "--out", str(tmp_path / "ray")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ray" / "examples.parquet").is_dir()
    assert_same_analysis(tmp_path / "local", tmp_path / "ray")
    ex = pq.read_table(tmp_path / "ray" / "examples.parquet")
    assert "unscored" not in set(ex.column("verdict").to_pylist())


def test_ray_engine_equals_it_on_a_store_of_many_row_groups(cluster, digits_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(digits_run.out, run, ignore=shutil.ignore_patterns("review.sqlite*"))
    old = DynamicsStore(run / "dynamics")
    signals = old.read_all()
    shutil.rmtree(run / "dynamics")
    new = DynamicsStore(run / "dynamics", row_group=97)
    for e in range(signals["loss"].shape[1]):
        new.write_epoch(e, {k: v[:, e] for k, v in signals.items()})
    assert len(new.row_groups()) >= 20
    reanalyse(run, tmp_path / "local")
    reanalyse(run, tmp_path / "ray", engine="ray")
    parts = list((tmp_path / "ray" / "examples.parquet").glob("part-*.parquet"))
    assert len(parts) >= 15  # a row group of probes only writes none
    assert_same_analysis(tmp_path / "local", tmp_path / "ray")


def test_reanalysis_refuses_what_it_cannot_do(digits_run, tmp_path):
    result = CliRunner().invoke(app, ["analyze", str(digits_run.out), "--engine", "spark",
                                      "--out", str(tmp_path / "x")])  # fmt: skip
    assert result.exit_code == 2 and "--engine must be one of" in result.output
    result = CliRunner().invoke(app, ["analyze", str(digits_run.out), "--out",
                                      str(digits_run.out)])  # fmt: skip
    assert result.exit_code == 2 and "not over it" in result.output
