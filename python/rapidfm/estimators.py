"""FMRegressor and FMClassifier: Factorization Machines with a choice of solver.

The estimators follow scikit-learn's conventions: __init__ stores its
arguments untouched, fit validates them and the data, and every fitted
attribute ends in an underscore. The C kernel (rapidfm._core) runs the epochs
with the GIL released.

Three pieces make a fit, each in its own place:
- the model kind (rapidfm.model_kinds.FMParameters): the parameters w0, w, V,
  their initialisation and the prediction;
- the task (the estimator class): FMRegressor (squared loss, clipped
  predictions) or FMClassifier (two labels; logistic loss for SGD, the probit
  model for ALS and MCMC): targets, losses and metrics;
- the solver (rapidfm.solvers, picked by solver="sgd" | "als" | "mcmc"): how
  an epoch moves the parameters, and what state it keeps besides them.
The training loop below is shared by every solver: epochs, validation, early
stopping, callbacks, history, and the rollback of a failed fit.

The whole training state is held in public fitted attributes (plain Python
values and numpy arrays), so a saved model can go on training: besides the
parameters w0_, w_ and V_, t_ counts the epochs done (it drives the
learning-rate schedule) and random_seed_ is the integer from which every
random stream of the model derives (the initialisation, the visit order of
epoch t, the validation split). Epoch t visits the rows in the order of a seed
that depends only on (random_seed_, t), so 10 epochs of fit give bit for bit
the model of 5 epochs followed by 5 more with warm_start=True (one thread).
"""

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rapidfm import _core
from rapidfm._feature_names import check_feature_names, feature_names_of
from rapidfm._registry import register_estimator
from rapidfm._sklearn_compat import (
    BaseEstimator,
    ClassifierMixin,
    NotFittedError,
    RegressorMixin,
    available_if,
)
from rapidfm._validation import (
    as_csr,
    check_dtype,
    check_int_param,
    check_real_param,
    check_sample_weight,
    check_y,
    effective_n_threads,
    large_values_hint,
    values_or_none,
)
from rapidfm.inspection import InspectionMixin
from rapidfm.model_kinds import FMParameters
from rapidfm.solvers import SOLVERS, get_solver
from rapidfm.solvers.sgd import shuffled as _shuffled

DivergenceError = _core.DivergenceError

_SEED_LIMIT = 2**63
# the sparse types whose 1-row instances predict takes without conversion
_ONE_ROW_SPARSE = tuple(t for t in (sp.csr_matrix, getattr(sp, "csr_array", None)) if t)
_KERNEL_INDEX_TYPES = (np.dtype(np.int32), np.dtype(np.int64))
# spawn keys of the random streams derived from random_seed_ (the initialisation of V
# uses the seed itself, as np.random.default_rng(random_seed_); 3 is shuffle="copy")
_EPOCH_STREAM = 1
_SPLIT_STREAM = 2


def _resolve_seed(random_state):
    """The integer seed of a new model, from None, an int, a Generator or a RandomState."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, _SEED_LIMIT))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if random_state is None:
        return int(np.random.default_rng().integers(0, _SEED_LIMIT))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return int(random_state)
    raise TypeError(
        f"random_state must be None, an int or a numpy random generator, got {random_state!r}"
    )


def _epoch_seed(seed, epoch):
    """Seed of the visit order of epoch `epoch` (from 0): a function of (seed, epoch) only."""
    state = np.random.SeedSequence(seed, spawn_key=(_EPOCH_STREAM, int(epoch)))
    return int(state.generate_state(1, np.uint64)[0])


@dataclass
class _Rows:
    """A validated CSR block with its encoded targets and weights."""

    indptr: np.ndarray
    indices: np.ndarray
    data: object  # ndarray, or None when every stored value is 1
    y: np.ndarray
    sample_weight: object  # ndarray or None
    block_rows: int = 0  # the kernel's visit order: 0 all rows at once, else by blocks
    fields: object = None  # field-aware models: int32 field of every stored value
    pairs: object = None  # ranking: the training pairs (rapidfm._pairs.TrainingPairs)
    groups: object = None  # ranking: the group id of every row (validation metrics)

    @property
    def n_rows(self):
        return self.indptr.size - 1

    def take(self, rows, n_threads=1):
        """A copy of these rows, in this order."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        y, sw = (None if a is None else np.ascontiguousarray(a, dtype=np.float64)
                 for a in (self.y, self.sample_weight))
        indptr, indices, data, y, sw = _core.take_rows(self.indptr, self.indices, self.data,
                                                       y, sw, rows, n_threads)
        fields = None
        if self.fields is not None:  # gathered as a second index array of the same rows
            fields = _core.gather_rows(self.indptr, self.fields, None, rows, n_threads)[1]
        return _Rows(indptr, indices, data, y, sw, fields=fields)


# every solver's state attributes: a fit by one solver drops those of another
def _solver_takes_chunks(estimator):
    """partial_fit exists for solver="sgd" only: ALS and MCMC sweep all the rows."""
    try:
        return get_solver(estimator.solver).supports_partial_fit
    except ValueError:
        return True  # an unknown solver: partial_fit then says so


# A fit stops with DivergenceError when an epoch's training loss is finite but has run
# away: above RUNAWAY_FACTOR times that of a constant prediction, or both above the
# constant's and GROWTH_FACTOR times the lowest loss of the call's earlier epochs. SGD at
# too large a step climbs by orders of magnitude within a few epochs (a float64 model can
# reach 1e179 without overflowing), while an epoch that merely went the wrong way stays
# far inside these bounds.
RUNAWAY_FACTOR = 100.0
GROWTH_FACTOR = 10.0


def _runs_away(loss, lowest, constant_loss):
    if not np.isfinite(loss):
        return True
    if loss > RUNAWAY_FACTOR * constant_loss:
        return True
    return lowest is not None and loss > constant_loss and loss > GROWTH_FACTOR * lowest


def target_scale_of_std(std):
    """The power of 4 nearest the targets' standard deviation (1 where it is 0 or not
    finite): the factor a regressor whose solver scales targets divides them by. A power
    of 4 makes the rescaling of the parameters exact (FMParameters.rescaled)."""
    if not (np.isfinite(std) and std > 0):
        return 1.0
    exponent = int(np.clip(np.round(np.log2(std) / 2.0), -60, 60))
    return float(np.ldexp(1.0, 2 * exponent))


def _solver_state_names():
    return {name for cls in SOLVERS.values() for name in cls.state_attributes}


class _BaseFM(InspectionMixin, BaseEstimator):
    """Shared parameters, training loop and prediction of both estimators."""

    _task = None  # "regression" or "classification"

    def __init__(
        self,
        n_factors=8,
        n_epochs=25,
        learning_rate=None,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=0.01,
        reg_factors=0.06,
        init_std=0.1,
        n_jobs=None,
        random_state=None,
        dtype=np.float32,
        parallel="auto",
        verbose=0,
        callbacks=None,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        block_rows=None,
        shuffle="auto",
        solver="adagrad",
        feature_groups=None,
        n_kept_samples=None,
        reg_linear_l1=0.0,
        ftrl_beta=1.0,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.power_t = power_t
        self.reg_bias = reg_bias
        self.reg_linear = reg_linear
        self.reg_factors = reg_factors
        self.init_std = init_std
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.dtype = dtype
        self.parallel = parallel
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.block_rows = block_rows
        self.shuffle = shuffle
        self.solver = solver
        self.feature_groups = feature_groups
        self.n_kept_samples = n_kept_samples
        self.reg_linear_l1 = reg_linear_l1
        self.ftrl_beta = ftrl_beta

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- parameter checks -------------------------------------------------------------
    def _check_params(self):
        """(dtype, solver class) after checking every parameter."""
        def integer(name, low):
            return check_int_param(self, name, low)

        def real(name, low, strict):
            return check_real_param(self, name, low, strict)

        solver = get_solver(self.solver)
        integer("n_factors", 0)
        integer("n_epochs", 1)
        real("init_std", 0.0, strict=False)
        if self.callbacks is not None and (
            not isinstance(self.callbacks, (list, tuple))
            or not all(callable(c) for c in self.callbacks)
        ):
            raise TypeError(f"callbacks must be a list of callables, got {self.callbacks!r}")
        for name in ("warm_start", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        fraction = real("validation_fraction", 0.0, strict=True)
        if fraction >= 1.0:
            raise ValueError(f"validation_fraction must be < 1, got {fraction}")
        integer("n_iter_no_change", 1)
        real("tol", 0.0, strict=False)
        if (getattr(self, "feature_groups", None) is not None
                and "feature_groups" not in solver.parameters):
            raise ValueError(
                f"feature_groups is used by the solvers "
                f"{[n for n, c in SOLVERS.items() if 'feature_groups' in c.parameters]}; "
                f"solver={self.solver!r} does not use it")
        if (getattr(self, "n_kept_samples", None) is not None
                and "n_kept_samples" not in solver.parameters):
            raise ValueError(f"n_kept_samples applies to solver='mcmc' only, not "
                             f"solver={self.solver!r}")
        if (isinstance(self.reg_linear_l1, numbers.Real) and self.reg_linear_l1 != 0
                and "reg_linear_l1" not in solver.parameters):
            raise ValueError(f"reg_linear_l1 (an L1 penalty on w) applies to solver='ftrl' "
                             f"only, not "
                             f"solver={self.solver!r}")
        solver.check_params(self)
        return check_dtype(self.dtype), solver

    @property
    def _solver_loss(self):
        return get_solver(self.solver)(self, 1).loss(self._task)

    # -- training ----------------------------------------------------------------------
    # -- the model kind (FM here; the field-aware estimators override these) -------------
    _parameters = FMParameters

    def _training_rows(self, X, dtype, fields, continuing, name):
        """(indptr, indices, data, n_features, fields of the stored values or None)."""
        indptr, indices, data, n_features = as_csr(X, dtype, owner=name,
                                                   check_ids=not continuing)
        return indptr, indices, data, n_features, None

    def _validation_rows(self, X_val, dtype, n_features, fields):
        indptr, indices, data, _ = as_csr(X_val, dtype, n_features=n_features, name="X_val",
                                          owner=type(self).__name__)
        return indptr, indices, data, None

    def _new_parameters(self, n_features, k, dtype, seed, init_std, bias):
        return FMParameters.new(n_features, k, dtype, seed, init_std, bias)

    def _check_continued_shape(self, k):
        if self.V_.shape[-1] != k:
            raise ValueError(
                f"n_factors={k}, but the fitted model has {self.V_.shape[-1]} factors: "
                "a model can only go on training with its own n_factors"
            )

    def _factor_init_scale(self, solver, train):
        return solver.factor_init_scale(train)

    def _kind_attributes(self):
        """Fitted attributes of the model kind besides w0_, w_, V_."""
        return {}

    def _training_pairs(self, train, pairs, dtype):
        """(pairs, groups) of a ranking fit's rows (rapidfm.ranking); (None, None) else."""
        return None, None

    def _train(self, X, y, sample_weight, *, partial, eval_set=None, classes=None,
               fields=None, eval_fields=None, pairs=None):
        """fit (partial=False) and partial_fit (partial=True, one epoch), for every solver."""
        dtype, solver_cls = self._check_params()
        name = type(self).__name__
        if partial and not solver_cls.supports_partial_fit:
            raise ValueError(
                f"partial_fit is not supported by solver={self.solver!r}: each of its sweeps "
                "needs all the training rows. Use fit (with warm_start=True to go on), or "
                "solver='sgd' for data that comes in chunks")
        continuing = hasattr(self, "V_") and (partial or bool(self.warm_start))
        # column names (feature_names_in_): a new model takes X's, a continued one checks them
        if continuing:
            feature_names = getattr(self, "feature_names_in_", None)
            check_feature_names(feature_names, X, name)
        else:
            feature_names = feature_names_of(X)
        indptr, indices, data, n_features, row_fields = self._training_rows(
            X, dtype, fields, continuing, name)
        if continuing and n_features != self.n_features_in_:
            hint = "" if partial else (
                ": warm_start=True continues the fitted model, which needs the same features "
                "(set warm_start=False to fit a new model)")
            raise ValueError(
                f"X has {n_features} features, but {name} is expecting {self.n_features_in_} "
                f"features as input{hint}"
            )
        n_rows = indptr.size - 1
        y = check_y(y, n_rows, numeric=self._task != "classification", owner=name)
        if continuing:
            y, target_attrs = self._encode_more_targets(y, classes, partial)
        else:
            y, target_attrs = self._encode_targets(y, classes, partial)
        sample_weight = check_sample_weight(sample_weight, n_rows)
        sample_weight = self._weight_classes(y, sample_weight, target_attrs, partial)
        n_threads = effective_n_threads(self.n_jobs)
        # a model loaded from a libFM file (or an older save) has no random_seed_/t_ yet
        seed = getattr(self, "random_seed_", None) if continuing else None
        if seed is None:
            seed = _resolve_seed(self.random_state)
        solver = solver_cls(self, n_threads)
        train = _Rows(indptr, indices, values_or_none(data), y, sample_weight,
                      fields=row_fields)
        train.pairs, train.groups = self._training_pairs(train, pairs, dtype)

        validation = None
        if not partial and eval_set is not None:
            validation = self._eval_rows(eval_set, dtype, n_features, target_attrs,
                                         feature_names, eval_fields)
        hold_out = None
        if not partial and eval_set is None and self.early_stopping:
            def hold_out(rows, shuffled):
                return self._hold_out(rows, seed, shuffled, n_threads)
        train, held = solver.arrange_rows(train, partial, seed, hold_out)
        validation = held if held is not None else validation
        solver.set_validation(validation)
        stops_early = validation is not None and solver_cls.supports_early_stopping
        # the solver trains on y / scale (regression, solvers that ask for it): params
        # below are in those units, the fitted attributes in the targets' own
        scale = self._target_scale(solver_cls, train, continuing)
        solver.target_scale = scale
        if scale != 1.0:
            train.y = train.y / scale

        k = int(self.n_factors)
        if continuing:
            self._check_continued_shape(k)
            # copies: the model stays intact on failure
            params = self._parameters.of(self, dtype).rescaled(1.0 / scale)
            t = int(getattr(self, "t_", getattr(self, "n_iter_", 0)))
            history = list(getattr(self, "history_", []))
            previous = self._fitted_attributes()
        else:
            bias = self._initial_bias(train.y, train.sample_weight, smooth=partial)
            params = self._new_parameters(
                n_features, k, dtype, seed,
                float(self.init_std) * self._factor_init_scale(solver, train),
                solver.initial_bias(bias))
            t = 0
            history = []
            previous = None
        solver.start(params, train, continuing, target_attrs)

        nnz = int(train.indptr[-1])
        n_epochs = 1 if partial else int(self.n_epochs)
        best_loss = best_epoch = best = None
        stale = 0  # epochs since the validation loss last improved by more than tol

        def install(n_iter):
            for stale_name in _solver_state_names():
                self.__dict__.pop(stale_name, None)
            state = dict(target_attrs)
            state.update(params.rescaled(scale).attributes() if scale != 1.0
                         else params.attributes())
            state.update(self._kind_attributes())
            state.update(
                n_features_in_=n_features, n_iter_=n_iter, history_=history, t_=t,
                random_seed_=seed, best_epoch_=best_epoch, best_validation_loss_=best_loss,
                loss_=solver.loss(self._task),
            )
            if self._task == "regression":
                state["target_scale_"] = scale
            state.update(solver.fitted_state(t))
            if feature_names is None:
                self.__dict__.pop("feature_names_in_", None)
            else:
                state["feature_names_in_"] = feature_names
            self.__dict__.update(state)

        constant_loss = self._constant_loss(train.y, train.sample_weight, scale)
        lowest_loss = None  # the lowest training loss of this call's epochs

        try:
            for i in range(n_epochs):
                start = time.perf_counter()
                try:
                    extras = solver.epoch(params, train, t, _epoch_seed(seed, t))
                except DivergenceError:
                    raise DivergenceError(solver.divergence_message(t) + large_values_hint(
                        train.indices, train.data, feature_names)) from None
                seconds = time.perf_counter() - start
                t += 1
                val_loss = None
                if validation is not None:
                    raw = params.predict_rows(validation, n_threads) * scale
                    outputs = solver.validation_outputs(
                        self._outputs_from_raw(raw, target_attrs, loss=solver.loss(self._task)))
                    val_loss = self._score_outputs(outputs, validation)
                    if stops_early:
                        # an improvement counts when larger than tol; the best epoch is the
                        # one with the lowest loss, however small its lead
                        improved = best_loss is None or val_loss < best_loss - float(self.tol)
                        stale = 0 if improved else stale + 1
                        if best_loss is None or val_loss < best_loss:
                            best_loss, best_epoch = val_loss, t
                            best = params.copy()
                train_loss = extras.pop("train_loss")
                if self._task == "regression":
                    train_loss *= scale * scale  # the mean squared error in y's units
                if _runs_away(train_loss, lowest_loss, constant_loss):
                    raise DivergenceError(
                        solver.loss_divergence_message(t - 1, train_loss, constant_loss)
                        + large_values_hint(train.indices, train.data, feature_names))
                lowest_loss = train_loss if lowest_loss is None else min(lowest_loss,
                                                                         train_loss)
                record = {"epoch": t, "train_loss": train_loss, "validation_loss": val_loss}
                record.update(extras)
                record["seconds"] = seconds
                record["rows_per_second"] = (train.n_rows / seconds if seconds > 0
                                             else float("inf"))
                record["ns_per_nonzero"] = 1e9 * seconds / max(nnz, 1)
                history.append(record)
                if self.verbose:
                    self._print_epoch(record)
                if self.callbacks:
                    # the callbacks see the model as it stands after this epoch
                    install(i + 1)
                    if any([bool(callback(self, history)) for callback in self.callbacks]):
                        break
                if stops_early and stale >= int(self.n_iter_no_change):
                    break

            # the kernel stops on a non-finite loss; this also catches a parameter that
            # overflowed in an update after its feature's last use (once, not per epoch:
            # the scan costs as much as a few percent of an epoch on wide models)
            if not params.is_finite():
                raise DivergenceError(solver.nonfinite_message(t) + large_values_hint(
                    train.indices, train.data, feature_names))
            n_iter = len(history) - (len(previous["history_"]) if previous else 0)
            if best is not None and best_epoch != t:
                params = best  # restore the parameters of the best validation epoch
                if self.verbose:
                    print(f"restored the parameters of epoch {best_epoch} (validation "
                          f"{self._loss_name()} {best_loss:.5f})", flush=True)
            install(n_iter)
        except BaseException:
            self.__dict__.pop("_sweep_predictions", None)
            # A failed fit (divergence, an exception in a callback, Ctrl-C) leaves the
            # estimator unfitted, not holding the half-trained arrays callbacks saw; a
            # failed warm-start fit or partial_fit leaves the model of before the call.
            self._clear_fitted()
            if previous is not None:
                self.__dict__.update(previous)
            raise
        self.__dict__.pop("_sweep_predictions", None)
        return self

    def _constant_loss(self, y, sample_weight, scale):
        """The training loss of the best constant prediction (regression: the weighted
        variance of the targets, in their own units), against which a run-away loss is
        judged, with a floor where the targets are all alike."""
        raise NotImplementedError

    def _target_scale(self, solver_cls, train, continuing):
        """The factor the training targets are divided by: 1, or for a regressor whose
        solver scales targets a power of 4 near their standard deviation (an exact
        division). A model that goes on training keeps its scale."""
        if self._task != "regression" or not solver_cls.scales_targets:
            return 1.0
        if continuing:
            kept = getattr(self, "target_scale_", None)
            if kept is not None:
                return float(kept)
        y = train.y
        if y.size < 2:
            return 1.0
        mean = np.average(y, weights=train.sample_weight)
        std = float(np.sqrt(np.average((y - mean) ** 2, weights=train.sample_weight)))
        return target_scale_of_std(std)

    def _fitted_attributes(self):
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _clear_fitted(self):
        for name in list(self._fitted_attributes()):
            del self.__dict__[name]

    def _print_epoch(self, record):
        line = (f"epoch {record['epoch']:3d}  train {self._loss_name()} "
                f"{self._report_loss(record['train_loss']):.5f}  ")
        if record["validation_loss"] is not None:
            line += f"validation {self._loss_name()} {record['validation_loss']:.5f}  "
        line += (f"{record['rows_per_second']:,.0f} rows/s  "
                 f"{record['ns_per_nonzero']:.2f} ns/nnz  threads {record['n_threads']}")
        print(line, flush=True)

    def _eval_rows(self, eval_set, dtype, n_features, target_attrs, feature_names=None,
                   fields=None):
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise ValueError(
                "eval_set must be a pair (X_val, y_val) or a triple (X_val, y_val, "
                f"sample_weight_val), got {type(eval_set).__name__}"
                + (f" of length {len(eval_set)}" if isinstance(eval_set, (tuple, list)) else "")
            )
        X_val, y_val = eval_set[0], eval_set[1]
        try:
            check_feature_names(feature_names, X_val, type(self).__name__)
            indptr, indices, data, val_fields = self._validation_rows(X_val, dtype, n_features,
                                                                      fields)
            n_rows = indptr.size - 1
            y_val = check_y(y_val, n_rows, numeric=self._task != "classification")
            y_val = self._encode_validation_targets(y_val, target_attrs)
            sw = check_sample_weight(eval_set[2] if len(eval_set) == 3 else None, n_rows)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"eval_set: {exc}") from None
        return _Rows(indptr, indices, values_or_none(data), y_val, sw, fields=val_fields)

    def _hold_out(self, rows, seed, shuffle, n_threads):
        """(training rows, validation rows): validation_fraction of the rows, at random.
        shuffle: the training rows come in a random order (else in their order)."""
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SPLIT_STREAM,)))
        fraction = float(self.validation_fraction)
        groups = self._split_groups(rows.y)
        held = []
        for group in groups:
            n_val = min(int(np.ceil(fraction * group.size)), group.size - 1)
            held.append(rng.permutation(group)[:n_val])
        held = np.sort(np.concatenate(held))
        if held.size == 0:
            raise ValueError(
                f"early_stopping holds out validation_fraction={fraction} of the {rows.n_rows} "
                "training rows, which leaves no validation rows: pass more rows, a larger "
                "validation_fraction or an eval_set"
            )
        keep = np.ones(rows.n_rows, dtype=bool)
        keep[held] = False
        kept = np.flatnonzero(keep)
        if shuffle:
            kept = _shuffled(seed, kept)
        return rows.take(kept, n_threads), rows.take(held, n_threads)

    def _split_groups(self, y):
        return [np.arange(y.size)]

    def _weight_classes(self, y, sample_weight, target_attrs, partial):
        return sample_weight

    def _initial_bias(self, y, sample_weight, smooth=False):
        return 0.0

    def _training_clip(self, target_attrs):
        return -np.inf, np.inf

    def _report_loss(self, loss):
        return loss

    def _loss_name(self):
        return self._solver_loss

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to `path` (see rapidfm.persistence for the format).

        The file is written under a temporary name in the same folder and renamed
        into place, so an interrupted save never destroys an existing file.
        """
        from rapidfm.persistence import save_model

        save_model(self, path)

    # -- prediction --------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "V_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _fitted_loss(self):
        # models saved before loss_ existed were trained by SGD
        return getattr(self, "loss_", "squared" if self._task == "regression" else "logistic")

    def _csr_for_predict(self, X):
        self._check_fitted()
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        indptr, indices, data, _ = as_csr(X, self.V_.dtype, n_features=self.n_features_in_,
                                          owner=type(self).__name__)
        return indptr, indices, values_or_none(data)

    def _one_row_raw(self, X):
        """y(x) of X as a float when X is one row the kernel takes as it is (a 1-row CSR
        matrix, or a (1, n_features) C-contiguous array, in the model's dtype), through
        the kernel's checked single-row call: the serving path, a few microseconds
        instead of the general validation's tens. None for anything else (and for a
        model fitted with feature names, whose checks the general path makes), and for a
        row the kernel finds fault with: the general path then explains it."""
        d = self.__dict__
        V = d.get("V_")
        if V is None or V.ndim != 2 or "feature_names_in_" in d:
            return None
        if type(X) in _ONE_ROW_SPARSE:
            indices, data, indptr = X.indices, X.data, X.indptr
            if (X.shape != (1, d.get("n_features_in_")) or data.dtype != V.dtype
                    or indices.dtype not in _KERNEL_INDEX_TYPES
                    or indptr[0] != 0 or indices.size != indptr[1]):
                return None  # (a view into a larger matrix's arrays: the general path)
            status, _, value = _core.predict_one(d["w0_"], d["w_"], V, indices,
                                                 data if data.size else None)
        elif type(X) is np.ndarray:
            if (X.shape != (1, d.get("n_features_in_")) or X.dtype != V.dtype
                    or not X.flags.c_contiguous):
                return None
            # (1, n) C-contiguous: its buffer is the row, so no reshape (0.3 us)
            status, _, value = _core.predict_dense_one(d["w0_"], d["w_"], V, X)
        else:
            return None
        return value if status == 0 else None

    def _predict_current(self, X):
        """y(x) of the current parameters w0_, w_, V_ alone (for MCMC: the last
        sample, not the average over the kept samples that predict gives)."""
        raw = self._one_row_raw(X)
        if raw is not None:
            return np.array([raw])
        indptr, indices, data = self._csr_for_predict(X)
        return _core.predict(self.w0_, self.w_, self.V_, indptr, indices, data,
                             effective_n_threads(self.n_jobs))

    _raw_predict = _predict_current

    def _output_of_one_raw(self, raw):
        """The task's output of one row's y(x), a float (the estimators give it without
        arrays: the serving path)."""
        return float(self._outputs_from_raw(np.array([raw]), self._fitted_target_attrs(),
                                            loss=self._fitted_loss())[0])

    def _predict_outputs(self, X):
        """The task's outputs (clipped predictions, P(classes_[1])) of the fitted
        model: for MCMC their mean over the kept samples."""
        samples = self.__dict__.get("samples_V_")  # getattr's miss costs a microsecond
        if samples is None or len(samples) == 0:
            raw = self._one_row_raw(X)
            if raw is not None:
                return np.array([self._output_of_one_raw(raw)])
        indptr, indices, data = self._csr_for_predict(X)
        n_threads = effective_n_threads(self.n_jobs)
        if samples is None or len(samples) == 0:
            raw = _core.predict(self.w0_, self.w_, self.V_, indptr, indices, data, n_threads)
            return self._outputs_from_raw(raw, self._fitted_target_attrs(),
                                          loss=self._fitted_loss())
        total = None
        for s in range(len(samples)):
            raw = _core.predict(float(self.samples_w0_[s]), self.samples_w_[s], samples[s],
                                indptr, indices, data, n_threads)
            out = self._outputs_from_raw(raw, self._fitted_target_attrs(),
                                         loss=self._fitted_loss())
            total = out if total is None else total + out
        return total / len(samples)


_COMMON_PARAMETERS = """\
    n_factors : int, default=8
        Rank k of the pairwise interactions (0 gives a linear model).
    n_epochs : int, default=25
        Passes over the training data (at most: early stopping and callbacks may end
        training sooner): SGD epochs, each in a fresh random order, or ALS / MCMC
        sweeps over every parameter (libFM's -iter).
    solver : {"adagrad", "sgd", "ftrl", "sgda", "als", "mcmc"}, default="adagrad"
        "adagrad": SGD with a per-coordinate step, theta -= eta g / sqrt(G) with G the
        sum of the coordinate's squared gradients (libffm's and xLearn's rule): rare
        features take large steps, frequent ones small, and no step exceeds about eta,
        so it does not diverge on unscaled data. The regressor trains on the targets
        divided by target_scale_ (a power of 4 near their standard deviation) and
        starts V at init_std / max(1, root-mean-square row norm); both are exact
        reparametrisations (README, "Defaults"). "sgd": plain stochastic gradient
        descent with the learning_rate schedule (libFM's -method sgd). "ftrl":
        FTRL-proximal for w0 and w (with the L1 strength reg_linear_l1, which makes w
        sparse, and ftrl_beta) and AdaGrad for V, as xLearn; schedule must be
        "constant". The three share learning_rate, parallel, shuffle, block_rows,
        partial_fit and warm_start; the adaptive rules keep their state as fitted
        attributes. "sgda": libFM's SGD with adaptive regularisation, which learns the L2
        strengths of w and V (per feature group) on validation rows (eval_set, or the
        early_stopping hold-out; required), one thread, no partial_fit. "als": exact
        coordinate descent on the L2-regularised squared loss, one parameter at a time
        (libFM's ALS; no learning rate). "mcmc": Gibbs sampling of
        the Bayesian FM with hierarchical priors (libFM's MCMC: the regularisation is
        learned, no learning rate or reg_linear / reg_factors to tune); predict
        averages the kept samples. FMClassifier with "als" or "mcmc" fits the probit
        model, P(y = classes_[1]) = Phi(y(x)), as libFM does. Both sweep on all
        n_jobs threads, with results that do not depend on the thread count (beyond
        floating-point summation order). partial_fit is for "adagrad", "sgd" and "ftrl".
    feature_groups : array of int of shape (n_features,) or None, default=None
        "als", "mcmc" and "sgda": a group id (0, 1, ...) per feature, as libFM's -meta
        file: MCMC learns a prior per group (e.g. users and items), SGDA its L2
        strengths per group, ALS takes reg_linear and reg_factors per group. None: one
        group.
    n_kept_samples : int or None, default=None
        "mcmc": how many of the chain's last samples predict averages (memory: that
        many copies of w and V). None keeps all but a burn-in of min(5, t_ // 2).
    learning_rate : float or None, default=None
        Step size eta0 of "adagrad", "sgd" and "ftrl"; None: the solver's default,
        0.04 for "adagrad" and "ftrl" (a coordinate's first step moves it about
        eta0), 0.01 for "sgd" (libFM's SGD needs steps this small on one-hot data).
    schedule : {"constant", "invscaling"}, default="constant"
        "invscaling" uses eta0 / (1 + t)^power_t in the epoch with index t (from 0),
        where t counts every epoch the model has been trained: a warm-start fit goes on
        from the rate where the previous fit stopped, and each partial_fit call is one
        epoch, so under partial_fit the rate decays once per call (per chunk, not per
        pass over the data). For a long stream of small chunks use "constant" or a
        small power_t.
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    reg_bias, reg_linear, reg_factors : float, default=0.0, 0.01, 0.06
        L2 strengths on w0, w and V. The SGD solvers apply them, as libFM, to the
        parameters a sample touches (AdaGrad adds reg * theta to the gradient it
        normalises; FTRL takes reg_linear as its L2 term); ALS adds reg_bias w0^2 +
        reg_linear |w|^2 + reg_factors |V|^2 to the squared loss, and takes for
        reg_linear and reg_factors one number or one per feature group (libFM's
        -regular). MCMC uses reg_bias as the precision of w0's
        prior (0: flat) and learns the rest.
    init_std : float, default=0.1
        Standard deviation of the normal initialisation of V ("adagrad" and "ftrl":
        divided by the root-mean-square row norm of X where that exceeds 1).
    reg_linear_l1 : float, default=0.0
        "ftrl": L1 strength on w (lambda_1): weights whose accumulated gradient stays
        within it are exactly 0.
    ftrl_beta : float, default=1.0
        "ftrl": beta of the per-coordinate step eta / (beta + sqrt(n)).
    n_jobs : int or None, default=None
        Threads: None means 1, -1 all cores (scikit-learn's convention).
    random_state : int, numpy Generator/RandomState or None
        Seeds initialisation, the visit order and the early-stopping split. A new
        model draws from it an integer seed, kept as random_seed_; every random
        stream derives from that seed. With n_jobs=1 two fits with the same seed give
        bit-identical parameters.
    dtype : float32 or float64, default=float32
        Element type of the parameters (and of X inside the kernel).
    parallel : {"auto", "hogwild", "replicas", "hybrid"}, default="auto"
        How threads share the model: "hogwild" updates one shared model without locks;
        "replicas" trains a private copy per thread and merges them regularly, which
        avoids cache-line contention on small or skewed models; "hybrid" copies only
        the hot features (those in at least 0.5% of rows) and shares the rest. "auto"
        picks replicas for models up to 8 MiB, hybrid up to 64 MiB and hogwild above
        (where hybrid was measured slower than one thread: bench/README.md), and with
        more than one thread it also measures: after a warm-up epoch it times one epoch
        each on n_jobs threads in that mode and on one thread (and on n_jobs threads
        hogwild when that mode was the slower), then trains with the fastest per row,
        timing the runner-up again every
        10 epochs (machine load changes). A multi-thread epoch (the warm-up too) whose
        process CPU time falls under 75% of threads x wall time found a core busy with
        another process: the fit then goes on to one thread without further
        multi-thread trials until that retry. Each epoch still trains every row once;
        history_ records each epoch's n_threads and parallel_mode. A fixed mode, or
        n_jobs=1, is never changed.
    verbose : int, default=0
        Print one line per epoch when > 0 (with the validation loss when there is one).
    callbacks : list of callables or None
        Each is called as ``callback(estimator, history)`` after every epoch, with the
        estimator's fitted attributes holding the current parameters (not yet the best
        epoch's) and ``history`` the list history_ will hold, validation_loss included;
        a true return value stops training (every callback still runs that epoch).
        rapidfm.callbacks.ModelCheckpoint(path) saves the best epoch so far to path.
    warm_start : bool, default=False
        When True and the estimator is fitted, fit goes on from w0_, w_ and V_ instead
        of a fresh initialisation, continuing the learning-rate schedule (t_) and the
        random stream (random_seed_): with n_jobs=1, fit with n_epochs=5 twice gives
        bit for bit the model of one fit with n_epochs=10. The data must have the same
        number of features (and, for FMClassifier, the same classes), else ValueError.
        history_ goes on as well (n_iter_ counts the epochs of the last call).
    early_stopping : bool, default=False
        Hold out validation_fraction of the training rows (at random, from
        random_state; stratified by class for FMClassifier), compute the validation
        loss after every epoch (RMSE for FMRegressor, mean log-loss for FMClassifier),
        stop once it has not improved by more than tol for
        n_iter_no_change consecutive epochs and restore the parameters of the best
        epoch. fit(..., eval_set=(X_val, y_val)) does the same on the given rows and
        holds out nothing. partial_fit ignores both.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training rows held out by early_stopping (at least one row).
    n_iter_no_change : int, default=5
        Epochs without an improvement larger than tol before early stopping.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    block_rows : int or None, default=None
        Rows per block of the visit order: every epoch visits blocks of that many
        consecutive rows in a random order, and the rows of each block in a random
        order. Without a copy (shuffle="epoch", and "auto" when block_rows is given) the
        blocks are cut from X as stored: for data larger than memory (a memory-mapped
        cache, rapidfm.io.open_cache) each page is then read once per epoch instead of
        at random across the whole file; blocks of 1e5-1e6 rows shuffle well enough on
        data that is not sorted by target or time. With shuffle="copy", None picks
        blocks of about 32 KiB of row data.
    shuffle : {"auto", "copy", "epoch"}, default="auto"
        How an epoch orders the rows; each epoch visits every row once, in a fresh
        random order.
        "copy": fit first copies the training rows once, in a random order (memory for
        one more copy of X), then every epoch visits small blocks of the copy in a random
        order, the rows of each block in a random order. Rows are then read from memory
        almost in sequence instead of at random: epochs run about 1.4x faster on 1M
        rows of 4 features (bench/README.md), at the same test error.
        "epoch": no copy. Without block_rows every epoch visits the rows of X in one
        uniformly random order; with block_rows, blocks of X as stored.
        "auto": "copy" for fit on data in memory; "epoch" for memory-mapped data, when
        block_rows is given, for partial_fit and 1-epoch fits (the copy reads the rows
        at random as an epoch in place does, and pays off from the second epoch), and
        when the copy would take more than half of the
        memory the system reports available (Linux MemAvailable): a fit then reads the
        rows in place instead of being killed for memory.
"""

_COMMON_ATTRIBUTES = """\
    w0_ : float
    w_ : ndarray of shape (n_features,)
    V_ : ndarray of shape (n_features, n_factors)
    n_features_in_ : int
    feature_names_in_ : ndarray of str objects, shape (n_features,)
        The column names of X when fit saw a data frame with string column names
        (absent otherwise); predict checks X's names against them, as scikit-learn.
    coef_, intercept_ : the linear weights w and w0 (read-only; MCMC: their means over
        the kept samples), shaped as in scikit-learn's linear models; see
        rapidfm.inspection for per-feature importance and pairwise interactions.
    n_iter_ : int
        Epochs run by the last call to fit (1 after partial_fit).
    t_ : int
        Epochs the model has been trained in all (fit, warm-start fits, partial_fit
        calls): the epoch index of the learning-rate schedule.
    random_seed_ : int
        The seed every random stream of the model derives from.
    loss_ : str
        The loss the model was fitted with: "squared", "logistic" (SGD classifier) or
        "probit" (ALS / MCMC classifier).
    samples_w0_, samples_w_, samples_V_ : ndarray, solver="mcmc" only
        The kept samples of w0, w and V, shapes (S,), (S, n_features) and (S,
        n_features, n_factors); w0_, w_, V_ hold the last sample.
    sum_sq_grad_w0_, sum_sq_grad_w_, sum_sq_grad_V_ : solver="adagrad" or "ftrl"
        The sums of the squared gradients of w0, w (n_features,) and V (n_features,
        n_factors), in the units of the scaled targets: the adaptive step's state,
        continued by warm_start and partial_fit.
    ftrl_z_w0_, ftrl_z_w_ : solver="ftrl" only
        FTRL's z of w0 and w (the weights are a function of z and the sums).
    target_scale_ : float, FMRegressor only
        The power of 4 the training targets were divided by ("adagrad", "ftrl"; 1 for
        the other solvers); the fitted parameters are in the targets' own units.
    alpha_, mu_w_, lambda_w_, mu_v_, lambda_v_ : solver="mcmc" only
        The chain's current noise precision and per-group prior means and precisions
        of w (n_groups,) and of V (n_groups, n_factors), from which warm_start goes on.
    best_epoch_ : int or None
        With validation (early_stopping or eval_set): the epoch (counted like t_)
        whose parameters the model holds; None otherwise.
    best_validation_loss_ : float or None
        The validation loss of best_epoch_; None without validation.
"""


@register_estimator
class FMRegressor(RegressorMixin, _BaseFM):
    _task = "regression"

    def __init__(
        self,
        n_factors=8,
        n_epochs=25,
        learning_rate=None,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=0.01,
        reg_factors=0.06,
        init_std=0.1,
        n_jobs=None,
        random_state=None,
        dtype=np.float32,
        parallel="auto",
        verbose=0,
        callbacks=None,
        clip_predictions=True,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        block_rows=None,
        shuffle="auto",
        solver="adagrad",
        feature_groups=None,
        n_kept_samples=None,
        reg_linear_l1=0.0,
        ftrl_beta=1.0,
    ):
        super().__init__(
            n_factors=n_factors, n_epochs=n_epochs, learning_rate=learning_rate,
            schedule=schedule, power_t=power_t, reg_bias=reg_bias, reg_linear=reg_linear,
            reg_factors=reg_factors, init_std=init_std, n_jobs=n_jobs,
            random_state=random_state, dtype=dtype, parallel=parallel, verbose=verbose,
            callbacks=callbacks, warm_start=warm_start, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, block_rows=block_rows, shuffle=shuffle, solver=solver,
            feature_groups=feature_groups, n_kept_samples=n_kept_samples,
            reg_linear_l1=reg_linear_l1, ftrl_beta=ftrl_beta,
        )
        self.clip_predictions = clip_predictions

    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Fit on X (sparse or dense, n_samples x n_features) and real targets y.

        eval_set : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Validation rows: their RMSE is computed after every epoch, training stops
            early on it and the best epoch's parameters are kept (see early_stopping).
        """
        return self._train(X, y, sample_weight, partial=False, eval_set=eval_set)

    @available_if(_solver_takes_chunks)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of SGD over the rows given, from the current model.

        The first call (on an unfitted estimator) initialises the model; each call
        advances t_ by one. n_epochs, warm_start, early_stopping and eval_set do not
        apply. The clipping range [y_min_, y_max_] grows to cover every target seen.
        """
        return self._train(X, y, sample_weight, partial=True)

    def _encode_targets(self, y, classes, partial):
        y = np.ascontiguousarray(y, dtype=np.float64)
        return y, {"y_min_": float(y.min()), "y_max_": float(y.max())}

    def _encode_more_targets(self, y, classes, partial):
        y = np.ascontiguousarray(y, dtype=np.float64)
        return y, {"y_min_": min(float(self.y_min_), float(y.min())),
                   "y_max_": max(float(self.y_max_), float(y.max()))}

    def _encode_validation_targets(self, y, target_attrs):
        return np.ascontiguousarray(y, dtype=np.float64)

    def _fitted_target_attrs(self):
        return {"y_min_": getattr(self, "y_min_", -np.inf),
                "y_max_": getattr(self, "y_max_", np.inf)}

    def _outputs_from_raw(self, raw, target_attrs, loss=None):
        """Predictions, clipped to the training range when clip_predictions is on."""
        if self.clip_predictions:
            np.clip(raw, target_attrs["y_min_"], target_attrs["y_max_"], out=raw)
        return raw

    def _output_of_one_raw(self, raw):
        """_outputs_from_raw of one row's float (serving: np.clip's dispatch costs 3 us)."""
        if self.clip_predictions:
            d = self.__dict__
            # NaN stays NaN, as with np.clip
            return min(max(raw, d.get("y_min_", -math.inf)), d.get("y_max_", math.inf))
        return raw

    def _score_outputs(self, outputs, rows):
        """RMSE of the (clipped, as in predict) predictions."""
        return float(np.sqrt(self._train_loss_of_outputs(outputs, rows)))

    def _train_loss_of_outputs(self, outputs, rows):
        return float(np.average((outputs - rows.y) ** 2, weights=rows.sample_weight))

    def _initial_bias(self, y, sample_weight, smooth=False):
        # start at the (weighted) mean so that early epochs fit structure, not the offset
        return float(np.average(y, weights=sample_weight))

    def _constant_loss(self, y, sample_weight, scale):
        if sample_weight is None:  # one pass each, no temporaries of y's size
            mean, variance = float(y.mean()), float(y.var())
        else:
            mean = float(np.average(y, weights=sample_weight))
            variance = float(np.average((y - mean) ** 2, weights=sample_weight))
        # targets all alike: judge by their magnitude instead (a runaway is then an
        # error of 10 times |mean|)
        return (variance + 1e-2 * mean * mean + 1e-12) * scale * scale

    def _training_clip(self, target_attrs):
        if self.clip_predictions:
            return target_attrs["y_min_"], target_attrs["y_max_"]
        return -np.inf, np.inf

    def _report_loss(self, loss):
        return float(np.sqrt(loss))

    def _loss_name(self):
        return "rmse"

    def predict(self, X):
        """Predicted targets, clipped to [y_min_, y_max_] when clip_predictions is on
        (solver="mcmc": the mean over the kept samples of their clipped predictions)."""
        return self._predict_outputs(X)


FMRegressor.__doc__ = f"""Factorization Machine regressor (squared loss): parallel SGD, ALS or MCMC.

    Parameters
    ----------
{_COMMON_PARAMETERS}\
    clip_predictions : bool, default=True
        Clip predictions (in training and in predict) to the range of the training
        targets, as libFM does. Set False for unbounded output.

    Attributes
    ----------
{_COMMON_ATTRIBUTES}\
    y_min_, y_max_ : float
        Range of the training targets (used for clipping).
    history_ : list of dict
        Per epoch: epoch (counted like t_), train_loss (mean squared error before each
        update), validation_loss (RMSE on the validation rows, None without
        validation), learning_rate, seconds, rows_per_second, ns_per_nonzero,
        n_threads, parallel_mode. ALS and MCMC: train_loss is the mean squared error
        of the (clipped) predictions after the sweep, the entries carry solver instead
        of learning_rate / parallel_mode, and MCMC adds alpha; with MCMC the validation
        loss is that of the prediction averaged over the sweeps so far (after the
        burn-in), and neither early stopping nor eval_set stop the chain.
    """


@register_estimator
class FMClassifier(ClassifierMixin, _BaseFM):
    _task = "classification"

    def __init__(
        self,
        n_factors=8,
        n_epochs=25,
        learning_rate=None,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=0.01,
        reg_factors=0.06,
        init_std=0.1,
        n_jobs=None,
        random_state=None,
        dtype=np.float32,
        parallel="auto",
        verbose=0,
        callbacks=None,
        class_weight=None,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        block_rows=None,
        shuffle="auto",
        solver="adagrad",
        feature_groups=None,
        n_kept_samples=None,
        reg_linear_l1=0.0,
        ftrl_beta=1.0,
    ):
        super().__init__(
            n_factors=n_factors, n_epochs=n_epochs, learning_rate=learning_rate,
            schedule=schedule, power_t=power_t, reg_bias=reg_bias, reg_linear=reg_linear,
            reg_factors=reg_factors, init_std=init_std, n_jobs=n_jobs,
            random_state=random_state, dtype=dtype, parallel=parallel, verbose=verbose,
            callbacks=callbacks, warm_start=warm_start, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, block_rows=block_rows, shuffle=shuffle, solver=solver,
            feature_groups=feature_groups, n_kept_samples=n_kept_samples,
            reg_linear_l1=reg_linear_l1, ftrl_beta=ftrl_beta,
        )
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"binary_only": True}

    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Fit on X and labels y holding exactly two distinct values.

        eval_set : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Validation rows (labels among classes_): their mean log-loss is computed
            after every epoch, training stops early on it and the best epoch's
            parameters are kept (see early_stopping).
        """
        return self._train(X, y, sample_weight, partial=False, eval_set=eval_set)

    @available_if(_solver_takes_chunks)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of SGD over the rows given, from the current model.

        classes : array-like of the 2 labels, required on the first call (the rows of
            one chunk need not show both); later calls may omit it. Labels outside
            classes are refused.

        Each call advances t_ by one. n_epochs, warm_start, early_stopping and eval_set
        do not apply; class_weight="balanced" is refused (a chunk's class counts are
        not the stream's: pass a dict).
        """
        return self._train(X, y, sample_weight, partial=True, classes=classes)

    # -- labels ------------------------------------------------------------------------
    def _classes_from(self, classes):
        classes = np.unique(np.asarray(classes))
        if classes.size != 2:
            raise ValueError(
                "Only binary classification is supported. "
                f"FMClassifier is a binary classifier: classes must hold exactly 2 labels, "
                f"got {classes.size} ({classes[:10].tolist()})"
            )
        return classes

    def _encode_with(self, y, classes):
        positive = y == classes[1]
        known = positive | (y == classes[0])
        if not np.all(known):
            unknown = np.unique(y[~known])
            raise ValueError(
                f"y contains labels {unknown[:10].tolist()} that are not in classes "
                f"{classes.tolist()}"
            )
        return np.where(positive, 1.0, -1.0)

    def _encode_targets(self, y, classes, partial):
        if partial:
            if classes is None:
                raise ValueError(
                    "classes must be passed to the first call of partial_fit: the two "
                    "labels of the whole stream (a chunk may not show both)"
                )
            classes = self._classes_from(classes)
            return self._encode_with(y, classes), {"classes_": classes}
        found, encoded = np.unique(y, return_inverse=True)
        if found.size != 2:
            if y.dtype.kind == "f" and found.size > 2 and np.any(found != np.round(found)):
                raise ValueError(
                    f"Unknown label type: continuous. FMClassifier is a binary classifier, "
                    f"but y holds {found.size} distinct non-integer values: a regression "
                    "target (use FMRegressor)"
                )
            noun = "class" if found.size == 1 else "classes"
            raise ValueError(
                ("Only binary classification is supported. " if found.size > 2 else "")
                + f"FMClassifier is a binary classifier: y must hold exactly 2 classes, "
                f"got {found.size} {noun} ({found[:10].tolist()})"
            )
        return np.where(encoded.ravel() == 1, 1.0, -1.0), {"classes_": found}

    def _encode_more_targets(self, y, classes, partial):
        if partial:
            if classes is not None and not np.array_equal(
                    self._classes_from(classes), self.classes_):
                raise ValueError(
                    f"classes={np.unique(classes).tolist()} differs from the classes of the "
                    f"fitted model, classes_={self.classes_.tolist()}"
                )
            return self._encode_with(y, self.classes_), {"classes_": self.classes_}
        encoded, attrs = self._encode_targets(y, None, partial=False)
        if not np.array_equal(attrs["classes_"], self.classes_):
            raise ValueError(
                f"warm_start=True continues the fitted model, whose classes are "
                f"{self.classes_.tolist()}, but y holds {attrs['classes_'].tolist()} "
                "(set warm_start=False to fit a new model)"
            )
        return encoded, {"classes_": self.classes_}

    def _encode_validation_targets(self, y, target_attrs):
        return self._encode_with(y, target_attrs["classes_"])

    def _split_groups(self, y):
        # stratified: each class keeps its share in both parts
        return [np.flatnonzero(y < 0), np.flatnonzero(y > 0)]

    def _weight_classes(self, y, sample_weight, target_attrs, partial):
        cw = self.class_weight
        if cw is None:
            return sample_weight
        classes = target_attrs["classes_"]
        if isinstance(cw, str) and cw == "balanced":
            if partial:
                raise ValueError(
                    "class_weight='balanced' is not supported by partial_fit: the class "
                    "counts of one chunk are not those of the stream. Pass a dict of "
                    "weights, e.g. from sklearn.utils.class_weight.compute_class_weight"
                )
            counts = np.array([np.sum(y < 0), np.sum(y > 0)], dtype=np.float64)
            weights = y.size / (2.0 * np.maximum(counts, 1.0))
        elif isinstance(cw, dict):
            labels = classes.tolist()
            for key in cw:
                if not any(key == label for label in labels):
                    raise ValueError(
                        f"class_weight has the label {key!r}, which is not one of the "
                        f"classes {labels}"
                    )
            weights = []
            for label in labels:
                value = next((v for key, v in cw.items() if key == label), 1.0)
                if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                        or not np.isfinite(value) or value < 0):
                    raise ValueError(
                        f"class_weight values must be finite numbers >= 0, got {value!r} "
                        f"for class {label!r}"
                    )
                weights.append(float(value))
        else:
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, "
                f"got {cw!r}"
            )
        row_weight = np.where(y > 0, weights[1], weights[0])
        if sample_weight is not None:
            row_weight = row_weight * sample_weight
        if not (row_weight > 0).any():
            raise ValueError("sample_weight times class_weight is zero everywhere: nothing "
                             "to learn from")
        return np.ascontiguousarray(row_weight)

    def _fitted_target_attrs(self):
        return {"classes_": self.classes_}

    def _outputs_from_raw(self, raw, target_attrs, loss=None):
        """P(classes_[1]): the logistic function of the output (SGD), or the normal
        CDF (the probit model of ALS and MCMC)."""
        loss = self._solver_loss if loss is None else loss
        if loss == "probit":
            from scipy.special import ndtr  # 25 ms to import: not on every start

            return ndtr(raw)
        p1 = np.empty_like(raw)
        pos = raw >= 0
        p1[pos] = 1.0 / (1.0 + np.exp(-raw[pos]))
        e = np.exp(raw[~pos])
        p1[~pos] = e / (1.0 + e)
        return p1

    def _output_of_one_raw(self, raw):
        """_outputs_from_raw of one row's float (serving: the masked arrays cost 5 us)."""
        if self._fitted_loss() == "probit":
            return float(self._outputs_from_raw(np.array([raw]), None, loss="probit")[0])
        if raw != raw:
            return raw  # NaN stays NaN
        e = math.exp(-abs(raw))
        return 1.0 / (1.0 + e) if raw >= 0 else e / (1.0 + e)

    def _score_outputs(self, outputs, rows):
        """Mean log-loss of P(y = +1) with y in {-1, +1}."""
        tiny = np.finfo(np.float64).tiny
        p = np.where(rows.y > 0, outputs, 1.0 - outputs)
        return float(np.average(-np.log(np.maximum(p, tiny)), weights=rows.sample_weight))

    _train_loss_of_outputs = _score_outputs

    def _initial_bias(self, y, sample_weight, smooth=False):
        # the log-odds of the (weighted) base rate; partial_fit smooths it (one pseudo
        # row of each class) as its first chunk may hold one class only
        positive = y > 0
        if smooth:
            w = np.ones(y.size) if sample_weight is None else sample_weight
            p = (float(np.sum(w[positive])) + 1.0) / (float(np.sum(w)) + 2.0)
        else:
            p = float(np.average(positive, weights=sample_weight))
        p = min(max(p, 1e-6), 1 - 1e-6)
        return float(np.log(p / (1 - p)))

    def _constant_loss(self, y, sample_weight, scale):
        # the log-loss of predicting the base rate, with a floor where one class (almost)
        # never occurs: a runaway is then a mean log-loss above 10
        p = float(np.average(y > 0, weights=sample_weight))
        p = min(max(p, 1e-6), 1 - 1e-6)
        return max(float(-(p * np.log(p) + (1 - p) * np.log(1 - p))), 0.1)

    # -- prediction --------------------------------------------------------------------
    def decision_function(self, X):
        """The model output y(x) for classes_[1]: its log-odds (SGD), its probit
        (ALS; for MCMC the probit of the probability averaged over the samples)."""
        if self._fitted_loss() == "logistic" and getattr(self, "samples_V_", None) is None:
            return self._raw_predict(X)
        from scipy.special import ndtri

        return ndtri(np.clip(self._predict_outputs(X), 1e-300, 1.0 - 1e-16))

    def predict_proba(self, X):
        """Probabilities of classes_[0] and classes_[1], shape (n_samples, 2)."""
        p1 = self._predict_outputs(X)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X):
        """The more probable class of each sample."""
        score = self.decision_function(X)  # checks that the model is fitted first
        return self.classes_[(score > 0).astype(int)]


FMClassifier.__doc__ = f"""Factorization Machine binary classifier: SGD, ALS or MCMC (probit).

    Takes any two label values; ``classes_[1]`` is the positive class.

    Parameters
    ----------
{_COMMON_PARAMETERS}\
    class_weight : None, "balanced" or dict {{label: weight}}, default=None
        Multiplies each row's sample_weight by the weight of its class (labels missing
        from the dict weigh 1). "balanced" uses n_samples / (2 * count of the class)
        in the y given to fit.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
{_COMMON_ATTRIBUTES}\
    history_ : list of dict
        As in FMRegressor, with train_loss and validation_loss the mean log-loss (in
        nats) of P(y = classes_[1]).
    """
