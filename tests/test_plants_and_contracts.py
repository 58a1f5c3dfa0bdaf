"""Cost tiers (output that responds to price) and floor contract terms, by hand.

Worlds derived from instances/tiny-floor: one ally, product X (shortfall penalty 100
USD/kg), no discounting, hurdle rate 0. 1 t x 1 USD/kg = 1e-3 MUSD.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import design, read, solve, write
from remech.cli import main
from remech.design import load_design
from remech.instance import load_instance
from remech.model.price_floor import FLOOR_TIE_BREAK
from remech.model.reserve import _sources
from remech.prepare import prepare

TOL = dict(rel=1e-6, abs=1e-6)
SRC = "assumption: test data"


def cost(run) -> float:
    floor = run.mechanism["floors_usd_per_kg"]["X"] or 0.0
    return run.result.objective_musd - FLOOR_TIE_BREAK * floor


def data_of(folder, model):
    return prepare(load_instance(folder), load_design(model))


def option(data, level: float) -> int:
    """The support option of P1 at a floor level (0: none)."""
    hits = [o for o, e in enumerate(data.options.entry) if e.level_usd_per_kg == level]
    assert len(hits) == 1, [e.level_usd_per_kg for e in data.options.entry]
    return hits[0]


# ----------------------------------------------------------------------------- cost tiers


def two_tier_plant(folder):
    """P1 existing, 1000 t/yr in two tiers: A 40 % at 30 USD/kg, B 60 % at 60 USD/kg
    (mean 48). Four equally likely scenarios, China cut in all of them (shortfall =
    1000 t - P1's output): prices 20 (no tier runs), 30 (A: its cost, exactly covered),
    40 (A), 80 (A and B)."""
    pj = read(folder, "projects.csv")
    pj.loc[0, ["status", "capex_musd", "unit_cost_usd_per_kg"]] = ["existing", "0", "48"]
    write(folder, "projects.csv", pj)
    write(folder, "cost_tiers.csv", [
        {"project": "P1", "tier": "A", "share_of_capacity": 0.4, "unit_cost_usd_per_kg": 30,
         "source": SRC},
        {"project": "P1", "tier": "B", "share_of_capacity": 0.6, "unit_cost_usd_per_kg": 60,
         "source": SRC}])
    prices = {"p20": 20, "p30": 30, "p40": 40, "p80": 80}
    write(folder, "scenarios.csv", [{"scenario": s, "probability": 0.25, "description": "",
                                     "source": SRC} for s in prices])
    write(folder, "prices.csv", [{"scenario": s, "year": 2030, "product": "X",
                                  "price_usd_per_kg": p, "source": SRC}
                                 for s, p in prices.items()])
    write(folder, "availability.csv", [{"scenario": s, "year": 2030, "product": "X",
                                        "china_availability": 0, "source": SRC}
                                       for s in prices])
    return folder


def test_two_tier_plant_output_share_per_price_band(tiny):
    # at market: 0, 400 (30 covers A exactly), 400, 1000 t; under a 50 floor A runs in
    # every scenario (400, 400, 400, 1000 t) and the top-up is paid on those 400 t only:
    # 400 x 30, 20, 10 USD/kg = 12, 8, 4 MUSD; under 60 both tiers run (1000 t each year),
    # top-up 1000 x 40, 30, 20 = 40, 30, 20 MUSD.
    two_tier_plant(tiny)
    data = data_of(tiny, levels(tiny, "[50, 60]"))
    assert data.outside_output_t[0, :, 0].tolist() == [0.0, 400.0, 400.0, 1000.0]
    o50, o60 = option(data, 50.0), option(data, 60.0)
    assert data.options.output_t[o50, :, 0].tolist() == [400.0, 400.0, 400.0, 1000.0]
    assert data.options.topup_musd[o50, :, 0] == pytest.approx([12.0, 8.0, 4.0, 0.0])
    assert data.options.output_t[o60, :, 0].tolist() == [1000.0] * 4
    assert data.options.topup_musd[o60, :, 0] == pytest.approx([40.0, 30.0, 20.0, 0.0])
    # margins: floor 50: A earns 400 x 20 = 8 MUSD in the first three, at 80 A 400 x 50 +
    # B 600 x 20 = 32 -> expected 14; floor 60: A 400 x 30 + B 0 = 12 three times, 32 ->
    # expected 17
    # one line per plant: line row o is plant option o
    assert data.plant_options.npv_test_musd[o50] == pytest.approx(14.0, **TOL)
    assert data.plant_options.npv_test_musd[o60] == pytest.approx(17.0, **TOL)


def levels(folder, menu: str):
    """The test design (floor, no stockpile) with the floor menu ``menu`` for X."""
    path = design(folder)
    path.write_text(path.read_text().replace("X = [60]", f"X = {menu}"))
    return path


def test_two_tier_plant_solved(tiny):
    # no floor: expected shortfall (1000 + 600 + 600 + 0) / 4 = 550 t x 100 = 55 MUSD;
    # floor 50: top-up (12 + 8 + 4) / 4 = 6 + shortfall 600 t x 3/4 x 0.1 = 45 -> 51;
    # floor 60: top-up (40 + 30 + 20) / 4 = 22.5, no shortfall -> 22.5 (the optimum)
    two_tier_plant(tiny)
    run = solve(tiny, levels(tiny, "[50, 60]"))
    assert cost(run) == pytest.approx(22.5, **TOL)
    assert run.mechanism["floors_usd_per_kg"] == {"X": 60.0}
    projects = run.mechanism["projects"]
    assert projects[0]["expected_output_t"] == pytest.approx(1000.0)
    assert projects[0]["expected_capacity_use"] == pytest.approx(1.0)
    none = solve(tiny, design(tiny, floor=False))
    assert none.result.objective_musd == pytest.approx(55.0, **TOL)
    # expected output at market: (0 + 400 + 400 + 1000) / 4 = 450 t of 1000
    assert none.mechanism["projects"][0]["expected_output_t"] == pytest.approx(450.0)
    assert none.mechanism["projects"][0]["expected_capacity_use"] == pytest.approx(0.45)


def test_a_project_without_tiers_keeps_its_single_cost(tiny):
    # tiny-floor's P1 (50 USD/kg, no cost_tiers.csv): under the 60 floor it runs fully
    data = data_of(tiny, design(tiny))
    o60 = option(data, 60.0)
    assert data.options.output_t[o60, :, 0].tolist() == [1000.0, 1000.0]
    assert data.options.topup_musd[o60, :, 0] == pytest.approx([20.0, 0.0])


# ----------------------------------------------------------------------------- contracts


def three_year_world(folder, prices=(40, 40, 40), capex=15.0):
    """tiny-floor over 2030-32, one scenario 'only': P1 new (1000 t/yr from 2030, unit cost
    50 USD/kg, the given capex), China supplies nothing (shortfall = 1000 t - output)."""
    toml = (folder / "instance.toml").read_text().replace("last_year = 2030",
                                                          "last_year = 2032")
    (folder / "instance.toml").write_text(toml)
    years = (2030, 2031, 2032)
    pj = read(folder, "projects.csv")
    pj.loc[0, "capex_musd"] = str(capex)
    write(folder, "projects.csv", pj)
    write(folder, "scenarios.csv", [{"scenario": "only", "probability": 1,
                                     "description": "", "source": SRC}])
    write(folder, "prices.csv", [{"scenario": "only", "year": y, "product": "X",
                                  "price_usd_per_kg": p, "source": SRC}
                                 for y, p in zip(years, prices, strict=True)])
    (folder / "availability.csv").unlink()
    write(folder, "demand.csv", [{"ally": "US", "product": "X", "year": y, "demand_t": 1000,
                                  "source": SRC} for y in years])
    write(folder, "supply.csv", [{"product": "X", "year": y, "china_supply_t": 0,
                                  "other_supply_t": 0, "source": SRC} for y in years])
    return folder


def contract_design(folder, years: int | None, tail_years: int = 0, extra: str = ""):
    path = design(folder, extra=extra)
    text = path.read_text().replace("tail_years = 0", f"tail_years = {tail_years}")
    if years is not None:
        text = text.replace("levels_usd_per_kg = { X = [60] }",
                            f"levels_usd_per_kg = {{ X = [60] }}\ncontract_years = {years}")
    path.write_text(text)
    return path


@pytest.mark.parametrize(("prices", "output_2032"), [((40, 40, 40), 0.0),
                                                     ((40, 40, 55), 1000.0)])
def test_short_contract_stops_topups_and_output_follows_market(tiny, prices, output_2032):
    # a 2-year contract from 2030 pays 1000 t x (60 - 40) = 20 MUSD in 2030 and 2031 and
    # nothing in 2032, when P1 sells at market: 40 < 50 -> it stops; 55 >= 50 -> it runs
    three_year_world(tiny, prices)
    data = data_of(tiny, contract_design(tiny, 2))
    o = option(data, 60.0)
    assert data.options.in_contract[o].tolist() == [True, True, False]
    assert data.options.contract_last_year[o] == 2031
    assert data.options.output_t[o, 0].tolist() == [1000.0, 1000.0, output_2032]
    assert data.options.topup_musd[o, 0] == pytest.approx([20.0, 20.0, 0.0])
    # the whole horizon (default): the top-up is paid every year, P1 runs every year
    whole = data_of(tiny, contract_design(tiny, None))
    w = option(whole, 60.0)
    assert whole.options.in_contract[w].tolist() == [True, True, True]
    assert whole.options.output_t[w, 0].tolist() == [1000.0] * 3
    assert whole.options.topup_musd[w, 0] == pytest.approx([20.0, 20.0, 60.0 - prices[2]])


def test_short_contract_solved(tiny):
    # capex 15: bankable either way (NPV 20 - 15 and 30 - 15). Two-year contract: top-up
    # 40 + the 2032 shortfall 1000 t x 100 = 100 -> 140 MUSD; whole horizon: top-up 60.
    three_year_world(tiny)
    run = solve(tiny, contract_design(tiny, 2))
    assert cost(run) == pytest.approx(140.0, **TOL)
    assert run.mechanism["costs"]["by_category_musd"]["topup"] == pytest.approx(40.0, **TOL)
    assert run.mechanism["projects"][0]["contract_last_year"] == 2031
    assert run.mechanism["projects"][0]["expected_output_t"] == pytest.approx(2000.0)
    whole = solve(tiny, contract_design(tiny, None))
    assert cost(whole) == pytest.approx(60.0, **TOL)
    assert whole.mechanism["projects"][0]["contract_last_year"] == 2032


@pytest.mark.parametrize(("prices", "years", "npv"), [
    # default: 3 years at 60 (margin 10) + 2 tail years at the last margin under the
    # floor: 50 - capex 15 = 35
    ((40, 40, 55), None, 35.0),
    # 2 years: 10 + 10, then 2032 at market 55 (margin 5) and the tail at market 2 x 5
    ((40, 40, 55), 2, 10 + 10 + 5 + 2 * 5 - 15.0),
    # 4 years (2030-33): the horizon and the first tail year under the floor, then market
    ((40, 40, 55), 4, 10 + 10 + 10 + 10 + 5 - 15.0),
    # 5 years cover the horizon and both tail years: as the default
    ((40, 40, 55), 5, 35.0),
    # at market 40 the plant stops after a 2-year contract: 20 - 15
    ((40, 40, 40), 2, 5.0),
])
def test_bankability_uses_the_contract_terms(tiny, prices, years, npv):
    three_year_world(tiny, prices)
    data = data_of(tiny, contract_design(tiny, years, tail_years=2))
    assert data.plant_options.npv_test_musd[option(data, 60.0)] == pytest.approx(npv, **TOL)


def test_short_contract_can_make_a_project_unbankable(tiny):
    # capex 30, tail 2 years, prices 40: whole horizon NPV 3 x 10 + 2 x 10 - 30 = 20 ->
    # supported, top-up 60; two-year contract NPV 20 - 30 = -10 -> no support, no grants:
    # shortfall 3 x 1000 t x 100 = 300 MUSD
    three_year_world(tiny, capex=30.0)
    whole = solve(tiny, contract_design(tiny, None, tail_years=2))
    assert cost(whole) == pytest.approx(60.0, **TOL)
    assert whole.mechanism["supported_projects"] == ["P1"]
    short = solve(tiny, contract_design(tiny, 2, tail_years=2))
    assert short.result.objective_musd == pytest.approx(300.0, **TOL)
    assert short.mechanism["supported_projects"] == []


def test_collar_follows_the_contract_term(tiny):
    # collar: half of the price above 60 paid back. In 2032 (price 80) the contract has
    # ended: no clawback, P1 keeps 80
    three_year_world(tiny, prices=(40, 80, 80))
    path = contract_design(tiny, 2, extra="")
    path.write_text(path.read_text().replace("contract_years = 2",
                                             "contract_years = 2\nupside_share = 0.5"))
    data = data_of(tiny, path)
    o = option(data, 60.0)
    # 2030: 1000 x 20; 2031: -1000 x 0.5 x 20 = -10; 2032: 0
    assert data.options.topup_musd[o, 0] == pytest.approx([20.0, -10.0, 0.0])


def test_last_resort_reserve_buys_only_during_the_contract(tiny):
    three_year_world(tiny)
    write(tiny, "stockpile.csv", [{"product": "X", "fixed_cost_musd": 1,
                                   "capacity_cost_usd_per_kg": 1,
                                   "holding_cost_usd_per_kg_yr": 0, "max_capacity_t": 2000,
                                   "salvage_fraction": 0.5, "source": SRC}])
    path = contract_design(tiny, 2)
    path.write_text(path.read_text().replace("stockpile = false", "stockpile = true\n"
                                             "buyer_of_last_resort = true"))
    data = data_of(tiny, path)
    src = _sources(data, [0])
    o = option(data, 60.0)
    assert [c for c, oo in src[0, 0, 0] if oo == o] == [1000.0]
    assert [c for c, oo in src[0, 2, 0] if oo == o] == []  # 2032: after the contract


# ----------------------------------------------------------------------------- input


def run_validate(folder):
    return CliRunner().invoke(main, ["validate", str(folder)])


TIERS = [{"project": "P1", "tier": "low", "share_of_capacity": 0.5,
          "unit_cost_usd_per_kg": 40, "source": SRC},
         {"project": "P1", "tier": "high", "share_of_capacity": 0.5,
          "unit_cost_usd_per_kg": 60, "source": SRC}]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t[1].update(share_of_capacity=0.4),
     "cost_tiers.csv row 3, column 'share_of_capacity': the shares of project 'P1' sum to "
     "0.9, not 1; give each project's tiers shares of capacity that sum to 1"),
    (lambda t: t[1].update(share_of_capacity="nan"),
     "cost_tiers.csv row 3, column 'share_of_capacity': 'nan' is not a finite number; write "
     "the tier's share of the project's capacity (> 0, <= 1) as a number (nan and inf are "
     "not allowed)"),
    (lambda t: t[1].update(unit_cost_usd_per_kg="inf"),
     "cost_tiers.csv row 3, column 'unit_cost_usd_per_kg': 'inf' is not a finite number; "
     "write the tier's cash cost in USD/kg as a number (nan and inf are not allowed)"),
    (lambda t: t[1].update(share_of_capacity=0),
     "cost_tiers.csv row 3, column 'share_of_capacity': 0.0 is out of range; "
     "share_of_capacity must be > 0"),
    (lambda t: t[1].update(project="P9"),
     "cost_tiers.csv row 3, column 'project': project 'P9' is not known; use one of: P1"),
    (lambda t: t[1].update(tier="low"),
     "cost_tiers.csv row 3: duplicate entry (project=P1, tier=low); keep one row per "
     "project and tier"),
    (lambda t: t[0].update(unit_cost_usd_per_kg=30),
     "projects.csv row 2, column 'unit_cost_usd_per_kg': unit cost 50 of project 'P1' is "
     "not the share-weighted mean of its tiers in cost_tiers.csv (45 USD/kg); set it to 45 "
     "or fix the tiers"),
    (lambda t: t[0].update(source="made up"),
     "cost_tiers.csv row 2, column 'source': source 'made up' cites no source key; cite "
     "keys from sources.csv in brackets, e.g. [S1], or start the cell with 'assumption:' "
     "and say what was assumed"),
])
def test_bad_cost_tiers_get_one_line_and_exit_2(tiny, edit, message):
    tiers = [dict(t) for t in TIERS]
    edit(tiers)
    write(tiny, "cost_tiers.csv", tiers)
    result = run_validate(tiny)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"error: {message}"]
    assert "Traceback" not in result.output


def test_good_cost_tiers_validate(tiny):
    write(tiny, "cost_tiers.csv", TIERS)  # mean 50 = projects.csv unit cost
    assert run_validate(tiny).exit_code == 0
    inst = load_instance(tiny)
    assert inst.cost_tiers["tier"].tolist() == ["low", "high"]
    assert np.isclose(inst.cost_tiers["share_of_capacity"].sum(), 1.0)


def test_bad_contract_years_gets_one_line_and_exit_2(tiny):
    path = design(tiny)
    path.write_text(path.read_text().replace(
        "levels_usd_per_kg = { X = [60] }", "levels_usd_per_kg = { X = [60] }\n"
        "contract_years = 0"))
    result = run_validate(tiny)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "error: design.toml [price_floor] contract_years: 0 is out of range; give a value "
        "between 1 and 100"]
