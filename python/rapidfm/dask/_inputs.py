"""What the Dask estimators take: dask arrays (chunks of scipy.sparse or dense rows),
dask DataFrames of numeric columns, or lists of rapidfm cache folders. This module
turns them into one (X, y, sample_weight) triple of delayed objects per row
partition, refusing what their metadata already shows to be wrong (chunks of X and y
that do not line up, X chunked along its columns) before any work is scheduled; the
rest (values, lengths, feature counts) is checked per partition on the workers."""

import os

import numpy as np


def _dask_types():
    import dask.array as da

    try:
        import dask.dataframe as dd
    except ImportError:  # dask without pandas: no DataFrames
        dd = None
    return da, dd


def _is_frame(obj, dd):
    return dd is not None and isinstance(obj, (dd.DataFrame, dd.Series))


def _is_cache_list(X):
    return (isinstance(X, (list, tuple)) and len(X) > 0
            and all(isinstance(p, (str, os.PathLike)) for p in X))


def _blocks_1d(name, values, n_partitions, row_chunks, da, dd):
    """The delayed row blocks of y or sample_weight, one per partition of X."""
    if values is None:
        return [None] * n_partitions
    if isinstance(values, da.Array):
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got a dask array of shape "
                             f"{values.shape}")
        if values.numblocks[0] != n_partitions:
            raise ValueError(f"{name} has {values.numblocks[0]} chunks along its rows but X "
                             f"has {n_partitions}: rechunk {name} to X's row chunks, e.g. "
                             f"{name}.rechunk(X.chunks[0])")
        if row_chunks is not None:
            for i, (a, b) in enumerate(zip(row_chunks, values.chunks[0])):
                if not (np.isnan(a) or np.isnan(b)) and a != b:
                    raise ValueError(f"partition {i}: X has {int(a)} rows but {name} has "
                                     f"{int(b)}: the chunks of X and {name} must line up")
        return list(values.to_delayed().ravel())
    if _is_frame(values, dd):
        if isinstance(values, dd.DataFrame):
            if len(values.columns) != 1:
                raise ValueError(f"{name} must be a dask Series or a one-column DataFrame, "
                                 f"got {len(values.columns)} columns")
            values = values[values.columns[0]]
        if values.npartitions != n_partitions:
            raise ValueError(f"{name} has {values.npartitions} partitions but X has "
                             f"{n_partitions}: they must line up")
        return list(values.to_delayed())
    raise TypeError(f"{name} must be a dask array or a dask Series like X, got "
                    f"{type(values).__name__}")


def training_partitions(X, y, sample_weight, name="X"):
    """([(x, y, w) delayed per partition], n_features or None from the metadata,
    column names or None)."""
    if _is_cache_list(X):
        if y is not None or sample_weight is not None:
            raise ValueError(f"{name} is a list of cache folders, which hold their targets: "
                             "pass y=None (and no sample_weight)")
        return [(os.fspath(p), None, None) for p in X], None, None
    da, dd = _dask_types()
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"{name} must be two-dimensional, got a dask array of shape "
                             f"{X.shape}")
        if X.numblocks[1] != 1:
            raise ValueError(f"{name} has {X.numblocks[1]} chunks along its columns: each "
                             "partition must hold whole rows. Use "
                             f"{name}.rechunk({{1: -1}})")
        n_features = None if np.isnan(X.shape[1]) else int(X.shape[1])
        parts = list(X.to_delayed().ravel())
        row_chunks = X.chunks[0]
        names = None
    elif _is_frame(X, dd):
        if isinstance(X, dd.Series):
            raise TypeError(f"{name} must be a dask DataFrame of numeric columns, not a Series")
        non_numeric = [c for c, t in X.dtypes.items() if t.kind not in "biuf"]
        if non_numeric:
            raise ValueError(f"{name} has non-numeric columns {non_numeric[:5]}: encode them "
                             "first (rapidfm.encode_frame on each partition)")
        parts = list(X.to_delayed())
        n_features, row_chunks = len(X.columns), None
        names = np.asarray([str(c) for c in X.columns], dtype=object)
    else:
        raise TypeError(
            f"{name} must be a dask array (chunks of scipy.sparse or dense rows), a dask "
            f"DataFrame or a list of rapidfm cache folders, got {type(X).__name__} (for data "
            "in memory use rapidfm.FMRegressor / FMClassifier, or dask.array.from_array)")
    if y is None:
        raise ValueError(f"y is required with a dask {name}")
    ys = _blocks_1d("y", y, len(parts), row_chunks, da, dd)
    ws = _blocks_1d("sample_weight", sample_weight, len(parts), row_chunks, da, dd)
    return list(zip(parts, ys, ws)), n_features, names


def dask_dataframe_module():
    """dask.dataframe, or None where it cannot be imported (no pandas)."""
    return _dask_types()[1]


def is_dask_array(X):
    da, _ = _dask_types()
    return isinstance(X, da.Array)


def as_dask_array(values, name):
    """A dask array of a dask array, Series or DataFrame (for score's targets)."""
    da, dd = _dask_types()
    if isinstance(values, da.Array):
        return values
    if _is_frame(values, dd):
        return values.to_dask_array()
    raise TypeError(f"{name} must be a dask array or a dask Series, got "
                    f"{type(values).__name__}")
