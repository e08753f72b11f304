"""Model kinds: what a model's parameters are, how they start and how they predict.

Today one kind, the Factorization Machine of order 2 (``"fm"``): w0, w
(n_features) and V (n_features x n_factors). A kind is a small class with the
parameter shapes, the initialisation and the row maths (the kernel's predict);
solvers and tasks work through it, so a field-aware kind can sit beside it.
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
        return FMParameters(self.w0, self.w.copy(), self.V.copy())

    def is_finite(self):
        return bool(np.isfinite(self.w0) and np.isfinite(self.w).all()
                    and np.isfinite(self.V).all())

    def predict(self, indptr, indices, data, n_threads):
        """y(x) of every CSR row (data None: all values 1), float64."""
        return _core.predict(self.w0, self.w, self.V, indptr, indices, data, n_threads)

    def rescaled(self, factor):
        """The parameters of factor * y(x): w0 and w times factor, V times sqrt(factor).
        A power of 4 as factor makes both multiplications exact in binary floating
        point, so rescaling back and forth returns the parameters bit for bit."""
        root = np.sqrt(factor)
        return FMParameters(self.w0 * factor, (self.w * self.w.dtype.type(factor)),
                            (self.V * self.V.dtype.type(root)))

    def attributes(self):
        return {"w0_": float(self.w0), "w_": self.w, "V_": self.V}
