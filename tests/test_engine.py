"""The native engine: its typed boundary, reproducibility, the random numbers,
unbiasedness, calibration and robustness.  Statistical tolerances are multiples of the
Monte Carlo standard error."""

from __future__ import annotations

import ast
import importlib.machinery
import math
import os
import re
import shutil
import site
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _synthetic import rows_with_cross_products

from mcpower_sweep import _native, engine, engine_fits, params
from mcpower_sweep.design import spec as design_spec
from mcpower_sweep.design.spec import DF_METHODS, Predictor, SimulationSpec

PACKAGE = Path(engine.__file__).resolve().parent
FIELDS = ("predictor_binary", "predictor_p", "terms", "beta", "z_columns", "re_cov",
          "cluster_sizes", "estimator", "df_method", "row_level")


def make_spec(
    *,
    n_clusters: int = 10,
    sample_size: int = 200,
    icc: float = 0.15,
    slope_variance: float = 0.1,
    corr: float = 0.0,
    effect: float = 0.3,
    slope: bool = True,
    binary_p: float | None = None,
    df_method: str = "satterthwaite",
    estimator: str = "reml",
    cluster_size: int | None = None,
) -> SimulationSpec:
    kind = "normal" if binary_p is None else "binary"
    spec = SimulationSpec(
        formula="y ~ x + z + (1 + x | g)" if slope else "y ~ x + z + (1 | g)",
        outcome="y",
        predictors=(Predictor("x", kind, binary_p or 0.5), Predictor("z")),
        terms=((0,), (1,)),
        term_names=("(Intercept)", "x", "z"),
        effects=(0.0, effect, 0.2),
        grouping="g",
        random_columns=(0, 1) if slope else (0,),
        icc=icc,
        slope_variance=slope_variance,
        slope_intercept_corr=corr,
        n_clusters=None if cluster_size else n_clusters,
        cluster_size=cluster_size,
        sample_size=sample_size,
        df_method=df_method,
        estimator=estimator,
    )
    spec.validate()
    return spec


def assert_same(a: engine.ChunkResult, b: engine.ChunkResult) -> None:
    for name in ("converged", "singular", "estimate", "se", "df", "pvalue"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_results_do_not_depend_on_chunking_or_threads() -> None:
    spec = make_spec()
    whole = engine.run_chunk(spec, 7, 0, 60, n_threads=1)
    threaded = engine.run_chunk(spec, 7, 0, 60, n_threads=2)
    assert_same(whole, threaded)
    parts = [engine.run_chunk(spec, 7, s, 20, n_threads=1) for s in (0, 20, 40)]
    for name in ("estimate", "pvalue", "df"):
        np.testing.assert_array_equal(
            getattr(whole, name), np.concatenate([getattr(p, name) for p in parts])
        )


def test_seed_and_index_change_the_data() -> None:
    spec = make_spec()
    a = engine.run_chunk(spec, 1, 0, 5)
    b = engine.run_chunk(spec, 2, 0, 5)
    c = engine.run_chunk(spec, 1, 5, 5)
    assert not np.array_equal(a.estimate, b.estimate)
    assert not np.array_equal(a.estimate, c.estimate)


def test_normal_generator_distribution() -> None:
    stats = pytest.importorskip("scipy.stats")
    x = np.concatenate([_native.normal_draws(99, i, 20_000) for i in range(10)])
    n = x.size
    assert abs(x.mean()) < 4 / math.sqrt(n)
    assert abs(x.var() - 1) < 4 * math.sqrt(2 / n)
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # tails: P(|x| > 3.6541...) drawn from the ziggurat's tail branch
    tail = np.mean(np.abs(x) > 3.6541528853610088)
    expected = 2 * stats.norm.sf(3.6541528853610088)
    assert abs(tail - expected) < 5 * math.sqrt(expected / n)


def test_estimates_are_unbiased_and_se_calibrated() -> None:
    spec = make_spec(n_clusters=20, sample_size=600, effect=0.3, corr=0.3)
    r = engine.run_chunk(spec, 11, 0, 2000, n_threads=2)
    ok = r.converged
    assert ok.mean() > 0.99
    est = r.estimate[ok]
    n = est.shape[0]
    for col, truth in ((1, 0.3), (2, 0.2)):
        sd = est[:, col].std()
        assert abs(est[:, col].mean() - truth) < 4 * sd / math.sqrt(n)
        # average model SE agrees with the spread of the estimates (within ~10%)
        assert r.se[ok][:, col].mean() == pytest.approx(sd, rel=0.1)


def test_binary_predictor_proportion() -> None:
    spec = make_spec(binary_p=0.3, slope=False, slope_variance=0.0, n_clusters=20, sample_size=400)
    r = engine.run_chunk(spec, 5, 0, 200)
    assert r.converged.all()
    # the intercept estimates the mean outcome at x = 0: no bias either
    assert abs(r.estimate[:, 1].mean() - 0.3) < 4 * r.estimate[:, 1].std() / math.sqrt(200)


def test_counts() -> None:
    spec = make_spec()
    r = engine.run_chunk(spec, 3, 0, 50)
    c = engine.count_chunk(r, 0.05)
    assert c.n_sims == 50
    assert c.n_success == int(r.converged.sum())
    expected = ((r.pvalue[:, 1:] < 0.05) & r.converged[:, None]).sum(axis=0)
    np.testing.assert_array_equal(c.n_significant, expected)


def fields(es: _native.EngineSpec) -> dict[str, object]:
    return {name: getattr(es, name) for name in FIELDS}


def test_engine_spec_is_checked_when_built() -> None:
    kw = fields(engine.native_spec(make_spec()))
    with pytest.raises(ValueError, match="beta has 1 entries"):
        _native.EngineSpec(**{**kw, "beta": [0.0]})
    with pytest.raises(ValueError, match="z_columns entry 7"):
        _native.EngineSpec(**{**kw, "z_columns": [0, 7]})
    with pytest.raises(ValueError, match="df_method = 7 is not a DfMethod"):
        _native.EngineSpec(**{**kw, "df_method": _native.DfMethod(7)})
    with pytest.raises(ValueError, match="estimator = 2 is not an Estimator"):
        _native.EngineSpec(**{**kw, "estimator": _native.Estimator(2)})
    with pytest.raises(ValueError, match="kenward_roger needs the REML estimator"):
        _native.EngineSpec(**{**kw, "estimator": _native.Estimator.ml,
                              "df_method": _native.DfMethod.kenward_roger})
    with pytest.raises(TypeError):  # every field is named: none can be forgotten
        _native.EngineSpec()
    with pytest.raises(TypeError):  # a list position is not a DfMethod
        _native.EngineSpec(**{**kw, "df_method": 0})
    with pytest.raises(TypeError):  # keywords only
        _native.EngineSpec(*kw.values())


def test_engine_spec_is_read_only_and_cached() -> None:
    spec = make_spec()
    es = engine.native_spec(spec)
    for name in FIELDS:
        with pytest.raises(AttributeError):
            setattr(es, name, getattr(es, name))
    assert engine.native_spec(spec) is es
    assert engine.native_spec(spec, row_level=True).row_level
    assert es.estimator == _native.Estimator.reml
    assert es.df_method == _native.DfMethod.satterthwaite


def test_enums_are_the_parameter_choices() -> None:
    """The spec's strings map to the engine's enums by name: the two lists are the same."""
    assert tuple(_native.DfMethod.__members__) == params.DF_METHODS
    assert tuple(_native.Estimator.__members__) == params.ESTIMATORS


def test_limits_come_from_the_engine() -> None:
    assert design_spec.MAX_FIXED_EFFECTS == engine.MAX_FIXED_EFFECTS == _native.MAX_FIXED_EFFECTS
    assert design_spec.MAX_RANDOM_EFFECTS == engine.MAX_RANDOM_EFFECTS == _native.MAX_RANDOM_EFFECTS
    kw = fields(engine.native_spec(make_spec(slope=False)))
    p = _native.MAX_FIXED_EFFECTS
    _native.EngineSpec(**{**kw, "terms": [[0]] * (p - 1), "beta": [0.0] * p})
    with pytest.raises(ValueError, match=f"fixed effects = {p + 1} is not in \\[1, {p}\\]"):
        _native.EngineSpec(**{**kw, "terms": [[0]] * p, "beta": [0.0] * (p + 1)})
    q = _native.MAX_RANDOM_EFFECTS
    many = {**kw, "terms": [[0]] * q, "beta": [0.0] * (q + 1)}
    _native.EngineSpec(**{**many, "z_columns": list(range(q)), "re_cov": [*np.eye(q).flat]})
    with pytest.raises(ValueError, match=f"random effects = {q + 1} is not in \\[1, {q}\\]"):
        _native.EngineSpec(**{**many, "z_columns": list(range(q + 1)),
                              "re_cov": [*np.eye(q + 1).flat]})


def test_stub_describes_the_module() -> None:
    """``_native.pyi`` lists exactly the compiled module's public names and members."""
    tree = ast.parse((PACKAGE / "_native.pyi").read_text())

    def names(body: list[ast.stmt]) -> set[str]:
        out = {n.name for n in body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        out |= {n.target.id for n in body if isinstance(n, ast.AnnAssign)
                and isinstance(n.target, ast.Name)}
        return {n for n in out if not n.startswith("_")}

    def public(obj: object) -> set[str]:
        return {n for n in dir(obj) if not n.startswith("_")}

    assert names(tree.body) == public(_native)
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        assert names(cls.body) == public(getattr(_native, cls.name)), cls.name
    assert (PACKAGE / "py.typed").exists()


def test_only_the_engine_module_imports_native() -> None:
    """One import (native_import.py, with the message below, for engine.py); everything
    else goes through ``engine``."""
    pattern = re.compile(r"^\s*(from \.+ import _native|(from|import) mcpower_sweep\._native"
                         r"|from mcpower_sweep import .*\b_native\b)", re.M)
    importers = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                       if pattern.search(p.read_text()))
    assert importers == ["native_import.py"]
    users = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                   if "load_native" in p.read_text())
    assert users == ["engine.py", "native_import.py"]


def test_source_folder_without_engine_fails_clearly(tmp_path: Path) -> None:
    """Trap 3 of issue 10: Python takes the package from a source folder (the working
    directory or PYTHONPATH first) where the compiled engine was never built.  The error
    says what happened and what to do instead of ``cannot import name '_native'``.

    ``python -S`` with the site directories on PYTHONPATH keeps the installed package
    reachable but skips the ``.pth`` files, as a regular (non-editable) install has none.
    """
    extension = tuple(f"_native*{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES)
    copy = tmp_path / "mcpower_sweep"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", *extension))
    path = [str(tmp_path), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    run = subprocess.run([sys.executable, "-S", "-c", "import mcpower_sweep.engine"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: mcpower_sweep was imported from "), run.stderr
    assert str(copy.resolve()) in last
    assert "a source folder without the compiled engine" in last
    assert "run Python from" in last  # what to do


@pytest.mark.slow
@pytest.mark.parametrize("n_clusters", [15, 30])
def test_satterthwaite_is_calibrated(n_clusters: int) -> None:
    """True null, ICC .15, slope variance .1, random slope fitted, 4,000 simulations:
    the default test rejects within 3 Monte Carlo SEs of 5%."""
    spec = make_spec(
        n_clusters=n_clusters, sample_size=30 * n_clusters, effect=0.0, icc=0.15,
        slope_variance=0.1,
    )
    r = engine.run_chunk(spec, 2024, 0, 4000, n_threads=2)
    c = engine.count_chunk(r, 0.05)
    rate = c.n_significant[0] / c.n_success
    se = math.sqrt(0.05 * 0.95 / c.n_success)
    assert abs(rate - 0.05) < 3 * se, f"rejection rate {rate:.4f} at {n_clusters} clusters"


@pytest.mark.slow
def test_eight_clusters_all_df_methods() -> None:
    """At 8 clusters Satterthwaite stays near 5%, the z and between-within tests do not."""
    rates = {}
    for method in DF_METHODS:
        spec = make_spec(n_clusters=8, sample_size=240, effect=0.0, df_method=method)
        c = engine.chunk_counts(spec, 2024, 0, 4000, n_threads=2)
        rates[method] = c.n_significant[0] / c.n_success
    print("type I error at 8 clusters:", rates)
    se = math.sqrt(0.05 * 0.95 / 4000)
    assert abs(rates["satterthwaite"] - 0.05) < 4 * se
    assert abs(rates["kenward_roger"] - 0.05) < 4 * se
    assert rates["z"] > 0.05 + 3 * se
    assert rates["between_within"] > 0.05 + 3 * se


def test_kenward_roger_in_simulations() -> None:
    """The same fits as with Satterthwaite; KR's adjusted SEs are at least the plain ones
    here (few clusters) and its df are finite and positive."""
    kr, sat = (engine.run_chunk(make_spec(n_clusters=8, sample_size=120, df_method=m), 7, 0, 60)
               for m in ("kenward_roger", "satterthwaite"))
    ok = kr.converged
    np.testing.assert_array_equal(ok, sat.converged)
    np.testing.assert_array_equal(kr.estimate, sat.estimate)
    assert ok.sum() > 50
    assert (kr.se[ok] >= sat.se[ok] * (1 - 1e-12)).all()
    assert (np.isfinite(kr.df[ok]) & (kr.df[ok] > 0)).all()
    assert not np.array_equal(kr.df[ok], sat.df[ok])


DEGENERATE = {
    "slope variance 0, slope fitted": dict(slope_variance=0.0),
    "3 clusters": dict(n_clusters=3, sample_size=60),
    "5 rows per cluster": dict(n_clusters=10, sample_size=50),
    "ICC .9": dict(icc=0.9),
    "binary p=.05": dict(binary_p=0.05, n_clusters=6, sample_size=30),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_designs_never_crash_or_leak_nan(name: str) -> None:
    """10^5 simulations over the degenerate designs (20,000 each)."""
    spec = make_spec(**DEGENERATE[name])
    r = engine.run_chunk(spec, 31337, 0, 20_000, n_threads=2)
    ok = r.converged
    for arr in (r.estimate, r.se, r.df, r.pvalue):
        assert np.isfinite(arr[ok]).all()
        assert np.isnan(arr[~ok]).all()
    assert ((r.pvalue[ok] >= 0) & (r.pvalue[ok] <= 1)).all()
    assert (r.se[ok] > 0).all()
    c = engine.count_chunk(r, 0.05)
    assert c.n_success + (c.n_sims - c.n_success) == 20_000
    print(f"{name}: failed {c.n_sims - c.n_success}, singular {c.n_singular}")


@pytest.mark.parametrize(
    "design",
    [dict(n_clusters=8, sample_size=80), dict(n_clusters=10, sample_size=60, corr=0.5)],
    ids=["8x10", "10x6-corr"],
)
def test_sufficient_statistics_match_row_level_generation(design: dict) -> None:
    """Drawing each cluster's cross-products from their exact (Wishart) distribution gives
    the same distribution of results as generating every row."""
    stats = pytest.importorskip("scipy.stats")
    spec = make_spec(**design)
    fast, rows = (_native.run_chunk(engine.native_spec(spec, row_level=row_level), 5, 0, 3000, 2)
                  for row_level in (False, True))
    assert not np.array_equal(fast["estimate"], rows["estimate"])  # really two methods
    for col in (1, 2):
        a = fast["estimate"][fast["converged"], col]
        b = rows["estimate"][rows["converged"], col]
        se = math.sqrt(a.var() / a.size + b.var() / b.size)
        assert abs(a.mean() - b.mean()) < 4 * se
        assert stats.ks_2samp(a, b).pvalue > 1e-3
        ra = (fast["pvalue"][fast["converged"], col] < 0.05).mean()
        rb = (rows["pvalue"][rows["converged"], col] < 0.05).mean()
        assert abs(ra - rb) < 4 * math.sqrt(ra * (1 - ra) / a.size + rb * (1 - rb) / b.size)


def test_fits_started_past_the_optimum_converge() -> None:
    """A cluster-randomised trial, 6 clusters of 40, ICC .25: the start (the true theta)
    often lies where the profiled deviance is concave, and the damped Newton step once
    cancelled that curvature exactly (a step of 1e17, 29 of 2,000 fits failed).  Every
    fit of this well-posed random-intercept model converges."""
    from mcpower_sweep import MCPower

    model = (MCPower("y ~ treatment + x + (1 | g)")
             .set_variable_type("treatment=binary(0.5, balanced)")
             .set_effects("treatment=0, x=0.3")
             .set_cluster("g", ICC=0.25, n_clusters=6, cluster_level_vars=["treatment"]))
    r = engine.run_chunk(model.to_spec(240), 20261127, 0, 2000)
    assert r.converged.all(), np.flatnonzero(~r.converged)


def test_simulation_fits_reach_the_multi_start_optimum() -> None:
    """The simulation's fit starts at the true theta (an analyst never does); on 400 small
    random-slope data sets (6 clusters, true null) it must end where fit_data's lme4-style
    multi-start fit of the same data ends.  Before the column flip at a zero diagonal, 0.4%
    of these fits stopped on a bound up to 2.5 deviance units above that optimum."""
    spec = make_spec(n_clusters=6, sample_size=120, effect=0.0, slope=True)
    spec = replace(spec, predictors=(Predictor("x"),), terms=((0,),),
                   term_names=("(Intercept)", "x"), effects=(0.0, 0.0),
                   formula="y ~ x + (1 + x | g)")
    es = engine.native_spec(spec)
    sims = engine.run_chunk(spec, 5, 0, 400)
    for i in range(400):
        cp = _native.cross_products(es, 5, i)
        blocks = [rows_with_cross_products(cp["cross"][j], int(cp["rows"][j]))
                  for j in range(len(cp["rows"]))]
        data = np.vstack(blocks)
        group = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
        fit = engine_fits.fit_data(data[:, :2], data[:, 2], group, len(blocks), [0, 1],
                              estimator="reml", df_method="satterthwaite")
        assert sims.converged[i] and fit["converged"], i
        np.testing.assert_allclose(sims.estimate[i], fit["beta"], rtol=1e-5, atol=1e-7,
                                   err_msg=f"simulation {i}")
        np.testing.assert_allclose(sims.se[i], fit["se"], rtol=1e-4, err_msg=f"simulation {i}")
