"""Dask clients for sweeps: the one place that turns a ``--cluster`` choice into a client.

A sweep is a Dask task graph; where it runs is chosen by one value, the ``cluster`` argument
of :func:`open_client` (the CLI's ``--cluster``):

``None`` or ``"local"``
    A :class:`distributed.LocalCluster` on this machine: one single-threaded worker per
    usable core, the workers threads of this process (the engine releases the GIL;
    ``processes: true`` starts worker processes instead), dashboard on a free port, as the
    built-in ``local.yaml`` says.  ``"local"`` reads your own ``local.yaml``
    instead when one is found (see below); ``None`` always uses the built-in one.
``"tcp://host:port"`` or ``"tls://host:port"``
    An existing Dask scheduler (``dask scheduler`` + ``dask worker``, a Kubernetes or cloud
    deployment, ...). TLS certificates come from Dask's config (``distributed.comm.tls``).
    The scheduler and its workers are left running on exit.
a name, e.g. ``"slurm"``
    The file ``<name>.yaml`` in the first folder that has one (see below).
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

A local file lists only what it changes: the other keys come from the built-in
``local.yaml``, which holds the defaults (written once, there).  The ``jobqueue`` mapping
holds keyword arguments of :class:`dask_jobqueue.SLURMCluster` (``cores``, ``processes``,
``memory``, ``walltime``, ``queue``, ``account``, ``job_extra_directives``, ``interface``,
``python``, ``local_directory``, ``log_directory``, ...); ``-`` and ``_`` are
interchangeable in keys, as in Dask's config.  Only keys given there are passed on, so every
other value comes from Dask's own configuration (``~/.config/dask/jobqueue.yaml``,
``DASK_JOBQUEUE__SLURM__*`` environment variables, ``dask.config.set``) exactly as
dask-jobqueue resolves it.

``workers`` (the CLI's ``--workers``) counts Dask workers: it replaces ``n_workers`` of a
local cluster, the fixed size of a Slurm cluster (rounded up to whole jobs), or the maximum
of an adaptive one. ``overrides`` (the CLI's ``--cluster-option key=value``, see
:func:`parse_overrides`) replaces keys of the ``jobqueue`` mapping for Slurm and top-level
keys for the other kinds.

Where named configs are found
-----------------------------
``local``, ``slurm`` and ``address`` are installed with the package, in
``mcpower_sweep/cluster/configs/`` (:data:`BUILTIN_DIR`): they work in any install.  Your
own files come first; a name is looked up, first match wins, in:

1. the folder(s) in the environment variable ``MCPOWER_SWEEP_CLUSTER_CONFIGS``
   (``os.pathsep``-separated), for a site's own set of configs;
2. ``./cluster-configs`` in the current directory, for a project's own configs;
3. the built-in folder.

To adapt a built-in config, copy it (``available_configs()["slurm"]`` is its path) into one
of the first two folders, or anywhere and pass its path.

Modules: :mod:`.files` (finding named configs), :mod:`.config` (reading and validating a
choice: :func:`load_cluster_config`) and :mod:`.start` (starting it: :func:`open_client`;
:func:`describe`, :func:`dashboard_link`).

Examples
--------
>>> from mcpower_sweep.cluster import open_client, describe
>>> with open_client(workers=2) as client:  # doctest: +SKIP
...     print(describe(client))
...     client.submit(sum, [1, 2]).result()
LocalCluster at inproc://192.0.2.2/5120/1, 2 workers, 2 threads
3
"""

from __future__ import annotations

from .config import KINDS, ClusterConfig, load_cluster_config, parse_overrides
from .files import BUILTIN_DIR, ENV_VAR, available_configs, config_dirs
from .start import dashboard_link, describe, open_client

__all__ = [
    "BUILTIN_DIR",
    "ENV_VAR",
    "KINDS",
    "ClusterConfig",
    "available_configs",
    "config_dirs",
    "dashboard_link",
    "describe",
    "load_cluster_config",
    "open_client",
    "parse_overrides",
]
