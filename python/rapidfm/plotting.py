"""Learning curves from ``history_``: ``rapidfm.plot_history`` and the file writer behind
``rapidfm train --plot``.

matplotlib is an optional extra (``pip install "rapidfm[plot]"``); it is imported when a
function here is called, never by ``import rapidfm`` or ``import rapidfm.plotting``.

What is drawn, per epoch of ``history_`` (one record per epoch, warm-start fits and
partial_fit calls included):

- FMRegressor: RMSE. The train curve is ``sqrt(train_loss)`` (history_ holds the mean
  squared error per row; for SGD the running error over the epoch, before each update,
  for ALS/MCMC the error after the sweep); the validation curve is ``validation_loss``,
  already an RMSE. Both are on the scale of the target, as in the ``verbose`` lines.
- FMClassifier: mean log-loss in nats, ``train_loss`` and ``validation_loss`` as stored.
- x: ``"epoch"`` is the record's epoch (counted like ``t_``, so a warm-start fit goes
  on where the previous one stopped); ``"seconds"`` is the cumulative training time,
  the running sum of the records' ``seconds`` (the epochs themselves, not the
  validation scoring between them).
- Validation points only where a record has a validation loss (fit with ``eval_set=``
  or ``early_stopping=True``); early stopping keeps every epoch it ran in history_,
  the restored best one included.
"""

import os

__all__ = ["check_plot_path", "history_curves", "plot_history", "save_history_plot"]

_EXTRA_HINT = 'pip install "rapidfm[plot]"'

# task -> (y-axis label, history train_loss -> the number drawn)
_METRICS = {
    "regression": ("RMSE", lambda loss: float(loss) ** 0.5),
    "classification": ("log-loss", float),
}
_X_LABELS = {"epoch": "epoch", "seconds": "training time (s, cumulative)"}
_WHICH = ("train", "validation")


def _require_matplotlib(what):
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            f"{what} needs matplotlib, which is an optional extra of rapidfm: "
            f"{_EXTRA_HINT} (or pip install matplotlib)") from exc
    return matplotlib


def _as_list(models):
    if isinstance(models, (list, tuple)):
        models = list(models)
        if not models:
            raise ValueError("plot_history needs at least one model, got an empty list")
        return models
    return [models]


def _task_of(model):
    task = getattr(type(model), "_task", None)
    if task not in _METRICS:
        raise TypeError(f"plot_history takes FMRegressor / FMClassifier models, got "
                        f"{type(model).__name__}")
    return task


def _history_of(model):
    """The model's history_, or a clear error for an unfitted model or an empty history."""
    name = type(model).__name__
    history = getattr(model, "history_", None)
    if history is None:
        from rapidfm._sklearn_compat import NotFittedError

        raise NotFittedError(f"This {name} instance is not fitted yet, so it has no "
                             "history_ to plot. Call 'fit' (or 'partial_fit') first.")
    if len(history) == 0:
        raise ValueError(f"This {name} has an empty history_: it was not trained here "
                         "(a model read from a libFM file has no epochs to plot)")
    return history


def _default_labels(models):
    labels = [f"{type(m).__name__} {getattr(m, 'solver', 'sgd')}" for m in models]
    if len(set(labels)) < len(labels):  # two alike: number them by their place in the list
        labels = [f"{label} ({i})" for i, label in enumerate(labels, 1)]
    return labels


def _check_labels(labels, models):
    if labels is None:
        return _default_labels(models)
    if isinstance(labels, str):
        labels = [labels]
    labels = [str(label) for label in labels]
    if len(labels) != len(models):
        raise ValueError(f"labels has {len(labels)} entries for {len(models)} models")
    return labels


def _check_which(which):
    if isinstance(which, str):
        which = (which,)
    which = tuple(which)
    bad = [w for w in which if w not in _WHICH]
    if bad or not which:
        raise ValueError(f"which must name 'train' and/or 'validation', got {which!r}")
    return which


def history_curves(model, x="epoch", which=_WHICH):
    """The curves plot_history draws for one model, without matplotlib.

    Returns a list of ``(part, xs, ys)`` with part "train" or "validation" and xs, ys
    lists of floats (see the module docstring for what they are). A validation curve
    is left out when no record has a validation loss.
    """
    if x not in _X_LABELS:
        raise ValueError(f"x must be 'epoch' or 'seconds', got {x!r}")
    which = _check_which(which)
    task = _task_of(model)
    history = _history_of(model)
    _, train_metric = _METRICS[task]
    if x == "epoch":
        xs = [float(record["epoch"]) for record in history]
    else:
        missing = [i for i, record in enumerate(history) if "seconds" not in record]
        if missing:
            raise ValueError(f"x='seconds': history_ record {missing[0]} has no 'seconds'")
        xs, total = [], 0.0
        for record in history:
            total += float(record["seconds"])
            xs.append(total)
    curves = []
    if "train" in which:
        curves.append(("train", xs, [train_metric(r["train_loss"]) for r in history]))
    if "validation" in which:
        kept = [(xv, float(r["validation_loss"])) for xv, r in zip(xs, history)
                if r.get("validation_loss") is not None]
        if kept:
            curves.append(("validation", [p[0] for p in kept], [p[1] for p in kept]))
    return curves


def plot_history(models, ax=None, *, labels=None, x="epoch", which=_WHICH):
    """Draw the training and validation loss per epoch of one fitted model or several.

    Parameters
    ----------
    models : FMRegressor or FMClassifier, or a list of them
        Fitted models; all regressors or all classifiers (one y axis, one metric).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure from ``matplotlib.pyplot.subplots()``.
    labels : str or list of str, optional
        One name per model; the lines are labelled "<name> train" and
        "<name> validation". Default: class and solver, e.g. "FMRegressor sgd",
        numbered "(1)", "(2)", ... by position when two models would get the same name.
    x : {"epoch", "seconds"}, default="epoch"
        The record's epoch, or the cumulative training time in seconds.
    which : iterable of {"train", "validation"}, default=("train", "validation")
        The curves to draw. A model without validation losses (fitted without
        eval_set / early_stopping) draws no validation curve; ValueError when a model
        would draw nothing at all.

    Regressors are drawn as RMSE (train: sqrt of history_'s mean squared
    ``train_loss``; validation: ``validation_loss``, an RMSE), classifiers as mean
    log-loss. Each model has one colour: train solid, validation dashed. The y label
    names the metric, the x label the quantity; a legend is added.

    Returns
    -------
    matplotlib.axes.Axes

    Raises ImportError naming the ``rapidfm[plot]`` extra when matplotlib is missing,
    NotFittedError for an unfitted model, ValueError for an empty history_.
    """
    _require_matplotlib("rapidfm.plot_history")
    models = _as_list(models)
    labels = _check_labels(labels, models)
    tasks = {_task_of(m) for m in models}
    if len(tasks) > 1:
        raise ValueError("plot_history cannot put regressors (RMSE) and classifiers "
                         "(log-loss) on one axis: plot them on separate axes")
    which = _check_which(which)
    drawn = []
    for model, label in zip(models, labels):
        curves = history_curves(model, x=x, which=which)
        if not curves:
            raise ValueError(f"{label}: nothing to draw for which={which!r}: its history_ "
                             "has no validation loss (fit with eval_set= or "
                             "early_stopping=True)")
        drawn.append((label, curves))

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    # continue the colour cycle of lines already on ax
    first = len(ax.get_lines())
    for i, (label, curves) in enumerate(drawn):
        color = f"C{(first + i) % 10}"
        for part, xs, ys in curves:
            ax.plot(xs, ys, color=color, linestyle="-" if part == "train" else "--",
                    marker="o" if len(xs) == 1 else None, label=f"{label} {part}")
    ax.set_xlabel(_X_LABELS[x])
    if x == "epoch":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(_METRICS[tasks.pop()][0])
    ax.legend()
    return ax


def check_plot_path(path):
    """Fail before training when `path` cannot get a plot: matplotlib missing
    (ImportError naming the extra) or a file extension matplotlib cannot write
    (ValueError listing the ones it can). Returns the format ("png", "svg", ...)."""
    _require_matplotlib("--plot")
    from matplotlib.figure import Figure

    fmt = os.path.splitext(os.fspath(path))[1][1:].lower()
    supported = Figure().canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"cannot write a plot to {os.fspath(path)}: the name must end in "
                         f"one of {', '.join('.' + f for f in sorted(supported))}")
    return fmt


def save_history_plot(models, path, *, figsize=(6.4, 4.8), dpi=100, **kwargs):
    """Draw plot_history(models, **kwargs) on a new figure and write it to `path`.

    No display is needed: the figure is made without pyplot and rendered by the Agg
    family of canvases, whatever the configured backend. The format comes from the
    file extension (.png, .svg, .pdf, ...). The file is written under a temporary
    name in the same folder and renamed into place. Returns the Figure.
    """
    fmt = check_plot_path(path)
    from matplotlib.figure import Figure

    from rapidfm._fileio import atomic_write

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    plot_history(models, ax=fig.add_subplot(), **kwargs)
    atomic_write(path, lambda fh: fig.savefig(fh, format=fmt))
    return fig
