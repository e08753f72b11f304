"""FFMClassifier and FFMRegressor: field-aware Factorization Machines (libffm's model).

A field-aware FM gives every feature one latent vector per field; the pair of two
values p, q uses v_{j_p, field(q)} . v_{j_q, field(p)} (fastfm.h, fm_ffm_model):

    y(x) = w0 + sum_p w_{j_p} x_p + sum_{p<q} <v_{j_p, f_q}, v_{j_q, f_p}> x_p x_q

It is the second model kind of the structure of rapidfm.estimators: the task
(FMRegressor's or FMClassifier's targets, losses and metrics), the solvers
("adagrad", "sgd", "ftrl") and the training loop are the FM's; what differs is the
parameters (rapidfm.model_kinds.FFMParameters, V of shape (n_features, n_fields,
n_factors)), the rows (which carry the field of every value: rapidfm._ffm_data)
and the kernel (fastfm_core/src/ffm_impl.h).

Where the fields come from, at fit and predict:
- ``fields=`` per stored value (what rapidfm.io.load_libffm returns), or per column;
- the parameter ``feature_fields`` (per column): predict then needs no fields, and
  the estimator works in a scikit-learn Pipeline;
- neither: every column of X is its own field (up to MAX_AUTO_FIELDS columns);
- a pandas DataFrame with categorical columns goes through rapidfm.FieldEncoder
  first (one field per column): rapidfm.encode_frame(frame) -> (X, feature_fields).
"""

import numbers

import numpy as np
import scipy.sparse as sp

from rapidfm import _core
from rapidfm._feature_names import check_feature_names
from rapidfm._ffm_data import check_feature_fields, ffm_rows
from rapidfm._registry import register_estimator
from rapidfm._validation import effective_n_threads, values_or_none
from rapidfm.estimators import _COMMON_ATTRIBUTES, FMClassifier, FMRegressor
from rapidfm.model_kinds import FFMParameters

__all__ = ["FFMClassifier", "FFMRegressor", "MAX_AUTO_FIELDS"]

SOLVERS = ("adagrad", "sgd", "ftrl")
PARALLEL = ("auto", "hogwild", "hybrid")
# learning_rate=None: libffm's eta for the adaptive rules (measured: README, "FFM")
DEFAULT_LEARNING_RATES = {"adagrad": 0.2, "ftrl": 0.2, "sgd": 0.1}
# without fields, each column is a field; past this many columns V (n_features^2 k
# values) would be a memory accident, so fit asks for fields instead
MAX_AUTO_FIELDS = 1000


class _FieldAware:
    """The model kind of the field-aware estimators: placed before FMRegressor /
    FMClassifier in the MRO, it replaces the FM's rows, parameters and prediction."""

    _model_kind = "ffm"
    _parameters = FFMParameters
    _default_learning_rates = DEFAULT_LEARNING_RATES
    # shuffle="auto" makes no shuffled copy: a field-aware row costs O(nnz^2 k), which
    # hides its cache misses (prefetched), and the copy cost more than it saved (planted
    # 1M x 10 fields: 0.65 s per epoch either way, 0.4 s for the copy)
    _shuffle_copy_pays = False

    # -- parameters --------------------------------------------------------------------
    def _check_params(self):
        if not isinstance(self.solver, str) or self.solver not in SOLVERS:
            raise ValueError(
                f"solver must be one of {SOLVERS} for {type(self).__name__}, got "
                f"{self.solver!r} (als, mcmc and sgda are FMRegressor / FMClassifier solvers)")
        if not isinstance(self.parallel, str) or self.parallel not in PARALLEL:
            raise ValueError(
                f"parallel must be one of {PARALLEL} for {type(self).__name__}, got "
                f"{self.parallel!r}: threads share the model (hogwild), with private copies "
                "of the hot features (hybrid)")
        for name in ("normalize", "fit_linear"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        n_fields = self.n_fields
        if n_fields is not None and (isinstance(n_fields, bool)
                                     or not isinstance(n_fields, numbers.Integral)
                                     or n_fields < 1):
            raise ValueError(f"n_fields must be None or an int >= 1, got {n_fields!r}")
        if self.feature_fields is not None:
            check_feature_fields(self.feature_fields, None, n_fields)
        return super()._check_params()

    # -- rows --------------------------------------------------------------------------
    def _layout(self, continuing):
        """(feature_fields or None, n_fields or None) that fit's rows must follow."""
        if continuing:
            kept = getattr(self, "feature_fields_", None)
            given = self.feature_fields
            return (kept if given is None else given), int(self.n_fields_)
        return self.feature_fields, self.n_fields

    def _rows_of(self, X, dtype, fields, feature_fields, n_features, n_fields, name, owner):
        if not (sp.issparse(X) or hasattr(X, "shape")):
            X = np.asarray(X)  # lists and other array-likes, as the FM estimators take them
        if fields is None and feature_fields is None:
            width = X.shape[1] if len(X.shape) == 2 else None
            if width is not None and width > MAX_AUTO_FIELDS:
                raise ValueError(
                    f"{owner} needs fields for X's {width} columns: without them every "
                    f"column is its own field (up to {MAX_AUTO_FIELDS} columns), and V would "
                    f"hold {width} x {width} x n_factors values. Pass fields= (per stored "
                    "value, as rapidfm.io.load_libffm returns, or per column) or set "
                    "feature_fields")
            if width is not None:
                feature_fields = np.arange(width, dtype=np.int32)
        return ffm_rows(X, fields, dtype, feature_fields=feature_fields, n_features=n_features,
                        n_fields=n_fields, name=name, owner=owner)

    def _training_rows(self, X, dtype, fields, continuing, name):
        feature_fields, n_fields = self._layout(continuing)
        rows, n_fields = self._rows_of(X, dtype, fields, feature_fields,
                                       self.n_features_in_ if continuing else None, n_fields,
                                       "X", name)
        per_column = rows.column_fields  # None for per-value fields: predict needs them
        if continuing and per_column is None:
            per_column = getattr(self, "feature_fields_", None)
        self._fit_layout = (per_column, n_fields)
        return rows.indptr, rows.indices, rows.data, rows.n_features, rows.fields

    def _validation_rows(self, X_val, dtype, n_features, fields):
        per_column, n_fields = self._fit_layout
        if fields is None and per_column is None:
            raise ValueError("the training rows have per-value fields: pass the validation "
                             "rows' fields as eval_fields")
        rows, _ = self._rows_of(X_val, dtype, fields, per_column, n_features, n_fields,
                                "X_val", type(self).__name__)
        return rows.indptr, rows.indices, rows.data, rows.fields

    # -- parameters of the model kind --------------------------------------------------
    def _new_parameters(self, n_features, k, dtype, seed, init_std, bias):
        return FFMParameters.new(n_features, self._fit_layout[1], k, dtype, seed, init_std,
                                 bias, linear=bool(self.fit_linear),
                                 normalize=bool(self.normalize))

    def _check_continued_shape(self, k):
        super()._check_continued_shape(k)
        n_fields = self._fit_layout[1]
        if self.V_.shape[1] != n_fields:
            raise ValueError(f"the rows have {n_fields} fields, but the fitted model has "
                             f"{self.V_.shape[1]}")
        for name in ("normalize", "fit_linear"):
            fitted = getattr(self, name + "_", getattr(self, name))
            if bool(getattr(self, name)) != bool(fitted):
                raise ValueError(
                    f"{name}={getattr(self, name)}, but the fitted model has {name}_={fitted}: "
                    "a model goes on training with its own (set warm_start=False to fit a new "
                    "model)")

    def _factor_init_scale(self, solver, train):
        # normalised rows have unit norm: the FM's rescaling of init_std does not apply
        return 1.0 if self.normalize else super()._factor_init_scale(solver, train)

    def _kind_attributes(self):
        per_column, n_fields = self._fit_layout
        return {"n_fields_": int(n_fields), "feature_fields_": per_column,
                "normalize_": bool(self.normalize), "fit_linear_": bool(self.fit_linear)}

    # -- prediction --------------------------------------------------------------------
    def _field_raw(self, X, fields=None):
        """y(x) of the fitted parameters, float64."""
        self._check_fitted()
        name = type(self).__name__
        if fields is None and getattr(self, "feature_fields_", None) is None:
            raise ValueError(f"this {name} was fitted with per-value fields (one per stored "
                             "value of X): pass the fields of X's values, fields=...")
        check_feature_names(getattr(self, "feature_names_in_", None), X, name)
        rows, _ = self._rows_of(X, self.V_.dtype, fields, getattr(self, "feature_fields_", None),
                                self.n_features_in_, int(self.n_fields_), "X", name)
        return _core.ffm_predict(self.w0_, self.w_, self.V_, rows.indptr, rows.indices,
                                 rows.fields, values_or_none(rows.data),
                                 linear=bool(getattr(self, "fit_linear_", self.fit_linear)),
                                 normalize=bool(getattr(self, "normalize_", self.normalize)),
                                 n_threads=effective_n_threads(self.n_jobs))

    def _predict_current(self, X):
        return self._field_raw(X)

    _raw_predict = _predict_current

    def _predict_outputs(self, X, fields=None):
        return self._outputs_from_raw(self._field_raw(X, fields), self._fitted_target_attrs(),
                                      loss=self._fitted_loss())


_FFM_PARAMETERS = """\
    n_factors : int, default=8
        Rank k of every latent vector (each feature has one per field).
    n_epochs : int, default=15
        Passes over the training data (libffm's -t), each in a fresh random order.
    solver : {"adagrad", "sgd", "ftrl"}, default="adagrad"
        The step rule, as for FMRegressor: "adagrad" (libffm's) keeps the sums of
        squared gradients as fitted attributes; "ftrl" applies FTRL-proximal to w0 and
        w (with reg_linear_l1) and AdaGrad to V.
    learning_rate : float or None, default=None
        eta; None: 0.2 for "adagrad" and "ftrl" (libffm's -r), 0.1 for "sgd".
    reg_bias, reg_linear, reg_factors : float, default=0.0, 2e-5, 2e-5
        L2 strengths on w0, w and V (libffm's -l for V), applied to what a row touches
        (for V: per pair, as libffm).
    init_std : float, default=0.1
        Standard deviation of the normal initialisation of V.
    feature_fields : array of int of shape (n_features,) or None, default=None
        The field of every column of X. With it, fit and predict need no fields and the
        estimator works in a Pipeline. None: fit(X, y, fields=...) gives them, or every
        column is its own field when no fields are given (at most 1000 columns).
    n_fields : int or None, default=None
        The number of fields; None: the largest field id of the training rows + 1.
    normalize : bool, default=True
        Scale every row to unit L2 norm before the model sees it (libffm's and
        xLearn's instance normalisation, on by default there too; libffm's
        --no-norm is normalize=False).
    fit_linear : bool, default=True
        Fit the bias w0 and the linear weights w (xLearn's FFM has them). False is
        libffm's model: pairs only, w0_ = 0 and w_ = 0.
    n_jobs, random_state, dtype, verbose, callbacks, warm_start, early_stopping,
    validation_fraction, n_iter_no_change, tol, block_rows, shuffle, schedule, power_t,
    reg_linear_l1, ftrl_beta :
        As for FMRegressor / FMClassifier.
    parallel : {"auto", "hogwild", "hybrid"}, default="auto"
        "hogwild": threads share one model without locks. "hybrid" ("auto"): each
        thread keeps private copies of the hot features (those in at least 0.5% of
        a sample of rows, up to 4 MiB of copies) and merges them into the model every
        2048 rows (the average of the threads' changes); the rest is shared. On click
        logs the most common value of a field is in a large share of the rows, and a
        shared one makes its cache lines bounce between the cores on almost every row:
        on the planted 1M x 10 field set hogwild ran 2 threads slower than 1 (README,
        "Speed"). With more than one thread "auto" also times an epoch each in hybrid
        and on one thread (and hogwild when hybrid was the slower), and trains with the
        fastest (as FMRegressor's).
"""

_FFM_ATTRIBUTES = _COMMON_ATTRIBUTES.replace(
    "    V_ : ndarray of shape (n_features, n_factors)\n",
    "    V_ : ndarray of shape (n_features, n_fields_, n_factors)\n"
    "        V_[j, f] is feature j's latent vector for pairs with a value of field f.\n"
    "    n_fields_ : int\n"
    "    feature_fields_ : ndarray of int32 of shape (n_features,) or None\n"
    "        The per-column fields of fit (None when fit had per-value fields: predict\n"
    "        then needs fields too).\n"
    "    normalize_, fit_linear_ : bool\n"
    "        The normalize and fit_linear the model was fitted with (predict uses them).\n")


def _shared_init(est, n_factors, n_epochs, learning_rate, schedule, power_t, reg_bias,
                 reg_linear, reg_factors, init_std, n_jobs, random_state, dtype, parallel,
                 verbose, callbacks, warm_start, early_stopping, validation_fraction,
                 n_iter_no_change, tol, block_rows, shuffle, solver, reg_linear_l1, ftrl_beta,
                 feature_fields, n_fields, normalize, fit_linear):
    est.n_factors = n_factors
    est.n_epochs = n_epochs
    est.learning_rate = learning_rate
    est.schedule = schedule
    est.power_t = power_t
    est.reg_bias = reg_bias
    est.reg_linear = reg_linear
    est.reg_factors = reg_factors
    est.init_std = init_std
    est.n_jobs = n_jobs
    est.random_state = random_state
    est.dtype = dtype
    est.parallel = parallel
    est.verbose = verbose
    est.callbacks = callbacks
    est.warm_start = warm_start
    est.early_stopping = early_stopping
    est.validation_fraction = validation_fraction
    est.n_iter_no_change = n_iter_no_change
    est.tol = tol
    est.block_rows = block_rows
    est.shuffle = shuffle
    est.solver = solver
    est.reg_linear_l1 = reg_linear_l1
    est.ftrl_beta = ftrl_beta
    est.feature_fields = feature_fields
    est.n_fields = n_fields
    est.normalize = normalize
    est.fit_linear = fit_linear


@register_estimator
class FFMRegressor(_FieldAware, FMRegressor):
    def __init__(
        self,
        n_factors=8,
        n_epochs=15,
        learning_rate=None,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=2e-5,
        reg_factors=2e-5,
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
        reg_linear_l1=0.0,
        ftrl_beta=1.0,
        feature_fields=None,
        n_fields=None,
        normalize=True,
        fit_linear=True,
    ):
        _shared_init(self, n_factors, n_epochs, learning_rate, schedule, power_t, reg_bias,
                     reg_linear, reg_factors, init_std, n_jobs, random_state, dtype, parallel,
                     verbose, callbacks, warm_start, early_stopping, validation_fraction,
                     n_iter_no_change, tol, block_rows, shuffle, solver, reg_linear_l1,
                     ftrl_beta, feature_fields, n_fields, normalize, fit_linear)
        self.clip_predictions = clip_predictions

    def fit(self, X, y, fields=None, sample_weight=None, eval_set=None, eval_fields=None):
        """Fit on X, real targets y and the fields of X's values (see the class doc).

        fields : array of int, per stored value of X (sparse X, aligned with its CSR
            indices) or per column; None: feature_fields, else one field per column.
        eval_set, eval_fields : validation rows (X_val, y_val[, sample_weight_val]) and
            their fields (as fields); early stopping on their RMSE.
        """
        return self._train(X, y, sample_weight, partial=False, eval_set=eval_set,
                           fields=fields, eval_fields=eval_fields)

    def partial_fit(self, X, y, fields=None, sample_weight=None):
        """One epoch over the rows given, from the current model (see FMRegressor)."""
        return self._train(X, y, sample_weight, partial=True, fields=fields)

    def predict(self, X, fields=None):
        """Predicted targets (clipped to [y_min_, y_max_] when clip_predictions)."""
        return self._predict_outputs(X, fields)


FFMRegressor.__doc__ = f"""Field-aware Factorization Machine regressor (squared loss).

    libffm has no regression; this is its model with the squared loss of FMRegressor
    (targets scaled by target_scale_ for the adaptive rules, predictions clipped).

    Parameters
    ----------
{_FFM_PARAMETERS}\
    clip_predictions : bool, default=True
        Clip predictions to the range of the training targets.

    Attributes
    ----------
{_FFM_ATTRIBUTES}\
    y_min_, y_max_ : float
        Range of the training targets (used for clipping).
    history_ : list of dict
        Per epoch, as FMRegressor's.
    """


@register_estimator
class FFMClassifier(_FieldAware, FMClassifier):
    def __init__(
        self,
        n_factors=8,
        n_epochs=15,
        learning_rate=None,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=2e-5,
        reg_factors=2e-5,
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
        reg_linear_l1=0.0,
        ftrl_beta=1.0,
        feature_fields=None,
        n_fields=None,
        normalize=True,
        fit_linear=True,
    ):
        _shared_init(self, n_factors, n_epochs, learning_rate, schedule, power_t, reg_bias,
                     reg_linear, reg_factors, init_std, n_jobs, random_state, dtype, parallel,
                     verbose, callbacks, warm_start, early_stopping, validation_fraction,
                     n_iter_no_change, tol, block_rows, shuffle, solver, reg_linear_l1,
                     ftrl_beta, feature_fields, n_fields, normalize, fit_linear)
        self.class_weight = class_weight

    def fit(self, X, y, fields=None, sample_weight=None, eval_set=None, eval_fields=None):
        """Fit on X, two-valued labels y and the fields of X's values (see the class doc).

        fields : array of int, per stored value of X (sparse X, aligned with its CSR
            indices, as rapidfm.io.load_libffm returns) or per column; None:
            feature_fields, else one field per column.
        eval_set, eval_fields : validation rows (X_val, y_val[, sample_weight_val]) and
            their fields; early stopping on their mean log-loss.
        """
        return self._train(X, y, sample_weight, partial=False, eval_set=eval_set,
                           fields=fields, eval_fields=eval_fields)

    def partial_fit(self, X, y, classes=None, fields=None, sample_weight=None):
        """One epoch over the rows given (classes required on the first call)."""
        return self._train(X, y, sample_weight, partial=True, classes=classes, fields=fields)

    def decision_function(self, X, fields=None):
        """The log-odds of classes_[1]."""
        return self._field_raw(X, fields)

    def predict_proba(self, X, fields=None):
        """Probabilities of classes_[0] and classes_[1], shape (n_samples, 2)."""
        p1 = self._predict_outputs(X, fields)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X, fields=None):
        """The more probable class of each sample."""
        self._check_fitted()
        return self.classes_[(self.decision_function(X, fields) > 0).astype(int)]


FFMClassifier.__doc__ = f"""Field-aware Factorization Machine binary classifier (logistic loss).

    libffm's model and training (AdaGrad, instance normalisation) with the bias and
    linear terms of xLearn (fit_linear=False for libffm's). Takes any two label
    values; ``classes_[1]`` is the positive class.

    Parameters
    ----------
{_FFM_PARAMETERS}\
    class_weight : None, "balanced" or dict {{label: weight}}, default=None
        As for FMClassifier.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
{_FFM_ATTRIBUTES}\
    history_ : list of dict
        Per epoch, as FMClassifier's (mean log-loss).
    """
