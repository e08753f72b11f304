"""Bad input raises a clear exception (type and a message naming the problem), never a crash."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

import rapidfm
from rapidfm import DivergenceError, FMClassifier, FMRegressor, _core
from rapidfm._sklearn_compat import NotFittedError as CompatNotFittedError

ESTIMATORS = [FMRegressor, FMClassifier]


def data(n=30, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, 0] + 0.1 * rng.normal(size=n)
    return X, y


def labels_for(cls, y):
    return (y > np.median(y)).astype(int) if cls is FMClassifier else y


def quick(cls, **kw):
    kw.setdefault("n_epochs", 1)
    kw.setdefault("n_factors", 2)
    kw.setdefault("random_state", 0)
    return cls(**kw)


# -- X --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("sparse", [False, True])
def test_nonfinite_X(cls, bad, sparse):
    X, y = data()
    X[7, 3] = bad
    X_in = sp.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError, match=r"X contains NaN or infinity.*row 7.*column 3"):
        quick(cls).fit(X_in, labels_for(cls, y))
    good = quick(cls).fit(data()[0], labels_for(cls, y))
    with pytest.raises(ValueError, match=r"NaN or infinity.*row 7"):
        good.predict(X_in)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_values_overflowing_float32_are_refused():
    X, y = data()
    X[2, 1] = 1e39  # finite in float64, infinite as float32
    with pytest.raises(ValueError, match="NaN or infinity"):
        quick(FMRegressor).fit(X, y)
    with pytest.raises(ValueError, match="NaN or infinity"):
        quick(FMRegressor).fit(sp.csr_matrix(X), y)
    quick(FMRegressor, dtype=np.float64).fit(X, y)  # fine in float64


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_X_not_2d(cls):
    X, y = data()
    y = labels_for(cls, y)
    with pytest.raises(ValueError, match=r"2-D.*reshape"):
        quick(cls).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="2-D"):
        quick(cls).fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="2-D"):
        quick(cls).fit(np.float64(3.0), y)
    model = quick(cls).fit(X, y)
    with pytest.raises(ValueError, match="2-D"):
        model.predict(X[0])


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("sparse", [False, True])
def test_X_without_rows_or_columns(cls, sparse):
    make = sp.csr_matrix if sparse else np.asarray
    with pytest.raises(ValueError, match="no rows"):
        quick(cls).fit(make(np.zeros((0, 4))), np.zeros(0))
    with pytest.raises(ValueError, match="no columns"):
        quick(cls).fit(make(np.zeros((4, 0))), np.array([0, 1, 0, 1]))
    X, y = data()
    model = quick(cls).fit(X, labels_for(cls, y))
    with pytest.raises(ValueError, match="no rows"):
        model.predict(make(np.zeros((0, 5))))


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("bad_column", [-1, -7, 5, 6, 1000])
def test_column_index_out_of_range(cls, index_dtype, bad_column):
    data_ = np.ones(5)
    indptr = np.array([0, 1, 2, 4, 5], dtype=index_dtype)
    indices = np.array([0, 3, 1, 2, 4], dtype=index_dtype)
    X = sp.csr_matrix((data_, indices.copy(), indptr.copy()), shape=(4, 5))
    X.indices[3] = bad_column  # row 2, after scipy's own checks
    y = labels_for(cls, np.array([0.0, 1.0, 2.0, 3.0]))
    pattern = rf"row 2 has column index {bad_column}, outside \[0, 5\)"
    with pytest.raises(ValueError, match=pattern):
        quick(cls).fit(X, y)
    good = sp.csr_matrix((data_, indices, indptr), shape=(4, 5))
    model = quick(cls).fit(good, y)
    with pytest.raises(ValueError, match=pattern):
        model.predict(X)
    # unsorted as well as out of range (the order is repaired first, then the range fails)
    X2 = sp.csr_matrix((np.ones(3), np.array([4, 2, 0], dtype=index_dtype),
                        np.array([0, 0, 3], dtype=index_dtype)), shape=(2, 5))
    X2.indices[1] = bad_column
    with pytest.raises(ValueError, match=rf"row 1 has column index {bad_column}"):
        model.predict(X2)


def test_bad_indptr():
    X = sp.csr_matrix(np.eye(3))
    X.indptr[1] = 5  # beyond the stored entries
    with pytest.raises(ValueError, match="(indptr|inconsistent)"):
        quick(FMRegressor).fit(X, np.ones(3))


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("bad", [
    np.array([["a", "b"], ["c", "d"]]),
    np.array([[1.0, "x"], [None, 2.0]], dtype=object),
    np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object),
    np.array([[1 + 2j, 0], [0, 1]]),
    [["a", 1.0], [2.0, 3.0]],
    "not an array",
])
def test_non_numeric_X(cls, bad):
    with pytest.raises((TypeError, ValueError), match=r"(X must hold real numbers|X must be 2-D)"):
        quick(cls).fit(bad, np.array([0, 1]))


def test_ragged_X():
    with pytest.raises(ValueError, match="X"):
        quick(FMRegressor).fit([[1.0, 2.0], [3.0]], [1.0, 2.0])


def test_non_numeric_sparse_X():
    X = sp.csr_matrix(np.eye(3, dtype=np.complex128))
    with pytest.raises(TypeError, match="real numbers"):
        quick(FMRegressor).fit(X, np.ones(3))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_predict_with_other_number_of_features(cls):
    X, y = data()
    model = quick(cls).fit(X, labels_for(cls, y))
    for X_other in (X[:, :3], sp.csr_matrix(np.hstack([X, X]))):
        with pytest.raises(ValueError, match=rf"{X_other.shape[1]} features.*fitted with 5"):
            model.predict(X_other)
    if cls is FMClassifier:
        with pytest.raises(ValueError, match="features"):
            model.predict_proba(X[:, :3])
        with pytest.raises(ValueError, match="features"):
            model.decision_function(X[:, :3])


# -- y and sample_weight --------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_y(cls, bad):
    X, y = data()
    y = labels_for(cls, y).astype(float)
    y[4] = bad
    with pytest.raises(ValueError, match=r"y contains NaN or infinity.*index 4"):
        quick(cls).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_y_shape(cls):
    X, y = data()
    y = labels_for(cls, y)
    with pytest.raises(ValueError, match="30 rows but y has 29"):
        quick(cls).fit(X, y[:-1])
    with pytest.raises(ValueError, match="30 rows but y has 31"):
        quick(cls).fit(X, np.append(y, y[0]))
    with pytest.raises(ValueError, match=r"y must be 1-D.*\(30, 2\)"):
        quick(cls).fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="y must be 1-D"):
        quick(cls).fit(X, y[0])
    quick(cls).fit(X, y.reshape(-1, 1))  # a single column is accepted


def test_non_numeric_regression_target():
    X, _ = data(n=4)
    with pytest.raises(ValueError, match="y must hold real numbers"):
        quick(FMRegressor).fit(X, np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="y must hold real numbers"):
        quick(FMRegressor).fit(X, np.array([1j, 2, 3, 4]))


@pytest.mark.parametrize("y", [np.zeros(30), np.full(30, "yes"),
                               np.arange(30) % 3, np.array(["a", "b", "c"] * 10)])
def test_classifier_needs_exactly_two_classes(y):
    X, _ = data()
    with pytest.raises(ValueError, match="exactly 2 classes"):
        quick(FMClassifier).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("weight,pattern", [
    (-np.ones(30), "non-negative"),
    (np.r_[np.ones(29), -0.5], "non-negative"),
    (np.r_[np.ones(29), np.nan], "finite"),
    (np.r_[np.ones(29), np.inf], "finite"),
    (np.ones(29), r"sample_weight must have shape \(30,\)"),
    (np.ones((30, 2)), r"sample_weight must have shape \(30,\)"),
    (np.zeros(30), "zero everywhere"),
    (-1.0, "non-negative"),
])
def test_bad_sample_weight(cls, weight, pattern):
    X, y = data()
    with pytest.raises(ValueError, match=pattern):
        quick(cls).fit(X, labels_for(cls, y), sample_weight=weight)


def test_non_numeric_sample_weight():
    X, y = data()
    with pytest.raises((TypeError, ValueError)):
        quick(FMRegressor).fit(X, y, sample_weight=np.array(["a"] * 30))


# -- fitted state ---------------------------------------------------------------------------

NOT_FITTED_CASES = [(FMRegressor, "predict"), (FMClassifier, "predict"),
                    (FMClassifier, "predict_proba"), (FMClassifier, "decision_function")]


@pytest.mark.parametrize("cls,method", NOT_FITTED_CASES)
def test_not_fitted(cls, method):
    exceptions = pytest.importorskip("sklearn.exceptions")
    X, y = data()
    model = cls()
    with pytest.raises(exceptions.NotFittedError, match="not fitted"):
        getattr(model, method)(X)
    # after a fit the same call works
    getattr(model.set_params(n_epochs=1).fit(X, labels_for(cls, y)), method)(X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_check_is_fitted(cls):
    exceptions = pytest.importorskip("sklearn.exceptions")
    validation = pytest.importorskip("sklearn.utils.validation")
    X, y = data()
    model = cls(n_epochs=1)
    # the compat name is scikit-learn's class when scikit-learn is installed
    assert CompatNotFittedError is exceptions.NotFittedError
    assert issubclass(CompatNotFittedError, (ValueError, AttributeError))
    with pytest.raises(exceptions.NotFittedError):
        validation.check_is_fitted(model)
    model.fit(X, labels_for(cls, y))
    validation.check_is_fitted(model)


# -- hyperparameters ------------------------------------------------------------------------

BAD_PARAMS = [
    ("n_factors", -1, ValueError),
    ("n_factors", 2.5, TypeError),
    ("n_factors", "8", TypeError),
    ("n_factors", True, TypeError),
    ("n_epochs", 0, ValueError),
    ("n_epochs", -3, ValueError),
    ("n_epochs", 1.0, TypeError),
    ("learning_rate", 0, ValueError),
    ("learning_rate", -0.1, ValueError),
    ("learning_rate", math.nan, ValueError),
    ("learning_rate", math.inf, ValueError),
    ("learning_rate", "fast", TypeError),
    ("learning_rate", [0.1], TypeError),
    ("power_t", -0.5, ValueError),
    ("reg_bias", -1, ValueError),
    ("reg_linear", -1, ValueError),
    ("reg_linear", math.nan, ValueError),
    ("reg_factors", -1e-9, ValueError),
    ("reg_factors", math.inf, ValueError),
    ("init_std", -1, ValueError),
    ("schedule", "nope", ValueError),
    ("schedule", None, ValueError),
    ("parallel", "nope", ValueError),
    ("parallel", None, ValueError),
    ("dtype", np.int32, ValueError),
    ("dtype", "float16", ValueError),
    ("dtype", np.complex64, ValueError),
    ("dtype", "no such dtype", TypeError),
    ("n_jobs", 0, ValueError),
    ("n_jobs", 1.5, TypeError),
    ("n_jobs", "2", TypeError),
    ("random_state", "x", TypeError),
    ("random_state", 1.5, TypeError),
    ("callbacks", [1], TypeError),
    ("callbacks", [print, "x"], TypeError),
]


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("name,value,exc", BAD_PARAMS,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD_PARAMS])
def test_bad_hyperparameter(cls, name, value, exc):
    X, y = data()
    model = cls(**{name: value})  # construction never validates
    assert model.get_params()[name] is value
    with pytest.raises(exc, match=name):
        model.fit(X, labels_for(cls, y))
    assert not hasattr(model, "V_")


def test_single_callable_as_callbacks_is_named_in_the_error():
    """callbacks=f instead of [f] is an easy slip; the error should name 'callbacks'."""
    X, y = data()
    model = FMRegressor(callbacks=lambda est, history: None, n_epochs=1)
    with pytest.raises(TypeError, match="callbacks"):
        model.fit(X, y)


# -- divergence -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_divergence_raises_and_leaves_the_estimator_unfitted(dtype):
    X, y = data(n=200)
    model = FMRegressor(solver="sgd", learning_rate=1e6, n_epochs=3, dtype=dtype, random_state=0)
    with pytest.raises(DivergenceError, match="smaller learning_rate") as info:
        model.fit(X * 100, y * 1e3)
    assert isinstance(info.value, FloatingPointError)
    assert rapidfm.DivergenceError is _core.DivergenceError
    assert "learning_rate=1000000.0" in str(info.value)
    assert not hasattr(model, "V_") and not hasattr(model, "w0_")


def test_classifier_divergence():
    X, y = data(n=200)
    model = FMClassifier(learning_rate=1e6, n_epochs=3, random_state=0)
    with pytest.raises(DivergenceError, match="smaller learning_rate"):
        model.fit(X * 1e3, y > 0)
    assert not hasattr(model, "V_")


def test_divergence_after_a_callback_leaves_the_estimator_unfitted():
    """A fit with callbacks that diverges in epoch 2 must not leave the NaN model of the
    failed fit installed (the callback of epoch 1 sets the fitted attributes)."""
    X, y = data(n=200)
    seen = []

    def speed_up(est, history):
        seen.append(len(history))
        est.learning_rate = 1e8  # the next epoch diverges

    model = FMRegressor(learning_rate=1e-3, n_epochs=5, random_state=0, clip_predictions=False,
                        callbacks=[speed_up])
    with pytest.raises(DivergenceError, match="epoch 2"):
        model.fit(X, y * 100)
    assert seen == [1]
    assert not hasattr(model, "V_"), (
        "after a DivergenceError the estimator holds the failed fit: "
        f"n_iter_={getattr(model, 'n_iter_', None)}, finite V_: {np.isfinite(model.V_).all()}")


# -- the binding, misused directly ----------------------------------------------------------

def binding_args(dtype=np.float64, index_dtype=np.int32, n=4, k=3):
    X = sp.csr_matrix(np.eye(n) * 2.0)
    return dict(
        w0=0.0,
        w=np.zeros(n, dtype=dtype),
        V=np.full((n, k), 0.1, dtype=dtype),
        indptr=X.indptr.astype(np.int64),  # the kernel's row pointers are always int64
        indices=X.indices.astype(index_dtype),
        data=X.data.astype(dtype),
        y=np.ones(n),
        sample_weight=None,
    )


SGD_KW = dict(loss="squared", learning_rate=0.01, reg_bias=0.0, reg_linear=0.0,
              reg_factors=0.0, clip_min=-np.inf, clip_max=np.inf, n_threads=1)


def call_sgd(args, **kw):
    opts = dict(SGD_KW, **kw)
    return _core.sgd_epoch(args["w0"], args["w"], args["V"], args["indptr"], args["indices"],
                           args["data"], args["y"], args["sample_weight"], **opts)


def call_predict(args, n_threads=1):
    return _core.predict(args["w0"], args["w"], args["V"], args["indptr"], args["indices"],
                         args["data"], n_threads)


def test_binding_accepts_good_arguments():
    args = binding_args()
    w0, stats = call_sgd(args)
    assert np.isfinite(w0) and stats["n_rows"] == 4
    assert call_predict(args).shape == (4,)


BINDING_MISUSE = [
    ("float64 data, float32 model", dict(data=np.ones(4)), dict(dtype=np.float32), TypeError),
    ("float32 data, float64 model", dict(data=np.ones(4, np.float32)), {}, TypeError),
    ("int16 indices", dict(indices=np.arange(4, dtype=np.int16)), {}, TypeError),
    ("int32 indptr", dict(indptr=np.arange(5, dtype=np.int32)), {}, TypeError),
    ("float indptr", dict(indptr=np.arange(5.0), indices=np.arange(4.0)), {}, TypeError),
    ("int32 w", dict(w=np.zeros(4, np.int32), V=np.zeros((4, 3), np.int32)), {}, TypeError),
    ("V of another dtype", dict(V=np.zeros((4, 3), np.float32)), {}, TypeError),
    ("V of wrong shape", dict(V=np.zeros((3, 3))), {}, ValueError),
    ("V 1-D", dict(V=np.zeros(4)), {}, ValueError),
    ("data too short", dict(data=np.ones(3)), {}, ValueError),
    ("non-contiguous w", dict(w=np.zeros(8)[::2]), {}, ValueError),
    ("Fortran-ordered V", dict(V=np.asfortranarray(np.zeros((4, 3)))), {}, ValueError),
    ("non-contiguous indices", dict(indices=np.arange(8, dtype=np.int32)[::2]), {},
     ValueError),
    ("non-contiguous data", dict(data=np.ones(8)[::2]), {}, ValueError),
    ("a list for w", dict(w=[0.0, 0.0, 0.0, 0.0]), {}, TypeError),
    ("empty indptr", dict(indptr=np.zeros(0, np.int64)), {}, ValueError),
]


@pytest.mark.parametrize("what,change,make,exc", BINDING_MISUSE,
                         ids=[m[0] for m in BINDING_MISUSE])
def test_binding_misuse_raises(what, change, make, exc):
    args = binding_args(**make)
    args.update(change)
    with pytest.raises(exc):
        call_sgd(args)
    with pytest.raises(exc):
        call_predict(args)


@pytest.mark.parametrize("change,exc", [
    (dict(y=np.ones(3)), ValueError),
    (dict(y=np.ones(5)), ValueError),
    (dict(y=np.ones(4, np.float32)), TypeError),
    (dict(y=np.ones(8)[::2]), ValueError),
    (dict(sample_weight=np.ones(3)), ValueError),
    (dict(sample_weight=np.ones(4, np.float32)), TypeError),
], ids=["y short", "y long", "y float32", "y strided", "weight short", "weight float32"])
def test_binding_target_misuse_raises(change, exc):
    args = binding_args()
    args.update(change)
    with pytest.raises(exc):
        call_sgd(args)


@pytest.mark.parametrize("kw,pattern", [
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=np.nan), "learning_rate"),
    (dict(learning_rate=-1.0), "learning_rate"),
    (dict(reg_linear=-1.0), "regularisation"),
    (dict(reg_factors=np.nan), "regularisation"),
    (dict(reg_bias=np.inf), "regularisation"),
    (dict(clip_min=1.0, clip_max=0.0), "clip_min"),
    (dict(clip_min=np.nan), "clip_min"),
    (dict(n_threads=0), "n_threads"),
    (dict(n_threads=-2), "n_threads"),
    (dict(sync_every=-1), "sync_every"),
])
def test_binding_parameter_checks(kw, pattern):
    args = binding_args()
    w_before = args["w"].copy()
    with pytest.raises(ValueError, match=pattern):
        call_sgd(args, **kw)
    np.testing.assert_array_equal(args["w"], w_before)


@pytest.mark.parametrize("kw", [dict(loss="nope"), dict(parallel_mode="nope")])
def test_binding_unknown_names_raise(kw):
    with pytest.raises((KeyError, ValueError)):
        call_sgd(binding_args(), **kw)


def test_binding_divergence_error():
    args = binding_args()
    args["y"] = np.full(4, 1e300)
    with pytest.raises(DivergenceError):
        call_sgd(args, learning_rate=1e300)


def test_binding_predict_thread_count():
    args = binding_args()
    np.testing.assert_array_equal(call_predict(args, 1), call_predict(args, 64))


# -- check_csr ------------------------------------------------------------------------------

def check(indptr, indices, data, n_cols, index_dtype=np.int32, dtype=np.float64):
    return _core.check_csr(np.asarray(indptr, np.int64), np.asarray(indices, index_dtype),
                           np.asarray(data, dtype), n_cols)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_check_csr_statuses(index_dtype, dtype):
    kw = dict(index_dtype=index_dtype, dtype=dtype)
    codes = {_core.CSR_UNSORTED, _core.CSR_DUPLICATE, _core.CSR_INDPTR,
             _core.CSR_INDEX_RANGE, _core.CSR_NONFINITE}
    assert len(codes) == 5 and 0 not in codes

    assert check([0, 2, 3], [0, 4, 1], [1, 2, 3], 5, **kw)[0] == 0
    assert check([0, 0, 0], [], [], 5, **kw)[0] == 0
    # (status, row, position, column)
    assert check([0, 2, 4], [0, 4, 3, 1], [1, 1, 1, 1], 5, **kw) == (_core.CSR_UNSORTED, 1, 3, 1)
    assert check([0, 3], [0, 2, 2], [1, 1, 1], 5, **kw) == (_core.CSR_DUPLICATE, 0, 2, 2)
    assert check([0, 1, 2], [0, 5], [1, 1], 5, **kw) == (_core.CSR_INDEX_RANGE, 1, 1, 5)
    assert check([0, 1, 2], [-3, 1], [1, 1], 5, **kw) == (_core.CSR_INDEX_RANGE, 0, 0, -3)
    assert check([0, 1, 2], [0, 1], [1, np.nan], 5, **kw) == (_core.CSR_NONFINITE, 1, 1, 1)
    assert check([0, 1, 2], [0, 1], [np.inf, 1], 5, **kw)[0] == _core.CSR_NONFINITE
    assert check([1, 2], [0, 1], [1, 1], 5, **kw)[:2] == (_core.CSR_INDPTR, 0)
    assert check([0, 2, 1], [0, 1], [1, 1], 5, **kw)[:2] == (_core.CSR_INDPTR, 1)
    assert check([0, 1, 9], [0, 1], [1, 1], 5, **kw)[:2] == (_core.CSR_INDPTR, 1)
    assert check([0, -1], [0], [1], 5, **kw)[0] == _core.CSR_INDPTR
    for code in codes:
        assert isinstance(_core.strerror(code), str) and _core.strerror(code)


def test_check_csr_misuse_raises():
    with pytest.raises(TypeError, match="indptr must have dtype int64"):
        _core.check_csr(np.array([0, 1], np.int32), np.array([0], np.int32), np.ones(1), 2)
    with pytest.raises(TypeError, match="int32 or int64 indices"):
        _core.check_csr(np.array([0, 1], np.int64), np.array([0], np.int16), np.ones(1), 2)
    with pytest.raises(ValueError):
        _core.check_csr(np.array([0, 1], np.int64), np.array([0], np.int32), np.ones(2), 2)
    with pytest.raises(TypeError):
        _core.check_csr(np.array([0, 1], np.int64), np.array([0], np.int32),
                        np.ones(1, np.int64), 2)
