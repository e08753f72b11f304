"""coef_ / intercept_ and rapidfm.inspection, against naive NumPy loops over the fitted
parameters, and on a planted model whose strongest feature and pair are known."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from rapidfm import FMClassifier, FMRegressor
from rapidfm._sklearn_compat import NotFittedError
from rapidfm.inspection import (
    feature_importance,
    interaction_matrix,
    linear_weights,
    top_interactions,
)


def data(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, 0] - 2 * X[:, 3] + 1.5 * X[:, 1] * X[:, 4] + 0.1 * rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def sgd_model():
    X, y = data()
    return FMRegressor(n_factors=4, n_epochs=20, learning_rate=0.02, random_state=0,
                       clip_predictions=False).fit(X, y)


@pytest.fixture(scope="module")
def mcmc_model():
    X, y = data()
    return FMRegressor(solver="mcmc", n_factors=4, n_epochs=30, random_state=0,
                       clip_predictions=False).fit(X, y)


# -- naive references ---------------------------------------------------------------------

def naive_samples(model):
    """[(w0, w, V)] per kept sample, as float64 copies (one for SGD/ALS)."""
    if getattr(model, "samples_V_", None) is not None:
        return [(float(model.samples_w0_[s]), np.array(model.samples_w_[s], np.float64),
                 np.array(model.samples_V_[s], np.float64))
                for s in range(len(model.samples_V_))]
    return [(float(model.w0_), np.array(model.w_, np.float64),
             np.array(model.V_, np.float64))]


def naive_pair(model, i, j):
    samples = naive_samples(model)
    return sum(sum(V[i, f] * V[j, f] for f in range(V.shape[1])) for _, _, V in samples) / len(
        samples)


def naive_norm(model, i):
    samples = naive_samples(model)
    return np.sqrt(sum(sum(V[i, f] ** 2 for f in range(V.shape[1])) for _, _, V in samples)
                   / len(samples))


# -- coef_ / intercept_ -------------------------------------------------------------------

def test_coef_and_intercept_of_a_regressor(sgd_model):
    np.testing.assert_array_equal(sgd_model.coef_, sgd_model.w_)
    assert sgd_model.coef_.shape == (6,)
    assert sgd_model.intercept_ == float(sgd_model.w0_)
    with pytest.raises(ValueError):  # read-only: w_ cannot be changed through it
        sgd_model.coef_[0] = 1.0
    assert "coef_" not in vars(sgd_model)  # computed, never stored (nor saved)


def test_coef_of_a_classifier_has_scikit_learns_binary_shape():
    X, y = data()
    model = FMClassifier(n_factors=2, n_epochs=5, random_state=0).fit(X, y > 0)
    assert model.coef_.shape == (1, 6) and model.intercept_.shape == (1,)
    np.testing.assert_array_equal(model.coef_[0], model.w_)
    assert model.intercept_[0] == float(model.w0_)


def test_mcmc_coef_is_the_mean_over_the_kept_samples(mcmc_model):
    samples = naive_samples(mcmc_model)
    assert len(samples) > 1
    w_mean = sum(w for _, w, _ in samples) / len(samples)
    w0_mean = sum(w0 for w0, _, _ in samples) / len(samples)
    np.testing.assert_allclose(mcmc_model.coef_, w_mean, rtol=1e-12, atol=1e-12)
    assert mcmc_model.intercept_ == pytest.approx(w0_mean, rel=1e-12)
    assert not np.allclose(mcmc_model.coef_, mcmc_model.w_)  # not just the last sample


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_unfitted_estimators_have_no_coef(cls):
    model = cls()
    assert not hasattr(model, "coef_") and not hasattr(model, "intercept_")
    with pytest.raises(NotFittedError):
        model.coef_  # noqa: B018
    with pytest.raises(NotFittedError):
        feature_importance(model)


def test_select_from_model_uses_coef():
    pytest.importorskip("sklearn")
    from sklearn.feature_selection import SelectFromModel

    X, y = data()
    selector = SelectFromModel(FMRegressor(n_factors=0, n_epochs=30, learning_rate=0.02,
                                           random_state=0), max_features=2, threshold=-np.inf)
    selector.fit(X, y)
    assert sorted(np.flatnonzero(selector.get_support())) == [0, 3]  # the linear features


# -- feature_importance ---------------------------------------------------------------------

@pytest.mark.parametrize("which", ["sgd_model", "mcmc_model"])
def test_feature_importance_matches_naive_formulas(which, request):
    model = request.getfixturevalue(which)
    table = feature_importance(model)
    samples = naive_samples(model)
    n = model.n_features_in_
    assert table["index"].tolist() == list(range(n))
    assert table["feature"].tolist() == [f"x{i}" for i in range(n)]
    for i in range(n):
        w_i = sum(w[i] for _, w, _ in samples) / len(samples)
        assert table["weight"][i] == pytest.approx(w_i, rel=1e-9, abs=1e-12)
        assert table["abs_weight"][i] == pytest.approx(abs(w_i), rel=1e-9, abs=1e-12)
        assert table["factor_norm"][i] == pytest.approx(naive_norm(model, i), rel=1e-9)


def test_feature_importance_sorting_top_and_names(sgd_model):
    names = [f"f{i}" for i in range(6)]
    full = feature_importance(sgd_model, feature_names=names)
    for key in ("abs_weight", "factor_norm", "weight"):
        table = feature_importance(sgd_model, feature_names=names, sort_by=key, top=3)
        expected = sorted(range(6), key=lambda i: -full[key][i])[:3]
        assert table["index"].tolist() == expected
        assert table["feature"].tolist() == [names[i] for i in expected]
        np.testing.assert_array_equal(table[key], full[key][expected])
    with pytest.raises(ValueError, match="sort_by"):
        feature_importance(sgd_model, sort_by="gain")
    with pytest.raises(ValueError, match="one name per feature"):
        feature_importance(sgd_model, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="top"):
        feature_importance(sgd_model, top=0)


def test_names_come_from_feature_names_in():
    pd = pytest.importorskip("pandas")
    X, y = data()
    cols = ["a", "b", "c", "d", "e", "f"]
    model = FMRegressor(n_factors=2, n_epochs=3, random_state=0)
    model.fit(pd.DataFrame(X, columns=cols), y)
    assert feature_importance(model)["feature"].tolist() == cols
    top = top_interactions(model, n=15, among=None)
    for a, b, ia, ib in zip(top["feature_a"], top["feature_b"], top["index_a"], top["index_b"]):
        assert (a, b) == (cols[ia], cols[ib])


# -- interactions -------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["sgd_model", "mcmc_model"])
def test_interaction_matrix_matches_naive_dot_products(which, request):
    model = request.getfixturevalue(which)
    G = interaction_matrix(model)
    for i, j in itertools.product(range(6), repeat=2):
        assert G[i, j] == pytest.approx(naive_pair(model, i, j), rel=1e-9, abs=1e-12)
    sub = interaction_matrix(model, features=np.array([4, 1]))
    assert sub[0, 1] == pytest.approx(naive_pair(model, 4, 1), rel=1e-9)


def test_the_matrix_and_weights_rebuild_the_prediction(sgd_model):
    """y(x) = w0 + w.x + sum_{i<j} G_ij x_i x_j, written out pair by pair."""
    X, _ = data(n=5, seed=7)
    w0, w = linear_weights(sgd_model)
    G = interaction_matrix(sgd_model)
    for x, pred in zip(X, sgd_model.predict(X)):
        naive = w0 + sum(w[i] * x[i] for i in range(6))
        naive += sum(G[i, j] * x[i] * x[j] for i in range(6) for j in range(i + 1, 6))
        assert pred == pytest.approx(naive, rel=1e-4, abs=1e-4)  # float32 model


@pytest.mark.parametrize("which", ["sgd_model", "mcmc_model"])
def test_top_interactions_is_the_brute_force_ranking(which, request):
    model = request.getfixturevalue(which)
    pairs = [(i, j, naive_pair(model, i, j)) for i in range(6) for j in range(i + 1, 6)]
    pairs.sort(key=lambda p: -abs(p[2]))
    top = top_interactions(model, n=5, among=None)
    assert list(zip(top["index_a"].tolist(), top["index_b"].tolist())) == [
        (i, j) for i, j, _ in pairs[:5]]
    np.testing.assert_allclose(top["interaction"], [v for _, _, v in pairs[:5]], rtol=1e-9)
    assert top["feature_a"].tolist() == [f"x{i}" for i, _, _ in pairs[:5]]


def test_among_restricts_to_the_largest_norms_or_given_features(sgd_model):
    norms = [naive_norm(sgd_model, i) for i in range(6)]
    keep = sorted(sorted(range(6), key=lambda i: -norms[i])[:3])
    pairs = [(i, j, naive_pair(sgd_model, i, j)) for i, j in itertools.combinations(keep, 2)]
    pairs.sort(key=lambda p: -abs(p[2]))
    top = top_interactions(sgd_model, n=10, among=3)
    assert len(top["interaction"]) == 3  # 3 features have 3 pairs
    assert list(zip(top["index_a"].tolist(), top["index_b"].tolist())) == [
        (i, j) for i, j, _ in pairs]
    given = top_interactions(sgd_model, n=1, among=np.array([5, 2]))
    assert (given["index_a"][0], given["index_b"][0]) == (2, 5)
    for bad in (np.array([0, 0]), np.array([7]), np.array([0.5])):
        with pytest.raises(ValueError, match="among"):
            top_interactions(sgd_model, among=bad)


def test_a_planted_model_is_recovered():
    """One-hot fields where one pair of values interacts strongly and one value has a
    large own effect: the ranking puts them first."""
    rng = np.random.default_rng(3)
    n, card = 6000, 8
    fields = rng.integers(0, card, size=(n, 3))
    X = sp.csr_matrix((np.ones(3 * n), (np.repeat(np.arange(n), 3),
                       (fields + np.arange(3) * card).ravel())), shape=(n, 3 * card))
    # feature 5 (field 0, value 5): +2 on its own; features 2 and 11 together: +3
    y = 2.0 * (fields[:, 0] == 5) + 3.0 * ((fields[:, 0] == 2) & (fields[:, 1] == 3))
    y = y + 0.1 * rng.normal(size=n)
    model = FMRegressor(solver="als", n_factors=4, n_epochs=30, reg_linear=1.0,
                        reg_factors=1.0, random_state=0).fit(X, y)
    assert feature_importance(model, sort_by="abs_weight")["index"][0] == 5
    top = top_interactions(model, n=1, among=None)
    assert (top["index_a"][0], top["index_b"][0]) == (2, 11)
    assert top["interaction"][0] > 1.0


@pytest.mark.parametrize("n", [1, 4, 15])
def test_top_interactions_scanned_in_blocks_equals_the_brute_force(sgd_model, monkeypatch, n):
    import rapidfm.inspection as inspection

    monkeypatch.setattr(inspection, "_BLOCK_ENTRIES", 7)  # one row of pairs per block
    pairs = [(i, j, naive_pair(sgd_model, i, j)) for i in range(6) for j in range(i + 1, 6)]
    pairs.sort(key=lambda p: -abs(p[2]))
    top = top_interactions(sgd_model, n=n, among=None)
    assert list(zip(top["index_a"].tolist(), top["index_b"].tolist())) == [
        (i, j) for i, j, _ in pairs[:n]]
    np.testing.assert_allclose(top["interaction"], [v for _, _, v in pairs[:n]], rtol=1e-9)


def test_with_x_only_pairs_that_occur_together_are_ranked():
    """One-hot user/item rows: two users never share a row, so their pair weight was
    never fitted; with X the ranking holds co-occurring pairs only, with their counts."""
    from collections import Counter

    rng = np.random.default_rng(5)
    n, n_users, n_items = 300, 6, 5
    user, item = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    X = sp.csr_matrix((np.ones(2 * n), (np.repeat(np.arange(n), 2),
                       np.column_stack([user, n_users + item]).ravel())),
                      shape=(n, n_users + n_items))
    y = rng.normal(size=n) + (user == 2) * (item == 1) * 2.0
    model = FMRegressor(n_factors=3, n_epochs=10, learning_rate=0.05, init_std=0.3,
                        random_state=0).fit(X, y)
    counts = Counter()
    for r in range(n):
        cols = sorted(X[r].indices.tolist())
        for a in range(len(cols)):
            for b in range(a + 1, len(cols)):
                counts[(cols[a], cols[b])] += 1
    expected = sorted(counts, key=lambda p: (-abs(naive_pair(model, *p)), p))
    top = top_interactions(model, n=8, among=None, X=X)
    got = list(zip(top["index_a"].tolist(), top["index_b"].tolist()))
    assert got == expected[:8]
    assert top["count"].tolist() == [counts[p] for p in got]
    np.testing.assert_allclose(top["interaction"], [naive_pair(model, *p) for p in got],
                               rtol=1e-9)
    frequent = top_interactions(model, n=8, among=None, X=X, min_count=15)
    expected = [p for p in expected if counts[p] >= 15]
    assert list(zip(frequent["index_a"].tolist(), frequent["index_b"].tolist())) == expected[:8]
    assert 0 < len(expected) < len(counts)  # the filter matters here
    with pytest.raises(ValueError, match="pass X"):
        top_interactions(model, min_count=2)
    # without X the ranking includes user-user pairs, which never occur together
    unrestricted = top_interactions(model, n=len(counts) + 15, among=None)
    assert any(b < n_users for b in unrestricted["index_b"])
    assert all(b >= n_users > a for a, b in got)
