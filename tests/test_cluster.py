"""Tests for mcpower_sweep.cluster: real LocalCluster, a real standalone scheduler, real Slurm.

The ``slurm`` tests need the single-node Slurm of ``cluster-configs/slurm-localhost/up.sh``
(or any Slurm with a partition named ``debug`` on this host) and run with ``-m slurm``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster

import mcpower_sweep.cluster
from mcpower_sweep.cluster import (
    BUILTIN_DIR,
    ENV_VAR,
    available_configs,
    dashboard_link,
    describe,
    load_cluster_config,
    open_client,
    parse_overrides,
)

REPO = Path(__file__).resolve().parent.parent


# Picklable by reference to a builtin: a standalone scheduler and Slurm workers cannot import
# this test module.
_square = functools.partial(pow, exp=2)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- LocalCluster ---------------------------------------------------------------------------


def test_local_cluster_runs_tasks_and_closes() -> None:
    with open_client(workers=2) as client:
        cluster = client.cluster
        assert isinstance(cluster, LocalCluster)
        assert client.submit(_square, 7).result() == 49
        assert client.gather(client.map(_square, range(10))) == [x * x for x in range(10)]
        # One thread per worker (the engine is single-threaded per task), threads of this
        # process (the engine releases the GIL) with no memory limit of their own.
        assert sorted(client.nthreads().values()) == [1, 1]
        assert set(client.run(os.getpid).values()) == {os.getpid()}
        assert all(w.memory_manager.memory_limit is None for w in cluster.workers.values())
        line = describe(client)
        assert line.startswith("LocalCluster at inproc://")  # threads talk in memory
        assert "2 workers, 2 threads" in line
        link = dashboard_link(client)
        assert link is None or link.startswith("http")
    assert client.status == "closed"
    assert cluster.status.name == "closed"


def test_local_processes_on_request(tmp_path: Path) -> None:
    config = _write(tmp_path / "procs.yaml", "kind: local\nprocesses: true\n")
    with open_client(config, workers=1) as client:
        assert set(client.run(os.getpid).values()) != {os.getpid()}
        assert client.submit(_square, 3).result() == 9


def _wakes(dask_worker: object) -> tuple[float, bool]:
    """A worker's event-loop tick (seconds) and whether it samples its threads' stacks."""
    return dask_worker._tick_interval, "profile" in dask_worker.periodic_callbacks


def test_local_workers_wake_up_less_unless_the_user_configured_it() -> None:
    with open_client(workers=1) as client:
        assert list(client.run(_wakes).values()) == [(0.5, False)]
        assert client.cluster.scheduler._tick_interval == 0.5
    with dask.config.set({"distributed.admin.tick.interval": "50ms"}), \
            open_client(workers=1) as client:
        assert list(client.run(_wakes).values()) == [(0.05, False)]


def test_local_workers_keep_stderr_clean(capfd: pytest.CaptureFixture[str]) -> None:
    """Worker ERROR logs (e.g. a heartbeat meeting a closing scheduler) never reach stderr.

    The CLI's Ctrl-C message is one line; a shutdown race in distributed used to add a
    traceback to it (tests/test_reliability.py::test_sigint_driver_says_how_to_resume).
    """
    # Picklable by reference to the logging module (workers cannot import this test module).
    log_error = functools.partial(logging.getLogger("distributed.worker").error,
                                  "worker error line")
    with open_client(workers=1) as client:
        assert list(client.run(log_error).values()) == [None]
    assert "worker error line" not in capfd.readouterr().err


def test_local_default_uses_usable_cores() -> None:
    config = load_cluster_config(None)
    assert config.kind == "local"
    assert config.source == str(BUILTIN_DIR / "local.yaml")
    assert config.options["n_workers"] is None  # resolved to the usable cores at start
    assert config.options["threads_per_worker"] == 1


def test_local_name_reads_shipped_local_yaml() -> None:
    config = load_cluster_config("local")
    assert config.kind == "local"
    assert Path(config.source) == BUILTIN_DIR / "local.yaml"
    assert config.options == load_cluster_config(None).options


def test_shipped_configs_are_valid() -> None:
    names = available_configs()
    assert {"local", "slurm", "address"} <= set(names)
    for name in ("local", "slurm", "address"):
        assert load_cluster_config(name).kind == name


def test_shipped_configs_are_package_data() -> None:
    # Inside the package directory, which wheel.packages installs whole; one copy only.
    package = Path(mcpower_sweep.cluster.__file__).parent
    assert BUILTIN_DIR == package / "configs"
    for name in ("local", "slurm", "address"):
        assert (BUILTIN_DIR / f"{name}.yaml").is_file()
    assert not list((REPO / "cluster-configs").glob("*.y*ml"))


def test_shipped_configs_found_outside_the_checkout(tmp_path: Path) -> None:
    """Trap: with a regular `pip install .`, `--cluster slurm` was unknown, because named
    configs were looked up beside the source folder. Here the package is a copy outside the
    repository (as a wheel installs it), imported without the editable hook, from elsewhere."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "src" / "mcpower_sweep", site / "mcpower_sweep",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import json, mcpower_sweep.cluster as c\n"
        "print(json.dumps({'file': c.__file__, 'kind': c.load_cluster_config('slurm').kind,\n"
        "                  'configs': {k: str(v) for k, v in c.available_configs().items()}}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    # -S: no site-packages .pth files, so the editable install's import hook is not loaded.
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=elsewhere, env=env,
                         capture_output=True, text=True, check=True).stdout
    found = json.loads(out)
    package = site / "mcpower_sweep" / "cluster"
    assert Path(found["file"]) == package / "__init__.py"
    assert found["kind"] == "slurm"
    assert {"local", "slurm", "address"} <= set(found["configs"])
    for name in ("local", "slurm", "address"):
        assert Path(found["configs"][name]) == package / "configs" / f"{name}.yaml"


def test_cwd_cluster_configs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cluster-configs").mkdir()
    _write(tmp_path / "cluster-configs" / "local.yaml", "kind: local\nn_workers: 3\n")
    _write(tmp_path / "cluster-configs" / "lab.yaml", "kind: address\naddress: tcp://h:1\n")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    # ./cluster-configs comes before the built-in folder, and a partial local file takes
    # the other keys from the built-in local.yaml.
    local = load_cluster_config("local")
    assert local.source == str(tmp_path / "cluster-configs" / "local.yaml")
    assert local.options == {**load_cluster_config(None).options, "n_workers": 3}
    assert load_cluster_config("lab").options == {"address": "tcp://h:1"}
    assert available_configs()["slurm"] == BUILTIN_DIR / "slurm.yaml"


def test_env_var_folder_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "local.yaml", "kind: local\nn_workers: 1\n")
    _write(tmp_path / "mysite.yml", "kind: address\naddress: tcp://10.0.0.1:8786\n")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert load_cluster_config("local").source == str(tmp_path / "local.yaml")
    assert load_cluster_config("local").options["n_workers"] == 1
    assert load_cluster_config("local").options["threads_per_worker"] == 1
    assert load_cluster_config("mysite").options["address"] == "tcp://10.0.0.1:8786"
    # Built-in names are still found after the env var's folder.
    assert load_cluster_config("slurm").kind == "slurm"


def test_yaml_path_and_workers_override(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "two.yaml",
        "kind: local\nn_workers: 1\nthreads_per_worker: 1\nmemory_limit: 1GB\n",
    )
    with open_client(path) as client:
        assert len(client.nthreads()) == 1
        assert client.submit(_square, 3).result() == 9
    with open_client(str(path), workers=2) as client:
        assert len(client.nthreads()) == 2


def test_local_overrides(tmp_path: Path) -> None:
    config = load_cluster_config("local", overrides={"memory_limit": "1GB", "n_workers": 3})
    assert config.options["memory_limit"] == "1GB"
    assert config.options["n_workers"] == 3
    # workers wins over an n_workers override.
    assert load_cluster_config("local", 2, {"n_workers": 3}).options["n_workers"] == 2


def test_existing_client_and_cluster_are_left_open() -> None:
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        with open_client(cluster) as client:
            assert client.submit(_square, 4).result() == 16
        assert client.status == "closed"
        assert cluster.status.name == "running"

        with Client(cluster) as own:
            with open_client(own) as client:
                assert client is own
            assert own.status == "running"
            with pytest.raises(ValueError, match="workers and overrides"):
                open_client(own, workers=2)


# --- Standalone scheduler + worker on 127.0.0.1 ------------------------------------------------


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # dask's CLIs shut down cleanly on SIGINT
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def scheduler_address(tmp_path: Path) -> Iterator[str]:
    """A `dask scheduler` on 127.0.0.1 (free port) with one `dask worker`; stopped after."""
    scheduler_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed in finally
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler",
                 "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                 "--scheduler-file", str(scheduler_file)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if procs[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail("dask scheduler did not start:\n" + (tmp_path / "dask.log").read_text())
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address,
                 "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                 "--memory-limit", "1GB", "--local-directory", str(tmp_path)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        log.close()


def test_address_cluster(scheduler_address: str, tmp_path: Path) -> None:
    assert scheduler_address.startswith("tcp://127.0.0.1:")
    with open_client(scheduler_address, workers=1) as client:
        assert client.cluster is None
        assert client.gather(client.map(_square, range(5))) == [0, 1, 4, 9, 16]
        assert describe(client) == f"scheduler at {scheduler_address}, 1 worker, 1 thread"
        assert (dashboard_link(client) or "").startswith("http://127.0.0.1:")
    assert client.status == "closed"

    # The scheduler and its worker were left running: connect again, through a config file.
    path = _write(tmp_path / "addr.yaml", f"kind: address\naddress: {scheduler_address}\n")
    with open_client(path, workers=1) as client:
        assert client.submit(_square, 6).result() == 36


# --- Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not: [valid", "not valid YAML"),
        ("- a list\n", "must hold a mapping"),
        ("kind: kubernetes\n", "allowed kinds: local, slurm, address"),
        ("n_workers: 2\n", "kind=None"),
        ("kind: local\nthreads: 2\n", "unknown local key(s) 'threads'"),
        ("kind: local\nn_workers: 0\n", "n_workers=0 is not allowed: use a whole number >= 1"),
        ("kind: local\nthreads_per_worker: 1.5\n", "threads_per_worker=1.5 is not allowed"),
        ("kind: slurm\njobqueue: {cores: 1, memory: 1GB}\nscale: {jobs: 0}\n",
         "scale.jobs=0 is not allowed"),
        ("kind: address\naddress: localhost:8786\n", "tcp://host:port"),
        (
            "kind: slurm\njobqueue: {cores: 1, partition: x}\n",
            "unknown jobqueue key(s) 'partition'",
        ),
        ("kind: slurm\njobqueue: {walltime: 1:30:00}\n", "walltime must be a quoted string"),
        ("kind: slurm\nscale: {jobs: 1}\nadapt: {maximum_jobs: 2}\n", "either scale or adapt"),
        ("kind: slurm\nscale: {nodes: 2}\n", "unknown scale key(s) 'nodes'"),
        ("kind: slurm\nadapt: {max: 2}\n", "unknown adapt key(s) 'max'"),
        ("kind: slurm\nqueue: debug\n", "unknown top-level key(s) 'queue'"),
        ("kind: slurm\njobqueue: {cores: 2}\n", "no memory for the Slurm jobs"),
    ],
)
def test_invalid_config_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "bad.yaml", text)
    # Independent of this machine's ~/.config/dask/jobqueue.yaml.
    no_site_defaults = {"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}
    with dask.config.set(no_site_defaults), pytest.raises(ValueError) as info:
        open_client(str(path))
    assert repr(str(path)) in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["no-such-cluster", "tcp://127.0.0.1", "http://127.0.0.1:8786", "missing.yaml", "./nope"],
)
def test_bad_cluster_value_names_value_and_choices(value: str) -> None:
    with pytest.raises(ValueError) as info:
        open_client(value)
    message = str(info.value)
    assert repr(value) in message
    assert "tcp://host:port" in message
    assert "slurm" in message and "local" in message  # the named configs found


def test_bad_workers_and_overrides() -> None:
    with pytest.raises(ValueError, match="workers=0 is not allowed: use a whole number >= 1"):
        open_client(workers=0)
    with pytest.raises(ValueError, match=r"cluster='local': unknown override key\(s\) 'cores'"):
        open_client("local", overrides={"cores": 2})
    with pytest.raises(ValueError, match=r"unknown override key\(s\) 'partition'"):
        open_client("slurm", overrides={"partition": "debug"})
    with pytest.raises(ValueError, match="expected a config name"):
        open_client(42)  # type: ignore[arg-type]


def test_parse_overrides() -> None:
    assert parse_overrides(
        ["cores=4", "walltime=02:00:00", "queue=short", "job_extra_directives=[--qos=low]"]
    ) == {
        "cores": 4,
        "walltime": "02:00:00",
        "queue": "short",
        "job_extra_directives": ["--qos=low"],
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["cores"])


# --- Slurm configuration (no Slurm needed: only the job script is rendered) ---------------------


def _job_script(config_options: dict[str, object]) -> str:
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(scheduler_options={"dashboard_address": None}, **config_options) as c:
        return c.job_script()


def test_slurm_config_precedence(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "site.yaml",
        "kind: slurm\n"
        "jobqueue:\n  cores: 2\n  processes: 2\n  memory: 4GB\n  walltime: '01:00:00'\n"
        "  job-extra-directives: ['--qos=low']\n"
        "adapt: {minimum_jobs: 0, maximum_jobs: 3}\n",
    )
    # Dask's own config supplies keys the file leaves out, and loses to keys it gives.
    with dask.config.set(
        {"jobqueue.slurm.account": "proj42", "jobqueue.slurm.walltime": "09:00:00"}
    ):
        config = load_cluster_config(path, overrides={"queue": "debug"})
        assert config.options == {
            "cores": 2,
            "processes": 2,
            "memory": "4GB",
            "walltime": "01:00:00",
            "job_extra_directives": ["--qos=low"],
            "queue": "debug",
        }
        assert config.adapt == {"minimum_jobs": 0, "maximum_jobs": 3}
        script = _job_script(config.options)
    assert "#SBATCH -A proj42" in script
    assert "#SBATCH -t 01:00:00" in script
    assert "#SBATCH -p debug" in script
    assert "#SBATCH --qos=low" in script
    assert "--nthreads 1" in script  # cores / processes

    # Overrides beat the file; workers replaces the adaptive maximum.
    config = load_cluster_config(path, workers=5, overrides={"walltime": "02:30:00"})
    assert config.options["walltime"] == "02:30:00"
    assert config.adapt == {"minimum_jobs": 0, "maximum": 5}


def test_slurm_cores_and_memory_may_come_from_dask_config(tmp_path: Path) -> None:
    path = _write(tmp_path / "bare.yaml", "kind: slurm\n")
    no_site_defaults = {"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}
    with dask.config.set(no_site_defaults), pytest.raises(ValueError, match="no cores or memory"):
        load_cluster_config(path)
    with dask.config.set({"jobqueue.slurm.cores": 8, "jobqueue.slurm.memory": "16GB"}):
        assert load_cluster_config(path).options == {}


def test_slurm_size_from_workers(tmp_path: Path) -> None:
    assert load_cluster_config("slurm").adapt == {"minimum_jobs": 0, "maximum_jobs": 4}
    assert load_cluster_config("slurm", workers=8).adapt == {"minimum_jobs": 0, "maximum": 8}
    fixed = _write(
        tmp_path / "fixed.yaml",
        "kind: slurm\njobqueue: {cores: 1, memory: 1GB}\nscale: {jobs: 3}\n",
    )
    assert load_cluster_config(fixed).scale == {"jobs": 3}
    assert load_cluster_config(fixed, workers=8).scale == {"n": 8}
    # No size at all would leave a sweep waiting forever: one job.
    bare = _write(tmp_path / "bare.yaml", "kind: slurm\njobqueue: {cores: 1, memory: 1GB}\n")
    assert load_cluster_config(bare).scale == {"jobs": 1}


# --- Real Slurm --------------------------------------------------------------------------------


@functools.cache
def _slurm_problem() -> str | None:
    """Why the Slurm tests cannot run here, or None. Asked once: sinfo waits ~10 s for a
    controller that is down."""
    if shutil.which("sbatch") is None:
        return "sbatch not on PATH (start one with cluster-configs/slurm-localhost/up.sh)"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-p", "debug", "-o", "%a %t"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed ({exc}); start Slurm with cluster-configs/slurm-localhost/up.sh"
    if proc.returncode != 0:
        error = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return f"sinfo failed ({error}); start Slurm with cluster-configs/slurm-localhost/up.sh"
    if not any(line.split()[:1] == ["up"] for line in proc.stdout.splitlines()):
        return "no partition 'debug' that is up (cluster-configs/slurm-localhost/up.sh)"
    return None


@pytest.fixture
def slurm_overrides(tmp_path: Path) -> dict[str, object]:
    """SLURMCluster keys for the local test Slurm: small jobs on the lo interface."""
    problem = _slurm_problem()
    if problem:
        pytest.skip(problem)
    return {
        "cores": 1,
        "processes": 1,
        "memory": "1GB",
        "walltime": "00:10:00",
        "queue": "debug",
        "interface": "lo",
        "python": sys.executable,
        "job_name": f"mcpower-test-{uuid.uuid4().hex[:8]}",
        "log_directory": str(tmp_path / "slurm-logs"),
        "local_directory": str(tmp_path / "dask-worker-space"),
        "death_timeout": 30,
    }


def _job_ids(name: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def _wait_no_jobs(name: str, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while (ids := _job_ids(name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return ids


@pytest.fixture
def slurm_client(tmp_path: Path, slurm_overrides: dict[str, object]) -> Iterator[Client]:
    """A client on a SLURMCluster of exactly 2 single-worker jobs."""
    path = _write(tmp_path / "fixed.yaml", "kind: slurm\njobqueue: {cores: 1}\nscale: {jobs: 2}\n")
    with open_client(path, overrides=slurm_overrides) as client:
        client.wait_for_workers(2, timeout=120)
        yield client
    assert _wait_no_jobs(str(slurm_overrides["job_name"])) == []


@pytest.mark.slurm
def test_slurm_runs_tasks(slurm_client: Client, slurm_overrides: dict[str, object]) -> None:
    assert type(slurm_client.cluster).__name__ == "SLURMCluster"
    assert len(_job_ids(str(slurm_overrides["job_name"]))) == 2
    assert slurm_client.gather(slurm_client.map(_square, range(50))) == [x * x for x in range(50)]
    # The tasks really ran in Slurm jobs, not in this process.
    job_ids = slurm_client.run(lambda: os.environ.get("SLURM_JOB_ID"))
    assert len(job_ids) == 2 and all(job_ids.values())
    assert describe(slurm_client).endswith("2 workers, 2 threads")


@pytest.mark.slurm
def test_slurm_shipped_config_is_adaptive(slurm_overrides: dict[str, object]) -> None:
    name = str(slurm_overrides["job_name"])
    with open_client("slurm", workers=2, overrides=slurm_overrides) as client:
        # No job until there is work; the queued tasks make Dask submit up to 2.
        assert client.gather(client.map(_square, range(20))) == [x * x for x in range(20)]
        assert 1 <= len(client.nthreads()) <= 2
    assert _wait_no_jobs(name) == []


@pytest.mark.slurm
def test_slurm_adaptive_replaces_cancelled_job(
    tmp_path: Path, slurm_overrides: dict[str, object]
) -> None:
    path = _write(
        tmp_path / "adaptive.yaml",
        "kind: slurm\njobqueue: {cores: 1}\nadapt: {minimum_jobs: 1, maximum_jobs: 1}\n",
    )
    name = str(slurm_overrides["job_name"])
    with open_client(path, overrides=slurm_overrides) as client:
        client.wait_for_workers(1, timeout=120)
        (first,) = _job_ids(name)
        subprocess.run(["scancel", first], check=True)  # as walltime or preemption would
        # Work submitted after the loss still completes, on a job Dask submits in its place.
        assert client.gather(client.map(_square, range(10))) == [x * x for x in range(10)]
        assert first not in _job_ids(name)
    assert _wait_no_jobs(name) == []


# --- Sweeps through Slurm ------------------------------------------------------------------------

SWEEP_SCENARIO = """\
name: slurm-check
model:
  formula: "score ~ treatment + (1 + treatment|cluster)"
  effects: {treatment: 0.3}
  cluster: {grouping: cluster, ICC: 0.15, n_clusters: 10, random_slopes: [treatment],
            slope_variance: 0.1}
simulations: 2000
seed: 20261125
sample_size: 200
sweep:
  n_clusters: [8, 12]
"""


def _totals(path: Path) -> np.ndarray:
    """The store's per-point totals (chunks done, counts): the raw record of a sweep."""
    import zarr

    from mcpower_sweep.sweeps.store import TOTALS

    return np.asarray(zarr.open_group(str(path), mode="r")[TOTALS][...])


def _assert_same_chunks(a: Path, b: Path) -> None:
    left, right = _totals(a), _totals(b)
    assert left.shape == right.shape and left.size > 0
    assert np.array_equal(left, right)


@pytest.mark.slurm
def test_sweep_on_slurm_is_bit_identical_to_local(slurm_client: Client, tmp_path: Path) -> None:
    pytest.importorskip("mcpower_sweep._native")
    from mcpower_sweep.scenario import load_scenario
    from mcpower_sweep.sweeps.run import sweep

    scenario = load_scenario(_write(tmp_path / "s.yaml", SWEEP_SCENARIO))
    options = {**scenario.sweep_kwargs(), "simulations": 300, "chunk_size": 25, "progress": False}
    on_slurm = sweep(
        scenario.model, scenario.design_grid(), out=tmp_path / "slurm.zarr",
        cluster=slurm_client, **options,
    )  # fmt: skip
    with open_client(workers=2) as local:
        sweep(
            scenario.model, scenario.design_grid(), out=tmp_path / "local.zarr",
            cluster=local, **options,
        )  # fmt: skip
    assert bool(on_slurm.complete.all())
    _assert_same_chunks(tmp_path / "slurm.zarr", tmp_path / "local.zarr")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcpower_sweep.cli", *args]


def _done_chunks(path: Path) -> int:
    from mcpower_sweep.sweeps import store

    try:
        return int(store.done_mask(path).sum()) if store.is_store(path) else 0
    except (FileNotFoundError, KeyError, ValueError):
        return 0  # not created yet, or its first flush is being written


@pytest.mark.slurm
def test_sweep_survives_scancel_and_resumes(
    tmp_path: Path, slurm_overrides: dict[str, object]
) -> None:
    """Workers' job cancelled and the driver killed mid-sweep: no finished chunk is lost, and
    `--resume` completes the store bit-identically to an uninterrupted run."""
    pytest.importorskip("mcpower_sweep._native")
    scenario = _write(tmp_path / "s.yaml", SWEEP_SCENARIO)
    config = _write(
        tmp_path / "one-job.yaml", "kind: slurm\njobqueue: {cores: 1}\nscale: {jobs: 1}\n"
    )
    name = str(slurm_overrides["job_name"])
    options = [f"--cluster-option={key}={value}" for key, value in slurm_overrides.items()]
    store = tmp_path / "interrupted.zarr"
    # small chunks: the run must still be going when its job is cancelled
    common = ["--chunk-size", "5", "--no-progress"]

    reference = tmp_path / "reference.zarr"
    subprocess.run(
        _cli("run", str(scenario), "--out", str(reference), "--workers", "2", *common),
        check=True, capture_output=True,
    )  # fmt: skip

    log = open(tmp_path / "driver.log", "wb")  # noqa: SIM115 - closed below
    driver = subprocess.Popen(
        _cli("run", str(scenario), "--out", str(store), "--cluster", str(config), *options,
             *common),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while _done_chunks(store) < 3:
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()
            assert time.monotonic() < deadline, "no chunk finished on Slurm in 180 s"
            time.sleep(0.2)
        # As walltime or preemption would: the workers' job goes, then the driver.
        subprocess.run(["scancel", "-n", name], check=True)
        assert _wait_no_jobs(name) == []
        time.sleep(1)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        log.close()
    done = _done_chunks(store)
    from mcpower_sweep.sweeps import store as store_module

    total = store_module.done_mask(reference).size
    assert 3 <= done < total

    resumed = subprocess.run(
        _cli("run", str(scenario), "--out", str(store), "--cluster", str(config), *options,
             "--resume", *common),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert _done_chunks(store) == total
    _assert_same_chunks(store, reference)
    assert _wait_no_jobs(name) == []
