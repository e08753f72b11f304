"""The model kind of the neural FMs: a PyTorch module behind the FM's parameter interface.

The shared training loop (rapidfm.estimators) asks a model kind for a copy (the best
epoch), the prediction of a block of rows, a finiteness check and its fitted attributes;
NetworkParameters answers with the module of rapidfm.deep._networks. Its epoch is
mini-batch training with a torch optimizer, which the "minibatch" solver
(rapidfm.solvers.minibatch) runs.

Fitted attributes: w0_, w_ and V_ as for the FM (the embeddings; V_ is n_features x k),
network_weights_ (the other weights, flat, in the model's dtype) and network_layout_
([name, shape] of each), from which ``of`` rebuilds the module.
"""

import copy

import numpy as np
import torch

from rapidfm import _core
from rapidfm.deep import _batches, _networks

OPTIMIZERS = ("adam", "adagrad")
# predictions are made in batches of this many rows
PREDICT_BATCH = 8192


def _torch_dtype(dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


class NetworkParameters:
    """A network of kind "afm" or "deepfm" over n_fields field embeddings."""

    def __init__(self, module, kind, n_fields, architecture, dtype, device="cpu"):
        self.module, self.kind = module, kind
        self.n_fields, self.architecture = int(n_fields), dict(architecture)
        self.dtype, self.device = np.dtype(dtype), device

    @classmethod
    def build(cls, kind, n_features, n_fields, k, architecture, dtype, device="cpu"):
        module = _networks.NETWORKS[kind](n_features, n_fields, k, **architecture)
        module = module.to(dtype=_torch_dtype(dtype), device=device)
        return cls(module, kind, n_fields, architecture, dtype, device)

    @classmethod
    def new(cls, kind, n_features, n_fields, k, architecture, dtype, seed, init_std, bias,
            device="cpu"):
        """w = 0, w0 = bias, V ~ N(0, init_std^2), the network's layers as torch
        initialises them (Kaiming uniform), all drawn from seed."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) % (2 ** 63))
            params = cls.build(kind, n_features, n_fields, k, architecture, dtype, device)
        V = np.random.default_rng(seed).normal(0.0, init_std, size=(n_features, k))
        emb = params.module.embeddings
        with torch.no_grad():
            emb.V.copy_(torch.from_numpy(V))
            emb.w0.fill_(float(bias))
        return params

    @classmethod
    def of(cls, estimator, dtype):
        """The parameters of a fitted estimator (copies)."""
        params = cls.build(estimator._network_kind, estimator.n_features_in_,
                           int(estimator.n_fields_), estimator.V_.shape[1],
                           estimator._architecture(), dtype, estimator._device())
        params.set_embeddings(estimator.w0_, estimator.w_, estimator.V_)
        _networks.load_flat(params.module, np.asarray(estimator.network_weights_))
        return params

    def set_embeddings(self, w0, w, V):
        emb = self.module.embeddings
        with torch.no_grad():
            emb.w0.fill_(float(w0))
            emb.w.copy_(torch.as_tensor(np.asarray(w)).reshape(-1, 1))
            emb.V.copy_(torch.as_tensor(np.asarray(V)))

    # -- the FM parameter interface of the training loop -------------------------------
    @property
    def V(self):
        return self.module.embeddings.V.detach().cpu().numpy()

    def copy(self):
        return NetworkParameters(copy.deepcopy(self.module), self.kind, self.n_fields,
                                 self.architecture, self.dtype, self.device)

    def is_finite(self):
        return all(bool(torch.isfinite(p).all()) for p in self.module.parameters())

    def rescaled(self, factor):
        if factor != 1.0:
            raise ValueError("the neural models train on the targets as they are")
        return self

    def attributes(self):
        emb = self.module.embeddings
        return {"w0_": float(emb.w0.detach()),
                "w_": emb.w.detach().cpu().numpy()[:, 0].copy(),
                "V_": emb.V.detach().cpu().numpy().copy(),
                "network_weights_": _networks.flat_weights(self.module),
                "network_layout_": _networks.layout(self.module)}

    def predict_rows(self, rows, n_threads):
        """The network's output (log-odds or prediction) for every row, float64."""
        self.module.eval()
        out = np.empty(rows.n_rows)
        with _threads(n_threads), torch.no_grad():
            for start in range(0, rows.n_rows, PREDICT_BATCH):
                ids = np.arange(start, min(start + PREDICT_BATCH, rows.n_rows))
                bags = _batches.make_bags(rows, ids, self.n_fields, self.dtype, self.device)
                out[ids] = self.module(bags).double().cpu().numpy()
        return out

    def sgd_epoch(self, rows, **options):
        raise TypeError("the neural models train with solver='minibatch'")

    # -- training ------------------------------------------------------------------------
    def optimizer(self, name, learning_rate):
        """The optimizer of a fit: Adagrad takes the embeddings' sparse gradients as they
        are; Adam is SparseAdam on the embeddings (lazy: a row's moments move when a
        batch uses it) and Adam on the rest."""
        if name == "adagrad":
            return torch.optim.Adagrad(self.module.parameters(), lr=learning_rate)
        sparse = self.module.embeddings.sparse_parameters()
        ids = {id(p) for p in sparse}
        dense = [p for p in self.module.parameters() if id(p) not in ids]
        return _Optimizers([torch.optim.SparseAdam(sparse, lr=learning_rate),
                            torch.optim.Adam(dense, lr=learning_rate)])

    def train_epoch(self, rows, optimizer, *, learning_rate, loss, batch_size, reg_linear,
                    reg_factors, reg_network, seed, n_threads, block_rows=0):
        """One pass over the rows in mini-batches (random order from seed, dropout from
        seed): per batch, the mean loss plus reg_factors * mean |v|^2 and reg_linear *
        mean w^2 of the rows' looked-up embeddings plus reg_network * |W|^2 of the network
        (MLP or attention weights), one optimizer step. Returns the mean training loss
        (squared error or log-loss, weighted by sample_weight) before each step."""
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        self.module.train()
        rng = np.random.default_rng(seed)
        y = rows.y
        sw = rows.sample_weight
        loss_sum = weight_sum = 0.0
        with _threads(n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) % (2 ** 63))
            for ids in _batches.batch_order(rows.n_rows, batch_size, rng, block_rows):
                bags = _batches.make_bags(rows, ids, self.n_fields, self.dtype, self.device)
                target = torch.as_tensor(y[ids], dtype=_torch_dtype(self.dtype),
                                         device=self.device)
                weight = (None if sw is None else
                          torch.as_tensor(sw[ids], dtype=target.dtype, device=self.device))
                output = self.module(bags)
                if loss == "squared":
                    per_row = (output - target) ** 2
                else:  # y in {-1, +1}: log(1 + exp(-y p))
                    per_row = torch.nn.functional.softplus(-target * output)
                batch_weight = float(ids.size) if weight is None else float(weight.sum())
                total = per_row.sum() if weight is None else (per_row * weight).sum()
                objective = total / max(batch_weight, 1e-300)
                if reg_factors or reg_linear:
                    sq_v, sq_w = self.module.embeddings.l2(bags)
                    objective = objective + (reg_factors * sq_v + reg_linear * sq_w).mean()
                if reg_network:
                    objective = objective + reg_network * self.module.network_l2()
                value = float(total.detach())
                if not np.isfinite(value):
                    raise _core.DivergenceError("the loss became NaN or infinite")
                loss_sum += value
                weight_sum += batch_weight
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
        return {"loss_sum": loss_sum, "weight_sum": weight_sum, "n_threads": n_threads}


class _Optimizers:
    """Several torch optimizers stepped as one (the sparse and the dense parameters)."""

    def __init__(self, optimizers):
        self.optimizers = optimizers

    @property
    def param_groups(self):
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none=True):
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self):
        for o in self.optimizers:
            o.step()


class _threads:
    """torch's intra-op threads set to n for a block, then restored."""

    def __init__(self, n):
        self.n = max(int(n), 1)

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)
