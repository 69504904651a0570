"""Variance-component summaries in sweep stores: the engine's, whatever the chunking.

The slow kill + resume tests of tests/test_reliability.py compare them too (``COUNTS``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
import zarr

from mcpower_sweep import MCPower, engine
from mcpower_sweep.results import tally
from mcpower_sweep.sweeps import store
from mcpower_sweep.sweeps.grid import Grid
from mcpower_sweep.sweeps.run import sweep

SEED = 20261127
GRID = {"n_clusters": [8, 16], "slope_variance": [0.0, 0.1]}
SUMMARIES = ["mean_component", "bias_component", "sd_component", "rmse_component",
             "n_component", "n_component_undefined"]


def make_model(simulations: int = 40) -> MCPower:
    return (
        MCPower("y ~ x + (1 + x|g)")
        .set_cluster("g", ICC=0.2, n_clusters=8, random_slopes=["x"], slope_variance=0.1,
                     slope_intercept_corr=0.3)
        .set_effects("x=0.3")
        .set_simulations(simulations)
        .set_seed(SEED)
    )


def summaries(ds: xr.Dataset) -> xr.Dataset:
    return ds[SUMMARIES].drop_attrs()


@pytest.fixture(scope="module")
def reference(dask_client, tmp_path_factory) -> tuple[xr.Dataset, object]:
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    ds = sweep(make_model(), GRID, sample_size=240, chunk_size=7, out=out, cluster=dask_client,
               progress=False)
    return ds, out


def test_store_components_are_the_engine_per_point(reference) -> None:
    ds, path = reference
    spec = make_model().to_spec(240)
    grid = Grid(spec, GRID)
    names, _ = tally.components(spec)
    assert ds.component.values.tolist() == list(names)
    for index, point_spec in grid.points():
        r = engine.run_chunk(point_spec, SEED, 0, 40)
        c = engine.count_chunk(r, point_spec.alpha, point_spec.fit_effects)
        sums = dict(zip(tally.COMPONENT_FIELDS, c.component_sums, strict=True))
        point = ds.isel(dict(zip(grid.names, index, strict=True)))
        assert point.n_component.values.tolist() == sums["vc_n"].tolist()
        assert point.n_component_undefined.values.tolist() == sums["vc_n_undefined"].tolist()
        ok = r.converged
        defined = ~np.isnan(r.components[ok])
        # the direct computation: each component's mean over the fits that define it
        direct = [r.components[ok][defined[:, j], j].mean() for j in range(len(names))]
        np.testing.assert_allclose(point.mean_component.values, direct, rtol=0, atol=2.0**-24)
        np.testing.assert_array_equal(point.mean_component.values,
                                      sums["vc_sum"] * 2.0**-24 / sums["vc_n"])
    # what xr.open_zarr shows is what open_results computes from the totals
    with xr.open_zarr(path) as raw:
        xr.testing.assert_identical(summaries(raw.load()), summaries(store.open_results(path)))
        assert raw.mean_component.attrs["long_name"] == "mean variance-component estimate"
        assert raw.component.attrs["long_name"] == "variance component of the fitted model"


def test_chunk_size_does_not_change_components(reference, dask_client, tmp_path) -> None:
    ds = sweep(make_model(), GRID, sample_size=240, chunk_size=40, out=tmp_path / "s.zarr",
               cluster=dask_client, progress=False)
    xr.testing.assert_identical(summaries(ds), summaries(reference[0]))


def test_one_worker_process_equals_two_threads(reference) -> None:
    ds = sweep(make_model(), GRID, sample_size=240, chunk_size=11, workers=1, progress=False)
    assert json.loads(ds.attrs["last_run"])["workers"] == 1
    xr.testing.assert_identical(summaries(ds), summaries(reference[0]))


def test_resume_after_losing_points_gives_identical_components(reference, dask_client,
                                                               tmp_path) -> None:
    """A run killed before its last flush: some points' totals are as of an earlier flush."""
    import shutil

    ds, path = reference
    copy = tmp_path / "killed.zarr"
    shutil.copytree(path, copy)
    group = zarr.open_group(str(copy), mode="r+")
    totals = group[store.TOTALS][...]
    totals[0, 1] = 0  # a point with nothing flushed
    totals[1, 0] = 0
    group[store.TOTALS][...] = totals
    resumed = sweep(make_model(), GRID, sample_size=240, out=copy, resume=True,
                    cluster=dask_client, progress=False)
    stats = json.loads(resumed.attrs["last_run"])
    assert stats["chunks_run"] == 2 * 6 and stats["chunks_skipped"] == 2 * 6
    xr.testing.assert_identical(summaries(resumed), summaries(ds))
