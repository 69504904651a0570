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
    const int n_pred = int(s.predictor_binary.size());
    for (int v = 0; v < n_pred; ++v) {
        const bool fixed = !s.predictor_values.empty() && !s.predictor_values[v].empty();
        const ValuesUse use = s.predictor_values_use.empty() ? ValuesUse::cycle : s.predictor_values_use[v];
        draw.push_back(fixed ? (use == ValuesUse::quantile    ? Draw::quantile
                                : use == ValuesUse::bootstrap ? Draw::bootstrap
                                                              : Draw::fixed)
                       : !binary[v] ? Draw::normal
                       : s.allocation(v) == Allocation::balanced ? Draw::balanced
                                                                           : Draw::bernoulli);
        if (draw[v] == Draw::quantile) quantile_preds.push_back(v);
        if (draw[v] == Draw::bootstrap && bootstrap_first < 0) bootstrap_first = v;
        const bool between = s.level(v) == Level::cluster;
        cluster_slot.push_back(between ? int(cluster_level.size()) : -1);
        if (between) cluster_level.push_back(v);
    }
    factor_width.assign(n_pred, 0);
    cond_p.assign(s.predictor_p.begin(), s.predictor_p.end());
    for (int v = 0; v < n_pred; ++v) {
        const int f = s.factor_of(v);
        if (f < 0) continue;
        ++factor_width[f];
        double earlier = 0.0;
        for (int u = f; u < v; ++u) earlier += s.predictor_p[u];
        cond_p[v] = s.predictor_p[v] / (1.0 - earlier);
    }
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
    for (int v : used) sufficient = sufficient && draw[v] == Draw::normal && cluster_slot[v] < 0;
    // Drawn sizes (cluster_size_cv) may be as small as kMinClusterSize.
    int64_t smallest = *std::min_element(s.cluster_sizes.begin(), s.cluster_sizes.end());
    if (s.cluster_size_cv > 0.0) smallest = kMinClusterSize;
    sufficient = sufficient && smallest - 1 >= s.n_fixed();
    for (int v = 0; v < n_pred && !s.predictor_mix.empty(); ++v)
        for (int u = 0; u < v; ++u) mixed = mixed || s.predictor_mix[v * n_pred + u] != 0.0;
    sufficient = sufficient && !mixed;
    // The closed forms below assume normal homoskedastic residuals.
    robust_rows = !s.robust.residual_normal();
    sufficient = sufficient && !robust_rows;
    // Base columns of the cells path: [1, level-1 binaries, level-1 normals, residual].
    bool new_feature = mixed || !s.predictor_factor.empty();
    cell_pos.assign(n_pred, 0);
    exclude_bits.assign(n_pred, 0);
    int plain_binary = 0;        // level-1 binaries that are not a factor's
    int64_t max_cells = 1;       // cells that can be non-empty
    for (int v = 0; v < n_pred; ++v) {
        new_feature = new_feature || cluster_slot[v] >= 0 || draw[v] != Draw::normal;
        if (cluster_slot[v] < 0 && draw[v] != Draw::normal) {
            cell_pos[v] = 1 + cell_binary++;
            const int f = s.factor_of(v);
            if (f < 0) ++plain_binary, max_cells *= 2;
            else if (f == v) max_cells *= factor_width[v] + 1;
            for (int u = std::max(f, 0); f >= 0 && u < v; ++u) exclude_bits[v] |= 1 << (cell_pos[u] - 1);
        }
    }
    for (int v = 0; v < n_pred; ++v)
        if (cluster_slot[v] < 0 && draw[v] == Draw::normal) cell_pos[v] = 1 + cell_binary + cell_gauss++;
    // Every design with a binary, factor, cluster-level or correlated predictor takes the
    // cells path when its sizes allow (all-normal designs have the Wishart path above).
    cells = !s.row_level && new_feature && main_effects_only && plain_binary <= kMaxCellBinary &&
            cell_binary <= kMaxCellBits && std::adjacent_find(used.begin(), used.end()) == used.end();
    cells = cells && smallest - max_cells >= cell_gauss + 1 && !robust_rows;
    for (int v = 0; v < n_pred; ++v) cells = cells && !from_values(draw[v]);  // rows only
}

void Generator::generate(uint64_t seed, uint64_t index, Problem& pr) const {
    thread_local std::vector<int64_t> drawn;
    const int64_t* sizes = spec.cluster_sizes.data();
    if (spec.cluster_size_cv > 0.0) {
        draw_sizes(seed, index, drawn);
        sizes = drawn.data();
    }
    SimDraw sim;
    if (spec.robust.per_simulation()) draw_perturbation(seed, index, sim);
    if (sufficient)
        generate_sufficient(seed, index, sizes, pr, sim);
    else if (cells)
        generate_cells(seed, index, sizes, pr, sim);
    else
        generate_rows(seed, index, sizes, pr, sim);
}

// Sizes with coefficient of variation cv around the mean N/J, from the simulation's
// substream 1 (so the data's own stream is that of the same design with fixed sizes):
// relative sizes g_j ~ Gamma(1/cv^2, cv^2) (mean 1, CV cv) are scaled to the total N,
// those below kMinClusterSize raised to it and the rest rescaled until none is below,
// then rounded by largest remainder, so the sizes are whole and add up to N.
void Generator::draw_sizes(uint64_t seed, uint64_t index, std::vector<int64_t>& out) const {
    const int J = int(spec.cluster_sizes.size());
    int64_t total = 0;
    for (auto n : spec.cluster_sizes) total += n;
    Stream rng(seed, index, 1);
    const double shape = 1.0 / (spec.cluster_size_cv * spec.cluster_size_cv);
    std::vector<double> x(J);
    for (auto& g : x) g = rng.chi_square(2.0 * shape) / (2.0 * shape);
    std::vector<uint8_t> at_floor(J, 0);
    const double low = kMinClusterSize;
    for (;;) {
        double free_sum = 0.0, free_total = double(total);
        for (int j = 0; j < J; ++j) {
            if (at_floor[j]) free_total -= low;
            else free_sum += x[j];
        }
        bool raised = false;
        for (int j = 0; j < J; ++j)
            if (!at_floor[j] && (free_sum <= 0.0 || x[j] * free_total / free_sum < low)) at_floor[j] = 1, raised = true;
        if (raised) continue;
        for (int j = 0; j < J; ++j) x[j] = at_floor[j] ? low : x[j] * free_total / free_sum;
        break;
    }
    out.resize(J);
    int64_t left = total;
    std::vector<int> order(J);
    for (int j = 0; j < J; ++j) {
        out[j] = int64_t(std::floor(x[j]));
        left -= out[j];
        order[j] = j;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return x[a] - std::floor(x[a]) > x[b] - std::floor(x[b]); });
    for (int i = 0; i < left; ++i) ++out[order[i % J]];
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

// Bartlett factor of a Wishart(df, I_k): L_ii^2 ~ chi^2(df - i), L_il ~ N(0, 1), row by
// row (diagonal chi-square first); L is k x k row-major, lower.
void bartlett(Stream& rng, int k, double df, double* L) {
    for (int i = 0; i < k; ++i) {
        L[i * k + i] = std::sqrt(rng.chi_square(df - i));
        for (int l = 0; l < i; ++l) L[i * k + l] = rng.normal();
    }
}

// Ones among `draws` of a binary predictor's values: Binomial(draws, prob) for
// independent draws; for a balanced one, hypergeometric: `draws` rows taken without
// replacement from `left` rows of which `ones_left` are ones.
int64_t binomial(Stream& rng, int64_t draws, double prob) {
    int64_t ones = 0;
    for (int64_t i = 0; i < draws; ++i) ones += rng.uniform() < prob;
    return ones;
}

int64_t hypergeometric(Stream& rng, int64_t draws, int64_t left, int64_t ones_left) {
    if (draws == left) return ones_left;  // every row left (the first split): no draws
    int64_t ones = 0;
    for (int64_t i = 0; i < draws; ++i, --left)
        if (rng.uniform() * double(left) < double(ones_left)) ++ones, --ones_left;
    return ones;
}

}  // namespace

// One simulation, cluster by cluster.  Draw order within a cluster (part of the
// reproducibility contract): the q random-effect normals, then each predictor's
// column, then the outcome's draws (the sink's).  The cluster's columns are built
// whole; cluster-level predictors are drawn first, all J values of each in turn, and
// copied into their clusters' rows.  W holds the columns [X y] of the cluster
// (max_n apart; X's intercept all ones), y left for the sink to fill.
void Generator::for_each_cluster(uint64_t seed, uint64_t index, const int64_t* sizes, std::vector<double>& scratch,
                                 const ClusterSink& sink, const SimDraw& sim) const {
    const int n_pred = int(spec.predictor_binary.size());
    const int p = spec.n_fixed(), m = p + 1;
    const int J = int(spec.cluster_sizes.size());
    const int64_t max_n = *std::max_element(sizes, sizes + J);
    // scratch: predictor columns (n_pred), W = [X y] (m columns, X's intercept all ones),
    // then the J values of each cluster-level predictor
    const size_t n_between = cluster_level.size();
    scratch.resize(size_t(max_n) * (n_pred + m) + n_between * J);
    double* pred = scratch.data();
    double* W = pred + size_t(max_n) * n_pred;
    double* between = W + size_t(max_n) * m;
    std::fill(W, W + max_n, 1.0);

    Stream rng(seed, index);
    for (size_t c = 0; c < n_between; ++c) draw_column(cluster_level[c], rng, between + c * J, J, J);
    double* within_cols[64] = {};  // the level-1 normals' columns, for mixing
    if (mixed) {
        double* between_cols[64] = {};
        for (int v = 0; v < n_pred; ++v) {
            if (draw[v] != Draw::normal && draw[v] != Draw::quantile) continue;
            if (cluster_slot[v] >= 0) between_cols[v] = between + size_t(cluster_slot[v]) * J;
            else within_cols[v] = pred + size_t(v) * max_n;
        }
        mix_columns(between_cols, J);
    }
    double coef[64];
    for (int j = 0; j < J; ++j) {
        const int64_t nj = sizes[j];
        cluster_coefficients(rng, coef, sim);
        for (int v = 0; v < n_pred; ++v) {
            double* col = pred + size_t(v) * max_n;
            if (cluster_slot[v] >= 0)
                std::fill(col, col + nj, between[size_t(cluster_slot[v]) * J + j]);
            else
                draw_column(v, rng, col, max_n, nj);
        }
        if (mixed) mix_columns(within_cols, nj);
        for (int v : quantile_preds) to_quantiles(v, pred + size_t(v) * max_n, nj);
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
        sink(j, nj, coef, W, max_n, rng);
    }
}

// Every row of a Gaussian outcome, reduced to W_j'W_j by dot products (vectorised).
void Generator::generate_rows(uint64_t seed, uint64_t index, const int64_t* sizes, Problem& pr,
                              const SimDraw& sim, std::vector<double>* rows_out) const {
    const int p = spec.n_fixed(), q = spec.n_random(), m = p + 1;
    const int J = int(spec.cluster_sizes.size());
    if (pr.p != p || pr.q != q || pr.n_clusters != J) pr.reset(p, q, J, spec.z_columns);
    double n_total = 0.0;
    for_each_cluster(seed, index, sizes, pr.scratch,
                     [&](int j, int64_t nj, const double* coef, double* W, int64_t max_n, Stream& rng) {
        double* y = W + size_t(p) * max_n;
        if (robust_rows)
            draw_residuals(rng, sim, W, max_n, nj, y);
        else
            rng.fill_normal(y, nj);
        for (int64_t i = 0; i < nj; ++i) y[i] += coef[0];
        for (int t = 1; t < p; ++t) {
            const double ct = coef[t];
            const double* col = W + size_t(t) * max_n;
            for (int64_t i = 0; i < nj; ++i) y[i] += ct * col[i];
        }
        for (int64_t i = 0; rows_out && i < nj; ++i) {
            rows_out->push_back(double(j));
            for (int t = 0; t <= p; ++t) rows_out->push_back(W[size_t(t) * max_n + i]);
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
    }, sim);
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
void Generator::generate_sufficient(uint64_t seed, uint64_t index, const int64_t* sizes, Problem& pr,
                                    const SimDraw& sim) const {
    const int p = spec.n_fixed(), q = spec.n_random(), m = p + 1, k = p;
    const int J = int(spec.cluster_sizes.size());
    if (pr.p != p || pr.q != q || pr.n_clusters != J) pr.reset(p, q, J, spec.z_columns);
    Stream rng(seed, index);
    double coef[64], L[64 * 64], F[65 * 65], mean[64];
    double n_total = 0.0;
    for (int j = 0; j < J; ++j) {
        const double n = double(sizes[j]);
        cluster_coefficients(rng, coef, sim);
        bartlett(rng, k, n - 1.0, L);
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

namespace mcps {

// Each cluster's cross-products given the split of its rows into cells by the values of
// its level-1 binary predictors (at most 2^b cells).  Given the split, the Gaussian
// columns G = [normals, residual] (k of them) are i.i.d. rows: each non-empty cell c of
// n_c rows has column sums s_c ~ N(0, n_c I), and the pooled within-cell scatter is
// Wishart(n - cells, I_k), all independent.  So with base columns B = [1 x G],
//   1'x_a = x_a'x_a = sum of n_c over cells with a, x_a'x_b likewise with a and b,
//   x_a'G = sum of s_c over cells with a, G'G = scatter + sum_c s_c s_c' / n_c,
// and W = [1 X y] = B T (a cluster-level column is its cluster's value times 1,
// y = coef'X + e), so W'W = T' B'B T.  Exact, and the cost no longer grows with n.
// Draw order: the cluster-level predictors (all J values each, as generate_rows), then
// per cluster the q random-effect normals, each binary's split of the cells (in
// predictor order, cells in index order), the Bartlett factor, and k normals per
// non-empty cell.
void Generator::generate_cells(uint64_t seed, uint64_t index, const int64_t* sizes, Problem& pr,
                               const SimDraw& sim) const {
    const int p = spec.n_fixed(), q = spec.n_random(), m = p + 1;
    const int J = int(spec.cluster_sizes.size()), n_pred = int(spec.predictor_binary.size());
    if (pr.p != p || pr.q != q || pr.n_clusters != J) pr.reset(p, q, J, spec.z_columns);
    const int b = cell_binary, k = cell_gauss + 1, nb = 1 + b + k, n_cells = 1 << b;
    const size_t n_between = cluster_level.size();
    pr.scratch.resize(n_between * J + size_t(nb) * nb + 2 * size_t(nb) * m + size_t(k) * k +
                      size_t(n_cells) * k);
    double* between = pr.scratch.data();
    double* F = between + n_between * J;  // B'B
    double* T = F + nb * nb;              // nb x m
    double* FT = T + nb * m;
    double* L = FT + nb * m;
    double* mean = L + k * k;             // per cell, k means

    Stream rng(seed, index);
    for (size_t c = 0; c < n_between; ++c) draw_column(cluster_level[c], rng, between + c * J, J, J);
    if (mixed) {
        double* between_cols[64] = {};
        for (int v = 0; v < n_pred; ++v)
            if (draw[v] == Draw::normal && cluster_slot[v] >= 0)
                between_cols[v] = between + size_t(cluster_slot[v]) * J;
        mix_columns(between_cols, J);
    }
    double coef[64];
    double n_total = 0.0;
    for (int j = 0; j < J; ++j) {
        const int64_t nj = sizes[j];
        const double n = double(nj);
        cluster_coefficients(rng, coef, sim);
        int64_t count[1 << kMaxCellBits] = {nj};
        for (int v = 0; v < n_pred; ++v) {
            if (cluster_slot[v] >= 0 || draw[v] == Draw::normal) continue;
            const int bit = 1 << (cell_pos[v] - 1), exclude = exclude_bits[v];
            const double prob = spec.predictor_p[v];
            // rows still free: not of an earlier level of v's factor (all, for a binary)
            int64_t left = 0, ones_left = int64_t(std::floor(prob * n + 0.5));
            for (int c = 0; c < bit; ++c)
                if (!(c & exclude)) left += count[c];
            for (int c = 0; c < bit; ++c) {  // cells not yet split by this predictor
                if (c & exclude) continue;
                const int64_t ones = draw[v] == Draw::balanced
                                         ? hypergeometric(rng, count[c], left, ones_left)
                                         : binomial(rng, count[c], cond_p[v]);
                left -= count[c];
                ones_left -= ones;
                count[c | bit] = ones;
                count[c] -= ones;
            }
        }
        int nonempty = 0;
        for (int c = 0; c < n_cells; ++c) nonempty += count[c] > 0;
        bartlett(rng, k, n - nonempty, L);
        std::fill(F, F + nb * nb, 0.0);
        for (int c = 0; c < n_cells; ++c) {
            if (count[c] == 0) continue;
            const double nc = double(count[c]), root = std::sqrt(nc);
            double* mc = mean + c * k;
            for (int i = 0; i < k; ++i) mc[i] = rng.normal() / root;
            // the columns equal to 1 on this cell: the intercept and its binaries
            int on[1 + kMaxCellBits], n_on = 0;
            on[n_on++] = 0;
            for (int a = 0; a < b; ++a)
                if (c >> a & 1) on[n_on++] = 1 + a;
            for (int u = 0; u < n_on; ++u) {
                for (int w = 0; w < n_on; ++w) F[on[u] * nb + on[w]] += nc;
                for (int i = 0; i < k; ++i) F[on[u] * nb + 1 + b + i] += nc * mc[i];
            }
            for (int i = 0; i < k; ++i)
                for (int l = 0; l <= i; ++l) F[(1 + b + i) * nb + 1 + b + l] += nc * mc[i] * mc[l];
        }
        for (int i = 0; i < k; ++i)
            for (int l = 0; l <= i; ++l) {
                double sc = 0.0;
                for (int c = 0; c <= l; ++c) sc += L[i * k + c] * L[l * k + c];
                F[(1 + b + i) * nb + 1 + b + l] += sc;
            }
        for (int r = 0; r < nb; ++r)  // symmetric: lower triangle and G-row blocks filled
            for (int c = r + 1; c < nb; ++c) {
                if (r >= 1 + b) F[r * nb + c] = F[c * nb + r];
                else F[c * nb + r] = F[r * nb + c];
            }
        // T: column t of X as base columns; y = coef'X + e
        std::fill(T, T + nb * m, 0.0);
        T[0] = 1.0;
        for (int t = 1; t < p; ++t) {
            const int v = term_pred[t - 1];
            if (cluster_slot[v] >= 0)
                T[t] = between[size_t(cluster_slot[v]) * J + j];
            else if (mixed && draw[v] == Draw::normal)  // x_v = sum_u mix[v][u] g_u
                for (int u = 0; u <= v; ++u)
                    T[cell_pos[u] * m + t] += spec.predictor_mix[size_t(v) * n_pred + u];
            else
                T[cell_pos[v] * m + t] = 1.0;
        }
        for (int r = 0; r < nb; ++r) {
            double y = r == nb - 1 ? 1.0 : 0.0;
            for (int t = 0; t < p; ++t) y += coef[t] * T[r * m + t];
            T[r * m + p] = y;
        }
        for (int r = 0; r < nb; ++r)
            for (int c = 0; c < m; ++c) {
                double t = 0.0;
                for (int u = 0; u < nb; ++u) t += F[r * nb + u] * T[u * m + c];
                FT[r * m + c] = t;
            }
        double* S = &pr.cross[size_t(j) * m * m];
        double* cs = &pr.colsum[size_t(j) * m];
        for (int r = 0; r < m; ++r) {
            cs[r] = FT[r];  // 1'W = row 0 of B'B T
            for (int c = r; c < m; ++c) {
                double t = 0.0;
                for (int u = 0; u < nb; ++u) t += T[u * m + r] * FT[u * m + c];
                S[r * m + c] = S[c * m + r] = t;
            }
        }
        pr.rows[j] = n;
        n_total += n;
    }
    pr.n_obs = n_total;
}

}  // namespace mcps
