"""What AdaGrad and FTRL share: SGD's epoch with a per-coordinate step rule and its state.

The kernel takes the rule ("adagrad" or "ftrl") and the state arrays and updates both
the parameters and the state in place (fastfm.h, fm_step_rule: the formulas). The
state is training state: it starts at zero with a new model, is a fitted attribute
after every fit, and a warm start or partial_fit goes on from it, so 5 + 5 epochs are
bit for bit 10 at one thread, as for SGD; save / load keep it. Every parallel mode
keeps it beside the parameters: shared under hogwild, copied and merged with the
parameters under replicas and hybrid.
"""

import numpy as np

from rapidfm.solvers._base import inverse_row_norm
from rapidfm.solvers.sgd import SGDSolver

# the fitted attributes of the state, by the kernel's state slot
SUM_SQ_W0 = "sum_sq_grad_w0_"
SUM_SQ_W = "sum_sq_grad_w_"
SUM_SQ_V = "sum_sq_grad_V_"
Z_W0 = "ftrl_z_w0_"
Z_W = "ftrl_z_w_"


class AdaptiveSolver(SGDSolver):
    """An SGD solver whose kernel step is `rule`, with state arrays."""

    rule = None
    uses_z = False  # FTRL's z (the AdaGrad state is the sums of squares alone)
    default_learning_rate = 0.04  # measured: README, "Defaults"
    scales_targets = True

    def factor_init_scale(self, train):
        return inverse_row_norm(train)

    @classmethod
    def state_shapes(cls, V_shape):
        """{attribute: shape} of the state of a model whose V has shape V_shape (FM:
        (n_features, n_factors), FFM: (n_features, n_fields, n_factors)); () for a float."""
        shapes = {SUM_SQ_W0: (), SUM_SQ_W: (V_shape[0],), SUM_SQ_V: tuple(V_shape)}
        if cls.uses_z:
            shapes.update({Z_W0: (), Z_W: (V_shape[0],)})
        return shapes

    @classmethod
    def check_state(cls, model, fail):
        """The state attributes of a loaded `model`, where it has any, are complete, of
        the model's shapes and dtype, finite, with sums of squares >= 0; `fail(problem)`
        makes the exception to raise."""
        state = vars(model)
        names = cls.state_attributes
        present = [name for name in names if name in state]
        if not present:
            return
        missing = [name for name in names if name not in state]
        if missing:
            raise fail(f"the {cls.name} state is incomplete: it has {', '.join(present)} but "
                       f"not {', '.join(missing)}")
        V = state.get("V_")
        if not isinstance(V, np.ndarray) or V.ndim not in (2, 3):
            return  # the model check reports that
        for name, shape in cls.state_shapes(V.shape).items():
            value = state[name]
            if shape == ():
                if isinstance(value, np.ndarray) and value.ndim == 0:
                    value = value.item()
                if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                    raise fail(f"{cls.name} state {name} must be a number, got {value!r}")
                value = np.asarray(float(value))
            elif (not isinstance(value, np.ndarray) or value.shape != shape
                  or value.dtype != V.dtype):
                raise fail(f"{cls.name} state {name} must be a {V.dtype} array of shape "
                           f"{shape}, got {getattr(value, 'dtype', type(value).__name__)} "
                           f"of shape {getattr(value, 'shape', None)}")
            if not np.isfinite(value).all():
                raise fail(f"{cls.name} state {name} holds NaN or infinite values")
            if name.startswith("sum_sq") and (value < 0).any():
                raise fail(f"{cls.name} state {name} (sums of squared gradients) holds "
                           "negative values")

    def start(self, params, train, continuing, target_attrs):
        super().start(params, train, continuing, target_attrs)
        n_features = params.V.shape[0]
        dtype = params.V.dtype
        est = self.estimator
        state = vars(est)
        # the model's own state when it goes on training (copies: a failed fit leaves the
        # estimator as it was); zeros for a new model or one another solver trained
        resume = continuing and all(name in state for name in self.state_attributes)
        self.w0_state = np.zeros(2)
        self.sum_sq_w = np.zeros(n_features, dtype=dtype)
        self.sum_sq_V = np.zeros(params.V.shape, dtype=dtype)
        self.z_w = np.zeros(n_features, dtype=dtype) if self.uses_z else None
        if resume:
            self.w0_state[0] = float(state[SUM_SQ_W0])
            self.sum_sq_w[:] = state[SUM_SQ_W]
            self.sum_sq_V[:] = state[SUM_SQ_V]
            if self.uses_z:
                self.w0_state[1] = float(state[Z_W0])
                self.z_w[:] = state[Z_W]
        else:
            self.initial_state(params)

    def initial_state(self, params):
        """Sets the state of a start from params without state (all zeros by default)."""

    def step_options(self):
        """The kernel's rule options besides the state (FTRL: beta and L1)."""
        return {}

    def kernel_options(self):
        return dict(rule=self.rule, state=(self.w0_state, self.sum_sq_w, self.z_w,
                                           self.sum_sq_V), **self.step_options())

    def fitted_state(self, t):
        state = {SUM_SQ_W0: float(self.w0_state[0]), SUM_SQ_W: self.sum_sq_w.copy(),
                 SUM_SQ_V: self.sum_sq_V.copy()}
        if self.uses_z:
            state.update({Z_W0: float(self.w0_state[1]), Z_W: self.z_w.copy()})
        return state
