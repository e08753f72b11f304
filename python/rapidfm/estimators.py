"""FMRegressor and FMClassifier: Factorization Machines trained by parallel SGD.

The estimators follow scikit-learn's conventions: __init__ stores its
arguments untouched, fit validates them and the data, and every fitted
attribute ends in an underscore. The C kernel (rapidfm._core) runs the epochs
with the GIL released.
"""

import numbers
import time

import numpy as np

from rapidfm import _core
from rapidfm._sklearn_compat import BaseEstimator, ClassifierMixin, NotFittedError, RegressorMixin
from rapidfm._validation import (
    as_csr,
    check_dtype,
    check_sample_weight,
    check_y,
    effective_n_threads,
    values_or_none,
)

DivergenceError = _core.DivergenceError

_SCHEDULES = ("constant", "invscaling")
_PARALLEL = ("auto", "hogwild", "replicas")


def _seed_sequence(random_state):
    """A numpy Generator from None, an int, a Generator or a RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, an int or a numpy random generator, got {random_state!r}"
    )


class _BaseFM(BaseEstimator):
    """Shared parameters, training loop and prediction of both estimators."""

    _loss = None  # "squared" or "logistic"

    def __init__(
        self,
        n_factors=8,
        n_epochs=20,
        learning_rate=0.01,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=0.0,
        reg_factors=0.0,
        init_std=0.1,
        n_jobs=None,
        random_state=None,
        dtype=np.float32,
        parallel="auto",
        verbose=0,
        callbacks=None,
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

    # -- parameter checks -------------------------------------------------------------
    def _check_params(self):
        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
            return int(value)

        def real(name, low, strict):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a number, got {value!r}")
            value = float(value)
            if not np.isfinite(value) or value < low or (strict and value == low):
                relation = ">" if strict else ">="
                raise ValueError(f"{name} must be a finite number {relation} {low}, got {value}")
            return value

        integer("n_factors", 0)
        integer("n_epochs", 1)
        real("learning_rate", 0.0, strict=True)
        real("power_t", 0.0, strict=False)
        for name in ("reg_bias", "reg_linear", "reg_factors", "init_std"):
            real(name, 0.0, strict=False)
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")
        if self.callbacks is not None and (
            not isinstance(self.callbacks, (list, tuple))
            or not all(callable(c) for c in self.callbacks)
        ):
            raise TypeError(f"callbacks must be a list of callables, got {self.callbacks!r}")
        if self.parallel not in _PARALLEL:
            raise ValueError(f"parallel must be one of {_PARALLEL}, got {self.parallel!r}")
        return check_dtype(self.dtype)

    def _learning_rate_at(self, epoch):
        """eta0 for 'constant'; eta0 / (1 + epoch)^power_t for 'invscaling' (epoch from 0)."""
        if self.schedule == "invscaling":
            return self.learning_rate / (1.0 + epoch) ** self.power_t
        return self.learning_rate

    # -- training ----------------------------------------------------------------------
    def _fit(self, X, y, sample_weight):
        dtype = self._check_params()
        indptr, indices, data, n_features = as_csr(X, dtype)
        n_rows = indptr.size - 1
        y, target_attrs = self._encode_targets(check_y(y, n_rows, numeric=self._loss == "squared"))
        sample_weight = check_sample_weight(sample_weight, n_rows)
        n_threads = effective_n_threads(self.n_jobs)
        rng = _seed_sequence(self.random_state)

        k = int(self.n_factors)
        V = rng.normal(0.0, self.init_std, size=(n_features, k)).astype(dtype)
        w = np.zeros(n_features, dtype=dtype)
        w0 = self._initial_bias(y, sample_weight)
        values = values_or_none(data)
        clip_min, clip_max = self._training_clip(target_attrs)
        nnz = int(indptr[-1])

        history = []
        try:
            for epoch in range(int(self.n_epochs)):
                lr = self._learning_rate_at(epoch)
                start = time.perf_counter()
                try:
                    w0, stats = _core.sgd_epoch(
                        w0, w, V, indptr, indices, values, y, sample_weight,
                        loss=self._loss, learning_rate=lr, reg_bias=float(self.reg_bias),
                        reg_linear=float(self.reg_linear), reg_factors=float(self.reg_factors),
                        clip_min=clip_min, clip_max=clip_max, n_threads=n_threads,
                        parallel_mode=self.parallel, seed=int(rng.integers(0, 2**63)),
                    )
                except DivergenceError:
                    raise DivergenceError(
                        f"training diverged in epoch {epoch + 1}: the loss became NaN or infinite "
                        f"with learning_rate={self.learning_rate}. Use a smaller learning_rate "
                        "(or scale the features / stronger regularisation)."
                    ) from None
                seconds = time.perf_counter() - start
                if not (np.isfinite(w).all() and np.isfinite(V).all()):
                    raise DivergenceError(
                        f"training diverged in epoch {epoch + 1}: parameters became NaN or "
                        f"infinite with learning_rate={self.learning_rate}. Use a smaller "
                        "learning_rate."
                    )
                record = {
                    "epoch": epoch + 1,
                    "train_loss": stats["loss_sum"] / max(stats["weight_sum"], 1e-300),
                    "learning_rate": lr,
                    "seconds": seconds,
                    "rows_per_second": n_rows / seconds if seconds > 0 else float("inf"),
                    "ns_per_nonzero": 1e9 * seconds / max(nnz, 1),
                    "n_threads": stats["n_threads"],
                    "parallel_mode": stats["parallel_mode"],
                }
                history.append(record)
                if self.verbose:
                    print(
                        f"epoch {epoch + 1:3d}  train {self._loss_name()} "
                        f"{self._report_loss(record['train_loss']):.5f}  "
                        f"{record['rows_per_second']:,.0f} rows/s  "
                        f"{record['ns_per_nonzero']:.2f} ns/nnz  threads {stats['n_threads']}",
                        flush=True,
                    )
                if self.callbacks:
                    # the callbacks see the model as it stands after this epoch
                    self._set_fitted(target_attrs, w0, w, V, n_features, history)
                    if any([bool(callback(self, history)) for callback in self.callbacks]):
                        break

        except BaseException:
            # a failed fit (divergence, an exception in a callback, Ctrl-C) leaves the
            # estimator unfitted, not holding the half-trained arrays callbacks saw
            self._clear_fitted(target_attrs)
            raise

        self._set_fitted(target_attrs, w0, w, V, n_features, history)
        return self

    def _clear_fitted(self, target_attrs):
        names = ["w0_", "w_", "V_", "n_features_in_", "n_iter_", "history_", *target_attrs]
        for name in names:
            self.__dict__.pop(name, None)

    def _set_fitted(self, target_attrs, w0, w, V, n_features, history):
        for name, value in target_attrs.items():
            setattr(self, name, value)
        self.w0_ = float(w0)
        self.w_ = w
        self.V_ = V
        self.n_features_in_ = n_features
        self.n_iter_ = len(history)
        self.history_ = history

    def _initial_bias(self, y, sample_weight):
        return 0.0

    def _training_clip(self, target_attrs):
        return -np.inf, np.inf

    def _report_loss(self, loss):
        return loss

    def _loss_name(self):
        return self._loss

    # -- prediction --------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "V_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _raw_predict(self, X):
        self._check_fitted()
        indptr, indices, data, _ = as_csr(X, self.V_.dtype, n_features=self.n_features_in_)
        return _core.predict(
            self.w0_, self.w_, self.V_, indptr, indices, values_or_none(data),
            effective_n_threads(self.n_jobs),
        )


class FMRegressor(RegressorMixin, _BaseFM):
    """Factorization Machine regressor (squared loss) trained by parallel SGD.

    Parameters
    ----------
    n_factors : int, default=8
        Rank k of the pairwise interactions (0 gives a linear model).
    n_epochs : int, default=20
        Passes over the training data, each in a fresh random order.
    learning_rate : float, default=0.01
        SGD step size eta0.
    schedule : {"constant", "invscaling"}, default="constant"
        "invscaling" uses eta0 / (1 + epoch)^power_t in epoch ``epoch`` (from 0).
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    reg_bias, reg_linear, reg_factors : float, default=0.0
        L2 strengths on w0, w and V; applied, as in libFM, to the parameters a sample touches.
    init_std : float, default=0.1
        Standard deviation of the normal initialisation of V.
    n_jobs : int or None, default=None
        Threads: None means 1, -1 all cores (scikit-learn's convention).
    random_state : int, numpy Generator/RandomState or None
        Seeds initialisation and the visit order. With n_jobs=1 two fits with the
        same seed give bit-identical parameters.
    dtype : float32 or float64, default=float32
        Element type of the parameters (and of X inside the kernel).
    parallel : {"auto", "hogwild", "replicas"}, default="auto"
        How threads share the model: "hogwild" updates one shared model without locks;
        "replicas" trains a private copy per thread and merges them regularly, which
        avoids cache-line contention on small or skewed models. "auto" picks replicas
        for models up to 8 MiB.
    verbose : int, default=0
        Print one line per epoch when > 0.
    callbacks : list of callables or None
        Each is called as ``callback(estimator, history)`` after every epoch, with the
        estimator's fitted attributes holding the current parameters; a true return
        value stops training.
    clip_predictions : bool, default=True
        Clip predictions (in training and in predict) to the range of the training
        targets, as libFM does. Set False for unbounded output.

    Attributes
    ----------
    w0_ : float
    w_ : ndarray of shape (n_features,)
    V_ : ndarray of shape (n_features, n_factors)
    n_features_in_ : int
    n_iter_ : int
    y_min_, y_max_ : float
        Range of the training targets (used for clipping).
    history_ : list of dict
        Per epoch: train_loss (mean squared error before each update), learning_rate,
        seconds, rows_per_second, ns_per_nonzero, n_threads, parallel_mode.
    """

    _loss = "squared"

    def __init__(
        self,
        n_factors=8,
        n_epochs=20,
        learning_rate=0.01,
        schedule="constant",
        power_t=0.5,
        reg_bias=0.0,
        reg_linear=0.0,
        reg_factors=0.0,
        init_std=0.1,
        n_jobs=None,
        random_state=None,
        dtype=np.float32,
        parallel="auto",
        verbose=0,
        callbacks=None,
        clip_predictions=True,
    ):
        super().__init__(
            n_factors=n_factors, n_epochs=n_epochs, learning_rate=learning_rate,
            schedule=schedule, power_t=power_t, reg_bias=reg_bias, reg_linear=reg_linear,
            reg_factors=reg_factors, init_std=init_std, n_jobs=n_jobs,
            random_state=random_state, dtype=dtype, parallel=parallel, verbose=verbose,
            callbacks=callbacks,
        )
        self.clip_predictions = clip_predictions

    def fit(self, X, y, sample_weight=None):
        """Fit on X (sparse or dense, n_samples x n_features) and real targets y."""
        return self._fit(X, y, sample_weight)

    def _encode_targets(self, y):
        y = np.ascontiguousarray(y, dtype=np.float64)
        return y, {"y_min_": float(y.min()), "y_max_": float(y.max())}

    def _initial_bias(self, y, sample_weight):
        # start at the (weighted) mean so that early epochs fit structure, not the offset
        return float(np.average(y, weights=sample_weight))

    def _training_clip(self, target_attrs):
        if self.clip_predictions:
            return target_attrs["y_min_"], target_attrs["y_max_"]
        return -np.inf, np.inf

    def _report_loss(self, loss):
        return float(np.sqrt(loss))

    def _loss_name(self):
        return "rmse"

    def predict(self, X):
        """Predicted targets, clipped to [y_min_, y_max_] when clip_predictions is on."""
        out = self._raw_predict(X)
        if self.clip_predictions:
            np.clip(out, self.y_min_, self.y_max_, out=out)
        return out


class FMClassifier(ClassifierMixin, _BaseFM):
    """Factorization Machine binary classifier (logistic loss) trained by parallel SGD.

    Takes any two label values; ``classes_[1]`` is the positive class. The
    parameters are those of FMRegressor without clip_predictions.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    w0_, w_, V_, n_features_in_, n_iter_, history_ : as in FMRegressor
        (history_'s train_loss is the mean logistic loss).
    """

    _loss = "logistic"

    def fit(self, X, y, sample_weight=None):
        """Fit on X and labels y holding exactly two distinct values."""
        return self._fit(X, y, sample_weight)

    def _encode_targets(self, y):
        classes, encoded = np.unique(y, return_inverse=True)
        if classes.size != 2:
            raise ValueError(
                f"FMClassifier is a binary classifier: y must hold exactly 2 classes, "
                f"got {classes.size} ({classes[:10].tolist()})"
            )
        return np.where(encoded.ravel() == 1, 1.0, -1.0), {"classes_": classes}

    def _initial_bias(self, y, sample_weight):
        # the log-odds of the (weighted) base rate
        p = float(np.average(y > 0, weights=sample_weight))
        p = min(max(p, 1e-6), 1 - 1e-6)
        return float(np.log(p / (1 - p)))

    def decision_function(self, X):
        """The raw model output y(x): log-odds of classes_[1]."""
        return self._raw_predict(X)

    def predict_proba(self, X):
        """Probabilities of classes_[0] and classes_[1], shape (n_samples, 2)."""
        raw = self._raw_predict(X)
        p1 = np.empty_like(raw)
        pos = raw >= 0
        p1[pos] = 1.0 / (1.0 + np.exp(-raw[pos]))
        e = np.exp(raw[~pos])
        p1[~pos] = e / (1.0 + e)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X):
        """The more probable class of each sample."""
        raw = self._raw_predict(X)  # checks that the model is fitted before classes_ is read
        return self.classes_[(raw > 0).astype(int)]
