"""Row order of an epoch: the shuffled copy (shuffle="copy"), the kernel's block-wise
visit order (block_rows) and the row gather behind the copy."""

import numpy as np
import pytest
import scipy.sparse as sp

from rapidfm import FMClassifier, FMRegressor, _core
from rapidfm.datasets import make_planted_fm


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


# -- gather_rows against scipy's row indexing ----------------------------------------------

@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("value_dtype", [np.float32, np.float64, None])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_gather_rows_is_scipy_row_indexing(index_dtype, value_dtype, n_threads):
    rng = np.random.default_rng(0)
    X = sp.random(300, 40, density=0.1, format="csr", random_state=rng)
    X.data[:] = rng.normal(size=X.nnz)
    keep = np.ones(300)
    keep[[5, 77]] = 0  # some empty rows
    X = sp.csr_matrix(sp.diags(keep) @ X)
    X.eliminate_zeros()
    assert X[5].nnz == 0
    rows = np.concatenate([rng.permutation(300), [5, 5, 299, 0]]).astype(np.int64)
    data = None if value_dtype is None else X.data.astype(value_dtype)
    indptr, indices, got = _core.gather_rows(X.indptr.astype(np.int64),
                                             X.indices.astype(index_dtype), data, rows,
                                             n_threads)
    want = X[rows]
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    assert indices.dtype == index_dtype and indptr.dtype == np.int64
    if value_dtype is None:
        assert got is None
    else:
        assert got.dtype == value_dtype
        np.testing.assert_array_equal(got, want.data.astype(value_dtype))


def test_gather_rows_of_nothing_and_of_empty_rows():
    indptr = np.zeros(4, dtype=np.int64)
    indices = np.zeros(0, dtype=np.int32)
    out = _core.gather_rows(indptr, indices, None, np.array([2, 0], dtype=np.int64))
    np.testing.assert_array_equal(out[0], [0, 0, 0])
    assert out[1].size == 0
    out = _core.gather_rows(indptr, indices, None, np.zeros(0, dtype=np.int64))
    np.testing.assert_array_equal(out[0], [0])


@pytest.mark.parametrize("bad", [[-1], [3], [0, 1, 2, 3]])
def test_gather_rows_refuses_rows_out_of_range(bad):
    indptr = np.array([0, 1, 2, 3], dtype=np.int64)
    indices = np.array([0, 1, 2], dtype=np.int32)
    with pytest.raises(ValueError, match=r"row ids must lie in \[0, 3\)"):
        _core.gather_rows(indptr, indices, None, np.array(bad, dtype=np.int64))


def test_gather_rows_wants_int64_rows():
    indptr = np.array([0, 1], dtype=np.int64)
    with pytest.raises((TypeError, ValueError), match="rows"):
        _core.gather_rows(indptr, np.array([0], np.int32), None, np.array([0], np.int32))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_take_rows_gathers_targets_and_weights_with_their_rows(n_threads):
    rng = np.random.default_rng(3)
    X = sp.random(500, 30, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    y, sw = rng.normal(size=500), rng.uniform(0.5, 2.0, 500)
    rows = np.concatenate([rng.permutation(500)[:300], [7, 7, 499]]).astype(np.int64)
    indptr, indices, data, got_y, got_sw = _core.take_rows(
        X.indptr.astype(np.int64), X.indices, X.data, y, sw, rows, n_threads)
    want = X[rows]
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    np.testing.assert_array_equal(data, want.data)
    np.testing.assert_array_equal(got_y, y[rows])
    np.testing.assert_array_equal(got_sw, sw[rows])
    out = _core.take_rows(X.indptr.astype(np.int64), X.indices, None, None, None, rows)
    assert out[2] is None and out[3] is None and out[4] is None
    with pytest.raises(ValueError, match="y must have 500 entries"):
        _core.take_rows(X.indptr.astype(np.int64), X.indices, X.data, y[:10], None, rows)
    with pytest.raises(ValueError, match=r"row ids must lie in \[0, 500\)"):
        _core.take_rows(X.indptr.astype(np.int64), X.indices, X.data, y, sw,
                        np.array([3, 500], dtype=np.int64))


# -- the copy's order: a uniform random permutation drawn in C ------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 10, 4096, 4097, 70_001])
def test_shuffle_ids_is_a_permutation_of_its_input_and_a_function_of_the_seed(n):
    ids = np.arange(n, dtype=np.int64) * 3 + 5  # any values, kept with their multiplicity
    ids[: n // 3] = 11
    first = _core.shuffle_ids(7, ids)
    np.testing.assert_array_equal(np.sort(first), np.sort(ids))
    np.testing.assert_array_equal(_core.shuffle_ids(7, ids), first)
    if n >= 10:
        assert not np.array_equal(_core.shuffle_ids(8, ids), first)
        assert not np.array_equal(first, ids)


@pytest.mark.parametrize("n", [5, 9000])  # Fisher-Yates alone; 4 buckets of ~2250 ids
def test_shuffle_ids_puts_every_id_anywhere_with_equal_chance(n):
    # where ids 0 and n-1 land over many seeds, in 5 equal bins of positions: each bin
    # 1/5 of the draws (chi-square, 4 degrees of freedom: 20.5 is its 0.9996 quantile)
    draws = 3000
    ids = np.arange(n, dtype=np.int64)
    landing = np.empty((draws, 2), dtype=np.int64)
    for seed in range(draws):
        out = _core.shuffle_ids(seed, ids)
        landing[seed] = np.flatnonzero(out == 0)[0], np.flatnonzero(out == n - 1)[0]
    for column in landing.T:
        counts = np.bincount(column * 5 // n, minlength=5)
        expected = draws / 5
        assert np.sum((counts - expected) ** 2 / expected) < 20.5, counts


def test_shuffle_ids_leaves_no_order_within_or_across_buckets():
    # a bucketed draw that skipped the shuffle inside a bucket would leave runs of
    # increasing ids (ascents: 1 instead of 1/2 of the neighbours); one that filled
    # buckets in order would leave ids correlated with their positions
    n = 200_000
    out = _core.shuffle_ids(123, np.arange(n, dtype=np.int64))
    ascents = np.mean(out[1:] > out[:-1])
    assert abs(ascents - 0.5) < 5 * np.sqrt(1 / (12 * n))  # sd of the ascent fraction
    assert abs(np.corrcoef(out, np.arange(n))[0, 1]) < 5 / np.sqrt(n)
    halves = out[: n // 2] < n // 2  # ids of the lower half in the first half: 1/2
    assert abs(halves.mean() - 0.5) < 5 * 0.5 / np.sqrt(n / 2)


def test_shuffle_ids_wants_int64_ids():
    with pytest.raises(TypeError, match="ids must have dtype int64"):
        _core.shuffle_ids(0, np.arange(5, dtype=np.int32))


# -- every row once per epoch, in every order ----------------------------------------------

@pytest.mark.parametrize("shuffle, block_rows", [
    ("copy", None), ("copy", 1), ("copy", 7), ("epoch", None), ("epoch", 7), ("epoch", 64)])
@pytest.mark.parametrize("n_jobs, parallel", [(1, "auto"), (2, "hogwild"), (2, "replicas")])
def test_an_epoch_visits_every_row_once(shuffle, block_rows, n_jobs, parallel):
    # row i holds only feature i: after one epoch w_i moved iff row i was visited (the
    # bias is the only shared term); one step is at most lr * (max y - min y), since
    # the bias stays inside the range of y, and a second visit would add a second step
    n = 150
    X = sp.identity(n, format="csr")
    y = np.random.default_rng(0).uniform(1.0, 2.0, n)
    model = FMRegressor(n_factors=0, n_epochs=1, learning_rate=1e-3, block_rows=block_rows,
                        shuffle=shuffle, n_jobs=n_jobs, parallel=parallel,
                        random_state=0).fit(X, y)
    assert np.all(model.w_ != 0)
    assert np.all(np.abs(model.w_) <= 1e-3 * (y.max() - y.min()))


def test_the_copy_is_a_random_order_of_the_rows():
    # row i holds feature i alone, so after one epoch w_i = lr (y_i - w0 at the visit).
    # The targets are sorted: visited in storage order, w0 (an average of the recent
    # targets at this rate) would follow y and every residual would be small; in a random
    # order w0 stays near mean(y) and the residuals follow y. One seed gives one order.
    n = 400
    X = sp.identity(n, format="csr")
    y = np.linspace(0.0, 10.0, n)  # sorted targets: a visit order in storage order shows
    fits = {}
    for seed in (0, 0, 1):
        model = FMRegressor(solver="sgd",
                            n_factors=0, n_epochs=1, learning_rate=0.05, shuffle="copy",
                            random_state=seed).fit(X, y)
        fits.setdefault(seed, []).append(model.w_.copy())
    np.testing.assert_array_equal(fits[0][0], fits[0][1])
    assert not np.array_equal(fits[0][0], fits[1][0])
    # in storage order, w0 would climb with y and every residual y_i - w0 would stay
    # small; in a random order the residuals track y - mean(y)
    residual = fits[0][0] / 0.05
    assert np.corrcoef(residual, y)[0, 1] > 0.9


def test_copy_learns_sorted_data_as_well_as_a_full_shuffle():
    """Data sorted by target: blocks of the data as stored would train on runs of
    similar targets; the copy's blocks are random samples of rows."""
    planted = make_planted_fm(30000, random_state=4)
    X_tr, y_tr, X_te, y_te = planted.split(25000)
    order = np.argsort(y_tr, kind="stable")
    X_sorted, y_sorted = X_tr[order], y_tr[order]
    kw = dict(n_epochs=4, random_state=0, reg_factors=0.01, reg_linear=0.01, n_jobs=1)
    full = rmse(FMRegressor(solver="sgd",
                            shuffle="epoch", **kw).fit(X_sorted, y_sorted), X_te, y_te)
    copy = rmse(FMRegressor(solver="sgd", shuffle="copy", **kw).fit(X_sorted, y_sorted), X_te, y_te)
    stored = rmse(FMRegressor(solver="sgd",
                              shuffle="epoch", block_rows=256, **kw).fit(X_sorted, y_sorted),
                  X_te, y_te)
    assert copy < 1.02 * full
    assert stored > 1.05 * full  # what the copy avoids


def test_copy_with_early_stopping_and_eval_set():
    planted = make_planted_fm(8000, random_state=5)
    X_tr, y_tr, X_te, y_te = planted.split(6000)
    kw = dict(n_epochs=6, random_state=0, n_jobs=1)
    for extra in (dict(early_stopping=True), dict()):
        fits = [FMRegressor(shuffle=s, **kw, **extra) for s in ("copy", "epoch")]
        fit_kw = {} if extra else dict(eval_set=(X_te, y_te))
        errors = [rmse(m.fit(X_tr, y_tr, **fit_kw), X_te, y_te) for m in fits]
        assert errors[0] < 1.03 * errors[1]
        assert fits[0].best_epoch_ is not None


def test_copy_keeps_sample_weights_with_their_rows():
    # weight 0 on half the rows, whose targets are far off: a copy that moved the
    # weights away from their rows would train on those targets
    rng = np.random.default_rng(3)
    n = 4000
    cat = rng.integers(0, 10, n)
    X = sp.csr_matrix((np.ones(n), cat, np.arange(n + 1)), shape=(n, 10))
    ignored = rng.random(n) < 0.5
    y = np.where(ignored, 100.0, 1.0)
    weight = np.where(ignored, 0.0, 1.0)
    model = FMRegressor(n_factors=0, n_epochs=10, learning_rate=0.05, shuffle="copy",
                        clip_predictions=False, random_state=0).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(model.predict(np.eye(10)), 1.0, atol=0.05)


def test_classifier_copy_matches_full_shuffle():
    planted = make_planted_fm(20000, task="classification", random_state=6)
    X_tr, y_tr, X_te, y_te = planted.split(16000)
    kw = dict(n_epochs=5, random_state=0, n_jobs=1)
    scores = [FMClassifier(shuffle=s, **kw).fit(X_tr, y_tr).score(X_te, y_te)
              for s in ("copy", "epoch")]
    assert scores[0] > scores[1] - 0.01


@pytest.mark.parametrize("bad", ["random", True, None, 1])
def test_shuffle_is_validated(bad):
    X = sp.identity(5, format="csr")
    with pytest.raises(ValueError, match="shuffle must be one of"):
        FMRegressor(shuffle=bad).fit(X, np.ones(5))


def test_auto_copies_only_for_fits_of_two_epochs_or_more():
    # the copy costs about an epoch in place: a 1-epoch fit reads the rows in place
    from rapidfm.solvers.sgd import COPY_MIN_EPOCHS

    planted = make_planted_fm(3000, random_state=1)
    for n_epochs in (1, COPY_MIN_EPOCHS, COPY_MIN_EPOCHS + 1):
        kw = dict(random_state=0, n_jobs=1, solver="sgd", n_epochs=n_epochs)
        auto = FMRegressor(**kw).fit(planted.X, planted.y)
        same = "copy" if n_epochs >= COPY_MIN_EPOCHS else "epoch"
        other = {"copy": "epoch", "epoch": "copy"}[same]
        np.testing.assert_array_equal(
            auto.V_, FMRegressor(shuffle=same, **kw).fit(planted.X, planted.y).V_)
        assert not np.array_equal(
            auto.V_, FMRegressor(shuffle=other, **kw).fit(planted.X, planted.y).V_)


def test_partial_fit_makes_no_copy_under_auto():
    planted = make_planted_fm(3000, random_state=1)
    kw = dict(random_state=0, n_jobs=1)
    auto = FMRegressor(**kw).partial_fit(planted.X, planted.y)
    epoch = FMRegressor(shuffle="epoch", **kw).partial_fit(planted.X, planted.y)
    copy = FMRegressor(shuffle="copy", **kw).partial_fit(planted.X, planted.y)
    np.testing.assert_array_equal(auto.V_, epoch.V_)
    assert not np.array_equal(auto.V_, copy.V_)


@pytest.mark.parametrize("n", [149, 150, 151, 1000])
@pytest.mark.parametrize("block_rows", [2, 3, 7, 64, 149, 150, 5000])
def test_threads_starting_mid_order_visit_every_row_once(n, block_rows):
    # each of two threads starts at a position in the middle of the block order, where
    # the shorter last block may lie before or after it
    X = sp.identity(n, format="csr")
    y = np.random.default_rng(n).uniform(1.0, 2.0, n)
    for seed in range(4):
        model = FMRegressor(n_factors=0, n_epochs=1, learning_rate=1e-3, block_rows=block_rows,
                            shuffle="epoch", n_jobs=2, parallel="hogwild",
                            random_state=seed).fit(X, y)
        assert np.all(model.w_ != 0)
        assert np.all(np.abs(model.w_) <= 1e-3 * (y.max() - y.min()))


def test_auto_reads_rows_in_place_when_the_copy_would_not_fit(monkeypatch):
    """shuffle="auto" skips the copy in random order when it would take more than half
    of the available memory: the fit is then the shuffle="epoch" fit, bit for bit."""
    from rapidfm.solvers import sgd

    d = make_planted_fm(n_samples=5000, n_fields=3, field_cardinality=20, random_state=0)
    settings = dict(n_factors=4, n_epochs=3, n_jobs=1, random_state=0)
    in_place = FMRegressor(shuffle="epoch", **settings).fit(d.X, d.y)
    copied = FMRegressor(shuffle="copy", **settings).fit(d.X, d.y)
    assert not np.array_equal(in_place.V_, copied.V_)  # the two orders differ
    need = sgd.copy_bytes(sgd_rows(d.X, d.y))
    monkeypatch.setattr(sgd, "available_memory_bytes", lambda: int(1.9 * need))
    tight = FMRegressor(shuffle="auto", **settings).fit(d.X, d.y)
    np.testing.assert_array_equal(tight.V_, in_place.V_)
    monkeypatch.setattr(sgd, "available_memory_bytes", lambda: int(2.1 * need))
    roomy = FMRegressor(shuffle="auto", **settings).fit(d.X, d.y)
    np.testing.assert_array_equal(roomy.V_, copied.V_)
    monkeypatch.setattr(sgd, "available_memory_bytes", lambda: None)  # not reported
    unknown = FMRegressor(shuffle="auto", **settings).fit(d.X, d.y)
    np.testing.assert_array_equal(unknown.V_, copied.V_)


def sgd_rows(X, y):
    """The training block a fit makes of float32 one-hot X (data None: all ones)."""
    from rapidfm.estimators import _Rows

    return _Rows(X.indptr.astype(np.int64), X.indices, None, np.asarray(y, np.float64), None)


def test_available_memory_is_read_from_meminfo():
    from rapidfm.solvers import sgd

    got = sgd.available_memory_bytes()
    try:
        text = open("/proc/meminfo").read()
    except OSError:
        assert got is None
        return
    line = next(ln for ln in text.splitlines() if ln.startswith("MemAvailable:"))
    expected = int(line.split()[1]) * 1024
    assert abs(got - expected) <= 0.2 * expected  # the figure moves between the reads
