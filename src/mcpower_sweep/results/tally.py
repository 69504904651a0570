"""Per-simulation tallies of a chunk beyond significance: several tests, and estimate sums.

Everything a chunk contributes is an integer, so totals are sums of per-simulation
integers: the same whatever the chunking, the order chunks arrive in or a resume.

- **Several tests.** In each simulation the tests of the *family* (the named target
  effects; all tests in a sweep) are corrected together by every procedure of
  :data:`~mcpower_sweep.params.CORRECTIONS` (:func:`mcpower_sweep.stats.reject`):
  ``n_significant_corrected[correction, test]`` counts the fits whose test is rejected
  (a test outside the family is not corrected: its count is ``n_significant``), and
  ``n_at_least[correction, k]`` the fits where at least ``k`` of the ``m`` family tests
  are (``k = m``: all of them).
- **Estimate summaries.** Per tested effect, over successful fits: the sums of the
  estimate, of its error against the true effect, of the squared error, of the SE, of the
  half-width of the ``1 - alpha`` interval (t with the test's own df; z when df is
  infinite) and of the df (where finite), each value rounded to a fixed-point grid
  (:data:`SUM_BITS`: ``2**-24`` ≈ 6e-8, df ``2**-8``) and summed as int64; plus the counts
  of finite df, of intervals covering the true effect, and of fits with a value out of
  range (:data:`VALUE_LIMIT`, df :data:`DF_LIMIT`, or not finite), which add nothing to
  the sums (their point's sum-based summaries are then NaN; coverage counts every fit).
  With at most ``MAX_SIMULATIONS`` (1e8 < 2**27) fits a sum stays below 2**63.
- **Variance components.** Per component of the fitted model (:func:`components`: the
  residual variance ``sigma2`` of an LMM, each random-effect variance, each correlation),
  over successful fits: the sums of the estimate, of its error against the true value and
  of the squared error on the same ``2**-24`` grid (:data:`COMPONENT_FIELDS`), the count
  of fits summed (``vc_n``) and of fits whose correlation is undefined (a variance
  estimated at 0; ``vc_n_undefined``, left out as lme4's ``VarCorr`` shows NaN).  The
  other successful fits are out of range (the point's component summaries are NaN).

Examples
--------
>>> fields = extra_fields(["x"], 1)
>>> fields[:2], fields[-1]
(('n_significant_corrected[none,x]', 'n_significant_corrected[bonferroni,x]'), 'n_out_of_range[x]')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..params import CORRECTIONS
from ..stats import reject, t_quantiles

if TYPE_CHECKING:
    from ..design.spec import SimulationSpec
    from ..engine import ChunkResult

TEST_DIM = "test"  # the tests of a family (results.schema's dimension of every test)
CORRECTION_DIM = "correction"
K_DIM = "k"

# Fixed-point resolution (bits after the binary point) of each estimate sum.
SUM_BITS: dict[str, int] = {
    "sum_estimate": 24,
    "sum_error": 24,
    "sum_sq_error": 24,
    "sum_se": 24,
    "sum_half_width": 24,
    "sum_df": 8,
}
ESTIMATE_COUNTS = ("n_df", "n_covered", "n_out_of_range")
ESTIMATE_FIELDS = (*SUM_BITS, *ESTIMATE_COUNTS)
COMPONENT_DIM = "component"
COMPONENT_BITS = 24
COMPONENT_SUMS = ("vc_sum", "vc_sum_error", "vc_sum_sq_error")
COMPONENT_FIELDS = (*COMPONENT_SUMS, "vc_n", "vc_n_undefined")
# |value| * 2**bits < 2**36 and at most 2**27 fits: every sum fits in int64.
VALUE_LIMIT = 2.0**12
DF_LIMIT = 2.0**28


def multitest_counts(
    pvalue: np.ndarray, alpha: float, family: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rejections per correction and test, and fits with at least k family rejections.

    Parameters
    ----------
    pvalue
        ``[fit, test]`` p-values of the successful fits (tests only, no intercept).
    alpha
        Level of each test (uncorrected) and of the family.
    family
        Indices of the family's tests (default: all).

    Returns
    -------
    corrected, at_least
        int64 ``[correction, test]`` and ``[correction, k - 1]`` for ``k = 1 .. m``.

    Examples
    --------
    >>> corrected, at_least = multitest_counts(np.array([[0.01, 0.04], [0.2, 0.03]]), 0.05)
    >>> corrected.tolist(), at_least.tolist()
    ([[1, 2], [1, 0], [1, 1], [1, 1]], [[2, 1], [1, 0], [1, 1], [1, 1]])
    """
    p = np.asarray(pvalue, dtype=np.float64)
    family = list(range(p.shape[1]) if family is None else family)
    m = len(family)
    plain = p < alpha
    corrected = np.empty((len(CORRECTIONS), p.shape[1]), dtype=np.int64)
    at_least = np.empty((len(CORRECTIONS), m), dtype=np.int64)
    for c, method in enumerate(CORRECTIONS):
        hits = plain.copy()
        if m > 1:  # a family of one test is its own correction
            hits[:, family] = reject(p[:, family], alpha, method)
        corrected[c] = hits.sum(axis=0)
        n_hits = hits[:, family].sum(axis=1)
        at_least[c] = (n_hits[:, None] >= np.arange(1, m + 1)).sum(axis=0)
    return corrected, at_least


def _fixed(values: np.ndarray, bits: int) -> np.ndarray:
    """Per-column sum of ``values`` rounded to multiples of ``2**-bits`` (exact int64)."""
    return np.rint(values * 2.0**bits).astype(np.int64).sum(axis=0)


def estimate_sums(
    result: ChunkResult, effects: Sequence[float], alpha: float
) -> np.ndarray:
    """The estimate sums and counts (:data:`ESTIMATE_FIELDS`) of a chunk, per tested effect.

    Parameters
    ----------
    result
        The chunk (all fixed effects, intercept first).
    effects
        True fixed effects, one per fixed effect (intercept first).
    alpha
        The intervals have level ``1 - alpha``.

    Returns
    -------
    numpy.ndarray
        int64 ``[field, test]``: fixed-point sums (:data:`SUM_BITS`), then the counts.
    """
    ok = np.asarray(result.converged, dtype=bool)
    est = result.estimate[ok, 1:]
    se = result.se[ok, 1:]
    df = result.df[ok, 1:]
    error = est - np.asarray(effects, dtype=np.float64)[1:]
    half_width = t_quantiles(1 - alpha / 2, df) * se
    values = {"sum_estimate": est, "sum_error": error, "sum_sq_error": error**2,
              "sum_se": se, "sum_half_width": half_width}
    with np.errstate(invalid="ignore"):
        covered = np.abs(error) <= half_width
        in_range = np.logical_and.reduce([np.abs(v) < VALUE_LIMIT for v in values.values()])
        finite_df = np.isfinite(df)
        in_range &= ~finite_df | (np.abs(df) < DF_LIMIT)
        used_df = finite_df & in_range
    out = [_fixed(np.where(in_range, v, 0.0), SUM_BITS[name]) for name, v in values.items()]
    out.append(_fixed(np.where(used_df, df, 0.0), SUM_BITS["sum_df"]))
    out += [used_df.sum(axis=0), covered.sum(axis=0), (~in_range).sum(axis=0)]
    sums = np.stack(out).astype(np.int64)
    # A joint (F) test has no single estimate: nothing summed, every fit out of range, so
    # its summaries are NaN.
    joint = np.zeros((sums.shape[0], result.joint_pvalue.shape[1]), dtype=np.int64)
    joint[ESTIMATE_FIELDS.index("n_out_of_range")] = int(ok.sum())
    return np.hstack([sums, joint])


def components(spec: SimulationSpec) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and true values of the fitted model's variance components, in engine order.

    ``sigma2`` (the residual variance, 1 by construction; an LMM only), ``var_<term>|<g>``
    per random effect, then ``corr_<a>,<b>|<g>`` per pair (as lme4's ``VarCorr``: variances
    and correlations; a GLMM's on the link scale).  A misspecified analysis has its own
    random effects; their true values are the true model's.

    >>> from mcpower_sweep import MCPower
    >>> spec = (MCPower("y ~ x + (1 + x|g)").set_cluster("g", ICC=0.2, n_clusters=10)
    ...         .set_effects("x=0.3").to_spec(100))
    >>> components(spec)[0]
    ('sigma2', 'var_(Intercept)|g', 'var_x|g', 'corr_(Intercept),x|g')
    """
    if spec.groupings:  # (imported here: reading a store needs no design code)
        from ..design.groupings import components as grouping_components

        return grouping_components(spec.groupings, spec.term_names, spec.family)
    columns = spec.random_columns if spec.analysis is None else spec.analysis.random_columns
    at = [spec.random_columns.index(c) for c in columns]
    variance = np.diag(spec.re_cov())[at]
    corr = spec._re_corr()[np.ix_(at, at)]
    terms = [spec.term_names[c] for c in columns]
    g = spec.grouping
    pairs = [(a, b) for a in range(len(at)) for b in range(a + 1, len(at))]
    lmm = spec.family == "lme"
    names = (*(("sigma2",) if lmm else ()), *(f"var_{t}|{g}" for t in terms),
             *(f"corr_{terms[a]},{terms[b]}|{g}" for a, b in pairs))
    truth = [*([1.0] if lmm else []), *variance, *(corr[a, b] for a, b in pairs)]
    return names, np.asarray(truth, dtype=np.float64)


def component_sums(result: ChunkResult) -> np.ndarray:
    """The variance-component sums and counts (:data:`COMPONENT_FIELDS`) of a chunk.

    Returns
    -------
    numpy.ndarray
        int64 ``[field, component]`` over the successful fits of ``result`` (its
        ``components`` against ``component_truth``).
    """
    ok = np.asarray(result.converged, dtype=bool)
    value = result.components[ok]
    error = value - result.component_truth
    values = (value, error, error**2)
    undefined = np.isnan(value)
    with np.errstate(invalid="ignore"):
        in_range = np.logical_and.reduce([np.abs(v) < VALUE_LIMIT for v in values])
    out = [_fixed(np.where(in_range, v, 0.0), COMPONENT_BITS) for v in values]
    out += [in_range.sum(axis=0), undefined.sum(axis=0)]
    return np.stack(out).astype(np.int64).reshape(len(COMPONENT_FIELDS), value.shape[1])


def extra_fields(tests: Sequence[str], m: int,
                 component_names: Sequence[str] = ()) -> tuple[str, ...]:
    """Names of the flat vector of :func:`flatten` (store fields after ``n_significant``)."""
    return (
        *(f"n_significant_corrected[{c},{t}]" for c in CORRECTIONS for t in tests),
        *(f"n_at_least[{c},{k}]" for c in CORRECTIONS for k in range(1, m + 1)),
        *(f"{name}[{t}]" for name in ESTIMATE_FIELDS for t in tests),
        *(f"{name}[{c}]" for name in COMPONENT_FIELDS for c in component_names),
    )


def flatten(corrected: np.ndarray, at_least: np.ndarray, sums: np.ndarray,
            component: np.ndarray | None = None) -> np.ndarray:
    """The tallies of a chunk as one int64 vector, in the order of :func:`extra_fields`
    (``component``: the :func:`component_sums`, if counted)."""
    parts = [corrected.ravel(), at_least.ravel(), sums.ravel()]
    if component is not None:
        parts.append(component.ravel())
    return np.concatenate(parts).astype(np.int64)


def unflatten(vector: np.ndarray, n_tests: int, m: int) -> dict[str, np.ndarray]:
    """The arrays of :func:`flatten` (over any leading dims) back as named ``[..., dims]``;
    the variance components are what is left after the estimate sums (none: not counted)."""
    lead = vector.shape[:-1]
    n_c = len(CORRECTIONS)
    sizes = [n_c * n_tests, n_c * m, len(ESTIMATE_FIELDS) * n_tests]
    corrected, at_least, sums, rest = np.split(vector, np.cumsum(sizes), axis=-1)
    out = {"n_significant_corrected": corrected.reshape(*lead, n_c, n_tests),
           "n_at_least": at_least.reshape(*lead, n_c, m)}
    sums = sums.reshape(*lead, len(ESTIMATE_FIELDS), n_tests)
    out.update({name: sums[..., i, :] for i, name in enumerate(ESTIMATE_FIELDS)})
    if rest.shape[-1]:
        rest = rest.reshape(*lead, len(COMPONENT_FIELDS), -1)
        out.update({name: rest[..., i, :] for i, name in enumerate(COMPONENT_FIELDS)})
    return out


def tally_vars(arrays: Mapping[str, np.ndarray], lead: tuple[str, ...], test_dim: str
               ) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """``{name: (dims, values)}`` of :func:`unflatten`'s arrays, for an xarray Dataset."""
    dims = {"n_significant_corrected": (CORRECTION_DIM, test_dim),
            "n_at_least": (CORRECTION_DIM, K_DIM),
            **{name: (COMPONENT_DIM,) for name in COMPONENT_FIELDS}}
    return {name: ((*lead, *dims.get(name, (test_dim,))), np.asarray(values))
            for name, values in arrays.items()}


def tally_coords(m: int, component_names: Sequence[str] = ()
                 ) -> dict[str, tuple[str, np.ndarray]]:
    """The ``correction`` and ``k`` coordinates (and ``component``, when given)."""
    coords = {CORRECTION_DIM: (CORRECTION_DIM, np.asarray(CORRECTIONS)),
              K_DIM: (K_DIM, np.arange(1, m + 1, dtype=np.int64))}
    if len(component_names):
        coords[COMPONENT_DIM] = (COMPONENT_DIM, np.asarray(component_names))
    return coords
