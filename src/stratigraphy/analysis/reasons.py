"""Why an example was flagged, in one line a person can check: the signals that carried it."""

from __future__ import annotations

import numpy as np


def other_prediction(
    labels: np.ndarray, pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every row, the class predicted most often in the epochs that disagreed with its
    label (lowest class on ties) and in how many epochs; count 0 when it never disagreed."""
    n = pred.shape[0]
    n_classes = max(n_classes, int(pred.max(initial=-1)) + 1)  # predictions beyond the labels
    rows, epochs = np.nonzero((pred != labels[:, None]) & (pred >= 0))
    counts = np.bincount(rows * n_classes + pred[rows, epochs], minlength=n * n_classes)
    counts = counts.reshape(n, n_classes)
    return counts.argmax(1), counts.max(1)


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

    ``evidence`` holds per-row ``alt``/``alt_count`` (other prediction), ``epochs``,
    ``forgetting``, ``correctness``, ``aum``, ``p_kind`` (the kind's posterior) and, with the
    kNN inferer,
    ``knn_votes`` (how many of the k nearest fitting probes are of that kind) and ``k``."""
    out = []
    for j, i in enumerate(rows.tolist()):
        parts = [f"{kind[j]}: q = {q_value[i]:.2g} ≤ {fdr:.2g}",
                 f"p({kind[j]}) {evidence['p_kind'][i]:.2f}"]  # fmt: skip
        if evidence["alt_count"][i] > 0:
            parts.append(
                f"predicted {class_names[int(evidence['alt'][i])]!r} in "
                f"{int(evidence['alt_count'][i])} of {int(evidence['epochs'][i])} epochs"
            )
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
