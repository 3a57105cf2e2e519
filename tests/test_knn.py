import numpy as np
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from stratigraphy.core.knn import knn_search, vote_shares


def test_matches_scikit_learn_with_small_chunks():
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(300, 7)).astype(np.float32)
    queries = rng.normal(size=(1000, 7)).astype(np.float16)
    d, i = knn_search(queries, refs, 5, chunk_size=128)
    ref_d, ref_i = NearestNeighbors(n_neighbors=5).fit(refs).kneighbors(queries.astype(np.float32))
    np.testing.assert_allclose(d, ref_d, rtol=1e-3, atol=1e-3)
    assert (i == ref_i).mean() > 0.999


def test_self_matches_are_excluded():
    refs = np.arange(10, dtype=np.float32)[:, None]
    self_index = np.arange(10)
    _, i = knn_search(refs, refs, 1, self_index=self_index)
    assert np.all(i[:, 0] != np.arange(10))


def test_vote_shares_equal_scikit_learn_uniform_knn():
    rng = np.random.default_rng(1)
    refs = rng.normal(size=(200, 4)).astype(np.float32)
    labels = rng.integers(0, 3, size=200)
    q = rng.normal(size=(50, 4)).astype(np.float32)
    _, i = knn_search(q, refs, 20)
    shares = vote_shares(i, labels, 3)
    expected = KNeighborsClassifier(20, algorithm="brute").fit(refs, labels).predict_proba(q)
    np.testing.assert_allclose(shares, expected, atol=1e-6)
    np.testing.assert_allclose(shares.sum(1), 1.0, atol=1e-6)
