"""The mcpower-sweep command: every subcommand, its help, and one-line errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _synthetic import write_store
from click.testing import CliRunner

from mcpower_sweep.cli import default_store, main, one_line
from mcpower_sweep.params import PARAMS
from mcpower_sweep.reports import CEILING_NOTE

# A power cell with its 95% interval: "61.4% [58.0, 64.7]".
WITH_CI = re.compile(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]")

TINY = """\
model:
  formula: "score ~ treatment + (1 + treatment|cluster)"
  effects: {treatment: 0.3}
  cluster: {grouping: cluster, ICC: 0.15, n_clusters: 10, random_slopes: [treatment],
            slope_variance: 0.05}
simulations: 20
seed: 7
max_failed: 0.5
sweep:
  slope_variance: [0, 0.1]
  sample_size: [100, 200]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "syn.zarr"
    return str(write_store(path))


@pytest.fixture(scope="module")
def partial_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "partial.zarr"
    return str(write_store(path, done_fraction=0.5, seed=11))


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, *needles: str) -> None:
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("command", [[], ["run"], ["table"], ["plot"], ["info"]])
def test_help(command: list[str]) -> None:
    code, out, _ = invoke(*command, "--help")
    assert code == 0 and "Usage:" in out


def test_table_default_is_the_tutorial_layout(store: str) -> None:
    code, out, _ = invoke("table", store)
    assert code == 0
    assert "| slope_variance | Power (N=900, 30 clusters) | Required N (30 clusters) |" in out
    assert "| n_clusters | Power (slope_var=0.10, N=900) |" in out
    # intervals by default; the ceiling explained where it appears
    assert WITH_CI.search(out) and "ceiling" in out and CEILING_NOTE in out


def test_table_with_a_correction_adds_the_joint_tests(store: str) -> None:
    """--correction: power after it, and 'all m' (here m = 1) as one more test column."""
    code, out, _ = invoke("table", store, "--axes", "sample_size,test", "--at", "n_clusters=30",
                          "--at", "slope_variance=0.1", "--correction", "Holm", "--no-ci")
    assert code == 0
    assert out.splitlines()[0] == "| sample_size | treatment | all 1 |"
    code, _, err = invoke("table", store, "--correction", "tukey")
    assert_one_line_error(code, err, "correction='tukey'", "'bonferroni'", "'holm'", "'bh'")


def test_table_axes_at_ci_csv(store: str) -> None:
    code, out, _ = invoke("table", store, "--axes", "sample_size,slope_variance",
                          "--at", "n_clusters=30")
    assert code == 0
    assert out.splitlines()[0].startswith("| sample_size | slope_variance=0 |")
    assert WITH_CI.search(out.splitlines()[2])  # intervals unless --no-ci
    code, out, _ = invoke("table", store, "--axes", "sample_size,slope_variance",
                          "--at", "n_clusters=30", "--no-ci")
    assert code == 0 and "[" not in out
    code, out, _ = invoke("table", store, "--axes", "sample_size,slope_variance",
                          "--at", "n_clusters=30", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("n_clusters,sample_size,slope_variance")
    assert "power_lower" in out.splitlines()[0]
    code, out, _ = invoke("table", store, "--axes", "sample_size,slope_variance")
    assert code == 0 and out.count("### n_clusters=") == 2  # one table per free n_clusters
    code, out, _ = invoke("table", store, "--axes", "sample_size")
    assert code == 0 and out.splitlines()[2].startswith("| sample_size |")


def test_table_required_n(store: str) -> None:
    code, out, _ = invoke("table", store, "--required-n", "--at", "n_clusters=30")
    assert code == 0 and "Estimated N" in out and ">2,000" in out and CEILING_NOTE in out
    code, out, _ = invoke("table", store, "--required-n", "--format", "csv",
                          "--target-power", "0.3")
    assert code == 0 and out.startswith("n_clusters,slope_variance,status")
    assert "first_size" in out.splitlines()[0]


def test_target_power_flag_and_its_hidden_alias(store: str) -> None:
    code, new, _ = invoke("table", store, "--required-n", "--target-power", "0.3")
    assert code == 0 and "Target power 30%" in new
    code, old, _ = invoke("table", store, "--required-n", "--target", "0.3")
    assert code == 0 and old == new
    for command in ("table", "plot"):
        code, out, _ = invoke(command, "--help")
        assert "--target-power" in out and not re.search(r"--target\b(?!-)", out)


@pytest.mark.parametrize(
    ("flag", "name", "text", "value"),
    [
        ("--workers", "workers", "0", 0),
        ("--chunk-size", "chunk_size", "2.5", 2.5),
        ("--simulations", "simulations", "abc", "abc"),
        ("--simulations", "simulations", str(10**9), 10**9),
        ("--target-power", "target_power", "1.5", 1.5),
    ],
)
def test_flags_are_checked_with_the_apis_rule(flag: str, name: str, text: str, value: object,
                                              tmp_path: Path, store: str) -> None:
    """The message is the API's (params.PARAMS), naming the flag instead of the argument."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    with pytest.raises(ValueError) as api:
        PARAMS[name].check(value, label=flag)
    args = (["table", store, "--required-n"] if name == "target_power"
            else ["run", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "never.zarr")])
    code, _, err = invoke(*args, flag, text)
    assert code == 2
    assert_one_line_error(code, err, str(api.value))
    assert not (tmp_path / "never.zarr").exists()


def test_existing_store_names_flags_not_arguments(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    existing = write_store(tmp_path / "there.zarr")
    code, _, err = invoke("run", str(tmp_path / "tiny.yaml"), "--out", str(existing),
                          "--cluster", "tcp://127.0.0.1:9", "--no-progress")
    assert_one_line_error(code, err, str(existing), "already exists", "--resume", "--overwrite")
    assert "=True" not in err
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    code, _, err = invoke("run", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "plain"),
                          "--cluster", "tcp://127.0.0.1:9", "--no-progress")
    assert_one_line_error(code, err, "is not a results store", "--out")
    assert "out=" not in err


def test_library_words_become_flags() -> None:
    from mcpower_sweep.cli import cli_words

    text = ("results store 's.zarr' was made for a different run: seed (store: 1, now: 2). "
            "Use another out= path, or overwrite=True to replace it")
    assert cli_words(text).endswith("Use another --out path, or --overwrite to replace it")
    assert cli_words("pass resume=True") == "pass --resume"
    assert cli_words("n_clusters=30 is not in the results") == (
        "n_clusters=30 is not in the results")


def test_plot_into_a_missing_directory_is_refused(store: str, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir" / "x.png"
    code, _, err = invoke("plot", store, "-o", str(target))
    assert_one_line_error(code, err, str(target.parent), "does not exist")
    assert code == 1 and not (tmp_path / "missing").exists()


def test_plot_png_and_heatmap_svg(store: str, tmp_path: Path) -> None:
    png, svg = tmp_path / "p.png", tmp_path / "h.svg"
    code, _, err = invoke("plot", store, "-o", str(png))
    assert code == 0 and png.stat().st_size > 1000 and "wrote" in err
    code, _, _ = invoke("plot", store, "-o", str(svg), "--kind", "heatmap")
    assert code == 0 and svg.read_text().lstrip().startswith("<?xml")


def test_info_done_and_left(store: str, partial_store: str) -> None:
    code, out, _ = invoke("info", store)
    assert code == 0
    assert "12/12 design points" in out and "left:" not in out
    assert "seed:        3" in out and "formula:" in out and "versions:" in out
    code, out, _ = invoke("info", partial_store)
    assert code == 0 and "left:" in out and "--resume" in out
    code, out, _ = invoke("info", store, "--scenario")
    assert code == 0 and "no scenario" in out


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["table", "nowhere.zarr"], ["nowhere.zarr", "does not exist"]),
        (["info", "nowhere.zarr"], ["nowhere.zarr"]),
        (["table", "{store}", "--at", "n_clusters=31"], ["n_clusters=", "31"]),
        (["table", "{store}", "--at", "icc=0.1"], ["'icc'", "not an axis"]),
        (["table", "{store}", "--at", "n_clusters"], ["axis=value"]),
        (["table", "{store}", "--test", "age"], ["age"]),
        (["run", "nowhere.yaml"], ["nowhere.yaml", "no such scenario"]),
        (["run", "{bad_scenario}"], ["model.cluster.IIC", "did you mean 'ICC'"]),
        (["run", "{tiny}", "--resume", "--overwrite"], ["--resume", "--overwrite"]),
        (["run", "{tiny}", "--cluster", "bogus", "--out", "{tmp}/never.zarr"], ["'bogus'"]),
        (["run", "{tiny}", "--cluster-option", "cores"], ["cores", "key=value"]),
    ],
)
def test_errors_are_one_line(args: list[str], needles: list[str], store: str,
                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("ICC: 0.15", "IIC: 0.15"))
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    args = [a.format(store=store, bad_scenario=bad, tiny=tiny, tmp=tmp_path) for a in args]
    code, _, err = invoke(*args)
    assert not (tmp_path / "never.zarr").exists()  # a bad cluster is refused before the store
    assert_one_line_error(code, err, *needles)


def test_usage_errors_are_one_line(store: str) -> None:
    code, _, err = invoke("plot", store, "-o", "figure.jpg")
    assert code == 2
    assert_one_line_error(code, err, ".png", "plot --help")
    code, _, err = invoke("run")
    assert_one_line_error(code, err, "Missing argument 'SCENARIO'")
    code, _, err = invoke("table", store, "--format", "xml")
    assert_one_line_error(code, err, "xml")
    code, _, err = invoke("frobnicate")
    assert_one_line_error(code, err, "frobnicate")


def test_debug_shows_traceback() -> None:
    result = CliRunner().invoke(main, ["--debug", "info", "nowhere.zarr"])
    assert result.exit_code != 0 and isinstance(result.exception, FileNotFoundError)
    result = CliRunner().invoke(main, ["info", "nowhere.zarr", "--debug"])
    assert isinstance(result.exception, FileNotFoundError)


def test_one_line_and_default_store() -> None:
    assert one_line(ValueError("a\n  b\n  ^")) == "a; b"
    assert default_store("scenarios/x.yaml") == Path("results/x.zarr")


def test_subprocess_entry_point(store: str) -> None:
    exe = shutil.which("mcpower-sweep")
    cmd = [exe] if exe else [sys.executable, "-m", "mcpower_sweep.cli"]
    done = subprocess.run([*cmd, "info", store], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "design points" in done.stdout
    done = subprocess.run([*cmd, "table", "does-not-exist.zarr"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: ") and len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- real runs


def test_run_tiny_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tiny.yaml").write_text(TINY)
    code, out, err = invoke("run", "tiny.yaml", "--workers", "1", "--no-progress")
    assert code == 0, err
    assert Path("results/tiny.zarr").is_dir()
    assert "| sample_size | slope_variance=0 | slope_variance=0.10 |" in out
    assert "Required sample size" in out
    # what run prints: intervals by default, the ceiling explained
    assert WITH_CI.search(out.split("### Required sample size")[0])
    assert CEILING_NOTE in out
    # running again on the same store needs --resume or --overwrite, named as flags
    code, _, err = invoke("run", "tiny.yaml", "--workers", "1", "--no-progress")
    assert_one_line_error(code, err, "tiny.zarr", "--resume", "--overwrite")
    assert "resume=True" not in err
    code, out, _ = invoke("run", "tiny.yaml", "--workers", "1", "--no-progress", "--resume")
    assert code == 0 and "slope_variance" in out
    code, out, _ = invoke("info", "results/tiny.zarr", "--scenario")
    assert code == 0 and out.strip() == TINY.strip()

    # A sweep point runs exactly the simulations of find_power with the same settings.
    from mcpower_sweep import open_results
    from mcpower_sweep.scenario import load_scenario

    ds = open_results("results/tiny.zarr")
    model = load_scenario("tiny.yaml").model
    model.set_cluster("cluster", ICC=0.15, n_clusters=10, random_slopes=["treatment"],
                      slope_variance=0.1)
    single = model.find_power(200, print_results=False)
    swept = ds["power"].sel(slope_variance=0.1, sample_size=200, test="treatment")
    assert float(swept) == single.power["treatment"]


@pytest.mark.slow
def test_main_job_prints_both_tutorial_tables(tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "random-slopes-docs.yaml"
    code, out, err = invoke("run", str(scenario), "--out", str(tmp_path / "docs.zarr"),
                            "--simulations", "40", "--no-progress")
    assert code == 0, err
    assert "| slope_variance | Power (N=900, 30 clusters) | Required N (30 clusters) |" in out
    assert "| n_clusters | Power (slope_var=0.10, N=900) |" in out
    assert "Minimum clusters for 80% power" in out
    assert WITH_CI.search(out) and CEILING_NOTE in out


@pytest.mark.slow
def test_subprocess_run_override_simulations(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    exe = shutil.which("mcpower-sweep") or "mcpower-sweep"
    done = subprocess.run(
        [exe, "run", "tiny.yaml", "--out", "o.zarr", "--simulations", "40", "--chunk-size",
         "10", "--workers", "2", "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    info = subprocess.run([exe, "info", "o.zarr"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert "40 per point, chunks of 10" in info.stdout
    assert "16/16 chunks" in info.stdout
