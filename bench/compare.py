"""Factorization Machine solvers side by side: seconds per epoch and the test metric.

Same data, k, epochs, learning rate, regularisation and initialisation for every
SGD contender; each result states its thread count. Data sets:

  planted    rapidfm.datasets.make_planted_fm: --rows training rows (default 1M) plus
             10% more for the test set, 4 one-hot fields x --planted-values values
             (default 17,500: 70,000 features), Zipf(1.1) value frequencies, noise sd
             0.5 (the RMSE floor); regression (RMSE)
  movielens  MovieLens 100k u1.base / u1.test, one-hot user + item; regression (RMSE)
  a9a        LIBSVM a9a / a9a.t, 123 binary features; classification (log-loss)

MovieLens and a9a are read from $RAPIDFM_DATA (default ../shared/data beside the
repository), as in tests/conftest.py; a missing file skips that data set.

Contenders (each is skipped, with the reason, when unavailable):

  rapidfm-1t, rapidfm-Nt  FMRegressor / FMClassifier, 1 thread and all cores; float32.
                          s/epoch: history_[i]["seconds"] (the kernel call); the JSON's
                          fit_wall_seconds adds input validation and initialisation.
  rapidfm-adagrad-1t/-Nt  solver="adagrad" (and rapidfm-ftrl-*: solver="ftrl"): the data
                          set's k, epochs, L2 and init, each solver's own default learning
                          rate (0.04). rapidfm-ftrl-l1-1t adds reg_linear_l1 (FTRL_L1) and
                          reports the fraction of exactly-zero w (w_zero_fraction).
  rapidfm-defaults-1t/-Nt FMRegressor() / FMClassifier() with every parameter at its
                          default (only n_jobs and random_state set).
  numpy-loop              the textbook per-sample SGD in NumPy: for each row, fancy-index
                          the row's w and V, numpy dot products for the prediction, and
                          the same update as rapidfm (float64, same init, same clipping).
                          It trains on at most --numpy-rows rows (a random subsample,
                          default 100,000): its s/epoch is extrapolated to the full
                          training set (seconds per row x rows) and its test metric is
                          that of the subsample model, both labelled. rapidfm-1t is
                          then also trained on the same subsample ("rapidfm-1t-sub"),
                          so the metrics compare like with like.
  torch-1t, torch-Nt      a PyTorch FM module (sum-pooled embeddings, EmbeddingBag
                          style: one gather of the batch's V rows, per-row segment sums
                          by index_add), mini-batch Adam (--torch-batch, --torch-lr);
                          only when `import torch` works.
  libfm                   $LIBFM_BIN (libFM 1.4.x) with -method sgd. The script writes
                          train/test files in libFM text format ("label idx:value", rows
                          of the training file shuffled once: libFM's SGD does not
                          shuffle) and runs
                            $LIBFM_BIN -task r|c -train train.libfm -test test.libfm
                              -dim '1,1,k' -iter N -method sgd -learn_rate L
                              -regular 'r0,r1,r2' -init_stdev s -seed S
                              -out pred.txt -rlog rlog.txt
                          s/epoch: the time_learn column of the rlog file (libFM's
                          per-iteration learning time, user CPU seconds); curve: the
                          "#Iter= i Train= Test=" lines (test RMSE; for -task c libFM
                          prints accuracy, so the curve is left out); test metric: from
                          pred.txt (predictions, or P(+1) for -task c). One thread.
  libffm                  $LIBFFM_TRAIN (ffm-train): field-aware FM with AdaGrad, its own
                          defaults -r 0.2 -l 0.00002 (--ffm-lr, --ffm-lambda), classification
                          only:  ffm-train -k k -t N -r eta -l lambda -s threads
                          -p test.ffm train.ffm model.  The va_logloss column is the test
                          log-loss per iteration; tr_time (newer libffm) the time.
  xlearn-cli              $XLEARN_TRAIN (xlearn_train, xLearn >= 0.4: -s 1 FM classification,
                          -s 4 FM regression):  xlearn_train train.txt -s 1|4 -v test.txt
                          -m model.bin -k k -r L -b lambda -e N -p sgd -nthread T --dis-es
                          --no-norm [-x rmse].  Per-epoch rows are parsed from its table
                          ("Time cost (sec)" includes its test evaluation); predictions
                          come from xlearn_predict ($XLEARN_PREDICT, or beside
                          $XLEARN_TRAIN) with --sigmoid for classification.
  xlearn                  the xlearn Python package (create_fm, opt sgd, no early stop,
                          no instance normalisation), when it imports.
  fastfm                  fastFM.sgd.FMRegression / FMClassification (n_iter = epochs x
                          rows single-sample steps), when fastFM imports. One thread.
  rapidfm-mcmc-1t/-Nt     FMRegressor / FMClassifier(solver="mcmc"), float64, one sweep
                          per epoch (the same k, epochs and init_std; no learning rate or
                          regularisation: the sampler learns them); classification is
                          the probit model. Test metric: predict / predict_proba (the mean
                          over the kept samples); curve: the running mean of the per-sweep
                          predictions, as libFM prints it.
  rapidfm-als-1t/-Nt      solver="als", L2 strengths als_reg of the data set (default
                          0,10,10); test metric of the last iterate.
  libfm-mcmc, libfm-als   $LIBFM_BIN -method mcmc | als (-regular als_reg for ALS), same
                          files and flags as libfm otherwise; s/epoch from time_learn
                          (which includes libFM's prediction of train and test in every
                          iteration). libFM's -out is, for MCMC, the prediction averaged
                          over all samples (no burn-in), for ALS the last iterate; its
                          printed "Test=" curve is the running average for both.
  myfm                    myfm.MyFMRegressor / MyFMClassifier (Gibbs sampler, its own
                          priors), n_kept_samples = epochs - min(5, epochs // 2); when
                          `import myfm` works. One thread; s/epoch = fit wall / epochs.

Timing: s/epoch is the median (min..max) over the epochs after the first, which is
the warm-up; every epoch counts for the test metric. Where a tool reports no
per-epoch time, s/epoch is its wall time over the epochs (said in its notes).
ns/nnz is s/epoch over the nonzeros of the rows it refers to.

Without LIBFM_BIN, the planted headline quotes libFM SGD's figure from the project's
latest run with libFM (bench/README.md: 70.4 ns/nnz on its 2 vCPU machine), labelled as
not measured in the run.

Test metrics: RMSE of predictions clipped to the training-target range (as libFM
and rapidfm predict), or mean log-loss of probabilities clipped to [1e-15, 1-1e-15].
Evaluation after each epoch (for the metric-vs-time curve) is not timed.

    python bench/compare.py                       # all data sets (about 7 minutes on 2 cores)
    python bench/compare.py --rows 100000 --datasets planted --contenders rapidfm,numpy
    LIBFM_BIN=~/libfm/bin/libFM python bench/compare.py --datasets movielens

Writes bench/results/compare.json and compare.md, and compare_metric_vs_time.png
when matplotlib is installed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import rapidfm
from rapidfm import _core
from rapidfm.datasets import load_movielens, make_planted_fm
from rapidfm.io import dump_libffm, dump_svmlight

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

# a9a's 123 binary features are 14 one-hot attributes of UCI Adult; first (1-based)
# feature of each (checked: no two features of one attribute occur in one row)
A9A_FIELD_STARTS = [1, 6, 14, 19, 35, 40, 47, 61, 67, 72, 74, 76, 78, 83]

# als_reg: the L2 strengths (bias, linear, factors) of the ALS contenders (SGD's reg is far
# too weak for an exact minimiser); MCMC learns its regularisation
DATASETS = {
    "planted": {"task": "regression", "k": 8, "epochs": 10, "lr": 0.01,
                "reg": (0.0, 0.0, 0.0), "init_std": 0.1, "als_reg": (0.0, 10.0, 10.0)},
    "movielens": {"task": "regression", "k": 8, "epochs": 20, "lr": 0.01,
                  "reg": (0.0, 0.01, 0.05), "init_std": 0.1, "als_reg": (0.0, 10.0, 10.0)},
    "a9a": {"task": "classification", "k": 8, "epochs": 10, "lr": 0.01,
            "reg": (0.0, 0.001, 0.001), "init_std": 0.1, "als_reg": (0.0, 10.0, 10.0)},
}
# ns per nonzero of libFM 1.4.4 SGD on the planted set in the project's latest run with
# LIBFM_BIN (bench/README.md, 2026-11-21, 2 vCPU Xeon; not measured here). Quoted for the
# planted set only when libFM did not run, and labelled as not measured in this run.
LIBFM_SGD_CITED_NS = 70.4
CONTENDERS = ["rapidfm", "rapidfm-adagrad", "rapidfm-ftrl", "rapidfm-ftrl-l1",
              "rapidfm-defaults", "numpy", "torch", "libfm", "libffm", "xlearn-cli", "xlearn",
              "fastfm", "rapidfm-mcmc", "rapidfm-als", "libfm-mcmc", "libfm-als", "myfm"]
# rapidfm-ftrl-l1: the L1 strength on w (reg_linear_l1) per data set
FTRL_L1 = {"planted": 3.0, "movielens": 1.0, "a9a": 1.0}


def data_dir():
    return Path(os.environ.get("RAPIDFM_DATA", REPO.parent / "shared" / "data"))


# -- data --------------------------------------------------------------------------------
class Data:
    """Train/test CSR matrices (float64 values), targets and field of each column."""

    def __init__(self, name, task, X_train, y_train, X_test, y_test, fields, note):
        self.name, self.task, self.note = name, task, note
        self.X_train = sp.csr_matrix(X_train, dtype=np.float64)
        self.X_test = sp.csr_matrix(X_test, dtype=np.float64)
        for X in (self.X_train, self.X_test):
            X.sort_indices()
        # regression: real targets; classification: labels -1/+1
        self.y_train = np.asarray(y_train, dtype=np.float64)
        self.y_test = np.asarray(y_test, dtype=np.float64)
        self.fields = np.asarray(fields, dtype=np.int64)  # field id of each column

    @property
    def n_features(self):
        return self.X_train.shape[1]


def load_planted(rows, values, seed):
    n_test = max(rows // 10, 1000)
    d = make_planted_fm(n_samples=rows + n_test, n_fields=4, field_cardinality=values,
                        n_factors=4, noise_std=0.5, zipf_exponent=1.1, random_state=seed)
    Xtr, ytr, Xte, yte = d.split(rows)
    fields = np.repeat(np.arange(4), values)
    return Data("planted", "regression", Xtr, ytr, Xte, yte, fields,
                f"make_planted_fm {rows:,} train + {n_test:,} test rows x 4 fields x "
                f"{values:,} values ({4 * values:,} features), Zipf 1.1, noise floor RMSE "
                f"{d.noise_floor:.3f}")


def load_ml100k():
    base = data_dir() / "ml-100k"
    train, test = base / "u1.base", base / "u1.test"
    if not (train.exists() and test.exists()):
        return f"{train} not found (set RAPIDFM_DATA)"
    Xtr, ytr, Xte, yte = load_movielens(train, test, dtype=np.float64)
    # load_movielens numbers users first, up to the largest user id of either file
    users = max(int(np.loadtxt(p, dtype=np.int64, usecols=0).max()) for p in (train, test))
    fields = np.r_[np.zeros(users, np.int64), np.ones(Xtr.shape[1] - users, np.int64)]
    return Data("movielens", "regression", Xtr, ytr, Xte, yte, fields,
                f"MovieLens 100k u1: {Xtr.shape[0]:,} train / {Xte.shape[0]:,} test ratings, "
                f"{Xtr.shape[1]:,} features (user + item one-hot)")


def read_libsvm(path, n_features, one_based=True):
    """A small LIBSVM reader: (CSR matrix, labels)."""
    labels, indptr, indices, values = [], [0], [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            labels.append(float(parts[0]))
            for tok in parts[1:]:
                j, v = tok.split(":")
                indices.append(int(j) - (1 if one_based else 0))
                values.append(float(v))
            indptr.append(len(indices))
    X = sp.csr_matrix((np.asarray(values), np.asarray(indices, dtype=np.int64),
                       np.asarray(indptr, dtype=np.int64)), shape=(len(labels), n_features))
    X.sum_duplicates()
    return X, np.asarray(labels)


def load_a9a():
    base = data_dir() / "a9a"
    train, test = base / "a9a", base / "a9a.t"
    if not (train.exists() and test.exists()):
        return f"{train} not found (set RAPIDFM_DATA)"
    Xtr, ytr = read_libsvm(train, 123)
    Xte, yte = read_libsvm(test, 123)
    starts = np.asarray(A9A_FIELD_STARTS) - 1
    fields = np.searchsorted(starts, np.arange(123), side="right") - 1
    return Data("a9a", "classification", Xtr, np.where(ytr > 0, 1.0, -1.0), Xte,
                np.where(yte > 0, 1.0, -1.0), fields,
                f"a9a: {Xtr.shape[0]:,} train / {Xte.shape[0]:,} test rows, 123 features, "
                f"labels +1/-1")


# -- metrics -------------------------------------------------------------------------------
def metric(task, y, raw=None, proba=None, y_range=None):
    """RMSE of clipped predictions, or log-loss (y in -1/+1) from raw scores or P(+1)."""
    if task == "regression":
        p = np.asarray(raw, dtype=np.float64)
        if y_range is not None:
            p = np.clip(p, *y_range)
        return float(np.sqrt(np.mean((p - y) ** 2)))
    if proba is None:
        return float(np.mean(np.logaddexp(0.0, -y * np.asarray(raw, dtype=np.float64))))
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y > 0, np.log(p), np.log(1 - p))))


def constant_metric(data):
    """Test metric of the best constant, fitted on the training targets: the bar to beat."""
    if data.task == "regression":
        return metric("regression", data.y_test, np.full(data.y_test.size, data.y_train.mean()))
    p = float(np.mean(data.y_train > 0))
    return metric("classification", data.y_test, proba=np.full(data.y_test.size, p))


def metric_name(task):
    return "RMSE" if task == "regression" else "log-loss"


def fm_raw(X, w0, w, V):
    """FM output for every row of CSR X (vectorised, for evaluation)."""
    q = X @ V
    sq = (X.multiply(X)) @ (V * V)
    return w0 + X @ w + 0.5 * (np.sum(q * q, axis=1) - np.sum(sq, axis=1))


def initial_bias(task, y):
    if task == "regression":
        return float(np.mean(y))
    p = min(max(float(np.mean(y > 0)), 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def epoch_timing(seconds):
    """seconds_per_epoch (median) and its [min, max] over the epochs after the first.

    The first epoch is the warm-up (page faults, caches, allocator); every epoch still
    counts for the test metric and the curve.
    """
    timed = np.asarray(seconds[1:] if len(seconds) > 1 else seconds, dtype=float)
    return {"seconds_per_epoch": float(np.median(timed)),
            "seconds_per_epoch_range": [float(timed.min()), float(timed.max())]}


def result(name, threads, *, seconds_per_epoch, epoch_nnz, **kw):
    """A finished run; epoch_nnz: the nonzeros of the rows seconds_per_epoch refers to."""
    out = {"contender": name, "threads": threads, "status": "ok",
           "seconds_per_epoch": seconds_per_epoch,
           "ns_per_nonzero": 1e9 * seconds_per_epoch / max(epoch_nnz, 1)}
    out.update(kw)
    return out


def skipped(name, reason, threads=None):
    return {"contender": name, "threads": threads, "status": "skipped", "reason": reason}


# -- contenders --------------------------------------------------------------------------------
def run_rapidfm(data, cfg, threads, seed, rows=None, label=None, solver="sgd", params=None):
    """rapidfm with `solver`: the data set's k, epochs, regularisation and init, and for
    SGD its learning rate; the adaptive solvers take their own default learning rate
    (their step is not comparable with SGD's); params overrides any of these
    (params="defaults": the estimator's defaults, only threads and seed set)."""
    X, y = data.X_train, data.y_train
    if rows is not None:
        X, y = X[rows], y[rows]
    cls = rapidfm.FMRegressor if data.task == "regression" else rapidfm.FMClassifier
    y_range = (float(y.min()), float(y.max()))
    curve, eval_time = [], [0.0]

    def evaluate(model, history):
        t0 = time.perf_counter()
        # predict() clips to the training-target range, as metric() does for the others
        raw = (model.decision_function(data.X_test) if data.task == "classification"
               else model.predict(data.X_test))
        curve.append([sum(h["seconds"] for h in history),
                      metric(data.task, data.y_test, raw, y_range=y_range)])
        eval_time[0] += time.perf_counter() - t0

    if params == "defaults":
        kw = {}
    else:
        kw = dict(solver=solver, n_factors=cfg["k"], n_epochs=cfg["epochs"],
                  learning_rate=cfg["lr"] if solver == "sgd" else None,
                  reg_bias=cfg["reg"][0], reg_linear=cfg["reg"][1], reg_factors=cfg["reg"][2],
                  init_std=cfg["init_std"], dtype=np.float32)
        kw.update(params or {})
    model = cls(n_jobs=threads, random_state=seed, callbacks=[evaluate], **kw)
    t0 = time.perf_counter()
    model.fit(X, y)
    wall = time.perf_counter() - t0 - eval_time[0]
    secs = [h["seconds"] for h in model.history_]
    name = label or f"rapidfm-{threads}t"
    extra = {}
    if model.solver == "ftrl":
        extra["w_zero_fraction"] = float(np.mean(model.w_ == 0))
    if rows is not None:  # the plot's time axis: what full epochs would have cost
        scale = data.X_train.shape[0] / X.shape[0]
        curve = [[t * scale, m] for t, m in curve]
    return result(name, threads, train_rows=X.shape[0], epochs=len(secs),
                  **epoch_timing(secs), epoch_nnz=X.nnz, fit_wall_seconds=wall,
                  test_metric=curve[-1][1], curve=curve,
                  mode=model.history_[-1]["parallel_mode"], subsample=rows is not None,
                  solver=model.solver, learning_rate=model.history_[-1]["learning_rate"],
                  **extra,
                  note=("trained on the same subsample as numpy-loop; s/epoch measured on "
                        "it (the plot scales its time to the full set)" if rows is not None
                        else "float32; s/epoch = kernel time per epoch (history_)"))


def norm_cdf(x):
    from scipy.special import ndtr

    return ndtr(x)


def run_rapidfm_solver(data, cfg, solver, threads, seed):
    """FMRegressor / FMClassifier(solver="mcmc" | "als"), float64 (libFM's precision).

    The curve: after every sweep, the test metric of the prediction averaged over the
    sweeps so far (clipped values, or Phi(y(x)) for the probit classifier), which is what
    libFM prints for MCMC and ALS; the final metric is that of predict / predict_proba
    (MCMC: the kept samples; ALS: the last iterate).
    """
    name = f"rapidfm-{solver}-{threads}t"
    cls = rapidfm.FMRegressor if data.task == "regression" else rapidfm.FMClassifier
    X, y = data.X_train, data.y_train
    y_range = (float(y.min()), float(y.max()))
    curve, eval_time, total = [], [0.0], [None, 0]

    def evaluate(model, history):
        t0 = time.perf_counter()
        raw = model._predict_current(data.X_test)
        p = (np.clip(raw, *y_range) if data.task == "regression" else norm_cdf(raw))
        total[0] = p if total[0] is None else total[0] + p
        total[1] += 1
        avg = total[0] / total[1]
        m = (metric("regression", data.y_test, avg) if data.task == "regression"
             else metric("classification", data.y_test, proba=avg))
        curve.append([sum(h["seconds"] for h in history), m])
        eval_time[0] += time.perf_counter() - t0

    reg = cfg["als_reg"] if solver == "als" else (0.0, 0.0, 0.0)
    try:
        model = cls(solver=solver, n_factors=cfg["k"], n_epochs=cfg["epochs"],
                    reg_bias=reg[0], reg_linear=reg[1], reg_factors=reg[2],
                    init_std=cfg["init_std"], n_jobs=threads, random_state=seed,
                    dtype=np.float64, callbacks=[evaluate])
    except TypeError as exc:
        return skipped(name, f"skipped: this rapidfm has no solver parameter ({exc})", threads)
    t0 = time.perf_counter()
    model.fit(X, y)
    wall = time.perf_counter() - t0 - eval_time[0]
    secs = [h["seconds"] for h in model.history_]
    final = (metric("regression", data.y_test, model.predict(data.X_test))
             if data.task == "regression" else
             metric("classification", data.y_test, proba=model.predict_proba(data.X_test)[:, 1]))
    what = ("mean over the kept samples" if solver == "mcmc" else "last iterate")
    reg_note = f", L2 {tuple(reg)}" if solver == "als" else ""
    return result(name, threads, train_rows=X.shape[0], epochs=len(secs), **epoch_timing(secs),
                  epoch_nnz=X.nnz, fit_wall_seconds=wall, test_metric=final, curve=curve,
                  note=f"{solver.upper()}{reg_note}, float64; s/epoch = kernel time per sweep "
                       f"(history_); test metric: predict ({what})")


def run_myfm(data, cfg, seed):
    """myFM's Gibbs sampler (MyFMRegressor / MyFMClassifier), one thread."""
    # myfm's fit always draws a tqdm progress bar; tqdm reads this when it is imported
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import myfm
    except ImportError as exc:
        return skipped("myfm", f"skipped (not found): import myfm: {exc}")
    epochs = cfg["epochs"]
    kept = epochs - min(5, epochs // 2)  # rapidfm's default burn-in
    X, y = data.X_train, data.y_train
    kw = {"rank": cfg["k"], "init_stdev": cfg["init_std"], "random_seed": seed}
    model = (myfm.MyFMRegressor(**kw) if data.task == "regression"
             else myfm.MyFMClassifier(**kw))
    target = y if data.task == "regression" else (y > 0).astype(np.int64)
    t0 = time.perf_counter()
    model.fit(X, target, n_iter=epochs, n_kept_samples=kept, callback=lambda *_: (False, None))
    wall = time.perf_counter() - t0
    if data.task == "regression":
        final = metric("regression", data.y_test, model.predict(data.X_test),
                       y_range=(float(y.min()), float(y.max())))
    else:
        final = metric("classification", data.y_test, proba=model.predict_proba(data.X_test))
    return result("myfm", 1, train_rows=X.shape[0], epochs=epochs,
                  seconds_per_epoch=wall / epochs, epoch_nnz=X.nnz, wall_seconds=wall,
                  test_metric=final, curve=[[wall, final]],
                  note=f"myFM {getattr(myfm, '__version__', '?')} Gibbs (MCMC), "
                       f"n_kept_samples {kept}; s/epoch = fit wall / sweeps")


def numpy_sgd(X, y, Xtest, ytest, task, cfg, seed, y_range):
    """The textbook per-sample FM SGD, one row at a time with numpy (float64)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    k = cfg["k"]
    lr = cfg["lr"]
    r0, r1, r2 = cfg["reg"]
    w0 = initial_bias(task, y)
    w = np.zeros(d)
    V = rng.normal(0.0, cfg["init_std"], (d, k))
    indptr, indices, values = X.indptr, X.indices, X.data
    lo, hi = y_range if task == "regression" else (-np.inf, np.inf)
    epoch_seconds, curve = [], []
    for _ in range(cfg["epochs"]):
        order = rng.permutation(n)
        t0 = time.perf_counter()
        for i in order:
            start, end = indptr[i], indptr[i + 1]
            idx = indices[start:end]
            x = values[start:end]
            Vi = V[idx]                       # (nnz, k) factor rows of the row's features
            xv = Vi * x[:, None]
            q = xv.sum(axis=0)                # sum_j v_j x_j
            p = w0 + np.dot(w[idx], x) + 0.5 * (np.dot(q, q) - np.sum(xv * xv))
            if task == "regression":
                p = min(max(p, lo), hi)
                g = p - y[i]
            else:
                g = -y[i] / (1.0 + np.exp(y[i] * p))
            w0 -= lr * (g + r0 * w0)
            w[idx] -= lr * (g * x + r1 * w[idx])
            V[idx] -= lr * (g * (np.outer(x, q) - Vi * (x * x)[:, None]) + r2 * Vi)
        epoch_seconds.append(time.perf_counter() - t0)
        raw = fm_raw(Xtest, w0, w, V)
        curve.append([sum(epoch_seconds), metric(task, ytest, raw, y_range=y_range)])
    return epoch_seconds, curve


def run_numpy(data, cfg, seed, max_rows):
    n = data.X_train.shape[0]
    rows = None
    X, y = data.X_train, data.y_train
    if max_rows and n > max_rows:
        rows = np.sort(np.random.default_rng(seed + 1).choice(n, max_rows, replace=False))
        X, y = X[rows], y[rows]
    y_range = (float(y.min()), float(y.max()))
    secs, curve = numpy_sgd(X, y, data.X_test, data.y_test, data.task, cfg, seed, y_range)
    measured = epoch_timing(secs)
    scale = n / X.shape[0]  # s/epoch of the full set: seconds per row x rows
    extrapolated = rows is not None
    note = "float64, one row at a time"
    if extrapolated:
        note = (f"trained on a random {X.shape[0]:,}-row subsample; s/epoch extrapolated to "
                f"{n:,} rows (median s/row x rows); test metric of the subsample model")
        # the curve's time axis: what the full epochs would have cost
        curve = [[t * scale, m] for t, m in curve]
    return result("numpy-loop", 1, train_rows=X.shape[0], epochs=len(secs),
                  seconds_per_epoch=measured["seconds_per_epoch"] * scale,
                  seconds_per_epoch_range=[t * scale for t in measured["seconds_per_epoch_range"]],
                  epoch_nnz=data.X_train.nnz,
                  measured_seconds_per_epoch=measured["seconds_per_epoch"],
                  subsample=extrapolated, extrapolated=extrapolated,
                  test_metric=curve[-1][1], curve=curve, note=note), rows


def run_torch(data, cfg, threads, seed, batch, lr):
    try:
        import torch
    except ImportError as exc:
        return skipped(f"torch-{threads}t", f"not found (import torch: {exc})", threads)
    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_torch(torch, data, cfg, threads, seed, batch, lr)
    finally:
        torch.set_num_threads(previous_threads)


def _run_torch(torch, data, cfg, threads, seed, batch, lr):
    nn = torch.nn

    class TorchFM(nn.Module):
        """y(x) = w0 + sum_j w_j x_j + 1/2 sum_f [(sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2]."""

        def __init__(self, n_features, k, init_std, bias):
            super().__init__()
            self.w0 = nn.Parameter(torch.tensor([bias], dtype=torch.float32))
            self.w = nn.Embedding(n_features, 1)
            self.V = nn.Embedding(n_features, k)
            nn.init.zeros_(self.w.weight)
            nn.init.normal_(self.V.weight, 0.0, init_std)

        def forward(self, idx, vals, row, n_rows):
            e = self.V(idx) * vals[:, None]               # the batch's factor rows, scaled
            k = e.shape[1]
            q = torch.zeros(n_rows, k).index_add_(0, row, e)          # per-row sums
            s2 = torch.zeros(n_rows, k).index_add_(0, row, e * e)
            lin = torch.zeros(n_rows).index_add_(0, row, self.w(idx).squeeze(1) * vals)
            return self.w0 + lin + 0.5 * (q * q - s2).sum(dim=1)

    X, y = data.X_train, data.y_train
    n = X.shape[0]
    model = TorchFM(data.n_features, cfg["k"], cfg["init_std"], initial_bias(data.task, y))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if data.task == "regression":
        loss_fn = nn.MSELoss()
        target = torch.tensor(y, dtype=torch.float32)
        y_range = (float(y.min()), float(y.max()))
    else:
        loss_fn = nn.BCEWithLogitsLoss()
        target = torch.tensor((y > 0).astype(np.float32))
        y_range = None
    indptr, indices, values = X.indptr, X.indices, X.data.astype(np.float32)
    Xt = data.X_test
    t_idx = torch.from_numpy(Xt.indices.astype(np.int64))
    t_val = torch.from_numpy(Xt.data.astype(np.float32))
    t_row = torch.from_numpy(np.repeat(np.arange(Xt.shape[0]), np.diff(Xt.indptr)))
    rng = np.random.default_rng(seed)
    secs, curve = [], []
    for _ in range(cfg["epochs"]):
        order = rng.permutation(n)
        t0 = time.perf_counter()
        model.train()
        for b in range(0, n, batch):
            rows = order[b:b + batch]
            lengths = indptr[rows + 1] - indptr[rows]
            starts = np.repeat(indptr[rows] - np.cumsum(lengths) + lengths, lengths)
            pos = starts + np.arange(lengths.sum())
            idx = torch.from_numpy(indices[pos].astype(np.int64))
            vals = torch.from_numpy(values[pos])
            row = torch.from_numpy(np.repeat(np.arange(rows.size), lengths))
            opt.zero_grad()
            out = model(idx, vals, row, rows.size)
            loss = loss_fn(out, target[torch.from_numpy(rows)])
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            raw = model(t_idx, t_val, t_row, Xt.shape[0]).numpy().astype(np.float64)
        curve.append([sum(secs), metric(data.task, data.y_test, raw, y_range=y_range)])
    return result(f"torch-{threads}t", threads, train_rows=n, epochs=len(secs),
                  **epoch_timing(secs), epoch_nnz=X.nnz, test_metric=curve[-1][1], curve=curve,
                  note=f"torch {torch.__version__}, Adam lr {lr}, batch {batch}, float32")


# -- external programs -----------------------------------------------------------------------
def write_libsvm(path, X, y, zero_based=True, fields=None):
    """'label idx:value ...' (libFM, xLearn FM) or 'label field:idx:value' (libffm; fields
    maps each feature to its field), through rapidfm's own writers."""
    if fields is None:
        dump_svmlight(X, y, path, zero_based=zero_based)
    else:
        dump_libffm(X, np.asarray(fields)[X.indices], y, path)


def shuffled_train(data, seed):
    order = np.random.default_rng(seed + 2).permutation(data.X_train.shape[0])
    return data.X_train[order], data.y_train[order]


def run_libfm(data, cfg, seed, workdir, method="sgd"):
    """libFM -method sgd (contender "libfm"), or mcmc / als ("libfm-mcmc", "libfm-als")."""
    name = "libfm" if method == "sgd" else f"libfm-{method}"
    exe = os.environ.get("LIBFM_BIN")
    if not exe:
        return skipped(name, "skipped (not found): set LIBFM_BIN to the libFM binary")
    if not (shutil.which(exe) or Path(exe).is_file()):
        return skipped(name, f"skipped (not found): LIBFM_BIN={exe} does not exist")
    work = Path(workdir) / f"libfm-{data.name}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    if not (work / "train.libfm").exists():  # the same files for every method
        write_libsvm(work / "train.libfm", Xtr, ytr)
        write_libsvm(work / "test.libfm", data.X_test, data.y_test)
    for stale in ("pred.txt", "rlog.txt"):
        (work / stale).unlink(missing_ok=True)
    cmd = [exe, "-task", "r" if data.task == "regression" else "c",
           "-train", str(work / "train.libfm"), "-test", str(work / "test.libfm"),
           "-dim", f"1,1,{cfg['k']}", "-iter", str(cfg["epochs"]), "-method", method]
    if method == "sgd":
        r0, r1, r2 = cfg["reg"]
        cmd += ["-learn_rate", str(cfg["lr"]), "-regular", f"{r0},{r1},{r2}"]
    elif method == "als":
        cmd += ["-regular", ",".join(f"{r:g}" for r in cfg["als_reg"])]
    cmd += ["-init_stdev", str(cfg["init_std"]), "-seed", str(seed),
            "-out", str(work / "pred.txt"), "-rlog", str(work / "rlog.txt")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0 or not (work / "pred.txt").exists():
        return skipped(name, f"failed (exit {res.returncode}): {res.stderr.strip()[-300:]}", 1)
    iters = re.findall(r"#Iter=\s*(\d+)\s+Train=(\S+)\s+Test=(\S+)", res.stdout)
    times = parse_rlog(work / "rlog.txt", "time_learn")
    pred = np.loadtxt(work / "pred.txt", ndmin=1)
    y_range = (float(ytr.min()), float(ytr.max()))
    if data.task == "regression":
        final = metric("regression", data.y_test, pred, y_range=y_range)
    else:
        final = metric("classification", data.y_test, proba=pred)
    curve = []
    if data.task == "regression" and times and len(times) == len(iters):
        curve = [[float(sum(times[: i + 1])), float(test)]
                 for i, (_, _, test) in enumerate(iters)]
    timing = (epoch_timing(times) if times
              else {"seconds_per_epoch": wall / cfg["epochs"]})
    if method == "sgd":
        note = ("libFM SGD; s/epoch from -rlog time_learn (user CPU s)" if times
                else "libFM SGD; s/epoch = process wall time / iterations")
    else:
        note = (f"libFM {method.upper()}; s/sweep from -rlog time_learn (user CPU s, includes "
                f"its prediction of train and test each iteration); test metric of -out: "
                + ("the mean over all samples" if method == "mcmc" else "the last iterate")
                + ")")
    return result(name, 1, train_rows=Xtr.shape[0], epochs=len(iters) or cfg["epochs"],
                  **timing, epoch_nnz=Xtr.nnz, wall_seconds=wall, test_metric=final,
                  curve=curve or [[wall, final]],
                  command=" ".join(cmd), note=note)


def parse_rlog(path, column):
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    header = lines[0].split("\t")
    if column not in header:
        return []
    col = header.index(column)
    out = []
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) > col:
            try:
                out.append(float(parts[col]))
            except ValueError:
                pass
    return out


def run_libffm(data, cfg, threads, seed, workdir, lr, lam):
    name = f"libffm-{threads}t"
    exe = os.environ.get("LIBFFM_TRAIN")
    if not exe:
        return skipped(name, "skipped (not found): set LIBFFM_TRAIN to ffm-train", threads)
    if not (shutil.which(exe) or Path(exe).is_file()):
        return skipped(name, f"skipped (not found): LIBFFM_TRAIN={exe} does not exist", threads)
    if data.task != "classification":
        return skipped(name, "skipped: libffm is classification-only (logistic loss)", threads)
    work = Path(workdir) / f"libffm-{data.name}-{threads}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    # libffm labels are 0/1; fields and indices 0-based
    write_libsvm(work / "train.ffm", Xtr, (ytr > 0).astype(int), fields=data.fields)
    write_libsvm(work / "test.ffm", data.X_test, (data.y_test > 0).astype(int),
                 fields=data.fields)
    cmd = [exe, "-k", str(cfg["k"]), "-t", str(cfg["epochs"]), "-r", str(lr), "-l", str(lam),
           "-s", str(threads), "-p", str(work / "test.ffm"), str(work / "train.ffm"),
           str(work / "model")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return skipped(name, f"failed (exit {res.returncode}): {res.stdout.strip()[-300:]}",
                       threads)
    header, rows = None, []
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "iter":
            header = parts
        elif header and parts and parts[0].isdigit() and len(parts) == len(header):
            rows.append(dict(zip(header, map(float, parts))))
    if not rows or "va_logloss" not in rows[-1]:
        return skipped(name, "failed: no per-iteration table in the ffm-train output", threads)
    if "tr_time" in rows[-1]:  # newer libffm: cumulative training seconds
        cum = [r["tr_time"] for r in rows]
        timing = epoch_timing(np.diff([0.0] + cum))
        note = "FFM (AdaGrad); s/epoch from tr_time (printed to 0.1 s)"
    else:
        cum = [wall * (i + 1) / len(rows) for i in range(len(rows))]
        timing = {"seconds_per_epoch": wall / len(rows)}
        note = "FFM (AdaGrad); s/epoch = process wall time / iterations (includes loading)"
    curve = [[c, r["va_logloss"]] for c, r in zip(cum, rows)]
    return result(name, threads, train_rows=Xtr.shape[0], epochs=len(rows), **timing,
                  epoch_nnz=Xtr.nnz, wall_seconds=wall, test_metric=rows[-1]["va_logloss"],
                  curve=curve,
                  command=" ".join(cmd),
                  note=f"{note}; eta {lr}, lambda {lam}")


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_xlearn_cli(data, cfg, threads, seed, workdir):
    name = f"xlearn-cli-{threads}t"
    exe = os.environ.get("XLEARN_TRAIN")
    if not exe:
        return skipped(name, "skipped (not found): set XLEARN_TRAIN to xlearn_train", threads)
    if not (shutil.which(exe) or Path(exe).is_file()):
        return skipped(name, f"skipped (not found): XLEARN_TRAIN={exe} does not exist", threads)
    work = Path(workdir) / f"xlearn-{data.name}-{threads}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    regression = data.task == "regression"
    # xLearn reads 0/1 labels for classification
    write_libsvm(work / "train.txt", Xtr, ytr if regression else (ytr > 0).astype(int))
    write_libsvm(work / "test.txt", data.X_test,
                 data.y_test if regression else (data.y_test > 0).astype(int))
    cmd = [exe, str(work / "train.txt"), "-s", "4" if regression else "1",
           "-v", str(work / "test.txt"), "-m", str(work / "model.bin"), "-k", str(cfg["k"]),
           "-r", str(cfg["lr"]), "-b", str(cfg["reg"][2]), "-e", str(cfg["epochs"]),
           "-p", "sgd", "-nthread", str(threads), "--dis-es", "--no-norm"]
    if regression:
        cmd += ["-x", "rmse"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return skipped(name, f"failed (exit {res.returncode}): "
                       f"{ANSI.sub('', res.stdout + res.stderr).strip()[-300:]}", threads)
    rows = []
    for line in ANSI.sub("", res.stdout).splitlines():
        m = re.match(r"\s*\[\s*\d+%\s*\]\s+(.*)$", line)
        if m:
            nums = m.group(1).split()
            try:
                rows.append([float(v) for v in nums])
            except ValueError:
                continue
    # columns: epoch, train loss, test loss, [test metric], time cost
    curve, cum = [], 0.0
    for r in rows:
        cum += r[-1]
        curve.append([cum, r[3] if regression and len(r) >= 5 else r[2]])
    final = curve[-1][1] if curve else None
    predict = os.environ.get("XLEARN_PREDICT") or str(Path(exe).with_name("xlearn_predict"))
    if Path(predict).is_file() or shutil.which(predict):
        pcmd = [predict, str(work / "test.txt"), str(work / "model.bin"), "-o",
                str(work / "pred.txt"), "-nthread", str(threads)]
        if not regression:
            pcmd.append("--sigmoid")
        if subprocess.run(pcmd, capture_output=True, cwd=work).returncode == 0:
            pred = np.loadtxt(work / "pred.txt", ndmin=1)
            final = (metric("regression", data.y_test, pred,
                            y_range=(float(ytr.min()), float(ytr.max()))) if regression
                     else metric("classification", data.y_test, proba=pred))
    if final is None:
        return skipped(name, "failed: no epoch table in the xlearn_train output", threads)
    timing = (epoch_timing([r[-1] for r in rows]) if rows
              else {"seconds_per_epoch": wall / cfg["epochs"]})
    return result(name, threads, train_rows=Xtr.shape[0], epochs=len(rows) or cfg["epochs"],
                  **timing, epoch_nnz=Xtr.nnz, wall_seconds=wall, test_metric=final,
                  curve=curve, command=" ".join(cmd),
                  note="xLearn FM, SGD; s/epoch includes its per-epoch test evaluation")


def run_xlearn_py(data, cfg, threads, seed, workdir):
    name = f"xlearn-{threads}t"
    try:
        import xlearn as xl
    except ImportError as exc:
        return skipped(name, f"skipped (not found): import xlearn: {exc}", threads)
    work = Path(workdir) / f"xlearn-py-{data.name}-{threads}"
    work.mkdir(exist_ok=True)
    Xtr, ytr = shuffled_train(data, seed)
    regression = data.task == "regression"
    write_libsvm(work / "train.txt", Xtr, ytr if regression else (ytr > 0).astype(int))
    write_libsvm(work / "test.txt", data.X_test,
                 data.y_test if regression else (data.y_test > 0).astype(int))
    model = xl.create_fm()
    model.setTrain(str(work / "train.txt"))
    model.disableEarlyStop()
    model.disableNorm()
    model.setQuiet()
    param = {"task": "reg" if regression else "binary", "lr": cfg["lr"],
             "lambda": cfg["reg"][2], "k": cfg["k"], "epoch": cfg["epochs"], "opt": "sgd",
             "nthread": threads}
    t0 = time.perf_counter()
    model.fit(param, str(work / "model.bin"))
    wall = time.perf_counter() - t0
    model.setTest(str(work / "test.txt"))
    if not regression:
        model.setSigmoid()
    model.predict(str(work / "model.bin"), str(work / "pred.txt"))
    pred = np.loadtxt(work / "pred.txt", ndmin=1)
    final = (metric("regression", data.y_test, pred,
                    y_range=(float(ytr.min()), float(ytr.max()))) if regression
             else metric("classification", data.y_test, proba=pred))
    return result(name, threads, train_rows=Xtr.shape[0], epochs=cfg["epochs"],
                  seconds_per_epoch=wall / cfg["epochs"], epoch_nnz=Xtr.nnz, wall_seconds=wall,
                  test_metric=final, curve=[[wall, final]],
                  note="xlearn Python package, SGD; s/epoch = fit wall (incl. reading the "
                       "text files) / epochs")


def run_fastfm(data, cfg, seed):
    try:
        from fastFM import sgd
    except ImportError as exc:
        return skipped("fastfm", f"skipped (not found): import fastFM: {exc}")
    Xtr, ytr = shuffled_train(data, seed)
    n = Xtr.shape[0]
    kw = {"n_iter": cfg["epochs"] * n, "init_stdev": cfg["init_std"], "rank": cfg["k"],
          "l2_reg_w": cfg["reg"][1], "l2_reg_V": cfg["reg"][2], "step_size": cfg["lr"],
          "random_state": seed}
    model = (sgd.FMRegression(**kw) if data.task == "regression"
             else sgd.FMClassification(**kw))
    t0 = time.perf_counter()
    model.fit(sp.csc_matrix(Xtr), ytr)  # classification labels already -1/+1
    wall = time.perf_counter() - t0
    if data.task == "regression":
        final = metric("regression", data.y_test, model.predict(sp.csc_matrix(data.X_test)),
                       y_range=(float(ytr.min()), float(ytr.max())))
    else:
        final = metric("classification", data.y_test,
                       proba=model.predict_proba(sp.csc_matrix(data.X_test)))
    return result("fastfm", 1, train_rows=n, epochs=cfg["epochs"],
                  seconds_per_epoch=wall / cfg["epochs"], epoch_nnz=Xtr.nnz, wall_seconds=wall,
                  test_metric=final, curve=[[wall, final]],
                  note="fastFM sgd, n_iter = epochs x rows; s/epoch = fit wall / epochs")


# -- driver ----------------------------------------------------------------------------------
def run_dataset(data, cfg, args, cores, workdir):
    runs = []
    wanted = set(args.contenders)
    thread_counts = sorted({1, cores})

    def log(r):
        if r["status"] == "ok":
            zeros = (f"  w zeros {r['w_zero_fraction']:.1%}" if "w_zero_fraction" in r
                     else "")
            print(f"  {r['contender']:<20} {r['seconds_per_epoch']:10.4f} s/epoch  "
                  f"test {metric_name(data.task)} {r['test_metric']:.4f}{zeros}", flush=True)
        else:
            print(f"  {r['contender']:<16} {r['reason']}", flush=True)
        runs.append(r)

    def per_threads(name, fn):
        """Runs fn(t) for each thread count; a tool unavailable at the first is listed once."""
        for i, t in enumerate(thread_counts):
            r = fn(t)
            if r["status"] == "skipped" and i == 0:
                r["contender"], r["threads"] = name, None
                log(r)
                return
            log(r)

    if "rapidfm" in wanted:
        for t in thread_counts:
            log(run_rapidfm(data, cfg, t, args.seed))
    for solver in ("adagrad", "ftrl"):
        if f"rapidfm-{solver}" in wanted:
            for t in thread_counts:
                log(run_rapidfm(data, cfg, t, args.seed, solver=solver,
                                label=f"rapidfm-{solver}-{t}t"))
    if "rapidfm-ftrl-l1" in wanted:
        log(run_rapidfm(data, cfg, 1, args.seed, solver="ftrl", label="rapidfm-ftrl-l1-1t",
                        params={"reg_linear_l1": FTRL_L1.get(data.name, 1.0)}))
    if "rapidfm-defaults" in wanted:
        for t in thread_counts:
            log(run_rapidfm(data, cfg, t, args.seed, params="defaults",
                            label=f"rapidfm-defaults-{t}t"))
    if "numpy" in wanted:
        r, rows = run_numpy(data, cfg, args.seed, args.numpy_rows)
        log(r)
        if rows is not None and "rapidfm" in wanted:
            log(run_rapidfm(data, cfg, 1, args.seed, rows=rows, label="rapidfm-1t-sub"))
    if "torch" in wanted:
        per_threads("torch", lambda t: run_torch(data, cfg, t, args.seed, args.torch_batch,
                                                 args.torch_lr))
    if "libfm" in wanted:
        log(run_libfm(data, cfg, args.seed, workdir))
    if "libffm" in wanted:
        per_threads("libffm", lambda t: run_libffm(data, cfg, t, args.seed, workdir,
                                                   args.ffm_lr, args.ffm_lambda))
    if "xlearn-cli" in wanted:
        per_threads("xlearn-cli", lambda t: run_xlearn_cli(data, cfg, t, args.seed, workdir))
    if "xlearn" in wanted:
        per_threads("xlearn", lambda t: run_xlearn_py(data, cfg, t, args.seed, workdir))
    if "fastfm" in wanted:
        log(run_fastfm(data, cfg, args.seed))
    for solver in ("mcmc", "als"):
        if f"rapidfm-{solver}" in wanted:
            per_threads(f"rapidfm-{solver}",
                        lambda t, solver=solver: run_rapidfm_solver(data, cfg, solver, t,
                                                                    args.seed))
        if f"libfm-{solver}" in wanted:
            log(run_libfm(data, cfg, args.seed, workdir, method=solver))
    if "myfm" in wanted:
        log(run_myfm(data, cfg, args.seed))
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="planted,movielens,a9a",
                        help="comma list of planted, movielens, a9a")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma list of {', '.join(CONTENDERS)} (default: all)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="training rows of the planted set (default 1,000,000)")
    parser.add_argument("--planted-values", type=int, default=17_500,
                        help="values per field of the planted set (default 17,500: 70,000 "
                             "features)")
    parser.add_argument("--epochs", type=int, help="override every data set's epochs "
                        "(defaults: planted 10, movielens 20, a9a 10)")
    parser.add_argument("--k", type=int, help="override k (default 8)")
    parser.add_argument("--numpy-rows", type=int, default=100_000,
                        help="most training rows for numpy-loop; more are subsampled and its "
                             "s/epoch extrapolated (0: all rows)")
    parser.add_argument("--torch-batch", type=int, default=1024)
    parser.add_argument("--torch-lr", type=float, default=0.001,
                        help="Adam learning rate (default 0.001)")
    parser.add_argument("--ffm-lr", type=float, default=0.2, help="libffm eta (its default)")
    parser.add_argument("--ffm-lambda", type=float, default=0.00002,
                        help="libffm lambda (its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "compare.json"),
                        help="JSON path; .md and .png go beside it")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown data sets {sorted(unknown)}; choose from {sorted(DATASETS)}")

    cores = _core.max_threads()
    started = time.time()
    report = {"machine": {"cores": cores, "python": sys.version.split()[0],
                          "numpy": np.__version__, "rapidfm": rapidfm.__version__},
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "datasets": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            cfg = dict(DATASETS[name])
            if args.epochs:
                cfg["epochs"] = args.epochs
            if args.k:
                cfg["k"] = args.k
            loaded = {"planted": lambda: load_planted(args.rows, args.planted_values, args.seed),
                      "movielens": load_ml100k, "a9a": load_a9a}[name]()
            if isinstance(loaded, str):
                print(f"# {name}: skipped ({loaded})", flush=True)
                report["datasets"][name] = {"skipped": loaded}
                continue
            print(f"# {name}: {loaded.note}; k={cfg['k']}, {cfg['epochs']} epochs, "
                  f"lr {cfg['lr']}, reg {cfg['reg']}", flush=True)
            runs = run_dataset(loaded, cfg, args, cores, workdir)
            report["datasets"][name] = {"task": loaded.task, "note": loaded.note,
                                        "config": cfg, "metric": metric_name(loaded.task),
                                        "constant_metric": constant_metric(loaded),
                                        "runs": runs}
    report["seconds"] = time.time() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print()
    print(md)
    if not args.no_plots:
        print(plot(report, out))
    print(f"wrote {out} and {out.with_suffix('.md')} ({report['seconds']:.0f} s)")


def headline(name, ds):
    """One line per data set: rapidfm-1t against numpy-loop and libFM, ratios of this run."""
    runs = {r["contender"]: r for r in ds["runs"]}
    one = runs.get("rapidfm-1t")
    if not one or one["status"] != "ok":
        return None
    parts = [f"**{name}**: rapidfm 1 thread {one['seconds_per_epoch']:.4g} s/epoch "
             f"({one['ns_per_nonzero']:.1f} ns/nnz)"]
    ref = runs.get("numpy-loop")
    if ref and ref["status"] == "ok":
        sub = runs.get("rapidfm-1t-sub")
        if ref.get("extrapolated") and sub and sub["status"] == "ok":
            parts.append(
                f"x{ref['seconds_per_epoch'] / one['seconds_per_epoch']:.0f} faster than "
                f"numpy-loop on the full set (numpy-loop {ref['seconds_per_epoch']:.4g} s/epoch, "
                f"extrapolated from a {ref['train_rows']:,}-row subsample), "
                f"x{ref['measured_seconds_per_epoch'] / sub['seconds_per_epoch']:.0f} on that "
                f"subsample (both measured); test {ds['metric']} after {ref['epochs']} epochs "
                f"on the same subsample: rapidfm {sub['test_metric']:.4f}, numpy-loop "
                f"{ref['test_metric']:.4f}")
        else:
            parts.append(
                f"x{ref['seconds_per_epoch'] / one['seconds_per_epoch']:.0f} faster than "
                f"numpy-loop ({ref['seconds_per_epoch']:.4g} s/epoch, measured); test "
                f"{ds['metric']} after {ref['epochs']} epochs: rapidfm {one['test_metric']:.4f}, "
                f"numpy-loop {ref['test_metric']:.4f}")
    lib = runs.get("libfm")
    if lib and lib["status"] == "ok":
        parts.append(f"x{lib['seconds_per_epoch'] / one['seconds_per_epoch']:.1f} faster than "
                     f"libFM SGD ({lib['seconds_per_epoch']:.4g} s/epoch, "
                     f"{lib['ns_per_nonzero']:.1f} ns/nnz, test {lib['test_metric']:.4f})")
    elif lib:
        parts.append(f"libFM not run ({lib['reason']})")
        if name == "planted":
            parts.append(
                f"cited, NOT measured in this run: libFM SGD took {LIBFM_SGD_CITED_NS:g} "
                f"ns/nnz in the project's latest run with libFM (bench/README.md), "
                f"x{LIBFM_SGD_CITED_NS / one['ns_per_nonzero']:.1f} rapidfm-1t's "
                f"{one['ns_per_nonzero']:.1f} ns/nnz here")
    return "; ".join(parts) + "."


def solver_headline(name, ds):
    """rapidfm's MCMC and ALS at 1 thread against libFM's, when both ran."""
    runs = {r["contender"]: r for r in ds["runs"] if r["status"] == "ok"}
    parts = []
    for solver in ("mcmc", "als"):
        ours, lib = runs.get(f"rapidfm-{solver}-1t"), runs.get(f"libfm-{solver}")
        if not ours:
            continue
        text = (f"rapidfm {solver.upper()} 1 thread {ours['seconds_per_epoch']:.4g} s/sweep "
                f"({ours['ns_per_nonzero']:.1f} ns/nnz), test {ds['metric']} "
                f"{ours['test_metric']:.4f}")
        if lib:
            text += (f", x{lib['seconds_per_epoch'] / ours['seconds_per_epoch']:.1f} libFM "
                     f"{solver.upper()}'s {lib['seconds_per_epoch']:.4g} s/iteration (test "
                     f"{lib['test_metric']:.4f})")
        parts.append(text)
    if not parts:
        return None
    return f"**{name}**, solvers: " + "; ".join(parts) + "."


def markdown(report):
    lines = ["## compare", ""]
    heads = [headline(n, d) for n, d in report["datasets"].items() if "runs" in d]
    heads += [solver_headline(n, d) for n, d in report["datasets"].items() if "runs" in d]
    lines += [f"- {h}" for h in heads if h]
    if "runs" in report["datasets"].get("planted", {}):
        lines.append("- The project's targets for rapidfm 1 thread on the planted 1M-row set: "
                     "x100 faster than numpy-loop and x4 faster than libFM SGD per epoch, at "
                     "an equal or better test metric after the same epochs.")
    lines.append("")
    for name, ds in report["datasets"].items():
        if "skipped" in ds:
            lines += [f"### {name}: skipped ({ds['skipped']})", ""]
            continue
        cfg = ds["config"]
        lines += [f"### {name}", "",
                  f"{ds['note']}. k={cfg['k']}, {cfg['epochs']} epochs, SGD learning rate "
                  f"{cfg['lr']}, L2 (bias, linear, factors) {tuple(cfg['reg'])}, init sd "
                  f"{cfg['init_std']}. A constant prediction (the training mean or base "
                  f"rate) scores {ds['constant_metric']:.4f}.", "",
                  f"| contender | threads | train rows | epochs | s/epoch | ns/nnz | vs numpy-loop "
                  f"| test {ds['metric']} | notes |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        ref = next((r for r in ds["runs"] if r["contender"] == "numpy-loop"
                    and r["status"] == "ok"), None)
        for r in ds["runs"]:
            if r["status"] != "ok":
                lines.append(f"| {r['contender']} | {r['threads'] or '-'} | - | - | - | - | - | "
                             f"- | {r['reason']} |")
                continue
            speed = ""
            if ref and r is not ref:
                # a run on numpy-loop's subsample compares with its measured epochs
                base = (ref["measured_seconds_per_epoch"] if r.get("subsample")
                        else ref["seconds_per_epoch"])
                speed = f"x{base / r['seconds_per_epoch']:.0f}"
            rng = r.get("seconds_per_epoch_range")
            spe = f"{r['seconds_per_epoch']:.4g}"
            if rng:
                spe += f" ({rng[0]:.3g}..{rng[1]:.3g})"
            lines.append(f"| {r['contender']} | {r['threads']} | {r['train_rows']:,} | "
                         f"{r['epochs']} | {spe} | {r['ns_per_nonzero']:.1f} | {speed} | "
                         f"{r['test_metric']:.4f} | "
                         f"{r.get('note', '')} |")
        lines.append("")
    return "\n".join(lines)


def plot(report, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib)"
    sets = [(n, d) for n, d in report["datasets"].items() if "runs" in d]
    if not sets:
        return "plot skipped: no data set ran"
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 4.0), squeeze=False)
    for ax, (name, ds) in zip(axes[0], sets):
        for i, r in enumerate(r for r in ds["runs"] if r["status"] == "ok" and r["curve"]):
            t = [max(c[0], 1e-4) for c in r["curve"]]
            m = [c[1] for c in r["curve"]]
            style = "--" if r.get("subsample") else "-"
            ax.plot(t, m, style, marker="o", markersize=3, color=f"C{i}", label=r["contender"])
        ax.set_xscale("log")
        ax.set_xlabel("training time, s (log); dashed: subsample, time scaled to full set")
        ax.set_ylabel(f"test {ds['metric']}")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out.parent / (out.stem + "_metric_vs_time.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"


if __name__ == "__main__":
    main()
