"""The interface every solver implements (see rapidfm.solvers)."""

import numpy as np


def inverse_row_norm(train):
    """1 / the root-mean-square row norm of X, when above 1 (else 1): a factor on init_std.
    On unscaled features (values of 100 or 1000) V ~ N(0, init_std^2) would start with
    pairwise terms far larger than the targets; one-hot rows of a few ones keep about
    init_std. Used by the solvers whose steps do not shrink such a start quickly
    (AdaGrad, FTRL, mini-batch Adam)."""
    n_rows = max(train.n_rows, 1)
    if train.data is None:
        mean_square = float(train.indptr[-1] - train.indptr[0]) / n_rows
    else:
        values = train.data.astype(np.float64)
        mean_square = float(np.dot(values, values)) / n_rows
    return 1.0 / max(1.0, float(np.sqrt(mean_square)))


class Solver:
    """One fit's solver: built by the training loop for each fit / partial_fit call.

    Class attributes
    ----------------
    name : the value of the estimators' ``solver`` parameter.
    parameters : the estimator parameters this solver reads (besides the shared
        ones: n_factors, n_epochs, init_std, n_jobs, random_state, dtype, ...).
    supports_partial_fit, supports_early_stopping : what the loop may ask of it.
    state_attributes : fitted attributes (besides w0_, w_, V_) that hold its
        state, saved with the model and read back by a warm start.
    """

    name = None
    parameters = ()
    supports_partial_fit = False
    supports_early_stopping = True
    state_attributes = ()
    # regression: train on y / target_scale_, a power of 4 near the targets' standard
    # deviation (the loop rescales the parameters exactly, see FMParameters.rescaled)
    scales_targets = False

    def __init__(self, estimator, n_threads):
        self.estimator = estimator
        self.n_threads = n_threads
        self.target_scale = 1.0  # the loop's target scale (scales_targets)

    @classmethod
    def check_state(cls, model, fail):
        """Raise fail(problem) when a loaded model's solver state is inconsistent."""

    def factor_init_scale(self, train):
        """A factor on init_std for the initial V of a new model (1 by default)."""
        return 1.0

    # -- before training -----------------------------------------------------------
    @classmethod
    def check_params(cls, estimator):
        """Raise TypeError / ValueError for a bad solver parameter of `estimator`."""

    def loss(self, task):
        """The kernel's loss name for a task ("regression" or "classification")."""
        raise NotImplementedError

    def arrange_rows(self, train, partial, seed, hold_out):
        """(train, validation) with the training rows as the solver wants them.
        hold_out(rows, shuffled) splits off early-stopping rows, or is None."""
        return (train, None) if hold_out is None else hold_out(train, False)

    def set_validation(self, validation):
        """Takes the fit's validation rows (eval_set or the early-stopping hold-out, a
        _Rows; None without): a solver that trains on them keeps them (SGDA)."""

    def initial_bias(self, default):
        """w0 of a new model (the task's default: the mean target or the log-odds)."""
        return default

    def start(self, params, train, continuing, seed):
        """Prepares the fit (buffers, column views, state read from the estimator)."""

    # -- training ------------------------------------------------------------------
    def epoch(self, params, train, t, seed):
        """One epoch t (0-based count over the model's life) in place on params;
        returns the solver's fields of the history record, "train_loss" included."""
        raise NotImplementedError

    def divergence_message(self, t):
        return f"training diverged in epoch {t + 1}: the loss became NaN or infinite"

    def advice(self):
        """What to change when training diverges (a sentence, or "")."""
        return ""

    def loss_divergence_message(self, t, loss, constant_loss):
        """The message of a fit stopped because its training loss ran away (finite, but
        far above that of a constant prediction): epoch t (from 0)."""
        advice = self.advice()
        return (f"training diverged in epoch {t + 1}: the training loss rose to {loss:.4g}, "
                f"far above the {constant_loss:.4g} of a constant prediction"
                + (f". {advice}" if advice else ""))

    # -- after training ------------------------------------------------------------
    def fitted_state(self, t):
        """{attribute: value} of the solver's state to install on the estimator, after
        t epochs in all."""
        return {}

    def validation_outputs(self, outputs):
        """The validation predictions to score after an epoch, from this epoch's
        (task-transformed) outputs: by default this epoch's own."""
        return outputs

    def nonfinite_message(self, t):
        return (f"training diverged by epoch {t}: parameters became NaN or infinite. Scale "
                "the features or use stronger regularisation.")
