"""rapidfm.fields: FieldEncoder / encode_frame turn a table into (X, feature_fields).

The one-hot part is checked against pandas.get_dummies, the fields against explicit
expected arrays, and the scikit-learn contract (Pipeline, clone, pickle, the common
checks) as for the estimators."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402

import rapidfm  # noqa: E402
from rapidfm import FieldEncoder, encode_frame  # noqa: E402
from rapidfm.fields import INFREQUENT  # noqa: E402


def small_frame():
    return pd.DataFrame({
        "city": ["Paris", "Rome", "Paris", "Oslo", "Rome", "Paris"],
        "age": [31.0, 0.0, 45.5, 22.0, 60.0, 18.0],
        "device": ["ios", "android", "android", "web", "ios", "ios"],
        "clicks": [3, 1, 0, 7, 2, 5],
    })


def dense(X):
    assert sp.isspmatrix_csr(X) or isinstance(X, sp.csr_array)
    return X.toarray()


def reference_encoding(frame, categorical):
    """pandas.get_dummies per categorical column, the value per numeric one, in
    column order: (dense matrix, feature names, feature fields)."""
    blocks, fields = [], []
    for f, column in enumerate(frame.columns):
        if column in categorical:
            block = pd.get_dummies(frame[column], prefix=column, prefix_sep="=", dtype=float)
        else:
            block = frame[[column]].astype(float)
        blocks.append(block)
        fields += [f] * block.shape[1]
    reference = pd.concat(blocks, axis=1)
    return reference.to_numpy(), list(reference.columns), np.asarray(fields)


# -- the encoding against independent references --------------------------------------
def test_matches_get_dummies_and_explicit_fields():
    frame = small_frame()
    X, feature_fields, encoder = encode_frame(frame)
    expected, names, fields = reference_encoding(frame, {"city", "device"})
    np.testing.assert_array_equal(dense(X), expected)
    assert list(encoder.get_feature_names_out()) == names == [
        "city=Oslo", "city=Paris", "city=Rome", "age",
        "device=android", "device=ios", "device=web", "clicks"]
    np.testing.assert_array_equal(feature_fields, [0, 0, 0, 1, 2, 2, 2, 3])
    np.testing.assert_array_equal(feature_fields, fields)
    assert feature_fields.dtype == np.int32
    assert encoder.feature_fields_.dtype == np.int32
    assert encoder.n_fields_ == 4
    assert list(encoder.field_names_) == ["city", "age", "device", "clicks"]
    assert list(encoder.field_kinds_) == ["categorical", "numeric", "categorical", "numeric"]
    assert encoder.n_features_in_ == 4
    assert list(encoder.feature_names_in_) == list(frame.columns)
    assert X.shape == (6, 8) and X.dtype == np.float32
    assert X.has_sorted_indices
    assert [e is None for e in encoder.encoders_] == [False, True, False, True]


def test_fields_are_non_decreasing_and_cover_every_output_column():
    frame = small_frame().assign(flag=[True, False, True, True, False, True])
    encoder = FieldEncoder().fit(frame)
    X = encoder.transform(frame)
    assert len(encoder.feature_fields_) == X.shape[1] == len(encoder.get_feature_names_out())
    assert np.all(np.diff(encoder.feature_fields_) >= 0)
    assert set(encoder.feature_fields_) == set(range(encoder.n_fields_))
    # a categorical field has exactly one entry per row (the categories seen at fit)
    Xd = dense(X)
    for f, kind in enumerate(encoder.field_kinds_):
        if kind == "categorical":
            np.testing.assert_array_equal(Xd[:, encoder.feature_fields_ == f].sum(axis=1), 1)


def test_fit_transform_equals_fit_then_transform_and_dtype_param():
    frame = small_frame()
    a = FieldEncoder().fit_transform(frame)
    b = FieldEncoder().fit(frame).transform(frame)
    np.testing.assert_array_equal(dense(a), dense(b))
    X64 = FieldEncoder(dtype=np.float64).fit_transform(frame)
    assert X64.dtype == np.float64
    np.testing.assert_array_equal(dense(X64), dense(a))
    with pytest.raises(ValueError, match="float32 or float64"):
        FieldEncoder(dtype=np.int64).fit(frame)


def test_column_order_of_the_frame_is_the_field_order():
    frame = small_frame()[["clicks", "device", "age", "city"]]
    encoder = FieldEncoder().fit(frame)
    assert list(encoder.field_names_) == ["clicks", "device", "age", "city"]
    np.testing.assert_array_equal(encoder.feature_fields_, [0, 1, 1, 1, 2, 3, 3, 3])


# -- unseen categories ----------------------------------------------------------------
def test_unseen_category_ignore_leaves_the_field_empty_in_that_row():
    encoder = FieldEncoder().fit(small_frame())
    new = pd.DataFrame({"city": ["Lima", "Rome"], "age": [5.0, 6.0],
                        "device": ["ios", "tv"], "clicks": [1, 2]})
    Xd = dense(encoder.transform(new))
    fields = encoder.feature_fields_
    np.testing.assert_array_equal(Xd[0, fields == 0], [0, 0, 0])  # Lima: no city entry
    np.testing.assert_array_equal(Xd[1, fields == 0], [0, 0, 1])  # Rome
    np.testing.assert_array_equal(Xd[0, fields == 2], [0, 1, 0])  # ios
    np.testing.assert_array_equal(Xd[1, fields == 2], [0, 0, 0])  # tv: no device entry
    np.testing.assert_array_equal(Xd[:, fields == 1].ravel(), [5.0, 6.0])
    np.testing.assert_array_equal(Xd[:, fields == 3].ravel(), [1.0, 2.0])


def test_unseen_category_infrequent_goes_to_the_infrequent_feature():
    frame = small_frame()  # city: Paris x3, Rome x2, Oslo x1
    encoder = FieldEncoder(min_frequency=2, handle_unknown="infrequent").fit(frame)
    names = list(encoder.get_feature_names_out())
    assert names[:3] == ["city=Paris", "city=Rome", f"city={INFREQUENT}"]
    new = pd.DataFrame({"city": ["Lima", "Oslo", "Paris"], "age": [1.0, 2.0, 3.0],
                        "device": ["tv", "ios", "web"], "clicks": [0, 0, 0]})
    Xd = dense(encoder.transform(new))
    city = Xd[:, encoder.feature_fields_ == 0]
    np.testing.assert_array_equal(city, [[0, 0, 1], [0, 0, 1], [1, 0, 0]])
    # device: ios x3, android x2, web x1 -> web is infrequent, and so is the unseen tv
    assert names[4:7] == ["device=android", "device=ios", f"device={INFREQUENT}"]
    device = Xd[:, encoder.feature_fields_ == 2]
    np.testing.assert_array_equal(device, [[0, 0, 1], [0, 1, 0], [0, 0, 1]])


def test_unseen_category_infrequent_without_an_infrequent_category_is_ignored():
    frame = pd.DataFrame({"c": ["a", "a", "b", "b"]})
    encoder = FieldEncoder(min_frequency=2, handle_unknown="infrequent").fit(frame)
    assert list(encoder.get_feature_names_out()) == ["c=a", "c=b"]  # none infrequent
    np.testing.assert_array_equal(dense(encoder.transform(pd.DataFrame({"c": ["z"]}))), [[0, 0]])


def test_handle_unknown_infrequent_needs_min_frequency_or_max_categories():
    with pytest.raises(ValueError, match="min_frequency or max_categories"):
        FieldEncoder(handle_unknown="infrequent").fit(small_frame())
    FieldEncoder(handle_unknown="infrequent", max_categories=2).fit(small_frame())


def test_handle_unknown_error_names_the_column():
    encoder = FieldEncoder(handle_unknown="error").fit(small_frame())
    new = small_frame().assign(device=["ios", "ios", "tv", "ios", "ios", "ios"])
    with pytest.raises(ValueError, match=r"column 'device'.*unknown categories \['tv'\]"):
        encoder.transform(new)


@pytest.mark.parametrize("bad", ["warn", "infrequent_if_exist", None])
def test_bad_handle_unknown_and_missing(bad):
    with pytest.raises(ValueError, match="handle_unknown must be one of"):
        FieldEncoder(handle_unknown=bad).fit(small_frame())
    with pytest.raises(ValueError, match="missing must be one of"):
        FieldEncoder(missing=bad).fit(small_frame())


# -- min_frequency / max_categories ----------------------------------------------------
def test_min_frequency_rare_categories_share_one_feature():
    frame = pd.DataFrame({"c": list("aaaabbbcd"), "v": np.arange(9.0)})
    X, fields, encoder = encode_frame(frame, min_frequency=3)
    assert list(encoder.get_feature_names_out()) == ["c=a", "c=b", f"c={INFREQUENT}", "v"]
    np.testing.assert_array_equal(fields, [0, 0, 0, 1])
    counts = frame["c"].value_counts()
    expected = np.stack([
        (frame["c"] == "a").to_numpy(), (frame["c"] == "b").to_numpy(),
        frame["c"].map(counts < 3).to_numpy(), frame["v"].to_numpy()], axis=1).astype(float)
    np.testing.assert_array_equal(dense(X), expected)
    # a fraction of the rows: 0.3 * 9 = 2.7, so b (3) stays and c, d (1 each) go
    _, _, encoder = encode_frame(frame, min_frequency=0.3)
    assert list(encoder.get_feature_names_out())[:3] == ["c=a", "c=b", f"c={INFREQUENT}"]


def test_max_categories_caps_the_features_of_each_column():
    frame = pd.DataFrame({"c": list("aaaabbbcd"), "d": list("xxyyzzwwv")})
    encoder = FieldEncoder(max_categories=2).fit(frame)
    assert list(encoder.get_feature_names_out()[:2]) == ["c=a", f"c={INFREQUENT}"]
    assert np.bincount(encoder.feature_fields_).tolist() == [2, 2]


# -- numeric-only, categorical-only, other inputs ---------------------------------------
def test_numeric_only_is_the_values_one_field_each():
    values = np.array([[1.5, 0.0, -2.0], [0.0, 0.0, 3.0], [4.0, 5.0, 0.0]])
    frame = pd.DataFrame(values, columns=["a", "b", "c"])
    X, fields, encoder = encode_frame(frame)
    np.testing.assert_array_equal(dense(X), values)
    assert X.nnz == 5  # zeros are no entries
    np.testing.assert_array_equal(fields, [0, 1, 2])
    assert list(encoder.get_feature_names_out()) == ["a", "b", "c"]
    assert all(e is None for e in encoder.encoders_)


def test_categorical_only_matches_get_dummies():
    frame = small_frame()[["device", "city"]]
    X, fields, encoder = encode_frame(frame)
    expected, names, ref_fields = reference_encoding(frame, {"device", "city"})
    np.testing.assert_array_equal(dense(X), expected)
    assert list(encoder.get_feature_names_out()) == names
    np.testing.assert_array_equal(fields, ref_fields)
    np.testing.assert_array_equal(dense(X).sum(axis=1), 2)


def test_numpy_float_array_is_all_numeric_and_string_array_all_categorical():
    values = np.array([[1.0, 2.0], [3.0, 0.0]])
    encoder = FieldEncoder().fit(values)
    np.testing.assert_array_equal(dense(encoder.transform(values)), values)
    assert list(encoder.get_feature_names_out()) == ["x0", "x1"]
    assert list(encoder.field_names_) == ["x0", "x1"]
    assert not hasattr(encoder, "feature_names_in_")
    strings = np.array([["a", "u"], ["b", "u"], ["a", "v"]])
    X, fields, encoder = encode_frame(strings)
    assert list(encoder.get_feature_names_out()) == ["x0=a", "x0=b", "x1=u", "x1=v"]
    np.testing.assert_array_equal(fields, [0, 0, 1, 1])
    np.testing.assert_array_equal(dense(X), [[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1]])


def test_numpy_object_array_with_numeric_positions():
    rows = np.array([["a", 1.0, "u"], ["b", 2.5, "u"], ["a", 0.0, "v"]], dtype=object)
    encoder = FieldEncoder(numeric=[1]).fit(rows)
    assert list(encoder.get_feature_names_out()) == ["x0=a", "x0=b", "x1", "x2=u", "x2=v"]
    np.testing.assert_array_equal(encoder.feature_fields_, [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(dense(encoder.transform(rows)),
                                  [[1, 0, 1, 1, 0], [0, 1, 2.5, 1, 0], [1, 0, 0, 0, 1]])
    with pytest.raises(ValueError, match="X has 2 features, but FieldEncoder is expecting 3"):
        encoder.transform(rows[:, :2])


def test_list_of_rows_and_mapping_of_columns():
    frame = small_frame()
    expected = dense(FieldEncoder().fit_transform(frame))
    as_list = frame.to_numpy(dtype=object).tolist()  # rows, as scikit-learn reads lists
    encoder = FieldEncoder().fit(as_list)
    np.testing.assert_array_equal(dense(encoder.transform(as_list)), expected)
    assert list(encoder.field_kinds_) == ["categorical", "numeric", "categorical", "numeric"]
    as_dict = {c: list(frame[c]) for c in frame.columns}
    encoder = FieldEncoder().fit(as_dict)
    np.testing.assert_array_equal(dense(encoder.transform(as_dict)), expected)
    assert list(encoder.get_feature_names_out())[0] == "city=Oslo"
    with pytest.raises(ValueError, match="list of rows of equal length"):
        FieldEncoder().fit([["a", "b"], [1.0]])


def test_frame_fitted_encoder_takes_an_array_by_position():
    frame = small_frame()
    encoder = FieldEncoder().fit(frame)
    np.testing.assert_array_equal(dense(encoder.transform(frame.to_numpy(dtype=object))),
                                  dense(encoder.transform(frame)))


# -- missing values --------------------------------------------------------------------
def test_nan_in_a_numeric_column_raises_naming_column_and_row():
    frame = small_frame()
    frame.loc[3, "age"] = np.nan
    with pytest.raises(ValueError, match=r"numeric column 'age' holds NaN at row 3"):
        FieldEncoder().fit(frame)
    labelled = frame.set_index(pd.Index(list("abcdef")))
    with pytest.raises(ValueError, match=r"'age' holds NaN at row 3 \(index 'd'\)"):
        FieldEncoder().fit(labelled)
    encoder = FieldEncoder().fit(small_frame())
    with pytest.raises(ValueError, match=r"'age' holds NaN at row 3.*missing='zero'"):
        encoder.transform(frame)


def test_missing_zero_takes_nan_as_absent():
    frame = small_frame()
    frame.loc[3, "age"] = np.nan
    frame["clicks"] = pd.array([3, None, 0, 7, 2, 5], dtype="Int64")
    X, fields, encoder = encode_frame(frame, missing="zero")
    Xd = dense(X)
    np.testing.assert_array_equal(Xd[:, fields == 1].ravel(), [31, 0, 45.5, 0, 60, 18])
    np.testing.assert_array_equal(Xd[:, fields == 3].ravel(), [3, 0, 0, 7, 2, 5])
    assert X.nnz == 6 * 2 + 4 + 4  # two one-hot fields; 0 and NaN are no entries


def test_infinite_numeric_value_always_raises():
    frame = small_frame()
    frame.loc[2, "age"] = np.inf
    for missing in ("error", "zero"):
        with pytest.raises(ValueError, match=r"'age' holds an infinite value at row 2"):
            FieldEncoder(missing=missing).fit(frame)


def test_missing_categorical_values_are_a_category_of_their_own():
    frame = pd.DataFrame({"city": ["Paris", None, "Rome", np.nan, "Paris"],
                          "s": pd.array(["x", "y", pd.NA, "x", "y"], dtype="string")})
    before = frame.copy()
    X, fields, encoder = encode_frame(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is not modified
    assert list(encoder.get_feature_names_out()) == [
        "city=Paris", "city=Rome", "city=nan", "s=x", "s=y", "s=nan"]
    np.testing.assert_array_equal(dense(X)[:, :3], [[1, 0, 0], [0, 0, 1], [0, 1, 0],
                                                    [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(dense(X)[:, 3:], [[1, 0, 0], [0, 1, 0], [0, 0, 1],
                                                    [1, 0, 0], [0, 1, 0]])
    # None, NaN and pandas.NA at transform all map to the missing category
    new = pd.DataFrame({"city": [pd.NA, "Rome"], "s": [None, "x"]})
    np.testing.assert_array_equal(dense(encoder.transform(new)),
                                  [[0, 0, 1, 0, 0, 1], [0, 1, 0, 1, 0, 0]])


def test_missing_category_unseen_at_fit_is_an_unknown_category():
    encoder = FieldEncoder().fit(pd.DataFrame({"c": ["a", "b"]}))
    np.testing.assert_array_equal(dense(encoder.transform(pd.DataFrame({"c": [None, "b"]}))),
                                  [[0, 0], [0, 1]])
    strict = FieldEncoder(handle_unknown="error").fit(pd.DataFrame({"c": ["a", "b"]}))
    with pytest.raises(ValueError, match="column 'c'"):
        strict.transform(pd.DataFrame({"c": [None, "b"]}))


# -- dtypes ----------------------------------------------------------------------------
def test_bool_category_and_string_columns_are_categorical():
    frame = pd.DataFrame({
        "flag": [True, False, True],
        "nullable": pd.array([True, None, False], dtype="boolean"),
        "cat": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi", "unused"]),
        "s": pd.array(["u", "v", "u"], dtype="string"),
        "n": pd.array([1, 2, 3], dtype="Int64"),
    })
    encoder = FieldEncoder().fit(frame)
    assert list(encoder.field_kinds_) == ["categorical"] * 4 + ["numeric"]
    assert list(encoder.get_feature_names_out()) == [
        "flag=False", "flag=True", "nullable=False", "nullable=True", "nullable=nan",
        "cat=hi", "cat=lo", "s=u", "s=v", "n"]
    np.testing.assert_array_equal(dense(encoder.transform(frame)), [
        [0, 1, 0, 1, 0, 0, 1, 1, 0, 1],
        [1, 0, 0, 0, 1, 1, 0, 0, 1, 2],
        [0, 1, 1, 0, 0, 0, 1, 1, 0, 3]])


def test_bool_column_listed_as_numeric_is_zero_one():
    frame = pd.DataFrame({"flag": [True, False, True], "c": ["a", "b", "a"]})
    encoder = FieldEncoder(numeric=["flag"]).fit(frame)
    assert list(encoder.get_feature_names_out()) == ["flag", "c=a", "c=b"]
    np.testing.assert_array_equal(dense(encoder.transform(frame))[:, 0], [1, 0, 1])


def test_integer_column_listed_as_categorical():
    frame = pd.DataFrame({"zip": [75001, 10115, 75001], "age": [1.0, 2.0, 3.0]})
    encoder = FieldEncoder(categorical=["zip"]).fit(frame)
    assert list(encoder.get_feature_names_out()) == ["zip=10115", "zip=75001", "age"]
    np.testing.assert_array_equal(encoder.feature_fields_, [0, 0, 1])
    by_position = FieldEncoder(categorical=[0]).fit(frame)
    assert list(by_position.get_feature_names_out()) == list(encoder.get_feature_names_out())


def test_both_lists_drop_the_other_columns_and_must_not_overlap():
    frame = small_frame()
    encoder = FieldEncoder(categorical=["device"], numeric=["clicks"]).fit(frame)
    assert list(encoder.field_names_) == ["device", "clicks"]
    assert list(encoder.get_feature_names_out()) == [
        "device=android", "device=ios", "device=web", "clicks"]
    assert encoder.transform(frame).shape == (6, 4)
    assert encoder.transform(frame.drop(columns=["city", "age"])).shape == (6, 4)
    with pytest.raises(ValueError, match=r"\['device'\] are listed both"):
        FieldEncoder(categorical=["device"], numeric=["device", "age"]).fit(frame)


def test_numeric_list_makes_the_rest_categorical():
    frame = pd.DataFrame({"a": [1, 2, 1], "b": [0.5, 1.5, 2.5]})
    encoder = FieldEncoder(numeric=["b"]).fit(frame)
    assert list(encoder.get_feature_names_out()) == ["a=1", "a=2", "b"]


def test_bad_column_lists():
    frame = small_frame()
    with pytest.raises(ValueError, match="categorical: X has no column 'zip'"):
        FieldEncoder(categorical=["zip"]).fit(frame)
    with pytest.raises(ValueError, match="numeric: X has no column 9"):
        FieldEncoder(numeric=[9]).fit(frame)
    with pytest.raises(ValueError, match="categorical must be 'auto' or a list"):
        FieldEncoder(categorical="city").fit(frame)
    with pytest.raises(ValueError, match="no column to encode"):
        FieldEncoder(categorical=[], numeric=[]).fit(frame)


def test_non_numeric_values_in_a_numeric_column():
    frame = small_frame()
    with pytest.raises(ValueError, match="column 'city' is encoded as numeric"):
        FieldEncoder(numeric=["city"]).fit(frame)
    with pytest.raises(ValueError, match="column 't' holds dates"):
        FieldEncoder().fit(pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2021-01-01"])}))


def test_mixed_types_in_a_categorical_column():
    with pytest.raises(ValueError, match=r"column 'm' cannot be one-hot encoded.*astype\(str\)"):
        FieldEncoder().fit(pd.DataFrame({"m": ["a", 1, "b"]}))


# -- column checks at transform ----------------------------------------------------------
def test_missing_column_at_transform_is_named():
    encoder = FieldEncoder().fit(small_frame())
    with pytest.raises(ValueError, match=r"X lacks column\(s\) \['device'\]"):
        encoder.transform(small_frame().drop(columns="device"))


def test_other_column_at_transform_is_named():
    encoder = FieldEncoder().fit(small_frame())
    with pytest.raises(ValueError, match=r"X has column\(s\) \['zip'\] that FieldEncoder did "
                                         r"not see at fit"):
        encoder.transform(small_frame().assign(zip=1))
    renamed = small_frame().rename(columns={"age": "Age"})
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['age'\]"):
        encoder.transform(renamed)


def test_reordered_columns_are_taken_by_name():
    frame = small_frame()
    encoder = FieldEncoder().fit(frame)
    np.testing.assert_array_equal(dense(encoder.transform(frame[frame.columns[::-1]])),
                                  dense(encoder.transform(frame)))


def test_not_fitted_sparse_input_and_one_d_input():
    with pytest.raises(NotFittedError):
        FieldEncoder().transform(small_frame())
    with pytest.raises(NotFittedError):
        FieldEncoder().get_feature_names_out()
    with pytest.raises(TypeError, match="already a sparse matrix"):
        FieldEncoder().fit(sp.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="Reshape your data"):
        FieldEncoder().fit(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="one Series"):
        FieldEncoder().fit(small_frame()["city"])


def test_get_feature_names_out_with_input_features():
    encoder = FieldEncoder().fit(np.array([["a", "u"], ["b", "v"]]))
    assert list(encoder.get_feature_names_out(["k", "m"])) == ["k=a", "k=b", "m=u", "m=v"]
    with pytest.raises(ValueError, match="input_features has 1 names"):
        encoder.get_feature_names_out(["k"])
    named = FieldEncoder().fit(small_frame())
    assert list(named.get_feature_names_out(list(small_frame().columns))) == list(
        named.get_feature_names_out())
    with pytest.raises(ValueError, match="not equal to feature_names_in_"):
        named.get_feature_names_out(["a", "b", "c", "d"])


# -- the scikit-learn contract -----------------------------------------------------------
def classification_frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "city": rng.choice(["Paris", "Rome", "Oslo", "Lima"], size=n),
        "device": rng.choice(["ios", "android", "web"], size=n),
        "age": rng.uniform(0, 1, size=n),
    })
    y = ((frame["city"] == "Paris") ^ (frame["device"] == "web")).astype(int).to_numpy()
    return frame, y


def test_pipeline_with_fm_classifier():
    frame, y = classification_frame()
    pipe = Pipeline([("fields", FieldEncoder()),
                     ("fm", rapidfm.FMClassifier(n_epochs=2, random_state=0))])
    pipe.fit(frame, y)
    pred = pipe.predict(frame)
    assert pred.shape == (len(frame),) and set(pred) <= {0, 1}
    proba = pipe.predict_proba(frame.iloc[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert list(pipe[:-1].get_feature_names_out())[:2] == ["city=Lima", "city=Oslo"]
    # unseen categories go through the fitted pipeline
    new = frame.iloc[:3].assign(city=["Tokyo", "Paris", "Tokyo"])
    assert pipe.predict(new).shape == (3,)
    fitted = make_pipeline(FieldEncoder(min_frequency=5), rapidfm.FMClassifier(n_epochs=2))
    assert fitted.fit(frame, y).score(frame, y) >= 0


def test_ffm_takes_the_feature_fields():
    if "FFMClassifier" not in getattr(rapidfm, "__all__", ()):
        pytest.skip("rapidfm.FFMClassifier is not available yet")
    frame, y = classification_frame()
    X, feature_fields, _ = encode_frame(frame)
    model = rapidfm.FFMClassifier(feature_fields=feature_fields, n_epochs=2, random_state=0)
    assert model.fit(X, y).predict(X).shape == (len(frame),)


def test_clone_get_params_set_params():
    encoder = FieldEncoder(categorical=["city", "device"], min_frequency=2,
                           handle_unknown="infrequent", missing="zero", dtype=np.float64)
    params = encoder.get_params()
    assert params == {"categorical": ["city", "device"], "numeric": "auto", "min_frequency": 2,
                      "max_categories": None, "handle_unknown": "infrequent",
                      "missing": "zero", "dtype": np.float64}
    copy = clone(encoder)
    assert copy is not encoder and copy.get_params() == params
    assert copy.set_params(min_frequency=3).min_frequency == 3
    assert encoder.min_frequency == 2
    encoder.fit(small_frame())
    assert not hasattr(clone(encoder), "feature_fields_")
    # __init__ stores its arguments untouched (no validation before fit)
    odd = FieldEncoder(handle_unknown="nonsense", categorical="city")
    assert odd.handle_unknown == "nonsense" and odd.categorical == "city"


def test_pickle_a_fitted_encoder():
    frame = small_frame()
    encoder = FieldEncoder(min_frequency=2, handle_unknown="infrequent").fit(frame)
    restored = pickle.loads(pickle.dumps(encoder))
    new = frame.assign(city=["Lima", "Rome", "Paris", "Oslo", "Rome", "Paris"])
    np.testing.assert_array_equal(dense(restored.transform(new)), dense(encoder.transform(new)))
    np.testing.assert_array_equal(restored.feature_fields_, encoder.feature_fields_)
    assert list(restored.get_feature_names_out()) == list(encoder.get_feature_names_out())


def test_refit_on_other_data_forgets_the_first():
    encoder = FieldEncoder().fit(small_frame())
    encoder.fit(np.array([[1.0], [2.0]]))
    assert encoder.n_fields_ == 1 and not hasattr(encoder, "feature_names_in_")
    assert list(encoder.get_feature_names_out()) == ["x0"]


def test_scikit_learn_common_checks():
    sklearn = pytest.importorskip("sklearn")
    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 6):
        pytest.skip("check_estimator(on_fail=None) needs scikit-learn >= 1.6")
    from sklearn.utils.estimator_checks import check_estimator

    expected = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SkipTestWarning for the array API check
        results = check_estimator(FieldEncoder(), on_fail=None)
    failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
    assert set(failed) <= expected, failed


def test_exports_and_import_rapidfm_stays_light():
    assert {"FieldEncoder", "encode_frame"} <= set(rapidfm.__all__)
    assert rapidfm.FieldEncoder is FieldEncoder and rapidfm.encode_frame is encode_frame
    code = ("import sys, rapidfm\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "[]"


def test_missing_values_are_found_without_pandas(monkeypatch):
    from rapidfm import fields

    values = np.array(["a", None, np.nan, pd.NA, pd.NaT, 1, float("nan")], dtype=object)
    expected = [False, True, True, True, True, False, True]
    np.testing.assert_array_equal(fields._is_missing(values), expected)
    monkeypatch.delitem(sys.modules, "pandas")
    np.testing.assert_array_equal(fields._is_missing(values), expected)
