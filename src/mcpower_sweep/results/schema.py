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
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..params import param
from ..stats import wilson_interval
from . import tally

if TYPE_CHECKING:  # reading results needs neither the design code nor the engine
    from ..design.spec import SimulationSpec

TEST_DIM = tally.TEST_DIM

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
    # Several tests (results.tally): corrected per simulation over the family of tests.
    "n_significant_corrected": ("significant tests after correction", "simulations",
                                "successful fits whose test the correction rejected"),
    "power_corrected": ("power after correction", "1",
                        "n_significant_corrected / n_success"),
    "power_corrected_lower": ("power after correction, lower 95% bound", "1",
                              "lower bound of the 95% Wilson interval of power_corrected"),
    "power_corrected_upper": ("power after correction, upper 95% bound", "1",
                              "upper bound of the 95% Wilson interval of power_corrected"),
    "n_at_least": ("fits with at least k significant tests", "simulations",
                   "successful fits where at least k of the family's tests were significant"),
    "power_at_least": ("power of at least k significant tests", "1",
                       "n_at_least / n_success"),
    "power_at_least_lower": ("power of at least k tests, lower 95% bound", "1",
                             "lower bound of the 95% Wilson interval of power_at_least"),
    "power_at_least_upper": ("power of at least k tests, upper 95% bound", "1",
                             "upper bound of the 95% Wilson interval of power_at_least"),
    "power_all": ("power of all tests significant", "1",
                  "share of successful fits where every test of the family was significant"),
    # Estimate summaries (results.tally; docs/estimates.md), over successful fits.
    "mean_estimate": ("mean estimate", "outcome SD", "sum of the estimates / n_success"),
    "bias": ("bias of the estimate", "outcome SD",
             "mean of (estimate - true effect)"),
    "sd_estimate": ("standard deviation of the estimate", "outcome SD",
                    "sample SD of the estimates over successful fits"),
    "rmse": ("root mean squared error of the estimate", "outcome SD",
             "sqrt(mean of (estimate - true effect)^2)"),
    "mean_se": ("mean standard error", "outcome SD", "mean of the estimated standard errors"),
    "mean_half_width": ("mean half-width of the interval", "outcome SD",
                        "mean of t(1 - alpha/2, df) * SE: the precision of the estimate"),
    "mean_df": ("mean degrees of freedom", "1",
                "mean df of the Wald t test over fits with finite df (NaN for z)"),
    "n_covered": ("intervals covering the true effect", "simulations",
                  "successful fits whose 1 - alpha interval contains the true effect"),
    "coverage": ("coverage of the interval", "1", "n_covered / n_success"),
    "coverage_lower": ("coverage, lower 95% bound", "1",
                       "lower bound of the 95% Wilson interval of coverage"),
    "coverage_upper": ("coverage, upper 95% bound", "1",
                       "upper bound of the 95% Wilson interval of coverage"),
    "n_out_of_range": ("fits with a value out of range", "simulations",
                       "successful fits left out of the estimate sums (value beyond the "
                       "fixed-point range or not finite); sum-based summaries are then NaN"),
    # Variance components (results.tally.components; docs/estimates.md): variances in
    # outcome-SD^2 units (the residual variance is 1; a GLMM's on the link scale),
    # correlations unitless.
    "mean_component": ("mean variance-component estimate", "outcome SD^2 or 1 (correlations)",
                       "mean of the estimated variance or correlation over fits that define it"),
    "bias_component": ("bias of the variance-component estimate",
                       "outcome SD^2 or 1 (correlations)", "mean of (estimate - true value)"),
    "sd_component": ("standard deviation of the variance-component estimate",
                     "outcome SD^2 or 1 (correlations)",
                     "sample SD of the estimated variance or correlation"),
    "rmse_component": ("root mean squared error of the variance-component estimate",
                       "outcome SD^2 or 1 (correlations)",
                       "sqrt(mean of (estimate - true value)^2)"),
    "n_component": ("fits summed per variance component", "simulations",
                    "successful fits whose component is defined and in range"),
    "n_component_undefined": ("fits with an undefined correlation", "simulations",
                              "successful fits with a variance estimated at 0, so the "
                              "correlation is undefined (NaN in lme4's VarCorr); left out"),
    "required_n": ("required sample size", "observations",
                   "where power reaches the target: from a grid's counts only (stores), the "
                   "isotonic fit of the power curve; from find_sample_size (per-simulation "
                   "outcomes or the adaptive search), the probit fit of power in log size "
                   "(crossing.required_n, crossing.probit_crossing; docs/sample-size.md)"),
    "required_n_lower": ("required sample size, lower 95% bound", "observations",
                         "counts only: where the upper Wilson bound of the power curve "
                         "reaches the target; find_sample_size: the probit fit's Fieller "
                         "interval"),
    "required_n_upper": ("required sample size, upper 95% bound", "observations",
                         "counts only: where the lower Wilson bound of the power curve "
                         "reaches the target; find_sample_size: the probit fit's Fieller "
                         "interval (NaN: beyond the sizes tried)"),
    "required_units": ("required size in the searched unit", "the search_unit attribute",
                       "required_n / observations per unit: clusters (unit='clusters') or "
                       "observations per cluster (unit='cluster_size')"),
    "required_units_lower": ("required size in the searched unit, lower 95% bound",
                             "the search_unit attribute", "required_n_lower / per unit"),
    "required_units_upper": ("required size in the searched unit, upper 95% bound",
                             "the search_unit attribute", "required_n_upper / per unit"),
}
TEST_ATTRS = {"long_name": "tested fixed effect", "units": ""}
COORD_ATTRS = {
    TEST_DIM: TEST_ATTRS,
    tally.CORRECTION_DIM: {"long_name": "multiple-testing correction", "units": ""},
    tally.K_DIM: {"long_name": "number of significant tests (at least)", "units": "tests"},
    tally.COMPONENT_DIM: {"long_name": "variance component of the fitted model", "units": ""},
}


def variable_attrs(name: str) -> dict[str, str]:
    """CF attributes (``long_name``, ``units``) and a ``description`` of a results variable."""
    long_name, units, description = VARIABLES[name]
    return {"long_name": long_name, "units": units, "description": description}


# The arithmetic is on xarray Variables (dims, no coordinates): no alignment per operation,
# so summarising a large store stays fast; the Dataset is assembled once at the end.
def _ratio(num: xr.Variable, den: xr.Variable) -> xr.Variable:
    return (num / den.where(den > 0)).astype(np.float64)


def _wilson(k: xr.Variable, n: xr.Variable) -> tuple[xr.Variable, xr.Variable]:
    return xr.apply_ufunc(wilson_interval, k, n, output_core_dims=[[], []])


def _share(name: str, k: xr.Variable, n: xr.Variable) -> dict[str, xr.Variable]:
    """``{name: k / n, name_lower, name_upper}`` (95% Wilson)."""
    lower, upper = _wilson(k, n)
    return {name: _ratio(k, n), f"{name}_lower": lower, f"{name}_upper": upper}


def _tallies(counts: Mapping[str, xr.Variable], n_success: xr.Variable
             ) -> dict[str, xr.Variable]:
    """Corrected power, power of at least k tests and estimate summaries (when counted)."""
    data: dict[str, xr.Variable] = {}
    if "n_significant_corrected" in counts:
        corrected = counts["n_significant_corrected"].astype(np.int64)
        at_least = counts["n_at_least"].astype(np.int64)
        data["n_significant_corrected"] = corrected
        data.update(_share("power_corrected", corrected, n_success))
        data["n_at_least"] = at_least
        data.update(_share("power_at_least", at_least, n_success))
        m = at_least.sizes[tally.K_DIM]
        data["power_all"] = (data["power_at_least"].isel({tally.K_DIM: m - 1}) if m else
                             _ratio(at_least.sum(tally.K_DIM), n_success) * np.nan)
    if "vc_sum" in counts:
        data.update(_components(counts, n_success))
    if "sum_estimate" not in counts:
        return data

    def mean(name: str, n: xr.Variable) -> xr.Variable:
        total = counts[name].astype(np.float64) * 2.0 ** -tally.SUM_BITS[name]
        return _ratio(total, n)

    # Fits out of range are not in the sums: their summaries would be wrong, so NaN.
    in_range = counts["n_out_of_range"] == 0
    n = n_success.where(in_range)
    bias = mean("sum_error", n)
    mse = mean("sum_sq_error", n)
    covered = counts["n_covered"].astype(np.int64)
    data.update({
        "mean_estimate": mean("sum_estimate", n),
        "bias": bias,
        "sd_estimate": np.sqrt((mse - bias**2).clip(min=0) * _ratio(n, n - 1)),
        "rmse": np.sqrt(mse),
        "mean_se": mean("sum_se", n),
        "mean_half_width": mean("sum_half_width", n),
        "mean_df": mean("sum_df", counts["n_df"].where(in_range)),
        "n_covered": covered,
        # Every fit counts, but a test with no fit in range (a joint F test) has none.
        **_share("coverage", covered,
                 n_success.where(counts["n_out_of_range"] < n_success, 0)),
        "n_out_of_range": counts["n_out_of_range"].astype(np.int64),
    })
    return data


def _components(counts: Mapping[str, xr.Variable], n_success: xr.Variable
                ) -> dict[str, xr.Variable]:
    """Mean, bias, SD and RMSE of each variance component (``vc_*`` sums of the tallies)."""
    n_used = counts["vc_n"].astype(np.int64)
    undefined = counts["vc_n_undefined"].astype(np.int64)
    # A fit neither summed nor undefined was out of range: the sums would mislead, so NaN.
    n = n_used.where(n_success - n_used - undefined == 0)

    def mean(name: str) -> xr.Variable:
        return _ratio(counts[name].astype(np.float64) * 2.0 ** -tally.COMPONENT_BITS, n)

    bias = mean("vc_sum_error")
    mse = mean("vc_sum_sq_error")
    return {
        "mean_component": mean("vc_sum"),
        "bias_component": bias,
        "sd_component": np.sqrt((mse - bias**2).clip(min=0) * _ratio(n, n - 1)),
        "rmse_component": np.sqrt(mse),
        "n_component": n_used,
        "n_component_undefined": undefined,
    }


def summarise(counts: xr.Dataset) -> xr.Dataset:
    """Power, its 95% Wilson interval and the failure and singular rates, from counts.

    Parameters
    ----------
    counts
        A Dataset with integer ``n_sims``, ``n_success``, ``n_singular`` and
        ``n_significant`` (the latter over ``test``), over any other dims, optionally a
        boolean ``complete`` and the tallies of :mod:`mcpower_sweep.results.tally`
        (``n_significant_corrected`` and ``n_at_least``; the estimate sums).

    Returns
    -------
    xarray.Dataset
        The counts, ``n_failed``, ``power``, ``power_lower``, ``power_upper``,
        ``failure_rate``, ``singular_rate`` (and ``complete``); from the tallies
        ``power_corrected``, ``power_at_least``, ``power_all`` (each share with its Wilson
        bounds) and ``mean_estimate``, ``bias``, ``sd_estimate``, ``rmse``, ``mean_se``,
        ``mean_half_width``, ``mean_df``, ``coverage`` and, per variance ``component``,
        ``mean_component``, ``bias_component``, ``sd_component``, ``rmse_component``
        (docs/estimates.md); each with its
        attrs; coordinates named after parameters get theirs from
        :mod:`mcpower_sweep.params`.
    """
    raw = {name: var.variable for name, var in counts.data_vars.items()}
    n_sims = raw["n_sims"].astype(np.int64)
    n_success = raw["n_success"].astype(np.int64)
    n_singular = raw["n_singular"].astype(np.int64)
    n_significant = raw["n_significant"].astype(np.int64)
    lower, upper = _wilson(n_significant, n_success)
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
        **_tallies(raw, n_success),
    }
    if "complete" in raw:
        data["complete"] = raw["complete"].astype(bool)
    out = xr.Dataset({name: xr.Variable(value.dims, value.data, variable_attrs(name))
                      for name, value in data.items()},
                     coords=counts.coords, attrs=dict(counts.attrs))
    return describe_coords(out)


def describe_coords(ds: xr.Dataset) -> xr.Dataset:
    """Attach ``long_name`` / ``units`` to coordinates named after parameters (and ``test``)."""
    for name in ds.coords:
        if name in COORD_ATTRS:
            ds[name].attrs.update(COORD_ATTRS[name])
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
