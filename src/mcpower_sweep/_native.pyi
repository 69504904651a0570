"""Type stubs of mcpower_sweep's compiled engine (native/bindings.cpp).

Use it through :mod:`mcpower_sweep.engine`, the one module that imports it.
"""

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
MAX_FIXED_EFFECTS: int
MAX_RANDOM_EFFECTS: int
MIN_CLUSTER_SIZE: int

class DfMethod:
    """Reference distribution (degrees of freedom) of the Wald t tests."""

    __members__: ClassVar[dict[str, DfMethod]]
    satterthwaite: ClassVar[DfMethod]
    between_within: ClassVar[DfMethod]
    residual: ClassVar[DfMethod]
    z: ClassVar[DfMethod]
    kenward_roger: ClassVar[DfMethod]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Estimator:
    """Fit criterion of the mixed model."""

    __members__: ClassVar[dict[str, Estimator]]
    reml: ClassVar[Estimator]
    ml: ClassVar[Estimator]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Level:
    """Where a predictor varies: within clusters or only between them."""

    __members__: ClassVar[dict[str, Level]]
    observation: ClassVar[Level]
    cluster: ClassVar[Level]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Allocation:
    """How a binary predictor's ones are placed."""

    __members__: ClassVar[dict[str, Allocation]]
    independent: ClassVar[Allocation]
    balanced: ClassVar[Allocation]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class ValuesUse:
    """How a predictor's values are used: cycled, an empirical distribution or bootstrapped."""

    __members__: ClassVar[dict[str, ValuesUse]]
    cycle: ClassVar[ValuesUse]
    quantile: ClassVar[ValuesUse]
    bootstrap: ClassVar[ValuesUse]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Shape:
    """Shape of a unit-variance draw (residuals, random effects)."""

    __members__: ClassVar[dict[str, Shape]]
    normal: ClassVar[Shape]
    t: ClassVar[Shape]
    right_skewed: ClassVar[Shape]
    left_skewed: ClassVar[Shape]
    uniform: ClassVar[Shape]
    mixture: ClassVar[Shape]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Robustness:
    """Departures from the textbook model (checked with the EngineSpec)."""

    def __init__(
        self,
        *,
        residual_shape: Shape = ...,
        residual_param: float = 0.0,
        re_shape: Shape = ...,
        re_param: float = 0.0,
        het_gamma: float = 0.0,
        het_weights: Sequence[float] = ...,
        het_center: float = 0.0,
        het_scale: float = 1.0,
        effect_jitter: float = 0.0,
        icc_noise_sd: float = 0.0,
        residual_change_prob: float = 0.0,
        residual_pool: Sequence[Shape] = ...,
        residual_pool_param: Sequence[float] = ...,
        variance_draws: Sequence[float] = ...,
    ) -> None: ...
    residual_shape: Shape
    residual_param: float
    re_shape: Shape
    re_param: float
    het_gamma: float
    het_weights: list[float]
    het_center: float
    het_scale: float
    effect_jitter: float
    icc_noise_sd: float
    residual_change_prob: float
    residual_pool: list[Shape]
    residual_pool_param: list[float]
    variance_draws: list[float]

class EngineSpec:
    """A checked, read-only description of a simulated design (ValueError if invalid)."""

    def __init__(
        self,
        *,
        predictor_binary: Sequence[bool],
        predictor_p: Sequence[float],
        terms: Sequence[Sequence[int]],
        beta: Sequence[float],
        z_columns: Sequence[int],
        re_cov: Sequence[float],
        cluster_sizes: Sequence[int],
        estimator: Estimator,
        df_method: DfMethod,
        row_level: bool = False,
        predictor_level: Sequence[Level] = ...,
        predictor_allocation: Sequence[Allocation] = ...,
        cluster_size_cv: float = 0.0,
        predictor_mix: Sequence[float] = ...,
        predictor_factor: Sequence[int] = ...,
        joint_tests: Sequence[Sequence[int]] = ...,
        family: GlmFamily = ...,
        link: GlmLink = ...,
        nagq: int = 1,
        fit_columns: Sequence[int] = ...,
        fit_z_columns: Sequence[int] = ...,
        robust: Robustness = ...,
        predictor_values: Sequence[Sequence[float]] = ...,
        predictor_values_use: Sequence[ValuesUse] = ...,
    ) -> None: ...
    @property
    def predictor_binary(self) -> list[bool]: ...
    @property
    def predictor_p(self) -> list[float]: ...
    @property
    def predictor_level(self) -> list[Level]: ...
    @property
    def predictor_allocation(self) -> list[Allocation]: ...
    @property
    def terms(self) -> list[list[int]]: ...
    @property
    def beta(self) -> list[float]: ...
    @property
    def z_columns(self) -> list[int]: ...
    @property
    def re_cov(self) -> list[float]: ...
    @property
    def cluster_sizes(self) -> list[int]: ...
    @property
    def cluster_size_cv(self) -> float: ...
    @property
    def predictor_mix(self) -> list[float]: ...
    @property
    def predictor_factor(self) -> list[int]: ...
    @property
    def joint_tests(self) -> list[list[int]]: ...
    @property
    def estimator(self) -> Estimator: ...
    @property
    def df_method(self) -> DfMethod: ...
    @property
    def row_level(self) -> bool: ...
    @property
    def family(self) -> GlmFamily: ...
    @property
    def link(self) -> GlmLink: ...
    @property
    def nagq(self) -> int: ...
    @property
    def fit_columns(self) -> list[int]: ...
    @property
    def fit_z_columns(self) -> list[int]: ...
    @property
    def robust(self) -> Robustness: ...
    @property
    def predictor_values(self) -> list[list[float]]: ...
    @property
    def predictor_values_use(self) -> list[ValuesUse]: ...

def run_chunk(
    spec: EngineSpec, seed: int, start: int, count: int, n_threads: int = 1
) -> dict[str, NDArray[Any]]:
    """Simulate and fit simulations start .. start + count - 1 of seed.

    Keys: converged, singular (bool, per simulation); estimate, se, df, pvalue
    (float64, simulation x fixed effect); joint_pvalue (simulation x joint test);
    components (simulation x variance component: sigma2 for a gaussian outcome, each
    random-effect variance, each correlation a < b; NaN where undefined or failed).
    """

def fit(
    X: ArrayLike,
    y: ArrayLike,
    group: ArrayLike,
    n_groups: int,
    z_columns: Sequence[int],
    *,
    uncorrelated: bool = ...,
    estimator: Estimator = ...,
    df_method: DfMethod = ...,
    joint_tests: Sequence[Sequence[int]] = ...,
) -> dict[str, Any]:
    """Fit a one-factor LMM to data."""

def cross_products(spec: EngineSpec, seed: int, index: int) -> dict[str, NDArray[np.float64]]:
    """Per-cluster cross-products, column sums and rows of one simulation (for tests)."""

def two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of a t (df=inf: z)."""

def normal_draws(seed: int, index: int, n: int) -> NDArray[np.float64]:
    """Standard normal draws of one stream (for tests)."""

def simulated_rows(spec: EngineSpec, seed: int, index: int) -> NDArray[np.float64]:
    """One simulation generated row by row as [cluster, X, y] rows (for tests)."""

def shape_draws(shape: Shape, param: float, seed: int, index: int, n: int
                ) -> NDArray[np.float64]:
    """Unit-variance draws of one shape from one stream (for tests)."""

class GlmFamily:
    """Conditional distribution of a GLMM's outcome."""

    __members__: ClassVar[dict[str, GlmFamily]]
    gaussian: ClassVar[GlmFamily]
    binomial: ClassVar[GlmFamily]
    poisson: ClassVar[GlmFamily]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class GlmLink:
    """Link function of a GLMM."""

    __members__: ClassVar[dict[str, GlmLink]]
    identity: ClassVar[GlmLink]
    logit: ClassVar[GlmLink]
    probit: ClassVar[GlmLink]
    log: ClassVar[GlmLink]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

def fit_general(
    X: ArrayLike,
    y: ArrayLike,
    codes: ArrayLike,
    n_levels: Sequence[int],
    z_columns: Sequence[Sequence[int]],
    *,
    estimator: Estimator = ...,
    df_method: DfMethod = ...,
    joint_tests: Sequence[Sequence[int]] = ...,
    nested_kernel: bool = ...,
) -> dict[str, Any]:
    """Fit an LMM with several random-effect terms (codes: terms x rows; the first term is
    factored level by level, so it should have the most levels).  Nested scalar intercepts
    take a closed form; ``nested_kernel=False`` sends them the general way (for tests)."""

def general_deviance(
    X: ArrayLike,
    y: ArrayLike,
    codes: ArrayLike,
    n_levels: Sequence[int],
    z_columns: Sequence[Sequence[int]],
    theta: Sequence[float],
    *,
    estimator: Estimator = ...,
    nested_kernel: bool = ...,
) -> tuple[float, NDArray[np.float64] | None]:
    """The profiled REML criterion or ML deviance of :func:`fit_general`'s model at theta
    and its exact gradient (``(inf, None)`` where the model cannot be evaluated)."""

def fit_glmm(
    X: ArrayLike,
    y: ArrayLike,
    group: ArrayLike,
    n_groups: int,
    z_columns: Sequence[int],
    *,
    family: GlmFamily,
    link: GlmLink,
    nagq: int = 1,
    uncorrelated: bool = False,
    df_method: DfMethod = ...,
    joint_tests: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Fit a one-factor GLMM (Laplace, or adaptive Gauss-Hermite with nagq > 1) to data."""

def fit_glmm_general(
    X: ArrayLike,
    y: ArrayLike,
    codes: ArrayLike,
    n_levels: Sequence[int],
    z_columns: Sequence[Sequence[int]],
    *,
    family: GlmFamily,
    link: GlmLink,
    joint_tests: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """Fit a GLMM with several random-effect terms (Laplace) to data."""

def glmm_general_deviance(
    X: ArrayLike,
    y: ArrayLike,
    codes: ArrayLike,
    n_levels: Sequence[int],
    z_columns: Sequence[Sequence[int]],
    theta: Sequence[float],
    beta: Sequence[float],
    *,
    family: GlmFamily,
    link: GlmLink,
) -> float:
    """Laplace -2 log L of a several-terms GLMM at (theta, beta)."""

def glmm_deviance(
    X: ArrayLike,
    y: ArrayLike,
    group: ArrayLike,
    n_groups: int,
    z_columns: Sequence[int],
    theta: Sequence[float],
    beta: Sequence[float],
    *,
    family: GlmFamily,
    link: GlmLink,
    nagq: int = 1,
) -> float:
    """-2 log L of a one-factor GLMM at (theta, beta)."""

def glmm_derivatives(
    X: ArrayLike,
    y: ArrayLike,
    group: ArrayLike,
    n_groups: int,
    z_columns: Sequence[int],
    theta: Sequence[float],
    beta: Sequence[float],
    *,
    family: GlmFamily,
    link: GlmLink,
) -> dict[str, Any]:
    """Laplace -2 log L with its exact gradient and Hessian over (theta, beta)."""

class UnitDraw:
    """How a predictor's values are drawn over its units."""

    __members__: ClassVar[dict[str, UnitDraw]]
    normal: ClassVar[UnitDraw]
    bernoulli: ClassVar[UnitDraw]
    balanced: ClassVar[UnitDraw]
    fixed: ClassVar[UnitDraw]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class GroupingsDesign:
    """A checked, read-only design with several grouping factors."""

    def __init__(
        self,
        *,
        predictor_draw: Sequence[UnitDraw],
        predictor_p: Sequence[float],
        predictor_unit: Sequence[int],
        row_block: ArrayLike,
        level_block: Sequence[ArrayLike],
        terms: Sequence[Sequence[int]],
        beta: Sequence[float],
        codes: Sequence[ArrayLike],
        n_levels: Sequence[int],
        z_columns: Sequence[Sequence[int]],
        re_cov: Sequence[Sequence[float]],
        fit_grouping: Sequence[int],
        fit_z_columns: Sequence[Sequence[int]],
        component_order: Sequence[int],
        joint_tests: Sequence[Sequence[int]],
        estimator: Estimator,
        df_method: DfMethod,
        predictor_mix: Sequence[float] = ...,
        predictor_factor: Sequence[int] = ...,
        predictor_fixed: Sequence[Sequence[float]] = ...,
        family: GlmFamily = ...,
        link: GlmLink = ...,
    ) -> None: ...
    @property
    def n_levels(self) -> list[int]: ...
    @property
    def fit_grouping(self) -> list[int]: ...
    @property
    def fit_z_columns(self) -> list[list[int]]: ...
    @property
    def re_cov(self) -> list[list[float]]: ...
    @property
    def family(self) -> GlmFamily: ...

def run_groupings_chunk(
    design: GroupingsDesign, seed: int, start: int, count: int, n_threads: int = 1
) -> dict[str, Any]:
    """Simulate and fit simulations start .. start + count - 1 of seed (several groupings)."""

def simulate_groupings(design: GroupingsDesign, seed: int, index: int) -> tuple[Any, Any]:
    """X and y of one simulation (for tests)."""
