"""Probe suites: examples whose metadata is known by construction, mixed into the training data.

Built-in suites follow MAP-D: ``typical`` / ``atypical`` (real examples, chosen by the typicality
proxy and left in place), ``mislabeled`` (a real example with its label replaced by a different
class), ``corrupted`` (a real example with input noise, label kept) and ``random_input`` (random
inputs with random labels). Sources of the transformed suites are taken out of the training data
and their transformed copies appended. User suites name real examples that stay in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .errors import ConfigError, ProbeBudgetError
from .seeding import stream
from .typicality import Typicality, neighbour_typicality

BUILTIN_SUITES = ("typical", "atypical", "mislabeled", "corrupted", "random_input")
IN_PLACE_SUITES = ("typical", "atypical")
CONSUMING_SUITES = ("mislabeled", "corrupted")
IMAGE_NOISE_STD = 0.25
VECTOR_NOISE_STD = 1.0


RANDOM_INPUT_KINDS = ("mixed", "shuffled", "blend", "uniform")
PATCH_GRID = 4
BLEND_OF = 8


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
    out = X[rng.integers(0, n, size=size)].astype(np.float32, copy=True)
    _, _, h, w = out.shape
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


def auto_probe_size(n: int) -> int:
    """Probes per suite: 1/40 of the data, between 20 and MAP-D's 500."""
    return int(np.clip(n // 40, 20, 500))


@dataclass
class ProbeConfig:
    """Which suites to build, how many probes each, and the user's own suites (name → indices)."""

    suites: tuple[str, ...] = BUILTIN_SUITES
    size: int | None = None
    heldout_fraction: float = 0.5
    corruption_std: float | None = None
    user_suites: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0
    random_input: str = "mixed"

    def validate(self) -> None:
        unknown = [s for s in self.suites if s not in BUILTIN_SUITES]
        if unknown:
            raise ConfigError(f"Unknown probe suite(s) {unknown}; choose from {BUILTIN_SUITES}.")
        clash = set(self.user_suites) & set(BUILTIN_SUITES)
        if clash:
            raise ConfigError(f"User suite names {sorted(clash)} clash with built-in suites.")
        if len(self.suites) + len(self.user_suites) < 2:
            raise ConfigError("Metadata inference needs at least two probe suites.")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError("heldout_fraction must lie strictly between 0 and 1.")
        if self.random_input not in RANDOM_INPUT_KINDS:
            raise ConfigError(f"random_input must be one of {RANDOM_INPUT_KINDS}.")
        if self.size is not None and self.size < 2:
            raise ConfigError("probe size must be at least 2 (one fitting, one held-out probe).")


@dataclass
class ProbedData:
    """The training set with probes mixed in, and the bookkeeping that maps rows back.

    ``X``/``y`` are the training rows: kept real examples in their original order, then the
    appended probe copies. ``origin[row]`` is the original example a row came from (-1 for
    synthetic inputs); ``example_row[i]`` is the training row of original example i (-1 when it
    was consumed as the source of a transformed probe); ``source_labels`` are the original
    examples' labels. ``probes`` has one row per probe.
    """

    X: np.ndarray
    y: np.ndarray
    origin: np.ndarray
    example_row: np.ndarray
    probes: pa.Table
    suites: list[str]
    typicality: Typicality
    source_labels: np.ndarray

    @property
    def probe_rows(self) -> np.ndarray:
        return self.probes.column("row").to_numpy()

    def suite_ids(self) -> np.ndarray:
        """Integer suite of every probe (index into ``suites``), aligned with ``probe_rows``."""
        lookup = {s: i for i, s in enumerate(self.suites)}
        return np.array([lookup[s] for s in self.probes.column("suite").to_pylist()])

    def is_fit(self) -> np.ndarray:
        return np.asarray(self.probes.column("role").to_numpy(zero_copy_only=False) == "fit")


def _take(rng: np.random.Generator, pool: np.ndarray, size: int, what: str) -> np.ndarray:
    if pool.size < size:
        raise ProbeBudgetError(
            f"Only {pool.size} examples are eligible for the {what!r} suite but {size} probes were "
            "asked for; lower --probe-size, ask for fewer suites, or bring more data."
        )
    return np.sort(rng.choice(pool, size=size, replace=False))


def build_probes(
    X: np.ndarray, y: np.ndarray, n_classes: int, config: ProbeConfig | None = None
) -> ProbedData:
    """Choose and construct every probe suite, returning the augmented training set."""
    config = config or ProbeConfig()
    config.validate()
    n = X.shape[0]
    size = config.size or auto_probe_size(n)
    rng = stream(config.seed, "probes")
    image = X.ndim == 4

    user = {}
    for name, idx in config.user_suites.items():
        idx = np.unique(np.asarray(idx, dtype=np.int64))
        if idx.size < 2 or idx.min() < 0 or idx.max() >= n:
            raise ConfigError(
                f"User suite {name!r} needs at least 2 indices in 0..{n - 1}; got {idx.size}."
            )
        user[name] = idx
    n_real_needed = size * sum(s in IN_PLACE_SUITES + CONSUMING_SUITES for s in config.suites)
    n_user = sum(v.size for v in user.values())
    if n_real_needed + n_user > n // 2:
        raise ProbeBudgetError(
            f"The probe suites need {n_real_needed + n_user} real examples ({size} per suite) but "
            f"the dataset has only {n}; probes may use at most half of it. Lower --probe-size "
            f"(at most {max((n // 2 - n_user) // max(len(config.suites), 1), 0)} here)."
        )

    typ = neighbour_typicality(X, y, seed=config.seed)
    free = np.ones(n, dtype=bool)
    for idx in user.values():
        free[idx] = False
    chosen: dict[str, np.ndarray] = {}
    order = np.argsort(-typ.score, kind="stable")
    if "typical" in config.suites:
        top = order[free[order]][:size]
        chosen["typical"] = np.sort(top)
        free[top] = False
    if "atypical" in config.suites:
        cand = order[::-1]
        cand = cand[free[cand] & typ.agrees[cand]]
        if cand.size < size:
            raise ProbeBudgetError(
                f"Only {cand.size} examples qualify as atypical probes; lower --probe-size."
            )
        chosen["atypical"] = np.sort(cand[:size])
        free[cand[:size]] = False
    # Transformed probes start from clean-looking examples, so a probe is one kind of problem only.
    clean_pool = np.flatnonzero(free & (typ.score >= np.median(typ.score[free])) & typ.agrees)
    for suite in CONSUMING_SUITES:
        if suite in config.suites:
            chosen[suite] = _take(rng, clean_pool, size, suite)
            clean_pool = np.setdiff1d(clean_pool, chosen[suite])

    keep = np.ones(n, dtype=bool)
    for suite in CONSUMING_SUITES:
        if suite in chosen:
            keep[chosen[suite]] = False
    kept = np.flatnonzero(keep)
    example_row = np.full(n, -1, dtype=np.int64)
    example_row[kept] = np.arange(kept.size)

    new_X, new_y, new_origin = [X[kept]], [y[kept]], [kept]
    records: list[tuple[int, str, int, str, int, int]] = []
    next_row = kept.size
    std = config.corruption_std or (IMAGE_NOISE_STD if image else VECTOR_NOISE_STD)
    feat_std = X.std(0) + 1e-6
    suite_names = [s for s in config.suites] + list(user)
    for suite in suite_names:
        if suite in IN_PLACE_SUITES or suite in user:
            src = chosen[suite] if suite in chosen else user[suite]
            records += [
                (int(example_row[i]), suite, int(i), "none", int(y[i]), int(y[i])) for i in src
            ]
            continue
        if suite == "mislabeled":
            src = chosen[suite]
            labels = (y[src] + rng.integers(1, n_classes, size=src.size)) % n_classes
            inputs = X[src]
            transform = [f"label {int(a)}→{int(b)}" for a, b in zip(y[src], labels, strict=True)]
            origin = src
        elif suite == "corrupted":
            src = chosen[suite]
            noise = rng.standard_normal(X[src].shape).astype(np.float32)
            if image:
                inputs = np.clip(X[src] + std * noise, 0.0, 1.0)
            else:
                inputs = X[src] + std * feat_std * noise
            labels = y[src]
            transform = [f"gaussian_noise(std={std:g})"] * src.size
            origin = src
        else:  # random_input
            inputs = random_inputs(X, size, rng, config.random_input)
            labels = rng.integers(0, n_classes, size=size)
            transform = [f"random_input({config.random_input})"] * size
            origin = np.full(size, -1, dtype=np.int64)
        rows = np.arange(next_row, next_row + len(labels))
        next_row += len(labels)
        new_X.append(inputs.astype(np.float32))
        new_y.append(labels.astype(np.int64))
        new_origin.append(origin)
        orig_labels = y[origin] if suite != "random_input" else labels
        records += [
            (int(r), suite, int(o), t, int(lab), int(ol))
            for r, o, t, lab, ol in zip(rows, origin, transform, labels, orig_labels, strict=True)
        ]

    rows_a = np.array([r[0] for r in records], dtype=np.int64)
    suites_a = np.array([r[1] for r in records])
    role = np.empty(rows_a.size, dtype=object)
    for suite in suite_names:
        members = np.flatnonzero(suites_a == suite)
        members = members[rng.permutation(members.size)]
        n_held = max(1, int(round(members.size * config.heldout_fraction)))
        role[members[:n_held]] = "heldout"
        role[members[n_held:]] = "fit"
    table = pa.table(
        {
            "row": rows_a,
            "suite": suites_a.tolist(),
            "source": np.array([r[2] for r in records], dtype=np.int64),
            "transform": [r[3] for r in records],
            "label": np.array([r[4] for r in records], dtype=np.int64),
            "source_label": np.array([r[5] for r in records], dtype=np.int64),
            "role": role.tolist(),
        }
    )
    return ProbedData(
        X=np.ascontiguousarray(np.concatenate(new_X)),
        y=np.concatenate(new_y),
        origin=np.concatenate(new_origin).astype(np.int64),
        example_row=example_row,
        probes=table,
        suites=suite_names,
        typicality=typ,
        source_labels=np.asarray(y, dtype=np.int64),
    )
