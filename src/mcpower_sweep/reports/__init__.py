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
"""

from __future__ import annotations

from .axes import (
    SIZE_AXIS,
    axes_of,
    format_value,
    label_of,
    parse_at,
    pick_test,
    point_params,
    select,
)
from .ceiling import CEILING_NOTE, min_clusters_for, power_ceiling
from .corrections import corrected, joint_labels
from .power import power_frame, power_table, power_tables
from .render import format_n, markdown, pct
from .required_n import required_n_table, required_sample_size
from .summary import summary_tables
from .tutorial import (
    cluster_table,
    failure_note,
    has_tutorial_axes,
    recommendation,
    slope_variance_table,
    tutorial_tables,
)

__all__ = [
    "CEILING_NOTE",
    "SIZE_AXIS",
    "axes_of",
    "cluster_table",
    "corrected",
    "failure_note",
    "format_n",
    "format_value",
    "has_tutorial_axes",
    "joint_labels",
    "label_of",
    "markdown",
    "min_clusters_for",
    "parse_at",
    "pct",
    "pick_test",
    "point_params",
    "power_ceiling",
    "power_frame",
    "power_table",
    "power_tables",
    "recommendation",
    "required_n_table",
    "required_sample_size",
    "select",
    "slope_variance_table",
    "summary_tables",
    "tutorial_tables",
]
