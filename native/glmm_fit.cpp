// Fitting a one-factor GLMM: minimise -2 log L (Laplace or adaptive Gauss-Hermite) over
// (theta, beta) jointly, as glmer's second stage does, by projected Newton with the
// Laplace deviance's exact gradient and Hessian (glmm_derivatives.cpp; finite
// differences for adaptive quadrature), then lme4's Hessian-based covariance of beta:
// the exact Hessian where glmer takes finite differences of the same deviance.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "finite_differences.hpp"
#include "glmm.hpp"
#include "glmm_derivatives.hpp"
#include "linalg.hpp"

namespace mcps {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// lme4's deriv12 step (numDeriv-style central differences with delta = 1e-4).
constexpr double kDelta = 1e-4;
// A Newton step longer than kFlatStep (link-scale units) predicting a decrease of -2 log L
// below kFlatDecrease: a flat direction (curvature below 1e-4, an SE above 100), not an
// optimum (see minimise).
constexpr double kFlatStep = 0.1;
constexpr double kFlatDecrease = 1e-6;

// The optimisation variables: the free theta (all of the lower triangle, or only its
// diagonal for (Z || g)) followed by beta.
struct Objective {
    const GlmmProblem& pr;
    const GaussHermite* gh;
    GlmmState& st;
    std::vector<int> theta_index;  // position in theta of each free theta variable
    std::vector<bool> bounded;     // variable has lower bound 0 (a diagonal of Lambda)
    std::vector<double> theta, beta;
    std::vector<double> last;      // the point st describes (its modes, offsets, L)
    // The modes' slopes d u / d x at `anchor` (from the Laplace derivatives): each
    // evaluation starts PIRLS from their linear prediction instead of the last modes.
    LaplaceDerivatives ld;
    std::vector<double> anchor, anchor_u;
    int evaluations = 0;

    Objective(const GlmmProblem& pr_, const GaussHermite* gh_, GlmmState& st_) : pr(pr_), gh(gh_), st(st_) {
        for (int col = 0, k = 0; col < pr.q; ++col)
            for (int row = col; row < pr.q; ++row, ++k) {
                if (pr.diagonal && row != col) continue;
                theta_index.push_back(k);
                bounded.push_back(row == col);
            }
        for (int c = 0; c < pr.p; ++c) bounded.push_back(false);
        theta.assign(pr.n_theta(), 0.0);
        beta.assign(pr.p, 0.0);
    }
    int size() const { return int(bounded.size()); }
    int n_free_theta() const { return int(theta_index.size()); }
    bool laplace() const { return !gh || gh->z.size() == 1; }

    double operator()(const std::vector<double>& x) {
        ++evaluations;
        const int k = n_free_theta(), K = size(), q = pr.q;
        for (int a = 0; a < k; ++a) theta[theta_index[a]] = x[a];
        for (int c = 0; c < pr.p; ++c) beta[c] = x[k + c];
        if (!anchor.empty()) {
            for (int j = 0; j < pr.n_clusters; ++j)
                for (int c = 0; c < q; ++c) {
                    const double* slope = &ld.mode_slope[(size_t(j) * q + c) * K];
                    double u = anchor_u[size_t(j) * q + c];
                    for (int a = 0; a < K; ++a) u += slope[a] * (x[a] - anchor[a]);
                    st.u[size_t(j) * q + c] = u;
                }
        }
        last = x;
        return glmm_objective(pr, theta.data(), beta.data(), gh, st);
    }

    // Exact gradient and Hessian of the Laplace deviance at x (f0 = f(x)); central
    // differences for adaptive quadrature.
    bool derivatives(const std::vector<double>& x, double f0, std::vector<double>& g, std::vector<double>& H,
                     bool central);
};

// Finite differences (finite_differences.hpp) where there are no exact derivatives
// (adaptive quadrature).  Lambda's diagonals may step below 0: -2 log L depends on them only
// through Lambda Lambda', so it is even in each and the stencil stays valid on the
// boundary, as in lme4's deriv12.

bool Objective::derivatives(const std::vector<double>& x, double f0, std::vector<double>& g,
                            std::vector<double>& H, bool central) {
    if (!laplace()) return fd_gradient_hessian(*this, x, f0, kDelta, central, g, H);
    if (anchor != x) {  // else they are at hand (the optimiser's last iterate)
        if (last != x && !std::isfinite((*this)(x))) return false;
        if (!laplace_derivatives(pr, st, theta_index, true, ld)) return false;
        for (double v : ld.hess)
            if (!std::isfinite(v)) return false;
        anchor = x;
        anchor_u = st.u;
    }
    g = ld.grad;
    H = ld.hess;
    return true;
}

struct NewtonResult {
    bool converged = false;
    bool degenerate = false;  // stopped where the estimates run off to infinity
    int iterations = 0;
    double value = kInf;
};

// Projected Newton (Bertsekas 1982) with Levenberg damping and an Armijo search along
// the projected path; the diagonals of Lambda are bounded below by 0.
NewtonResult minimise(Objective& f, std::vector<double>& x, const GlmmFitOptions& opt) {
    const int k = f.size();
    NewtonResult res;
    for (int i = 0; i < k; ++i)
        if (f.bounded[i]) x[i] = std::max(x[i], 0.0);
    double fx = f(x);
    if (!std::isfinite(fx)) return res;
    std::vector<double> g, H, Hf, step(k), trial(k);
    std::vector<int> fv;
    for (int it = 0; it < opt.max_iter; ++it) {
        res.iterations = it + 1;
        if (!f.derivatives(x, fx, g, H, false)) break;
        // Active bounds: a diagonal at 0 pushed outwards, or at 0 with zero slope (the
        // objective is even there) and upward curvature.  With downward curvature the
        // boundary point is a saddle: step off it.
        fv.clear();
        bool saddle = false;
        for (int i = 0; i < k; ++i) {
            const double gscale = 1e-7 * (1.0 + std::fabs(fx));
            if (f.bounded[i] && x[i] <= 1e-10) {
                if (g[i] > gscale) continue;
                if (g[i] >= -gscale) {
                    if (H[i * k + i] >= 0.0) continue;
                    x[i] = 0.1;
                    saddle = true;
                }
            }
            fv.push_back(i);
        }
        if (saddle) {
            fx = f(x);
            if (!std::isfinite(fx)) break;
            continue;
        }
        const int nf = int(fv.size());
        std::fill(step.begin(), step.end(), 0.0);
        double dec = 0.0;
        if (nf > 0) {
            double scale = 1e-12;
            for (int a : fv) scale = std::max(scale, std::fabs(H[a * k + a]));
            double mu = 0.0;
            for (int attempt = 0; attempt < 40; ++attempt) {
                Hf.assign(nf * nf, 0.0);
                for (int a = 0; a < nf; ++a) {
                    for (int b = 0; b < nf; ++b) Hf[a * nf + b] = H[fv[a] * k + fv[b]];
                    Hf[a * nf + a] += mu;
                }
                if (la::cholesky(Hf.data(), nf)) break;
                mu = mu == 0.0 ? 1e-8 * scale : mu * 10.0;
            }
            std::vector<double> gf(nf);
            for (int a = 0; a < nf; ++a) gf[a] = -g[fv[a]];
            la::chol_solve(Hf.data(), nf, gf.data());
            for (int a = 0; a < nf; ++a) {
                step[fv[a]] = gf[a];
                dec -= g[fv[a]] * gf[a];
            }
        }
        if (dec < opt.tolerance) {
            res.converged = true;
            break;
        }
        // A long Newton step that predicts almost no decrease: the objective is flat along
        // it, i.e. estimates running off to infinity (separation, an all-zero arm) rather
        // than an optimum, where such a small decrease comes with a tiny step.
        double longest = 0.0;
        for (int i = 0; i < k; ++i) longest = std::max(longest, std::fabs(step[i]));
        if (dec < kFlatDecrease && longest > kFlatStep) {
            res.degenerate = true;
            break;
        }
        double t = 1.0;
        bool accepted = false;
        for (int ls = 0; ls < 40; ++ls, t *= 0.5) {
            double slope = 0.0;
            for (int i = 0; i < k; ++i) {
                trial[i] = x[i] + t * step[i];
                if (f.bounded[i]) trial[i] = std::max(trial[i], 0.0);
                slope += g[i] * (trial[i] - x[i]);
            }
            const double ft = f(trial);
            if (std::isfinite(ft) && ft <= fx + 1e-4 * std::min(slope, 0.0)) {
                accepted = true;
                x.swap(trial);
                fx = ft;
                break;
            }
        }
        // Separation and the like: the iterates run off to infinity (each step slower, as
        // the modes need more PIRLS passes); the fit would end flagged, so stop here.
        if (accepted && degenerate_fit(f.pr, f.st)) {
            res.degenerate = true;
            break;
        }
        if (!accepted) {
            // No descent along the Newton path: at the optimum up to the accuracy of the
            // finite differences if the predicted decrease is negligible.
            res.converged = dec < 1e-5;
            break;
        }
    }
    res.value = fx;
    return res;
}

// (X'WX - X'WZ Lambda (L L')^-1 Lambda'Z'WX)^-1 at the current modes (Fisher W): lme4's
// RX-based covariance, conditional on theta.
bool vcov_from_rx(const GlmmProblem& pr, GlmmState& st, std::vector<double>& V) {
    const int p = pr.p, q = pr.q;
    std::vector<double> A(p * p, 0.0), B(q * p);
    for (int j = 0; j < pr.n_clusters; ++j) {
        std::fill(B.begin(), B.end(), 0.0);  // Lambda'Z'W X of the cluster
        for (int64_t i = pr.start[j]; i < pr.start[j + 1]; ++i) {
            const double* x = &pr.X[i * p];
            const double* a = &st.a[i * q];
            double eta = st.offset[i];
            for (int c = 0; c < q; ++c) eta += a[c] * st.u[j * q + c];
            const double w = fisher_weight(pr.link, pr.y[i], eta);
            for (int c = 0; c < p; ++c) {
                for (int d = 0; d <= c; ++d) A[c * p + d] += w * x[c] * x[d];
                for (int r = 0; r < q; ++r) B[r * p + c] += w * a[r] * x[c];
            }
        }
        const double* L = &st.L[j * q * q];
        for (int c = 0; c < p; ++c) {  // B <- L^-1 B, column by column
            for (int r = 0; r < q; ++r) {
                double s = B[r * p + c];
                for (int m = 0; m < r; ++m) s -= L[r * q + m] * B[m * p + c];
                B[r * p + c] = s / L[r * q + r];
            }
        }
        for (int c = 0; c < p; ++c)
            for (int d = 0; d <= c; ++d)
                for (int r = 0; r < q; ++r) A[c * p + d] -= B[r * p + c] * B[r * p + d];
    }
    for (int c = 0; c < p; ++c)
        for (int d = c + 1; d < p; ++d) A[c * p + d] = A[d * p + c];
    if (!la::cholesky(A.data(), p)) return false;
    V.resize(p * p);
    la::chol_inverse(A.data(), p, V.data());
    return true;
}

}  // namespace

void check_glmm_options(GlmFamily family, GlmLink link, int nagq, int q) {
    const bool ok = (family == GlmFamily::binomial && (link == GlmLink::logit || link == GlmLink::probit)) ||
                    (family == GlmFamily::poisson && link == GlmLink::log);
    if (!ok) throw std::invalid_argument("a GLMM is binomial (logit or probit link) or poisson (log link)");
    if (nagq < 1 || nagq > 25) throw std::invalid_argument("nagq must be 1 (Laplace) to 25");
    if (nagq > 1 && q != 1)
        throw std::invalid_argument("nagq > 1 needs exactly one random effect (a random intercept)");
}

GlmmFit fit_glmm(const GlmmProblem& pr, const GlmmFitOptions& opt) {
    GlmmFit out;
    const int p = pr.p, q = pr.q;
    GaussHermite rule(opt.nagq);
    GlmmState st;
    Objective f(pr, opt.nagq > 1 ? &rule : nullptr, st);
    std::vector<double> x(f.size(), 0.0);
    const bool given = int(opt.start_beta.size()) == p && int(opt.start_theta.size()) == pr.n_theta();
    std::vector<double> beta0 = opt.start_beta;
    if (!given && !glm_start(pr, beta0)) return out;
    for (int a = 0; a < f.n_free_theta(); ++a)
        x[a] = given ? opt.start_theta[f.theta_index[a]] : (f.bounded[a] ? 1.0 : 0.0);
    for (int c = 0; c < p; ++c) x[f.n_free_theta() + c] = beta0[c];
    const NewtonResult res = minimise(f, x, opt);
    out.iterations = res.iterations;
    if (!std::isfinite(res.value)) return out;
    // Covariance of beta as glmer's summary reports it: twice the inverse of the Hessian
    // of -2 log L over (theta, beta), its beta block; RX's when that is not positive
    // definite (lme4 falls back the same way, with a warning).
    std::vector<double> g, H, Hinv(f.size() * f.size());
    const int k = f.size(), kt = f.n_free_theta();
    bool hessian_ok = f.derivatives(x, res.value, g, H, true);
    const double value = f.last == x ? res.value : f(x);  // leaves st at the optimum
    out.minus_two_loglik = value;
    out.saturated_loglik = saturated_loglik(pr);
    out.theta = f.theta;
    out.beta = f.beta;
    out.u = st.u;
    if (!vcov_from_rx(pr, st, out.vcov_rx)) return out;
    if (hessian_ok) hessian_ok = la::cholesky(H.data(), k);
    if (hessian_ok) {
        la::chol_inverse(H.data(), k, Hinv.data());
        out.vcov.resize(p * p);
        for (int c = 0; c < p; ++c)
            for (int d = 0; d < p; ++d) out.vcov[c * p + d] = 2.0 * Hinv[(kt + c) * k + kt + d];
    } else {
        out.vcov = out.vcov_rx;
    }
    out.re_cov.assign(q * q, 0.0);
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l)
            for (int c = 0; c < q; ++c) out.re_cov[i * q + l] += st.lambda[i * q + c] * st.lambda[l * q + c];
    for (int col = 0, a = 0; col < q; ++col)
        for (int row = col; row < q; ++row, ++a)
            if (row == col && out.theta[a] < opt.singular_tol) out.singular = true;
    bool finite = true;
    for (double v : out.vcov) finite = finite && std::isfinite(v);
    for (double v : out.beta) finite = finite && std::isfinite(v);
    out.degenerate = res.degenerate || degenerate_fit(pr, st);
    out.converged = res.converged && finite && !out.degenerate;
    return out;
}

}  // namespace mcps
