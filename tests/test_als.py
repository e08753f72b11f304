"""solver="als": exact coordinate descent, checked sweep by sweep against the NumPy
reference in reference_cd.py (never against rapidfm's own earlier output).

The reference recomputes every prediction from scratch by the explicit loop over
pairs and reads each coordinate's (a, h) off two evaluations, so agreement to
1e-9 is evidence that the kernel's running residuals, cached sums and parallel
blocks compute the exact update in the documented order.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from reference_cd import (
    affine_in,
    als_objective,
    als_sweep_reference,
    dense,
    fm_predict_naive,
    probit_cdf,
    probit_expected_target,
    probit_objective,
    sweep_coordinates,
)
from scipy.stats import norm

import rapidfm
from rapidfm import FMClassifier, FMRegressor, _core
from rapidfm.datasets import make_planted_fm
from rapidfm.solvers import feature_blocks

needs_openmp = pytest.mark.skipif(not rapidfm.openmp_enabled(),
                                  reason="serial build: 2-thread tests need OpenMP")

ALS_HISTORY_KEYS = {"epoch", "train_loss", "validation_loss", "seconds", "ns_per_nonzero",
                    "n_threads", "solver"}


def tiny_sparse(n_rows=25, n_features=7, density=0.45, seed=0, empty_column=3):
    """Random sparse rows with non-binary values (some negative), one all-zero column."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_features)) < density
    mask[np.arange(n_rows), rng.integers(0, n_features, n_rows)] = True  # no empty row
    values = rng.uniform(0.3, 2.0, (n_rows, n_features)) * rng.choice([-1.0, 1.0],
                                                                     (n_rows, n_features))
    Xd = np.where(mask, values, 0.0)
    if empty_column is not None:
        Xd[:, empty_column] = 0.0
    y = rng.normal(0.0, 1.5, n_rows) + 0.5
    return sp.csr_matrix(Xd), y


def initial_state(seed, n_features, k, init_std):
    """The documented initialisation of a new ALS/MCMC model."""
    V = np.random.default_rng(seed).normal(0.0, init_std, (n_features, k))
    return 0.0, np.zeros(n_features), V


def per_feature(value, groups, n_features):
    """A scalar or per-group regularisation strength as one value per feature."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 0:
        return np.full(n_features, float(value))
    return value[np.asarray(groups)]


def assert_params_close(est, expected, rtol=1e-9, atol=1e-9):
    w0, w, V = expected
    np.testing.assert_allclose(est.w0_, w0, rtol=rtol, atol=atol)
    np.testing.assert_allclose(est.w_, w, rtol=rtol, atol=atol)
    np.testing.assert_allclose(est.V_, V, rtol=rtol, atol=atol)


# -- the references are what they claim (cheap self-checks) ---------------------------------

def test_reference_h_is_the_analytic_derivative():
    X, _ = tiny_sparse()
    Xd = dense(X)
    rng = np.random.default_rng(1)
    w0, w, V = 0.3, rng.normal(size=7), rng.normal(size=(7, 3))
    q = Xd @ V
    for coord in sweep_coordinates(range(7), 3):
        a, h = affine_in(Xd, (w0, w, V), coord)
        if coord[0] == "w0":
            expected = np.ones(len(Xd))
        elif coord[0] == "w":
            expected = Xd[:, coord[1]]
        else:
            j, f = coord[1], coord[2]
            expected = Xd[:, j] * (q[:, f] - V[j, f] * Xd[:, j])
        np.testing.assert_allclose(h, expected, rtol=1e-12, atol=1e-12)
        theta = w0 if coord[0] == "w0" else (w[coord[1]] if coord[0] == "w"
                                             else V[coord[1], coord[2]])
        np.testing.assert_allclose(a + theta * h, fm_predict_naive(Xd, w0, w, V),
                                   rtol=1e-12, atol=1e-12)


def test_reference_sweep_is_coordinatewise_optimal():
    """After the reference updates a coordinate, moving it either way raises the objective;
    the full sweep lowers it."""
    X, y = tiny_sparse()
    rng = np.random.default_rng(2)
    w0, w, V = 0.0, np.zeros(7), rng.normal(0, 0.5, (7, 2))
    lw, lv = np.full(7, 0.3), np.full(7, 0.2)
    before = als_objective(X, y, w0, w, V, 0.1, lw, lv)
    new = als_sweep_reference(X, y, w0, w, V, np.arange(7)[::-1], 0.1, lw, lv)
    after = als_objective(X, y, *new, 0.1, lw, lv)
    assert after < before
    # the last coordinate updated (v_0,1) is at its minimum given the rest
    for step in (1e-4, -1e-4):
        V2 = new[2].copy()
        V2[0, 1] += step
        assert als_objective(X, y, new[0], new[1], V2, 0.1, lw, lv) > after
    # the empty column with lambda > 0: w and v go to exactly 0
    assert new[1][3] == 0 and np.all(new[2][3] == 0)


# -- feature blocks --------------------------------------------------------------------------

def test_feature_blocks_partition_features_into_row_disjoint_blocks():
    data = make_planted_fm(n_samples=300, n_fields=3, field_cardinality=8, n_factors=2,
                           random_state=0)
    X = data.X.tocsr()
    order, block_ptr = feature_blocks(X)
    assert order.dtype == np.int64 and block_ptr.dtype == np.int64
    assert sorted(order.tolist()) == list(range(X.shape[1]))
    assert block_ptr[0] == 0 and block_ptr[-1] == X.shape[1]
    assert np.all(np.diff(block_ptr) >= 1)
    pattern = (dense(X) != 0)
    for b in range(block_ptr.size - 1):
        members = order[block_ptr[b]:block_ptr[b + 1]]
        rows_per_member = pattern[:, members].sum(axis=1)
        assert rows_per_member.max() <= 1, f"block {b} has features sharing a row"
    # one-hot fields: the features of a field never share a row, so blocks are not all
    # single features
    assert block_ptr.size - 1 < X.shape[1]


# -- one sweep through the estimator ---------------------------------------------------------

ALS_CASES = {
    "plain": dict(reg_bias=0.1, reg_linear=0.5, reg_factors=0.3),
    "no_regularisation": dict(reg_bias=0.0, reg_linear=0.0, reg_factors=0.0),
    "groups": dict(reg_bias=0.2, reg_linear=[0.1, 1.0, 0.0], reg_factors=[0.2, 3.0, 0.0],
                   feature_groups=[0, 1, 2, 2, 0, 1, 0]),
    "sample_weight": dict(reg_bias=0.05, reg_linear=0.2, reg_factors=0.4, weighted=True),
}


@pytest.mark.parametrize("n_epochs", [1, 3])
@pytest.mark.parametrize("case", sorted(ALS_CASES))
def test_als_sweeps_equal_the_reference(case, n_epochs):
    settings = dict(ALS_CASES[case])
    weighted = settings.pop("weighted", False)
    X, y = tiny_sparse(seed=3)
    n, k, seed, init_std = X.shape[1], 3, 17, 0.4
    sw = None
    if weighted:
        sw = np.random.default_rng(4).uniform(0.0, 3.0, X.shape[0])
        sw[[2, 7]] = 0.0
    est = FMRegressor(solver="als", n_epochs=n_epochs, n_factors=k, init_std=init_std,
                      dtype=np.float64, random_state=seed, n_jobs=1, **settings)
    est.fit(X, y, sample_weight=sw)

    groups = settings.get("feature_groups", np.zeros(n, dtype=int))
    lw = per_feature(settings["reg_linear"], groups, n)
    lv = per_feature(settings["reg_factors"], groups, n)
    order = feature_blocks(X)[0]
    state = initial_state(seed, n, k, init_std)
    for _ in range(n_epochs):
        state = als_sweep_reference(X, y, *state, order, settings["reg_bias"], lw, lv,
                                    sample_weight=sw)
    assert_params_close(est, state)
    assert est.t_ == n_epochs and est.n_iter_ == n_epochs
    assert len(est.history_) == n_epochs
    assert est.w_.dtype == np.float64 and est.V_.dtype == np.float64
    for i, h in enumerate(est.history_):
        assert ALS_HISTORY_KEYS <= set(h), set(h)
        assert h["epoch"] == i + 1 and h["solver"] == "als"
    if case == "no_regularisation":
        # the empty column has sum s h^2 + lambda == 0: its parameters keep their init
        assert est.w_[3] == 0.0
        np.testing.assert_array_equal(est.V_[3], initial_state(seed, n, k, init_std)[2][3])


def test_als_float32_is_close_to_the_float64_reference():
    X, y = tiny_sparse(seed=5)
    n, k, seed = X.shape[1], 2, 3
    est = FMRegressor(solver="als", n_epochs=2, n_factors=k, init_std=0.3, dtype=np.float32,
                      random_state=seed, reg_bias=0.1, reg_linear=0.3, reg_factors=0.3,
                      n_jobs=1).fit(X, y)
    assert est.V_.dtype == np.float32
    # float32 init: the reference starts from the float32-rounded draw
    V0 = np.random.default_rng(seed).normal(0.0, 0.3, (n, k)).astype(np.float32)
    state = (0.0, np.zeros(n), V0.astype(np.float64))
    order = feature_blocks(X)[0]
    for _ in range(2):
        state = als_sweep_reference(X, y, *state, order, 0.1, np.full(n, 0.3), np.full(n, 0.3))
    assert_params_close(est, state, rtol=2e-4, atol=2e-4)


def test_als_predictions_use_the_fitted_parameters():
    X, y = tiny_sparse(seed=6)
    est = FMRegressor(solver="als", n_epochs=4, n_factors=2, dtype=np.float64,
                      random_state=0, reg_linear=0.1, reg_factors=0.1).fit(X, y)
    raw = fm_predict_naive(X, est.w0_, est.w_, est.V_)
    np.testing.assert_allclose(est._predict_current(X), raw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(est.predict(X), np.clip(raw, y.min(), y.max()),
                               rtol=1e-10, atol=1e-10)


# -- the low-level sweep ---------------------------------------------------------------------

def low_level_inputs(X, dtype, binary):
    X = sp.csr_matrix(X)
    indptr = X.indptr.astype(np.int64)
    indices = X.indices.astype(np.int32)
    data = None if binary else X.data.astype(dtype)
    colptr, rows, cdata = _core.csr_to_csc(indptr, indices, data, X.shape[1])
    order, block_ptr = _core.feature_blocks(indptr, indices, colptr, rows, X.shape[1])
    return indptr, indices, data, colptr, rows, cdata, order, block_ptr


@pytest.mark.parametrize("n_threads", [1, pytest.param(2, marks=needs_openmp)])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("loss", ["squared", "probit"])
def test_cd_sweep_als_equals_the_reference(binary, loss, n_threads):
    if binary:
        data = make_planted_fm(n_samples=60, n_fields=3, field_cardinality=5, n_factors=2,
                               random_state=2)
        X = data.X.astype(np.float64)
        y = data.y
    else:
        X, y = tiny_sparse(n_rows=40, n_features=9, density=0.3, seed=7, empty_column=5)
    if loss == "probit":
        y = np.where(y > np.median(y), 1.0, -1.0)
    m, n = X.shape
    k = 3
    rng = np.random.default_rng(8)
    w0 = 0.2
    w = rng.normal(0.0, 0.3, n)
    V = rng.normal(0.0, 0.3, (n, k))
    sw = rng.uniform(0.2, 2.0, m)
    groups = (np.arange(n) % 2).astype(np.int32)
    lambda_w = np.array([0.3, 1.5])
    lambda_v = np.array([[0.1, 0.5, 1.0], [2.0, 0.0, 0.3]])
    reg_bias = 0.4
    indptr, indices, data_, colptr, rows, cdata, order, block_ptr = low_level_inputs(
        X, np.float64, binary)
    w_k, V_k = w.copy(), V.copy()
    pred = np.empty(m)
    out = _core.cd_sweep("als", loss, w0, w_k, V_k, indptr, indices, data_, colptr, rows,
                         cdata, np.ascontiguousarray(y, dtype=np.float64), sw, order,
                         block_ptr, groups, np.zeros(2), lambda_w.copy(), np.zeros((2, k)),
                         lambda_v.copy(), 1.0, reg_bias, 123, n_threads, pred_out=pred)
    lv = lambda_v[groups]  # (n, k)
    expected = als_sweep_reference(X, y, w0, w, V, order, reg_bias, lambda_w[groups], lv,
                                   sample_weight=sw, probit=(loss == "probit"))
    np.testing.assert_allclose(out[0], expected[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(w_k, expected[1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(V_k, expected[2], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pred, fm_predict_naive(X, *expected), rtol=1e-9, atol=1e-9)


# -- the objective ---------------------------------------------------------------------------

def objective_trajectory(est_cls, X, y, sw, objective, n_epochs=30, **kw):
    """Fit with a callback evaluating `objective(w0, w, V)` after every sweep; returns
    ([objective at the documented init] + per-sweep values, fitted estimator)."""
    values = []

    def record(est, history):
        values.append(objective(est.w0_, est.w_, est.V_))

    est = est_cls(solver="als", n_epochs=n_epochs, callbacks=[record], dtype=np.float64, **kw)
    est.fit(X, y, sample_weight=sw)
    assert len(values) == n_epochs
    n, k = X.shape[1], est.V_.shape[1]
    start = objective(*initial_state(kw["random_state"], n, k, kw["init_std"]))
    return [start] + values, est


def assert_non_increasing(values, rel=1e-12):
    values = np.asarray(values)
    for t in range(1, values.size):
        assert values[t] <= values[t - 1] + rel * abs(values[t - 1]), (
            f"objective rose at sweep {t}: {values[t - 1]!r} -> {values[t]!r}")


def regression_problem(seed=9):
    rng = np.random.default_rng(seed)
    X, _ = tiny_sparse(n_rows=200, n_features=20, density=0.2, seed=seed, empty_column=None)
    Xd = dense(X)
    y = Xd[:, 0] - Xd[:, 1] + 2 * Xd[:, 2] * Xd[:, 3] + rng.normal(0, 0.3, 200)
    sw = rng.uniform(0.5, 2.0, 200)
    groups = np.arange(20) % 3
    return X, y, sw, groups


def test_als_objective_never_increases():
    X, y, sw, groups = regression_problem()
    reg_linear, reg_factors = [0.1, 0.5, 2.0], [0.3, 0.05, 1.0]
    lw = per_feature(reg_linear, groups, 20)
    lv = per_feature(reg_factors, groups, 20)

    def objective(w0, w, V):
        return als_objective(X, y, w0, w, V, 0.2, lw, lv, sample_weight=sw)

    values, _ = objective_trajectory(
        FMRegressor, X, y, sw, objective, n_factors=4, init_std=0.5, random_state=0,
        reg_bias=0.2, reg_linear=reg_linear, reg_factors=reg_factors,
        feature_groups=groups, n_jobs=1)
    assert_non_increasing(values)
    assert values[-1] < 0.5 * values[0]


def classification_problem(seed=10):
    X, y, sw, groups = regression_problem(seed)
    labels = np.where(y > np.median(y), 1, 0)
    return X, labels, sw, groups


def test_als_classifier_sweep_uses_probit_expected_targets():
    X, labels, sw, groups = classification_problem()
    X, labels, sw = X[:60], labels[:60], sw[:60]
    n, k, seed = X.shape[1], 2, 4
    kw = dict(solver="als", n_factors=k, init_std=0.3, dtype=np.float64, random_state=seed,
              reg_bias=0.1, reg_linear=0.2, reg_factors=[0.5, 0.1, 1.0],
              feature_groups=groups, n_jobs=1)
    y_pm = np.where(labels == 1, 1.0, -1.0)
    lw = np.full(n, 0.2)
    lv = per_feature([0.5, 0.1, 1.0], groups, n)
    order = feature_blocks(X)[0]
    state = initial_state(seed, n, k, 0.3)
    # the target of the first sweep, explicitly: E[z | y] at yhat = init
    yhat = fm_predict_naive(X, *state)
    t = np.where(y_pm > 0, yhat + norm.pdf(yhat) / norm.cdf(yhat),
                 yhat - norm.pdf(yhat) / norm.cdf(-yhat))
    np.testing.assert_allclose(probit_expected_target(yhat, y_pm), t, rtol=1e-12)
    for n_epochs in (1, 3):
        est = FMClassifier(n_epochs=n_epochs, **kw).fit(X, labels, sample_weight=sw)
        assert list(est.classes_) == [0, 1]
        expected = state
        for _ in range(n_epochs):
            expected = als_sweep_reference(X, y_pm, *expected, order, 0.1, lw, lv,
                                           sample_weight=sw, probit=True)
        assert_params_close(est, expected)
    # predict_proba is Phi of the raw output
    raw = fm_predict_naive(X, est.w0_, est.w_, est.V_)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], probit_cdf(raw), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(est._predict_current(X), raw, rtol=1e-10, atol=1e-10)


def test_als_classifier_penalised_probit_likelihood_never_increases():
    """ALS for the probit model is generalised EM, so the MAP objective
    -sum s log Phi(y yhat) + penalty / 2 cannot rise from one sweep to the next."""
    X, labels, sw, groups = classification_problem()
    y_pm = np.where(labels == 1, 1.0, -1.0)
    lw = np.full(20, 0.3)
    lv = np.full(20, 0.2)

    def objective(w0, w, V):
        return probit_objective(X, y_pm, w0, w, V, 0.1, lw, lv, sample_weight=sw)

    values, _ = objective_trajectory(
        FMClassifier, X, labels, sw, objective, n_factors=3, init_std=0.3, random_state=1,
        reg_bias=0.1, reg_linear=0.3, reg_factors=0.2, n_jobs=1)
    assert_non_increasing(values)
    assert values[-1] < 0.9 * values[0]


# -- threads ---------------------------------------------------------------------------------

@needs_openmp
@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_als_one_and_two_threads_follow_the_same_trajectory(cls):
    data = make_planted_fm(n_samples=3000, n_fields=4, field_cardinality=15, n_factors=3,
                           noise_std=0.5, zipf_exponent=0.5, random_state=3)
    X = data.X.astype(np.float64)
    y = data.y if cls is FMRegressor else (data.y > np.median(data.y)).astype(int)
    y_obj = y if cls is FMRegressor else np.where(y == 1, 1.0, -1.0)
    groups = np.repeat(np.arange(4), 15)
    lw, lv = np.full(60, 0.5), per_feature([0.5, 1.0, 2.0, 4.0], groups, 60)
    assert feature_blocks(X)[1].size - 1 < 60  # blocks of several features
    func = als_objective if cls is FMRegressor else probit_objective

    def objective(w0, w, V):
        return func(X, y_obj, w0, w, V, 0.1, lw, lv)

    runs = {}
    for n_jobs in (1, 2):
        values, est = objective_trajectory(
            cls, X, y, None, objective, n_epochs=8, n_factors=4, init_std=0.1,
            random_state=0, reg_bias=0.1, reg_linear=0.5, reg_factors=[0.5, 1.0, 2.0, 4.0],
            feature_groups=groups, n_jobs=n_jobs)
        assert all(h["n_threads"] == n_jobs for h in est.history_)
        runs[n_jobs] = values
    np.testing.assert_allclose(runs[2], runs[1], rtol=1e-6)
    assert_non_increasing(runs[2])


# -- parameters ------------------------------------------------------------------------------

def test_als_rejects_per_group_regularisation_of_the_wrong_length():
    X, y = tiny_sparse()
    groups = [0, 1, 0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="reg_linear"):
        FMRegressor(solver="als", n_epochs=1, feature_groups=groups,
                    reg_linear=[0.1, 0.2, 0.3]).fit(X, y)
    with pytest.raises(ValueError, match="reg_factors"):
        FMRegressor(solver="als", n_epochs=1, feature_groups=groups,
                    reg_factors=[0.1, 0.2, 0.3]).fit(X, y)
