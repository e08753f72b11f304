"""rapidfm's per-sample solvers: rapidfm-1t / -Nt (FMRegressor / FMClassifier, SGD,
float32), rapidfm-adagrad-*, rapidfm-ftrl-*, rapidfm-ftrl-l1-1t, rapidfm-defaults-* and
rapidfm-1t-sub (SGD on numpy-loop's subsample). Always enabled: rapidfm is installed.
"""

import time

import numpy as np

import rapidfm

from .common import epoch_timing, metric, result


def run_rapidfm(data, cfg, threads, seed, rows=None, label=None, solver="sgd", params=None):
    """rapidfm with `solver`: the data set's k, epochs, regularisation and init, and for
    SGD its learning rate; the adaptive solvers take their own default learning rate
    (their step is not comparable with SGD's); params overrides any of these
    (params="defaults": the estimator's defaults, only threads and seed set)."""
    X, y = data.X_train, data.y_train
    if rows is not None:
        X, y = X[rows], y[rows]
    cls = rapidfm.FMRegressor if data.task == "regression" else rapidfm.FMClassifier
    y_range = (float(y.min()), float(y.max()))
    curve, eval_time = [], [0.0]

    def evaluate(model, history):
        t0 = time.perf_counter()
        # predict() clips to the training-target range, as metric() does for the others
        raw = (model.decision_function(data.X_test) if data.task == "classification"
               else model.predict(data.X_test))
        curve.append([sum(h["seconds"] for h in history),
                      metric(data.task, data.y_test, raw, y_range=y_range)])
        eval_time[0] += time.perf_counter() - t0

    if params == "defaults":
        kw = {}
    else:
        kw = dict(solver=solver, n_factors=cfg["k"], n_epochs=cfg["epochs"],
                  learning_rate=cfg["lr"] if solver == "sgd" else None,
                  reg_bias=cfg["reg"][0], reg_linear=cfg["reg"][1], reg_factors=cfg["reg"][2],
                  init_std=cfg["init_std"], dtype=np.float32)
        kw.update(params or {})
    model = cls(n_jobs=threads, random_state=seed, callbacks=[evaluate], **kw)
    t0 = time.perf_counter()
    model.fit(X, y)
    wall = time.perf_counter() - t0 - eval_time[0]
    secs = [h["seconds"] for h in model.history_]
    name = label or f"rapidfm-{threads}t"
    extra = {}
    if model.solver == "ftrl":
        extra["w_zero_fraction"] = float(np.mean(model.w_ == 0))
    if rows is not None:  # the plot's time axis: what full epochs would have cost
        scale = data.X_train.shape[0] / X.shape[0]
        curve = [[t * scale, m] for t, m in curve]
    return result(name, threads, train_rows=X.shape[0], epochs=len(secs),
                  **epoch_timing(secs), epoch_nnz=X.nnz, fit_wall_seconds=wall,
                  test_metric=curve[-1][1], curve=curve,
                  mode=model.history_[-1]["parallel_mode"], subsample=rows is not None,
                  solver=model.solver, learning_rate=model.history_[-1]["learning_rate"],
                  **extra,
                  note=("trained on the same subsample as numpy-loop; s/epoch measured on "
                        "it (the plot scales its time to the full set)" if rows is not None
                        else "float32; s/epoch = kernel time per epoch (history_)"))
