"""ALS: exact coordinate descent on the L2-regularised squared loss (libFM's -method als).

A sweep sets w0, then each feature's w_j and v_j0 .. v_j,k-1 to the exact
minimiser of sum_i s_i (yhat_i - t_i)^2 + reg_bias w0^2 + sum lw[g] w_j^2 +
sum lv[g] v_jf^2 in that coordinate, the others fixed; the objective never
increases. reg_linear / reg_factors are one number or one per feature group
(libFM's -regular with -meta). For FMClassifier, t_i is the expected latent
target of the probit model given the prediction at the start of the sweep.
"""

import numpy as np

from rapidfm.solvers import register_solver
from rapidfm.solvers._columns import ColumnSolver, per_group


@register_solver
class ALSSolver(ColumnSolver):
    name = "als"
    method = "als"
    parameters = ("reg_bias", "reg_linear", "reg_factors", "feature_groups")

    def start_hyper(self, params, continuing):
        k = params.n_factors
        self.alpha = 1.0
        self.lambda_w = per_group(self.estimator, "reg_linear", self.n_groups)
        self.lambda_v = np.ascontiguousarray(np.repeat(
            per_group(self.estimator, "reg_factors", self.n_groups)[:, None], k, axis=1))
        self.mu_w = np.zeros(self.n_groups)
        self.mu_v = np.zeros((self.n_groups, k))
