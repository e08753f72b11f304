"""rapidfm.plot_history and `rapidfm train --plot`: the figure's lines, labels and data,
rendered with the Agg backend (no display)."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest

import rapidfm
from rapidfm import FMClassifier, FMRegressor
from rapidfm.cli import main
from rapidfm.datasets import make_planted_fm
from rapidfm.io import dump_svmlight


def _no_matplotlib(monkeypatch):
    """Make `import matplotlib` fail as it does where it is not installed."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_import_rapidfm_does_not_import_matplotlib():
    code = ("import sys, rapidfm; f = rapidfm.plot_history; "
            "import rapidfm.plotting; assert callable(f); "
            "print('matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert "plot_history" in dir(rapidfm) and "plot_history" in rapidfm.__all__


def test_missing_matplotlib_names_the_extra(monkeypatch):
    model = FMRegressor(n_epochs=1).fit(np.eye(4), np.arange(4.0))
    _no_matplotlib(monkeypatch)
    with pytest.raises(ImportError, match=r'pip install "rapidfm\[plot\]"'):
        rapidfm.plot_history(model)


# -- with matplotlib (skipped without it) -------------------------------------------------

try:
    import matplotlib
except ImportError:
    matplotlib = None
else:
    matplotlib.use("Agg", force=True)  # no display needed
    import matplotlib.image
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

needs_matplotlib = pytest.mark.skipif(
    matplotlib is None, reason='matplotlib is not installed (pip install "rapidfm[plot]")')


@pytest.fixture(scope="module")
def data():
    planted = make_planted_fm(n_samples=1500, n_fields=3, field_cardinality=20, n_factors=2,
                              noise_std=0.3, random_state=5)
    return planted.split(1200)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if matplotlib is not None and "matplotlib.pyplot" in sys.modules:
        plt.close("all")


def _lines(ax):
    lines = ax.get_lines()
    assert all(isinstance(line, Line2D) for line in lines)
    return lines


def _by_label(ax):
    return {line.get_label(): line for line in _lines(ax)}


def _render(ax, path):
    ax.figure.savefig(path, format="png")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert np.ptp(image[..., :3]) > 0  # not a blank canvas
    return image


@needs_matplotlib
def test_regressor_with_validation(data, tmp_path):
    X_tr, y_tr, X_te, y_te = data
    model = FMRegressor(solver="sgd",
                        n_factors=4, n_epochs=6, learning_rate=0.05, n_iter_no_change=100,
                        random_state=0)
    model.fit(X_tr, y_tr, eval_set=(X_te, y_te))
    ax = rapidfm.plot_history(model)
    _render(ax, tmp_path / "one.png")

    lines = _by_label(ax)
    assert list(lines) == ["FMRegressor sgd train", "FMRegressor sgd validation"]
    epochs = [record["epoch"] for record in model.history_]
    assert epochs == [1, 2, 3, 4, 5, 6]
    train = [math.sqrt(record["train_loss"]) for record in model.history_]
    validation = [record["validation_loss"] for record in model.history_]
    # the validation losses are RMSEs: the model holds the best epoch's parameters
    rmse = math.sqrt(np.mean((model.predict(X_te) - y_te) ** 2))
    assert validation[model.best_epoch_ - 1] == pytest.approx(rmse, rel=1e-5)
    for label, ys in (("FMRegressor sgd train", train),
                      ("FMRegressor sgd validation", validation)):
        np.testing.assert_array_equal(lines[label].get_xdata(), epochs)
        np.testing.assert_allclose(lines[label].get_ydata(), ys, rtol=1e-12)
    assert lines["FMRegressor sgd train"].get_linestyle() == "-"
    assert lines["FMRegressor sgd validation"].get_linestyle() == "--"
    assert (lines["FMRegressor sgd train"].get_color()
            == lines["FMRegressor sgd validation"].get_color())
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "RMSE"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["FMRegressor sgd train", "FMRegressor sgd validation"]


@needs_matplotlib
def test_two_models_four_lines_and_seconds(data, tmp_path):
    X_tr, y_tr, X_te, y_te = data
    sgd = FMRegressor(solver="sgd",
                      n_factors=4, n_epochs=5, learning_rate=0.05, n_iter_no_change=100,
                      random_state=0)
    als = FMRegressor(solver="als", n_factors=4, n_epochs=3, reg_linear=1.0, reg_factors=1.0,
                      n_iter_no_change=100, random_state=0)
    for model in (sgd, als):
        model.fit(X_tr, y_tr, eval_set=(X_te, y_te))
    fig = Figure()
    ax = fig.add_subplot()
    assert rapidfm.plot_history([sgd, als], ax=ax, x="seconds") is ax
    _render(ax, tmp_path / "two.png")

    lines = _by_label(ax)
    assert len(_lines(ax)) == 4
    assert list(lines) == ["FMRegressor sgd train", "FMRegressor sgd validation",
                           "FMRegressor als train", "FMRegressor als validation"]
    for model in (sgd, als):
        name = f"FMRegressor {model.solver}"
        seconds = np.cumsum([record["seconds"] for record in model.history_])
        assert len(seconds) == model.n_epochs and np.all(np.diff(seconds) >= 0)
        for part, key, metric in (("train", "train_loss", math.sqrt),
                                  ("validation", "validation_loss", float)):
            line = lines[f"{name} {part}"]
            np.testing.assert_allclose(line.get_xdata(), seconds, rtol=1e-12)
            np.testing.assert_allclose(line.get_ydata(),
                                       [metric(r[key]) for r in model.history_], rtol=1e-12)
    # one colour per model
    assert lines["FMRegressor sgd train"].get_color() != lines["FMRegressor als train"].get_color()
    assert ax.get_xlabel() == "training time (s, cumulative)"
    assert ax.get_ylabel() == "RMSE"


@needs_matplotlib
def test_labels_which_and_classifier(data):
    X_tr, y_tr, X_te, y_te = data
    cut = np.median(y_tr)
    a = FMClassifier(solver="sgd", n_factors=2, n_epochs=4, learning_rate=0.05, random_state=1)
    b = FMClassifier(solver="sgd", n_factors=2, n_epochs=3, learning_rate=0.05, random_state=2)
    a.fit(X_tr, y_tr > cut)
    b.fit(X_tr, y_tr > cut)

    ax = rapidfm.plot_history([a, b])  # no validation: train lines only, numbered names
    assert [line.get_label() for line in _lines(ax)] == [
        "FMClassifier sgd (1) train", "FMClassifier sgd (2) train"]
    assert ax.get_ylabel() == "log-loss"
    np.testing.assert_array_equal(_lines(ax)[1].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(_lines(ax)[0].get_ydata(),
                               [r["train_loss"] for r in a.history_], rtol=1e-12)

    ax = rapidfm.plot_history([a, b], labels=["small", "other"], which="train")
    assert [line.get_label() for line in _lines(ax)] == ["small train", "other train"]

    with pytest.raises(ValueError, match="no validation loss"):
        rapidfm.plot_history(a, which=("validation",))
    with pytest.raises(ValueError, match="labels has 1 entries for 2 models"):
        rapidfm.plot_history([a, b], labels=["one"])
    with pytest.raises(ValueError, match="which must name"):
        rapidfm.plot_history(a, which=("test",))
    with pytest.raises(ValueError, match="x must be"):
        rapidfm.plot_history(a, x="rows")
    regressor = FMRegressor(n_epochs=1).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="regressors .* classifiers"):
        rapidfm.plot_history([a, regressor])


@needs_matplotlib
def test_warm_start_continues_epochs_and_validation_only_where_recorded(data):
    X_tr, y_tr, X_te, y_te = data
    model = FMRegressor(n_factors=2, n_epochs=2, learning_rate=0.05, random_state=0)
    model.fit(X_tr, y_tr)  # no validation for epochs 1-2
    model.set_params(warm_start=True, n_epochs=3, n_iter_no_change=100)
    model.fit(X_tr, y_tr, eval_set=(X_te, y_te))
    ax = rapidfm.plot_history(model, labels="warm")
    lines = _by_label(ax)
    np.testing.assert_array_equal(lines["warm train"].get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(lines["warm validation"].get_xdata(), [3, 4, 5])
    np.testing.assert_allclose(lines["warm validation"].get_ydata(),
                               [r["validation_loss"] for r in model.history_[2:]], rtol=1e-12)


@needs_matplotlib
def test_unfitted_and_empty_history_are_clear_errors(data, tmp_path):
    from rapidfm._sklearn_compat import NotFittedError

    with pytest.raises(NotFittedError, match="FMRegressor instance is not fitted"):
        rapidfm.plot_history(FMRegressor())
    with pytest.raises(NotFittedError):
        rapidfm.plot_history([FMRegressor(n_epochs=1).fit(data[0], data[1]), FMRegressor()])
    X_tr, y_tr, _, _ = data
    path = tmp_path / "m.libfm"
    rapidfm.io.save_libfm_model(FMRegressor(n_epochs=1).fit(X_tr, y_tr), path)
    loaded = rapidfm.io.load_libfm_model(path, task="regression")
    with pytest.raises(ValueError, match="empty history_"):
        rapidfm.plot_history(loaded)
    with pytest.raises(ValueError, match="at least one model"):
        rapidfm.plot_history([])
    with pytest.raises(TypeError, match="FMRegressor / FMClassifier"):
        rapidfm.plot_history(object())


# -- rapidfm train --plot -------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("plot_cli")
    X_tr, y_tr, X_te, y_te = data
    dump_svmlight(X_tr, y_tr, root / "train.svm", zero_based=False)
    dump_svmlight(X_te, y_te, root / "valid.svm", zero_based=False)
    return root


@needs_matplotlib
def test_cli_train_plot(files, tmp_path, capsys, monkeypatch):
    import rapidfm.plotting as plotting

    drawn = []
    original = plotting.plot_history

    def spy(models, **kwargs):
        ax = original(models, **kwargs)
        drawn.append(ax)
        return ax

    monkeypatch.setattr(plotting, "plot_history", spy)
    model_path, plot_path = tmp_path / "m.rfm", tmp_path / "curves.png"
    argv = ["train", str(files / "train.svm"), "--model", str(model_path), "--epochs", "4",
            "--learning-rate", "0.05", "--seed", "3", "--threads", "1",
            "--validation", str(files / "valid.svm"), "--plot", str(plot_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"wrote {plot_path}" in err
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(plot_path)
    assert image.shape[:2] == (480, 640) and np.ptp(image[..., :3]) > 0
    assert not list(tmp_path.glob(".curves.png.*"))  # no temporary file left

    # the figure holds the saved model's history
    model = rapidfm.load(model_path)
    assert len(drawn) == 1
    ax = drawn[0]
    lines = _by_label(ax)
    assert list(lines) == ["FMRegressor adagrad train", "FMRegressor adagrad validation"]
    epochs = [r["epoch"] for r in model.history_]
    assert epochs == [1, 2, 3, 4]
    np.testing.assert_array_equal(lines["FMRegressor adagrad train"].get_xdata(), epochs)
    np.testing.assert_allclose(lines["FMRegressor adagrad train"].get_ydata(),
                               [math.sqrt(r["train_loss"]) for r in model.history_],
                               rtol=1e-12)
    np.testing.assert_allclose(lines["FMRegressor adagrad validation"].get_ydata(),
                               [r["validation_loss"] for r in model.history_], rtol=1e-12)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "RMSE")

    # an existing plot is replaced atomically, svg by extension
    svg = tmp_path / "curves.svg"
    assert main(argv[:-1] + [str(svg), "--quiet"]) == 0
    assert b"<svg" in svg.read_bytes()[:500]


@needs_matplotlib
@pytest.mark.parametrize("plot,pattern,exit_code", [
    ("curves.nope", r"rapidfm train: error: .*the name must end in one of .*\.png", 2),
    ("missing_folder/curves.png", r"rapidfm: error: --plot .*does not exist", 1),
])
def test_cli_plot_bad_path_fails_before_training(files, tmp_path, capsys, plot, pattern,
                                                  exit_code):
    model_path = tmp_path / "m.rfm"
    code = main(["train", str(files / "train.svm"), "--model", str(model_path),
                 "--epochs", "2", "--plot", str(tmp_path / plot)])
    assert code == exit_code
    err = capsys.readouterr().err
    assert re.search(pattern, err), err
    assert "Traceback" not in err
    assert not model_path.exists()


def test_cli_plot_without_matplotlib(files, tmp_path, capsys, monkeypatch):
    _no_matplotlib(monkeypatch)
    model_path = tmp_path / "m.rfm"
    code = main(["train", str(files / "train.svm"), "--model", str(model_path),
                 "--epochs", "2", "--plot", str(tmp_path / "c.png")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--plot needs matplotlib" in err and 'pip install "rapidfm[plot]"' in err
    assert not model_path.exists() and not (tmp_path / "c.png").exists()

