// What the fits' bindings share: checks of data passed from Python and conversion of
// results (type conversion only).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "chunk.hpp"
#include "inference.hpp"

namespace mcps {

// X is rows x fixed effects, y and group one entry per row.
inline void check_rows(const pybind11::array& X, const pybind11::array& y, const pybind11::array& group) {
    if (X.ndim() != 2) throw std::invalid_argument("X must be a 2-d array (rows x fixed effects)");
    if (y.ndim() != 1 || group.ndim() != 1) throw std::invalid_argument("y and group must be 1-d arrays");
    const auto n = X.shape(0);
    if (y.shape(0) != n || group.shape(0) != n)
        throw std::invalid_argument("X has " + std::to_string(n) + " rows but y has " + std::to_string(y.shape(0)) +
                                    " and group has " + std::to_string(group.shape(0)));
}

// The joint F tests of a fit as a list of {F, num_df, den_df, pvalue}.
inline pybind11::list joint_tests_list(const std::vector<JointTest>& tests) {
    pybind11::list out;
    for (const auto& j : tests) {
        pybind11::dict row;
        row["F"] = j.F;
        row["num_df"] = j.num_df;
        row["den_df"] = j.den_df;
        row["pvalue"] = j.pvalue;
        out.append(row);
    }
    return out;
}

// A chunk's per-simulation outputs as the dictionary engine.run_chunk reads.
inline pybind11::dict chunk_output_dict(const ChunkOutput& out) {
    namespace py = pybind11;
    auto array = [](const auto& v, std::vector<py::ssize_t> shape) {
        py::array_t<typename std::decay_t<decltype(v)>::value_type> a(shape);
        if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(v[0]));
        return a;
    };
    const py::ssize_t n = out.count, p = out.p;
    py::dict d;
    d["converged"] = array(out.converged, {n}).attr("astype")("bool");
    d["singular"] = array(out.singular, {n}).attr("astype")("bool");
    d["estimate"] = array(out.estimate, {n, p});
    d["se"] = array(out.se, {n, p});
    d["df"] = array(out.df, {n, p});
    d["pvalue"] = array(out.pvalue, {n, p});
    d["joint_pvalue"] = array(out.joint_pvalue, {n, py::ssize_t(out.n_joint)});
    d["components"] = array(out.components, {n, py::ssize_t(out.n_components)});
    return d;
}

}  // namespace mcps
