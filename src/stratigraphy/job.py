"""The main job: data → probes → train + record → scores and metadata → the run directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .analysis import analyze
from .chunked_analysis import analyze_store, write_examples
from .data import LabelledData, SourceOptions, load_source
from .ensemble import average_signals, seed_stability
from .errors import ConfigError
from .evaluation import detection_quality, kind_confusion
from .models import resolve_kind
from .noise import NOISE_KINDS
from .planting import Planted, PlantSpec, plant
from .probes import BUILTIN_SUITES, ProbeConfig, ProbedData, auto_probe_size, build_probes
from .report import write_report
from .rundir import (
    EXAMPLES_PARQUET,
    PLANTED_PARQUET,
    PROBES_PARQUET,
    ROWS_PARQUET,
    RUN_JSON,
    SUMMARY_JSON,
    check_run_dir,
    library_versions,
    write_json,
)
from .store import ROW_GROUP, DynamicsStore, atomic_write_table
from .training import TrainConfig, TrainResult, train_and_record


@dataclass
class RunConfig:
    """Everything that defines one run of the main job."""

    out: Path
    source: str | None = "digits"
    data_dir: str | None = None
    epochs: int = 30
    model: str = "auto"
    seed: int = 0
    probe_size: int | None = None
    probes: tuple[str, ...] = BUILTIN_SUITES
    user_suites: dict[str, np.ndarray] = field(default_factory=dict)
    noise_rate: float | None = None
    noise_kind: str = "symmetric"
    corrupt_rate: float = 0.0
    ood_rate: float = 0.0
    text_column: str | None = None
    label_column: str = "label"
    image_size: int | None = None
    seeds: int = 1
    chunked_cells: int = 250_000_000
    batch_size: int = 128
    lr: float = 0.05
    eval_pass: bool = False
    k: int = 20
    resume: bool = False

    def validate(self) -> None:
        if self.epochs < 2:
            raise ConfigError("--epochs must be at least 2: trajectories need several epochs.")
        if self.batch_size < 1 or self.lr <= 0 or self.k < 1:
            raise ConfigError("--batch-size and --k must be positive, and --lr greater than 0.")
        if self.noise_kind not in NOISE_KINDS:
            raise ConfigError(f"--noise-kind must be one of {NOISE_KINDS}.")
        if self.noise_rate is not None and not 0.0 <= self.noise_rate < 1.0:
            raise ConfigError("--noise-rate must lie in [0, 1).")
        if self.seeds < 1:
            raise ConfigError("--seeds must be at least 1.")
        self.plant_spec().validate()

    def source_options(self) -> SourceOptions:
        return SourceOptions(self.text_column, self.label_column, self.image_size)

    def plant_spec(self) -> PlantSpec:
        return PlantSpec(
            self.effective_noise_rate(), self.noise_kind, self.corrupt_rate, self.ood_rate,
            self.seed,
        )  # fmt: skip

    def effective_noise_rate(self) -> float:
        """Digits plants 10% symmetric noise unless told otherwise; other data plants none."""
        if self.noise_rate is not None:
            return self.noise_rate
        return 0.1 if self.source in (None, "", "digits") else 0.0


@dataclass
class RunResult:
    """A finished run: its directory, its summary and (read on demand) its examples table."""

    out: Path
    summary: dict[str, Any]
    _examples: pa.Table | None = None

    @property
    def examples(self) -> pa.Table:
        if self._examples is None:
            self._examples = pq.read_table(self.out / EXAMPLES_PARQUET)
        return self._examples


def _identity(
    cfg: RunConfig, data: LabelledData, fingerprint: str, noise_rate: float
) -> dict[str, Any]:
    return {
        "data": data.name,
        "fingerprint": fingerprint,
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "model": cfg.model,
        "probe_size": cfg.probe_size,
        "probes": list(cfg.probes),
        "user_suites": {k: np.asarray(v).tolist() for k, v in cfg.user_suites.items()},
        "noise_rate": noise_rate,
        "noise_kind": cfg.noise_kind,
        "corrupt_rate": cfg.corrupt_rate,
        "ood_rate": cfg.ood_rate,
        "seeds": cfg.seeds,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "eval_pass": cfg.eval_pass,
    }


def prepare_data(
    cfg: RunConfig,
    data: LabelledData | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> tuple[LabelledData, Planted | None]:
    """The source data and, when the config plants problems, the planted variant (same seed,
    same result, so a run directory can rebuild what it trained on)."""
    data = (
        data
        if data is not None
        else load_source(cfg.source, cfg.data_dir, cfg.source_options(), on_progress)
    )
    spec = cfg.plant_spec()
    return data, (plant(data, spec) if spec.any else None)


def run(
    cfg: RunConfig,
    data: LabelledData | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> RunResult:
    """Run the main job end to end and write the run directory ``cfg.out``.

    Every check (data, options, probe budget, output directory) happens before the first write.
    """
    stage = on_stage or (lambda _s: None)
    t_start = time.perf_counter()
    cfg.validate()
    source, planted = prepare_data(cfg, data, on_progress)
    data = planted.data if planted is not None else source
    noise_rate = cfg.effective_noise_rate()
    out = Path(cfg.out)
    resolve_kind(cfg.model, tuple(data.X.shape[1:]))
    probe_cfg = ProbeConfig(
        suites=tuple(cfg.probes), size=cfg.probe_size, user_suites=cfg.user_suites, seed=cfg.seed
    )
    probe_cfg.validate()
    identity = _identity(cfg, source, source.fingerprint(), noise_rate)
    check_run_dir(out, identity, cfg.resume)

    truth: np.ndarray | None = None
    true_labels: np.ndarray | None = None
    given = data.y
    if planted is not None:
        true_labels = planted.true_label
        if noise_rate > 0:
            truth = planted.label_errors
    stage("building probe suites")
    t0 = time.perf_counter()
    probed = build_probes(data.X, given, data.n_classes, probe_cfg)
    t_probes = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    run_info: dict[str, Any] = {
        "identity": identity,
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(cfg).items()
            if k != "user_suites"
        },
        "versions": library_versions(),
        "data": {
            "name": data.name,
            "n_examples": data.n,
            "n_source_examples": source.n,
            "n_classes": data.n_classes,
            "class_names": data.class_names,
            "input_shape": list(data.X.shape[1:]),
            "modality": data.modality,
            "fingerprint": identity["fingerprint"],
        },
        "training_rows": int(probed.X.shape[0]),
        "probe_size": cfg.probe_size or auto_probe_size(data.n),
        "status": "training",
    }
    write_json(out / RUN_JSON, run_info)
    atomic_write_table(out / PROBES_PARQUET, probed.probes)
    if planted is not None:
        atomic_write_table(out / PLANTED_PARQUET, planted.table())

    stage("training and recording")
    train_cfg = TrainConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        model=cfg.model,
        seed=cfg.seed,
        eval_pass=cfg.eval_pass,
    )
    t0 = time.perf_counter()
    trained: TrainResult | None = None
    seed_dirs = [out if s == 0 else out / "seeds" / str(cfg.seed + s) for s in range(cfg.seeds)]
    for s, seed_dir in enumerate(seed_dirs):
        train_cfg.seed = cfg.seed + s
        result = train_and_record(
            probed.X, probed.y, data.n_classes, train_cfg, seed_dir, resume=cfg.resume,
            on_batch=on_batch,
        )  # fmt: skip
        trained = trained or result
    assert trained is not None
    t_train = time.perf_counter() - t0

    stage("inferring metadata")
    t0 = time.perf_counter()
    store_dirs = [d / "dynamics" / ("eval" if cfg.eval_pass else "") for d in seed_dirs]
    extra: dict[str, Any] = {}
    if planted is not None:
        extra["planted"] = planted.kind.tolist()
    if data.captions is not None:
        extra["caption"] = list(data.captions)
    examples: pa.Table | None = None
    per_seed: list[dict[str, np.ndarray]] = []
    if cfg.seeds == 1 and probed.X.shape[0] * cfg.epochs > cfg.chunked_cells:
        summary = _analyse_chunked(cfg, store_dirs[0], probed, data, truth, true_labels, extra)
    else:
        per_seed = [DynamicsStore(d).read_all() for d in store_dirs]
        signals = average_signals(per_seed, data.n_classes) if cfg.seeds > 1 else per_seed[0]
        analysis = analyze(
            signals, probed, data.class_names, truth, true_labels, k=cfg.k, seed=cfg.seed
        )
        examples = analysis.examples
        for name, values in extra.items():
            examples = examples.append_column(name, pa.array(values))
        atomic_write_table(out / EXAMPLES_PARQUET, examples, row_group_size=ROW_GROUP)
        summary = analysis.summary
    t_infer = time.perf_counter() - t0
    if "detection" in summary:
        summary["detection"].update(noise_rate=noise_rate, noise_kind=cfg.noise_kind)
    if planted is not None:
        metadata = pq.read_table(out / EXAMPLES_PARQUET, columns=["metadata"]).column(0)
        summary["planted"] = kind_confusion(
            planted.kind, metadata.to_numpy(zero_copy_only=False), list(probed.suites)
        )
    if cfg.seeds > 1:
        stage("comparing seeds")
        averaged_ap = summary.get("detection", {}).get("scores", {}).get("mislabel_score", {})
        summary["seeds"] = seed_stability(
            per_seed,
            averaged_ap.get("ap"),
            probed,
            data.class_names,
            truth,
            true_labels,
            cfg.k,
            cfg.seed,
        )
    timings = {
        "probes_s": t_probes,
        "training_s": t_train,
        "epoch_s": trained.epoch_seconds,
        "eval_pass_s": trained.eval_seconds,
        "inference_s": t_infer,
        "total_s": time.perf_counter() - t_start,
        "resumed_from_epoch": trained.resumed_from,
    }
    summary["timings"] = timings
    write_json(out / SUMMARY_JSON, summary)
    run_info.update({"status": "complete", "timings": timings})
    write_json(out / RUN_JSON, run_info)
    stage("writing the report")
    write_report(out)
    return RunResult(out, summary, examples)


def _analyse_chunked(
    cfg: RunConfig,
    store_dir: Path,
    probed: ProbedData,
    data: LabelledData,
    truth: np.ndarray | None,
    true_labels: np.ndarray | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The out-of-core path for runs whose signals would not fit in memory: rows inferred in
    chunks straight from the store, then examples.parquet written a row group at a time."""
    out = Path(cfg.out)
    rows_path = out / ROWS_PARQUET
    inf = analyze_store(
        store_dir, probed.y, probed.probe_rows, probed.suite_ids(), probed.is_fit(),
        probed.suites, rows_path, k=cfg.k, seed=cfg.seed,
    )  # fmt: skip
    if truth is not None:
        extra = {**extra, "planted_error": np.asarray(truth, dtype=bool)}
    if true_labels is not None:
        extra = {**extra, "true_label": np.asarray(true_labels, dtype=np.int64)}
    written = write_examples(rows_path, probed, data.class_names, out / EXAMPLES_PARQUET, extra)
    summary: dict[str, Any] = {
        "n_examples": int(probed.source_labels.size),
        "n_scored": int((probed.example_row >= 0).sum()),
        "counts": written["counts"],
        "inference": {
            "method": inf["method"],
            "k": cfg.k,
            "suites": probed.suites,
            "heldout": inf["heldout"],
            "chunked": True,
        },  # fmt: skip
        "mislabel_score": inf["mislabel_score"],
    }
    if truth is not None:
        scored = probed.example_row >= 0
        t = np.asarray(truth, dtype=bool)[scored]
        summary["detection"] = {
            "planted": int(np.sum(truth)),
            "planted_scored": int(t.sum()),
            "scores": {"mislabel_score": detection_quality(written["mislabel_score"][scored], t)},
        }
    return summary
