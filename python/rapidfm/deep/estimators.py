"""AFM and DeepFM estimators: the FFM estimators' inputs and lifecycle, a PyTorch model.

They take what FFMClassifier / FFMRegressor take (CSR X with the field of every value, or
feature_fields per column; from the readers, caches or rapidfm.encode_frame) and share
the training loop of every rapidfm estimator (early stopping with best-epoch restore,
eval_set, callbacks, history_, warm_start, save / load). What differs is the model kind
(rapidfm.deep.model_kind.NetworkParameters) and the solver ("minibatch": Adam or
Adagrad over mini-batches).
"""

import numbers

import numpy as np

from rapidfm._registry import register_estimator
from rapidfm._validation import check_real_param, effective_n_threads
from rapidfm.deep import model_kind
from rapidfm.estimators import _BaseFM
from rapidfm.field_aware import FFMClassifier, FFMRegressor

__all__ = ["AFMClassifier", "AFMRegressor", "DeepFMClassifier", "DeepFMRegressor"]


class _Network:
    """The neural model kind, placed before FFMClassifier / FFMRegressor in the MRO."""

    _is_network = True
    _network_kind = None  # "afm" or "deepfm"
    _parameters = model_kind.NetworkParameters
    _shuffle_copy_pays = False
    # what the FFM and FM code paths read that the neural models fix
    normalize = False
    fit_linear = True
    parallel = "auto"
    shuffle = "epoch"
    reg_bias = 0.0
    reg_linear_l1 = 0.0
    ftrl_beta = 1.0

    def _architecture(self):
        raise NotImplementedError

    def _device(self):
        return self.device

    def _check_params(self):
        if self.solver != "minibatch":
            raise ValueError(f"{type(self).__name__} trains with solver='minibatch' (mini-batch "
                             f"{model_kind.OPTIMIZERS}, see optimizer), got {self.solver!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be a torch device name such as 'cpu' or 'cuda', "
                             f"got {self.device!r}")
        import torch

        try:
            torch.empty(0, device=self.device)
        except (RuntimeError, AssertionError) as exc:
            raise ValueError(f"device={self.device!r} is not available here: {exc}") from None
        check_real_param(self, "dropout", 0.0, strict=False)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be < 1, got {self.dropout}")
        n_fields = self.n_fields
        if n_fields is not None and (isinstance(n_fields, bool)
                                     or not isinstance(n_fields, numbers.Integral)
                                     or n_fields < 1):
            raise ValueError(f"n_fields must be None or an int >= 1, got {n_fields!r}")
        self._check_architecture()
        return _BaseFM._check_params(self)

    def _check_architecture(self):
        pass

    def _new_parameters(self, n_features, k, dtype, seed, init_std, bias):
        params = model_kind.NetworkParameters.new(
            self._network_kind, n_features, self._fit_layout[1], k, self._architecture(),
            dtype, seed, init_std, bias, self.device)
        start = getattr(self, "_init_from", None)
        if start is not None:
            params.set_embeddings(*self._embeddings_of(start, n_features, k))
        return params

    def fit(self, X, y, fields=None, sample_weight=None, eval_set=None, eval_fields=None,
            init_from=None):
        """Fit on X, y and the fields of X's values (as FFMClassifier.fit); init_from: a
        fitted FMRegressor / FMClassifier on the same features and n_factors whose w0_, w_
        and V_ start the embeddings (the AFM paper pretrains them with an FM; DeepFM's
        embeddings can start there too)."""
        return self._train(X, y, sample_weight, partial=False, eval_set=eval_set,
                           fields=fields, eval_fields=eval_fields, init_from=init_from)

    def _embeddings_of(self, model, n_features, k):
        """(w0, w, V) of a fitted FM to start from (the AFM paper's pretraining)."""
        V = getattr(model, "V_", None)
        if V is None:
            raise ValueError("init_from must be a fitted FMRegressor / FMClassifier")
        if V.ndim != 2 or V.shape != (n_features, k):
            raise ValueError(f"init_from has V_ of shape {V.shape}, but this model needs "
                             f"({n_features}, {k}): the same features and n_factors")
        return float(model.w0_), model.w_, V

    def _check_continued_shape(self, k):
        if self.V_.shape[1] != k:
            raise ValueError(f"n_factors={k}, but the fitted model has {self.V_.shape[1]}")
        if int(self.n_fields_) != self._fit_layout[1]:
            raise ValueError(f"the rows have {self._fit_layout[1]} fields, but the fitted "
                             f"model has {self.n_fields_}")
        fitted = model_kind.NetworkParameters.of(self, self.V_.dtype)
        if _networks_layout(fitted) != [list(x) for x in self.network_layout_]:
            raise ValueError("the network's layers differ from the fitted model's: a model "
                             "goes on training with its own architecture")

    def _kind_attributes(self):
        per_column, n_fields = self._fit_layout
        return {"n_fields_": int(n_fields), "feature_fields_": per_column}

    def _train(self, *args, init_from=None, **kwargs):
        self._init_from = init_from
        try:
            return super()._train(*args, **kwargs)
        finally:
            self.__dict__.pop("_init_from", None)

    def _field_raw(self, X, fields=None):
        self._check_fitted()
        name = type(self).__name__
        if fields is None and getattr(self, "feature_fields_", None) is None:
            raise ValueError(f"this {name} was fitted with per-value fields (one per stored "
                             "value of X): pass the fields of X's values, fields=...")
        from rapidfm._feature_names import check_feature_names
        from rapidfm.estimators import _Rows

        check_feature_names(getattr(self, "feature_names_in_", None), X, name)
        rows, _ = self._rows_of(X, self.V_.dtype, fields, getattr(self, "feature_fields_", None),
                                self.n_features_in_, int(self.n_fields_), "X", name)
        block = _Rows(rows.indptr, rows.indices, rows.data, None, None, fields=rows.fields)
        params = model_kind.NetworkParameters.of(self, self.V_.dtype)
        return params.predict_rows(block, effective_n_threads(self.n_jobs))


def _networks_layout(params):
    return params.attributes()["network_layout_"]


_COMMON = """\
    n_factors : int, default=8
        Embedding size k of every feature (shared by the linear, FM and network parts).
    n_epochs : int, default=10
        Passes over the training rows in mini-batches, each in a fresh random order.
    optimizer : {"adam", "adagrad"}, default="adam"
    learning_rate : float or None, default=None
        None: 0.001 for Adam, 0.01 for Adagrad. schedule / power_t as for FMRegressor.
    batch_size : int, default=256
    reg_linear, reg_factors : float, default=0.0, 0.05
        L2 on w and on the embeddings a batch looks up (mean over its rows of the sum of
        w_j^2 and of |v_j|^2 over their features), added to the batch's mean loss: the
        per-row L2 of the FM estimators (whose reg_factors default is 0.06). On Frappe
        0.05 lowered AFM's test log-loss from 0.300 to 0.277 (README, "Speed").
    reg_network : float, default=0.0
        L2 on the network's weight matrices (DeepFM: the MLP's; AFM: the attention net's).
    init_std : float, default=0.1
        Standard deviation of the normal initialisation of the embeddings V (the FM
        estimators').
    n_jobs : int or None
        torch's intra-op threads during fit and predict (None: 1, -1: all cores).
    random_state, dtype, verbose, callbacks, warm_start, early_stopping,
    validation_fraction, n_iter_no_change, tol
        As for FMRegressor (warm_start keeps the weights; the optimizer starts afresh).
    block_rows : int or None
        Mini-batches from blocks of this many consecutive rows (blocks in a random order,
        rows of a block in a random order): a memory-mapped cache is read block by block.
    feature_fields, n_fields
        As for FFMClassifier: the field of every column, or fit(..., fields=...).
    device : str, default="cpu"
        The torch device ("cuda" where present).
    solver : "minibatch"
        The only solver of the neural models (kept for the shared loop and the files).
"""


def _init(est, n_factors, n_epochs, optimizer, learning_rate, schedule, power_t, batch_size,
          reg_linear, reg_factors, reg_network, init_std, dropout, n_jobs, random_state, dtype,
          verbose, callbacks, warm_start, early_stopping, validation_fraction,
          n_iter_no_change, tol, block_rows, feature_fields, n_fields, device, solver):
    est.n_factors = n_factors
    est.n_epochs = n_epochs
    est.optimizer = optimizer
    est.learning_rate = learning_rate
    est.schedule = schedule
    est.power_t = power_t
    est.batch_size = batch_size
    est.reg_linear = reg_linear
    est.reg_factors = reg_factors
    est.reg_network = reg_network
    est.init_std = init_std
    est.dropout = dropout
    est.n_jobs = n_jobs
    est.random_state = random_state
    est.dtype = dtype
    est.verbose = verbose
    est.callbacks = callbacks
    est.warm_start = warm_start
    est.early_stopping = early_stopping
    est.validation_fraction = validation_fraction
    est.n_iter_no_change = n_iter_no_change
    est.tol = tol
    est.block_rows = block_rows
    est.feature_fields = feature_fields
    est.n_fields = n_fields
    est.device = device
    est.solver = solver


class _DeepFM(_Network):
    _network_kind = "deepfm"
    _model_kind = "deepfm"

    def _architecture(self):
        return {"hidden_layers": tuple(int(h) for h in self.hidden_layers),
                "dropout": float(self.dropout)}

    def _check_architecture(self):
        layers = self.hidden_layers
        if (not isinstance(layers, (tuple, list))
                or not all(isinstance(h, numbers.Integral) and not isinstance(h, bool)
                           and h >= 1 for h in layers)):
            raise ValueError(f"hidden_layers must be a tuple of layer widths >= 1, got "
                             f"{layers!r}")


class _AFM(_Network):
    _network_kind = "afm"
    _model_kind = "afm"

    def _architecture(self):
        return {"attention_factor": int(self.attention_factor),
                "dropout": float(self.dropout)}

    def _check_architecture(self):
        t = self.attention_factor
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 1:
            raise ValueError(f"attention_factor must be an int >= 1, got {t!r}")
        if self.n_fields == 1:
            raise ValueError("AFM pools pairs of fields: it needs at least 2 fields")

def _no_partial_fit(self, *args, **kwargs):
    raise AttributeError("the neural models have no partial_fit: use fit with warm_start=True")


@register_estimator
class DeepFMClassifier(_DeepFM, FFMClassifier):
    def __init__(self, n_factors=8, n_epochs=10, optimizer="adam", learning_rate=None,
                 schedule="constant", power_t=0.5, batch_size=256, reg_linear=0.0,
                 reg_factors=0.05, reg_network=0.0, init_std=0.1,
                 hidden_layers=(400, 400, 400), dropout=0.5, n_jobs=None, random_state=None,
                 dtype=np.float32, verbose=0, callbacks=None, class_weight=None,
                 warm_start=False, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, tol=1e-4, block_rows=None, feature_fields=None,
                 n_fields=None, device="cpu", solver="minibatch"):
        _init(self, n_factors, n_epochs, optimizer, learning_rate, schedule, power_t,
              batch_size, reg_linear, reg_factors, reg_network, init_std, dropout, n_jobs,
              random_state, dtype, verbose, callbacks, warm_start, early_stopping,
              validation_fraction, n_iter_no_change, tol, block_rows, feature_fields, n_fields,
              device, solver)
        self.hidden_layers = hidden_layers
        self.class_weight = class_weight

    partial_fit = property(_no_partial_fit)


@register_estimator
class DeepFMRegressor(_DeepFM, FFMRegressor):
    def __init__(self, n_factors=8, n_epochs=10, optimizer="adam", learning_rate=None,
                 schedule="constant", power_t=0.5, batch_size=256, reg_linear=0.0,
                 reg_factors=0.05, reg_network=0.0, init_std=0.1,
                 hidden_layers=(400, 400, 400), dropout=0.5, n_jobs=None, random_state=None,
                 dtype=np.float32, verbose=0, callbacks=None, clip_predictions=True,
                 warm_start=False, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, tol=1e-4, block_rows=None, feature_fields=None,
                 n_fields=None, device="cpu", solver="minibatch"):
        _init(self, n_factors, n_epochs, optimizer, learning_rate, schedule, power_t,
              batch_size, reg_linear, reg_factors, reg_network, init_std, dropout, n_jobs,
              random_state, dtype, verbose, callbacks, warm_start, early_stopping,
              validation_fraction, n_iter_no_change, tol, block_rows, feature_fields, n_fields,
              device, solver)
        self.hidden_layers = hidden_layers
        self.clip_predictions = clip_predictions

    partial_fit = property(_no_partial_fit)


@register_estimator
class AFMClassifier(_AFM, FFMClassifier):
    def __init__(self, n_factors=8, n_epochs=10, optimizer="adam", learning_rate=None,
                 schedule="constant", power_t=0.5, batch_size=256, reg_linear=0.0,
                 reg_factors=0.05, reg_network=0.0, init_std=0.1, attention_factor=8,
                 dropout=0.0, n_jobs=None, random_state=None, dtype=np.float32, verbose=0,
                 callbacks=None, class_weight=None, warm_start=False, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, tol=1e-4, block_rows=None,
                 feature_fields=None, n_fields=None, device="cpu", solver="minibatch"):
        _init(self, n_factors, n_epochs, optimizer, learning_rate, schedule, power_t,
              batch_size, reg_linear, reg_factors, reg_network, init_std, dropout, n_jobs,
              random_state, dtype, verbose, callbacks, warm_start, early_stopping,
              validation_fraction, n_iter_no_change, tol, block_rows, feature_fields, n_fields,
              device, solver)
        self.attention_factor = attention_factor
        self.class_weight = class_weight

    partial_fit = property(_no_partial_fit)


@register_estimator
class AFMRegressor(_AFM, FFMRegressor):
    def __init__(self, n_factors=8, n_epochs=10, optimizer="adam", learning_rate=None,
                 schedule="constant", power_t=0.5, batch_size=256, reg_linear=0.0,
                 reg_factors=0.05, reg_network=0.0, init_std=0.1, attention_factor=8,
                 dropout=0.0, n_jobs=None, random_state=None, dtype=np.float32, verbose=0,
                 callbacks=None, clip_predictions=True, warm_start=False, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, tol=1e-4, block_rows=None,
                 feature_fields=None, n_fields=None, device="cpu", solver="minibatch"):
        _init(self, n_factors, n_epochs, optimizer, learning_rate, schedule, power_t,
              batch_size, reg_linear, reg_factors, reg_network, init_std, dropout, n_jobs,
              random_state, dtype, verbose, callbacks, warm_start, early_stopping,
              validation_fraction, n_iter_no_change, tol, block_rows, feature_fields, n_fields,
              device, solver)
        self.attention_factor = attention_factor
        self.clip_predictions = clip_predictions

    partial_fit = property(_no_partial_fit)


_DOCS = {
    DeepFMClassifier: ("DeepFM binary classifier (Guo et al. 2017): an FM and an MLP on the "
                       "same field embeddings, outputs summed; log-loss.", "deepfm"),
    DeepFMRegressor: ("DeepFM regressor: an FM and an MLP on the same field embeddings; "
                      "squared loss, predictions clipped as FMRegressor's.", "deepfm"),
    AFMClassifier: ("AFM binary classifier (Xiao et al. 2017): the pairwise products of "
                    "field embeddings pooled by a softmax attention net; log-loss.", "afm"),
    AFMRegressor: ("AFM regressor: attention-pooled pairwise products of field embeddings; "
                   "squared loss.", "afm"),
}
_ARCH = {
    "deepfm": """\
    hidden_layers : tuple of int, default=(400, 400, 400)
        Widths of the MLP's hidden layers (the paper's), ReLU after each.
    dropout : float, default=0.5
        Dropout after every hidden layer in training (the paper's 0.5).
""",
    "afm": """\
    attention_factor : int, default=8
        Width t of the attention net's hidden layer.
    dropout : float, default=0.0
        Dropout on the pooled interaction vector in training.
""",
}
for _cls, (_summary, _kind) in _DOCS.items():
    _cls.__doc__ = f"""{_summary}

    Parameters
    ----------
{_COMMON}{_ARCH[_kind]}
    Attributes
    ----------
    w0_, w_, V_ : the bias, linear weights and embeddings (V_: n_features x n_factors)
    network_weights_, network_layout_ : the other weights, flat, and [name, shape] of each
    n_fields_, feature_fields_, n_features_in_, history_, t_, n_iter_, random_seed_,
    best_epoch_, best_validation_loss_ : as for FFMClassifier
    """
