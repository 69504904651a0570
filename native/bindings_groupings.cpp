// Python bindings of simulations with several grouping factors (type conversion only;
// see simulate_groupings.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings_data.hpp"
#include "simulate_groupings.hpp"

namespace py = pybind11;
using namespace mcps;

namespace {

GroupingsDesign make_design(std::vector<UnitDraw> predictor_draw, std::vector<double> predictor_p,
                            std::vector<int> predictor_unit, std::vector<int64_t> row_block,
                            std::vector<std::vector<int64_t>> level_block, std::vector<std::vector<int>> terms,
                            std::vector<double> beta, std::vector<std::vector<int64_t>> codes,
                            std::vector<int> n_levels, std::vector<std::vector<int>> z_columns,
                            std::vector<std::vector<double>> re_cov, std::vector<int> fit_grouping,
                            std::vector<std::vector<int>> fit_z_columns, std::vector<int> component_order,
                            std::vector<std::vector<int>> joint_tests, Estimator estimator, DfMethod df_method,
                            std::vector<double> predictor_mix, std::vector<int> predictor_factor,
                            std::vector<std::vector<double>> predictor_fixed, GlmFamily family, GlmLink link) {
    GroupingsDesign d;
    d.predictor_draw = std::move(predictor_draw);
    d.predictor_p = std::move(predictor_p);
    d.predictor_unit = std::move(predictor_unit);
    d.predictor_mix = std::move(predictor_mix);
    d.predictor_factor = std::move(predictor_factor);
    d.predictor_fixed = std::move(predictor_fixed);
    d.row_block = std::move(row_block);
    d.level_block = std::move(level_block);
    d.terms = std::move(terms);
    d.beta = std::move(beta);
    d.codes = std::move(codes);
    d.n_levels = std::move(n_levels);
    d.z_columns = std::move(z_columns);
    d.re_cov = std::move(re_cov);
    d.fit_grouping = std::move(fit_grouping);
    d.fit_z_columns = std::move(fit_z_columns);
    d.component_order = std::move(component_order);
    d.joint_tests = std::move(joint_tests);
    d.estimator = estimator;
    d.df_method = df_method;
    d.family = family;
    d.link = link;
    d.check();
    return d;
}

py::dict chunk(const GroupingsDesign& d, uint64_t seed, uint64_t start, int64_t count, int n_threads) {
    ChunkOutput out;
    {
        py::gil_scoped_release release;
        out = run_groupings_chunk(d, seed, start, count, n_threads);
    }
    return chunk_output_dict(out);
}

py::tuple simulated(const GroupingsDesign& d, uint64_t seed, uint64_t index) {
    std::vector<double> X, y;
    simulate_groupings(d, seed, index, X, y);
    const py::ssize_t n = py::ssize_t(y.size()), p = d.n_fixed();
    py::array_t<double> Xa({n, p}), ya({n});
    std::memcpy(Xa.mutable_data(), X.data(), X.size() * sizeof(double));
    std::memcpy(ya.mutable_data(), y.data(), y.size() * sizeof(double));
    return py::make_tuple(Xa, ya);
}

}  // namespace

void register_groupings(py::module_& m) {
    py::enum_<UnitDraw>(m, "UnitDraw", "How a predictor's values are drawn over its units.")
        .value("normal", UnitDraw::normal)
        .value("bernoulli", UnitDraw::bernoulli)
        .value("balanced", UnitDraw::balanced)
        .value("fixed", UnitDraw::fixed);
    py::class_<GroupingsDesign>(m, "GroupingsDesign",
                                "A checked, read-only design with several grouping factors.")
        .def(py::init(&make_design), py::kw_only(), py::arg("predictor_draw"), py::arg("predictor_p"),
             py::arg("predictor_unit"), py::arg("row_block"), py::arg("level_block"), py::arg("terms"),
             py::arg("beta"), py::arg("codes"), py::arg("n_levels"), py::arg("z_columns"), py::arg("re_cov"),
             py::arg("fit_grouping"), py::arg("fit_z_columns"), py::arg("component_order"),
             py::arg("joint_tests"), py::arg("estimator"), py::arg("df_method"),
             py::arg("predictor_mix") = std::vector<double>{},
             py::arg("predictor_factor") = std::vector<int>{},
             py::arg("predictor_fixed") = std::vector<std::vector<double>>{}, py::arg("family") = GlmFamily::gaussian,
             py::arg("link") = GlmLink::identity)
        .def_readonly("n_levels", &GroupingsDesign::n_levels)
        .def_readonly("fit_grouping", &GroupingsDesign::fit_grouping)
        .def_readonly("fit_z_columns", &GroupingsDesign::fit_z_columns)
        .def_readonly("re_cov", &GroupingsDesign::re_cov)
        .def_readonly("family", &GroupingsDesign::family);
    m.def("run_groupings_chunk", &chunk, py::arg("design"), py::arg("seed"), py::arg("start"), py::arg("count"),
          py::arg("n_threads") = 1, "Simulate and fit simulations start .. start + count - 1 of seed.");
    m.def("simulate_groupings", &simulated, py::arg("design"), py::arg("seed"), py::arg("index"),
          "X and y of one simulation (for tests).");
}
