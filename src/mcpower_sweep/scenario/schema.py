"""The keys a scenario may have, each with its check; the words are those of :mod:`~.params`.

A key that is a parameter (``simulations``, ``target_power``, ``icc``, ...) is checked by
that parameter's rule.  The cluster block also accepts ``ICC``, the tutorial's spelling in
``set_cluster(ICC=...)``; ``icc`` is canonical.  A formula with several grouping factors
(nested ``(1 | school/class)``, crossed ``(1 | subject) + (1 | item)``) takes ``clusters:``,
a list with one such block per grouping (``grouping:`` or ``name:`` as MCPower 1.4.1 spells
it, e.g. ``"school:class"``; a nested child sized by ``n_per_parent``).  What a value means
for the model (names of effects and slopes, variable types, sizes that fit together) is left
to the model's setters (:mod:`.build`), so a scenario and a script accept exactly the same values.

Examples
--------
>>> from mcpower_sweep.scenario.checks import Source
>>> check_top(Source("s.yaml"), "", {"model": {"formula": "y ~ x + (1|g)"}, "seed": 3})
{'model': {'formula': 'y ~ x + (1|g)'}, 'seed': 3}
"""

from __future__ import annotations

from typing import Any

from ..design.robust import check_scenario_configs
from ..params import PARAMS, effect_param
from .axes import check_sweep
from .checks import (
    Schema,
    Source,
    assignments,
    mapping,
    name_list,
    number_list,
    optional,
    per_slope,
    rule,
    text,
)

# Accepted second spellings of cluster keys -> the canonical key.
CLUSTER_ALIASES = {"ICC": "icc"}

CLUSTER: Schema = {
    "grouping": (True, text),
    "icc": (False, rule(PARAMS["icc"])),
    "n_clusters": (False, rule(PARAMS["n_clusters"])),
    "cluster_size": (False, rule(PARAMS["cluster_size"])),
    "random_slopes": (False, name_list),
    "slope_variance": (False, per_slope(PARAMS["slope_variance"])),
    "slope_intercept_corr": (False, per_slope(PARAMS["slope_intercept_corr"])),
    "cluster_level_vars": (False, name_list),
    "cluster_sizes": (False, number_list),
    "cluster_size_cv": (False, rule(PARAMS["cluster_size_cv"])),
    "tau_squared": (False, rule(PARAMS["tau_squared"])),
}

# One entry of ``clusters:`` (a formula with several grouping factors): set_cluster's keys
# and name (MCPower 1.4.1's spelling, e.g. "school:class") plus a nested child's size.
GROUPING_ALIASES = {**CLUSTER_ALIASES, "name": "grouping"}
GROUPING: Schema = {**CLUSTER, "n_per_parent": (False, rule(PARAMS["n_per_parent"])),
                    "latin_square": (False, text)}


def check_groupings(src: Source, path: str, value: Any) -> list[dict[str, Any]]:
    """``clusters:``: one set_cluster entry per grouping factor, each named once."""
    if not isinstance(value, list) or not value:
        one = " (one grouping factor: write cluster: {...})" if isinstance(value, dict) else ""
        raise src.fail(path, value, "must be a non-empty list of groupings, one entry per "
                       "grouping factor, e.g. [{grouping: school, icc: 0.1, n_clusters: 20}, "
                       f"{{grouping: 'school:class', icc: 0.05, n_per_parent: 4}}]{one}")
    entry = mapping(GROUPING, GROUPING_ALIASES)
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        block = entry(src, f"{path}[{i}]", item)
        name = block.get("grouping", block.get("name"))
        if name in seen:
            raise src.fail(f"{path}[{i}]", name, f"the grouping is already configured in "
                           f"{path}[{seen[name]}]: give each grouping factor once")
        seen[name] = i
        out.append(block)
    return out


def scenario_configs(src: Source, path: str, value: Any) -> Any:
    """MCPower 1.4.1's ``set_scenario_configs`` mapping ``{name: {setting: value}}``."""
    try:
        check_scenario_configs(value)
    except ValueError as err:
        raise src.error(path, err) from None
    return value


def _with_block(src: Source, path: str, value: Any) -> Any:
    """Checked by :func:`check_search_block`, which knows the block's other keys."""
    return value


SEARCH: Schema = {
    "unit": (False, rule(PARAMS["unit"])),
    "effect": (False, text),  # the MDE of this effect instead of a required size
    "from": (True, _with_block),
    "to": (True, _with_block),
    "test": (False, text),
    "precision": (False, _with_block),
    "max_simulations": (False, _with_block),
    "correction": (False, rule(PARAMS["correction"])),
}


def check_search_block(src: Source, path: str, value: Any) -> dict[str, Any]:
    """``search:``: the adaptive search of find_sample_size (no ``by=``; ``unit`` and
    ``test``) or of find_effect_size (``effect``) at every grid point.

    ``from`` and ``to`` count the ``unit`` (default observations) or are the ``effect``'s
    sizes (outcome SD); ``precision`` and ``max_simulations`` follow the API's rules
    (defaults 0.05 and 20,000).
    """
    from ..search.questions import check_search  # the API's own rule for both

    block = mapping(SEARCH)(src, path, value)
    if "effect" in block:
        for key in ("unit", "test"):
            if key in block:
                raise src.fail(f"{path}.{key}", block[key],
                               f"give {key} (a required size) or effect (the minimum "
                               "detectable effect), not both")
        size = effect_param(block["effect"])
    else:
        if "test" not in block:
            raise src.fail(f"{path}.test", None, "this key is required (or give effect)")
        block.setdefault("unit", "observations")
        size = PARAMS["sample_size"]
    for key in ("from", "to"):
        try:
            block[key] = size.check(block[key], key)
        except ValueError as err:
            raise src.error(f"{path}.{key}", err) from None
    block.setdefault("precision", 0.05)
    block.setdefault("max_simulations", 20_000)
    for key in ("precision", "max_simulations"):
        try:
            check_search(block["precision"] if key == "precision" else 0.05,
                         block["max_simulations"] if key == "max_simulations" else 20_000,
                         ("test",), ("test",))
        except ValueError as err:
            raise src.error(f"{path}.{key}", err) from None
    if block["from"] >= block["to"]:
        raise src.fail(f"{path}.to", block["to"],
                       f"must be larger than from={block['from']}")
    return block


MODEL: Schema = {
    "formula": (True, text),
    "family": (False, rule(PARAMS["family"])),
    "baseline_probability": (False, rule(PARAMS["baseline_probability"])),
    "baseline_rate": (False, rule(PARAMS["baseline_rate"])),
    "effects": (False, assignments("effect sizes")),
    "variable_types": (False, assignments("variable types")),
    "correlations": (False, assignments("correlations")),
    "cluster": (False, mapping(CLUSTER, CLUSTER_ALIASES)),
    "clusters": (False, check_groupings),  # several grouping factors (nested, crossed)
    # Departures from the textbook model (docs/robustness.md).
    "residual_dist": (False, rule(PARAMS["residual_dist"])),
    "random_effect_dist": (False, rule(PARAMS["random_effect_dist"])),
    "heteroskedasticity": (False, rule(PARAMS["heteroskedasticity"])),
    "heteroskedasticity_driver": (False, text),
    "scenario_configs": (False, scenario_configs),
}

# Run options are parameters too; left out, they take the model's defaults (see .load).
TOP: Schema = {
    "name": (False, text),
    "description": (False, text),
    "model": (True, mapping(MODEL)),
    "simulations": (False, rule(PARAMS["simulations"])),
    "seed": (False, optional(rule(PARAMS["seed"]))),  # null: drawn, and recorded
    "alpha": (False, rule(PARAMS["alpha"])),
    "target_power": (False, rule(PARAMS["target_power"])),
    "max_failed": (False, rule(PARAMS["max_failed"])),
    "estimator": (False, rule(PARAMS["estimator"])),
    "df_method": (False, rule(PARAMS["df_method"])),
    "sample_size": (False, rule(PARAMS["sample_size"])),
    "test_formula": (False, text),  # a misspecified analysis (docs/misspecification.md)
    "chunk_size": (False, optional(rule(PARAMS["chunk_size"]))),  # null: calibrated
    "sweep": (False, check_sweep),
    "search": (False, check_search_block),  # the required size or MDE at every point
}

check_top = mapping(TOP)
