"""mcpower_sweep: Monte Carlo power analysis for multilevel designs, swept over design spaces.

>>> from mcpower_sweep import MCPower
>>> model = MCPower("y ~ treatment + (1 + treatment|school)")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first use so that
# ``import mcpower_sweep`` stays cheap (Dask and xarray load only for sweeps).
_EXPORTS = {
    "MCPower": "api.model",
    "fit_lmm": "fit",
    "LMMFit": "fit",
    "fit_glmm": "glmm",
    "GLMMFit": "glmm",
    "SimulationSpec": "design.spec",
    "sweep": "sweeps.run",
    "open_results": "sweeps.store",
    "search_sweep": "search.sweep",
    "effect_sweep": "search.sweep",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcpower_sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
