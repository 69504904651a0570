"""Where named cluster configurations are found: your folders first, then the built-in ones.

``local``, ``slurm`` and ``address`` are package data in ``configs/`` beside this module
(:data:`BUILTIN_DIR`), so they are installed with the package and found in any install,
editable or not, whatever the working directory.

Examples
--------
>>> sorted({"local", "slurm", "address"} & set(available_configs()))
['address', 'local', 'slurm']
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "MCPOWER_SWEEP_CLUSTER_CONFIGS"
# Package data (scikit-build-core's wheel.packages installs the whole package folder).
BUILTIN_DIR = Path(__file__).resolve().parent / "configs"


def config_dirs() -> list[Path]:
    """Folders searched for named cluster configs, in order (existing ones only).

    Returns
    -------
    list of Path
        ``$MCPOWER_SWEEP_CLUSTER_CONFIGS`` entries, ``./cluster-configs``, and last the
        configurations installed with the package (:data:`BUILTIN_DIR`).
    """
    env = os.environ.get(ENV_VAR, "")
    candidates = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    candidates += [Path.cwd() / "cluster-configs", BUILTIN_DIR]
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


def allowed_description() -> str:
    """What a ``cluster`` value may be, naming the configs found (for error messages)."""
    names = sorted(available_configs())
    return (
        f"a config name ({', '.join(names)}), a scheduler address tcp://host:port or "
        "tls://host:port, or a path to a YAML cluster config"
    )
