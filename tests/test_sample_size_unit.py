"""``find_sample_size(..., unit=...)`` (MCPower 1.4.1's spelling): sizes counted in clusters
(a fixed cluster size) or observations per cluster (a fixed number of clusters)."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import MCPower


def schools(**cluster: object) -> MCPower:
    return (MCPower("y ~ treatment + x + (1|school)", family="lme")
            .set_variable_type("treatment=binary(0.5, balanced)")
            .set_cluster("school", ICC=0.1, cluster_level_vars=["treatment"], **cluster)
            .set_effects("treatment=0.6, x=0.1")
            .set_simulations(200).set_seed(5))


def test_unit_clusters_varies_the_number_of_clusters() -> None:
    result = schools(cluster_size=20).find_sample_size(
        from_size=6, to_size=30, by=6, unit="clusters", print_results=False)
    assert result.unit_sizes.tolist() == [6, 12, 18, 24, 30]
    assert result.sizes.tolist() == [120, 240, 360, 480, 600]
    assert [p.spec.effective_n_clusters for p in result.points] == [6, 12, 18, 24, 30]
    power = result.power["treatment"]
    assert power[-1] > power[0]
    units, n = result.required_units["treatment"], result.required_n["treatment"]
    assert units is not None and n is not None and abs(units * 20 - n) <= 20
    assert "clusters" in str(result) and f"({units} clusters)" in str(result)


def test_unit_cluster_size_varies_rows_per_cluster() -> None:
    result = schools(n_clusters=12).find_sample_size(10, 40, by=10, unit="cluster_size",
                                                     print_results=False)
    assert result.unit_sizes.tolist() == [10, 20, 30, 40]
    assert np.array_equal(result.sizes, 12 * result.unit_sizes)


@pytest.mark.parametrize(("cluster", "unit", "words"), [
    ({"n_clusters": 12}, "clusters", ["unit='clusters'", "cluster_size=...", "n_clusters=12"]),
    ({"cluster_size": 20}, "cluster_size", ["unit='cluster_size'", "n_clusters=...",
                                            "cluster_size=20"]),
    ({"cluster_size": 20}, "schools", ["unit='schools'", "'observations'"]),
])
def test_a_unit_the_design_cannot_vary_is_refused(cluster: dict[str, object], unit: str,
                                                  words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        schools(**cluster).find_sample_size(6, 12, unit=unit, print_results=False)
    for word in words:
        assert word in str(err.value)


def test_mcpower_script_with_cluster_size_and_unit_clusters_runs() -> None:
    """An MCPower 1.4.1 script (cluster-level treatment, cluster_size, unit="clusters"),
    with only the import changed."""
    script = '''
from mcpower import MCPower

model = MCPower("score ~ treatment + ses + (1|school)", family="lme")
model.set_variable_type("treatment=binary, ses=binary")
model.set_cluster("school", ICC=0.15, cluster_size=25, cluster_level_vars=["treatment"])
model.set_effects("treatment=0.5, ses=0.2")
model.set_simulations(100)
model.set_seed(11)
result = model.find_sample_size(target_test="treatment", from_size=10, to_size=40, by=10,
                                unit="clusters")
'''
    scope: dict[str, object] = {}
    exec(compile(script.replace("from mcpower import", "from mcpower_sweep import"),  # noqa: S102
                 "mcpower script", "exec"), scope)
    result = scope["result"]
    assert result.unit_sizes.tolist() == [10, 20, 30, 40]
    assert result.sizes.tolist() == [250, 500, 750, 1000]
