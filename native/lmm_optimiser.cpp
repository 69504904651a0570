// The optimiser: projected Newton on the sigma-profiled deviance in theta, with the
// exact gradient and Hessian of pass 2, from one or several starts.
#include <algorithm>
#include <cmath>

#include "linalg.hpp"
#include "lmm.hpp"
#include "lmm_detail.hpp"
#include "projected_newton.hpp"

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

// The one-grouping deviance as projected_newton.hpp sees it; current: ws holds pass 1 and
// pass 2 at the last evaluated theta.
struct OneGrouping {
    const Problem& pr;
    bool reml;
    Workspace& ws;
    const Tri& tri;
    int k;
    bool current = false;
    bool value(const std::vector<double>& x, double& f) {
        current = false;
        if (!evaluate(pr, reml, x.data(), ws)) return false;
        f = ws.deviance;
        return true;
    }
    bool derivatives() {
        if (!mcps::derivatives(pr, reml, ws)) return false;
        current = true;
        profiled_theta_derivs(ws, k);
        return true;
    }
    const std::vector<double>& gradient() const { return ws.g; }
    const std::vector<double>& hessian() const { return ws.H; }
    double lower(int i) const { return ws.lb[i]; }
    bool held(int i) const { return !pr.theta_free(tri.r[i], tri.c[i]); }
    bool flip(int i, std::vector<double>& x) const { return flip_column(tri, i, x); }
};

// Projected Newton (projected_newton.hpp) with the exact Hessian, bounds theta_ii >= 0.
// On success ws holds pass 1 and pass 2 at the returned theta.
Fit fit_from(const Problem& pr, const FitOptions& opt, std::vector<double> theta, Workspace& ws) {
    const int k = n_theta(pr.q);
    if (int(ws.lb.size()) != k) ws.lb = theta_lower(pr.q);
    Fit out;
    const Tri& tri = detail::tri_of(ws, pr.q);
    for (int i = 0; i < k; ++i)
        if (!pr.theta_free(tri.r[i], tri.c[i])) theta[i] = 0.0;
    OneGrouping pb{pr, opt.reml, ws, tri, k};
    pn::Options po;
    po.max_iter = opt.max_iter;
    po.tolerance = opt.tolerance;
    const pn::Outcome res = pn::minimise(pb, theta, po, ws);
    if (!res.ok) return out;
    if (!pb.current && !(evaluate(pr, opt.reml, theta.data(), ws) && derivatives(pr, opt.reml, ws))) return out;
    out.converged = res.converged;
    out.iterations = res.iterations;
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
