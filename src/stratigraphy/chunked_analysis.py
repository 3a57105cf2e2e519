"""Out-of-core analysis: infer every row's metadata straight from the store, a chunk at a time.

For runs whose N×E signals do not fit in memory. The inferers are fitted on the probe rows
alone (read from the store by row), measured on the held-out probes, and then every chunk of
rows streams through kNN, the classifier, the classic scores and ``mislabel_score``, and is
appended to a Parquet file as its own row group. Memory is bounded by the chunk size, not N.

``mislabel_score`` here chooses among the classic scores and each inferer's p(mislabeled): the
rank-averaged combination of :func:`~stratigraphy.analysis.analyze` needs every row's rank and is
left out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .features import trajectory_features
from .inference import _report
from .knn import knn_search, vote_shares
from .mislabel import choose_mislabel_score, mislabel_candidates, suggest_labels
from .scores import compute_scores
from .store import ROW_GROUP, DynamicsStore


class _RowGroupWriter:
    """Appends one table per row group to a temporary Parquet file and moves it into place only
    when every chunk was written; it also counts the ``metadata`` values it writes."""

    def __init__(self, out: Path, row_group: int) -> None:
        self.out, self.row_group = out, row_group
        self.tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        self.writer: pq.ParquetWriter | None = None
        self.counts: dict[str, int] = {}

    def __enter__(self) -> _RowGroupWriter:
        return self

    def write(self, table: pa.Table) -> None:
        meta = table.column("metadata")
        if pa.types.is_dictionary(meta.type):
            meta = meta.cast(pa.string())
        kinds, n = np.unique(meta.to_numpy(zero_copy_only=False), return_counts=True)
        for kind, c in zip(kinds, n, strict=True):
            self.counts[str(kind)] = self.counts.get(str(kind), 0) + int(c)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        self.writer.write_table(table.cast(self.writer.schema), row_group_size=self.row_group)

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()
        if exc_type is None:
            os.replace(self.tmp, self.out)
        else:
            self.tmp.unlink(missing_ok=True)


def _features(sig: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
    correct = sig["pred"] == labels[:, None]
    return trajectory_features(sig["loss"], sig["margin"], sig["p_label"], correct, sig["el2n"])


def _candidates(
    scores: dict[str, np.ndarray], p_mis: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Row-wise candidates only; the mean loss, squashed to (0, 1), breaks kNN's coarse ties."""
    cands = mislabel_candidates(scores, {})
    ml = np.nan_to_num(scores["mean_loss"], nan=0.0)
    for method, p in p_mis.items():
        cands[f"p_mislabeled_{method}"] = p + 1e-3 * ml / (1.0 + ml)
    return cands


class _Fitted:
    """Both inferers fitted on the fitting probes, with their held-out reports."""

    def __init__(
        self,
        store: DynamicsStore,
        labels: np.ndarray,
        probe_rows: np.ndarray,
        probe_suite: np.ndarray,
        is_fit: np.ndarray,
        suites: list[str],
        k: int,
        seed: int,
    ) -> None:
        self.suites, self.k, self.n_suites = suites, k, len(suites)
        sig = store.read_rows(probe_rows)
        fit_rows = probe_rows[is_fit]
        self.refs = np.nan_to_num(sig["loss"][is_fit].astype(np.float32))
        self.ref_suite = probe_suite[is_fit]
        order = np.argsort(fit_rows)
        self.fit_sorted, self.fit_pos = fit_rows[order], order
        self.model: Pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        )
        feats = _features(sig, labels[probe_rows])
        self.model.fit(feats[is_fit], self.ref_suite)
        # Held-out probes are not references, so their rows of these are their held-out answers.
        probe_all = {"knn": self._knn(sig["loss"], probe_rows), "classifier": self._clf(feats)}
        self.heldout = {
            m: _report(suites, probe_suite[~is_fit], p[~is_fit]) for m, p in probe_all.items()
        }
        self.method = max(self.heldout, key=lambda m: (self.heldout[m].accuracy, m == "knn"))
        p_mis = self._p_mislabeled(probe_all)
        cands = _candidates(compute_scores(sig, labels[probe_rows]), p_mis)
        names = np.asarray(suites, dtype=object)[probe_suite]
        self.chosen, self.candidate_ap = choose_mislabel_score(
            cands, np.arange(probe_rows.size), names, ~is_fit
        )

    def _knn(self, loss: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        self_index = None
        if rows is not None:
            pos = np.searchsorted(self.fit_sorted, rows).clip(max=self.fit_sorted.size - 1)
            hit = self.fit_sorted[pos] == rows
            self_index = np.where(hit, self.fit_pos[pos], -1)
        _, nbr = knn_search(np.nan_to_num(loss), self.refs, self.k, self_index=self_index)
        return vote_shares(nbr, self.ref_suite, self.n_suites)

    def _clf(self, feats: np.ndarray) -> np.ndarray:
        out = np.zeros((feats.shape[0], self.n_suites), dtype=np.float32)
        out[:, self.model.classes_] = self.model.predict_proba(feats)
        return out

    def _p_mislabeled(self, proba: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "mislabeled" not in self.suites:
            return {}
        j = self.suites.index("mislabeled")
        return {m: p[:, j] for m, p in proba.items()}

    def chunk_table(self, start: int, sig: dict[str, np.ndarray], labels: np.ndarray) -> pa.Table:
        rows = np.arange(start, start + labels.size)
        proba = {
            "knn": self._knn(sig["loss"], rows),
            "classifier": self._clf(_features(sig, labels)),
        }
        best = proba[self.method]
        scores = compute_scores(sig, labels)
        cands = _candidates(scores, self._p_mislabeled(proba))
        meta = np.asarray(self.suites, dtype=object)[best.argmax(1)]
        flagged = meta == "mislabeled"
        n_classes = int(max(labels.max(), sig["pred"].max()) + 1)
        cols: dict[str, Any] = {
            "row": rows.astype(np.int64),
            "label": labels,
            "metadata": pa.array(meta.tolist()).dictionary_encode(),
            "confidence": best.max(1).astype(np.float32),
        }
        for j, s in enumerate(self.suites):
            cols[f"p_{s}"] = best[:, j].astype(np.float32)
        for name, v in scores.items():
            cols[name] = v.astype(np.float32)
        cols["mislabel_score"] = cands[self.chosen].astype(np.float32)
        cols["suggested_label"] = suggest_labels(labels, sig["pred"], flagged, n_classes)
        return pa.table(cols)


def analyze_store(
    store: DynamicsStore | str | Path,
    labels: np.ndarray,
    probe_rows: np.ndarray,
    probe_suite: np.ndarray,
    is_fit: np.ndarray,
    suites: list[str],
    out: str | Path,
    k: int = 20,
    seed: int = 0,
    chunk_rows: int = ROW_GROUP,
) -> dict[str, Any]:
    """Infer metadata and scores of every training row in the store and write them to ``out``
    (Parquet, one row group per chunk, written atomically). Returns the summary: held-out
    accuracy of both inferers, the one used, the chosen ``mislabel_score`` and counts."""
    store = store if isinstance(store, DynamicsStore) else DynamicsStore(store)
    labels = np.asarray(labels, dtype=np.int64)
    fitted = _Fitted(store, labels, probe_rows, probe_suite, is_fit, suites, k, seed)
    with _RowGroupWriter(Path(out), chunk_rows) as writer:
        for start, sig in store.iter_chunks(chunk_rows):
            writer.write(
                fitted.chunk_table(start, sig, labels[start : start + sig["loss"].shape[0]])
            )
    return {
        "method": fitted.method,
        "heldout": {m: r.to_dict() for m, r in fitted.heldout.items()},
        "mislabel_score": {"chosen": fitted.chosen, "heldout_ap": fitted.candidate_ap},
        "counts": {s: writer.counts.get(s, 0) for s in suites},
    }


class _RowReader:
    """Hands out consecutive rows of a Parquet file, in the amounts asked for."""

    def __init__(self, path: Path, batch: int) -> None:
        self._batches = pq.ParquetFile(path).iter_batches(batch_size=batch)
        self._pending: pa.Table | None = None

    def take(self, count: int) -> pa.Table:
        parts = [] if self._pending is None else [self._pending]
        have = 0 if self._pending is None else self._pending.num_rows
        while have < count:
            b = pa.Table.from_batches([next(self._batches)])
            parts.append(b)
            have += b.num_rows
        table = pa.concat_tables(parts) if parts else pa.table({})
        self._pending = table.slice(count)
        return table.slice(0, count)


def write_examples(
    rows_path: str | Path,
    probed: Any,
    class_names: list[str],
    out: str | Path,
    extra: dict[str, Any] | None = None,
    chunk_rows: int = ROW_GROUP,
) -> dict[str, Any]:
    """Turn the per-row Parquet of :func:`analyze_store` into ``examples.parquet`` (one row per
    original example, in index order, one row group per chunk) and return the per-example
    ``counts`` and the ``mislabel_score`` column for detection measurements. ``extra`` holds
    further per-example columns (planted kind, captions)."""
    from .analysis import UNSCORED

    given = probed.source_labels
    n = given.size
    er = probed.example_row
    names = np.asarray(class_names, dtype=object)
    suite_names = np.asarray(probed.probes.column("suite").to_pylist(), dtype=object)
    src = probed.probes.column("source").to_numpy()
    probe_suite = np.full(n, None, dtype=object)
    probe_suite[src[src >= 0]] = suite_names[src >= 0]
    reader = _RowReader(Path(rows_path), chunk_rows)
    mislabel = np.full(n, np.nan, dtype=np.float32)
    typ = probed.typicality
    with _RowGroupWriter(Path(out), chunk_rows) as writer:
        for lo in range(0, n, chunk_rows):
            hi = min(lo + chunk_rows, n)
            kept = er[lo:hi] >= 0
            part = reader.take(int(kept.sum()))
            cols: dict[str, Any] = {
                "index": np.arange(lo, hi, dtype=np.int64),
                "label": given[lo:hi],
                "label_name": names[given[lo:hi]].tolist(),
                "row": er[lo:hi],
                "probe_suite": probe_suite[lo:hi].tolist(),
            }
            for name in part.column_names:
                if name in ("row", "label"):
                    continue
                column = part.column(name)
                if pa.types.is_dictionary(column.type):
                    column = column.cast(pa.string())
                values = column.to_numpy(zero_copy_only=False)
                if name == "metadata":
                    full = np.full(hi - lo, UNSCORED, dtype=object)
                elif name == "suggested_label":
                    full = np.full(hi - lo, -1, dtype=np.int64)
                else:
                    full = np.full(hi - lo, np.nan, dtype=np.float32)
                full[kept] = values
                cols[name] = full.tolist() if name == "metadata" else full
                if name == "mislabel_score":
                    mislabel[lo:hi] = full
            cols["typicality"] = typ.score[lo:hi]
            cols["neighbour_label"] = typ.neighbour_label[lo:hi]
            cols["neighbour_share"] = typ.neighbour_share[lo:hi]
            for name, v in (extra or {}).items():
                cols[name] = list(v[lo:hi]) if isinstance(v, list) else np.asarray(v)[lo:hi]
            writer.write(pa.table(cols))
    return {"counts": writer.counts, "mislabel_score": mislabel}
