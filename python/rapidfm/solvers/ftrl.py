"""FTRL-proximal for w0 and w, with AdaGrad on V (xLearn's and DiFacto's FTRL for FM).

Per coordinate of w0 and w, with g the loss gradient, eta = learning_rate,
beta = ftrl_beta, l1 = reg_linear_l1 and l2 = reg_linear (reg_bias for w0, which has
no L1), the state n (sum of g^2) and z evolve as

    sigma = (sqrt(n + g^2) - sqrt(n)) / eta,  z += g - sigma w,  n += g^2,
    w = 0 if |z| <= l1, else -(z - sign(z) l1) / ((beta + sqrt(n)) / eta + l2),

(McMahan et al., "Ad click prediction: a view from the trenches", 2013): the L1 term
sets the weights of uninformative features to exactly 0. The factors V take the
AdaGrad step with reg_factors. The state is the fitted attributes sum_sq_grad_w0_,
sum_sq_grad_w_ (the n), ftrl_z_w0_, ftrl_z_w_ and sum_sq_grad_V_.
"""

import numpy as np

from rapidfm._validation import check_real_param
from rapidfm.solvers import register_solver
from rapidfm.solvers._adaptive import (
    SUM_SQ_V,
    SUM_SQ_W,
    SUM_SQ_W0,
    Z_W,
    Z_W0,
    AdaptiveSolver,
)


@register_solver
class FTRLSolver(AdaptiveSolver):
    name = "ftrl"
    rule = "ftrl"
    uses_z = True
    parameters = AdaptiveSolver.parameters + ("reg_linear_l1", "ftrl_beta")
    state_attributes = (SUM_SQ_W0, SUM_SQ_W, SUM_SQ_V, Z_W0, Z_W)

    @classmethod
    def check_params(cls, est):
        super().check_params(est)
        check_real_param(est, "reg_linear_l1", 0.0, strict=False)
        check_real_param(est, "ftrl_beta", 0.0, strict=False)
        cls.check_schedule(est)

    @classmethod
    def check_schedule(cls, est):
        # the weights are -z eta / (beta + sqrt(n)): a step size that changes between
        # epochs would rescale every weight at once instead of slowing the steps
        if est.schedule != "constant":
            raise ValueError(f"solver='ftrl' takes schedule='constant' only (its per-"
                             f"coordinate step already decays), got {est.schedule!r}")

    def initial_state(self, params):
        # the weights are a function of (z, n): a start without state (a new model, or
        # one another solver trained) takes the z that gives its current weights at n = 0
        est = self.estimator
        eta, beta = self.learning_rate_at(0), float(est.ftrl_beta)
        self.w0_state[1] = float(ftrl_z_for(np.float64(params.w0), eta, beta, 0.0,
                                            float(est.reg_bias)))
        self.z_w[:] = ftrl_z_for(params.w.astype(np.float64), eta, beta,
                                 float(est.reg_linear_l1), float(est.reg_linear))

    def step_options(self):
        est = self.estimator
        return {"ftrl_beta": float(est.ftrl_beta), "ftrl_l1": float(est.reg_linear_l1)}

    def divergence_message(self, t):
        return (f"training diverged in epoch {t + 1}: the loss became NaN or infinite with "
                f"solver='ftrl', learning_rate={self.eta0}. Use a "
                "smaller learning_rate or scale the features.")


def ftrl_z_for(w, eta, beta, l1, l2, n=0.0, z_old=0.0):
    """The z for which FTRL's weight with sum of squares n is w (fastfm_core/src/
    step_rules.h, fm_ftrl_z_for): -w ((beta + sqrt(n)) / eta + l2) - sign(w) l1; a zero
    weight keeps z_old clipped into [-l1, l1], where the weight stays 0. A merge of
    models (rapidfm.dask) averages the weights, sums the n and sets z with this."""
    return np.where(w == 0, np.clip(z_old, -l1, l1),
                    -w * ((beta + np.sqrt(n)) / eta + l2) - np.sign(w) * l1)
