"""`rapidfm libfm ...`: libFM's command line (version 1.4.4) on rapidfm's SGD.

A libFM user replaces ``libFM`` with ``rapidfm libfm`` and keeps the flags, the
data files and the output files. What was checked against libFM 1.4.4's source
(srendle/libfm: ``src/libfm/libfm.cpp``, ``src/util/cmdline.h``,
``src/libfm/src/fm_learn.h``, ``fm_learn_sgd.h``, ``fm_learn_sgd_element.h``,
``src/util/rlog.h``, ``src/util/matrix.h``, ``src/libfm/src/Data.h``):

- Flags are ``-name value`` (``--name`` too); a flag given twice is an error. The
  defaults are libFM's: ``-dim 1,1,8``, ``-init_stdev 0.1``, ``-iter 100``,
  ``-learn_rate 0.1``, ``-regular 0,0,0`` (one value sets all three), and
  ``-method mcmc`` - which rapidfm does not have, so ``-method sgd`` must be given.
- Data: libFM text files, numbered from 0; the model has
  max(#features of train, test) features (libFM's num_all_attribute; with
  ``-load_model`` also at least the model file's).
- ``-task c``: a target <= 0 is the negative class (-1), anything else +1, in
  train and test alike (libfm.cpp). Accuracy counts y(x) >= 0 as +1
  (fm_learn::evaluate_classification).
- ``-task r``: predictions are clipped to [min, max] of the training targets, in
  SGD updates, in the reported RMSE and in ``-out`` (fm_learn_sgd::predict).
- After every iteration libFM prints ``#Iter=%3d\\tTrain=<m>\\tTest=<m>`` where <m>
  is the RMSE (regression) or the accuracy (classification) of the whole train
  and test set with the current model, and at the end ``Final\\tTrain=..\\tTest=..``;
  numbers in C++'s default stream format (6 significant digits, like %g).
- ``-out``: one prediction per test row, %g with 6 significant digits:
  the clipped value (regression) or P(+1) = 1 / (1 + exp(-y(x))) (classification).
- ``-rlog``: tab-separated, a header line and one row per iteration with libFM's
  SGD columns: ``rmse mae time_pred time_learn time_learn2 time_learn4 rmse_train``
  (regression) or ``accuracy time_pred time_learn time_learn2 time_learn4
  rmse_train`` (classification). rmse/mae/accuracy/time_pred are those of the test
  set (libFM evaluates train, then test, and the test values overwrite the train
  ones); rmse_train holds the train RMSE, or the train accuracy for classification
  (libFM logs its evaluate(train) under that name for both tasks); time_learn2
  and time_learn4 are never set by SGD and hold ``nan``. rapidfm's times are
  wall-clock seconds (libFM measures user CPU time, single-threaded).
- ``-save_model`` / ``-load_model``: libFM's text model file
  (rapidfm.io.save_libfm_model / load_libfm_model). With ``-load_model`` SGD
  continues from the loaded parameters for ``-iter`` iterations (0: predict only).
- ``-validation`` is used by libFM's SGDA only; with ``-method sgd`` libFM prints a
  warning and ignores the file, and so does this command.

Differences that remain (rapidfm's SGD, not libFM's): each iteration visits the
rows in a fresh random order (libFM goes through the file in order and asks for
shuffled files), the bias starts at the mean target (regression) or the base-rate
log-odds (classification) instead of 0, several threads train by default, the
random numbers differ. Not supported yet, each refused with exit code 2 and a
message that names it: ``-method mcmc|als|sgda``, ``-dim`` with k0 = 0 or k1 = 0
(rapidfm always trains the bias and the linear weights), per-layer learning rates
(``-learn_rate a,b,c``), ``-meta``, ``-relation``, ``-cache_size``, MCMC's
internal flags, and ``-iter 0`` without ``-load_model`` (libFM would predict with
its random initial model). Numbers are parsed strictly (libFM's atoi/atof read
``-iter ten`` as 0): a bad value is a usage error naming the flag.
rapidfm extensions: ``-threads N`` (default -1: all cores; 1 gives bit-reproducible
runs with ``-seed``) and ``-dtype float32|float64`` (default float64, libFM's double
precision).
"""

import math
import os
import sys
import textwrap
import time

import numpy as np

from rapidfm._cli_commands import DTYPES, UsageError, check_output, with_width

SUPPORTED = {
    "task": "r=regression, c=binary classification [MANDATORY]",
    "train": "filename for training data [MANDATORY]",
    "test": "filename for test data [MANDATORY]",
    "validation": "filename for validation data (only for SGDA, so ignored with a warning, "
                  "as libFM does)",
    "out": "filename for output: one prediction per test row",
    "dim": "'k0,k1,k2': k0=use bias, k1=use 1-way interactions, k2=dim of 2-way "
           "interactions; default=1,1,8 (rapidfm: k0 and k1 must be 1)",
    "regular": "'r0,r1,r2' for SGD: r0=bias regularization, r1=1-way regularization, "
               "r2=2-way regularization; one value sets all three; default=0",
    "init_stdev": "stdev for initialization of 2-way factors; default=0.1",
    "iter": "number of iterations; default=100",
    "learn_rate": "learn_rate for SGD; default=0.1",
    "method": "learning method: SGD only in rapidfm (libFM's default MCMC, and ALS and "
              "SGDA, are not supported yet)",
    "verbosity": "how much infos to print; default=0",
    "rlog": "write measurements within iterations to a file; default=''",
    "seed": "integer value, default=None",
    "help": "this screen",
    "save_model": "filename for writing the FM model",
    "load_model": "filename for reading the FM model",
}
EXTENSIONS = {
    "threads": "rapidfm extension: training threads, -1 for all cores (default -1)",
    "dtype": "rapidfm extension: float32 or float64 parameters (default float64)",
}
NOT_SUPPORTED = {
    "meta": "-meta (attribute groups for MCMC/ALS regularization) is not supported yet",
    "relation": "-relation (block-structured relational data) is not supported yet",
    "cache_size": "-cache_size (libFM's binary data format) is not supported yet; "
                  "`rapidfm convert` makes rapidfm's memory-mapped cache instead",
    "do_sampling": "-do_sampling is an internal MCMC setting; MCMC is not supported yet",
    "do_multilevel": "-do_multilevel is an internal MCMC setting; MCMC is not supported yet",
    "num_eval_cases": "-num_eval_cases is an MCMC setting; MCMC is not supported yet",
}
_VALUELESS = {"help"}


def print_help(stream=None):
    stream = sys.stdout if stream is None else stream
    stream.write("usage: rapidfm libfm -task r|c -train FILE -test FILE -method sgd "
                 "[libFM flags]\n\nlibFM 1.4.4's command line on rapidfm's SGD: same flags, "
                 "data files,\nconsole lines, -out, -rlog and model files (the docstring of "
                 "rapidfm._libfm_cli\nlists what matches libFM and what differs).\n\n")
    for table in (SUPPORTED, EXTENSIONS):
        for name, text in sorted(table.items()):
            lines = textwrap.wrap(text, 80)
            stream.write(f"  -{name:<14}{lines[0]}\n")
            stream.write("".join(f"{'':17}{line}\n" for line in lines[1:]))
    refused = "not supported yet (refused with exit code 2): " + ", ".join(
        f"-{n}" for n in sorted(NOT_SUPPORTED))
    stream.write("\n" + textwrap.fill(refused, 96) + "\n")


def _looks_like_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def parse_flags(argv):
    """{name: value} from libFM-style arguments (cmdline.h): `-name value` or `--name
    value`; a flag followed by another flag (or nothing) has the value ''. Unlike
    libFM a negative number is taken as a value (-threads -1)."""
    flags = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-") or token in ("-", "--"):
            raise UsageError(f"cannot parse {token!r}: libFM flags are -name value")
        name = token[2:] if token.startswith("--") else token[1:]
        if name in ("h",):
            name = "help"
        if name in flags:
            raise UsageError(f"the parameter -{name} is already specified")
        value = ""
        if i + 1 < len(argv) and (not argv[i + 1].startswith("-")
                                  or _looks_like_number(argv[i + 1])):
            value = argv[i + 1]
            i += 1
        flags[name] = value
        i += 1
    for name in flags:
        if name in NOT_SUPPORTED:
            raise UsageError(NOT_SUPPORTED[name])
        if name not in SUPPORTED and name not in EXTENSIONS:
            raise UsageError(f"unknown flag -{name}: libFM has no such parameter")
    for name, value in flags.items():
        if value == "" and name not in _VALUELESS and name != "regular":
            raise UsageError(f"-{name} needs a value")
    return flags


def _number(flags, name, default, kind=float, low=None, strict=False):
    text = flags.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"-{name} {text!r}: not {'an integer' if kind is int else 'a number'}"
                         ) from None
    if kind is float and not math.isfinite(value):
        raise UsageError(f"-{name} {text!r}: must be finite")
    if low is not None and (value < low or (strict and value == low)):
        raise UsageError(f"-{name} {text!r}: must be {'>' if strict else '>='} {low}")
    return value


def _list(flags, name, kind, default):
    """libFM splits list values at ',' and ';' (cmdline.h's delimiter)."""
    text = flags.get(name)
    if text is None:
        return default
    parts = [p for p in text.replace(";", ",").split(",") if p.strip() != ""]
    try:
        return [kind(p) for p in parts]
    except ValueError:
        raise UsageError(f"-{name} {text!r}: expected comma-separated "
                         f"{'integers' if kind is int else 'numbers'}") from None


class Settings:
    """The validated flags (UsageError for anything rapidfm cannot honour)."""

    def __init__(self, flags):
        method = flags.get("method")
        if method is None:
            raise UsageError("libFM's default method is MCMC, which rapidfm does not support "
                             "yet: pass -method sgd")
        method = method.lower()
        if method in ("mcmc", "als", "sgda"):
            raise UsageError(f"-method {method} is not supported yet: rapidfm trains with "
                             "-method sgd only")
        if method != "sgd":
            raise UsageError(f"unknown method -method {flags['method']!r} (libFM knows sgd, "
                             "sgda, als, mcmc; rapidfm supports sgd)")
        for name in ("task", "train", "test"):
            if name not in flags:
                raise UsageError(f"-{name} is mandatory")
        if flags["task"] not in ("r", "c"):
            raise UsageError(f"-task {flags['task']!r}: use r (regression) or c (binary "
                             "classification)")
        self.classification = flags["task"] == "c"
        self.train, self.test = flags["train"], flags["test"]
        self.out, self.rlog = flags.get("out"), flags.get("rlog")
        self.save_model, self.load_model = flags.get("save_model"), flags.get("load_model")
        self.validation = flags.get("validation")

        dim = _list(flags, "dim", int, [1, 1, 8])
        if len(dim) != 3:
            raise UsageError(f"-dim {flags['dim']!r}: expected 'k0,k1,k2' (three integers)")
        if dim[0] == 0:
            raise UsageError("-dim with k0=0 (no global bias) is not supported yet: "
                             "rapidfm always trains the bias; use -dim '1,1,k'")
        if dim[1] == 0:
            raise UsageError("-dim with k1=0 (no 1-way interactions) is not supported yet: "
                             "rapidfm always trains the linear weights; use -dim '1,1,k'")
        if dim[2] < 0:
            raise UsageError(f"-dim {flags['dim']!r}: k2 (the number of factors) must be >= 0")
        self.k = dim[2]

        reg = _list(flags, "regular", float, [])
        if len(reg) not in (0, 1, 3):
            raise UsageError(f"-regular {flags['regular']!r}: expected 'r0,r1,r2' or one value")
        if any(not math.isfinite(r) or r < 0 for r in reg):
            raise UsageError(f"-regular {flags['regular']!r}: values must be finite and >= 0")
        self.reg = [0.0] * 3 if not reg else (reg * 3 if len(reg) == 1 else reg)

        rates = _list(flags, "learn_rate", float, [0.1])
        if len(rates) == 3:
            raise UsageError("per-layer learning rates (-learn_rate 'a,b,c') are not supported "
                             "yet: pass one value")
        if len(rates) != 1:
            raise UsageError(f"-learn_rate {flags['learn_rate']!r}: expected one number")
        if not (math.isfinite(rates[0]) and rates[0] > 0):
            raise UsageError(f"-learn_rate {flags['learn_rate']!r}: must be a finite number > 0")
        self.learn_rate = rates[0]

        self.init_stdev = _number(flags, "init_stdev", 0.1, low=0.0)
        self.iter = _number(flags, "iter", 100, int, low=0)
        if self.iter == 0 and self.load_model is None:
            raise UsageError("-iter 0 trains nothing: it needs -load_model (predict with a "
                             "saved model)")
        self.seed = _number(flags, "seed", None, int, low=0)
        self.verbosity = _number(flags, "verbosity", 0, int)
        self.threads = _number(flags, "threads", -1, int)
        if self.threads == 0:
            raise UsageError("-threads 0: use a positive count or -1 for all cores")
        dtype = flags.get("dtype", "float64")
        if dtype not in DTYPES:
            raise UsageError(f"-dtype {dtype!r}: use float32 or float64")
        self.dtype = DTYPES[dtype]


def _g(value):
    """C++'s default stream format for a double: %g, 6 significant digits."""
    return f"{value:g}"


def _read(path, what, dtype, threads):
    from rapidfm.io import load_svmlight

    print(f"Loading {what}...\t", flush=True)
    X, y = load_svmlight(path, dtype=dtype, zero_based=True, n_jobs=threads)
    print(f"num_rows={X.shape[0]}\tnum_values={X.nnz}\tnum_features={X.shape[1]}\t"
          f"min_target={_g(y.min())}\tmax_target={_g(y.max())}", flush=True)
    return X, y


class _Evaluation:
    """libFM's evaluate(): RMSE (clipped predictions) or accuracy, with MAE and time."""

    def __init__(self, classification):
        self.classification = classification

    def __call__(self, model, X, y):
        start = time.perf_counter()
        if self.classification:
            raw = model.decision_function(X)
            result = {"accuracy": float(np.mean((raw >= 0) == (y >= 0)))}
            metric = result["accuracy"]
        else:
            err = model.predict(X) - y  # clipped to the training range, as libFM
            metric = float(np.sqrt(np.mean(err ** 2)))
            result = {"rmse": metric, "mae": float(np.mean(np.abs(err)))}
        result["time_pred"] = time.perf_counter() - start
        return metric, result


class _RLog:
    """libFM's RLog for SGD: header at the start, one row per iteration, flushed."""

    def __init__(self, path, classification):
        first = ["accuracy"] if classification else ["rmse", "mae"]
        self.fields = first + ["time_pred", "time_learn", "time_learn2", "time_learn4",
                               "rmse_train"]
        self.fh = open(path, "w")  # noqa: SIM115 - a log written as training goes, closed in run
        self.fh.write("\t".join(self.fields) + "\n")
        self.fh.flush()

    def row(self, values):
        self.fh.write("\t".join(_g(values.get(f, float("nan"))) for f in self.fields) + "\n")
        self.fh.flush()

    def close(self):
        self.fh.close()


def run(argv):
    """The `rapidfm libfm` command; returns the exit code (errors propagate to cli.main)."""
    if not argv:  # libFM prints its help; a script calling this by mistake should fail
        print_help(sys.stderr)
        return 2
    flags = parse_flags(argv)
    if "help" in flags:
        print_help()
        return 0
    s = Settings(flags)
    for name in ("out", "save_model", "rlog"):
        check_output(flags.get(name), f"-{name}")

    print("-" * 76)
    print("rapidfm libfm: libFM 1.4.4's command line on rapidfm's SGD")
    print("-" * 76, flush=True)
    if s.validation is not None:
        print("WARNING: Validation data is only used for SGDA. The data is ignored.")
    X_train, y_train = _read(s.train, "train", s.dtype, s.threads)
    X_test, y_test = _read(s.test, "test", s.dtype, s.threads)
    y_min, y_max = float(y_train.min()), float(y_train.max())
    if s.classification:  # libfm.cpp: target <= 0 is the negative class
        y_train = np.where(y_train > 0, 1.0, -1.0)
        y_test = np.where(y_test > 0, 1.0, -1.0)
    n_features = max(X_train.shape[1], X_test.shape[1])

    model = _build_model(s, n_features, y_min, y_max)
    n_features = model.n_features_in_ if s.load_model else n_features
    X_train, X_test = with_width(X_train, n_features), with_width(X_test, n_features)
    rlog = None  # opened before training, as libFM does, so a bad path fails early
    if s.rlog is not None:
        rlog = _RLog(s.rlog, s.classification)
        print(f"logging to {s.rlog}", flush=True)
    evaluate = _Evaluation(s.classification)
    try:
        if s.verbosity > 0:
            print(f"num_attributes={n_features}\nuse w0=1\nuse w1=1\ndim v ={s.k}\n"
                  f"reg_w0={_g(s.reg[0])}\nreg_w={_g(s.reg[1])}\nreg_v={_g(s.reg[2])}\n"
                  f"init ~ N(0,{_g(s.init_stdev)})\nnum_iter={s.iter}\ntask="
                  f"{int(s.classification)}\nmin_target={_g(y_min)}\nmax_target={_g(y_max)}")
        print(f"learnrate={_g(s.learn_rate)}\nlearnrates={_g(s.learn_rate)},{_g(s.learn_rate)},"
              f"{_g(s.learn_rate)}\n#iterations={s.iter}", flush=True)
        if s.iter > 0:
            done = []

            def report(m, history):
                train_metric, _ = evaluate(m, X_train, y_train)
                test_metric, values = evaluate(m, X_test, y_test)
                print(f"#Iter={len(done):3d}\tTrain={_g(train_metric)}\tTest="
                      f"{_g(test_metric)}", flush=True)
                if rlog is not None:
                    values.update(time_learn=history[-1]["seconds"], rmse_train=train_metric)
                    rlog.row(values)
                done.append(1)
                return False

            model.set_params(callbacks=[report])
            model.fit(X_train, y_train)
            model.set_params(callbacks=None)
    finally:
        if rlog is not None:
            rlog.close()

    train_metric, _ = evaluate(model, X_train, y_train)
    test_metric, _ = evaluate(model, X_test, y_test)
    print(f"Final\tTrain={_g(train_metric)}\tTest={_g(test_metric)}", flush=True)

    if s.out is not None:
        from rapidfm._cli_commands import write_lines

        if s.classification:
            pred = model.predict_proba(X_test)[:, 1]
        else:
            pred = model.predict(X_test)
        write_lines(s.out, [_g(p) for p in pred.tolist()])
    if s.save_model is not None:
        from rapidfm.io import save_libfm_model

        print(f"Writing FM model to {s.save_model}", flush=True)
        save_libfm_model(model, s.save_model)
    return 0


def _build_model(s, n_features, y_min, y_max):
    from rapidfm import FMClassifier, FMRegressor
    from rapidfm.io import load_libfm_model

    params = dict(n_factors=s.k, n_epochs=max(s.iter, 1), learning_rate=s.learn_rate,
                  schedule="constant", reg_bias=s.reg[0], reg_linear=s.reg[1],
                  reg_factors=s.reg[2], init_std=s.init_stdev, n_jobs=s.threads,
                  random_state=s.seed, dtype=s.dtype)
    task = "classification" if s.classification else "regression"
    if s.load_model is None:
        cls = FMClassifier if s.classification else FMRegressor
        return cls(**params)
    print("Reading FM model... \t", flush=True)
    if not os.path.isfile(s.load_model):
        raise FileNotFoundError(f"-load_model {s.load_model}: no such file")
    y_range = None if s.classification else (y_min, y_max)
    model = load_libfm_model(s.load_model, task=task, dtype=s.dtype, y_range=y_range)
    if model.n_features_in_ < n_features:  # pad: features the model file has never seen
        model = load_libfm_model(s.load_model, task=task, n_features=n_features,
                                 dtype=s.dtype, y_range=y_range)
    if model.V_.shape[1] != s.k:
        raise ValueError(f"-load_model {s.load_model} has {model.V_.shape[1]} factors, but "
                         f"-dim asks for {s.k}: pass -dim '1,1,{model.V_.shape[1]}'")
    model.set_params(warm_start=True, **{k: v for k, v in params.items() if k != "dtype"})
    return model
