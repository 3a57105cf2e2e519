"""What the summary needs from every scored chunk, added up chunk by chunk (in one process) or
part by part (from Ray tasks): examples per inferred kind and per verdict and, when the truth
is known, every candidate's value for every scored example (the detection measurements rank
them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from stratigraphy.analysis.evaluation import detection_quality
from stratigraphy.probes.build import ProbedData


def kind_counts(part: pa.Table | pa.RecordBatch) -> tuple[dict[str, int], dict[str, int]]:
    """Examples of one examples-table part (or batch) per ``metadata`` kind and per
    ``verdict``."""
    out: list[dict[str, int]] = []
    for column in ("metadata", "verdict"):
        kinds, n = np.unique(part.column(column).to_numpy(zero_copy_only=False),
                             return_counts=True)  # fmt: skip
        out.append({str(k): int(c) for k, c in zip(kinds.tolist(), n.tolist(), strict=True)})
    return out[0], out[1]


def candidate_values(span: Any, verdicts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``mislabel_score`` and every candidate, placed at the span's examples (NaN where none)."""
    return {
        key.removeprefix("candidate:"): span.place(v, np.nan, np.float32)
        for key, v in verdicts.items()
        if key == "mislabel_score" or key.startswith("candidate:")
    }


@dataclass
class Tally:
    """Counts and candidate values added up over the chunks or parts of one analysis."""

    probed: ProbedData
    truth: np.ndarray | None
    counts: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    candidates: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, span: Any, part: pa.Table, verdicts: dict[str, np.ndarray]) -> None:
        """One scored chunk."""
        counts, by_verdict = kind_counts(part)
        values = candidate_values(span, verdicts) if self.truth is not None else {}
        self.merge(span.lo, span.hi, counts, by_verdict, values)

    def merge(self, lo: int, hi: int, counts: dict[str, int], verdicts: dict[str, int],
              candidates: dict[str, np.ndarray]) -> None:  # fmt: skip
        """The counts of examples [lo, hi) and their candidates' values."""
        for source, target in ((counts, self.counts), (verdicts, self.verdicts)):
            for kind, c in source.items():
                target[kind] = target.get(kind, 0) + c
        size = self.probed.source_labels.size
        for name, values in candidates.items():
            full = self.candidates.setdefault(name, np.full(size, np.nan, np.float32))
            full[lo:hi] = values

    def detection(self) -> dict[str, Any]:
        """Every candidate's detection quality over the examples that have a value."""
        assert self.truth is not None
        scored = np.isfinite(self.candidates["mislabel_score"])
        t = np.asarray(self.truth, dtype=bool)
        return {
            "planted": int(t.sum()),
            "planted_scored": int(t[scored].sum()),
            "scores": {
                n: detection_quality(v[scored], t[scored]) for n, v in self.candidates.items()
            },
        }
