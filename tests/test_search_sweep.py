"""Sweeps of searches (mcpower_sweep.search.sweep): one adaptive search per grid point, as
Dask tasks on a real LocalCluster; the answers must not depend on the workers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mcpower_sweep import MCPower
from mcpower_sweep.search.sweep import effect_sweep, point_seed, search_sweep

distributed = pytest.importorskip("distributed")

SEARCH = {"unit": "clusters", "precision": 0.2, "max_simulations": 2000}


def crt(icc: float = 0.15, seed: int = 11) -> MCPower:
    return (MCPower("y ~ treatment + (1|school)")
            .set_variable_type("treatment=binary(0.5, balanced)")
            .set_cluster("school", ICC=icc, cluster_size=10, cluster_level_vars=["treatment"])
            .set_effects("treatment=0.5").set_seed(seed).set_max_failed_simulations(0.2))


def sweep_on(workers: int, **kw: object) -> xr.Dataset:
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        return search_sweep(crt(), {"icc": [0.1, 0.2]}, 6, 200, "treatment", client=client,
                            **SEARCH, **kw)  # type: ignore[arg-type]


def test_same_answers_with_one_and_two_workers_and_as_find_sample_size(tmp_path) -> None:
    one = sweep_on(1)
    two = sweep_on(2, store=str(tmp_path / "search.zarr"))
    assert one.attrs.pop("created") and two.attrs.pop("created")  # the time of the run
    xr.testing.assert_identical(one, two)
    assert list(one.status.values) == ["reached", "reached"]
    assert np.all(one.required_n_lower <= one.required_n)
    assert np.all(one.required_n <= one.required_n_upper)
    assert one.required_n.sel(icc=0.1) < one.required_n.sel(icc=0.2)  # more ICC, more N
    assert one.required_n.attrs["units"] == "observations"
    # ... and in the searched unit: clusters of 10
    for end in ("", "_lower", "_upper"):
        np.testing.assert_array_equal(one[f"required_units{end}"], one[f"required_n{end}"] / 10)
    assert one.required_units.attrs["units"] == "clusters"
    assert one.n_simulations.attrs["long_name"]
    stored = xr.open_zarr(tmp_path / "search.zarr", consolidated=False).load()
    np.testing.assert_array_equal(stored.required_n, one.required_n)
    assert list(stored.status.values) == list(one.status.values)
    # Point (1,) is find_sample_size of the model at icc 0.2 with that point's seed.
    direct = crt(0.2, seed=point_seed(11, (1,))).find_sample_size(
        6, 200, target_test="treatment", print_results=False, **SEARCH)  # type: ignore[arg-type]
    at = one.sel(icc=0.2)
    assert at.required_n.item() == direct.required_n["treatment"]
    assert at.required_units.item() == direct.required_units["treatment"]
    assert (at.required_n_lower.item(), at.required_n_upper.item()) == \
        direct.required_n_ci["treatment"]
    assert at.n_simulations.item() == direct.n_simulations
    assert at.status.item() == direct.status


def test_the_searched_size_cannot_be_an_axis_and_one_test_is_searched() -> None:
    with pytest.raises(ValueError, match="n_clusters"):
        search_sweep(crt(), {"n_clusters": [10, 20]}, 6, 200, "treatment", unit="clusters")
    two_tests = (MCPower("y ~ x + z + (1|g)").set_effects("x=0.3, z=0.2")
                 .set_cluster("g", ICC=0.1, cluster_size=10))
    with pytest.raises(ValueError, match="target_test"):
        search_sweep(two_tests, {"icc": [0.1]}, 6, 200, unit="clusters")


def test_effect_sweep_per_point_is_find_effect_size(dask_client) -> None:
    ds = effect_sweep(crt(), {"icc": [0.1, 0.2]}, "treatment", sample_size=400,
                      precision=0.2, max_simulations=2000, client=dask_client)
    assert ds.mde.attrs["long_name"] == "minimum detectable effect"
    assert ds.mde.sel(icc=0.1) < ds.mde.sel(icc=0.2)  # more ICC, a larger MDE
    direct = crt(0.2, seed=point_seed(11, (1,))).find_effect_size(
        "treatment", sample_size=400, precision=0.2, max_simulations=2000,
        print_results=False)
    at = ds.sel(icc=0.2)
    assert at.mde.item() == direct.mde["treatment"]
    assert (at.mde_lower.item(), at.mde_upper.item()) == direct.mde_ci["treatment"]
    assert at.n_simulations.item() == direct.n_simulations
    with pytest.raises(ValueError, match="not an axis"):
        effect_sweep(crt(), {"effect_treatment": [0.1, 0.2]}, "treatment", sample_size=400)
