"""What the Dask workers run: read and check partitions, hold a worker's rows, train a
round, score and predict. Rows never leave the worker that holds them: each function
here returns either an object that stays in the worker's memory (a Dask future's
result) or a small summary (counts, sums, parameters) that goes to the driver.

Every function builds a plain local estimator (FMRegressor, FFMClassifier, ...) from
the Dask estimator's parameters and goes through its hooks, so a partition is checked,
its targets encoded and its epochs trained exactly as a single-machine fit would.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from rapidfm import _core
from rapidfm._feature_names import feature_names_of
from rapidfm._validation import (
    check_sample_weight,
    check_y,
    effective_n_threads,
    values_or_none,
)
from rapidfm.estimators import _epoch_seed, _Rows


def local_estimator(local_class, params, fitted=None):
    """A local estimator with these parameters and, optionally, fitted attributes."""
    estimator = local_class(**params)
    if fitted:
        estimator.__dict__.update(fitted)
    return estimator


@dataclass
class Partition:
    """One checked partition of X (its rows, targets as given, weights) and a summary."""

    index: int
    rows: _Rows  # y as given (not yet encoded)
    summary: dict


def read_partition(index, X, y, sample_weight, local_class, params):
    """Checks partition `index` of the training data as the local estimator checks X, y
    and sample_weight; a problem raises TypeError / ValueError naming the partition.
    X may be a cache folder's path (then y is None: the cache holds the targets)."""
    est = local_estimator(local_class, params)
    where = f"partition {index}"
    try:
        if isinstance(X, str):
            from rapidfm.cache import open_cache

            X, y = open_cache(X)
        dtype, _ = est._check_params()
        indptr, indices, data, n_features, fields = est._training_rows(
            X, dtype, None, False, f"{where} of X")
        n_rows = indptr.size - 1
        if y is None:
            raise ValueError("y is missing (only cache folders carry their targets)")
        y = check_y(y, n_rows, numeric=est._task != "classification", owner=f"{where} of y")
        sample_weight = check_sample_weight(sample_weight, n_rows)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    labels, label_counts = np.unique(y, return_counts=True)
    summary = {
        "index": index, "n_rows": n_rows, "n_features": int(n_features),
        "nnz": int(indptr[-1] - indptr[0]), "labels": labels, "label_counts": label_counts,
        "feature_names": feature_names_of(X), "layout": getattr(est, "_fit_layout", None),
    }
    rows = _Rows(indptr, indices, values_or_none(data), y, sample_weight, fields=fields)
    return Partition(index, rows, summary)


def partition_summary(partition):
    return partition.summary


def concatenated(partitions):
    """The rows of several partitions as one block, in the order given."""
    if len(partitions) == 1:
        return partitions[0].rows
    blocks = [p.rows for p in partitions]
    starts = np.cumsum([0] + [int(b.indptr[-1] - b.indptr[0]) for b in blocks])
    indptr = np.concatenate([[0]] + [b.indptr[1:] - b.indptr[0] + s
                                     for b, s in zip(blocks, starts[:-1])]).astype(np.int64)

    def joined(name):
        parts = [getattr(b, name) for b in blocks]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    def entries(name):  # per stored value; data None means all ones
        parts = [getattr(b, name) for b in blocks]
        if all(p is None for p in parts):
            return None
        dtype = next(p for p in parts if p is not None).dtype
        return np.concatenate([
            np.ones(int(b.indptr[-1] - b.indptr[0]), dtype) if p is None
            else p[b.indptr[0]:b.indptr[-1]] for b, p in zip(blocks, parts)])

    indices = np.concatenate([b.indices[b.indptr[0]:b.indptr[-1]] for b in blocks])
    weights = [b.sample_weight for b in blocks]
    if all(w is None for w in weights):
        sample_weight = None
    else:
        sample_weight = np.concatenate([np.ones(b.n_rows) if w is None else w
                                        for b, w in zip(blocks, weights)])
    return _Rows(indptr, indices, entries("data"), joined("y"), sample_weight,
                 fields=entries("fields"))


@dataclass
class WorkerRows:
    """A worker's training rows (and held-out early-stopping rows), as the solver wants
    them, with what the driver needs to start and merge the model."""

    train: _Rows
    held_out: object  # _Rows or None
    seed: int
    summary: dict
    scaled_y: dict = field(default_factory=dict)  # target scale -> train.y / scale

    def train_rows(self, scale):
        """The training rows with targets divided by the fit's target scale (made once)."""
        if scale == 1.0:
            return self.train
        if scale not in self.scaled_y:
            self.scaled_y.clear()
            rows = _Rows(**{**vars(self.train), "y": self.train.y / scale})
            self.scaled_y[scale] = rows
        return self.scaled_y[scale]


def prepare_worker_rows(partitions, spec):
    """Joins a worker's partitions into its training block: targets encoded with the
    fit's target attributes (classes_ of every partition), class weights applied, the
    early-stopping hold-out split off and the rows arranged as the solver wants (a
    shuffled copy for SGD). Returns a WorkerRows that stays on this worker."""
    est = local_estimator(spec["local_class"], spec["params"], spec.get("layout_attrs"))
    rows = concatenated(sorted(partitions, key=lambda p: p.index))
    dtype, solver_cls = est._check_params()
    target_attrs = spec["target_attrs"]
    y = est._encode_validation_targets(rows.y, target_attrs)
    sw = est._weight_classes(y, rows.sample_weight, target_attrs, False)
    train = _Rows(rows.indptr, rows.indices, rows.data, y, sw, fields=rows.fields)
    n_threads = effective_n_threads(est.n_jobs)
    seed = spec["seed"]
    solver = solver_cls(est, n_threads)
    hold_out = None
    if spec["hold_out"]:
        def hold_out(block, shuffled):
            return est._hold_out(block, seed, shuffled, n_threads)
    train, held = solver.arrange_rows(train, False, seed, hold_out)
    y, sw = train.y, train.sample_weight
    weights = np.ones(y.size) if sw is None else sw
    weight_sum = float(weights.sum())
    mean = float(np.average(y, weights=sw))
    positive = float(weights[y > 0].sum())
    summary = {
        "n_rows": train.n_rows, "nnz": int(train.indptr[-1]), "weight_sum": weight_sum,
        "mean": mean, "m2": float(np.dot(weights, (y - mean) ** 2)),
        "positive_weight": positive, "bias": est._initial_bias(y, sw),
        "constant_loss": est._constant_loss(y, sw, 1.0),
        "factor_init_scale": est._factor_init_scale(solver, train),
        # how many training rows hold each feature: the merge weighs the workers' models
        # by them (the counts, not the rows, cross the network)
        "column_counts": np.bincount(train.indices, minlength=spec["n_features"])
        .astype(np.float64),
        "n_held_out": 0 if held is None else held.n_rows,
    }
    return WorkerRows(train, held, seed, summary)


def worker_rows_summary(worker_rows):
    return worker_rows.summary


def train_round(worker_rows, model, spec, n_epochs):
    """n_epochs epochs of the solver on this worker's rows from the round's model;
    returns the trained parameters, the solver's state and the loss sums."""
    est = local_estimator(spec["local_class"], spec["params"],
                          {**spec["fitted"], **model["state"]})
    dtype, solver_cls = est._check_params()
    n_threads = effective_n_threads(est.n_jobs)
    scale = spec["scale"]
    solver = solver_cls(est, n_threads)
    solver.target_scale = scale
    train = worker_rows.train_rows(scale)
    params = model["params"].copy()
    solver.start(params, train, model["continuing"], spec["target_attrs"])
    t = int(model["t"])
    start = time.perf_counter()
    losses = []
    for _ in range(n_epochs):
        try:
            extras = solver.epoch(params, train, t, _epoch_seed(worker_rows.seed, t))
        except _core.DivergenceError:
            raise _core.DivergenceError(solver.divergence_message(t)) from None
        losses.append(extras["train_loss"])
        t += 1
    return {
        "params": params, "state": solver.fitted_state(t), "t": t,
        "train_loss": losses[-1], "weight_sum": worker_rows.summary["weight_sum"],
        "seconds": time.perf_counter() - start, "n_rows": train.n_rows,
        "n_threads": n_threads,
    }


def validation_loss_sum(rows, local_class, params, fitted, loss):
    """(weighted sum of the loss, weight sum) of the model `fitted` on `rows`: the
    task's training loss of its outputs (regression: squared errors)."""
    est = local_estimator(local_class, params, fitted)
    model = est._parameters.of(est, est.V_.dtype)
    raw = model.predict_rows(rows, effective_n_threads(est.n_jobs))
    outputs = est._outputs_from_raw(raw, est._fitted_target_attrs(), loss=loss)
    weight_sum = float(rows.n_rows if rows.sample_weight is None else rows.sample_weight.sum())
    return est._train_loss_of_outputs(outputs, rows) * weight_sum, weight_sum


def held_out_loss_sum(worker_rows, local_class, params, fitted, loss):
    if worker_rows.held_out is None:
        return 0.0, 0.0
    return validation_loss_sum(worker_rows.held_out, local_class, params, fitted, loss)


def prepare_validation(partition, spec):
    """A partition of eval_set as validation rows: targets encoded like the training
    targets (labels outside classes_ are refused, naming the partition)."""
    est = local_estimator(spec["local_class"], spec["params"])
    rows = partition.rows
    try:
        y = est._encode_validation_targets(rows.y, spec["target_attrs"])
    except ValueError as exc:
        raise ValueError(f"eval_set partition {partition.index}: {exc}") from None
    return _Rows(rows.indptr, rows.indices, rows.data, y, rows.sample_weight,
                 fields=rows.fields)


def predict_block(X, model, method):
    """model.method(X) of one block (a fitted local estimator): the lazy predictions."""
    if X.shape[0] == 0:
        width = 2 if method == "predict_proba" else None
        return np.empty((0, width) if width else 0, dtype=np.float64)
    return getattr(model, method)(X)
