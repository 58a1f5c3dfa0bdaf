"""Small things users expect of the command line (issue 13, item 7): every command has an
example and every option a help text; --json on validate and scenarios; tables as Excel or
Parquet; remech new scaffolds an instance that validates."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from conftest import REAL, TINY
from remech.cli import main


def _commands(cmd=main, path=("remech",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


@pytest.mark.parametrize("path, cmd", list(_commands()), ids=lambda x: " ".join(x)
                         if isinstance(x, tuple) else "")
def test_every_command_has_an_example_and_every_option_a_help(path, cmd):
    assert "Example:" in (cmd.help or ""), f"{' '.join(path)}: no 'Example:' in its --help"
    missing = [p.opts[0] for p in cmd.params if isinstance(p, click.Option) and not p.help]
    assert not missing, f"{' '.join(path)}: options without help: {missing}"
    r = CliRunner().invoke(main, [*path[1:], "--help"])
    assert r.exit_code == 0 and "Example:" in r.output, r.output


def test_validate_json():
    r = CliRunner().invoke(main, ["validate", str(TINY), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["instance"]["name"] == "tiny-floor"
    assert doc["sizes"]["scenarios"] == 2 and doc["model"]["binaries"] == 3
    r = CliRunner().invoke(main, ["validate", str(TINY), "--json", "--set",
                                  "instance.products.X.shortfall_penalty_usd_per_kg=-1"])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and len(doc["errors"]) == 1
    assert doc["errors"][0].startswith(
        "--set instance.products.X.shortfall_penalty_usd_per_kg=-1")


def test_scenarios_json(tmp_path):
    gen, red, plots = tmp_path / "g5", tmp_path / "r3", tmp_path / "plots"
    r = CliRunner().invoke(main, ["scenarios", "generate", str(REAL), "-n", "5", "--seed", "1",
                                  "-o", str(gen), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scenarios"] == 5 and doc["seed"] == 1
    assert set(doc["calibration"]["std"]) == {"NDPR", "DY", "TB"}
    assert set(doc["calibration"]["std"]["NDPR"]) == {"generated", "history"}
    r = CliRunner().invoke(main, ["scenarios", "reduce", str(gen), "--to", "3", "-o", str(red),
                                  "--no-check", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["kept"], doc["of"], doc["check"]) == (3, 5, None)
    assert doc["kantorovich_distance"] > 0
    r = CliRunner().invoke(main, ["scenarios", "plot", str(red), "-o", str(plots), "--json"])
    assert r.exit_code == 0, r.output
    files = json.loads(r.stdout)["files"]
    assert [f.rsplit("/", 1)[-1] for f in files] == ["fan_NDPR.png", "fan_DY.png",
                                                     "fan_TB.png"]
