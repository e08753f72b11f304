"""The two neural FMs as PyTorch modules, over field embeddings read by embedding bags.

A row arrives as bags: for each (row, field), the features of that field in the row with
their values (rapidfm.deep._batches). Every model starts from the same pieces:

    e_f  = sum_{j in field f of x} v_j x_j        (B, m, k): one embedding per field
    lin  = w0 + sum_j w_j x_j                     (B,)

and adds its interaction term (m fields, k factors):

- DeepFM (Guo et al., IJCAI 2017): the FM's pairwise term between fields plus an MLP on
  the concatenated field embeddings, both reading the same e_f:
      fm  = 1/2 sum_c [(sum_f e_fc)^2 - sum_f e_fc^2]  (= sum_{f<g} <e_f, e_g>)
      dnn = W_L relu(... relu(W_1 [e_1, ..., e_m] + b_1) ...) + b_L   (dropout after
            each hidden ReLU in training)
      y   = lin + fm + dnn
- AFM (Xiao et al., IJCAI 2017): the pairwise products pooled with attention weights:
      p_fg = e_f * e_g (elementwise), f < g
      a_fg = softmax_{f<g}( h . relu(W p_fg + b) )    (W: t x k, the attention factor t)
      y    = lin + p . dropout(sum_{f<g} a_fg p_fg)
  (h starts at 0 and p at the number of pairs: the start is the FM of the embeddings)

With one value per field (one-hot fields), fm equals the FM's pairwise term over the
features; with several values in a field their products with each other are not counted
(they interact only across fields, as in both papers).

The parameters live in the module; ``layout()`` names them in a fixed order so that the
estimators save them as one flat array (rapidfm.persistence stores no pickles).
"""

import torch
from torch import nn

__all__ = ["AFMNet", "DeepFMNet", "NETWORKS"]


class FieldEmbeddings(nn.Module):
    """w0, w (n_features x 1) and V (n_features x k), read per (row, field) bag. The
    lookups give sparse gradients: a batch's step touches the rows of w and V its
    features use, not all n_features of them (CTR data has millions)."""

    def __init__(self, n_features, n_fields, k):
        super().__init__()
        self.n_fields, self.k = int(n_fields), int(k)
        self.w0 = nn.Parameter(torch.zeros(()))
        self.w = nn.Parameter(torch.zeros(n_features, 1))
        self.V = nn.Parameter(torch.zeros(n_features, k))

    def sparse_parameters(self):
        return [self.w, self.V]

    def forward(self, bags):
        """(lin (B,), e (B, m, k))."""
        index, offsets, values, n_rows = bags.index, bags.offsets, bags.values, bags.n_rows
        e = nn.functional.embedding_bag(index, self.V, offsets, mode="sum",
                                        per_sample_weights=values, sparse=True)
        e = e.view(n_rows, self.n_fields, self.k)
        wx = nn.functional.embedding_bag(index, self.w, offsets, mode="sum",
                                         per_sample_weights=values, sparse=True)
        lin = self.w0 + wx.view(n_rows, self.n_fields).sum(1)
        return lin, e

    def l2(self, bags):
        """Per row: sum over its entries of |v_j|^2 and of w_j^2 (the L2 terms of the
        parameters a row uses), as (B,) tensors."""
        v = nn.functional.embedding(bags.index, self.V, sparse=True)
        w = nn.functional.embedding(bags.index, self.w, sparse=True)
        zeros = torch.zeros(bags.n_rows, dtype=v.dtype, device=v.device)
        sq_v = zeros.index_add(0, bags.rows, (v * v).sum(1))
        sq_w = zeros.index_add(0, bags.rows, (w * w).sum(1))
        return sq_v, sq_w


class DeepFMNet(nn.Module):
    kind = "deepfm"

    def __init__(self, n_features, n_fields, k, hidden_layers=(400, 400, 400), dropout=0.5):
        super().__init__()
        self.embeddings = FieldEmbeddings(n_features, n_fields, k)
        layers, width = [], n_fields * k
        for size in hidden_layers:
            layers += [nn.Linear(width, int(size)), nn.ReLU(), nn.Dropout(float(dropout))]
            width = int(size)
        layers.append(nn.Linear(width, 1))
        self.dnn = nn.Sequential(*layers)

    def forward(self, bags):
        lin, e = self.embeddings(bags)
        total = e.sum(1)
        fm = 0.5 * (total * total - (e * e).sum(1)).sum(1)
        dnn = self.dnn(e.reshape(bags.n_rows, -1)).squeeze(1)
        return lin + fm + dnn

    def network_l2(self):
        """|W|^2 of the MLP's weight matrices (biases are not penalised)."""
        return sum((m.weight * m.weight).sum() for m in self.dnn if isinstance(m, nn.Linear))


class AFMNet(nn.Module):
    kind = "afm"

    def __init__(self, n_features, n_fields, k, attention_factor=8, dropout=0.0):
        super().__init__()
        self.embeddings = FieldEmbeddings(n_features, n_fields, k)
        self.attention = nn.Linear(k, int(attention_factor))
        self.h = nn.Parameter(torch.zeros(int(attention_factor)))
        # h = 0 gives every pair the weight 1 / n_pairs; p = n_pairs then makes the start
        # exactly the FM's pairwise term of the same embeddings (an FM-pretrained start,
        # init_from, begins at the FM's loss instead of 1 / n_pairs of its interactions)
        n_pairs = n_fields * (n_fields - 1) // 2
        self.p = nn.Parameter(torch.full((k,), float(max(n_pairs, 1))))
        self.dropout = nn.Dropout(float(dropout))
        first, second = torch.triu_indices(n_fields, n_fields, offset=1)
        self.register_buffer("first", first, persistent=False)
        self.register_buffer("second", second, persistent=False)

    def forward(self, bags):
        lin, e = self.embeddings(bags)
        products = e[:, self.first] * e[:, self.second]          # (B, pairs, k)
        scores = torch.relu(self.attention(products)) @ self.h    # (B, pairs)
        weights = torch.softmax(scores, dim=1)
        pooled = (weights.unsqueeze(2) * products).sum(1)         # (B, k)
        return lin + self.dropout(pooled) @ self.p

    def network_l2(self):
        """|W|^2 of the attention net (the paper's L2 on the attention weights)."""
        return (self.attention.weight * self.attention.weight).sum()


NETWORKS = {"deepfm": DeepFMNet, "afm": AFMNet}


def _network_parameters(module):
    """The parameters besides the embeddings (w0, w, V are saved as w0_, w_, V_)."""
    return [(name, p) for name, p in module.named_parameters()
            if not name.startswith("embeddings.")]


def layout(module):
    """[[name, shape]] of the network's weights besides the embeddings, in a fixed order."""
    return [[name, list(p.shape)] for name, p in _network_parameters(module)]


def flat_weights(module):
    """The network's weights besides the embeddings, flattened into one array."""
    parts = [p.detach().reshape(-1).cpu() for _, p in _network_parameters(module)]
    return torch.cat(parts).numpy().copy() if parts else torch.zeros(0).numpy()


def load_flat(module, flat):
    """Writes flat (flat_weights' layout) into the network's weights."""
    offset = 0
    flat = torch.as_tensor(flat)
    with torch.no_grad():
        for _, p in _network_parameters(module):
            n = p.numel()
            if offset + n > flat.numel():
                raise ValueError(f"the network needs more than the {flat.numel()} weights given")
            p.copy_(flat[offset:offset + n].view_as(p).to(p.dtype))
            offset += n
    if offset != flat.numel():
        raise ValueError(f"the network has {offset} weights, the array {flat.numel()}")
