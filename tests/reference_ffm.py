"""Independent NumPy references for the field-aware FM (FFM) tests (not tests themselves).

Written from the model's definition in the FFM spec (libffm's model), deliberately naive:
a row is a plain list of (feature, field, value) entries, the pairwise term is the
explicit double loop over the pairs p < q in stored order, and a step updates one
pair at a time exactly as the spec says, with float64 scalars. Nothing here imports
rapidfm, so agreement with the C kernel is evidence of correctness.

The model, for a row of entries p = (j_p, f_p, val_p):
    x_p = val_p * r, r = 1 / ||val||_2 (1 for an empty row) when normalize, else r = 1;
    y(x) = [linear: w0 + sum_p w[j_p] x_p] + sum_{p<q} <V[j_p, f_q], V[j_q, f_p]> x_p x_q.

The losses and their derivatives are reference.py's (naive_loss is the objective, with
the squared loss halved so that its derivative is p - y); the loss an epoch reports is
the kernels' (squared: (p - y)^2, so that sqrt(mean) is the RMSE; logistic: log(1 + e^-yp)).
"""

import math

import numpy as np
from reference import naive_loss, naive_loss_derivative

ADAGRAD_EPS = 1e-12
RULES = ("sgd", "adagrad", "ftrl")


def csr_to_rows(indptr, indices, fields, data=None):
    """The rows of a CSR matrix with a fields array aligned with its indices, as lists of
    (feature, field, value) tuples of Python ints and floats, in stored order.
    data=None means every stored value is 1 (one-hot rows)."""
    indptr = np.asarray(indptr)
    rows = []
    for i in range(len(indptr) - 1):
        row = []
        for pos in range(int(indptr[i]), int(indptr[i + 1])):
            value = 1.0 if data is None else float(data[pos])
            row.append((int(indices[pos]), int(fields[pos]), value))
        rows.append(row)
    return rows


def rows_to_csr(rows):
    """(indptr int64, indices int64, fields int32, data float64) of a list of rows."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indices, fields, data = [], [], []
    for i, row in enumerate(rows):
        indptr[i + 1] = indptr[i] + len(row)
        for j, f, v in row:
            indices.append(j)
            fields.append(f)
            data.append(v)
    return (indptr, np.asarray(indices, dtype=np.int64), np.asarray(fields, dtype=np.int32),
            np.asarray(data, dtype=np.float64))


def scaled_row(row, normalize):
    """[(j_p, f_p, x_p)]: the values scaled by r = 1/||val||_2 when normalize (1 for an
    empty row)."""
    r = 1.0
    if normalize and len(row) > 0:
        r = 1.0 / math.sqrt(sum(float(v) * float(v) for _, _, v in row))
    return [(int(j), int(f), float(v) * r) for j, f, v in row]


def _predict_scaled(xs, w0, w, V, linear):
    out = 0.0
    if linear:
        out = float(w0)
        for j, _, x in xs:
            out += float(w[j]) * x
    n = len(xs)
    for p in range(n):
        jp, fp, xp = xs[p]
        for q in range(p + 1, n):
            jq, fq, xq = xs[q]
            dot = 0.0
            for d in range(V.shape[2]):
                dot += float(V[jp, fq, d]) * float(V[jq, fp, d])
            out += dot * xp * xq
    return out


def naive_ffm_predict(rows, w0, w, V, linear=True, normalize=False):
    """y(x) of every row (a list of (feature, field, value) entries), in float64."""
    w = np.asarray(w, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    assert V.ndim == 3 and V.shape[0] == w.shape[0]
    return np.array([_predict_scaled(scaled_row(row, normalize), w0, w, V, linear)
                     for row in rows], dtype=np.float64)


def reported_loss(loss, p, y):
    """The loss an epoch adds to loss_sum (before the sample weight): squared (p - y)^2,
    logistic log(1 + exp(-y p))."""
    if loss == "squared":
        return (p - y) ** 2
    return naive_loss(loss, p, y)


def ffm_loss(rows, y, w0, w, V, *, loss, linear=True, normalize=False, sample_weight=None,
             reg_bias=0.0, reg_linear=0.0, reg_factors=0.0):
    """The objective one SGD step per row descends, summed over the rows:

        sw L(y(x), y) + reg_bias/2 w0^2 [linear] + reg_linear/2 sum_p w[j_p]^2 [linear]
                      + reg_factors/2 sum_{p != q} ||V[j_p, f_q]||^2,

    L = naive_loss (squared: (p - y)^2 / 2). The L2 terms cover the parameters the row
    uses, once per use: the step applies reg theta once per use. Its gradient is the
    step's direction exactly when every parameter is used once in the row (distinct
    features, one value per field); there is no clipping here."""
    w = np.asarray(w, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    sw = np.ones(len(rows)) if sample_weight is None else np.atleast_1d(sample_weight)
    total = 0.0
    for row, target, weight in zip(rows, y, sw):
        xs = scaled_row(row, normalize)
        pred = _predict_scaled(xs, w0, w, V, linear)
        total += float(weight) * naive_loss(loss, pred, float(target))
        if linear:
            total += 0.5 * reg_bias * float(w0) ** 2
            total += 0.5 * reg_linear * sum(float(w[j]) ** 2 for j, _, _ in xs)
        for p, (jp, _, _) in enumerate(xs):
            for q, (_, fq, _) in enumerate(xs):
                if p != q:
                    total += 0.5 * reg_factors * float(V[jp, fq] @ V[jp, fq])
    return total


def zero_state(n_features, n_fields, k):
    """The adaptive rules' state at the start of a fit, as a dict (see naive_ffm_step)."""
    return {"w0_sq": 0.0, "w0_z": 0.0, "w_sq": np.zeros(n_features),
            "w_z": np.zeros(n_features), "V_sq": np.zeros((n_features, n_fields, k))}


def _adagrad(theta, grad, sq, lr):
    """G += grad^2; theta -= lr grad / sqrt(G + eps) (grad with its L2 term): the
    AdaGrad formula of reference.naive_adaptive_step."""
    sq = sq + grad * grad
    return theta - lr * grad / np.sqrt(sq + ADAGRAD_EPS), sq


def _ftrl(theta, grad, z, n, lr, beta, l1, l2):
    """FTRL-proximal on one coordinate with loss gradient grad, state (z, n): the formula
    of reference.naive_adaptive_step (McMahan et al. 2013)."""
    n_new = n + grad * grad
    sigma = (math.sqrt(n_new) - math.sqrt(n)) / lr
    z = z + grad - sigma * theta
    if abs(z) <= l1:
        new = 0.0
    else:
        new = -(z - math.copysign(l1, z)) / ((beta + math.sqrt(n_new)) / lr + l2)
    return new, z, n_new


def naive_ffm_step(row, y, w0, w, V, state=None, *, rule, loss, lr, reg_bias=0.0,
                   reg_linear=0.0, reg_factors=0.0, beta=1.0, l1=0.0, linear=True,
                   normalize=False, clip_min=-np.inf, clip_max=np.inf, sample_weight=1.0):
    """One step of rule ("sgd", "adagrad", "ftrl") on one row, in float64, per the spec.

    state (adagrad, ftrl; ignored for sgd) = dict(w0_sq, w0_z, w_sq (n_features,),
    w_z (n_features,), V_sq shaped like V): the sums of squared gradients (FTRL: n) and
    FTRL's z. Returns (w0, w, V, state, loss): new objects (the inputs are not touched),
    loss = sample_weight * the reported loss of the row (at the clipped prediction).

    Order: the prediction with the parameters before the step; then (linear) w0, then
    w[j_p] for p in stored order; then the pairs p = 0..n-1, q = p+1..n-1, each reading
    a = V[j_p, f_q] and b = V[j_q, f_p] as they are before that pair and writing both.
    """
    if rule not in RULES:
        raise ValueError(rule)
    w = np.array(w, dtype=np.float64, copy=True)
    V = np.array(V, dtype=np.float64, copy=True)
    w0 = float(w0)
    if state is None:
        st = None
    else:
        st = {key: np.array(value, dtype=np.float64, copy=True) for key, value in state.items()}
        st["w0_sq"] = float(st["w0_sq"])
        st["w0_z"] = float(st["w0_z"])
    if rule != "sgd" and st is None:
        raise ValueError(f"rule {rule!r} needs a state")
    sw = float(sample_weight)
    y = float(y)

    xs = scaled_row(row, normalize)
    pred = _predict_scaled(xs, w0, w, V, linear)
    if loss == "squared":
        pred = min(max(pred, clip_min), clip_max)
    g = sw * naive_loss_derivative(loss, pred, y)
    row_loss = sw * reported_loss(loss, pred, y)

    if linear:
        if rule == "sgd":
            w0 = w0 - lr * (g + reg_bias * w0)
        elif rule == "adagrad":
            w0, st["w0_sq"] = _adagrad(w0, g + reg_bias * w0, st["w0_sq"], lr)
            w0 = float(w0)
        else:
            w0, st["w0_z"], st["w0_sq"] = _ftrl(w0, g, st["w0_z"], st["w0_sq"], lr, beta,
                                                0.0, reg_bias)
        for j, _, x in xs:
            grad = g * x
            theta = float(w[j])
            if rule == "sgd":
                w[j] = theta - lr * (grad + reg_linear * theta)
            elif rule == "adagrad":
                w[j], st["w_sq"][j] = _adagrad(theta, grad + reg_linear * theta,
                                               float(st["w_sq"][j]), lr)
            else:
                w[j], st["w_z"][j], st["w_sq"][j] = _ftrl(
                    theta, grad, float(st["w_z"][j]), float(st["w_sq"][j]), lr, beta, l1,
                    reg_linear)

    n = len(xs)
    for p in range(n):
        jp, fp, xp = xs[p]
        for q in range(p + 1, n):
            jq, fq, xq = xs[q]
            s = g * xp * xq
            a = V[jp, fq].copy()
            b = V[jq, fp].copy()
            ga = s * b + reg_factors * a
            gb = s * a + reg_factors * b
            if rule == "sgd":
                V[jp, fq] = a - lr * ga
                V[jq, fp] = b - lr * gb
            else:
                V[jp, fq], st["V_sq"][jp, fq] = _adagrad(a, ga, st["V_sq"][jp, fq], lr)
                V[jq, fp], st["V_sq"][jq, fp] = _adagrad(b, gb, st["V_sq"][jq, fp], lr)
    return w0, w, V, st, row_loss
