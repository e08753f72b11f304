"""Ranking metrics: AUC, precision@k and NDCG@k per query group, and the top-k
evaluation of recommendation scores (implicit feedback).

Everything is vectorised with NumPy sorts (O(n log n)); only NumPy and SciPy are used.

Groups
    ``qid`` assigns each row to a query (a user, a session, a search). Labels may be
    integers or strings, and the rows of one query need not be contiguous. Per-group
    results come in the order of the sorted unique labels (``np.unique(qid)``).
    ``qid=None`` makes all rows one group.

AUC (``auc_per_group``)
    For one group, the probability that a random pair of rows with different relevance
    is ordered correctly by the score, a tie in score counting 1/2::

        AUC = (#{y_i > y_j, s_i > s_j} + 1/2 #{y_i > y_j, s_i = s_j}) / #{y_i > y_j}

    For binary labels this is exactly ``sklearn.metrics.roc_auc_score`` of the group;
    for graded relevance it is the pairwise accuracy over all pairs of unequal
    relevance. Groups whose labels are all equal have no such pair and are skipped.

Precision@k (``precision_at_k``)
    The number of rows with ``y_true > 0`` among the k highest-scored rows of the group,
    divided by k, also when the group has fewer than k rows (as LightFM and most
    recommender papers do: a short list cannot score a perfect 1). Ties in score are
    broken by a stable sort on the descending score, i.e. in the order the rows come in
    the input. Groups without a positive row are skipped.

NDCG@k (``ndcg_at_k``)
    DCG@k = sum over the first k positions of gain / log2(position + 1) (positions from
    1), with linear gains (gain = relevance, which must be >= 0). Rows tied in score
    share their positions: each gets the mean gain of its tie group, as
    ``sklearn.metrics.ndcg_score(..., ignore_ties=False)`` does, so the result does not
    depend on the input order. NDCG@k = DCG@k / ideal DCG@k (the rows sorted by
    relevance). A group whose relevance is all zero has no ideal DCG: it is skipped by
    default (``skip_empty=True``), whereas scikit-learn scores it 0 and averages it in;
    ``skip_empty=False`` reproduces scikit-learn. ``k=None`` uses all positions.

Averages
    The metrics return the unweighted mean over the groups that could be scored
    (``average=True``) or the per-group array with NaN for skipped groups
    (``average=False``). When no group can be scored they raise ValueError.

Recommendations (``recommendation_metrics``)
    ``scores`` (n_users, n_items) are a model's scores, ``positives`` (sparse, same
    shape) marks each user's held-out positive items and ``exclude`` (sparse, optional)
    items not to rank for that user, typically the training interactions. Per user the
    candidates are the items not excluded; a positive that is also excluded is dropped.
    Users with at least one remaining positive are evaluated:

    - AUC: the share of (positive, non-positive) candidate pairs with the positive
      scored higher, ties 1/2 (NaN for a user whose candidates are all positive);
    - precision@k: |top-k candidates by score and positives| / k, ties in score broken
      by the lower item index. Excluded items never enter the top k.

    Users are processed in chunks of rows, so memory stays O(chunk_size x n_items).
"""

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = [
    "auc_per_group",
    "group_boundaries",
    "ndcg_at_k",
    "precision_at_k",
    "recommendation_metrics",
]

# Rows of `scores` per chunk in recommendation_metrics: about this many matrix entries.
# Scoring a chunk holds about ten temporaries of its size (roughly 60 bytes an entry).
_CHUNK_ELEMENTS = 1 << 20


# ---------------------------------------------------------------------------
# validation


def _check_k(k, allow_none=False):
    if k is None and allow_none:
        return None
    # bool is an Integral, but k=True is a mistake rather than k=1
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        expected = "a positive int or None" if allow_none else "a positive int"
        raise TypeError(f"k must be {expected}, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


def _check_numeric(arr, name):
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")


def _as_1d(values, name, allow_inf):
    if sp.issparse(values):
        raise TypeError(f"{name} must be a dense 1-D array, got a sparse matrix")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    _check_numeric(arr, name)
    arr = arr.astype(np.float64, copy=False)
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if not allow_inf and np.isinf(arr).any():
        raise ValueError(f"{name} contains infinity")
    return arr


def _group_index(qid, n_rows=None):
    """(group number of each row in 0..n_groups-1, n_groups); the numbers follow the
    sorted unique labels."""
    if qid is None:
        if n_rows is None:
            raise ValueError("qid is None and the number of rows is unknown")
        return np.zeros(n_rows, dtype=np.intp), 1
    if sp.issparse(qid):
        raise TypeError("qid must be a 1-D array of group labels, got a sparse matrix")
    labels = np.asarray(qid)
    if labels.ndim != 1:
        raise ValueError(f"qid must be 1-D, got an array of shape {labels.shape}")
    if n_rows is not None and len(labels) != n_rows:
        raise ValueError(f"qid has {len(labels)} entries but y_true has {n_rows} rows")
    if labels.dtype.kind == "c":
        raise TypeError("qid must hold integer or string labels, got complex numbers")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError("qid contains NaN")
    if len(labels) == 0:
        return np.zeros(0, dtype=np.intp), 0
    try:
        _, inverse = np.unique(labels, return_inverse=True)
    except TypeError:
        # an object array whose labels do not compare with each other (say 3 and "a"):
        # group by their string form instead
        _, inverse = np.unique(labels.astype(str), return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.intp, copy=False)
    return inverse, int(inverse.max()) + 1


def _prepare(y_true, y_score, qid):
    y = _as_1d(y_true, "y_true", allow_inf=False)
    s = _as_1d(y_score, "y_score", allow_inf=True)
    if len(s) != len(y):
        raise ValueError(f"y_score has {len(s)} rows but y_true has {len(y)}")
    if len(y) == 0:
        raise ValueError("y_true is empty")
    g, n_groups = _group_index(qid, len(y))
    return y, s, g, n_groups


def _summarise(per_group, average, message):
    scored = ~np.isnan(per_group)
    if not scored.any():
        raise ValueError(message)
    if average:
        return float(per_group[scored].mean())
    return per_group


# ---------------------------------------------------------------------------
# sort helpers. All take `g`, the group number of each row, and work on all groups at
# once: a sort keyed on (g, ...) keeps each group's rows together.


def _starts(*sorted_columns):
    """True where a run of equal values (in all the columns together) starts."""
    n = len(sorted_columns[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
    for column in sorted_columns:
        new[1:] |= column[1:] != column[:-1]
    return new


def _first_of_run(new_run):
    """For each position, the position where its run starts."""
    positions = np.arange(len(new_run))
    return np.maximum.accumulate(np.where(new_run, positions, 0))


def _position_in_group(sorted_g):
    """0-based position of each row within its group, rows sorted by group."""
    return np.arange(len(sorted_g)) - _first_of_run(_starts(sorted_g))


def _midranks(g, s):
    """1-based rank of each s within its group, tied values sharing the mean of their
    positions (scipy.stats.rankdata(method="average") per group)."""
    n = len(s)
    order = np.lexsort((s, g))
    sorted_g = g[order]
    new_group = _starts(sorted_g)
    new_run = new_group | _starts(s[order])
    run_first = np.flatnonzero(new_run)
    run_last = np.append(run_first[1:], n) - 1
    run_of = np.cumsum(new_run) - 1
    group_first = _first_of_run(new_group)
    ranks = np.empty(n)
    ranks[order] = (run_first + run_last)[run_of] / 2.0 - group_first + 1.0
    return ranks


def _tied_pairs(n_groups, g, *keys):
    """Per group, the number of row pairs equal in all `keys`."""
    order = np.lexsort(tuple(key for key in reversed(keys)) + (g,))
    columns = [g[order]] + [key[order] for key in keys]
    first = np.flatnonzero(_starts(*columns))
    lengths = np.diff(np.append(first, len(g))).astype(np.float64)
    return np.bincount(columns[0][first], weights=lengths * (lengths - 1) / 2.0,
                       minlength=n_groups)


def _correct_pairs_by_levels(g, y, s, n_groups):
    """Per group, #{y_i > y_j, s_i > s_j} + 1/2 #{y_i > y_j, s_i = s_j}, one
    Mann-Whitney U per relevance level: the rows of level l against those below it.

    U_l = (sum of the ranks of the level-l rows among the rows with y <= l)
          - n_l (n_l + 1) / 2.
    One sort per distinct level: cheap for binary or graded (0..4) relevance."""
    correct = np.zeros(n_groups)
    for level in np.unique(y)[1:]:
        below = y <= level
        g_below = g[below]
        top = y[below] == level
        ranks = _midranks(g_below, s[below])
        n_top = np.bincount(g_below[top], minlength=n_groups).astype(np.float64)
        rank_sum = np.bincount(g_below[top], weights=ranks[top], minlength=n_groups)
        correct += rank_sum - n_top * (n_top + 1.0) / 2.0
    return correct


def _discordant_pairs_by_merge(g, y, s, n_groups):
    """Per group, #{y_i < y_j and s_i > s_j} (both strict), by a bottom-up merge sort.

    The rows are sorted by (group, y, s); a discordant pair is then an inversion of the
    score sequence (ties in y are sorted by s, so they add none). At level L each group
    is cut into blocks of 2 * 2**L rows and, for every row in the right half of a block,
    the rows in the left half with a larger score are counted with one sort by
    (block, score). Every pair is split at exactly one level, so the total is
    O(n log^2 n) whatever the number of relevance levels."""
    n = len(y)
    order = np.lexsort((s, y, g))
    sorted_g = g[order]
    # dense integer ranks sort faster than the float scores and order the same way
    _, s_rank = np.unique(s[order], return_inverse=True)
    s_rank = s_rank.reshape(-1).astype(np.int64)
    n_ranks = int(s_rank.max()) + 1
    positions = np.arange(n, dtype=np.int64)
    in_group = _position_in_group(sorted_g).astype(np.int64)
    one_key = 2 * n * n_ranks < 2**62
    largest = int(in_group.max()) + 1
    discordant = np.zeros(n_groups)
    width = 1
    while width < largest:
        half = (in_group // width) & 1  # 0: left half of its block, 1: right half
        block = positions - in_group % (2 * width)  # a block's first position: its id
        # among equal scores the left rows come first, so the left rows after a right
        # row in this order are exactly those with a strictly larger score. One int64
        # key (block, score rank, half) sorts faster than a lexsort of three; rows
        # equal in all three may come in any order.
        if one_key:
            within = np.argsort((block * n_ranks + s_rank) * 2 + half)
        else:  # the key would overflow int64
            within = np.lexsort((half, s_rank, block))
        is_left = half[within] == 0
        new_block = _starts(block[within])
        block_no = np.cumsum(new_block) - 1
        left_total = np.bincount(block_no, weights=is_left)
        left_so_far = np.cumsum(is_left)
        left_at_start = (left_so_far - is_left)[_first_of_run(new_block)]
        left_before = left_so_far - left_at_start  # left rows up to here in the block
        right = ~is_left
        larger_left = left_total[block_no[right]] - left_before[right]
        discordant += np.bincount(sorted_g[within[right]], weights=larger_left,
                                  minlength=n_groups)
        width *= 2
    return discordant


def _pairwise_counts(g, y, s, n_groups, method=None):
    """Per group, (correctly ordered pairs with ties 1/2, pairs with unequal labels)."""
    n_rows = np.bincount(g, minlength=n_groups).astype(np.float64)
    pairs = n_rows * (n_rows - 1.0) / 2.0 - _tied_pairs(n_groups, g, y)
    if method is None:
        # one sort per relevance level against one per doubling of the largest group
        n_levels = len(np.unique(y))
        merge_levels = max(1, int(np.ceil(np.log2(max(n_rows.max(), 2.0)))))
        method = "levels" if n_levels - 1 <= merge_levels else "merge"
    if method == "levels":
        correct = _correct_pairs_by_levels(g, y, s, n_groups)
    else:
        discordant = _discordant_pairs_by_merge(g, y, s, n_groups)
        # pairs of unequal labels tied in score
        score_ties = _tied_pairs(n_groups, g, s) - _tied_pairs(n_groups, g, y, s)
        correct = pairs - discordant - score_ties / 2.0
    return correct, pairs


def _discount(position, k):
    """1 / log2(position + 2) for 0-based positions, 0 from position k on."""
    discount = 1.0 / np.log2(position + 2.0)
    if k is not None:
        discount[position >= k] = 0.0
    return discount


# ---------------------------------------------------------------------------
# public functions


def group_boundaries(qid, n_rows=None):
    """Sort rows by group: ``(order, starts)``.

    ``order`` is a stable argsort of the group labels ``qid`` (integers or strings; the
    rows of one group need not be contiguous), so that ``order[starts[i]:starts[i+1]]``
    are the rows of the i-th smallest label, in their input order. ``starts`` has
    n_groups + 1 entries. ``n_rows``, when given, is checked against ``len(qid)``;
    ``qid=None`` with ``n_rows`` makes all rows one group.
    """
    inverse, n_groups = _group_index(qid, n_rows)
    order = np.argsort(inverse, kind="stable")
    starts = np.zeros(n_groups + 1, dtype=np.intp)
    np.cumsum(np.bincount(inverse, minlength=n_groups), out=starts[1:])
    return order, starts


def auc_per_group(y_true, y_score, qid=None, *, average=True):
    """AUC per group (pairwise accuracy for graded relevance), ties in score 1/2.

    Parameters
    ----------
    y_true : 1-D array of relevance (binary or graded), finite.
    y_score : 1-D array of scores, no NaN.
    qid : 1-D array of group labels, or None for one group.
    average : return the mean over the scored groups (True) or the per-group array in
        the order of the sorted unique labels, NaN where all labels of a group are
        equal (False).

    O(n log n) for binary or few relevance levels (ranks), O(n log^2 n) otherwise.
    Raises ValueError when no group has two different labels.
    """
    y, s, g, n_groups = _prepare(y_true, y_score, qid)
    correct, pairs = _pairwise_counts(g, y, s, n_groups)
    per_group = np.full(n_groups, np.nan)
    scored = pairs > 0
    per_group[scored] = correct[scored] / pairs[scored]
    return _summarise(per_group, average,
                      "AUC is undefined: every group has only one distinct y_true value")


def precision_at_k(y_true, y_score, qid=None, k=10, *, average=True):
    """Precision@k per group: #(top-k rows by score with y_true > 0) / k.

    The divisor is k even for a group of fewer than k rows. Ties in score are broken
    by a stable sort on -y_score (the earlier input row first). Groups without a row
    with y_true > 0 are skipped (NaN with average=False). Raises ValueError when no
    group has a positive row.
    """
    k = _check_k(k)
    y, s, g, n_groups = _prepare(y_true, y_score, qid)
    order = np.lexsort((-s, g))  # lexsort is stable: tied scores keep the row order
    sorted_g = g[order]
    top = _position_in_group(sorted_g) < k
    hits = np.bincount(sorted_g[top], weights=y[order][top] > 0, minlength=n_groups)
    has_positive = np.bincount(g, weights=y > 0, minlength=n_groups) > 0
    per_group = np.where(has_positive, hits / k, np.nan)
    return _summarise(per_group, average, "no group has a row with y_true > 0")


def ndcg_at_k(y_true, y_score, qid=None, k=10, *, skip_empty=True, average=True):
    """NDCG@k per group with linear gains and scikit-learn's tie averaging.

    ``k=None`` uses all positions. Relevance must be >= 0. A group whose relevance is
    all zero is skipped with ``skip_empty=True`` (NaN with average=False) and scores 0,
    as in ``sklearn.metrics.ndcg_score``, with ``skip_empty=False``. Raises ValueError
    when no group is left.
    """
    k = _check_k(k, allow_none=True)
    y, s, g, n_groups = _prepare(y_true, y_score, qid)
    if (y < 0).any():
        raise ValueError("ndcg_at_k needs y_true >= 0 (relevance is used as the gain)")

    order = np.lexsort((-s, g))
    sorted_g, sorted_y = g[order], y[order]
    discount = _discount(_position_in_group(sorted_g), k)
    # rows tied in score share the mean gain of their tie group, so DCG does not depend
    # on how a sort happens to order them
    tie = np.cumsum(_starts(sorted_g, s[order])) - 1
    mean_gain = np.bincount(tie, weights=sorted_y) / np.bincount(tie)
    dcg = np.bincount(sorted_g, weights=mean_gain[tie] * discount, minlength=n_groups)

    ideal = np.lexsort((-y, g))
    ideal_g = g[ideal]
    idcg = np.bincount(ideal_g, weights=y[ideal] * _discount(_position_in_group(ideal_g), k),
                       minlength=n_groups)

    empty = idcg == 0  # all relevance zero (k >= 1 keeps the most relevant row)
    per_group = np.divide(dcg, idcg, out=np.zeros(n_groups), where=~empty)
    if skip_empty:
        per_group[empty] = np.nan
    return _summarise(per_group, average, "no group has a row with y_true > 0")


def _as_scores(scores):
    if sp.issparse(scores):
        raise TypeError("scores must be a dense (n_users, n_items) array, got a sparse matrix")
    arr = np.asarray(scores)
    if arr.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {arr.shape}")
    _check_numeric(arr, "scores")
    if arr.size == 0:
        raise ValueError(f"scores is empty (shape {arr.shape})")
    return arr


def _as_interactions(matrix, name, shape):
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix, copy=True)
    elif isinstance(matrix, np.ndarray):
        if matrix.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {matrix.shape}")
        csr = sp.csr_matrix(matrix)
    else:
        raise TypeError(f"{name} must be a scipy.sparse matrix (n_users, n_items), "
                        f"got {type(matrix).__name__}")
    if csr.shape != shape:
        raise ValueError(f"{name} has shape {csr.shape} but scores has shape {shape}")
    # "nonzero" means a stored value that is not 0: drop explicit zeros (after summing
    # duplicates, which may cancel)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return csr


def _mask(csr_rows, shape):
    mask = np.zeros(shape, dtype=bool)
    rows = np.repeat(np.arange(shape[0]), np.diff(csr_rows.indptr))
    mask[rows, csr_rows.indices] = True
    return mask


def _score_chunk(block, positives, exclude, k, first_user):
    """(AUC, precision@k) of the users (rows) of one chunk, NaN where undefined."""
    n_users, n_items = block.shape
    # negated, so that an ascending stable sort ranks by descending score with ties
    # kept in item order
    values = block.astype(np.float64)
    np.negative(values, out=values)
    nan_rows = np.isnan(values).any(axis=1)
    if nan_rows.any():
        raise ValueError(f"scores contains NaN (user {first_user + np.argmax(nan_rows)})")
    positive = _mask(positives, block.shape)
    n_candidates = np.full(n_users, n_items, dtype=np.float64)
    if exclude is not None:
        excluded = _mask(exclude, block.shape)
        positive &= ~excluded
        # NaN sorts after every number: excluded items go behind all candidates, so they
        # never reach the top k and take no candidate's rank
        values[excluded] = np.nan
        n_candidates -= excluded.sum(axis=1)
    n_positive = positive.sum(axis=1).astype(np.float64)

    order = np.argsort(values, axis=1, kind="stable")
    ranked = np.take_along_axis(values, order, axis=1)
    hit = np.take_along_axis(positive, order, axis=1)
    del order, positive

    # excluded items in the first k positions (fewer than k candidates) are no hits
    precision = hit[:, :k].sum(axis=1) / k

    # rank of each candidate in descending order, 1-based, tied scores sharing the mean
    # of their positions; NaN != NaN keeps every excluded item in a run of its own
    position = np.arange(n_items)
    new_run = np.ones(ranked.shape, dtype=bool)
    np.not_equal(ranked[:, 1:], ranked[:, :-1], out=new_run[:, 1:])
    run_first = np.maximum.accumulate(np.where(new_run, position, 0), axis=1)
    is_last = np.ones(ranked.shape, dtype=bool)
    is_last[:, :-1] = new_run[:, 1:]
    del new_run, ranked
    run_last = np.minimum.accumulate(np.where(is_last, position, n_items)[:, ::-1],
                                     axis=1)[:, ::-1]
    del is_last
    descending_rank_sum = np.where(hit, (run_first + run_last) / 2.0 + 1.0, 0.0).sum(axis=1)
    # ascending rank = n_candidates + 1 - descending rank; Mann-Whitney U from it
    u = (n_positive * (n_candidates + 1.0) - descending_rank_sum
         - n_positive * (n_positive + 1.0) / 2.0)
    n_negative = n_candidates - n_positive
    defined = (n_positive > 0) & (n_negative > 0)
    auc = np.full(n_users, np.nan)
    auc[defined] = u[defined] / (n_positive[defined] * n_negative[defined])
    precision[n_positive == 0] = np.nan
    return auc, precision


def recommendation_metrics(scores, positives, exclude=None, k=10, *, chunk_size=None):
    """AUC and precision@k of recommendation scores against held-out positives.

    Parameters
    ----------
    scores : dense (n_users, n_items) array of model scores, no NaN.
    positives : scipy.sparse (n_users, n_items); a nonzero entry is a held-out positive.
    exclude : scipy.sparse of the same shape or None; a nonzero entry is an item not to
        rank for that user (for example the training interactions). Excluded positives
        are dropped.
    k : the length of the recommended list; precision@k divides by k.
    chunk_size : users scored at a time (default: about 2**20 matrix entries a chunk).

    Returns
    -------
    dict with ``auc`` (mean over the evaluated users with at least one candidate
    that is not positive; NaN if there is none), ``precision_at_k`` (mean over the
    evaluated users), ``n_users`` (the evaluated users: those with at least one
    positive that is not excluded), ``k``, ``per_user_auc`` and ``per_user_precision``
    (arrays of n_users, NaN for the users not evaluated).

    Raises ValueError when no user has a positive that is not excluded.
    """
    k = _check_k(k)
    scores = _as_scores(scores)
    n_users, n_items = scores.shape
    positives = _as_interactions(positives, "positives", scores.shape)
    if exclude is not None:
        exclude = _as_interactions(exclude, "exclude", scores.shape)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // n_items)
    else:
        if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size,
                                                                      numbers.Integral):
            raise TypeError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        chunk_size = int(chunk_size)

    per_user_auc = np.full(n_users, np.nan)
    per_user_precision = np.full(n_users, np.nan)
    for start in range(0, n_users, chunk_size):
        stop = min(start + chunk_size, n_users)
        auc, precision = _score_chunk(
            scores[start:stop], positives[start:stop],
            None if exclude is None else exclude[start:stop], k, start)
        per_user_auc[start:stop] = auc
        per_user_precision[start:stop] = precision

    evaluated = ~np.isnan(per_user_precision)
    if not evaluated.any():
        raise ValueError("no user has a positive item that is not excluded")
    with_auc = ~np.isnan(per_user_auc)
    return {
        "auc": float(per_user_auc[with_auc].mean()) if with_auc.any() else float("nan"),
        "precision_at_k": float(per_user_precision[evaluated].mean()),
        "n_users": int(evaluated.sum()),
        "k": k,
        "per_user_auc": per_user_auc,
        "per_user_precision": per_user_precision,
    }
