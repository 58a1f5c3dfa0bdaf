"""--set overrides: the same solve as editing the file, recorded with the effective hashes,
checked with the files' one-line errors.

Hand computation on instances/tiny-floor (see tests/test_handcomputed.py): with the floor
menu {none, L} the project is bankable for L >= 60 (expected NPV 0.5 (L - 50) + 0.5 x 30
- 20 = 0.5 L - 30); the expected top-up is 0.5 x (L - 40) MUSD, so L = 70 costs 15 MUSD.
With a shortfall penalty of 10 USD/kg the shortfall in the cut scenario costs only
0.5 x 1000 t x 10 USD/kg = 5 MUSD < 10 MUSD of top-ups: no floor, cost 5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import TINY, read, write
from remech.cli import main
from remech.design import load_design
from remech.errors import InputError
from remech.instance import load_instance
from remech.overrides import as_overrides, parse_value, split_values

FLOOR_70 = "price_floor.levels_usd_per_kg.X=[70]"
PENALTY_10 = "instance.products.X.shortfall_penalty_usd_per_kg=10"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def solve_cli(instance: Path, out: Path, *extra) -> dict:
    r = invoke("solve", instance, "-o", out, "-q", *extra)
    assert r.exit_code == 0, r.output
    return json.loads((out / "mechanism.json").read_text())


def test_design_override_equals_editing_the_file(tmp_path, tiny):
    base = solve_cli(tiny, tmp_path / "base")
    over = solve_cli(tiny, tmp_path / "over", "--set", FLOOR_70)
    edited = tmp_path / "edited"
    shutil.copytree(tiny, edited)
    text = (edited / "design.toml").read_text()
    (edited / "design.toml").write_text(
        "# edited by hand\n" + text.replace("{ X = [60] }", "{ X = [70.0] }"))
    by_hand = solve_cli(edited, tmp_path / "by-hand")

    assert over["costs"]["expected_cost_musd"] == pytest.approx(15.0, abs=1e-6)
    assert over["objective_musd"] == pytest.approx(by_hand["objective_musd"], abs=1e-9)
    assert over["floors_usd_per_kg"] == by_hand["floors_usd_per_kg"] == {"X": 70.0}
    d_over, d_hand, d_base = over["design"], by_hand["design"], base["design"]
    assert d_over["overrides"] == {"price_floor.levels_usd_per_kg.X": [70]}
    assert d_hand["overrides"] == {} and d_base["overrides"] == {}
    # the file solved is the unmodified one; what was solved is the edited design
    assert d_over["sha256"] == d_base["sha256"] != d_hand["sha256"]
    assert d_over["effective_sha256"] == d_hand["effective_sha256"]
    assert d_over["effective_sha256"] != d_base["effective_sha256"]
    assert over["instance"]["effective_sha256"] == over["instance"]["sha256"]


def test_instance_override_equals_editing_the_table(tmp_path, tiny):
    over = solve_cli(tiny, tmp_path / "over", "--set", PENALTY_10)
    edited = tmp_path / "edited"
    shutil.copytree(tiny, edited)
    products = read(edited, "products.csv")
    products.loc[0, "shortfall_penalty_usd_per_kg"] = "10"
    write(edited, "products.csv", products)
    by_hand = solve_cli(edited, tmp_path / "by-hand")

    assert over["costs"]["expected_cost_musd"] == pytest.approx(5.0, abs=1e-6)
    assert over["floors_usd_per_kg"] == by_hand["floors_usd_per_kg"] == {"X": None}
    assert over["objective_musd"] == pytest.approx(by_hand["objective_musd"], abs=1e-9)
    inst = over["instance"]
    assert inst["overrides"] == {"instance.products.X.shortfall_penalty_usd_per_kg": 10}
    assert inst["sha256"] == load_instance(tiny).sha256  # the files as they are
    assert inst["effective_sha256"] != inst["sha256"]
    assert over["design"]["overrides"] == {}


def test_summary_names_the_overrides(tmp_path, tiny):
    r = invoke("solve", tiny, "-o", tmp_path / "o", "-q", "--set", FLOOR_70, "--set",
               "objective.view=economic")
    assert r.exit_code == 0, r.output
    assert ("overrides     price_floor.levels_usd_per_kg.X=[70], objective.view=economic"
            in r.output)
    assert "minimised: economic" in r.output


def test_overrides_leave_files_and_loaded_objects_alone(tiny):
    before = (tiny / "design.toml").read_bytes(), (tiny / "products.csv").read_bytes()
    inst = load_instance(tiny)
    changed = load_instance(tiny, {"instance.products.X.shortfall_penalty_usd_per_kg": 10,
                                   "instance.allies.US.budget_cap_musd": None,
                                   "instance.discount_rate": 0.05})
    assert float(changed.products.loc[0, "shortfall_penalty_usd_per_kg"]) == 10.0
    assert float(inst.products.loc[0, "shortfall_penalty_usd_per_kg"]) == 100.0
    assert changed.discount_rate == 0.05 and inst.discount_rate == 0.0
    d = load_design(tiny / "design.toml", {"objective.view": "economic", "risk.cvar_weight": 0.3,
                                           "instance.discount_rate": 0.05})
    assert (d.objective_view, d.cvar_weight) == ("economic", 0.3)
    assert d.overrides == {"objective.view": "economic", "risk.cvar_weight": 0.3}
    assert before == ((tiny / "design.toml").read_bytes(), (tiny / "products.csv").read_bytes())


@pytest.mark.parametrize(("given", "message"), [
    ("price_floor.levels_usd_per_kg.X=[-1]",
     "--set price_floor.levels_usd_per_kg.X=[-1]: [price_floor] levels_usd_per_kg.X[0]: "
     "level -1 is not > 0; leave out 0: 'none' is always on the menu"),
    ("objective.veiw=economic",
     "--set objective.veiw=economic: [objective] veiw: unknown key; did you mean 'view'?"),
    ("objective.view=cheap",
     "--set objective.view=cheap: [objective] view: 'cheap' is not allowed; use one of: "
     "fiscal, economic"),
    ("price_floor.levels_usd_per_kg.Y=[60]",
     "design.toml [price_floor] levels_usd_per_kg.Y: 'Y' is not in the instance; use one "
     "of: X (with --set price_floor.levels_usd_per_kg.Y=[60])"),
    ("instance.products.X.shortfall_penalty_usd_per_kg=-5",
     "--set instance.products.X.shortfall_penalty_usd_per_kg=-5: -5 is out of range; "
     "shortfall_penalty_usd_per_kg must be > 0"),
    ("instance.products.Z.shortfall_penalty_usd_per_kg=5",
     "--set instance.products.Z.shortfall_penalty_usd_per_kg=5: product 'Z' is not in "
     "products.csv; use one of: X"),
    ("instance.products.X.penalty=5",
     "--set instance.products.X.penalty=5: products.csv has no column 'penalty' to "
     "override; use one of: name, stage, shortfall_penalty_usd_per_kg"),
    ("instance.discount_rate=2",
     "--set instance.discount_rate=2: [instance] discount_rate: 2 is out of range; give a "
     "rate as a fraction, e.g. 0.05 for 5 %"),
    ("instance.projects.P1.host=XX",
     "projects.csv row 2, column 'host': host 'XX' is not known; use one of: US (with "
     "--set instance.projects.P1.host=XX)"),
    ("instance.first_year=2029", "--set instance.first_year=2029: unknown instance key "
     "'first_year'; use instance.discount_rate/cut_severity/cut_probability or "
     "instance.TABLE.ROW.COLUMN"),
    ("noequals", "--set noequals: not KEY=VALUE; write e.g. "
     "--set price_floor.levels_usd_per_kg.NDPR=[80]"),
    ("price_floor.levels_usd_per_kg.X=[60", "--set price_floor.levels_usd_per_kg.X=[60: "
     "'[60' is not a TOML value"),
    ("risk.cvar_weight=0.1,0.2", "--set risk.cvar_weight=0.1,0.2: several values; give one "
     "value per key here (remech sweep solves several)"),
])
def test_bad_overrides_are_one_line_errors(tmp_path, given, message):
    out = tmp_path / "out"
    r = invoke("solve", TINY, "-o", out, "-q", "--set", given)
    assert r.exit_code == 2, r.output
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"error: {message}"), r.stderr
    assert "Traceback" not in r.output and not out.exists()


def test_a_key_given_twice_is_refused():
    with pytest.raises(InputError, match="--set objective.view: given twice"):
        as_overrides(["objective.view=economic", "objective.view=fiscal"])


def test_values_parse_as_toml_or_text():
    assert parse_value("[80]", "x") == [80]
    assert parse_value("0.3", "x") == 0.3
    assert parse_value("false", "x") is False
    assert parse_value("economic", "x") == "economic"
    assert parse_value('"two words"', "x") == "two words"
    assert parse_value("", "x") == ""
    assert split_values("[50],[60, 70], economic ,\"a,b\"") == ["[50]", "[60, 70]", "economic",
                                                              '"a,b"']


def test_validate_takes_overrides(tiny):
    r = invoke("validate", tiny, "--set", "instruments.price_floor=false")
    assert r.exit_code == 0, r.output
    r = invoke("validate", tiny, "--set", "instruments.price_floor=maybe")
    assert r.exit_code == 2
    assert "--set instruments.price_floor=maybe: [instruments] price_floor: 'maybe' has the " \
           "wrong type; write true or false" in r.stderr


def test_core_rule_solves_the_coalitions_with_the_overrides(tmp_path, tiny):
    """One ally: its stand-alone cost is the grand coalition's, under the overrides."""
    mech = solve_cli(tiny, tmp_path / "o", "--set", "burden_sharing.rule=core", "--set",
                     FLOOR_70, "--cache", tmp_path / "cache")
    assert mech["burden_sharing"]["stand_alone_musd"]["US"] == pytest.approx(15.0, abs=1e-4)


def test_simulate_runs_a_mechanism_with_its_overrides(tmp_path, tiny):
    solve_cli(tiny, tmp_path / "o", "--set", FLOOR_70)
    r = invoke("simulate", tmp_path / "o", tiny, "--json", "-q", "--jobs", "1")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["cost"]["mean_musd"] == pytest.approx(15.0, abs=1e-6)
    assert report["design"]["overrides"] == {"price_floor.levels_usd_per_kg.X": [70]}


def test_report_states_the_overrides(tmp_path, tiny):
    out = tmp_path / "o"
    mech = solve_cli(tiny, out, "--set", FLOOR_70)
    r = invoke("report", out)
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    assert ("Overrides applied to these files for this solve (--set): "
            "price_floor.levels_usd_per_kg.X = [70]; effective SHA-256 of the design "
            f"{mech['design']['effective_sha256'][:12]}...") in md
    assert "X, Test oxide: price floor 70 USD/kg" in md


def _same(a: dict, b: dict) -> None:
    for doc in (a, b):
        doc.pop("timings_s", None)
        doc["solver"].pop("timings_s", None)
    assert a == b


def test_report_set_is_a_what_if_resolve_into_a_new_folder(tiny, tmp_path):
    """remech report OUTDIR --set K=V --into NEW: the solve of OUTDIR's instance and design
    again, with OUTDIR's overrides plus the new ones, exactly as remech solve --set would
    (floor 70 -> cost 15; plus penalty 10 -> no floor, cost 5), reported; OUTDIR untouched."""
    out, new, ref = tmp_path / "out", tmp_path / "what-if", tmp_path / "ref"
    solve_cli(tiny, out, "--set", FLOOR_70)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    r = invoke("report", out, "--set", PENALTY_10, "--into", new)
    assert r.exit_code == 0, r.output
    assert f"re-solved with {PENALTY_10}: optimal, expected cost 5.0 MUSD" in r.output
    assert (new / "report.html").is_file() and (new / "report.md").is_file()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not (out / "report.html").exists()
    doc = json.loads((new / "mechanism.json").read_text())
    assert doc["design"]["overrides"] == {"price_floor.levels_usd_per_kg.X": [70]}
    assert doc["instance"]["overrides"] == {
        "instance.products.X.shortfall_penalty_usd_per_kg": 10}
    assert doc["costs"]["expected_cost_musd"] == pytest.approx(5.0)
    _same(doc, solve_cli(tiny, ref, "--set", FLOOR_70, "--set", PENALTY_10))
    # a new value of a key OUTDIR was solved with replaces it
    r = invoke("report", out, "--set", "price_floor.levels_usd_per_kg.X=[60]", "--into", new,
               "--force")
    assert r.exit_code == 0, r.output
    doc = json.loads((new / "mechanism.json").read_text())
    assert doc["design"]["overrides"] == {"price_floor.levels_usd_per_kg.X": [60]}
    assert doc["costs"]["expected_cost_musd"] == pytest.approx(10.0)


@pytest.mark.parametrize("args, message", [
    (["--set", PENALTY_10], "say where the new result goes with --into NEWDIR"),
    (["--into", "NEW"], "--into: only with --set"),
    (["--set", "nope.x=1", "--into", "NEW"], "--set nope.x=1: [nope]: unknown section"),
    (["--set", PENALTY_10, "--into", "OUT"], "that is OUTDIR; the what-if result goes to a "
                                             "new folder"),
    (["--set", PENALTY_10, "--into", "EXISTING"], "--into {EXISTING}: folder exists and is "
                                                  "not a remech result"),
])
def test_report_set_errors(tiny, tmp_path, args, message):
    out = tmp_path / "out"
    solve_cli(tiny, out)
    (tmp_path / "EXISTING").mkdir()
    (tmp_path / "EXISTING" / "notes.txt").write_text("mine")
    names = {"NEW": tmp_path / "new", "OUT": out, "EXISTING": tmp_path / "EXISTING"}
    r = invoke("report", out, *[names.get(a, a) for a in args])
    assert r.exit_code == 2, r.output
    assert message.replace("{EXISTING}", str(tmp_path / "EXISTING")) in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()
