"""Sentence embeddings on Ray Data: the texts not in the cache become a dataset whose batches an
encoder per actor embeds (``map_batches`` with a class, Ray Data's route for batch inference),
one actor per CPU of the cluster; the vectors come back in the texts' order for the cache."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from stratigraphy.core.cluster import connect

DIMS = 384


class _Encoder:
    """One sentence encoder per Ray actor, loaded once and applied to each batch."""

    def __init__(self, batch_size: int, load: Callable[[], Any]) -> None:
        self.model: Any = load()
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.model.encode(
            [str(t) for t in batch["text"]], batch_size=self.batch_size,
            normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True,
        )  # fmt: skip
        return {"i": batch["i"], "vector": np.asarray(vectors, dtype=np.float32)}


def embed_on_ray(
    texts: Sequence[str],
    batch_size: int,
    load: Callable[[], Any],
    address: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """N×384 float32 embeddings of ``texts``, computed by the cluster at ``address`` with the
    encoder ``load()`` returns (called once per actor, on the worker)."""
    ray = connect(address)
    ray.data.DataContext.get_current().enable_progress_bars = False  # ``on_progress`` reports
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
    table = pa.table({"i": np.arange(len(texts), dtype=np.int64), "text": list(texts)})
    step = max(batch_size, -(-len(texts) // (4 * actors)))
    blocks = [table.slice(start, step) for start in range(0, len(texts), step)]
    embedded = ray.data.from_arrow(blocks).map_batches(
        _Encoder, fn_constructor_kwargs={"batch_size": batch_size, "load": load},
        batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
    )  # fmt: skip
    out = np.empty((len(texts), DIMS), dtype=np.float32)
    done = 0
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        out[batch["i"]] = batch["vector"]
        done += len(batch["i"])
        if on_progress is not None:
            on_progress(done, len(texts))
    return out
