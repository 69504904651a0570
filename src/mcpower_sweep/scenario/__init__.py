"""Scenario files: a declarative sweep (model, run options, axes) in YAML.

A scenario names everything a sweep needs, in the words of :mod:`mcpower_sweep.params`::

    model:
      formula: "score ~ treatment + (1 + treatment|cluster)"
      effects: {treatment: 0.15}
      cluster:
        grouping: cluster
        icc: 0.15              # ICC (the tutorial's set_cluster spelling) is accepted too
        n_clusters: 30
        random_slopes: [treatment]
        slope_variance: 0.1
    simulations: 800
    seed: 42
    sweep:
      slope_variance: [0, 0.05, 0.1]
      sample_size: {from: 300, to: 1500, by: 300}

A formula with several grouping factors (``(1 | school/class)``, ``(1 | subject) + (1 |
item)``) takes ``clusters:`` instead of ``cluster:``, one block per grouping (MCPower 1.4.1's
names, ``"school:class"`` sized by ``n_per_parent``), and sweeps the per-grouping axes
(``n_clusters[item]``, ``icc[school:class]``, ...).

:func:`load_scenario` checks the file against the schema (:mod:`.schema`: unknown keys,
types, each parameter's rule from :data:`~mcpower_sweep.params.PARAMS`; :mod:`.axes`: the
``sweep:`` block), then builds an :class:`~mcpower_sweep.api.model.MCPower` through its
setters and checks the grid on it (:mod:`.build`), so a scenario is validated by exactly the
code that validates the Python API.  Every error is a :class:`ScenarioError` naming the file,
the key path and the offending value (:mod:`.checks`).

Examples
--------
>>> from mcpower_sweep.scenario import load_scenario
>>> s = load_scenario("scenarios/random-slopes-docs.yaml")  # doctest: +SKIP
>>> s.grid["n_clusters"]  # doctest: +SKIP
[15, 20, 30, 40, 50]
"""

from __future__ import annotations

from .axes import expand_range
from .checks import ScenarioError
from .load import RunOptions, Scenario, load_scenario, parse_scenario

__all__ = [
    "RunOptions",
    "Scenario",
    "ScenarioError",
    "expand_range",
    "load_scenario",
    "parse_scenario",
]
