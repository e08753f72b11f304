"""FMRanker: Factorization Machines trained to rank, with the pairwise BPR objective.

The task "ranking" (persistence) beside regression and classification: the model kind
is the FM's, the solvers are the SGD family's (SGD, AdaGrad, FTRL), and the objective
is the logistic loss of score differences of pairs of rows (Rendle et al., "BPR:
Bayesian Personalized Ranking from Implicit Feedback", UAI 2009), whose step takes two
rows (fastfm.h, fm_pair_sgd_epoch). Where the pairs come from (rapidfm._pairs):

- ``fit(X, y, qid=q)``: rows with the same qid form a group; every two rows of a group
  with different y are a pair (XGBoost's and LightGBM's rankers);
- ``fit(X, pairs=P)``: explicit (preferred row, other row) pairs (fastFM's BPR);
- ``fit(X, y)`` with binary y: every positive row against a negative row drawn each
  epoch (the AUC over all rows);
- ``fit(interactions)``: implicit feedback (rapidfm.Interactions): every event (user,
  item) against an item the user has no event with, drawn each epoch, uniformly or by
  popularity (``negatives``); ``recommend`` ranks the items for users.

The training loop is the FM's (rapidfm.estimators): epochs, early stopping on a ranking
metric with the best epoch restored, warm_start, callbacks, history_, save / load.
"""

import numbers
import re

import numpy as np

from rapidfm import _pairs, ranking_metrics
from rapidfm._registry import register_estimator
from rapidfm._validation import (
    as_csr,
    check_dtype,
    check_int_param,
    check_sample_weight,
    effective_n_threads,
    values_or_none,
)
from rapidfm.estimators import _BaseFM, _Rows
from rapidfm.implicit import Interactions

__all__ = ["FMRanker"]

RANKING_SOLVERS = ("adagrad", "sgd", "ftrl")
RANKING_PARALLEL = ("auto", "hogwild")
_METRIC = re.compile(r"^(auc|ndcg|precision)(?:@([1-9][0-9]*))?$")
# learning_rate=None; with the L2 defaults, the best of a grid on MovieLens 100k u1
# (bench/README.md, bench_ranking.py)
DEFAULT_LEARNING_RATES = {"adagrad": 0.1, "ftrl": 0.1, "sgd": 0.05}
# spawn key of the draws of an implicit validation set's negatives (estimators: 1-3)
_VALIDATION_NEGATIVES_STREAM = 4


def parse_metric(metric):
    """("auc" | "ndcg" | "precision", k or None) of a metric name such as "ndcg@10"."""
    match = _METRIC.match(metric) if isinstance(metric, str) else None
    if match is None or (match.group(1) == "auc" and match.group(2)):
        raise ValueError(f'metric must be "auc", "ndcg@K" or "precision@K" (K an int >= 1; '
                         f'"ndcg" alone: all positions), got {metric!r}')
    name, k = match.group(1), match.group(2)
    if name == "precision" and k is None:
        raise ValueError(f'metric "precision" needs a cut-off: "precision@K", got {metric!r}')
    return name, (int(k) if k else None)


def metric_value(metric, y, scores, groups):
    """The ranking metric (higher is better) of scores against relevance y per group."""
    name, k = parse_metric(metric)
    if name == "auc":
        return float(ranking_metrics.auc_per_group(y, scores, groups))
    if name == "ndcg":
        return float(ranking_metrics.ndcg_at_k(y, scores, groups, k=k))
    return float(ranking_metrics.precision_at_k(y, scores, groups, k=k))


@register_estimator
class FMRanker(_BaseFM):
    """Factorization Machine ranker: pairwise BPR with the SGD-family solvers.

    Parameters
    ----------
    n_factors, n_epochs, learning_rate, schedule, power_t, init_std, n_jobs,
    random_state, dtype, verbose, callbacks, warm_start, early_stopping,
    validation_fraction, n_iter_no_change, tol, reg_linear_l1, ftrl_beta
        As for FMRegressor (an epoch is one pass over the pairs).
    solver : {"adagrad", "sgd", "ftrl"}, default="adagrad"
    learning_rate : float or None, default=None
        None: 0.1 for "adagrad" and "ftrl", 0.05 for "sgd" (measured on MovieLens 100k
        implicit feedback, bench/bench_ranking.py).
    reg_linear, reg_factors : float, default=0.01, 0.03
        L2 strengths on w and V, applied (as L2 / 2 |theta|^2 in the loss) to the
        features of both rows of a pair (and of its context row) at each step.
    parallel : {"auto", "hogwild"}, default="auto"
        Threads share one model without locks (hogwild); "auto" runs one thread on
        epochs too small to gain from more, and otherwise times an epoch on n_jobs
        threads and one on a single thread and trains with the faster (as
        FMRegressor's parallel="auto", rapidfm/solvers/_thread_probe.py).
    metric : str, default="ndcg@10"
        The ranking metric of ``score`` and of early stopping (validation_loss in
        history_ is 1 - metric): "auc" (per group, averaged), "ndcg@K" (NDCG of the
        first K, linear gains; "ndcg" for all positions) or "precision@K" (the share of
        the top K with y > 0). Groups without two labels are left out.
    negatives : {"uniform", "popularity"}, default="uniform"
        fit(interactions): how the other item of a pair is drawn: uniformly among the
        items, or with probability ~ events ** 0.75 (word2vec's negative sampling).
        Items the user has an event with are never drawn.
    n_negatives : int, default=1
        fit(interactions) and fit(X, binary y): pairs per positive per epoch (each with
        its own draw).
    negative_candidates : int, default=3
        Drawn negatives (fit(interactions), binary y): the other row of a pair is the one
        the current model scores highest of this many draws (dynamic negative sampling,
        Zhang et al., SIGIR 2013: the pairs the model orders worst teach it most, much as
        LightFM's WARP); 1 is plain BPR. Costs one row score per extra draw.
    n_validation_negatives : int, default=100
        fit(interactions) with validation (early_stopping or eval_set): items without an
        event of the user drawn once per fit to rank against each user's validation items
        (a sampled metric; the draws come from random_state).

    Attributes
    ----------
    w0_, w_, V_, n_features_in_, n_iter_, t_, random_seed_, loss_, best_epoch_,
    best_validation_loss_, history_, sum_sq_grad_*, ftrl_z_*
        As for FMRegressor (w0_ stays 0: a ranking does not depend on it). history_
        adds train_pair_accuracy (the share of the epoch's pairs ordered correctly
        before their step) and skipped_pairs (pairs whose other item could not be
        drawn: users who have interacted with nearly every item).
    n_context_features_ : int
        The user columns of fit(interactions) (the model's first columns); 0 otherwise.
    """

    _task = "ranking"
    _default_learning_rates = DEFAULT_LEARNING_RATES
    _shuffle_copy_pays = False  # a copy in random order would renumber the pairs' rows
    # the row models' options that ranking does not use (fixed for the shared loop)
    reg_bias = 0.0
    block_rows = None
    shuffle = "epoch"
    feature_groups = None
    n_kept_samples = None

    def __init__(
        self,
        n_factors=8,
        n_epochs=25,
        learning_rate=None,
        schedule="constant",
        power_t=0.5,
        reg_linear=0.01,
        reg_factors=0.03,
        init_std=0.1,
        n_jobs=None,
        random_state=None,
        dtype=np.float32,
        parallel="auto",
        verbose=0,
        callbacks=None,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        solver="adagrad",
        reg_linear_l1=0.0,
        ftrl_beta=1.0,
        metric="ndcg@10",
        negatives="uniform",
        n_negatives=1,
        n_validation_negatives=100,
        negative_candidates=3,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.power_t = power_t
        self.reg_linear = reg_linear
        self.reg_factors = reg_factors
        self.init_std = init_std
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.dtype = dtype
        self.parallel = parallel
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.solver = solver
        self.reg_linear_l1 = reg_linear_l1
        self.ftrl_beta = ftrl_beta
        self.metric = metric
        self.negatives = negatives
        self.n_negatives = n_negatives
        self.n_validation_negatives = n_validation_negatives
        self.negative_candidates = negative_candidates

    def _check_params(self):
        if self.solver not in RANKING_SOLVERS:
            raise ValueError(f"FMRanker trains with the SGD-family solvers {RANKING_SOLVERS}, "
                             f"got solver={self.solver!r} (ALS and MCMC minimise squared or "
                             "probit losses of single rows)")
        if self.parallel not in RANKING_PARALLEL:
            raise ValueError(f"parallel must be one of {RANKING_PARALLEL} for FMRanker, got "
                             f"{self.parallel!r}")
        parse_metric(self.metric)
        if self.negatives not in _pairs.NEGATIVES:
            raise ValueError(f"negatives must be one of {_pairs.NEGATIVES}, got "
                             f"{self.negatives!r}")
        check_int_param(self, "n_negatives", 1)
        check_int_param(self, "n_validation_negatives", 1)
        check_int_param(self, "negative_candidates", 1)
        return super()._check_params()

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y=None, *, qid=None, pairs=None, sample_weight=None, eval_set=None):
        """Fit the ranking of X's rows (see the class docstring for the four sources of
        pairs).

        X : matrix (n_rows, n_features), or rapidfm.Interactions (implicit feedback)
        y : relevance of each row (larger: preferred); with qid or for binary y
        qid : group of each row (any labels; rows need not be sorted or contiguous)
        pairs : array (n_pairs, 2) of (preferred row, other row), instead of y and qid
        sample_weight : with qid a weight per group (equal on the group's rows), with
            pairs a weight per pair, with binary y a weight per positive row;
            fit(interactions) takes Interactions(weights=...) instead
        eval_set : (X_val, y_val, qid_val) or (X_val, y_val) (one group), or for
            fit(interactions) Interactions of held-out events: scored by `metric` after
            every epoch, for early stopping and best-epoch restore
        """
        if isinstance(X, Interactions):
            for name, value in (("y", y), ("qid", qid), ("pairs", pairs),
                                ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(
                        f"fit(interactions) takes no {name}: the events are the positives"
                        + (" (pass Interactions(weights=...))" if name == "sample_weight"
                           else ""))
            spec = ("interactions", X, None)
            y = np.zeros(X.n_items)
        elif pairs is not None:
            if qid is not None:
                raise ValueError("pass either qid (pairs from groups) or pairs, not both")
            spec = ("pairs", pairs, sample_weight)
            if y is None:
                y = np.zeros(_n_rows(X))
        elif qid is not None:
            spec = ("qid", qid, sample_weight)
        else:
            spec = ("negatives", None, sample_weight)
        return self._train(X, y, None, partial=False, eval_set=eval_set, pairs=spec)

    def _training_rows(self, X, dtype, fields, continuing, name):
        if isinstance(X, Interactions):
            indptr, indices, data, _ = as_csr(X.item_rows, dtype, owner=name)
            return indptr, indices, data, X.n_columns, None
        return super()._training_rows(X, dtype, fields, continuing, name)

    def _training_pairs(self, train, spec, dtype):
        source, value, weights = spec
        n_rows = train.n_rows
        self._n_context = 0
        if source == "interactions":
            self._n_context = value.n_user_columns
            self._interactions = value
            pairs = _pairs.from_interactions(value, dtype, int(self.n_negatives),
                                             self.negatives,
                                             n_candidates=int(self.negative_candidates))
            groups = None
        elif source == "pairs":
            pairs = _pairs.from_pairs(value, n_rows, weights)
            groups = None
        elif source == "qid":
            weights = check_sample_weight(weights, n_rows)
            pairs, groups, _ = _pairs.from_qid(train.y, value, weights)
        else:
            weights = check_sample_weight(weights, n_rows)
            pairs = _pairs.against_negatives(train.y, weights, int(self.n_negatives),
                                             n_candidates=int(self.negative_candidates))
            groups = np.zeros(n_rows, dtype=np.int64)
        return pairs, groups

    def _kind_attributes(self):
        return {"n_context_features_": int(getattr(self, "_n_context", 0))}

    def _train(self, *args, **kwargs):
        try:
            return super()._train(*args, **kwargs)
        finally:
            self.__dict__.pop("_n_context", None)
            self.__dict__.pop("_interactions", None)
            self.__dict__.pop("_split_seed", None)

    # -- the task's targets, losses and metric ------------------------------------------
    def _encode_targets(self, y, classes, partial):
        return np.ascontiguousarray(y, dtype=np.float64), {}

    _encode_more_targets = _encode_targets

    def _encode_validation_targets(self, y, target_attrs):
        return np.ascontiguousarray(y, dtype=np.float64)

    def _fitted_target_attrs(self):
        return {}

    def _outputs_from_raw(self, raw, target_attrs, loss=None):
        return raw

    def _constant_loss(self, y, sample_weight, scale):
        return float(np.log(2.0))  # every pair tied: log(1 + e^0)

    def _loss_name(self):
        return "bpr"

    def _score_outputs(self, outputs, rows):
        """1 - the ranking metric of the validation rows (explicit pairs: 1 - the share
        of the held-out pairs ordered correctly, ties counting 1/2)."""
        if rows.pairs is not None:
            a, b = outputs[rows.pairs.preferred], outputs[rows.pairs.other]
            return 1.0 - float(np.mean((a > b) + 0.5 * (a == b)))
        return 1.0 - metric_value(self.metric, rows.y, outputs, rows.groups)

    def _print_epoch(self, record):
        line = (f"epoch {record['epoch']:3d}  train bpr {record['train_loss']:.5f}  "
                f"pairs ordered {record.get('train_pair_accuracy', float('nan')):.4f}  ")
        if record["validation_loss"] is not None:
            line += f"validation {self.metric} {1.0 - record['validation_loss']:.5f}  "
        line += (f"{record['seconds']:.3f} s  threads {record['n_threads']}")
        print(line, flush=True)

    # -- validation rows -------------------------------------------------------------------
    def _eval_rows(self, eval_set, dtype, n_features, target_attrs, feature_names=None,
                   fields=None):
        interactions = getattr(self, "_interactions", None)
        if interactions is not None:
            interactions.check_layout(eval_set, "eval_set")
            seen = interactions.seen(also=eval_set)
            return self._implicit_validation(eval_set, np.arange(len(eval_set)), seen, dtype)
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise ValueError("eval_set must be (X_val, y_val, qid_val) or (X_val, y_val), got "
                             f"{type(eval_set).__name__}")
        X_val, y_val = eval_set[0], eval_set[1]
        try:
            indptr, indices, data, _ = as_csr(X_val, dtype, n_features=n_features,
                                              name="X_val", owner=type(self).__name__)
            n_rows = indptr.size - 1
            y_val = self._encode_validation_targets(
                _check_relevance(y_val, n_rows, "y_val"), target_attrs)
            groups = (np.zeros(n_rows, np.int64) if len(eval_set) == 2 else
                      _pairs.group_ids(eval_set[2], n_rows, "qid_val")[0])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"eval_set: {exc}") from None
        return _Rows(indptr, indices, values_or_none(data), y_val, None, groups=groups)

    def _implicit_validation(self, held, events, seen, dtype):
        """Validation rows of implicit feedback: for every user with held-out events,
        those items (y = 1) and n_validation_negatives items without an event of the
        user (y = 0, drawn once), grouped by user."""
        seed = getattr(self, "_split_seed", None)
        if seed is None:  # eval_set: the model's seed (or the random_state's integer)
            seed = getattr(self, "random_seed_", None) if self.warm_start else None
        if seed is None:
            seed = self.random_state if isinstance(self.random_state, numbers.Integral) else 0
        rng = np.random.default_rng(np.random.SeedSequence(
            int(seed), spawn_key=(_VALIDATION_NEGATIVES_STREAM,)))
        n_items = held.n_items
        users = held.users[events]
        # the held-out events (user, item), distinct, by user
        positive_keys = np.unique(users * np.int64(n_items) + held.items[events])
        negatives = _unseen_items(seen, np.unique(users), int(self.n_validation_negatives),
                                  n_items, rng)
        keys = np.concatenate([positive_keys, negatives])
        y = np.concatenate([np.ones(positive_keys.size), np.zeros(negatives.size)])
        order = np.argsort(keys, kind="stable")  # rows grouped by user
        keys, y = keys[order], y[order]
        if not (y == 0).any():
            raise ValueError("the validation events leave no user with items to rank")
        users_all, items_all = keys // n_items, keys % n_items
        X = held.rows(users_all, items_all)
        indptr, indices, data, _ = as_csr(X, dtype, owner=type(self).__name__)
        return _Rows(indptr, indices, values_or_none(data), y, None, groups=users_all)

    def _hold_out(self, rows, seed, shuffle, n_threads):
        """(training rows, validation rows) of early_stopping: validation_fraction of the
        groups (qid), of each user's events (interactions), of the pairs (pairs), or of
        the rows of each label (binary y)."""
        self._split_seed = seed
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
        fraction = float(self.validation_fraction)
        pairs = rows.pairs
        source = pairs.source

        def count(n):
            return min(int(np.ceil(fraction * n)), n - 1)

        if source == "qid":
            n_groups = int(rows.groups.max()) + 1
            held = rng.permutation(n_groups)[:count(n_groups)]
            if held.size == 0:
                raise ValueError("early_stopping needs at least two qid groups to hold some "
                                 "out; pass eval_set instead")
            is_held = np.isin(np.arange(n_groups), held)
            val_rows = np.flatnonzero(is_held[rows.groups])
            validation = rows.take(val_rows, n_threads)
            validation.groups = rows.groups[val_rows]
            rows.pairs = pairs.select(~is_held[pairs.group])
        elif source == "interactions":
            data = self._interactions
            order = rng.permutation(len(data))
            users = data.users[order]
            # the first ceil(fraction * n) of each user's events, in random order, when
            # the user has at least two
            by_user = np.argsort(users, kind="stable")
            sorted_users = users[by_user]
            starts = np.searchsorted(sorted_users, sorted_users, side="left")
            rank = np.arange(sorted_users.size) - starts
            sizes = np.bincount(users, minlength=data.n_users)[sorted_users]
            take = rank < np.minimum(np.ceil(fraction * sizes), sizes - 1)
            held_events = np.zeros(len(data), dtype=bool)
            held_events[order[by_user[take]]] = True
            if not held_events.any():
                raise ValueError("early_stopping holds out events of users with at least two; "
                                 "no user has two. Pass eval_set instead")
            dtype = check_dtype(self.dtype)
            seen = data.seen()  # every event, held out or not: never a negative
            validation = self._implicit_validation(data, np.flatnonzero(held_events), seen,
                                                   dtype)
            rows.pairs = _pairs.from_interactions(
                data, dtype, int(self.n_negatives), self.negatives, seen=seen,
                events=np.flatnonzero(~held_events),
                n_candidates=int(self.negative_candidates))
        elif source == "pairs":
            n_pairs = pairs.n_pairs
            held = np.zeros(n_pairs, dtype=bool)
            held[rng.permutation(n_pairs)[:count(n_pairs)]] = True
            if not held.any():
                raise ValueError("early_stopping needs at least two pairs; pass eval_set")
            used, local = np.unique(np.concatenate([pairs.preferred[held], pairs.other[held]]),
                                    return_inverse=True)
            validation = rows.take(used, n_threads)
            n_held = int(held.sum())
            validation.pairs = _pairs.TrainingPairs(local[:n_held], local[n_held:])
            rows.pairs = pairs.select(~held)
        else:  # binary y against drawn negatives: stratified rows
            positive = rows.y == rows.y.max()
            held_rows = []
            for group in (np.flatnonzero(positive), np.flatnonzero(~positive)):
                held_rows.append(rng.permutation(group)[:count(group.size)])
            held_rows = np.sort(np.concatenate(held_rows))
            validation = rows.take(held_rows, n_threads)
            validation.groups = np.zeros(held_rows.size, dtype=np.int64)
            keep = np.ones(rows.n_rows, dtype=bool)
            keep[held_rows] = False
            rows.pairs = _pairs.against_negatives(
                rows.y, pairs.row_weight, int(self.n_negatives), keep=keep,
                n_candidates=int(self.negative_candidates))
        rows.fields = None
        return rows, validation

    # -- prediction ----------------------------------------------------------------------
    def predict(self, X):
        """The model's score of every row of X (higher: ranked higher)."""
        if isinstance(X, Interactions):
            raise TypeError("predict takes rows; use interactions.rows(users, items), or "
                            "score_items / recommend for users' items")
        return self._predict_current(X)

    def score(self, X, y, qid=None):
        """The `metric` of predict(X) against relevance y, per qid group (None: one)."""
        n_rows = _n_rows(X)
        y = _check_relevance(y, n_rows, "y")
        groups = None if qid is None else _pairs.group_ids(qid, n_rows)[0]
        return metric_value(self.metric, y, self.predict(X), groups)

    def score_items(self, interactions, users=None):
        """Scores of every item for `users` (default all), shape (len(users), n_items):
        the FM's score of the rows interactions.rows(user, item), computed as user part +
        item part + <q_user, q_item> without building them."""
        self._check_fitted()
        data = interactions
        if not isinstance(data, Interactions):
            raise TypeError(f"score_items takes rapidfm.Interactions, got "
                            f"{type(data).__name__}")
        n_context = int(getattr(self, "n_context_features_", 0))
        if n_context != data.n_user_columns or self.n_features_in_ != data.n_columns:
            raise ValueError(
                f"the model has {n_context} user and {self.n_features_in_ - n_context} item "
                f"columns, the interactions {data.n_user_columns} and {data.n_item_columns}: "
                "score the users and items the model was fitted on")
        users = np.arange(data.n_users) if users is None else np.asarray(users, np.int64)
        if users.ndim != 1 or (users.size and (users.min() < 0 or users.max() >= data.n_users)):
            raise ValueError(f"users must be a 1-D array of ids in [0, {data.n_users})")
        w, V = self.w_.astype(np.float64), self.V_.astype(np.float64)
        n_threads = effective_n_threads(self.n_jobs)
        from rapidfm import _core

        def part(matrix, w_part, V_part, w0):
            csr = matrix.astype(np.float64)
            return _core.predict(w0, np.ascontiguousarray(w_part), np.ascontiguousarray(V_part),
                                 csr.indptr.astype(np.int64), csr.indices.astype(np.int32),
                                 csr.data, n_threads)

        user_rows = data.user_rows[users]
        user_part = part(user_rows, w[:n_context], V[:n_context], float(self.w0_))
        item_part = part(data.item_rows, w[n_context:], V[n_context:], 0.0)
        q_users = user_rows @ V[:n_context]
        q_items = data.item_rows @ V[n_context:]
        return user_part[:, None] + item_part[None, :] + q_users @ q_items.T

    def recommend(self, interactions, users=None, n=10, exclude_seen=True):
        """(items, scores), each of shape (len(users), n): the n best-scored items of each
        user, best first, leaving out the items the user has events with in
        `interactions` when exclude_seen (their slots beyond the available items hold
        -1 and -inf)."""
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        users = (np.arange(interactions.n_users) if users is None
                 else np.asarray(users, np.int64))
        scores = self.score_items(interactions, users)
        if exclude_seen:
            seen = interactions.seen_matrix()[users]
            scores[seen.nonzero()] = -np.inf
        n = min(int(n), scores.shape[1])
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        items = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        items[np.isneginf(top_scores)] = -1
        return items, top_scores


def _unseen_items(seen, users, n_per_user, n_items, rng):
    """Keys user * n_items + item of up to n_per_user distinct items per user that are not
    among the user's seen items (seen: (ptr, items) by user), drawn uniformly: candidates
    drawn with replacement, those seen or repeated dropped, the first n_per_user kept;
    users with few unseen items left draw from the complete list of them."""
    ptr, items = seen
    seen_keys = np.repeat(np.arange(ptr.size - 1), np.diff(ptr)) * np.int64(n_items) + items
    draws = 2 * n_per_user + 8
    cand = users[:, None] * np.int64(n_items) + rng.integers(0, n_items, (users.size, draws))
    flat = cand.ravel()
    at = np.searchsorted(seen_keys, flat)
    is_seen = (at < seen_keys.size) & (seen_keys[np.minimum(at, seen_keys.size - 1)] == flat)
    # a repeat of an earlier draw of the same user: keep the first occurrence only
    _, first = np.unique(flat, return_index=True)
    repeat = np.ones(flat.size, dtype=bool)
    repeat[first] = False
    valid = (~is_seen & ~repeat).reshape(cand.shape)
    taken = valid & (np.cumsum(valid, axis=1) <= n_per_user)
    out = [cand[taken]]
    short = np.flatnonzero(taken.sum(axis=1) < n_per_user)
    for r in short:  # few unseen items left: draw from the list of them
        u = users[r]
        free = np.setdiff1d(np.arange(n_items), items[ptr[u]:ptr[u + 1]], assume_unique=True)
        if free.size:
            chosen = rng.choice(free, size=min(n_per_user, free.size), replace=False)
            out[0] = out[0][out[0] // n_items != u]
            out.append(u * np.int64(n_items) + chosen)
    return np.concatenate(out)


def _n_rows(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2:
        return int(shape[0])
    return len(X)


def _check_relevance(y, n_rows, name):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise ValueError(f"{name} must be 1-D with one entry per row ({n_rows}), got shape "
                         f"{y.shape}")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        raise ValueError(f"{name} must hold numbers (relevance), got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return y
