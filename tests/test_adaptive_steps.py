"""The adaptive step rules of the SGD kernel (AdaGrad, FTRL-proximal) against the
formulas in NumPy (reference.naive_adaptive_step), step by step and per parallel mode.

A 1-row epoch at one thread is exactly one step, so it can be compared with the naive
step; a few rows compare with the naive steps in one of the row orders. Under the
parallel modes the state must add up as in a serial pass: with a tiny learning rate
the gradients hardly depend on the order, and the sums of squared gradients of every
mode must equal the naive sums over the rows.
"""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from reference import naive_adaptive_step

from rapidfm import _core

RULES = ["adagrad", "ftrl"]


def kernel_epoch(X, y, w0, w, V, state, *, rule, loss, lr, reg_bias=0.0, reg_linear=0.0,
                 reg_factors=0.0, beta=1.0, l1=0.0, dtype=np.float64, index_dtype=np.int64,
                 binary=False, seed=0, n_threads=1, mode="auto", sample_weight=None):
    """_core.sgd_epoch with rule on copies; returns (w0, w, V, state dict, stats)."""
    Xs = sp.csr_matrix(np.atleast_2d(np.asarray(X, dtype=np.float64)))
    data = None if binary else Xs.data.astype(dtype)
    w_k, V_k = np.array(w, dtype=dtype), np.array(V, dtype=dtype)
    w0_state = np.array([state["w0_sq"], state["w0_z"]], dtype=np.float64)
    w_sq = np.array(state["w_sq"], dtype=dtype)
    w_z = np.array(state["w_z"], dtype=dtype)
    V_sq = np.array(state["V_sq"], dtype=dtype)
    sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    new_w0, stats = _core.sgd_epoch(
        float(w0), w_k, V_k, Xs.indptr.astype(np.int64), Xs.indices.astype(index_dtype), data,
        np.atleast_1d(np.asarray(y, np.float64)), sw, loss=loss, learning_rate=lr,
        reg_bias=reg_bias, reg_linear=reg_linear, reg_factors=reg_factors, clip_min=-np.inf,
        clip_max=np.inf, n_threads=n_threads, parallel_mode=mode, seed=seed, rule=rule,
        ftrl_beta=beta, ftrl_l1=l1, state=(w0_state, w_sq, w_z if rule == "ftrl" else None,
                                           V_sq))
    out = {"w0_sq": w0_state[0], "w0_z": w0_state[1], "w_sq": w_sq, "w_z": w_z, "V_sq": V_sq}
    return new_w0, w_k, V_k, out, stats


def problem(k, loss, seed=0, n=9, binary=False, state_scale=1.0):
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    x[[0, 2, 3, 5, 8]] = 1.0 if binary else [0.7, -1.3, 2.1, 0.4, -0.9]
    w = rng.normal(0, 0.5, n)
    V = rng.normal(0, 0.4, (n, k))
    state = {"w0_sq": 0.5 * state_scale, "w0_z": 0.2 * state_scale,
             "w_sq": state_scale * rng.random(n), "w_z": state_scale * rng.normal(size=n),
             "V_sq": state_scale * rng.random((n, k))}
    y = 1.0 if loss == "logistic" else 1.7
    return x, y, 0.3, w, V, state


def assert_same(got, want, rtol, atol):
    assert got[0] == pytest.approx(want[0], rel=rtol, abs=atol)
    np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=atol)
    np.testing.assert_allclose(got[2], want[2], rtol=rtol, atol=atol)
    for key in ("w0_sq", "w_sq", "V_sq"):
        np.testing.assert_allclose(got[3][key], want[3][key], rtol=rtol, atol=atol)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("k", [1, 3, 8, 16, 17])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("fresh", [True, False])
def test_one_step_equals_the_formulas_float64(rule, loss, k, binary, index_dtype, fresh):
    x, y, w0, w, V, state = problem(k, loss, binary=binary, state_scale=0.0 if fresh else 1.0)
    options = dict(rule=rule, loss=loss, reg_bias=0.01, reg_linear=0.02, reg_factors=0.03,
                   beta=0.7, l1=0.3)
    got = kernel_epoch(x, y, w0, w, V, state, lr=0.1, binary=binary, index_dtype=index_dtype,
                       **options)
    want = naive_adaptive_step(x, y, w0, w, V, state, learning_rate=0.1,
                               **{k_: v for k_, v in options.items()})
    assert_same(got, want, rtol=1e-12, atol=1e-14)
    if rule == "ftrl":
        np.testing.assert_allclose(got[3]["w_z"], want[3]["w_z"], rtol=1e-12, atol=1e-14)
        assert got[3]["w0_z"] == pytest.approx(want[3]["w0_z"], rel=1e-12, abs=1e-14)
    # features absent from the row keep their parameters and state
    absent = x == 0
    np.testing.assert_array_equal(got[1][absent], w[absent])
    np.testing.assert_array_equal(got[3]["V_sq"][absent], state["V_sq"][absent])


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("k", [4, 8, 16, 32])
def test_one_step_equals_the_formulas_float32(rule, k):
    x, y, w0, w, V, state = problem(k, "squared", seed=3)
    got = kernel_epoch(x, y, w0, w, V, state, rule=rule, loss="squared", lr=0.05,
                       reg_linear=0.01, reg_factors=0.02, l1=0.1, dtype=np.float32)
    want = naive_adaptive_step(x, y, w0, w, V, state, rule=rule, loss="squared",
                               learning_rate=0.05, reg_linear=0.01, reg_factors=0.02, l1=0.1)
    assert_same(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("rule", RULES)
def test_sample_weight_scales_the_gradient(rule):
    x, y, w0, w, V, state = problem(4, "squared", seed=4)
    got = kernel_epoch(x, y, w0, w, V, state, rule=rule, loss="squared", lr=0.1,
                       sample_weight=[2.5])
    want = naive_adaptive_step(x, y, w0, w, V, state, rule=rule, loss="squared",
                               learning_rate=0.1, sample_weight=2.5)
    assert_same(got, want, rtol=1e-12, atol=1e-14)


def test_ftrl_l1_sets_weak_weights_to_exactly_zero():
    """|z| <= l1 gives w = 0: with a large L1 every w the row touches is 0, and the
    factors still move (they take AdaGrad steps)."""
    x, y, w0, w, V, state = problem(4, "squared", seed=5, state_scale=0.0)
    got = kernel_epoch(x, y, w0, w, V, state, rule="ftrl", loss="squared", lr=0.1, l1=1e3)
    touched = x != 0
    assert np.all(got[1][touched] == 0.0)
    assert np.all(got[2][touched] != V[touched])


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_small_epoch_is_sequential_steps_in_some_row_order(rule, loss):
    rng = np.random.default_rng(12)
    n, k = 6, 3
    X = np.where(rng.random((3, n)) < 0.6, rng.normal(size=(3, n)), 0.0)
    X[:, 0] = 1.0
    y = np.array([1.0, -1.0, 1.0]) if loss == "logistic" else rng.normal(size=3)
    w0, w, V = 0.1, rng.normal(0, 0.5, n), rng.normal(0, 0.5, (n, k))
    state = {"w0_sq": 0.3, "w0_z": -0.1, "w_sq": rng.random(n), "w_z": rng.normal(size=n),
             "V_sq": rng.random((n, k))}
    options = dict(rule=rule, loss=loss, reg_linear=0.01, l1=0.05)
    seen = set()
    for seed in range(8):
        got = kernel_epoch(X, y, w0, w, V, state, lr=0.1, seed=seed, **options)
        matches = []
        for order in itertools.permutations(range(3)):
            p = (w0, w, V, state)
            for i in order:
                p = naive_adaptive_step(X[i], y[i], *p, learning_rate=0.1, **options)
            if (abs(got[0] - p[0]) < 1e-12 and np.allclose(got[1], p[1], atol=1e-13)
                    and np.allclose(got[2], p[2], atol=1e-13)
                    and np.allclose(got[3]["V_sq"], p[3]["V_sq"], atol=1e-12)):
                matches.append(order)
        assert len(matches) == 1, f"seed {seed}: matches {matches}"
        seen.add(matches[0])
    assert len(seen) > 1


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("mode", ["hogwild", "replicas", "hybrid"])
def test_one_row_with_two_threads_is_the_serial_step(rule, mode):
    x, y, w0, w, V, state = problem(8, "squared", seed=6)
    serial = kernel_epoch(x, y, w0, w, V, state, rule=rule, loss="squared", lr=0.05)
    parallel = kernel_epoch(x, y, w0, w, V, state, rule=rule, loss="squared", lr=0.05,
                            n_threads=2, mode=mode)
    assert parallel[0] == serial[0]
    for i in (1, 2):
        np.testing.assert_array_equal(parallel[i], serial[i])
    for key in ("w0_sq", "w_sq", "V_sq", "w_z"):
        np.testing.assert_array_equal(parallel[3][key], serial[3][key])


def skewed_rows(n_rows, seed):
    """One-hot rows of 3 fields: a few hot values in most rows (the hybrid mode copies
    those), a long tail in the rest."""
    rng = np.random.default_rng(seed)
    fields, card = 3, 300
    cols = np.minimum(rng.zipf(1.6, size=(n_rows, fields)) - 1, card - 1)
    cols = cols + np.arange(fields) * card
    X = sp.csr_matrix((np.ones(n_rows * fields), cols.ravel(),
                       np.arange(0, n_rows * fields + 1, fields)), shape=(n_rows, fields * card))
    X.sort_indices()
    return X


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("mode", ["hogwild", "replicas", "hybrid"])
def test_parallel_modes_add_up_the_squared_gradients(rule, mode):
    """At learning rate 1e-12 no parameter moves enough to change a gradient (to 1e-7
    relative), so any visit order and any merge that sums the increments gives the
    naive sums of squared gradients over the rows; a merge that averaged them (as the
    parameters' changes of a hot feature are) would give half for shared features."""
    X = skewed_rows(40_000, seed=1)
    n, k = X.shape[1], 8
    rng = np.random.default_rng(0)
    y = rng.normal(size=X.shape[0])
    w0, w, V = 0.1, rng.normal(0, 0.1, n), rng.normal(0, 0.1, (n, k))
    lr = 1e-12
    # FTRL's weights are a function of (z, n): z = -w beta / lr gives the initial w at n = 0
    zeros = {"w0_sq": 0.0, "w0_z": -w0 / lr, "w_sq": np.zeros(n), "w_z": -w / lr,
             "V_sq": np.zeros((n, k))}
    got = kernel_epoch(X.toarray(), y, w0, w, V, zeros, rule=rule, loss="squared", lr=lr,
                       binary=True, n_threads=2, mode=mode, seed=3)
    assert got[4]["n_threads"] == 2 and got[4]["parallel_mode"] == mode
    # the naive sums, all rows at the initial parameters
    dense = X.toarray()
    pred = w0 + dense @ w + 0.5 * (((dense @ V) ** 2) - (dense ** 2) @ (V ** 2)).sum(1)
    g = pred - y
    want_w_sq = (dense ** 2).T @ (g ** 2)
    q = dense @ V
    gV = np.zeros((n, k))
    for i in range(dense.shape[0]):
        cols = X.indices[X.indptr[i]:X.indptr[i + 1]]
        gV[cols] += (g[i] * (q[i] - V[cols])) ** 2
    if mode == "replicas":
        assert got[3]["w0_sq"] == pytest.approx(np.sum(g ** 2), rel=1e-6)
        np.testing.assert_allclose(got[3]["w_sq"], want_w_sq, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(got[3]["V_sq"], gV, rtol=1e-6, atol=1e-9)
    elif mode == "hybrid":
        # w0 merges as under replicas; the features hybrid does not copy are shared
        # hogwild-style: the threads add to their sums without locks, as to the
        # parameters, and two additions at the same moment (or a thread descheduled
        # between its read and its write) keep one: a sum may miss terms, never gain.
        # (Under FTRL a lost update of a shared z also moves that weight a little, and
        # so the later rows' gradients: w0's sum to 1e-4.)
        assert got[3]["w0_sq"] == pytest.approx(np.sum(g ** 2), rel=1e-4)
        for got_sum, want_sum in ((got[3]["w_sq"], want_w_sq), (got[3]["V_sq"], gV)):
            if rule == "adagrad":  # FTRL's moved weights may raise later gradients
                assert np.all(got_sum <= want_sum * (1 + 1e-6) + 1e-9)
            assert 0.95 * want_sum.sum() <= got_sum.sum() <= 1.01 * want_sum.sum()
    else:
        # hogwild: every sum is shared. Lost additions on the hot features are frequent
        # with two threads on one model (more so on a busy machine, where a thread
        # descheduled mid-update writes back a stale sum); under FTRL a lost update of z
        # (whose terms are huge at this learning rate) also moves the weight, so only
        # the totals are bounded here (test_adaptive_solvers.py checks what it learns)
        assert got[3]["w0_sq"] == pytest.approx(np.sum(g ** 2), rel=0.05)
        for got_sum, want_sum in ((got[3]["w_sq"], want_w_sq), (got[3]["V_sq"], gV)):
            assert 0.8 * want_sum.sum() <= got_sum.sum() <= 1.05 * want_sum.sum()
