"""Labelled datasets in memory: validation at the boundary and the built-in loaders."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stratigraphy.core.errors import ConfigError, DataValidationError
from stratigraphy.data.checks import check_arrays

MAX_IMAGE_SIZE = 1024
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
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X, self.y, notes = check_arrays(self.X, self.y, len(self.class_names) or None)
        self.notes = [*self.notes, *notes]
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

    def head(self, limit: int | None) -> LabelledData:
        """The first ``limit`` examples (all of them when None or not fewer): their indices stay
        the source's, the classes all of its classes."""
        if limit is None or limit >= self.n:
            return self
        captions = None if self.captions is None else list(self.captions[:limit])
        notes = [*self.notes, *_first_rows_notes(self.y, limit, self.class_names)]
        return LabelledData(self.X[:limit], self.y[:limit], list(self.class_names),
                            name=f"{self.name}[:{limit}]", captions=captions, kind=self.kind,
                            notes=notes)  # fmt: skip

    def fingerprint(self) -> str:
        """A short hash of inputs and labels, stored in ``run.json`` to recognise the same data."""
        h = hashlib.sha256()
        h.update(str(self.X.shape).encode())
        h.update(np.ascontiguousarray(self.X).tobytes())
        h.update(np.ascontiguousarray(self.y).tobytes())
        return h.hexdigest()[:16]


def _first_rows_notes(y: np.ndarray, limit: int, class_names: list[str]) -> list[str]:
    """A note when the first ``limit`` labels of ``y`` miss classes (a file sorted by class)."""
    missing = sorted(set(range(len(class_names))) - set(np.unique(y[:limit]).tolist()))
    if not missing:
        return []
    names = ", ".join(repr(class_names[c]) for c in missing[:5])
    return [
        f"The first {limit:,} of {len(y):,} examples hold no {names}"
        f"{' …' if len(missing) > 5 else ''}: if the data is sorted by class, shuffle it "
        "before taking the first rows."
    ]


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
    if path.stat().st_size == 0:
        raise DataValidationError(
            f"{path} is empty (0 bytes). Save it with np.savez(path, X=..., y=...)."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise DataValidationError(f"{path} holds a single array, not an .npz archive.")
            missing = {"X", "y"} - set(f.files)
            if missing:
                raise DataValidationError(
                    f"{path} lacks array(s) {sorted(missing)}; it holds {sorted(f.files)}. "
                    "Save it with np.savez(path, X=..., y=...)."
                )
            X, y = f["X"], f["y"]
            names = [str(c) for c in f["class_names"]] if "class_names" in f.files else []
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataValidationError(
                f"{path} holds pickled Python objects, which are not read (they can run code): "
                "save X and y as numeric arrays, e.g. X.astype(np.float32)."
            ) from exc
        raise DataValidationError(f"{path} is not a valid .npz file: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataValidationError(f"{path} is not a valid .npz file: {exc}") from exc
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
    """How to read tables and folders: which columns hold the text and the label, image size,
    and ``limit``: the first N examples only (a quick look at a large set; their indices stay
    the source's)."""

    text_column: str | None = None
    label_column: str = "label"
    image_size: int | None = None
    drop_columns: tuple[str, ...] = ()
    limit: int | None = None

    def validate(self) -> None:
        if self.limit is not None and self.limit < 2:
            raise ConfigError(f"--limit must be at least 2 examples; got {self.limit}.")
        if self.image_size is not None and not 1 <= self.image_size <= MAX_IMAGE_SIZE:
            raise ConfigError(
                f"--image-size must lie in 1..{MAX_IMAGE_SIZE} pixels (the models here are small: "
                f"downsample larger images first); got {self.image_size}."
            )
        if self.text_column is not None and self.text_column == self.label_column:
            raise ConfigError("--text-column and --label-column name the same column.")


def load_source(
    source: str | None,
    data_dir: str | Path | None = None,
    options: SourceOptions | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    engine: str = "local",
    address: str | None = None,
) -> LabelledData:
    """Resolve the CLI's DATA argument: ``digits`` (default), ``fashion-mnist``, an ``.npz``, a
    CSV/Parquet table (text with ``text_column``, tabular otherwise), an image folder (one
    sub-folder per class) or a directory of idx files. ``engine="ray"``: texts are embedded on
    the Ray cluster at ``address``. ``options.limit``: only the first N examples (texts are cut
    before they are embedded)."""
    opts = options or SourceOptions()
    return _load(source, data_dir, opts, on_progress, engine, address).head(opts.limit)


def _load(
    source: str | None,
    data_dir: str | Path | None,
    opts: SourceOptions,
    on_progress: Callable[[str, int, int], None] | None,
    engine: str,
    address: str | None,
) -> LabelledData:
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
            name, notes = path.stem, []
            if opts.limit is not None and opts.limit < len(texts):  # cut before embedding
                name, notes = f"{name}[:{opts.limit}]", _first_rows_notes(y, opts.limit, names)
                texts, y = texts[: opts.limit], y[: opts.limit]
            X = embed_texts(texts, on_progress=lambda d, t: progress("embedding texts", d, t),
                            engine=engine, address=address)  # fmt: skip
            return LabelledData(X, y, names, name=name, captions=texts, kind="text", notes=notes)
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
