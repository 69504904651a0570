"""Several tests in the tables: power after a correction, and the power of k tests at once.

:func:`corrected` turns a results Dataset into one whose ``power`` (with its bounds and
counts) is the power after a multiple-testing correction, with the family's joint
powers added as tests ``"at least k"`` and ``"all m"``; every table and plot of
:mod:`mcpower_sweep.reports` then shows them like any other test.

>>> print(power_tables(corrected(ds, "holm"), "n_clusters", "test"))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..params import check_correction
from ..results.tally import CORRECTION_DIM, K_DIM

POWER_VARS = ("power", "power_lower", "power_upper")


def joint_labels(m: int) -> list[str]:
    """The names of the joint tests of a family of ``m``.

    >>> joint_labels(3)
    ['at least 1', 'at least 2', 'all 3']
    """
    return [f"all {m}" if k == m else f"at least {k}" for k in range(1, m + 1)]


def corrected(ds: xr.Dataset, correction: str | None = "none") -> xr.Dataset:
    """The results with the power after ``correction`` and the joint powers as tests.

    Parameters
    ----------
    ds
        A results Dataset (a sweep's, or ``find_power(...).to_xarray()``).
    correction
        ``"none"`` (the tests as they are), ``"bonferroni"``, ``"holm"`` or ``"bh"``
        (MCPower 1.4.1's spellings accepted).

    Returns
    -------
    xarray.Dataset
        ``power``, ``power_lower``, ``power_upper`` and ``n_significant`` over ``test``:
        the tests after the correction, then ``"at least 1"`` ... ``"all m"`` (the power
        that at least k, or all, of the family's tests are significant); the attrs say
        which correction (``correction``).

    Raises
    ------
    ValueError
        For an unknown correction, or results without the corrected counts (a store
        written before they were kept).
    """
    name = check_correction(correction)
    if "power_corrected" not in ds:
        raise ValueError("these results have no corrected counts (a store written before "
                         "mcpower_sweep kept them): run the sweep again to get them")
    pick = {CORRECTION_DIM: name}
    m = ds.sizes[K_DIM]
    labels = joint_labels(m)
    out = ds.drop_vars([v for v in ds.data_vars if "test" in ds[v].dims or
                        CORRECTION_DIM in ds[v].dims or K_DIM in ds[v].dims])
    out = out.drop_dims([d for d in (CORRECTION_DIM, K_DIM) if d in out.dims])
    out = out.drop_vars("test")
    pairs = [("n_significant", "n_significant_corrected", "n_at_least"),
             *((v, v.replace("power", "power_corrected"), v.replace("power", "power_at_least"))
               for v in POWER_VARS)]
    for var, per_test, joint in pairs:
        tests = ds[per_test].sel(pick, drop=True)
        together = ds[joint].sel(pick, drop=True).rename({K_DIM: "test"})
        together = together.assign_coords(test=np.asarray(labels))
        out[var] = xr.concat([tests, together], dim="test")
        out[var].attrs = dict(ds[var].attrs)
    out["test"].attrs = dict(ds["test"].attrs)
    out.attrs = {**ds.attrs, "correction": name}
    return out
