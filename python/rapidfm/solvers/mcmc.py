"""MCMC: Gibbs sampling of the Bayesian FM (libFM's -method mcmc).

Each sweep draws the noise precision alpha (regression; 1 for the probit
classifier), each feature group's prior precision and mean for w and for each
factor of V (Normal-Gamma hyperpriors alpha_0 = beta_0 = gamma_0 = 1, mu_0 = 0,
as libFM), then w0 and every w_j, v_jf from its conditional posterior; the
classifier first draws each row's latent target from a truncated normal.

Unlike libFM the sampler keeps its last n_kept_samples samples of (w0, w, V)
as plain arrays, so predict works on new data after fit, a fitted model can be
saved and loaded, and warm_start continues the chain (hyperparameters included).
"""

import numbers

import numpy as np

from rapidfm.solvers import register_solver
from rapidfm.solvers._columns import ColumnSolver

BURN_IN = 5  # sweeps left out of the kept samples by default (at most half of the chain)


def kept_count(n_kept_samples, n_sweeps):
    """How many of a chain's n_sweeps samples a model keeps."""
    if n_kept_samples is None:
        return max(n_sweeps - min(BURN_IN, n_sweeps // 2), 1)
    return min(int(n_kept_samples), n_sweeps)


@register_solver
class MCMCSolver(ColumnSolver):
    name = "mcmc"
    method = "mcmc"
    parameters = ("reg_bias", "feature_groups", "n_kept_samples")
    supports_early_stopping = False
    sample_hyper = True
    state_attributes = ("samples_w0_", "samples_w_", "samples_V_", "alpha_", "mu_w_",
                        "lambda_w_", "mu_v_", "lambda_v_")

    @classmethod
    def check_params(cls, est):
        super().check_params(est)
        value = est.n_kept_samples
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"n_kept_samples must be None or an int, got {value!r}")
            if value < 1:
                raise ValueError(f"n_kept_samples must be >= 1, got {value}")
            if value > est.n_epochs and not est.warm_start:
                raise ValueError(
                    f"n_kept_samples={value} exceeds n_epochs={est.n_epochs}: a chain of "
                    f"{est.n_epochs} sweeps has only {est.n_epochs} samples to keep")
        if est.early_stopping:
            raise ValueError(
                "early_stopping does not apply to solver='mcmc': the prediction averages "
                "the samples of the whole chain, there is no best sweep to go back to. "
                "Pass eval_set to follow the validation loss of the averaged prediction")

    def start_hyper(self, params, continuing):
        est = self.estimator
        G, k = self.n_groups, params.n_factors
        previous = continuing and all(hasattr(est, name) for name in self.state_attributes)
        if previous and (est.mu_w_.shape != (G,) or est.mu_v_.shape != (G, k)):
            raise ValueError(
                f"warm_start=True continues the chain, whose priors have {est.mu_w_.shape[0]} "
                f"feature groups, but feature_groups now defines {G}")
        if previous:
            self.alpha = float(est.alpha_)
            self.mu_w = np.array(est.mu_w_, dtype=np.float64)
            self.lambda_w = np.array(est.lambda_w_, dtype=np.float64)
            self.mu_v = np.array(est.mu_v_, dtype=np.float64, order="C")
            self.lambda_v = np.array(est.lambda_v_, dtype=np.float64, order="C")
            self.previous = (est.samples_w0_, est.samples_w_, est.samples_V_)
        else:
            # libFM's start: alpha 1, every prior mean 0 and precision 0 (the first
            # sweep draws the precisions before anything uses them)
            self.alpha = 1.0
            self.mu_w = np.zeros(G)
            self.lambda_w = np.zeros(G)
            self.mu_v = np.zeros((G, k))
            self.lambda_v = np.zeros((G, k))
            self.previous = None
        # this fit's samples: a ring over its last `capacity` sweeps
        n_epochs = int(est.n_epochs)
        cap = n_epochs if est.n_kept_samples is None else min(int(est.n_kept_samples), n_epochs)
        n, dtype = params.w.size, params.w.dtype
        self.ring_w0 = np.empty(cap)
        self.ring_w = np.empty((cap, n), dtype=dtype)
        self.ring_V = np.empty((cap, n, k), dtype=dtype)
        self.n_drawn = 0
        # validation: sums of the outputs of every sweep, and of those after burn-in
        self.burn_in = min(BURN_IN, n_epochs // 2)
        self.sum_all = self.sum_kept = None
        self.n_all = self.n_kept = 0

    def epoch(self, params, train, t, seed):
        record = super().epoch(params, train, t, seed)
        slot = self.n_drawn % self.ring_w0.size
        self.ring_w0[slot] = params.w0
        self.ring_w[slot] = params.w
        self.ring_V[slot] = params.V
        self.n_drawn += 1
        record["alpha"] = self.alpha
        return record

    def validation_outputs(self, outputs):
        self.sum_all = outputs.copy() if self.sum_all is None else self.sum_all + outputs
        self.n_all += 1
        if self.n_all > self.burn_in:
            self.sum_kept = outputs.copy() if self.sum_kept is None else self.sum_kept + outputs
            self.n_kept += 1
            return self.sum_kept / self.n_kept
        return self.sum_all / self.n_all

    def fitted_state(self, t):
        est = self.estimator
        cap = self.ring_w0.size
        count = min(self.n_drawn, cap)
        if self.n_drawn <= cap:
            # not wrapped: slices, not copies (callbacks install the state every sweep,
            # and copying every kept sample each time would make a fit quadratic)
            w0s, ws, Vs = (self.ring_w0[:count], self.ring_w[:count], self.ring_V[:count])
        else:
            order = np.arange(self.n_drawn - count, self.n_drawn) % cap
            w0s, ws, Vs = self.ring_w0[order], self.ring_w[order], self.ring_V[order]
        if self.previous is not None:
            w0s = np.concatenate([self.previous[0], w0s])
            ws = np.concatenate([self.previous[1], ws])
            Vs = np.concatenate([self.previous[2], Vs])
        keep = kept_count(est.n_kept_samples, t)
        keep = min(keep, w0s.size)
        return {
            "samples_w0_": w0s[w0s.size - keep:],
            "samples_w_": ws[ws.shape[0] - keep:],
            "samples_V_": Vs[Vs.shape[0] - keep:],
            "alpha_": float(self.alpha),
            "mu_w_": self.mu_w.copy(), "lambda_w_": self.lambda_w.copy(),
            "mu_v_": self.mu_v.copy(), "lambda_v_": self.lambda_v.copy(),
        }
