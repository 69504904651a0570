"""The zarr results store: the results dataset, the totals behind it, flushes."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import xarray as xr
import zarr

from mcpower_sweep.api.model import MCPower
from mcpower_sweep.reports.status import store_info
from mcpower_sweep.stats import wilson_interval
from mcpower_sweep.sweeps import store
from mcpower_sweep.sweeps import writer as store_writer
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
    store_writer.ChunkWriter.open(path).write(
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
    """The store is the results dataset: derived variables with CF attrs, and the totals."""
    ds = xr.open_zarr(path)
    assert ds.power.dims == ("n_clusters", "df_method", "test")
    assert ds.n_sims.dims == ("n_clusters", "df_method") and ds.n_sims.dtype == np.int64
    assert ds.complete.dtype == bool and not ds.complete.any()
    assert ds.power.attrs["long_name"] == "power" and ds.power.attrs["units"] == "1"
    assert ds.totals.dims == ("n_clusters", "df_method", "field")
    fields = [str(f) for f in ds.field.values]
    assert fields[:6] == [
        "chunks_done", "n_sims", "n_success", "n_singular", "n_significant[x]",
        "n_significant[z]"]
    components = ["sigma2", "var_(Intercept)|g", "var_x|g", "corr_(Intercept),x|g"]
    assert fields == list(store.fields_for(["x", "z"], components))
    assert "n_significant_corrected[holm,z]" in fields and "sum_sq_error[x]" in fields
    assert "vc_sum_sq_error[var_x|g]" in fields and fields[-1] == "vc_n_undefined[" + \
        components[-1] + "]"
    assert ds.component.values.tolist() == components
    assert ds.mean_component.dims == ("n_clusters", "df_method", "component")
    assert ds.bias_component.attrs["long_name"] == "bias of the variance-component estimate"
    assert int(ds.totals.sum()) == 0
    assert ds.attrs["store_layout"] == store.STORE_LAYOUT


def test_totals_are_one_plain_zarr_chunk_per_block(path) -> None:
    group = zarr.open_group(str(path), mode="r")
    n_fields = len(store.fields_for(["x", "z"], ["sigma2", "v1", "v2", "c12"]))
    assert group["totals"].chunks == (2, 3, n_fields)  # the whole (small) grid in one block
    assert group["totals"].compressors == ()


def test_write_then_done_chunks(path) -> None:
    write(path, (1, 2), 0, 7, 7, 0, [3, 1])
    write(path, (1, 2), 1, 7, 6, 1, [4, 0])
    done = store.done_mask(path)
    assert done.shape == (2, 3, 5) and int(done.sum()) == 2
    assert done[1, 2, :2].all()
    raw = xr.open_zarr(path)
    point = raw.sel(n_clusters=20, df_method="residual")
    assert point.totals.values.tolist()[:6] == [2, 14, 13, 1, 7, 1]
    assert not point.totals.values[6:].any()  # records of counts only: no tallies
    assert point.n_significant.values.tolist() == [7, 1]  # the derived variables, flushed
    files = [p for p in (path / "totals").rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["0", "zarr.json"]  # one file for the block


def test_chunks_enter_the_totals_in_order(path) -> None:
    """A chunk that finishes before an earlier one waits in memory (not yet done)."""
    writer = store_writer.ChunkWriter.open(path)
    rec = functools.partial(store_writer.ChunkRecord, (0, 0), n_sims=7, n_success=7, n_singular=0,
                            n_significant=np.array([1, 1]))
    writer.write_many([rec(k=1), rec(k=2)])
    assert int(store.done_mask(path).sum()) == 0 and writer.held
    writer.write_many([rec(k=0)])
    assert int(store.done_mask(path).sum()) == 3 and not writer.held
    writer.write_many([rec(k=1)])  # delivered twice: counted once
    assert int(store.open_results(path).n_sims.sel(n_clusters=10, df_method="satterthwaite")) == 21


def test_read_counts_agrees_with_open_results(path) -> None:
    """`info` reads the base counts through zarr alone; they are open_results' numbers."""
    write(path, (1, 2), 0, 7, 5, 1, [3, 1])
    write(path, (0, 1), 0, 7, 7, 0, [4, 0])
    write(path, (0, 1), 1, 7, 6, 2, [2, 2])
    counts, ds = store.read_counts(path), store.open_results(path)
    for name in ("n_sims", "n_success", "n_singular"):
        assert counts[name].tolist() == ds[name].values.tolist()
    assert counts["done"].tolist() == store.done_mask(path).tolist()
    assert counts["done"].all(axis=-1).tolist() == ds.complete.values.tolist()
    assert counts["tests"] == ["x", "z"] and counts["attrs"] == dict(ds.attrs)


def test_blocks_span_trailing_axes() -> None:
    assert store.block_shape((3, 1000, 10)) == (1, 409, 10)
    assert store.block_shape((2, 3)) == (2, 3)
    assert store.block_shape(()) == ()


def test_open_results_derives_power_and_rates(path) -> None:
    for k in range(4):
        write(path, (0, 1), k, 7, 6, 1, [k + 2, 1])
    write(path, (0, 1), 4, 2, 1, 0, [1, 0])
    ds = store.open_results(path)
    assert list(ds.dims)[:3] == ["n_clusters", "df_method", "test"]  # the grid's order
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
    assert ds.attrs == {**ATTRS, "store_layout": store.STORE_LAYOUT}


def test_layout_2_store_opens_without_tallies_and_does_not_resume(
        tmp_path, grid, monkeypatch) -> None:
    """A store of totals without the tallies (store_layout 2) opens; resuming is refused."""
    old = tmp_path / "layout2.zarr"
    with monkeypatch.context() as m:
        m.setattr(store, "STORE_LAYOUT", 2)
        m.setattr(store, "fields_for",
                  lambda tests, components=(): (*store.BASE_FIELDS,
                                                 *(f"n_significant[{t}]" for t in tests)))
        store.create_store(old, grid, simulations=30, chunk_size=7, attrs=ATTRS)
        store_writer.ChunkWriter.open(old).write(
            (0, 0), 0, n_sims=7, n_success=6, n_singular=0, n_significant=np.array([3, 1]))
    ds = store.open_results(old)
    assert ds.n_significant.values[0, 0].tolist() == [3, 1]
    assert "bias" not in ds and "power_corrected" not in ds and "correction" not in ds.dims
    assert ds.attrs["store_layout"] == 2
    with pytest.raises(store.OldLayoutError, match="store_layout 2.*--overwrite"):
        store_writer.ChunkWriter.open(old)


def test_old_layout_opens_but_does_not_resume(tmp_path) -> None:
    """A store of the earlier layout (per-chunk variables) still opens; resuming is refused."""
    old = tmp_path / "old.zarr"
    raw = xr.Dataset(
        {
            "chunk_n_sims": (("n_clusters", "chunk"), np.array([[7, 3]])),
            "chunk_n_success": (("n_clusters", "chunk"), np.array([[7, 2]])),
            "chunk_n_singular": (("n_clusters", "chunk"), np.array([[1, 0]])),
            "chunk_n_significant": (("n_clusters", "chunk", "test"), np.array([[[5], [2]]])),
            "chunk_done": (("n_clusters", "chunk"), np.array([[True, False]])),
        },
        coords={"n_clusters": [10], "test": np.array(["x"], dtype=object)},
        attrs={"simulations": 10, "chunk_size": 7},
    )
    raw.to_zarr(old, zarr_format=3, consolidated=False)
    ds = store.open_results(old)
    assert ds.n_sims.values.tolist() == [7] and ds.n_significant.values.tolist() == [[5]]
    assert ds.complete.values.tolist() == [False]
    assert store.done_mask(old).tolist() == [[True, False]]
    assert store.read_counts(old) is None  # `info` reads it through open_results
    info = store_info(str(old))  # the done chunk's counts only
    assert "1/2 chunks, 0/1 design points, 7/10 simulations" in info
    assert "0 failed (0.00%, worst point 0.0%), 1 singular" in info
    with pytest.raises(store.OldLayoutError, match="--overwrite / overwrite=True"):
        store_writer.ChunkWriter.open(old)


def test_create_refuses_existing(path, grid) -> None:
    with pytest.raises(FileExistsError):
        store.create_store(path, grid, simulations=30, chunk_size=7, attrs={})


def test_open_results_rejects_other_paths(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a results store"):
        store.open_results(tmp_path / "missing.zarr")
    xr.Dataset({"a": ("x", [1, 2])}).to_zarr(
        tmp_path / "other.zarr", zarr_format=3, consolidated=False
    )
    with pytest.raises(ValueError, match="missing totals"):
        store.open_results(tmp_path / "other.zarr")


def test_read_attrs(path) -> None:
    assert store.read_attrs(path) == {**ATTRS, "store_layout": store.STORE_LAYOUT}
    assert store.is_store(path) and not store.is_store(path.parent)


def test_flushes_are_never_further_apart_than_the_cap() -> None:
    """A slow flush spaces the next ones out, but a kill never loses more than the cap."""
    import time

    w = store_writer.ChunkWriter(root="x", group=None, totals=np.zeros(1), n_tests=1,
                                 n_chunks=1, block=(1,), flush_seconds=100.0, flushes=2)
    cap = store_writer.FLUSH_MAX_SECONDS
    w.last_flush = time.monotonic() - cap + 1.0
    assert not w.due()
    w.last_flush = time.monotonic() - cap - 0.01
    assert w.due()


def test_derived_results_follow_the_totals_every_few_seconds(path) -> None:
    """During a run a flush writes the totals, and the derived results at most every
    RESULTS_SECONDS; a final flush (end, stop) writes both."""
    writer = store_writer.ChunkWriter.open(path)
    rec = functools.partial(store_writer.ChunkRecord, (0, 0), n_sims=7, n_success=7,
                            n_singular=0, n_significant=np.array([1, 1]))

    def derived_n_sims() -> int:
        return int(zarr.open_group(str(path), mode="r")["n_sims"][0, 0])

    writer.add([rec(k=0)])
    writer.flush(final=False)  # the first: results written
    writer.add([rec(k=1)])
    writer.flush(final=False)  # too soon: totals only
    assert int(store.open_results(path).n_sims[0, 0]) == 14 and derived_n_sims() == 7
    writer.last_results -= store_writer.RESULTS_SECONDS
    writer.flush(final=False)
    assert derived_n_sims() == 14
    writer.add([rec(k=2)])
    writer.flush()
    assert derived_n_sims() == 21
    derived, exact = xr.open_zarr(path).load(), store.open_results(path)
    for name in ("n_sims", "power", "power_lower", "complete"):
        assert derived[name].equals(exact[name])
