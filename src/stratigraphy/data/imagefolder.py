"""Image folders: one sub-folder per class, read with Pillow into N×C×H×W floats in [0, 1].

Images are converted to grayscale when every image is grayscale, to RGB otherwise, and resized
to one size: the given one, or the most common size capped at ``MAX_SIDE`` pixels a side.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stratigraphy.core.errors import DataValidationError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_SIDE = 64


def is_image_folder(path: Path) -> bool:
    """A directory whose sub-directories hold image files."""
    return path.is_dir() and any(
        f.suffix.lower() in IMAGE_SUFFIXES
        for d in path.iterdir()
        if d.is_dir()
        for f in d.iterdir()
    )


def available_bytes() -> int:
    """Memory the system can still give (``MemAvailable``), or all of it where that is unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _check_memory(n: int, size: int) -> None:
    """Refuse a size whose float32 RGB images (and their uint8 copies) would not fit in half of
    the available memory, before any image is decoded."""
    need = n * 3 * size * size * 5
    if need > available_bytes() // 2:
        raise DataValidationError(
            f"--image-size {size} would need {need / 2**30:.1f} GiB for {n:,} images, more than "
            f"half of the {available_bytes() / 2**30:.1f} GiB available: choose a smaller size."
        )


def load_image_folder(
    root: str | Path,
    size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Images, integer labels, class names (sorted folder names) and the files, in that order."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    files: list[Path] = []
    labels: list[int] = []
    empty = []
    for c, name in enumerate(classes):
        found = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [c] * len(found)
        if not found:
            empty.append(name)
    if empty:
        raise DataValidationError(
            f"class folder(s) {empty} of {root} hold no images ({', '.join(IMAGE_SUFFIXES)}): "
            "remove them or add their images."
        )
    if len(classes) < 2 or not files:
        raise DataValidationError(
            f"{root} must hold one sub-folder of images per class (at least two classes)."
        )
    if size is not None:
        _check_memory(len(files), size)
    images = []
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise DataValidationError(f"{f} is not a readable image: {exc}") from exc
        if on_progress is not None and (i + 1) % 256 == 0:
            on_progress(i + 1, len(files))
    gray = all(im.mode in ("L", "1", "I;16", "I") for im in images)
    mode = "L" if gray else "RGB"
    if size is None:
        w, h = Counter(im.size for im in images).most_common(1)[0][0]
        scale = min(1.0, MAX_SIDE / max(w, h))
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
    else:
        target = (size, size)
    arr = np.stack(
        [
            np.asarray(im.convert(mode).resize(target, Image.Resampling.BILINEAR), dtype=np.uint8)
            for im in images
        ]
    )
    X = arr.astype(np.float32) / 255.0
    X = X[:, None] if gray else X.transpose(0, 3, 1, 2)
    return X, np.asarray(labels, dtype=np.int64), classes, [str(f.relative_to(root)) for f in files]
