"""Data that is numeric only in appearance: integer id columns warn (IdColumnWarning) and
name the fix, a DivergenceError on large values says what the data holds instead of
only "use a smaller learning_rate", and non-numeric columns are refused by name."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import rapidfm
from rapidfm import DivergenceError, FMClassifier, FMRegressor, IdColumnWarning

pd = pytest.importorskip("pandas")


def ratings(n=10000, n_users=200, n_items=150, seed=0):
    """A ratings table keyed by 1-based integer ids (as MovieLens), with a planted
    user + item + <p_user, q_item> structure: only one-hot ids can learn it."""
    rng = np.random.default_rng(seed)
    user = rng.integers(1, n_users + 1, n)
    item = rng.integers(1, n_items + 1, n)
    a, b = rng.normal(0, 0.5, n_users + 1), rng.normal(0, 0.5, n_items + 1)
    P, Q = rng.normal(0, 0.7, (n_users + 1, 3)), rng.normal(0, 0.7, (n_items + 1, 3))
    rating = 3.5 + a[user] + b[item] + np.einsum("ij,ij->i", P[user], Q[item])
    rating = rating + rng.normal(0, 0.1, n)
    return pd.DataFrame({"user": user, "item": item, "rating": rating})


def id_warnings(record):
    return [w for w in record if issubclass(w.category, IdColumnWarning)]


# -- integer ids ------------------------------------------------------------------------------

def test_id_columns_of_a_data_frame_warn_and_the_divergence_names_them():
    df = ratings()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(DivergenceError) as excinfo:
            FMRegressor(solver="sgd", random_state=0).fit(df[["user", "item"]], df.rating)
    found = id_warnings(record)
    assert len(found) == 1
    text = str(found[0].message)
    assert "'user' (index 0) up to 200" in text and "'item' (index 1) up to 150" in text
    assert "OneHotEncoder" in text and "make_pipeline" in text
    message = str(excinfo.value)
    assert "learning_rate" in message  # the solver's own message stays
    # ... and the data's: the column holding the largest value, whole numbers -> one-hot
    assert "up to 200 in magnitude, in column 'user' (index 0)" in message
    assert "ids or category codes" in message and "OneHotEncoder" in message


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_solvers_that_do_not_diverge_warn_too(solver):
    df = ratings()
    with pytest.warns(IdColumnWarning, match="'item'"):
        model = FMRegressor(solver=solver, n_epochs=10, random_state=0)
        model.fit(df[["user", "item"]], df.rating)
    # the model it fits on raw ids is no better than predicting the mean: the reason
    # the warning exists (the same data one-hot encoded: test_the_suggested_pipeline_works)
    rmse = np.sqrt(np.mean((model.predict(df[["user", "item"]]) - df.rating) ** 2))
    assert rmse > 0.9 * np.std(df.rating)


def test_dense_array_ids_are_named_by_index_and_classifier_warns_too():
    df = ratings()
    X = df[["user", "item"]].to_numpy()
    with pytest.warns(IdColumnWarning, match=r"column 0 up to 200, column 1 up to 150"):
        FMClassifier(n_epochs=1, learning_rate=1e-7, random_state=0).fit(X, df.rating > 3.5)


def test_the_suggested_pipeline_works():
    sklearn = pytest.importorskip("sklearn")  # noqa: F841
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = ratings()
    train, test = df.iloc[:8000], df.iloc[8000:]
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"),
                         FMRegressor(solver="mcmc", n_factors=4, n_epochs=100, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdColumnWarning)  # one-hot data: no warning
        pipe.fit(train[["user", "item"]], train.rating)
    rmse = np.sqrt(np.mean((pipe.predict(test[["user", "item"]]) - test.rating) ** 2))
    # the mean predictor's error on the test rows, by hand
    baseline = np.sqrt(np.mean((test.rating - train.rating.mean()) ** 2))
    assert rmse < 0.2 * baseline  # 0.11 x measured; the noise is 0.09 x


def test_movielens_ids_one_hot_encoded_reach_the_readme_error():
    from conftest import data_path

    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    names = ["user", "item", "rating", "time"]
    train = pd.read_csv(data_path("ml-100k", "u1.base"), sep="\t", names=names)
    test = pd.read_csv(data_path("ml-100k", "u1.test"), sep="\t", names=names)
    with pytest.warns(IdColumnWarning, match="'user'.*'item'"):  # what the issue saw
        with pytest.raises(DivergenceError, match="ids or category codes"):
            FMRegressor(solver="sgd", random_state=0).fit(train[["user", "item"]], train.rating)
    model = FMRegressor(solver="sgd",
                        n_factors=8, n_epochs=40, learning_rate=0.05, schedule="invscaling",
                        reg_linear=0.03, reg_factors=0.1, init_std=0.05, random_state=0)
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"), model)
    pipe.fit(train[["user", "item"]], train.rating)
    rmse = np.sqrt(np.mean((pipe.predict(test[["user", "item"]]) - test.rating) ** 2))
    assert rmse < 0.93  # the README's bar for one-hot users and items


@pytest.mark.parametrize("X", [
    np.random.default_rng(0).normal(size=(200, 3)),                     # ordinary features
    np.random.default_rng(0).normal(100, 1, size=(200, 3)),             # large, not whole
    np.random.default_rng(0).integers(0, 99, size=(200, 3)).astype(float),  # small counts
    np.eye(200)[:, :50],                                                # one-hot, dense
], ids=["normal", "large-floats", "counts-below-100", "one-hot"])
def test_valid_numeric_data_does_not_warn(X):
    y = np.random.default_rng(1).normal(size=X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdColumnWarning)
        FMRegressor(n_epochs=1, learning_rate=1e-7, random_state=0).fit(X, y)


def test_sparse_ids_predict_and_later_chunks_do_not_warn():
    df = ratings()
    X = df[["user", "item"]].to_numpy().astype(float)
    y = df.rating.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdColumnWarning)
        # sparse input is taken as already encoded
        FMRegressor(n_epochs=1, learning_rate=1e-9, random_state=0).fit(sp.csr_matrix(X), y)
    with pytest.warns(IdColumnWarning):
        model = FMRegressor(learning_rate=1e-9, random_state=0).partial_fit(X[:100], y[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdColumnWarning)
        model.partial_fit(X[100:200], y[100:200])  # warned once, on the first chunk
        model.predict(X)


def test_divergence_on_unit_scale_data_adds_no_data_hint():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    y = rng.normal(size=500)
    with pytest.raises(DivergenceError) as excinfo:
        FMRegressor(solver="sgd", learning_rate=1e4, random_state=0).fit(X, y)
    assert "learning_rate" in str(excinfo.value)
    assert "in magnitude" not in str(excinfo.value)


def test_divergence_on_large_fractional_values_says_scale_not_ids():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, size=(500, 3))
    X[:, 2] *= 300.5
    y = rng.normal(size=500)
    with pytest.raises(DivergenceError) as excinfo:
        FMRegressor(solver="sgd", random_state=0).fit(X, y)
    message = str(excinfo.value)
    top = np.abs(X).max()
    assert f"up to {top:g} in magnitude, in column 2" in message
    assert "MaxAbsScaler" in message and "ids" not in message


def test_warning_class_is_exported_lazily():
    assert rapidfm.IdColumnWarning is IdColumnWarning
    assert issubclass(IdColumnWarning, UserWarning)


# -- non-numeric columns ----------------------------------------------------------------------

@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_string_column_of_a_data_frame_is_named(cls):
    df = ratings(n=50)
    df["genre"] = np.where(df.item % 2 == 0, "comedy", "drama")
    y = df.rating > 3.5 if cls is FMClassifier else df.rating
    with pytest.raises(TypeError) as excinfo:
        cls().fit(df[["user", "genre", "item"]], y)
    message = str(excinfo.value)
    assert message.startswith("X must hold real numbers, got dtype object")
    assert "column 'genre' (index 1)" in message
    assert "'user'" not in message.split("OneHotEncoder")[0]  # numeric columns not blamed
    assert "OneHotEncoder" in message and "['genre']" in message
    assert f"{cls.__name__}(...)" in message


def test_categorical_dtype_and_object_arrays_are_named():
    df = pd.DataFrame({"x": [0.5, 1.5, 2.5], "city": pd.Categorical(["a", "b", "a"])})
    with pytest.raises(TypeError, match=r"column 'city' \(index 1\) \(e.g. 'a'\)"):
        FMRegressor().fit(df, [1.0, 2.0, 3.0])
    X = np.array([[1.0, "red", 2.0], [3.0, "blue", 4.0]], dtype=object)
    with pytest.raises(TypeError, match=r"non-numeric values in column 1 \(e.g. 'red'\)\."):
        FMRegressor().fit(X, [1.0, 2.0])


def test_string_arrays_blame_every_column_and_suggest_a_plain_encoder():
    X = np.array([["u1", "i7"], ["u2", "i9"]])
    with pytest.raises(TypeError) as excinfo:
        FMRegressor().fit(X, [1.0, 2.0])
    message = str(excinfo.value)
    assert "column 0 (e.g. 'u1'), column 1 (e.g. 'i7')" in message
    assert "make_pipeline(OneHotEncoder(handle_unknown='ignore'), FMRegressor(...))" in message


def test_missing_values_and_numbers_held_as_objects():
    X = np.array([[1.0, None], [2.0, 3.0]], dtype=object)
    with pytest.raises(TypeError, match=r"column 1 \(e.g. None\).*SimpleImputer"):
        FMRegressor().fit(X, [1.0, 2.0])
    X = np.array([[1.0, 2], [2.0, 3]], dtype=object)
    with pytest.raises(TypeError, match=r"every value is a number.*X.astype\(float\)"):
        FMRegressor().fit(X, [1.0, 2.0])


def test_predict_names_the_non_numeric_column_too():
    df = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [0.3, 0.1, 0.2]})
    model = FMRegressor(n_epochs=1, random_state=0).fit(df, [1.0, 2.0, 3.0])
    bad = df.assign(b=["x", "y", "z"])
    with pytest.raises(TypeError, match=r"column 'b' \(index 1\)"):
        model.predict(bad)
