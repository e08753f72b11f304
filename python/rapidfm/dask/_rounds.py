"""Waiting for the tasks of a round, one per worker, and noticing a worker that is lost.

A task pinned to a worker that died does not fail: the scheduler holds it until that
worker comes back, which it never does (a restarted worker has a new address and none
of the rows). So the wait polls the scheduler's list of workers, and a worker that
left it, or a task that failed because its worker died, counts as lost."""

from concurrent.futures import CancelledError

from distributed import wait
from distributed.client import FuturesCancelledError
from distributed.scheduler import KilledWorker

POLL_SECONDS = 0.2


class WorkerLostError(RuntimeError):
    """A Dask worker holding training rows was lost during a round. The estimator
    keeps the model of the last completed round (and its checkpoint, if one was set)."""


def _lost_by_exception(exc):
    if isinstance(exc, KilledWorker):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return "CommClosedError" in text or "worker" in text.lower() and "lost" in text.lower()


def gather_from_workers(client, futures):
    """({worker: result}, [lost workers], [interrupted workers]) of `futures` ({worker
    address: future}). Interrupted: the worker is alive but its task was cancelled (a
    dependency, such as the round's model, went with a lost worker): the round is to be
    run again. A task that fails for another reason raises its exception (the other
    tasks cancelled)."""
    pending = dict(futures)
    results, lost, interrupted = {}, [], []
    while pending:
        try:
            wait(list(pending.values()), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
        except (TimeoutError, CancelledError, FuturesCancelledError):
            pass  # the statuses below tell what happened
        alive = set(client.scheduler_info(n_workers=-1)["workers"])
        for worker, future in list(pending.items()):
            status = future.status
            if status == "finished":
                results[worker] = future.result()
            elif status == "error":
                exc = future.exception()
                if not _lost_by_exception(exc):
                    client.cancel(list(pending.values()))
                    raise exc
                lost.append(worker)
            elif worker not in alive:
                future.cancel()
                lost.append(worker)
            elif status in ("cancelled", "lost"):
                interrupted.append(worker)
            else:
                continue
            del pending[worker]
    return results, lost, interrupted
