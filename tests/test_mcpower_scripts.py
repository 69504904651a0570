"""Scripts written for MCPower 1.4.1 run here with only the import changed.

``tests/data/mcpower_scripts`` holds such scripts for the features both tools share beyond
the tutorial (cluster-level treatment, correlated predictors, ...); each was also run under
MCPower 1.4.1 itself with the import switched back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpower_sweep import MCPower

SCRIPTS = sorted((Path(__file__).resolve().parent / "data" / "mcpower_scripts").glob("*.py"))
OUR_IMPORT = "from mcpower_sweep import MCPower"


def test_scripts_are_here() -> None:
    assert len(SCRIPTS) >= 2


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_runs_with_only_the_import_changed(script: Path, capsys) -> None:
    source = script.read_text(encoding="utf-8")
    assert source.count(OUR_IMPORT) == 1 and "mcpower_sweep" not in source.replace(OUR_IMPORT, "")
    namespace: dict[str, object] = {"__name__": "__main__", "__file__": str(script)}
    exec(compile(source, str(script), "exec"), namespace)
    model = namespace["model"]
    assert isinstance(model, MCPower)
    printed = capsys.readouterr().out
    for test in model.to_spec(1000).term_names[1:]:  # every effect has a power row
        assert f"\n{test} " in printed, (test, printed)
    assert "%" in printed
