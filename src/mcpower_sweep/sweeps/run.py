"""Sweeps: a design grid becomes Dask tasks whose counts stream into a zarr store.

One task runs one chunk of simulations at one design point through the engine.  Chunk
``k`` of every point covers simulations ``[k*chunk_size, min((k+1)*chunk_size, n))`` of
the same master seed, so a point's totals equal ``find_power`` with that seed, whatever
the chunk size, the number of workers, the scheduler, or interruptions and resumes.

The driver submits a bounded window of tasks, writes each chunk's counts to its own
region of the store as it arrives (then that chunk's done flag), and never keeps
results in memory.  ``resume=True`` skips chunks already done.

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
import datetime as dt
import errno
import glob
import hashlib
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__ as PACKAGE_VERSION
from .. import engine
from ..design.spec import MAX_SIMULATIONS, SimulationSpec
from .grid import Grid

if TYPE_CHECKING:
    import xarray as xr

    from .store import ChunkWriter

# Workers import this module to run :func:`run_task`; xarray, zarr and the store are
# imported only where the driver needs them, so a worker's first task starts quickly.

TARGET_TASK_SECONDS = 1.0  # engine work per task: large enough that Dask overhead is small
PROBE_SECONDS = 0.2  # calibration stops once a probe chunk takes this long
DEFAULT_TARGET_POWER = 0.8
IN_FLIGHT_PER_THREAD = 4
SAVE_SECONDS = 10.0  # after Ctrl-C: how long to wait for results that already arrived
MIN_IN_FLIGHT = 8

# Attrs that must match for a store to be resumed (a mismatch means other simulations).
IDENTITY_ATTRS = (
    "package_version",
    "engine_version",
    "formula",
    "base_params",
    "grid",
    "seed",
    "simulations",
    "chunk_size",
)


# ----------------------------------------------------------------------- tasks
def run_task(spec: SimulationSpec, seed: int, start: int, count: int) -> tuple[Any, float]:
    """One Dask task: a chunk's counts and the engine time spent on it (seconds).

    >>> counts, seconds = run_task(spec, 1, 0, 50)  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    counts = engine.chunk_counts(spec, seed, start, count, n_threads=1)
    return counts, time.perf_counter() - t0


# ------------------------------------------------------------------ resolving
@dataclass(frozen=True)
class Plan:
    """Everything a run needs, resolved and validated before any work starts."""

    grid: Grid
    seed: int
    simulations: int
    chunk_size: int
    path: Path
    attrs: dict[str, Any]
    calibrated: bool = False  # chunk_size was measured for this run, not given


@dataclass
class RunStats:
    """What one call of :func:`sweep` did (reported in the returned ``attrs['last_run']``)."""

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


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r} is not allowed: use a positive integer")
    if value < 1:
        raise ValueError(f"{name}={value!r} is not allowed: use a positive integer")
    return int(value)


def _check_seed(value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"seed={value!r} is not allowed: use an integer 0 <= seed < 2**64")
    if not 0 <= int(value) < 2**64:
        raise ValueError(f"seed={value!r} is not allowed: use an integer 0 <= seed < 2**64")
    return int(value)


def base_spec(model_or_spec: Any, axes: Mapping[str, Sequence[Any]]) -> SimulationSpec:
    """The spec a grid starts from: the spec itself, or the model's at a swept sample size.

    For a model, ``to_spec`` is called at the largest swept ``sample_size`` that the
    model accepts (estimator and df method at their first swept value, or the defaults);
    each point then sets its own values.

    >>> base_spec(model, {"sample_size": [200, 400]}).sample_size  # doctest: +SKIP
    400
    """
    if isinstance(model_or_spec, SimulationSpec):
        model_or_spec.validate()
        return model_or_spec
    if not hasattr(model_or_spec, "to_spec"):
        raise ValueError(
            f"sweep needs an MCPower model or a SimulationSpec, got {type(model_or_spec).__name__}"
        )
    sizes = axes.get("sample_size") if isinstance(axes, Mapping) else None
    if isinstance(axes, Mapping) and "sample_size" in axes:
        from .grid import _normalise_axis

        _normalise_axis("sample_size", sizes)  # names an empty or malformed axis
    if not sizes or isinstance(sizes, (str, bytes)):
        raise ValueError(
            "sweeping a model needs a 'sample_size' axis in the grid, e.g. "
            "{'sample_size': [400]} (or pass model.to_spec(sample_size) instead of the model)"
        )
    options = {}
    for name in ("estimator", "df_method"):
        values = axes.get(name)
        if values and not isinstance(values, (str, bytes)):
            options[name] = values[0]
    first_error: ValueError | None = None
    for n in sorted({v for v in sizes if isinstance(v, (int, np.integer))}, reverse=True):
        try:
            return model_or_spec.to_spec(int(n), **options)
        except ValueError as err:
            first_error = first_error or err
    if first_error is not None:
        raise first_error
    raise ValueError(f"grid axis 'sample_size': {list(sizes)!r} holds no integer sample size")


def _spec_hash(spec: SimulationSpec) -> str:
    text = json.dumps({"params": spec.params(), "terms": spec.term_names}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _swept_or(grid: Grid, name: str, value: Any) -> Any:
    return "swept" if name in grid.names else value


def provenance(
    grid: Grid,
    *,
    seed: int,
    simulations: int,
    chunk_size: int,
    target_power: float,
    scenario_text: str,
    max_failed: float | None = None,
) -> dict[str, Any]:
    """The store's attrs: versions, model, grid, seed, sizes (JSON-friendly values).

    ``alpha``, ``df_method`` and ``estimator`` read ``"swept"`` when they are axes (their
    coordinate holds the values).
    """
    base = grid.base
    attrs: dict[str, Any] = {
        "title": "mcpower_sweep power analysis results",
        "package_version": PACKAGE_VERSION,
        "engine_version": str(engine.ENGINE_VERSION),
        "formula": base.formula,
        "base_params": json.dumps(base.params()),
        "grid": json.dumps(grid.as_dict()),
        "seed": seed,
        "simulations": simulations,
        "chunk_size": chunk_size,
        "alpha": _swept_or(grid, "alpha", base.alpha),
        "df_method": _swept_or(grid, "df_method", base.df_method),
        "estimator": _swept_or(grid, "estimator", base.estimator),
        "target_power": float(target_power),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "scenario": scenario_text or "",
        "spec_hash": _spec_hash(base),
    }
    if max_failed is not None:
        attrs["max_failed"] = float(max_failed)
    return attrs


def _describe_json_diff(what: str, stored: str, new: str) -> str:
    try:
        old_d, new_d = json.loads(stored), json.loads(new)
    except (TypeError, ValueError):
        return f"{what} (store: {stored!r}, now: {new!r})"
    if isinstance(old_d, dict) and isinstance(new_d, dict):
        keys = [k for k in {**old_d, **new_d} if old_d.get(k) != new_d.get(k)]
        parts = [f"{k}: store {old_d.get(k)!r}, now {new_d.get(k)!r}" for k in keys]
        return f"{what} ({'; '.join(parts)})"
    return f"{what} (store: {stored}, now: {new})"


def identity_differences(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between a store's attrs and a new run's, in words (empty: same run).

    >>> identity_differences({"seed": 1}, {"seed": 2})  # doctest: +SKIP
    ['seed (store: 1, now: 2)']
    """
    words = {"base_params": "model parameters", "grid": "grid"}
    out = []
    for key in IDENTITY_ATTRS:
        old, now = stored.get(key), new.get(key)
        if old == now:
            continue
        if key in words:
            out.append(_describe_json_diff(words[key], str(old), str(now)))
        else:
            out.append(f"{key.replace('_', ' ')} (store: {old!r}, now: {now!r})")
    return out


def calibrate_chunk_size(
    spec: SimulationSpec,
    seed: int,
    simulations: int,
    target_seconds: float = TARGET_TASK_SECONDS,
    probe_seconds: float = PROBE_SECONDS,
) -> int:
    """Simulations per chunk giving about ``target_seconds`` of engine work for ``spec``.

    Times probe chunks on this machine (one thread), growing them until one takes
    ``probe_seconds``; the answer is bounded by ``1 .. simulations``.

    >>> calibrate_chunk_size(spec, seed=1, simulations=1000)  # doctest: +SKIP
    180
    """
    engine.chunk_counts(spec, seed, 0, 1, n_threads=1)  # warm-up: caches, page faults
    count = 2
    while True:
        t0 = time.perf_counter()
        engine.chunk_counts(spec, seed, 0, count, n_threads=1)
        elapsed = time.perf_counter() - t0
        if elapsed >= probe_seconds or count >= simulations:
            break
        grow = probe_seconds / max(elapsed, 1e-6)
        count = min(simulations, max(2 * count, math.ceil(count * min(grow, 50.0))))
    per_sim = elapsed / count
    return max(1, min(simulations, round(target_seconds / max(per_sim, 1e-9))))


def most_expensive_point(grid: Grid) -> SimulationSpec:
    """The design point with the most observations (then clusters, random effects)."""
    return max(
        (spec for _, spec in grid.points()),
        key=lambda s: (s.total_n, s.effective_n_clusters, len(s.random_columns)),
    )


def _existing_store(path: Path, *, resume: bool, overwrite: bool) -> bool:
    """Check what is at ``path``: whether a results store is there (to resume or replace).

    Nothing is removed here: an old store is replaced only once the new run is valid.
    """
    from . import store

    if not path.exists():
        return False
    if path.is_dir() and not any(path.iterdir()):
        return False
    if not store.is_store(path):
        raise FileExistsError(
            f"{str(path)!r} exists and is not a results store: choose another out= path"
        )
    if not (resume or overwrite):
        raise FileExistsError(
            f"results store {str(path)!r} already exists: pass resume=True to finish it "
            "(--resume) or overwrite=True to start again (--overwrite)"
        )
    return True


def _create_store_atomically(
    path: Path, grid: Grid, *, simulations: int, chunk_size: int, attrs: dict[str, Any],
    replace: bool,
) -> None:
    """Create the store beside ``path`` and rename it into place (replacing an old one).

    A run killed while creating leaves no half-made store at ``path`` (a half-made one
    would be neither resumable nor, being no results store, replaceable), only a hidden
    ``.<name>.new-*`` or ``.<name>.old-*`` directory that the next run removes.  Called
    with the store's lock held.
    """
    from . import store

    for pattern in (f".{glob.escape(path.name)}.new-*", f".{glob.escape(path.name)}.old-*"):
        for stale in path.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    token = uuid.uuid4().hex[:8]
    new = path.with_name(f".{path.name}.new-{token}")
    store.create_store(new, grid, simulations=simulations, chunk_size=chunk_size, attrs=attrs)
    if replace:
        old = path.with_name(f".{path.name}.old-{token}")
        os.rename(path, old)
        os.rename(new, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if path.is_dir():
            path.rmdir()  # an empty directory stands in for a new store
        os.rename(new, path)


def _model_value(model_or_spec: Any, name: str) -> Any:
    return None if isinstance(model_or_spec, SimulationSpec) else getattr(model_or_spec, name)


def make_plan(
    model_or_spec: Any,
    grid: Mapping[str, Sequence[Any]] | Grid,
    *,
    path: Path,
    simulations: int | None,
    seed: int | None,
    chunk_size: int | None,
    resume: bool,
    overwrite: bool,
    scenario_text: str,
    target_power: float | None,
) -> tuple[Plan, bool]:
    """Resolve every option, check or create the store; returns the plan and whether
    it continues an existing store."""
    from . import store

    if resume and overwrite:
        raise ValueError("resume=True and overwrite=True exclude each other: choose one")
    calibrated = False
    if not isinstance(grid, Grid):
        grid = Grid(base_spec(model_or_spec, grid), grid)
    existing = _existing_store(path, resume=resume, overwrite=overwrite)
    resuming = existing and resume
    stored = store.read_attrs(path) if resuming else {}

    simulations = (
        simulations if simulations is not None else _model_value(model_or_spec, "simulations")
    )
    simulations = simulations if simulations is not None else stored.get("simulations")
    if simulations is None:
        raise ValueError("simulations is required when sweeping a SimulationSpec")
    simulations = _positive_int("simulations", simulations)
    if simulations > MAX_SIMULATIONS:
        raise ValueError(
            f"simulations={simulations!r} is too large: at most {MAX_SIMULATIONS:,} per "
            "design point"
        )

    seed = seed if seed is not None else _model_value(model_or_spec, "seed")
    seed = seed if seed is not None else stored.get("seed")
    seed = _check_seed(seed if seed is not None else secrets.randbits(63))

    if chunk_size is not None:
        chunk_size = min(_positive_int("chunk_size", chunk_size), simulations)
    elif "chunk_size" in stored:
        chunk_size = int(stored["chunk_size"])
    else:
        from .preflight import check_space, estimate_store

        # Room for the smallest store (one chunk per point) before calibration simulates.
        check_space(path, estimate_store(grid.shape, 1))
        chunk_size = calibrate_chunk_size(most_expensive_point(grid), seed, simulations)
        calibrated = True

    if target_power is None:
        target_power = _model_value(model_or_spec, "target_power")
    target_power = DEFAULT_TARGET_POWER if target_power is None else float(target_power)
    attrs = provenance(
        grid,
        seed=seed,
        simulations=simulations,
        chunk_size=chunk_size,
        target_power=target_power,
        scenario_text=scenario_text,
        max_failed=_model_value(model_or_spec, "max_failed"),
    )
    if resuming:
        diffs = identity_differences(stored, attrs)
        if diffs:
            raise ValueError(
                f"results store {str(path)!r} was made for a different run: "
                + "; ".join(diffs)
                + ". Use another out= path, or overwrite=True to replace it"
            )
        attrs = dict(stored)
    else:
        from .preflight import check_space, estimate_store

        check_space(path, estimate_store(grid.shape, store.n_chunks_for(simulations, chunk_size)))
        _create_store_atomically(path, grid, simulations=simulations, chunk_size=chunk_size,
                                 attrs=attrs, replace=existing)
    plan = Plan(grid, seed, simulations, chunk_size, path, attrs, calibrated)
    return plan, resuming


# -------------------------------------------------------------------- running
def pending_chunks(grid: Grid, done: np.ndarray) -> Iterator[tuple[tuple[int, ...], int]]:
    """``(index, k)`` of chunks not done: chunk-major, costlier points first in each round.

    Chunk-major order makes every point's estimate sharpen together (useful partial
    results), and costly points first keeps the end of the run from waiting on them.
    """
    order = sorted(
        (index for index, _ in grid.points()),
        key=lambda index: -grid.spec_at(index).total_n,
    )
    for k in range(done.shape[-1]):
        for index in order:
            if not done[(*index, k)]:
                yield index, k


class _InterruptGuard:
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

    def __enter__(self) -> _InterruptGuard:
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


def _starts_cluster(cluster: Any) -> bool:
    if cluster is None:
        return True
    return isinstance(cluster, (str, os.PathLike)) and "://" not in os.fspath(cluster)


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="sim",
        unit_scale=True,
        desc="sweep",
        disable=not enabled,
        file=sys.stderr,
        smoothing=0.1,
    )


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


class _Window:
    """A bounded window of submitted tasks, refilled as results arrive."""

    def __init__(self, client: Any, plan: Plan, todo: Iterator[tuple[tuple[int, ...], int]]):
        from distributed import as_completed

        self.client = client
        self.plan = plan
        self.todo = todo
        self.futures: dict[Any, tuple[tuple[int, ...], int]] = {}
        self.completed = as_completed()
        self.run_id = uuid.uuid4().hex[:8]
        self._limit = MIN_IN_FLIGHT
        self._limit_checked = -math.inf

    def limit(self) -> int:
        # Workers can join late (remote or adaptive clusters): look again now and then.
        now = time.monotonic()
        if now - self._limit_checked > 5.0:
            threads = sum(self.client.nthreads().values())
            self._limit = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)
            self._limit_checked = now
        return self._limit

    def refill(self) -> None:
        from .store import chunk_bounds

        plan = self.plan
        for index, k in itertools.islice(self.todo, max(0, self.limit() - len(self.futures))):
            start, count = chunk_bounds(k, plan.simulations, plan.chunk_size)
            flat = int(np.ravel_multi_index(index, plan.grid.shape)) if index else 0
            future = self.client.submit(
                run_task,
                plan.grid.spec_at(index),
                plan.seed,
                start,
                count,
                key=f"mcpower-chunk-{self.run_id}-{flat}-{k}",
                pure=False,
            )
            self.futures[future] = (index, k)
            self.completed.add(future)

    def cancel(self) -> None:
        if self.futures:
            self.client.cancel(list(self.futures))
            self.futures.clear()


def _record(index: tuple[int, ...], k: int, counts: Any) -> Any:
    from .store import ChunkRecord

    return ChunkRecord(
        index, k, counts.n_sims, counts.n_success, counts.n_singular, counts.n_significant
    )


def _task_failed(plan: Plan, index: tuple[int, ...], k: int, err: BaseException) -> RuntimeError:
    where = ", ".join(f"{n}={v!r}" for n, v in plan.grid.values_at(index).items()) or "the"
    return RuntimeError(f"chunk {k} of design point {where} failed: {err}")


def _collect(
    window: _Window,
    writer: ChunkWriter,
    guard: _InterruptGuard,
    bar: Any,
    stats: RunStats,
) -> None:
    """Write chunks as they complete (counts, then done flags) and refill the window.

    Futures that finish together are written together: one zarr call per variable.
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
                items.append((future, *window.futures.pop(future)))
        failed = next((item for item in items if status[item[0]] != "finished"), None)
        finished = [item for item in items if status[item[0]] == "finished"]
        results = window.client.gather([future for future, _, _ in finished])
        records = [
            _record(index, k, counts)
            for (_, index, k), (counts, _) in zip(finished, results, strict=True)
        ]
        with guard.writing():
            writer.write_many(records)
            for counts, seconds in results:  # counted before a pending Ctrl-C is raised
                stats.record(counts.n_sims, seconds)
        bar.update(sum(r.n_sims for r in records))
        bar.set_postfix_str(f"chunks {stats.chunks_done}/{stats.chunks_total}", refresh=False)
        del items, finished, results, records  # written, not kept
        if failed is not None:
            future, index, k = failed
            err = (
                future.exception()
                if future.status == "error"
                else RuntimeError(f"the task was {future.status}")
            )
            raise _task_failed(plan, index, k, err) from err
        window.refill()


def _write_failed(plan: Plan, stats: RunStats, err: OSError) -> OSError:
    """A failed chunk write as an error that says what is saved and what to do."""
    from .preflight import DestinationError

    if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return err
    from .store import done_mask

    what = "became read-only" if err.errno == errno.EROFS else "is full"
    try:
        saved = int(done_mask(plan.path).sum())  # a batch may have been written in part
    except Exception:  # noqa: BLE001 - the message must not fail
        saved = stats.chunks_done
    return DestinationError(
        err.errno,
        f"the file system of {str(plan.path)!r} {what} ({err.strerror}) after "
        f"{saved} of {stats.chunks_total} chunks; those are saved: free some "
        "space (or make it writable), then run the same command with --resume",
    )


def _save_arrived(
    window: _Window, writer: ChunkWriter, stats: RunStats, seconds: float = SAVE_SECONDS
) -> None:
    """After Ctrl-C: write the chunks that finished but were not yet collected.

    Within ``seconds`` in all: a Ctrl-C in a terminal reaches a LocalCluster's workers
    too, and a result held by a worker that died is never delivered (its chunk is left
    for the resumed run).
    """
    deadline = time.monotonic() + seconds
    records = []
    for future, (index, k) in list(window.futures.items()):
        if future.status != "finished":
            continue
        try:
            counts, engine_seconds = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - lost with its worker: recomputed on resume
            continue
        records.append(_record(index, k, counts))
        stats.record(counts.n_sims, engine_seconds)
    writer.write_many(records)


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
    from ..cluster import dashboard_link, open_client
    from . import store

    t_start = time.perf_counter()
    writer = store.ChunkWriter.open(plan.path)
    done = store.done_mask(plan.path)
    stats = RunStats(chunks_total=done.size, chunks_skipped=int(done.sum()))
    if stats.chunks_done == stats.chunks_total:
        return stats
    sims_done = sum(
        store.chunk_bounds(int(k), plan.simulations, plan.chunk_size)[1]
        for k in np.nonzero(done)[-1]
    )
    with open_client(cluster, workers) as client:
        stats.workers = len(client.nthreads())
        if progress and _starts_cluster(cluster):
            print(f"Dask dashboard: {dashboard_link(client)}", file=sys.stderr)
        if progress and plan.calibrated:
            print(
                f"chunk_size={plan.chunk_size} simulations per task (calibrated for about "
                f"{TARGET_TASK_SECONDS:g} s of engine work each)",
                file=sys.stderr,
            )
        window = _Window(client, plan, pending_chunks(plan.grid, done))
        bar = _progress_bar(plan.grid.size * plan.simulations, sims_done, progress)
        try:
            with _InterruptGuard() as guard, bar:
                window.refill()
                try:
                    _collect(window, writer, guard, bar, stats)
                except OSError as err:
                    failure = _write_failed(plan, stats, err)
                    if failure is err:
                        raise
                    raise failure from err
                except KeyboardInterrupt:
                    guard.critical = True  # a second Ctrl-C must not cut a write short
                    _save_arrived(window, writer, stats)
                    bar.close()
                    hint = _resume_hint(plan, temporary, stats.chunks_done, stats.chunks_total)
                    # The hint travels with the exception (the CLI turns it into one line).
                    interrupted = KeyboardInterrupt(hint)
                    interrupted.chunks_done = stats.chunks_done  # type: ignore[attr-defined]
                    interrupted.chunks_total = stats.chunks_total  # type: ignore[attr-defined]
                    interrupted.store = None if temporary else plan.path  # type: ignore[attr-defined]
                    raise interrupted from None
        finally:
            window.cancel()
    stats.wall_seconds = time.perf_counter() - t_start
    return stats


# ------------------------------------------------------------------ public API
def sweep(
    model_or_spec: Any,
    grid: Mapping[str, Sequence[Any]] | Grid,
    *,
    simulations: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
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

    Parameters
    ----------
    model_or_spec
        An :class:`~mcpower_sweep.MCPower` model (its simulations, seed, alpha and
        target power are the defaults here) or a :class:`SimulationSpec`.
    grid
        Axes ``{parameter: values}``: ``n_clusters``, ``cluster_size``, ``sample_size``,
        ``icc``, ``slope_variance``, ``slope_intercept_corr``, ``alpha``, ``df_method``,
        ``estimator`` or ``effect_<term>``; a model needs a ``sample_size`` axis.  Or a
        :class:`~mcpower_sweep.grid.Grid`.
    simulations
        Simulations per design point (default: the model's).
    seed
        Master seed (default: the model's, the store's when resuming, else drawn and
        recorded).  Every point uses the same seed and simulation indices.
    out
        Path of the zarr store (default: a temporary store, removed after reading).
    cluster, workers
        Where to run: see :func:`mcpower_sweep.cluster.open_client` (default: a local
        cluster with one single-threaded worker process per core).
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
        :func:`~mcpower_sweep.store.open_results` of the store (in memory), with
        ``attrs['last_run']`` (JSON: chunks run and skipped, engine and wall seconds).

    Raises
    ------
    ValueError
        For an invalid grid or option, or a store made for a different run (naming
        what differs).
    FileExistsError
        If ``out`` exists and neither ``resume`` nor ``overwrite`` is set.
    mcpower_sweep.lock.StoreLockedError
        If another live run is writing the same store.
    mcpower_sweep.preflight.DestinationError
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

    temporary = out is None
    tmpdir = tempfile.mkdtemp(prefix="mcpower-sweep-") if temporary else None
    path = Path(tmpdir, "results.zarr") if tmpdir else Path(os.fspath(out)).expanduser()
    from .lock import store_lock
    from .preflight import check_writable

    try:
        # Checked before calibration and cluster start-up: fail fast on a bad destination,
        # and one run per store (the lock dies with the process, even on SIGKILL).
        check_writable(path)
        with store_lock(path):
            plan, _ = make_plan(
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
