"""Prediction against the naive O(k n^2) pairwise formula (tests/reference.py)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import naive_fm_predict

from rapidfm import FMClassifier, FMRegressor, _core

# the kernel has specialised code for 4, 8, 16, 32, 64 and vector code for
# multiples of the vector width; odd k and k > 64 take the generic loops
KS = [0, 1, 3, 4, 8, 16, 17, 32, 64, 65]
DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]
RTOL = {np.float32: 1e-4, np.float64: 1e-10}


def random_model(n_features, k, dtype, rng, scale=1.0):
    w0 = float(rng.normal())
    w = rng.normal(0.0, scale, n_features).astype(dtype)
    V = (rng.normal(0.0, scale, (n_features, k)) / max(k, 1) ** 0.25).astype(dtype)
    return w0, w, V


def random_sparse(n_rows, n_features, density, dtype, rng, binary=False):
    """A CSR matrix with empty rows, all-zero columns and (unless binary) non-unit values."""
    mask = rng.random((n_rows, n_features)) < density
    mask[::5] = False  # every fifth row is empty
    mask[:, ::7] = False  # every seventh column is all zero
    values = np.ones((n_rows, n_features)) if binary else rng.normal(0.0, 1.5, (n_rows, n_features))
    dense = np.where(mask, values, 0.0).astype(dtype)
    return sp.csr_matrix(dense)


def magnitude(X, w0, w, V):
    """Per row: |w0| + sum |w_i x_i| + 1/2 sum_f (sum_i |v_if x_i|)^2, the scale of the terms."""
    A = abs(sp.csr_matrix(X, dtype=np.float64))
    Va = np.abs(np.asarray(V, np.float64))
    q = A @ Va
    return abs(w0) + A @ np.abs(np.asarray(w, np.float64)) + 0.5 * (q * q).sum(axis=1)


def assert_close_to_naive(pred, X, w0, w, V, rtol):
    expected = naive_fm_predict(X, w0, w, V)
    err = np.abs(np.asarray(pred) - expected)
    bound = rtol * (1.0 + magnitude(X, w0, w, V))
    assert np.all(err <= bound), f"max error {err.max():.3g}, bound {bound[np.argmax(err)]:.3g}"


def csr_arrays(X, index_dtype):
    return X.indptr.astype(np.int64), X.indices.astype(index_dtype), X.data


def fitted_regressor(n_features, dtype, w0, w, V):
    """An FMRegressor fitted briefly on random data, then given known parameters."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, n_features))
    est = FMRegressor(n_factors=2, n_epochs=1, dtype=dtype, random_state=0,
                      clip_predictions=False).fit(X, rng.normal(size=20))
    est.w0_, est.w_, est.V_ = w0, w, V
    return est


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("k", KS)
def test_core_predict_matches_naive(k, index_dtype, dtype):
    rng = np.random.default_rng(k * 7 + (index_dtype is np.int64) + 3 * (dtype is np.float64))
    n_features = 23
    X = random_sparse(40, n_features, 0.3, dtype, rng)
    w0, w, V = random_model(n_features, k, dtype, rng)
    indptr, indices, data = csr_arrays(X, index_dtype)
    pred = _core.predict(w0, w, V, indptr, indices, data, 1)
    assert pred.dtype == np.float64 and pred.shape == (40,)
    assert_close_to_naive(pred, X, w0, w, V, RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("k", KS)
def test_core_predict_binary_rows_match_naive(k, index_dtype, dtype):
    """data=None (every stored value 1) against the naive model on the 0/1 matrix."""
    rng = np.random.default_rng(100 + k)
    n_features = 19
    X = random_sparse(30, n_features, 0.35, dtype, rng, binary=True)
    w0, w, V = random_model(n_features, k, dtype, rng)
    indptr, indices, data = csr_arrays(X, index_dtype)
    pred_none = _core.predict(w0, w, V, indptr, indices, None, 1)
    assert_close_to_naive(pred_none, X, w0, w, V, RTOL[dtype])
    # the value-less path computes exactly what explicit ones give
    pred_ones = _core.predict(w0, w, V, indptr, indices, data, 1)
    np.testing.assert_array_equal(pred_none, pred_ones)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [0, 3, 8, 16, 65])
def test_empty_rows_predict_w0(k, dtype):
    rng = np.random.default_rng(5)
    w0, w, V = random_model(6, k, dtype, rng)
    indptr = np.array([0, 0, 2, 2, 2], dtype=np.int64)  # rows 0, 2 and 3 are empty
    indices = np.array([1, 4], dtype=np.int32)
    data = np.array([0.5, -2.0], dtype=dtype)
    pred = _core.predict(w0, w, V, indptr, indices, data, 1)
    assert pred[0] == w0 and pred[2] == w0 and pred[3] == w0
    X = sp.csr_matrix((data, indices, indptr), shape=(4, 6))
    assert_close_to_naive(pred, X, w0, w, V, RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_rows_empty_through_estimator(dtype):
    rng = np.random.default_rng(6)
    w0, w, V = random_model(5, 3, dtype, rng)
    est = fitted_regressor(5, dtype, w0, w, V)
    np.testing.assert_array_equal(est.predict(np.zeros((3, 5))), [w0, w0, w0])
    np.testing.assert_array_equal(est.predict(sp.csr_matrix((3, 5), dtype=dtype)), [w0] * 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [0, 1, 4, 8, 17, 32])
def test_estimator_predict_matches_naive_dense_and_sparse(k, dtype):
    rng = np.random.default_rng(200 + k)
    n_features = 17
    w0, w, V = random_model(n_features, k, dtype, rng)
    est = fitted_regressor(n_features, dtype, w0, w, V)
    X = random_sparse(35, n_features, 0.4, dtype, rng)
    assert_close_to_naive(est.predict(X), X, w0, w, V, RTOL[dtype])
    assert_close_to_naive(est.predict(X.toarray()), X, w0, w, V, RTOL[dtype])
    # float64 input to a float32 model (and the reverse) is converted, not refused
    other = np.float64 if dtype is np.float32 else np.float32
    X_other = X.astype(other)
    assert_close_to_naive(est.predict(X_other), X_other, w0, w, V, RTOL[np.float32])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [3, 8, 16])
def test_estimator_one_hot_matches_naive(k, dtype):
    """A 0/1 matrix goes through the value-less (data=None) kernel path."""
    rng = np.random.default_rng(300 + k)
    n_features = 21
    w0, w, V = random_model(n_features, k, dtype, rng)
    est = fitted_regressor(n_features, dtype, w0, w, V)
    X = random_sparse(30, n_features, 0.3, dtype, rng, binary=True)
    assert_close_to_naive(est.predict(X), X, w0, w, V, RTOL[dtype])
    # the same pattern with values 2 must not take the one-hot shortcut
    X2 = X * 2
    assert_close_to_naive(est.predict(X2), X2, w0, w, V, RTOL[dtype])
    assert not np.allclose(est.predict(X2), est.predict(X))


def test_classifier_decision_function_matches_naive():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 9))
    y = np.where(rng.random(60) < 0.5, "a", "b")
    est = FMClassifier(n_factors=3, n_epochs=2, random_state=0, dtype=np.float64).fit(X, y)
    w0, w, V = random_model(9, 5, np.float64, rng)
    est.w0_, est.w_, est.V_ = w0, w, V
    Xs = sp.csr_matrix(X)
    assert_close_to_naive(est.decision_function(Xs), Xs, w0, w, V, RTOL[np.float64])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("k", [0, 8, 17])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_wide_model_over_several_chunks_matches_naive(k, index_dtype, dtype, binary,
                                                      n_threads):
    """40,000 features (far more than the other tests' dozens, so entries are scattered
    through w and V) and more rows than one thread's chunk: the formula, row by row on
    each row's own columns (the matrix is too wide to densify)."""
    rng = np.random.default_rng(31 * k + 2 * binary + (dtype is np.float64))
    n_rows, n_features = 1500, 40_000  # w and V of k = 8 in float32: 1.4 MB to scatter over
    lengths = rng.integers(0, 12, n_rows)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(n_features, n, replace=False))
                              for n in lengths]).astype(index_dtype)
    data = None if binary else rng.normal(0.0, 1.0, indptr[-1]).astype(dtype)
    w0, w, V = random_model(n_features, k, dtype, rng)
    pred = _core.predict(w0, w, V, indptr, indices, data, n_threads)
    want = np.empty(n_rows)
    for i in range(n_rows):
        cols = indices[indptr[i]:indptr[i + 1]]
        x = np.ones((1, cols.size)) if binary else data[indptr[i]:indptr[i + 1]][None, :]
        want[i] = naive_fm_predict(x, w0, w[cols], V[cols])[0]
    err = np.abs(pred - want)
    assert np.all(err <= RTOL[dtype] * (1.0 + np.abs(want) + k)), f"max error {err.max():.3g}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [5, 8, 32])
@pytest.mark.parametrize("binary", [False, True])
def test_two_threads_predict_exactly_like_one(k, dtype, binary):
    rng = np.random.default_rng(8)
    X = random_sparse(3000, 50, 0.2, dtype, rng, binary=binary)
    w0, w, V = random_model(50, k, dtype, rng)
    data = None if binary else X.data
    one = _core.predict(w0, w, V, X.indptr.astype(np.int64), X.indices, data, 1)
    two = _core.predict(w0, w, V, X.indptr.astype(np.int64), X.indices, data, 2)
    np.testing.assert_array_equal(one, two)
    est = fitted_regressor(50, dtype, w0, w, V)
    est.set_params(n_jobs=2)
    np.testing.assert_array_equal(est.predict(X), one)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_unsorted_and_duplicate_indices_are_summed(dtype, index_dtype):
    rng = np.random.default_rng(9)
    n_features = 8
    # row 0: column 5 twice and unsorted; row 1: sorted; row 2: empty;
    # row 3: unsorted without duplicates; row 4: one column three times
    indptr = np.array([0, 4, 6, 6, 9, 12], dtype=index_dtype)
    indices = np.array([5, 2, 5, 0, 1, 3, 7, 4, 6, 2, 2, 2], dtype=index_dtype)
    data = np.array([1.5, -0.5, 2.0, 0.75, 1.0, -1.25, 0.5, 2.0, -1.0, 0.5, 1.0, 1.0],
                    dtype=dtype)
    X = sp.csr_matrix((data, indices, indptr), shape=(5, n_features))
    assert X.nnz == 12  # scipy kept the duplicates
    indices_before = X.indices.copy()
    data_before = X.data.copy()
    dense = X.toarray()  # sums the duplicates
    assert dense[0, 5] == dtype(3.5) and dense[4, 2] == dtype(2.5)

    w0, w, V = random_model(n_features, 4, dtype, rng)
    est = fitted_regressor(n_features, dtype, w0, w, V)
    assert_close_to_naive(est.predict(X), dense, w0, w, V, RTOL[dtype])
    # the caller's matrix is left as it was
    np.testing.assert_array_equal(X.indices, indices_before)
    np.testing.assert_array_equal(X.data, data_before)


def test_duplicate_ones_are_not_treated_as_one_hot():
    """Two stored ones in the same cell are a value of 2 (x_i^2 terms change)."""
    rng = np.random.default_rng(10)
    w0, w, V = random_model(4, 3, np.float64, rng)
    est = fitted_regressor(4, np.float64, w0, w, V)
    X = sp.csr_matrix((np.ones(3), np.array([1, 1, 3]), np.array([0, 3])), shape=(1, 4))
    expected = naive_fm_predict(np.array([[0.0, 2.0, 0.0, 1.0]]), w0, w, V)
    np.testing.assert_allclose(est.predict(X), expected, rtol=1e-10, atol=1e-12)


@st.composite
def fm_problems(draw):
    n_rows = draw(st.integers(1, 6))
    n_features = draw(st.integers(1, 9))
    k = draw(st.integers(0, 10))
    values = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)
    dense = np.array(draw(st.lists(values, min_size=n_rows * n_features,
                                   max_size=n_rows * n_features)), dtype=np.float64)
    mask = np.array(draw(st.lists(st.booleans(), min_size=dense.size, max_size=dense.size)))
    X = np.where(mask, dense, 0.0).reshape(n_rows, n_features)
    params = st.floats(-2, 2, allow_nan=False, allow_infinity=False, width=64)
    w0 = draw(params)
    w = np.array(draw(st.lists(params, min_size=n_features, max_size=n_features)))
    V = np.array(draw(st.lists(params, min_size=n_features * k, max_size=n_features * k)))
    return X, w0, w, V.reshape(n_features, k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=fm_problems(), index_dtype=st.sampled_from(INDEX_DTYPES))
def test_property_predict_matches_naive(problem, index_dtype):
    X, w0, w, V = problem
    Xs = sp.csr_matrix(X)
    indptr, indices, data = csr_arrays(Xs, index_dtype)
    pred = _core.predict(w0, w, V, indptr, indices, data, 1)
    assert_close_to_naive(pred, X, w0, w, V, 1e-10)
    pred32 = _core.predict(w0, w.astype(np.float32), V.astype(np.float32), indptr, indices,
                           data.astype(np.float32), 1)
    X32 = X.astype(np.float32)
    assert_close_to_naive(pred32, X32, w0, w.astype(np.float32), V.astype(np.float32), 1e-4)


# -- one row (the serving path: the kernel's checked single-row calls) -------------------

def _fitted_on_one_rows(est_cls, dtype, n_features=40, **kw):
    rng = np.random.default_rng(3)
    X = sp.random(300, n_features, density=0.1, format="csr", random_state=3, dtype=dtype)
    y = rng.normal(size=300) if est_cls is FMRegressor else (rng.random(300) > 0.5)
    return est_cls(n_factors=4, n_epochs=2, random_state=0, dtype=dtype, **kw).fit(X, y), X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_single_row_kernel_call_matches_the_formula(dtype, index_dtype):
    rng = np.random.default_rng(0)
    w0, w, V = random_model(30, 5, dtype, rng)
    x = np.zeros(30, dtype)
    cols = np.array([2, 7, 8, 29], dtype=index_dtype)
    x[cols] = rng.normal(size=4)
    expected = naive_fm_predict(x[None, :].astype(np.float64), w0, w.astype(np.float64),
                                V.astype(np.float64))[0]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    status, _, got = _core.predict_one(w0, w, V, cols, x[cols])
    assert status == 0 and got == pytest.approx(expected, rel=tol, abs=tol)
    status, _, got = _core.predict_one(w0, w, V, cols, None)  # all values 1
    ones = np.zeros(30)
    ones[cols] = 1.0
    expected_ones = naive_fm_predict(ones[None, :], w0, w.astype(np.float64),
                                     V.astype(np.float64))[0]
    assert status == 0 and got == pytest.approx(expected_ones, rel=tol, abs=tol)
    status, _, got = _core.predict_dense_one(w0, w, V, x)
    assert status == 0 and got == pytest.approx(expected, rel=tol, abs=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features, nonzeros", [
    (1, 1), (31, 0), (33, 33), (1000, 7), (2000, 2000), (3000, 1500)])
def test_dense_row_of_any_width_and_density_matches_the_formula(dtype, n_features, nonzeros):
    # the scan goes by runs of 32 columns and keeps up to 512 nonzeros on the stack:
    # widths around a run, a row wholly dense, more nonzeros than the stack holds
    rng = np.random.default_rng(n_features + nonzeros)
    w0, w, V = random_model(n_features, 4, dtype, rng)
    x = np.zeros(n_features, dtype)
    x[rng.choice(n_features, nonzeros, replace=False)] = rng.normal(size=nonzeros)
    # every pair's <v_i x_i, v_j x_j> summed (a Gram matrix less its diagonal): the
    # pairwise definition, not the kernel's O(k n) identity
    xv = V.astype(np.float64) * x.astype(np.float64)[:, None]
    gram = xv @ xv.T
    expected = w0 + x.astype(np.float64) @ w + (gram.sum() - np.trace(gram)) / 2
    tol = 1e-4 if dtype == np.float32 else 1e-10
    status, _, got = _core.predict_dense_one(w0, w, V, x)
    assert status == 0 and got == pytest.approx(expected, rel=tol, abs=tol)
    if nonzeros > 1:  # the first non-finite column is named, wherever it lies
        at = int(np.flatnonzero(x)[-1])
        x[at] = np.inf
        x[-1] = np.nan
        assert _core.predict_dense_one(w0, w, V, x)[:2] == (_core.CSR_NONFINITE, at)


def test_single_row_kernel_call_names_the_fault():
    rng = np.random.default_rng(0)
    w0, w, V = random_model(10, 3, np.float64, rng)
    ones = np.ones(3)
    assert _core.predict_one(w0, w, V, np.array([1, 4, 10]), ones)[:2] == (
        _core.CSR_INDEX_RANGE, 2)
    assert _core.predict_one(w0, w, V, np.array([1, -1, 3]), ones)[:2] == (
        _core.CSR_INDEX_RANGE, 1)
    assert _core.predict_one(w0, w, V, np.array([4, 2, 7]), ones)[:2] == (
        _core.CSR_UNSORTED, 1)
    assert _core.predict_one(w0, w, V, np.array([2, 2, 7]), ones)[:2] == (
        _core.CSR_DUPLICATE, 1)
    assert _core.predict_one(w0, w, V, np.array([1, 2, 7]), np.array([1.0, np.inf, 2.0]))[
        :2] == (_core.CSR_NONFINITE, 1)
    x = np.zeros(10)
    x[6] = np.nan
    assert _core.predict_dense_one(w0, w, V, x)[:2] == (_core.CSR_NONFINITE, 6)
    with pytest.raises(TypeError):
        _core.predict_dense_one(w0, w, V, x.astype(np.float32))  # not the model's dtype
    with pytest.raises(ValueError):
        _core.predict_dense_one(w0, w, V, x[:9])


@pytest.mark.parametrize("est_cls, solver", [
    (FMRegressor, "sgd"), (FMClassifier, "sgd"), (FMClassifier, "als")])  # als: probit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row_predict_equals_the_batch(est_cls, solver, dtype):
    model, X = _fitted_on_one_rows(est_cls, dtype, solver=solver)
    batch = model.predict(X[:20])
    methods = ["predict"] + (["predict_proba", "decision_function"]
                             if est_cls is FMClassifier else [])
    for i in range(20):
        row = X[i:i + 1]
        for form in (row, sp.csr_matrix(row), row.toarray(), row.toarray().astype(dtype)):
            assert np.array_equal(model.predict(form)[0], batch[i]) or \
                np.isclose(model.predict(form)[0], batch[i], rtol=1e-6)
            for name in methods[1:]:
                whole = getattr(model, name)(X[:20])
                one = getattr(model, name)(form)
                assert one.shape == whole[i:i + 1].shape
                np.testing.assert_allclose(one[0], whole[i], rtol=1e-6, atol=1e-9)


def test_one_row_predict_clips_as_the_batch():
    model, X = _fitted_on_one_rows(FMRegressor, np.float64)
    model.y_min_, model.y_max_ = -0.01, 0.01  # every prediction clipped
    batch = model.predict(X[:10])
    assert set(np.round(batch, 6)) <= {-0.01, 0.01}
    for i in range(10):
        assert model.predict(X[i:i + 1])[0] == batch[i]


def test_one_row_predict_faults_get_the_general_messages():
    model, X = _fitted_on_one_rows(FMRegressor, np.float64)
    bad = X[:1].toarray()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    wide = sp.csr_matrix(np.ones((1, 41)))
    with pytest.raises(ValueError, match="41 features"):
        model.predict(wide)
    unsorted = sp.csr_matrix((np.array([1.0, 2.0]), np.array([5, 2]), np.array([0, 2])),
                             shape=(1, 40))
    unsorted.has_sorted_indices = False
    expected = naive_fm_predict(unsorted.toarray(), model.w0_, model.w_, model.V_)[0]
    got = model.predict(unsorted)[0]  # the general path sorts the row
    assert got == pytest.approx(np.clip(expected, model.y_min_, model.y_max_))


@pytest.mark.parametrize("est_cls", [FMRegressor, FMClassifier])
def test_one_row_predict_keeps_nan_as_the_batch_does(est_cls):
    model, X = _fitted_on_one_rows(est_cls, np.float64)
    model.w_ = model.w_.copy()
    model.w_[X[0].indices[0]] = np.nan
    predict = model.predict if est_cls is FMRegressor else model.decision_function
    assert np.isnan(predict(X[:1])[0]) and np.isnan(predict(X[:2])[0])
    if est_cls is FMClassifier:
        assert np.isnan(model.predict_proba(X[:1])[0, 1])
        assert np.isnan(model.predict_proba(X[:2])[0, 1])
