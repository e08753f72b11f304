"""Model kinds: what a model's parameters are, how they start and how they predict.

Two kinds: the Factorization Machine of order 2 (``"fm"``: w0, w (n_features) and V
(n_features x n_factors)) and the field-aware FM (``"ffm"``: V is n_features x
n_fields x n_factors, one latent vector per feature and field, and a row comes with
the field of each value). A kind is a small class with the parameter shapes, the
initialisation, the row maths (the kernel's predict) and the kernel's SGD-family
epoch; solvers and tasks work through it.
"""

from dataclasses import dataclass

import numpy as np

from rapidfm import _core


@dataclass
class FMParameters:
    """The parameters of a Factorization Machine, as float arrays of one dtype."""

    w0: float
    w: np.ndarray
    V: np.ndarray

    kind = "fm"

    @classmethod
    def new(cls, n_features, n_factors, dtype, seed, init_std, w0=0.0):
        """w = 0, V ~ N(0, init_std^2) from np.random.default_rng(seed)."""
        V = np.random.default_rng(seed).normal(0.0, init_std, size=(n_features, n_factors))
        return cls(float(w0), np.zeros(n_features, dtype=dtype), V.astype(dtype))

    @classmethod
    def of(cls, estimator, dtype):
        """Copies of a fitted estimator's w0_, w_, V_ (the estimator stays intact if
        training them fails)."""
        return cls(float(estimator.w0_),
                   np.array(estimator.w_, dtype=dtype, order="C", copy=True),
                   np.array(estimator.V_, dtype=dtype, order="C", copy=True))

    @property
    def n_factors(self):
        return self.V.shape[1]

    def copy(self):
        return type(self)(self.w0, self.w.copy(), self.V.copy())

    def is_finite(self):
        return bool(np.isfinite(self.w0) and np.isfinite(self.w).all()
                    and np.isfinite(self.V).all())

    def predict(self, indptr, indices, data, n_threads):
        """y(x) of every CSR row (data None: all values 1), float64."""
        return _core.predict(self.w0, self.w, self.V, indptr, indices, data, n_threads)

    def predict_rows(self, rows, n_threads):
        """y(x) of the rows of a validated block (estimators._Rows)."""
        return self.predict(rows.indptr, rows.indices, rows.data, n_threads)

    def sgd_epoch(self, rows, **options):
        """One epoch of the SGD-family kernel over `rows`, in place; sets w0 and returns
        the kernel's stats (options: those of _core.sgd_epoch after y, sample_weight).
        Rows that carry ranking pairs (rapidfm._pairs) train the pairs instead."""
        if rows.pairs is not None:
            return rows.pairs.epoch(self, rows, **options)
        self.w0, stats = _core.sgd_epoch(self.w0, self.w, self.V, rows.indptr, rows.indices,
                                         rows.data, rows.y, rows.sample_weight, **options)
        return stats

    def rescaled(self, factor):
        """The parameters of factor * y(x): w0 and w times factor, V times sqrt(factor).
        A power of 4 as factor makes both multiplications exact in binary floating
        point, so rescaling back and forth returns the parameters bit for bit."""
        root = np.sqrt(factor)
        return self._like(self.w0 * factor, (self.w * self.w.dtype.type(factor)),
                          (self.V * self.V.dtype.type(root)))

    def _like(self, w0, w, V):
        return type(self)(w0, w, V)

    def attributes(self):
        return {"w0_": float(self.w0), "w_": self.w, "V_": self.V}


@dataclass
class FFMParameters(FMParameters):
    """The parameters of a field-aware FM: V of shape (n_features, n_fields, n_factors);
    linear False drops w0 and w from the model (libffm's), normalize scales every row
    to unit L2 norm (libffm's instance normalisation). Rows carry their fields
    (estimators._Rows.fields, one int32 per stored value)."""

    linear: bool = True
    normalize: bool = False

    kind = "ffm"

    @classmethod
    def new(cls, n_features, n_fields, n_factors, dtype, seed, init_std, w0=0.0, *,
            linear=True, normalize=False):
        """w = 0, V ~ N(0, init_std^2) from np.random.default_rng(seed) (in dtype); w0 = 0
        without the linear terms."""
        # drawn in the model's dtype: V has n_fields times the FM's values, and float64
        # draws then a cast took a fifth of an epoch on 1M rows x 10 fields
        V = np.random.default_rng(seed).standard_normal(
            size=(n_features, n_fields, n_factors), dtype=np.dtype(dtype).type)
        V *= V.dtype.type(init_std)
        return cls(float(w0) if linear else 0.0, np.zeros(n_features, dtype=dtype), V,
                   bool(linear), bool(normalize))

    @classmethod
    def of(cls, estimator, dtype):
        return cls(float(estimator.w0_),
                   np.array(estimator.w_, dtype=dtype, order="C", copy=True),
                   np.array(estimator.V_, dtype=dtype, order="C", copy=True),
                   bool(estimator.fit_linear), bool(estimator.normalize))

    @property
    def n_factors(self):
        return self.V.shape[2]

    @property
    def n_fields(self):
        return self.V.shape[1]

    def _like(self, w0, w, V):
        return type(self)(w0, w, V, self.linear, self.normalize)

    def copy(self):
        return self._like(self.w0, self.w.copy(), self.V.copy())

    def predict(self, indptr, indices, data, n_threads, fields=None):
        return _core.ffm_predict(self.w0, self.w, self.V, indptr, indices, fields, data,
                                 linear=self.linear, normalize=self.normalize,
                                 n_threads=n_threads)

    def predict_rows(self, rows, n_threads):
        return self.predict(rows.indptr, rows.indices, rows.data, n_threads, rows.fields)

    def sgd_epoch(self, rows, **options):
        self.w0, stats = _core.ffm_sgd_epoch(
            self.w0, self.w, self.V, rows.indptr, rows.indices, rows.fields, rows.data, rows.y,
            rows.sample_weight, linear=self.linear, normalize=self.normalize, **options)
        return stats
