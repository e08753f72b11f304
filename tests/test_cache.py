"""The binary cache (rapidfm.cache): round trips, memory mapping without copies,
the streaming converter against the in-memory reader, refusals of damaged caches,
and block-wise epochs (block_rows) for data read from disk."""

import json
import os

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import data_path

import rapidfm.textfiles
from rapidfm import FMClassifier, FMRegressor
from rapidfm._validation import as_csr
from rapidfm.cache import CacheError, CacheWriter, convert_to_cache, open_cache, save_cache
from rapidfm.datasets import make_planted_fm
from rapidfm.textfiles import DataFileError, dump_libffm, dump_svmlight, load_libffm, load_svmlight


def random_csr(n_rows=200, n_cols=30, density=0.2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_cols, density=density, format="csr", random_state=rng, dtype=dtype)
    X.data = np.round(rng.normal(size=X.nnz), 3).astype(dtype)
    X.data[X.data == 0] = 1.0
    return X, np.round(rng.normal(size=n_rows), 3)


def assert_same_matrix(A, B):
    assert A.shape == B.shape
    np.testing.assert_array_equal(np.asarray(A.indptr), np.asarray(B.indptr))
    np.testing.assert_array_equal(np.asarray(A.indices), np.asarray(B.indices))
    np.testing.assert_array_equal(np.asarray(A.data), np.asarray(B.data))


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.startswith(".")]


# -- round trips and memory mapping ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_open_round_trip_is_memory_mapped(tmp_path, dtype):
    X, y = random_csr()
    path = save_cache(X, y, tmp_path / "c", dtype=dtype)
    Xc, yc = open_cache(path)
    assert sp.issparse(Xc) and Xc.format == "csr" and Xc.shape == X.shape
    for arr, want in ((Xc.indptr, np.int64), (Xc.indices, np.int32), (Xc.data, dtype),
                      (yc, np.float64)):
        assert isinstance(arr, np.memmap) and arr.dtype == want
        assert not arr.flags.writeable
    np.testing.assert_array_equal(Xc.toarray(), X.toarray().astype(dtype))
    np.testing.assert_array_equal(yc, y)
    header = json.loads((tmp_path / "c" / "header.json").read_text())
    assert header["n_rows"] == 200 and header["n_features"] == 30 and header["nnz"] == X.nnz


def test_fit_on_a_cache_copies_none_of_its_arrays(tmp_path):
    X, y = random_csr()
    Xc, yc = open_cache(save_cache(X, y, tmp_path / "c"))
    indptr, indices, data, _ = as_csr(Xc, np.float32)
    assert np.shares_memory(indptr, Xc.indptr)
    assert np.shares_memory(indices, Xc.indices)
    assert np.shares_memory(data, Xc.data)


@pytest.mark.parametrize("shuffle", ["epoch", "copy"])
def test_fit_on_a_cache_equals_fit_in_memory(tmp_path, shuffle):
    planted = make_planted_fm(3000, random_state=1)
    Xc, yc = open_cache(save_cache(planted.X, planted.y, tmp_path / "c"))
    kw = dict(n_epochs=3, random_state=0, n_jobs=1, shuffle=shuffle)
    a = FMRegressor(**kw).fit(planted.X, planted.y)
    b = FMRegressor(**kw).fit(Xc, yc)
    np.testing.assert_array_equal(a.V_, b.V_)
    np.testing.assert_array_equal(a.predict(planted.X), b.predict(Xc))


def test_auto_shuffle_copies_rows_in_memory_but_not_a_cache(tmp_path):
    planted = make_planted_fm(3000, random_state=1)
    Xc, yc = open_cache(save_cache(planted.X, planted.y, tmp_path / "c"))
    kw = dict(n_epochs=2, random_state=0, n_jobs=1)
    fits = {(where, shuffle): FMRegressor(shuffle=shuffle, **kw).fit(X, y).V_
            for where, X, y in (("memory", planted.X, planted.y), ("cache", Xc, yc))
            for shuffle in ("auto", "copy", "epoch")}
    np.testing.assert_array_equal(fits["memory", "auto"], fits["memory", "copy"])
    np.testing.assert_array_equal(fits["cache", "auto"], fits["cache", "epoch"])
    assert not np.array_equal(fits["memory", "copy"], fits["memory", "epoch"])


def test_libffm_fields_round_trip(tmp_path):
    X, _ = random_csr(50, 20)
    fields = np.random.default_rng(0).integers(0, 5, X.nnz).astype(np.int32)
    y = np.arange(50) % 2
    Xc, fc, yc = open_cache(save_cache(X, y, tmp_path / "c", fields=fields), with_fields=True)
    np.testing.assert_array_equal(fc, fields)
    np.testing.assert_array_equal(Xc.toarray(), X.toarray().astype(np.float32))
    with pytest.raises(CacheError, match="no fields"):
        open_cache(save_cache(X, y, tmp_path / "d"), with_fields=True)


def test_writer_appends_blocks(tmp_path):
    X, y = random_csr(300, 25)
    with CacheWriter(tmp_path / "c", n_features=25) as writer:
        for start in range(0, 300, 70):
            block = X[start:start + 70]
            writer.append(block if start % 140 else block.toarray(), y[start:start + 70])
    Xc, yc = open_cache(tmp_path / "c")
    np.testing.assert_array_equal(Xc.toarray(), X.toarray().astype(np.float32))
    np.testing.assert_array_equal(yc, y)


def test_writer_leaves_nothing_when_interrupted(tmp_path):
    with pytest.raises(RuntimeError), CacheWriter(tmp_path / "c", n_features=3) as writer:
        writer.append(np.eye(3), np.ones(3))
        raise RuntimeError("stopped")
    assert os.listdir(tmp_path) == []


def test_overwrites_a_cache_but_never_another_folder(tmp_path):
    X, y = random_csr()
    save_cache(X, y, tmp_path / "c")
    save_cache(X[:10], y[:10], tmp_path / "c")
    assert open_cache(tmp_path / "c")[0].shape == (10, 30)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a rapidfm cache"):
        save_cache(X, y, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert leftovers(tmp_path) == []


def test_save_refuses_bad_input(tmp_path):
    X, y = random_csr(10, 5)
    with pytest.raises(ValueError, match="one entry per row"):
        save_cache(X, y[:5], tmp_path / "c")
    with pytest.raises(ValueError, match="NaN"):
        save_cache(X, np.full(10, np.nan), tmp_path / "c")
    bad = X.copy()
    bad.data[0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        save_cache(bad, y, tmp_path / "c")
    assert os.listdir(tmp_path) == []


# -- the streaming converter ------------------------------------------------------------------

@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 200 bytes: every conversion streams through many blocks."""
    monkeypatch.setattr(rapidfm.textfiles, "BLOCK_BYTES", 200)
    monkeypatch.setattr(rapidfm.textfiles.iter_parsed_blocks, "__defaults__",
                        (None, 200))


@pytest.mark.parametrize("written, read", [(True, True), (False, False), (False, "auto")])
def test_convert_equals_load(tmp_path, small_blocks, written, read):
    X, y = random_csr(120, 39, seed=3)
    # column 0 in every row: "auto" must see a one-based file as such
    X = sp.hstack([np.ones((120, 1)), X], format="csr")
    text = tmp_path / "data.txt"
    dump_svmlight(X, y, text, zero_based=written)
    convert_to_cache(text, tmp_path / "c", zero_based=read, n_features=40)
    Xc, yc = open_cache(tmp_path / "c")
    Xl, yl = load_svmlight(text, zero_based=read, n_features=40)
    assert_same_matrix(Xc, Xl)
    np.testing.assert_array_equal(yc, yl)
    np.testing.assert_array_equal(Xc.toarray(), X.toarray().astype(np.float32))
    header = json.loads((tmp_path / "c" / "header.json").read_text())
    assert header["source"]["one_based"] is (not written)


def test_convert_libffm(tmp_path, small_blocks):
    X, y = random_csr(80, 30, seed=4)
    fields = np.random.default_rng(4).integers(0, 7, X.nnz).astype(np.int32)
    text = tmp_path / "data.ffm"
    dump_libffm(X, fields, y, text)
    convert_to_cache(text, tmp_path / "c", fmt="libffm")
    Xc, fc, yc = open_cache(tmp_path / "c", with_fields=True)
    Xl, fl, yl = load_libffm(text)
    assert_same_matrix(Xc, Xl)
    np.testing.assert_array_equal(fc, fl)
    np.testing.assert_array_equal(yc, yl)


def test_convert_reports_the_line_and_leaves_nothing(tmp_path, small_blocks):
    lines = [f"{i % 2} {i % 7}:1 {7 + i % 5}:0.5" for i in range(60)]
    lines[47] = "1 3:1 oops"
    text = tmp_path / "bad.txt"
    text.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match=r"line 48: .*'oops'") as info:
        convert_to_cache(text, tmp_path / "c")
    assert info.value.line == 48
    assert sorted(os.listdir(tmp_path)) == ["bad.txt"]


def test_convert_refuses_empty_and_too_narrow(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(DataFileError, match="no data lines"):
        convert_to_cache(empty, tmp_path / "c")
    text = tmp_path / "d.txt"
    text.write_text("1 0:1 9:1\n")
    with pytest.raises(DataFileError, match="n_features >= 10"):
        convert_to_cache(text, tmp_path / "c", n_features=5)
    with pytest.raises(DataFileError, match="zero_based=True"):
        convert_to_cache(text, tmp_path / "c", zero_based=False)
    assert sorted(os.listdir(tmp_path)) == ["d.txt", "empty.txt"]


def test_convert_real_file(tmp_path):
    source = data_path("a9a", "a9a")
    convert_to_cache(source, tmp_path / "a9a", n_features=123)
    Xc, yc = open_cache(tmp_path / "a9a")
    Xl, yl = load_svmlight(source, n_features=123)
    assert Xc.shape == (32561, 123)
    assert_same_matrix(Xc, Xl)
    np.testing.assert_array_equal(yc, yl)
    model = FMClassifier(n_epochs=2, random_state=0, block_rows=5000).fit(Xc, yc)
    assert model.score(Xl, yl) > 0.8  # a9a's majority class is 76%


# -- damaged caches ---------------------------------------------------------------------------

@pytest.fixture
def cache(tmp_path):
    X, y = random_csr(50, 10)
    return save_cache(X, y, tmp_path / "c")


def test_open_refuses_a_truncated_array(cache):
    path = os.path.join(cache, "data.npy")
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - 4)
    with pytest.raises(CacheError, match="data.npy"):
        open_cache(cache)


def test_open_refuses_a_missing_array(cache):
    os.remove(os.path.join(cache, "indices.npy"))
    with pytest.raises(CacheError, match="indices.npy is missing"):
        open_cache(cache)


@pytest.mark.parametrize("change, message", [
    (lambda h: h.update(version=99), "version 99"),
    (lambda h: h.update(format="other"), "not a rapidfm cache"),
    (lambda h: h.update(nnz=h["nnz"] + 1), "header says|entries"),
    (lambda h: h["arrays"]["data"].update(dtype="<f8"), "header says"),
    (lambda h: h.pop("n_rows"), "malformed"),
])
def test_open_refuses_a_header_that_disagrees(cache, change, message):
    file = os.path.join(cache, "header.json")
    with open(file) as fh:
        header = json.load(fh)
    change(header)
    with open(file, "w") as fh:
        json.dump(header, fh)
    with pytest.raises(CacheError, match=message):
        open_cache(cache)


def test_open_refuses_other_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_cache(tmp_path / "absent")
    with pytest.raises(CacheError, match="not a rapidfm cache"):
        open_cache(tmp_path)
    (tmp_path / "header.json").write_text("{not json")
    with pytest.raises(CacheError, match="unreadable"):
        open_cache(tmp_path)


def test_open_refuses_broken_row_pointers(cache):
    indptr = np.load(os.path.join(cache, "indptr.npy"), mmap_mode="r+")
    indptr[0] = 1
    indptr.flush()
    del indptr
    with pytest.raises(CacheError, match="indptr"):
        open_cache(cache)


# -- block-wise epochs --------------------------------------------------------------------------

def test_block_rows_covering_everything_is_the_plain_epoch():
    planted = make_planted_fm(2000, random_state=2)
    kw = dict(n_epochs=2, random_state=0, n_jobs=1, shuffle="epoch")
    a = FMRegressor(**kw).fit(planted.X, planted.y)
    b = FMRegressor(block_rows=2000, **kw).fit(planted.X, planted.y)
    np.testing.assert_array_equal(a.V_, b.V_)


@pytest.mark.parametrize("block_rows", [1, 7, 64])
def test_block_rows_visits_every_row_once(block_rows):
    # row i holds only feature i: after one epoch w_i moved iff row i was visited
    # (the bias is the only shared term)
    n = 150
    X = sp.identity(n, format="csr")
    y = np.random.default_rng(0).uniform(1.0, 2.0, n)
    model = FMRegressor(n_factors=0, n_epochs=1, learning_rate=1e-3, block_rows=block_rows,
                        random_state=0).fit(X, y)
    assert np.all(model.w_ != 0)
    # one step each: w_i = lr * (y_i - p_i), where p_i is the bias, which stays
    # inside [min y, max y]; a second visit would add a second step
    assert np.all(np.abs(model.w_) <= 1e-3 * (y.max() - y.min()))


def test_block_rows_learns_as_well():
    planted = make_planted_fm(40000, random_state=3)
    X_tr, y_tr, X_te, y_te = planted.split(36000)
    kw = dict(n_epochs=5, random_state=0, reg_factors=0.01, reg_linear=0.01)
    rmse = {}
    for block_rows in (None, 1000):
        model = FMRegressor(block_rows=block_rows, **kw).fit(X_tr, y_tr)
        rmse[block_rows] = np.sqrt(np.mean((model.predict(X_te) - y_te) ** 2))
    assert rmse[1000] < 1.02 * rmse[None]


def test_block_rows_is_validated():
    X = sp.identity(5, format="csr")
    for bad, error in ((0, ValueError), (2.5, TypeError), ("10", TypeError)):
        with pytest.raises(error, match="block_rows"):
            FMRegressor(block_rows=bad).fit(X, np.ones(5))
