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
    if ray.is_initialized():  # a docs block may have started a default local cluster
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")  # fmt: skip
    yield
    ray.shutdown()


def assert_same_analysis(local, on_ray) -> None:
    assert_same_table(local / "examples.parquet", on_ray / "examples.parquet")
    sa = json.loads((local / "summary.json").read_text())
    sb = json.loads((on_ray / "summary.json").read_text())
    assert sa.pop("engine") == "local" and sb.pop("engine") == "ray"
    assert sa == sb


def assert_same_table(local, on_ray) -> None:
    """Equal examples tables, row for row after sorting by index (NaN equal to NaN)."""
    a = pq.read_table(local).sort_by("index").to_pandas()
    b = pq.read_table(on_ray).sort_by("index").to_pandas()
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    assert b["index"].is_unique
    for name in a.columns:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)  # NaN equals NaN here
        else:
            assert (x == y).all() or all(str(p) == str(q) for p, q in zip(x, y, strict=True)), name


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
    result = CliRunner().invoke(app, ["run", "--engine", "ray", "--seeds", "2", "--out",
                                      str(tmp_path / "y")])  # fmt: skip
    assert result.exit_code == 2 and "averaged over seeds" in result.output
    assert not (tmp_path / "y").exists()


SUITES = ["typical", "atypical", "mislabeled", "corrupted", "random_input"]


def synthetic_run(directory, n: int, epochs: int, row_group: int, n_probes: int = 400):
    """A store of loss-like trajectories of five kinds and an in-place probe plan, saved and
    opened from disk as a run at scale would be."""
    from stratigraphy.probes.build import ProbedData
    from stratigraphy.probes.plan_file import open_plan, save_plan

    rng = np.random.default_rng(0)
    kind = rng.integers(0, 5, size=n)
    labels = rng.integers(0, 3, size=n)
    rate = np.array([8.0, 3.0, 0.7, 1.5, 0.0], np.float32)[kind]
    store = DynamicsStore(directory / "dynamics", n, row_group=row_group)
    for e in range(epochs):
        loss = 2.3 * np.exp(-rate * e / (epochs - 1)) + 0.5 * rng.standard_normal(n)
        loss = np.clip(np.where(kind == 4, 2.2, loss), 0, None).astype(np.float32)
        p = np.exp(-loss)
        pred = np.where(loss < 0.7, labels, (labels + 1) % 3).astype(np.int32)
        store.write_epoch(e, {"loss": loss, "p_label": p, "margin": np.log(p + 1e-6) + 1.5,
                              "el2n": 1 - p, "pred": pred})  # fmt: skip
    rows = np.sort(rng.choice(n, size=2 * n_probes, replace=False))
    is_fit = rng.permutation(np.r_[np.ones(n_probes, bool), np.zeros(n_probes, bool)])
    probed = ProbedData.in_place(labels, rows, kind[rows], is_fit, SUITES)
    plan, _ = open_plan(save_plan(probed, directory / "plan", {"kind": kind.astype(str)}))
    return store, plan


def test_a_killed_worker_neither_loses_nor_duplicates_a_row(cluster, tmp_path):
    import threading
    import time

    import psutil

    from stratigraphy import analyze_store

    store, plan = synthetic_run(tmp_path, 120_000, 20, row_group=15_000)
    kind = np.random.default_rng(0).integers(0, 5, size=120_000).astype(str)
    local = analyze_store(store, plan, out=tmp_path / "local.parquet", extra={"kind": kind})
    killed: list[int] = []
    done = threading.Event()

    def kill_one_scoring_worker() -> None:
        while not done.is_set() and not killed:
            for proc in psutil.process_iter(["cmdline"]):
                if "ray::score_part" in " ".join(proc.info["cmdline"] or []):
                    proc.kill()
                    killed.append(proc.pid)
                    return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_one_scoring_worker)
    killer.start()
    try:
        on_ray = analyze_store(store, plan, out=tmp_path / "ray.parquet", engine="ray")
    finally:
        done.set()
        killer.join()
    assert killed, "no scoring worker was caught running"
    assert pq.read_metadata(tmp_path / "ray.parquet" / "part-000000.parquet").num_rows == 15_000
    assert_same_table(tmp_path / "local.parquet", tmp_path / "ray.parquet")
    assert local.summary == on_ray.summary


def test_a_saved_plan_maps_back_what_was_saved(digits, tmp_path):
    from stratigraphy.probes.build import build_probes
    from stratigraphy.probes.plan_file import open_plan, save_plan

    probed = build_probes(digits.X, digits.y, 10)
    columns = {"caption": [f"digit {c}" for c in digits.y], "weight": np.linspace(0, 1, 1797)}
    opened, back = open_plan(save_plan(probed, tmp_path / "plan", columns))
    for name in ("y", "origin", "example_row", "source_labels"):
        assert isinstance(getattr(opened, name), np.memmap)
        np.testing.assert_array_equal(getattr(opened, name), getattr(probed, name))
    for name in ("score", "agrees", "neighbour_label", "neighbour_share"):
        np.testing.assert_array_equal(getattr(opened.typicality, name),
                                      getattr(probed.typicality, name))  # fmt: skip
    np.testing.assert_allclose(opened.typicality.confusion, probed.typicality.confusion)
    assert opened.probes.equals(probed.probes) and opened.suites == probed.suites
    assert (opened.n_kept, opened.n_classes) == (probed.n_kept, probed.n_classes)
    assert opened.lookalikes == probed.lookalikes and set(probed.lookalikes) == {"corrupted"}
    assert opened.lookalike_recall == probed.lookalike_recall
    assert set(probed.lookalike_recall) == {"corrupted"}
    assert opened.X.shape == (probed.X.shape[0], 0)
    assert back["caption"].to_pylist() == columns["caption"]
    np.testing.assert_array_equal(back["weight"], columns["weight"])


def test_opening_a_directory_without_a_plan_is_a_clear_error(tmp_path):
    from stratigraphy.core.errors import RunDirectoryError
    from stratigraphy.probes.plan_file import open_plan

    with pytest.raises(RunDirectoryError, match="no saved probe plan"):
        open_plan(tmp_path)


def test_a_text_run_on_ray_embeds_there_fills_the_cache_and_equals_the_local_run(
    cluster, tmp_path, monkeypatch
):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from fastapi.testclient import TestClient

    from stratigraphy.data import text
    from stratigraphy.present.review_app import create_app

    monkeypatch.setenv("STRAT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    good, bad = ["great", "lovely", "friendly", "smooth"], ["awful", "late", "rude", "lost"]
    texts = [f"the flight was {rng.choice(good if i % 2 else bad)} #{i}" for i in range(200)]
    labels = [["neg", "pos"][i % 2] for i in range(200)]
    pacsv.write_csv(pa.table({"text": texts, "y": labels}), tmp_path / "t.csv")
    args = ["run", str(tmp_path / "t.csv"), "--text-column", "text", "--label-column", "y",
            "--epochs", "4", "--noise-rate", "0.1"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--engine", "ray", "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.npz"))) == 1

    def refuse() -> None:
        raise AssertionError("the cache the Ray run filled should have answered")

    monkeypatch.setattr(text, "_load_encoder", refuse)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "local")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ray" / "examples.parquet").is_dir()
    assert_same_table(
        tmp_path / "local" / "examples.parquet", tmp_path / "ray" / "examples.parquet"
    )
    sa, sb = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray"))
    assert sa["flags"] == sb["flags"] and sa["prevalence"] == sb["prevalence"]
    client = TestClient(create_app(tmp_path / "ray"), base_url="http://127.0.0.1")
    assert client.get("/api/examples/3").json()["caption"] == texts[3]
    assert 'class="caption">the flight was' in (tmp_path / "ray" / "report.html").read_text()


def test_scattered_labels_of_a_saved_plan_are_the_labels(tmp_path):
    from stratigraphy.probes.build import ProbedData
    from stratigraphy.probes.plan_file import open_plan, save_plan

    labels = np.random.default_rng(1).integers(0, 7, size=5000)
    rows = np.array([0, 4999, 17, 17, 2500])
    probed = ProbedData.in_place(labels, rows[:3], np.array([0, 1, 0]), np.array([1, 0, 1], bool),
                                 ["typical", "mislabeled"])  # fmt: skip
    opened, _ = open_plan(save_plan(probed, tmp_path / "plan"))
    np.testing.assert_array_equal(opened.labels_at(rows), labels[rows])
    np.testing.assert_array_equal(probed.labels_at(rows), labels[rows])
    with pytest.raises(IndexError):
        opened.labels_at(np.array([5000]))
