"""Callbacks for the estimators' ``callbacks=[...]`` parameter.

A callback is called as ``callback(estimator, history)`` after every epoch, with the
estimator's fitted attributes holding the parameters of that epoch and ``history``
the list of per-epoch records (``history[-1]`` is the epoch just done); a true return
value stops training.
"""

import math
import os

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint:
    """Save the best model so far to `path` while fit runs.

    After every epoch whose ``monitor`` value (by default the validation loss: RMSE
    for FMRegressor, mean log-loss for FMClassifier) is lower than every earlier one,
    the estimator, as it stands after that epoch, is written to `path` with
    ``estimator.save`` (atomically: under a temporary name, renamed into place, so an
    interrupted save or fit leaves the previous checkpoint whole). A fit that stops
    for any reason - Ctrl-C, an exception, a power cut after the rename - loses at
    most the epochs since the best one: ``rapidfm.load(path)`` gives the best epoch's
    model, and ``warm_start=True`` can go on from it.

    Parameters
    ----------
    path : str or os.PathLike
        The model file to write (overwritten by each improvement).
    monitor : str, default="validation_loss"
        The key of the history records to minimise: "validation_loss" (needs
        validation rows: ``fit(..., eval_set=(X_val, y_val))`` or
        ``early_stopping=True``, else the first epoch raises ValueError) or
        "train_loss".
    min_delta : float, default=0.0
        An epoch counts as an improvement when its value is below the best so far by
        more than min_delta.
    save_best_only : bool, default=True
        False: save after every epoch (the file then holds the latest epoch), still
        tracking best_.

    Attributes
    ----------
    best_ : float or None
        The lowest monitored value seen (in the current run), None before any epoch.
    best_epoch_ : int or None
        Its epoch, counted like the estimator's t_ (history's "epoch").
    n_saves_ : int
        Files written so far (in this run).

    A fit with ``warm_start=False`` (its first epoch's history holds one record)
    starts a new run: best_ is forgotten, so the first epoch is always saved. A
    warm-start fit or a further partial_fit goes on from best_, so the file is only
    replaced by a better model.

    With ``early_stopping`` the estimator ends with the best epoch's parameters
    restored, the ones the checkpoint holds (the file's history_ ends at that
    epoch). The checkpoint saves the estimator's parameters (``callbacks`` itself is
    stored as null, as for any callable).
    """

    def __init__(self, path, monitor="validation_loss", min_delta=0.0, save_best_only=True):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {monitor!r}")
        if (isinstance(min_delta, bool) or not isinstance(min_delta, (int, float))
                or not math.isfinite(min_delta) or min_delta < 0):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        if not isinstance(save_best_only, bool):
            raise TypeError(f"save_best_only must be True or False, got {save_best_only!r}")
        self.path = path
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.save_best_only = save_best_only
        self.best_ = None
        self.best_epoch_ = None
        self.n_saves_ = 0

    def __repr__(self):
        return (f"ModelCheckpoint(path={self.path!r}, monitor={self.monitor!r}, "
                f"min_delta={self.min_delta!r}, save_best_only={self.save_best_only!r})")

    def _value(self, record):
        if self.monitor not in record:
            raise ValueError(
                f"ModelCheckpoint(monitor={self.monitor!r}): the history records have no "
                f"{self.monitor!r}; they have {sorted(record)}")
        value = record[self.monitor]
        if value is None:
            raise ValueError(
                f"ModelCheckpoint(monitor={self.monitor!r}): epoch {record.get('epoch')} "
                "has no validation loss. Fit with validation rows, fit(X, y, "
                "eval_set=(X_val, y_val)) or early_stopping=True, or monitor "
                "'train_loss'")
        value = float(value)
        if math.isnan(value):
            raise ValueError(f"ModelCheckpoint(monitor={self.monitor!r}): epoch "
                             f"{record.get('epoch')} has a NaN {self.monitor}")
        return value

    def __call__(self, estimator, history):
        if not history:
            return False
        if len(history) == 1:  # a new fit (or the first partial_fit): a new run
            self.best_ = self.best_epoch_ = None
            self.n_saves_ = 0
        record = history[-1]
        value = self._value(record)
        improved = self.best_ is None or value < self.best_ - self.min_delta
        if improved:
            self.best_, self.best_epoch_ = value, record.get("epoch", len(history))
        if improved or not self.save_best_only:
            estimator.save(self.path)
            self.n_saves_ += 1
        return False
