"""Infeasibility in the user's words: the conflicting target or limit, with its product,
ally or project and a hint, first; the Pyomo names in brackets."""

from __future__ import annotations

from click.testing import CliRunner

from conftest import design, read, write
from remech.cli import main
from remech.diagnose import explain
from remech.run import solve_files


def test_an_infeasible_target_is_named_with_product_and_hint(tiny, tmp_path):
    design(tiny, floor=False, extra="[security]\nmax_expected_shortfall_share = { X = 0.1 }\n")
    result = CliRunner().invoke(main, ["solve", str(tiny), "-o", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 4
    conflict = [ln for ln in result.stdout.splitlines() if ln.startswith("conflicting")]
    assert conflict and conflict[0].startswith(
        "conflicting   hard target max_expected_shortfall_share = 0.1 for X cannot hold: the "
        "expected shortfall over the horizon must be at most 100 t; loosen it (design "
        "[security]), or allow instruments and supply that close the gap (floors, "
        "stockpile, grants, projects) (c_security[0])")


def test_a_budget_cap_in_the_conflict_is_named(tiny):
    design(tiny, extra="[security]\nmax_expected_shortfall_share = 0.0\n")
    allies = read(tiny, "allies.csv")
    allies.loc[0, "budget_cap_musd"] = "1"
    write(tiny, "allies.csv", allies)
    run = solve_files(tiny)
    assert run.result.status == "infeasible"
    lines = run.result.conflict
    assert lines[0].startswith("hard target max_expected_shortfall_share = 0 for X")
    assert lines[1] == ("budget cap of US: 1.0 MUSD (allies.csv budget_cap_musd); raise the "
                        "cap or leave it blank (no cap) (bound of contribution_musd[0])")
    assert run.mechanism["conflict"] == lines


def test_the_cause_survives_the_limit_and_repeats_are_grouped(tiny):
    run = solve_files(tiny)  # any ModelData of the tiny instance
    data = run.data
    data.min_non_chinese_share[0] = 0.9
    items = [("c_balance", (s, 0, 0), "row") for s in range(2)] + \
        [("shortfall_t", (s, 0, 0), "bound") for s in range(2)] + \
        [("mystery_row", (), "row")] * 3 + [("c_target_non_chinese", (1, 0, 0), "row")]
    lines = explain(items, data, limit=2)
    assert lines[0].startswith("hard target min_non_chinese_share = 0.9 for X cannot hold "
                               "in 2030, scenario cut: China may then deliver at most 100 t; "
                               "make it soft ([security] soft = { min_non_chinese_share = 50 }")
    assert lines[1].endswith("(bound of shortfall_t[0,0,0] and 1 more like it)")
    assert lines[2] == "... and 2 more group(s) of constraints"


def test_integer_only_conflicts_point_at_the_floor_rules(tiny):
    path = design(tiny)
    path.write_text(path.read_text().replace(
        "levels_usd_per_kg = { X = [60] }",
        'levels_usd_per_kg = { X = [60] }\neligible_projects = []\nmandatory_floor = ["X"]'))
    run = solve_files(tiny)
    assert run.result.status == "infeasible"
    assert any("mandatory_floor" in line for line in run.result.conflict)


def test_integer_conflict_names_the_hard_targets(tiny):
    # one 1000 t US project: a shortfall of at most 20 % needs it, a 65 % cap per country
    # forbids it; the LP relaxation supports 65 % of it, so there is no IIS to show
    path = design(tiny, extra="[security]\nmax_single_country_share = 0.65\n"
                              "max_expected_shortfall_share = 0.2\n")
    assert path.exists()
    run = solve_files(tiny)
    assert run.result.status == "infeasible" and not run.result.conflict_items
    assert run.result.conflict == [
        "the LP relaxation is feasible, so the yes/no choices (floor levels, supported "
        "projects, stockpile builds) cannot meet every constraint together; the hard targets "
        "in play: max_expected_shortfall_share = 0.2 for X, max_single_country_share = 0.65 "
        "for X: loosen one, make a share or cover target soft ([security] soft), or add "
        "supply"]
