"""Property tests over the validation layer: whatever arrays come in, the checks either return
data in the one form the package takes or raise a DataValidationError — never another error,
never NaN, inf or out-of-range labels passed on."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stratigraphy.core.errors import DataValidationError
from stratigraphy.data.checks import check_arrays, check_indices, check_labels

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.uint8, np.int16, np.int64,
                          np.uint16, np.bool_, np.complex64])  # fmt: skip
SHAPES = hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=6)


@st.composite
def arrays_and_labels(draw):
    X = draw(hnp.arrays(DTYPES, SHAPES))
    n = X.shape[0] if X.ndim else 0
    y_len = draw(st.sampled_from([n, n, n, max(0, n - 1), n + 1]))
    y = draw(hnp.arrays(st.sampled_from([np.int64, np.int8, np.float64, np.uint8]), (y_len,)))
    return X, y


def _holds_contract(X, y, n_classes=None):
    try:
        Xc, yc, notes = check_arrays(X, y, n_classes)
    except DataValidationError:
        return
    assert Xc.dtype == np.float32 and Xc.ndim in (2, 4) and Xc.flags.c_contiguous
    assert np.isfinite(Xc).all() and np.abs(Xc).max() <= 1e15
    assert yc.dtype == np.int64 and yc.shape == (Xc.shape[0],)
    k = n_classes if n_classes is not None else int(yc.max()) + 1
    assert yc.min() >= 0 and yc.max() < k and np.unique(yc).size >= 2
    if Xc.ndim == 4:
        assert Xc.min() >= 0.0 and Xc.max() <= 1.0
    assert all(isinstance(n, str) for n in notes)


@SETTINGS
@given(arrays_and_labels())
def test_any_arrays_give_clean_data_or_a_typed_error(pair):
    _holds_contract(*pair)


@SETTINGS
@given(
    hnp.arrays(np.float32, st.tuples(st.integers(2, 30), st.integers(1, 5)),
               elements=st.one_of(st.floats(-1e30, 1e30, width=64).map(np.float32),
                                  st.sampled_from([np.nan, np.inf, -np.inf]))),
    st.data(),
)  # fmt: skip
def test_nan_inf_and_huge_values_anywhere_are_refused_or_absent(X, data):
    y = data.draw(hnp.arrays(np.int64, (X.shape[0],), elements=st.integers(0, 3)))
    _holds_contract(X, y)
    if not np.isfinite(X).all() or np.abs(X).max() > 1e15:
        try:
            check_arrays(X, y)
        except DataValidationError:
            return
        raise AssertionError("non-finite or huge inputs were passed on")


@SETTINGS
@given(hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(-3, 2**62)), st.data())
def test_labels_come_out_as_a_dense_range_of_at_least_two_classes(y, data):
    named = data.draw(st.one_of(st.none(), st.integers(1, 12)))
    try:
        out = check_labels(y, y.size, named)
    except DataValidationError:
        return
    present = np.unique(out)
    assert present.size >= 2 and out.min() >= 0
    assert out.max() < (named if named is not None else present.size)
    if named is None:
        assert present.tolist() == list(range(present.size))


@SETTINGS
@given(hnp.arrays(st.sampled_from([np.int64, np.float64, np.int8]), st.integers(0, 20)),
       st.integers(1, 50))  # fmt: skip
def test_indices_are_unique_and_in_range_or_refused(idx, n):
    try:
        out = check_indices(idx, n, "suite")
    except DataValidationError:
        return
    assert out.dtype == np.int64 and (out.size == 0 or (out.min() >= 0 and out.max() < n))
    assert np.unique(out).size == out.size


FILE_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FILE_SETTINGS
@given(st.binary(max_size=400), st.sampled_from([".npz", ".csv", ".parquet"]))
def test_any_file_contents_load_or_raise_a_typed_error(tmp_path_factory, content, suffix):
    from stratigraphy.data.sources import load_source

    path = tmp_path_factory.mktemp("f") / f"data{suffix}"
    path.write_bytes(content)
    try:
        data = load_source(str(path))
    except DataValidationError:
        return
    assert data.n >= 2 and np.isfinite(data.X).all()


CELLS = st.one_of(
    st.integers(-5, 5).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "inf", "-inf", "nan", "NA", "a", "b", "x y z", '"q,uoted"', "1e400"]),
)  # fmt: skip


@FILE_SETTINGS
@given(st.integers(1, 4), st.integers(0, 40), st.data())
def test_any_small_table_loads_as_a_table_or_raises_a_typed_error(tmp_path_factory, n_cols, n_rows,
                                                                   data):  # fmt: skip
    from stratigraphy.data.tabular import load_tabular

    header = [f"c{j}" for j in range(n_cols)] + ["label"]
    lines = [",".join(header)]
    for _ in range(n_rows):
        cells = [data.draw(CELLS) for _ in range(n_cols)]
        lines.append(",".join([*cells, data.draw(st.sampled_from(["yes", "no", "", "maybe"]))]))
    path = tmp_path_factory.mktemp("t") / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    try:
        X, y, names = load_tabular(path, "label")
    except DataValidationError:
        return
    assert X.shape[0] == y.shape[0] == n_rows and np.isfinite(X).all() and len(names) >= 2
