"""``fit_lmm`` with several random-effect terms: nested (``(1 | school/class)``) and
crossed (``(1 | subject) + (1 | item)``) grouping factors, fitted as lme4 fits them.

The terms are built as lme4's ``mkReTrms`` builds them (``findbars`` order, then the terms
ordered by number of levels, largest first, when that order is not already so; repeated
group names made unique as ``g``, ``g.1``), so theta, the variance components and their
names are lme4's.  The engine's general fit (``native/lmm_general*.cpp``) profiles the
REML/ML deviance over theta as lme4 does and computes lmerTest's Satterthwaite df.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import engine_fits
from .design.formula import MixedFormula
from .design.groupings import lme4_order
from .model_data import check_data, check_fixed, fixed_matrix, grouping_codes, numeric, x_columns

__all__ = ["DF_METHODS", "SeveralFrame", "VarCorr", "fit_several", "several_frame"]

# The df methods of fits with several groupings (between-within is defined for one
# grouping factor only).
DF_METHODS = ("satterthwaite", "kenward_roger", "residual", "z")


@dataclass(frozen=True)
class VarCorr:
    """One group of lme4's ``VarCorr``: its random effects' names, their covariance
    matrix (variance units) and the grouping's number of levels."""

    terms: tuple[str, ...]
    cov: np.ndarray
    n_levels: int


def unique_names(names: list[str]) -> list[str]:
    """R's ``make.unique``: later repeats get ``.1``, ``.2``, ...

    >>> unique_names(["g", "g", "h", "g"])
    ['g', 'g.1', 'h', 'g.2']
    """
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        out.append(name if k == 0 else f"{name}.{k}")
        seen[name] = k + 1
    return out


@dataclass(frozen=True)
class SeveralFrame:
    """The data of a model with several random-effect terms, terms in lme4's order.

    ``X``, ``y``, ``names`` and ``term_columns`` (per fixed term, its first column and
    width) as for one grouping; per random-effect term (lme4's order) its codes (rows of
    ``codes``), ``n_levels``, ``z_columns`` (columns of X) and lme4's group name
    (``groups``, made unique as ``g``, ``g.1``).
    """

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    term_columns: dict[str, tuple[int, int]]
    codes: np.ndarray
    n_levels: list[int]
    z_columns: list[list[int]]
    groups: list[str]

    @property
    def joint_tests(self) -> list[range]:
        """Per fixed term its columns (the Wald/F test that they are all zero)."""
        return [range(a, a + w) for a, w in self.term_columns.values()]

    def variance_components(
        self, covs: list[np.ndarray]
    ) -> tuple[np.ndarray, tuple[str, ...], dict[str, VarCorr]]:
        """The block-diagonal ``re_cov``, its ``re_names`` (``"<group>.<effect>"``) and
        ``varcorr`` from the engine's per-term covariance matrices."""
        varcorr: dict[str, VarCorr] = {}
        re_names: list[str] = []
        for g, zc, levels, cov in zip(self.groups, self.z_columns, self.n_levels, covs,
                                      strict=True):
            terms = tuple(self.names[c] for c in zc)
            varcorr[g] = VarCorr(terms=terms, cov=np.asarray(cov), n_levels=levels)
            re_names.extend(f"{g}.{t}" for t in terms)
        re_cov = np.zeros((len(re_names), len(re_names)))
        at = 0
        for vc in varcorr.values():
            w = len(vc.terms)
            re_cov[at:at + w, at:at + w] = vc.cov
            at += w
        return re_cov, tuple(re_names), varcorr


def several_frame(formula: str, mixed: MixedFormula, data: Any) -> SeveralFrame:
    """Build the outcome, fixed-effect matrix and grouping codes of ``mixed``, its
    random-effect terms built and ordered as lme4's ``mkReTrms`` builds them."""
    check_data(data)
    parsed = mixed.fixed
    y = numeric(data, parsed.outcome)
    n = y.shape[0]
    X, names, _, first_column = fixed_matrix(parsed, data, n)
    z_columns = [x_columns(parsed, first_column, t.columns) for t in mixed.random]
    check_fixed(formula, X, names, max(len(z) for z in z_columns))
    codes, n_levels = [], []
    for term in mixed.random:
        c, levels = grouping_codes(data, term.factors, n, term.name)
        if levels >= n:
            raise ValueError(
                f"grouping factor {term.name!r} of {formula!r} has {levels} levels for {n} "
                "rows: it must have fewer levels than rows (lme4's rule)"
            )
        codes.append(c)
        n_levels.append(levels)
    order = lme4_order(n_levels)
    return SeveralFrame(
        X=X, y=y, names=tuple(names), term_columns=dict(first_column),
        codes=np.vstack([codes[k] for k in order]), n_levels=[n_levels[k] for k in order],
        z_columns=[list(z_columns[k]) for k in order],
        groups=unique_names([mixed.random[k].name for k in order]),
    )


def fit_several(
    formula: str, mixed: MixedFormula, data: Any, estimator: str, df_method: str
) -> dict[str, Any]:
    """Fit ``mixed`` to ``data``; returns the fields of :class:`mcpower_sweep.fit.LMMFit`
    after ``formula``, ``estimator`` and ``df_method``.

    ``re_cov`` is block diagonal over the terms in lme4's order, ``re_names`` are
    ``"<group>.<effect>"`` (lme4's ``theta`` names), ``varcorr`` holds each group's block,
    and ``n_groups`` / ``grouping`` describe the first term (the one with most levels).
    """
    if df_method not in DF_METHODS:
        raise ValueError(
            f"df_method={df_method!r} is not available with several random-effect terms "
            f"({formula!r}): use one of {', '.join(DF_METHODS)}"
        )
    frame = several_frame(formula, mixed, data)
    out = engine_fits.fit_general_data(
        frame.X, frame.y, frame.codes, frame.n_levels, frame.z_columns, estimator=estimator,
        df_method=df_method, joint_tests=frame.joint_tests,
    )
    re_cov, re_names, varcorr = frame.variance_components(out["re_cov"])
    names = frame.names

    def by_name(arr: np.ndarray) -> dict[str, float]:
        return {t: float(v) for t, v in zip(names, arr, strict=True)}

    return {
        "coef": by_name(out["beta"]), "se": by_name(out["se"]), "df": by_name(out["df"]),
        "pvalue": by_name(out["pvalue"]), "sigma2": float(out["sigma2"]),
        "re_cov": re_cov, "re_names": re_names,
        "loglik": -0.5 * float(out["deviance"]), "deviance": float(out["deviance"]),
        "converged": bool(out["converged"]), "singular": bool(out["singular"]),
        "theta": np.asarray(out["theta"]), "vcov": np.asarray(out["vcov"]), "n_obs": len(frame.y),
        "n_groups": frame.n_levels[0], "grouping": frame.groups[0], "varcorr": varcorr,
        "anova": {term: {k: float(v) for k, v in row.items()}
                  for term, row in zip(frame.term_columns, out["joint"], strict=True)},
    }
