"""Writing a sweep's chunks into its store: per-point totals in memory, flushed in blocks.

The driver alone writes.  :class:`ChunkWriter` adds each chunk's counts to its point's
totals in chunk order and flushes changed blocks, each one zarr chunk written whole
through zarr (atomic: a temporary file renamed into place on a local store, one put on an
object store); the layout it writes is :mod:`mcpower_sweep.sweeps.store`'s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync

from .location import StoreLocation, describe, zarr_store
from .store import (
    BASE_FIELDS,
    TEST_DIM,
    TOTALS,
    _require_zarr3,
    _results,
    check_resumable,
    n_chunks_for,
)

# Flushes are at least FLUSH_SECONDS apart, and FLUSH_COST_FACTOR times longer apart than
# the last flush took (large stores), but never more than FLUSH_MAX_SECONDS: a kill loses
# at most that much finished work.  The first flush pays one-off imports (SciPy, under
# load seconds), so its time does not set the interval.
FLUSH_SECONDS = 0.1
FLUSH_COST_FACTOR = 20
FLUSH_MAX_SECONDS = 5.0
# The derived results (what xr.open_zarr shows) are rewritten from the totals at most this
# often during a run (each rewrite summarises the whole grid: on 2 cores the driver's time
# is the workers'), and at its end or stop; open_results reads the totals, always current.
RESULTS_SECONDS = 5.0


async def _gather(writes: Sequence[Awaitable[None]]) -> None:
    await asyncio.gather(*writes)


@dataclass(frozen=True)
class ChunkRecord:
    """The counts of chunk ``k`` of the design point at ``index``.

    ``tallies`` is the chunk's :func:`mcpower_sweep.results.tally.flatten` vector (None:
    zeros, a record of counts only).
    """

    index: tuple[int, ...]
    k: int
    n_sims: int
    n_success: int
    n_singular: int
    n_significant: np.ndarray
    tallies: np.ndarray | None = None


@dataclass
class ChunkWriter:
    """Adds chunk counts to a store's totals in memory and flushes them (one driver writes).

    :meth:`add` puts each point's chunks into its totals in order (a chunk that arrives
    before an earlier one of its point is held until that one comes); :meth:`flush`
    writes the changed blocks of ``totals`` (each one whole zarr chunk), then the derived
    results (during a run every :data:`RESULTS_SECONDS`), all through zarr.  :meth:`due`
    says when a flush is due (every :data:`FLUSH_SECONDS`, or :data:`FLUSH_COST_FACTOR`
    times the last flush's time, at most :data:`FLUSH_MAX_SECONDS`).

    >>> writer = ChunkWriter.open("out.zarr")  # doctest: +SKIP
    >>> writer.write((0, 1), 0, n_sims=50, n_success=50, n_singular=2,
    ...              n_significant=np.array([41]))  # doctest: +SKIP
    """

    root: str  # the store, for messages
    group: Any
    totals: np.ndarray
    n_tests: int
    n_chunks: int
    block: tuple[int, ...]
    held: dict[tuple[int, ...], dict[int, ChunkRecord]] = field(default_factory=dict)
    dirty: set[tuple[int, ...]] = field(default_factory=set)
    last_flush: float = field(default_factory=time.monotonic)
    flush_seconds: float = 0.0  # how long the last flush took (0 after the first)
    flushes: int = 0
    last_results: float = -math.inf  # when the derived results were last written
    arrays: dict[str, Any] = field(default_factory=dict)  # the group's arrays, by name

    @classmethod
    def open(cls, path: StoreLocation) -> ChunkWriter:
        _require_zarr3()
        check_resumable(path)
        group = zarr.open_group(zarr_store(path), mode="r+")
        if TOTALS not in group:
            raise ValueError(f"{describe(path)!r}: no '{TOTALS}' array: not a results store of "
                             "this version; start a new store")
        attrs = dict(group.attrs)
        array = group[TOTALS]
        n_chunks = n_chunks_for(int(attrs["simulations"]), int(attrs["chunk_size"]))
        return cls(describe(path), group, np.asarray(array[...]), group[TEST_DIM].shape[0],
                   n_chunks, tuple(array.chunks[:-1]))

    def chunks_done(self) -> int:
        """Chunks in the totals (flushed or not)."""
        return int(self.totals[..., 0].sum())

    def add(self, records: Sequence[ChunkRecord]) -> None:
        """Add chunks to the totals in memory (in order per point; see the class)."""
        for r in records:
            significant = np.asarray(r.n_significant, dtype=np.int64)
            if significant.shape != (self.n_tests,):
                raise ValueError(
                    f"chunk {r.k} of point {r.index}: {significant.size} significance counts "
                    f"for {self.n_tests} tests"
                )
            tallies = None if r.tallies is None else np.asarray(r.tallies, dtype=np.int64)
            n_tallies = self.totals.shape[-1] - len(BASE_FIELDS) - self.n_tests
            if tallies is not None and tallies.shape != (n_tallies,):
                raise ValueError(f"chunk {r.k} of point {r.index}: {tallies.size} tallies "
                                 f"for {n_tallies} fields")
            row = self.totals[r.index]
            if r.k < row[0]:
                continue  # already in the totals (a result delivered twice)
            waiting = self.held.setdefault(r.index, {})
            waiting[r.k] = r
            while row[0] in waiting:
                c = waiting.pop(int(row[0]))
                row[0] += 1
                row[1:4] += (c.n_sims, c.n_success, c.n_singular)
                n = len(BASE_FIELDS) + self.n_tests
                row[4:n] += np.asarray(c.n_significant, dtype=np.int64)
                if c.tallies is not None:
                    row[n:] += np.asarray(c.tallies, dtype=np.int64)
            if not waiting:
                del self.held[r.index]
            self.dirty.add(tuple(i // b for i, b in zip(r.index, self.block, strict=True)))

    def due(self) -> bool:
        interval = min(FLUSH_MAX_SECONDS,
                       max(FLUSH_SECONDS, FLUSH_COST_FACTOR * self.flush_seconds))
        return time.monotonic() - self.last_flush >= interval

    def _put(self, at: tuple[int, ...], data: np.ndarray) -> None:
        """Write block ``at`` of the totals: one whole zarr chunk, so one atomic write."""
        self.group[TOTALS][tuple(slice(i * n, i * n + size) for i, n, size
                                 in zip(at, self.block, data.shape, strict=False))] = data

    def flush(self, *, final: bool = True) -> None:
        """Write the changed blocks of the totals, then the derived results (during a
        run, ``final=False``: only if the last were written :data:`RESULTS_SECONDS` ago)."""
        t0 = time.monotonic()
        for b in sorted(self.dirty):
            self._put(b, self.totals[tuple(slice(i * n, (i + 1) * n)
                                           for i, n in zip(b, self.block, strict=True))])
        self.dirty.clear()
        if final or t0 - self.last_results >= RESULTS_SECONDS:
            self.write_results()
            self.last_results = time.monotonic()
        self.last_flush = time.monotonic()
        self.flush_seconds = self.last_flush - t0 if self.flushes else 0.0
        self.flushes += 1

    def write_results(self) -> None:
        """Rewrite the derived variables from the totals (what ``xr.open_zarr`` shows)."""
        dims = self.group[TOTALS].metadata.dimension_names[:-1]
        ds = _results(self.totals, dims, {}, self.n_tests, self.n_chunks, {})
        if not self.arrays:  # once: from the consolidated metadata, not one read per array
            self.arrays = dict(self.group.arrays())
        # All in one call of zarr's event loop: one call per variable costs a thread switch
        # each, slow while the Dask scheduler's thread in this process holds the GIL.
        sync(_gather([self.arrays[name].async_array.setitem(..., var.values)
                      for name, var in ds.data_vars.items()]))

    def write(
        self,
        index: Sequence[int],
        k: int,
        *,
        n_sims: int,
        n_success: int,
        n_singular: int,
        n_significant: np.ndarray,
    ) -> None:
        """Add one chunk's counts and flush."""
        self.write_many([ChunkRecord(tuple(index), k, n_sims, n_success, n_singular,
                                     n_significant)])

    def write_many(self, records: Sequence[ChunkRecord]) -> None:
        """Add several chunks' counts and flush."""
        self.add(records)
        self.flush()
