"""The zarr results store: layout, chunk writes, done flags, derived results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
import zarr

from mcpower_sweep.api.model import MCPower
from mcpower_sweep.stats import wilson_interval
from mcpower_sweep.sweeps import store
from mcpower_sweep.sweeps.grid import Grid

ATTRS = {"seed": 7, "simulations": 30, "chunk_size": 7, "grid": json.dumps({"x": [1]})}


@pytest.fixture
def grid() -> Grid:
    spec = (
        MCPower("y ~ x + z + (1 + x|g)")
        .set_cluster("g", ICC=0.1, n_clusters=10, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.3, z=0.2")
        .to_spec(1000)
    )
    return Grid(spec, {"n_clusters": [10, 20], "df_method": ["satterthwaite", "z", "residual"]})


@pytest.fixture
def path(tmp_path, grid):
    out = tmp_path / "results.zarr"
    store.create_store(out, grid, simulations=30, chunk_size=7, attrs=ATTRS)
    return out


def write(path, index, k, n_sims, n_success, n_singular, n_significant):
    store.ChunkWriter.open(path).write(
        index,
        k,
        n_sims=n_sims,
        n_success=n_success,
        n_singular=n_singular,
        n_significant=np.asarray(n_significant),
    )


def test_chunk_bounds_cover_all_simulations() -> None:
    assert store.n_chunks_for(30, 7) == 5
    bounds = [store.chunk_bounds(k, 30, 7) for k in range(5)]
    assert bounds == [(0, 7), (7, 7), (14, 7), (21, 7), (28, 2)]
    assert store.n_chunks_for(30, 30) == 1 and store.chunk_bounds(0, 30, 30) == (0, 30)


def test_layout_seen_by_open_zarr(path) -> None:
    ds = xr.open_zarr(path)
    assert dict(ds.sizes) == {"n_clusters": 2, "df_method": 3, "chunk": 5, "test": 2}
    assert ds.chunk_n_significant.dims == ("n_clusters", "df_method", "chunk", "test")
    assert ds.chunk_done.dims == ("n_clusters", "df_method", "chunk")
    assert ds.chunk_n_sims.dtype == np.int64 and ds.chunk_done.dtype == bool
    assert list(ds.n_clusters.values) == [10, 20]
    assert [str(v) for v in ds.df_method.values] == ["satterthwaite", "z", "residual"]
    assert [str(v) for v in ds.test.values] == ["x", "z"]
    assert ds.n_clusters.attrs["description"] == "number of clusters"
    assert ds.n_clusters.attrs["units"] == "clusters"
    assert "[k*7, min((k+1)*7, 30))" in ds["chunk"].attrs["description"]
    assert ds.chunk_n_success.attrs["units"] == "simulations"
    assert ds.attrs == ATTRS
    # nothing written yet: zero counts, nothing done
    assert int(ds.chunk_n_sims.sum()) == 0 and not ds.chunk_done.any()


def test_each_chunk_is_its_own_zarr_chunk(path) -> None:
    group = zarr.open_group(str(path), mode="r")
    assert group["chunk_n_sims"].chunks == (1, 1, 1)
    assert group["chunk_done"].chunks == (1, 1, 1)
    assert group["chunk_n_significant"].chunks == (1, 1, 1, 2)
    assert group["chunk_n_sims"].compressors == ()
    assert group.metadata.zarr_format == 3


def test_write_then_done_flag(path) -> None:
    write(path, (1, 2), 4, 2, 2, 1, [1, 0])
    write(path, (0, 0), 0, 7, 6, 0, [5, 3])
    done = store.done_mask(path)
    assert done.shape == (2, 3, 5)
    assert np.argwhere(done).tolist() == [[0, 0, 0], [1, 2, 4]]
    raw = xr.open_zarr(path)
    assert raw.chunk_n_significant.sel(n_clusters=10, df_method="satterthwaite").values[
        0
    ].tolist() == [5, 3]
    chunk_files = sorted(p.name for p in (path / "chunk_done" / "c" / "1" / "2").iterdir())
    assert chunk_files == ["4"]  # one object per chunk flag


def test_open_results_derives_power_and_rates(path) -> None:
    for k in range(4):
        write(path, (0, 1), k, 7, 6, 1, [k + 2, 1])
    write(path, (0, 1), 4, 2, 1, 0, [1, 0])
    ds = store.open_results(path)
    assert list(ds.dims) == ["n_clusters", "df_method", "test"]  # the grid's order
    assert ds.power.dims == ("n_clusters", "df_method", "test")
    assert "chunk" not in ds.coords and not any(v.startswith("chunk_") for v in ds.data_vars)
    point = ds.sel(n_clusters=10, df_method="z")
    assert int(point.n_sims) == 30 and int(point.n_success) == 25
    assert int(point.n_failed) == 5 and int(point.n_singular) == 4
    assert point.n_significant.values.tolist() == [2 + 3 + 4 + 5 + 1, 4]
    assert point.power.sel(test="x") == pytest.approx(15 / 25)
    lower, upper = wilson_interval(15, 25)
    assert float(point.power_lower.sel(test="x")) == pytest.approx(lower)
    assert float(point.power_upper.sel(test="x")) == pytest.approx(upper)
    assert float(point.failure_rate) == pytest.approx(5 / 30)
    assert float(point.singular_rate) == pytest.approx(4 / 25)
    assert bool(point.complete)
    assert ds.complete.sum() == 1
    # points never run: NaN power, zero counts
    other = ds.sel(n_clusters=20, df_method="z")
    assert int(other.n_sims) == 0 and np.isnan(other.power).all()
    assert np.isnan(other.power_lower).all() and np.isnan(other.failure_rate)
    assert ds.power.attrs["units"] == "1" and "Wilson" in ds.power_lower.attrs["description"]
    assert ds.n_clusters.attrs["units"] == "clusters"
    # the one results schema: CF attrs, so ds.power.plot() labels itself
    assert ds.power.attrs["long_name"] == "power"
    assert ds.n_clusters.attrs["long_name"] == "number of clusters"
    assert ds.df_method.dtype.kind == "U" and ds.test.dtype.kind == "U"
    assert ds.attrs == ATTRS


def test_counts_without_done_flag_are_ignored(path) -> None:
    """A chunk killed between its counts and its flag counts for nothing."""
    group = zarr.open_group(str(path), mode="r+")
    group["chunk_n_sims"][0, 0, 0] = 7
    group["chunk_n_success"][0, 0, 0] = 7
    group["chunk_n_significant"][0, 0, 0] = [7, 7]
    ds = store.open_results(path)
    assert int(ds.n_sims.sum()) == 0 and int(ds.n_significant.sum()) == 0


def test_create_refuses_existing(path, grid) -> None:
    with pytest.raises(FileExistsError):
        store.create_store(path, grid, simulations=30, chunk_size=7, attrs={})


def test_open_results_rejects_other_paths(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a results store"):
        store.open_results(tmp_path / "missing.zarr")
    xr.Dataset({"a": ("x", [1, 2])}).to_zarr(
        tmp_path / "other.zarr", zarr_format=3, consolidated=False
    )
    with pytest.raises(ValueError, match="missing chunk_n_sims"):
        store.open_results(tmp_path / "other.zarr")


def test_read_attrs(path) -> None:
    assert store.read_attrs(path) == ATTRS
    assert store.is_store(path) and not store.is_store(path.parent)
