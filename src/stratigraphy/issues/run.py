"""The issue types in the main job: representations recorded once, every registered detector
run on them, their tables written beside ``examples.parquet``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from stratigraphy.core.atomic import atomic_write, atomic_write_table
from stratigraphy.data.sources import LabelledData
from stratigraphy.issues import duplicates, outliers  # noqa: F401  (register their issue types)
from stratigraphy.issues.registry import ISSUES, IssueContext, IssueResult
from stratigraphy.record.representations import penultimate_features

REPRESENTATIONS = "representations.npy"
TEST_REPRESENTATIONS = "test_representations.npy"


def detect_issues(ctx: IssueContext, names: list[str] | None = None) -> dict[str, IssueResult]:
    """Run every registered issue type (or those named) on one context."""
    chosen = names if names is not None else list(ISSUES)
    return {name: ISSUES[name].detect(ctx) for name in chosen}


def representations(model: nn.Module, data: LabelledData) -> np.ndarray:
    """Sentence embeddings for texts and encoded features for tables (what the model reads),
    the trained model's penultimate features otherwise; float16."""
    if data.modality in ("text", "tabular"):
        return data.X.reshape(data.n, -1).astype(np.float16)
    return penultimate_features(model, data.X)


def test_labels_in(train: LabelledData, test: LabelledData) -> np.ndarray:
    """The held-out labels as indices of the training classes (by name; -1 if unknown)."""
    position = {name: i for i, name in enumerate(train.class_names)}
    names = np.array(test.class_names, dtype=object)[test.y]
    return np.array([position.get(str(n), -1) for n in names.tolist()], dtype=np.int64)


def find_issues(
    model: nn.Module, data: LabelledData, test: LabelledData | None, out: Path
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Record the representations in ``out``, run every issue type, write their tables; return
    the per-example columns and the ``summary.json`` section."""
    feats = representations(model, data)
    atomic_write(out / REPRESENTATIONS, lambda tmp: np.save(tmp, feats))
    space = {"text": "sentence embeddings", "tabular": "encoded features"}.get(
        data.modality, "the model's penultimate features"
    )
    texts = data.captions if data.modality == "text" else None
    ctx = IssueContext(feats.astype(np.float32), data.y, data.class_names, inputs=data.X,
                       space=space, texts=texts)  # fmt: skip
    if test is not None:
        test_feats = representations(model, test)
        atomic_write(out / TEST_REPRESENTATIONS, lambda tmp: np.save(tmp, test_feats))
        ctx.test_features = test_feats.astype(np.float32)
        ctx.test_labels = test_labels_in(data, test)
        ctx.test_inputs = test.X
        ctx.test_texts = test.captions if texts is not None else None
    columns: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {}
    for name, result in detect_issues(ctx).items():
        columns.update(result.columns)
        summary[name] = result.summary
        for table_name, table in result.tables.items():
            atomic_write_table(out / f"{table_name}.parquet", table)
    return columns, summary
