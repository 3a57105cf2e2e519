"""The main job: data → probes → train + record → scores and metadata → the run directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stratigraphy.analysis.engine import analyze_source
from stratigraphy.analysis.ensemble import average_signals, seed_stability
from stratigraphy.analysis.evaluation import kind_confusion
from stratigraphy.analysis.sources import ArraySource, SignalSource
from stratigraphy.config import RunConfig
from stratigraphy.core.atomic import atomic_write_table
from stratigraphy.core.errors import ConfigError, DataValidationError, RunDirectoryError
from stratigraphy.data.planting import Planted
from stratigraphy.data.sources import LabelledData, load_source
from stratigraphy.folds import SourceFold, judge_sources
from stratigraphy.issues.registry import issue_columns
from stratigraphy.issues.run import find_issues
from stratigraphy.issues.slices import read_groups, slices_of_run
from stratigraphy.present.report import write_report
from stratigraphy.probes.build import ProbedData, auto_probe_size, build_probes
from stratigraphy.record.models import resolve_kind
from stratigraphy.record.store import DynamicsStore
from stratigraphy.record.training import TrainResult, train_and_record
from stratigraphy.rundir.layout import (
    EXAMPLES_PARQUET,
    PLANTED_PARQUET,
    PROBES_PARQUET,
    RUN_JSON,
    SLICES_PARQUET,
    SUMMARY_JSON,
    check_run_dir,
    library_versions,
    read_json,
    write_json,
)
from stratigraphy.rundir.reanalysed import (
    ANALYSED_FROM,
    carried_columns,
    check_target,
    link_recorded,
)


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


@dataclass
class _Prepared:
    """What a run trains on: the source data, the planted variant, the probed training set."""

    source: LabelledData
    planted: Planted | None
    probed: ProbedData
    model: str
    fold: SourceFold | None = None
    test: LabelledData | None = None
    groups: np.ndarray | None = None

    @property
    def data(self) -> LabelledData:
        return self.planted.data if self.planted is not None else self.source

    @property
    def truth(self) -> np.ndarray | None:
        if self.planted is None or not self.planted.label_errors.any():
            return None
        return self.planted.label_errors


def _prepare(
    cfg: RunConfig,
    data: LabelledData | None,
    stage: Callable[[str], None],
    on_progress: Callable[[str, int, int], None] | None,
) -> tuple[_Prepared, dict[str, Any]]:
    """Load and plant the data, check the model and the output directory (nothing is written
    yet), then build the probe suites."""
    source = (
        data if data is not None else cfg.data.load_source(on_progress, cfg.engine, cfg.address)
    )
    planted = cfg.data.planted(source)
    trained_on = planted.data if planted is not None else source
    model = resolve_kind(cfg.training.model, tuple(trained_on.X.shape[1:]))
    identity = cfg.identity(source.name, source.fingerprint())
    check_run_dir(Path(cfg.out), identity, cfg.resume)
    stage("building probe suites")
    probed = build_probes(trained_on.X, trained_on.y, trained_on.n_classes, cfg.probes)
    fold = SourceFold.plan(cfg, trained_on, probed)
    test = _load_test(cfg, trained_on, on_progress)
    groups = _groups(cfg, source, trained_on)
    return _Prepared(source, planted, probed, model, fold, test, groups), identity


def _groups(cfg: RunConfig, source: LabelledData, trained_on: LabelledData) -> np.ndarray | None:
    """The user's group of every example trained on (``--groups``), or None."""
    if cfg.groups is None:
        return None
    groups = read_groups(cfg.groups, source.n, cfg.data.source, cfg.data.options.limit is not None)
    inserted = trained_on.n - source.n  # planted out-of-distribution inserts come last
    return np.concatenate([groups, np.full(inserted, "(planted insert)")])


def _load_test(
    cfg: RunConfig, train: LabelledData, on_progress: Callable[[str, int, int], None] | None
) -> LabelledData | None:
    """The held-out set given with ``--test``, read like the training data (all of it:
    ``--limit`` cuts the training data only); its inputs must have the training inputs' shape."""
    if cfg.test is None:
        return None
    options = replace(cfg.data.options, limit=None)
    test = load_source(cfg.test, None, options, on_progress, cfg.engine, cfg.address)
    if test.X.shape[1:] != train.X.shape[1:]:
        raise DataValidationError(
            f"--test {cfg.test}: inputs of shape {test.X.shape[1:]}, but the training inputs "
            f"have {train.X.shape[1:]}."
        )
    return test


def _run_info(cfg: RunConfig, prep: _Prepared, identity: dict[str, Any]) -> dict[str, Any]:
    data = prep.data
    return {
        "identity": identity,
        "config": cfg.to_dict(),
        "data_spec": cfg.data.to_dict(),
        "model": prep.model,
        "versions": library_versions(),
        "data": {
            "name": data.name,
            "n_examples": data.n,
            "n_source_examples": prep.source.n,
            "n_classes": data.n_classes,
            "class_names": data.class_names,
            "input_shape": list(data.X.shape[1:]),
            "modality": data.modality,
            "input_preparation": prep.source.notes,
            "fingerprint": identity["fingerprint"],
        },
        "training_rows": int(prep.probed.X.shape[0]),
        "probe_size": cfg.probes.size or auto_probe_size(data.n),
        "status": "training",
    }


def _train(
    cfg: RunConfig,
    prep: _Prepared,
    on_batch: Callable[[int, int], None] | None,
    on_epoch: Callable[[int, float, float], None] | None,
) -> tuple[TrainResult, list[Path]]:
    """Train every seed (the first in the run directory, the others under ``seeds/``)."""
    out = Path(cfg.out)
    seed_dirs = [out if s == 0 else out / "seeds" / str(cfg.seed + s) for s in range(cfg.seeds)]
    results = [
        train_and_record(
            prep.probed.X,
            prep.probed.y,
            prep.data.n_classes,
            cfg.for_seed(s),
            seed_dir,
            resume=cfg.resume,
            on_batch=on_batch,
            on_epoch=on_epoch,
        )  # fmt: skip
        for s, seed_dir in enumerate(seed_dirs)
    ]
    return results[0], seed_dirs


def _analyse(
    cfg: RunConfig,
    prep: _Prepared,
    seed_dirs: list[Path],
    issue_columns: dict[str, np.ndarray],
    dest: Path | None = None,
    engine: str = "local",
    address: str | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """One engine for every run: signals in memory when they fit (or when seeds are averaged),
    streamed from the store otherwise (always, on Ray); the examples table goes straight to
    ``dest`` (default: the run directory)."""
    out, probed, data = Path(cfg.out), prep.probed, prep.data
    dest = out if dest is None else dest
    stores = [DynamicsStore(d / "dynamics" / ("eval" if cfg.training.eval_pass else ""))
              for d in seed_dirs]  # fmt: skip
    per_seed: list[dict[str, np.ndarray]] = []
    source: SignalSource = stores[0]
    if engine == "ray" and cfg.seeds > 1:
        raise ConfigError("The ray engine streams one store; a run averaged over seeds is "
                          "analysed in one process.")  # fmt: skip
    in_memory = probed.X.shape[0] * cfg.training.epochs <= cfg.in_memory_cells
    if engine == "local" and (cfg.seeds > 1 or in_memory):
        per_seed = [s.read_all() for s in stores]
        signals = average_signals(per_seed, data.n_classes) if cfg.seeds > 1 else per_seed[0]
        source = ArraySource(signals)
    extra: dict[str, Any] = dict(issue_columns)
    if prep.planted is not None:
        extra["planted"] = prep.planted.kind.tolist()
    if data.captions is not None:
        extra["caption"] = list(data.captions)
    true_labels = prep.planted.true_label if prep.planted is not None else None
    report = on_progress

    def progress(done: int, total: int) -> None:
        if report is not None:
            report("scoring examples", done, total)

    analysis = analyze_source(source, probed, data.class_names, dest / EXAMPLES_PARQUET,
                              prep.truth, true_labels, extra, cfg.inference, engine=engine,
                              address=address, on_progress=progress)  # fmt: skip
    if prep.fold is not None:
        judge_sources(cfg, prep.fold, data, prep.planted, prep.truth, extra, analysis)
    summary = analysis.summary
    if "detection" in summary:
        plant = cfg.data.plant
        summary["detection"].update(noise_rate=plant.noise_rate, noise_kind=plant.noise_kind)
    if prep.planted is not None:
        metadata = analysis.examples.column("metadata").to_numpy(zero_copy_only=False)
        summary["planted"] = kind_confusion(prep.planted.kind, metadata, list(probed.suites))
    if cfg.seeds > 1:
        averaged_ap = summary.get("detection", {}).get("scores", {}).get("mislabel_score", {})
        summary["seeds"] = seed_stability(
            per_seed, averaged_ap.get("ap"), probed, data.class_names, prep.truth, true_labels,
            cfg.inference.k, cfg.seed,
        )  # fmt: skip
    return summary


def _timings(clock: dict[str, float], trained: TrainResult) -> dict[str, Any]:
    return {
        "probes_s": clock["probes_s"],
        "training_s": clock["training_s"],
        "source_fold_s": clock.get("source_fold_s", 0.0),
        "epoch_s": trained.epoch_seconds,
        "eval_pass_s": trained.eval_seconds,
        "issues_s": clock["issues_s"],
        "inference_s": clock["inference_s"],
        "total_s": time.perf_counter() - clock["start"],
        "resumed_from_epoch": trained.resumed_from,
    }


def run(
    cfg: RunConfig,
    data: LabelledData | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> RunResult:
    """Run the main job end to end and write the run directory ``cfg.out``.

    Every check (data, options, probe budget, output directory) happens before the first write.
    """
    stage = on_stage or (lambda _s: None)
    clock = {"start": time.perf_counter()}
    cfg.validate()
    prep, identity = _prepare(cfg, data, stage, on_progress)
    clock["probes_s"] = time.perf_counter() - clock["start"]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    run_info = _run_info(cfg, prep, identity)
    write_json(out / RUN_JSON, run_info)
    atomic_write_table(out / PROBES_PARQUET, prep.probed.probes)
    if prep.planted is not None:
        atomic_write_table(out / PLANTED_PARQUET, prep.planted.table())

    stage("training and recording")
    t0 = time.perf_counter()
    trained, seed_dirs = _train(cfg, prep, on_batch, on_epoch)
    clock["training_s"] = time.perf_counter() - t0
    if prep.fold is not None:
        stage("training the source fold")
        clock["source_fold_s"] = prep.fold.train(cfg, prep.data.n_classes, out, on_batch,
                                                 on_epoch)  # fmt: skip
    stage("inferring metadata")
    t0 = time.perf_counter()
    stage("looking for duplicates and leaks")
    t1 = time.perf_counter()
    issue_columns, issues = find_issues(trained.model, prep.data, prep.test, out)
    clock["issues_s"] = time.perf_counter() - t1
    summary = _analyse(cfg, prep, seed_dirs, issue_columns, None, cfg.engine, cfg.address,
                       on_progress)  # fmt: skip
    summary["issues"] = issues
    table, summary["issues"]["weak_slices"] = slices_of_run(out, prep.data.class_names,
                                                            prep.groups)  # fmt: skip
    atomic_write_table(out / SLICES_PARQUET, table)
    clock["inference_s"] = time.perf_counter() - t0 - clock["issues_s"]
    timings = _timings(clock, trained)
    summary["timings"] = timings
    summary["training_curve"] = {
        "first_epoch": trained.resumed_from,
        "loss": [h[0] for h in trained.history],
        "accuracy": [h[1] for h in trained.history],
    }
    write_json(out / SUMMARY_JSON, summary)
    run_info.update({"status": "complete", "timings": timings, "device": trained.device})
    write_json(out / RUN_JSON, run_info)
    stage("writing the report")
    write_report(out, prep.data)
    return RunResult(out, summary)


def reanalyse(
    run_dir: str | Path,
    out: str | Path,
    engine: str = "local",
    address: str | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    fdr: float | None = None,
) -> dict[str, Any]:
    """Analyse a finished run's recorded dynamics again, into ``out``: a run directory of its
    own (``examples.parquet``: one file, or with ``engine="ray"`` a directory of parts;
    ``summary.json``, ``run.json``, the weak slices and the report), linked to the files the run
    recorded, so ``strat fix``, ``prune``, ``review`` and ``report`` act on it. The data and
    probes are rebuilt from ``run.json``'s configuration and must match the run's fingerprint;
    the former probe sources are judged by the run's source fold as in the run itself.
    ``fdr``: flags at another error level than the run's, without training again (the
    summary's ``flags.flagged_share_at`` says about how many a level gives). The issue columns
    (duplicates, outliers) are the run's, not recomputed."""
    run_dir, out = Path(run_dir), Path(out)
    info = read_json(run_dir / RUN_JSON) if (run_dir / RUN_JSON).is_file() else {}
    if info.get("status") != "complete":
        raise RunDirectoryError(f"{run_dir} is not a finished run (no complete run.json).")
    check_target(run_dir, out)
    cfg = replace(RunConfig.from_dict(info["config"]), out=run_dir)
    if fdr is not None:
        cfg = replace(cfg, inference=replace(cfg.inference, fdr=fdr))
        cfg.inference.validate()
    source = cfg.data.load_source(on_progress, engine, address)
    if source.fingerprint() != info["identity"]["fingerprint"]:
        raise RunDirectoryError(
            f"{cfg.data.source} no longer holds the data {run_dir} was trained on "
            "(its fingerprint differs)."
        )
    planted = cfg.data.planted(source)
    data = planted.data if planted is not None else source
    probed = build_probes(data.X, data.y, data.n_classes, cfg.probes)
    prep = _Prepared(source, planted, probed, info["model"], SourceFold.plan(cfg, data, probed))
    prep.groups = _groups(cfg, source, data)
    out.mkdir(parents=True, exist_ok=True)
    carried = carried_columns(run_dir, issue_columns())
    summary = _analyse(cfg, prep, [run_dir], carried, out, engine, address, on_progress)
    summary["engine"] = engine
    recorded = read_json(run_dir / SUMMARY_JSON)  # the training's timings and curve, the issues
    summary = {**recorded, **summary, "issues": dict(recorded.get("issues", {}))}
    table, summary["issues"]["weak_slices"] = slices_of_run(out, data.class_names, prep.groups)
    atomic_write_table(out / SLICES_PARQUET, table)
    write_json(out / SUMMARY_JSON, summary)
    link_recorded(run_dir, out)
    moved = replace(cfg, out=out).to_dict()
    write_json(out / RUN_JSON, {**info, "config": moved, ANALYSED_FROM: str(run_dir.resolve())})
    write_report(out, data)
    return summary
