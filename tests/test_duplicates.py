"""Near-duplicates, duplicate sets with conflicting labels, and train/test leaks."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from stratigraphy import LabelledData, RunConfig, load_digits_data, run
from stratigraphy.issues.duplicates import find_duplicates, nearest
from stratigraphy.issues.registry import ISSUES, IssueContext

from .conftest import blobs


@pytest.fixture(scope="module")
def planted():
    """Digits (as flat pixel features) with 60 slightly noisy copies of random examples; the
    copies of the first 10 carry another label."""
    d = load_digits_data()
    X = d.X.reshape(d.n, -1)
    rng = np.random.default_rng(0)
    src = rng.choice(d.n, 60, replace=False)
    copies = np.clip(X[src] + rng.normal(0, 0.01, X[src].shape), 0, 1).astype(np.float32)
    y_copies = d.y[src].copy()
    y_copies[:10] = (y_copies[:10] + 1) % 10
    feats = np.concatenate([X, copies])
    labels = np.concatenate([d.y, y_copies])
    truth = np.zeros(feats.shape[0], dtype=bool)
    truth[src] = truth[d.n :] = True
    return feats, labels, truth, src, d


def test_planted_copies_are_found_and_little_else(planted):
    feats, labels, truth, _, _ = planted
    res = find_duplicates(IssueContext(feats, labels, [str(c) for c in range(10)]))
    flagged = res.columns["is_near_duplicate"]
    recall = (flagged & truth).sum() / truth.sum()
    precision = (flagged & truth).sum() / max(flagged.sum(), 1)
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    # A detector that flags at random at the same rate would be near the base rate (6%).
    assert precision > 10 * truth.mean()


def test_sets_pair_each_copy_with_its_source_and_call_out_other_labels(planted):
    feats, labels, _, src, d = planted
    cols = find_duplicates(IssueContext(feats, labels, [str(c) for c in range(10)])).columns
    sets = cols["duplicate_set"]
    assert (sets[d.n :] == sets[src]).all() and (sets[src] >= 0).all()
    conflict = cols["duplicate_conflict"]
    assert conflict[d.n : d.n + 10].all() and conflict[src[:10]].all()
    assert not conflict[d.n + 10 :].any()
    assert (cols["near_duplicate_score"][d.n :] > 0.8).all()


def test_test_examples_copied_from_training_are_reported_as_leaks(planted):
    _, _, _, _, d = planted
    X = d.X.reshape(d.n, -1)
    train, held = X[:1400], X[1400:]
    rng = np.random.default_rng(1)
    leaked_from = rng.choice(1400, 30, replace=False)
    test = np.concatenate([held, np.clip(train[leaked_from] + rng.normal(0, 0.01, (30, 64)), 0, 1)])
    ctx = IssueContext(train, d.y[:1400], [], test_features=test.astype(np.float32),
                       test_labels=np.concatenate([d.y[1400:], d.y[leaked_from]]))  # fmt: skip
    res = find_duplicates(ctx)
    leaks = res.tables["leaks"].to_pydict()
    found = set(leaks["test_index"])
    planted_ids = set(range(held.shape[0], held.shape[0] + 30))
    assert len(found & planted_ids) >= 29 and len(found - planted_ids) <= 2
    assert res.summary["leakage"]["leaked"] == len(found)
    pairs = dict(zip(leaks["test_index"], leaks["train_index"], strict=True))
    assert all(pairs[t] == leaked_from[t - held.shape[0]] for t in found & planted_ids)


def test_nearest_leaves_each_row_out_of_its_own_neighbours():
    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    _, idx = nearest(X, X, 3, same=True)
    assert not (idx == np.arange(50)[:, None]).any()


def test_the_issue_is_registered():
    assert "near_duplicate" in ISSUES


def test_strat_run_with_a_test_set_writes_columns_leaks_and_representations(tmp_path):
    X, y = blobs(600, d=8, seed=5)
    rng = np.random.default_rng(2)
    copy_of = rng.choice(600, 20, replace=False)
    jitter = rng.normal(0, 1e-3, (20, 8)).astype(np.float32)
    X_test = np.concatenate([blobs(200, d=8, seed=6)[0], X[copy_of] + jitter])
    y_test = np.concatenate([blobs(200, d=8, seed=6)[1], y[copy_of]])
    np.savez(tmp_path / "test.npz", X=X_test, y=y_test)
    cfg = RunConfig.build(tmp_path / "r", epochs=4, probe_size=12, test=str(tmp_path / "test.npz"))
    res = run(cfg, data=LabelledData(X, y))
    ex = res.examples
    assert {"is_near_duplicate", "near_duplicate_score", "duplicate_set"} <= set(ex.column_names)
    leaks = pq.read_table(tmp_path / "r" / "leaks.parquet").to_pydict()
    assert set(range(200, 220)) <= set(leaks["test_index"])
    assert np.load(tmp_path / "r" / "representations.npy").shape[0] == 600
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["issues"]["near_duplicate"]["leakage"]["leaked"] >= 20


def test_report_and_review_show_duplicates(tmp_path):
    from fastapi.testclient import TestClient

    from stratigraphy.present.review_app import create_app

    X, y = blobs(600, d=8, seed=7)
    X = np.concatenate([X, X[:15] + 1e-4])
    y = np.concatenate([y, (y[:15] + 1) % 4])
    res = run(RunConfig.build(tmp_path / "r", epochs=4, probe_size=12), data=LabelledData(X, y))
    html = (res.out / "report.html").read_text()
    assert "Near-duplicates" in html and "labels differ" in html
    client = TestClient(create_app(res.out), base_url="http://127.0.0.1")
    q = client.get("/api/queue", params={"issue": "near_duplicate", "limit": 1000}).json()
    found = {it["index"] for it in q["items"]}
    assert set(range(600, 615)) <= found and len(found) <= 40
    assert client.get("/api/queue", params={"issue": "nonsense"}).status_code == 404
    assert '"near_duplicate"' in client.get("/").text


def test_shifted_image_copies_are_found_where_pixels_alone_miss_them():
    """Fashion-MNIST-like redundancy: a one-pixel shift moves a copy farther than most natural
    neighbours in pixel space; the spectrum retrieval and aligned verification still find it."""
    from stratigraphy.issues.duplicates import aligned_distances, spectra

    d = load_digits_data()
    rng = np.random.default_rng(3)
    src = rng.choice(d.n, 40, replace=False)
    shifted = np.roll(d.X[src], (1, -1), axis=(2, 3))
    copies = np.clip(shifted + rng.normal(0, 0.01, shifted.shape), 0, 1).astype(np.float32)
    X = np.concatenate([d.X, copies])
    labels = np.concatenate([d.y, d.y[src]])
    truth = np.zeros(X.shape[0], dtype=bool)
    truth[src] = truth[d.n :] = True
    flat = X.reshape(X.shape[0], -1)
    by_pixels = find_duplicates(IssueContext(flat, labels, [])).columns["is_near_duplicate"]
    found = find_duplicates(IssueContext(flat, labels, [], inputs=X)).columns["is_near_duplicate"]
    assert (by_pixels & truth).sum() / truth.sum() < 0.5
    recall = (found & truth).sum() / truth.sum()
    precision = (found & truth).sum() / max(found.sum(), 1)
    assert recall >= 0.95 and precision >= 0.9, (recall, precision)
    pair = np.array([[d.n, src[0]]])
    assert aligned_distances(X, X, pair)[0] < 0.01 and spectra(X).shape[0] == X.shape[0]


def _sentences(n: int, rng: np.random.Generator) -> list[str]:
    words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(3, 9)))
             for _ in range(400)]  # fmt: skip
    return [" ".join(rng.choice(words, rng.integers(8, 14))).capitalize() + "." for _ in range(n)]


def _edit(text: str, kind: int, rng: np.random.Generator) -> str:
    words = text.rstrip(".").split()
    if kind == 0:
        return text.upper()
    if kind == 1:
        return text.rstrip(".") + "!!"
    del words[rng.integers(1, len(words))]
    return " ".join(words) + "."


def test_edited_text_copies_are_found_by_characters_where_embeddings_say_nothing():
    """Case changes, punctuation and a dropped word: the embeddings here are random, so only the
    character 3-gram comparison can find the copies, in the data and in a held-out set."""
    rng = np.random.default_rng(4)
    texts = _sentences(500, rng)
    src = rng.choice(500, 40, replace=False)
    train = texts + [_edit(texts[i], k % 3, rng) for k, i in enumerate(src)]
    leaked_from = rng.choice(np.setdiff1d(np.arange(500), src), 20, replace=False)
    test = _sentences(100, rng) + [_edit(texts[i], k % 3, rng) for k, i in enumerate(leaked_from)]
    emb = rng.normal(size=(len(train), 16)).astype(np.float32)
    labels = rng.integers(0, 3, len(train))
    truth = np.zeros(len(train), dtype=bool)
    truth[src] = truth[500:] = True
    test_emb = rng.normal(size=(120, 16)).astype(np.float32)
    ctx = IssueContext(emb, labels, [], test_features=test_emb, texts=train, test_texts=test,
                       test_labels=np.zeros(120, dtype=np.int64))  # fmt: skip
    res = find_duplicates(ctx)
    found = res.columns["is_near_duplicate"]
    recall = (found & truth).sum() / truth.sum()
    precision = (found & truth).sum() / max(found.sum(), 1)
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    assert (res.columns["duplicate_of"][500:] == src).mean() >= 0.95
    leaks = res.tables["leaks"].to_pydict()
    assert set(range(100, 120)) <= set(leaks["test_index"]) and len(leaks["test_index"]) <= 22
    assert res.summary["space"] == "texts"
    blind = find_duplicates(IssueContext(emb, labels, [])).columns["is_near_duplicate"]
    assert (blind & truth).sum() / truth.sum() < 0.5
