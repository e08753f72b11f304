"""Mini-batches of field-aware rows as the networks read them: one embedding bag per
(row, field), never a dense matrix.

The rows are a validated block (rapidfm.estimators._Rows: CSR with the field of every
stored value). A batch of row ids becomes three flat arrays for
torch.nn.functional.embedding_bag: the feature of every entry, its value, and the offset
of each (row, field) bag, the entries of every row grouped by field. Rows are gathered
from the block's arrays as they are, so a memory-mapped cache is read only where a batch
needs it.
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Bags:
    index: torch.Tensor    # feature id of every entry (int64)
    offsets: torch.Tensor  # start of each of the n_rows * n_fields bags (int64)
    values: torch.Tensor   # the value of every entry (the model's dtype)
    rows: torch.Tensor     # the batch row of every entry (int64)
    n_rows: int


def entry_positions(indptr, rows):
    """Positions in the CSR arrays of the entries of `rows`, row after row."""
    starts = indptr[rows].astype(np.int64)
    lengths = (indptr[rows + 1] - indptr[rows]).astype(np.int64)
    total = int(lengths.sum())
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return first + np.arange(total, dtype=np.int64), lengths


def make_bags(block, rows, n_fields, dtype, device="cpu"):
    """The Bags of block's rows `rows` (an int array), in that order."""
    rows = np.asarray(rows, dtype=np.int64)
    positions, lengths = entry_positions(block.indptr, rows)
    row_of_entry = np.repeat(np.arange(rows.size, dtype=np.int64), lengths)
    fields = np.asarray(block.fields[positions], dtype=np.int64)
    bag = row_of_entry * n_fields + fields
    order = np.argsort(bag, kind="stable")  # entries grouped by (row, field)
    index = np.asarray(block.indices[positions[order]], dtype=np.int64)
    if block.data is None:
        values = np.ones(index.size, dtype=dtype)
    else:
        values = np.asarray(block.data[positions[order]], dtype=dtype)
    counts = np.bincount(bag, minlength=rows.size * n_fields)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return Bags(torch.from_numpy(index).to(device), torch.from_numpy(offsets).to(device),
                torch.from_numpy(values).to(device),
                torch.from_numpy(row_of_entry[order]).to(device), int(rows.size))


def batch_order(n_rows, batch_size, rng, block_rows=0):
    """The batches (arrays of row ids) of an epoch: all rows in a random order, or with
    block_rows, blocks of that many consecutive rows in a random order, the rows of each
    block in a random order (a memory-mapped file is then read block by block)."""
    if block_rows and block_rows < n_rows:
        starts = rng.permutation(np.arange(0, n_rows, block_rows))
        order = np.concatenate([s + rng.permutation(min(block_rows, n_rows - s))
                                for s in starts])
    else:
        order = rng.permutation(n_rows)
    return [order[i:i + batch_size] for i in range(0, n_rows, batch_size)]
