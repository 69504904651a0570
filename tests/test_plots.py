"""Figures from synthetic results: they render, to PNG and SVG, for full and odd grids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _synthetic import curve_dataset, tutorial_like

from mcpower_sweep.reports import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TESTS = Path(__file__).resolve().parent


def test_plotting_leaves_the_backend_alone(tmp_path: Path) -> None:
    """Importing plots and drawing keep the user's backend (a notebook's, say) and pyplot out."""
    code = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import matplotlib
from _synthetic import tutorial_like
from mcpower_sweep.reports import plots
plots.save(plots.power_curves(tutorial_like()), {str(tmp_path / "c.png")!r})
plots.save(plots.required_n_heatmap(tutorial_like()), {str(tmp_path / "h.svg")!r})
print(matplotlib.rcParams["backend"], "matplotlib.pyplot" in sys.modules)
"""
    env = {**os.environ, "MPLBACKEND": "pdf"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pdf", "False"]
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC


def test_axis_labels_from_cf_attrs() -> None:
    ds = tutorial_like()
    ds["sample_size"].attrs = {"long_name": "total number of observations N",
                               "units": "observations"}
    ds["n_clusters"].attrs = {"description": "number of clusters"}  # no long_name
    ds["slope_variance"].attrs = {"long_name": "variance of each random slope", "units": "1"}
    ds["power"].attrs = {"long_name": "power", "units": "1"}
    fig = plots.power_curves(ds, facet=None, at={"n_clusters": 30})
    assert fig.axes[0].get_xlabel() == "total number of observations N [observations]"
    assert fig.axes[0].get_ylabel() == "power of treatment (%)"
    heat = plots.required_n_heatmap(ds)
    assert heat.axes[0].get_xlabel() == "number of clusters"
    assert heat.axes[0].get_ylabel() == "variance of each random slope"  # units "1" left out
    bare = plots.power_curves(tutorial_like(), facet=None, at={"n_clusters": 30})
    assert bare.axes[0].get_xlabel() == "sample_size"  # no attrs: the name


def test_save_does_not_create_folders(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "dir"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        plots.save(plots.power_curves(tutorial_like()), missing / "x.png")
    assert not (tmp_path / "missing").exists()


def test_power_curves_png(tmp_path: Path) -> None:
    fig = plots.power_curves(tutorial_like())
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 5  # one panel per n_clusters
    assert len(axes[0].lines) == 7 + 1  # a line per slope_variance, plus the target line
    assert axes[0].get_title() == "15 clusters"
    out = plots.save(fig, tmp_path / "curves.png")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_heatmap_svg(tmp_path: Path) -> None:
    fig = plots.required_n_heatmap(tutorial_like())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 5 * 7
    assert any(t.startswith(">5,000") and "ceil" in t for t in texts)
    out = plots.save(fig, tmp_path / "heat.svg")
    assert out.read_text().lstrip().startswith("<?xml")


def test_single_curve_without_hue_or_facet(tmp_path: Path) -> None:
    ds = curve_dataset([300, 600, 900], [0.3, 0.6, 0.9]).isel(n_clusters=0, slope_variance=0)
    fig = plots.power_curves(ds)
    assert len(fig.axes) == 1
    plots.save(fig, tmp_path / "one.png")


def test_other_axes_fixed_and_named(tmp_path: Path) -> None:
    fig = plots.power_curves(tutorial_like(), facet=None, at={"n_clusters": 30})
    assert "n_clusters=30" in fig._suptitle.get_text()
    plots.save(fig, tmp_path / "at.png")


def test_true_null_is_drawn_against_alpha(tmp_path: Path) -> None:
    ds = tutorial_like()
    ds.attrs["base_params"] = ds.attrs["base_params"].replace('"treatment": 0.15',
                                                              '"treatment": 0.0')
    fig = plots.power_curves(ds, at={"sample_size": 900}, x="n_clusters", facet=None)
    assert "true null" in fig._suptitle.get_text()
    assert fig.axes[0].get_ylabel().startswith("rejection rate")
    plots.save(fig, tmp_path / "null.png")


def test_errors() -> None:
    ds = tutorial_like()
    with pytest.raises(ValueError, match="cannot plot against"):
        plots.power_curves(ds, x="icc")
    with pytest.raises(ValueError, match="needs the 'n_clusters' axis"):
        plots.required_n_heatmap(ds.isel(n_clusters=0))
    with pytest.raises(ValueError, match=r"\.png"):
        plots.save(plots.power_curves(ds), "figure.jpg")
