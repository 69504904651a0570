// Pass 2: the exact gradient and observed Hessian of -2 log L (see lmm.hpp for the
// notation), after evaluate() at the same theta.
//
// In phi = (the lower triangle of G, sigma^2), with V_a = Z E_a Z' for an element of G
// and V = I for sigma^2:
//   d/da   = tr(S V_a) - r'V^-1 V_a V^-1 r
//   d2/dab = -tr(S V_a S V_b) + 2 r'V^-1 V_a P V_b V^-1 r
// with S = P (REML) or V^-1 (ML, beta profiled), P = V^-1 - V^-1 X Phi X' V^-1,
// Phi = (X'V^-1 X)^-1.  Every trace reduces to small per-cluster blocks of W'H^-1 W,
// W'H^-2 W and W'H^-3 W, summed over clusters (cluster_sums), read out per G parameter
// (g_parameter_sums) and combined (phi_derivatives).  The chain rule then gives the same
// in psi = (theta, sigma), lmerTest's parameterisation (psi_derivatives), used both by
// the optimiser (sigma profiled) and by the Satterthwaite degrees of freedom.
//
// Every piece is a template on the sizes Q, M like evaluate() (0: read at run time).
#include <cmath>

#include "linalg.hpp"
#include "lmm.hpp"
#include "lmm_detail.hpp"

namespace mcps {

namespace {

// Number of G parameters (phi without sigma^2).
template <int Q>
int n_g(const Tri& tri) {
    return Q > 0 ? Q * (Q + 1) / 2 : int(tri.r.size());
}

std::vector<double>& zeroed(std::vector<double>& x, size_t n) {
    x.assign(n, 0.0);
    return x;
}

// Phi = (X'H^-1 X)^-1, the residual direction v = (-beta, 1) of [X y], and every sum of
// pass 2 set to zero.
template <int Q, int M>
void start_sums(const Problem& pr, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q, m = M > 0 ? M : pr.m(), p = m - 1;
    const int k = n_g<Q>(ws.tri);
    std::vector<double>& Phi = ws.phi_inv;  // (X'H^-1 X)^-1
    Phi.resize(p * p);
    la::chol_inverse(ws.Achol.data(), p, Phi.data());
    std::vector<double>& v = ws.v;
    v.resize(m);
    for (int i = 0; i < p; ++i) v[i] = -ws.beta[i];
    v[p] = 1.0;

    zeroed(ws.trC, k);
    zeroed(ws.uEu, k);
    zeroed(ws.trC2, k);
    zeroed(ws.uEu2, k);
    zeroed(ws.trR2, k);
    zeroed(ws.ECEC, k * k);
    zeroed(ws.uECEu, k * k);
    zeroed(ws.ECER, k * k);
    zeroed(ws.Q, size_t(k) * p * p);
    zeroed(ws.gv, size_t(k) * p);
    zeroed(ws.P2tot, m * m);
    zeroed(ws.P3tot, m * m);
    zeroed(ws.SC, q * q);
    zeroed(ws.SC2, q * q);
    zeroed(ws.SR2, q * q);
    zeroed(ws.Suu, q * q);
    zeroed(ws.Suu2, q * q);
    zeroed(ws.CC, q * q * q * q);
    zeroed(ws.CR, q * q * q * q);
    zeroed(ws.UCU, q * q * q * q);
    zeroed(ws.FU, size_t(q) * q * p);
    zeroed(ws.FF, size_t(q) * q * p * p);
}

// Sums over clusters of the per-cluster blocks: W'H^-2 W, W'H^-3 W, tr(H^-1), tr(H^-2)
// and dense tensors over pairs of Z columns.  Per cluster, rows are in Z (q), columns
// in W = [X y] (m) or X (p); the fixed buffers hold the engine's limits, q <= 8, m <= 64.
template <int Q, int M>
void cluster_sums(const Problem& pr, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q, m = M > 0 ? M : pr.m(), p = m - 1, J = pr.n_clusters;
    const int* zc = pr.z_columns.data();
    const std::vector<double>& Phi = ws.phi_inv;
    const std::vector<double>& v = ws.v;
    std::vector<double> &P2tot = ws.P2tot, &P3tot = ws.P3tot;
    std::vector<double> &SC = ws.SC, &SC2 = ws.SC2, &SR2 = ws.SR2, &Suu = ws.Suu, &Suu2 = ws.Suu2;
    std::vector<double> &CC = ws.CC, &CR = ws.CR, &UCU = ws.UCU, &FU = ws.FU, &FF = ws.FF;
    double trHinv = 0.0, trH2 = 0.0;
    // One cluster's blocks, kept local to this loop (the compiler then holds them in
    // registers): P1z = Z'H^-1 W, P2z = Z'H^-2 W, KP = K P1z, KSzz = K Z'Z; C, C2 their Z
    // columns, F, F2 their X columns, u, u2 their products with v; FPhi = F Phi,
    // R = F Phi F', R2 = F2 Phi F'.
    double P1z[64 * 8], P2z[64 * 8], C[64], F[64 * 8], u[8], C2[64], F2[64 * 8], u2[8], KSzz[64];
    double R[64], R2[64], FPhi[64 * 8], KP[64 * 8];

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
    ws.trHinv = trHinv;
    ws.trH2 = trH2;
}

// Read the G-parameter sums out of the tensors.  E_a holds the entries e_i e_l'.
template <int Q, int M>
void g_parameter_sums(const Problem& pr, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q, m = M > 0 ? M : pr.m(), p = m - 1;
    const Tri& tri = ws.tri;
    const int k = n_g<Q>(tri);
    const std::vector<double> &SC = ws.SC, &SC2 = ws.SC2, &SR2 = ws.SR2, &Suu = ws.Suu, &Suu2 = ws.Suu2;
    const std::vector<double> &CC = ws.CC, &CR = ws.CR, &UCU = ws.UCU, &FU = ws.FU, &FF = ws.FF;
    std::vector<double> &trC = ws.trC, &uEu = ws.uEu, &trC2 = ws.trC2, &uEu2 = ws.uEu2, &trR2 = ws.trR2;
    std::vector<double> &ECEC = ws.ECEC, &uECEu = ws.uECEu, &ECER = ws.ECER, &gv = ws.gv;
    int ia[2], ja[2], ib[2], jb[2];
    for (int a = 0; a < k; ++a) {
        const int na = detail::basis(tri, a, ia, ja);
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
            const int nb = detail::basis(tri, b, ib, jb);
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
}

// Blocks over X and the residual direction v: X'H^-2 X, X'H^-3 X, X'H^-2 r, r'H^-2 r
// and r'H^-3 r (r = y - X beta = W v).
template <int Q, int M>
void residual_blocks(const Problem& pr, Workspace& ws) {
    const int m = M > 0 ? M : pr.m(), p = m - 1;
    std::vector<double> &P2tot = ws.P2tot, &P3tot = ws.P3tot;
    const std::vector<double>& v = ws.v;
    for (int w = 0; w < m; ++w)
        for (int x = 0; x < w; ++x) {
            P2tot[w * m + x] = P2tot[x * m + w];
            P3tot[w * m + x] = P3tot[x * m + w];
        }
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
    ws.rH2r = rH2r;
    ws.rH3r = rH3r;
}

// tr(A B), both p x p
inline double tr_prod(const double* A, const double* B, int p) {
    double t = 0.0;
    for (int i = 0; i < p; ++i)
        for (int l = 0; l < p; ++l) t += A[i * p + l] * B[l * p + i];
    return t;
}

// a' Phi b
inline double quad(const double* a, const std::vector<double>& Phi, const double* b, int p) {
    double t = 0.0;
    for (int i = 0; i < p; ++i)
        for (int l = 0; l < p; ++l) t += a[i] * Phi[i * p + l] * b[l];
    return t;
}

// Gradient and Hessian in phi from the sums.
template <int Q, int M>
void phi_derivatives(const Problem& pr, bool reml, Workspace& ws) {
    const int m = M > 0 ? M : pr.m(), p = m - 1;
    const int k = n_g<Q>(ws.tri), d = k + 1;
    const double s = ws.s2;
    const std::vector<double>& Phi = ws.phi_inv;
    const std::vector<double> &trC = ws.trC, &uEu = ws.uEu, &trC2 = ws.trC2, &uEu2 = ws.uEu2;
    const std::vector<double> &trR2 = ws.trR2, &ECEC = ws.ECEC, &uECEu = ws.uECEu, &ECER = ws.ECER;
    const std::vector<double> &gv = ws.gv, &P3xx = ws.P3xx, &x2r = ws.x2r;
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
    ws.info_phi.assign(d * d, 0.0);
    for (int a = 0; a < k; ++a)
        ws.grad_phi[a] = trC[a] / s - uEu[a] / (s * s) - (reml ? trPhiQ(a) / s : 0.0);
    ws.grad_phi[k] = ws.trHinv / s - ws.rH2r / (s * s) - (reml ? trPhiQ(k) / s : 0.0);

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
                vt = ws.trH2;
                if (reml) vt += -2.0 * tr_prod(Phi.data(), P3xx.data(), p);
                rz = ws.rH3r;
            }
            if (reml) vt += tr_prod(&PhiQ[size_t(a) * p * p], &PhiQ[size_t(b) * p * p], p);
            rz -= quad(gva, Phi, gvb, p);
            const double h = -vt / (s * s) + 2.0 * rz / (s * s * s);
            ws.hess_phi[a * d + b] = h;
            ws.hess_phi[b * d + a] = h;
            ws.info_phi[a * d + b] = ws.info_phi[b * d + a] = vt / (s * s);
        }
}

// Chain rule to psi = (theta, sigma): G = sigma^2 Lambda Lambda', sigma^2 = sigma^2.
template <int Q, int M>
void psi_derivatives(const Problem& pr, Workspace& ws) {
    const int q = Q > 0 ? Q : pr.q;
    const Tri& tri = ws.tri;
    const int k = n_g<Q>(tri), d = k + 1;
    const double s = ws.s2;
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
}

template <int Q, int M>
bool derivatives_t(const Problem& pr, bool reml, Workspace& ws) {
    detail::tri_of(ws, Q > 0 ? Q : pr.q);
    start_sums<Q, M>(pr, ws);
    cluster_sums<Q, M>(pr, ws);
    g_parameter_sums<Q, M>(pr, ws);
    residual_blocks<Q, M>(pr, ws);
    phi_derivatives<Q, M>(pr, reml, ws);
    psi_derivatives<Q, M>(pr, ws);
    for (double x : ws.hess_psi)
        if (!std::isfinite(x)) return false;
    for (double x : ws.grad_psi)
        if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace

bool derivatives(const Problem& pr, bool reml, Workspace& ws) { MCPS_DISPATCH(derivatives_t, pr, reml, ws) }

}  // namespace mcps
