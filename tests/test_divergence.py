"""A fit whose training loss runs away stops with DivergenceError, in every dtype and
solver and from the command line, also while the loss is still finite (a float64 model
can climb to 1e179 without overflowing)."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import data_path

from rapidfm import DivergenceError, FMClassifier, FMRegressor
from rapidfm.cli import main
from rapidfm.estimators import GROWTH_FACTOR, RUNAWAY_FACTOR, _runs_away


def test_runs_away_by_either_bound():
    constant = 1.0
    assert not _runs_away(0.5, None, constant)
    assert not _runs_away(RUNAWAY_FACTOR * 0.99, None, constant)
    assert _runs_away(RUNAWAY_FACTOR * 1.01, None, constant)
    assert _runs_away(float("nan"), None, constant) and _runs_away(float("inf"), 0.1, constant)
    # growth counts once the loss is worse than the constant's
    assert _runs_away(1.5, 1.5 / (GROWTH_FACTOR + 1), constant)
    assert not _runs_away(0.9, 0.9 / (GROWTH_FACTOR + 1), constant)
    assert not _runs_away(1.5, 1.5 / (GROWTH_FACTOR - 1), constant)


def unscaled_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 10, (400, 6))
    return X, X[:, 0] - X[:, 1] + rng.normal(0, 0.1, 400)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lr", [0.01, 5.0])
def test_sgd_with_a_step_too_large_stops_in_every_dtype(dtype, lr):
    """Dense features of magnitude 10: at learning_rate 0.01 the float64 loss climbs
    within an epoch to about 1e70 without overflowing, at 5 it overflows at once."""
    X, y = unscaled_problem()
    model = FMRegressor(solver="sgd", learning_rate=lr, init_std=1.0, n_epochs=20,
                        dtype=dtype, random_state=0)
    with pytest.raises(DivergenceError, match="diverged in epoch"):
        model.fit(X, y)
    assert not hasattr(model, "V_")  # a failed fit leaves the estimator unfitted


@pytest.mark.parametrize("solver", ["adagrad", "ftrl"])
def test_adaptive_steps_stay_bounded_where_sgd_runs_away(solver):
    """Each AdaGrad / FTRL step moves a coordinate by at most about learning_rate, so
    the same problem and step that make SGD run away fit without error."""
    X, y = unscaled_problem()
    model = FMRegressor(solver=solver, learning_rate=5.0, init_std=1.0, n_epochs=20,
                        dtype=np.float64, random_state=0).fit(X, y)
    assert np.all(np.isfinite([h["train_loss"] for h in model.history_]))


def test_the_message_says_what_the_loss_did():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.normal(0, 10, (400, 6)))
    y = rng.integers(0, 2, 400)
    with pytest.raises(DivergenceError, match=r"rose to \d\.\d+e\+\d\d, far above the "
                                              r"0\.6931 of a constant prediction.*smaller "
                                              r"learning_rate than 0\.01"):
        FMClassifier(solver="sgd", learning_rate=0.01, init_std=1.0, dtype=np.float64,
                     reg_linear=0.0, reg_factors=0.0, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def frappe():
    validation = data_path("frappe", "libfm", "frappe.validation.libfm")
    test = data_path("frappe", "libfm", "frappe.test.libfm")
    return validation, test


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frappe_at_libfms_default_step_stops(frappe, dtype):
    """The report: FMClassifier(n_factors=64, learning_rate=0.1, dtype=float64) on Frappe
    climbed from 3.5e4 to 1.2e179 and fitted without an error (test AUC 0.525)."""
    from rapidfm.io import load_svmlight

    X, y = load_svmlight(frappe[0])[:2]
    # the report's configuration: no regularisation (the defaults then)
    model = FMClassifier(solver="sgd", n_factors=64, learning_rate=0.1, dtype=dtype,
                         reg_linear=0.0, reg_factors=0.0, n_epochs=30, random_state=0)
    with pytest.raises(DivergenceError, match="constant prediction"):
        model.fit(X, y)


def test_libfm_command_stops_on_frappe_at_its_default_step(frappe, tmp_path, capsys):
    """rapidfm libfm (float64) with libFM's default learn_rate 0.1: exit 1 with the
    reason, where the report saw accuracy swing between 0.49 and 0.65 and exit 0."""
    code = main(["libfm", "-task", "c", "-method", "sgd", "-train", str(frappe[0]),
                 "-test", str(frappe[1]), "-dim", "1,1,64", "-iter", "30",
                 "-out", str(tmp_path / "out.txt")])
    assert code == 1
    assert "diverged" in capsys.readouterr().err
