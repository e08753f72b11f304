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

from rapidfm import _core
from rapidfm._sklearn_compat import DataConversionWarning

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


def as_csr(X, dtype, n_features=None, name="X", owner="the model", hint=""):
    """X as a validated CSR matrix of `dtype` (no copy when X already fits).

    n_features: the number of columns X must have (a fitted model's); `owner`
    names the estimator and `hint` is appended to that error message.
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
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
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
            DataConversionWarning,
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
