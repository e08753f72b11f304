"""Model lifecycle (training part): warm_start, partial_fit, early stopping with
eval_set or a held-out split, sample_weight / class_weight, and what verbose and
callbacks see of it."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import data_path
from reference import (
    ML100K_EARLY_STOPPING_MAX_RMSE,
    ML100K_EARLY_STOPPING_SETTINGS,
    ML100K_SETTINGS,
    logloss,
    naive_fm_predict,
    rmse,
    sigmoid,
)

import rapidfm
from rapidfm import DivergenceError, FMClassifier, FMRegressor
from rapidfm.datasets import load_movielens, make_planted_fm

ESTIMATORS = [FMRegressor, FMClassifier]


@pytest.fixture(scope="module")
def small():
    data = make_planted_fm(n_samples=4000, n_fields=3, field_cardinality=10, n_factors=2,
                           noise_std=0.3, zipf_exponent=0.0, random_state=1)
    return data.split(3000)


def targets(cls, y):
    return y if cls is FMRegressor else np.where(y > np.median(y), "hi", "lo")


def assert_same_model(a, b):
    assert a.w0_ == b.w0_
    np.testing.assert_array_equal(a.w_, b.w_)
    np.testing.assert_array_equal(a.V_, b.V_)


def overfitting_data(seed=0):
    """1000 rows for 90 one-hot features and 8 factors without regularisation: the
    validation loss falls for about 6 epochs, then rises (X_tr, y_tr, X_val, y_val)."""
    data = make_planted_fm(n_samples=2000, n_fields=3, field_cardinality=30, n_factors=2,
                           noise_std=0.5, zipf_exponent=0.5, random_state=seed)
    return data.split(1000)


OVERFIT = dict(n_factors=8, learning_rate=0.05, init_std=0.1, random_state=0)


# -- warm_start -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_warm_start_5_plus_5_is_10_epochs_bit_for_bit(small, cls, schedule, dtype):
    X_tr, y_tr, _, _ = small
    y = targets(cls, y_tr)
    kw = dict(n_factors=4, learning_rate=0.03, schedule=schedule, random_state=11, n_jobs=1,
              dtype=dtype)
    ten = cls(n_epochs=10, **kw).fit(X_tr, y)
    warm = cls(n_epochs=5, warm_start=True, **kw).fit(X_tr, y)
    five = (warm.w0_, warm.V_.copy())
    assert warm.fit(X_tr, y) is warm
    assert_same_model(warm, ten)
    assert warm.t_ == ten.t_ == 10 and warm.n_iter_ == 5 and ten.n_iter_ == 10
    assert [h["epoch"] for h in warm.history_] == list(range(1, 11))
    assert [h["learning_rate"] for h in warm.history_] == [h["learning_rate"]
                                                           for h in ten.history_]
    # the second fit really went on from the first (it did not start again)
    assert warm.w0_ != five[0] and not np.array_equal(warm.V_, five[1])
    # 3 + 3 + 4 as well, and a plain refit is back at 5 epochs' model
    again = cls(n_epochs=3, warm_start=True, **kw).fit(X_tr, y).fit(X_tr, y)
    again.set_params(n_epochs=4).fit(X_tr, y)
    assert_same_model(again, ten)
    cold = cls(n_epochs=5, **kw).fit(X_tr, y)
    cold.fit(X_tr, y)
    assert cold.t_ == 5 and not np.array_equal(cold.V_, ten.V_)


def test_warm_start_invscaling_continues_the_schedule(small):
    X_tr, y_tr, _, _ = small
    model = FMRegressor(n_factors=2, n_epochs=3, learning_rate=0.04, schedule="invscaling",
                        power_t=0.5, warm_start=True, random_state=0)
    model.fit(X_tr, y_tr).fit(X_tr, y_tr)
    rates = [h["learning_rate"] for h in model.history_]
    np.testing.assert_allclose(rates, [0.04 / np.sqrt(1 + t) for t in range(6)], rtol=1e-15)


def test_warm_start_continues_the_random_stream_of_random_state_none(small):
    """random_state=None draws a seed once; the continuation uses it (random_seed_)."""
    X_tr, y_tr, _, _ = small
    warm = FMRegressor(n_factors=3, n_epochs=4, warm_start=True, n_jobs=1).fit(X_tr, y_tr)
    seed = warm.random_seed_
    assert isinstance(seed, int) and 0 <= seed < 2**63
    warm.fit(X_tr, y_tr)
    assert warm.random_seed_ == seed
    same = FMRegressor(n_factors=3, n_epochs=8, random_state=seed, n_jobs=1).fit(X_tr, y_tr)
    assert_same_model(warm, same)
    other = FMRegressor(n_factors=3, n_epochs=4, n_jobs=1).fit(X_tr, y_tr)
    assert other.random_seed_ != seed


def test_warm_start_on_an_unfitted_estimator_is_a_plain_fit(small):
    X_tr, y_tr, _, _ = small
    kw = dict(n_factors=3, n_epochs=4, random_state=2, n_jobs=1)
    assert_same_model(FMRegressor(warm_start=True, **kw).fit(X_tr, y_tr),
                      FMRegressor(**kw).fit(X_tr, y_tr))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_warm_start_refuses_other_features_classes_or_factors(small, cls):
    X_tr, y_tr, _, _ = small
    y = targets(cls, y_tr)
    model = cls(n_factors=3, n_epochs=2, warm_start=True, random_state=0).fit(X_tr, y)
    before = (model.w0_, model.V_.copy(), model.t_)
    with pytest.raises(ValueError, match=r"warm_start=True.*same features"):
        model.fit(X_tr[:, :20], y)
    if cls is FMClassifier:
        with pytest.raises(ValueError, match=r"warm_start=True.*classes"):
            model.fit(X_tr, np.where(y == "hi", "up", "lo"))
    with pytest.raises(ValueError, match="n_factors"):
        model.set_params(n_factors=4).fit(X_tr, y)
    # the fitted model is untouched by the refusals
    assert (model.w0_, model.t_) == (before[0], before[2])
    np.testing.assert_array_equal(model.V_, before[1])
    # warm_start=False fits afresh on the new shape
    model.set_params(warm_start=False).fit(X_tr[:, :20], y)
    assert model.n_features_in_ == 20 and model.V_.shape == (20, 4) and model.t_ == 2


def test_failed_warm_start_fit_keeps_the_previous_model(small):
    X_tr, y_tr, X_te, _ = small
    model = FMRegressor(n_factors=3, n_epochs=2, warm_start=True, random_state=0,
                        clip_predictions=False).fit(X_tr, y_tr)
    before = model.predict(X_te)
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    model.set_params(learning_rate=1e9)
    with pytest.raises(DivergenceError):
        model.fit(X_tr, y_tr * 1e3)
    np.testing.assert_array_equal(model.predict(X_te), before)
    assert model.t_ == 2 and len(model.history_) == 2
    assert set(k for k in vars(model) if k.endswith("_")) == set(state)
    # while a failed fresh fit leaves the estimator unfitted (as before)
    model.set_params(warm_start=False)
    with pytest.raises(DivergenceError):
        model.fit(X_tr, y_tr * 1e3)
    assert not hasattr(model, "V_") and not hasattr(model, "t_")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_saved_model_goes_on_training_bit_for_bit(small, tmp_path, cls):
    """The training state is in public fitted attributes, which model files keep."""
    X_tr, y_tr, _, _ = small
    y = targets(cls, y_tr)
    kw = dict(n_factors=3, n_epochs=3, learning_rate=0.03, schedule="invscaling",
              warm_start=True, n_jobs=1)  # random_state=None: the seed lives in the model
    model = cls(**kw).fit(X_tr, y)
    path = tmp_path / "model.rfm"
    try:
        model.save(path)
    except NotImplementedError:
        pytest.skip("model files are not implemented")
    loaded = rapidfm.load(path)
    assert loaded.t_ == 3 and loaded.random_seed_ == model.random_seed_
    model.fit(X_tr, y)
    loaded.fit(X_tr, y)
    assert_same_model(loaded, model)
    model.partial_fit(X_tr[:500], y[:500])
    loaded.partial_fit(X_tr[:500], y[:500])
    assert_same_model(loaded, model)
    assert loaded.t_ == 7


# -- partial_fit ----------------------------------------------------------------------------

def test_partial_fit_over_all_rows_equals_fit_bit_for_bit(small):
    """One partial_fit call is one epoch of fit without a copy (shuffle="epoch", what
    partial_fit does under "auto"): same initialisation, seeds and schedule."""
    X_tr, y_tr, _, _ = small
    kw = dict(n_factors=4, learning_rate=0.03, schedule="invscaling", random_state=5, n_jobs=1,
              shuffle="epoch")
    stream = FMRegressor(**kw)
    for _ in range(4):
        assert stream.partial_fit(X_tr, y_tr) is stream
        assert stream.n_iter_ == 1
    assert stream.t_ == 4 and len(stream.history_) == 4
    assert_same_model(stream, FMRegressor(n_epochs=4, **kw).fit(X_tr, y_tr))
    # and partial_fit goes on from a fitted model, whatever warm_start says
    more = FMRegressor(n_epochs=2, **kw).fit(X_tr, y_tr)
    more.partial_fit(X_tr, y_tr)
    more.partial_fit(X_tr, y_tr)
    assert_same_model(more, stream)


def test_partial_fit_invscaling_advances_once_per_call(small):
    X_tr, y_tr, _, _ = small
    model = FMRegressor(n_factors=2, learning_rate=0.05, schedule="invscaling", power_t=0.7,
                        random_state=0)
    for a in range(0, 3000, 500):
        model.partial_fit(X_tr[a:a + 500], y_tr[a:a + 500])
    rates = [h["learning_rate"] for h in model.history_]
    np.testing.assert_allclose(rates, [0.05 / (1 + t) ** 0.7 for t in range(6)], rtol=1e-15)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3, 4, 5, 6]


def test_partial_fit_regressor_clip_range_covers_every_chunk():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    model = FMRegressor(solver="sgd", n_factors=2, random_state=0)
    model.partial_fit(X[:100], rng.uniform(0, 1, 100))
    assert 0 <= model.y_min_ < model.y_max_ <= 1
    model.partial_fit(X[100:], rng.uniform(5, 6, 100))
    assert model.y_min_ < 0.1 and model.y_max_ > 5.9


def test_partial_fit_classifier_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=300) > 0, "yes", "no")
    model = FMClassifier(n_factors=2, learning_rate=0.05, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed to the first call"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match="exactly 2 labels"):
        model.partial_fit(X, y, classes=["yes", "no", "maybe"])
    with pytest.raises(ValueError, match=r"labels \['no'\] that are not in classes"):
        model.partial_fit(X, y, classes=["yes", "perhaps"])
    assert not hasattr(model, "V_")
    # a first chunk with one class only is fine: classes says what the stream holds
    only_no = y == "no"
    model.partial_fit(X[only_no][:50], y[only_no][:50], classes=np.array(["yes", "no"]))
    assert list(model.classes_) == ["no", "yes"]
    assert abs(model.w0_) < 5  # a smoothed base rate, not the log-odds of 0
    for _ in range(20):
        model.partial_fit(X, y)  # classes may be omitted later
    model.partial_fit(X, y, classes=["no", "yes"])  # or repeated
    assert model.score(X, y) > 0.85
    with pytest.raises(ValueError, match="differs from the classes"):
        model.partial_fit(X, y, classes=["no", "maybe"])
    with pytest.raises(ValueError, match="not in classes"):
        model.partial_fit(X, np.where(y == "yes", "yes", "maybe"))
    with pytest.raises(ValueError, match="X has 3 features, but FMClassifier is expecting 4"):
        model.partial_fit(X[:, :3], y)
    with pytest.raises(ValueError, match="balanced.*not supported by partial_fit"):
        model.set_params(class_weight="balanced").partial_fit(X, y)
    assert model.t_ == 22


def test_failed_partial_fit_keeps_the_model():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=100)
    model = FMRegressor(n_factors=2, random_state=0, clip_predictions=False)
    model.partial_fit(X, y)
    before = model.predict(X)
    with pytest.raises(DivergenceError):
        model.set_params(learning_rate=1e9).partial_fit(X * 100, y * 1e4)
    np.testing.assert_array_equal(model.predict(X), before)
    assert model.t_ == 1


def stream(model, X, y, n_chunks, n_passes, **kw):
    bounds = np.linspace(0, X.shape[0], n_chunks + 1).astype(int)
    for _ in range(n_passes):
        for a, b in zip(bounds[:-1], bounds[1:]):
            model.partial_fit(X[a:b], y[a:b], **kw)
    return model


def test_stream_of_chunks_reaches_fit_accuracy_planted_regression():
    data = make_planted_fm(n_samples=60_000, n_fields=4, field_cardinality=30, n_factors=4,
                           noise_std=0.5, zipf_exponent=0.5, random_state=3)
    X_tr, y_tr, X_te, y_te = data.split(50_000)
    kw = dict(n_factors=8, learning_rate=0.02, schedule="constant", random_state=0, n_jobs=1)
    fitted = rmse(FMRegressor(n_epochs=5, **kw).fit(X_tr, y_tr).predict(X_te), y_te)
    streamed_model = stream(FMRegressor(**kw), X_tr, y_tr, n_chunks=10, n_passes=5)
    streamed = rmse(streamed_model.predict(X_te), y_te)
    assert streamed_model.t_ == 50
    assert abs(streamed / fitted - 1) <= 0.02, (fitted, streamed)
    assert streamed < 0.5 * np.std(y_te)  # and both learned the planted model
    assert fitted <= 1.1 * data.noise_floor


def test_stream_of_chunks_reaches_fit_accuracy_planted_classification():
    data = make_planted_fm(n_samples=60_000, n_fields=4, field_cardinality=20, n_factors=4,
                           zipf_exponent=0.5, task="classification", random_state=3)
    X_tr, y_tr, X_te, y_te = data.split(50_000)
    kw = dict(n_factors=8, learning_rate=0.02, schedule="constant", random_state=0, n_jobs=1)
    fitted = logloss(y_te, FMClassifier(n_epochs=5, **kw).fit(X_tr, y_tr)
                     .predict_proba(X_te)[:, 1])
    model = FMClassifier(**kw)
    model.partial_fit(X_tr[:5000], y_tr[:5000], classes=[0.0, 1.0])
    stream(model, X_tr, y_tr, n_chunks=10, n_passes=5)
    streamed = logloss(y_te, model.predict_proba(X_te)[:, 1])
    assert abs(streamed / fitted - 1) <= 0.02, (fitted, streamed)
    assert streamed < logloss(y_te, np.full(y_te.shape, y_tr.mean())) - 0.05


@pytest.fixture(scope="module")
def ml100k():
    return load_movielens(data_path("ml-100k", "u1.base"), data_path("ml-100k", "u1.test"))


def test_movielens_stream_of_chunks_reaches_fit_accuracy(ml100k):
    """u1.base in file order (sorted by user) in 10 chunks, 5 passes, vs 5 epochs of fit."""
    X_tr, y_tr, X_te, y_te = ml100k
    kw = dict(ML100K_SETTINGS, schedule="constant", learning_rate=0.02, n_jobs=1)
    fitted = rmse(FMRegressor(**dict(kw, n_epochs=5)).fit(X_tr, y_tr).predict(X_te), y_te)
    streamed = rmse(stream(FMRegressor(**kw), X_tr, y_tr, 10, 5).predict(X_te), y_te)
    assert abs(streamed / fitted - 1) <= 0.02, (fitted, streamed)
    assert streamed < rmse(np.full_like(y_te, y_tr.mean()), y_te) - 0.1


# -- early stopping -------------------------------------------------------------------------

def test_eval_set_validation_loss_stops_and_restores_the_best_epoch():
    X_tr, y_tr, X_val, y_val = overfitting_data()
    snapshots = {}

    def keep(est, history):
        snapshots[history[-1]["epoch"]] = (est.w0_, est.w_.copy(), est.V_.copy())
        # what the callback sees already holds this epoch's validation loss
        own = rmse(np.clip(naive_fm_predict(X_val, est.w0_, est.w_, est.V_),
                           est.y_min_, est.y_max_), y_val)
        assert history[-1]["validation_loss"] == pytest.approx(own, rel=1e-9)

    model = FMRegressor(**OVERFIT, n_epochs=200, n_iter_no_change=4, tol=0.0, n_jobs=1,
                        dtype=np.float64, callbacks=[keep])
    model.fit(X_tr, y_tr, eval_set=(X_val, y_val))
    losses = [h["validation_loss"] for h in model.history_]
    assert all(isinstance(v, float) for v in losses)
    best = int(np.argmin(losses)) + 1
    # stopped n_iter_no_change epochs after the best one, long before n_epochs
    assert model.n_iter_ == best + 4 < 200
    assert model.best_epoch_ == best
    assert model.best_validation_loss_ == min(losses)
    # the model holds the best epoch's parameters, bit for bit
    w0, w, V = snapshots[best]
    assert model.w0_ == w0
    np.testing.assert_array_equal(model.w_, w)
    np.testing.assert_array_equal(model.V_, V)
    assert rmse(model.predict(X_val), y_val) == pytest.approx(min(losses), rel=1e-9)
    # the validation loss really went up again: training on would have been worse
    assert losses[-1] > min(losses)


def test_tol_counts_small_improvements_as_none():
    X_tr, y_tr, X_val, y_val = overfitting_data(1)
    kw = dict(OVERFIT, n_epochs=200, n_jobs=1, n_iter_no_change=3)
    strict = FMRegressor(tol=0.0, **kw).fit(X_tr, y_tr, eval_set=(X_val, y_val))
    loose = FMRegressor(tol=0.05, **kw).fit(X_tr, y_tr, eval_set=(X_val, y_val))
    assert loose.n_iter_ < strict.n_iter_
    # replay the rule on the recorded losses: stop after 3 epochs without a gain > tol
    losses = [h["validation_loss"] for h in loose.history_]
    best, stale, stopped = np.inf, 0, None
    for epoch, loss in enumerate(losses, start=1):
        stale = 0 if loss < best - 0.05 else stale + 1
        best = min(best, loss)
        if stale == 3:
            stopped = epoch
            break
    assert stopped == loose.n_iter_
    assert loose.best_validation_loss_ == min(losses)


def test_classifier_eval_set_uses_logloss():
    data = make_planted_fm(n_samples=6000, n_fields=3, field_cardinality=15, n_factors=2,
                           task="classification", random_state=2)
    X_tr, y_tr, X_val, y_val = data.split(5000)
    labels = np.array(["neg", "pos"])
    seen = []

    def check(est, history):
        p1 = sigmoid(naive_fm_predict(X_val, est.w0_, est.w_, est.V_))
        seen.append((history[-1]["validation_loss"], logloss(y_val, p1)))

    model = FMClassifier(n_factors=4, n_epochs=6, learning_rate=0.05, random_state=0,
                         dtype=np.float64, callbacks=[check])
    model.fit(X_tr, labels[y_tr.astype(int)], eval_set=(X_val, labels[y_val.astype(int)]))
    assert len(seen) == model.n_iter_
    for ours, reference in seen:
        assert ours == pytest.approx(reference, rel=1e-9)
    with pytest.raises(ValueError, match=r"eval_set: .*not in classes"):
        model.fit(X_tr, labels[y_tr.astype(int)], eval_set=(X_val, y_val))


def test_eval_set_with_sample_weight():
    X_tr, y_tr, X_val, y_val = overfitting_data(2)
    weights = np.random.default_rng(0).uniform(0, 2, len(y_val))
    losses = []

    def check(est, history):
        p = est.predict(X_val)
        losses.append((history[-1]["validation_loss"],
                       np.sqrt(np.average((p - y_val) ** 2, weights=weights))))

    FMRegressor(n_factors=2, n_epochs=3, random_state=0, callbacks=[check]).fit(
        X_tr, y_tr, eval_set=(X_val, y_val, weights))
    for ours, reference in losses:
        assert ours == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("bad,pattern", [
    ("X", "eval_set must be a pair"),
    ((np.zeros((5, 90)),), "eval_set must be a pair"),
    ((np.zeros((5, 7)), np.zeros(5)), r"eval_set: X_val has 7 features, but FMRegressor"),
    ((np.zeros((5, 90)), np.zeros(4)), "eval_set: X has 5 rows but y has 4"),
    ((np.full((5, 90), np.nan), np.zeros(5)), "eval_set: X_val contains NaN"),
])
def test_bad_eval_set(bad, pattern):
    X_tr, y_tr, _, _ = overfitting_data()
    model = FMRegressor(n_epochs=2, random_state=0)
    with pytest.raises(ValueError, match=pattern):
        model.fit(X_tr, y_tr, eval_set=bad)
    assert not hasattr(model, "V_")


def id_features(n, n_other=4, seed=0):
    """Row i has the one-hot feature i (its own) and one of n_other shared ones."""
    rng = np.random.default_rng(seed)
    cols = np.column_stack([np.arange(n), n + rng.integers(0, n_other, n)]).ravel()
    return sp.csr_matrix((np.ones(2 * n), cols, np.arange(0, 2 * n + 1, 2)),
                         shape=(n, n + n_other))


@pytest.mark.parametrize("fraction", [0.1, 0.25])
def test_early_stopping_holds_out_validation_fraction_of_the_rows(fraction):
    """The weight of a row's own feature moves only if that row is trained on."""
    n = 1000
    X = id_features(n)
    y = np.random.default_rng(1).normal(size=n)
    model = FMRegressor(n_factors=2, n_epochs=3, early_stopping=True, validation_fraction=fraction,
                        n_iter_no_change=50, random_state=0).fit(X, y)
    untouched = np.flatnonzero(model.w_[:n] == 0)
    assert untouched.size == int(np.ceil(fraction * n))
    assert all(h["validation_loss"] is not None for h in model.history_)
    assert model.best_epoch_ in (1, 2, 3)
    # the same seed holds out the same rows; another seed other rows
    again = FMRegressor(n_factors=2, n_epochs=3, early_stopping=True,
                        validation_fraction=fraction, random_state=0).fit(X, y)
    np.testing.assert_array_equal(np.flatnonzero(again.w_[:n] == 0), untouched)
    other = FMRegressor(n_factors=2, n_epochs=3, early_stopping=True,
                        validation_fraction=fraction, random_state=1).fit(X, y)
    assert not np.array_equal(np.flatnonzero(other.w_[:n] == 0), untouched)
    # and the validation loss is that of the held-out rows
    val = FMRegressor(n_factors=2, n_epochs=1, early_stopping=True,
                      validation_fraction=fraction, random_state=0).fit(X, y)
    held = np.flatnonzero(val.w_[:n] == 0)
    assert val.history_[0]["validation_loss"] == pytest.approx(
        rmse(val.predict(X[held]), y[held]), rel=1e-9)


def test_classifier_early_stopping_split_is_stratified():
    n = 1000
    X = id_features(n)
    y = np.where(np.arange(n) < 150, 1, 0)  # 15% positives
    model = FMClassifier(n_factors=2, n_epochs=2, early_stopping=True, validation_fraction=0.2,
                         random_state=0).fit(X, y)
    held = np.flatnonzero(model.w_[:n] == 0)
    assert np.sum(y[held] == 1) == 30 and np.sum(y[held] == 0) == 170


def test_early_stopping_needs_rows_to_hold_out():
    """At least one row is held out, and at least one row of each class is trained on."""
    with pytest.raises(ValueError, match="no validation rows"):
        FMRegressor(early_stopping=True, n_epochs=2).fit(np.ones((1, 2)), [1.0])
    with pytest.raises(ValueError, match="no validation rows"):
        FMClassifier(early_stopping=True, n_epochs=2).fit(np.eye(2), [0, 1])
    model = FMClassifier(early_stopping=True, n_epochs=2).fit(np.eye(3), [0, 1, 1])
    assert model.history_[0]["validation_loss"] is not None


def test_no_validation_means_none():
    X_tr, y_tr, _, _ = overfitting_data()
    model = FMRegressor(n_factors=2, n_epochs=3, random_state=0).fit(X_tr, y_tr)
    assert all(h["validation_loss"] is None for h in model.history_)
    assert model.best_epoch_ is None and model.best_validation_loss_ is None
    assert model.n_iter_ == 3


@pytest.mark.parametrize("name,value,exc", [
    ("validation_fraction", 0.0, ValueError),
    ("validation_fraction", 1.0, ValueError),
    ("validation_fraction", -0.1, ValueError),
    ("validation_fraction", "0.1", TypeError),
    ("n_iter_no_change", 0, ValueError),
    ("n_iter_no_change", 2.0, TypeError),
    ("tol", -1e-3, ValueError),
    ("tol", float("nan"), ValueError),
    ("early_stopping", "yes", TypeError),
    ("warm_start", 1, TypeError),
    ("random_state", -1, ValueError),
])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_bad_lifecycle_parameters(cls, name, value, exc):
    X_tr, y_tr, _, _ = overfitting_data()
    model = cls(**{name: value})
    assert model.get_params()[name] is value  # construction never validates
    with pytest.raises(exc, match=name):
        model.fit(X_tr, targets(cls, y_tr))
    assert not hasattr(model, "V_")


def test_movielens_early_stopping(ml100k):
    """The issue's bar: early stopping on a validation split of u1.base."""
    X_tr, y_tr, X_te, y_te = ml100k
    model = FMRegressor(**ML100K_EARLY_STOPPING_SETTINGS, n_jobs=1).fit(X_tr, y_tr)
    error = rmse(model.predict(X_te), y_te)
    assert error <= ML100K_EARLY_STOPPING_MAX_RMSE, (
        f"u1.test RMSE {error:.4f} with {ML100K_EARLY_STOPPING_SETTINGS}")
    assert model.n_iter_ < ML100K_EARLY_STOPPING_SETTINGS["n_epochs"]  # it did stop
    assert model.best_epoch_ == model.n_iter_ - ML100K_EARLY_STOPPING_SETTINGS[
        "n_iter_no_change"]
    assert model.best_validation_loss_ < 0.95


# -- verbose and callbacks ------------------------------------------------------------------

def test_verbose_shows_the_validation_loss(capsys):
    X_tr, y_tr, X_val, y_val = overfitting_data()
    FMRegressor(n_factors=2, n_epochs=3, verbose=1, random_state=0).fit(
        X_tr, y_tr, eval_set=(X_val, y_val))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    epochs = [line for line in lines if line.startswith("epoch")]
    assert len(epochs) == 3 and all("validation rmse" in line for line in epochs)
    FMRegressor(n_factors=2, n_epochs=2, verbose=1, random_state=0).fit(X_tr, y_tr)
    assert "validation" not in capsys.readouterr().out


def test_callback_stop_with_validation_keeps_the_best_epoch():
    X_tr, y_tr, X_val, y_val = overfitting_data()
    seen = []

    def stop_at_8(est, history):
        seen.append(history[-1]["validation_loss"])
        return len(history) == 8

    model = FMRegressor(**OVERFIT, n_epochs=100, n_iter_no_change=100, callbacks=[stop_at_8])
    model.fit(X_tr, y_tr, eval_set=(X_val, y_val))
    assert model.n_iter_ == 8 and len(seen) == 8 and None not in seen
    assert model.best_epoch_ == int(np.argmin(seen)) + 1
    assert rmse(model.predict(X_val), y_val) == pytest.approx(min(seen), rel=1e-6)


# -- sample_weight and class_weight ---------------------------------------------------------

def test_weight_two_is_duplicating_the_row_in_expectation():
    """One field, one-hot: the fit per category is the weighted mean of its targets."""
    rng = np.random.default_rng(7)
    n, n_cat = 6000, 20
    cat = rng.integers(0, n_cat, n)
    X = sp.csr_matrix((np.ones(n), cat, np.arange(n + 1)), shape=(n, n_cat))
    subset = rng.random(n) < 0.4
    y = rng.normal(0, 1, n_cat)[cat] + rng.normal(0, 1, n) + 1.5 * subset
    weights = np.where(subset, 2.0, 1.0)
    reference = np.array([np.average(y[cat == c], weights=weights[cat == c])
                          for c in range(n_cat)])
    X_dup = sp.vstack([X, X[subset]]).tocsr()
    y_dup = np.concatenate([y, y[subset]])
    each_category = np.eye(n_cat)
    weighted, duplicated, plain = [], [], []
    for seed in range(6):
        kw = dict(n_factors=2, n_epochs=20, learning_rate=0.005, schedule="invscaling",
                  random_state=seed, n_jobs=1, clip_predictions=False)
        weighted.append(FMRegressor(solver="sgd", **kw).fit(X, y, sample_weight=weights)
                        .predict(each_category))
        duplicated.append(FMRegressor(solver="sgd", **kw).fit(X_dup, y_dup).predict(each_category))
        plain.append(FMRegressor(solver="sgd", **kw).fit(X, y).predict(each_category))
    weighted, duplicated, plain = (np.mean(p, axis=0) for p in (weighted, duplicated, plain))
    # (the bias w0 is shared by all rows: its SGD noise moves every category together,
    # by about 0.035 per seed and 0.015 in the mean of six)
    assert np.abs(weighted - reference).max() < 0.05
    assert np.abs(duplicated - reference).max() < 0.05
    assert np.abs(weighted - duplicated).max() < 0.05
    # the weights matter: without them the fit is far from the weighted means
    assert np.abs(plain - reference).mean() > 0.2


def imbalanced_classification():
    data = make_planted_fm(n_samples=80_000, n_fields=4, field_cardinality=20, n_factors=4,
                           zipf_exponent=0.5, task="classification", random_state=4)
    rng = np.random.default_rng(0)
    keep = (data.y == 0) | (rng.random(data.y.size) < 0.12)  # about 1 positive in 8
    X, y = data.X[keep], data.y[keep]
    n_train = int(0.8 * y.size)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def test_balanced_class_weight_raises_minority_recall():
    X_tr, y_tr, X_te, y_te = imbalanced_classification()
    assert 0.05 < y_tr.mean() < 0.2
    kw = dict(n_factors=4, n_epochs=8, learning_rate=0.02, random_state=0, n_jobs=1)
    plain = FMClassifier(**kw).fit(X_tr, y_tr)
    balanced = FMClassifier(class_weight="balanced", **kw).fit(X_tr, y_tr)

    def recall(model):
        return float(np.mean(model.predict(X_te)[y_te == 1] == 1))

    assert recall(balanced) > recall(plain) + 0.2, (recall(plain), recall(balanced))
    # balanced weights: n / (2 * count), the same fit as those sample weights
    counts = np.bincount(y_tr.astype(int))
    sw = (y_tr.size / (2.0 * counts))[y_tr.astype(int)]
    assert_same_model(balanced, FMClassifier(**kw).fit(X_tr, y_tr, sample_weight=sw))


def test_class_weight_dict_multiplies_sample_weight(small):
    X_tr, y_tr, _, _ = small
    y = targets(FMClassifier, y_tr)
    kw = dict(n_factors=3, n_epochs=3, random_state=0, n_jobs=1)
    sw = np.random.default_rng(0).uniform(0.5, 1.5, y.size)
    a = FMClassifier(class_weight={"hi": 3.0}, **kw).fit(X_tr, y, sample_weight=sw)
    b = FMClassifier(**kw).fit(X_tr, y, sample_weight=sw * np.where(y == "hi", 3.0, 1.0))
    assert_same_model(a, b)
    c = FMClassifier(class_weight={"hi": 1.0, "lo": 1.0}, **kw).fit(X_tr, y)
    assert_same_model(c, FMClassifier(**kw).fit(X_tr, y))


@pytest.mark.parametrize("class_weight,pattern", [
    ({"up": 2.0}, "not one of the classes"),
    ({"hi": -1.0}, "finite numbers >= 0"),
    ({"hi": float("inf")}, "finite numbers >= 0"),
    ({"hi": 0.0, "lo": 0.0}, "zero everywhere"),
    ("balance", "class_weight must be"),
    ([1.0, 2.0], "class_weight must be"),
])
def test_bad_class_weight(small, class_weight, pattern):
    X_tr, y_tr, _, _ = small
    with pytest.raises(ValueError, match=pattern):
        FMClassifier(class_weight=class_weight, n_epochs=1).fit(X_tr, targets(FMClassifier,
                                                                              y_tr))


def test_models_from_libfm_files_can_go_on_training(tmp_path):
    """A model read from a libFM file has no optimiser state (t_, random_seed_) yet:
    warm_start and partial_fit start it from the file's parameters."""
    from rapidfm.io import load_libfm_model, save_libfm_model

    rng = np.random.default_rng(0)
    X = sp.random(300, 12, density=0.3, format="csr", random_state=0)
    y = rng.normal(size=300)
    source = FMRegressor(n_epochs=2, random_state=0, dtype=np.float64).fit(X, y)
    path = tmp_path / "model.libfm"
    save_libfm_model(source, path)
    loaded = load_libfm_model(path, task="regression")
    before = loaded.predict(X)
    source.clip_predictions = False  # the libFM file has no target range to clip to
    assert np.array_equal(before, source.predict(X))
    loaded.set_params(warm_start=True, n_epochs=1, random_state=0)
    loaded.fit(X, y)
    assert loaded.t_ >= 1 and np.isfinite(loaded.V_).all()
    assert not np.array_equal(loaded.predict(X), before)  # it trained
    again = load_libfm_model(path, task="regression")
    again.partial_fit(X, y)
    assert np.isfinite(again.predict(X)).all()
