"""The validation layer at the data boundary, in the style of scikit-learn's ``check_*`` helpers:
each check raises a :class:`DataValidationError` that names the problem and the fix, before
anything is trained or written, and returns the data in the one form the rest of the package
takes (float32 N×D or N×C×H×W in [0, 1] for images, int64 labels 0..C-1)."""

from __future__ import annotations

import warnings

import numpy as np

from stratigraphy.core.errors import DataValidationError

# Beyond this magnitude float32 statistics (squares in a standard deviation) overflow.
MAX_ABS_INPUT = 1e15
CHANNELS = (1, 3, 4)


def check_labels(y: np.ndarray, n: int, n_classes: int | None = None) -> np.ndarray:
    """Integer labels 0..C-1 of ``n`` examples: at least two classes, none negative, no gaps
    when the class names are not given, and at least as many examples as classes."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataValidationError(f"y must be a 1-D array of integer labels; got shape {y.shape}.")
    if y.shape[0] != n:
        raise DataValidationError(
            f"X has {n} examples but y has {y.shape[0]} labels; they must match."
        )
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataValidationError("y must hold integer class labels; found non-integer values.")
    elif not np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        raise DataValidationError(f"y must hold integer class labels; got dtype {y.dtype}.")
    if np.issubdtype(y.dtype, np.floating) and np.abs(y).max(initial=0) >= 2**62:
        raise DataValidationError("y holds labels too large to be class indices.")
    y = y.astype(np.int64)
    negative = np.flatnonzero(y < 0)
    if negative.size:
        raise DataValidationError(
            f"y holds negative labels in {negative.size} example(s) (e.g. row {negative[0]}: "
            f"{y[negative[0]]}); labels are class indices 0..C-1."
        )
    present = np.unique(y)
    if present.size < 2:
        raise DataValidationError(
            f"y holds only one class ({present.tolist()}): telling examples apart needs at "
            "least two classes."
        )
    if n_classes is not None:
        out = np.flatnonzero(y >= n_classes)
        if out.size:
            raise DataValidationError(
                f"Labels must lie in 0..{n_classes - 1} (one per class name); {out.size} do not "
                f"(e.g. row {out[0]} has label {y[out[0]]})."
            )
    elif present[-1] >= present.size:
        shown = ", ".join(map(str, present[:5].tolist())) + (", …" if present.size > 5 else "")
        raise DataValidationError(
            f"y holds {present.size} distinct labels ({shown}) but labels must be "
            f"0..{present.size - 1} with every class present: remap them, e.g. "
            "`names, y = np.unique(y, return_inverse=True)`, and pass the names as class_names."
        )
    if present.size > max(2, n // 2):
        raise DataValidationError(
            f"y holds {present.size} distinct labels for {n} examples (fewer than two per class): "
            "is it a class label? Regression targets and identifiers are not."
        )
    return y


def check_inputs(X: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Real, finite, non-constant float32 inputs; images as N×C×H×W scaled to [0, 1] (integers
    by their dtype's range, other floats by their own range). Returns the inputs and a note per
    change made, for ``run.json``."""
    X = np.asarray(X)
    notes: list[str] = []
    if X.ndim not in (2, 3, 4):
        raise DataValidationError(
            f"X must be feature vectors N×D, images N×H×W or N×C×H×W; got shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise DataValidationError("The dataset is empty.")
    if X.dtype == object:
        raise DataValidationError("X holds Python objects; convert it to a numeric array first.")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise DataValidationError(f"X must hold real numbers; got dtype {X.dtype}.")
    if X.ndim == 4 and X.shape[3] in CHANNELS and X.shape[1] not in CHANNELS:
        X = X.transpose(0, 3, 1, 2)
        note = f"images read as N×H×W×C (channels last, {X.shape[1]}); moved channels first"
        warnings.warn(note, stacklevel=3)
        notes.append(note)
    integer = np.issubdtype(X.dtype, np.integer)
    dtype_name = str(X.dtype)
    if not integer:
        flat = X.reshape(X.shape[0], -1)
        bad = ~np.isfinite(flat).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataValidationError(
                f"X holds NaN or infinite values in {rows.size} example(s), first at rows "
                f"{rows[:5].tolist()}; impute or drop them first."
            )
    biggest = float(np.abs(X).max())
    if not integer and biggest > MAX_ABS_INPUT:
        row = int(np.argmax(np.abs(X.reshape(X.shape[0], -1)).max(axis=1)))
        raise DataValidationError(
            f"X holds a value too large to train on ({biggest:.3g} at row {row}; the limit is "
            f"{MAX_ABS_INPUT:.0e}, where float32 statistics overflow): rescale or clip it."
        )
    first = X[:1]
    if X.shape[0] > 1 and bool((first == X).all()):
        raise DataValidationError(
            "every example has the same input: there is nothing to learn the labels from."
        )
    if X.ndim in (3, 4):
        if integer:
            info = np.iinfo(X.dtype)
            lo, span = float(info.min), float(info.max) - float(info.min)
            X = ((X.astype(np.float32) - lo) / span).astype(np.float32)
            notes.append(f"{dtype_name} images scaled to [0, 1] by their dtype's range")
        else:
            lo, hi = float(X.min()), float(X.max())
            if lo < 0.0 or hi > 1.0:
                X = ((X.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
                notes.append(f"float images in [{lo:.4g}, {hi:.4g}] scaled to [0, 1]")
    X = X.astype(np.float32, copy=False)
    if X.ndim == 3:
        X = X[:, None, :, :]
    return np.ascontiguousarray(X), notes


def check_arrays(
    X: np.ndarray, y: np.ndarray, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`check_inputs` and :func:`check_labels` together."""
    X = np.asarray(X)
    if X.ndim not in (2, 3, 4):
        raise DataValidationError(
            f"X must be feature vectors N×D, images N×H×W or N×C×H×W; got shape {X.shape}."
        )
    if 0 in X.shape[1:]:
        raise DataValidationError(f"X has no features (shape {X.shape}): nothing to learn from.")
    y = check_labels(y, X.shape[0], n_classes)
    X, notes = check_inputs(X)
    return X, y, notes


def check_indices(indices: np.ndarray, n: int, what: str) -> np.ndarray:
    """Unique int64 row indices within 0..n-1, for user suites and keep-out sets."""
    idx = np.asarray(indices)
    integral = np.issubdtype(idx.dtype, np.integer) or (
        np.issubdtype(idx.dtype, np.floating)
        and bool(np.all(np.abs(idx) < 2**62))
        and bool(np.all(idx == np.round(idx)))
    )
    if idx.size and not integral:
        raise DataValidationError(f"{what}: indices must be integers; got dtype {idx.dtype}.")
    idx = idx.astype(np.int64).ravel()
    out = idx[(idx < 0) | (idx >= n)]
    if out.size:
        raise DataValidationError(
            f"{what}: index {out[0]} is outside 0..{n - 1} ({out.size} such index(es))."
        )
    return np.unique(idx)
