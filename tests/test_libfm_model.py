"""libFM model files (rapidfm.io): reading files written the way libFM writes them,
writing them, and refusing malformed ones with the line that is wrong.

The model files here are written by hand from known random parameters, mimicking
libFM's fm_model::saveModel (including its 6-significant-digit default precision,
and the empty pairwise lines it writes for k = 0), and the loaded models are
compared with the naive predictor of tests/reference.py on those parameters.
"""

import os

import numpy as np
import pytest
import scipy.sparse as sp
from reference import naive_fm_predict, sigmoid

from rapidfm import FMClassifier, FMRegressor, load
from rapidfm._sklearn_compat import NotFittedError
from rapidfm.io import LibFMModelError, load_libfm_model, save_libfm_model

N, K = 12, 4


def exact(x):
    return format(float(x), ".17g")


def libfm_default(x):
    """How a C++ ostream prints a double by default (precision 6, %g style)."""
    return format(float(x), "g")


def libfm_text(w0, w, V, *, bias=True, unary=True, pairwise=True, fmt=exact, newline="\n"):
    """A model file laid out like libFM's fm_model::saveModel output."""
    lines = []
    if bias:
        lines += ["#global bias W0", fmt(w0)]
    if unary:
        lines += ["#unary interactions Wj"] + [fmt(x) for x in w]
    if pairwise:  # libFM writes one line per feature, empty when k = 0
        lines += ["#pairwise interactions Vj,f"] + [" ".join(fmt(v) for v in row) for row in V]
    return newline.join(lines) + newline


def params(seed=0, n=N, k=K):
    rng = np.random.default_rng(seed)
    return rng.normal(), rng.normal(size=n), 0.5 * rng.normal(size=(n, k))


def rows(seed=1, n_rows=40, n=N, binary=False):
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n, density=0.35, random_state=seed, format="csr",
                  data_rvs=(lambda m: np.ones(m)) if binary else (lambda m: rng.normal(size=m)))
    return X


def write(tmp_path, text, name="model.libfm"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# -- reading files written like libFM ---------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_full_precision_file_predicts_like_the_naive_formula(tmp_path, newline):
    w0, w, V = params()
    path = write(tmp_path, libfm_text(w0, w, V, newline=newline))
    model = load_libfm_model(path)
    assert isinstance(model, FMRegressor) and model.clip_predictions is False
    assert model.w0_ == w0 and np.array_equal(model.w_, w) and np.array_equal(model.V_, V)
    assert model.V_.dtype == np.float64 and model.n_features_in_ == N and model.n_factors == K
    assert model.n_iter_ == 0 and model.history_ == []
    for X in (rows(1), rows(2, binary=True)):
        np.testing.assert_allclose(model.predict(X), naive_fm_predict(X, w0, w, V),
                                   rtol=1e-12, atol=1e-12)


def test_libfm_default_precision_file_is_close_to_the_true_model(tmp_path):
    w0, w, V = params(3)
    path = write(tmp_path, libfm_text(w0, w, V, fmt=libfm_default))
    assert len(path.read_text().splitlines()[1]) <= len("-1.23457e-05")  # really 6 digits
    model = load_libfm_model(path)
    X = rows(4)
    # exactly the model of the rounded numbers ...
    rounded = [np.vectorize(lambda x: float(libfm_default(x)))(a) for a in (w0, w, V)]
    np.testing.assert_allclose(model.predict(X), naive_fm_predict(X, *rounded),
                               rtol=1e-12, atol=1e-12)
    # ... which is within the 6-digit rounding of the true model
    scale = 1.0 + naive_fm_predict(abs(X), abs(w0), abs(w), abs(V))
    assert np.all(np.abs(model.predict(X) - naive_fm_predict(X, w0, w, V)) <= 1e-5 * scale)


def test_crlf_bom_and_trailing_whitespace_are_tolerated(tmp_path):
    w0, w, V = params(5)
    plain = load_libfm_model(write(tmp_path, libfm_text(w0, w, V), "plain.libfm"))
    text = libfm_text(w0, w, V, newline="  \t\r\n")
    messy = load_libfm_model(write(tmp_path, "\ufeff" + text + "\r\n\r\n", "messy.libfm"))
    assert messy.w0_ == plain.w0_
    assert np.array_equal(messy.w_, plain.w_) and np.array_equal(messy.V_, plain.V_)


def test_float32_dtype_rounds_the_file_values(tmp_path):
    w0, w, V = params(6)
    model = load_libfm_model(write(tmp_path, libfm_text(w0, w, V)), dtype=np.float32)
    assert model.V_.dtype == np.float32 and model.w_.dtype == np.float32
    assert np.array_equal(model.V_, V.astype(np.float32))
    assert np.array_equal(model.w_, w.astype(np.float32))
    assert model.dtype == np.float32
    X = rows(7)
    np.testing.assert_allclose(model.predict(X), naive_fm_predict(X, w0, w, V), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("task", ["classification", "c", "C"])
def test_classifier_outputs_match_libfm_conventions(tmp_path, task):
    w0, w, V = params(8)
    model = load_libfm_model(write(tmp_path, libfm_text(w0, w, V)), task=task)
    assert isinstance(model, FMClassifier)
    assert model.classes_.tolist() == [-1, 1]
    X = rows(9)
    raw = naive_fm_predict(X, w0, w, V)
    np.testing.assert_allclose(model.decision_function(X), raw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], sigmoid(raw), rtol=1e-12)
    clear = np.abs(raw) > 1e-9
    assert np.array_equal(model.predict(X)[clear], np.where(raw > 0, 1, -1)[clear])


def test_k0_model_with_libfm_empty_pairwise_lines(tmp_path):
    w0, w, _ = params(10)
    text = libfm_text(w0, w, np.zeros((N, 0)))
    assert text.endswith("#pairwise interactions Vj,f\n" + "\n" * N)
    for name, content in (("empty_rows", text),
                          ("no_section", libfm_text(w0, w, None, pairwise=False)),
                          ("header_only", libfm_text(w0, w, None, pairwise=False)
                           + "#pairwise interactions Vj,f\n")):
        model = load_libfm_model(write(tmp_path, content, name))
        assert model.V_.shape == (N, 0) and model.n_factors == 0, name
        X = rows(11)
        np.testing.assert_allclose(model.predict(X), w0 + X @ w, rtol=1e-12, atol=1e-12)


def test_missing_bias_or_unary_sections_mean_zeros(tmp_path):
    w0, w, V = params(12)
    X = rows(13)
    no_bias = load_libfm_model(write(tmp_path, libfm_text(w0, w, V, bias=False), "a"))
    assert no_bias.w0_ == 0.0
    np.testing.assert_allclose(no_bias.predict(X), naive_fm_predict(X, 0.0, w, V), rtol=1e-12,
                               atol=1e-12)
    no_unary = load_libfm_model(write(tmp_path, libfm_text(w0, w, V, unary=False), "b"))
    assert no_unary.n_features_in_ == N and not no_unary.w_.any()
    np.testing.assert_allclose(no_unary.predict(X), naive_fm_predict(X, w0, np.zeros(N), V),
                               rtol=1e-12, atol=1e-12)
    only_pairs = load_libfm_model(write(tmp_path, libfm_text(w0, w, V, bias=False, unary=False),
                                        "c"))
    np.testing.assert_allclose(only_pairs.predict(X), naive_fm_predict(X, 0, np.zeros(N), V),
                               rtol=1e-12, atol=1e-12)


def test_n_features_pads_with_zeros(tmp_path):
    w0, w, V = params(14)
    path = write(tmp_path, libfm_text(w0, w, V))
    model = load_libfm_model(path, n_features=N + 5)
    assert model.n_features_in_ == N + 5 and model.V_.shape == (N + 5, K)
    X_wide = rows(15, n=N + 5)
    expected = naive_fm_predict(X_wide[:, :N], w0, w, V)  # libFM never saw the new features
    np.testing.assert_allclose(model.predict(X_wide), expected, rtol=1e-12, atol=1e-12)
    assert load_libfm_model(path, n_features=N).n_features_in_ == N
    with pytest.raises(ValueError, match="smaller"):
        load_libfm_model(path, n_features=N - 1)
    bias_only = write(tmp_path, "#global bias W0\n0.25\n", "bias_only")
    with pytest.raises(ValueError, match="n_features"):
        load_libfm_model(bias_only)
    model = load_libfm_model(bias_only, n_features=3)
    assert np.array_equal(model.predict(np.eye(3)), [0.25, 0.25, 0.25])


def test_y_range_clips_like_libfm(tmp_path):
    w0, w, V = params(16)
    path = write(tmp_path, libfm_text(w0, w, V))
    X = rows(17)
    raw = naive_fm_predict(X, w0, w, V)
    lo, hi = np.quantile(raw, [0.25, 0.75])
    model = load_libfm_model(path, y_range=(lo, hi))
    assert model.clip_predictions is True and (model.y_min_, model.y_max_) == (lo, hi)
    np.testing.assert_allclose(model.predict(X), np.clip(raw, lo, hi), rtol=1e-12, atol=1e-12)
    unclipped = load_libfm_model(path)
    assert (unclipped.y_min_, unclipped.y_max_) == (-np.inf, np.inf)


def test_bad_arguments_are_value_errors(tmp_path):
    path = write(tmp_path, libfm_text(*params()))
    for kwargs, fragment in (({"task": "ranking"}, "task"), ({"task": None}, "task"),
                             ({"n_features": 0}, "n_features"),
                             ({"n_features": 2.5}, "n_features"),
                             ({"task": "c", "y_range": (0, 1)}, "regression"),
                             ({"y_range": (1, 0)}, "y_range"),
                             ({"y_range": "ab"}, "y_range"),
                             ({"dtype": np.int32}, "float32")):
        with pytest.raises(ValueError, match=fragment):
            load_libfm_model(path, **kwargs)
    with pytest.raises(FileNotFoundError):
        load_libfm_model(tmp_path / "missing.libfm")


# -- writing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(20)
    X = sp.random(120, N, density=0.3, random_state=21, format="csr",
                  data_rvs=lambda m: rng.normal(size=m))
    y = X @ rng.normal(size=N) + 0.1 * rng.normal(size=120)
    return X, np.asarray(y)


def fit(fitted, cls=FMRegressor, dtype=np.float64, n_factors=3):
    X, y = fitted
    target = y if cls is FMRegressor else np.where(y > 0, "up", "down")
    return cls(n_factors=n_factors, n_epochs=2, learning_rate=0.05, dtype=dtype, n_jobs=1,
               random_state=0).fit(X, target)


@pytest.mark.parametrize("n_factors", [0, 3])
def test_written_file_has_libfm_layout_with_exact_values(fitted, tmp_path, n_factors):
    model = fit(fitted, n_factors=n_factors)
    save_libfm_model(model, tmp_path / "m.libfm")
    raw = (tmp_path / "m.libfm").read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode("ascii").split("\n")[:-1]
    assert len(lines) == 4 + 2 * N
    assert lines[0] == "#global bias W0" and float(lines[1]) == model.w0_
    assert lines[2] == "#unary interactions Wj"
    assert [float(x) for x in lines[3:3 + N]] == model.w_.tolist()
    assert lines[3 + N] == "#pairwise interactions Vj,f"
    pairs = [[float(x) for x in line.split(" ")] if line else [] for line in lines[4 + N:]]
    assert pairs == model.V_.tolist()
    assert all(line.count(" ") == max(n_factors - 1, 0) for line in lines[4 + N:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_factors", [0, 3])
def test_round_trip_through_libfm_text_is_bit_identical(fitted, tmp_path, dtype, n_factors):
    X, _ = fitted
    model = fit(fitted, dtype=dtype, n_factors=n_factors)
    save_libfm_model(model, tmp_path / "m.libfm")
    back = load_libfm_model(tmp_path / "m.libfm", dtype=dtype,
                            y_range=(model.y_min_, model.y_max_))
    assert back.V_.dtype == dtype
    assert back.w0_ == model.w0_
    assert np.array_equal(back.w_, model.w_) and np.array_equal(back.V_, model.V_)
    assert np.array_equal(back.predict(X), model.predict(X))


def test_classifier_round_trip_keeps_the_decision_function(fitted, tmp_path):
    X, _ = fitted
    model = fit(fitted, cls=FMClassifier, dtype=np.float32)
    save_libfm_model(model, tmp_path / "c.libfm")
    back = load_libfm_model(tmp_path / "c.libfm", task="classification", dtype=np.float32)
    assert np.array_equal(back.decision_function(X), model.decision_function(X))
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    # libFM's +1 is rapidfm's classes_[1]
    assert np.array_equal(model.classes_[(back.predict(X) == 1).astype(int)], model.predict(X))


def test_libfm_model_saves_in_rapidfm_format(tmp_path):
    w0, w, V = params(30)
    model = load_libfm_model(write(tmp_path, libfm_text(w0, w, V)), task="c")
    model.save(tmp_path / "m.rfm")
    again = load(tmp_path / "m.rfm")
    X = rows(31)
    assert np.array_equal(again.decision_function(X), model.decision_function(X))
    assert again.classes_.tolist() == [-1, 1]


def test_writing_requires_a_fitted_model_and_is_atomic(fitted, tmp_path, monkeypatch):
    with pytest.raises(NotFittedError):
        save_libfm_model(FMRegressor(), tmp_path / "m.libfm")
    with pytest.raises(TypeError):
        save_libfm_model("not a model", tmp_path / "m.libfm")
    assert os.listdir(tmp_path) == []
    target = write(tmp_path, "old content\n", "m.libfm")

    def fail(*args):
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="simulated"):
        save_libfm_model(fit(fitted), target)
    monkeypatch.undo()
    assert target.read_text() == "old content\n" and os.listdir(tmp_path) == ["m.libfm"]


# -- malformed files ------------------------------------------------------------------------------

GOOD = libfm_text(0.5, [0.1, -0.2, 0.3], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
# line numbers in GOOD: 1 bias header, 2 w0, 3 unary header, 4-6 w, 7 pairwise header, 8-10 V


def replace_line(lineno, new, text=GOOD):
    lines = text.split("\n")
    lines[lineno - 1] = new
    return "\n".join(lines)


def delete_line(lineno, text=GOOD):
    lines = text.split("\n")
    del lines[lineno - 1]
    return "\n".join(lines)


MALFORMED = {
    # name: (file text, 1-based line in the message or None, fragments of the message)
    "empty": ("", None, ["empty"]),
    "only blank lines": ("\n \n\r\n", None, ["empty"]),
    "word in unary": (replace_line(5, "abc"), 5, ["'abc'", "not a number"]),
    "comma decimal": (replace_line(5, "0,5"), 5, ["'0,5'"]),
    "underscore digits": (replace_line(4, "1_0"), 4, ["'1_0'"]),
    "nan in pairwise": (replace_line(9, "nan 1.0"), 9, ["'nan'"]),
    "inf bias": (replace_line(2, "inf"), 2, ["'inf'"]),
    "overflow": (replace_line(10, "1e999 1"), 10, ["1e999", "finite"]),
    "ragged pairwise row": (replace_line(9, "3.0"), 9, ["2 values", "found 1", "'3.0'"]),
    "long pairwise row": (replace_line(10, "5 6 7"), 10, ["2 values", "found 3"]),
    "unknown header": (replace_line(3, "#linear weights"), 3, ["unknown section",
                                                                "'#linear weights'"]),
    "duplicate header": (replace_line(7, "#unary interactions Wj"), 7, ["second time"]),
    "headers out of order": (libfm_text(0.5, [1.0], [[1.0]], bias=False)
                             + "#global bias W0\n0.5\n", 5, ["order"]),
    "two bias values": (GOOD.replace("#unary interactions Wj\n",
                                     "0.7\n#unary interactions Wj\n", 1), 3, ["one value"]),
    "bias without value": (delete_line(2), 1, ["no value"]),
    "two numbers on the bias line": (replace_line(2, "0.5 0.1"), 2, ["1 value", "found 2"]),
    "two numbers on a unary line": (replace_line(6, "0.3 0.4"), 6, ["found 2"]),
    "value before any header": ("0.5\n" + GOOD, 1, ["section header", "'0.5'"]),
    "blank line inside unary": (replace_line(5, ""), 5, ["blank line"]),
    "pairwise section cut short": (delete_line(10), 7, ["2 rows", "3", "truncated"]),
    "pairwise section too long": (GOOD + "7.0 8.0\n", 11, ["row 4", "'7.0 8.0'"]),
    "unary section too long": (replace_line(6, "0.3\n0.4"), 8, ["3 rows", "has 4"]),
    "not utf-8": (b"#global bias W0\n\xff\xfe\x00\n", 2, ["not a text file"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_name_the_line(tmp_path, case):
    text, line, fragments = MALFORMED[case]
    path = write(tmp_path, text)
    with pytest.raises(LibFMModelError) as info:
        load_libfm_model(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(path) in message, message
    assert info.value.line == line, message
    if line is not None:
        assert f"line {line}:" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_good_file_used_for_the_malformed_cases_is_valid(tmp_path):
    model = load_libfm_model(write(tmp_path, GOOD))
    assert model.w0_ == 0.5 and model.w_.tolist() == [0.1, -0.2, 0.3]
    assert model.V_.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
