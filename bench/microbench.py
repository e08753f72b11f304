"""Kernel throughput of rapidfm: one SGD epoch and batch prediction over a grid.

Measures ns per nonzero and rows per second of `rapidfm._core.sgd_epoch` and
`rapidfm._core.predict` over a grid of model width k, nonzeros per row, number
of features, threads (1..all cores) and dtype. Each point is the median (min..max)
of --repeats timed calls after --warmup untimed ones.

What is timed: the two C-kernel calls only. The data are built once per point as
validated CSR arrays, so the timings exclude what the estimators do around the
kernel in Python (input validation and conversion by `as_csr`, the all-ones scan
of `values_or_none`, the finiteness check after fit, history bookkeeping). One
point is ALSO run through FMRegressor.fit/predict as a cross-check: its
history_ (which times the same kernel call) and the wall time of fit() and
predict() including validation.

Data: one-hot rows, one field per nonzero (n_fields = nonzeros per row, each of
n_features / n_fields values), field values with Zipf(--zipf) frequencies, made
by `rapidfm.datasets.make_planted_fm`. Every stored value is 1, so the kernel
runs its one-hot path (no value loads). Model parameters are random (N(0, 0.01)
pattern): speed does not depend on them. Points whose model (plus per-thread
copies and the data) would exceed --memory-budget-gib are skipped and listed.

Roofline context (unless --no-roofline): memory bandwidth from numpy (copy and
sum of a 512 MiB array, one thread) and random-access cost from bench/memlat.c
(pointer chasing through a random cyclic permutation of 64-byte lines, compiled
here with `cc -O2`; skipped without a compiler), turned into a floor in ns per
nonzero for the largest-model points, next to the measured values.

    python bench/microbench.py                  # --grid quick: about 3 minutes on 2 cores
    python bench/microbench.py --grid full      # every point (about 15 minutes on 2 cores)
    python bench/microbench.py --k 8 --features 100000 --nnz-per-row 10   # one slice

Writes bench/results/microbench.json and .md, and PNG plots when matplotlib is
installed (bench/results/microbench_threads.png, microbench_k.png).
"""

import argparse
import gc
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import rapidfm
from rapidfm import _core
from rapidfm.datasets import make_planted_fm

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LINE = 64  # bytes per cache line

GRIDS = {
    "quick": {
        "k": [8, 32, 128],
        "nnz_per_row": [2, 10, 40],
        "features": [1_000, 100_000, 10_000_000],
        "dtypes": ["float32", "float64"],
        "threads": "ends",  # 1 and all cores
        "nnz_total": 2_000_000,
    },
    "full": {
        "k": [4, 8, 16, 32, 64, 128],
        "nnz_per_row": [2, 10, 40],
        "features": [1_000, 100_000, 10_000_000],
        "dtypes": ["float32", "float64"],
        "threads": "all",  # 1, 2, ..., all cores
        "nnz_total": 4_000_000,
    },
}


# -- helpers ---------------------------------------------------------------------------
def stats(values):
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def fmt(s, digits=2):
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}..{s['max']:.{digits}f})"


def int_list(text):
    return [int(float(x)) for x in text.split(",") if x.strip()]


def make_data(n_rows, nnz_per_row, n_features, zipf, seed):
    """CSR arrays (indptr, indices int32) and targets of power-law one-hot rows."""
    cards = [n_features // nnz_per_row] * nnz_per_row
    cards[-1] += n_features - sum(cards)
    data = make_planted_fm(n_samples=n_rows, n_fields=nnz_per_row, field_cardinality=cards,
                           n_factors=1, zipf_exponent=zipf, random_state=seed)
    X = data.X
    # the kernel takes int64 row pointers and int32 (or, past 2^31 columns, int64) indices
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(X.indices,
                                   dtype=np.int64 if X.shape[1] >= 2**31 else np.int32)
    return indptr, indices, np.ascontiguousarray(data.y, dtype=np.float64)


def random_model(n_features, k, dtype, seed):
    """w = 0 and V filled with a repeated N(0, 0.01) block: cheap for 10^7 x 128."""
    w = np.zeros(n_features, dtype=dtype)
    V = np.empty((n_features, k), dtype=dtype)
    flat = V.reshape(-1)
    block = (0.01 * np.random.default_rng(seed).standard_normal(min(flat.size, 1 << 20)))
    block = block.astype(dtype)
    for start in range(0, flat.size, block.size):
        stop = min(start + block.size, flat.size)
        flat[start:stop] = block[: stop - start]
    return w, V


def model_bytes(n_features, k, itemsize):
    return n_features * (k + 1) * itemsize


def memory_needed(n_features, k, itemsize, threads, nnz, n_rows):
    """Model + the copies the kernel may make + data (bytes, an upper estimate)."""
    mb = model_bytes(n_features, k, itemsize)
    copies = 0
    if threads > 1:
        # auto mode: whole-model replicas up to 8 MiB per copy, else copies of at
        # most 2048 hot features per thread (hybrid, up to 64 MiB; hogwild above
        # copies nothing); plus per-feature counters
        copies = threads * (mb if mb <= (8 << 20) else 2048 * (k + 1) * itemsize)
        copies += threads * n_features * 4
    data = nnz * 4 + (n_rows + 1) * 8 + n_rows * 8 * 2  # indices, indptr, y, predictions
    return mb + copies + data


def time_point(w, V, indptr, indices, y, threads, repeats, warmup, lr, mode_wanted="auto",
               predict=True):
    """Median/min/max ns per nonzero and rows/s of sgd_epoch and predict."""
    nnz = int(indptr[-1])
    n_rows = indptr.size - 1
    w0 = 0.0
    ep, pr = [], []
    mode = None
    for r in range(warmup + repeats):
        t0 = time.perf_counter()
        w0, st = _core.sgd_epoch(
            w0, w, V, indptr, indices, None, y, None, loss="squared", learning_rate=lr,
            reg_bias=0.0, reg_linear=0.0, reg_factors=0.0, clip_min=-np.inf, clip_max=np.inf,
            n_threads=threads, parallel_mode=mode_wanted, seed=1000 + r)
        dt = time.perf_counter() - t0
        mode = st["parallel_mode"]
        if r >= warmup:
            ep.append(dt)
    for r in range(warmup + repeats if predict else 0):
        t0 = time.perf_counter()
        _core.predict(w0, w, V, indptr, indices, None, threads)
        dt = time.perf_counter() - t0
        if r >= warmup:
            pr.append(dt)

    def summary(seconds):
        s = np.asarray(seconds)
        return {"ns_per_nnz": stats(1e9 * s / nnz), "rows_per_s": stats(n_rows / s),
                "seconds": stats(s)}

    out = {"epoch": summary(ep), "predict": summary(pr) if pr else None}
    out["epoch"]["mode"] = mode
    return out


# -- the estimator cross-check ----------------------------------------------------------
def estimator_check(n_features, nnz_per_row, k, nnz_total, threads_list, repeats, warmup,
                    lr, zipf, seed):
    n_rows = max(nnz_total // nnz_per_row, 1)
    cards = [n_features // nnz_per_row] * nnz_per_row
    cards[-1] += n_features - sum(cards)
    data = make_planted_fm(n_samples=n_rows, n_fields=nnz_per_row, field_cardinality=cards,
                           n_factors=1, zipf_exponent=zipf, random_state=seed)
    X, y = data.X, data.y
    indptr, indices = X.indptr.astype(np.int64), X.indices.astype(np.int32)
    out = {"n_features": n_features, "nnz_per_row": nnz_per_row, "k": k, "dtype": "float32",
           "n_rows": n_rows, "nnz": int(X.nnz), "threads": {}}
    for t in threads_list:
        w, V = random_model(n_features, k, np.float32, seed)
        direct = time_point(w, V, indptr, indices, np.asarray(y, np.float64), t, repeats,
                            warmup, lr)
        model = rapidfm.FMRegressor(n_factors=k, n_epochs=warmup + repeats, learning_rate=lr,
                                    n_jobs=t, random_state=seed, dtype=np.float32)
        t0 = time.perf_counter()
        model.fit(X, y)
        fit_wall = time.perf_counter() - t0
        hist = [h["ns_per_nonzero"] for h in model.history_[warmup:]]
        pred = []
        for r in range(warmup + repeats):
            t0 = time.perf_counter()
            model.predict(X)
            if r >= warmup:
                pred.append(1e9 * (time.perf_counter() - t0) / X.nnz)
        out["threads"][str(t)] = {
            "direct_epoch_ns": direct["epoch"]["ns_per_nnz"],
            "direct_predict_ns": direct["predict"]["ns_per_nnz"],
            "estimator_history_ns": stats(hist),
            "estimator_fit_wall_ns_per_epoch": 1e9 * fit_wall / (X.nnz * (warmup + repeats)),
            "estimator_predict_wall_ns": stats(pred),
            "mode": model.history_[-1]["parallel_mode"],
        }
        del w, V, model
        gc.collect()
    return out


# -- roofline ----------------------------------------------------------------------------
def l3_bytes():
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "level").read_text().strip() == "3":
                size = (index / "size").read_text().strip()
                mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
                return int(size.rstrip("KMG")) * mult
        except OSError:
            continue
    return None


def measure_bandwidth(mib=512, repeats=5):
    """Best-of-repeats GB/s of a numpy copy (bytes read + written) and sum (bytes read)."""
    a = np.ones((mib << 20) // 8)
    b = np.empty_like(a)
    out = {}
    for name, fn, factor in (("copy", lambda: np.copyto(b, a), 2), ("sum", a.sum, 1)):
        fn()
        best = min(_timed(fn) for _ in range(repeats))
        out[name] = factor * a.nbytes / best / 1e9
    return out


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_memlat(workdir, mib, steps=4_000_000, chains=(1, 2, 4, 8, 16, 32)):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return {"skipped": "no C compiler (cc) found"}
    exe = Path(workdir) / "memlat"
    res = subprocess.run([cc, "-O2", "-std=c99", str(HERE / "memlat.c"), "-o", str(exe)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return {"skipped": f"memlat.c did not compile: {res.stderr.strip()[:200]}"}
    out = {"mib": mib, "hugepages": True, "chains": {}}
    res = subprocess.run([str(exe), str(mib), "1", str(steps), *map(str, chains)],
                         capture_output=True, text=True, check=True)
    for line in res.stdout.splitlines():
        parts = line.split()
        out["chains"][int(parts[1])] = float(parts[3])
    res = subprocess.run([str(exe), str(mib), "0", str(steps // 2), "1"],
                         capture_output=True, text=True, check=True)
    out["latency_4k_pages_ns"] = float(res.stdout.split()[3])
    out["latency_ns"] = out["chains"][1]
    out["best_ns_per_access"] = min(out["chains"].values())
    out["mlp_measured"] = out["latency_ns"] / out["best_ns_per_access"]
    return out


def zipf_miss_fraction(n_features, nnz_per_row, zipf, k, itemsize, cache_bytes):
    """Share of nonzeros whose feature is outside the hottest cache-full of features.

    Assumes an ideal frequency-ordered cache of cache_bytes holding, per feature,
    its V row's lines plus one line for w_j (hot w_j are scattered, one per line).
    """
    fields = nnz_per_row
    card = n_features // fields
    per_feature = (math.ceil(k * itemsize / LINE) + 1) * LINE
    top = min(card, int(cache_bytes // per_feature // fields))
    p = (np.arange(card) + 1.0) ** -float(zipf)
    return float(1.0 - p[:top].sum() / p.sum())


def floors(k, itemsize, t_random, bandwidth_gbs, miss=1.0, row_lines=0.0):
    """ns per nonzero: max(latency term, bandwidth term) for an epoch and a predict.

    miss: share of nonzeros whose V_j and w_j miss the cache; row_lines: random
    misses per nonzero on the row's own arrays (epoch only: rows in random order).
    """
    lines = math.ceil(k * itemsize / LINE) + 1  # V_j (k values) + the line of w_j
    out = {}
    for op, rw in (("epoch", 2), ("predict", 1)):  # SGD dirties the lines: written back
        extra = row_lines if op == "epoch" else 0.0
        latency = (2 * miss + extra) * t_random  # V_j's first line and w_j's line
        bw = (miss * lines + extra) * LINE * rw / bandwidth_gbs  # bytes / (GB/s) = ns
        out[op] = {"latency": latency, "bandwidth": bw, "floor": max(latency, bw)}
    return out


# -- main ------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", choices=sorted(GRIDS), default="quick",
                        help="quick (default): k 8,32,128; nnz/row 2,10,40; features 1e3,1e5,"
                             "1e7; float32+float64; 1 and all threads; 2M nonzeros per data set. "
                             "full: k 4..128, every thread count, 4M nonzeros")
    parser.add_argument("--k", type=int_list, help="override the grid's k list (comma list)")
    parser.add_argument("--nnz-per-row", type=int_list, help="override nonzeros per row")
    parser.add_argument("--features", type=int_list, help="override n_features (1e7 accepted)")
    parser.add_argument("--threads", type=int_list, help="override thread counts")
    parser.add_argument("--dtypes", help="override dtypes (float32,float64)")
    parser.add_argument("--nnz-total", type=int, help="nonzeros per data set (rows = this / "
                        "nnz per row); default from the grid")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per point")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    parser.add_argument("--zipf", type=float, default=1.1, help="field-value frequency exponent")
    parser.add_argument("--lr", type=float, default=0.001, help="SGD step (speed does not "
                        "depend on it; small keeps random models finite)")
    parser.add_argument("--memory-budget-gib", type=float, default=4.0,
                        help="skip points needing more (default 4)")
    parser.add_argument("--check-point", default="100000,10,32",
                        help="n_features,nnz_per_row,k of the estimator cross-check "
                             "(float32, the fewest and most threads timed); 'none' to skip")
    parser.add_argument("--no-roofline", action="store_true", help="skip bandwidth/latency")
    parser.add_argument("--memlat-mib", type=int, default=512,
                        help="buffer of the latency test (default 512 MiB)")
    parser.add_argument("--mlp", type=float, default=None,
                        help="memory-level parallelism to assume (default: measured by "
                             "memlat with up to 32 chains)")
    parser.add_argument("--uniform-check", default="8,32",
                        help="k values of extra largest-model points with uniform feature "
                             "frequencies (every access a likely miss), float32; 'none' to skip")
    parser.add_argument("--modes", default="auto,hogwild",
                        help="parallel modes timed at more than 1 thread: auto (always) plus "
                             "any of hogwild,replicas,hybrid forced (epoch only, extra "
                             "columns); default auto,hogwild")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "microbench.json"),
                        help="JSON path; the .md and .png files go beside it")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)

    grid = dict(GRIDS[args.grid])
    cores = _core.max_threads()
    ks = args.k or grid["k"]
    nnzs = args.nnz_per_row or grid["nnz_per_row"]
    feats = args.features or grid["features"]
    dtypes = args.dtypes.split(",") if args.dtypes else grid["dtypes"]
    if args.threads:
        threads = args.threads
    elif grid["threads"] == "all":
        threads = list(range(1, cores + 1))
    else:
        threads = sorted({1, cores})
    nnz_total = args.nnz_total or grid["nnz_total"]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = set(modes) - set(_core.PARALLEL_MODES)
    if bad:
        parser.error(f"unknown modes {sorted(bad)}; choose from {sorted(_core.PARALLEL_MODES)}")
    budget = int(args.memory_budget_gib * (1 << 30))
    started = time.time()

    report = {
        "machine": machine_info(cores),
        "settings": {"grid": args.grid, "k": ks, "nnz_per_row": nnzs, "features": feats,
                     "dtypes": dtypes, "threads": threads, "nnz_total": nnz_total,
                     "repeats": args.repeats, "warmup": args.warmup, "zipf": args.zipf,
                     "memory_budget_gib": args.memory_budget_gib, "lr": args.lr},
        "points": [], "skipped": [], "forced": [],
    }
    print(f"# rapidfm {rapidfm.__version__} microbench, grid {args.grid}: k {ks}, nnz/row "
          f"{nnzs}, features {feats}, {dtypes}, threads {threads}, {nnz_total:,} nonzeros "
          f"per data set, Zipf {args.zipf}, median of {args.repeats} after {args.warmup} "
          f"warm-up", flush=True)

    for nf in feats:
        for nnz_row in nnzs:
            n_rows = max(nnz_total // nnz_row, 1)
            data = None
            for dtype in dtypes:
                itemsize = np.dtype(dtype).itemsize
                for k in ks:
                    need = memory_needed(nf, k, itemsize, max(threads), n_rows * nnz_row, n_rows)
                    key = {"n_features": nf, "nnz_per_row": nnz_row, "k": k, "dtype": dtype}
                    if need > budget:
                        reason = (f"needs ~{need / 2**30:.1f} GiB > budget "
                                  f"{args.memory_budget_gib:g} GiB (model "
                                  f"{model_bytes(nf, k, itemsize) / 2**30:.1f} GiB)")
                        report["skipped"].append({**key, "reason": reason})
                        print(f"skip nf={nf:,} nnz/row={nnz_row} k={k} {dtype}: {reason}",
                              flush=True)
                        continue
                    if data is None:
                        data = make_data(n_rows, nnz_row, nf, args.zipf, args.seed)
                    indptr, indices, y = data
                    w, V = random_model(nf, k, dtype, args.seed)
                    for t in threads:
                        res = time_point(w, V, indptr, indices, y, t, args.repeats,
                                         args.warmup, args.lr)
                        report["points"].append({**key, "threads": t, "n_rows": n_rows,
                                                 "nnz": int(indptr[-1]),
                                                 "model_bytes": model_bytes(nf, k, itemsize),
                                                 **res})
                        print(f"nf={nf:>10,} nnz/row={nnz_row:>2} k={k:>3} {dtype} t={t}: "
                              f"epoch {fmt(res['epoch']['ns_per_nnz'])} ns/nnz "
                              f"[{res['epoch']['mode']}], predict "
                              f"{fmt(res['predict']['ns_per_nnz'])}", flush=True)
                        for mode in (m for m in modes if m != "auto" and t > 1):
                            res = time_point(w, V, indptr, indices, y, t, args.repeats,
                                             args.warmup, args.lr, mode, predict=False)
                            report["forced"].append({**key, "threads": t, "mode": mode,
                                                     "epoch": res["epoch"]})
                            print(f"{'':>43} forced {mode}: epoch "
                                  f"{fmt(res['epoch']['ns_per_nnz'])} ns/nnz", flush=True)
                    del w, V
                    gc.collect()
            del data
            gc.collect()

    # largest model with uniform frequencies: where the every-access-misses floor applies
    uniform_ks = [] if args.uniform_check == "none" else int_list(args.uniform_check)
    report["uniform"] = []
    if uniform_ks and not args.no_roofline:
        nf = max(feats)
        nnz_row = 10 if 10 in nnzs else nnzs[len(nnzs) // 2]
        n_rows = max(nnz_total // nnz_row, 1)
        data = None
        for k in uniform_ks:
            need = memory_needed(nf, k, 4, max(threads), n_rows * nnz_row, n_rows)
            if need > budget:
                report["skipped"].append({"n_features": nf, "nnz_per_row": nnz_row, "k": k,
                                          "dtype": "float32", "zipf": 0.0,
                                          "reason": f"needs ~{need / 2**30:.1f} GiB"})
                continue
            if data is None:
                data = make_data(n_rows, nnz_row, nf, 0.0, args.seed)
            w, V = random_model(nf, k, np.float32, args.seed)
            for t in sorted({1, max(threads)}):
                res = time_point(w, V, *data, t, args.repeats, args.warmup, args.lr)
                report["uniform"].append({"n_features": nf, "nnz_per_row": nnz_row, "k": k,
                                          "dtype": "float32", "zipf": 0.0, "threads": t,
                                          "n_rows": n_rows, **res})
                print(f"uniform nf={nf:,} nnz/row={nnz_row} k={k} float32 t={t}: epoch "
                      f"{fmt(res['epoch']['ns_per_nnz'])} ns/nnz, predict "
                      f"{fmt(res['predict']['ns_per_nnz'])}", flush=True)
            del w, V
            gc.collect()
        del data
        gc.collect()

    if args.check_point != "none":
        nf, nnz_row, k = int_list(args.check_point)
        report["estimator_check"] = estimator_check(
            nf, nnz_row, k, nnz_total, sorted({min(threads), max(threads)}), args.repeats,
            args.warmup, args.lr, args.zipf, args.seed)

    if not args.no_roofline:
        with tempfile.TemporaryDirectory() as workdir:
            report["roofline"] = roofline(report, args, workdir)

    report["seconds"] = time.time() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print()
    print(md)
    if not args.no_plots:
        for line in plots(report, out):
            print(line)
    print(f"wrote {out} and {out.with_suffix('.md')} ({report['seconds']:.0f} s)")


def machine_info(cores):
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": cores, "l3_bytes": l3_bytes(),
            "python": sys.version.split()[0], "numpy": np.__version__,
            "rapidfm": rapidfm.__version__, "openmp": rapidfm.openmp_enabled()}


def roofline(report, args, workdir):
    bw = measure_bandwidth()
    lat = measure_memlat(workdir, args.memlat_mib)
    out = {"bandwidth_gbs": bw, "memlat": lat, "floors": None}
    bandwidth = max(bw.values())
    if args.mlp is not None and "latency_ns" in lat:
        t_random, mlp, source = lat["latency_ns"] / args.mlp, args.mlp, "assumed (--mlp)"
    elif "best_ns_per_access" in lat:
        t_random, mlp, source = lat["best_ns_per_access"], lat["mlp_measured"], "measured"
    else:
        return out
    cache = report["machine"]["l3_bytes"] or (32 << 20)
    out.update({"bandwidth_used_gbs": bandwidth, "t_random_ns": t_random, "mlp": mlp,
                "mlp_source": source, "cache_bytes": cache, "row_lines_per_row": 3})
    pts = report["points"]
    if not pts:
        return out
    big, small = max(p["n_features"] for p in pts), min(p["n_features"] for p in pts)

    def in_cache(p):
        """The same k, nnz/row, dtype on the smallest model: the cost without misses."""
        for q in pts:
            if (q["n_features"] == small and q["threads"] == 1 and q["k"] == p["k"]
                    and q["nnz_per_row"] == p["nnz_per_row"] and q["dtype"] == p["dtype"]):
                return {"epoch": q["epoch"]["ns_per_nnz"]["median"],
                        "predict": q["predict"]["ns_per_nnz"]["median"]}
        return None

    rows = []
    for p in [q for q in pts if q["n_features"] == big] + report.get("uniform", []):
        if p["threads"] != 1 or big == small:
            continue
        itemsize = np.dtype(p["dtype"]).itemsize
        zipf = p.get("zipf", args.zipf)
        miss = zipf_miss_fraction(p["n_features"], p["nnz_per_row"], zipf, p["k"], itemsize,
                                  cache)
        # indptr[row], the row's indices and y[row]: 3 random lines per row (epoch only)
        row_lines = out["row_lines_per_row"] / p["nnz_per_row"]
        rows.append({
            "n_features": p["n_features"], "nnz_per_row": p["nnz_per_row"], "k": p["k"],
            "dtype": p["dtype"], "zipf": zipf, "threads": 1, "miss_fraction": miss,
            "floor_all_miss": floors(p["k"], itemsize, t_random, bandwidth),
            "floor_zipf": floors(p["k"], itemsize, t_random, bandwidth, miss),
            "estimate_zipf_rows": floors(p["k"], itemsize, t_random, bandwidth, miss,
                                         row_lines),
            "in_cache": in_cache(p),
            "measured_epoch": p["epoch"]["ns_per_nnz"]["median"],
            "measured_predict": p["predict"]["ns_per_nnz"]["median"],
        })
    out["floors"] = rows
    return out


def markdown(report):
    s = report["settings"]
    m = report["machine"]
    lines = [f"## microbench ({s['grid']} grid)", "",
             f"{m['cpu']}, {m['cores']} cores, L3 {(m['l3_bytes'] or 0) >> 20} MiB, Python "
             f"{m['python']}, numpy {m['numpy']}, rapidfm {m['rapidfm']}. One-hot rows "
             f"(one field per nonzero, Zipf {s['zipf']}), {s['nnz_total']:,} nonzeros per data "
             f"set; median (min..max) of {s['repeats']} calls after {s['warmup']} warm-up. "
             "ns per nonzero of `_core.sgd_epoch` (epoch) and `_core.predict` (predict); "
             "[mode] is the parallel mode auto chose; xN the speedup over 1 thread; "
             "'epoch Nt hogwild' forces that mode.", ""]
    threads = s["threads"]
    for dtype in s["dtypes"]:
        pts = [p for p in report["points"] if p["dtype"] == dtype]
        if not pts:
            continue
        lines.append(f"### {dtype}")
        lines.append("")
        forced = sorted({(p["threads"], p["mode"]) for p in report.get("forced", [])
                         if p["dtype"] == dtype})
        head = ["features", "nnz/row", "k"]
        head += [f"epoch {t}t" for t in threads]
        head += [f"epoch {t}t {m}" for t, m in forced]
        head += [f"predict {t}t" for t in threads]
        head += [f"epoch Mrows/s {max(threads)}t"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---:|" * len(head))
        keys = sorted({(p["n_features"], p["nnz_per_row"], p["k"]) for p in pts})
        for key in keys:
            by_t = {p["threads"]: p for p in pts
                    if (p["n_features"], p["nnz_per_row"], p["k"]) == key}
            one = by_t.get(1)
            cells = [f"{key[0]:,}", str(key[1]), str(key[2])]
            for op in ("epoch", "forced", "predict"):
                if op == "forced":
                    for t, m in forced:
                        p = next((q for q in report["forced"] if q["dtype"] == dtype
                                  and (q["n_features"], q["nnz_per_row"], q["k"]) == key
                                  and q["threads"] == t and q["mode"] == m), None)
                        if p is None or one is None:
                            cells.append("-")
                            continue
                        speed = one["epoch"]["ns_per_nnz"]["median"] / \
                            p["epoch"]["ns_per_nnz"]["median"]
                        cells.append(f"{fmt(p['epoch']['ns_per_nnz'])} [x{speed:.2f}]")
                    continue
                for t in threads:
                    p = by_t.get(t)
                    if p is None:
                        cells.append("-")
                        continue
                    c = fmt(p[op]["ns_per_nnz"])
                    if t > 1 and one is not None:
                        speed = one[op]["ns_per_nnz"]["median"] / p[op]["ns_per_nnz"]["median"]
                        mode = f"{p[op]['mode']}, " if op == "epoch" else ""
                        c += f" [{mode}x{speed:.2f}]"
                    cells.append(c)
            top = by_t.get(max(threads))
            cells.append(f"{top['epoch']['rows_per_s']['median'] / 1e6:.2f}" if top else "-")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if report["skipped"]:
        lines.append("Skipped (memory budget "
                     f"{s['memory_budget_gib']:g} GiB): " + "; ".join(
                         f"{p['n_features']:,} features k={p['k']} {p['dtype']} nnz/row "
                         f"{p['nnz_per_row']}" + (" uniform" if "zipf" in p else "")
                         for p in report["skipped"]) + ".")
        lines.append("")
    if report.get("uniform"):
        lines.append("Largest model, uniform feature frequencies (Zipf 0), float32: " + "; ".join(
            f"k={p['k']} {p['threads']}t epoch {fmt(p['epoch']['ns_per_nnz'])}, predict "
            f"{fmt(p['predict']['ns_per_nnz'])}" for p in report["uniform"]) + " ns/nnz.")
        lines.append("")
    chk = report.get("estimator_check")
    if chk:
        lines.append(f"### Cross-check through the estimator ({chk['n_features']:,} features, "
                     f"{chk['nnz_per_row']} nnz/row, k={chk['k']}, float32)")
        lines.append("")
        lines.append("| threads | `_core.sgd_epoch` | FMRegressor history_ | fit() wall / epoch "
                     "| `_core.predict` | FMRegressor.predict() wall |")
        lines.append("|---:|---:|---:|---:|---:|---:|")
        for t, r in chk["threads"].items():
            lines.append(f"| {t} | {fmt(r['direct_epoch_ns'])} | "
                         f"{fmt(r['estimator_history_ns'])} | "
                         f"{r['estimator_fit_wall_ns_per_epoch']:.2f} | "
                         f"{fmt(r['direct_predict_ns'])} | "
                         f"{fmt(r['estimator_predict_wall_ns'])} |")
        lines.append("")
        lines.append("ns per nonzero. fit() wall / epoch includes input validation, model "
                     "initialisation and the finiteness check, spread over the epochs; "
                     "predict() wall includes validation of X.")
        lines.append("")
    roof = report.get("roofline")
    if roof:
        lines += roofline_markdown(roof)
    return "\n".join(lines)


def roofline_markdown(roof):
    bw = roof["bandwidth_gbs"]
    lat = roof["memlat"]
    lines = ["### Roofline context (1 thread)", ""]
    lines.append(f"Bandwidth, one thread (numpy, 512 MiB): copy {bw['copy']:.1f} GB/s (read + "
                 f"write bytes), sum {bw['sum']:.1f} GB/s.")
    if "skipped" in lat:
        lines.append(f"Random-access latency: skipped ({lat['skipped']}).")
        lines.append("")
        return lines
    chains = ", ".join(f"{c}: {v:.1f}" for c, v in lat["chains"].items())
    lines.append(f"Random 64-byte line, {lat['mib']} MiB buffer (bench/memlat.c): latency "
                 f"{lat['latency_ns']:.1f} ns with huge pages ({lat['latency_4k_pages_ns']:.1f} "
                 f"ns with 4 KiB pages); ns per access with C independent chains: {chains}; "
                 f"memory-level parallelism {lat['mlp_measured']:.1f}.")
    if not roof.get("floors"):
        lines.append("")
        return lines
    lines.append("")
    lines.append(
        "Floor per nonzero = max(latency term, bandwidth term). Latency term: two random "
        "line misses per nonzero (the first line of V_j and the line of w_j), each costing "
        f"latency / MLP = {roof['t_random_ns']:.1f} ns (MLP {roof['mlp']:.1f}, "
        f"{roof['mlp_source']}). Bandwidth term: all lines of V_j plus w_j's line at "
        f"{roof['bandwidth_used_gbs']:.1f} GB/s, twice for an epoch (dirty lines are written "
        "back). 'all miss': every nonzero misses; 'Zipf': only the share of nonzeros outside "
        f"the hottest {roof['cache_bytes'] >> 20} MiB of features misses (an ideal "
        "frequency-ordered cache). '+rows': the Zipf floor plus 3 random lines per row "
        "(indptr[i], the row's indices, y[i]) that an epoch's random row order adds; "
        "predict walks rows in storage order. 'in cache': the same k, nnz/row and dtype "
        "measured on the smallest model (the kernel's cost without misses).")
    lines.append("")
    lines.append("| features | zipf | nnz/row | k | dtype | miss share | epoch floor all miss "
                 "/ Zipf / +rows | epoch in cache | epoch measured | predict floor all miss / "
                 "Zipf | predict in cache | predict measured |")
    lines.append("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in roof["floors"]:
        fa, fz, fr = r["floor_all_miss"], r["floor_zipf"], r["estimate_zipf_rows"]
        ic = r["in_cache"] or {"epoch": float("nan"), "predict": float("nan")}
        lines.append(
            f"| {r['n_features']:,} | {r['zipf']:g} | {r['nnz_per_row']} | {r['k']} | "
            f"{r['dtype']} | {r['miss_fraction']:.2f} | {fa['epoch']['floor']:.1f} / "
            f"{fz['epoch']['floor']:.1f} / {fr['epoch']['floor']:.1f} | {ic['epoch']:.1f} | "
            f"**{r['measured_epoch']:.1f}** | {fa['predict']['floor']:.1f} / "
            f"{fz['predict']['floor']:.1f} | {ic['predict']:.1f} | "
            f"**{r['measured_predict']:.1f}** |")
    lines.append("")
    lines.append("ns per nonzero. With T threads each core brings its own fill buffers, so "
                 "the latency terms divide by T until the bandwidth term binds.")
    lines.append("")
    return lines


def plots(report, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots skipped: matplotlib is not installed (pip install matplotlib)"]
    s = report["settings"]
    pts = [p for p in report["points"] if p["dtype"] == s["dtypes"][0]]
    if not pts:
        return []
    written = []
    nnz_row = 10 if 10 in s["nnz_per_row"] else s["nnz_per_row"][len(s["nnz_per_row"]) // 2]
    ks = s["k"]
    k_mid = 32 if 32 in ks else ks[len(ks) // 2]
    feats = sorted({p["n_features"] for p in pts})

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, nf in enumerate(feats):
        sel = sorted((p for p in pts if p["n_features"] == nf and p["k"] == k_mid
                      and p["nnz_per_row"] == nnz_row), key=lambda p: p["threads"])
        if not sel:
            continue
        t = [p["threads"] for p in sel]
        color = f"C{i}"
        ax.plot(t, [p["epoch"]["rows_per_s"]["median"] / 1e6 for p in sel], "o-", color=color,
                label=f"epoch, {nf:,} features")
        ax.plot(t, [p["predict"]["rows_per_s"]["median"] / 1e6 for p in sel], "s--",
                color=color, label=f"predict, {nf:,} features")
    ax.set_xlabel("threads")
    ax.set_ylabel("million rows / s")
    ax.set_xticks(sorted({p["threads"] for p in pts}))
    ax.set_title(f"rapidfm throughput vs threads (k={k_mid}, {nnz_row} nnz/row, "
                 f"{s['dtypes'][0]})", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out.parent / (out.stem + "_threads.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(f"wrote {path}")

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, nf in enumerate(feats):
        sel = sorted((p for p in pts if p["n_features"] == nf and p["threads"] == 1
                      and p["nnz_per_row"] == nnz_row), key=lambda p: p["k"])
        if not sel:
            continue
        kk = [p["k"] for p in sel]
        color = f"C{i}"
        ax.plot(kk, [p["epoch"]["ns_per_nnz"]["median"] for p in sel], "o-", color=color,
                label=f"epoch, {nf:,} features")
        ax.plot(kk, [p["predict"]["ns_per_nnz"]["median"] for p in sel], "s--", color=color,
                label=f"predict, {nf:,} features")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("k (factors)")
    ax.set_ylabel("ns per nonzero (lower is faster)")
    ax.set_title(f"rapidfm cost vs k (1 thread, {nnz_row} nnz/row, {s['dtypes'][0]})",
                 fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = out.parent / (out.stem + "_k.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(f"wrote {path}")
    return written


if __name__ == "__main__":
    main()
