"""The one analysis engine: from recorded dynamics to a verdict per example.

The engine is fitted once on the probe rows of a signal source (every inferer, its held-out
report, the choice of inferer and of ``mislabel_score``), then scores every chunk of rows
through one function, writes the examples table through one sink a chunk at a time, and builds
the summary in one place. Everything it computes per row depends
on that row alone, so the in-memory path (one chunk) and the store path (many) give the same
table; memory is bounded by the chunk, not by N.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stratigraphy.analysis.evaluation import detection_quality
from stratigraphy.analysis.inference import INFERERS, HeldoutReport, Inferer, heldout_report
from stratigraphy.analysis.mislabel import (
    RankReference,
    choose_mislabel_score,
    mislabel_candidates,
    rank_inputs,
    reference_rows,
    suggest_labels,
)
from stratigraphy.analysis.scores import compute_scores
from stratigraphy.analysis.sources import ArraySource, Signals, SignalSource
from stratigraphy.core.atomic import RowGroupWriter
from stratigraphy.core.errors import ConfigError, DataValidationError
from stratigraphy.probes.build import ProbedData
from stratigraphy.probes.suites import UNSCORED, suite_info
from stratigraphy.record.store import ROW_GROUP, DynamicsStore


@dataclass
class InferenceConfig:
    """How verdicts are inferred: kNN's ``k``, the seed, the inferers to try, rows per chunk."""

    k: int = 20
    seed: int = 0
    methods: tuple[str, ...] = tuple(INFERERS)
    chunk_rows: int = ROW_GROUP

    def validate(self) -> None:
        if self.k < 1:
            raise ConfigError(f"--k must be at least 1; got {self.k}.")
        unknown = [m for m in self.methods if m not in INFERERS]
        if unknown or not self.methods:
            raise ConfigError(f"inferers must be among {tuple(INFERERS)}; got {self.methods}.")
        if self.chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be at least 1; got {self.chunk_rows}.")


@dataclass
class Analysis:
    """``summary``: counts, held-out probe accuracy, the chosen mislabel score and, when the truth
    is known, detection quality of every candidate; ``examples``: one row per original example
    (the ``examples.parquet`` table, read from ``path`` when it was written there)."""

    summary: dict[str, Any]
    engine: AnalysisEngine
    path: Path | None = None
    _examples: pa.Table | None = None

    @property
    def examples(self) -> pa.Table:
        if self._examples is None:
            assert self.path is not None
            self._examples = pq.read_table(self.path)
        return self._examples

    def to_pandas(self) -> Any:
        return self.examples.to_pandas()


class _MemorySink:
    """Collects the examples table in memory (the other sink is a Parquet row-group writer)."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.parts.append(table)

    def table(self) -> pa.Table:
        return pa.concat_tables(self.parts)


class AnalysisEngine:
    """Fit once on the probes with :meth:`fit`; :meth:`score` any rows; :meth:`run` writes the
    examples table and returns the summary."""

    def __init__(self, config: InferenceConfig | None = None) -> None:
        self.config = config or InferenceConfig()

    def fit(self, source: SignalSource, probed: ProbedData) -> AnalysisEngine:
        """Fit every inferer on the fitting probes, measure each on the held-out probes, keep the
        best, and choose ``mislabel_score`` on the held-out probes."""
        self.config.validate()
        self.suites_ = list(probed.suites)
        self.n_classes_ = int(probed.y.max()) + 1
        rows, suite_ids, is_fit = probed.probe_rows, probed.suite_ids(), probed.is_fit()
        reference = reference_rows(int(probed.y.size), self.config.seed)
        needed = np.union1d(rows, reference)
        sig_all = source.read_rows(needed)
        sig = {k: v[np.searchsorted(needed, rows)] for k, v in sig_all.items()}
        labels = probed.y[rows]
        fit_sig = {k: v[is_fit] for k, v in sig.items()}
        self.inferers_: dict[str, Inferer] = {}
        for name in self.config.methods:
            inferer = INFERERS[name](self.config.k, self.config.seed)
            self.inferers_[name] = inferer.fit(
                fit_sig, labels[is_fit], rows[is_fit], suite_ids[is_fit], len(self.suites_)
            )
        proba = self.suite_proba(sig, labels, rows)
        self.heldout_: dict[str, HeldoutReport] = {
            m: heldout_report(self.suites_, suite_ids[~is_fit], p[~is_fit])
            for m, p in proba.items()
        }
        self.method_ = max(self.heldout_, key=lambda m: (self.heldout_[m].accuracy, m == "knn"))
        self.ranks_ = self._rank_reference(
            {k: v[np.searchsorted(needed, reference)] for k, v in sig_all.items()},
            reference,
            probed,
        )
        names = np.asarray(self.suites_, dtype=object)[suite_ids]
        candidates = mislabel_candidates(
            compute_scores(sig, labels), self._p_mislabeled(proba), self.ranks_
        )
        self.chosen_, self.candidate_ap_ = choose_mislabel_score(
            candidates, np.arange(rows.size), names, ~is_fit
        )
        return self

    def _rank_reference(self, sig: Signals, rows: np.ndarray, probed: ProbedData) -> RankReference:
        labels = probed.y[rows]
        p_mis = self._p_mislabeled(self.suite_proba(sig, labels, rows))
        return RankReference.fit(rank_inputs(compute_scores(sig, labels), p_mis))

    def suite_proba(self, sig: Signals, labels: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
        """Every inferer's suite probabilities for these training rows."""
        return {m: inf.predict_proba(sig, labels, rows) for m, inf in self.inferers_.items()}

    def _p_mislabeled(self, proba: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wrong = [j for j, s in enumerate(self.suites_) if suite_info(s).label_wrong]
        return {m: p[:, wrong[0]] for m, p in proba.items()} if wrong else {}

    def score(self, start: int, sig: Signals, labels: np.ndarray) -> dict[str, np.ndarray]:
        """Verdict, suite probabilities, every score, every mislabel candidate and the suggested
        label of the training rows ``start, start + 1, …`` — each a function of its row alone."""
        rows = np.arange(start, start + labels.size)
        proba = self.suite_proba(sig, labels, rows)
        best = proba[self.method_]
        scores = compute_scores(sig, labels)
        candidates = mislabel_candidates(scores, self._p_mislabeled(proba), self.ranks_)
        metadata = np.asarray(self.suites_, dtype=object)[best.argmax(1)]
        out: dict[str, np.ndarray] = {"metadata": metadata, "confidence": best.max(1)}
        out.update({f"p_{s}": best[:, j] for j, s in enumerate(self.suites_)})
        out.update(scores)
        out["mislabel_score"] = candidates[self.chosen_]
        flagged = np.isin(metadata, [s for s in self.suites_ if suite_info(s).label_wrong])
        out["suggested_label"] = suggest_labels(labels, sig["pred"], flagged, self.n_classes_)
        out.update({f"candidate:{k}": v for k, v in candidates.items()})
        return out

    def run(
        self,
        source: SignalSource,
        probed: ProbedData,
        sink: Any,
        class_names: list[str] | None = None,
        truth: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Score every row of ``source`` a chunk at a time, write one examples table per chunk to
        ``sink`` (anything with ``write(table)``) and return the summary."""
        names = list(class_names or [str(c) for c in range(self.n_classes_)])
        table = _ExampleTable(probed, names, self.suites_, extra or {})
        tally = _Tally(probed, truth)
        for span in table.spans(source, self.config.chunk_rows):
            verdicts = self.score(span.start, span.signals, probed.y[span.start : span.stop])
            part = table.part(span, verdicts)
            tally.add(span, part, verdicts)
            sink.write(part)
        return self._summary(probed, tally)

    def _summary(self, probed: ProbedData, tally: _Tally) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "n_examples": int(probed.source_labels.size),
            "n_scored": int((probed.example_row >= 0).sum()),
            "counts": dict(sorted(tally.counts.items())),
            "inference": {
                "method": self.method_,
                "k": self.config.k,
                "suites": self.suites_,
                "heldout": {m: r.to_dict() for m, r in self.heldout_.items()},
            },
            "mislabel_score": {"chosen": self.chosen_, "heldout_ap": self.candidate_ap_},
        }
        if tally.truth is not None:
            summary["detection"] = tally.detection()
        return summary


@dataclass
class _Tally:
    """What the summary needs from every chunk: counts per verdict and, when the truth is known,
    every candidate's value for every scored example (the detection measurements rank them)."""

    probed: ProbedData
    truth: np.ndarray | None
    counts: dict[str, int] = field(default_factory=dict)
    candidates: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, span: _Span, part: pa.Table, verdicts: dict[str, np.ndarray]) -> None:
        kinds, n = np.unique(part.column("metadata").to_numpy(zero_copy_only=False),
                             return_counts=True)  # fmt: skip
        for kind, c in zip(kinds.tolist(), n.tolist(), strict=True):
            self.counts[str(kind)] = self.counts.get(str(kind), 0) + int(c)
        if self.truth is None:
            return
        for key, v in verdicts.items():
            if key == "mislabel_score" or key.startswith("candidate:"):
                name = key.removeprefix("candidate:")
                size = self.probed.source_labels.size
                full = self.candidates.setdefault(name, np.full(size, np.nan, np.float32))
                full[span.lo : span.hi] = span.place(v, np.nan, np.float32)

    def detection(self) -> dict[str, Any]:
        assert self.truth is not None
        scored = self.probed.example_row >= 0
        t = np.asarray(self.truth, dtype=bool)
        return {
            "planted": int(t.sum()),
            "planted_scored": int(t[scored].sum()),
            "scores": {
                n: detection_quality(v[scored], t[scored]) for n, v in self.candidates.items()
            },
        }


@dataclass
class _Span:
    """Training rows [start, stop) of one chunk and the examples [lo, hi) they cover; ``rows``
    holds each of those examples' training row (-1 for a consumed probe source)."""

    lo: int
    hi: int
    start: int
    stop: int
    signals: Signals
    rows: np.ndarray

    def place(self, values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        """Per-row values of the chunk at their examples; ``fill`` for consumed ones."""
        out = np.full(self.hi - self.lo, fill, dtype=dtype)
        kept = self.rows >= 0
        out[kept] = np.asarray(values)[self.rows[kept] - self.start]
        return out


class _ExampleTable:
    """Maps chunks of training rows onto the original examples, in index order: kept examples
    are the first training rows, in their original order, so each chunk covers one span of
    examples; examples consumed as probe sources in between are ``unscored``."""

    def __init__(self, probed: ProbedData, names: list[str], suites: list[str],
                 extra: dict[str, Any]) -> None:  # fmt: skip
        self.probed, self.suites, self.extra = probed, suites, extra
        self.names = np.asarray(names, dtype=object)
        n = probed.source_labels.size
        suite_names = np.asarray(probed.probes.column("suite").to_pylist(), dtype=object)
        src = probed.probes.column("source").to_numpy()
        self.probe_suite = np.full(n, None, dtype=object)
        self.probe_suite[src[src >= 0]] = suite_names[src >= 0]
        self.n_kept = int((probed.example_row >= 0).sum())
        self.origin = probed.origin

    def spans(self, source: SignalSource, chunk_rows: int) -> Iterator[_Span]:
        """Each chunk of real rows with the span of examples [lo, hi) it covers."""
        n, lo = self.probed.source_labels.size, 0
        for start, sig in source.iter_chunks(chunk_rows):
            stop = min(start + sig["loss"].shape[0], self.n_kept)
            if stop <= start:
                continue
            hi = n if stop == self.n_kept else int(self.origin[stop - 1]) + 1
            signals = {k: v[: stop - start] for k, v in sig.items()}
            yield _Span(lo, hi, start, stop, signals, self.probed.example_row[lo:hi])
            lo = hi

    def part(self, span: _Span, v: dict[str, np.ndarray]) -> pa.Table:
        """The examples table of one span."""
        p, typ, lo, hi, place = self.probed, self.probed.typicality, span.lo, span.hi, span.place
        given = p.source_labels[lo:hi]
        cols: dict[str, Any] = {
            "index": np.arange(lo, hi, dtype=np.int64),
            "label": given,
            "label_name": self.names[given].tolist(),
            "row": p.example_row[lo:hi],
            "probe_suite": self.probe_suite[lo:hi].tolist(),
            "metadata": place(v["metadata"], UNSCORED, object).tolist(),
            "confidence": place(v["confidence"], np.nan, np.float32),
        }
        for s in self.suites:
            cols[f"p_{s}"] = place(v[f"p_{s}"], np.nan, np.float32)
        cols["typicality"] = typ.score[lo:hi]
        cols["neighbour_label"] = typ.neighbour_label[lo:hi]
        cols["neighbour_share"] = typ.neighbour_share[lo:hi]
        skip = {"metadata", "confidence", "suggested_label", *(f"p_{s}" for s in self.suites)}
        for name, values in v.items():
            if name not in skip and not name.startswith("candidate:"):
                cols[name] = place(values, np.nan, np.float32)
        cols["suggested_label"] = place(v["suggested_label"], -1, np.int64)
        for name, values in self.extra.items():
            cols[name] = list(values[lo:hi]) if isinstance(values, list) else values[lo:hi]
        return pa.table(cols)


def analyze_source(
    source: SignalSource,
    probed: ProbedData,
    class_names: list[str] | None = None,
    out: str | Path | None = None,
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    config: InferenceConfig | None = None,
) -> Analysis:
    """Fit the engine on ``source``'s probes and score all its rows; with ``out``, the examples
    table is written there (Parquet, one row group per chunk, atomically), else kept in memory.
    ``truth`` (a boolean mask of known label errors) adds detection quality; ``extra`` holds
    further per-example columns (planted kind, captions)."""
    columns: dict[str, Any] = {}
    if truth is not None:
        columns["planted_error"] = np.asarray(truth, dtype=bool)
    if true_labels is not None:
        columns["true_label"] = np.asarray(true_labels, dtype=np.int64)
    columns.update(extra or {})
    engine = AnalysisEngine(config).fit(source, probed)
    if out is None:
        sink = _MemorySink()
        summary = engine.run(source, probed, sink, class_names, truth, columns)
        return Analysis(summary, engine, _examples=sink.table())
    path = Path(out)
    with RowGroupWriter(path, engine.config.chunk_rows) as writer:
        summary = engine.run(source, probed, writer, class_names, truth, columns)
    return Analysis(summary, engine, path)


def analyze(
    signals: Signals,
    probed: ProbedData,
    class_names: list[str] | None = None,
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    k: int = 20,
    seed: int = 0,
) -> Analysis:
    """Scores and inferred metadata of every original example from N×E signals in memory (from
    :meth:`DynamicsRecorder.arrays` or :meth:`DynamicsStore.read_all`), as one chunk."""
    n_train = probed.X.shape[0]
    if signals["loss"].shape[0] != n_train:
        raise DataValidationError(
            f"signals cover {signals['loss'].shape[0]} rows but the probed training set has "
            f"{n_train}; record the dataset built by build_probes()."
        )
    config = InferenceConfig(k=k, seed=seed, chunk_rows=max(n_train, 1))
    return analyze_source(ArraySource(signals), probed, class_names, None, truth, true_labels,
                          config=config)  # fmt: skip


def analyze_store(
    store: DynamicsStore | str | Path,
    probed: ProbedData,
    class_names: list[str] | None = None,
    out: str | Path = "examples.parquet",
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    config: InferenceConfig | None = None,
) -> Analysis:
    """:func:`analyze` for runs whose signals do not fit in memory: rows stream from the store
    a chunk at a time and the examples table is written to ``out`` a row group at a time."""
    store = store if isinstance(store, DynamicsStore) else DynamicsStore(store)
    return analyze_source(store, probed, class_names, out, truth, true_labels, extra, config)
