"""Scenario YAML with several grouping factors: ``clusters:`` (one set_cluster entry per
grouping, MCPower 1.4.1's names) and the per-grouping sweep axes; bad input is one line
naming the file, the key path and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpower_sweep import MCPower
from mcpower_sweep.scenario import ScenarioError, load_scenario, parse_scenario

NESTED = """\
model:
  formula: "score ~ treatment + pretest + (1 | school/class)"
  effects: {treatment: 0.3, pretest: 0.4}
  variable_types: {treatment: "binary(0.5, balanced)"}
  clusters:
    - grouping: school
      icc: 0.15
      n_clusters: 20
    - name: "school:class"
      ICC: 0.1
      n_per_parent: 4
      cluster_level_vars: [treatment]
simulations: 100
seed: 7
sample_size: 1200
sweep:
  n_per_parent[school:class]: [2, 4]
  icc[school:class]: [0.05, 0.2]
  n_clusters[school]: [10, 20]
"""

CROSSED = """\
model:
  formula: "rt ~ condition + (1 + condition | subject) + (1 | item)"
  effects: {condition: 0.25}
  variable_types: {condition: "binary(0.5, balanced)"}
  clusters:
    - {grouping: subject, icc: 0.2, n_clusters: 20, random_slopes: [condition],
       slope_variance: 0.05, slope_intercept_corr: 0.3}
    - {grouping: item, tau_squared: 0.11, n_clusters: 10}
simulations: 100
seed: 7
sample_size: 400
sweep:
  n_clusters[item]: [10, 20]
  slope_variance[subject]: [0, 0.1]
"""


def error_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scen.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message


def test_nested_scenario_equals_the_script() -> None:
    s = parse_scenario(NESTED)
    script = (MCPower("score ~ treatment + pretest + (1 | school/class)")
              .set_variable_type("treatment=binary(0.5, balanced)")
              .set_effects("treatment=0.3, pretest=0.4")
              .set_cluster("school", ICC=0.15, n_clusters=20)
              .set_cluster("school:class", ICC=0.1, n_per_parent=4,
                           cluster_level_vars=["treatment"]))
    assert s.base_spec() == script.to_spec(1200)
    assert s.grid == {"n_per_parent[school:class]": [2, 4], "icc[school:class]": [0.05, 0.2],
                      "n_clusters[school]": [10, 20]}
    s.design_grid()  # every point builds


def test_crossed_scenario_equals_the_script() -> None:
    s = parse_scenario(CROSSED)
    script = (MCPower("rt ~ condition + (1 + condition | subject) + (1 | item)")
              .set_variable_type("condition=binary(0.5, balanced)")
              .set_effects("condition=0.25")
              .set_cluster("subject", ICC=0.2, n_clusters=20, slope_variance=0.05,
                           slope_intercept_corr=0.3)
              .set_cluster("item", tau_squared=0.11, n_clusters=10))
    assert s.base_spec() == script.to_spec(400)
    s.design_grid()  # every point fits: 20 x 10 and 20 x 20 divide 400


@pytest.mark.parametrize(("old", "new", "path", "words"), [
    # a nested child sized like a top-level grouping
    ("      n_per_parent: 4\n", "      n_clusters: 4\n",
     "model.clusters[1].n_clusters", ["nested in 'school'", "n_per_parent"]),
    # n_per_parent on a top-level grouping
    ("      n_clusters: 20\n", "      n_per_parent: 20\n",
     "model.clusters[0].n_per_parent", ["top-level", "(got 20)"]),
    ("      n_per_parent: 4\n", "      n_per_parent: 1\n",
     "model.clusters[1].n_per_parent", ["n_per_parent=1", ">= 2"]),
    ("      ICC: 0.1\n", "      ICC: 1.5\n", "model.clusters[1].ICC", ["ICC=1.5"]),
    ("    - name: \"school:class\"", "    - name: \"class\"",
     "model.clusters[1].name", ["'class' is not a grouping factor", "school:class"]),
    ("      cluster_level_vars: [treatment]\n", "      cluster_level_vars: [dose]\n",
     "model.clusters[1].cluster_level_vars", ["'dose' is not a predictor"]),
    ("      n_per_parent: 4\n", "      n_per_parent: 4\n      nper: 3\n",
     "model.clusters[1].nper", ["unknown key", "n_per_parent"]),
    ("  n_clusters[school]: [10, 20]\n", "  n_clusters[class]: [10, 20]\n",
     "sweep.n_clusters[class]", ["not an axis of this model", "n_per_parent[school:class]"]),
    ("  n_clusters[school]: [10, 20]\n", "  n_clusters[school]: [10, 1]\n",
     "sweep.n_clusters[school][1]", ["n_clusters[school]=1"]),
])
def test_nested_errors_name_key_and_value(tmp_path: Path, old: str, new: str, path: str,
                                          words: list[str]) -> None:
    assert old in NESTED
    message = error_of(tmp_path, NESTED.replace(old, new))
    assert f"scen.yaml: {path}: " in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(("old", "new", "path", "words"), [
    # crossed sizes that do not fit N
    ("sample_size: 400\n", "sample_size: 410\n", "sample_size", ["multiple of 200"]),
    ("  n_clusters[item]: [10, 20]\n", "  n_clusters[item]: [10, 30]\n",
     "sweep.n_clusters[item][1]", ["subject (20) x item (30)"]),
    # a grouping of the formula left out
    ("    - {grouping: item, tau_squared: 0.11, n_clusters: 10}\n", "",
     "model.clusters", ["set_cluster has not been called for 'item'"]),
    ("    - {grouping: item, tau_squared: 0.11, n_clusters: 10}\n",
     "    - {grouping: item, tau_squared: 0.11, n_clusters: 10}\n"
     "    - {grouping: item, icc: 0.1, n_clusters: 10}\n",
     "model.clusters[2]", ["already configured in model.clusters[1]"]),
    ("    - {grouping: item, tau_squared: 0.11, n_clusters: 10}\n",
     "    - {grouping: item, tau_squared: 0.11, icc: 0.1, n_clusters: 10}\n",
     "model.clusters[1]", ["ICC=0.1 and tau_squared=0.11"]),
    ("  slope_variance[subject]: [0, 0.1]\n", "  slope_variance[item]: [0, 0.1]\n",
     "sweep.slope_variance[item]", ["slope_variance[subject]"]),
])
def test_crossed_errors_name_key_and_value(tmp_path: Path, old: str, new: str, path: str,
                                           words: list[str]) -> None:
    assert old in CROSSED
    message = error_of(tmp_path, CROSSED.replace(old, new))
    assert f"scen.yaml: {path}" in message
    for word in words:
        assert word in message


def test_clusters_shape_and_exclusivity(tmp_path: Path) -> None:
    message = error_of(tmp_path, NESTED.replace("  clusters:\n", "  clusters: 3\n  x:\n"))
    assert "model.clusters: must be a non-empty list of groupings" in message
    mapping = ("model:\n  formula: 'y ~ x + (1|g)'\n"
               "  clusters: {grouping: g, icc: 0.1, n_clusters: 20}\nsample_size: 200\n")
    assert "one grouping factor: write cluster:" in error_of(tmp_path, mapping)
    both = NESTED.replace("  clusters:\n",
                          "  cluster: {grouping: school, icc: 0.1, n_clusters: 20}\n  clusters:\n")
    assert "give cluster (one grouping factor) or clusters" in error_of(tmp_path, both)
    one = NESTED.replace("    - grouping: school\n",
                         "    - grouping: school\n      n_per_parent: 3\n")
    assert "model.clusters[0].n_per_parent" in error_of(tmp_path, one)


def test_slope_on_a_variable_constant_within_the_grouping(tmp_path: Path) -> None:
    text = CROSSED.replace("slope_intercept_corr: 0.3}", "slope_intercept_corr: 0.3,\n"
                           "       cluster_level_vars: [condition]}")
    message = error_of(tmp_path, text)
    assert "model.clusters[0]" in message
    assert "constant within subject units" in message


def test_one_grouping_formula_rejects_grouping_axes(tmp_path: Path) -> None:
    text = """\
model:
  formula: "y ~ x + (1|g)"
  effects: {x: 0.3}
  clusters: [{grouping: g, icc: 0.1, n_clusters: 20}]
sample_size: 200
sweep: {"icc[g]": [0.1, 0.2]}
"""
    message = error_of(tmp_path, text)
    assert "sweep.icc[g]: not an axis of this model: per-grouping axes are for formulas" \
        in message


def test_factor_and_correlations_in_a_crossed_scenario() -> None:
    text = CROSSED.replace(
        '  effects: {condition: 0.25}\n  variable_types: {condition: "binary(0.5, balanced)"}\n',
        '  effects: {condition: 0.25, "list[2]": 0.1, a: 0.1, b: 0.2}\n'
        '  variable_types: {condition: "binary(0.5, balanced)", list: "factor(0.5, 0.5)"}\n'
        '  correlations: {"corr(a, b)": 0.4}\n').replace(
        "rt ~ condition +", "rt ~ condition + list + a + b +")
    s = parse_scenario(text)
    spec = s.base_spec()
    assert spec.term_names[1:] == ("condition", "list[2]", "a", "b")
    assert spec.correlations == (("a", "b", 0.4),)
    s.design_grid()
