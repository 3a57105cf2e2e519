"""The registry of issue types: each is one module that registers a detector here. The main job
runs every registered detector on the run's representations; each returns per-example columns
(``is_<issue>``, ``<issue>_score``, …) for ``examples.parquet``, a summary for ``summary.json``
and optional tables written beside them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from stratigraphy.core.registry import Registry


@dataclass
class IssueContext:
    """What a detector sees: the examples' representations (N×D), labels and class names, their
    raw inputs (images) or texts where there are any; and, when the user gave a held-out set,
    the same for it."""

    features: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    test_features: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    inputs: np.ndarray | None = None
    test_inputs: np.ndarray | None = None
    space: str = "features"
    texts: list[str] | None = None
    test_texts: list[str] | None = None


@dataclass
class IssueResult:
    """A detector's findings: per-example columns, a JSON-ready summary, named tables."""

    columns: dict[str, np.ndarray]
    summary: dict[str, Any]
    tables: dict[str, pa.Table] = field(default_factory=dict)


@dataclass(frozen=True)
class IssueType:
    """A detector: its name, what it finds, how, and the per-example columns it writes (kept
    when a run is analysed again without recording the representations anew)."""

    name: str
    description: str
    detect: Callable[[IssueContext], IssueResult]
    columns: tuple[str, ...] = ()


ISSUES: Registry[IssueType] = Registry("issue type")


def register_issue(issue: IssueType) -> IssueType:
    return ISSUES.register(issue)


def issue_columns() -> list[str]:
    """Every registered detector's per-example columns."""
    return [c for issue in ISSUES.values() for c in issue.columns]
