"""What the `rapidfm` command tells its user: AUC in --metrics, the task --task auto
picks, progress lines in log files and --verbose, libffm fields that an FM ignores,
and errors about feature numbering in the command's own terms."""

import io
import re

import numpy as np
import pytest
from conftest import data_path

from rapidfm._cli_commands import roc_auc
from rapidfm.cli import build_parser, main
from rapidfm.datasets import make_planted_fm
from rapidfm.io import dump_libffm, dump_svmlight, load_svmlight


def _naive_auc(scores, positive):
    """Every (positive, negative) pair: 1 when the positive scores higher, 1/2 on a tie."""
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


@pytest.mark.parametrize("seed", range(4))
def test_roc_auc_is_the_pairwise_probability(seed):
    rng = np.random.default_rng(seed)
    n = 300
    positive = rng.random(n) < 0.3
    scores = np.round(rng.normal(size=n) + positive, 1)  # rounded: many ties
    assert roc_auc(scores, positive) == pytest.approx(_naive_auc(scores, positive), abs=1e-12)


def test_roc_auc_edge_cases():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert roc_auc([1.0, 2.0], [False, True]) == 1.0
    assert roc_auc([1.0, 2.0], [True, False]) == 0.0
    assert roc_auc([3.0, 3.0, 3.0], [True, False, True]) == 0.5
    assert roc_auc([1.0, 2.0], [True, True]) is None


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    data = make_planted_fm(n_samples=2000, n_fields=3, field_cardinality=30,
                           task="classification", random_state=5)
    X, y = data.X, data.y
    files = {"root": root}
    for name, labels in (("pm1", 2 * y - 1), ("01", y), ("12", y + 1),
                         ("real", y + np.linspace(0, 1, y.size))):
        files[name] = root / f"{name}.svm"
        dump_svmlight(X, labels, files[name], zero_based=False)  # one-based
    files["zero"] = root / "zero.svm"
    dump_svmlight(X, y, files["zero"], zero_based=True)  # holds index 0
    fields = np.tile(np.arange(3, dtype=np.int32), X.shape[0])  # one field per one-hot block
    files["ffm"] = root / "data.ffm"
    dump_libffm(X, fields, y, files["ffm"])
    return files


def _train(path, model, *extra):
    return main(["train", str(path), "--model", str(model), "--epochs", "3", "--seed", "1",
                 "--threads", "1", "--learning-rate", "0.05", *extra])


def test_metrics_report_auc(planted, tmp_path, capsys):
    model = tmp_path / "m.rfm"
    assert _train(planted["01"], model, "--task", "classification") == 0
    out = tmp_path / "p.txt"
    assert main(["predict", str(model), str(planted["01"]), "--out", str(out),
                 "--metrics"]) == 0
    reported = float(re.search(r"AUC ([\d.]+)", capsys.readouterr().err).group(1))
    p = np.loadtxt(out)
    _, y = load_svmlight(planted["01"])
    assert reported == pytest.approx(_naive_auc(p, y == 1), abs=5e-6)  # 6 digits shown
    assert reported > 0.6


def test_metrics_auc_on_a9a_matches_scikit_learn(tmp_path, capsys):
    roc_auc_score = pytest.importorskip("sklearn.metrics").roc_auc_score
    train, test = data_path("a9a", "a9a"), data_path("a9a", "a9a.t")
    model, out = tmp_path / "a9a.rfm", tmp_path / "p.txt"
    assert _train(train, model, "--task", "classification") == 0
    assert main(["predict", str(model), str(test), "--out", str(out), "--metrics"]) == 0
    err = capsys.readouterr().err
    reported = float(re.search(r"AUC ([\d.]+)", err).group(1))
    _, y = load_svmlight(test)
    assert reported == pytest.approx(roc_auc_score(y == 1, np.loadtxt(out)), abs=5e-6)
    assert reported > 0.85
    # a9a.t lacks a9a's last feature: read at the model's width, and said so
    assert "a9a.t has 122 features (largest index + 1), read as the model's 123" in err


@pytest.mark.parametrize("name,expected,said", [
    ("pm1", "FMClassifier", r"task: classification \(--task auto: the labels are -1 and 1"),
    ("01", "FMClassifier", r"task: classification \(--task auto: the labels are 0 and 1"),
    ("real", "FMRegressor", None),
    ("12", "FMRegressor", r"warning: the labels take only two values, 1 and 2"),
])
def test_task_auto_follows_the_labels(planted, tmp_path, capsys, name, expected, said):
    assert _train(planted[name], tmp_path / "m.rfm") == 0
    err = capsys.readouterr().err
    assert f"trained {expected}(" in err
    if said is None:
        assert "task:" not in err and "warning" not in err
    else:
        assert re.search(said, err), err
    # an explicit --task is obeyed and not commented on
    other = "regression" if expected == "FMClassifier" else "classification"
    if name in ("pm1", "01", "12"):
        assert _train(planted[name], tmp_path / "n.rfm", "--task", other) == 0
        err = capsys.readouterr().err
        assert "task:" not in err and "warning" not in err
        assert f"trained {'FMRegressor' if other == 'regression' else 'FMClassifier'}(" in err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_prints_every_epoch_on_a_terminal(planted, tmp_path, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _train(planted["real"], tmp_path / "m.rfm", "--epochs", "4", "--verbose") == 0
    text = terminal.getvalue()
    assert "\r" not in text
    lines = re.findall(r"^epoch (\d)/4  train RMSE [\d.]+  [\d,]+ rows/s  elapsed", text, re.M)
    assert lines == ["1", "2", "3", "4"], text


def test_progress_lines_in_a_log_file_keep_every_epoch(planted, tmp_path):
    """The stream of `--progress 2> log`: a file, not a terminal."""
    from rapidfm._progress import EpochProgress

    log = tmp_path / "log.txt"
    with open(log, "w") as stream:
        with EpochProgress(30, "RMSE", float, stream=stream, interval=60.0) as progress:
            history = []
            for epoch in range(30):
                history.append({"train_loss": 1.0 / (epoch + 1), "rows_per_second": 10.0})
                progress(None, history)
    lines = log.read_text().splitlines()
    assert [int(line.split()[1].split("/")[0]) for line in lines] == list(range(1, 31))
    assert lines[-1].startswith("epoch 30/30  train RMSE 0.0333")


def test_training_on_libffm_says_the_fields_are_ignored(planted, tmp_path, capsys):
    assert _train(planted["ffm"], tmp_path / "m.rfm") == 0
    err = capsys.readouterr().err
    assert re.search(r"data\.ffm holds libffm fields; rapidfm trains a plain FM, which "
                     r"ignores them", err), err
    cache = tmp_path / "ffm.cache"
    assert main(["convert", str(planted["ffm"]), str(cache)]) == 0
    assert _train(cache, tmp_path / "c.rfm") == 0
    assert "ignores them" in capsys.readouterr().err
    assert _train(planted["01"], tmp_path / "s.rfm") == 0
    assert "ignores them" not in capsys.readouterr().err


def test_predict_numbering_error_names_the_model_not_a_python_argument(planted, tmp_path,
                                                                        capsys):
    model = tmp_path / "m.rfm"
    assert _train(planted["01"], model) == 0  # one-based
    capsys.readouterr()
    assert main(["predict", str(model), str(planted["zero"]), "--out", "-"]) == 1
    err = capsys.readouterr().err
    assert "zero_based" not in err
    assert re.search(r"zero\.svm: data row \d+ has feature index 0, but the model .*m\.rfm "
                     r"numbers features from 1 .*does not fit the model.*--zero-based yes",
                     err), err
    assert len(err.strip().splitlines()) == 1


def test_numbering_errors_of_train_and_convert_use_the_flags(planted, tmp_path, capsys):
    assert _train(planted["01"], tmp_path / "v.rfm", "--validation", str(planted["zero"])) == 1
    err = capsys.readouterr().err
    assert "zero_based" not in err
    assert re.search(r"zero\.svm: data row \d+ has feature index 0, but the training file "
                     r".*01\.svm was read as numbered from 1", err), err

    assert _train(planted["zero"], tmp_path / "z.rfm", "--zero-based", "no") == 1
    err = capsys.readouterr().err
    assert "zero_based" not in err and "--zero-based no reads it as numbered from 1" in err

    assert main(["convert", str(planted["zero"]), str(tmp_path / "z.cache"),
                 "--zero-based", "no"]) == 1
    err = capsys.readouterr().err
    assert "zero_based" not in err
    assert re.search(r"zero\.svm: has feature index 0, but --zero-based no", err), err


def test_demo_help_shows_a_single_percent_sign(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--help"])
    out = capsys.readouterr().out
    assert "on 90% of it" in " ".join(out.split()) and "%%" not in out
