"""The results store: per-chunk counts in zarr, and the derived power dataset.

Layout (``docs/contracts.md``): one dimension per swept parameter, plus ``chunk`` and
``test``.  The raw variables are the source of truth:

- ``chunk_n_sims``, ``chunk_n_success``, ``chunk_n_singular`` ``[axes..., chunk]``
- ``chunk_n_significant[axes..., chunk, test]``
- ``chunk_done[axes..., chunk]`` -- written after that chunk's counts.

Every raw variable is stored with a zarr chunk of 1 along every dimension except
``test``, so each simulation chunk's counts live in their own zarr chunks: writes of
different chunks never touch the same object, a write never needs a read, and a run
killed mid-write loses at most the chunk being written (its done flag is still unset,
so a resumed run recomputes it).  Raw chunks are stored uncompressed: they are a few
bytes each.

:func:`open_results` sums the done chunks and derives ``power``, its 95% Wilson
bounds and the failure and singular-fit rates with the one results schema
(:mod:`mcpower_sweep.results.schema`).

>>> ds = open_results("results/tutorial.zarr")  # doctest: +SKIP
>>> ds.power.sel(test="treatment", n_clusters=20)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ..results.schema import TEST_DIM, describe_coords, summarise
from .grid import Grid

ZARR_MAJOR = int(zarr.__version__.split(".")[0])
ZARR_FORMAT = 3

CHUNK_DIM = "chunk"
COUNT_NAMES = ("n_sims", "n_success", "n_singular", "n_significant")

# name -> (has test dim, dtype, fill value, description, units)
RAW_VARIABLES: dict[str, tuple[bool, str, Any, str, str]] = {
    "chunk_n_sims": (False, "int64", 0, "simulations run in the chunk", "simulations"),
    "chunk_n_success": (
        False,
        "int64",
        0,
        "simulations whose fit succeeded in the chunk",
        "simulations",
    ),
    "chunk_n_singular": (
        False,
        "int64",
        0,
        "successful fits with a variance component at its boundary in the chunk",
        "simulations",
    ),
    "chunk_n_significant": (
        True,
        "int64",
        0,
        "successful fits whose test was significant at alpha in the chunk",
        "simulations",
    ),
    "chunk_done": (False, "bool", False, "the chunk's counts are complete", ""),
}

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


def _raw_chunks(n_axes: int, has_test: bool, n_tests: int) -> tuple[int, ...]:
    return (1,) * (n_axes + 1) + ((max(1, n_tests),) if has_test else ())


def create_store(
    path: str | os.PathLike[str],
    grid: Grid,
    *,
    simulations: int,
    chunk_size: int,
    attrs: Mapping[str, Any],
) -> None:
    """Create an empty results store (coordinates, attrs and raw variables, no counts).

    Parameters
    ----------
    path
        Directory of the new zarr store; it must not exist.
    grid
        The design grid (dimensions and coordinates).
    simulations, chunk_size
        Simulations per design point and per chunk (fix the ``chunk`` dimension).
    attrs
        Provenance, JSON-friendly (strings, numbers, booleans).

    Examples
    --------
    >>> create_store("out.zarr", grid, simulations=1000, chunk_size=250, attrs={})  # doctest: +SKIP
    """
    _require_zarr3()
    tests = grid.base.tests
    n_chunks = n_chunks_for(simulations, chunk_size)
    coords: dict[str, Any] = dict(grid.grid_coords())
    coords[CHUNK_DIM] = (
        CHUNK_DIM,
        np.arange(n_chunks, dtype=np.int64),
        {
            "description": f"chunk k holds simulations [k*{chunk_size}, "
            f"min((k+1)*{chunk_size}, {simulations}))",
            "units": "",
        },
    )
    coords[TEST_DIM] = (
        TEST_DIM,
        np.asarray(tests, dtype=object),
        {"description": "fixed effect tested (Wald t test)", "units": ""},
    )
    describe_coords(xr.Dataset(coords=coords, attrs=dict(attrs))).to_zarr(
        path, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False
    )
    group = zarr.open_group(str(path), mode="r+")
    dims = (*grid.names, CHUNK_DIM)
    shape = (*grid.shape, n_chunks)
    for name, (has_test, dtype, fill, description, units) in RAW_VARIABLES.items():
        group.create_array(
            name,
            shape=shape + ((len(tests),) if has_test else ()),
            chunks=_raw_chunks(len(grid.names), has_test, len(tests)),
            dtype=dtype,
            fill_value=fill,
            filters=None,
            compressors=None,
            chunk_key_encoding={"name": "default", "separator": "/"},
            dimension_names=dims + ((TEST_DIM,) if has_test else ()),
            attributes={"description": description, "units": units},
        )
    with warnings.catch_warnings():
        # Consolidated metadata is not (yet) in the zarr v3 spec; xarray and zarr-python
        # read it, and it makes opening a large store one read instead of many.
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        zarr.consolidate_metadata(str(path))


def read_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance attrs of a store."""
    _require_zarr3()
    return dict(zarr.open_group(str(path), mode="r").attrs)


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
    """Whether a raw array stores each chunk as plain little-endian bytes under ``c/i/j/...``."""
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
    """Writes chunk counts into an existing local store (one driver process writes).

    Each raw chunk is a zarr v3 chunk object of plain little-endian bytes (no filters or
    compressors, ``"/"`` chunk keys: the layout :func:`create_store` fixes), so the writer
    puts those few bytes at ``<variable>/c/<i>/<j>/...`` itself, atomically (a temporary
    file renamed into place): about a tenth of the CPU time of zarr-python's general
    write path, which matters when hundreds of workers report chunks to one driver.
    Everything is read back through zarr and xarray.

    >>> writer = ChunkWriter.open("out.zarr")  # doctest: +SKIP
    >>> writer.write((0, 1), 3, n_sims=50, n_success=50, n_singular=2,
    ...              n_significant=np.array([41]))  # doctest: +SKIP
    """

    root: Path
    n_tests: int
    _made: set[Path] = field(default_factory=set, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ChunkWriter:
        _require_zarr3()
        group = zarr.open_group(str(path), mode="r+")
        odd = [name for name in RAW_VARIABLES if not _plain_layout(group[name])]
        if odd:
            raise ValueError(
                f"{os.fspath(path)!r}: variables {', '.join(odd)} do not have the layout of a "
                "results store (uncompressed chunks with '/' keys); start a new store"
            )
        return cls(Path(path), int(group["chunk_n_significant"].shape[-1]))

    def _put(self, name: str, at: tuple[int, ...], data: bytes) -> None:
        target = self.root.joinpath(name, "c", *map(str, at))
        if target.parent not in self._made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(target.parent)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(data)
        partial.replace(target)

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
        """Write one chunk's counts, then its done flag (so a flag always means data)."""
        record = ChunkRecord(tuple(index), k, n_sims, n_success, n_singular, n_significant)
        self.write_many([record])

    def write_many(self, records: Sequence[ChunkRecord]) -> None:
        """Write the counts of several chunks, then their done flags."""
        for r in records:
            at = (*r.index, r.k)
            self._put("chunk_n_sims", at, np.int64(r.n_sims).astype("<i8").tobytes())
            self._put("chunk_n_success", at, np.int64(r.n_success).astype("<i8").tobytes())
            self._put("chunk_n_singular", at, np.int64(r.n_singular).astype("<i8").tobytes())
            significant = np.asarray(r.n_significant).astype("<i8")
            if significant.shape != (self.n_tests,):
                raise ValueError(
                    f"chunk {r.k} of point {r.index}: {significant.size} significance counts "
                    f"for {self.n_tests} tests"
                )
            if self.n_tests:
                self._put("chunk_n_significant", (*at, 0), significant.tobytes())
        for r in records:
            self._put("chunk_done", (*r.index, r.k), b"\x01")


def done_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Which chunks of a store are done, as a boolean array ``[axes..., chunk]``.

    >>> done_mask("out.zarr").mean()  # doctest: +SKIP
    """
    _require_zarr3()
    return np.asarray(zarr.open_group(str(path), mode="r")["chunk_done"][...], dtype=bool)


def _plain_coord(coord: xr.DataArray) -> tuple[tuple[str, ...], np.ndarray, dict[str, Any]]:
    """A coordinate as ``(dims, values, attrs)``; strings read back as NumPy
    ``StringDType`` become ordinary ``str`` arrays."""
    values = coord.values
    if values.dtype.kind in "TO":
        values = np.array(values.tolist(), dtype=str)
    return coord.dims, values, dict(coord.attrs)


def derive(raw: xr.Dataset) -> xr.Dataset:
    """Totals, power, Wilson bounds and rates from the raw per-chunk counts.

    Chunks whose done flag is unset contribute nothing (a partly written chunk is
    ignored); the totals go through :func:`mcpower_sweep.results.schema.summarise`, as
    every result does.  Pure: ``raw`` is any Dataset with the raw variables.

    >>> derive(xr.open_zarr("out.zarr")).power  # doctest: +SKIP
    """
    done = raw["chunk_done"].astype(bool)

    def total(name: str) -> xr.DataArray:
        return raw[name].where(done, 0).sum(CHUNK_DIM).astype(np.int64)

    dims = [d for d in raw["chunk_n_significant"].dims if d != CHUNK_DIM]
    coords = {d: _plain_coord(raw[d]) for d in dims if d in raw.coords}  # axes' order
    # Variables without their coordinates: `coords` has them, in the axes' order.
    counts = {name: total(f"chunk_{name}").variable for name in COUNT_NAMES}
    counts["complete"] = done.all(CHUNK_DIM).variable
    return summarise(xr.Dataset(counts, coords=coords, attrs=dict(raw.attrs)))


def open_results(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a results store as the derived Dataset (in memory; dims = axes + ``test``).

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
    missing = [name for name in RAW_VARIABLES if name not in group]
    if missing:
        raise ValueError(
            f"{os.fspath(path)!r} is not a mcpower_sweep results store "
            f"(missing {', '.join(missing)})"
        )
    with xr.open_zarr(path, chunks=None) as raw:
        derived = derive(raw.load())
    return derived
