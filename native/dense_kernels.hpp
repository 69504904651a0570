// Small dense kernels of the several-terms fit (lmm_general.cpp) for fully crossed designs
// (a subject meets every item), where the blocked factorisation's updates are dense: two
// doubles per vector register through GCC/Clang vector extensions (SSE2 on any x86-64,
// NEON on arm64; no -march needed), with sums split into independent partial sums.
#pragma once

#include <cstring>
#include <vector>

namespace mcps::general::kernels {

// Two doubles in one vector register.
typedef double v2d __attribute__((vector_size(16)));
inline v2d load2(const double* p) {
    v2d v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store2(double* p, v2d v) { std::memcpy(p, &v, sizeof v); }

// sum_k x[k] y[k], in two pairs of interleaved partial sums.
inline double dot(const double* x, const double* y, int m) {
    v2d a = {0.0, 0.0}, b = a;
    int k = 0;
    for (; k + 4 <= m; k += 4) {
        a += load2(x + k) * load2(y + k);
        b += load2(x + k + 2) * load2(y + k + 2);
    }
    a += b;
    double s = a[0] + a[1];
    for (; k < m; ++k) s += x[k] * y[k];
    return s;
}

// S[e][f] -= sum_k xt[e][k] xt[f][k] for f <= e < n (S with row stride ld, xt n x m): the
// update of a fully crossed design's dense part by every level of the first term at once,
// in 2 x 2 blocks of rows, each sum split by the parity of k.
inline void syrk_lower(const double* xt, int n, int m, double* S, int ld) {
    const int m2 = m & ~1;
    for (int e = 0; e < n; e += 2) {
        const bool two = e + 1 < n;
        const double* x0 = xt + size_t(e) * m;
        const double* x1 = two ? x0 + m : x0;
        double* S0 = S + size_t(e) * ld;
        double* S1 = two ? S0 + ld : S0;
        for (int f = 0; f <= e; f += 2) {
            const double* y0 = xt + size_t(f) * m;
            const double* y1 = f + 1 < n ? y0 + m : y0;
            v2d a00 = {0.0, 0.0}, a01 = a00, a10 = a00, a11 = a00;
            for (int k = 0; k < m2; k += 2) {
                const v2d p0 = load2(x0 + k), p1 = load2(x1 + k), q0 = load2(y0 + k), q1 = load2(y1 + k);
                a00 += p0 * q0;
                a01 += p0 * q1;
                a10 += p1 * q0;
                a11 += p1 * q1;
            }
            double s00 = a00[0] + a00[1], s01 = a01[0] + a01[1], s10 = a10[0] + a10[1], s11 = a11[0] + a11[1];
            if (m2 < m) {
                s00 += x0[m2] * y0[m2];
                s01 += x0[m2] * y1[m2];
                s10 += x1[m2] * y0[m2];
                s11 += x1[m2] * y1[m2];
            }
            S0[f] -= s00;
            if (f < e) S0[f + 1] -= s01;
            if (two) {
                S1[f] -= s10;
                S1[f + 1] -= s11;
            }
        }
    }
}

// ya (n x m) = sig's n x n block from (at, at) (row stride ld, symmetric) times xt (n x m):
// two rows by four columns of ya at a time, summed in registers over sig's columns.
inline void symm_block(const double* sig, int ld, int at, const double* xt, int n, int m, std::vector<double>& ya) {
    ya.assign(size_t(n) * m, 0.0);
    for (int e = 0; e < n; e += 2) {
        const bool two = e + 1 < n;
        const double* s0 = sig + size_t(at + e) * ld + at;
        const double* s1 = two ? s0 + ld : s0;
        double* y0 = &ya[size_t(e) * m];
        double* y1 = two ? y0 + m : y0;
        int k0 = 0;
        for (; k0 + 4 <= m; k0 += 4) {
            v2d a0 = {0.0, 0.0}, b0 = a0, a1 = a0, b1 = a0;
            for (int f = 0; f < n; ++f) {
                const double* x = xt + size_t(f) * m + k0;
                const v2d xa = load2(x), xb = load2(x + 2), w0 = {s0[f], s0[f]}, w1 = {s1[f], s1[f]};
                a0 += w0 * xa;
                b0 += w0 * xb;
                a1 += w1 * xa;
                b1 += w1 * xb;
            }
            if (two) {
                store2(y1 + k0, a1);
                store2(y1 + k0 + 2, b1);
            }
            store2(y0 + k0, a0);
            store2(y0 + k0 + 2, b0);
        }
        for (; k0 < m; ++k0) {
            double a0 = 0.0, a1 = 0.0;
            for (int f = 0; f < n; ++f) {
                a0 += s0[f] * xt[size_t(f) * m + k0];
                a1 += s1[f] * xt[size_t(f) * m + k0];
            }
            if (two) y1[k0] = a1;
            y0[k0] = a0;
        }
    }
}

}  // namespace mcps::general::kernels
