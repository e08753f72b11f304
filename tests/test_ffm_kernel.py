"""The field-aware FM (FFM) kernel of rapidfm._core (ffm_predict, ffm_sgd_epoch,
check_ffm_fields) against the naive NumPy reference of tests/reference_ffm.py.

The reference is tested first by itself, against formulas it does not share code
with: the pairwise term as an einsum over a dense (n_features, n_fields, k) tensor,
the FM of reference.py when there is one field, and finite differences of the
objective. Then the kernel: predictions equal the naive double loop over the pairs;
a 1-row epoch at one thread is exactly one step, equal to the naive step for every
rule, loss and option; a small epoch is the naive steps in one of the row orders; a
two-thread hogwild epoch adds up the adaptive rules' sums of squared gradients.
"""

import itertools

import numpy as np
import pytest
from reference import (
    finite_difference_gradient,
    naive_adaptive_step,
    naive_fm_predict,
    naive_sgd_step,
)
from reference_ffm import (
    csr_to_rows,
    ffm_loss,
    naive_ffm_predict,
    naive_ffm_step,
    reported_loss,
    rows_to_csr,
    scaled_row,
    zero_state,
)

from rapidfm import _core

INF = np.inf
RULES = ["sgd", "adagrad", "ftrl"]
LOSSES = ["squared", "logistic"]

# One row that exercises the pair rule: feature 2 under two fields (0 and 1), three
# values in field 1 (so V[5, 1], V[2, 1] and V[7, 1] ... are used by several pairs and
# see the earlier pairs' steps), indices not sorted, and a last field with one value.
N_FEATURES, N_FIELDS = 9, 4
STEP_ROW = [(2, 0, 0.5), (5, 1, -1.2), (2, 1, 0.8), (7, 1, 1.5), (0, 2, -0.3), (4, 3, 2.0)]
# Distinct features, one value per field: every vector is used by one pair only, so
# the sequential pair update is the exact gradient step.
FD_ROW = [(1, 0, 0.7), (4, 1, -1.3), (6, 2, 2.1), (0, 3, 0.4)]


# -- helpers ------------------------------------------------------------------------------

def random_rows(rng, n_rows, n_features, n_fields, *, binary=False, max_len=7, min_len=0):
    """Rows of distinct (feature, field) keys in random order, random lengths."""
    rows = []
    for _ in range(n_rows):
        length = int(rng.integers(min_len, max_len + 1))
        keys, row = set(), []
        while len(row) < length:
            j, f = int(rng.integers(n_features)), int(rng.integers(n_fields))
            if (j, f) in keys:
                continue
            keys.add((j, f))
            row.append((j, f, 1.0 if binary else float(rng.normal())))
        rows.append(row)
    return rows


def random_model(rng, n_features, n_fields, k, scale=0.3):
    return (float(rng.normal(0, 0.5)), rng.normal(0, 0.5, n_features),
            rng.normal(0, scale, (n_features, n_fields, k)))


def random_state(rng, n_features, n_fields, k):
    return {"w0_sq": 0.4, "w0_z": -0.2, "w_sq": rng.random(n_features),
            "w_z": rng.normal(size=n_features), "V_sq": rng.random((n_features, n_fields, k))}


def as_dtype(dtype, *arrays):
    """The arrays cast to dtype and back to float64: the values the kernel sees."""
    return [np.asarray(a, dtype=dtype).astype(np.float64) for a in arrays]


def kernel_csr(rows, *, dtype=np.float64, index_dtype=np.int64, binary=False):
    indptr, indices, fields, data = rows_to_csr(rows)
    if binary:
        assert np.all(data == 1.0)
    return indptr, indices.astype(index_dtype), fields, None if binary else data.astype(dtype)


def kernel_predict(rows, w0, w, V, *, dtype=np.float64, index_dtype=np.int64, binary=False,
                   linear=True, normalize=False, n_threads=1):
    indptr, indices, fields, data = kernel_csr(rows, dtype=dtype, index_dtype=index_dtype,
                                               binary=binary)
    return _core.ffm_predict(float(w0), np.array(w, dtype=dtype), np.array(V, dtype=dtype),
                             indptr, indices, fields, data, linear=int(linear),
                             normalize=int(normalize), n_threads=n_threads)


def kernel_epoch(rows, y, w0, w, V, state=None, *, rule="sgd", loss, lr, reg_bias=0.0,
                 reg_linear=0.0, reg_factors=0.0, beta=1.0, l1=0.0, linear=True,
                 normalize=False, clip_min=-INF, clip_max=INF, sample_weight=None,
                 dtype=np.float64, index_dtype=np.int64, binary=False, seed=0, n_threads=1,
                 mode="auto", block_rows=0):
    """_core.ffm_sgd_epoch on copies; returns (w0, w, V, state dict or None, stats)."""
    indptr, indices, fields, data = kernel_csr(rows, dtype=dtype, index_dtype=index_dtype,
                                               binary=binary)
    w_k, V_k = np.array(w, dtype=dtype), np.array(V, dtype=dtype)
    kernel_state = None
    if state is not None:
        w0_state = np.array([state["w0_sq"], state["w0_z"]], dtype=np.float64)
        w_sq = np.array(state["w_sq"], dtype=dtype)
        w_z = np.array(state["w_z"], dtype=dtype)
        V_sq = np.array(state["V_sq"], dtype=dtype)
        kernel_state = (w0_state, w_sq, w_z if rule == "ftrl" else None, V_sq)
    sw = None if sample_weight is None else np.atleast_1d(np.asarray(sample_weight, np.float64))
    new_w0, stats = _core.ffm_sgd_epoch(
        float(w0), w_k, V_k, indptr, indices, fields, data,
        np.atleast_1d(np.asarray(y, dtype=np.float64)), sw, loss=loss, learning_rate=lr,
        reg_bias=reg_bias, reg_linear=reg_linear, reg_factors=reg_factors, clip_min=clip_min,
        clip_max=clip_max, n_threads=n_threads, parallel_mode=mode, seed=seed,
        block_rows=block_rows, rule=rule, ftrl_beta=beta, ftrl_l1=l1, state=kernel_state,
        linear=int(linear), normalize=int(normalize))
    out = None
    if state is not None:
        out = {"w0_sq": w0_state[0], "w0_z": w0_state[1], "w_sq": w_sq, "w_z": w_z,
               "V_sq": V_sq}
    return new_w0, w_k, V_k, out, stats


def assert_step_equal(got, want, rule, rtol, atol):
    """got: kernel_epoch's result; want: naive_ffm_step's."""
    assert got[0] == pytest.approx(want[0], rel=rtol, abs=atol)
    np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=atol, err_msg="w")
    np.testing.assert_allclose(got[2], want[2], rtol=rtol, atol=atol, err_msg="V")
    if rule != "sgd":
        assert got[3]["w0_sq"] == pytest.approx(want[3]["w0_sq"], rel=rtol, abs=atol)
        np.testing.assert_allclose(got[3]["w_sq"], want[3]["w_sq"], rtol=rtol, atol=atol,
                                   err_msg="w_sum_sq")
        np.testing.assert_allclose(got[3]["V_sq"], want[3]["V_sq"], rtol=rtol, atol=atol,
                                   err_msg="V_sum_sq")
    if rule == "ftrl":
        assert got[3]["w0_z"] == pytest.approx(want[3]["w0_z"], rel=rtol, abs=atol)
        np.testing.assert_allclose(got[3]["w_z"], want[3]["w_z"], rtol=rtol, atol=atol,
                                   err_msg="w_z")
    assert got[4]["loss_sum"] == pytest.approx(want[4], rel=rtol, abs=atol)


def target(loss, sign=1.0):
    return sign * 1.0 if loss == "logistic" else 1.7


def used_vectors(row):
    """The (feature, field) vectors of V a row's pairs use."""
    return {(j, f2) for j, f1, _ in row for j2, f2, _ in row if (j, f1) != (j2, f2)}


# -- the reference by itself --------------------------------------------------------------

def dense_tensor(rows, n_features, n_fields, normalize):
    """X[r, j, f] = x of the entry (j, f) of row r (rows have distinct keys)."""
    X = np.zeros((len(rows), n_features, n_fields))
    for r, row in enumerate(rows):
        for j, f, x in scaled_row(row, normalize):
            assert X[r, j, f] == 0.0
            X[r, j, f] = x
    return X


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("binary", [False, True])
def test_reference_predict_equals_the_dense_einsum(normalize, linear, binary):
    """sum over ordered pairs of entries (j, f) != (j', f') of <V[j, f'], V[j', f]> x x',
    halved: an einsum over the dense tensor minus its diagonal."""
    rng = np.random.default_rng(0)
    n_features, n_fields, k = 7, 3, 4
    rows = [STEP_ROW[:3], []] + random_rows(rng, 30, n_features, n_fields, binary=binary)
    rows[0] = [(j, f, 1.0 if binary else v) for j, f, v in rows[0]]
    w0, w, V = random_model(rng, n_features, n_fields, k)
    X = dense_tensor(rows, n_features, n_fields, normalize)
    full = np.einsum("rjf,rkg,jgd,kfd->r", X, X, V, V)
    diagonal = np.einsum("rjf,rjf,jfd,jfd->r", X, X, V, V)
    want = 0.5 * (full - diagonal)
    if linear:
        want += w0 + np.einsum("rjf,j->r", X, w)
    got = naive_ffm_predict(rows, w0, w, V, linear=linear, normalize=normalize)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got[1] == (w0 if linear else 0.0)


def test_reference_with_one_field_is_the_fm():
    rng = np.random.default_rng(1)
    n_features, k = 8, 3
    rows = random_rows(rng, 25, n_features, 1)
    w0, w, V = random_model(rng, n_features, 1, k)
    X = np.zeros((len(rows), n_features))
    for r, row in enumerate(rows):
        for j, _, v in row:
            X[r, j] = v
    np.testing.assert_allclose(naive_ffm_predict(rows, w0, w, V),
                               naive_fm_predict(X, w0, w, V[:, 0, :]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("length", [1, 2])
def test_reference_step_with_one_field_is_the_fm_step(rule, loss, normalize, length):
    """With one field and at most two entries a vector is used by one pair, so the FFM
    step is reference.py's FM step (on the normalised values). (A lone entry uses no
    vector, where the FM still shrinks v_j by its L2 term: no reg_factors then.)"""
    rng = np.random.default_rng(2)
    n_features, k = 6, 3
    row = [(4, 0, 0.9), (1, 0, -1.4)][:length]
    w0, w, V = random_model(rng, n_features, 1, k)
    state = random_state(rng, n_features, 1, k)
    x = np.zeros(n_features)
    for j, _, v in scaled_row(row, normalize):
        x[j] = v
    y = target(loss, -1.0)
    options = dict(loss=loss, reg_bias=0.01, reg_linear=0.02,
                   reg_factors=0.03 if length == 2 else 0.0, sample_weight=1.6)
    got = naive_ffm_step(row, y, w0, w, V, state, rule=rule, lr=0.1, beta=0.8, l1=0.05,
                         normalize=normalize, **options)
    if rule == "sgd":
        want = naive_sgd_step(x, y, w0, w, V[:, 0, :], learning_rate=0.1, **options)
    else:
        fm_state = dict(state, V_sq=state["V_sq"][:, 0, :])
        want = naive_adaptive_step(x, y, w0, w, V[:, 0, :], fm_state, rule=rule,
                                   learning_rate=0.1, beta=0.8, l1=0.05, **options)
        np.testing.assert_allclose(got[3]["V_sq"][:, 0, :], want[3]["V_sq"], rtol=1e-12)
        np.testing.assert_allclose(got[3]["w_sq"], want[3]["w_sq"], rtol=1e-12)
        assert got[3]["w0_sq"] == pytest.approx(want[3]["w0_sq"], rel=1e-12)
    assert got[0] == pytest.approx(want[0], rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[2][:, 0, :], want[2], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("linear", [False, True])
def test_reference_sgd_step_is_minus_lr_times_the_gradient(loss, normalize, linear):
    rng = np.random.default_rng(3)
    w0, w, V = random_model(rng, 8, 4, 3)
    regs = dict(reg_bias=0.01, reg_linear=0.02, reg_factors=0.03)
    lr, y = 1e-6, target(loss)
    step = naive_ffm_step(FD_ROW, y, w0, w, V, rule="sgd", loss=loss, lr=lr,
                          linear=linear, normalize=normalize, sample_weight=1.3, **regs)

    def objective(theta):
        return ffm_loss([FD_ROW], [y], theta[0], theta[1:9], theta[9:].reshape(V.shape),
                        loss=loss, linear=linear, normalize=normalize, sample_weight=[1.3],
                        **regs)

    theta = np.concatenate([[w0], w, V.ravel()])
    after = np.concatenate([[step[0]], step[1], step[2].ravel()])
    np.testing.assert_allclose((theta - after) / lr, finite_difference_gradient(objective, theta),
                               rtol=1e-5, atol=1e-7)


def test_reference_csr_round_trip():
    rng = np.random.default_rng(4)
    rows = [STEP_ROW, []] + random_rows(rng, 10, 9, 4)
    indptr, indices, fields, data = rows_to_csr(rows)
    assert csr_to_rows(indptr, indices, fields, data) == rows
    ones = csr_to_rows(indptr, indices, fields, None)
    assert ones == [[(j, f, 1.0) for j, f, _ in row] for row in rows]


# -- prediction ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("k", [1, 3, 4, 8, 16])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_equals_the_naive_double_loop(dtype, index_dtype, binary, normalize, linear, k,
                                              n_threads):
    rng = np.random.default_rng(k)
    first = [(j, f, 1.0 if binary else v) for j, f, v in STEP_ROW]
    rows = [first, [], [(3, 2, 1.0 if binary else -0.7)]]
    rows += random_rows(rng, 120, N_FEATURES, N_FIELDS, binary=binary, max_len=9)
    rows.append([])
    w0, w, V = random_model(rng, N_FEATURES, N_FIELDS, k)
    w0 = float(np.float32(w0)) if dtype == np.float32 else w0
    got = kernel_predict(rows, w0, w, V, dtype=dtype, index_dtype=index_dtype, binary=binary,
                         linear=linear, normalize=normalize, n_threads=n_threads)
    assert got.dtype == np.float64 and got.shape == (len(rows),)
    want = naive_ffm_predict(rows, w0, *as_dtype(dtype, w, V), linear=linear,
                             normalize=normalize)
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    # an empty row predicts w0 (linear) or 0
    assert got[1] == pytest.approx(w0 if linear else 0.0, abs=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_on_a_model_past_the_prefetch_threshold(dtype, linear, n_threads):
    """20,000 features x 4 fields x k=4 (1.3 MB in float32): the rows loop prefetches
    the parameters of the rows ahead; the predictions stay the naive double loop's."""
    rng = np.random.default_rng(11)
    n_features, n_fields, k = 20_000, 4, 4
    rows = random_rows(rng, 1500, n_features, n_fields, max_len=9)
    w0, w, V = random_model(rng, n_features, n_fields, k)
    got = kernel_predict(rows, w0, w, V, dtype=dtype, linear=linear, n_threads=n_threads)
    want = naive_ffm_predict(rows, w0, *as_dtype(dtype, w, V), linear=linear)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_predict_a_feature_under_two_fields_is_two_entries():
    """x = feature 0 under fields 0 and 1 (value 1 each): the pair is
    <V[0, 1], V[0, 0]>; the same feature once gives no pair at all."""
    rng = np.random.default_rng(5)
    w0, w, V = random_model(rng, 2, 2, 4)
    got = kernel_predict([[(0, 0, 1.0), (0, 1, 1.0)], [(0, 0, 1.0)]], w0, w, V)
    assert got[0] == pytest.approx(w0 + 2 * w[0] + V[0, 1] @ V[0, 0], rel=1e-13)
    assert got[1] == pytest.approx(w0 + w[0], rel=1e-13)


def test_predict_normalize_scales_the_pairs_by_the_squared_norm():
    rng = np.random.default_rng(6)
    w0, w, V = random_model(rng, 3, 3, 4)
    row = [(0, 0, 3.0), (1, 1, 4.0)]
    got = kernel_predict([row], w0, w, V, normalize=True)[0]
    want = w0 + (3 * w[0] + 4 * w[1]) / 5 + 12 / 25 * (V[0, 1] @ V[1, 0])
    assert got == pytest.approx(want, rel=1e-13)


# -- one step -----------------------------------------------------------------------------

def one_step_case(rule, loss, k, seed=0, row=STEP_ROW, fresh=False):
    rng = np.random.default_rng(seed)
    w0, w, V = random_model(rng, N_FEATURES, N_FIELDS, k)
    state = None
    if rule != "sgd":
        state = (zero_state(N_FEATURES, N_FIELDS, k) if fresh
                 else random_state(rng, N_FEATURES, N_FIELDS, k))
    return row, target(loss, -1.0), w0, w, V, state


STEP_OPTIONS = dict(reg_bias=0.01, reg_linear=0.02, reg_factors=0.03, beta=0.7, l1=0.05)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("k", [1, 3, 4, 8, 16])
def test_one_step_equals_the_naive_step_float64(rule, loss, normalize, linear, k):
    row, y, w0, w, V, state = one_step_case(rule, loss, k)
    options = dict(STEP_OPTIONS, rule=rule, loss=loss, lr=0.1, linear=linear,
                   normalize=normalize)
    got = kernel_epoch([row], y, w0, w, V, state, sample_weight=1.7, **options)
    want = naive_ffm_step(row, y, w0, w, V, state, sample_weight=1.7, **options)
    assert_step_equal(got, want, rule, rtol=1e-11, atol=1e-13)
    stats = got[4]
    assert stats["n_rows"] == 1 and stats["n_threads"] == 1
    assert stats["weight_sum"] == pytest.approx(1.7, rel=1e-15)
    assert stats["parallel_mode"] == "serial"
    # what the row does not use keeps its value (and state) exactly
    used = used_vectors(row)
    for j in range(N_FEATURES):
        for f in range(N_FIELDS):
            if (j, f) not in used:
                np.testing.assert_array_equal(got[2][j, f], V[j, f])
                if rule != "sgd":
                    np.testing.assert_array_equal(got[3]["V_sq"][j, f], state["V_sq"][j, f])
    absent = np.ones(N_FEATURES, bool)
    if linear:
        absent[[j for j, _, _ in row]] = False
    else:
        assert got[0] == w0
    np.testing.assert_array_equal(got[1][absent], w[absent])
    if rule != "sgd":
        np.testing.assert_array_equal(got[3]["w_sq"][absent], state["w_sq"][absent])
        if not linear:
            assert got[3]["w0_sq"] == state["w0_sq"] and got[3]["w0_z"] == state["w0_z"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("k", [4, 8, 5])
def test_one_step_equals_the_naive_step_float32(rule, loss, normalize, k):
    row, y, w0, w, V, state = one_step_case(rule, loss, k, seed=1)
    w, V = as_dtype(np.float32, w, V)
    if state is not None:
        state = dict(state, **dict(zip(("w_sq", "w_z", "V_sq"), as_dtype(
            np.float32, state["w_sq"], state["w_z"], state["V_sq"]))))
    options = dict(STEP_OPTIONS, rule=rule, loss=loss, lr=0.05, normalize=normalize)
    got = kernel_epoch([row], y, w0, w, V, state, sample_weight=0.6, dtype=np.float32,
                       index_dtype=np.int32, **options)
    want = naive_ffm_step(row, y, w0, w, V, state, sample_weight=0.6, **options)
    assert got[1].dtype == np.float32 and got[2].dtype == np.float32
    assert_step_equal(got, want, rule, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_one_step_one_hot_rows(rule, normalize, index_dtype):
    row = [(j, f, 1.0) for j, f, _ in STEP_ROW]
    _, y, w0, w, V, state = one_step_case(rule, "logistic", 4, seed=2)
    options = dict(STEP_OPTIONS, rule=rule, loss="logistic", lr=0.2, normalize=normalize)
    got = kernel_epoch([row], y, w0, w, V, state, binary=True, index_dtype=index_dtype,
                       **options)
    want = naive_ffm_step(row, y, w0, w, V, state, **options)
    assert_step_equal(got, want, rule, rtol=1e-11, atol=1e-13)
    assert got[4]["weight_sum"] == 1.0


@pytest.mark.parametrize("rule", ["adagrad", "ftrl"])
@pytest.mark.parametrize("loss", LOSSES)
def test_one_step_from_a_fresh_state(rule, loss):
    row, y, w0, w, V, state = one_step_case(rule, loss, 4, seed=3, fresh=True)
    options = dict(STEP_OPTIONS, rule=rule, loss=loss, lr=0.1)
    got = kernel_epoch([row], y, w0, w, V, state, **options)
    want = naive_ffm_step(row, y, w0, w, V, state, **options)
    assert_step_equal(got, want, rule, rtol=1e-11, atol=1e-13)


def test_ftrl_large_l1_zeroes_the_touched_weights():
    row, y, w0, w, V, state = one_step_case("ftrl", "squared", 4, seed=4, fresh=True)
    got = kernel_epoch([row], y, w0, w, V, state, rule="ftrl", loss="squared", lr=0.1, l1=1e3)
    touched = sorted({j for j, _, _ in row})
    assert np.all(got[1][touched] == 0.0)
    assert got[0] != 0.0  # w0 has no L1


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("side", ["low", "high"])
def test_one_step_clips_the_squared_loss_prediction(rule, side):
    row, y, w0, w, V, state = one_step_case(rule, "squared", 3, seed=5)
    pred = naive_ffm_predict([row], w0, w, V)[0]
    clip = dict(clip_min=pred + 0.4, clip_max=INF) if side == "low" else dict(
        clip_min=-INF, clip_max=pred - 0.4)
    options = dict(STEP_OPTIONS, rule=rule, loss="squared", lr=0.1, **clip)
    got = kernel_epoch([row], y, w0, w, V, state, **options)
    want = naive_ffm_step(row, y, w0, w, V, state, **options)
    assert_step_equal(got, want, rule, rtol=1e-11, atol=1e-13)
    clipped = clip["clip_min"] if side == "low" else clip["clip_max"]
    assert got[4]["loss_sum"] == pytest.approx((clipped - y) ** 2, rel=1e-12)


def test_logistic_loss_ignores_the_clip_range():
    row, _, w0, w, V, _ = one_step_case("sgd", "logistic", 3, seed=6)
    options = dict(rule="sgd", loss="logistic", lr=0.1, clip_min=-1e-3, clip_max=1e-3)
    got = kernel_epoch([row], 1.0, w0, w, V, **options)
    want = naive_ffm_step(row, 1.0, w0, w, V, **dict(options, clip_min=-INF, clip_max=INF))
    assert_step_equal(got, want, "sgd", rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("row", [[], [(3, 1, -0.8)]], ids=["empty", "one-entry"])
def test_one_step_on_rows_without_pairs(rule, linear, row):
    _, y, w0, w, V, state = one_step_case(rule, "squared", 4, seed=7)
    options = dict(STEP_OPTIONS, rule=rule, loss="squared", lr=0.1, linear=linear,
                   normalize=True)
    got = kernel_epoch([row], y, w0, w, V, state, sample_weight=2.0, **options)
    want = naive_ffm_step(row, y, w0, w, V, state, sample_weight=2.0, **options)
    assert_step_equal(got, want, rule, rtol=1e-11, atol=1e-13)
    np.testing.assert_array_equal(got[2], V)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("linear", [False, True])
def test_sgd_step_is_minus_lr_times_the_finite_difference_gradient(loss, normalize, linear):
    rng = np.random.default_rng(8)
    n_features, n_fields, k = 8, 4, 3
    w0, w, V = random_model(rng, n_features, n_fields, k)
    regs = dict(reg_bias=0.01, reg_linear=0.02, reg_factors=0.03)
    lr, y, sw = 1e-6, target(loss), 1.3
    got = kernel_epoch([FD_ROW], y, w0, w, V, rule="sgd", loss=loss, lr=lr, linear=linear,
                       normalize=normalize, sample_weight=sw, **regs)

    def objective(theta):
        return ffm_loss([FD_ROW], [y], theta[0], theta[1:1 + n_features],
                        theta[1 + n_features:].reshape(V.shape), loss=loss, linear=linear,
                        normalize=normalize, sample_weight=[sw], **regs)

    h = 1e-6
    theta = np.concatenate([[w0], w, V.ravel()])
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (objective(up) - objective(down)) / (2 * h)
    after = np.concatenate([[got[0]], got[1], got[2].ravel()])
    np.testing.assert_allclose((theta - after) / lr, grad, rtol=1e-5, atol=1e-7)
    assert np.any(grad != 0.0)


# -- epochs -------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("block_rows", [0, 2])
def test_small_epoch_is_sequential_steps_in_some_row_order(rule, loss, block_rows):
    rng = np.random.default_rng(9)
    k = 3
    rows = [STEP_ROW[:4], [(2, 1, 0.6), (7, 0, -1.1), (4, 3, 0.9)], STEP_ROW[2:]]
    y = np.array([1.0, -1.0, 1.0]) if loss == "logistic" else rng.normal(size=3)
    sw = np.array([0.5, 1.5, 1.0])
    w0, w, V = random_model(rng, N_FEATURES, N_FIELDS, k, scale=0.5)
    state = None if rule == "sgd" else random_state(rng, N_FEATURES, N_FIELDS, k)
    options = dict(STEP_OPTIONS, rule=rule, loss=loss, lr=0.1, normalize=True)
    seen = set()
    for seed in range(8):
        got = kernel_epoch(rows, y, w0, w, V, state, sample_weight=sw, seed=seed,
                           block_rows=block_rows, **options)
        assert got[4]["n_rows"] == 3
        assert got[4]["weight_sum"] == pytest.approx(3.0, rel=1e-15)
        matches = []
        for order in itertools.permutations(range(3)):
            p, loss_sum = (w0, w, V, state), 0.0
            for i in order:
                *p, row_loss = naive_ffm_step(rows[i], y[i], *p, sample_weight=sw[i],
                                              **options)
                loss_sum += row_loss
            if (abs(got[0] - p[0]) < 1e-12 and np.allclose(got[1], p[1], rtol=0, atol=1e-12)
                    and np.allclose(got[2], p[2], rtol=0, atol=1e-12)
                    and (rule == "sgd"
                         or np.allclose(got[3]["V_sq"], p[3]["V_sq"], rtol=0, atol=1e-11))
                    and abs(got[4]["loss_sum"] - loss_sum) < 1e-11):
                matches.append(order)
        assert len(matches) == 1, f"seed {seed}: matches {matches}"
        seen.add(matches[0])
    assert len(seen) > 1


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_loss_sum_at_a_tiny_learning_rate(rule, loss, dtype):
    """At learning rate 1e-12 nothing moves: loss_sum is the naive total loss at the
    start parameters, in any row order."""
    rng = np.random.default_rng(10)
    k = 4
    rows = random_rows(rng, 300, N_FEATURES, N_FIELDS, max_len=8)
    y = np.where(rng.random(300) < 0.5, -1.0, 1.0) if loss == "logistic" else rng.normal(
        size=300)
    sw = rng.uniform(0.5, 2.0, 300)
    w0, w, V = random_model(rng, N_FEATURES, N_FIELDS, k)
    w, V = as_dtype(dtype, w, V)
    state = None if rule == "sgd" else zero_state(N_FEATURES, N_FIELDS, k)
    if rule == "ftrl":  # weights are a function of (z, n): z = -w beta / lr at n = 0
        state.update(w0_z=-w0 / 1e-12, w_z=-w / 1e-12)
    got = kernel_epoch(rows, y, w0, w, V, state, rule=rule, loss=loss, lr=1e-12,
                       normalize=True, sample_weight=sw, dtype=dtype, seed=4)
    pred = naive_ffm_predict(rows, w0, w, V, normalize=True)
    want = sum(s * reported_loss(loss, p, t) for s, p, t in zip(sw, pred, y))
    rtol = 1e-9 if dtype == np.float64 else 2e-5
    assert got[4]["loss_sum"] == pytest.approx(want, rel=rtol)
    assert got[4]["weight_sum"] == pytest.approx(sw.sum(), rel=1e-12)
    assert got[4]["n_rows"] == 300


def skewed_one_hot_rows(n_rows, n_fields, card, seed):
    """One value per field, feature ids of field f in [f card, (f + 1) card), a few hot."""
    rng = np.random.default_rng(seed)
    cols = np.minimum(rng.zipf(1.6, size=(n_rows, n_fields)) - 1, card - 1)
    cols = cols + np.arange(n_fields) * card
    return [[(int(cols[i, f]), f, 1.0) for f in range(n_fields)] for i in range(n_rows)]


@pytest.mark.parametrize("mode, ran", [("auto", "hybrid"), ("hybrid", "hybrid"),
                                       ("hogwild", "hogwild")])
def test_two_thread_hogwild_epoch_adds_up_the_squared_gradients(mode, ran):
    """At learning rate 1e-12 the gradients do not depend on the visit order: the serial
    epoch's AdaGrad sums are the naive sums over the rows at the start parameters, and
    hogwild's (which may lose an addition now and then) are close to them. hybrid (auto on
    skewed rows) keeps the hot features private per thread and adds the threads' changes
    up at every merge, so their sums are exact; the cold ones are hogwild's."""
    if not _core.openmp_enabled():
        pytest.skip("the kernel was built without OpenMP")
    # enough work for two threads (the kernel runs small epochs on one: see
    # test_small_epochs_run_on_one_thread)
    n_rows, n_fields, card, k = 4000, 10, 60, 64
    rows = skewed_one_hot_rows(n_rows, n_fields, card, seed=1)
    n_features = n_fields * card
    rng = np.random.default_rng(0)
    y = rng.normal(size=n_rows)
    w0, w, V = random_model(rng, n_features, n_fields, k, scale=0.1)
    state = zero_state(n_features, n_fields, k)
    options = dict(rule="adagrad", loss="squared", lr=1e-12, binary=True)
    par = kernel_epoch(rows, y, w0, w, V, state, n_threads=2, mode=mode, seed=3, **options)
    if par[4]["parallel_mode"] == "serial":
        pytest.skip("no OpenMP: the epoch ran serially")
    assert par[4]["parallel_mode"] == ran
    assert par[4]["n_rows"] == n_rows and par[4]["n_threads"] == 2
    assert par[4]["weight_sum"] == pytest.approx(n_rows)
    assert np.isfinite(par[0]) and np.all(np.isfinite(par[1])) and np.all(np.isfinite(par[2]))
    ser = kernel_epoch(rows, y, w0, w, V, state, n_threads=1, seed=3, **options)
    assert ser[4]["parallel_mode"] == "serial"

    # the naive sums at the start parameters (reg 0: the gradients are the loss's)
    pred = naive_ffm_predict(rows, w0, w, V)
    g = pred - y
    want_w0 = np.sum(g ** 2)
    want_w = np.zeros(n_features)
    want_V = np.zeros(V.shape)
    for row, gi in zip(rows, g):
        for p, (jp, fp, _) in enumerate(row):
            want_w[jp] += gi ** 2
            for jq, fq, _ in row[p + 1:]:
                want_V[jp, fq] += (gi * V[jq, fp]) ** 2
                want_V[jq, fp] += (gi * V[jp, fq]) ** 2
    # (AdaGrad moves w0 by up to lr sqrt(n_rows) over the epoch, whatever the gradients'
    # size: a small g then changes by a relative 1e-8)
    assert ser[3]["w0_sq"] == pytest.approx(want_w0, rel=1e-6)
    np.testing.assert_allclose(ser[3]["w_sq"], want_w, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ser[3]["V_sq"], want_V, rtol=1e-6, atol=1e-12)
    assert par[4]["loss_sum"] == pytest.approx(ser[4]["loss_sum"], rel=1e-6)
    # hogwild shares the sums without locks: an addition may be lost, none gained
    assert par[3]["w0_sq"] == pytest.approx(want_w0, rel=0.05)
    for got_sum, want_sum in ((par[3]["w_sq"], want_w), (par[3]["V_sq"], want_V)):
        assert np.all(got_sum <= want_sum * (1 + 1e-6) + 1e-12)
        assert 0.8 * want_sum.sum() <= got_sum.sum() <= want_sum.sum() * (1 + 1e-6)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_many_rows_two_threads(n_threads):
    rows = skewed_one_hot_rows(3000, 3, 50, seed=2)
    rng = np.random.default_rng(11)
    w0, w, V = random_model(rng, 150, 3, 8)
    got = kernel_predict(rows, w0, w, V, binary=True, normalize=True, n_threads=n_threads)
    np.testing.assert_allclose(got, naive_ffm_predict(rows, w0, w, V, normalize=True),
                               rtol=1e-12, atol=1e-12)


# -- check_ffm_fields ---------------------------------------------------------------------

@pytest.mark.parametrize("fields, n_fields, want", [
    ([0, 1, 2, 1, 0], 3, -1),
    ([], 3, -1),
    ([0, 0, 0], 1, -1),
    ([0, 1, -1, 2, -5], 3, 2),
    ([0, 1, 3, 2], 3, 2),
    ([2, 3, -1], 3, 1),
    ([-1], 3, 0),
    ([0, 1, 2], 2, 2),
])
def test_check_ffm_fields(fields, n_fields, want):
    assert _core.check_ffm_fields(np.asarray(fields, dtype=np.int32), n_fields) == want


def test_check_ffm_fields_long_array_returns_the_first_bad_position():
    fields = np.arange(50_000, dtype=np.int32) % 7
    assert _core.check_ffm_fields(fields, 7) == -1
    fields[31_337] = 7
    fields[40_000] = -3
    assert _core.check_ffm_fields(fields, 7) == 31_337
    fields[12] = -1
    assert _core.check_ffm_fields(fields, 7) == 12


# -- bad arguments ------------------------------------------------------------------------

def bad_arg_case():
    rng = np.random.default_rng(12)
    rows = [STEP_ROW, [(1, 0, 0.5), (3, 2, 1.0)]]
    indptr, indices, fields, data = rows_to_csr(rows)
    w0, w, V = random_model(rng, N_FEATURES, N_FIELDS, 4)
    return dict(w0=w0, w=w, V=V, indptr=indptr, indices=indices, fields=fields, data=data,
                y=np.array([1.0, -1.0]), sample_weight=None)


def call_predict(c, **options):
    return _core.ffm_predict(c["w0"], c["w"], c["V"], c["indptr"], c["indices"], c["fields"],
                             c["data"], **options)


def call_epoch(c, **options):
    kwargs = dict(loss="squared", learning_rate=0.1, reg_bias=0.0, reg_linear=0.0,
                  reg_factors=0.0, clip_min=-INF, clip_max=INF, n_threads=1)
    kwargs.update(options)
    return _core.ffm_sgd_epoch(c["w0"], c["w"], c["V"], c["indptr"], c["indices"],
                               c["fields"], c["data"], c["y"], c["sample_weight"], **kwargs)


BAD_INPUTS = {
    "V 2-d": lambda c: c.update(V=c["V"][:, 0, :].copy()),
    "V 4-d": lambda c: c.update(V=c["V"][..., None].copy()),
    "V rows != n_features": lambda c: c.update(V=c["V"][:-1].copy()),
    "V dtype != w dtype": lambda c: c.update(V=c["V"].astype(np.float32)),
    "V not contiguous": lambda c: c.update(V=np.asfortranarray(c["V"])),
    "V a field view": lambda c: c.update(V=c["V"][:, ::2, :]),
    "fields too short": lambda c: c.update(fields=c["fields"][:-1].copy()),
    "fields too long": lambda c: c.update(fields=np.append(c["fields"], np.int32(0))),
    "fields int64": lambda c: c.update(fields=c["fields"].astype(np.int64)),
    "fields float": lambda c: c.update(fields=c["fields"].astype(np.float64)),
    "fields None": lambda c: c.update(fields=None),
    "data float32": lambda c: c.update(data=c["data"].astype(np.float32)),
    "data too short": lambda c: c.update(data=c["data"][:-1].copy()),
    "indptr int32": lambda c: c.update(indptr=c["indptr"].astype(np.int32)),
    "indices float": lambda c: c.update(indices=c["indices"].astype(np.float64)),
    "w float16": lambda c: c.update(w=c["w"].astype(np.float16),
                                    V=c["V"].astype(np.float16)),
}


@pytest.mark.parametrize("bad", sorted(BAD_INPUTS))
def test_bad_arrays_raise(bad):
    for call in (call_predict, call_epoch):
        case = bad_arg_case()
        BAD_INPUTS[bad](case)
        with pytest.raises((TypeError, ValueError)):
            call(case)


@pytest.mark.parametrize("options, error", [
    (dict(rule="adagrad"), ValueError),
    (dict(rule="ftrl"), ValueError),
    (dict(rule="bogus"), ValueError),
    (dict(loss="hinge"), ValueError),
    (dict(parallel_mode="bogus"), ValueError),
])
def test_bad_options_raise(options, error):
    with pytest.raises(error):
        call_epoch(bad_arg_case(), **options)


def adagrad_state(c, rule="adagrad"):
    return (np.zeros(2), np.zeros_like(c["w"]), np.zeros_like(c["w"]) if rule == "ftrl" else None,
            np.zeros_like(c["V"]))


@pytest.mark.parametrize("bad", ["length 3", "w0_state float32", "w0_state size 1",
                                 "w_sum_sq short", "V_sum_sq 2-d short", "V_sum_sq float32",
                                 "ftrl without w_z"])
def test_bad_state_raises(bad):
    case = bad_arg_case()
    rule = "ftrl" if bad == "ftrl without w_z" else "adagrad"
    w0_state, w_sq, w_z, V_sq = adagrad_state(case, rule)
    if bad == "length 3":
        state = (w0_state, w_sq, V_sq)
    else:
        if bad == "w0_state float32":
            w0_state = w0_state.astype(np.float32)
        elif bad == "w0_state size 1":
            w0_state = np.zeros(1)
        elif bad == "w_sum_sq short":
            w_sq = w_sq[:-1].copy()
        elif bad == "V_sum_sq 2-d short":
            V_sq = np.zeros((N_FEATURES, 4))
        elif bad == "V_sum_sq float32":
            V_sq = V_sq.astype(np.float32)
        elif bad == "ftrl without w_z":
            w_z = None
        state = (w0_state, w_sq, w_z, V_sq)
    with pytest.raises((TypeError, ValueError)):
        call_epoch(case, rule=rule, state=state)


def test_bad_targets_and_weights_raise():
    case = bad_arg_case()
    case["y"] = np.array([1.0])
    with pytest.raises(ValueError):
        call_epoch(case)
    case = bad_arg_case()
    case["sample_weight"] = np.ones(3)
    with pytest.raises(ValueError):
        call_epoch(case)
    case = bad_arg_case()
    case["y"] = case["y"].astype(np.float32)
    with pytest.raises((TypeError, ValueError)):
        call_epoch(case)


def test_a_good_call_after_the_bad_ones():
    """The valid case of the bad-argument tests runs, and leaves the arrays finite."""
    case = bad_arg_case()
    out = call_predict(case)
    assert out.shape == (2,) and np.all(np.isfinite(out))
    state = adagrad_state(case)
    new_w0, stats = call_epoch(case, rule="adagrad", state=state)
    assert np.isfinite(new_w0) and stats["n_rows"] == 2
    assert np.all(np.isfinite(case["V"])) and np.all(state[3] >= 0)


def test_small_epochs_run_on_one_thread():
    """An epoch of less work than the kernel's threshold (pairs x factors: about a
    millisecond) runs serially whatever n_threads asks, with the serial result."""
    rows = skewed_one_hot_rows(300, 4, 20, seed=2)
    rng = np.random.default_rng(0)
    y = rng.normal(size=len(rows))
    w0, w, V = random_model(rng, 80, 4, 4, scale=0.1)
    state = zero_state(80, 4, 4)
    options = dict(rule="adagrad", loss="squared", lr=0.05, binary=True, seed=5)
    two = kernel_epoch(rows, y, w0, w, V, state, n_threads=2, **options)
    one = kernel_epoch(rows, y, w0, w, V, state, n_threads=1, **options)
    assert two[4]["parallel_mode"] == "serial" and two[4]["n_threads"] == 1
    np.testing.assert_array_equal(two[2], one[2])
    assert two[0] == one[0]
