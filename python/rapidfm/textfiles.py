"""Sparse data in text files: libsvm / libFM and libffm.

Formats, one sample per line::

    label [qid:Q] index:value index:value ...          libsvm, SVMlight, libFM
    label field:index:value field:index:value ...      libffm (field-aware)

The files are parsed in C (``fastfm_core/src/text_parse.c``, grammar in
``fastfm_text.h``) in blocks of whole lines, with the GIL released and the block
split between threads. Plain, gzip and bzip2 files are recognised by their first
bytes, whatever their name. What real files contain is accepted: CRLF line
endings, a UTF-8 byte-order mark, leading and trailing white space (spaces or
tabs), ``#`` comments, blank lines, ``qid:`` tokens, labels such as ``+1``,
``-1``, ``0``, ``3.5`` or ``1e3``, and the items of a line in any order (libFM and
libffm do not require sorted lines; the row is sorted). Every number is the
correctly rounded double of its decimal text, so the values equal those of
scikit-learn's ``load_svmlight_file``.

Anything else raises :class:`DataFileError` (a ValueError) that names the file,
the 1-based line number, what is wrong and the offending text: a label or value
that is not a finite decimal number, an index that is negative or not an
integer, an item without ``:``, a feature twice in one line, a file with no
data lines. Nothing partial is returned.
(In libffm files one index may appear under two fields of a line: see
:func:`load_libffm`.)
"""

import bz2
import gzip
import os

import numpy as np
import scipy.sparse as sp

from rapidfm import _core
from rapidfm._fileio import atomic_write
from rapidfm._validation import check_dtype, effective_n_threads

__all__ = ["DataFileError", "dump_libffm", "dump_svmlight", "load_libffm", "load_svmlight"]

BLOCK_BYTES = 16 << 20  # bytes read and parsed per call: big enough for threads to pay off
_INT32_MAX = np.iinfo(np.int32).max


class DataFileError(ValueError):
    """A data file that cannot be read: names the file, the line number and the text."""

    def __init__(self, path, line, what, text=None):
        where = f"{path}, line {line}" if line is not None else f"{path}"
        message = f"{where}: {what}" + (f": {text!r}" if text is not None else "")
        super().__init__(message)
        self.path = path
        self.line = line
        self.what = what
        self.text = text


def _name(source):
    return os.fspath(source) if isinstance(source, (str, bytes, os.PathLike)) else repr(source)


def open_data_file(source):
    """A binary file object for a path (plain, gzip or bzip2, told by the first bytes)
    or an already open binary file."""
    if hasattr(source, "read"):
        return source
    raw = open(source, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = raw.read(3)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic == b"BZh":
        return bz2.BZ2File(raw, mode="rb")
    return raw


def iter_parsed_blocks(source, fmt, n_jobs=None, block_bytes=None):
    """Parses a text data file block by block, never holding more than about two
    blocks of text: yields the parts of each block (dicts of arrays, file order).
    block_bytes defaults to the module's BLOCK_BYTES, read at call time.

    Raises DataFileError with the line number (in the whole file) of the first
    malformed line.
    """
    if block_bytes is None:  # looked up now, not at import, so that it can be changed
        block_bytes = BLOCK_BYTES
    parser = _core.TextParser(fmt, max(1, min(256, effective_n_threads(n_jobs))))
    name = _name(source)
    fh = open_data_file(source)
    lines_before = 0
    rest = b""
    first = True
    try:
        while True:
            data = fh.read(block_bytes)
            if first:
                first = False
                if isinstance(data, str):
                    raise TypeError(f"{name} was opened in text mode: open it in binary mode")
                if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                    data = data[3:]
            if not data:
                block = rest
                rest = b""
            else:
                buf = rest + data if rest else data
                cut = buf.rfind(b"\n") + 1
                if cut == 0:  # a line longer than one block: read on
                    rest = buf
                    continue
                block, rest = memoryview(buf)[:cut], buf[cut:]
            if len(block):
                try:
                    parts = parser.parse(block)
                except _core.TextLineError as exc:
                    raise DataFileError(name, lines_before + exc.line, exc.what, exc.text) from None
                lines_before += sum(p["n_lines"] for p in parts)
                yield parts
            if not data:
                return
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataFileError(name, None, f"cannot be read ({exc})") from exc
    finally:
        if fh is not source:
            fh.close()


def _zero_based_shift(zero_based, min_index):
    """1 when indices must be shifted down (a one-based file), else 0."""
    if zero_based == "auto":
        return 1 if min_index > 0 else 0
    if zero_based is True:
        return 0
    if zero_based is False:
        return 1
    raise ValueError(f"zero_based must be True, False or 'auto', got {zero_based!r}")


def _collect(source, fmt, dtype, n_jobs):
    """Every part of every block, joined: (indptr int64, indices int64, values of dtype,
    fields or None, labels, qids or None, min_index, max_index, max_field)."""
    indptrs, indices, values, fields, labels, qids = [], [], [], [], [], []
    any_qid = False
    offset = 0
    min_index = max_index = max_field = -1
    for parts in iter_parsed_blocks(source, fmt, n_jobs):
        for p in parts:
            n_rows = p["labels"].size
            if n_rows == 0:
                continue
            indptrs.append(p["indptr"][1:] + offset)
            offset += int(p["indptr"][-1])
            indices.append(p["indices"])
            values.append(p["values"].astype(dtype, copy=False))
            if p["fields"] is not None:
                fields.append(p["fields"])
            labels.append(p["labels"])
            any_qid |= p["qids"] is not None
            qids.append(p["qids"] if p["qids"] is not None else np.full(n_rows, -1, np.int64))
            if p["min_index"] >= 0:
                min_index = p["min_index"] if min_index < 0 else min(min_index, p["min_index"])
            max_index = max(max_index, p["max_index"])
            max_field = max(max_field, p["max_field"])
    if not labels:
        raise DataFileError(_name(source), None, "contains no data lines")
    indptr = np.concatenate([np.zeros(1, np.int64)] + indptrs)
    return (
        indptr,
        np.concatenate(indices) if indices else np.zeros(0, np.int64),
        np.concatenate(values) if values else np.zeros(0, dtype),
        (np.concatenate(fields) if fields else np.zeros(0, np.int32)) if fmt == "libffm" else None,
        np.concatenate(labels),
        np.concatenate(qids) if any_qid else None,
        min_index,
        max_index,
        max_field,
    )


def _to_csr(source, indptr, indices, values, n_features, shift, max_index):
    """The CSR matrix, with int32 index arrays when they fit (as scipy and scikit-learn)."""
    name = _name(source)
    if shift and indices.size:  # a file of labels only has nothing to shift
        if indices.min() == 0:
            row = int(np.searchsorted(indptr, int(np.argmax(indices == 0)), side="right")) - 1
            raise DataFileError(
                name, None,
                f"feature index 0 in data row {row + 1}, but the file was read as one-based "
                "(zero_based=False): read it with zero_based=True")
        indices -= 1
        max_index -= 1
    needed = max_index + 1
    if n_features is None:
        n_features = needed
    else:
        n_features = int(n_features)
        if n_features < needed:
            raise DataFileError(
                name, None,
                f"has feature index {max_index} (after the {'one' if shift else 'zero'}-based "
                f"numbering), but n_features={n_features}: it needs n_features >= {needed}")
    index_dtype = np.int32 if max(n_features, indptr[-1]) <= _INT32_MAX else np.int64
    X = sp.csr_matrix(
        (values, indices.astype(index_dtype), indptr.astype(index_dtype)),
        shape=(indptr.size - 1, n_features), copy=False,
    )
    return X


def load_svmlight(path, n_features=None, dtype=np.float32, zero_based="auto", query_id=False,
                  n_jobs=None):
    """Read a libsvm / SVMlight / libFM file: (X as CSR, y), or (X, y, qid) with query_id.

    path: a file name (plain, .gz or .bz2, told by content) or an open binary file.
    n_features: the number of columns (default: the largest index + 1); give it when
    train and test files must agree. dtype: of X's values (float32 by default, what
    rapidfm trains on; values are parsed as doubles and then rounded, as scikit-learn
    does). zero_based: True for files numbered from 0 (libFM), False from 1 (libsvm),
    "auto" (default) reads a file without index 0 as one-based, as scikit-learn does;
    pass it explicitly for files that must agree. n_jobs: parsing threads (None: 1,
    -1: all cores). qid is -1 on lines without ``qid:``.
    """
    dtype = check_dtype(dtype)
    indptr, indices, values, _, y, qids, min_index, max_index, _ = _collect(
        path, "svmlight", dtype, n_jobs)
    # checked even when no line has an item (min_index -1)
    shift = _zero_based_shift(zero_based, max(min_index, 0))
    X = _to_csr(path, indptr, indices, values, n_features, shift, max_index)
    if query_id:
        return X, y, qids if qids is not None else np.full(y.size, -1, np.int64)
    return X, y


def load_libffm(path, n_features=None, n_fields=None, dtype=np.float32, n_jobs=None):
    """Read a libffm file (``label field:index:value ...``, numbered from 0):
    (X as CSR, fields, y).

    fields is an int32 array aligned with X.data / X.indices: the field of every
    stored value, for field-aware models. Rows are sorted by (index, field). Real
    libffm files hash features, so one index may appear under two fields of a line:
    X then stores it twice in that row (one entry per field); FM training sums the
    two. n_features / n_fields default to the largest index / field + 1.
    """
    dtype = check_dtype(dtype)
    indptr, indices, values, fields, y, _, _, max_index, max_field = _collect(
        path, "libffm", dtype, n_jobs)
    if n_fields is not None and int(n_fields) <= max_field:
        raise DataFileError(_name(path), None,
                            f"has field {max_field}, but n_fields={int(n_fields)}: it needs "
                            f"n_fields >= {max_field + 1}")
    X = _to_csr(path, indptr, indices, values, n_features, 0, max_index)
    return X, fields, y


# -- writing ------------------------------------------------------------------------------

def _format_values(values):
    """Shortest text that parses back to the same double ("1" rather than "1.0")."""
    text = np.asarray(values, dtype=np.float64).astype(str).tolist()
    return [t[:-2] if t.endswith(".0") else t for t in text]


def _format_labels(y):
    return _format_values(np.asarray(y, dtype=np.float64))


def _write_lines(path, lines_of):
    def write(fh):
        out = gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) if str(path).endswith(".gz") else fh
        for chunk in lines_of():
            out.write(chunk)
        if out is not fh:
            out.close()

    atomic_write(path, write)


def _rows_text(X, y, zero_based, fields=None, comment=None, query_id=None):
    X = sp.csr_matrix(X)
    if fields is not None:
        fields = np.asarray(fields)
        if fields.shape != (X.nnz,):
            raise ValueError(f"fields must have one entry per stored value of X ({X.nnz})")
    if not X.has_sorted_indices:  # sort a copy, carrying the fields along
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        order = np.lexsort((X.indices, rows))
        X = sp.csr_matrix((X.data[order], X.indices[order], X.indptr), shape=X.shape)
        fields = None if fields is None else fields[order]
    if np.asarray(y).shape != (X.shape[0],):
        raise ValueError(f"y must have one entry per row of X ({X.shape[0]}), "
                         f"got shape {np.asarray(y).shape}")
    if X.nnz and not np.isfinite(X.data).all():
        raise ValueError("X contains NaN or infinity: no text format can hold it")
    labels = _format_labels(y)

    def lines():
        if comment:
            yield b"".join(b"# " + line.encode() + b"\n" for line in str(comment).splitlines())
        step = 65536
        for start in range(0, X.shape[0], step):
            stop = min(X.shape[0], start + step)
            b, e = X.indptr[start], X.indptr[stop]
            idx = (X.indices[b:e].astype(np.int64) + (0 if zero_based else 1)).astype(str)
            val = _format_values(X.data[b:e])
            if fields is not None:
                fld = fields[b:e].astype(str)
                items = [f"{f}:{i}:{v}" for f, i, v in zip(fld, idx, val)]
            else:
                items = [f"{i}:{v}" for i, v in zip(idx, val)]
            out = []
            for r in range(start, stop):
                head = labels[r]
                if query_id is not None and query_id[r] >= 0:  # -1: no qid (as loaded)
                    head += f" qid:{int(query_id[r])}"
                row = items[X.indptr[r] - b:X.indptr[r + 1] - b]
                out.append(" ".join([head] + row) if row else head)
            yield ("\n".join(out) + "\n").encode()

    return lines


def dump_svmlight(X, y, path, zero_based=True, comment=None, query_id=None):
    """Write X, y as a libsvm / libFM text file (atomically; gzip when path ends in .gz).

    Values are written as the shortest text that reads back to the same double, so
    load_svmlight(dump_svmlight(X)) gives X back exactly. zero_based=False numbers
    features from 1 (libsvm's convention); libFM files are zero-based. query_id: a qid
    per row, written as ``qid:Q``; a negative one (-1, what load_svmlight gives for a line
    without qid) writes no qid token.
    """
    if query_id is not None and np.asarray(query_id).shape != (np.asarray(y).shape[0],):
        raise ValueError("query_id must have one entry per row")
    _write_lines(path, _rows_text(X, y, zero_based, comment=comment, query_id=query_id))


def dump_libffm(X, fields, y, path):
    """Write X, fields, y as a libffm text file (``label field:index:value``, from 0)."""
    _write_lines(path, _rows_text(X, y, True, fields=fields))
