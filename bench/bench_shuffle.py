"""shuffle="copy" against shuffle="epoch": s/epoch, fit wall time and test RMSE of
FMRegressor on the planted set, the two modes alternated in one process, and the time
of the copy itself (permutation + row gather).

    python bench/bench_shuffle.py                  # 1M rows, 1 thread, 2 rounds
    python bench/bench_shuffle.py --rows 100000 --threads 2
"""
import argparse
import time

import numpy as np
from contenders.data import load_planted  # the planted set of compare.py (bench/ is on sys.path)

import rapidfm
from rapidfm._validation import as_csr, values_or_none
from rapidfm.estimators import _Rows, _shuffled


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="training rows")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two modes")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    data = load_planted(args.rows, 17_500, seed=0)
    X_tr, y_tr, X_te, y_te = data.X_train, data.y_train, data.X_test, data.y_test
    results = {}
    for _ in range(args.rounds):
        for shuffle in ("epoch", "copy"):
            model = rapidfm.FMRegressor(solver="sgd", n_factors=8, n_epochs=args.epochs,
                                        learning_rate=0.01, reg_linear=0.0, reg_factors=0.0,
                                        init_std=0.1, n_jobs=args.threads, random_state=0,
                                        shuffle=shuffle)
            t0 = time.perf_counter()
            model.fit(X_tr, y_tr)
            wall = time.perf_counter() - t0
            epoch = float(np.median([h["seconds"] for h in model.history_][1:]))
            rmse = float(np.sqrt(np.mean((model.predict(X_te) - y_te) ** 2)))
            results.setdefault(shuffle, []).append(epoch)
            print(f"shuffle={shuffle:5s} {args.threads} thread(s): s/epoch {epoch:.4f} "
                  f"({epoch * 1e9 / X_tr.nnz:.2f} ns/nnz), fit wall {wall:.3f} s, "
                  f"test RMSE {rmse:.4f}", flush=True)
    indptr, indices, data, _ = as_csr(X_tr, np.float32)
    rows = _Rows(indptr, indices, values_or_none(data), np.asarray(y_tr, np.float64), None)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        rows.take(_shuffled(0, np.arange(rows.n_rows)), args.threads)
        times.append(time.perf_counter() - t0)
    ratio = np.median(results["epoch"]) / np.median(results["copy"])
    print(f"copy in random order: median {np.median(times) * 1e3:.1f} ms; "
          f"epoch speedup of copy over epoch: x{ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
