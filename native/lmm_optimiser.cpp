// The optimiser: projected Newton on the sigma-profiled deviance in theta, with the
// exact gradient and Hessian of pass 2, from one or several starts.
#include <algorithm>
#include <cmath>

#include "linalg.hpp"
#include "lmm.hpp"
#include "lmm_detail.hpp"

namespace mcps {

namespace {

// Gradient and Hessian of the sigma-profiled deviance in theta, from psi's:
// at sigma-hat the sigma component of the gradient is zero, and the Hessian of the
// profiled function is the Schur complement of the sigma block.
void profiled_theta_derivs(Workspace& ws, int k) {
    const int d = k + 1;
    ws.g.assign(ws.grad_psi.begin(), ws.grad_psi.begin() + k);
    ws.H.resize(k * k);
    const double hss = ws.hess_psi[k * d + k];
    for (int i = 0; i < k; ++i)
        for (int l = 0; l < k; ++l) {
            double h = ws.hess_psi[i * d + l];
            if (hss > 0) h -= ws.hess_psi[i * d + k] * ws.hess_psi[l * d + k] / hss;
            ws.H[i * k + l] = h;
        }
}

// A damped Hessian whose smallest Cholesky pivot is tiny against the Hessian's scale:
// mu has (nearly) cancelled a negative curvature, as mu = |H| does for a 1 x 1 Hessian,
// and the "Newton" step would be enormous (seen: 1e17 from a start past the optimum,
// where the profiled deviance is concave).  Take more damping instead.
bool well_damped(const std::vector<double>& l, int n, double scale) {
    for (int a = 0; a < n; ++a)
        if (l[a * n + a] * l[a * n + a] < 1e-6 * scale) return false;
    return true;
}

// With diagonal theta_i at zero, negating the entries below it in its column gives the same
// model (u_i and -u_i have one distribution), where the one-sided derivative in theta_i has
// the opposite sign.  So a bound that the gradient pushes against on one side of that
// mirror may be a descent direction on the other: flip, and step off the bound there
// (seen: 0.4% of random-slope fits at 6 clusters ended on such a bound, up to 2.5 units of
// deviance above the optimum that a multi-start fit finds).  False if the column is zero
// below the diagonal (nothing to flip).
bool flip_column(const Tri& tri, int i, std::vector<double>& theta) {
    if (tri.r[i] != tri.c[i]) return false;
    bool any = false;
    for (int a = 0; a < int(theta.size()); ++a)
        if (tri.c[a] == tri.c[i] && tri.r[a] > tri.c[i] && theta[a] != 0.0) {
            theta[a] = -theta[a];
            any = true;
        }
    return any;
}

// Projected Newton (Bertsekas 1982) on the profiled deviance with the exact Hessian,
// bounds theta_ii >= 0, Levenberg damping where the Hessian is not positive definite
// and an Armijo backtracking search along the projected path.  On success ws holds
// pass 1 and pass 2 at the returned theta.
Fit fit_from(const Problem& pr, const FitOptions& opt, std::vector<double> theta, Workspace& ws) {
    const int k = n_theta(pr.q);
    if (int(ws.lb.size()) != k) ws.lb = theta_lower(pr.q);
    const std::vector<double>& lb = ws.lb;
    Fit out;
    for (int i = 0; i < k; ++i) theta[i] = std::max(theta[i], lb[i]);
    const Tri& tri = detail::tri_of(ws, pr.q);
    for (int i = 0; i < k; ++i)
        if (!pr.theta_free(tri.r[i], tri.c[i])) theta[i] = 0.0;
    if (!evaluate(pr, opt.reml, theta.data(), ws)) return out;
    double dev = ws.deviance;
    std::vector<double>& step = ws.step;
    std::vector<double>& trial = ws.trial;
    step.resize(k);
    trial.resize(k);
    bool converged = false, current = false;  // current: ws holds both passes at theta
    int it = 0;
    double dev_late = dev;  // the deviance 20 iterations before the limit
    for (; it < opt.max_iter; ++it) {
        if (it == opt.max_iter - 20) dev_late = dev;
        if (!derivatives(pr, opt.reml, ws)) return out;
        current = true;
        profiled_theta_derivs(ws, k);
        const std::vector<double>& g = ws.g;
        const std::vector<double>& H = ws.H;
        // Active bounds: a diagonal at 0 whose gradient pushes outwards, or whose gradient
        // vanishes (as it does for the last column of Lambda) with the deviance curving
        // upwards.  With downward curvature the point is a saddle of the bound: step off it.
        bool saddle = false;
        ws.freev.clear();
        for (int i = 0; i < k; ++i) {
            if (!pr.theta_free(tri.r[i], tri.c[i])) continue;
            const bool at_bound = theta[i] <= lb[i] + 1e-12;
            const double gscale = 1e-10 * (1.0 + std::fabs(dev));
            if (at_bound && g[i] > gscale && flip_column(tri, i, theta)) {
                saddle = true;
                break;
            }
            if (at_bound && g[i] > gscale) continue;
            if (at_bound && g[i] >= -gscale) {
                if (H[i * k + i] >= 0.0) continue;
                theta[i] = lb[i] + 0.1;
                saddle = true;
            }
            ws.freev.push_back(i);
        }
        if (saddle) {
            if (!evaluate(pr, opt.reml, theta.data(), ws)) return out;
            dev = ws.deviance;
            current = false;
            continue;
        }
        const std::vector<int>& fv = ws.freev;
        const int nf = int(fv.size());
        std::fill(step.begin(), step.end(), 0.0);
        double dec = 0.0;  // Newton decrement g' H^-1 g over the free variables
        if (nf > 0) {
            double scale = 0.0;
            for (int a : fv) scale = std::max(scale, std::fabs(H[a * k + a]));
            scale = std::max(scale, 1e-12);
            double mu = 0.0;
            for (int attempt = 0; attempt < 40; ++attempt) {
                ws.Hf.assign(nf * nf, 0.0);
                for (int a = 0; a < nf; ++a) {
                    for (int b = 0; b < nf; ++b) ws.Hf[a * nf + b] = H[fv[a] * k + fv[b]];
                    ws.Hf[a * nf + a] += mu;
                }
                if (la::cholesky(ws.Hf.data(), nf) && (mu == 0.0 || well_damped(ws.Hf, nf, scale))) break;
                mu = mu == 0.0 ? 1e-10 * scale : mu * 10.0;
            }
            ws.gf.resize(nf);
            for (int a = 0; a < nf; ++a) ws.gf[a] = -g[fv[a]];
            la::chol_solve(ws.Hf.data(), nf, ws.gf.data());
            for (int a = 0; a < nf; ++a) {
                step[fv[a]] = ws.gf[a];
                dec -= g[fv[a]] * ws.gf[a];
            }
        }
        if (dec < opt.tolerance) {
            converged = true;
            break;
        }
        double t = 1.0;
        bool accepted = false;
        for (int ls = 0; ls < 50; ++ls, t *= 0.5) {
            double slope = 0.0;
            for (int i = 0; i < k; ++i) {
                trial[i] = std::max(lb[i], theta[i] + t * step[i]);
                slope += g[i] * (trial[i] - theta[i]);
            }
            current = false;
            if (evaluate(pr, opt.reml, trial.data(), ws) && ws.deviance <= dev + 1e-4 * slope) {
                accepted = true;
                break;
            }
        }
        if (!accepted) {
            // No descent along the Newton path: at the optimum up to rounding if the
            // predicted decrease is negligible, otherwise a failure.
            converged = dec < 1e-6;
            break;
        }
        theta.swap(trial);
        dev = ws.deviance;
    }
    // Still descending at the iteration limit, but by less than 1e-6 (on the deviance scale,
    // nothing a test could see) over the last 20 iterations: a crawl along a flat valley
    // towards a degenerate corner (seen: a random slope whose intercept-slope correlation
    // tends to -1, 1 fit in 392,000).  The point reached is the answer, as a derivative-free
    // optimiser's tolerance on the objective would have it.
    if (!converged && it == opt.max_iter && dev_late - dev < 1e-6) converged = true;
    if (!current && !(evaluate(pr, opt.reml, theta.data(), ws) && derivatives(pr, opt.reml, ws))) return out;
    out.converged = converged;
    out.iterations = it;
    out.theta = theta;
    out.deviance = ws.deviance;
    return out;
}

}  // namespace

Fit fit(const Problem& pr, const FitOptions& opt, const std::vector<std::vector<double>>& starts,
        Workspace& ws) {
    Fit best;
    bool have = false, ws_at_best = false;
    int total_iter = 0;
    for (const auto& st : starts) {
        Fit f = fit_from(pr, opt, st, ws);
        total_iter += f.iterations;
        ws_at_best = false;
        if (f.theta.empty()) continue;
        const bool better = !have || (f.converged && !best.converged) ||
                            (f.converged == best.converged && f.deviance < best.deviance - 1e-10);
        if (better) {
            best = std::move(f);
            have = true;
            ws_at_best = true;
        }
    }
    if (!have) return best;
    best.iterations = total_iter;
    const int p = pr.p, q = pr.q;
    if (!ws_at_best &&
        !(evaluate(pr, opt.reml, best.theta.data(), ws) && derivatives(pr, opt.reml, ws))) {
        best.converged = false;
        return best;
    }
    best.sigma2 = ws.s2;
    best.beta = ws.beta;
    best.vcov.resize(p * p);
    for (int i = 0; i < p * p; ++i) best.vcov[i] = ws.s2 * ws.phi_inv[i];
    best.re_cov.assign(q * q, 0.0);
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l)
            for (int c = 0; c < q; ++c)
                best.re_cov[i * q + l] += ws.s2 * ws.lambda[i * q + c] * ws.lambda[l * q + c];
    const Tri& tri = detail::tri_of(ws, q);
    for (int a = 0; a < int(tri.r.size()); ++a)
        if (tri.r[a] == tri.c[a] && best.theta[a] < opt.singular_tol) best.singular = true;
    return best;
}

}  // namespace mcps
