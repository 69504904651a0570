"""Starting what a :class:`~.config.ClusterConfig` describes, and saying what it is.

:func:`open_client` validates a cluster choice at once and, when its ``with`` block is
entered, starts a ``LocalCluster`` or a dask-jobqueue ``SLURMCluster``, or connects to a
running scheduler; it closes only what it started.  :func:`describe` and
:func:`dashboard_link` are for the one line a sweep prints about where it runs.

Examples
--------
>>> with open_client(workers=2) as client:  # doctest: +SKIP
...     print(describe(client))
LocalCluster at inproc://192.0.2.2/5120/1, 2 workers, 2 threads
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from distributed import Client
from distributed.deploy import Cluster

from .config import ClusterConfig, load_cluster_config


def _usable_cores() -> int:
    # Affinity/cgroup-restricted processes (Slurm allocations, taskset) see fewer cores than
    # the machine has; sched_getaffinity reports what this process may actually use.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started in the block ignore SIGINT (an ignored signal survives exec).

    Ctrl-C in a terminal goes to the whole foreground process group: the driver saves
    what has arrived and stops the cluster itself, which it cannot do if the workers
    have already died with tracebacks of their own.  A Ctrl-C while the cluster starts
    is not seen by the driver either (a second one is).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


# Dask settings of a LocalCluster's processes, where the user's Dask config keeps
# distributed's default: every process checks its event loop every 20 ms (for "event loop
# unresponsive" warnings) and every worker samples its threads' stacks every 10 ms (the
# dashboard's profile page).  With as many processes as cores they take CPU from the
# engine (on 2 cores, about 4 of 26 CPU seconds of the docs sweep).
LOCAL_DASK_CONFIG = {
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.profile.enabled": False,
}


def _local_dask_config() -> dict[str, Any]:
    """:data:`LOCAL_DASK_CONFIG`'s keys that the user's Dask config leaves at the default."""
    import dask

    defaults = dask.config.merge(*dask.config.defaults)
    out = {}
    for key, value in LOCAL_DASK_CONFIG.items():
        default: Any = defaults
        for part in key.split("."):
            default = default.get(part) if isinstance(default, dict) else None
        if dask.config.get(key, None) == default:
            out[key] = value
    return out


def _start_local(options: Mapping[str, Any]) -> Cluster:
    import dask
    from distributed import LocalCluster

    kwargs = dict(options)
    kwargs["n_workers"] = options["n_workers"] or _usable_cores()
    # CRITICAL, not ERROR: a worker whose heartbeat meets a scheduler that is closing logs a
    # traceback at ERROR level (a race inside distributed's shutdown), which would break the
    # CLI's one-line messages.  Nothing is lost: a task's error reaches the driver through its
    # future, and a lost worker through the scheduler.  The Dask config is read as the
    # processes start (the nannies pass it to the workers).
    with _children_ignore_sigint(), dask.config.set(_local_dask_config()):
        return LocalCluster(silence_logs=logging.CRITICAL, **kwargs)


def _start_slurm(config: ClusterConfig) -> Cluster:
    import dask
    from dask_jobqueue import SLURMCluster

    kwargs = dict(config.options)
    # A fixed dashboard port clashes on shared login nodes, so take a free one unless the user
    # chose one. dask-jobqueue reads scheduler-options from Dask's config only when the
    # argument is absent, so merge rather than replace to keep the user's other options.
    config_name = kwargs.get("config_name") or "slurm"
    scheduler_options = {
        **(dask.config.get(f"jobqueue.{config_name}.scheduler-options", {}) or {}),
        **(kwargs.get("scheduler_options") or {}),
    }
    if "dashboard_address" not in scheduler_options:
        scheduler_options["dashboard_address"] = ":0"
    kwargs["scheduler_options"] = scheduler_options
    cluster = SLURMCluster(**kwargs)
    try:
        if config.adapt is not None:
            cluster.adapt(**config.adapt)
        elif config.scale is not None:
            cluster.scale(**config.scale)
    except BaseException:
        cluster.close()
        raise
    return cluster


@contextlib.contextmanager
def _session(config: ClusterConfig) -> Iterator[Client]:
    if config.kind == "client":
        yield config.obj
        return
    if config.kind == "cluster":
        with Client(config.obj) as client:
            yield client
        return
    if config.kind == "address":
        with Client(config.options["address"]) as client:
            n = config.options.get("wait_for_workers")
            if n:
                client.wait_for_workers(n)
            yield client
        return
    cluster = _start_local(config.options) if config.kind == "local" else _start_slurm(config)
    with cluster, Client(cluster) as client:
        yield client


def open_client(
    cluster: str | os.PathLike[str] | Client | Cluster | None = None,
    workers: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> contextlib.AbstractContextManager[Client]:
    """Open a Dask client for a cluster choice; closes what it started on exit.

    The choice is validated at once (errors are raised by this call, before anything
    starts); the cluster is started or connected to when the ``with`` block is entered.

    Parameters
    ----------
    cluster : str, path, Client, Cluster or None
        ``None``/``"local"``, ``"tcp://host:port"``/``"tls://host:port"``, a named config
        (``"slurm"``, ``"address"``, or one of your own), a path to a YAML config, or an
        existing client or cluster (used, not closed). See :mod:`mcpower_sweep.cluster`.
    workers : int, optional
        Number of Dask workers: local size, Slurm size (rounded up to whole jobs), or the
        adaptive maximum. For an address, wait until that many workers are connected.
    overrides : mapping, optional
        Keys replacing those of the config: ``SLURMCluster`` keyword arguments for Slurm
        (e.g. ``{"walltime": "02:00:00", "queue": "short"}``), top-level keys otherwise.

    Returns
    -------
    context manager yielding distributed.Client

    Raises
    ------
    ValueError
        If ``cluster``, ``workers`` or ``overrides`` are not valid; the message names the
        value and what is allowed.

    Examples
    --------
    >>> with open_client("slurm", workers=8, overrides={"walltime": "04:00:00"}) as client:
    ...     futures = client.map(run_chunk, chunks)  # doctest: +SKIP
    """
    return _session(load_cluster_config(cluster, workers, overrides))


def dashboard_link(client: Client) -> str | None:
    """URL of the scheduler's dashboard, or None when it has none (or it cannot be found).

    Examples
    --------
    >>> dashboard_link(client)  # doctest: +SKIP
    'http://127.0.0.1:38555/status'
    """
    try:
        link = client.dashboard_link
    except (AttributeError, KeyError, TypeError, ValueError, OSError):
        return None
    return link or None


def describe(client: Client) -> str:
    """One line saying what the client is connected to: kind, address, workers.

    Examples
    --------
    >>> describe(client)  # doctest: +SKIP
    'SLURMCluster at tcp://10.0.0.5:40321, 4 workers, 4 threads'
    """
    kind = type(client.cluster).__name__ if client.cluster is not None else "scheduler"
    address = client.scheduler.address if client.scheduler is not None else "?"
    try:
        nthreads = client.nthreads()
    except (OSError, TimeoutError):
        return f"{kind} at {address}, workers unknown (scheduler not reachable)"
    n = len(nthreads)
    threads = sum(nthreads.values())
    return (
        f"{kind} at {address}, {n} worker{'s' if n != 1 else ''}, "
        f"{threads} thread{'s' if threads != 1 else ''}"
    )
