"""Field-aware FM on the command line: `rapidfm ffm-train` / `ffm-predict` (libffm's
command lines) and `rapidfm train --model-kind ffm` / `rapidfm predict`."""

import copy
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import data_path

import rapidfm
from rapidfm import FFMClassifier, FFMRegressor
from rapidfm.cli import main
from rapidfm.io import load_libffm

HEADER_VA = "iter   tr_logloss   va_logloss      tr_time"
HEADER = "iter   tr_logloss      tr_time"
ROW_VA = re.compile(r"^ {0,3}\d+ +\d+\.\d{5} +\d+\.\d{5} +\d+\.\d$")
ROW = re.compile(r"^ {0,3}\d+ +\d+\.\d{5} +\d+\.\d$")


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_planted(path, n_rows, seed, n_fields=5, per_field=6, flip=0.2):
    """libffm text: one-hot fields (feature f * per_field + value), labels 0/1 from a
    planted pairwise rule, a share `flip` of them flipped."""
    rng = np.random.default_rng(seed)
    a = np.random.default_rng(123).normal(size=(n_fields, per_field)) * 1.5
    v = rng.integers(per_field, size=(n_rows, n_fields))
    y = (a[0][v[:, 0]] * a[1][v[:, 1]] + a[2][v[:, 2]] * a[3][v[:, 3]] > 0).astype(int)
    y = np.where(rng.random(n_rows) < flip, 1 - y, y)
    with open(path, "w") as fh:
        for i in range(n_rows):
            items = " ".join(f"{f}:{f * per_field + v[i, f]}:1" for f in range(n_fields))
            fh.write(f"{y[i]} {items}\n")
    return path


@pytest.fixture
def files(tmp_path):
    return {"root": tmp_path,
            "train": write_planted(tmp_path / "train.ffm", 300, 1),
            "valid": write_planted(tmp_path / "valid.ffm", 200, 2),
            "test": write_planted(tmp_path / "test.ffm", 150, 3)}


def table(out):
    """(header, rows as lists of strings) of ffm-train's stdout."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("iter"))
    rows = [line for line in lines[start + 1:] if re.match(r"^ {0,3}\d+ ", line)]
    return lines[start], rows


def log_loss(p, y):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y > 0, np.log(p), np.log(1 - p))))


# -- ffm-train ----------------------------------------------------------------------------


def test_ffm_train_table_and_model(files, capsys):
    model_path = files["root"] / "m.model"
    code, out, err = cli(capsys, "ffm-train", "-t", "4", "-p", files["valid"], "--seed", "1",
                         files["train"], model_path)
    assert code == 0, err
    header, rows = table(out)
    assert header == HEADER_VA
    assert len(rows) == 4 and all(ROW_VA.match(r) and len(r) == 4 + 3 * 13 for r in rows)
    assert [int(r.split()[0]) for r in rows] == [1, 2, 3, 4]
    times = [float(r.split()[3]) for r in rows]
    assert times == sorted(times)  # cumulative

    model = rapidfm.load(model_path)  # rapidfm's format
    assert isinstance(model, FFMClassifier)
    p = model.get_params()
    assert (p["n_factors"], p["n_epochs"], p["solver"], p["learning_rate"], p["reg_factors"],
            p["reg_linear"], p["normalize"], p["fit_linear"], p["n_jobs"]) == (
        4, 4, "adagrad", 0.2, 2e-5, 0.0, True, False, 1)
    assert model.n_iter_ == 4 and model.V_.shape[2] == 4
    assert model.w0_ == 0 and not np.any(model.w_)
    # tr_logloss: the epoch's training loss; va_logloss: the log-loss on -p's rows
    assert [r.split()[1] for r in rows] == [f"{h['train_loss']:.5f}" for h in model.history_]
    X, fields, y = load_libffm(files["valid"])
    va = log_loss(model.predict_proba(X, fields)[:, 1], y)
    assert rows[-1].split()[2] == f"{va:.5f}"


def test_ffm_train_defaults_without_validation(files, capsys, monkeypatch):
    monkeypatch.chdir(files["root"])
    code, out, _ = cli(capsys, "ffm-train", "--seed", "0", files["train"])
    assert code == 0
    header, rows = table(out)
    assert header == HEADER  # no va_logloss column without -p
    assert len(rows) == 15 and all(ROW.match(r) for r in rows)
    model = rapidfm.load(files["root"] / "train.ffm.model")  # basename + ".model"
    assert model.n_iter_ == 15 and model.n_factors == 4 and model.n_fields_ == 5


def test_ffm_train_quiet(files, capsys):
    code, out, err = cli(capsys, "ffm-train", "--quiet", "-t", "2", "-p", files["valid"],
                         files["train"], files["root"] / "q.model")
    assert code == 0 and out == "" and err == ""
    assert (files["root"] / "q.model").exists()


def test_auto_stop_keeps_the_best_iteration(files, capsys):
    # few noisy rows: the validation loss falls for a few iterations, then rises
    root = files["root"]
    train = write_planted(root / "small.ffm", 200, 1)
    valid = write_planted(root / "big.ffm", 400, 2)
    args = ["-t", "40", "-r", "0.1", "-p", valid, "--seed", "0", train]
    code, out, _ = cli(capsys, "ffm-train", *args, root / "full.model")
    assert code == 0
    _, full_rows = table(out)
    assert len(full_rows) == 40
    code, out, _ = cli(capsys, "ffm-train", "--auto-stop", *args, root / "stop.model")
    assert code == 0
    match = re.search(r"^Auto-stop\. Use model at (\d+)th iteration\.$", out, re.M)
    assert match, out
    best = int(match.group(1))
    _, rows = table(out)
    assert 1 <= best < 40 and len(rows) == best + 1
    assert len(rows[-1].split()) == 3  # the row of the rise has no tr_time
    va = [float(r.split()[2]) for r in rows]
    assert va[-1] > va[-2] and va[-2] == min(va)
    assert rows[:-1] == full_rows[:best]  # the same run (seed, one thread) up to there
    model = rapidfm.load(root / "stop.model")
    assert model.n_iter_ == best and len(model.history_) == best
    X, fields, y = load_libffm(valid)
    assert f"{log_loss(model.predict_proba(X, fields)[:, 1], y):.5f}" == rows[-2].split()[2]


def test_no_norm_changes_the_model(files, capsys):
    root = files["root"]
    for name, extra in (("norm", []), ("nonorm", ["--no-norm"])):
        code, _, _ = cli(capsys, "ffm-train", "-t", "3", "--seed", "5", *extra, files["train"],
                         root / f"{name}.model")
        assert code == 0
    norm, nonorm = rapidfm.load(root / "norm.model"), rapidfm.load(root / "nonorm.model")
    assert norm.normalize_ is True and nonorm.normalize_ is False
    assert not np.allclose(norm.V_, nonorm.V_)
    X, fields, _ = load_libffm(files["test"])
    assert not np.allclose(norm.predict_proba(X, fields), nonorm.predict_proba(X, fields))


def test_two_threads(files, capsys):
    code, out, err = cli(capsys, "ffm-train", "-s", "2", "-t", "3", "-p", files["valid"],
                         files["train"], files["root"] / "s2.model")
    assert code == 0, err
    assert len(table(out)[1]) == 3
    assert rapidfm.load(files["root"] / "s2.model").n_jobs == 2


# -- ffm-predict --------------------------------------------------------------------------


def test_ffm_predict_writes_the_models_probabilities(files, capsys):
    root = files["root"]
    assert cli(capsys, "ffm-train", "-t", "5", files["train"], root / "m.model")[0] == 0
    code, out, err = cli(capsys, "ffm-predict", files["test"], root / "m.model", root / "out")
    assert code == 0, err
    written = np.array([float(t) for t in (root / "out").read_text().splitlines()])
    X, fields, y = load_libffm(files["test"])
    assert written.shape == (X.shape[0],)
    assert np.all((written >= 0) & (written <= 1))
    model = rapidfm.load(root / "m.model")
    p1 = model.predict_proba(X, fields)[:, 1]
    np.testing.assert_allclose(written, p1, rtol=1e-5)  # 6 significant digits, as libffm
    assert (root / "out").read_text().splitlines()[0] == f"{p1[0]:g}"
    assert out.strip() == f"logloss = {log_loss(p1, y):.5f}"


def pairs_only(model, row, n_features, n_fields):
    """libffm's prediction of one row [(field, feature, value)]: pairs only, skipping
    features / fields the model lacks, the norm over the whole row."""
    norm = np.sqrt(sum(v * v for _, _, v in row)) if model.normalize_ else 1.0
    kept = [(f, j, v / norm) for f, j, v in row if j < n_features and f < n_fields]
    V = model.V_.astype(np.float64)
    t = sum(V[j1, f2] @ V[j2, f1] * v1 * v2
            for a, (f1, j1, v1) in enumerate(kept) for (f2, j2, v2) in kept[a + 1:])
    return 1 / (1 + np.exp(-t))


@pytest.mark.parametrize("norm", [[], ["--no-norm"]])
def test_ffm_predict_skips_what_the_model_lacks(files, capsys, norm):
    root = files["root"]
    assert cli(capsys, "ffm-train", "-t", "3", *norm, files["train"], root / "m.model")[0] == 0
    model = rapidfm.load(root / "m.model")
    rows = [[(0, 1, 1.0), (1, 7, 2.0), (2, 500, 1.0), (3, 20, 1.0)],  # feature 500: unseen
            [(0, 2, 1.0), (9, 8, 1.0), (4, 25, 0.5)],                  # field 9: unseen
            [(0, 3, 1.0), (2, 14, 1.0)]]
    test = root / "odd.ffm"
    test.write_text("".join("1 " + " ".join(f"{f}:{j}:{v:g}" for f, j, v in r) + "\n"
                            for r in rows))
    code, _, err = cli(capsys, "ffm-predict", test, root / "m.model", root / "out")
    assert code == 0, err
    assert "skipped 2 values" in err
    written = [float(t) for t in (root / "out").read_text().splitlines()]
    expected = [pairs_only(model, r, model.n_features_in_, model.n_fields_) for r in rows]
    np.testing.assert_allclose(written, expected, rtol=1e-5)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args,pattern", [
    (["-k", "0", "tr"], r"-k 0: the number of latent factors should be greater than zero"),
    (["-t", "-1", "tr"], r"-t -1: the number of iterations should be greater than zero"),
    (["-r", "0", "tr"], r"-r 0: the learning rate eta should be greater than zero"),
    (["-l", "-1", "tr"], r"-l -1: the regularization parameter lambda should not be"),
    (["-s", "0", "tr"], r"-s 0: the number of threads"),
    (["-k", "four", "tr"], r"-k 'four': the number of latent factors must be an integer"),
    (["-r", "nan", "tr"], r"-r 'nan': the learning rate eta must be finite"),
    (["tr", "-t"], r"need to specify the number of iterations after -t"),
    (["--bogus", "tr"], r"unknown option --bogus"),
    (["-v", "5", "tr"], r"-v \(cross-validation"),
    (["--auto-stop", "tr"], r"--auto-stop needs a validation set"),
    (["-t", "3"], r"expected training_set_file \[model_file\], got no file"),
    (["a", "b", "c"], r"got 3 files"),
])
def test_ffm_train_bad_usage(args, pattern, capsys):
    code, out, err = cli(capsys, "ffm-train", *args)
    assert code == 2
    assert re.search(pattern, err), err
    assert "see rapidfm ffm-train --help" in err and "Traceback" not in err


def test_ffm_train_failures(files, capsys):
    root = files["root"]
    svm = root / "plain.svm"
    svm.write_text("1 3:1 5:1\n0 2:1\n")
    bad = root / "bad.ffm"
    bad.write_text("1 0:1:1 1:2:1\n0 0:x:1\n")
    one_class = root / "ones.ffm"
    one_class.write_text("1 0:1:1 1:2:1\n1 0:3:1\n")
    cases = [
        ([root / "missing.ffm"], r"cannot load the training set .*missing\.ffm: no such file"),
        ([svm], r"plain\.svm, line 1: expected field:index:value"),
        ([bad], r"bad\.ffm, line 2"),
        (["-p", root / "nope.ffm", files["train"], root / "m"], r"validation set .*nope"),
        ([files["train"], root / "no" / "m.model"], r"model_file .*does not exist"),
        ([one_class, root / "m"], r"every label .* is positive .*both classes"),
    ]
    for args, pattern in cases:
        code, _, err = cli(capsys, "ffm-train", *args)
        assert code == 1, (args, err)
        assert re.search(r"^rapidfm: error: .*" + pattern, err), (args, err)
        assert "Traceback" not in err


def test_ffm_predict_failures(files, capsys):
    root = files["root"]
    assert cli(capsys, "train", files["train"], "--model", root / "fm.rfm", "--epochs", "1",
               "--quiet")[0] == 0
    assert cli(capsys, "ffm-train", "-t", "1", files["train"], root / "ffm.model")[0] == 0
    junk = root / "libffm.model"
    junk.write_bytes(b"\x05\x00\x00\x00binary")
    out = root / "out"
    cases = [
        ([files["test"], root / "missing.model", out], 1, r"model file .*missing\.model"),
        ([files["test"], junk, out], 1, r"not a rapidfm model file.*libffm's binary"),
        ([files["test"], root / "fm.rfm", out], 1, r"FMClassifier model; ffm-predict needs "
                                                   r"a field-aware classifier"),
        ([root / "missing.ffm", root / "ffm.model", out], 1, r"test file .*missing\.ffm"),
        ([files["test"], root / "fm.rfm"], 2, r"expected test_file model_file output_file"),
    ]
    for args, want, pattern in cases:
        code, _, err = cli(capsys, "ffm-predict", *args)
        assert code == want, (args, err)
        assert re.search(pattern, err), (args, err)
        assert "Traceback" not in err


def test_help_and_subprocess(files):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "rapidfm", *map(str, args)],
                              capture_output=True, text=True, timeout=120)

    listing = run("--help")
    assert "ffm-train" in listing.stdout and "ffm-predict" in listing.stdout
    help_text = run("ffm-train", "--help")
    assert help_text.returncode == 0
    assert "NOT libffm's binary format" in help_text.stdout
    for flag in ("-l", "-k", "-t", "-r", "-s", "-p", "--quiet", "--no-norm", "--auto-stop"):
        assert re.search(rf"^{flag}[ :]", help_text.stdout, re.M), flag
    assert run("ffm-predict", "--help").returncode == 0
    for args in ([], ["ffm-train", "-k", "0", files["train"]]):
        result = run("ffm-train", *args[1:]) if args else run("ffm-train")
        assert result.returncode == 2 and "Traceback" not in result.stderr
    result = run("ffm-train", files["root"] / "missing.ffm")
    assert result.returncode == 1 and "Traceback" not in result.stderr


# -- rapidfm train --model-kind ffm / predict ---------------------------------------------------


def read_floats(path):
    return np.array([float(t) for t in path.read_text().splitlines()])


def test_train_ffm_and_predict_on_libffm_files(files, capsys):
    root = files["root"]
    model_path = root / "m.rfm"
    code, _, err = cli(capsys, "train", files["train"], "--model-kind", "ffm", "--model",
                       model_path, "--seed", "0", "--threads", "1")
    assert code == 0, err
    assert "trained FFMClassifier(n_factors=8" in err
    model = rapidfm.load(model_path)
    assert isinstance(model, FFMClassifier)
    assert model.n_iter_ == 15  # FFM's default epochs
    assert model.fit_linear_ and model.normalize_ and model.n_fields_ == 5
    code, _, err = cli(capsys, "predict", model_path, files["test"], "--out", root / "p.txt",
                       "--metrics")
    assert code == 0, err
    X, fields, y = load_libffm(files["test"])
    p1 = model.predict_proba(X, fields)[:, 1]
    np.testing.assert_array_equal(read_floats(root / "p.txt"), p1)  # shortest repr: exact
    assert f"log-loss {log_loss(p1, y):.6g}" in err

    # --labels, validation with early stopping, libffm's model, room for more fields
    code, _, err = cli(capsys, "train", files["train"], "--model-kind", "ffm", "--model",
                       root / "v.rfm", "--validation", files["valid"], "--patience", "2",
                       "--no-linear", "--no-norm", "--n-fields", "7", "--factors", "4",
                       "--epochs", "30")
    assert code == 0, err
    model = rapidfm.load(root / "v.rfm")
    assert model.best_epoch_ is not None and model.n_iter_ < 30
    assert not model.fit_linear_ and not model.normalize_ and model.n_fields_ == 7
    assert model.w0_ == 0 and not np.any(model.w_)
    code, _, _ = cli(capsys, "predict", root / "v.rfm", files["test"], "--out", root / "l.txt",
                     "--labels")
    assert code == 0
    labels = read_floats(root / "l.txt")
    np.testing.assert_array_equal(labels, model.predict(X, fields))


def test_train_ffm_regression(files, capsys):
    root = files["root"]
    lines = files["train"].read_text().splitlines()
    reg = root / "reg.ffm"
    reg.write_text("".join(f"{i % 7 * 0.5} {line.split(' ', 1)[1]}\n"
                           for i, line in enumerate(lines)))
    code, _, err = cli(capsys, "train", reg, "--model-kind", "ffm", "--model", root / "r.rfm",
                       "--epochs", "3")
    assert code == 0, err
    model = rapidfm.load(root / "r.rfm")
    assert isinstance(model, FFMRegressor)
    code, out, _ = cli(capsys, "predict", root / "r.rfm", reg)
    X, fields, _ = load_libffm(reg)
    np.testing.assert_array_equal(np.array(out.split(), dtype=float),
                                  model.predict(X, fields))


def test_train_ffm_and_predict_on_caches(files, capsys):
    root = files["root"]
    for name in ("train", "test"):
        assert cli(capsys, "convert", files[name], root / f"{name}.cache")[0] == 0
    code, _, err = cli(capsys, "train", root / "train.cache", "--model-kind", "ffm",
                       "--model", root / "c.rfm", "--epochs", "4",
                       "--validation", root / "test.cache")
    assert code == 0, err
    model = rapidfm.load(root / "c.rfm")
    assert isinstance(model, FFMClassifier) and model.n_fields_ == 5
    for name, data in (("cache", root / "test.cache"), ("text", files["test"])):
        code, _, err = cli(capsys, "predict", root / "c.rfm", data, "--out", root / name)
        assert code == 0, err
    X, fields, _ = load_libffm(files["test"])
    p1 = model.predict_proba(X, fields)[:, 1]
    np.testing.assert_array_equal(read_floats(root / "cache"), p1)
    np.testing.assert_array_equal(read_floats(root / "text"), p1)
    # ffm-train and ffm-predict read caches with fields too
    code, out, err = cli(capsys, "ffm-train", "-t", "2", "-p", root / "test.cache",
                         root / "train.cache", root / "f.model")
    assert code == 0, err
    assert table(out)[0] == HEADER_VA
    code, _, err = cli(capsys, "ffm-predict", root / "test.cache", root / "f.model",
                       root / "f.out")
    assert code == 0, err
    np.testing.assert_allclose(
        read_floats(root / "f.out"),
        rapidfm.load(root / "f.model").predict_proba(X, fields)[:, 1], rtol=1e-5)


def test_train_ffm_usage_and_failures(files, capsys):
    root = files["root"]
    svm = root / "plain.svm"
    svm.write_text("1 1:1 3:1\n-1 2:1\n")
    cases = [
        (["train", files["train"], "--model", "ffm"], 2, r"--model is the model file to "
                                                         r"write.*--model-kind ffm"),
        (["train", files["train"], "--model", root / "x", "--no-norm"], 2,
         r"--no-norm applies to --model-kind ffm"),
        (["train", files["train"], "--model-kind", "ffm", "--model", root / "x", "--solver",
          "als"], 2, r"--solver adagrad"),
        (["train", svm, "--model-kind", "ffm", "--model", root / "x"], 1,
         r"needs the field of every value.*plain\.svm holds none"),
        (["train", files["train"], "--model-kind", "ffm", "--model", root / "x",
          "--n-fields", "3"], 1, r"has field 4, more than --n-fields 3"),
        (["train", files["train"], "--model-kind", "ffm", "--model", root / "x",
          "--validation", svm], 1, r"validation file .*plain\.svm holds none"),
    ]
    for args, want, pattern in cases:
        code, _, err = cli(capsys, *args)
        assert code == want, (args, err)
        assert re.search(pattern, err), (args, err)
    assert cli(capsys, "train", files["train"], "--model-kind", "ffm", "--model",
               root / "f.rfm", "--epochs", "1")[0] == 0
    code, _, err = cli(capsys, "predict", root / "f.rfm", svm)
    assert code == 1 and re.search(r"field-aware FM .*plain\.svm holds none", err)
    wide = root / "wide.ffm"
    wide.write_text("1 0:1:1 9:2:1\n")
    code, _, err = cli(capsys, "predict", root / "f.rfm", wide)
    assert code == 1 and "has field 9, but the model" in err


def test_fm_on_libffm_data_says_how_to_use_the_fields(files, capsys):
    code, _, err = cli(capsys, "train", files["train"], "--model", files["root"] / "fm.rfm",
                       "--epochs", "1")
    assert code == 0
    assert "plain FM, which ignores them (--model-kind ffm trains a field-aware FM" in err
    assert type(rapidfm.load(files["root"] / "fm.rfm")).__name__ == "FMClassifier"


def test_as_many_values_as_features(tmp_path, capsys):
    # nnz == width: the per-value fields must not be read as per-column ones
    path = tmp_path / "square.ffm"
    path.write_text("1 0:0:1 1:1:1\n0 0:2:1 1:3:1\n")
    assert cli(capsys, "ffm-train", "-t", "2", path, tmp_path / "m")[0] == 0
    assert cli(capsys, "ffm-predict", path, tmp_path / "m", tmp_path / "o")[0] == 0
    assert len((tmp_path / "o").read_text().splitlines()) == 2
    assert cli(capsys, "train", path, "--model-kind", "ffm", "--model", tmp_path / "t.rfm",
               "--epochs", "2", "--validation", path)[0] == 0
    code, out, _ = cli(capsys, "predict", tmp_path / "t.rfm", path)
    assert code == 0
    X, _, _ = load_libffm(path)
    # every feature of this file has one field: per-column fields give the same rows
    model = copy.copy(rapidfm.load(tmp_path / "t.rfm"))
    model.feature_fields_ = np.array([0, 1, 0, 1], dtype=np.int32)
    np.testing.assert_array_equal(np.array(out.split(), dtype=float),
                                  model.predict_proba(X)[:, 1])


# -- real data ----------------------------------------------------------------------------------


def test_criteo_sample(tmp_path, capsys):
    train = data_path("criteo", "xlearn-libffm", "small_train.txt")
    test = data_path("criteo", "xlearn-libffm", "small_test.txt")
    code, out, err = cli(capsys, "ffm-train", "-t", "5", "-p", test, train, tmp_path / "m")
    assert code == 0, err
    header, rows = table(out)
    assert header == HEADER_VA and len(rows) == 5
    code, out, err = cli(capsys, "ffm-predict", test, tmp_path / "m", tmp_path / "out")
    assert code == 0, err
    written = read_floats(tmp_path / "out")
    assert written.shape == (200,) and np.all((written >= 0) & (written <= 1))
    assert re.fullmatch(r"logloss = \d+\.\d{5}\n", out)


def frappe_to_libffm(source, target):
    """The reference's conversion: label 1 for +1 else 0; the i-th item of a line
    (0..9, one one-hot feature per field) becomes field i."""
    with open(source) as fin, open(target, "w") as fout:
        for line in fin:
            label, *items = line.split()
            fields = " ".join(f"{i}:{item}" for i, item in enumerate(items))
            fout.write(f"{1 if float(label) > 0 else 0} {fields}\n")
    return target


def test_frappe_against_libffm(tmp_path, capsys):
    train = frappe_to_libffm(data_path("frappe", "libfm", "frappe.validation.libfm"),
                             tmp_path / "frappe.validation.ffm")
    test = frappe_to_libffm(data_path("frappe", "libfm", "frappe.test.libfm"),
                            tmp_path / "frappe.test.ffm")
    code, out, err = cli(capsys, "ffm-train", "-k", "8", "-t", "10", "-p", test, "--seed", "0",
                         train, tmp_path / "model")
    assert code == 0, err
    header, rows = table(out)
    assert header == HEADER_VA and len(rows) == 10
    best = min(float(r.split()[2]) for r in rows)
    assert best <= 0.2750, out  # libffm af3ae37: 0.27005 at iteration 8
