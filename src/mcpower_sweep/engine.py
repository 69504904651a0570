"""Python face of the native engine: a spec and a range of simulations in, arrays out.

The compiled module ``mcpower_sweep._native`` does all the statistics (data generation,
REML/ML fit, Wald tests).  This module is the one place that uses it (loaded by
:mod:`.native_import`): it converts a
:class:`~mcpower_sweep.design.spec.SimulationSpec` once into the engine's checked,
read-only ``EngineSpec``, turns the engine's arrays into counts, and re-exports the
engine's limits (``MAX_FIXED_EFFECTS``, ``MAX_RANDOM_EFFECTS``).

Simulation ``i`` of master seed ``s`` always sees the same random numbers, whatever chunk
or thread computes it, so any partition of ``range(n)`` into chunks gives identical results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .design.factors import predictor_columns
from .design.family import ENGINE_FAMILY
from .design.robust import robustness
from .native_import import load_native

if TYPE_CHECKING:
    from .design.predictors import Predictor
    from .design.spec import SimulationSpec


_native = load_native()

ENGINE_VERSION: str = _native.__version__
MAX_FIXED_EFFECTS: int = _native.MAX_FIXED_EFFECTS
MAX_RANDOM_EFFECTS: int = _native.MAX_RANDOM_EFFECTS


@dataclass(frozen=True)
class ChunkResult:
    """Per-simulation results of one chunk; arrays are indexed ``[simulation, term]``.

    ``converged`` is False for failed fits (their other entries are NaN); ``singular``
    marks legal fits with a variance component at its boundary.  The term axis covers
    all fixed effects, ``"(Intercept)"`` first; ``joint_pvalue`` is ``[simulation,
    joint test]`` over ``spec.joint_tests`` (the F tests of factor terms);
    ``components`` is ``[simulation, variance component]`` and ``component_truth`` their
    true values (:func:`mcpower_sweep.results.tally.components`).
    """

    converged: np.ndarray
    singular: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    pvalue: np.ndarray
    joint_pvalue: np.ndarray
    components: np.ndarray
    component_truth: np.ndarray


@dataclass(frozen=True)
class ChunkCounts:
    """What a chunk contributes to the results (exact integers, summed over chunks).

    ``n_corrected`` / ``n_at_least`` / ``estimate_sums`` / ``component_sums`` are the
    tallies of :mod:`mcpower_sweep.results.tally` (the sums are None when the true effects
    were not given).
    """

    n_sims: int
    n_success: int
    n_singular: int
    n_significant: np.ndarray  # (n_tests,), over successful fits only
    n_corrected: np.ndarray | None = None  # (correction, test)
    n_at_least: np.ndarray | None = None  # (correction, k - 1)
    estimate_sums: np.ndarray | None = None  # (field, test)
    component_sums: np.ndarray | None = None  # (field, variance component)

    def as_dict(self) -> dict[str, object]:
        return {
            "n_sims": self.n_sims,
            "n_success": self.n_success,
            "n_singular": self.n_singular,
            "n_significant": self.n_significant,
            "n_corrected": self.n_corrected,
            "n_at_least": self.n_at_least,
            "estimate_sums": self.estimate_sums,
            "component_sums": self.component_sums,
        }

    def __add__(self, other: ChunkCounts) -> ChunkCounts:
        def add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            return None if a is None or b is None else a + b

        return ChunkCounts(
            self.n_sims + other.n_sims, self.n_success + other.n_success,
            self.n_singular + other.n_singular, self.n_significant + other.n_significant,
            add(self.n_corrected, other.n_corrected), add(self.n_at_least, other.n_at_least),
            add(self.estimate_sums, other.estimate_sums),
            add(self.component_sums, other.component_sums),
        )


def _estimator(name: str) -> _native.Estimator:
    return _native.Estimator.__members__[name]


def _df_method(name: str) -> _native.DfMethod:
    return _native.DfMethod.__members__[name]


@lru_cache(maxsize=256)
def native_spec(spec: SimulationSpec, row_level: bool = False) -> _native.EngineSpec:
    """Convert a validated spec into the engine's checked, read-only struct.

    Cached: both are immutable.  ``row_level=True`` makes the engine generate every row
    even where it would draw each cluster's cross-products from their exact
    distribution (the tests and the benchmark compare the two).  A GLMM ``spec.family``
    (with ``spec.nagq``) makes every simulation a GLMM: the outcome drawn from the family
    given the linear predictor (``spec.intercept`` on the link scale, ``re_cov`` the
    random effects' covariance on it), fitted as glmer does and tested by Wald z.

    Examples
    --------
    >>> from mcpower_sweep import MCPower
    >>> model = MCPower("y ~ x + (1 | g)").set_cluster("g", ICC=0.2, n_clusters=10)
    >>> es = native_spec(model.to_spec(100))
    >>> es.cluster_sizes[:3], es.df_method
    ([10, 10, 10], <DfMethod.satterthwaite: 0>)
    """
    # One engine predictor per predictor column: a factor's dummies are binary columns
    # with their level's proportion, tied together by predictor_factor.
    index = predictor_columns(spec.predictors)
    columns = [(spec.predictors[i], lv) for i, lv in index]
    first: dict[int, int] = {}
    for c, (i, _) in enumerate(index):
        first.setdefault(i, c)
    factors = ({"predictor_factor": [first[i] if lv else -1 for i, lv in index]}
               if any(p.kind == "factor" for p in spec.predictors) else {})
    family, link = ENGINE_FAMILY[spec.family]
    return _native.EngineSpec(
        predictor_binary=[p.kind != "normal" for p, _ in columns],
        predictor_p=[float(p.proportions[lv - 1] if lv else p.p) for p, lv in columns],
        predictor_level=[_native.Level.__members__[p.level] for p, _ in columns],
        predictor_allocation=[_native.Allocation.__members__[p.allocation] for p, _ in columns],
        **factors,
        joint_tests=[list(cols) for _, cols in spec.fit_joint_tests],
        terms=[list(t) for t in spec.terms],
        beta=[float(spec.intercept), *(float(b) for b in spec.effects[1:])],
        z_columns=list(spec.random_columns),
        re_cov=np.asarray(spec.re_cov(), dtype=np.float64).ravel().tolist(),
        cluster_sizes=spec.cluster_sizes().tolist(),
        cluster_size_cv=float(spec.cluster_size_cv),
        predictor_mix=[] if (mix := spec.predictor_mix()) is None else mix.ravel().tolist(),
        estimator=_estimator(spec.estimator),
        df_method=_df_method(spec.df_method),
        row_level=row_level,
        family=_native.GlmFamily.__members__[family],
        link=_native.GlmLink.__members__[link],
        nagq=int(spec.nagq),
        **({} if (a := spec.analysis) is None else
           {"fit_columns": list(a.columns), "fit_z_columns": list(a.random_columns)}),
        **({"robust": _robustness(r)} if (r := robustness(spec)) else {}),
        **({"predictor_values": [_values(p, lv) for p, lv in columns]}
           if any(p.values for p, _ in columns) else {}),
        **({"predictor_values_use": [_native.ValuesUse.__members__[p.values_use]
                                     for p, _ in columns]}
           if any(p.values_use != "cycle" for p, _ in columns) else {}),
    )


@lru_cache(maxsize=64)
def groupings_design(spec: SimulationSpec) -> _native.GroupingsDesign:
    """The engine's design of a spec with several grouping factors (``spec.groupings``;
    its fields: :func:`~mcpower_sweep.design.groupings.engine_fields`)."""
    from .design.groupings import engine_fields

    fields = engine_fields(spec)
    draw = _native.UnitDraw.__members__
    family, link = ENGINE_FAMILY[spec.family]
    return _native.GroupingsDesign(
        **{**fields, "predictor_draw": [draw[d] for d in fields["predictor_draw"]],
           "estimator": _estimator(spec.estimator), "df_method": _df_method(spec.df_method),
           "family": _native.GlmFamily.__members__[family],
           "link": _native.GlmLink.__members__[link]})


def simulated_data(spec: SimulationSpec, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """X and y of simulation ``index`` of a spec with several groupings (for tests; the
    rows' grouping codes are :func:`~mcpower_sweep.design.groupings.layout`'s)."""
    return _native.simulate_groupings(groupings_design(spec), int(seed), int(index))


def _values(p: Predictor, level: int) -> list[float]:
    """A predictor column's values: a bootstrapped factor's dummy is 1 on its level's rows."""
    if level and p.values:
        return [float(code == level - 1) for code in p.values]
    return list(p.values)


def _robustness(settings: dict[str, object]) -> _native.Robustness:
    """The engine's Robustness from :func:`~mcpower_sweep.design.robust.robustness`."""
    shape = _native.Shape.__members__
    out = dict(settings)
    for key in ("residual_shape", "re_shape"):
        if key in out:
            out[key] = shape[out[key]]
    if "residual_pool" in out:
        out["residual_pool"] = [shape[s] for s in out["residual_pool"]]
    return _native.Robustness(**out)


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def run_chunk(
    spec: SimulationSpec,
    seed: int,
    start: int,
    count: int,
    n_threads: int = 1,
) -> ChunkResult:
    """Simulate and fit simulations ``start .. start + count - 1`` of master ``seed``.

    Parameters
    ----------
    spec
        The design.
    seed
        Master seed (0 <= seed < 2**64).
    start, count
        The simulation indices to run.
    n_threads
        Threads used by the engine (results never depend on it).

    A GLMM ``spec.family`` fits each simulation as :func:`mcpower_sweep.fit_glmm` does;
    its ``df`` are ``inf`` (Wald z) or the between-within df (``df_method="between_within"``).
    """
    if count < 0 or start < 0:
        raise ValueError(f"start={start}, count={count}: both must be >= 0")
    from .results.tally import components

    if spec.groupings:
        out = _native.run_groupings_chunk(groupings_design(spec), int(seed), int(start),
                                          int(count), int(n_threads))
    else:
        out = _native.run_chunk(native_spec(spec), int(seed), int(start), int(count),
                                int(n_threads))
    return ChunkResult(**out, component_truth=components(spec)[1])


def count_chunk(
    result: ChunkResult,
    alpha: float,
    effects: Sequence[float] | None = None,
    family: Sequence[int] | None = None,
) -> ChunkCounts:
    """Aggregate a chunk: successes, singular fits and significant tests (intercept excluded;
    the joint tests after the fixed effects, as ``spec.tests``).

    Also the corrected tests of the ``family`` (indices into the tests; default all) and,
    given the true ``effects`` (intercept first), the estimate and variance-component sums
    (:mod:`mcpower_sweep.results.tally`).
    """
    from .results import tally

    ok = result.converged
    pvalues = np.hstack([result.pvalue[:, 1:], result.joint_pvalue])
    sig = (pvalues < alpha) & ok[:, None]
    corrected, at_least = tally.multitest_counts(pvalues[ok], alpha, family)
    return ChunkCounts(
        n_sims=int(ok.size),
        n_success=int(ok.sum()),
        n_singular=int((result.singular & ok).sum()),
        n_significant=sig.sum(axis=0).astype(np.int64),
        n_corrected=corrected,
        n_at_least=at_least,
        estimate_sums=None if effects is None else tally.estimate_sums(result, effects, alpha),
        component_sums=None if effects is None else tally.component_sums(result),
    )


def chunk_counts(
    spec: SimulationSpec, seed: int, start: int, count: int, n_threads: int = 1
) -> ChunkCounts:
    """Run a chunk and return only its counts and tallies (what sweeps store)."""
    return count_chunk(run_chunk(spec, seed, start, count, n_threads), spec.alpha,
                       spec.fit_effects)
