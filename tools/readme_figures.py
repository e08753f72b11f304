"""The MovieLens 100k figures that README.md quotes, measured now.

    python tools/readme_figures.py [--data DIR] [--threads 1 2]

Trains the README's examples on u1.base and reports their u1.test RMSE over the
seeds the README names: SGD with the Usage settings (random_state 0-4), SGD
with early stopping (0-4) and MCMC, 200 sweeps, with and without user/item
groups (0-9). The settings are tests/reference.py's, which the README and the
tests share. Every number depends on the thread count only through summation
order (and Hogwild's update interleaving), so each is measured at every
--threads value given. DIR defaults to $RAPIDFM_DATA, else ../shared/data
beside the repository; the run takes about a minute on 2 cores.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reference import ML100K_EARLY_STOPPING_SETTINGS, ML100K_SETTINGS  # noqa: E402

from rapidfm import FMRegressor  # noqa: E402
from rapidfm.datasets import load_movielens  # noqa: E402

MCMC_SETTINGS = dict(solver="mcmc", n_factors=8, n_epochs=200)


def _rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def _runs(name, settings, seeds, threads, data, fit_params=None):
    X_tr, y_tr, X_te, y_te = data
    scores = []
    start = time.perf_counter()
    for seed in seeds:
        model = FMRegressor(**dict(settings, random_state=seed, n_jobs=threads))
        model.fit(X_tr, y_tr, **(fit_params or {}))
        scores.append(_rmse(model, X_te, y_te))
    seconds = (time.perf_counter() - start) / len(seeds)
    listed = ", ".join(f"{s:.4f}" for s in scores)
    print(f"{name}, {threads} thread(s), random_state {seeds[0]}-{seeds[-1]}: "
          f"{min(scores):.4f}-{max(scores):.4f}, median {statistics.median(scores):.4f} "
          f"({listed}; {seconds:.2f} s a fit)", flush=True)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.environ.get("RAPIDFM_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", default=default, help="folder holding ml-100k/")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    folder = Path(args.data) / "ml-100k"
    data = load_movielens(folder / "u1.base", folder / "u1.test")
    groups = np.r_[np.zeros(943, int), np.ones(1682, int)]  # users, items
    usage = {k: v for k, v in ML100K_SETTINGS.items() if k != "random_state"}
    early = {k: v for k, v in ML100K_EARLY_STOPPING_SETTINGS.items() if k != "random_state"}
    for threads in args.threads:
        _runs("SGD, README Usage settings", usage, range(5), threads, data)
        _runs("SGD, early stopping settings", early, range(5), threads, data)
        _runs("MCMC 200 sweeps", MCMC_SETTINGS, range(10), threads, data)
        _runs("MCMC 200 sweeps, user/item groups", dict(MCMC_SETTINGS, feature_groups=groups),
              range(10), threads, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
