"""Out-of-core analysis agrees with the in-memory one, chunk boundaries included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from stratigraphy import DynamicsStore, ProbeConfig, analyze, build_probes
from stratigraphy.chunked_analysis import analyze_store
from stratigraphy.noise import plant_label_noise
from stratigraphy.training import TrainConfig, train_and_record


def test_chunked_matches_in_memory(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    given, _ = plant_label_noise(digits.y, 10, 0.1, seed=0)
    probed = build_probes(digits.X, given, 10, ProbeConfig(seed=0))
    train_and_record(probed.X, probed.y, 10, TrainConfig(epochs=8, model="mlp"), tmp_path)
    store = DynamicsStore(tmp_path / "dynamics")
    mem = analyze(store.read_all(), probed)
    out = tmp_path / "rows.parquet"
    summary = analyze_store(
        store, probed.y, probed.probe_rows, probed.suite_ids(), probed.is_fit(), probed.suites,
        out, chunk_rows=300,
    )  # fmt: skip
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == probed.y.size and meta.num_row_groups == -(-probed.y.size // 300)
    rows = pq.read_table(out).to_pandas()
    assert rows["row"].tolist() == list(range(probed.y.size))
    assert summary["method"] == mem.inference.method
    for m, rep in mem.inference.heldout.items():
        assert abs(summary["heldout"][m]["accuracy"] - rep.accuracy) < 1e-9
    np.testing.assert_array_equal(rows["metadata"].astype(str), mem.inference.metadata)
    np.testing.assert_allclose(rows["p_mislabeled"], mem.inference.proba[:, 2], atol=1e-5)
    ex = mem.examples.to_pandas()
    kept = ex[ex["row"] >= 0]
    np.testing.assert_allclose(
        rows["aum"].to_numpy()[kept["row"]], kept["aum"].to_numpy(), rtol=1e-5
    )
    assert sum(summary["counts"].values()) == probed.y.size


def test_job_takes_the_chunked_path_for_large_runs(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    from stratigraphy import RunConfig, run

    common = dict(epochs=6, seed=0, corrupt_rate=0.03, ood_rate=0.03)
    mem = run(RunConfig(out=tmp_path / "mem", **common), data=digits)  # type: ignore[arg-type]
    big = run(RunConfig(out=tmp_path / "big", chunked_cells=1, **common), data=digits)  # type: ignore[arg-type]
    assert big.summary["inference"].get("chunked") and (tmp_path / "big" / "rows.parquet").is_file()
    a, b = mem.examples.to_pandas(), big.examples.to_pandas()
    assert b["index"].tolist() == list(range(len(a)))
    assert (a["metadata"] == b["metadata"]).all()
    for col in ("label", "row", "suggested_label", "planted", "planted_error", "true_label"):
        assert (a[col] == b[col]).all(), col
    np.testing.assert_allclose(b["p_mislabeled"], a["p_mislabeled"], atol=1e-5)
    np.testing.assert_allclose(b["aum"], a["aum"], rtol=1e-5)
    assert big.summary["counts"] == mem.summary["counts"]
    assert big.summary["planted"] == mem.summary["planted"]
    assert "mislabel_score" in big.summary["detection"]["scores"]
    assert (tmp_path / "big" / "report.html").is_file()
