"""`rapidfm libfm ...`: libFM's command line (version 1.4.4) on rapidfm's solvers.

A libFM user replaces ``libFM`` with ``rapidfm libfm`` and keeps the flags, the
data files and the output files. What was checked against libFM 1.4.4's source
(srendle/libfm at 30b9c79: ``src/libfm/libfm.cpp``, ``src/util/cmdline.h``,
``src/libfm/src/fm_learn.h``, ``fm_learn_sgd.h``, ``fm_learn_sgd_element.h``,
``fm_learn_sgd_element_adapt_reg.h``, ``fm_learn_mcmc.h``, ``fm_learn_mcmc_simultaneous.h``,
``src/util/rlog.h``, ``src/util/matrix.h``, ``src/libfm/src/Data.h``) and against the
outputs of the real program (``shared/reference/libfm-1.4.4``):

- Flags are ``-name value`` (``--name`` too); a flag given twice is an error. The
  defaults are libFM's: ``-method mcmc``, ``-dim 1,1,8``, ``-init_stdev 0.1``,
  ``-iter 100``, ``-learn_rate 0.1``, ``-regular`` empty (all 0).
- ``-method mcmc`` (Bayesian FM, Gibbs sampling with hyperpriors), ``als``
  (coordinate descent: libFM runs it as its MCMC code without sampling), ``sgd`` and
  ``sgda`` (SGD with adaptive regularization, Rendle WSDM 2012: it learns the L2
  strengths on the rows of ``-validation FILE``, which it requires).
- Data: libFM text files, numbered from 0; the model has max(#features of train,
  test, SGDA's validation) features (libFM's num_all_attribute; with ``-load_model``
  also at least the model file's).
- ``-meta FILE``: one group id (an integer >= 0) per feature, whitespace-separated
  (libFM writes one per line); libFM reads exactly num_all_attribute ids and ignores
  the rest of the file; G = the largest id + 1. ALS, MCMC and SGDA use the
  groups (rapidfm's ``feature_groups``): MCMC draws one prior mean / precision for w
  and one per factor for V per group, ALS takes per-group L2 strengths from
  ``-regular``, SGDA learns one strength for w and one per factor for V per group.
  SGD ignores the file, as libFM does.
- ``-regular``: nothing (all 0), one value (r0 = r1 = r2), three values r0,r1,r2, or
  (ALS and MCMC) 1+2G values: r0, then G values for w (one per group), then G for V
  (libfm.cpp's order). SGD and SGDA take 0, 1 or 3 values; SGDA ignores them, as
  libFM does (its strengths start at 0 and are learned; w0 has none). r0 is the L2
  strength of w0 (ALS, SGD) or the prior precision of w0 (MCMC). For MCMC r0 is the
  only value used: libFM initialises the priors of w and V with r1/r2, but draws them
  from their hyperpriors before the first use, so they never matter.
- ``-task c``: a target <= 0 is the negative class (-1), anything else +1, in
  train, test and validation alike (libfm.cpp). ALS and MCMC fit libFM's probit model.
- ``-task r``: predictions are clipped to [min, max] of the training targets, in
  SGD updates, in every reported RMSE and in ``-out``.
- Console: per iteration ``#Iter=%3d\\tTrain=<m>\\tTest=<m>``, numbers in C++'s
  default stream format (6 significant digits, like %g). SGD: <m> is the RMSE
  (regression) or the accuracy (classification) of the whole train and test set
  with the current model, and at the end ``Final\\tTrain=..\\tTest=..``; SGDA prints
  the same lines, after ``Training using self-adaptive-regularization SGD.`` and
  ``Using <n> rows for training model parameters and <m> for training shrinkage.``
  (libFM's own lines; like SGD it leaves out libFM's advice to shuffle the files), and
  like libFM it ends with the last iteration's model. ALS and
  MCMC (fm_learn_mcmc_simultaneous): Train is the metric of the current parameters
  on the training set, Test the metric of the average of the test predictions of
  all iterations so far (for ALS too), classification adds ``\\tTest(ll)=<l>``: the
  mean negative log10-likelihood of the averaged P(+1), clipped to [0.01, 0.99]; no
  ``Final`` line.
- ``-out``: one prediction per test row, %g with 6 significant digits. SGD: the
  clipped value (regression) or P(+1) = 1 / (1 + exp(-y(x))) (classification).
  MCMC: the average over all iterations (no burn-in) of the per-iteration test
  predictions, each clipped to the training target range (regression) or P(+1) =
  Phi(y(x)) (classification). ALS: the final model's prediction, clipped, or
  Phi(y(x)): its RMSE is the last ``rmse_mcmc_this`` of the ``-rlog``, not the last
  ``Test=`` (which averages all iterations, as libFM prints it).
- ``-rlog``: tab-separated, a header line and one row per iteration, in libFM's
  columns for the method. SGD: ``rmse mae time_pred time_learn time_learn2
  time_learn4 rmse_train`` (regression) or ``accuracy time_pred time_learn
  time_learn2 time_learn4 rmse_train`` (classification); SGDA adds ``rmse_val wmean
  wvar``, ``vmean<f> vvar<f>`` for each factor f and, for each group g, ``regw[g]``
  and ``regv[g,f]`` for each f: the validation metric, libFM's mean columns (which it
  writes as 0), the variances of w and of each factor of V over all features and the
  learned strengths after the iteration. rmse/mae/accuracy are the test values (libFM
  evaluates train, then test, and the test values overwrite the train ones);
  rmse_train holds the train RMSE, or the train accuracy for classification;
  time_learn2 and time_learn4 hold ``nan``. ALS and MCMC: ``rmse mae`` (or
  ``accuracy``), ``time_pred time_learn time_learn2 time_learn4 alpha``, then
  ``rmse_mcmc_this rmse_mcmc_all rmse_mcmc_all_but5`` (regression) or
  ``acc_mcmc_this acc_mcmc_all acc_mcmc_all_but5 ll_mcmc_this ll_mcmc_all
  ll_mcmc_all_but5`` (classification), then for each group g ``wmu[g] wlambda[g]``
  followed by ``vmu[g,f] vlambda[g,f]`` for f = 0..k-1. rmse/mae/accuracy are the
  averaged (``_all``) values; ``_this`` the current parameters'; ``_all_but5`` the
  average of iterations 5.. (in the first five rows libFM divides by a wrapped
  unsigned count: the values of a zero prediction, and at row 5 of 0/0 - the
  maximum target, accuracy 0 and a NaN log-likelihood - are written as libFM does);
  time_pred is ``nan``; alpha is the noise precision drawn (MCMC) or 1 (ALS); the
  w/v columns are the group hyperparameters drawn in the iteration (MCMC) or the
  mean 0 and the L2 strength (ALS). rapidfm's times are wall-clock seconds
  (libFM's time_learn is user CPU time, time_learn2 clock(), time_learn4 the
  difference of time(NULL) in whole seconds, as here).
- ``-save_model`` / ``-load_model`` with SGD and ALS: libFM's text model file
  (rapidfm.io.save_libfm_model / load_libfm_model); with ``-load_model`` training
  continues from the loaded parameters for ``-iter`` iterations (0: predict only).
- ``-validation`` is used by libFM's SGDA only; with any other method libFM prints a
  warning and ignores the file, and so does this command.

Differences that remain:

- The random numbers differ from libFM's (no run can be reproduced number for
  number), several threads train by default, and rapidfm's SGD visits the rows in a
  fresh random order each iteration (libFM goes through the file in order and asks
  for shuffled files) and starts the bias at the mean target (regression) or the
  base-rate log-odds (classification) instead of 0.
- SGDA: the training rows and the validation rows each come in a fresh random order
  every iteration (libFM: the files' order), one validation row per training row,
  cycling, as libFM; the ``-rlog`` variances are those after the iteration (libFM
  logs them from its last pass over the validation rows within it). SGDA is serial
  (``-threads`` parallelises the evaluation only). With ``-load_model`` training
  continues from the loaded parameters (libFM sets the loaded w to 0 first), with
  strengths from 0.
- ALS / MCMC start from w = 0 (libFM also draws w from N(0, init_stdev)), and
  rapidfm's probit MCMC keeps the noise precision at 1 where libFM samples it
  (see the estimators' documentation).
- ``-load_model`` with ``-method als``: libFM redraws the loaded linear weights from
  N(0, init_stdev) before training (libfm.cpp initialises w for MCMC/ALS after loading
  the file) and, with ``-iter 0``, writes 0 (clipped to the target range) to ``-out``
  (its prediction buffer is never filled); rapidfm continues from, or predicts with, the
  loaded model as it does for SGD.
- ``-save_model`` with ``-method mcmc``: libFM prints a warning and exits without
  training. rapidfm trains and writes its own model file (rapidfm.load,
  ``rapidfm predict``; not libFM's text format, which cannot hold a chain): it keeps
  the samples of all iterations (``-kept_samples N``: the last N), so that
  ``rapidfm predict`` on the test file gives the ``-out`` values. ``-load_model``
  with ``-method mcmc`` is refused (exit code 2) - libFM exits without training too.
- Not supported, each refused with exit code 2 and a message that names it:
  ``-dim`` with k0 = 0 or k1 = 0 (rapidfm always trains the bias and
  the linear weights), per-layer learning rates (``-learn_rate a,b,c``),
  ``-relation``, ``-cache_size``, MCMC's internal flags, and ``-iter 0`` without
  ``-load_model`` (libFM would predict with its random initial model). Numbers are
  parsed strictly (libFM's atoi/atof read ``-iter ten`` as 0), ``-method sgda``
  without ``-validation`` is refused (libFM asserts), and a ``-regular``
  with another number of values is an error naming the counts allowed (libFM
  asserts).
- libFM's exit code is 0 even when it fails; rapidfm's is 1 for a failure and 2 for
  bad usage.

rapidfm extensions: ``-threads N`` (default -1: all cores; 1 gives bit-reproducible
runs with ``-seed``), ``-dtype float32|float64`` (default float64, libFM's double
precision) and ``-kept_samples N`` (MCMC with ``-save_model``).
"""

import math
import os
import sys
import textwrap
import time

import numpy as np

from rapidfm import _core
from rapidfm._cli_commands import (
    DTYPES,
    UsageError,
    check_output,
    read_feature_groups,
    with_width,
)
from rapidfm._validation import effective_n_threads

METHODS = ("mcmc", "als", "sgd", "sgda")

SUPPORTED = {
    "task": "r=regression, c=binary classification [MANDATORY]",
    "meta": "filename for meta information about data set: one group id per feature "
            "line (ALS, MCMC and SGDA; SGD ignores it, as libFM)",
    "train": "filename for training data [MANDATORY]",
    "test": "filename for test data [MANDATORY]",
    "validation": "filename for validation data (only for SGDA, which learns its "
                  "regularization on it; ignored with a warning by the other methods, "
                  "as libFM does)",
    "out": "filename for output: one prediction per test row (MCMC: the average over all "
           "iterations)",
    "dim": "'k0,k1,k2': k0=use bias, k1=use 1-way interactions, k2=dim of 2-way "
           "interactions; default=1,1,8 (rapidfm: k0 and k1 must be 1)",
    "regular": "'r0,r1,r2' for SGD and ALS: r0=bias regularization, r1=1-way "
               "regularization, r2=2-way regularization; one value sets all three; ALS "
               "and MCMC also take 1+2G values with G groups from -meta: r0, G values "
               "for w, G for v; MCMC uses r0 only (the prior precision of w0); default=0",
    "init_stdev": "stdev for initialization of 2-way factors; default=0.1",
    "iter": "number of iterations; default=100",
    "learn_rate": "learn_rate for SGD and SGDA; default=0.1",
    "method": "learning method (SGD, SGDA, ALS, MCMC); default=MCMC",
    "verbosity": "how much infos to print; default=0",
    "rlog": "write measurements within iterations to a file; default=''",
    "seed": "integer value, default=None",
    "help": "this screen",
    "save_model": "filename for writing the FM model: libFM's text format for SGD and "
                  "ALS; MCMC (refused by libFM): rapidfm's model file with the samples "
                  "(rapidfm.load, `rapidfm predict`)",
    "load_model": "filename for reading the FM model (libFM's text format; SGD and ALS)",
}
EXTENSIONS = {
    "threads": "rapidfm extension: training threads, -1 for all cores (default -1)",
    "dtype": "rapidfm extension: float32 or float64 parameters (default float64)",
    "kept_samples": "rapidfm extension: MCMC with -save_model: keep the last N samples in "
                    "the model file (default: all iterations, which predicts -out; memory "
                    "and file size: N x features x (k+1) numbers)",
}
NOT_SUPPORTED = {
    "relation": "-relation (block-structured relational data) is not supported yet",
    "cache_size": "-cache_size (libFM's binary data format) is not supported yet; "
                  "`rapidfm convert` makes rapidfm's memory-mapped cache instead",
    "do_sampling": "-do_sampling is an internal libFM setting (ALS is -method als)",
    "do_multilevel": "-do_multilevel is an internal libFM setting (ALS is -method als)",
    "num_eval_cases": "-num_eval_cases (an internal MCMC setting) is not supported",
}
_VALUELESS = {"help"}
_DIFFERENCES = (
    "Differences from libFM: random numbers differ (compare metrics, not numbers); "
    "several threads by default; SGD visits the rows in a new random order each "
    "iteration (SGDA: the validation rows too) and starts w0 at the mean target; "
    "ALS/MCMC start from w = 0; probit MCMC "
    "(-task c) keeps the noise precision alpha at 1 where libFM samples it; -save_model "
    "with -method mcmc (libFM: exits without training) trains and writes rapidfm's "
    "model file with the samples; -load_model with MCMC is refused; exit codes 1 "
    "(failure) and 2 (bad usage) where libFM exits 0. The docstring of "
    "rapidfm._libfm_cli lists what was checked against libFM 1.4.4.")


def print_help(stream=None):
    stream = sys.stdout if stream is None else stream
    stream.write("usage: rapidfm libfm -task r|c -train FILE -test FILE [-method "
                 "mcmc|als|sgd|sgda] [libFM flags]\n\nlibFM 1.4.4's command line on rapidfm's "
                 "solvers: same flags, data files,\nconsole lines, -out, -rlog and model "
                 "files.\n\n")
    for table in (SUPPORTED, EXTENSIONS):
        for name, text in sorted(table.items()):
            lines = textwrap.wrap(text, 80)
            stream.write(f"  -{name:<14}{lines[0]}\n")
            stream.write("".join(f"{'':17}{line}\n" for line in lines[1:]))
    refused = "not supported (refused with exit code 2): " + ", ".join(
        f"-{n}" for n in sorted(NOT_SUPPORTED))
    stream.write("\n" + textwrap.fill(refused, 96) + "\n")
    stream.write("\n" + textwrap.fill(_DIFFERENCES, 96) + "\n")


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
        method = flags.get("method", "mcmc").lower()  # libFM's default
        if method not in METHODS:
            raise UsageError(f"unknown method -method {flags['method']!r} (libFM and "
                             "rapidfm know sgd, sgda, als and mcmc)")
        self.method = method
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
        self.validation, self.meta = flags.get("validation"), flags.get("meta")
        if method == "sgda" and self.validation is None:
            raise UsageError("-method sgda needs -validation FILE: the rows it learns the "
                             "regularization on (e.g. a random tenth of the training rows, "
                             "left out of -train)")
        if method == "mcmc" and self.load_model is not None:
            raise UsageError("-load_model is enabled only for SGD and ALS (libFM exits "
                             "without training too): an MCMC chain starts from a fresh model")

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

        self.reg_text = flags.get("regular")
        reg = _list(flags, "regular", float, [])
        if any(not math.isfinite(r) or r < 0 for r in reg):
            raise UsageError(f"-regular {self.reg_text!r}: values must be finite and >= 0")
        if method in ("sgd", "sgda") and len(reg) not in (0, 1, 3):
            raise UsageError(f"-regular {self.reg_text!r} has {len(reg)} values: -method {method} "
                             "takes 1 value or 3 (r0,r1,r2); per-group values (1+2G) are "
                             "for ALS and MCMC")
        self.reg_values = reg  # checked against the number of groups by groups()

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
        self.kept_samples = _number(flags, "kept_samples", None, int, low=1)
        if self.kept_samples is not None and (method != "mcmc" or self.save_model is None):
            raise UsageError("-kept_samples applies to -method mcmc with -save_model (the "
                             "samples the model file keeps)")
        self.n_groups = 1
        if self.meta is None:  # else run() checks -regular against -meta's groups
            self.set_regularization(1)

    def set_regularization(self, n_groups):
        """reg0, and the w / V strengths per group (lists of n_groups), from -regular as
        libfm.cpp reads it: 0, 1, 3 or (ALS/MCMC) 1+2G values."""
        reg, g = self.reg_values, n_groups
        allowed = sorted({0, 1, 3} | ({1 + 2 * g} if self.method in ("als", "mcmc")
                                      else set()))
        if len(reg) not in allowed:
            raise UsageError(
                f"-regular {self.reg_text!r} has {len(reg)} values: expected 1 value, 3 "
                f"(r0,r1,r2) or 1+2G = {1 + 2 * g} (r0, then {g} for w and {g} for v, one "
                f"per group; G = {g} group{'s' if g != 1 else ''}"
                f"{' from -meta' if self.meta is not None else ' without -meta'})")
        self.n_groups = g
        if not reg:
            self.reg0, self.reg_w, self.reg_v = 0.0, [0.0] * g, [0.0] * g
        elif len(reg) == 1:
            self.reg0, self.reg_w, self.reg_v = reg[0], [reg[0]] * g, [reg[0]] * g
        elif len(reg) == 3:
            self.reg0, self.reg_w, self.reg_v = reg[0], [reg[1]] * g, [reg[2]] * g
        else:
            self.reg0, self.reg_w, self.reg_v = reg[0], reg[1:1 + g], reg[1 + g:]


def _g(value):
    """C++'s default stream format for a double: %g, 6 significant digits."""
    return f"{value:g}"


def _read(path, what, dtype, threads):
    from rapidfm.io import load_svmlight

    print(f"Loading {what}...{' ' if what == 'test' else ''}\t", flush=True)  # libFM's
    X, y = load_svmlight(path, dtype=dtype, zero_based=True, n_jobs=threads)
    print(f"num_rows={X.shape[0]}\tnum_values={X.nnz}\tnum_features={X.shape[1]}\t"
          f"min_target={_g(y.min())}\tmax_target={_g(y.max())}", flush=True)
    return X, y


class _Evaluation:
    """libFM's evaluate() for SGD: RMSE (clipped predictions) or accuracy, with MAE and
    time."""

    def __init__(self, classification):
        self.classification = classification
        self.validated = {}  # id(X): (X, its CSR arrays as predict validated them)

    def _raw(self, model, X):
        """y(x) of X's rows (SGD: the logistic loss's log-odds). The same X comes back
        every iteration, so it is validated once: as_csr was a third of the time of
        u1's 300 evaluations."""
        key = id(X)
        if key not in self.validated:
            self.validated[key] = (X, model._csr_for_predict(X))
        indptr, indices, data = self.validated[key][1]
        return _core.predict(model.w0_, model.w_, model.V_, indptr, indices, data,
                             effective_n_threads(model.n_jobs))

    def __call__(self, model, X, y):
        start = time.perf_counter()
        if self.classification:
            raw = self._raw(model, X)
            result = {"accuracy": float(np.mean((raw >= 0) == (y >= 0)))}
            metric = result["accuracy"]
        else:
            # clipped to the training range, as libFM
            pred = model._outputs_from_raw(self._raw(model, X), model._fitted_target_attrs())
            err = pred - y
            metric = float(np.sqrt(np.mean(err ** 2)))
            result = {"rmse": metric, "mae": float(np.mean(np.abs(err)))}
        result["time_pred"] = time.perf_counter() - start
        return metric, result


def rlog_fields(method, classification, n_groups=1, k=8):
    """The -rlog header libFM writes for the method and task (RLog::addField order)."""
    first = ["accuracy"] if classification else ["rmse", "mae"]
    times = ["time_pred", "time_learn", "time_learn2", "time_learn4"]
    if method == "sgd":
        return first + times + ["rmse_train"]
    if method == "sgda":  # fm_learn_sgd_element_adapt_reg::init
        factors = [f"v{what}{f}" for f in range(k) for what in ("mean", "var")]
        strengths = [name for g in range(n_groups)
                     for name in [f"regw[{g}]"] + [f"regv[{g},{f}]" for f in range(k)]]
        return first + times + ["rmse_train", "rmse_val", "wmean", "wvar"] + factors + strengths
    kinds = (["acc", "ll"] if classification else ["rmse"])
    chain = [f"{kind}_mcmc_{which}" for kind in kinds for which in ("this", "all", "all_but5")]
    groups = []
    for g in range(n_groups):
        groups += [f"wmu[{g}]", f"wlambda[{g}]"]
        for f in range(k):
            groups += [f"vmu[{g},{f}]", f"vlambda[{g},{f}]"]
    return first + times + ["alpha"] + chain + groups


class _RLog:
    """libFM's RLog: header at the start, one row per iteration (nan where a field was
    not logged), flushed."""

    def __init__(self, path, fields):
        self.fields = fields
        self.fh = open(path, "w")  # noqa: SIM115 - a log written as training goes, closed in run
        self.fh.write("\t".join(self.fields) + "\n")
        self.fh.flush()

    def row(self, values):
        self.fh.write("\t".join(_g(values.get(f, float("nan"))) for f in self.fields) + "\n")
        self.fh.flush()

    def close(self):
        self.fh.close()


def _clip_like_cpp(p, low, high):
    """std::max(low, std::min(high, p)): as libFM clips (a NaN becomes `high`)."""
    p = np.where(p < high, p, high)
    return np.where(low < p, p, low)


def _regression_metrics(pred, y, low, high):
    """fm_learn_mcmc_simultaneous::_evaluate: RMSE and MAE of the clipped prediction."""
    err = _clip_like_cpp(pred, low, high) - y
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err)))


def _classification_metrics(p, y):
    """fm_learn_mcmc_simultaneous::_evaluate_class: accuracy of P(+1) against 1/2 and the
    mean negative log10-likelihood of P(+1) clipped to [0.01, 0.99]."""
    with np.errstate(invalid="ignore"):
        right = ((p >= 0.5) & (y > 0)) | ((p < 0.5) & (y < 0))
        m = (y + 1.0) * 0.5
        pll = np.where(p > 0.99, 0.99, p)
        pll = np.where(pll < 0.01, 0.01, pll)
        ll = -np.mean(m * np.log10(pll) + (1 - m) * np.log10(1 - pll))
    return float(np.mean(right)), float(ll)


class _ChainReport:
    """The callback of an ALS or MCMC fit: libFM's per-iteration console line and -rlog
    row (fm_learn_mcmc_simultaneous::_learn), and the sums behind MCMC's -out."""

    def __init__(self, s, data, y_range, rlog):
        self.s, self.rlog = s, rlog
        self.X_train, self.y_train, self.X_test, self.y_test = data
        self.low, self.high = y_range
        n = self.X_test.shape[0]
        self.sum_all, self.sum_but5 = np.zeros(n), np.zeros(n)
        self.pred_this = None  # libFM's pred_this: unclipped value, or P(+1)
        self.iterations = 0

    def _probability(self, raw):
        from scipy.special import ndtr

        return ndtr(raw)

    def __call__(self, model, history):
        s, i = self.s, self.iterations
        record = history[-1]
        now = time.time()
        raw_test = np.asarray(model._predict_current(self.X_test), dtype=np.float64)
        # ALS / MCMC hand over the sweep's own predictions of the training rows
        raw_train = getattr(model, "_sweep_predictions", None)
        if raw_train is None or raw_train.shape[0] != self.X_train.shape[0]:
            raw_train = np.asarray(model._predict_current(self.X_train), dtype=np.float64)
        if s.classification:
            self.pred_this = this = self._probability(raw_test)
        else:
            self.pred_this = raw_test
            this = _clip_like_cpp(raw_test, self.low, self.high)
        self.sum_all += this
        if i >= 5:
            self.sum_but5 += this
        mean_all = self.sum_all / (i + 1)
        # libFM divides sum_but5 by (uint)(i - 5 + 1): ~2^32 before row 5, 0 at row 5
        if i >= 5:
            mean_but5 = self.sum_but5 / (i - 4)
        else:
            mean_but5 = np.full(self.sum_but5.shape, np.nan if i == 4 else 0.0)

        seconds = float(record["seconds"])
        values = {"time_learn": seconds, "time_learn2": seconds,
                  "time_learn4": float(math.floor(now) - math.floor(now - seconds))}
        y = self.y_test
        if s.classification:
            train = float(np.mean((raw_train >= 0) == (self.y_train > 0)))
            acc_this, ll_this = _classification_metrics(this, y)
            acc_all, ll_all = _classification_metrics(mean_all, y)
            acc_but5, ll_but5 = _classification_metrics(mean_but5, y)
            print(f"#Iter={i:3d}\tTrain={_g(train)}\tTest={_g(acc_all)}\tTest(ll)="
                  f"{_g(ll_all)}", flush=True)
            values.update(accuracy=acc_all, acc_mcmc_this=acc_this, acc_mcmc_all=acc_all,
                          acc_mcmc_all_but5=acc_but5, ll_mcmc_this=ll_this,
                          ll_mcmc_all=ll_all, ll_mcmc_all_but5=ll_but5)
        else:
            train, _ = _regression_metrics(raw_train, self.y_train, self.low, self.high)
            rmse_this, _ = _regression_metrics(this, y, self.low, self.high)
            rmse_all, mae_all = _regression_metrics(mean_all, y, self.low, self.high)
            rmse_but5, _ = _regression_metrics(mean_but5, y, self.low, self.high)
            print(f"#Iter={i:3d}\tTrain={_g(train)}\tTest={_g(rmse_all)}", flush=True)
            values.update(rmse=rmse_all, mae=mae_all, rmse_mcmc_this=rmse_this,
                          rmse_mcmc_all=rmse_all, rmse_mcmc_all_but5=rmse_but5)
        if self.rlog is not None:
            values.update(self._hyperparameters(model, record))
            self.rlog.row(values)
        self.iterations += 1
        return False

    def _hyperparameters(self, model, record):
        s, out = self.s, {}
        if s.method == "mcmc":
            out["alpha"] = float(record.get("alpha", getattr(model, "alpha_", np.nan)))
            mu_w, lambda_w = np.atleast_1d(model.mu_w_), np.atleast_1d(model.lambda_w_)
            mu_v = np.asarray(model.mu_v_).reshape(s.n_groups, s.k)
            lambda_v = np.asarray(model.lambda_v_).reshape(s.n_groups, s.k)
        else:  # ALS: libFM's MCMC code without sampling: alpha 1, means 0, lambda = -regular
            out["alpha"] = 1.0
            mu_w, lambda_w = np.zeros(s.n_groups), np.asarray(s.reg_w, dtype=float)
            mu_v = np.zeros((s.n_groups, s.k))
            lambda_v = np.repeat(np.asarray(s.reg_v, dtype=float)[:, None], s.k, axis=1)
        for g in range(s.n_groups):
            out[f"wmu[{g}]"], out[f"wlambda[{g}]"] = float(mu_w[g]), float(lambda_w[g])
            for f in range(s.k):
                out[f"vmu[{g},{f}]"] = float(mu_v[g, f])
                out[f"vlambda[{g},{f}]"] = float(lambda_v[g, f])
        return out

    def out_predictions(self):
        """libFM's fm_learn_mcmc::predict: MCMC the average of all iterations, ALS the
        last, clipped to the target range (regression) or to [0, 1]."""
        pred = self.sum_all / self.iterations if self.s.method == "mcmc" else self.pred_this
        if self.s.classification:
            return _clip_like_cpp(pred, 0.0, 1.0)
        return _clip_like_cpp(pred, self.low, self.high)


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
    if s.meta is not None:  # fail before reading the data: a missing file, a bad count
        groups = read_feature_groups(s.meta, None, "-meta")
        s.set_regularization(int(groups.max()) + 1 if groups.size else 1)

    print("-" * 76)
    print(f"rapidfm libfm: libFM 1.4.4's command line on rapidfm's {s.method.upper()}")
    print("-" * 76, flush=True)
    X_train, y_train = _read(s.train, "train", s.dtype, s.threads)
    X_test, y_test = _read(s.test, "test", s.dtype, s.threads)
    X_val = y_val = None
    if s.method == "sgda":
        X_val, y_val = _read(s.validation, "validation set", s.dtype, s.threads)
    elif s.validation is not None:
        print("WARNING: Validation data is only used for SGDA. The data is ignored.")
    y_min, y_max = float(y_train.min()), float(y_train.max())
    if s.classification:  # libfm.cpp: target <= 0 is the negative class
        y_train = np.where(y_train > 0, 1.0, -1.0)
        y_test = np.where(y_test > 0, 1.0, -1.0)
        y_val = None if y_val is None else np.where(y_val > 0, 1.0, -1.0)
    n_features = max(X_train.shape[1], X_test.shape[1], 0 if X_val is None else X_val.shape[1])
    print("Loading meta data...\t", flush=True)

    model = _build_model(s, n_features, y_min, y_max)
    n_features = model.n_features_in_ if s.load_model else n_features
    groups = None
    if s.meta is not None:  # libFM reads one id per feature of the model, G = max + 1
        groups = read_feature_groups(s.meta, n_features, "-meta")
        s.set_regularization(int(groups.max()) + 1 if groups.size else 1)
    else:
        s.set_regularization(1)
    if s.method in ("als", "mcmc"):
        _set_coordinate_params(model, s, groups)
    elif s.method == "sgda":
        model.set_params(feature_groups=groups)
    X_train, X_test = with_width(X_train, n_features), with_width(X_test, n_features)
    validation = None if X_val is None else (with_width(X_val, n_features), y_val)
    rlog = None  # opened before training, as libFM does, so a bad path fails early
    if s.rlog is not None:
        rlog = _RLog(s.rlog, rlog_fields(s.method, s.classification, s.n_groups, s.k))
        print(f"logging to {s.rlog}", flush=True)
    try:
        if s.verbosity > 0:
            print(f"num_attributes={n_features}\nuse w0=1\nuse w1=1\ndim v ={s.k}\n"
                  f"reg_w0={_g(s.reg0)}\nreg_w={_g(s.reg_w[0])}\nreg_v={_g(s.reg_v[0])}\n"
                  f"init ~ N(0,{_g(s.init_stdev)})\nnum_iter={s.iter}\ntask="
                  f"{int(s.classification)}\nmin_target={_g(y_min)}\nmax_target={_g(y_max)}")
        if s.method in ("sgd", "sgda"):
            _fit_sgd(s, model, X_train, y_train, X_test, y_test, rlog, validation)
            chain = None
        else:
            chain = _ChainReport(s, (X_train, y_train, X_test, y_test), (y_min, y_max), rlog)
            if s.iter > 0:
                model.set_params(callbacks=[chain])
                model.fit(X_train, y_train)
                model.set_params(callbacks=None)
    finally:
        if rlog is not None:
            rlog.close()

    if s.out is not None:
        from rapidfm._cli_commands import write_lines

        if chain is not None and chain.iterations > 0:
            pred = chain.out_predictions()
        elif chain is not None:  # ALS, -iter 0: the loaded model's predictions
            pred = _als_predictions(model, X_test, s.classification, y_min, y_max)
        elif s.classification:
            pred = model.predict_proba(X_test)[:, 1]
        else:
            pred = model.predict(X_test)
        write_lines(s.out, [_g(p) for p in pred.tolist()])
    if s.save_model is not None:
        _save(s, model)
    return 0


def _fit_sgd(s, model, X_train, y_train, X_test, y_test, rlog, validation=None):
    """SGD, or SGDA with validation = (X_val, y_val): libFM's fm_learn_sgd_element and
    fm_learn_sgd_element_adapt_reg::learn."""
    evaluate = _Evaluation(s.classification)
    print(f"learnrate={_g(s.learn_rate)}\nlearnrates={_g(s.learn_rate)},{_g(s.learn_rate)},"
          f"{_g(s.learn_rate)}\n#iterations={s.iter}", flush=True)
    if validation is not None:
        print(f"Training using self-adaptive-regularization SGD.\nUsing {X_train.shape[0]} "
              f"rows for training model parameters and {validation[0].shape[0]} for "
              "training shrinkage.", flush=True)
    if s.iter > 0:
        done = []
        last = {}

        def report(m, history):
            train_metric, _ = evaluate(m, X_train, y_train)
            test_metric, values = evaluate(m, X_test, y_test)
            print(f"#Iter={len(done):3d}\tTrain={_g(train_metric)}\tTest="
                  f"{_g(test_metric)}", flush=True)
            if rlog is not None:
                values.update(time_learn=history[-1]["seconds"], rmse_train=train_metric)
                if validation is not None:
                    values.update(_sgda_log_values(m, evaluate(m, *validation)[0]))
                rlog.row(values)
            done.append(1)
            if validation is not None and len(done) == s.iter:
                last.update(w0_=m.w0_, w_=m.w_.copy(), V_=m.V_.copy())
            return False

        model.set_params(callbacks=[report])
        model.fit(X_train, y_train, eval_set=validation)
        model.set_params(callbacks=None)
        # libFM ends with the last iteration's model; the estimator, given validation
        # rows, keeps the parameters of the epoch that scored best on them
        model.__dict__.update(last)
    train_metric, _ = evaluate(model, X_train, y_train)
    test_metric, _ = evaluate(model, X_test, y_test)
    print(f"Final\tTrain={_g(train_metric)}\tTest={_g(test_metric)}", flush=True)


def _sgda_log_values(model, val_metric):
    """SGDA's -rlog columns after rmse_train (fm_learn_sgd_element_adapt_reg: update_means
    computes the variances over all features, then sets the means to 0)."""
    w, V = np.asarray(model.w_, dtype=np.float64), np.asarray(model.V_, dtype=np.float64)
    values = {"rmse_val": val_metric, "wmean": 0.0,
              "wvar": float(np.mean(w * w) - np.mean(w) ** 2)}
    for f in range(V.shape[1]):
        values[f"vmean{f}"] = 0.0
        values[f"vvar{f}"] = float(np.mean(V[:, f] ** 2) - np.mean(V[:, f]) ** 2)
    reg_w, reg_v = model.sgda_reg_w_, model.sgda_reg_v_
    for g in range(reg_w.shape[0]):
        values[f"regw[{g}]"] = float(reg_w[g])
        for f in range(reg_v.shape[1]):
            values[f"regv[{g},{f}]"] = float(reg_v[g, f])
    return values


def _als_predictions(model, X, classification, y_min, y_max):
    from scipy.special import ndtr

    raw = np.asarray(model._predict_current(X), dtype=np.float64)
    if classification:
        return ndtr(raw)
    return _clip_like_cpp(raw, y_min, y_max)


def _save(s, model):
    print(f"Writing FM model to {s.save_model}", flush=True)
    if s.method == "mcmc":
        # libFM has no MCMC model file (it refuses -save_model); rapidfm's keeps the chain
        print("(rapidfm's model file with the MCMC samples, not libFM's text format: read "
              "it with rapidfm.load or `rapidfm predict`)", flush=True)
        model.save(s.save_model)
        return
    from rapidfm.io import save_libfm_model

    save_libfm_model(model, s.save_model)


def _set_coordinate_params(model, s, groups):
    params = dict(solver=s.method, reg_bias=s.reg0, feature_groups=groups)
    if s.method == "als":
        if s.n_groups == 1:
            params.update(reg_linear=s.reg_w[0], reg_factors=s.reg_v[0])
        else:
            params.update(reg_linear=np.asarray(s.reg_w, dtype=np.float64),
                          reg_factors=np.asarray(s.reg_v, dtype=np.float64))
    else:
        # -out is computed by the callback; the model keeps samples only for -save_model
        # (all iterations by default: then its predict gives the -out values)
        if s.save_model is None:
            params["n_kept_samples"] = 1
        else:
            params["n_kept_samples"] = s.kept_samples or max(s.iter, 1)
    model.set_params(**params)


def _build_model(s, n_features, y_min, y_max):
    from rapidfm import FMClassifier, FMRegressor
    from rapidfm.io import load_libfm_model

    params = dict(n_factors=s.k, n_epochs=max(s.iter, 1), init_std=s.init_stdev,
                  n_jobs=s.threads, random_state=s.seed, dtype=s.dtype)
    if s.method == "sgd":
        params.update(solver="sgd", learning_rate=s.learn_rate, schedule="constant",
                      reg_bias=s.reg0,
                      reg_linear=s.reg_w[0], reg_factors=s.reg_v[0])
    elif s.method == "sgda":  # libFM runs every iteration: no early stop on the validation
        params.update(solver="sgda", learning_rate=s.learn_rate, schedule="constant",
                      reg_bias=0.0, n_iter_no_change=max(s.iter, 1))
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
