// The chunk loop of simulations with several grouping factors (see simulate_groupings.hpp):
// each simulation generated with the chunk's plan, fitted (lmm_general.hpp, or for a GLMM
// glmm_general.hpp) and its tests and variance components stored.
#include <cmath>
#include <limits>
#include <stdexcept>

#include "glmm_general.hpp"
#include "lmm_general.hpp"
#include "parallel.hpp"
#include "simulate.hpp"
#include "simulate_groupings.hpp"

namespace mcps {

namespace {

// The per-term variances and pair correlations of a fit (in component_order) into row.
void store_terms(const GroupingsDesign& d, const std::vector<std::vector<double>>& re_cov, double* row) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int k : d.component_order) {
        const int q = int(d.fit_z_columns[k].size());
        const std::vector<double>& G = re_cov[k];
        for (int a = 0; a < q; ++a) *row++ = G[a * q + a];
        for (int a = 0; a < q; ++a)
            for (int c = a + 1; c < q; ++c) {
                const double v = G[a * q + a] * G[c * q + c];
                *row++ = v > 0.0 ? G[a * q + c] / std::sqrt(v) : nan;
            }
    }
}

// Fit simulation i's GLMM as fit_glmm does (Laplace) and store its Wald z tests; a failed
// or degenerate fit (separation, an outcome that never varies) stays "not converged".
void glmm_simulation(const GroupingsDesign& d, const std::vector<double>& X, const std::vector<double>& y,
                     int64_t i, ChunkOutput& out) {
    const int p = d.n_fixed(), K = int(d.fit_grouping.size()), n_joint = int(d.joint_tests.size());
    std::vector<glmm_general::Term> terms(K);
    for (int k = 0; k < K; ++k) {
        terms[k].codes = d.codes[d.fit_grouping[k]];
        terms[k].n_levels = d.n_levels[d.fit_grouping[k]];
        terms[k].z_columns = d.fit_z_columns[k];
    }
    glmm_general::Problem pr;
    pr.build(d.family, d.link, X.data(), y.data(), d.n_rows(), p, std::move(terms));
    const glmm_general::Fit f = glmm_general::fit(pr);
    out.iterations[i] = f.iterations;
    if (!f.converged) return;
    const std::vector<double> df(p, std::numeric_limits<double>::infinity());
    double joint_p[kMaxFixedEffects];
    for (int k = 0; k < n_joint; ++k) {
        joint_p[k] = wald_f_test(f.beta, f.vcov, p, df, d.joint_tests[k]).pvalue;
        if (std::isnan(joint_p[k])) return;  // counted as a failed fit, never as "not significant"
    }
    for (int c = 0; c < p; ++c)
        if (!std::isfinite(std::sqrt(f.vcov[c * p + c])) || !std::isfinite(f.beta[c])) return;
    out.store_wald(i, f.beta, f.vcov, df, joint_p, f.singular);
    store_terms(d, f.re_cov, &out.components[size_t(i) * out.n_components]);
}

}  // namespace

ChunkOutput run_groupings_chunk(const GroupingsDesign& d, uint64_t seed, uint64_t start, int64_t count,
                                int n_threads) {
    d.check();
    if (count < 0) throw std::invalid_argument("count must be >= 0");
    const int p = d.n_fixed(), K = int(d.fit_grouping.size()), n_joint = int(d.joint_tests.size());
    int n_components = d.family == GlmFamily::gaussian ? 1 : 0;
    for (const auto& z : d.fit_z_columns) n_components += int(z.size() * (z.size() + 1) / 2);
    ChunkOutput out = ChunkOutput::all_failed(count, p, n_joint, n_components);
    std::vector<general::TermInput> terms(K);
    for (int k = 0; k < K; ++k) {
        terms[k].codes = d.codes[d.fit_grouping[k]].data();
        terms[k].n_levels = d.n_levels[d.fit_grouping[k]];
        terms[k].z_columns = d.fit_z_columns[k];
    }
    const int64_t n = d.n_rows();
    const GroupingsPlan plan(d);

    auto one = [&](int64_t i, std::vector<double>& X, std::vector<double>& y, GroupingsScratch& draws) {
        simulate_groupings(d, plan, seed, start + uint64_t(i), X, y, draws);
        if (d.family != GlmFamily::gaussian) {
            glmm_simulation(d, X, y, i, out);
            return;
        }
        general::Result f;
        try {
            f = general::fit_general(X.data(), y.data(), n, p, terms, d.estimator, d.df_method, d.joint_tests,
                                     /*first_converged=*/true);
        } catch (const std::runtime_error&) {
            return;  // not evaluable (collinear columns in this data set): a failed fit
        }
        out.iterations[i] = f.iterations;
        if (!f.converged) return;
        bool finite = true;
        for (int c = 0; c < p; ++c)
            finite = finite && std::isfinite(f.beta[c]) && std::isfinite(f.se[c]) && std::isfinite(f.pvalue[c]) &&
                     !std::isnan(f.df[c]);
        for (const auto& j : f.joint) finite = finite && !std::isnan(j.pvalue);
        if (!finite) return;  // counted as a failed fit, never as "not significant"
        double joint_p[kMaxFixedEffects];
        for (int k = 0; k < n_joint; ++k) joint_p[k] = f.joint[k].pvalue;
        out.store_tests(i, f.beta.data(), f.se.data(), f.df.data(), f.pvalue.data(), joint_p, f.singular);
        double* row = &out.components[size_t(i) * out.n_components];
        *row = f.sigma2;
        store_terms(d, f.re_cov, row + 1);
    };
    struct Scratch {
        std::vector<double> X, y;
        GroupingsScratch draws;
    };
    for_each_simulation(count, n_threads, [] { return Scratch(); },
                        [&](int64_t i, Scratch& sc) { one(i, sc.X, sc.y, sc.draws); });
    return out;
}


}  // namespace mcps
