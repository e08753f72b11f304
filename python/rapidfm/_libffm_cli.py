"""`rapidfm ffm-train` and `rapidfm ffm-predict`: libffm's command lines on rapidfm's FFM.

A libffm user replaces ``ffm-train`` / ``ffm-predict`` with ``rapidfm ffm-train`` /
``rapidfm ffm-predict`` and keeps the flags, the data files and the console table.
What was checked against libffm's source (ycjuan/libffm at af3ae37: ``README``,
``ffm-train.cpp``, ``ffm-predict.cpp``, ``ffm.cpp``) and against the output of the
real program (``shared/reference/libffm-af3ae37``):

- ``ffm-train [options] training_set_file [model_file]``; the model file defaults
  to the training file's base name + ``.model``, in the current folder. Flags and
  defaults: ``-l`` lambda, the L2 strength of the latent vectors (2e-5), ``-k``
  factors (4), ``-t`` iterations (15), ``-r`` eta (0.2), ``-s`` threads (1), ``-p``
  validation file, ``--quiet`` (nothing on stdout), ``--no-norm`` (no instance-wise
  normalization), ``--auto-stop`` (needs ``-p``). ``-k``, ``-t``, ``-s`` and ``-r``
  must be > 0, ``-l`` >= 0; a flag given twice takes its last value, as libffm.
- The model: FFMClassifier(n_factors=-k, n_epochs=-t, solver="adagrad",
  learning_rate=-r, reg_factors=-l, reg_linear=0, fit_linear=False, normalize=not
  --no-norm, n_jobs=-s, dtype=float32): libffm's pairs-only model, AdaGrad steps,
  rows scaled to unit L2 norm; the sizes are those of the training file (features:
  largest index + 1, fields: largest field + 1).
- The table: ``iter`` (width 4), ``tr_logloss``, ``va_logloss`` (only with ``-p``) and
  ``tr_time``, each of width 13, losses with 5 decimals, the time with 1.
  tr_logloss is the mean log-loss of the iteration's own pass (each row's loss before
  its update, as libffm sums it), va_logloss the mean log-loss on ``-p``'s rows after
  the iteration, tr_time the cumulative seconds of the training passes (without the
  validation).
- ``--auto-stop``: at the first iteration whose va_logloss is above the best so far,
  the row is printed without tr_time, then ``Auto-stop. Use model at <i-1>th
  iteration.``, and the model of the previous iteration (the best) is written.
- Labels: a label > 0 is the positive class, anything else the negative one (libffm:
  ``atoi(label) > 0``). Values of a feature or a field that the model does not have
  (index >= its features, field >= its fields) are skipped in validation and
  prediction, and the row's norm counts them, as libffm's ``wTx`` and
  ``ffm_predict`` do.
- ``ffm-predict test_file model_file output_file``: one P(+1) per line in C++'s
  default stream format (6 significant digits), then ``logloss = <%.5f>`` on stdout.

Differences that remain:

- The model file is rapidfm's own format (rapidfm.load, ``rapidfm predict``,
  ``rapidfm ffm-predict``), not libffm's binary one: neither program reads the other's.
  No ``.bin`` copy of the data is written; a cache folder made by ``rapidfm convert``
  from libffm text may be given instead of a text file.
- The start differs: the latent vectors start from N(0, 0.1^2) (libffm: uniform
  on [0, 1/sqrt(k)]) and AdaGrad's sums of squared gradients from 0 (libffm: 1), so
  the first iterations take larger steps: on Frappe (``-k 8``) the validation loss
  is lowest at iteration 2-3 (about 0.232) where libffm's is at 8 (0.270). The rows
  come in a fresh random order each iteration; ``--seed N`` (a rapidfm flag; libffm
  has none) with ``-s 1`` makes runs repeatable.
- Options may also follow the file names (libffm stops reading options at the first
  file name). Numbers are parsed strictly (libffm's atoi reads ``-t ten`` as 0).
- Errors go to stderr with exit code 2 for bad usage and 1 for failures (a missing
  or malformed file, a model file that is not an FFMClassifier's); libffm prints
  them on stdout and exits with 1. ``ffm-predict`` also takes ``-`` as output_file
  (stdout; the logloss line then goes to stderr).
"""

import copy
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rapidfm._cli_commands import UsageError, check_output, per_value_fields, write_lines

TRAIN_USAGE = "usage: rapidfm ffm-train [options] training_set_file [model_file]"
PREDICT_USAGE = "usage: rapidfm ffm-predict test_file model_file output_file"

TRAIN_HELP = f"""{TRAIN_USAGE}

libffm's ffm-train (ycjuan/libffm af3ae37) on rapidfm's field-aware FM: the same
options, defaults and per-iteration table (iter, tr_logloss, va_logloss with -p,
tr_time).

options:
-l <lambda>: L2 regularization of the latent vectors (default 0.00002)
-k <factor>: number of latent factors (default 4)
-t <iteration>: number of iterations (default 15)
-r <eta>: learning rate (default 0.2)
-s <nr_threads>: number of threads (default 1)
-p <path>: validation set, evaluated after every iteration
--quiet: print nothing (errors still go to stderr)
--no-norm: do not normalize each instance to unit 2-norm (normalized by default)
--auto-stop: stop when the validation loss rises and keep the model of the
             iteration before (needs -p)

rapidfm extension:
--seed <n>: random seed (default: drawn; with -s 1 a seed makes runs repeatable)

model_file (default: the training file's base name + ".model", in the current
folder) is written in rapidfm's model format, NOT libffm's binary format: read it
with `rapidfm ffm-predict`, `rapidfm predict` or rapidfm.load. Data: libffm text
(label field:index:value ..., plain, gzip or bzip2) or a cache folder that
`rapidfm convert` made from libffm text. A label > 0 is the positive class.

Differences from libffm: the start (V from N(0, 0.1^2), AdaGrad's sums from 0)
and the random numbers; no .bin file is written; options may follow the file
names; exit codes 2 (bad usage) and 1 (failure) with the message on stderr.
The docstring of rapidfm._libffm_cli lists what was checked against libffm.
"""

PREDICT_HELP = f"""{PREDICT_USAGE}

libffm's ffm-predict on a model written by `rapidfm ffm-train` (rapidfm's model
format, not libffm's binary one; any FFMClassifier saved with model.save works):
writes P(label > 0) for every line of test_file to output_file ('-': stdout), with
6 significant digits, and prints the test log-loss as `logloss = 0.12345`. Values
of features or fields the model does not have are skipped, as libffm does.
"""

# flags of other libffm versions, refused with a message that says what to do
OLD_FLAGS = {
    "-v": "-v (cross-validation, in older libffm versions) is not supported: hold out "
          "a validation file and pass it with -p",
    "--norm": "--norm (older libffm versions) is the default: instances are normalized "
              "unless --no-norm is given",
    "--no-rand": "--no-rand (older libffm versions) is not supported: rapidfm visits the "
                 "rows in a random order every iteration (--seed N with -s 1 repeats a run)",
    "--on-disk": "--on-disk (older libffm versions) is not needed: rapidfm reads the text "
                 "file, or a memory-mapped cache folder made by `rapidfm convert`",
}


@dataclass
class TrainOptions:
    tr_path: str = None
    model_path: str = None
    va_path: str = None
    lam: float = 2e-5
    k: int = 4
    iterations: int = 15
    eta: float = 0.2
    threads: int = 1
    quiet: bool = False
    normalize: bool = True
    auto_stop: bool = False
    seed: int = None


def _int(flag, text, what):
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: the {what} must be an integer") from None
    return value


def _float(flag, text, what):
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: the {what} must be a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{flag} {text!r}: the {what} must be finite")
    return value


def _above_zero(flag, value, text, what):
    if value <= 0:
        raise UsageError(f"{flag} {text}: the {what} should be greater than zero")
    return value


# value flags: (what the value is, parse and check text -> the option's value)
_VALUE_FLAGS = {
    "-l": ("lam", "regularization parameter lambda",
           lambda f, t, w: _nonnegative(f, _float(f, t, w), t, w)),
    "-k": ("k", "number of latent factors",
           lambda f, t, w: _above_zero(f, _int(f, t, w), t, w)),
    "-t": ("iterations", "number of iterations",
           lambda f, t, w: _above_zero(f, _int(f, t, w), t, w)),
    "-r": ("eta", "learning rate eta",
           lambda f, t, w: _above_zero(f, _float(f, t, w), t, w)),
    "-s": ("threads", "number of threads",
           lambda f, t, w: _above_zero(f, _int(f, t, w), t, w)),
    "-p": ("va_path", "path to the validation set", lambda f, t, w: t),
    "--seed": ("seed", "random seed",
               lambda f, t, w: _nonnegative(f, _int(f, t, w), t, w)),
}
_SWITCHES = {"--quiet": ("quiet", True), "--no-norm": ("normalize", False),
             "--auto-stop": ("auto_stop", True)}


def _nonnegative(flag, value, text, what):
    if value < 0:
        raise UsageError(f"{flag} {text}: the {what} should not be smaller than zero")
    return value


def parse_train(argv):
    """TrainOptions from ffm-train's arguments, or None for --help."""
    opt = TrainOptions()
    files = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":  # the rest are file names, even those that start with '-'
            files.extend(argv[i + 1:])
            break
        if token in ("-h", "--help"):
            return None
        if token in _VALUE_FLAGS:
            name, what, parse = _VALUE_FLAGS[token]
            if i + 1 >= len(argv):
                raise UsageError(f"need to specify the {what} after {token}")
            setattr(opt, name, parse(token, argv[i + 1], what))
            i += 2
            continue
        if token in _SWITCHES:
            name, value = _SWITCHES[token]
            setattr(opt, name, value)
        elif token in OLD_FLAGS:
            raise UsageError(OLD_FLAGS[token])
        elif token.startswith("-") and token != "-":
            raise UsageError(f"unknown option {token}: ffm-train takes -l -k -t -r -s -p "
                             "--quiet --no-norm --auto-stop (and rapidfm's --seed)")
        else:
            files.append(token)
        i += 1
    if len(files) not in (1, 2):
        got = "no file" if not files else f"{len(files)} files ({' '.join(files)})"
        raise UsageError(f"expected training_set_file [model_file], got {got}")
    opt.tr_path = files[0]
    opt.model_path = files[1] if len(files) == 2 else _basename(files[0]) + ".model"
    if opt.auto_stop and opt.va_path is None:
        raise UsageError("--auto-stop needs a validation set: pass it with -p FILE")
    return opt


def _basename(path):
    """libffm's basename: what follows the last '/' (in the current folder)."""
    return path.rsplit("/", 1)[-1]


def read_libffm(path, what, threads=None):
    """(X, fields, y) of a libffm text file or of a cache folder with fields."""
    from rapidfm.io import load_libffm, open_cache

    path = os.fspath(path)
    if os.path.isdir(path):
        X, fields, y = open_cache(path, with_fields=True)
    else:
        if not os.path.exists(path):
            raise FileNotFoundError(f"cannot load the {what} {path}: no such file")
        X, fields, y = load_libffm(path, dtype=np.float32, n_jobs=threads)
    return X, fields, np.asarray(y)


class LibffmRows:
    """Rows as libffm's model sees them: values of features >= n_features or fields
    >= n_fields are skipped, and with normalize the row's norm counts them (it is
    taken over the whole line, as libffm does). Where something is skipped, the
    values are scaled here and the model must predict without normalizing."""

    def __init__(self, X, fields, n_features, n_fields, normalize):
        nnz = int(X.indptr[-1])
        indices = np.asarray(X.indices[:nnz])
        fields = np.asarray(fields[:nnz])
        keep = (indices < n_features) & (fields < n_fields)
        self.n_skipped = int(nnz - np.count_nonzero(keep))
        self.prescaled = False
        n_rows = X.shape[0]
        if not self.n_skipped:
            if X.shape[1] != n_features:  # narrower than the model: read at its width
                X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=(n_rows, n_features))
            self.X, self.fields = per_value_fields(X, fields)
            return
        indptr = np.asarray(X.indptr, dtype=np.int64)
        rows = np.repeat(np.arange(n_rows), np.diff(indptr))
        data = np.asarray(X.data[:nnz], dtype=np.float64)
        if normalize:
            squares = np.bincount(rows, weights=data * data, minlength=n_rows)
            scale = np.ones(n_rows)
            scale[squares > 0] = 1.0 / np.sqrt(squares[squares > 0])
            data = data * scale[rows]
            self.prescaled = True
        kept = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=n_rows), out=kept[1:])
        X = sp.csr_matrix((data[keep].astype(X.dtype), indices[keep], kept),
                          shape=(n_rows, n_features))
        self.X, self.fields = per_value_fields(X, fields[keep])

    def predictor(self, model):
        """The model, or a shallow copy that does not normalize the prescaled rows."""
        if not self.prescaled:
            return model
        view = copy.copy(model)
        view.normalize_ = False
        return view

    def raw(self, model):
        return self.predictor(model).decision_function(self.X, self.fields)

    def probabilities(self, model):
        return self.predictor(model).predict_proba(self.X, self.fields)[:, 1]


def log_loss(raw, positive):
    """Mean log(1 + exp(-y t)), y = +1 for positive rows, else -1 (libffm's loss)."""
    return float(np.mean(np.logaddexp(0.0, np.where(positive, -raw, raw))))


def _fitted_state(model):
    """A copy of the fitted attributes (the model after an iteration)."""
    state = {}
    for name, value in vars(model).items():
        if name.endswith("_") and not name.startswith("_"):
            if isinstance(value, np.ndarray):
                value = value.copy()
            elif isinstance(value, (list, dict)):
                value = copy.copy(value)
            state[name] = value
    return state


class _Table:
    """The callback that prints libffm's table (and stops at --auto-stop)."""

    def __init__(self, validation, auto_stop, quiet):
        self.validation = validation  # (LibffmRows, positive) or None
        self.auto_stop = auto_stop
        self.quiet = quiet
        self.elapsed = 0.0
        self.best_loss = math.inf
        self.best_state = None
        self.stopped_at = None

    def say(self, text):
        if not self.quiet:
            print(text, flush=True)

    def header(self):
        va = f"{'va_logloss':>13}" if self.validation is not None else ""
        self.say(f"{'iter':>4}{'tr_logloss':>13}{va}{'tr_time':>13}")

    def __call__(self, model, history):
        record = history[-1]
        self.elapsed += float(record["seconds"])
        iteration = len(history)
        line = f"{iteration:4d}{float(record['train_loss']):13.5f}"
        if self.validation is not None:
            rows, positive = self.validation
            va_loss = log_loss(rows.raw(model), positive)
            record["validation_loss"] = va_loss
            line += f"{va_loss:13.5f}"
            if self.auto_stop:
                if va_loss > self.best_loss:
                    self.say(line)
                    self.say(f"Auto-stop. Use model at {iteration - 1}th iteration.")
                    self.stopped_at = iteration
                    return True
                self.best_loss = va_loss
                self.best_state = _fitted_state(model)
        self.say(f"{line}{self.elapsed:13.1f}")
        return False


def train(opt):
    from rapidfm import FFMClassifier

    check_output(opt.model_path, "model_file")
    X, fields, y = read_libffm(opt.tr_path, "training set", opt.threads)
    positive = y > 0
    n_features = X.shape[1]
    n_fields = int(fields.max()) + 1 if len(fields) else 1
    validation = None
    if opt.va_path is not None:
        X_va, fields_va, y_va = read_libffm(opt.va_path, "validation set", opt.threads)
        validation = (LibffmRows(X_va, fields_va, n_features, n_fields, opt.normalize),
                      y_va > 0)
    if positive.all() or not positive.any():
        kind = "positive (> 0)" if positive.all() else "negative (<= 0)"
        raise ValueError(f"every label of the training set {opt.tr_path} is {kind}: "
                         "ffm-train needs both classes")
    # the classes: -1/+1 (libffm's), or 0/1 for a file without negative labels (click
    # logs), so that `rapidfm predict --metrics` reads the file's own labels as classes
    y = np.where(positive, 1.0, -1.0 if bool((y < 0).any()) else 0.0)
    model = FFMClassifier(
        n_factors=opt.k, n_epochs=opt.iterations, solver="adagrad", learning_rate=opt.eta,
        reg_factors=opt.lam, reg_linear=0.0, reg_bias=0.0, normalize=opt.normalize,
        fit_linear=False, n_jobs=opt.threads, random_state=opt.seed, dtype=np.float32)
    table = _Table(validation, opt.auto_stop, opt.quiet)
    model.set_params(callbacks=[table])
    X, fields = per_value_fields(X, fields)
    table.header()
    model.fit(X, y, fields=fields)
    model.set_params(callbacks=None)
    if table.stopped_at is not None and table.best_state is not None:
        model.__dict__.update(table.best_state)  # the iteration before the rise
    model.data_one_based_ = False  # libffm numbers features from 0
    model.save(opt.model_path)
    return 0


def predict(argv):
    import rapidfm
    from rapidfm import FFMClassifier
    from rapidfm.persistence import ModelFileError

    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(PREDICT_HELP)
        return 0
    if len(argv) != 3:
        raise UsageError(f"expected test_file model_file output_file, got {len(argv)} "
                         f"argument{'s' if len(argv) != 1 else ''}")
    test_path, model_path, output_path = argv
    check_output(output_path, "output_file")
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"cannot load the model file {model_path}: no such file")
    try:
        model = rapidfm.load(model_path)
    except ModelFileError as exc:
        raise ModelFileError(f"{exc} (ffm-predict reads the model files of `rapidfm "
                             "ffm-train`, not libffm's binary ones)") from None
    if not isinstance(model, FFMClassifier):
        raise ValueError(f"the model file {model_path} holds a {type(model).__name__} model; "
                         "ffm-predict needs a field-aware classifier (FFMClassifier, as "
                         "`rapidfm ffm-train` writes): use `rapidfm predict` for other "
                         "models")
    X, fields, y = read_libffm(test_path, "test file")
    positive = y > 0
    rows = LibffmRows(X, fields, int(model.n_features_in_), int(model.n_fields_),
                      bool(getattr(model, "normalize_", model.normalize)))
    if rows.n_skipped:
        print(f"note: {test_path}: skipped {rows.n_skipped:,} values of features or fields "
              "that the model does not have, as libffm does", file=sys.stderr)
    p1 = rows.probabilities(model)
    write_lines(output_path, [f"{p:g}" for p in p1.tolist()])
    loss = log_loss(rows.raw(model), positive)
    print(f"logloss = {loss:.5f}", file=sys.stderr if output_path == "-" else sys.stdout,
          flush=True)
    return 0


def run(command, argv):
    """`rapidfm ffm-train` / `rapidfm ffm-predict`; returns the exit code (errors
    propagate to cli.main, which prints them)."""
    if command == "ffm-predict":
        if not argv:
            sys.stderr.write(PREDICT_HELP)
            return 2
        return predict(argv)
    if not argv:  # libffm prints its help; a script calling this by mistake should fail
        sys.stderr.write(TRAIN_HELP)
        return 2
    opt = parse_train(argv)
    if opt is None:
        sys.stdout.write(TRAIN_HELP)
        return 0
    return train(opt)
