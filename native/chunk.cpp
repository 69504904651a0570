#include "chunk.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "glmm.hpp"
#include "parallel.hpp"
#include "simulate.hpp"

namespace mcps {

namespace {

void check_sizes(int p, int q) {
    if (p < 1 || p > kMaxFixedEffects)
        throw std::invalid_argument("number of fixed effects = " + std::to_string(p) + " is not in [1, " +
                                    std::to_string(kMaxFixedEffects) + "]");
    if (q < 1 || q > kMaxRandomEffects)
        throw std::invalid_argument("number of random effects = " + std::to_string(q) + " is not in [1, " +
                                    std::to_string(kMaxRandomEffects) + "]");
}

// An enum converted from an out-of-range integer (possible from Python) is refused.
void check_choices(Estimator estimator, DfMethod method) {
    if (estimator != Estimator::reml && estimator != Estimator::ml)
        throw std::invalid_argument("estimator = " + std::to_string(int(estimator)) + " is not an Estimator (reml, ml)");
    if (int(method) < 0 || int(method) > int(DfMethod::kenward_roger))
        throw std::invalid_argument("df_method = " + std::to_string(int(method)) +
                                    " is not a DfMethod (satterthwaite, between_within, residual, z, "
                                    "kenward_roger)");
    if (method == DfMethod::kenward_roger && estimator != Estimator::reml)
        throw std::invalid_argument("df_method = kenward_roger needs the REML estimator (pbkrtest's "
                                    "definition), not ML");
}

// A start that is safely inside the parameter space: on a diagonal of exactly zero the
// profiled deviance has zero slope in theta, so a start there could never leave it.
std::vector<double> interior(std::vector<double> theta, int q, double floor) {
    const std::vector<double> lb = theta_lower(q);
    for (size_t k = 0; k < theta.size(); ++k)
        if (lb[k] == 0.0) theta[k] = std::max(theta[k], floor);
    return theta;
}

// The variance components of a fit into row i of out.components (layout: chunk.hpp).
void store_components(const std::vector<double>& G, int q, bool gaussian, double sigma2, int64_t i,
                      ChunkOutput& out) {
    double* row = &out.components[size_t(i) * out.n_components];
    if (gaussian) *row++ = sigma2;
    for (int a = 0; a < q; ++a) *row++ = G[a * q + a];
    for (int a = 0; a < q; ++a)
        for (int b = a + 1; b < q; ++b) {
            const double v = G[a * q + a] * G[b * q + b];
            *row++ = v > 0.0 ? G[a * q + b] / std::sqrt(v) : std::numeric_limits<double>::quiet_NaN();
        }
}

// Fit simulation i's GLMM (from opt's start, then from lme4's if that fails) and store
// its Wald tests: z (glmer's default) or t / F on SAS GLIMMIX's between-within df; a
// failed or degenerate fit stays "not converged" with NaN entries.
void glmm_simulation(const GlmmProblem& gp, const GlmmFitOptions& opt, DfMethod method,
                     const std::vector<std::vector<int>>& joint_tests, int64_t i, ChunkOutput& out) {
    const int p = gp.p;
    GlmmFit f = fit_glmm(gp, opt);
    if (!f.converged && !f.degenerate) {  // once more from lme4's start (Lambda = I, beta
                                          // from the GLM); separated data stay separated
        GlmmFitOptions again = opt;
        again.start_theta.clear();
        again.start_beta.clear();
        GlmmFit g = fit_glmm(gp, again);
        g.iterations += f.iterations;
        f = std::move(g);
    }
    out.iterations[i] = f.iterations;
    if (!f.converged) return;
    for (int c = 0; c < p; ++c) {
        const double se = std::sqrt(f.vcov[c * p + c]);
        if (!std::isfinite(se) || !std::isfinite(f.beta[c])) return;
    }
    const std::vector<double> df =
        method == DfMethod::between_within
            ? glmm_between_within_df(gp)
            : std::vector<double>(p, std::numeric_limits<double>::infinity());
    const int n_joint = int(joint_tests.size());
    double joint_p[kMaxFixedEffects];
    for (int k = 0; k < n_joint; ++k) {
        joint_p[k] = wald_f_test(f.beta, f.vcov, p, df, joint_tests[k]).pvalue;
        if (std::isnan(joint_p[k])) return;  // counted as a failed fit, never as "not significant"
    }
    out.store_wald(i, f.beta, f.vcov, df, joint_p, f.singular);
    store_components(f.re_cov, gp.q, false, 0.0, i, out);
}


// The analysis model's data from the true model's: the per-cluster cross-products,
// column sums and rows of the fixed columns `cols` (ascending) and y, with random effects
// on the true columns `z` (each one of cols). The fit then sees only these columns.
void restrict_problem(const Problem& full, const std::vector<int>& cols, const std::vector<int>& z, Problem& out) {
    const int p = int(cols.size()), m = p + 1, mf = full.m();
    std::vector<int> zc(z.size());
    for (size_t a = 0; a < z.size(); ++a)
        zc[a] = int(std::find(cols.begin(), cols.end(), z[a]) - cols.begin());
    out.reset(p, int(z.size()), full.n_clusters, zc);
    std::vector<int> src(cols);
    src.push_back(full.p);  // y
    for (int j = 0; j < full.n_clusters; ++j) {
        const double* S = &full.cross[size_t(j) * mf * mf];
        double* T = &out.cross[size_t(j) * m * m];
        for (int r = 0; r < m; ++r) {
            out.colsum[size_t(j) * m + r] = full.colsum[size_t(j) * mf + src[r]];
            for (int c = 0; c < m; ++c) T[r * m + c] = S[src[r] * mf + src[c]];
        }
        out.rows[j] = full.rows[j];
    }
    out.n_obs = full.n_obs;
    out.diagonal = full.diagonal;
}

// The true covariance of the analysis's random effects (fit_z_columns among z_columns),
// the start of its fits; the true re_cov without a misspecified analysis.
std::vector<double> analysis_re_cov(const EngineSpec& spec) {
    if (spec.fit_columns.empty()) return spec.re_cov;
    const int q = spec.n_random(), qa = int(spec.fit_z_columns.size());
    std::vector<int> pos(qa);
    for (int a = 0; a < qa; ++a)
        pos[a] = int(std::find(spec.z_columns.begin(), spec.z_columns.end(), spec.fit_z_columns[a]) -
                     spec.z_columns.begin());
    std::vector<double> g(size_t(qa) * qa);
    for (int a = 0; a < qa; ++a)
        for (int b = 0; b < qa; ++b) g[a * qa + b] = spec.re_cov[pos[a] * q + pos[b]];
    return g;
}

// fit_columns / fit_z_columns: both empty, or a sub-model of the true one.
void check_analysis(const EngineSpec& spec) {
    const auto& cols = spec.fit_columns;
    const auto& z = spec.fit_z_columns;
    if (cols.empty() && z.empty()) return;
    if (cols.empty() || z.empty())
        throw std::invalid_argument("fit_columns and fit_z_columns must both be empty or both be given");
    if (spec.family != GlmFamily::gaussian)
        throw std::invalid_argument("a misspecified analysis (fit_columns) is only supported for the gaussian LMM");
    for (size_t k = 0; k < cols.size(); ++k)
        if (cols[k] < 0 || cols[k] >= spec.n_fixed() || (k > 0 && cols[k] <= cols[k - 1]))
            throw std::invalid_argument("fit_columns must be ascending fixed columns of the true model");
    for (size_t a = 0; a < z.size(); ++a) {
        if (std::find(cols.begin(), cols.end(), z[a]) == cols.end())
            throw std::invalid_argument("fit_z_columns entry " + std::to_string(z[a]) + " is not one of fit_columns");
        if (std::find(spec.z_columns.begin(), spec.z_columns.end(), z[a]) == spec.z_columns.end())
            throw std::invalid_argument("fit_z_columns entry " + std::to_string(z[a]) +
                                        " has no random effect in the true model");
        for (size_t b = 0; b < a; ++b)
            if (z[b] == z[a]) throw std::invalid_argument("fit_z_columns has a repeated column");
    }
    check_sizes(int(cols.size()), int(z.size()));
}
}  // namespace

void EngineSpec::check() const {
    const int n_pred = int(predictor_binary.size());
    if (int(predictor_p.size()) != n_pred) throw std::invalid_argument("predictor_p must have one entry per predictor");
    if (!predictor_level.empty() && int(predictor_level.size()) != n_pred)
        throw std::invalid_argument("predictor_level must be empty or have one entry per predictor");
    if (!predictor_allocation.empty() && int(predictor_allocation.size()) != n_pred)
        throw std::invalid_argument("predictor_allocation must be empty or have one entry per predictor");
    for (int v = 0; v < n_pred; ++v) {
        if (level(v) != Level::observation && level(v) != Level::cluster)
            throw std::invalid_argument("predictor_level of predictor " + std::to_string(v) + " is not a Level");
        if (allocation(v) != Allocation::independent && allocation(v) != Allocation::balanced)
            throw std::invalid_argument("predictor_allocation of predictor " + std::to_string(v) + " is not an Allocation");
        if (allocation(v) == Allocation::balanced && !predictor_binary[v])
            throw std::invalid_argument("balanced allocation needs a binary predictor (predictor " + std::to_string(v) + ")");
    }
    if (!predictor_factor.empty() && int(predictor_factor.size()) != n_pred)
        throw std::invalid_argument("predictor_factor must be empty or have one entry per predictor");
    for (int v = 0; v < n_pred; ++v) {
        const int f = factor_of(v);
        if (f < 0) continue;
        if (f > v || factor_of(f) != f || (v > f && factor_of(v - 1) != f) || !predictor_binary[v] ||
            level(v) != level(f) || allocation(v) != allocation(f))
            throw std::invalid_argument("predictor_factor: the dummies of a factor must be consecutive binary "
                                        "predictors of one level and allocation (predictor " + std::to_string(v) + ")");
        double total = 0.0;
        for (int u = f; u <= v; ++u) total += predictor_p[u];
        if (!(total < 1.0)) throw std::invalid_argument("predictor_factor: a factor's level probabilities add up to 1 or more");
    }
    if (int(beta.size()) != n_fixed())
        throw std::invalid_argument("beta has " + std::to_string(beta.size()) + " entries, expected " +
                                    std::to_string(n_fixed()) + " (intercept and one per term)");
    for (const auto& t : terms) {
        if (t.empty()) throw std::invalid_argument("a fixed-effect term has no predictor");
        for (int v : t)
            if (v < 0 || v >= n_pred) throw std::invalid_argument("term refers to predictor " + std::to_string(v));
    }
    check_sizes(n_fixed(), n_random());
    for (const auto& cols : joint_tests) {
        if (cols.empty()) throw std::invalid_argument("a joint test has no columns");
        for (int c : cols)
            if (c < 1 || c >= n_fit()) throw std::invalid_argument("joint test column " + std::to_string(c) + " is not a fixed effect");
    }
    if (n_pred > 64) throw std::invalid_argument("at most 64 predictors are supported");
    for (int c : z_columns)
        if (c < 0 || c >= n_fixed()) throw std::invalid_argument("z_columns entry " + std::to_string(c) + " is not a fixed column");
    const int q = n_random();
    if (int(re_cov.size()) != q * q) throw std::invalid_argument("re_cov must be q x q");
    for (int a = 0; a < q; ++a)
        if (!(re_cov[a * q + a] >= 0.0)) throw std::invalid_argument("re_cov has a negative variance");
    if (cluster_sizes.size() < 2) throw std::invalid_argument("at least 2 clusters are needed");
    for (auto n : cluster_sizes)
        if (n < 1) throw std::invalid_argument("cluster sizes must be >= 1");
    if (!predictor_mix.empty()) {
        if (int(predictor_mix.size()) != n_pred * n_pred)
            throw std::invalid_argument("predictor_mix must be empty or n_pred x n_pred");
        for (int v = 0; v < n_pred; ++v)
            for (int u = 0; u < n_pred; ++u) {
                const double a = predictor_mix[v * n_pred + u];
                if (!std::isfinite(a)) throw std::invalid_argument("predictor_mix has a non-finite entry");
                if (a != 0.0 && u != v &&
                    (u > v || predictor_binary[v] || predictor_binary[u] || level(u) != level(v)))
                    throw std::invalid_argument("predictor_mix may only mix normal predictors of one level "
                                                "(lower triangle)");
            }
    }
    if (!(cluster_size_cv >= 0.0 && cluster_size_cv < 1e3))
        throw std::invalid_argument("cluster_size_cv must be a finite number >= 0");
    if (cluster_size_cv > 0.0) {
        int64_t total = 0;
        for (auto n : cluster_sizes) total += n;
        if (total < int64_t(kMinClusterSize) * int64_t(cluster_sizes.size()))
            throw std::invalid_argument("cluster_size_cv needs at least " + std::to_string(kMinClusterSize) +
                                        " rows per cluster on average");
    }
    for (double pr : predictor_p)
        if (!(pr >= 0.0 && pr <= 1.0)) throw std::invalid_argument("binary predictor probability outside [0, 1]");
    check_choices(estimator, df_method);
    check_analysis(*this);
    if (family == GlmFamily::gaussian) {
        if (link != GlmLink::identity || nagq != 1)
            throw std::invalid_argument("a gaussian outcome has the identity link and no quadrature");
    } else {
        check_glmm_options(family, link, nagq, q);
        if (df_method != DfMethod::z && df_method != DfMethod::between_within)
            throw std::invalid_argument("a GLMM is tested by Wald z or t on between-within df "
                                        "(df_method = z or between_within)");
        if (!z_columns.empty() && z_columns[0] != 0 && nagq > 1)
            throw std::invalid_argument("nagq > 1 needs a random intercept");
    }
}

ChunkOutput run_chunk(const EngineSpec& spec, uint64_t seed, uint64_t start, int64_t count, int n_threads) {
    spec.check();
    if (count < 0) throw std::invalid_argument("count must be >= 0");
    // p, q: the analysis model's (the true model's unless fit_columns is given).
    const int p = spec.n_fit();
    const int q = spec.fit_columns.empty() ? spec.n_random() : int(spec.fit_z_columns.size());
    const bool restricted = !spec.fit_columns.empty();
    const int n_joint = int(spec.joint_tests.size());
    ChunkOutput out = ChunkOutput::all_failed(
        count, p, n_joint, (spec.family == GlmFamily::gaussian ? 1 : 0) + q + q * (q - 1) / 2);

    const Generator gen(spec);
    const std::vector<double> truth = interior(theta_from_cov(analysis_re_cov(spec), q, 1.0), q, 0.1);
    std::vector<double> identity(n_theta(q), 0.0);
    {
        int k = 0;
        for (int c = 0; c < q; ++c)
            for (int r = c; r < q; ++r) identity[k++] = r == c ? 1.0 : 0.0;
    }
    FitOptions opt;
    opt.reml = spec.estimator == Estimator::reml;
    const DfMethod method = spec.df_method;

    GlmmFitOptions glmm_opt;  // started at the data-generating values
    glmm_opt.nagq = spec.nagq;
    glmm_opt.start_theta = truth;
    glmm_opt.start_beta = spec.beta;
    struct Scratch {
        Problem generated, analysed;
        Workspace ws;
        GlmmProblem gp;
    };
    for_each_simulation(count, n_threads, [] { return Scratch(); }, [&](int64_t i, Scratch& sc) {
        Problem& generated = sc.generated;
        Problem& analysed = sc.analysed;
        Workspace& ws = sc.ws;
        GlmmProblem& gp = sc.gp;
        if (spec.family != GlmFamily::gaussian) {
            gen.generate_glmm(seed, start + uint64_t(i), gp);
            glmm_simulation(gp, glmm_opt, method, spec.joint_tests, i, out);
            return;
        }
        gen.generate(seed, start + uint64_t(i), generated);
        if (restricted) restrict_problem(generated, spec.fit_columns, spec.fit_z_columns, analysed);
        const Problem& pr = restricted ? analysed : generated;
        Fit f = fit(pr, opt, {truth}, ws);
        if (!f.converged) f = fit(pr, opt, {truth, identity}, ws);
        out.iterations[i] = f.iterations;
        if (!f.converged) return;
        const WaldTests t = wald_tests(pr, f, ws, method);
        bool finite = true;
        for (int c = 0; c < p; ++c)
            finite = finite && std::isfinite(f.beta[c]) && std::isfinite(t.se[c]) &&
                     std::isfinite(t.pvalue[c]) && !std::isnan(t.df[c]);
        double joint_p[kMaxFixedEffects];
        for (int k = 0; k < n_joint; ++k) {
            joint_p[k] = joint_test(pr, f, ws, t, method, spec.joint_tests[k]).pvalue;
            finite = finite && !std::isnan(joint_p[k]);
        }
        if (!finite) return;  // counted as a failed fit, never as "not significant"
        out.store_tests(i, f.beta.data(), t.se.data(), t.df.data(), t.pvalue.data(), joint_p, f.singular);
        store_components(f.re_cov, q, true, f.sigma2, i, out);
    });
    return out;
}

DataFitOutput fit_data(const double* X, const double* y, const int64_t* group, int64_t n, int p, int n_groups,
                       const std::vector<int>& z_columns, bool diagonal, Estimator estimator,
                       DfMethod method, const std::vector<std::vector<int>>& joint_tests) {
    const int q = int(z_columns.size());
    check_sizes(p, q);
    check_choices(estimator, method);
    if (n_groups < 2) throw std::invalid_argument("the grouping factor has " + std::to_string(n_groups) +
                                                  " level(s): at least 2 are needed");
    for (int c : z_columns)
        if (c < 0 || c >= p) throw std::invalid_argument("random-effect column " + std::to_string(c) + " is not a column of X");
    for (int64_t i = 0; i < n; ++i) {
        if (group[i] < 0 || group[i] >= n_groups) throw std::invalid_argument("group code out of range");
        if (!std::isfinite(y[i])) throw std::invalid_argument("the response has a missing or non-finite value at row " + std::to_string(i));
        for (int c = 0; c < p; ++c)
            if (!std::isfinite(X[i * p + c]))
                throw std::invalid_argument("predictor column " + std::to_string(c) + " has a missing or non-finite value at row " + std::to_string(i));
    }
    if (n <= p) throw std::invalid_argument("fewer rows than fixed effects");
    for (const auto& cols : joint_tests)
        for (int c : cols)
            if (c < 0 || c >= p) throw std::invalid_argument("joint test column " + std::to_string(c) + " is not a column of X");
    Problem pr;
    pr.reset(p, q, n_groups, z_columns);
    const int m = p + 1;
    std::vector<double> w(m);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t j = group[i];
        for (int c = 0; c < p; ++c) w[c] = X[i * p + c];
        w[p] = y[i];
        double* S = &pr.cross[size_t(j) * m * m];
        for (int r = 0; r < m; ++r) {
            pr.colsum[size_t(j) * m + r] += w[r];
            for (int c = 0; c < m; ++c) S[r * m + c] += w[r] * w[c];
        }
        pr.rows[j] += 1.0;
    }
    for (int j = 0; j < n_groups; ++j)
        if (pr.rows[j] == 0.0) throw std::invalid_argument("group level " + std::to_string(j) + " has no rows");
    pr.n_obs = double(n);
    pr.diagonal = diagonal;

    // Several starts, as lme4's own default optimiser can stop early on near-singular
    // problems: lme4's default, smaller and larger scales, and correlated starts.
    std::vector<std::vector<double>> starts;
    for (double scale : {1.0, 0.2, 3.0}) {
        std::vector<double> th(n_theta(q), 0.0);
        int k = 0;
        for (int c = 0; c < q; ++c)
            for (int r = c; r < q; ++r) th[k++] = r == c ? scale : 0.0;
        starts.push_back(th);
        if (q > 1 && !diagonal) {
            for (double off : {0.8, -0.8}) {
                auto t2 = th;
                int kk = 0;
                for (int c = 0; c < q; ++c)
                    for (int r = c; r < q; ++r, ++kk)
                        if (r != c) t2[kk] = off * scale;
                starts.push_back(t2);
            }
        }
    }
    FitOptions opt;
    opt.reml = estimator == Estimator::reml;
    Workspace ws;
    DataFitOutput out;
    out.fit = fit(pr, opt, starts, ws);
    if (out.fit.theta.empty()) throw std::runtime_error("the model could not be evaluated at any start (collinear fixed effects?)");
    out.tests = wald_tests(pr, out.fit, ws, method);
    for (const auto& cols : joint_tests) out.joint.push_back(joint_test(pr, out.fit, ws, out.tests, method, cols));
    return out;
}

ChunkOutput ChunkOutput::all_failed(int64_t count, int p, int n_joint, int n_components) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    ChunkOutput out;
    out.count = count;
    out.p = p;
    out.converged.assign(count, 0);
    out.singular.assign(count, 0);
    out.iterations.assign(count, 0);
    out.estimate.assign(count * p, nan);
    out.se.assign(count * p, nan);
    out.df.assign(count * p, nan);
    out.pvalue.assign(count * p, nan);
    out.n_joint = n_joint;
    out.joint_pvalue.assign(count * n_joint, nan);
    out.n_components = n_components;
    out.components.assign(count * n_components, nan);
    return out;
}

void ChunkOutput::store_tests(int64_t i, const double* beta, const double* se_, const double* df_,
                              const double* pvalue_, const double* joint_p, bool is_singular) {
    for (int k = 0; k < n_joint; ++k) joint_pvalue[i * n_joint + k] = joint_p[k];
    converged[i] = 1;
    singular[i] = is_singular;
    for (int c = 0; c < p; ++c) {
        estimate[i * p + c] = beta[c];
        se[i * p + c] = se_[c];
        df[i * p + c] = df_[c];
        pvalue[i * p + c] = pvalue_[c];
    }
}

void ChunkOutput::store_wald(int64_t i, const std::vector<double>& beta, const std::vector<double>& vcov,
                             const std::vector<double>& df_, const double* joint_p, bool is_singular) {
    double s[kMaxFixedEffects], pv[kMaxFixedEffects];
    for (int c = 0; c < p; ++c) {
        s[c] = std::sqrt(vcov[c * p + c]);
        pv[c] = two_sided_p(beta[c] / s[c], df_[c]);
    }
    store_tests(i, beta.data(), s, df_.data(), pv, joint_p, is_singular);
}

}  // namespace mcps
