"""One run's configuration, composed of its parts (data, probes, training, inference), each
validated once; its identity and its ``run.json`` record are derived from the fields."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from stratigraphy.analysis.engine import ENGINES, InferenceConfig
from stratigraphy.core.errors import ConfigError
from stratigraphy.data.planting import PlantSpec
from stratigraphy.data.sources import SourceOptions
from stratigraphy.data.spec import DataSpec, default_noise_rate
from stratigraphy.probes.build import ProbeConfig
from stratigraphy.record.training import TrainConfig

# Flags whose name differs from the field they set: flag → (part, field).
_RENAMED = {"probe_size": ("probes", "size"), "probes": ("probes", "suites")}
# Parts whose fields flags set, in the order a flag is looked up.
_FLAG_PARTS: dict[str, type] = {
    "data": DataSpec,
    "options": SourceOptions,
    "plant": PlantSpec,
    "probes": ProbeConfig,
    "training": TrainConfig,
    "inference": InferenceConfig,
}
# Fields that say where and how a run executes or is read, not what it trains: outside the
# identity, so a run can be resumed, or analysed again, with other values.
_NOT_IDENTITY = ("out", "resume", "in_memory_cells", "inference", "test", "groups", "engine",
                 "address")  # fmt: skip
_SHARED = ("seed",)


@dataclass
class RunConfig:
    """Everything that defines one run of the main job: where it goes, and its parts.

    ``engine="ray"`` embeds texts and scores the examples on the Ray cluster at ``address``
    (a local one when None); training is the same either way.

    Build it from its parts, or from flat options with :meth:`build` (what the CLI does):
    ``RunConfig.build("runs/fm", source="fashion-mnist", noise_rate=0.2, epochs=15)``.
    """

    out: Path
    data: DataSpec = field(default_factory=DataSpec)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    seeds: int = 1
    source_fold: float = 0.25
    test: str | None = None
    groups: str | None = None
    in_memory_cells: int = 250_000_000
    resume: bool = False
    engine: str = "local"
    address: str | None = None

    @classmethod
    def build(cls, out: str | Path, seed: int = 0, **flags: Any) -> RunConfig:
        """A configuration from flat options, each routed to the part that owns a field of that
        name; ``seed`` goes to every part, and ``noise_rate=None`` means the source's default."""
        parts: dict[str, dict[str, Any]] = {name: {} for name in _FLAG_PARTS}
        top: dict[str, Any] = {}
        for flag, value in flags.items():
            part, name = _RENAMED[flag] if flag in _RENAMED else (_owner(flag), flag)
            (top if part == "" else parts[part])[name] = value
        for name, kind in _FLAG_PARTS.items():
            if "seed" in {f.name for f in fields(kind)}:
                parts[name]["seed"] = seed
        if "suites" in parts["probes"]:
            parts["probes"]["suites"] = tuple(parts["probes"]["suites"])
        source = parts["data"].get("source", DataSpec.source)
        plant_rate = parts["plant"].get("noise_rate")
        parts["plant"]["noise_rate"] = default_noise_rate(source, plant_rate)
        data = DataSpec(
            **parts["data"],
            options=SourceOptions(**parts["options"]),
            plant=PlantSpec(**parts["plant"]),
        )
        return cls(
            out=Path(out),
            data=data,
            probes=ProbeConfig(**parts["probes"]),
            training=TrainConfig(**parts["training"]),
            inference=InferenceConfig(**parts["inference"]),
            **top,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """The configuration :meth:`to_dict` wrote (``run.json``'s ``config``)."""
        probes = dict(d["probes"])
        probes["suites"] = tuple(probes["suites"])
        keep_out = probes.get("keep_out")
        probes["keep_out"] = None if keep_out is None else np.asarray(keep_out, dtype=np.int64)
        probes["user_suites"] = {
            k: np.asarray(v, dtype=np.int64) for k, v in probes.get("user_suites", {}).items()
        }
        inference = dict(d["inference"])
        inference["methods"] = tuple(inference["methods"])
        parts = ("out", "data", "probes", "training", "inference")
        top = {f.name: d[f.name] for f in fields(cls) if f.name in d and f.name not in parts}
        return cls(
            out=Path(d["out"]),
            data=DataSpec.from_dict(d["data"]),
            probes=ProbeConfig(**probes),
            training=TrainConfig(**d["training"]),
            inference=InferenceConfig(**inference),
            **top,
        )

    def validate(self) -> None:
        """Each part checks its own fields, once."""
        self.data.validate()
        self.probes.validate()
        self.training.validate()
        self.inference.validate()
        if self.seeds < 1:
            raise ConfigError("--seeds must be at least 1.")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {ENGINES}; got {self.engine!r}.")
        if self.engine == "ray" and self.seeds > 1:
            raise ConfigError("The ray engine streams one store; a run averaged over seeds "
                              "(--seeds) is analysed in one process.")  # fmt: skip
        if not 0.0 <= self.source_fold <= 1.0:
            raise ConfigError(f"--source-fold must lie in [0, 1]; got {self.source_fold}.")

    @property
    def seed(self) -> int:
        return self.training.seed

    def for_seed(self, offset: int) -> TrainConfig:
        """The training settings of the ``offset``-th extra seed (the same run, another seed)."""
        return replace(self.training, seed=self.training.seed + offset)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (user suites as index lists)."""
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if not dataclasses.is_dataclass(getattr(self, f.name))
        }
        out["out"] = str(self.out)
        out["data"] = self.data.to_dict()
        out["probes"] = asdict(self.probes)
        out["probes"]["suites"] = list(self.probes.suites)
        keep_out = self.probes.keep_out
        out["probes"]["keep_out"] = None if keep_out is None else np.asarray(keep_out).tolist()
        out["probes"]["user_suites"] = {
            k: np.asarray(v).tolist() for k, v in self.probes.user_suites.items()
        }
        out["training"] = asdict(self.training)
        out["inference"] = asdict(self.inference)
        out["inference"]["methods"] = list(self.inference.methods)
        return out

    def identity(self, data_name: str, fingerprint: str) -> dict[str, Any]:
        """What makes two runs the same run: every field but where and how it executes, and
        the data's fingerprint."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_IDENTITY}
        d["training"] = {k: v for k, v in d["training"].items() if k != "device"}
        return {"data": data_name, "fingerprint": fingerprint, **d}


def _owner(flag: str) -> str:
    """The part that owns a flat option ('' for the run itself)."""
    if flag in {f.name for f in fields(RunConfig)} and flag not in _FLAG_PARTS:
        return ""
    for name, kind in _FLAG_PARTS.items():
        if flag in {f.name for f in fields(kind)} and flag not in _SHARED:
            return name
    raise ConfigError(f"unknown run option {flag!r}.")
