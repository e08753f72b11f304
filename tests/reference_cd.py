"""Independent NumPy references for the ALS and MCMC solvers (not tests themselves).

Everything is written from the model's definition and from the textbook form of
each update, in float64, deliberately without the kernel's bookkeeping (no
running residuals, no cached q_f = sum_j v_jf x_j, no derivative formulas):

* y(x) = w0 + sum_j w_j x_j + sum_{i<j} <v_i, v_j> x_i x_j by the explicit loop
  over pairs, recomputed from scratch whenever it is needed;
* y(x) is affine in any single parameter theta, so a coordinate's dependence is
  read off two evaluations: a = y(theta=0) and h = y(theta=1) - y(theta=0)
  (for w0, w_j, v_jf this is 1, x_j, x_j sum_{l != j} v_lf x_l);
* the exact coordinate minimiser of sum_i s_i (a_i + theta h_i - t_i)^2 + lam theta^2
  is sum s h (t - a) / (sum s h^2 + lam);
* the Gibbs conditional of theta under t_i ~ N(a_i + theta h_i, 1/alpha) (row i's
  likelihood raised to the power s_i) and the prior theta ~ N(m0, 1/p0) is
  Normal with precision alpha sum s h^2 + p0 and mean
  (alpha sum s h (t - a) + p0 m0) / precision;
* the hyperparameter conditionals come from libFM's hierarchical prior by
  conjugacy. With libFM's names for the constants (fm_learn_mcmc.h: alpha_0 a
  shape, gamma_0 a rate, beta_0 the pseudo-count of the mean's prior, mu_0 its
  mean; all 1 except mu_0 = 0): lambda ~ Gamma(alpha0/2, rate gamma0/2),
  mu | lambda ~ N(mu0, 1/(beta0 lambda)), theta_j | mu, lambda ~ N(mu, 1/lambda),
  and the noise precision alpha ~ Gamma(alpha0/2, rate gamma0/2).

Coordinates are named ("w0",), ("w", j) and ("v", j, f); a sweep visits w0, then
for each feature j in `order`: w_j, v_j0, ..., v_j,k-1.
"""

import numpy as np
from scipy.special import log_ndtr, ndtr

# libFM's hyperprior constants (its names; see the module docstring for their roles)
PRIOR = dict(alpha0=1.0, beta0=1.0, gamma0=1.0, mu0=0.0)


def dense(X):
    """X as a float64 ndarray (sparse matrices are densified, duplicates summed)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


# -- the model ------------------------------------------------------------------------------

def fm_predict_naive(X, w0, w, V):
    """y(x) for every row of X, float64, the pairwise term by the double loop over pairs."""
    X = dense(X)
    w = np.asarray(w, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    n_features = X.shape[1]
    out = float(w0) + (X * w[None, :]).sum(axis=1)
    for i in range(n_features):
        for j in range(i + 1, n_features):
            out = out + float(V[i] @ V[j]) * X[:, i] * X[:, j]
    return out


def fm_predict_batch(X, W0, W, V):
    """fm_predict_naive for D parameter sets at once: W0 (D,), W (D, n), V (D, n, k);
    returns (D, n_rows). The same explicit loop over pairs of features."""
    X = dense(X)
    W0 = np.asarray(W0, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    n_features = X.shape[1]
    out = W0[:, None] + (W[:, None, :] * X[None, :, :]).sum(axis=2)
    for i in range(n_features):
        for j in range(i + 1, n_features):
            xx = X[:, i] * X[:, j]
            if not xx.any():
                continue
            out = out + (V[:, i, :] * V[:, j, :]).sum(axis=1)[:, None] * xx[None, :]
    return out


def sweep_coordinates(order, n_factors):
    """The coordinates of one sweep, in the order they are updated."""
    coords = [("w0",)]
    for j in order:
        j = int(j)
        coords.append(("w", j))
        coords.extend(("v", j, f) for f in range(n_factors))
    return coords


def get_coordinate(params, coord):
    """The value of coord in (w0, w, V) (batched arrays give one value per set)."""
    w0, w, V = params
    if coord[0] == "w0":
        return w0
    if coord[0] == "w":
        return w[..., coord[1]]
    return V[..., coord[1], coord[2]]


def set_coordinate(params, coord, value):
    """A new (w0, w, V) with coord set to value (params are not modified)."""
    w0, w, V = params
    if coord[0] == "w0":
        return (value, w, V)
    if coord[0] == "w":
        w = np.array(w, dtype=np.float64, copy=True)
        w[..., coord[1]] = value
        return (w0, w, V)
    V = np.array(V, dtype=np.float64, copy=True)
    V[..., coord[1], coord[2]] = value
    return (w0, w, V)


def affine_in(X, params, coord):
    """(a, h) with y(x_i) = a_i + theta h_i in the coordinate theta, the rest held fixed."""
    a = fm_predict_naive(X, *set_coordinate(params, coord, 0.0))
    h = fm_predict_naive(X, *set_coordinate(params, coord, 1.0)) - a
    return a, h


def affine_in_batch(X, params, coord):
    """affine_in for D parameter sets (w0 (D,), w (D, n), V (D, n, k)): (D, rows) each."""
    D = np.shape(params[0])[0]
    a = fm_predict_batch(X, *set_coordinate(params, coord, np.zeros(D)))
    h = fm_predict_batch(X, *set_coordinate(params, coord, np.ones(D))) - a
    return a, h


def regularisation(w0, w, V, reg_bias, reg_w_per_feature, reg_v_per_feature):
    """reg_bias w0^2 + sum_j lw_j w_j^2 + sum_jf lv_jf v_jf^2 (lv per feature or (n, k))."""
    w = np.asarray(w, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    lw = np.broadcast_to(np.asarray(reg_w_per_feature, dtype=np.float64), w.shape)
    lv = np.asarray(reg_v_per_feature, dtype=np.float64)
    if lv.ndim == 1:
        lv = lv[:, None]
    lv = np.broadcast_to(lv, V.shape)
    return float(reg_bias * w0 ** 2 + (lw * w ** 2).sum() + (lv * V ** 2).sum())


def _weights(sample_weight, n_rows):
    if sample_weight is None:
        return np.ones(n_rows)
    return np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), (n_rows,))


# -- probit ---------------------------------------------------------------------------------

def probit_latent_moments(yhat, y):
    """(E z, Var z) of z ~ N(yhat, 1) truncated to z > 0 (y = +1) or z < 0 (y = -1).

    With m = y yhat and r = phi(m) / Phi(m) (the inverse Mills ratio):
    E z = yhat + y r and Var z = 1 - m r - r^2.
    """
    yhat = np.asarray(yhat, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = y * yhat
    r = np.exp(-0.5 * m * m - 0.5 * np.log(2 * np.pi) - log_ndtr(m))
    return yhat + y * r, 1.0 - m * r - r * r


def probit_expected_target(yhat, y):
    """E[z | y] of the probit model: yhat + phi/Phi(yhat) (y=+1), yhat - phi/Phi(-yhat) (y=-1)."""
    return probit_latent_moments(yhat, y)[0]


def probit_cdf(x):
    """Phi(x)."""
    return ndtr(np.asarray(x, dtype=np.float64))


# -- ALS ------------------------------------------------------------------------------------

def als_objective(X, t, w0, w, V, reg_bias, reg_w_per_feature, reg_v_per_feature,
                  sample_weight=None):
    """sum_i s_i (y(x_i) - t_i)^2 + the L2 terms: what one ALS sweep minimises."""
    p = fm_predict_naive(X, w0, w, V)
    t = np.asarray(t, dtype=np.float64)
    s = _weights(sample_weight, t.size)
    return float((s * (p - t) ** 2).sum()) + regularisation(
        w0, w, V, reg_bias, reg_w_per_feature, reg_v_per_feature)


def probit_objective(X, y, w0, w, V, reg_bias, reg_w_per_feature, reg_v_per_feature,
                     sample_weight=None):
    """-sum_i s_i log Phi(y_i y(x_i)) + (reg_bias w0^2 + sum lw w^2 + sum lv v^2) / 2.

    ALS on the probit model is (generalised) EM for this MAP objective: the
    squared-loss objective with targets E[z | y, yhat_old] is, up to a constant
    and a factor -2, the EM lower bound Q, so a sweep that lowers it cannot raise
    this one.
    """
    p = fm_predict_naive(X, w0, w, V)
    y = np.asarray(y, dtype=np.float64)
    s = _weights(sample_weight, y.size)
    return float(-(s * log_ndtr(y * p)).sum()) + 0.5 * regularisation(
        w0, w, V, reg_bias, reg_w_per_feature, reg_v_per_feature)


def als_sweep_reference(X_dense_or_csr, y, w0, w, V, order, reg_bias, reg_w_per_feature,
                        reg_v_per_feature, sample_weight=None, probit=False):
    """One sweep of exact coordinate descent; returns new float64 (w0, w, V).

    Targets: y (squared loss), or for probit=True (y in {-1, +1}) E[z | y] from the
    predictions at the start of the sweep. Then w0 (strength reg_bias), and for each
    feature j in `order` w_j (reg_w_per_feature[j]) and v_j0..v_j,k-1
    (reg_v_per_feature[j], or [j, f] for an (n, k) array), each set to the exact
    minimiser of als_objective in that coordinate given the current values of all
    others; a coordinate with sum s h^2 + lam == 0 keeps its value.
    """
    X = dense(X_dense_or_csr)
    y = np.asarray(y, dtype=np.float64)
    params = (float(w0), np.array(w, dtype=np.float64), np.array(V, dtype=np.float64))
    n_features, k = params[2].shape
    s = _weights(sample_weight, X.shape[0])
    lw = np.broadcast_to(np.asarray(reg_w_per_feature, dtype=np.float64), (n_features,))
    lv = np.asarray(reg_v_per_feature, dtype=np.float64)
    lv = np.broadcast_to(lv[:, None] if lv.ndim == 1 else lv, (n_features, k))
    t = probit_expected_target(fm_predict_naive(X, *params), y) if probit else y
    for coord in sweep_coordinates(order, k):
        if coord[0] == "w0":
            lam = float(reg_bias)
        elif coord[0] == "w":
            lam = float(lw[coord[1]])
        else:
            lam = float(lv[coord[1], coord[2]])
        a, h = affine_in(X, params, coord)
        denom = float((s * h * h).sum()) + lam
        if denom == 0.0:
            continue
        params = set_coordinate(params, coord, float((s * h * (t - a)).sum()) / denom)
    return params


# -- MCMC -----------------------------------------------------------------------------------

def gaussian_conditional(a, h, t, alpha, prior_mean, prior_prec, sample_weight=None):
    """(mean, variance) of theta given t_i ~ N(a_i + theta h_i, 1/alpha) (power s_i) and
    theta ~ N(prior_mean, 1/prior_prec). Broadcasts over leading axes of a and h (the
    rows are the last axis); alpha, prior_mean, prior_prec broadcast against the rest."""
    a = np.asarray(a, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    s = _weights(sample_weight, a.shape[-1])
    prec = alpha * (s * h * h).sum(axis=-1) + prior_prec
    mean = (alpha * (s * h * (t - a)).sum(axis=-1) + prior_prec * prior_mean) / prec
    return mean, 1.0 / prec


def mcmc_conditional(X, t, w0, w, V, coord, alpha, prior_mean, prior_prec,
                     sample_weight=None):
    """(mean, variance) of one coordinate's Gibbs conditional given all other parameters."""
    a, h = affine_in(X, (float(w0), w, V), coord)
    return gaussian_conditional(a, h, t, alpha, prior_mean, prior_prec, sample_weight)


def conditional_w0(X, t, w0, w, V, alpha, reg_bias, sample_weight=None):
    """w0's conditional: prior N(0, 1/reg_bias) (reg_bias = 0: flat)."""
    return mcmc_conditional(X, t, w0, w, V, ("w0",), alpha, 0.0, reg_bias, sample_weight)


def conditional_w(X, t, w0, w, V, j, alpha, mu_w, lambda_w, sample_weight=None):
    """w_j's conditional: prior N(mu_w, 1/lambda_w) (the values of j's group)."""
    return mcmc_conditional(X, t, w0, w, V, ("w", j), alpha, mu_w, lambda_w, sample_weight)


def conditional_v(X, t, w0, w, V, j, f, alpha, mu_v, lambda_v, sample_weight=None):
    """v_jf's conditional: prior N(mu_v, 1/lambda_v) (the values of (group of j, f))."""
    return mcmc_conditional(X, t, w0, w, V, ("v", j, f), alpha, mu_v, lambda_v,
                            sample_weight)


def coordinate_prior(coord, groups, reg_bias, mu_w, lambda_w, mu_v, lambda_v):
    """(prior mean, prior precision) of a coordinate; mu_* / lambda_* indexed by group
    (and factor) along their last axes, so (D, G) / (D, G, k) arrays give (D,) results."""
    if coord[0] == "w0":
        return 0.0, reg_bias
    g = int(groups[coord[1]])
    if coord[0] == "w":
        return np.asarray(mu_w)[..., g], np.asarray(lambda_w)[..., g]
    f = coord[2]
    return np.asarray(mu_v)[..., g, f], np.asarray(lambda_v)[..., g, f]


def lambda_conditional(values, mu, alpha0=1.0, beta0=1.0, gamma0=1.0, mu0=0.0):
    """(shape, rate) of the Gamma conditional of a group's precision lambda given its
    mean mu and its members' values (n of them), under lambda ~ Gamma(alpha0/2, gamma0/2),
    mu | lambda ~ N(mu0, 1/(beta0 lambda)), value_j ~ N(mu, 1/lambda):
    lambda^(alpha0/2 - 1 + 1/2 + n/2) exp(-lambda (gamma0 + beta0 (mu - mu0)^2
    + sum (values - mu)^2) / 2), so shape (alpha0 + n + 1) / 2 and rate
    (gamma0 + beta0 (mu - mu0)^2 + sum (values - mu)^2) / 2."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    shape = (alpha0 + n + 1) / 2.0
    rate = (gamma0 + beta0 * (mu - mu0) ** 2 + ((values - mu) ** 2).sum()) / 2.0
    return shape, rate


def mu_conditional(values, lam, beta0=1.0, mu0=0.0):
    """(mean, variance) of the Normal conditional of a group's mean mu given its precision
    lam: precision (beta0 + n) lam, mean (beta0 mu0 + sum values) / (n + beta0)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    return (beta0 * mu0 + values.sum()) / (n + beta0), 1.0 / ((n + beta0) * lam)


def alpha_conditional(residuals, sample_weight=None, alpha0=1.0, gamma0=1.0):
    """(shape, rate) of the noise precision's Gamma conditional under
    alpha ~ Gamma(alpha0/2, gamma0/2) and e_i ~ N(0, 1/alpha) (power s_i): shape
    (alpha0 + sum s) / 2, rate (gamma0 + sum s e^2) / 2."""
    e = np.asarray(residuals, dtype=np.float64)
    s = _weights(sample_weight, e.size)
    return (alpha0 + s.sum()) / 2.0, (gamma0 + (s * e * e).sum()) / 2.0


def probit_linear_sweep_moments(X, y, w0, w, order, reg_bias, mu_w_per_feature,
                                lambda_w_per_feature, sample_weight=None):
    """Exact mean and variance of w0 and every w_j after one MCMC sweep of the probit
    model with no pairwise term (V = 0), marginal over the latent z and the draws.

    The sweep draws z_i ~ TN(y(x_i), 1) (independent, sign y_i), then each coordinate
    from its Gaussian conditional given z (alpha = 1). Without the pairwise term h does
    not depend on the parameters, so every new value is an affine function of
    u = (z_1..z_m, eps_w0, eps_1..eps_n) (eps standard normal): track the coefficients
    and return (mean, variance) arrays of length 1 + n (w0 first, then w by feature).
    """
    X = dense(X)
    m, n = X.shape
    s = _weights(sample_weight, m)
    y = np.asarray(y, dtype=np.float64)
    yhat0 = float(w0) + X @ np.asarray(w, dtype=np.float64)
    ez, vz = probit_latent_moments(yhat0, y)
    n_u = m + 1 + n
    mean_u = np.concatenate([ez, np.zeros(1 + n)])
    var_u = np.concatenate([vz, np.ones(1 + n)])
    # each parameter p = const[p] + coef[p] @ u ; index 0 is w0, 1 + j is w_j
    const = np.concatenate([[float(w0)], np.asarray(w, dtype=np.float64)])
    coef = np.zeros((1 + n, n_u))
    design = np.hstack([np.ones((m, 1)), X])  # y(x_i) = design[i] @ params
    z_coef = np.hstack([np.eye(m), np.zeros((m, 1 + n))])
    mu_w = np.broadcast_to(np.asarray(mu_w_per_feature, dtype=np.float64), (n,))
    lam_w = np.broadcast_to(np.asarray(lambda_w_per_feature, dtype=np.float64), (n,))
    for p, m0, p0 in [(0, 0.0, reg_bias)] + [(1 + int(j), mu_w[j], lam_w[j]) for j in order]:
        h = design[:, p]
        others = design.copy()
        others[:, p] = 0.0
        a_const = others @ const          # (m,)
        a_coef = others @ coef            # (m, n_u)
        prec = (s * h * h).sum() + p0
        # mean = (sum s h (z - a) + p0 m0) / prec, affine in u
        new_const = ((s * h) @ (-a_const) + p0 * m0) / prec
        new_coef = ((s * h) @ (z_coef - a_coef)) / prec
        new_coef[m + p] += 1.0 / np.sqrt(prec)
        const[p] = new_const
        coef[p] = new_coef
    mean = const + coef @ mean_u
    var = (coef * coef) @ var_u
    return mean, var
