"""Sweep tasks: chunks of simulations submitted in a bounded window, collected as they finish.

One chunk (:func:`run_task`) is a run of simulations at one design point; one Dask task
(:func:`run_chunks`) runs consecutive chunks of the to-do list, as many as make about one
chunk of the costliest point (cheap points share a task: few, sizeable tasks keep the
scheduler's per-task cost small).  A :class:`TaskWindow` keeps a bounded number of tasks
submitted and refills as results arrive; :func:`collect` adds each finished chunk's
counts to the store's totals (:class:`~.writer.ChunkWriter`, flushed every few
seconds).  :func:`save_arrived` writes what had already finished when the run is stopped.
Whether the workers can run tasks at all is :mod:`.health`'s.

Workers import this module to run :func:`run_task`: xarray, zarr, distributed and the
store are imported only where the driver needs them, so a worker's first task starts
quickly.

>>> counts, seconds = run_task(spec, 1, 0, 50)  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import engine
from ..design.spec import SimulationSpec
from .health import task_failed

if TYPE_CHECKING:
    from .grid import Grid
    from .health import WorkerWatch
    from .plan import Plan
    from .run import InterruptGuard
    from .writer import ChunkRecord, ChunkWriter

IN_FLIGHT_PER_THREAD = 4
MAX_CHUNKS_PER_TASK = 64  # chunks one task may run (bounds what a lost task costs)
GUIDED_SHARE = 2  # near the end, a task takes at most 1/(this × threads) of the work left
MIN_IN_FLIGHT = 8
SAVE_SECONDS = 10.0  # after Ctrl-C: how long to wait for results that already arrived


def run_task(spec: SimulationSpec, seed: int, start: int, count: int) -> tuple[Any, float]:
    """One Dask task: a chunk's counts and the engine time spent on it (seconds).

    >>> counts, seconds = run_task(spec, 1, 0, 50)  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    counts = engine.chunk_counts(spec, seed, start, count, n_threads=1)
    return counts, time.perf_counter() - t0


def run_chunks(seed: int, chunks: list[tuple[SimulationSpec, int, int]]) -> list[tuple[Any, float]]:
    """One Dask task: :func:`run_task` for each ``(spec, start, count)``, in order.

    >>> results = run_chunks(1, [(spec, 0, 50), (other_spec, 0, 50)])  # doctest: +SKIP
    """
    return [run_task(spec, seed, start, count) for spec, start, count in chunks]


@dataclass
class RunStats:
    """What one call of ``sweep`` did (reported in the returned ``attrs['last_run']``)."""

    chunks_total: int = 0
    chunks_skipped: int = 0
    chunks_run: int = 0
    simulations_run: int = 0
    engine_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 0

    @property
    def chunks_done(self) -> int:
        return self.chunks_skipped + self.chunks_run

    def record(self, n_sims: int, engine_seconds: float) -> None:
        self.chunks_run += 1
        self.simulations_run += n_sims
        self.engine_seconds += engine_seconds

    def as_json(self) -> str:
        return json.dumps(self.__dict__)


def pending_chunks(grid: Grid, done: np.ndarray) -> Iterator[tuple[tuple[int, ...], int]]:
    """``(index, k)`` of chunks not done: chunk-major, costlier points first in each round.

    Chunk-major order makes every point's estimate sharpen together (useful partial
    results), and costly points first keeps the end of the run from waiting on them.
    """
    total_n = grid.total_n
    order = sorted(np.ndindex(total_n.shape), key=lambda index: -total_n[index])
    for k in range(done.shape[-1]):
        for index in order:
            if not done[(*index, k)]:
                yield index, k


class TaskWindow:
    """A bounded window of submitted tasks, refilled as results arrive.

    ``futures`` maps each task to the ``(index, k)`` of its chunks.  A task takes the
    chunks not ``done`` (:func:`pending_chunks`) until their cost (observations ×
    simulations) reaches that of ``plan.task_sims`` (else one full chunk) of the
    costliest point, about a second of work, or :data:`MAX_CHUNKS_PER_TASK`; near the
    end, 1 / :data:`GUIDED_SHARE` of the work left per thread (guided packing: the last
    tasks are short, so no worker idles long while another finishes a big one).
    """

    def __init__(self, client: Any, plan: Plan, done: np.ndarray):
        from distributed import as_completed

        from .store import chunk_bounds

        self.client = client
        self.plan = plan
        self.todo = pending_chunks(plan.grid, done)
        self.futures: dict[Any, list[tuple[tuple[int, ...], int]]] = {}
        self.completed = as_completed()
        self.run_id = uuid.uuid4().hex[:8]
        self._tasks = itertools.count()
        self._budget = (plan.task_sims or plan.chunk_size) * int(plan.grid.total_n.max())
        counts = np.array([chunk_bounds(k, plan.simulations, plan.chunk_size)[1]
                           for k in range(done.shape[-1])])
        self._left = int((plan.grid.total_n[..., None] * counts * ~done).sum())
        self._threads = 1
        self._limit = MIN_IN_FLIGHT
        self._limit_checked = -math.inf

    def limit(self) -> int:
        # Workers can join late (remote or adaptive clusters): look again now and then.
        now = time.monotonic()
        if now - self._limit_checked > 5.0:
            self._threads = max(1, sum(self.client.nthreads().values()))
            self._limit = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * self._threads)
            self._limit_checked = now
        return self._limit

    def _next_task(self) -> tuple[list[tuple[tuple[int, ...], int]], list[Any]]:
        from .store import chunk_bounds

        plan = self.plan
        budget = min(self._budget, self._left / (GUIDED_SHARE * self._threads))
        where: list[tuple[tuple[int, ...], int]] = []
        chunks: list[Any] = []
        cost = 0
        for index, k in self.todo:
            spec = plan.grid.spec_at(index)
            start, count = chunk_bounds(k, plan.simulations, plan.chunk_size)
            where.append((index, k))
            chunks.append((spec, start, count))
            cost += spec.total_n * count
            if cost >= budget or len(chunks) >= MAX_CHUNKS_PER_TASK:
                break
        self._left -= cost
        return where, chunks

    def refill(self) -> None:
        while len(self.futures) < self.limit():
            where, chunks = self._next_task()
            if not chunks:
                return
            future = self.client.submit(
                run_chunks,
                self.plan.seed,
                chunks,
                key=f"mcpower-chunks-{self.run_id}-{next(self._tasks)}",
                pure=False,
            )
            self.futures[future] = where
            self.completed.add(future)

    def cancel(self) -> None:
        if self.futures:
            self.client.cancel(list(self.futures))
            self.futures.clear()


def _record(index: tuple[int, ...], k: int, counts: Any) -> ChunkRecord:
    from ..results.tally import flatten
    from .writer import ChunkRecord

    return ChunkRecord(
        index, k, counts.n_sims, counts.n_success, counts.n_singular, counts.n_significant,
        flatten(counts.n_corrected, counts.n_at_least, counts.estimate_sums,
                counts.component_sums),
    )


def collect(window: TaskWindow, writer: ChunkWriter, guard: InterruptGuard, bar: Any,
            stats: RunStats, watch: WorkerWatch | None = None) -> None:
    """Add chunks to the totals as they complete, flush when due, and refill the window.

    Futures that finish together are written together: one call per batch.  Writes run
    inside ``guard.writing()``, so a Ctrl-C never cuts one short.  A failed task raises
    :func:`task_failed`'s error, and a ``watch`` that found no workers its own.
    """
    plan = window.plan
    for batch in window.completed.batches():
        status = {future: future.status for future in batch}
        items = []
        for future in batch:
            if status[future] in ("lost", "pending"):
                # Its worker died after it finished: Dask recomputes it, so wait again.
                window.completed.add(future)
            else:
                items.append((future, window.futures.pop(future)))
        failed = next((item for item in items if status[item[0]] != "finished"), None)
        finished = [item for item in items if status[item[0]] == "finished"]
        gathered = window.client.gather([future for future, _ in finished])
        results = [r for task in gathered for r in task]
        where = [chunk for _, chunks in finished for chunk in chunks]
        records = [
            _record(index, k, counts)
            for (index, k), (counts, _) in zip(where, results, strict=True)
        ]
        with guard.writing():
            writer.add(records)
            if writer.due():
                writer.flush(final=False)
            for counts, seconds in results:  # counted before a pending Ctrl-C is raised
                stats.record(counts.n_sims, seconds)
        bar.update(sum(r.n_sims for r in records))
        bar.set_postfix_str(f"chunks {stats.chunks_done}/{stats.chunks_total}", refresh=False)
        del items, finished, gathered, results, records  # written, not kept
        if failed is not None:
            if watch is not None and watch.error is not None:
                raise watch.error
            future, ((index, k), *_) = failed
            err = (
                future.exception()
                if future.status == "error"
                else RuntimeError(f"the task was {future.status}")
            )
            raise task_failed(plan, index, k, err) from err
        window.refill()


def write_failed(plan: Plan, stats: RunStats, err: OSError) -> OSError:
    """A failed chunk write as an error that says what is saved and what to do."""
    from .preflight import DestinationError
    from .store import done_mask

    if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return err
    what = "became read-only" if err.errno == errno.EROFS else "is full"
    try:
        saved = int(done_mask(plan.path).sum())  # a batch may have been written in part
    except Exception:  # noqa: BLE001 - the message must not fail
        saved = stats.chunks_done
    return DestinationError(
        err.errno,
        f"the file system of {str(plan.path)!r} {what} ({err.strerror}) after "
        f"{saved} of {stats.chunks_total} chunks; those are saved: free some "
        "space (or make it writable), then run the same sweep again with "
        "--resume / resume=True",
    )


def save_arrived(
    window: TaskWindow, writer: ChunkWriter, stats: RunStats, seconds: float = SAVE_SECONDS
) -> None:
    """After Ctrl-C: write the chunks that finished but were not yet collected.

    Within ``seconds`` in all: a Ctrl-C in a terminal reaches a LocalCluster's workers
    too, and a result held by a worker that died is never delivered (its chunk is left
    for the resumed run).
    """
    deadline = time.monotonic() + seconds
    records = []
    for future, where in list(window.futures.items()):
        if future.status != "finished":
            continue
        try:
            results = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - lost with its worker: recomputed on resume
            continue
        for (index, k), (counts, engine_seconds) in zip(where, results, strict=True):
            records.append(_record(index, k, counts))
            stats.record(counts.n_sims, engine_seconds)
    writer.write_many(records)  # flushes the chunks added before too
