"""Dask clients for sweeps: the one place that turns a ``--cluster`` choice into a client.

A sweep is a Dask task graph; where it runs is chosen by one value, the ``cluster`` argument
of :func:`open_client` (the CLI's ``--cluster``):

``None`` or ``"local"``
    A :class:`distributed.LocalCluster` on this machine: worker *processes* with one thread
    each (the engine is single-threaded per task), one per usable core, dashboard on a free
    port. ``"local"`` reads ``local.yaml`` when one is found (see below), so the defaults can
    be edited there; ``None`` always uses the built-in defaults, which ``local.yaml`` repeats.
``"tcp://host:port"`` or ``"tls://host:port"``
    An existing Dask scheduler (``dask scheduler`` + ``dask worker``, a Kubernetes or cloud
    deployment, ...). TLS certificates come from Dask's config (``distributed.comm.tls``).
    The scheduler and its workers are left running on exit.
a name, e.g. ``"slurm"``
    The file ``<name>.yaml`` in the first cluster-configs folder that has one.
a path to a YAML file
    That file.
a :class:`distributed.Client` or a cluster object
    Used as is and left open (``workers`` and ``overrides`` cannot apply to it).

Config files
------------
A YAML mapping with a ``kind``::

    kind: local          # n_workers, threads_per_worker, memory_limit, processes,
                         # dashboard_address, local_directory
    kind: address        # address: tcp://127.0.0.1:8786
    kind: slurm          # jobqueue: {cores: 1, memory: 2GB, walltime: "01:00:00", ...}
                         # and either scale: {jobs: N} (or {workers: N})
                         # or adapt: {minimum_jobs: 0, maximum_jobs: N}

The ``jobqueue`` mapping holds keyword arguments of :class:`dask_jobqueue.SLURMCluster`
(``cores``, ``processes``, ``memory``, ``walltime``, ``queue``, ``account``,
``job_extra_directives``, ``interface``, ``python``, ``local_directory``,
``log_directory``, ...); ``-`` and ``_`` are interchangeable in keys, as in Dask's config.
Only keys given there are passed on, so every other value comes from Dask's own
configuration (``~/.config/dask/jobqueue.yaml``, ``DASK_JOBQUEUE__SLURM__*`` environment
variables, ``dask.config.set``) exactly as dask-jobqueue resolves it.

``workers`` (the CLI's ``--workers``) counts Dask workers: it replaces ``n_workers`` of a
local cluster, the fixed size of a Slurm cluster (rounded up to whole jobs), or the maximum
of an adaptive one. ``overrides`` (the CLI's ``--cluster-option key=value``, see
:func:`parse_overrides`) replaces keys of the ``jobqueue`` mapping for Slurm and top-level
keys for the other kinds.

Where named configs are found
-----------------------------
The canonical files live in the repository's top-level ``cluster-configs/`` folder. A name is
looked up, first match wins, in:

1. the folder(s) in the environment variable ``MCPOWER_SWEEP_CLUSTER_CONFIGS``
   (``os.pathsep``-separated), for a site's own set of configs;
2. ``./cluster-configs`` in the current directory, for a project checkout;
3. ``cluster-configs/`` next to the package source (the repository root), which is found
   when the package is used from a checkout or an editable install.

A non-editable install has no repository root, so point ``MCPOWER_SWEEP_CLUSTER_CONFIGS`` at
a copy of the folder, or pass a path; ``"local"`` still works without any file.

Examples
--------
>>> from mcpower_sweep.cluster import open_client, describe
>>> with open_client(workers=2) as client:  # doctest: +SKIP
...     print(describe(client))
...     client.submit(sum, [1, 2]).result()
LocalCluster at tcp://127.0.0.1:40521, 2 workers, 2 threads
3
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from distributed import Client
from distributed.deploy import Cluster

__all__ = [
    "ClusterConfig",
    "available_configs",
    "config_dirs",
    "dashboard_link",
    "describe",
    "load_cluster_config",
    "open_client",
    "parse_overrides",
]

ENV_VAR = "MCPOWER_SWEEP_CLUSTER_CONFIGS"
KINDS = ("local", "slurm", "address")

# Keyword arguments of LocalCluster that a local.yaml may set; written once, here.
LOCAL_DEFAULTS: dict[str, Any] = {
    "n_workers": None,  # None: one per usable core
    "threads_per_worker": 1,
    "memory_limit": "auto",
    "processes": True,
    "dashboard_address": ":0",
    "local_directory": None,
}
_SLURM_SECTIONS = ("kind", "jobqueue", "scale", "adapt")
_SCALE_KEYS = ("jobs", "workers")
_ADAPT_KEYS = (
    "minimum_jobs",
    "maximum_jobs",
    "minimum",
    "maximum",
    "interval",
    "wait_count",
    "target_duration",
)
_ADDRESS_RE = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):(\d{1,5})$")

ClusterKind = Literal["local", "slurm", "address", "client", "cluster"]


@dataclass(frozen=True)
class ClusterConfig:
    """A validated cluster choice, ready to be started by :func:`open_client`.

    Attributes
    ----------
    kind : {"local", "slurm", "address", "client", "cluster"}
        What will be started or connected to.
    source : str
        Where the choice came from: ``"built-in"``, a file path or the address.
    options : dict
        ``LocalCluster`` keyword arguments (local), ``SLURMCluster`` keyword arguments given
        explicitly (slurm) or ``{"address": ...}`` (address).
    scale : dict or None
        Slurm only: ``{"jobs": N}`` or ``{"n": workers}`` for a fixed size.
    adapt : dict or None
        Slurm only: keyword arguments of ``SLURMCluster.adapt``.
    obj : Client or Cluster or None
        The object passed in, for kinds ``"client"`` and ``"cluster"``.
    """

    kind: ClusterKind
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, int] | None = None
    adapt: dict[str, Any] | None = None
    obj: Any = None


# --- Finding config files ---------------------------------------------------------------------


def config_dirs() -> list[Path]:
    """Folders searched for named cluster configs, in order (existing ones only).

    Returns
    -------
    list of Path
        ``$MCPOWER_SWEEP_CLUSTER_CONFIGS`` entries, ``./cluster-configs``, and the
        repository's ``cluster-configs/`` next to the package source.
    """
    candidates: list[Path] = []
    env = os.environ.get(ENV_VAR, "")
    candidates += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    candidates.append(Path.cwd() / "cluster-configs")
    candidates.append(Path(__file__).resolve().parents[3] / "cluster-configs")
    dirs: list[Path] = []
    for path in candidates:
        resolved = path.resolve()
        if resolved.is_dir() and resolved not in dirs:
            dirs.append(resolved)
    return dirs


def available_configs() -> dict[str, Path]:
    """Named cluster configs found in :func:`config_dirs`, first folder winning.

    Returns
    -------
    dict of str to Path
        Config name (file stem) to file, e.g. ``{"local": Path(".../local.yaml"), ...}``.
    """
    found: dict[str, Path] = {}
    for folder in config_dirs():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                found.setdefault(path.stem, path)
    return found


def _allowed_description() -> str:
    names = sorted(set(available_configs()) | {"local"})
    return (
        f"a config name ({', '.join(names)}), a scheduler address tcp://host:port or "
        "tls://host:port, or a path to a YAML cluster config"
    )


# --- Validating ---------------------------------------------------------------------------------


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (the CLI's ``--cluster-option``) into an overrides dict.

    Values are read as YAML scalars or flow collections, so numbers, booleans, ``null`` and
    lists come out typed.

    Parameters
    ----------
    items : iterable of str
        Strings like ``"cores=4"``, ``"walltime=02:00:00"``,
        ``"job_extra_directives=[--qos=low]"``.

    Returns
    -------
    dict
        Key to value.

    Examples
    --------
    >>> parse_overrides(["cores=4", "queue=short", "job_extra_directives=[--qos=low]"])
    {'cores': 4, 'queue': 'short', 'job_extra_directives': ['--qos=low']}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"cluster option {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise ValueError(f"cluster option {item!r}: value is not valid YAML: {exc}") from exc
        # "2:00:00" reads as a sexagesimal int in YAML 1.1; a walltime must stay a string.
        if isinstance(value, int) and not isinstance(value, bool) and ":" in text:
            value = text.strip()
        out[key] = value
    return out


def _norm_key(key: object) -> str:
    return str(key).replace("-", "_")


def _slurm_keys() -> frozenset[str]:
    """Keyword arguments SLURMCluster accepts, read from the installed dask-jobqueue."""
    from dask_jobqueue import SLURMCluster
    from dask_jobqueue.core import Job, JobQueueCluster
    from dask_jobqueue.slurm import SLURMJob

    names: set[str] = set()
    for fn in (SLURMCluster.__init__, JobQueueCluster.__init__, SLURMJob.__init__, Job.__init__):
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names.add(p.name)
    # Internal plumbing, set by scale/adapt instead, or (dashboard_address, host) refused by
    # dask-jobqueue outside scheduler_options.
    names -= {"self", "scheduler", "job_cls", "loop", "asynchronous", "n_workers"}
    names -= {"dashboard_address", "host"}
    return frozenset(names)


def _check_keys(cluster: str, where: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(
            f"cluster={cluster!r}: unknown {where} key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _positive_int(cluster: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"cluster={cluster!r}: {name} must be a positive integer, got {value!r}")
    return value


def _mapping(cluster: str, name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"cluster={cluster!r}: {name} must be a mapping, got {value!r}")
    return {_norm_key(k): v for k, v in value.items()}


def _read_yaml(cluster: str, path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"cluster={cluster!r}: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"cluster={cluster!r}: {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ValueError(
            f"cluster={cluster!r}: {path} must hold a mapping with a 'kind' "
            f"({', '.join(KINDS)}), got {type(data).__name__}"
        )
    return {_norm_key(k): v for k, v in data.items()}


def _from_mapping(
    cluster: str,
    source: str,
    data: Mapping[str, Any],
    workers: int | None,
    overrides: Mapping[str, Any],
) -> ClusterConfig:
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(
            f"cluster={cluster!r}: {source} has kind={kind!r}; allowed kinds: {', '.join(KINDS)}"
        )
    if kind == "local":
        options = {k: v for k, v in data.items() if k != "kind"}
        _check_keys(cluster, "local", options, LOCAL_DEFAULTS)
        _check_keys(cluster, "override", overrides, LOCAL_DEFAULTS)
        options = {**LOCAL_DEFAULTS, **options, **overrides}
        if workers is not None:
            options["n_workers"] = workers
        if options["n_workers"] is not None:
            _positive_int(cluster, "n_workers", options["n_workers"])
        if options["threads_per_worker"] is not None:
            _positive_int(cluster, "threads_per_worker", options["threads_per_worker"])
        return ClusterConfig("local", source, options)

    if kind == "address":
        options = {k: v for k, v in data.items() if k != "kind"}
        _check_keys(cluster, "address", options, ("address",))
        _check_keys(cluster, "override", overrides, ("address",))
        options.update(overrides)
        address = options.get("address")
        if not isinstance(address, str) or not _ADDRESS_RE.match(address):
            raise ValueError(
                f"cluster={cluster!r}: address must be tcp://host:port or tls://host:port, "
                f"got {address!r}"
            )
        if workers is not None:
            options["wait_for_workers"] = workers
        return ClusterConfig("address", source, options)

    # kind == "slurm"
    _check_keys(cluster, "top-level", data, _SLURM_SECTIONS)
    allowed = _slurm_keys()
    jobqueue = _mapping(cluster, "jobqueue", data.get("jobqueue"))
    overrides = {_norm_key(k): v for k, v in overrides.items()}
    _check_keys(cluster, "jobqueue", jobqueue, allowed)
    _check_keys(cluster, "override", overrides, allowed)
    jobqueue.update(overrides)
    walltime = jobqueue.get("walltime")
    if walltime is not None and not isinstance(walltime, str):
        # Unquoted, YAML 1.1 reads 1:30:00 as the integer 5400, which Slurm would take as
        # 5400 minutes.
        raise ValueError(
            f"cluster={cluster!r}: walltime must be a quoted string like '01:00:00', "
            f"got {walltime!r}"
        )
    scale = _mapping(cluster, "scale", data.get("scale")) or None
    adapt = _mapping(cluster, "adapt", data.get("adapt")) or None
    if scale and adapt:
        raise ValueError(f"cluster={cluster!r}: give either scale or adapt, not both")
    if scale is not None:
        _check_keys(cluster, "scale", scale, _SCALE_KEYS)
        if len(scale) != 1:
            raise ValueError(f"cluster={cluster!r}: scale needs exactly one of jobs or workers")
        ((what, count),) = scale.items()
        count = _positive_int(cluster, f"scale.{what}", count)
        scale = {"jobs": count} if what == "jobs" else {"n": count}
    if adapt is not None:
        _check_keys(cluster, "adapt", adapt, _ADAPT_KEYS)
    if workers is not None:
        if adapt is not None:
            adapt = {k: v for k, v in adapt.items() if k not in ("maximum", "maximum_jobs")}
            adapt["maximum"] = workers
        else:
            scale = {"n": workers}
    if scale is None and adapt is None:
        # A cluster with no jobs would leave the sweep waiting forever.
        scale = {"jobs": 1}
    _check_required_slurm_keys(cluster, jobqueue)
    return ClusterConfig("slurm", source, jobqueue, scale=scale, adapt=adapt)


def _check_required_slurm_keys(cluster: str, jobqueue: Mapping[str, Any]) -> None:
    # dask-jobqueue needs cores and memory from somewhere; say where they may come from now,
    # rather than fail inside the cluster start with a message that names no file.
    import dask

    section = f"jobqueue.{jobqueue.get('config_name') or 'slurm'}"
    missing = [
        key
        for key in ("cores", "memory")
        if jobqueue.get(key) is None and dask.config.get(f"{section}.{key}", None) is None
    ]
    if missing:
        raise ValueError(
            f"cluster={cluster!r}: no {' or '.join(missing)} for the Slurm jobs; set them in "
            f"the config's jobqueue mapping, with --cluster-option, or in Dask's config "
            f"({section} in ~/.config/dask/jobqueue.yaml)"
        )


def load_cluster_config(
    cluster: str | os.PathLike[str] | Client | Cluster | None = None,
    workers: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ClusterConfig:
    """Resolve and validate a cluster choice without starting anything.

    Parameters
    ----------
    cluster : str, path, Client, Cluster or None
        See the module documentation.
    workers : int, optional
        Number of Dask workers (local size, Slurm size or adaptive maximum).
    overrides : mapping, optional
        Values replacing keys of the config (``jobqueue`` keys for Slurm).

    Returns
    -------
    ClusterConfig

    Raises
    ------
    ValueError
        Naming ``cluster`` and what is allowed, for unknown names, missing, unreadable or
        invalid files, unknown kinds or keys, and bad values.

    Examples
    --------
    >>> load_cluster_config("tcp://127.0.0.1:8786").options
    {'address': 'tcp://127.0.0.1:8786'}
    """
    overrides = dict(overrides or {})
    if workers is not None:
        _positive_int(str(cluster), "workers", workers)

    if isinstance(cluster, (Client, Cluster)):
        if workers is not None or overrides:
            raise ValueError(
                f"cluster={cluster!r}: workers and overrides apply only to a cluster that "
                "open_client starts; size an existing client or cluster yourself"
            )
        kind: ClusterKind = "client" if isinstance(cluster, Client) else "cluster"
        return ClusterConfig(kind, repr(cluster), obj=cluster)

    if cluster is None:
        return _from_mapping("local", "built-in", {"kind": "local"}, workers, overrides)
    if not isinstance(cluster, (str, os.PathLike)):
        raise ValueError(
            f"cluster={cluster!r}: expected {_allowed_description()}, "
            "or a distributed Client or cluster object"
        )

    text = os.fspath(cluster).strip()
    label = os.fspath(cluster)
    if "://" in text:
        if not _ADDRESS_RE.match(text):
            raise ValueError(
                f"cluster={label!r} is not a valid address; expected {_allowed_description()}"
            )
        data = {"kind": "address", "address": text}
        return _from_mapping(label, text, data, workers, overrides)

    configs = available_configs()
    looks_like_path = (
        isinstance(cluster, os.PathLike)
        or text.endswith((".yaml", ".yml"))
        or os.sep in text
        or (os.altsep is not None and os.altsep in text)
    )
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"cluster={label!r}: no such file; expected {_allowed_description()}")
    elif text in configs:
        path = configs[text]
    elif text == "local":
        return _from_mapping(label, "built-in", {"kind": "local"}, workers, overrides)
    else:
        raise ValueError(f"cluster={label!r} is not known; expected {_allowed_description()}")
    return _from_mapping(label, str(path), _read_yaml(label, path), workers, overrides)


# --- Starting ---------------------------------------------------------------------------------


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


def _start_local(options: Mapping[str, Any]) -> Cluster:
    from distributed import LocalCluster

    kwargs = dict(options)
    kwargs["n_workers"] = options["n_workers"] or _usable_cores()
    with _children_ignore_sigint():
        return LocalCluster(silence_logs=logging.ERROR, **kwargs)


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
        ``None``/``"local"``, ``"tcp://host:port"``/``"tls://host:port"``, a config name
        from cluster-configs (``"slurm"``, ``"address"``, ...), a path to a YAML config, or
        an existing client or cluster (used, not closed). See the module documentation.
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


# --- Describing ---------------------------------------------------------------------------------


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
