"""Planning a sweep: every option resolved and the store checked or made, before any work.

:func:`make_plan` turns what the user gave (a model or spec, a grid, options, a store
path) into a :class:`Plan`: the base design (:func:`base_spec`), the seed, the number
of simulations, the chunk size (given, the store's, or measured by
:func:`calibrate_chunk_size` at :func:`most_expensive_point`) and the store's
provenance.  Resuming a store is refused when it was made for other simulations
(:func:`identity_differences`); a new local store is created beside its path and renamed
into place, so a run killed meanwhile leaves nothing half-made (a store elsewhere, a URL
or zarr store object, is created in place: :mod:`.location`).

>>> plan = make_plan(model, {"sample_size": [200, 400]}, path=Path("s.zarr"),
...                  simulations=None, seed=None, chunk_size=None, resume=False,
...                  overwrite=False, scenario_text="", target_power=None)  # doctest: +SKIP
>>> plan.chunk_size  # doctest: +SKIP
120
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import engine
from ..design.spec import SimulationSpec
from ..params import PARAMS, draw_seed
from ..results.schema import provenance
from ..results.tally import components
from . import preflight, store
from .grid import Grid, normalise_axis
from .location import StoreLocation, local_path

TARGET_TASK_SECONDS = 1.0  # engine work per task: large enough that Dask overhead is small
PROBE_SECONDS = 0.2  # calibration stops once a probe chunk takes this long
DEFAULT_TARGET_POWER = 0.8

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


@dataclass(frozen=True)
class Plan:
    """Everything a run needs, resolved and validated before any work starts."""

    grid: Grid
    seed: int
    simulations: int
    chunk_size: int
    path: Path | StoreLocation  # a local store's Path, else the URL or zarr store
    attrs: dict[str, Any]
    calibrated: bool = False  # chunk_size was measured for this run, not given
    # Simulations of the costliest point making one task's work (calibrate_task_sims;
    # None: chunk_size): a task packs chunks up to that cost.
    task_sims: int | None = None
    # The store is still to be made by create_planned_store (make_plan(create=False));
    # replace: an existing store at path is to be replaced.
    to_create: bool = False
    replace: bool = False


def base_spec(
    model_or_spec: Any, axes: Mapping[str, Sequence[Any]], sample_size: int | None = None
) -> SimulationSpec:
    """The spec a grid starts from.

    With a ``sample_size`` axis, a model gives its spec at the largest swept size it
    accepts (estimator and df method at their first swept value, or the defaults).
    Without one the base point's N is ``sample_size``, else the model's own
    (``model.sample_size``: the N of its last ``find_power``); a spec is its own base.
    Each point then sets its own values.

    >>> base_spec(model, {"sample_size": [200, 400]}).sample_size  # doctest: +SKIP
    400
    >>> base_spec(model, {"n_clusters": [15, 30]}, sample_size=600).sample_size  # doctest: +SKIP
    600
    """
    is_spec = isinstance(model_or_spec, SimulationSpec)
    if not is_spec and not hasattr(model_or_spec, "to_spec"):
        raise ValueError(
            f"sweep needs an MCPower model or a SimulationSpec, got {type(model_or_spec).__name__}"
        )
    if not isinstance(axes, Mapping):
        raise ValueError(f"grid must be a mapping {{parameter: values}}, got {type(axes).__name__}")
    if "sample_size" in axes:
        sizes = normalise_axis("sample_size", axes["sample_size"])  # names a malformed axis
        if sample_size is not None:
            raise ValueError(
                f"sample_size={sample_size!r} and the grid's 'sample_size' axis exclude each "
                "other: give the sample size in one place"
            )
    elif sample_size is not None:
        sizes = (PARAMS["sample_size"].check(sample_size),)
    elif is_spec:
        sizes = ()
    elif getattr(model_or_spec, "sample_size", None) is not None:
        sizes = (model_or_spec.sample_size,)
    else:
        raise ValueError(
            "sweeping a model needs a sample size: add a 'sample_size' axis to the grid, "
            "pass sample_size=N, or call model.find_power(N) first"
        )

    if is_spec:
        model_or_spec.validate()
        if sample_size is None:
            return model_or_spec
        return model_or_spec.with_params(sample_size=int(sizes[0]))
    options = {}
    for name in ("estimator", "df_method"):
        values = axes.get(name)
        if values and not isinstance(values, (str, bytes)):
            options[name] = values[0]
    errors = []
    for n in sorted(sizes, reverse=True):
        try:
            return model_or_spec.to_spec(int(n), **options)
        except ValueError as err:
            errors.append(err)
    raise errors[0]  # no size fits the model: the error of the largest


def store_attrs(
    grid: Grid,
    *,
    seed: int,
    simulations: int,
    chunk_size: int,
    target_power: float,
    scenario_text: str,
    max_failed: float | None = None,
) -> dict[str, Any]:
    """The store's attrs: the one results provenance plus the sweep's grid and chunking.

    ``alpha``, ``df_method`` and ``estimator`` read ``"swept"`` when they are axes (their
    coordinate holds the values).  Keys are those of every store written before, so old
    stores still resume.
    """
    extra: dict[str, Any] = {
        "grid": json.dumps(grid.as_dict()),
        "chunk_size": chunk_size,
        "scenario": scenario_text or "",
    }
    if max_failed is not None:
        extra["max_failed"] = float(max_failed)
    return provenance(grid.base, seed=seed, simulations=simulations, target_power=target_power,
                      swept=grid.names, extra=extra)


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

    >>> identity_differences({"seed": 1}, {"seed": 2})
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

    :func:`calibrate_task_sims`, bounded by ``1 .. simulations``.

    >>> calibrate_chunk_size(spec, seed=1, simulations=1000)  # doctest: +SKIP
    180
    """
    return min(simulations, calibrate_task_sims(spec, seed, simulations, target_seconds,
                                                probe_seconds))


def calibrate_task_sims(
    spec: SimulationSpec,
    seed: int,
    simulations: int,
    target_seconds: float = TARGET_TASK_SECONDS,
    probe_seconds: float = PROBE_SECONDS,
) -> int:
    """Simulations of ``spec`` making about ``target_seconds`` of engine work (at least 1).

    Times probe chunks on this machine (one thread), growing them until one takes
    ``probe_seconds`` or runs all ``simulations``.  Unlike a chunk, a task may exceed
    ``simulations``: it runs chunks of several points (:class:`.tasks.TaskWindow`).

    >>> calibrate_task_sims(spec, seed=1, simulations=100)  # doctest: +SKIP
    640
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
    return max(1, round(target_seconds / max(per_sim, 1e-9)))


def most_expensive_point(grid: Grid) -> SimulationSpec:
    """The design point with the most observations (then clusters, random effects)."""
    largest = np.argwhere(grid.total_n == grid.total_n.max())  # specs of these alone
    return max(
        (grid.spec_at(tuple(int(i) for i in index)) for index in largest),
        key=lambda s: (s.total_n, s.effective_n_clusters, len(s.random_columns)),
    )


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


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def make_plan(
    model_or_spec: Any,
    grid: Mapping[str, Sequence[Any]] | Grid,
    *,
    path: Path | StoreLocation,
    simulations: int | None,
    seed: int | None,
    chunk_size: int | None,
    resume: bool,
    overwrite: bool,
    scenario_text: str,
    target_power: float | None,
    sample_size: int | None = None,
    create: bool = True,
) -> Plan:
    """Resolve every option, then check the store at ``path`` (resume) or create it.

    Options left ``None`` come from the model, then (resuming) from the store; a seed
    is drawn when none is found anywhere.  With ``create=False`` a new store is left to
    :func:`create_planned_store` (``plan.to_create``), e.g. while a cluster starts.
    Called with the store's lock held.
    """
    if resume and overwrite:
        raise ValueError("resume=True and overwrite=True exclude each other: choose one")
    if isinstance(grid, Grid):
        if sample_size is not None:
            raise ValueError("sample_size= applies to a grid given as a mapping, not a Grid: "
                             "build the Grid on a spec with that sample size")
    else:
        grid = Grid(base_spec(model_or_spec, grid, sample_size), grid)
    existing = preflight.check_existing(path, resume=resume, overwrite=overwrite)
    resuming = existing and resume
    if resuming:
        store.check_resumable(path)  # an earlier layout: refused, before any work
    stored = store.read_attrs(path) if resuming else {}

    simulations = _first(simulations, _model_value(model_or_spec, "simulations"),
                         stored.get("simulations"))
    if simulations is None:
        raise ValueError("simulations is required when sweeping a SimulationSpec")
    simulations = int(PARAMS["simulations"].check(simulations))
    seed = _first(seed, _model_value(model_or_spec, "seed"), stored.get("seed"))
    seed = int(PARAMS["seed"].check(draw_seed() if seed is None else seed))

    local = local_path(path)
    if not resuming and local is not None:  # room for the store before any simulation
        preflight.check_space(local, preflight.estimate_store(
            grid.shape, len(grid.base.tests), n_components=len(components(grid.base)[0])))
    calibrated = False
    task_sims = None
    if chunk_size is not None:
        chunk_size = min(int(PARAMS["chunk_size"].check(chunk_size)), simulations)
    elif "chunk_size" in stored:
        chunk_size = int(stored["chunk_size"])
    else:
        task_sims = calibrate_task_sims(most_expensive_point(grid), seed, simulations)
        chunk_size = min(task_sims, simulations)
        calibrated = True

    target_power = _first(target_power, _model_value(model_or_spec, "target_power"),
                          DEFAULT_TARGET_POWER)
    attrs = store_attrs(
        grid,
        seed=seed,
        simulations=simulations,
        chunk_size=chunk_size,
        target_power=float(PARAMS["target_power"].check(target_power)),
        scenario_text=scenario_text,
        max_failed=_model_value(model_or_spec, "max_failed"),
    )
    if resuming:
        diffs = identity_differences(stored, attrs)
        if diffs:
            raise preflight.StoreMismatchError(path, diffs)
        attrs = dict(stored)
    plan = Plan(grid, seed, simulations, chunk_size, path, attrs, calibrated, task_sims,
                to_create=not resuming, replace=existing and not resuming)
    if create and plan.to_create:
        create_planned_store(plan)
    return plan


def create_planned_store(plan: Plan) -> None:
    """Create the new (or replacing) store of a plan made with ``create=False``.

    A local store is made beside its path and renamed into place; a store elsewhere is
    created in place (:mod:`.location`).  Called with the store's lock held.
    """
    local = local_path(plan.path)
    if local is not None:
        _create_store_atomically(local, plan.grid, simulations=plan.simulations,
                                 chunk_size=plan.chunk_size, attrs=plan.attrs,
                                 replace=plan.replace)
    else:
        store.create_store(plan.path, plan.grid, simulations=plan.simulations,
                           chunk_size=plan.chunk_size, attrs=plan.attrs, overwrite=plan.replace)
