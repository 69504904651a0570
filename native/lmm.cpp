// REML / ML fit of a one-factor linear mixed model (see lmm.hpp for the notation).
//
// Pass 1 (evaluate) forms, per cluster, M_j = Lambda' Z_j'Z_j Lambda + I and
// K_j = Lambda M_j^-1 Lambda', so that with H_j = I + Z_j Lambda Lambda' Z_j'
// (V_j = sigma^2 H_j):  W_j' H_j^-1 W_j = W_j'W_j - W_j'Z_j K_j Z_j'W_j  and
// log|H_j| = log|M_j|.  Summing gives the GLS normal equations and the deviance.
//
// Pass 2 (derivatives) gives the exact gradient and observed Hessian of -2 log L
// with respect to phi = (the lower triangle of G, sigma^2), where V_a = Z E_a Z'
// for an element of G and V = I for sigma^2:
//   d/da   = tr(S V_a) - r'V^-1 V_a V^-1 r
//   d2/dab = -tr(S V_a S V_b) + 2 r'V^-1 V_a P V_b V^-1 r
// with S = P (REML) or V^-1 (ML, beta profiled), P = V^-1 - V^-1 X Phi X' V^-1,
// Phi = (X'V^-1 X)^-1.  Every trace reduces to small per-cluster blocks of
// W'H^-1 W, W'H^-2 W and W'H^-3 W.  The chain rule then gives the same in
// psi = (theta, sigma), lmerTest's parameterisation, used both by the optimiser
// (sigma profiled) and by the Satterthwaite degrees of freedom.
#include "lmm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "linalg.hpp"

namespace mcps {

namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// The (one or two) unit entries (i, j) of the symmetric basis matrix E_a.
inline int basis(const Tri& t, int a, int* ii, int* jj) {
    ii[0] = t.r[a];
    jj[0] = t.c[a];
    if (t.r[a] == t.c[a]) return 1;
    ii[1] = t.c[a];
    jj[1] = t.r[a];
    return 2;
}

void build_lambda(const double* theta, int q, const Tri& t, std::vector<double>& lam) {
    lam.assign(q * q, 0.0);
    for (size_t k = 0; k < t.r.size(); ++k) lam[t.r[k] * q + t.c[k]] = theta[k];
}

const Tri& tri_of(Workspace& ws, int q) {
    if (ws.tri.q != q) ws.tri.build(q);
    return ws.tri;
}

}  // namespace

void Tri::build(int q_) {
    q = q_;
    r.clear();
    c.clear();
    for (int col = 0; col < q_; ++col)
        for (int row = col; row < q_; ++row) {
            r.push_back(row);
            c.push_back(col);
        }
}

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
}

bool Problem::column_is_between(int c) const {
    const int mm = m();
    for (int j = 0; j < n_clusters; ++j) {
        const double n = rows[j];
        const double s = colsum[size_t(j) * mm + c];
        const double ss = cross[size_t(j) * mm * mm + size_t(c) * mm + c];
        const double within = ss - s * s / n;
        if (within > 1e-10 * (ss + 1.0)) return false;
    }
    return true;
}

int n_theta(int q) { return q * (q + 1) / 2; }

std::vector<double> theta_lower(int q) {
    Tri t;
    t.build(q);
    std::vector<double> lb(t.r.size());
    for (size_t k = 0; k < lb.size(); ++k)
        lb[k] = t.r[k] == t.c[k] ? 0.0 : -std::numeric_limits<double>::infinity();
    return lb;
}

std::vector<double> theta_from_cov(const std::vector<double>& G, int q, double sigma2) {
    // Cholesky that tolerates zero variances (a zero pivot gives a zero column).
    std::vector<double> l(q * q, 0.0);
    for (int j = 0; j < q; ++j) {
        double d = G[j * q + j] / sigma2;
        for (int k = 0; k < j; ++k) d -= l[j * q + k] * l[j * q + k];
        const double ljj = d > 1e-14 ? std::sqrt(d) : 0.0;
        l[j * q + j] = ljj;
        for (int i = j + 1; i < q; ++i) {
            double s = G[i * q + j] / sigma2;
            for (int k = 0; k < j; ++k) s -= l[i * q + k] * l[j * q + k];
            l[i * q + j] = ljj > 0.0 ? s / ljj : 0.0;
        }
    }
    Tri t;
    t.build(q);
    std::vector<double> theta(t.r.size());
    for (size_t k = 0; k < theta.size(); ++k) theta[k] = l[t.r[k] * q + t.c[k]];
    return theta;
}

// Q and M are the random-effect and [X y] column counts when known at compile time
// (0: read at run time); the common small models get fully unrolled inner loops.
template <int Q, int M>
bool evaluate_t(const Problem& pr, bool reml, const double* theta, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q, m = M > 0 ? M : pr.m(), p = m - 1, J = pr.n_clusters;
    const int* zc = pr.z_columns.data();
    const Tri& tri = tri_of(ws, q);
    build_lambda(theta, q, tri, ws.lambda);
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

template <int Q, int M>
bool derivatives_t(const Problem& pr, bool reml, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q, m = M > 0 ? M : pr.m(), p = m - 1, J = pr.n_clusters;
    const int* zc = pr.z_columns.data();
    const Tri& tri = tri_of(ws, q);
    const int k = Q > 0 ? Q * (Q + 1) / 2 : int(tri.r.size()), d = k + 1;
    const double s = ws.s2;

    std::vector<double>& Phi = ws.phi_inv;  // (X'H^-1 X)^-1
    Phi.resize(p * p);
    la::chol_inverse(ws.Achol.data(), p, Phi.data());
    std::vector<double>& v = ws.v;
    v.resize(m);
    for (int i = 0; i < p; ++i) v[i] = -ws.beta[i];
    v[p] = 1.0;

    // accumulators
    auto zeroed = [](std::vector<double>& x, size_t n) -> std::vector<double>& {
        x.assign(n, 0.0);
        return x;
    };
    auto& trC = zeroed(ws.trC, k);
    auto& uEu = zeroed(ws.uEu, k);
    auto& trC2 = zeroed(ws.trC2, k);
    auto& uEu2 = zeroed(ws.uEu2, k);
    auto& trR2 = zeroed(ws.trR2, k);
    auto& ECEC = zeroed(ws.ECEC, k * k);
    auto& uECEu = zeroed(ws.uECEu, k * k);
    auto& ECER = zeroed(ws.ECER, k * k);
    zeroed(ws.Q, size_t(k) * p * p);
    auto& gv = zeroed(ws.gv, size_t(k) * p);
    auto& P2tot = zeroed(ws.P2tot, m * m);
    auto& P3tot = zeroed(ws.P3tot, m * m);
    auto& SC = zeroed(ws.SC, q * q);
    auto& SC2 = zeroed(ws.SC2, q * q);
    auto& SR2 = zeroed(ws.SR2, q * q);
    auto& Suu = zeroed(ws.Suu, q * q);
    auto& Suu2 = zeroed(ws.Suu2, q * q);
    auto& CC = zeroed(ws.CC, q * q * q * q);
    auto& CR = zeroed(ws.CR, q * q * q * q);
    auto& UCU = zeroed(ws.UCU, q * q * q * q);
    auto& FU = zeroed(ws.FU, size_t(q) * q * p);
    auto& FF = zeroed(ws.FF, size_t(q) * q * p * p);
    double trHinv = 0.0, trH2 = 0.0;
    double P1z[64 * 8], P2z[64 * 8], C[64], F[64 * 8], u[8], C2[64], F2[64 * 8], u2[8], KSzz[64];
    double R[64], R2[64], FPhi[64 * 8], KP[64 * 8];
    int ia[2], ja[2], ib[2], jb[2];

    for (int j = 0; j < J; ++j) {
        const double* K = &ws.K[size_t(j) * q * q];
        const double* G1 = &ws.G1[size_t(j) * q * m];
        const double* P1 = &ws.P1[size_t(j) * m * m];
        const double nj = pr.rows[j];
        for (int a = 0; a < q; ++a)
            for (int w = 0; w < m; ++w) P1z[a * m + w] = P1[zc[a] * m + w];
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) KSzz[a * q + b] = G1[a * m + zc[b]];
        for (int a = 0; a < q; ++a)
            for (int w = 0; w < m; ++w) {
                double t = P1z[a * m + w];
                for (int c = 0; c < q; ++c) t -= KSzz[c * q + a] * P1z[c * m + w];
                P2z[a * m + w] = t;
            }
        // P2_j = P1_j - G1' P1z ; P3_j = P2_j - P1z' K P1z
        for (int a = 0; a < q; ++a)
            for (int w = 0; w < m; ++w) {
                double t = 0.0;
                for (int b = 0; b < q; ++b) t += K[a * q + b] * P1z[b * m + w];
                KP[a * m + w] = t;
            }
        for (int w = 0; w < m; ++w)
            for (int x = w; x < m; ++x) {
                double t = P1[w * m + x], t3 = 0.0;
                for (int a = 0; a < q; ++a) {
                    t -= G1[a * m + w] * P1z[a * m + x];
                    t3 += P1z[a * m + w] * KP[a * m + x];
                }
                P2tot[w * m + x] += t;
                P3tot[w * m + x] += t - t3;
            }
        double t1 = 0.0, t2 = 0.0;
        for (int a = 0; a < q; ++a) {
            t1 += KSzz[a * q + a];
            for (int b = 0; b < q; ++b) t2 += KSzz[a * q + b] * KSzz[b * q + a];
        }
        trHinv += nj - t1;
        trH2 += nj - 2.0 * t1 + t2;
        for (int a = 0; a < q; ++a) {
            double ua = 0.0, u2a = 0.0;
            for (int w = 0; w < m; ++w) {
                ua += P1z[a * m + w] * v[w];
                u2a += P2z[a * m + w] * v[w];
            }
            u[a] = ua;
            u2[a] = u2a;
            for (int b = 0; b < q; ++b) {
                C[a * q + b] = P1z[a * m + zc[b]];
                C2[a * q + b] = P2z[a * m + zc[b]];
            }
            for (int i = 0; i < p; ++i) {
                F[a * p + i] = P1z[a * m + i];
                F2[a * p + i] = P2z[a * m + i];
            }
        }
        // R = F Phi F', R2 = F2 Phi F'
        for (int a = 0; a < q; ++a)
            for (int i = 0; i < p; ++i) {
                double t = 0.0;
                for (int l = 0; l < p; ++l) t += F[a * p + l] * Phi[l * p + i];
                FPhi[a * p + i] = t;
            }
        for (int a = 0; a < q; ++a)
            for (int b = 0; b < q; ++b) {
                double r1 = 0.0, r2 = 0.0;
                for (int i = 0; i < p; ++i) {
                    r1 += FPhi[a * p + i] * F[b * p + i];
                    r2 += F2[a * p + i] * FPhi[b * p + i];
                }
                R[a * q + b] = r1;
                R2[a * q + b] = r2;
            }
        // Per-cluster sums as dense tensors (no basis bookkeeping in the hot loop); the
        // G-parameter pairs are read out of them once, after the loop.
        const int q2 = q * q;
        for (int x = 0; x < q2; ++x) {
            SC[x] += C[x];
            SC2[x] += C2[x];
            SR2[x] += R2[x];
        }
        for (int i = 0; i < q; ++i)
            for (int l = 0; l < q; ++l) {
                Suu[i * q + l] += u[i] * u[l];
                Suu2[i * q + l] += u[i] * u2[l];
                for (int x = 0; x < p; ++x) FU[(i * q + l) * p + x] += F[i * p + x] * u[l];
                for (int x = 0; x < p; ++x)
                    for (int y = 0; y < p; ++y) FF[((i * q + l) * p + x) * p + y] += F[i * p + x] * F[l * p + y];
            }
        for (int x = 0; x < q2; ++x) {
            const double cx = C[x], ux = u[x / q] * u[x % q];
            for (int y = 0; y < q2; ++y) {
                CC[x * q2 + y] += cx * C[y];
                CR[x * q2 + y] += cx * R[y];
                UCU[x * q2 + y] += ux * C[y];
            }
        }
    }
    // Read the G-parameter sums out of the tensors.  E_a holds the entries e_i e_l'.
    for (int a = 0; a < k; ++a) {
        const int na = basis(tri, a, ia, ja);
        for (int e = 0; e < na; ++e) {
            const int i = ia[e], l = ja[e];
            trC[a] += SC[l * q + i];
            trC2[a] += SC2[l * q + i];
            trR2[a] += SR2[l * q + i];
            uEu[a] += Suu[i * q + l];
            uEu2[a] += Suu2[i * q + l];
            double* Qa = &ws.Q[size_t(a) * p * p];
            for (int x = 0; x < p; ++x) {
                gv[a * p + x] += FU[(i * q + l) * p + x];
                for (int y = 0; y < p; ++y) Qa[x * p + y] += FF[((i * q + l) * p + x) * p + y];
            }
        }
        for (int b = 0; b < k; ++b) {
            const int nb = basis(tri, b, ib, jb);
            for (int e = 0; e < na; ++e)
                for (int f = 0; f < nb; ++f) {
                    // tr(e_i e_l' C e_r e_t' C) = C[l][r] C[t][i]
                    const int i = ia[e], l = ja[e], r = ib[f], t = jb[f];
                    const int lr = l * q + r, ti = t * q + i, it = i * q + t;
                    ECEC[a * k + b] += CC[lr * q * q + ti];
                    ECER[a * k + b] += CR[lr * q * q + ti];
                    uECEu[a * k + b] += UCU[it * q * q + lr];
                }
        }
    }
    for (int w = 0; w < m; ++w)
        for (int x = 0; x < w; ++x) {
            P2tot[w * m + x] = P2tot[x * m + w];
            P3tot[w * m + x] = P3tot[x * m + w];
        }
    // Blocks over X and the residual direction v.
    ws.P2xx.assign(p * p, 0.0);
    auto& P3xx = zeroed(ws.P3xx, p * p);
    auto& x2r = zeroed(ws.x2r, p);
    double rH2r = 0.0, rH3r = 0.0;
    for (int i = 0; i < p; ++i)
        for (int l = 0; l < p; ++l) {
            ws.P2xx[i * p + l] = P2tot[i * m + l];
            P3xx[i * p + l] = P3tot[i * m + l];
        }
    for (int w = 0; w < m; ++w)
        for (int x = 0; x < m; ++x) {
            rH2r += v[w] * P2tot[w * m + x] * v[x];
            rH3r += v[w] * P3tot[w * m + x] * v[x];
        }
    for (int i = 0; i < p; ++i)
        for (int x = 0; x < m; ++x) x2r[i] += P2tot[i * m + x] * v[x];

    auto tr_prod = [p](const double* A, const double* B) {  // tr(A B), both p x p
        double t = 0.0;
        for (int i = 0; i < p; ++i)
            for (int l = 0; l < p; ++l) t += A[i * p + l] * B[l * p + i];
        return t;
    };
    auto quad = [p, &Phi](const double* a, const double* b) {  // a' Phi b
        double t = 0.0;
        for (int i = 0; i < p; ++i)
            for (int l = 0; l < p; ++l) t += a[i] * Phi[i * p + l] * b[l];
        return t;
    };
    // PhiQ_a = Phi Q_a (p x p) for the REML terms; the last one is Phi P2xx.
    auto& PhiQ = zeroed(ws.PhiQ, size_t(d) * p * p);
    for (int a = 0; a < d; ++a) {
        const double* Qa = a < k ? &ws.Q[size_t(a) * p * p] : ws.P2xx.data();
        for (int i = 0; i < p; ++i)
            for (int l = 0; l < p; ++l) {
                double t = 0.0;
                for (int x = 0; x < p; ++x) t += Phi[i * p + x] * Qa[x * p + l];
                PhiQ[size_t(a) * p * p + i * p + l] = t;
            }
    }
    auto trPhiQ = [&](int a) {
        double t = 0.0;
        for (int i = 0; i < p; ++i) t += PhiQ[size_t(a) * p * p + i * p + i];
        return t;
    };

    ws.grad_phi.assign(d, 0.0);
    ws.hess_phi.assign(d * d, 0.0);
    for (int a = 0; a < k; ++a)
        ws.grad_phi[a] = trC[a] / s - uEu[a] / (s * s) - (reml ? trPhiQ(a) / s : 0.0);
    ws.grad_phi[k] = trHinv / s - rH2r / (s * s) - (reml ? trPhiQ(k) / s : 0.0);

    for (int a = 0; a < d; ++a)
        for (int b = 0; b <= a; ++b) {
            double vt, rz;
            const double* gva = a < k ? &gv[a * p] : x2r.data();
            const double* gvb = b < k ? &gv[b * p] : x2r.data();
            if (a < k) {  // both G
                vt = ECEC[a * k + b];
                if (reml) vt += -2.0 * ECER[a * k + b];
                rz = uECEu[a * k + b];
            } else if (b < k) {  // sigma^2 with G_b
                vt = trC2[b];
                if (reml) vt += -2.0 * trR2[b];
                rz = uEu2[b];
            } else {
                vt = trH2;
                if (reml) vt += -2.0 * tr_prod(Phi.data(), P3xx.data());
                rz = rH3r;
            }
            if (reml) vt += tr_prod(&PhiQ[size_t(a) * p * p], &PhiQ[size_t(b) * p * p]);
            rz -= quad(gva, gvb);
            const double h = -vt / (s * s) + 2.0 * rz / (s * s * s);
            ws.hess_phi[a * d + b] = h;
            ws.hess_phi[b * d + a] = h;
        }

    // Chain rule to psi = (theta, sigma): G = sigma^2 Lambda Lambda', sigma^2 = sigma^2.
    const double* lam = ws.lambda.data();
    const double sig = std::sqrt(s);
    auto& LLt = zeroed(ws.LLt, q * q);
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l)
            for (int c = 0; c < q; ++c) LLt[i * q + l] += lam[i * q + c] * lam[l * q + c];
    ws.jac.assign(d * d, 0.0);  // jac[a * d + mth] = d phi_a / d psi_m
    for (int mth = 0; mth < k; ++mth) {
        const int rm = tri.r[mth], cm = tri.c[mth];
        for (int a = 0; a < k; ++a) {
            const int i = tri.r[a], l = tri.c[a];
            // (E Lambda' + Lambda E')[i][l] with E = e_rm e_cm'
            double val = 0.0;
            if (i == rm) val += lam[l * q + cm];
            if (l == rm) val += lam[i * q + cm];
            ws.jac[a * d + mth] = s * val;
        }
    }
    for (int a = 0; a < k; ++a) ws.jac[a * d + k] = 2.0 * sig * LLt[tri.r[a] * q + tri.c[a]];
    ws.jac[k * d + k] = 2.0 * sig;

    const std::vector<double>& g = ws.grad_phi;
    ws.grad_psi.assign(d, 0.0);
    for (int mth = 0; mth < d; ++mth)
        for (int a = 0; a < d; ++a) ws.grad_psi[mth] += ws.jac[a * d + mth] * g[a];
    // J' H J
    auto& HJ = zeroed(ws.HJ, d * d);
    for (int a = 0; a < d; ++a)
        for (int n = 0; n < d; ++n)
            for (int b = 0; b < d; ++b) HJ[a * d + n] += ws.hess_phi[a * d + b] * ws.jac[b * d + n];
    ws.hess_psi.assign(d * d, 0.0);
    for (int mth = 0; mth < d; ++mth)
        for (int n = 0; n < d; ++n) {
            double t = 0.0;
            for (int a = 0; a < d; ++a) t += ws.jac[a * d + mth] * HJ[a * d + n];
            ws.hess_psi[mth * d + n] = t;
        }
    // + sum_a g_a d2 phi_a / d psi d psi
    for (int mth = 0; mth < k; ++mth)
        for (int n = 0; n < k; ++n) {
            // s (E_m E_n' + E_n E_m'); E_m E_n' = e_rm e_rn' when cm == cn
            if (tri.c[mth] != tri.c[n]) continue;
            const int rm = tri.r[mth], rn = tri.r[n];
            double t = 0.0;
            for (int a = 0; a < k; ++a) {
                const int i = tri.r[a], l = tri.c[a];
                double val = 0.0;
                if (i == rm && l == rn) val += 1.0;
                if (i == rn && l == rm) val += 1.0;
                t += g[a] * s * val;
            }
            ws.hess_psi[mth * d + n] += t;
        }
    for (int mth = 0; mth < k; ++mth) {
        double t = 0.0;
        for (int a = 0; a < k; ++a) t += g[a] * ws.jac[a * d + mth];
        t *= 2.0 / sig;
        ws.hess_psi[mth * d + k] += t;
        ws.hess_psi[k * d + mth] += t;
    }
    {
        double t = 2.0 * g[k];
        for (int a = 0; a < k; ++a) t += g[a] * 2.0 * LLt[tri.r[a] * q + tri.c[a]];
        ws.hess_psi[k * d + k] += t;
    }
    for (double x : ws.hess_psi)
        if (!std::isfinite(x)) return false;
    for (double x : ws.grad_psi)
        if (!std::isfinite(x)) return false;
    return true;
}

// Dispatch to a size-specialised instance: models with one or two random effects and
// up to four fixed effects cover most designs; anything else runs the general code.
#define MCPS_DISPATCH(FN, ...)                                  \
    switch (pr.q * 100 + pr.m()) {                              \
        case 102: return FN<1, 2>(__VA_ARGS__);                 \
        case 103: return FN<1, 3>(__VA_ARGS__);                 \
        case 104: return FN<1, 4>(__VA_ARGS__);                 \
        case 105: return FN<1, 5>(__VA_ARGS__);                 \
        case 203: return FN<2, 3>(__VA_ARGS__);                 \
        case 204: return FN<2, 4>(__VA_ARGS__);                 \
        case 205: return FN<2, 5>(__VA_ARGS__);                 \
        default: return FN<0, 0>(__VA_ARGS__);                  \
    }

bool evaluate(const Problem& pr, bool reml, const double* theta, Workspace& ws) {
    MCPS_DISPATCH(evaluate_t, pr, reml, theta, ws)
}

bool derivatives(const Problem& pr, bool reml, Workspace& ws) { MCPS_DISPATCH(derivatives_t, pr, reml, ws) }

#undef MCPS_DISPATCH

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
    if (!evaluate(pr, opt.reml, theta.data(), ws)) return out;
    double dev = ws.deviance;
    std::vector<double>& step = ws.step;
    std::vector<double>& trial = ws.trial;
    step.resize(k);
    trial.resize(k);
    bool converged = false, current = false;  // current: ws holds both passes at theta
    int it = 0;
    for (; it < opt.max_iter; ++it) {
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
            const bool at_bound = theta[i] <= lb[i] + 1e-12;
            const double gscale = 1e-10 * (1.0 + std::fabs(dev));
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
                if (la::cholesky(ws.Hf.data(), nf)) break;
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
    const Tri& tri = tri_of(ws, q);
    for (int a = 0; a < int(tri.r.size()); ++a)
        if (tri.r[a] == tri.c[a] && best.theta[a] < opt.singular_tol) best.singular = true;
    return best;
}

}  // namespace mcps
