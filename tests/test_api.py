"""The Python API (remech/api.py, exported as remech.solve, ...): the same mechanism, game
and simulation as the CLI, tables by name, the documented example (docs/api.md) executed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import remech
from conftest import ROOT, TINY, two_allies
from remech import api
from remech.cli import main
from remech.errors import InputError

OVERRIDES = {"price_floor.levels_usd_per_kg.X": [70], "objective.view": "economic",
             "instance.products.X.shortfall_penalty_usd_per_kg": 200}


def _strip(doc: dict) -> dict:
    doc = {k: v for k, v in doc.items() if k != "timings_s"}
    doc["solver"] = {k: v for k, v in doc["solver"].items() if k != "timings_s"}
    return doc


def test_api_mechanism_equals_the_cli_mechanism_json_with_overrides(tmp_path):
    out = tmp_path / "out"
    sets = [a for k, v in OVERRIDES.items() for a in ("--set", f"{k}={json.dumps(v)}"
                                                        if not isinstance(v, str)
                                                        else f"{k}={v}")]
    r = CliRunner().invoke(main, ["solve", str(TINY), "-o", str(out), "-q", *sets])
    assert r.exit_code == 0, r.output
    written = json.loads((out / "mechanism.json").read_text())
    mech = api.solve(TINY, overrides=OVERRIDES)
    doc = mech.to_json()
    assert list(doc) == list(written)
    assert _strip(doc) == _strip(written)
    assert doc["design"]["overrides"] == {"price_floor.levels_usd_per_kg.X": [70],
                                          "objective.view": "economic"}
    assert doc["instance"]["overrides"] == {
        "instance.products.X.shortfall_penalty_usd_per_kg": 200}
    for name, table in mech.tables.items():
        assert (out / name).read_text() == table.to_csv(index=False), name


def test_tables_by_name():
    mech = api.solve(TINY)
    assert "projects" in mech.table_names and "scenario_costs" in mech.table_names
    pd.testing.assert_frame_equal(mech.table("projects"), mech.tables["projects.csv"])
    pd.testing.assert_frame_equal(mech.table("projects.csv"), mech.frames.projects)
    assert mech.frames["shortfall.csv"] is mech.tables["shortfall.csv"]
    assert mech.floors.loc[0, "product"] == "X"
    assert mech.costs_by_scenario["probability"].sum() == pytest.approx(1.0)
    assert mech.contributions.loc[0, "ally"] == "US"
    assert mech.contributions_table is not None  # the older name
    assert mech.contributions_by_ally["US"]["contribution_musd"] == pytest.approx(
        mech.contributions.loc[0, "contribution_musd"])
    assert mech["contributions"] == mech.to_json()["contributions"]
    with pytest.raises(KeyError, match="no table 'project'; the tables are: floors"):
        mech.table("project")
    with pytest.raises(AttributeError, match="no table 'nope'"):
        _ = mech.frames.nope
    assert "projects" in dir(mech.frames)


def test_bad_input_raises_the_cli_message():
    with pytest.raises(InputError, match=r"--set objective.view=cheap: \[objective\] view: "
                                         "'cheap' is not allowed"):
        api.solve(TINY, overrides={"objective.view": "cheap"})
    with pytest.raises(InputError, match="--mip-gap 2: more than 1"):
        api.solve(TINY, mip_gap=2.0)


def test_the_documented_example_runs(tmp_path):
    """docs/api.md's code, run from a folder holding instances/tiny-floor."""
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    shutil.copytree(TINY, tmp_path / "instances" / "tiny-floor")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(compile(blocks[0], "docs/api.md", "exec"), scope)  # noqa: S102
    finally:
        os.chdir(cwd)
    assert scope["mech"].floors_usd_per_kg == {"X": 70.0}
    assert Path(scope["html"]).is_file() and Path(scope["html"]).name == "report.html"
    assert (scope["out"] / "mechanism.json").is_file()


def test_remech_exports_the_api_lazily():
    """remech.solve is the function (the module is remech.solving); importing remech loads
    neither Pyomo nor pandas, remech.api stays an alias."""
    assert remech.solve is api.solve and remech.game is api.game
    assert remech.simulate is api.simulate and remech.report is api.report
    assert {"solve", "compare", "sweep", "game", "simulate", "report"} <= set(dir(remech))
    code = ("import sys, remech; print(sorted(m for m in ('pyomo', 'pandas', 'highspy') "
            "if m in sys.modules)); remech.solve; print('pyomo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = remech.nope


def test_overrides_as_keywords_equal_the_mapping():
    a = remech.solve(TINY, **{"price_floor.levels_usd_per_kg.X": [70]})
    b = api.solve(TINY, overrides={"price_floor.levels_usd_per_kg.X": [70]})
    assert _strip(a.to_json()) == _strip(b.to_json())
    with pytest.raises(InputError, match="given twice"):
        remech.solve(TINY, overrides={"objective.view": "fiscal"},
                     **{"objective.view": "economic"})


def test_game_equals_the_cli_game_json(tiny, tmp_path):
    duo = two_allies(tiny)
    out = tmp_path / "g"
    r = CliRunner().invoke(main, ["game", str(duo), "--jobs", "1", "--no-cache", "-o",
                                  str(out), "-q"])
    assert r.exit_code == 0, r.output
    g = remech.game(duo, jobs=1, no_cache=True)
    written = json.loads((out / "game.json").read_text())
    assert json.loads(json.dumps(g.to_json())).keys() == written.keys()
    assert g.allocation("shapley") == pytest.approx({"US": 0.0, "EU": 10.0}, abs=1e-4)
    assert g.allocation("shapley") == pytest.approx(written["shapley"], abs=1e-9)
    pd.testing.assert_frame_equal(g.allocations, pd.read_csv(out / "allocations.csv"),
                                  check_dtype=False)
    assert sorted(g.coalition_costs["coalition"]) == ["EU", "US", "US+EU"]
    assert g.players == ["US", "EU"]
    with pytest.raises(KeyError, match="no allocation 'shapely'"):
        g.allocation("shapely")
    with pytest.raises(InputError, match="either INSTANCE .* or --costs"):
        remech.game(duo, costs=out / "coalition_costs.csv")


def _same_cost(a: dict, b: dict) -> bool:
    """simulation.json's cost section, numbers to rounding (lists element by element)."""
    a = json.loads(json.dumps(a))
    assert a.keys() == b.keys()
    for k, v in a.items():
        if isinstance(v, float | int) and not isinstance(v, bool):
            assert v == pytest.approx(b[k]), k
        elif isinstance(v, list):
            assert v == pytest.approx(b[k]), k
        else:
            assert v == b[k], k
    return True


def test_simulate_equals_the_cli_simulation(tmp_path):
    out, sim_out = tmp_path / "out", tmp_path / "sim"
    mech = remech.solve(TINY)
    mech.write(out)
    r = CliRunner().invoke(main, ["simulate", str(out), str(TINY), "-n", "20", "--seed", "3",
                                  "--sampler", "resample", "--jobs", "1", "-o", str(sim_out), "-q"])
    assert r.exit_code == 0, r.output
    written = json.loads((sim_out / "simulation.json").read_text())
    sim = remech.simulate(mech, TINY, n=20, seed=3, sampler="resample", jobs=1)
    assert _same_cost(sim.report["cost"], written["cost"])
    pd.testing.assert_frame_equal(sim.costs_by_scenario,
                                  pd.read_csv(sim_out / "scenario_costs.csv"),
                                  check_dtype=False)
    assert sim.summary().startswith("remech simulate:")
    # the mechanism from its folder gives the same simulation
    assert _same_cost(remech.simulate(out, TINY, n=20, seed=3, sampler="resample",
                                      jobs=1).report["cost"], written["cost"])
    with pytest.raises(InputError, match="n=1: at least 2"):
        remech.simulate(mech, TINY, n=1)
