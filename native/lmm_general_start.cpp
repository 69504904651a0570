// Several random-effect terms: a start for the optimiser from the method of moments.
//
// From lme4's start (T_k = I) the optimiser needs ~15 iterations on a crossed design with a
// random slope, most of them far from the optimum where its Hessian (differenced at the
// start, then updated) is poor; from within ~10% of the optimum it needs ~5.  Moment
// estimates of the covariances land about there, at the cost of a few sums over the
// cross-products the fit has already formed.
//
// With e the OLS residuals and, for a level l of term k, Z_l its rows' random-effect
// columns, E[Z_l'e e'Z_l] ~ sum over terms m and their levels l' of W G_m W' + sigma^2 Z_l'Z_l,
// W = Z_l'Z_l' (Henderson's method 3 without the projection on X), and E[e'e] ~
// sum_m tr(G_m Z_m'Z_m) + (n - p) sigma^2: one linear equation per entry of each G_k and
// one for sigma^2, summed over levels.  Each G_k / sigma^2, with its eigenvalues kept
// above 0.01, gives T_k as its Cholesky factor.  Where the equations fail (singular,
// sigma^2 not positive) the caller keeps lme4's start.
#include <algorithm>
#include <cmath>

#include "linalg.hpp"
#include "lmm_general.hpp"

namespace mcps::general {

namespace {

// Solves A x = b (n x n, row-major; both overwritten) by Gaussian elimination with partial
// pivoting; false if A is singular to working precision.
bool lu_solve(std::vector<double>& A, std::vector<double>& b, int n) {
    double scale = 0.0;
    for (double v : A) scale = std::max(scale, std::fabs(v));
    for (int c = 0; c < n; ++c) {
        int piv = c;
        for (int r = c + 1; r < n; ++r)
            if (std::fabs(A[size_t(r) * n + c]) > std::fabs(A[size_t(piv) * n + c])) piv = r;
        if (!(std::fabs(A[size_t(piv) * n + c]) > 1e-12 * scale)) return false;
        if (piv != c) {
            for (int k = 0; k < n; ++k) std::swap(A[size_t(c) * n + k], A[size_t(piv) * n + k]);
            std::swap(b[c], b[piv]);
        }
        for (int r = c + 1; r < n; ++r) {
            const double f = A[size_t(r) * n + c] / A[size_t(c) * n + c];
            for (int k = c; k < n; ++k) A[size_t(r) * n + k] -= f * A[size_t(c) * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; --c) {
        double s = b[c];
        for (int k = c + 1; k < n; ++k) s -= A[size_t(c) * n + k] * b[k];
        b[c] = s / A[size_t(c) * n + c];
    }
    return true;
}

}  // namespace

std::vector<double> moment_start(const Model& md) {
    if (md.nested) return nested_moment_start(md);
    const int K = int(md.pk.size()), r = md.r, qr = md.q_rest, p = md.p, p0 = md.pk[0];
    // Unknowns: the upper triangle of each G_k, then sigma^2; the equations in the same order.
    std::vector<int> uat(K + 1, 0);
    for (int k = 0; k < K; ++k) uat[k + 1] = uat[k] + md.pk[k] * (md.pk[k] + 1) / 2;
    const int nu = uat[K] + 1, s2 = nu - 1;
    auto idx = [&](int k, int a, int b) {
        if (a > b) std::swap(a, b);
        return uat[k] + a * md.pk[k] - a * (a - 1) / 2 + (b - a);
    };
    // OLS beta from X'X and X'y (C's [X y] block), and e'e.
    std::vector<double> xx(size_t(p) * p), beta(p);
    for (int a = 0; a < p; ++a) {
        beta[a] = md.C[size_t(qr + a) * r + r - 1];
        for (int b = 0; b < p; ++b) xx[size_t(a) * p + b] = md.C[size_t(qr + a) * r + qr + b];
    }
    if (!la::cholesky(xx.data(), p)) return {};
    la::chol_solve(xx.data(), p, beta.data());
    double ee = md.C[size_t(r) * r - 1];
    for (int a = 0; a < p; ++a) ee -= beta[a] * md.C[size_t(qr + a) * r + r - 1];
    std::vector<double> A(size_t(nu) * nu, 0.0), obs(nu, 0.0);
    obs[s2] = ee;
    A[size_t(s2) * nu + s2] = double(md.n - p);
    // Z_l'e of a level from its row of cross-products with [X y] (stride: between columns).
    auto residual_products = [&](const double* row, int stride, int pk, double* ze) {
        for (int c = 0; c < pk; ++c) {
            const double* rc = row + size_t(c) * stride;
            double s = rc[r - 1];
            for (int x = 0; x < p; ++x) s -= rc[qr + x] * beta[x];
            ze[c] = s;
        }
    };
    // The moments of level block l (term k, Z_l'e in ze, Z_l'Z_l in D with row stride ld).
    auto own = [&](int k, const double* ze, const double* D, int ld) {
        const int q = md.pk[k];
        for (int c = 0; c < q; ++c)
            for (int d = c; d < q; ++d) {
                const int e = idx(k, c, d);
                obs[e] += ze[c] * ze[d];
                A[size_t(e) * nu + s2] += D[c * ld + d];
                A[size_t(s2) * nu + e] += c == d ? D[c * ld + d] : 2.0 * D[c * ld + d];
            }
    };
    // W G_m W' of a pair of level blocks (l of term k, l' of term m), W[c][a] = W0[c * sc + a * sa].
    auto pair = [&](int k, int m, const double* W0, int sc, int sa) {
        const int qk = md.pk[k], qm = md.pk[m];
        for (int c = 0; c < qk; ++c)
            for (int d = c; d < qk; ++d) {
                double* Ae = &A[size_t(idx(k, c, d)) * nu];
                for (int a = 0; a < qm; ++a)
                    for (int b = 0; b < qm; ++b) Ae[idx(m, a, b)] += W0[c * sc + a * sa] * W0[d * sc + b * sa];
            }
    };
    double ze[8];
    for (int j = 0; j < md.nl[0]; ++j) {
        const double* Bj = &md.B[size_t(j) * p0 * r];
        const double* D = &md.D1[size_t(j) * p0 * p0];
        residual_products(Bj, r, p0, ze);
        own(0, ze, D, p0);
        pair(0, 0, D, p0, 1);
        for (int a : md.touch[j]) {
            if (a >= qr || md.rest_col[a] != 0) continue;
            const int m = md.rest_term[a];
            pair(0, m, Bj + a, r, 1);  // Z_j'Z_l' = B_j's columns of level l'
            pair(m, 0, Bj + a, 1, r);  // and its transpose
        }
    }
    for (int a0 = 0; a0 < qr; a0 += md.pk[md.rest_term[a0]]) {
        const int k = md.rest_term[a0];
        const double* Ca = &md.C[size_t(a0) * r];
        residual_products(Ca, r, md.pk[k], ze);
        own(k, ze, Ca + a0, r);
        for (int b0 = md.lo[a0]; b0 < md.hi[a0]; b0 += md.pk[md.rest_term[b0]])
            if (md.rest_term[b0] != k || b0 == a0)  // other levels of term k share no rows
                pair(k, md.rest_term[b0], Ca + b0, r, 1);
    }
    if (!lu_solve(A, obs, nu) || !(obs[s2] > 0.0)) return {};
    std::vector<double> theta(md.n_theta, 0.0), G, w, V, L;
    for (int k = 0; k < K; ++k) {
        const int q = md.pk[k];
        G.assign(size_t(q) * q, 0.0);
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) G[a * q + b] = obs[idx(k, a, b)] / obs[s2];
        la::sym_eigen(G, q, w, V);
        L.assign(size_t(q) * q, 0.0);
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b)
                for (int e = 0; e < q; ++e) L[a * q + b] += V[a * q + e] * std::max(w[e], 0.01) * V[b * q + e];
        if (!la::cholesky(L.data(), q)) return {};
        for (int c = 0, i = md.theta_at[k]; c < q; ++c)
            for (int row = c; row < q; ++row) theta[i++] = L[row * q + c];
    }
    for (double t : theta)
        if (!std::isfinite(t)) return {};
    return theta;
}

}  // namespace mcps::general
