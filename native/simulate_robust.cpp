// Departures from the textbook model in data generation: non-normal residuals and
// random effects, heteroskedastic residuals and the per-simulation perturbations of a
// scenario (spec.hpp, Robustness).  Every shape has unit variance, so only the shape of
// a distribution changes, never the variances the user set.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "simulate.hpp"

namespace mcps {

namespace {
// The wider component of the contaminated normal has this many times the SD of the other.
constexpr double kMixtureSdRatio = 3.0;

bool finite(double x) { return std::isfinite(x); }

void check_shape(Shape shape, double param, const std::string& what) {
    const int code = int(shape);
    if (code < 0 || code > int(Shape::mixture)) throw std::invalid_argument(what + ": unknown shape");
    if (shape == Shape::t && !(finite(param) && param > 2.0))
        throw std::invalid_argument(what + ": t needs df > 2 (finite variance), got " + std::to_string(param));
    if ((shape == Shape::right_skewed || shape == Shape::left_skewed) && !(finite(param) && param > 0.0))
        throw std::invalid_argument(what + ": skewed needs df > 0, got " + std::to_string(param));
    if (shape == Shape::mixture && !(param > 0.0 && param < 1.0))
        throw std::invalid_argument(what + ": mixture needs a weight in (0, 1), got " + std::to_string(param));
}
}  // namespace

double draw_shape(Stream& rng, Shape shape, double param) {
    switch (shape) {
        case Shape::normal:
            return rng.normal();
        case Shape::t: {  // z / sqrt(chi2 / df) has variance df / (df - 2)
            const double z = rng.normal();
            return z / std::sqrt(rng.chi_square(param) / param) * std::sqrt((param - 2.0) / param);
        }
        case Shape::right_skewed:  // chi2(df) has mean df and variance 2 df
            return (rng.chi_square(param) - param) / std::sqrt(2.0 * param);
        case Shape::left_skewed:
            return (param - rng.chi_square(param)) / std::sqrt(2.0 * param);
        case Shape::uniform:
            return (2.0 * rng.uniform() - 1.0) * std::sqrt(3.0);
        case Shape::mixture: {  // variance (1 - w) + w r^2
            const double r = kMixtureSdRatio;
            const double sd = rng.uniform() < param ? r : 1.0;
            return rng.normal() * sd / std::sqrt(1.0 + param * (r * r - 1.0));
        }
    }
    throw std::invalid_argument("unknown shape");
}

void check_robustness(const EngineSpec& spec) {
    const auto& values = spec.predictor_values;
    if (!values.empty() && values.size() != spec.predictor_binary.size())
        throw std::invalid_argument("predictor_values needs one entry per predictor (empty: drawn)");
    const auto& use = spec.predictor_values_use;
    if (!use.empty() && use.size() != spec.predictor_binary.size())
        throw std::invalid_argument("predictor_values_use needs one entry per predictor (empty: all cycled)");
    size_t table_rows = 0;  // of the bootstrap predictors, which share their rows
    for (size_t v = 0; v < spec.predictor_binary.size(); ++v) {
        const ValuesUse u = use.empty() ? ValuesUse::cycle : use[v];
        const int code = int(u);
        if (code < 0 || code > int(ValuesUse::bootstrap)) throw std::invalid_argument("predictor_values_use: unknown use");
        if (values.empty() || values[v].empty()) {
            if (u != ValuesUse::cycle) throw std::invalid_argument("predictor_values_use: a quantile or bootstrap predictor needs values");
            continue;
        }
        if (spec.level(int(v)) != Level::observation)
            throw std::invalid_argument("predictor_values: only an observation-level predictor takes values");
        if (spec.predictor_binary[v] && u != ValuesUse::bootstrap)
            throw std::invalid_argument("predictor_values: a binary predictor takes values only bootstrapped");
        for (double x : values[v])
            if (!finite(x)) throw std::invalid_argument("predictor_values must be finite");
        if (u == ValuesUse::quantile &&
            (values[v].size() < 2 || !std::is_sorted(values[v].begin(), values[v].end())))
            throw std::invalid_argument("predictor_values: a quantile predictor needs at least 2 values, sorted");
        if (u == ValuesUse::bootstrap) {
            if (table_rows && values[v].size() != table_rows)
                throw std::invalid_argument("predictor_values: bootstrap predictors need the same number of rows");
            table_rows = values[v].size();
            if (spec.predictor_binary[v])
                for (double x : values[v])
                    if (x != 0.0 && x != 1.0) throw std::invalid_argument("predictor_values: a bootstrapped binary takes 0/1");
        }
    }
    const Robustness& r = spec.robust;
    if (r.is_default() && r.het_weights.empty()) return;
    if (spec.family != GlmFamily::gaussian &&
        (!r.residual_normal() || r.het_gamma != 0.0 || r.residual_change_prob > 0.0 || !r.variance_draws.empty()))
        throw std::invalid_argument("robust: a GLMM has no normal residual to change (residual shapes, "
                                    "heteroskedasticity) and no variance draws; random-effect shapes and "
                                    "scenario perturbations apply");
    check_shape(r.residual_shape, r.residual_param, "residual shape");
    check_shape(r.re_shape, r.re_param, "random-effect shape");
    if (!finite(r.het_gamma)) throw std::invalid_argument("het_gamma must be finite");
    if (r.het_gamma != 0.0) {
        if (int(r.het_weights.size()) != spec.n_fixed())
            throw std::invalid_argument("het_weights needs one weight per fixed column (" +
                                        std::to_string(spec.n_fixed()) + "), got " +
                                        std::to_string(r.het_weights.size()));
        for (double w : r.het_weights)
            if (!finite(w)) throw std::invalid_argument("het_weights must be finite");
        if (!(finite(r.het_center) && finite(r.het_scale) && r.het_scale > 0.0))
            throw std::invalid_argument("het_center must be finite and het_scale > 0");
    }
    if (!(finite(r.effect_jitter) && r.effect_jitter >= 0.0)) throw std::invalid_argument("effect_jitter must be >= 0");
    if (!(finite(r.icc_noise_sd) && r.icc_noise_sd >= 0.0)) throw std::invalid_argument("icc_noise_sd must be >= 0");
    if (!(r.residual_change_prob >= 0.0 && r.residual_change_prob <= 1.0))
        throw std::invalid_argument("residual_change_prob must be in [0, 1]");
    const size_t width = size_t(spec.n_random()) * spec.n_random() + 1;
    if (r.variance_draws.size() % width != 0)
        throw std::invalid_argument("variance_draws needs rows of q x q + 1 values (" + std::to_string(width) + ")");
    for (size_t k = 0; k < r.variance_draws.size(); ++k)
        if (!finite(r.variance_draws[k]) || (k % width == width - 1 && !(r.variance_draws[k] > 0.0)))
            throw std::invalid_argument("variance_draws must be finite, each row's effect factor > 0");
    if (r.residual_pool.size() != r.residual_pool_param.size())
        throw std::invalid_argument("residual_pool and residual_pool_param differ in length");
    if (r.residual_change_prob > 0.0 && r.residual_pool.empty())
        throw std::invalid_argument("residual_change_prob > 0 needs a residual_pool");
    for (size_t k = 0; k < r.residual_pool.size(); ++k)
        check_shape(r.residual_pool[k], r.residual_pool_param[k], "residual_pool[" + std::to_string(k) + "]");
}

// A cluster's coefficients: the fixed effects plus its random effects chol(G) z
// (q unit-variance draws of the random-effect shape, normals by default, the first
// draws of every cluster).  A perturbed simulation (sim.active) has its own fixed
// effects and random-intercept scale.
void Generator::cluster_coefficients(Stream& rng, double* coef, const SimDraw& sim) const {
    const int p = spec.n_fixed(), q = spec.n_random();
    const Shape shape = spec.robust.re_shape;
    double z[8];
    for (int a = 0; a < q; ++a)
        z[a] = shape == Shape::normal ? rng.normal() : draw_shape(rng, shape, spec.robust.re_param);
    const double* beta = sim.active ? sim.beta : spec.beta.data();
    for (int t = 0; t < p; ++t) coef[t] = beta[t];
    const double* L = sim.re_chol ? sim.re_chol : re_chol.data();
    for (int a = 0; a < q; ++a) {
        double b = 0.0;
        for (int c = 0; c <= a; ++c) b += L[a * q + c] * z[c];
        if (spec.z_columns[a] == 0) b *= sim.re_scale;
        coef[spec.z_columns[a]] += b;
    }
}

// Draw order on substream 2 (the data's own stream is untouched): one normal per fixed
// effect after the intercept (effect_jitter > 0), one normal for the random-intercept
// variance (icc_noise_sd > 0), then one uniform for whether the residual shape changes
// and, if it does, one for which (residual_change_prob > 0), then one uniform for the
// row of variance_draws (when given).
void Generator::draw_perturbation(uint64_t seed, uint64_t index, SimDraw& sim) const {
    const Robustness& r = spec.robust;
    Stream rng(seed, index, 2);
    sim.active = true;
    const int p = spec.n_fixed();
    for (int t = 0; t < p; ++t) sim.beta[t] = spec.beta[t];
    if (r.effect_jitter > 0.0)
        for (int t = 1; t < p; ++t) {
            const double b = spec.beta[t], raw = b + r.effect_jitter * std::fabs(b) * rng.normal();
            sim.beta[t] = b > 0.0 ? std::max(raw, 0.0) : b < 0.0 ? std::min(raw, 0.0) : 0.0;
        }
    sim.re_scale = 1.0;
    if (r.icc_noise_sd > 0.0) {
        const double noise = r.icc_noise_sd * rng.normal();
        const int q = spec.n_random();
        for (int a = 0; a < q; ++a) {
            if (spec.z_columns[a] != 0) continue;
            const double tau2 = spec.re_cov[size_t(a) * q + a];
            if (tau2 > 0.0) sim.re_scale = std::sqrt(std::max(tau2 + noise, 0.0) / tau2);
        }
    }
    sim.residual = r.residual_shape;
    sim.residual_param = r.residual_param;
    if (r.residual_change_prob > 0.0 && rng.uniform() < r.residual_change_prob) {
        const size_t k = std::min(size_t(rng.uniform() * double(r.residual_pool.size())), r.residual_pool.size() - 1);
        sim.residual = r.residual_pool[k];
        sim.residual_param = r.residual_pool_param[k];
    }
    if (!r.variance_draws.empty()) {  // one uniform: the row of the pilot's variances
        const int q = spec.n_random();
        const size_t width = size_t(q) * q + 1, rows = r.variance_draws.size() / width;
        const size_t k = std::min(size_t(rng.uniform() * double(rows)), rows - 1);
        sim.re_chol = &r.variance_draws[k * width];
        for (int t = 1; t < p; ++t) sim.beta[t] *= r.variance_draws[k * width + width - 1];
    }
}

// Residuals of one cluster's rows: n draws of the shape, each times its row's SD
// exp(gamma z / 2 - gamma^2 / 4) under heteroskedasticity (mean variance 1 for a
// normal driver z).
void Generator::draw_residuals(Stream& rng, const SimDraw& sim, const double* W, int64_t max_n, int64_t nj,
                               double* y) const {
    const Robustness& r = spec.robust;
    const Shape shape = sim.active ? sim.residual : r.residual_shape;
    const double param = sim.active ? sim.residual_param : r.residual_param;
    if (shape == Shape::normal)
        rng.fill_normal(y, nj);
    else
        for (int64_t i = 0; i < nj; ++i) y[i] = draw_shape(rng, shape, param);
    if (r.het_gamma == 0.0) return;
    const int p = spec.n_fixed();
    const double g = r.het_gamma, shift = -0.25 * g * g;
    for (int64_t i = 0; i < nj; ++i) {
        double d = 0.0;
        for (int t = 1; t < p; ++t) d += r.het_weights[t] * W[size_t(t) * max_n + i];
        const double z = (d - r.het_center) / r.het_scale;
        y[i] *= std::exp(0.5 * g * z + shift);
    }
}

void Generator::simulated_rows(uint64_t seed, uint64_t index, std::vector<double>& out) const {
    std::vector<int64_t> drawn;
    const int64_t* sizes = spec.cluster_sizes.data();
    if (spec.cluster_size_cv > 0.0) {
        draw_sizes(seed, index, drawn);
        sizes = drawn.data();
    }
    SimDraw sim;
    if (spec.robust.per_simulation()) draw_perturbation(seed, index, sim);
    Problem pr;
    out.clear();
    generate_rows(seed, index, sizes, pr, sim, &out);
}

}  // namespace mcps
