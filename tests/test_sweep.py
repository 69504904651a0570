"""Sweeps on real Dask clusters into real zarr stores: reproducibility, resume, refusals.

Counts must be bit-identical whatever the chunk size, the number of workers, the
scheduler (LocalCluster or a standalone ``dask scheduler`` + ``dask worker``) and
whether the run was interrupted and resumed.
"""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from distributed import Client, LocalCluster

from mcpower_sweep import engine
from mcpower_sweep.api.model import MCPower
from mcpower_sweep.results import tally
from mcpower_sweep.sweeps import store
from mcpower_sweep.sweeps.grid import Grid
from mcpower_sweep.sweeps.health import task_failed
from mcpower_sweep.sweeps.lock import StoreLockedError, store_lock
from mcpower_sweep.sweeps.plan import (
    Plan,
    calibrate_chunk_size,
    calibrate_task_sims,
    identity_differences,
)
from mcpower_sweep.sweeps.preflight import DestinationError, StoreExistsError, StoreMismatchError
from mcpower_sweep.sweeps.run import _workers_skip_main, sweep

SEED = 20240611
# Counts, the tallies (corrections, at least k) and the estimate summaries derived from
# the fixed-point sums: all bit-identical whatever the chunking, workers or resume.
COUNTS = ["n_sims", "n_success", "n_singular", "n_significant", "n_significant_corrected",
          "n_at_least", "mean_estimate", "bias", "sd_estimate", "rmse", "mean_se",
          "mean_half_width", "mean_df", "n_covered", "n_out_of_range"]
GRID = {"n_clusters": [10, 20], "sample_size": [1000, 600]}


def make_model(simulations: int = 30) -> MCPower:
    """10 clusters × 100 observations, a random slope, two tested effects."""
    return (
        MCPower("y ~ x + z + (1 + x|school)")
        .set_cluster("school", ICC=0.1, n_clusters=10, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.4, z=0.2")
        .set_simulations(simulations)
        .set_seed(SEED)
    )


def counts(ds: xr.Dataset) -> xr.Dataset:
    return ds[COUNTS]


def assert_same_counts(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(counts(a).drop_attrs(), counts(b).drop_attrs())


@pytest.fixture
def client(dask_client: Client) -> Client:
    """The session's in-process cluster: these tests need a cluster, not its processes."""
    return dask_client


@pytest.fixture(scope="module")
def tcp_client() -> Iterator[Client]:
    """An in-process cluster listening on TCP, for driver subprocesses to connect to."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                     host="127.0.0.1", dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def reference(dask_client, tmp_path_factory) -> xr.Dataset:
    """The grid at 120 simulations, chunks of 40, two workers."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    return sweep(make_model(120), GRID, chunk_size=40, out=out, cluster=dask_client,
                 progress=False)


# ---------------------------------------------------------------------- correctness
def test_point_equals_engine_and_find_power(client, tmp_path) -> None:
    model = make_model(30)
    ds = sweep(model, GRID, chunk_size=7, out=tmp_path / "s.zarr", cluster=client, progress=False)
    assert bool(ds.complete.all())
    assert int(ds.n_sims.min()) == 30
    grid = Grid(model.to_spec(1000), GRID)
    for index, spec in grid.points():
        expected = engine.count_chunk(engine.run_chunk(spec, SEED, 0, 30), spec.alpha,
                                      spec.effects)
        point = ds.isel(dict(zip(grid.names, index, strict=True)))
        assert int(point.n_sims) == expected.n_sims
        assert int(point.n_success) == expected.n_success
        assert int(point.n_singular) == expected.n_singular
        assert point.n_significant.values.tolist() == expected.n_significant.tolist()
        assert (point.n_significant_corrected.values == expected.n_corrected).all()
        assert (point.n_at_least.values == expected.n_at_least).all()
        sums = dict(zip(tally.ESTIMATE_FIELDS, expected.estimate_sums, strict=True))
        assert point.n_covered.values.tolist() == sums["n_covered"].tolist()
        np.testing.assert_array_equal(
            point.bias.values, sums["sum_error"] * 2.0**-24 / expected.n_success)
    # the same parameters and seed through the tutorial API
    result = (
        MCPower("y ~ x + z + (1 + x|school)")
        .set_cluster("school", ICC=0.1, n_clusters=20, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.4, z=0.2")
        .set_simulations(30)
        .set_seed(SEED)
        .find_power(600, print_results=False)
    )
    point = ds.sel(n_clusters=20, sample_size=600)
    assert int(point.n_success) == result.n_success
    for test in ("x", "z"):
        assert float(point.power.sel(test=test)) == result.power[test]
    mine = result.to_xarray()  # the family is every test in both
    for name in ("power_corrected", "power_at_least", "bias", "rmse", "coverage", "mean_df"):
        np.testing.assert_array_equal(point[name].values, mine[name].values, err_msg=name)


def test_chunk_size_does_not_change_counts(client, reference, tmp_path) -> None:
    ds = sweep(
        make_model(120), GRID, chunk_size=7, out=tmp_path / "s.zarr", cluster=client, progress=False
    )
    assert ds.attrs["chunk_size"] == 7 and reference.attrs["chunk_size"] == 40
    assert_same_counts(ds, reference)


def test_one_worker_equals_two_and_prints_dashboard(reference, capsys) -> None:
    """A cluster the run starts itself (one worker); its dashboard address is printed."""
    ds = sweep(make_model(120), GRID, chunk_size=40, workers=1, progress=True)
    assert json.loads(ds.attrs["last_run"])["workers"] == 1
    assert_same_counts(ds, reference)
    err = capsys.readouterr().err
    assert "Dask dashboard: http://" in err
    assert "sim" in err  # the progress bar


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def standalone_scheduler(tmp_path) -> Iterator[str]:
    """`dask scheduler` + one `dask worker` on 127.0.0.1, as subprocesses; stopped after."""
    scheduler_file = tmp_path / "scheduler.json"
    log = (tmp_path / "dask.log").open("w")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(scheduler_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                pytest.fail("dask scheduler did not start:\n" + (tmp_path / "dask.log").read_text())
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dask",
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--dashboard-address",
                    ":0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        log.close()


def test_standalone_scheduler_equals_local_cluster(standalone_scheduler, reference, capsys):
    ds = sweep(
        make_model(120), GRID, chunk_size=40, cluster=standalone_scheduler, workers=1, progress=True
    )
    assert_same_counts(ds, reference)
    assert "Dask dashboard" not in capsys.readouterr().err  # it started no cluster


# ------------------------------------------------------------------- interruption
DRIVER = textwrap.dedent(
    """
    import pickle, sys
    from mcpower_sweep.sweeps.run import _workers_skip_main, sweep

    def main():
        with open(sys.argv[1], "rb") as f:
            spec, grid, options = pickle.load(f)
        sweep(spec, grid, **options)

    if __name__ == "__main__":
        main()
    """
)


def _start_driver(tmp_path: Path, spec, grid, **options) -> subprocess.Popen:
    (tmp_path / "driver.py").write_text(DRIVER)
    with (tmp_path / "args.pkl").open("wb") as f:
        pickle.dump((spec, grid, options), f)
    return subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "args.pkl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_chunks(path: Path, proc: subprocess.Popen, at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"driver ended before it was interrupted:\n{proc.stderr.read()}")
        if store.is_store(path) and (path / "totals" / "zarr.json").exists():
            done = int(store.done_mask(path).sum())
            if done >= at_least:
                return done
        time.sleep(0.02)
    pytest.fail("driver made no progress")


def _interrupt_case(client):
    spec = make_model().to_spec(1000)
    grid = {"slope_variance": [0.0, 0.1]}
    options = dict(
        simulations=20000,
        seed=SEED,
        chunk_size=250,
        progress=False,
        cluster=client.scheduler.address,
    )
    return spec, grid, options


@pytest.fixture(scope="module")
def uninterrupted(tcp_client) -> xr.Dataset:
    spec, grid, options = _interrupt_case(tcp_client)
    return sweep(spec, grid, **{**options, "cluster": tcp_client})


def test_sigkill_then_resume_is_identical(tcp_client, uninterrupted, tmp_path) -> None:
    """The driver is killed mid-run; a resumed run completes the store bit-identically."""
    client = tcp_client
    spec, grid, options = _interrupt_case(client)
    path = tmp_path / "killed.zarr"
    proc = _start_driver(tmp_path, spec, grid, out=str(path), **options)
    try:
        _wait_for_chunks(path, proc, at_least=4)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    total = 2 * 80
    done_at_kill = int(store.done_mask(path).sum())
    assert 4 <= done_at_kill < total, "the run was not interrupted mid-way"

    resumed = sweep(spec, grid, out=path, resume=True, **{**options, "cluster": client})
    stats = json.loads(resumed.attrs["last_run"])
    assert stats["chunks_skipped"] == done_at_kill
    assert stats["chunks_run"] == total - done_at_kill
    assert bool(resumed.complete.all())
    assert_same_counts(resumed, uninterrupted)


@pytest.mark.slow
def test_sigint_saves_arrived_chunks_and_says_how_to_resume(
    tcp_client, uninterrupted, tmp_path
) -> None:
    client = tcp_client
    spec, grid, options = _interrupt_case(client)
    path = tmp_path / "stopped.zarr"
    proc = _start_driver(tmp_path, spec, grid, out=str(path), **options)
    _wait_for_chunks(path, proc, at_least=4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert "resume=True" in err and str(path) in err
    done = store.done_mask(path)
    assert 4 <= int(done.sum()) < done.size
    # the totals hold exactly the done chunks
    raw = xr.open_zarr(path)
    assert (raw.totals.sel(field="n_sims").values == 250 * done.sum(-1)).all()
    resumed = sweep(spec, grid, out=path, resume=True, **{**options, "cluster": client})
    assert_same_counts(resumed, uninterrupted)


# ------------------------------------------------------------------------ the store
def test_open_zarr_shows_dims_coords_and_provenance(client, tmp_path) -> None:
    path = tmp_path / "s.zarr"
    sweep(
        make_model(30),
        GRID,
        chunk_size=10,
        out=path,
        cluster=client,
        progress=False,
        scenario_text="name: test\n",
        target_power=0.9,
    )
    ds = xr.open_zarr(path)
    assert ds.power.dims == ("n_clusters", "sample_size", "test")
    assert ds.power.attrs["long_name"] == "power" and ds.power_lower.attrs["units"] == "1"
    assert ds.totals.dims == ("n_clusters", "sample_size", "field")
    assert list(ds.n_clusters.values) == [10, 20] and list(ds.sample_size.values) == [1000, 600]
    assert [str(t) for t in ds.test.values] == ["x", "z"]
    assert ds.sample_size.attrs == {
        "long_name": "total number of observations N",
        "description": "total number of observations N",
        "units": "observations",
    }
    attrs = ds.attrs
    assert attrs["seed"] == SEED and attrs["simulations"] == 30 and attrs["chunk_size"] == 10
    assert attrs["formula"] == "y ~ x + z + (1 + x|school)"
    assert attrs["alpha"] == 0.05 and attrs["df_method"] == "satterthwaite"
    assert attrs["estimator"] == "reml" and attrs["target_power"] == 0.9
    assert attrs["scenario"] == "name: test\n"
    assert json.loads(attrs["grid"]) == GRID
    base = json.loads(attrs["base_params"])
    assert base["effects"] == {"x": 0.4, "z": 0.2} and base["slope_variance"] == 0.1
    assert attrs["package_version"] and attrs["engine_version"] and attrs["created"]
    assert len(attrs["spec_hash"]) == 16
    results = store.open_results(path)
    assert set(results.dims) == {"n_clusters", "sample_size", "test", "correction", "k",
                                 "component"}
    assert results.attrs["seed"] == SEED
    # what open_zarr shows is what open_results derives (written at the end of the run)
    for name in results.data_vars:
        np.testing.assert_array_equal(ds[name].values, results[name].values, err_msg=name)


def test_existing_store_needs_resume_or_overwrite(client, tmp_path) -> None:
    path = tmp_path / "s.zarr"
    first = sweep(make_model(30), GRID, chunk_size=10, out=path, cluster=client, progress=False)
    with pytest.raises(StoreExistsError) as info:
        sweep(make_model(30), GRID, chunk_size=10, out=path, cluster=client, progress=False)
    assert isinstance(info.value, FileExistsError) and info.value.path == path
    assert "--resume / resume=True" in str(info.value)
    assert "--overwrite / overwrite=True" in str(info.value)
    again = sweep(make_model(30), GRID, out=path, cluster=client, progress=False, resume=True)
    assert json.loads(again.attrs["last_run"])["chunks_run"] == 0  # all done: nothing to run
    assert again.attrs["chunk_size"] == 10  # taken from the store, not recalibrated
    assert_same_counts(first, again)
    replaced = sweep(
        make_model(30),
        {"n_clusters": [10], "sample_size": [1000]},
        chunk_size=30,
        out=path,
        cluster=client,
        progress=False,
        overwrite=True,
    )
    assert dict(replaced.sizes) == {"n_clusters": 1, "sample_size": 1, "test": 2,
                                    "correction": 4, "k": 2, "component": 4}
    assert replaced.n_significant.values.tolist() == first.n_significant.values[:1, :1].tolist()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"seed": SEED + 1}, ["seed", str(SEED), str(SEED + 1)]),
        ({"simulations": 40}, ["simulations", "30", "40"]),
        ({"chunk_size": 5}, ["chunk size", "10", "5"]),
        ({"grid": {"n_clusters": [10, 30], "sample_size": [1000, 600]}}, ["grid", "n_clusters"]),
        ({"model": make_model(30).set_effects("x=0.5")}, ["model parameters", "effects"]),
    ],
)
def test_resume_refuses_a_different_run(client, tmp_path, change, words) -> None:
    path = tmp_path / "s.zarr"
    sweep(make_model(30), GRID, chunk_size=10, out=path, cluster=client, progress=False)
    model = change.pop("model", make_model(30))
    options = {"grid": GRID, "chunk_size": 10, **change}
    grid = options.pop("grid")
    with pytest.raises(StoreMismatchError, match="different run") as info:
        sweep(model, grid, out=path, cluster=client, progress=False, resume=True, **options)
    assert isinstance(info.value, ValueError) and info.value.path == path
    assert "--overwrite / overwrite=True" in str(info.value)
    for word in words:
        assert any(word in d for d in info.value.differences), info.value.differences


def test_resume_refuses_another_package_version(client, tmp_path) -> None:
    path = tmp_path / "s.zarr"
    sweep(make_model(30), GRID, chunk_size=10, out=path, cluster=client, progress=False)
    group = zarr.open_group(str(path), mode="r+")
    group.attrs["package_version"] = "0.0.1"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        zarr.consolidate_metadata(str(path))
    with pytest.raises(ValueError, match="package version.*0.0.1"):
        sweep(make_model(30), GRID, out=path, cluster=client, progress=False, resume=True)


def test_resume_of_a_missing_store_starts_it(client, tmp_path) -> None:
    ds = sweep(
        make_model(30),
        GRID,
        chunk_size=30,
        out=tmp_path / "new.zarr",
        cluster=client,
        progress=False,
        resume=True,
    )
    assert bool(ds.complete.all())


def test_temporary_store_is_removed(client, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ds = sweep(make_model(30), GRID, chunk_size=30, cluster=client, progress=False)
    assert int(ds.n_sims.sum()) == 4 * 30
    assert list(tmp_path.iterdir()) == []


def test_overwrite_keeps_the_old_store_when_the_new_run_is_invalid(client, tmp_path) -> None:
    path = tmp_path / "s.zarr"
    sweep(make_model(30), GRID, chunk_size=30, out=path, cluster=client, progress=False)
    with pytest.raises(ValueError, match="seed"):
        sweep(make_model(30), GRID, seed=-5, out=path, cluster=client, overwrite=True)
    assert bool(store.open_results(path).complete.all())


def test_an_empty_directory_becomes_the_store(client, tmp_path) -> None:
    (tmp_path / "s.zarr").mkdir()
    ds = sweep(
        make_model(30), GRID, chunk_size=30, out=tmp_path / "s.zarr", cluster=client, progress=False
    )
    assert bool(ds.complete.all())


def test_package_level_sweep_is_callable(client) -> None:
    from mcpower_sweep import sweep as package_sweep

    ds = package_sweep(
        make_model(10), {"sample_size": [1000]}, chunk_size=10, cluster=client, progress=False
    )
    assert ds.n_sims.values.tolist() == [10]


def test_one_run_per_store_and_a_writable_destination(client, tmp_path) -> None:
    path = tmp_path / "s.zarr"
    with store_lock(path), pytest.raises(StoreLockedError, match="in use by another run"):
        sweep(make_model(10), GRID, chunk_size=10, out=path, cluster=client, progress=False)
    assert not path.exists()
    with pytest.raises(DestinationError, match="cannot write the results store"):
        sweep(make_model(10), GRID, chunk_size=10, out="/proc/s.zarr", cluster=client)


def test_other_paths_are_not_overwritten(client, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a results store"):
        sweep(make_model(30), GRID, out=tmp_path, cluster=client, progress=False, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


# ------------------------------------------------------------- the newcomer's traps
def test_the_models_own_sample_size_is_the_default_point(client, reference) -> None:
    """The README's example: a grid without a sample_size axis sweeps at the model's N."""
    model = make_model(120)
    model.find_power(600, print_results=False)
    assert model.sample_size == 600
    ds = sweep(model, {"n_clusters": [10, 20]}, chunk_size=40, cluster=client, progress=False)
    assert dict(ds.sizes) == {"n_clusters": 2, "test": 2, "correction": 4, "k": 2,
                              "component": 4}
    assert json.loads(ds.attrs["base_params"])["sample_size"] == 600
    assert_same_counts(ds, reference.sel(sample_size=600, drop=True))
    given = sweep(make_model(120), {"n_clusters": [10, 20]}, sample_size=1000, chunk_size=40,
                  cluster=client, progress=False)
    assert_same_counts(given, reference.sel(sample_size=1000, drop=True))


def test_a_model_without_a_sample_size_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError) as info:
        sweep(make_model(), {"n_clusters": [10]}, cluster="tcp://127.0.0.1:9", progress=False)
    message = str(info.value)
    assert "\n" not in message
    for words in ("'sample_size' axis", "sample_size=", "find_power"):
        assert words in message, message
    with pytest.raises(ValueError, match="sample_size=600 and the grid's 'sample_size' axis"):
        sweep(make_model(), GRID, sample_size=600, cluster="tcp://127.0.0.1:9")


PLAIN_SCRIPT = textwrap.dedent(
    """
    import mcpower_sweep

    model = (
        mcpower_sweep.MCPower("y ~ x + (1 + x|g)")
        .set_cluster("g", ICC=0.1, n_clusters=10, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.4")
        .set_simulations(20)
        .set_seed(1)
    )
    model.find_power(200, print_results=False)
    ds = mcpower_sweep.sweep(model, {"n_clusters": [10, 20]}, workers=2, chunk_size=10,
                             progress=False, cluster=CLUSTER)
    print(ds.n_significant.sel(test="x").values.tolist())
    """
)


def test_workers_started_by_a_sweep_do_not_see_the_script() -> None:
    """While a sweep's own cluster runs, __main__ is a stand-in without a file (restored)."""
    real = sys.modules["__main__"]
    with _workers_skip_main():
        stand_in = sys.modules["__main__"]
        assert stand_in is not real and stand_in.__spec__ is None
        assert not hasattr(stand_in, "__file__")
        with _workers_skip_main():  # nested or concurrent sweeps share it
            assert sys.modules["__main__"] is stand_in
        assert sys.modules["__main__"] is stand_in
    assert sys.modules["__main__"] is real


@pytest.mark.parametrize("processes", [True, False])
def test_a_plain_script_without_a_main_guard_runs(tmp_path, processes: bool) -> None:
    """No ``if __name__ == "__main__":``: worker processes must not run the script again
    (the default LocalCluster's threads never do)."""
    cluster = "None"
    if processes:
        (tmp_path / "procs.yaml").write_text("kind: local\nprocesses: true\n")
        cluster = "'procs.yaml'"
    (tmp_path / "plain.py").write_text(PLAIN_SCRIPT.replace("CLUSTER", cluster))
    done = subprocess.run([sys.executable, "plain.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # Before, every worker re-ran the script: ~500 lines of tracebacks and no result.  (On
    # a heavily loaded machine distributed may still log one worker heartbeat traceback of
    # about 30 lines while the cluster shuts down.)
    assert "bootstrapping phase" not in done.stderr, done.stderr[-3000:]
    assert len(done.stderr.splitlines()) < 50, done.stderr
    spec = (
        MCPower("y ~ x + (1 + x|g)")
        .set_cluster("g", ICC=0.1, n_clusters=10, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.4")
        .to_spec(200)
    )
    expected = [
        int(engine.chunk_counts(point, 1, 0, 20, n_threads=1).n_significant[0])
        for _, point in Grid(spec, {"n_clusters": [10, 20]}).points()
    ]
    assert done.stdout.strip() == str(expected)


# --------------------------------------------------------------- options and input
def test_automatic_chunk_size_is_calibrated(client, tmp_path, capsys) -> None:
    spec = make_model().to_spec(1000)
    small = calibrate_chunk_size(spec, SEED, 10_000, target_seconds=0.01, probe_seconds=0.01)
    large = calibrate_chunk_size(spec, SEED, 10_000, target_seconds=0.2, probe_seconds=0.05)
    assert 1 <= small < large <= 10_000
    assert calibrate_chunk_size(spec, SEED, 5, target_seconds=10.0) == 5  # bounded
    # a task may run more: chunks of several points
    assert calibrate_task_sims(spec, SEED, 5, target_seconds=10.0) > 5
    ds = sweep(make_model(30), GRID, out=tmp_path / "s.zarr", cluster=client, progress=True)
    assert 1 <= ds.attrs["chunk_size"] <= 30
    assert f"chunk_size={ds.attrs['chunk_size']} simulations per task" in capsys.readouterr().err


def test_spec_input(client) -> None:
    spec = make_model().to_spec(1000)
    ds = sweep(
        spec,
        {"slope_variance": [0.0, 0.2]},
        simulations=20,
        seed=3,
        chunk_size=10,
        cluster=client,
        progress=False,
    )
    assert ds.attrs["seed"] == 3 and ds.attrs["target_power"] == 0.8
    expected = engine.count_chunk(
        engine.run_chunk(spec.with_params(slope_variance=0.2), 3, 0, 20), spec.alpha
    )
    assert ds.n_significant.sel(slope_variance=0.2).values.tolist() == list(expected.n_significant)
    with pytest.raises(ValueError, match="simulations is required"):
        sweep(spec, {}, cluster=client, progress=False)


def test_drawn_seed_is_recorded_and_reused_on_resume(client, tmp_path) -> None:
    model = make_model(20).set_seed(None)
    path = tmp_path / "s.zarr"
    first = sweep(model, GRID, chunk_size=20, out=path, cluster=client, progress=False)
    seed = first.attrs["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**63
    again = sweep(model, GRID, out=path, cluster=client, progress=False, resume=True)
    assert again.attrs["seed"] == seed


def test_input_errors_name_the_problem(client) -> None:
    with pytest.raises(ValueError, match="Did you mean 'n_clusters'"):
        sweep(make_model(), {"sample_size": [1000], "nclusters": [10]}, cluster=client)
    with pytest.raises(ValueError, match="exclude each other"):
        sweep(make_model(), GRID, resume=True, overwrite=True, cluster=client)
    with pytest.raises(ValueError, match="chunk_size=0"):
        sweep(make_model(), GRID, chunk_size=0, cluster=client)
    with pytest.raises(ValueError, match="seed=-1"):
        sweep(make_model(), GRID, seed=-1, cluster=client)


def test_identity_differences_in_words() -> None:
    old = {
        "seed": 1,
        "grid": json.dumps({"n_clusters": [10]}),
        "base_params": json.dumps({"icc": 0.1, "alpha": 0.05}),
    }
    new = {
        "seed": 2,
        "grid": json.dumps({"n_clusters": [20]}),
        "base_params": json.dumps({"icc": 0.2, "alpha": 0.05}),
    }
    diffs = identity_differences(old, new)
    assert diffs[0] == "model parameters (icc: store 0.1, now 0.2)"
    assert diffs[1] == "grid (n_clusters: store [10], now [20])"
    assert diffs[2] == "seed (store: 1, now: 2)"
    assert identity_differences(old, old) == []


def test_task_failure_message_names_the_point() -> None:
    spec = make_model().to_spec(1000)
    plan = Plan(Grid(spec, GRID), SEED, 30, 10, Path("x.zarr"), {})
    err = task_failed(plan, (1, 0), 2, RuntimeError("fit blew up"))
    assert str(err) == (
        "chunk 2 of design point n_clusters=20, sample_size=1000 failed: "
        "RuntimeError: fit blew up"
    )
    env = task_failed(plan, (1, 0), 2, ModuleNotFoundError("No module named 'mcpower_sweep'"))
    assert "ModuleNotFoundError: No module named 'mcpower_sweep'" in str(env)
    assert "jobqueue.python" in str(env) and "\n" not in str(env)


def test_grid_costs_without_specs() -> None:
    """The task order, packing and calibration read each point's N from the grid."""
    from mcpower_sweep.sweeps.plan import most_expensive_point
    from mcpower_sweep.sweeps.tasks import pending_chunks

    grid = Grid(make_model().to_spec(1000), {"n_clusters": [10, 20], "sample_size": [600, 1000]})
    points = list(grid.points())
    assert [int(grid.total_n[index]) for index, _ in points] == [s.total_n for _, s in points]
    brute = max((s for _, s in points),
                key=lambda s: (s.total_n, s.effective_n_clusters, len(s.random_columns)))
    assert most_expensive_point(grid) == brute and brute.n_clusters == 20
    order = list(pending_chunks(grid, np.zeros((2, 2, 1), dtype=bool)))
    assert order == [((0, 1), 0), ((1, 1), 0), ((0, 0), 0), ((1, 0), 0)]  # costlier first
    assert pickle.loads(pickle.dumps(grid)).total_n.tolist() == grid.total_n.tolist()


def test_a_plan_made_without_its_store_creates_it_later(tmp_path) -> None:
    """sweep() makes a new store while the cluster starts (create_planned_store)."""
    from mcpower_sweep.sweeps.plan import create_planned_store, make_plan

    path = tmp_path / "later.zarr"
    plan = make_plan(make_model(), GRID, path=path, simulations=20, seed=SEED, chunk_size=10,
                     resume=False, overwrite=False, scenario_text="", target_power=None,
                     create=False)
    assert plan.to_create and not plan.replace and not path.exists()
    create_planned_store(plan)
    assert store.read_attrs(path)["seed"] == SEED and not store.done_mask(path).any()


class _Threads:
    """A stand-in client: two threads, no tasks run."""

    def nthreads(self) -> dict[str, int]:
        return {"a": 1, "b": 1}


def test_tasks_pack_about_a_task_of_work_and_shrink_at_the_end(client) -> None:
    del client  # (distributed's as_completed needs one; the window is given a stand-in)
    from mcpower_sweep.sweeps.tasks import GUIDED_SHARE, TaskWindow

    grid = Grid(make_model().to_spec(1000), {"sample_size": [100 * i for i in range(1, 41)]})
    plan = Plan(grid, SEED, 10, 10, Path("x.zarr"), {}, task_sims=40)
    window = TaskWindow(_Threads(), plan, np.zeros((40, 1), dtype=bool))
    window.limit()
    budget = 40 * 4000  # task_sims of the costliest point
    costs = []
    while True:
        where, chunks = window._next_task()
        if not chunks:
            break
        costs.append(sum(spec.total_n * count for spec, _, count in chunks))
    assert sum(costs) == 10 * sum(100 * i for i in range(1, 41))  # every chunk, once
    biggest_chunk = 4000 * 10
    assert budget <= costs[0] < budget + biggest_chunk  # a task's work, not one chunk's
    left = sum(costs)
    for cost in costs:  # a task stops once past its share of the work left
        assert cost < min(budget, left / (GUIDED_SHARE * 2)) + biggest_chunk
        left -= cost
    assert costs[-1] <= 1000 * 10  # the last are single cheap chunks
