"""What a run trains on, as data: the source, how to read it and what to plant in it. A run
directory records it in ``run.json``, so the data can be rebuilt without the job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from stratigraphy.data.planting import Planted, PlantSpec, plant
from stratigraphy.data.sources import LabelledData, SourceOptions, load_source

DEFAULT_SOURCE = "digits"
DIGITS_NOISE_RATE = 0.1


def default_noise_rate(source: str | None, noise_rate: float | None) -> float:
    """Digits plants 10% symmetric noise unless told otherwise (the embedded demo); other data
    plants none."""
    if noise_rate is not None:
        return noise_rate
    return DIGITS_NOISE_RATE if source in (None, "", DEFAULT_SOURCE) else 0.0


@dataclass(frozen=True)
class DataSpec:
    """The source (a built-in name, a file or a folder), its reading options and the planting."""

    source: str = DEFAULT_SOURCE
    data_dir: str | None = None
    options: SourceOptions = field(default_factory=SourceOptions)
    plant: PlantSpec = field(default_factory=PlantSpec)

    def validate(self) -> None:
        self.options.validate()
        self.plant.validate()

    def load_source(
        self,
        on_progress: Callable[[str, int, int], None] | None = None,
        engine: str = "local",
        address: str | None = None,
    ) -> LabelledData:
        return load_source(self.source, self.data_dir, self.options, on_progress, engine, address)

    def planted(self, source: LabelledData) -> Planted | None:
        """``source`` with this spec's problems planted (None when nothing is planted); the same
        seed gives the same result, so a run directory can rebuild what it trained on."""
        return plant(source, self.plant) if self.plant.any else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["options"]["drop_columns"] = list(self.options.drop_columns)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        options = dict(d.get("options", {}))
        options["drop_columns"] = tuple(options.get("drop_columns", ()))
        return cls(
            source=d.get("source", DEFAULT_SOURCE),
            data_dir=d.get("data_dir"),
            options=SourceOptions(**options),
            plant=PlantSpec(**d.get("plant", {})),
        )
