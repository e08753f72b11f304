"""The ALS and MCMC solvers against the project's targets, beside libFM 1.4.4 and myFM.

Parts (--parts, default all):

  accuracy  test metrics after a fixed number of sweeps, same k, init sd 0.1 and
            sweeps for every contender (seeds 0..--repeats-1; the table gives the
            median and min..max over seeds):
              ml100k-mcmc         MovieLens 100k u1, k=8, 200 MCMC sweeps, test RMSE
              ml100k-mcmc-groups  the same with feature groups user=0 / item=1 (libFM -meta)
              ml100k-als          100 ALS sweeps, reg_bias 0, reg_linear 10, reg_factors 10
              a9a-mcmc            a9a, probit MCMC, k=8, 100 sweeps: accuracy, log-loss (nats)
              frappe-mcmc         Frappe (frappe.validation.libfm as training set,
                                  frappe.test.libfm as test set), probit MCMC, k=8, 200
                                  sweeps: log-loss
              frappe-mcmc-100, frappe-mcmc-400
                                  the same with 100 / 400 sweeps (3 seeds; only when
                                  named in --cases)
  speed     seconds per sweep on the planted 1M-row x 4 one-hot field set of compare.py
            (contenders.data.load_planted: 70,000 features, k=8): rapidfm MCMC and ALS at 1 and 2
            threads (n_jobs), float32 and float64, median of the sweeps after the first
            (history_[i]["seconds"]); libFM -method mcmc / als on the same rows (median of
            its -rlog time_learn, user CPU seconds, after the first iteration)
  cli       `rapidfm libfm -task r -train u1.base.libfm -test u1.test.libfm -dim 1,1,8
            -iter 200 -method mcmc -out pred` end to end (process wall time, median of
            --repeats), next to the same command with libFM

Contenders, each skipped with the reason when unavailable:

  rapidfm   FMRegressor / FMClassifier(solver="mcmc"|"als"), 1 thread (--threads), float64
            (libFM computes in double); fit wall time
  libfm     $LIBFM_BIN (libFM 1.4.x), on libFM text files written by this script:
              libFM -task r|c -train train.libfm -test test.libfm -dim 1,1,8 -iter N
                -method mcmc|als -init_stdev 0.1 -seed S [-regular 0,10,10]
                [-meta groups.txt] -out pred.txt -rlog rlog.txt
            metric from pred.txt (MCMC: the prediction averaged over all samples, no
            burn-in; ALS: the last iterate; P(+1) for -task c); time: process wall time
            and the median -rlog time_learn
  myfm      myfm.MyFMRegressor / MyFMClassifier (Gibbs sampler), rank 8, init_stdev 0.1,
            n_kept_samples = sweeps - 5 (rapidfm's default burn-in), group_shapes for
            the grouped case; regression predictions clipped to the training range as
            libFM and rapidfm do. No ALS: myFM has none

Data come from $RAPIDFM_DATA (default ../shared/data beside the repository); a missing
file skips that case. Metrics: RMSE of clipped predictions; accuracy = P(+1) >= 0.5;
log-loss in nats of P(+1) clipped to [1e-15, 1-1e-15].

    python bench/bench_solvers.py                          # everything (minutes)
    LIBFM_BIN=/path/to/libFM python bench/bench_solvers.py --parts accuracy
    python bench/bench_solvers.py --quick                  # smoke run, a few seconds

Writes bench/results/solvers.json and solvers.md (--out).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from contenders.data import load_ml100k as compare_load_ml100k  # bench/ is on sys.path
from contenders.data import load_planted
from contenders.libfm import parse_rlog

import rapidfm
from rapidfm import _core
from rapidfm.io import dump_svmlight, load_svmlight

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CONTENDERS = ["rapidfm", "libfm", "myfm"]
PARTS = ["accuracy", "speed", "cli"]

# the project's targets for rapidfm, and libFM 1.4.4's figures from the reference runs in
# shared/reference/libfm-1.4.4 (another machine of this type; libFM is measured here
# when LIBFM_BIN is set)
CASES = {
    "ml100k-mcmc": {"data": "ml100k", "solver": "mcmc", "sweeps": 200,
                    "targets": {"rmse": ("<=", 0.912)}, "libfm_cited": {"rmse": 0.9108}},
    "ml100k-mcmc-groups": {"data": "ml100k", "solver": "mcmc", "sweeps": 200, "groups": True,
                           "targets": {"rmse": ("<=", 0.907)},
                           "libfm_cited": {"rmse": 0.9057}},
    "ml100k-als": {"data": "ml100k", "solver": "als", "sweeps": 100, "reg": (0.0, 10.0, 10.0),
                   "targets": {"rmse": ("<=", 0.924)}, "libfm_cited": {"rmse": 0.9258}},
    "a9a-mcmc": {"data": "a9a", "solver": "mcmc", "sweeps": 100,
                 "targets": {"accuracy": (">=", 0.850), "logloss": ("<=", 0.325)}},
    # the reference run on Frappe has 200 iterations
    "frappe-mcmc": {"data": "frappe", "solver": "mcmc", "sweeps": 200,
                    "targets": {"logloss": ("<=", 0.25)}},
    # only when named in --cases: shorter and longer chains (3 seeds)
    "frappe-mcmc-100": {"data": "frappe", "solver": "mcmc", "sweeps": 100, "max_seeds": 3,
                        "optional": True, "targets": {"logloss": ("<=", 0.25)}},
    "frappe-mcmc-400": {"data": "frappe", "solver": "mcmc", "sweeps": 400, "max_seeds": 3,
                        "optional": True, "targets": {"logloss": ("<=", 0.25)}},
}
QUICK_SWEEPS = {"ml100k-mcmc": 10, "ml100k-mcmc-groups": 10, "ml100k-als": 5, "a9a-mcmc": 5,
                "frappe-mcmc": 3, "frappe-mcmc-100": 3, "frappe-mcmc-400": 3}
K = 8
INIT_STD = 0.1
BURN_IN = 5
# from the reference runs' README (shared/reference/libfm-1.4.4), quoted when libFM did
# not run here
LIBFM_MCMC_CITED_SECONDS = (1.45, 1.88)  # libFM s per MCMC iteration, planted 1M x 4
LIBFM_CLI_CITED_SECONDS = 2.8            # libFM wall, ml-100k u1 200 MCMC iterations


def data_dir():
    return Path(os.environ.get("RAPIDFM_DATA", REPO.parent / "shared" / "data"))


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# -- data ----------------------------------------------------------------------------------
class Data:
    def __init__(self, name, task, X_train, y_train, X_test, y_test, groups, note):
        self.name, self.task, self.note = name, task, note
        self.X_train = sp.csr_matrix(X_train, dtype=np.float64)
        self.X_test = sp.csr_matrix(X_test, dtype=np.float64)
        self.y_train = np.asarray(y_train, np.float64)
        self.y_test = np.asarray(y_test, np.float64)
        self.groups = groups  # int array (n_features,) or None

    @property
    def n_features(self):
        return self.X_train.shape[1]


def load_ml100k():
    """compare.py's MovieLens u1 set, with its user/item field of each column as the
    feature groups (libFM's -meta)."""
    loaded = compare_load_ml100k()
    if isinstance(loaded, str):
        return loaded
    return Data("ml100k", "regression", loaded.X_train, loaded.y_train, loaded.X_test,
                loaded.y_test, loaded.fields.astype(np.int32), loaded.note)


def load_pair(name, train, test, one_based):
    if not (train.exists() and test.exists()):
        return f"{train} not found (set RAPIDFM_DATA)"
    zb = not one_based
    Xtr, ytr = load_svmlight(train, dtype=np.float64, zero_based=zb)
    Xte, yte = load_svmlight(test, dtype=np.float64, zero_based=zb)
    n = max(Xtr.shape[1], Xte.shape[1])
    Xtr = sp.csr_matrix((Xtr.data, Xtr.indices, Xtr.indptr), shape=(Xtr.shape[0], n))
    Xte = sp.csr_matrix((Xte.data, Xte.indices, Xte.indptr), shape=(Xte.shape[0], n))
    return Data(name, "classification", Xtr, np.where(ytr > 0, 1.0, -1.0), Xte,
                np.where(yte > 0, 1.0, -1.0), None,
                f"{name}: {Xtr.shape[0]:,} train / {Xte.shape[0]:,} test rows, {n:,} features, "
                f"{Xtr.nnz / Xtr.shape[0]:.1f} nonzeros per row, labels +1/-1")


def load_data(name):
    base = data_dir()
    if name == "ml100k":
        return load_ml100k()
    if name == "a9a":
        return load_pair("a9a", base / "a9a" / "a9a", base / "a9a" / "a9a.t", one_based=True)
    return load_pair("frappe", base / "frappe" / "libfm" / "frappe.validation.libfm",
                     base / "frappe" / "libfm" / "frappe.test.libfm", one_based=False)


# -- metrics -------------------------------------------------------------------------------
def scores(task, y, pred, y_range=None):
    """{"rmse"} of clipped predictions, or {"accuracy", "logloss"} of P(+1)."""
    p = np.asarray(pred, np.float64)
    if task == "regression":
        if y_range is not None:
            p = np.clip(p, *y_range)
        return {"rmse": float(np.sqrt(np.mean((p - y) ** 2)))}
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return {"accuracy": float(np.mean((p >= 0.5) == (y > 0))),
            "logloss": float(-np.mean(np.where(y > 0, np.log(p), np.log1p(-p))))}


def summarise(runs):
    """median and [min, max] over the seeds of every metric and time."""
    out = {}
    for key in runs[0]:
        vals = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if vals and len(vals) == len(runs):
            out[key] = {"median": float(np.median(vals)), "min": float(min(vals)),
                        "max": float(max(vals))}
    return out


def ok(name, **kw):
    return {"contender": name, "status": "ok", **kw}


def skipped(name, reason):
    return {"contender": name, "status": "skipped", "reason": reason}


# -- contenders: accuracy ------------------------------------------------------------------
def rapidfm_estimator(task, **kw):
    cls = rapidfm.FMRegressor if task == "regression" else rapidfm.FMClassifier
    try:
        return cls(**kw), None
    except TypeError as exc:  # the solver parameters are not in this build
        return None, f"skipped: this rapidfm has no solver parameter ({exc})"


def run_rapidfm(data, cfg, sweeps, seeds, threads, dtype):
    reg = cfg.get("reg", (0.0, 0.0, 0.0))
    runs = []
    for seed in seeds:
        kw = dict(solver=cfg["solver"], n_factors=K, n_epochs=sweeps, init_std=INIT_STD,
                  reg_bias=reg[0], reg_linear=reg[1], reg_factors=reg[2], n_jobs=threads,
                  random_state=seed, dtype=dtype)
        if cfg.get("groups"):
            kw["feature_groups"] = data.groups
        model, why = rapidfm_estimator(data.task, **kw)
        if model is None:
            return skipped("rapidfm", why)
        t0 = time.perf_counter()
        try:
            model.fit(data.X_train, data.y_train)
        except Exception as exc:  # noqa: BLE001 - reported as a failed contender
            return skipped("rapidfm", f"failed: {type(exc).__name__}: {exc}")
        wall = time.perf_counter() - t0
        pred = (model.predict(data.X_test) if data.task == "regression"
                else model.predict_proba(data.X_test)[:, 1])
        secs = [h["seconds"] for h in model.history_]
        runs.append({"seed": seed, **scores(data.task, data.y_test, pred),
                     "fit_seconds": wall, "seconds_per_sweep": float(np.median(secs[1:] or secs)),
                     "sweeps": len(secs)})
    return ok("rapidfm", threads=threads, dtype=np.dtype(dtype).name, runs=runs,
              summary=summarise(runs))


def libfm_exe():
    exe = os.environ.get("LIBFM_BIN")
    if not exe:
        return None, "skipped (not found): set LIBFM_BIN to the libFM binary"
    if not (shutil.which(exe) or Path(exe).is_file()):
        return None, f"skipped (not found): LIBFM_BIN={exe} does not exist"
    return exe, None


def libfm_files(data, work):
    work.mkdir(parents=True, exist_ok=True)
    train, test = work / "train.libfm", work / "test.libfm"
    if not train.exists():
        # the test file must reach the last feature for libFM to size the model alike
        dump_svmlight(data.X_train, data.y_train, train, zero_based=True)
        dump_svmlight(data.X_test, data.y_test, test, zero_based=True)
    return train, test


def libfm_command(exe, task, train, test, sweeps, method, seed, work, reg=None, meta=None):
    cmd = [exe, "-task", "r" if task == "regression" else "c", "-train", str(train),
           "-test", str(test), "-dim", f"1,1,{K}", "-iter", str(sweeps), "-method", method,
           "-init_stdev", str(INIT_STD), "-seed", str(seed), "-out", str(work / "pred.txt"),
           "-rlog", str(work / "rlog.txt")]
    if reg is not None:
        cmd += ["-regular", ",".join(f"{r:g}" for r in reg)]
    if meta is not None:
        cmd += ["-meta", str(meta)]
    return cmd


def run_libfm(data, cfg, sweeps, seeds, workdir):
    exe, why = libfm_exe()
    if exe is None:
        return skipped("libfm", why)
    work = Path(workdir) / f"libfm-{data.name}"
    train, test = libfm_files(data, work)
    meta = None
    if cfg.get("groups"):
        meta = work / "groups.txt"
        # one line per feature of libFM's model: max index of train and test + 1
        n_used = 1 + max(int(data.X_train.indices.max()), int(data.X_test.indices.max()))
        meta.write_text("".join(f"{g}\n" for g in data.groups[:n_used]))
    reg = cfg.get("reg") if cfg["solver"] == "als" else None
    runs, cmd = [], None
    y_range = (float(data.y_train.min()), float(data.y_train.max()))
    for seed in seeds:
        cmd = libfm_command(exe, data.task, train, test, sweeps, cfg["solver"], seed, work,
                            reg=reg, meta=meta)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0 or not (work / "pred.txt").exists():
            return skipped("libfm", f"failed (exit {res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-300:]}")
        pred = np.loadtxt(work / "pred.txt", ndmin=1)
        learn = parse_rlog(work / "rlog.txt", "time_learn")
        # the rlog's *_mcmc_this: the last sample / iterate alone (-out averages the MCMC
        # samples; for ALS it is the last iterate too)
        last = {}
        for col, key in (("rmse_mcmc_this", "last_iterate_rmse"),
                         ("acc_mcmc_this", "last_iterate_accuracy"),
                         ("ll_mcmc_this", "last_iterate_logloss")):
            vals = parse_rlog(work / "rlog.txt", col)
            if vals:
                last[key] = vals[-1]
        runs.append({"seed": seed, **scores(data.task, data.y_test, pred, y_range), **last,
                     "fit_seconds": wall, "seconds_per_sweep": float(np.median(learn[1:]))
                     if len(learn) > 1 else wall / sweeps, "learn_seconds": float(sum(learn)),
                     "sweeps": len(learn) or sweeps})
        (work / "pred.txt").unlink()
    return ok("libfm", threads=1, dtype="float64", runs=runs, summary=summarise(runs),
              command=" ".join(cmd),
              note="fit_seconds: process wall (reading the text files included); "
                   "seconds_per_sweep: median -rlog time_learn (user CPU s)")


def run_myfm(data, cfg, sweeps, seeds):
    if cfg["solver"] != "mcmc":
        return skipped("myfm", "skipped: myFM has no ALS solver")
    # myfm's fit always draws a tqdm progress bar; tqdm reads this when it is imported
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import myfm
    except ImportError as exc:
        return skipped("myfm", f"skipped (not found): import myfm: {exc}")
    runs = []
    y_range = (float(data.y_train.min()), float(data.y_train.max()))
    # a callback that does nothing: its default one formats a status line every sweep
    extra = {"callback": lambda *_: (False, None)}
    kept = max(sweeps - BURN_IN, 1) if sweeps > 2 * BURN_IN else max(sweeps - sweeps // 2, 1)
    if cfg.get("groups"):
        # group_shapes: sizes of consecutive feature blocks (users then items)
        extra["group_shapes"] = np.bincount(data.groups).tolist()
    for seed in seeds:
        t0 = time.perf_counter()
        if data.task == "regression":
            model = myfm.MyFMRegressor(rank=K, init_stdev=INIT_STD, random_seed=seed)
            model.fit(data.X_train, data.y_train, n_iter=sweeps, n_kept_samples=kept, **extra)
            wall = time.perf_counter() - t0
            pred = model.predict(data.X_test)
        else:
            model = myfm.MyFMClassifier(rank=K, init_stdev=INIT_STD, random_seed=seed)
            model.fit(data.X_train, (data.y_train > 0).astype(np.int64), n_iter=sweeps,
                      n_kept_samples=kept, **extra)
            wall = time.perf_counter() - t0
            pred = model.predict_proba(data.X_test)
        runs.append({"seed": seed, **scores(data.task, data.y_test, pred, y_range),
                     "fit_seconds": wall, "seconds_per_sweep": wall / sweeps, "sweeps": sweeps})
    return ok("myfm", threads=1, dtype="float64", runs=runs, summary=summarise(runs),
              note=f"myfm {getattr(myfm, '__version__', '?')}, n_kept_samples={kept}; "
                   "s/sweep = fit wall / sweeps")


def check_targets(cfg, summary):
    out = {}
    for metric, (op, bound) in cfg["targets"].items():
        if metric not in summary:
            continue
        value = summary[metric]["median"]
        out[metric] = {"target": f"{op} {bound}", "value": value,
                       "met": bool(value <= bound if op == "<=" else value >= bound)}
    return out


def part_accuracy(args, workdir, report):
    cache = {}
    for name, cfg in CASES.items():
        if (args.cases and name not in args.cases) or (cfg.get("optional")
                                                       and name not in args.cases):
            continue
        seeds = list(range(min(args.repeats, cfg.get("max_seeds", args.repeats))))
        sweeps = QUICK_SWEEPS[name] if args.quick else cfg["sweeps"]
        if cfg["data"] not in cache:
            cache[cfg["data"]] = load_data(cfg["data"])
        data = cache[cfg["data"]]
        if isinstance(data, str):
            print(f"# {name}: skipped ({data})", flush=True)
            report["accuracy"][name] = {"skipped": data}
            continue
        print(f"# {name}: {data.note}; {cfg['solver']} k={K}, {sweeps} sweeps", flush=True)
        runs = []
        if "rapidfm" in args.contenders:
            runs.append(run_rapidfm(data, cfg, sweeps, seeds, args.threads, np.float64))
        if "libfm" in args.contenders:
            runs.append(run_libfm(data, cfg, sweeps, seeds, workdir))
        if "myfm" in args.contenders:
            runs.append(run_myfm(data, cfg, sweeps, seeds))
        for r in runs:
            if r["status"] == "ok":
                r["targets"] = check_targets(cfg, r["summary"])
                vals = ", ".join(f"{m} {r['summary'][m]['median']:.4f}"
                                 for m in ("rmse", "accuracy", "logloss") if m in r["summary"])
                fit = r["summary"]["fit_seconds"]["median"]
                print(f"  {r['contender']:<8} {vals}  fit {fit:.2f} s", flush=True)
            else:
                print(f"  {r['contender']:<8} {r['reason']}", flush=True)
        report["accuracy"][name] = {"note": data.note, "solver": cfg["solver"], "k": K,
                                    "sweeps": sweeps, "groups": bool(cfg.get("groups")),
                                    "reg": cfg.get("reg"), "seeds": seeds,
                                    "targets": {m: f"{op} {b}" for m, (op, b)
                                                in cfg["targets"].items()},
                                    "libfm_cited": cfg.get("libfm_cited"), "runs": runs}


# -- speed -----------------------------------------------------------------------------------
def part_speed(args, workdir, report):
    rows, values = (20_000, 200) if args.quick else (args.rows, 17_500)
    sweeps = 3 if args.quick else args.speed_sweeps
    rounds = 1 if args.quick else args.speed_rounds
    data = load_planted(rows, values, seed=0)
    nnz = data.X_train.nnz
    print(f"# speed: {data.note}; k={K}, {sweeps} sweeps", flush=True)
    out = {"note": data.note, "rows": data.X_train.shape[0], "nnz": nnz, "sweeps": sweeps,
           "rounds": rounds, "runs": []}
    threads = sorted({1, 2, args.max_threads} if args.max_threads else {1, 2})
    probe, why = (rapidfm_estimator("regression", solver="mcmc")
                  if "rapidfm" in args.contenders else (None, None))
    if "rapidfm" in args.contenders and probe is None:
        out["runs"].append(skipped("rapidfm", why))
        print(f"  rapidfm {why}", flush=True)
    elif "rapidfm" in args.contenders:
        configs = [(solver, dtype, t) for solver in ("mcmc", "als")
                   for dtype in (np.float32, np.float64) for t in threads]
        timed, walls, rmses, ns_hist = {}, {}, {}, {}
        # the configurations take turns, round after round, so that a burst of others'
        # work on the machine spreads over all of them
        for rnd in range(rounds):
            for solver, dtype, t in configs:
                key = (solver, np.dtype(dtype).name, t)
                reg = (0.0, 10.0, 10.0) if solver == "als" else (0.0, 0.0, 0.0)
                model, _ = rapidfm_estimator(
                    "regression", solver=solver, n_factors=K, n_epochs=sweeps,
                    init_std=INIT_STD, reg_bias=reg[0], reg_linear=reg[1],
                    reg_factors=reg[2], n_jobs=t, random_state=0, dtype=dtype)
                t0 = time.perf_counter()
                model.fit(data.X_train, data.y_train)
                walls.setdefault(key, []).append(time.perf_counter() - t0)
                secs = [h["seconds"] for h in model.history_]
                timed.setdefault(key, []).extend(secs[1:] or secs)
                ns_hist.setdefault(key, []).append([h.get("ns_per_nonzero")
                                                    for h in model.history_])
                rmses[key] = scores("regression", data.y_test, model.predict(data.X_test))["rmse"]
                print(f"  round {rnd + 1}: rapidfm {key[0]} {key[1]} {t}t: "
                      f"{np.median(secs[1:] or secs):.4f} s/sweep", flush=True)
        for key, ts in timed.items():
            solver, dtype, t = key
            med = float(np.median(ts))
            r = ok("rapidfm", solver=solver, dtype=dtype, threads=t, seconds_per_sweep=med,
                   seconds_range=[min(ts), max(ts)], ns_per_nonzero=1e9 * med / nnz,
                   fit_seconds=walls[key], test_rmse=rmses[key], sweep_seconds=ts,
                   history_ns_per_nonzero=ns_hist[key])
            out["runs"].append(r)
            print(f"  rapidfm {solver} {dtype} {t}t: {med:.4f} s/sweep "
                  f"({r['ns_per_nonzero']:.1f} ns/nnz), test RMSE {rmses[key]:.4f}", flush=True)
    if "libfm" in args.contenders:
        exe, why = libfm_exe()
        if exe is None:
            out["runs"].append(skipped("libfm", why))
            print(f"  libfm {why}", flush=True)
        else:
            work = Path(workdir) / "libfm-planted"
            train, test = libfm_files(data, work)
            for solver in ("mcmc", "als"):
                reg = (0.0, 10.0, 10.0) if solver == "als" else None
                cmd = libfm_command(exe, "regression", train, test, sweeps, solver, 0, work,
                                    reg=reg)
                t0 = time.perf_counter()
                res = subprocess.run(cmd, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                learn = parse_rlog(work / "rlog.txt", "time_learn")
                if res.returncode != 0 or not learn:
                    out["runs"].append(skipped("libfm", f"failed (exit {res.returncode})"))
                    continue
                timed = learn[1:] or learn
                med = float(np.median(timed))
                pred = np.loadtxt(work / "pred.txt", ndmin=1)
                rmse = scores("regression", data.y_test, pred,
                              (float(data.y_train.min()), float(data.y_train.max())))["rmse"]
                out["runs"].append(ok("libfm", solver=solver, dtype="float64", threads=1,
                                      seconds_per_sweep=med,
                                      seconds_range=[min(timed), max(timed)],
                                      ns_per_nonzero=1e9 * med / nnz, wall_seconds=wall,
                                      test_rmse=rmse, command=" ".join(cmd),
                                      note="-rlog time_learn (user CPU s; includes its "
                                           "prediction of train and test each iteration)"))
                print(f"  libfm {solver} 1t: {med:.4f} s/iter ({1e9 * med / nnz:.1f} ns/nnz), "
                      f"wall {wall:.1f} s, test RMSE {rmse:.4f}", flush=True)
    report["speed"] = out


# -- cli --------------------------------------------------------------------------------------
def rapidfm_cli():
    exe = Path(sys.executable).with_name("rapidfm")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "rapidfm"]


def part_cli(args, workdir, report):
    data = load_ml100k()
    if isinstance(data, str):
        report["cli"] = {"skipped": data}
        print(f"# cli: skipped ({data})", flush=True)
        return
    sweeps = 10 if args.quick else 200
    work = Path(workdir) / "cli"
    train, test = libfm_files(data, work)
    y_range = (float(data.y_train.min()), float(data.y_train.max()))
    print(f"# cli: ml-100k u1, -iter {sweeps} -method mcmc, {args.cli_repeats} runs",
          flush=True)
    # (name, the program, the flags after libFM's): rapidfm with its default threads
    # (all cores) and with one, as libFM
    tools = []
    if "rapidfm" in args.contenders:
        tools.append(("rapidfm", rapidfm_cli() + ["libfm"], []))
        tools.append(("rapidfm -threads 1", rapidfm_cli() + ["libfm"], ["-threads", "1"]))
    if "libfm" in args.contenders:
        exe, why = libfm_exe()
        tools.append(("libfm", [exe] if exe else why, []))
    out = {"sweeps": sweeps, "runs": []}
    if "rapidfm" in args.contenders:
        # what the rapidfm command pays before reading its flags: the Python start and the
        # imports of rapidfm.cli (NumPy, SciPy, scikit-learn)
        starts = []
        for _ in range(args.cli_repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import rapidfm.cli"], check=True)
            starts.append(time.perf_counter() - t0)
        out["python_import_seconds"] = float(np.median(starts))
        print(f"  python -c 'import rapidfm.cli': {out['python_import_seconds']:.2f} s",
              flush=True)
    for name, prefix, extra in tools:
        if isinstance(prefix, str):
            out["runs"].append(skipped(name, prefix))
            print(f"  {name:<8} {prefix}", flush=True)
            continue
        walls, rmses = [], []
        cmd = (prefix
               + ["-task", "r", "-train", str(train), "-test", str(test), "-dim", f"1,1,{K}",
                  "-iter", str(sweeps), "-method", "mcmc", "-out", str(work / "pred.txt")]
               + extra)
        failure = None
        for _ in range(args.cli_repeats):
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if res.returncode != 0 or not (work / "pred.txt").exists():
                failure = (f"failed (exit {res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-300:]}")
                break
            pred = np.loadtxt(work / "pred.txt", ndmin=1)
            rmses.append(scores("regression", data.y_test, pred, y_range)["rmse"])
            (work / "pred.txt").unlink()
        if failure:
            out["runs"].append(skipped(name, failure))
            print(f"  {name:<8} {failure}", flush=True)
            continue
        r = ok(name, command=" ".join(cmd[len(prefix) - (name != "libfm"):]),
               wall_seconds=walls,
               wall_median=float(np.median(walls)), rmse=rmses)
        out["runs"].append(r)
        print(f"  {name:<8} wall {r['wall_median']:.2f} s (median of {len(walls)}), test RMSE "
              f"{np.median(rmses):.4f}", flush=True)
    report["cli"] = out


# -- report ---------------------------------------------------------------------------------
def fmt(s, key, digits=4):
    if key not in s:
        return "-"
    m = s[key]
    if m["min"] == m["max"]:
        return f"{m['median']:.{digits}f}"
    return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}..{m['max']:.{digits}f})"


def markdown(report):
    m = report["machine"]
    lines = ["## bench_solvers", "",
             f"{m['cpu']}, {m['cores']} cores (shared with other work while measured), "
             f"Python {m['python']}, numpy {m['numpy']}, rapidfm {m['rapidfm']}; "
             f"{report['date']}; {'quick' if report['settings']['quick'] else 'full'} mode; "
             f"load average (1 min) {m['load_average_start'][0]:.2f} at the start, "
             f"{m.get('load_average_end', [float('nan')])[0]:.2f} at the end.",
             ""]
    if report.get("accuracy"):
        lines += ["### Accuracy (median (min..max) over seeds)", "",
                  "| case | contender | sweeps | RMSE | accuracy | log-loss | fit s | s/sweep "
                  "| target | met |", "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for name, case in report["accuracy"].items():
            if "skipped" in case:
                lines.append(f"| {name} | - | - | - | - | - | - | - | - | {case['skipped']} |")
                continue
            for r in case["runs"]:
                if r["status"] != "ok":
                    lines.append(f"| {name} | {r['contender']} | - | - | - | - | - | - | - | "
                                 f"{r['reason']} |")
                    continue
                s = r["summary"]
                tg = r.get("targets", {})
                target = "; ".join(f"{k} {v['target']}" for k, v in tg.items())
                met = "; ".join(("yes" if v["met"] else "NO") for v in tg.values())
                if r["contender"] != "rapidfm":
                    met = f"({met})" if met else ""
                lines.append(f"| {name} | {r['contender']} | {case['sweeps']} | "
                             f"{fmt(s, 'rmse')} | {fmt(s, 'accuracy')} | {fmt(s, 'logloss')} | "
                             f"{fmt(s, 'fit_seconds', 2)} | {fmt(s, 'seconds_per_sweep', 4)} | "
                             f"{target} | {met} |")
            if case.get("libfm_cited"):
                cited = ", ".join(f"{k} {v}" for k, v in case["libfm_cited"].items())
                lines.append(f"| {name} | libFM (reference run, not this run) | | "
                             f"{cited} | | | | | | |")
        lines += ["", "Targets apply to rapidfm; for the other contenders the column says "
                  "whether they would meet them.", ""]
    sp_ = report.get("speed")
    if sp_:
        lines += [f"### Speed: {sp_['note']}, k={K}, {sp_['sweeps']} sweeps x "
                  f"{sp_.get('rounds', 1)} rounds (rapidfm), median over the timed sweeps", "",
                  "| contender | solver | dtype | threads | s/sweep (min..max) | ns/nnz | "
                  "speedup vs 1 thread | vs libFM MCMC | test RMSE |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        runs = [r for r in sp_["runs"] if r["status"] == "ok"]
        libfm = {r["solver"]: r for r in runs if r["contender"] == "libfm"}
        base = {(r["solver"], r["dtype"]): r["seconds_per_sweep"] for r in runs
                if r["contender"] == "rapidfm" and r["threads"] == 1}
        for r in sp_["runs"]:
            if r["status"] != "ok":
                lines.append(f"| {r['contender']} | - | - | - | - | - | - | - | {r['reason']} |")
                continue
            spd = ""
            if r["contender"] == "rapidfm":
                spd = f"x{base[(r['solver'], r['dtype'])] / r['seconds_per_sweep']:.2f}"
            ref = libfm.get("mcmc")
            if ref and r["contender"] == "rapidfm" and r["solver"] == "mcmc":
                vs = f"x{ref['seconds_per_sweep'] / r['seconds_per_sweep']:.1f}"
            elif r["contender"] == "rapidfm" and r["solver"] == "mcmc":
                lo, hi = LIBFM_MCMC_CITED_SECONDS
                vs = (f"x{lo / r['seconds_per_sweep']:.1f}..x{hi / r['seconds_per_sweep']:.1f}"
                      " (cited)")
            else:
                vs = ""
            lo, hi = r["seconds_range"]
            lines.append(f"| {r['contender']} | {r['solver']} | {r['dtype']} | {r['threads']} | "
                         f"{r['seconds_per_sweep']:.4f} ({lo:.3g}..{hi:.3g}) | "
                         f"{r['ns_per_nonzero']:.1f} | {spd} | {vs} | {r['test_rmse']:.4f} |")
        lines += ["", f"vs libFM MCMC: libFM's s/iteration (its -rlog time_learn) over rapidfm's "
                  f"s/sweep; '(cited)' uses the reference runs' {LIBFM_MCMC_CITED_SECONDS[0]}-"
                  f"{LIBFM_MCMC_CITED_SECONDS[1]} s per iteration (shared/reference/libfm-1.4.4) "
                  "when libFM did not run.", ""]
    cli = report.get("cli")
    if cli:
        if "skipped" in cli:
            lines += [f"### CLI: skipped ({cli['skipped']})", ""]
        else:
            lines += [f"### CLI end to end: ml-100k u1, -iter {cli['sweeps']} -method mcmc", "",
                      "| tool | command | wall s (median) | runs | test RMSE |",
                      "|---|---|---:|---|---:|"]
            for r in cli["runs"]:
                if r["status"] != "ok":
                    lines.append(f"| {r['contender']} | - | - | - | {r['reason']} |")
                    continue
                runs = ", ".join(f"{w:.2f}" for w in r["wall_seconds"])
                lines.append(f"| {r['contender']} | `{r['command']}` | {r['wall_median']:.2f} | "
                             f"{runs} | {np.median(r['rmse']):.4f} |")
            if "python_import_seconds" in cli:
                lines += ["", f"`python -c 'import rapidfm.cli'` alone: "
                          f"{cli['python_import_seconds']:.2f} s (median), part of every "
                          f"rapidfm wall time above."]
            lines += ["", f"libFM's reference run (shared/reference/libfm-1.4.4): "
                      f"{LIBFM_CLI_CITED_SECONDS} s.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {PARTS}")
    parser.add_argument("--cases", default="", help=f"accuracy cases (default all but "
                        f"the optional frappe-mcmc-100/-400): {', '.join(CASES)}")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma list of {CONTENDERS}")
    parser.add_argument("--repeats", type=int, default=10,
                        help="seeds 0..N-1 of the accuracy runs (default 10: one seed's "
                             "test RMSE on ml-100k moves by about +-0.001)")
    parser.add_argument("--cli-repeats", type=int, default=3,
                        help="runs of each CLI command (default 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="rapidfm n_jobs of the accuracy runs (default 1)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="training rows of the planted speed set")
    parser.add_argument("--speed-sweeps", type=int, default=5,
                        help="sweeps per speed run (the first is not timed)")
    parser.add_argument("--speed-rounds", type=int, default=3,
                        help="rounds of the speed runs, the configurations taking turns; "
                             "s/sweep is the median over all rounds' timed sweeps")
    parser.add_argument("--max-threads", type=int, default=0,
                        help="also time the speed runs at this many threads")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: few sweeps, small planted set, one seed")
    parser.add_argument("--out", default=str(RESULTS / "solvers.json"),
                        help="JSON path; .md goes beside it")
    parser.add_argument("--no-plots", action="store_true", help="accepted; there are no plots")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for what, got, known in (("parts", args.parts, PARTS), ("cases", args.cases, CASES),
                             ("contenders", args.contenders, CONTENDERS)):
        unknown = set(got) - set(known)
        if unknown:
            parser.error(f"unknown {what} {sorted(unknown)}; choose from {list(known)}")
    if args.quick:
        args.repeats = args.cli_repeats = 1
    started = time.time()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": {"cpu": cpu_model(), "cores": _core.max_threads(),
                          "python": platform.python_version(), "numpy": np.__version__,
                          "rapidfm": rapidfm.__version__,
                          # 1/5/15-minute load: others' work on the machine while measuring
                          "load_average_start": list(os.getloadavg())},
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "accuracy": {}}
    print(f"# {report['machine']['cpu']}, {report['machine']['cores']} cores", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        if "accuracy" in args.parts:
            part_accuracy(args, workdir, report)
        if "speed" in args.parts:
            part_speed(args, workdir, report)
        if "cli" in args.parts:
            part_cli(args, workdir, report)
    report["seconds"] = time.time() - started
    report["machine"]["load_average_end"] = list(os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print()
    print(md)
    print(f"wrote {out} and {out.with_suffix('.md')} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
