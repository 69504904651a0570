// Simulated GLMM data: the rows of the shared row-level path (Generator::for_each_cluster)
// with the outcome drawn from the family given each row's linear predictor.
#include <algorithm>
#include <cmath>

#include "simulate.hpp"

namespace mcps {

namespace {

double inverse_link(GlmLink link, double eta) {
    switch (link) {
        case GlmLink::logit: return 1.0 / (1.0 + std::exp(-eta));
        case GlmLink::probit: return 0.5 * std::erfc(-eta / std::sqrt(2.0));
        case GlmLink::log: return std::exp(std::min(eta, 700.0));
        case GlmLink::identity: break;
    }
    return eta;
}

// A Poisson(mu) draw: inversion by sequential search for small means, Hormann's (1993)
// transformed rejection (PTRS, as NumPy's) for large ones.
double poisson_draw(Stream& rng, double mu) {
    if (mu < 10.0) {
        const double u = rng.uniform();
        double pk = std::exp(-mu), cdf = pk;
        int k = 0;
        while (u > cdf && k < 1000) {
            ++k;
            pk *= mu / k;
            cdf += pk;
        }
        return double(k);
    }
    const double slam = std::sqrt(mu), loglam = std::log(mu);
    const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        const double U = rng.uniform() - 0.5, V = rng.uniform();
        const double us = 0.5 - std::fabs(U);
        const double k = std::floor((2.0 * a / us + b) * U + mu + 0.43);
        if (us >= 0.07 && V <= vr) return k;
        if (k < 0.0 || (us < 0.013 && V > us)) continue;
        if (std::log(V) + std::log(invalpha) - std::log(a / (us * us) + b) <= -mu + k * loglam - std::lgamma(k + 1.0))
            return k;
    }
}

}  // namespace

double draw_outcome(GlmFamily family, GlmLink link, double eta, Stream& rng) {
    const double mu = inverse_link(link, eta);
    return family == GlmFamily::poisson ? poisson_draw(rng, mu) : double(rng.uniform() < mu);
}

void Generator::generate_glmm(uint64_t seed, uint64_t index, GlmmProblem& pr) const {
    thread_local std::vector<int64_t> drawn;
    thread_local std::vector<double> scratch;
    const int64_t* sizes = spec.cluster_sizes.data();
    const int J = int(spec.cluster_sizes.size());
    if (spec.cluster_size_cv > 0.0) {
        draw_sizes(seed, index, drawn);
        sizes = drawn.data();
    }
    const int p = spec.n_fixed();
    pr.family = spec.family;
    pr.link = spec.link;
    pr.p = p;
    pr.q = spec.n_random();
    pr.n_clusters = J;
    pr.z_columns = spec.z_columns;
    pr.start.assign(J + 1, 0);
    for (int j = 0; j < J; ++j) pr.start[j + 1] = pr.start[j] + sizes[j];
    pr.n = int(pr.start[J]);
    pr.X.resize(size_t(pr.n) * p);
    pr.y.resize(pr.n);
    // A scenario's per-simulation effects and random-intercept scale (its residual settings
    // have no GLMM counterpart: the Python side leaves them out); random-effect shapes are
    // drawn by for_each_cluster.
    SimDraw sim;
    if (spec.robust.per_simulation()) draw_perturbation(seed, index, sim);
    for_each_cluster(seed, index, sizes, scratch,
                     [&](int j, int64_t nj, const double* coef, double* W, int64_t max_n, Stream& rng) {
        for (int64_t i = 0; i < nj; ++i) {
            const int64_t row = pr.start[j] + i;
            double eta = 0.0;
            for (int t = 0; t < p; ++t) {
                const double x = W[size_t(t) * max_n + i];
                pr.X[size_t(row) * p + t] = x;
                eta += coef[t] * x;
            }
            pr.y[row] = draw_outcome(spec.family, spec.link, eta, rng);
        }
    }, sim);
    pr.set_log_norm();
}

}  // namespace mcps
