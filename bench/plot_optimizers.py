"""The README's optimizer figure: test RMSE per epoch on MovieLens 100k u1 of SGD,
AdaGrad, FTRL and MCMC, drawn by rapidfm.plot_history.

    python bench/plot_optimizers.py [--out bench/figures/optimizers_u1.png]

Each model is FMRegressor with its defaults except the solver (and for SGD the
README's tuned settings), 100 epochs, one thread, random_state=0; the test file is the
eval_set, so the curve is the test RMSE after every epoch (n_iter_no_change=1000 keeps
early stopping from ending a run). Reads $RAPIDFM_DATA (default ../shared/data).
"""

import argparse
import os
import sys
import time
from pathlib import Path

from rapidfm import FMRegressor
from rapidfm.datasets import load_movielens
from rapidfm.plotting import save_history_plot

HERE = Path(__file__).resolve().parent
EPOCHS = 100
MODELS = {
    "SGD (tuned: lr 0.05 invscaling, reg 0.03/0.1)": dict(
        solver="sgd", learning_rate=0.05, schedule="invscaling", reg_linear=0.03,
        reg_factors=0.1, init_std=0.05),
    "AdaGrad (defaults)": dict(solver="adagrad"),
    "FTRL (defaults)": dict(solver="ftrl"),
    "MCMC": dict(solver="mcmc"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "figures" / "optimizers_u1.png"))
    args = parser.parse_args(argv)
    data = Path(os.environ.get("RAPIDFM_DATA", HERE.parent.parent / "shared" / "data"))
    base, test = data / "ml-100k" / "u1.base", data / "ml-100k" / "u1.test"
    if not (base.exists() and test.exists()):
        print(f"skipped: {base} not found (set RAPIDFM_DATA)")
        return 0
    X_tr, y_tr, X_te, y_te = load_movielens(base, test)
    models = []
    for label, params in MODELS.items():
        model = FMRegressor(n_epochs=EPOCHS, n_jobs=1, random_state=0, n_iter_no_change=1000,
                            **params)
        t0 = time.perf_counter()
        model.fit(X_tr, y_tr, eval_set=(X_te, y_te))
        curve = [h["validation_loss"] for h in model.history_]
        print(f"{label:<48} test RMSE after epoch 10 {curve[9]:.4f}, 20 {curve[19]:.4f}, "
              f"{EPOCHS} {curve[-1]:.4f}, best {min(curve):.4f} "
              f"({time.perf_counter() - t0:.1f} s)")
        models.append(model)
    save_history_plot(models, args.out, labels=list(MODELS), which=("validation",))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
