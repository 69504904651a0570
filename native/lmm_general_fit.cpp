// Several random-effect terms: the optimiser over theta and the Wald tests.
//
// The profiled deviance is a smooth function of theta everywhere (a negative diagonal of
// T_k gives the model of the column negated); its exact gradient (lmm_general.cpp) and a
// Hessian from forward differences of that gradient (or its BFGS update, see Profiled)
// drive the projected Newton method of
// the one-grouping fit (projected_newton.hpp): bounds theta_ii >= 0, Levenberg damping,
// an Armijo search along the projected path, and the column flip off a bound.
// Satterthwaite's df follow lmerTest exactly: the Hessian of the deviance in
// (theta, sigma) and the Jacobian of Var(beta) in the same parameters, inverted over the
// positive eigenvalues; numerical derivatives there too (lmerTest uses numDeriv), here
// forward differences of Var(beta) and of the exact gradient.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "inference.hpp"
#include "linalg.hpp"
#include "lmm_general.hpp"
#include "projected_newton.hpp"

namespace mcps::general {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Position of each theta within its term's T_k.
struct ThetaMap {
    std::vector<int> term, row, col;
    explicit ThetaMap(const Model& md) {
        for (size_t t = 0; t < md.pk.size(); ++t)
            for (int c = 0; c < md.pk[t]; ++c)
                for (int r = c; r < md.pk[t]; ++r) {
                    term.push_back(int(t));
                    row.push_back(r);
                    col.push_back(c);
                }
    }
    bool diagonal(int i) const { return row[i] == col[i]; }
};

// Negate the entries below diagonal i in its column (the same model; see lmm_optimiser.cpp).
bool flip_column(const ThetaMap& tm, int i, std::vector<double>& th) {
    bool any = false;
    for (int a = 0; a < int(th.size()); ++a)
        if (tm.term[a] == tm.term[i] && tm.col[a] == tm.col[i] && tm.row[a] > tm.row[i] && th[a] != 0.0) {
            th[a] = -th[a];
            any = true;
        }
    return any;
}

struct Run {
    bool converged = false;
    int iterations = 0;
    double deviance = kInf;
    std::vector<double> theta;
};

// The profiled deviance as projected_newton.hpp sees it: its exact gradient, and a Hessian
// from forward differences of that gradient (k more gradients), or, away from the bounds,
// its BFGS update (Nocedal & Wright 2006, eq. 6.19) from the last iterate.  So the active
// bounds and the saddles of a bound are decided by Newton's method with the differenced
// Hessian (made positive definite where it is not, see saddle_free); convergence (a
// decrement below 1e-12, see newton) by the updated one, which leaves the deviance within
// ~1e-11 of the optimum and the df within ~1e-5 (a quarter fewer evaluations).
//
// A positive diagonal of Lambda falls at most to 0.3 of its value in one step (to its bound
// only from below 0.03): from lme4's start, T_k = I, the deviance is much flatter than near
// the optimum and the first Newton steps overshoot onto the bound, from which each step
// off costs an iteration (seen: 4 of 10).
struct Profiled {
    const Model& md;
    bool reml;
    const ThetaMap& tm;
    Eval ev;
    Scratch sc;
    int evaluations = 0;
    bool secant = false;   // H and (x_prev, g_prev) may be updated by BFGS
    bool current = false;       // ev and sc hold the factors at x
    bool grad_current = false;  // g and dr2 are the gradients at x
    std::vector<double> x, g, dr2, H, gp, xp, x_prev, g_prev, work;
    std::vector<double> anchor;  // the iterate of the last derivatives(): the steps' origin
    pn::Buffers buf;
    Profiled(const Model& md_, bool reml_, const ThetaMap& tm_) : md(md_), reml(reml_), tm(tm_) { sc.keep = true; }
    bool value(const std::vector<double>& th, double& f) {
        ++evaluations;
        current = grad_current = false;
        if (!evaluate(md, reml, th.data(), ev, sc, false)) return false;
        f = ev.deviance;
        x = th;
        current = true;
        return true;
    }
    bool derivatives() {
        const int k = int(x.size());
        anchor = x;
        if (!gradient_at(md, reml, ev, sc, g, &dr2)) return false;  // value() kept the factors at x
        grad_current = true;
        bool at_bound = false;
        for (int i = 0; i < k; ++i) at_bound = at_bound || (tm.diagonal(i) && x[i] <= 1e-12);
        const bool fresh = at_bound || !secant || !bfgs_update(k);
        if (fresh && !differenced(k)) return false;
        if (fresh && !at_bound) saddle_free(k);
        secant = !at_bound;
        x_prev = x;
        g_prev = g;
        return true;
    }
    bool differenced(int k) {
        evaluations += k;
        current = false;  // the factors are those of the last step
        H.assign(size_t(k) * k, 0.0);
        xp = x;
        for (int i = 0; i < k; ++i) {
            const double h = 1e-6 * std::max(1.0, std::fabs(x[i]));
            xp[i] = x[i] + h;
            if (!general::gradient(md, reml, xp.data(), ev, sc, gp)) return false;
            xp[i] = x[i];
            for (int j = 0; j < k; ++j) H[j * k + i] = (gp[j] - g[j]) / h;
        }
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < i; ++j) H[i * k + j] = H[j * k + i] = 0.5 * (H[i * k + j] + H[j * k + i]);
        for (double v : H)
            if (!std::isfinite(v)) return false;
        return true;
    }
    // Where the deviance is not convex (far from the optimum, typically at large theta), H
    // with its eigenvalues replaced by their absolute values (Dauphin et al. 2014's
    // saddle-free Newton): the step goes as far down a concave direction as Newton's goes
    // along a convex one, where Levenberg damping would creep (seen: 10 iterations from
    // theta = 3 I).  Only away from the bounds, whose saddle test reads H's own diagonal.
    void saddle_free(int k) {
        work = H;
        if (la::cholesky(work.data(), k)) return;
        std::vector<double> lam, V;
        la::sym_eigen(H, k, lam, V);
        double top = 0.0;
        for (double l : lam) top = std::max(top, std::fabs(l));
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < k; ++j) {
                double h = 0.0;
                for (int e = 0; e < k; ++e) h += V[i * k + e] * std::max(std::fabs(lam[e]), 1e-8 * top) * V[j * k + e];
                H[i * k + j] = h;
            }
    }
    // H + y y' / s'y - H s s'H / s'H s; false (H unchanged) without positive curvature along s.
    bool bfgs_update(int k) {
        double sy = 0.0, ss = 0.0, yy = 0.0, sHs = 0.0;
        work.assign(k, 0.0);
        for (int i = 0; i < k; ++i) {
            const double si = x[i] - x_prev[i], yi = g[i] - g_prev[i];
            sy += si * yi;
            ss += si * si;
            yy += yi * yi;
            for (int j = 0; j < k; ++j) work[i] += H[i * k + j] * (x[j] - x_prev[j]);
        }
        for (int i = 0; i < k; ++i) sHs += (x[i] - x_prev[i]) * work[i];
        if (!(sy > 1e-8 * std::sqrt(ss * yy)) || !(sHs > 0.0)) return false;
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < k; ++j)
                H[i * k + j] += (g[i] - g_prev[i]) * (g[j] - g_prev[j]) / sy - work[i] * work[j] / sHs;
        return true;
    }
    const std::vector<double>& gradient() const { return g; }
    const std::vector<double>& hessian() const { return H; }
    double lower(int i) const {
        if (!tm.diagonal(i)) return -kInf;
        return !anchor.empty() && anchor[i] > 0.03 ? 0.3 * anchor[i] : 0.0;
    }
    bool held(int) const { return false; }
    bool flip(int i, std::vector<double>& th) const { return flip_column(tm, i, th); }
};

Run newton(Profiled& f, std::vector<double> th) {
    pn::Options opt;
    opt.max_iter = 100;
    // A decrement of 1e-12 (not 1e-10): theta within ~3e-7 of the optimum and the df within
    // ~6e-6 of a fit converged to 1e-15 (1e-10 left 3e-5), for about one more gradient per fit
    // from the moment start.
    opt.tolerance = 1e-12;
    f.secant = false;
    f.anchor.clear();
    const pn::Outcome res = pn::minimise(f, th, opt, f.buf);
    Run out;
    if (!res.ok) return out;
    out.converged = res.converged;
    out.iterations = res.iterations;
    out.deviance = res.value;
    out.theta = th;
    return out;
}

// Forward differences of a vector function F: R^k -> R^m at x, f0 = F(x): its Jacobian J
// (m x k), at half the evaluations of central differences (k instead of 2k).  Steps of
// 1e-7 relative balance the truncation error (h f'' / 2) against the rounding of the
// exact gradient (relative eps times the sizes of its two terms, over h): the df come
// within ~2e-6 relative of central differences with steps of 1e-5 (central ones with
// 1e-4 within 5e-8), far below what a p-value shows.
template <typename Fn>
void forward(Fn&& F, const std::vector<double>& x, const std::vector<double>& f0, std::vector<double>& J) {
    const int k = int(x.size()), m = int(f0.size());
    J.assign(size_t(m) * k, 0.0);
    std::vector<double> y = x;
    for (int i = 0; i < k; ++i) {
        const double h = 1e-7 * std::max(0.1, std::fabs(x[i]));
        y[i] = x[i] + h;
        const std::vector<double> fp = F(y);
        y[i] = x[i];
        const double step = y[i] + h - x[i];  // the step as represented
        for (int c = 0; c < m; ++c) J[size_t(c) * k + i] = (fp[c] - f0[c]) / step;
    }
}

// What Satterthwaite's df of any contrast l'beta needs at theta-hat, sigma-hat (lmerTest):
// A = 2 H^+ over psi = (theta, sigma) and dV[i] = d Var(beta) / d psi_i (p x p each).
struct Satterthwaite {
    int d = 0, p = 0;
    std::vector<double> A, dV;
    // 2 Var(l'b)^2 / (g' A g), g_i = l' dV_i l; var = l' Var(beta) l.
    double df(const double* l, double var) const {
        std::vector<double> g(d, 0.0);
        for (int i = 0; i < d; ++i)
            for (int a = 0; a < p; ++a)
                for (int b = 0; b < p; ++b) g[i] += l[a] * dV[(size_t(i) * p + a) * p + b] * l[b];
        double denom = 0.0;
        for (int i = 0; i < d; ++i)
            for (int j = 0; j < d; ++j) denom += g[i] * A[i * d + j] * g[j];
        return denom > 0.0 ? 2.0 * var * var / denom : std::numeric_limits<double>::quiet_NaN();
    }
};

// f's last evaluate was at theta (its factors kept; with f.grad_current, its gradients too).
Satterthwaite satterthwaite(Profiled& f, const std::vector<double>& theta, double sigma,
                            const std::vector<double>& rx_inv) {
    const Model& md = f.md;
    const int k = int(theta.size()), p = md.p, d = k + 1;
    const double s2 = sigma * sigma, nn = f.reml ? double(md.n - p) : double(md.n);
    // Component 0: r2; then (R_X'R_X)^-1; then the gradient of g1 + r2 / sigma^2 (the
    // deviance at sigma fixed) in theta: the profiled one's plus dr2 (1 / sigma^2 - nn / r2),
    // from f's factors (after an evaluate with beta) and the gradients there.
    std::vector<double> g, dr2;
    auto pack = [&](bool ok) {
        std::vector<double> v(1 + size_t(p) * p + k, kNaN);
        if (!ok) return v;
        v[0] = f.ev.r2;
        std::copy(f.ev.rx_inv.begin(), f.ev.rx_inv.end(), v.begin() + 1);
        for (int i = 0; i < k; ++i) v[1 + size_t(p) * p + i] = g[i] + dr2[i] * (1.0 / s2 - nn / f.ev.r2);
        return v;
    };
    auto F = [&](const std::vector<double>& th) {
        return pack(evaluate(md, f.reml, th.data(), f.ev, f.sc, true) && gradient_at(md, f.reml, f.ev, f.sc, g, &dr2));
    };
    // At theta from the factors there, with r^2 and its gradient (the optimiser's, if current).
    const double r2 = f.ev.r2;
    bool ok = true;
    if (f.grad_current) {
        g = f.g;
        dr2 = f.dr2;
    } else {
        ok = gradient_at(md, f.reml, f.ev, f.sc, g, &dr2);
    }
    const std::vector<double> f0 = pack(ok);
    const std::vector<double> dr2_hat = ok ? dr2 : std::vector<double>(k, kNaN);
    std::vector<double> J;
    forward(F, theta, f0, J);
    std::vector<double> H(size_t(d) * d);
    const double* Jg = &J[(1 + size_t(p) * p) * k];
    for (int i = 0; i < k; ++i) {
        for (int j = 0; j < k; ++j) H[i * d + j] = 0.5 * (Jg[i * k + j] + Jg[j * k + i]);
        H[i * d + k] = H[k * d + i] = -2.0 * dr2_hat[i] / (s2 * sigma);
    }
    H[k * d + k] = 6.0 * r2 / (s2 * s2) - 2.0 * nn / s2;
    std::vector<double> w, V;
    la::sym_eigen(H, d, w, V);
    Satterthwaite out;
    out.d = d;
    out.p = p;
    out.A.assign(size_t(d) * d, 0.0);  // over eigenvalues above lmerTest's 1e-8
    for (int e = 0; e < d; ++e) {
        if (!(w[e] > 1e-8)) continue;
        for (int i = 0; i < d; ++i)
            for (int l = 0; l < d; ++l) out.A[i * d + l] += 2.0 * V[i * d + e] * V[l * d + e] / w[e];
    }
    out.dV.resize(size_t(d) * p * p);
    for (int a = 0; a < p * p; ++a) {
        for (int i = 0; i < k; ++i) out.dV[size_t(i) * p * p + a] = s2 * J[(1 + size_t(a)) * k + i];
        out.dV[size_t(k) * p * p + a] = 2.0 * sigma * rx_inv[a];
    }
    return out;
}

// lmerTest's contestMD: Var(L b) = P D P', the contrasts P'L b with positive variance, each
// with its Satterthwaite df, F = mean of their t^2, denominator df fstat_ddf (f_tests.cpp).
JointTest contest(const Result& fit, const Satterthwaite& sat, const std::vector<int>& cols) {
    const int p = int(fit.beta.size()), q = int(cols.size());
    std::vector<double> VL(size_t(q) * q), dvals, P, l(p), nu;
    for (int i = 0; i < q; ++i)
        for (int j = 0; j < q; ++j) VL[i * q + j] = fit.vcov[size_t(cols[i]) * p + cols[j]];
    la::sym_eigen(VL, q, dvals, P);
    const double tol = std::max(1.4901161193847656e-08 * *std::max_element(dvals.begin(), dvals.end()), 0.0);
    double sum_t2 = 0.0;
    for (int e = 0; e < q; ++e) {
        if (!(dvals[e] > tol)) continue;
        std::fill(l.begin(), l.end(), 0.0);
        for (int i = 0; i < q; ++i) l[cols[i]] = P[i * q + e];
        double est = 0.0;
        for (int c = 0; c < p; ++c) est += l[c] * fit.beta[c];
        sum_t2 += est * est / dvals[e];
        nu.push_back(sat.df(l.data(), dvals[e]));
    }
    JointTest out;
    if (nu.empty()) return {kNaN, kNaN, kNaN, kNaN};
    out.num_df = double(nu.size());
    out.F = sum_t2 / out.num_df;
    out.den_df = fstat_ddf(nu);
    return out;
}

// The Wald F, b_L' Var(b_L)^-1 b_L / q, on the coefficients' (smallest) df.
JointTest wald_f(const Result& fit, const std::vector<int>& cols) {
    const int p = int(fit.beta.size()), q = int(cols.size());
    std::vector<double> B(size_t(q) * q), b(q);
    for (int i = 0; i < q; ++i) {
        b[i] = fit.beta[cols[i]];
        for (int j = 0; j < q; ++j) B[i * q + j] = fit.vcov[size_t(cols[i]) * p + cols[j]];
    }
    JointTest out;
    out.num_df = q;
    out.den_df = kInf;
    for (int c : cols) out.den_df = std::min(out.den_df, fit.df[c]);
    if (!la::cholesky(B.data(), q)) return {kNaN, kNaN, kNaN, kNaN};
    std::vector<double> x = b;
    la::chol_solve(B.data(), q, x.data());
    double w = 0.0;
    for (int i = 0; i < q; ++i) w += b[i] * x[i];
    out.F = w / q;
    return out;
}

}  // namespace

Result fit_general(const double* X, const double* y, int64_t n, int p, const std::vector<TermInput>& terms,
                   Estimator estimator, DfMethod df_method, const std::vector<std::vector<int>>& joint_tests,
                   bool first_converged, bool nested_kernel) {
    if (df_method == DfMethod::between_within)
        throw std::invalid_argument(
            "with several random-effect terms the df methods are satterthwaite, kenward_roger, residual and z");
    if (df_method == DfMethod::kenward_roger && estimator != Estimator::reml)
        throw std::invalid_argument("kenward_roger needs the REML estimator");
    if (n <= p) throw std::invalid_argument("fewer rows than fixed effects");
    for (const auto& cols : joint_tests)
        for (int c : cols)
            if (c < 0 || c >= p) throw std::invalid_argument("joint test column " + std::to_string(c) + " is not a column of X");
    // Kenward-Roger reads the general path's cross-products.
    const Model md = build_model(X, y, n, p, terms, nested_kernel && df_method != DfMethod::kenward_roger);
    const ThetaMap tm(md);
    Profiled f(md, estimator == Estimator::reml, tm);
    // Starts at the moment estimates (near the optimum: a third of the iterations), then at
    // lme4's default (T_k = I) and at smaller and larger scales, as the one-grouping fit
    // does; the best optimum wins.
    Run best;
    int iterations = 0;
    std::vector<std::vector<double>> starts;
    if (std::vector<double> th = moment_start(md); !th.empty()) starts.push_back(std::move(th));
    for (double scale : {1.0, 0.2, 3.0}) {
        starts.emplace_back(md.n_theta, 0.0);
        for (int i = 0; i < md.n_theta; ++i)
            if (tm.diagonal(i)) starts.back()[i] = scale;
    }
    for (const std::vector<double>& th : starts) {
        Run run = newton(f, th);
        iterations += run.iterations;
        const bool better = best.theta.empty() || (run.converged && !best.converged) ||
                            (run.converged == best.converged && run.deviance < best.deviance - 1e-10);
        if (!run.theta.empty() && better) best = std::move(run);
        if (first_converged && best.converged) break;  // lme4's own start sufficed
    }
    if (best.theta.empty()) throw std::runtime_error("the model could not be evaluated at any start (collinear fixed effects?)");
    Result out;
    out.converged = best.converged;
    out.iterations = iterations;
    out.theta = best.theta;
    // The optimiser's last evaluation is usually at the optimum: its factors give beta.
    if (f.current && f.x == best.theta) {
        solve_beta(md, f.sc, f.ev);
    } else {
        f.grad_current = false;
        if (!evaluate(md, f.reml, best.theta.data(), f.ev, f.sc, true))
            throw std::runtime_error("the model could not be evaluated at its optimum");
    }
    const Eval at = f.ev;
    out.deviance = at.deviance;
    out.sigma2 = at.r2 / (f.reml ? double(n - p) : double(n));
    out.beta = at.beta;
    out.vcov.resize(size_t(p) * p);
    for (size_t a = 0; a < out.vcov.size(); ++a) out.vcov[a] = out.sigma2 * at.rx_inv[a];
    for (size_t t = 0; t < md.pk.size(); ++t) {
        const int q = md.pk[t];
        std::vector<double> Tk(size_t(q) * q, 0.0), G(size_t(q) * q, 0.0);
        for (int i = md.theta_at[t]; i < md.theta_at[t] + q * (q + 1) / 2; ++i) {
            Tk[tm.row[i] * q + tm.col[i]] = best.theta[i];
            if (tm.diagonal(i) && best.theta[i] < 1e-4) out.singular = true;  // lme4's isSingular
        }
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b)
                for (int c = 0; c < q; ++c) G[a * q + b] += out.sigma2 * Tk[a * q + c] * Tk[b * q + c];
        out.re_cov.push_back(G);
    }
    out.se.resize(p);
    for (int c = 0; c < p; ++c) out.se[c] = std::sqrt(out.vcov[size_t(c) * p + c]);
    Satterthwaite sat;
    out.df.assign(p, df_method == DfMethod::z ? kInf : double(n - p));
    if (df_method == DfMethod::satterthwaite) {
        sat = satterthwaite(f, best.theta, std::sqrt(out.sigma2), at.rx_inv);
        std::vector<double> l(p);
        for (int c = 0; c < p; ++c) {
            std::fill(l.begin(), l.end(), 0.0);
            l[c] = 1.0;
            out.df[c] = sat.df(l.data(), out.vcov[size_t(c) * p + c]);
        }
    }
    KenwardRoger kr;
    if (df_method == DfMethod::kenward_roger) {
        kr = kenward_roger(md, best.theta, out.sigma2, out.vcov);
        for (int c = 0; c < p; ++c) {
            out.df[c] = kenward_roger_test(kr, out.beta, {c}).den_df;
            out.se[c] = kr.ok ? std::sqrt(kr.vcov_adj[size_t(c) * p + c]) : kNaN;
        }
    }
    out.pvalue.resize(p);
    for (int c = 0; c < p; ++c) out.pvalue[c] = two_sided_p(out.beta[c] / out.se[c], out.df[c]);
    for (const auto& cols : joint_tests) {
        JointTest jt = df_method == DfMethod::satterthwaite   ? contest(out, sat, cols)
                       : df_method == DfMethod::kenward_roger ? kenward_roger_test(kr, out.beta, cols)
                                                              : wald_f(out, cols);
        jt.pvalue = f_upper(jt.F, jt.num_df, jt.den_df);
        out.joint.push_back(jt);
    }
    out.evaluations = f.evaluations;
    return out;
}

}  // namespace mcps::general
