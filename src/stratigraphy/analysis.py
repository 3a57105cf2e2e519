"""From recorded dynamics to a verdict per example: scores, metadata, mislabel score, labels.

This is the step after training, shared by the main job and by users who recorded their own
loop: :func:`analyze` takes the N×E signals and the probe bookkeeping and returns one row per
original example plus the held-out measurements that back it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .evaluation import detection_quality
from .inference import MetadataInference, infer_metadata
from .mislabel import choose_mislabel_score, mislabel_candidates, suggest_labels
from .probes import ProbedData
from .scores import compute_scores

UNSCORED = "unscored"


@dataclass
class Analysis:
    """``examples``: one row per original example (the ``examples.parquet`` table);
    ``summary``: counts, held-out probe accuracy, the chosen mislabel score and, when the truth
    is known, detection quality of every score."""

    examples: pa.Table
    summary: dict[str, Any]
    inference: MetadataInference

    def to_pandas(self) -> Any:
        return self.examples.to_pandas()


def _per_example(probed: ProbedData, a: np.ndarray, fill: Any = np.nan) -> np.ndarray:
    """Map a per-training-row array to original examples; consumed sources get ``fill``."""
    row = probed.example_row
    return np.where(row >= 0, a[np.where(row >= 0, row, 0)], fill)


def analyze(
    signals: dict[str, np.ndarray],
    probed: ProbedData,
    class_names: list[str] | None = None,
    truth: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    k: int = 20,
    seed: int = 0,
) -> Analysis:
    """Scores and inferred metadata of every original example from its recorded trajectories.

    ``signals`` are N×E arrays over the training rows of ``probed`` (from
    :meth:`DynamicsRecorder.arrays` or :meth:`DynamicsStore.read_all`). ``truth`` (a boolean
    mask of known label errors over the original examples) adds detection quality.
    """
    n_train = probed.X.shape[0]
    if signals["loss"].shape[0] != n_train:
        raise ValueError(
            f"signals cover {signals['loss'].shape[0]} rows but the probed training set has "
            f"{n_train}; record the dataset built by build_probes()."
        )
    n_classes = int(max(probed.y.max() + 1, len(class_names or [])))
    given = probed.source_labels
    scores = compute_scores(signals, probed.y)
    suite_names = np.asarray(probed.probes.column("suite").to_pylist())
    probe_rows = probed.probe_rows
    heldout = ~probed.is_fit()
    inference = infer_metadata(
        signals, probed.y, probe_rows, probed.suite_ids(), probed.is_fit(), probed.suites, k, seed
    )
    p_mis = {}
    if "mislabeled" in probed.suites:
        j = probed.suites.index("mislabeled")
        p_mis = {m: p[:, j] for m, p in inference.proba_by_method.items()}
    candidates = mislabel_candidates(scores, p_mis)
    chosen, candidate_ap = choose_mislabel_score(candidates, probe_rows, suite_names, heldout)
    flagged = inference.metadata == "mislabeled"
    suggested = suggest_labels(probed.y, signals["pred"], flagged, n_classes)

    probe_suite = np.full(given.size, None, dtype=object)
    src = probed.probes.column("source").to_numpy()
    has_src = src >= 0
    probe_suite[src[has_src]] = suite_names[has_src]
    names = np.asarray(class_names or [str(c) for c in range(n_classes)], dtype=object)
    cols: dict[str, Any] = {
        "index": np.arange(given.size, dtype=np.int64),
        "label": given,
        "label_name": names[given].tolist(),
        "row": probed.example_row,
        "probe_suite": probe_suite.tolist(),
        "metadata": _per_example(probed, inference.metadata, UNSCORED).tolist(),
        "confidence": _per_example(probed, inference.confidence).astype(np.float32),
    }
    for j, s in enumerate(inference.suites):
        cols[f"p_{s}"] = _per_example(probed, inference.proba[:, j]).astype(np.float32)
    cols["typicality"] = probed.typicality.score
    cols["neighbour_label"] = probed.typicality.neighbour_label
    cols["neighbour_share"] = probed.typicality.neighbour_share
    for name, v in scores.items():
        cols[name] = _per_example(probed, v).astype(np.float32)
    cols["mislabel_score"] = _per_example(probed, candidates[chosen]).astype(np.float32)
    cols["suggested_label"] = _per_example(probed, suggested, -1).astype(np.int64)
    if truth is not None:
        cols["planted_error"] = np.asarray(truth, dtype=bool)
    if true_labels is not None:
        cols["true_label"] = np.asarray(true_labels, dtype=np.int64)
    examples = pa.table(cols)

    kinds, counts = np.unique(np.asarray(cols["metadata"]), return_counts=True)
    summary: dict[str, Any] = {
        "n_examples": int(given.size),
        "n_scored": int((probed.example_row >= 0).sum()),
        "counts": {str(kd): int(c) for kd, c in zip(kinds, counts, strict=True)},
        "inference": {
            "method": inference.method,
            "k": k,
            "suites": probed.suites,
            "heldout": {m: r.to_dict() for m, r in inference.heldout.items()},
        },
        "mislabel_score": {"chosen": chosen, "heldout_ap": candidate_ap},
    }
    if truth is not None:
        scored = probed.example_row >= 0
        t = np.asarray(truth, dtype=bool)[scored]
        rows = probed.example_row[scored]
        quality = {"mislabel_score": detection_quality(candidates[chosen][rows], t)}
        quality.update({name: detection_quality(v[rows], t) for name, v in candidates.items()})
        summary["detection"] = {
            "planted": int(np.sum(truth)),
            "planted_scored": int(t.sum()),
            "scores": quality,
        }
    return Analysis(examples, summary, inference)
