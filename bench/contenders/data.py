"""The data sets of compare.py, and the text files the external tools train on.

Data holds train/test CSR matrices, targets and the field of each column. load_planted
generates the planted set (rapidfm.datasets.make_planted_fm); load_ml100k (MovieLens 100k
u1) and load_a9a (LIBSVM a9a) read $RAPIDFM_DATA (default ../shared/data beside the
repository) and return the reason, a string, when a file is missing. write_libsvm and
shuffled_train give libFM, libffm, xLearn and fastFM their files and row order.
"""

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from rapidfm.datasets import load_movielens, make_planted_fm
from rapidfm.io import dump_libffm, dump_svmlight

REPO = Path(__file__).resolve().parents[2]  # the repository: bench/contenders/../..

# a9a's 123 binary features are 14 one-hot attributes of UCI Adult; first (1-based)
# feature of each (checked: no two features of one attribute occur in one row)
A9A_FIELD_STARTS = [1, 6, 14, 19, 35, 40, 47, 61, 67, 72, 74, 76, 78, 83]


def data_dir():
    return Path(os.environ.get("RAPIDFM_DATA", REPO.parent / "shared" / "data"))


class Data:
    """Train/test CSR matrices (float64 values), targets and field of each column."""

    def __init__(self, name, task, X_train, y_train, X_test, y_test, fields, note):
        self.name, self.task, self.note = name, task, note
        self.X_train = sp.csr_matrix(X_train, dtype=np.float64)
        self.X_test = sp.csr_matrix(X_test, dtype=np.float64)
        for X in (self.X_train, self.X_test):
            X.sort_indices()
        # regression: real targets; classification: labels -1/+1
        self.y_train = np.asarray(y_train, dtype=np.float64)
        self.y_test = np.asarray(y_test, dtype=np.float64)
        self.fields = np.asarray(fields, dtype=np.int64)  # field id of each column

    @property
    def n_features(self):
        return self.X_train.shape[1]


def load_planted(rows, values, seed):
    n_test = max(rows // 10, 1000)
    d = make_planted_fm(n_samples=rows + n_test, n_fields=4, field_cardinality=values,
                        n_factors=4, noise_std=0.5, zipf_exponent=1.1, random_state=seed)
    Xtr, ytr, Xte, yte = d.split(rows)
    fields = np.repeat(np.arange(4), values)
    return Data("planted", "regression", Xtr, ytr, Xte, yte, fields,
                f"make_planted_fm {rows:,} train + {n_test:,} test rows x 4 fields x "
                f"{values:,} values ({4 * values:,} features), Zipf 1.1, noise floor RMSE "
                f"{d.noise_floor:.3f}")


def load_ml100k():
    base = data_dir() / "ml-100k"
    train, test = base / "u1.base", base / "u1.test"
    if not (train.exists() and test.exists()):
        return f"{train} not found (set RAPIDFM_DATA)"
    Xtr, ytr, Xte, yte = load_movielens(train, test, dtype=np.float64)
    # load_movielens numbers users first, up to the largest user id of either file
    users = max(int(np.loadtxt(p, dtype=np.int64, usecols=0).max()) for p in (train, test))
    fields = np.r_[np.zeros(users, np.int64), np.ones(Xtr.shape[1] - users, np.int64)]
    return Data("movielens", "regression", Xtr, ytr, Xte, yte, fields,
                f"MovieLens 100k u1: {Xtr.shape[0]:,} train / {Xte.shape[0]:,} test ratings, "
                f"{Xtr.shape[1]:,} features (user + item one-hot)")


def read_libsvm(path, n_features, one_based=True):
    """A small LIBSVM reader: (CSR matrix, labels)."""
    labels, indptr, indices, values = [], [0], [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            labels.append(float(parts[0]))
            for tok in parts[1:]:
                j, v = tok.split(":")
                indices.append(int(j) - (1 if one_based else 0))
                values.append(float(v))
            indptr.append(len(indices))
    X = sp.csr_matrix((np.asarray(values), np.asarray(indices, dtype=np.int64),
                       np.asarray(indptr, dtype=np.int64)), shape=(len(labels), n_features))
    X.sum_duplicates()
    return X, np.asarray(labels)


def load_a9a():
    base = data_dir() / "a9a"
    train, test = base / "a9a", base / "a9a.t"
    if not (train.exists() and test.exists()):
        return f"{train} not found (set RAPIDFM_DATA)"
    Xtr, ytr = read_libsvm(train, 123)
    Xte, yte = read_libsvm(test, 123)
    starts = np.asarray(A9A_FIELD_STARTS) - 1
    fields = np.searchsorted(starts, np.arange(123), side="right") - 1
    return Data("a9a", "classification", Xtr, np.where(ytr > 0, 1.0, -1.0), Xte,
                np.where(yte > 0, 1.0, -1.0), fields,
                f"a9a: {Xtr.shape[0]:,} train / {Xte.shape[0]:,} test rows, 123 features, "
                f"labels +1/-1")


def write_libsvm(path, X, y, zero_based=True, fields=None):
    """'label idx:value ...' (libFM, xLearn FM) or 'label field:idx:value' (libffm; fields
    maps each feature to its field), through rapidfm's own writers."""
    if fields is None:
        dump_svmlight(X, y, path, zero_based=zero_based)
    else:
        dump_libffm(X, np.asarray(fields)[X.indices], y, path)


def shuffled_train(data, seed):
    order = np.random.default_rng(seed + 2).permutation(data.X_train.shape[0])
    return data.X_train[order], data.y_train[order]
