"""The Python API (remech/api.py): the same mechanism as the CLI, tables by name, the
documented example (docs/api.md) executed."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import ROOT, TINY
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
    assert mech.contributions_table.loc[0, "ally"] == "US"
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
