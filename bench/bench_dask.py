"""rapidfm.dask: rows/s of 1 vs 2 workers on a distributed.LocalCluster against one
process training the same data, and where a round's time goes (sending the model,
training, merging), on a planted set (contenders.data.load_planted: 4 fields, Zipf values).

    python bench/bench_dask.py                   # 4M rows, 5 epochs
    python bench/bench_dask.py --rows 200000     # a quick run

The report (bench/results/dask.json and .md) also gives the parameter bytes a round
sends to each worker and back, and from them and the measured merge time what a round
would cost on N machines (an estimate, labelled so).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import REPO, cpu_model, med, write_report  # noqa: E402
from contenders.data import load_planted  # noqa: E402

import rapidfm  # noqa: E402


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def model_bytes(model):
    """Bytes of w, V and the solver state: what a round sends to a worker (and back)."""
    names = ("w_", "V_", "sum_sq_grad_w_", "sum_sq_grad_V_", "ftrl_z_w_")
    return int(sum(getattr(model, n).nbytes for n in names if hasattr(model, n)))


def run_dask(data, n_workers, settings, chunks_per_worker):
    import dask.array as da
    from distributed import Client, LocalCluster

    from rapidfm.dask import DaskFMRegressor

    n = data.X_train.shape[0]
    rows = -(-n // (n_workers * chunks_per_worker))
    X = da.from_array(data.X_train, chunks=(rows, data.X_train.shape[1]), asarray=False)
    y = da.from_array(data.y_train, chunks=rows)
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        model = DaskFMRegressor(**settings, client=client).fit(X, y)
        fit_seconds = time.perf_counter() - start
        X_test = da.from_array(data.X_test, chunks=(rows, data.X_test.shape[1]),
                               asarray=False)
        test_rmse = rmse(model.predict(X_test).compute(), data.y_test)
    history = model.history_
    record = {"contender": f"rapidfm.dask, {n_workers} worker{'s' * (n_workers > 1)}",
              "n_workers": n_workers, "fit_seconds": fit_seconds, "test_rmse": test_rmse,
              "prepare_seconds": fit_seconds - sum(r["seconds"] for r in history),
              "param_bytes": model_bytes(model)}
    for key in ("rows_per_second", "seconds", "send_seconds", "train_seconds",
                "wait_seconds", "merge_seconds"):
        record[key] = med([r[key] for r in history])
    return record


def run_local(data, settings):
    model = rapidfm.FMRegressor(**{k: v for k, v in settings.items() if k != "local_epochs"})
    start = time.perf_counter()
    model.fit(data.X_train, data.y_train)
    fit_seconds = time.perf_counter() - start
    return {"contender": "rapidfm FMRegressor, one process", "n_workers": 0,
            "fit_seconds": fit_seconds, "test_rmse": rmse(model.predict(data.X_test),
                                                          data.y_test),
            "rows_per_second": med([r["rows_per_second"] for r in model.history_]),
            "param_bytes": model_bytes(model)}


def markdown(report):
    m, s = report["machine"], report["settings"]
    lines = [f"# rapidfm.dask on a LocalCluster ({m['cpu']}, {m['cores']} cores)", "",
             f"Data: {report['data']}; {s}", "",
             "| | fit s | rows/s (median round) | send s | train s | wait s | merge s | "
             "test RMSE |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    def cell(record, key):
        value = record.get(key)
        return "" if value is None else f"{value['median']:.3f}"

    for r in report["results"]:
        rate = r["rows_per_second"]
        rate = rate["median"] if isinstance(rate, dict) else rate
        lines.append(f"| {r['contender']} | {r['fit_seconds']:.1f} | {rate:,.0f} | "
                     f"{cell(r, 'send_seconds')} | {cell(r, 'train_seconds')} | "
                     f"{cell(r, 'wait_seconds')} | {cell(r, 'merge_seconds')} | "
                     f"{r['test_rmse']:.4f} |")
    lines += ["", "On N machines (an estimate from the figures above, not a measurement):"]
    lines += [f"- {line}" for line in report["estimate"]]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--values", type=int, default=1000, help="values per field")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunks-per-worker", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "dask.json"))
    args = parser.parse_args()
    started = time.time()
    load_at_start = list(os.getloadavg())
    data = load_planted(args.rows, args.values, seed=0)
    settings = dict(n_factors=8, n_epochs=args.epochs, n_jobs=1, random_state=0,
                    local_epochs=1)
    results = [run_local(data, settings)]
    for n_workers in args.workers:
        results.append(run_dask(data, n_workers, settings, args.chunks_per_worker))
        print(results[-1], flush=True)
    dask_runs = [r for r in results if r["n_workers"] > 1] or results[1:]
    widest = max(dask_runs, key=lambda r: r["n_workers"])
    per_worker_merge = widest["merge_seconds"]["median"] / widest["n_workers"]
    param_bytes = widest["param_bytes"]
    estimate = [f"parameter bytes per round: {param_bytes:,} to each worker and back"]
    for machines in (8, 64):
        estimate.append(
            f"{machines} machines: {2 * param_bytes * machines / 1e6:,.1f} MB through the "
            f"driver per round; merge about {per_worker_merge * machines:.3f} s per round "
            f"(measured {per_worker_merge:.4f} s per worker, growing linearly)")
    report = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
              "date": time.strftime("%Y-%m-%d"),
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                          "load_average_start": load_at_start},
              "data": data.note, "settings": settings, "results": results,
              "estimate": estimate}
    write_report(report, args.out, markdown, started)


if __name__ == "__main__":
    main()
