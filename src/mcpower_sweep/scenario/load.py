"""Reading a scenario: YAML text -> checked keys -> model, grid and run options.

Examples
--------
>>> s = parse_scenario('''
... model:
...   formula: "y ~ x + (1|g)"
...   effects: {x: 0.3}
...   cluster: {grouping: g, icc: 0.1, n_clusters: 20}
... simulations: 200
... sweep: {sample_size: [200, 400]}
... ''')
>>> s.grid, s.options.simulations, s.options.df_method
({'sample_size': [200, 400]}, 200, 'satterthwaite')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..design.analysis import with_analysis
from .build import build_base, build_model, check_grid_points
from .checks import ScenarioError, Source
from .schema import check_top


@dataclass(frozen=True)
class RunOptions:
    """How the sweep is run and judged (the scenario's top-level keys besides the model).

    Keys the file leaves out have the model's defaults (those of :class:`MCPower` and
    :meth:`MCPower.to_spec`), so a scenario and a script default alike.
    """

    simulations: int
    seed: int | None
    alpha: float
    target_power: float
    max_failed: float
    estimator: str
    df_method: str
    sample_size: int | None
    chunk_size: int | None = None
    test_formula: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario.

    Attributes
    ----------
    path
        The file it was read from (``"<string>"`` for text).
    name, description
        Free text for humans (``name`` defaults to the file stem).
    model
        The configured :class:`~mcpower_sweep.api.model.MCPower`.
    grid
        The sweep axes, ``{axis: [values...]}`` in file order, ranges expanded.
    options
        Run options (simulations, seed, alpha, target power, ...).
    search
        The ``search:`` block (unit, from, to, test, precision, max_simulations,
        correction; or effect instead of unit and test) when the scenario asks for the
        required size (or the minimum detectable effect) at every point of ``grid``
        instead of power; None otherwise.
    text
        The original YAML text (recorded in the store's provenance).
    """

    path: str
    name: str
    description: str
    model: Any
    grid: dict[str, list[Any]]
    options: RunOptions
    text: str = field(repr=False)
    search: dict[str, Any] | None = None

    @property
    def stem(self) -> str:
        """The file name without extension (the default store is ``results/<stem>.zarr``)."""
        return Path(self.path).stem if self.path != "<string>" else self.name

    def sweep_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`mcpower_sweep.sweep` that the scenario fixes."""
        return {
            "simulations": self.options.simulations,
            "seed": self.options.seed,
            "chunk_size": self.options.chunk_size,
            "scenario_text": self.text,
            "target_power": self.options.target_power,
        }

    def design_grid(self) -> Any:
        """The :class:`~mcpower_sweep.sweeps.grid.Grid` to sweep: the base spec (with the
        scenario's estimator and df method) and the axes."""
        from ..sweeps.grid import Grid

        return Grid(self.base_spec(), self.grid)

    def base_spec(self) -> Any:
        """The spec at the base sample size (or the first swept one)."""
        n = self.options.sample_size or self.grid["sample_size"][0]
        return with_analysis(self.model.to_spec(
            int(n), estimator=self.options.estimator, df_method=self.options.df_method
        ), self.options.test_formula)


def _search_base(src: Source, model: Any, search: dict[str, Any],
                 grid: dict[str, list[Any]], sample: int | None) -> int | None:
    """The base sample size of a search scenario (a size search's smallest size; an MDE
    search's own ``sample``), after refusing an axis that the search itself varies."""
    from ..search.sweep import SIZE_AXES

    if "effect" in search:  # the MDE at the scenario's own size (or its sample_size axis)
        axis = f"effect_{search['effect']}"
        if axis in grid:
            raise src.fail(f"sweep.{axis}", axis, f"search.effect={search['effect']!r} "
                           f"searches this effect; remove {axis} from sweep")
        return sample
    unit = search["unit"]
    for axis in grid:
        if axis in SIZE_AXES[unit]:
            raise src.fail(f"sweep.{axis}", axis,
                           f"with search.unit={unit!r} the search varies the size; remove "
                           f"{axis} from sweep (size axes then: {', '.join(SIZE_AXES[unit])})")
    if search["test"] == "all" or "," in search["test"]:
        raise src.fail("search.test", search["test"], "name one tested effect")
    other = {"clusters": "cluster_size", "cluster_size": "n_clusters"}.get(unit)
    if other in grid:
        return search["from"] * max(grid[other])
    try:
        return search["from"] * model._observations_per(unit)
    except ValueError as err:
        raise src.error("search.unit", err, unit, show_value=True) from err


def _read_yaml(text: str, source: str) -> Any:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ScenarioError(f"{source}: not valid YAML{where}: {problem}") from err
    if raw is None:
        raise ScenarioError(f"{source}: the file is empty; a scenario needs at least 'model:'")
    return raw


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario YAML text and build its model.

    Parameters
    ----------
    text
        The YAML document.
    source
        The file name used in error messages.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        For unreadable YAML, unknown keys, wrong types and out-of-range values; the
        message names ``source``, the key path and the value.

    Examples
    --------
    >>> try:
    ...     parse_scenario("model: {formula: 'y ~ x + (1|g)'}\\nsimulations: 0\\n", "s.yaml")
    ... except ScenarioError as err:
    ...     print(err)
    s.yaml: simulations: simulations=0 is not allowed: use a whole number >= 1
    """
    src = Source(source)
    cfg = check_top(src, "", _read_yaml(text, source))
    grid: dict[str, list[Any]] = cfg.get("sweep", {})
    sample_size = cfg.get("sample_size")
    search = cfg.get("search")
    model = build_model(src, cfg)
    if search is not None:
        if cfg.get("test_formula"):
            raise src.fail("test_formula", cfg["test_formula"],
                           "a search scenario (search:) analyses with the model's formula; "
                           "drop test_formula or search")
        sample_size = _search_base(src, model, search, grid, sample_size)
    if sample_size is None and "sample_size" not in grid:
        raise src.fail("sample_size", None,
                       "set a base sample_size or sweep it (sweep.sample_size)")
    if not grid and search is None:
        grid = {"sample_size": [sample_size]}  # a single design point
    base = build_base(src, model, sample_size or grid["sample_size"][0], cfg)
    options = RunOptions(
        simulations=model.simulations, seed=model.seed, alpha=model.alpha,
        target_power=model.target_power, max_failed=model.max_failed,
        estimator=base.estimator, df_method=base.df_method,
        sample_size=sample_size, chunk_size=cfg.get("chunk_size"),
        test_formula=cfg.get("test_formula"),
    )
    check_grid_points(src, base, grid)
    if search is not None and search.get("effect", base.term_names[-1]) not in base.term_names[1:]:
        raise src.fail("search.effect", search["effect"],
                       f"name a fixed effect of the model: {', '.join(base.term_names[1:])}")
    return Scenario(
        path=source,
        name=cfg.get("name") or (Path(source).stem if source != "<string>" else "scenario"),
        description=cfg.get("description", ""),
        model=model,
        grid=grid,
        options=options,
        text=text,
        search=search,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and build the scenario in the YAML file ``path``.

    Examples
    --------
    >>> s = load_scenario("scenarios/random-slopes-docs.yaml")  # doctest: +SKIP
    >>> sorted(s.grid)  # doctest: +SKIP
    ['n_clusters', 'sample_size', 'slope_variance']
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{p}: cannot read the scenario: {err}") from err
    return parse_scenario(text, str(p))
