"""Where a results store lives: a local directory, a URL, or a zarr store object.

Every read and write of a store's contents goes through zarr, so a store can live on any
storage zarr supports: a local path (``results/s.zarr``, ``file:///abs/s.zarr``), an
fsspec URL (``memory://s.zarr``, ``s3://bucket/s.zarr`` with the fsspec package of that
protocol installed) or a :class:`zarr.abc.store.Store` object (``zarr.storage.MemoryStore()``,
``zarr.storage.FsspecStore(...)``).

A *local* store (a path, a ``file://`` URL or a :class:`zarr.storage.LocalStore`) also gets
what needs a file system: the checks of :mod:`.preflight` (writable, enough room), the
lock of :mod:`.lock` (one run per store) and creation by rename (a run killed while
creating leaves no half-made store).  A remote store has none of these: nothing stops two
runs writing it at once (run one sweep per store), and a run killed while creating it
leaves a store that must be started again with ``overwrite=True``.

>>> local_path("file:///tmp/s.zarr").as_posix(), local_path("memory://s.zarr")
('/tmp/s.zarr', None)
>>> describe("memory://s.zarr")
'memory://s.zarr'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import zarr
import zarr.storage

# What sweep(out=...), open_results and the store functions accept.
StoreLocation = str | os.PathLike | zarr.abc.store.Store

FILE_SCHEME = "file://"


def is_url(location: object) -> bool:
    """Whether ``location`` is a URL (``<protocol>://...``).

    >>> is_url("memory://a.zarr"), is_url("results/a.zarr")
    (True, False)
    """
    return isinstance(location, str) and "://" in location


def local_path(location: StoreLocation) -> Path | None:
    """The local directory of a store (None: it is not on the local file system)."""
    if isinstance(location, zarr.storage.LocalStore):
        return Path(location.root)
    if isinstance(location, zarr.abc.store.Store):
        return None
    text = os.fspath(location)
    if text.startswith(FILE_SCHEME):
        return Path(text[len(FILE_SCHEME):])
    if is_url(text):
        return None
    return Path(text).expanduser()


def resolve(location: StoreLocation) -> Path | str | zarr.abc.store.Store:
    """A local store as its :class:`~pathlib.Path`, anything else as given.

    >>> resolve("file:///tmp/s.zarr").as_posix(), resolve("memory://s.zarr")
    ('/tmp/s.zarr', 'memory://s.zarr')
    """
    path = local_path(location)
    if path is not None:
        return path
    return os.fspath(location) if isinstance(location, os.PathLike) else location


def zarr_store(location: StoreLocation) -> Any:
    """What zarr's ``open_group`` and xarray's ``to_zarr`` / ``open_zarr`` take for it."""
    path = local_path(location)
    if path is not None and not isinstance(location, zarr.abc.store.Store):
        return str(path)
    return location


def describe(location: StoreLocation) -> str:
    """The store's name in messages: its path, URL or store object."""
    if isinstance(location, zarr.abc.store.Store):
        return str(location)
    path = local_path(location)
    return str(path) if path is not None else os.fspath(location)
