"""Naive NumPy forward passes of AFM and DeepFM, from a fitted estimator's saved arrays.

Written from the papers' formulas over dense rows, one (feature, field, value) entry at a
time; nothing is shared with rapidfm.deep but the names of the saved weights
(network_layout_).
"""

import numpy as np


def _weights(model):
    out, offset = {}, 0
    flat = np.asarray(model.network_weights_, dtype=np.float64)
    for name, shape in model.network_layout_:
        n = int(np.prod(shape)) if shape else 1
        out[name] = flat[offset:offset + n].reshape(shape)
        offset += n
    return out


def field_embeddings(model, features, fields, values):
    """e (n_fields, k) and the linear part w0 + sum w_j x_j of one row."""
    V, w = np.asarray(model.V_, np.float64), np.asarray(model.w_, np.float64)
    e = np.zeros((int(model.n_fields_), V.shape[1]))
    linear = float(model.w0_)
    for j, f, x in zip(features, fields, values):
        e[f] += V[j] * x
        linear += w[j] * x
    return e, linear


def deepfm_output(model, features, fields, values):
    e, linear = field_embeddings(model, features, fields, values)
    m = e.shape[0]
    fm = sum(float(e[f] @ e[g]) for f in range(m) for g in range(f + 1, m))
    weights = _weights(model)
    layers = sorted({int(name.split(".")[1]) for name in weights if name.startswith("dnn.")})
    h = e.reshape(-1)
    for i, layer in enumerate(layers):
        h = weights[f"dnn.{layer}.weight"] @ h + weights[f"dnn.{layer}.bias"]
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return linear + fm + float(h[0])


def afm_output(model, features, fields, values):
    e, linear = field_embeddings(model, features, fields, values)
    m = e.shape[0]
    weights = _weights(model)
    W, b = weights["attention.weight"], weights["attention.bias"]
    h, p = weights["h"], weights["p"]
    products = [e[f] * e[g] for f in range(m) for g in range(f + 1, m)]
    scores = np.array([h @ np.maximum(W @ q + b, 0.0) for q in products])
    a = np.exp(scores - scores.max())
    a /= a.sum()
    pooled = sum(ai * q for ai, q in zip(a, products))
    return linear + float(p @ pooled)
