import gzip
import struct

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stratigraphy import ConfigError, DataValidationError, LabelledData
from stratigraphy.cli import app
from stratigraphy.data.checks import check_arrays
from stratigraphy.data.sources import SourceOptions, load_idx_dir, load_npz, load_source
from stratigraphy.issues.slices import read_groups


def test_images_gain_a_channel_axis_and_become_float32():
    images = np.arange(5 * 64).reshape(5, 8, 8).astype(np.uint8)
    X, y, notes = check_arrays(images, np.arange(5) % 2)
    assert X.shape == (5, 1, 8, 8) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.max() <= 1.0 and np.allclose(X[0, 0, 0, 1], 1 / 255) and "uint8" in notes[0]


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.zeros((4, 3)), np.zeros(5, dtype=int), "4 examples but y has 5"),
        (np.zeros(4), np.zeros(4, dtype=int), "feature vectors"),
        (np.zeros((4, 3)), np.zeros((4, 1), dtype=int), "1-D array"),
        (np.array([[0.0, np.nan], [1, 1]]), np.array([0, 1]), "NaN or infinite"),
        (np.array([[0.0, np.inf], [1, 1]]), np.array([0, 1]), "first at rows [0]"),
        (np.zeros((3, 2)), np.array([0, 1, -1]), "negative labels"),
        (np.zeros((3, 2)), np.array([0.0, 1.5, 1.0]), "integer class labels"),
        (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), "real numbers"),
        (np.zeros((2, 0), np.float32), np.array([0, 1]), "no features"),
    ],
)
def test_bad_input_raises_a_clear_typed_error(X, y, message):
    with pytest.raises(DataValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_arrays(X, y)


def test_labels_beyond_the_named_classes_are_refused():
    with pytest.raises(DataValidationError, match=r"0\.\.1"):
        LabelledData(np.zeros((3, 2)), np.array([0, 1, 2]), ["a", "b"])


def test_npz_round_trip_with_class_names(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        X=np.random.default_rng(0).random((6, 4)),
        y=np.array([0, 1, 2, 0, 1, 2]),
        class_names=["a", "b", "c"],
    )
    d = load_npz(path)
    assert d.n == 6 and d.class_names == ["a", "b", "c"] and d.modality == "vector"


def test_npz_without_labels_names_what_is_missing(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((2, 2)))
    with pytest.raises(DataValidationError, match=r"\['y'\]"):
        load_npz(path)


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape
    )
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_idx_directory_loads_like_mnist(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = np.arange(7) % 3
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    d = load_idx_dir(tmp_path)
    assert d.X.shape == (7, 1, 28, 28)
    np.testing.assert_allclose(d.X[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.y, labels)
    assert load_source(str(tmp_path)).n == 7


def test_unknown_source_is_explained():
    with pytest.raises(DataValidationError, match="Unknown data source"):
        load_source("not-a-dataset")


def test_fingerprint_changes_with_labels(digits):
    other = LabelledData(digits.X, np.roll(digits.y, 1), digits.class_names)
    assert other.fingerprint() != digits.fingerprint()


def test_limit_takes_the_first_examples_and_says_when_classes_are_missing(tmp_path):
    """``--limit N``: the first N examples, their indices the source's; a file sorted by class
    gets a note to shuffle it; a limit under 2 is refused; the groups of the whole file are
    cut to the same rows; the held-out set is not cut."""
    full = load_source("digits")
    head = load_source("digits", options=SourceOptions(limit=300))
    assert head.n == 300 and (head.y == full.y[:300]).all() and head.name == "digits[:300]"
    assert head.class_names == full.class_names and head.fingerprint() != full.fingerprint()
    assert load_source("digits", options=SourceOptions(limit=10**6)).n == full.n
    order = np.argsort(full.y, kind="stable")
    by_class = LabelledData(full.X[order], full.y[order], full.class_names, name="sorted")
    assert any("shuffle it" in note for note in by_class.head(200).notes)
    assert not any("shuffle it" in note for note in head.notes)
    with pytest.raises(ConfigError, match="--limit"):
        SourceOptions(limit=1).validate()
    (tmp_path / "g.txt").write_text("a\nb\nc\n")
    assert read_groups(tmp_path / "g.txt", 2, first=True).tolist() == ["a", "b"]
    with pytest.raises(DataValidationError, match="holds 3 values"):
        read_groups(tmp_path / "g.txt", 2)


def test_a_run_on_the_first_examples_can_be_analysed_again(tmp_path):
    """The limit is part of the run's configuration, so ``strat analyze RUN`` rebuilds the same
    data (its fingerprint matches)."""
    runner = CliRunner()
    out = tmp_path / "first"
    done = runner.invoke(app, ["run", "--limit", "500", "--epochs", "4", "--source-fold", "0",
                               "--out", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    ex = pq.read_table(out / "examples.parquet").to_pandas()
    assert len(ex) == 500 and (ex["index"] == np.arange(500)).all()
    again = runner.invoke(app, ["analyze", str(out), "--fdr", "0.2", "--out", str(tmp_path / "a")])
    assert again.exit_code == 0, again.output
