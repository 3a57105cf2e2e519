"""Labelled datasets in memory: validation at the boundary and the built-in loaders."""

from __future__ import annotations

import gzip
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stratigraphy.core.errors import DataValidationError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass
class LabelledData:
    """Inputs ``X`` (N×D vectors or N×C×H×W images, float32) with integer labels ``y`` (N,)."""

    X: np.ndarray
    y: np.ndarray
    class_names: list[str] = field(default_factory=list)
    name: str = "data"
    captions: list[str] | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        self.X, self.y = validate_arrays(self.X, self.y, len(self.class_names) or None)
        if not self.class_names:
            self.class_names = [str(c) for c in range(int(self.y.max()) + 1)]
        if self.captions is not None and len(self.captions) != self.X.shape[0]:
            raise DataValidationError(
                f"{len(self.captions)} captions for {self.X.shape[0]} examples."
            )

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def modality(self) -> str:
        """``image`` for N×C×H×W inputs, ``text`` for embedded texts, ``tabular`` for encoded
        tables, ``vector`` for other N×D inputs."""
        if self.kind is not None:
            return self.kind
        return "image" if self.X.ndim == 4 else "vector"

    def fingerprint(self) -> str:
        """A short hash of inputs and labels, stored in ``run.json`` to recognise the same data."""
        h = hashlib.sha256()
        h.update(str(self.X.shape).encode())
        h.update(np.ascontiguousarray(self.X).tobytes())
        h.update(np.ascontiguousarray(self.y).tobytes())
        return h.hexdigest()[:16]


def validate_arrays(
    X: np.ndarray, y: np.ndarray, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, dtypes, finiteness and label range; return float32 X (images as N×C×H×W)."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim not in (2, 3, 4):
        raise DataValidationError(
            f"X must be feature vectors N×D, images N×H×W or N×C×H×W; got shape {X.shape}."
        )
    if y.ndim != 1:
        raise DataValidationError(f"y must be a 1-D array of integer labels; got shape {y.shape}.")
    if X.shape[0] != y.shape[0]:
        raise DataValidationError(
            f"X has {X.shape[0]} examples but y has {y.shape[0]} labels; they must match."
        )
    if X.shape[0] == 0:
        raise DataValidationError("The dataset is empty.")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise DataValidationError(f"X must hold real numbers; got dtype {X.dtype}.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataValidationError("y must hold integer class labels; found non-integer values.")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataValidationError(f"y must hold integer class labels; got dtype {y.dtype}.")
    X = X.astype(np.float32, copy=False)
    bad = ~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataValidationError(
            f"X holds NaN or infinite values in {rows.size} example(s), first at rows "
            f"{rows[:5].tolist()}; impute or drop them first."
        )
    y = y.astype(np.int64)
    hi = n_classes if n_classes is not None else int(y.max()) + 1
    out = (y < 0) | (y >= hi)
    if out.any():
        rows = np.flatnonzero(out)
        raise DataValidationError(
            f"Labels must lie in 0..{hi - 1}; {rows.size} do not (e.g. row {rows[0]} has label "
            f"{y[rows[0]]}). Map your classes to 0..C-1 or pass matching class_names."
        )
    if X.ndim == 3:
        X = X[:, None, :, :]
    return np.ascontiguousarray(X), y


def load_digits_data() -> LabelledData:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 examples), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)
    return LabelledData(X, d.target, [str(c) for c in d.target_names], name="digits")


def load_npz(path: str | Path) -> LabelledData:
    """An ``.npz`` with ``X`` and ``y`` (and optional ``class_names``)."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"No such file: {path}")
    with np.load(path, allow_pickle=False) as f:
        missing = {"X", "y"} - set(f.files)
        if missing:
            raise DataValidationError(
                f"{path} lacks array(s) {sorted(missing)}; it holds {sorted(f.files)}. "
                "Save it with np.savez(path, X=..., y=...)."
            )
        X, y = f["X"], f["y"]
        names = [str(c) for c in f["class_names"]] if "class_names" in f.files else []
    return LabelledData(X, y, names, name=path.stem)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataValidationError(f"{path} is not an unsigned-byte idx file.")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise DataValidationError(
        f"{directory} has no {stem}[.gz]; expected MNIST-format idx files "
        "(install Debian's dataset-fashion-mnist or pass --data-dir)."
    )


def load_idx_dir(
    directory: str | Path, split: str = "train", class_names: tuple[str, ...] = ()
) -> LabelledData:
    """A directory of MNIST-format idx files (``train-images-idx3-ubyte[.gz]`` and labels)."""
    directory = Path(directory)
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(_find_idx(directory, f"{prefix}-images-idx3-ubyte"))
    labels = _read_idx(_find_idx(directory, f"{prefix}-labels-idx1-ubyte"))
    X = images.astype(np.float32) / 255.0
    return LabelledData(X, labels, list(class_names), name=directory.name)


def load_fashion_mnist(data_dir: str | Path | None = None, split: str = "train") -> LabelledData:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (or any directory of its idx files)."""
    d = load_idx_dir(data_dir or FASHION_MNIST_DIR, split, FASHION_MNIST_CLASSES)
    d.name = "fashion-mnist"
    return d


@dataclass
class SourceOptions:
    """How to read tables and folders: which columns hold the text and the label, image size."""

    text_column: str | None = None
    label_column: str = "label"
    image_size: int | None = None
    drop_columns: tuple[str, ...] = ()


def load_source(
    source: str | None,
    data_dir: str | Path | None = None,
    options: SourceOptions | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> LabelledData:
    """Resolve the CLI's DATA argument: ``digits`` (default), ``fashion-mnist``, an ``.npz``, a
    CSV/Parquet table (text with ``text_column``, tabular otherwise), an image folder (one
    sub-folder per class) or a directory of idx files."""
    opts = options or SourceOptions()
    progress = on_progress or (lambda _what, _done, _total: None)
    if source in (None, "", "digits"):
        return load_digits_data()
    if source == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    path = Path(source)
    if source.endswith(".npz"):
        return load_npz(source)
    if path.suffix.lower() in (".csv", ".parquet", ".pq"):
        if opts.text_column:
            from stratigraphy.data.text import embed_texts, load_text_table

            texts, y, names = load_text_table(path, opts.text_column, opts.label_column)
            X = embed_texts(texts, on_progress=lambda d, t: progress("embedding texts", d, t))
            return LabelledData(X, y, names, name=path.stem, captions=texts, kind="text")
        from stratigraphy.data.tabular import load_tabular

        X, y, names = load_tabular(path, opts.label_column, opts.drop_columns)
        return LabelledData(X, y, names, name=path.stem, kind="tabular")
    if data_dir is None and path.is_dir():
        from stratigraphy.data.imagefolder import is_image_folder, load_image_folder

        if is_image_folder(path):
            X, y, names, files = load_image_folder(
                path, opts.image_size, lambda d, t: progress("reading images", d, t)
            )
            return LabelledData(X, y, names, name=path.name, captions=files, kind="image")
    if data_dir is not None or path.is_dir():
        return load_idx_dir(data_dir or source)
    raise DataValidationError(
        f"Unknown data source {source!r}: use 'digits', 'fashion-mnist', a .npz file with X and y, "
        "a .csv/.parquet table (--label-column, and --text-column for text), an image folder "
        "with one sub-folder per class, or a directory of MNIST-format idx files."
    )
