"""Tables and required-N logic on synthetic results (no engine, no store)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _synthetic import curve_dataset, derived, tutorial_like

from mcpower_sweep.reports import tables as T

SIZES = [300, 600, 900, 1200, 1800]


def one_curve(power: list[float], n: int = 1000, **kw: float) -> T.RequiredN:
    ds = curve_dataset(SIZES, power, n=n, **kw)
    frame = T.required_sample_size(ds, 0.8)
    assert len(frame) == 1
    return T.RequiredN(**{k: frame.iloc[0][k] for k in T.RequiredN.__dataclass_fields__})


# ------------------------------------------------------------------- required N


def test_monotone_curve_interpolates_between_grid_points() -> None:
    r = one_curve([0.3, 0.5, 0.7, 0.9, 0.97])
    assert r.status == "reached" and r.monotone
    assert r.grid_n == 1200
    assert r.estimate == pytest.approx(1050.0)  # halfway from 0.7 to 0.9
    assert r.low < r.estimate < r.high
    assert 900 <= r.low and r.high <= 1800


def test_target_hit_exactly_on_a_grid_point() -> None:
    r = one_curve([0.3, 0.5, 0.8, 0.9, 0.97])
    assert r.grid_n == 900 and r.estimate == pytest.approx(900.0)


def test_non_monotone_curve_is_ironed_out() -> None:
    # Monte Carlo noise: crosses at 900, dips at 1200, back up at 1800.
    r = one_curve([0.3, 0.6, 0.82, 0.78, 0.9])
    assert not r.monotone
    assert r.grid_n == 900  # the first grid size that reached the target, as observed
    # isotonic fit pools 0.82 and 0.78 into 0.80, which reaches the target at 900
    assert r.estimate == pytest.approx(900.0)
    fit = T.isotonic(np.array([0.3, 0.6, 0.82, 0.78, 0.9]))
    assert np.all(np.diff(fit) >= 0) and fit[2] == pytest.approx(0.8)


def test_non_monotone_dip_below_then_cross() -> None:
    r = one_curve([0.5, 0.45, 0.7, 0.9, 0.95])
    assert r.status == "reached" and not r.monotone
    assert r.grid_n == 1200
    assert 900 < r.estimate < 1200


def test_never_reached_reports_best_and_ceiling() -> None:
    r = one_curve([0.2, 0.35, 0.45, 0.5, 0.55])
    assert r.status == "not reached"
    assert r.grid_n is None or math.isnan(r.grid_n)
    assert r.estimate is None or math.isnan(r.estimate)
    assert r.max_power == pytest.approx(0.55) and r.n_at_max == 1800
    ds = curve_dataset(SIZES, [0.2, 0.35, 0.45, 0.5, 0.55])
    frame = T.required_sample_size(ds, 0.8)
    assert frame["ceiling"].iloc[0] == pytest.approx(T.power_ceiling(0.15, 0.1, 30))
    text = T.required_n_table(ds, 0.8)
    assert ">1,800" in text and "not reached" in text and "55.0% (1,800)" in text


def test_reached_at_the_smallest_size() -> None:
    r = one_curve([0.85, 0.9, 0.95, 0.97, 0.99])
    assert r.status == "below grid" and r.grid_n == 300 and r.estimate == 300
    row = {"status": r.status, "estimate": r.estimate}
    assert T.required_n_text(row, 1800) == "≤300"


def test_ties_at_the_maximum_pick_the_smallest_size() -> None:
    r = one_curve([0.4, 0.6, 0.6, 0.6, 0.6])
    assert r.status == "not reached" and r.max_power == pytest.approx(0.6)
    assert r.n_at_max == 600
    flat = one_curve([0.4, 0.8, 0.8, 0.8, 0.8])
    assert flat.grid_n == 600 and flat.estimate == pytest.approx(600.0)


def test_upper_range_beyond_grid_is_open() -> None:
    # Just reaches the target at the last size: its lower Wilson bound does not.
    r = one_curve([0.3, 0.5, 0.6, 0.7, 0.81], n=200)
    assert r.status == "reached"
    assert r.high is None or math.isnan(r.high)
    row = {"status": r.status, "estimate": r.estimate, "low": r.low, "high": r.high}
    assert T.required_n_text(row, 1800).endswith("–>1,800]")


def test_unsorted_sizes_and_empty_points() -> None:
    r = T.required_n_curve([900, 300, 600], [800, 300, 500], [1000, 1000, 1000], 0.7)
    assert r.grid_n == 900 and r.estimate == pytest.approx(600 + 300 * (0.2 / 0.3))
    empty = T.required_n_curve([300, 600], [0, 0], [0, 0], 0.8)
    assert empty.status == "not reached"
    skip = T.required_n_curve([300, 600, 900], [0, 0, 900], [0, 1000, 1000], 0.8)
    assert skip.grid_n == 900


def test_required_sample_size_over_other_axes() -> None:
    ds = tutorial_like()
    frame = T.required_sample_size(ds, 0.8)
    assert list(frame.index.names) == ["n_clusters", "slope_variance"]
    assert len(frame) == 5 * 7
    # more slope variance never needs fewer observations (beyond noise): compare extremes
    at30 = frame.xs(30, level="n_clusters")
    assert at30.loc[0.0, "status"] == "reached"
    assert at30.loc[0.3, "status"] == "not reached"
    assert (at30["ceiling"].diff().dropna() <= 1e-12).all()


# ----------------------------------------------------------------- power tables


def test_power_table_markdown_and_ci() -> None:
    ds = tutorial_like()
    text = T.power_table(ds, "slope_variance", "n_clusters", at={"sample_size": 900})
    lines = text.splitlines()
    assert lines[0] == ("| slope_variance | n_clusters=15 | n_clusters=20 | n_clusters=30 | "
                        "n_clusters=40 | n_clusters=50 |")
    assert len(lines) == 2 + 7
    p = float(ds.power.sel(n_clusters=30, slope_variance=0.1, sample_size=900)[0])
    assert f"{100 * p:.1f}%" in lines[2 + 3]
    with_ci = T.power_table(ds, "slope_variance", "n_clusters", at={"sample_size": 900},
                            ci=True)
    assert "[" in with_ci.splitlines()[2]


def test_power_table_csv_is_tidy() -> None:
    ds = tutorial_like()
    csv = T.power_table(ds, "sample_size", "slope_variance", at={"n_clusters": 30}, fmt="csv",
                        ci=True)
    header = csv.splitlines()[0].split(",")
    assert header[:3] == ["n_clusters", "sample_size", "slope_variance"]
    assert "power_lower" in header and "power_upper" in header
    assert len(csv.strip().splitlines()) == 1 + 8 * 7


def test_power_table_needs_the_other_axes_fixed() -> None:
    ds = tutorial_like()
    with pytest.raises(ValueError, match="sample_size"):
        T.power_table(ds, "slope_variance", "n_clusters")
    with pytest.raises(ValueError, match="not in the results"):
        T.power_table(ds, "slope_variance", "n_clusters", at={"sample_size": 901})
    with pytest.raises(ValueError, match="not an axis"):
        T.select(ds, {"icc": 0.1})


def test_power_tables_loops_over_free_axes() -> None:
    ds = tutorial_like()
    text = T.power_tables(ds, "sample_size", "slope_variance")
    assert text.count("### n_clusters=") == 5
    csv = T.power_tables(ds, fmt="csv")
    assert len(csv.strip().splitlines()) == 1 + 5 * 7 * 8


def test_parse_at_matches_floats_and_types() -> None:
    ds = tutorial_like()
    assert T.parse_at(["n_clusters=30", "slope_variance=.1"], ds) == {
        "n_clusters": 30, "slope_variance": 0.1}
    with pytest.raises(ValueError, match="axis=value"):
        T.parse_at(["n_clusters"], ds)


def test_incomplete_points_are_marked() -> None:
    ds = curve_dataset(SIZES, [0.3, 0.5, 0.7, 0.9, 0.97])
    ds["complete"][..., 2] = False
    text = T.power_table(ds, "sample_size", "slope_variance")
    assert "70.0%*" in text and "not complete" in text


# --------------------------------------------------------------- tutorial tables


def test_tutorial_tables_have_the_tutorial_layout() -> None:
    ds = tutorial_like()
    text = T.slope_variance_table(ds)
    lines = text.splitlines()
    assert lines[0] == ("| slope_variance | Power (N=900, 30 clusters) | "
                        "Required N (30 clusters) |")
    labels = [line.split("|")[1].strip() for line in lines[2:]]
    assert labels == ["0 (slope fitted)", "0.01", "0.05", "0.10", "0.15", "0.20", "0.30"]
    assert ">5,000 (ceiling" in lines[-1]
    second = T.cluster_table(ds).splitlines()
    assert second[0] == "| n_clusters | Power (slope_var=0.10, N=900) |"
    assert [row.split("|")[1].strip() for row in second[2:]] == ["15", "20", "30", "40", "50"]
    full = T.tutorial_tables(ds)
    assert "Minimum clusters for 80% power" in full and "seed=42" in full
    assert T.has_tutorial_axes(ds)
    assert not T.has_tutorial_axes(curve_dataset(SIZES, [0.1] * 5).isel(n_clusters=0))


def test_recommendation_names_minimum_clusters() -> None:
    ds = tutorial_like()
    text = T.recommendation(ds, 0.8)
    assert "- slope_variance 0:" in text
    line = next(x for x in text.splitlines() if x.startswith("- slope_variance 0.30"))
    assert "not reached" in line and "ceiling" in line


def test_tutorial_table_missing_design_point() -> None:
    ds = curve_dataset(SIZES, [0.3, 0.5, 0.7, 0.9, 0.97], n_clusters=20)
    with pytest.raises(ValueError, match="n_clusters=30 is not in the results"):
        T.slope_variance_table(ds)


# -------------------------------------------------------------- power ceiling


def test_power_ceiling_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for j, sv in [(8, 0.05), (15, 0.1), (30, 0.1), (50, 0.3)]:
        delta = 0.15 / math.sqrt(sv / j)
        crit = stats.t.ppf(0.975, j - 1)
        exact = stats.nct.sf(crit, j - 1, delta) + stats.nct.cdf(-crit, j - 1, delta)
        assert T.power_ceiling(0.15, sv, j) == pytest.approx(exact, abs=2e-5)
        assert T.t_quantile(0.975, j - 1) == pytest.approx(crit, abs=1e-6)
    z = 0.15 / math.sqrt(0.1 / 30)
    exact_z = stats.norm.sf(1.959964 - z) + stats.norm.cdf(-1.959964 - z)
    assert T.power_ceiling(0.15, 0.1, 30, df_method="z") == pytest.approx(exact_z, abs=1e-6)


def test_power_ceiling_limits() -> None:
    assert T.power_ceiling(0.15, 0.0, 30) == 1.0
    assert T.power_ceiling(0.15, 0.1, None) == 1.0
    assert T.power_ceiling(0.15, 0.1, 30, random_slope=False) == 1.0
    assert T.power_ceiling(0.0, 0.1, 30, alpha=0.05) == 0.05
    more = [T.power_ceiling(0.15, 0.1, j) for j in (10, 20, 40, 80)]
    assert more == sorted(more)
    j = T.min_clusters_for(0.8, 0.15, 0.1)
    assert T.power_ceiling(0.15, 0.1, j) >= 0.8 > T.power_ceiling(0.15, 0.1, j - 1)


def test_wilson_matches_store_convention() -> None:
    lo, hi = T.wilson(np.array([0.0, 1.0, 0.5]), np.array([10, 10, 100]))
    assert lo[0] == 0.0 and hi[1] == pytest.approx(1.0)
    assert lo[2] == pytest.approx(0.4038, abs=1e-4) and hi[2] == pytest.approx(0.5962, abs=1e-4)


def test_derived_helper_shapes() -> None:
    ds = derived({"sample_size": [100, 200]}, np.array([10.0, 20.0]), np.array([50.0, 50.0]),
                 50)
    assert T.axes_of(ds) == ["sample_size"]
    assert T.default_axes(ds) == ("sample_size", "test")
    assert "| sample_size | treatment |" in T.power_tables(ds)


def test_failure_note_names_worst_point() -> None:
    ds = tutorial_like()
    assert T.failure_note(ds) == ""  # no threshold recorded
    ds.attrs["max_failed"] = 0.05
    assert T.failure_note(ds) == ""
    ds["failure_rate"][0, 0, 0] = 0.2
    ds["failure_rate"][1, 0, 0] = 0.1
    note = T.failure_note(ds)
    assert "2 design point(s)" in note and "20.0%" in note and "n_clusters=15" in note
    assert note in T.tutorial_tables(ds)
