// Entry points: a chunk of simulations of one design, and one fit of real data.
#pragma once

#include <cstdint>
#include <vector>

#include "inference.hpp"
#include "lmm.hpp"
#include "spec.hpp"

namespace mcps {

struct ChunkOutput {
    int64_t count = 0;
    int p = 0;
    std::vector<uint8_t> converged, singular;
    std::vector<int32_t> iterations;
    std::vector<double> estimate, se, df, pvalue;  // count x p, row-major
    int n_joint = 0;
    std::vector<double> joint_pvalue;              // count x n_joint: spec.joint_tests' F tests
    // count x n_components, the fitted variance components: sigma2 (gaussian only), each
    // random effect's variance, then the correlation of each pair a < b (NaN when one of
    // the two variances is 0).  NaN for failed fits.
    int n_components = 0;
    std::vector<double> components;

    // count rows of failed fits (NaN results), each to be stored when its fit succeeds.
    static ChunkOutput all_failed(int64_t count, int p, int n_joint, int n_components);
    // Row i from a fit whose tests passed their checks (finite, no NaN): p values each of
    // beta, se, df and pvalue, the n_joint joint tests' p-values; converged, and singular as
    // the fit says.
    void store_tests(int64_t i, const double* beta, const double* se, const double* df,
                     const double* pvalue, const double* joint_p, bool is_singular);
    // The same for Wald tests on df (z where infinite): the SEs from vcov (p x p).
    void store_wald(int64_t i, const std::vector<double>& beta, const std::vector<double>& vcov,
                    const std::vector<double>& df, const double* joint_p, bool is_singular);
};

// Simulations start .. start + count - 1 of `seed`; results never depend on n_threads.
// Runs spec.check() too, for C++ callers that fill an EngineSpec themselves.
ChunkOutput run_chunk(const EngineSpec& spec, uint64_t seed, uint64_t start, int64_t count, int n_threads);

struct DataFitOutput {
    Fit fit;
    WaldTests tests;
    std::vector<JointTest> joint;  // one per joint test asked for
};

// Fit y ~ X + (Z | group) to data: X is n x p row-major, group codes in [0, n_groups),
// Z = the columns z_columns of X, uncorrelated random effects (Z || group) when diagonal.
// joint_tests: sets of columns of X each tested jointly by an F test.
// Throws std::invalid_argument on bad input.
DataFitOutput fit_data(const double* X, const double* y, const int64_t* group, int64_t n, int p,
                       int n_groups, const std::vector<int>& z_columns, bool diagonal,
                       Estimator estimator, DfMethod method,
                       const std::vector<std::vector<int>>& joint_tests = {});

}  // namespace mcps
