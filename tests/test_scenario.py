"""Scenario YAML: schema errors name the file, the key path and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpower_sweep.scenario import (
    RunOptions,
    ScenarioError,
    expand_range,
    load_scenario,
    parse_scenario,
)

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
model:
  formula: "score ~ treatment + (1 + treatment|cluster)"
  effects: {treatment: 0.15}
  cluster:
    grouping: cluster
    icc: 0.15
    n_clusters: 30
    random_slopes: [treatment]
    slope_variance: 0.1
simulations: 200
seed: 42
max_failed: 0.3
sample_size: 900
sweep:
  n_clusters: [15, 30]
  sample_size: {from: 300, to: 900, by: 300}
"""


def write(tmp_path: Path, text: str, name: str = "scen.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_good_scenario_builds_model_and_grid(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, GOOD))
    assert s.grid == {"n_clusters": [15, 30], "sample_size": [300, 600, 900]}
    assert s.options.simulations == 200 and s.options.seed == 42
    assert s.model.simulations == 200 and s.model.seed == 42
    assert s.model.max_failed == pytest.approx(0.3)
    assert s.options.df_method == "satterthwaite" and s.options.estimator == "reml"
    spec = s.base_spec()
    assert spec.n_clusters == 30 and spec.slope_variance == pytest.approx(0.1)
    assert s.text == GOOD and s.stem == "scen"
    assert s.sweep_kwargs()["scenario_text"] == GOOD


def test_effects_and_types_as_strings(tmp_path: Path) -> None:
    text = edit("effects: {treatment: 0.15}",
                'effects: "treatment=0.25"\n  variable_types: "treatment=binary(0.3)"')
    s = load_scenario(write(tmp_path, text))
    spec = s.base_spec()
    assert spec.effects[1] == pytest.approx(0.25)
    assert spec.predictors[0].kind == "binary" and spec.predictors[0].p == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("old", "new", "path", "value", "suggestion"),
    [
        ("    icc: 0.15", "    ic: 0.15", "model.cluster.ic", "'ic'", "'icc'"),
        ("    icc: 0.15", "    IIC: 0.15", "model.cluster.IIC", "'IIC'", "'ICC'"),
        ("simulations: 200", "simulation: 200", "simulation", "'simulation'", "'simulations'"),
        ("  effects:", "  efects:", "model.efects", "'efects'", "'effects'"),
        ("  n_clusters: [15, 30]", "  n_cluster: [15, 30]", "sweep.n_cluster", "'n_cluster'",
         "'n_clusters'"),
        ("seed: 42", "sed: 42", "sed", "'sed'", "'seed'"),
        ("  cluster:\n", "  clustr:\n", "model.clustr", "'clustr'", "'cluster'"),
    ],
)
def test_unknown_key_suggests_closest(tmp_path: Path, old: str, new: str, path: str,
                                      value: str, suggestion: str) -> None:
    message = error_of(tmp_path, edit(old, new))
    assert f": {path}:" in message
    assert value in message
    assert f"did you mean {suggestion}" in message


@pytest.mark.parametrize(
    ("old", "new", "path", "value"),
    [
        ("simulations: 200", "simulations: many", "simulations", "'many'"),
        ("simulations: 200", "simulations: 2.5", "simulations", "2.5"),
        ("seed: 42", "seed: [1]", "seed", "[1]"),
        ("    icc: 0.15", "    icc: high", "model.cluster.icc", "'high'"),
        ("    icc: 0.15", "    ICC: high", "model.cluster.ICC", "'high'"),
        ("    n_clusters: 30", "    n_clusters: true", "model.cluster.n_clusters", "True"),
        ("    random_slopes: [treatment]", "    random_slopes: {a: 1}",
         "model.cluster.random_slopes", "{'a': 1}"),
        ("effects: {treatment: 0.15}", "effects: {treatment: big}", "model.effects.treatment",
         "'big'"),
        ("  n_clusters: [15, 30]", "  n_clusters: 15", "sweep.n_clusters", "15"),
        ("  n_clusters: [15, 30]", "  n_clusters: [15, x]", "sweep.n_clusters[1]", "'x'"),
        ("  cluster:\n    grouping: cluster\n", "  cluster: 3\n  _x:\n    grouping: cluster\n",
         "model.cluster", "3"),
    ],
)
def test_wrong_types(tmp_path: Path, old: str, new: str, path: str, value: str) -> None:
    message = error_of(tmp_path, edit(old, new))
    assert f": {path}:" in message, message
    assert value in message


@pytest.mark.parametrize(
    ("old", "new", "path", "value"),
    [
        ("    icc: 0.15", "    icc: 1.5", "model.cluster.icc", "1.5"),
        ("    icc: 0.15", "    ICC: 1.5", "model.cluster.ICC", "1.5"),
        ("    slope_variance: 0.1", "    slope_variance: -0.1", "model.cluster.slope_variance",
         "-0.1"),
        ("    n_clusters: 30", "    n_clusters: 1", "model.cluster.n_clusters", "1"),
        ("simulations: 200", "simulations: 0", "simulations", "0"),
        ("max_failed: 0.3", "max_failed: 1.3", "max_failed", "1.3"),
        ("seed: 42", "seed: -1", "seed", "-1"),
        ("max_failed: 0.3", "max_failed: 0.3\nalpha: 1.0", "alpha", "1.0"),
        ("max_failed: 0.3", "max_failed: 0.3\ndf_method: satterwhite", "df_method",
         "'satterwhite'"),
        ("  n_clusters: [15, 30]", "  n_clusters: [15, 1]", "sweep.n_clusters[1]", "1"),
        ("  n_clusters: [15, 30]", "  n_clusters: [15, 15]", "sweep.n_clusters[1]", "15"),
        ("  n_clusters: [15, 30]", "  slope_variance: [0.1, -1]", "sweep.slope_variance[1]",
         "-1"),
        ("by: 300}", "by: -300}", "sweep.sample_size.by", "-300"),
        ("sample_size: 900\n", "sample_size: 1000000000\n", "sample_size", "1000000000"),
        ("by: 300}", "by: 300}\n  slope_variance: {from: 0, to: 1000, by: 0.1}",
         "sweep.slope_variance", "'from': 0"),
        ("by: 300}", "by: 300}\n  icc: {from: 0, to: 0.9, by: 0.0001}\n"
                     "  slope_intercept_corr: {from: -0.9, to: 0.9, by: 0.001}",
         "sweep", "design points"),
        ("  n_clusters: [15, 30]", "  effect_treatmnt: [0.1]", "sweep.effect_treatmnt",
         "'effect_treatmnt'"),
    ],
)
def test_out_of_range(tmp_path: Path, old: str, new: str, path: str, value: str) -> None:
    message = error_of(tmp_path, edit(old, new))
    assert f": {path}" in message, message
    assert value in message


def test_setter_errors_get_key_path(tmp_path: Path) -> None:
    # Only the model knows which names are random slopes: its message, our key path.
    message = error_of(tmp_path, edit("random_slopes: [treatment]", "random_slopes: [age]"))
    assert ": model.cluster.random_slopes:" in message and "age" in message
    message = error_of(tmp_path, edit("grouping: cluster", "grouping: school"))
    assert ": model.cluster.grouping:" in message and "school" in message
    message = error_of(tmp_path, edit("effects: {treatment: 0.15}", "effects: {age: 0.2}"))
    assert ": model.effects.age:" in message and "not a fixed effect" in message
    message = error_of(tmp_path, edit("effects: {treatment: 0.15}",
                                      "effects: {treatment: 0.1}\n  variable_types: {age: binary}"))
    assert ": model.variable_types.age:" in message and "not a predictor" in message
    message = error_of(tmp_path, edit("effects: {treatment: 0.15}", 'effects: "age=0.2"'))
    assert ": model.effects:" in message and "'age=0.2'" in message
    message = error_of(tmp_path, edit('"score ~ treatment + (1 + treatment|cluster)"',
                                      '"score ~ treatment + (1 + treatment|cluster"'))
    assert ": model.formula:" in message


def test_messages_state_the_parameter_rule(tmp_path: Path) -> None:
    # The rule and its words come from mcpower_sweep.params, as in the Python API.
    message = error_of(tmp_path, edit("    n_clusters: 30", "    n_clusters: 1"))
    assert message.endswith(": model.cluster.n_clusters: n_clusters=1 is not allowed: use a "
                            "whole number >= 2")
    message = error_of(tmp_path, edit("simulations: 200", "simulations: 1000000000000"))
    assert message.endswith(": simulations: simulations=1000000000000 is too large: at most "
                            "100,000,000")
    message = error_of(tmp_path, edit("max_failed: 0.3", "max_failed: 0.3\nestimator: REML"))
    assert "use one of reml, ml; did you mean 'reml'?" in message


def test_icc_spellings(tmp_path: Path) -> None:
    # icc is canonical (the sweep axis, the dataset); ICC, set_cluster's spelling, is accepted.
    canonical = load_scenario(write(tmp_path, GOOD)).base_spec()
    tutorial = load_scenario(write(tmp_path, edit("    icc: 0.15", "    ICC: 0.15"))).base_spec()
    assert canonical == tutorial and canonical.icc == pytest.approx(0.15)
    message = error_of(tmp_path, edit("    icc: 0.15", "    icc: 0.15\n    ICC: 0.2"))
    assert ": model.cluster.ICC: give icc or ICC, not both" in message


def test_options_left_out_are_the_models_defaults(tmp_path: Path) -> None:
    from mcpower_sweep import MCPower

    text = GOOD.replace("simulations: 200\nseed: 42\nmax_failed: 0.3\n", "")
    s = load_scenario(write(tmp_path, text))
    model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    spec = s.base_spec()
    assert s.options == RunOptions(
        simulations=model.simulations, seed=None, alpha=model.alpha,
        target_power=model.target_power, max_failed=model.max_failed,
        estimator=spec.estimator, df_method=spec.df_method, sample_size=900)
    assert (s.options.estimator, s.options.df_method) == ("reml", "satterthwaite")


def test_combination_of_axes_is_checked(tmp_path: Path) -> None:
    # 100 clusters with N = 300 leaves 3 observations per cluster.
    message = error_of(tmp_path, edit("n_clusters: [15, 30]", "n_clusters: [15, 100]"))
    assert ": sweep" in message and "100" in message


def test_missing_required_and_sample_size(tmp_path: Path) -> None:
    message = error_of(tmp_path, "simulations: 10\n")
    assert ": model:" in message and "required" in message
    message = error_of(tmp_path, GOOD.replace("sample_size: 900\n", "").replace(
        "  sample_size: {from: 300, to: 900, by: 300}\n", ""))
    assert ": sample_size:" in message


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, "model: [unclosed\n")
    assert "not valid YAML" in message and "line" in message
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")
    assert error_of(tmp_path, "")


def test_scenario_error_is_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)
    with pytest.raises(ValueError, match="<string>: model"):
        parse_scenario("model: 3\n")


def test_expand_range() -> None:
    assert expand_range(300, 900, 300) == [300, 600, 900]
    assert expand_range(300, 1000, 300) == [300, 600, 900]
    assert expand_range(0.05, 0.2, 0.05) == [0.05, 0.1, 0.15, 0.2]


@pytest.mark.parametrize("name", ["random-slopes-docs.yaml", "calibration.yaml"])
def test_shipped_scenarios_load(name: str) -> None:
    s = load_scenario(ROOT / "scenarios" / name)
    assert s.grid


def test_docs_scenario_covers_the_tutorial() -> None:
    s = load_scenario(ROOT / "scenarios" / "random-slopes-docs.yaml")
    assert s.grid["slope_variance"] == [0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.3]
    assert s.grid["n_clusters"] == [15, 20, 30, 40, 50]
    sizes = s.grid["sample_size"]
    assert 900 in sizes and min(sizes) == 300 and max(sizes) == 5000
    assert s.options.seed == 42
    spec = s.base_spec()
    assert spec.effects[1] == pytest.approx(0.15) and spec.icc == pytest.approx(0.15)
    assert spec.term_names[1] == "treatment" and 1 in spec.random_columns


def test_calibration_is_a_true_null() -> None:
    s = load_scenario(ROOT / "scenarios" / "calibration.yaml")
    assert s.base_spec().effects[1] == 0.0
    assert set(s.grid["df_method"]) == {"satterthwaite", "between_within", "residual", "z"}
    assert s.grid["n_clusters"] == [8, 15, 30, 50]


def test_no_sweep_is_one_design_point(tmp_path: Path) -> None:
    text = GOOD.split("sweep:")[0]
    s = load_scenario(write(tmp_path, text))
    assert s.grid == {"sample_size": [900]}
    assert s.design_grid().size == 1


def test_effect_and_cluster_size_axes(tmp_path: Path) -> None:
    text = edit("  n_clusters: [15, 30]", "  cluster_size: [10, 30]\n  effect_treatment: [0, 0.2]")
    s = load_scenario(write(tmp_path, text))
    grid = s.design_grid()
    assert grid.names == ("cluster_size", "effect_treatment", "sample_size")
    assert grid.size == 2 * 2 * 3
    bad = edit("  n_clusters: [15, 30]", "  cluster_size: [10, 400]")
    message = error_of(tmp_path, bad)
    assert ": sweep" in message and "400" in message


CRT = """\
model:
  formula: "score ~ treatment + x + (1|school)"
  family: lme
  effects: {treatment: 0.3}
  variable_types: {treatment: "binary(0.5, balanced)"}
  correlations: "corr(x,treatment)=0"
  cluster:
    grouping: school
    icc: 0.15
    n_clusters: 20
    cluster_level_vars: [treatment]
    cluster_size_cv: 0.4
simulations: 50
seed: 3
sample_size: 600
sweep:
  cluster_size_cv: [0, 0.5]
"""


def test_cluster_randomised_trial_with_unequal_sizes(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, CRT))
    spec = s.base_spec()
    assert spec.cluster_level_vars == ("treatment",) and spec.cluster_size_cv == 0.4
    assert spec.predictors[0].allocation == "balanced"
    assert load_scenario(write(tmp_path, CRT.replace(
        "  correlations: \"corr(x,treatment)=0\"", "  correlations:\n    corr(x,z): 0.3").replace(
        "treatment + x +", "treatment + x + z +"))).base_spec().correlations == (("x", "z", 0.3),)
    grid = s.design_grid()
    assert grid.names == ("cluster_size_cv",) and grid.size == 2
    sizes = load_scenario(write(tmp_path, CRT.replace(
        "    n_clusters: 20\n", "    cluster_sizes: [20, 40, 30, 30]\n").replace(
        "    cluster_size_cv: 0.4\n", "").replace("  cluster_size_cv: [0, 0.5]",
                                                "  icc: [0.1, 0.2]").replace(
        "sample_size: 600", "sample_size: 120")))
    assert sizes.base_spec().cluster_sizes().tolist() == [20, 40, 30, 30]


@pytest.mark.parametrize("old, new, path, value", [
    ("  family: lme", "  family: ols", "model.family", "ols"),
    ("  family: lme", "  family: logit", "model.baseline_probability", "baseline"),
    ("    cluster_size_cv: 0.4", "    cluster_size_cv: 3", "model.cluster.cluster_size_cv",
     "3"),
    ("    cluster_level_vars: [treatment]", "    cluster_level_vars: [w]",
     "model.cluster.cluster_level_vars", "w"),
    ("    n_clusters: 20", "    cluster_sizes: [20, 40]", "model.cluster.cluster_sizes",
     "[20, 40]"),
    ("corr(x,treatment)=0", "corr(x,treatment)=0.2", "model.correlations", "treatment"),
])
def test_design_keys_errors_name_the_key(tmp_path: Path, old: str, new: str, path: str,
                                         value: str) -> None:
    assert old in CRT
    message = error_of(tmp_path, CRT.replace(old, new))
    assert path in message and value in message


def test_slope_variance_per_slope(tmp_path: Path) -> None:
    text = edit("    slope_variance: 0.1", "    slope_variance: {treatment: 0.2}")
    text = text.split("sweep:")[0]
    spec = load_scenario(write(tmp_path, text)).base_spec()
    assert spec.slope_variances == (0.2,) and spec.re_cov()[1, 1] == pytest.approx(0.2)
    bad = edit("    slope_variance: 0.1", "    slope_variance: {treatment: -1}")
    assert "model.cluster.slope_variance.treatment" in error_of(tmp_path, bad)
