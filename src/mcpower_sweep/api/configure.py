"""A multilevel design, configured step by step with the tutorial's setters.

:class:`Configuration` holds what the setters were given (each checked where it enters,
with a message naming the parameter, the value and what is allowed) and turns it into the
one validated :class:`~mcpower_sweep.design.spec.SimulationSpec` (:meth:`to_spec`).
:class:`~mcpower_sweep.MCPower` adds the questions (``find_power``, ``find_sample_size``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..design.empirical import Upload
from ..design.factors import Expanded, expand
from ..design.formula import ParsedFormula
from ..design.groupings import Grouping, variances_text
from ..design.spec import MAX_FIXED_EFFECTS, Predictor, SimulationSpec, correlation_matrix
from . import parse
from .groupings import SeveralGroupings, several_groupings
from .outcome import OutcomeSettings, checked_family
from .robust import RobustSettings
from .run_settings import RunSettings
from .settings import ClusterSettings, build_spec, cluster_settings, simulated_formula
from .upload import simulated_correlations, simulated_types

if TYPE_CHECKING:  # setters return the model itself (an MCPower), for chaining
    from typing_extensions import Self

class Configuration(RunSettings, OutcomeSettings, RobustSettings, SeveralGroupings):
    """The design of a linear mixed model given as an lme4 formula, set step by step.

    Parameters
    ----------
    formula
        For example ``"outcome ~ treatment + motivation + (1 + treatment|site)"``:
        fixed effects, then one random part with a grouping factor (see
        :func:`mcpower_sweep.formula.parse_formula` for the syntax).

    Examples
    --------
    >>> model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    >>> model.tests
    ('treatment',)
    """

    def __init__(self, formula: str, family: str = "lme") -> None:
        self._family = checked_family(family)
        self._baseline: dict[str, float] = {}
        self._mixed = several_groupings(formula)  # nested or crossed groupings, or None
        self._groupings: dict[str, Grouping] = {}
        parsed = simulated_formula(formula) if self._mixed is None else self._mixed.fixed
        self._parsed: ParsedFormula = parsed
        # As given (canonical names): resolved against the factor levels at use, so
        # set_effects("group[2]=0.3") may come before set_variable_type("group=factor(3)").
        self._effects: dict[str, float] = {}
        self._types: dict[str, Predictor] = {p: Predictor(p) for p in parsed.predictors}
        self._correlations: dict[tuple[str, str], float] = {}
        self._upload: Upload | None = None  # upload_data's empirical predictors
        self._cluster: ClusterSettings | None = None
        self._sample_size: int | None = None

    # ------------------------------------------------------------ read-only
    @property
    def formula(self) -> str:
        return self._parsed.text

    @property
    def parsed(self) -> ParsedFormula:
        return self._parsed

    @property
    def tests(self) -> tuple[str, ...]:
        """The tests: each fixed effect (a factor's per level, ``group[2]``), named as in
        MCPower 1.4.1, then the joint test of each factor term (``group``)."""
        return self._design().tests

    @property
    def effects(self) -> dict[str, float]:
        """The true fixed effects (those not set are 0)."""
        return self._resolved_effects(strict=False)

    def _design(self) -> Expanded:
        """The formula's fixed-effect columns with the factors as set so far."""
        design = expand(self._parsed, self._simulated_types())
        if len(design.term_names) > MAX_FIXED_EFFECTS:
            raise ValueError(f"set_variable_type: the factors give {len(design.term_names)} "
                             f"fixed effects: the engine fits at most {MAX_FIXED_EFFECTS}")
        return design

    def _simulated_types(self) -> dict[str, Predictor]:
        """The predictors as simulated: as set, uploaded ones from their data."""
        c = self._cluster
        return simulated_types(self._types, self._upload, c.cluster_level_vars if c else ())

    def _resolved_effects(self, strict: bool = True) -> dict[str, float]:
        """Every fixed effect's size; ``strict``: refuse effects that name no fixed effect."""
        names = self._design().term_names[1:]
        out = dict.fromkeys(names, 0.0)
        for name, value in self._effects.items():
            term = parse.term_name(name, names)
            if term is not None:
                out[term] = value
            elif strict:
                raise ValueError(
                    f"set_effects: {name!r} is not a fixed effect of {self.formula!r} with "
                    f"the variable types set; its fixed effects are {', '.join(names)} (a "
                    "factor's effects are per level, e.g. group[2]=0.3)")
        return out

    @property
    def sample_size(self) -> int | None:
        """N of the most recent :meth:`find_power` (None before one): a sweep's default point."""
        return self._sample_size

    def __repr__(self) -> str:
        c = self._cluster
        cluster = variances_text(tuple(self._groupings.values()), self._design().term_names) or (
            "no cluster set" if c is None else (
            f"{c.grouping}: ICC={c.icc:g}, "
            + (f"n_clusters={c.n_clusters}" if c.n_clusters is not None
               else f"cluster_size={c.cluster_size}")
            + (f", slope_variance={c.slope_variance:g}, "
               f"slope_intercept_corr={c.slope_intercept_corr:g}"
               if self._parsed.random_slopes else "")
        ))
        effects = ", ".join(f"{k}={v:g}" for k, v in self.effects.items())
        return (f"MCPower({self.formula!r}; effects {effects}; {cluster}; "
                f"{self._simulations} simulations, alpha={self._alpha:g})")

    # ------------------------------------------------------------ setters
    def set_cluster(
        self,
        name: str,
        ICC: float | None = None,  # noqa: N803 - the tutorial's spelling
        n_clusters: int | None = None,
        cluster_size: int | None = None,
        random_slopes: Sequence[str] | str | None = None,
        slope_variance: float | Mapping[str, float] = 0.0,
        slope_intercept_corr: float | Mapping[str, float] = 0.0,
        *,
        cluster_level_vars: Sequence[str] | None = None,
        cluster_sizes: Sequence[int] | None = None,
        cluster_size_cv: float = 0.0,
        tau_squared: float | None = None,
        n_per_parent: int | None = None,
        latin_square: str | None = None,
    ) -> Self:
        """Configure a grouping factor of the formula's random part (once per grouping).

        Parameters
        ----------
        name
            The grouping factor, as written after ``|`` in the formula.
        ICC
            Intraclass correlation of the random intercept, ``0 <= ICC < 1``; the intercept
            variance is ``ICC / (1 - ICC)`` (residual variance 1).  For ``family="logit"``
            and ``"probit"`` the ICC is on the latent scale: ``tau^2 = ICC / (1 - ICC) x
            pi^2 / 3`` (logit) or ``x 1`` (probit); ``"poisson"`` needs ``tau_squared``.
        tau_squared
            Instead of ``ICC`` (give exactly one): the random-intercept variance on the link
            scale (log odds, probit units, log rate; outcome units for ``"lme"``).
        n_clusters, cluster_size, cluster_sizes
            Give exactly one: the number of clusters (>= 2; the sample is split as evenly as
            possible), the observations per cluster (>= 5; the number of clusters is then
            ``sample_size // cluster_size``), or each cluster's size (a list; it fixes the
            number of clusters and N, so ``sample_size`` must be its sum).
        random_slopes
            The predictors with a random slope. They must be the random slopes of the
            formula's random part (all of them); None takes them from the formula.
        slope_variance
            Variance of each random slope (>= 0), in outcome units squared (on the link
            scale for a GLMM); or a mapping ``{slope: variance}`` giving every random slope
            its own.
        slope_intercept_corr
            Correlation of each random slope with the random intercept, in [-1, 1]; or a
            mapping ``{slope: correlation}``.
        cluster_level_vars
            Predictors drawn once per cluster and constant within it (MCPower 1.4.1's
            spelling), e.g. the treatment of a cluster-randomised trial; none may have a
            random slope.  With ``binary(p, balanced)`` exactly round(p J) clusters get 1.
        cluster_size_cv
            Unequal clusters: each simulation draws its sizes with this coefficient of
            variation around N/J (at least 5 each, adding up to N); 0 (default) keeps them
            as even as possible.
        n_per_parent
            A nested child's units in each unit of its parent: with ``(1 | school/class)``,
            ``set_cluster("school", ICC=..., n_clusters=20)`` and ``set_cluster(
            "school:class", ICC=..., n_per_parent=4)``; crossed groupings each take
            ``n_clusters`` (docs/nested.md).
        latin_square
            With two crossed groupings (subjects x items), set on the items: this binary
            (p = 0.5) or equal-proportion factor predictor is counterbalanced in a Latin
            square instead of drawn: subject s is in list s mod K of the K conditions and
            sees item i once, in condition (i + s) mod K (docs/nested.md).

        Examples
        --------
        >>> model = MCPower("y ~ x + (1 + x|school)")
        >>> _ = model.set_cluster("school", ICC=0.1, n_clusters=40, random_slopes=["x"],
        ...                       slope_variance=0.05)
        >>> crt = (MCPower("y ~ treatment + x + (1|school)")
        ...        .set_variable_type("treatment=binary(0.5, balanced)")
        ...        .set_cluster("school", ICC=0.15, n_clusters=30,
        ...                     cluster_level_vars=["treatment"]))
        """
        if self._set_grouping(name, n_per_parent, icc=ICC, tau_squared=tau_squared,
                              n_clusters=n_clusters, random_slopes=random_slopes,
                              slope_variance=slope_variance,
                              slope_intercept_corr=slope_intercept_corr,
                              cluster_level_vars=cluster_level_vars, cluster_size=cluster_size,
                              latin_square=latin_square,
                              unsupported={"cluster_sizes": cluster_sizes,
                                           "cluster_size_cv": cluster_size_cv}):
            return self
        self._cluster = cluster_settings(
            self._parsed, name, icc=ICC, n_clusters=n_clusters, cluster_size=cluster_size,
            random_slopes=random_slopes, slope_variance=slope_variance,
            slope_intercept_corr=slope_intercept_corr, cluster_level_vars=cluster_level_vars,
            cluster_sizes=cluster_sizes, cluster_size_cv=cluster_size_cv,
            tau_squared=tau_squared)
        if self._family == "poisson" and ICC is not None:
            raise ValueError(f"set_cluster: ICC={ICC!r} with family='poisson': a Poisson model "
                             "has no latent scale for an ICC; give tau_squared= (the random-"
                             "intercept variance on the log scale) instead")
        return self

    def set_effects(self, effects: str | Mapping[str, float]) -> Self:
        """True fixed effects in outcome-SD units; effects not set are 0.

        Parameters
        ----------
        effects
            ``"treatment=0.5, motivation=0.3"`` (interactions as ``"a:b=0.2"``, a factor's
            levels as ``"group[2]=0.3, group[3]=0.5"``) or a mapping of names to numbers.

        Examples
        --------
        >>> MCPower("y ~ a*b + (1|g)").set_effects("a=0.5, a:b=0.2").effects
        {'a': 0.5, 'b': 0.0, 'a:b': 0.2}
        """
        given = parse.effects(effects, self._parsed, self._design().term_names[1:])
        self._effects = {**self._effects, **given}
        return self

    def set_variable_type(self, types: str | Mapping[str, str]) -> Self:
        """How each predictor is simulated: ``normal`` (default), ``binary``, ``binary(p)``,
        ``factor(k)``, ``factor(p1, ..., pk)``.

        ``binary`` is Bernoulli(0.5) coded 0/1; ``binary(p)`` has P(1) = p (MCPower 1.4.1's
        ``(binary, p)`` too).  ``binary(p, balanced)`` is a balanced allocation: exactly
        round(p n_j) ones in each cluster (a multisite trial), or in round(p J) clusters for
        a predictor in ``cluster_level_vars`` (a cluster-randomised trial), at random.
        A factor (MCPower 1.4.1's ``(factor,k)`` and ``(factor,0.5,0.3,0.2)`` too; ``factor``
        alone has 3 levels) draws a level per unit with the given proportions (positive,
        adding up to 1; 2 to 20 levels), coded as dummies against level 1 with effects
        ``group[2]``, ``group[3]``...; with ``, balanced`` last, exactly round(p_k n) units
        get level k = 2..K (level 1 the rest).  Its tests are per level and, with 3 or more
        levels, a joint F test named as the factor.

        Examples
        --------
        >>> model = MCPower("y ~ treatment + age + (1|site)")
        >>> _ = model.set_variable_type("treatment=binary(0.3), age=normal")
        >>> MCPower("y ~ group + (1|site)").set_variable_type("group=factor(3)").tests
        ('group[2]', 'group[3]', 'group')
        """
        new = {**self._types, **parse.variable_types(types, self._parsed)}
        expand(self._parsed, new)  # a factor with a random slope is refused here
        self._types = new
        return self

    def set_correlations(self, correlations: str | Mapping[str, float] | np.ndarray
                         ) -> Self:
        """Correlations between normal predictors of one level (MCPower 1.4.1's spellings).

        ``"corr(x1,x2)=0.4, corr(x1,x3)=0.2"`` or a full correlation matrix over the
        formula's predictors in order; pairs not given stay uncorrelated.

        Examples
        --------
        >>> model = MCPower("y ~ x1 + x2 + (1|g)").set_correlations("corr(x1,x2)=0.4")
        """
        new = {**self._correlations, **parse.correlations(correlations, self._parsed)}
        correlation_matrix(self._parsed.predictors, tuple((a, b, r) for (a, b), r in new.items()))
        self._correlations = new
        return self

    # ------------------------------------------------------------ spec
    def to_spec(
        self, sample_size: int, *, estimator: str | None = None, df_method: str | None = None
    ) -> SimulationSpec:
        """The validated :class:`SimulationSpec` of the model as configured.

        ``estimator`` and ``df_method`` default to ``"reml"`` and ``"satterthwaite"`` for
        ``family="lme"``, and to ``"ml"`` and ``"z"`` (glmer's Laplace fit, Wald z) for a GLMM.

        Examples
        --------
        >>> model = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, n_clusters=20)
        >>> model.to_spec(400).effective_n_clusters
        20
        """
        estimator, df_method = self._test_defaults(estimator, df_method)
        if self._mixed is not None:
            if self._upload is not None:
                raise ValueError(
                    "upload_data with several grouping factors is not supported yet: "
                    "declare the predictors' types (set_variable_type) instead")
            return self._groupings_spec(sample_size, estimator, df_method)
        return build_spec(self._parsed, self._cluster, types=self._simulated_types(),
                          correlations=simulated_correlations(self._correlations, self._upload),
                          effects=self._resolved_effects(),
                          sample_size=sample_size, estimator=estimator, df_method=df_method,
                          alpha=self._alpha, outcome={**self._outcome(), **self._robust_fields()})

