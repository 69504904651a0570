"""Sweeps: power over a design grid, in parallel on Dask, into a resumable zarr store.

The data flow, one module per job:

- :mod:`.grid`: the axes ``{parameter: values}`` and each design point as a spec;
- :mod:`.plan`: options resolved, chunk size calibrated, the store checked or created;
- :mod:`.preflight` and :mod:`.lock`: the destination checked, one run per store;
- :mod:`.tasks`: chunks of simulations as Dask tasks, collected as they finish;
- :mod:`.run`: :func:`sweep` itself, the cluster and Ctrl-C;
- :mod:`.store`: the zarr store: per-point totals and the results dataset (``open_results``).

>>> from mcpower_sweep.sweeps import sweep, open_results  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: a worker imports only .tasks (and the engine) to run its chunks.
_EXPORTS = {"sweep": "run", "open_results": "store", "Grid": "grid"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
