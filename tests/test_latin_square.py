"""Crossed subjects x items designs with the condition counterbalanced in a Latin square
(``set_cluster("item", ..., latin_square="condition")``, issue #12)."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import MCPower, fit_lmm
from mcpower_sweep.design.groupings import layout, sizes_text
from mcpower_sweep.engine import run_chunk, simulated_data
from mcpower_sweep.scenario import load_scenario

FORMULA = "rt ~ condition + x + (1 + condition | subject) + (1 | item)"


def latin(condition: str = "binary", subjects: int = 8, items: int = 6) -> MCPower:
    formula = FORMULA if condition.startswith("binary") else FORMULA.replace("1 + condition", "1")
    return (MCPower(formula)
            .set_variable_type(f"condition={condition}")
            .set_effects("x=0.2, " + ("condition=0.3" if condition.startswith("binary")
                                      else "condition[2]=0.3, condition[3]=0.2"))
            .set_cluster("subject", ICC=0.2, n_clusters=subjects,
                         slope_variance=0.1 if formula == FORMULA else 0.0)
            .set_cluster("item", ICC=0.1, n_clusters=items, latin_square="condition")
            .set_seed(5).set_simulations(30).set_parallel(False))


def test_each_subject_sees_each_item_in_one_condition() -> None:
    spec = latin().to_spec(48)
    lay = layout(spec.groupings, 48)
    subject, item = lay.codes
    X, _ = simulated_data(spec, 1, 0)
    cond = X[:, 1]
    assert sorted(np.unique(cond)) == [0.0, 1.0]
    table = np.zeros((8, 6))
    table[subject, item] = cond
    assert (table.sum(axis=1) == 3).all()  # every subject: half its items in each condition
    assert (table.sum(axis=0) == 4).all()  # every item: half the subjects in each condition
    assert (table[0] != table[1]).all()  # the two lists see each item in the other condition
    assert (table[::2] == table[0]).all() and (table[1::2] == table[1]).all()
    # laid out, not drawn: the same in every simulation; x is still drawn
    X2, _ = simulated_data(spec, 1, 7)
    assert (X2[:, 1] == cond).all() and not np.allclose(X2[:, 2], X[:, 2])
    assert sizes_text(spec.groupings, 48) == (
        "N = 48: 8 subject x 6 item crossed (each pair seen 1 time, condition in a Latin "
        "square over item)")


def test_three_conditions_rotate() -> None:
    spec = latin("factor(3)", subjects=6, items=6).to_spec(36)
    subject, item = layout(spec.groupings, 36).codes
    X, _ = simulated_data(spec, 2, 0)
    level = X[:, 1] * 1 + X[:, 2] * 2  # the dummies of levels 2 and 3
    assert (level == (subject + item) % 3).all()
    for s in range(6):  # each subject sees each condition on 2 items
        assert np.bincount(level[subject == s].astype(int)).tolist() == [2, 2, 2]


def test_engine_fit_equals_fit_lmm() -> None:
    spec = latin(subjects=10, items=8).to_spec(160)
    lay = layout(spec.groupings, 160)
    out = run_chunk(spec, 4, 0, 2)
    for i in range(2):
        X, y = simulated_data(spec, 4, i)
        data = {"rt": y, "condition": X[:, 1], "x": X[:, 2], "subject": lay.codes[0],
                "item": lay.codes[1]}
        fit = fit_lmm(FORMULA, data)
        assert out.converged[i]
        np.testing.assert_allclose(out.estimate[i], list(fit.coef.values()), rtol=1e-6,
                                   atol=1e-8)
        np.testing.assert_allclose(out.pvalue[i], list(fit.pvalue.values()), rtol=1e-5,
                                   atol=1e-8)


@pytest.mark.parametrize(("build", "match"), [
    (lambda: MCPower("y ~ condition + (1|subject)").set_cluster(
        "subject", ICC=0.1, n_clusters=10, latin_square="condition"),
     "latin_square='condition'.*two crossed grouping factors"),
    (lambda: latin().set_cluster("item", ICC=0.1, n_clusters=6, latin_square="cond"),
     "latin_square='cond' is not a predictor"),
    (lambda: latin("binary(0.3)").to_spec(48), "binary\\(0.3\\).*equally often"),
    (lambda: latin(items=5).to_spec(40), "5 item units is not a multiple of the 2"),
    (lambda: latin(subjects=9).to_spec(54), "9 subject units is not a multiple"),
    (lambda: latin().set_cluster("subject", ICC=0.2, n_clusters=8, random_slopes=["condition"],
                                 slope_variance=0.1, latin_square="condition").to_spec(48),
     "latin_square is also set on"),
    (lambda: latin().set_cluster("item", ICC=0.1, n_clusters=6, latin_square="condition",
                                 cluster_level_vars=["condition"]).to_spec(48),
     "in cluster_level_vars"),
    (lambda: (MCPower("y ~ t + (1|school/class)").set_cluster("school", ICC=0.1, n_clusters=4)
              .set_cluster("school:class", ICC=0.1, n_per_parent=2, latin_square="t")
              .to_spec(80)), "exactly two crossed groupings"),
])
def test_bad_latin_squares(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_scenario_key(tmp_path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_text(f"""
model:
  formula: "{FORMULA}"
  variable_types: "condition=binary"
  effects: "condition=0.3, x=0.2"
  clusters:
    - {{grouping: subject, icc: 0.2, n_clusters: 8, random_slopes: [condition],
       slope_variance: 0.1}}
    - {{grouping: item, icc: 0.1, n_clusters: 6, latin_square: condition}}
sweep:
  sample_size: [48, 96]
""")
    scenario = load_scenario(path)
    spec = scenario.base_spec()
    assert spec.groupings[1].latin_square == "condition"
    assert spec.params()["groupings"][1]["latin_square"] == "condition"
