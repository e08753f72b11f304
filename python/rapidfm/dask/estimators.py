"""DaskFMRegressor, DaskFMClassifier, DaskFFMRegressor, DaskFFMClassifier: data-parallel
training on dask.distributed.

A fit runs in rounds. Each worker holds its own partitions (checked, encoded and
arranged once, on the worker); each round the driver sends the current model (the
parameters and the solver's state) to every worker, each trains `local_epochs` epochs
of the C kernel over its rows from it (n_jobs threads inside the worker), and the
driver merges the trained models (rapidfm.dask._merge: the replicas' touch-count rule
of the kernel, with per-feature row counts the workers reported once). Only the
model, its state and those counts cross the network, never rows.

The estimators take every parameter of the local estimator they wrap (FMRegressor,
...) with the same meaning, where n_epochs counts passes over the data (rounds of
local_epochs), n_jobs is per worker, and early stopping is judged once per round;
besides:

local_epochs : int, default 1
    Epochs each worker trains between merges.
worker_loss : "raise" or "drop", default "raise"
    A worker lost during a round: "raise" stops the fit with WorkerLostError, "drop"
    retries the round without that worker and its rows (history_ says which). Either
    way the model of the last completed round is kept.
checkpoint : path or None
    Where to save the model (rapidfm's format, an atomic write) after every round;
    fit(init_model=path) goes on from it.
client : distributed.Client or None
    The client to run on; None takes the current one (distributed.get_client()).

With one partition, one worker and n_jobs=1 a fit gives the local estimator's model
bit for bit (same seed). The solvers are the SGD family (sgd, adagrad, ftrl); ALS and
MCMC need all rows in one place each sweep and stay single-machine.
"""

import copy
import inspect
import math
import numbers
import os
import time

import numpy as np

from rapidfm import _core
from rapidfm._sklearn_compat import available_if
from rapidfm._validation import effective_n_threads
from rapidfm.dask import _worker
from rapidfm.dask._inputs import (
    as_dask_array,
    dask_dataframe_module,
    is_dask_array,
    training_partitions,
)
from rapidfm.dask._merge import merge_models, step_fraction
from rapidfm.dask._rounds import WorkerLostError, gather_from_workers
from rapidfm.estimators import (
    FMClassifier,
    FMRegressor,
    _resolve_seed,
    _runs_away,
    target_scale_of_std,
)
from rapidfm.field_aware import FFMClassifier, FFMRegressor

# the parameters the Dask estimators add to those of the local estimator they wrap
DASK_PARAMETERS = {"local_epochs": 1, "worker_loss": "raise", "checkpoint": None,
                   "client": None}
WORKER_LOSS = ("raise", "drop")
SOLVERS = ("sgd", "adagrad", "ftrl")
MAX_ROUND_RETRIES = 3
# spawn key of the per-worker seeds (worker 0 takes the model's seed itself, so that a
# fit on one worker is the local fit; see rapidfm.estimators for keys 1 to 3)
_WORKER_STREAM = 4


def _dask_init(local_class):
    """An __init__ taking the local estimator's parameters and DASK_PARAMETERS, stored
    untouched (scikit-learn's convention: get_params / clone read the signature)."""
    local = inspect.signature(local_class.__init__)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
             for name, value in DASK_PARAMETERS.items()]
    signature = local.replace(parameters=list(local.parameters.values()) + extra)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    __init__.__doc__ = f"The parameters of {local_class.__name__} and {tuple(DASK_PARAMETERS)}."
    return __init__


def worker_seed(seed, position):
    """The seed of the rows' order and hold-out on the worker at `position`."""
    if position == 0:
        return int(seed)
    state = np.random.SeedSequence(seed, spawn_key=(_WORKER_STREAM, position))
    return int(state.generate_state(1, np.uint64)[0])


def _combined_std(summaries):
    """The weighted standard deviation of the targets of all workers (Chan's merge of
    the workers' weight sums, means and sums of squared deviations)."""
    weight = sum(s["weight_sum"] for s in summaries)
    mean = sum(s["weight_sum"] * s["mean"] for s in summaries) / weight
    m2 = sum(s["m2"] + s["weight_sum"] * (s["mean"] - mean) ** 2 for s in summaries)
    return math.sqrt(m2 / weight) if weight > 0 else 0.0


def _weighted(summaries, key):
    """The row-weighted mean of a per-worker value (a single worker's as it is)."""
    if len(summaries) == 1:
        return summaries[0][key]
    weight = sum(s["weight_sum"] for s in summaries)
    return sum(s["weight_sum"] * s[key] for s in summaries) / weight


class _DaskFMMixin:
    """The round loop, prediction and conversions the four Dask estimators share."""

    _local_class = None

    # -- parameters --------------------------------------------------------------------
    def _local_params(self):
        return {name: getattr(self, name) for name in self._local_class._get_param_names()}

    def _local_template(self, **changes):
        return self._local_class(**{**self._local_params(), **changes})

    def _check_dask_params(self):
        name = type(self).__name__
        if self.solver not in SOLVERS:
            raise ValueError(
                f"solver={self.solver!r} is not available in {name}: it trains the SGD family "
                f"{SOLVERS}. ALS and MCMC sweep all rows at once and train on one machine "
                f"({self._local_class.__name__})")
        epochs = self.local_epochs
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
            raise ValueError(f"local_epochs must be an int >= 1, got {epochs!r}")
        if self.worker_loss not in WORKER_LOSS:
            raise ValueError(f"worker_loss must be one of {WORKER_LOSS}, got "
                             f"{self.worker_loss!r}")
        if self.checkpoint is not None and not isinstance(self.checkpoint, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a path or None, got {self.checkpoint!r}")

    def _get_client(self):
        if self.client is not None:
            return self.client
        from distributed import get_client

        try:
            return get_client()
        except ValueError:
            raise ValueError(f"{type(self).__name__} needs a dask.distributed client: start "
                             "one (distributed.Client(...)) or pass client=") from None

    # -- conversions -------------------------------------------------------------------
    def to_local(self):
        """The fitted model as the plain estimator (FMRegressor, ...): it saves, loads,
        predicts on in-memory data and serves like any other."""
        self._check_fitted()
        local = self._local_template()
        local.__dict__.update(copy.deepcopy(self._fitted_attributes()))
        return local

    def save(self, path):
        """Write the fitted model to `path` as its local estimator (rapidfm.load reads
        it back as that estimator)."""
        self.to_local().save(path)

    @available_if(lambda self: False)
    def partial_fit(self, *args, **kwargs):  # pragma: no cover - never available
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, eval_set=None, init_model=None):
        """Fit on a dask array / DataFrame (X, y, sample_weight alike partitioned) or a
        list of rapidfm cache folders (y None).

        eval_set : (X_val, y_val) or (X_val, y_val, sample_weight_val), dask collections
            Scored after every round; training stops early on it (see early_stopping)
            and the best round's parameters are kept.
        init_model : a fitted local or Dask estimator, or the path of a saved model
            (a checkpoint): training goes on from it, as warm_start=True would.
        """
        return _Fit(self, X, y, sample_weight, eval_set, init_model).run()

    # -- prediction --------------------------------------------------------------------
    def _lazy(self, X, method):
        """model.method on every partition of X, lazily: a dask array."""
        self._check_fitted()
        model = self.to_local()
        import dask

        model_delayed = dask.delayed(model, pure=True)
        columns = 2 if method == "predict_proba" else None
        if is_dask_array(X):
            if X.ndim != 2 or X.numblocks[1] != 1:
                raise ValueError("X must be a two-dimensional dask array chunked along its "
                                 "rows only (X.rechunk({1: -1}))")
            chunks = (X.chunks[0],) + (((columns,),) if columns else ())
            return X.map_blocks(_worker.predict_block, model_delayed, method,
                                dtype=np.float64, chunks=chunks,
                                drop_axis=None if columns else 1,
                                meta=np.empty((0, columns) if columns else (0,)))
        dd = dask_dataframe_module()
        if dd is not None and isinstance(X, dd.DataFrame):
            import pandas as pd

            if columns:
                meta = pd.DataFrame({0: np.empty(0), 1: np.empty(0)})

                def frame(block, m):
                    return pd.DataFrame(_worker.predict_block(block, m, method),
                                        index=block.index)
            else:
                meta = pd.Series(np.empty(0), dtype=np.float64)

                def frame(block, m):
                    return pd.Series(_worker.predict_block(block, m, method), index=block.index)
            return X.map_partitions(frame, model_delayed, meta=meta).to_dask_array()
        raise TypeError(f"X must be a dask array or a dask DataFrame, got {type(X).__name__} "
                        "(for data in memory: to_local().predict(X))")

    def predict(self, X):
        """Predictions for every row of X, as a lazy dask array."""
        return self._lazy(X, "predict")


class _Fit:
    """One fit of a Dask estimator: the data on the workers, then the rounds."""

    def __init__(self, est, X, y, sample_weight, eval_set, init_model):
        self.est = est
        self.data = (X, y, sample_weight)
        self.eval_set = eval_set
        self.init_model = init_model

    # -- data --------------------------------------------------------------------------
    def _read(self, parts, spec_params):
        """Futures of the checked partitions (on the workers) and their summaries; the
        first partition with a problem raises it."""
        import dask
        from distributed import wait

        est, client = self.est, self.client
        tasks = [dask.delayed(_worker.read_partition, pure=False)(
            i, x, y, w, est._local_class, spec_params) for i, (x, y, w) in enumerate(parts)]
        futures = client.compute(tasks)
        wait(futures)
        for future in futures:
            if future.status == "error":
                raise future.exception()
        summaries = client.gather([client.submit(_worker.partition_summary, f, pure=False)
                                   for f in futures])
        return futures, summaries

    @staticmethod
    def _check_partitions(summaries, n_features, names, what):
        first = summaries[0]
        for s in summaries:
            expected = n_features if n_features is not None else first["n_features"]
            if s["n_features"] != expected:
                raise ValueError(f"{what} partition {s['index']} has {s['n_features']} features "
                                 f"but {'X has' if n_features is not None else 'partition 0 has'}"
                                 f" {expected}: every partition needs the same columns")
            if s["layout"] is not None and first["layout"] is not None and \
                    s["layout"][1] != first["layout"][1]:
                raise ValueError(f"{what} partition {s['index']} has {s['layout'][1]} fields, "
                                 f"partition 0 has {first['layout'][1]}")
        return expected

    def run(self):
        est = self.est
        est._check_dask_params()
        local = est._local_template()
        dtype, solver_cls = local._check_params()
        self.client = client = est._get_client()
        X, y, sample_weight = self.data
        parts, meta_features, names = training_partitions(X, y, sample_weight)
        val_parts = None
        if self.eval_set is not None:
            if not isinstance(self.eval_set, (tuple, list)) or len(self.eval_set) not in (2, 3):
                raise ValueError("eval_set must be a pair (X_val, y_val) or a triple (X_val, "
                                 "y_val, sample_weight_val) of dask collections")
            val_parts, _, _ = training_partitions(
                self.eval_set[0], self.eval_set[1],
                self.eval_set[2] if len(self.eval_set) == 3 else None, name="X_val")

        previous = est._fitted_attributes() if hasattr(est, "V_") else None
        model = self._starting_model(previous)
        # the local estimator of the driver carries the model it goes on from
        if model is not None:
            local.__dict__.update(copy.deepcopy(model))
        # what the workers' estimators are built from: the driver alone prints and calls
        # the callbacks (they may hold what does not pickle)
        params = {**est._local_params(), "callbacks": None, "verbose": 0}
        class_weight = getattr(est, "class_weight", None)
        self.futures = []
        try:
            futures, summaries = self._read(parts, params)
            self.futures += futures
            n_features = self._check_partitions(summaries, meta_features, names, "X")
            if model is not None and n_features != model["n_features_in_"]:
                raise ValueError(f"X has {n_features} features, but the model it goes on from "
                                 f"has {model['n_features_in_']}")
            feature_names = names if model is None else model.get("feature_names_in_")
            labels = np.concatenate([s["labels"] for s in summaries])
            if model is None:
                _, target_attrs = local._encode_targets(labels, None, False)
            else:
                _, target_attrs = local._encode_more_targets(labels, None, False)
            if isinstance(class_weight, str) and class_weight == "balanced":
                params = {**params, "class_weight": self._balanced(summaries, target_attrs)}
            layout = summaries[0]["layout"]
            if layout is not None:
                local._fit_layout = layout
            return self._train(local, solver_cls, dtype, params, futures, summaries,
                               n_features, feature_names, target_attrs, layout, model,
                               previous, val_parts)
        finally:
            client.cancel(self.futures)

    @staticmethod
    def _balanced(summaries, target_attrs):
        """class_weight="balanced" over all partitions: n / (2 n_class) per class."""
        classes = target_attrs["classes_"]
        counts = np.zeros(2)
        for s in summaries:
            for label, count in zip(s["labels"], s["label_counts"]):
                counts[int(np.flatnonzero(classes == label)[0])] += count
        weights = counts.sum() / (2.0 * np.maximum(counts, 1.0))
        return {classes[0].item(): float(weights[0]), classes[1].item(): float(weights[1])}

    def _starting_model(self, previous):
        """The fitted attributes training goes on from (init_model, or warm_start with a
        fitted estimator), or None for a new model."""
        init = self.init_model
        if init is None:
            return previous if (previous is not None and self.est.warm_start) else None
        if isinstance(init, (str, os.PathLike)):
            from rapidfm.persistence import load

            init = load(init)
        if isinstance(init, _DaskFMMixin):
            init = init.to_local()
        if not isinstance(init, self.est._local_class):
            raise TypeError(f"init_model must be a fitted {self.est._local_class.__name__}, a "
                            f"{type(self.est).__name__} or a path to one, got "
                            f"{type(init).__name__}")
        init._check_fitted()
        return {k: v for k, v in vars(init).items() if k.endswith("_") and not k.startswith("_")}

    def _place(self, futures):
        """{worker: [partition futures]} by where the partitions are, in the order of
        their first partition."""
        who_has = self.client.who_has(futures)
        by_worker = {}
        for future in futures:
            holders = sorted(who_has.get(future.key, ()))
            if not holders:
                raise WorkerLostError(f"the worker holding partition {futures.index(future)} "
                                      "was lost before training started")
            by_worker.setdefault(holders[0], []).append(future)
        return by_worker

    # -- the rounds --------------------------------------------------------------------
    def _train(self, local, solver_cls, dtype, params, futures, summaries, n_features,
               feature_names, target_attrs, layout, model, previous, val_parts):
        est, client = self.est, self.client
        local_class = est._local_class
        continuing = model is not None
        seed = int(model["random_seed_"]) if continuing and "random_seed_" in model else \
            _resolve_seed(est.random_state)
        by_worker = self._place(futures)
        layout_attrs = {"_fit_layout": layout} if layout is not None else {}
        hold_out = val_parts is None and bool(est.early_stopping)
        rows = {}
        for position, (worker, parts) in enumerate(by_worker.items()):
            spec = {"local_class": local_class, "params": params, "layout_attrs": layout_attrs,
                    "target_attrs": target_attrs, "seed": worker_seed(seed, position),
                    "hold_out": hold_out, "n_features": n_features}
            rows[worker] = client.submit(_worker.prepare_worker_rows, parts, spec,
                                         workers=[worker], allow_other_workers=False,
                                         pure=False)
        self.futures += list(rows.values())
        worker_summaries, lost, interrupted = gather_from_workers(
            client, {w: client.submit(_worker.worker_rows_summary, f, workers=[w],
                                      allow_other_workers=False, pure=False)
                     for w, f in rows.items()})
        if lost or interrupted:
            raise WorkerLostError(f"workers {lost + interrupted} were lost before training "
                                  "started")
        # the partitions' rows now live in the workers' blocks (release, not cancel: a
        # cancel would cancel the blocks made from them too)
        for future in futures:
            future.release()
        self.futures = [f for f in self.futures if f not in futures]
        val_rows = None
        if val_parts is not None:
            val_futures, val_summaries = self._read(val_parts, params)
            self.futures += val_futures
            self._check_partitions(val_summaries, n_features, None, "X_val")
            vspec = {"local_class": local_class, "params": params,
                     "target_attrs": target_attrs}
            val_rows = [client.submit(_worker.prepare_validation, f, vspec, pure=False)
                        for f in val_futures]
            self.futures += val_rows

        n_threads = effective_n_threads(est.n_jobs)
        solver = solver_cls(local, n_threads)
        all_summaries = list(worker_summaries.values())
        if local._task == "regression" and solver_cls.scales_targets:
            kept = model.get("target_scale_") if continuing else None
            scale = float(kept) if kept is not None else \
                target_scale_of_std(_combined_std(all_summaries))
        else:
            scale = 1.0
        solver.target_scale = scale
        k = int(est.n_factors)
        if continuing:
            local._check_continued_shape(k)
            params_now = local._parameters.of(local, dtype).rescaled(1.0 / scale)
            t = int(model.get("t_", model.get("n_iter_", 0)))
            history = list(model.get("history_", []))
        else:
            if len(all_summaries) == 1:
                bias = all_summaries[0]["bias"]
            elif local._task == "classification":
                positive = sum(s["positive_weight"] for s in all_summaries)
                total = sum(s["weight_sum"] for s in all_summaries)
                bias = local._initial_bias(np.array([1.0, -1.0]),
                                           np.array([positive, total - positive]))
            else:
                bias = _weighted(all_summaries, "bias")
            params_now = local._new_parameters(
                n_features, k, dtype, seed,
                float(est.init_std) * _weighted(all_summaries, "factor_init_scale"),
                solver.initial_bias(bias / scale))
            t = 0
            history = []
        solver.start(params_now, None, continuing, target_attrs)
        state_now = solver.fitted_state(t)
        constant_loss = _weighted(all_summaries, "constant_loss")
        loss = solver.loss(local._task)

        fitted_base = {**target_attrs, **layout_attrs}
        spec = {"local_class": local_class, "params": params, "target_attrs": target_attrs,
                "scale": scale, "fitted": fitted_base}
        spec_future = client.scatter([spec], broadcast=True, hash=False)[0]
        self.futures.append(spec_future)

        def attributes(p, state, n_iter, best_epoch, best_loss):
            attrs = dict(target_attrs)
            attrs.update(p.rescaled(scale).attributes() if scale != 1.0 else
                         p.copy().attributes())
            attrs.update(local._kind_attributes())
            attrs.update(n_features_in_=n_features, n_iter_=n_iter, history_=list(history),
                         t_=t, random_seed_=seed, best_epoch_=best_epoch,
                         best_validation_loss_=best_loss, loss_=loss,
                         n_workers_=len(rows))
            if local._task == "regression":
                attrs["target_scale_"] = scale
            attrs.update(state)
            if feature_names is not None:
                attrs["feature_names_in_"] = feature_names
            return attrs

        def install(attrs):
            est._clear_fitted()
            est.__dict__.update(attrs)

        n_epochs = int(est.n_epochs)
        epochs_done = 0
        best_loss = best_epoch = best = None
        stale = 0
        lowest = None
        lost_so_far = []
        retries = 0  # consecutive runs of a round whose tasks were cancelled
        completed = False
        stops_early = val_rows is not None or hold_out
        try:
            while epochs_done < n_epochs:
                epochs = min(int(est.local_epochs), n_epochs - epochs_done)
                start = time.perf_counter()
                # the model goes with each worker's task (a scatter to a worker that died
                # meanwhile would wait for it forever)
                model_now = {"params": params_now, "state": state_now, "t": t,
                             "continuing": True}
                sent = time.perf_counter()
                tasks = {w: client.submit(_worker.train_round, f, model_now, spec_future,
                                          epochs, workers=[w], allow_other_workers=False,
                                          pure=False) for w, f in rows.items()}
                results, lost, interrupted = gather_from_workers(client, tasks)
                trained = time.perf_counter()
                if interrupted and not lost:
                    retries += 1
                    if retries > MAX_ROUND_RETRIES:
                        raise WorkerLostError(
                            f"round {len(history) + 1} was cancelled {retries} times in a row "
                            f"on workers {interrupted}; the estimator keeps the model of the "
                            "last completed round")
                    continue  # a dependency went with a lost worker: the round again
                retries = 0
                if lost:
                    lost_so_far += lost
                    for worker in lost:
                        client.cancel([rows.pop(worker)])
                    if est.worker_loss == "raise" or not rows:
                        raise WorkerLostError(
                            f"worker{'s' if len(lost) > 1 else ''} {', '.join(lost)} "
                            f"{'were' if len(lost) > 1 else 'was'} lost during round "
                            f"{len(history) + 1}"
                            + ("" if rows else " and no worker is left")
                            + ("; the estimator keeps the model of the last completed round"
                               if completed or continuing else "")
                            + (f" (saved to {est.checkpoint})" if est.checkpoint and completed
                               else ""))
                    if est.verbose:
                        print(f"lost {lost}: retrying the round on {len(rows)} workers",
                              flush=True)
                    continue  # worker_loss="drop": the round again, without them
                order = list(rows)
                outcome = [results[w] for w in order]
                counts = [worker_summaries[w]["column_counts"] * epochs for w in order]
                row_counts = [worker_summaries[w]["n_rows"] * epochs for w in order]
                ftrl = None
                if est.solver == "ftrl":
                    ftrl = (solver.learning_rate_at(t), float(est.ftrl_beta),
                            float(est.reg_linear_l1), float(est.reg_linear),
                            float(est.reg_bias))
                params_now, state_now = merge_models(
                    params_now, state_now, outcome, counts, row_counts,
                    step_fraction(solver.learning_rate_at(t), loss), ftrl)
                merged = time.perf_counter()
                t += epochs
                epochs_done += epochs
                weight = sum(r["weight_sum"] for r in outcome)
                train_loss = sum(r["train_loss"] * r["weight_sum"] for r in outcome) / weight
                if local._task == "regression":
                    train_loss *= scale * scale
                if not params_now.is_finite() or _runs_away(train_loss, lowest, constant_loss):
                    raise _core.DivergenceError(
                        solver.loss_divergence_message(t - 1, train_loss, constant_loss)
                        if np.isfinite(train_loss) else solver.nonfinite_message(t))
                lowest = train_loss if lowest is None else min(lowest, train_loss)
                attrs = attributes(params_now, state_now, epochs_done, best_epoch, best_loss)
                val_loss = None
                if stops_early:
                    val_loss = self._validation_loss(attrs, local_class, params, loss,
                                                     rows if hold_out else None, val_rows)
                    val_loss = local._report_loss(val_loss)
                    improved = best_loss is None or val_loss < best_loss - float(est.tol)
                    stale = 0 if improved else stale + 1
                    if best_loss is None or val_loss < best_loss:
                        best_loss, best_epoch = val_loss, t
                        best = (params_now.copy(), dict(state_now))
                    attrs.update(best_epoch_=best_epoch, best_validation_loss_=best_loss)
                scored = time.perf_counter()
                record = {
                    "epoch": t, "round": len(history) + 1, "train_loss": train_loss,
                    "validation_loss": val_loss, "seconds": scored - start,
                    "send_seconds": sent - start,
                    "train_seconds": max(r["seconds"] for r in outcome),
                    "wait_seconds": trained - sent, "merge_seconds": merged - trained,
                    "validation_seconds": scored - merged, "n_workers": len(outcome),
                    "rows_per_second": sum(r["n_rows"] for r in outcome) * epochs
                    / max(scored - start, 1e-12),
                    "lost_workers": list(lost_so_far),
                }
                lost_so_far = []
                history.append(record)
                attrs["history_"] = list(history)
                install(attrs)
                completed = True
                if est.checkpoint is not None:
                    est.save(est.checkpoint)
                if est.verbose:
                    self._print_round(local, record)
                if est.callbacks and any([bool(cb(est, history)) for cb in est.callbacks]):
                    break
                if stops_early and stale >= int(est.n_iter_no_change):
                    break
            if best is not None and best_epoch != t:
                params_best, state_best = best
                attrs = attributes(params_best, state_best, epochs_done, best_epoch, best_loss)
                install(attrs)
        except (WorkerLostError, KeyboardInterrupt):
            if not completed and previous is None:
                est._clear_fitted()
            elif not completed:
                install(previous)
            raise
        except BaseException:
            # as a local fit: a failed fit (divergence, a failing callback) leaves the
            # estimator as it was before the call
            est._clear_fitted()
            if previous is not None:
                est.__dict__.update(previous)
            raise
        return est

    def _validation_loss(self, attrs, local_class, params, loss, rows, val_rows):
        """The weighted mean validation loss of the merged model (attrs) over the
        eval_set partitions or the workers' held-out rows."""
        client = self.client
        # the model goes with each task: a scatter would wait on a dead worker
        if val_rows is not None:
            tasks = [client.submit(_worker.validation_loss_sum, f, local_class, params,
                                   attrs, loss, pure=False) for f in val_rows]
            sums = client.gather(tasks)
        else:
            results, _, _ = gather_from_workers(client, {
                w: client.submit(_worker.held_out_loss_sum, f, local_class, params,
                                 attrs, loss, workers=[w], allow_other_workers=False,
                                 pure=False) for w, f in rows.items()})
            sums = list(results.values())
        total = sum(s for s, _ in sums)
        weight = sum(w for _, w in sums)
        return total / weight if weight > 0 else float("nan")

    @staticmethod
    def _print_round(local, record):
        line = (f"round {record['round']:3d}  epoch {record['epoch']:3d}  train "
                f"{local._loss_name()} {local._report_loss(record['train_loss']):.5f}")
        if record["validation_loss"] is not None:
            line += f"  validation {record['validation_loss']:.5f}"
        line += (f"  {record['seconds']:.2f}s (train {record['train_seconds']:.2f}s, merge "
                 f"{record['merge_seconds']:.3f}s) on {record['n_workers']} workers")
        print(line, flush=True)


class _DaskRegressorMixin(_DaskFMMixin):
    def score(self, X, y, sample_weight=None):
        """R^2 of predict(X) against y (dask collections), computed on the workers."""
        import dask

        y = as_dask_array(y, "y")
        pred = self.predict(X)
        w = 1.0 if sample_weight is None else as_dask_array(sample_weight, "sample_weight")
        weight = (w * (y * 0 + 1)).sum()
        mean = (w * y).sum() / weight
        ss_res, ss_tot = dask.compute((w * (y - pred) ** 2).sum(), (w * (y - mean) ** 2).sum())
        return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else 0.0


class _DaskClassifierMixin(_DaskFMMixin):
    def predict_proba(self, X):
        """[P(classes_[0]), P(classes_[1])] of every row of X, as a lazy dask array."""
        return self._lazy(X, "predict_proba")

    def decision_function(self, X):
        return self._lazy(X, "decision_function")

    def score(self, X, y, sample_weight=None):
        """Accuracy of predict(X) against y (dask collections), computed on the workers."""
        import dask

        y = as_dask_array(y, "y")
        hit = (self.predict(X) == y).astype(np.float64)
        if sample_weight is None:
            return float(dask.compute(hit.mean())[0])
        w = as_dask_array(sample_weight, "sample_weight")
        total, weight = dask.compute((w * hit).sum(), w.sum())
        return float(total / weight)


class DaskFMRegressor(_DaskRegressorMixin, FMRegressor):
    """FMRegressor trained data-parallel on dask.distributed (see rapidfm.dask)."""

    _local_class = FMRegressor
    __init__ = _dask_init(FMRegressor)


class DaskFMClassifier(_DaskClassifierMixin, FMClassifier):
    """FMClassifier trained data-parallel on dask.distributed (see rapidfm.dask)."""

    _local_class = FMClassifier
    __init__ = _dask_init(FMClassifier)


class DaskFFMRegressor(_DaskRegressorMixin, FFMRegressor):
    """FFMRegressor trained data-parallel on dask.distributed; the fields come from
    feature_fields (per column), as each partition's rows need them."""

    _local_class = FFMRegressor
    __init__ = _dask_init(FFMRegressor)


class DaskFFMClassifier(_DaskClassifierMixin, FFMClassifier):
    """FFMClassifier trained data-parallel on dask.distributed; the fields come from
    feature_fields (per column)."""

    _local_class = FFMClassifier
    __init__ = _dask_init(FFMClassifier)
