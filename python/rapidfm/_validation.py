"""Input validation: everything the C kernel trusts is checked here first.

The kernel indexes parameters with the CSR column indices without bounds
checks, so X reaches it only through as_csr(), which guarantees int64 row
pointers, int32/int64 column indices, data of the model's dtype, every index inside
[0, n_features), strictly increasing indices within each row (duplicates are
summed, as scipy does, on a copy) and finite values.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp

# the module, not its DataConversionWarning: that name imports scikit-learn, which
# the data readers (they validate here) do not need
from rapidfm import _core, _sklearn_compat
from rapidfm._feature_names import column_names, describe_column

_warned_serial = False


class ComplexDataError(TypeError, ValueError):
    """Complex input: a TypeError (the values are not real numbers) and, as
    scikit-learn's checks expect, a ValueError."""


def _refuse_complex(name, dtype):
    raise ComplexDataError(
        f"{name} must hold real numbers, got dtype {dtype}: Complex data not supported"
    )


def check_int_param(owner, name, low):
    """owner.name as an int >= low, or TypeError / ValueError naming the parameter."""
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_real_param(owner, name, low, strict):
    """owner.name as a finite float >= low (> low when strict), or TypeError /
    ValueError naming the parameter."""
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < low or (strict and value == low):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {low}, got {value}")
    return value


def check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def effective_n_threads(n_jobs):
    """Threads to use for n_jobs, following scikit-learn's convention.

    None means 1, -1 all cores, -2 all but one, and so on. A serial build
    (no OpenMP) runs 1 thread and warns once when more were asked for.
    """
    global _warned_serial
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}")
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive count or -1")
    cores = _core.max_threads()
    n = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    if n > 1 and not _core.openmp_enabled():
        if not _warned_serial:
            warnings.warn(
                "rapidfm was built without OpenMP: training and prediction run on 1 thread "
                f"(n_jobs={n_jobs} ignored). Rebuild with an OpenMP-capable compiler.",
                RuntimeWarning,
                stacklevel=3,
            )
            _warned_serial = True
        return 1
    return n


def _csr_problem(status, row, position, column, n_features, name):
    where = f"{name} row {row}"
    if status == _core.CSR_INDPTR:
        return ValueError(f"{name} has an invalid CSR indptr (first bad entry at row {row})")
    if status == _core.CSR_INDEX_RANGE:
        return ValueError(
            f"{where} has column index {column}, outside [0, {n_features}) "
            "(negative or too large for the number of features)"
        )
    if status == _core.CSR_NONFINITE:
        return ValueError(f"{name} contains NaN or infinity ({where}, column {column})")
    return ValueError(f"{name}: {_core.strerror(status)} at {where}")


def as_csr(X, dtype, n_features=None, name="X", owner="the model", hint="",
           check_ids=False):
    """X as a validated CSR matrix of `dtype` (no copy when X already fits).

    n_features: the number of columns X must have (a fitted model's); `owner`
    names the estimator and `hint` is appended to that error message.
    check_ids: warn (IdColumnWarning) when dense X has columns that look like
    integer ids (fit passes True; see warn_id_columns).
    Non-numeric dense X (strings, categories, objects) raises a TypeError that
    names the offending columns and suggests one-hot encoding.
    """
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got {X.ndim}-D")
        if X.format != "csr":
            X = X.tocsr()
        indptr, indices = X.indptr, X.indices
        if indices.dtype not in (np.int32, np.int64):
            indices = indices.astype(np.int64)
        data = X.data
        if np.iscomplexobj(data):
            _refuse_complex(name, data.dtype)
        if data.dtype != dtype:
            if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_) or (
                np.iscomplexobj(data)
            ):
                raise TypeError(f"{name} must hold real numbers, got dtype {data.dtype}")
            data = data.astype(dtype)
        shape = X.shape
    else:
        try:
            arr = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} could not be read as an array: {exc}") from exc
        if np.iscomplexobj(arr):
            _refuse_complex(name, arr.dtype)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ) or np.iscomplexobj(arr):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}"
                            + _non_numeric_hint(X, arr, owner))
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}. "
                "Reshape your data: reshape a single sample with X.reshape(1, -1), "
                "a single feature with X.reshape(-1, 1)"
            )
        arr = arr.astype(dtype, copy=False)
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise ValueError(f"{name} contains NaN or infinity (row {bad[0]}, column {bad[1]})")
        if check_ids and arr.ndim == 2:
            warn_id_columns(arr, column_names(X), owner)
        X = sp.csr_matrix(arr)
        indptr, indices, data = X.indptr, X.indices, X.data
        shape = X.shape

    n_rows, n_cols = shape
    shape_text = f"(shape=({n_rows}, {n_cols}))"
    if n_rows == 0:
        raise ValueError(
            f"{name} has no rows: 0 sample(s) {shape_text} while a minimum of 1 is required."
        )
    if n_cols == 0:
        raise ValueError(
            f"{name} has no columns: 0 feature(s) {shape_text} while a minimum of 1 is required."
        )
    if n_features is not None and n_cols != n_features:
        if n_cols < n_features and not hint:
            # the usual cause: a data file's width is its largest index + 1, and a test
            # file that lacks the last features reads narrower (a9a.t: 122 of 123)
            hint = (f"; a file read with rapidfm.io.load_svmlight (or scikit-learn's "
                    f"load_svmlight_file) gets the model's width with n_features={n_features}")
        raise ValueError(
            f"{name} has {n_cols} features, but {owner} is expecting {n_features} features as "
            f"input (it was fitted with {n_features} features){hint}"
        )
    # the kernel takes int64 row pointers (one per row: converting costs
    # little) and int32 or int64 column indices, used as they are: a
    # memory-mapped cache is not copied
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices)
    data = np.ascontiguousarray(data)
    if indptr.size != n_rows + 1:
        raise ValueError(f"{name} has an indptr of {indptr.size} entries for {n_rows} rows")
    if indptr[-1] > indices.size or indices.size != data.size:
        raise ValueError(f"{name} has inconsistent CSR arrays (indptr, indices, data)")

    status, row, position, column = _core.check_csr(indptr, indices, data, n_cols)
    if status in (_core.CSR_UNSORTED, _core.CSR_DUPLICATE):
        # Unsorted indices are harmless for the maths but duplicates are not
        # (x_i^2 terms); scipy's canonical form fixes both, on a copy.
        fixed = sp.csr_matrix((data.copy(), indices.copy(), indptr.copy()), shape=shape)
        fixed.has_canonical_format = False
        fixed.sum_duplicates()
        indptr = np.ascontiguousarray(fixed.indptr, dtype=np.int64)
        indices, data = fixed.indices, fixed.data
        status, row, position, column = _core.check_csr(indptr, indices, data, n_cols)
    if status != 0:
        raise _csr_problem(status, row, position, column, n_cols, name)
    return indptr, indices, data, n_cols


def values_or_none(data):
    """None when every stored value is 1 (one-hot data: the kernel then reads no values)."""
    if data is None:
        return None
    if data.size and data.min() == 1 and data.max() == 1:
        return None
    return data


def check_y(y, n_rows, numeric=True, owner="this estimator"):
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected: y of shape "
            f"{y.shape} is used as shape ({y.shape[0]},)",
            _sklearn_compat.DataConversionWarning,
            stacklevel=4,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if y.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {y.shape[0]} entries")
    if numeric:
        if np.iscomplexobj(y):
            raise ValueError(
                f"y must hold real numbers for regression, got dtype {y.dtype}: "
                "Complex data not supported"
            )
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
            raise ValueError(f"y must hold real numbers for regression, got dtype {y.dtype}")
        y = y.astype(np.float64, copy=False)  # a memory-mapped y is used as it is
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        first = int(np.argmax(~np.isfinite(y)))
        raise ValueError(f"y contains NaN or infinity (first at index {first})")
    return y


def check_sample_weight(sample_weight, n_rows):
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n_rows, float(sw))
    if sw.ndim != 1 or sw.shape[0] != n_rows:
        raise ValueError(f"sample_weight must have shape ({n_rows},), got {sw.shape}")
    if not np.isfinite(sw).all() or (sw < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if not (sw > 0).any():
        raise ValueError("sample_weight is zero everywhere: nothing to learn from")
    return np.ascontiguousarray(sw)


# -- hints for data that is numeric only in appearance ------------------------------------
#
# A factorization machine multiplies feature values: an id or category code used as a
# number (user 943 = 943 times user 1) means nothing to it, and values that large make
# SGD diverge (at the default learning_rate from about |x| = 30: the updates grow with
# x^2). Such data is valid input, so fit does not refuse it: it warns (IdColumnWarning),
# and a DivergenceError says what the data holds (large_values_hint). Non-numeric
# columns are refused with a TypeError that names them.

ID_MIN_MAGNITUDE = 100  # a dense column of whole numbers reaching this looks like ids
LARGE_VALUE = 10.0  # a DivergenceError on data with larger |values| names them

_ONE_HOT = "sklearn.preprocessing.OneHotEncoder(handle_unknown='ignore')"


class IdColumnWarning(UserWarning):
    """fit got dense columns of large whole numbers: most likely ids or category codes,
    which a factorization machine needs one-hot encoded (or, for quantities, scaled)."""


def _model_text(owner):
    return f"{owner}(...)" if owner.isidentifier() and owner[:1].isupper() else "the model"


def _pipeline_text(columns, n_cols, owner):
    model = _model_text(owner)
    if len(columns) == n_cols:
        return f"make_pipeline(OneHotEncoder(handle_unknown='ignore'), {model})"
    return ("make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown='ignore'), "
            f"{list(columns)!r}), remainder='passthrough'), {model})")


def _is_missing(value):
    if value is None:
        return True
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and value != value


def _non_numeric_hint(X, arr, owner):
    """The part of the 'must hold real numbers' message that names the non-numeric
    columns of a dense X (a data frame's or an array's) and the fix."""
    if arr.ndim != 2 or arr.shape[1] == 0 or arr.shape[0] == 0:
        return ""
    labels = column_names(X)
    n_cols = arr.shape[1]
    if arr.dtype == object:
        def is_real(v):
            return isinstance(v, (numbers.Real, np.bool_)) and not _is_missing(v)
        ok = np.frompyfunc(is_real, 1, 1)(arr).astype(bool)
        bad = [j for j in range(n_cols) if not ok[:, j].all()]
        examples = {j: arr[int(np.argmin(ok[:, j])), j] for j in bad}
    else:  # strings, bytes, dates: every column
        bad = list(range(n_cols))
        examples = {j: arr[0, j] for j in bad}
    examples = {j: v.item() if isinstance(v, np.generic) and v.dtype.kind in "USO" else v
                for j, v in examples.items()}
    if not bad:
        return (": every value is a number, but held as Python objects; convert X first, "
                "e.g. X.astype(float)")
    shown = bad[:5]
    described = ", ".join(f"{describe_column(j, labels)} (e.g. {examples[j]!r})"
                          for j in shown)
    more = f" and {len(bad) - len(shown)} more columns" if len(bad) > len(shown) else ""
    text = f": non-numeric values in {described}{more}."
    if any(_is_missing(examples[j]) for j in bad):
        text += (" Missing values (None, NA) must be filled first (e.g. "
                 "sklearn.impute.SimpleImputer) or their rows dropped.")
    if arr.dtype.kind in "Mm":
        text += " Dates and times must be turned into numbers (or categories) first."
    else:
        keys = [labels[j] if labels is not None else j for j in bad]
        text += (" Categorical columns (strings, categories, ids) need one-hot encoding, "
                 f"e.g. {_pipeline_text(keys, n_cols, owner)} with {_ONE_HOT} (and "
                 "sklearn.compose.make_column_transformer): a factorization machine then "
                 "learns a weight and a factor vector per category. "
                 "rapidfm.encode_frame(frame) does it in one call and returns (X, "
                 "feature_fields, encoder), one field per column, for FFMClassifier / "
                 "FFMRegressor(feature_fields=...) too.")
    return text


def warn_id_columns(arr, labels, owner, stacklevel=5):
    """IdColumnWarning when columns of the dense 2-D array `arr` hold only whole numbers
    and reach |value| >= ID_MIN_MAGNITUDE (user ids, item ids, category codes).

    Costs a min and a max per column, and an integrality test of those columns only.
    """
    if arr.size == 0:
        return
    high = np.maximum(np.abs(arr.min(axis=0)), np.abs(arr.max(axis=0)))
    suspects = []
    for j in np.flatnonzero(high >= ID_MIN_MAGNITUDE):
        column = arr[:, j]
        if arr.dtype.kind in "biu" or np.array_equal(column, np.rint(column)):
            suspects.append(int(j))
    if not suspects:
        return
    shown = suspects[:5]
    described = ", ".join(f"{describe_column(j, labels)} up to {high[j]:g}" for j in shown)
    more = (f" and {len(suspects) - len(shown)} more columns" if len(suspects) > len(shown)
            else "")
    keys = [labels[j] if labels is not None else j for j in suspects]
    warnings.warn(
        f"X holds only whole numbers, large ones, in {described}{more}. If these are ids "
        "or category codes (user, item, ...), a factorization machine cannot use them as "
        "numbers (user 943 would count 943 times user 1) and SGD diverges on values that "
        f"large: one-hot encode them, e.g. {_pipeline_text(keys, arr.shape[1], owner)} with "
        f"{_ONE_HOT}. If they are quantities (counts, years), scale them to about unit "
        "size (e.g. sklearn.preprocessing.MaxAbsScaler). Silence this warning with "
        "warnings.filterwarnings('ignore', category=rapidfm.IdColumnWarning).",
        IdColumnWarning,
        stacklevel=stacklevel,
    )


def large_values_hint(indices, data, labels=None):
    """For a DivergenceError: a sentence on the largest |value| of the training data
    when it exceeds LARGE_VALUE (whole numbers: probably ids to one-hot encode), else "".

    indices, data: the CSR column indices and values (data None: every value is 1).
    """
    if data is None or data.size == 0:
        return ""
    magnitude = np.abs(data)
    k = int(np.argmax(magnitude))
    top = float(magnitude[k])
    if not np.isfinite(top) or top <= LARGE_VALUE:
        return ""
    column = int(indices[k])
    values = data[indices == column]
    text = (f" X holds values up to {top:g} in magnitude, in {describe_column(column, labels)}: "
            "the updates grow with the square of the feature values, so on values this "
            "large a smaller learning_rate rarely helps.")
    if np.array_equal(values, np.rint(values)):
        text += (" Whole numbers like these are usually ids or category codes: one-hot "
                 f"encode them ({_ONE_HOT}, in a Pipeline before the model).")
    text += " Scale quantities to about unit size (e.g. sklearn.preprocessing.MaxAbsScaler)."
    return text
