"""FieldEncoder: a table of categorical and numeric columns -> (X, feature_fields).

Field-aware models need, for every column (feature) of the sparse input X, the
id of its field. For tabular data the natural fields are the input columns: a
categorical column ``city`` becomes one one-hot feature per category (``city=Paris``,
``city=Rome``, ...), all in the field of ``city``; a numeric column ``age`` becomes
one feature holding the value, in a field of its own. One call gives both::

    from rapidfm import FieldEncoder, encode_frame
    X, feature_fields, encoder = encode_frame(frame)        # frame: a pandas DataFrame
    encoder.get_feature_names_out()   # ['city=Paris', 'city=Rome', 'age', ...]
    X_new = encoder.transform(new_frame)                     # same columns, same fields

The same output serves every model of the package:

- FM (the fields are ignored): ``rapidfm.FMClassifier().fit(X, y)``;
- FFM: ``rapidfm.FFMClassifier(feature_fields=feature_fields).fit(X, y)``, or
  ``FFMClassifier().fit(X, y, fields=feature_fields)`` (per-column fields);
- later field-based deep models (one embedding table per field) take the same pair.

In a pipeline the encoder is a plain scikit-learn transformer::

    make_pipeline(FieldEncoder(min_frequency=5), rapidfm.FMClassifier()).fit(frame, y)

Conventions (each one documented on FieldEncoder):

- one field per encoded input column, in the order of the input columns; the
  output columns are laid out field by field, so ``feature_fields_`` is
  non-decreasing; fields are numbered 0 .. n_fields_ - 1;
- the one-hot encoding is scikit-learn's OneHotEncoder (sparse output), one per
  categorical column, so min_frequency / max_categories and the "infrequent"
  feature behave exactly as there;
- a missing value (None, NaN, pandas.NA, NaT) in a categorical column is a
  category of its own (``city=nan``) when fit saw it; at transform time a
  missing value fit did not see is an unseen category;
- a category unseen at fit gets no entry in that row (handle_unknown="ignore",
  the default), the infrequent feature ("infrequent"), or a ValueError ("error");
- NaN in a numeric column raises a ValueError naming the column and the row,
  unless missing="zero": the value is then absent (no entry, as a value of 0);
  an infinite value always raises;
- a numeric value of 0 is no entry (X is sparse), which an FM or FFM cannot
  tell apart from an explicit 0.

scikit-learn is needed for categorical columns only, and pandas only to pass a
DataFrame; both are imported on first use, never by ``import rapidfm``.
"""

import numbers
import sys
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from rapidfm import _sklearn_compat
from rapidfm._sklearn_compat import BaseEstimator, NotFittedError
from rapidfm._validation import check_dtype

if _sklearn_compat.HAVE_SKLEARN:
    from sklearn.base import TransformerMixin
else:
    class TransformerMixin:
        """fit_transform for the stand-in estimators (scikit-learn absent)."""

        def fit_transform(self, X, y=None, **fit_params):
            return self.fit(X, y, **fit_params).transform(X)


INFREQUENT = "<infrequent>"  # the category part of an infrequent feature's name
_HANDLE_UNKNOWN = {"ignore": "ignore", "infrequent": "infrequent_if_exist", "error": "error"}
_MISSING = ("error", "zero")
_CATEGORICAL_KINDS = "OSUb"  # object (also category, string, period), bytes, str, bool


def _one_hot_encoder(**params):
    try:
        from sklearn.preprocessing import OneHotEncoder
    except ImportError as exc:
        raise ImportError(
            "FieldEncoder one-hot encodes categorical columns with scikit-learn's "
            "OneHotEncoder, and scikit-learn is not installed: pip install scikit-learn "
            "(numeric columns alone need no scikit-learn)") from exc
    return OneHotEncoder(sparse_output=True, feature_name_combiner=_combine_name, **params)


def _combine_name(feature, category):
    """OneHotEncoder's feature_name_combiner: 'city=Paris' (a module-level function,
    so that a fitted encoder pickles)."""
    return f"{feature}={category}"


def _is_missing(values):
    """Boolean mask of the missing entries (None, NaN, pandas.NA, NaT) of a 1-D object array."""
    pandas = sys.modules.get("pandas")  # never imports pandas
    if pandas is not None:
        return np.asarray(pandas.isna(values), dtype=bool)
    mask = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None:
            mask[i] = True
            continue
        try:
            mask[i] = bool(v != v)  # NaN, NaT
        except (TypeError, ValueError):  # pandas.NA's truth value is ambiguous
            mask[i] = True
    return mask


def _is_series(column):
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(column, pandas.Series)


class _Table:
    """The columns of X, whatever its form: a pandas DataFrame, a mapping
    {name: column}, a list of rows, or a 2-D array (columns on axis 1)."""

    def __init__(self, X):
        self.frame = None
        pandas = sys.modules.get("pandas")
        if sp.issparse(X):
            raise TypeError(
                "FieldEncoder encodes raw columns (a DataFrame, a 2-D array, a list of "
                "columns); X is already a sparse matrix: pass it to the model directly, "
                "with its own feature_fields")
        if pandas is not None and isinstance(X, pandas.DataFrame):
            self.frame = X
            self.names = list(X.columns)
            self.n_columns = X.shape[1]
            self.n_rows = X.shape[0]
            self._columns = None
        elif isinstance(X, Mapping):
            self.names = list(X)
            self._columns = [self._as_column(X[name], repr(name)) for name in self.names]
        elif isinstance(X, (list, tuple)):
            # a list is a list of rows, as everywhere in scikit-learn; a column whose
            # values are all numbers is numeric, any other categorical
            try:
                listed = [list(row) for row in X]
                width = len(listed[0]) if listed else 0
                if any(len(row) != width for row in listed):
                    raise ValueError
                rows = np.empty((len(listed), width), dtype=object)
                rows[:] = listed
            except (TypeError, ValueError):
                raise ValueError("X as a list must be a list of rows of equal length "
                                 "(as in scikit-learn); pass columns as a dict "
                                 "{name: column}") from None
            self.names = None
            self._columns = [self._list_column(rows[:, j]) for j in range(rows.shape[1])]
            self.n_rows = rows.shape[0]
        else:
            if pandas is not None and isinstance(X, pandas.Series):
                raise ValueError("FieldEncoder takes a table of columns; X is one Series: "
                                 "pass series.to_frame()")
            array = np.asarray(X)
            if array.ndim != 2:
                raise ValueError(
                    f"FieldEncoder expects a 2-D array (rows x columns), a DataFrame or a "
                    f"list of columns; got an array of shape {array.shape}. Reshape your "
                    "data: array.reshape(-1, 1) for one column")
            self.names = None
            self._columns = [array[:, j] for j in range(array.shape[1])]
            self.n_rows = array.shape[0]
        if self._columns is not None:
            self.n_columns = len(self._columns)
            lengths = {len(c) for c in self._columns}
            if len(lengths) > 1:
                raise ValueError(f"the columns of X differ in length: {sorted(lengths)}")
            if lengths:
                self.n_rows = lengths.pop()
            elif not hasattr(self, "n_rows"):
                self.n_rows = 0
        if self.names is not None:
            seen = set()
            duplicates = [n for n in self.names if n in seen or seen.add(n)]
            if duplicates:
                raise ValueError(f"X has duplicate column names: {duplicates}")

    @staticmethod
    def _list_column(values):
        numbers = all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                      for v in values)
        return values.astype(np.float64) if numbers and values.size else values

    @staticmethod
    def _as_column(column, where):
        if _is_series(column):
            return column
        array = np.asarray(column)
        if array.ndim != 1:
            raise ValueError(f"the column at {where} is not 1-D (shape {array.shape})")
        return array

    def column(self, j):
        return self.frame.iloc[:, j] if self.frame is not None else self._columns[j]

    def is_categorical_dtype(self, j):
        return getattr(self.column(j).dtype, "kind", "O") in _CATEGORICAL_KINDS

    def row(self, i):
        """'row 3' (the position), with the index label of a DataFrame where it differs."""
        if self.frame is not None:
            label = self.frame.index[i]
            if not (isinstance(label, numbers.Integral) and label == i):
                return f"row {i} (index {label!r})"
        return f"row {i}"


def _categorical_values(column):
    """A 1-D object array of the column's values, every missing value as float NaN."""
    if _is_series(column):
        values = column.to_numpy(dtype=object)
    else:
        values = np.asarray(column, dtype=object)
    mask = _is_missing(values)
    if mask.any():
        values = values.copy()  # to_numpy and asarray may return the caller's own array
        values[mask] = np.nan
    return values


def _numeric_values(column, name):
    """The column as float64 (missing values as NaN), or a ValueError naming it."""
    kind = getattr(column.dtype, "kind", "O")
    hint = "list it in categorical=[...] or convert it before encoding"
    if kind in "mM":
        raise ValueError(f"column {name!r} holds dates or durations ({column.dtype}), which "
                         f"FieldEncoder does not encode: {hint}")
    if kind == "c":
        raise ValueError(f"Complex data not supported: column {name!r} holds complex "
                         f"numbers: {hint}")
    try:
        if _is_series(column):
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
        if kind == "O":
            column = np.asarray(column, dtype=object).copy()
            column[_is_missing(column)] = np.nan
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} is encoded as numeric but holds values that are "
                         f"not numbers ({exc}): {hint}") from exc


class FieldEncoder(TransformerMixin, BaseEstimator):
    """Encode categorical and numeric columns into a sparse X with one field per column.

    Categorical columns are one-hot encoded (scikit-learn's OneHotEncoder, sparse
    output), one feature per category; numeric columns give one feature each,
    holding the value. Every encoded input column is one field: feature_fields_[j]
    is the field of output column j, and the output columns are ordered field by
    field (in the order of the input columns), so feature_fields_ is non-decreasing.

    Parameters
    ----------
    categorical : "auto" or list of columns, default="auto"
        The columns to one-hot encode, by name (a DataFrame's or a mapping's labels) or
        by position. "auto": with numeric="auto", the columns of dtype object, category,
        string or bool; with a list for numeric, every column not in it.
    numeric : "auto" or list of columns, default="auto"
        The columns encoded as their value. "auto": the columns not categorical. When
        both are lists they must not overlap, and the columns in neither are dropped.
    min_frequency : int, float or None, default=None
        OneHotEncoder's: categories seen fewer times at fit (or a smaller fraction of
        the rows, for a float) share their column's infrequent feature ("city=<infrequent>").
    max_categories : int or None, default=None
        OneHotEncoder's: at most this many features per categorical column, the
        infrequent feature included.
    handle_unknown : {"ignore", "infrequent", "error"}, default="ignore"
        A category not seen at fit (a missing value included, when fit saw none in that
        column): "ignore" gives its field no entry in that row; "infrequent" maps it to
        the column's infrequent feature (needs min_frequency or max_categories; a column
        that has no infrequent category then leaves the field empty, as "ignore");
        "error" raises a ValueError naming the column.
    missing : {"error", "zero"}, default="error"
        NaN (or pandas.NA) in a numeric column: "error" raises a ValueError naming the
        column and the row; "zero" takes the value as absent (no entry, as a value of
        0). Missing values in categorical columns are always a category of their own
        (named "<column>=nan"). An infinite value always raises.
    dtype : float32 or float64, default=np.float32
        The dtype of the values of the output matrix.

    Attributes
    ----------
    feature_fields_ : ndarray of int32, shape (n_output_features,)
        The field of every output column.
    n_fields_ : int
        Number of fields (encoded input columns).
    field_names_ : ndarray of object, shape (n_fields_,)
        The input column of every field: its label, or "x<position>" for unnamed columns.
    field_kinds_ : ndarray of str, shape (n_fields_,)
        "categorical" or "numeric", for every field.
    encoders_ : list of length n_fields_
        The fitted OneHotEncoder of every categorical field, None for a numeric one.
    n_features_in_ : int
        Number of input columns seen at fit (dropped ones included).
    feature_names_in_ : ndarray of object
        The input column names, when all are strings (as scikit-learn's).

    Notes
    -----
    X may be a pandas DataFrame, a mapping {name: column}, a list of rows (as in
    scikit-learn: a column of numbers is numeric, any other categorical),
    or a 2-D array (one dtype for all its columns: an object array is all
    categorical under "auto"). At transform time a table with names must have
    every encoded column, and no column fit did not see (the order may differ:
    columns are taken by name); a table without names must have the fitted
    number of columns, taken by position. Categories are those seen at fit, sorted
    (a pandas category dtype's unused categories are not features).
    """

    def __init__(self, categorical="auto", numeric="auto", min_frequency=None,
                 max_categories=None, handle_unknown="ignore", missing="error",
                 dtype=np.float32):
        self.categorical = categorical
        self.numeric = numeric
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.handle_unknown = handle_unknown
        self.missing = missing
        self.dtype = dtype

    if _sklearn_compat.HAVE_SKLEARN:
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.categorical = True
            tags.input_tags.string = True
            if tags.transformer_tags is not None:
                tags.transformer_tags.preserves_dtype = []  # the output has the dtype param
            return tags

        def _more_tags(self):  # scikit-learn < 1.6
            return {"X_types": ["2darray", "categorical", "string"], "preserves_dtype": []}

    # -- parameters -------------------------------------------------------------------
    def _check_params(self):
        if self.handle_unknown not in _HANDLE_UNKNOWN:
            raise ValueError(f"handle_unknown must be one of {sorted(_HANDLE_UNKNOWN)}, "
                             f"got {self.handle_unknown!r}")
        if (self.handle_unknown == "infrequent" and self.min_frequency is None
                and self.max_categories is None):
            raise ValueError("handle_unknown='infrequent' maps unseen categories to the "
                             "infrequent feature, which exists only with min_frequency or "
                             "max_categories: set one of them, or use handle_unknown='ignore'")
        if self.missing not in _MISSING:
            raise ValueError(f"missing must be one of {list(_MISSING)}, got {self.missing!r}")
        return check_dtype(self.dtype)

    @staticmethod
    def _positions(spec, param, table):
        if isinstance(spec, str) or not hasattr(spec, "__iter__"):
            raise ValueError(f"{param} must be 'auto' or a list of column names or positions, "
                             f"got {spec!r}")
        positions = []
        for item in spec:
            if table.names is not None and _hashable(item) and item in table.names:
                j = table.names.index(item)
            elif isinstance(item, numbers.Integral) and not isinstance(item, bool) \
                    and 0 <= item < table.n_columns:
                j = int(item)
            else:
                known = table.names if table.names is not None \
                    else f"positions 0..{table.n_columns - 1}"
                raise ValueError(f"{param}: X has no column {item!r} (its columns: {known})")
            if j not in positions:
                positions.append(j)
        return positions

    def _select(self, table):
        """(positions of the fields, kinds) in input-column order."""
        auto_cat, auto_num = (isinstance(s, str) and s == "auto"
                              for s in (self.categorical, self.numeric))
        everything = range(table.n_columns)
        if auto_cat and auto_num:
            categorical = [j for j in everything if table.is_categorical_dtype(j)]
            numeric = [j for j in everything if j not in categorical]
        elif auto_num:
            categorical = self._positions(self.categorical, "categorical", table)
            numeric = [j for j in everything if j not in categorical]
        elif auto_cat:
            numeric = self._positions(self.numeric, "numeric", table)
            categorical = [j for j in everything if j not in numeric]
        else:
            categorical = self._positions(self.categorical, "categorical", table)
            numeric = self._positions(self.numeric, "numeric", table)
            both = [self._name(table, j) for j in categorical if j in numeric]
            if both:
                raise ValueError(f"columns {both} are listed both as categorical and numeric")
        positions = sorted(categorical + numeric)
        if not positions:
            raise ValueError(
                f"FieldEncoder has no column to encode: X has {table.n_columns} column(s) and "
                f"categorical and numeric list none (found 0 feature(s) (shape=({table.n_rows}, "
                "0)) while a minimum of 1 is required.)")
        kinds = ["categorical" if j in categorical else "numeric" for j in positions]
        return positions, kinds

    @staticmethod
    def _name(table, j):
        return table.names[j] if table.names is not None else f"x{j}"

    # -- fit / transform --------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn the fields, the categories of every categorical column and the layout.

        y is ignored (present for pipelines).
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """fit(X), then transform(X), in one pass over the columns."""
        return self._fit(X)

    def _fit(self, X):
        dtype = self._check_params()
        table = _Table(X)
        if table.n_rows == 0:
            raise ValueError(f"FieldEncoder cannot fit on 0 rows (found array with 0 sample(s) "
                             f"(shape=(0, {table.n_columns})) while a minimum of 1 is required)")
        positions, kinds = self._select(table)
        names = [self._name(table, j) for j in positions]
        encoders, blocks = [], []
        for j, name, kind in zip(positions, names, kinds):
            if kind == "numeric":
                encoders.append(None)
                blocks.append(self._numeric_block(table, j, name, dtype))
                continue
            encoder = _one_hot_encoder(
                handle_unknown=_HANDLE_UNKNOWN[self.handle_unknown], dtype=dtype,
                min_frequency=self.min_frequency, max_categories=self.max_categories)
            values = _categorical_values(table.column(j)).reshape(-1, 1)
            try:
                blocks.append(encoder.fit_transform(values))
            except TypeError as exc:  # mixed types, e.g. numbers and strings
                raise ValueError(
                    f"column {name!r} cannot be one-hot encoded: {exc} (convert it, e.g. "
                    "frame[column].astype(str))") from exc
            encoders.append(encoder)

        self.n_features_in_ = table.n_columns
        if table.names is not None and all(isinstance(n, str) for n in table.names):
            self.feature_names_in_ = np.asarray(table.names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._fit_names_ = list(table.names) if table.names is not None else None
        self._positions_ = positions
        self.field_names_ = np.asarray(names, dtype=object)
        self.field_kinds_ = np.asarray(kinds, dtype=str)
        self.encoders_ = encoders
        self.n_fields_ = len(positions)
        self.feature_fields_ = np.concatenate(
            [np.full(block.shape[1], f, dtype=np.int32) for f, block in enumerate(blocks)])
        self._feature_names_out = self._feature_names(names)
        return self._stack(blocks, table.n_rows, dtype)

    def transform(self, X):
        """The sparse CSR matrix of X (n_rows, len(feature_fields_)), of the fitted dtype."""
        self._check_fitted()
        dtype = check_dtype(self.dtype)
        table = _Table(X)
        positions = self._transform_positions(table)
        blocks = []
        for j, name, encoder in zip(positions, self.field_names_, self.encoders_):
            if encoder is None:
                blocks.append(self._numeric_block(table, j, name, dtype))
                continue
            values = _categorical_values(table.column(j)).reshape(-1, 1)
            try:
                blocks.append(encoder.transform(values))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"column {name!r}: {exc}") from exc
        return self._stack(blocks, table.n_rows, dtype)

    def _transform_positions(self, table):
        if table.names is not None and self._fit_names_ is not None:
            missing = [n for n in self.field_names_ if n not in table.names]
            if missing:
                raise ValueError(f"X lacks column(s) {missing} that FieldEncoder was fitted "
                                 f"with (fitted columns: {self._fit_names_})")
            extra = [n for n in table.names if n not in self._fit_names_]
            if extra:
                raise ValueError(f"X has column(s) {extra} that FieldEncoder did not see at "
                                 f"fit (fitted columns: {self._fit_names_})")
            return [table.names.index(n) for n in self.field_names_]
        if table.n_columns != self.n_features_in_:
            raise ValueError(f"X has {table.n_columns} features, but FieldEncoder is expecting "
                             f"{self.n_features_in_} features as input (columns are taken by "
                             "position where X or the fitted data has no column names)")
        return self._positions_

    def _numeric_block(self, table, j, name, dtype):
        values = _numeric_values(table.column(j), name)
        nan = np.isnan(values)
        infinite = np.isinf(values)
        if infinite.any():
            raise ValueError(f"numeric column {name!r} holds an infinite value at "
                             f"{table.row(int(np.flatnonzero(infinite)[0]))}")
        if nan.any():
            if self.missing == "error":
                raise ValueError(
                    f"numeric column {name!r} holds NaN at "
                    f"{table.row(int(np.flatnonzero(nan)[0]))} ({int(nan.sum())} missing "
                    "value(s)): fill them, or pass missing='zero' to leave the field out of "
                    "those rows")
            values = np.where(nan, 0.0, values)
        rows = np.flatnonzero(values)
        return sp.csr_matrix(
            (values[rows].astype(dtype), (rows, np.zeros(len(rows), dtype=np.int64))),
            shape=(len(values), 1), dtype=dtype)

    @staticmethod
    def _stack(blocks, n_rows, dtype):
        X = sp.hstack(blocks, format="csr", dtype=dtype) if blocks \
            else sp.csr_matrix((n_rows, 0), dtype=dtype)
        X.sort_indices()
        return X

    def _check_fitted(self):
        if not hasattr(self, "feature_fields_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. "
                                 "Call 'fit' with appropriate arguments before using it.")

    # -- names ------------------------------------------------------------------------
    def _feature_names(self, field_names):
        names = []
        for name, encoder in zip(field_names, self.encoders_):
            if encoder is None:
                names.append(str(name))
                continue
            out = [str(n) for n in encoder.get_feature_names_out([str(name)])]
            infrequent = getattr(encoder, "infrequent_categories_", [None])[0]
            if infrequent is not None:  # OneHotEncoder puts it last
                out[-1] = f"{name}={INFREQUENT}"
            names.extend(out)
        return np.asarray(names, dtype=object)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: "city=Paris" for a category, "city=<infrequent>" for the
        infrequent feature, "city=nan" for missing values, "age" for a numeric column.

        input_features, when given, renames the input columns (length n_features_in_; it
        must equal feature_names_in_ where that is set).
        """
        self._check_fitted()
        if input_features is None:
            return self._feature_names_out.copy()
        input_features = list(input_features)
        if len(input_features) != self.n_features_in_:
            raise ValueError(f"input_features has {len(input_features)} names, but "
                             f"FieldEncoder was fitted with {self.n_features_in_} columns")
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and list(fitted) != input_features:
            raise ValueError("input_features is not equal to feature_names_in_")
        return self._feature_names([input_features[j] for j in self._positions_])


def _hashable(item):
    try:
        hash(item)
    except TypeError:
        return False
    return True


def encode_frame(frame, **params):
    """(X, feature_fields, encoder): FieldEncoder(**params).fit_transform(frame), its
    feature_fields_ and the fitted encoder (to transform new rows alike).

    X is a scipy.sparse CSR matrix; feature_fields (int32, one per column of X) is what
    FFMClassifier(feature_fields=...) or fit(X, y, fields=...) takes; an FM ignores it.
    """
    encoder = FieldEncoder(**params)
    X = encoder.fit_transform(frame)
    return X, encoder.feature_fields_.copy(), encoder


__all__ = ["INFREQUENT", "FieldEncoder", "encode_frame"]
