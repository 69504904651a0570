"""A scenario with ``search:`` run through the command line (the required N at every point
of its axes, on a LocalCluster), then read with ``table`` and ``plot``; bad ``search:``
keys are one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from mcpower_sweep.cli import main
from mcpower_sweep.scenario import ScenarioError, parse_scenario

pytest.importorskip("distributed")

SCENARIO = """\
model:
  formula: "y ~ treatment + (1|school)"
  effects: {treatment: 0.5}
  variable_types: {treatment: "binary(0.5, balanced)"}
  cluster: {grouping: school, ICC: 0.15, cluster_size: 10, cluster_level_vars: [treatment]}
seed: 11
max_failed: 0.2
search: {unit: clusters, from: 6, to: 200, test: treatment, precision: 0.2,
         max_simulations: 2000}
sweep:
  icc: [0.1, 0.2]
"""
# "408 [388–428]": a required N with its 95% interval.
ANSWER = re.compile(r"\d[\d,]* \[\d[\d,]*–\d[\d,]*\]")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_run_table_and_plot_of_a_search_scenario(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("s.yaml").write_text(SCENARIO)
    code, out, err = invoke("run", "s.yaml", "--workers", "1", "--out", "s.zarr",
                            "--no-progress")
    assert code == 0, err
    assert "2 searches" in err
    stored = xr.open_zarr("s.zarr", consolidated=False).load()
    assert stored.attrs["search_unit"] == "clusters"
    assert stored.attrs["scenario"].strip() == SCENARIO.strip()
    assert list(stored.status.values) == ["reached", "reached"]
    assert stored.required_n.sel(icc=0.1) < stored.required_n.sel(icc=0.2)
    assert len(ANSWER.findall(out)) == 2

    code, table, err = invoke("table", "s.zarr")
    assert code == 0, err
    assert table == out.rstrip("\n") + "\n"  # what run printed
    assert "| icc | required clusters | simulations |" in table  # the searched unit
    assert "(clusters, 95% interval)" in table
    code, csv, _ = invoke("table", "s.zarr", "--format", "csv")
    assert code == 0 and csv.splitlines()[0].startswith("icc,required_units,")
    code, _, err = invoke("plot", "s.zarr", "-o", "s.png")
    assert code == 0, err
    assert Path("s.png").stat().st_size > 1000
    # the store is not replaced unless asked
    code, _, err = invoke("run", "s.yaml", "--workers", "1", "--out", "s.zarr")
    assert code != 0 and "--overwrite" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("search", "needles"), [
    ("{unit: clusterz, from: 6, to: 200, test: treatment}", ["search.unit", "clusterz"]),
    ("{unit: clusters, from: 6, to: 200, test: treatment, precision: 0}",
     ["search.precision", "precision=0"]),
    ("{unit: clusters, from: 6, to: 200, test: treatment, max_simulations: 10}",
     ["search.max_simulations", "500"]),
    ("{unit: clusters, from: 60, to: 20, test: treatment}", ["search.to", "from=60"]),
    ("{unit: clusters, from: 6, to: 200}", ["search.test", "required"]),
    ("{unit: clusters, from: 6, to: 200, test: treatment, precison: 0.1}",
     ["search.precison", "'precision'"]),
])
def test_bad_search_keys_are_one_line_errors(tmp_path: Path, search: str,
                                             needles: list[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace(SCENARIO.split("search: ")[1].split("\nsweep")[0],
                                     search))
    code, out, err = invoke("run", str(path), "--out", str(tmp_path / "never.zarr"))
    assert code != 0 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0]
    assert not (tmp_path / "never.zarr").exists()


def test_the_searched_size_cannot_be_swept() -> None:
    text = SCENARIO.replace("icc: [0.1, 0.2]", "n_clusters: [10, 20]")
    with pytest.raises(ScenarioError, match=r"sweep\.n_clusters: with search\.unit='clusters'"):
        parse_scenario(text, "s.yaml")
    s = parse_scenario(SCENARIO, "s.yaml")
    assert s.search is not None and s.search["precision"] == 0.2 and s.grid == {"icc": [0.1, 0.2]}


def test_two_axes_make_a_table_and_an_annotated_heatmap(tmp_path: Path) -> None:
    import numpy as np

    from mcpower_sweep.reports.searches import search_plot, search_table

    dims = ("icc", "slope_variance")
    ds = xr.Dataset({
        "required_n": (dims, [[407.0, 1280.0], [np.nan, np.nan]]),
        "required_n_lower": (dims, [[388.0, 1218.0], [np.nan, np.nan]]),
        "required_n_upper": (dims, [[427.0, 1345.0], [np.nan, np.nan]]),
        "status": (dims, [["reached", "reached"], ["below range", "not reached"]]),
        "n_simulations": (dims, [[1500, 13700], [200, 200]]),
    }, coords={"icc": [0.05, 0.2], "slope_variance": [0.0, 0.05]},
        attrs={"search_unit": "observations", "search_test": "treatment",
               "target_power": 0.8})
    text = search_table(ds)
    assert "| icc \\ slope_variance | slope_variance=0 | slope_variance=0.05 |" in text
    assert "| 0.05 | 407 [388–427] | 1,280 [1,218–1,345] |" in text
    assert "| 0.20 | below range | not reached |" in text
    flipped = search_table(ds, "slope_variance", "icc")
    assert "| 0.05 | 1,280 [1,218–1,345] | not reached |" in flipped
    one = search_table(ds, at={"icc": 0.05})
    assert "| 0.05 | 1,280 [1,218–1,345] | 13,700 |" in one
    fig = search_plot(ds)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "407\n[388–427]" in texts and "not reached" in texts
    fig.savefig(tmp_path / "heat.png")
    with pytest.raises(ValueError, match="not an axis"):
        search_table(ds, "n_clusters")


MDE_SCENARIO = """\
model:
  formula: "y ~ treatment + (1|school)"
  effects: {treatment: 0.5}
  variable_types: {treatment: "binary(0.5, balanced)"}
  cluster: {grouping: school, ICC: 0.15, cluster_size: 10, cluster_level_vars: [treatment]}
seed: 11
max_failed: 0.2
sample_size: 400
search: {effect: treatment, from: 0.05, to: 1.0, precision: 0.2, max_simulations: 2000}
sweep:
  icc: [0.05, 0.2]
"""
# "0.31 [0.28–0.34]": a minimum detectable effect with its 95% interval.
MDE = re.compile(r"\d\.\d\d \[\d\.\d\d–\d\.\d\d\]")


def test_run_table_and_plot_of_an_mde_scenario(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.yaml").write_text(MDE_SCENARIO)
    code, out, err = invoke("run", "m.yaml", "--workers", "1", "--out", "m.zarr",
                            "--no-progress")
    assert code == 0, err
    assert "2 searches" in err
    stored = xr.open_zarr("m.zarr", consolidated=False).load()
    assert stored.attrs["search_effect"] == "treatment"
    assert stored.attrs["scenario"].strip() == MDE_SCENARIO.strip()
    assert list(stored.status.values) == ["reached", "reached"]
    assert stored.mde.sel(icc=0.05) < stored.mde.sel(icc=0.2)  # more clustering, larger MDE
    assert "| icc | MDE | simulations |" in out and len(MDE.findall(out)) == 2

    code, table, err = invoke("table", "m.zarr")
    assert code == 0, err
    assert table == out.rstrip("\n") + "\n"
    assert "Minimum detectable effect for 80% power, treatment" in table
    code, info, err = invoke("info", "m.zarr")
    assert code == 0 and "minimum detectable effect of treatment" in info, err
    code, _, err = invoke("plot", "m.zarr", "-o", "m.png")
    assert code == 0, err
    assert Path("m.png").stat().st_size > 1000


@pytest.mark.parametrize(("search", "needles"), [
    ("{effect: treatment, unit: clusters, from: 0.05, to: 1.0}",
     ["search.unit", "clusters", "not both"]),
    ("{effect: treatment, test: treatment, from: 0.05, to: 1.0}", ["search.test", "not both"]),
    ("{effect: tretment, from: 0.05, to: 1.0}", ["search.effect", "tretment", "treatment"]),
    ("{effect: treatment, from: 0.05, to: 1.0, precision: -1}",
     ["search.precision", "precision=-1"]),
])
def test_bad_mde_search_keys_are_one_line_errors(tmp_path: Path, search: str,
                                                 needles: list[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MDE_SCENARIO.replace(
        MDE_SCENARIO.split("search: ")[1].split("\nsweep")[0], search))
    code, out, err = invoke("run", str(path), "--out", str(tmp_path / "never.zarr"))
    assert code != 0 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0]


def test_the_searched_effect_cannot_be_swept() -> None:
    text = MDE_SCENARIO.replace("icc: [0.05, 0.2]", "effect_treatment: [0.2, 0.4]")
    with pytest.raises(ScenarioError, match=r"sweep\.effect_treatment: search\.effect="):
        parse_scenario(text, "s.yaml")
