"""A naive NumPy reference of the pairwise ranking objective (BPR), for the tests.

Rows are dense vectors over all the model's features (a context row, when there is
one, occupies the first columns and is added to both rows of the pair). Nothing here
shares code with rapidfm: the score is the FM formula written out over all pairs of
features, O(n^2 k) per row.
"""

import numpy as np


def fm_score(w, V, x):
    """y(x) without w0: sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j."""
    score = float(w @ x)
    nz = np.flatnonzero(x)
    for a, i in enumerate(nz):
        for j in nz[a + 1:]:
            score += float(V[i] @ V[j]) * x[i] * x[j]
    return score


def pair_objective(w, V, xa, xb, weight=1.0, reg_linear=0.0, reg_factors=0.0):
    """weight * log(1 + exp(-(y(xa) - y(xb)))) + the L2 terms of the features present in
    xa or xb (each once): reg_linear / 2 w_j^2 + reg_factors / 2 |v_j|^2."""
    diff = fm_score(w, V, xa) - fm_score(w, V, xb)
    loss = weight * np.logaddexp(0.0, -diff)
    used = np.flatnonzero((xa != 0) | (xb != 0))
    loss += 0.5 * reg_linear * float(np.sum(w[used] ** 2))
    loss += 0.5 * reg_factors * float(np.sum(V[used] ** 2))
    return loss


def finite_difference_gradient(w, V, xa, xb, eps=1e-6, **objective):
    """Central differences of pair_objective with respect to every entry of w and V."""
    gw = np.zeros_like(w)
    gV = np.zeros_like(V)
    for target, grad in ((w, gw), (V, gV)):
        flat, out = target.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + eps
            up = pair_objective(w, V, xa, xb, **objective)
            flat[i] = keep - eps
            down = pair_objective(w, V, xa, xb, **objective)
            flat[i] = keep
            out[i] = (up - down) / (2 * eps)
    return gw, gV
