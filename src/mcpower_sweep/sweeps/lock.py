"""One run per results store: an advisory lock that dies with the process holding it.

A sweep writes its store from one driver process.  Two drivers on the same store would
each skip the chunks the other has not finished yet and compute the rest twice; with
different settings they would mix results.  :func:`store_lock` takes an exclusive
``flock`` on a small file beside the store (``.<store name>.lock`` in the same
directory) for the whole run.  The kernel releases the lock when the process ends,
however it ends (``SIGKILL`` included), so a killed run never leaves a store locked;
the file itself is removed on a clean exit and is harmless if left behind.

The lock file sits beside the store, not inside it, because ``overwrite`` removes the
store directory and its contents while the lock is held.

``flock`` is local to one machine on some network file systems (older NFS, some Lustre
mounts): there it stops a second run on the same node, not on another node.

>>> with store_lock("results/docs.zarr"):  # doctest: +SKIP
...     ...  # create, resume or overwrite the store
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, runs are not guarded
    fcntl = None  # type: ignore[assignment]

__all__ = ["StoreLockedError", "lock_path", "store_lock"]


class StoreLockedError(RuntimeError):
    """Another live process is running a sweep into the same store.

    Attributes
    ----------
    path
        The store.
    holder
        What the holder wrote into the lock file (``pid``, ``host``, ``since``), or ``{}``.
    """

    def __init__(self, path: Path, holder: dict[str, object]) -> None:
        self.path = path
        self.holder = holder
        who = ""
        if holder.get("pid"):
            host, since = holder.get("host", "?"), holder.get("since", "?")
            who = f" (pid {holder['pid']} on {host}, since {since})"
        super().__init__(
            f"results store {str(path)!r} is in use by another run{who}: a store is written by "
            "one run at a time; wait for that run to finish or stop it, or choose another --out"
        )


def lock_path(store: str | os.PathLike[str]) -> Path:
    """The lock file of a store: ``.<name>.lock`` in the store's directory.

    >>> lock_path("results/docs.zarr").as_posix()
    'results/.docs.zarr.lock'
    """
    p = Path(os.fspath(store))
    return p.with_name(f".{p.name}.lock")


def _read_holder(fd: int) -> dict[str, object]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        data = json.loads(text) if text.strip() else {}
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not unlinked and replaced)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextlib.contextmanager
def store_lock(store: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of ``store`` for the duration of the ``with`` block.

    Parameters
    ----------
    store
        Path of the results store (it need not exist yet; its parent directory is
        created if missing).

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    StoreLockedError
        If another live process holds the lock (never waits).

    Examples
    --------
    >>> with store_lock("results/docs.zarr") as lock:  # doctest: +SKIP
    ...     sweep(...)
    """
    path = lock_path(store)
    if fcntl is None:  # pragma: no cover
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _read_holder(fd)
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLockedError(Path(os.fspath(store)), holder) from None
            raise
        # The previous holder may have unlinked the file between our open and flock;
        # then we hold a lock nobody else can see: open the current file instead.
        if _same_file(fd, path):
            break
        os.close(fd)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before unlocking: a waiting process then reopens a fresh file
        os.close(fd)
