"""Independent random streams per component, all derived from the one user seed.

Two components seeded with the same integer draw the same numbers: the planted noise and a
random reference subset would pick the same examples. Each component names its own stream.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, component: str) -> np.random.Generator:
    """A generator for ``component`` that is independent of every other component's."""
    return np.random.default_rng([seed, zlib.crc32(component.encode())])
