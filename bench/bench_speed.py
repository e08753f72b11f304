"""The speed figures of rapidfm's SGD in one run, each next to its target, on the planted
skewed set: rapidfm.datasets.make_planted_fm(n_samples=--rows (1M), n_fields=4,
field_cardinality=17,800, zipf_exponent=1.3, random_state=0, float32), 4 one-hot fields,
71,200 features, 4 nonzeros a row.

rapidfm trains FMRegressor(n_factors=8, n_jobs=J, random_state=0, parallel=mode) with
libFM's SGD settings of section b (solver="sgd", learning_rate=0.01, reg_bias=0,
reg_linear=0, reg_factors=0.01, init_std=0.1), so that both tools do the same work. The
kernel time of an epoch is history_[e]["seconds"] (ns_per_nonzero likewise); wall times
are time.perf_counter() around the call. Every figure is the median (min..max) over
--repeats repeats where it is repeated, and every ratio takes both sides from this run.

  a. kernel       10-epoch fit, n_jobs=1: kernel ns per nonzero (median of epochs
                  2..10); fit wall per epoch (wall / 10) / kernel epoch (target <= 1.2);
                  1-epoch fit wall / kernel epoch (<= 1.5); partial_fit(X, y), one call
                  on all rows of a fitted model, wall / kernel epoch (<= 1.5). The kernel
                  epoch is the median over repeats of the epochs-2..10 median seconds.
  b. libfm_sgd    $LIBFM_BIN -method sgd -iter 5 on the same rows (train: all rows, test:
                  the first 10%, written by rapidfm.io.dump_svmlight): ns per nonzero =
                  median -rlog time_learn of iterations 2..5 / nnz; libFM / rapidfm
                  kernel (target >= 6). Skipped, with the reason, without LIBFM_BIN.
  c. cli          end to end wall of `python -m rapidfm libfm FLAGS` (-threads 1 and the
                  default, all cores) against `$LIBFM_BIN FLAGS` on MovieLens 100k u1
                  (-iter 150, lr 0.005, -regular 0,0.1,0.1, -seed 1) and on the planted
                  files (section b's flags, -iter 10), each with -out: rapidfm / libFM
                  (target <= 0.5). libFM's side is skipped without LIBFM_BIN, u1
                  without $RAPIDFM_DATA/ml-100k/u1.base and u1.test.
  d. threads      3-epoch fits at J = os.cpu_count() threads for parallel = hogwild,
                  replicas, hybrid and auto: kernel ns per nonzero of epochs 2..3 and
                  each epoch's n_threads and parallel_mode, beside the 1-thread kernel of
                  a. Then 6-epoch fits n_jobs=1 against n_jobs=-1 (auto), fit wall, with
                  the cores free and with one core kept busy by another process (a
                  Python `while True: pass`); target: n_jobs=-1 never slower than 1.
  e. predict      single-row predict: m.predict(X[i:i + 1]) (1-row CSR) of a model fitted
                  on the first 10,000 rows, and m.predict(row) of a (1, 5000) float32
                  row of a model fitted on scipy.sparse.random(2000, 5000, density=0.002)
                  ; median microseconds of >= 2,000 calls after a warm-up (target <= 3).
                  Batch predict, n_jobs=1, of 200,000 rows (--rows at most) of one value
                  in each of 10 fields, ns per nonzero, on a model of 10,000 features (in
                  cache) and on one of 2,000,000 (72 MiB of w and V).
  f. memory       in a fresh process: planted data of 2 x --rows rows, VmHWM of
                  /proc/self/status before and after a 1-epoch fit, n_jobs=1 (after a
                  warm-up fit on 1,000 rows; the peak is first reset to the current RSS
                  through /proc/self/clear_refs where the kernel allows): the fit's peak
                  above it as a multiple of the data's bytes (X.data, X.indices,
                  X.indptr, y); MemAvailable beside it.
  g. instructions with valgrind and cc: bench/epoch_harness.c compiled with -mavx2 -mfma
                  (valgrind cannot decode AVX-512) and run under callgrind (200,000 rows,
                  17,800 values per field, 1 thread, 2 epochs, blocks of 1,024 rows): Ir of
                  the lines of fastfm_core/src per nonzero, steady on a noisy machine.

Writes --out (bench/results/speed.json) and beside it speed.md (the machine's
description first, one table per section, target and met / not met beside each figure)
and speed.png (ns per nonzero of each run, single-row predict in microseconds; skipped
with a note without matplotlib), each through a temporary file renamed into place, and
prints the markdown. --publish also copies them into bench/figures/speed/.

    python bench/bench_speed.py                    # a few minutes on 2 cores
    LIBFM_BIN=/path/to/libFM python bench/bench_speed.py --publish
    python bench/bench_speed.py --quick            # a smoke run of a few seconds

--quick: 20,000 rows, one repeat, u1 at -iter 5, planted CLI runs at -iter 2, memory on
rows / 5, no callgrind (the harness alone takes minutes to compile).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import data_dir, med  # noqa: E402
from contenders.libfm import parse_rlog  # noqa: E402
from machine import describe, describe_text, meminfo_kib  # noqa: E402

import rapidfm  # noqa: E402
import rapidfm.datasets  # noqa: E402
from rapidfm.io import dump_svmlight  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results" / "speed.json"
PUBLISHED = HERE / "figures" / "speed"

PLANTED = dict(n_fields=4, field_cardinality=17_800, zipf_exponent=1.3, random_state=0,
               dtype=np.float32)
# libFM's SGD flags of sections b and c, and the same training for FMRegressor
LIBFM_SGD_FLAGS = ["-task", "r", "-dim", "1,1,8", "-method", "sgd", "-learn_rate", "0.01",
                   "-regular", "0,0,0.01", "-init_stdev", "0.1"]
SGD = dict(n_factors=8, random_state=0, solver="sgd", learning_rate=0.01, reg_bias=0.0,
           reg_linear=0.0, reg_factors=0.01, init_std=0.1)
U1_FLAGS = ["-task", "r", "-dim", "1,1,8", "-method", "sgd", "-learn_rate", "0.005",
            "-regular", "0,0.1,0.1", "-init_stdev", "0.1", "-seed", "1"]
U1_USERS = 943
THREAD_MODES = ("hogwild", "replicas", "hybrid", "auto")
PREDICT_TRAIN_ROWS = 10_000
PREDICT_CALLS = 2_000
PREDICT_WARMUP = 200
# batch predict, 1 thread: rows of one value in each of 10 fields, on a model that stays
# in cache and on one of 2M features (72 MiB of float32 w and V: far larger than cache)
BATCH_ROWS = 200_000
BATCH_FIELDS = 10
BATCH_FEATURES = (10_000, 2_000_000)
HARNESS_ARGS = (200_000, 17_800, 1, 0, 2, 1024)  # rows, values/field, threads, auto, epochs
SUBPROCESS_TIMEOUT = 1800

MEMORY_PROBE = r"""
import gc, json, sys
import numpy as np
import rapidfm, rapidfm.datasets

def status_kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

rows, planted, sgd = json.loads(sys.argv[1])
planted["dtype"] = np.float32
data = rapidfm.datasets.make_planted_fm(n_samples=rows, **planted)
X, y = data.X, data.y
# a warm-up fit on a few rows: imports, the OpenMP team and allocator pools are not the fit's
rapidfm.FMRegressor(n_epochs=1, n_jobs=1, **sgd).fit(X[:1000], y[:1000])
gc.collect()
hwm_after_data = status_kib("VmHWM")
rss_before_fit = status_kib("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    hwm_reset = status_kib("VmHWM") <= hwm_after_data
except OSError:
    hwm_reset = False
hwm_before_fit = status_kib("VmHWM")
rapidfm.FMRegressor(n_epochs=1, n_jobs=1, **sgd).fit(X, y)
print(json.dumps({
    "rows": rows, "nnz": int(X.nnz),
    "data_bytes": int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes + y.nbytes),
    "vmhwm_after_data_kib": hwm_after_data, "vmrss_before_fit_kib": rss_before_fit,
    "vmhwm_reset": hwm_reset, "vmhwm_before_fit_kib": hwm_before_fit,
    "vmhwm_after_fit_kib": status_kib("VmHWM")}))
"""


# -- figures and targets -------------------------------------------------------------------
def target(figure, summary, op, bound):
    """{"figure", "value", "target", "met"}: the median of summary against `op bound`."""
    value = summary["median"]
    met = value <= bound if op == "<=" else value >= bound
    return {"figure": figure, "value": value, "target": f"{op} {bound:g}", "met": bool(met)}


def skipped(reason):
    return {"status": "skipped", "reason": reason}


def failed(reason):
    return {"status": "failed", "reason": reason}


def model(n_epochs, n_jobs, parallel="auto"):
    return rapidfm.FMRegressor(n_epochs=n_epochs, n_jobs=n_jobs, parallel=parallel, **SGD)


def timed_fit(X, y, n_epochs, n_jobs, parallel="auto"):
    """(fitted model, fit wall seconds)."""
    m = model(n_epochs, n_jobs, parallel)
    t0 = time.perf_counter()
    m.fit(X, y)
    return m, time.perf_counter() - t0


def after_first(history, key):
    """Median of history_[key] over the epochs after the first."""
    return float(np.median([h[key] for h in history[1:]]))


def epoch_modes(history):
    return [{"n_threads": h["n_threads"], "parallel_mode": h["parallel_mode"]} for h in history]


def libfm_bin():
    """(path of LIBFM_BIN, None) or (None, why libFM is skipped)."""
    exe = os.environ.get("LIBFM_BIN")
    if not exe:
        return None, "LIBFM_BIN is not set (the path of the libFM 1.4 binary)"
    path = shutil.which(exe) or exe
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        return None, f"LIBFM_BIN={exe} is not an executable file"
    return path, None


def run_timed(cmd, cwd):
    """(wall seconds, None) of a command, or (None, why it failed)."""
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                             timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {SUBPROCESS_TIMEOUT} s: {' '.join(cmd)}"
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return None, f"exit {res.returncode}: {' '.join(cmd)}: {res.stderr.strip()[-300:]}"
    return wall, None


# -- a. kernel -----------------------------------------------------------------------------
def bench_kernel(X, y, repeats):
    """10-epoch fits, 1-epoch fits and a partial_fit on one thread (section a)."""
    model(1, 1).fit(X, y)  # warm-up: the first fit of the process pays page faults
    kernel_ns, kernel_s, fit_per_epoch = [], [], []
    for _ in range(repeats):
        m, wall = timed_fit(X, y, 10, 1)
        kernel_ns.append(after_first(m.history_, "ns_per_nonzero"))
        kernel_s.append(after_first(m.history_, "seconds"))
        fit_per_epoch.append(wall / 10)
    one_epoch, partial = [], []
    for _ in range(repeats):
        m, wall = timed_fit(X, y, 1, 1)
        one_epoch.append(wall)
        t0 = time.perf_counter()
        m.partial_fit(X, y)
        partial.append(time.perf_counter() - t0)
    kernel_epoch = float(np.median(kernel_s))
    ratios = {name: med([w / kernel_epoch for w in walls]) for name, walls in
              (("fit_per_epoch", fit_per_epoch), ("fit_1_epoch", one_epoch),
               ("partial_fit", partial))}
    return {
        "status": "ok",
        "description": "FMRegressor n_jobs=1 on all rows: kernel time of epochs 2..10 of a "
                       "10-epoch fit (history_), and wall times (perf_counter) of that fit "
                       "/ 10, of a 1-epoch fit and of one partial_fit(X, y) on the 1-epoch "
                       "model, each over the kernel epoch (median over repeats)",
        "nnz": int(X.nnz),
        "kernel_ns_per_nonzero": med(kernel_ns),
        "kernel_epoch_seconds": med(kernel_s),
        "fit_wall_per_epoch_seconds": med(fit_per_epoch),
        "fit_wall_per_epoch_ns_per_nonzero": med([w * 1e9 / X.nnz for w in fit_per_epoch]),
        "fit_1_epoch_wall_seconds": med(one_epoch),
        "partial_fit_wall_seconds": med(partial),
        "ratios_to_kernel_epoch": ratios,
        "targets": [
            target("10-epoch fit wall per epoch / kernel epoch", ratios["fit_per_epoch"],
                   "<=", 1.2),
            target("1-epoch fit wall / kernel epoch", ratios["fit_1_epoch"], "<=", 1.5),
            target("partial_fit wall / kernel epoch", ratios["partial_fit"], "<=", 1.5),
        ],
    }


# -- b. libFM SGD ---------------------------------------------------------------------------
def planted_files(X, y, folder):
    """train.libfm (all rows) and test.libfm (the first 10%) in folder, written once."""
    train, test = folder / "train.libfm", folder / "test.libfm"
    if not train.exists():
        dump_svmlight(X, y, train, zero_based=True)
        n_test = max(1, X.shape[0] // 10)
        dump_svmlight(X[:n_test], y[:n_test], test, zero_based=True)
    return train, test


def bench_libfm_sgd(X, y, kernel, repeats, folder):
    """libFM -method sgd -iter 5 on the planted rows: time_learn per iteration (section b)."""
    exe, why = libfm_bin()
    if exe is None:
        return skipped(why)
    train, test = planted_files(X, y, folder)
    rlog = folder / "libfm_sgd_rlog.txt"
    cmd = [exe, *LIBFM_SGD_FLAGS, "-train", str(train), "-test", str(test), "-iter", "5",
           "-rlog", str(rlog)]
    ns = []
    for _ in range(repeats):
        rlog.unlink(missing_ok=True)
        wall, why = run_timed(cmd, folder)
        if wall is None:
            return failed(why)
        times = parse_rlog(rlog, "time_learn")
        if len(times) != 5:
            return failed(f"{rlog.name}: {len(times)} time_learn values, expected 5")
        ns.append(float(np.median(times[1:])) * 1e9 / X.nnz)
    kernel_ns = kernel["kernel_ns_per_nonzero"]["median"]
    ratio = med([v / kernel_ns for v in ns])
    return {
        "status": "ok",
        "description": "libFM -method sgd -iter 5 on all planted rows (test: the first 10%): "
                       "median -rlog time_learn (libFM's user CPU seconds of an iteration) "
                       "of iterations 2..5 / nnz, against rapidfm's 1-thread kernel (a)",
        "command": " ".join(cmd),
        "ns_per_nonzero": med(ns),
        "ratio_libfm_to_rapidfm_kernel": ratio,
        "targets": [target("libFM SGD / rapidfm kernel (ns per nonzero)", ratio, ">=", 6)],
    }


# -- c. CLI end to end ----------------------------------------------------------------------
def u1_files(folder):
    """MovieLens u1.base / u1.test as libFM files (RATING user-1:1 943+item-1:1), or None."""
    source = data_dir() / "ml-100k"
    if not ((source / "u1.base").is_file() and (source / "u1.test").is_file()):
        return None
    paths = []
    for split in ("base", "test"):
        path = folder / f"u1.{split}.libfm"
        ratings = np.loadtxt(source / f"u1.{split}", dtype=np.int64, ndmin=2)
        path.write_text("".join(f"{r} {u - 1}:1 {U1_USERS + i - 1}:1\n"
                                for u, i, r in ratings[:, :3]))
        paths.append(path)
    return tuple(paths)


def bench_cli(X, y, settings, repeats, folder):
    """`rapidfm libfm` against libFM, whole process wall time, u1 and planted (section c)."""
    exe, why_no_libfm = libfm_bin()
    runs, cases = [], []
    u1 = u1_files(folder)
    if u1 is None:
        runs.append({"data": "u1", **skipped(f"no ml-100k/u1.base and u1.test in "
                                             f"{data_dir()} (RAPIDFM_DATA)")})
    else:
        cases.append(("u1", U1_FLAGS + ["-iter", str(settings["u1_iter"])], u1))
    cases.append(("planted", LIBFM_SGD_FLAGS + ["-iter", str(settings["planted_cli_iter"])],
                  planted_files(X, y, folder)))
    for name, flags, (train, test) in cases:
        tools = {"rapidfm -threads 1": [sys.executable, "-m", "rapidfm", "libfm", "-threads",
                                        "1"],
                 "rapidfm (all threads)": [sys.executable, "-m", "rapidfm", "libfm"]}
        if exe:
            tools["libFM"] = [exe]
        walls = {tool: [] for tool in tools}
        error = None
        for _ in range(repeats):  # the tools in turn, so that a slow spell hits all
            for tool, prefix in tools.items():
                stem = re.sub(r"\W+", "_", tool).strip("_")
                cmd = [*prefix, *flags, "-train", str(train), "-test", str(test),
                       "-out", str(folder / f"{name}_{stem}_pred.txt")]
                if name == "planted":
                    cmd += ["-rlog", str(folder / f"{name}_{stem}_rlog.txt")]
                wall, error = run_timed(cmd, folder)
                if wall is None:
                    break
                walls[tool].append(wall)
            if error:
                break
        if error:
            runs.append({"data": name, **failed(error)})
            continue
        run = {"data": name, "status": "ok", "flags": " ".join(flags),
               "wall_seconds": {tool: med(w) for tool, w in walls.items()},
               "targets": []}
        if exe:
            run["ratio_to_libfm"] = {}
            for tool in tools:
                if tool != "libFM":
                    ratio = med([a / b for a, b in zip(walls[tool], walls["libFM"])])
                    run["ratio_to_libfm"][tool] = ratio
                    run["targets"].append(target(f"{name}: {tool} / libFM wall", ratio,
                                                 "<=", 0.5))
        else:
            run["libfm"] = skipped(why_no_libfm)
        runs.append(run)
    return {"status": "ok",
            "description": "wall time (perf_counter) of the whole process of `python -m "
                           "rapidfm libfm FLAGS` at -threads 1 and at its default (all "
                           "cores), and of `$LIBFM_BIN FLAGS`, reading the files, training, "
                           "predicting the test rows into -out; the tools run in turn each "
                           "repeat and each ratio pairs the runs of one repeat",
            "runs": runs,
            "targets": [t for r in runs for t in r.get("targets", [])]}


# -- d. threads -----------------------------------------------------------------------------
def fit_walls(X, y, repeats):
    """{"n_jobs=1", "n_jobs=-1"}: 6-epoch fit walls and each fit's epoch modes, in turn."""
    runs = {"n_jobs=1": ([], []), "n_jobs=-1": ([], [])}
    for _ in range(repeats):
        for label, n_jobs in (("n_jobs=1", 1), ("n_jobs=-1", -1)):
            m, wall = timed_fit(X, y, 6, n_jobs)
            runs[label][0].append(wall)
            runs[label][1].append(epoch_modes(m.history_))
    walls = {label: med(w) for label, (w, _) in runs.items()}
    ratio = med([a / b for a, b in zip(runs["n_jobs=-1"][0], runs["n_jobs=1"][0])])
    return {"fit_wall_seconds": walls,
            "fit_wall_ns_per_nonzero_epoch": {
                label: med([w * 1e9 / (6 * X.nnz) for w in ws]) for label, (ws, _) in
                runs.items()},
            "epochs": {label: modes for label, (_, modes) in runs.items()},
            "ratio_all_to_1": ratio}


def bench_threads(X, y, kernel, repeats):
    """Each parallel mode at all cores, then n_jobs=1 vs -1 with a core free / busy (d)."""
    threads = os.cpu_count()
    kernel_1t = kernel["kernel_ns_per_nonzero"]["median"]
    modes = {}
    for mode in THREAD_MODES:
        ns, epochs = [], []
        for _ in range(repeats):
            m, _ = timed_fit(X, y, 3, threads, mode)
            ns.append(after_first(m.history_, "ns_per_nonzero"))
            epochs.append(epoch_modes(m.history_))
        modes[mode] = {"kernel_ns_per_nonzero": med(ns),
                       "ratio_to_1_thread": med([v / kernel_1t for v in ns]),
                       "epochs": epochs}
    free = fit_walls(X, y, repeats)
    busy_loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start spinning
        busy = fit_walls(X, y, repeats)
    finally:
        busy_loop.kill()
        busy_loop.wait()
    goal = "n_jobs=-1 never slower than n_jobs=1"
    return {
        "status": "ok",
        "description": f"3-epoch fits at {threads} threads in each parallel mode: kernel ns "
                       "per nonzero of epochs 2..3 and every epoch's n_threads and "
                       "parallel_mode (history_), over the 1-thread kernel of section a; "
                       "6-epoch fit walls n_jobs=1 and n_jobs=-1 (parallel auto, its "
                       "probe epochs included), cores free and one core busy",
        "threads": threads,
        "target": goal,
        "kernel_1_thread_ns_per_nonzero": kernel["kernel_ns_per_nonzero"],
        "modes": modes,
        "cores_free": free,
        "one_core_busy": busy,
        "targets": [
            target(f"auto at {threads} threads / 1 thread, kernel ns per nonzero",
                   modes["auto"]["ratio_to_1_thread"], "<=", 1),
            target("cores free: n_jobs=-1 / n_jobs=1, 6-epoch fit wall",
                   free["ratio_all_to_1"], "<=", 1),
            target("one core busy: n_jobs=-1 / n_jobs=1, 6-epoch fit wall",
                   busy["ratio_all_to_1"], "<=", 1),
        ],
    }


# -- e. single-row predict ------------------------------------------------------------------
def call_microseconds(predict, rows, repeats):
    """Median microseconds of predict(row), over rows, per repeat, after a warm-up."""
    for row in rows[:PREDICT_WARMUP]:
        predict(row)
    medians = []
    for _ in range(repeats):
        ns = np.empty(len(rows))
        for i, row in enumerate(rows):
            t0 = time.perf_counter_ns()
            predict(row)
            ns[i] = time.perf_counter_ns() - t0
        medians.append(float(np.median(ns)) / 1e3)
    return med(medians)


def batch_rows(n_features, rows=BATCH_ROWS):
    """rows x BATCH_FIELDS one-hot rows, each field's value uniform over its share of
    n_features columns (sorted, distinct), and planted-free targets."""
    rng = np.random.default_rng(n_features)
    width = n_features // BATCH_FIELDS
    cols = (np.arange(BATCH_FIELDS) * width + rng.integers(0, width, (rows, BATCH_FIELDS)))
    X = sp.csr_matrix((np.ones(cols.size, np.float32), cols.ravel(),
                       np.arange(0, cols.size + 1, BATCH_FIELDS)), shape=(rows, n_features))
    return X, rng.normal(size=rows)


def batch_predict_ns(n_features, repeats, rows):
    """ns per nonzero of FMRegressor.predict(X) of `rows` rows on 1 thread."""
    X, y = batch_rows(n_features, rows)
    m = model(1, 1).fit(X, y)
    m.predict(X)  # warm-up
    walls = []
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        m.predict(X)
        walls.append((time.perf_counter() - t0) * 1e9 / X.nnz)
    return med(walls)


def bench_predict(X, y, repeats):
    """predict of one CSR row and of one dense row, microseconds a call, and batch
    predict on a model in cache and on one far larger (section e)."""
    n_train = min(PREDICT_TRAIN_ROWS, X.shape[0])
    sparse_model = model(5, 1).fit(X[:n_train], y[:n_train])
    sparse_rows = [X[i % n_train:i % n_train + 1] for i in range(PREDICT_CALLS)]
    wide = sp.random(2000, 5000, density=0.002, format="csr", dtype=np.float32,
                     random_state=0)
    wide_y = np.random.default_rng(0).normal(size=wide.shape[0])
    dense_model = model(5, 1).fit(wide, wide_y)
    dense_row = np.ascontiguousarray(wide[:1].toarray(), dtype=np.float32)
    sparse_us = call_microseconds(sparse_model.predict, sparse_rows, repeats)
    dense_us = call_microseconds(dense_model.predict, [dense_row] * PREDICT_CALLS, repeats)
    batch = min(BATCH_ROWS, X.shape[0])
    return {
        "status": "ok",
        "description": f"time.perf_counter_ns around each of {PREDICT_CALLS} calls after "
                       f"{PREDICT_WARMUP} warm-up calls, median per repeat: "
                       f"m.predict(X[i:i+1]) of a model fitted on the first {n_train} "
                       "planted rows (1-row CSR, rows sliced beforehand), and m.predict(row) "
                       "with row a (1, 5000) float32 array of a model fitted on "
                       "scipy.sparse.random(2000, 5000, density=0.002, float32)",
        "calls": PREDICT_CALLS,
        "csr_row_microseconds": sparse_us,
        "dense_row_microseconds": dense_us,
        "batch_description": f"m.predict(X), n_jobs=1, X {batch:,} rows of one value in "
                             f"each of {BATCH_FIELDS} fields (uniform), ns per nonzero "
                             "(median over repeats), by the model's n_features (k=8 float32)",
        "batch_ns_per_nonzero": {f"{n:,} features": batch_predict_ns(n, repeats, batch)
                                 for n in BATCH_FEATURES},
        "targets": [target("1-row CSR predict, us", sparse_us, "<=", 3),
                    target("(1, 5000) dense row predict, us", dense_us, "<=", 3)],
    }


# -- f. memory ------------------------------------------------------------------------------
def bench_memory(rows):
    """The fit's peak memory above the data's, in a fresh process (section f)."""
    planted = {k: v for k, v in PLANTED.items() if k != "dtype"}
    try:
        res = subprocess.run([sys.executable, "-c", MEMORY_PROBE,
                              json.dumps([rows, planted, SGD])],
                             capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        return failed(f"the memory probe timed out after {SUBPROCESS_TIMEOUT} s")
    if res.returncode != 0:
        return failed(f"the memory probe exited {res.returncode}: {res.stderr[-300:]}")
    probe = json.loads(res.stdout.strip().splitlines()[-1])
    extra_kib = probe["vmhwm_after_fit_kib"] - probe["vmhwm_before_fit_kib"]
    return {
        "status": "ok",
        "description": "python -c: make_planted_fm of `rows` rows, a warm-up fit on 1,000 "
                       "of them, VmHWM (/proc/self/status) reset to the current RSS where "
                       "the kernel allows (vmhwm_reset), a 1-epoch fit n_jobs=1 on all "
                       "rows, VmHWM again; (after - before) / the bytes of X.data, "
                       "X.indices, X.indptr and y",
        **probe,
        "fit_peak_extra_kib": extra_kib,
        "fit_peak_as_multiple_of_data": extra_kib * 1024 / probe["data_bytes"],
        "mem_available_kib": meminfo_kib("MemAvailable")["MemAvailable"],
    }


# -- g. instructions ------------------------------------------------------------------------
IR_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+([^:\s]+):(\S+)")


def bench_instructions(quick, folder):
    """Instructions (Ir) of the kernel per nonzero, callgrind on epoch_harness.c (g)."""
    if quick:
        return skipped("--quick: compiling the harness alone takes minutes")
    missing = [tool for tool in ("valgrind", "callgrind_annotate", "cc")
               if not shutil.which(tool)]
    if missing:
        return skipped(f"not on PATH: {', '.join(missing)}")
    harness, out = folder / "h", folder / "cg.out"
    compile_cmd = ["cc", "-O3", "-g", "-mavx2", "-mfma", "-fopenmp", "-std=c99",
                   "-Ifastfm_core/include", "bench/epoch_harness.c",
                   *sorted(str(p.relative_to(REPO)) for p in
                           (REPO / "fastfm_core" / "src").glob("*.c")),
                   "-lm", "-o", str(harness)]
    run_cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(harness),
               *map(str, HARNESS_ARGS)]
    for cmd in (compile_cmd, run_cmd):
        _, why = run_timed(cmd, REPO)
        if why:
            return failed(why)
    res = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", str(out)],
                         capture_output=True, text=True, cwd=REPO)
    if res.returncode != 0:
        return failed(f"callgrind_annotate exited {res.returncode}: {res.stderr[-300:]}")
    total, per_function = 0, {}
    for line in res.stdout.splitlines():
        match = IR_LINE.match(line)
        if match and "fastfm_core/src/" in match.group(2):
            ir = int(match.group(1).replace(",", ""))
            total += ir
            where = f"{match.group(2).split('fastfm_core/src/')[1]}:{match.group(3)}"
            per_function[where] = per_function.get(where, 0) + ir
    rows, _, _, _, epochs, _ = HARNESS_ARGS
    nnz = rows * 4 * epochs
    return {
        "status": "ok",
        "description": "callgrind instruction count (Ir) of the lines of fastfm_core/src in "
                       "epoch_harness.c's run, over rows x 4 fields x epochs nonzeros; "
                       "compiled with AVX2 and FMA, not AVX-512 (valgrind cannot decode it)",
        "compile": " ".join(compile_cmd),
        "run": " ".join(run_cmd),
        "nnz": nnz,
        "kernel_instructions": total,
        "kernel_instructions_per_nonzero": total / nnz,
        "top_lines": dict(sorted(per_function.items(), key=lambda kv: -kv[1])[:8]),
    }


# -- report ---------------------------------------------------------------------------------
def fmt(summary, digits=2):
    text = f"{summary['median']:.{digits}f}"
    if summary["n"] > 1:
        text += f" ({summary['min']:.{digits}f}..{summary['max']:.{digits}f})"
    return text


def verdict(t):
    return "met" if t["met"] else "not met"


def target_row(label, summary, t, digits=2):
    return f"| {label} | {fmt(summary, digits)} | {t['target']} | {verdict(t)} |"


def not_ok(section):
    return f"{section['status']}: {section['reason']}"


def markdown(report, png_name):
    s = report["settings"]
    lines = [f"## bench_speed: rapidfm SGD speed{' (--quick)' if s['quick'] else ''}", "",
             describe_text(report["machine"]), "",
             f"Planted skewed set: {s['rows']:,} rows x 4 one-hot fields "
             f"({4 * PLANTED['field_cardinality']:,} features, Zipf 1.3), k = 8, SGD "
             f"(lr 0.01, reg 0/0/0.01, init 0.1), float32. Figures: median (min..max) over "
             f"{s['repeats']} repeat{'s' if s['repeats'] > 1 else ''}; ratios within this "
             f"run. Run took {report['seconds']:.0f} s.", ""]
    lines += [report["plot"] if report["plot"].startswith("not plotted")
              else f"![ns per nonzero and single-row predict]({png_name})", ""]

    a = report["kernel"]
    r = a["ratios_to_kernel_epoch"]
    lines += ["### a. kernel, 1 thread", "", "| figure | value | target | |", "|---|---|---|---|",
              f"| kernel ns per nonzero (epochs 2..10) | {fmt(a['kernel_ns_per_nonzero'])} "
              "| | |",
              f"| kernel epoch, s | {fmt(a['kernel_epoch_seconds'], 4)} | | |",
              f"| 10-epoch fit wall per epoch, s | {fmt(a['fit_wall_per_epoch_seconds'], 4)} "
              "| | |",
              target_row("fit wall per epoch / kernel epoch", r["fit_per_epoch"],
                         a["targets"][0]),
              target_row("1-epoch fit wall / kernel epoch", r["fit_1_epoch"], a["targets"][1]),
              target_row("partial_fit wall / kernel epoch", r["partial_fit"], a["targets"][2]),
              ""]

    b = report["libfm_sgd"]
    lines += ["### b. libFM SGD", ""]
    if b["status"] == "ok":
        lines += ["| figure | value | target | |", "|---|---|---|---|",
                  f"| libFM ns per nonzero (time_learn, iterations 2..5) | "
                  f"{fmt(b['ns_per_nonzero'])} | | |",
                  target_row("libFM / rapidfm kernel", b["ratio_libfm_to_rapidfm_kernel"],
                             b["targets"][0]), ""]
    else:
        lines += [not_ok(b), ""]

    lines += ["### c. CLI end to end, wall s", "",
              "| data | rapidfm -threads 1 | rapidfm all threads | libFM | rapidfm 1t / libFM "
              "| rapidfm all / libFM | target | |", "|---|---|---|---|---|---|---|---|"]
    for run in report["cli"]["runs"]:
        if run["status"] != "ok":
            lines.append(f"| {run['data']} | {not_ok(run)} | | | | | | |")
            continue
        w = run["wall_seconds"]
        if "ratio_to_libfm" in run:
            ratios = [fmt(run["ratio_to_libfm"][t]) for t in w if t != "libFM"]
            met = ", ".join(verdict(t) for t in run["targets"])
            lines.append(f"| {run['data']} | {fmt(w['rapidfm -threads 1'])} | "
                         f"{fmt(w['rapidfm (all threads)'])} | {fmt(w['libFM'])} | "
                         f"{' | '.join(ratios)} | <= 0.5 | {met} |")
        else:
            lines.append(f"| {run['data']} | {fmt(w['rapidfm -threads 1'])} | "
                         f"{fmt(w['rapidfm (all threads)'])} | skipped | | | "
                         "<= 0.5 | |")
    lines.append("")
    libfm_skips = {r["libfm"]["reason"] for r in report["cli"]["runs"] if "libfm" in r}
    if libfm_skips:
        lines += [f"libFM skipped: {reason}" for reason in sorted(libfm_skips)] + [""]

    d = report["threads"]
    lines += [f"### d. threads (J = {d['threads']}); target: {d['target']}", "",
              "| run | kernel ns per nonzero (epochs 2..3) | / 1 thread | epochs "
              "(threads mode) |", "|---|---|---|---|",
              f"| 1 thread (a) | {fmt(d['kernel_1_thread_ns_per_nonzero'])} | 1 | serial |"]
    for mode, m in d["modes"].items():
        epochs = ", ".join(f"{e['n_threads']} {e['parallel_mode']}" for e in m["epochs"][0])
        lines.append(f"| {mode}, {d['threads']} threads | {fmt(m['kernel_ns_per_nonzero'])} "
                     f"| {fmt(m['ratio_to_1_thread'])} | {epochs} |")
    lines += ["", "| 6-epoch fit | n_jobs=1 wall s | n_jobs=-1 wall s | -1 / 1 | target | | "
              "n_jobs=-1 epochs (threads mode) |", "|---|---|---|---|---|---|---|"]
    for label, key, t in (("cores free", "cores_free", d["targets"][1]),
                          ("one core busy", "one_core_busy", d["targets"][2])):
        c = d[key]
        epochs = ", ".join(f"{e['n_threads']} {e['parallel_mode']}"
                           for e in c["epochs"]["n_jobs=-1"][0])
        lines.append(f"| {label} | {fmt(c['fit_wall_seconds']['n_jobs=1'], 3)} | "
                     f"{fmt(c['fit_wall_seconds']['n_jobs=-1'], 3)} | "
                     f"{fmt(c['ratio_all_to_1'])} | {t['target']} | {verdict(t)} | {epochs} |")
    t = d["targets"][0]
    lines += ["", f"auto at {d['threads']} threads / 1 thread (kernel): "
              f"{fmt(d['modes']['auto']['ratio_to_1_thread'])}, target {t['target']}: "
              f"{verdict(t)}.", ""]

    e = report["predict"]
    lines += ["### e. single-row predict, us a call", "", "| input | median us | target | |",
              "|---|---|---|---|",
              target_row("1-row CSR (planted)", e["csr_row_microseconds"], e["targets"][0]),
              target_row("(1, 5000) float32 dense row", e["dense_row_microseconds"],
                         e["targets"][1]), ""]
    if "batch_ns_per_nonzero" in e:
        lines += [f"Batch predict: {e['batch_description']}.", "",
                  "| model | ns per nonzero |", "|---|---|"]
        lines += [f"| {name} | {fmt(s)} |" for name, s in e["batch_ns_per_nonzero"].items()]
        lines += [""]

    f = report["memory"]
    lines += ["### f. memory of a 1-epoch fit", ""]
    if f["status"] == "ok":
        lines += ["| figure | value |", "|---|---|",
                  f"| rows | {f['rows']:,} |",
                  f"| data bytes (X.data + X.indices + X.indptr + y) | "
                  f"{f['data_bytes'] / 2**20:.1f} MiB |",
                  f"| VmHWM before fit (reset to RSS: {f['vmhwm_reset']}) | "
                  f"{f['vmhwm_before_fit_kib'] / 1024:.1f} MiB |",
                  f"| VmHWM after fit | {f['vmhwm_after_fit_kib'] / 1024:.1f} MiB |",
                  f"| fit peak memory as a multiple of the data | "
                  f"{f['fit_peak_as_multiple_of_data']:.2f} |",
                  f"| MemAvailable | {f['mem_available_kib'] / 2**20:.1f} GiB |", ""]
    else:
        lines += [not_ok(f), ""]

    g = report["instructions"]
    lines += ["### g. kernel instructions (callgrind)", ""]
    if g["status"] == "ok":
        lines += ["| figure | value |", "|---|---|",
                  f"| kernel instructions per nonzero | "
                  f"{g['kernel_instructions_per_nonzero']:.1f} |",
                  f"| kernel instructions (fastfm_core/src) | {g['kernel_instructions']:,} |",
                  f"| nonzeros (200,000 rows x 4 x 2 epochs) | {g['nnz']:,} |", ""]
    else:
        lines += [not_ok(g), ""]
    return "\n".join(lines)


def plot(report, path):
    """ns per nonzero of each run and single-row predict us, written to path; the note
    for the report."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "not plotted: matplotlib is not installed"
    a, d = report["kernel"], report["threads"]
    bars = [("rapidfm kernel, 1 thread", a["kernel_ns_per_nonzero"], "tab:blue"),
            ("rapidfm fit wall / epoch, 1 thread", a["fit_wall_per_epoch_ns_per_nonzero"],
             "tab:blue")]
    if report["libfm_sgd"]["status"] == "ok":
        bars.append(("libFM SGD (time_learn)", report["libfm_sgd"]["ns_per_nonzero"],
                     "tab:orange"))
    bars += [(f"{mode}, {d['threads']} threads (kernel)", m["kernel_ns_per_nonzero"],
              "tab:green") for mode, m in d["modes"].items()]
    for label, key, color in (("cores free", "cores_free", "tab:purple"),
                              ("one core busy", "one_core_busy", "tab:gray")):
        for jobs, summary in d[key]["fit_wall_ns_per_nonzero_epoch"].items():
            bars.append((f"6-epoch fit wall / epoch, {jobs}, {label}", summary, color))
    predict = report["predict"]
    calls = [("1-row CSR", predict["csr_row_microseconds"], "tab:blue"),
             ("(1, 5000) dense row", predict["dense_row_microseconds"], "tab:blue")]

    def draw(ax, items, xlabel):
        names = [name for name, _, _ in items]
        values = np.array([s["median"] for _, s, _ in items])
        spread = np.array([[s["median"] - s["min"], s["max"] - s["median"]]
                           for _, s, _ in items])
        ax.barh(names, values, xerr=spread.T, color=[c for _, _, c in items], capsize=3)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        for y, (v, (_, s, _)) in enumerate(zip(values, items)):
            ax.text(s["max"], y, f"  {v:.2f}", va="center", fontsize=8)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), height_ratios=[len(bars), 3])
    draw(top, bars, "ns per nonzero (median, bars min..max)")
    top.set_title(f"rapidfm SGD on the planted set, {report['settings']['rows']:,} rows x 4 "
                  f"fields, k = 8\n{report['machine']['cpu_model']}, "
                  f"{report['machine']['logical_cpus']} logical CPUs, "
                  f"{report['machine']['date_utc']}", fontsize=10)
    draw(bottom, calls, "single-row predict, microseconds a call")
    bottom.axvline(3, color="tab:red", linestyle="--", label="target 3 us")
    bottom.legend(loc="best", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return f"plotted: {path.name}"


def write_atomic(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def publish(paths):
    """Copies the written files into bench/figures/speed/, each through a temporary file."""
    PUBLISHED.mkdir(parents=True, exist_ok=True)
    for path in paths:
        tmp = PUBLISHED / (path.name + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, PUBLISHED / path.name)
        print(f"published {PUBLISHED / path.name}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the planted set (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of each timed figure (default 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the JSON; the .md and .png go beside it (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run of a few seconds: 20,000 rows, one repeat")
    parser.add_argument("--publish", action="store_true",
                        help=f"also copy the JSON, md and PNG into {PUBLISHED}")
    args = parser.parse_args(argv)
    started = time.time()
    settings = {"quick": args.quick,
                "rows": 20_000 if args.quick else args.rows,
                "repeats": 1 if args.quick else args.repeats,
                "u1_iter": 5 if args.quick else 150,
                "planted_cli_iter": 2 if args.quick else 10,
                "model": {**SGD, "dtype": "float32"}}
    settings["memory_rows"] = settings["rows"] // 5 if args.quick else 2 * settings["rows"]
    report = {"benchmark": "bench_speed", "machine": describe(), "settings": settings}
    rows, repeats = settings["rows"], settings["repeats"]
    data = rapidfm.datasets.make_planted_fm(n_samples=rows, **PLANTED)
    X, y = data.X, data.y
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        folder = Path(tmp)
        steps = [("kernel", lambda: bench_kernel(X, y, repeats)),
                 ("libfm_sgd", lambda: bench_libfm_sgd(X, y, report["kernel"], repeats,
                                                       folder)),
                 ("cli", lambda: bench_cli(X, y, settings, repeats, folder)),
                 ("threads", lambda: bench_threads(X, y, report["kernel"], repeats)),
                 ("predict", lambda: bench_predict(X, y, repeats)),
                 ("memory", lambda: bench_memory(settings["memory_rows"])),
                 ("instructions", lambda: bench_instructions(args.quick, folder))]
        for name, step in steps:
            t0 = time.perf_counter()
            print(f"{name} ...", end=" ", flush=True)
            report[name] = step()
            report[name]["seconds"] = time.perf_counter() - t0
            print(f"{report[name]['status']} ({report[name]['seconds']:.1f} s)", flush=True)
    report["machine"]["load_average_end"] = list(os.getloadavg())
    report["targets"] = [{"section": name, **t} for name, _ in steps
                         for t in report[name].get("targets", [])]
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    png, md = out.with_suffix(".png"), out.with_suffix(".md")
    report["plot"] = plot(report, png)
    report["seconds"] = time.time() - started
    text = markdown(report, png.name)
    write_atomic(out, json.dumps(report, indent=2))
    write_atomic(md, text + "\n")
    print()
    print(text)
    written = [out, md] + ([png] if report["plot"].startswith("plotted") else [])
    print("wrote " + ", ".join(str(path) for path in written))
    if args.publish:
        publish(written)


if __name__ == "__main__":
    main()
