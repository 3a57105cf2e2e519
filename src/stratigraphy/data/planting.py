"""Planting known problems into a dataset, reproducibly by seed, for every modality.

Four kinds, on disjoint examples: label noise (symmetric, or asymmetric along the confusions
people actually make, e.g. shirt↔T-shirt, pullover↔coat, neutral↔positive), corrupted inputs
(images: Gaussian noise; texts: garbled characters, then re-embedded; vectors and tables:
Gaussian noise at each feature's scale) and out-of-distribution inserts appended to the data
(images from another dataset, junk texts, table rows whose columns are shuffled independently)
with labels drawn at random. The truth is kept per example for the run directory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from stratigraphy.core.errors import ConfigError
from stratigraphy.core.seeding import stream
from stratigraphy.data.noise import NOISE_KINDS, plant_label_noise
from stratigraphy.data.sources import LabelledData

PLANTED_KINDS = ("clean", "mislabeled", "corrupted", "out_of_distribution")
IMAGE_CORRUPTION_STD = 0.35
# Pairs of classes people confuse, by class name; asymmetric noise flips along them both ways.
CONFUSIONS = (
    ("T-shirt/top", "Shirt"),
    ("Pullover", "Coat"),
    ("Sneaker", "Ankle boot"),
    ("neutral", "positive"),
    ("1", "7"),
    ("3", "8"),
    ("4", "9"),
    ("5", "6"),
)


@dataclass
class PlantSpec:
    """What to plant; rates are shares of the original examples (OOD inserts are added)."""

    noise_rate: float = 0.0
    noise_kind: str = "symmetric"
    corrupt_rate: float = 0.0
    ood_rate: float = 0.0
    seed: int = 0

    def validate(self) -> None:
        for name in ("noise_rate", "corrupt_rate", "ood_rate"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must lie in [0, 1); got {v}.")
        if self.noise_rate + self.corrupt_rate >= 1.0:
            raise ConfigError("noise and corruption rates together must stay below 1.")
        if self.noise_kind not in NOISE_KINDS:
            raise ConfigError(f"--noise-kind must be one of {NOISE_KINDS}.")

    @property
    def any(self) -> bool:
        return self.noise_rate > 0 or self.corrupt_rate > 0 or self.ood_rate > 0

    def to_dict(self) -> dict[str, float | str | int]:
        return asdict(self)


@dataclass
class Planted:
    """The data with problems planted, each example's planted kind and its true label (-1 for
    out-of-distribution inserts)."""

    data: LabelledData
    kind: np.ndarray
    true_label: np.ndarray

    @property
    def label_errors(self) -> np.ndarray:
        return np.asarray(self.kind == "mislabeled")

    def table(self) -> pa.Table:
        return pa.table(
            {
                "index": np.arange(self.kind.size, dtype=np.int64),
                "planted": self.kind.tolist(),
                "given_label": self.data.y,
                "true_label": self.true_label,
            }
        )


def confusion_transitions(class_names: list[str]) -> dict[int, int]:
    """Class index → the class it is confused with, from :data:`CONFUSIONS`; c → c+1 when the
    classes are not known."""
    pos = {n: i for i, n in enumerate(class_names)}
    out: dict[int, int] = {}
    for a, b in CONFUSIONS:
        if a in pos and b in pos:
            out[pos[a]], out[pos[b]] = pos[b], pos[a]
    if not out:
        n = len(class_names)
        out = {c: (c + 1) % n for c in range(n)}
    return out


def _garble(text: str, rng: np.random.Generator) -> str:
    chars = np.array(list(text or " "))
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    hit = rng.random(chars.size) < 0.5
    chars[hit] = rng.choice(letters, size=int(hit.sum()))
    return "".join(chars.tolist())


def _junk_text(rng: np.random.Generator) -> str:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    words = [
        "".join(rng.choice(letters, size=rng.integers(2, 9)).tolist())
        for _ in range(rng.integers(4, 16))
    ]
    return " ".join(words)


def _ood_images(shape: tuple[int, ...], n: int, rng: np.random.Generator, name: str) -> np.ndarray:
    """Images from another dataset: scikit-learn's digits (Fashion-MNIST's test images when the
    data is digits itself), resized to the data's shape."""
    import torch
    import torch.nn.functional as F

    if name == "digits":
        from stratigraphy.data.sources import load_fashion_mnist

        try:
            source = load_fashion_mnist(split="test").X
        except Exception:  # no Fashion-MNIST here: structured junk instead
            source = rng.random((n, 1, 28, 28), dtype=np.float32) ** 4
    else:
        from stratigraphy.data.sources import load_digits_data

        source = load_digits_data().X
    pick = source[rng.choice(source.shape[0], size=n, replace=source.shape[0] < n)]
    t = F.interpolate(torch.from_numpy(pick), size=shape[1:], mode="bilinear", align_corners=False)
    return t.expand(-1, shape[0], -1, -1).clamp(0, 1).numpy().astype(np.float32)


def plant(data: LabelledData, spec: PlantSpec) -> Planted:
    """Plant ``spec``'s problems into ``data``; the same spec and seed give the same result."""
    spec.validate()
    n, c = data.n, data.n_classes
    noisy, flipped = plant_label_noise(
        data.y, c, spec.noise_rate, spec.noise_kind, seed=spec.seed,
        transitions=confusion_transitions(data.class_names),
    )  # fmt: skip
    kind = np.where(flipped, "mislabeled", "clean").astype(object)
    X = data.X.copy()
    captions = list(data.captions) if data.captions is not None else None
    rng = stream(spec.seed, "planting")
    n_corrupt = int(round(spec.corrupt_rate * n))
    if n_corrupt:
        idx = np.sort(rng.choice(np.flatnonzero(~flipped), size=n_corrupt, replace=False))
        kind[idx] = "corrupted"
        if data.modality == "text" and captions is not None:
            for i in idx:
                captions[i] = _garble(captions[i], rng)
            X[idx] = _embed([captions[i] for i in idx])
        elif X.ndim == 4:
            noise = rng.standard_normal(X[idx].shape).astype(np.float32)
            X[idx] = np.clip(X[idx] + IMAGE_CORRUPTION_STD * noise, 0.0, 1.0)
        else:
            scale = X.std(0, keepdims=True) + 1e-6
            X[idx] = X[idx] + scale * rng.standard_normal(X[idx].shape).astype(np.float32)
    n_ood = int(round(spec.ood_rate * n))
    true = data.y.copy()
    if n_ood:
        if data.modality == "text" and captions is not None:
            junk = [_junk_text(rng) for _ in range(n_ood)]
            extra = _embed(junk)
            captions += junk
        elif X.ndim == 4:
            extra = _ood_images(X.shape[1:], n_ood, rng, data.name)
            if captions is not None:
                captions += ["out-of-distribution insert"] * n_ood
        else:
            cols = [data.X[rng.integers(0, n, size=n_ood), j] for j in range(X.shape[1])]
            extra = np.stack(cols, axis=1).astype(np.float32)
            if captions is not None:
                captions += ["out-of-distribution insert"] * n_ood
        X = np.concatenate([X, extra])
        noisy = np.concatenate([noisy, rng.integers(0, c, size=n_ood)])
        kind = np.concatenate([kind, np.full(n_ood, "out_of_distribution", dtype=object)])
        true = np.concatenate([true, np.full(n_ood, -1, dtype=np.int64)])
    planted = LabelledData(
        X, noisy, list(data.class_names), name=data.name, captions=captions, kind=data.kind
    )
    return Planted(planted, np.asarray(kind, dtype=object), true)


def _embed(texts: list[str]) -> np.ndarray:
    from stratigraphy.data.text import embed_texts

    return embed_texts(texts)
