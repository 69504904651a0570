// Projected Newton (Bertsekas 1982) on a profiled deviance over theta with simple lower
// bounds: Levenberg damping where the Hessian is not positive definite, an Armijo
// backtracking search along the projected path, and steps off the bounds where the bound
// is a saddle.  One loop for the one-grouping fit (lmm_optimiser.cpp, exact derivatives of
// pass 2) and the fit with several terms (lmm_general_fit.cpp, exact gradient).
//
// The problem type supplies
//   bool value(const std::vector<double>& x, double& f)   f(x); false if not finite
//   bool derivatives()            gradient and Hessian at the x of the last value() call
//   const std::vector<double>& gradient() const, hessian() const   (k, k x k row-major)
//   double lower(int i) const     the bound (-inf for none)
//   bool held(int i) const        i is not a free variable (kept where it is)
//   bool flip(int i, std::vector<double>& x)   the mirror of a diagonal i at its bound
//                                 (the entries below it in its column negated: the same
//                                 model); false if there is nothing to flip
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "linalg.hpp"

namespace mcps::pn {

struct Options {
    int max_iter = 200;
    // Converged when the Newton decrement g'H^-1 g (the predicted decrease of the
    // deviance to the optimum, doubled) is below this.
    double tolerance = 1e-10;
    // A variable at its bound is held there while its gradient pushes outwards by more
    // than this times 1 + |f|.
    double bound_gradient = 1e-10;
};

struct Outcome {
    bool ok = false;  // false: f or its derivatives failed at an iterate (x is then unusable)
    bool converged = false;
    int iterations = 0;
    double value = 0.0;
};

// Reused vectors, so that repeated fits do not allocate (any type with these members will
// do: the one-grouping fit passes its Workspace).
struct Buffers {
    std::vector<double> Hf, gf, step, trial;
    std::vector<int> freev;
};

// A damped Hessian whose smallest Cholesky pivot is tiny against the Hessian's scale:
// mu has (nearly) cancelled a negative curvature, as mu = |H| does for a 1 x 1 Hessian,
// and the "Newton" step would be enormous (seen: 1e17 from a start past the optimum,
// where the profiled deviance is concave).  Take more damping instead.
inline bool well_damped(const std::vector<double>& l, int n, double scale) {
    for (int a = 0; a < n; ++a)
        if (l[a * n + a] * l[a * n + a] < 1e-6 * scale) return false;
    return true;
}

// Minimise from x (projected onto the bounds first); x ends at the last accepted iterate.
template <typename Problem, typename Scratch = Buffers>
Outcome minimise(Problem& pb, std::vector<double>& x, const Options& opt, Scratch& buf) {
    const int k = int(x.size());
    Outcome out;
    for (int i = 0; i < k; ++i) x[i] = std::max(x[i], pb.lower(i));
    double dev = 0.0;
    if (!pb.value(x, dev)) return out;
    std::vector<double>& step = buf.step;
    std::vector<double>& trial = buf.trial;
    step.resize(k);
    trial.resize(k);
    bool converged = false;
    int it = 0;
    double dev_late = dev;  // the deviance 20 iterations before the limit
    for (; it < opt.max_iter; ++it) {
        if (it == opt.max_iter - 20) dev_late = dev;
        if (!pb.derivatives()) return out;
        const std::vector<double>& g = pb.gradient();
        const std::vector<double>& H = pb.hessian();
        // Active bounds: a variable at its bound whose gradient pushes outwards, or whose
        // gradient vanishes (as it does for the last column of Lambda) with the deviance
        // curving upwards.  With downward curvature the point is a saddle of the bound:
        // step off it.  Pushed outwards with a column below it to flip: flip, and step
        // off the bound on the mirror side.
        bool saddle = false;
        buf.freev.clear();
        for (int i = 0; i < k; ++i) {
            if (pb.held(i)) continue;
            const bool at_bound = x[i] <= pb.lower(i) + 1e-12;
            const double gscale = opt.bound_gradient * (1.0 + std::fabs(dev));
            if (at_bound && g[i] > gscale && pb.flip(i, x)) {
                saddle = true;
                break;
            }
            if (at_bound && g[i] > gscale) continue;
            if (at_bound && g[i] >= -gscale) {
                if (H[i * k + i] >= 0.0) continue;
                x[i] = pb.lower(i) + 0.1;
                saddle = true;
            }
            buf.freev.push_back(i);
        }
        if (saddle) {
            if (!pb.value(x, dev)) return out;
            continue;
        }
        const std::vector<int>& fv = buf.freev;
        const int nf = int(fv.size());
        std::fill(step.begin(), step.end(), 0.0);
        double dec = 0.0;  // Newton decrement g' H^-1 g over the free variables
        if (nf > 0) {
            double scale = 0.0;
            for (int a : fv) scale = std::max(scale, std::fabs(H[a * k + a]));
            scale = std::max(scale, 1e-12);
            double mu = 0.0;
            for (int attempt = 0; attempt < 40; ++attempt) {
                buf.Hf.assign(nf * nf, 0.0);
                for (int a = 0; a < nf; ++a) {
                    for (int b = 0; b < nf; ++b) buf.Hf[a * nf + b] = H[fv[a] * k + fv[b]];
                    buf.Hf[a * nf + a] += mu;
                }
                if (la::cholesky(buf.Hf.data(), nf) && (mu == 0.0 || well_damped(buf.Hf, nf, scale))) break;
                mu = mu == 0.0 ? 1e-10 * scale : mu * 10.0;
            }
            buf.gf.resize(nf);
            for (int a = 0; a < nf; ++a) buf.gf[a] = -g[fv[a]];
            la::chol_solve(buf.Hf.data(), nf, buf.gf.data());
            for (int a = 0; a < nf; ++a) {
                step[fv[a]] = buf.gf[a];
                dec -= g[fv[a]] * buf.gf[a];
            }
        }
        if (dec < opt.tolerance) {
            converged = true;
            break;
        }
        double t = 1.0;
        bool accepted = false;
        double d = 0.0;
        for (int ls = 0; ls < 50; ++ls, t *= 0.5) {
            double slope = 0.0;
            for (int i = 0; i < k; ++i) {
                trial[i] = std::max(pb.lower(i), x[i] + t * step[i]);
                slope += g[i] * (trial[i] - x[i]);
            }
            if (pb.value(trial, d) && d <= dev + 1e-4 * slope) {
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
        x.swap(trial);
        dev = d;
    }
    // Still descending at the iteration limit, but by less than 1e-6 (on the deviance scale,
    // nothing a test could see) over the last 20 iterations: a crawl along a flat valley
    // towards a degenerate corner (seen: a random slope whose intercept-slope correlation
    // tends to -1, 1 fit in 392,000).  The point reached is the answer, as a derivative-free
    // optimiser's tolerance on the objective would have it.
    if (!converged && it == opt.max_iter && dev_late - dev < 1e-6) converged = true;
    out.ok = true;
    out.converged = converged;
    out.iterations = it;
    out.value = dev;
    return out;
}

}  // namespace mcps::pn
