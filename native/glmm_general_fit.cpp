// Fitting a GLMM with several random-effect terms: minimise the Laplace deviance over
// (theta, beta) jointly, as glmer's second stage does, by projected Newton
// (projected_newton.hpp) on central finite differences of the deviance (lme4's deriv12
// stencil, delta = 1e-4); then glmer's default covariance of beta, the beta block of twice
// that Hessian's inverse, and the one conditional on theta (RX's).
#include <algorithm>
#include <cmath>
#include <limits>

#include "finite_differences.hpp"
#include "glmm_general.hpp"
#include "linalg.hpp"
#include "projected_newton.hpp"

namespace mcps::glmm_general {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kDelta = 1e-4;

// The Laplace deviance over x = (theta, beta) as projected_newton.hpp's problem type.
struct Laplace {
    const Problem& pr;
    State st;
    std::vector<double> lo, at, g, H;
    double f_at = kInf;
    bool central = false;  // off-diagonal second differences: four points, or one (cheaper)
    int evaluations = 0;

    std::vector<int> term, col, row;  // per theta: its term and place in T_k

    explicit Laplace(const Problem& p) : pr(p) {
        lo.assign(pr.n_theta + pr.p(), -kInf);
        for (size_t k = 0; k < pr.terms.size(); ++k)
            for (int c = 0; c < pr.pk[k]; ++c)
                for (int r = c; r < pr.pk[k]; ++r) {
                    if (r == c) lo[term.size()] = 0.0;  // Lambda's diagonals are >= 0
                    term.push_back(int(k));
                    col.push_back(c);
                    row.push_back(r);
                }
    }
    int size() const { return int(lo.size()); }
    double f(const std::vector<double>& x) {
        ++evaluations;
        return objective(pr, x.data(), x.data() + pr.n_theta, st);
    }
    bool value(const std::vector<double>& x, double& v) {
        v = f(x);
        at = x;
        f_at = v;
        return std::isfinite(v);
    }
    // Gradient and Hessian at the x of the last value(): central differences; a diagonal
    // of Lambda may step below 0 (the deviance is even in a column's sign there).
    bool derivatives() {
        return fd_gradient_hessian([this](const std::vector<double>& v) { return f(v); }, at, f_at, kDelta,
                                   central, g, H);
    }
    const std::vector<double>& gradient() const { return g; }
    const std::vector<double>& hessian() const { return H; }
    double lower(int i) const { return lo[i]; }
    bool held(int) const { return false; }
    // A diagonal at 0 pushed outwards: negate the entries below it in its column (the same
    // model, Lambda Lambda' unchanged), so the optimiser can step off the bound.
    bool flip(int i, std::vector<double>& x) const {
        bool any = false;
        for (int a = 0; a < pr.n_theta; ++a)
            if (term[a] == term[i] && col[a] == col[i] && row[a] > row[i] && x[a] != 0.0) {
                x[a] = -x[a];
                any = true;
            }
        return any;
    }
};

// (X'WX - X'WZ Lambda (L L')^-1 Lambda'Z'WX)^-1 at the state's modes (Fisher W, the
// factor objective() left): lme4's RX-based covariance, conditional on theta.
bool vcov_from_rx(const Problem& pr, State& st, std::vector<double>& V) {
    const int p = pr.p(), q = pr.q, W = pr.width, K = int(pr.terms.size());
    const int64_t n = pr.n();
    std::vector<double> A(size_t(p) * p, 0.0), R(size_t(p) * q, 0.0), s(q);
    for (int64_t i = 0; i < n; ++i) {
        const double* x = &pr.base.X[i * p];
        const double w = st.weight[i];
        const double* a = &st.a[i * W];
        for (int c = 0; c < p; ++c) {
            for (int d = 0; d <= c; ++d) A[c * p + d] += w * x[c] * x[d];
            double* Rc = &R[size_t(c) * q];
            for (int k = 0; k < K; ++k) {
                const int u0 = pr.u_at[k] + int(pr.terms[k].codes[i]) * pr.pk[k];
                for (int e = 0; e < pr.pk[k]; ++e) Rc[u0 + e] += w * x[c] * a[pr.a_at[k] + e];
            }
        }
    }
    for (int c = 0; c < p; ++c) {
        std::copy(R.begin() + size_t(c) * q, R.begin() + size_t(c + 1) * q, s.begin());
        solve(pr, st, s.data());
        for (int d = 0; d <= c; ++d) {
            double v = 0.0;
            for (int e = 0; e < q; ++e) v += R[size_t(d) * q + e] * s[e];
            A[c * p + d] -= v;
        }
    }
    if (!la::cholesky(A.data(), p)) return false;
    V.resize(size_t(p) * p);
    la::chol_inverse(A.data(), p, V.data());
    return true;
}

// lme4's vcov.merMod: the beta block of 2 H^-1 (H may be indefinite at a boundary, where
// a variance is 0), if it is positive definite.
bool beta_block(const std::vector<double>& H, int k, int nt, std::vector<double>& V) {
    std::vector<double> w, v;
    la::sym_eigen(H, k, w, v);
    double big = 0.0;
    for (double e : w) big = std::max(big, std::fabs(e));
    for (double e : w)
        if (!(std::fabs(e) > 1e-12 * big)) return false;  // singular (or not finite)
    const int p = k - nt;
    V.assign(size_t(p) * p, 0.0);
    for (int c = 0; c < p; ++c)
        for (int d = 0; d < p; ++d) {
            double s = 0.0;
            for (int e = 0; e < k; ++e) s += v[(nt + c) * k + e] * v[(nt + d) * k + e] / w[e];
            V[c * p + d] = 2.0 * s;
        }
    std::vector<double> L = V;
    return la::cholesky(L.data(), p);
}

}  // namespace

Fit fit(const Problem& pr, double singular_tol) {
    Fit out;
    const int p = pr.p(), nt = pr.n_theta;
    Laplace lp(pr);
    const int k = lp.size();
    std::vector<double> beta0;
    if (!glm_start(pr.base, beta0)) return out;
    std::vector<double> x(k, 0.0);
    for (int i = 0; i < nt; ++i) x[i] = lp.lo[i] == 0.0 ? 1.0 : 0.0;  // lme4's start: Lambda = I
    std::copy(beta0.begin(), beta0.end(), x.begin() + nt);
    pn::Options opt;
    opt.tolerance = 1e-10;
    pn::Buffers buf;
    const pn::Outcome res = pn::minimise(lp, x, opt, buf);
    out.iterations = res.iterations;
    if (!res.ok || !std::isfinite(res.value)) {
        out.evaluations = lp.evaluations;
        return out;
    }
    // The Hessian as glmer's summary computes it (central differences at the optimum),
    // then the objective once more so the state holds the optimum's modes and factor.
    lp.central = true;
    double value = 0.0;
    bool hessian_ok = lp.value(x, value) && lp.derivatives();
    std::vector<double> H = lp.H;
    value = lp.f(x);
    out.evaluations = lp.evaluations;
    out.minus_two_loglik = value;
    out.saturated_loglik = saturated_loglik(pr.base);
    out.theta.assign(x.begin(), x.begin() + nt);
    out.beta.assign(x.begin() + nt, x.end());
    if (!vcov_from_rx(pr, lp.st, out.vcov_rx)) return out;
    if (hessian_ok) hessian_ok = beta_block(H, k, nt, out.vcov);
    if (!hessian_ok) out.vcov = out.vcov_rx;  // lme4 falls back the same way, with a warning
    for (size_t t = 0; t < pr.terms.size(); ++t) {
        const int m = pr.pk[t];
        std::vector<double> T(size_t(m) * m, 0.0), C(size_t(m) * m, 0.0);
        for (int c = 0, a = pr.theta_at[t]; c < m; ++c)
            for (int r = c; r < m; ++r, ++a) {
                T[r * m + c] = out.theta[a];
                if (r == c && out.theta[a] < singular_tol) out.singular = true;
            }
        for (int r = 0; r < m; ++r)
            for (int l = 0; l < m; ++l)
                for (int c = 0; c < m; ++c) C[r * m + l] += T[r * m + c] * T[l * m + c];
        out.re_cov.push_back(C);
    }
    // The rows as one cluster with eta as its offset: the one-factor fit's check of
    // fitted means at the edge of the family's range.
    GlmmProblem one = pr.base;
    GlmmState at;
    at.offset = lp.st.eta;
    at.a.assign(pr.n(), 0.0);
    at.u.assign(1, 0.0);
    one.q = 1;
    out.degenerate = degenerate_fit(one, at);
    bool finite = true;
    for (double v : out.vcov) finite = finite && std::isfinite(v);
    for (double v : out.beta) finite = finite && std::isfinite(v);
    out.converged = res.converged && finite && !out.degenerate;
    return out;
}

}  // namespace mcps::glmm_general
