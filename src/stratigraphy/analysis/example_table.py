"""The examples table, a chunk at a time: which original examples a chunk of training rows
covers, and the table rows of those examples (shared by the single-process and Ray engines)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from stratigraphy.analysis.sources import Signals, SignalSource
from stratigraphy.probes.build import ProbedData
from stratigraphy.probes.suites import UNSCORED


@dataclass
class Span:
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


class ExampleTable:
    """Maps chunks of training rows onto the original examples, in index order: kept examples
    are the first training rows, in their original order, so each chunk covers one span of
    examples; examples consumed as probe sources in between are ``unscored``."""

    def __init__(self, probed: ProbedData, names: list[str], suites: list[str],
                 extra: dict[str, Any]) -> None:  # fmt: skip
        self.probed, self.suites, self.extra = probed, suites, extra
        self.names = np.asarray(names, dtype=object)
        suite_names = np.asarray(probed.probes.column("suite").to_pylist(), dtype=object)
        src = probed.probes.column("source").to_numpy()
        order = np.argsort(src, kind="stable")
        order = order[src[order] >= 0]
        self.sources, self.source_suite = src[order], suite_names[order]
        self.n_kept = probed.n_kept
        self.origin = probed.origin

    def spans(self, source: SignalSource, chunk_rows: int) -> Iterator[Span]:
        """Each chunk of real rows with the span of examples [lo, hi) it covers."""
        lo = 0
        for start, sig in source.iter_chunks(chunk_rows):
            bounds = self.bounds(lo, start, start + sig["loss"].shape[0])
            if bounds is None:
                continue
            yield self.span(bounds, {k: v[: bounds[3] - start] for k, v in sig.items()})
            lo = bounds[1]

    def bounds(self, lo: int, start: int, end: int) -> tuple[int, int, int, int] | None:
        """``(lo, hi, start, stop)`` of the chunk of training rows [start, end) whose examples
        begin at ``lo``: its real rows [start, stop) and the examples [lo, hi) they cover (None
        when the chunk holds probes only)."""
        stop = min(end, self.n_kept)
        if stop <= start:
            return None
        n = self.probed.source_labels.size
        return lo, n if stop == self.n_kept else int(self.origin[stop - 1]) + 1, start, stop

    def span(self, bounds: tuple[int, int, int, int], signals: Signals) -> Span:
        lo, hi, start, stop = bounds
        return Span(lo, hi, start, stop, signals, self.probed.example_row[lo:hi])

    def probe_suites(self, lo: int, hi: int) -> np.ndarray:
        """The suite each of examples [lo, hi) was a probe source for (None for the others)."""
        out = np.full(hi - lo, None, dtype=object)
        a, b = np.searchsorted(self.sources, [lo, hi])
        out[self.sources[a:b] - lo] = self.source_suite[a:b]
        return out

    def part(self, span: Span, v: dict[str, np.ndarray]) -> pa.Table:
        """The examples table of one span."""
        p, typ, lo, hi, place = self.probed, self.probed.typicality, span.lo, span.hi, span.place
        given = p.source_labels[lo:hi]
        cols: dict[str, Any] = {
            "index": np.arange(lo, hi, dtype=np.int64),
            "label": given,
            "label_name": self.names[given].tolist(),
            "row": p.example_row[lo:hi],
            "probe_suite": pa.array(self.probe_suites(lo, hi).tolist(), pa.string()),
            "verdict": place(v["verdict"], UNSCORED, object).tolist(),
            "flagged": place(v["flagged"], False, bool),
            "q_value": place(v["q_value"], np.nan, np.float32),
            "reason": place(v["reason"], "", object).tolist(),
            "metadata": place(v["metadata"], UNSCORED, object).tolist(),
            "confidence": place(v["confidence"], np.nan, np.float32),
        }
        for s in self.suites:
            cols[f"p_{s}"] = place(v[f"p_{s}"], np.nan, np.float32)
        cols["typicality"] = typ.score[lo:hi]
        cols["neighbour_label"] = typ.neighbour_label[lo:hi]
        cols["neighbour_share"] = typ.neighbour_share[lo:hi]
        skip = {*cols, "suggested_label", "suggested_confidence", *(f"p_{s}" for s in self.suites)}
        for name, values in v.items():
            if name not in skip and not name.startswith("candidate:"):
                cols[name] = place(values, np.nan, np.float32)
        cols["suggested_label"] = place(v["suggested_label"], -1, np.int64)
        cols["suggested_confidence"] = place(v["suggested_confidence"], np.nan, np.float32)
        for name, values in self.extra.items():
            cols[name] = list(values[lo:hi]) if isinstance(values, list) else values[lo:hi]
        return pa.table(cols)
