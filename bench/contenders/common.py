"""What every contender shares: the test metric (RMSE or log-loss), the FM output and
initial bias for evaluation, the per-epoch timing, and the "ok" / "skipped" records that
compare.py writes to compare.json. Not a contender itself.
"""

import numpy as np


def metric(task, y, raw=None, proba=None, y_range=None):
    """RMSE of clipped predictions, or log-loss (y in -1/+1) from raw scores or P(+1)."""
    if task == "regression":
        p = np.asarray(raw, dtype=np.float64)
        if y_range is not None:
            p = np.clip(p, *y_range)
        return float(np.sqrt(np.mean((p - y) ** 2)))
    if proba is None:
        return float(np.mean(np.logaddexp(0.0, -y * np.asarray(raw, dtype=np.float64))))
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y > 0, np.log(p), np.log(1 - p))))


def constant_metric(data):
    """Test metric of the best constant, fitted on the training targets: the bar to beat."""
    if data.task == "regression":
        return metric("regression", data.y_test, np.full(data.y_test.size, data.y_train.mean()))
    p = float(np.mean(data.y_train > 0))
    return metric("classification", data.y_test, proba=np.full(data.y_test.size, p))


def metric_name(task):
    return "RMSE" if task == "regression" else "log-loss"


def fm_raw(X, w0, w, V):
    """FM output for every row of CSR X (vectorised, for evaluation)."""
    q = X @ V
    sq = (X.multiply(X)) @ (V * V)
    return w0 + X @ w + 0.5 * (np.sum(q * q, axis=1) - np.sum(sq, axis=1))


def initial_bias(task, y):
    if task == "regression":
        return float(np.mean(y))
    p = min(max(float(np.mean(y > 0)), 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def epoch_timing(seconds):
    """seconds_per_epoch (median) and its [min, max] over the epochs after the first.

    The first epoch is the warm-up (page faults, caches, allocator); every epoch still
    counts for the test metric and the curve.
    """
    timed = np.asarray(seconds[1:] if len(seconds) > 1 else seconds, dtype=float)
    return {"seconds_per_epoch": float(np.median(timed)),
            "seconds_per_epoch_range": [float(timed.min()), float(timed.max())]}


def result(name, threads, *, seconds_per_epoch, epoch_nnz, **kw):
    """A finished run; epoch_nnz: the nonzeros of the rows seconds_per_epoch refers to."""
    out = {"contender": name, "threads": threads, "status": "ok",
           "seconds_per_epoch": seconds_per_epoch,
           "ns_per_nonzero": 1e9 * seconds_per_epoch / max(epoch_nnz, 1)}
    out.update(kw)
    return out


def skipped(name, reason, threads=None):
    return {"contender": name, "threads": threads, "status": "skipped", "reason": reason}


def norm_cdf(x):
    from scipy.special import ndtr

    return ndtr(x)
