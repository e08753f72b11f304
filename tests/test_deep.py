"""rapidfm.deep: AFM and DeepFM against NumPy forward passes of their formulas
(tests/reference_deep.py), a planted target an FM cannot express, and the lifecycle
(save / load, early stopping, warm start, pretrained embeddings, memory-mapped rows)."""

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from reference_deep import afm_output, deepfm_output  # noqa: E402

import rapidfm  # noqa: E402
from rapidfm.deep import (  # noqa: E402
    AFMClassifier,
    AFMRegressor,
    DeepFMClassifier,
    DeepFMRegressor,
)

ALL = [AFMClassifier, AFMRegressor, DeepFMClassifier, DeepFMRegressor]


def small_problem(seed=0, n_rows=300, n_features=30, n_fields=4):
    """Sparse rows with several values in some fields and values other than 1, and the
    field of every stored value (per value, as load_libffm returns)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_features, density=0.15, format="csr", random_state=seed)
    X.data = rng.uniform(0.5, 2.0, X.nnz)
    X.sort_indices()
    fields = rng.integers(0, n_fields, X.nnz).astype(np.int32)
    fields[:n_fields] = np.arange(n_fields)  # every field appears
    y = (rng.random(n_rows) < 0.4).astype(int)
    return X, fields, y


def _kwargs(cls):
    if cls in (DeepFMClassifier, DeepFMRegressor):
        return dict(hidden_layers=(6, 5))
    return dict(attention_factor=3)


@pytest.mark.parametrize("cls", ALL)
def test_forward_pass_equals_the_formula(cls):
    X, fields, y = small_problem()
    model = cls(n_factors=4, n_epochs=2, dtype=np.float64, random_state=0, init_std=0.3,
                clip_predictions=False, **_kwargs(cls)) if "Regressor" in cls.__name__ else \
        cls(n_factors=4, n_epochs=2, dtype=np.float64, random_state=0, init_std=0.3,
            **_kwargs(cls))
    model.fit(X, y.astype(float) if "Regressor" in cls.__name__ else y, fields=fields)
    reference = deepfm_output if "DeepFM" in cls.__name__ else afm_output
    expected = []
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        expected.append(reference(model, X.indices[lo:hi], fields[lo:hi], X.data[lo:hi]))
    expected = np.array(expected)
    got = (model.predict(X, fields=fields) if "Regressor" in cls.__name__
           else model.decision_function(X, fields=fields))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert np.std(expected) > 1e-3  # the comparison is not of constants


def planted_triple(n_rows, seed):
    """Three one-hot fields of 8 values; y = a[f1] * b[f2] * c[f3] + noise: a product of
    three fields' effects, which a second-order FM cannot express."""
    rng = np.random.default_rng(123)  # the planted effects, shared by train and test
    a, b, c = (rng.normal(size=8) for _ in range(3))
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 8, size=(n_rows, 3))
    cols = values + np.array([0, 8, 16])
    X = sp.csr_matrix((np.ones(3 * n_rows), cols.ravel(), np.arange(0, 3 * n_rows + 1, 3)),
                      shape=(n_rows, 24))
    y = a[values[:, 0]] * b[values[:, 1]] * c[values[:, 2]] + 0.1 * rng.normal(size=n_rows)
    return X, y


def test_deepfm_learns_what_an_fm_cannot():
    X, y = planted_triple(12000, seed=1)
    X_te, y_te = planted_triple(3000, seed=2)
    feature_fields = np.repeat(np.arange(3), 8)
    fm = rapidfm.FMRegressor(n_factors=8, n_epochs=40, random_state=0).fit(X, y)
    deep = DeepFMRegressor(n_factors=8, n_epochs=25, hidden_layers=(64, 64), dropout=0.0,
                           learning_rate=0.003, feature_fields=feature_fields,
                           random_state=0).fit(X, y)

    def rmse(p):
        return float(np.sqrt(np.mean((p - y_te) ** 2)))

    fm_rmse, deep_rmse = rmse(fm.predict(X_te)), rmse(deep.predict(X_te))
    assert deep_rmse < 0.8 * fm_rmse, (deep_rmse, fm_rmse)
    assert deep_rmse < 0.5 * float(np.std(y_te))


@pytest.mark.parametrize("cls", ALL)
def test_save_and_load_predict_identically(cls, tmp_path):
    X, fields, y = small_problem(1)
    target = y.astype(float) if "Regressor" in cls.__name__ else y
    model = cls(n_factors=4, n_epochs=2, random_state=0, **_kwargs(cls))
    model.fit(X, target, fields=fields)
    path = tmp_path / "model.rfm"
    model.save(path)
    loaded = rapidfm.load(path)
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.predict(X, fields=fields),
                                  model.predict(X, fields=fields))


def test_early_stopping_restores_the_best_epoch_and_history_is_complete():
    X, fields, y = small_problem(2, n_rows=600)
    model = DeepFMClassifier(n_factors=4, n_epochs=12, hidden_layers=(16,), early_stopping=True,
                             n_iter_no_change=2, learning_rate=0.05, random_state=0)
    model.fit(X, y, fields=fields)
    losses = [h["validation_loss"] for h in model.history_]
    assert model.best_validation_loss_ == pytest.approx(min(losses))
    assert model.best_epoch_ == 1 + int(np.argmin(losses))
    assert {"epoch", "train_loss", "validation_loss", "seconds"} <= set(model.history_[0])


def test_warm_start_goes_on_and_one_thread_is_reproducible():
    X, fields, y = small_problem(3)
    a = AFMClassifier(n_factors=4, n_epochs=3, random_state=0).fit(X, y, fields=fields)
    b = AFMClassifier(n_factors=4, n_epochs=3, random_state=0).fit(X, y, fields=fields)
    np.testing.assert_array_equal(a.V_, b.V_)
    np.testing.assert_array_equal(a.network_weights_, b.network_weights_)
    a.set_params(warm_start=True, n_epochs=2).fit(X, y, fields=fields)
    assert a.t_ == 5 and len(a.history_) == 5
    assert not np.array_equal(a.V_, b.V_)


def test_afm_starts_from_a_fitted_fms_embeddings():
    X, fields, y = small_problem(4)
    fm = rapidfm.FMClassifier(n_factors=4, n_epochs=3, random_state=0).fit(X, y)
    afm = AFMClassifier(n_factors=4, n_epochs=1, learning_rate=1e-12, random_state=0)
    afm.fit(X, y, fields=fields, init_from=fm)
    np.testing.assert_allclose(afm.V_, fm.V_, atol=1e-6)
    np.testing.assert_allclose(afm.w_, fm.w_, atol=1e-6)
    with pytest.raises(ValueError, match="n_factors"):
        AFMClassifier(n_factors=5, n_epochs=1).fit(X, y, fields=fields, init_from=fm)


def test_memory_mapped_rows_train_block_by_block(tmp_path):
    X, fields, y = small_problem(5, n_rows=400)
    arrays = {"indptr": X.indptr.astype(np.int64), "indices": X.indices.astype(np.int32),
              "data": X.data.astype(np.float32)}
    mapped = {}
    for name, arr in arrays.items():
        np.save(tmp_path / f"{name}.npy", arr)
        mapped[name] = np.load(tmp_path / f"{name}.npy", mmap_mode="r")
    X_mapped = sp.csr_matrix((mapped["data"], mapped["indices"], mapped["indptr"]),
                             shape=X.shape)
    kw = dict(n_factors=4, n_epochs=2, hidden_layers=(8,), block_rows=64, random_state=0)
    in_memory = DeepFMClassifier(**kw).fit(X, y, fields=fields)
    from_disk = DeepFMClassifier(**kw).fit(X_mapped, y, fields=fields)
    np.testing.assert_allclose(from_disk.V_, in_memory.V_, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("params, message", [
    (dict(optimizer="sgd"), "optimizer"),
    (dict(batch_size=0), "batch_size"),
    (dict(dropout=1.0), "dropout"),
    (dict(hidden_layers=(0,)), "hidden_layers"),
    (dict(solver="adagrad"), "minibatch"),
    (dict(device="no-such-device"), "device"),
])
def test_bad_parameters_are_refused(params, message):
    X, fields, y = small_problem()
    with pytest.raises(ValueError, match=message):
        DeepFMClassifier(n_epochs=1, **params).fit(X, y, fields=fields)


def test_fm_estimators_refuse_the_minibatch_solver():
    X, _, y = small_problem()
    with pytest.raises(ValueError, match="neural"):
        rapidfm.FMClassifier(solver="minibatch").fit(X, y)


def test_a_diverging_fit_raises_cleanly():
    X, fields, y = small_problem()
    X = X * 1e30
    model = DeepFMRegressor(n_epochs=3, learning_rate=10.0, hidden_layers=(8,),
                            random_state=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        model.fit(X, y * 1e30, fields=fields)
    assert not hasattr(model, "V_")


def test_a_damaged_network_file_is_refused(tmp_path):
    X, fields, y = small_problem(6)
    model = AFMClassifier(n_factors=4, n_epochs=1, random_state=0).fit(X, y, fields=fields)
    model.network_weights_ = model.network_weights_[:-1]
    path = tmp_path / "bad.rfm"
    model.save(path)
    with pytest.raises(rapidfm.ModelFileError, match="network_layout_"):
        rapidfm.load(path)


# -- scikit-learn's common checks --------------------------------------------------------------

NOT_APPLICABLE = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batches in a random order: a weight of 2 scales a row's share of its batch's "
        "loss, which equals a duplicated row in expectation, not exactly (as for the FM "
        "and FFM estimators)"),
    "check_sample_weight_equivalence_on_sparse_data": (
        "as check_sample_weight_equivalence_on_dense_data"),
    "check_dtype_object": (
        "object-dtype X is refused by design ('X must hold real numbers'), as for the FM "
        "estimators (test_errors.py::test_non_numeric_X)"),
}
_QUICK = dict(n_epochs=20, batch_size=32, random_state=0)
CHECKED = [DeepFMRegressor(hidden_layers=(16,), learning_rate=0.003, dropout=0.0, **_QUICK),
           DeepFMClassifier(hidden_layers=(16,), learning_rate=0.01, **_QUICK),
           AFMRegressor(learning_rate=0.003, **_QUICK),
           AFMClassifier(learning_rate=0.01, **_QUICK)]

try:
    from sklearn.utils import estimator_checks
except ImportError:  # pragma: no cover
    estimator_checks = None

if estimator_checks is not None and "expected_failed_checks" in __import__(
        "inspect").signature(estimator_checks.parametrize_with_checks).parameters:

    @estimator_checks.parametrize_with_checks(
        CHECKED, expected_failed_checks=lambda est: dict(NOT_APPLICABLE), xfail_strict=True)
    def test_sklearn_estimator_checks(estimator, check):
        check(estimator)
