"""Choosing an epoch's threads and parallel mode by timing epochs, not by rules.

Whether a second thread helps an SGD epoch depends on the machine (cache sizes,
how its cores share them), on the model (a few hot features in every row make
threads fight over cache lines) and on what else runs there: with another
process busy on one of two cores, OpenMP threads wait on each other and two ran
at half the speed of one. No byte threshold tuned on one CPU gets this right on
another, so with parallel="auto" and more than one thread a fit measures.

Candidates: n threads in the mode the kernel's "auto" picks, one thread, and n
threads hogwild when auto picked another mode (replicas or hybrid) and that mode
ran slower than one thread. The first
epoch runs the first candidate and is not counted (page faults, cold caches);
then each candidate trains one epoch, timed per row, and the rest of the fit
trains with the fastest. Every PROBE_EVERY epochs the runner-up trains one
epoch again, if its last time was within RETRY_WITHIN of the best's, so that a
change in the machine's load is noticed without paying again for a mode that
was far slower. Only the speed differs between candidates: every epoch visits
every row once, in that epoch's random order.

A busy core shows before any trial: an epoch on n threads whose process CPU time
is well under n times its wall time had threads waiting for a core that another
process held (2 vCPU AMD EPYC, 1M planted rows: 0.96-1.02 of n x wall with the
cores free, 0.50-0.74 with a spinning process on one core). Such an epoch, the
warm-up included, counts as that candidate's timing and the fit goes on to one
thread without the other multi-thread trials, which would each cost an epoch at
the contended speed; the runner-up retry notices when the core frees up.

The contended warm-up itself is still paid (2 vCPU AMD EPYC, planted 1M rows, busy core:
median 74 ms against 44 ms for one thread). Two ways around it were measured and
dropped: training the warm-up's first eighth of rows as a call of its own and judging
its CPU share (the share of so short a call was 0.49-0.70 with a core busy and 0.51-0.98
with the cores free, so it cannot tell them apart, and the split cost 11% of the warm-up
with the cores free); and reading other processes' load from /proc/stat before the fit
(its idle counters did not advance at all on that VM).
"""

# every this many epochs the runner-up is timed again
PROBE_EVERY = 10
# ... if it was at most this many times slower than the best when last timed
RETRY_WITHIN = 2.0
# an epoch on n threads with less process CPU time than this share of n x its wall
# time ran on contended cores (only epochs of at least CPU_CHECK_SECONDS are judged:
# shorter ones are within the scheduler's noise)
CONTENDED_CPU_SHARE = 0.75
CPU_CHECK_SECONDS = 0.005


class ThreadProbe:
    """The (n_threads, parallel_mode) of each epoch of one fit. choose() before an
    epoch, record() after it with what the kernel reports it ran."""

    def __init__(self, n_threads, parallel_mode):
        self.n_threads = int(n_threads)
        self.parallel_mode = parallel_mode
        self.active = parallel_mode == "auto" and self.n_threads > 1
        self.candidates = [(self.n_threads, "auto"), (1, "auto")]
        self.seconds = {}  # candidate -> seconds per row of its latest timed epoch
        self.epochs = 0
        self.contended = False  # a multi-thread epoch waited for a busy core

    def choose(self):
        """(n_threads, parallel_mode) for the next epoch."""
        if not self.active:
            return self.n_threads, self.parallel_mode
        self.epochs += 1
        if self.epochs == 1:
            return self.candidates[0]  # the warm-up
        untried = [c for c in self.candidates if c not in self.seconds]
        if self.contended:
            untried = [c for c in untried if c[0] == 1]
        first, one = self.candidates[0], self.candidates[1]
        if untried == [(self.n_threads, "hogwild")] and self.seconds[first] < self.seconds[one]:
            # auto's mode already beats one thread: a hogwild trial would most likely
            # cost an epoch at the speed auto's rule chose against
            self.candidates.remove(untried[0])
            untried = []
        if untried:
            return untried[0]
        ranked = sorted((c for c in self.candidates if c in self.seconds),
                        key=lambda c: self.seconds[c])
        best = ranked[0]
        if self.epochs % PROBE_EVERY == 0 and len(ranked) > 1:
            runner_up = ranked[1]
            if self.seconds[runner_up] <= RETRY_WITHIN * self.seconds[best]:
                return runner_up
        return best

    def record(self, chosen, seconds, n_items, ran_threads, ran_mode, cpu_seconds=None):
        """The epoch run with `chosen` took `seconds` for n_items rows (or pairs) and
        cpu_seconds of the process's CPU time (None: not measured); the kernel ran it on
        ran_threads threads in ran_mode."""
        if not self.active:
            return
        if chosen == self.candidates[0] and ran_threads > 1:
            hogwild = (self.n_threads, "hogwild")
            if ran_mode not in ("hogwild", None) and hogwild not in self.candidates:
                self.candidates.append(hogwild)
        if chosen[0] > 1 and ran_threads <= 1:
            # the kernel ran the epoch on one thread anyway (too few rows to share):
            # nothing to choose between
            self.active = False
            return
        contended = (ran_threads > 1 and cpu_seconds is not None
                     and seconds >= CPU_CHECK_SECONDS
                     and cpu_seconds < CONTENDED_CPU_SHARE * ran_threads * seconds)
        if contended:
            self.contended = True
        if self.epochs >= 2 or contended:
            self.seconds[chosen] = seconds / max(int(n_items), 1)
