"""The outcome's family and baseline (MCPower 1.4.1's ``family=`` and baseline setters).

``family="lme"`` is the linear mixed model; ``"logit"`` and ``"probit"`` model a 0/1
outcome and ``"poisson"`` a count, as generalised linear mixed models fitted like lme4's
``glmer`` (Laplace) and tested by Wald z (``df_method="between_within"``: t on SAS
GLIMMIX's between-within df instead, for few clusters).  Their effects are on the link
scale: log odds ratios (logit), probit units, log rate ratios (poisson); the results show
the odds or rate ratios beside the power.  See :mod:`mcpower_sweep.design.family` for the mapping of
a baseline to the intercept and of an ICC to the random-intercept variance.

Examples
--------
>>> from mcpower_sweep import MCPower
>>> model = (MCPower("passed ~ treatment + (1|school)", family="logit")
...          .set_baseline_probability(0.3)
...          .set_cluster("school", ICC=0.1, n_clusters=30)
...          .set_effects("treatment=0.5"))
>>> round(model.to_spec(900).intercept, 4)
-0.8473
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..design.family import BASELINE, OLS_MESSAGE, is_glmm
from ..params import PARAMS

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..design.spec import SimulationSpec


def checked_family(family: object) -> str:
    """``family`` as one of :data:`~mcpower_sweep.params.FAMILIES`, or ``ValueError``."""
    if family == "ols":
        raise ValueError(OLS_MESSAGE)
    return str(PARAMS["family"].check(family))


class OutcomeSettings:
    """The family and the baseline of a model (mixed into ``MCPower``)."""

    _family: str = "lme"
    _baseline: dict[str, float]

    @property
    def family(self) -> str:
        """``"lme"``, ``"logit"``, ``"probit"`` or ``"poisson"``."""
        return self._family

    def _set_baseline(self, name: str, value: object, label: str, setter: str) -> Self:
        if BASELINE.get(self._family) != name:
            allowed = " or ".join(repr(f) for f, b in BASELINE.items() if b == name)
            raise ValueError(
                f"{setter}({value!r}) is for family={allowed}, not family={self._family!r}"
                + (f"; family={self._family!r} takes {'set_' + BASELINE[self._family]}(...)"
                   if is_glmm(self._family) else
                   "; a linear mixed model has no baseline (its intercept does not matter)"))
        self._baseline = {name: PARAMS[name].check(value, label)}
        return self

    def set_baseline_probability(self, p: float) -> Self:
        """Probability of the outcome when every predictor is 0 (``family="logit"``/``"probit"``).

        It is the intercept on the link scale: ``log(p / (1 - p))`` (logit) or ``qnorm(p)``
        (probit).  ``0 < p < 1``.

        Examples
        --------
        >>> from mcpower_sweep import MCPower
        >>> m = MCPower("y ~ x + (1|g)", family="probit").set_baseline_probability(0.5)
        """
        return self._set_baseline("baseline_probability", p, "p", "set_baseline_probability")

    def set_baseline_rate(self, rate: float) -> Self:
        """Expected count when every predictor is 0 (``family="poisson"``): intercept log(rate).

        Examples
        --------
        >>> from mcpower_sweep import MCPower
        >>> m = MCPower("falls ~ x + (1|home)", family="poisson").set_baseline_rate(2.5)
        """
        return self._set_baseline("baseline_rate", rate, "rate", "set_baseline_rate")

    def _outcome(self) -> dict[str, Any]:
        """The spec's family fields (empty for ``lme``: existing designs keep their specs)."""
        return {"family": self._family, **self._baseline} if is_glmm(self._family) else {}

    def _test_defaults(self, estimator: str | None, df_method: str | None
                       ) -> tuple[str, str]:
        """The fit and test when not given: REML + Satterthwaite, or glmer's ML + Wald z.

        MCPower 1.4.1's ``df_method="asymptotic"`` is the Wald z test.  A GLMM also takes
        ``df_method="between_within"`` (t on SAS GLIMMIX's between-within df), which is
        MCPower 1.4.1's GLMM default; ours stays glmer's z, so name it to get it.
        """
        glmm = is_glmm(self._family)
        df_method = "z" if df_method == "asymptotic" else df_method
        return (estimator or ("ml" if glmm else "reml"),
                df_method or ("z" if glmm else "satterthwaite"))

    def _with_agq(self, spec: SimulationSpec, agq: object) -> SimulationSpec:
        """``spec`` fitted with ``agq`` quadrature nodes (MCPower 1.4.1's ``agq=``)."""
        if agq is None or agq == 1:
            return spec
        if not is_glmm(self._family):
            raise ValueError(f"agq={agq!r} is for generalised models (family='logit', "
                             "'probit' or 'poisson'); a linear mixed model has no quadrature")
        return spec.with_params(nagq=agq)
