"""Loading the compiled engine, ``mcpower_sweep._native``, and saying why it did not load.

The usual causes: a source checkout imported instead of the installed package (its folder
has no compiled module), or a module built for another Python.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _engine_import_error(err: ImportError) -> str:
    """Say why ``mcpower_sweep._native`` did not import, and what to do about it."""
    here = Path(__file__).resolve().parent
    found = importlib.util.find_spec(f"{__package__}._native")
    if found is not None and found.origin:
        return (
            f"mcpower_sweep's compiled engine {found.origin} did not load ({err}). It was "
            f"built for another Python or is damaged: rebuild it for this Python "
            f"({sys.executable}) with `pip install .` (or `pip install -e .`) in the checkout."
        )
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    installed = [
        folder
        for entry in sys.path
        if (folder := Path(entry or ".").resolve() / "mcpower_sweep") != here
        and any(f.name.endswith(suffixes) for f in folder.glob("_native*"))
    ]
    what = (
        f"mcpower_sweep was imported from {here}, a source folder without the compiled "
        "engine (mcpower_sweep._native is built by pip, not kept in the source tree). "
        "This happens when that folder's parent is first on sys.path (the working "
        "directory, PYTHONPATH, or a Slurm job started from the checkout) instead of the "
        "installed package. "
    )
    if installed:
        return what + (
            f"The installed package is at {installed[0]}: run Python from another directory "
            f"or take {here.parent} off PYTHONPATH."
        )
    return what + (
        "Install the package first (`pip install .`, or `pip install -e .` to work on it), "
        f"then run Python from a directory other than {here.parent}."
    )


def load_native() -> ModuleType:
    """The compiled engine; an ImportError that says what to do when it does not load."""
    try:
        from . import _native
    except ImportError as err:
        raise ImportError(_engine_import_error(err)) from err
    return _native
