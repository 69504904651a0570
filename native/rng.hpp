// Counter-based random numbers: Philox4x32-10 and a ziggurat normal generator.
//
// Every simulation owns a stream keyed by the master seed and addressed by its
// simulation index, so its numbers do not depend on which thread, chunk or worker
// runs it (the reproducibility contract in DESIGN.md).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace mcps {

// Philox4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011): a bijection of a 128-bit counter under a 64-bit key.
inline std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
    constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        const uint64_t p0 = uint64_t(M0) * c[0];
        const uint64_t p1 = uint64_t(M1) * c[2];
        const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
        const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
        c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
        k[0] += W0;
        k[1] += W1;
    }
    return c;
}

namespace detail {
// Ziggurat tables for the standard normal (256 layers), built once from the
// layer area so that every layer (and the base with its tail) has equal area.
struct ZigguratTables {
    static constexpr int n = 256;
    static constexpr double r = 3.6541528853610088;   // start of the tail
    static constexpr double area = 0.00492867323399;  // area of each layer
    double x[n + 1];  // x[0] = base width (area / f(r)), x[1] = r, ..., x[n] = 0
    double f[n + 1];  // f(x[i]) = exp(-x[i]^2 / 2)
    ZigguratTables() {
        x[0] = area / std::exp(-0.5 * r * r);
        x[1] = r;
        for (int i = 2; i < n; ++i) {
            x[i] = std::sqrt(-2.0 * std::log(area / x[i - 1] + std::exp(-0.5 * x[i - 1] * x[i - 1])));
        }
        x[n] = 0.0;
        for (int i = 0; i <= n; ++i) f[i] = std::exp(-0.5 * x[i] * x[i]);
    }
};
inline const ZigguratTables kZig;
inline const ZigguratTables& zig() { return kZig; }
}  // namespace detail

// The random stream of one simulation.  Philox4x32-10, keyed by the master seed,
// maps the simulation index (the counter) to 256 bits that seed a xoshiro256++
// generator (Blackman & Vigna 2021) owned by that simulation alone.  The stream is a
// pure function of (seed, index), as a pure counter-based stream would be, at the
// speed of xoshiro (a few ns per normal instead of one Philox block per two draws).
class Stream {
  public:
    // `substream` > 0 gives further independent streams of the same simulation (the
    // cluster sizes of a design with cluster_size_cv); 0 is the simulation's own stream.
    Stream(uint64_t seed, uint64_t index, uint32_t substream = 0) {
        const std::array<uint32_t, 2> key{uint32_t(seed), uint32_t(seed >> 32)};
        for (uint32_t block = 0; block < 2; ++block) {
            const auto r = philox4x32_10({block, substream, uint32_t(index), uint32_t(index >> 32)}, key);
            s_[2 * block] = (uint64_t(r[0]) << 32) | r[1];
            s_[2 * block + 1] = (uint64_t(r[2]) << 32) | r[3];
        }
        if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 0x9E3779B97F4A7C15ull;  // all-zero is a fixed point
    }

    uint64_t next_u64() { return step(s_[0], s_[1], s_[2], s_[3]); }
    // Uniform on [0, 1) with 53 random bits.
    double uniform() { return to_unit(next_u64()); }
    double normal() {
        uint64_t a = s_[0], b = s_[1], c = s_[2], d = s_[3];
        const double x = normal_from(a, b, c, d);
        s_[0] = a, s_[1] = b, s_[2] = c, s_[3] = d;
        return x;
    }
    // n standard normals (the same values as n calls of normal(), faster: the state
    // stays in registers).
    void fill_normal(double* out, int64_t n) {
        uint64_t a = s_[0], b = s_[1], c = s_[2], d = s_[3];
        for (int64_t i = 0; i < n; ++i) out[i] = normal_from(a, b, c, d);
        s_[0] = a, s_[1] = b, s_[2] = c, s_[3] = d;
    }
    // Chi-square with nu > 0 degrees of freedom: 2 Gamma(nu / 2), by Marsaglia & Tsang's
    // (2000) squeeze method (shape < 1 boosted by U^(1/shape)).
    double chi_square(double nu) {
        double shape = 0.5 * nu, boost = 1.0;
        if (shape < 1.0) {
            boost = std::pow(1.0 - uniform(), 1.0 / shape);
            shape += 1.0;
        }
        const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
        for (;;) {
            const double x = normal();
            double v = 1.0 + c * x;
            if (v <= 0.0) continue;
            v = v * v * v;
            const double u = 1.0 - uniform();  // (0, 1]
            if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v)))
                return 2.0 * d * v * boost;
        }
    }
    // n Bernoulli(prob) draws as 0.0 / 1.0 (one uniform each).
    void fill_bernoulli(double* out, int64_t n, double prob) {
        uint64_t a = s_[0], b = s_[1], c = s_[2], d = s_[3];
        for (int64_t i = 0; i < n; ++i) out[i] = to_unit(step(a, b, c, d)) < prob ? 1.0 : 0.0;
        s_[0] = a, s_[1] = b, s_[2] = c, s_[3] = d;
    }

  private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static double to_unit(uint64_t u) { return double(int64_t(u >> 11)) * 0x1.0p-53; }
    static uint64_t step(uint64_t& s0, uint64_t& s1, uint64_t& s2, uint64_t& s3) {
        const uint64_t result = rotl(s0 + s3, 23) + s0;
        const uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);
        return result;
    }
    // Ziggurat (Marsaglia & Tsang 2000) on 64-bit draws: 8 bits pick the layer, one bit
    // the sign and the top 53 bits the position, so the three are independent.
    static double normal_from(uint64_t& s0, uint64_t& s1, uint64_t& s2, uint64_t& s3) {
        const auto& t = detail::zig();
        for (;;) {
            const uint64_t u = step(s0, s1, s2, s3);
            const int i = int(u & 0xFF);
            const double sign = (u & 0x100) ? -1.0 : 1.0;
            const double xx = to_unit(u) * t.x[i];
            if (xx < t.x[i + 1]) return sign * xx;  // inside the rectangle: the common case
            if (i == 0) {                            // the base strip beyond r: the tail
                double a, b;
                do {
                    a = -std::log(1.0 - to_unit(step(s0, s1, s2, s3))) / t.r;
                    b = -std::log(1.0 - to_unit(step(s0, s1, s2, s3)));
                } while (b + b < a * a);
                return sign * (t.r + a);
            }
            // The wedge between the rectangle and the curve.
            const double y = t.f[i] + to_unit(step(s0, s1, s2, s3)) * (t.f[i + 1] - t.f[i]);
            if (y < std::exp(-0.5 * xx * xx)) return sign * xx;
        }
    }
    uint64_t s_[4];
};

}  // namespace mcps
