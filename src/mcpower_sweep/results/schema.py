"""The one results schema: variables, their CF attributes, and provenance.

``find_power(...).to_xarray()``, ``find_sample_size(...).to_xarray()`` and every sweep
store give the same variables with the same ``long_name`` / ``units`` (so
``ds.power.plot()`` labels itself) and the same provenance attributes.  Counts are the
source of truth; :func:`summarise` derives power, its Wilson interval and the rates
from them, wherever the counts came from.

Examples
--------
>>> import xarray as xr
>>> counts = xr.Dataset({"n_sims": 100, "n_success": 100, "n_singular": 3,
...                      "n_significant": ("test", [80])}, coords={"test": ["x"]})
>>> ds = summarise(counts)
>>> float(ds.power.sel(test="x")), ds.power.attrs["long_name"]
(0.8, 'power')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..design.spec import SimulationSpec
from ..params import param
from ..stats import wilson_interval

TEST_DIM = "test"

# name -> (long_name, units, description)
VARIABLES: dict[str, tuple[str, str, str]] = {
    "n_sims": ("simulations run", "simulations", "simulated studies run at the design point"),
    "n_success": ("successful fits", "simulations", "simulations whose fit succeeded"),
    "n_failed": ("failed fits", "simulations",
                 "simulations whose fit failed (not counted in power)"),
    "n_singular": ("singular fits", "simulations",
                   "successful fits with a variance component at its boundary"),
    "n_significant": ("significant tests", "simulations",
                      "successful fits whose test was significant at alpha"),
    "power": ("power", "1", "estimated power: n_significant / n_success"),
    "power_lower": ("power, lower 95% bound", "1",
                    "lower bound of the 95% Wilson interval of power"),
    "power_upper": ("power, upper 95% bound", "1",
                    "upper bound of the 95% Wilson interval of power"),
    "failure_rate": ("share of failed fits", "1", "n_failed / n_sims"),
    "singular_rate": ("share of singular fits", "1", "n_singular / n_success"),
    "complete": ("design point complete", "", "every simulation of the design point is done"),
    "required_n": ("required sample size", "observations",
                   "where the isotonic fit of the power curve reaches the target power"),
    "required_n_lower": ("required sample size, lower 95% bound", "observations",
                         "where the upper Wilson bound of the power curve reaches the target"),
    "required_n_upper": ("required sample size, upper 95% bound", "observations",
                         "where the lower Wilson bound of the power curve reaches the target "
                         "(NaN: beyond the sizes tried)"),
}
TEST_ATTRS = {"long_name": "tested fixed effect", "units": ""}


def variable_attrs(name: str) -> dict[str, str]:
    """CF attributes (``long_name``, ``units``) and a ``description`` of a results variable."""
    long_name, units, description = VARIABLES[name]
    return {"long_name": long_name, "units": units, "description": description}


def _ratio(num: xr.DataArray, den: xr.DataArray) -> xr.DataArray:
    return (num / den.where(den > 0)).astype(np.float64)


def summarise(counts: xr.Dataset) -> xr.Dataset:
    """Power, its 95% Wilson interval and the failure and singular rates, from counts.

    Parameters
    ----------
    counts
        A Dataset with integer ``n_sims``, ``n_success``, ``n_singular`` and
        ``n_significant`` (the latter over ``test``), over any other dims, and optionally
        a boolean ``complete``.

    Returns
    -------
    xarray.Dataset
        The counts, ``n_failed``, ``power``, ``power_lower``, ``power_upper``,
        ``failure_rate``, ``singular_rate`` (and ``complete``), each with its attrs;
        coordinates named after parameters get theirs from :mod:`mcpower_sweep.params`.
    """
    n_sims = counts["n_sims"].astype(np.int64)
    n_success = counts["n_success"].astype(np.int64)
    n_singular = counts["n_singular"].astype(np.int64)
    n_significant = counts["n_significant"].astype(np.int64)
    lower, upper = xr.apply_ufunc(wilson_interval, n_significant,
                                  n_success.broadcast_like(n_significant),
                                  output_core_dims=[[], []])
    data = {
        "n_sims": n_sims,
        "n_success": n_success,
        "n_failed": n_sims - n_success,
        "n_singular": n_singular,
        "n_significant": n_significant,
        "power": _ratio(n_significant, n_success),
        "power_lower": lower,
        "power_upper": upper,
        "failure_rate": _ratio(n_sims - n_success, n_sims),
        "singular_rate": _ratio(n_singular, n_success),
    }
    if "complete" in counts:
        data["complete"] = counts["complete"].astype(bool)
    out = xr.Dataset(coords=counts.coords, attrs=dict(counts.attrs))
    for name, value in data.items():
        out[name] = value.variable
        out[name].attrs = variable_attrs(name)
    return describe_coords(out)


def describe_coords(ds: xr.Dataset) -> xr.Dataset:
    """Attach ``long_name`` / ``units`` to coordinates named after parameters (and ``test``)."""
    for name in ds.coords:
        if name == TEST_DIM:
            ds[name].attrs.update(TEST_ATTRS)
            continue
        try:
            attrs = param(str(name)).attrs()
        except KeyError:
            continue
        ds[name].attrs.update({**attrs, "description": attrs["long_name"]})
    return ds


def spec_hash(spec: SimulationSpec) -> str:
    """A short hash of the design (same parameters and terms: same hash)."""
    text = json.dumps({"params": spec.params(), "terms": spec.term_names}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance(
    spec: SimulationSpec,
    *,
    seed: int,
    simulations: int,
    target_power: float,
    swept: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The attributes every result carries: versions, design, seed, test and sizes.

    Parameters
    ----------
    spec
        The design (for a sweep, its base point).
    seed, simulations, target_power
        How the run was made.
    swept
        Parameters that a sweep varies: ``alpha``, ``df_method`` and ``estimator`` then
        read ``"swept"`` (their coordinate holds the values).
    extra
        Further attributes (a sweep's grid, chunk size, scenario text, ...).

    Examples
    --------
    >>> attrs = provenance(spec, seed=1, simulations=100, target_power=0.8)  # doctest: +SKIP
    >>> attrs["df_method"]  # doctest: +SKIP
    'satterthwaite'
    """
    from .. import __version__
    from ..engine import ENGINE_VERSION

    swept = set(swept)

    def value(name: str) -> Any:
        return "swept" if name in swept else getattr(spec, name)

    return {
        "title": "mcpower_sweep power analysis results",
        "package_version": __version__,
        "engine_version": str(ENGINE_VERSION),
        "formula": spec.formula,
        "base_params": json.dumps(spec.params()),
        "seed": int(seed),
        "simulations": int(simulations),
        "alpha": value("alpha"),
        "df_method": value("df_method"),
        "estimator": value("estimator"),
        "target_power": float(target_power),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "spec_hash": spec_hash(spec),
        **(extra or {}),
    }
