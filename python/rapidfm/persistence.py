"""Saving and loading fitted models in a versioned, pickle-free single-file format.

``model.save(path)`` (or ``save_model(model, path)``) writes a fitted FMRegressor
or FMClassifier; ``rapidfm.load(path)`` reads it back. Reading never unpickles
anything, so a model file from an untrusted source cannot run code; it can only
be refused (with :class:`ModelFileError`).

File format, version 2
----------------------
A model file is a ZIP archive, uncompressed (stored members, ZIP64 extensions
allowed) - the container of NumPy's ``.npz`` files, so ``np.load(path,
allow_pickle=False)`` and any unzip tool can read it. Its members, in this order:

``header.json``
    A UTF-8 JSON object (strict JSON: no NaN/Infinity literals) with the keys

    ``format``           ``"rapidfm-model"``
    ``format_version``   ``2`` (:data:`FORMAT_VERSION`); readers refuse larger numbers
    ``rapidfm_version``  the rapidfm version that wrote the file (informative)
    ``estimator``        the estimator class, by its name in rapidfm's estimator registry
                         (``rapidfm._registry``): ``"FMRegressor"`` or ``"FMClassifier"``
                         (a subclass is saved as its nearest registered base class)
    ``model_kind``       ``"fm"`` (a factorization machine: w0, w, V)
    ``task``             ``"regression"`` (FMRegressor) or ``"binary_classification"``
                         (FMClassifier); must agree with ``estimator``
    ``solver``           the estimator's ``solver`` parameter, the algorithm that trained
                         (and, with warm_start, goes on training) the model: ``"sgd"``,
                         ``"als"`` or ``"mcmc"``; equal to ``params["solver"]``
    ``solver_state``     list of the fitted attributes (stored under ``attributes`` or as
                         array members) that are the solver's own state beyond w0_, w_
                         and V_: for ``"mcmc"`` the chain - ``samples_w0_`` (S,),
                         ``samples_w_`` (S, n_features), ``samples_V_`` (S, n_features,
                         n_factors), ``alpha_`` (noise precision), ``mu_w_``, ``lambda_w_``
                         (G,) and ``mu_v_``, ``lambda_v_`` (G, n_factors) for G feature
                         groups; empty (``[]``) for ``"sgd"`` and ``"als"``
    ``params``           ``get_params()``, values encoded as below. Values that cannot be
                         represented without pickle - the callables in ``callbacks``, a
                         numpy Generator or RandomState ``random_state`` - are stored as
                         ``null`` and named in ``params_dropped``
    ``params_dropped``   list of the parameter names stored as ``null`` for that reason
    ``attributes``       the fitted attributes (instance attributes whose names end with
                         ``_`` and do not start with ``_``) that are not array members:
                         ``w0_``, ``n_features_in_``, ``n_iter_``, ``history_``, ``y_min_``,
                         ``classes_`` when the labels are strings, ...; values encoded as below
    ``arrays``           ``{name: {"shape": [...], "dtype": "<f4", "sha256": "<hex>"}}``, one
                         entry per array member; ``sha256`` is the SHA-256 of the array's
                         data bytes (C order, as stored after the .npy header)

``<name>.npy``
    One member per entry of ``arrays``: a fitted ndarray attribute of numeric dtype (bool,
    integer, float, complex) as a standard ``.npy`` file (format 1.0 or 2.0, C order, no
    object dtype): always ``w_`` (n_features,) and ``V_`` (n_features, n_factors) of
    float32 or float64, plus e.g. ``classes_`` when the labels are numbers and the
    MCMC chain's arrays.

Archive comment (the last bytes of the file)
    ``rapidfm-sha256:`` followed by 64 lowercase hex digits: the SHA-256 of every byte
    of the file before those 64 digits. Any changed byte - in the arrays, the header or
    the ZIP structure itself - is detected by it; the per-array digests also let a
    reader that extracted a member check it on its own.

Value encoding in ``params`` and ``attributes``: JSON null, true/false, numbers,
strings, arrays and objects stand for None, bool, int or float, str, list and a dict
with string keys (none starting with ``__``). Anything else is a JSON object with one
tag key:

- ``{"__float__": "nan" | "inf" | "-inf"}``: a non-finite float
- ``{"__scalar__": value, "dtype": "<i8"}``: a numpy scalar such as ``np.int64(3)``
- ``{"__tuple__": [...]}``: a tuple
- ``{"__dict__": [[key, value], ...]}``: any other dict (keys of other types)
- ``{"__bytes__": "<hex>"}``: bytes
- ``{"__dtype__": "float32"}``: a numpy dtype object
- ``{"__type__": "numpy.float32" | "float" | ...}``: a scalar type, e.g. the default
  ``dtype=np.float32`` (only numpy scalar types and bool/int/float/complex/str/bytes)
- ``{"__ndarray__": [flat items], "dtype": "<U3", "shape": [2]}``: an array of
  non-numeric dtype (strings, bytes, objects) or one nested inside another value

Loading checks, before building the estimator: the ZIP structure and member CRCs,
``format`` and ``format_version``, the file digest, that the members are exactly
``header.json`` plus the declared arrays, each array's .npy header against its
declared shape and dtype and its data against its sha256, and then the model's
consistency (``V_`` 2-D float32/float64 with ``n_features_in_`` rows, ``w_`` of the
same dtype and length, finite values, ``w0_`` a finite number, two ``classes_`` for a
classifier, ``y_min_ <= y_max_`` for a clipping regressor). For version 2 also: a
known ``model_kind``, a ``task`` matching the estimator, a known ``solver`` (one of
the above or of ``rapidfm.solvers.SOLVERS``) equal to the ``solver`` parameter, a
``solver_state`` naming exactly the solver's state attributes the file stores, and a
complete, consistent MCMC state wherever the model has one (all eight attributes;
the same number S >= 1 of samples in each ``samples_*`` array, their shapes matching
``V_``; ``mu_*``/``lambda_*`` of G >= 1 groups; finite values, ``alpha_`` and the
``lambda_*`` > 0; ``feature_groups`` within the G groups). Every failure raises
:class:`ModelFileError` (a ValueError) naming the file and the problem (for an
unknown ``solver``, ``model_kind`` or ``task``: the value); a missing file raises
FileNotFoundError.

Version 1 (rapidfm before the ALS and MCMC solvers) is version 2 without the keys
``model_kind``, ``task``, ``solver`` and ``solver_state``; such a file is read as
model kind ``"fm"``, the estimator's task, solver ``"sgd"`` (its ``params`` lack
``solver``; the model gets ``solver="sgd"``) and no solver state.

Compatibility: files of format version <= :data:`FORMAT_VERSION` load in this and
later rapidfm versions; parameters missing from an older file take their defaults.
A file naming a parameter, solver, model kind or task this rapidfm does not know is
refused (it was written by a newer rapidfm) rather than loaded with a silently
ignored setting.

Writes are atomic: the file is written under a temporary name in the target's folder,
flushed and fsync'ed, then renamed over the target with ``os.replace``; if anything
fails the temporary file is removed and an existing target is left untouched.

Pickle, joblib, ``copy.deepcopy`` and ``sklearn.base.clone`` also work on the
estimators (plain attribute state), but only this format is safe to load from
untrusted sources and stable across rapidfm versions.
"""

import hashlib
import json
import math
import os
import re
import struct
import zipfile

import numpy as np

from rapidfm import _registry
from rapidfm._fileio import atomic_write
from rapidfm._sklearn_compat import NotFittedError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "load", "save_model"]

FORMAT_NAME = "rapidfm-model"
FORMAT_VERSION = 2
HEADER_MEMBER = "header.json"

_DIGEST_PREFIX = b"rapidfm-sha256:"
_DIGEST_HEX_LEN = 64
_ZIP_MAGIC = b"PK\x03\x04"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: saving twice gives identical bytes
_CHUNK = 1 << 22
# solvers this module knows (rapidfm.solvers.SOLVERS, where it exists, may add more), and the
# fitted attributes that are each one's state beyond w0_, w_, V_ (the header's solver_state)
_SOLVERS = ("sgd", "als", "mcmc")
_SOLVER_STATE = {
    "sgd": (),
    "als": (),
    "mcmc": ("samples_w0_", "samples_w_", "samples_V_", "alpha_", "mu_w_", "lambda_w_",
             "mu_v_", "lambda_v_"),
}
_MCMC_STATE = _SOLVER_STATE["mcmc"]
_V1_SOLVER = "sgd"  # files from before the solver parameter existed were trained by SGD
_REQUIRED = ("w0_", "w_", "V_", "n_features_in_")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
# what zipfile, json and numpy raise on damaged input (RuntimeError: a flipped bit can make
# zipfile believe a member is encrypted; NotImplementedError: an unknown compression)
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, TypeError, OSError,
                EOFError, KeyError, IndexError, OverflowError, RecursionError, RuntimeError,
                NotImplementedError, struct.error)
_MEMBER_KINDS = "biufc"  # ndarray attributes of these dtype kinds become .npy members
_JSON_ARRAY_KINDS = "biufUSO"  # dtype kinds an {"__ndarray__": ...} value may have


class ModelFileError(ValueError):
    """A file that cannot be loaded as a rapidfm model: not a model file, truncated,
    corrupted, inconsistent, or written in a newer format version."""


# -- value encoding (JSON with tags) ---------------------------------------------------------


class _Unencodable(TypeError):
    pass


_BUILTIN_TYPES = {"bool": bool, "int": int, "float": float, "complex": complex, "str": str,
                  "bytes": bytes}


def _float_to_json(x):
    if math.isfinite(x):
        return x
    return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _dtype_name(dt):
    """A readable dtype name ('float32') when it names dt exactly, else dt.str ('<U5')."""
    try:
        if np.dtype(dt.name) == dt:
            return dt.name
    except TypeError:
        pass
    return dt.str


def _encode(value):
    """value as JSON-able data (see the module docstring); _Unencodable if impossible."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _JSON_ARRAY_KINDS or value.dtype.names is not None:
            raise _Unencodable(f"ndarray of dtype {value.dtype}")
        return {"__ndarray__": [_encode(item) for item in value.ravel().tolist()],
                "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):  # before the builtins: np.float64 subclasses float
        if value.dtype.kind not in "biufUS":
            raise _Unencodable(f"numpy scalar of dtype {value.dtype}")
        return {"__scalar__": _encode(value.item()), "dtype": value.dtype.str}
    kind = type(value)  # exact types only: an IntEnum or a str subclass is not stored as int/str
    if kind in (bool, int, str):
        return value
    if kind is float:
        return _float_to_json(value)
    if kind is bytes:
        return {"__bytes__": value.hex()}
    if kind is list:
        return [_encode(item) for item in value]
    if kind is tuple:
        return {"__tuple__": [_encode(item) for item in value]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("__") for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, np.dtype):
        return {"__dtype__": _dtype_name(value)}
    if isinstance(value, type):
        for name, builtin in _BUILTIN_TYPES.items():
            if value is builtin:
                return {"__type__": name}
        if issubclass(value, np.generic) and getattr(np, value.__name__, None) is value:
            return {"__type__": "numpy." + value.__name__}
    raise _Unencodable(f"object of type {type(value).__name__}")


def _decode(data):
    """Inverse of _encode; ValueError/TypeError/KeyError on malformed data."""
    if isinstance(data, list):
        return [_decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    tags = [key for key in data if key.startswith("__")]
    if not tags:
        return {key: _decode(value) for key, value in data.items()}
    tag = tags[0]
    expected = {"__float__": {"__float__"}, "__scalar__": {"__scalar__", "dtype"},
                "__tuple__": {"__tuple__"}, "__dict__": {"__dict__"}, "__bytes__": {"__bytes__"},
                "__dtype__": {"__dtype__"}, "__type__": {"__type__"},
                "__ndarray__": {"__ndarray__", "dtype", "shape"}}.get(tag)
    if expected is None or set(data) != expected:
        raise ValueError(f"unknown or malformed tagged value with keys {sorted(data)}")
    payload = data[tag]
    if tag == "__float__":
        if payload not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad __float__ value {payload!r}")
        return float(payload)
    if tag == "__scalar__":
        dt = np.dtype(data["dtype"])
        if dt.kind not in "biufUS":
            raise ValueError(f"bad __scalar__ dtype {dt}")
        return dt.type(_decode(payload))
    if tag == "__tuple__":
        return tuple(_decode(_expect_list(payload)))
    if tag == "__dict__":
        pairs = _decode(_expect_list(payload))
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError("__dict__ must hold [key, value] pairs")
        return {key: value for key, value in pairs}
    if tag == "__bytes__":
        return bytes.fromhex(payload)
    if tag == "__dtype__":
        return np.dtype(payload)
    if tag == "__type__":
        if payload in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[payload]
        name = payload[len("numpy."):] if payload.startswith("numpy.") else None
        result = getattr(np, name, None) if name else None
        if not (isinstance(result, type) and issubclass(result, np.generic)):
            raise ValueError(f"unknown type {payload!r}")
        return result
    # __ndarray__
    dt = np.dtype(data["dtype"])
    if dt.kind not in _JSON_ARRAY_KINDS or dt.names is not None:
        raise ValueError(f"bad __ndarray__ dtype {dt}")
    shape = tuple(data["shape"])
    if not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"bad __ndarray__ shape {data['shape']!r}")
    items = _decode(_expect_list(payload))
    if len(items) != math.prod(shape):
        raise ValueError(f"__ndarray__ of shape {shape} with {len(items)} items")
    if dt.kind == "O":
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = item
    else:
        out = np.array(items, dtype=dt).reshape(-1)
    return out.reshape(shape)


def _expect_list(value):
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON array, got {type(value).__name__}")
    return value


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


# -- saving --------------------------------------------------------------------------------------


def _fitted_attributes(model):
    """The fitted state: instance attributes ending with '_' and not starting with '_'."""
    return {name: value for name, value in sorted(vars(model).items())
            if name.endswith("_") and not name.startswith("_")}


def _array_digest(array):
    return hashlib.sha256(array.reshape(-1).view(np.uint8)).hexdigest()


def _ensure_estimators(name=None):
    """Fill the estimator registry (importing rapidfm.estimators registers its classes)
    when it is empty or lacks `name`; persistence does not import it at module level."""
    known = _registry.registered_estimators()
    if not known or (name is not None and name not in known):
        import rapidfm.estimators  # noqa: F401
        import rapidfm.field_aware  # noqa: F401
        import rapidfm.ranking  # noqa: F401
    if name is not None and name not in _registry.registered_estimators():
        try:  # the neural models register when rapidfm.deep imports (it needs torch)
            import rapidfm.deep  # noqa: F401
        except ImportError:
            pass


def _solver_registry():
    """rapidfm.solvers.SOLVERS ({name: solver class}), or {} where it does not exist
    (imported here, not at module level: the solvers import the estimators' machinery)."""
    try:
        from rapidfm.solvers import SOLVERS
    except ImportError:
        return {}
    return SOLVERS if isinstance(SOLVERS, dict) else dict.fromkeys(SOLVERS)


def _known_solvers():
    """The solver names a model file may record: this module's plus the solver registry's."""
    extra = tuple(name for name in _solver_registry() if isinstance(name, str))
    return _SOLVERS + tuple(name for name in extra if name not in _SOLVERS)


def _solver_state_names(solver, present):
    """The names among `present` of the fitted attributes that are `solver`'s state (its
    class's ``state_attributes`` in the solver registry, else this module's table), in
    that order; None for a solver neither knows."""
    names = getattr(_solver_registry().get(solver), "state_attributes", None)
    if names is None:
        names = _SOLVER_STATE.get(solver)
    if names is None:
        return None
    return [name for name in names if name in present]


def _build_header(model):
    """(header dict, {name: C-contiguous ndarray}) for a fitted model."""
    import rapidfm

    _ensure_estimators()
    estimator = _registry.registered_name(type(model))
    if estimator is None:
        names = " and ".join(sorted(_registry.registered_estimators())) or "registered estimator"
        raise TypeError(f"save_model saves {names} models, got {type(model).__name__}")
    cls = _registry.estimator_class(estimator)
    state = _fitted_attributes(model)
    missing = [name for name in _REQUIRED if name not in state]
    if missing:
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet (no {', '.join(missing)}). "
            "Call 'fit' before saving it."
        )

    solver = getattr(model, "solver", _V1_SOLVER)
    known_solvers = _known_solvers()
    if not isinstance(solver, str) or solver not in known_solvers:
        raise ValueError(f"cannot save {type(model).__name__}: unknown solver {solver!r} "
                         f"(known solvers: {', '.join(known_solvers)})")
    _check_solver_state(model, lambda problem: ValueError(
        f"cannot save {type(model).__name__}: {problem}"))

    params, dropped = {}, []
    for name, value in model.get_params(deep=False).items():
        try:
            params[name] = _encode(value)
        except _Unencodable:
            params[name] = None
            dropped.append(name)

    attributes, arrays, array_meta = {}, {}, {}
    for name, value in state.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in _MEMBER_KINDS:
            array = value if value.flags.c_contiguous else np.array(value, order="C")
            arrays[name] = array
            array_meta[name] = {"shape": list(array.shape), "dtype": array.dtype.str,
                                "sha256": _array_digest(array)}
            continue
        try:
            attributes[name] = _encode(value)
        except _Unencodable as exc:
            raise TypeError(
                f"cannot save fitted attribute {name!r} of {type(model).__name__}: {exc} "
                "has no pickle-free representation"
            ) from None

    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "rapidfm_version": rapidfm.__version__,
        "estimator": estimator,
        "model_kind": _registry.estimator_kind(cls),
        "task": _registry.estimator_task(cls),
        "solver": solver,
        "solver_state": _solver_state_names(solver, state) or [],
        "params": params,
        "params_dropped": dropped,
        "attributes": attributes,
        "arrays": array_meta,
    }
    return header, arrays


def _zipinfo(name):
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_archive(fh, header, arrays):
    """The model file into the seekable binary file fh (see the module docstring)."""
    header_bytes = json.dumps(header, indent=1, allow_nan=False).encode("utf-8")
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.comment = _DIGEST_PREFIX + b"0" * _DIGEST_HEX_LEN  # placeholder, patched below
        zf.writestr(_zipinfo(HEADER_MEMBER), header_bytes)
        for name, array in arrays.items():
            with zf.open(_zipinfo(name + ".npy"), "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    digest = _file_digest(fh, size - _DIGEST_HEX_LEN)
    fh.seek(size - _DIGEST_HEX_LEN)
    fh.write(digest.encode("ascii"))


def _file_digest(fh, n_bytes):
    """SHA-256 (hex) of the first n_bytes of fh."""
    h = hashlib.sha256()
    fh.seek(0)
    left = n_bytes
    while left > 0:
        chunk = fh.read(min(_CHUNK, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h.hexdigest()


def save_model(model, path):
    """Write a fitted registered estimator (FMRegressor, FMClassifier) to `path` (format:
    see the module docstring).

    The write is atomic (temporary file in the same folder, fsync, os.replace). Raises
    NotFittedError for an unfitted model, and TypeError (before touching `path`) when a
    fitted attribute has no pickle-free representation. Parameters that cannot be stored
    (callables in ``callbacks``, a numpy Generator or RandomState ``random_state``) are
    saved as None and listed in the header's ``params_dropped``. ValueError: an unknown
    solver or an incomplete or inconsistent MCMC state.
    """
    header, arrays = _build_header(model)
    atomic_write(path, lambda fh: _write_archive(fh, header, arrays))


# -- loading -------------------------------------------------------------------------------------


def _fail(path, problem):
    return ModelFileError(f"cannot load rapidfm model {os.fspath(path)!r}: {problem}")


def _read_header(zf, path, file_size):
    names = zf.namelist()
    if HEADER_MEMBER not in names:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise _fail(
            path, f"not a rapidfm model file: the archive has no {HEADER_MEMBER} member "
            f"(members: {shown or 'none'}); a plain NumPy .npz file is not a model file")
    info = zf.getinfo(HEADER_MEMBER)
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > file_size:
        raise _fail(path, f"the {HEADER_MEMBER} member is corrupted (size or compression)")
    raw = zf.read(HEADER_MEMBER)  # checks the member's CRC
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(path, f"{HEADER_MEMBER} is not valid JSON ({exc}): the file is "
                    "corrupted") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise _fail(path, f"not a rapidfm model file ({HEADER_MEMBER} has format "
                    f"{found!r}, expected {FORMAT_NAME!r})")
    return header


def _check_version(header, path):
    import rapidfm

    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise _fail(path, f"invalid format_version {version!r} in {HEADER_MEMBER}")
    if version > FORMAT_VERSION:
        raise _fail(
            path, f"the file has model format version {version} (written by rapidfm "
            f"{header.get('rapidfm_version', '?')}), but this rapidfm {rapidfm.__version__} "
            f"reads format versions up to {FORMAT_VERSION}: upgrade rapidfm "
            "(pip install --upgrade rapidfm) to load it")


def _check_file_digest(fh, zf, size, path):
    tail_len = len(_DIGEST_PREFIX) + _DIGEST_HEX_LEN
    if size < tail_len:
        raise _fail(path, "the file is too short to be a model file (truncated?)")
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    recorded = tail[len(_DIGEST_PREFIX):].decode("ascii", "replace")
    if not tail.startswith(_DIGEST_PREFIX) or not _HEX64.match(recorded) or zf.comment != tail:
        raise _fail(path, "the file does not end with its rapidfm-sha256 checksum: it is "
                    "truncated, was modified by another tool, or is corrupted")
    actual = _file_digest(fh, size - _DIGEST_HEX_LEN)
    if actual != recorded:
        raise _fail(path, f"checksum mismatch (the file records sha256 {recorded[:16]}..., its "
                    f"content hashes to {actual[:16]}...): the file is corrupted")


def _check_header_layout(header, path):
    for key, kind in (("estimator", str), ("params", dict), ("params_dropped", list),
                      ("attributes", dict), ("arrays", dict)):
        if not isinstance(header.get(key), kind):
            raise _fail(path, f"{HEADER_MEMBER} lacks {key!r} or it is not a "
                        f"{'JSON object' if kind is dict else kind.__name__}")
    if header["format_version"] >= 2:
        for key in ("model_kind", "task", "solver"):
            if not isinstance(header.get(key), str):
                raise _fail(path, f"{HEADER_MEMBER} lacks {key!r} or it is not a string")
        state = header.get("solver_state")
        if not (isinstance(state, list) and all(isinstance(name, str) for name in state)):
            raise _fail(path, f"{HEADER_MEMBER} lacks 'solver_state' or it is not a list "
                        "of attribute names")
    for name, meta in header["arrays"].items():
        if not _ATTRIBUTE_NAME.match(name):
            raise _fail(path, f"invalid array name {name!r}")
        if (not isinstance(meta, dict) or set(meta) != {"shape", "dtype", "sha256"}
                or not isinstance(meta["shape"], list)
                or not all(type(n) is int and n >= 0 for n in meta["shape"])
                or not isinstance(meta["dtype"], str)
                or not isinstance(meta["sha256"], str) or not _HEX64.match(meta["sha256"])):
            raise _fail(path, f"malformed entry for array {name!r} in {HEADER_MEMBER}: {meta!r}")


def _model_description(header, path):
    """(estimator class, model_kind, task, solver, solver_state) of a checked header: read
    from a version 2 header and checked against the estimator class, or those of a
    version 1 file (model kind "fm", the class's task, solver "sgd", no solver state)."""
    name = header["estimator"]
    _ensure_estimators(name)
    try:
        cls = _registry.estimator_class(name)
    except _registry.UnknownEstimatorError as exc:
        raise _fail(path, str(exc)) from None
    kind, task = _registry.estimator_kind(cls), _registry.estimator_task(cls)
    if header["format_version"] < 2:
        return cls, kind, task, _V1_SOLVER, []
    for key, known, expected, noun in (("model_kind", _registry.MODEL_KINDS, kind, "model kind"),
                                       ("task", _registry.TASKS, task, "task")):
        if header[key] not in known:
            raise _fail(path, f"unknown {key} {header[key]!r} (this rapidfm knows "
                        f"{', '.join(known)}): upgrade rapidfm to load it")
        if header[key] != expected:
            raise _fail(path, f"{key} {header[key]!r} does not match the estimator {name} "
                        f"({noun} {expected!r})")
    known_solvers = _known_solvers()
    if header["solver"] not in known_solvers:
        raise _fail(path, f"unknown solver {header['solver']!r} (this rapidfm knows "
                    f"{', '.join(known_solvers)}): upgrade rapidfm to load it")
    state = header["solver_state"]
    if len(set(state)) != len(state):
        raise _fail(path, f"solver_state {state!r} names an attribute twice")
    stored = set(header["attributes"]) | set(header["arrays"])
    missing = [attr for attr in state if attr not in stored]
    if missing:
        raise _fail(path, f"solver_state names {missing}, which the file does not store")
    solver = header["solver"]
    expected = _solver_state_names(solver, stored)
    if expected is not None:
        if sorted(state) != sorted(expected):
            raise _fail(path, f"solver_state {state!r} does not match the state of solver "
                        f"{solver!r} stored in the file ({expected!r})")
    return cls, kind, task, solver, list(state)


def _read_array(zf, name, meta, path, file_size):
    member = name + ".npy"
    info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > file_size:
        raise _fail(path, f"member {member} is corrupted (size or compression)")
    try:
        declared = np.dtype(meta["dtype"])
    except TypeError:
        raise _fail(path, f"array {name} has an invalid dtype {meta['dtype']!r}") from None
    declared_shape = tuple(meta["shape"])
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise _fail(path, f"member {member} has unsupported .npy version {version}")
        if dtype.hasobject or dtype.kind not in _MEMBER_KINDS or fortran:
            raise _fail(path, f"member {member} holds a {dtype} array"
                        f"{' in Fortran order' if fortran else ''}; only numeric C-order "
                        "arrays are allowed")
        if dtype != declared or shape != declared_shape:
            raise _fail(path, f"array {name} is stored with shape {shape} and dtype {dtype}, "
                        f"but {HEADER_MEMBER} declares shape {declared_shape} and dtype "
                        f"{declared}")
        n_bytes = math.prod(shape) * dtype.itemsize
        if fh.tell() + n_bytes != info.file_size:
            raise _fail(path, f"member {member} has {info.file_size - fh.tell()} data bytes, "
                        f"expected {n_bytes} for shape {shape} and dtype {dtype}")
        buffer = bytearray(n_bytes)
        view = memoryview(buffer)
        position = 0
        while position < n_bytes:
            chunk = fh.read(min(_CHUNK, n_bytes - position))
            if not chunk:
                raise _fail(path, f"member {member} ends early (truncated)")
            view[position:position + len(chunk)] = chunk
            position += len(chunk)
        fh.read(1)  # reaching the end makes zipfile check the member's CRC
    if hashlib.sha256(buffer).hexdigest() != meta["sha256"]:
        raise _fail(path, f"checksum mismatch in array {name}: its data is corrupted")
    if n_bytes == 0:
        array = np.zeros(shape, dtype=dtype)
    else:
        array = np.frombuffer(buffer, dtype=dtype).reshape(shape)  # writable, C order
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_model(model, task, path):
    """The fitted attributes are present and consistent, so that predict is safe."""
    state = vars(model)
    classifier = task == "binary_classification"
    clipping = not classifier and getattr(model, "clip_predictions", False)
    required = list(_REQUIRED)
    if classifier:
        required.append("classes_")
    elif clipping:
        required += ["y_min_", "y_max_"]
    missing = [name for name in required if name not in state]
    if missing:
        raise _fail(path, f"fitted attributes missing: {', '.join(missing)}")
    w0, w, V, n = model.w0_, model.w_, model.V_, model.n_features_in_

    field_aware = _registry.estimator_kind(type(model)) == "ffm"
    ndim = 3 if field_aware else 2
    if not isinstance(V, np.ndarray) or V.ndim != ndim:
        raise _fail(path, f"V_ must be a {ndim}-D array, got "
                          f"{getattr(V, 'shape', type(V).__name__)}")
    if V.dtype not in (np.float32, np.float64):
        raise _fail(path, f"V_ has dtype {V.dtype}; only float32 and float64 are supported")
    if not isinstance(w, np.ndarray) or w.ndim != 1:
        raise _fail(path, f"w_ must be a 1-D array, got {getattr(w, 'shape', type(w).__name__)}")
    if w.dtype != V.dtype:
        raise _fail(path, f"w_ has dtype {w.dtype} but V_ has dtype {V.dtype}")
    if w.shape[0] != V.shape[0]:
        raise _fail(path, f"w_ has {w.shape[0]} entries but V_ has {V.shape[0]} rows")
    if not _is_int(n) or n != V.shape[0]:
        raise _fail(path, f"n_features_in_ is {n!r} but V_ has {V.shape[0]} rows")
    if not _is_real(w0) or not math.isfinite(w0):
        raise _fail(path, f"w0_ must be a finite number, got {w0!r}")
    if not (np.isfinite(w).all() and np.isfinite(V).all()):
        raise _fail(path, "w_ or V_ holds NaN or infinite values")
    for name in ("n_iter_", "t_"):
        if name in state and (not _is_int(state[name]) or state[name] < 0):
            raise _fail(path, f"{name} must be a non-negative int, got {state[name]!r}")
    if "history_" in state and not isinstance(model.history_, list):
        raise _fail(path, f"history_ must be a list, got {type(model.history_).__name__}")
    if classifier:
        classes = model.classes_
        if not isinstance(classes, np.ndarray) or classes.shape != (2,):
            raise _fail(path, f"classes_ must be an array of 2 labels, got {classes!r}")
    elif clipping:
        lo, hi = model.y_min_, model.y_max_
        if not (_is_real(lo) and _is_real(hi)) or not lo <= hi:
            raise _fail(path, f"y_min_ = {lo!r} and y_max_ = {hi!r} do not form a range")
    if field_aware:
        _check_field_layout(model, path)
    if _registry.estimator_kind(type(model)) in ("afm", "deepfm"):
        _check_network_layout(model, path)
    _check_solver_state(model, lambda problem: _fail(path, problem))
    # the kernel wants C-contiguous, writable parameters (fit with warm start updates them)
    for name in ("w_", "V_") + _MCMC_STATE:
        if isinstance(state.get(name), np.ndarray):
            setattr(model, name, np.require(state[name], requirements=["C", "W"]))


def _check_network_layout(model, path):
    """A neural model's flat weights match its layout, and n_fields_ is a field count."""
    state = vars(model)
    missing = [n for n in ("network_weights_", "network_layout_", "n_fields_") if n not in state]
    if missing:
        raise _fail(path, f"fitted attributes missing: {', '.join(missing)}")
    weights, layout = state["network_weights_"], state["network_layout_"]
    if not isinstance(weights, np.ndarray) or weights.ndim != 1 or weights.dtype.kind != "f":
        raise _fail(path, "network_weights_ must be a 1-D float array")
    if not np.isfinite(weights).all():
        raise _fail(path, "network_weights_ holds NaN or infinite values")
    try:
        sizes = [int(np.prod([int(d) for d in shape])) for name, shape in layout
                 if isinstance(name, str)]
    except (TypeError, ValueError):
        sizes = None
    if sizes is None or len(sizes) != len(layout) or sum(sizes) != weights.size:
        raise _fail(path, f"network_layout_ does not describe the {weights.size} weights of "
                          "network_weights_")
    if not _is_int(state["n_fields_"]) or state["n_fields_"] < 1:
        raise _fail(path, f"n_fields_ must be an int >= 1, got {state['n_fields_']!r}")


def _check_field_layout(model, path):
    """A field-aware model's n_fields_ matches V_, and its per-column fields lie in range."""
    state = vars(model)
    missing = [n for n in ("n_fields_", "normalize_", "fit_linear_") if n not in state]
    if missing:
        raise _fail(path, f"fitted attributes missing: {', '.join(missing)}")
    n_fields = state["n_fields_"]
    if not _is_int(n_fields) or n_fields != model.V_.shape[1]:
        raise _fail(path, f"n_fields_ is {n_fields!r} but V_ has {model.V_.shape[1]} fields")
    for name in ("normalize_", "fit_linear_"):
        if not isinstance(state[name], (bool, np.bool_)):
            raise _fail(path, f"{name} must be True or False, got {state[name]!r}")
    fields = state.get("feature_fields_")
    if fields is not None:
        if (not isinstance(fields, np.ndarray) or fields.dtype.kind not in "iu"
                or fields.shape != (model.V_.shape[0],)):
            raise _fail(path, f"feature_fields_ must be an int array of shape "
                              f"({model.V_.shape[0]},), got "
                              f"{getattr(fields, 'shape', type(fields).__name__)}")
        if fields.size and not (0 <= fields.min() and fields.max() < n_fields):
            raise _fail(path, f"feature_fields_ holds field ids outside [0, {n_fields})")
        model.feature_fields_ = np.ascontiguousarray(fields, dtype=np.int32)


def _float_array(value, name, shape, fail):
    """value as a finite float ndarray of the given shape (None: any length), else fail."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise fail(f"MCMC state {name} must be a float array, got "
                   f"{getattr(value, 'dtype', type(value).__name__)}")
    if value.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(value.shape, shape)):
        wanted = ", ".join("S" if n is None else str(n) for n in shape)
        wanted = f"({wanted},)" if len(shape) == 1 else f"({wanted})"
        raise fail(f"MCMC state {name} has shape {value.shape}, expected {wanted}")
    if not np.isfinite(value).all():
        raise fail(f"MCMC state {name} holds NaN or infinite values")
    return value


def _check_solver_state(model, fail):
    """The solver state of `model` is complete and consistent with V_: the solver's own
    check (Solver.check_state) for a registered solver, then the MCMC chain (samples and
    hyperparameters), where the model has any; `fail(problem)` makes the exception to
    raise."""
    name = getattr(model, "solver", None)
    solver = _solver_registry().get(name) if isinstance(name, str) else None
    if solver is not None and hasattr(solver, "check_state"):
        solver.check_state(model, fail)
    state = vars(model)
    present = [name for name in _MCMC_STATE if name in state]
    if not present:
        return
    missing = [name for name in _MCMC_STATE if name not in state]
    if missing:
        raise fail(f"the MCMC state is incomplete: it has {', '.join(present)} but not "
                   f"{', '.join(missing)}")
    V = state.get("V_")
    if not isinstance(V, np.ndarray) or V.ndim != 2:
        return  # _check_model reports that
    n, k = V.shape
    w0s = _float_array(state["samples_w0_"], "samples_w0_", (None,), fail)
    n_samples = w0s.shape[0]
    if n_samples < 1:
        raise fail("MCMC state samples_w0_ holds no sample")
    _float_array(state["samples_w_"], "samples_w_", (n_samples, n), fail)
    _float_array(state["samples_V_"], "samples_V_", (n_samples, n, k), fail)
    alpha = state["alpha_"]
    if isinstance(alpha, np.ndarray) and alpha.ndim == 0 and alpha.dtype.kind in "iuf":
        alpha = alpha.item()
    if not _is_real(alpha) or not (math.isfinite(alpha) and alpha > 0):
        raise fail(f"MCMC state alpha_ (the noise precision) must be a finite number > 0, "
                   f"got {alpha!r}")
    mu_w = _float_array(state["mu_w_"], "mu_w_", (None,), fail)
    n_groups = mu_w.shape[0]
    if n_groups < 1:
        raise fail("MCMC state mu_w_ has no feature group")
    lambda_w = _float_array(state["lambda_w_"], "lambda_w_", (n_groups,), fail)
    _float_array(state["mu_v_"], "mu_v_", (n_groups, k), fail)
    lambda_v = _float_array(state["lambda_v_"], "lambda_v_", (n_groups, k), fail)
    for name, lam in (("lambda_w_", lambda_w), ("lambda_v_", lambda_v)):
        if not (lam > 0).all():
            raise fail(f"MCMC state {name} (prior precisions) must be > 0, but its smallest "
                       f"value is {float(lam.min())!r}")
    groups = getattr(model, "feature_groups", None)
    if groups is not None:
        try:
            groups = np.asarray(groups)
        except (TypeError, ValueError):
            return  # fit validates the parameter; the chain state itself is consistent
        if (groups.shape == (n,) and groups.dtype.kind in "iu" and n
                and not (0 <= groups.min() and groups.max() < n_groups)):
            raise fail(f"feature_groups names groups {groups.min()}..{groups.max()} but the "
                       f"MCMC state has {n_groups} group(s)")


def _build_model(header, arrays, path):
    import rapidfm

    cls, _, task, solver, _ = _model_description(header, path)
    try:
        params = _decode(header["params"])
        attributes = _decode(header["attributes"])
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
        raise _fail(path, f"malformed value in {HEADER_MEMBER}: {exc}") from None
    known = set(cls._get_param_names())
    unknown = sorted(set(params) - known)
    if unknown:
        raise _fail(
            path, f"parameters {unknown} are unknown to {cls.__name__} in rapidfm "
            f"{rapidfm.__version__} (the file was written by rapidfm "
            f"{header.get('rapidfm_version', '?')}): upgrade rapidfm to load it")
    if "solver" in known:
        # a version 1 file was written before the parameter existed: its models are SGD's
        params.setdefault("solver", solver)
        if params["solver"] != solver:
            raise _fail(path, f"the header's solver {solver!r} differs from the solver "
                        f"parameter {params['solver']!r}")
    elif solver != _V1_SOLVER:
        raise _fail(path, f"the model was trained with solver {solver!r}, which "
                    f"{cls.__name__} in rapidfm {rapidfm.__version__} does not have: "
                    "upgrade rapidfm to load it")
    model = cls(**params)
    for name, value in list(attributes.items()) + list(arrays.items()):
        if not _ATTRIBUTE_NAME.match(name):
            raise _fail(path, f"invalid fitted attribute name {name!r}")
        if name in attributes and name in arrays:
            raise _fail(path, f"attribute {name!r} is stored twice")
        setattr(model, name, value)
    _check_model(model, task, path)
    return model


def load(path):
    """Read a model written by ``save()``/``save_model`` and return the fitted estimator.

    Raises FileNotFoundError for a missing file and :class:`ModelFileError` (a
    ValueError) for anything that is not an intact rapidfm model file of a supported
    format version; nothing in the file is unpickled or executed.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise _fail(path, "it is a directory, not a model file")
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            raise _fail(path, "the file is empty (0 bytes)")
        fh.seek(0)
        magic = fh.read(4)
        if len(magic) < len(_ZIP_MAGIC) and _ZIP_MAGIC.startswith(magic):
            raise _fail(path, f"the file is truncated ({size} bytes)")
        if magic != _ZIP_MAGIC:
            raise _fail(path, f"not a rapidfm model file: it does not start with the ZIP "
                        f"signature (first bytes {magic!r})")
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh)
        except _READ_ERRORS as exc:
            raise _fail(path, f"the file is truncated or corrupted (not a readable ZIP "
                        f"archive: {exc})") from None
        try:
            with zf:
                return _load_from_zip(zf, fh, size, path)
        except ModelFileError:
            raise
        except _READ_ERRORS as exc:
            raise _fail(path, f"the file is corrupted ({type(exc).__name__}: {exc})") from None


def _load_from_zip(zf, fh, size, path):
    header = _read_header(zf, path, size)
    _check_version(header, path)
    _check_file_digest(fh, zf, size, path)
    _check_header_layout(header, path)
    names = zf.namelist()
    expected = [HEADER_MEMBER] + [name + ".npy" for name in header["arrays"]]
    if len(set(names)) != len(names) or set(names) != set(expected):
        raise _fail(path, f"the archive members {sorted(names)} do not match the arrays "
                    f"declared in {HEADER_MEMBER} ({sorted(expected)})")
    arrays = {name: _read_array(zf, name, meta, path, size)
              for name, meta in header["arrays"].items()}
    return _build_model(header, arrays, path)
