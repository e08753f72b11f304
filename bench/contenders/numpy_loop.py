"""numpy-loop: the textbook per-sample FM SGD in NumPy (float64, rapidfm's update,
init and clipping), one row at a time, on at most --numpy-rows rows with its s/epoch
extrapolated to the full set. Always enabled.
"""

import time

import numpy as np

from .common import epoch_timing, fm_raw, initial_bias, metric, result


def numpy_sgd(X, y, Xtest, ytest, task, cfg, seed, y_range):
    """The textbook per-sample FM SGD, one row at a time with numpy (float64)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    k = cfg["k"]
    lr = cfg["lr"]
    r0, r1, r2 = cfg["reg"]
    w0 = initial_bias(task, y)
    w = np.zeros(d)
    V = rng.normal(0.0, cfg["init_std"], (d, k))
    indptr, indices, values = X.indptr, X.indices, X.data
    lo, hi = y_range if task == "regression" else (-np.inf, np.inf)
    epoch_seconds, curve = [], []
    for _ in range(cfg["epochs"]):
        order = rng.permutation(n)
        t0 = time.perf_counter()
        for i in order:
            start, end = indptr[i], indptr[i + 1]
            idx = indices[start:end]
            x = values[start:end]
            Vi = V[idx]                       # (nnz, k) factor rows of the row's features
            xv = Vi * x[:, None]
            q = xv.sum(axis=0)                # sum_j v_j x_j
            p = w0 + np.dot(w[idx], x) + 0.5 * (np.dot(q, q) - np.sum(xv * xv))
            if task == "regression":
                p = min(max(p, lo), hi)
                g = p - y[i]
            else:
                g = -y[i] / (1.0 + np.exp(y[i] * p))
            w0 -= lr * (g + r0 * w0)
            w[idx] -= lr * (g * x + r1 * w[idx])
            V[idx] -= lr * (g * (np.outer(x, q) - Vi * (x * x)[:, None]) + r2 * Vi)
        epoch_seconds.append(time.perf_counter() - t0)
        raw = fm_raw(Xtest, w0, w, V)
        curve.append([sum(epoch_seconds), metric(task, ytest, raw, y_range=y_range)])
    return epoch_seconds, curve


def run_numpy(data, cfg, seed, max_rows):
    n = data.X_train.shape[0]
    rows = None
    X, y = data.X_train, data.y_train
    if max_rows and n > max_rows:
        rows = np.sort(np.random.default_rng(seed + 1).choice(n, max_rows, replace=False))
        X, y = X[rows], y[rows]
    y_range = (float(y.min()), float(y.max()))
    secs, curve = numpy_sgd(X, y, data.X_test, data.y_test, data.task, cfg, seed, y_range)
    measured = epoch_timing(secs)
    scale = n / X.shape[0]  # s/epoch of the full set: seconds per row x rows
    extrapolated = rows is not None
    note = "float64, one row at a time"
    if extrapolated:
        note = (f"trained on a random {X.shape[0]:,}-row subsample; s/epoch extrapolated to "
                f"{n:,} rows (median s/row x rows); test metric of the subsample model")
        # the curve's time axis: what the full epochs would have cost
        curve = [[t * scale, m] for t, m in curve]
    return result("numpy-loop", 1, train_rows=X.shape[0], epochs=len(secs),
                  seconds_per_epoch=measured["seconds_per_epoch"] * scale,
                  seconds_per_epoch_range=[t * scale for t in measured["seconds_per_epoch_range"]],
                  epoch_nnz=data.X_train.nnz,
                  measured_seconds_per_epoch=measured["seconds_per_epoch"],
                  subsample=extrapolated, extrapolated=extrapolated,
                  test_metric=curve[-1][1], curve=curve, note=note), rows
