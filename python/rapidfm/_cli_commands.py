"""`rapidfm train`, `rapidfm predict` and `rapidfm convert`: what they run.

Conventions shared by the three commands (and stated in their --help):

- Human-readable reports (summaries, metrics, progress) go to stderr; data (the
  predictions of ``predict --out -``) go to stdout, so ``rapidfm predict m d > p``
  captures nothing but predictions.
- Data files: libsvm / libFM text (``--format svmlight``), libffm text (``libffm``;
  ``train --model-kind ffm`` trains a field-aware FM on its fields, a plain FM
  ignores them) or a cache folder written by ``rapidfm convert`` (``cache``; one
  made from libffm text keeps the fields). ``auto`` picks ``cache`` for a folder
  and otherwise looks at the first data line: ``field:index:value`` items mean
  libffm.
- Feature numbering (``--zero-based auto|yes|no``): ``auto`` reads a file without
  index 0 as one-based, like scikit-learn. The decision made for the training
  file is applied to the validation file and stored in the model
  (``data_one_based_``), so ``predict`` numbers its file the same way; an
  ``auto`` guess per file could shift a test file that happens to lack feature 0.
- Field-aware models (``train --model-kind ffm``, FFMClassifier / FFMRegressor):
  the field of every value comes from the libffm file or the cache; ``predict``
  on such a model reads them the same way (or uses the model's per-column
  ``feature_fields_`` when it was fitted with them in Python).
"""

import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rapidfm._fileio import atomic_write
from rapidfm._progress import ConvertProgress, EpochProgress, progress_enabled

ZERO_BASED = {"auto": "auto", "yes": True, "no": False}
DTYPES = {"float32": np.float32, "float64": np.float64}
_SNIFF_BYTES = 1 << 16


class UsageError(Exception):
    """Arguments that parse but do not fit together: exit code 2, like argparse's errors."""


@dataclass
class DataSet:
    X: object  # CSR matrix (memory-mapped arrays for a cache)
    y: np.ndarray
    fmt: str  # "svmlight", "libffm" or "cache"
    one_based: object  # True / False, or None when unknown (a cache without the record)
    seconds: float
    has_fields: bool = False  # libffm data, or a cache made from it: fields an FM ignores
    fields: object = None  # the int32 field of every stored value (has_fields), else None


def check_output(path, what):
    """Fail before hours of training, not after, when an output file cannot be written
    where asked: a folder in its place or a missing parent folder."""
    if path is None or path == "-":
        return
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path} is a folder, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{what} {path}: folder {parent} does not exist")


def read_feature_groups(path, n_features, what):
    """Group ids from libFM's ``-meta`` file: one integer >= 0 per feature, separated
    by whitespace (libFM writes one per line). Like libFM, only the first `n_features`
    ids are read (all for None); G = the largest id + 1 (ids must be < the number of
    features). Returns an int32 array; ValueError naming the file and line when it is
    malformed or too short."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path} is a folder, not a file of group ids")
    ids = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            for token in line.split():
                try:
                    value = int(token)
                except ValueError:
                    value = -1
                if value < 0:
                    text = token.decode("utf-8", "replace")[:40]
                    raise ValueError(f"{what} {path}, line {lineno}: {text!r} is not a group "
                                     "id (an integer >= 0, one per feature line)")
                ids.append(value)
            if n_features is not None and len(ids) >= n_features:
                break
    if not ids:
        raise ValueError(f"{what} {path} holds no group ids (one per feature line)")
    if n_features is not None:
        if len(ids) < n_features:
            raise ValueError(f"{what} {path} has {len(ids)} group ids, but the data have "
                             f"{n_features} features (one id per feature line)")
        ids = ids[:n_features]
    groups = np.asarray(ids, dtype=np.int64)
    if groups.max() >= groups.size:
        raise ValueError(f"{what} {path}: group id {int(groups.max())} for {groups.size} "
                         "features (ids count from 0: G = the largest id + 1)")
    return groups.astype(np.int32)


def sniff_format(path):
    """"cache" for a folder; "libffm" when the first data item is field:index:value;
    else "svmlight"."""
    from rapidfm.textfiles import open_data_file

    path = os.fspath(path)
    if os.path.isdir(path):
        return "cache"
    fh = open_data_file(path)  # plain, gzip or bzip2
    try:
        head = fh.read(_SNIFF_BYTES)
    finally:
        fh.close()
    lines = head.split(b"\n")
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines.pop()  # cut off mid-line
    for line in lines:
        items = [t for t in line.split(b"#", 1)[0].split()[1:] if not t.startswith(b"qid:")]
        if items:
            return "libffm" if items[0].count(b":") == 2 else "svmlight"
    return "svmlight"  # no data line: the reader reports that with the file name


def _cache_has_fields(path):
    try:
        with open(os.path.join(path, "header.json")) as fh:
            return "fields" in json.load(fh).get("arrays", {})
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def _cache_one_based(path):
    """The numbering of the text file a cache was converted from, when it says."""
    try:
        with open(os.path.join(path, "header.json")) as fh:
            source = json.load(fh).get("source")
        value = source.get("one_based") if isinstance(source, dict) else None
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def with_width(X, n_features):
    """X with n_features columns (>= its own), sharing its arrays: a memory-mapped
    cache stays mapped (scipy's constructor would copy mixed index dtypes)."""
    if n_features is None or n_features == X.shape[1]:
        return X
    wider = sp.csr_matrix((X.shape[0], int(n_features)), dtype=X.dtype)
    wider.indptr, wider.indices, wider.data = X.indptr, X.indices, X.data
    return wider


def per_value_fields(X, fields):
    """(X, fields) that a field-aware estimator reads as one field per stored value.

    The estimators take a fields array of X's nnz as per value and one of X's width
    as per column, and refuse one that is both (nnz == width). Then the last value of
    the first non-empty row is repeated with the value 0: the estimators sum repeats
    of a (feature, field) key of a row, so the rows they train and predict on are
    exactly those of X.
    """
    nnz = int(X.indptr[-1])
    if fields is None or nnz == 0 or nnz != X.shape[1]:
        return X, fields
    indptr = np.asarray(X.indptr, dtype=np.int64)
    row = int(np.flatnonzero(np.diff(indptr))[0])
    at = int(indptr[row + 1])  # after the row's last value
    indices = np.asarray(X.indices[:nnz])
    fields = np.asarray(fields[:nnz])
    indices = np.insert(indices, at, indices[at - 1])
    fields = np.insert(fields, at, fields[at - 1])
    data = np.insert(np.asarray(X.data[:nnz]), at, 0)
    indptr = indptr.copy()
    indptr[row + 1:] += 1
    return sp.csr_matrix((data, indices, indptr), shape=X.shape), fields


def read_data(path, fmt="auto", zero_based="auto", dtype=np.float32, threads=None,
              one_based_because=None):
    """A DataSet from a text file or a cache folder (width: the largest index + 1).

    one_based_because: with zero_based=False, why the file is read as numbered from 1
    (the model's or the training file's numbering), for the error raised when it holds
    index 0; None means the user's --zero-based no.
    """
    from rapidfm.io import load_libffm, load_svmlight, open_cache

    path = os.fspath(path)
    start = time.perf_counter()
    if fmt == "auto":
        fmt = sniff_format(path)
    if fmt == "cache":
        if _cache_has_fields(path):  # memory-mapped too: costs nothing until used
            X, fields, y = open_cache(path, with_fields=True)
        else:
            (X, y), fields = open_cache(path), None
        return DataSet(X, y, fmt, _cache_one_based(path), time.perf_counter() - start,
                       fields is not None, fields)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not a {fmt} file (a cache folder is "
                                "read with --format cache or auto)")
    if fmt == "libffm":
        if zero_based is False:
            raise UsageError("libffm files are numbered from 0: --zero-based no does not apply")
        X, fields, y = load_libffm(path, dtype=dtype, n_jobs=threads)
        return DataSet(X, y, fmt, False, time.perf_counter() - start, True, fields)
    if zero_based is True:
        X, y = load_svmlight(path, dtype=dtype, zero_based=True, n_jobs=threads)
        return DataSet(X, y, fmt, False, time.perf_counter() - start)
    # read unshifted, then shift here: "auto" decides as load_svmlight's "auto" does (no
    # index 0 stored means one-based) and the decision is kept for the files that follow;
    # a file read as one-based that holds index 0 gets an error in the command's terms
    # (the library's names a Python argument)
    X, y = load_svmlight(path, dtype=dtype, zero_based=True, n_jobs=threads)
    zeros = np.flatnonzero(np.asarray(X.indices) == 0)
    if zero_based is False and zeros.size:
        row = int(np.searchsorted(np.asarray(X.indptr), zeros[0], side="right"))
        because = one_based_because or "--zero-based no reads it as numbered from 1"
        raise ValueError(f"{path}: data row {row} has feature index 0, but {because}")
    one_based = (X.nnz > 0 and not zeros.size) if zero_based == "auto" else True
    if one_based:
        X = sp.csr_matrix((X.data, X.indices - 1, X.indptr),
                          shape=(X.shape[0], max(X.shape[1] - 1, 0)))
    return DataSet(X, y, fmt, bool(one_based), time.perf_counter() - start)


def numbering_of(data, requested):
    """zero_based for a second file that must be numbered like `data`."""
    if data.one_based is None:
        return requested
    return not data.one_based


def _describe(path, data):
    X = data.X
    where = {"cache": "cache", "libffm": "libffm"}.get(data.fmt, "svmlight")
    if data.fmt == "svmlight":
        where += ", one-based" if data.one_based else ", zero-based"
    return (f"{path}: {X.shape[0]:,} rows x {X.shape[1]:,} features, {X.nnz:,} nonzeros "
            f"({where}), read in {data.seconds:.2f} s")


def _say(args, text):
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def _loss_report(model):
    """(name, function from history's train_loss to the reported number)."""
    from rapidfm import FMClassifier

    if isinstance(model, FMClassifier):
        return "log-loss", float
    return "RMSE", lambda loss: float(np.sqrt(loss))


# -- train --------------------------------------------------------------------------------


# the default --epochs of each --model-kind (ffm: libffm's -t, as FFMClassifier's)
DEFAULT_EPOCHS = {"fm": 25, "ffm": 15}


def _max_field(fields):
    return int(np.max(fields)) if fields is not None and len(fields) else -1


def run_train(args):
    from rapidfm import FFMClassifier, FFMRegressor, FMClassifier, FMRegressor
    from rapidfm._validation import effective_n_threads

    ffm = args.model_kind == "ffm"
    if args.model in ("fm", "ffm") and not os.path.exists(args.model):
        raise UsageError(f"--model is the model file to write ({args.model!r} would be a file "
                         f"of that name): the kind of model is --model-kind {args.model}")
    if args.epochs is None:
        args.epochs = DEFAULT_EPOCHS[args.model_kind]
    check_output(args.model, "--model")
    _check_plot(args)
    _check_solver_options(args)
    _check_kind_options(args)
    dtype = DTYPES[args.dtype]
    zero_based = ZERO_BASED[args.zero_based]
    data = read_data(args.data, args.format, zero_based, dtype, args.threads)
    if args.n_features is not None:
        if args.n_features < data.X.shape[1]:
            raise ValueError(f"{args.data} has {data.X.shape[1]} features (largest index + 1), "
                             f"more than --n-features {args.n_features}")
        data.X = with_width(data.X, args.n_features)
    _say(args, f"read {_describe(args.data, data)}")
    n_fields = None
    if ffm:
        if data.fields is None:
            raise ValueError(f"--model-kind ffm needs the field of every value, and "
                             f"{args.data} holds none ({data.fmt} data): train on a libffm "
                             "file (label field:index:value ...) or a cache converted from one")
        n_fields = _max_field(data.fields) + 1
        if args.n_fields is not None:
            if args.n_fields < n_fields:
                raise ValueError(f"{args.data} has field {n_fields - 1}, more than --n-fields "
                                 f"{args.n_fields} allows (ids 0..{args.n_fields - 1})")
            n_fields = args.n_fields
    elif data.has_fields:
        _say(args, f"note: {args.data} holds libffm fields; rapidfm trains a plain FM, which "
                   "ignores them (--model-kind ffm trains a field-aware FM on them)")
    task = _task_of(args, data.y)
    n_features = data.X.shape[1]

    eval_set = None
    if args.validation is not None:
        because = (f"the training file {args.data} was read as numbered from 1: number both "
                   "files alike (--zero-based yes reads both from 0)")
        val = read_data(args.validation, "auto" if args.format == "cache" else args.format,
                        numbering_of(data, zero_based), dtype, args.threads, because)
        if val.X.shape[1] > n_features:
            raise ValueError(f"validation file {args.validation} has {val.X.shape[1]} features, "
                             f"the training data {n_features} (pass --n-features to make "
                             "room for features that only the validation rows have)")
        eval_set = (with_width(val.X, n_features), val.y)
        if ffm:
            if val.fields is None:
                raise ValueError(f"--model-kind ffm needs the field of every value, and the "
                                 f"validation file {args.validation} holds none ({val.fmt} "
                                 "data): use a libffm file or a cache converted from one")
            if _max_field(val.fields) >= n_fields:
                raise ValueError(f"validation file {args.validation} has field "
                                 f"{_max_field(val.fields)}, the training data {n_fields} "
                                 "fields (pass --n-fields to make room for fields that only "
                                 "the validation rows have)")
            X_val, val_fields = per_value_fields(eval_set[0], val.fields)
            eval_set = (X_val, val.y)
        _say(args, f"read {_describe(args.validation, val)}")

    # --reg is the shorthand for both; --reg-linear / --reg-factors override it; unset,
    # they keep the estimators' defaults
    params = dict(
        n_factors=args.factors, n_epochs=args.epochs, reg_bias=args.reg_bias,
        init_std=args.init_std, n_jobs=args.threads,
        random_state=args.seed, dtype=dtype, early_stopping=args.early_stopping,
        validation_fraction=args.validation_fraction, n_iter_no_change=args.patience,
    )
    for name, value in (("reg_linear", args.reg_linear), ("reg_factors", args.reg_factors)):
        value = args.reg if value is None else value
        if value is not None:
            params[name] = value
    params.update(_solver_params(args, n_features))
    fit_args = {}
    if ffm:
        params.update(n_fields=n_fields, normalize=not args.no_norm,
                      fit_linear=not args.no_linear)
        X_train, fit_args["fields"] = per_value_fields(data.X, data.fields)
        if eval_set is not None:
            fit_args["eval_fields"] = val_fields
        kinds = (FFMClassifier, FFMRegressor)
    else:
        X_train = data.X
        kinds = (FMClassifier, FMRegressor)
    model = kinds[0 if task == "classification" else 1](**params)
    loss_name, report = _loss_report(model)
    verbose = getattr(args, "verbose", False)
    show = progress_enabled(sys.stderr, force=args.progress or verbose, quiet=args.quiet)
    # --verbose: one line per epoch even on a terminal (elsewhere progress is lines anyway)
    progress = EpochProgress(args.epochs, loss_name, report, enabled=show,
                             lines=True if verbose else None)
    model.set_params(callbacks=[_with_rows_per_second(progress, data.X.shape[0])]
                     if show else None)
    start = time.perf_counter()
    with progress:
        model.fit(X_train, data.y, eval_set=eval_set, **fit_args)
    seconds = time.perf_counter() - start

    # the callback is a closure over this run: do not store it (the file would list it
    # as a dropped parameter)
    model.set_params(callbacks=None)
    if data.one_based is not None:
        model.data_one_based_ = bool(data.one_based)
    model.save(args.model)

    last = model.history_[-1]
    solver = f", solver={args.solver!r}"
    text = (f"trained {type(model).__name__}(n_factors={args.factors}{solver}) for "
            f"{model.n_iter_} "
            f"epoch{'s' if model.n_iter_ != 1 else ''} in {seconds:.2f} s on "
            f"{effective_n_threads(args.threads)} thread(s): train {loss_name} "
            f"{report(last['train_loss']):.5f}")
    if model.best_epoch_ is not None:
        text += (f", validation {loss_name} {model.best_validation_loss_:.5f} "
                 f"(best epoch {model.best_epoch_}, kept)")
    _say(args, text)
    _say(args, f"saved {args.model} (seed {model.random_seed_})")
    if getattr(args, "plot", None) is not None:
        from rapidfm.plotting import save_history_plot

        save_history_plot(model, args.plot)
        _say(args, f"wrote {args.plot} (loss per epoch)")
    return 0


# label sets that --task auto reads as the two classes (libsvm/libFM's -1/+1, click logs' 0/1)
_CLASS_LABELS = ({-1.0, 1.0}, {0.0, 1.0})


def _task_of(args, y):
    """--task, or for --task auto the task the labels call for (said on stderr): two
    classes for -1/+1 or 0/1 labels, regression otherwise."""
    if args.task != "auto":
        return args.task
    y = np.asarray(y)
    low, high = float(y.min()), float(y.max())  # O(n), no sort: a cache may be huge
    two_values = low != high and bool(np.all((y == low) | (y == high)))
    shown = " and ".join(_number_text([low, high]))
    if two_values and {low, high} in _CLASS_LABELS:
        _say(args, f"task: classification (--task auto: the labels are {shown}; "
                   "--task regression fits them as numbers)")
        return "classification"
    if two_values:
        _say(args, f"warning: the labels take only two values, {shown}: --task auto fits a "
                   "regressor to them (--task classification fits a classifier)")
    return "regression"


def _check_plot(args):
    """--plot: UsageError before any data is read when matplotlib is missing or the file
    extension is not an image format it writes."""
    path = getattr(args, "plot", None)
    if path is None:
        return
    check_output(path, "--plot")
    from rapidfm.plotting import check_plot_path

    try:
        check_plot_path(path)
    except (ImportError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _check_solver_options(args):
    """UsageError for an option that the chosen --solver does not use (before any data
    is read)."""
    solver = args.solver
    if solver in _ROW_SOLVERS:
        if args.feature_groups is not None:
            raise UsageError(f"--feature-groups applies to --solver als and mcmc ({solver} "
                             "has one regularization for all features)")
    elif args.block_rows is not None or args.shuffle != "auto":
        raise UsageError(f"--block-rows and --shuffle apply to --solver adagrad, sgd and "
                         f"ftrl; {solver} sweeps over the features, not the rows")
    if solver != "ftrl" and (args.reg_linear_l1, args.ftrl_beta) != (None, None):
        raise UsageError("--reg-linear-l1 and --ftrl-beta apply to --solver ftrl")
    if solver == "mcmc" and (args.reg, args.reg_linear, args.reg_factors) != (None,) * 3:
        raise UsageError("--reg, --reg-linear and --reg-factors do not apply to --solver "
                         "mcmc: its hyperpriors learn the regularization of w and V "
                         "(--reg-bias is the prior precision of w0)")
    if solver != "mcmc" and args.n_kept_samples is not None:
        raise UsageError("--n-kept-samples applies to --solver mcmc")
    if solver == "mcmc" and args.early_stopping:
        raise UsageError("--early-stopping does not apply to --solver mcmc: its prediction "
                         "averages the samples of the chain, there is no best sweep to keep "
                         "(--validation reports the validation loss of the average)")


_ROW_SOLVERS = ("adagrad", "sgd", "ftrl")  # the SGD family: epochs over the rows


def _check_kind_options(args):
    """UsageError for options that the chosen --model-kind does not take."""
    if args.model_kind == "ffm":
        if args.solver not in _ROW_SOLVERS:
            raise UsageError(f"--model-kind ffm trains with --solver adagrad (default), sgd "
                             f"or ftrl; {args.solver} is a solver of the plain FM")
        return
    used = [flag for flag, value in (("--no-norm", args.no_norm),
                                     ("--no-linear", args.no_linear),
                                     ("--n-fields", args.n_fields is not None)) if value]
    if used:
        raise UsageError(f"{', '.join(used)} appl{'ies' if len(used) == 1 else 'y'} to "
                         "--model-kind ffm (a field-aware FM)")


def _solver_params(args, n_features):
    """The estimator parameters of --solver and of the options of that solver."""
    if args.solver in _ROW_SOLVERS:
        params = dict(solver=args.solver, learning_rate=args.learning_rate,
                      schedule=args.schedule, shuffle=args.shuffle)
        if args.block_rows is not None:  # only when asked: the default: one global shuffle
            params["block_rows"] = args.block_rows
        for name in ("reg_linear_l1", "ftrl_beta"):
            if getattr(args, name) is not None:
                params[name] = getattr(args, name)
        return params
    params = dict(solver=args.solver)
    if args.feature_groups is not None:
        params["feature_groups"] = read_feature_groups(args.feature_groups, n_features,
                                                       "--feature-groups")
    if args.n_kept_samples is not None:
        params["n_kept_samples"] = args.n_kept_samples
    return params


def _with_rows_per_second(progress, n_rows):
    """The progress callback, fed rows/s where a solver's history lacks it (ALS/MCMC)."""
    def callback(model, history):
        record = history[-1]
        if "rows_per_second" not in record:
            record = dict(record, rows_per_second=n_rows / max(record["seconds"], 1e-9))
        return progress(model, [record])

    return callback


# -- predict ------------------------------------------------------------------------------


def _number_text(values):
    """Shortest text that reads back to the same double; '1' rather than '1.0'."""
    out = []
    for v in np.asarray(values, dtype=np.float64).tolist():
        text = repr(v)
        out.append(text[:-2] if text.endswith(".0") else text)
    return out


def _label_text(labels):
    labels = np.asarray(labels)
    if labels.dtype.kind in "fiub":
        return _number_text(labels)
    return [str(v) for v in labels.tolist()]


def write_lines(path, lines):
    """One item per line to `path` (atomically) or to stdout for '-'."""
    step = 1 << 16
    if path == "-":
        for start in range(0, len(lines), step):
            sys.stdout.write("".join(f"{t}\n" for t in lines[start:start + step]))
        sys.stdout.flush()
        return

    def write(fh):
        for start in range(0, len(lines), step):
            fh.write("".join(f"{t}\n" for t in lines[start:start + step]).encode())

    atomic_write(path, write)


def run_predict(args):
    import rapidfm
    from rapidfm import FMClassifier

    check_output(args.out, "--out")
    model = rapidfm.load(args.model)
    model.set_params(n_jobs=args.threads)
    zero_based = ZERO_BASED[args.zero_based]
    because = None
    if zero_based == "auto" and isinstance(getattr(model, "data_one_based_", None), bool):
        zero_based = not model.data_one_based_  # number the file as the training file was
        because = (f"the model {args.model} numbers features from 1 (its training file was "
                   "one-based): the file does not fit the model, or is numbered from 0 "
                   "(then pass --zero-based yes)")
    data = read_data(args.data, args.format, zero_based, model.V_.dtype.type, args.threads,
                     because)
    ffm = getattr(model, "_model_kind", "fm") == "ffm"
    if ffm and data.fields is None and getattr(model, "feature_fields_", None) is None:
        raise ValueError(f"the model {args.model} is a field-aware FM "
                         f"({type(model).__name__}): it needs the field of every value, and "
                         f"{args.data} holds none ({data.fmt} data); predict on a libffm file "
                         "or a cache converted from one")
    n = int(model.n_features_in_)
    if data.X.shape[1] > n:
        raise ValueError(
            f"{args.data} has {data.X.shape[1]} features (largest index + 1), but the model "
            f"{args.model} was trained on {n}: the data do not match the model"
            + ("" if data.fmt != "svmlight" else
               f" (read as {'one' if data.one_based else 'zero'}-based; see --zero-based)"))
    if data.X.shape[1] < n:
        # a text file does not record its width: it is read at the model's, as
        # load_svmlight(path, n_features=model.n_features_in_) reads it in Python
        print(f"note: {args.data} has {data.X.shape[1]:,} features (largest index + 1), read "
              f"as the model's {n:,} (the last {n - data.X.shape[1]:,} are absent from it)",
              file=sys.stderr)
    X = with_width(data.X, n)
    fields = {}  # the fields argument of a field-aware model
    if ffm:
        X, fields["fields"] = _model_fields(model, args, data, X)

    classifier = isinstance(model, FMClassifier)
    if classifier:
        raw = model.decision_function(X, **fields)
        # als / mcmc: a probit model, whose log-loss comes from the probabilities (the
        # fitted link, not the solver's name: adagrad and ftrl fit the logistic one)
        probit = getattr(model, "loss_", "logistic") == "probit"
        p1 = (model.predict_proba(X, **fields)[:, 1]
              if not args.labels or (probit and args.metrics) else None)
        lines = (_label_text(model.classes_[(raw > 0).astype(int)]) if args.labels
                 else _number_text(p1))
    else:
        if args.labels:
            raise UsageError("--labels applies to classification models; this model is a "
                             "regressor")
        pred = model.predict(X, **fields)
        lines = _number_text(pred)
    write_lines(args.out, lines)

    if args.metrics:
        if classifier:
            print(_classification_metrics(model, raw, data.y, args.data,
                                          p1 if probit else None), file=sys.stderr)
        else:
            err = pred - data.y
            print(f"{args.data}: RMSE {np.sqrt(np.mean(err ** 2)):.6g}  MAE "
                  f"{np.mean(np.abs(err)):.6g}  ({err.size:,} rows)", file=sys.stderr)
    return 0


def _model_fields(model, args, data, X):
    """(X, fields) for predicting with a field-aware model: the fields of DATA (libffm
    text or a cache made from it), or None where the model has per-column fields."""
    if data.fields is None:
        return X, None  # fitted with per-column fields (Python): they apply
    n_fields = int(model.n_fields_)
    if _max_field(data.fields) >= n_fields:
        raise ValueError(f"{args.data} has field {_max_field(data.fields)}, but the model "
                         f"{args.model} has {n_fields} fields (ids 0..{n_fields - 1}): the "
                         "data do not match the model")
    return per_value_fields(X, data.fields)


def _classification_metrics(model, raw, y, name, p1=None):
    """Log-loss and accuracy: from the log-odds `raw` (SGD's logistic model), or from
    P(classes_[1]) `p1` when given (the probit models of ALS and MCMC)."""
    classes = model.classes_
    positive = y == classes[1]
    known = positive | (y == classes[0])
    if not known.all():
        found = np.unique(np.asarray(y)[~known])[:5].tolist()
        raise ValueError(f"{name} has labels {found} that are not the model's classes "
                         f"{classes.tolist()}: cannot compute --metrics")
    if p1 is None:
        sign = np.where(positive, 1.0, -1.0)
        logloss = float(np.mean(np.logaddexp(0.0, -sign * raw)))
    else:
        right = np.clip(np.where(positive, p1, 1.0 - p1), 1e-300, 1.0)
        logloss = float(-np.mean(np.log(right)))
    accuracy = float(np.mean((raw > 0) == positive))
    # the probabilities written, where given (MCMC's average of Phi is not a function of
    # its average raw output); else the log-odds, which rank rows as P(classes_[1]) does
    auc = roc_auc(raw if p1 is None else p1, positive)
    auc_text = "n/a (one class only)" if auc is None else f"{auc:.6g}"
    return (f"{name}: log-loss {logloss:.6g}  accuracy {accuracy:.6g}  AUC {auc_text}  "
            f"({y.size:,} rows, positive class {_label_text(classes[1:])[0]})")


def roc_auc(scores, positive):
    """Area under the ROC curve: the chance that a random positive row scores above a
    random negative one, ties counting one half (the Mann-Whitney U statistic over
    n_pos * n_neg, from average ranks; O(n log n)). None when one class is absent."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    # tied scores share the average of the ranks (1-based) they occupy
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    average_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(ordered.size, dtype=np.float64)
    ranks[order] = np.repeat(average_rank, ends - starts)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * float(n_neg)))


# -- convert ------------------------------------------------------------------------------


def run_convert(args):
    from rapidfm.io import DataFileError, convert_to_cache, open_cache

    fmt = args.format
    if fmt == "auto":
        fmt = sniff_format(args.text)
        if fmt == "cache":
            raise ValueError(f"{args.text} is a folder: convert reads a text file")
    zero_based = ZERO_BASED[args.zero_based]
    if fmt == "libffm" and zero_based is False:
        raise UsageError("libffm files are numbered from 0: --zero-based no does not apply")
    show = progress_enabled(sys.stderr, force=args.progress, quiet=args.quiet)
    start = time.perf_counter()
    try:
        with ConvertProgress(args.text, enabled=show) as progress:
            path = convert_to_cache(args.text, args.cache, fmt=fmt, n_features=args.n_features,
                                    zero_based=zero_based, dtype=DTYPES[args.dtype],
                                    n_jobs=args.threads, progress=progress)
    except DataFileError as exc:
        if "zero_based=False" not in exc.what:
            raise
        # the library's message names its Python argument; say it with the flag
        raise DataFileError(exc.path, exc.line, "has feature index 0, but --zero-based no "
                            "reads it as numbered from 1: use --zero-based yes or auto") from None
    seconds = time.perf_counter() - start
    X, _ = open_cache(path)
    one_based = _cache_one_based(path)
    numbering = "" if one_based is None else (", one-based" if one_based else ", zero-based")
    _say(args, f"wrote cache {path}: {X.shape[0]:,} rows x {X.shape[1]:,} features, "
               f"{X.nnz:,} nonzeros ({fmt}{numbering}) in {seconds:.2f} s")
    return 0
