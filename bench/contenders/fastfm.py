"""fastfm: fastFM.sgd.FMRegression / FMClassification (n_iter = epochs x rows
single-sample steps), one thread. Enabled when `import fastFM` works.
"""

import time

import scipy.sparse as sp

from .common import metric, result, skipped
from .data import shuffled_train


def run_fastfm(data, cfg, seed):
    try:
        from fastFM import sgd
    except ImportError as exc:
        return skipped("fastfm", f"skipped (not found): import fastFM: {exc}")
    Xtr, ytr = shuffled_train(data, seed)
    n = Xtr.shape[0]
    kw = {"n_iter": cfg["epochs"] * n, "init_stdev": cfg["init_std"], "rank": cfg["k"],
          "l2_reg_w": cfg["reg"][1], "l2_reg_V": cfg["reg"][2], "step_size": cfg["lr"],
          "random_state": seed}
    model = (sgd.FMRegression(**kw) if data.task == "regression"
             else sgd.FMClassification(**kw))
    t0 = time.perf_counter()
    model.fit(sp.csc_matrix(Xtr), ytr)  # classification labels already -1/+1
    wall = time.perf_counter() - t0
    if data.task == "regression":
        final = metric("regression", data.y_test, model.predict(sp.csc_matrix(data.X_test)),
                       y_range=(float(ytr.min()), float(ytr.max())))
    else:
        final = metric("classification", data.y_test,
                       proba=model.predict_proba(sp.csc_matrix(data.X_test)))
    return result("fastfm", 1, train_rows=n, epochs=cfg["epochs"],
                  seconds_per_epoch=wall / cfg["epochs"], epoch_nnz=Xtr.nnz, wall_seconds=wall,
                  test_metric=final, curve=[[wall, final]],
                  note="fastFM sgd, n_iter = epochs x rows; s/epoch = fit wall / epochs")
