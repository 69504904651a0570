"""Checks of a sweep's destination before any simulation runs.

A sweep that can only fail when it writes its first chunk wastes the calibration, the
cluster start-up and possibly a queue wait on Slurm.  What can be known up front is
checked here:

- :func:`check_writable`: the store's directory (or its nearest existing ancestor) accepts
  a new file.  This is a real write, not ``os.access``: a read-only mount refuses it even
  for root, and root passes permission bits that ``os.access`` would report.
- :func:`check_space`: the file system has room (bytes and inodes) for the store: a few
  files per block of design points and one per derived variable
  (:mod:`mcpower_sweep.sweeps.store`); :func:`estimate_store` counts files, directories
  and bytes.

Both checks need a local file system: a store elsewhere (a URL or zarr store object,
:mod:`.location`) is not checked.

They raise :class:`DestinationError` (an ``OSError``) with a message that names the
path, what is wrong and what to do.  :func:`check_existing` says whether a results store
is already there, and refuses to touch anything else.

The errors carry their facts as attributes (``path``, ``differences``) and name each
option in both spellings (``--resume / resume=True``), so the CLI and the Python API
can share them (or reword them).

>>> check_writable("results/docs.zarr")  # doctest: +SKIP
>>> check_space("results/docs.zarr", estimate_store((4, 4, 6), 4))  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .location import StoreLocation

__all__ = [
    "DestinationError",
    "StoreEstimate",
    "StoreExistsError",
    "StoreMismatchError",
    "check_existing",
    "check_space",
    "check_writable",
    "estimate_store",
]

# Derived variables of a store (results.schema.summarise): one file each (11 of power and
# counts, 9 of several tests, 12 estimate summaries, 6 variance-component summaries).
DERIVED_FILES = 38
# Group, coordinate and array metadata, consolidated metadata, coordinate chunks.
METADATA_FILES = 64
# Leave this much room besides the store (other writers, the file system's own needs).
MARGIN_BYTES = 16 * 2**20


class DestinationError(OSError):
    """The results store cannot be written where it was asked to be (``errno`` is set)."""

    def __str__(self) -> str:
        return str(self.strerror)


class StoreExistsError(FileExistsError):
    """A results store is already at ``path`` and neither resume nor overwrite was asked.

    >>> err = StoreExistsError(Path("s.zarr"))
    >>> str(err.path), "--resume / resume=True" in str(err)
    ('s.zarr', True)
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"results store {str(path)!r} already exists: finish it with --resume / "
            "resume=True or start again with --overwrite / overwrite=True"
        )


class StoreMismatchError(ValueError):
    """Resuming a store made for other simulations (``differences``: what differs, in words)."""

    def __init__(self, path: Path, differences: Sequence[str]) -> None:
        self.path = path
        self.differences = list(differences)
        super().__init__(
            f"results store {str(path)!r} was made for a different run: "
            f"{'; '.join(differences)}. Use another path (--out / out=), or replace it "
            "with --overwrite / overwrite=True"
        )


@dataclass(frozen=True)
class StoreEstimate:
    """How many files and directories a complete store has, and its size on disk."""

    files: int
    directories: int
    block_size: int
    data_bytes: int = 0

    @property
    def inodes(self) -> int:
        return self.files + self.directories

    @property
    def bytes(self) -> int:
        """Every file and directory takes at least one block, data beyond that."""
        return self.inodes * self.block_size + self.data_bytes


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def check_writable(store: str | os.PathLike[str]) -> None:
    """Raise :class:`DestinationError` unless a file can be created where ``store`` goes.

    The store itself is tested when it exists (resume), else its nearest existing
    ancestor directory (where the store's directories will be made).

    Examples
    --------
    >>> check_writable("/proc/results.zarr")  # doctest: +SKIP
    Traceback (most recent call last):
    DestinationError: cannot write the results store '/proc/results.zarr': ...
    """
    path = Path(os.fspath(store))
    where = path if path.is_dir() else _existing_ancestor(path.parent)
    if not where.is_dir():
        raise DestinationError(
            errno.ENOTDIR,
            f"cannot write the results store {str(path)!r}: {str(where)!r} is not a directory; "
            "choose another --out (out=) path",
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".mcpower-sweep-probe-", dir=where)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise DestinationError(
            err.errno or errno.EACCES,
            f"cannot write the results store {str(path)!r}: {str(where)!r} does not accept new "
            f"files ({reason}); choose a writable --out (out=) path",
        ) from None
    os.close(fd)
    os.unlink(probe)


def estimate_store(shape: Sequence[int], n_tests: int = 1, *, n_components: int = 4,
                   block_size: int = 4096) -> StoreEstimate:
    """Files, directories and bytes of a store over a grid of ``shape`` with ``n_tests`` tests
    (and ``n_components`` variance components).

    The totals are one file per block of up to ``store.BLOCK_POINTS`` points
    (``totals/c/<i>/<j>/.../0``); each derived variable is one file; the rest is metadata.
    None of it depends on the number of simulation chunks.

    >>> e = estimate_store((2, 3), 2)
    >>> e.files, e.directories
    (103, 176)
    """
    from .store import block_shape

    block = block_shape(shape)
    grid_blocks = [math.ceil(n / b) for n, b in zip(shape, block, strict=True)]
    n_blocks = math.prod(grid_blocks)
    prefixes = sum(math.prod(grid_blocks[:i]) for i in range(1, len(shape) + 1))
    files = n_blocks + DERIVED_FILES + METADATA_FILES
    # <name>/ and c/ of every array, and the chunk keys' prefixes (one per dim but the last;
    # the 8 variables over correction and test or k have one more)
    directories = 2 + prefixes + DERIVED_FILES * (2 + len(shape)) + 8 + 2 * (len(shape) + 4)
    n_points = math.prod(shape)
    # totals: 4 + n_significant + corrected (4 x tests) + at least k (4 x tests) + 9 estimate
    # fields per test + 5 per component; derived: 12 per point, 16 per test, 32 per test x
    # correction or k, 6 per component
    fields = 4 + 18 * n_tests + 5 * n_components
    data = 8 * (n_blocks * math.prod(block) * fields
                + n_points * (12 + 48 * n_tests + 6 * n_components))
    return StoreEstimate(files, directories, block_size, data)


def check_space(store: str | os.PathLike[str], estimate: StoreEstimate) -> None:
    """Raise :class:`DestinationError` if the store's file system lacks room for it.

    Bytes are compared with :func:`shutil.disk_usage` (space available to this user),
    inodes with ``statvfs`` when the file system counts them.

    Examples
    --------
    >>> check_space("results/docs.zarr", estimate_store((4, 4, 6), 4))  # doctest: +SKIP
    """
    path = Path(os.fspath(store))
    where = _existing_ancestor(path)
    try:
        st = os.statvfs(where)
        block = st.f_frsize or st.f_bsize or estimate.block_size
        free_inodes = st.f_favail if st.f_files else None
    except (OSError, AttributeError):
        block, free_inodes = estimate.block_size, None
    need = StoreEstimate(estimate.files, estimate.directories, max(block, estimate.block_size))
    free = shutil.disk_usage(where).free
    if need.bytes + MARGIN_BYTES > free:
        raise DestinationError(
            errno.ENOSPC,
            f"not enough free space for the results store {str(path)!r}: it needs about "
            f"{_size(need.bytes)} ({need.files:,} files of one {_size(need.block_size)} block "
            f"each) plus {_size(MARGIN_BYTES)} to spare, and {str(where)!r} has {_size(free)} "
            "free; free some space, sweep a smaller grid, use a larger --chunk-size, or choose "
            "another --out",
        )
    if free_inodes is not None and need.inodes > free_inodes:
        raise DestinationError(
            errno.ENOSPC,
            f"not enough free inodes for the results store {str(path)!r}: it needs about "
            f"{need.inodes:,} files and directories and {str(where)!r} has {free_inodes:,}; "
            "sweep a smaller grid, use a larger --chunk-size, or choose another --out",
        )


def check_existing(store: Path | StoreLocation, *, resume: bool, overwrite: bool) -> bool:
    """Whether a results store is at ``store`` (to resume or replace); refuse other things.

    Nothing is removed here: an old store is replaced only once the new run is valid.
    An empty directory counts as no store; a store that is not local (a URL or zarr store
    object, :mod:`.location`) is there when zarr opens a group in it.

    Raises
    ------
    FileExistsError
        ``store`` is something other than a results store.
    StoreExistsError
        A store is there and neither ``resume`` nor ``overwrite`` is set.
    """
    from .location import local_path
    from .store import is_store

    path = local_path(store)
    if path is None:
        if not is_store(store):
            return False
        if not (resume or overwrite):
            raise StoreExistsError(store)
        return True
    store = path
    if not store.exists() or (store.is_dir() and not any(store.iterdir())):
        return False
    if not is_store(store):
        raise FileExistsError(
            f"{str(store)!r} exists and is not a results store: choose another path "
            "(--out / out=)"
        )
    if not (resume or overwrite):
        raise StoreExistsError(store)
    return True
