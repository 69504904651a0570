"""What ``mcpower-sweep run`` prints after a sweep: the right tables for the store's axes."""

from __future__ import annotations

import xarray as xr

from .axes import SIZE_AXIS, axes_of, pick_test
from .power import power_tables
from .required_n import required_n_table
from .tutorial import failure_note, has_tutorial_axes, tutorial_tables


def summary_tables(ds: xr.Dataset, *, ci: bool = True, test: str | None = None) -> str:
    """The tutorial tables when the store has their axes, else a power table per
    combination of the other axes (and the required N when sample_size is swept).

    Intervals are shown unless ``ci=False``; a ceiling, where one is shown, is explained.

    Examples
    --------
    >>> print(summary_tables(open_results("results/tiny.zarr")))  # doctest: +SKIP
    """
    test = pick_test(ds, test)
    if has_tutorial_axes(ds):
        try:
            return tutorial_tables(ds, ci=ci, test=test)
        except ValueError:
            pass  # the tutorial's own design points are not all in the grid
    out = [power_tables(ds, ci=ci, test=test)]
    axes = axes_of(ds)
    if SIZE_AXIS in axes and len(axes) <= 3:
        out.append("### Required sample size\n\n" + required_n_table(ds, test=test))
    note = failure_note(ds)
    if note:
        out.append(note)
    return "\n\n".join(out)
