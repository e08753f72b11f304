"""A binary cache of a sparse data set, opened with memory mapping.

A cache is a folder::

    header.json     format name and version, n_rows, n_features, nnz, n_fields,
                    the dtype and length of every array, and where the data came from
    indptr.npy      int64, n_rows + 1 row pointers
    indices.npy     int32 column indices (int64 when n_features >= 2**31)
    data.npy        float32 values (or float64)
    y.npy           float64 targets
    fields.npy      int32 field of every value (optional: libffm data)

Every array is a plain ``.npy`` file: ``numpy.load(..., mmap_mode="r")`` opens
it. :func:`open_cache` maps them (no read, no copy) and returns a CSR matrix whose
arrays *are* the maps, so ``fit`` trains on it without copying the data: only the
pages the kernel touches become resident, and the operating system can drop them
again, so a cache larger than memory trains (rapidfm's kernel takes int64 row
pointers and int32 indices as they are).

:func:`convert_to_cache` turns a libsvm / libFM / libffm text file into a cache a
block at a time: it never holds more than a few blocks of the file in memory.
Both writers build the cache in a temporary folder beside the target and rename it
into place, so a failed or interrupted conversion leaves no half-written cache.
"""

import json
import os
import shutil
import tempfile

import numpy as np
import scipy.sparse as sp

from rapidfm._validation import as_csr, check_dtype
from rapidfm.textfiles import DataFileError, _name, iter_parsed_blocks

__all__ = ["CacheError", "convert_to_cache", "open_cache", "save_cache"]

FORMAT = "rapidfm-cache"
VERSION = 1
_HEADER = "header.json"
_HEADER_BYTES = 128  # fixed .npy header size: rewritten in place once the length is known
_INT32_MAX = np.iinfo(np.int32).max


class CacheError(ValueError):
    """A folder that is not a complete, consistent rapidfm cache."""


# -- .npy files written as streams --------------------------------------------------------

def _npy_header(dtype, length):
    """A version 1.0 .npy header of exactly _HEADER_BYTES bytes for a 1-D array."""
    body = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": (int(length),)})
    room = _HEADER_BYTES - 10 - 1
    if len(body) > room:
        raise ValueError(f"array of {length} entries is too long for the cache header")
    text = (body + " " * (room - len(body)) + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


class _ArrayStream:
    """A 1-D .npy file appended to block by block; its length is written at close."""

    def __init__(self, path, dtype):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.length = 0
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.fh.write(_npy_header(self.dtype, 0))

    def append(self, values):
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.fh.write(memoryview(values).cast("B"))
        self.length += values.size

    def close(self):
        self.fh.seek(0)
        self.fh.write(_npy_header(self.dtype, self.length))
        self.fh.close()


def _write_array(folder, name, values):
    stream = _ArrayStream(os.path.join(folder, f"{name}.npy"), values.dtype)
    try:
        stream.append(values)
    finally:
        stream.close()


# -- the folder -------------------------------------------------------------------------

def _is_cache(path):
    return os.path.isfile(os.path.join(path, _HEADER))


def _install(tmp, path):
    """Moves the finished folder tmp to path; replaces an older cache, never anything else."""
    old = None
    if os.path.lexists(path):
        if not (os.path.isdir(path) and _is_cache(path)):
            raise FileExistsError(
                f"{path} exists and is not a rapidfm cache: choose another path or remove it")
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=f".{os.path.basename(path)}.old.")
        os.rmdir(old)
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(path, fill):
    """Runs fill(tmp_folder) -> header dict, writes the header, installs the folder."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot create the cache {path}: folder {parent} does not exist")
    if os.path.lexists(path) and not (os.path.isdir(path) and _is_cache(path)):
        # said before the work, not after converting gigabytes
        raise FileExistsError(
            f"{path} exists and is not a rapidfm cache: choose another path or remove it")
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp.")
    try:
        header = fill(tmp)
        header = {"format": FORMAT, "version": VERSION, **header}
        with open(os.path.join(tmp, _HEADER), "w") as fh:
            json.dump(header, fh, indent=1)
            fh.write("\n")
        for name in os.listdir(tmp):  # durable before the rename makes it visible
            with open(os.path.join(tmp, name), "rb") as fh:
                os.fsync(fh.fileno())
        _install(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _array_entry(values_or_stream):
    dtype = values_or_stream.dtype
    length = values_or_stream.length if isinstance(values_or_stream, _ArrayStream) \
        else values_or_stream.size
    return {"dtype": np.dtype(dtype).str, "length": int(length)}


def save_cache(X, y, path, fields=None, dtype=np.float32):
    """Write X (any sparse or dense matrix), y and optional libffm fields as a cache folder.

    X is validated as for fit (finite values, indices in range); duplicate indices in a
    row are summed unless fields are given (libffm data keep one entry per field).
    The values are stored as `dtype` (float32 by default). Returns the absolute path.
    """
    dtype = check_dtype(dtype)
    if fields is None:
        indptr, indices, data, n_features = as_csr(X, dtype, name="X")
    else:
        X = sp.csr_matrix(X)
        indptr = np.asarray(X.indptr, dtype=np.int64)
        indices, data, n_features = X.indices, np.asarray(X.data, dtype=dtype), X.shape[1]
        fields = np.asarray(fields)
        if fields.shape != (X.nnz,):
            raise ValueError(f"fields must have one entry per stored value of X ({X.nnz}), "
                             f"got shape {fields.shape}")
        if fields.size and (fields.min() < 0 or fields.max() > _INT32_MAX):
            raise ValueError("fields must be non-negative int32 numbers")
        if indices.size and (indices.min() < 0 or indices.max() >= n_features):
            raise ValueError(f"X has a column index outside [0, {n_features})")
        if not np.isfinite(data).all():
            raise ValueError("X contains NaN or infinity")
    y = np.asarray(y, dtype=np.float64)
    n_rows = indptr.size - 1
    if y.shape != (n_rows,):
        raise ValueError(f"y must have one entry per row of X ({n_rows}), got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    index_dtype = np.int32 if n_features <= _INT32_MAX else np.int64
    arrays = {"indptr": indptr.astype(np.int64, copy=False),
              "indices": indices.astype(index_dtype, copy=False),
              "data": data, "y": y}
    if fields is not None:
        arrays["fields"] = fields.astype(np.int32, copy=False)

    def fill(tmp):
        for name, values in arrays.items():
            _write_array(tmp, name, values)
        return {
            "n_rows": int(n_rows), "n_features": int(n_features), "nnz": int(indptr[-1]),
            "n_fields": None if fields is None else int(fields.max(initial=-1)) + 1,
            "arrays": {name: _array_entry(v) for name, v in arrays.items()},
            "source": "save_cache",
        }

    return _build(path, fill)


def convert_to_cache(source, path, fmt="svmlight", n_features=None, zero_based="auto",
                     dtype=np.float32, n_jobs=None, progress=None):
    """Convert a text data file (libsvm / libFM: fmt="svmlight"; libffm: fmt="libffm";
    plain, gzip or bzip2) into a cache folder, one block at a time.

    zero_based as in load_svmlight ("auto": a file without index 0 is one-based; the
    indices are then shifted once the whole file has been seen, in place in the cache).
    libffm files are zero-based. progress, if given, is called with (rows, nonzeros)
    written so far after every block. Returns the absolute path of the cache.
    """
    dtype = check_dtype(dtype)
    if fmt not in ("svmlight", "libffm"):
        raise ValueError(f"fmt must be 'svmlight' or 'libffm', got {fmt!r}")
    if zero_based not in (True, False, "auto"):
        raise ValueError(f"zero_based must be True, False or 'auto', got {zero_based!r}")
    if fmt == "libffm":
        zero_based = True
    name = _name(source)
    wide = n_features is not None and int(n_features) > _INT32_MAX

    def fill(tmp):
        streams = {
            "indptr": _ArrayStream(os.path.join(tmp, "indptr.npy"), np.int64),
            "indices": _ArrayStream(os.path.join(tmp, "indices.npy"),
                                    np.int64 if wide else np.int32),
            "data": _ArrayStream(os.path.join(tmp, "data.npy"), dtype),
            "y": _ArrayStream(os.path.join(tmp, "y.npy"), np.float64),
        }
        if fmt == "libffm":
            streams["fields"] = _ArrayStream(os.path.join(tmp, "fields.npy"), np.int32)
        try:
            streams["indptr"].append(np.zeros(1, np.int64))
            nnz = 0
            min_index = max_index = max_field = -1
            for parts in iter_parsed_blocks(source, fmt, n_jobs):
                for p in parts:
                    if p["labels"].size == 0:
                        continue
                    if not wide and p["max_index"] > _INT32_MAX:
                        raise DataFileError(
                            name, None, f"has feature index {p['max_index']}: pass n_features "
                            "to store int64 indices")
                    streams["indptr"].append(p["indptr"][1:] + nnz)
                    nnz += int(p["indptr"][-1])
                    streams["indices"].append(p["indices"])
                    streams["data"].append(p["values"])
                    streams["y"].append(p["labels"])
                    if fmt == "libffm":
                        streams["fields"].append(p["fields"])
                    if p["min_index"] >= 0:
                        min_index = p["min_index"] if min_index < 0 else min(min_index,
                                                                             p["min_index"])
                    max_index = max(max_index, p["max_index"])
                    max_field = max(max_field, p["max_field"])
                if progress is not None:
                    progress(streams["y"].length, streams["data"].length)
        finally:
            for stream in streams.values():
                stream.close()
        n_rows = streams["y"].length
        if n_rows == 0:
            raise DataFileError(name, None, "contains no data lines")
        shift = 1 if zero_based is False or (zero_based == "auto" and min_index > 0) else 0
        if shift:
            if min_index == 0:
                raise DataFileError(name, None, "has feature index 0, but zero_based=False "
                                    "(one-based): convert it with zero_based=True")
            indices = np.load(os.path.join(tmp, "indices.npy"), mmap_mode="r+")
            step = 1 << 24
            for start in range(0, indices.size, step):  # bounded memory, in place
                indices[start:start + step] -= 1
            indices.flush()
            del indices
            max_index -= 1
        needed = max_index + 1
        width = needed if n_features is None else int(n_features)
        if width < needed:
            raise DataFileError(name, None, f"has feature index {max_index}, but "
                                f"n_features={width}: it needs n_features >= {needed}")
        return {
            "n_rows": int(n_rows), "n_features": int(width), "nnz": int(nnz),
            "n_fields": max_field + 1 if fmt == "libffm" else None,
            "arrays": {k: _array_entry(s) for k, s in streams.items()},
            "source": {"file": name, "format": fmt, "one_based": bool(shift)},
        }

    return _build(path, fill)


def _read_header(path):
    try:
        with open(os.path.join(path, _HEADER)) as fh:
            header = json.load(fh)
    except FileNotFoundError:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"no cache at {path}") from None
        raise CacheError(f"{path} is not a rapidfm cache (no {_HEADER})") from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"{path}: unreadable {_HEADER} ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CacheError(f"{path} is not a rapidfm cache (format {header.get('format')!r})"
                         if isinstance(header, dict) else f"{path}: malformed {_HEADER}")
    if header.get("version") != VERSION:
        raise CacheError(f"{path}: cache format version {header.get('version')!r}; this "
                         f"rapidfm reads version {VERSION} (convert the data again)")
    return header


def open_cache(path, with_fields=False):
    """Open a cache folder with memory mapping: (X, y), or (X, fields, y) with with_fields.

    X is a scipy CSR matrix whose data, indices and indptr are read-only np.memmap
    arrays over the cache files: opening reads only the headers, and fit() on X copies
    none of them. The files are checked against the header (dtype, length, size on
    disk) and the row pointers' ends; fit() validates every index as for any input.
    """
    path = os.fspath(path)
    header = _read_header(path)
    try:
        n_rows, n_features, nnz = (int(header[k]) for k in ("n_rows", "n_features", "nnz"))
        entries = header["arrays"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CacheError(f"{path}: malformed {_HEADER} ({exc})") from exc
    expected = {"indptr": (np.int64, n_rows + 1), "indices": (None, nnz),
                "data": (None, nnz), "y": (np.float64, n_rows)}
    if with_fields:
        if "fields" not in entries:
            raise CacheError(f"{path} holds no fields (it was not made from libffm data)")
        expected["fields"] = (np.int32, nnz)
    arrays = {}
    for name, (dtype, length) in expected.items():
        file = os.path.join(path, f"{name}.npy")
        try:
            values = np.load(file, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise CacheError(f"{path}: {name}.npy is missing") from None
        except ValueError as exc:  # a truncated file or a broken .npy header
            raise CacheError(f"{path}: {name}.npy is damaged ({exc})") from exc
        entry = entries.get(name, {})
        if (values.ndim != 1 or values.size != length or entry.get("length") != length
                or np.dtype(entry.get("dtype", "V")) != values.dtype
                or (dtype is not None and values.dtype != dtype)):
            raise CacheError(f"{path}: {name}.npy has {values.size} entries of "
                             f"{values.dtype}, the header says {entry}")
        arrays[name] = values
    if arrays["indices"].dtype not in (np.int32, np.int64) or \
            arrays["data"].dtype not in (np.float32, np.float64):
        raise CacheError(f"{path}: unsupported dtypes {arrays['indices'].dtype} / "
                         f"{arrays['data'].dtype}")
    indptr = arrays["indptr"]
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise CacheError(f"{path}: indptr.npy does not run from 0 to nnz={nnz}")
    # set the arrays directly: scipy's constructor would copy them to one index dtype
    X = sp.csr_matrix((n_rows, n_features), dtype=arrays["data"].dtype)
    X.indptr, X.indices, X.data = indptr, arrays["indices"], arrays["data"]
    if with_fields:
        return X, arrays["fields"], arrays["y"]
    return X, arrays["y"]
