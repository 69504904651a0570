// How each predictor's values are drawn over n units (the rows of a cluster, or the
// clusters of a study for a cluster-level predictor): normal, Bernoulli, balanced, a
// factor's level (as its dummies), given values (cycled, an empirical distribution or
// bootstrapped rows), and the mixing that correlates normal predictors.
// The draw order documented here is part of the reproducibility contract.
#include <algorithm>
#include <cmath>
#include <vector>

#include "simulate.hpp"

namespace mcps {

namespace {

// Fisher-Yates shuffle of n values (n - 1 uniforms, last position first).
template <typename T>
void shuffle(Stream& rng, T* a, int64_t n) {
    for (int64_t i = n - 1; i > 0; --i) {
        const int64_t k = std::min(i, int64_t(rng.uniform() * double(i + 1)));
        std::swap(a[i], a[k]);
    }
}

// Exactly round(p n) ones (round half up) among n values, at random places: the ones
// first, then shuffled.
void fill_balanced(Stream& rng, double* out, int64_t n, double prob) {
    const int64_t ones = int64_t(std::floor(prob * double(n) + 0.5));
    std::fill(out, out + ones, 1.0);
    std::fill(out + ones, out + n, 0.0);
    shuffle(rng, out, n);
}

}  // namespace

// Highest predictor first, so each column still holds its independent draws when the
// columns before it are read.
void Generator::mix_columns(double* const* cols, int64_t n) const {
    const int n_pred = int(spec.predictor_binary.size());
    for (int v = n_pred - 1; v >= 0; --v) {
        if (!cols[v]) continue;
        const double* a = &spec.predictor_mix[size_t(v) * n_pred];
        double* out = cols[v];
        for (int64_t i = 0; i < n; ++i) out[i] *= a[v];
        for (int u = 0; u < v; ++u)
            if (a[u] != 0.0)
                for (int64_t i = 0; i < n; ++i) out[i] += a[u] * cols[u][i];
    }
}

// One predictor's values over n units (rows of a cluster, or clusters).
void Generator::draw_units(int v, Stream& rng, double* out, int64_t n) const {
    switch (draw[v]) {
        case Draw::normal: rng.fill_normal(out, n); break;
        case Draw::bernoulli: rng.fill_bernoulli(out, n, spec.predictor_p[v]); break;
        case Draw::balanced: fill_balanced(rng, out, n, spec.predictor_p[v]); break;
        case Draw::fixed: {  // the given values, row i the (i mod size)-th; no random numbers
            const auto& x = spec.predictor_values[v];
            for (int64_t i = 0; i < n; ++i) out[i] = x[size_t(i) % x.size()];
            break;
        }
        // normal draws, mixed like a normal predictor's, then mapped (to_quantiles)
        case Draw::quantile: rng.fill_normal(out, n); break;
        case Draw::bootstrap: {
            // The first bootstrap predictor draws each unit's row (one uniform per unit);
            // the later ones, drawn next for the same units, read the same rows.
            thread_local std::vector<int64_t> row;
            const auto& x = spec.predictor_values[v];
            const int64_t size = int64_t(x.size());
            if (v == bootstrap_first) {
                row.resize(size_t(n));
                for (int64_t i = 0; i < n; ++i) row[i] = std::min(size - 1, int64_t(rng.uniform() * double(size)));
            }
            for (int64_t i = 0; i < n; ++i) out[i] = x[size_t(row[i])];
            break;
        }
    }
}

// Type-7 quantile of the sorted values x at u = Phi(z): h = (size - 1) u, linear between
// x[floor h] and the next.
void Generator::to_quantiles(int v, double* col, int64_t n) const {
    const auto& x = spec.predictor_values[v];
    const int64_t last = int64_t(x.size()) - 1;
    for (int64_t i = 0; i < n; ++i) {
        const double h = double(last) * 0.5 * std::erfc(-col[i] / std::sqrt(2.0));
        const int64_t k = std::min(last - 1, int64_t(h));
        col[i] = x[size_t(k)] + (h - double(k)) * (x[size_t(k) + 1] - x[size_t(k)]);
    }
}

void Generator::draw_column(int v, Stream& rng, double* out, size_t stride, int64_t n) const {
    const int f = spec.factor_of(v);
    if (f < 0 || draw[v] == Draw::bootstrap) draw_units(v, rng, out, n);  // a dummy's own column
    else if (f == v) draw_factor(v, rng, out, stride, n);
}

// A factor's level for each of n units, as its dummies (first level: all 0).
// Independent: one uniform per unit, the level whose cumulative probability interval
// (dummies' levels first, the first level last) holds it.  Balanced: exactly
// round(p_k n) units (halves up) of each dummy's level, the first level the rest, then
// a Fisher-Yates shuffle (n - 1 uniforms), as fill_balanced.
void Generator::draw_factor(int v, Stream& rng, double* out, size_t stride, int64_t n) const {
    const int w = factor_width[v];
    const double* p = &spec.predictor_p[v];
    for (int k = 0; k < w; ++k) std::fill(out + k * stride, out + k * stride + n, 0.0);
    if (draw[v] == Draw::balanced) {
        thread_local std::vector<int> level;
        level.assign(size_t(n), -1);
        int64_t at = 0;
        for (int k = 0; k < w; ++k) {
            const int64_t c = std::min(n - at, int64_t(std::floor(p[k] * double(n) + 0.5)));
            std::fill(level.begin() + at, level.begin() + at + c, k);
            at += c;
        }
        shuffle(rng, level.data(), n);
        for (int64_t i = 0; i < n; ++i)
            if (level[i] >= 0) out[level[i] * stride + i] = 1.0;
        return;
    }
    for (int64_t i = 0; i < n; ++i) {
        const double u = rng.uniform();
        double acc = 0.0;
        for (int k = 0; k < w; ++k) {
            acc += p[k];
            if (u < acc) {
                out[k * stride + i] = 1.0;
                break;
            }
        }
    }
}

}  // namespace mcps
