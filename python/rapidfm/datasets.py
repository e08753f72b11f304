"""Data for tests, benchmarks and the demo.

make_planted_fm draws click-log-like data from a known Factorization Machine:
several categorical fields, one-hot encoded, whose values follow a power law
(a few hot values in most rows, a long tail of rare ones), with targets from
the planted model plus noise. The noise level is the floor any estimator's
test error can approach. load_movielens reads MovieLens 100k style splits.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class PlantedFM:
    """A planted dataset and the model it was drawn from."""

    X: sp.csr_matrix
    y: np.ndarray
    w0: float
    w: np.ndarray
    V: np.ndarray
    field_offsets: np.ndarray
    noise_floor: float  # regression: RMSE of the true model; classification: its logloss
    task: str

    def split(self, n_train):
        """(X_train, y_train, X_test, y_test); rows are i.i.d., so a cut is a random split."""
        return self.X[:n_train], self.y[:n_train], self.X[n_train:], self.y[n_train:]


def _fm_output(X, w0, w, V):
    q = X @ V
    sq = (X.multiply(X)) @ (V * V)
    return w0 + X @ w + 0.5 * (q * q - sq).sum(axis=1)


def make_planted_fm(
    n_samples=100_000,
    n_fields=4,
    field_cardinality=1000,
    n_factors=4,
    noise_std=0.5,
    zipf_exponent=1.1,
    task="regression",
    random_state=None,
    dtype=np.float32,
):
    """Sample one-hot field data and targets from a random FM.

    field_cardinality: int (every field) or a sequence of n_fields ints.
    zipf_exponent: value i of a field (in a random order) has probability
        proportional to (i + 1) ** -zipf_exponent; 0 gives uniform fields.
    task: "regression" (y = f(x) + N(0, noise_std^2)) or "classification"
        (y in {0, 1} with P(y=1) = sigmoid(f(x)); noise_std is ignored).
    The interaction weights are scaled so that the pairwise term has unit
    variance, next to a linear term of standard deviation about 0.5.
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    rng = np.random.default_rng(random_state)
    cards = np.broadcast_to(np.asarray(field_cardinality, dtype=np.int64), (n_fields,)).copy()
    if n_samples < 1 or n_fields < 1 or (cards < 1).any():
        raise ValueError("n_samples, n_fields and every field_cardinality must be >= 1")
    offsets = np.concatenate([[0], np.cumsum(cards)[:-1]])
    n_features = int(cards.sum())

    indices = np.empty((n_samples, n_fields), dtype=np.int64)
    for f, card in enumerate(cards):
        weights = (np.arange(card) + 1.0) ** -float(zipf_exponent)
        cdf = np.cumsum(weights / weights.sum())
        cdf[-1] = 1.0
        rank = np.searchsorted(cdf, rng.random(n_samples), side="right")
        value = rng.permutation(card)[np.minimum(rank, card - 1)]
        indices[:, f] = offsets[f] + value
    index_dtype = np.int32 if n_features < 2**31 else np.int64
    X = sp.csr_matrix(
        (
            np.ones(n_samples * n_fields, dtype=dtype),
            indices.ravel().astype(index_dtype),
            np.arange(0, n_samples * n_fields + 1, n_fields, dtype=np.int64).astype(index_dtype),
        ),
        shape=(n_samples, n_features),
    )

    n_pairs = max(n_fields * (n_fields - 1) // 2, 1)
    v_std = (1.0 / (n_pairs * max(n_factors, 1))) ** 0.25
    w0 = 0.3
    w = rng.normal(0.0, 0.5 / np.sqrt(n_fields), n_features)
    V = rng.normal(0.0, v_std, (n_features, n_factors))
    f = np.asarray(_fm_output(X.astype(np.float64), w0, w, V)).ravel()

    if task == "regression":
        y = f + rng.normal(0.0, noise_std, n_samples)
        floor = float(noise_std)
    else:
        p = 1.0 / (1.0 + np.exp(-f))
        y = (rng.random(n_samples) < p).astype(np.float64)
        eps = 1e-15
        floor = float(-np.mean(p * np.log(p + eps) + (1 - p) * np.log(1 - p + eps)))
    return PlantedFM(X, y, w0, w, V, offsets, floor, task)


def _read_ratings(path):
    table = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2), ndmin=2)
    return table[:, 0], table[:, 1], table[:, 2].astype(np.float64)


def load_movielens(train_path, test_path, dtype=np.float32):
    """MovieLens 100k style splits (user, item, rating, timestamp; tab separated).

    Returns (X_train, y_train, X_test, y_test) with one-hot user and item
    columns: user u (1-based) is column u - 1, item i is column n_users + i - 1,
    with n_users and n_items the largest ids in either file.
    """
    (u_tr, i_tr, y_tr), (u_te, i_te, y_te) = _read_ratings(train_path), _read_ratings(test_path)
    n_users = int(max(u_tr.max(), u_te.max()))
    n_items = int(max(i_tr.max(), i_te.max()))

    def one_hot(users, items):
        n = users.size
        cols = np.column_stack([users - 1, n_users + items - 1]).ravel().astype(np.int32)
        return sp.csr_matrix(
            (np.ones(2 * n, dtype=dtype), cols, np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
            shape=(n, n_users + n_items),
        )

    return one_hot(u_tr, i_tr), y_tr, one_hot(u_te, i_te), y_te
