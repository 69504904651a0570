"""The results store: a zarr group that is the results dataset, and the totals behind it.

Layout (``docs/contracts.md``), zarr format 3, one dimension per swept parameter plus
``test`` and ``field``:

- the derived results of :func:`mcpower_sweep.results.schema.summarise` (``power``,
  ``power_lower``, ``power_upper``, the counts, ``failure_rate``, ``singular_rate``,
  ``complete``) over the axes (and ``test``), with CF attrs, so ``xr.open_zarr(store)``
  is the results dataset.  They are rewritten from the totals at every flush.
- ``totals[axes..., field]`` (int64), the source of truth: per design point, its first
  ``chunks_done`` chunks summed (``n_sims``, ``n_success``, ``n_singular`` and
  ``n_significant[<test>]``).  A point's chunks enter its totals in order (a chunk that
  finishes before an earlier one waits in memory), so one number says which chunks are
  done, and ``totals`` holds everything a resumed run needs.

The driver keeps the totals in memory and flushes them every :data:`FLUSH_SECONDS` (less
often when a flush takes long: large stores), at the end, and when stopped: ``totals`` is
stored in blocks of up to :data:`BLOCK_POINTS` points, each one uncompressed zarr chunk
that is written whole to a temporary file and renamed into place, so a kill at any moment
leaves every block as of its last flush and loses at most the chunks not yet flushed (a
resumed run recomputes exactly those).  A store has a few files per block, not per
simulation chunk.

Stores of the earlier layout (``chunk_*`` variables, one file per chunk) still open with
:func:`open_results`; resuming one is refused (start again with ``--overwrite``).

>>> ds = open_results("results/tutorial.zarr")  # doctest: +SKIP
>>> ds.power.sel(test="treatment", n_clusters=20)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ..results.schema import TEST_DIM, summarise
from .grid import Grid

ZARR_MAJOR = int(zarr.__version__.split(".")[0])
ZARR_FORMAT = 3

STORE_LAYOUT = 2  # attrs["store_layout"]: totals per point (earlier stores: none)
FIELD_DIM = "field"
BLOCK_POINTS = 4096  # design points per zarr chunk of the totals
BASE_FIELDS = ("chunks_done", "n_sims", "n_success", "n_singular")
TOTALS = "totals"
TOTALS_ATTRS = {
    "long_name": "totals of the done chunks",
    "units": "",
    "description": "per design point: chunks_done (its first chunks_done chunks are "
    "summed here), then the sums of their counts (n_significant[<test>] per test)",
}
# Flushes are at least FLUSH_SECONDS apart, and FLUSH_COST_FACTOR times longer apart than
# the last flush took (large stores): a kill loses at most that much finished work.
FLUSH_SECONDS = 0.1
FLUSH_COST_FACTOR = 20

# The earlier layout: one zarr chunk per simulation chunk and variable.
LEGACY_CHUNK_DIM = "chunk"
LEGACY_COUNTS = ("n_sims", "n_success", "n_singular", "n_significant")


class OldLayoutError(ValueError):
    """A store written by an earlier version (one file per chunk) cannot be resumed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        super().__init__(
            f"results store {os.fspath(path)!r} was written by an earlier mcpower_sweep "
            "(one file per simulation chunk) and cannot be resumed: open_results still reads "
            "it; to finish it, run the sweep again with --overwrite / overwrite=True"
        )


def _require_zarr3() -> None:
    if ZARR_MAJOR < 3:
        raise ImportError(
            f"the results store needs zarr >= 3 (found zarr {zarr.__version__}): "
            "pip install 'zarr>=3'"
        )


def is_store(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a zarr group (a results store or some other zarr data)."""
    p = Path(path)
    return p.is_dir() and ((p / "zarr.json").is_file() or (p / ".zgroup").is_file())


def n_chunks_for(simulations: int, chunk_size: int) -> int:
    """Number of chunks of ``chunk_size`` simulations covering ``simulations``.

    >>> n_chunks_for(1000, 400)
    3
    """
    return -(-simulations // chunk_size)


def chunk_bounds(k: int, simulations: int, chunk_size: int) -> tuple[int, int]:
    """``(start, count)`` of chunk ``k``: simulations ``[k*c, min((k+1)*c, simulations))``.

    >>> chunk_bounds(2, 1000, 400)
    (800, 200)
    """
    start = k * chunk_size
    return start, min(chunk_size, simulations - start)


def fields_for(tests: Sequence[str]) -> tuple[str, ...]:
    """The ``field`` coordinate of ``totals`` for these tests.

    >>> fields_for(["x"])
    ('chunks_done', 'n_sims', 'n_success', 'n_singular', 'n_significant[x]')
    """
    return (*BASE_FIELDS, *(f"n_significant[{t}]" for t in tests))


def block_shape(shape: Sequence[int], points: int = BLOCK_POINTS) -> tuple[int, ...]:
    """The zarr chunk of ``totals`` over the axes: whole trailing axes, ``points`` at most.

    >>> block_shape((5, 7, 14), points=100)
    (1, 7, 14)
    >>> block_shape((100, 100), points=4096)
    (40, 100)
    """
    block = [1] * len(shape)
    size = 1
    for i in reversed(range(len(shape))):
        if size * shape[i] <= points:
            block[i] = shape[i]
            size *= shape[i]
        else:
            block[i] = max(1, points // size)
            break
    return tuple(block)


def _results(totals: np.ndarray, dims: Sequence[str], coords: Mapping[str, Any],
             n_tests: int, n_chunks: int, attrs: Mapping[str, Any]) -> xr.Dataset:
    """The results dataset (:func:`summarise`) of a ``totals`` array."""
    def field(name: str) -> np.ndarray:
        return totals[..., BASE_FIELDS.index(name)]

    n = len(BASE_FIELDS)
    counts = xr.Dataset(
        {
            "n_sims": (dims, field("n_sims")),
            "n_success": (dims, field("n_success")),
            "n_singular": (dims, field("n_singular")),
            "n_significant": ((*dims, TEST_DIM), totals[..., n:n + n_tests]),
            "complete": (dims, field("chunks_done") >= n_chunks),
        },
        coords=coords,
        attrs=dict(attrs),
    )
    return summarise(counts)


def create_store(
    path: str | os.PathLike[str],
    grid: Grid,
    *,
    simulations: int,
    chunk_size: int,
    attrs: Mapping[str, Any],
) -> None:
    """Create an empty results store (coordinates, attrs, zero totals, the derived results).

    Parameters
    ----------
    path
        Where the new zarr store goes; it must not exist.
    grid
        The design grid (dimensions and coordinates).
    simulations, chunk_size
        Simulations per design point and per chunk.
    attrs
        Provenance, JSON-friendly (strings, numbers, booleans); ``simulations``,
        ``chunk_size`` and ``store_layout`` are set.

    Examples
    --------
    >>> create_store("out.zarr", grid, simulations=1000, chunk_size=250, attrs={})  # doctest: +SKIP
    """
    _require_zarr3()
    tests = list(grid.base.tests)
    fields = fields_for(tests)
    dims = tuple(grid.names)
    coords: dict[str, Any] = dict(grid.grid_coords())
    coords[TEST_DIM] = (TEST_DIM, np.asarray(tests, dtype=object), {})
    attrs = {**attrs, "simulations": simulations, "chunk_size": chunk_size,
             "store_layout": STORE_LAYOUT}
    zero = np.zeros((*grid.shape, len(fields)), dtype=np.int64)
    ds = _results(zero, dims, coords, len(tests), n_chunks_for(simulations, chunk_size), attrs)
    ds = ds.assign_coords({FIELD_DIM: (FIELD_DIM, np.asarray(fields, dtype=object),
                                       {"long_name": "field of totals", "units": ""})})
    # Each derived variable is one zarr chunk: the whole variable is rewritten at a flush.
    encoding = {name: {"chunks": var.shape or None, "compressors": None}
                for name, var in ds.data_vars.items()}
    ds.to_zarr(path, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False, encoding=encoding)
    group = zarr.open_group(str(path), mode="r+")
    group.create_array(
        TOTALS,
        shape=zero.shape,
        chunks=(*block_shape(grid.shape), len(fields)),
        dtype="int64",
        fill_value=0,
        filters=None,
        compressors=None,
        chunk_key_encoding={"name": "default", "separator": "/"},
        dimension_names=(*dims, FIELD_DIM),
        attributes=TOTALS_ATTRS,
    )
    with warnings.catch_warnings():
        # Consolidated metadata is not (yet) in the zarr v3 spec; xarray and zarr-python
        # read it, and it makes opening a store one read instead of many.
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        zarr.consolidate_metadata(str(path))


def read_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance attrs of a store."""
    _require_zarr3()
    return dict(zarr.open_group(str(path), mode="r").attrs)


def check_resumable(path: str | os.PathLike[str]) -> None:
    """Raise :class:`OldLayoutError` for a store of the earlier layout."""
    group = zarr.open_group(str(path), mode="r")
    if TOTALS not in group and "chunk_done" in group:
        raise OldLayoutError(path)


@dataclass(frozen=True)
class ChunkRecord:
    """The counts of chunk ``k`` of the design point at ``index``."""

    index: tuple[int, ...]
    k: int
    n_sims: int
    n_success: int
    n_singular: int
    n_significant: np.ndarray


def _plain_layout(array: Any) -> bool:
    """Whether an array stores each chunk as plain little-endian bytes under ``c/i/j/...``."""
    meta = array.metadata.to_dict()
    codecs = list(meta.get("codecs", ()))
    plain = [{"name": "bytes"}, {"name": "bytes", "configuration": {"endian": "little"}}]
    encoding = meta.get("chunk_key_encoding", {})
    return (
        len(codecs) == 1
        and codecs[0] in plain
        and encoding.get("name") == "default"
        and encoding.get("configuration", {}).get("separator") == "/"
    )


@dataclass
class ChunkWriter:
    """Adds chunk counts to a store's totals in memory and flushes them (one driver writes).

    :meth:`add` puts each point's chunks into its totals in order (a chunk that arrives
    before an earlier one of its point is held until that one comes); :meth:`flush`
    writes the changed blocks of ``totals`` (each a temporary file renamed into place:
    plain little-endian bytes, the layout :func:`create_store` fixes), then the derived
    results through zarr.  :meth:`due` says when a flush is due (every
    :data:`FLUSH_SECONDS`, or :data:`FLUSH_COST_FACTOR` times the last flush's time).

    >>> writer = ChunkWriter.open("out.zarr")  # doctest: +SKIP
    >>> writer.write((0, 1), 0, n_sims=50, n_success=50, n_singular=2,
    ...              n_significant=np.array([41]))  # doctest: +SKIP
    """

    root: Path
    group: Any
    totals: np.ndarray
    n_tests: int
    n_chunks: int
    block: tuple[int, ...]
    held: dict[tuple[int, ...], dict[int, ChunkRecord]] = field(default_factory=dict)
    dirty: set[tuple[int, ...]] = field(default_factory=set)
    last_flush: float = field(default_factory=time.monotonic)
    flush_seconds: float = 0.0  # how long the last flush took
    _made: set[Path] = field(default_factory=set, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ChunkWriter:
        _require_zarr3()
        check_resumable(path)
        group = zarr.open_group(str(path), mode="r+")
        if TOTALS not in group or not _plain_layout(group[TOTALS]):
            raise ValueError(
                f"{os.fspath(path)!r}: no '{TOTALS}' array with the layout of a results "
                "store (uncompressed chunks with '/' keys); start a new store"
            )
        attrs = dict(group.attrs)
        array = group[TOTALS]
        n_chunks = n_chunks_for(int(attrs["simulations"]), int(attrs["chunk_size"]))
        return cls(Path(path), group, np.asarray(array[...]),
                   array.shape[-1] - len(BASE_FIELDS), n_chunks, tuple(array.chunks[:-1]))

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
            row = self.totals[r.index]
            if r.k < row[0]:
                continue  # already in the totals (a result delivered twice)
            waiting = self.held.setdefault(r.index, {})
            waiting[r.k] = r
            while row[0] in waiting:
                c = waiting.pop(int(row[0]))
                row[0] += 1
                row[1:4] += (c.n_sims, c.n_success, c.n_singular)
                row[4:] += np.asarray(c.n_significant, dtype=np.int64)
            if not waiting:
                del self.held[r.index]
            self.dirty.add(tuple(i // b for i, b in zip(r.index, self.block, strict=True)))

    def due(self) -> bool:
        interval = max(FLUSH_SECONDS, FLUSH_COST_FACTOR * self.flush_seconds)
        return time.monotonic() - self.last_flush >= interval

    def _put(self, at: tuple[int, ...], data: bytes) -> None:
        target = self.root.joinpath(TOTALS, "c", *map(str, at))
        if target.parent not in self._made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(target.parent)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(data)
        partial.replace(target)

    def flush(self) -> None:
        """Write the changed blocks of the totals, then the derived results."""
        t0 = time.monotonic()
        n_fields = self.totals.shape[-1]
        for b in sorted(self.dirty):
            part = self.totals[tuple(slice(i * n, (i + 1) * n)
                                     for i, n in zip(b, self.block, strict=True))]
            full = np.zeros((*self.block, n_fields), dtype="<i8")  # edge blocks are padded
            full[tuple(slice(0, n) for n in part.shape)] = part
            self._put((*b, 0), full.tobytes())
        self.dirty.clear()
        self.write_results()
        self.last_flush = time.monotonic()
        self.flush_seconds = self.last_flush - t0

    def write_results(self) -> None:
        """Rewrite the derived variables from the totals (what ``xr.open_zarr`` shows)."""
        dims = self.group[TOTALS].metadata.dimension_names[:-1]
        ds = _results(self.totals, dims, {}, self.n_tests, self.n_chunks, {})
        for name, var in ds.data_vars.items():
            self.group[name][...] = var.values

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


def done_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Which chunks of a store are done, as a boolean array ``[axes..., chunk]``.

    >>> done_mask("out.zarr").mean()  # doctest: +SKIP
    """
    _require_zarr3()
    group = zarr.open_group(str(path), mode="r")
    if TOTALS not in group:
        return np.asarray(group["chunk_done"][...], dtype=bool)
    attrs = dict(group.attrs)
    n_chunks = n_chunks_for(int(attrs["simulations"]), int(attrs["chunk_size"]))
    chunks_done = np.asarray(group[TOTALS][..., 0])
    return np.arange(n_chunks) < chunks_done[..., None]


def _plain_coord(coord: xr.DataArray) -> tuple[tuple[str, ...], np.ndarray, dict[str, Any]]:
    """A coordinate as ``(dims, values, attrs)``; strings read back as NumPy
    ``StringDType`` become ordinary ``str`` arrays."""
    values = coord.values
    if values.dtype.kind in "TO":
        values = np.array(values.tolist(), dtype=str)
    return coord.dims, values, dict(coord.attrs)


def _legacy_results(raw: xr.Dataset) -> xr.Dataset:
    """The results of a store of the earlier layout (``chunk_*`` counts, done flags)."""
    done = raw["chunk_done"].astype(bool)

    def total(name: str) -> xr.DataArray:
        return raw[name].where(done, 0).sum(LEGACY_CHUNK_DIM).astype(np.int64)

    dims = [d for d in raw["chunk_n_significant"].dims if d != LEGACY_CHUNK_DIM]
    coords = {d: _plain_coord(raw[d]) for d in dims if d in raw.coords}
    counts = {name: total(f"chunk_{name}").variable for name in LEGACY_COUNTS}
    counts["complete"] = done.all(LEGACY_CHUNK_DIM).variable
    return summarise(xr.Dataset(counts, coords=coords, attrs=dict(raw.attrs)))


def open_results(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a results store as the results Dataset, from its totals (in memory).

    ``xr.open_zarr(path)`` shows the same variables as of the last flush; this reads the
    totals, so it is exact even for a store whose run was killed.

    Parameters
    ----------
    path
        A store written by :func:`mcpower_sweep.sweep`.

    Returns
    -------
    xarray.Dataset
        ``n_sims``, ``n_success``, ``n_failed``, ``n_singular`` and ``failure_rate``,
        ``singular_rate``, ``complete`` over the axes; ``n_significant``, ``power``,
        ``power_lower``, ``power_upper`` over the axes and ``test``.  ``attrs`` hold the
        provenance (seed, simulations, versions, formula, parameters, ...).

    Examples
    --------
    >>> ds = open_results("results/tutorial.zarr")  # doctest: +SKIP
    >>> ds.power.sel(test="treatment").to_pandas()  # doctest: +SKIP
    """
    _require_zarr3()
    if not is_store(path):
        raise FileNotFoundError(f"{os.fspath(path)!r} is not a results store (no zarr group)")
    group = zarr.open_group(str(path), mode="r")
    if TOTALS not in group:
        missing = [f"chunk_{n}" for n in (*LEGACY_COUNTS, "done") if f"chunk_{n}" not in group]
        if missing:
            raise ValueError(
                f"{os.fspath(path)!r} is not a mcpower_sweep results store "
                f"(missing {TOTALS})"
            )
        with xr.open_zarr(path, chunks=None) as raw:
            return _legacy_results(raw.load())
    attrs = dict(group.attrs)
    totals = group[TOTALS]
    dims = totals.metadata.dimension_names[:-1]
    coords = {d: _plain_coord(xr.DataArray(group[d][...], dims=(d,), attrs=dict(group[d].attrs)))
              for d in (*dims, TEST_DIM)}
    n_chunks = n_chunks_for(int(attrs["simulations"]), int(attrs["chunk_size"]))
    return _results(np.asarray(totals[...]), dims, coords,
                    totals.shape[-1] - len(BASE_FIELDS), n_chunks, attrs)
