"""Field-aware FMs: rapidfm.FFMClassifier against libffm, speed and test log-loss.

Parts (--parts, default both):

  speed     seconds per epoch on a planted set: --rows training rows (default 1M) plus 10%
            more as a test set, --fields one-hot fields (default 10) of --values values each
            (default 10,000: 100,000 features), Zipf(--zipf, default 1.3) value frequencies
            (value i of a field, in a random order, has probability ~ (i + 1) ** -1.3),
            labels 0/1 drawn through a logistic link from a random FFM (k=4, pairwise term
            of unit variance). Generated with numpy from --seed. k=8, AdaGrad at libffm's
            defaults, instance normalisation, no linear terms:
              rapidfm  FFMClassifier(n_factors=8, solver="adagrad", learning_rate=0.2,
                         reg_factors=2e-5, reg_linear=0, normalize=True, fit_linear=False,
                         n_epochs=--epochs, dtype=float32, n_jobs=1 | 2,
                         feature_fields=<field of each column>)
                       s/epoch: history_[i]["seconds"] (the kernel call), the epochs after
                       the first of each fit
              libffm   $LIBFFM_DIR/ffm-train -k 8 -t --libffm-iters -r 0.2 -l 0.00002 -s 1 | 2
                         train.ffm model
                       on a libffm text file written by this script (converted to libffm's
                       binary cache by a first run, which is not timed). s/iteration from
                       its tr_time column (cumulative seconds of its training passes,
                       printed to 0.1 s): (tr_time[last] - tr_time[first]) / (iterations -
                       1), the first iteration left out as for rapidfm. Next to it, as a
                       check, the process wall time of that command minus that of the same
                       with -t 1, over iterations - 1 (loading, the first iteration and
                       saving the model cancel out; noisier: two processes). Test
                       log-loss: ffm-predict on the test file, untimed.
            --repeats rounds, every configuration once per round (so that others' work on
            the machine spreads over all); figures are medians (min..max) over all rounds.
            Targets: rapidfm 1 thread <= 1/3 of libffm's 1-thread s/iteration; rapidfm 2
            threads never slower than 1 thread.
  accuracy  Frappe from $RAPIDFM_DATA/frappe/libfm: train on frappe.validation.libfm, test
            on frappe.test.libfm (labels +1 -> 1, else 0; the field of an item is its
            position 0..9 in its line, which is also a fixed index range per field: the
            script checks both). k=8, same hyper-parameters as above, at most --max-epochs:
              rapidfm-es    early_stopping=True, validation_fraction=--validation-fraction
                            (of the TRAINING file, at random), n_iter_no_change, the best
                            epoch's parameters restored; seeds 0..--seeds-1; test log-loss of
                            predict_proba. Target: <= 0.270 (libffm's best over its
                            iterations on the test file itself: 0.2700, reference run)
              rapidfm-test  eval_set = the test file, never stopping early: the best and the
                            last test log-loss over --max-epochs epochs (what libffm -p shows)
              libffm        ffm-train -k 8 -t --max-epochs -r 0.2 -l 0.00002 -s 1
                            -p frappe.test.ffm frappe.validation.ffm model (the command of
                            shared/reference/libffm-af3ae37): best and last va_logloss; the
                            last model's test log-loss from ffm-predict's output, computed
                            here, as a check of the metric

Peers and data (each part or contender is skipped, with the reason, when unavailable):
  XLEARN_TRAIN   xLearn's xlearn_train (built by hand outside the repository with its
                 cmake): its FFM (-s 2, AdaGrad, bias and linear terms) at the same k, eta
                 and lambda, in both parts
  LIBFFM_DIR     a folder holding ffm-train and ffm-predict (libffm, built by hand outside
                 this repository; see bench/README.md)
  RAPIDFM_DATA   the data folder (default ../shared/data beside the repository), as in
                 tests/conftest.py

Log-loss: mean, in nats, of P(y=1) clipped to [1e-15, 1 - 1e-15].

    python bench/bench_ffm.py                                  # both parts, 1M rows
    python bench/bench_ffm.py --rows 200000 --parts speed
    LIBFFM_DIR=/path/to/libffm python bench/bench_ffm.py --workdir /tmp/ffm

Writes bench/results/ffm.json and ffm.md (--out).
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import rapidfm
from rapidfm.io import load_svmlight

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PARTS = ["speed", "accuracy"]

K = 8
LR = 0.2            # libffm's default eta
LAMBDA = 0.00002    # libffm's default lambda
SPEED_TARGET = 1 / 3          # rapidfm 1-thread s/epoch over libffm's 1-thread s/iteration
FRAPPE_TARGET = 0.270         # test log-loss of rapidfm with early stopping
LIBFFM_FRAPPE_CITED = 0.27005  # libffm's best va_logloss (iteration 8), reference run


def data_dir():
    return Path(os.environ.get("RAPIDFM_DATA", REPO.parent / "shared" / "data"))


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def logloss(y, p):
    p = np.clip(np.asarray(p, np.float64), 1e-15, 1 - 1e-15)
    y = np.asarray(y) > 0
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def med(values):
    """{"median", "min", "max"} of a list of numbers."""
    v = np.asarray(values, np.float64)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "n": int(v.size)}


def ok(name, **kw):
    return {"contender": name, "status": "ok", **kw}


def skipped(name, reason, **kw):
    return {"contender": name, "status": "skipped", "reason": reason, **kw}


# -- rapidfm -------------------------------------------------------------------------------
def ffm_estimator(**kw):
    """(FFMClassifier(**kw), None), or (None, why) when this rapidfm has none."""
    cls = getattr(rapidfm, "FFMClassifier", None)
    if cls is None:
        return None, "skipped: this rapidfm has no FFMClassifier"
    try:
        return cls(**kw), None
    except TypeError as exc:
        return None, f"skipped: FFMClassifier does not take these parameters ({exc})"


def ffm_params(feature_fields, n_epochs, threads, seed, **extra):
    """libffm's model and rule: AdaGrad at eta 0.2, lambda 2e-5 on V, unit-norm rows, no
    linear terms."""
    return dict(n_factors=K, solver="adagrad", learning_rate=LR, reg_factors=LAMBDA,
                reg_linear=0.0, normalize=True, fit_linear=False, n_epochs=n_epochs,
                dtype=np.float32, n_jobs=threads, random_state=seed,
                feature_fields=feature_fields, **extra)


# -- libffm --------------------------------------------------------------------------------
def libffm_dir():
    """(folder, None) or (None, why)."""
    folder = os.environ.get("LIBFFM_DIR")
    if not folder:
        return None, "skipped (not found): set LIBFFM_DIR to a folder with ffm-train"
    folder = Path(folder).expanduser()
    exe = folder / "ffm-train"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        return None, f"skipped (not found): {exe} is not an executable file"
    return folder, None


def libffm_commit(folder):
    """The commit of a libffm git checkout (read only), or None."""
    try:
        res = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None


CONVERSION = re.compile(r"Convert text file to binary file \(([0-9.]+) seconds\)")


def run_ffm_train(folder, train, test, iters, threads, work, model="model"):
    """Runs ffm-train (with -p test when test is given); {"rows": [{iter, tr_logloss,
    [va_logloss,] tr_time}], "wall", "command", "conversion_seconds"} or {"error": text}."""
    cmd = [str(folder / "ffm-train"), "-k", str(K), "-t", str(iters), "-r", str(LR),
           "-l", str(LAMBDA), "-s", str(threads)]
    if test is not None:
        cmd += ["-p", str(test)]
    cmd += [str(train), str(work / model)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return {"error": f"failed (exit {res.returncode}): "
                         f"{(res.stderr or res.stdout).strip()[-300:]}", "command": cmd}
    header, rows = None, []
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "iter":
            header = parts
        elif header and parts and parts[0].isdigit() and len(parts) == len(header):
            rows.append(dict(zip(header, map(float, parts))))
    if not rows or "tr_time" not in rows[-1] or (test is not None
                                                 and "va_logloss" not in rows[-1]):
        return {"error": "failed: no iter / tr_logloss / va_logloss / tr_time table in its "
                         "output (a libffm without tr_time?)", "command": cmd}
    return {"rows": rows, "wall": wall, "command": " ".join(cmd),
            "conversion_seconds": sum(float(s) for s in CONVERSION.findall(res.stdout))}


def run_ffm_predict(folder, test, work, model="model"):
    """(log-loss ffm-predict prints, its P(y=1) per row) or (None, None)."""
    exe = folder / "ffm-predict"
    if not exe.is_file():
        return None, None
    res = subprocess.run([str(exe), str(test), str(work / model), str(work / "pred.txt")],
                         capture_output=True, text=True, cwd=work)
    m = re.search(r"logloss\s*=\s*([0-9.]+)", res.stdout)
    if res.returncode != 0 or not m:
        return None, None
    return float(m.group(1)), np.loadtxt(work / "pred.txt", ndmin=1)


def libffm_seconds_per_iter(rows):
    """Mean seconds of the iterations after the first, from the cumulative tr_time."""
    cum = [r["tr_time"] for r in rows]
    if len(cum) == 1:
        return cum[0]
    return (cum[-1] - cum[0]) / (len(cum) - 1)


def libffm_speed_run(folder, files, iters, threads, work):
    """ffm-train -t 1 and -t iters (no -p) on the cached binary files: s/iteration as the
    wall-time difference over iters - 1 (the loading, the first iteration and the saving
    cancel), and from tr_time; the test log-loss of the -t iters model (ffm-predict)."""
    train, test = files
    one = run_ffm_train(folder, train, None, 1, threads, work, model="model1")
    if "error" in one:
        return one
    full = run_ffm_train(folder, train, None, iters, threads, work)
    if "error" in full:
        return full
    printed, _ = run_ffm_predict(folder, test, work)
    per_iter = (full["wall"] - one["wall"]) / (iters - 1) if iters > 1 else full["wall"]
    return {"wall_per_iter": per_iter, "tr_time_per_iter": libffm_seconds_per_iter(full["rows"]),
            "wall": [one["wall"], full["wall"]], "tr_time": [r["tr_time"] for r in full["rows"]],
            "logloss": printed, "command": full["command"]}


# -- xLearn (its command line, built by hand outside the repository) ------------------------
XLEARN_EPOCH = re.compile(r"^\[\s*\d+%\s*\]\s+(\d+)\s+(.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def xlearn_exe():
    """(xlearn_train, None) or (None, why)."""
    exe = os.environ.get("XLEARN_TRAIN")
    if not exe:
        return None, "skipped (not found): set XLEARN_TRAIN to xlearn_train"
    if not (Path(exe).is_file() and os.access(exe, os.X_OK)):
        return None, f"skipped (not found): XLEARN_TRAIN={exe} is not an executable file"
    return exe, None


def run_xlearn(exe, train, test, epochs, threads, work):
    """xlearn_train -s 2 (FFM, its AdaGrad, bias and linear terms, normalised rows) with
    libffm's k, eta and lambda: {"rows": [[epoch, train loss, (test loss,) seconds]],
    "wall", "command"} or {"error": text}."""
    cmd = [exe, str(train), "-s", "2", "-k", str(K), "-r", str(LR), "-b", str(LAMBDA),
           "-e", str(epochs), "-p", "adagrad", "-nthread", str(threads), "--dis-es",
           "-m", str(work / "xlearn.model")]
    if test is not None:
        cmd += ["-v", str(test)]
    # xLearn reads $USER for its log path and aborts without it
    env = dict(os.environ, USER=os.environ.get("USER") or "bench")
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return {"error": f"failed (exit {res.returncode}): "
                         f"{ANSI.sub('', res.stderr or res.stdout).strip()[-300:]}"}
    rows = []
    for line in ANSI.sub("", res.stdout).splitlines():
        m = XLEARN_EPOCH.match(line.strip())
        if m:
            try:
                rows.append([float(m.group(1))] + [float(v) for v in m.group(2).split()])
            except ValueError:
                continue
    if not rows:
        return {"error": "failed: no epoch table in the xlearn_train output"}
    return {"rows": rows, "wall": wall, "command": " ".join(cmd)}


# -- planted data -----------------------------------------------------------------------------
class Planted:
    def __init__(self, rows, n_fields, values, zipf, seed):
        n_test = max(rows // 10, 1)
        n = rows + n_test
        rng = np.random.default_rng(seed)
        weights = (np.arange(values) + 1.0) ** -float(zipf)
        cdf = np.cumsum(weights / weights.sum())
        cdf[-1] = 1.0
        idx = np.empty((n, n_fields), np.int32)
        for f in range(n_fields):
            rank = np.searchsorted(cdf, rng.random(n), side="right")
            idx[:, f] = f * values + rng.permutation(values)[np.minimum(rank, values - 1)]
        # the planted FFM: k=4, pairwise term of unit variance over the field pairs
        n_features, k_true = n_fields * values, 4
        n_pairs = max(n_fields * (n_fields - 1) // 2, 1)
        V = rng.normal(0.0, (1.0 / (n_pairs * k_true)) ** 0.25,
                       (n_features, n_fields, k_true)).astype(np.float32)
        logit = np.zeros(n, np.float64)
        for f in range(n_fields):
            for g in range(f + 1, n_fields):
                logit += np.einsum("ij,ij->i", V[idx[:, f], g], V[idx[:, g], f])
        p = 1.0 / (1.0 + np.exp(-logit))
        y = (rng.random(n) < p).astype(np.float64)
        self.idx, self.y = idx, y
        self.rows, self.n_test, self.n_fields, self.values = rows, n_test, n_fields, values
        self.n_features = n_features
        self.feature_fields = np.repeat(np.arange(n_fields, dtype=np.int32), values)
        self.bayes_logloss = float(-np.mean(p * np.log(p + 1e-15)
                                            + (1 - p) * np.log(1 - p + 1e-15)))
        self.note = (f"planted FFM: {rows:,} train / {n_test:,} test rows x {n_fields} one-hot "
                     f"fields, {values:,} values each ({n_features:,} features), "
                     f"Zipf {zipf} values, seed {seed}; P(y=1) {y.mean():.3f}, Bayes "
                     f"log-loss {self.bayes_logloss:.4f}")

    def csr(self, part):
        sl = slice(0, self.rows) if part == "train" else slice(self.rows, None)
        idx = self.idx[sl]
        n, m = idx.shape
        X = sp.csr_matrix((np.ones(n * m, np.float32), idx.ravel(),
                           np.arange(0, n * m + 1, m, dtype=np.int64)),
                          shape=(n, self.n_features))
        return X, self.y[sl]

    def write_libffm(self, path, part):
        """'label field:index:1 ...', one line per row (numpy's savetxt)."""
        sl = slice(0, self.rows) if part == "train" else slice(self.rows, None)
        table = np.column_stack([self.y[sl].astype(np.int32), self.idx[sl]])
        fmt = "%d " + " ".join(f"{f}:%d:1" for f in range(self.n_fields))
        tmp = Path(str(path) + ".tmp")
        with open(tmp, "w") as fh:
            np.savetxt(fh, table, fmt=fmt)
        tmp.replace(path)


def part_speed(args, workdir, report):
    t0 = time.perf_counter()
    data = Planted(args.rows, args.fields, args.values, args.zipf, args.seed)
    X, y = data.csr("train")
    X_test, y_test = data.csr("test")
    print(f"# speed: {data.note} (generated in {time.perf_counter() - t0:.1f} s); k={K}",
          flush=True)
    out = {"note": data.note, "rows": args.rows, "fields": args.fields, "values": args.values,
           "zipf": args.zipf, "seed": args.seed, "bayes_logloss": data.bayes_logloss,
           "epochs": args.epochs, "libffm_iters": args.libffm_iters, "repeats": args.repeats,
           "threads": args.threads, "runs": []}

    probe, why_rapidfm = ffm_estimator(**ffm_params(data.feature_fields, 1, 1, 0))
    folder, why_libffm = libffm_dir()
    xlearn, why_xlearn = xlearn_exe()
    files = None
    text_files = None
    if folder is not None or xlearn is not None:
        stem = f"planted-r{args.rows}-f{args.fields}-v{args.values}-z{args.zipf:g}-s{args.seed}"
        train_txt = Path(workdir) / f"{stem}.train.ffm"
        test_txt = Path(workdir) / f"{stem}.test.ffm"
        t0 = time.perf_counter()
        for path, part in ((train_txt, "train"), (test_txt, "test")):
            if not path.exists():
                data.write_libffm(path, part)
        print(f"  libffm text files in {workdir} ({time.perf_counter() - t0:.1f} s)",
              flush=True)
        text_files = (train_txt, test_txt)
    if folder is not None:
        # the first run converts the text to libffm's binary cache (train.ffm.bin beside
        # it); it is not timed
        first = run_ffm_train(folder, train_txt, test_txt, 1, 1, Path(workdir))
        if "error" in first:
            why_libffm, folder = first["error"], None
        else:
            files = (train_txt, test_txt)
            out["libffm_conversion_seconds"] = first["conversion_seconds"]
            print(f"  libffm text -> binary: {first['conversion_seconds']:.1f} s (not timed)",
                  flush=True)

    rap = {t: {"epochs": [], "fit": [], "logloss": [], "modes": set()} for t in args.threads}
    ffm = {t: {"wall_per_iter": [], "tr_time_per_iter": [], "wall": [], "logloss": [],
               "tr_time": [], "cmd": None} for t in args.threads}
    xl = {t: {"epochs": [], "cmd": None} for t in args.threads}
    failed = {}
    for rnd in range(args.repeats):
        for t in args.threads:
            if probe is not None and ("rapidfm", t) not in failed:
                model, _ = ffm_estimator(**ffm_params(data.feature_fields, args.epochs, t,
                                                      args.seed + rnd))
                t0 = time.perf_counter()
                try:
                    model.fit(X, y)
                except Exception as exc:  # noqa: BLE001 - reported as a failed contender
                    failed[("rapidfm", t)] = f"failed: {type(exc).__name__}: {exc}"
                    print(f"  rapidfm {t}t {failed[('rapidfm', t)]}", flush=True)
                    continue
                fit = time.perf_counter() - t0
                secs = [h["seconds"] for h in model.history_]
                rap[t]["epochs"].extend(secs[1:] or secs)
                rap[t]["fit"].append(fit)
                rap[t]["modes"].update(str(h["parallel_mode"]) for h in model.history_
                                       if "parallel_mode" in h)
                rap[t]["logloss"].append(logloss(y_test, model.predict_proba(X_test)[:, 1]))
                print(f"  round {rnd + 1}: rapidfm {t}t {np.median(secs[1:] or secs):.3f} "
                      f"s/epoch (epochs {', '.join(f'{s:.3f}' for s in secs)}), fit "
                      f"{fit:.2f} s, test log-loss {rap[t]['logloss'][-1]:.4f}", flush=True)
            if xlearn is not None and text_files and ("xlearn", t) not in failed:
                res = run_xlearn(xlearn, text_files[0], None, args.epochs, t, Path(workdir))
                if "error" in res:
                    failed[("xlearn", t)] = res["error"]
                    print(f"  xlearn {t}t {res['error']}", flush=True)
                else:
                    secs = [r[-1] for r in res["rows"]]
                    xl[t]["epochs"].extend(secs[1:] or secs)
                    xl[t]["cmd"] = res["command"]
                    print(f"  round {rnd + 1}: xlearn -nthread {t} "
                          f"{np.median(secs[1:] or secs):.3f} s/epoch (epochs "
                          f"{', '.join(f'{x:.2f}' for x in secs)})", flush=True)
            if files is not None and ("libffm", t) not in failed:
                res = libffm_speed_run(folder, files, args.libffm_iters, t, Path(workdir))
                if "error" in res:
                    failed[("libffm", t)] = res["error"]
                    print(f"  libffm {t}t {res['error']}", flush=True)
                    continue
                for key in ("wall_per_iter", "tr_time_per_iter", "wall", "logloss"):
                    ffm[t][key].append(res[key])
                ffm[t]["cmd"] = res["command"]
                ffm[t]["tr_time"].append(res["tr_time"])
                ll = "-" if res["logloss"] is None else f"{res['logloss']:.4f}"
                print(f"  round {rnd + 1}: libffm -s {t} {res['tr_time_per_iter']:.3f} s/iter "
                      f"(tr_time {', '.join(str(x) for x in res['tr_time'])}; wall -t "
                      f"{args.libffm_iters} minus -t 1: {res['wall_per_iter']:.3f} s/iter), "
                      f"test log-loss {ll}", flush=True)

    nnz = X.nnz
    for t in args.threads:
        if probe is None:
            out["runs"].append(skipped("rapidfm", why_rapidfm, threads=t))
        elif ("rapidfm", t) in failed:
            out["runs"].append(skipped("rapidfm", failed[("rapidfm", t)], threads=t))
        else:
            s = med(rap[t]["epochs"])
            out["runs"].append(ok("rapidfm", threads=t, seconds_per_epoch=s,
                                  epoch_seconds=rap[t]["epochs"],
                                  ns_per_row=1e9 * s["median"] / args.rows,
                                  ns_per_nonzero=1e9 * s["median"] / nnz,
                                  fit_seconds=rap[t]["fit"],
                                  parallel_mode=sorted(rap[t]["modes"]),
                                  test_logloss=med(rap[t]["logloss"]),
                                  note=f"history_ seconds of epochs 2..{args.epochs} of "
                                       f"{args.repeats} fits"))
    for t in args.threads:
        if folder is None and files is None:
            out["runs"].append(skipped("libffm", why_libffm, threads=t))
        elif ("libffm", t) in failed:
            out["runs"].append(skipped("libffm", failed[("libffm", t)], threads=t))
        else:
            s = med(ffm[t]["tr_time_per_iter"])
            lls = [x for x in ffm[t]["logloss"] if x is not None]
            out["runs"].append(ok("libffm", threads=t, seconds_per_epoch=s,
                                  wall_diff_seconds_per_iter=med(ffm[t]["wall_per_iter"]),
                                  ns_per_row=1e9 * s["median"] / args.rows,
                                  ns_per_nonzero=1e9 * s["median"] / nnz,
                                  wall_seconds=ffm[t]["wall"], tr_time=ffm[t]["tr_time"],
                                  test_logloss=med(lls) if lls else None,
                                  command=ffm[t]["cmd"],
                                  note=f"s/iteration: its tr_time column, iterations "
                                       f"2..{args.libffm_iters}, median over {args.repeats} "
                                       f"rounds; wall_diff_seconds_per_iter: (wall of -t "
                                       f"{args.libffm_iters} - wall of -t 1) / "
                                       f"{args.libffm_iters - 1}; test log-loss: "
                                       "ffm-predict's"))
    for t in args.threads:
        if xlearn is None:
            out["runs"].append(skipped("xlearn", why_xlearn, threads=t))
        elif ("xlearn", t) in failed:
            out["runs"].append(skipped("xlearn", failed[("xlearn", t)], threads=t))
        else:
            s = med(xl[t]["epochs"])
            out["runs"].append(ok("xlearn", threads=t, seconds_per_epoch=s,
                                  ns_per_row=1e9 * s["median"] / args.rows,
                                  ns_per_nonzero=1e9 * s["median"] / nnz,
                                  command=xl[t]["cmd"],
                                  note=f"xlearn_train -s 2 (FFM with bias and linear terms): "
                                       f"its 'Time cost' of epochs 2..{args.epochs}, "
                                       f"{args.repeats} rounds"))
    out["targets"] = speed_targets(out["runs"])
    for line in speed_summary(out):
        print("  " + line, flush=True)
    report["speed"] = out


def speed_targets(runs):
    """The targets on the medians; value_min: the same ratio of the fastest figures (what a
    busy machine disturbs least)."""
    got = {(r["contender"], r["threads"]): r["seconds_per_epoch"]
           for r in runs if r["status"] == "ok"}
    epochs = {r["threads"]: r["epoch_seconds"] for r in runs
              if r["status"] == "ok" and r["contender"] == "rapidfm"}

    def ratio(a, b):
        return {"value": got[a]["median"] / got[b]["median"],
                "value_min": got[a]["min"] / got[b]["min"]}

    out = {}
    if ("rapidfm", 1) in got and ("libffm", 1) in got:
        r = ratio(("rapidfm", 1), ("libffm", 1))
        out["rapidfm_1t_over_libffm_1t"] = {**r, "target": f"<= {SPEED_TARGET:.3f}",
                                            "met": bool(r["value"] <= SPEED_TARGET)}
    for t in sorted({t for c, t in got if c == "rapidfm" and t > 1}):
        if ("rapidfm", 1) in got:
            r = ratio(("rapidfm", t), ("rapidfm", 1))
            out[f"rapidfm_{t}t_over_1t"] = {
                **r, "target": "<= 1", "met": bool(r["value"] <= 1.0),
                # the slowest epoch at t threads against the fastest at 1: "never slower"
                "worst_epoch_ratio": max(epochs[t]) / min(epochs[1])}
        if ("libffm", t) in got:
            out[f"rapidfm_{t}t_over_libffm_{t}t"] = ratio(("rapidfm", t), ("libffm", t))
    return out


def speed_summary(out):
    lines = []
    for key, v in out["targets"].items():
        extra = f" (target {v['target']}: {'met' if v['met'] else 'NOT met'})" if "met" in v \
            else ""
        if "worst_epoch_ratio" in v:
            extra += f"; slowest epoch over the fastest 1-thread one: {v['worst_epoch_ratio']:.3f}"
        lines.append(f"{key}: {v['value']:.3f} of the medians, {v['value_min']:.3f} of the "
                     f"fastest{extra}")
    return lines


# -- Frappe ---------------------------------------------------------------------------------
def frappe_lines(path):
    """[(label 0/1, [index, ...] in line order)] of a libFM file."""
    rows = []
    with open(path, "rb") as fh:
        for line in fh:
            parts = line.split()
            if not parts or parts[0].startswith(b"#"):
                continue
            rows.append((1 if float(parts[0]) > 0 else 0,
                         [int(tok.split(b":", 1)[0]) for tok in parts[1:]]))
    return rows


def load_frappe():
    """{"X_train", "y_train", "X_test", "y_test", "feature_fields", "lines", "note"} or the
    reason it is unavailable."""
    base = data_dir() / "frappe" / "libfm"
    paths = {"train": base / "frappe.validation.libfm", "test": base / "frappe.test.libfm"}
    for path in paths.values():
        if not path.exists():
            return f"{path} not found (set RAPIDFM_DATA)"
    lines = {part: frappe_lines(path) for part, path in paths.items()}
    # the field of an item is its position in its line; each feature must have one field
    field_of = {}
    for part_lines in lines.values():
        for _, items in part_lines:
            for pos, j in enumerate(items):
                if field_of.setdefault(j, pos) != pos:
                    return f"feature {j} occurs at two positions of Frappe lines"
    n_features = max(field_of) + 1
    feature_fields = np.full(n_features, -1, np.int32)
    feature_fields[list(field_of)] = list(field_of.values())
    # indices in neither file (gaps between the fields' ranges) take the field of the
    # nearest lower index that occurs: they are never seen, any valid field does
    seen = np.flatnonzero(feature_fields >= 0)
    last_seen = np.maximum.accumulate(np.where(feature_fields >= 0, np.arange(n_features), 0))
    feature_fields = np.where(feature_fields >= 0, feature_fields,
                              feature_fields[last_seen]).astype(np.int32)
    feature_fields[feature_fields < 0] = 0  # before the first index that occurs
    ranges = [(int(seen[feature_fields[seen] == f].min()),
               int(seen[feature_fields[seen] == f].max()))
              for f in range(int(feature_fields.max()) + 1)]
    loaded = {}
    for part, path in paths.items():
        X, y = load_svmlight(path, n_features=n_features, dtype=np.float32, zero_based=True)
        # load_svmlight sorts each row by index: check that the fields of the stored values
        # are still the positions in the lines (Frappe's lines are sorted, and each field is
        # an index range)
        from_lines = np.concatenate([np.arange(len(items)) for _, items in lines[part]])
        if not np.array_equal(feature_fields[X.indices], from_lines):
            return f"{path}: row order of load_svmlight differs from the line order"
        loaded[f"X_{part}"], loaded[f"y_{part}"] = X, (y > 0).astype(np.float64)
    contiguous = all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    Xtr = loaded["X_train"]
    loaded.update(
        feature_fields=feature_fields, lines=lines, field_ranges=ranges,
        note=(f"Frappe: {Xtr.shape[0]:,} train (frappe.validation.libfm) / "
              f"{loaded['X_test'].shape[0]:,} test (frappe.test.libfm) rows, "
              f"{n_features:,} features, {int(feature_fields.max()) + 1} fields (position in "
              f"line{'; each an index range' if contiguous else ''}), "
              f"P(y=1) {loaded['y_train'].mean():.3f}"))
    return loaded


def write_frappe_ffm(lines, path):
    """The reference conversion: 'label position:index:1 ...'."""
    with open(path, "w") as fh:
        for label, items in lines:
            fh.write(f"{label} " + " ".join(f"{p}:{j}:1" for p, j in enumerate(items)) + "\n")


def part_accuracy(args, workdir, report):
    data = load_frappe()
    if isinstance(data, str):
        print(f"# accuracy: skipped ({data})", flush=True)
        report["accuracy"] = {"skipped": data}
        return
    print(f"# accuracy: {data['note']}; k={K}, at most {args.max_epochs} epochs", flush=True)
    out = {"note": data["note"], "max_epochs": args.max_epochs,
           "validation_fraction": args.validation_fraction,
           "n_iter_no_change": args.n_iter_no_change, "seeds": list(range(args.seeds)),
           "target": f"<= {FRAPPE_TARGET:.3f}", "libffm_cited_best": LIBFFM_FRAPPE_CITED,
           "runs": []}
    ff = data["feature_fields"]

    # rapidfm, early stopping on a held-out part of the training file
    runs, why = [], None
    for seed in range(args.seeds):
        model, why = ffm_estimator(**ffm_params(
            ff, args.max_epochs, 1, seed, early_stopping=True,
            validation_fraction=args.validation_fraction,
            n_iter_no_change=args.n_iter_no_change))
        if model is None:
            break
        t0 = time.perf_counter()
        try:
            model.fit(data["X_train"], data["y_train"])
        except Exception as exc:  # noqa: BLE001 - reported as a failed contender
            why = f"failed: {type(exc).__name__}: {exc}"
            break
        fit = time.perf_counter() - t0
        ll = logloss(data["y_test"], model.predict_proba(data["X_test"])[:, 1])
        runs.append({"seed": seed, "test_logloss": ll, "fit_seconds": fit,
                     "epochs": len(model.history_), "best_epoch": model.best_epoch_,
                     "best_validation_logloss": model.best_validation_loss_,
                     "validation_curve": [h["validation_loss"] for h in model.history_]})
        print(f"  rapidfm-es seed {seed}: test log-loss {ll:.4f} (best epoch "
              f"{model.best_epoch_} of {len(model.history_)}, hold-out log-loss "
              f"{model.best_validation_loss_:.4f}), fit {fit:.2f} s", flush=True)
    if len(runs) == args.seeds:
        s = med([r["test_logloss"] for r in runs])
        out["runs"].append(ok("rapidfm-es", test_logloss=s, runs=runs,
                              target_met=bool(s["median"] <= FRAPPE_TARGET)))
    else:
        out["runs"].append(skipped("rapidfm-es", why))
        print(f"  rapidfm-es {why}", flush=True)

    # rapidfm, the test file as eval_set (what libffm's -p prints), never stopping
    model, why = ffm_estimator(**ffm_params(ff, args.max_epochs, 1, 0,
                                            n_iter_no_change=args.max_epochs + 1))
    if model is not None:
        try:
            t0 = time.perf_counter()
            model.fit(data["X_train"], data["y_train"],
                      eval_set=(data["X_test"], data["y_test"]))
            fit = time.perf_counter() - t0
            curve = [float(h["validation_loss"]) for h in model.history_]
            best = int(np.argmin(curve))
            out["runs"].append(ok("rapidfm-test", best_logloss=curve[best],
                                  best_epoch=best + 1, last_logloss=curve[-1],
                                  test_curve=curve, fit_seconds=fit,
                                  epoch_seconds=[h["seconds"] for h in model.history_]))
            print(f"  rapidfm-test: best test log-loss {curve[best]:.4f} at epoch {best + 1},"
                  f" last {curve[-1]:.4f} ({len(curve)} epochs, fit {fit:.2f} s)", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported as a failed contender
            why = f"failed: {type(exc).__name__}: {exc}"
            model = None
    if model is None:
        out["runs"].append(skipped("rapidfm-test", why))
        print(f"  rapidfm-test {why}", flush=True)

    # libffm on the same split
    folder, why = libffm_dir()
    if folder is not None:
        work = Path(workdir) / "libffm-frappe"
        work.mkdir(parents=True, exist_ok=True)
        train, test = work / "frappe.validation.ffm", work / "frappe.test.ffm"
        write_frappe_ffm(data["lines"]["train"], train)
        write_frappe_ffm(data["lines"]["test"], test)
        res = run_ffm_train(folder, train, test, args.max_epochs, 1, work)
        if "error" in res:
            folder, why = None, res["error"]
        else:
            curve = [r["va_logloss"] for r in res["rows"]]
            best = int(np.argmin(curve))
            extra = {}
            printed, p = run_ffm_predict(folder, test, work)
            if printed is not None:
                # pred.txt holds 6 significant digits: a P(y=1) near 0 or 1 is rounded
                extra = {"ffm_predict_printed_logloss": printed,
                         "ffm_predict_file_logloss": logloss(data["y_test"], p)}
            out["runs"].append(ok("libffm", best_logloss=curve[best], best_epoch=best + 1,
                                  last_logloss=curve[-1], test_curve=curve,
                                  wall_seconds=res["wall"], command=res["command"],
                                  tr_time=[r["tr_time"] for r in res["rows"]], **extra))
            check = (f"; ffm-predict of the last model: {printed:.5f}"
                     if printed is not None else "")
            print(f"  libffm: best va_logloss {curve[best]:.5f} at iteration {best + 1}, last "
                  f"{curve[-1]:.5f}{check} (wall {res['wall']:.1f} s)", flush=True)
    if folder is None:
        out["runs"].append(skipped("libffm", why))
        print(f"  libffm {why}", flush=True)

    # xLearn on the same split (its FFM: bias and linear terms, normalised rows)
    exe, why = xlearn_exe()
    if exe is not None:
        work = Path(workdir) / "xlearn-frappe"
        work.mkdir(parents=True, exist_ok=True)
        train, test = work / "frappe.validation.ffm", work / "frappe.test.ffm"
        write_frappe_ffm(data["lines"]["train"], train)
        write_frappe_ffm(data["lines"]["test"], test)
        res = run_xlearn(exe, train, test, args.max_epochs, 1, work)
        if "error" in res:
            exe, why = None, res["error"]
        else:
            curve = [r[2] for r in res["rows"]]  # epoch, train loss, test loss, seconds
            best = int(np.argmin(curve))
            out["runs"].append(ok("xlearn", best_logloss=curve[best], best_epoch=best + 1,
                                  last_logloss=curve[-1], test_curve=curve,
                                  wall_seconds=res["wall"], command=res["command"]))
            print(f"  xlearn: best test log-loss {curve[best]:.5f} at epoch {best + 1}, last "
                  f"{curve[-1]:.5f} (wall {res['wall']:.1f} s)", flush=True)
    if exe is None:
        out["runs"].append(skipped("xlearn", why))
        print(f"  xlearn {why}", flush=True)
    report["accuracy"] = out


# -- report ---------------------------------------------------------------------------------
def fmt_med(m, digits=3):
    if m["min"] == m["max"]:
        return f"{m['median']:.{digits}f}"
    return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}..{m['max']:.{digits}f})"


def markdown(report):
    m = report["machine"]
    lines = ["## bench_ffm", "",
             f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
             f"rapidfm {m['rapidfm']}, libffm {m.get('libffm') or 'not run'}; "
             f"{report['date']}; load average (1 min) {m['load_average_start'][0]:.2f} at the "
             f"start, {m.get('load_average_end', [float('nan')])[0]:.2f} at the end.", ""]
    s = report.get("speed")
    if s:
        lines += [f"### Speed: {s['note']}; k={K}", "",
                  f"rapidfm: {s['epochs']} epochs per fit, the first not timed; libffm: "
                  f"-t {s['libffm_iters']}, its tr_time of the iterations after the first "
                  f"(in brackets: wall of -t {s['libffm_iters']} minus wall of -t 1, per "
                  f"extra iteration); {s['repeats']} rounds. Median (min..max).", "",
                  "| contender | threads | s/epoch | ns/row | vs libffm, same threads | "
                  "test log-loss |", "|---|---:|---:|---:|---:|---:|"]
        lib = {r["threads"]: r["seconds_per_epoch"]["median"] for r in s["runs"]
               if r["status"] == "ok" and r["contender"] == "libffm"}
        for r in s["runs"]:
            if r["status"] != "ok":
                lines.append(f"| {r['contender']} | {r['threads']} | - | - | - | "
                             f"{r['reason']} |")
                continue
            vs = ""
            if r["contender"] == "rapidfm" and r["threads"] in lib:
                vs = f"x{r['seconds_per_epoch']['median'] / lib[r['threads']]:.3f}"
            mode = f" [{', '.join(r['parallel_mode'])}]" if r.get("parallel_mode") else ""
            tr = (f" [wall {fmt_med(r['wall_diff_seconds_per_iter'])}]"
                  if "wall_diff_seconds_per_iter" in r else "")
            ll = fmt_med(r["test_logloss"], 4) if r.get("test_logloss") else "-"
            lines.append(f"| {r['contender']} | {r['threads']}{mode} | "
                         f"{fmt_med(r['seconds_per_epoch'], 4)}{tr} | {r['ns_per_row']:.0f} | "
                         f"{vs} | {ll} |")
        lines += [""] + [f"- {line}" for line in speed_summary(s)] + [
            f"- Bayes log-loss of the planted test labels: {s['bayes_logloss']:.4f}", ""]
    a = report.get("accuracy")
    if a:
        if "skipped" in a:
            lines += [f"### Accuracy: skipped ({a['skipped']})", ""]
        else:
            lines += [f"### Accuracy: {a['note']}; k={K}, at most {a['max_epochs']} epochs", "",
                      "| contender | selection | test log-loss | epochs | target |",
                      "|---|---|---:|---|---|"]
            for r in a["runs"]:
                name = r["contender"]
                if r["status"] != "ok":
                    lines.append(f"| {name} | - | - | - | {r['reason']} |")
                elif name == "rapidfm-es":
                    eps = ", ".join(f"{x['best_epoch']}/{x['epochs']}" for x in r["runs"])
                    lines.append(f"| {name} | early stopping on {a['validation_fraction']:g} "
                                 f"of the training rows, {len(r['runs'])} seeds | "
                                 f"{fmt_med(r['test_logloss'], 4)} | best/run: {eps} | "
                                 f"{a['target']}: {'met' if r['target_met'] else 'NOT met'} |")
                else:
                    what = {"rapidfm-test": "eval_set = test file",
                            "xlearn": "-v test file"}.get(name, "-p test file")
                    lines.append(f"| {name} | best on the test file ({what}) | "
                                 f"{r['best_logloss']:.4f} | {r['best_epoch']} | |")
                    lines.append(f"| {name} | last epoch | {r['last_logloss']:.4f} | "
                                 f"{len(r['test_curve'])} | |")
            lines += ["", f"libffm's best in the reference run "
                      f"(shared/reference/libffm-af3ae37): {LIBFFM_FRAPPE_CITED}.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {PARTS}")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="training rows of the planted speed set (default 1,000,000)")
    parser.add_argument("--fields", type=int, default=10, help="fields of the planted set")
    parser.add_argument("--values", type=int, default=10_000, help="values per field")
    parser.add_argument("--zipf", type=float, default=1.3, help="Zipf exponent of the values")
    parser.add_argument("--seed", type=int, default=0, help="seed of the planted set")
    parser.add_argument("--epochs", type=int, default=3,
                        help="rapidfm epochs per speed fit, the first not timed (default 3)")
    parser.add_argument("--libffm-iters", type=int, default=5,
                        help="ffm-train -t of the speed runs, the first not timed (default 5:"
                             " tr_time is printed to 0.1 s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the speed runs (default 3)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--max-epochs", type=int, default=30,
                        help="epochs of the Frappe runs (at most, with early stopping)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of the Frappe training rows held out for early stopping")
    parser.add_argument("--n-iter-no-change", type=int, default=5,
                        help="early stopping patience in epochs (rapidfm's default 5)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="random_state 0..N-1 of the early-stopped Frappe runs")
    parser.add_argument("--workdir", help="folder for the libffm files (kept; the planted "
                        "text file is reused when present); default a temporary folder")
    parser.add_argument("--out", default=str(RESULTS / "ffm.json"),
                        help="JSON path; .md goes beside it")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    try:
        args.threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    except ValueError:
        parser.error(f"--threads must be a comma list of integers, got {args.threads!r}")
    if not args.threads or min(args.threads) < 1:
        parser.error("--threads needs thread counts >= 1")
    for name in ("rows", "fields", "values", "epochs", "repeats", "max_epochs", "seeds",
                 "n_iter_no_change"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.libffm_iters < 2:
        parser.error("--libffm-iters must be >= 2 (the first iteration is not timed)")
    if not 0 < args.validation_fraction < 1:
        parser.error("--validation-fraction must be in (0, 1)")

    started = time.time()
    folder, _ = libffm_dir()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                          "python": platform.python_version(), "numpy": np.__version__,
                          "rapidfm": rapidfm.__version__,
                          "libffm": (f"{folder} ({libffm_commit(folder) or 'no git'})"
                                     if folder else None),
                          "load_average_start": list(os.getloadavg())},
              "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    print(f"# {report['machine']['cpu']}, {report['machine']['cores']} cores; libffm: "
          f"{report['machine']['libffm'] or 'LIBFFM_DIR not set'}", flush=True)
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        workdir_ctx = None
        workdir = args.workdir
    else:
        workdir_ctx = tempfile.TemporaryDirectory(prefix="bench_ffm-")
        workdir = workdir_ctx.name
    try:
        if "speed" in args.parts:
            part_speed(args, workdir, report)
        if "accuracy" in args.parts:
            part_accuracy(args, workdir, report)
    finally:
        if workdir_ctx is not None:
            workdir_ctx.cleanup()
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
    sys.exit(main())
