"""The registry of probe suites: every fact about a suite lives here, once.

A suite says where its probes come from (real examples left in place, real examples consumed
and transformed, or synthetic inputs), whether its label is wrong, whether examples inferred to
be of its kind are flagged for review and what ``strat fix`` does with them, the planted kind it
stands for, its colour, and how it transforms inputs (arrays for ``build_probes``, single torch
items for ``ProbedDataset``). Modules read these facts; none of them repeats a suite's name.
Add a suite with :func:`register_suite`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from stratigraphy.core.registry import Registry

Origin = Literal["in_place", "consumed", "synthetic"]
Action = Literal["relabel", "remove"]

IMAGE_NOISE_STD = 0.25
VECTOR_NOISE_STD = 1.0
RANDOM_INPUT_KINDS = ("mixed", "shuffled", "blend", "uniform")
PATCH_GRID = 4
BLEND_OF = 8
# Okabe and Ito's colour-blind-safe palette holds the built-in kinds; user suites take these.
USER_COLOURS = ("#E69F00", "#000000", "#999999", "#8C6D31", "#6B6ECF")


@dataclass(frozen=True)
class ProbeInputs:
    """What a suite's transform returns: inputs, labels and one description per probe."""

    X: np.ndarray
    y: np.ndarray
    transform: list[str]


@dataclass(frozen=True)
class TransformContext:
    """The data and options a transform may use."""

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    corruption_std: float | None
    random_input: str
    mislabel: str = "mixed"
    confusion: np.ndarray | None = None

    @property
    def image(self) -> bool:
        return self.X.ndim == 4


ArrayTransform = Callable[[TransformContext, np.ndarray, int, np.random.Generator], ProbeInputs]
ItemTransform = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Suite:
    """One probe suite and every fact about it."""

    name: str
    origin: Origin
    label_wrong: bool | None
    colour: str
    flagged: bool = False
    action: Action | None = None
    planted_kind: str | None = None
    transform: ArrayTransform | None = None
    item_transform: str | None = None


SUITES: Registry[Suite] = Registry("suite")


def register_suite(suite: Suite) -> Suite:
    """Add a suite to the registry (names are unique); every run can then build it."""
    return SUITES.register(suite)


def suite_info(name: str, user_suites: tuple[str, ...] = ()) -> Suite:
    """The registered suite, or the facts of a user suite: real examples in place, labels right."""
    if name in SUITES:
        return SUITES[name]
    colour = USER_COLOURS[user_suites.index(name) % len(USER_COLOURS)] if name in user_suites else (
        USER_COLOURS[0]
    )  # fmt: skip
    return Suite(name, "in_place", label_wrong=False, colour=colour)


def suites_where(**facts: Any) -> tuple[str, ...]:
    """Names of the registered suites whose facts match, e.g. ``suites_where(flagged=True)``."""
    return tuple(
        s.name for s in SUITES.values() if all(getattr(s, k) == v for k, v in facts.items())
    )


def suites_with_action() -> tuple[str, ...]:
    """Suites whose inferred members ``strat fix`` changes (relabels or removes)."""
    return tuple(s.name for s in SUITES.values() if s.action is not None)


def random_inputs(X: np.ndarray, size: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Inputs that carry no class. ``shuffled`` rearranges real examples — images as a 4×4 grid of
    patches in random order, vectors with every feature drawn from a different example — so each
    keeps the data's local statistics but stands alone, as a stray foreign input does;
    ``blend`` averages 8 random examples, so the probes crowd together near the data's mean, as
    a batch of inputs from one foreign source does; ``mixed`` (the default) is half of each;
    ``uniform`` is MAP-D's uniform noise (images) or Gaussian noise at the data's scale."""
    n = X.shape[0]
    if kind == "mixed":
        half = size // 2
        return np.concatenate(
            [random_inputs(X, half, rng, "shuffled"), random_inputs(X, size - half, rng, "blend")]
        )
    if kind == "blend":
        picks = rng.integers(0, n, size=(size, BLEND_OF))
        return X[picks].mean(1).astype(np.float32)
    if kind == "uniform":
        if X.ndim == 4:
            return rng.random((size, *X.shape[1:]), dtype=np.float32)
        mean, std = X.mean(0), X.std(0) + 1e-6
        return (mean + std * rng.standard_normal((size, X.shape[1]))).astype(np.float32)
    if X.ndim != 4:
        rows = rng.integers(0, n, size=(size, X.shape[1]))
        return X[rows, np.arange(X.shape[1])].astype(np.float32)
    return _shuffle_patches(X[rng.integers(0, n, size=size)].astype(np.float32), rng)


def _shuffle_patches(out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image cut into a PATCH_GRID × PATCH_GRID grid whose patches are put in random order."""
    size, _, h, w = out.shape
    ph, pw = max(h // PATCH_GRID, 1), max(w // PATCH_GRID, 1)
    gh, gw = h // ph, w // pw
    core = out[:, :, : gh * ph, : gw * pw]
    patches = core.reshape(size, -1, gh, ph, gw, pw).transpose(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(size, gh * gw, -1, ph, pw)
    perm = np.argsort(rng.random((size, gh * gw)), axis=1)
    patches = np.take_along_axis(patches, perm[:, :, None, None, None], axis=1)
    patches = patches.reshape(size, gh, gw, -1, ph, pw).transpose(0, 3, 1, 4, 2, 5)
    out[:, :, : gh * ph, : gw * pw] = patches.reshape(size, -1, gh * ph, gw * pw)
    return out


MISLABEL_KINDS = ("mixed", "confusion", "uniform")


def plausible_labels(
    given: np.ndarray, confusion: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Another class for each label, drawn in proportion to how often the data's own neighbours
    confuse its class with each other class (``confusion``, C×C); uniform where a class is
    confused with none."""
    c = confusion.shape[0]
    weights = confusion[given].astype(np.float64)
    weights[np.arange(given.size), given] = 0.0
    none = weights.sum(1) <= 0
    weights[none] = 1.0
    weights[none, given[none]] = 0.0
    cdf = np.cumsum(weights / weights.sum(1, keepdims=True), axis=1)
    draw = rng.random(given.size)[:, None]
    return np.minimum((cdf < draw).sum(1), c - 1).astype(np.int64)


def _wrong_label(
    ctx: TransformContext, src: np.ndarray, size: int, rng: np.random.Generator
) -> ProbeInputs:
    """Mislabeled probes: the label replaced by another class. ``uniform`` is MAP-D's (any
    other class alike); ``confusion`` follows the data's own confusions, as people's errors do
    (a shirt called a T-shirt, not a bag); ``mixed`` (the default) is half of each."""
    given = ctx.y[src]
    labels = (given + rng.integers(1, ctx.n_classes, size=src.size)) % ctx.n_classes
    if ctx.mislabel != "uniform" and ctx.confusion is not None:
        plausible = plausible_labels(given, ctx.confusion, rng)
        take = np.ones(src.size, bool) if ctx.mislabel == "confusion" else (
            np.arange(src.size) % 2 == 0
        )  # fmt: skip
        labels = np.where(take, plausible, labels)
    names = [f"label {int(a)}→{int(b)}" for a, b in zip(given, labels, strict=True)]
    return ProbeInputs(ctx.X[src], labels, names)


def _gaussian_noise(
    ctx: TransformContext, src: np.ndarray, size: int, rng: np.random.Generator
) -> ProbeInputs:
    """Gaussian input noise, label kept: σ 0.25 on [0, 1] images (clipped), 1 feature-std on
    vectors, unless ``corruption_std`` says otherwise."""
    std = ctx.corruption_std or (IMAGE_NOISE_STD if ctx.image else VECTOR_NOISE_STD)
    noise = rng.standard_normal(ctx.X[src].shape).astype(np.float32)
    if ctx.image:
        inputs = np.clip(ctx.X[src] + std * noise, 0.0, 1.0)
    else:
        inputs = ctx.X[src] + std * (ctx.X.std(0) + 1e-6) * noise
    return ProbeInputs(inputs, ctx.y[src], [f"gaussian_noise(std={std:g})"] * src.size)


def _random_input(
    ctx: TransformContext, src: np.ndarray, size: int, rng: np.random.Generator
) -> ProbeInputs:
    """Inputs that carry no class (see :func:`random_inputs`), with random labels."""
    inputs = random_inputs(ctx.X, size, rng, ctx.random_input)
    labels = rng.integers(0, ctx.n_classes, size=size)
    return ProbeInputs(inputs, labels, [f"random_input({ctx.random_input})"] * size)


TYPICAL = register_suite(Suite("typical", "in_place", label_wrong=False, colour="#009E73"))
ATYPICAL = register_suite(Suite("atypical", "in_place", label_wrong=False, colour="#56B4E9"))
MISLABELED = register_suite(
    Suite(
        "mislabeled", "consumed", label_wrong=True, colour="#D55E00", flagged=True,
        action="relabel", planted_kind="mislabeled", transform=_wrong_label,
    )
)  # fmt: skip
CORRUPTED = register_suite(
    Suite(
        "corrupted", "consumed", label_wrong=False, colour="#CC79A7", flagged=True,
        planted_kind="corrupted", transform=_gaussian_noise, item_transform="corrupt",
    )
)  # fmt: skip
RANDOM_INPUT = register_suite(
    Suite(
        "random_input", "synthetic", label_wrong=None, colour="#0072B2", flagged=True,
        action="remove", planted_kind="out_of_distribution", transform=_random_input,
        item_transform="random_input",
    )
)  # fmt: skip
BUILTIN_SUITES: tuple[str, ...] = tuple(SUITES)
UNSCORED = "unscored"
CLEAN = "clean"
UNSCORED_COLOUR = "#c7c7c7"
