// Gradient and Hessian of a scalar function by finite differences, as lme4's deriv12
// (numDeriv-style central differences): the GLMM fits' derivatives where no exact ones
// are available (adaptive quadrature; several random-effect terms).
#pragma once

#include <cmath>
#include <vector>

namespace mcps {

// Central-difference gradient g and Hessian H (k x k, row-major) of f at x, f0 = f(x),
// with step delta in every coordinate.  With central = false the off-diagonal second
// differences are one-sided (one evaluation per pair instead of four): accurate to
// O(delta), enough to steer Newton.  False (and g, H partial) where f is not finite.
template <typename F>
bool fd_gradient_hessian(F&& f, const std::vector<double>& x, double f0, double delta, bool central,
                         std::vector<double>& g, std::vector<double>& H) {
    const int k = int(x.size());
    g.assign(k, 0.0);
    H.assign(size_t(k) * k, 0.0);
    std::vector<double> xt = x, fp(k), fm(k);
    for (int i = 0; i < k; ++i) {
        xt[i] = x[i] + delta;
        fp[i] = f(xt);
        xt[i] = x[i] - delta;
        fm[i] = f(xt);
        xt[i] = x[i];
        if (!std::isfinite(fp[i]) || !std::isfinite(fm[i])) return false;
        g[i] = (fp[i] - fm[i]) / (2.0 * delta);
        H[i * k + i] = (fp[i] - 2.0 * f0 + fm[i]) / (delta * delta);
    }
    for (int i = 0; i < k; ++i)
        for (int j = 0; j < i; ++j) {
            double h = 0.0;
            if (central) {
                for (int si = -1; si <= 1; si += 2)
                    for (int sj = -1; sj <= 1; sj += 2) {
                        xt[i] = x[i] + si * delta;
                        xt[j] = x[j] + sj * delta;
                        const double v = f(xt);
                        if (!std::isfinite(v)) return false;
                        h += si * sj * v;
                    }
                h /= 4.0 * delta * delta;
            } else {
                xt[i] = x[i] + delta;
                xt[j] = x[j] + delta;
                const double v = f(xt);
                if (!std::isfinite(v)) return false;
                h = (v - fp[i] - fp[j] + f0) / (delta * delta);
            }
            xt[i] = x[i];
            xt[j] = x[j];
            H[i * k + j] = H[j * k + i] = h;
        }
    return true;
}

}  // namespace mcps
