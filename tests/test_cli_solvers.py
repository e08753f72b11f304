"""`rapidfm libfm -method mcmc|als|sgd` against the outputs of the real libFM 1.4.4, and
`rapidfm train --solver`.

The libFM files (shared/reference/libfm-1.4.4, beside the data folder) hold the
console, -rlog and -out files libFM wrote for the same data and flags; the tests
compare formats exactly and accuracies within a tolerance (the random streams
differ, so no number can match). Everything skips when the data or the reference
files are absent.
"""

import re

import numpy as np
import pytest
from conftest import data_dir, data_path

import rapidfm
from rapidfm.cli import main
from rapidfm.datasets import make_planted_fm
from rapidfm.io import dump_svmlight, load_libfm_model, load_svmlight

N_USERS = 943
REGRESSION_LINE = re.compile(r"^#Iter=\s*(\d+)\tTrain=(\S+)\tTest=(\S+)$", re.M)
CLASSIFICATION_LINE = re.compile(r"^#Iter=\s*(\d+)\tTrain=(\S+)\tTest=(\S+)\tTest\(ll\)=(\S+)$",
                                 re.M)
NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)(e[+-]\d+)?$")


def reference(name):
    path = data_dir().parent / "reference" / "libfm-1.4.4" / name
    if not path.exists():
        pytest.skip(f"libFM reference file {path} is not available")
    return path


def _lines(path):
    return path.read_text().splitlines()


def _iterations(text, pattern=REGRESSION_LINE):
    return [(int(m[0]), *[float(v) for v in m[1:]]) for m in pattern.findall(text)]


def _rlog(path):
    rows = [line.split("\t") for line in _lines(path)]
    return rows[0], rows[1:]


def _rmse(pred, y):
    return float(np.sqrt(np.mean((np.asarray(pred) - y) ** 2)))


@pytest.fixture(scope="module")
def u1(tmp_path_factory):
    """u1.base / u1.test as libFM files, as the reference README builds them."""
    root = tmp_path_factory.mktemp("u1")
    out = {}
    for part in ("base", "test"):
        ratings = np.loadtxt(data_path("ml-100k", f"u1.{part}"), dtype=np.int64)
        path = root / f"u1.{part}.libfm"
        path.write_text("".join(f"{r} {u - 1}:1 {N_USERS + i - 1}:1\n"
                                for u, i, r, _ in ratings.tolist()))
        out[part] = path
        out[f"y_{part}"] = ratings[:, 2].astype(float)
    meta = root / "ml-100k.meta"
    meta.write_text("0\n" * N_USERS + "1\n" * 1682)
    out["meta"] = meta
    return out


def _libfm_u1(u1, *flags):
    return main(["libfm", "-task", "r", "-train", str(u1["base"]), "-test", str(u1["test"]),
                 "-dim", "1,1,8", "-init_stdev", "0.1", "-seed", "1", *flags])


def test_meta_file_is_libfms(u1):
    assert u1["meta"].read_bytes() == reference("ml-100k.meta").read_bytes()


# -- MCMC, regression: u1 with k = 8 ------------------------------------------------------------


def test_mcmc_u1_matches_libfm(u1, tmp_path, capsys):
    out, rlog = tmp_path / "u1.pred", tmp_path / "u1.rlog"
    n_iter = 200
    assert _libfm_u1(u1, "-iter", str(n_iter), "-method", "mcmc", "-out", str(out),
                     "-rlog", str(rlog)) == 0
    console = capsys.readouterr().out
    ours = _iterations(console)
    libfm = _iterations(reference("u1.mcmc.k8.i200.stdout").read_text())
    assert [i for i, *_ in ours] == list(range(n_iter))
    assert len(libfm) == 200
    assert "Final" not in console  # libFM prints no Final line for MCMC
    # accuracy: the averaged test RMSE after the same number of iterations as libFM's
    assert ours[-1][2] == pytest.approx(libfm[n_iter - 1][2], abs=0.01)
    assert ours[-1][2] == pytest.approx(0.910783, abs=0.01)

    # -out: one %g number per test row, like libFM's file, the average of all iterations
    lines = _lines(out)
    assert len(lines) == len(_lines(reference("u1.mcmc.k8.i200.pred"))) == 20000
    assert all(NUMBER.match(t) for t in lines)
    pred = np.array([float(t) for t in lines])
    assert pred.min() >= 1 and pred.max() <= 5  # clipped to the training range
    assert _rmse(pred, u1["y_test"]) == pytest.approx(ours[-1][2], abs=2e-5)

    header, rows = _rlog(rlog)
    ref_header, ref_rows = _rlog(reference("u1.mcmc.k8.i200.rlog"))
    assert header == ref_header
    assert "rmse_mcmc_all_but5" in header and "vlambda[0,7]" in header
    assert len(rows) == n_iter and all(len(r) == len(header) for r in rows)
    col = {name: j for j, name in enumerate(header)}
    for row, (_, _train, test) in zip(rows, ours):
        assert float(row[col["rmse"]]) == test == float(row[col["rmse_mcmc_all"]])
        assert row[col["time_pred"]] == "nan"
        assert float(row[col["alpha"]]) > 0 and float(row[col["wlambda[0]"]]) > 0
        assert all(NUMBER.match(v) or v in ("nan", "-nan", "inf") for v in row)
    # the values libFM writes before five iterations have been averaged (row 5: 0/0)
    for j in range(5):
        assert float(rows[j][col["rmse_mcmc_all_but5"]]) == pytest.approx(
            float(ref_rows[j][col["rmse_mcmc_all_but5"]]), abs=1e-5)
    # the final sample alone is worse than the average, for libFM as for rapidfm
    assert float(rows[-1][col["rmse_mcmc_this"]]) > float(rows[-1][col["rmse_mcmc_all"]])
    # the noise precision ends near 1 / (residual variance), libFM's ~1.58
    assert float(rows[-1][col["alpha"]]) == pytest.approx(
        float(ref_rows[-1][col["alpha"]]), rel=0.25)


def test_mcmc_is_the_default_method(u1, tmp_path, capsys):
    rlog = tmp_path / "r.tsv"
    assert _libfm_u1(u1, "-iter", "3", "-rlog", str(rlog)) == 0
    assert "MCMC" in capsys.readouterr().out
    assert _rlog(rlog)[0] == _rlog(reference("u1.mcmc.k8.i200.rlog"))[0]


def test_mcmc_with_meta_groups(u1, tmp_path, capsys):
    rlog, out = tmp_path / "meta.rlog", tmp_path / "meta.pred"
    n_iter = 200
    assert _libfm_u1(u1, "-iter", str(n_iter), "-meta", str(u1["meta"]), "-rlog", str(rlog),
                     "-out", str(out)) == 0
    ours = _iterations(capsys.readouterr().out)
    libfm = _iterations(reference("u1.mcmc.k8.i200.meta.stdout").read_text())
    assert ours[-1][2] == pytest.approx(libfm[n_iter - 1][2], abs=0.01)
    assert len(_lines(out)) == len(_lines(reference("u1.mcmc.k8.i200.meta.pred")))

    # libFM wrote no -rlog for this run: its columns, one block per group
    ref_header = _rlog(reference("u1.mcmc.k8.i200.rlog"))[0]
    first = ref_header.index("wmu[0]")
    block = ref_header[first:]
    expected = ref_header[:first] + block + [c.replace("[0", "[1") for c in block]
    header, rows = _rlog(rlog)
    assert header == expected
    col = {name: j for j, name in enumerate(header)}
    # two groups, two different priors: users and items are drawn apart
    last = rows[-1]
    assert float(last[col["wlambda[0]"]]) != float(last[col["wlambda[1]"]])


# -- ALS, regression: u1 with -regular 0,10,10 ---------------------------------------------------


def test_als_u1_matches_libfm(u1, tmp_path, capsys):
    out, rlog, model = tmp_path / "als.pred", tmp_path / "als.rlog", tmp_path / "als.model"
    assert _libfm_u1(u1, "-iter", "100", "-method", "als", "-regular", "0,10,10",
                     "-out", str(out), "-rlog", str(rlog), "-save_model", str(model)) == 0
    console = capsys.readouterr().out
    ours = _iterations(console)
    libfm = _iterations(reference("u1.als.k8.i100.r10.stdout").read_text())
    assert [i for i, *_ in ours] == list(range(100))
    assert "Final" not in console and f"Writing FM model to {model}" in console
    # the console's Test averages all iterations' predictions, as libFM's does
    assert ours[-1][2] == pytest.approx(libfm[-1][2], abs=0.01)  # 0.923273
    assert ours[-1][1] == pytest.approx(libfm[-1][1], abs=0.01)  # train 0.782454

    pred = np.array([float(t) for t in _lines(out)])
    assert pred.size == len(_lines(reference("u1.als.k8.i100.r10.pred")))
    ours_out = _rmse(pred, u1["y_test"])
    assert ours_out == pytest.approx(0.925785, abs=0.01)  # the final model's predictions

    header, rows = _rlog(rlog)
    ref_header, ref_rows = _rlog(reference("u1.als.k8.i100.r10.rlog"))
    assert header == ref_header
    col = {name: j for j, name in enumerate(header)}
    assert float(rows[-1][col["rmse_mcmc_this"]]) == pytest.approx(ours_out, abs=2e-5)
    for row, ref_row in zip(rows, ref_rows):  # alpha 1, means 0, lambda = -regular
        for name in ("alpha", "wmu[0]", "wlambda[0]", "vmu[0,3]", "vlambda[0,7]"):
            assert row[col[name]] == ref_row[col[name]], name

    # -save_model: libFM's text model (the same layout as libFM's file) of the final model
    assert [t for t in _lines(model) if t.startswith("#")] == [
        t for t in _lines(reference("u1.als.k8.i100.r10.model")) if t.startswith("#")]
    fm = load_libfm_model(model, task="r", y_range=(1, 5))
    X_test, _ = load_svmlight(u1["test"], zero_based=True, n_features=fm.n_features_in_)
    written = np.array([float(t) for t in _lines(out)])
    np.testing.assert_allclose(written, fm.predict(X_test), rtol=1e-5)  # %g digits


def test_als_per_group_regularization(u1, tmp_path, capsys):
    """-regular with 1+2G values: r0, then G values for w, then G for v (libfm.cpp)."""
    rlog = tmp_path / "g.rlog"
    assert _libfm_u1(u1, "-iter", "2", "-method", "als", "-meta", str(u1["meta"]),
                     "-regular", "0,1,2,30,40", "-rlog", str(rlog)) == 0
    capsys.readouterr()
    header, rows = _rlog(rlog)
    col = {name: j for j, name in enumerate(header)}
    for row in rows:
        got = {name: float(row[col[name]]) for name in
               ("wlambda[0]", "wlambda[1]", "vlambda[0,0]", "vlambda[0,7]", "vlambda[1,5]")}
        assert got == {"wlambda[0]": 1, "wlambda[1]": 2, "vlambda[0,0]": 30,
                       "vlambda[0,7]": 30, "vlambda[1,5]": 40}


# -- MCMC, classification: a9a -------------------------------------------------------------------


def test_mcmc_a9a_classification_matches_libfm(tmp_path, capsys):
    train, test = data_path("a9a", "a9a"), data_path("a9a", "a9a.t")
    out, rlog = tmp_path / "a9a.pred", tmp_path / "a9a.rlog"
    n_iter = 50
    assert main(["libfm", "-task", "c", "-train", str(train), "-test", str(test),
                 "-dim", "1,1,8", "-iter", str(n_iter), "-method", "mcmc", "-init_stdev",
                 "0.1", "-seed", "1", "-out", str(out), "-rlog", str(rlog)]) == 0
    console = capsys.readouterr().out
    ours = _iterations(console, CLASSIFICATION_LINE)
    libfm = _iterations(reference("a9a.mcmc.k8.i100.stdout").read_text(), CLASSIFICATION_LINE)
    assert [i for i, *_ in ours] == list(range(n_iter)) and len(libfm) == 100
    _, train_acc, test_acc, test_ll = ours[-1]
    assert test_acc == pytest.approx(libfm[n_iter - 1][2], abs=0.01)
    assert test_acc == pytest.approx(0.850931, abs=0.01)
    assert test_ll == pytest.approx(libfm[n_iter - 1][3], abs=0.01)  # log10 units
    assert train_acc == pytest.approx(libfm[n_iter - 1][1], abs=0.015)

    lines = _lines(out)
    assert len(lines) == len(_lines(reference("a9a.mcmc.k8.i100.pred")))
    proba = np.array([float(t) for t in lines])
    assert ((proba >= 0) & (proba <= 1)).all()  # P(y = +1)
    _, y = load_svmlight(test, zero_based=True)
    assert np.mean((proba >= 0.5) == (y > 0)) == pytest.approx(test_acc, abs=1e-4)

    header, rows = _rlog(rlog)
    ref_header, ref_rows = _rlog(reference("a9a.mcmc.k8.i100.rlog"))
    assert header == ref_header
    col = {name: j for j, name in enumerate(header)}
    assert rows[4][col["acc_mcmc_all_but5"]] == "0" == ref_rows[4][col["acc_mcmc_all_but5"]]
    assert float(rows[0][col["acc_mcmc_all_but5"]]) == pytest.approx(
        float(ref_rows[0][col["acc_mcmc_all_but5"]]), abs=1e-6)  # the share of negatives
    assert float(rows[-1][col["ll_mcmc_all"]]) == test_ll


# -- -save_model / -load_model with MCMC ---------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    data = make_planted_fm(n_samples=3000, n_fields=3, field_cardinality=20, n_factors=2,
                           noise_std=0.3, random_state=3)
    X_tr, y_tr, X_te, y_te = data.split(2400)
    for part, X, y in (("train", X_tr, y_tr), ("test", X_te, y_te)):
        dump_svmlight(X, y, root / f"{part}.libfm", zero_based=True)
        dump_svmlight(X, np.where(y > np.median(y_tr), 1.0, -1.0), root / f"c{part}.libfm",
                      zero_based=True)
    groups = root / "groups.meta"  # one group per field: 0, 1, 2
    groups.write_text("".join(f"{j // 20}\n" for j in range(60)))
    n_features = max(load_svmlight(root / f"{part}.libfm", zero_based=True)[0].shape[1]
                     for part in ("train", "test"))
    return {"root": root, "X_test": X_te, "y_test": y_te, "groups": groups,
            "n_features": n_features}


def _libfm_small(small, task="r", *flags):
    prefix = "" if task == "r" else "c"
    return main(["libfm", "-task", task, "-train", str(small["root"] / f"{prefix}train.libfm"),
                 "-test", str(small["root"] / f"{prefix}test.libfm"), "-dim", "1,1,4",
                 "-seed", "2", "-threads", "1", *flags])


@pytest.mark.parametrize("task", ["r", "c"])
def test_mcmc_save_model_writes_rapidfms_file_that_predicts_the_out(small, task, tmp_path,
                                                                    capsys):
    out, saved = tmp_path / "out.txt", tmp_path / "chain.rfm"
    assert _libfm_small(small, task, "-iter", "12", "-out", str(out),
                        "-save_model", str(saved)) == 0
    console = capsys.readouterr().out
    assert f"Writing FM model to {saved}" in console and "rapidfm.load" in console
    model = rapidfm.load(saved)
    assert model.solver == "mcmc" and model.samples_V_.shape[0] == 12
    X, _ = load_svmlight(small["root"] / f"{'' if task == 'r' else 'c'}test.libfm",
                         zero_based=True, n_features=model.n_features_in_)
    pred = model.predict(X) if task == "r" else model.predict_proba(X)[:, 1]
    written = np.array([float(t) for t in _lines(out)])
    np.testing.assert_allclose(written, pred, rtol=1e-5, atol=1e-6)  # -out's %g digits

    saved2 = tmp_path / "last3.rfm"
    assert _libfm_small(small, task, "-iter", "12", "-save_model", str(saved2),
                        "-kept_samples", "3") == 0
    assert rapidfm.load(saved2).samples_V_.shape[0] == 3


def test_mcmc_load_model_is_refused(small, tmp_path, capsys):
    assert _libfm_small(small, "r", "-load_model", str(tmp_path / "m.libfm")) == 2
    err = capsys.readouterr().err
    assert "-load_model" in err and "SGD and ALS" in err


def test_als_load_model_continues_and_predicts(small, tmp_path, capsys):
    saved, out1, out2 = tmp_path / "als.libfm", tmp_path / "1.txt", tmp_path / "2.txt"
    assert _libfm_small(small, "r", "-method", "als", "-iter", "5", "-regular", "0,1,1",
                        "-save_model", str(saved), "-out", str(out1)) == 0
    assert _libfm_small(small, "r", "-method", "als", "-iter", "0", "-load_model", str(saved),
                        "-out", str(out2)) == 0
    a = np.array([float(t) for t in _lines(out1)])
    b = np.array([float(t) for t in _lines(out2)])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # %g text of the same model
    assert _libfm_small(small, "r", "-method", "als", "-iter", "3", "-load_model", str(saved),
                        "-regular", "0,1,1") == 0
    train = _iterations(capsys.readouterr().out)[-1][1]
    assert train < np.std(small["y_test"])


def test_als_and_mcmc_classification_outputs(small, tmp_path, capsys):
    for method in ("als", "mcmc"):
        out, rlog = tmp_path / f"{method}.txt", tmp_path / f"{method}.rlog"
        assert _libfm_small(small, "c", "-method", method, "-iter", "8", "-regular", "0,1,1",
                            "-out", str(out), "-rlog", str(rlog)) == 0
        console = capsys.readouterr().out
        lines = CLASSIFICATION_LINE.findall(console)
        assert len(lines) == 8
        proba = np.array([float(t) for t in _lines(out)])
        assert proba.size == small["X_test"].shape[0]
        assert ((proba >= 0) & (proba <= 1)).all()
        assert float(lines[-1][2]) > 0.7
        assert _rlog(rlog)[0][:12] == ["accuracy", "time_pred", "time_learn", "time_learn2",
                                       "time_learn4", "alpha", "acc_mcmc_this",
                                       "acc_mcmc_all", "acc_mcmc_all_but5", "ll_mcmc_this",
                                       "ll_mcmc_all", "ll_mcmc_all_but5"]


def test_sgd_still_writes_libfms_sgd_outputs(u1, tmp_path, capsys):
    rlog = tmp_path / "sgd.rlog"
    assert _libfm_u1(u1, "-iter", "2", "-method", "sgd", "-learn_rate", "0.005",
                     "-regular", "0,0.1,0.1", "-rlog", str(rlog), "-meta", str(u1["meta"])) == 0
    console = capsys.readouterr().out
    assert re.search(r"^Final\tTrain=\S+\tTest=\S+$", console, re.M)
    assert _rlog(rlog)[0] == _rlog(reference("u1.sgd.k8.i150.rlog"))[0]


# -- SGDA, regression: u1 with a tenth of u1.base as -validation ---------------------------------

# libFM 1.4.4's rlog header of -method sgda, -dim 1,1,8, -meta with two groups (users, items)
SGDA_RLOG_HEADER = (["rmse", "mae", "time_pred", "time_learn", "time_learn2", "time_learn4",
                     "rmse_train", "rmse_val", "wmean", "wvar"]
                    + [f"v{m}{f}" for f in range(8) for m in ("mean", "var")]
                    + [n for g in (0, 1) for n in [f"regw[{g}]"]
                       + [f"regv[{g},{f}]" for f in range(8)]])


def test_sgda_u1_reaches_libfms_accuracy(u1, tmp_path, capsys):
    """libFM 1.4.4 -method sgda on this split (a random tenth of u1.base, seed 0, as the
    validation file) reaches a test RMSE of 0.9388 after 100 iterations at -learn_rate
    0.01; 30 iterations here."""
    rows = u1["base"].read_text().splitlines(keepends=True)
    order = np.random.default_rng(0).permutation(len(rows))
    train, val = tmp_path / "train.libfm", tmp_path / "val.libfm"
    val.write_text("".join(rows[i] for i in order[:len(rows) // 10]))
    train.write_text("".join(rows[i] for i in order[len(rows) // 10:]))
    out, rlog = tmp_path / "out.txt", tmp_path / "sgda.rlog"
    assert main(["libfm", "-task", "r", "-train", str(train), "-test", str(u1["test"]),
                 "-validation", str(val), "-method", "sgda", "-dim", "1,1,8", "-iter", "30",
                 "-learn_rate", "0.01", "-seed", "1", "-meta", str(u1["meta"]),
                 "-out", str(out), "-rlog", str(rlog)]) == 0
    console = capsys.readouterr().out
    assert "Using 72000 rows for training model parameters and 8000 for training " \
           "shrinkage." in console
    assert _rmse(np.loadtxt(out), u1["y_test"]) < 0.95
    header, rows = _rlog(rlog)
    assert header == SGDA_RLOG_HEADER and len(rows) == 30
    assert all(float(v) > 0 for v in rows[-1][-18:])  # every learned strength


# -- usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("flags,named", [
    (["-method", "newton"], "newton"),
    (["-method", "sgda"], "needs -validation"),
    (["-regular", "0,1"], "1+2G = 3"),
    (["-regular", "0,1,2,3"], "-regular"),
    (["-method", "als", "-meta", "META", "-regular", "0,1"], "1+2G = 7"),
    (["-method", "mcmc", "-meta", "META", "-regular", "0,1,2,3"], "G = 3 groups from -meta"),
    (["-method", "sgd", "-meta", "META", "-regular", "0,1,2,3,4"], "-method sgd takes 1"),
    (["-method", "sgd", "-regular", "0,1,2,3,4"], "-method sgd takes 1"),
    (["-method", "mcmc", "-load_model", "x"], "-load_model"),
    (["-method", "als", "-kept_samples", "3"], "-kept_samples"),
    (["-kept_samples", "3"], "-kept_samples"),
    (["-do_sampling", "0"], "-do_sampling"),
])
def test_usage_errors_name_the_flag(small, flags, named, capsys):
    flags = [str(small["groups"]) if f == "META" else f for f in flags]
    assert _libfm_small(small, "r", *flags) == 2
    err = capsys.readouterr().err
    assert named in err and "rapidfm libfm: error:" in err and len(err.splitlines()) == 1


def test_bad_meta_files_exit_1(small, tmp_path, capsys):
    short, bad = tmp_path / "short.meta", tmp_path / "bad.meta"
    short.write_text("0\n1\n")
    bad.write_text("0\n1\nx\n")
    n = small["n_features"]
    for path, message in ((short, f"has 2 group ids, but the data have {n} features"),
                          (bad, "line 3: 'x' is not a group id"),
                          (tmp_path / "missing.meta", "No such file")):
        assert _libfm_small(small, "r", "-method", "als", "-iter", "1", "-meta",
                            str(path)) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("rapidfm: error: ") and message in err[-1], err


def test_meta_with_more_ids_than_features_uses_the_first(small, tmp_path, capsys):
    long = tmp_path / "long.meta"
    long.write_text(small["groups"].read_text() + "0\n" * 5)
    rlog = tmp_path / "r.tsv"
    assert _libfm_small(small, "r", "-method", "mcmc", "-iter", "2", "-meta", str(long),
                        "-rlog", str(rlog)) == 0
    header = _rlog(rlog)[0]
    assert "wmu[2]" in header and "wmu[3]" not in header


def test_help_lists_methods_and_differences(capsys):
    assert main(["libfm", "-help"]) == 0
    out = capsys.readouterr().out
    assert "-meta" in out and "mcmc" in out.lower() and "ALS" in out
    assert "Differences from libFM" in out and "-save_model" in out
    assert "-kept_samples" in out


# -- rapidfm train --solver ----------------------------------------------------------------------


def test_train_solver_als_and_mcmc(small, tmp_path, capsys):
    root = small["root"]
    for solver, extra in (("als", ["--reg", "1"]),
                          ("mcmc", ["--feature-groups", str(small["groups"]),
                                    "--n-kept-samples", "6"])):
        model_path = tmp_path / f"{solver}.rfm"
        assert main(["train", str(root / "train.libfm"), "--zero-based", "yes", "--model",
                     str(model_path), "--solver", solver, "--epochs", "10", "--factors", "4",
                     "--seed", "1", "--threads", "1", *extra]) == 0
        err = capsys.readouterr().err
        assert f"solver='{solver}'" in err
        model = rapidfm.load(model_path)
        assert model.solver == solver
        pred_path = tmp_path / f"{solver}.txt"
        assert main(["predict", str(model_path), str(root / "test.libfm"), "--out",
                     str(pred_path)]) == 0
        pred = np.array([float(t) for t in _lines(pred_path)])
        assert _rmse(pred, small["y_test"]) < 0.8 * np.std(small["y_test"])
    assert rapidfm.load(tmp_path / "mcmc.rfm").samples_V_.shape[0] == 6
    assert rapidfm.load(tmp_path / "mcmc.rfm").feature_groups.max() == 2


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_train_probit_classifier_and_predict_metrics(small, solver, tmp_path, capsys):
    root, model_path = small["root"], tmp_path / "c.rfm"
    assert main(["train", str(root / "ctrain.libfm"), "--zero-based", "yes", "--model",
                 str(model_path), "--task", "classification", "--solver", solver,
                 "--epochs", "10", "--factors", "4", "--seed", "1", "--threads", "1",
                 "--quiet"]) == 0
    test = str(root / "ctest.libfm")
    assert main(["predict", str(model_path), test, "--metrics"]) == 0
    report = capsys.readouterr()
    proba = np.array([float(t) for t in report.out.splitlines()])
    _, y = load_svmlight(test, zero_based=True)
    # the log-loss of the probit model's probabilities (not a logistic of its score)
    expected = -np.mean(np.log(np.where(y > 0, proba, 1 - proba)))
    m = re.search(r"log-loss ([\d.]+)\s+accuracy ([\d.]+)", report.err)
    assert m and float(m.group(1)) == pytest.approx(expected, rel=1e-4)
    assert float(m.group(2)) == pytest.approx(np.mean((proba > 0.5) == (y > 0)), abs=1e-6)
    assert main(["predict", str(model_path), test, "--labels"]) == 0
    labels = np.array([float(t) for t in capsys.readouterr().out.splitlines()])
    np.testing.assert_array_equal(labels, np.where(proba > 0.5, 1.0, -1.0))


@pytest.mark.parametrize("extra,named", [
    (["--solver", "mcmc", "--early-stopping"], "--early-stopping"),
    (["--solver", "mcmc", "--reg", "0.1"], "--reg"),
    (["--solver", "als", "--block-rows", "100"], "--block-rows"),
    (["--solver", "sgd", "--feature-groups", "g.txt"], "--feature-groups"),
    (["--solver", "als", "--n-kept-samples", "3"], "--n-kept-samples"),
])
def test_train_solver_usage_errors(small, extra, named, tmp_path, capsys):
    code = main(["train", str(small["root"] / "train.libfm"), "--model",
                 str(tmp_path / "m.rfm"), *extra])
    assert code == 2
    assert named in capsys.readouterr().err


def test_train_solver_choices(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "x", "--model", "m", "--solver", "newton"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
