"""The analysis on Ray: the fitted engine is broadcast once and every row group of the dynamics
store is scored by a Ray task that reads it from the store itself and writes its own Parquet part
of ``examples.parquet`` (a dataset directory that pandas, polars, DuckDB and Spark read as one
table). The per-example bookkeeping travels as a saved probe plan
(:mod:`stratigraphy.probes.plan_file`), memory-mapped by each task, which touches only its own
stretch. The driver never holds signals, examples rows or, with a plan opened from disk,
anything per example: it plans which examples each row group covers (one origin per chunk), and
adds up the per-part tallies the summary needs (counts per kind and verdict; with known truth,
the candidates' values for the detection measurements, the one part that grows with N).

A part is written under a fixed name, atomically, so a task Ray retries after a worker died
replaces its part rather than adding one: no row is lost or duplicated. Ray is imported only
here, and only when this engine is chosen (``pip install "stratigraphy[ray]"``).
"""

from __future__ import annotations

import resource
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stratigraphy.analysis.example_table import ExampleTable
from stratigraphy.analysis.tally import Tally, candidate_values
from stratigraphy.core.atomic import atomic_write_table
from stratigraphy.core.cluster import connect
from stratigraphy.probes.build import ProbedData
from stratigraphy.probes.plan_file import open_plan, save_plan
from stratigraphy.record.store import SIGNALS, DynamicsStore

PART = "part-{:06d}.parquet"
Bounds = tuple[int, int, int, int]


class ClusterStore(DynamicsStore):
    """A dynamics store whose scattered row reads (the probes', the reference sample's: rows in
    every row group) run as Ray tasks, one per row group, in parallel; the driver receives only
    the rows it asked for. Everything else reads as :class:`DynamicsStore` does."""

    def __init__(self, store: DynamicsStore, address: str | None = None) -> None:
        super().__init__(store.directory, store.n_rows, store.row_group)
        self.address = address

    def read_group_rows(
        self, asks: list[tuple[int, np.ndarray]], signals: Sequence[str] = SIGNALS
    ) -> Iterator[dict[str, np.ndarray]]:
        ray = connect(self.address)
        task = ray.remote(max_retries=3)(read_group_rows)
        refs = [task.remote(str(self.directory), g, local, tuple(signals)) for g, local in asks]
        yield from ray.get(refs)


def read_group_rows(store_dir: str, group: int, local: np.ndarray,
                    signals: tuple[str, ...]) -> dict[str, np.ndarray]:  # fmt: skip
    """The asked rows of one row group (a Ray task of :class:`ClusterStore`)."""
    part = DynamicsStore(store_dir).read_row_group(group, signals)
    return {name: values[local] for name, values in part.items()}


def plan_parts(table: Any, groups: list[tuple[int, int]], chunk_rows: int) -> list[list[Bounds]]:
    """Per row group of the store, the ``(lo, hi, start, stop)`` of each of its chunks: which
    examples each chunk's real rows cover (see ``ExampleTable.bounds``)."""
    plans: list[list[Bounds]] = []
    lo = 0
    for start, n in groups:
        chunks = []
        for first in range(start, start + n, chunk_rows):
            bounds = table.bounds(lo, first, min(first + chunk_rows, start + n))
            if bounds is not None:
                chunks.append(bounds)
                lo = bounds[1]
        plans.append(chunks)
    return plans


def score_part(state: tuple[Any, list[str], bool], store_dir: str, plan_dir: str, group: int,
               first: int, chunks: list[Bounds], path: str) -> dict[str, Any]:  # fmt: skip
    """One row group: map the plan, read the group, score its chunks, write its part, return
    its tally pieces."""
    engine, names, keep_candidates = state
    probed, columns = open_plan(plan_dir)
    table = ExampleTable(probed, names, engine.suites_, columns)
    signals = DynamicsStore(store_dir).read_row_group(group)
    tally = Tally(probed, None)
    parts: list[pa.Table] = []
    candidates: list[tuple[int, int, dict[str, np.ndarray]]] = []
    for bounds in chunks:
        lo, hi, start, stop = bounds
        span = table.span(bounds, {k: v[start - first : stop - first] for k, v in signals.items()})
        v = engine.score(start, span.signals, probed.y[start:stop], names)
        parts.append(table.part(span, v))
        tally.add(span, parts[-1], v)
        if keep_candidates:
            candidates.append((lo, hi, candidate_values(span, v)))
    atomic_write_table(Path(path), pa.concat_tables(parts))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"counts": tally.counts, "verdicts": tally.verdicts, "candidates": candidates,
            "peak_mib": peak}  # fmt: skip


def run_on_ray(
    engine: Any,
    store: DynamicsStore,
    probed: ProbedData,
    columns: dict[str, Any],
    tally: Tally,
    out: Path,
    class_names: list[str],
    address: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Score every row group of ``store`` as a Ray task into ``out/part-*.parquet`` and add the
    parts' counts (and, when ``tally`` keeps the truth, candidates) to ``tally``: what
    ``AnalysisEngine.run`` does in one process. A plan opened with
    :func:`~stratigraphy.probes.plan_file.open_plan` (and no further ``columns``) is used where
    it lies; otherwise it is saved beside ``out`` for the tasks and removed afterwards."""
    ray = connect(address)
    groups = store.row_groups()
    saved = probed.directory is None or bool(columns)
    plan_dir = out.with_name(f".{out.name}.plan") if saved else probed.directory
    assert plan_dir is not None
    if saved:
        save_plan(probed, plan_dir, columns)
    try:
        opened, opened_columns = open_plan(plan_dir)
        table = ExampleTable(opened, class_names, engine.suites_, opened_columns)
        plans = plan_parts(table, groups, engine.config.chunk_rows)
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("part-*.parquet"):
            stale.unlink()
        state = ray.put((engine, class_names, tally.truth is not None))
        task = ray.remote(max_retries=3)(score_part)
        pending = [task.remote(state, str(store.directory), str(plan_dir), g, groups[g][0],
                               chunks, str(out / PART.format(g)))
                   for g, chunks in enumerate(plans) if chunks]  # fmt: skip
        engine.worker_peak_mib_ = 0.0
        rows = {ref: sum(b[3] - b[2] for b in chunks) for ref, chunks in
                zip(pending, [c for c in plans if c], strict=True)}  # fmt: skip
        done, total = 0, sum(rows.values())
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            result = ray.get(ready[0])
            done += rows[ready[0]]
            if on_progress is not None:
                on_progress(done, total)
            engine.worker_peak_mib_ = max(engine.worker_peak_mib_, result["peak_mib"])
            tally.merge(0, 0, result["counts"], result["verdicts"], {})
            for lo, hi, values in result["candidates"]:
                tally.merge(lo, hi, {}, {}, values)
    finally:
        if saved:
            shutil.rmtree(plan_dir, ignore_errors=True)
