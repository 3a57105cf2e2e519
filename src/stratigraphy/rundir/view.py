"""Reading a finished run directory back: its tables, signals and (when reachable) its inputs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from stratigraphy.core.errors import RunDirectoryError, StratigraphyError
from stratigraphy.data.sources import LabelledData
from stratigraphy.data.spec import DataSpec
from stratigraphy.record.store import DynamicsStore
from stratigraphy.rundir.layout import (
    EXAMPLES_PARQUET,
    PROBES_PARQUET,
    RUN_JSON,
    SUMMARY_JSON,
    read_json,
)


@dataclass
class RunView:
    """A finished run, loaded lazily: ``examples`` and ``probes`` as column dicts of arrays."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> RunView:
        path = Path(path)
        missing = [f for f in (RUN_JSON, SUMMARY_JSON) if not (path / f).is_file()]
        missing += [] if (path / EXAMPLES_PARQUET).exists() else [EXAMPLES_PARQUET]
        if missing:
            raise RunDirectoryError(
                f"{path} is not a finished stratigraphy run (missing {', '.join(missing)}); "
                "run `strat run --out DIR` first, or `--resume` to finish it."
            )
        view = cls(path)
        try:
            _ = (view.run, view.summary)  # read now, so a damaged file is named here
            ds.dataset(path / EXAMPLES_PARQUET, format="parquet").count_rows()  # one file or parts
        except (ValueError, OSError, pa.ArrowInvalid) as exc:
            raise RunDirectoryError(
                f"{path} holds a damaged file ({exc}); rerun `strat run` into a new --out."
            ) from exc
        return view

    @cached_property
    def run(self) -> dict[str, Any]:
        return read_json(self.path / RUN_JSON)

    @cached_property
    def summary(self) -> dict[str, Any]:
        return read_json(self.path / SUMMARY_JSON)

    @cached_property
    def examples(self) -> dict[str, np.ndarray]:
        table = pq.read_table(self.path / EXAMPLES_PARQUET)
        return {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}

    def value_at(self, column: str, i: int) -> float | None:
        """Example ``i``'s value of an optional numeric column: None where it is NaN, or where
        the run was written before the column existed."""
        values = self.examples.get(column)
        if values is None or not np.isfinite(values[i]):
            return None
        return float(values[i])

    @cached_property
    def probes(self) -> dict[str, np.ndarray]:
        table = pq.read_table(self.path / PROBES_PARQUET)
        return {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}

    @property
    def class_names(self) -> list[str]:
        return list(self.run["data"]["class_names"])

    @property
    def suites(self) -> list[str]:
        return list(self.summary["inference"]["suites"])

    @property
    def training(self) -> dict[str, Any]:
        """The run's training settings (runs written before the composed configuration kept
        them at the top of ``config``)."""
        config: dict[str, Any] = self.run["config"]
        return dict(config.get("training", config))

    @property
    def n_examples(self) -> int:
        return int(self.run["data"]["n_examples"])

    @cached_property
    def loss(self) -> np.ndarray:
        """Training rows × epochs loss trajectories (float16), from the store the run used."""
        sub = "eval" if self.training.get("eval_pass") else ""
        return DynamicsStore(self.path / "dynamics" / sub).read("loss")

    def with_inputs(self, data: LabelledData | None) -> RunView:
        """This view with the run's inputs handed over by whoever holds them already (the job
        that has just trained on them), so a page built from it does not load them again; with
        None, as it was."""
        if data is not None:
            self.__dict__["data"] = data
        return self

    @cached_property
    def data(self) -> LabelledData | None:
        """The original inputs, reloaded from the run's source when it is reachable and still has
        the same fingerprint; None otherwise (pages then show trajectories without inputs)."""
        spec = self.run.get("data_spec")
        if spec is None:
            return None
        try:
            data_spec = DataSpec.from_dict(spec)
            source = data_spec.load_source()
            if source.fingerprint() != self.run["data"]["fingerprint"]:
                return None
            planted = data_spec.planted(source)
        except (StratigraphyError, OSError, TypeError):
            return None
        return planted.data if planted is not None else source
