"""Speed of one SGD epoch and of batch prediction: rapidfm vs a plain C loop.

Data: rapidfm.datasets.make_planted_fm, one-hot fields with power-law value
frequencies (click-log like), k=8, float32. Three model widths:
  small : 4 fields x 1,000 values      (4,000 features: hot rows shared by every core)
  mid   : 4 fields x 17,500 values     (70,000 features: the set of the project's speed targets)
  wide  : 4 fields x 300,000 values    (1.2M features: memory-latency bound)
Each figure is the median (min..max) over --epochs timed epochs after one warm-up
epoch. The plain C loop (bench/plain_sgd.c, the textbook per-sample update) runs
on the same arrays in the same process tree, in storage order and shuffled, so
ratios come from one run on one machine state.

    python bench/bench_core.py              # full run (about 30 s on 2 cores)
    python bench/bench_core.py --rows 200000 --epochs 3   # quick look
Writes bench/results/core.json and prints a markdown table.
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

import rapidfm
from rapidfm import _core
from rapidfm.datasets import make_planted_fm

HERE = Path(__file__).resolve().parent
SETS = {"small": 1_000, "mid": 17_500, "wide": 300_000}


def stats(values):
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def fmt(s):
    return f"{s['median']:.2f} ({s['min']:.2f}..{s['max']:.2f})"


def time_rapidfm(X, y, threads, epochs, parallel="auto"):
    model = rapidfm.FMRegressor(
        solver="sgd", n_factors=8, n_epochs=epochs + 1, learning_rate=0.01,
        reg_linear=0.0, reg_factors=0.0, n_jobs=threads,
        parallel=parallel, random_state=0,
    ).fit(X, y)
    timed = model.history_[1:]
    out = stats([h["ns_per_nonzero"] for h in timed])
    out["mode"] = timed[-1]["parallel_mode"]
    pred_ns = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.predict(X)
        pred_ns.append(1e9 * (time.perf_counter() - t0) / X.nnz)
    out["predict"] = stats(pred_ns)
    return out


def plain_c(X, y, epochs, workdir):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return None
    exe = Path(workdir) / "plain_sgd"
    flags = ["-O3", "-std=c99"]
    if subprocess.run([cc, "-march=native", "-x", "c", "-", "-o", os.devnull],
                      input=b"int main(void){return 0;}", capture_output=True).returncode == 0:
        flags.append("-march=native")
    subprocess.run([cc, *flags, str(HERE / "plain_sgd.c"), "-o", str(exe)], check=True)
    X.indptr.astype(np.int32).tofile(Path(workdir) / "indptr.bin")
    X.indices.astype(np.int32).tofile(Path(workdir) / "indices.bin")
    y.astype(np.float64).tofile(Path(workdir) / "y.bin")
    np.random.default_rng(0).permutation(X.shape[0]).astype(np.int64).tofile(
        Path(workdir) / "perm.bin")
    out = {}
    for label, shuffled in (("storage_order", 0), ("shuffled", 1)):
        res = subprocess.run([str(exe), str(workdir), str(epochs + 1), str(shuffled)],
                             check=True, capture_output=True, text=True)
        ns = [float(line.split()[1]) for line in res.stdout.splitlines()][1:]
        out[label] = stats(ns)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per point")
    parser.add_argument("--sets", default="small,mid,wide")
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts (default: 1 and all cores)")
    parser.add_argument("--out", default=str(HERE / "results" / "core.json"))
    args = parser.parse_args(argv)

    cores = _core.max_threads()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": cores,
                    "python": sys.version.split()[0], "openmp": rapidfm.openmp_enabled()},
        "rows": args.rows, "epochs": args.epochs, "sets": {},
    }
    print(f"# rapidfm {rapidfm.__version__}: SGD epoch, k=8, float32, {args.rows:,} rows x 4 "
          f"one-hot fields (Zipf 1.1), {cores} cores, OpenMP {rapidfm.openmp_enabled()}")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.sets.split(","):
            data = make_planted_fm(n_samples=args.rows, n_fields=4, field_cardinality=SETS[name],
                                   n_factors=4, zipf_exponent=1.1, random_state=0)
            X, y = data.X, data.y
            entry = {"n_features": X.shape[1], "nnz": X.nnz, "rapidfm": {}}
            for t in threads:
                entry["rapidfm"][str(t)] = time_rapidfm(X, y, t, args.epochs)
                if t > 1:
                    for mode in ("hogwild", "replicas"):
                        entry["rapidfm"][f"{t}-{mode}"] = time_rapidfm(X, y, t, args.epochs, mode)
            entry["plain_c"] = plain_c(X, y, args.epochs, workdir)
            report["sets"][name] = entry
            print(f"done {name}", file=sys.stderr)

    print()
    print("| model | features | rapidfm 1 thread | " + " | ".join(
        f"rapidfm {t} threads (auto)" for t in threads if t > 1)
        + " | plain C, storage order | plain C, shuffled | 1-thread speedup vs plain C |")
    print("|---|---:|---:|" + "---:|" * (len([t for t in threads if t > 1]) + 3))
    for name, entry in report["sets"].items():
        one = entry["rapidfm"]["1"]["median"]
        cells = [fmt(entry["rapidfm"]["1"])]
        for t in threads:
            if t > 1:
                r = entry["rapidfm"][str(t)]
                cells.append(f"{fmt(r)} [{r['mode']}, x{one / r['median']:.2f}]")
        pc = entry["plain_c"]
        if pc:
            cells += [fmt(pc["storage_order"]), fmt(pc["shuffled"]),
                      f"x{pc['storage_order']['median'] / one:.2f} / "
                      f"x{pc['shuffled']['median'] / one:.2f}"]
        else:
            cells += ["skipped (no cc)"] * 3
        print(f"| {name} | {entry['n_features']:,} | " + " | ".join(cells) + " |")
    print("\nns per nonzero, median (min..max). Multi-thread cells: [mode, speedup vs 1 thread].")
    print("Forced modes at more threads:")
    for name, entry in report["sets"].items():
        forced = {k: v for k, v in entry["rapidfm"].items() if "-" in k}
        print(f"  {name}: " + ", ".join(f"{k} {v['median']:.2f}" for k, v in forced.items()))
    print("Batch predict ns/nnz: " + ", ".join(
        f"{name} " + "/".join(f"{entry['rapidfm'][str(t)]['predict']['median']:.2f}"
                              for t in threads)
        for name, entry in report["sets"].items()) + f" (threads {threads})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
