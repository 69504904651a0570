"""A catalogue of bad inputs: each is refused where it enters, naming the parameter and value.

Three doors: the Python API (``MCPower`` setters, ``find_power`` /
``find_sample_size``, ``fit_lmm``, ``sweep`` grids and options), scenario YAML, and the
command line.  Every case asserts the exception type and that the message names the
parameter (or key path) and the offending value; absurd sizes are refused before any
memory is allocated for them.  Through the CLI every case is one ``error:`` line on
stderr, a non-zero exit, no traceback, and no store left behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from mcpower_sweep import MCPower, fit_lmm
from mcpower_sweep.cli import main
from mcpower_sweep.design.formula import FormulaError
from mcpower_sweep.scenario import ScenarioError, parse_scenario
from mcpower_sweep.sweeps.run import sweep


def model() -> MCPower:
    return (
        MCPower("y ~ x + z + (1 + x|g)")
        .set_cluster("g", ICC=0.1, n_clusters=8, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.3")
        .set_simulations(20)
        .set_seed(1)
    )


DATA = {"y": [1.0, 2.0, 0.5, 3.0, 2.5, 1.5], "x": [0.1, 0.4, 0.2, 0.9, 0.3, 0.5],
        "g": ["a", "a", "a", "b", "b", "b"]}


def data(**change: Any) -> dict[str, Any]:
    return {**DATA, **change}


def no_sweep(*args: Any, **kwargs: Any) -> Any:
    """``sweep`` that must refuse its input before starting any cluster or simulation."""
    return sweep(*args, cluster="tcp://127.0.0.1:9", progress=False, **kwargs)


# (id, call, exception type, words the message must contain: the parameter and the value)
API_CASES: list[tuple[str, Callable[[], Any], type[BaseException], list[str]]] = [
    # --- MCPower(formula)
    ("formula not a string", lambda: MCPower(5), TypeError, ["formula=5"]),
    ("formula unclosed random part", lambda: MCPower("y ~ x + (1|g"), FormulaError,
     ["y ~ x + (1|g", "')'"]),
    ("formula double bar", lambda: MCPower("y ~ x + (1 + x||g)"), FormulaError,
     ["'||'", "y ~ x + (1 + x||g)"]),
    ("formula unknown operator", lambda: MCPower("y ~ x ^ 2 + (1|g)"), FormulaError,
     ["'^'", "y ~ x ^ 2 + (1|g)"]),
    ("formula too many random effects",
     lambda: MCPower("y ~ a+b+c+d+e+f+h+i+j + (1+a+b+c+d+e+f+h+i+j|g)"), FormulaError,
     ["10 random effects", "at most 8"]),
    # --- setters
    ("simulations zero", lambda: model().set_simulations(0), ValueError, ["n_simulations=0"]),
    ("simulations absurd", lambda: model().set_simulations(10**12), ValueError,
     ["n_simulations=1000000000000", "too large"]),
    ("simulations float", lambda: model().set_simulations(2.5), ValueError,
     ["n_simulations=2.5"]),
    ("cluster unknown grouping", lambda: model().set_cluster("school", ICC=0.1, n_clusters=8),
     ValueError, ["name='school'", "'g'"]),
    ("ICC above 1", lambda: model().set_cluster("g", ICC=1.5, n_clusters=8), ValueError,
     ["ICC=1.5"]),
    ("ICC as text", lambda: model().set_cluster("g", ICC="0.1", n_clusters=8), ValueError,
     ["ICC='0.1'"]),
    ("n_clusters 1", lambda: model().set_cluster("g", ICC=0.1, n_clusters=1), ValueError,
     ["n_clusters=1"]),
    ("n_clusters absurd", lambda: model().set_cluster("g", ICC=0.1, n_clusters=10**9),
     ValueError, ["n_clusters=1000000000", "too large"]),
    ("n_clusters and cluster_size",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, cluster_size=10), ValueError,
     ["n_clusters=8", "cluster_size=10"]),
    ("negative slope variance",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, slope_variance=-0.1), ValueError,
     ["slope_variance=-0.1"]),
    ("correlation above 1",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, slope_variance=0.1,
                                 slope_intercept_corr=1.5), ValueError,
     ["slope_intercept_corr=1.5"]),
    ("random slope not in formula",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, random_slopes=["w"]), ValueError,
     ["random_slopes=['w']", "'w'"]),
    ("effect not a number", lambda: model().set_effects("x=abc"), ValueError, ["x='abc'"]),
    ("effect unknown name", lambda: model().set_effects("w=0.3"), ValueError,
     ["set_effects", "'w'"]),
    ("effect infinite", lambda: model().set_effects({"x": float("inf")}), ValueError,
     ["x=inf"]),
    ("binary p above 1", lambda: model().set_variable_type("x=binary(1.5)"), ValueError,
     ["x=binary(1.5)"]),
    ("unknown variable type", lambda: model().set_variable_type("x=poisson"), ValueError,
     ["'poisson'", "'x'"]),
    ("unknown allocation", lambda: model().set_variable_type("x=binary(0.5, blocked)"),
     ValueError, ["x=binary(0.5, blocked)", "'blocked'"]),
    # --- MCPower 1.4.1's family and designs (issue 11)
    ("family ols", lambda: MCPower("y ~ x + (1|g)", family="ols"), ValueError,
     ["family='ols'", "mixed models", "'lme'"]),
    ("cluster-level var with a random slope",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, slope_variance=0.1,
                                 cluster_level_vars=["x"]),
     ValueError, ["cluster_level_vars=['x']", "'x'", "random slope"]),
    ("cluster-level var not a predictor",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, slope_variance=0.1,
                                 cluster_level_vars=["w"]),
     ValueError, ["cluster_level_vars=['w']", "'w'"]),
    ("balanced level-1 p.n_j not reachable",
     lambda: model().set_variable_type("z=binary(0.04, balanced)").find_power(80),
     ValueError, ["z=binary(0.04, balanced)", "round(0.04 x 10) = 0"]),
    ("balanced clusters p.J not reachable",
     lambda: model().set_variable_type("z=binary(0.9, balanced)")
     .set_cluster("g", ICC=0.1, n_clusters=4, slope_variance=0.1, cluster_level_vars=["z"])
     .find_power(80),
     ValueError, ["z=binary(0.9, balanced)", "4 of 4 clusters"]),
    ("cluster sizes do not add up",
     lambda: model().set_cluster("g", ICC=0.1, cluster_sizes=[10, 20, 30], slope_variance=0.1)
     .find_power(80),
     ValueError, ["cluster_sizes=[10, 20, 30]", "add up to 60", "sample_size=80"]),
    ("cluster sizes below 5",
     lambda: model().set_cluster("g", ICC=0.1, cluster_sizes=[10, 3], slope_variance=0.1),
     ValueError, ["cluster_sizes=[10, 3]", "3"]),
    ("cluster sizes and n_clusters",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=2, cluster_sizes=[10, 30]),
     ValueError, ["n_clusters=2", "cluster_sizes=[10, 30]"]),
    ("cluster_size_cv negative",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, cluster_size_cv=-0.2),
     ValueError, ["cluster_size_cv=-0.2"]),
    ("correlations not positive definite",
     lambda: MCPower("y ~ a + b + c + (1|g)").set_correlations(
         "corr(a,b)=0.9, corr(a,c)=0.9, corr(b,c)=-0.9"),
     ValueError, ["corr(a,b)=0.9", "not positive definite"]),
    ("correlation of a binary predictor",
     lambda: model().set_variable_type("z=binary").set_correlations("corr(x,z)=0.3")
     .find_power(80),
     ValueError, ["corr(x,z)=0.3", "'z'", "normal"]),
    ("correlation out of range", lambda: model().set_correlations("corr(x,z)=1.2"),
     ValueError, ["corr(x,z)='1.2'"]),
    ("correlation of an unknown predictor", lambda: model().set_correlations("corr(x,w)=0.2"),
     ValueError, ["corr(x,w)", "'w'"]),
    ("slope_variance mapping leaves a slope out",
     lambda: MCPower("y ~ x + z + (1 + x + z|g)").set_cluster(
         "g", ICC=0.1, n_clusters=8, slope_variance={"x": 0.1}),
     ValueError, ["slope_variance={'x': 0.1}", "z"]),
    ("slope_variance mapping negative",
     lambda: model().set_cluster("g", ICC=0.1, n_clusters=8, slope_variance={"x": -1}),
     ValueError, ["slope_variance['x']=-1"]),
    ("slope_intercept_corr mapping not positive semi-definite",
     lambda: MCPower("y ~ x + z + (1 + x + z|g)").set_cluster(
         "g", ICC=0.1, n_clusters=8, slope_variance=0.1,
         slope_intercept_corr={"x": 0.9, "z": 0.9}).to_spec(80),
     ValueError, ["slope_intercept_corr={'x': 0.9, 'z': 0.9}", "positive semi-definite"]),
    ("alpha zero", lambda: model().set_alpha(0), ValueError, ["alpha=0"]),
    ("power 150", lambda: model().set_power(150), ValueError, ["power=150"]),
    ("negative seed", lambda: model().set_seed(-1), ValueError, ["seed=-1"]),
    ("max_failed 2", lambda: model().set_max_failed_simulations(2), ValueError,
     ["max_failed=2"]),
    ("n_cores absurd", lambda: model().set_parallel(True, n_cores=10**6), ValueError,
     ["n_cores=1000000"]),
    ("parallel not a bool", lambda: model().set_parallel("yes"), ValueError, ["enable='yes'"]),
    # --- find_power / find_sample_size
    ("sample_size zero", lambda: model().find_power(0), ValueError, ["sample_size=0"]),
    ("sample_size absurd", lambda: model().find_power(10**12), ValueError,
     ["sample_size=1000000000000", "too large"]),
    ("sample_size not whole", lambda: model().find_power(1500.5), ValueError,
     ["sample_size=1500.5", "whole number"]),
    ("sample_size below 5 per cluster", lambda: model().find_power(30), ValueError,
     ["sample_size=30", "n_clusters=8"]),
    ("unknown target test", lambda: model().find_power(100, target_test="w"), ValueError,
     ["target_test='w'"]),
    ("unknown estimator", lambda: model().find_power(100, estimator="bayes"), ValueError,
     ["estimator='bayes'"]),
    ("unknown df method", lambda: model().find_power(100, df_method="kr"), ValueError,
     ["df_method='kr'"]),
    ("from_size above to_size", lambda: model().find_sample_size(500, 100), ValueError,
     ["from_size=500", "to_size=100"]),
    ("too many sample sizes", lambda: model().find_sample_size(100, 10**7, by=1), ValueError,
     ["by=1", "9,999,901 sample sizes"]),
    ("negative step", lambda: model().find_sample_size(100, 500, by=-5), ValueError,
     ["by=-5"]),
    ("to_size absurd", lambda: model().find_sample_size(100, 10**12), ValueError,
     ["to_size=1000000000000"]),
    # --- fit_lmm
    ("fit: missing column", lambda: fit_lmm("y ~ w + (1|g)", DATA), ValueError, ["'w'"]),
    ("fit: text response", lambda: fit_lmm("y ~ x + (1|g)", data(y=list("abcdef"))),
     ValueError, ["'y'", "not numeric"]),
    ("fit: missing value", lambda: fit_lmm("y ~ x + (1|g)", data(x=[0.1, 0.2, np.nan, 1, 2, 3])),
     ValueError, ["'x'", "row 2"]),
    ("fit: one group", lambda: fit_lmm("y ~ x + (1|g)", data(g=["a"] * 6)), ValueError,
     ["'g'", "1 level"]),
    ("fit: unknown df method", lambda: fit_lmm("y ~ x + (1|g)", DATA, df_method="kr"),
     ValueError, ["df_method='kr'"]),
    ("fit: reml not a bool", lambda: fit_lmm("y ~ x + (1|g)", DATA, reml="yes"), ValueError,
     ["reml='yes'"]),
    ("fit: data is a list", lambda: fit_lmm("y ~ x + (1|g)", [1, 2, 3]), ValueError,
     ["data of type list"]),
    ("fit: 2-d column", lambda: fit_lmm("y ~ x + (1|g)", data(y=np.ones((6, 2)))), ValueError,
     ["'y'", "(6, 2)"]),
    ("fit: missing group label",
     lambda: fit_lmm("y ~ x + (1|g)", data(g=["a", None, "a", "b", "b", "b"])), ValueError,
     ["'g'", "row 1"]),
    ("fit: too few rows", lambda: fit_lmm("y ~ x + (1|g)", {k: v[:2] for k, v in DATA.items()}),
     ValueError, ["2 rows", "2 fixed effects"]),
    ("fit: collinear terms",
     lambda: fit_lmm("y ~ x + z + (1|g)", data(z=[2 * v for v in DATA["x"]])), ValueError,
     ["'z'", "linear combination"]),
    ("fit: no random part", lambda: fit_lmm("y ~ x", DATA), ValueError,
     ["'y ~ x'", "no random part"]),
    # --- sweep grids and options (refused before any cluster is contacted)
    ("grid: unknown axis", lambda: no_sweep(model(), {"sample_size": [100], "nclusters": [8]}),
     ValueError, ["'nclusters'", "'n_clusters'"]),
    ("grid: empty axis", lambda: no_sweep(model(), {"sample_size": [100], "icc": []}),
     ValueError, ["'icc'", "empty"]),
    ("grid: empty sample sizes", lambda: no_sweep(model(), {"sample_size": []}), ValueError,
     ["'sample_size'", "empty"]),
    ("grid: duplicate value", lambda: no_sweep(model(), {"sample_size": [100, 100]}),
     ValueError, ["'sample_size'", "100", "more than once"]),
    ("grid: text instead of a list", lambda: no_sweep(model(), {"sample_size": "100"}),
     ValueError, ["'sample_size'", "'100'"]),
    ("grid: float cluster count",
     lambda: no_sweep(model(), {"sample_size": [100], "n_clusters": [2.5]}), ValueError,
     ["'n_clusters'", "2.5"]),
    ("grid: unknown df method",
     lambda: no_sweep(model(), {"sample_size": [100], "df_method": ["kr"]}), ValueError,
     ["df_method='kr'"]),
    ("grid: both size axes",
     lambda: no_sweep(model(), {"sample_size": [100], "n_clusters": [8],
                                "cluster_size": [10]}), ValueError,
     ["'n_clusters'", "'cluster_size'"]),
    ("grid: absurd sample size", lambda: no_sweep(model(), {"sample_size": [10**12]}),
     ValueError, ["sample_size=1000000000000"]),
    ("grid: a list, not a mapping",
     lambda: no_sweep(model().to_spec(100), [("sample_size", [100])], simulations=10),
     ValueError, ["mapping", "list"]),
    ("grid: too many points",
     lambda: no_sweep(model(), {"sample_size": list(range(100, 2100)),
                                "icc": [i / 1000 for i in range(1000)]}), ValueError,
     ["2,000,000 design points"]),
    ("sweep: absurd simulations",
     lambda: no_sweep(model(), {"sample_size": [100]}, simulations=10**12, chunk_size=10),
     ValueError, ["simulations=1000000000000"]),
    ("sweep: chunk_size 0", lambda: no_sweep(model(), {"sample_size": [100]}, chunk_size=0),
     ValueError, ["chunk_size=0"]),
    ("sweep: seed too large", lambda: no_sweep(model(), {"sample_size": [100]}, seed=2**64),
     ValueError, [f"seed={2**64}"]),
    ("sweep: resume and overwrite",
     lambda: no_sweep(model(), {"sample_size": [100]}, resume=True, overwrite=True),
     ValueError, ["resume=True", "overwrite=True"]),
]


def cases(table: list[tuple[Any, ...]]) -> list[Any]:
    return [pytest.param(*c[1:], id=c[0]) for c in table]


@pytest.mark.parametrize(("call", "exc", "words"), cases(API_CASES))
def test_api_refuses(call: Callable[[], Any], exc: type[BaseException], words: list[str]) -> None:
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_catalogue_is_large_and_distinct() -> None:
    ids = [c[0] for c in API_CASES] + [c[0] for c in SCENARIO_CASES] + [c[0] for c in CLI_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30


def test_out_is_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(FileExistsError, match=re.escape(str(target))):
        no_sweep(model(), {"sample_size": [100]}, out=target)
    assert target.read_text() == "keep me"


# ------------------------------------------------------------------- scenario YAML
GOOD = """\
model:
  formula: "score ~ treatment + (1 + treatment|cluster)"
  effects: {treatment: 0.3}
  variable_types: {treatment: binary}
  cluster: {grouping: cluster, icc: 0.15, n_clusters: 10, random_slopes: [treatment],
            slope_variance: 0.05}
simulations: 20
seed: 7
sweep:
  slope_variance: [0, 0.1]
  sample_size: [100, 200]
"""


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


# (id, YAML text, words the message must contain: file, key path, value)
SCENARIO_CASES: list[tuple[str, str, list[str]]] = [
    ("yaml: unknown top key", edit("simulations: 20", "simulation: 20"),
     ["simulation", "did you mean 'simulations'"]),
    ("yaml: simulations text", edit("simulations: 20", "simulations: many"),
     ["simulations", "'many'"]),
    ("yaml: simulations zero", edit("simulations: 20", "simulations: 0"),
     ["simulations", "simulations=0", "whole number >= 1"]),
    ("yaml: simulations absurd", edit("simulations: 20", "simulations: 1000000000000"),
     ["simulations", "1000000000000"]),
    ("yaml: negative seed", edit("seed: 7", "seed: -3"), ["seed", "-3"]),
    ("yaml: alpha above 1", edit("seed: 7", "seed: 7\nalpha: 1.5"), ["alpha", "1.5"]),
    ("yaml: malformed formula",
     edit('"score ~ treatment + (1 + treatment|cluster)"', '"score ~ treatment + (1|"'),
     ["model.formula", "score ~ treatment + (1|"]),
    ("yaml: icc 2", edit("icc: 0.15", "icc: 2"), ["model.cluster.icc", "icc=2"]),
    ("yaml: ICC 2 (the tutorial's spelling)", edit("icc: 0.15", "ICC: 2"),
     ["model.cluster.ICC", "ICC=2"]),
    ("yaml: unknown effect", edit("effects: {treatment: 0.3}", "effects: {dose: 0.3}"),
     ["model.effects", "'dose'"]),
    ("yaml: effect text", edit("effects: {treatment: 0.3}", "effects: {treatment: big}"),
     ["model.effects.treatment", "'big'"]),
    ("yaml: unknown variable type", edit("{treatment: binary}", "{treatment: poisson}"),
     ["model.variable_types.treatment", "'poisson'"]),
    ("yaml: empty sweep", edit("  slope_variance: [0, 0.1]\n  sample_size: [100, 200]\n",
                               "  {}\n"), ["sweep", "non-empty"]),
    ("yaml: empty axis", edit("slope_variance: [0, 0.1]", "slope_variance: []"),
     ["sweep.slope_variance", "non-empty"]),
    ("yaml: duplicate axis value", edit("sample_size: [100, 200]", "sample_size: [100, 100]"),
     ["sweep.sample_size[1]", "100", "duplicate"]),
    ("yaml: absurd sample size", edit("sample_size: [100, 200]", "sample_size: [1000000000000]"),
     ["sweep.sample_size[0]", "1000000000000"]),
    ("yaml: unknown axis", edit("slope_variance: [0, 0.1]", "nclusters: [10]"),
     ["sweep.nclusters", "did you mean 'n_clusters'"]),
    ("yaml: unknown df method axis", edit("slope_variance: [0, 0.1]", "df_method: [kr]"),
     ["sweep.df_method[0]", "'kr'"]),
    ("yaml: range with too many values",
     edit("sample_size: [100, 200]", "sample_size: {from: 100, to: 1000000000, by: 1}"),
     ["sweep.sample_size", "at most 10000"]),
    ("yaml: grid too large",
     edit("slope_variance: [0, 0.1]",
          "slope_variance: {from: 0, to: 0.999, by: 0.001}\n"
          "  icc: {from: 0, to: 0.999, by: 0.001}\n"
          "  effect_treatment: {from: 0, to: 0.999, by: 0.001}"),
     ["design points", "at most 1,000,000"]),
    ("yaml: syntax error", edit("seed: 7", "seed: [7"), ["not valid YAML", "line"]),
    ("yaml: no model", "simulations: 20\nsample_size: 100\n", ["model", "required"]),
    ("yaml: one cluster on an axis", edit("slope_variance: [0, 0.1]", "n_clusters: [1, 10]"),
     ["sweep.n_clusters[0]", "1"]),
    ("yaml: effect axis of an unknown term",
     edit("slope_variance: [0, 0.1]", "effect_dose: [0.1, 0.2]"),
     ["sweep.effect_dose", "'dose'"]),
    ("yaml: random slope not in formula",
     edit("random_slopes: [treatment]", "random_slopes: [age]"),
     ["model.cluster.random_slopes", "'age'"]),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in SCENARIO_CASES],
                         ids=[c[0] for c in SCENARIO_CASES])
def test_scenario_refuses(text: str, words: list[str]) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml"), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def assert_one_line_error(code: int, stderr: str, words: list[str]) -> None:
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in SCENARIO_CASES],
                         ids=[c[0] for c in SCENARIO_CASES])
def test_cli_run_refuses_bad_scenario(text: str, words: list[str], tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    out = tmp_path / "never.zarr"
    result = CliRunner().invoke(main, ["run", str(tmp_path / "bad.yaml"), "--out", str(out),
                                       "--cluster", "tcp://127.0.0.1:9", "--no-progress"])
    assert_one_line_error(result.exit_code, result.stderr, ["bad.yaml", *words])
    assert not out.exists()


# ------------------------------------------------------------------------ CLI flags
# (id, arguments ({tiny}, {store}, {tmp} are filled in), words of the one error line)
CLI_CASES: list[tuple[str, list[str], list[str]]] = [
    ("cli: workers 0", ["run", "{tiny}", "--workers", "0"], ["--workers", "0"]),
    ("cli: chunk size 0", ["run", "{tiny}", "--chunk-size", "0"], ["--chunk-size", "0"]),
    ("cli: simulations text", ["run", "{tiny}", "--simulations", "abc"],
     ["--simulations", "'abc'"]),
    ("cli: out is a file", ["run", "{tiny}", "--out", "{tmp}/file.txt"],
     ["--out", "file.txt"]),
    ("cli: scenario is a directory", ["run", "{tmp}"], ["SCENARIO", "directory"]),
    ("cli: missing scenario", ["run", "{tmp}/nowhere.yaml"], ["nowhere.yaml", "no such"]),
    ("cli: info on a plain directory", ["info", "{tmp}"], ["not a results store"]),
    ("cli: table target above 1", ["table", "{tmp}/s.zarr", "--target", "1.5"],
     ["--target", "1.5"]),
    ("cli: unknown subcommand", ["frobnicate"], ["frobnicate"]),
    ("cli: resume and overwrite", ["run", "{tiny}", "--resume", "--overwrite"],
     ["--resume", "--overwrite"]),
    ("cli: cluster option without value", ["run", "{tiny}", "--cluster-option", "walltime"],
     ["walltime", "key=value"]),
]


@pytest.mark.parametrize(("args", "words"), cases(CLI_CASES))
def test_cli_flags_refused(args: list[str], words: list[str], tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(GOOD)
    (tmp_path / "file.txt").write_text("keep me")
    filled = [a.format(tiny=tmp_path / "tiny.yaml", tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, filled)
    assert_one_line_error(result.exit_code, result.stderr, words)
    assert (tmp_path / "file.txt").read_text() == "keep me"
    assert not list(tmp_path.glob("*.zarr")) and not Path("results/tiny.zarr").exists()
