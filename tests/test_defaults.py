"""The estimators with no parameter set learn well on real data and on the planted demo
set: the bars are the project's targets for its defaults (README, "Defaults")."""

import numpy as np
import pytest
from conftest import data_path

from rapidfm import FMClassifier, FMRegressor
from rapidfm.datasets import load_movielens, make_planted_fm


def test_movielens_u1_with_defaults():
    X_tr, y_tr, X_te, y_te = load_movielens(data_path("ml-100k", "u1.base"),
                                            data_path("ml-100k", "u1.test"))
    model = FMRegressor(random_state=0).fit(X_tr, y_tr)
    rmse = float(np.sqrt(np.mean((model.predict(X_te) - y_te) ** 2)))
    assert rmse <= 0.93, f"u1.test RMSE {rmse:.4f} with the defaults"


def test_a9a_with_defaults():
    from sklearn.metrics import log_loss

    from rapidfm.io import load_svmlight

    X_tr, y_tr = load_svmlight(data_path("a9a", "a9a"))[:2]
    X_te, y_te = load_svmlight(data_path("a9a", "a9a.t"), n_features=X_tr.shape[1])[:2]
    model = FMClassifier(random_state=0).fit(X_tr, y_tr)
    loss = log_loss(y_te, model.predict_proba(X_te)[:, 1])
    assert loss <= 0.33, f"a9a.t log-loss {loss:.4f} with the defaults"


@pytest.mark.slow
def test_planted_demo_set_with_defaults():
    """rapidfm demo's data (300,000 rows x 6 one-hot fields x 1,000 values, noise 0.5):
    within 10% of the noise floor."""
    data = make_planted_fm(n_samples=300_000, n_fields=6, field_cardinality=1000,
                           n_factors=4, noise_std=0.5, random_state=0)
    X_tr, y_tr, X_te, y_te = data.split(270_000)
    model = FMRegressor(random_state=0).fit(X_tr, y_tr)
    rmse = float(np.sqrt(np.mean((model.predict(X_te) - y_te) ** 2)))
    assert rmse <= 1.10 * data.noise_floor
