"""Design grids: validated axes, design points as specs, xarray coordinates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from mcpower_sweep.api.model import MCPower
from mcpower_sweep.params import AXES
from mcpower_sweep.sweeps.grid import Grid, allowed_axes, point_params

FORMULA = "y ~ x + z + x:z + (1 + x|school)"


def model() -> MCPower:
    return (
        MCPower(FORMULA)
        .set_cluster("school", ICC=0.1, n_clusters=10, random_slopes=["x"], slope_variance=0.1)
        .set_effects("x=0.3, z=0.2, x:z=0.1")
        .set_variable_type("z=binary")
    )


@pytest.fixture
def spec():
    return model().to_spec(1000)


def test_axes_keep_order_and_shape(spec) -> None:
    grid = Grid(spec, {"slope_variance": [0.0, 0.1, 0.2], "n_clusters": [10, 20]})
    assert grid.names == ("slope_variance", "n_clusters")
    assert grid.shape == (3, 2)
    assert grid.size == 6
    indices = [index for index, _ in grid.points()]
    assert indices == [(i, j) for i in range(3) for j in range(2)]
    assert grid.as_dict() == {"slope_variance": [0.0, 0.1, 0.2], "n_clusters": [10, 20]}


def test_points_are_base_with_params(spec) -> None:
    grid = Grid(spec, {"n_clusters": [10, 20], "effect_x:z": [0.0, 0.5]})
    point = dict(grid.points())[(1, 1)]
    assert point == spec.with_params(n_clusters=20, effects=(0.0, 0.3, 0.2, 0.5))
    assert grid.values_at((1, 0)) == {"n_clusters": 20, "effect_x:z": 0.0}


def test_point_equals_model_configured_the_same_way() -> None:
    """A sweep point and find_power with the same parameters use the same spec."""
    base = model().to_spec(1000)
    grid = Grid(base, {"sample_size": [500, 1000], "n_clusters": [10, 25], "effect_x": [0.5]})
    for index, point in grid.points():
        values = grid.values_at(index)
        same = (
            MCPower(FORMULA)
            .set_cluster(
                "school",
                ICC=0.1,
                n_clusters=values["n_clusters"],
                random_slopes=["x"],
                slope_variance=0.1,
            )
            .set_effects("x=0.5, z=0.2, x:z=0.1")
            .set_variable_type("z=binary")
            .to_spec(values["sample_size"])
        )
        assert point == same


def test_cluster_size_axis_replaces_n_clusters(spec) -> None:
    grid = Grid(spec, {"cluster_size": [20, 50]})
    sizes = [(p.n_clusters, p.cluster_size, p.effective_n_clusters) for _, p in grid.points()]
    assert sizes == [(None, 20, 50), (None, 50, 20)]
    assert point_params(spec, {"cluster_size": 20}) == {"cluster_size": 20, "n_clusters": None}


def test_choice_axes(spec) -> None:
    grid = Grid(spec, {"df_method": ["z", "satterthwaite"], "estimator": ["ml", "reml"]})
    assert [(p.df_method, p.estimator) for _, p in grid.points()][1] == ("z", "reml")


def test_numpy_values_become_plain_scalars(spec) -> None:
    grid = Grid(spec, {"n_clusters": np.array([10, 20]), "icc": np.linspace(0.0, 0.2, 3)})
    assert grid.axes[0][1] == (10, 20)
    assert all(type(v) is int for v in grid.axes[0][1])
    assert all(type(v) is float for v in grid.axes[1][1])
    # integral floats are accepted for integer axes (YAML often gives 1e3)
    assert Grid(spec, {"sample_size": [1e3]}).axes[0][1] == (1000,)


def test_empty_grid_is_one_point(spec) -> None:
    grid = Grid(spec, {})
    assert grid.shape == () and grid.size == 1
    assert list(grid.points()) == [((), spec)]


@pytest.mark.parametrize(
    ("axes", "words"),
    [
        ({"n_cluster": [10]}, ["'n_cluster'", "Did you mean 'n_clusters'", "Allowed:", "effect_x"]),
        ({"effect_w": [0.1]}, ["'effect_w'", "effect_x", "effect_x:z"]),
        ({"ICC": [0.1]}, ["'ICC'", "'icc'"]),
        ({"n_clusters": []}, ["'n_clusters'", "empty"]),
        ({"n_clusters": [10, 10]}, ["'n_clusters'", "10", "more than once"]),
        ({"n_clusters": [10.5]}, ["'n_clusters'", "10.5", "whole number"]),
        ({"n_clusters": ["10"]}, ["'n_clusters'", "'10'", "whole number"]),
        ({"n_clusters": [True]}, ["'n_clusters'", "True"]),
        ({"icc": [math.nan]}, ["'icc'", "nan", "[0, 1)"]),
        ({"df_method": ["kr"]}, ["'df_method'", "'kr'", "satterthwaite"]),
        ({"estimator": ["REML"]}, ["'estimator'", "'REML'", "reml"]),
        ({"n_clusters": 10}, ["'n_clusters'", "not a list"]),
        ({"df_method": "z"}, ["'df_method'", "not a list"]),
        ({"n_clusters": [10], "cluster_size": [20]}, ["n_clusters", "cluster_size", "both"]),
        ({"n_clusters": [10, 1]}, ["grid axis 'n_clusters'", "n_clusters=1", ">= 2"]),
        ({"icc": [0.1, 1.0]}, ["grid axis 'icc'", "icc=1.0", "[0, 1)"]),
        (
            {"n_clusters": [10, 300], "sample_size": [1000]},
            ["design point n_clusters=300, sample_size=1000", "observations per cluster"],
        ),
    ],
)
def test_invalid_axes_are_named(spec, axes, words) -> None:
    with pytest.raises(ValueError) as info:
        Grid(spec, axes)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_grid_must_be_a_mapping(spec) -> None:
    with pytest.raises(ValueError, match="mapping"):
        Grid(spec, [("n_clusters", [10])])  # type: ignore[arg-type]


def test_allowed_axes_include_every_effect(spec) -> None:
    names = allowed_axes(spec)
    assert "effect_x" in names and "effect_x:z" in names and "effect_(Intercept)" not in names
    assert names[: len(AXES)] == AXES and AXES[:3] == ("sample_size", "n_clusters", "cluster_size")


def test_grid_coords_make_labelled_dataset(spec) -> None:
    grid = Grid(
        spec,
        {"n_clusters": [10, 20], "df_method": ["z", "residual"], "effect_x": [0.1, 0.2]},
    )
    ds = xr.Dataset(coords=grid.grid_coords())
    assert list(ds.dims) == ["n_clusters", "df_method", "effect_x"]
    assert ds.n_clusters.dtype == np.int64
    assert ds.effect_x.dtype == np.float64
    assert list(ds.df_method.values) == ["z", "residual"]
    assert ds.n_clusters.attrs == {"long_name": "number of clusters", "units": "clusters"}
    assert ds.effect_x.attrs["units"] == "outcome SD"
    assert ds.effect_x.attrs["long_name"] == "standardised fixed effect of x"
