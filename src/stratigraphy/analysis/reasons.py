"""Why an example was flagged, in one line a person can check: the signals that carried it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OtherPrediction:
    """Per row: ``alt``, the class predicted most often in the epochs that disagreed with its
    label (lowest class on ties); ``times``, in how many epochs (0 when none disagreed);
    ``disagreed``, how many epochs predicted any other class."""

    alt: np.ndarray
    times: np.ndarray
    disagreed: np.ndarray

    def confidence(self) -> np.ndarray:
        """Were the label wrong, how likely ``alt`` is the right class: the share of the epochs
        that disagreed with the label which predicted it (NaN where none did). On the planted
        errors of the benchmark's seed-0 runs its expected calibration error is 0.011-0.050 on
        11 of 12 (0.212 with asymmetric noise on the tweets), where the share of all epochs was
        0.39-0.46 off on the tweets: a model that memorises a wrong label early still names
        the right class when it disagrees (docs/benchmarks.md). Whether the label is wrong at
        all is the flag's q-value to say."""
        return np.where(self.disagreed > 0, self.times / np.maximum(self.disagreed, 1), np.nan)


def other_prediction(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> OtherPrediction:
    """For every row, the other class the model predicted most often (:class:`OtherPrediction`);
    predictions beyond the labels' classes count as classes, -1 (not recorded) as none."""
    n = pred.shape[0]
    n_classes = max(n_classes, int(pred.max(initial=-1)) + 1)
    rows, epochs = np.nonzero((pred != labels[:, None]) & (pred >= 0))
    counts = np.bincount(rows * n_classes + pred[rows, epochs], minlength=n * n_classes)
    counts = counts.reshape(n, n_classes)
    return OtherPrediction(counts.argmax(1), counts.max(1), counts.sum(1))


def flag_reasons(
    rows: np.ndarray,
    kind: list[str],
    q_value: np.ndarray,
    fdr: float,
    evidence: dict[str, np.ndarray],
    class_names: list[str],
) -> list[str]:
    """One line per flagged row (``rows`` index the evidence arrays): the kind and its q-value
    (the estimated share of false flags among rows with this much evidence) against ``fdr``,
    the model's other prediction, the nearest probes' vote, forgetting, margin.

    ``evidence`` holds per-row ``alt``/``alt_count``/``disagreed`` (other prediction, see
    :class:`OtherPrediction`), ``epochs``,
    ``forgetting``, ``correctness``, ``aum``, ``p_kind`` (the kind's posterior) and, with the
    kNN inferer,
    ``knn_votes`` (how many of the k nearest fitting probes are of that kind) and ``k``."""
    out = []
    for j, i in enumerate(rows.tolist()):
        q = "q < 0.001" if q_value[i] < 0.001 else f"q = {q_value[i]:.2g}"
        parts = [f"{kind[j]}: {q} ≤ {fdr:.2g}",
                 f"p({kind[j]}) {evidence['p_kind'][i]:.2f}"]  # fmt: skip
        times = int(evidence["alt_count"][i])
        if times > 0:
            said = f"predicted {class_names[int(evidence['alt'][i])]!r} in {times} of "
            said += f"{int(evidence['epochs'][i])} epochs"
            disagreed = int(evidence["disagreed"][i])
            parts.append(said + (f" ({times} of the {disagreed} that disagreed)"
                                 if disagreed > times else ""))  # fmt: skip
        if "knn_votes" in evidence:
            parts.append(
                f"{int(evidence['knn_votes'][i])} of {int(evidence['k'][i])} nearest probes "
                f"{kind[j]}"
            )
        if evidence["correctness"][i] == 0:
            parts.append("never predicted its label")
        elif evidence["forgetting"][i] > 0:
            parts.append(f"forgotten {int(evidence['forgetting'][i])} times")
        parts.append(f"margin {float(evidence['aum'][i]):+.1f}")
        out.append("; ".join(parts))
    return out
