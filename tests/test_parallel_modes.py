"""The parallel drivers (hogwild, replicas, hybrid) against the serial one.

Each multi-threaded mode must train models as good as one thread's on skewed
(power-law) data, the case each mode exists for, and must report the mode it
ran. Runs under AddressSanitizer too (tools/sanitize.sh), which is where a
race on the merge buffers or a bad hot-set lookup would show up.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from reference import rmse

import rapidfm
from rapidfm import FMRegressor, _core
from rapidfm.datasets import make_planted_fm

needs_openmp = pytest.mark.skipif(not rapidfm.openmp_enabled(), reason="serial build")


def train(data, n_train, mode, threads, *, loss="squared", dtype=np.float32, index=np.int32,
          weights=False, epochs=4, lr=0.02, k=8):
    """Epochs through the binding, so that every mode can be forced."""
    X = data.X
    X_tr, X_te = X[:n_train], X[n_train:]
    y = data.y if loss == "squared" else np.where(data.y > 0, 1.0, -1.0)
    y_tr, y_te = y[:n_train], y[n_train:]
    rng = np.random.default_rng(0)
    V = rng.normal(0.0, 0.1, (X.shape[1], k)).astype(dtype)
    w = np.zeros(X.shape[1], dtype=dtype)
    w0 = float(y_tr.mean()) if loss == "squared" else 0.0
    sw = rng.uniform(0.5, 2.0, n_train) if weights else None
    mode_ran = None
    for epoch in range(epochs):
        w0, stats = _core.sgd_epoch(
            w0, w, V, X_tr.indptr.astype(np.int64), X_tr.indices.astype(index),
            X_tr.data.astype(dtype), np.ascontiguousarray(y_tr), sw, loss=loss,
            learning_rate=lr / np.sqrt(1 + epoch), reg_bias=0.0, reg_linear=0.001,
            reg_factors=0.001, clip_min=-np.inf, clip_max=np.inf, n_threads=threads,
            parallel_mode=mode, seed=1000 + epoch,
        )
        mode_ran = stats["parallel_mode"]
        assert stats["n_rows"] == n_train
    assert np.isfinite(w).all() and np.isfinite(V).all()
    out = _core.predict(w0, w, V, X_te.indptr.astype(np.int64), X_te.indices.astype(index),
                        X_te.data.astype(dtype), 1)
    if loss == "squared":
        return rmse(out, y_te), mode_ran
    p = 1.0 / (1.0 + np.exp(-out))
    t = y_te > 0
    return float(-np.mean(np.where(t, np.log(p), np.log1p(-p)))), mode_ran


@pytest.fixture(scope="module")
def skewed():
    # 4 fields x 3000 values, Zipf 1.3: a few values in most rows, a long tail
    return make_planted_fm(n_samples=60_000, n_fields=4, field_cardinality=3000, n_factors=4,
                           zipf_exponent=1.3, random_state=1)


@needs_openmp
@pytest.mark.parametrize("mode", ["hogwild", "replicas", "hybrid"])
def test_two_threads_match_one_on_skewed_data(skewed, mode):
    serial, ran1 = train(skewed, 50_000, "auto", 1)
    parallel, ran2 = train(skewed, 50_000, mode, 2)
    assert ran1 == "serial" and ran2 == mode
    assert abs(parallel / serial - 1) < 0.02, (serial, parallel)


@needs_openmp
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("dtype,index", [(np.float32, np.int32), (np.float64, np.int64)])
def test_hybrid_weighted_both_losses_and_types(skewed, loss, dtype, index):
    serial, _ = train(skewed, 50_000, "auto", 1, loss=loss, dtype=dtype, index=index,
                      weights=True)
    hybrid, ran = train(skewed, 50_000, "hybrid", 2, loss=loss, dtype=dtype, index=index,
                        weights=True)
    assert ran == "hybrid"
    assert abs(hybrid / serial - 1) < 0.03, (serial, hybrid)


@needs_openmp
@pytest.mark.parametrize("k", [0, 3, 8, 17])
def test_hybrid_any_k(skewed, k):
    serial, _ = train(skewed, 50_000, "auto", 1, k=k, epochs=2)
    hybrid, ran = train(skewed, 50_000, "hybrid", 2, k=k, epochs=2)
    assert ran == "hybrid"
    assert abs(hybrid / serial - 1) < 0.03, (serial, hybrid)


@needs_openmp
def test_hybrid_without_hot_features_falls_back_to_hogwild():
    # uniform values over many features: none reaches the hot share
    data = make_planted_fm(n_samples=20_000, n_fields=2, field_cardinality=20_000,
                           zipf_exponent=0.0, random_state=2)
    _, ran = train(data, 15_000, "hybrid", 2, epochs=1)
    assert ran == "hogwild"


@needs_openmp
def test_auto_uses_hogwild_above_64_mib():
    # 2,000,000 features x (8 + 1) x 4 bytes = 68.7 MiB > 64 MiB; a few rows suffice.
    # Feature 0 is in every row: hot, so that hybrid, where chosen, runs as hybrid.
    rng = np.random.default_rng(5)
    n, d = 2000, 2_000_000
    cols = np.column_stack([np.zeros(n, np.int64), rng.integers(1, 1_700_000, (n, 3))])
    X = sp.csr_matrix((np.ones(4 * n), cols.ravel(), np.arange(0, 4 * n + 1, 4)), shape=(n, d))
    X.sum_duplicates()
    y = rng.normal(size=n)
    model = FMRegressor(n_epochs=1, n_jobs=2, random_state=0).fit(X, y)
    assert model.history_[-1]["parallel_mode"] == "hogwild"
    # just under: 1,800,000 features are 61.8 MiB
    model = FMRegressor(n_epochs=1, n_jobs=2, random_state=0).fit(X[:, :1_800_000], y)
    assert model.history_[-1]["parallel_mode"] == "hybrid"


@needs_openmp
def test_auto_uses_hybrid_above_8_mib():
    # 4 x 60,000 features x (k + 1) x 4 bytes = 8.6 MiB > 8 MiB
    data = make_planted_fm(n_samples=30_000, n_fields=4, field_cardinality=60_000,
                           zipf_exponent=1.2, random_state=3)
    model = FMRegressor(n_epochs=1, n_jobs=2, random_state=0).fit(data.X, data.y)
    assert model.history_[-1]["parallel_mode"] == "hybrid"
    small = FMRegressor(n_epochs=1, n_jobs=2, random_state=0).fit(data.X[:, :1000], data.y)
    assert small.history_[-1]["parallel_mode"] == "replicas"


def test_more_threads_than_rows():
    data = make_planted_fm(n_samples=3, n_fields=2, field_cardinality=5, random_state=4)
    for mode in ("hogwild", "replicas", "hybrid"):
        _, ran = train(data, 2, mode, 8, epochs=1)
        # hybrid finds no hot set in 2 rows and shares everything
        assert ran in ("serial", mode, "hogwild" if mode == "hybrid" else mode)
