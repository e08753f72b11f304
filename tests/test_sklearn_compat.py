"""The scikit-learn contract: the common estimator checks, meta-estimators
(Pipeline, GridSearchCV, cross_val_score with worker processes) and pickling."""

import inspect
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_fit_check_is_fitted,
    check_fit_idempotent,
    check_n_features_in,
)

from rapidfm import FMClassifier, FMRegressor  # noqa: E402
from rapidfm.datasets import make_planted_fm  # noqa: E402

# The estimators with their default parameters (solver="adagrad"): the checks' data
# sets include unscaled features (X ~ N(100, 1)) and targets of magnitude 100, which
# the defaults must take as they come. Plain SGD is checked too, small and seeded,
# where learning_rate=0.001 keeps it stable on targets of magnitude 100
# (check_regressor_data_not_an_array).
DEFAULTS = [FMRegressor(random_state=0), FMClassifier(random_state=0)]
PLAIN_SGD = [
    FMRegressor(solver="sgd", n_factors=2, n_epochs=5, learning_rate=0.001, random_state=0),
    FMClassifier(solver="sgd", n_factors=2, n_epochs=5, learning_rate=0.001, random_state=0),
]
CHECKED = DEFAULTS + PLAIN_SGD

UNSCALED = ("these checks draw X ~ N(100, 1): on features of magnitude 100 plain SGD on "
            "the pairwise term diverges at any useful learning rate and fit raises "
            "DivergenceError by design (scale the features, e.g. with MaxAbsScaler, or "
            "use the default solver='adagrad', which passes them). "
            "test_checks_with_unscaled_features runs them with learning_rate=1e-6, "
            "where they pass.")
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "SGD visits the rows in a random order and a weight scales one step: weight 2 "
        "equals a duplicated row in expectation, not exactly (scikit-learn marks its own "
        "SGDRegressor/SGDClassifier alike). test_lifecycle.py::"
        "test_weight_two_is_duplicating_the_row_in_expectation tests it statistically."),
    "check_sample_weight_equivalence_on_sparse_data": (
        "as check_sample_weight_equivalence_on_dense_data"),
    "check_dtype_object": (
        "object-dtype X is refused by design ('X must hold real numbers'), not converted: "
        "test_errors.py::test_non_numeric_X requires the refusal."),
}
SGD_UNSCALED = {
    "check_fit_idempotent": UNSCALED,
    "check_fit_check_is_fitted": UNSCALED,
    "check_n_features_in": UNSCALED,
}


def expected_failed_checks(estimator):
    if estimator.solver == "sgd":
        return {**EXPECTED_FAILURES, **SGD_UNSCALED}
    return EXPECTED_FAILURES


HAVE_EXPECTED_FAILED = "expected_failed_checks" in inspect.signature(
    estimator_checks.parametrize_with_checks).parameters

if HAVE_EXPECTED_FAILED:  # scikit-learn >= 1.6

    @estimator_checks.parametrize_with_checks(
        CHECKED, expected_failed_checks=expected_failed_checks, xfail_strict=True)
    def test_sklearn_estimator_checks(estimator, check):
        check(estimator)

else:  # pragma: no cover

    def test_sklearn_estimator_checks():
        pytest.skip("the common checks need scikit-learn >= 1.6 (expected_failed_checks)")


@pytest.mark.parametrize("check", [check_fit_idempotent, check_fit_check_is_fitted,
                                   check_n_features_in])
@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_checks_with_unscaled_features(cls, check):
    check(cls.__name__, cls(solver="sgd", n_factors=2, n_epochs=3, learning_rate=1e-6,
                            random_state=0))


def test_tags():
    from sklearn.utils import get_tags

    regressor, classifier = get_tags(CHECKED[0]), get_tags(CHECKED[1])
    assert regressor.input_tags.sparse and classifier.input_tags.sparse
    assert regressor.estimator_type == "regressor" and classifier.estimator_type == "classifier"
    assert classifier.classifier_tags.multi_class is False
    assert regressor.target_tags.required and classifier.target_tags.required


# -- meta-estimators ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def regression():
    """Sparse rows (half the entries zero) of unscaled features, with a linear part and
    one interaction; the classification label is the sign of the target."""
    rng = np.random.default_rng(0)
    dense = rng.uniform(-50, 50, (1500, 12)) * (rng.random((1500, 12)) < 0.5)
    Xs = dense / 50
    y = 2 * Xs[:, 0] - Xs[:, 1] + 3 * Xs[:, 2] * Xs[:, 3] + 0.05 * rng.normal(size=1500)
    return sp.csr_matrix(dense), y


def test_pipeline_with_a_scaler(regression):
    X, y = regression
    X_tr, y_tr, X_te, y_te = X[:1200], y[:1200], X[1200:], y[1200:]
    sgd = dict(solver="sgd", reg_linear=0.0, reg_factors=0.0)
    pipe = make_pipeline(MaxAbsScaler(), FMRegressor(n_factors=4, n_epochs=40, **sgd,
                                                     learning_rate=0.05, random_state=0))
    pipe.fit(X_tr, y_tr)
    assert pipe.score(X_te, y_te) > 0.95
    # the pipeline is the scaler then the model, nothing else
    scaled = MaxAbsScaler().fit(X_tr).transform(X_te)
    model = FMRegressor(n_factors=4, n_epochs=40, learning_rate=0.05, random_state=0, **sgd)
    model.fit(MaxAbsScaler().fit_transform(X_tr), y_tr)
    np.testing.assert_array_equal(pipe.predict(X_te), model.predict(scaled))

    labels = np.where(y > 0, "up", "down")
    clf = make_pipeline(MaxAbsScaler(), FMClassifier(n_factors=4, n_epochs=40, **sgd,
                                                     learning_rate=0.05, random_state=0))
    clf.fit(X_tr, labels[:1200])
    assert clf.score(X_te, labels[1200:]) > 0.8
    assert clf.predict_proba(X_te).shape == (300, 2)


def test_grid_search_matches_manual_cross_validation(regression):
    X, y = regression
    X = MaxAbsScaler().fit_transform(X)
    base = FMRegressor(n_epochs=20, random_state=0)
    grid = {"n_factors": [0, 4], "learning_rate": [0.001, 0.05]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(base, grid, cv=cv).fit(X, y)
    assert search.best_params_ == {"n_factors": 4, "learning_rate": 0.05}
    assert isinstance(search.best_estimator_, FMRegressor)
    assert search.best_estimator_.n_factors == 4 and hasattr(search.best_estimator_, "V_")
    assert not hasattr(base, "V_")  # the template is cloned, never fitted
    # every candidate's score is that of fitting it by hand on the same folds
    for params, score in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"]):
        manual = []
        for train, test in cv.split(X):
            model = clone(base).set_params(**params).fit(X[train], y[train])
            manual.append(model.score(X[test], y[test]))
        assert score == pytest.approx(np.mean(manual), rel=1e-12)


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_cross_val_score_in_worker_processes(regression, cls):
    X, y = regression
    X = MaxAbsScaler().fit_transform(X)
    if cls is FMClassifier:
        y = y > 0
    model = cls(solver="sgd", reg_linear=0.0, reg_factors=0.0, n_factors=4, n_epochs=10,
                learning_rate=0.05, random_state=0, n_jobs=1)
    cv = KFold(4, shuffle=True, random_state=1)
    parallel = cross_val_score(model, X, y, cv=cv, n_jobs=2)
    serial = cross_val_score(model, X, y, cv=cv, n_jobs=1)
    np.testing.assert_array_equal(parallel, serial)  # seeded, one thread each: the same fits
    assert parallel.min() > (0.95 if cls is FMRegressor else 0.8)


# -- pickling -------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_joblib_pickled_model_predicts_identically(tmp_path, cls):
    joblib = pytest.importorskip("joblib")
    data = make_planted_fm(n_samples=3000, n_fields=3, field_cardinality=20, n_factors=2,
                           task="regression" if cls is FMRegressor else "classification",
                           random_state=0)
    X_tr, y_tr, X_te, _ = data.split(2500)
    model = cls(n_factors=4, n_epochs=5, random_state=0, warm_start=True).fit(X_tr, y_tr)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    assert type(loaded) is cls and loaded.get_params().keys() == model.get_params().keys()
    np.testing.assert_array_equal(loaded.predict(X_te), model.predict(X_te))
    if cls is FMClassifier:
        np.testing.assert_array_equal(loaded.predict_proba(X_te), model.predict_proba(X_te))
    # the whole training state travels: the copy goes on training as the original does
    loaded.fit(X_tr, y_tr)
    model.fit(X_tr, y_tr)
    assert loaded.t_ == model.t_ == 10
    np.testing.assert_array_equal(loaded.V_, model.V_)
    loaded.partial_fit(X_tr, y_tr)
    model.partial_fit(X_tr, y_tr)
    np.testing.assert_array_equal(loaded.predict(X_te), model.predict(X_te))
    # and an unfitted estimator pickles as its parameters
    fresh = pickle.loads(pickle.dumps(cls(n_factors=3, early_stopping=True)))
    assert fresh.get_params()["n_factors"] == 3 and fresh.early_stopping is True
    assert not hasattr(fresh, "V_")


def test_clone_of_a_fitted_model_is_unfitted_with_the_same_parameters():
    X = np.random.default_rng(0).normal(size=(50, 3))
    model = FMRegressor(n_factors=2, n_epochs=2, warm_start=True, early_stopping=True,
                        validation_fraction=0.2, n_iter_no_change=3, tol=1e-3,
                        random_state=0).fit(X, X[:, 0])
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not [k for k in vars(copy) if k.endswith("_")]
    assert clone(FMClassifier(class_weight={1: 2.0})).class_weight == {1: 2.0}
