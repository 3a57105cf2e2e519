"""Planting label errors, reproducibly by seed, so detection can be measured against the truth."""

from __future__ import annotations

import numpy as np

from stratigraphy.core.errors import ConfigError
from stratigraphy.core.seeding import stream

NOISE_KINDS = ("symmetric", "asymmetric")


def plant_label_noise(
    y: np.ndarray,
    n_classes: int,
    rate: float,
    kind: str = "symmetric",
    seed: int = 0,
    transitions: dict[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate·N)`` labels; return ``(noisy_labels, flipped_mask)``.

    ``symmetric`` draws each new label uniformly among the other classes; ``asymmetric`` maps
    class c to ``transitions[c]`` (default c → c+1 mod C), the usual model of systematic confusion;
    there ``rate`` is the share flipped among the classes that have a transition.
    """
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"noise rate must lie in [0, 1); got {rate}.")
    if kind not in NOISE_KINDS:
        raise ConfigError(f"noise kind must be one of {NOISE_KINDS}; got {kind!r}.")
    if n_classes < 2:
        raise ConfigError("planting label noise needs at least two classes.")
    rng = stream(seed, "label-noise")
    y = np.asarray(y, dtype=np.int64)
    noisy = y.copy()
    flip = np.zeros(y.size, dtype=bool)
    if kind == "symmetric":
        n_flip = int(round(rate * y.size))
        if n_flip == 0:
            return noisy, flip
        idx = rng.choice(y.size, size=n_flip, replace=False)
        offset = rng.integers(1, n_classes, size=n_flip)
        noisy[idx] = (y[idx] + offset) % n_classes
    else:
        default = {c: (c + 1) % n_classes for c in range(n_classes)}
        table = np.array([(transitions or default).get(c, c) for c in range(n_classes)])
        eligible = np.flatnonzero(table[y] != y)
        n_flip = int(round(rate * eligible.size))
        if n_flip == 0:
            return noisy, flip
        idx = rng.choice(eligible, size=n_flip, replace=False)
        noisy[idx] = table[y[idx]]
    flip[idx] = noisy[idx] != y[idx]
    return noisy, flip
