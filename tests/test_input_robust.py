"""Trustworthy input: the design and instance.toml schemas, non-finite and huge cells,
malformed CSV and TOML files, collected errors, shipped designs, portable instances."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import MODELS, REAL, ROOT, design, read, write
from remech.cli import main
from remech.design import load_design, shipped_designs
from remech.errors import InputError
from remech.schema import design_json_schema, instance_json_schema


def validate(folder, *extra):
    return CliRunner().invoke(main, ["validate", str(folder), *extra])


def errors(result) -> list[str]:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)
    return [line.removeprefix("error: ") for line in lines]


def edit_design(folder: Path, old: str, new: str) -> None:
    path = folder / "design.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# --- design files ---------------------------------------------------------------------

DESIGN_CASES = [
    ("misspelt key", "\n[security]\nmin_non_chinese_shares = 0.4\n",
     "design.toml [security] min_non_chinese_shares: unknown key; did you mean "
     "'min_non_chinese_share'?"),
    ("misspelt section", "\n[securty]\nmin_non_chinese_share = 0.4\n",
     "design.toml [securty]: unknown section; did you mean 'security'?"),
    ("nan", "\n[risk]\ncvar_weight = nan\n",
     "design.toml [risk] cvar_weight: nan is not a finite number; write a number (nan and "
     "inf are not allowed)"),
    ("inf in a map", "\n[security]\nmin_non_chinese_share = { X = inf }\n",
     "design.toml [security] min_non_chinese_share.X: inf is not a finite number; write a "
     "number (nan and inf are not allowed)"),
    ("share above 1", "\n[security]\nmax_single_country_share = 1.5\n",
     "design.toml [security] max_single_country_share: 1.5 is out of range; give a value "
     "between 0 and 1"),
    ("negative penalty", "\n[security]\nsoft = { min_non_chinese_share = -1 }\n",
     "design.toml [security] soft.min_non_chinese_share: -1 is out of range; give a value "
     ">= 0"),
    ("unknown soft target", "\n[security]\nsoft = { speed = 1 }\n",
     "design.toml [security] soft.speed: unknown target; use one of: min_non_chinese_share, "
     "max_single_country_share, stockpile_cover_days, reagent_limits"),
    ("string for a bool", '\n[risk]\ncvar_weight = "high"\n',
     "design.toml [risk] cvar_weight: 'high' has the wrong type; write a number"),
    ("section as a value", 'security = "x"\n',
     "design.toml [security]: 'x' is not a table; write it as a [security] section"),
    ("stockpile policy", '\n[stockpile]\npolicy = "trees"\n',
     "design.toml [stockpile] policy: 'trees' is not allowed; use one of: rule, tree, "
     "clairvoyant"),
]


@pytest.mark.parametrize(("label", "text", "message"), DESIGN_CASES,
                         ids=[c[0] for c in DESIGN_CASES])
def test_design_schema_errors(tiny, label, text, message):
    path = tiny / "design.toml"
    body = path.read_text()
    path.write_text(text + body if text.startswith("security") else body + text)
    assert errors(validate(tiny)) == [message]


def test_hurdle_rate_is_a_rate_and_levels_are_positive(tiny):
    edit_design(tiny, "hurdle_rate = 0.0", "hurdle_rate = 0.7")
    edit_design(tiny, "X = [60]", "X = [0, 60]")
    assert errors(validate(tiny)) == [
        "design.toml [price_floor] levels_usd_per_kg.X[0]: level 0 is not > 0; leave out 0: "
        "'none' is always on the menu",
        "design.toml [bankability] hurdle_rate: 0.7 is out of range; give a value between 0 "
        "and 0.5"]


def test_stockpile_policy_is_read(tiny):
    path = tiny / "design.toml"
    assert load_design(path).stockpile_policy == "rule"
    path.write_text(path.read_text() + '\n[stockpile]\npolicy = "clairvoyant"\n')
    assert load_design(path).stockpile_policy == "clairvoyant"


def test_every_shipped_design_passes_the_schema():
    names = shipped_designs()
    assert set(names) == {p.stem for p in MODELS.glob("*.toml")}
    for path in names.values():
        load_design(path)


@pytest.mark.parametrize(("kind", "schema"), [("design", design_json_schema),
                                             ("instance", instance_json_schema)])
def test_published_json_schema_is_the_generated_one(kind, schema):
    """docs/*.schema.json is what `remech schema KIND` prints; regenerate it with
    `remech schema design > docs/design.schema.json` after changing remech/schema.py."""
    committed = json.loads((ROOT / "docs" / f"{kind}.schema.json").read_text())
    assert committed == schema()
    result = CliRunner().invoke(main, ["schema", kind])
    assert result.exit_code == 0 and json.loads(result.stdout) == committed
    if kind == "design":
        sections = committed["properties"]
        assert "stockpile" in sections and committed["additionalProperties"] is False


# --- instance.toml --------------------------------------------------------------------

def edit_root(folder: Path, old: str, new: str) -> None:
    path = folder / "instance.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


ROOT_CASES = [
    ("misspelt key", "first_year", "frist_year", [
        "instance.toml [instance] has no 'first_year'; add 'first_year = ...' under "
        "[instance]",
        "instance.toml [instance] frist_year: unknown key; did you mean 'first_year'?"]),
    ("non-table section", "[instance]", 'security = "x"\n[instance]', [
        "instance.toml [security]: unknown section; use one of: instance"]),
    ("default_model a number", 'default_model = "design.toml"', "default_model = 5", [
        "instance.toml [instance] default_model: 5 has the wrong type; write text in quotes"]),
    ("nan rate", "discount_rate = 0.0", "discount_rate = nan", [
        "instance.toml [instance] discount_rate: nan is not a finite number; write a number "
        "(nan and inf are not allowed)"]),
    ("horizon over 100 years", "first_year = 2030", "first_year = 1920", [
        "instance.toml: the horizon 1920-2030 spans 111 years; give at most 100 years "
        "(first_year/last_year)"]),
    ("year out of range", "last_year = 2030", "last_year = 20300", [
        "instance.toml [instance] last_year: 20300 is out of range; give a value between "
        "1900 and 2200"]),
]


@pytest.mark.parametrize(("label", "old", "new", "message"), ROOT_CASES,
                         ids=[c[0] for c in ROOT_CASES])
def test_instance_toml_errors(tiny, label, old, new, message):
    edit_root(tiny, old, new)
    assert errors(validate(tiny)) == message


def test_byte_order_marks_are_accepted(tiny):
    for name in ("instance.toml", "design.toml", "projects.csv", "prices.csv"):
        path = tiny / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert validate(tiny).exit_code == 0


def test_non_utf8_files_are_named(tiny):
    path = tiny / "instance.toml"
    path.write_bytes(path.read_bytes().replace(b"Hand-computable", b"H\xe9nd"))
    path = tiny / "projects.csv"
    path.write_bytes(path.read_bytes().replace(b"Test refinery", b"Raffinerie \xe9"))
    assert errors(validate(tiny)) == [
        "instance.toml: is not UTF-8 text (byte 0xe9 in line 5); save it as UTF-8"]
    (tiny / "instance.toml").write_text((ROOT / "instances/tiny-floor/instance.toml")
                                        .read_text())
    assert errors(validate(tiny)) == [
        "projects.csv: is not UTF-8 text (byte 0xe9 in line 2); save it as UTF-8 (in a "
        "spreadsheet: 'CSV UTF-8')"]


def test_unreadable_file(tiny, monkeypatch):
    real = Path.read_bytes

    def deny(self):
        if self.name == "demand.csv":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert errors(validate(tiny)) == [
        "demand.csv: cannot be read (Permission denied); check that it is a readable file"]


# --- table cells ----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e309", "Infinity"])
def test_non_finite_cells_are_rejected(tiny, value):
    df = read(tiny, "projects.csv")
    df.loc[0, "capacity_t"] = value
    write(tiny, "projects.csv", df)
    assert errors(validate(tiny)) == [
        f"projects.csv row 2, column 'capacity_t': '{value}' is not a finite number; write "
        "nameplate output in t/yr as a number (nan and inf are not allowed)"]


def test_values_above_the_documented_bound(tiny):
    df = read(tiny, "prices.csv")
    df.loc[0, "price_usd_per_kg"] = "2e6"
    write(tiny, "prices.csv", df)
    assert errors(validate(tiny)) == [
        "prices.csv row 2, column 'price_usd_per_kg': 2e6 is out of range; price_usd_per_kg "
        "must be <= 1e+06 (a sanity bound; check the unit)"]


def test_trailing_comma_is_accepted_and_an_extra_field_is_not(tiny):
    path = tiny / "supply.csv"
    path.write_text("".join(line + ",\n" for line in path.read_text().splitlines()))
    assert validate(tiny).exit_code == 0
    path = tiny / "demand.csv"
    path.write_text(path.read_text().rstrip("\n") + ",oops\n")
    assert errors(validate(tiny)) == [
        "demand.csv row 2: 6 fields but the header has 5; remove the extra fields or quote a "
        "cell that holds a comma"]


def test_errors_of_every_table_are_collected(tiny):
    df = read(tiny, "projects.csv")
    df.loc[0, "capacity_t"] = "nan"
    df.loc[0, "ramp_years"] = "two"
    write(tiny, "projects.csv", df)
    df = read(tiny, "prices.csv")
    df["price_usd_per_kg"] = "-1"
    write(tiny, "prices.csv", df)
    lines = errors(validate(tiny))
    assert lines == [
        "projects.csv row 2, column 'capacity_t': 'nan' is not a finite number; write "
        "nameplate output in t/yr as a number (nan and inf are not allowed)",
        "projects.csv row 2, column 'ramp_years': 'two' is not a whole number; write "
        "ramp_years as a whole number",
        "prices.csv row 2, column 'price_usd_per_kg': -1 is out of range; price_usd_per_kg "
        "must be > 0",
        "prices.csv row 3, column 'price_usd_per_kg': -1 is out of range; price_usd_per_kg "
        "must be > 0"]


def test_collected_errors_stop_at_the_limit(tiny):
    df = read(tiny, "prices.csv")
    df = df.loc[[0] * 30].reset_index(drop=True)
    df["price_usd_per_kg"] = "x"
    write(tiny, "prices.csv", df)
    lines = errors(validate(tiny))
    assert len(lines) == 21
    assert lines[-1].startswith("... and 10 more problem(s) not shown")


def test_cross_table_errors_are_collected(tiny):
    df = read(tiny, "projects.csv")
    df.loc[0, "host"] = "Brasil"
    write(tiny, "projects.csv", df)
    df = read(tiny, "demand.csv")
    df.loc[0, "product"] = "NdPr"
    write(tiny, "demand.csv", df)
    assert errors(validate(tiny)) == [
        "projects.csv row 2, column 'host': host 'Brasil' is not known; use one of: US",
        "demand.csv row 2, column 'product': product 'NdPr' is not known; use one of: X"]


def test_a_build_failure_is_bad_input_not_a_traceback(tiny, monkeypatch):
    import remech.run

    def broken(data):
        raise ValueError("coefficient is nan")

    monkeypatch.setattr(remech.run, "build_model", broken)
    assert errors(validate(tiny)) == [
        "tiny with design.toml: the model cannot be built (ValueError: coefficient is nan); "
        "check the values these files give, and report it with the files if they look right "
        "(--debug shows the traceback)"]


# --- shipped designs and portable instances -------------------------------------------

def test_default_model_may_name_a_shipped_design(tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(REAL, dest, ignore=shutil.ignore_patterns("*.py"))
    assert 'default_model = "floor-stockpile-grants"' in (dest / "instance.toml").read_text()
    result = validate(dest)
    assert result.exit_code == 0, result.output
    assert "with design floor-stockpile-grants" in result.stdout
    result = validate(dest, "-m", "floor-only")  # a shipped name works for --model too
    assert result.exit_code == 0 and "with design floor-only" in result.stdout


def test_unknown_design_name_lists_the_shipped_ones(tiny):
    edit_root(tiny, '"design.toml"', '"floor-stockpile-grant"')
    (line,) = errors(validate(tiny))
    assert "floor-stockpile-grant: design file not found" in line
    assert "floor-stockpile-grants" in line


def test_generated_instance_names_the_shipped_design(tmp_path):
    out = tmp_path / "gen"
    result = CliRunner().invoke(main, ["scenarios", "generate", str(REAL), "-n", "3",
                                       "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert 'default_model = "floor-stockpile-grants"' in (out / "instance.toml").read_text()
    moved = tmp_path / "elsewhere" / "gen"
    shutil.move(out, moved)
    assert validate(moved).exit_code == 0


def test_copy_of_an_instance_carries_a_design_from_outside(tiny, tmp_path):
    """A default design outside the folder and not shipped is copied into the new one."""
    from remech.instance import load_instance
    from remech.scenarios import write_instance

    outside = tmp_path / "mine.toml"
    shutil.move(tiny / "design.toml", outside)
    edit_root(tiny, '"design.toml"', f'"{outside.as_posix()}"')
    new = tmp_path / "new"
    write_instance(load_instance(tiny), {}, new, force=False)
    assert 'default_model = "mine.toml"' in (new / "instance.toml").read_text()
    assert (new / "mine.toml").read_bytes() == outside.read_bytes()
    outside.unlink()
    assert validate(new).exit_code == 0


def test_design_function_still_writes_the_default(tiny):
    design(tiny, extra="[stockpile]\npolicy = \"tree\"\n")
    assert load_design(tiny / "design.toml").stockpile_policy == "tree"


def test_load_design_error_is_input_error(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text("[bankability]\ntail_years = 3.5\n")
    with pytest.raises(InputError, match=r"tail_years: 3.5 has the wrong type; write a whole"):
        load_design(path)
