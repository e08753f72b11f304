"""feature_names_in_: set by fit from a data frame's string column names and checked by
predict, as scikit-learn's estimators do (its own common check is the reference)."""

import warnings

import numpy as np
import pytest

import rapidfm
from rapidfm import FMClassifier, FMRegressor

pd = pytest.importorskip("pandas")

NAMES = ["age", "height", "weight", "score"]


def frame(n=120, seed=0, columns=NAMES):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(columns))), columns=columns)
    y = X.iloc[:, 0] - 0.5 * X.iloc[:, 1] + 0.1 * rng.normal(size=n)
    return X, y.to_numpy()


def quick(cls=FMRegressor, **kw):
    kw.setdefault("n_epochs", 2)
    kw.setdefault("n_factors", 2)
    kw.setdefault("random_state", 0)
    return cls(**kw)


def target(cls, y):
    return (y > 0).astype(int) if cls is FMClassifier else y


@pytest.mark.parametrize("estimator", [
    quick(FMRegressor, learning_rate=0.001),
    quick(FMClassifier, learning_rate=0.001),
    quick(FMRegressor, solver="mcmc"),
    quick(FMClassifier, solver="als"),
], ids=["sgd-regressor", "sgd-classifier", "mcmc-regressor", "als-classifier"])
def test_scikit_learn_column_names_check(estimator):
    """scikit-learn's check (not run by check_estimator for third-party estimators):
    fit sets feature_names_in_ (object array), predict & co. accept the same names
    silently and raise on other, reordered or missing names, partial_fit too."""
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_dataframe_column_names_consistency

    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_names_are_kept_and_compared(cls):
    X, y = frame()
    model = quick(cls).fit(X, target(cls, y))
    assert isinstance(model.feature_names_in_, np.ndarray)
    assert model.feature_names_in_.dtype == object
    assert model.feature_names_in_.tolist() == NAMES
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)
    with pytest.raises(ValueError, match="same order"):
        model.predict(X[NAMES[::-1]])
    renamed = X.rename(columns={"score": "points"})
    with pytest.raises(ValueError, match=r"unseen at fit time:\n- points\n.*now missing:\n- score"):
        model.predict(renamed)
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                                         f"{cls.__name__} was fitted with feature names"):
        model.predict(X.to_numpy())


def test_names_follow_the_latest_fit():
    X, y = frame()
    model = quick().fit(X, y)
    model.fit(X.to_numpy(), y)  # a new fit without names drops them
    assert not hasattr(model, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but FMRegressor was fitted "
                                         "without feature names"):
        model.predict(X)
    other = X.rename(columns=str.upper)
    model.fit(other, y)
    assert model.feature_names_in_.tolist() == [c.upper() for c in NAMES]


def test_non_string_column_labels():
    X, y = frame()
    integer_labels = pd.DataFrame(X.to_numpy())  # columns 0..3: no names, as scikit-learn
    model = quick().fit(integer_labels, y)
    assert not hasattr(model, "feature_names_in_")
    mixed = X.set_axis(["age", 1, "weight", 3], axis=1)
    with pytest.raises(TypeError, match="only supported if all input features have string"):
        quick().fit(mixed, y)


def test_warm_start_and_partial_fit_check_the_names():
    X, y = frame()
    model = quick(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="same order"):
        model.fit(X[NAMES[::-1]], y)
    assert model.t_ == 2 and model.feature_names_in_.tolist() == NAMES  # left as it was
    model.fit(X, y)
    assert model.t_ == 4
    stream = FMRegressor(n_factors=2, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="should match"):
        stream.partial_fit(X.rename(columns={"age": "years"}), y)
    assert stream.t_ == 1


def test_eval_set_names_are_checked():
    X, y = frame()
    with pytest.raises(ValueError, match=r"^eval_set: The feature names should match"):
        quick().fit(X, y, eval_set=(X[NAMES[::-1]], y))


def test_failed_fit_leaves_no_names_behind():
    X, y = frame()

    def boom(estimator, history):
        assert estimator.feature_names_in_.tolist() == NAMES  # callbacks see them
        raise RuntimeError("stop")

    model = quick(callbacks=[boom])
    with pytest.raises(RuntimeError):
        model.fit(X, y)
    assert not hasattr(model, "feature_names_in_") and not hasattr(model, "V_")


def test_names_survive_save_and_load(tmp_path):
    X, y = frame()
    model = quick(FMClassifier).fit(X, (y > 0).astype(int))
    path = tmp_path / "named.rfm"
    model.save(path)
    loaded = rapidfm.load(path)
    assert loaded.feature_names_in_.dtype == object
    assert loaded.feature_names_in_.tolist() == NAMES
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError, match="same order"):
        loaded.predict(X[NAMES[::-1]])


def test_names_from_other_data_frame_libraries():
    pa = pytest.importorskip("pyarrow")
    from rapidfm._feature_names import feature_names_of

    table = pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    assert feature_names_of(table).tolist() == ["a", "b"]
    assert feature_names_of(np.ones((2, 2))) is None
