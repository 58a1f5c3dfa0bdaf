"""Bad input: one line naming the file, the row or field, the bad value and the fix;
exit code 2; no traceback. Checked through the CLI as a user meets them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import read, write
from remech.cli import main


def run_validate(folder, *extra):
    result = CliRunner().invoke(main, ["validate", str(folder), *extra])
    return result


def edit(folder, name, column, value, row=0):
    df = read(folder, name)
    df.loc[row, column] = value
    write(folder, name, df)


CASES = [
    ("missing column",
     lambda f: write(f, "projects.csv", read(f, "projects.csv").drop(columns=["capex_musd"])),
     "projects.csv: missing column 'capex_musd'; add it to the header (expected columns: "
     "project, plant, name, host, product, stage, status, capacity_t, start_year, "
     "ramp_years, unit_cost_usd_per_kg, capex_musd, source)"),
    ("wrong type",
     lambda f: edit(f, "projects.csv", "capacity_t", "lots"),
     "projects.csv row 2, column 'capacity_t': 'lots' is not a number; write nameplate "
     "output in t/yr as a number"),
    ("negative capacity",
     lambda f: edit(f, "projects.csv", "capacity_t", "-5"),
     "projects.csv row 2, column 'capacity_t': -5 is out of range; capacity_t must be >= 0"),
    ("unknown host",
     lambda f: edit(f, "projects.csv", "host", "Brasil"),
     "projects.csv row 2, column 'host': host 'Brasil' is not known; use one of: US"),
    ("unknown product",
     lambda f: edit(f, "demand.csv", "product", "NdPr"),
     "demand.csv row 2, column 'product': product 'NdPr' is not known; use one of: X"),
    ("bad status",
     lambda f: edit(f, "projects.csv", "status", "planned"),
     "projects.csv row 2, column 'status': 'planned' is not allowed; use one of: existing, new"),
    ("probabilities",
     lambda f: edit(f, "scenarios.csv", "probability", "0.6"),
     "scenarios.csv column 'probability': probabilities sum to 1.1, not 1; rescale the column "
     "'probability' so that it sums to 1"),
    ("year outside horizon",
     lambda f: edit(f, "demand.csv", "year", "2040"),
     "demand.csv row 2, column 'year': year 2040 is outside the horizon; use years 2030-2030 "
     "(instance.toml first_year/last_year)"),
    ("missing price",
     lambda f: write(f, "prices.csv", read(f, "prices.csv").iloc[:1]),
     "prices.csv: 1 row(s) missing, first: scenario=cut, year=2030, product=X; give one row "
     "for every scenario, year, product"),
    ("unknown source key",
     lambda f: edit(f, "products.csv", "source", "USGS [S999]"),
     "products.csv row 2, column 'source': source key 'S999' is not in sources.csv; add it "
     "to sources.csv or fix the key"),
    ("source without key",
     lambda f: edit(f, "products.csv", "source", "some website"),
     "products.csv row 2, column 'source': source 'some website' cites no source key; cite "
     "keys from sources.csv in brackets, e.g. [S1], or start the cell with 'assumption:' and "
     "say what was assumed"),
    ("duplicate project",
     lambda f: write(f, "projects.csv", read(f, "projects.csv").iloc[[0, 0]]),
     "projects.csv row 3: duplicate entry (project=P1); keep one row per project"),
    ("non-ascending floor menu",
     lambda f: (f / "design.toml").write_text(
         (f / "design.toml").read_text().replace("X = [60]", "X = [60, 50]")),
     "design.toml [price_floor] levels_usd_per_kg.X: levels do not ascend (60 then 50); list "
     "the levels from lowest to highest, each once"),
    ("design names an unknown product",
     lambda f: (f / "design.toml").write_text(
         (f / "design.toml").read_text().replace("X = [60]", "X = [60], NDPR = [80]")),
     "design.toml [price_floor] levels_usd_per_kg.NDPR: 'NDPR' is not in the instance; use "
     "one of: X"),
    ("bad design option",
     lambda f: (f / "design.toml").write_text(
         (f / "design.toml").read_text().replace('test = "expected"', 'test = "median"')),
     "design.toml [bankability] test: 'median' is not allowed; use one of: expected, "
     "quantile, worst"),
]


@pytest.mark.parametrize(("label", "breakit", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_2(tiny, label, breakit, message):
    breakit(tiny)
    result = run_validate(tiny)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {message}"]
    assert "Traceback" not in result.output


def test_missing_file_names_the_folder(tiny):
    (tiny / "prices.csv").unlink()
    result = run_validate(tiny)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: prices.csv: file not found; create it in {tiny} "
                                     "(see README, 'Instance format')")


def test_missing_instance_folder(tmp_path):
    result = run_validate(tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nowhere'}: instance folder not found")


def test_debug_shows_the_traceback(tiny):
    edit(tiny, "projects.csv", "host", "Brasil")
    result = CliRunner().invoke(main, ["validate", str(tiny), "--debug"])
    assert result.exit_code != 0
    assert result.exc_info is not None and "Brasil" in str(result.exc_info[1])


def test_valid_instance_reports_its_size(tiny):
    result = run_validate(tiny)
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: tiny-floor with design tiny-floor: 2 scenarios, "
                                    "1 years, 1 products, 1 projects, 1 plants, 1 allies")
