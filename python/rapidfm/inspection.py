"""What a fitted factorization machine learned: linear weights, per-feature importance
and the strongest pairwise interactions.

The model is y(x) = w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j, so

- ``w_i`` is feature i's own effect (one unit of x_i moves the output by w_i);
- ``<v_i, v_j>`` is the weight of the pair (i, j): how much x_i x_j adds;
- ``||v_i||`` bounds how much feature i can take part in interactions
  (|<v_i, v_j>| <= ||v_i|| ||v_j||).

For FMClassifier the output is on the log-odds scale (SGD) or the probit scale (ALS,
MCMC), so the weights are too.

MCMC models (solver="mcmc") average what predict averages, the kept samples s: the
weight is the posterior mean of w_i (mean over samples_w_), the pair weight the mean of
<v_i^s, v_j^s> over the samples, and the factor norm sqrt(mean_s ||v_i^s||^2) (the
square root of the mean self-interaction). These are invariant under the rotations of
V that leave the model unchanged, which the mean of the sampled V is not. (predict
averages the clipped or transformed outputs, so for a clipping regressor or a
classifier they describe the averaged model only approximately.)

Results are dicts of equal-length 1-D NumPy arrays, one per column, so that
``pandas.DataFrame(feature_importance(model))`` prints them as a table.
"""

import numpy as np

__all__ = ["feature_importance", "interaction_matrix", "linear_weights", "top_interactions"]


def _check_fitted(model):
    if not hasattr(model, "V_") or not hasattr(model, "w_"):
        from rapidfm._sklearn_compat import NotFittedError

        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before inspecting it.")


def _samples(model):
    """(w0 samples (S,), w samples (S, n), V samples (S, n, k)), S = 1 unless MCMC."""
    _check_fitted(model)
    samples_V = getattr(model, "samples_V_", None)
    if samples_V is not None and len(samples_V) > 0:
        return (np.asarray(model.samples_w0_, dtype=np.float64), model.samples_w_,
                samples_V)
    return (np.array([float(model.w0_)]), model.w_[None, :], model.V_[None, :, :])


def linear_weights(model):
    """(intercept, weights): w0 and w of the model (MCMC: their posterior means over
    the kept samples), a float and an array of shape (n_features,)."""
    w0, w, V = _samples(model)
    if w.shape[0] == 1:
        return float(w0[0]), model.w_
    return float(np.mean(w0)), np.mean(np.asarray(w, dtype=np.float64), axis=0)


def _names(model, feature_names):
    _check_fitted(model)
    n = int(model.V_.shape[0])
    if feature_names is None:
        fitted = getattr(model, "feature_names_in_", None)
        if fitted is not None:
            return np.asarray(fitted, dtype=object)
        return np.asarray([f"x{i}" for i in range(n)], dtype=object)
    names = np.asarray(feature_names, dtype=object)
    if names.ndim != 1 or names.shape[0] != n:
        raise ValueError(f"feature_names must hold one name per feature ({n}), got shape "
                         f"{names.shape}")
    return names


def _factor_norms(V):
    """sqrt(mean_s ||v_i^s||^2) for each feature i, in float64."""
    total = np.zeros(V.shape[1])
    for s in range(V.shape[0]):
        Vs = np.asarray(V[s], dtype=np.float64)
        total += np.einsum("ik,ik->i", Vs, Vs)
    return np.sqrt(total / V.shape[0])


_SORT_KEYS = ("abs_weight", "factor_norm", "weight")


def feature_importance(model, feature_names=None, sort_by=None, top=None):
    """Per-feature importance of a fitted FMRegressor or FMClassifier.

    Returns a dict of arrays of shape (n_features,) (or (top,)):

    - ``feature``: the feature's name (feature_names, else the model's
      feature_names_in_, else "x0", "x1", ...)
    - ``index``: its column in X
    - ``weight``: w_i (MCMC: the posterior mean)
    - ``abs_weight``: |w_i|
    - ``factor_norm``: ||v_i|| (MCMC: sqrt(mean_s ||v_i^s||^2)), the feature's
      capacity for interactions

    sort_by: None (feature order), "abs_weight", "factor_norm" or "weight": sort by that
    column, largest first. top: keep only the first `top` rows (after sorting).

    The values are in the units of X: a feature that is large in magnitude has small
    weights for the same effect, so compare features of the same scale (one-hot
    columns, or scaled data).
    """
    names = _names(model, feature_names)
    _, w = linear_weights(model)
    _, _, V = _samples(model)
    w = np.asarray(w, dtype=np.float64)
    table = {
        "feature": names,
        "index": np.arange(w.shape[0]),
        "weight": w,
        "abs_weight": np.abs(w),
        "factor_norm": _factor_norms(V),
    }
    if sort_by is not None:
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"sort_by must be None or one of {list(_SORT_KEYS)}, got "
                             f"{sort_by!r}")
        order = np.argsort(-table[sort_by], kind="stable")
        table = {key: value[order] for key, value in table.items()}
    if top is not None:
        top = _positive_int("top", top)
        table = {key: value[:top] for key, value in table.items()}
    return table


def _positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _features(model, among):
    """The feature indices to consider: `among` the largest factor norms, or given."""
    n = int(model.V_.shape[0])
    if among is None:
        return np.arange(n)
    if isinstance(among, (int, np.integer)) and not isinstance(among, (bool, np.bool_)):
        among = _positive_int("among", among)
        if among >= n:
            return np.arange(n)
        _, _, V = _samples(model)
        norms = _factor_norms(V)
        return np.sort(np.argsort(-norms, kind="stable")[:among])
    idx = np.asarray(among)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError("among must be None, a positive int or a 1-D array of feature "
                         f"indices, got {among!r}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"among holds feature indices outside [0, {n})")
    if np.unique(idx).size != idx.size:
        raise ValueError("among holds repeated feature indices")
    return idx.astype(np.int64)


def interaction_matrix(model, features=None):
    """The pair weights <v_i, v_j> (MCMC: their mean over the kept samples) of the given
    features (indices; None: all, an (n_features, n_features) array), in float64.

    The diagonal holds ||v_i||^2, which the model does not use (it has no x_i^2 term).
    """
    _, _, V = _samples(model)
    idx = _features(model, features)
    total = np.zeros((idx.size, idx.size))
    for s in range(V.shape[0]):
        Vs = np.asarray(V[s][idx], dtype=np.float64)
        total += Vs @ Vs.T
    return total / V.shape[0]


def top_interactions(model, n=10, among=100, feature_names=None, X=None, min_count=1):
    """The n strongest pairwise interactions <v_i, v_j> (largest |value| first).

    among: consider the pairs of the `among` features with the largest factor norm
    (default 100; the strongest pairs involve features with large norms, since
    |<v_i, v_j>| <= ||v_i|| ||v_j||), an array of feature indices, or None for every
    pair (time O(n_features^2 k); memory stays bounded: the pairs are scanned in
    blocks of rows).

    X: optional data (e.g. the training rows): rank only the pairs of features that
    are both nonzero in at least one row of X, and report in how many (``count``).
    Without X every pair is ranked, also pairs that never occur together - two users
    of one-hot user/item data - whose weight the model never fitted to any row (it is
    whatever their factors imply); pass X to leave those out. min_count (with X): rank
    only pairs that occur together in at least that many rows.

    Returns a dict of arrays of shape (m,), m = min(n, number of pairs):
    ``feature_a``, ``feature_b`` (names), ``index_a`` < ``index_b`` (columns of X),
    ``interaction`` (the pair weight, signed) and, with X, ``count``.
    """
    n = _positive_int("n", n)
    names = _names(model, feature_names)
    idx = np.sort(_features(model, among))
    _, _, V = _samples(model)
    if X is not None:
        min_count = _positive_int("min_count", min_count)
        best_a, best_b, counts = _co_occurring_pairs(model, X, idx)
        enough = counts >= min_count
        best_a, best_b, counts = best_a[enough], best_b[enough], counts[enough]
        best_v = np.zeros(best_a.size)
        for s in range(V.shape[0]):
            Vs = np.asarray(V[s][idx], dtype=np.float64)
            for lo in range(0, best_a.size, _BLOCK_ENTRIES // 8):
                hi = lo + _BLOCK_ENTRIES // 8
                best_v[lo:hi] += np.einsum("pk,pk->p", Vs[best_a[lo:hi]], Vs[best_b[lo:hi]])
        best_v /= V.shape[0]
    else:
        if min_count != 1:
            raise ValueError("min_count counts rows of X: pass X as well")
        best_a, best_b, best_v = _scan_pairs(V, idx, n)
        counts = None
    # largest |value| first; ties in pair order (index_a, then index_b)
    order = np.lexsort((best_b, best_a, -np.abs(best_v)))[:n]
    ia, ib = idx[best_a[order]], idx[best_b[order]]
    table = {
        "feature_a": names[ia],
        "feature_b": names[ib],
        "index_a": ia,
        "index_b": ib,
        "interaction": best_v[order],
    }
    if counts is not None:
        table["count"] = counts[order]
    return table


def _scan_pairs(V, idx, n):
    """(a, b, value) of the n largest |<v_a, v_b>| over all pairs a < b of idx
    (positions into idx), computed a block of rows at a time."""
    m = idx.size
    block = max(1, _BLOCK_ENTRIES // max(m, 1))
    best_a, best_b, best_v = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    for start in range(0, m, block):
        stop = min(m, start + block)
        G = np.zeros((stop - start, m))
        for s in range(V.shape[0]):
            Vs = np.asarray(V[s][idx], dtype=np.float64)
            G += Vs[start:stop] @ Vs.T
        G /= V.shape[0]
        a, b = np.nonzero(np.arange(start, stop)[:, None] < np.arange(m)[None, :])
        values = G[a, b]
        if values.size > n:  # keep this block's n largest |values| only
            keep = np.argpartition(-np.abs(values), n - 1)[:n]
            a, b, values = a[keep], b[keep], values[keep]
        best_a = np.concatenate([best_a, a + start])
        best_b = np.concatenate([best_b, b])
        best_v = np.concatenate([best_v, values])
    return best_a, best_b, best_v


def _co_occurring_pairs(model, X, idx):
    """(a, b, count): the pairs a < b (positions into idx) of features both nonzero in
    `count` >= 1 rows of X."""
    import scipy.sparse as sp

    from rapidfm._validation import as_csr

    indptr, indices, data, _ = as_csr(X, np.float64, n_features=int(model.V_.shape[0]),
                                      owner=type(model).__name__)
    nonzero = (data != 0).astype(np.float64)
    B = sp.csr_matrix((nonzero, indices, indptr), shape=(indptr.size - 1, model.V_.shape[0]))
    B.eliminate_zeros()
    B = B[:, idx]
    C = sp.triu(B.T @ B, k=1).tocoo()
    return (C.row.astype(np.int64), C.col.astype(np.int64),
            np.rint(C.data).astype(np.int64))


_BLOCK_ENTRIES = 1 << 22  # pair weights held at once by top_interactions (32 MiB)


class InspectionMixin:
    """coef_ and intercept_ of the fitted FM estimators, as scikit-learn's linear models:
    the linear part w and w0 (MCMC: their posterior means). Regressor: coef_ of shape
    (n_features,), intercept_ a float; classifier: (1, n_features) and (1,), as
    scikit-learn's binary classifiers. Read-only views, computed on access (not saved)."""

    @property
    def coef_(self):
        _check_fitted(self)
        _, w = linear_weights(self)
        w = np.asarray(w).view()
        w.flags.writeable = False
        return w[None, :] if getattr(self, "_task", None) == "classification" else w

    @property
    def intercept_(self):
        _check_fitted(self)
        w0, _ = linear_weights(self)
        if getattr(self, "_task", None) == "classification":
            return np.array([w0])
        return w0
