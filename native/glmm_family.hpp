// One observation's log-likelihood and its derivatives in the linear predictor eta, for
// the GLMM families and links (binomial: logit, probit; Poisson: log).  Inline: PIRLS
// and the Laplace derivatives call these once per row per pass.
#pragma once

#include <algorithm>
#include <cmath>

#include "spec.hpp"

namespace mcps {

constexpr double kLogSqrt2Pi = 0.91893853320467274178;

// log Phi(x), accurate in the far lower tail where Phi underflows.
inline double log_ndtr(double x) {
    if (x > -30.0) return std::log(0.5 * std::erfc(-x / std::sqrt(2.0)));
    const double x2 = x * x;
    return -0.5 * x2 - std::log(-x) - kLogSqrt2Pi + std::log1p(-1.0 / x2 + 3.0 / (x2 * x2));
}

// Inverse Mills ratio phi(x) / Phi(x).
inline double mills(double x) {
    if (x > -30.0) return std::exp(-0.5 * x * x - kLogSqrt2Pi) / (0.5 * std::erfc(-x / std::sqrt(2.0)));
    const double ax = -x;
    return ax + 1.0 / ax - 2.0 / (ax * ax * ax);
}

// One observation at linear predictor eta: log p(y | eta), the score d log p / d eta,
// the observed information -d2 log p / d eta2 (PIRLS converges with it, quadratically)
// and the Fisher (IRLS) weight mu'(eta)^2 / V(mu), which lme4's L and the Laplace
// determinant use.  The two coincide for the canonical links (logit, log).
struct RowTerms {
    double logp, score, observed, fisher;
};

inline RowTerms row_terms(GlmLink link, double y, double eta) {
    RowTerms t{};
    switch (link) {
        case GlmLink::logit: {
            // log p = y eta - log(1 + e^eta), without overflow in either tail.  log(1 + e)
            // rather than log1p(e): e <= 1, so the absolute error is ~1e-16 either way, and
            // log is the faster (this is PIRLS's costliest line).
            const double e = std::exp(-std::fabs(eta)), r = 1.0 / (1.0 + e);
            const double softplus = std::max(eta, 0.0) + std::log(1.0 + e);
            const double mu = eta >= 0 ? r : e * r;
            t.logp = y * eta - softplus;
            t.score = y - mu;
            t.observed = t.fisher = e * r * r;  // mu (1 - mu)
            break;
        }
        case GlmLink::probit: {
            const double lp = mills(eta), lm = mills(-eta);  // phi/Phi(eta), phi/Phi(-eta)
            if (y > 0.5) {
                t.logp = log_ndtr(eta);
                t.score = lp;
                t.observed = lp * (lp + eta);
            } else {
                t.logp = log_ndtr(-eta);
                t.score = -lm;
                t.observed = lm * (lm - eta);
            }
            t.fisher = lp * lm;  // phi^2 / (Phi(eta) Phi(-eta))
            break;
        }
        case GlmLink::identity:  // not a GLMM link (the LMM has its own fit)
        case GlmLink::log: {
            const double mu = std::exp(std::min(eta, 700.0));
            t.logp = y * eta - mu;  // - log y! is added per cluster (GlmmProblem::log_norm)
            t.score = y - mu;
            t.observed = t.fisher = mu;
            break;
        }
    }
    return t;
}

// log p(y | eta) alone (the quadrature nodes and the step-halving need nothing else).
inline double row_logp(GlmLink link, double y, double eta) {
    switch (link) {
        case GlmLink::logit:
            return y * eta - (std::max(eta, 0.0) + std::log(1.0 + std::exp(-std::fabs(eta))));
        case GlmLink::probit:
            return log_ndtr(y > 0.5 ? eta : -eta);
        case GlmLink::identity:
        case GlmLink::log:
            return y * eta - std::exp(std::min(eta, 700.0));
    }
    return 0.0;
}

// What the derivatives of the Laplace deviance need of one observation: the score
// l' = d log p / d eta, the observed information o = -l'' and its slope o' = -l''', and
// the Fisher weight w (in log det L) with w' and w''.  Canonical links: w = o, so
// w' = -l''' and w'' = -l''''.
struct RowDerivs {
    double score, observed, observed1, fisher, fisher1, fisher2;
};

inline RowDerivs row_derivs(GlmLink link, double y, double eta) {
    RowDerivs d{};
    switch (link) {
        case GlmLink::logit: {
            const double e = std::exp(-std::fabs(eta)), r = 1.0 / (1.0 + e);
            const double mu = eta >= 0 ? r : e * r;
            const double v = e * r * r;  // mu (1 - mu)
            d.score = y - mu;
            d.observed = d.fisher = v;
            d.observed1 = d.fisher1 = v * (1.0 - 2.0 * mu);
            d.fisher2 = v * (1.0 - 6.0 * v);
            break;
        }
        case GlmLink::probit: {
            // log p = log Phi(s eta), s = +-1 by y; with m = phi/Phi(s eta) and
            // A = s eta + m: l' = s m, -l'' = m A, -l''' = s m (1 - A^2 - m A).
            const double s = y > 0.5 ? 1.0 : -1.0;
            const double m = mills(s * eta), A = s * eta + m;
            d.score = s * m;
            d.observed = m * A;
            d.observed1 = s * m * (1.0 - A * A - m * A);
            // w = phi^2 / (Phi Phi(-eta)) = mp mm; (log w)' = -2 eta - mp + mm.
            const double mp = s > 0 ? m : mills(eta), mm = s > 0 ? mills(-eta) : m;
            const double w = mp * mm, g1 = -2.0 * eta - mp + mm;
            const double g2 = -2.0 + mp * (eta + mp) + mm * (mm - eta);
            d.fisher = w;
            d.fisher1 = w * g1;
            d.fisher2 = w * (g1 * g1 + g2);
            break;
        }
        case GlmLink::identity:
        case GlmLink::log: {
            const double mu = std::exp(std::min(eta, 700.0));
            d.score = y - mu;
            d.observed = d.observed1 = d.fisher = d.fisher1 = d.fisher2 = mu;
            break;
        }
    }
    return d;
}

}  // namespace mcps
