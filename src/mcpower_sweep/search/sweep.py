"""Sweeps of searches: the required size at every point of other axes, one search per task.

:func:`search_sweep` runs the adaptive size search of ``find_sample_size`` (no ``by=``)
once per point of a grid over other parameters (``slope_variance``, ``icc``,
``effect_<term>``, ...), each point one Dask task that runs the whole search, and returns
the answers as an :class:`xarray.Dataset` over those axes (optionally written to zarr).

Reproducible: the search at point ``index`` has the master seed :func:`point_seed`
``(seed, index)`` and is deterministic given it (:mod:`mcpower_sweep.search.adaptive`),
so the Dataset is the same whatever the workers, their number or the order tasks run in,
and one point equals ``find_sample_size`` of the model set to that point with that seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..api import parse
from ..design.spec import SimulationSpec
from ..params import PARAMS, check_correction
from ..results.schema import provenance, variable_attrs
from ..sweeps.grid import Grid, axis_attrs
from ..sweeps.store import ZARR_FORMAT
from .questions import check_search, size_search

if TYPE_CHECKING:
    import xarray as xr

    from ..api.model import MCPower

__all__ = ["point_seed", "search_sweep"]

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


def _search_point(point: SimulationSpec, seed: int, *, per_unit: int, test: str,
                  targets: tuple[str, ...], low: int, high: int, target: float,
                  precision: float | int, max_simulations: int, unit: str, n_threads: int,
                  max_failed: float, correction: str) -> tuple[float, float, float, str, int]:
    """One whole search at one point (a Dask task): required N, its bounds (NaN: none),
    the status and the simulations used."""
    from ..api.run import power_at

    def simulate(spec: SimulationSpec, s: int, sims: int) -> Any:
        return power_at(spec, seed=s, seed_drawn=False, simulations=sims, n_threads=n_threads,
                        target_power=target, targets=targets, max_failed=max_failed,
                        correction=correction)

    found = size_search(lambda n: point.with_params(sample_size=n * per_unit), simulate,
                        test=test, low=low, high=high, target=target, precision=precision,
                        max_simulations=max_simulations, seed=seed, seed_drawn=False,
                        unit=unit, per_unit=per_unit)
    n = found.required_n[test]
    # Bounds only of a crossing inside the range: beyond it the probit's extrapolation (to
    # N = 1e9 under a ceiling) means nothing, and the status says where the answer lies.
    lo, hi = found.required_n_ci[test] if found.status == "reached" else (None, None)
    return (*(np.nan if v is None else float(v) for v in (n, lo, hi)),  # type: ignore[return-value]
            found.status, found.n_simulations)


def search_sweep(model: MCPower, over: Mapping[str, Sequence[Any]], from_size: int,
                 to_size: int, target_test: str = "all", *, unit: str = "observations",
                 correction: str | None = None, precision: float | int = 0.05,
                 max_simulations: int = 20_000, client: Any = None,
                 store: str | None = None) -> xr.Dataset:
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

    Returns
    -------
    xarray.Dataset
        Over the axes: ``required_n``, ``required_n_lower``, ``required_n_upper``
        (observations; NaN unless ``status`` is ``"reached"``; an upper bound NaN beyond
        ``to_size``), ``status`` and
        ``n_simulations``, with CF attributes and the provenance of the base design.

    Examples
    --------
    >>> ds = search_sweep(model, {"slope_variance": [0.05, 0.1]}, 10, 200,
    ...                   "treatment", unit="clusters", precision=0.1)  # doctest: +SKIP
    >>> ds.required_n.sel(slope_variance=0.1).item()  # doctest: +SKIP
    1240.0
    """
    import xarray as xr

    unit = PARAMS["unit"].check(unit)
    clash = [a for a in over if a in SIZE_AXES[unit]]
    if clash:
        raise ValueError(f"over={{{clash[0]!r}: ...}}: with unit={unit!r} the search varies "
                         f"{clash[0]}; sweep other axes (or another unit)")
    correction = check_correction(correction)
    low, high = (int(PARAMS["sample_size"].check(v, name)) for v, name in
                 ((from_size, "from_size"), (to_size, "to_size")))
    # The base's size only has to be valid: every search sets its own sizes.
    other = {"clusters": "cluster_size", "cluster_size": "n_clusters"}.get(unit)
    per = (1 if other is None else max(over[other]) if other in over
           else model._observations_per(unit))
    grid = Grid(model.to_spec(low * per), over)
    targets = parse.targets(target_test, grid.base.tests)
    precision, budget, test = check_search(precision, max_simulations, targets, grid.base.tests)
    seed, _ = model._seed_now()
    common = dict(test=test, targets=targets, low=low, high=high, target=model._target_power,
                  precision=precision, max_simulations=budget, unit=unit,
                  n_threads=model.n_threads, max_failed=model._max_failed,
                  correction=correction)
    jobs = []
    for index, spec in grid.points():
        where = ", ".join(f"{k}={v!r}" for k, v in grid.values_at(index).items())
        jobs.append((spec, point_seed(seed, index), _per_unit(spec, unit, where)))
    if client is None:
        answers = [_search_point(s, ps, per_unit=pu, **common) for s, ps, pu in jobs]
    else:
        futures = [client.submit(_search_point, s, ps, per_unit=pu, pure=False, **common)
                   for s, ps, pu in jobs]
        answers = client.gather(futures)
    dims = grid.names
    coords = {name: (name, np.asarray(values), axis_attrs(name)) for name, values in grid.axes}

    def field(i: int, dtype: Any) -> np.ndarray:
        return np.array([a[i] for a in answers], dtype=dtype).reshape(grid.shape)

    how = ("adaptive search per point (find_sample_size without by=): probit fit of power in "
           "log size")
    variables = {name: (dims, field(i, float), {**variable_attrs(name), "description": how})
                 for i, name in enumerate(("required_n", "required_n_lower",
                                           "required_n_upper"))}
    variables["status"] = (dims, field(3, str), {
        "long_name": "outcome of the search", "units": "",
        "description": "; ".join(STATUSES) + " (the budget ran out before a fit)"})
    variables["n_simulations"] = (dims, field(4, np.int64), {
        "long_name": "simulations used by the search", "units": "simulations"})
    ds = xr.Dataset(variables, coords=coords, attrs=provenance(
        grid.base, seed=seed, simulations=int(variables["n_simulations"][1].sum()),
        target_power=model._target_power,
        extra={"search_test": test, "search_unit": unit, "search_from": low,
               "search_to": high, "search_precision": precision,
               "search_max_simulations": budget, "search_correction": correction}))
    if store is not None:  # as the sweeps' stores: zarr 3, variable-length strings
        ds.assign(status=ds.status.astype(object)).to_zarr(
            store, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False)
    return ds
