"""Tables, required N, the ceiling and the recommendation on synthetic results (no engine)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from _synthetic import curve_dataset, derived, tutorial_like

from mcpower_sweep import reports as R
from mcpower_sweep.crossing import RequiredN, required_n
from mcpower_sweep.reports.axes import default_axes
from mcpower_sweep.reports.ceiling import (
    ABOVE_BEYOND_MC,
    ABOVE_BY_MC,
    CEILING_NOTE,
    min_clusters_for,
    power_ceiling,
)
from mcpower_sweep.reports.required_n import required_n_text
from mcpower_sweep.stats import isotonic

SIZES = [300, 600, 900, 1200, 1800]


def one_curve(power: list[float], n: int = 1000, **kw: float) -> RequiredN:
    ds = curve_dataset(SIZES, power, n=n, **kw)
    frame = R.required_sample_size(ds, 0.8)
    assert len(frame) == 1
    return RequiredN(**{k: frame.iloc[0][k] for k in RequiredN.__dataclass_fields__})


# ------------------------------------------------------------------- required N


def test_monotone_curve_interpolates_between_grid_points() -> None:
    r = one_curve([0.3, 0.5, 0.7, 0.9, 0.97])
    assert r.status == "reached" and r.monotone
    assert r.first_size == 1200
    assert r.estimate == pytest.approx(1050.0)  # halfway from 0.7 to 0.9
    assert r.low < r.estimate < r.high
    assert 900 <= r.low and r.high <= 1800


def test_target_hit_exactly_on_a_grid_point() -> None:
    r = one_curve([0.3, 0.5, 0.8, 0.9, 0.97])
    assert r.first_size == 900 and r.estimate == pytest.approx(900.0)


def test_non_monotone_curve_is_ironed_out() -> None:
    # Monte Carlo noise: crosses at 900, dips at 1200, back up at 1800.
    r = one_curve([0.3, 0.6, 0.82, 0.78, 0.9])
    assert not r.monotone
    assert r.first_size == 900  # the first size that reached the target, as observed
    # isotonic fit pools 0.82 and 0.78 into 0.80, which reaches the target at 900
    assert r.estimate == pytest.approx(900.0)
    fit = isotonic(np.array([0.3, 0.6, 0.82, 0.78, 0.9]))
    assert np.all(np.diff(fit) >= 0) and fit[2] == pytest.approx(0.8)


def test_non_monotone_dip_below_then_cross() -> None:
    r = one_curve([0.5, 0.45, 0.7, 0.9, 0.95])
    assert r.status == "reached" and not r.monotone
    assert r.first_size == 1200
    assert 900 < r.estimate < 1200


def test_never_reached_reports_best_and_ceiling() -> None:
    r = one_curve([0.2, 0.35, 0.45, 0.5, 0.55])
    assert r.status == "not reached"
    assert r.first_size is None or math.isnan(r.first_size)
    assert r.estimate is None or math.isnan(r.estimate)
    assert r.max_power == pytest.approx(0.55) and r.n_at_max == 1800
    ds = curve_dataset(SIZES, [0.2, 0.35, 0.45, 0.5, 0.55])
    frame = R.required_sample_size(ds, 0.8)
    assert frame["ceiling"].iloc[0] == pytest.approx(power_ceiling(0.15, 0.1, 30))
    text = R.required_n_table(ds, 0.8)
    assert ">1,800" in text and "not reached" in text and "55.0% (1,800)" in text
    assert "| First N at target |" in text and "First N at target: the smallest N" in text


def test_reached_at_the_smallest_size() -> None:
    r = one_curve([0.85, 0.9, 0.95, 0.97, 0.99])
    assert r.status == "below range" and r.first_size == 300 and r.estimate == 300
    row = {"status": r.status, "estimate": r.estimate}
    assert required_n_text(row, 1800) == "≤300"


def test_ties_at_the_maximum_pick_the_smallest_size() -> None:
    r = one_curve([0.4, 0.6, 0.6, 0.6, 0.6])
    assert r.status == "not reached" and r.max_power == pytest.approx(0.6)
    assert r.n_at_max == 600
    flat = one_curve([0.4, 0.8, 0.8, 0.8, 0.8])
    assert flat.first_size == 600 and flat.estimate == pytest.approx(600.0)


def test_upper_range_beyond_grid_is_open() -> None:
    # Just reaches the target at the last size: its lower Wilson bound does not.
    r = one_curve([0.3, 0.5, 0.6, 0.7, 0.81], n=200)
    assert r.status == "reached"
    assert r.high is None or math.isnan(r.high)
    row = {"status": r.status, "estimate": r.estimate, "low": r.low, "high": r.high}
    assert required_n_text(row, 1800).endswith("–>1,800]")


def test_unsorted_sizes_and_empty_points() -> None:
    r = required_n([900, 300, 600], [800, 300, 500], [1000, 1000, 1000], 0.7)
    assert r.first_size == 900 and r.estimate == pytest.approx(600 + 300 * (0.2 / 0.3))
    empty = required_n([300, 600], [0, 0], [0, 0], 0.8)
    assert empty.status == "not reached"
    skip = required_n([300, 600, 900], [0, 0, 900], [0, 1000, 1000], 0.8)
    assert skip.first_size == 900


def test_required_sample_size_over_other_axes() -> None:
    ds = tutorial_like()
    frame = R.required_sample_size(ds, 0.8)
    assert list(frame.index.names) == ["n_clusters", "slope_variance"]
    assert len(frame) == 5 * 7
    at30 = frame.xs(30, level="n_clusters")
    assert at30.loc[0.0, "status"] == "reached"
    assert at30.loc[0.3, "status"] == "not reached"
    assert (at30["ceiling"].diff().dropna() <= 1e-12).all()


def test_best_power_interval_is_the_datasets() -> None:
    ds = tutorial_like()
    frame = R.required_sample_size(ds, 0.8).reset_index()
    for _, row in frame.iterrows():
        cell = ds.sel(n_clusters=row["n_clusters"], slope_variance=row["slope_variance"],
                      sample_size=row["n_at_max"], test="treatment")
        assert row["max_power_lower"] == float(cell["power_lower"])
        assert row["max_power_upper"] == float(cell["power_upper"])


# ----------------------------------------------------- the ceiling in the outputs


def _best_and_ceiling(line: str) -> tuple[float, float] | None:
    m = re.search(r"best (\d+\.\d)%.*ceiling (\d+\.\d)%", line)
    return (float(m[1]), float(m[2])) if m else None


def test_best_power_above_the_ceiling_is_explained() -> None:
    """No output shows a best observed power above the ceiling without saying why."""
    # ceiling at J=30, slope_variance 0.1, effect 0.15: 70.9%
    for best, why, mark in [(0.72, ABOVE_BY_MC, "†"), (0.76, ABOVE_BEYOND_MC, "‡")]:
        ds = curve_dataset(SIZES, [0.3, 0.5, 0.6, 0.7, best], n=1000)
        text = R.required_n_table(ds, 0.8)
        row = text.splitlines()[2]
        assert re.search(rf"{100 * best:.1f}% \[\d+\.\d, \d+\.\d\] \(1,800\){mark}", row), row
        assert f"{mark} Max power {why}" in text
        rec = R.recommendation(ds, 0.8)
        assert why in rec and re.search(rf"best {100 * best:.1f}% \[\d+\.\d, \d+\.\d\]", rec)
    below = R.required_n_table(curve_dataset(SIZES, [0.3, 0.5, 0.6, 0.65, 0.7]), 0.8)
    assert "†" not in below and "‡" not in below and "[" not in below.splitlines()[2]
    # the synthetic tutorial grid has bests above ceilings (its truth is a z test)
    ds = tutorial_like()
    frame = R.required_sample_size(ds, 0.8)
    assert (frame["max_power"] > frame["ceiling"]).any()
    lines = R.required_n_table(ds, 0.8).splitlines()
    for line in lines[2:2 + len(frame)]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-1] != "—"  # a ceiling is always a number
        best, ceiling = float(cells[-2].split("%")[0]), float(cells[-1].rstrip("%"))
        assert best <= ceiling or cells[-2][-1] in "†‡", line
    for line in R.recommendation(ds, 0.8).splitlines():
        pair = _best_and_ceiling(line)
        assert pair is None or pair[0] <= pair[1] or "Monte Carlo" in line, line


def test_ceiling_is_explained_wherever_it_appears() -> None:
    ds = tutorial_like()
    for text in (R.tutorial_tables(ds), R.required_n_table(ds, 0.8), R.summary_tables(ds),
                 R.summary_tables(ds.isel(slope_variance=[1, 2]))):
        assert "ceiling" in text.lower() and CEILING_NOTE in text
        assert text.count(CEILING_NOTE) == 1
    # in the tutorial layout, right after the first table that shows a ceiling
    parts = R.tutorial_tables(ds).split("\n\n")
    first = next(i for i, p in enumerate(parts) if "ceiling" in p)
    assert parts[first + 2] == CEILING_NOTE  # table, caption, note


def test_cluster_bound_beyond_the_grid_says_extrapolated() -> None:
    ds = tutorial_like()  # n_clusters up to 50
    lines = {line.split(":")[0]: line for line in R.recommendation(ds, 0.8).splitlines()[1:]}
    inside = lines["- slope_variance 0.05"]  # 20 clusters, inside the grid
    assert "fewer than 20 clusters" in inside and "extrapolated" not in inside
    beyond = lines["- slope_variance 0.15"]  # 55 clusters, beyond it
    assert "fewer than 55 clusters (extrapolated from the ceiling formula beyond the grid" in (
        beyond)
    assert "largest n_clusters is 50" in beyond
    for line in lines.values():
        m = re.search(r"fewer than (\d+) clusters", line)
        if m and int(m[1]) > 50:
            assert "extrapolated" in line, line


# ----------------------------------------------------------------- power tables


def test_power_table_markdown_and_ci() -> None:
    ds = tutorial_like()
    text = R.power_table(ds, "slope_variance", "n_clusters", at={"sample_size": 900},
                         ci=False)
    lines = text.splitlines()
    assert lines[0] == ("| slope_variance | n_clusters=15 | n_clusters=20 | n_clusters=30 | "
                        "n_clusters=40 | n_clusters=50 |")
    assert len(lines) == 2 + 7
    p = float(ds.power.sel(n_clusters=30, slope_variance=0.1, sample_size=900)[0])
    assert f"{100 * p:.1f}%" in lines[2 + 3] and "[" not in text
    default = R.power_table(ds, "slope_variance", "n_clusters", at={"sample_size": 900})
    assert all(line.count("[") == 5 for line in default.splitlines()[2:])  # intervals


def test_power_table_csv_is_tidy() -> None:
    ds = tutorial_like()
    csv = R.power_table(ds, "sample_size", "slope_variance", at={"n_clusters": 30},
                        fmt="csv")
    header = csv.splitlines()[0].split(",")
    assert header[:3] == ["n_clusters", "sample_size", "slope_variance"]
    assert "power_lower" in header and "power_upper" in header
    assert len(csv.strip().splitlines()) == 1 + 8 * 7
    bare = R.power_table(ds, "sample_size", "slope_variance", at={"n_clusters": 30},
                         fmt="csv", ci=False)
    assert "power_lower" not in bare.splitlines()[0]


def test_power_table_needs_the_other_axes_fixed() -> None:
    ds = tutorial_like()
    with pytest.raises(ValueError, match="sample_size"):
        R.power_table(ds, "slope_variance", "n_clusters")
    with pytest.raises(ValueError, match="not in the results"):
        R.power_table(ds, "slope_variance", "n_clusters", at={"sample_size": 901})
    with pytest.raises(ValueError, match="not an axis"):
        R.select(ds, {"icc": 0.1})


def test_power_tables_loops_over_free_axes() -> None:
    ds = tutorial_like()
    text = R.power_tables(ds, "sample_size", "slope_variance")
    assert text.count("### n_clusters=") == 5
    csv = R.power_tables(ds, fmt="csv")
    assert len(csv.strip().splitlines()) == 1 + 5 * 7 * 8


def test_parse_at_matches_floats_and_types() -> None:
    ds = tutorial_like()
    assert R.parse_at(["n_clusters=30", "slope_variance=.1"], ds) == {
        "n_clusters": 30, "slope_variance": 0.1}
    with pytest.raises(ValueError, match="axis=value"):
        R.parse_at(["n_clusters"], ds)


def test_incomplete_points_are_marked() -> None:
    ds = curve_dataset(SIZES, [0.3, 0.5, 0.7, 0.9, 0.97])
    ds["complete"][..., 2] = False
    text = R.power_table(ds, "sample_size", "slope_variance", ci=False)
    assert "70.0%*" in text and "not complete" in text


# --------------------------------------------------------------- tutorial tables


def test_tutorial_tables_have_the_tutorial_layout() -> None:
    ds = tutorial_like()
    text = R.slope_variance_table(ds)
    lines = text.splitlines()
    assert lines[0] == ("| slope_variance | Power (N=900, 30 clusters) | "
                        "Required N (30 clusters) |")
    labels = [line.split("|")[1].strip() for line in lines[2:]]
    assert labels == ["0 (slope fitted)", "0.01", "0.05", "0.10", "0.15", "0.20", "0.30"]
    assert ">5,000 (ceiling" in lines[-1]
    assert all("[" in line.split("|")[2] for line in lines[2:])  # intervals by default
    second = R.cluster_table(ds).splitlines()
    assert second[0] == "| n_clusters | Power (slope_var=0.10, N=900) |"
    assert [row.split("|")[1].strip() for row in second[2:]] == ["15", "20", "30", "40", "50"]
    full = R.tutorial_tables(ds)
    assert "Minimum clusters for 80% power" in full and "seed=42" in full
    assert R.has_tutorial_axes(ds)
    assert not R.has_tutorial_axes(curve_dataset(SIZES, [0.1] * 5).isel(n_clusters=0))


def test_recommendation_names_minimum_clusters() -> None:
    ds = tutorial_like()
    text = R.recommendation(ds, 0.8)
    assert "- slope_variance 0:" in text
    line = next(x for x in text.splitlines() if x.startswith("- slope_variance 0.30"))
    assert "not reached" in line and "ceiling" in line


def test_tutorial_table_missing_design_point() -> None:
    ds = curve_dataset(SIZES, [0.3, 0.5, 0.7, 0.9, 0.97], n_clusters=20)
    with pytest.raises(ValueError, match="n_clusters=30 is not in the results"):
        R.slope_variance_table(ds)


# -------------------------------------------------------------- power ceiling


def test_power_ceiling_is_scipys_noncentral_t() -> None:
    stats = pytest.importorskip("scipy.stats")
    for j, sv in [(8, 0.05), (15, 0.1), (30, 0.1), (50, 0.3)]:
        delta = 0.15 / math.sqrt(sv / j)
        crit = stats.t.ppf(0.975, j - 1)
        exact = stats.nct.sf(crit, j - 1, delta) + stats.nct.cdf(-crit, j - 1, delta)
        assert power_ceiling(0.15, sv, j) == pytest.approx(exact, rel=1e-12)
    z = 0.15 / math.sqrt(0.1 / 30)
    exact_z = stats.norm.sf(1.959964 - z) + stats.norm.cdf(-1.959964 - z)
    assert power_ceiling(0.15, 0.1, 30, df_method="z") == pytest.approx(exact_z, abs=1e-6)


def test_power_ceiling_limits() -> None:
    assert power_ceiling(0.15, 0.0, 30) == 1.0
    assert power_ceiling(0.15, 0.1, None) == 1.0
    assert power_ceiling(0.15, 0.1, 30, random_slope=False) == 1.0
    assert power_ceiling(0.0, 0.1, 30, alpha=0.05) == 0.05
    more = [power_ceiling(0.15, 0.1, j) for j in (10, 20, 40, 80)]
    assert more == sorted(more)
    j = min_clusters_for(0.8, 0.15, 0.1)
    assert power_ceiling(0.15, 0.1, j) >= 0.8 > power_ceiling(0.15, 0.1, j - 1)


def test_power_ceiling_is_finite_far_in_the_tail() -> None:
    values = [power_ceiling(0.15, sv, j) for j in range(2, 201) for sv in (0.005, 0.01, 0.05)]
    assert np.isfinite(values).all()


def test_derived_helper_shapes() -> None:
    ds = derived({"sample_size": [100, 200]}, np.array([10.0, 20.0]), np.array([50.0, 50.0]),
                 50)
    assert R.axes_of(ds) == ["sample_size"]
    assert default_axes(ds) == ("sample_size", "test")
    assert R.power_tables(ds).startswith("| sample_size | treatment |")


def test_failure_note_names_worst_point() -> None:
    ds = tutorial_like()
    assert R.failure_note(ds) == ""  # no threshold recorded
    ds.attrs["max_failed"] = 0.05
    assert R.failure_note(ds) == ""
    ds["failure_rate"][0, 0, 0] = 0.2
    ds["failure_rate"][1, 0, 0] = 0.1
    note = R.failure_note(ds)
    assert "2 design point(s)" in note and "20.0%" in note and "n_clusters=15" in note
    assert note in R.tutorial_tables(ds)
