// The theta parameterisation of the random-effect covariance (lme4's): G = sigma^2
// Lambda Lambda', theta = the lower triangle of Lambda column by column, with the
// diagonal of Lambda bounded below by 0.
#include <cmath>
#include <limits>

#include "lmm.hpp"

namespace mcps {

void Tri::build(int q_) {
    q = q_;
    r.clear();
    c.clear();
    for (int col = 0; col < q_; ++col)
        for (int row = col; row < q_; ++row) {
            r.push_back(row);
            c.push_back(col);
        }
}

int n_theta(int q) { return q * (q + 1) / 2; }

std::vector<double> theta_lower(int q) {
    Tri t;
    t.build(q);
    std::vector<double> lb(t.r.size());
    for (size_t k = 0; k < lb.size(); ++k)
        lb[k] = t.r[k] == t.c[k] ? 0.0 : -std::numeric_limits<double>::infinity();
    return lb;
}

std::vector<double> theta_from_cov(const std::vector<double>& G, int q, double sigma2) {
    // Cholesky that tolerates zero variances (a zero pivot gives a zero column).
    std::vector<double> l(q * q, 0.0);
    for (int j = 0; j < q; ++j) {
        double d = G[j * q + j] / sigma2;
        for (int k = 0; k < j; ++k) d -= l[j * q + k] * l[j * q + k];
        const double ljj = d > 1e-14 ? std::sqrt(d) : 0.0;
        l[j * q + j] = ljj;
        for (int i = j + 1; i < q; ++i) {
            double s = G[i * q + j] / sigma2;
            for (int k = 0; k < j; ++k) s -= l[i * q + k] * l[j * q + k];
            l[i * q + j] = ljj > 0.0 ? s / ljj : 0.0;
        }
    }
    Tri t;
    t.build(q);
    std::vector<double> theta(t.r.size());
    for (size_t k = 0; k < theta.size(); ++k) theta[k] = l[t.r[k] * q + t.c[k]];
    return theta;
}

}  // namespace mcps
