"""The `rapidfm` command line (python -m rapidfm): exit codes 0 ok, 1 failure, 2 bad usage."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

import rapidfm


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rapidfm", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_runs_and_reports():
    result = run("demo", "--rows", "20000", "--epochs", "2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ns/nnz" in out
    assert "noise floor" in out
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if "ns/nnz" in line]
    assert len(header) == 1
    # one line per epoch after the header: epoch number then numbers
    epoch_lines = [line for line in lines[header[0] + 1:]
                   if re.match(r"^\s*\d+\s+[\d.]+\s+[\d.]+\s", line)]
    assert [int(line.split()[0]) for line in epoch_lines] == [1, 2]
    for line in epoch_lines:
        assert line.split()[-1] == "1"  # threads column
        train_rmse, test_rmse = float(line.split()[1]), float(line.split()[2])
        assert 0 < train_rmse < 10 and 0 < test_rmse < 10
    assert re.search(r"test RMSE [\d.]+ vs noise floor 0\.5000", out)


@pytest.mark.parametrize("args,pattern", [
    (["demo", "--rows", "-5"], r"--rows"),
    (["nope"], r"invalid choice"),
    ([], r"usage"),
])
def test_bad_usage_exits_2(args, pattern):
    result = run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert re.search(pattern, result.stderr), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,pattern", [
    (["demo", "--rows", "abc"], r"--rows"),
    (["demo", "--rows", "0"], r"--rows"),
    (["demo", "--epochs", "0"], r"--epochs"),
    (["demo", "--threads", "0"], r"--threads"),
    (["demo", "--threads", "x"], r"--threads"),
    (["demo", "--no-such-option"], r"unrecognized arguments"),
])
def test_bad_usage_in_process(args, pattern, capsys):
    from rapidfm.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)


def test_no_command_in_process(capsys):
    from rapidfm.cli import main

    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"rapidfm {rapidfm.__version__}")
    assert "OpenMP" in result.stdout


def test_help(capsys):
    from rapidfm.cli import main

    for args, expected in ((["--help"], "demo"), (["demo", "--help"], "--rows")):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 0
        assert expected in capsys.readouterr().out


def test_training_failure_exits_1(capsys):
    from rapidfm.cli import main

    code = main(["demo", "--rows", "2000", "--epochs", "2", "--threads", "1",
                 "--solver", "sgd", "--learning-rate", "1e9"])
    assert code == 1
    assert re.search(r"error: .*smaller learning_rate", capsys.readouterr().err)


def test_demo_in_process_prints_every_epoch(capsys):
    from rapidfm.cli import main

    assert main(["demo", "--rows", "3000", "--epochs", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    epochs = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+[\d.]+\s+[\d.]+\s", out, re.M)]
    assert epochs == [1, 2, 3]


# -- train / predict / convert / libfm: end to end on small generated files -------------------

import io  # noqa: E402

import numpy as np  # noqa: E402

from rapidfm.cli import main  # noqa: E402
from rapidfm.datasets import make_planted_fm  # noqa: E402
from rapidfm.io import dump_svmlight, load_libfm_model, load_svmlight  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """libsvm files (one-based) and libFM files (zero-based) of a planted FM."""
    root = tmp_path_factory.mktemp("cli")
    out = {"root": root}
    data = make_planted_fm(n_samples=4000, n_fields=4, field_cardinality=25, n_factors=3,
                           noise_std=0.3, zipf_exponent=0.5, random_state=7)
    X_tr, y_tr, X_te, y_te = data.split(3200)
    out["regression"] = (X_tr, y_tr, X_te, y_te)
    # labels 0/1 from the regression target: a clear signal (a sigmoid draw is mostly noise)
    cut = np.median(y_tr)
    out["classification"] = (X_tr, (y_tr > cut).astype(float), X_te, (y_te > cut).astype(float))
    for task in ("regression", "classification"):
        X_tr, y_tr, X_te, y_te = out[task]
        for part, X, y in (("train", X_tr, y_tr), ("test", X_te, y_te)):
            dump_svmlight(X, y, root / f"{task}_{part}.svm", zero_based=False)
            dump_svmlight(X, y, root / f"{task}_{part}.libfm", zero_based=True)
    return out


def _train(files, task, model, *extra):
    argv = ["train", str(files["root"] / f"{task}_train.svm"), "--model", str(model),
            "--task", task, "--epochs", "15", "--learning-rate", "0.05", "--seed", "3",
            "--threads", "1", *extra]
    return main(argv)


def _lines(path):
    return path.read_text().splitlines()


def test_train_predict_regression(files, tmp_path, capsys):
    model_path, pred_path = tmp_path / "m.rfm", tmp_path / "p.txt"
    assert _train(files, "regression", model_path, "--reg", "0.001") == 0
    err = capsys.readouterr().err
    assert "3,200 rows x 100 features" in err and "one-based" in err
    assert re.search(r"trained FMRegressor\(n_factors=8, solver='adagrad'\) for 15 epochs .* "
                     r"train RMSE", err)
    assert f"saved {model_path} (seed 3)" in err

    test = str(files["root"] / "regression_test.svm")
    assert main(["predict", str(model_path), test, "--out", str(pred_path), "--metrics"]) == 0
    report = capsys.readouterr()
    assert report.out == ""  # the predictions went to the file, the metrics to stderr
    pred = np.array([float(t) for t in _lines(pred_path)])

    # reference: the saved model, loaded and applied in Python to the test rows
    model = rapidfm.load(model_path)
    assert model.data_one_based_ is True
    X_te, y_te = load_svmlight(test, zero_based=False, n_features=model.n_features_in_)
    np.testing.assert_array_equal(pred, model.predict(X_te))  # repr text: exact
    rmse = np.sqrt(np.mean((pred - y_te) ** 2))
    assert rmse < 0.6 * np.std(y_te)  # far better than predicting the mean
    m = re.search(r"RMSE ([\d.]+)\s+MAE ([\d.]+)\s+\(800 rows\)", report.err)
    assert m and float(m.group(1)) == pytest.approx(rmse, rel=1e-5)


def test_train_predict_classification(files, tmp_path, capsys):
    model_path = tmp_path / "c.rfm"
    assert _train(files, "classification", model_path) == 0
    assert "log-loss" in capsys.readouterr().err
    test = str(files["root"] / "classification_test.svm")

    assert main(["predict", str(model_path), test, "--metrics"]) == 0  # to stdout
    report = capsys.readouterr()
    proba = np.array([float(t) for t in report.out.splitlines()])
    model = rapidfm.load(model_path)
    X_te, y_te = load_svmlight(test, zero_based=False, n_features=model.n_features_in_)
    np.testing.assert_array_equal(proba, model.predict_proba(X_te)[:, 1])
    assert model.classes_.tolist() == [0.0, 1.0]
    m = re.search(r"log-loss ([\d.]+)\s+accuracy ([\d.]+)", report.err)
    accuracy = np.mean((proba > 0.5) == (y_te == 1))
    assert m and float(m.group(2)) == pytest.approx(accuracy, rel=1e-5)
    base = max(np.mean(y_te), 1 - np.mean(y_te))
    assert accuracy > base + 0.05  # better than always answering the majority class
    p = np.mean(y_te)
    assert float(m.group(1)) < -(p * np.log(p) + (1 - p) * np.log(1 - p))

    assert main(["predict", str(model_path), test, "--labels"]) == 0
    labels = capsys.readouterr().out.splitlines()
    assert set(labels) <= {"0", "1"}
    assert labels == [str(int(v)) for v in model.predict(X_te)]


def test_convert_then_train_from_cache_is_identical(files, tmp_path, capsys):
    cache = tmp_path / "train.cache"
    assert main(["convert", str(files["root"] / "regression_train.svm"), str(cache)]) == 0
    assert re.search(r"wrote cache .*3,200 rows x 100 features, 12,800 nonzeros",
                     capsys.readouterr().err)
    assert (cache / "header.json").is_file()
    from_text, from_cache = tmp_path / "text.rfm", tmp_path / "cache.rfm"
    # the same visit order needs the same shuffle: auto copies text rows, not a cache's
    assert _train(files, "regression", from_text, "--quiet", "--shuffle", "epoch") == 0
    args = ["train", str(cache), "--model", str(from_cache), "--epochs", "15",
            "--learning-rate", "0.05", "--seed", "3", "--threads", "1", "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().err == ""  # --quiet
    test = str(files["root"] / "regression_test.svm")
    outputs = []
    for model in (from_text, from_cache):
        out = tmp_path / f"{model.stem}.txt"
        assert main(["predict", str(model), test, "--out", str(out)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    # the cache keeps the numbering of its text file, and the model the cache's
    assert rapidfm.load(from_cache).data_one_based_ is True


def test_predict_numbers_the_file_as_the_training_file(files, tmp_path, capsys):
    # a zero-based training file, and a test file that happens to lack feature 0:
    # guessing per file ("auto") would read the test file as one-based
    X_tr, y_tr, X_te, y_te = files["regression"]
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    dump_svmlight(X_tr, y_tr, train, zero_based=True)
    keep = np.flatnonzero(X_te[:, 0].toarray().ravel() == 0)
    dump_svmlight(X_te[keep], y_te[keep], test, zero_based=True)
    model_path = tmp_path / "m.rfm"
    assert main(["train", str(train), "--model", str(model_path), "--epochs", "3",
                 "--quiet"]) == 0
    assert main(["predict", str(model_path), str(test)]) == 0
    pred = np.array([float(t) for t in capsys.readouterr().out.splitlines()])
    model = rapidfm.load(model_path)
    X, _ = load_svmlight(test, zero_based=True, n_features=model.n_features_in_)
    np.testing.assert_array_equal(pred, model.predict(X))


def test_train_with_validation_file_stops_early(files, tmp_path, capsys):
    model_path = tmp_path / "m.rfm"
    code = _train(files, "regression", model_path, "--epochs", "60", "--learning-rate", "0.1",
                  "--validation", str(files["root"] / "regression_test.svm"), "--patience", "2")
    assert code == 0
    err = capsys.readouterr().err
    m = re.search(r"for (\d+) epochs.*validation RMSE [\d.]+ \(best epoch (\d+), kept\)", err)
    assert m, err
    model = rapidfm.load(model_path)
    assert model.best_epoch_ == int(m.group(2)) and model.n_iter_ == int(m.group(1))


def _libfm(files, tmp_path, task, *extra):
    t = "regression" if task == "r" else "classification"
    argv = ["libfm", "-task", task, "-train", str(files["root"] / f"{t}_train.libfm"),
            "-test", str(files["root"] / f"{t}_test.libfm"), "-method", "sgd", "-iter", "6",
            "-learn_rate", "0.05", "-dim", "1,1,4", "-regular", "0,0.001,0.001",
            "-seed", "5", "-threads", "1", *extra]
    return main(argv)


def test_libfm_regression_end_to_end(files, tmp_path, capsys):
    out, rlog, saved = tmp_path / "out.txt", tmp_path / "rlog.tsv", tmp_path / "model.libfm"
    assert _libfm(files, tmp_path, "r", "-out", str(out), "-rlog", str(rlog),
                  "-save_model", str(saved)) == 0
    console = capsys.readouterr().out
    iters = re.findall(r"^#Iter=\s*(\d+)\tTrain=(\S+)\tTest=(\S+)$", console, re.M)
    assert [int(i) for i, _, _ in iters] == list(range(6))
    assert re.search(r"^#Iter=  0\t", console, re.M)  # libFM's %3d
    final = re.search(r"^Final\tTrain=(\S+)\tTest=(\S+)$", console, re.M)
    assert final and final.groups() == iters[-1][1:]

    X_tr, y_tr, X_te, y_te = files["regression"]
    lines = _lines(out)
    assert len(lines) == X_te.shape[0]
    # the -save_model file (exact values) predicts what -out holds, at libFM's %g precision
    model = load_libfm_model(saved, task="r", y_range=(y_tr.min(), y_tr.max()))
    X, _ = load_svmlight(files["root"] / "regression_test.libfm", zero_based=True,
                         n_features=model.n_features_in_)
    pred = model.predict(X)
    assert lines == [f"{p:g}" for p in pred]
    assert pred.min() >= y_tr.min() and pred.max() <= y_tr.max()  # clipped like libFM
    assert float(final.group(2)) == pytest.approx(np.sqrt(np.mean((pred - y_te) ** 2)),
                                                  rel=1e-5)

    rows = [line.split("\t") for line in _lines(rlog)]
    assert rows[0] == ["rmse", "mae", "time_pred", "time_learn", "time_learn2", "time_learn4",
                       "rmse_train"]
    assert len(rows) == 1 + 6 and all(len(r) == 7 for r in rows)
    for row, (_, train, test) in zip(rows[1:], iters):
        assert (row[0], row[6]) == (test, train)
        assert row[4] == row[5] == "nan"
        assert float(row[3]) > 0

    # -load_model with -iter 0 predicts with the saved model: the same -out
    again = tmp_path / "again.txt"
    assert main(["libfm", "-task", "r", "-train", str(files["root"] / "regression_train.libfm"),
                 "-test", str(files["root"] / "regression_test.libfm"), "-method", "sgd",
                 "-iter", "0", "-dim", "1,1,4", "-load_model", str(saved),
                 "-out", str(again)]) == 0
    assert _lines(again) == lines


def test_libfm_classification_labels_and_outputs(files, tmp_path, capsys):
    out, rlog = tmp_path / "out.txt", tmp_path / "rlog.tsv"
    assert _libfm(files, tmp_path, "c", "-out", str(out), "-rlog", str(rlog)) == 0
    console = capsys.readouterr().out
    X_tr, y_tr, X_te, y_te = files["classification"]
    proba = np.array([float(t) for t in _lines(out)])
    assert proba.size == X_te.shape[0] and ((proba >= 0) & (proba <= 1)).all()
    test_acc = float(re.findall(r"^#Iter=\s*\d+\tTrain=\S+\tTest=(\S+)$", console, re.M)[-1])
    assert test_acc == pytest.approx(np.mean((proba >= 0.5) == (y_te > 0)), abs=2e-3)
    assert test_acc > max(np.mean(y_te), 1 - np.mean(y_te))
    header = _lines(rlog)[0].split("\t")
    assert header == ["accuracy", "time_pred", "time_learn", "time_learn2", "time_learn4",
                      "rmse_train"]

    # libFM: a target <= 0 is the negative class, so 0/1 and -1/+1 files train alike
    root = tmp_path
    for part, X, y in (("train", X_tr, y_tr), ("test", X_te, y_te)):
        dump_svmlight(X, np.where(y > 0, 1.0, -1.0), root / f"pm_{part}.libfm")
    out2 = tmp_path / "out2.txt"
    argv = ["libfm", "-task", "c", "-train", str(root / "pm_train.libfm"),
            "-test", str(root / "pm_test.libfm"), "-method", "sgd", "-iter", "6",
            "-learn_rate", "0.05", "-dim", "1,1,4", "-regular", "0,0.001,0.001", "-seed", "5",
            "-threads", "1", "-out", str(out2)]
    assert main(argv) == 0
    assert _lines(out2) == _lines(out)


def _sgda_files(files, task):
    """The planted training rows split 2800 / 400 into -train and -validation files."""
    X_tr, y_tr, X_te, y_te = files[task]
    root = files["root"]
    paths = {"train": root / f"sgda_{task}_train.libfm", "validation": root /
             f"sgda_{task}_val.libfm", "test": root / f"{task}_test.libfm"}
    dump_svmlight(X_tr[:2800], y_tr[:2800], paths["train"], zero_based=True)
    dump_svmlight(X_tr[2800:], y_tr[2800:], paths["validation"], zero_based=True)
    return paths


def test_libfm_sgda_regression_end_to_end(files, tmp_path, capsys):
    paths = _sgda_files(files, "regression")
    out, rlog, saved = tmp_path / "out.txt", tmp_path / "rlog.tsv", tmp_path / "model.libfm"
    iters = 25
    argv = ["libfm", "-task", "r", "-method", "sgda", "-train", str(paths["train"]),
            "-test", str(paths["test"]), "-validation", str(paths["validation"]),
            "-iter", str(iters), "-learn_rate", "0.05", "-dim", "1,1,4", "-seed", "5",
            "-threads", "1", "-out", str(out), "-rlog", str(rlog), "-save_model", str(saved)]
    assert main(argv) == 0
    console = capsys.readouterr().out
    assert "Loading validation set...\t\nnum_rows=400\t" in console
    assert "WARNING" not in console
    assert ("Training using self-adaptive-regularization SGD.\nUsing 2800 rows for training "
            "model parameters and 400 for training shrinkage.\n") in console
    lines = re.findall(r"^#Iter=\s*(\d+)\tTrain=(\S+)\tTest=(\S+)$", console, re.M)
    assert [int(i) for i, _, _ in lines] == list(range(iters))
    final = re.search(r"^Final\tTrain=(\S+)\tTest=(\S+)$", console, re.M)

    rows = [line.split("\t") for line in _lines(rlog)]
    assert rows[0] == (["rmse", "mae", "time_pred", "time_learn", "time_learn2", "time_learn4",
                        "rmse_train", "rmse_val", "wmean", "wvar"]
                       + [f"v{m}{f}" for f in range(4) for m in ("mean", "var")]
                       + ["regw[0]"] + [f"regv[0,{f}]" for f in range(4)])
    assert len(rows) == 1 + iters and all(len(r) == len(rows[0]) for r in rows)
    for row, (_, train, test) in zip(rows[1:], lines):
        assert (row[0], row[6]) == (test, train)
        assert row[8] == "0" and float(row[9]) > 0  # libFM writes the means as 0
    strengths = np.array([[float(v) for v in row[-5:]] for row in rows[1:]])
    assert (strengths[0] == 0).all()  # no lambda step in the first iteration, as libFM
    assert (strengths >= 0).all() and (strengths[-1] > 0).any()

    # libFM ends with the last iteration's model, though the estimator keeps the best
    # validation epoch's: this run's best is earlier (else the check below proves little)
    val = [float(row[7]) for row in rows[1:]]
    assert int(np.argmin(val)) != iters - 1
    assert final and final.groups() == lines[-1][1:]
    X_tr, y_tr, X_te, y_te = files["regression"]
    model = load_libfm_model(saved, task="r", y_range=(y_tr[:2800].min(), y_tr[:2800].max()))
    X, _ = load_svmlight(paths["test"], zero_based=True, n_features=model.n_features_in_)
    pred = model.predict(X)
    assert _lines(out) == [f"{p:g}" for p in pred]
    assert float(final.group(2)) == pytest.approx(np.sqrt(np.mean((pred - y_te) ** 2)),
                                                  rel=1e-5)


def test_libfm_sgda_classification_and_groups(files, tmp_path, capsys):
    paths = _sgda_files(files, "classification")
    meta, rlog = tmp_path / "meta.txt", tmp_path / "rlog.tsv"
    n_features = files["classification"][0].shape[1]
    meta.write_text("".join(f"{j // 25}\n" for j in range(n_features)))  # the 4 fields
    argv = ["libfm", "-task", "c", "-method", "sgda", "-train", str(paths["train"]),
            "-test", str(paths["test"]), "-validation", str(paths["validation"]),
            "-iter", "4", "-learn_rate", "0.05", "-dim", "1,1,3", "-seed", "5",
            "-meta", str(meta), "-rlog", str(rlog), "-regular", "0,1,1"]
    assert main(argv) == 0
    console = capsys.readouterr().out
    accuracies = [float(v) for v in re.findall(r"^#Iter=\s*\d+\tTrain=\S+\tTest=(\S+)$",
                                               console, re.M)]
    assert len(accuracies) == 4 and accuracies[-1] > 0.7
    header, *rows = [line.split("\t") for line in _lines(rlog)]
    assert header[0] == "accuracy" and header[5:7] == ["rmse_train", "rmse_val"]
    assert header[-4:] == ["regw[3]", "regv[3,0]", "regv[3,1]", "regv[3,2]"]
    assert 0.5 < float(rows[-1][6]) <= 1  # the validation accuracy


@pytest.mark.parametrize("extra,named", [
    (["-method", "sgda"], "needs -validation"),
    (["-method", "sgda", "-validation", "v", "-regular", "0,1,2,3,4"], "-method sgda takes"),
    (["-method", "newton"], "newton"),
    (["-method", "sgd", "-relation", "rel"], "-relation"),
    (["-method", "sgd", "-cache_size", "100"], "-cache_size"),
    (["-method", "sgd", "-do_sampling", "1"], "-do_sampling"),
    (["-method", "sgd", "-no_such_flag", "1"], "-no_such_flag"),
    (["-method", "sgd", "-dim", "0,1,8"], "k0=0"),
    (["-method", "sgd", "-dim", "1,0,8"], "k1=0"),
    (["-method", "sgd", "-learn_rate", "0.1,0.1,0.1"], "per-layer"),
    (["-method", "sgd", "-iter", "ten"], "-iter"),
    (["-method", "sgd", "-iter", "3", "-iter", "4"], "already specified"),
])
def test_libfm_refuses_what_it_does_not_support(files, extra, named, capsys):
    argv = ["libfm", "-task", "r", "-train", str(files["root"] / "regression_train.libfm"),
            "-test", str(files["root"] / "regression_test.libfm"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err and "rapidfm libfm: error:" in err and len(err.splitlines()) == 1


def _malformed(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 0:1 2:1\n# a comment\n2 3:x\n")
    return bad


def test_malformed_line_exits_1_with_line_number(files, tmp_path, capsys):
    bad = _malformed(tmp_path)
    for argv in (["train", str(bad), "--model", str(tmp_path / "m.rfm")],
                 ["convert", str(bad), str(tmp_path / "c.cache")],
                 ["libfm", "-task", "r", "-method", "sgd", "-train", str(bad),
                  "-test", str(files["root"] / "regression_test.libfm")]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rapidfm: error: ")
        assert "line 3" in err[0] and "3:x" in err[0]
    assert not (tmp_path / "m.rfm").exists() and not (tmp_path / "c.cache").exists()


def test_runtime_failures_exit_1(files, tmp_path, capsys):
    model_path = tmp_path / "m.rfm"
    assert _train(files, "regression", model_path, "--quiet") == 0
    wide = tmp_path / "wide.txt"
    wide.write_text("1 1:1 500:1\n")
    not_model = tmp_path / "not_a_model.rfm"
    not_model.write_text("hello\n")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    test = str(files["root"] / "regression_test.svm")
    cases = [
        (["predict", str(model_path), str(wide)], "the data do not match the model"),
        (["predict", str(not_model), test], "not a rapidfm model file"),
        (["predict", str(tmp_path / "missing.rfm"), test], "No such file"),
        (["train", str(tmp_path / "missing.txt"), "--model", str(model_path)], "No such file"),
        (["train", str(empty), "--model", str(model_path)], "not a rapidfm cache"),
        (["train", test, "--model", str(empty)], "is a folder"),
        (["train", test, "--model", str(model_path), "--solver", "sgd", "--learning-rate",
          "1e9", "--epochs", "3"],
         "diverged"),
        (["libfm", "-task", "r", "-method", "sgd", "-train", str(files["root"] /
          "regression_train.libfm"), "-test", test, "-load_model", str(not_model)],
         "libFM model file"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("rapidfm: error: ") and message in err[-1], (argv, err)
        assert "Traceback" not in "\n".join(err)
    assert rapidfm.load(model_path)  # a failed train leaves the earlier model intact


@pytest.mark.parametrize("argv,expected", [
    (["train", "--help"], "--learning-rate"),
    (["predict", "--help"], "--labels"),
    (["convert", "--help"], "--n-features"),
    (["demo", "--help"], "--rows"),
    (["--help"], "libfm"),
])
def test_every_subcommand_has_help(argv, expected, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert expected in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["-help", "--help", "-h"])
def test_libfm_help(flag, capsys):
    assert main(["libfm", flag]) == 0
    out = capsys.readouterr().out
    assert "-task" in out and "-rlog" in out and "-threads" in out


@pytest.mark.parametrize("argv,pattern", [
    (["train"], r"required: DATA"),
    (["train", "x.txt"], r"required: --model"),
    (["predict", "m.rfm"], r"required: DATA"),
    (["train", "x.txt", "--model", "m", "--factors", "-1"], r"--factors"),
    (["train", "x.txt", "--model", "m", "--learning-rate", "0"], r"--learning-rate"),
    (["train", "x.txt", "--model", "m", "--validation-fraction", "1"], r"--validation-frac"),
    (["train", "x.txt", "--model", "m", "--progress", "--quiet"], r"not allowed"),
    (["convert", "a.txt", "b", "--format", "cache"], r"invalid choice"),
    (["predict", "m", "d", "--zero-based", "maybe"], r"invalid choice"),
])
def test_subcommand_bad_usage_exits_2(argv, pattern, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_on_a_terminal_or_when_asked(files, tmp_path, capsys, monkeypatch):
    # captured stderr is not a terminal: nothing but the summary
    assert _train(files, "regression", tmp_path / "a.rfm", "--epochs", "3") == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "epoch 1/" not in err

    # --progress where stderr is not a terminal (a log file): one plain line per epoch
    assert _train(files, "regression", tmp_path / "b.rfm", "--epochs", "3", "--progress") == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    epochs = re.findall(r"^epoch (\d)/3  train RMSE [\d.]+  [\d,]+ rows/s", err, re.M)
    assert epochs == ["1", "2", "3"], err

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _train(files, "regression", tmp_path / "c.rfm", "--epochs", "3") == 0
    assert "\repoch 3/3" in terminal.getvalue()

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _train(files, "regression", tmp_path / "d.rfm", "--epochs", "3", "--quiet") == 0
    assert terminal.getvalue() == ""

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["convert", str(files["root"] / "regression_train.svm"),
                 str(tmp_path / "p.cache")]) == 0
    assert re.search(r"\rconverting .*3,200 rows, 12,800 nonzeros", terminal.getvalue())


def test_progress_eta():
    from rapidfm._progress import EpochProgress, format_duration

    assert [format_duration(s) for s in (0, 7.4, 754, 10921)] == ["0:00", "0:07", "12:34",
                                                                  "3:02:01"]
    stream = io.StringIO()
    history = []
    # the line redrawn in place, as on a terminal
    with EpochProgress(4, "RMSE", float, stream=stream, interval=0.0, lines=False) as progress:
        for _ in range(2):
            history.append({"train_loss": 0.5, "validation_loss": 0.25,
                            "rows_per_second": 1000.0})
            progress(None, history)
    text = stream.getvalue()
    assert "epoch 3/4  train RMSE 0.5000  validation RMSE 0.2500  1,000 rows/s" in text
    assert "ETA" in text and text.endswith("\n")
    assert text.rstrip().split("\r")[-1].startswith("epoch 2/4")  # final: epochs done


def test_command_line_in_a_subprocess(files, tmp_path):
    """The installed entry point: train + predict, and libfm, as a user runs them."""
    model_path, pred = tmp_path / "m.rfm", tmp_path / "p.txt"
    result = run("train", str(files["root"] / "classification_train.svm"), "--model",
                 str(model_path), "--task", "classification", "--epochs", "5", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "trained FMClassifier" in result.stderr
    assert "\r" not in result.stderr  # a pipe is not a terminal
    result = run("predict", str(model_path), str(files["root"] / "classification_test.svm"),
                 "--out", "-", "--metrics")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 800 and "accuracy" in result.stderr

    result = run("libfm", "-task", "c", "-method", "sgd", "-iter", "2",
                 "-train", str(files["root"] / "classification_train.libfm"),
                 "-test", str(files["root"] / "classification_test.libfm"), "-out", str(pred))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("#Iter=") == 2 and len(_lines(pred)) == 800
    result = run("libfm", "-task", "c", "-method", "sgda", "-train", "a", "-test", "b")
    assert result.returncode == 2 and "-method sgda needs -validation" in result.stderr
    assert os.path.exists(pred)


def test_libfm_on_frappe(tmp_path, capsys):
    """A real libFM file (CRLF lines, -1/+1 labels, 10 one-hot fields)."""
    from conftest import data_path

    validation = data_path("frappe", "libfm", "frappe.validation.libfm")
    test = data_path("frappe", "libfm", "frappe.test.libfm")
    out = tmp_path / "out.txt"
    assert main(["libfm", "-task", "c", "-method", "sgd", "-train", str(validation),
                 "-test", str(test), "-iter", "3", "-dim", "1,1,8", "-learn_rate", "0.05",
                 "-regular", "0,0,0.001", "-seed", "1", "-out", str(out)]) == 0
    console = capsys.readouterr().out
    n_test = sum(1 for line in test.read_bytes().splitlines() if line.strip())
    assert len(_lines(out)) == n_test
    accuracy = float(re.search(r"^Final\tTrain=\S+\tTest=(\S+)$", console, re.M).group(1))
    assert accuracy > 0.8  # two thirds of frappe's rows are negatives


def test_command_line_process_leaves_scikit_learn_out(tmp_path):
    """rapidfm._console (the `rapidfm` command) sets RAPIDFM_SKLEARN=0: a command fits
    and saves with rapidfm's own estimator bases, without importing scikit-learn, and
    the saved model loads in a process that has scikit-learn."""
    model = tmp_path / "m.rfm"
    code = f"""
import os, sys
import numpy as np, scipy.sparse as sp
os.environ.pop("RAPIDFM_SKLEARN", None)
from rapidfm._console import main
X = sp.random(200, 10, density=0.3, format="csr", random_state=0)
sp.save_npz({str(tmp_path / 'x.npz')!r}, X)
try:
    main(["--help"])
except SystemExit:
    pass
from rapidfm import FMRegressor
FMRegressor(solver="als", n_epochs=2, random_state=0).fit(X, np.arange(200.0)).save({str(model)!r})
print("sklearn imported:", any(m == "sklearn" or m.startswith("sklearn.") for m in sys.modules))
"""
    env = {k: v for k, v in os.environ.items() if k != "RAPIDFM_SKLEARN"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "sklearn imported: False" in out.stdout
    import rapidfm

    loaded = rapidfm.load(model)
    assert loaded.get_params()["solver"] == "als"
    if importlib.util.find_spec("sklearn") is not None:
        from sklearn.base import BaseEstimator

        assert isinstance(loaded, BaseEstimator)
