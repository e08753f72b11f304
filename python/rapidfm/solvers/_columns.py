"""What ALS and MCMC share: the column view of the training rows, the feature
groups and the sweep (fastfm_core/src/coord_sweep.c), one per epoch."""

import numbers

import numpy as np

from rapidfm import _core
from rapidfm._validation import as_csr, values_or_none
from rapidfm.solvers._base import Solver

_INT32_MAX = 2**31 - 1
# A sweep starts from the rows' predictions and q sums the previous sweep of the
# fit left (recomputing them was a fifth of a sweep); every REFRESH_EVERY-th
# sweep of the chain (by its count t, so that a warm start split at such a
# sweep gives the same chain bit for bit) recomputes them from the model, which
# bounds the rounding the incremental updates accumulate.
REFRESH_EVERY = 10


class ColumnView:
    """A CSR matrix with its CSC copy and the features' sweep order in blocks of
    features that share no row (made once per fit: O(nnz) memory and time, and
    the colouring O(sum over rows of nnz^2))."""

    def __init__(self, indptr, indices, data, n_features):
        if indptr[0] != 0:
            start, end = int(indptr[0]), int(indptr[-1])
            indptr = indptr - start
            indices = indices[start:end]
            data = None if data is None else data[start:end]
        if indices.dtype == np.int32 and indptr.size - 1 > _INT32_MAX:
            indices = indices.astype(np.int64)  # row ids of the CSC copy must fit
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices)
        self.data = None if data is None else np.ascontiguousarray(data)
        self.n_features = int(n_features)
        self.colptr, self.rows, self.cdata = _core.csr_to_csc(
            self.indptr, self.indices, self.data, self.n_features)
        self.order, self.block_ptr = _core.feature_blocks(
            self.indptr, self.indices, self.colptr, self.rows, self.n_features)

    @classmethod
    def of_matrix(cls, X):
        indptr, indices, data, n_features = as_csr(X, np.float64, owner="feature_blocks")
        return cls(indptr, indices, values_or_none(data), n_features)

    @property
    def n_blocks(self):
        return self.block_ptr.size - 1


def resolve_feature_groups(feature_groups, n_features):
    """(int32 group id per feature, number of groups) from the estimator parameter."""
    if feature_groups is None:
        return np.zeros(n_features, dtype=np.int32), 1
    groups = np.asarray(feature_groups)
    if groups.ndim != 1:
        raise ValueError(f"feature_groups must be a 1-D array of group ids, one per feature, "
                         f"got shape {groups.shape}")
    if groups.dtype.kind not in "iu":
        if groups.dtype.kind == "f" and np.all(np.isfinite(groups)) and np.all(
                groups == np.round(groups)):
            groups = groups.astype(np.int64)
        else:
            raise TypeError(f"feature_groups must hold integer group ids, got dtype "
                            f"{groups.dtype}")
    if groups.size != n_features:
        raise ValueError(f"feature_groups has {groups.size} entries, but X has {n_features} "
                         "features: give one group id per feature")
    if groups.size and groups.min() < 0:
        where = int(np.flatnonzero(groups < 0)[0])
        raise ValueError(f"feature_groups must be >= 0, got {groups[where]} for feature {where}")
    n_groups = int(groups.max()) + 1 if groups.size else 1
    if n_groups > max(n_features, 1):
        raise ValueError(f"feature_groups names group {n_groups - 1}, but there are only "
                         f"{n_features} features: number the groups 0, 1, ... G-1")
    return groups.astype(np.int32), n_groups


def per_group(estimator, name, n_groups):
    """A regularisation parameter (a number, or one number per feature group) as a
    float64 array of n_groups values."""
    value = getattr(estimator, name)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        values = np.full(n_groups, float(value))
    else:
        try:
            values = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or one number per feature group, "
                            f"got {value!r}") from None
        if values.ndim != 1 or values.size != n_groups:
            raise ValueError(f"{name} has {values.size} values, but feature_groups defines "
                             f"{n_groups} groups: give one number, or one per group")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return np.ascontiguousarray(values)


class ColumnSolver(Solver):
    """A solver that sweeps the parameters one coordinate at a time (ALS, MCMC)."""

    method = None  # the kernel's "als" or "mcmc"
    supports_partial_fit = False
    sample_hyper = False

    @classmethod
    def check_params(cls, est):
        value = est.reg_bias
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                np.isfinite(value) and value >= 0):
            raise ValueError(f"reg_bias must be a finite number >= 0, got {value!r}")

    def loss(self, task):
        return "squared" if task == "regression" else "probit"

    def initial_bias(self, default):
        return 0.0  # as libFM: the first sweep sets w0 before anything else

    def start(self, params, train, continuing, target_attrs):
        est = self.estimator
        self.loss_name = est._solver_loss
        self.target_attrs = target_attrs
        n_features = params.w.size
        self.groups, self.n_groups = resolve_feature_groups(est.feature_groups, n_features)
        self.view = ColumnView(train.indptr, train.indices, train.data, n_features)
        self.pred = np.empty(train.n_rows, dtype=np.float64)
        # the sweeps' scratch (residual and q sums of every row, the threads' column
        # buffers), allocated once per fit
        self.scratch = np.empty(_core.cd_scratch_bytes(
            self.loss_name, params.w, params.V, self.view.colptr, self.view.rows,
            train.n_rows, self.n_threads), dtype=np.uint8)
        self.rows_valid = False
        self.reg_bias = float(est.reg_bias)
        self.start_hyper(params, continuing)

    def start_hyper(self, params, continuing):
        raise NotImplementedError

    def sweep(self, params, train, seed, t):
        view = self.view
        reuse = self.rows_valid and t % REFRESH_EVERY != 0
        self.rows_valid = False
        params.w0, self.alpha, stats = _core.cd_sweep(
            self.method, self.loss_name, params.w0, params.w, params.V,
            view.indptr, view.indices, view.data, view.colptr, view.rows, view.cdata,
            train.y, train.sample_weight, view.order, view.block_ptr, self.groups,
            self.mu_w, self.lambda_w, self.mu_v, self.lambda_v, self.alpha, self.reg_bias,
            seed, self.n_threads, sample_hyper=self.sample_hyper, pred_out=self.pred,
            scratch=self.scratch, reuse_rows=reuse)
        self.rows_valid = True
        return stats

    def epoch(self, params, train, t, seed):
        stats = self.sweep(params, train, seed, t)
        est = self.estimator
        # y(x) of the training rows after the sweep, in their order, for callbacks that
        # report a training metric (the libFM command line) without predicting again;
        # removed when the fit ends
        est._sweep_predictions = self.pred
        outputs = est._outputs_from_raw(self.pred.copy(), self.target_attrs)
        return {"train_loss": est._train_loss_of_outputs(outputs, train),
                "n_threads": stats["n_threads"], "solver": self.name}

    def divergence_message(self, t):
        return (f"training diverged in sweep {t + 1} ({self.name}): a parameter became NaN or "
                "infinite. Scale the features (values of a very different size make the "
                "coordinate updates ill-conditioned) or use stronger regularisation.")
