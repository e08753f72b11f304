"""The training pairs of a ranking fit (FMRanker) and the kernel's BPR epoch over them.

A ranking fit trains on rows of X (estimators._Rows) and, beside them, pairs of row
ids: (preferred, other), the other given or drawn by the kernel afresh every epoch. The
pairs come from one of four sources, each a function below:

- ``from_qid``: rows with the same qid form a group, and every two rows of a group with
  different relevance y are a pair (XGBoost's and LightGBM's rankers' convention);
- ``from_pairs``: explicit (preferred, other) row ids, as fastFM's BPR takes them;
- ``against_negatives``: binary y without groups: every positive row against a negative
  row drawn each epoch (a global AUC objective);
- ``from_interactions``: implicit feedback (rapidfm.implicit.Interactions): X holds one
  row per item, a pair names its user's context row, and the other item is drawn each
  epoch among those the user has not interacted with.

FMParameters.sgd_epoch hands a block of rows that carries pairs to
``TrainingPairs.epoch``; the solvers (SGD, AdaGrad, FTRL) do not change.
"""


import numpy as np

from rapidfm import _core

# a fit refuses to enumerate more candidate qid pairs than this: the enumeration holds
# about 40 bytes per candidate at its peak (1.3 GB here), the pairs 16 bytes each
MAX_PAIRS = 1 << 25
# draws of the other row before a pair is skipped for the epoch
MAX_DRAWS = 64
NEGATIVES = ("uniform", "popularity")
# negatives="popularity": an item is drawn with probability ~ (its events) ** power, the
# exponent of word2vec's negative sampling (Mikolov et al. 2013): popular items are drawn
# more often than uniformly, but less than in proportion to their counts
POPULARITY_POWER = 0.75


class TrainingPairs:
    """Pairs of rows (ids into the training block) with what the kernel needs to train
    them: weights, context rows, and for drawn others the distribution and exclusions.
    ``group`` holds a group id per pair (qid, or the user) for hold-outs; ``source`` names
    the builder below ("qid", "pairs", "negatives", "interactions") and ``row_weight`` keeps
    the per-row weights of "negatives", so that a hold-out can rebuild the pairs."""

    def __init__(self, preferred, other=None, weight=None, *, group=None, context=None,
                 context_rows=None, n_context_features=0, draw_cdf=None, seen=None,
                 max_draws=MAX_DRAWS, n_candidates=1, source=None, row_weight=None):
        self.preferred = np.ascontiguousarray(preferred, dtype=np.int64)
        self.other = None if other is None else np.ascontiguousarray(other, dtype=np.int64)
        self.weight = None if weight is None else np.ascontiguousarray(weight, np.float64)
        self.group = group
        self.context = None if context is None else np.ascontiguousarray(context, np.int64)
        self.context_rows = context_rows  # (indptr, indices, data or None) or None
        self.n_context_features = int(n_context_features)
        self.draw_cdf = draw_cdf
        self.seen = seen  # (ptr, ids) by context row, or None
        self.max_draws = int(max_draws)
        self.n_candidates = int(n_candidates)  # drawn others: the best-scored of these
        self.source = source
        self.row_weight = row_weight

    @property
    def n_pairs(self):
        return int(self.preferred.size)

    def select(self, keep):
        """The pairs where the boolean mask `keep` is true (the rest unchanged)."""
        def part(a):
            return None if a is None else a[keep]
        return TrainingPairs(part(self.preferred), part(self.other), part(self.weight),
                             group=part(self.group), context=part(self.context),
                             context_rows=self.context_rows,
                             n_context_features=self.n_context_features,
                             draw_cdf=self.draw_cdf, seen=self.seen, max_draws=self.max_draws,
                             n_candidates=self.n_candidates, source=self.source,
                             row_weight=self.row_weight)

    def epoch(self, params, rows, *, learning_rate, reg_linear, reg_factors, n_threads,
              parallel_mode, seed, rule="sgd", ftrl_beta=1.0, ftrl_l1=0.0, state=None,
              **row_options):
        """One BPR epoch of params over these pairs of `rows`; the kernel's stats in the
        keys of the SGD epoch's, the pair counts under "history". row_options (the row
        losses' clipping, w0's L2, block_rows) do not apply to pairs."""
        c_indptr = c_indices = c_data = None
        if self.context_rows is not None:
            c_indptr, c_indices, c_data = self.context_rows
        seen_ptr, seen = self.seen if self.seen is not None else (None, None)
        stats = _core.pair_sgd_epoch(
            params.w, params.V, rows.indptr, rows.indices, rows.data, self.preferred,
            self.other, context=self.context, c_indptr=c_indptr, c_indices=c_indices,
            c_data=c_data, c_cols=self.n_context_features, weight=self.weight,
            draw_cdf=self.draw_cdf, seen_ptr=seen_ptr, seen=seen, max_draws=self.max_draws,
            n_candidates=self.n_candidates,
            learning_rate=learning_rate, reg_linear=reg_linear, reg_factors=reg_factors,
            n_threads=n_threads, parallel_mode=parallel_mode, seed=seed, rule=rule,
            ftrl_beta=ftrl_beta, ftrl_l1=ftrl_l1, state=state)
        trained = max(stats["n_pairs"], 1)
        stats["history"] = {"train_pair_accuracy": stats["n_correct"] / trained,
                            "skipped_pairs": stats["n_skipped"]}
        return stats


def group_ids(qid, n_rows, name="qid"):
    """qid as dense group ids 0..G-1 (any hashable labels; rows need not be sorted or
    contiguous) and the number of groups."""
    qid = np.asarray(qid)
    if qid.ndim != 1 or qid.size != n_rows:
        raise ValueError(f"{name} must be 1-D with one entry per row of X ({n_rows}), got "
                         f"shape {qid.shape}")
    if qid.dtype.kind == "f" and not np.isfinite(qid).all():
        first = int(np.argmax(~np.isfinite(qid)))
        raise ValueError(f"{name} holds NaN or infinity (first at index {first})")
    labels, ids = np.unique(qid, return_inverse=True)
    return ids.astype(np.int64).reshape(-1), int(labels.size)


def _group_weights(sample_weight, groups, n_groups):
    """The weight of each group from per-row weights that must agree within a group."""
    if sample_weight is None:
        return None
    _, first_row = np.unique(groups, return_index=True)
    first = sample_weight[first_row]  # the weight of each group's first row
    differs = sample_weight != first[groups]
    if differs.any():
        row = int(np.argmax(differs))
        raise ValueError(
            f"with qid, sample_weight is a weight per group (XGBoost's convention): row {row} "
            f"has weight {sample_weight[row]} but the first row of its group "
            f"{first[groups[row]]}")
    return first


def from_qid(y, qid, sample_weight=None, max_pairs=MAX_PAIRS):
    """Every (preferred, other) of rows in one group with y[preferred] > y[other].

    Returns (TrainingPairs, dense group id per row, n_groups). Groups whose rows all
    have one label give no pair; a fit without any pair is refused.
    """
    groups, n_groups = group_ids(qid, y.size)
    order = np.lexsort((-y, groups))  # by group, then relevance descending
    sizes = np.bincount(groups, minlength=n_groups).astype(np.int64)
    n_candidates = int(np.sum(sizes * (sizes - 1) // 2))
    if n_candidates > max_pairs:
        raise ValueError(
            f"the qid groups hold {n_candidates:,} pairs of rows, more than the {max_pairs:,} "
            "a fit enumerates (the largest group has "
            f"{int(sizes.max()):,} rows): split large groups, or pass pairs= with a sample")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    # every pair (i, j), i < j, of positions within a group of the sorted order
    pos_group = np.repeat(np.arange(n_groups), sizes)
    pos = np.arange(y.size)
    later = starts[pos_group + 1] - pos - 1  # positions after pos in its group
    first = np.repeat(pos, later)
    offsets = np.arange(first.size) - np.repeat(np.cumsum(later) - later, later)
    second = first + 1 + offsets
    a, b = order[first], order[second]
    keep = y[a] > y[b]  # sorted descending: y[a] >= y[b]; ties give no pair
    a, b = a[keep], b[keep]
    if a.size == 0:
        raise ValueError("no group of qid holds two rows with different y: there is "
                         "nothing to rank (every group has a single label)")
    weights = _group_weights(sample_weight, groups, n_groups)
    return (TrainingPairs(a, b, None if weights is None else weights[groups[a]],
                          group=groups[a], source="qid"), groups, n_groups)


def from_pairs(pairs, n_rows, sample_weight=None):
    """Explicit (preferred, other) row ids, an array of shape (n_pairs, 2)."""
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"pairs must have shape (n_pairs, 2): (preferred row, other row), "
                         f"got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("pairs is empty: there is nothing to rank")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"pairs must hold integer row ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n_rows)
    if bad.any():
        p, side = np.argwhere(bad)[0]
        raise ValueError(f"pairs[{p}, {side}] = {arr[p, side]} is not a row of X (X has "
                         f"{n_rows} rows)")
    same = arr[:, 0] == arr[:, 1]
    if same.any():
        p = int(np.argmax(same))
        raise ValueError(f"pairs[{p}] pairs row {arr[p, 0]} with itself")
    weight = None
    if sample_weight is not None:
        weight = np.asarray(sample_weight, dtype=np.float64)
        if weight.shape != (arr.shape[0],):
            raise ValueError(f"with pairs, sample_weight is a weight per pair: expected "
                             f"shape ({arr.shape[0]},), got {weight.shape}")
        if not (np.isfinite(weight).all() and (weight >= 0).all()):
            raise ValueError("sample_weight must be finite and >= 0")
    return TrainingPairs(arr[:, 0], arr[:, 1], weight, group=np.arange(arr.shape[0]),
                         source="pairs")


def _negative_cdf(counts, negatives):
    """The kernel's draw_cdf for negatives="uniform" (None) or "popularity"."""
    if negatives == "uniform":
        return None
    mass = np.power(np.asarray(counts, dtype=np.float64), POPULARITY_POWER)
    if not mass.sum() > 0:
        return None
    return np.cumsum(mass)


def against_negatives(y, sample_weight=None, n_negatives=1, max_draws=MAX_DRAWS, keep=None,
                      n_candidates=1):
    """Binary y without groups: each positive row, n_negatives times, against a negative
    row drawn each epoch; `keep` (a boolean mask of rows, default all) leaves the other
    rows out of both sides. Returns TrainingPairs (row_weight: the per-row weights)."""
    labels = np.unique(y)
    if labels.size != 2:
        raise ValueError(
            f"FMRanker.fit without qid or pairs ranks the rows of the larger of two labels "
            f"above the others, but y has {labels.size} distinct value(s): pass qid= "
            "(groups) or pairs=")
    kept = np.ones(y.size, dtype=bool) if keep is None else keep
    positive = np.flatnonzero((y == labels[1]) & kept)
    cdf = np.cumsum(((y == labels[0]) & kept).astype(np.float64))  # mass on negatives
    if positive.size == 0 or not cdf[-1] > 0:
        raise ValueError("ranking binary y needs positive and negative training rows")
    preferred = np.repeat(positive, n_negatives)
    weight = None if sample_weight is None else sample_weight[preferred]
    return TrainingPairs(preferred, None, weight, group=np.zeros(preferred.size, np.int64),
                         draw_cdf=cdf, max_draws=max_draws, n_candidates=n_candidates,
                         source="negatives", row_weight=sample_weight)


def context_rows(matrix, dtype):
    """A CSR matrix as the kernel's (indptr int64, indices int32, data or None if all 1)."""
    indptr = np.ascontiguousarray(matrix.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(matrix.indices, dtype=np.int32)
    data = np.ascontiguousarray(matrix.data, dtype=dtype)
    return indptr, indices, (None if np.all(data == 1) else data)


def from_interactions(interactions, dtype, n_negatives=1, negatives="uniform",
                      max_draws=MAX_DRAWS, seen=None, events=None, n_candidates=1):
    """Implicit feedback: a pair per event (user, item) and per negative, n_negatives in
    all, the other item drawn each epoch among those the user has no event with (`seen`:
    (ptr, items) of the exclusions, default the interactions' own). `events` selects the
    events trained on (default all)."""
    users, items, weights = interactions.users, interactions.items, interactions.weights
    if events is not None:
        users, items = users[events], items[events]
        weights = None if weights is None else weights[events]
    preferred = np.repeat(items, n_negatives)
    context = np.repeat(users, n_negatives)
    weight = None if weights is None else np.repeat(weights, n_negatives)
    counts = np.bincount(items, minlength=interactions.n_items)
    return TrainingPairs(
        preferred, None, weight, group=context, context=context,
        context_rows=context_rows(interactions.user_rows, dtype),
        n_context_features=interactions.n_user_columns,
        draw_cdf=_negative_cdf(counts, negatives),
        seen=seen if seen is not None else interactions.seen(), max_draws=max_draws,
        n_candidates=n_candidates, source="interactions")
