"""Probe suites: examples whose metadata is known by construction, mixed into the training data.

Built-in suites follow MAP-D: ``typical`` / ``atypical`` (real examples, chosen by the typicality
proxy and left in place), ``mislabeled`` (a real example with its label replaced by a different
class), ``corrupted`` (a real example with input noise, label kept) and ``random_input`` (random
inputs with random labels). Sources of the transformed suites are taken out of the training data
and their transformed copies appended. User suites name real examples that stay in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from stratigraphy.core.errors import ConfigError, DataValidationError, ProbeBudgetError
from stratigraphy.core.scattered import read_scattered
from stratigraphy.core.seeding import stream
from stratigraphy.data.checks import check_arrays, check_indices
from stratigraphy.probes.lookalikes import any_kind, lookalikes_by_kind
from stratigraphy.probes.suites import (
    BUILTIN_SUITES,
    MISLABEL_KINDS,
    RANDOM_INPUT_KINDS,
    SUITES,
    Suite,
    TransformContext,
    suite_info,
)
from stratigraphy.probes.typicality import NeighbourIndex, Typicality, typicality_and_index

CALIBRATION_SIZE = 100
CLEAN_SAMPLINGS = ("halves", "extremes")
HELDOUT_SOURCES = ("any", "clean")


def auto_probe_size(n: int) -> int:
    """Probes per suite: 1/40 of the data, but at least 100 where the data allows (1/16 of it),
    so the flags' error rate is calibrated on 100 held-out correctly labelled probes (typical and
    atypical, half of each held out); between 20 and MAP-D's 500."""
    return int(np.clip(max(n // 40, min(CALIBRATION_SIZE, n // 16)), 20, 500))


@dataclass
class ProbeConfig:
    """Which suites to build, how many probes each, and the user's own suites (name → indices);
    ``keep_out``: examples that must stay ordinary training rows (no probe, no source)."""

    suites: tuple[str, ...] = BUILTIN_SUITES
    size: int | None = None
    heldout_fraction: float = 0.5
    corruption_std: float | None = None
    user_suites: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0
    random_input: str = "mixed"
    mislabel: str = "mixed"
    keep_out: np.ndarray | None = None
    clean_sampling: str = "halves"
    heldout_sources: str = "any"

    def validate(self) -> None:
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown:
            raise ConfigError(f"Unknown probe suite(s) {unknown}; choose from {tuple(SUITES)}.")
        clash = set(self.user_suites) & set(SUITES)
        if clash:
            raise ConfigError(f"User suite names {sorted(clash)} clash with built-in suites.")
        if len(self.suites) + len(self.user_suites) < 2:
            raise ConfigError("Metadata inference needs at least two probe suites.")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError("heldout_fraction must lie strictly between 0 and 1.")
        if self.clean_sampling not in CLEAN_SAMPLINGS:
            raise ConfigError(
                f"clean_sampling must be one of {CLEAN_SAMPLINGS}; got {self.clean_sampling!r}."
            )
        if self.heldout_sources not in HELDOUT_SOURCES:
            raise ConfigError(
                f"heldout_sources must be one of {HELDOUT_SOURCES}; got {self.heldout_sources!r}."
            )
        if self.mislabel not in MISLABEL_KINDS:
            raise ConfigError(f"mislabel must be one of {MISLABEL_KINDS}; got {self.mislabel!r}.")
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
    examples' labels. ``probes`` has one row per probe. ``lookalikes``: per label-keeping input
    kind, how many examples look like its transform (:mod:`stratigraphy.probes.lookalikes`);
    ``lookalike_recall``: the share of fresh transforms its detector calls so.
    """

    X: np.ndarray
    y: np.ndarray
    origin: np.ndarray
    example_row: np.ndarray
    probes: pa.Table
    suites: list[str]
    typicality: Typicality
    source_labels: np.ndarray
    directory: Path | None = None  # where the plan is saved, when it was opened from disk
    lookalikes: dict[str, int] = field(default_factory=dict)
    lookalike_recall: dict[str, float] = field(default_factory=dict)

    @property
    def probe_rows(self) -> np.ndarray:
        return self.probes.column("row").to_numpy()

    def labels_at(self, rows: np.ndarray) -> np.ndarray:
        """The training labels of ``rows``. From a plan opened from disk they are read value by
        value, so a scattered sample (the reference rows) does not map in every page of the
        labels: the Ray driver's memory stays flat in N."""
        if isinstance(self.y, np.memmap) and self.y.filename is not None:
            return read_scattered(self.y, rows)
        return self.y[rows]

    @cached_property
    def n_kept(self) -> int:
        """Original examples that are training rows (the rest were consumed as probe sources)."""
        return int((self.example_row >= 0).sum())

    @cached_property
    def n_classes(self) -> int:
        """Classes of the labels, given or probed (one past the largest)."""
        return int(max(self.y.max(initial=0), self.source_labels.max(initial=0))) + 1

    def suite_ids(self) -> np.ndarray:
        """Integer suite of every probe (index into ``suites``), aligned with ``probe_rows``."""
        lookup = {s: i for i, s in enumerate(self.suites)}
        return np.array([lookup[s] for s in self.probes.column("suite").to_pylist()])

    @classmethod
    def in_place(
        cls,
        labels: np.ndarray,
        probe_rows: np.ndarray,
        probe_suite: np.ndarray,
        is_fit: np.ndarray,
        suites: list[str],
    ) -> ProbedData:
        """Bookkeeping for probes that are rows of the data itself (no row consumed or added,
        no inputs kept): for signals recorded elsewhere, e.g. a store written by another tool.
        ``probe_suite`` holds each probe's index into ``suites``."""
        labels = np.asarray(labels, dtype=np.int64)
        n = labels.size
        nan = np.full(n, np.nan, dtype=np.float32)
        typ = Typicality(nan, np.ones(n, bool), nan, nan, np.full(n, -1, np.int64), nan)
        table = pa.table(
            {
                "row": np.asarray(probe_rows, dtype=np.int64),
                "suite": np.asarray(suites, dtype=object)[probe_suite].tolist(),
                "source": np.asarray(probe_rows, dtype=np.int64),
                "transform": ["none"] * len(probe_rows),
                "label": labels[probe_rows],
                "source_label": labels[probe_rows],
                "role": np.where(is_fit, "fit", "heldout").tolist(),
            }
        )
        rows = np.arange(n, dtype=np.int64)
        return cls(np.empty((n, 0), np.float32), labels, rows, rows, table, list(suites), typ,
                   labels)  # fmt: skip

    def agreement_counts(self) -> dict[str, tuple[int, int]]:
        """Per suite, how many probes have a label that is their input's neighbours' plurality,
        and how many probes it has (none for a plan written before that was recorded)."""
        if "agrees" not in self.probes.column_names:
            return {}
        suite = np.asarray(self.probes.column("suite").to_pylist(), dtype=object)
        agrees = self.probes.column("agrees").to_numpy(zero_copy_only=False).astype(bool)
        names, of, total = np.unique(suite, return_inverse=True, return_counts=True)
        agreeing = np.bincount(of, weights=agrees, minlength=names.size)
        return {str(s): (int(k), int(n)) for s, k, n in zip(names, agreeing, total, strict=True)}

    def agreement_rates(self) -> dict[str, float]:
        """Each suite's share of probes whose label is their input's neighbours' plurality."""
        return {s: k / n for s, (k, n) in self.agreement_counts().items()}

    def is_fit(self) -> np.ndarray:
        return self._role("fit")

    def is_heldout(self) -> np.ndarray:
        return self._role("heldout")

    def is_calibration(self) -> np.ndarray:
        """Probes that only calibrate the flags and the wrong-label share (see
        ``ProbeConfig.heldout_sources``)."""
        return self._role("calibration")

    def _role(self, role: str) -> np.ndarray:
        return np.asarray(self.probes.column("role").to_numpy(zero_copy_only=False) == role)


def _take(rng: np.random.Generator, pool: np.ndarray, size: int, what: str) -> np.ndarray:
    if pool.size < size:
        raise ProbeBudgetError(
            f"Only {pool.size} examples are eligible for the {what!r} suite but {size} probes were "
            "asked for; lower --probe-size, ask for fewer suites, or bring more data."
        )
    return np.sort(rng.choice(pool, size=size, replace=False))


def _user_indices(config: ProbeConfig, n: int) -> dict[str, np.ndarray]:
    user = {}
    for name, raw in config.user_suites.items():
        try:
            idx = check_indices(raw, n, f"--suite {name}")
        except DataValidationError as exc:
            raise ConfigError(str(exc)) from exc
        if idx.size < 2:
            raise ConfigError(
                f"--suite {name} needs at least 2 indices in 0..{n - 1}; got {idx.size}."
            )
        user[name] = idx
    return user


def _check_budget(config: ProbeConfig, size: int, n: int, user: dict[str, np.ndarray]) -> None:
    """Probes may use at most half of the real examples."""
    n_real_needed = size * sum(SUITES[s].origin != "synthetic" for s in config.suites)
    n_calibrated = sum(_calibrated(config, SUITES[s]) for s in config.suites)
    n_real_needed += n_calibrated * _n_heldout(size, config.heldout_fraction)
    n_user = sum(v.size for v in user.values())
    if n_real_needed + n_user > n // 2:
        raise ProbeBudgetError(
            f"The probe suites need {n_real_needed + n_user} real examples ({size} per suite) but "
            f"the dataset has only {n}; probes may use at most half of it. Lower --probe-size "
            f"(at most {max((n // 2 - n_user) // max(len(config.suites), 1), 0)} here)."
        )


def _clean_sources(
    config: ProbeConfig,
    typ: Typicality,
    size: int,
    free: np.ndarray,
    rng: np.random.Generator,
    plain: np.ndarray,
) -> dict[str, np.ndarray]:
    """Typical and atypical probes (``free`` is updated). ``halves`` (the default): a random
    sample of the examples above the median typicality and one of those below it that agree,
    so the two suites span the correctly labelled data; ``extremes``: MAP-D's most typical and
    least typical (whose label is still their neighbours' plurality). Measured in
    docs/benchmarks.md: with ``extremes`` ordinary examples the inferers never saw come out
    ``corrupted`` in bulk (airline tweets: 6–19% with the probe seed) and shares drift; the flags
    no longer lean on these probes (they are calibrated on wrong-label probes drawn at random).
    Only ``plain`` examples (not like an input kind's transform) are taken; the halves are
    those of all ``free`` ones."""
    chosen: dict[str, np.ndarray] = {}
    median = np.median(typ.score[free])
    order = np.argsort(-typ.score, kind="stable")
    for name, side in (("typical", typ.score >= median), ("atypical", typ.score < median)):
        if name not in config.suites:
            continue
        pool = free & plain & side & (typ.agrees if name == "atypical" else True)
        if config.clean_sampling == "halves":
            picked = _take(rng, np.flatnonzero(pool), size, name)
        else:
            ranked = order if name == "typical" else order[::-1]
            ranked = ranked[pool[ranked]]
            if ranked.size < size:
                raise ProbeBudgetError(
                    f"Only {ranked.size} examples qualify as {name} probes; lower --probe-size."
                )
            picked = np.sort(ranked[:size])
        chosen[name] = picked
        free[picked] = False
    return chosen


def _choose_sources(
    config: ProbeConfig,
    typ: Typicality,
    size: int,
    user: dict[str, np.ndarray],
    rng: np.random.Generator,
    lookalike: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The real examples of every suite, and which sources give calibration probes. Typical
    and atypical ones: see :func:`_clean_sources`. Consumed suites are built from random
    clean-looking examples (so a fitting or held-out probe is one kind of problem only); with
    ``heldout_sources="any"`` (the default) a wrong-label suite gets as many again as it holds
    out, from any example: *calibration* probes, as hard to tell as the data's own label
    errors, which the flags' error rate and the wrong-label share are measured against. They
    stay out of the held-out set that measures the inferers and the shift estimate: there,
    probes drawn from any example moved a quarter of the airline tweets to ``corrupted``
    (docs/benchmarks.md). ``lookalike``: examples that look like an input kind's transform
    (:mod:`stratigraphy.probes.lookalikes`), which are no clean probe and no transformed
    probe's source, but may be calibration probes' (drawn from any example)."""
    free = np.ones(typ.score.size, dtype=bool)
    keep_out = np.empty(0, np.int64) if config.keep_out is None else config.keep_out
    for idx in [*user.values(), keep_out]:
        free[np.asarray(idx, dtype=np.int64)] = False
    plain = np.ones(free.size, dtype=bool) if lookalike is None else ~lookalike
    chosen = _clean_sources(config, typ, size, free, rng, plain)
    clean_pool = consumed_pool(typ, free) & plain
    calibration = np.zeros(typ.score.size, dtype=bool)
    n_held = _n_heldout(size, config.heldout_fraction)
    # Calibration sources on their own random stream: the other suites' sources stay those
    # of "clean".
    calibration_rng = stream(config.seed, "calibration")
    for suite in SUITES.values():
        if suite.origin != "consumed" or suite.name not in config.suites:
            continue
        picked = _take(rng, np.flatnonzero(clean_pool), size, suite.name)
        free[picked] = clean_pool[picked] = False
        if _calibrated(config, suite):
            extra = _take(calibration_rng, np.flatnonzero(free), n_held, suite.name)
            calibration[extra] = True
            free[extra] = clean_pool[extra] = False
            picked = np.sort(np.concatenate([picked, extra]))
        chosen[suite.name] = picked
    return {**chosen, **user}, calibration


def consumed_pool(typ: Typicality, free: np.ndarray | None = None) -> np.ndarray:
    """The examples that transformed probes are drawn from (besides calibration probes): those
    at or above the median typicality of the ``free`` ones whose label is their neighbours'
    plurality, clean-looking so that a fitting or held-out probe is one kind of problem only."""
    free = np.ones(typ.score.size, dtype=bool) if free is None else free
    return free & (typ.score >= np.median(typ.score[free])) & typ.agrees


def _calibrated(config: ProbeConfig, suite: Suite) -> bool:
    """Whether a suite gets calibration probes drawn from any example (wrong-label suites)."""
    return (
        config.heldout_sources == "any" and suite.origin == "consumed" and bool(suite.label_wrong)
    )


def _n_heldout(size: int, fraction: float) -> int:
    return max(1, int(round(size * fraction)))


@dataclass
class _Rows:
    """Training rows as they are assembled, and one record per probe."""

    X: list[np.ndarray]
    y: list[np.ndarray]
    origin: list[np.ndarray]
    records: list[tuple[int, str, int, str, int, int]]
    next_row: int

    def append(self, suite: str, inputs: np.ndarray, labels: np.ndarray, origin: np.ndarray,
               transform: list[str], source_labels: np.ndarray) -> None:  # fmt: skip
        rows = np.arange(self.next_row, self.next_row + len(labels))
        self.next_row += len(labels)
        self.X.append(inputs.astype(np.float32))
        self.y.append(labels.astype(np.int64))
        self.origin.append(origin)
        self.records += [
            (int(r), suite, int(o), t, int(lab), int(ol))
            for r, o, t, lab, ol in zip(rows, origin, transform, labels, source_labels, strict=True)
        ]


def _probe_rows(
    suite: Suite,
    src: np.ndarray | None,
    ctx: TransformContext,
    size: int,
    rng: np.random.Generator,
    rows: _Rows,
    example_row: np.ndarray,
) -> None:
    """Record a suite's probes: in-place examples by their row, others appended transformed."""
    y = ctx.y
    if suite.origin == "in_place":
        assert src is not None
        rows.records += [
            (int(example_row[i]), suite.name, int(i), "none", int(y[i]), int(y[i])) for i in src
        ]
        return
    assert suite.transform is not None
    made = suite.transform(ctx, src if src is not None else np.empty(0, np.int64), size, rng)
    if suite.origin == "synthetic":
        origin = np.full(len(made.y), -1, dtype=np.int64)
        rows.append(suite.name, made.X, made.y, origin, made.transform, made.y)
    else:
        assert src is not None
        rows.append(suite.name, made.X, made.y, src, made.transform, y[src])


def _probe_table(records: list[tuple[int, str, int, str, int, int]], calibration: np.ndarray,
                 suite_names: list[str], config: ProbeConfig, rng: np.random.Generator,
                 where: tuple[NeighbourIndex, Typicality, np.ndarray, np.ndarray],
                 ) -> pa.Table:  # fmt: skip
    """One row per probe: its training row, suite, source, transform, labels, role and whether
    its input's neighbours agree with its label (``where``: the neighbour index, the data's
    typicality and the training rows' inputs and labels, see :func:`_probe_agreement`)."""
    rows = np.array([r[0] for r in records], dtype=np.int64)
    suites = np.array([r[1] for r in records])
    sources = np.array([r[2] for r in records], dtype=np.int64)
    return pa.table(
        {
            "row": rows,
            "suite": suites.tolist(),
            "source": sources,
            "transform": [r[3] for r in records],
            "label": np.array([r[4] for r in records], dtype=np.int64),
            "source_label": np.array([r[5] for r in records], dtype=np.int64),
            "role": _roles(suites, sources, calibration, suite_names, config.heldout_fraction, rng),
            "agrees": _probe_agreement(*where, rows, sources, suites),
        }
    )


def _probe_agreement(index: NeighbourIndex, typ: Typicality, X: np.ndarray, y: np.ndarray,
                     rows: np.ndarray, sources: np.ndarray,
                     suites: np.ndarray) -> np.ndarray:  # fmt: skip
    """Whether each probe's label is the plurality of its input's neighbours among the data:
    an in-place probe's own typicality, a transformed or synthetic probe's input placed in
    the same index. A kind whose probes mostly agree (a noisy image keeps its label) is
    measured among the rows that agree, where the clean probes stand for the clean rows
    (:mod:`stratigraphy.analysis.engine`)."""
    in_place = np.isin(suites, [s for s in np.unique(suites) if suite_info(s).origin == "in_place"])
    out = np.zeros(rows.size, dtype=bool)
    out[in_place] = typ.agrees[sources[in_place]]
    made = np.flatnonzero(~in_place)
    out[made] = index.agrees(X[rows[made]], y[rows[made]])
    return out


def _roles(records_suite: np.ndarray, records_source: np.ndarray, calibration: np.ndarray,
           suites: list[str], fraction: float, rng: np.random.Generator) -> list[str]:  # fmt: skip
    """Each suite split at random into held-out and fitting probes; probes whose source is
    marked in ``calibration`` are calibration probes."""
    role = np.empty(records_suite.size, dtype=object)
    for suite in suites:
        members = np.flatnonzero(records_suite == suite)
        sources = records_source[members]
        calibrates = calibration[np.maximum(sources, 0)] & (sources >= 0)
        role[members[calibrates]] = "calibration"
        members = members[~calibrates]
        members = members[rng.permutation(members.size)]
        n_held = _n_heldout(members.size, fraction)
        role[members[:n_held]] = "heldout"
        role[members[n_held:]] = "fit"
    return list(role.tolist())


def build_probes(
    X: np.ndarray, y: np.ndarray, n_classes: int, config: ProbeConfig | None = None
) -> ProbedData:
    """Choose and construct every probe suite, returning the augmented training set."""
    config = config or ProbeConfig()
    config.validate()
    X, y, _ = check_arrays(X, y, n_classes)
    n = X.shape[0]
    size = config.size or auto_probe_size(n)
    rng = stream(config.seed, "probes")
    user = _user_indices(config, n)
    _check_budget(config, size, n, user)
    typ, index = typicality_and_index(X, y, seed=config.seed)
    ctx = TransformContext(X, y, n_classes, config.corruption_std, config.random_input,
                           config.mislabel, typ.confusion)  # fmt: skip
    looks = lookalikes_by_kind(ctx, config.suites, config.seed)
    chosen, calibration = _choose_sources(config, typ, size, user, rng, any_kind(looks.found, n))
    keep = np.ones(n, dtype=bool)
    for name in config.suites:
        if SUITES[name].origin == "consumed":
            keep[chosen[name]] = False
    kept = np.flatnonzero(keep)
    example_row = np.full(n, -1, dtype=np.int64)
    example_row[kept] = np.arange(kept.size)
    rows = _Rows([X[kept]], [y[kept]], [kept], [], kept.size)
    suite_names = [*config.suites, *user]
    for name in suite_names:
        info = suite_info(name, tuple(user))
        _probe_rows(info, chosen.get(name), ctx, size, rng, rows, example_row)

    X_all, y_all = np.concatenate(rows.X), np.concatenate(rows.y)
    table = _probe_table(rows.records, calibration, suite_names, config, rng,
                         (index, typ, X_all, y_all))  # fmt: skip
    return ProbedData(
        X=np.ascontiguousarray(X_all),
        y=y_all,
        origin=np.concatenate(rows.origin).astype(np.int64),
        example_row=example_row,
        probes=table,
        suites=suite_names,
        typicality=typ,
        source_labels=np.asarray(y, dtype=np.int64),
        lookalikes={kind: int(found.sum()) for kind, found in looks.found.items()},
        lookalike_recall=dict(looks.recall),
    )
