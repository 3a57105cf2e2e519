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
