"""The BPR kernel (_core.pair_sgd_epoch) against finite differences of the pair loss
(tests/reference_ranking.py), its negative draws and its input checks."""

import numpy as np
import pytest
import scipy.sparse as sp
from reference_ranking import finite_difference_gradient, fm_score

from rapidfm import _core


def _csr(dense, dtype=np.float64):
    m = sp.csr_matrix(dense)
    data = m.data.astype(dtype)
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), data


def _problem(seed, with_context, binary=False):
    """A model over C's columns then X's, one context row and two rows of X that share
    features, so that the merged step and the context's share are both exercised."""
    rng = np.random.default_rng(seed)
    nc, nx, k = (3 if with_context else 0), 7, 4
    n = nc + nx
    w = rng.normal(size=n)
    V = rng.normal(scale=0.5, size=(n, k))
    X = np.zeros((2, nx))
    X[0, [0, 2, 3]] = [1.0, 2.0, -0.5]
    X[1, [2, 4, 6]] = [1.5, 1.0, 0.25]
    C = np.zeros((1, max(nc, 1)))
    if with_context:
        C[0, [0, 2]] = [1.0, 0.5]
    if binary:
        X = (X != 0).astype(float)
        C = (C != 0).astype(float)
    return w, V, X, C[:, :nc], nc


def _step(w, V, X, C, nc, *, rule="sgd", lr=1e-3, weight=2.0, state=None, **reg):
    indptr, indices, data = _csr(X)
    kwargs = {}
    if nc:
        c_indptr, c_indices, c_data = _csr(C)
        kwargs = dict(context=np.array([0]), c_indptr=c_indptr, c_indices=c_indices,
                      c_data=c_data, c_cols=nc)
    return _core.pair_sgd_epoch(w, V, indptr, indices, data, np.array([0]), np.array([1]),
                                weight=np.array([weight]), learning_rate=lr, n_threads=1,
                                rule=rule, state=state, **kwargs, **reg)


def _rows(X, C, nc):
    ctx = C[0] if nc else np.zeros(0)
    return np.concatenate([ctx, X[0]]), np.concatenate([ctx, X[1]])


@pytest.mark.parametrize("with_context", [False, True])
@pytest.mark.parametrize("reg", [dict(reg_linear=0.0, reg_factors=0.0),
                                 dict(reg_linear=0.1, reg_factors=0.05)])
def test_sgd_step_is_the_gradient_of_the_pair_loss(with_context, reg):
    w, V, X, C, nc = _problem(0, with_context)
    xa, xb = _rows(X, C, nc)
    gw, gV = finite_difference_gradient(w.copy(), V.copy(), xa, xb, weight=2.0, **reg)
    w1, V1 = w.copy(), V.copy()
    lr = 1e-3
    stats = _step(w1, V1, X, C, nc, lr=lr, **reg)
    np.testing.assert_allclose((w - w1) / lr, gw, atol=1e-6)
    np.testing.assert_allclose((V - V1) / lr, gV, atol=1e-6)
    assert np.abs(gV).max() > 0.1  # the check is not vacuous
    diff = fm_score(w, V, xa) - fm_score(w, V, xb)
    assert stats["loss_sum"] == pytest.approx(2.0 * np.logaddexp(0, -diff), rel=1e-12)
    assert stats["n_correct"] == int(diff > 0)


def test_features_absent_from_both_rows_do_not_move():
    w, V, X, C, nc = _problem(1, True)
    w1, V1 = w.copy(), V.copy()
    _step(w1, V1, X, C, nc, reg_linear=0.1, reg_factors=0.1)
    used = np.flatnonzero(np.concatenate([C[0], (X != 0).any(axis=0)]))
    unused = np.setdiff1d(np.arange(w.size), used)
    assert unused.size > 0
    np.testing.assert_array_equal(w1[unused], w[unused])
    np.testing.assert_array_equal(V1[unused], V[unused])


def test_binary_rows_match_explicit_ones():
    w, V, X, C, nc = _problem(2, True, binary=True)
    xa, xb = _rows(X, C, nc)
    gw, gV = finite_difference_gradient(w.copy(), V.copy(), xa, xb, weight=2.0)
    w1, V1 = w.copy(), V.copy()
    indptr, indices, _ = _csr(X)
    c_indptr, c_indices, _ = _csr(C)
    _core.pair_sgd_epoch(w1, V1, indptr, indices, None, np.array([0]), np.array([1]),
                         context=np.array([0]), c_indptr=c_indptr, c_indices=c_indices,
                         c_cols=nc, weight=np.array([2.0]), learning_rate=1e-3,
                         reg_linear=0.0, reg_factors=0.0, n_threads=1)
    np.testing.assert_allclose((V - V1) / 1e-3, gV, atol=1e-6)
    np.testing.assert_allclose((w - w1) / 1e-3, gw, atol=1e-6)


def test_adagrad_state_holds_the_squared_gradient():
    """From zero state, AdaGrad's sum of squares after one step is g^2 (g with the L2
    term) and the step is -lr g / |g|."""
    w, V, X, C, nc = _problem(3, True)
    xa, xb = _rows(X, C, nc)
    reg = dict(reg_linear=0.1, reg_factors=0.05)
    gw, gV = finite_difference_gradient(w.copy(), V.copy(), xa, xb, weight=2.0, **reg)
    state = (np.zeros(2), np.zeros_like(w), None, np.zeros_like(V))
    w1, V1 = w.copy(), V.copy()
    lr = 0.01
    _step(w1, V1, X, C, nc, rule="adagrad", lr=lr, state=state, **reg)
    used = np.flatnonzero((xa != 0) | (xb != 0))
    np.testing.assert_allclose(state[1][used], gw[used] ** 2, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(state[3][used], gV[used] ** 2, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(V1[used] - V[used], -lr * gV[used] / np.sqrt(gV[used] ** 2
                                                                           + 1e-12), rtol=1e-5)


def test_ftrl_takes_the_loss_gradient_of_w():
    w, V, X, C, nc = _problem(4, True)
    xa, xb = _rows(X, C, nc)
    gw, _ = finite_difference_gradient(w.copy(), V.copy(), xa, xb, weight=2.0)
    state = (np.zeros(2), np.zeros_like(w), np.zeros_like(w), np.zeros_like(V))
    _step(w.copy(), V.copy(), X, C, nc, rule="ftrl", lr=0.1, state=state, reg_linear=0.0,
          reg_factors=0.0)
    used = np.flatnonzero((xa != 0) | (xb != 0))
    np.testing.assert_allclose(state[1][used], gw[used] ** 2, rtol=1e-6, atol=1e-12)


def _draw_setup(n_items=50, n_users=4, seed=0):
    rng = np.random.default_rng(seed)
    items = sp.identity(n_items, format="csr")
    users = sp.identity(n_users, format="csr")
    seen = [np.sort(rng.choice(n_items, size=n_items - 5, replace=False))
            for _ in range(n_users)]
    seen_ptr = np.concatenate([[0], np.cumsum([s.size for s in seen])]).astype(np.int64)
    return items, users, seen, seen_ptr, np.concatenate(seen).astype(np.int64)


def _draw_epoch(items, users, preferred, context, seen_ptr, seen, seed, n_threads=1,
                draw_cdf=None, k=2):
    n = users.shape[1] + items.shape[1]
    w = np.zeros(n)
    V = np.zeros((n, k))
    stats = _core.pair_sgd_epoch(
        w, V, items.indptr.astype(np.int64), items.indices.astype(np.int32), None, preferred,
        None, context=context, c_indptr=users.indptr.astype(np.int64),
        c_indices=users.indices.astype(np.int32), c_cols=users.shape[1], seen_ptr=seen_ptr,
        seen=seen, draw_cdf=draw_cdf, max_draws=64, learning_rate=1.0, reg_linear=0.0,
        reg_factors=0.0, n_threads=n_threads, seed=seed)
    return w, stats


def test_drawn_items_are_never_seen_ones():
    """With w = V = 0 every pair has g = -1/2 and moves w of the drawn item by -1/2 (SGD,
    lr 1): w shows which items were drawn, and none may be one the user has seen."""
    items, users, seen, seen_ptr, seen_flat = _draw_setup()
    n_users = users.shape[0]
    for u in range(n_users):
        preferred = np.full(200, 0 if 0 not in seen[u] else int(np.setdiff1d(
            np.arange(50), seen[u])[0]), dtype=np.int64)
        context = np.full(200, u, dtype=np.int64)
        w, stats = _draw_epoch(items, users, preferred, context, seen_ptr, seen_flat, seed=u)
        item_w = w[n_users:]
        drawn = np.flatnonzero(item_w < 0)
        assert drawn.size > 0
        assert not np.isin(drawn, seen[u]).any()
        assert preferred[0] not in drawn
        assert stats["n_pairs"] + stats["n_skipped"] == 200


def test_draws_follow_the_cdf_and_do_not_depend_on_threads():
    n_items = 4
    items = sp.identity(n_items, format="csr")
    users = sp.identity(1, format="csr")
    # item 0 preferred; draws among 1..3 with masses 1 : 2 : 5
    cdf = np.cumsum([0.0, 1.0, 2.0, 5.0])
    n = 40000
    preferred = np.zeros(n, dtype=np.int64)
    context = np.zeros(n, dtype=np.int64)
    seen_ptr = np.array([0, 0], dtype=np.int64)
    seen = np.zeros(0, dtype=np.int64)
    # k=0 and w = 0 throughout would need lr 0 steps; instead count draws through w after
    # one epoch with a tiny rate (each draw adds lr/2 to -w of the drawn item)
    n_f = 1 + n_items
    w = np.zeros(n_f)
    V = np.zeros((n_f, 0))
    args = (items.indptr.astype(np.int64), items.indices.astype(np.int32), None, preferred,
            None)
    opts = dict(context=context, c_indptr=users.indptr.astype(np.int64),
                c_indices=users.indices.astype(np.int32), c_cols=1, seen_ptr=seen_ptr,
                seen=seen, draw_cdf=cdf, max_draws=8, learning_rate=1e-9, reg_linear=0.0,
                reg_factors=0.0, seed=7)
    _core.pair_sgd_epoch(w, V, *args, n_threads=1, **opts)
    counts = -w[1 + 1:] / (0.5e-9)
    share = counts / counts.sum()
    np.testing.assert_allclose(share, [1 / 8, 2 / 8, 5 / 8], atol=0.01)
    assert w[1] > 0  # the preferred item went up, never drawn
    w2 = np.zeros(n_f)
    stats = _core.pair_sgd_epoch(w2, V, *args, n_threads=2, **opts)
    if stats["n_threads"] == 2:
        # the same draws, applied in another interleaving: sums equal up to rounding
        np.testing.assert_allclose(w2, w, rtol=1e-9)


def test_user_who_has_seen_every_item_is_skipped():
    items = sp.identity(3, format="csr")
    users = sp.identity(1, format="csr")
    seen_ptr = np.array([0, 3], dtype=np.int64)
    seen = np.arange(3, dtype=np.int64)
    _, stats = _draw_epoch(items, users, np.array([0, 1]), np.array([0, 0]), seen_ptr, seen, 0)
    assert stats["n_skipped"] == 2 and stats["n_pairs"] == 0


def _tiny():
    X = sp.identity(3, format="csr")
    return (np.zeros(3), np.zeros((3, 2)), X.indptr.astype(np.int64),
            X.indices.astype(np.int32), None)


@pytest.mark.parametrize("preferred, other, message", [
    (np.array([0, 3]), np.array([1, 2]), "out of range"),
    (np.array([0, -1]), np.array([1, 2]), "out of range"),
    (np.array([0, 1]), np.array([1, 5]), "out of range"),
])
def test_bad_pair_ids_are_refused(preferred, other, message):
    w, V, indptr, indices, data = _tiny()
    with pytest.raises(ValueError, match=message):
        _core.pair_sgd_epoch(w, V, indptr, indices, data, preferred, other,
                             learning_rate=0.1, reg_linear=0.0, reg_factors=0.0, n_threads=1)
    status, position = _core.check_pairs(indptr, indices, 3, preferred, other, None, None)
    assert status == _core.CSR_INDEX_RANGE and position == 1


def test_unsorted_seen_items_and_bad_cdf_are_refused():
    items = sp.identity(3, format="csr")
    users = sp.identity(1, format="csr")
    ip, ix = items.indptr.astype(np.int64), items.indices.astype(np.int32)
    up, ux = users.indptr.astype(np.int64), users.indices.astype(np.int32)
    status, position = _core.check_pairs(
        ip, ix, 3, np.array([0]), None, np.array([0]), None, up, ux, 1,
        seen_ptr=np.array([0, 2]), seen=np.array([2, 1]))
    assert status == _core.CSR_UNSORTED and position == 1
    status, position = _core.check_pairs(ip, ix, 3, np.array([0]), None, None, None,
                                         draw_cdf=np.array([1.0, 0.5, 2.0]))
    assert status != 0 and position == 1


def test_parallel_mode_and_loss_are_checked():
    w, V, indptr, indices, data = _tiny()
    with pytest.raises(ValueError, match="parallel mode"):
        _core.pair_sgd_epoch(w, V, indptr, indices, data, np.array([0]), np.array([1]),
                             learning_rate=0.1, reg_linear=0.0, reg_factors=0.0, n_threads=1,
                             parallel_mode="replicas")


def test_divergence_raises():
    w, V, indptr, indices, data = _tiny()
    w[:] = [np.inf, 0.0, 0.0]
    with pytest.raises(_core.DivergenceError):
        _core.pair_sgd_epoch(w, V, indptr, indices, data, np.array([0]), np.array([1]),
                             learning_rate=0.1, reg_linear=0.0, reg_factors=0.0, n_threads=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_thread_is_deterministic_and_threads_train(dtype):
    rng = np.random.default_rng(5)
    X = sp.random(400, 60, density=0.05, format="csr", random_state=1, dtype=np.float64)
    X.data[:] = 1.0
    pairs = rng.integers(0, 400, size=(20000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    results = []
    for n_threads in (1, 1, 2):
        w = np.zeros(60, dtype=dtype)
        V = (np.random.default_rng(0).normal(size=(60, 8)) * 0.1).astype(dtype)
        stats = _core.pair_sgd_epoch(
            w, V, X.indptr.astype(np.int64), X.indices.astype(np.int32), None,
            np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]),
            learning_rate=0.05, reg_linear=0.0, reg_factors=0.0, n_threads=n_threads, seed=3)
        results.append((w, V, stats))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[2][2]["n_pairs"] == pairs.shape[0]
    assert np.isfinite(results[2][1]).all()
