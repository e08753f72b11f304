"""Mini-batch training with a PyTorch optimizer (Adam or Adagrad): the solver of the
neural FMs (rapidfm.deep: AFM, DeepFM).

It needs no torch itself: the model kind (rapidfm.deep.model_kind.NetworkParameters)
owns the module and runs the batches; this solver keeps the optimizer (its moments carry
over from epoch to epoch of one fit; a warm start begins a fresh one) and the schedule.
"""

from rapidfm._validation import check_int_param, check_real_param
from rapidfm.solvers import register_solver
from rapidfm.solvers._base import Solver, inverse_row_norm
from rapidfm.solvers._schedule import LearningRateSchedule

OPTIMIZERS = ("adam", "adagrad")
# learning_rate=None: torch's defaults for Adam (Kingma & Ba) and DeepCTR's for Adagrad
DEFAULT_RATES = {"adam": 0.001, "adagrad": 0.01}


@register_solver
class MinibatchSolver(LearningRateSchedule, Solver):
    name = "minibatch"
    parameters = ("optimizer", "learning_rate", "schedule", "power_t", "batch_size",
                  "reg_linear", "reg_factors", "reg_network", "block_rows")

    @classmethod
    def check_params(cls, est):
        if not getattr(est, "_is_network", False):
            raise ValueError("solver='minibatch' trains the neural FMs of rapidfm.deep (AFM, "
                             f"DeepFM), not {type(est).__name__}")
        if est.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {est.optimizer!r}")
        if est.learning_rate is not None:
            check_real_param(est, "learning_rate", 0.0, strict=True)
        check_int_param(est, "batch_size", 1)
        for name in ("reg_linear", "reg_factors", "reg_network"):
            check_real_param(est, name, 0.0, strict=False)
        if est.block_rows is not None:
            check_int_param(est, "block_rows", 1)

    @property
    def eta0(self):
        rate = self.estimator.learning_rate
        return float(rate) if rate is not None else DEFAULT_RATES[self.estimator.optimizer]

    def loss(self, task):
        return "squared" if task == "regression" else "logistic"

    def factor_init_scale(self, train):
        return inverse_row_norm(train)

    def start(self, params, train, continuing, target_attrs):
        self.optimizer = params.optimizer(self.estimator.optimizer, self.eta0)

    def epoch(self, params, train, t, seed):
        est = self.estimator
        lr = self.learning_rate_at(t)
        stats = params.train_epoch(
            train, self.optimizer, learning_rate=lr, loss=self.loss(est._task),
            batch_size=int(est.batch_size), reg_linear=float(est.reg_linear),
            reg_factors=float(est.reg_factors), reg_network=float(est.reg_network), seed=seed,
            n_threads=self.n_threads, block_rows=int(est.block_rows or 0))
        return {"train_loss": stats["loss_sum"] / max(stats["weight_sum"], 1e-300),
                "learning_rate": lr, "n_threads": stats["n_threads"]}

    def advice(self):
        return f"Use a smaller learning_rate than {self.eta0}."
