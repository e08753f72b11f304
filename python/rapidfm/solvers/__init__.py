"""Solvers: how a model's parameters are fitted, one module per solver.

A solver is a class (subclass of :class:`rapidfm.solvers._base.Solver`) that
the estimators look up by name, ``FMRegressor(solver="mcmc")``: the shared
training loop (``rapidfm.estimators``) asks it to arrange the rows, to run an
epoch and to report what it keeps besides the model's parameters. Adding a
solver is a new module here plus its registration in ``_REGISTERED`` below.

The axes stay apart: the model kind (``rapidfm.model_kinds``) knows the
parameter shapes, their initialisation and the prediction; the task (the
estimator class: regression or binary classification) knows the targets, the
loss and the metric; the solver knows only how to move the parameters.
"""

import importlib

from rapidfm.solvers._base import Solver

SOLVERS = {}


def register_solver(cls):
    """Class decorator: makes `cls` available as solver=cls.name."""
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise TypeError(f"register_solver takes a Solver subclass, got {cls!r}")
    if cls.name in SOLVERS and SOLVERS[cls.name] is not cls:
        raise ValueError(f"a solver named {cls.name!r} is registered already")
    SOLVERS[cls.name] = cls
    return cls


# the one registration step of a new solver: its module, which registers itself
_REGISTERED = ("sgd", "adagrad", "ftrl", "sgda", "als", "mcmc", "minibatch")
for _module in _REGISTERED:
    importlib.import_module(f"rapidfm.solvers.{_module}")


def get_solver(name):
    """The solver class registered as `name`; ValueError naming the choices otherwise."""
    if not isinstance(name, str) or name not in SOLVERS:
        raise ValueError(f"solver must be one of {tuple(SOLVERS)}, got {name!r}")
    return SOLVERS[name]


def feature_blocks(X):
    """(order, block_ptr) of the column-wise solvers for a matrix X: the sweep order
    of the features, cut into blocks of features that share no row (updated in
    parallel). ALS and MCMC visit w0 first, then the features in this order."""
    from rapidfm.solvers._columns import ColumnView

    view = ColumnView.of_matrix(X)
    return view.order.copy(), view.block_ptr.copy()


__all__ = ["SOLVERS", "Solver", "feature_blocks", "get_solver", "register_solver"]
