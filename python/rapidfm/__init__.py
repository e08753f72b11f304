"""rapidfm: Factorization Machines on large sparse data.

A parallel C kernel (OpenMP, lock-free SGD, GIL released) under scikit-learn
style estimators::

    from rapidfm import FMRegressor
    model = FMRegressor(n_factors=8, n_epochs=20, n_jobs=-1).fit(X, y)
"""

import importlib

# Loaded on first use (PEP 562), so that `import rapidfm.cli` or `import
# rapidfm._core` does not import the estimators (and scikit-learn) first: the
# command line starts in a third of the time.
_LAZY = {
    "DivergenceError": ("rapidfm._core", "DivergenceError"),
    "FMClassifier": ("rapidfm.estimators", "FMClassifier"),
    "FMRegressor": ("rapidfm.estimators", "FMRegressor"),
    "FMRanker": ("rapidfm.ranking", "FMRanker"),
    "Interactions": ("rapidfm.implicit", "Interactions"),
    "FFMClassifier": ("rapidfm.field_aware", "FFMClassifier"),
    "FFMRegressor": ("rapidfm.field_aware", "FFMRegressor"),
    "FieldEncoder": ("rapidfm.fields", "FieldEncoder"),
    "IdColumnWarning": ("rapidfm._validation", "IdColumnWarning"),
    "ModelCheckpoint": ("rapidfm.callbacks", "ModelCheckpoint"),
    "ModelFileError": ("rapidfm.persistence", "ModelFileError"),
    "encode_frame": ("rapidfm.fields", "encode_frame"),
    "load": ("rapidfm.persistence", "load"),
    "plot_history": ("rapidfm.plotting", "plot_history"),  # matplotlib only when called
    "io": ("rapidfm.io", None),
    "callbacks": ("rapidfm.callbacks", None),
    "inspection": ("rapidfm.inspection", None),
    "ranking_metrics": ("rapidfm.ranking_metrics", None),
}


def __getattr__(name):
    if name == "__version__":
        # importlib.metadata costs 30-45 ms to import: not on every start of the CLI
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("rapidfm")
        except PackageNotFoundError:  # running from a source tree without an install
            value = "0.0.0+unknown"
        globals()[name] = value
        return value
    if name not in _LAZY:
        raise AttributeError(f"module 'rapidfm' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


def openmp_enabled():
    """True when the installed kernel was built with OpenMP (parallel); False for a serial build."""
    from rapidfm._core import openmp_enabled as enabled

    return enabled()


__all__ = [
    "DivergenceError",
    "FFMClassifier",
    "FFMRegressor",
    "FMClassifier",
    "FMRanker",
    "FMRegressor",
    "FieldEncoder",
    "IdColumnWarning",
    "Interactions",
    "ModelCheckpoint",
    "ModelFileError",
    "callbacks",
    "encode_frame",
    "inspection",
    "io",
    "load",
    "openmp_enabled",
    "plot_history",
    "ranking_metrics",
    "__version__",
]
