"""Data for tests, benchmarks and the demo.

make_planted_fm draws click-log-like data from a known Factorization Machine:
several categorical fields, one-hot encoded, whose values follow a power law
(a few hot values in most rows, a long tail of rare ones), with targets from
the planted model plus noise. The noise level is the floor any estimator's
test error can approach. load_movielens reads the MovieLens releases' rating files
(ml-100k's splits, ml-1m's ``::`` format, ml-20m's csv).
"""

import io
import os
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
    """(users, items, ratings) of a MovieLens ratings file, whichever release's format."""
    name = os.fspath(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    lines = raw.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise ValueError(f"{name} holds no ratings")
    if b"::" in first:  # ml-1m and ml-10m: UserID::MovieID::Rating::Timestamp
        raw, delimiter = raw.replace(b"::", b"\t"), "\t"
    elif b"," in first:  # ml-20m, ml-25m, ml-latest: userId,movieId,rating,timestamp
        delimiter = ","
    else:  # ml-100k: user item rating timestamp, tab separated
        delimiter = None
    # a header line (ml-20m's "userId,movieId,...") starts with a name, not an id
    header = 1 if first[:1].isalpha() else 0
    try:
        table = np.loadtxt(io.StringIO(raw.decode("latin-1")), delimiter=delimiter,
                           usecols=(0, 1, 2), dtype=np.float64, skiprows=header, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{name} is not a MovieLens ratings file (user, item, rating per "
                         f"line, separated by tabs, '::' or commas): {exc}") from None
    if table.shape[0] == 0:  # a header line alone
        raise ValueError(f"{name} holds no ratings")
    ids = table[:, :2]
    bad = ~((ids >= 1) & (ids == np.floor(ids))).all(axis=1) | ~np.isfinite(table[:, 2])
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name}, rating {row + 1}: user and item ids must be integers "
                         f">= 1 and the rating a finite number, got {table[row].tolist()}")
    return ids[:, 0].astype(np.int64), ids[:, 1].astype(np.int64), table[:, 2].copy()


def load_movielens(train_path, test_path=None, dtype=np.float32):
    """MovieLens ratings as one-hot user and item columns.

    Returns (X_train, y_train, X_test, y_test) for a train and a test file (such as
    ml-100k's u1.base and u1.test), or (X, y) for one file (ml-100k's u.data, ml-1m's
    ratings.dat). Paths are read as given: relative ones from the working directory.
    Each release's format is recognised from its first line: ml-100k's tab-separated
    ``user item rating timestamp``, ml-1m / ml-10m's ``UserID::MovieID::Rating::Timestamp``
    and ml-20m / ml-25m's ``ratings.csv`` (comma separated, with a header line).
    User u (ids count from 1) is column u - 1 and item i column n_users + i - 1, with
    n_users and n_items the largest ids in either file (ml-1m's item ids have gaps:
    those columns stay empty).
    """
    parts = [_read_ratings(train_path)]
    if test_path is not None:
        parts.append(_read_ratings(test_path))
    n_users = int(max(users.max() for users, _, _ in parts))
    n_items = int(max(items.max() for _, items, _ in parts))

    def one_hot(users, items):
        n = users.size
        # int32 index arrays where they fit, as scipy makes them
        index_dtype = np.int32 if max(2 * n, n_users + n_items) < 2**31 else np.int64
        cols = np.column_stack([users - 1, n_users + items - 1]).ravel().astype(index_dtype)
        return sp.csr_matrix(
            (np.ones(2 * n, dtype=dtype), cols, np.arange(0, 2 * n + 1, 2, dtype=index_dtype)),
            shape=(n, n_users + n_items),
        )

    out = []
    for users, items, ratings in parts:
        out += [one_hot(users, items), ratings]
    return tuple(out)
