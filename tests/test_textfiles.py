"""The libsvm / libFM / libffm text readers and writers (rapidfm.textfiles).

Every expected value comes from a reference independent of the code under test:
scikit-learn's load_svmlight_file, Python's float() (correctly rounded, so the
exact double of a decimal text), matrices built by hand, or lines split by hand
in plain Python. Never from an earlier output of rapidfm itself.

Real data files come through conftest.data_path and skip cleanly when absent.
"""

import bz2
import gzip
import io
import math
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import data_path
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import load_svmlight_file

import rapidfm.textfiles as textfiles
from rapidfm.io import DataFileError, dump_libffm, dump_svmlight, load_libffm, load_svmlight
from rapidfm.textfiles import iter_parsed_blocks

# -- helpers --------------------------------------------------------------------------------


def write(tmp_path, content, name="data.txt"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def assert_same_csr(A, B):
    """Same shape, same stored entries in the same order, bit for bit (so -0.0 vs 0.0
    or a last-bit rounding difference fails)."""
    assert A.shape == B.shape
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    assert A.data.dtype == B.data.dtype
    assert A.data.tobytes() == B.data.tobytes()


def assert_same_floats(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert a.tobytes() == b.tobytes()


def csr_from_rows(rows, n_features, dtype=np.float64):
    """A CSR matrix from [[(index, value), ...], ...] in the given order."""
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i, _ in r], dtype=np.int64)
    data = np.array([v for r in rows for _, v in r], dtype=np.float64).astype(dtype)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_features))


def sklearn_load(source, **kwargs):
    X, y = load_svmlight_file(source if hasattr(source, "read") else str(source), **kwargs)[:2]
    X.sort_indices()  # scikit-learn keeps file order; rapidfm sorts each row
    return X, y


# Decimal forms seen in data files, and the hard cases of decimal -> double
# conversion: halfway cases, 2^53 + 1, the largest double, subnormals, and an
# exact decimal expansion hundreds of digits long.
EDGE_DECIMALS = [
    "0", "-0", "1", "+2", "-7", "3.", "-3.", ".25", "-.5", "+.5", "0.5", "-1e-3", "1E3", "1e+2",
    "2.5E-3", "007", "000.0100", "0.1", "0.30000000000000004", "12345678901234567",
    "1.2345678901234567e-5", "1234567890123456789", "12345678901234567890123",
    "9007199254740992", "9007199254740993", "9007199254740995", "1e22", "1e23", "123e20",
    "9007199254740993e-22", "1.7976931348623157e308", "-1.7976931348623157e308", "1e300",
    "-1e300", "4.9e-324", "5e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
    "2.2250738585072011e-308", "2.2250738585072012e-308", "1e-310", "1e-400",
    "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203126",
    "0.1000000000000000055511151231257827021181583404541015625",
    str(Decimal(5e-324)), "0." + "0" * 200 + "1e201",
]


def random_decimal(rng):
    """A finite decimal text in one of the forms real files use."""
    sign = ["", "-", "+"][rng.integers(3)]
    kind = rng.integers(9)
    if kind == 0:  # integers
        return sign + str(rng.integers(0, 10 ** 6))
    if kind == 1:  # fixed point, '0.5'
        return sign + f"{rng.random() * 10 ** rng.integers(0, 4):.{rng.integers(1, 9)}f}"
    if kind == 2:  # '-1e-3', '2E+05'
        e = ["e", "E"][rng.integers(2)] + ["", "+", "-"][rng.integers(3)]
        return f"{sign}{rng.integers(1, 10)}{e}{rng.integers(0, 40)}"
    if kind == 3:  # '3.'
        return f"{sign}{rng.integers(0, 1000)}."
    if kind == 4:  # '.25'
        return f"{sign}.{rng.integers(0, 10 ** rng.integers(1, 7))}"
    if kind == 5:  # 17 significant digits, what %.17g and repr write
        return f"{rng.standard_normal() * 10.0 ** rng.integers(-300, 300):.16e}"
    if kind == 6:  # 18-30 digits: more than a double holds, a point anywhere, an exponent
        digits = "".join(str(d) for d in rng.integers(0, 10, rng.integers(18, 31)))
        point = rng.integers(0, len(digits) + 1)
        return f"{sign}{digits[:point]}.{digits[point:]}e{rng.integers(-340, 270)}"
    if kind == 7:  # the extremes
        return sign + ["1e300", "1.5e308", "4.9e-324", "2.5e-320", "1e-310", "8e-309"][
            rng.integers(6)]
    return EDGE_DECIMALS[rng.integers(len(EDGE_DECIMALS))]


def random_svm_lines(rng, n_rows, n_features=5000, max_items=12, unsorted=False):
    """(lines as bytes, rows as [(index, float)], labels as floats): one-based indices
    with power-law frequencies, values in mixed decimal forms."""
    lines, rows, labels = [], [], []
    for _ in range(n_rows):
        n = rng.integers(0, max_items + 1)
        idx = np.unique(np.minimum(rng.zipf(1.3, n), n_features))
        texts = [random_decimal(rng) for _ in idx]
        label = random_decimal(rng)
        items = list(zip(idx.tolist(), texts))
        if unsorted:
            rng.shuffle(items)
        lines.append(" ".join([label] + [f"{i}:{t}" for i, t in items]).encode())
        rows.append([(i - 1, float(t)) for i, t in sorted(items)])
        labels.append(float(label))
    return lines, rows, labels


# -- 1. identical to scikit-learn, and correctly rounded ------------------------------------


@pytest.mark.parametrize("name, n_rows", [("a9a", 32561), ("a9a.t", 16281)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a9a_identical_to_sklearn(name, n_rows, dtype):
    path = data_path("a9a", name)
    X, y = load_svmlight(path, n_features=123, dtype=dtype)
    Xs, ys = sklearn_load(path, n_features=123, dtype=dtype)
    assert X.shape == (n_rows, 123)
    assert_same_csr(X, Xs)
    assert_same_floats(y, ys)
    assert set(np.unique(y)) == {-1.0, 1.0}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_generated_decimal_forms_are_correctly_rounded(tmp_path, dtype):
    rng = np.random.default_rng(0)
    lines, rows, labels = random_svm_lines(rng, 3000)
    lines += [f"{t} {i + 1}:{t}".encode() for i, t in enumerate(EDGE_DECIMALS)]
    rows += [[(i, float(t))] for i, t in enumerate(EDGE_DECIMALS)]
    labels += [float(t) for t in EDGE_DECIMALS]
    path = write(tmp_path, b"\n".join(lines) + b"\n")
    # doubles beyond float32's range become inf in float32, in both readers
    with np.errstate(over="ignore"):
        X, y = load_svmlight(path, n_features=5000, dtype=dtype, zero_based=False)
        Xs, ys = sklearn_load(path, n_features=5000, dtype=dtype, zero_based=False)
        expected = csr_from_rows(rows, 5000, dtype)
    assert_same_csr(X, expected)  # every value is float(text), rounded once to dtype
    assert_same_floats(y, np.array(labels))
    assert_same_csr(X, Xs)
    assert_same_floats(y, ys)


DECIMAL_TEXT = st.from_regex(
    r"[+-]?([0-9]{1,24}\.?[0-9]{0,24}|\.[0-9]{1,24})([eE][+-]?[0-9]{1,3})?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(DECIMAL_TEXT, min_size=1, max_size=30))
def test_any_decimal_text_reads_as_python_float(texts):
    texts = [t for t in texts if math.isfinite(float(t))]
    assume(texts)
    content = "".join(f"{t} 0:{t}\n" for t in texts).encode()
    X, y = load_svmlight(io.BytesIO(content), dtype=np.float64, zero_based=True)
    expected = np.array([float(t) for t in texts])
    assert_same_floats(y, expected)
    assert_same_floats(X.data, expected)


# -- 2. round trips ---------------------------------------------------------------------------


def random_matrix(rng, n_rows=300, n_cols=40, density=0.15, huge=True):
    """CSR with empty rows (first, last and some between), explicit zeros and -0.0,
    and values of every magnitude (beyond float32's range with huge)."""
    X = sp.random(n_rows, n_cols, density=density, format="csr", random_state=rng)
    keep = rng.random(n_rows) > 0.2
    keep[[0, -1]] = False
    X = (sp.diags(keep.astype(float)) @ X).tocsr()
    X.eliminate_zeros()
    X.data = rng.standard_normal(X.nnz) * 10.0 ** rng.integers(-30, 30, X.nnz)
    X.data[::7] = np.round(X.data[::7])
    X.data[3::17] = 0.0
    X.data[5::19] = -0.0
    X.data[1::23] = rng.choice([5e-324, 1e300 if huge else 1e30, -2.5, 1 / 3],
                                X.data[1::23].size)
    X.sort_indices()
    y = rng.choice([-1.0, 1.0, 0.0, 3.5, 1e-7, -0.1], n_rows)
    return X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("zero_based", [True, False])
@pytest.mark.parametrize("name", ["x.svm", "x.svm.gz"])
def test_dump_load_round_trip(tmp_path, dtype, zero_based, name):
    rng = np.random.default_rng(1)
    X, y = random_matrix(rng, huge=dtype == np.float64)
    X = X.astype(dtype)
    path = tmp_path / name
    dump_svmlight(X, y, path, zero_based=zero_based)
    raw = path.read_bytes()
    assert raw.startswith(b"\x1f\x8b") == name.endswith(".gz")
    X2, y2 = load_svmlight(path, n_features=X.shape[1], dtype=dtype, zero_based=zero_based)
    assert_same_csr(X2, X)
    assert_same_floats(y2, y)
    # the text itself is what scikit-learn reads as the same matrix (so the
    # numbering convention and the values are right, not just self-consistent)
    with np.errstate(over="ignore"):
        Xs, ys = sklearn_load(io.BytesIO(gzip.decompress(raw) if name.endswith(".gz") else raw),
                              n_features=X.shape[1], dtype=dtype, zero_based=zero_based)
    assert_same_csr(Xs, X)
    assert_same_floats(ys, y)


def random_ffm_rows(rng, n_rows, n_fields=6, n_features=50):
    """Rows of (field, index, value) with unique (field, index) pairs; some rows hold
    one index under two fields (as hashed libffm files do), some rows are empty."""
    rows = []
    for r in range(n_rows):
        n = 0 if r % 10 == 3 else rng.integers(1, 8)
        pairs = {(int(rng.integers(n_fields)), int(rng.integers(n_features))) for _ in range(n)}
        if r % 5 == 0 and pairs:
            _, i = next(iter(pairs))
            pairs |= {(f, i) for f in range(2)}
        rows.append(sorted((f, i, float(rng.standard_normal() * 10.0 ** rng.integers(-5, 5)))
                           for f, i in pairs))
    return rows


def ffm_arrays(rows, n_features, dtype=np.float64):
    """X and fields in rapidfm's row order: by index, then field."""
    ordered = [sorted(r, key=lambda t: (t[1], t[0])) for r in rows]
    X = csr_from_rows([[(i, v) for _, i, v in r] for r in ordered], n_features, dtype)
    fields = np.array([f for r in ordered for f, _, _ in r], dtype=np.int32)
    return X, fields


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_libffm_dump_load_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(2)
    rows = random_ffm_rows(rng, 200)
    X, fields = ffm_arrays(rows, 50, dtype)
    y = rng.choice([0.0, 1.0], len(rows))
    path = tmp_path / "x.ffm"
    dump_libffm(X, fields, y, path)
    X2, fields2, y2 = load_libffm(path, n_features=50, dtype=dtype)
    assert_same_csr(X2, X)
    np.testing.assert_array_equal(fields2, fields)
    assert_same_floats(y2, y)
    # the written lines, split by hand, hold the same (field, index, value) of each row
    lines = path.read_text().splitlines()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows):
        label, *items = line.split()
        got = sorted((int(f), int(i), float(v)) for f, i, v in (t.split(":") for t in items))
        want = sorted((f, i, float(np.float64(v).astype(dtype))) for f, i, v in row)
        assert got == want


MESSY_SVM = (b"\xef\xbb\xbf# a header comment\r\n"
             b"+1 qid:4 7:3. 2:.25 5:1e-3   # unsorted, with a comment\r\n"
             b"\r\n"
             b"  -1\t3:2 \t\r\n"
             b"3.5 2:-0.5 1:1E2 4:0\r\n"
             b"0")


def test_text_to_matrix_to_text_is_a_fixed_point(tmp_path):
    path = write(tmp_path, MESSY_SVM)
    X, y, qid = load_svmlight(path, dtype=np.float64, zero_based=False, query_id=True)
    # by hand: one-based indices shifted down, rows sorted
    expected = csr_from_rows([[(1, 0.25), (4, 1e-3), (6, 3.0)], [(2, 2.0)],
                              [(0, 100.0), (1, -0.5), (3, 0.0)], []], 7)
    assert_same_csr(X, expected)
    assert_same_floats(y, np.array([1.0, -1.0, 3.5, 0.0]))
    np.testing.assert_array_equal(qid, [4, -1, -1, -1])
    first = tmp_path / "first.svm"
    dump_svmlight(X, y, first, zero_based=False, query_id=qid)
    text = first.read_bytes()
    assert text == b"1 qid:4 2:0.25 5:0.001 7:3\n-1 3:2\n3.5 1:100 2:-0.5 4:0\n0\n"
    X2, y2, qid2 = load_svmlight(first, n_features=7, dtype=np.float64, zero_based=False,
                                 query_id=True)
    assert_same_csr(X2, X)
    assert_same_floats(y2, y)
    np.testing.assert_array_equal(qid2, qid)
    second = tmp_path / "second.svm"
    dump_svmlight(X2, y2, second, zero_based=False, query_id=qid2)
    assert second.read_bytes() == text


def test_libffm_text_to_matrix_to_text_is_a_fixed_point(tmp_path):
    path = write(tmp_path, b"1 3:7:0.5 0:2:1. 1:2:.25\r\n\n0 2:0:1e1 # comment\n1")
    X, fields, y = load_libffm(path, dtype=np.float64)
    expected = csr_from_rows([[(2, 1.0), (2, 0.25), (7, 0.5)], [(0, 10.0)], []], 8)
    assert_same_csr(X, expected)
    np.testing.assert_array_equal(fields, [0, 1, 3, 2])
    first = tmp_path / "first.ffm"
    dump_libffm(X, fields, y, first)
    text = first.read_bytes()
    assert text == b"1 0:2:1 1:2:0.25 3:7:0.5\n0 2:0:10\n1\n"
    X2, fields2, y2 = load_libffm(first, dtype=np.float64)
    assert_same_csr(X2, X)
    np.testing.assert_array_equal(fields2, fields)
    second = tmp_path / "second.ffm"
    dump_libffm(X2, fields2, y2, second)
    assert second.read_bytes() == text


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def sparse_problems(draw):
    n_rows = draw(st.integers(1, 8))
    n_cols = draw(st.integers(1, 10))
    mask = draw(arrays(np.bool_, (n_rows, n_cols)))
    values = draw(arrays(np.float64, (n_rows, n_cols), elements=FINITE))
    # built from the mask so that stored zeros stay stored
    X = sp.csr_matrix((values[mask], np.nonzero(mask)[1], np.r_[0, np.cumsum(mask.sum(1))]),
                      shape=(n_rows, n_cols))
    y = draw(arrays(np.float64, n_rows, elements=FINITE))
    return X, y, draw(st.booleans())


# tmp_path is shared by the examples: each one rewrites the same file
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sparse_problems())
def test_random_sparse_matrices_round_trip(tmp_path, problem):
    X, y, zero_based = problem
    path = tmp_path / "h.svm"  # rewritten by every example
    dump_svmlight(X, y, path, zero_based=zero_based)
    X2, y2 = load_svmlight(path, n_features=X.shape[1], dtype=np.float64, zero_based=zero_based)
    assert_same_csr(X2, X)
    assert_same_floats(y2, y)


# -- 3. real data -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["frappe.test.libfm", "frappe.validation.libfm"])
def test_frappe_crlf_files_load_to_ten_nonzeros_per_row(name):
    path = data_path("frappe", "libfm", name)
    raw = path.read_bytes()
    assert raw.split(b"\n", 1)[0].endswith(b"\r")  # the case under test: CRLF lines
    X, y = load_svmlight(path, zero_based=True)
    assert X.shape[0] == raw.count(b"\n")
    np.testing.assert_array_equal(np.diff(X.indptr), 10)
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert X.data.dtype == np.float32 and (X.data == 1).all()
    if name == "frappe.test.libfm":
        Xs, ys = sklearn_load(path, zero_based=True, dtype=np.float32)
        assert_same_csr(X, Xs)
        assert_same_floats(y, ys)


def test_a9a_needs_n_features_to_agree():
    X, _ = load_svmlight(data_path("a9a", "a9a"))
    Xt, _ = load_svmlight(data_path("a9a", "a9a.t"))
    # a9a.t never uses the last feature, so only n_features makes the two agree
    assert X.shape[1] == 123 and Xt.shape[1] == 122
    assert load_svmlight(data_path("a9a", "a9a.t"), n_features=123)[0].shape == (16281, 123)


@pytest.mark.parametrize("name", ["small_train.txt", "small_test.txt"])
def test_criteo_libffm_samples_keep_their_fields(name):
    path = data_path("criteo", "xlearn-libffm", name)
    X, fields, y = load_libffm(path)
    lines = path.read_text().splitlines()
    assert len(lines) == 200 and X.shape[0] == 200
    assert fields.dtype == np.int32 and fields.shape == X.data.shape
    assert fields.max() == 17
    rows_with_a_shared_index = 0
    for r, line in enumerate(lines):
        label, *items = line.split()
        triples = [(int(f), int(i), float(v)) for f, i, v in (t.split(":") for t in items)]
        want = sorted((f, i, float(np.float32(v))) for f, i, v in triples)
        b, e = X.indptr[r], X.indptr[r + 1]
        got = sorted(zip(fields[b:e].tolist(), X.indices[b:e].tolist(), X.data[b:e].tolist()))
        assert got == want, f"line {r + 1}"
        assert y[r] == float(label)
        indices = [i for _, i, _ in triples]
        if len(set(indices)) < len(indices):  # one index under two fields: stored twice
            rows_with_a_shared_index += 1
            assert e - b == len(triples)
    assert rows_with_a_shared_index >= 1  # the samples do have such lines


# -- 4. accepted syntax -----------------------------------------------------------------------

BASE = b"1 1:0.5 3:2\n-1 2:1.5\n0 1:1 2:2 3:3\n"
BASE_X = csr_from_rows([[(0, 0.5), (2, 2.0)], [(1, 1.5)], [(0, 1.0), (1, 2.0), (2, 3.0)]], 3)
BASE_Y = np.array([1.0, -1.0, 0.0])

VARIANTS = {
    "crlf": BASE.replace(b"\n", b"\r\n"),
    "trailing white space": BASE.replace(b"\n", b" \t \n"),
    "leading white space": b"  " + BASE.replace(b"\n", b"\n\t ")[:-2],
    "comments": (b"# header 9:9\n1 1:0.5 3:2 # trailing 7:7\n#\n-1 2:1.5#tight\n"
                 b"0 1:1 2:2 3:3 #\n# last line\n"),
    "blank lines": b"\n\n" + BASE.replace(b"\n", b"\n \t\n\r\n"),
    "utf-8 bom": b"\xef\xbb\xbf" + BASE,
    "qid tokens": b"1 qid:1 1:0.5 3:2\n-1 qid:1 2:1.5\n0 qid:2 1:1 2:2 3:3\n",
    "unsorted items": b"1 3:2 1:0.5\n-1 2:1.5\n0 2:2 3:3 1:1\n",
    "no final newline": BASE[:-1],
    "label forms": b"+1 1:0.5 3:2\n-1. 2:1.5\n0.0 1:1 2:2 3:3\n",
    "value forms": b"1e0 1:.5 3:2.\n-1 2:+1.5\n0 1:1E0 2:0.2e1 3:00003\n",
    "everything at once": (b"\xef\xbb\xbf# header\r\n\r\n  +1  qid:3\t3:2 1:5e-1 # c\r\n"
                           b"-1 2:1.5\t \r\n\r\n0 3:3 2:2 1:1"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_accepted_syntax(tmp_path, variant):
    path = write(tmp_path, VARIANTS[variant])
    X, y = load_svmlight(path, dtype=np.float64)
    assert_same_csr(X, BASE_X)
    assert_same_floats(y, BASE_Y)
    assert X.has_sorted_indices


def test_query_ids(tmp_path):
    path = write(tmp_path, b"3 qid:1 1:1\n2 2:1\n# c\n1 qid:70000000000 3:1\n")
    X, y, qid = load_svmlight(path, query_id=True)
    np.testing.assert_array_equal(qid, [1, -1, 70000000000])  # -1: the line has none
    assert qid.dtype == np.int64
    assert len(load_svmlight(path)) == 2
    # every line without qid: all -1
    _, _, none = load_svmlight(io.BytesIO(BASE), query_id=True)
    np.testing.assert_array_equal(none, [-1, -1, -1])
    # against scikit-learn where every line has one
    path = write(tmp_path, b"1 qid:2 1:1\n0 qid:2 2:1\n1 qid:5 1:3\n", "all.txt")
    np.testing.assert_array_equal(load_svmlight(path, query_id=True)[2],
                                  load_svmlight_file(str(path), query_id=True)[2])


def test_label_forms(tmp_path):
    texts = ["+1", "-1", "0", "1", "3.5", "1e3", "-2.5E-1", "+.5", "7."]
    path = write(tmp_path, "".join(f"{t} 1:1\n" for t in texts).encode())
    _, y = load_svmlight(path)
    assert_same_floats(y, np.array([float(t) for t in texts]))


def compress(kind, content):
    return {"plain": lambda c: c, "gzip": gzip.compress, "bz2": bz2.compress}[kind](content)


@pytest.mark.parametrize("kind, name", [
    ("gzip", "data.svm.gz"), ("gzip", "data.txt"), ("gzip", "data.bz2"),
    ("bz2", "data.svm.bz2"), ("bz2", "data.gz"), ("plain", "data.gz"), ("plain", "data.bz2"),
])
def test_compression_is_told_by_content_not_name(tmp_path, kind, name):
    path = write(tmp_path, compress(kind, VARIANTS["everything at once"]), name)
    X, y = load_svmlight(path, dtype=np.float64)
    assert_same_csr(X, BASE_X)
    assert_same_floats(y, BASE_Y)


def test_libffm_gzip(tmp_path):
    path = write(tmp_path, gzip.compress(b"1 0:1:2 1:0:3\n0 2:2:1\n"), "f.bin")
    X, fields, y = load_libffm(path, dtype=np.float64)
    assert_same_csr(X, csr_from_rows([[(0, 3.0), (1, 2.0)], [(2, 1.0)]], 3))
    np.testing.assert_array_equal(fields, [1, 0, 2])


def test_open_binary_file_objects(tmp_path):
    path = write(tmp_path, VARIANTS["everything at once"])
    with open(path, "rb") as fh:
        X, y = load_svmlight(fh, dtype=np.float64)
        assert not fh.closed  # the caller's file is the caller's to close
    assert_same_csr(X, BASE_X)
    X, y = load_svmlight(io.BytesIO(BASE), dtype=np.float64)
    assert_same_csr(X, BASE_X)
    gz = write(tmp_path, gzip.compress(BASE), "b.gz")
    with gzip.open(gz, "rb") as fh:
        assert_same_csr(load_svmlight(fh, dtype=np.float64)[0], BASE_X)


ONE_BASED = b"1 1:1 4:2\n0 2:3\n"  # no index 0: one-based under "auto"
ZERO_BASED = b"1 0:1 4:2\n0 2:3\n"  # index 0: zero-based under "auto"
SPARSE = b"1 5:1\n0\n"


# (index 0 with zero_based=False is an error: tested below)
@pytest.mark.parametrize("content, zero_based", [
    (ONE_BASED, "auto"), (ONE_BASED, True), (ONE_BASED, False),
    (ZERO_BASED, "auto"), (ZERO_BASED, True), (SPARSE, "auto"), (SPARSE, True), (SPARSE, False),
])
def test_zero_based_semantics_as_sklearn(tmp_path, content, zero_based):
    path = write(tmp_path, content)
    X, y = load_svmlight(path, dtype=np.float64, zero_based=zero_based)
    Xs, ys = sklearn_load(path, dtype=np.float64, zero_based=zero_based)
    assert_same_csr(X, Xs)
    assert_same_floats(y, ys)


def test_zero_based_by_hand(tmp_path):
    path = write(tmp_path, b"1 1:1 3:2\n")
    assert load_svmlight(path, zero_based="auto")[0].indices.tolist() == [0, 2]
    assert load_svmlight(path, zero_based=False)[0].indices.tolist() == [0, 2]
    assert load_svmlight(path, zero_based=True)[0].indices.tolist() == [1, 3]
    with pytest.raises(ValueError, match="zero_based"):
        load_svmlight(path, zero_based="yes")


@pytest.mark.parametrize("zero_based", ["auto", True, False])
def test_file_of_labels_only(tmp_path, zero_based):
    path = write(tmp_path, b"1\n# no items anywhere\n-1 \n")
    X, y = load_svmlight(path, zero_based=zero_based)
    assert X.shape == (2, 0) and X.nnz == 0
    assert_same_floats(y, np.array([1.0, -1.0]))
    assert load_svmlight(path, n_features=4, zero_based=zero_based)[0].shape == (2, 4)
    with pytest.raises(ValueError, match="zero_based"):  # checked here too
        load_svmlight(path, zero_based="no")


def test_n_features_larger_than_needed(tmp_path):
    path = write(tmp_path, BASE)
    X, _ = load_svmlight(path, n_features=10, dtype=np.float64)
    assert X.shape == (3, 10)
    assert_same_csr(X[:, :3], BASE_X)
    assert X[:, 3:].nnz == 0
    X, fields, _ = load_libffm(io.BytesIO(b"1 0:1:1\n"), n_features=9, n_fields=4)
    assert X.shape == (1, 9)


def test_default_dtype_and_index_types(tmp_path):
    X, y = load_svmlight(write(tmp_path, BASE))
    assert X.dtype == np.float32 and y.dtype == np.float64
    assert X.indices.dtype == np.int32 and X.indptr.dtype == np.int32


# -- 5. malformed input -----------------------------------------------------------------------

# five lines before the bad one: data, blank, comment, data with a comment, white space
SVM_BEFORE = b"1 1:1\n\n# a comment line\n-1 2:0.5 # trailing\n  \t\n"
FFM_BEFORE = b"1 0:1:1\n\n# a comment line\n0 1:2:0.5 # trailing\n  \t\n"
BAD_LINE = 6

MALFORMED = [
    ("svmlight", b"abc 1:1", "abc"),
    ("svmlight", b"nan 1:1", "nan"),
    ("svmlight", b"inf 1:1", "inf"),
    ("svmlight", b"-inf 1:1", "-inf"),
    ("svmlight", b"1e999 1:1", "1e999"),
    ("svmlight", b"1:1 2:1", "1:1"),  # no label
    ("svmlight", b"1 1:1 23", "23"),  # item without ':'
    ("svmlight", b"1 a:1", "a:1"),
    ("svmlight", b"1 -1:2", "-1:2"),
    ("svmlight", b"1 1.5:2", "1.5:2"),
    ("svmlight", b"1 1:abc", "1:abc"),
    ("svmlight", b"1 1:nan", "1:nan"),
    ("svmlight", b"1 1:inf", "1:inf"),
    ("svmlight", b"1 1:1e999", "1:1e999"),
    ("svmlight", b"1 1:", "1:"),
    ("svmlight", b"1 :1", ":1"),
    ("svmlight", b"1 1:1e", "1:1e"),
    ("svmlight", b"1 1:0x10", "1:0x10"),
    ("svmlight", b"1 1:2:3", "1:2:3"),
    ("svmlight", b"1 2:1 5:1 2:3", "index 2"),  # duplicate index
    ("svmlight", b"1 1:2 qid:3", "qid:3"),  # qid not right after the label
    ("svmlight", b"1 qid:3 qid:4 1:1", "qid:4"),
    ("svmlight", b"1 qid:x 1:1", "qid:x"),
    ("libffm", b"1 1:2", "1:2"),  # 2 parts
    ("libffm", b"1 0:1:2 x:1:1", "x:1:1"),
    ("libffm", b"1 0:-1:1", "0:-1:1"),
    ("libffm", b"1 0:1:abc", "0:1:abc"),
    ("libffm", b"nan 0:1:1", "nan"),
    ("libffm", b"1 0:3:1 2:3:1 0:3:2", "field 0, index 3"),  # duplicate (field, index)
]


def load(fmt, source, **kwargs):
    if fmt == "svmlight":
        return load_svmlight(source, **kwargs)
    return load_libffm(source, **kwargs)


def check_error(exc, path, line, token):
    message = str(exc)
    assert exc.path == str(path) and str(path) in message
    assert exc.line == line and f"line {line}:" in message
    assert token in exc.text and exc.text in message


@pytest.mark.parametrize("fmt, bad, token", MALFORMED)
def test_malformed_line_names_file_line_and_text(tmp_path, fmt, bad, token):
    before = SVM_BEFORE if fmt == "svmlight" else FFM_BEFORE
    content = before + bad + b"\r\n" + before  # good lines after it too
    for name, raw, n_jobs in [("bad.txt", content, None), ("bad.gz", gzip.compress(content), 2)]:
        path = write(tmp_path, raw, name)
        # pytest.raises: the call raises, so no partial result can come back
        with pytest.raises(DataFileError) as info:
            load(fmt, path, n_jobs=n_jobs)
        check_error(info.value, path, BAD_LINE, token)
        assert isinstance(info.value, ValueError)


def test_ffm_index_under_two_fields_is_not_an_error():
    X, fields, _ = load_libffm(io.BytesIO(b"1 1:3:1 0:3:2\n"), dtype=np.float64)
    assert X.indices.tolist() == [3, 3] and fields.tolist() == [0, 1]
    assert X.data.tolist() == [2.0, 1.0]


def numbered_lines(n, width_seed=0):
    """n good svmlight lines of varied length, a blank or comment line now and then."""
    rng = np.random.default_rng(width_seed)
    out = []
    for k in range(n):
        if k % 97 == 5:
            out.append(b"")
        elif k % 89 == 7:
            out.append(b"# comment 1:1")
        else:
            idx = np.unique(rng.integers(1, 300, rng.integers(1, 9)))
            out.append(" ".join(["1"] + [f"{i}:0.{rng.integers(10, 99)}" for i in idx]).encode())
    return out


def spoil(line):
    """The same line, same length, with its last value no longer a number."""
    return line[:-1] + b"x"


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_error_line_exact_with_tiny_blocks(tmp_path, monkeypatch, n_jobs):
    monkeypatch.setattr(textfiles, "BLOCK_BYTES", 64)  # several lines per block, or fewer
    lines = numbered_lines(400)
    good = [k for k, line in enumerate(lines) if line and not line.startswith(b"#")]
    whole = write(tmp_path, b"\n".join(lines) + b"\n")
    assert len(list(iter_parsed_blocks(whole, "svmlight"))) > 100  # the patch took effect
    for k in good[:30] + good[-3:] + [good[200]]:
        spoilt = lines[:k] + [spoil(lines[k])] + lines[k + 1:]
        path = write(tmp_path, b"\n".join(spoilt) + b"\n")
        with pytest.raises(DataFileError) as info:
            load_svmlight(path, n_jobs=n_jobs)
        check_error(info.value, path, k + 1, spoil(lines[k]).split()[-1].decode())


def test_error_line_exact_across_blocks_and_parallel_parts(tmp_path, monkeypatch):
    lines = numbered_lines(60000, 1)
    content = b"\n".join(lines) + b"\n"
    block = 700_000
    assert len(content) > 2 * block
    monkeypatch.setattr(textfiles, "BLOCK_BYTES", block)
    # where the C parser cut the blocks and their parts, from the parts themselves
    ends, n_parts = [0], []
    for parts in iter_parsed_blocks(write(tmp_path, content), "svmlight", n_jobs=2):
        used = [p["n_lines"] for p in parts if p["n_lines"]]
        n_parts.append(len(used))
        ends += [ends[-1] + n for n in used]
    # blocks above 512 KiB are parsed in two parts (the last block may be smaller)
    assert len(n_parts) >= 3 and set(n_parts[:-1]) == {2}
    # the last line of a part, the first of the next, and lines well inside, in
    # every block: spoiling keeps the length, so the cuts stay where they were
    targets = set()
    for end in ends[1:-1]:
        targets |= {end - 1, end}  # 0-based: last line of one part, first of the next
    targets |= {ends[-2] + 1000, 123, len(lines) - 1}
    for k in sorted(targets):
        while not lines[k] or lines[k].startswith(b"#"):
            k += 1
        spoilt = lines[:k] + [spoil(lines[k])] + lines[k + 1:]
        path = write(tmp_path, b"\n".join(spoilt) + b"\n")
        with pytest.raises(DataFileError) as info:
            load_svmlight(path, n_jobs=2)
        check_error(info.value, path, k + 1, spoil(lines[k]).split()[-1].decode())


@pytest.mark.parametrize("content", [b"", b"\n\n", b"# only a comment\r\n  \t\n# another\n"])
@pytest.mark.parametrize("fmt", ["svmlight", "libffm"])
def test_file_without_data_lines(tmp_path, content, fmt):
    path = write(tmp_path, content)
    with pytest.raises(DataFileError, match="no data lines") as info:
        load(fmt, path)
    assert str(path) in str(info.value)


def test_n_features_too_small(tmp_path):
    path = write(tmp_path, b"1 1:1 5:1\n0 2:1\n")
    with pytest.raises(DataFileError, match="n_features") as info:
        load_svmlight(path, n_features=4)  # one-based: index 5 is column 4
    assert str(path) in str(info.value)
    assert load_svmlight(path, n_features=5)[0].shape == (2, 5)
    with pytest.raises(DataFileError, match="n_features"):
        load_libffm(io.BytesIO(b"1 0:9:1\n"), n_features=9)
    with pytest.raises(DataFileError, match="n_fields"):
        load_libffm(io.BytesIO(b"1 4:1:1\n"), n_fields=4)


def test_zero_based_false_with_index_zero(tmp_path):
    path = write(tmp_path, b"1 1:1\n0 0:1 2:1\n")
    with pytest.raises(DataFileError, match="zero_based") as info:
        load_svmlight(path, zero_based=False)
    assert str(path) in str(info.value)


def test_text_mode_file_object_is_a_type_error(tmp_path):
    path = write(tmp_path, BASE)
    with open(path) as fh, pytest.raises(TypeError, match="binary"):
        load_svmlight(fh)
    with pytest.raises(TypeError, match="binary"):
        load_libffm(io.StringIO("1 0:1:1\n"))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_svmlight(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError):
        load_libffm(tmp_path / "nope.ffm")


def test_damaged_gzip_names_the_file(tmp_path):
    raw = gzip.compress(BASE * 1000)
    path = write(tmp_path, raw[: len(raw) // 2], "cut.gz")
    with pytest.raises(DataFileError) as info:
        load_svmlight(path)
    assert str(path) in str(info.value)


def test_dump_refuses_what_text_cannot_hold(tmp_path):
    X = sp.csr_matrix(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="NaN"):
        dump_svmlight(X, [1.0], tmp_path / "x.svm")
    assert not (tmp_path / "x.svm").exists()  # written atomically: nothing left behind
    with pytest.raises(ValueError, match="one entry per row"):
        dump_svmlight(sp.csr_matrix(np.eye(2)), [1.0], tmp_path / "x.svm")


# -- 6. parallel parsing gives the serial result ----------------------------------------------


@pytest.fixture(scope="module")
def big_svm(tmp_path_factory):
    """About 2 MB of text: qids only in the first half, index 0 only on the last
    line (so "auto" must look at every part), unsorted items, blank and comment
    lines. Returns the path and the expected (X, y), built by hand."""
    rng = np.random.default_rng(3)
    lines, rows, labels = random_svm_lines(rng, 25000, unsorted=True)
    half = len(lines) // 2
    for k in range(half):  # the label and a qid, then the items
        lines[k] = b" ".join([b"7 qid:%d" % (k // 10)] + lines[k].split(b" ", 1)[1:])
        labels[k] = 7.0
    lines[-1] = b" ".join([b"1 0:2.5"] + lines[-1].split(b" ", 1)[1:])
    labels[-1] = 1.0
    # index 0 is in the file, so it reads as zero-based: columns as written
    rows = [[(i + 1, v) for i, v in row] for row in rows]
    rows[-1].insert(0, (0, 2.5))
    expected = csr_from_rows(rows, 5001), np.array(labels)
    for k in range(0, len(lines), 1000):
        lines.insert(k, b"# comment" if k % 2000 else b"")
    content = b"\n".join(lines) + b"\n"
    assert len(content) > 1 << 20
    return write(tmp_path_factory.mktemp("big"), content, "big.svm"), expected


@pytest.mark.parametrize("block", [None, 600_000, 4096])
def test_parallel_parsing_identical_to_serial(big_svm, monkeypatch, block):
    path, _ = big_svm
    X1, y1, q1 = load_svmlight(path, dtype=np.float64, query_id=True)
    if block:
        monkeypatch.setattr(textfiles, "BLOCK_BYTES", block)
    X2, y2, q2 = load_svmlight(path, dtype=np.float64, query_id=True, n_jobs=2)
    assert_same_csr(X2, X1)
    assert_same_floats(y2, y1)
    np.testing.assert_array_equal(q2, q1)
    n_rows = X1.shape[0]
    assert (q1[: n_rows // 2 - 10] >= 0).all() and (q1[-n_rows // 3:] == -1).all()
    assert X1.indices.min() == 0  # index 0 is in the last part only: read as zero-based


def test_parallel_parsing_really_splits_and_matches_by_hand(big_svm):
    path, (X_expected, y_expected) = big_svm
    sizes = [[p["n_lines"] for p in parts] for parts in iter_parsed_blocks(path, "svmlight", 2)]
    assert len(sizes) == 1 and len(sizes[0]) == 2 and min(sizes[0]) > 1000
    X, y = load_svmlight(path, dtype=np.float64, n_jobs=2)
    assert_same_csr(X, X_expected)
    assert_same_floats(y, y_expected)


def test_parallel_libffm_identical_to_serial(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    rows = random_ffm_rows(rng, 30000, n_fields=20, n_features=100000)
    lines = []
    for r in rows:
        items = list(r)
        rng.shuffle(items)
        lines.append(" ".join(["1"] + [f"{f}:{i}:{v!r}" for f, i, v in items]))
    path = write(tmp_path, ("\n".join(lines) + "\n").encode(), "big.ffm")
    assert path.stat().st_size > 1 << 20
    X, fields = ffm_arrays(rows, 100000)
    for block in [None, 300_000]:
        if block:
            monkeypatch.setattr(textfiles, "BLOCK_BYTES", block)
        for n_jobs in [None, 2]:
            X2, fields2, _ = load_libffm(path, n_features=100000, dtype=np.float64, n_jobs=n_jobs)
            assert_same_csr(X2, X)
            np.testing.assert_array_equal(fields2, fields)
