#include "simulate.hpp"

#include <cmath>
#include <stdexcept>

#include "rng.hpp"

namespace mcps {

Generator::Generator(const EngineSpec& s) : spec(s) {
    const int q = s.n_random();
    // Cholesky that accepts a semi-definite covariance (a zero slope variance gives a
    // zero column): the random effects are then exactly zero in that direction.
    re_chol = theta_from_cov(s.re_cov, q, 1.0);
    std::vector<double> full(q * q, 0.0);
    int k = 0;
    for (int c = 0; c < q; ++c)
        for (int r = c; r < q; ++r) full[r * q + c] = re_chol[k++];
    re_chol = full;
}

void Generator::generate(uint64_t seed, uint64_t index, Problem& pr) const {
    const int n_pred = int(spec.predictor_binary.size());
    const int p = spec.n_fixed(), q = spec.n_random(), m = p + 1;
    const int J = int(spec.cluster_sizes.size());
    if (pr.p != p || pr.q != q || pr.n_clusters != J) pr.reset(p, q, J, spec.z_columns);
    std::fill(pr.cross.begin(), pr.cross.end(), 0.0);
    std::fill(pr.colsum.begin(), pr.colsum.end(), 0.0);

    Stream rng(seed, index);
    double pred[64], w[65], z[8], b[8];
    const int* zc = spec.z_columns.data();
    double n_total = 0.0;
    for (int j = 0; j < J; ++j) {
        // Random effects of cluster j: b = chol(G) z.
        for (int a = 0; a < q; ++a) z[a] = rng.normal();
        for (int a = 0; a < q; ++a) {
            double t = 0.0;
            for (int c = 0; c <= a; ++c) t += re_chol[a * q + c] * z[c];
            b[a] = t;
        }
        double* S = &pr.cross[size_t(j) * m * m];
        double* cs = &pr.colsum[size_t(j) * m];
        const int64_t nj = spec.cluster_sizes[j];
        for (int64_t i = 0; i < nj; ++i) {
            for (int v = 0; v < n_pred; ++v)
                pred[v] = spec.predictor_binary[v] ? (rng.uniform() < spec.predictor_p[v] ? 1.0 : 0.0)
                                                   : rng.normal();
            w[0] = 1.0;
            for (int t = 1; t < p; ++t) {
                double x = 1.0;
                for (int v : spec.terms[t - 1]) x *= pred[v];
                w[t] = x;
            }
            double y = rng.normal();
            for (int t = 0; t < p; ++t) y += spec.beta[t] * w[t];
            for (int a = 0; a < q; ++a) y += b[a] * w[zc[a]];
            w[p] = y;
            // Upper triangle only; mirrored below.
            for (int r = 0; r < m; ++r) {
                const double wr = w[r];
                cs[r] += wr;
                double* row = S + r * m;
                for (int c = r; c < m; ++c) row[c] += wr * w[c];
            }
        }
        for (int r = 0; r < m; ++r)
            for (int c = 0; c < r; ++c) S[r * m + c] = S[c * m + r];
        pr.rows[j] = double(nj);
        n_total += double(nj);
    }
    pr.n_obs = n_total;
}

}  // namespace mcps
