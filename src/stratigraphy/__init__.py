"""stratigraphy: what each example of a labelled dataset really is, from its learning dynamics."""

from .analysis import Analysis, analyze
from .data import LabelledData, load_digits_data, load_fashion_mnist, load_idx_dir, load_npz
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
from .probes import BUILTIN_SUITES, ProbeConfig, ProbedData, build_probes
from .recorder import DynamicsRecorder, IndexedDataset
from .scores import compute_scores
from .store import DynamicsStore

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "analyze",
    "BUILTIN_SUITES",
    "ConfigError",
    "DataValidationError",
    "DynamicsRecorder",
    "DynamicsStore",
    "IndexedDataset",
    "LabelledData",
    "MetadataInference",
    "ProbeBudgetError",
    "ProbeConfig",
    "ProbedData",
    "RunConfig",
    "RunDirectoryError",
    "RunResult",
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
    "mislabel_candidates",
    "plant_label_noise",
    "run",
    "suggest_labels",
]
