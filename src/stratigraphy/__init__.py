"""stratigraphy: what each example of a labelled dataset really is, from its learning dynamics.

The names below are the public API; each is imported from its module on first use, so
``import stratigraphy`` stays light (no torch, matplotlib or web server until needed) and has no
process-wide side effect.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from stratigraphy.core.errors import (
    ConfigError,
    DataValidationError,
    ProbeBudgetError,
    RunDirectoryError,
    StratigraphyError,
)

__version__ = "0.1.0"

_LAZY = {
    # the main job
    "run": "stratigraphy.job",
    "RunResult": "stratigraphy.job",
    "RunConfig": "stratigraphy.config",
    # data
    "LabelledData": "stratigraphy.data.sources",
    "SourceOptions": "stratigraphy.data.sources",
    "load_source": "stratigraphy.data.sources",
    "load_digits_data": "stratigraphy.data.sources",
    "load_fashion_mnist": "stratigraphy.data.sources",
    "DataSpec": "stratigraphy.data.spec",
    "PlantSpec": "stratigraphy.data.planting",
    "plant": "stratigraphy.data.planting",
    "plant_label_noise": "stratigraphy.data.noise",
    # probes
    "ProbeConfig": "stratigraphy.probes.build",
    "ProbedData": "stratigraphy.probes.build",
    "build_probes": "stratigraphy.probes.build",
    "ProbedDataset": "stratigraphy.probes.dataset",
    "save_plan": "stratigraphy.probes.plan_file",
    "open_plan": "stratigraphy.probes.plan_file",
    "Suite": "stratigraphy.probes.suites",
    "register_suite": "stratigraphy.probes.suites",
    # recording
    "DynamicsRecorder": "stratigraphy.record.recorder",
    "IndexedDataset": "stratigraphy.record.recorder",
    "DynamicsStore": "stratigraphy.record.store",
    "record_estimator": "stratigraphy.record.estimators",
    # analysis
    "Analysis": "stratigraphy.analysis.engine",
    "AnalysisEngine": "stratigraphy.analysis.engine",
    "InferenceConfig": "stratigraphy.analysis.engine",
    "analyze": "stratigraphy.analysis.engine",
    "analyze_store": "stratigraphy.analysis.engine",
    "Score": "stratigraphy.analysis.scores",
    "register_score": "stratigraphy.analysis.scores",
    "compute_scores": "stratigraphy.analysis.scores",
    "detection_quality": "stratigraphy.analysis.evaluation",
    # actions
    "plan_fixes": "stratigraphy.curate.fixes",
    "prune_run": "stratigraphy.curate.pruning",
    "PruningSampler": "stratigraphy.curate.sampling",
    "select_batch": "stratigraphy.curate.sampling",
    "bootstrap_loss": "stratigraphy.curate.bootstrap",
}

__all__ = [
    "ConfigError",
    "DataValidationError",
    "ProbeBudgetError",
    "RunDirectoryError",
    "StratigraphyError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stratigraphy' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from stratigraphy.analysis.engine import (
        Analysis,
        AnalysisEngine,
        InferenceConfig,
        analyze,
        analyze_store,
    )
    from stratigraphy.analysis.evaluation import detection_quality
    from stratigraphy.analysis.scores import Score, compute_scores, register_score
    from stratigraphy.config import RunConfig
    from stratigraphy.curate.bootstrap import bootstrap_loss
    from stratigraphy.curate.fixes import plan_fixes
    from stratigraphy.curate.pruning import prune_run
    from stratigraphy.curate.sampling import PruningSampler, select_batch
    from stratigraphy.data.noise import plant_label_noise
    from stratigraphy.data.planting import PlantSpec, plant
    from stratigraphy.data.sources import (
        LabelledData,
        SourceOptions,
        load_digits_data,
        load_fashion_mnist,
        load_source,
    )
    from stratigraphy.data.spec import DataSpec
    from stratigraphy.job import RunResult, run
    from stratigraphy.probes.build import ProbeConfig, ProbedData, build_probes
    from stratigraphy.probes.dataset import ProbedDataset
    from stratigraphy.probes.suites import Suite, register_suite
    from stratigraphy.record.estimators import record_estimator
    from stratigraphy.record.recorder import DynamicsRecorder, IndexedDataset
    from stratigraphy.record.store import DynamicsStore
