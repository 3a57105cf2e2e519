"""Shared fixtures: small generated data and one tiny digits run reused across tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from stratigraphy import RunConfig, load_digits_data, run

torch.set_num_threads(min(2, torch.get_num_threads()))
# In CI the property tests' examples are a fixed sequence (a failure reproduces); locally
# hypothesis explores.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def digits():
    return load_digits_data()


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, digits):
    """One short run of the main job on digits with 10% planted noise."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    return run(RunConfig.build(out, epochs=12, seed=1), data=digits)


def blobs(n: int = 400, d: int = 6, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    X = centres[y] + rng.normal(size=(n, d))
    return X.astype(np.float32), y


def read_bytes(path: Path) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture()
def run_copy(tmp_path, digits_run):
    """A private copy of the digits run, so review tests start from an empty log."""
    import shutil

    dst = tmp_path / "run"
    shutil.copytree(digits_run.out, dst, ignore=shutil.ignore_patterns("review.sqlite*"))
    return dst


@pytest.fixture()
def live_server(run_copy):
    """The review app served by uvicorn on a free loopback port, in a background thread."""
    import socket
    import threading
    import time

    import uvicorn

    from stratigraphy.present.review_app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(run_copy), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("review server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", run_copy
    server.should_exit = True
    thread.join(timeout=10)
