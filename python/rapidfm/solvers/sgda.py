"""SGDA: SGD with adaptive regularization (Rendle, WSDM 2012; libFM's -method sgda).

Plain SGD needs its L2 strengths tuned by hand (a grid of fits). SGDA learns them
while it trains: after each SGD step on a training row it takes a gradient step on
the strengths themselves, with one validation row, through the parameters the next
step would give (the "look-ahead" w' = w - eta (g + 2 lambda w)): a strength goes
down when shrinking more would have raised the validation loss, and up when it would
have lowered it, and never below 0. Strengths are learned per feature group
(``feature_groups``, libFM's -meta; one group by default): one lambda_w per group and
one lambda_v per group and factor. The kernel is fastfm_core/src/sgda.c, with the
formulas in fastfm.h (fm_sgda_epoch); they are libFM's
(fm_learn_sgd_element_adapt_reg.h), including its loss (p - y)^2 with gradient
2 (p - y) and penalty lambda theta^2 with gradient 2 lambda theta, so a learning
rate means what it means to libFM's SGDA, and twice a step of solver="sgd".

The validation rows are required: ``fit(X, y, eval_set=(X_val, y_val))``, or
``early_stopping=True`` to hold out ``validation_fraction`` of the training rows. They
train the strengths only (never w0, w or V), one row per training row, cycling
through them from the first at every epoch as libFM does, in a random order of their
own each epoch (libFM: the file's order; it asks for shuffled files). As with every
solver the loop reports their loss after each epoch and early stopping works on it
(the strengths are a few numbers tuned on those rows, as a grid search would tune
them). The first epoch of a new model makes no strength steps: libFM's rule, as the
kept gradients are not set yet. reg_linear and reg_factors are not used (the
strengths start at 0, as in libFM); reg_bias is a fixed L2 strength on w0 (libFM: 0).

The state - the strengths ``sgda_reg_w_`` (G,), ``sgda_reg_v_`` (G, k) and the last
loss gradient of every w_j and v_jf, ``sgda_grad_w_`` and ``sgda_grad_V_``, which the
look-ahead uses - is fitted attributes: warm_start goes on from it (5 + 5 epochs
are bit for bit 10 when the first fit ends on its best validation epoch), save / load
keep it. It is the state after the last epoch run, also where the loop went back to
the best validation epoch's w0_, w_ and V_ (as for the adaptive solvers' state).

One thread: every row reads the strengths the previous row's step wrote, and libFM's
SGDA is serial too (n_jobs still parallelises the loop's predictions).
"""

import numpy as np

from rapidfm import _core
from rapidfm._validation import check_real_param, values_or_none
from rapidfm.solvers import register_solver
from rapidfm.solvers._base import Solver
from rapidfm.solvers._columns import resolve_feature_groups
from rapidfm.solvers._schedule import LearningRateSchedule
from rapidfm.solvers.sgd import SCHEDULES

REG_W = "sgda_reg_w_"
REG_V = "sgda_reg_v_"
GRAD_W = "sgda_grad_w_"
GRAD_V = "sgda_grad_V_"


NO_VALIDATION = ("solver='sgda' learns its regularization on validation rows, and there are "
                 "none: pass fit(X, y, eval_set=(X_val, y_val)), or set early_stopping=True to "
                 "hold out validation_fraction of the training rows")


@register_solver
class SGDASolver(LearningRateSchedule, Solver):
    name = "sgda"
    parameters = ("learning_rate", "schedule", "power_t", "reg_bias", "feature_groups")
    state_attributes = (REG_W, REG_V, GRAD_W, GRAD_V)
    default_learning_rate = 0.01  # learning_rate=None (libFM's SGDA needs about this)

    @classmethod
    def check_params(cls, est):
        if est.learning_rate is not None:
            check_real_param(est, "learning_rate", 0.0, strict=True)
        check_real_param(est, "power_t", 0.0, strict=False)
        check_real_param(est, "reg_bias", 0.0, strict=False)
        if est.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {est.schedule!r}")

    @classmethod
    def check_state(cls, model, fail):
        """The SGDA state of a loaded `model`, where it has any: complete, the
        gradients of V_'s shape and dtype, G >= 1 groups of strengths (float64, finite,
        >= 0), feature_groups within them; `fail(problem)` makes the exception."""
        state = vars(model)
        present = [name for name in cls.state_attributes if name in state]
        if not present:
            return
        missing = [name for name in cls.state_attributes if name not in state]
        if missing:
            raise fail(f"the sgda state is incomplete: it has {', '.join(present)} but not "
                       f"{', '.join(missing)}")
        V = state.get("V_")
        if not isinstance(V, np.ndarray) or V.ndim != 2:
            return  # the model check reports that
        n, k = V.shape
        reg_w = state[REG_W]
        n_groups = reg_w.shape[0] if isinstance(reg_w, np.ndarray) and reg_w.ndim == 1 else 0
        if n_groups < 1:
            raise fail(f"sgda state {REG_W} must be a float64 array of one strength per "
                       f"feature group, got {getattr(reg_w, 'shape', type(reg_w).__name__)}")
        expected = {REG_W: ((n_groups,), np.float64), REG_V: ((n_groups, k), np.float64),
                    GRAD_W: ((n,), V.dtype), GRAD_V: ((n, k), V.dtype)}
        for name, (shape, dtype) in expected.items():
            value = state[name]
            if (not isinstance(value, np.ndarray) or value.shape != shape
                    or value.dtype != dtype):
                raise fail(f"sgda state {name} must be a {np.dtype(dtype)} array of shape "
                           f"{shape}, got {getattr(value, 'dtype', type(value).__name__)} "
                           f"of shape {getattr(value, 'shape', None)}")
            if not np.isfinite(value).all():
                raise fail(f"sgda state {name} holds NaN or infinite values")
        for name in (REG_W, REG_V):
            if (state[name] < 0).any():
                raise fail(f"sgda state {name} (regularization strengths) holds negative "
                           "values")
        groups = getattr(model, "feature_groups", None)
        if groups is not None:
            try:
                groups = np.asarray(groups)
            except (TypeError, ValueError):
                return  # fit validates the parameter
            if (groups.shape == (n,) and groups.dtype.kind in "iu" and n
                    and not (0 <= groups.min() and groups.max() < n_groups)):
                raise fail(f"feature_groups names groups {groups.min()}..{groups.max()} but "
                           f"the sgda state has {n_groups} group(s)")

    def loss(self, task):
        return "squared" if task == "regression" else "logistic"

    def set_validation(self, validation):
        if validation is None or validation.n_rows == 0:
            raise ValueError(NO_VALIDATION)
        self.validation = validation

    def start(self, params, train, continuing, target_attrs):
        est = self.estimator
        self.loss_name = self.loss(est._task)
        clip_min, clip_max = est._training_clip(target_attrs)
        self.clip_min, self.clip_max = clip_min / self.target_scale, clip_max / self.target_scale
        n_features, k = params.V.shape
        dtype = params.V.dtype
        self.groups, n_groups = resolve_feature_groups(est.feature_groups, n_features)
        state = vars(est)
        resume = continuing and all(name in state for name in self.state_attributes)
        if resume and np.shape(state[REG_W]) != (n_groups,):
            raise ValueError(
                f"warm_start=True continues the sgda fit, whose regularization has "
                f"{np.shape(state[REG_W])[0]} feature groups, but feature_groups now defines "
                f"{n_groups}")
        # copies: a failed fit leaves the estimator's state as it was
        self.reg_w = np.zeros(n_groups)
        self.reg_v = np.zeros((n_groups, k))
        self.grad_w = np.zeros(n_features, dtype=dtype)
        self.grad_V = np.zeros((n_features, k), dtype=dtype)
        if resume:
            self.reg_w[:] = state[REG_W]
            self.reg_v[:] = state[REG_V]
            self.grad_w[:] = state[GRAD_W]
            self.grad_V[:] = state[GRAD_V]
        # libFM makes no strength step before every kept gradient has been set once
        self.epochs_before_lambda = 0 if resume else 1
        self.epochs_done = 0
        v = self.validation
        indices = v.indices
        if indices.dtype != train.indices.dtype:  # the kernel takes one index type
            indices = indices.astype(train.indices.dtype)
        data = values_or_none(v.data)
        if data is not None:
            data = np.ascontiguousarray(data, dtype=dtype)
        self.val = (np.ascontiguousarray(v.indptr, dtype=np.int64),
                    np.ascontiguousarray(indices), data,
                    np.ascontiguousarray(v.y / self.target_scale, dtype=np.float64),
                    None if v.sample_weight is None
                    else np.ascontiguousarray(v.sample_weight, dtype=np.float64))

    def epoch(self, params, train, t, seed):
        est = self.estimator
        lr = self.learning_rate_at(t)
        self.last_learning_rate = lr
        lambda_steps = self.epochs_done >= self.epochs_before_lambda
        params.w0, stats = _core.sgda_epoch(
            params.w0, params.w, params.V, train.indptr, train.indices, train.data, train.y,
            train.sample_weight, *self.val, groups=self.groups, reg_w=self.reg_w,
            reg_v=self.reg_v, grad_w=self.grad_w, grad_V=self.grad_V, loss=self.loss_name,
            learning_rate=lr, clip_min=self.clip_min, clip_max=self.clip_max,
            reg_bias=float(est.reg_bias), lambda_steps=lambda_steps, shuffle=True, seed=seed)
        self.epochs_done += 1
        return {
            "train_loss": stats["loss_sum"] / max(stats["weight_sum"], 1e-300),
            "learning_rate": lr,
            "n_threads": 1,
            "parallel_mode": "serial",
        }

    def fitted_state(self, t):
        return {REG_W: self.reg_w.copy(), REG_V: self.reg_v.copy(),
                GRAD_W: self.grad_w.copy(), GRAD_V: self.grad_V.copy()}

    def advice(self):
        return (f"Use a smaller learning_rate than {self.eta0} (with the squared loss an "
                "SGDA step is twice an SGD step at the same rate) or scale the features.")

    def divergence_message(self, t):
        return (f"training diverged in epoch {t + 1}: the loss became NaN or infinite with "
                f"solver='sgda', learning_rate={self.eta0}. {self.advice()}")

    def nonfinite_message(self, t):
        return (f"training diverged by epoch {t}: parameters became NaN or infinite with "
                f"solver='sgda', learning_rate={self.eta0}. {self.advice()}")
