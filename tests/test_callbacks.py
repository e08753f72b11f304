"""rapidfm.callbacks.ModelCheckpoint: the file holds the best epoch's model (checked by
refitting that many epochs, which is bit-reproducible at n_jobs=1, and by the validation
RMSE of the loaded model written out by hand), and survives interrupted fits and saves."""

import numpy as np
import pytest

import rapidfm
from rapidfm import FMClassifier, FMRegressor, ModelCheckpoint
from rapidfm.datasets import make_planted_fm


@pytest.fixture(scope="module")
def split():
    planted = make_planted_fm(n_samples=3000, n_fields=3, field_cardinality=50,
                              noise_std=0.5, random_state=0)
    return planted.split(2000)


# SGD at a large step overfits these 2000 rows: the validation RMSE is lowest at epoch
# 4 of the 9 that early stopping (n_iter_no_change=5) runs
# shuffle="copy" whatever n_epochs: under "auto" a 1-epoch fit reads the rows in place
# and a 30-epoch one copies them, so its first epoch would visit them in another order
PARAMS = dict(n_factors=16, n_epochs=30, learning_rate=0.1, init_std=0.1, random_state=0,
              n_jobs=1, shuffle="copy")


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def assert_same_parameters(a, b):
    assert float(a.w0_) == float(b.w0_)
    np.testing.assert_array_equal(a.w_, b.w_)
    np.testing.assert_array_equal(a.V_, b.V_)


def test_the_file_holds_the_best_epoch(split, tmp_path):
    X, y, X_val, y_val = split
    path = tmp_path / "best.rfm"
    checkpoint = ModelCheckpoint(path)
    model = FMRegressor(callbacks=[checkpoint], **PARAMS).fit(X, y, eval_set=(X_val, y_val))
    losses = [r["validation_loss"] for r in model.history_]
    best = int(np.argmin(losses)) + 1
    assert 1 < best < len(losses)  # the test needs an interior best epoch
    assert checkpoint.best_epoch_ == best and checkpoint.best_ == min(losses)
    # the epochs that improved on every earlier one, each saved once
    records = np.minimum.accumulate(losses)
    assert checkpoint.n_saves_ == 1 + int(np.sum(records[1:] < records[:-1]))

    saved = rapidfm.load(path)
    assert saved.t_ == best and len(saved.history_) == best
    # the same seed and best epochs, without validation or callbacks: bit for bit
    refit = FMRegressor(**dict(PARAMS, n_epochs=best)).fit(X, y)
    assert_same_parameters(saved, refit)
    assert rmse(saved, X_val, y_val) == pytest.approx(min(losses), rel=1e-9)
    assert saved.callbacks is None  # a callable is not saved
    # the fit itself restored the same epoch (early stopping on the eval_set)
    assert_same_parameters(model, saved)


class Interrupt(Exception):
    pass


def interrupt_at(epoch):
    def callback(estimator, history):
        if history[-1]["epoch"] == epoch:
            raise Interrupt(f"stopped at epoch {epoch}")
    return callback


def test_an_interrupted_fit_leaves_the_best_epoch_so_far(split, tmp_path):
    X, y, X_val, y_val = split
    full = FMRegressor(**PARAMS).fit(X, y, eval_set=(X_val, y_val))
    losses = [r["validation_loss"] for r in full.history_]
    stop = int(np.argmin(losses)) + 3  # two epochs past the best
    best_so_far = int(np.argmin(losses[:stop])) + 1

    path = tmp_path / "ckpt.rfm"
    model = FMRegressor(callbacks=[ModelCheckpoint(path), interrupt_at(stop)], **PARAMS)
    with pytest.raises(Interrupt):
        model.fit(X, y, eval_set=(X_val, y_val), )
    assert not hasattr(model, "V_")  # the estimator is left unfitted ...
    saved = rapidfm.load(path)  # ... the checkpoint is whole and loads
    assert saved.t_ == best_so_far
    assert_same_parameters(saved, FMRegressor(**dict(PARAMS, n_epochs=best_so_far)).fit(X, y))

    # and it goes on: warm_start from the checkpoint trains the remaining epochs
    saved.set_params(warm_start=True, n_epochs=2, callbacks=None).fit(X, y)
    assert saved.t_ == best_so_far + 2


def test_an_interrupted_save_keeps_the_previous_checkpoint(split, tmp_path, monkeypatch):
    X, y, X_val, y_val = split
    from rapidfm import persistence

    write = persistence._write_archive
    calls = []

    def write_then_fail(fh, header, arrays):
        calls.append(1)
        if len(calls) == 2:  # the second save dies half-way through the file
            fh.write(b"PK\x03\x04 partial")
            raise KeyboardInterrupt
        write(fh, header, arrays)

    monkeypatch.setattr(persistence, "_write_archive", write_then_fail)
    path = tmp_path / "ckpt.rfm"
    model = FMRegressor(callbacks=[ModelCheckpoint(path)], **PARAMS)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, eval_set=(X_val, y_val))
    monkeypatch.setattr(persistence, "_write_archive", write)
    saved = rapidfm.load(path)
    assert saved.t_ == 1  # the first improvement's file, intact
    assert_same_parameters(saved, FMRegressor(**dict(PARAMS, n_epochs=1)).fit(X, y))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.rfm"]  # no temporary left


def test_without_validation_rows_it_says_what_to_pass(split, tmp_path):
    X, y, _, _ = split
    model = FMRegressor(callbacks=[ModelCheckpoint(tmp_path / "m.rfm")], **PARAMS)
    with pytest.raises(ValueError, match=r"no validation loss.*eval_set.*early_stopping"):
        model.fit(X, y)
    assert not (tmp_path / "m.rfm").exists()


def test_train_loss_and_save_every_epoch(split, tmp_path):
    X, y, _, _ = split
    path = tmp_path / "m.rfm"
    checkpoint = ModelCheckpoint(path, monitor="train_loss", save_best_only=False)
    FMRegressor(callbacks=[checkpoint], **dict(PARAMS, n_epochs=3)).fit(X, y)
    assert checkpoint.n_saves_ == 3
    assert rapidfm.load(path).t_ == 3  # the latest epoch
    with pytest.raises(ValueError, match="have no 'auc'"):
        FMRegressor(callbacks=[ModelCheckpoint(path, monitor="auc")],
                    **dict(PARAMS, n_epochs=1)).fit(X, y)


def test_mcmc_checkpoint_predicts_its_validation_loss(split, tmp_path):
    """MCMC's validation loss is that of the prediction averaged over the samples so
    far: the saved chain, loaded, predicts exactly that."""
    X, y, X_val, y_val = split
    path = tmp_path / "chain.rfm"
    checkpoint = ModelCheckpoint(path)
    model = FMRegressor(solver="mcmc", n_factors=4, n_epochs=12, random_state=0,
                        callbacks=[checkpoint]).fit(X, y, eval_set=(X_val, y_val))
    losses = [r["validation_loss"] for r in model.history_]
    saved = rapidfm.load(path)
    assert saved.t_ == int(np.argmin(losses)) + 1
    assert rmse(saved, X_val, y_val) == pytest.approx(min(losses), rel=1e-9)


def test_classifier_with_early_stopping(tmp_path):
    planted = make_planted_fm(n_samples=3000, n_fields=3, field_cardinality=50,
                              task="classification", random_state=1)
    X, y, _, _ = planted.split(3000)
    path = tmp_path / "clf.rfm"
    model = FMClassifier(n_factors=8, n_epochs=30, learning_rate=0.2, random_state=0,
                         n_jobs=1, early_stopping=True, callbacks=[ModelCheckpoint(path)])
    model.fit(X, y)
    saved = rapidfm.load(path)
    assert saved.t_ == model.best_epoch_
    assert_same_parameters(saved, model)  # early stopping restored the same epoch
    np.testing.assert_array_equal(saved.predict_proba(X), model.predict_proba(X))


class FakeModel:
    def __init__(self):
        self.saved = []

    def save(self, path):
        self.saved.append(self.epoch)


def run(checkpoint, model, values, history=None):
    history = [] if history is None else history
    for value in values:
        model.epoch = len(history) + 1
        history.append({"epoch": model.epoch, "validation_loss": value})
        assert checkpoint(model, history) is False  # never stops training
    return history


def test_which_epochs_are_saved():
    checkpoint, model = ModelCheckpoint("unused"), FakeModel()
    history = run(checkpoint, model, [3.0, 2.0, 2.5, 2.0, 1.0])
    assert model.saved == [1, 2, 5]  # a tie is not an improvement
    assert (checkpoint.best_, checkpoint.best_epoch_) == (1.0, 5)
    run(checkpoint, model, [1.5, 0.5], history)  # a warm-start fit goes on from best_
    assert model.saved == [1, 2, 5, 7]
    fresh = FakeModel()
    run(checkpoint, fresh, [9.0])  # a new fit (one record) starts over
    assert fresh.saved == [1] and checkpoint.best_ == 9.0

    delta, model = ModelCheckpoint("unused", min_delta=0.5), FakeModel()
    run(delta, model, [3.0, 2.7, 2.4, 1.0])
    assert model.saved == [1, 3, 4]


def test_parameters_are_checked():
    with pytest.raises(TypeError, match="path"):
        ModelCheckpoint(3)
    with pytest.raises(ValueError, match="min_delta"):
        ModelCheckpoint("m.rfm", min_delta=-1)
    with pytest.raises(TypeError, match="save_best_only"):
        ModelCheckpoint("m.rfm", save_best_only="yes")
    assert "ModelCheckpoint(path='m.rfm'" in repr(ModelCheckpoint("m.rfm"))
    assert rapidfm.callbacks.ModelCheckpoint is ModelCheckpoint


def test_estimators_with_a_checkpoint_clone_and_pickle(tmp_path):
    import pickle

    pytest.importorskip("sklearn")
    from sklearn.base import clone

    model = FMRegressor(callbacks=[ModelCheckpoint(tmp_path / "m.rfm")])
    copy = clone(model)
    assert copy.callbacks[0].path == tmp_path / "m.rfm"
    assert pickle.loads(pickle.dumps(model)).callbacks[0].monitor == "validation_loss"
