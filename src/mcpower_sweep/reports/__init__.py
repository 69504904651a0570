"""Reports from a sweep's results Dataset: tables, required N, recommendations, plots.

Everything here reads results, nothing is simulated; all but :mod:`.status` are pure
functions of the Dataset that :func:`mcpower_sweep.open_results` returns.

* :mod:`.axes` — listing, selecting and labelling the swept axes;
* :mod:`.power` — power over any two axes (markdown or CSV, Wilson intervals);
* :mod:`.corrections` — power after a multiple-testing correction, and of k tests at once;
* :mod:`.ceiling` — the power ceiling as N → ∞ at a fixed number of clusters;
* :mod:`.required_n` — the required sample size at every design point;
* :mod:`.tutorial` — the random-slopes tutorial's tables and recommendation;
* :mod:`.summary` — what ``mcpower-sweep run`` prints;
* :mod:`.status` — what a store holds and what a run did (``info``, the run's last line);
* :mod:`.render` — percentages, sizes and markdown;
* :mod:`.plots` — figures (import it explicitly: it loads matplotlib).

The names below are imported on first use, so that :mod:`.status` (``mcpower-sweep
info``) loads without xarray.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names and the module that defines each.
_EXPORTS = {
    **dict.fromkeys(("SIZE_AXIS", "axes_of", "format_value", "label_of", "parse_at",
                     "pick_test", "point_params", "select"), "axes"),
    **dict.fromkeys(("CEILING_NOTE", "min_clusters_for", "power_ceiling"), "ceiling"),
    **dict.fromkeys(("corrected", "joint_labels"), "corrections"),
    **dict.fromkeys(("power_frame", "power_table", "power_tables"), "power"),
    **dict.fromkeys(("format_n", "markdown", "pct"), "render"),
    **dict.fromkeys(("required_n_table", "required_sample_size"), "required_n"),
    "summary_tables": "summary",
    **dict.fromkeys(("cluster_table", "failure_note", "has_tutorial_axes", "recommendation",
                     "slope_variance_table", "tutorial_tables"), "tutorial"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
