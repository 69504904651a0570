// Data generation for one simulated study, straight into per-cluster cross-products.
#pragma once

#include <cstdint>
#include <vector>

#include "lmm.hpp"
#include "rng.hpp"
#include "spec.hpp"

namespace mcps {

// What generation needs from the spec, computed once per spec.
struct Generator {
    explicit Generator(const EngineSpec& spec);
    // Fill pr with simulation `index` of master `seed` (pr is reshaped as needed).
    void generate(uint64_t seed, uint64_t index, Problem& pr) const;
    // The two ways: every row, or each cluster's cross-products drawn directly.
    void generate_rows(uint64_t seed, uint64_t index, Problem& pr) const;
    void generate_sufficient(uint64_t seed, uint64_t index, Problem& pr) const;
    void cluster_coefficients(Stream& rng, double* coef) const;

    const EngineSpec& spec;
    std::vector<double> re_chol;   // q x q lower factor of the random-effect covariance
    std::vector<uint8_t> binary;   // per predictor
    bool main_effects_only;        // every term is one predictor: column t+1 = predictor term_pred[t]
    std::vector<int> term_pred;
    bool sufficient;               // all columns Gaussian: draw W_j'W_j from its distribution
};

}  // namespace mcps
