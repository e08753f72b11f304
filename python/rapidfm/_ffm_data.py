"""The rows of a field-aware FM: X with the field of every stored value, validated.

Fields reach the model in one of two forms:
- per stored value: an int array aligned with the CSR indices of X (what
  rapidfm.io.load_libffm returns), so one feature may sit under two fields;
- per column: an int array of length n_features (the estimators' ``feature_fields``,
  or what rapidfm.FieldEncoder gives), the same for every row.

A row is a sparse vector over (feature, field) keys. Repeats of one key in a row
are summed, as FM sums repeated features (scipy's convention for CSR); one feature
under two fields stays two entries. The kernel takes one int32 field per stored
value, so per-column fields are expanded here.
"""

import numpy as np
import scipy.sparse as sp

from rapidfm import _core
from rapidfm._validation import as_csr

__all__ = ["FieldRows", "check_feature_fields", "ffm_rows"]


class FieldRows:
    """indptr, indices, data (None: all ones) and int32 fields of validated FFM rows."""

    __slots__ = ("indptr", "indices", "data", "fields", "n_features", "column_fields")

    def __init__(self, indptr, indices, data, fields, n_features, column_fields=None):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.fields, self.n_features = fields, n_features
        # the per-column fields the rows were given, or None for per-value fields
        self.column_fields = column_fields


def _as_int_array(values, name):
    try:
        arr = np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "b":
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer field ids, got dtype {arr.dtype}")
    return arr


def check_feature_fields(feature_fields, n_features=None, n_fields=None,
                         name="feature_fields"):
    """feature_fields as an int32 array of field ids in [0, n_fields), one per column."""
    arr = _as_int_array(feature_fields, name)
    if n_features is not None and arr.size != n_features:
        raise ValueError(f"{name} must have one field id per column of X ({n_features}), "
                         f"got {arr.size}")
    _check_range(arr, n_fields, name, lambda p: f"column {p}")
    return arr.astype(np.int32)


def _check_range(arr, n_fields, name, where):
    if not arr.size:
        return
    low = int(arr.min())
    if low < 0:
        p = int(np.argmax(arr < 0))
        raise ValueError(f"{name} holds the negative field id {int(arr[p])} at {where(p)}: "
                         "fields are numbered from 0")
    if n_fields is not None and int(arr.max()) >= n_fields:
        p = int(np.argmax(arr >= n_fields))
        raise ValueError(f"{name} holds the field id {int(arr[p])} at {where(p)}, but the "
                         f"model has {n_fields} fields (ids 0..{n_fields - 1})")
    if int(arr.max()) >= np.iinfo(np.int32).max:
        raise ValueError(f"{name} holds the field id {int(arr.max())}: too large")


def _raw_csr(X, name):
    """(CSR matrix of X with repeated indices kept, order): sparse input as stored, not
    summed; order maps the CSR's entries to X's stored values (None: the same order;
    the format's name when converted in an order per-value fields cannot follow).
    (None, None) for dense X."""
    if sp.issparse(X):
        if X.format == "csr":
            return X, None
        if X.format == "coo":
            # tocsr would sum repeats of a column, which here may be two fields; the
            # entries (and so the per-value fields) move to row order
            order = np.lexsort((X.col, X.row))
            indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
            np.cumsum(np.bincount(X.row, minlength=X.shape[0]), out=indptr[1:])
            return sp.csr_matrix((X.data[order], X.col[order], indptr), shape=X.shape), order
        return X.tocsr(), X.format  # per-value fields cannot follow this conversion
    return None, None


def _canonical_as_given(raw, data, indices, fields, dtype, n_fields, name):
    """FieldRows of the arrays as they are when their rows are already canonical
    (strictly increasing (feature, field) keys, as load_libffm and caches write them):
    nothing is copied but what the kernel's types need, so a memory-mapped cache stays
    on disk. None when a row needs sorting or summing."""
    if indices.dtype not in (np.int32, np.int64):
        return None
    values = data if data.dtype == dtype else data.astype(dtype)
    indptr = np.ascontiguousarray(raw.indptr, dtype=np.int64)
    fields = np.ascontiguousarray(fields, dtype=np.int32)
    indices = np.ascontiguousarray(indices)
    values = np.ascontiguousarray(values)
    status, row, position, column = _core.check_ffm_rows(indptr, indices, fields, values,
                                                         raw.shape[1], n_fields)
    if status in (_core.CSR_UNSORTED, _core.CSR_DUPLICATE):
        return None
    if status == _core.CSR_NONFINITE:
        raise ValueError(f"{name} contains NaN or infinity ({name} row {row}, column "
                         f"{column})")
    if status != 0:
        raise ValueError(f"{name}: {_core.strerror(status)} at {name} row {row}")
    return FieldRows(indptr, indices, values, fields, raw.shape[1])


def _row_of(indptr, position):
    return int(np.searchsorted(indptr, position, side="right") - 1)


def ffm_rows(X, fields, dtype, *, feature_fields=None, n_features=None, n_fields=None,
             name="X", owner="the model"):
    """(FieldRows, n_fields) of X and its fields.

    fields: per stored value (sparse X only: aligned with the CSR indices as stored),
    per column (length n_features), or None to use feature_fields (per column).
    n_features / n_fields: a fitted model's sizes (checked), or None at fit (n_fields
    is then the largest field id + 1).
    """
    raw, order = _raw_csr(X, name)
    nnz = int(raw.indptr[-1]) if raw is not None else None
    if fields is None and feature_fields is None:
        raise ValueError(
            f"{owner} needs the field of every value of {name}: pass fields= (one per stored "
            "value of a sparse X, as rapidfm.io.load_libffm returns, or one per column) or "
            "set feature_fields (one per column); rapidfm.FieldEncoder turns a DataFrame "
            "into (X, feature_fields)")
    per_column = None
    per_value = None
    if fields is not None:
        arr = _as_int_array(fields, "fields")
        width = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
        if raw is not None and arr.size == nnz and arr.size == width and nnz > 0:
            raise ValueError(
                f"fields has {arr.size} entries, which is both the number of stored values "
                f"and of columns of {name}: ambiguous. Pass per-column fields as the "
                "estimator's feature_fields, or per-value fields for a matrix whose count of "
                "stored values differs from its width")
        if raw is not None and arr.size == nnz:
            if isinstance(order, str):
                raise TypeError(
                    f"{name} is a {order.upper()} matrix: per-value fields follow the stored "
                    "order of a CSR or COO matrix; convert X to CSR (and the fields with "
                    "it) or give per-column fields")
            per_value = arr if order is None else arr[order]
        elif width is not None and arr.size == width:
            per_column = arr
        else:
            stored = f"{nnz} stored values or " if raw is not None else ""
            raise ValueError(
                f"fields must have one entry per stored value or per column of {name} "
                f"({stored}{width} columns), got {arr.size}")
    else:
        per_column = _as_int_array(feature_fields, "feature_fields")

    if per_value is None:
        # per-column fields: X goes through the FM's validation (canonical CSR)
        indptr, indices, data, n_cols = as_csr(X, dtype, n_features=n_features, name=name,
                                               owner=owner)
        column_fields = check_feature_fields(per_column, n_cols, n_fields,
                                             "fields" if fields is not None else
                                             "feature_fields")
        n_fields = n_fields if n_fields is not None else (
            int(column_fields.max()) + 1 if column_fields.size else 1)
        row_fields = column_fields[indices]
        return FieldRows(indptr, indices, data, np.ascontiguousarray(row_fields, np.int32),
                         n_cols, column_fields), n_fields

    # per-value fields: validate X's arrays, then canonicalise by (feature, field) key
    n_rows, n_cols = raw.shape
    _check_range(per_value, n_fields, "fields",
                 lambda p: f"stored value {p} (row {_row_of(raw.indptr, p)})")
    if n_fields is None:
        n_fields = int(per_value.max()) + 1 if per_value.size else 1
    # the FM validation (dtype, finite values, canonical rows) over (feature, field) keys
    data = np.asarray(raw.data[:nnz])
    indices = np.asarray(raw.indices[:nnz])
    if nnz and (indices.min() < 0 or indices.max() >= n_cols):
        p = int(np.argmax((indices < 0) | (indices >= n_cols)))
        raise ValueError(f"{name} has the column index {int(indices[p])} at row "
                         f"{_row_of(raw.indptr, p)}, outside [0, {n_cols})")
    if n_features is not None and n_cols != n_features:
        raise ValueError(f"{name} has {n_cols} features, but {owner} is expecting "
                         f"{n_features} features as input")
    rows = _canonical_as_given(raw, data, indices, per_value, dtype, n_fields, name)
    if rows is not None:
        return rows, n_fields
    keys = indices.astype(np.int64) * np.int64(n_fields) + per_value.astype(np.int64)
    key_matrix = sp.csr_matrix((data, keys, np.asarray(raw.indptr, dtype=np.int64)),
                               shape=(n_rows, n_cols * n_fields))
    try:
        indptr, keys, data, _ = as_csr(key_matrix, dtype, name=name, owner=owner)
    except ValueError as exc:
        raise ValueError(str(exc).replace("column", "(feature, field) key")) from None
    keys = keys.astype(np.int64, copy=False)
    index_dtype = np.int32 if n_cols <= np.iinfo(np.int32).max else np.int64
    return FieldRows(indptr, (keys // n_fields).astype(index_dtype),
                     data, np.ascontiguousarray(keys % n_fields, dtype=np.int32),
                     n_cols), n_fields
