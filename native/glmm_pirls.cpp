// Penalised IRLS for the conditional modes, and the Laplace / adaptive
// Gauss-Hermite objective of a one-factor GLMM (Bates et al. 2015, section 5 of the
// lme4 vignette "Computational methods"; MixedModels.jl's GeneralizedLinearMixedModel).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "glmm.hpp"
#include "glmm_family.hpp"
#include "linalg.hpp"

namespace mcps {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Penalised -2 log p(y_j | u) + u'u of cluster j, with (when grad is given) half its
// gradient and half its Hessian (observed, or Fisher when fisher = true).
double cluster_pdev(const GlmmProblem& pr, const GlmmState& st, int j, const double* u, double* grad,
                    double* hess, bool fisher, double* logp_out = nullptr) {
    const int q = pr.q;
    double logp = 0.0;
    if (grad) {
        for (int c = 0; c < q; ++c) grad[c] = u[c];
        std::fill(hess, hess + q * q, 0.0);
        for (int c = 0; c < q; ++c) hess[c * q + c] = 1.0;
    }
    for (int64_t i = pr.start[j]; i < pr.start[j + 1]; ++i) {
        const double* a = &st.a[i * q];
        double eta = st.offset[i];
        for (int c = 0; c < q; ++c) eta += a[c] * u[c];
        if (!grad) {
            logp += row_logp(pr.link, pr.y[i], eta);
            continue;
        }
        const RowTerms t = row_terms(pr.link, pr.y[i], eta);
        logp += t.logp;
        const double w = fisher ? t.fisher : t.observed;
        for (int c = 0; c < q; ++c) {
            grad[c] -= t.score * a[c];
            for (int d = 0; d <= c; ++d) hess[c * q + d] += w * a[c] * a[d];
        }
    }
    if (grad)
        for (int c = 0; c < q; ++c)
            for (int d = c + 1; d < q; ++d) hess[c * q + d] = hess[d * q + c];
    logp += pr.log_norm[j];
    if (logp_out) *logp_out = logp;
    double uu = 0.0;
    for (int c = 0; c < q; ++c) uu += u[c] * u[c];
    return -2.0 * logp + uu;
}

// Newton's method with step-halving for the mode of cluster j's penalised deviance
// (strictly convex in u for these families and links), from the warm start in st.u.
// One pass over the cluster's rows per iteration: each trial point's pass also gives
// the gradient and Hessian the next step needs.  On return st.L holds the Cholesky
// factor of I + Lambda'Z'WZ Lambda (Fisher W) at the mode and *pdev, *logp the
// penalised deviance and log p(y | u) there.
bool cluster_mode(const GlmmProblem& pr, GlmmState& st, int j, double* pdev, double* logp) {
    const int q = pr.q;
    double* u = &st.u[j * q];
    double* L = &st.L[j * q * q];
    double* grad = st.grad.data();
    double* hess = st.hess.data();
    double* grad2 = st.grad2.data();
    double* hess2 = st.hess2.data();
    for (int c = 0; c < q; ++c)
        if (!std::isfinite(u[c])) std::fill(u, u + q, 0.0);
    double lp = 0.0, lp2 = 0.0;
    double val = cluster_pdev(pr, st, j, u, grad, hess, false, &lp);
    if (!std::isfinite(val)) {
        std::fill(u, u + q, 0.0);
        val = cluster_pdev(pr, st, j, u, grad, hess, false, &lp);
        if (!std::isfinite(val)) return false;
    }
    for (int it = 0;; ++it) {
        if (it == 200) return false;
        std::copy(hess, hess + q * q, L);
        if (!la::cholesky(L, q)) return false;
        double size = 0.0, smax = 0.0;
        for (int c = 0; c < q; ++c) {
            st.step[c] = -grad[c];
            size = std::max(size, std::fabs(u[c]));
        }
        la::chol_solve(L, q, st.step.data());
        for (int c = 0; c < q; ++c) smax = std::max(smax, std::fabs(st.step[c]));
        // Quadratic convergence: once the step is this small the next one is at rounding
        // level, so the mode (and the objective) no longer depend on the warm start.
        if (smax < 1e-11 * (1.0 + size)) break;
        double t = 1.0;
        bool accepted = false;
        for (int h = 0; h < 40; ++h, t *= 0.5) {
            for (int c = 0; c < q; ++c) st.trial[c] = u[c] + t * st.step[c];
            const double nv = cluster_pdev(pr, st, j, st.trial.data(), grad2, hess2, false, &lp2);
            if (nv <= val + 1e-13 * std::fabs(val)) {
                accepted = true;
                val = nv;
                lp = lp2;
                std::copy(st.trial.begin(), st.trial.begin() + q, u);
                std::copy(grad2, grad2 + q, grad);
                std::copy(hess2, hess2 + q * q, hess);
                break;
            }
        }
        if (!accepted) {
            if (smax < 1e-7 * (1.0 + size)) break;  // at the mode up to rounding
            return false;
        }
        // A full step this small leaves an error of order its square (~1e-12), far
        // below what the objective and its derivatives resolve: saves the pass that
        // would only confirm it.
        if (t == 1.0 && smax < 1e-6 * (1.0 + size)) break;
    }
    if (pr.link == GlmLink::probit) {  // lme4's L uses the Fisher weights
        cluster_pdev(pr, st, j, u, grad, hess, true);
    }
    std::copy(hess, hess + q * q, L);
    *pdev = val;
    *logp = lp;
    return la::cholesky(L, q);
}

}  // namespace

void GlmmProblem::build(const double* X_, const double* y_, const int64_t* group, int64_t n_, int p_,
                        int n_groups, const std::vector<int>& zc) {
    n = int(n_);
    p = p_;
    q = int(zc.size());
    n_clusters = n_groups;
    z_columns = zc;
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return group[a] < group[b]; });
    X.resize(size_t(n) * p);
    y.resize(n);
    start.assign(n_groups + 1, 0);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t r = order[i];
        std::copy(X_ + r * p, X_ + (r + 1) * p, X.begin() + i * p);
        y[i] = y_[r];
        ++start[group[r] + 1];
    }
    for (int g = 0; g < n_groups; ++g) start[g + 1] += start[g];
    set_log_norm();
}

void GlmmProblem::set_log_norm() {
    log_norm.assign(n_clusters, 0.0);
    if (family == GlmFamily::poisson)
        for (int g = 0; g < n_clusters; ++g)
            for (int64_t i = start[g]; i < start[g + 1]; ++i) log_norm[g] -= std::lgamma(y[i] + 1.0);
}

GaussHermite::GaussHermite(int n) {
    // Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the
    // probabilists' Hermite polynomials, the weights the squared first components.
    std::vector<double> J(n * n, 0.0), vals, vecs;
    for (int k = 0; k + 1 < n; ++k) J[k * n + k + 1] = J[(k + 1) * n + k] = std::sqrt(double(k + 1));
    la::sym_eigen(J, n, vals, vecs);
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return vals[a] < vals[b]; });
    for (int k : idx) {
        z.push_back(std::fabs(vals[k]) < 1e-14 ? 0.0 : vals[k]);
        w.push_back(vecs[k] * vecs[k]);  // row 0, column k
    }
}

bool glm_start(const GlmmProblem& pr, std::vector<double>& beta) {
    const int p = pr.p;
    const int64_t n = pr.n;
    std::vector<double> A(p * p), b(p), eta(n), trial(p);
    // First step: weighted least squares on the working response of a mean started
    // inside the support (R's mustart), so no family starts from a poor beta = 0.
    for (int64_t i = 0; i < n; ++i) {
        const double y = pr.y[i];
        if (pr.family == GlmFamily::poisson) {
            eta[i] = std::log(y + 0.1);
        } else {
            const double m = (y + 0.5) / 2.0;
            // m is 1/4 or 3/4: its logit, or its probit +-qnorm(3/4).
            const double probit = m > 0.5 ? 0.6744897501960817 : -0.6744897501960817;
            eta[i] = pr.link == GlmLink::logit ? std::log(m / (1.0 - m)) : probit;
        }
    }
    auto loglik = [&](const std::vector<double>& bt, bool accumulate) {
        double ll = 0.0;
        if (accumulate) {
            std::fill(A.begin(), A.end(), 0.0);
            std::fill(b.begin(), b.end(), 0.0);
        }
        for (int64_t i = 0; i < n; ++i) {
            const double* x = &pr.X[i * p];
            double e = 0.0;
            for (int c = 0; c < p; ++c) e += x[c] * bt[c];
            const RowTerms t = row_terms(pr.link, pr.y[i], e);
            ll += t.logp;
            if (!accumulate) continue;
            for (int c = 0; c < p; ++c) {
                b[c] += t.score * x[c];
                for (int d = 0; d <= c; ++d) A[c * p + d] += t.observed * x[c] * x[d];
            }
        }
        return ll;
    };
    // The WLS start: beta = (X'WX)^-1 X'W z with z = eta + (y - mu) / mu'.
    std::fill(A.begin(), A.end(), 0.0);
    std::fill(b.begin(), b.end(), 0.0);
    for (int64_t i = 0; i < n; ++i) {
        const RowTerms t = row_terms(pr.link, pr.y[i], eta[i]);
        const double z = eta[i] + t.score / t.fisher;
        const double* x = &pr.X[i * p];
        for (int c = 0; c < p; ++c) {
            b[c] += t.fisher * z * x[c];
            for (int d = 0; d <= c; ++d) A[c * p + d] += t.fisher * x[c] * x[d];
        }
    }
    for (int c = 0; c < p; ++c)
        for (int d = c + 1; d < p; ++d) A[c * p + d] = A[d * p + c];
    if (!la::cholesky(A.data(), p)) return false;
    la::chol_solve(A.data(), p, b.data());
    beta = b;
    // Then Newton with step-halving on the log-likelihood.
    double ll = loglik(beta, true);
    for (int it = 0; it < 50; ++it) {
        for (int c = 0; c < p; ++c)
            for (int d = c + 1; d < p; ++d) A[c * p + d] = A[d * p + c];
        if (!std::isfinite(ll) || !la::cholesky(A.data(), p)) return false;
        la::chol_solve(A.data(), p, b.data());
        double dec = 0.0, t = 1.0;
        bool accepted = false;
        for (int h = 0; h < 30; ++h, t *= 0.5) {
            for (int c = 0; c < p; ++c) trial[c] = beta[c] + t * b[c];
            const double nl = loglik(trial, false);
            if (nl >= ll - 1e-12 * std::fabs(ll)) {
                accepted = true;
                dec = nl - ll;
                break;
            }
        }
        if (!accepted) break;
        beta = trial;
        ll = loglik(beta, true);
        if (dec < 1e-10) break;
    }
    for (double v : beta)
        if (!std::isfinite(v)) return false;
    return true;
}

double glmm_objective(const GlmmProblem& pr, const double* theta, const double* beta, const GaussHermite* gh,
                      GlmmState& st) {
    const int q = pr.q, p = pr.p;
    const int64_t n = pr.n;
    st.lambda.assign(q * q, 0.0);
    for (int col = 0, k = 0; col < q; ++col)
        for (int row = col; row < q; ++row, ++k) st.lambda[row * q + col] = theta[k];
    st.offset.resize(n);
    st.a.resize(size_t(n) * q);
    st.u.resize(size_t(pr.n_clusters) * q, 0.0);
    st.L.resize(size_t(pr.n_clusters) * q * q);
    st.grad.resize(q);
    st.grad2.resize(q);
    st.hess.resize(q * q);
    st.hess2.resize(q * q);
    st.step.resize(q);
    st.trial.resize(q);
    for (int64_t i = 0; i < n; ++i) {
        const double* x = &pr.X[i * p];
        double o = 0.0;
        for (int c = 0; c < p; ++c) o += x[c] * beta[c];
        st.offset[i] = o;
        for (int c = 0; c < q; ++c) {  // a = Lambda' z
            double s = 0.0;
            for (int r = c; r < q; ++r) s += x[pr.z_columns[r]] * st.lambda[r * q + c];
            st.a[i * q + c] = s;
        }
    }
    double total = 0.0, lp_sum = 0.0, uu = 0.0, ld = 0.0;
    for (int j = 0; j < pr.n_clusters; ++j) {
        double pd = 0.0, lp = 0.0;
        if (!cluster_mode(pr, st, j, &pd, &lp)) return kInf;
        const double* u = &st.u[j * q];
        const double* L = &st.L[j * q * q];
        const double ldl = la::chol_logdet(L, q);
        lp_sum += lp;
        uu += pd + 2.0 * lp;
        ld += ldl;
        if (!gh || gh->z.size() == 1) {
            total += pd + ldl;  // Laplace: -2 log p(y|u) + u'u + log det(L L')
            continue;
        }
        // Adaptive Gauss-Hermite (q = 1): u = mode + z / L, the integrand of the normal
        // density's rule is p(y | u) phi(u) / phi(z) times the Jacobian 1 / L.
        const double sd = 1.0 / L[0];
        double mx = -kInf;
        std::vector<double>& terms = st.nodes;
        terms.resize(gh->z.size());
        for (size_t k = 0; k < gh->z.size(); ++k) {
            const double uk = u[0] + sd * gh->z[k];
            const double pdk = cluster_pdev(pr, st, j, &uk, nullptr, nullptr, false);
            terms[k] = std::log(gh->w[k]) - 0.5 * pdk + 0.5 * gh->z[k] * gh->z[k];
            mx = std::max(mx, terms[k]);
        }
        double s = 0.0;
        for (double v : terms) s += std::exp(v - mx);
        total += -2.0 * (mx + std::log(s)) + ldl;
    }
    st.loglik_cond = lp_sum;
    st.sq_u = uu;
    st.ldL2 = ld;
    return std::isfinite(total) ? total : kInf;
}

bool degenerate_fit(const GlmmProblem& pr, const GlmmState& st) {
    // The smallest fitted mean (or 1 - mean) that a finite optimum of real data can have:
    // beyond it the estimates are running off to infinity (separation, an outcome that
    // never varies, a count that is always 0) and only the optimiser's tolerance stopped them.
    constexpr double kTiny = 1e-10;
    bool varies = false;
    for (int i = 1; i < pr.n && !varies; ++i) varies = pr.y[i] != pr.y[0];
    if (!varies) return true;
    // As bounds on eta (the mean and 1 - mean are monotone in it), so no exp or log per
    // row; probit: qnorm(1e-10).
    double lo = std::log(kTiny / (1.0 - kTiny)), hi = -lo;
    if (pr.link == GlmLink::probit) {
        lo = -6.361340902404056;
        hi = -lo;
    } else if (pr.link != GlmLink::logit) {
        lo = std::log(kTiny);
        hi = kInf;
    }
    const int q = pr.q;
    for (int j = 0; j < pr.n_clusters; ++j)
        for (int64_t i = pr.start[j]; i < pr.start[j + 1]; ++i) {
            double eta = st.offset[i];
            for (int c = 0; c < q; ++c) eta += st.a[i * q + c] * st.u[j * q + c];
            if (!std::isfinite(eta) || eta < lo || eta > hi) return true;
        }
    return false;
}

double fisher_weight(GlmLink link, double y, double eta) { return row_terms(link, y, eta).fisher; }

double saturated_loglik(const GlmmProblem& pr) {
    if (pr.family == GlmFamily::binomial) return 0.0;  // 0/1 outcomes: p(y | mu = y) = 1
    double s = 0.0;
    for (double y : pr.y)
        if (y > 0) s += y * std::log(y) - y - std::lgamma(y + 1.0);
    return s;
}

}  // namespace mcps
