"""Peak memory of fit() on a memory-mapped cache of several GB, against the cache size.

    python bench/bench_out_of_core.py                    # a 4 GiB cache, one epoch
    python bench/bench_out_of_core.py --gib 8 --memory-limit-gib 2

1. Writes a cache (rapidfm.cache.CacheWriter, one block of rows at a time, so the
   writer itself never holds the data) of --gib GiB: one-hot rows of --fields fields,
   field values with Zipf(1.1) frequencies, targets from a random linear model plus
   noise. Kept in --folder (default: a temporary folder, removed at the end).
2. Drops the cache's pages from the page cache (posix_fadvise DONTNEED), then trains
   FMRegressor(block_rows=...) on open_cache() in a fresh process, sampling that
   process's /proc/self/status every 20 ms: RssAnon is the memory the process owns
   (model, per-thread buffers, Python), RssFile the cache pages mapped at that moment
   (page cache: the kernel drops them under memory pressure, they are not the
   process's). With --memory-limit-gib the training process runs in a memory cgroup
   of that size (cgroup v1 or v2, when this machine lets us create one), smaller than
   the cache: the run then proves that a data set larger than the memory trains.

Writes bench/results/out_of_core.json and prints a markdown table.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
GIB = 1 << 30


def write_cache(path, gib, fields, cardinality, block, seed):
    from rapidfm.cache import CacheWriter

    bytes_per_row = fields * (4 + 4) + 8 + 8  # indices, values, indptr, y
    n_rows = int(gib * GIB / bytes_per_row)
    n_features = fields * cardinality
    rng = np.random.default_rng(seed)
    effect = rng.normal(0.0, 1.0, n_features)
    offsets = np.arange(fields, dtype=np.int64) * cardinality
    start = time.perf_counter()
    with CacheWriter(path, n_features) as writer:
        for b in range(0, n_rows, block):
            rows = min(block, n_rows - b)
            # Zipf-like ranks by inverse transform: rank = card^u - 1 is log-uniform
            u = rng.random((rows, fields))
            ranks = np.minimum((cardinality ** u).astype(np.int64) - 1, cardinality - 1)
            indices = (ranks + offsets).astype(np.int32)
            y = effect[indices].sum(axis=1) + rng.normal(0.0, 0.5, rows)
            indptr = np.arange(rows + 1, dtype=np.int64) * fields
            writer.append_arrays(indptr, indices.ravel(), np.ones(rows * fields, np.float32), y)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in Path(path).iterdir())
    return {"rows": n_rows, "features": n_features, "nnz": n_rows * fields,
            "cache_bytes": size, "write_seconds": seconds}


def drop_page_cache(path):
    for f in Path(path).iterdir():
        with open(f, "rb") as fh:
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def status_kib():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0])
    return out


def train(args):
    """The child process: open the cache, fit, report peak memory as JSON on stdout."""
    from rapidfm import FMRegressor
    from rapidfm.cache import open_cache

    peaks = {"RssAnon": 0, "RssFile": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            s = status_kib()
            for key in peaks:
                peaks[key] = max(peaks[key], s.get(key, 0))
            time.sleep(0.02)

    before = status_kib()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    X, y = open_cache(args.train)
    start = time.perf_counter()
    model = FMRegressor(solver="sgd", n_factors=args.factors, n_epochs=args.epochs,
                        learning_rate=0.01,
                        reg_linear=0.01, reg_factors=0.01, n_jobs=args.threads,
                        block_rows=args.block_rows, random_state=0).fit(X, y)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    after = status_kib()
    model_bytes = model.w_.nbytes + model.V_.nbytes
    print(json.dumps({
        "fit_seconds": seconds,
        "epoch_seconds": [h["seconds"] for h in model.history_],
        "ns_per_nonzero": [h["ns_per_nonzero"] for h in model.history_],
        "train_loss": model.history_[-1]["train_loss"],
        "model_bytes": model_bytes,
        "rss_before_fit_kib": before.get("VmRSS", 0),
        "peak_rss_anon_kib": peaks["RssAnon"],
        "peak_rss_file_kib": peaks["RssFile"],
        "peak_rss_kib": after.get("VmHWM", 0),
    }))


def make_cgroup(limit_bytes):
    """A memory cgroup with that limit: (path, procs file) or (None, reason)."""
    name = f"rapidfm-bench-{os.getpid()}"
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    try:
        if v2.exists():
            own = Path("/proc/self/cgroup").read_text().splitlines()[0].split("::", 1)[-1]
            group = Path("/sys/fs/cgroup") / own.lstrip("/") / name
            group.mkdir()
            (group / "memory.max").write_text(str(limit_bytes))
            (group / "memory.swap.max").write_text("0")
            return group, group / "cgroup.procs"
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, own = line.split(":", 2)
            if "memory" in controllers.split(","):
                group = Path("/sys/fs/cgroup/memory") / own.lstrip("/") / name
                group.mkdir()
                (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
                return group, group / "cgroup.procs"
        return None, "no memory cgroup controller"
    except OSError as exc:
        return None, f"cannot create a memory cgroup ({exc})"


def run_training(cache, args, cgroup_procs=None):
    cmd = [sys.executable, __file__, "--train", str(cache), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--block-rows", str(args.block_rows),
           "--factors", str(args.factors)]
    if cgroup_procs is None:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)
    # join the cgroup first, then exec: the whole training runs under the limit
    wrapper = ("import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())); "
               "os.execv(sys.argv[2], sys.argv[2:])")
    out = subprocess.run([sys.executable, "-c", wrapper, str(cgroup_procs)] + cmd,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"failed": out.returncode, "stderr": out.stderr[-2000:]}
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0, help="cache size in GiB (default 4)")
    parser.add_argument("--fields", type=int, default=8)
    parser.add_argument("--cardinality", type=int, default=125_000,
                        help="values per field (default 125000: 1M features)")
    parser.add_argument("--factors", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--block-rows", type=int, default=1_000_000)
    parser.add_argument("--memory-limit-gib", type=float, default=None,
                        help="also train in a memory cgroup of this size")
    parser.add_argument("--folder", default=None, help="where to write the cache (kept)")
    parser.add_argument("--train", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        return train(args)

    tmp = None
    if args.folder:
        root = Path(args.folder)
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="rapidfm-ooc-"))
        tmp = root
    cache = root / "bench.cache"
    results = {"argv": sys.argv[1:]}
    try:
        if not cache.exists():
            print(f"writing a {args.gib:g} GiB cache in {cache} ...", flush=True)
            results["cache"] = write_cache(cache, args.gib, args.fields, args.cardinality,
                                           1_000_000, 0)
        else:
            header = json.loads((cache / "header.json").read_text())
            results["cache"] = {"rows": header["n_rows"], "features": header["n_features"],
                                "nnz": header["nnz"],
                                "cache_bytes": sum(f.stat().st_size for f in cache.iterdir())}
        print(json.dumps(results["cache"]), flush=True)
        drop_page_cache(cache)
        results["unlimited"] = run_training(cache, args)
        if args.memory_limit_gib:
            group, procs = make_cgroup(int(args.memory_limit_gib * GIB))
            if group is None:
                results["limited"] = {"skipped": procs}
            else:
                try:
                    drop_page_cache(cache)
                    results["limited"] = run_training(cache, args, procs)
                    results["limited"]["limit_bytes"] = int(args.memory_limit_gib * GIB)
                finally:
                    try:
                        group.rmdir()
                    except OSError:
                        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "out_of_core.json").write_text(json.dumps(results, indent=1) + "\n")
    c = results["cache"]
    print(f"\ncache: {c['rows']:,} rows, {c['features']:,} features, {c['nnz']:,} nonzeros, "
          f"{c['cache_bytes'] / GIB:.2f} GiB on disk")
    print("\n| run | fit s | ns/nnz | model MiB | peak RssAnon MiB | peak RssFile MiB "
          "| peak RSS MiB | peak RSS / cache |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("unlimited", "limited"):
        r = results.get(name)
        if r is None:
            continue
        if "fit_seconds" not in r:
            print(f"| {name} | {r} |")
            continue
        label = name if name == "unlimited" else \
            f"memory cgroup {r['limit_bytes'] / GIB:g} GiB"
        print(f"| {label} | {r['fit_seconds']:.1f} | {np.median(r['ns_per_nonzero']):.1f} | "
              f"{r['model_bytes'] / 2**20:.0f} | {r['peak_rss_anon_kib'] / 1024:.0f} | "
              f"{r['peak_rss_file_kib'] / 1024:.0f} | {r['peak_rss_kib'] / 1024:.0f} | "
              f"{r['peak_rss_kib'] * 1024 / c['cache_bytes']:.2f} |")


if __name__ == "__main__":
    main()
