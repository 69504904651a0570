// Simulations with several grouping factors: nested (pupils in classes in schools) and
// crossed (subjects x items).  Every row of the design is generated (the layout of rows
// over the groupings' levels is fixed by the spec; Python lays it out), then fitted with
// the general fit that fit_lmm uses on real data (lmm_general.hpp), or for a GLMM family
// with fit_glmm's Laplace fit (glmm_general.hpp) and tested by Wald z.
#pragma once

#include <cstdint>
#include <vector>

#include "chunk.hpp"
#include "rng.hpp"
#include "spec.hpp"

namespace mcps {

// How a predictor's values are drawn over its units (rows or one grouping's levels).
// fixed: not drawn, the design lays the values out (predictor_fixed: a Latin square).
enum class UnitDraw : int { normal = 0, bernoulli = 1, balanced = 2, fixed = 3 };

struct GroupingsDesign {
    // Per predictor: distribution, P(1) when binary, and the unit it is drawn on:
    // -1 each row, g one value per level of grouping g (constant within it).
    std::vector<UnitDraw> predictor_draw;
    std::vector<double> predictor_p;
    std::vector<int> predictor_unit;
    // Correlated normal predictors (drawn on the same units): predictor v = sum_u mix[v][u]
    // z_u over the independent draws z (n_pred x n_pred, row-major, lower triangular: the
    // Cholesky factor of their correlation); empty = independent.
    std::vector<double> predictor_mix;
    // Factors: a factor with K levels is K - 1 consecutive Bernoulli predictors (its
    // dummies, P(level) = predictor_p, the first level the rest) on the same units, each
    // holding the index of the factor's first dummy (-1: not a factor's); empty = none.
    std::vector<int> predictor_factor;
    // Per predictor drawn `fixed`: its value in every row (the same in every simulation);
    // empty for the others (and all empty, or no entries, when none is fixed).
    std::vector<std::vector<double>> predictor_fixed;
    // Balanced predictors: exactly round(p n) ones among the n units of each block
    // (row_block per row; level_block[g] per level of grouping g: its parent's level for
    // a nested child, 0 for a top-level grouping).
    std::vector<int64_t> row_block;
    std::vector<std::vector<int64_t>> level_block;
    std::vector<std::vector<int>> terms;   // fixed columns after the intercept: products of predictors
    std::vector<double> beta;              // fixed effects, intercept first
    // Per grouping: each row's level, the number of levels, the fixed columns with a
    // random effect and their q x q covariance (row-major, residual variance 1).
    std::vector<std::vector<int64_t>> codes;
    std::vector<int> n_levels;
    std::vector<std::vector<int>> z_columns;
    std::vector<std::vector<double>> re_cov;
    // The fitted random-effect terms, in the fit's order (largest grouping first, as
    // lme4 orders them): each term's grouping and its columns (a subset of that
    // grouping's z_columns; '||' splits a grouping into several terms).
    std::vector<int> fit_grouping;
    std::vector<std::vector<int>> fit_z_columns;
    // The fitted terms in the order their variance components are reported (the
    // design's own order, whatever the sizes make lme4's): indices into fit_grouping.
    std::vector<int> component_order;
    std::vector<std::vector<int>> joint_tests;
    Estimator estimator = Estimator::reml;
    DfMethod df_method = DfMethod::satterthwaite;
    // The outcome: gaussian (identity; residual variance 1) or a GLMM's family and link,
    // the outcome drawn given the linear predictor (beta and re_cov on the link scale).
    GlmFamily family = GlmFamily::gaussian;
    GlmLink link = GlmLink::identity;

    int64_t n_rows() const { return int64_t(row_block.size()); }
    int n_fixed() const { return int(terms.size()) + 1; }
    // Throws std::invalid_argument naming the first inconsistency.
    void check() const;
};

// What every simulation of a design shares, prepared once per chunk: each grouping's
// Cholesky factor of re_cov, the units of each block of a balanced draw, and the fixed
// columns' predictors flattened (term t's in term_pred[term_at[t] .. term_at[t + 1])).
struct GroupingsPlan {
    explicit GroupingsPlan(const GroupingsDesign& d);
    std::vector<std::vector<double>> chol;
    // blocks[0]: the rows' blocks, blocks[g + 1]: grouping g's (filled when a balanced
    // predictor is drawn on those units, else empty).
    std::vector<std::vector<std::vector<int64_t>>> blocks;
    std::vector<int> term_at, term_pred;
    std::vector<size_t> b_at;  // per grouping: where its levels' effects start in the draws
    // Per grouping whose rows come in runs of one level (data sorted by it; not the inner
    // factor of a crossed design): run r is rows run_at[g][r] .. run_at[g][r + 1] of level
    // run_level[g][r].  Empty otherwise.
    std::vector<std::vector<int64_t>> run_at, run_level;
};

// One thread's buffers, reused from simulation to simulation.
struct GroupingsScratch {
    std::vector<double> b, values, unit, cols, eta;
    std::vector<int64_t> idx;
    std::vector<int> level;
};

// Simulation `index` of master `seed`: X (rows x fixed effects, row-major) and y.
void simulate_groupings(const GroupingsDesign& d, uint64_t seed, uint64_t index, std::vector<double>& X,
                        std::vector<double>& y);
// The same with the design's plan and reusable buffers (the chunk's loop).
void simulate_groupings(const GroupingsDesign& d, const GroupingsPlan& plan, uint64_t seed, uint64_t index,
                        std::vector<double>& X, std::vector<double>& y, GroupingsScratch& sc);

// Simulations start .. start + count - 1, fitted and tested; the outputs of run_chunk
// (chunk.hpp), the components being sigma2 (gaussian only), then per fitted term (in
// component_order) its variances and the correlations of its pairs.  Results never depend on n_threads.
// (groupings_chunk.cpp)
ChunkOutput run_groupings_chunk(const GroupingsDesign& d, uint64_t seed, uint64_t start, int64_t count,
                                int n_threads);

}  // namespace mcps
