"""rapidfm-mcmc-* and rapidfm-als-*: FMRegressor / FMClassifier(solver="mcmc" | "als"),
float64, one sweep per epoch, at 1 thread and all cores. Always enabled; skipped, with
the reason, when the installed rapidfm has no solver parameter.
"""

import time

import numpy as np

import rapidfm

from .common import epoch_timing, metric, norm_cdf, result, skipped


def run_rapidfm_solver(data, cfg, solver, threads, seed):
    """FMRegressor / FMClassifier(solver="mcmc" | "als"), float64 (libFM's precision).

    The curve: after every sweep, the test metric of the prediction averaged over the
    sweeps so far (clipped values, or Phi(y(x)) for the probit classifier), which is what
    libFM prints for MCMC and ALS; the final metric is that of predict / predict_proba
    (MCMC: the kept samples; ALS: the last iterate).
    """
    name = f"rapidfm-{solver}-{threads}t"
    cls = rapidfm.FMRegressor if data.task == "regression" else rapidfm.FMClassifier
    X, y = data.X_train, data.y_train
    y_range = (float(y.min()), float(y.max()))
    curve, eval_time, total = [], [0.0], [None, 0]

    def evaluate(model, history):
        t0 = time.perf_counter()
        raw = model._predict_current(data.X_test)
        p = (np.clip(raw, *y_range) if data.task == "regression" else norm_cdf(raw))
        total[0] = p if total[0] is None else total[0] + p
        total[1] += 1
        avg = total[0] / total[1]
        m = (metric("regression", data.y_test, avg) if data.task == "regression"
             else metric("classification", data.y_test, proba=avg))
        curve.append([sum(h["seconds"] for h in history), m])
        eval_time[0] += time.perf_counter() - t0

    reg = cfg["als_reg"] if solver == "als" else (0.0, 0.0, 0.0)
    try:
        model = cls(solver=solver, n_factors=cfg["k"], n_epochs=cfg["epochs"],
                    reg_bias=reg[0], reg_linear=reg[1], reg_factors=reg[2],
                    init_std=cfg["init_std"], n_jobs=threads, random_state=seed,
                    dtype=np.float64, callbacks=[evaluate])
    except TypeError as exc:
        return skipped(name, f"skipped: this rapidfm has no solver parameter ({exc})", threads)
    t0 = time.perf_counter()
    model.fit(X, y)
    wall = time.perf_counter() - t0 - eval_time[0]
    secs = [h["seconds"] for h in model.history_]
    final = (metric("regression", data.y_test, model.predict(data.X_test))
             if data.task == "regression" else
             metric("classification", data.y_test, proba=model.predict_proba(data.X_test)[:, 1]))
    what = ("mean over the kept samples" if solver == "mcmc" else "last iterate")
    reg_note = f", L2 {tuple(reg)}" if solver == "als" else ""
    return result(name, threads, train_rows=X.shape[0], epochs=len(secs), **epoch_timing(secs),
                  epoch_nnz=X.nnz, fit_wall_seconds=wall, test_metric=final, curve=curve,
                  note=f"{solver.upper()}{reg_note}, float64; s/epoch = kernel time per sweep "
                       f"(history_); test metric: predict ({what})")
