"""Reading scattered values of a memory-mapped array without mapping its pages in."""

from __future__ import annotations

import os

import numpy as np


def read_scattered(array: np.memmap, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` of a whole 1-D memory-mapped array, read with one ``pread`` per row: the
    file's pages stay in the page cache instead of this process's resident memory."""
    rows = np.asarray(rows, dtype=np.int64)
    size = array.dtype.itemsize
    if rows.size and (rows.min() < 0 or rows.max() >= array.shape[0]):
        raise IndexError(f"rows outside 0..{array.shape[0] - 1}")
    out = bytearray(rows.size * size)
    with open(str(array.filename), "rb", buffering=0) as fh:
        fd = fh.fileno()
        for i, at in enumerate((array.offset + rows * size).tolist()):
            out[i * size : (i + 1) * size] = os.pread(fd, size, at)
    return np.frombuffer(bytes(out), dtype=array.dtype).copy()
