"""The README's quick start, checked as a newcomer meets it (trap 4 of the foundation issue).

Its two commands must not compile the engine twice: both build without isolation into
the persistent build folder that ``pyproject.toml`` names, so the second reuses the first.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_two_commands_one_runs_the_main_job_one_the_tests():
    main_job, tests = quick_start_commands()
    assert "mcpower-sweep run scenarios/" in main_job
    assert tests.rstrip().endswith("pytest")
    scenario = re.search(r"mcpower-sweep run (\S+)", main_job).group(1)
    assert (ROOT / scenario).is_file()


def test_second_install_reuses_the_first_build():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # a persistent build folder lets a second install reuse the compiled objects
    assert re.search(r'^build-dir = "build/', pyproject, re.MULTILINE)
    for command in quick_start_commands():
        installs = [c for c in command.split("&&") if "pip install" in c and "pybind11" not in c]
        assert len(installs) == 1, command
        # with isolation each install compiles against a fresh temporary pybind11
        assert "--no-build-isolation" in installs[0], command


def test_readme_timings_are_filled_in():
    assert "TIMING" not in (ROOT / "README.md").read_text(encoding="utf-8")
