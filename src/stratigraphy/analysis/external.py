"""Dynamics from a model the user already trained, in two forms: per-epoch logits or
probabilities saved by any framework (one N×C array per epoch), turned into the same per-example
signals the recorder keeps (loss, margin, probability of the given label, EL2N, prediction;
float16); or saved checkpoints replayed over the dataset (:mod:`stratigraphy.record.checkpoints`).
Without probes there are no kinds or flags: ``mislabel_score`` is the rank average of the mean
loss and −AUM, the two signals the engine falls back to (docs/benchmarks.md compares them with
the probe-based ranking). When the dataset is a ``ProbedDataset``, the checkpoint path runs the
full analysis (kinds, prevalence, flags) as ``strat run`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from stratigraphy.analysis.engine import analyze_store
from stratigraphy.analysis.mislabel import FALLBACK_SCORE, PAIRED_SCORE, RankReference
from stratigraphy.analysis.reasons import other_prediction
from stratigraphy.analysis.scores import compute_scores
from stratigraphy.core.atomic import atomic_write_table
from stratigraphy.core.errors import DataValidationError
from stratigraphy.record.checkpoints import Checkpoint, record_checkpoints
from stratigraphy.record.passes import dataset_labels
from stratigraphy.record.recorder import signals_from_logits
from stratigraphy.rundir.layout import EXAMPLES_PARQUET, SUMMARY_JSON, write_json

DYNAMICS_DIR = "dynamics"

PROBABILITY_TOLERANCE = 1e-3


def read_epoch_arrays(paths: Sequence[str | Path]) -> list[np.ndarray]:
    """One N×C array per epoch from ``.npy`` files (or the first array of each ``.npz``), in the
    order given; a single file holding an E×N×C array gives every epoch."""
    arrays: list[np.ndarray] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise DataValidationError(f"{path}: no such file of per-epoch outputs.")
        try:
            loaded = np.load(path, allow_pickle=False)
            value = loaded[loaded.files[0]] if isinstance(loaded, np.lib.npyio.NpzFile) else loaded
        except (ValueError, OSError) as exc:
            raise DataValidationError(f"{path}: not a plain numpy array ({exc}).") from exc
        arrays.extend(list(value) if value.ndim == 3 else [value])
    return arrays


def _is_probability(a: np.ndarray) -> bool:
    return bool((a >= 0).all() and np.abs(a.sum(1) - 1.0).max() <= PROBABILITY_TOLERANCE)


def signals_from_epochs(epochs: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """N×E signals from E arrays of N×C logits (or probabilities, recognised by rows that are
    non-negative and sum to one), as the recorder stores them."""
    labels = np.asarray(labels)
    if len(epochs) < 2:
        raise DataValidationError("Dynamics need at least 2 epochs of outputs; got "
                                  f"{len(epochs)}.")  # fmt: skip
    shape = np.asarray(epochs[0]).shape
    if len(shape) != 2 or shape[0] != labels.size:
        raise DataValidationError(f"Each epoch must be an N×C array with N = {labels.size} "
                                  f"labels; the first is {shape}.")  # fmt: skip
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= shape[1]:
        raise DataValidationError(f"Labels must be integers in 0..{shape[1] - 1} (C = {shape[1]} "
                                  "outputs per example).")  # fmt: skip
    y = torch.from_numpy(labels.astype(np.int64))
    per_epoch = []
    for e, raw in enumerate(epochs):
        a = np.asarray(raw, dtype=np.float32)
        if a.shape != shape or not np.isfinite(a).all():
            raise DataValidationError(f"Epoch {e}: shape {a.shape} (expected {shape}) or "
                                      "non-finite values.")  # fmt: skip
        logits = np.log(np.maximum(a, 1e-12)) if _is_probability(a) else a
        per_epoch.append(signals_from_logits(torch.from_numpy(logits), y))
    out = {k: torch.stack([s[k] for s in per_epoch], 1).numpy() for k in per_epoch[0]}
    return {k: v if k == "pred" else v.astype(np.float16) for k, v in out.items()}


def analyze_outputs(
    signals: dict[str, np.ndarray],
    labels: np.ndarray,
    class_names: list[str] | None = None,
    out: str | Path | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """The examples table (classic scores, ``mislabel_score``, the class the model predicted
    instead) and a summary; with ``out``, both are written there."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = compute_scores(signals, labels)
    values = {FALLBACK_SCORE: scores[FALLBACK_SCORE], PAIRED_SCORE: -scores[PAIRED_SCORE]}
    ranks = RankReference.fit(values)
    mislabel = 0.5 * (ranks.rank(FALLBACK_SCORE, values[FALLBACK_SCORE])
                      + ranks.rank(PAIRED_SCORE, values[PAIRED_SCORE]))  # fmt: skip
    n_classes = int(max(labels.max(), signals["pred"].max())) + 1
    other = other_prediction(labels, signals["pred"], n_classes)
    alt, count = other.alt, other.times
    epochs = signals["pred"].shape[1]
    table = pa.table({
        "index": np.arange(labels.size), "label": labels, **scores,
        "mislabel_score": mislabel.astype(np.float32),
        "suggested_label": np.where(count > 0, alt, labels),
        "suggested_confidence": other.confidence().astype(np.float32),
    })  # fmt: skip
    summary = {"source": "saved outputs", "n_examples": int(labels.size), "epochs": epochs,
               "class_names": class_names or [str(c) for c in range(n_classes)],
               "mislabel_score": f"rank average of {FALLBACK_SCORE} and -{PAIRED_SCORE}",
               "scores": sorted(scores)}  # fmt: skip
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_table(path / EXAMPLES_PARQUET, table)
        write_json(path / SUMMARY_JSON, summary)
    return table, summary


def analyze_checkpoints(
    checkpoints: Sequence[Checkpoint],
    dataset: Any,
    model_factory: Callable[[], torch.nn.Module],
    out: str | Path,
    class_names: list[str] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[pa.Table, dict[str, Any]]:
    """Replay ``checkpoints`` (one epoch each, in order) over ``dataset`` into ``out/dynamics``
    and analyse them: the full analysis when ``dataset`` carries a probe ``plan``
    (``ProbedDataset``), else the classic scores and mislabel ranking of :func:`analyze_outputs`."""
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    signals = record_checkpoints(
        checkpoints, dataset, model_factory, batch_size=batch_size, device=device,
        store=path / DYNAMICS_DIR, progress=progress,
    )  # fmt: skip
    plan = getattr(dataset, "plan", None)
    if plan is None:
        table, summary = analyze_outputs(signals, dataset_labels(dataset), class_names, path)
        summary["source"] = "checkpoints"
        write_json(path / SUMMARY_JSON, summary)
        return table, summary
    analysis = analyze_store(path / DYNAMICS_DIR, plan, class_names, path / EXAMPLES_PARQUET)
    summary = {"source": "checkpoints", **analysis.summary}
    write_json(path / SUMMARY_JSON, summary)
    return analysis.examples, summary
