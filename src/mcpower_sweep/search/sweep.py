"""Sweeps of searches: the required size or the MDE at every point of other axes.

:func:`search_sweep` runs the adaptive size search of ``find_sample_size`` (no ``by=``),
:func:`effect_sweep` that of ``find_effect_size``, once per point of a grid over other
parameters (``slope_variance``, ``icc``, ``effect_<term>``, ...), each point one Dask task
that runs the whole search, and returns the answers as an :class:`xarray.Dataset` over
those axes (optionally written to zarr).

Reproducible: the search at point ``index`` has the master seed :func:`point_seed`
``(seed, index)`` and is deterministic given it (:mod:`mcpower_sweep.search.adaptive`),
so the Dataset is the same whatever the workers, their number or the order tasks run in,
and one point equals ``find_sample_size`` (``find_effect_size``) of the model set to that
point with that seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..api import parse
from ..design.spec import SimulationSpec
from ..params import PARAMS, check_correction, effect_param
from ..results.schema import provenance, variable_attrs
from ..sweeps.grid import Grid, axis_attrs
from ..sweeps.store import ZARR_FORMAT
from .questions import check_search, effect_search, size_search
from .result import SearchResult

if TYPE_CHECKING:
    from collections.abc import Callable

    import xarray as xr

    from ..api.model import MCPower

__all__ = ["effect_sweep", "point_seed", "search_sweep"]

STATUSES = ("reached", "below range", "not reached", "undecided")
# The searched size cannot also be an axis: it is what each point's search varies.
SIZE_AXES = {"observations": ("sample_size",), "clusters": ("sample_size", "n_clusters"),
             "cluster_size": ("sample_size", "cluster_size")}


def point_seed(seed: int, index: tuple[int, ...]) -> int:
    """The master seed of the search at grid point ``index`` (a 64-bit hash, SeedSequence).

    >>> point_seed(7, (0, 1)) == point_seed(7, (0, 1)) != point_seed(7, (1, 0))
    True
    """
    state = np.random.SeedSequence([int(seed), *map(int, index)]).generate_state(1, np.uint64)
    return int(state[0])


def _per_unit(spec: SimulationSpec, unit: str, where: str) -> int:
    """Observations per unit of the searched size at one point (the point fixes the rest)."""
    if unit == "observations":
        return 1
    fixed = spec.cluster_size if unit == "clusters" else spec.n_clusters
    if not fixed:
        other = "cluster_size" if unit == "clusters" else "n_clusters"
        raise ValueError(f"unit={unit!r} at {where}: the design must fix {other} (set_cluster("
                         f"..., {other}=...) or an axis {other!r}) while the search varies "
                         "the other")
    return int(fixed)


def _simulator(*, targets: tuple[str, ...], target: float, n_threads: int, max_failed: float,
               correction: str) -> Callable[[SimulationSpec, int, int], Any]:
    """How a search simulates a design: ``find_power``'s counts of ``sims`` simulations."""
    from ..api.run import power_at

    def simulate(spec: SimulationSpec, s: int, sims: int) -> Any:
        return power_at(spec, seed=s, seed_drawn=False, simulations=sims, n_threads=n_threads,
                        target_power=target, targets=targets, max_failed=max_failed,
                        correction=correction)
    return simulate


def _answer(found: SearchResult, value: float | None, ci: tuple[Any, Any]
            ) -> tuple[float, float, float, str, int]:
    """The point's answer, its bounds (NaN: none), the status and the simulations used.
    Bounds only of a crossing inside the range: beyond it the probit's extrapolation (to
    N = 1e9 under a ceiling) means nothing, and the status says where the answer lies."""
    lo, hi = ci if found.status == "reached" else (None, None)
    return (*(np.nan if v is None else float(v) for v in (value, lo, hi)),  # type: ignore[return-value]
            found.status, found.n_simulations)


UNIT_NAMES = {"clusters": "clusters", "cluster_size": "observations per cluster"}


def _size_point(point: SimulationSpec, seed: int, per_unit: int, *, test: str, low: int,
                high: int, precision: float | int, max_simulations: int, unit: str,
                **run: Any) -> tuple[float, float, float, str, int]:
    """One whole size search at one point (a Dask task)."""
    found = size_search(lambda n: point.with_params(sample_size=n * per_unit),
                        _simulator(**run), test=test, low=low, high=high,
                        target=run["target"], precision=precision,
                        max_simulations=max_simulations, seed=seed, seed_drawn=False,
                        unit=unit, per_unit=per_unit)
    return _answer(found, found.required_n[test], found.required_n_ci[test])


def _effect_point(point: SimulationSpec, seed: int, *, test: str, low: float, high: float,
                  precision: float | int, max_simulations: int,
                  **run: Any) -> tuple[float, float, float, str, int]:
    """One whole effect search at one point (a Dask task)."""
    found = effect_search(point, _simulator(**run), effect=test, low=low, high=high,
                          target=run["target"], precision=precision,
                          max_simulations=max_simulations, seed=seed, seed_drawn=False)
    return _answer(found, found.mde[test], found.mde_ci[test])


def _sweep(task: Callable[..., tuple], jobs: list[tuple], common: dict[str, Any],
           client: Any) -> list[tuple]:
    """Every point's answer, in grid order: one task per point, or here in order."""
    if client is None:
        return [task(*job, **common) for job in jobs]
    return client.gather([client.submit(task, *job, pure=False, **common) for job in jobs])


def _dataset(grid: Grid, answers: list[tuple], names: dict[str, dict[str, str]], *,
             seed: int, target: float, extra: dict[str, Any], store: str | None
             ) -> xr.Dataset:
    """The answers over the grid's axes, with CF attributes and provenance (and zarr)."""
    import xarray as xr

    dims = grid.names
    coords = {name: (name, np.asarray(values), axis_attrs(name)) for name, values in grid.axes}

    def field(i: int, dtype: Any) -> np.ndarray:
        return np.array([a[i] for a in answers], dtype=dtype).reshape(grid.shape)

    # The answer and its bounds at 0..2, the status, the simulations, then any more floats.
    positions = [0, 1, 2, *range(5, 5 + len(names) - 3)]
    variables = {name: (dims, field(i, float), attrs) for i, (name, attrs)
                 in zip(positions, names.items(), strict=True)}
    variables["status"] = (dims, field(3, str), {
        "long_name": "outcome of the search", "units": "",
        "description": "; ".join(STATUSES) + " (the budget ran out before a fit)"})
    n_sims = field(4, np.int64)
    variables["n_simulations"] = (dims, n_sims, {
        "long_name": "simulations used by the search", "units": "simulations"})
    ds = xr.Dataset(variables, coords=coords, attrs=provenance(
        grid.base, seed=seed, simulations=int(n_sims.sum()), target_power=target,
        extra=extra))
    if store is not None:  # as the sweeps' stores: zarr 3, variable-length strings
        ds.assign(status=ds.status.astype(object)).to_zarr(
            store, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False)
    return ds


def _run_options(model: MCPower, targets: tuple[str, ...], correction: str | None
                 ) -> dict[str, Any]:
    return dict(targets=targets, target=model._target_power, n_threads=model.n_threads,
                max_failed=model._max_failed, correction=check_correction(correction))


def search_sweep(model: MCPower, over: Mapping[str, Sequence[Any]], from_size: int,
                 to_size: int, target_test: str = "all", *, unit: str = "observations",
                 correction: str | None = None, precision: float | int = 0.05,
                 max_simulations: int = 20_000, client: Any = None,
                 store: str | None = None, estimator: str | None = None,
                 df_method: str | None = None, scenario_text: str | None = None
                 ) -> xr.Dataset:
    """The required size, with its 95% interval, at every point of the axes ``over``.

    Parameters
    ----------
    model
        The configured :class:`~mcpower_sweep.MCPower`; its seed (``set_seed``; drawn when
        unset) is the sweep's master seed, its target power the target.
    over
        Axis name -> values, as a sweep's grid (``slope_variance``, ``icc``,
        ``effect_<term>``, ``n_clusters`` or ``cluster_size`` unless that is searched, ...).
    from_size, to_size, target_test, unit, correction, precision, max_simulations
        As in ``find_sample_size`` without ``by=``, for every point.
    client
        A ``distributed.Client``: one task per point; None runs the points here, in order.
    store
        A zarr path to write the Dataset to (``to_zarr``, mode ``"w-"``: never overwritten).
    estimator, df_method
        As in :meth:`MCPower.to_spec` (None: the model's defaults).
    scenario_text
        The scenario YAML that asked for the sweep, recorded as the ``scenario`` attribute.

    Returns
    -------
    xarray.Dataset
        Over the axes: ``required_n``, ``required_n_lower``, ``required_n_upper``
        (observations; NaN unless ``status`` is ``"reached"``, an upper bound also beyond
        ``to_size``), for ``unit="clusters"`` or ``"cluster_size"`` also
        ``required_units`` (and its bounds) in that unit, ``status`` and
        ``n_simulations``, with CF attributes and the provenance of the base design.

    Examples
    --------
    >>> ds = search_sweep(model, {"slope_variance": [0.05, 0.1]}, 10, 200,
    ...                   "treatment", unit="clusters", precision=0.1)  # doctest: +SKIP
    >>> ds.required_n.sel(slope_variance=0.1).item()  # doctest: +SKIP
    1240.0
    """
    unit = PARAMS["unit"].check(unit)
    clash = [a for a in over if a in SIZE_AXES[unit]]
    if clash:
        raise ValueError(f"over={{{clash[0]!r}: ...}}: with unit={unit!r} the search varies "
                         f"{clash[0]}; sweep other axes (or another unit)")
    low, high = (int(PARAMS["sample_size"].check(v, name)) for v, name in
                 ((from_size, "from_size"), (to_size, "to_size")))
    # The base's size only has to be valid: every search sets its own sizes.
    other = {"clusters": "cluster_size", "cluster_size": "n_clusters"}.get(unit)
    per = (1 if other is None else max(over[other]) if other in over
           else model._observations_per(unit))
    grid = Grid(model.to_spec(low * per, estimator=estimator, df_method=df_method), over)
    targets = parse.targets(target_test, grid.base.tests)
    precision, budget, test = check_search(precision, max_simulations, targets, grid.base.tests)
    seed, _ = model._seed_now()
    jobs = []
    for index, spec in grid.points():
        where = ", ".join(f"{k}={v!r}" for k, v in grid.values_at(index).items())
        jobs.append((spec, point_seed(seed, index), _per_unit(spec, unit, where)))
    run = _run_options(model, targets, correction)
    common = dict(test=test, low=low, high=high, precision=precision, max_simulations=budget,
                  unit=unit, **run)
    how = ("adaptive search per point (find_sample_size without by=): probit fit of power in "
           "log size")
    names = {name: {**variable_attrs(name), "description": how}
             for name in ("required_n", "required_n_lower", "required_n_upper")}
    answers = _sweep(_size_point, jobs, common, client)
    if unit != "observations":  # also in the searched unit (per point: its observations per unit)
        names.update({f"required_units{end}": {**variable_attrs(f"required_units{end}"),
                                               "units": UNIT_NAMES[unit], "description": how}
                      for end in ("", "_lower", "_upper")})
        answers = [(*a, *(v / job[2] for v in a[:3]))
                   for a, job in zip(answers, jobs, strict=True)]
    return _dataset(grid, answers, names, seed=seed,
                    target=run["target"], store=store, extra={
                        "search_test": test, "search_unit": unit, "search_from": low,
                        "search_to": high, "search_precision": precision,
                        "search_max_simulations": budget,
                        "search_correction": run["correction"],
                        **({"scenario": scenario_text} if scenario_text else {})})


def effect_sweep(model: MCPower, over: Mapping[str, Sequence[Any]], effect: str,
                 sample_size: int, from_effect: float = 0.05, to_effect: float = 1.0, *,
                 correction: str | None = None, precision: float | int = 0.05,
                 max_simulations: int = 20_000, client: Any = None,
                 store: str | None = None, estimator: str | None = None,
                 df_method: str | None = None, scenario_text: str | None = None
                 ) -> xr.Dataset:
    """The minimum detectable ``effect``, with its 95% interval, at every point of ``over``.

    As :func:`search_sweep`, with the arguments of ``find_effect_size`` (``sample_size``
    is the base design's N; ``sample_size`` may also be an axis; ``estimator``,
    ``df_method`` and ``scenario_text`` as there); the Dataset holds
    ``mde``, ``mde_lower``, ``mde_upper`` (the effect's units), ``status`` and
    ``n_simulations``.

    Examples
    --------
    >>> ds = effect_sweep(model, {"n_clusters": [20, 40]}, "treatment",
    ...                   sample_size=800, precision=0.1)  # doctest: +SKIP
    >>> ds.mde.sel(n_clusters=40).item()  # doctest: +SKIP
    0.31
    """
    grid = Grid(model.to_spec(int(PARAMS["sample_size"].check(sample_size, "sample_size")),
                              estimator=estimator, df_method=df_method), over)
    targets = parse.targets(effect, grid.base.tests)
    precision, budget, test = check_search(precision, max_simulations, targets, grid.base.tests)
    if test not in grid.base.term_names or f"effect_{test}" in over:
        raise ValueError(f"effect={effect!r}: name one fixed effect of "
                         f"{', '.join(grid.base.term_names[1:])} that is not an axis of over")
    low, high = (float(effect_param(test).check(v, name))
                 for v, name in ((from_effect, "from_effect"), (to_effect, "to_effect")))
    seed, _ = model._seed_now()
    run = _run_options(model, targets, correction)
    jobs = [(spec, point_seed(seed, index)) for index, spec in grid.points()]
    how = ("adaptive search per point (find_effect_size): probit fit of power in log effect")
    names = {name: {"long_name": long_name, "units": "outcome SD", "description": how}
             for name, long_name in (
                 ("mde", "minimum detectable effect"),
                 ("mde_lower", "minimum detectable effect, lower 95% bound"),
                 ("mde_upper", "minimum detectable effect, upper 95% bound"))}
    common = dict(test=test, low=low, high=high, precision=precision, max_simulations=budget,
                  **run)
    return _dataset(grid, _sweep(_effect_point, jobs, common, client), names, seed=seed,
                    target=run["target"], store=store, extra={
                        "search_effect": test, "search_from": low, "search_to": high,
                        "search_precision": precision, "search_max_simulations": budget,
                        "search_correction": run["correction"],
                        **({"scenario": scenario_text} if scenario_text else {})})
