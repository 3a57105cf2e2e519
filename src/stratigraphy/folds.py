"""The source fold: a second, smaller training in which the examples consumed as sources of
transformed probes are ordinary data, so every example of the user's data gets a verdict.

MAP-D takes a probe's source out of the training data (a mislabeled probe beside its correctly
labelled twin could never be learned, and the twin would look doubtful). The source fold trains
on those examples plus a seeded sample of the rest (``source_fold`` of the data, at least 2,000
examples where the data has them), with fresh probe suites built from the other examples, and
judges the former sources with an engine fitted on its own probes. It shares the main fold's
priors, so its verdicts are on the same scale. Its flags' false-discovery rate is estimated
against its own probes over its examples but the former sources drawn clean-looking, a
random sample of the data at its shares (the calibration probes' sources are drawn from any
example). The clean-looking ones (:func:`~stratigraphy.probes.build.consumed_pool`: their
label their neighbours', typical) hold label errors, if any, that score below any probe's,
so no error rate can be vouched for: they are judged but not flagged
(:meth:`~stratigraphy.analysis.engine.AnalysisEngine.fit`'s ``unvouched``; flagged at the
pool's expected share, 32 of their 50 flags over 25 recorded runs were false, and the fold's
flags 95 of 516; docs/benchmarks.md). Its cost is the ``source_fold`` share of one training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from stratigraphy.analysis.engine import Analysis, AnalysisEngine, analyze_source
from stratigraphy.analysis.evaluation import detection_quality
from stratigraphy.analysis.scale import quantile_scale
from stratigraphy.analysis.scores import SCORES
from stratigraphy.analysis.sources import ArraySource
from stratigraphy.analysis.tally import kind_counts
from stratigraphy.config import RunConfig
from stratigraphy.core.atomic import RowGroupWriter, atomic_write_table
from stratigraphy.core.seeding import stream
from stratigraphy.data.planting import Planted
from stratigraphy.data.sources import LabelledData
from stratigraphy.probes.build import ProbedData, build_probes
from stratigraphy.record.store import DynamicsStore
from stratigraphy.record.training import train_and_record

FOLD_DIR = "source_fold"
MIN_FOLD_EXAMPLES = 2000
_MAIN_FOLD_COLUMNS = ("probe_suite", "typicality", "neighbour_label", "neighbour_share")


@dataclass
class SourceFold:
    """The examples the fold trains on (``subset``, original indices, sorted), the former
    sources among them, whether each of those was a calibration probe's source (drawn from
    any example, not from the clean-looking pool), and its probed training set."""

    subset: np.ndarray
    judged: np.ndarray
    probed: ProbedData
    from_calibration: np.ndarray

    @classmethod
    def plan(cls, cfg: RunConfig, data: LabelledData, main: ProbedData) -> SourceFold | None:
        """The fold's examples and probes, or None when no example was consumed."""
        judged = np.flatnonzero(main.example_row < 0)
        if judged.size == 0 or cfg.source_fold <= 0.0:
            return None
        n = data.n
        size = min(n, max(int(round(cfg.source_fold * n)), MIN_FOLD_EXAMPLES, 4 * judged.size))
        others = np.setdiff1d(np.arange(n), judged)
        rng = stream(cfg.seed, "source-fold")
        subset = np.union1d(judged, rng.choice(others, size - judged.size, replace=False))
        probes = replace(
            cfg.probes,
            size=None,
            user_suites={},
            seed=cfg.probes.seed + 1,
            keep_out=np.searchsorted(subset, judged),
        )
        probed = build_probes(data.X[subset], data.y[subset], data.n_classes, probes)
        table = main.probes
        source = table.column("source").to_numpy()
        role = np.asarray(table.column("role").to_pylist(), dtype=object)
        calibration = np.isin(judged, source[role == "calibration"])
        return cls(subset, judged, probed, calibration)

    def train(self, cfg: RunConfig, n_classes: int, out: Path,
              on_batch: Callable[[int, int], None] | None = None,
              on_epoch: Callable[[int, float, float], None] | None = None) -> float:  # fmt: skip
        """Train and record the fold under ``out/source_fold``; returns the seconds it took."""
        t0 = time.perf_counter()
        training = replace(cfg.training, seed=cfg.training.seed + 1)
        train_and_record(self.probed.X, self.probed.y, n_classes, training, out / FOLD_DIR,
                         resume=cfg.resume, on_batch=on_batch, on_epoch=on_epoch)  # fmt: skip
        return time.perf_counter() - t0

    def analyse(
        self,
        cfg: RunConfig,
        data: LabelledData,
        planted: Planted | None,
        truth: np.ndarray | None,
        extra: dict[str, Any],
        main: AnalysisEngine,
        out: Path,
    ) -> Analysis:
        """The fold's verdicts for its examples, from an engine sharing ``main``'s priors."""
        sub = self.subset
        store = DynamicsStore(out / FOLD_DIR / "dynamics" / ("eval" if cfg.training.eval_pass
                                                             else ""))  # fmt: skip
        extra_sub = {k: [v[i] for i in sub] if isinstance(v, list) else np.asarray(v)[sub]
                     for k, v in extra.items()}  # fmt: skip
        inference = replace(cfg.inference, chunk_rows=max(self.probed.X.shape[0], 1))
        unvouched = np.searchsorted(sub, self.judged[~self.from_calibration])
        return analyze_source(
            ArraySource(store.read_all()), self.probed, data.class_names, None,
            None if truth is None else truth[sub],
            planted.true_label[sub] if planted is not None else None,
            extra_sub, inference, like=main, unvouched=unvouched,
        )  # fmt: skip


def judged_rows(fold: SourceFold, analysis: Analysis) -> pa.Table:
    """The fold's examples-table rows of the former sources, under their original indices."""
    at = np.searchsorted(fold.subset, fold.judged)
    table = analysis.examples.take(pa.array(at))
    i = table.column_names.index("index")
    return table.set_column(i, "index", pa.array(fold.judged, pa.int64()))


def merge_examples(path: Path, judged: pa.Table) -> None:
    """Put the fold's rows for the former sources into the main examples table (one file,
    streamed a row group at a time, or a directory of parts, one part at a time); the fold's rows
    keep ``row`` = -1: they have no main-fold row; their trajectory is ``fold_row`` of
    ``source_fold/dynamics``."""
    if path.is_dir():
        parts = sorted(path.glob("part-*.parquet"))
        aligned = _aligned(judged, pq.read_schema(parts[0])) if parts else judged
        for part_path in parts:
            atomic_write_table(part_path, _merge_part(pq.read_table(part_path), aligned))
        return
    main = pq.ParquetFile(path)
    aligned = _aligned(judged, main.schema_arrow)
    group = main.metadata.row_group(0).num_rows if main.num_row_groups else 1
    with RowGroupWriter(path, max(group, 1)) as w:
        for g in range(main.num_row_groups):
            w.write(_merge_part(main.read_row_group(g), aligned))


def _aligned(judged: pa.Table, schema: pa.Schema) -> pa.Table:
    """The fold's rows in the main table's schema, with ``fold_row`` appended."""
    fold_rows = judged.column("row").to_numpy()
    judged = judged.drop_columns(["row"]).append_column("row", pa.array(np.full(len(judged), -1)))
    cols = {
        name: judged.column(name) if name in judged.column_names
        else pa.nulls(len(judged), schema.field(name).type)
        for name in schema.names
    }  # fmt: skip
    cols["fold_row"] = pa.array(fold_rows, pa.int64())
    return pa.table(cols).cast(schema.append(pa.field("fold_row", pa.int64())))


def _merge_part(part: pa.Table, judged: pa.Table) -> pa.Table:
    """One stretch of the main table with the fold's rows that fall in it put in place."""
    index = judged.column("index").to_numpy()
    idx = part.column("index").to_numpy()
    part = part.append_column("fold_row", pa.array(np.full(len(part), -1), pa.int64()))
    lo, hi = np.searchsorted(index, [idx[0], idx[-1] + 1]) if idx.size else (0, 0)
    if hi <= lo:
        return part
    hit = np.isin(idx, index[lo:hi])
    new = judged.slice(lo, hi - lo)
    for name in _MAIN_FOLD_COLUMNS:  # facts of the whole data, not of the fold
        j = new.column_names.index(name)
        new = new.set_column(j, name, part.column(name).filter(pa.array(hit)))
    return pa.concat_tables([part.filter(pa.array(~hit)), new]).sort_by("index")


def merged_counts(path: Path) -> dict[str, dict[str, int]]:
    """Examples per inferred kind (``metadata``) and per verdict, over the merged table, read a
    batch at a time (a part's worth of memory, not N's)."""
    out: dict[str, dict[str, int]] = {"metadata": {}, "verdict": {}}
    for batch in ds.dataset(path, format="parquet").to_batches(columns=["metadata", "verdict"]):
        for column, counts in zip(("metadata", "verdict"), kind_counts(batch), strict=True):
            for kind, c in counts.items():
                out[column][kind] = out[column].get(kind, 0) + c
    return out


def merged_detection(
    main: AnalysisEngine, fold: SourceFold, fold_engine: AnalysisEngine, truth: np.ndarray
) -> dict[str, Any]:
    """Every candidate's detection quality over all examples, the former sources judged by
    the fold."""
    t = np.asarray(truth, dtype=bool)
    at = np.searchsorted(fold.subset, fold.judged)
    scores = {}
    for name, values in main.tally_.candidates.items():
        full = values.copy()
        if name in fold_engine.tally_.candidates:
            full[fold.judged] = fold_engine.tally_.candidates[name][at]
        keep = np.isfinite(full)
        scores[name] = detection_quality(full[keep], t[keep])
    return {"planted": int(t.sum()), "planted_scored": int(t.sum()), "scores": scores}


def fold_scales(
    fold: SourceFold, fold_table: pa.Table, main_path: Path
) -> dict[str, dict[str, list[float]]]:
    """Each registered score's map from the fold's scale to the main training's, over the fold's
    other examples, which both trainings learned from (:mod:`stratigraphy.analysis.scale`);
    ``fold_table``: the fold's examples table, one row per example of ``fold.subset``."""
    others = np.setdiff1d(fold.subset, fold.judged)
    mine = fold_table.take(pa.array(np.searchsorted(fold.subset, others)))
    learned = mine.column("row").to_numpy() >= 0
    names = [n for n in SCORES if n in mine.column_names]
    theirs = ds.dataset(main_path, format="parquet").to_table(
        columns=["index", *names], filter=pc.field("index").isin(pa.array(others[learned]))
    ).sort_by("index")  # fmt: skip
    out = {}
    for name in names:
        own = mine.column(name).to_numpy(zero_copy_only=False)[learned]
        scale = quantile_scale(own, theirs.column(name).to_numpy(zero_copy_only=False))
        if scale is not None:
            out[name] = scale
    return out


def judge_sources(
    cfg: RunConfig,
    fold: SourceFold,
    data: LabelledData,
    planted: Planted | None,
    truth: np.ndarray | None,
    extra: dict[str, Any],
    analysis: Analysis,
) -> None:
    """Judge the former sources in the fold, write their rows into the run's examples table
    and bring the summary's counts, flags and detection to every example."""
    out = Path(cfg.out)
    path = out / "examples.parquet" if analysis.path is None else analysis.path
    judged = fold.analyse(cfg, data, planted, truth, extra, analysis.engine, out)
    rows = judged_rows(fold, judged)
    merge_examples(path, rows)
    summary, counts = analysis.summary, merged_counts(path)
    engine = analysis.engine
    # The fold has no user suites; with them its priors differ and the shares keep to the rest.
    if judged.engine.suites_ == engine.suites_:
        posteriors = np.stack([rows.column(f"p_{s}").to_numpy() for s in engine.suites_], 1)
        summary["prevalence"] = engine.prevalence_summary(
            engine.prevalence_.covering(summary["n_examples"] - int(fold.judged.size), posteriors)
        )
    summary["counts"] = dict(sorted(counts["metadata"].items()))
    summary["n_scored"] = summary["n_examples"]
    flags = summary["flags"]
    flags["by_kind"] = {k: counts["verdict"].get(k, 0) for k in flags["by_kind"]}
    flags["flagged"] = int(sum(flags["by_kind"].values()))
    flags["clean"] = counts["verdict"].get("clean", 0)
    spared = int((~fold.from_calibration).sum())
    if spared:
        flags.setdefault("notes", []).append(
            f"{spared:,} examples drawn clean-looking as probe sources (their label their "
            "neighbours', typical) are judged in the source fold but not flagged: their label "
            "errors, if any, look like no probe's, so no error rate can be vouched for. The "
            "review page ranks them with the rest."
        )
    if truth is not None and "detection" in summary:
        summary["detection"] = merged_detection(analysis.engine, fold, judged.engine, truth)
    method = judged.engine.method_
    summary["source_fold"] = {
        "examples": int(fold.subset.size),
        "judged": int(fold.judged.size),
        "training_rows": int(fold.probed.X.shape[0]),
        "method": method,
        "heldout_accuracy": judged.summary["inference"]["heldout"][method]["accuracy"],
        "mislabel_score": judged.engine.chosen_,
        "not_flagged": spared,
        "scales": fold_scales(fold, judged.examples, path),
    }
