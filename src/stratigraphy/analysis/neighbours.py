"""A finished run's fitting probes and, for any of its rows, the nearest ones by loss
trajectory: what the report's gallery and the review page show beside an example."""

from __future__ import annotations

import numpy as np

from stratigraphy.core.knn import knn_search
from stratigraphy.rundir.view import RunView


class ProbeNeighbours:
    """The fitting probes' loss trajectories (``refs``) and suites (``kinds``) of one run."""

    def __init__(self, view: RunView) -> None:
        self.loss = view.loss
        fit = view.probes["role"] == "fit"
        self.kinds = view.probes["suite"][fit].astype(str)
        self.refs = np.nan_to_num(self.loss[view.probes["row"][fit]].astype(np.float32))

    def trajectories(self, rows: np.ndarray) -> np.ndarray:
        return np.nan_to_num(self.loss[rows].astype(np.float32))

    def nearest(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Indices into ``refs``/``kinds`` of each row's ``k`` nearest fitting probes."""
        _, nbr = knn_search(self.trajectories(rows), self.refs, k)
        return nbr
