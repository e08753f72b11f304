"""rapidfm: Factorization Machines on large sparse data.

A parallel C kernel (OpenMP, lock-free SGD, GIL released) under scikit-learn
style estimators::

    from rapidfm import FMRegressor
    model = FMRegressor(n_factors=8, n_epochs=20, n_jobs=-1).fit(X, y)
"""

from rapidfm import io
from rapidfm._core import DivergenceError
from rapidfm._core import openmp_enabled as _openmp_enabled
from rapidfm.estimators import FMClassifier, FMRegressor
from rapidfm.persistence import ModelFileError, load

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("rapidfm")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"


def openmp_enabled():
    """True when the installed kernel was built with OpenMP (parallel); False for a serial build."""
    return _openmp_enabled()


__all__ = [
    "DivergenceError",
    "FMClassifier",
    "FMRegressor",
    "ModelFileError",
    "io",
    "load",
    "openmp_enabled",
    "__version__",
]
