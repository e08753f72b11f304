"""solver="mcmc": libFM's Gibbs sampler, checked against closed-form conditionals.

The conditional tests run one low-level sweep (_core.cd_sweep) from the same
fixed state with thousands of seeds. A sweep draws its coordinates one after
the other, each from its conditional given the current values of all others;
for coordinate c those are the NEW values of the coordinates before c and the
OLD values of those after c, all known from the sweep's input and output. So
(draw_c - mean_c) / sd_c, with (mean_c, sd_c) from reference_cd (derived from the
model, not from the kernel's formulas), is exactly N(0, 1) for every c and
every seed, and these standardised draws are even independent of each other.
Tolerances are 5 standard errors of the number of draws; the seeds are fixed,
so the tests are deterministic.

The probit sampler first draws latent z_i ~ TN(yhat_i, 1), which the sweep does
not return, so its coordinates' conditionals given z cannot be standardised.
Instead (i) a one-row problem with an enormous sample weight makes the new w0
equal z - yhat up to 1e-4, so the truncated-normal draw itself is compared with
the truncated normal (Kolmogorov-Smirnov, mean, variance), tails included; and
(ii) on a linear probit problem (V = 0 held there by a huge lambda_v) every new
w is an affine function of (z, the Gaussian draws), so the exact marginal mean
and variance of each coordinate after the sweep are known (reference_cd.
probit_linear_sweep_moments); they show that all coordinates use the same
sampled z (not E[z], not fresh draws) and alpha = 1.
"""

import time

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import data_path
from reference_cd import (
    affine_in_batch,
    alpha_conditional,
    coordinate_prior,
    dense,
    fm_predict_naive,
    gaussian_conditional,
    get_coordinate,
    lambda_conditional,
    mu_conditional,
    probit_cdf,
    probit_latent_moments,
    probit_linear_sweep_moments,
    set_coordinate,
    sweep_coordinates,
)
from scipy import stats

import rapidfm
from rapidfm import FMClassifier, FMRegressor, _core
from rapidfm.datasets import load_movielens, make_planted_fm

needs_openmp = pytest.mark.skipif(not rapidfm.openmp_enabled(),
                                  reason="serial build: 2-thread tests need OpenMP")

N_DRAWS = 4000
N_SE = 5.0


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)))


def logloss(y01, p1, eps=1e-15):
    p1 = np.clip(np.asarray(p1, float), eps, 1 - eps)
    return float(-np.mean(y01 * np.log(p1) + (1 - y01) * np.log(1 - p1)))


# -- statistical checks ----------------------------------------------------------------------

def assert_standard_normal(z, label):
    """mean 0 and variance 1 within N_SE standard errors."""
    z = np.asarray(z, dtype=np.float64)
    n = z.size
    assert np.isfinite(z).all(), label
    assert abs(z.mean()) < N_SE / np.sqrt(n), f"{label}: mean {z.mean():.4f} (n={n})"
    assert abs(z.var() - 1.0) < N_SE * np.sqrt(2.0 / n), f"{label}: var {z.var():.4f}"


def assert_moments(x, mean, var, label):
    """Sample mean and variance of x against (mean, var), within N_SE standard errors
    (the variance's from the sample's fourth central moment)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    m4 = np.mean((x - x.mean()) ** 4)
    se_mean = np.sqrt(var / n)
    se_var = np.sqrt(max(m4 - x.var() ** 2, 1e-300) / n)
    assert abs(x.mean() - mean) < N_SE * se_mean, (
        f"{label}: mean {x.mean():.6g}, expected {mean:.6g} (se {se_mean:.2g})")
    assert abs(x.var() - var) < N_SE * se_var, (
        f"{label}: variance {x.var():.6g}, expected {var:.6g} (se {se_var:.2g})")


def assert_gamma(x, shape, rate, label):
    """Draws of Gamma(shape, rate): mean, variance and a Kolmogorov-Smirnov test."""
    x = np.asarray(x, dtype=np.float64)
    assert np.all(x > 0), label
    assert_moments(x, shape / rate, shape / rate ** 2, label)
    p = stats.kstest(x, stats.gamma(shape, scale=1.0 / rate).cdf).pvalue
    assert p > 1e-4, f"{label}: KS p-value {p:.2g} against Gamma({shape}, rate {rate})"


# -- the low-level sweep ---------------------------------------------------------------------

class Problem:
    """A CSR problem with everything cd_sweep needs."""

    def __init__(self, X, y, sample_weight=None, groups=None, dtype=np.float64):
        X = sp.csr_matrix(X, dtype=np.float64)
        self.dtype = dtype
        self.X = X
        self.Xd = dense(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.sw = None if sample_weight is None else np.ascontiguousarray(sample_weight,
                                                                          dtype=np.float64)
        n = X.shape[1]
        self.groups = np.zeros(n, np.int32) if groups is None else np.asarray(groups,
                                                                              np.int32)
        self.indptr = X.indptr.astype(np.int64)
        self.indices = X.indices.astype(np.int32)
        self.data = X.data.astype(dtype)
        self.colptr, self.rows, self.cdata = _core.csr_to_csc(self.indptr, self.indices,
                                                              self.data, n)
        self.order, self.block_ptr = _core.feature_blocks(self.indptr, self.indices,
                                                          self.colptr, self.rows, n)

    def sweep(self, loss, w0, w, V, hyper, alpha, reg_bias, seed, n_threads=1,
              sample_hyper=False):
        """One MCMC sweep on copies; returns (w0, w, V, alpha, mu_w, lambda_w, mu_v,
        lambda_v, pred)."""
        w = np.array(w, dtype=self.dtype)
        V = np.array(V, dtype=self.dtype)
        mu_w, lambda_w, mu_v, lambda_v = (np.array(a, dtype=np.float64) for a in hyper)
        pred = np.empty(self.X.shape[0])
        out = _core.cd_sweep("mcmc", loss, float(w0), w, V, self.indptr, self.indices,
                             self.data, self.colptr, self.rows, self.cdata, self.y, self.sw,
                             self.order, self.block_ptr, self.groups, mu_w, lambda_w, mu_v,
                             lambda_v, float(alpha), float(reg_bias), int(seed), n_threads,
                             sample_hyper=sample_hyper, pred_out=pred)
        return out[0], w, V, out[1], mu_w, lambda_w, mu_v, lambda_v, pred

    def many_sweeps(self, loss, w0, w, V, hyper, alpha, reg_bias, n_draws=N_DRAWS,
                    n_threads=1, sample_hyper=False):
        """n_draws sweeps from the same state with seeds 1000..: stacked outputs."""
        outs = [self.sweep(loss, w0, w, V, hyper, alpha, reg_bias, 1000 + d, n_threads,
                           sample_hyper) for d in range(n_draws)]
        return [np.array([o[i] for o in outs]) for i in range(9)]


def gibbs_problem(seed=20, dtype=np.float64):
    """12 rows, 7 features with non-binary values: features 0-2 are one field and 3-4
    another (each row has one of each, so the fields' features share no row and
    feature_blocks can pair them), feature 5 is in about half the rows and feature 6 in
    none (its draws come from the prior alone). Two groups."""
    rng = np.random.default_rng(seed)
    m = 12
    Xd = np.zeros((m, 7))
    Xd[np.arange(m), rng.integers(0, 3, m)] = rng.uniform(0.5, 1.5, m)
    Xd[np.arange(m), rng.integers(3, 5, m)] = rng.uniform(-1.5, -0.5, m)
    Xd[:6, 5] = rng.uniform(0.5, 2.0, 6)
    y = rng.normal(1.0, 1.0, m)
    sw = rng.uniform(0.3, 2.0, m)
    sw[4] = 0.0
    groups = np.array([0, 0, 0, 1, 1, 1, 1])
    state = (0.4, rng.normal(0.0, 0.5, 7), rng.normal(0.0, 0.5, (7, 2)))
    if dtype == np.float32:  # the state the float32 kernel sees
        state = (state[0], state[1].astype(np.float32).astype(np.float64),
                 state[2].astype(np.float32).astype(np.float64))
    return Problem(Xd, y, sw, groups, dtype), state


def standardised_draws(problem, t, old, new, alpha, reg_bias, hyper):
    """{coordinate: (draw - conditional mean) / conditional sd} over the draws.

    old: the input state (w0, w, V); new: stacked outputs (D,), (D, n), (D, n, k);
    alpha: scalar or (D,); hyper: (mu_w, lambda_w, mu_v, lambda_v), each the fixed
    arrays or (D, ...) stacks of the drawn ones.
    """
    D = new[0].shape[0]
    k = old[2].shape[1]
    state = (np.full(D, float(old[0])), np.tile(np.asarray(old[1], float), (D, 1)),
             np.tile(np.asarray(old[2], float), (D, 1, 1)))
    out = {}
    for coord in sweep_coordinates(problem.order, k):
        a, h = affine_in_batch(problem.Xd, state, coord)
        prior_mean, prior_prec = coordinate_prior(coord, problem.groups, reg_bias, *hyper)
        mean, var = gaussian_conditional(a, h, t, alpha, prior_mean, prior_prec, problem.sw)
        value = get_coordinate(new, coord)
        out[coord] = (value - mean) / np.sqrt(var)
        state = set_coordinate(state, coord, value)
    return out


GIBBS_SETTINGS = {
    # the data dominate: a stale or wrong neighbour value would move the mean by many sds
    "informative_data": dict(alpha=20.0, reg_bias=0.5,
                             hyper=([0.3, -0.2], [2.0, 8.0], [[0.1, -0.1], [0.0, 0.2]],
                                    [[4.0, 1.0], [2.0, 10.0]])),
    # the prior matters: wrong prior means or precisions show
    "strong_prior": dict(alpha=0.7, reg_bias=3.0,
                         hyper=([1.0, -0.8], [30.0, 5.0], [[0.6, -0.5], [0.4, 0.9]],
                                [[20.0, 50.0], [10.0, 40.0]])),
}


@pytest.mark.parametrize("n_threads,dtype", [(1, np.float64), (1, np.float32),
                                              pytest.param(2, np.float64, marks=needs_openmp)])
@pytest.mark.parametrize("setting", sorted(GIBBS_SETTINGS))
def test_every_conditional_of_a_squared_loss_sweep(setting, n_threads, dtype):
    problem, state = gibbs_problem(dtype=dtype)
    cfg = GIBBS_SETTINGS[setting]
    hyper = tuple(np.array(a, dtype=np.float64) for a in cfg["hyper"])
    out = problem.many_sweeps("squared", *state, hyper, cfg["alpha"], cfg["reg_bias"],
                              n_threads=n_threads)
    w0s, ws, Vs, alphas, mu_w, lambda_w, mu_v, lambda_v, preds = out
    # sample_hyper=False: alpha and the hyperparameters are left as passed
    assert np.all(alphas == cfg["alpha"])
    for drawn, given in zip((mu_w, lambda_w, mu_v, lambda_v), hyper):
        assert np.all(drawn == given[None])
    # pred_out is y(x) of the new parameters
    assert ws.dtype == dtype and Vs.dtype == dtype
    tol = 1e-9 if dtype == np.float64 else 1e-5
    for d in range(0, N_DRAWS, 997):
        np.testing.assert_allclose(preds[d], fm_predict_naive(problem.Xd, w0s[d], ws[d],
                                                              Vs[d]), rtol=tol, atol=tol)
    z = standardised_draws(problem, problem.y, state, (w0s, ws, Vs), cfg["alpha"],
                           cfg["reg_bias"], hyper)
    assert len(z) == 1 + 7 * 3
    for coord, values in z.items():
        assert_standard_normal(values, f"{setting} {coord}")
    pooled = np.concatenate(list(z.values()))
    assert stats.kstest(pooled, "norm").pvalue > 1e-4
    # independent of each other, too: w0 and the first feature's w are uncorrelated
    first = ("w", int(problem.order[0]))
    assert abs(np.corrcoef(z[("w0",)], z[first])[0, 1]) < N_SE / np.sqrt(N_DRAWS)


def test_the_blocks_of_the_gibbs_problem_have_several_features():
    problem, _ = gibbs_problem()
    assert problem.block_ptr.size - 1 < 7  # so the 2-thread case updates features together


def test_sweeps_are_reproducible_from_the_seed():
    problem, state = gibbs_problem()
    hyper = tuple(np.array(a, dtype=np.float64) for a in GIBBS_SETTINGS["strong_prior"]["hyper"])
    a = problem.sweep("squared", *state, hyper, 2.0, 0.1, seed=7, sample_hyper=True)
    b = problem.sweep("squared", *state, hyper, 2.0, 0.1, seed=7, sample_hyper=True)
    c = problem.sweep("squared", *state, hyper, 2.0, 0.1, seed=8, sample_hyper=True)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[2], c[2])


# -- hyperparameters -------------------------------------------------------------------------

def test_hyperparameter_conditionals_and_the_sweep_that_uses_them():
    """sample_hyper=True: alpha from the residuals of the input state, per group
    lambda_w given the old mu_w, then mu_w given the new lambda_w, the same per
    (group, factor) for V; then w0, w, V given the new hyperparameters."""
    problem, state = gibbs_problem(seed=21)
    w0, w, V = state
    k = V.shape[1]
    hyper = (np.array([0.3, -0.6]), np.array([2.0, 5.0]), np.array([[0.2, -0.4], [0.5, 0.1]]),
             np.array([[4.0, 1.0], [2.0, 0.5]]))
    out = problem.many_sweeps("squared", *state, hyper, 3.0, 0.5, sample_hyper=True)
    w0s, ws, Vs, alphas, mu_w, lambda_w, mu_v, lambda_v, _ = out

    residuals = fm_predict_naive(problem.Xd, w0, w, V) - problem.y
    assert_gamma(alphas, *alpha_conditional(residuals, problem.sw), "alpha")
    for g in range(2):
        members = problem.groups == g
        assert_gamma(lambda_w[:, g], *lambda_conditional(w[members], hyper[0][g]),
                     f"lambda_w[{g}]")
        mean, var = mu_conditional(w[members], lambda_w[:, g])
        assert_standard_normal((mu_w[:, g] - mean) / np.sqrt(var), f"mu_w[{g}]")
        for f in range(k):
            assert_gamma(lambda_v[:, g, f],
                         *lambda_conditional(V[members, f], hyper[2][g, f]),
                         f"lambda_v[{g},{f}]")
            mean, var = mu_conditional(V[members, f], lambda_v[:, g, f])
            assert_standard_normal((mu_v[:, g, f] - mean) / np.sqrt(var), f"mu_v[{g},{f}]")
    z = standardised_draws(problem, problem.y, state, (w0s, ws, Vs), alphas, 0.5,
                           (mu_w, lambda_w, mu_v, lambda_v))
    for coord, values in z.items():
        assert_standard_normal(values, f"after hyper {coord}")


def test_hyperpriors_follow_the_prior_constants():
    """The binding's prior_alpha0, prior_beta0, prior_gamma0, prior_mu0 play the roles of
    libFM's alpha_0 (shape), beta_0 (the mean's pseudo-count), gamma_0 (rate), mu_0
    (fm_learn_mcmc.h: alpha ~ Gamma((alpha_0 + N)/2, (gamma_0 + sum e^2)/2), lambda ~
    Gamma((alpha_0 + n + 1)/2, (gamma_0 + beta_0 (mu - mu_0)^2 + sum (w - mu)^2)/2))."""
    problem, state = gibbs_problem(seed=22)
    w0, w, V = state
    hyper = (np.array([0.3, -0.6]), np.array([2.0, 5.0]), np.zeros((2, 2)), np.ones((2, 2)))
    consts = dict(prior_alpha0=3.0, prior_beta0=0.5, prior_gamma0=2.0, prior_mu0=0.7)
    draws = []
    for d in range(N_DRAWS):
        mu_w, lambda_w = hyper[0].copy(), hyper[1].copy()
        mu_v, lambda_v = hyper[2].copy(), hyper[3].copy()
        try:
            out = _core.cd_sweep("mcmc", "squared", w0, w.copy(), V.copy(), problem.indptr,
                                 problem.indices, problem.data, problem.colptr, problem.rows,
                                 problem.cdata, problem.y, problem.sw, problem.order,
                                 problem.block_ptr, problem.groups, mu_w, lambda_w, mu_v,
                                 lambda_v, 1.0, 0.0, 5000 + d, 1, sample_hyper=True, **consts)
        except TypeError:
            pytest.skip("this binding has no prior_* arguments")
        draws.append((out[1], lambda_w[0], mu_w[0]))
    alphas, lam0, mu0 = (np.array(x) for x in zip(*draws))
    residuals = fm_predict_naive(problem.Xd, w0, w, V) - problem.y
    assert_gamma(alphas, *alpha_conditional(residuals, problem.sw, alpha0=3.0, gamma0=2.0),
                 "alpha")
    members = problem.groups == 0
    assert_gamma(lam0, *lambda_conditional(w[members], hyper[0][0], alpha0=3.0, beta0=0.5,
                                           gamma0=2.0, mu0=0.7), "lambda_w[0]")
    mean, var = mu_conditional(w[members], lam0, beta0=0.5, mu0=0.7)
    assert_standard_normal((mu0 - mean) / np.sqrt(var), "mu_w[0]")


# -- probit ----------------------------------------------------------------------------------

@pytest.mark.parametrize("yhat,label", [(0.5, 1.0), (-4.0, 1.0), (2.0, -1.0), (6.0, -1.0),
                                        (-1.0, -1.0)])
def test_probit_latent_draw_is_the_truncated_normal(yhat, label):
    """One row (x = 1 on one feature, w = yhat, w0 = 0, V = 0) with sample weight 1e8 and
    a flat prior on w0: w0's conditional given z is N(z - yhat, 1e-8), so the new w0 + yhat
    is the latent draw z ~ TN(yhat, 1) on the side of the label, to 1e-4."""
    problem = Problem(np.array([[1.0]]), np.array([label]), np.array([1e8]))
    hyper = (np.zeros(1), np.ones(1), np.zeros((1, 1)), np.ones((1, 1)))
    out = problem.many_sweeps("probit", 0.0, np.array([yhat]), np.zeros((1, 1)), hyper,
                              1.0, 0.0)
    z = out[0] + yhat
    assert np.all(out[3] == 1.0)  # alpha is fixed for probit
    if label > 0:
        assert np.all(z > -1e-3)
        dist = stats.truncnorm(-yhat, np.inf, loc=yhat)
    else:
        assert np.all(z < 1e-3)
        dist = stats.truncnorm(-np.inf, -yhat, loc=yhat)
    mean, var = probit_latent_moments(yhat, label)
    np.testing.assert_allclose([mean, var], [dist.mean(), dist.var()], rtol=1e-8)
    assert_moments(z, float(mean), float(var) + 1e-8, f"z | yhat={yhat}, y={label}")
    assert stats.kstest(z, dist.cdf).pvalue > 1e-4


@pytest.mark.parametrize("sample_hyper", [False, True])
def test_probit_linear_sweep_marginal_moments(sample_hyper):
    """V = 0 and lambda_v = 1e12 keep the pairwise term at ~1e-12; the new w0 and w are then
    affine in (z, draws) and their exact marginal moments are known. With
    sample_hyper=True the hyperparameters are drawn first, so only alpha = 1 and the
    w0 moments (whose prior is reg_bias, not drawn) are checked."""
    rng = np.random.default_rng(30)
    m, n = 12, 4
    Xd = np.where(rng.random((m, n)) < 0.5, rng.uniform(0.5, 1.5, (m, n)), 0.0)
    Xd[np.arange(m), rng.integers(0, n, m)] = 1.0
    labels = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    sw = rng.uniform(0.5, 2.0, m)
    groups = np.array([0, 1, 0, 1])
    problem = Problem(Xd, labels, sw, groups)
    w0, w = 0.2, rng.normal(0.0, 0.7, n)
    mu_w, lambda_w = np.array([0.2, -0.3]), np.array([1.5, 0.4])
    hyper = (mu_w, lambda_w, np.zeros((2, 1)), np.full((2, 1), 1e12))
    out = problem.many_sweeps("probit", w0, w, np.zeros((n, 1)), hyper, 1.0, 0.3,
                              sample_hyper=sample_hyper)
    w0s, ws, Vs, alphas = out[:4]
    assert np.all(alphas == 1.0)
    mean, var = probit_linear_sweep_moments(Xd, labels, w0, w, problem.order, 0.3,
                                            mu_w[groups], lambda_w[groups], sw)
    assert_moments(w0s, mean[0], var[0], "w0")
    if sample_hyper:
        return
    assert np.abs(Vs).max() < 1e-4
    for j in range(n):
        assert_moments(ws[:, j], mean[1 + j], var[1 + j], f"w[{j}]")


def test_probit_linear_moments_reference_by_simulation():
    """The affine bookkeeping of probit_linear_sweep_moments against a plain NumPy
    simulation of the same sweep (z drawn, then each coordinate from its conditional)."""
    rng = np.random.default_rng(31)
    m, n = 8, 3
    Xd = rng.uniform(-1.0, 1.0, (m, n))
    labels = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    sw = rng.uniform(0.5, 2.0, m)
    w0, w = 0.1, rng.normal(0.0, 0.5, n)
    order = np.array([2, 0, 1])
    lam, mu = np.array([0.5, 2.0, 1.0]), np.array([0.1, -0.2, 0.3])
    mean, var = probit_linear_sweep_moments(Xd, labels, w0, w, order, 0.4, mu, lam, sw)
    D = 200_000
    yhat = w0 + Xd @ w
    lo = np.where(labels > 0, -yhat, -np.inf)
    hi = np.where(labels > 0, np.inf, -yhat)
    z = stats.truncnorm(lo, hi, loc=yhat).rvs(size=(D, m), random_state=rng)
    params = np.tile(np.concatenate([[w0], w]), (D, 1))
    design = np.hstack([np.ones((m, 1)), Xd])
    for p, m0, p0 in [(0, 0.0, 0.4)] + [(1 + j, mu[j], lam[j]) for j in order]:
        a = params @ design.T - params[:, [p]] * design[:, p][None]
        mu_c, var_c = gaussian_conditional(a, np.broadcast_to(design[:, p], a.shape), z, 1.0,
                                           m0, p0, sw)
        params[:, p] = mu_c + np.sqrt(var_c) * rng.standard_normal(D)
    np.testing.assert_allclose(params.mean(axis=0), mean, atol=5 * np.sqrt(var.max() / D))
    np.testing.assert_allclose(params.var(axis=0), var, rtol=0.02)


# -- the estimator ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted():
    data = make_planted_fm(n_samples=50_000, n_fields=4, field_cardinality=30, n_factors=4,
                           noise_std=0.5, zipf_exponent=0.5, random_state=0)
    return data, data.split(40_000)


MCMC_SETTINGS = dict(solver="mcmc", n_factors=4, n_epochs=60, init_std=0.1)


def test_planted_regression_reaches_the_noise_floor(planted):
    data, (X_tr, y_tr, X_te, y_te) = planted
    start = time.perf_counter()
    est = FMRegressor(**MCMC_SETTINGS, random_state=0, n_jobs=1).fit(X_tr, y_tr)
    seconds = time.perf_counter() - start
    error = rmse(est.predict(X_te), y_te)
    assert error <= 1.05 * data.noise_floor, (error, data.noise_floor)
    # the noise precision is learnt: 1 / sqrt(alpha) is near the noise std
    assert abs(1.0 / np.sqrt(est.alpha_) / data.noise_floor - 1) < 0.05, est.alpha_
    assert est.history_[-1]["alpha"] == est.alpha_
    assert all(h["solver"] == "mcmc" for h in est.history_)
    assert est.t_ == est.n_iter_ == len(est.history_) == 60
    assert seconds < 20


def test_planted_classification_reaches_the_bayes_logloss():
    data = make_planted_fm(n_samples=80_000, n_fields=4, field_cardinality=20, n_factors=4,
                           zipf_exponent=0.5, task="classification", random_state=0)
    X_tr, y_tr, X_te, y_te = data.split(60_000)
    est = FMClassifier(**MCMC_SETTINGS, random_state=0, n_jobs=1).fit(X_tr, y_tr)
    proba = est.predict_proba(X_te)[:, 1]
    ours = logloss(y_te, proba)
    assert ours <= 1.10 * data.noise_floor, (ours, data.noise_floor)
    assert ours < logloss(y_te, np.full(y_te.shape, y_tr.mean())) - 0.05
    assert est.alpha_ == 1.0


@needs_openmp
def test_one_and_two_threads_agree_within_monte_carlo_error(planted):
    """Features updated together share no row, so the 2-thread sweep is the same Gibbs
    sampler: the posterior predictive RMSE agrees within the chain-to-chain spread."""
    data, (X_tr, y_tr, X_te, y_te) = planted
    X_tr, y_tr = X_tr[:20_000], y_tr[:20_000]
    errors = {}
    for n_jobs in (1, 2):
        errors[n_jobs] = []
        for seed in range(4):
            est = FMRegressor(**dict(MCMC_SETTINGS, n_epochs=40), random_state=seed,
                              n_jobs=n_jobs).fit(X_tr, y_tr)
            assert est.history_[-1]["n_threads"] == n_jobs
            errors[n_jobs].append(rmse(est.predict(X_te), y_te))
    e1, e2 = np.array(errors[1]), np.array(errors[2])
    spread = np.sqrt(e1.var(ddof=1) / e1.size + e2.var(ddof=1) / e2.size)
    assert abs(e1.mean() - e2.mean()) <= 5 * spread + 1e-3 * e1.mean(), (e1, e2)
    assert e2.max() <= 1.05 * data.noise_floor


@pytest.fixture(scope="module")
def small_planted():
    data = make_planted_fm(n_samples=2500, n_fields=3, field_cardinality=10, n_factors=2,
                           noise_std=0.3, zipf_exponent=0.0, random_state=1)
    return data.split(2000)


def recording_callback(store):
    def record(est, history):
        store.append((est.w0_, est.w_.copy(), est.V_.copy(), len(history)))
    return record


@pytest.mark.parametrize("n_kept, expected_s", [(None, 7), (4, 4), (12, 12)])
def test_regressor_predict_averages_the_kept_samples(small_planted, n_kept, expected_s):
    X_tr, y_tr, X_te, _ = small_planted
    chain = []
    est = FMRegressor(solver="mcmc", n_factors=3, n_epochs=12, n_kept_samples=n_kept,
                      dtype=np.float64, random_state=0, n_jobs=1,
                      callbacks=[recording_callback(chain)]).fit(X_tr, y_tr)
    # None: every sweep but a burn-in of min(5, t_ // 2) = 5
    S = expected_s
    assert [c[3] for c in chain] == list(range(1, 13))
    assert est.samples_w0_.shape == (S,)
    assert est.samples_w_.shape == (S, X_tr.shape[1])
    assert est.samples_V_.shape == (S, X_tr.shape[1], 3)
    # the kept samples are the last S states of the chain, the last one is w0_, w_, V_
    for s, (w0, w, V, _) in enumerate(chain[-S:]):
        assert est.samples_w0_[s] == w0
        np.testing.assert_array_equal(est.samples_w_[s], w)
        np.testing.assert_array_equal(est.samples_V_[s], V)
    assert est.w0_ == est.samples_w0_[-1]
    np.testing.assert_array_equal(est.V_, est.samples_V_[-1])
    per_sample = [np.clip(fm_predict_naive(X_te, est.samples_w0_[s], est.samples_w_[s],
                                           est.samples_V_[s]), y_tr.min(), y_tr.max())
                  for s in range(S)]
    np.testing.assert_allclose(est.predict(X_te), np.mean(per_sample, axis=0), rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(est._predict_current(X_te),
                               fm_predict_naive(X_te, est.w0_, est.w_, est.V_), rtol=1e-9,
                               atol=1e-9)
    # shapes of the hyperparameters (one group)
    assert est.mu_w_.shape == est.lambda_w_.shape == (1,)
    assert est.mu_v_.shape == est.lambda_v_.shape == (1, 3)
    assert np.isfinite(est.alpha_) and est.alpha_ > 0


def test_classifier_predict_proba_averages_phi_over_the_samples(small_planted):
    X_tr, y_tr, X_te, _ = small_planted
    labels = np.where(y_tr > np.median(y_tr), "hi", "lo")
    est = FMClassifier(solver="mcmc", n_factors=3, n_epochs=10, n_kept_samples=6,
                       dtype=np.float64, random_state=0, n_jobs=1,
                       feature_groups=np.repeat([0, 1, 2], 10)).fit(X_tr, labels)
    assert list(est.classes_) == ["hi", "lo"]
    assert est.samples_V_.shape == (6, 30, 3)
    assert est.mu_v_.shape == (3, 3) and est.lambda_w_.shape == (3,)
    phi = [probit_cdf(fm_predict_naive(X_te, est.samples_w0_[s], est.samples_w_[s],
                                       est.samples_V_[s])) for s in range(6)]
    proba = est.predict_proba(X_te)
    np.testing.assert_allclose(proba[:, 1], np.mean(phi, axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert set(np.unique(est.predict(X_te))) <= {"hi", "lo"}
    # classes_[1] ("lo") is the positive class: with it as label +1 the chain fits y
    train = est.predict_proba(X_tr)[:, 1]
    assert np.mean((train > 0.5) == (labels == "lo")) > 0.7


def test_warm_start_continues_the_chain_with_its_hyperparameters(small_planted):
    """The chain goes on from the stored state, hyperparameters included. To see that
    the hyperparameters are used, the stored means are set to 1e3: the next lambda
    draw (rate ~ (mu - 0)^2 / 2) is then ~1e-6 and the next mu ~ N(mean w, ~1e3^2 / n_g),
    far from the O(1) values of a chain that restarted its hyperparameters."""
    X_tr, y_tr, _, _ = small_planted
    kw = dict(solver="mcmc", n_factors=3, random_state=3, n_jobs=1, dtype=np.float64,
              feature_groups=np.repeat([0, 1, 2], 10))
    est = FMRegressor(n_epochs=10, warm_start=True, **kw).fit(X_tr, y_tr)
    assert est.t_ == 10
    assert np.abs(est.mu_w_).max() < 10 and np.abs(est.mu_v_).max() < 10
    est.fit(X_tr, y_tr)
    assert est.t_ == 20
    assert est.history_[-1]["epoch"] == 20
    est.mu_w_ = np.full_like(est.mu_w_, 1e3)
    est.mu_v_ = np.full_like(est.mu_v_, 1e3)
    est.set_params(n_epochs=1).fit(X_tr, y_tr)
    assert est.t_ == 21
    means = np.concatenate([est.mu_w_.ravel(), est.mu_v_.ravel()])
    assert np.abs(means).max() > 10, means
    assert est.lambda_w_.max() < 1e-2, est.lambda_w_


def test_warm_start_10_plus_10_is_the_20_sweep_chain(small_planted):
    """As for SGD (test_lifecycle), one thread: the chain of 10 + 10 sweeps is the chain
    of 20, bit for bit."""
    X_tr, y_tr, _, _ = small_planted
    kw = dict(solver="mcmc", n_factors=3, random_state=3, n_jobs=1, dtype=np.float64)
    twenty = FMRegressor(n_epochs=20, **kw).fit(X_tr, y_tr)
    warm = FMRegressor(n_epochs=10, warm_start=True, **kw).fit(X_tr, y_tr).fit(X_tr, y_tr)
    assert warm.t_ == twenty.t_ == 20
    assert warm.w0_ == twenty.w0_
    np.testing.assert_array_equal(warm.w_, twenty.w_)
    np.testing.assert_array_equal(warm.V_, twenty.V_)
    assert warm.alpha_ == twenty.alpha_
    np.testing.assert_array_equal(warm.lambda_v_, twenty.lambda_v_)


# -- bad input -------------------------------------------------------------------------------

BAD_PARAMETERS = [
    (dict(solver="nope"), "solver"),
    (dict(solver="mcmc", feature_groups=[0, 1, 0]), "feature_groups"),
    (dict(solver="als", feature_groups=[0, 1, 0]), "feature_groups"),
    (dict(solver="mcmc", feature_groups=[0, 1, -1, 0, 1, 0]), "feature_groups"),
    (dict(solver="mcmc", feature_groups=[0, 1, 0.5, 0, 1, 0]), "feature_groups"),
    (dict(solver="mcmc", n_epochs=5, n_kept_samples=6), "n_kept_samples"),
    (dict(solver="mcmc", n_epochs=5, n_kept_samples=0), "n_kept_samples"),
]


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
@pytest.mark.parametrize("params,match", BAD_PARAMETERS)
def test_bad_parameters_raise_clear_errors(cls, params, match):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6))
    y = rng.normal(size=30) if cls is FMRegressor else (rng.random(30) > 0.5)
    est = cls(**params)
    # a non-integer group id may equally be called a wrong type
    errors = (ValueError, TypeError) if 0.5 in params.get("feature_groups", []) else ValueError
    with pytest.raises(errors, match=match):
        est.fit(X, y)
    assert not hasattr(est, "V_")


# -- MovieLens 100k --------------------------------------------------------------------------

def test_movielens_u1_mcmc():
    """About 2 s on one thread (so not marked slow); 0.9196 / 0.9235 / 0.9210 with
    random_state 0 / 1 / 2 when written."""
    X_tr, y_tr, X_te, y_te = load_movielens(data_path("ml-100k", "u1.base"),
                                            data_path("ml-100k", "u1.test"))
    est = FMRegressor(solver="mcmc", n_factors=8, n_epochs=100, init_std=0.1, random_state=0,
                      n_jobs=1).fit(X_tr, y_tr)
    error = rmse(est.predict(X_te), y_te)
    assert error < 0.925, error
    assert error < rmse(np.full_like(y_te, y_tr.mean()), y_te) - 0.15
