// Kenward-Roger for several random-effect terms, as pbkrtest 0.5.2 computes it
// (vcovAdj16_internal, Lb_ddf, KRmodcomp): covariance parameters gamma = each term's
// covariance entries (vech) and sigma^2, with dV/dgamma_r = G_r = Z D_r Z' (D_r: the unit
// entries (i, j), (j, i) of the term's block at every level) and G = I for sigma^2;
//   P_r = -X'V^-1 G_r V^-1 X,  Q_rs = X'V^-1 G_r V^-1 G_s V^-1 X,  K_rs = tr(V^-1 G_r V^-1 G_s),
//   IE_rs = K_rs - 2 sum(Phi o Q_rs) + sum((Phi P_r) o (Phi P_s)'),  W = 2 IE^-1,
//   Phi_A = Phi + 2 Phi U Phi,  U = sum_rs W_rs (Q_rs - P_r Phi P_s).
// Every n-dimensional product is reduced to the cross-products [Z X]'[Z X] through
// sigma^2 V^-1 = H^-1 = I - Z K Z', K = Lambda (Lambda'Z'Z Lambda + I)^-1 Lambda' (dense in q).
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "linalg.hpp"
#include "lmm_general.hpp"

namespace mcps::general {

namespace {

using Mat = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A B with A n x m, B m x k (row-major); with tA, A' B for A stored m x n.
Mat mul(const Mat& A, const Mat& B, int n, int m, int k, bool tA = false) {
    Mat C(size_t(n) * k, 0.0);
    for (int i = 0; i < n; ++i)
        for (int l = 0; l < m; ++l) {
            const double a = tA ? A[size_t(l) * n + i] : A[size_t(i) * m + l];
            if (a == 0.0) continue;
            const double* b = &B[size_t(l) * k];
            double* c = &C[size_t(i) * k];
            for (int j = 0; j < k; ++j) c[j] += a * b[j];
        }
    return C;
}

Mat minus(Mat A, const Mat& B) {
    for (size_t i = 0; i < A.size(); ++i) A[i] -= B[i];
    return A;
}

Mat transpose(const Mat& A, int n, int m) {
    Mat T(A.size());
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < m; ++j) T[size_t(j) * n + i] = A[size_t(i) * m + j];
    return T;
}

double trace(const Mat& A, int n) {
    double s = 0.0;
    for (int i = 0; i < n; ++i) s += A[size_t(i) * n + i];
    return s;
}

// sum(A o B') = tr(A B) for n x n matrices
double tr_prod(const Mat& A, const Mat& B, int n) {
    double s = 0.0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) s += A[size_t(i) * n + j] * B[size_t(j) * n + i];
    return s;
}

}  // namespace

KenwardRoger kenward_roger(const Model& md, const std::vector<double>& theta, double s2,
                           const std::vector<double>& phi) {
    const int p = md.p, p0 = md.pk[0], q1 = md.q1, qr = md.q_rest, q = q1 + qr, r = md.r;
    // [Z X]'[Z X] from the blocked cross-products: term 0 first (level-major), then the rest.
    Mat ZZ(size_t(q) * q, 0.0), ZX(size_t(q) * p, 0.0), XX(size_t(p) * p, 0.0);
    for (int j = 0; j < md.nl[0]; ++j)
        for (int c = 0; c < p0; ++c) {
            const int a = j * p0 + c;
            for (int d = 0; d < p0; ++d) ZZ[size_t(a) * q + j * p0 + d] = md.D1[(size_t(j) * p0 + c) * p0 + d];
            const double* Bjc = &md.B[(size_t(j) * p0 + c) * r];
            for (int b = 0; b < qr; ++b) ZZ[size_t(a) * q + q1 + b] = ZZ[size_t(q1 + b) * q + a] = Bjc[b];
            for (int b = 0; b < p; ++b) ZX[size_t(a) * p + b] = Bjc[qr + b];
        }
    for (int a = 0; a < qr; ++a) {
        for (int b = 0; b < qr; ++b) ZZ[size_t(q1 + a) * q + q1 + b] = md.C[size_t(a) * r + b];
        for (int b = 0; b < p; ++b) ZX[size_t(q1 + a) * p + b] = md.C[size_t(a) * r + qr + b];
    }
    for (int a = 0; a < p; ++a)
        for (int b = 0; b < p; ++b) XX[size_t(a) * p + b] = md.C[size_t(qr + a) * r + qr + b];
    // Lambda, and per column its term and position within the term's block.
    std::vector<int> term(q), pos(q);
    for (int a = 0; a < q; ++a) {
        term[a] = a < q1 ? 0 : md.rest_term[a - q1];
        pos[a] = a < q1 ? a % p0 : md.rest_col[a - q1];
    }
    Mat Lam(size_t(q) * q, 0.0);
    for (int a = 0; a < q; ++a) {
        const int t = term[a], pk = md.pk[t], base = a - pos[a];
        int e = md.theta_at[t];  // theta of (row, col) = (pos, c): column-wise lower triangle
        for (int c = 0; c <= pos[a]; e += pk - c, ++c) Lam[size_t(a) * q + base + c] = theta[e + pos[a] - c];
    }
    Mat M = mul(Lam, mul(ZZ, Lam, q, q, q), q, q, q, true);
    for (int a = 0; a < q; ++a) M[size_t(a) * q + a] += 1.0;
    KenwardRoger out;
    if (!la::cholesky(M.data(), q)) return out;
    Mat Minv(size_t(q) * q);
    la::chol_inverse(M.data(), q, Minv.data());
    const Mat K = mul(mul(Lam, Minv, q, q, q), transpose(Lam, q, q), q, q, q);
    // H^-1 = I - Z K Z': A'H^-1 B = A'B - A'Z K Z'B; A'H^-2 B = A'H^-1 B - (A'H^-1 Z) K Z'B.
    const Mat ZZK = mul(ZZ, K, q, q, q);
    const Mat ZHZ = minus(ZZ, mul(ZZK, ZZ, q, q, q));
    const Mat ZHX = minus(ZX, mul(ZZK, ZX, q, q, p));
    const Mat KZX = mul(K, ZX, q, q, p);
    const Mat XHX = minus(XX, mul(ZX, KZX, p, q, p, true));
    const Mat ZHZK = mul(ZHZ, K, q, q, q);
    const Mat ZH2Z = minus(ZHZ, mul(ZHZK, ZZ, q, q, q));
    const Mat ZH2X = minus(ZHX, mul(ZHZK, ZX, q, q, p));
    const Mat XH2X = minus(XHX, mul(ZHX, KZX, p, q, p, true));
    const Mat XH3X = minus(XH2X, mul(ZH2X, KZX, p, q, p, true));
    const double trH2 = md.n - 2.0 * trace(mul(K, ZZ, q, q, q), q) + tr_prod(mul(K, ZZ, q, q, q), mul(K, ZZ, q, q, q), q);
    // The random terms' covariance parameters: the unit entries of D_r.
    std::vector<std::vector<std::pair<int, int>>> D;
    for (size_t t = 0; t < md.pk.size(); ++t) {
        const int pk = md.pk[t];
        std::vector<int> bases;
        for (int a = 0; a < q; ++a)
            if (term[a] == int(t) && pos[a] == 0) bases.push_back(a);
        for (int c = 0; c < pk; ++c)
            for (int rr = c; rr < pk; ++rr) {
                std::vector<std::pair<int, int>> e;
                for (int b : bases) {
                    e.emplace_back(b + rr, b + c);
                    if (rr != c) e.emplace_back(b + c, b + rr);
                }
                D.push_back(std::move(e));
            }
    }
    const int nr = int(D.size()), dk = nr + 1, pp = p * p;
    const double s4 = s2 * s2, s6 = s4 * s2;
    // sum over (u, v) in D_r of A[u,:]' B[v,:] (p x p), scaled
    auto outer = [&](const std::vector<std::pair<int, int>>& e, const Mat& A, const Mat& B, double scale) {
        Mat R(pp, 0.0);
        for (const auto& [u, v] : e)
            for (int i = 0; i < p; ++i)
                for (int l = 0; l < p; ++l) R[i * p + l] += A[size_t(u) * p + i] * B[size_t(v) * p + l];
        for (double& x : R) x *= scale;
        return R;
    };
    std::vector<Mat> P(dk), Q(size_t(dk) * dk);
    Mat Kt(size_t(dk) * dk, 0.0);
    for (int a = 0; a < nr; ++a) {
        P[a] = outer(D[a], ZHX, ZHX, -1.0 / s4);
        Q[size_t(a) * dk + nr] = outer(D[a], ZHX, ZH2X, 1.0 / s6);
        Q[size_t(nr) * dk + a] = transpose(Q[size_t(a) * dk + nr], p, p);
        double t = 0.0;
        for (const auto& [u, v] : D[a]) t += ZH2Z[size_t(v) * q + u];
        Kt[size_t(a) * dk + nr] = Kt[size_t(nr) * dk + a] = t / s4;
    }
    P[nr] = XH2X;
    for (double& x : P[nr]) x *= -1.0 / s4;
    Q[size_t(nr) * dk + nr] = XH3X;
    for (double& x : Q[size_t(nr) * dk + nr]) x /= s6;
    Kt[size_t(nr) * dk + nr] = trH2 / s4;
    for (int b = 0; b < nr; ++b) {
        Mat Y(size_t(q) * p, 0.0);  // ZHZ D_b ZHX
        for (const auto& [w, z] : D[b])
            for (int v = 0; v < q; ++v) {
                const double h = ZHZ[size_t(v) * q + w];
                for (int l = 0; l < p; ++l) Y[size_t(v) * p + l] += h * ZHX[size_t(z) * p + l];
            }
        for (int a = 0; a <= b; ++a) {
            Q[size_t(a) * dk + b] = outer(D[a], ZHX, Y, 1.0 / s6);
            Q[size_t(b) * dk + a] = transpose(Q[size_t(a) * dk + b], p, p);
            double t = 0.0;
            for (const auto& [u, v] : D[a])
                for (const auto& [w, z] : D[b]) t += ZHZ[size_t(v) * q + w] * ZHZ[size_t(z) * q + u];
            Kt[size_t(a) * dk + b] = Kt[size_t(b) * dk + a] = t / s4;
        }
    }
    Mat IE(size_t(dk) * dk);
    std::vector<Mat> PhiP(dk);
    for (int a = 0; a < dk; ++a) PhiP[a] = mul(phi, P[a], p, p, p);
    for (int a = 0; a < dk; ++a)
        for (int b = 0; b < dk; ++b) {
            double sq = 0.0;
            for (int i = 0; i < pp; ++i) sq += phi[i] * Q[size_t(a) * dk + b][i];
            IE[size_t(a) * dk + b] = Kt[size_t(a) * dk + b] - 2.0 * sq + tr_prod(PhiP[a], PhiP[b], p);
        }
    // W = 2 IE^-1 (pbkrtest: its Moore-Penrose inverse when an eigenvalue is below 1e-10)
    std::vector<double> w, V;
    la::sym_eigen(IE, dk, w, V);
    out.W.assign(size_t(dk) * dk, 0.0);
    for (int e = 0; e < dk; ++e) {
        if (std::fabs(w[e]) <= 1e-10) continue;
        for (int i = 0; i < dk; ++i)
            for (int l = 0; l < dk; ++l) out.W[size_t(i) * dk + l] += 2.0 * V[i * dk + e] * V[l * dk + e] / w[e];
    }
    Mat U(pp, 0.0);
    for (int a = 0; a < dk; ++a)
        for (int b = 0; b < dk; ++b) {
            const double wab = out.W[size_t(a) * dk + b];
            const Mat PPhiP = mul(P[a], PhiP[b], p, p, p);
            for (int i = 0; i < pp; ++i) U[i] += wab * (Q[size_t(a) * dk + b][i] - PPhiP[i]);
        }
    const Mat adj = mul(mul(phi, U, p, p, p), phi, p, p, p);
    out.vcov_adj = phi;
    for (int i = 0; i < pp; ++i) out.vcov_adj[i] += 2.0 * adj[i];
    out.phi = phi;
    out.P = std::move(P);
    out.dk = dk;
    out.ok = true;
    return out;
}

JointTest kenward_roger_test(const KenwardRoger& kr, const std::vector<double>& beta, const std::vector<int>& cols) {
    const int p = int(beta.size()), q = int(cols.size()), dk = kr.dk;
    if (!kr.ok) return {kNaN, kNaN, kNaN, kNaN};
    // Theta = L'(L Phi L')^-1 L, and the Wald statistic with the adjusted covariance
    std::vector<double> B(size_t(q) * q), Ba(size_t(q) * q), inv(size_t(q) * q);
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l) {
            B[i * q + l] = kr.phi[size_t(cols[i]) * p + cols[l]];
            Ba[i * q + l] = kr.vcov_adj[size_t(cols[i]) * p + cols[l]];
        }
    if (!la::cholesky(B.data(), q) || !la::cholesky(Ba.data(), q)) return {kNaN, kNaN, kNaN, kNaN};
    la::chol_inverse(B.data(), q, inv.data());
    Mat Theta(size_t(p) * p, 0.0);
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l) Theta[size_t(cols[i]) * p + cols[l]] = inv[i * q + l];
    const Mat ThetaPhi = mul(Theta, kr.phi, p, p, p);
    std::vector<Mat> u(dk);
    std::vector<double> tr(dk);
    for (int a = 0; a < dk; ++a) {
        u[a] = mul(mul(ThetaPhi, kr.P[a], p, p, p), kr.phi, p, p, p);
        tr[a] = trace(u[a], p);
    }
    double A1 = 0.0, A2 = 0.0;
    for (int a = 0; a < dk; ++a)
        for (int b = 0; b < dk; ++b) {
            const double wab = kr.W[size_t(a) * dk + b];
            A1 += wab * tr[a] * tr[b];
            A2 += wab * tr_prod(u[a], u[b], p);
        }
    const double qd = q, Bk = (A1 + 6.0 * A2) / (2.0 * qd);
    const double g = ((qd + 1.0) * A1 - (qd + 4.0) * A2) / ((qd + 2.0) * A2);
    const double den = 3.0 * qd + 2.0 * (1.0 - g);
    const double c1 = g / den, c2 = (qd - g) / den, c3 = (qd + 2.0 - g) / den;
    double V0 = 1.0 + c1 * Bk;
    const double V1 = 1.0 - c2 * Bk, V2 = 1.0 - c3 * Bk;
    if (std::fabs(V0) < 1e-10) V0 = 0.0;
    const double x = 1.0 - A2 / qd;
    const double ratio = std::fabs(x) < 1e-14 && std::fabs(V1) < 1e-14 ? 1.0 : x / V1;  // pbkrtest's .divZero
    const double rho = ratio * ratio * V0 / V2 / qd;
    const double df2 = 4.0 + (qd + 2.0) / (qd * rho - 1.0);
    const double scaling = std::fabs(df2 - 2.0) < 1e-2 ? 1.0 : df2 * x / (df2 - 2.0);
    std::vector<double> bl(q);
    for (int i = 0; i < q; ++i) bl[i] = beta[cols[i]];
    std::vector<double> sol = bl;
    la::chol_solve(Ba.data(), q, sol.data());
    double wald = 0.0;
    for (int i = 0; i < q; ++i) wald += bl[i] * sol[i];
    JointTest out;
    out.num_df = qd;
    out.den_df = df2;
    out.F = scaling * wald / qd;
    return out;
}

}  // namespace mcps::general
