"""The main job: data → probes → train + record → scores and metadata → the run directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .analysis import analyze
from .data import LabelledData, load_source
from .errors import ConfigError
from .models import resolve_kind
from .noise import NOISE_KINDS, plant_label_noise
from .probes import BUILTIN_SUITES, ProbeConfig, auto_probe_size, build_probes
from .report import write_report
from .rundir import (
    EXAMPLES_PARQUET,
    PROBES_PARQUET,
    RUN_JSON,
    SUMMARY_JSON,
    check_run_dir,
    library_versions,
    write_json,
)
from .store import DynamicsStore, atomic_write_table
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

    def effective_noise_rate(self) -> float:
        """Digits plants 10% symmetric noise unless told otherwise; other data plants none."""
        if self.noise_rate is not None:
            return self.noise_rate
        return 0.1 if self.source in (None, "", "digits") else 0.0


@dataclass
class RunResult:
    out: Path
    summary: dict[str, Any]
    examples: pa.Table


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
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "eval_pass": cfg.eval_pass,
    }


def run(
    cfg: RunConfig,
    data: LabelledData | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the main job end to end and write the run directory ``cfg.out``.

    Every check (data, options, probe budget, output directory) happens before the first write.
    """
    stage = on_stage or (lambda _s: None)
    t_start = time.perf_counter()
    cfg.validate()
    data = data if data is not None else load_source(cfg.source, cfg.data_dir)
    noise_rate = cfg.effective_noise_rate()
    out = Path(cfg.out)
    resolve_kind(cfg.model, tuple(data.X.shape[1:]))
    probe_cfg = ProbeConfig(
        suites=tuple(cfg.probes), size=cfg.probe_size, user_suites=cfg.user_suites, seed=cfg.seed
    )
    probe_cfg.validate()
    identity = _identity(cfg, data, data.fingerprint(), noise_rate)
    check_run_dir(out, identity, cfg.resume)

    truth: np.ndarray | None = None
    given = data.y
    if noise_rate > 0:
        given, truth = plant_label_noise(
            data.y, data.n_classes, noise_rate, cfg.noise_kind, seed=cfg.seed
        )
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
    trained: TrainResult = train_and_record(
        probed.X, probed.y, data.n_classes, train_cfg, out, resume=cfg.resume, on_batch=on_batch
    )
    t_train = time.perf_counter() - t0

    stage("inferring metadata")
    t0 = time.perf_counter()
    store_dir = out / "dynamics" / ("eval" if cfg.eval_pass else "")
    signals = DynamicsStore(store_dir).read_all()
    analysis = analyze(
        signals,
        probed,
        data.class_names,
        truth,
        data.y if truth is not None else None,
        k=cfg.k,
        seed=cfg.seed,
    )
    t_infer = time.perf_counter() - t0
    atomic_write_table(out / EXAMPLES_PARQUET, analysis.examples, row_group_size=1_000_000)
    summary = analysis.summary
    if "detection" in summary:
        summary["detection"].update(noise_rate=noise_rate, noise_kind=cfg.noise_kind)
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
    return RunResult(out, summary, analysis.examples)
