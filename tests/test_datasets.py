"""rapidfm.datasets.load_movielens on each MovieLens release's rating format, and a
narrower test file (a9a.t) read the same way in Python and by `rapidfm predict`."""

import numpy as np
import pytest
from conftest import data_path

from rapidfm.datasets import load_movielens


def _reference(lines, sep):
    """(user, item, rating) per line, split by plain Python."""
    rows = [line.split(sep) for line in lines if line.strip()]
    return [(int(r[0]), int(r[1]), float(r[2])) for r in rows]


def _check_one_hot(X, y, triples, n_users):
    assert X.shape[0] == len(triples) == y.size
    for row, (user, item, rating) in enumerate(triples):
        cols = X.indices[X.indptr[row]:X.indptr[row + 1]]
        assert sorted(cols.tolist()) == [user - 1, n_users + item - 1]
        assert y[row] == rating
    assert np.all(X.data == 1)


@pytest.fixture(scope="module")
def ml100k_lines():
    return data_path("ml-100k", "u.data").read_text().splitlines()


def test_ml100k_tab_format_one_file(ml100k_lines):
    X, y = load_movielens(data_path("ml-100k", "u.data"))
    triples = _reference(ml100k_lines, "\t")
    assert X.shape == (100_000, 943 + 1682)
    _check_one_hot(X[:2000], y[:2000], triples[:2000], 943)
    assert np.array_equal(y, [t[2] for t in triples])


def test_ml1m_double_colon_format(tmp_path, ml100k_lines):
    """ml-1m's ratings.dat (UserID::MovieID::Rating::Timestamp) is not in the shared data
    (too large to collect): the same ratings written in its format read the same."""
    path = tmp_path / "ratings.dat"
    path.write_text("".join("::".join(line.split("\t")) + "\n" for line in ml100k_lines))
    X, y = load_movielens(path)
    X_tab, y_tab = load_movielens(data_path("ml-100k", "u.data"))
    assert (X != X_tab).nnz == 0 and np.array_equal(y, y_tab)
    _check_one_hot(X[:500], y[:500], _reference(ml100k_lines[:500], "\t"), 943)


def test_ratings_csv_with_header(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n"
                    "3,1029,3.0,1260759179\n2,31,4.5,1260759182\n")
    X, y = load_movielens(path)
    _check_one_hot(X, y, [(1, 31, 2.5), (3, 1029, 3.0), (2, 31, 4.5)], 3)
    assert X.shape == (3, 3 + 1029)


def test_train_and_test_share_the_columns(tmp_path):
    train, test = tmp_path / "a.base", tmp_path / "a.test"
    train.write_text("1\t5\t3\t0\n2\t1\t4\t0\n")
    test.write_text("4\t2\t5\t0\n")  # a user and an item only the test file has
    X_tr, y_tr, X_te, y_te = load_movielens(train, test)
    assert X_tr.shape == (2, 4 + 5) and X_te.shape == (1, 4 + 5)
    _check_one_hot(X_tr, y_tr, [(1, 5, 3.0), (2, 1, 4.0)], 4)
    _check_one_hot(X_te, y_te, [(4, 2, 5.0)], 4)


@pytest.mark.parametrize("text,match", [
    ("", "holds no ratings"),
    ("1\t2\n", "not a MovieLens ratings file"),
    ("0\t2\t3\t0\n", "rating 1: user and item ids must be integers >= 1"),
    ("1\t2\t3\t0\n1\t2.5\t3\t0\n", "rating 2: user and item ids"),
    ("1::x::3::0\n", "not a MovieLens ratings file"),
])
def test_malformed_rating_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad.dat"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_movielens(path)
    assert "bad.dat" in str(info.value)


def test_a9a_test_file_reads_alike_in_python_and_on_the_command_line(tmp_path, capsys):
    """a9a.t never uses a9a's last feature (123). Python reads it at the model's width
    with n_features=, as scikit-learn's load_svmlight_file does; `rapidfm predict`
    reads it at the model's width itself (and says so). Both predict the same."""
    from rapidfm import FMClassifier
    from rapidfm.cli import main
    from rapidfm.io import load_svmlight

    train, test = data_path("a9a", "a9a"), data_path("a9a", "a9a.t")
    X, y = load_svmlight(train)
    model = FMClassifier(n_factors=4, n_epochs=3, learning_rate=0.05, random_state=0,
                         n_jobs=1).fit(X, y)
    X_narrow, _ = load_svmlight(test)
    assert X_narrow.shape[1] == 122
    with pytest.raises(ValueError, match=r"122 features, but FMClassifier is expecting 123.*"
                                         r"n_features=123"):
        model.predict(X_narrow)
    X_t, y_t = load_svmlight(test, n_features=X.shape[1])
    p_python = model.predict_proba(X_t)[:, 1]

    model.save(tmp_path / "a9a.rfm")
    out = tmp_path / "p.txt"
    assert main(["predict", str(tmp_path / "a9a.rfm"), str(test), "--out", str(out),
                 "--threads", "1"]) == 0
    assert "read as the model's 123" in capsys.readouterr().err
    p_cli = np.loadtxt(out)
    assert np.array_equal(p_cli, p_python)
    assert np.mean((p_python > 0.5) == (y_t == 1)) > 0.8
