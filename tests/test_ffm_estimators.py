"""FFMClassifier and FFMRegressor (field-aware FMs) against independent references.

Every expectation comes from outside the estimators: the naive double loop over the
pairs of tests/reference_ffm.py on the fitted w0_, w_, V_ (predict, decision_function,
predict_proba, validation losses), its one-step update (a partial_fit of one row), a
libffm text file parsed here by hand, a planted FFM whose noise floor is known, the
FM on the same data, the published libffm result on Frappe, scikit-learn's common
checks, and fits of the same data under another spelling (summed repeats, weights of
one, 5 + 5 epochs). Never the estimators' own earlier output as the truth.
"""

import inspect
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import data_path
from reference import logloss, rmse, sigmoid
from reference_ffm import csr_to_rows, naive_ffm_predict, naive_ffm_step, rows_to_csr

import rapidfm
from rapidfm import DivergenceError, FFMClassifier, FFMRegressor, FMRegressor, _core
from rapidfm._sklearn_compat import NotFittedError  # scikit-learn's, or its stand-in
from rapidfm.field_aware import MAX_AUTO_FIELDS
from rapidfm.io import load_libffm, load_svmlight
from rapidfm.solvers._adaptive import SUM_SQ_V, SUM_SQ_W, SUM_SQ_W0, Z_W, Z_W0

try:  # scikit-learn is a test extra, not a dependency: only its checks need it
    from sklearn.utils import estimator_checks
except ImportError:  # pragma: no cover
    estimator_checks = None

ESTIMATORS = [FFMRegressor, FFMClassifier]
RULES = ["adagrad", "sgd", "ftrl"]
STATE = {"sgd": (), "adagrad": (SUM_SQ_W0, SUM_SQ_W, SUM_SQ_V),
         "ftrl": (SUM_SQ_W0, SUM_SQ_W, SUM_SQ_V, Z_W0, Z_W)}
LABELS = np.array(["no", "yes"])
N_FEATURES, N_FIELDS = 9, 4


# -- data and references --------------------------------------------------------------------

def values(rng, n):
    """Nonzero values that float32 holds exactly (multiples of 1/16 in +-[0.25, 2])."""
    return np.round(rng.uniform(0.25, 2.0, n) * 16) / 16 * rng.choice([-1.0, 1.0], n)


def per_value_rows(seed, n_rows=40):
    """Rows of distinct (feature, field) keys in random order: a feature may sit under
    two fields of a row (row 0 has feature 2 under fields 0 and 1); one empty row."""
    rng = np.random.default_rng(seed)
    rows = [[(2, 0, 0.5), (5, 3, -1.25), (2, 1, 1.5), (7, 2, 0.75)], []]
    for _ in range(n_rows - 2):
        keys = rng.choice(N_FEATURES * N_FIELDS, size=int(rng.integers(1, 7)), replace=False)
        rows.append([(int(k // N_FIELDS), int(k % N_FIELDS), float(v))
                     for k, v in zip(keys, values(rng, keys.size))])
    return rows


COLUMN_FIELDS = np.array([0, 0, 1, 1, 1, 2, 3, 3, 2], dtype=np.int32)


def per_column_rows(seed, n_rows=40):
    """Rows of distinct features in random order, each under its column's field."""
    rng = np.random.default_rng(seed)
    rows = [[]]
    for _ in range(n_rows - 1):
        cols = rng.choice(N_FEATURES, size=int(rng.integers(1, 7)), replace=False)
        rows.append([(int(j), int(COLUMN_FIELDS[j]), float(v))
                     for j, v in zip(cols, values(rng, cols.size))])
    return rows


def csr_of(rows, n_features=N_FEATURES, index_dtype=np.int32):
    """(CSR X with the rows' entries in stored order, per-value fields)."""
    indptr, indices, fields, data = rows_to_csr(rows)
    X = sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_features))
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    return X, fields


def targets(cls, n, seed=0):
    rng = np.random.default_rng(seed + 100)
    if cls is FFMRegressor:
        return rng.normal(0.0, 1.0, n)
    labels = LABELS[rng.integers(0, 2, n)]
    labels[:2] = LABELS  # both classes
    return labels


def reference(model, rows, linear, normalize):
    """The naive double loop on the model's fitted parameters."""
    return naive_ffm_predict(rows, model.w0_, model.w_, model.V_, linear=linear,
                             normalize=normalize)


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


def assert_outputs_match(model, X, rows, y, linear, normalize, dtype, **fields):
    """predict (and decision_function, predict_proba) against the reference."""
    raw = reference(model, rows, linear, normalize)
    tol = tolerance(dtype)
    if isinstance(model, FFMRegressor):
        np.testing.assert_allclose(model.predict(X, **fields),
                                   np.clip(raw, np.min(y), np.max(y)), **tol)
    else:
        np.testing.assert_allclose(model.decision_function(X, **fields), raw, **tol)
        np.testing.assert_allclose(model.predict_proba(X, **fields)[:, 1], sigmoid(raw), **tol)
        clear = np.abs(raw) > 1e-4  # away from the decision boundary
        np.testing.assert_array_equal(model.predict(X, **fields)[clear],
                                      LABELS[(raw > 0).astype(int)][clear])


def assert_same_model(a, b, solver=None):
    assert a.w0_ == b.w0_
    np.testing.assert_array_equal(a.w_, b.w_)
    np.testing.assert_array_equal(a.V_, b.V_)
    for name in STATE[solver or a.solver]:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


SMALL = dict(n_factors=3, n_epochs=3, learning_rate=0.1, n_jobs=1, random_state=0)


# -- predictions equal the naive double loop -------------------------------------------------

FORMS = ["per_value", "per_column", "feature_fields", "dense_no_fields"]


def fitted_in_form(cls, form, seed=0, index_dtype=np.int32, **kw):
    """(model, X, rows, y, predict-time keyword) for one form of the fields."""
    if form == "per_value":
        rows = per_value_rows(seed)
        X, fields = csr_of(rows, index_dtype=index_dtype)
        y = targets(cls, X.shape[0], seed)
        model = cls(**kw).fit(X, y, fields=fields)
        return model, X, rows, y, {"fields": fields}
    rows = per_column_rows(seed)
    X, _ = csr_of(rows, index_dtype=index_dtype)
    y = targets(cls, X.shape[0], seed)
    if form == "per_column":
        model = cls(**kw).fit(X, y, fields=COLUMN_FIELDS)
        return model, X, rows, y, {"fields": COLUMN_FIELDS}
    if form == "feature_fields":
        model = cls(feature_fields=COLUMN_FIELDS, **kw).fit(X, y)
        return model, X, rows, y, {}
    # dense X without fields: every column is its own field
    dense = X.toarray()
    own = [[(j, j, v) for j, _, v in row] for row in rows]
    model = cls(**kw).fit(dense, y)
    return model, dense, own, y, {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("fit_linear", [True, False])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_predictions_are_the_naive_double_loop(cls, form, fit_linear, normalize, dtype):
    model, X, rows, y, kw = fitted_in_form(cls, form, fit_linear=fit_linear,
                                           normalize=normalize, dtype=dtype, **SMALL)
    n_fields = N_FEATURES if form == "dense_no_fields" else N_FIELDS
    assert model.V_.shape == (N_FEATURES, n_fields, 3) and model.V_.dtype == dtype
    assert model.n_fields_ == n_fields
    assert model.normalize_ is normalize and model.fit_linear_ is fit_linear
    if form == "per_value":
        assert model.feature_fields_ is None
    else:
        expected = np.arange(N_FEATURES) if form == "dense_no_fields" else COLUMN_FIELDS
        np.testing.assert_array_equal(model.feature_fields_, expected)
    if fit_linear:
        assert np.any(model.w_ != 0)
    else:  # libffm's model: pairs only
        assert model.w0_ == 0.0 and np.all(model.w_ == 0)
    assert_outputs_match(model, X, rows, y, fit_linear, normalize, dtype, **kw)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["per_value", "per_column", "feature_fields"])
def test_index_dtypes(form, dtype, index_dtype):
    model, X, rows, y, kw = fitted_in_form(FFMClassifier, form, seed=3, index_dtype=index_dtype,
                                           dtype=dtype, normalize=True, **SMALL)
    assert X.indices.dtype == index_dtype
    assert_outputs_match(model, X, rows, y, True, True, dtype, **kw)
    # the same rows with the other index dtype: the same model, bit for bit
    other = np.int64 if index_dtype == np.int32 else np.int32
    twin, *_ = fitted_in_form(FFMClassifier, form, seed=3, index_dtype=other, dtype=dtype,
                              normalize=True, **SMALL)
    assert_same_model(model, twin)


def test_per_column_fields_at_fit_and_feature_fields_are_one_model():
    """fields= per column, feature_fields= and the per-value fields they expand to."""
    rows = per_column_rows(4)
    X, per_value = csr_of(rows)
    y = targets(FFMRegressor, X.shape[0], 4)
    kw = dict(SMALL, dtype=np.float64)
    a = FFMRegressor(**kw).fit(X, y, fields=COLUMN_FIELDS)
    b = FFMRegressor(feature_fields=COLUMN_FIELDS, **kw).fit(X, y)
    c = FFMRegressor(**kw).fit(X, y, fields=per_value)
    assert_same_model(a, b)
    assert_same_model(a, c)
    # a model fitted on per-column fields predicts without them
    np.testing.assert_array_equal(a.predict(X), a.predict(X, fields=COLUMN_FIELDS))
    np.testing.assert_array_equal(a.predict(X), a.predict(X, fields=per_value))


# -- the training step is the reference's ----------------------------------------------------

@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("fit_linear", [True, False])
@pytest.mark.parametrize("solver", RULES)
def test_partial_fit_of_one_row_is_the_naive_step(solver, fit_linear, normalize):
    """From a fitted model (its parameters and optimiser state), partial_fit on one row
    at one thread is exactly one step of the spec (naive_ffm_step), float64."""
    rows = per_value_rows(5)
    X, fields = csr_of(rows)
    y = np.arange(X.shape[0]) % 2
    opts = dict(learning_rate=0.1, reg_bias=0.01, reg_linear=0.02, reg_factors=0.03)
    extra = dict(reg_linear_l1=0.05, ftrl_beta=0.7) if solver == "ftrl" else {}
    model = FFMClassifier(solver=solver, n_factors=3, n_epochs=2, n_jobs=1, random_state=0,
                          dtype=np.float64, fit_linear=fit_linear, normalize=normalize,
                          **opts, **extra).fit(X, y, fields=fields)
    state = None
    if solver != "sgd":
        state = {"w0_sq": getattr(model, SUM_SQ_W0), "w_sq": getattr(model, SUM_SQ_W),
                 "V_sq": getattr(model, SUM_SQ_V),
                 "w0_z": getattr(model, Z_W0, 0.0), "w_z": getattr(model, Z_W, np.zeros(9))}
    i = 0  # feature 2 under two fields: the pair rule's shared vectors
    w0, w, V, state, _ = naive_ffm_step(
        rows[i], 1.0 if y[i] == 1 else -1.0, model.w0_, model.w_, model.V_, state,
        rule=solver, loss="logistic", lr=0.1, reg_bias=0.01, reg_linear=0.02,
        reg_factors=0.03, beta=0.7, l1=0.05, linear=fit_linear, normalize=normalize)
    a, b = X.indptr[i], X.indptr[i + 1]
    model.partial_fit(X[i], y[i:i + 1], fields=fields[a:b])
    tol = dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(model.w0_, w0, **tol)
    np.testing.assert_allclose(model.w_, w, **tol)
    np.testing.assert_allclose(model.V_, V, **tol)
    if solver != "sgd":
        np.testing.assert_allclose(getattr(model, SUM_SQ_V), state["V_sq"], **tol)
        np.testing.assert_allclose(getattr(model, SUM_SQ_W), state["w_sq"], **tol)
    if solver == "ftrl":
        np.testing.assert_allclose(getattr(model, Z_W), state["w_z"], **tol)


# -- the forms of the fields: a libffm file, repeats ----------------------------------------

LIBFFM_TEXT = """\
1 0:0:1 1:3:0.5 2:5:2 3:8:1
0 0:2:1 1:2:0.75 3:4:1.5
1 0:1:1 2:6:-0.5 1:7:1.25
0 3:8:2 2:5:1 0:0:0.25 1:3:1
1 1:2:1 0:1:0.5
0 2:6:1 3:4:1 0:2:1
"""


def parse_by_hand(text):
    """The rows of a libffm text (label field:index:value ...), as the spec reads them."""
    rows, labels = [], []
    for line in text.splitlines():
        label, *items = line.split()
        labels.append(float(label))
        row = []
        for item in items:
            field, index, value = item.split(":")
            row.append((int(index), int(field), float(value)))
        rows.append(row)
    return rows, np.array(labels)


@pytest.mark.parametrize("normalize", [False, True])
def test_libffm_file_feature_under_two_fields_is_two_entries(tmp_path, normalize):
    path = tmp_path / "small.ffm"
    path.write_text(LIBFFM_TEXT)
    X, fields, y = load_libffm(path, dtype=np.float64)
    rows, labels = parse_by_hand(LIBFFM_TEXT)
    np.testing.assert_array_equal(y, labels)
    # line 2 holds index 2 under fields 0 and 1: stored twice
    a, b = X.indptr[1], X.indptr[2]
    pairs = sorted(zip(X.indices[a:b].tolist(), fields[a:b].tolist()))
    assert pairs == [(2, 0), (2, 1), (4, 3)]
    model = FFMClassifier(n_factors=3, n_epochs=5, learning_rate=0.2, n_jobs=1, random_state=0,
                          dtype=np.float64, normalize=normalize).fit(X, y, fields=fields)
    assert model.n_fields_ == 4 and model.V_.shape == (9, 4, 3)
    raw = reference(model, rows, True, normalize)
    np.testing.assert_allclose(model.decision_function(X, fields=fields), raw,
                               rtol=1e-12, atol=1e-12)
    # line 2 written out: entries a = (2, f0, 1), b = (2, f1, 0.75), c = (4, f3, 1.5); the
    # two entries of feature 2 make a pair of their own, <V[2, 1], V[2, 0]> x_a x_b
    V, w = model.V_, model.w_
    r = 1 / np.sqrt(1 + 0.75**2 + 1.5**2) if normalize else 1.0
    xa, xb, xc = r, 0.75 * r, 1.5 * r
    by_hand = (model.w0_ + w[2] * (xa + xb) + w[4] * xc + V[2, 1] @ V[2, 0] * xa * xb
               + V[2, 3] @ V[4, 0] * xa * xc + V[2, 3] @ V[4, 1] * xb * xc)
    assert raw[1] == pytest.approx(by_hand, rel=1e-12)
    # which is not the model of one summed entry (2, f0, 1.75)
    merged = [(2, 0, 1.75), (4, 3, 1.5)]
    assert raw[1] != pytest.approx(reference(model, [merged], True, normalize)[0], abs=1e-6)


def test_libffm_file_refuses_a_repeated_key_in_a_line(tmp_path):
    """load_libffm refuses a (field, index) key twice in one line (it cannot know the
    writer meant the sum); the estimators sum such repeats (next test)."""
    path = tmp_path / "repeat.ffm"
    path.write_text("1 0:0:1 1:3:0.5\n0 0:2:1 1:3:0.5 1:3:0.25\n")
    with pytest.raises(ValueError, match=r"line 2: a feature appears twice.*field 1, index 3"):
        load_libffm(path)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("layout", ["csr", "coo_sorted"])
def test_a_repeated_feature_field_key_is_summed(layout, normalize):
    """Row 1 stores (3, field 1) twice (0.5 and 0.25): the model sees the row with one
    entry 0.75, at fit and predict, unlike the naive loop over the raw repeats."""
    summed = [[(0, 0, 1.0), (3, 1, 0.5), (5, 2, 2.0)],
              [(2, 0, 1.0), (3, 1, 0.75), (6, 2, -1.0)],
              [(1, 0, 0.5), (4, 1, 1.0)],
              [(2, 0, 1.5), (6, 2, 1.0), (3, 1, -0.5)]]
    repeated = [list(r) for r in summed]
    repeated[1] = [(2, 0, 1.0), (3, 1, 0.5), (6, 2, -1.0), (3, 1, 0.25)]
    if layout == "coo_sorted":  # (row, column) order: the fields stay aligned
        repeated = [sorted(r, key=lambda e: e[0]) for r in repeated]
    X_rep, f_rep = csr_of(repeated, n_features=7)
    X_sum, f_sum = csr_of(summed, n_features=7)
    if layout == "coo_sorted":
        X_rep = X_rep.tocoo()
        assert X_rep.nnz == 12
    y = np.array([0.5, -1.0, 2.0, 0.0])
    kw = dict(SMALL, dtype=np.float64, normalize=normalize, clip_predictions=False)
    rep = FFMRegressor(**kw).fit(X_rep, y, fields=f_rep)
    assert_same_model(rep, FFMRegressor(**kw).fit(X_sum, y, fields=f_sum))
    expected = reference(rep, summed, True, normalize)
    np.testing.assert_allclose(rep.predict(X_rep, fields=f_rep), expected, rtol=1e-12)
    raw_loop = reference(rep, [repeated[1]], True, normalize)[0]
    assert raw_loop != pytest.approx(expected[1], abs=1e-6)


def test_unsorted_coo_keeps_each_value_with_its_field():
    entries = [(0, 1, 0, 1.0), (0, 0, 2, 0.5), (0, 3, 1, 2.0), (1, 2, 1, 1.0),
               (1, 2, 0, -1.0), (1, 0, 1, 0.5), (2, 3, 2, 1.0), (2, 1, 1, 1.5)]
    shuffled = [entries[i] for i in np.random.default_rng(1).permutation(len(entries))]
    r, c, f, v = (np.array(a) for a in zip(*shuffled))
    X = sp.coo_matrix((v, (r, c)), shape=(3, 4))
    model = FFMClassifier(n_factors=2, n_epochs=3, random_state=0, dtype=np.float64,
                          normalize=False).fit(X, [0, 1, 1], fields=f)
    rows = [[(e[1], e[2], e[3]) for e in entries if e[0] == i] for i in range(3)]
    np.testing.assert_allclose(model.decision_function(X, fields=f),
                               reference(model, rows, True, False), rtol=1e-12)


# -- bad input -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_input_data():
    rows = per_value_rows(7)
    X, fields = csr_of(rows)
    y = targets(FFMRegressor, X.shape[0], 7)
    model = FFMRegressor(**SMALL).fit(X, y, fields=fields)
    return X, fields, y, model


def test_fields_of_the_wrong_length(bad_input_data):
    X, fields, y, model = bad_input_data
    message = (rf"fields must have one entry per stored value or per column of X "
               rf"\({X.nnz} stored values or 9 columns\), got {X.nnz - 1}")
    with pytest.raises(ValueError, match=message):
        FFMRegressor(n_epochs=1).fit(X, y, fields=fields[:-1])
    with pytest.raises(ValueError, match=message):
        model.predict(X, fields=fields[:-1])
    with pytest.raises(ValueError, match="fields must have one entry per .* of X"):
        FFMRegressor(n_epochs=1).fit(X.toarray(), y, fields=fields)  # dense: per column only
    with pytest.raises(ValueError, match="fields must be 1-D"):
        FFMRegressor(n_epochs=1).fit(X, y, fields=fields.reshape(-1, 1)[:, [0, 0]])


def test_fields_that_are_not_integers(bad_input_data):
    X, fields, y, _ = bad_input_data
    with pytest.raises(TypeError, match="fields must hold integer field ids, got dtype float64"):
        FFMRegressor(n_epochs=1).fit(X, y, fields=fields + 0.5)


def test_negative_field_ids(bad_input_data):
    X, fields, y, model = bad_input_data
    bad = fields.copy()
    bad[7] = -1
    row = int(np.searchsorted(X.indptr, 7, side="right") - 1)
    message = rf"fields holds the negative field id -1 at stored value 7 \(row {row}\)"
    with pytest.raises(ValueError, match=message):
        FFMRegressor(n_epochs=1).fit(X, y, fields=bad)
    with pytest.raises(ValueError, match=message):
        model.predict(X, fields=bad)
    with pytest.raises(ValueError, match="feature_fields holds the negative field id -2 at "
                                         "column 2"):
        FFMRegressor(n_epochs=1, feature_fields=[0, 1, -2, 0, 1, 2, 0, 1, 2]).fit(X, y)


def test_field_ids_beyond_the_fitted_fields_at_predict(bad_input_data):
    X, fields, y, model = bad_input_data
    assert model.n_fields_ == N_FIELDS
    bad = fields.copy()
    bad[3] = N_FIELDS
    with pytest.raises(ValueError, match=r"fields holds the field id 4 at stored value 3 "
                                         r"\(row 0\), but the model has 4 fields \(ids 0..3\)"):
        model.predict(X, fields=bad)
    per_column = np.full(N_FEATURES, 5)
    with pytest.raises(ValueError, match="field id 5 at column 0, but the model has 4 fields"):
        model.predict(X, fields=per_column)


@pytest.mark.parametrize("n_fields", [None, 12])
def test_fields_missing_at_predict_after_per_value_fit(n_fields):
    """n_fields=None: 4 fields < 9 columns; n_fields=12: 12 fields >= 9 columns, where
    the fallback to one field per column predicts without a word."""
    rows = per_value_rows(8)
    X, fields = csr_of(rows)
    model = FFMRegressor(n_fields=n_fields, **SMALL).fit(X, targets(FFMRegressor, 40),
                                                         fields=fields)
    assert model.feature_fields_ is None
    with pytest.raises(ValueError, match=r"(?i)fields.*(per stored value|per-value)"):
        model.predict(X)


def test_eval_set_without_eval_fields_after_per_value_fields():
    rows = per_value_rows(9)
    X, fields = csr_of(rows)
    y = targets(FFMRegressor, 40, 9)
    with pytest.raises(ValueError, match="field"):
        FFMRegressor(n_fields=12, **SMALL).fit(X, y, fields=fields, eval_set=(X, y))


def test_fields_as_long_as_both_the_values_and_the_columns_are_ambiguous():
    X = sp.csr_matrix((np.ones(6), [0, 1, 2, 3, 4, 5], [0, 2, 4, 6, 6]), shape=(4, 6))
    assert X.nnz == X.shape[1] == 6
    with pytest.raises(ValueError, match=r"fields has 6 entries, which is both the number of "
                                         r"stored values and of columns of X: ambiguous"):
        FFMRegressor(n_epochs=1).fit(X, np.arange(4.0), fields=np.arange(6) % 3)
    # feature_fields is the unambiguous spelling of per-column fields
    model = FFMRegressor(n_epochs=1, feature_fields=np.arange(6) % 3).fit(X, np.arange(4.0))
    assert model.n_fields_ == 3


def test_feature_fields_of_the_wrong_length(bad_input_data):
    X, _, y, _ = bad_input_data
    with pytest.raises(ValueError, match=r"feature_fields must have one field id per column "
                                         r"of X \(9\), got 3"):
        FFMRegressor(n_epochs=1, feature_fields=[0, 1, 2]).fit(X, y)
    model = FFMRegressor(n_epochs=1, feature_fields=COLUMN_FIELDS).fit(X, y)
    with pytest.raises(ValueError, match="X has 8 features, but FFMRegressor is expecting 9"):
        model.predict(X[:, :8])


@pytest.mark.parametrize("solver", ["als", "mcmc", "sgda", "bogus"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_solvers_of_the_fm_only_are_refused(bad_input_data, cls, solver):
    X, fields, y, _ = bad_input_data
    y = y if cls is FFMRegressor else y > 0
    model = cls(solver=solver, n_epochs=1)
    with pytest.raises(ValueError, match=rf"solver must be one of \('adagrad', 'sgd', 'ftrl'\) "
                                         rf"for {cls.__name__}, got '{solver}'"):
        model.fit(X, y, fields=fields)
    assert not hasattr(model, "V_")


@pytest.mark.parametrize("parallel", ["replicas"])
def test_parallel_replicas_is_refused(bad_input_data, parallel):
    X, fields, y, _ = bad_input_data
    with pytest.raises(ValueError, match=rf"parallel must be one of \('auto', 'hogwild', "
                                         rf"'hybrid'\) for FFMRegressor, got '{parallel}'"):
        FFMRegressor(parallel=parallel, n_epochs=1, n_jobs=2).fit(X, y, fields=fields)


@pytest.mark.parametrize("sparse", [False, True])
def test_too_many_columns_without_fields(sparse):
    n = MAX_AUTO_FIELDS + 1
    X = sp.random(5, n, density=0.01, format="csr", random_state=0) if sparse else np.zeros((5, n))
    with pytest.raises(ValueError, match=rf"FFMRegressor needs fields for X's {n} columns"):
        FFMRegressor(n_epochs=1).fit(X, np.ones(5))
    # with fields it is fine, and MAX_AUTO_FIELDS columns without fields are too
    ff = np.arange(n) % 3
    model = FFMRegressor(n_epochs=1, n_factors=2, feature_fields=ff).fit(X, np.ones(5))
    assert model.n_fields_ == 3
    X = sp.random(3, MAX_AUTO_FIELDS, density=0.003, format="csr", random_state=0)
    assert FFMRegressor(n_epochs=1, n_factors=1).fit(X, np.ones(3)).n_fields_ == MAX_AUTO_FIELDS


def test_n_fields_smaller_than_the_data(bad_input_data):
    X, fields, y, _ = bad_input_data
    with pytest.raises(ValueError, match=r"fields holds the field id 3 at stored value \d+ "
                                         r"\(row \d+\), but the model has 3 fields"):
        FFMRegressor(n_epochs=1, n_fields=3).fit(X, y, fields=fields)
    with pytest.raises(ValueError, match="feature_fields holds the field id 3 at column 6, but "
                                         "the model has 3 fields"):
        FFMRegressor(n_epochs=1, n_fields=3, feature_fields=COLUMN_FIELDS).fit(X, y)
    # a larger n_fields is a model with unused fields, which predicts as the naive loop
    big = FFMRegressor(n_fields=6, **SMALL).fit(X, y, fields=fields)
    assert big.V_.shape == (9, 6, 3) and big.n_fields_ == 6
    np.testing.assert_allclose(big.predict(X, fields=fields),
                               np.clip(reference(big, per_value_rows(7), True, True),
                                       y.min(), y.max()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "4"])
def test_bad_n_fields_parameter(bad_input_data, value):
    X, fields, y, _ = bad_input_data
    with pytest.raises(ValueError, match="n_fields must be None or an int >= 1"):
        FFMRegressor(n_epochs=1, n_fields=value).fit(X, y, fields=fields)


@pytest.mark.parametrize("name", ["normalize", "fit_linear"])
def test_warm_start_with_a_changed_normalize_or_fit_linear(bad_input_data, name):
    X, fields, y, _ = bad_input_data
    model = FFMRegressor(warm_start=True, **SMALL).fit(X, y, fields=fields)
    before = (model.w0_, model.V_.copy(), model.t_)
    flipped = not getattr(model, name)
    with pytest.raises(ValueError, match=rf"{name}={flipped}, but the fitted model has "
                                         rf"{name}_={not flipped}.*warm_start=False"):
        model.set_params(**{name: flipped}).fit(X, y, fields=fields)
    assert (model.w0_, model.t_) == (before[0], before[2])
    np.testing.assert_array_equal(model.V_, before[1])
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        FFMRegressor(**{name: 1}).fit(X, y, fields=fields)


def test_warm_start_with_other_fields(bad_input_data):
    X, fields, y, _ = bad_input_data
    model = FFMRegressor(warm_start=True, **SMALL).fit(X, y, fields=fields)
    bad = fields.copy()
    bad[0] = N_FIELDS  # a fifth field
    with pytest.raises(ValueError, match="but the model has 4 fields"):
        model.fit(X, y, fields=bad)
    assert model.t_ == 3


# -- lifecycle ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lifecycle_data():
    rows = per_value_rows(11, n_rows=300)
    X, fields = csr_of(rows)
    return X, fields


def lifecycle_targets(cls, n):
    return targets(cls, n, 11)


@pytest.mark.parametrize("solver", RULES)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_warm_start_5_plus_5_is_10_epochs_bit_for_bit(lifecycle_data, cls, solver):
    X, fields = lifecycle_data
    y = lifecycle_targets(cls, X.shape[0])
    kw = dict(solver=solver, n_factors=4, learning_rate=0.05, n_jobs=1, random_state=3)
    ten = cls(n_epochs=10, **kw).fit(X, y, fields=fields)
    warm = cls(n_epochs=5, warm_start=True, **kw).fit(X, y, fields=fields)
    five = warm.V_.copy()
    warm.fit(X, y, fields=fields)
    assert warm.t_ == ten.t_ == 10 and warm.n_iter_ == 5
    assert not np.array_equal(warm.V_, five)
    assert_same_model(warm, ten)
    np.testing.assert_array_equal(warm.decision_function(X, fields=fields) if cls is
                                  FFMClassifier else warm.predict(X, fields=fields),
                                  ten.decision_function(X, fields=fields) if cls is
                                  FFMClassifier else ten.predict(X, fields=fields))


def test_warm_start_keeps_feature_fields(lifecycle_data):
    """A model fitted with feature_fields goes on training without them being passed."""
    rows = per_column_rows(12, n_rows=200)
    X, _ = csr_of(rows)
    y = targets(FFMRegressor, 200, 12)
    kw = dict(n_factors=4, n_jobs=1, random_state=0)
    ten = FFMRegressor(n_epochs=10, feature_fields=COLUMN_FIELDS, **kw).fit(X, y)
    warm = FFMRegressor(n_epochs=5, warm_start=True, feature_fields=COLUMN_FIELDS, **kw)
    warm.fit(X, y)
    warm.set_params(feature_fields=None).fit(X, y)
    assert_same_model(warm, ten)
    np.testing.assert_array_equal(warm.feature_fields_, COLUMN_FIELDS)


@pytest.mark.parametrize("solver", RULES)
def test_partial_fit_classes_and_epochs(lifecycle_data, solver):
    X, fields = lifecycle_data
    y = lifecycle_targets(FFMClassifier, X.shape[0])
    kw = dict(solver=solver, n_factors=4, learning_rate=0.05, n_jobs=1, random_state=2,
              shuffle="epoch")
    stream = FFMClassifier(**kw)
    with pytest.raises(ValueError, match="classes must be passed to the first call"):
        stream.partial_fit(X, y, fields=fields)
    assert not hasattr(stream, "V_")
    stream.partial_fit(X, y, classes=LABELS, fields=fields)
    for _ in range(2):
        stream.partial_fit(X, y, fields=fields)
    assert stream.t_ == 3 and list(stream.classes_) == list(LABELS)
    # (its first call starts from a smoothed base rate, one pseudo row of each class):
    # partial_fit after one epoch of fit is the next epochs of fit (shuffle="epoch")
    more = FFMClassifier(n_epochs=1, **kw).fit(X, y, fields=fields)
    more.partial_fit(X, y, fields=fields)
    more.partial_fit(X, y, fields=fields)
    assert more.t_ == 3
    assert_same_model(more, FFMClassifier(n_epochs=3, **kw).fit(X, y, fields=fields))
    # a regressor's stream from the start is fit's epochs
    yr = lifecycle_targets(FFMRegressor, X.shape[0])
    reg = FFMRegressor(**kw)
    for _ in range(3):
        reg.partial_fit(X, yr, fields=fields)
    assert reg.t_ == 3
    assert_same_model(reg, FFMRegressor(n_epochs=3, **kw).fit(X, yr, fields=fields))


@pytest.mark.parametrize("solver", RULES)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_save_load_predicts_equally_and_goes_on_training(tmp_path, lifecycle_data, cls, solver):
    X, fields = lifecycle_data
    y = lifecycle_targets(cls, X.shape[0])
    kw = dict(solver=solver, n_factors=4, learning_rate=0.05, n_jobs=1, random_state=4,
              normalize=False, fit_linear=solver != "sgd")
    ten = cls(n_epochs=10, **kw).fit(X, y, fields=fields)
    model = cls(n_epochs=5, warm_start=True, **kw).fit(X, y, fields=fields)
    path = tmp_path / "ffm.rfm"
    model.save(path)
    loaded = rapidfm.load(path)
    assert type(loaded) is cls
    assert_same_model(loaded, model)
    assert loaded.n_fields_ == model.n_fields_ and loaded.feature_fields_ is None
    assert loaded.normalize_ is False and loaded.fit_linear_ is (solver != "sgd")
    raw = reference(model, csr_to_rows(X.indptr, X.indices, fields, X.data),
                    solver != "sgd", False)
    if cls is FFMClassifier:
        np.testing.assert_array_equal(loaded.predict_proba(X, fields=fields),
                                      model.predict_proba(X, fields=fields))
        np.testing.assert_allclose(loaded.decision_function(X, fields=fields), raw, rtol=1e-5,
                                   atol=1e-5)
    else:
        np.testing.assert_array_equal(loaded.predict(X, fields=fields),
                                      model.predict(X, fields=fields))
        np.testing.assert_allclose(loaded.predict(X, fields=fields),
                                   np.clip(raw, y.min(), y.max()), rtol=1e-5, atol=1e-5)
    loaded.fit(X, y, fields=fields)  # warm_start=True travels with the parameters
    assert loaded.t_ == 10
    assert_same_model(loaded, ten)


def test_save_load_keeps_feature_fields(tmp_path):
    rows = per_column_rows(13, n_rows=100)
    X, _ = csr_of(rows)
    y = targets(FFMClassifier, 100, 13)
    model = FFMClassifier(feature_fields=COLUMN_FIELDS, **SMALL).fit(X, y)
    model.save(tmp_path / "m.rfm")
    loaded = rapidfm.load(tmp_path / "m.rfm")
    np.testing.assert_array_equal(loaded.feature_fields_, COLUMN_FIELDS)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_allclose(loaded.decision_function(X), reference(model, rows, True, True),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_round_trip(lifecycle_data, cls):
    X, fields = lifecycle_data
    y = lifecycle_targets(cls, X.shape[0])
    model = cls(n_factors=4, n_epochs=4, warm_start=True, n_jobs=1, random_state=0)
    model.fit(X, y, fields=fields)
    copy = pickle.loads(pickle.dumps(model))
    assert type(copy) is cls and copy.get_params().keys() == model.get_params().keys()
    assert_same_model(copy, model)
    method = "predict_proba" if cls is FFMClassifier else "predict"
    np.testing.assert_array_equal(getattr(copy, method)(X, fields=fields),
                                  getattr(model, method)(X, fields=fields))
    copy.fit(X, y, fields=fields)
    model.fit(X, y, fields=fields)
    assert copy.t_ == model.t_ == 8
    assert_same_model(copy, model)
    fresh = pickle.loads(pickle.dumps(cls(n_fields=5, feature_fields=COLUMN_FIELDS)))
    assert fresh.n_fields == 5 and not hasattr(fresh, "V_")
    np.testing.assert_array_equal(fresh.feature_fields, COLUMN_FIELDS)


@pytest.mark.parametrize("solver", RULES)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sample_weight_of_ones_is_no_weight_bit_for_bit(lifecycle_data, cls, solver):
    X, fields = lifecycle_data
    y = lifecycle_targets(cls, X.shape[0])
    kw = dict(solver=solver, n_factors=4, n_epochs=4, n_jobs=1, random_state=0)
    plain = cls(**kw).fit(X, y, fields=fields)
    ones = cls(**kw).fit(X, y, fields=fields, sample_weight=np.ones(X.shape[0]))
    assert_same_model(plain, ones)


def id_rows(n, n_shared=5, seed=0):
    """Row i: its own feature i (field 0, in no other row) and one shared feature of
    field 1 and one of field 2; y = a product of the shared effects plus noise."""
    rng = np.random.default_rng(seed)
    a = n + rng.integers(0, n_shared, n)
    b = n + n_shared + rng.integers(0, n_shared, n)
    cols = np.column_stack([np.arange(n), a, b]).ravel()
    X = sp.csr_matrix((np.ones(3 * n), cols, np.arange(0, 3 * n + 1, 3)),
                      shape=(n, n + 2 * n_shared))
    fields = np.tile([0, 1, 2], n).astype(np.int32)
    effect = rng.normal(0.0, 1.0, 2 * n_shared)
    y = effect[a - n] * effect[b - n] + effect[a - n] + rng.normal(0.0, 0.5, n)
    return X, fields, y


@pytest.mark.parametrize("solver", RULES)
def test_zero_weights_on_half_the_rows(solver):
    """A zero weight is no loss gradient: the own feature of a row of weight 0 keeps
    w = 0 (its L2 term is 0 at 0), while every row of weight 1 moved its own."""
    n = 400
    X, fields, y = id_rows(n)
    weights = np.where(np.arange(n) % 2 == 0, 1.0, 0.0)
    kw = dict(solver=solver, n_factors=4, n_epochs=3, n_jobs=1, random_state=0)
    weighted = FFMRegressor(**kw).fit(X, y, fields=fields, sample_weight=weights)
    plain = FFMRegressor(**kw).fit(X, y, fields=fields)
    assert np.all(weighted.w_[:n][weights == 0] == 0)
    assert np.all(weighted.w_[:n][weights == 1] != 0)
    assert np.all(plain.w_[:n] != 0)
    assert not np.array_equal(weighted.V_, plain.V_)


def test_early_stopping_on_a_held_out_split_restores_the_best_epoch():
    n = 1000
    X, fields, y = id_rows(n)
    rows = csr_to_rows(X.indptr, X.indices, fields, X.data)
    snapshots = {}

    def keep(est, history):
        snapshots[history[-1]["epoch"]] = (est.w0_, est.w_.copy(), est.V_.copy())

    model = FFMRegressor(n_epochs=60, early_stopping=True, validation_fraction=0.1,
                         n_iter_no_change=3, tol=0.0, n_jobs=1, random_state=0,
                         dtype=np.float64, callbacks=[keep]).fit(X, y, fields=fields)
    losses = [h["validation_loss"] for h in model.history_]
    best = int(np.argmin(losses)) + 1
    assert model.best_epoch_ == best and model.n_iter_ == best + 3 < 60
    assert model.best_validation_loss_ == min(losses)
    w0, w, V = snapshots[best]
    assert model.w0_ == w0
    np.testing.assert_array_equal(model.w_, w)
    np.testing.assert_array_equal(model.V_, V)
    # the held-out rows are those whose own feature never moved (10% of them); the
    # restored model's RMSE on them, by the reference, is the best loss of history_
    held = np.flatnonzero(model.w_[:n] == 0)
    assert held.size == 100
    pred = np.clip(reference(model, [rows[i] for i in held], True, True),
                   model.y_min_, model.y_max_)
    assert rmse(pred, y[held]) == pytest.approx(min(losses), rel=1e-9)
    assert losses[-1] > min(losses)


def test_classifier_eval_set_with_eval_fields_is_the_reference_logloss():
    rows = per_value_rows(14, n_rows=400)
    X, fields = csr_of(rows)
    y = (np.array([sum(v for _, f, v in row if f < 2) for row in rows]) > 0).astype(int)
    X_tr, f_tr, y_tr = X[:300], fields[:X.indptr[300]], y[:300]
    X_val, f_val, y_val = X[300:], fields[X.indptr[300]:], y[300:]
    val_rows = rows[300:]
    seen = []

    def check(est, history):
        p1 = sigmoid(reference(est, val_rows, True, True))
        seen.append((history[-1]["validation_loss"], logloss(y_val, p1)))

    model = FFMClassifier(n_factors=4, n_epochs=30, n_iter_no_change=3, tol=0.0, n_jobs=1,
                          random_state=0, dtype=np.float64, callbacks=[check])
    model.fit(X_tr, y_tr, fields=f_tr, eval_set=(X_val, y_val), eval_fields=f_val)
    assert len(seen) == model.n_iter_ >= 2
    for ours, ref in seen:
        assert ours == pytest.approx(ref, rel=1e-9)
    assert model.best_validation_loss_ == pytest.approx(min(ref for _, ref in seen), rel=1e-9)
    assert logloss(y_val, model.predict_proba(X_val, fields=f_val)[:, 1]) == pytest.approx(
        model.best_validation_loss_, rel=1e-9)
    with pytest.raises(ValueError, match="fields must have one entry per stored value"):
        FFMClassifier(n_epochs=1).fit(X_tr, y_tr, fields=f_tr, eval_set=(X_val, y_val),
                                      eval_fields=f_val[:-1])


# -- learning a planted FFM --------------------------------------------------------------------

def planted_ffm(n, n_fields=5, cardinality=8, k=3, noise=0.5, seed=0):
    """One-hot rows (one feature per field) of a known FFM, V_true of shape
    (n_features, n_fields, k), plus Gaussian noise of std `noise`."""
    rng = np.random.default_rng(seed)
    n_features = n_fields * cardinality
    V_true = rng.normal(0.0, 0.5, (n_features, n_fields, k))
    w_true = rng.normal(0.0, 0.3, n_features)
    cats = rng.integers(0, cardinality, (n, n_fields)) + cardinality * np.arange(n_fields)
    y = 0.5 + w_true[cats].sum(axis=1)
    for a in range(n_fields):
        for b in range(a + 1, n_fields):
            y += np.einsum("nk,nk->n", V_true[cats[:, a], b], V_true[cats[:, b], a])
    y = y + rng.normal(0.0, noise, n)
    X = sp.csr_matrix((np.ones(n * n_fields), cats.ravel(),
                       np.arange(0, n * n_fields + 1, n_fields)), shape=(n, n_features))
    return X, y, np.repeat(np.arange(n_fields), cardinality).astype(np.int32)


@pytest.mark.parametrize("n_fields", [4, 5, 6])
def test_learns_a_planted_ffm_to_the_noise_floor(n_fields):
    """5000 training rows, normalize=False: within 15% of the noise std on 3000 test
    rows, where an FM of the same data stays far above it. The defaults (adagrad,
    learning_rate 0.2, 8 factors, 15 epochs) measured 1.03-1.04 of the noise std at 4
    fields, 1.05-1.08 at 5 and 1.09-1.11 at 6 (random_state 0..2 of the data: the
    6 x 8 vectors of each feature are many for 5000 rows); 4 factors, 25 epochs at 0.1,
    used here, 1.01-1.03, 1.02-1.05 and 1.06-1.07."""
    noise = 0.5
    X, y, ff = planted_ffm(8000, n_fields=n_fields, noise=noise)
    X_tr, y_tr, X_te, y_te = X[:5000], y[:5000], X[5000:], y[5000:]
    assert np.std(y_te) > 2.5 * noise  # the signal is far above the noise
    ffm = FFMRegressor(n_factors=4, n_epochs=25, learning_rate=0.1, normalize=False,
                       n_jobs=1, random_state=0).fit(X_tr, y_tr, fields=ff)
    error = rmse(ffm.predict(X_te), y_te)
    assert error <= 1.15 * noise, error / noise
    fm = FMRegressor(n_factors=8, n_jobs=1, random_state=0).fit(X_tr, y_tr)
    assert rmse(fm.predict(X_te), y_te) > 1.1 * error  # measured: 1.17-2.1 x noise


def test_two_threads_learn_the_planted_ffm():
    noise = 0.5
    X, y, ff = planted_ffm(8000, noise=noise, seed=1)
    model = FFMRegressor(normalize=False, n_jobs=2, random_state=0,
                         feature_fields=ff).fit(X[:5000], y[:5000])
    assert model.history_[-1]["parallel_mode"] in ("hybrid", "hogwild", "serial")
    assert rmse(model.predict(X[5000:]), y[5000:]) <= 1.15 * noise


# -- Frappe ----------------------------------------------------------------------------------

def position_fields(X):
    """The field of every stored value: its position in its row."""
    lengths = np.diff(X.indptr)
    return (np.arange(X.nnz) - np.repeat(X.indptr[:-1], lengths)).astype(np.int32)


def test_frappe_logloss_matches_libffm():
    """frappe.validation.libfm (57,722 lines of 10 one-hot entries, increasing indices:
    the position is the field) for training with a held-out 10%; frappe.test.libfm
    for the test. libffm's best there is 0.2700; rapidfm measured 0.2407."""
    train_path = data_path("frappe", "libfm", "frappe.validation.libfm")
    test_path = data_path("frappe", "libfm", "frappe.test.libfm")
    X, y = load_svmlight(train_path)
    X_te, y_te = load_svmlight(test_path, n_features=X.shape[1])
    for M in (X, X_te):
        assert np.all(np.diff(M.indptr) == 10) and np.all(M.data == 1)
        assert np.all(np.diff(M.indices.reshape(-1, 10), axis=1) > 0)
    fields, fields_te = position_fields(X), position_fields(X_te)
    model = FFMClassifier(n_factors=8, early_stopping=True, random_state=0, n_jobs=1)
    model.fit(X, y, fields=fields)
    assert model.n_fields_ == 10 and model.best_epoch_ < model.n_iter_
    p1 = model.predict_proba(X_te, fields=fields_te)[:, 1]
    assert list(model.classes_) == [-1.0, 1.0]
    loss = logloss(y_te > 0, p1)
    assert loss <= 0.270, loss


# -- scikit-learn's common checks ------------------------------------------------------------

NOT_APPLICABLE = {
    "check_sample_weight_equivalence_on_dense_data": (
        "SGD visits the rows in a random order and a weight scales one step: weight 2 "
        "equals a duplicated row in expectation, not exactly (as FMRegressor/FMClassifier "
        "in test_sklearn_compat.py, and scikit-learn's own SGD estimators)"),
    "check_sample_weight_equivalence_on_sparse_data": (
        "as check_sample_weight_equivalence_on_dense_data"),
    "check_dtype_object": (
        "object-dtype X is refused by design ('X must hold real numbers'), as for the FM "
        "estimators (test_errors.py::test_non_numeric_X)"),
}
def expected_failed_checks(estimator):
    """The checks that do not apply to these estimators (each with its reason)."""
    return dict(NOT_APPLICABLE)


HAVE_EXPECTED_FAILED = estimator_checks is not None and "expected_failed_checks" in (
    inspect.signature(estimator_checks.parametrize_with_checks).parameters)

if HAVE_EXPECTED_FAILED:  # scikit-learn >= 1.6

    @estimator_checks.parametrize_with_checks(
        [FFMRegressor(random_state=0), FFMClassifier(random_state=0)],
        expected_failed_checks=expected_failed_checks, xfail_strict=True)
    def test_sklearn_estimator_checks(estimator, check):
        check(estimator)

else:  # pragma: no cover

    def test_sklearn_estimator_checks():
        pytest.skip("the common checks need scikit-learn >= 1.6 (expected_failed_checks)")


class ArrayLike:
    """An array-like that numpy converts (__array__) but whose numpy functions are
    refused, as scikit-learn's _NotAnArray."""

    def __init__(self, data):
        self.data = np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"no numpy function {func.__name__} on this array-like")


def test_array_like_with_array_function_fm():
    X = np.random.default_rng(0).normal(size=(20, 3))
    FMRegressor(n_epochs=1, random_state=0).fit(ArrayLike(X), X[:, 0])


def test_array_like_with_array_function():
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = FFMRegressor(n_epochs=1, random_state=0).fit(ArrayLike(X), X[:, 0])
    np.testing.assert_array_equal(model.predict(ArrayLike(X)), model.predict(X))


def test_unfitted_classifier_predict():
    with pytest.raises(NotFittedError):
        FFMClassifier().predict(np.ones((2, 3)))


def test_unfitted_estimators_raise_not_fitted():
    for call in (FFMRegressor().predict, FFMClassifier().predict_proba,
                 FFMClassifier().decision_function):
        with pytest.raises(NotFittedError):
            call(np.ones((2, 3)))


# -- divergence ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_divergence_is_an_error_not_nan(cls, dtype):
    rng = np.random.default_rng(0)
    X = sp.random(200, 8, density=0.5, format="csr", random_state=0) * 1e3
    fields = rng.integers(0, 3, X.nnz)
    y = rng.normal(size=200) * 1e3 if cls is FFMRegressor else rng.integers(0, 2, 200)
    model = cls(solver="sgd", learning_rate=1e3, normalize=False, dtype=dtype, n_jobs=1,
                random_state=0)
    with pytest.raises(DivergenceError, match=r"diverged in epoch \d+.*learning_rate"):
        model.fit(X, y, fields=fields)
    assert not hasattr(model, "V_")
    # a failed warm start keeps the model of before
    model.set_params(learning_rate=1e-6, warm_start=True, n_epochs=1).fit(X / 1e3, y,
                                                                          fields=fields)
    before = model.V_.copy()
    with pytest.raises(DivergenceError):
        model.set_params(learning_rate=1e3).fit(X, y, fields=fields)
    np.testing.assert_array_equal(model.V_, before)
    assert model.t_ == 1


# -- rows as given: canonical rows are not copied (memory-mapped caches) -------------------

def test_check_ffm_rows_finds_each_problem():
    indptr = np.array([0, 3, 5], np.int64)
    good = (np.array([1, 1, 4, 0, 2], np.int32), np.array([0, 2, 1, 1, 0], np.int32))
    data = np.ones(5, np.float32)

    def status(indices, fields, values=data, n_fields=3):
        return _core.check_ffm_rows(indptr, indices, fields, values, 6, n_fields)[:3]

    assert status(*good)[0] == 0  # feature 1 under fields 0 and 2: two keys
    assert status(good[0], np.array([2, 0, 1, 1, 0], np.int32))[0] == _core.CSR_UNSORTED
    assert status(good[0], np.array([0, 0, 1, 1, 0], np.int32))[0] == _core.CSR_DUPLICATE
    assert status(*good, n_fields=2) == (_core.CSR_FIELD_RANGE, 0, 1)
    assert status(np.array([1, 1, 4, 0, 6], np.int32), good[1]) == (
        _core.CSR_INDEX_RANGE, 1, 4)
    bad = data.copy()
    bad[3] = np.nan
    assert status(*good, values=bad) == (_core.CSR_NONFINITE, 1, 3)


def test_a_memory_mapped_cache_trains_in_place_and_as_in_memory(tmp_path):
    from rapidfm._ffm_data import ffm_rows
    from rapidfm.cache import open_cache, save_cache

    rng = np.random.default_rng(4)
    n_rows, n_fields, card = 400, 4, 10
    cols = rng.integers(0, card, (n_rows, n_fields)) + np.arange(n_fields) * card
    X = sp.csr_matrix((np.ones(cols.size, np.float32), cols.ravel(),
                       np.arange(0, cols.size + 1, n_fields)), shape=(n_rows, n_fields * card))
    fields = np.tile(np.arange(n_fields, dtype=np.int32), n_rows)
    y = rng.integers(0, 2, n_rows).astype(np.float64)
    save_cache(X, y, tmp_path / "cache", fields=fields)
    Xm, fm, ym = open_cache(tmp_path / "cache", with_fields=True)
    rows, _ = ffm_rows(Xm, fm, np.float32)
    assert np.shares_memory(rows.indices, Xm.indices)  # the cache's pages, not a copy
    assert np.shares_memory(rows.fields, fm)
    kw = dict(n_factors=4, n_epochs=3, random_state=0, block_rows=64)
    mapped = FFMClassifier(**kw).fit(Xm, ym, fields=fm)
    in_memory = FFMClassifier(**kw).fit(X, y, fields=fields)
    np.testing.assert_array_equal(mapped.V_, in_memory.V_)
