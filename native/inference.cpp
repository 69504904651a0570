#include "inference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "glmm.hpp"
#include "linalg.hpp"

namespace mcps {

namespace {

// Continued fraction for I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2).
double beta_cf(double a, double b, double x) {
    constexpr double tiny = 1e-300, eps = 1e-16;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (std::fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m < 100000; ++m) {
        const double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::fabs(delta - 1.0) < eps) break;
    }
    return h;
}

// log Gamma(x) - log Gamma(x + b) without the cancellation of two large lgamma values:
// Stirling's series for x >= 10 (error below 1e-16 relative to the result there).
double lgamma_ratio(double x, double b) {
    if (x < 10.0) return std::lgamma(x) - std::lgamma(x + b);
    auto corr = [](double z) {  // log Gamma(z) - Stirling's leading terms
        const double z2 = 1.0 / (z * z);
        return (1.0 / 12.0 - z2 * (1.0 / 360.0 - z2 * (1.0 / 1260.0 - z2 * (1.0 / 1680.0)))) / z;
    };
    return -(x - 0.5) * std::log1p(b / x) - b * std::log(x + b) + b + corr(x) - corr(x + b);
}

// log B(a, b), accurate when one argument is large.
double log_beta(double a, double b) {
    if (a < b) std::swap(a, b);
    return std::lgamma(b) + lgamma_ratio(a, b);
}

}  // namespace

double incomplete_beta(double a, double b, double x, double y) {
    if (!(x > 0.0)) return 0.0;
    if (!(y > 0.0)) return 1.0;
    const double lx = x > 0.5 ? std::log1p(-y) : std::log(x);
    const double ly = y > 0.5 ? std::log1p(-x) : std::log(y);
    const double front = std::exp(a * lx + b * ly - log_beta(a, b));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_cf(a, b, x) / a;
    return 1.0 - front * beta_cf(b, a, y) / b;
}

double two_sided_p(double t, double df) {
    if (!std::isfinite(t)) return std::isnan(t) ? std::numeric_limits<double>::quiet_NaN() : 0.0;
    if (std::isinf(df)) return std::erfc(std::fabs(t) / std::sqrt(2.0));
    if (!(df > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    // P(|T| > |t|) = I_x(df/2, 1/2) with x = df / (df + t^2), 1 - x = t^2 / (df + t^2).
    const double t2 = t * t;
    return incomplete_beta(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2));
}

// df = 2 Var(l'b)^2 / (g' A g), g = d Var(l'b) / d psi, A = 2 H^+ (lmerTest): H is the
// Hessian of -2 log L in psi = (theta, sigma), inverted over its positive eigenvalues
// as lmerTest does.  Only the model's parameters enter (with ||, not the off-diagonal
// theta).  d Var(l'b) / d phi_a = a' Q_a b with a = b = Phi l, Q_sigma2 = X'H^-2 X.
SatterthwaiteA satterthwaite_a(const Problem& pr, const Workspace& ws) {
    const int k = n_theta(pr.q), d = k + 1;
    SatterthwaiteA out;
    std::vector<int>& keep = out.keep;
    for (int e = 0; e < k; ++e)
        if (pr.theta_free(ws.tri.r[e], ws.tri.c[e])) keep.push_back(e);
    keep.push_back(k);
    const int dk = int(keep.size());
    std::vector<double> Hk(dk * dk);
    for (int i = 0; i < dk; ++i)
        for (int l = 0; l < dk; ++l) Hk[i * dk + l] = ws.hess_psi[keep[i] * d + keep[l]];
    std::vector<double> w, V;
    la::sym_eigen(Hk, dk, w, V);
    constexpr double tol = 1e-8;
    std::vector<double>& Ainv = out.Ainv;
    Ainv.assign(dk * dk, 0.0);
    for (int e = 0; e < dk; ++e) {
        if (!(w[e] > tol)) continue;
        for (int i = 0; i < dk; ++i)
            for (int l = 0; l < dk; ++l) Ainv[i * dk + l] += 2.0 * V[i * dk + e] * V[l * dk + e] / w[e];
    }
    return out;
}

double satterthwaite_df(const Problem& pr, const Workspace& ws, const SatterthwaiteA& A, const double* a,
                        const double* b, double var) {
    const int p = pr.p, k = n_theta(pr.q), d = k + 1, dk = int(A.keep.size());
    const std::vector<int>& keep = A.keep;
    const std::vector<double>& Ainv = A.Ainv;
    std::vector<double> gphi(d), gpsi(d);
    for (int e = 0; e < d; ++e) {
        const double* Qa = e < k ? &ws.Q[size_t(e) * p * p] : ws.P2xx.data();
        double t = 0.0;
        for (int i = 0; i < p; ++i)
            for (int l = 0; l < p; ++l) t += a[i] * Qa[i * p + l] * b[l];
        gphi[e] = t;
    }
    for (int mth = 0; mth < d; ++mth) {
        double t = 0.0;
        for (int e = 0; e < d; ++e) t += ws.jac[e * d + mth] * gphi[e];
        gpsi[mth] = t;
    }
    double denom = 0.0;
    for (int i = 0; i < dk; ++i)
        for (int l = 0; l < dk; ++l) denom += gpsi[keep[i]] * Ainv[i * dk + l] * gpsi[keep[l]];
    return denom > 0.0 ? 2.0 * var * var / denom : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> between_within_df(const std::vector<bool>& between, double n_obs, int n_clusters) {
    const int p = int(between.size());
    int n_between = 0;
    for (bool b : between) n_between += b;
    const double df_b = std::max(1.0, double(n_clusters - n_between));
    const double df_w = std::max(1.0, n_obs - n_clusters - (p - n_between));
    std::vector<double> df(p);
    for (int c = 0; c < p; ++c) df[c] = between[c] ? df_b : df_w;
    return df;
}

bool constant_within(double rows, double sum, double sum_sq) {
    return !(sum_sq - sum * sum / rows > 1e-10 * (sum_sq + 1.0));
}

std::vector<double> glmm_between_within_df(const GlmmProblem& gp) {
    std::vector<bool> between(gp.p, true);
    for (int c = 0; c < gp.p; ++c)
        for (int j = 0; j < gp.n_clusters && between[c]; ++j) {
            double s = 0.0, ss = 0.0;
            for (int64_t r = gp.start[j]; r < gp.start[j + 1]; ++r) {
                const double x = gp.X[size_t(r) * gp.p + c];
                s += x;
                ss += x * x;
            }
            between[c] = constant_within(double(gp.start[j + 1] - gp.start[j]), s, ss);
        }
    return between_within_df(between, double(gp.n), gp.n_clusters);
}

WaldTests wald_tests(const Problem& pr, const Fit& fit, const Workspace& ws, DfMethod method) {
    const int p = pr.p;
    WaldTests out;
    out.se.resize(p);
    out.df.resize(p);
    out.pvalue.resize(p);
    for (int c = 0; c < p; ++c) out.se[c] = std::sqrt(fit.vcov[c * p + c]);

    switch (method) {
        case DfMethod::z:
            for (int c = 0; c < p; ++c) out.df[c] = std::numeric_limits<double>::infinity();
            break;
        case DfMethod::residual:
            for (int c = 0; c < p; ++c) out.df[c] = pr.n_obs - p;
            break;
        case DfMethod::between_within: {
            std::vector<bool> between(p);
            for (int c = 0; c < p; ++c) between[c] = pr.column_is_between(c);
            out.df = between_within_df(between, pr.n_obs, pr.n_clusters);
            break;
        }
        case DfMethod::kenward_roger: {
            kenward_roger(pr, ws, out.vcov_adj, out.df, &out.kr);
            for (int c = 0; c < p; ++c) out.se[c] = std::sqrt(out.vcov_adj[c * p + c]);
            break;
        }
        case DfMethod::satterthwaite: {
            const std::vector<double>& Phi = ws.phi_inv;
            const SatterthwaiteA A = satterthwaite_a(pr, ws);
            std::vector<double> column(p);
            for (int c = 0; c < p; ++c) {
                for (int l = 0; l < p; ++l) column[l] = Phi[l * p + c];
                out.df[c] = satterthwaite_df(pr, ws, A, &Phi[c * p], column.data(), fit.vcov[c * p + c]);
            }
            break;
        }
    }
    for (int c = 0; c < p; ++c) out.pvalue[c] = two_sided_p(fit.beta[c] / out.se[c], out.df[c]);
    return out;
}

}  // namespace mcps
