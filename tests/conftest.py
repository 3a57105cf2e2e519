"""Shared fixtures: small generated data and one tiny digits run reused across tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stratigraphy import RunConfig, load_digits_data, run

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def digits():
    return load_digits_data()


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, digits):
    """One short run of the main job on digits with 10% planted noise."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    return run(RunConfig(out=out, epochs=12, seed=1), data=digits)


def blobs(n: int = 400, d: int = 6, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    X = centres[y] + rng.normal(size=(n, d))
    return X.astype(np.float32), y


def read_bytes(path: Path) -> bytes:
    return Path(path).read_bytes()
