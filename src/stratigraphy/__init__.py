"""stratigraphy: what each example of a labelled dataset really is, from its learning dynamics."""

from .analysis import Analysis, analyze
from .chunked_analysis import analyze_store
from .data import (
    LabelledData,
    SourceOptions,
    load_digits_data,
    load_fashion_mnist,
    load_idx_dir,
    load_npz,
    load_source,
)
from .errors import (
    ConfigError,
    DataValidationError,
    ProbeBudgetError,
    RunDirectoryError,
    StratigraphyError,
)
from .evaluation import detection_quality
from .inference import MetadataInference, infer_metadata
from .job import RunConfig, RunResult, run
from .mislabel import choose_mislabel_score, mislabel_candidates, suggest_labels
from .noise import plant_label_noise
from .planting import Planted, PlantSpec, plant
from .probe_dataset import ProbedDataset
from .probes import BUILTIN_SUITES, ProbeConfig, ProbedData, build_probes
from .recorder import DynamicsRecorder, IndexedDataset
from .scores import compute_scores
from .sklearn_dynamics import record_estimator
from .store import DynamicsStore

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "analyze",
    "analyze_store",
    "BUILTIN_SUITES",
    "ConfigError",
    "DataValidationError",
    "DynamicsRecorder",
    "DynamicsStore",
    "IndexedDataset",
    "LabelledData",
    "MetadataInference",
    "PlantSpec",
    "Planted",
    "ProbeBudgetError",
    "ProbeConfig",
    "ProbedData",
    "ProbedDataset",
    "RunConfig",
    "RunDirectoryError",
    "RunResult",
    "SourceOptions",
    "StratigraphyError",
    "build_probes",
    "choose_mislabel_score",
    "compute_scores",
    "detection_quality",
    "infer_metadata",
    "load_digits_data",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_npz",
    "load_source",
    "mislabel_candidates",
    "plant",
    "plant_label_noise",
    "record_estimator",
    "run",
    "suggest_labels",
]
