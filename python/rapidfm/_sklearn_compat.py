"""scikit-learn integration without depending on scikit-learn at run time.

When scikit-learn is installed the estimators derive from its base classes
(so clone, pipelines, grid search and its estimator checks see a native
estimator) and raise its NotFittedError. Without it, minimal stand-ins give
the same get_params/set_params contract.

scikit-learn is imported on the first use of one of those names (PEP 562
module ``__getattr__``), not when this module is imported: the data readers
(rapidfm.io, which validates through rapidfm._validation) need none of it, and
importing it costs about 1 s, most of a short script's start-up. The choice
(scikit-learn's classes or the stand-ins) is made once per process.
"""

import functools
import inspect
import os
import types

_LAZY_NAMES = ("HAVE_SKLEARN", "BaseEstimator", "ClassifierMixin", "DataConversionWarning",
               "NotFittedError", "RegressorMixin")


def _resolve():
    """{name: value} for _LAZY_NAMES: scikit-learn's classes, or the stand-ins."""
    # RAPIDFM_SKLEARN=0 (the `rapidfm` command's default, see rapidfm._console)
    # skips scikit-learn even where it is installed
    if os.environ.get("RAPIDFM_SKLEARN", "1").strip() != "0":
        try:
            from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
            from sklearn.exceptions import DataConversionWarning, NotFittedError
        except ImportError:
            pass
        else:
            classes = (BaseEstimator, ClassifierMixin, DataConversionWarning, NotFittedError,
                       RegressorMixin)
            return dict(zip(_LAZY_NAMES, (True, *classes)))
    standins = (_BaseEstimator, _ClassifierMixin, _DataConversionWarning, _NotFittedError,
                _RegressorMixin)
    return dict(zip(_LAZY_NAMES, (False, *standins)))


def __getattr__(name):
    if name not in _LAZY_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals().update(_resolve())  # all at once: one process never mixes the two
    return globals()[name]


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))


class _NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before fit (same bases as scikit-learn's)."""


class _DataConversionWarning(UserWarning):
    """Warns that the input was converted (same name and base as scikit-learn's)."""


class _BaseEstimator:
    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind != p.VAR_KEYWORD
        )

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters: {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class _RegressorMixin:
    _estimator_type = "regressor"

    def score(self, X, y, sample_weight=None):
        import numpy as np

        y = np.asarray(y, dtype=float)
        pred = self.predict(X)
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, float)
        ss_res = np.sum(w * (y - pred) ** 2)
        ss_tot = np.sum(w * (y - np.average(y, weights=w)) ** 2)
        return 1.0 - ss_res / ss_tot


class _ClassifierMixin:
    _estimator_type = "classifier"

    def score(self, X, y, sample_weight=None):
        import numpy as np

        return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))


# the stand-ins carry the public names (reprs, tracebacks and pickles name
# rapidfm._sklearn_compat.NotFittedError, which __getattr__ resolves)
for _standin in (_BaseEstimator, _ClassifierMixin, _DataConversionWarning, _NotFittedError,
                 _RegressorMixin):
    _standin.__name__ = _standin.__qualname__ = _standin.__name__[1:]
del _standin


class available_if:
    """Decorator: the method exists only where check(estimator) is true, so that
    hasattr(estimator, "partial_fit") tells whether it applies (as scikit-learn's
    sklearn.utils.metaestimators.available_if, which the common checks rely on)."""

    def __init__(self, check):
        self.check = check

    def __call__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)
        return self

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if not self.check(obj):
            raise AttributeError(
                f"{type(obj).__name__} has no {self.fn.__name__!r} with these parameters: "
                f"{self.check.__doc__ or 'it does not apply'}")
        return types.MethodType(self.fn, obj)


__all__ = ["available_if", "inspect", *_LAZY_NAMES]
