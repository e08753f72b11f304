"""The estimator classes that model files (rapidfm.persistence) can name, by class name.

An estimator class joins with the ``@register_estimator`` class decorator; a model file's
``estimator`` field is looked up with :func:`estimator_class`. The registry lets the
persistence code load a model without importing rapidfm.estimators at module level (so
neither module imports the other at import time).

Besides its name, a registered class tells the file format its model kind and task:
``cls._model_kind`` (default ``"fm"``), and ``"binary_classification"`` for a
scikit-learn classifier, else ``"regression"``.
"""

from rapidfm._sklearn_compat import ClassifierMixin

__all__ = ["UnknownEstimatorError", "estimator_class", "estimator_kind", "estimator_task",
           "register_estimator", "registered_estimators", "registered_name"]

MODEL_KINDS = ("fm", "ffm", "afm", "deepfm")
TASKS = ("regression", "binary_classification", "ranking")

_ESTIMATORS = {}


class UnknownEstimatorError(LookupError):
    """No estimator class of that name is registered."""


def register_estimator(cls):
    """Register `cls` under ``cls.__name__``; returns `cls`, so it works as a class decorator.

    Registering the same class again is a no-op (e.g. on a module reload, the new class
    object replaces the old one); a different class under a taken name is a TypeError
    unless it is a reloaded version of the same class (same module and qualified name).
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_estimator expects a class, got {type(cls).__name__}")
    name = cls.__name__
    old = _ESTIMATORS.get(name)
    if old is not None and old is not cls and (old.__module__, old.__qualname__) != (
            cls.__module__, cls.__qualname__):
        raise TypeError(f"an estimator named {name!r} is already registered "
                        f"({old.__module__}.{old.__qualname__})")
    _ESTIMATORS[name] = cls
    return cls


def estimator_class(name):
    """The estimator class registered as `name`; UnknownEstimatorError if there is none."""
    try:
        return _ESTIMATORS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_ESTIMATORS)) or "none"
        raise UnknownEstimatorError(
            f"unknown estimator {name!r} (registered estimators: {known})") from None


def registered_estimators():
    """{name: class} of every registered estimator (a copy, sorted by name)."""
    return dict(sorted(_ESTIMATORS.items()))


def registered_name(cls):
    """The name under which `cls` or its nearest registered base class is registered, or
    None (a subclass of FMRegressor is saved as an FMRegressor)."""
    for klass in cls.__mro__:
        if _ESTIMATORS.get(klass.__name__) is klass:
            return klass.__name__
    return None


def estimator_kind(cls):
    """The model kind of estimator class `cls`: its ``_model_kind`` string, else "fm"."""
    kind = getattr(cls, "_model_kind", None)
    return kind if isinstance(kind, str) else "fm"


def estimator_task(cls):
    """The task of estimator class `cls`: "ranking" for a ranker (``_task``), else
    "binary_classification" for a classifier (a subclass of scikit-learn's
    ClassifierMixin), else "regression"."""
    if getattr(cls, "_task", None) == "ranking":
        return "ranking"
    return "binary_classification" if issubclass(cls, ClassifierMixin) else "regression"
