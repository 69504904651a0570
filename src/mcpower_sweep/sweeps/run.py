"""Running a sweep: a design grid becomes Dask tasks whose counts stream into a zarr store.

One task runs one chunk of simulations at one design point through the engine.  Chunk
``k`` of every point covers simulations ``[k*chunk_size, min((k+1)*chunk_size, n))`` of
the same master seed, so a point's totals equal ``find_power`` with that seed, whatever
the chunk size, the number of workers, the scheduler, or interruptions and resumes.

:func:`sweep` plans the run (:mod:`.plan`), then :func:`execute` keeps a bounded window
of tasks in flight (:mod:`.tasks`), adds each chunk's counts to the per-point totals as
it arrives and flushes them to the store every few seconds (:mod:`.store`).  Ctrl-C
saves what arrived and says how to resume; ``resume=True`` skips chunks already done.

>>> from mcpower_sweep import MCPower
>>> from mcpower_sweep.sweeps.run import sweep
>>> model = MCPower("y ~ x + (1 + x|g)").set_cluster("g", ICC=0.1, n_clusters=10,
...     random_slopes=["x"], slope_variance=0.1).set_effects("x=0.3")  # doctest: +SKIP
>>> ds = sweep(model, {"n_clusters": [10, 20], "sample_size": [200, 400]},
...            simulations=200, seed=1, out="results.zarr")  # doctest: +SKIP
>>> ds.power.sel(test="x")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .grid import Grid
from .health import WorkerWatch, probe_workers, worker_timeout
from .plan import TARGET_TASK_SECONDS, Plan, create_planned_store, make_plan
from .tasks import RunStats, TaskWindow, collect, save_arrived, write_failed

if TYPE_CHECKING:
    import xarray as xr

    from .location import StoreLocation


class InterruptGuard:
    """Ctrl-C raises KeyboardInterrupt, except while a chunk is written (then just after)."""

    def __init__(self) -> None:
        self.critical = False
        self.pending = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.critical:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


_main_lock = threading.Lock()
_main_users = 0
_real_main: types.ModuleType | None = None


@contextlib.contextmanager
def _workers_skip_main() -> Iterator[None]:
    """Worker processes started in the block do not run the user's script again.

    Dask starts a local cluster's workers with multiprocessing's "spawn" method, which
    re-runs the parent's ``__main__`` script (as ``__mp_main__``) in each new process;
    a script that calls :func:`sweep` without an ``if __name__ == "__main__":`` guard
    would start a sweep inside each worker, and every worker dies with a traceback.  The
    workers of a sweep need nothing from ``__main__`` (their tasks are this package's
    functions), so while the block runs ``sys.modules["__main__"]`` is a stand-in with
    no file, as in an interactive session, and multiprocessing leaves ``__main__`` alone.
    This covers workers that the nannies restart after a loss too.  The user's module
    itself is untouched; nested or concurrent sweeps share one stand-in.
    """
    global _main_users, _real_main
    with _main_lock:
        if _main_users == 0:
            _real_main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
        _main_users += 1
    try:
        yield
    finally:
        with _main_lock:
            _main_users -= 1
            if _main_users == 0:
                sys.modules["__main__"] = _real_main  # type: ignore[assignment]
                _real_main = None


def _starts_cluster(cluster: Any) -> bool:
    if cluster is None:
        return True
    return isinstance(cluster, (str, os.PathLike)) and "://" not in os.fspath(cluster)


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="sim", unit_scale=True, desc="sweep",
                disable=not enabled, file=sys.stderr, smoothing=0.1)


def _resume_hint(plan: Plan, temporary: bool, chunks_done: int, chunks_total: int) -> str:
    if temporary:
        return (
            f"Interrupted after {chunks_done} of {chunks_total} chunks; they were in a "
            "temporary store and are lost. Pass out=PATH to make a sweep resumable."
        )
    return (
        f"Interrupted: {chunks_done} of {chunks_total} chunks are saved in {str(plan.path)!r}. "
        f"Resume with sweep(..., out={str(plan.path)!r}, resume=True) "
        "or `mcpower-sweep run SCENARIO --out STORE --resume`."
    )


def _interrupted(plan: Plan, temporary: bool, stats: RunStats, saved: int) -> KeyboardInterrupt:
    """Ctrl-C as an exception carrying the resume hint and its facts (the CLI's one line).

    ``saved``: chunks in the store (a chunk that arrived before an earlier one of its
    point is not saved: the resumed run recomputes it).
    """
    interrupted = KeyboardInterrupt(_resume_hint(plan, temporary, saved, stats.chunks_total))
    interrupted.chunks_done = saved  # type: ignore[attr-defined]
    interrupted.chunks_total = stats.chunks_total  # type: ignore[attr-defined]
    interrupted.store = None if temporary else plan.path  # type: ignore[attr-defined]
    return interrupted


def _stopped(plan: Plan, temporary: bool, stats: RunStats, saved: int,
             err: RuntimeError) -> RuntimeError:
    """A run stopped by failing tasks or missing workers: the cause, then what is saved."""
    if temporary or saved == 0:
        return err
    return type(err)(
        f"{err}. {saved} of {stats.chunks_total} chunks are saved in "
        f"{str(plan.path)!r}: resume with --resume / resume=True once this is fixed"
    )


@contextlib.contextmanager
def _start(plan: Plan, cluster: Any, workers: int | None) -> Iterator[tuple[Any, Any]]:
    """The cluster's client, and a function that waits for a new store.

    The store is made in a thread while the cluster starts and the first tasks run
    (making it takes about a second, most of it xarray's imports, which is longer than a
    LocalCluster of threads takes to start).  The function raises its error, if any.
    """
    from ..cluster import open_client

    with ThreadPoolExecutor(max_workers=1) as pool:
        made = pool.submit(create_planned_store, plan) if plan.to_create else None
        with open_client(cluster, workers) as client:
            yield client, (made.result if made is not None else lambda: None)


def _none_done(plan: Plan) -> np.ndarray:
    """The done mask of a store still to be made: no chunk is done."""
    from .store import n_chunks_for

    return np.zeros((*plan.grid.shape, n_chunks_for(plan.simulations, plan.chunk_size)),
                    dtype=bool)


def execute(
    plan: Plan,
    *,
    cluster: Any = None,
    workers: int | None = None,
    progress: bool = True,
    temporary: bool = False,
) -> RunStats:
    """Run every chunk of ``plan`` not yet done, writing counts as they arrive.

    >>> stats = execute(plan, workers=2)  # doctest: +SKIP
    """
    from ..cluster import dashboard_link
    from . import store
    from .writer import ChunkWriter

    t_start = time.perf_counter()
    timeout = worker_timeout()  # a bad setting is refused before the cluster starts
    if not plan.to_create:
        done = store.done_mask(plan.path)
        if done.all():
            ChunkWriter.open(plan.path).flush()  # the derived results, e.g. of an old version
            return RunStats(chunks_total=done.size, chunks_skipped=done.size)
    starts = _starts_cluster(cluster)
    skip_main = _workers_skip_main() if starts else contextlib.nullcontext()
    with skip_main, _start(plan, cluster, workers) as (client, store_made):
        done = _none_done(plan) if plan.to_create else store.done_mask(plan.path)
        stats = RunStats(chunks_total=done.size, chunks_skipped=int(done.sum()))
        sims_done = sum(
            store.chunk_bounds(int(k), plan.simulations, plan.chunk_size)[1]
            for k in np.nonzero(done)[-1]
        )
        stats.workers = len(client.nthreads())
        if progress and starts:
            print(f"Dask dashboard: {dashboard_link(client)}", file=sys.stderr)
        if progress and plan.calibrated:
            print(
                f"chunk_size={plan.chunk_size} simulations per task (calibrated for about "
                f"{TARGET_TASK_SECONDS:g} s of engine work each)",
                file=sys.stderr,
            )
        window = TaskWindow(client, plan, done)
        bar = _progress_bar(plan.grid.size * plan.simulations, sims_done, progress)
        writer: ChunkWriter | None = None  # opened once the store is made
        try:
            with InterruptGuard() as guard, bar, WorkerWatch(window, timeout) as watch:
                try:
                    probe_workers(client, watch)
                    window.refill()  # the workers start while a new store is made
                    store_made()
                    writer = ChunkWriter.open(plan.path)
                    collect(window, writer, guard, bar, stats, watch)
                    with guard.writing():
                        writer.flush()
                except RuntimeError as err:
                    if writer is not None:
                        with guard.writing():
                            save_arrived(window, writer, stats, seconds=1.0)
                    bar.close()
                    saved = writer.chunks_done() if writer is not None else 0
                    raise _stopped(plan, temporary, stats, saved, err) from None
                except OSError as err:
                    failure = write_failed(plan, stats, err)
                    if failure is err:
                        raise
                    raise failure from err
                except KeyboardInterrupt:
                    guard.critical = True  # a second Ctrl-C must not cut a write short
                    if writer is not None:
                        save_arrived(window, writer, stats)
                    bar.close()
                    saved = writer.chunks_done() if writer is not None else 0
                    raise _interrupted(plan, temporary, stats, saved) from None
        finally:
            window.cancel()
    stats.wall_seconds = time.perf_counter() - t_start
    return stats


def sweep(
    model_or_spec: Any,
    grid: Mapping[str, Sequence[Any]] | Grid,
    *,
    sample_size: int | None = None,
    simulations: int | None = None,
    seed: int | None = None,
    out: StoreLocation | None = None,
    cluster: Any = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    scenario_text: str = "",
    target_power: float | None = None,
) -> xr.Dataset:
    """Estimate power at every point of a design grid, in parallel, into a zarr store.

    Works from a plain script too (no ``if __name__ == "__main__":`` needed): the
    workers it starts do not run the script again.

    Parameters
    ----------
    model_or_spec
        An :class:`~mcpower_sweep.MCPower` model (its simulations, seed, alpha and
        target power are the defaults here) or a :class:`SimulationSpec`.
    grid
        Axes ``{parameter: values}``: ``n_clusters``, ``cluster_size``, ``sample_size``,
        ``icc``, ``slope_variance``, ``slope_intercept_corr``, ``alpha``, ``df_method``,
        ``estimator`` or ``effect_<term>`` (:data:`mcpower_sweep.params.AXES`).  Or a
        :class:`~mcpower_sweep.sweeps.grid.Grid`.
    sample_size
        N of every point when the grid has no ``sample_size`` axis (default: the
        model's own, ``model.sample_size``, the N of its last ``find_power``).
    simulations
        Simulations per design point (default: the model's).
    seed
        Master seed (default: the model's, the store's when resuming, else drawn and
        recorded).  Every point uses the same seed and simulation indices.
    out
        The zarr store: a path, a URL (``file://...``, ``memory://...``, any fsspec
        protocol) or a zarr store object (default: a temporary store, removed after
        reading).  Only a local store is locked against a second run and created
        atomically (:mod:`mcpower_sweep.sweeps.location`).
    cluster, workers
        Where to run: see :func:`mcpower_sweep.cluster.open_client` (default: a local
        cluster with one single-threaded worker per core, threads of this process).
    chunk_size
        Simulations per task (default: calibrated for about 1 s of engine work at the
        most expensive point, or the store's when resuming).
    resume, overwrite
        What to do with an existing store: finish its missing chunks, or replace it.
    progress
        Show a progress bar, and the dashboard address of a cluster the run starts.
    scenario_text
        YAML of the scenario, recorded in the store's attrs.
    target_power
        Recorded for tables and plots (default: the model's, else 0.8).

    Returns
    -------
    xarray.Dataset
        :func:`~mcpower_sweep.sweeps.store.open_results` of the store (in memory), with
        ``attrs['last_run']`` (JSON: chunks run and skipped, engine and wall seconds).

    Raises
    ------
    ValueError
        For an invalid grid or option, or a model without a sample size (no
        ``sample_size`` axis, no ``sample_size=`` and no ``find_power`` yet).
    mcpower_sweep.sweeps.preflight.StoreExistsError
        If a store is at ``out`` and neither ``resume`` nor ``overwrite`` is set
        (a ``FileExistsError``, as is ``out`` being something other than a store).
    mcpower_sweep.sweeps.preflight.StoreMismatchError
        If the store was made for a different run (a ``ValueError`` naming what differs).
    mcpower_sweep.sweeps.lock.StoreLockedError
        If another live run is writing the same store.
    mcpower_sweep.sweeps.preflight.DestinationError
        If ``out`` is not writable or its file system lacks room for the store.
    KeyboardInterrupt
        On Ctrl-C, after saving the chunks that arrived and printing how to resume.

    Examples
    --------
    >>> ds = sweep(model, {"n_clusters": [10, 20, 40], "sample_size": [400, 800]},
    ...            simulations=1000, seed=7, out="design.zarr")  # doctest: +SKIP
    >>> ds.power.sel(test="treatment").to_pandas()  # doctest: +SKIP
    """
    from . import store
    from .location import local_path, resolve
    from .lock import store_lock
    from .preflight import check_writable

    temporary = out is None
    tmpdir = tempfile.mkdtemp(prefix="mcpower-sweep-") if temporary else None
    path = Path(tmpdir, "results.zarr") if tmpdir else resolve(out)
    local = local_path(path)
    try:
        # Checked before calibration and cluster start-up: fail fast on a bad destination,
        # and one run per store (the lock dies with the process, even on SIGKILL).  A store
        # that is not local has neither check (sweeps.location).
        if local is not None:
            check_writable(local)
        with store_lock(local) if local is not None else contextlib.nullcontext():
            plan = make_plan(
                model_or_spec,
                grid,
                path=path,
                simulations=simulations,
                seed=seed,
                chunk_size=chunk_size,
                resume=resume,
                overwrite=overwrite,
                scenario_text=scenario_text,
                target_power=target_power,
                sample_size=sample_size,
                create=False,  # made by execute while the cluster starts
            )
            stats = execute(
                plan, cluster=cluster, workers=workers, progress=progress, temporary=temporary
            )
            ds = store.open_results(path)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    ds.attrs["last_run"] = stats.as_json()
    return ds
