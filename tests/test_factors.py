"""Factor predictors: MCPower 1.4.1's spellings, dummy columns and their names, generation
(per row and per cluster, independent and balanced), the joint F test of a factor in
simulations and in ``fit_lmm`` (against lmerTest's ``anova`` on the L3 fixtures), and its
calibration under a true null (slow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import MCPower, _native, engine, fit_lmm
from mcpower_sweep.design.formula import FormulaError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "fixtures2"  # copies of ../shared/fixtures2
REFERENCE = ROOT / "tests" / "data" / "joint_tests.json"


def factor_model(kind: str = "(factor,0.5,0.3,0.2)", cluster_level: bool = False,
                 n_clusters: int = 20) -> MCPower:
    return (MCPower("y ~ group + x + (1|cluster)", family="lme")
            .set_variable_type(f"group={kind}")
            .set_cluster("cluster", ICC=0.2, n_clusters=n_clusters,
                         cluster_level_vars=["group"] if cluster_level else None)
            .set_seed(3))


# ------------------------------------------------------------------ spellings and names
@pytest.mark.parametrize(("kind", "proportions", "allocation"), [
    ("factor", (1 / 3,) * 3, "independent"),
    ("factor(4)", (0.25,) * 4, "independent"),
    ("(factor,3)", (1 / 3,) * 3, "independent"),
    ("(factor,0.5,0.3,0.2)", (0.5, 0.3, 0.2), "independent"),
    ("factor(0.5, 0.3, 0.2)", (0.5, 0.3, 0.2), "independent"),
    ("factor(0.5, 0.5, balanced)", (0.5, 0.5), "balanced"),
    ("(factor,3,balanced)", (1 / 3,) * 3, "balanced"),
])
def test_factor_spellings(kind: str, proportions: tuple[float, ...], allocation: str) -> None:
    spec = factor_model(kind).to_spec(400)
    group = spec.predictors[0]
    assert group.kind == "factor" and group.allocation == allocation
    assert group.proportions == pytest.approx(proportions)


@pytest.mark.parametrize(("kind", "words"), [
    ("(factor,0.5,0.3,0.3)", ["group=(factor,0.5,0.3,0.3)", "0.5, 0.3, 0.3", "add up to 1.1"]),
    ("(factor,0.6,0.6,-0.2)", ["group=(factor,0.6,0.6,-0.2)", "positive", "-0.2"]),
    ("factor(1)", ["group=factor(1)", "1 level", "2 to 20"]),
    ("factor(21)", ["group=factor(21)", "21 level", "2 to 20"]),
    ("factor(2.5)", ["group=factor(2.5)", "whole number"]),
    ("factor(a, b)", ["group=factor(a, b)", "factor(k)"]),
])
def test_bad_factors_are_refused_by_name_and_value(kind: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        MCPower("y ~ group + x + (1|cluster)").set_variable_type(f"group={kind}")
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_tests_are_named_per_level_then_the_factor() -> None:
    model = factor_model()
    assert model.tests == ("group[2]", "group[3]", "x", "group")
    assert model.effects == {"group[2]": 0.0, "group[3]": 0.0, "x": 0.0}
    two = MCPower("y ~ group + (1|g)").set_variable_type("group=factor(2)")
    assert two.tests == ("group[2]",)  # one dummy: its t test is the factor's test


def test_effects_may_come_before_the_type() -> None:
    model = MCPower("y ~ group + x + (1|cluster)").set_effects("group[2]=0.3, group[3]=0.5")
    model.set_variable_type("group=factor(3)").set_cluster("cluster", ICC=0.1, n_clusters=10)
    assert model.to_spec(200).effects == (0.0, 0.3, 0.5, 0.0)
    late = MCPower("y ~ group + (1|g)").set_effects("group[4]=0.3")
    late.set_variable_type("group=factor(3)").set_cluster("g", ICC=0.1, n_clusters=10)
    with pytest.raises(ValueError, match=r"'group\[4\]' is not a fixed effect.*group\[2\]"):
        late.to_spec(200)


def test_interactions_expand_per_level() -> None:
    model = (MCPower("y ~ group*x + (1|cluster)").set_variable_type("group=factor(3)")
             .set_effects("group[3]:x=0.4"))
    assert model.tests == ("group[2]", "group[3]", "x", "group[2]:x", "group[3]:x", "group",
                           "group:x")
    assert model.effects["group[3]:x"] == 0.4


def test_a_random_slope_of_a_factor_is_refused() -> None:
    with pytest.raises(FormulaError, match="random slope of the factor term 'group'"):
        MCPower("y ~ group + (1 + group|g)").set_variable_type("group=factor(3)")


def test_a_balanced_factor_needs_every_level_in_every_unit() -> None:
    model = factor_model("factor(0.8, 0.1, 0.1, balanced)", cluster_level=True, n_clusters=4)
    with pytest.raises(ValueError, match=r"group=factor\(0.8, 0.1, 0.1, balanced\) gives "
                                         r"4, 0, 0 of 4 clusters"):
        model.to_spec(200)
    factor_model("factor(0.8, 0.1, 0.1, balanced)", cluster_level=True, n_clusters=8
                 ).to_spec(400)  # 6, 1, 1 of 8: fine


# ------------------------------------------------------------------------ generation
def column_sums(model: MCPower, n: int, index: int, row_level: bool = False) -> np.ndarray:
    es = engine.native_spec(model.to_spec(n), row_level=row_level)
    return _native.cross_products(es, 5, index)["colsum"]  # cluster x (1, X..., y)


@pytest.mark.parametrize("row_level", [False, True])
def test_balanced_level1_factor_has_exact_counts(row_level: bool) -> None:
    model = factor_model("factor(0.5, 0.3, 0.2, balanced)")
    cs = column_sums(model, 400, 0, row_level)
    assert np.array_equal(cs[:, 1], np.full(20, 6.0)) and np.array_equal(cs[:, 2], np.full(20, 4.0))


def test_cluster_level_factor_is_constant_within_clusters() -> None:
    model = factor_model("factor(0.5, 0.3, 0.2, balanced)", cluster_level=True)
    cs = column_sums(model, 400, 1, row_level=True)
    levels = cs[:, 1:3] / 20.0
    assert set(np.unique(levels)) == {0.0, 1.0}  # each cluster all in one level
    assert levels.sum(axis=0).tolist() == [6.0, 4.0]  # round(0.3 x 20), round(0.2 x 20)


@pytest.mark.parametrize("row_level", [False, True])
def test_independent_factor_draws_its_proportions(row_level: bool) -> None:
    model = factor_model()
    shares = np.array([column_sums(model, 400, i, row_level)[:, 1:3].sum(axis=0) / 400
                       for i in range(300)])
    se = np.sqrt(np.array([0.3 * 0.7, 0.2 * 0.8]) / 400 / 300)
    assert np.all(np.abs(shares.mean(axis=0) - [0.3, 0.2]) < 4 * se)


def test_factor_designs_take_the_cells_path() -> None:
    """The common case (main effects, level 1 or cluster level) never builds rows: its
    cross-products differ from the row path's for the same seed."""
    for model in (factor_model(), factor_model(cluster_level=True)):
        assert not np.array_equal(column_sums(model, 400, 0), column_sums(model, 400, 0, True))


CELL_DESIGNS = {
    "factor(3) and a binary": (
        MCPower("y ~ group + t + x + (1|g)")
        .set_variable_type("group=factor(0.5, 0.3, 0.2), t=binary(0.4)")
        .set_cluster("g", ICC=0.2, n_clusters=6)
        .set_effects("group[2]=0.4, group[3]=-0.3, t=0.2, x=0.3")),
    "balanced factor(4)": (
        MCPower("y ~ group + x + (1 + x|g)").set_variable_type("group=factor(4, balanced)")
        .set_cluster("g", ICC=0.2, n_clusters=6, slope_variance=0.1)
        .set_effects("group[2]=0.4, group[4]=-0.3, x=0.3")),
}


@pytest.mark.parametrize("name", list(CELL_DESIGNS))
def test_cells_path_matches_row_generation_in_distribution(name: str) -> None:
    """Per-cluster cross-products of the cells path have the mean and variance of those of
    generated rows (within 4.5 MC SEs), as for the binary designs (test_designs.py)."""
    spec = CELL_DESIGNS[name].to_spec(6 * 16 + 2)
    n = 2000

    def draws(row_level: bool) -> np.ndarray:
        es = engine.native_spec(spec, row_level=row_level)
        return np.array([np.concatenate([(d := _native.cross_products(es, 3, i))["cross"].reshape(
            len(d["rows"]), -1), d["colsum"]], axis=1) for i in range(n)])

    a, b = draws(False), draws(True)
    for stat in (lambda x: x, lambda x: x**2):
        sa, sb = stat(a), stat(b)
        se = np.sqrt((sa.var(axis=0) + sb.var(axis=0)) / n)
        diff = np.abs(sa.mean(axis=0) - sb.mean(axis=0))
        assert np.all(diff[se == 0] < 1e-9)
        z = diff[se > 0] / se[se > 0]
        assert z.max() < 4.5, (name, z.max())
    assert not np.array_equal(a, b)


# --------------------------------------------------------------- joint test: fit_lmm
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger"])
def test_fit_lmm_anova_matches_lmertest(k: int, df_method: str) -> None:
    """lmerTest's anova() F, numDF, denDF and p on the L3 fixtures (tests/data/
    make_joint_tests.R): F and denDF within 1e-6 relative."""
    ref = json.loads(REFERENCE.read_text())[f"L3_{k}"]
    fit = fit_lmm("y ~ group + x + (1 | cluster)", pd.read_csv(FIXTURES / f"L3_{k}.csv"),
                  df_method=df_method)
    assert list(fit.anova) == ["group", "x"]
    for term, want in ref[f"anova_{df_method}"].items():
        got = fit.anova[term]
        assert got["num_df"] == want["num_df"]
        assert got["F"] == pytest.approx(want["F"], rel=1e-6)
        assert got["den_df"] == pytest.approx(want["den_df"], rel=1e-6)
        assert got["pvalue"] == pytest.approx(want["p"], rel=1e-5)


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger", "between_within",
                                       "residual", "z"])
def test_a_one_column_f_test_is_the_t_test(df_method: str) -> None:
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(12), 15)
    data = {"x": rng.normal(size=180), "g": g,
            "group": rng.choice(["a", "b", "c"], size=180)}
    data["y"] = 0.3 * data["x"] + rng.normal(size=12)[g] + rng.normal(size=180)
    fit = fit_lmm("y ~ group + x + (1 | g)", data, df_method=df_method)
    t = fit.coef["x"] / fit.se["x"]
    assert fit.anova["x"]["F"] == pytest.approx(t * t, rel=1e-10)
    assert fit.anova["x"]["den_df"] == pytest.approx(fit.df["x"], rel=1e-10)
    assert fit.anova["x"]["pvalue"] == pytest.approx(fit.pvalue["x"], rel=1e-8)
    assert fit.anova["group"]["num_df"] == 2


# ----------------------------------------------------------- joint test: simulations
def test_power_per_level_and_joint_goes_the_right_way() -> None:
    model = factor_model().set_simulations(300)
    null = model.find_power(400, print_results=False).power
    model.set_effects("group[2]=0.2, group[3]=0.5")
    alt = model.find_power(400, print_results=False).power
    assert alt["group[3]"] > alt["group[2]"] > null["group[2]"]
    assert alt["group"] > 0.5 > null["group"]
    assert null["group"] < 0.12 and null["group[2]"] < 0.12


@pytest.mark.parametrize("df_method", ["kenward_roger", "between_within", "z"])
def test_joint_test_runs_with_every_df_method(df_method: str) -> None:
    # balanced: every level has clusters (independent draws leave one empty in ~1% of
    # the simulations here, 0.8^20, whose fits then fail as collinear)
    model = (factor_model("factor(0.5, 0.3, 0.2, balanced)", cluster_level=True)
             .set_simulations(100).set_effects("group[3]=0.8"))
    result = model.find_power(400, df_method=df_method, print_results=False)
    assert result.n_failed == 0 and set(result.power) == set(model.tests)


def test_interaction_design_runs_and_tests_each_term() -> None:
    model = (MCPower("y ~ group*x + (1|cluster)").set_variable_type("group=factor(3)")
             .set_cluster("cluster", ICC=0.2, n_clusters=20).set_seed(1).set_simulations(200)
             .set_effects("group[3]:x=0.5"))
    power = model.find_power(400, print_results=False).power
    assert power["group:x"] > 0.5 and power["group[3]:x"] > power["group[2]:x"]


@pytest.mark.slow
def test_joint_satterthwaite_f_is_calibrated_under_the_null() -> None:
    """2000 true-null data sets, 10 clusters of 20, a 3-level factor within clusters: the
    joint Satterthwaite F test rejects within 3 Monte Carlo SEs of alpha."""
    model = factor_model(n_clusters=10).set_simulations(2000)
    result = model.find_power(200, print_results=False)
    rate = result.power["group"]
    se = math.sqrt(0.05 * 0.95 / result.n_success)
    assert abs(rate - 0.05) < 3 * se, (rate, se)


# ------------------------------------------------------ MCPower 1.4.1 scripts, as written
# Each ran unchanged with MCPower 1.4.1 (``pip install mcpower==1.4.1``); here only the
# import line is changed.
MCPOWER_SCRIPTS = {
    "factor within schools": '''
from mcpower import MCPower

model = MCPower("score ~ method + prior + (1|school)", family="lme")
model.set_effects("method[2]=0.3, method[3]=0.5, prior=0.4")
model.set_variable_type("method=(factor,0.5,0.3,0.2)")
model.set_cluster("school", ICC=0.15, n_clusters=25)
model.set_simulations(200)
model.set_seed(2024)
result = model.find_power(sample_size=500)
''',
    "cluster-level factor": '''
from mcpower import MCPower

model = MCPower("score ~ school_type + ses + (1|school)", family="lme")
model.set_variable_type("school_type=(factor,4), ses=binary")
model.set_cluster("school", ICC=0.2, n_clusters=40, cluster_level_vars=["school_type"])
model.set_effects("school_type[2]=0.4, school_type[3]=0.6, school_type[4]=0.2, ses=0.3")
model.set_simulations(200)
model.set_seed(7)
result = model.find_power(sample_size=800)
''',
}


@pytest.mark.parametrize("name", list(MCPOWER_SCRIPTS))
def test_mcpower_factor_scripts_run_with_only_the_import_changed(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    script = MCPOWER_SCRIPTS[name]
    ours = script.replace("from mcpower import MCPower", "from mcpower_sweep import MCPower")
    assert ours.count("\n") == script.count("\n") and ours != script
    scope: dict[str, object] = {}
    exec(compile(ours, name, "exec"), scope)  # noqa: S102 - our own test script
    result = scope["result"]
    factor = "method" if "method" in ours else "school_type"
    assert factor in result.power and f"{factor}[2]" in result.power  # joint and per level
    assert result.n_failed <= 0.03 * result.n_simulations
    assert f"{factor}[2]" in capsys.readouterr().out


def test_a_scenario_file_takes_factors_and_their_level_effects() -> None:
    from mcpower_sweep.scenario.load import parse_scenario

    scenario = parse_scenario('''
name: factors
model:
  formula: "y ~ group + x + (1|school)"
  variable_types: {group: "factor(0.5, 0.3, 0.2, balanced)"}
  effects: {"group[2]": 0.3, "group[3]": 0.5}
  cluster: {grouping: school, icc: 0.1, n_clusters: 20, cluster_level_vars: [group]}
simulations: 100
seed: 1
sample_size: 400
sweep:
  effect_group[3]: [0.0, 0.5]
''')
    spec = scenario.base_spec()
    assert spec.tests == ("group[2]", "group[3]", "x", "group")
    assert spec.effects == (0.0, 0.3, 0.5, 0.0) and spec.predictors[0].level == "cluster"
