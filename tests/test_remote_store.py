"""Stores that are not local directories: fsspec URLs and zarr store objects.

Every read and write goes through zarr, so a sweep, a resume, ``open_results``,
``xr.open_zarr`` and the CLI's ``table`` / ``info`` work on an fsspec ``memory://`` store
(the driver is the only writer, so an in-process memory store is enough).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import numpy as np
import pytest
import xarray as xr
import zarr
from click.testing import CliRunner

from mcpower_sweep import MCPower
from mcpower_sweep.cli import main
from mcpower_sweep.sweeps import location, store
from mcpower_sweep.sweeps.preflight import StoreExistsError
from mcpower_sweep.sweeps.run import sweep

SEED = 20261127
GRID = {"n_clusters": [8, 16], "sample_size": [160, 240]}
COUNTS = ["n_sims", "n_success", "n_singular", "n_significant", "n_significant_corrected",
          "bias", "coverage", "mean_component", "bias_component", "complete"]


def make_model() -> MCPower:
    return (MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=8)
            .set_effects("x=0.4").set_simulations(30).set_seed(SEED))


def counts(ds: xr.Dataset) -> xr.Dataset:
    return ds[COUNTS].drop_attrs()


def memory_url() -> str:
    return f"memory://mcpower-test-{uuid.uuid4().hex}.zarr"


@pytest.fixture(scope="module")
def local(dask_client, tmp_path_factory) -> xr.Dataset:
    out = tmp_path_factory.mktemp("local") / "s.zarr"
    return sweep(make_model(), GRID, chunk_size=10, out=out, cluster=dask_client,
                 progress=False)


@pytest.fixture(scope="module")
def remote(dask_client) -> tuple[str, xr.Dataset]:
    url = memory_url()
    return url, sweep(make_model(), GRID, chunk_size=10, out=url, cluster=dask_client,
                      progress=False)


def test_locations() -> None:
    assert location.local_path("file:///tmp/a.zarr").as_posix() == "/tmp/a.zarr"
    assert location.local_path(zarr.storage.LocalStore("/tmp/b.zarr")).as_posix() == "/tmp/b.zarr"
    assert location.local_path("memory://a.zarr") is None
    assert location.local_path(zarr.storage.MemoryStore()) is None
    assert location.zarr_store("~/a.zarr").endswith("/a.zarr")  # expanded


def test_sweep_into_a_memory_url_equals_a_local_store(remote, local) -> None:
    url, ds = remote
    xr.testing.assert_identical(counts(ds), counts(local))
    xr.testing.assert_identical(counts(store.open_results(url)), counts(local))
    with xr.open_zarr(url) as raw:  # the store is the results dataset
        assert raw.power.dims == ("n_clusters", "sample_size", "test")
        assert raw.power.attrs["long_name"] == "power"
        np.testing.assert_array_equal(raw.power.values, local.power.values)
    assert store.read_attrs(url)["seed"] == SEED and store.done_mask(url).all()


def test_resume_of_a_memory_store_runs_only_the_missing_chunks(remote, local,
                                                               dask_client) -> None:
    url, _ = remote
    copy = memory_url()
    source = zarr.open_group(url, mode="r").store
    target = zarr.open_group(copy, mode="w").store

    async def copy_all() -> None:  # key by key, through zarr's store API
        proto = zarr.core.buffer.default_buffer_prototype()
        async for key in source.list():
            await target.set(key, await source.get(key, prototype=proto))

    asyncio.run(copy_all())
    group = zarr.open_group(copy, mode="r+")
    totals = group[store.TOTALS][...]
    totals[1, 0] = 0  # as if the run was killed before this point's first flush
    group[store.TOTALS][...] = totals
    assert int(store.done_mask(copy).sum()) == 3 * 3
    with pytest.raises(StoreExistsError):
        sweep(make_model(), GRID, out=copy, cluster=dask_client, progress=False)
    resumed = sweep(make_model(), GRID, out=copy, resume=True, cluster=dask_client,
                    progress=False)
    stats = json.loads(resumed.attrs["last_run"])
    assert (stats["chunks_run"], stats["chunks_skipped"]) == (3, 9)
    xr.testing.assert_identical(counts(resumed), counts(local))
    replaced = sweep(make_model(), GRID, out=copy, overwrite=True, chunk_size=30,
                     cluster=dask_client, progress=False)
    assert replaced.attrs["chunk_size"] == 30
    xr.testing.assert_identical(counts(replaced), counts(local))


def test_a_zarr_store_object(local, dask_client) -> None:
    memory = zarr.storage.MemoryStore()
    ds = sweep(make_model(), GRID, chunk_size=10, out=memory, cluster=dask_client,
               progress=False)
    xr.testing.assert_identical(counts(ds), counts(local))
    xr.testing.assert_identical(counts(store.open_results(memory)), counts(local))


def test_file_url_is_a_local_store(local, dask_client, tmp_path) -> None:
    url = f"file://{tmp_path}/f.zarr"
    ds = sweep(make_model(), GRID, chunk_size=10, out=url, cluster=dask_client,
               progress=False)
    assert (tmp_path / "f.zarr" / "zarr.json").is_file()
    xr.testing.assert_identical(counts(ds), counts(local))
    xr.testing.assert_identical(counts(store.open_results(url)), counts(local))


def test_cli_table_and_info_read_a_memory_store(remote) -> None:
    url, ds = remote
    result = CliRunner().invoke(main, ["info", url])
    assert result.exit_code == 0, result.output
    assert url in result.output and "4/4 design points" in result.output
    result = CliRunner().invoke(main, ["table", url])
    assert result.exit_code == 0, result.output
    assert "n_clusters" in result.output
    missing = CliRunner().invoke(main, ["info", memory_url()])
    assert missing.exit_code != 0 and "not a results store" in missing.output


def test_cli_run_into_a_url(tmp_path, monkeypatch) -> None:
    """``run --out URL``: no local directory is made, the store is at the URL."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(
        "model:\n  formula: \"y ~ x + (1|g)\"\n  effects: {x: 0.4}\n"
        "  cluster: {grouping: g, ICC: 0.2, n_clusters: 8}\n"
        "simulations: 20\nseed: 7\nchunk_size: 10\nsweep:\n  sample_size: [160, 240]\n")
    url = memory_url()
    result = CliRunner().invoke(main, ["run", str(tmp_path / "tiny.yaml"), "--out", url,
                                       "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"Results: {url} (2/2 design points complete" in result.output  # as given
    assert store.done_mask(url).all() and store.read_attrs(url)["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]
