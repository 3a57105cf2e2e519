import gzip
import struct

import numpy as np
import pytest

from stratigraphy import DataValidationError, LabelledData
from stratigraphy.data.checks import check_arrays
from stratigraphy.data.sources import load_idx_dir, load_npz, load_source


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
