// The engine's plain description of a simulated design, filled once from Python's
// SimulationSpec (engine.py) and trusted by everything below the bindings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mcps {

enum class DfMethod : int { satterthwaite = 0, between_within = 1, residual = 2, z = 3 };

struct EngineSpec {
    std::vector<bool> predictor_binary;    // per predictor: Bernoulli(p) instead of N(0, 1)
    std::vector<double> predictor_p;       // per predictor: P(x = 1) when binary
    std::vector<std::vector<int>> terms;   // fixed columns after the intercept: products of predictors
    std::vector<double> beta;              // fixed effects, intercept first
    std::vector<int> z_columns;            // fixed columns that carry a random effect (0 = intercept)
    std::vector<double> re_cov;            // q x q random-effect covariance, row-major, residual var 1
    std::vector<int64_t> cluster_sizes;    // rows per cluster
    bool reml = true;
    // Generate every row (true) instead of drawing each cluster's cross-products from
    // their exact distribution when all columns are Gaussian (false, the default).
    bool row_level = false;
    int df_method = 0;                     // a DfMethod

    int n_fixed() const { return int(terms.size()) + 1; }
    int n_random() const { return int(z_columns.size()); }
    // Throws std::invalid_argument naming the first inconsistency.
    void check() const;
};

}  // namespace mcps
