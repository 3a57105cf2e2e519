"""Planted problems of every kind, the mixed-kinds confusion, and averaging over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from stratigraphy import RunConfig, run
from stratigraphy.analysis.ensemble import average_signals
from stratigraphy.analysis.evaluation import kind_confusion
from stratigraphy.core.errors import ConfigError
from stratigraphy.data.planting import PlantSpec, confusion_transitions, plant
from stratigraphy.data.sources import LabelledData
from stratigraphy.rundir.view import RunView
from tests.conftest import blobs


def test_planting_is_reproducible_and_disjoint(digits) -> None:  # type: ignore[no-untyped-def]
    spec = PlantSpec(noise_rate=0.1, corrupt_rate=0.05, ood_rate=0.05, seed=3)
    a, b = plant(digits, spec), plant(digits, spec)
    np.testing.assert_array_equal(a.data.X, b.data.X)
    np.testing.assert_array_equal(a.data.y, b.data.y)
    n = digits.n
    counts = {
        k: int((a.kind == k).sum()) for k in ("mislabeled", "corrupted", "out_of_distribution")
    }
    assert counts == {"mislabeled": round(0.1 * n), "corrupted": round(0.05 * n),
                      "out_of_distribution": round(0.05 * n)}  # fmt: skip
    assert a.data.n == n + counts["out_of_distribution"]
    mis = a.kind[:n] == "mislabeled"
    assert (a.data.y[:n][mis] != digits.y[mis]).all()
    cor = a.kind[:n] == "corrupted"
    assert (a.data.y[:n][cor] == digits.y[cor]).all()
    assert not np.allclose(a.data.X[:n][cor], digits.X[cor])
    assert np.array_equal(a.data.X[:n][~cor], digits.X[~cor])
    assert (a.true_label[n:] == -1).all() and (a.data.y[n:] < 10).all()
    c = plant(digits, PlantSpec(noise_rate=0.1, corrupt_rate=0.05, ood_rate=0.05, seed=4))
    assert not np.array_equal(a.kind, c.kind)


def test_asymmetric_noise_follows_real_confusions() -> None:
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    tr = confusion_transitions(names)
    assert tr[0] == 6 and tr[6] == 0 and tr[2] == 4 and tr[4] == 2 and 1 not in tr
    rng = np.random.default_rng(0)
    data = LabelledData(rng.random((2000, 4)).astype(np.float32), rng.integers(0, 10, 2000), names)
    p = plant(data, PlantSpec(noise_rate=0.2, noise_kind="asymmetric"))
    flipped = p.kind == "mislabeled"
    assert set(np.unique(data.y[flipped])) <= set(tr)
    assert all(
        tr[int(a)] == int(b) for a, b in zip(data.y[flipped], p.data.y[flipped], strict=True)
    )
    eligible = np.isin(data.y, list(tr))
    assert flipped.sum() == round(0.2 * eligible.sum())
    text = confusion_transitions(["negative", "neutral", "positive"])
    assert text == {1: 2, 2: 1}


def test_tabular_ood_rows_shuffle_columns() -> None:
    X, y = blobs(400, d=5, classes=3)
    data = LabelledData(X, y, kind="tabular")
    p = plant(data, PlantSpec(ood_rate=0.1, corrupt_rate=0.1, seed=1))
    extra = p.data.X[400:]
    assert extra.shape == (40, 5)
    for j in range(5):
        assert np.isin(extra[:, j], X[:, j]).all()


def test_bad_plant_spec_is_refused() -> None:
    with pytest.raises(ConfigError, match="ood-rate"):
        PlantSpec(ood_rate=1.5).validate()
    with pytest.raises(ConfigError, match="together"):
        PlantSpec(noise_rate=0.6, corrupt_rate=0.5).validate()


def test_kind_confusion_counts_and_diagonal() -> None:
    planted = np.array(["clean", "mislabeled", "mislabeled", "out_of_distribution", "clean"])
    inferred = np.array(["typical", "mislabeled", "atypical", "random_input", "unscored"])
    cm = kind_confusion(planted, inferred, ["typical", "atypical", "mislabeled", "random_input"])
    assert cm["rows"] == ["clean", "mislabeled", "out_of_distribution"]
    assert cm["counts"] == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    assert cm["diagonal"] == {"mislabeled": 0.5, "out_of_distribution": 1.0}


def test_job_with_mixed_kinds_writes_truth_and_confusion(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "mixed"
    res = run(RunConfig.build(out, epochs=6, seed=0, noise_rate=0.1, corrupt_rate=0.05,
                        ood_rate=0.05), data=digits)  # fmt: skip
    planted = pq.read_table(out / "planted.parquet")
    assert planted.num_rows == res.examples.num_rows == digits.n + round(0.05 * digits.n)
    assert set(res.examples.column("planted").to_pylist()) == {
        "clean", "mislabeled", "corrupted", "out_of_distribution"}  # fmt: skip
    cm = res.summary["planted"]
    assert set(cm["diagonal"]) == {"mislabeled", "corrupted", "out_of_distribution"}
    assert sum(map(sum, cm["counts"])) == res.summary["n_scored"]
    view = RunView.open(out)
    assert view.data is not None and view.data.n == planted.num_rows
    assert "Planted problems against inferred kinds" in (out / "report.html").read_text()


def test_average_signals_means_and_votes() -> None:
    nan = np.nan
    a = {"loss": np.array([[1.0, nan]], np.float16), "pred": np.array([[2, -1]], np.int32)}
    b = {"loss": np.array([[3.0, 2.0]], np.float16), "pred": np.array([[1, 0]], np.int32)}
    c = {"loss": np.array([[2.0, nan]], np.float16), "pred": np.array([[1, -1]], np.int32)}
    for r in (a, b, c):
        for s in ("margin", "p_label", "el2n"):
            r[s] = r["loss"]
    avg = average_signals([a, b, c], 3)
    np.testing.assert_allclose(avg["loss"].astype(np.float32), [[2.0, 2.0]])
    assert avg["pred"].tolist() == [[1, 0]]
    unseen = average_signals([{**a, "pred": np.array([[-1, -1]], np.int32)}], 3)
    assert unseen["pred"].tolist() == [[-1, -1]]


def test_seeds_average_and_report_stability(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    res = run(RunConfig.build(tmp_path / "s", epochs=5, seed=0, seeds=2), data=digits)
    st = res.summary["seeds"]
    assert st["n"] == 2 and 0.0 < st["same_verdict_share"] <= 1.0
    assert len(st["ap_single"]) == 2 and 0.0 < st["ap_averaged"] <= 1.0
    assert (tmp_path / "s" / "seeds" / "1" / "dynamics" / "epoch_00004.parquet").is_file()
