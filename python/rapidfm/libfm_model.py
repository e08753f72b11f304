"""Interoperability with libFM's text model files (``-save_model`` / ``-load_model``).

libFM 1.4.x writes a model (``fm_model::saveModel``) as plain text, one value per
line for the bias and the linear weights and one line of k space-separated values
per feature for the factors::

    #global bias W0
    <w0>
    #unary interactions Wj
    <w_0>
    <w_1>
    ...                                   (one line per feature)
    #pairwise interactions Vj,f
    <v_0,0> <v_0,1> ... <v_0,k-1>
    ...                                   (one line per feature)

The bias section is present when libFM ran with ``-dim 'k0,k1,k2'`` and k0 = 1, the
unary section when k1 = 1. libFM writes the pairwise header always, followed by one
line per feature - empty lines when k2 = 0. libFM prints numbers with the default
C++ stream precision (6 significant digits, e.g. ``-0.0123457`` or ``1.5e-07``), so
a model saved by libFM is a rounded copy of the one it trained.

Reading (:func:`load_libfm_model`) accepts that layout and also files without the
bias or unary section (the bias or weights are then zero) or without the pairwise
section (k = 0). It tolerates CRLF line endings, a UTF-8 byte-order mark, trailing
whitespace and blank lines at the end of the file; numbers are decimal
(``[+-]digits[.digits][e[+-]digits]``) and must be finite. The number of features is
the number of lines of the unary (or pairwise) section; libFM counts the features
it saw in its training file, so a model may need padding with zeros to the width
of new data (``n_features``). Anything else - an empty file, an unknown ``#``
header, a section twice or out of order, a non-numeric value, a pairwise row with
a different number of values than the first, sections with different numbers of
rows, a bias section without exactly one value - raises :class:`LibFMModelError`
(a ValueError) naming the file, the 1-based line number and the offending text.

Writing (:func:`save_libfm_model`) produces exactly libFM's layout with all three
sections and ``\\n`` line endings, but prints every value with Python's ``repr``
(the shortest text that parses back to the same double), so rapidfm -> libFM text
-> rapidfm is lossless for float64 and float32 models. The write is atomic.

Task conventions: libFM's classifier uses labels -1/+1 and its raw output y(x) is
the log-odds of +1; its SGD/ALS prediction files hold P(+1) = 1 / (1 + exp(-y(x))),
which is ``FMClassifier.predict_proba(X)[:, 1]`` (libFM's MCMC classifier uses the
normal CDF instead; the predicted class is the same since both cross 1/2 at y = 0).
A loaded classifier has ``classes_ = [-1, 1]``. A saved classifier's positive class
is ``classes_[1]``. libFM clips regression output to the range of its training
targets, which the model file does not store: pass ``y_range`` to do the same.
"""

import math
import os
import re

import numpy as np

from rapidfm._fileio import atomic_write
from rapidfm._validation import check_dtype

# rapidfm.estimators (and with it scikit-learn) is imported by the functions that
# build or write a model: `import rapidfm.io` reads data files without it

__all__ = ["LibFMModelError", "load_libfm_model", "save_libfm_model"]

BIAS_HEADER = "#global bias W0"
UNARY_HEADER = "#unary interactions Wj"
PAIRWISE_HEADER = "#pairwise interactions Vj,f"
_SECTIONS = (BIAS_HEADER, UNARY_HEADER, PAIRWISE_HEADER)
_TASKS = {"regression": "regression", "r": "regression",
          "classification": "classification", "c": "classification"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NOT_NUMERIC = re.compile(r"[^0-9eE+\-.\s]")  # quick screen; _NUMBER decides
_BLOCK = 1 << 16  # lines converted to an array at a time


class LibFMModelError(ValueError):
    """A libFM model file that cannot be read; `path` and `line` (1-based, or None) say where."""

    def __init__(self, path, line, problem):
        self.path = os.fspath(path)
        self.line = line
        where = f"{self.path!r}, line {line}" if line is not None else repr(self.path)
        super().__init__(f"invalid libFM model file {where}: {problem}")


def _shown(text, limit=80):
    return repr(text if len(text) <= limit else text[:limit] + "...")


# -- reading -------------------------------------------------------------------------------------


def _read_lines(path):
    """[(lineno, text)] with line endings and trailing whitespace removed."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw.strip():
        raise LibFMModelError(path, None, "the file is empty; a libFM model file starts with "
                              f"{BIAS_HEADER!r}, {UNARY_HEADER!r} or {PAIRWISE_HEADER!r}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise LibFMModelError(path, line, "not a text file (invalid UTF-8 byte "
                              f"{raw[exc.start:exc.start + 1]!r})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [(i + 1, line.rstrip()) for i, line in enumerate(lines)]


def _split_sections(lines, path):
    """{header: (header_lineno, [(lineno, text), ...])} in file order."""
    sections = {}
    current = None
    for lineno, text in lines:
        stripped = text.strip()
        if stripped.startswith("#"):
            if stripped not in _SECTIONS:
                raise LibFMModelError(path, lineno, f"unknown section header {_shown(stripped)} "
                                      f"(expected one of {list(_SECTIONS)})")
            if stripped in sections:
                raise LibFMModelError(path, lineno, f"section {stripped!r} appears a second "
                                      f"time (first on line {sections[stripped][0]})")
            if current is not None and _SECTIONS.index(stripped) < _SECTIONS.index(current):
                raise LibFMModelError(path, lineno, f"section {stripped!r} after {current!r}: "
                                      "libFM writes bias, unary, pairwise in that order")
            current = stripped
            sections[current] = (lineno, [])
        elif current is None:
            if stripped:
                raise LibFMModelError(path, lineno, f"expected a section header such as "
                                      f"{BIAS_HEADER!r} before the first value, got "
                                      f"{_shown(text)}")
        else:
            sections[current][1].append((lineno, text))
    last = current
    for header, (_, rows) in sections.items():
        if header == PAIRWISE_HEADER and rows and not any(text for _, text in rows):
            continue  # k = 0: the rows are empty lines; _pairwise decides how many count
        if header == last:
            while rows and not rows[-1][1]:
                rows.pop()  # blank lines at the end of the file
        for lineno, text in rows:
            if not text.strip():
                raise LibFMModelError(path, lineno, f"blank line inside section {header!r}")
    return sections


def _parse_rows(rows, width, path, what):
    """float64 array (len(rows), width) from the text rows; errors name the line."""
    out = np.empty((len(rows), width), dtype=np.float64)
    for start in range(0, len(rows), _BLOCK):
        values = []
        for lineno, text in rows[start:start + _BLOCK]:
            tokens = text.split()
            if len(tokens) != width:
                raise LibFMModelError(path, lineno, f"{what} must hold {width} value"
                                      f"{'s' if width != 1 else ''}, found {len(tokens)}: "
                                      f"{_shown(text)}")
            if _NOT_NUMERIC.search(text):
                _raise_bad_token(tokens, lineno, path)
            try:
                values.extend(map(float, tokens))
            except ValueError:
                _raise_bad_token(tokens, lineno, path)
        block = np.array(values, dtype=np.float64).reshape(-1, width)
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            lineno, text = rows[start + row]
            raise LibFMModelError(path, lineno, f"value {text.split()[col]!r} overflows to "
                                  "infinity (values must be finite)")
        out[start:start + block.shape[0]] = block
    return out


def _raise_bad_token(tokens, lineno, path):
    for token in tokens:
        if not _NUMBER.match(token):
            raise LibFMModelError(path, lineno, f"{_shown(token)} is not a number (expected a "
                                  "finite decimal number such as -0.0123457 or 1.5e-07)")
    raise LibFMModelError(path, lineno, f"cannot parse {tokens!r} as numbers")  # pragma: no cover


def _parse_file(path):
    """(w0, w or None, V or None, n_rows (0 when unknown), k) from a libFM model file."""
    sections = _split_sections(_read_lines(path), path)
    w0, w, V, n = 0.0, None, None, None

    if BIAS_HEADER in sections:
        header_line, rows = sections[BIAS_HEADER]
        if not rows:
            raise LibFMModelError(path, header_line, f"section {BIAS_HEADER!r} has no value")
        if len(rows) > 1:
            raise LibFMModelError(path, rows[1][0], f"section {BIAS_HEADER!r} holds exactly one "
                                  f"value, found another: {_shown(rows[1][1])}")
        w0 = float(_parse_rows(rows, 1, path, "the bias line")[0, 0])

    if UNARY_HEADER in sections:
        header_line, rows = sections[UNARY_HEADER]
        w = _parse_rows(rows, 1, path, "a unary line")[:, 0]
        n = len(rows)

    k = 0
    if PAIRWISE_HEADER in sections:
        header_line, rows = sections[PAIRWISE_HEADER]
        if rows and not any(text for _, text in rows):  # k = 0: one empty line per feature
            if n is None:
                n = len(rows)
            elif len(rows) < n:  # more are blank lines at the end of the file
                raise LibFMModelError(path, header_line, f"the pairwise section has {len(rows)} "
                                      f"(empty) rows but the unary section has {n}: the file may "
                                      "be truncated")
        elif rows:
            k = len(rows[0][1].split())
            if n is not None and len(rows) != n:
                if len(rows) > n:
                    lineno, text = rows[n]
                    raise LibFMModelError(path, lineno, f"pairwise row {n + 1} {_shown(text)}, but "
                                          f"the unary section has only {n} features")
                raise LibFMModelError(path, header_line, f"the pairwise section has {len(rows)} "
                                      f"rows but the unary section has {n}: the file may be "
                                      "truncated")
            V = _parse_rows(rows, k, path, f"a pairwise line (k = {k}, as on line {rows[0][0]})")
            n = len(rows)
    return w0, w, V, (0 if n is None else n), k


def load_libfm_model(path, task="regression", n_features=None, dtype=np.float64, y_range=None):
    """A fitted FMRegressor or FMClassifier holding the parameters of a libFM model file.

    Parameters
    ----------
    path : str or path-like
        A file written by ``libFM -save_model`` (format: see the module docstring).
    task : {"regression", "r", "classification", "c"}
        libFM's ``-task``. Classification gives an FMClassifier with ``classes_ = [-1, 1]``
        whose decision_function is libFM's raw y(x).
    n_features : int or None
        Number of features of the data to predict. Default: the file's. A larger value
        pads w and V with zeros (features libFM never saw); a smaller one is an error.
    dtype : float32 or float64
        Parameter type of the returned model (the file's values are rounded to it).
    y_range : (lo, hi) or None
        Regression only: libFM clips predictions to the range of its training targets,
        which the file does not store. With y_range the model clips to [lo, hi]
        (``clip_predictions=True``, ``y_min_ = lo``, ``y_max_ = hi``); without it predictions
        are not clipped (``y_min_ = -inf``, ``y_max_ = inf``, ``clip_predictions=False``).

    Returns a model with ``n_iter_ = 0`` and an empty ``history_``, ready for predict,
    decision_function/predict_proba and save.
    """
    if not isinstance(task, str) or task.lower() not in _TASKS:
        raise ValueError(f"task must be 'regression' ('r') or 'classification' ('c'), "
                         f"got {task!r}")
    task = _TASKS[task.lower()]
    dt = check_dtype(dtype)
    if n_features is not None and (isinstance(n_features, bool) or not isinstance(
            n_features, (int, np.integer)) or n_features < 1):
        raise ValueError(f"n_features must be a positive int or None, got {n_features!r}")
    if y_range is not None:
        if task != "regression":
            raise ValueError("y_range applies to regression models only")
        try:
            lo, hi = (float(v) for v in y_range)
        except (TypeError, ValueError):
            raise ValueError(f"y_range must be a pair (lo, hi) of numbers, "
                             f"got {y_range!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"y_range must be finite with lo <= hi, got {y_range!r}")

    w0, w, V, n_file, k = _parse_file(path)
    n = n_file if n_features is None else int(n_features)
    if n_features is not None and n < n_file:
        raise ValueError(f"n_features={n} is smaller than the {n_file} features of the libFM "
                         f"model {os.fspath(path)!r}")
    if n < 1:
        raise LibFMModelError(path, None, "the file has no unary or pairwise rows, so the number "
                              "of features is unknown: pass n_features")

    w_full = np.zeros(n, dtype=dt)
    V_full = np.zeros((n, k), dtype=dt)
    with np.errstate(over="ignore"):  # float32 overflow is reported just below
        if w is not None:
            w_full[:n_file] = w
        if V is not None:
            V_full[:n_file] = V
    if not (np.isfinite(w_full).all() and np.isfinite(V_full).all()):
        raise LibFMModelError(path, None, f"the model holds values too large for {dt}")

    from rapidfm.estimators import FMClassifier, FMRegressor

    if task == "classification":
        model = FMClassifier(n_factors=k, dtype=dt.type)
        model.classes_ = np.array([-1, 1])
    else:
        clip = y_range is not None
        model = FMRegressor(n_factors=k, dtype=dt.type, clip_predictions=clip)
        model.y_min_, model.y_max_ = (lo, hi) if clip else (-math.inf, math.inf)
    model.w0_ = float(w0)
    model.w_ = w_full
    model.V_ = V_full
    model.n_features_in_ = n
    model.n_iter_ = 0
    model.history_ = []
    return model


# -- writing -------------------------------------------------------------------------------------


def save_libfm_model(model, path):
    """Write a fitted FMRegressor/FMClassifier as a libFM text model file (atomic write).

    The file has libFM's layout (module docstring) with exact values (Python repr),
    loadable by ``libFM -load_model`` with ``-dim '1,1,k'`` on data with the same
    features, and by :func:`load_libfm_model`. Only w0, w and V are written: the task,
    the classes and a regressor's clipping range are not part of libFM's format. A
    regressor predicts the same after ``load_libfm_model(path, task="regression",
    y_range=(model.y_min_, model.y_max_))``; without y_range its predictions are not
    clipped, and those outside the training targets' range change.
    """
    from rapidfm._sklearn_compat import NotFittedError
    from rapidfm.estimators import FMClassifier, FMRegressor

    if not isinstance(model, (FMRegressor, FMClassifier)):
        raise TypeError(f"save_libfm_model writes FMRegressor and FMClassifier models, "
                        f"got {type(model).__name__}")
    if not all(hasattr(model, name) for name in ("w0_", "w_", "V_")):
        raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet. "
                             "Call 'fit' before saving it.")
    w0, w, V = float(model.w0_), np.asarray(model.w_), np.asarray(model.V_)
    if not (math.isfinite(w0) and np.isfinite(w).all() and np.isfinite(V).all()):
        raise ValueError("the model holds NaN or infinite parameters; libFM cannot read them")

    def write(fh):
        fh.write(f"{BIAS_HEADER}\n{w0!r}\n{UNARY_HEADER}\n".encode("ascii"))
        fh.write("".join(f"{x!r}\n" for x in w.tolist()).encode("ascii"))
        fh.write(f"{PAIRWISE_HEADER}\n".encode("ascii"))
        rows = V.tolist()
        for start in range(0, len(rows), _BLOCK):
            chunk = "".join(" ".join(map(repr, row)) + "\n" for row in rows[start:start + _BLOCK])
            fh.write(chunk.encode("ascii"))

    atomic_write(path, write)
