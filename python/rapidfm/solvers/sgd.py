"""SGD: stochastic gradient descent over the rows in a fresh random order each epoch.

The kernel (fastfm_core/src/sgd.c) runs an epoch with the GIL released, on
several threads (hogwild, replicas or hybrid: the estimator's `parallel`).
With shuffle="copy" the fit first copies the rows once in a random order and
every epoch then visits cache-sized blocks of the copy in a random order.
"""

import mmap
import time

import numpy as np

from rapidfm import _core
from rapidfm._validation import check_int_param, check_real_param
from rapidfm.solvers import register_solver
from rapidfm.solvers._base import Solver
from rapidfm.solvers._schedule import LearningRateSchedule
from rapidfm.solvers._thread_probe import ThreadProbe

SCHEDULES = ("constant", "invscaling")
SHUFFLES = ("auto", "copy", "epoch")
# the modes the kernel offers (the binding's table; a kernel without it has these three)
PARALLEL = tuple(getattr(_core, "PARALLEL_MODES", ("auto", "hogwild", "replicas")))
# spawn key of the stream of shuffle="copy" (see rapidfm.estimators for the others)
SHUFFLE_STREAM = 3
# shuffle="copy": bytes of row data (row pointer, target, entries) per block of the
# copy. A block then stays in the first-level caches while its rows are trained in a
# random order, so each line of row data comes from memory once per epoch.
BLOCK_BYTES = 32 << 10
# shuffle="auto" copies the rows only where the copy takes at most this share of the
# memory available: data of 45% of RAM copied got the process killed
COPY_MEMORY_SHARE = 0.5
# shuffle="auto" copies the rows only for fits of at least this many epochs: the copy
# reads every row at random once, as an epoch in place does, and saves part of that
# on every later epoch, so a 1-epoch fit pays for it and gets nothing back (1M planted
# rows, AMD EPYC: the copy 35 ms, an epoch in place 55 ms, one on the copy 35 ms)
COPY_MIN_EPOCHS = 2


def shuffled(seed, rows):
    """rows (int64) in the random order of shuffle="copy", uniform and a function of the
    seed only (drawn in C: numpy's permutation took 20 ms of a 1M-row fit's ~120)."""
    state = np.random.SeedSequence(seed, spawn_key=(SHUFFLE_STREAM,)).generate_state(1, np.uint64)
    return _core.shuffle_ids(int(state[0]), np.ascontiguousarray(rows, dtype=np.int64))


def memory_mapped(array):
    """Whether array's memory is a file mapping (np.load(mmap_mode=...), open_cache)."""
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def available_memory_bytes():
    """What the system reports as available to a new allocation without swapping
    (Linux /proc/meminfo MemAvailable), or None where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def copy_bytes(rows):
    """Bytes of a copy of rows in random order at its peak: the copy (row pointers,
    entries, targets, weights) and the permutation that makes it."""
    arrays = (rows.indptr, rows.indices, rows.data, rows.y, rows.sample_weight)
    return sum(a.nbytes for a in arrays if a is not None) + 8 * rows.n_rows


def copy_fits(rows, share=COPY_MEMORY_SHARE):
    """Whether a copy of rows takes at most `share` of the available memory (True where
    the system does not report it)."""
    available = available_memory_bytes()
    return available is None or copy_bytes(rows) <= share * available


def block_rows_for(rows):
    """Rows per block of a shuffled copy: about BLOCK_BYTES of row data per block."""
    entry_bytes = rows.indices.itemsize + (0 if rows.data is None else rows.data.itemsize)
    per_row = 16 + entry_bytes * rows.indptr[-1] / max(rows.n_rows, 1)
    return int(min(max(BLOCK_BYTES // per_row, 16), 4096))


@register_solver
class SGDSolver(LearningRateSchedule, Solver):
    name = "sgd"
    parameters = ("learning_rate", "schedule", "power_t", "reg_bias", "reg_linear",
                  "reg_factors", "parallel", "block_rows", "shuffle")
    supports_partial_fit = True
    default_learning_rate = 0.01  # learning_rate=None

    @classmethod
    def check_params(cls, est):
        if est.learning_rate is not None:
            check_real_param(est, "learning_rate", 0.0, strict=True)
        check_real_param(est, "power_t", 0.0, strict=False)
        for name in ("reg_bias", "reg_linear", "reg_factors"):
            check_real_param(est, name, 0.0, strict=False)
        if est.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {est.schedule!r}")
        if est.parallel not in PARALLEL:
            raise ValueError(f"parallel must be one of {PARALLEL}, got {est.parallel!r}")
        if est.block_rows is not None:
            check_int_param(est, "block_rows", 1)
        if not isinstance(est.shuffle, str) or est.shuffle not in SHUFFLES:
            raise ValueError(f"shuffle must be one of {SHUFFLES}, got {est.shuffle!r}")

    def loss(self, task):
        return "squared" if task == "regression" else "logistic"

    def _copies_rows(self, train, partial):
        """Whether this fit trains on a copy of the rows made in a random order."""
        est = self.estimator
        if est.shuffle != "auto":
            return est.shuffle == "copy"
        if not getattr(est, "_shuffle_copy_pays", True):
            return False  # a model kind whose rows cost more than their misses (FFM)
        # auto: no copy of data that is not in memory (a memory-mapped cache), nor
        # where block_rows asks for blocks of the data as stored, nor per partial_fit
        # call or for a 1-epoch fit (the copy would cost more than the epochs save),
        # nor where the copy would not fit in memory with
        # room to spare
        return not partial and est.block_rows is None and int(
            est.n_epochs) >= COPY_MIN_EPOCHS and not any(
            memory_mapped(a) for a in (train.indptr, train.indices, train.data)
        ) and copy_fits(train)

    def arrange_rows(self, train, partial, seed, hold_out):
        est = self.estimator
        train.block_rows = int(est.block_rows or 0)
        copy = self._copies_rows(train, partial)
        validation = None
        if hold_out is not None:
            # the hold-out copies the training rows anyway: in random order when copying
            train, validation = hold_out(train, copy)
        elif copy:
            train = train.take(shuffled(seed, np.arange(train.n_rows)), self.n_threads)
        if copy:
            # the copy's rows are in random order: small blocks (cache-sized) cost
            # nothing in shuffling and save the misses of reading rows at random
            train.block_rows = int(est.block_rows or block_rows_for(train))
        return train, validation

    def start(self, params, train, continuing, target_attrs):
        self.loss_name = self.estimator._solver_loss
        # parallel="auto" on several threads: the epochs' threads and mode are measured
        self.thread_probe = ThreadProbe(self.n_threads, self.estimator.parallel)
        clip_min, clip_max = self.estimator._training_clip(target_attrs)
        self.clip_min, self.clip_max = clip_min / self.target_scale, clip_max / self.target_scale

    def kernel_options(self):
        """Further arguments of _core.sgd_epoch: the step rule and its state (none for
        plain SGD)."""
        return {}

    def epoch(self, params, train, t, seed):
        est = self.estimator
        lr = self.learning_rate_at(t)
        self.last_learning_rate = lr
        probe = getattr(self, "thread_probe", None) or ThreadProbe(self.n_threads, est.parallel)
        chosen = probe.choose()
        started, started_cpu = time.perf_counter(), time.process_time()
        stats = params.sgd_epoch(
            train, loss=self.loss_name, learning_rate=lr, reg_bias=float(est.reg_bias),
            reg_linear=float(est.reg_linear), reg_factors=float(est.reg_factors),
            clip_min=self.clip_min, clip_max=self.clip_max, n_threads=chosen[0],
            parallel_mode=chosen[1], seed=seed, block_rows=train.block_rows,
            **self.kernel_options())
        probe.record(chosen, time.perf_counter() - started,
                     stats.get("n_pairs", stats.get("n_rows", train.n_rows)),
                     stats["n_threads"], stats.get("parallel_mode"),
                     cpu_seconds=time.process_time() - started_cpu)
        return {
            "train_loss": stats["loss_sum"] / max(stats["weight_sum"], 1e-300),
            "learning_rate": lr,
            "n_threads": stats["n_threads"],
            "parallel_mode": stats["parallel_mode"],
            **stats.get("history", {}),  # what an objective adds (ranking: pair counts)
        }

    def advice(self):
        return (f"Use a smaller learning_rate than {self.eta0} (or scale the features / "
                "stronger regularisation).")

    def divergence_message(self, t):
        return (f"training diverged in epoch {t + 1}: the loss became NaN or infinite with "
                f"learning_rate={self.eta0}. Use a smaller learning_rate "
                "(or scale the features / stronger regularisation).")

    def nonfinite_message(self, t):
        return (f"training diverged by epoch {t}: parameters became NaN or infinite with "
                f"learning_rate={self.eta0}. Use a smaller learning_rate.")
