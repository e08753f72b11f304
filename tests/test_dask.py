"""rapidfm.dask on a distributed.LocalCluster of 2 worker processes: the Dask fit
against the local estimator (bit for bit on one partition, within 1% on the planted
set and MovieLens), the merge rule against its formula, bad input refused with the
partition named, a worker killed mid-fit, checkpoints, the lazy predictions."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import rapidfm  # noqa: E402
from rapidfm import FFMRegressor, FMClassifier, FMRegressor  # noqa: E402
from rapidfm.dask import (  # noqa: E402
    DaskFFMRegressor,
    DaskFMClassifier,
    DaskFMRegressor,
    WorkerLostError,
)
from rapidfm.dask._merge import change_weights, merge_models  # noqa: E402
from rapidfm.model_kinds import FMParameters  # noqa: E402


def _cluster():
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=40)


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, Client(cluster) as c:
        yield c


def planted(n, seed=0, n_per_field=40, k=3, classify=False):
    """Two one-hot fields and targets from a planted FM (plus noise)."""
    rng = np.random.default_rng(seed)
    d = 2 * n_per_field
    cols = np.stack([rng.integers(0, n_per_field, n),
                     n_per_field + rng.integers(0, n_per_field, n)], 1)
    X = sp.csr_matrix((np.ones(2 * n), cols.ravel(), np.arange(0, 2 * n + 1, 2)), shape=(n, d))
    truth = np.random.default_rng(123)
    V, w = truth.normal(0, 0.7, (d, k)), truth.normal(0, 1, d)
    q = X @ V
    y = X @ w + 0.5 * ((q ** 2).sum(1) - X @ (V ** 2).sum(1))
    y = np.asarray(y).ravel() + rng.normal(0, 0.1, n)
    if classify:
        y = (y > np.median(y)).astype(np.int64)
    return X, y


def chunked(X, y, n_chunks):
    rows = -(-X.shape[0] // n_chunks)
    return (da.from_array(X, chunks=(rows, X.shape[1]), asarray=False),
            da.from_array(y, chunks=rows))


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# -- one partition: the local fit, bit for bit ----------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adagrad", "ftrl"])
def test_one_partition_is_the_local_fit(client, solver):
    X, y = planted(3000)
    settings = dict(solver=solver, n_epochs=4, n_jobs=1, random_state=3)
    dask_model = DaskFMRegressor(**settings, local_epochs=2).fit(*chunked(X, y, 1))
    local = FMRegressor(**settings).fit(X, y)
    assert dask_model.w0_ == local.w0_
    np.testing.assert_array_equal(dask_model.w_, local.w_)
    np.testing.assert_array_equal(dask_model.V_, local.V_)
    for name in ("sum_sq_grad_V_", "ftrl_z_w_"):
        if hasattr(local, name):
            np.testing.assert_array_equal(getattr(dask_model, name), getattr(local, name))
    assert dask_model.t_ == local.t_ == 4
    assert [r["round"] for r in dask_model.history_] == [1, 2]


def test_one_partition_classifier_with_early_stopping(client):
    X, y = planted(3000, classify=True)
    settings = dict(n_epochs=6, n_jobs=1, random_state=1, early_stopping=True,
                    n_iter_no_change=100)
    dask_model = DaskFMClassifier(**settings).fit(*chunked(X, y, 1))
    local = FMClassifier(**settings).fit(X, y)
    np.testing.assert_array_equal(dask_model.V_, local.V_)
    np.testing.assert_array_equal(dask_model.classes_, local.classes_)
    # the held-out loss of each round is the local fit's of the same epoch
    np.testing.assert_allclose([r["validation_loss"] for r in dask_model.history_],
                               [r["validation_loss"] for r in local.history_], rtol=1e-12)


def test_eval_set_and_sample_weight_one_partition_as_local(client):
    X, y = planted(3000)
    X_val, y_val = planted(800, seed=4)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    settings = dict(n_epochs=5, n_jobs=1, random_state=0, n_iter_no_change=2, tol=0.0)
    Xd, yd = chunked(X, y, 1)
    dask_model = DaskFMRegressor(**settings).fit(
        Xd, yd, sample_weight=da.from_array(weight, chunks=X.shape[0]),
        eval_set=chunked(X_val, y_val, 2))
    local = FMRegressor(**settings).fit(X, y, sample_weight=weight, eval_set=(X_val, y_val))
    np.testing.assert_allclose([r["validation_loss"] for r in dask_model.history_],
                               [r["validation_loss"] for r in local.history_], rtol=1e-9)
    np.testing.assert_array_equal(dask_model.V_, local.V_)
    assert dask_model.best_epoch_ == local.best_epoch_


def test_init_model_from_a_checkpoint_goes_on_exactly(client, tmp_path):
    X, y = planted(2000)
    settings = dict(n_jobs=1, random_state=5)
    Xd, yd = chunked(X, y, 1)
    path = tmp_path / "round.rfm"
    first = DaskFMRegressor(n_epochs=3, checkpoint=str(path), **settings).fit(Xd, yd)
    saved = rapidfm.load(path)
    assert isinstance(saved, FMRegressor) and saved.t_ == 3
    np.testing.assert_array_equal(saved.V_, first.V_)
    resumed = DaskFMRegressor(n_epochs=3, **settings).fit(Xd, yd, init_model=str(path))
    whole = FMRegressor(n_epochs=6, **settings).fit(X, y)
    np.testing.assert_array_equal(resumed.V_, whole.V_)
    assert resumed.t_ == 6


# -- several partitions on two workers: the local fit's accuracy ---------------------------
def test_planted_two_workers_within_one_percent_of_local(client):
    X, y = planted(60000)
    X_test, y_test = planted(5000, seed=9)
    # a merge averages the features both workers see often, so early rounds move less
    # than local epochs (at 10 epochs: 1.3% above the local RMSE); by 30 they meet
    settings = dict(n_epochs=30, n_jobs=1, random_state=0)
    dask_model = DaskFMRegressor(**settings).fit(*chunked(X, y, 4))
    assert dask_model.history_[-1]["n_workers"] == 2
    local = FMRegressor(**settings).fit(X, y)
    dask_rmse = rmse(dask_model.predict(chunked(X_test, y_test, 2)[0]).compute(), y_test)
    local_rmse = rmse(local.predict(X_test), y_test)
    assert dask_rmse <= 1.01 * local_rmse, (dask_rmse, local_rmse)


def test_movielens_u1_two_workers_within_one_percent_of_local(client):
    from conftest import data_path
    from reference import ML100K_SETTINGS

    from rapidfm.datasets import load_movielens

    X, y, X_test, y_test = load_movielens(data_path("ml-100k", "u1.base"),
                                          data_path("ml-100k", "u1.test"))
    settings = dict(ML100K_SETTINGS, n_jobs=1)
    dask_model = DaskFMRegressor(**settings).fit(*chunked(X, y, 4))
    local = FMRegressor(**settings).fit(X, y)
    dask_rmse = rmse(dask_model.to_local().predict(X_test), y_test)
    local_rmse = rmse(local.predict(X_test), y_test)
    assert dask_rmse <= 1.01 * local_rmse, (dask_rmse, local_rmse)


def test_classifier_two_workers_lazy_predictions(client):
    X, y = planted(20000, classify=True)
    Xd, yd = chunked(X, y, 4)
    model = DaskFMClassifier(n_epochs=40, n_jobs=1, random_state=0).fit(Xd, yd)
    proba = model.predict_proba(Xd)
    assert isinstance(proba, da.Array) and proba.shape == (X.shape[0], 2)
    local_copy = model.to_local()
    np.testing.assert_allclose(proba.compute(), local_copy.predict_proba(X), rtol=1e-12)
    labels = model.predict(Xd).compute()
    assert set(np.unique(labels)) <= {0, 1}
    accuracy = model.score(Xd, yd)
    assert accuracy == pytest.approx(np.mean(labels == y))
    local = FMClassifier(n_epochs=40, n_jobs=1, random_state=0).fit(X, y)
    assert accuracy >= local.score(X, y) - 0.01


def test_dataframe_input_and_sklearn_parameters(client):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd
    from sklearn.base import clone

    X, y = planted(4000)
    frame = pd.DataFrame(X.toarray(), columns=[f"c{i}" for i in range(X.shape[1])])
    Xf = dd.from_pandas(frame, npartitions=2)
    yf = dd.from_pandas(pd.Series(y), npartitions=2)
    model = DaskFMRegressor(n_epochs=3, n_jobs=1, random_state=0, local_epochs=3)
    assert clone(model).get_params()["local_epochs"] == 3
    model.fit(Xf, yf)
    assert list(model.feature_names_in_) == list(frame.columns)
    pred = model.predict(Xf)
    assert isinstance(pred, da.Array)
    np.testing.assert_allclose(pred.compute(), model.to_local().predict(frame), rtol=1e-12)


def test_cache_folders(client, tmp_path):
    from rapidfm.cache import open_cache, save_cache

    X, y = planted(3000)
    save_cache(X, y, tmp_path / "part0", dtype=np.float64)
    settings = dict(n_epochs=3, n_jobs=1, random_state=2)
    from_cache = DaskFMRegressor(**settings).fit([str(tmp_path / "part0")])
    # the local fit of the same (memory-mapped) cache: it trains the rows as stored
    local = FMRegressor(**settings).fit(*open_cache(tmp_path / "part0"))
    np.testing.assert_array_equal(from_cache.V_, local.V_)


def test_field_aware_one_partition_is_the_local_fit(client):
    X, y = planted(2000)
    fields = np.repeat([0, 1], X.shape[1] // 2)
    settings = dict(n_epochs=2, n_jobs=1, random_state=0, feature_fields=fields)
    dask_model = DaskFFMRegressor(**settings).fit(*chunked(X, y, 1))
    local = FFMRegressor(**settings).fit(X, y)
    np.testing.assert_array_equal(dask_model.V_, local.V_)
    pred = dask_model.predict(chunked(X, y, 2)[0]).compute()
    np.testing.assert_allclose(pred, local.predict(X), rtol=1e-6)


# -- the merge rule --------------------------------------------------------------------------
def test_change_weights_follow_the_formula():
    a = 0.05
    counts = np.array([[0, 3, 1, 500], [2, 0, 1, 500]], dtype=float)
    share, n_touching = change_weights(counts, a)
    np.testing.assert_array_equal(n_touching, [1, 1, 2, 2])
    np.testing.assert_array_equal(share[:, :2], [[0, 1], [1, 0]])
    for j in (2, 3):
        total = counts[:, j].sum()
        for k in range(2):
            c = counts[k, j]
            expected = (c / total) * (1 - (1 - a) ** total) / (1 - (1 - a) ** c)
            assert share[k, j] == pytest.approx(expected, rel=1e-12)
    # one touch each: the changes add up (as two serial steps would, to first order);
    # many touches each: they are averaged
    assert share[:, 2].sum() == pytest.approx(2 - a, rel=1e-9)
    assert share[:, 3].sum() == pytest.approx(1.0, abs=0.02)


def test_merge_keeps_a_lone_worker_values_and_adds_squared_gradients():
    base = FMParameters(0.0, np.zeros(3), np.zeros((3, 2)))
    state = {"sum_sq_grad_w0_": 1.0, "sum_sq_grad_w_": np.ones(3),
             "sum_sq_grad_V_": np.ones((3, 2))}
    results = []
    for k in range(2):
        p = FMParameters(0.1 * (k + 1), np.full(3, k + 1.0), np.full((3, 2), k + 1.0))
        s = {"sum_sq_grad_w0_": 2.0 + k, "sum_sq_grad_w_": np.full(3, 2.0 + k),
             "sum_sq_grad_V_": np.full((3, 2), 2.0 + k)}
        results.append({"params": p, "state": s})
    counts = [np.array([4.0, 0.0, 1.0]), np.array([0.0, 5.0, 1.0])]
    merged, merged_state = merge_models(base, state, results, counts, [5, 6], 0.1)
    np.testing.assert_array_equal(merged.w[:2], [1.0, 2.0])  # each feature's lone worker
    # AdaGrad moves feature 2 by 0.1 / sqrt(G) of the way, G halfway through the round
    # (1 at its start, 1 + 1 + 2 at its end)
    a = 0.1 / np.sqrt(2.5)
    assert merged.w[2] == pytest.approx(3.0 * (1 - (1 - a) ** 2) / (2 * a))
    # w0: 5 and 6 rows, G from 1 to 1 + 1 + 2
    a0 = 0.1 / np.sqrt(2.5)
    moved = [1 - (1 - a0) ** c for c in (5, 6)]
    expected_w0 = sum((c / 11) * (1 - (1 - a0) ** 11) / m * (0.1 * (i + 1))
                      for i, (c, m) in enumerate(zip((5, 6), moved)))
    assert merged.w0 == pytest.approx(expected_w0)
    # sums of squares: the start plus each touching worker's increase
    np.testing.assert_array_equal(merged_state["sum_sq_grad_w_"], [2.0, 3.0, 4.0])
    assert merged_state["sum_sq_grad_w0_"] == 4.0


# -- bad input, refused with the partition named -------------------------------------------
def test_bad_input_is_refused(client):
    X, y = planted(1000)
    Xd, yd = chunked(X, y, 4)
    model = DaskFMRegressor(n_epochs=1, n_jobs=1)
    with pytest.raises(ValueError, match="chunks"):
        model.fit(Xd, da.from_array(y, chunks=300))
    with pytest.raises(ValueError, match="columns"):
        model.fit(da.from_array(X.toarray(), chunks=(250, 40)), yd)
    with pytest.raises(TypeError, match="dask array"):
        model.fit(X, y)
    bad = X.toarray()
    bad[600, 3] = np.nan
    with pytest.raises(ValueError, match="partition 2"):
        model.fit(da.from_array(bad, chunks=(250, X.shape[1])), yd)
    y_bad = y.copy()
    y_bad[10] = np.inf
    with pytest.raises(ValueError, match="partition 0"):
        model.fit(Xd, da.from_array(y_bad, chunks=250))
    narrow = [dask.delayed(X[:500]), dask.delayed(X[500:, :60])]
    X_mixed = da.concatenate([da.from_delayed(narrow[0], shape=(500, X.shape[1]), dtype=float,
                                              meta=X[:0]),
                              da.from_delayed(narrow[1], shape=(500, X.shape[1]), dtype=float,
                                              meta=X[:0])])
    with pytest.raises(ValueError, match="partition 1 has 60 features"):
        model.fit(X_mixed, da.from_array(y, chunks=500))
    with pytest.raises(ValueError, match="single machine|one machine"):
        DaskFMRegressor(solver="mcmc").fit(Xd, yd)
    assert not hasattr(model, "V_")


def test_diverging_fit_raises_and_leaves_no_model(client):
    X, y = planted(2000)
    model = DaskFMRegressor(solver="sgd", learning_rate=50.0, n_epochs=5, n_jobs=1,
                            dtype=np.float64)
    with pytest.raises(rapidfm.DivergenceError, match="diverged"):
        model.fit(*chunked(X, y, 2))
    assert not hasattr(model, "V_")


# -- a worker lost mid-fit ------------------------------------------------------------------
def _kill_a_worker_at_round(client, at_round):
    def callback(est, history):
        if len(history) == at_round:
            # a worker that holds training rows
            victim = sorted(w for w, keys in client.has_what().items()
                            if any("prepare_worker_rows" in str(key) for key in keys))[0]
            client.submit(os._exit, 1, workers=[victim], pure=False)
        return False
    return callback


@pytest.mark.parametrize("worker_loss", ["raise", "drop"])
def test_worker_killed_mid_fit(worker_loss, tmp_path):
    X, y = planted(40000)
    path = tmp_path / "checkpoint.rfm"
    with _cluster() as cluster, Client(cluster) as c:
        model = DaskFMRegressor(n_epochs=30, n_jobs=1, random_state=0, worker_loss=worker_loss,
                                checkpoint=str(path), callbacks=[_kill_a_worker_at_round(c, 2)],
                                client=c)
        Xd, yd = chunked(X, y, 4)
        if worker_loss == "raise":
            with pytest.raises(WorkerLostError, match="lost during round"):
                model.fit(Xd, yd)
            # the model of the last completed round is kept, and was checkpointed
            assert model.t_ >= 2 and len(model.history_) == model.t_
            saved = rapidfm.load(path)
            np.testing.assert_array_equal(saved.V_, model.V_)
        else:
            model.fit(Xd, yd)
            assert model.t_ == 30
            assert any(r["lost_workers"] for r in model.history_)
            assert model.history_[-1]["n_workers"] == 1
            assert np.isfinite(model.to_local().predict(X)).all()


def test_import_rapidfm_does_not_import_dask():
    code = ("import sys, rapidfm; rapidfm.FMRegressor; "
            "print('dask' in sys.modules or 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_bench_dask_smoke(tmp_path):
    """bench/bench_dask.py end to end on a small planted set: one worker holding all the
    partitions trains the one-process model (the same test RMSE)."""
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "bench_dask.py"
    out = tmp_path / "dask.json"
    subprocess.run([sys.executable, str(script), "--rows", "20000", "--epochs", "2",
                    "--workers", "1", "2", "--out", str(out)], check=True,
                   capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    local, one, two = report["results"]
    assert one["test_rmse"] == pytest.approx(local["test_rmse"], rel=1e-9)
    assert two["n_workers"] == 2 and np.isfinite(two["test_rmse"])
    assert two["param_bytes"] > 0 and report["machine"]["cpu"]
