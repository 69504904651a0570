"""Whether the workers can run a sweep at all, and saying so in one line when they cannot.

A :class:`WorkerWatch` stops a run whose cluster has had no worker for a while (Slurm jobs
that never start, an unreachable scheduler); :func:`probe_workers` checks that a worker
can import the tasks' module before any chunk is submitted; :func:`task_failed` turns a
task's exception into one line naming the chunk, its design point and, when the workers
cannot run tasks at all, what to check.

>>> worker_timeout() > 0
True
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import Plan
    from .tasks import TaskWindow

TASKS_MODULE = "mcpower_sweep.sweeps.tasks"  # what a worker imports to run a chunk
WORKER_TIMEOUT_ENV = "MCPOWER_SWEEP_WORKER_TIMEOUT"
WORKER_TIMEOUT_SECONDS = 120.0  # how long a run waits while its cluster has no worker

# What to check when workers cannot run the tasks at all (one line, with the cause).
ENVIRONMENT_HINT = (
    "check that the workers' Python (jobqueue.python, or --cluster-option python=...) has "
    "mcpower_sweep and its compiled engine installed, and the workers' environment "
    "(PYTHONPATH, modules, virtual environment, working directory; Slurm job logs)"
)


def worker_timeout() -> float:
    """Seconds a run waits while its cluster has no worker (env ``MCPOWER_SWEEP_WORKER_TIMEOUT``).

    >>> worker_timeout() > 0
    True
    """
    text = os.environ.get(WORKER_TIMEOUT_ENV, "").strip()
    if not text:
        return WORKER_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise ValueError(f"{WORKER_TIMEOUT_ENV}={text!r}: give a number of seconds > 0")
    return seconds


class NoWorkersError(RuntimeError):
    """The cluster had no worker for longer than :func:`worker_timeout`."""


class WorkerWatch:
    """Stops a run whose cluster has had no worker for ``seconds`` (a thread polls it).

    Workers that never arrive (Slurm jobs that never start or die at once, an
    unreachable scheduler) would otherwise leave the run waiting forever.  On timeout
    the watch records a :class:`NoWorkersError` and cancels the window's tasks, which
    wakes :func:`collect`; it raises the error.
    """

    def __init__(self, window: TaskWindow, seconds: float, poll: float = 1.0) -> None:
        self.window = window
        self.seconds = seconds
        self.poll = poll
        self.error: NoWorkersError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mcpower-worker-watch",
                                        daemon=True)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * self.poll)

    def _workers(self) -> int:
        try:
            return len(self.window.client.nthreads())
        except Exception:  # noqa: BLE001 - an unreachable scheduler has no workers for us
            return 0

    def _run(self) -> None:
        since = time.monotonic()
        while not self._stop.wait(self.poll):
            if self._workers():
                since = time.monotonic()
                continue
            if time.monotonic() - since < self.seconds:
                continue
            self.error = NoWorkersError(
                f"no Dask worker was connected for {self.seconds:g} s, so the sweep stopped "
                f"instead of waiting: for Slurm, check that the jobs start (squeue) and stay "
                f"up (their logs); {ENVIRONMENT_HINT}. Set {WORKER_TIMEOUT_ENV}=SECONDS to "
                "wait longer (e.g. for a busy queue)"
            )
            for _ in range(10):  # the driver may change the window meanwhile
                try:
                    futures = list(self.window.futures)
                    break
                except RuntimeError:
                    continue
            else:
                futures = []
            if futures:
                self.window.client.cancel(futures)
            return


def probe_workers(client: Any, watch: WorkerWatch) -> None:
    """Check that a worker can import the tasks' module before any chunk is submitted.

    A worker whose Python cannot import the package crashes on a chunk task before it
    can report an error (its connection dies while reading the task), and its nanny
    restarts it forever.  The probe is a task built from a builtin (``exec`` of an
    import), so it reaches the worker and fails there as an ordinary task, with the
    import error as its exception.  Waits while ``watch`` allows (no workers: its error).
    """
    import functools

    probe = client.submit(functools.partial(exec, f"import {TASKS_MODULE}"), pure=False,
                          key=f"mcpower-probe-{uuid.uuid4().hex[:8]}")
    try:
        while not probe.done():
            if watch.error is not None:
                raise watch.error
            time.sleep(0.05)
        if probe.status != "finished":
            err = probe.exception()
            cause = " ".join(f"{type(err).__name__}: {err}".split())
            raise RuntimeError(f"the workers cannot run sweep tasks ({cause}): {ENVIRONMENT_HINT}")
    finally:
        probe.release()


def _is_environment_error(err: BaseException) -> bool:
    """Whether a task's error says the workers cannot run tasks at all."""
    from distributed.scheduler import KilledWorker

    return isinstance(err, (ImportError, KilledWorker))


def task_failed(plan: Plan, index: tuple[int, ...], k: int, err: BaseException) -> RuntimeError:
    """A task's failure as one line naming the chunk, its design point, the worker's
    exception and, when the workers cannot run tasks at all, what to check."""
    where = ", ".join(f"{n}={v!r}" for n, v in plan.grid.values_at(index).items()) or "the"
    cause = " ".join(f"{type(err).__name__}: {err}".split())
    if _is_environment_error(err):
        return RuntimeError(
            f"the workers cannot run sweep tasks ({cause}; chunk {k} of design point "
            f"{where}): {ENVIRONMENT_HINT}"
        )
    return RuntimeError(f"chunk {k} of design point {where} failed: {cause}")
