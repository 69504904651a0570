"""docs/make_tables.py builds its pages from stores (synthetic ones here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from _synthetic import write_store

ROOT = Path(__file__).resolve().parents[1]


def load_make_tables():  # noqa: ANN201 - a module
    spec = importlib.util.spec_from_file_location("make_tables", ROOT / "docs" / "make_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_from_stores(tmp_path: Path) -> None:
    design = write_store(tmp_path / "design.zarr")
    calibration = write_store(
        tmp_path / "cal.zarr",
        {"df_method": ["satterthwaite", "z"], "n_clusters": [8, 30],
         "slope_variance": [0.05, 0.1], "sample_size": [400, 900]},
    )
    crt = write_store(
        tmp_path / "crt.zarr",
        {"df_method": ["satterthwaite", "kenward_roger"], "n_clusters": [6, 10],
         "icc": [0.1, 0.25], "cluster_size_cv": [0.0, 0.5]},
    )
    glmm = write_store(tmp_path / "glmm.zarr",
                       {"df_method": ["z", "between_within"], "sample_size": [150, 250]})
    make_tables = load_make_tables()
    code = make_tables.main(["--design-store", str(design), "--calibration-store",
                             str(calibration), "--crt-store", str(crt), "--glmm-store",
                             str(glmm), "--out", str(tmp_path), "--no-figures"])
    assert code == 0
    page = (tmp_path / "design-tables.md").read_text()
    assert "do not edit by hand" in page
    assert "| slope_variance | Power (N=900, 30 clusters) | Required N (30 clusters) |" in page
    assert "## Required sample size at every design point" in page
    estimates = (tmp_path / "estimates.md").read_text()
    assert "do not edit by hand" in estimates and "| `rmse` |" in estimates
    assert "| n_clusters | slope_variance | bias | RMSE | mean SE | coverage |" in estimates
    cal = (tmp_path / "calibration.md").read_text()
    assert "| n_clusters | slope_variance | satterthwaite | z |" in cal
    assert "### sample_size = 400" in cal and "### sample_size = 900" in cal
    assert "| satterthwaite |" in cal  # summary row
    assert "## Cluster-randomised trials" in cal
    assert "| n_clusters | cluster_size_cv | satterthwaite | kenward_roger |" in cal
    assert "### icc = 0.25" in cal
    assert "## Logistic GLMM" in cal and "| sample_size | z | between_within |" in cal


def test_missing_stores_are_skipped(tmp_path: Path) -> None:
    make_tables = load_make_tables()
    code = make_tables.main(["--design-store", str(tmp_path / "no.zarr"),
                             "--calibration-store", str(tmp_path / "no2.zarr"),
                             "--crt-store", str(tmp_path / "no3.zarr"),
                             "--glmm-store", str(tmp_path / "no4.zarr"),
                             "--groupings-dir", str(tmp_path), "--out", str(tmp_path)])
    assert code == 1


def test_groupings_section_and_kept_sections(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_store(results / "calibration-groupings.zarr",
                {"df_method": ["satterthwaite", "kenward_roger"], "sample_size": [360, 720]})
    write_store(results / "calibration-groupings-crossed10.zarr",
                {"df_method": ["satterthwaite", "kenward_roger"]})
    # A section whose store is absent is kept from the current page, not dropped.
    glmm = "## Logistic GLMM: a cluster-randomised trial, Wald z and between-within t"
    (tmp_path / "calibration.md").write_text(
        f"# Calibration\n\nintro\n\n{glmm}\n\n| a |\n\n### sub\n\ntext\n")
    make_tables = load_make_tables()
    missing = [str(tmp_path / "no.zarr")]
    code = make_tables.main(["--design-store", *missing, "--calibration-store", *missing,
                             "--crt-store", *missing, "--glmm-store", *missing,
                             "--groupings-dir", str(results), "--out", str(tmp_path)])
    assert code == 0
    cal = (tmp_path / "calibration.md").read_text()
    assert f"{glmm}\n\n| a |\n\n### sub\n\ntext\n\n## Several grouping" in cal
    assert "| design | size | N | test | satterthwaite | kenward_roger | singular |" in cal
    assert "| 6 schools × 4 classes × 15 pupils | 360 | treatment |" in cal
    assert "| 30 subjects × 30 items | 900 | treatment |" in cal  # the store's base N
    assert "scenarios/calibration-groupings-crossed10.yaml" in cal
