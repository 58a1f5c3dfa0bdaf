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


def test_tables_as_xlsx_and_parquet_round_trip(tmp_path):
    """--format xlsx --format parquet: tables.xlsx (a sheet per CSV) and NAME.parquet next to
    each CSV, registered in the marker; read back they equal the CSV files."""
    import pandas as pd

    from remech.outdir import read_marker

    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["solve", str(TINY), "-o", str(out), "-q",
                                  "--format", "xlsx", "--format", "PARQUET"])
    assert r.exit_code == 0, r.output
    csvs = sorted(p.name for p in out.glob("*.csv"))
    files = set(read_marker(out)["files"])
    assert "tables.xlsx" in files and {c.replace(".csv", ".parquet") for c in csvs} <= files
    sheets = pd.read_excel(out / "tables.xlsx", sheet_name=None)
    assert sorted(f"{s}.csv" for s in sheets) == csvs
    for name in csvs:
        csv = pd.read_csv(out / name)
        pd.testing.assert_frame_equal(sheets[name[:-4]], csv, check_dtype=False, obj=name)
        parquet = pd.read_parquet(out / name.replace(".csv", ".parquet"))
        pd.testing.assert_frame_equal(parquet, csv, check_dtype=False, obj=name)


def test_format_xlsx_on_sweep_and_game(tmp_path):
    import pandas as pd

    out = tmp_path / "sweep"
    r = CliRunner().invoke(main, ["sweep", str(TINY), "--set",
                                  "price_floor.levels_usd_per_kg.X=[55],[60]", "--jobs", "1",
                                  "-o", str(out), "-q", "--format", "xlsx"])
    assert r.exit_code == 0, r.output
    sheet = pd.read_excel(out / "tables.xlsx", sheet_name="sweep")
    assert sheet["expected_cost_musd"].round(3).tolist() == [50.0, 10.0]
    costs = tmp_path / "costs.csv"
    costs.write_text("coalition,cost\nUS,10\nEU,20\nUS+EU,10\n")
    r = CliRunner().invoke(main, ["game", "--costs", str(costs), "-o", str(tmp_path / "g"),
                                  "--format", "parquet"])
    assert r.exit_code == 0, r.output
    alloc = pd.read_parquet(tmp_path / "g" / "allocations.parquet")
    assert dict(zip(alloc["player"], alloc["shapley"], strict=True)) == {"US": 0.0, "EU": 10.0}


def test_format_without_its_library_is_a_one_line_error(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    r = CliRunner().invoke(main, ["solve", str(TINY), "-o", str(tmp_path / "o"), "-q",
                                  "--format", "parquet"])
    assert r.exit_code == 2
    assert r.output == ("error: --format parquet: needs pyarrow, which is not installed; pip "
                        "install 'remech[tables]' (or drop --format)\n")
    assert not (tmp_path / "o").exists()


def test_new_scaffolds_an_instance_that_validates_and_solves(tmp_path):
    folder = tmp_path / "my-world"
    r = CliRunner().invoke(main, ["new", str(folder)])
    assert r.exit_code == 0, r.output
    assert (folder / "README.md").read_text().count("| column |") >= 8
    toml = (folder / "instance.toml").read_text()
    assert toml.count("#") >= 5 and 'name = "my-world"' in toml
    assert "assumption: template value" in (folder / "projects.csv").read_text()
    r = CliRunner().invoke(main, ["validate", str(folder), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["design"]["name"] == "my-world-design"
    r = CliRunner().invoke(main, ["solve", str(folder), "-o", str(tmp_path / "out"), "-q",
                                  "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # as written, the 80 USD/kg floor makes the new plant bankable (module doc)
    assert doc["floors_usd_per_kg"] == {"NDPR": 80.0}
    assert doc["supported_projects"] == ["NEW"]


def test_new_never_touches_an_existing_folder(tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep")
    for target, message in ((folder, "already exists; remech new writes a new folder only"),
                            (tmp_path / "no" / "x", "folder not found; create it first"),
                            (tmp_path / "bad name!", "not a usable instance name")):
        r = CliRunner().invoke(main, ["new", str(target)])
        assert r.exit_code == 2 and message in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    assert [p.name for p in folder.iterdir()] == ["mine.txt"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_fan_chart_history_and_readable_ticks(tmp_path):
    """NdPr's fan chart draws its own history (2021-2025), Nd oxide's as the proxy back to
    2011 and the dated quotes of the fact sheet; every source key drawn is in sources.csv;
    the log axis is labelled 20, 50, 100, 200 (never 2x10^2)."""
    import pandas as pd

    from remech.plots import fan_charts, history_for, price_ticks, tick_text
    from remech.scenarios import DATA

    h = history_for("NDPR")
    assert h["own"]["year"].tolist() == list(range(2021, 2026))
    assert h["proxy_code"] == "ND" and h["proxy"]["year"].min() == 2011
    assert h["markers"]["date"].min() == 2011.0 and h["markers"]["date"].max() > 2026
    assert {"S1", "S5", "S8", "S12", "S22"} <= set(h["sources"])
    known = set(pd.read_csv(DATA / "sources.csv")["key"])
    assert set(h["sources"]) <= known
    assert [tick_text(t) for t in price_ticks(15, 300)] == ["20", "50", "100", "200"]
    assert [tick_text(t) for t in price_ticks(150, 3500)] == ["200", "500", "1,000",
                                                               "2,000"]
    assert tick_text(0.5) == "0.5"
    from remech.instance import load_instance

    paths = fan_charts(load_instance(REAL), tmp_path)
    assert [p.name for p in paths] == ["fan_NDPR.png", "fan_DY.png", "fan_TB.png"]
    assert all(p.stat().st_size > 20_000 for p in paths)
