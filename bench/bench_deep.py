"""Neural FMs: rapidfm.deep's AFM and DeepFM against DeepCTR-Torch, FM and FFM, on Frappe.

Protocol:

  data      $RAPIDFM_DATA/frappe/libfm (libFM format, read with rapidfm.io.load_svmlight):
            train on frappe.validation.libfm, test on frappe.test.libfm (read with
            n_features of the training file). Labels +1 -> 1, else 0. Every line has 10
            one-hot items; the i-th item of a line is field i (fields =
            np.arange(M.nnz) - np.repeat(M.indptr[:-1], np.diff(M.indptr))); the script
            checks that every row has 10 values and that each field is its own range of
            columns.
  hold-out  --validation-fraction (default 0.1) of the TRAINING file's rows, at random
            (np.random.default_rng(0).permutation), is the validation set of every
            contender's early stopping; the other rows are its training rows. The test file
            is used once per fit, for the final score only.
  stopping  after each epoch the validation log-loss; an epoch improves when its loss is
            below the best so far minus tol (1e-4, rapidfm's default); training stops after
            --patience (default 2) epochs in a row without improvement, or after the epoch
            limit, and the parameters of the epoch with the lowest validation loss are the
            ones scored (rapidfm: eval_set + n_iter_no_change, best epoch restored; the
            DeepCTR runner applies the same rule itself).
  metrics   test log-loss: mean, in nats, of P(y=1) clipped to [1e-15, 1 - 1e-15]; test AUC
            (ties 1/2) next to it. Seeds 0..--seeds-1 (default 2): the table shows the median
            (min..max) over the seeds; s/epoch: median (min..max) of all the epochs of all
            seeds; fit wall: median (min..max) over the seeds of the whole training (its
            per-epoch validation passes included, the test prediction not).
  rounds    the seeds run in rounds: seed 0 of every contender, then seed 1, ..., so that
            the others' work on a shared machine spreads over all the contenders.

Contenders (k = --factors, default 8; the neural models at most --max-epochs, default 10):

  rapidfm-deepfm  rapidfm.deep.DeepFMClassifier(n_factors=k, n_epochs=--max-epochs,
                  random_state=seed, n_jobs=1, n_iter_no_change=--patience, **--deepfm-params)
                  .fit(X_tr, y_tr, fields=..., eval_set=(X_va, y_va), eval_fields=...);
                  its defaults otherwise (Adam at 0.001, batch 256, hidden (400, 400, 400),
                  dropout 0.5). s/epoch: history_[i]["seconds"]; test: predict_proba(X_te,
                  fields=...)[:, 1]
  rapidfm-afm     rapidfm.deep.AFMClassifier, the same way (**--afm-params; its defaults:
                  Adam, batch 256, attention_factor 8, dropout 0)
  rapidfm-deepfm-pretrained, rapidfm-afm-pretrained
                  the same, with fit(..., init_from=fm): the embeddings (and w0, w) start
                  from the rapidfm-fm model of the same seed (the AFM paper pretrains with
                  an FM), learning_rate 1e-4 (DeepFM) / 3e-4 (AFM); fit wall includes the
                  FM's fit
  rapidfm-fm      rapidfm.FMClassifier(n_factors=k, solver="sgd", learning_rate=0.05,
                  n_epochs=--fm-epochs (60), random_state=seed, n_jobs=1, n_iter_no_change=5)
                  .fit(X_tr, y_tr, eval_set=(X_va, y_va)): the FM (SGD) bar
  rapidfm-ffm     rapidfm.FFMClassifier(n_factors=k, random_state=seed, n_epochs=--ffm-epochs
                  (30), n_jobs=1).fit(X_tr, y_tr, fields=..., eval_set=..., eval_fields=...)
                  (its defaults: AdaGrad, normalize=True, n_iter_no_change=5): the FFM bar
  deepctr-deepfm  DeepCTR-Torch's DeepFM and AFM (a peer), run by the interpreter named by
  deepctr-afm     DEEPCTR_PYTHON (a virtualenv with deepctr_torch installed by hand outside
                  this repository), in a subprocess per seed: this script writes its own
                  small runner to a temporary folder with the same training / validation /
                  test rows as an .npz, each row as 10 integer columns (the item of each field,
                  label-encoded per field over the three sets). The runner builds one
                  SparseFeat(field, vocabulary, embedding_dim=k) per field (the same list as
                  the linear and the dnn feature columns), then AFM(...) / DeepFM(...,
                  task="binary", seed=seed, device="cpu") with the architecture of the
                  rapidfm contender (DeepFM: dnn_hidden_units = hidden_layers, dnn_dropout =
                  dropout; AFM: attention_factor, afm_dropout = dropout; DeepCTR's own
                  defaults for the rest: init_std 1e-4, L2 1e-5 on the embeddings and the
                  linear part), model.compile("adam", "binary_crossentropy") (an optimizer
                  object when a learning_rate is overridden), torch.set_num_threads(1), and
                  calls model.fit(x, y, batch_size=256, epochs=1, verbose=0) once per epoch,
                  timing each call with time.perf_counter, with the stopping rule above
                  (the best epoch's state_dict restored before predicting the test rows).
                  It writes back the test predictions, the epoch times and the validation
                  curve; this script scores them. Without DEEPCTR_PYTHON, or when that
                  interpreter cannot import deepctr_torch, both are reported as skipped with
                  the reason, never estimated.

Note on s/epoch: rapidfm's figure is its solver's epoch as history_ records it; DeepCTR's the
wall time of one model.fit(epochs=1) call (its DataLoader set-up and prints included, a
small share of an epoch). Torch's one-off start-up (a second or two) is timed for no
contender: before its first timed fit, each rapidfm neural contender, and each DeepCTR runner
process, fits once, untimed, on the first 512 training rows for 1 epoch.

Headline targets (each reported as met or MISSED, with the figures):
  - rapidfm-afm and rapidfm-deepfm, and their pretrained variants: test log-loss median
    below rapidfm-fm's and below rapidfm-ffm's (eight comparisons)
  - rapidfm-afm s/epoch median no slower than deepctr-afm's; the same for DeepFM (not
    evaluated when DeepCTR did not run)
DeepCTR's test log-loss next to rapidfm's is stated, not a target.

Options worth knowing:
  --deepfm-params / --afm-params / --fm-params / --ffm-params  a JSON object of constructor
            parameters that override the defaults above, e.g. '{"reg_factors": 1e-4}'
            (n_factors, n_epochs, random_state, n_jobs, n_iter_no_change are set by the
            options --factors, --max-epochs / --fm-epochs / --ffm-epochs, --seeds,
            --patience)
  --contenders  comma list (default all six)
  --quick   3,000 training rows and 2,000 test rows (at random, seed 1), 1 epoch for every
            contender, 1 seed: the smoke test

Environment:
  DEEPCTR_PYTHON  a python interpreter that can `import deepctr_torch`
  RAPIDFM_DATA    the data folder (default ../shared/data beside the repository), as in
                  tests/conftest.py; without the Frappe files the benchmark is skipped (the
                  report says so) and the script exits 0

    python bench/bench_deep.py
    DEEPCTR_PYTHON=/path/to/dctr-venv/bin/python python bench/bench_deep.py
    python bench/bench_deep.py --deepfm-params '{"reg_factors": 1e-4}' --contenders \\
        rapidfm-deepfm --out /tmp/deepfm.json
    python bench/bench_deep.py --quick        # the smoke test

Writes bench/results/deep.json and deep.md (--out; the .md goes beside the .json).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_report import cpu_model, data_dir, failed, med, ok, skipped, write_report
from scipy.stats import rankdata

import rapidfm
from rapidfm.io import load_svmlight

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

N_FIELDS = 10
TOL = 1e-4                       # rapidfm's default tol, used by the DeepCTR runner too
DEEPCTR_TIMEOUT = 1800           # seconds for one seed of a DeepCTR model
WARM_UP_ROWS = 512               # the untimed warm-up fit of each torch contender
RAPIDFM_DEEP = ("rapidfm-deepfm", "rapidfm-afm")
# the same models with their embeddings started from the rapidfm-fm of the same seed (the
# AFM paper's pretraining; fit(..., init_from=fm)), at a smaller learning rate
PRETRAINED = ("rapidfm-deepfm-pretrained", "rapidfm-afm-pretrained")
PRETRAINED_RATES = {"rapidfm-deepfm-pretrained": 1e-4, "rapidfm-afm-pretrained": 3e-4}
RAPIDFM_BARS = ("rapidfm-fm", "rapidfm-ffm")
DEEPCTR = ("deepctr-deepfm", "deepctr-afm")
CONTENDERS = RAPIDFM_DEEP + PRETRAINED + RAPIDFM_BARS + DEEPCTR
OWN_OPTIONS = {"n_factors": "--factors", "n_epochs": "--max-epochs / --fm-epochs / "
               "--ffm-epochs", "random_state": "--seeds", "n_jobs": "(fixed at 1)",
               "n_iter_no_change": "--patience"}




def logloss(y, p):
    p = np.clip(np.asarray(p, np.float64), 1e-15, 1 - 1e-15)
    y = np.asarray(y) > 0
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def auc(y, p):
    """Area under the ROC curve, ties counted 1/2 (the Mann-Whitney statistic)."""
    y = np.asarray(y) > 0
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(p, np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))






# -- data -----------------------------------------------------------------------------------
def positions(M):
    """The field of every stored value: its position in its row (its line)."""
    return np.arange(M.nnz) - np.repeat(M.indptr[:-1], np.diff(M.indptr))


def check_frappe(M, name):
    """Every row has N_FIELDS values, and field f is a range of columns of its own."""
    counts = np.diff(M.indptr)
    if M.shape[0] == 0 or not (counts == N_FIELDS).all():
        raise ValueError(f"{name}: expected {N_FIELDS} values in every row, found "
                         f"{sorted(set(counts.tolist()))[:5]}")
    cols = M.indices.reshape(-1, N_FIELDS)
    lo, hi = cols.min(axis=0), cols.max(axis=0)
    if not (hi[:-1] < lo[1:]).all():
        raise ValueError(f"{name}: the fields' column ranges overlap or are out of order")
    return lo, hi


def load_frappe(folder, args):
    """Training / validation / test rows, the field columns and the DeepCTR codes."""
    X, y = load_svmlight(str(folder / "frappe.validation.libfm"))
    X_te, y_te = load_svmlight(str(folder / "frappe.test.libfm"), n_features=X.shape[1])
    X, X_te = X.tocsr(), X_te.tocsr()
    y, y_te = (np.asarray(y) > 0).astype(np.int64), (np.asarray(y_te) > 0).astype(np.int64)
    sub = np.random.default_rng(1)
    info = {"train_file_rows": int(X.shape[0]), "test_file_rows": int(X_te.shape[0]),
            "n_features": int(X.shape[1])}
    if args.train_rows is not None and args.train_rows < X.shape[0]:
        keep = np.sort(sub.choice(X.shape[0], args.train_rows, replace=False))
        X, y = X[keep], y[keep]
    if args.test_rows is not None and args.test_rows < X_te.shape[0]:
        keep = np.sort(sub.choice(X_te.shape[0], args.test_rows, replace=False))
        X_te, y_te = X_te[keep], y_te[keep]
    lo, hi = check_frappe(X, "frappe.validation.libfm")
    check_frappe(X_te, "frappe.test.libfm")
    n = X.shape[0]
    n_va = max(1, int(round(args.validation_fraction * n)))
    perm = np.random.default_rng(0).permutation(n)
    va, tr = np.sort(perm[:n_va]), np.sort(perm[n_va:])
    data = {"X_tr": X[tr], "y_tr": y[tr], "X_va": X[va], "y_va": y[va], "X_te": X_te,
            "y_te": y_te}
    # DeepCTR's input: per field, the item's index among that field's items of all three sets
    cols = {s: data[f"X_{s}"].indices.reshape(-1, N_FIELDS) for s in ("tr", "va", "te")}
    vocab = []
    for s in cols:
        cols[s] = cols[s].astype(np.int64)
    codes = {s: np.empty_like(cols[s]) for s in cols}
    for f in range(N_FIELDS):
        items = np.unique(np.concatenate([cols[s][:, f] for s in cols]))
        vocab.append(int(items.size))
        for s in cols:
            codes[s][:, f] = np.searchsorted(items, cols[s][:, f])
    data["codes"], data["vocabulary"] = codes, vocab
    info.update(n_train=int(tr.size), n_validation=int(va.size), n_test=int(X_te.shape[0]),
                positive_share_train=float(data["y_tr"].mean()),
                positive_share_test=float(y_te.mean()),
                field_columns=[[int(a), int(b)] for a, b in zip(lo, hi)],
                field_vocabulary=vocab, constant_test_logloss=logloss(
                    y_te, np.full(y_te.size, data["y_tr"].mean())))
    return data, info


def summarise(name, per_seed, extra=None):
    """The record of a seeded contender from its per-seed results."""
    rec = ok(name,
             test_logloss=med([r["test_logloss"] for r in per_seed]),
             test_auc=med([r["test_auc"] for r in per_seed]),
             seconds_per_epoch=med([s for r in per_seed for s in r["epoch_seconds"]]),
             fit_wall_seconds=med([r["fit_wall_seconds"] for r in per_seed]),
             best_epochs=[r["best_epoch"] for r in per_seed],
             epochs_run=[len(r["epoch_seconds"]) for r in per_seed],
             seeds=[r["seed"] for r in per_seed], per_seed=per_seed)
    rec.update(extra or {})
    return rec


def report_seed(name, r):
    curve = ", ".join(f"{v:.4f}" for v in r["validation_curve"])
    print(f"  {name} seed {r['seed']}: test log-loss {r['test_logloss']:.4f}  AUC "
          f"{r['test_auc']:.4f}  best epoch {r['best_epoch']}/{len(r['epoch_seconds'])}  "
          f"{np.median(r['epoch_seconds']):.3f} s/epoch  fit {r['fit_wall_seconds']:.1f} s  "
          f"[validation: {curve}]", flush=True)


# -- rapidfm --------------------------------------------------------------------------------
def rapidfm_spec(name, args):
    """(estimator class, constructor kwargs without the seed, uses fields) or a reason."""
    if name in RAPIDFM_DEEP + PRETRAINED:
        try:
            import rapidfm.deep as deep
        except ImportError as exc:
            return f"skipped: rapidfm.deep cannot be imported ({exc})"
        deepfm = name.startswith("rapidfm-deepfm")
        cls = deep.DeepFMClassifier if deepfm else deep.AFMClassifier
        kw = dict(n_factors=args.factors, n_epochs=args.max_epochs, n_jobs=1,
                  n_iter_no_change=args.patience)
        if name in PRETRAINED:
            kw["learning_rate"] = PRETRAINED_RATES[name]
        kw.update(args.deepfm_params if deepfm else args.afm_params)
        return cls, kw, True
    if name == "rapidfm-fm":
        kw = dict(n_factors=args.factors, solver="sgd", learning_rate=0.05,
                  n_epochs=args.fm_epochs, n_jobs=1, n_iter_no_change=5)
        kw.update(args.fm_params)
        return rapidfm.FMClassifier, kw, False
    kw = dict(n_factors=args.factors, n_epochs=args.ffm_epochs, n_jobs=1)
    kw.update(args.ffm_params)
    return rapidfm.FFMClassifier, kw, True


def jsonable(params):
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), list, tuple))
                else str(v)) for k, v in params.items()}


def run_rapidfm(name, data, args, seed):
    """One seed of a rapidfm contender: (per-seed result, extra fields) or a failed / skipped
    record."""
    spec = rapidfm_spec(name, args)
    if isinstance(spec, str):
        return skipped(name, spec)
    cls, kw, with_fields = spec
    fit_kw = {"eval_set": (data["X_va"], data["y_va"])}
    if with_fields:
        fit_kw.update(fields=positions(data["X_tr"]), eval_fields=positions(data["X_va"]))
    pred_kw = {"fields": positions(data["X_te"])} if with_fields else {}
    load = list(os.getloadavg())
    pretrain_wall = 0.0
    try:
        if name in PRETRAINED:  # the rapidfm-fm of this seed starts the embeddings
            fm_cls, fm_kw, _ = rapidfm_spec("rapidfm-fm", args)
            t0 = time.perf_counter()
            fit_kw["init_from"] = fm_cls(random_state=seed, **fm_kw).fit(
                data["X_tr"], data["y_tr"], eval_set=(data["X_va"], data["y_va"]))
            pretrain_wall = time.perf_counter() - t0
        if name in RAPIDFM_DEEP and seed == 0:
            # untimed warm-up: torch's one-off start-up is timed for no contender
            rows = slice(0, min(WARM_UP_ROWS, data["X_tr"].shape[0]))
            warm = dict(kw, n_epochs=1)
            warm_fields = ({"fields": positions(data["X_tr"][rows])} if with_fields else {})
            cls(random_state=seed, **warm).fit(data["X_tr"][rows], data["y_tr"][rows],
                                               **warm_fields)
        model = cls(random_state=seed, **kw)
        resolved = model.get_params()
        t0 = time.perf_counter()
        model.fit(data["X_tr"], data["y_tr"], **fit_kw)
        wall = time.perf_counter() - t0 + pretrain_wall
        p = model.predict_proba(data["X_te"], **pred_kw)[:, 1]
    except Exception as exc:  # noqa: BLE001 - reported as a failed contender
        return failed(name, f"failed (seed {seed}): {type(exc).__name__}: {exc}",
                      params=jsonable(kw))
    hist = model.history_
    r = {"seed": seed, "test_logloss": logloss(data["y_te"], p),
         "test_auc": auc(data["y_te"], p),
         "best_epoch": None if model.best_epoch_ is None else int(model.best_epoch_),
         "best_validation_loss": (None if model.best_validation_loss_ is None
                                  else float(model.best_validation_loss_)),
         "validation_curve": [float(h["validation_loss"]) for h in hist],
         "train_curve": [float(h["train_loss"]) for h in hist],
         "epoch_seconds": [float(h["seconds"]) for h in hist],
         "fit_wall_seconds": wall, "load_average": load}
    report_seed(name, r)
    arch = {k: resolved[k] for k in ("hidden_layers", "dropout", "attention_factor",
                                     "batch_size", "optimizer", "learning_rate")
            if k in resolved}
    return r, {"params": jsonable(kw), "resolved": jsonable(resolved),
               "architecture": jsonable(arch)}


# -- DeepCTR-Torch (a peer, in its own interpreter) --------------------------------------------
# The runner executed by $DEEPCTR_PYTHON: argv = input .npz, output .npz.
DEEPCTR_RUNNER = '''\
import copy
import json
import os
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)

import deepctr_torch  # noqa: E402
from deepctr_torch.inputs import SparseFeat  # noqa: E402
from deepctr_torch.models import AFM, DeepFM  # noqa: E402


def logloss(y, p):
    p = np.clip(np.asarray(p, np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y > 0, np.log(p), np.log1p(-p))))


src = np.load(sys.argv[1])
cfg = json.loads(str(src["config"]))
names = ["field%d" % f for f in range(len(cfg["vocabulary"]))]
columns = [SparseFeat(n, vocabulary_size=v, embedding_dim=cfg["factors"])
           for n, v in zip(names, cfg["vocabulary"])]
sets = {}
for s in ("tr", "va", "te"):
    codes = src["codes_" + s]
    sets[s] = ({n: codes[:, f] for f, n in enumerate(names)}, src["y_" + s])
model_cls = {"deepfm": DeepFM, "afm": AFM}[cfg["model"]]
batch = cfg["batch_size"]


def new_model(seed):
    model = model_cls(columns, columns, task="binary", seed=seed, device="cpu",
                      **cfg["model_kwargs"])
    if cfg["learning_rate"] is None:
        model.compile(cfg["optimizer"], "binary_crossentropy")
    else:
        opt = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}[cfg["optimizer"]]
        model.compile(opt(model.parameters(), lr=cfg["learning_rate"]), "binary_crossentropy")
    return model


# untimed warm-up: torch's one-off start-up is timed for no contender
n_warm = cfg["warm_up_rows"]
new_model(0).fit({n: x[:n_warm] for n, x in sets["tr"][0].items()}, sets["tr"][1][:n_warm],
                 batch_size=batch, epochs=1, verbose=0)
results, preds = [], []
for seed in cfg["seeds"]:
    t0 = time.perf_counter()
    model = new_model(seed)
    best_loss = best_epoch = best_state = None
    stale, curve, times = 0, [], []
    for epoch in range(1, cfg["max_epochs"] + 1):
        start = time.perf_counter()
        model.fit(sets["tr"][0], sets["tr"][1], batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
        loss = logloss(sets["va"][1], model.predict(sets["va"][0], batch)[:, 0])
        curve.append(loss)
        improved = best_loss is None or loss < best_loss - cfg["tol"]
        stale = 0 if improved else stale + 1
        if best_loss is None or loss < best_loss:
            best_loss, best_epoch = loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        if stale >= cfg["patience"]:
            break
    model.load_state_dict(best_state)
    wall = time.perf_counter() - t0
    preds.append(model.predict(sets["te"][0], batch)[:, 0])
    results.append({"seed": seed, "best_epoch": best_epoch, "best_validation_loss": best_loss,
                    "validation_curve": curve, "epoch_seconds": times,
                    "fit_wall_seconds": wall})
np.savez(sys.argv[2], predictions=np.stack(preds),
         results=np.asarray(json.dumps(results)),
         versions=np.asarray(json.dumps({"deepctr_torch": deepctr_torch.__version__,
                                         "torch": torch.__version__,
                                         "threads": torch.get_num_threads()})))
sys.stdout.flush()
sys.stderr.flush()
# deepctr_torch checks PyPI for a newer version in a thread at import: do not wait for it
os._exit(0)
'''


def deepctr_python():
    """(interpreter, versions text, None) or (None, None, why)."""
    exe = os.environ.get("DEEPCTR_PYTHON")
    if not exe:
        return None, None, ("skipped (not found): set DEEPCTR_PYTHON to a python "
                            "interpreter that can import deepctr_torch")
    if not (Path(exe).is_file() and os.access(exe, os.X_OK)):
        return None, None, f"skipped (not found): DEEPCTR_PYTHON={exe} is not an executable"
    probe = ("import os, torch, deepctr_torch; print(deepctr_torch.__version__, '(torch', "
             "torch.__version__ + ')', flush=True); os._exit(0)")
    try:
        res = subprocess.run([exe, "-c", probe], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"skipped: DEEPCTR_PYTHON={exe} could not be run ({exc})"
    line = [x for x in res.stdout.splitlines() if x.strip()][-1:]
    if res.returncode != 0 or not line:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, None, (f"skipped: DEEPCTR_PYTHON={exe} cannot import deepctr_torch "
                            f"({tail[0]})")
    return exe, line[0].strip(), None


def deepctr_kwargs(kind, arch):
    """DeepCTR constructor arguments for the architecture of the rapidfm contender."""
    if kind == "deepfm":
        return {"dnn_hidden_units": [int(h) for h in arch.get("hidden_layers", (400,) * 3)],
                "dnn_dropout": float(arch.get("dropout", 0.5))}
    return {"attention_factor": int(arch.get("attention_factor", 8)),
            "afm_dropout": float(arch.get("dropout", 0.0))}


def resolved_architecture(name, args):
    """The rapidfm contender's architecture parameters (whether or not it ran)."""
    spec = rapidfm_spec(f"rapidfm-{name.split('-', 1)[1]}", args)
    if isinstance(spec, str):
        defaults = {"hidden_layers": (400, 400, 400), "dropout": 0.5} if "deepfm" in name \
            else {"attention_factor": 8, "dropout": 0.0}
        defaults.update(batch_size=256, optimizer="adam", learning_rate=None)
        return defaults
    cls, kw, _ = spec
    try:
        return cls(**kw).get_params()
    except Exception:  # noqa: BLE001 - a bad override: the runner gets the defaults
        return {}


def run_deepctr(exe, name, data, args, work, seed):
    """One seed of a DeepCTR model (one runner process): (per-seed result, extra fields) or
    a failed / skipped record."""
    kind = name.split("-", 1)[1]
    arch = resolved_architecture(name, args)
    optimizer = str(arch.get("optimizer", "adam"))
    if optimizer not in ("adam", "adagrad"):
        return skipped(name, f"skipped: optimizer {optimizer!r} has no DeepCTR counterpart here")
    cfg = {"model": kind, "factors": args.factors, "vocabulary": data["vocabulary"],
           "seeds": [seed], "max_epochs": args.max_epochs, "warm_up_rows": WARM_UP_ROWS,
           "patience": args.patience, "tol": TOL, "batch_size": int(arch.get("batch_size", 256)),
           "optimizer": optimizer, "learning_rate": arch.get("learning_rate"),
           "model_kwargs": deepctr_kwargs(kind, arch)}
    src, dst = work / f"data-{kind}.npz", work / f"result-{kind}.npz"
    np.savez(src, config=np.asarray(json.dumps(cfg)),
             **{f"codes_{s}": data["codes"][s] for s in ("tr", "va", "te")},
             y_tr=data["y_tr"].astype(np.float32), y_va=data["y_va"].astype(np.float32),
             y_te=data["y_te"].astype(np.float32))
    runner = work / "deepctr_runner.py"
    runner.write_text(DEEPCTR_RUNNER)
    params = {k: v for k, v in cfg.items() if k not in ("vocabulary", "seeds",
                                                         "warm_up_rows")}
    load = list(os.getloadavg())
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        res = subprocess.run([exe, str(runner), str(src), str(dst)], capture_output=True,
                             text=True, cwd=work, timeout=DEEPCTR_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return failed(name, f"failed: the runner took over {DEEPCTR_TIMEOUT} s", params=params)
    if res.returncode != 0 or not dst.exists():
        return failed(name, f"failed (exit {res.returncode}): "
                            f"{(res.stderr or res.stdout).strip()[-300:]}", params=params)
    with np.load(dst) as out:
        preds = out["predictions"]
        results = json.loads(str(out["results"]))
        versions = json.loads(str(out["versions"]))
    if (len(results) != 1 or preds.shape != (1, data["y_te"].size)
            or not np.isfinite(preds).all()):
        return failed(name, f"failed: predictions of shape {preds.shape} or not finite",
                      params=params)
    r = dict(results[0], test_logloss=logloss(data["y_te"], preds[0]),
             test_auc=auc(data["y_te"], preds[0]), load_average=load)
    report_seed(name, r)
    return r, {"params": params, "versions": versions}


# -- targets and report -----------------------------------------------------------------------
def targets(runs):
    """The headline targets: a list of {"target", "met", "detail"} (met None: not evaluated)."""
    by = {r["contender"]: r for r in runs}

    def good(name):
        r = by.get(name)
        return r if r is not None and r["status"] == "ok" else None

    def why(name):
        r = by.get(name)
        return "not run" if r is None else r.get("reason", r["status"])

    out = []
    for ours in RAPIDFM_DEEP + PRETRAINED:
        for bar in RAPIDFM_BARS:
            text = f"{ours} test log-loss median below {bar}'s"
            a, b = good(ours), good(bar)
            if a is None or b is None:
                missing = ours if a is None else bar
                out.append({"target": text, "met": None,
                            "detail": f"not evaluated: {missing} {why(missing)}"})
                continue
            x, y = a["test_logloss"]["median"], b["test_logloss"]["median"]
            out.append({"target": text, "met": bool(x < y),
                        "detail": f"{x:.4f} vs {y:.4f} ({x - y:+.4f})"})
    for ours, peer in zip(RAPIDFM_DEEP, DEEPCTR):
        text = f"{ours} s/epoch median no slower than {peer}'s"
        a, b = good(ours), good(peer)
        if a is None or b is None:
            missing = ours if a is None else peer
            out.append({"target": text, "met": None,
                        "detail": f"not evaluated: {missing} {why(missing)}"})
            continue
        x, y = a["seconds_per_epoch"]["median"], b["seconds_per_epoch"]["median"]
        out.append({"target": text, "met": bool(x <= y),
                    "detail": f"{x:.3f} s vs {y:.3f} s (x{x / y:.2f})" if y > 0 else
                              f"{x:.3f} s vs {y:.3f} s"})
    for ours, peer in zip(RAPIDFM_DEEP, DEEPCTR):
        a, b = good(ours), good(peer)
        if a is not None and b is not None:
            x, y = a["test_logloss"]["median"], b["test_logloss"]["median"]
            out.append({"target": f"{ours} vs {peer} test log-loss (stated, not a target)",
                        "met": None, "detail": f"{x:.4f} vs {y:.4f} ({x - y:+.4f})"})
    return out


def fmt_med(m, digits=4):
    if m is None:
        return "-"
    if m["min"] == m["max"]:
        return f"{m['median']:.{digits}f}"
    return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}..{m['max']:.{digits}f})"


def markdown(report):
    m, s = report["machine"], report["settings"]
    lines = ["## bench_deep", "",
             f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
             f"torch {m['torch'] or 'absent'}, rapidfm {m['rapidfm']}, DeepCTR-Torch "
             f"{m['deepctr'] or 'not run'}; {report['date']}; load average (1 min) "
             f"{m['load_average_start'][0]:.2f} at the start, "
             f"{m.get('load_average_end', [float('nan')])[0]:.2f} at the end.", ""]
    if "skipped" in report:
        lines += [f"Skipped: {report['skipped']}", ""]
        return "\n".join(lines)
    d = report["data"]
    lines += [f"Frappe (libFM files): train on frappe.validation.libfm ({d['n_train']} rows "
              f"after holding out {d['n_validation']} at random for early stopping), test on "
              f"frappe.test.libfm ({d['n_test']} rows); 10 fields, k={s['factors']}, 1 thread. "
              f"Early stopping on the held-out rows (patience {s['patience']} for the neural "
              f"models, at most {s['max_epochs']} epochs; FM {s['fm_epochs']} and FFM "
              f"{s['ffm_epochs']} epochs at most, patience 5), the best epoch's parameters "
              f"scored. Seeds 0..{s['seeds'] - 1}, median (min..max) over the seeds (s/epoch: "
              f"over all epochs of all seeds). The constant prediction's test log-loss: "
              f"{d['constant_test_logloss']:.4f}.", "",
              "| contender | test log-loss | test AUC | best / run epochs | s/epoch | "
              "fit wall s | status |", "|---|---:|---:|---|---:|---:|---|"]
    for r in report["runs"]:
        if r["status"] != "ok":
            lines.append(f"| {r['contender']} | - | - | - | - | - | {r['reason']} |")
            continue
        eps = ", ".join(f"{b}/{n}" for b, n in zip(r["best_epochs"], r["epochs_run"]))
        n = len(r["seeds"])
        lines.append(f"| {r['contender']} | {fmt_med(r['test_logloss'])} | "
                     f"{fmt_med(r['test_auc'])} | {eps} | {fmt_med(r['seconds_per_epoch'], 3)} "
                     f"| {fmt_med(r['fit_wall_seconds'], 1)} | ok, {n} seed"
                     f"{'s' if n > 1 else ''} |")
    over = {k: v for k, v in s.items() if k.endswith("_params") and v}
    if over:
        lines += ["", "Parameters overridden: " + "; ".join(
            f"--{k.replace('_', '-')} {json.dumps(v)}" for k, v in over.items())]
    lines += ["", "Targets:", ""]
    for t in report["targets"]:
        mark = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        lines.append(f"- {t['target']}: **{mark}** ({t['detail']})")
    lines.append("")
    return "\n".join(lines)


def json_params(parser, text, option):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"{option} must be a JSON object: {exc}")
    if not isinstance(value, dict):
        parser.error(f"{option} must be a JSON object, got {text!r}")
    own = sorted(set(value) & set(OWN_OPTIONS))
    if own:
        parser.error(f"{option}: {', '.join(own)} come from "
                     f"{', '.join(OWN_OPTIONS[k] for k in own)}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--factors", type=int, default=8,
                        help="latent factors / embedding size k (default 8)")
    parser.add_argument("--max-epochs", type=int, default=10,
                        help="epoch limit of the neural models (default 10)")
    parser.add_argument("--fm-epochs", type=int, default=60,
                        help="epoch limit of rapidfm-fm (default 60)")
    parser.add_argument("--ffm-epochs", type=int, default=30,
                        help="epoch limit of rapidfm-ffm (default 30)")
    parser.add_argument("--patience", type=int, default=2,
                        help="epochs without improvement before the neural models stop "
                             "(default 2)")
    parser.add_argument("--seeds", type=int, default=2,
                        help="random_state 0..N-1 of every contender (default 2)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of the training file held out for early stopping "
                             "(default 0.1)")
    parser.add_argument("--train-rows", type=int, default=None,
                        help="use a random N rows of the training file (default all)")
    parser.add_argument("--test-rows", type=int, default=None,
                        help="use a random N rows of the test file (default all)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma list of {list(CONTENDERS)} (default all)")
    for kind in ("deepfm", "afm", "fm", "ffm"):
        parser.add_argument(f"--{kind}-params", default="{}",
                            help=f"JSON object of rapidfm-{kind} constructor parameters "
                                 "(default {})")
    parser.add_argument("--quick", action="store_true",
                        help="3,000 training and 2,000 test rows, 1 epoch, 1 seed (the "
                             "smoke test)")
    parser.add_argument("--out", default=str(RESULTS / "deep.json"),
                        help="JSON path; the .md goes beside it (default "
                             "bench/results/deep.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.max_epochs, args.fm_epochs, args.ffm_epochs = 1, 1, 1, 1
        args.train_rows = args.train_rows or 3000
        args.test_rows = args.test_rows or 2000
    for name in ("factors", "max_epochs", "fm_epochs", "ffm_epochs", "patience", "seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("train_rows", "test_rows"):
        if getattr(args, name) is not None and getattr(args, name) < 20:
            parser.error(f"--{name.replace('_', '-')} must be >= 20")
    if not 0 < args.validation_fraction < 1:
        parser.error("--validation-fraction must be in (0, 1)")
    for kind in ("deepfm", "afm", "fm", "ffm"):
        option = f"{kind}_params"
        setattr(args, option, json_params(parser, getattr(args, option),
                                          f"--{kind}-params"))
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(args.contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")

    started = time.time()
    exe, dctr_version, dctr_reason = (deepctr_python() if set(DEEPCTR) & set(args.contenders)
                                      else (None, None, "skipped: not among --contenders"))
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                          "python": platform.python_version(), "numpy": np.__version__,
                          "torch": torch_version, "rapidfm": rapidfm.__version__,
                          "deepctr": dctr_version, "deepctr_python": exe,
                          "load_average_start": list(os.getloadavg())},
              "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    m = report["machine"]
    print(f"# {m['cpu']}, {m['cores']} cores; torch {torch_version}; DeepCTR-Torch: "
          f"{dctr_version or dctr_reason}", flush=True)

    folder = data_dir() / "frappe" / "libfm"
    files = [folder / "frappe.validation.libfm", folder / "frappe.test.libfm"]
    missing = [str(p) for p in files if not p.is_file()]
    runs = []
    if missing:
        report["skipped"] = f"Frappe data not found ({', '.join(missing)}); set RAPIDFM_DATA"
        print(f"skipped: {report['skipped']}", flush=True)
    else:
        data, report["data"] = load_frappe(folder, args)
        report["data"]["folder"] = str(folder)
        print(f"# train {report['data']['n_train']}, validation "
              f"{report['data']['n_validation']}, test {report['data']['n_test']} rows",
              flush=True)
        selected = [name for name in CONTENDERS if name in args.contenders]
        per_seed = {name: [] for name in selected}
        extra, stopped = {}, {}
        with tempfile.TemporaryDirectory(prefix="bench_deep-") as work:
            # rounds: seed s of every contender, then seed s + 1, so that the others' work
            # on a shared machine spreads over all of them
            for seed in range(args.seeds):
                for name in selected:
                    if name in stopped:
                        continue
                    if name in DEEPCTR:
                        res = (skipped(name, dctr_reason) if exe is None
                               else run_deepctr(exe, name, data, args, Path(work), seed))
                    else:
                        res = run_rapidfm(name, data, args, seed)
                    if isinstance(res, dict):
                        stopped[name] = res
                        print(f"  {name} {res['reason']}", flush=True)
                    else:
                        per_seed[name].append(res[0])
                        extra[name] = res[1]
        runs = [stopped.get(name) or summarise(name, per_seed[name], extra[name])
                for name in selected]
        report["targets"] = targets(runs)
    report["runs"] = runs
    write_report(report, args.out, markdown, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
