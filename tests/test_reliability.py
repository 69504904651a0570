"""Faults never lose or corrupt results: worker and driver loss, the store, the destination.

- A worker process killed mid-sweep: the sweep completes with counts bit-identical to the
  engine's (Dask reruns the lost tasks; every simulation is a pure function of its index).
- The driver (``mcpower-sweep run``) killed with SIGKILL or SIGINT at random points (fixed
  seeds): ``--resume`` completes, recomputes exactly the chunks that were not done, and
  gives identical counts; SIGINT exits non-zero with one line saying how to resume.
- The store: a run for another model, grid, seed or package version is refused naming what
  differs; ``--overwrite`` replaces it; a concurrent run is refused by a lock that dies with
  its process; read-only and full destinations are refused before any simulation runs.

The driver and worker tests start real processes and clusters: they are marked slow.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from click.testing import CliRunner

from mcpower_sweep import engine
from mcpower_sweep.cli import main
from mcpower_sweep.results import tally
from mcpower_sweep.results.schema import summarise
from mcpower_sweep.scenario import parse_scenario
from mcpower_sweep.sweeps import store
from mcpower_sweep.sweeps import writer as store_writer
from mcpower_sweep.sweeps.lock import StoreLockedError, lock_path, store_lock
from mcpower_sweep.sweeps.preflight import (
    DestinationError,
    check_space,
    check_writable,
    estimate_store,
)

# Counts, tallies, estimate and variance-component summaries: all must be bit-identical to
# the engine's.
COUNTS = ["n_sims", "n_success", "n_singular", "n_significant", "n_significant_corrected",
          "n_at_least", "bias", "rmse", "mean_se", "mean_half_width", "mean_df", "n_covered",
          "mean_component", "bias_component", "sd_component", "n_component"]

SCENARIO = """\
model:
  formula: "score ~ treatment + age + (1 + treatment|cluster)"
  effects: {treatment: 0.3, age: 0.1}
  cluster: {grouping: cluster, ICC: 0.15, n_clusters: 8, random_slopes: [treatment],
            slope_variance: 0.05}
simulations: 25600
seed: 11
max_failed: 0.5
chunk_size: 40
sweep:
  slope_variance: [0, 0.1]
  sample_size: [80, 160]
"""
# Long enough that a kill or Ctrl-C at up to half the chunks lands while the run still has
# chunks to do: the half left (about 10 s on 2 cores) must outlast the longest gap between
# the store's flushes (writer.FLUSH_MAX_SECONDS, 5 s). With 6,400 simulations the half left
# took 2.5 s, and a Ctrl-C under load sometimes came after the run had ended.
N_CHUNKS = 4 * 25600 // 40


def expected_counts(text: str = SCENARIO) -> xr.Dataset:
    """The results every point must have: straight from the engine, one chunk per point."""
    s = parse_scenario(text)
    grid = s.design_grid()
    sims, seed = s.options.simulations, s.options.seed
    n_tests = len(grid.base.tests)
    shape = (*grid.shape, n_tests)
    out = {name: np.zeros(grid.shape, dtype=np.int64) for name in COUNTS[:3]}
    significant = np.zeros(shape, dtype=np.int64)
    names = tally.components(grid.base)[0]
    tallies = np.zeros((*grid.shape, len(tally.extra_fields(grid.base.tests, n_tests, names))),
                       dtype=np.int64)
    for index, spec in grid.points():
        c = engine.chunk_counts(spec, seed, 0, sims, n_threads=2)
        out["n_sims"][index], out["n_success"][index] = c.n_sims, c.n_success
        out["n_singular"][index] = c.n_singular
        significant[index] = c.n_significant
        tallies[index] = tally.flatten(c.n_corrected, c.n_at_least, c.estimate_sums,
                                       c.component_sums)
    dims = grid.names
    coords = {name: list(values) for name, values in grid.axes}
    ds = xr.Dataset({k: (dims, v) for k, v in out.items()}, coords=coords)
    ds["n_significant"] = ((*dims, "test"), significant)
    for name, (var_dims, values) in tally.tally_vars(
            tally.unflatten(tallies, n_tests, n_tests), tuple(dims), "test").items():
        ds[name] = (var_dims, values)
    return summarise(ds.assign_coords(test=list(grid.base.tests), component=list(names)))


@pytest.fixture(scope="module")
def expected() -> xr.Dataset:
    return expected_counts()


def assert_counts(ds: xr.Dataset, expected: xr.Dataset) -> None:
    assert bool(ds["complete"].all())
    for name in COUNTS:
        np.testing.assert_array_equal(ds[name].values, expected[name].values, err_msg=name)


def cli_command() -> list[str]:
    exe = shutil.which("mcpower-sweep")
    return [exe] if exe else [sys.executable, "-m", "mcpower_sweep.cli"]


def start_run(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*cli_command(), "run", "s.yaml", "--out", "s.zarr", "--workers", "2", "--no-progress",
         *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # our signals go to the driver alone, as a kill would
    )


def run_cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_command(), "run", "s.yaml", "--out", "s.zarr", "--workers", "2", "--no-progress",
         *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def done_chunks(path: Path) -> int:
    try:
        return int(store.done_mask(path).sum()) if store.is_store(path) else 0
    except Exception:  # noqa: BLE001 - the store is being created
        return 0


def wait_for_done(path: Path, proc: subprocess.Popen, at_least: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if store.is_store(path) and done_chunks(path) >= at_least:
            return
        if proc.poll() is not None:
            pytest.fail(f"the driver ended before {at_least} chunks:\n{proc.stderr.read()}")
        time.sleep(0.01)
    pytest.fail("the driver made no progress")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)


def run_stats(stderr: str) -> tuple[int, int]:
    """(chunks run, chunks already done) from the ``Results:`` line of ``run``."""
    line = next(x for x in stderr.splitlines() if x.startswith("Results:"))
    ran = re.search(r"in ([\d,]+) tasks", line)
    skipped = re.search(r"([\d,]+) chunks already done", line)
    return (int(ran.group(1).replace(",", "")) if ran else 0,
            int(skipped.group(1).replace(",", "")) if skipped else 0)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    return tmp_path


# ------------------------------------------------------------------ worker loss
@pytest.mark.slow
def test_worker_killed_mid_sweep_gives_identical_counts(tmp_path: Path, expected) -> None:
    """SIGKILL one worker process, later the other: Dask reruns their tasks elsewhere.

    The run is long enough that the second kill lands while it runs; the pids are taken
    before, so no call to the cluster delays a kill.
    """
    from distributed import Client, LocalCluster

    from mcpower_sweep.sweeps.run import sweep

    s = parse_scenario(SCENARIO)
    path = tmp_path / "w.zarr"
    killed: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        before = set(client.run(os.getpid).values())
        kwargs = s.sweep_kwargs()

        def killer() -> None:
            try:
                for pid, threshold in zip(sorted(before), (N_CHUNKS // 8, N_CHUNKS // 3),
                                          strict=True):
                    deadline = time.monotonic() + 120
                    while done_chunks(path) < threshold and time.monotonic() < deadline:
                        time.sleep(0.01)
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, done_chunks(path)))
            except BaseException as err:  # noqa: BLE001 - reported by the test thread
                errors.append(err)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        ds = sweep(s.model, s.design_grid(), out=path, cluster=client, progress=False,
                   **kwargs)
        thread.join(timeout=60)
        after = set(client.run(os.getpid).values())

    assert not errors, errors
    assert len(killed) == 2 and {pid for pid, _ in killed} == before
    assert not before & after  # both died (and were replaced)
    assert all(done < N_CHUNKS for _, done in killed), killed  # while the sweep ran
    assert json.loads(ds.attrs["last_run"])["chunks_run"] == N_CHUNKS
    assert_counts(ds, expected)
    assert_counts(store.open_results(path), expected)


# ------------------------------------------------------------------ driver loss
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_driver_then_resume(workdir: Path, expected, seed: int) -> None:
    """SIGKILL after a random number of finished chunks; --resume runs only the rest."""
    threshold = int(np.random.default_rng(seed).integers(1, N_CHUNKS // 2))
    proc = start_run(workdir)
    try:
        wait_for_done(workdir / "s.zarr", proc, threshold)
        proc.send_signal(signal.SIGKILL)
    finally:
        stop(proc)
    done_before = done_chunks(workdir / "s.zarr")
    assert threshold <= done_before < N_CHUNKS

    again = run_cli(workdir, "--resume")  # at once: the lock died with the driver
    assert again.returncode == 0, again.stderr
    ran, skipped = run_stats(again.stderr)
    assert (ran, skipped) == (N_CHUNKS - done_before, done_before)
    assert_counts(store.open_results(workdir / "s.zarr"), expected)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 5])
def test_sigkill_driver_at_a_random_time(workdir: Path, expected, seed: int) -> None:
    """A kill at any moment (start-up, store creation, mid-run) leaves a resumable state."""
    delay = float(np.random.default_rng(seed).uniform(0.5, 4.0))
    proc = start_run(workdir)
    time.sleep(delay)
    stop(proc)
    done_before = done_chunks(workdir / "s.zarr")
    again = run_cli(workdir, "--resume")
    assert again.returncode == 0, again.stderr
    ran, skipped = run_stats(again.stderr)
    assert ran + skipped == N_CHUNKS and skipped == done_before
    assert_counts(store.open_results(workdir / "s.zarr"), expected)


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "target"), [(6, "driver"), (7, "process group")])
def test_sigint_driver_says_how_to_resume(workdir: Path, expected, seed: int,
                                          target: str) -> None:
    """Ctrl-C: to the driver alone, or (as in a terminal) to it and its cluster's workers."""
    threshold = int(np.random.default_rng(seed).integers(1, N_CHUNKS // 2))
    proc = start_run(workdir)
    try:
        wait_for_done(workdir / "s.zarr", proc, threshold)
        if target == "driver":
            proc.send_signal(signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 30  # saves what arrived, never waits on lost results
    finally:
        stop(proc)
    assert proc.returncode == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "--resume" in lines[0] and "Traceback" not in err
    done_before = done_chunks(workdir / "s.zarr")
    assert threshold <= done_before < N_CHUNKS
    assert f"{done_before} of {N_CHUNKS} chunks" in lines[0]

    again = run_cli(workdir, "--resume")
    assert again.returncode == 0, again.stderr
    assert run_stats(again.stderr) == (N_CHUNKS - done_before, done_before)
    assert_counts(store.open_results(workdir / "s.zarr"), expected)


# ------------------------------------------------------------------ the store
def small_scenario(seed: int = 11, effect: float = 0.3, sizes: str = "[80, 160]") -> str:
    return (SCENARIO.replace("simulations: 25600", "simulations: 20")
            .replace("seed: 11", f"seed: {seed}")
            .replace("treatment: 0.3", f"treatment: {effect}")
            .replace("sample_size: [80, 160]", f"sample_size: {sizes}"))


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


def one_error_line(code: int, err: str) -> str:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def made_store(tmp_path_factory: pytest.TempPathFactory, dask_client: object) -> Path:
    """A finished small store, as `run s.yaml --out s.zarr` makes it."""
    from mcpower_sweep.sweeps.run import sweep

    d = tmp_path_factory.mktemp("made")
    s = parse_scenario(small_scenario())
    sweep(s.model, s.design_grid(), out=d / "s.zarr", cluster=dask_client, progress=False,
          **s.sweep_kwargs())
    return d / "s.zarr"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (small_scenario(seed=12), ["seed (store: 11, now: 12)"]),
        (small_scenario(effect=0.5), ["model parameters", "effects"]),
        (small_scenario(sizes="[80, 240]"), ["grid", "sample_size"]),
    ],
    ids=["seed", "model", "grid"],
)
def test_resume_of_another_run_is_refused(made_store: Path, tmp_path: Path, text: str,
                                          words: list[str]) -> None:
    before = {p: p.stat().st_mtime_ns for p in made_store.rglob("*") if p.is_file()}
    (tmp_path / "other.yaml").write_text(text)
    code, err = invoke("run", str(tmp_path / "other.yaml"), "--out", str(made_store), "--resume",
                       "--cluster", "tcp://127.0.0.1:9", "--no-progress")
    line = one_error_line(code, err)
    assert "different run" in line and str(made_store) in line
    for word in words:
        assert word in line, line
    after = {p: p.stat().st_mtime_ns for p in made_store.rglob("*") if p.is_file()}
    assert after == before  # not touched


def test_resume_refuses_another_package_version(made_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old.zarr"
    shutil.copytree(made_store, copy)
    zarr.open_group(str(copy), mode="r+").attrs["package_version"] = "0.0.1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not in the v3 spec yet
        zarr.consolidate_metadata(str(copy))
    (tmp_path / "s.yaml").write_text(small_scenario())
    code, err = invoke("run", str(tmp_path / "s.yaml"), "--out", str(copy), "--resume",
                       "--cluster", "tcp://127.0.0.1:9", "--no-progress")
    assert "package version (store: '0.0.1'" in one_error_line(code, err)


def test_existing_store_needs_overwrite_to_be_replaced(made_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "s.zarr"
    shutil.copytree(made_store, copy)
    (tmp_path / "new.yaml").write_text(small_scenario(seed=99))
    code, err = invoke("run", str(tmp_path / "new.yaml"), "--out", str(copy),
                       "--cluster", "tcp://127.0.0.1:9", "--no-progress")
    line = one_error_line(code, err)
    assert "already exists" in line and "--overwrite" in line and "--resume" in line
    assert store.read_attrs(copy)["seed"] == 11
    code, err = invoke("run", str(tmp_path / "new.yaml"), "--out", str(copy), "--overwrite",
                       "--workers", "1", "--no-progress")
    assert code == 0, err
    assert store.read_attrs(copy)["seed"] == 99
    assert bool(store.open_results(copy)["complete"].all())


def test_a_run_killed_while_creating_its_store_leaves_no_half_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dask_client: object
) -> None:
    from mcpower_sweep.sweeps.run import sweep

    s = parse_scenario(small_scenario())
    path = tmp_path / "s.zarr"
    real = store.create_store

    def dies_while_creating(where: Path, *args: object, **kwargs: object) -> None:
        real(where, *args, **kwargs)
        (Path(where) / "zarr.json").unlink()  # as if killed before the metadata was written
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "create_store", dies_while_creating)
    with pytest.raises(KeyboardInterrupt):  # (the store is made while the cluster starts)
        sweep(s.model, s.design_grid(), out=path, cluster=dask_client, progress=False,
              **s.sweep_kwargs())
    assert not path.exists()  # nothing half-made where the store goes
    monkeypatch.undo()
    ds = sweep(s.model, s.design_grid(), out=path, cluster=dask_client, progress=False,
               resume=True, **s.sweep_kwargs())
    assert bool(ds["complete"].all())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # stale parts removed


# --------------------------------------------------------------------- the lock
HOLD = textwrap.dedent(
    """
    import sys, time
    from mcpower_sweep.sweeps.lock import store_lock
    with store_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Another process holding the lock of ``tmp_path/s.zarr``."""
    path = tmp_path / "s.zarr"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc, path
    finally:
        stop(proc)
        proc.stdout.close()  # type: ignore[union-attr]


def test_lock_refuses_a_second_holder_and_dies_with_its_process(holder) -> None:
    proc, path = holder
    with pytest.raises(StoreLockedError) as info, store_lock(path):
        pass
    message = str(info.value)
    assert str(path) in message and f"pid {proc.pid}" in message and "another run" in message
    proc.send_signal(signal.SIGKILL)  # no clean-up: the kernel drops the lock
    proc.wait()
    assert lock_path(path).exists()  # a stale file is harmless
    with store_lock(path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock_path(path).exists()  # removed on a clean exit


def test_lock_is_beside_the_store_and_reentrant_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "s.zarr"
    for _ in range(3):
        with store_lock(path) as lock:
            assert lock == tmp_path / "deep" / ".s.zarr.lock"
    assert not lock.exists()


def test_concurrent_cli_run_is_refused(holder) -> None:
    proc, path = holder
    (path.parent / "s.yaml").write_text(small_scenario())
    for extra in ([], ["--resume"], ["--overwrite"]):
        code, err = invoke("run", str(path.parent / "s.yaml"), "--out", str(path), *extra,
                           "--cluster", "tcp://127.0.0.1:9", "--no-progress")
        line = one_error_line(code, err)
        assert "in use by another run" in line and f"pid {proc.pid}" in line
    assert not path.exists()


@pytest.mark.slow
def test_second_run_during_a_real_run_is_refused(workdir: Path, expected) -> None:
    proc = start_run(workdir)
    try:
        wait_for_done(workdir / "s.zarr", proc, 0)  # the store exists: its lock is held
        second = run_cli(workdir, "--resume")
        line = one_error_line(second.returncode, second.stderr)
        assert "in use by another run" in line and f"pid {proc.pid}" in line
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    finally:
        stop(proc)
    assert_counts(store.open_results(workdir / "s.zarr"), expected)


# ---------------------------------------------------------------- the destination
@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[object]:
    """``make(name, options)``: a tmpfs mounted at ``tmp_path/name`` (skip if impossible)."""
    mounted: list[Path] = []

    def make(name: str, options: str) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root and mount(8)")
        target = tmp_path / name
        target.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield make
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any simulation (calibration included) fails the test."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a simulation ran before the destination was checked")

    monkeypatch.setattr(engine, "chunk_counts", forbidden)
    monkeypatch.setattr(engine, "run_chunk", forbidden)


def test_read_only_mount_is_refused(tmpfs, tmp_path: Path) -> None:
    ro = tmpfs("ro", "ro,size=1m")
    with pytest.raises(DestinationError) as info:
        check_writable(ro / "results" / "s.zarr")
    assert info.value.errno == 30 and str(ro) in str(info.value)
    assert "Read-only file system" in str(info.value)


def test_unwritable_system_paths_are_refused() -> None:
    for where in ("/proc/s.zarr", "/sys/s.zarr"):
        with pytest.raises(DestinationError, match=re.escape(where)):
            check_writable(where)


def test_sweep_to_a_read_only_place_fails_before_simulating(no_simulation, tmpfs) -> None:
    from mcpower_sweep.sweeps.run import sweep

    ro = tmpfs("ro", "ro,size=1m")
    s = parse_scenario(small_scenario())
    with pytest.raises(DestinationError, match="does not accept new files"):
        sweep(s.model, s.design_grid(), out=ro / "s.zarr", cluster="tcp://127.0.0.1:9",
              progress=False, simulations=20, seed=1)


@pytest.mark.parametrize("out", ["/proc/s.zarr", "/proc/mcpower/s.zarr"])
def test_cli_to_a_read_only_place_is_one_line(no_simulation, tmp_path: Path, out: str) -> None:
    (tmp_path / "s.yaml").write_text(small_scenario())
    code, err = invoke("run", str(tmp_path / "s.yaml"), "--out", out,
                       "--cluster", "tcp://127.0.0.1:9", "--no-progress")
    line = one_error_line(code, err)
    assert out in line and "writable" in line


@pytest.mark.parametrize("chunk_size", [5, None], ids=["given", "calibrated"])
def test_full_disk_is_refused_before_simulating(no_simulation, tmpfs,
                                                chunk_size: int | None) -> None:
    from mcpower_sweep.sweeps.run import sweep

    small = tmpfs("small", "size=64k")
    s = parse_scenario(small_scenario())
    with pytest.raises(DestinationError) as info:
        sweep(s.model, s.design_grid(), out=small / "s.zarr", cluster="tcp://127.0.0.1:9",
              progress=False, chunk_size=chunk_size)
    message = str(info.value)
    assert info.value.errno == 28 and "not enough free space" in message
    assert str(small / "s.zarr") in message and re.search(r"has \d+\.\d KiB free", message)
    assert not (small / "s.zarr").exists()


def test_full_disk_check_without_mounting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=10 * 2**20))
    with pytest.raises(DestinationError, match="not enough free space.*10.0 MiB free"):
        check_space(tmp_path / "s.zarr", estimate_store((100, 100, 20), 1))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=2**40))
    check_space(tmp_path / "s.zarr", estimate_store((100, 100, 20), 1))


def test_inodes_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = os.statvfs(tmp_path)

    class Few:
        f_frsize, f_bsize, f_files, f_favail = real.f_frsize, real.f_bsize, 1000, 20

    monkeypatch.setattr(os, "statvfs", lambda p: Few)
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(2**40, 0, 2**40))  # type: ignore[attr-defined]
    with pytest.raises(DestinationError, match="not enough free inodes"):
        check_space(tmp_path / "s.zarr", estimate_store((10, 10), 1))


def test_estimate_bounds_a_real_store(tmp_path: Path) -> None:
    """The estimate is at least what a complete store uses, and not far above it."""
    from mcpower_sweep.sweeps.grid import Grid

    s = parse_scenario(small_scenario())
    grid = Grid(s.base_spec(), {"slope_variance": [0.0, 0.1, 0.2], "sample_size": [80, 160]})
    path = tmp_path / "s.zarr"
    store.create_store(path, grid, simulations=40, chunk_size=10, attrs={})
    writer = store_writer.ChunkWriter.open(path)
    c = engine.chunk_counts(grid.base, 1, 0, 10)  # real tallies: every variable is written
    tallies = tally.flatten(c.n_corrected, c.n_at_least, c.estimate_sums, c.component_sums)
    writer.write_many([store_writer.ChunkRecord(index, k, c.n_sims, c.n_success, c.n_singular,
                                                c.n_significant, tallies)
                       for index, _ in grid.points() for k in range(4)])
    files = sum(len(f) for _, _, f in os.walk(path))
    dirs = sum(len(d) for _, d, _ in os.walk(path))
    e = estimate_store(grid.shape, 2)
    assert files <= e.files <= files + 64 and dirs <= e.directories <= dirs * 1.2 + 10


# ------------------------------------------------------------- engine memory safety
@pytest.mark.slow
@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")
def test_engine_is_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    """scripts/sanitize.sh: the engine's designs and the lme4 fixtures under ASan + UBSan."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "sanitize.sh"
    done = subprocess.run(["bash", str(script), "10"], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "BUILD_DIR": str(tmp_path)})
    if done.returncode != 0 and "cannot find -lasan" in done.stderr + done.stdout:
        pytest.skip("the compiler has no AddressSanitizer runtime")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all designs and fixtures ran clean" in done.stdout
    assert "ERROR: AddressSanitizer" not in done.stderr and "runtime error" not in done.stderr


@pytest.mark.slow
def test_disk_full_mid_run_then_resume(tmpfs, monkeypatch: pytest.MonkeyPatch,
                                      dask_client: object) -> None:
    """The disk fills during the run: a clear error, chunks written so far kept, and
    after space is freed --resume completes with the same counts."""
    from mcpower_sweep.sweeps import preflight
    from mcpower_sweep.sweeps.run import sweep

    small = tmpfs("small", "size=1m")
    monkeypatch.setattr(preflight, "check_space", lambda *args: None)  # as if filled later
    monkeypatch.setattr(store_writer, "FLUSH_SECONDS", 0.0)  # flush every batch
    monkeypatch.setattr(store_writer, "FLUSH_COST_FACTOR", 0)
    real_put = store_writer.ChunkWriter._put
    puts = []

    def fill_after_two_flushes(self, at, data):  # the store is far smaller than 1 MB
        puts.append(at)
        if len(puts) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.root))
        real_put(self, at, data)

    monkeypatch.setattr(store_writer.ChunkWriter, "_put", fill_after_two_flushes)
    s = parse_scenario(small_scenario().replace("simulations: 20", "simulations: 100"))
    path = small / "s.zarr"
    kwargs = {**s.sweep_kwargs(), "chunk_size": 5}
    with pytest.raises(DestinationError) as info:
        sweep(s.model, s.design_grid(), out=path, cluster=dask_client, progress=False, **kwargs)
    message = str(info.value)
    assert info.value.errno == 28 and str(path) in message and "is full" in message
    assert "--resume" in message
    done = done_chunks(path)
    assert 0 < done < 80 and f"after {done} of 80 chunks" in message
    monkeypatch.setattr(store_writer.ChunkWriter, "_put", real_put)  # space freed
    ds = sweep(s.model, s.design_grid(), out=path, cluster=dask_client, progress=False,
               resume=True, **kwargs)
    assert json.loads(ds.attrs["last_run"])["chunks_run"] == 80 - done
    assert_counts(ds, expected_counts(small_scenario().replace("simulations: 20",
                                                               "simulations: 100")))


# ------------------------------------------------------------ workers that cannot run tasks
BLOCK_IMPORT = """\
import importlib.abc
import sys


class _NotInstalled(importlib.abc.MetaPathFinder):
    # As if the workers' Python had no mcpower_sweep (jobqueue.python pointing elsewhere).
    def find_spec(self, name, path=None, target=None):
        if name == "mcpower_sweep" or name.startswith("mcpower_sweep."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


for _name in [m for m in sys.modules if m.split(".")[0] == "mcpower_sweep"]:
    del sys.modules[_name]
sys.meta_path.insert(0, _NotInstalled())
"""


@pytest.mark.slow
def test_workers_that_cannot_import_the_package_stop_the_sweep(tmp_path: Path) -> None:
    """Every task fails in the workers: one line naming the import error, within 120 s."""
    from distributed import LocalCluster

    from mcpower_sweep.sweeps.run import sweep

    preload = tmp_path / "block_import.py"
    preload.write_text(BLOCK_IMPORT)
    s = parse_scenario(small_scenario())
    t0 = time.monotonic()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0", preload=[str(preload)]) as cluster:
        with pytest.raises(RuntimeError) as info:
            sweep(s.model, s.design_grid(), out=tmp_path / "s.zarr", cluster=cluster,
                  chunk_size=5, progress=False)
    assert time.monotonic() - t0 < 120
    message = str(info.value)
    assert "\n" not in message
    assert "No module named 'mcpower_sweep" in message
    assert "jobqueue.python" in message and "environment" in message


def test_a_cluster_without_workers_says_so(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that never arrive: a bounded wait, then a message saying what to check."""
    from distributed import LocalCluster

    from mcpower_sweep.sweeps.health import WORKER_TIMEOUT_ENV, NoWorkersError
    from mcpower_sweep.sweeps.run import sweep

    monkeypatch.setenv(WORKER_TIMEOUT_ENV, "2")
    s = parse_scenario(small_scenario())
    t0 = time.monotonic()
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(NoWorkersError, match="no Dask worker was connected for 2 s"):
            sweep(s.model, s.design_grid(), out=tmp_path / "s.zarr", cluster=cluster,
                  chunk_size=5, progress=False)
    assert time.monotonic() - t0 < 30


def test_a_bad_worker_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcpower_sweep.sweeps.health import WORKER_TIMEOUT_ENV, worker_timeout

    monkeypatch.setenv(WORKER_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="MCPOWER_SWEEP_WORKER_TIMEOUT='soon'"):
        worker_timeout()


def test_cli_stops_on_failing_tasks_with_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A crashing engine in every task: the CLI exits non-zero with one line naming it,
    and the store keeps what finished (nothing here)."""
    from mcpower_sweep.sweeps import tasks

    def crash(*args: object) -> None:
        raise FloatingPointError("the engine crashed")

    monkeypatch.setattr(tasks, "run_task", crash)
    (tmp_path / "s.yaml").write_text(small_scenario())
    (tmp_path / "threads.yaml").write_text(
        "kind: local\nn_workers: 1\nprocesses: false\ndashboard_address: null\n")
    t0 = time.monotonic()
    code, err = invoke("run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "s.zarr"),
                       "--cluster", str(tmp_path / "threads.yaml"), "--chunk-size", "5",
                       "--no-progress")
    line = one_error_line(code, err)
    assert "FloatingPointError: the engine crashed" in line
    assert time.monotonic() - t0 < 60
