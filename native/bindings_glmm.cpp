// Python bindings of the GLMM fit (type conversion only; see glmm.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <algorithm>
#include <string>

#include "bindings_data.hpp"
#include "glmm.hpp"
#include "glmm_derivatives.hpp"
#include "glmm_general.hpp"
#include "inference.hpp"

namespace py = pybind11;
using namespace mcps;

namespace {

using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;

py::array_t<double> array_of(const std::vector<double>& v, std::vector<py::ssize_t> shape) {
    py::array_t<double> a(shape);
    if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(double));
    return a;
}

// Wald F tests of a GLMM fit's coefficients (each entry of joint_tests: columns of X) on
// the given df; NaN tests where the fit has no covariance (it failed).
std::vector<JointTest> joint_wald_tests(const std::vector<double>& beta, const std::vector<double>& vcov, int p,
                                        const std::vector<double>& df,
                                        const std::vector<std::vector<int>>& joint_tests) {
    std::vector<JointTest> out;
    for (const auto& cols : joint_tests) {
        if (vcov.size() == size_t(p) * p && beta.size() == size_t(p)) {
            out.push_back(wald_f_test(beta, vcov, p, df, cols));
        } else {
            JointTest failed;
            failed.F = failed.pvalue = failed.den_df = std::numeric_limits<double>::quiet_NaN();
            failed.num_df = double(cols.size());
            out.push_back(failed);
        }
    }
    return out;
}

py::dict fit_glmm_py(Doubles X, Doubles y, py::array_t<int64_t, py::array::c_style | py::array::forcecast> group,
                     int n_groups, std::vector<int> z_columns, GlmFamily family, GlmLink link, int nagq,
                     bool uncorrelated, DfMethod df_method, std::vector<std::vector<int>> joint_tests) {
    check_rows(X, y, group);
    const int64_t n = X.shape(0);
    const int p = int(X.shape(1));
    for (int c : z_columns)
        if (c < 0 || c >= p) throw std::invalid_argument("z_columns must index columns of X");
    const int64_t* g = group.data();
    for (int64_t i = 0; i < n; ++i)
        if (g[i] < 0 || g[i] >= n_groups) throw std::invalid_argument("group codes must lie in [0, n_groups)");
    check_glmm_options(family, link, nagq, int(z_columns.size()));
    if (df_method != DfMethod::z && df_method != DfMethod::between_within)
        throw std::invalid_argument("a GLMM's df_method is z or between_within");
    for (const auto& cols : joint_tests)
        for (int c : cols)
            if (c < 0 || c >= p) throw std::invalid_argument("joint test column " + std::to_string(c) + " is not a column of X");
    GlmmProblem pr;
    GlmmFit out;
    std::vector<JointTest> joint;
    {
        py::gil_scoped_release release;
        pr.family = family;
        pr.link = link;
        pr.diagonal = uncorrelated;
        pr.build(X.data(), y.data(), g, n, p, n_groups, z_columns);
        GlmmFitOptions opt;
        opt.nagq = nagq;
        out = fit_glmm(pr, opt);
        // Wald F tests on the fit's covariance, with the df of the t tests (chunk.cpp's rule).
        const std::vector<double> df = df_method == DfMethod::between_within
                                           ? glmm_between_within_df(pr)
                                           : std::vector<double>(p, std::numeric_limits<double>::infinity());
        joint = joint_wald_tests(out.beta, out.vcov, p, df, joint_tests);
    }
    const py::ssize_t pp = p, q = py::ssize_t(z_columns.size());
    py::dict d;
    d["beta"] = array_of(out.beta, {py::ssize_t(out.beta.size())});
    d["vcov"] = array_of(out.vcov, {out.vcov.empty() ? 0 : pp, out.vcov.empty() ? 0 : pp});
    d["vcov_rx"] = array_of(out.vcov_rx, {out.vcov_rx.empty() ? 0 : pp, out.vcov_rx.empty() ? 0 : pp});
    d["theta"] = array_of(out.theta, {py::ssize_t(out.theta.size())});
    d["re_cov"] = array_of(out.re_cov, {out.re_cov.empty() ? 0 : q, out.re_cov.empty() ? 0 : q});
    d["modes"] = array_of(out.u, {out.u.empty() ? 0 : py::ssize_t(n_groups), q});
    d["minus_two_loglik"] = out.minus_two_loglik;
    d["saturated_loglik"] = out.saturated_loglik;
    d["converged"] = out.converged;
    d["singular"] = out.singular;
    d["iterations"] = out.iterations;
    d["between_within_df"] = array_of(glmm_between_within_df(pr), {pp});
    d["joint"] = joint_tests_list(joint);
    return d;
}

// -2 log L at a given (theta, beta): lets tests compare objectives at other fits' optima.
double deviance_py(Doubles X, Doubles y, py::array_t<int64_t, py::array::c_style | py::array::forcecast> group,
                   int n_groups, std::vector<int> z_columns, std::vector<double> theta, std::vector<double> beta,
                   GlmFamily family, GlmLink link, int nagq) {
    const int64_t n = X.shape(0);
    const int p = int(X.shape(1));
    if (int(beta.size()) != p || int(theta.size()) != int(z_columns.size() * (z_columns.size() + 1) / 2))
        throw std::invalid_argument("theta or beta has the wrong length");
    check_glmm_options(family, link, nagq, int(z_columns.size()));
    GlmmProblem pr;
    pr.family = family;
    pr.link = link;
    pr.build(X.data(), y.data(), group.data(), n, p, n_groups, z_columns);
    GaussHermite rule(std::max(nagq, 1));
    GlmmState st;
    return glmm_objective(pr, theta.data(), beta.data(), nagq > 1 ? &rule : nullptr, st);
}

// The Laplace deviance with its exact gradient and Hessian over (theta, beta): lets tests
// hold the analytic derivatives to finite differences of glmm_deviance.
py::dict derivatives_py(Doubles X, Doubles y, py::array_t<int64_t, py::array::c_style | py::array::forcecast> group,
                        int n_groups, std::vector<int> z_columns, std::vector<double> theta, std::vector<double> beta,
                        GlmFamily family, GlmLink link) {
    const int64_t n = X.shape(0);
    const int p = int(X.shape(1));
    if (int(beta.size()) != p || int(theta.size()) != int(z_columns.size() * (z_columns.size() + 1) / 2))
        throw std::invalid_argument("theta or beta has the wrong length");
    check_glmm_options(family, link, 1, int(z_columns.size()));
    GlmmProblem pr;
    pr.family = family;
    pr.link = link;
    pr.build(X.data(), y.data(), group.data(), n, p, n_groups, z_columns);
    GlmmState st;
    LaplaceDerivatives ld;
    std::vector<int> all(theta.size());
    for (size_t k = 0; k < all.size(); ++k) all[k] = int(k);
    py::dict d;
    d["deviance"] = glmm_objective(pr, theta.data(), beta.data(), nullptr, st);
    if (!laplace_derivatives(pr, st, all, true, ld)) throw std::runtime_error("information not positive definite");
    const py::ssize_t K = py::ssize_t(ld.grad.size());
    d["gradient"] = array_of(ld.grad, {K});
    d["hessian"] = array_of(ld.hess, {K, K});
    return d;
}

using Codes = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Several random-effect terms: codes is terms x rows, term k's effects the columns
// z_columns[k] of X (glmm_general.hpp).
glmm_general::Problem general_problem(Doubles X, Doubles y, Codes codes, const std::vector<int>& n_levels,
                                      const std::vector<std::vector<int>>& z_columns, GlmFamily family,
                                      GlmLink link) {
    if (X.ndim() != 2 || y.ndim() != 1 || y.shape(0) != X.shape(0))
        throw std::invalid_argument("X must be rows x fixed effects and y one value per row");
    const int64_t n = X.shape(0);
    const size_t K = n_levels.size();
    if (codes.ndim() != 2 || size_t(codes.shape(0)) != K || codes.shape(1) != n || z_columns.size() != K)
        throw std::invalid_argument("codes must be terms x rows, with one n_levels and z_columns entry per term");
    check_glmm_options(family, link, 1, 1);
    std::vector<glmm_general::Term> terms(K);
    for (size_t k = 0; k < K; ++k) {
        terms[k].codes.assign(codes.data() + k * n, codes.data() + (k + 1) * n);
        terms[k].n_levels = n_levels[k];
        terms[k].z_columns = z_columns[k];
    }
    glmm_general::Problem pr;
    pr.build(family, link, X.data(), y.data(), n, int(X.shape(1)), std::move(terms));
    return pr;
}

py::dict fit_glmm_general_py(Doubles X, Doubles y, Codes codes, std::vector<int> n_levels,
                             std::vector<std::vector<int>> z_columns, GlmFamily family, GlmLink link,
                             std::vector<std::vector<int>> joint_tests) {
    const int p = X.ndim() == 2 ? int(X.shape(1)) : 0;
    for (const auto& cols : joint_tests)
        for (int c : cols)
            if (c < 0 || c >= p) throw std::invalid_argument("joint test column " + std::to_string(c) + " is not a column of X");
    glmm_general::Problem pr = general_problem(X, y, codes, n_levels, z_columns, family, link);
    glmm_general::Fit out;
    std::vector<JointTest> joint;
    {
        py::gil_scoped_release release;
        out = glmm_general::fit(pr);
        const std::vector<double> df(p, std::numeric_limits<double>::infinity());  // Wald z
        joint = joint_wald_tests(out.beta, out.vcov, p, df, joint_tests);
    }
    const py::ssize_t pp = p;
    py::dict d;
    d["beta"] = array_of(out.beta, {py::ssize_t(out.beta.size())});
    d["vcov"] = array_of(out.vcov, {out.vcov.empty() ? 0 : pp, out.vcov.empty() ? 0 : pp});
    d["vcov_rx"] = array_of(out.vcov_rx, {out.vcov_rx.empty() ? 0 : pp, out.vcov_rx.empty() ? 0 : pp});
    d["theta"] = array_of(out.theta, {py::ssize_t(out.theta.size())});
    py::list re_cov;
    for (size_t k = 0; k < out.re_cov.size(); ++k) {
        const py::ssize_t m = py::ssize_t(z_columns[k].size());
        re_cov.append(array_of(out.re_cov[k], {m, m}));
    }
    d["re_cov"] = re_cov;
    d["minus_two_loglik"] = out.minus_two_loglik;
    d["saturated_loglik"] = out.saturated_loglik;
    d["converged"] = out.converged;
    d["singular"] = out.singular;
    d["degenerate"] = out.degenerate;
    d["iterations"] = out.iterations;
    d["evaluations"] = out.evaluations;
    d["joint"] = joint_tests_list(joint);
    return d;
}

// The Laplace -2 log L at a given (theta, beta): lets tests compare objectives at glmer's optimum.
double general_deviance_py(Doubles X, Doubles y, Codes codes, std::vector<int> n_levels,
                           std::vector<std::vector<int>> z_columns, std::vector<double> theta,
                           std::vector<double> beta, GlmFamily family, GlmLink link) {
    glmm_general::Problem pr = general_problem(X, y, codes, n_levels, z_columns, family, link);
    if (int(theta.size()) != pr.n_theta || int(beta.size()) != pr.p())
        throw std::invalid_argument("theta or beta has the wrong length");
    glmm_general::State st;
    return glmm_general::objective(pr, theta.data(), beta.data(), st);
}

}  // namespace

void register_glmm(py::module_& m) {
    py::enum_<GlmFamily>(m, "GlmFamily", "Conditional distribution of a GLMM's outcome.")
        .value("gaussian", GlmFamily::gaussian)
        .value("binomial", GlmFamily::binomial)
        .value("poisson", GlmFamily::poisson);
    py::enum_<GlmLink>(m, "GlmLink", "Link function of a GLMM.")
        .value("identity", GlmLink::identity)
        .value("logit", GlmLink::logit)
        .value("probit", GlmLink::probit)
        .value("log", GlmLink::log);
    m.def("fit_glmm", &fit_glmm_py, py::arg("X"), py::arg("y"), py::arg("group"), py::arg("n_groups"),
          py::arg("z_columns"), py::kw_only(), py::arg("family"), py::arg("link"), py::arg("nagq") = 1,
          py::arg("uncorrelated") = false, py::arg("df_method") = DfMethod::z,
          py::arg("joint_tests") = std::vector<std::vector<int>>{},
          "Fit a one-factor GLMM (Laplace, or adaptive Gauss-Hermite with nagq > 1) to data.");
    m.def("glmm_deviance", &deviance_py, py::arg("X"), py::arg("y"), py::arg("group"), py::arg("n_groups"),
          py::arg("z_columns"), py::arg("theta"), py::arg("beta"), py::kw_only(), py::arg("family"),
          py::arg("link"), py::arg("nagq") = 1, "-2 log L of a one-factor GLMM at (theta, beta).");
    m.def("glmm_derivatives", &derivatives_py, py::arg("X"), py::arg("y"), py::arg("group"), py::arg("n_groups"),
          py::arg("z_columns"), py::arg("theta"), py::arg("beta"), py::kw_only(), py::arg("family"),
          py::arg("link"), "Laplace -2 log L with its exact gradient and Hessian over (theta, beta).");
    m.def("fit_glmm_general", &fit_glmm_general_py, py::arg("X"), py::arg("y"), py::arg("codes"),
          py::arg("n_levels"), py::arg("z_columns"), py::kw_only(), py::arg("family"), py::arg("link"),
          py::arg("joint_tests") = std::vector<std::vector<int>>{},
          "Fit a GLMM with several random-effect terms (Laplace) to data.");
    m.def("glmm_general_deviance", &general_deviance_py, py::arg("X"), py::arg("y"), py::arg("codes"),
          py::arg("n_levels"), py::arg("z_columns"), py::arg("theta"), py::arg("beta"), py::kw_only(),
          py::arg("family"), py::arg("link"), "Laplace -2 log L of a several-terms GLMM at (theta, beta).");
}
