"""rapidfm.ranking_metrics against independent references: scikit-learn's roc_auc_score
and ndcg_score group by group, and naive per-group / per-user Python loops."""

import time

import numpy as np
import pytest
import scipy.sparse as sp

from rapidfm import ranking_metrics as rm

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _random_groups(rng, n_groups, low=2, high=30):
    """Group labels for rows in shuffled (non-contiguous) order, sizes in [low, high)."""
    sizes = rng.integers(low, high, n_groups)
    labels = rng.permutation(np.arange(100, 100 + 3 * n_groups, 3))  # not 0..G-1
    qid = np.repeat(labels, sizes)
    return qid[rng.permutation(len(qid))]


def _naive_pairwise_accuracy(y, s):
    correct = pairs = 0.0
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] > y[j]:
                pairs += 1
                correct += 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
    return correct / pairs if pairs else np.nan


def _naive_precision(y, s, k):
    top = sorted(range(len(s)), key=lambda i: -s[i])[:k]  # sorted() is stable
    return sum(y[i] > 0 for i in top) / k


# ---------------------------------------------------------------------------
# group_boundaries


@pytest.mark.parametrize("string_labels", [False, True])
def test_group_boundaries_matches_a_scan_of_each_label(string_labels):
    rng = np.random.default_rng(0)
    qid = _random_groups(rng, 9)
    if string_labels:
        qid = np.array([f"q{v}" for v in qid])
    order, starts = rm.group_boundaries(qid)
    labels = sorted(set(qid.tolist()))
    assert len(starts) == len(labels) + 1
    assert starts[0] == 0 and starts[-1] == len(qid)
    for i, label in enumerate(labels):
        # the rows of the label, in their input order (a stable sort)
        np.testing.assert_array_equal(order[starts[i]:starts[i + 1]],
                                      np.flatnonzero(qid == label))


def test_group_boundaries_checks_the_length():
    with pytest.raises(ValueError, match="qid has 3 entries"):
        rm.group_boundaries([1, 2, 1], n_rows=4)
    order, starts = rm.group_boundaries(None, n_rows=4)
    np.testing.assert_array_equal(order, np.arange(4))
    np.testing.assert_array_equal(starts, [0, 4])


# ---------------------------------------------------------------------------
# auc_per_group


@pytest.mark.parametrize("seed", range(4))
def test_binary_auc_matches_roc_auc_score_per_group(seed):
    rng = np.random.default_rng(seed)
    qid = _random_groups(rng, 12)
    n = len(qid)
    y = rng.integers(0, 2, n)
    s = rng.integers(0, 4, n).astype(float)  # few distinct scores: many ties
    # one group with a single class must be skipped
    skipped = np.unique(qid)[3]
    y[qid == skipped] = 1

    per_group = rm.auc_per_group(y, s, qid, average=False)
    expected = []
    for label in np.unique(qid):
        rows = qid == label
        if len(np.unique(y[rows])) < 2:
            expected.append(np.nan)
        else:
            expected.append(sklearn_metrics.roc_auc_score(y[rows], s[rows]))
    np.testing.assert_allclose(per_group, expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(per_group[3])
    assert rm.auc_per_group(y, s, qid) == pytest.approx(np.nanmean(expected), rel=1e-12)


def test_auc_without_qid_is_roc_auc_score_and_accepts_string_labels():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200).round(1)
    assert rm.auc_per_group(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s),
                                                   rel=1e-12)
    qid = np.where(rng.random(200) < 0.5, "b", "a")
    per_group = rm.auc_per_group(y, s, qid, average=False)
    for i, label in enumerate(["a", "b"]):  # sorted unique labels
        rows = qid == label
        assert per_group[i] == pytest.approx(sklearn_metrics.roc_auc_score(y[rows], s[rows]))


@pytest.mark.parametrize("n_levels", [4, 60])  # few levels: rank path; many: merge path
def test_graded_auc_matches_a_naive_pair_loop(n_levels):
    rng = np.random.default_rng(n_levels)
    qid = _random_groups(rng, 10, low=1, high=40)
    n = len(qid)
    y = rng.integers(0, n_levels, n)
    s = rng.integers(0, 8, n).astype(float)
    per_group = rm.auc_per_group(y, s, qid, average=False)
    expected = [_naive_pairwise_accuracy(y[qid == g], s[qid == g]) for g in np.unique(qid)]
    np.testing.assert_allclose(per_group, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["levels", "merge"])
def test_both_pair_counting_methods_match_the_naive_loop(method):
    # the public function picks one method by cost; check each on the same data
    rng = np.random.default_rng(11)
    qid = _random_groups(rng, 6, low=1, high=70)
    n = len(qid)
    y = rng.normal(size=n).round(1)
    s = rng.normal(size=n).round(1)
    g, n_groups = rm._group_index(qid, n)
    correct, pairs = rm._pairwise_counts(g, y, s, n_groups, method=method)
    expected = [_naive_pairwise_accuracy(y[qid == q], s[qid == q]) for q in np.unique(qid)]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(correct / pairs, expected, rtol=1e-12, atol=1e-12)


def test_auc_of_perfect_reversed_and_constant_scores():
    y = [0, 0, 1, 1, 2]
    assert rm.auc_per_group(y, [1, 2, 3, 4, 5]) == 1.0
    assert rm.auc_per_group(y, [5, 4, 3, 2, 1]) == 0.0
    assert rm.auc_per_group(y, [7, 7, 7, 7, 7]) == 0.5


# ---------------------------------------------------------------------------
# ndcg_at_k


@pytest.mark.parametrize("k", [1, 3, 10, None])
def test_ndcg_matches_sklearn_on_equal_groups(k):
    rng = np.random.default_rng(1)
    n_groups, size = 15, 12
    relevance = rng.integers(0, 4, (n_groups, size))
    relevance[4] = 0  # all-zero group: 0 in sklearn, skipped by default here
    scores = rng.integers(0, 5, (n_groups, size)).astype(float)  # ties
    qid = np.repeat(np.arange(n_groups) * 7, size)
    shuffle = rng.permutation(n_groups * size)  # rows of a group not contiguous
    y, s, q = relevance.ravel()[shuffle], scores.ravel()[shuffle], qid[shuffle]

    expected_mean = sklearn_metrics.ndcg_score(relevance, scores, k=k)
    assert rm.ndcg_at_k(y, s, q, k=k, skip_empty=False) == pytest.approx(expected_mean,
                                                                          rel=1e-12)
    per_row = [sklearn_metrics.ndcg_score(relevance[i:i + 1], scores[i:i + 1], k=k)
               for i in range(n_groups)]
    per_group = rm.ndcg_at_k(y, s, q, k=k, average=False)
    assert np.isnan(per_group[4])
    np.testing.assert_allclose(np.delete(per_group, 4), np.delete(per_row, 4), rtol=1e-12)
    assert rm.ndcg_at_k(y, s, q, k=k) == pytest.approx(np.mean(np.delete(per_row, 4)))


@pytest.mark.parametrize("k", [1, 3, 10, None])
def test_ndcg_matches_sklearn_group_by_group_on_unequal_groups(k):
    rng = np.random.default_rng(2)
    qid = _random_groups(rng, 20, low=2, high=25)
    n = len(qid)
    y = rng.integers(0, 5, n) * (rng.random(n) < 0.6)
    s = rng.integers(0, 6, n) / 2.0
    per_group = rm.ndcg_at_k(y, s, qid, k=k, skip_empty=False, average=False)
    for i, label in enumerate(np.unique(qid)):
        rows = qid == label
        expected = sklearn_metrics.ndcg_score(y[rows][None, :], s[rows][None, :], k=k)
        assert per_group[i] == pytest.approx(expected, rel=1e-12, abs=1e-14), label


def test_ndcg_ties_do_not_depend_on_the_row_order():
    y = np.array([3, 0, 0, 1])
    s = np.array([1.0, 1.0, 1.0, 0.0])
    a = rm.ndcg_at_k(y, s, k=2)
    b = rm.ndcg_at_k(y[[2, 1, 0, 3]], s[[2, 1, 0, 3]], k=2)
    assert a == b == pytest.approx(sklearn_metrics.ndcg_score([y], [s], k=2))


# ---------------------------------------------------------------------------
# precision_at_k


@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_precision_matches_a_naive_per_group_computation(k):
    rng = np.random.default_rng(3)
    qid = _random_groups(rng, 15, low=1, high=30)  # groups shorter than k too
    n = len(qid)
    y = rng.integers(0, 3, n) * (rng.random(n) < 0.4)
    s = rng.integers(0, 5, n).astype(float)
    per_group = rm.precision_at_k(y, s, qid, k=k, average=False)
    expected = []
    for label in np.unique(qid):
        rows = qid == label
        expected.append(_naive_precision(y[rows], s[rows], k) if (y[rows] > 0).any()
                        else np.nan)
    np.testing.assert_allclose(per_group, expected, rtol=1e-12)
    assert rm.precision_at_k(y, s, qid, k=k) == pytest.approx(np.nanmean(expected))


def test_precision_divides_by_k_and_breaks_ties_by_row_order():
    assert rm.precision_at_k([1, 1], [0.5, 0.2], k=10) == pytest.approx(0.2)
    assert rm.precision_at_k([0, 1], [1.0, 1.0], k=1) == 0.0  # the first row wins the tie
    assert rm.precision_at_k([1, 0], [1.0, 1.0], k=1) == 1.0


# ---------------------------------------------------------------------------
# recommendation_metrics


def _naive_recommendation(scores, positives, exclude, k):
    positives = positives.toarray() != 0
    exclude = np.zeros_like(positives) if exclude is None else exclude.toarray() != 0
    aucs, precisions = [], []
    for u in range(scores.shape[0]):
        candidates = np.flatnonzero(~exclude[u])
        labels = positives[u, candidates]
        if not labels.any():
            aucs.append(np.nan)
            precisions.append(np.nan)
            continue
        user_scores = scores[u, candidates]
        if labels.all():
            aucs.append(np.nan)
        else:
            aucs.append(sklearn_metrics.roc_auc_score(labels, user_scores))
        # manual top k: descending score, ties to the lower item index
        top = sorted(range(len(candidates)), key=lambda i: -user_scores[i])[:k]
        precisions.append(sum(labels[i] for i in top) / k)
    return np.array(aucs), np.array(precisions)


def _random_interactions(rng, n_users, n_items):
    scores = rng.integers(0, 6, (n_users, n_items)).astype(np.float32)  # ties
    positives = sp.random(n_users, n_items, density=0.08, format="lil", random_state=rng)
    exclude = sp.random(n_users, n_items, density=0.2, format="lil", random_state=rng)
    positives[0, :] = 0  # no positive
    positives[1, :] = 1  # every candidate positive: AUC undefined, precision defined
    exclude[2, 3:] = 1  # fewer candidates than k
    exclude[2, 0] = 0
    positives[2, 0] = 1
    positives[3, :] = 0
    positives[3, :5] = 1
    exclude[3, :5] = 1  # every positive excluded
    # excluded items get the highest scores: counting any of them would show
    excluded = exclude.toarray() != 0
    scores[excluded] = 100.0
    # and some positives are excluded too (they must be dropped)
    exclude[(rng.random((n_users, n_items)) < 0.05) & (positives.toarray() != 0)] = 1
    return scores, positives.tocsr(), exclude.tocsr()


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_recommendation_metrics_match_a_naive_user_loop(k, chunk_size):
    rng = np.random.default_rng(k)
    scores, positives, exclude = _random_interactions(rng, 40, 60)
    result = rm.recommendation_metrics(scores, positives, exclude, k=k, chunk_size=chunk_size)
    auc, precision = _naive_recommendation(scores, positives, exclude, k)
    np.testing.assert_allclose(result["per_user_auc"], auc, rtol=1e-12)
    np.testing.assert_allclose(result["per_user_precision"], precision, rtol=1e-12)
    assert np.isnan(auc[[0, 1, 3]]).all() and np.isnan(precision[[0, 3]]).all()
    assert not np.isnan(precision[[1, 2]]).any()
    assert result["auc"] == pytest.approx(np.nanmean(auc))
    assert result["precision_at_k"] == pytest.approx(np.nanmean(precision))
    assert result["n_users"] == int((~np.isnan(precision)).sum())
    assert result["k"] == k


def test_recommendation_metrics_without_exclusions_and_with_other_sparse_formats():
    rng = np.random.default_rng(9)
    scores = rng.normal(size=(30, 50))
    positives = sp.random(30, 50, density=0.1, format="coo", random_state=rng)
    auc, precision = _naive_recommendation(scores, positives, None, 10)
    for matrix in (positives, positives.tocsc(), sp.csr_array(positives)):
        result = rm.recommendation_metrics(scores, matrix, k=10)
        np.testing.assert_allclose(result["per_user_auc"], auc, rtol=1e-12)
        np.testing.assert_allclose(result["per_user_precision"], precision, rtol=1e-12)


def test_excluded_items_never_enter_the_top_k():
    scores = np.array([[9.0, 8.0, 1.0, 0.5, 0.2]])
    positives = sp.csr_matrix([[1, 1, 0, 1, 0]])
    exclude = sp.csr_matrix([[1, 0, 0, 0, 0]])  # the best-scored item, a positive
    result = rm.recommendation_metrics(scores, positives, exclude, k=2)
    # candidates ranked 1, 2, 3, 4 -> top 2 = items 1, 2, one positive
    assert result["precision_at_k"] == 0.5
    # positives 1 and 3 against negatives 2 and 4: (1>2, 1>4, 3<2, 3>4) = 3/4
    assert result["auc"] == 0.75
    # an explicitly stored zero is not a positive
    stored_zero = sp.csr_matrix((np.array([0.0, 1.0]), (np.array([0, 0]), np.array([0, 2]))),
                                shape=(1, 5))
    result = rm.recommendation_metrics(scores, stored_zero, k=1)
    assert result["per_user_precision"][0] == 0.0  # item 0 is top but not a positive
    assert result["auc"] == pytest.approx(0.5)  # item 2 beats items 3, 4, loses to 0, 1


def test_recommendation_metrics_memory_is_bounded_by_chunks(monkeypatch):
    seen = []
    score_chunk = rm._score_chunk

    def spy(block, *args):
        seen.append(block.shape)
        return score_chunk(block, *args)

    monkeypatch.setattr(rm, "_score_chunk", spy)
    monkeypatch.setattr(rm, "_CHUNK_ELEMENTS", 1000)
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(95, 300))
    positives = sp.random(95, 300, density=0.05, format="csr", random_state=rng)
    rm.recommendation_metrics(scores, positives, k=5)
    assert sum(rows for rows, _ in seen) == 95
    assert max(rows for rows, _ in seen) * 300 <= 1000


def test_recommendation_metrics_is_fast_on_a_movielens_sized_matrix():
    rng = np.random.default_rng(6)
    scores = rng.normal(size=(943, 1682)).astype(np.float32)
    positives = sp.random(943, 1682, density=0.006, format="csr", random_state=rng)
    exclude = sp.random(943, 1682, density=0.05, format="csr", random_state=rng)
    start = time.perf_counter()
    result = rm.recommendation_metrics(scores, positives, exclude, k=10)
    elapsed = time.perf_counter() - start
    assert 0.45 < result["auc"] < 0.55  # random scores
    assert elapsed < 3.0  # about 0.2 s; a generous bound against per-item loops


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("metric", [rm.auc_per_group, rm.precision_at_k, rm.ndcg_at_k])
def test_ranking_metric_argument_errors(metric):
    y, s = [0, 1, 1], [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="y_score has 2 rows but y_true has 3"):
        metric(y, s[:2])
    with pytest.raises(ValueError, match="qid has 2 entries"):
        metric(y, s, [1, 2])
    with pytest.raises(ValueError, match="y_score contains NaN"):
        metric(y, [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="y_true contains NaN"):
        metric([0, np.nan, 1], s)
    with pytest.raises(ValueError, match="y_true must be 1-D"):
        metric([[0, 1, 1]], [s])
    with pytest.raises(TypeError, match="y_true must hold real numbers"):
        metric(["a", "b", "c"], s)
    with pytest.raises(ValueError, match="y_true is empty"):
        metric([], [])


@pytest.mark.parametrize("metric", [rm.precision_at_k, rm.ndcg_at_k])
def test_k_errors(metric):
    y, s = [0, 1, 1], [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="k must be >= 1"):
        metric(y, s, k=0)
    with pytest.raises(TypeError, match="k must be"):
        metric(y, s, k=2.5)
    with pytest.raises(TypeError, match="k must be"):
        metric(y, s, k=True)


def test_nothing_to_score_raises():
    with pytest.raises(ValueError, match="only one distinct y_true"):
        rm.auc_per_group([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], qid=[1, 1, 2, 2])
    with pytest.raises(ValueError, match="no group has a row with y_true > 0"):
        rm.precision_at_k([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="no group has a row with y_true > 0"):
        rm.ndcg_at_k([0, 0], [0.1, 0.2])
    assert rm.ndcg_at_k([0, 0], [0.1, 0.2], skip_empty=False) == 0.0  # as sklearn
    with pytest.raises(ValueError, match="y_true >= 0"):
        rm.ndcg_at_k([-1, 1], [0.1, 0.2])


def test_recommendation_metrics_argument_errors():
    scores = np.zeros((3, 4))
    positives = sp.csr_matrix(np.eye(3, 4))
    with pytest.raises(ValueError, match="scores must be 2-D"):
        rm.recommendation_metrics(np.zeros(4), positives)
    with pytest.raises(TypeError, match="scores must be a dense"):
        rm.recommendation_metrics(sp.csr_matrix(scores), positives)
    with pytest.raises(ValueError, match="scores contains NaN"):
        bad = scores.copy()
        bad[1, 2] = np.nan
        rm.recommendation_metrics(bad, positives)
    with pytest.raises(ValueError, match=r"positives has shape \(3, 5\)"):
        rm.recommendation_metrics(scores, sp.csr_matrix((3, 5)))
    with pytest.raises(ValueError, match=r"exclude has shape \(2, 4\)"):
        rm.recommendation_metrics(scores, positives, exclude=sp.csr_matrix((2, 4)))
    with pytest.raises(TypeError, match="positives must be a scipy.sparse matrix"):
        rm.recommendation_metrics(scores, [[1, 0, 0, 0]] * 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        rm.recommendation_metrics(scores, positives, k=0)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        rm.recommendation_metrics(scores, positives, chunk_size=0)
    with pytest.raises(ValueError, match="no user has a positive item that is not excluded"):
        rm.recommendation_metrics(scores, positives, exclude=positives)
