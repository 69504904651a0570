"""The engine's fits of data: arrays in, the engine's dictionary out.

The typed wrappers of ``_native``'s fits (one grouping factor or several; LMM or GLMM)
that :func:`mcpower_sweep.fit_lmm` and :func:`mcpower_sweep.fit_glmm` build on; the
simulations' side is :mod:`mcpower_sweep.engine`, which loads the compiled module.

>>> out = fit_data(X, y, group, n_groups, [0], estimator="reml",
...                df_method="satterthwaite")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .engine import _df_method, _estimator, _native


def fit_data(
    X: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    z_columns: Sequence[int],
    *,
    estimator: str,
    df_method: str,
    uncorrelated: bool = False,
    joint_tests: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Fit ``y ~ X + (Z | group)`` to data with the engine's fit and Wald tests.

    ``X`` is rows x fixed effects, ``group`` holds codes in ``[0, n_groups)`` and Z is
    the columns ``z_columns`` of X; ``uncorrelated=True`` fits ``(Z || group)``; each
    entry of ``joint_tests`` (columns of X) gets an F test.  Returns the engine's
    dictionary (``beta``, ``vcov``, ``se``, ``df``, ``pvalue``, ``theta``, ``re_cov``,
    ``sigma2``, ``deviance``, ``converged``, ``singular``, ``iterations``, ``joint``: per
    joint test ``F``, ``num_df``, ``den_df``, ``pvalue``);
    :func:`mcpower_sweep.fit_lmm` is the user-facing form.
    """
    return _native.fit(
        X, y, group, n_groups, list(z_columns), uncorrelated=bool(uncorrelated),
        estimator=_estimator(estimator), df_method=_df_method(df_method),
        joint_tests=[list(c) for c in joint_tests],
    )


def fit_general_data(
    X: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    n_levels: Sequence[int],
    z_columns: Sequence[Sequence[int]],
    *,
    estimator: str,
    df_method: str,
    joint_tests: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Fit an LMM with several random-effect terms (nested or crossed groupings).

    ``codes`` is terms x rows (term k's levels in ``[0, n_levels[k])``), term k's random
    effects are the columns ``z_columns[k]`` of X; the first term should have the most
    levels (it is the one factored level by level).  ``df_method``: satterthwaite,
    kenward_roger (REML), residual or z; each entry of ``joint_tests`` (columns of X)
    gets an F test.  Returns the engine's dictionary (``beta``, ``vcov``, ``se``, ``df``,
    ``pvalue``, ``theta``, ``re_cov`` (one matrix per term), ``sigma2``, ``deviance``,
    ``converged``, ``singular``, ``iterations``, ``evaluations``, ``joint`` as
    :func:`fit_data`'s).
    """
    return _native.fit_general(
        X, y, np.ascontiguousarray(codes, dtype=np.int64), [int(v) for v in n_levels],
        [list(c) for c in z_columns], estimator=_estimator(estimator),
        df_method=_df_method(df_method), joint_tests=[list(c) for c in joint_tests],
    )


def fit_glmm_data(
    X: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    z_columns: Sequence[int],
    *,
    family: str,
    link: str,
    nagq: int = 1,
    uncorrelated: bool = False,
    df_method: str = "z",
    joint_tests: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Fit the GLMM ``y ~ X + (Z | group)`` (Laplace, or adaptive quadrature for nagq > 1).

    Inputs as :func:`fit_data`; ``family`` and ``link`` are checked names (``binomial``
    with ``logit``/``probit``, ``poisson`` with ``log``).  Returns the engine's dictionary
    (``beta``, ``vcov`` (lme4's Hessian-based), ``vcov_rx``, ``theta``, ``re_cov``,
    ``modes``, ``minus_two_loglik``, ``saturated_loglik``, ``converged``, ``singular``,
    ``iterations``, ``between_within_df``, and ``joint``: per entry of ``joint_tests``
    (columns of X) the Wald F that those coefficients are all zero, on ``df_method``'s
    df as the simulations test it); :func:`mcpower_sweep.fit_glmm` is the user-facing form.
    """
    return _native.fit_glmm(
        X, y, group, n_groups, list(z_columns), family=_native.GlmFamily.__members__[family],
        link=_native.GlmLink.__members__[link], nagq=int(nagq), uncorrelated=bool(uncorrelated),
        df_method=_df_method(df_method), joint_tests=[list(c) for c in joint_tests],
    )


def fit_glmm_general_data(
    X: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    n_levels: Sequence[int],
    z_columns: Sequence[Sequence[int]],
    *,
    family: str,
    link: str,
    joint_tests: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Fit a GLMM with several random-effect terms by the Laplace approximation.

    Inputs as :func:`fit_general_data` (the first term should have the most levels),
    ``family`` and ``link`` as :func:`fit_glmm_data`'s.  Returns the engine's dictionary
    (``beta``, ``vcov`` (lme4's Hessian-based), ``vcov_rx``, ``theta``, ``re_cov`` (one
    matrix per term), ``minus_two_loglik``, ``saturated_loglik``, ``converged``,
    ``singular``, ``degenerate``, ``iterations``, ``evaluations``, ``joint``: per entry of
    ``joint_tests`` the Wald chi-square / num_df).
    """
    return _native.fit_glmm_general(
        X, y, np.ascontiguousarray(codes, dtype=np.int64), [int(v) for v in n_levels],
        [list(c) for c in z_columns], family=_native.GlmFamily.__members__[family],
        link=_native.GlmLink.__members__[link], joint_tests=[list(c) for c in joint_tests],
    )


def glmm_deviance(
    X: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    z_columns: Sequence[int],
    theta: Sequence[float],
    beta: Sequence[float],
    *,
    family: str,
    link: str,
    nagq: int = 1,
) -> float:
    """-2 log L of the GLMM of :func:`fit_glmm_data` at given ``theta`` and ``beta``."""
    return _native.glmm_deviance(
        X, y, group, n_groups, list(z_columns), list(theta), list(beta),
        family=_native.GlmFamily.__members__[family], link=_native.GlmLink.__members__[link],
        nagq=int(nagq),
    )
