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

__all__ = ["CacheError", "CacheWriter", "convert_to_cache", "open_cache", "save_cache"]

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


def _finish_folder(tmp, header):
    """Writes the header and makes every file durable before a rename makes them visible."""
    header = {"format": FORMAT, "version": VERSION, **header}
    with open(os.path.join(tmp, _HEADER), "w") as fh:
        json.dump(header, fh, indent=1)
        fh.write("\n")
    for name in os.listdir(tmp):
        with open(os.path.join(tmp, name), "rb") as fh:
            os.fsync(fh.fileno())


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
    shape = X.shape if sp.issparse(X) else np.shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D, got shape {shape}")
    with CacheWriter(path, max(int(shape[1]), 1), dtype, fields is not None) as writer:
        writer.source = "save_cache"
        writer.append(X, y, fields)
        if writer.n_rows == 0:
            raise ValueError("X has no rows")
    return writer.path


class CacheWriter:
    """Builds a cache from blocks of rows, for data that never fits in memory at once::

        with CacheWriter("big.cache", n_features=10**6) as writer:
            for X_block, y_block in blocks:
                writer.append(X_block, y_block)

    The cache appears at `path` when the with-block ends without an exception (a
    failure leaves nothing behind). X blocks are any sparse or dense matrices with
    n_features columns (validated as for fit); with_fields=True caches libffm data:
    append(X, y, fields). Values are stored as `dtype` (float32 by default).
    """

    def __init__(self, path, n_features, dtype=np.float32, with_fields=False):
        self.path = os.path.abspath(os.fspath(path))
        self.n_features = int(n_features)
        if self.n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.dtype = check_dtype(dtype)
        self.with_fields = bool(with_fields)
        self.source = "CacheWriter"
        self._tmp = None
        self._streams = None
        self._max_field = -1

    def __enter__(self):
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            raise FileNotFoundError(
                f"cannot create the cache {self.path}: folder {parent} does not exist")
        if os.path.lexists(self.path) and not (os.path.isdir(self.path)
                                               and _is_cache(self.path)):
            raise FileExistsError(f"{self.path} exists and is not a rapidfm cache: "
                                  "choose another path or remove it")
        self._tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(self.path)}.tmp.")
        index_dtype = np.int32 if self.n_features <= _INT32_MAX else np.int64
        dtypes = {"indptr": np.int64, "indices": index_dtype, "data": self.dtype,
                  "y": np.float64}
        if self.with_fields:
            dtypes["fields"] = np.int32
        self._streams = {name: _ArrayStream(os.path.join(self._tmp, f"{name}.npy"), dt)
                         for name, dt in dtypes.items()}
        self._streams["indptr"].append(np.zeros(1, np.int64))
        return self

    @property
    def n_rows(self):
        return self._streams["y"].length

    @property
    def nnz(self):
        return self._streams["data"].length

    def append_arrays(self, indptr, indices, data, y, fields=None):
        """Appends rows given as trusted CSR arrays (indptr from 0, in-range indices)."""
        if fields is not None:
            fields = np.asarray(fields)
            if fields.size:
                self._max_field = max(self._max_field, int(fields.max()))
        offset = self.nnz
        self._streams["indptr"].append(np.asarray(indptr[1:], dtype=np.int64) + offset)
        self._streams["indices"].append(indices)
        self._streams["data"].append(data)
        self._streams["y"].append(y)
        if self.with_fields:
            self._streams["fields"].append(fields)

    def append(self, X, y, fields=None):
        """Appends the rows of X (validated: finite values, indices in range) and y."""
        if self.with_fields != (fields is not None):
            raise ValueError("fields must be given for every block exactly when "
                             "with_fields=True")
        if fields is None:
            indptr, indices, data, _ = as_csr(X, self.dtype, n_features=self.n_features,
                                              name="X", owner="the cache")
        else:
            X = sp.csr_matrix(X)
            if X.shape[1] != self.n_features:
                raise ValueError(f"X has {X.shape[1]} features, the cache {self.n_features}")
            indptr, indices = np.asarray(X.indptr, np.int64), X.indices
            data = np.asarray(X.data, dtype=self.dtype)
            fields = np.asarray(fields)
            if fields.shape != (X.nnz,):
                raise ValueError(f"fields must have one entry per stored value of X "
                                 f"({X.nnz}), got shape {fields.shape}")
            if fields.size and (fields.min() < 0 or fields.max() > _INT32_MAX):
                raise ValueError("fields must be non-negative int32 numbers")
            if indices.size and (indices.min() < 0 or indices.max() >= self.n_features):
                raise ValueError(f"X has a column index outside [0, {self.n_features})")
            if not np.isfinite(data).all():
                raise ValueError("X contains NaN or infinity")
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (indptr.size - 1,):
            raise ValueError(f"y must have one entry per row of X ({indptr.size - 1}), "
                             f"got shape {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        self.append_arrays(indptr - indptr[0], indices[indptr[0]:indptr[-1]],
                           data[indptr[0]:indptr[-1]], y, fields)

    def _header(self):
        return {
            "n_rows": int(self.n_rows), "n_features": self.n_features, "nnz": int(self.nnz),
            "n_fields": self._max_field + 1 if self.with_fields else None,
            "arrays": {name: _array_entry(s) for name, s in self._streams.items()},
            "source": self.source,
        }

    def _finish(self, tmp):
        """Hook run on the complete folder before it is installed (convert_to_cache)."""

    def __exit__(self, exc_type, exc, tb):
        tmp, self._tmp = self._tmp, None
        try:
            for stream in self._streams.values():
                stream.close()
            if exc_type is None:
                self._finish(tmp)
                _finish_folder(tmp, self._header())
                _install(tmp, self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if exc_type is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return False


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
    # the width is known only at the end: start with the widest the indices allow
    limit = _INT32_MAX if n_features is None else int(n_features)
    writer = _ConvertingWriter(path, max(limit, 1), dtype, fmt == "libffm")
    with writer:
        for parts in iter_parsed_blocks(source, fmt, n_jobs):
            for p in parts:
                if p["labels"].size == 0:
                    continue
                if p["max_index"] > _INT32_MAX and limit <= _INT32_MAX:
                    raise DataFileError(name, None, f"has feature index {p['max_index']}: "
                                        "pass n_features to store int64 indices")
                writer.append_arrays(p["indptr"], p["indices"], p["values"], p["labels"],
                                     p["fields"])
                writer.see_indices(p["min_index"], p["max_index"])
            if progress is not None:
                progress(writer.n_rows, writer.nnz)
        if writer.n_rows == 0:
            raise DataFileError(name, None, "contains no data lines")
        shift = 1 if zero_based is False or (zero_based == "auto" and writer.min_index > 0) \
            else 0
        if shift and writer.min_index == 0:
            raise DataFileError(name, None, "has feature index 0, but zero_based=False "
                                "(one-based): convert it with zero_based=True")
        needed = writer.max_index + 1 - shift
        width = needed if n_features is None else int(n_features)
        if width < needed:
            raise DataFileError(name, None, f"has feature index {writer.max_index - shift}, "
                                f"but n_features={width}: it needs n_features >= {needed}")
        writer.n_features = max(width, 1)
        writer.shift = shift
        writer.source = {"file": name, "format": fmt, "one_based": bool(shift)}
    return writer.path


class _ConvertingWriter(CacheWriter):
    """A CacheWriter that tracks the index range and shifts one-based indices at the end."""

    def __init__(self, *args):
        super().__init__(*args)
        self.min_index = self.max_index = -1
        self.shift = 0

    def see_indices(self, low, high):
        if low >= 0:
            self.min_index = low if self.min_index < 0 else min(self.min_index, low)
        self.max_index = max(self.max_index, high)

    def _finish(self, tmp):
        if self.shift:
            indices = np.load(os.path.join(tmp, "indices.npy"), mmap_mode="r+")
            step = 1 << 24
            for start in range(0, indices.size, step):  # in place, bounded memory
                indices[start:start + step] -= 1
            indices.flush()
            del indices


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
