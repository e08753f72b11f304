"""Data-parallel training on dask.distributed (the optional extra rapidfm[dask]).

    from distributed import Client
    from rapidfm.dask import DaskFMClassifier

    client = Client(...)
    model = DaskFMClassifier(n_epochs=10, local_epochs=1).fit(X, y)  # dask collections
    p = model.predict_proba(X_test)          # a lazy dask array
    model.to_local().save("model.rfm")       # the plain FMClassifier

`import rapidfm` never imports Dask; this module needs dask and distributed.
See rapidfm.dask.estimators for how a fit runs.
"""

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rapidfm.dask needs dask and distributed: pip install \"rapidfm[dask]\"") from exc

from rapidfm.dask._rounds import WorkerLostError
from rapidfm.dask.estimators import (
    DaskFFMClassifier,
    DaskFFMRegressor,
    DaskFMClassifier,
    DaskFMRegressor,
)

__all__ = ["DaskFFMClassifier", "DaskFFMRegressor", "DaskFMClassifier", "DaskFMRegressor",
           "WorkerLostError"]
