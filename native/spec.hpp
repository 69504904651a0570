// The engine's plain description of a simulated design, filled once from Python's
// SimulationSpec (engine.py) and trusted by everything below the bindings, which run
// check() when they build one: Python cannot make an invalid or mutable spec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mcps {

// The engine's limits, set by the fixed per-cluster buffers of the fit
// (lmm_deviance.cpp, lmm_derivatives.cpp) and of data generation (simulate.cpp).
constexpr int kMaxFixedEffects = 63;  // p: W = [X y] has at most 64 columns
constexpr int kMaxRandomEffects = 8;  // q
// Smallest cluster that drawn sizes (cluster_size_cv) may have.
constexpr int kMinClusterSize = 5;

// Reference distribution (degrees of freedom) of the Wald t tests.
enum class DfMethod : int { satterthwaite = 0, between_within = 1, residual = 2, z = 3, kenward_roger = 4 };
// Fit criterion.
enum class Estimator : int { reml = 0, ml = 1 };

// Where a predictor varies: between the rows of a cluster, or only between clusters
// (one value per cluster, as the treatment of a cluster-randomised trial).
enum class Level : int { observation = 0, cluster = 1 };
// How a binary predictor's ones are placed: independent Bernoulli(p) draws, or exactly
// round(p n) ones among the n units of its level (rows of a cluster, or the clusters),
// the units chosen at random.
enum class Allocation : int { independent = 0, balanced = 1 };
// The outcome's conditional distribution and link: gaussian (identity, the LMM) or a
// GLMM's binomial (logit, probit; 0/1 outcomes) or Poisson (log).
enum class GlmFamily : int { gaussian = 0, binomial = 1, poisson = 2 };
enum class GlmLink : int { identity = 0, logit = 1, probit = 2, log = 3 };

// The shape of a unit-variance draw (residuals, random effects; simulate_robust.cpp):
// normal, Student t (param = df > 2), a standardised chi-square (param = df; skewness
// sqrt(8 / df), to the right or mirrored to the left), uniform, or a contaminated
// normal (param = weight w of a component with 3 times the SD of the other).
// How a predictor's predictor_values are used: cycled (row i of every cluster takes the
// (i mod size)-th: a fixed within-cluster design), as an empirical distribution (the
// values sorted; each unit takes their type-7 quantile at Phi(z) of its standard normal
// z, so it is correlated as a normal predictor), or as one column of a table whose rows
// are drawn whole (every bootstrap predictor of a row takes the same, uniformly drawn
// row).  The last two are MCPower 1.4.1's upload_data modes "none"/"partial" and "strict".
enum class ValuesUse : int { cycle = 0, quantile = 1, bootstrap = 2 };

enum class Shape : int { normal = 0, t = 1, right_skewed = 2, left_skewed = 3, uniform = 4, mixture = 5 };

// Departures from the textbook model (all off by default; then the engine draws exactly
// as without them).  Residual and random-effect shapes keep the set variances.
struct Robustness {
    Shape residual_shape = Shape::normal;
    double residual_param = 0.0;
    Shape re_shape = Shape::normal;  // each random effect's independent standard draws
    double re_param = 0.0;
    // Heteroskedasticity (MCPower 1.4.1's): the residual variance of a row is
    // exp(het_gamma z) / exp(het_gamma^2 / 2), z = (het_weights' x - het_center) / het_scale
    // the standardised driver over the fixed columns x (intercept first).
    double het_gamma = 0.0;
    std::vector<double> het_weights;
    double het_center = 0.0, het_scale = 1.0;
    // Per-simulation perturbations of a scenario, drawn from the simulation's substream 2:
    // each fixed effect b becomes b + effect_jitter |b| N(0, 1), not crossing 0; the
    // random-intercept variance tau^2 becomes max(tau^2 + icc_noise_sd N(0, 1), 0); with
    // probability residual_change_prob the residual shape is one of residual_pool (chosen
    // uniformly, with its parameter from residual_pool_param).
    double effect_jitter = 0.0;
    double icc_noise_sd = 0.0;
    double residual_change_prob = 0.0;
    std::vector<Shape> residual_pool;
    std::vector<double> residual_pool_param;
    // A pilot's uncertainty about its variances: rows of q x q + 1 values, each the lower
    // Cholesky factor (row-major) of a random-effect covariance and the factor on the
    // fixed effects after the intercept (1 / the residual SD, both in the fitted model's
    // units); each simulation takes one row, uniformly, from substream 2 after the above.
    std::vector<double> variance_draws;

    bool residual_normal() const {
        return residual_shape == Shape::normal && het_gamma == 0.0 && residual_change_prob == 0.0;
    }
    bool per_simulation() const {
        return effect_jitter > 0.0 || icc_noise_sd > 0.0 || residual_change_prob > 0.0 || !variance_draws.empty();
    }
    bool is_default() const {
        return residual_normal() && re_shape == Shape::normal && !per_simulation();
    }
};

struct EngineSpec {
    // Per predictor: its distribution, level and allocation (design features are data).
    std::vector<bool> predictor_binary;    // per predictor: Bernoulli(p) instead of N(0, 1)
    std::vector<double> predictor_p;       // per predictor: P(x = 1) when binary
    // Empty: every predictor at Level::observation, Allocation::independent (the defaults).
    std::vector<Level> predictor_level;
    std::vector<Allocation> predictor_allocation;  // balanced only for binary predictors
    // Correlated normal predictors: predictor v = sum_u mix[v][u] z_u over the independent
    // draws z of the normal predictors of v's level (n_pred x n_pred, row-major, lower
    // triangular: the Cholesky factor of their correlation); empty = independent.
    std::vector<double> predictor_mix;
    // Factors: a factor with K levels is K - 1 consecutive binary predictors (its dummies,
    // P(level) = predictor_p, the first level the rest), each holding the index of the
    // factor's first dummy here (-1: not a factor's); empty = no factors.
    std::vector<int> predictor_factor;
    std::vector<std::vector<int>> terms;   // fixed columns after the intercept: products of predictors
    // Sets of fixed columns tested jointly by an F test (a factor's dummies).
    std::vector<std::vector<int>> joint_tests;
    std::vector<double> beta;              // fixed effects, intercept first
    std::vector<int> z_columns;            // fixed columns that carry a random effect (0 = intercept)
    std::vector<double> re_cov;            // q x q random-effect covariance, row-major, residual var 1
    std::vector<int64_t> cluster_sizes;    // rows per cluster
    // > 0: each simulation draws its own sizes, with this coefficient of variation
    // around the mean of cluster_sizes, at least kMinClusterSize each, same total.
    double cluster_size_cv = 0.0;
    Estimator estimator = Estimator::reml;
    DfMethod df_method = DfMethod::satterthwaite;
    // Non-gaussian: y drawn from the family given the linear predictor (intercept beta[0]),
    // fitted as a GLMM (Laplace, or nagq-node adaptive quadrature) and tested by Wald z.
    GlmFamily family = GlmFamily::gaussian;
    GlmLink link = GlmLink::identity;
    int nagq = 1;
    // Generate every row (true) instead of drawing each cluster's cross-products from
    // their exact distribution when all columns are Gaussian (false, the default); for
    // the tests and the benchmark, which compare the two.
    bool row_level = false;
    // A misspecified analysis (test_formula): the data keep every column above, the fit
    // uses only the fixed columns fit_columns (ascending, 0 = intercept first) with random
    // effects on fit_z_columns (each one of fit_columns). Both empty: the true model.
    // Outputs and joint_tests then refer to the analysis's columns (n_fit()).
    std::vector<int> fit_columns;
    std::vector<int> fit_z_columns;
    Robustness robust;
    // Per predictor: empty (drawn) or its values in every cluster, row i taking the
    // (i mod size)-th (a fixed within-cluster design such as days 0..9, from pilot data;
    // a normal, observation-level predictor); empty = all drawn.
    std::vector<std::vector<double>> predictor_values;
    std::vector<ValuesUse> predictor_values_use;  // per predictor; empty = all cycled

    Level level(int v) const { return predictor_level.empty() ? Level::observation : predictor_level[v]; }
    Allocation allocation(int v) const {
        return predictor_allocation.empty() ? Allocation::independent : predictor_allocation[v];
    }
    int factor_of(int v) const { return predictor_factor.empty() ? -1 : predictor_factor[v]; }
    int n_fixed() const { return int(terms.size()) + 1; }
    int n_random() const { return int(z_columns.size()); }
    int n_fit() const { return fit_columns.empty() ? n_fixed() : int(fit_columns.size()); }
    // Throws std::invalid_argument naming the first inconsistency.
    void check() const;
};

}  // namespace mcps
