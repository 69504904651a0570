// The model's data and its objective: the profiled REML criterion or ML deviance at
// theta (pass 1; see lmm.hpp for the notation).
//
// Per cluster, M_j = Lambda' Z_j'Z_j Lambda + I and K_j = Lambda M_j^-1 Lambda', so that
// with H_j = I + Z_j Lambda Lambda' Z_j' (V_j = sigma^2 H_j):
//   W_j' H_j^-1 W_j = W_j'W_j - W_j'Z_j K_j Z_j'W_j   and   log|H_j| = log|M_j|.
// Summing over clusters gives the GLS normal equations and the deviance.
#include <cmath>

#include "inference.hpp"
#include "linalg.hpp"
#include "lmm.hpp"
#include "lmm_detail.hpp"

namespace mcps {

void Problem::reset(int p_, int q_, int j_, const std::vector<int>& zc) {
    p = p_;
    q = q_;
    n_clusters = j_;
    z_columns = zc;
    const int mm = p_ + 1;
    cross.assign(size_t(j_) * mm * mm, 0.0);
    colsum.assign(size_t(j_) * mm, 0.0);
    rows.assign(j_, 0.0);
    n_obs = 0.0;
    diagonal = false;
}

bool Problem::column_is_between(int c) const {
    const int mm = m();
    for (int j = 0; j < n_clusters; ++j) {
        const double n = rows[j];
        const double s = colsum[size_t(j) * mm + c];
        const double ss = cross[size_t(j) * mm * mm + size_t(c) * mm + c];
        if (!constant_within(n, s, ss)) return false;
    }
    return true;
}

namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// Q and M are the random-effect and [X y] column counts when known at compile time
// (0: read at run time); the common small models get fully unrolled inner loops.
template <int Q, int M>
bool evaluate_t(const Problem& pr, bool reml, const double* theta, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q, m = M > 0 ? M : pr.m(), p = m - 1, J = pr.n_clusters;
    const int* zc = pr.z_columns.data();
    const Tri& tri = detail::tri_of(ws, q);
    detail::build_lambda(theta, q, tri, ws.lambda);
    const double* lam = ws.lambda.data();
    ws.K.resize(size_t(J) * q * q);
    ws.G1.resize(size_t(J) * q * m);
    ws.P1.resize(size_t(J) * m * m);
    std::vector<double>& tot = ws.tot;
    tot.assign(m * m, 0.0);
    double Szz[64], T[64], Mj[64], Y[64];
    double logdet = 0.0, det_run = 1.0;
    for (int j = 0; j < J; ++j) {
        const double* S = &pr.cross[size_t(j) * m * m];
        double* K = &ws.K[size_t(j) * q * q];
        double* G1 = &ws.G1[size_t(j) * q * m];
        double* P1 = &ws.P1[size_t(j) * m * m];
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) Szz[a * q + b] = S[zc[a] * m + zc[b]];
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) {
                double s = 0.0;
                for (int c = 0; c < q; ++c) s += Szz[a * q + c] * lam[c * q + b];
                T[a * q + b] = s;
            }
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) {
                double s = a == b ? 1.0 : 0.0;
                for (int c = 0; c < q; ++c) s += lam[c * q + a] * T[c * q + b];
                Mj[a * q + b] = s;
            }
        if (!la::cholesky(Mj, q)) return false;
        // log|M_j| = 2 sum log L_ii, taken as the log of a running product (|M_j| >= 1),
        // flushed before it could overflow: one log call per many clusters.
        for (int a = 0; a < q; ++a) det_run *= Mj[a * q + a] * Mj[a * q + a];
        if (det_run > 1e250) {
            logdet += std::log(det_run);
            det_run = 1.0;
        }
        // Y = L^-1 Lambda'  (column b of Lambda' is row b of Lambda)
        for (int b = 0; b < q; ++b)
            for (int i = 0; i < q; ++i) {
                double s = lam[b * q + i];
                for (int c = 0; c < i; ++c) s -= Mj[i * q + c] * Y[c * q + b];
                Y[i * q + b] = s / Mj[i * q + i];
            }
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) {
                double s = 0.0;
                for (int c = 0; c < q; ++c) s += Y[c * q + a] * Y[c * q + b];
                K[a * q + b] = s;
            }
        for (int a = 0; a < q; ++a)
            for (int w = 0; w < m; ++w) {
                double s = 0.0;
                for (int c = 0; c < q; ++c) s += K[a * q + c] * S[zc[c] * m + w];
                G1[a * m + w] = s;
            }
        for (int w = 0; w < m; ++w)
            for (int v = w; v < m; ++v) {
                double s = S[w * m + v];
                for (int a = 0; a < q; ++a) s -= S[zc[a] * m + w] * G1[a * m + v];
                P1[w * m + v] = s;
                P1[v * m + w] = s;
                tot[w * m + v] += s;
            }
    }
    logdet += std::log(det_run);
    for (int w = 0; w < m; ++w)
        for (int v = 0; v < w; ++v) tot[w * m + v] = tot[v * m + w];
    ws.A.assign(p * p, 0.0);
    for (int i = 0; i < p; ++i)
        for (int l = 0; l < p; ++l) ws.A[i * p + l] = tot[i * m + l];
    ws.Achol = ws.A;
    if (!la::cholesky(ws.Achol.data(), p)) return false;
    ws.beta.resize(p);
    for (int i = 0; i < p; ++i) ws.beta[i] = tot[i * m + p];
    la::chol_solve(ws.Achol.data(), p, ws.beta.data());
    double rhr = tot[p * m + p];
    for (int i = 0; i < p; ++i) rhr -= tot[i * m + p] * ws.beta[i];
    const double dof = reml ? pr.n_obs - p : pr.n_obs;
    if (!(rhr > 0.0) || !(dof > 0.0) || !std::isfinite(logdet)) return false;
    ws.logdet_l = logdet;
    ws.logdet_a = la::chol_logdet(ws.Achol.data(), p);
    ws.rhr = rhr;
    ws.s2 = rhr / dof;
    ws.deviance = logdet + (reml ? ws.logdet_a : 0.0) + dof * (1.0 + kLog2Pi + std::log(ws.s2));
    return std::isfinite(ws.deviance);
}

}  // namespace

bool evaluate(const Problem& pr, bool reml, const double* theta, Workspace& ws) {
    MCPS_DISPATCH(evaluate_t, pr, reml, theta, ws)
}

}  // namespace mcps
