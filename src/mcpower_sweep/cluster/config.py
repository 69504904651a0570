"""Cluster choices resolved and validated: named configurations, files, addresses, overrides.

:func:`load_cluster_config` turns a ``--cluster`` value into a :class:`ClusterConfig`
without starting anything, so a bad choice fails before a sweep creates its store.  Named
configurations are found by :mod:`.files`.

Examples
--------
>>> load_cluster_config("tcp://127.0.0.1:8786").options
{'address': 'tcp://127.0.0.1:8786'}
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from distributed import Client
from distributed.deploy import Cluster

from ..params import PARAMS, Param
from .files import BUILTIN_DIR, allowed_description, available_configs

KINDS = ("local", "slurm", "address")

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
# Counts in a config file that are not parameters of a sweep (threads, Slurm jobs).
_COUNT = Param("count", "int", "a positive count", low=1)

ClusterKind = Literal["local", "slurm", "address", "client", "cluster"]


@dataclass(frozen=True)
class ClusterConfig:
    """A validated cluster choice, ready to be started by :func:`~.start.open_client`.

    Attributes
    ----------
    kind : {"local", "slurm", "address", "client", "cluster"}
        What will be started or connected to.
    source : str
        Where the choice came from: a file path, the address, or the object's repr.
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


def _norm_key(key: object) -> str:
    return str(key).replace("-", "_")


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


@functools.cache
def _local_defaults() -> dict[str, Any]:
    """The built-in ``local.yaml``: the defaults, and the keys, of every local config."""
    path = BUILTIN_DIR / "local.yaml"
    return {k: v for k, v in _read_yaml("local", path).items() if k != "kind"}


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


def _count(cluster: str, label: str, value: object, rule: Param = _COUNT) -> int:
    try:
        return int(rule.check(value, label))
    except ValueError as exc:
        raise ValueError(f"cluster={cluster!r}: {exc}") from None


def _mapping(cluster: str, name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"cluster={cluster!r}: {name} must be a mapping, got {value!r}")
    return {_norm_key(k): v for k, v in value.items()}


def _local(cluster: str, source: str, data: Mapping[str, Any], workers: int | None,
           overrides: Mapping[str, Any]) -> ClusterConfig:
    defaults = _local_defaults()
    options = {k: v for k, v in data.items() if k != "kind"}
    _check_keys(cluster, "local", options, defaults)
    _check_keys(cluster, "override", overrides, defaults)
    options = {**defaults, **options, **overrides}
    if workers is not None:
        options["n_workers"] = workers
    if options["n_workers"] is not None:
        _count(cluster, "n_workers", options["n_workers"], PARAMS["workers"])
    if options["threads_per_worker"] is not None:
        _count(cluster, "threads_per_worker", options["threads_per_worker"])
    return ClusterConfig("local", source, options)


def _address(cluster: str, source: str, data: Mapping[str, Any], workers: int | None,
             overrides: Mapping[str, Any]) -> ClusterConfig:
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


def _slurm(cluster: str, source: str, data: Mapping[str, Any], workers: int | None,
           overrides: Mapping[str, Any]) -> ClusterConfig:
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
        rule = _COUNT if what == "jobs" else PARAMS["workers"]
        count = _count(cluster, f"scale.{what}", count, rule)
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


_BY_KIND = {"local": _local, "address": _address, "slurm": _slurm}


def _from_mapping(cluster: str, source: str, data: Mapping[str, Any], workers: int | None,
                  overrides: Mapping[str, Any]) -> ClusterConfig:
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(
            f"cluster={cluster!r}: {source} has kind={kind!r}; allowed kinds: {', '.join(KINDS)}"
        )
    return _BY_KIND[kind](cluster, source, data, workers, overrides)


def load_cluster_config(
    cluster: str | os.PathLike[str] | Client | Cluster | None = None,
    workers: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ClusterConfig:
    """Resolve and validate a cluster choice without starting anything.

    Parameters
    ----------
    cluster : str, path, Client, Cluster or None
        See :mod:`mcpower_sweep.cluster`.  None is the built-in ``local.yaml``.
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
    >>> load_cluster_config("slurm", workers=8).adapt
    {'minimum_jobs': 0, 'maximum': 8}
    """
    overrides = dict(overrides or {})
    if workers is not None:
        workers = int(PARAMS["workers"].check(workers))

    if isinstance(cluster, (Client, Cluster)):
        if workers is not None or overrides:
            raise ValueError(
                f"cluster={cluster!r}: workers and overrides apply only to a cluster that "
                "open_client starts; size an existing client or cluster yourself"
            )
        kind: ClusterKind = "client" if isinstance(cluster, Client) else "cluster"
        return ClusterConfig(kind, repr(cluster), obj=cluster)

    if cluster is None:
        path = BUILTIN_DIR / "local.yaml"
        return _from_mapping("local", str(path), _read_yaml("local", path), workers, overrides)
    if not isinstance(cluster, (str, os.PathLike)):
        raise ValueError(
            f"cluster={cluster!r}: expected {allowed_description()}, "
            "or a distributed Client or cluster object"
        )

    text = os.fspath(cluster).strip()
    label = os.fspath(cluster)
    if "://" in text:
        if not _ADDRESS_RE.match(text):
            raise ValueError(
                f"cluster={label!r} is not a valid address; expected {allowed_description()}"
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
            raise ValueError(f"cluster={label!r}: no such file; expected {allowed_description()}")
    elif text in configs:
        path = configs[text]
    else:
        raise ValueError(f"cluster={label!r} is not known; expected {allowed_description()}")
    return _from_mapping(label, str(path), _read_yaml(label, path), workers, overrides)
