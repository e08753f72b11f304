"""The interface every solver implements (see rapidfm.solvers)."""


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

    def __init__(self, estimator, n_threads):
        self.estimator = estimator
        self.n_threads = n_threads

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
