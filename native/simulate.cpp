#include "simulate.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "rng.hpp"

namespace mcps {

Generator::Generator(const EngineSpec& s) : spec(s) {
    const int q = s.n_random();
    // Cholesky that accepts a semi-definite covariance (a zero slope variance gives a
    // zero column): the random effects are then exactly zero in that direction.
    re_chol = theta_from_cov(s.re_cov, q, 1.0);
    std::vector<double> full(q * q, 0.0);
    int k = 0;
    for (int c = 0; c < q; ++c)
        for (int r = c; r < q; ++r) full[r * q + c] = re_chol[k++];
    re_chol = full;
    binary.assign(s.predictor_binary.begin(), s.predictor_binary.end());
    main_effects_only = true;
    for (const auto& t : s.terms) {
        main_effects_only = main_effects_only && t.size() == 1;
        term_pred.push_back(t.empty() ? 0 : t[0]);
    }
    // The cross-products of a cluster have a closed-form distribution when its columns
    // are independent Gaussians: main effects of distinct normal predictors, and the
    // residual.  A Wishart needs at least as many rows, less one, as columns.
    std::vector<int> used = term_pred;
    std::sort(used.begin(), used.end());
    sufficient = !s.row_level && main_effects_only && std::adjacent_find(used.begin(), used.end()) == used.end();
    for (int v : used) sufficient = sufficient && !binary[v];
    for (auto n : s.cluster_sizes) sufficient = sufficient && n - 1 >= s.n_fixed();
}

// A cluster's coefficients: the fixed effects plus its random effects chol(G) z
// (q normals, the first draws of every cluster).
void Generator::cluster_coefficients(Stream& rng, double* coef) const {
    const int p = spec.n_fixed(), q = spec.n_random();
    double z[8];
    for (int a = 0; a < q; ++a) z[a] = rng.normal();
    for (int t = 0; t < p; ++t) coef[t] = spec.beta[t];
    for (int a = 0; a < q; ++a) {
        double b = 0.0;
        for (int c = 0; c <= a; ++c) b += re_chol[a * q + c] * z[c];
        coef[spec.z_columns[a]] += b;
    }
}

void Generator::generate(uint64_t seed, uint64_t index, Problem& pr) const {
    if (sufficient)
        generate_sufficient(seed, index, pr);
    else
        generate_rows(seed, index, pr);
}

namespace {

// Dot product of two columns of length n (vectorised by the compiler).
inline double dot(const double* a, const double* b, int64_t n) {
    double s0 = 0.0, s1 = 0.0;
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
    }
    if (i < n) s0 += a[i] * b[i];
    return s0 + s1;
}

inline double sum(const double* a, int64_t n) {
    double s0 = 0.0, s1 = 0.0;
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
        s0 += a[i];
        s1 += a[i + 1];
    }
    if (i < n) s0 += a[i];
    return s0 + s1;
}

}  // namespace

// One simulation, cluster by cluster.  Draw order within a cluster (part of the
// reproducibility contract): the q random-effect normals, then each predictor's
// column, then the residuals.  The cluster's columns are built whole and reduced to
// W_j'W_j by dot products, which the compiler vectorises.
void Generator::generate_rows(uint64_t seed, uint64_t index, Problem& pr) const {
    const int n_pred = int(spec.predictor_binary.size());
    const int p = spec.n_fixed(), q = spec.n_random(), m = p + 1;
    const int J = int(spec.cluster_sizes.size());
    if (pr.p != p || pr.q != q || pr.n_clusters != J) pr.reset(p, q, J, spec.z_columns);
    int64_t max_n = 0;
    for (auto n : spec.cluster_sizes) max_n = std::max(max_n, n);
    // columns: predictors (n_pred), then W = [X y] (m); X's intercept column is all ones
    pr.scratch.resize(size_t(max_n) * (n_pred + m));
    double* pred = pr.scratch.data();
    double* W = pred + size_t(max_n) * n_pred;
    std::fill(W, W + max_n, 1.0);

    Stream rng(seed, index);
    double coef[64];
    double n_total = 0.0;
    for (int j = 0; j < J; ++j) {
        const int64_t nj = spec.cluster_sizes[j];
        cluster_coefficients(rng, coef);
        for (int v = 0; v < n_pred; ++v) {
            double* col = pred + size_t(v) * max_n;
            if (binary[v])
                rng.fill_bernoulli(col, nj, spec.predictor_p[v]);
            else
                rng.fill_normal(col, nj);
        }
        for (int t = 1; t < p; ++t) {
            double* col = W + size_t(t) * max_n;
            const auto& term = spec.terms[t - 1];
            const double* first = pred + size_t(term[0]) * max_n;
            std::copy(first, first + nj, col);
            for (size_t f = 1; f < term.size(); ++f) {
                const double* other = pred + size_t(term[f]) * max_n;
                for (int64_t i = 0; i < nj; ++i) col[i] *= other[i];
            }
        }
        double* y = W + size_t(p) * max_n;
        rng.fill_normal(y, nj);
        for (int64_t i = 0; i < nj; ++i) y[i] += coef[0];
        for (int t = 1; t < p; ++t) {
            const double ct = coef[t];
            const double* col = W + size_t(t) * max_n;
            for (int64_t i = 0; i < nj; ++i) y[i] += ct * col[i];
        }
        double* S = &pr.cross[size_t(j) * m * m];
        double* cs = &pr.colsum[size_t(j) * m];
        cs[0] = double(nj);
        S[0] = double(nj);
        for (int r = 1; r < m; ++r) {
            const double* cr = W + size_t(r) * max_n;
            cs[r] = sum(cr, nj);
            S[r] = S[r * m] = cs[r];
            for (int c = r; c < m; ++c) S[r * m + c] = S[c * m + r] = dot(cr, W + size_t(c) * max_n, nj);
        }
        pr.rows[j] = double(nj);
        n_total += double(nj);
    }
    pr.n_obs = n_total;
}

// Each cluster's cross-products drawn from their exact distribution.  With the k = p
// Gaussian columns G = [x_1 .. x_{p-1} e] of n rows (i.i.d. N(0, 1)), the column mean
// is N(0, I/n) and independent of the centred scatter, which is Wishart(n - 1, I_k)
// (drawn by Bartlett's decomposition: L_ii^2 ~ chi^2(n - 1 - i), L_il ~ N(0, 1)).
// [1 G]'[1 G] follows, and W = [1 x y] = [1 G] T with y = coef'[1 x] + e, so
// W'W = T'[1 G]'[1 G] T.  The cost per cluster no longer grows with its size.
// Draw order per cluster: q random-effect normals, the Bartlett factor row by row
// (diagonal chi-square first), then the k mean normals.
void Generator::generate_sufficient(uint64_t seed, uint64_t index, Problem& pr) const {
    const int p = spec.n_fixed(), q = spec.n_random(), m = p + 1, k = p;
    const int J = int(spec.cluster_sizes.size());
    if (pr.p != p || pr.q != q || pr.n_clusters != J) pr.reset(p, q, J, spec.z_columns);
    Stream rng(seed, index);
    double coef[64], L[64 * 64], F[65 * 65], mean[64];
    double n_total = 0.0;
    for (int j = 0; j < J; ++j) {
        const double n = double(spec.cluster_sizes[j]);
        cluster_coefficients(rng, coef);
        for (int i = 0; i < k; ++i) {
            L[i * k + i] = std::sqrt(rng.chi_square(n - 1.0 - i));
            for (int l = 0; l < i; ++l) L[i * k + l] = rng.normal();
        }
        const double root_n = std::sqrt(n);
        for (int i = 0; i < k; ++i) mean[i] = rng.normal() / root_n;
        // F = [1 G]'[1 G], index 0 = intercept, 1..k = G's columns
        F[0] = n;
        for (int i = 0; i < k; ++i) {
            F[(i + 1) * m] = F[i + 1] = n * mean[i];
            for (int l = 0; l <= i; ++l) {
                double sc = 0.0;
                for (int c = 0; c <= l; ++c) sc += L[i * k + c] * L[l * k + c];
                F[(i + 1) * m + (l + 1)] = F[(l + 1) * m + (i + 1)] = sc + n * mean[i] * mean[l];
            }
        }
        // W'W = T' F T with T = identity except its last column (coef, 1): only the
        // products with y change.
        double* S = &pr.cross[size_t(j) * m * m];
        double* cs = &pr.colsum[size_t(j) * m];
        double Fy[65];  // F T[:, p]
        for (int r = 0; r < m; ++r) {
            double t = F[r * m + p];
            for (int c = 0; c < p; ++c) t += F[r * m + c] * coef[c];
            Fy[r] = t;
        }
        for (int r = 0; r < p; ++r) {
            for (int c = 0; c < p; ++c) S[r * m + c] = F[r * m + c];
            S[r * m + p] = S[p * m + r] = Fy[r];
            cs[r] = F[r];  // column sums: row 0 of F
        }
        double yy = Fy[p];
        for (int c = 0; c < p; ++c) yy += coef[c] * Fy[c];
        S[p * m + p] = yy;
        cs[p] = Fy[0];
        pr.rows[j] = n;
        n_total += n;
    }
    pr.n_obs = n_total;
}

}  // namespace mcps
