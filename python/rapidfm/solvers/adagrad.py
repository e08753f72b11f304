"""AdaGrad: SGD with a per-coordinate step, as libffm and xLearn train.

Every coordinate theta (w0, each w_j, each v_jf) keeps G, the sum of its squared
gradients g (the L2 term included), and steps theta -= eta g / sqrt(G): coordinates
with large or frequent gradients take small steps, rare features large ones, and the
step does not depend on the scale of the loss or of the features. The state is the
fitted attributes sum_sq_grad_w0_, sum_sq_grad_w_ and sum_sq_grad_V_.
"""

from rapidfm.solvers import register_solver
from rapidfm.solvers._adaptive import SUM_SQ_V, SUM_SQ_W, SUM_SQ_W0, AdaptiveSolver


@register_solver
class AdaGradSolver(AdaptiveSolver):
    name = "adagrad"
    rule = "adagrad"
    state_attributes = (SUM_SQ_W0, SUM_SQ_W, SUM_SQ_V)

    def divergence_message(self, t):
        return (f"training diverged in epoch {t + 1}: the loss became NaN or infinite with "
                f"solver='adagrad', learning_rate={self.eta0}. Use a "
                "smaller learning_rate or scale the features.")
