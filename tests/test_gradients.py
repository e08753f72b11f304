"""One SGD step of the C kernel against finite differences and a naive NumPy step.

With a single row the visit order is trivial, so `_core.sgd_epoch` on a 1-row
matrix with n_threads=1 performs exactly one update:
theta <- theta - lr * (sample_weight * dL/dtheta + reg * theta).
"""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from reference import (
    finite_difference_gradient,
    naive_fm_predict,
    naive_loss,
    naive_loss_derivative,
    naive_sgd_step,
    sigmoid,
)

from rapidfm import _core

INF = np.inf


def kernel_epoch(X, y, w0, w, V, *, loss, lr, reg_bias=0.0, reg_linear=0.0, reg_factors=0.0,
                 clip_min=-INF, clip_max=INF, sample_weight=None, dtype=np.float64,
                 index_dtype=np.int64, binary=False, seed=0, n_threads=1, mode="auto"):
    """Runs _core.sgd_epoch on copies; returns (w0, w, V, stats)."""
    Xs = sp.csr_matrix(np.atleast_2d(np.asarray(X, dtype=np.float64)))
    indptr = Xs.indptr.astype(np.int64)
    indices = Xs.indices.astype(index_dtype)
    if binary:
        assert np.all(Xs.data == 1)
        data = None
    else:
        data = Xs.data.astype(dtype)
    w_k = np.array(w, dtype=dtype)
    V_k = np.array(V, dtype=dtype)
    y_arr = np.atleast_1d(np.asarray(y, dtype=np.float64))
    sw = None if sample_weight is None else np.atleast_1d(np.asarray(sample_weight, np.float64))
    new_w0, stats = _core.sgd_epoch(
        float(w0), w_k, V_k, indptr, indices, data, y_arr, sw,
        loss=loss, learning_rate=lr, reg_bias=reg_bias, reg_linear=reg_linear,
        reg_factors=reg_factors, clip_min=clip_min, clip_max=clip_max, n_threads=n_threads,
        parallel_mode=mode, seed=seed,
    )
    return new_w0, w_k, V_k, stats


def sample_problem(k, loss, seed=0, n_features=9, binary=False):
    """One sample with several non-unit nonzeros, parameters and a target."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n_features)
    present = [0, 2, 3, 5, 8]
    x[present] = 1.0 if binary else [0.7, -1.3, 2.1, 0.4, -0.9]
    w0 = 0.3
    w = rng.normal(0, 0.5, n_features)
    V = rng.normal(0, 0.4, (n_features, k))
    y = 1.0 if loss == "logistic" else 1.7
    return x, y, w0, w, V


def loss_of(x, y, loss):
    """L(theta) with theta = [w0, w..., V...] flattened, via the naive predictor."""
    n = x.size

    def f(theta):
        w0 = theta[0]
        w = theta[1:1 + n]
        V = theta[1 + n:].reshape(n, -1)
        p = float(naive_fm_predict(x[None, :], w0, w, V)[0])
        return naive_loss(loss, p, y)

    return f


def pack(w0, w, V):
    return np.concatenate([[w0], np.ravel(w), np.ravel(V)])


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("k", [1, 3, 4, 8, 16, 17])
@pytest.mark.parametrize("binary", [False, True])
def test_step_equals_finite_difference_gradient(loss, k, binary):
    x, y, w0, w, V = sample_problem(k, loss, seed=k, binary=binary)
    if loss == "logistic":
        y = -1.0 if k % 2 else 1.0
    lr = 1e-3
    new_w0, new_w, new_V, stats = kernel_epoch(x, y, w0, w, V, loss=loss, lr=lr, binary=binary)

    fd = finite_difference_gradient(loss_of(x, y, loss), pack(w0, w, V))
    n = x.size
    fd_w0, fd_w, fd_V = fd[0], fd[1:1 + n], fd[1 + n:].reshape(V.shape)
    scale = np.abs(fd).max()
    assert scale > 1e-3  # a non-trivial gradient

    tol = dict(rtol=1e-6, atol=1e-8 * scale)
    np.testing.assert_allclose((w0 - new_w0) / lr, fd_w0, **tol)
    np.testing.assert_allclose((w - new_w) / lr, fd_w, **tol)
    np.testing.assert_allclose((V - new_V) / lr, fd_V, **tol)
    # features absent from the row are not touched at all
    absent = x == 0
    np.testing.assert_array_equal(new_w[absent], w[absent])
    np.testing.assert_array_equal(new_V[absent], V[absent])
    assert stats["n_rows"] == 1 and stats["weight_sum"] == 1.0
    assert stats["n_threads"] == 1 and stats["parallel_mode"] == "serial"


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("reg_name", ["reg_bias", "reg_linear", "reg_factors"])
def test_l2_terms(loss, reg_name):
    k = 5
    x, y, w0, w, V = sample_problem(k, loss, seed=11)
    lr, r = 1e-3, 0.37
    new_w0, new_w, new_V, _ = kernel_epoch(x, y, w0, w, V, loss=loss, lr=lr, **{reg_name: r})
    fd = finite_difference_gradient(loss_of(x, y, loss), pack(w0, w, V))
    n = x.size
    g_w0, g_w, g_V = fd[0], fd[1:1 + n], fd[1 + n:].reshape(V.shape)
    present = x != 0
    if reg_name == "reg_bias":
        g_w0 = g_w0 + r * w0
    elif reg_name == "reg_linear":
        g_w = g_w + r * w * present
    else:
        g_V = g_V + r * V * present[:, None]
    tol = dict(rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose((w0 - new_w0) / lr, g_w0, **tol)
    np.testing.assert_allclose((w - new_w) / lr, g_w, **tol)
    np.testing.assert_allclose((V - new_V) / lr, g_V, **tol)
    # libFM style: the L2 pull applies only to the parameters the sample touches
    np.testing.assert_array_equal(new_w[~present], w[~present])
    np.testing.assert_array_equal(new_V[~present], V[~present])


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("k", [0, 2, 4, 8, 16, 32, 64, 65])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("binary", [False, True])
def test_step_equals_naive_step_float64(loss, k, index_dtype, binary):
    x, y, w0, w, V = sample_problem(k, loss, seed=100 + k, binary=binary)
    kw = dict(loss=loss, learning_rate=0.05, reg_bias=0.02, reg_linear=0.1, reg_factors=0.3,
              sample_weight=1.75)
    ref = naive_sgd_step(x, y, w0, w, V, **kw)
    got = kernel_epoch(x, y, w0, w, V, loss=loss, lr=kw["learning_rate"],
                       reg_bias=kw["reg_bias"], reg_linear=kw["reg_linear"],
                       reg_factors=kw["reg_factors"], sample_weight=kw["sample_weight"],
                       index_dtype=index_dtype, binary=binary)
    for r, g in zip(ref, got[:3]):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-13)
    # the reported loss is taken before the update: (p - y)^2 for squared (so that
    # sqrt(mean) is an RMSE), log(1 + exp(-y p)) for logistic, times the weight
    p = float(naive_fm_predict(x[None, :], w0, w, V)[0])
    reported = (p - y) ** 2 if loss == "squared" else naive_loss(loss, p, y)
    np.testing.assert_allclose(got[3]["loss_sum"], 1.75 * reported, rtol=1e-12)
    assert got[3]["weight_sum"] == 1.75


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("k", [3, 4, 8, 16, 32])
def test_step_equals_naive_step_float32(loss, k):
    x, y, w0, w, V = sample_problem(k, loss, seed=200 + k)
    # start from float32-representable parameters so only the arithmetic differs
    w = w.astype(np.float32).astype(np.float64)
    V = V.astype(np.float32).astype(np.float64)
    x = x.astype(np.float32).astype(np.float64)
    lr = 0.02
    ref = naive_sgd_step(x, y, w0, w, V, loss=loss, learning_rate=lr, reg_linear=0.05,
                         reg_factors=0.05)
    got = kernel_epoch(x, y, w0, w, V, loss=loss, lr=lr, reg_linear=0.05, reg_factors=0.05,
                       dtype=np.float32)
    assert got[1].dtype == np.float32 and got[2].dtype == np.float32
    # compare the changes, relative to the size of the change
    for before, r, g in zip((w0, w, V), ref, got[:3]):
        d_ref = np.asarray(r) - before
        d_got = np.asarray(g, dtype=np.float64) - before
        np.testing.assert_allclose(d_got, d_ref, rtol=0, atol=2e-3 * np.abs(d_ref).max() + 1e-7)


def test_squared_gradient_uses_clipped_prediction():
    k = 3
    x, y, w0, w, V = sample_problem(k, "squared", seed=3)
    p = float(naive_fm_predict(x[None, :], w0, w, V)[0])
    lr = 1e-3
    # clip the prediction from above at a value below p: the step must use p_clipped - y
    clip_max = p - 0.8
    ref = naive_sgd_step(x, y, w0, w, V, loss="squared", learning_rate=lr, clip_max=clip_max)
    got = kernel_epoch(x, y, w0, w, V, loss="squared", lr=lr, clip_min=-10.0, clip_max=clip_max)
    np.testing.assert_allclose((w0 - got[0]) / lr, clip_max - y, rtol=1e-12)
    for r, g in zip(ref, got[:3]):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-13)
    unclipped = kernel_epoch(x, y, w0, w, V, loss="squared", lr=lr)
    np.testing.assert_allclose((w0 - unclipped[0]) / lr, p - y, rtol=1e-12)


@pytest.mark.parametrize("weight", [0.0, 0.25, 3.0])
def test_sample_weight_scales_the_gradient(weight):
    x, y, w0, w, V = sample_problem(4, "squared", seed=4)
    lr = 1e-3
    base = kernel_epoch(x, y, w0, w, V, loss="squared", lr=lr)
    weighted = kernel_epoch(x, y, w0, w, V, loss="squared", lr=lr, sample_weight=weight)
    for before, b, g in zip((w0, w, V), base[:3], weighted[:3]):
        np.testing.assert_allclose(np.asarray(before) - g, weight * (np.asarray(before) - b),
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_small_epoch_is_sequential_sgd_in_some_row_order(loss):
    """An epoch of 3 rows on one thread equals 3 naive steps in one of the 6 row orders,
    each row once, later rows seeing the earlier updates."""
    rng = np.random.default_rng(12)
    n, k = 6, 3
    X = np.where(rng.random((3, n)) < 0.6, rng.normal(size=(3, n)), 0.0)
    X[:, 0] = 1.0  # no empty row
    y = np.array([1.0, -1.0, 1.0]) if loss == "logistic" else rng.normal(size=3)
    w0, w, V = 0.1, rng.normal(0, 0.5, n), rng.normal(0, 0.5, (n, k))
    lr = 0.1
    orders_seen = set()
    for seed in range(12):
        got = kernel_epoch(X, y, w0, w, V, loss=loss, lr=lr, reg_linear=0.01, seed=seed)
        matches = []
        for order in itertools.permutations(range(3)):
            p0, pw, pV = w0, w, V
            for i in order:
                p0, pw, pV = naive_sgd_step(X[i], y[i], p0, pw, pV, loss=loss,
                                            learning_rate=lr, reg_linear=0.01)
            if (abs(got[0] - p0) < 1e-12 and np.allclose(got[1], pw, rtol=1e-12, atol=1e-14)
                    and np.allclose(got[2], pV, rtol=1e-12, atol=1e-14)):
                matches.append(order)
        assert len(matches) == 1, f"seed {seed}: matches {matches}"
        assert got[3]["n_rows"] == 3
        orders_seen.add(matches[0])
    # the seed selects the order: twelve seeds do not all give the same one
    assert len(orders_seen) > 1


@pytest.mark.parametrize("mode", ["auto", "hogwild", "replicas"])
def test_one_row_with_two_threads_is_the_serial_step(mode):
    x, y, w0, w, V = sample_problem(4, "squared", seed=5)
    serial = kernel_epoch(x, y, w0, w, V, loss="squared", lr=0.01)
    parallel = kernel_epoch(x, y, w0, w, V, loss="squared", lr=0.01, n_threads=2, mode=mode)
    assert parallel[0] == serial[0]
    np.testing.assert_array_equal(parallel[1], serial[1])
    np.testing.assert_array_equal(parallel[2], serial[2])


# -- the loss functions themselves ----------------------------------------------------------

SQUARED_POINTS = [(p, y) for p in (-3.0, -0.2, 0.0, 0.5, 4.0) for y in (-1.5, 0.0, 2.0)]
LOGISTIC_POINTS = [(p, y) for p in (-40.0, -34.9, -3.0, -0.2, 0.0, 0.5, 4.0, 35.1, 40.0)
                   for y in (-1.0, 1.0)]


@pytest.mark.parametrize("p,y", SQUARED_POINTS)
def test_squared_loss_value_and_derivative(p, y):
    # the reported value is (p - y)^2; the optimised loss is half that
    assert _core.loss_value("squared", p, y) == pytest.approx((p - y) ** 2, rel=1e-14, abs=1e-300)
    h = 1e-6
    fd_half = (_core.loss_value("squared", p + h, y) - _core.loss_value("squared", p - h, y)) / (
        4 * h)
    assert _core.loss_derivative("squared", p, y) == pytest.approx(fd_half, rel=1e-7, abs=1e-8)
    assert _core.loss_derivative("squared", p, y) == pytest.approx(
        naive_loss_derivative("squared", p, y), rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("p,y", LOGISTIC_POINTS)
def test_logistic_loss_value_and_derivative(p, y):
    assert _core.loss_value("logistic", p, y) == pytest.approx(
        float(np.logaddexp(0.0, -y * p)), rel=1e-12, abs=1e-300)
    h = 1e-6
    fd = (_core.loss_value("logistic", p + h, y) - _core.loss_value("logistic", p - h, y)) / (
        2 * h)
    d = _core.loss_derivative("logistic", p, y)
    assert d == pytest.approx(fd, rel=1e-5, abs=1e-9)
    assert d == pytest.approx(naive_loss_derivative("logistic", p, y), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("z", [-700.0, -50.0, 50.0, 700.0])
@pytest.mark.parametrize("y", [-1.0, 1.0])
def test_logistic_loss_extremes_stay_finite(z, y):
    """p * y = z far in either tail: values and slopes finite and right."""
    p = z / y
    value = _core.loss_value("logistic", p, y)
    slope = _core.loss_derivative("logistic", p, y)
    assert np.isfinite(value) and np.isfinite(slope)
    assert value >= 0.0
    assert value == pytest.approx(float(np.logaddexp(0.0, -z)), rel=1e-12, abs=0)
    # dL/dp = -y sigmoid(-z)
    assert slope == pytest.approx(float(-y * sigmoid(-z)), rel=1e-12, abs=0)
    if z < 0:  # badly wrong side: unit slope pushing p towards y
        assert slope == pytest.approx(-y, rel=1e-12)
    else:
        assert abs(slope) < 1e-20


def test_logistic_step_at_extreme_margin_stays_finite():
    x, _, w0, w, V = sample_problem(4, "logistic", seed=6)
    # a hugely wrong prediction: p about -700 for a positive sample
    got = kernel_epoch(x, 1.0, w0 - 700.0, w, V, loss="logistic", lr=0.01)
    assert np.isfinite(got[0]) and np.isfinite(got[1]).all() and np.isfinite(got[2]).all()
    assert np.isfinite(got[3]["loss_sum"])
    p = float(naive_fm_predict(x[None, :], w0 - 700.0, w, V)[0])
    np.testing.assert_allclose(got[3]["loss_sum"], -p, rtol=1e-12)
    # the slope saturates at -y = -1, so w0 moves by lr
    np.testing.assert_allclose(got[0] - (w0 - 700.0), 0.01, rtol=1e-9)
