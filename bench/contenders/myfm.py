"""myfm: myFM's Gibbs sampler (MyFMRegressor / MyFMClassifier, its own priors),
n_kept_samples = epochs - min(5, epochs // 2), one thread. Enabled when `import myfm`
works.
"""

import os
import time

import numpy as np

from .common import metric, result, skipped


def run_myfm(data, cfg, seed):
    """myFM's Gibbs sampler (MyFMRegressor / MyFMClassifier), one thread."""
    # myfm's fit always draws a tqdm progress bar; tqdm reads this when it is imported
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import myfm
    except ImportError as exc:
        return skipped("myfm", f"skipped (not found): import myfm: {exc}")
    epochs = cfg["epochs"]
    kept = epochs - min(5, epochs // 2)  # rapidfm's default burn-in
    X, y = data.X_train, data.y_train
    kw = {"rank": cfg["k"], "init_stdev": cfg["init_std"], "random_seed": seed}
    model = (myfm.MyFMRegressor(**kw) if data.task == "regression"
             else myfm.MyFMClassifier(**kw))
    target = y if data.task == "regression" else (y > 0).astype(np.int64)
    t0 = time.perf_counter()
    model.fit(X, target, n_iter=epochs, n_kept_samples=kept, callback=lambda *_: (False, None))
    wall = time.perf_counter() - t0
    if data.task == "regression":
        final = metric("regression", data.y_test, model.predict(data.X_test),
                       y_range=(float(y.min()), float(y.max())))
    else:
        final = metric("classification", data.y_test, proba=model.predict_proba(data.X_test))
    return result("myfm", 1, train_rows=X.shape[0], epochs=epochs,
                  seconds_per_epoch=wall / epochs, epoch_nnz=X.nnz, wall_seconds=wall,
                  test_metric=final, curve=[[wall, final]],
                  note=f"myFM {getattr(myfm, '__version__', '?')} Gibbs (MCMC), "
                       f"n_kept_samples {kept}; s/epoch = fit wall / sweeps")
