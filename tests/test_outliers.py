"""Outliers among the real examples: far from their class in representation space."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from stratigraphy import LabelledData, RunConfig, load_digits_data, run
from stratigraphy.issues.outliers import class_normalised, find_outliers
from stratigraphy.issues.registry import ISSUES, IssueContext

from .conftest import blobs


@pytest.fixture(scope="module")
def inserted():
    """Digits (flat pixels) with 40 foreign inputs under random labels: 20 digits whose pixels
    were scrambled, 20 sparse noise images."""
    d = load_digits_data()
    X = d.X.reshape(d.n, -1)
    rng = np.random.default_rng(0)
    scrambled = rng.permuted(X[rng.choice(d.n, 20, replace=False)], axis=1)
    noise = rng.random((20, X.shape[1])) ** 3
    feats = np.concatenate([X, scrambled, noise]).astype(np.float32)
    labels = np.concatenate([d.y, rng.integers(0, 10, 40)])
    truth = np.r_[np.zeros(d.n, bool), np.ones(40, bool)]
    return IssueContext(feats, labels, [str(c) for c in range(10)]), truth


def test_inserted_foreign_inputs_score_highest_and_are_flagged(inserted):
    ctx, truth = inserted
    res = find_outliers(ctx)
    score, flagged = res.columns["outlier_score"], res.columns["is_outlier"]
    assert roc_auc_score(truth, score) > 0.99
    assert (flagged & truth).sum() >= 38
    # Random flags at the same rate would hit about 2% of the inserts, not nearly all.
    assert (flagged & ~truth).sum() <= 10
    assert res.summary["outliers"] == int(flagged.sum())


def test_a_wide_class_is_not_flagged_for_being_wide():
    """Scores are per class: a class spread ten times wider than the others holds no more
    outliers than they do, where one global distance cut would flag it in bulk."""
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 10, size=(3, 16))
    y = np.repeat(np.arange(3), 300)
    spread = np.where(y == 2, 2.0, 0.2)[:, None]
    X = (centres[y] + spread * rng.normal(size=(900, 16))).astype(np.float32)
    flagged = find_outliers(IssueContext(X, y, ["a", "b", "c"])).columns["is_outlier"]
    assert flagged[y == 2].mean() <= 0.02
    log_d = np.log(np.r_[np.ones(50), 10 * np.ones(50)])
    score = class_normalised(log_d + rng.normal(0, 0.01, 100), np.repeat([0, 1], 50))
    assert np.abs(score).max() < 5


def test_tiny_data_gives_no_outliers():
    res = find_outliers(IssueContext(np.ones((3, 3), np.float32), np.array([0, 1, 0]), ["a", "b"]))
    assert not res.columns["is_outlier"].any()


def test_the_issue_is_registered_and_the_main_job_writes_it(tmp_path):
    assert "outlier" in ISSUES
    X, y = blobs(600, d=8, seed=3)
    far = (np.random.default_rng(4).normal(0, 1, (10, 8)) * 40).astype(np.float32)
    X, y = np.concatenate([X, far]), np.concatenate([y, np.zeros(10, y.dtype)])
    res = run(RunConfig.build(tmp_path / "r", epochs=4, probe_size=12), data=LabelledData(X, y))
    ex = res.examples.to_pandas()
    assert {"is_outlier", "outlier_score"} <= set(ex.columns)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["issues"]["outlier"]["outliers"] == int(ex.is_outlier.sum())
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Outliers" in html


def test_a_clustered_batch_of_foreign_inputs_is_still_found():
    """60 inserts from one foreign source lie close to each other; measured against the
    label-consistent examples they still stand out, where the plain distance to the nearest
    examples (Datalab's way) ranks them as ordinary."""
    from stratigraphy.issues.duplicates import _normalised, nearest

    d = load_digits_data()
    X = d.X.reshape(d.n, -1)
    rng = np.random.default_rng(5)
    pattern = rng.random(X.shape[1]) ** 3
    batch = np.clip(pattern + rng.normal(0, 0.02, (60, X.shape[1])), 0, 1)
    feats = np.concatenate([X, batch]).astype(np.float32)
    labels = np.concatenate([d.y, rng.integers(0, 10, 60)])
    truth = np.r_[np.zeros(d.n, bool), np.ones(60, bool)]
    score = find_outliers(IssueContext(feats, labels, [str(c) for c in range(10)])).columns[
        "outlier_score"
    ]
    x = _normalised(feats)
    plain = nearest(x, x, 10, same=True)[0].mean(1)
    assert roc_auc_score(truth, plain) < 0.5
    assert roc_auc_score(truth, score) > 0.99
