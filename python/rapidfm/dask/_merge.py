"""How the driver merges the models the workers trained in one round.

The rule is the kernel's for its replicas (fastfm_core/src/sgd_impl.h,
fm_merge_replicas), applied per feature with the workers as the replicas: worker k's
change of feature j's parameters (w_j and its rows of V) gets the weight

    beta_k = (c_k / N) (1 - (1 - a)^N) / (1 - (1 - a)^c_k),   N = sum_k c_k,

where c_k is how many of worker k's training rows hold the feature times the epochs
of the round, and a (the fraction of the way to its target one update moves a
parameter) is the learning rate times the loss curvature, divided under AdaGrad by
sqrt(G) and under FTRL by beta + sqrt(n) of the feature's w (its sum of squares
halfway through the round), since those rules shrink the step as G grows. A feature
one worker alone holds keeps that worker's values; a feature every worker sees often
is averaged (its changes would overshoot if added); a rare one adds up as in one
serial pass. w0 is weighed the same way by the workers' row counts.

The solver state: AdaGrad's sums of squared gradients add up (each worker's increase
over the round's start is added), as over the rows of a serial pass; FTRL's z then
follows the merged weight (the z for which FTRL's weight is the merged w at the merged
n), as in the kernel.
"""

import numpy as np

from rapidfm.solvers._adaptive import SUM_SQ_V, SUM_SQ_W, SUM_SQ_W0, Z_W, Z_W0
from rapidfm.solvers.ftrl import ftrl_z_for

# as the kernel bounds a (log(1 - a) must stay finite) and adds under AdaGrad's root
MAX_STEP_FRACTION = 0.5
ADAGRAD_EPS = 1e-12


def step_fraction(learning_rate, loss):
    """The step before the adaptive rules' scaling: learning rate times the loss
    curvature (1 squared, at most 1/4 logistic)."""
    return learning_rate * (0.25 if loss == "logistic" else 1.0)


def adaptive_fraction(step, sum_sq_start, sum_sq_end, ftrl_beta=None):
    """a per feature under AdaGrad (ftrl_beta None) or FTRL, from the sums of squares
    at the round's start and end, at most MAX_STEP_FRACTION."""
    mid = 0.5 * (np.asarray(sum_sq_start, np.float64) + np.asarray(sum_sq_end, np.float64))
    if ftrl_beta is None:
        a = step / np.sqrt(mid + ADAGRAD_EPS)
    else:
        a = step / (ftrl_beta + np.sqrt(mid))
    return np.minimum(a, MAX_STEP_FRACTION)


def change_weights(counts, a):
    """beta (n_workers x n_features) from the touch counts c (n_workers x n_features);
    a: one fraction, or one per feature."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=0)
    n_touching = (counts > 0).sum(axis=0)
    log_keep = np.log1p(-np.minimum(a, MAX_STEP_FRACTION))
    with np.errstate(invalid="ignore", divide="ignore"):
        moved_total = -np.expm1(total * log_keep)
        moved = -np.expm1(counts * log_keep)
        share = np.where(moved > 0, (counts / total) * moved_total / moved, 1.0)
    share = np.where(counts > 0, share, 0.0)
    return np.where(n_touching > 1, share, (counts > 0).astype(np.float64)), n_touching


def _merge_array(base, arrays, share, n_touching, owner):
    """base + sum_k share_k (arrays_k - base) along axis 0 (features), in float64; a
    feature one worker alone touched takes that worker's values as they are."""
    shape = (share.shape[0], share.shape[1]) + (1,) * (base.ndim - 1)
    share = share.reshape(shape)
    stacked = np.stack(arrays)
    merged = base.astype(np.float64) + (share * (stacked - base.astype(np.float64))).sum(0)
    merged = merged.astype(base.dtype)
    alone = n_touching == 1
    if alone.any():
        merged[alone] = stacked[owner[alone], alone]
    return merged


def _added_up(base, arrays, touched, owner, n_touching):
    """base + the sum of the increases of the workers that touched each feature."""
    stacked = np.stack(arrays).astype(np.float64)
    mask = touched.reshape(touched.shape + (1,) * (base.ndim - 1))
    merged = (base.astype(np.float64) + (mask * (stacked - base.astype(np.float64))).sum(0))
    merged = merged.astype(base.dtype)
    alone = n_touching == 1
    if alone.any():
        merged[alone] = np.stack(arrays)[owner[alone], alone]
    return merged


def merge_models(base, base_state, results, counts, row_counts, a, ftrl=None):
    """(params, state) merged from the workers' results of one round.

    base, base_state: the round's starting parameters (a model kind object) and solver
    state ({attribute: value}); results: per worker {"params", "state"}; counts: per
    worker the touch count of every feature; row_counts: per worker its rows times the
    epochs; a: step_fraction (scaled per feature here under AdaGrad and FTRL); ftrl:
    (eta, beta, l1, l2_linear, l2_bias) for FTRL."""
    if len(results) == 1:
        return results[0]["params"].copy(), dict(results[0]["state"])
    counts = np.asarray(counts, dtype=np.float64)
    touched = counts > 0
    n_touching = touched.sum(axis=0)
    owner = np.argmax(touched, axis=0)  # the worker of a feature one worker touched
    state = {}
    a_w0 = a
    if SUM_SQ_W in results[0]["state"]:
        state[SUM_SQ_W] = _added_up(base_state[SUM_SQ_W],
                                    [r["state"][SUM_SQ_W] for r in results], touched, owner,
                                    n_touching)
        state[SUM_SQ_V] = _added_up(base_state[SUM_SQ_V],
                                    [r["state"][SUM_SQ_V] for r in results], touched, owner,
                                    n_touching)
        state[SUM_SQ_W0] = float(base_state[SUM_SQ_W0] + sum(
            r["state"][SUM_SQ_W0] - base_state[SUM_SQ_W0] for r in results))
        beta = ftrl[1] if ftrl is not None else None
        a_w0 = adaptive_fraction(a, base_state[SUM_SQ_W0], state[SUM_SQ_W0], beta)
        a = adaptive_fraction(a, base_state[SUM_SQ_W], state[SUM_SQ_W], beta)
    share, _ = change_weights(counts, a)
    params = base.copy()
    params.w = _merge_array(base.w, [r["params"].w for r in results], share, n_touching, owner)
    params.V = _merge_array(base.V, [r["params"].V for r in results], share, n_touching, owner)
    bias_share, _ = change_weights(np.asarray(row_counts, np.float64)[:, None], a_w0)
    params.w0 = float(base.w0 + sum(float(s) * (r["params"].w0 - base.w0)
                                    for s, r in zip(bias_share[:, 0], results)))
    if Z_W in results[0]["state"]:
        eta, beta, l1, l2, l2_bias = ftrl
        z_sum = base_state[Z_W].astype(np.float64) + sum(
            (r["state"][Z_W].astype(np.float64) - base_state[Z_W]) * (c > 0)
            for r, c in zip(results, counts))
        z = ftrl_z_for(params.w.astype(np.float64), eta, beta, l1, l2,
                       n=state[SUM_SQ_W].astype(np.float64), z_old=z_sum)
        untouched, alone = n_touching == 0, n_touching == 1
        z[untouched] = base_state[Z_W][untouched]
        z[alone] = np.stack([r["state"][Z_W] for r in results])[owner[alone], alone]
        state[Z_W] = z.astype(base_state[Z_W].dtype)
        z0 = base_state[Z_W0] + sum(r["state"][Z_W0] - base_state[Z_W0] for r in results)
        state[Z_W0] = float(ftrl_z_for(np.float64(params.w0), eta, beta, 0.0, l2_bias,
                                       n=state[SUM_SQ_W0], z_old=z0))
    return params, state
