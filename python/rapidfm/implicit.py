"""Implicit feedback: who interacted with what, as the training data of FMRanker.

Recommendation data often has no ratings, only (user, item) events: a click, a
purchase, a play. :class:`Interactions` holds them with the optional user and item
feature matrices and gives FMRanker what it trains on without materialising a row per
(user, item) combination: one row per user (the context rows: the user's one-hot id
and features, the model's first columns) and one row per item (its one-hot id and
features, the columns after them). The FM's score of a user and an item is the score
of the two rows side by side, ``rows(users, items)``.

Training pairs are (user, item interacted with, item drawn at random): the kernel
draws the other item afresh for every pair in every epoch, uniformly or by
popularity, never one the user has interacted with (fastfm.h, fm_pair_sgd_epoch).
"""

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = ["Interactions"]


def _ids(values, name, n):
    """values as an int64 array of ids in [0, n) (n None: any id >= 0)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer)
                         or (arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0))):
        raise TypeError(f"{name} must hold integer ids (0, 1, ...), got dtype {arr.dtype}: "
                        "map labels to ids first, e.g. with np.unique(..., return_inverse=True)")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        first = int(np.argmax(arr < 0))
        raise ValueError(f"{name} holds a negative id {arr[first]} (at index {first})")
    if n is not None and arr.size and arr.max() >= n:
        first = int(np.argmax(arr >= n))
        raise ValueError(f"{name} holds id {arr[first]} at index {first}, outside [0, {n})")
    return arr


def _features(matrix, name, n_rows):
    """A feature matrix as float64 CSR with sorted indices and finite values."""
    if matrix is None:
        return None
    X = sp.csr_matrix(matrix, dtype=np.float64) if not sp.issparse(matrix) else \
        sp.csr_matrix(matrix).astype(np.float64)
    if X.shape[0] != n_rows:
        raise ValueError(f"{name} has {X.shape[0]} rows, expected one per id ({n_rows})")
    if not np.isfinite(X.data).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    X.sum_duplicates()
    X.sort_indices()
    return X


def _one_hot_and(features, n, identity, name):
    """[identity | features] as CSR (identity: one column per id)."""
    parts = []
    if identity:
        parts.append(sp.identity(n, format="csr", dtype=np.float64))
    if features is not None:
        parts.append(features)
    if not parts:
        raise ValueError(f"{name}: without identity columns the {name} features are required")
    out = sp.hstack(parts, format="csr") if len(parts) > 1 else parts[0].copy()
    out.sort_indices()
    return out


class Interactions:
    """(user, item) events of implicit feedback, with optional features.

    Parameters
    ----------
    users, items : array-like of int of shape (n_events,)
        Ids in [0, n_users) and [0, n_items). Repeated (user, item) events are kept as
        they are: each is a training pair per epoch (a repeat weighs twice).
    n_users, n_items : int or None
        The numbers of users and items (None: one more than the largest id; give them
        when the test users or items may lie past the training ids).
    weights : array-like of float of shape (n_events,) or None
        A weight per event (e.g. a confidence or a count), the weight of its pairs.
    user_features, item_features : matrix of shape (n_users, *) / (n_items, *) or None
        Side features, sparse or dense, appended to the one-hot id columns.
    identity : bool, default=True
        One column per user and per item (their own latent vectors). False: users and
        items are described by their features alone (cold start for new ids).

    The model's columns are the user columns (identity, then user features) followed by
    the item columns (identity, then item features): ``rows(users, items)`` builds such
    rows, which FMRanker.predict scores.
    """

    def __init__(self, users, items, *, n_users=None, n_items=None, weights=None,
                 user_features=None, item_features=None, identity=True):
        for name, n in (("n_users", n_users), ("n_items", n_items)):
            if n is not None and (not isinstance(n, numbers.Integral) or isinstance(n, bool)
                                  or n < 1):
                raise ValueError(f"{name} must be an int >= 1 or None, got {n!r}")
        users = _ids(users, "users", n_users)
        items = _ids(items, "items", n_items)
        if users.size != items.size:
            raise ValueError(f"users has {users.size} entries but items has {items.size}")
        if users.size == 0:
            raise ValueError("Interactions needs at least one (user, item) event")
        self.n_users = int(n_users if n_users is not None else users.max() + 1)
        self.n_items = int(n_items if n_items is not None else items.max() + 1)
        self.users, self.items = users, items
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != users.shape:
                raise ValueError(f"weights must have one entry per event ({users.size}), got "
                                 f"shape {weights.shape}")
            if not (np.isfinite(weights).all() and (weights >= 0).all()):
                raise ValueError("weights must be finite and >= 0")
        self.weights = weights
        self.identity = bool(identity)
        self.user_features = _features(user_features, "user_features", self.n_users)
        self.item_features = _features(item_features, "item_features", self.n_items)
        self.user_rows = _one_hot_and(self.user_features, self.n_users, self.identity, "user")
        self.item_rows = _one_hot_and(self.item_features, self.n_items, self.identity, "item")

    def __len__(self):
        return int(self.users.size)

    def __repr__(self):
        return (f"Interactions({len(self)} events, {self.n_users} users, {self.n_items} items, "
                f"{self.n_user_columns} + {self.n_item_columns} columns)")

    @property
    def n_user_columns(self):
        return int(self.user_rows.shape[1])

    @property
    def n_item_columns(self):
        return int(self.item_rows.shape[1])

    @property
    def n_columns(self):
        """The model's n_features: user columns + item columns."""
        return self.n_user_columns + self.n_item_columns

    def seen(self, also=None):
        """(ptr, items): each user's distinct items, increasing (CSR offsets by user);
        `also` (Interactions of the same users) adds its events."""
        users, items = self.users, self.items
        if also is not None:
            users = np.concatenate([users, also.users])
            items = np.concatenate([items, also.items])
        key = np.unique(users * np.int64(self.n_items) + items)
        ptr = np.searchsorted(key // self.n_items, np.arange(self.n_users + 1)).astype(np.int64)
        return ptr, (key % self.n_items).astype(np.int64)

    def seen_matrix(self):
        """The users' items as a boolean CSR matrix (n_users, n_items)."""
        ptr, items = self.seen()
        return sp.csr_matrix((np.ones(items.size, dtype=bool), items, ptr),
                             shape=(self.n_users, self.n_items))

    def item_counts(self):
        """Events per item (weighted when weights are given)."""
        return np.bincount(self.items, weights=self.weights, minlength=self.n_items)

    def rows(self, users, items):
        """The model's rows of (users[i], items[i]): the user's columns then the item's,
        as CSR float64 (what FMRanker.predict and the plain FM take)."""
        users = _ids(users, "users", self.n_users)
        items = _ids(items, "items", self.n_items)
        if users.size != items.size:
            raise ValueError(f"users has {users.size} entries but items has {items.size}")
        out = sp.hstack([self.user_rows[users], self.item_rows[items]], format="csr")
        out.sort_indices()
        return out

    def check_layout(self, other, name="interactions"):
        """ValueError unless `other` has this data's users, items and columns."""
        if not isinstance(other, Interactions):
            raise TypeError(f"{name} must be rapidfm.Interactions, got {type(other).__name__}")
        mine = (self.n_users, self.n_items, self.n_user_columns, self.n_item_columns)
        theirs = (other.n_users, other.n_items, other.n_user_columns, other.n_item_columns)
        if mine != theirs:
            raise ValueError(
                f"{name} has (n_users, n_items, user columns, item columns) = {theirs}, but "
                f"the training data had {mine}: pass n_users / n_items and the same "
                "features so that both describe the same users and items")
