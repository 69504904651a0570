"""The results store: a zarr group that is the results dataset, and the totals behind it.

Layout (``docs/contracts.md``), zarr format 3, one dimension per swept parameter plus
``test`` and ``field``:

- the derived results of :func:`mcpower_sweep.results.schema.summarise` (``power``,
  ``power_lower``, ``power_upper``, the counts, ``failure_rate``, ``singular_rate``,
  ``complete``) over the axes (and ``test``), with CF attrs, so ``xr.open_zarr(store)``
  is the results dataset.  They are rewritten from the totals every few seconds during
  a run (``writer.RESULTS_SECONDS``) and at its end or stop.
- ``totals[axes..., field]`` (int64), the source of truth: per design point, its first
  ``chunks_done`` chunks summed (``n_sims``, ``n_success``, ``n_singular``,
  ``n_significant[<test>]``, then the tallies of :mod:`mcpower_sweep.results.tally`:
  corrected counts, fits with at least k significant tests, estimate sums).  A point's
  chunks enter its totals in order (a chunk that finishes before an earlier one waits in
  memory), so one number says which chunks are done, and ``totals`` holds everything a
  resumed run needs.

The driver (``sweeps.writer``) keeps the totals in memory and flushes them often (less
often when a flush takes long: large stores), at the end, and when stopped: ``totals`` is
stored in blocks of up to :data:`BLOCK_POINTS` points, each one uncompressed zarr chunk
written whole through zarr (on a local store zarr writes a temporary file and renames it
into place; an object store puts each key whole), so a kill at any moment leaves every
block as of its last flush and loses at most the chunks not yet flushed (a resumed run
recomputes exactly those).  A store has a few files per block, not per simulation chunk.
The store may be a local path, a URL or a zarr store object (:mod:`.location`).

Stores of earlier layouts (``chunk_*`` variables, one file per chunk; or totals without
the tallies, ``store_layout`` 2) still open with :func:`open_results` (without the
variables they lack); resuming one is refused (start again with ``--overwrite``).

>>> ds = open_results("results/tutorial.zarr")  # doctest: +SKIP
>>> ds.power.sel(test="treatment", n_clusters=20)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from ..results import tally
from .location import StoreLocation, describe, local_path, resolve, zarr_store

if TYPE_CHECKING:  # reading a store needs neither the design code nor the engine
    import xarray as xr

    from .grid import Grid

# xarray (and results.schema, which needs it) is imported where a Dataset is made: with
# Dask installed, xarray's first array loads dask.array and SciPy (~1 s), which
# `mcpower-sweep info` does without (read_counts).
TEST_DIM = tally.TEST_DIM

ZARR_MAJOR = int(zarr.__version__.split(".")[0])
ZARR_FORMAT = 3

# attrs["store_layout"]: 4 totals per point with the tallies and variance components; 3
# without the components; 2 without the tallies; 1 (none) per chunk.
STORE_LAYOUT = 4
FIELD_DIM = "field"
BLOCK_POINTS = 4096  # design points per zarr chunk of the totals
BASE_FIELDS = ("chunks_done", "n_sims", "n_success", "n_singular")
TOTALS = "totals"
TOTALS_ATTRS = {
    "long_name": "totals of the done chunks",
    "units": "",
    "description": "per design point: chunks_done (its first chunks_done chunks are "
    "summed here), then the sums of their counts (n_significant[<test>] per test) and "
    "tallies (results.tally: corrected counts, at least k significant, estimate sums)",
}

# The earlier layout: one zarr chunk per simulation chunk and variable.
LEGACY_CHUNK_DIM = "chunk"
LEGACY_COUNTS = ("n_sims", "n_success", "n_singular", "n_significant")


class OldLayoutError(ValueError):
    """A store written by an earlier version (another ``store_layout``) cannot be resumed."""

    def __init__(self, path: StoreLocation, what: str = "one file per simulation chunk") -> None:
        self.path = resolve(path)
        super().__init__(
            f"results store {describe(path)!r} was written by an earlier mcpower_sweep "
            f"({what}) and cannot be resumed: open_results still reads "
            "it; to finish it, run the sweep again with --overwrite / overwrite=True"
        )


def _require_zarr3() -> None:
    if ZARR_MAJOR < 3:
        raise ImportError(
            f"the results store needs zarr >= 3 (found zarr {zarr.__version__}): "
            "pip install 'zarr>=3'"
        )


def is_store(path: StoreLocation) -> bool:
    """Whether ``path`` is a zarr group (a results store or some other zarr data)."""
    p = local_path(path)
    if p is not None:  # without opening it: a directory being created is no store yet
        return p.is_dir() and ((p / "zarr.json").is_file() or (p / ".zgroup").is_file())
    try:
        zarr.open_group(zarr_store(path), mode="r")
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError):
        return False
    return True


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


def fields_for(tests: Sequence[str], components: Sequence[str] = ()) -> tuple[str, ...]:
    """The ``field`` coordinate of ``totals`` for these tests (the family: all of them)
    and variance components.

    >>> fields_for(["x"], ["sigma2"])[:6]
    ('chunks_done', 'n_sims', 'n_success', 'n_singular', 'n_significant[x]', \
'n_significant_corrected[none,x]')
    >>> fields_for(["x"], ["sigma2"])[-1]
    'vc_n_undefined[sigma2]'
    """
    return (*BASE_FIELDS, *(f"n_significant[{t}]" for t in tests),
            *tally.extra_fields(tests, len(tests), components))


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
    import xarray as xr

    from ..results.schema import summarise

    def field(name: str) -> np.ndarray:
        return totals[..., BASE_FIELDS.index(name)]

    n = len(BASE_FIELDS)
    tallies: dict[str, Any] = {}
    if totals.shape[-1] > n + n_tests:  # layout 2 stores have no tallies
        arrays = tally.unflatten(totals[..., n + n_tests:], n_tests, n_tests)
        tallies = tally.tally_vars(arrays, tuple(dims), TEST_DIM)
        coords = {**coords, **tally.tally_coords(n_tests)}
    counts = xr.Dataset(
        {
            "n_sims": (dims, field("n_sims")),
            "n_success": (dims, field("n_success")),
            "n_singular": (dims, field("n_singular")),
            "n_significant": ((*dims, TEST_DIM), totals[..., n:n + n_tests]),
            "complete": (dims, field("chunks_done") >= n_chunks),
            **tallies,
        },
        coords=coords,
        attrs=dict(attrs),
    )
    return summarise(counts)


def create_store(
    path: StoreLocation,
    grid: Grid,
    *,
    simulations: int,
    chunk_size: int,
    attrs: Mapping[str, Any],
    overwrite: bool = False,
) -> None:
    """Create an empty results store (coordinates, attrs, zero totals, the derived results).

    Parameters
    ----------
    path
        Where the new zarr store goes (a path, URL or zarr store: :mod:`.location`); it
        must not exist unless ``overwrite`` (then it is replaced in place).
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
    components = tally.components(grid.base)[0]
    fields = fields_for(tests, components)
    dims = tuple(grid.names)
    coords: dict[str, Any] = dict(grid.grid_coords())
    coords[TEST_DIM] = (TEST_DIM, np.asarray(tests, dtype=object), {})
    coords[tally.COMPONENT_DIM] = (tally.COMPONENT_DIM, np.asarray(components, dtype=object), {})
    attrs = {**attrs, "simulations": simulations, "chunk_size": chunk_size,
             "store_layout": STORE_LAYOUT}
    zero = np.zeros((*grid.shape, len(fields)), dtype=np.int64)
    ds = _results(zero, dims, coords, len(tests), n_chunks_for(simulations, chunk_size), attrs)
    ds = ds.assign_coords({FIELD_DIM: (FIELD_DIM, np.asarray(fields, dtype=object),
                                       {"long_name": "field of totals", "units": ""})})
    # Strings as zarr's variable-length strings (as the test coordinate), not fixed UTF-32.
    ds = ds.assign_coords({name: ds[name].astype(object)
                           for name in (tally.CORRECTION_DIM, tally.COMPONENT_DIM)
                           if name in ds.coords})
    # Each derived variable is one zarr chunk: the whole variable is rewritten at a flush.
    encoding = {name: {"chunks": var.shape or None, "compressors": None}
                for name, var in ds.data_vars.items()}
    target = zarr_store(path)
    ds.to_zarr(target, mode="w" if overwrite else "w-", zarr_format=ZARR_FORMAT,
               consolidated=False, encoding=encoding)
    group = zarr.open_group(target, mode="r+")
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
        zarr.consolidate_metadata(target)


def read_attrs(path: StoreLocation) -> dict[str, Any]:
    """The provenance attrs of a store."""
    _require_zarr3()
    return dict(zarr.open_group(zarr_store(path), mode="r").attrs)


def check_resumable(path: StoreLocation) -> None:
    """Raise :class:`OldLayoutError` for a store of an earlier layout."""
    group = zarr.open_group(zarr_store(path), mode="r")
    if TOTALS not in group and "chunk_done" in group:
        raise OldLayoutError(path)
    layout = group.attrs.get("store_layout")
    if TOTALS in group and layout != STORE_LAYOUT:
        raise OldLayoutError(path, f"store_layout {layout}, this version writes {STORE_LAYOUT}: "
                                   "fewer tallies (no variance components"
                                   f"{'' if layout == 3 else ', estimate summaries'})")


def done_mask(path: StoreLocation) -> np.ndarray:
    """Which chunks of a store are done, as a boolean array ``[axes..., chunk]``.

    >>> done_mask("out.zarr").mean()  # doctest: +SKIP
    """
    _require_zarr3()
    group = zarr.open_group(zarr_store(path), mode="r")
    if TOTALS not in group:
        return np.asarray(group["chunk_done"][...], dtype=bool)
    return _done(np.asarray(group[TOTALS][..., 0]), group.attrs)


def _done(chunks_done: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """The done mask ``[axes..., chunk]`` of the totals' ``chunks_done``."""
    n_chunks = n_chunks_for(int(attrs["simulations"]), int(attrs["chunk_size"]))
    return np.arange(n_chunks) < chunks_done[..., None]


def _open_store(path: StoreLocation) -> Any:
    """The zarr group of a store, to read; a clear error if there is none."""
    _require_zarr3()
    if not is_store(path):
        raise FileNotFoundError(f"{describe(path)!r} is not a results store (no zarr group)")
    return zarr.open_group(zarr_store(path), mode="r")


def read_counts(path: StoreLocation) -> dict[str, Any] | None:
    """``attrs``, ``tests``, ``done`` (:func:`done_mask`) and the :data:`BASE_FIELDS`
    (int64 over the axes) of a store, read through zarr alone: what ``mcpower-sweep info``
    needs, without xarray's second of imports.  None for the per-chunk layout.

    >>> read_counts("results/random-slopes-docs.zarr")["n_sims"].sum()  # doctest: +SKIP
    392000
    """
    group = _open_store(path)
    if TOTALS not in group:
        return None
    attrs = dict(group.attrs)
    base = np.asarray(group[TOTALS][..., :len(BASE_FIELDS)])
    counts = {name: base[..., i] for i, name in enumerate(BASE_FIELDS)}
    return {"attrs": attrs, "tests": [str(t) for t in group[TEST_DIM][...].tolist()],
            "done": _done(counts["chunks_done"], attrs), **counts}


def _plain_coord(coord: xr.DataArray) -> tuple[tuple[str, ...], np.ndarray, dict[str, Any]]:
    """A coordinate as ``(dims, values, attrs)``; strings read back as NumPy
    ``StringDType`` become ordinary ``str`` arrays."""
    values = coord.values
    if values.dtype.kind in "TO":
        values = np.array(values.tolist(), dtype=str)
    return coord.dims, values, dict(coord.attrs)


def _legacy_results(raw: xr.Dataset) -> xr.Dataset:
    """The results of a store of the earlier layout (``chunk_*`` counts, done flags)."""
    import xarray as xr

    from ..results.schema import summarise

    done = raw["chunk_done"].astype(bool)

    def total(name: str) -> xr.DataArray:
        return raw[name].where(done, 0).sum(LEGACY_CHUNK_DIM).astype(np.int64)

    dims = [d for d in raw["chunk_n_significant"].dims if d != LEGACY_CHUNK_DIM]
    coords = {d: _plain_coord(raw[d]) for d in dims if d in raw.coords}
    counts = {name: total(f"chunk_{name}").variable for name in LEGACY_COUNTS}
    counts["complete"] = done.all(LEGACY_CHUNK_DIM).variable
    return summarise(xr.Dataset(counts, coords=coords, attrs=dict(raw.attrs)))


def open_results(path: StoreLocation) -> xr.Dataset:
    """Open a results store as the results Dataset, from its totals (in memory).

    ``xr.open_zarr(path)`` shows the same variables as of the last flush; this reads the
    totals, so it is exact even for a store whose run was killed.

    Parameters
    ----------
    path
        A store written by :func:`mcpower_sweep.sweep`: a path, URL or zarr store
        (:mod:`.location`).

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
    import xarray as xr

    group = _open_store(path)
    if TOTALS not in group:
        missing = [f"chunk_{n}" for n in (*LEGACY_COUNTS, "done") if f"chunk_{n}" not in group]
        if missing:
            raise ValueError(
                f"{describe(path)!r} is not a mcpower_sweep results store "
                f"(missing {TOTALS})"
            )
        with xr.open_zarr(zarr_store(path), chunks=None) as raw:
            return _legacy_results(raw.load())
    attrs = dict(group.attrs)
    totals = group[TOTALS]
    dims = totals.metadata.dimension_names[:-1]
    coords = {d: _plain_coord(xr.DataArray(group[d][...], dims=(d,), attrs=dict(group[d].attrs)))
              for d in (*dims, TEST_DIM, tally.COMPONENT_DIM) if d in group}
    n_chunks = n_chunks_for(int(attrs["simulations"]), int(attrs["chunk_size"]))
    return _results(np.asarray(totals[...]), dims, coords, len(coords[TEST_DIM][1]),
                    n_chunks, attrs)
