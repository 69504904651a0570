// Data generation for one simulated study, straight into per-cluster cross-products.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "glmm.hpp"
#include "lmm.hpp"
#include "rng.hpp"
#include "spec.hpp"

namespace mcps {

// One unit-variance draw of the given shape (simulate_robust.cpp); Shape::normal is
// exactly rng.normal().
double draw_shape(Stream& rng, Shape shape, double param);

// Throws std::invalid_argument naming the first bad value of spec.robust (which only
// the linear mixed model takes) or of spec.predictor_values.
void check_robustness(const EngineSpec& spec);

// What one simulation draws before its data when the spec has per-simulation
// perturbations (Robustness::per_simulation), from the simulation's substream 2.
struct SimDraw {
    bool active = false;           // false: the spec's own values (no draws)
    double beta[kMaxFixedEffects + 1] = {};
    double re_scale = 1.0;         // multiplies the random intercept
    const double* re_chol = nullptr;  // a drawn random-effect factor (variance_draws), or none
    Shape residual = Shape::normal;
    double residual_param = 0.0;
};

// What generation needs from the spec, computed once per spec.
struct Generator {
    explicit Generator(const EngineSpec& spec);
    // Fill pr with simulation `index` of master `seed` (pr is reshaped as needed).
    void generate(uint64_t seed, uint64_t index, Problem& pr) const;
    // The two ways: every row, or each cluster's cross-products drawn directly.
    // rows_out (tests): each row appended as [cluster, X (p columns), y].
    void generate_rows(uint64_t seed, uint64_t index, const int64_t* sizes, Problem& pr,
                       const SimDraw& sim = SimDraw(), std::vector<double>* rows_out = nullptr) const;
    // Simulation `index` generated row by row, as [cluster, X, y] rows (the engine's own
    // data when the design takes the row path: row_level or robust_rows).
    void simulated_rows(uint64_t seed, uint64_t index, std::vector<double>& out) const;
    void generate_sufficient(uint64_t seed, uint64_t index, const int64_t* sizes, Problem& pr,
                             const SimDraw& sim = SimDraw()) const;
    void generate_cells(uint64_t seed, uint64_t index, const int64_t* sizes, Problem& pr,
                        const SimDraw& sim = SimDraw()) const;
    // The perturbations of simulation `index` (simulate_robust.cpp).
    void draw_perturbation(uint64_t seed, uint64_t index, SimDraw& sim) const;
    // y's residuals for the nj rows of one cluster (the shape of sim, heteroskedastic
    // by the cluster's columns W, max_n apart), into y (simulate_robust.cpp).
    void draw_residuals(Stream& rng, const SimDraw& sim, const double* W, int64_t max_n, int64_t nj,
                        double* y) const;
    // A GLMM's simulation: every row, y drawn from spec.family (simulate_glmm.cpp).
    void generate_glmm(uint64_t seed, uint64_t index, GlmmProblem& pr) const;
    // The row-level path shared by the Gaussian rows and the GLMM: builds each cluster's
    // columns [X y] and hands them to sink(j, n_j, coefficients, W, max_n, rng) to draw y.
    using ClusterSink = std::function<void(int, int64_t, const double*, double*, int64_t, Stream&)>;
    void for_each_cluster(uint64_t seed, uint64_t index, const int64_t* sizes, std::vector<double>& scratch,
                          const ClusterSink& sink, const SimDraw& sim = SimDraw()) const;
    void cluster_coefficients(Stream& rng, double* coef, const SimDraw& sim = SimDraw()) const;
    void draw_units(int v, Stream& rng, double* out, int64_t n) const;
    // Predictor v's column(s) over n units: draw_units, or for a factor's first dummy
    // all its dummies (column k at out + k stride; the other dummies draw nothing).
    void draw_column(int v, Stream& rng, double* out, size_t stride, int64_t n) const;
    void draw_factor(int v, Stream& rng, double* out, size_t stride, int64_t n) const;
    void draw_sizes(uint64_t seed, uint64_t index, std::vector<int64_t>& out) const;
    // Correlate the normal predictors whose columns are cols[v] (n values each, v's
    // of one level; others null) in place: col_v = sum_u mix[v][u] col_u.
    void mix_columns(double* const* cols, int64_t n) const;

    // How one predictor's values are drawn over n units (the rows of a cluster, or
    // the clusters of a study for a cluster-level predictor).
    enum class Draw : uint8_t { normal, bernoulli, balanced, fixed, quantile, bootstrap };
    // Draws that read spec.predictor_values: only the row path generates them.
    static bool from_values(Draw d) { return d == Draw::fixed || d == Draw::quantile || d == Draw::bootstrap; }
    // An empirical predictor's normal draws (n values, after mixing) mapped in place to
    // the type-7 quantiles of its sorted values at Phi(z).
    void to_quantiles(int v, double* col, int64_t n) const;

    const EngineSpec& spec;
    std::vector<double> re_chol;   // q x q lower factor of the random-effect covariance
    std::vector<uint8_t> binary;   // per predictor
    std::vector<Draw> draw;        // per predictor, from its distribution and allocation
    std::vector<int> quantile_preds;  // predictors drawn by Draw::quantile, in order
    int bootstrap_first = -1;      // the first Draw::bootstrap predictor: it draws the rows
    std::vector<int> cluster_slot; // per predictor: its index among the cluster-level ones, or -1
    std::vector<int> cluster_level;  // the cluster-level predictors, in order
    bool mixed = false;              // some normal predictors are correlated
    bool main_effects_only;        // every term is one predictor: column t+1 = predictor term_pred[t]
    std::vector<int> term_pred;
    bool sufficient;               // all columns Gaussian: draw W_j'W_j from its distribution
    bool robust_rows = false;      // non-normal or heteroskedastic residuals: every row
    // Designs with cluster-level or balanced predictors (main effects only, at most
    // kMaxCellBinary binary level-1 predictors): W_j'W_j drawn given the split of the
    // cluster's rows into cells by their binary values (generate_cells).
    // Factors' dummies are cell columns too (mutually exclusive: a factor of K levels
    // makes K cells, not 2^(K-1)), up to kMaxCellBits columns in all.
    static constexpr int kMaxCellBinary = 3;
    static constexpr int kMaxCellBits = 6;
    bool cells = false;
    std::vector<int> factor_width;   // per predictor: its factor's dummies if it is the first, else 0
    std::vector<double> cond_p;      // per predictor: P(1) given its factor's earlier dummies are 0
    std::vector<int> exclude_bits;   // per predictor: cell bits of its factor's earlier dummies
    std::vector<int> cell_pos;     // per predictor: its column among the cells' base columns
    int cell_binary = 0, cell_gauss = 0;  // level-1 binary and normal predictors
};

// A GLMM outcome given its linear predictor: 0/1 with P(1) = the inverse link of eta
// (binomial), or a Poisson count with mean exp(eta) (simulate_glmm.cpp).
double draw_outcome(GlmFamily family, GlmLink link, double eta, Stream& rng);

}  // namespace mcps
