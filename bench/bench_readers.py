"""Reading libsvm text: rapidfm.io.load_svmlight against scikit-learn's load_svmlight_file.

Files:
  a9a           from RAPIDFM_DATA (default ../shared/data beside the repository),
                n_features=123; skipped when absent
  generated     --lines lines (default 1,000,000), one-based, 10 items a line: 4 real
                values (up to 6 significant digits, some negative) then 6 one-hot fields
                of 10 .. 1,000,000 values whose frequencies follow a power law (Zipf 1.1),
                labels 0 / 1; about 80 MB for 1M lines
  generated.gz  the same text, gzip-compressed (level 6)
The generated files are written once into --data-dir (default bench/results/readers_data,
git-ignored) and reused by later runs with the same --lines.

Readers: scikit-learn, rapidfm with 1 thread, rapidfm with all cores (n_jobs=-1). Each
reads each file once as a warm-up (which also puts the file in the page cache) and the
results of that read are asserted identical across readers (shape, indptr, indices, the
bits of every value, labels); then --repeats timed reads. Figures are median (min..max)
seconds, MB/s of (uncompressed) text, lines/s, and the speed ratio against
scikit-learn's median. The project's target is at least 3x.

    python bench/bench_readers.py                          # about 2 minutes on 2 cores
    python bench/bench_readers.py --lines 200000 --repeats 3   # quick look
Prints a markdown table and writes bench/results/readers.json.
"""

import argparse
import gc
import gzip
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_svmlight_file

import rapidfm
from rapidfm import _core
from rapidfm.io import dump_svmlight, load_svmlight

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
N_REAL = 4
CARDINALITIES = (10, 100, 1_000, 10_000, 100_000, 1_000_000)


def stats(values):
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def fmt(s):
    return f"{s['median']:.3f} ({s['min']:.3f}..{s['max']:.3f})"


def generated_matrix(n_lines, seed=0):
    """The generated data as CSR: columns 0..3 real, then one block per one-hot field."""
    rng = np.random.default_rng(seed)
    offsets = np.cumsum((N_REAL,) + CARDINALITIES[:-1])
    # Zipf draws clipped to the field's size: a few values are very common, most rare,
    # as in click logs; the indices then spread over a wide range (cache misses in X).
    cat = np.stack([offsets[f] + np.minimum(rng.zipf(1.1, n_lines), c) - 1
                    for f, c in enumerate(CARDINALITIES)], axis=1)
    real = np.round(rng.lognormal(0.0, 1.5, (n_lines, N_REAL))
                    * rng.choice([-1.0, 1.0], (n_lines, N_REAL), p=[0.2, 0.8]), 4)
    per_line = N_REAL + len(CARDINALITIES)
    indices = np.concatenate([np.broadcast_to(np.arange(N_REAL), (n_lines, N_REAL)), cat],
                             axis=1).ravel()
    data = np.concatenate([real, np.ones((n_lines, len(CARDINALITIES)))], axis=1).ravel()
    indptr = np.arange(0, per_line * (n_lines + 1), per_line, dtype=np.int64)
    n_features = int(offsets[-1] + CARDINALITIES[-1])
    X = sp.csr_matrix((data, indices, indptr), shape=(n_lines, n_features))
    y = rng.integers(0, 2, n_lines).astype(np.float64)
    return X, y


def generated_files(n_lines, data_dir):
    """(text path, gzip path, n_features), written on the first run only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    text = data_dir / f"generated_{n_lines}.svm"
    packed = data_dir / f"generated_{n_lines}.svm.gz"
    n_features = int(sum((N_REAL,) + CARDINALITIES))
    if not text.exists():
        print(f"writing {text} ...", file=sys.stderr)
        X, y = generated_matrix(n_lines)
        dump_svmlight(X, y, text, zero_based=False)  # one-based, as libsvm files are
    if not packed.exists():
        print(f"writing {packed} ...", file=sys.stderr)
        tmp = packed.with_suffix(".gz.part")  # no half-written file if interrupted
        with open(text, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, packed)
    return text, packed, n_features


def count_lines(path):
    n = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            n += chunk.count(b"\n")
    return n


def assert_identical(a, b, what):
    (Xa, ya), (Xb, yb) = a, b
    assert Xa.shape == Xb.shape, what
    assert np.array_equal(Xa.indptr, Xb.indptr), what
    assert np.array_equal(Xa.indices, Xb.indices), what
    assert Xa.data.dtype == Xb.data.dtype, what
    bits = f"u{Xa.data.dtype.itemsize}"  # bit for bit, not just ==
    assert np.array_equal(Xa.data.view(bits), Xb.data.view(bits)), what
    assert np.array_equal(ya, yb), what


def time_reader(read, repeats):
    """The warm-up's result and the timings of `repeats` further reads."""
    result = read()
    seconds = []
    for _ in range(repeats):
        gc.collect()  # the previous result's memory is freed outside the timed region
        t0 = time.perf_counter()
        out = read()
        seconds.append(time.perf_counter() - t0)
        del out
    return result, stats(seconds)


def bench_file(name, path, text_bytes, n_lines, kwargs, readers, repeats):
    entry = {"path": str(path), "bytes": path.stat().st_size, "text_bytes": text_bytes,
             "lines": n_lines, "readers": {}}
    reference = None
    for reader, read in readers.items():
        print(f"{name}: {reader} ...", file=sys.stderr)
        result, s = time_reader(lambda read=read: read(path, **kwargs), repeats)
        if reference is None:
            reference = result
            entry["nnz"] = int(result[0].nnz)
        else:
            assert_identical(reference, result, f"{name}: {reader} differs from scikit-learn")
        del result
        s["mb_per_s"] = text_bytes / 1e6 / s["median"]
        s["lines_per_s"] = n_lines / s["median"]
        entry["readers"][reader] = s
    base = entry["readers"]["scikit-learn"]["median"]
    for s in entry["readers"].values():
        s["vs_sklearn"] = base / s["median"]
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000,
                        help="lines of the generated file (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed reads per reader and file")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--data-dir", default=str(HERE / "results" / "readers_data"),
                        help="where the generated files are written and reused")
    parser.add_argument("--no-gzip", action="store_true", help="skip the gzip file")
    parser.add_argument("--out", default=str(HERE / "results" / "readers.json"))
    args = parser.parse_args(argv)

    cores = _core.max_threads()
    dtype = np.dtype(args.dtype)
    readers = {
        "scikit-learn": lambda path, **kw: load_svmlight_file(str(path), **kw)[:2],
        "rapidfm 1 thread": lambda path, **kw: load_svmlight(path, n_jobs=1, **kw),
    }
    if cores > 1:
        readers[f"rapidfm {cores} threads"] = lambda path, **kw: load_svmlight(path, n_jobs=-1,
                                                                               **kw)

    files = []
    data_root = Path(os.environ.get("RAPIDFM_DATA", REPO.parent / "shared" / "data"))
    a9a = data_root / "a9a" / "a9a"
    if a9a.exists():
        files.append(("a9a", a9a, a9a.stat().st_size, count_lines(a9a),
                      {"n_features": 123, "dtype": dtype}))
    else:
        print(f"skipping a9a: {a9a} is not there (set RAPIDFM_DATA)", file=sys.stderr)
    text, packed, n_features = generated_files(args.lines, Path(args.data_dir))
    # the same kwargs for every reader: one-based as written, every column of the design
    kwargs = {"n_features": n_features, "dtype": dtype, "zero_based": False}
    files.append((f"generated {args.lines:,} lines", text, text.stat().st_size, args.lines,
                  kwargs))
    if not args.no_gzip:
        files.append((f"generated {args.lines:,} lines, gzip", packed, text.stat().st_size,
                      args.lines, kwargs))

    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": cores,
                    "python": sys.version.split()[0], "numpy": np.__version__,
                    "scikit-learn": sklearn.__version__, "rapidfm": rapidfm.__version__,
                    "openmp": rapidfm.openmp_enabled()},
        "repeats": args.repeats, "dtype": args.dtype, "files": {},
    }
    for name, path, text_bytes, n_lines, kw in files:
        report["files"][name] = bench_file(name, path, text_bytes, n_lines, kw, readers,
                                           args.repeats)

    print(f"# rapidfm {rapidfm.__version__} vs scikit-learn {sklearn.__version__}: "
          f"load_svmlight, {args.dtype}, {cores} cores, median (min..max) of {args.repeats} "
          "reads after a warm-up; results asserted identical")
    print()
    print("| file | MB (on disk) | lines | reader | seconds | MB/s of text | lines/s "
          "| vs scikit-learn |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name, entry in report["files"].items():
        for reader, s in entry["readers"].items():
            print(f"| {name} | {entry['bytes'] / 1e6:.1f} | {entry['lines']:,} | {reader} | "
                  f"{fmt(s)} | {s['mb_per_s']:.1f} | {s['lines_per_s']:,.0f} | "
                  f"x{s['vs_sklearn']:.2f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
