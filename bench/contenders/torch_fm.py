"""torch-1t / torch-Nt: an FM module in PyTorch (one gather of the batch's V rows, per-row
sums by index_add), trained by mini-batch Adam (--torch-batch, --torch-lr). Enabled when
`import torch` works.
"""

import time

import numpy as np

from .common import epoch_timing, initial_bias, metric, result, skipped


def run_torch(data, cfg, threads, seed, batch, lr):
    try:
        import torch
    except ImportError as exc:
        return skipped(f"torch-{threads}t", f"not found (import torch: {exc})", threads)
    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_torch(torch, data, cfg, threads, seed, batch, lr)
    finally:
        torch.set_num_threads(previous_threads)


def _run_torch(torch, data, cfg, threads, seed, batch, lr):
    nn = torch.nn

    class TorchFM(nn.Module):
        """y(x) = w0 + sum_j w_j x_j + 1/2 sum_f [(sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2]."""

        def __init__(self, n_features, k, init_std, bias):
            super().__init__()
            self.w0 = nn.Parameter(torch.tensor([bias], dtype=torch.float32))
            self.w = nn.Embedding(n_features, 1)
            self.V = nn.Embedding(n_features, k)
            nn.init.zeros_(self.w.weight)
            nn.init.normal_(self.V.weight, 0.0, init_std)

        def forward(self, idx, vals, row, n_rows):
            e = self.V(idx) * vals[:, None]               # the batch's factor rows, scaled
            k = e.shape[1]
            q = torch.zeros(n_rows, k).index_add_(0, row, e)          # per-row sums
            s2 = torch.zeros(n_rows, k).index_add_(0, row, e * e)
            lin = torch.zeros(n_rows).index_add_(0, row, self.w(idx).squeeze(1) * vals)
            return self.w0 + lin + 0.5 * (q * q - s2).sum(dim=1)

    X, y = data.X_train, data.y_train
    n = X.shape[0]
    model = TorchFM(data.n_features, cfg["k"], cfg["init_std"], initial_bias(data.task, y))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if data.task == "regression":
        loss_fn = nn.MSELoss()
        target = torch.tensor(y, dtype=torch.float32)
        y_range = (float(y.min()), float(y.max()))
    else:
        loss_fn = nn.BCEWithLogitsLoss()
        target = torch.tensor((y > 0).astype(np.float32))
        y_range = None
    indptr, indices, values = X.indptr, X.indices, X.data.astype(np.float32)
    Xt = data.X_test
    t_idx = torch.from_numpy(Xt.indices.astype(np.int64))
    t_val = torch.from_numpy(Xt.data.astype(np.float32))
    t_row = torch.from_numpy(np.repeat(np.arange(Xt.shape[0]), np.diff(Xt.indptr)))
    rng = np.random.default_rng(seed)
    secs, curve = [], []
    for _ in range(cfg["epochs"]):
        order = rng.permutation(n)
        t0 = time.perf_counter()
        model.train()
        for b in range(0, n, batch):
            rows = order[b:b + batch]
            lengths = indptr[rows + 1] - indptr[rows]
            starts = np.repeat(indptr[rows] - np.cumsum(lengths) + lengths, lengths)
            pos = starts + np.arange(lengths.sum())
            idx = torch.from_numpy(indices[pos].astype(np.int64))
            vals = torch.from_numpy(values[pos])
            row = torch.from_numpy(np.repeat(np.arange(rows.size), lengths))
            opt.zero_grad()
            out = model(idx, vals, row, rows.size)
            loss = loss_fn(out, target[torch.from_numpy(rows)])
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            raw = model(t_idx, t_val, t_row, Xt.shape[0]).numpy().astype(np.float64)
        curve.append([sum(secs), metric(data.task, data.y_test, raw, y_range=y_range)])
    return result(f"torch-{threads}t", threads, train_rows=n, epochs=len(secs),
                  **epoch_timing(secs), epoch_nnz=X.nnz, test_metric=curve[-1][1], curve=curve,
                  note=f"torch {torch.__version__}, Adam lr {lr}, batch {batch}, float32")
