"""Data adapters beyond arrays: tables (tabular and text) and image folders."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from stratigraphy.core.errors import DataValidationError
from stratigraphy.data.sources import SourceOptions, load_source


def _table(n: int = 300, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    num = rng.normal(size=n) + y
    num[::17] = np.nan
    colour = np.array(["red", "green", "blue"])[(y + (rng.random(n) < 0.2)) % 3]
    return pa.table({"size": num, "colour": colour.tolist(), "kind": [f"k{v}" for v in y]})


def test_tabular_csv_and_parquet_agree(tmp_path: Path) -> None:
    t = _table()
    pacsv.write_csv(t, tmp_path / "t.csv")
    pq.write_table(t, tmp_path / "t.parquet")
    opts = SourceOptions(label_column="kind")
    a = load_source(str(tmp_path / "t.csv"), options=opts)
    b = load_source(str(tmp_path / "t.parquet"), options=opts)
    assert a.modality == "tabular" and a.class_names == ["k0", "k1", "k2"]
    # size, its missing-value indicator, three colours one-hot
    assert a.X.shape == (300, 5) and np.isfinite(a.X).all()
    np.testing.assert_allclose(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)


def test_table_errors_are_clear(tmp_path: Path) -> None:
    t = _table()
    pacsv.write_csv(t, tmp_path / "t.csv")
    with pytest.raises(DataValidationError, match="no column"):
        load_source(str(tmp_path / "t.csv"), options=SourceOptions(label_column="nope"))
    one = pa.table({"a": [1.0, 2.0], "y": ["x", "x"]})
    pacsv.write_csv(one, tmp_path / "one.csv")
    with pytest.raises(DataValidationError, match="single class"):
        load_source(str(tmp_path / "one.csv"), options=SourceOptions(label_column="y"))


def _write_images(root: Path, digits, per_class: int = 30, rgb_one: bool = False) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    for c in range(3):
        (root / f"class_{c}").mkdir(parents=True)
        idx = np.flatnonzero(digits.y == c)[:per_class]
        for j, i in enumerate(idx):
            img = Image.fromarray((digits.X[i, 0] * 255).astype(np.uint8), mode="L")
            img = img.resize((16, 16))
            if rgb_one and j == 0 and c == 0:
                img = img.convert("RGB")
            img.save(root / f"class_{c}" / f"{j:03d}.png")


def test_image_folder(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    _write_images(tmp_path / "gray", digits)
    d = load_source(str(tmp_path / "gray"))
    assert d.modality == "image" and d.X.shape == (90, 1, 16, 16)
    assert d.class_names == ["class_0", "class_1", "class_2"]
    assert np.bincount(d.y).tolist() == [30, 30, 30]
    assert d.captions is not None and d.captions[0] == "class_0/000.png"
    assert d.X.min() >= 0.0 and d.X.max() <= 1.0
    _write_images(tmp_path / "mixed", digits, rgb_one=True)
    m = load_source(str(tmp_path / "mixed"), options=SourceOptions(image_size=12))
    assert m.X.shape == (90, 3, 12, 12)


def test_text_table_embeds_offline_and_caches(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from stratigraphy.data import text

    monkeypatch.setenv("STRAT_CACHE", str(tmp_path / "cache"))
    good = ["great flight, lovely crew", "thanks for the upgrade", "on time and friendly"]
    bad = ["lost my bag again", "delayed three hours", "rude agent at the gate"]
    rows = [(t, "positive") for t in good] + [(t, "negative") for t in bad]
    pacsv.write_csv(
        pa.table({"text": [r[0] for r in rows], "sentiment": [r[1] for r in rows]}),
        tmp_path / "t.csv",
    )
    calls: list[tuple[str, int, int]] = []
    opts = SourceOptions(text_column="text", label_column="sentiment")
    d = load_source(str(tmp_path / "t.csv"), options=opts, on_progress=lambda *a: calls.append(a))
    assert d.modality == "text" and d.X.shape == (6, 384) and d.captions == [r[0] for r in rows]
    np.testing.assert_allclose(np.linalg.norm(d.X, axis=1), 1.0, atol=1e-4)
    assert calls and calls[-1] == ("embedding texts", 6, 6)
    sims = d.X @ d.X.T
    assert sims[0, 1] > sims[0, 4]  # two praises are closer than praise and complaint

    def refuse() -> None:
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(text, "_load_encoder", refuse)
    again = load_source(str(tmp_path / "t.csv"), options=opts)
    np.testing.assert_array_equal(again.X, d.X)
    # --limit cuts the texts before they are embedded (these are cached), and says so when the
    # first rows miss a class
    rows.append(("it was a flight", "neutral"))
    pacsv.write_csv(
        pa.table({"text": [r[0] for r in rows], "sentiment": [r[1] for r in rows]}),
        tmp_path / "t3.csv",
    )
    first = load_source(str(tmp_path / "t3.csv"), options=replace(opts, limit=6))
    np.testing.assert_array_equal(first.X, d.X)
    assert first.name == "t3[:6]" and any("shuffle it" in note for note in first.notes)


def test_cli_runs_a_tabular_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stratigraphy.cli import app

    pacsv.write_csv(_table(400), tmp_path / "t.csv")
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["run", str(tmp_path / "t.csv"), "--label-column", "kind", "--epochs", "4",
              "--noise-rate", "0.1", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    ex = pq.read_table(out / "examples.parquet")
    assert ex.num_rows == 400 and "planted" in ex.column_names
    bad = CliRunner().invoke(app, ["run", str(tmp_path / "t.csv"), "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "['label']" in bad.output


def test_text_run_shows_texts_in_report_and_review(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from stratigraphy import RunConfig, run
    from stratigraphy.present.review_app import create_app

    monkeypatch.setenv("STRAT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    good = ["great", "lovely", "friendly", "smooth", "quick"]
    bad = ["awful", "late", "rude", "lost", "broken"]
    rows = []
    for i in range(240):
        words = good if i % 2 == 0 else bad
        rows.append((f"the flight was {rng.choice(words)} and {rng.choice(words)} #{i}", i % 2))
    pacsv.write_csv(
        pa.table({"text": [r[0] for r in rows], "y": [["pos", "neg"][r[1]] for r in rows]}),
        tmp_path / "t.csv",
    )
    out = tmp_path / "run"
    run(RunConfig.build(out, source=str(tmp_path / "t.csv"), text_column="text", label_column="y",
                  epochs=4, noise_rate=0.1))  # fmt: skip
    ex = pq.read_table(out / "examples.parquet")
    assert ex.column("caption").to_pylist() == [r[0] for r in rows]
    assert 'class="caption">the flight was' in (out / "report.html").read_text()
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    assert client.get("/api/examples/3").json()["caption"] == rows[3][0]
