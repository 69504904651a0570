"""The section of ``docs/calibration.md`` on designs with several grouping factors (used by
``docs/make_tables.py``), and the sections of a page kept when their store is absent.

Each design of the calibration is its own scenario (a formula and its sizes: a fully
crossed design's sizes are not a product grid), so the section gathers several stores
into one table: a row per design, size and tested effect, a column per df method.

Examples
--------
>>> units("calibration-groupings.yaml", 360)
'6 schools × 4 classes × 15 pupils'
>>> units("calibration-groupings-crossed10.yaml", 100)
'10 subjects × 10 items'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from mcpower_sweep import reports

TITLE = "Several grouping factors: nested and crossed, few top-level units"
# Each store of the section, in table order: its scenario and the design in words.
GROUPING_STORES: dict[str, str] = {
    "calibration-groupings.yaml": "nested, treatment of classes (2 of 4 in every school)",
    "calibration-groupings-school.yaml": "nested, treatment of schools (half of them)",
    "calibration-groupings-crossed10.yaml": "crossed, condition of items, by-subject slope",
    "calibration-groupings-crossed20.yaml": "crossed, condition of items, by-subject slope",
    "calibration-groupings-latin10.yaml": "crossed, condition in a Latin square, by-subject slope",
}
NOTE = (
    "Pupils in classes in schools, `score ~ treatment + x + (1 | school/class)`, ICC 0.1 "
    "for school and 0.1 for school:class, 4 classes of 15 pupils per school, x a pupil-level "
    "covariate; and subjects × items, `rt ~ condition + (1 + condition | subject) + "
    "(1 | item)`, every subject seeing every item once, condition of exactly half of the "
    "items (or in a Latin square: subject s sees item i in condition (i + s) mod 2, so it "
    "varies within subjects and within items), subject ICC 0.2 with slope variance 0.1, "
    "item ICC 0.1. REML fits; both columns "
    "of a row are the same simulated data sets. *Singular*: the share of fits with a "
    "variance component on its boundary (lme4's `isSingular`)."
)


def units(scenario: str, n: int) -> str:
    """The design's size in words at ``n`` observations."""
    if "crossed" in scenario or "latin" in scenario:  # each subject sees each item once: N = J^2
        j = math.isqrt(n)
        return f"{j} subjects × {j} items"
    return f"{n // 60} schools × 4 classes × 15 pupils"


def _sizes(ds: xr.Dataset) -> list[int]:
    if "sample_size" in reports.axes_of(ds):
        return [int(v) for v in ds["sample_size"].values]
    return [int(json.loads(ds.attrs["base_params"])["sample_size"])]


def _provenance(stores: list[tuple[str, xr.Dataset, Path]], rel: Callable[[Path], str]
                ) -> str:
    """The stores (``rel``: a path as the page shows it) and what made them."""
    a = stores[0][1].attrs
    lines = [f"- store: `{rel(store)}` (created {ds.attrs.get('created', '?')})"
             for _, ds, store in stores]
    lines.append(f"- package {a.get('package_version', '?')}, engine "
                 f"{a.get('engine_version', '?')}, seed {a.get('seed', '?')}, "
                 f"{a.get('simulations', '?')} simulations per design point, alpha "
                 f"{a.get('alpha', '?')}, estimator {a.get('estimator', '?')}")
    return "\n".join(lines)


def groupings_section(stores: list[tuple[str, xr.Dataset, Path]],
                      rel: Callable[[Path], str] = str) -> str:
    """The section from ``(scenario, dataset, store path)`` of each store present;
    ``rel`` shows a store's path on the page."""
    methods = [str(m) for m in stores[0][1]["df_method"].values]
    alpha = float(stores[0][1].attrs.get("alpha", 0.05))
    sims = min(int(ds.attrs.get("simulations", 0)) for _, ds, _ in stores)
    se = math.sqrt(alpha * (1 - alpha) / sims) if sims else math.nan
    rows = []
    for scenario, ds, _ in stores:
        for n in _sizes(ds):
            at = {"sample_size": n} if "sample_size" in reports.axes_of(ds) else {}
            sub = reports.select(ds, at)
            for test in sub["test"].values:
                cells = []
                for m in methods:
                    cell = sub.sel(df_method=m, test=test)
                    lo, hi = float(cell["power_lower"]), float(cell["power_upper"])
                    text = reports.pct(float(cell["power"]))
                    cells.append(f"**{text}**" if not lo <= alpha <= hi else text)
                point = sub.sel(df_method=methods[0])
                singular = int(point["n_singular"]) / int(point["n_success"])
                rows.append([GROUPING_STORES[scenario], units(scenario, n), f"{n:,}", str(test),
                             *cells, reports.pct(singular)])
    parts = [
        f"## {TITLE}",
        NOTE,
        "Regenerate with " + ", ".join(f"`mcpower-sweep run scenarios/{s}`"
                                       for s, _, _ in stores) + ".",
        _provenance(stores, rel),
        f"With {sims:,} simulations per cell the Monte Carlo standard error of a "
        f"{100 * alpha:g}% rate is {100 * se:.2f} percentage points.",
        reports.markdown(["design", "size", "N", "test", *methods, "singular"], rows),
    ]
    return "\n\n".join(parts)


def kept_sections(page: Path) -> dict[str, str]:
    """The ``## `` sections of an existing generated page by title, so that a section whose
    store is not on this machine is kept as it was rather than dropped.

    >>> kept_sections(Path("no-such-page.md"))
    {}
    """
    if not page.exists():
        return {}
    text = page.read_text(encoding="utf-8")
    found = re.split(r"(?m)^(?=## )", text)[1:]
    return {s.splitlines()[0][3:].strip(): s.rstrip("\n") for s in found}
