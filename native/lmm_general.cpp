// Several random-effect terms: the profiled deviance (see lmm_general.hpp for the notation
// and the blocking; the cross-products in lmm_general_model.cpp, the gradient in
// lmm_general_gradient.cpp).
#include "lmm_general.hpp"

#include <algorithm>
#include <cmath>

#include "dense_kernels.hpp"
#include "linalg.hpp"

namespace mcps::general {

namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// T_k (pk x pk, lower triangular, row-major) of every term from theta, one after another.
void build_t(const Model& md, const double* theta, std::vector<double>& T) {
    size_t size = 0;
    for (int k : md.pk) size += size_t(k) * k;
    T.assign(size, 0.0);
    size_t at = 0;
    for (size_t t = 0; t < md.pk.size(); ++t) {
        const int q = md.pk[t];
        int e = md.theta_at[t];
        for (int c = 0; c < q; ++c)
            for (int r = c; r < q; ++r) T[at + r * q + c] = theta[e++];
        at += size_t(q) * q;
    }
}

// log of a product of positive factors (Cholesky pivots) with one log per ~1e150 of
// product instead of one per factor.
struct LogProduct {
    double sum = 0.0, prod = 1.0;
    void add(double x) {
        if (prod > 1e150 || prod < 1e-150 || x > 1e150 || x < 1e-150) {
            sum += std::log(prod);
            prod = 1.0;
        }
        prod *= x;
    }
    double log() const { return sum + std::log(prod); }
};

// In place, the Cholesky factor of the leading n x n block of S (row stride ld) within
// its envelope (md.lo): la::cholesky's arithmetic without the products of zeros.
bool envelope_cholesky(const Model& md, double* S, int ld, int n) {
    for (int i = 0; i < n; ++i) {
        double* Si = S + size_t(i) * ld;
        const int li = md.lo[i];
        for (int j = li; j < i; ++j) {
            const double* Sj = S + size_t(j) * ld;
            double s = Si[j];
            for (int k = std::max(li, md.lo[j]); k < j; ++k) s -= Si[k] * Sj[k];
            Si[j] = s / Sj[j];
        }
        double d = Si[i];
        for (int k = li; k < i; ++k) d -= Si[k] * Si[k];
        if (!(d > 0.0) || !std::isfinite(d)) return false;
        Si[i] = std::sqrt(d);
    }
    return true;
}

// evaluate (and gradient_at, lmm_general_gradient.cpp) for a first term of P0 random effects (0: any number, read from
// md), so that the loops of its small per-level blocks unroll for the common 1 and 2.
template <int P0>
bool evaluate_p0(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, bool want_beta) {
    const int r = md.r, p = md.p, p0 = P0 > 0 ? P0 : md.pk[0], qr = md.q_rest;
    build_t(md, theta, sc.T);
    // Offsets of each term's T_k in sc.T.
    std::vector<size_t>& tat = sc.tat;
    tat.assign(md.pk.size(), 0);
    for (size_t t = 1; t < md.pk.size(); ++t) tat[t] = tat[t - 1] + size_t(md.pk[t - 1]) * md.pk[t - 1];
    const double* T0 = &sc.T[0];
    // S = Lt' C Lt + I on the random effects, Lt = blockdiag(Lambda_rest, I): first C Lt ...
    std::vector<double>& A = sc.A;
    A.resize(size_t(r) * r);  // set (and later read) only within the envelope
    for (int a = 0; a < r; ++a) {
        const double* Ca = &md.C[size_t(a) * r];
        double* Aa = &A[size_t(a) * r];
        // C's row a is nonzero only within the envelope: [lo, hi) of the rest, then [X y].
        // Both ends are level boundaries: a level's columns at once, with its T_k.
        const int b0 = a < qr ? md.lo[a] : 0, b1 = a < qr ? md.hi[a] : qr;
        for (int b = b0; b < b1;) {
            const int t = md.rest_term[b], q = md.pk[t];
            const double* Tk = &sc.T[tat[t]];
            if (q == 1) {  // a run of one-column levels of term t (items): a scaled stretch of C's row
                int f = b + 1;
                while (f < b1 && md.rest_term[f] == t) ++f;
                const double tk = Tk[0];
                for (int g = b; g < f; ++g) Aa[g] = 0.0 + Ca[g] * tk;
                b = f;
                continue;
            }
            for (int c = 0; c < q; ++c) {
                double s = 0.0;
                for (int d = c; d < q; ++d) s += Ca[b + d] * Tk[d * q + c];
                Aa[b + c] = s;
            }
            b += q;
        }
        for (int b = qr; b < r; ++b) Aa[b] = Ca[b];
    }
    // ... then the lower triangle of Lt' (C Lt), within the envelope.
    std::vector<double>& S = sc.S;
    S.resize(size_t(r) * r);  // set (and later read) only within the envelope
    for (int a = 0; a < r; ++a) {
        double* Sa = &S[size_t(a) * r];
        if (a < qr) {
            std::fill(Sa + md.lo[a], Sa + a + 1, 0.0);
            const int t = md.rest_term[a], q = md.pk[t], c = md.rest_col[a], start = a - c;
            const double* Tk = &sc.T[tat[t]];
            for (int d = c; d < q; ++d) {
                const double w = Tk[d * q + c];
                const double* Ad = &A[size_t(start + d) * r];
                for (int b = md.lo[a]; b <= a; ++b) Sa[b] += w * Ad[b];
            }
            Sa[a] += 1.0;
        } else {
            const double* Aa = &A[size_t(a) * r];
            for (int b = 0; b <= a; ++b) Sa[b] = Aa[b];
        }
    }
    // The first term, level by level: L_j = chol(T0' D_j T0 + I), X_j = L_j^-1 T0' B_j Lt,
    // and S -= X_j' X_j over the columns the level touches.
    LogProduct prod;
    double M[64], tmp[64];
    if (sc.keep) {
        sc.at.resize(md.nl[0] + 1);
        sc.at[0] = 0;
        for (int j = 0; j < md.nl[0]; ++j) sc.at[j + 1] = sc.at[j] + size_t(p0) * md.touch[j].size();
        sc.L1.resize(size_t(md.nl[0]) * p0 * p0);
        sc.X1s.resize(sc.at.back());
        sc.BL.resize(sc.at.back());
    }
    std::vector<double>& X1 = sc.X1;
    for (int j = 0; j < md.nl[0]; ++j) {
        const double* D = &md.D1[size_t(j) * p0 * p0];
        for (int a = 0; a < p0; ++a)
            for (int b = 0; b < p0; ++b) {
                double s = 0.0;
                for (int c = 0; c < p0; ++c) s += D[a * p0 + c] * T0[c * p0 + b];
                tmp[a * p0 + b] = s;
            }
        for (int a = 0; a < p0; ++a)
            for (int b = 0; b < p0; ++b) {
                double s = a == b ? 1.0 : 0.0;
                for (int c = 0; c < p0; ++c) s += T0[c * p0 + a] * tmp[c * p0 + b];
                M[a * p0 + b] = s;
            }
        if (!la::cholesky(M, p0)) return false;
        for (int a = 0; a < p0; ++a) prod.add(M[a * p0 + a]);
        const std::vector<int>& tj = md.touch[j];
        const int nt = int(tj.size());
        const double* Bj = &md.B[size_t(j) * p0 * r];
        // B_j Lt over the touched columns (kept for the gradient), then X1_j = L_j^-1 T0' (B_j Lt)
        // row by row (the divisions of a row pipeline).
        if (sc.keep) std::copy(M, M + p0 * p0, &sc.L1[size_t(j) * p0 * p0]);
        if (!sc.keep) sc.bl1.resize(size_t(p0) * nt);
        double* blt = sc.keep ? &sc.BL[sc.at[j]] : sc.bl1.data();
        for (int e = 0; e < nt;) {  // (B_j Lt)[c, b], a touched level's columns at once
            const int b = tj[e];
            if (b >= qr) {
                for (int c = 0; c < p0; ++c) blt[size_t(c) * nt + e] = Bj[size_t(c) * r + b];
                ++e;
                continue;
            }
            const int t = md.rest_term[b], q = md.pk[t];
            const double* Tk = &sc.T[tat[t]];
            if (q == 1) {  // a run of one-column levels of term t (items): scaled columns of B_j
                int f = e + 1;
                while (f < nt && tj[f] < qr && md.rest_term[tj[f]] == t) ++f;
                const double tk = Tk[0];
                const bool run = tj[f - 1] - tj[e] == f - 1 - e;  // (a subject meets every item)
                for (int c = 0; c < p0; ++c) {
                    const double* __restrict Bc = Bj + size_t(c) * r;
                    double* __restrict out = blt + size_t(c) * nt;
                    if (run) {
                        const double* __restrict Bs = Bc + tj[e] - e;
                        for (int g = e; g < f; ++g) out[g] = Bs[g] * tk;
                    } else {
                        for (int g = e; g < f; ++g) out[g] = Bc[tj[g]] * tk;
                    }
                }
                e = f;
                continue;
            }
            for (int c = 0; c < p0; ++c) {
                const double* Bc = Bj + size_t(c) * r + b;
                for (int cc = 0; cc < q; ++cc) {
                    double s = 0.0;
                    for (int d = cc; d < q; ++d) s += Bc[d] * Tk[d * q + cc];
                    blt[size_t(c) * nt + e + cc] = s;
                }
            }
            e += q;
        }
        X1.resize(size_t(p0) * nt);  // written in order before it is read
        double* __restrict x1w = X1.data();  // (no alias of blt: the loop below vectorises)
        const double* __restrict bl = blt;
        for (int a = 0; a < p0; ++a) {
            const double inv = 1.0 / M[a * p0 + a];  // one division per row, not per column
            for (int e = 0; e < nt; ++e) {
                double s = 0.0;
                for (int c = a; c < p0; ++c) s += T0[c * p0 + a] * bl[size_t(c) * nt + e];
                for (int c = 0; c < a; ++c) s -= M[a * p0 + c] * x1w[size_t(c) * nt + e];
                x1w[size_t(a) * nt + e] = s * inv;
            }
        }
        if (sc.keep) std::copy(X1.begin(), X1.end(), &sc.X1s[sc.at[j]]);
        if (md.uniform) {  // S is updated by all levels at once, below
            sc.xt.resize(size_t(nt) * md.q1);
            for (int c = 0; c < p0; ++c)
                for (int e = 0; e < nt; ++e) sc.xt[size_t(e) * md.q1 + size_t(j) * p0 + c] = X1[size_t(c) * nt + e];
            continue;
        }
        const bool contiguous = tj.back() - tj.front() == nt - 1;  // e.g. a subject meets every item
        const double* __restrict x1 = X1.data();  // (no alias of S: the loop below vectorises)
        for (int e = 0; e < nt; ++e) {
            double* __restrict Se = &S[size_t(tj[e]) * r];
            double we[8];
            for (int c = 0; c < p0; ++c) we[c] = x1[size_t(c) * nt + e];
            if (contiguous) {
                double* __restrict Sd = Se + tj.front();
                for (int f = 0; f <= e; ++f) {
                    double d = 0.0;
                    for (int c = 0; c < p0; ++c) d += we[c] * x1[size_t(c) * nt + f];
                    Sd[f] -= d;
                }
            } else {
                for (int f = 0; f <= e; ++f) {
                    double d = 0.0;
                    for (int c = 0; c < p0; ++c) d += we[c] * x1[size_t(c) * nt + f];
                    Se[tj[f]] -= d;
                }
            }
        }
    }
    if (md.uniform) {
        const int c0 = md.touch[0].front(), nt = int(md.touch[0].size());
        kernels::syrk_lower(sc.xt.data(), nt, md.q1, &S[size_t(c0) * r + c0], r);
    }
    // Only the lower triangle is updated above (touched lists ascend), within the envelope.
    if (!envelope_cholesky(md, S.data(), r, r)) return false;
    for (int a = 0; a < qr; ++a) prod.add(S[size_t(a) * r + a]);
    const double logdet = 2.0 * prod.log();
    LogProduct prod_rx;
    for (int a = qr; a < qr + p; ++a) prod_rx.add(S[size_t(a) * r + a]);
    const double logdet_rx = 2.0 * prod_rx.log();
    const double rho = S[size_t(r - 1) * r + r - 1];
    ev.logdet_l = logdet;
    ev.logdet_rx = logdet_rx;
    ev.r2 = rho * rho;
    const double nn = reml ? double(md.n - p) : double(md.n);
    ev.deviance = logdet + (reml ? logdet_rx : 0.0) + nn * (1.0 + kLog2Pi + std::log(ev.r2 / nn));
    if (!std::isfinite(ev.deviance)) return false;
    if (want_beta) solve_beta(md, sc, ev);
    return true;
}

}  // namespace

void solve_beta(const Model& md, const Scratch& sc, Eval& ev) {
    if (md.nested) return solve_beta_nested(md, sc, ev);
    // R_X' is S's block at the X rows; the y row holds c_beta: solve R_X beta = c_beta.
    const int r = md.r, p = md.p, qr = md.q_rest;
    const std::vector<double>& S = sc.S;
    std::vector<double> lx(size_t(p) * p);
    for (int a = 0; a < p; ++a)
        for (int b = 0; b <= a; ++b) lx[size_t(a) * p + b] = S[size_t(qr + a) * r + qr + b];
    ev.beta.assign(p, 0.0);
    for (int a = p - 1; a >= 0; --a) {
        double s = S[size_t(r - 1) * r + qr + a];
        for (int b = a + 1; b < p; ++b) s -= lx[size_t(b) * p + a] * ev.beta[b];
        ev.beta[a] = s / lx[size_t(a) * p + a];
    }
    ev.rx_inv.assign(size_t(p) * p, 0.0);
    la::chol_inverse(lx.data(), p, ev.rx_inv.data());
}

bool evaluate(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, bool want_beta) {
    if (md.nested) return evaluate_nested(md, reml, theta, ev, sc, want_beta);
    switch (md.pk[0]) {
        case 1: return evaluate_p0<1>(md, reml, theta, ev, sc, want_beta);
        case 2: return evaluate_p0<2>(md, reml, theta, ev, sc, want_beta);
        default: return evaluate_p0<0>(md, reml, theta, ev, sc, want_beta);
    }
}

bool gradient(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, std::vector<double>& g) {
    const bool keep = sc.keep;
    sc.keep = true;
    const bool ok = evaluate(md, reml, theta, ev, sc, false);
    sc.keep = keep;
    return ok && gradient_at(md, reml, ev, sc, g);
}

}  // namespace mcps::general
