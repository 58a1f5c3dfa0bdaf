"""remech bankability: incentive prices and floors computed by hand on a one-project world,
agreement with the model's own bankability test, and the command's errors.

The world (tiny-floor edited): horizon 2030-2032, one new project P1 (1000 t/yr, start
2031, ramp 2 years, unit cost 50 USD/kg, capex 20 MUSD), hurdle 10 %, one tail year; two
equally likely scenarios, 'low' at 40 USD/kg and 'high' at 60 USD/kg every year.

By hand, with e_t = 1.1^-(t - 2030):
  output 0 t (2030), 500 t (2031), 1000 t (2032); capex paid in 2030 (the year before the
  start): 20 MUSD undiscounted.
  W = 500/1.1 + 1000/1.21 + 1000/1.21 x 1/1.1 (tail) = 2705/1.331 t = 2032.3065 t.
  Incentive price P* = 50 + 20 / (W x 1e-3) = 50 + 26620/2705 = 59.8410 USD/kg.
  Expected NPV at market: low does not run (40 < 50), high earns 10 USD/kg:
  0.5 x 10 x W x 1e-3 - 20 = -9.8385 MUSD: not bankable.
  At a floor F >= 50: 0.5 (F - 50) W 1e-3 + 0.5 x 10 W 1e-3 - 20; floor 55: -4.7577 (no),
  floor 60: +0.3231 (yes); zero at F = 50 + 40/(W x 1e-3) - 10 = 59.6820 USD/kg.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from conftest import REAL, read, write
from remech import bankability as bk
from remech.cli import main
from remech.design import Design, load_design
from remech.errors import InputError
from remech.instance import load_instance
from remech.prepare import prepare

W_T = 2705 / 1.331
SRC = "assumption: test data"


@pytest.fixture
def world(tiny):
    toml = (tiny / "instance.toml").read_text().replace("last_year = 2030", "last_year = 2032")
    (tiny / "instance.toml").write_text(toml)
    years = (2030, 2031, 2032)
    write(tiny, "projects.csv", [{
        "project": "P1", "name": "Test refinery", "host": "US", "product": "X",
        "stage": "separation", "status": "new", "capacity_t": 1000, "start_year": 2031,
        "ramp_years": 2, "unit_cost_usd_per_kg": 50, "capex_musd": 20, "source": SRC}])
    write(tiny, "scenarios.csv", [
        {"scenario": s, "probability": 0.5, "description": "", "source": SRC}
        for s in ("low", "high")])
    write(tiny, "prices.csv", [
        {"scenario": s, "year": y, "product": "X", "price_usd_per_kg": p, "source": SRC}
        for s, p in (("low", 40), ("high", 60)) for y in years])
    (tiny / "availability.csv").unlink()
    write(tiny, "demand.csv", [{"ally": "US", "product": "X", "year": y, "demand_t": 1000,
                                "source": SRC} for y in years])
    write(tiny, "supply.csv", [{"product": "X", "year": y, "china_supply_t": 1000,
                                "other_supply_t": 0, "source": SRC} for y in years])
    (tiny / "design.toml").write_text(
        '[design]\nname = "bank"\n[instruments]\nprice_floor = true\nstockpile = false\n'
        'grants = true\n[price_floor]\nlevels_usd_per_kg = { X = [55, 60] }\n'
        '[bankability]\ntest = "expected"\nhurdle_rate = 0.1\ntail_years = 1\n'
        '[grants]\nmax_share_of_capex = 1.0\n')
    return tiny


def _design(world) -> Design:
    return load_design(world / "design.toml")  # hurdle 10 %, one tail year


def _table(world, floors=None):
    return bk.table(load_instance(world), _design(world), floors or {"X": [55, 60]})


def test_incentive_price_and_floors_by_hand(world):
    rows = _table(world)
    row = rows.iloc[0]
    assert row["incentive_usd_per_kg"] == pytest.approx(50 + 26620 / 2705, rel=1e-12)
    assert row["npv_market_musd"] == pytest.approx(0.5 * 10 * W_T * 1e-3 - 20, rel=1e-12)
    assert not row["bankable_market"]
    assert row["npv_at_55_musd"] == pytest.approx(0.5 * 15 * W_T * 1e-3 - 20, rel=1e-12)
    assert not row["bankable_at_55"]
    assert row["npv_at_60_musd"] == pytest.approx(10 * W_T * 1e-3 - 20, rel=1e-12)
    assert row["bankable_at_60"]
    assert row["breakeven_floor_usd_per_kg"] == pytest.approx(50 + 40 / (W_T * 1e-3) - 10,
                                                              abs=bk.FLOOR_TOLERANCE_USD_PER_KG)


def test_at_its_incentive_price_a_project_breaks_even(world):
    case = bk.cases(bk.context_for(load_instance(world), _design(world)))[0]
    price = bk.incentive_price(case)
    assert case.flat_npv_musd(price) == pytest.approx(0.0, abs=1e-9)
    assert case.flat_npv_musd(price - 1.0) < 0 < case.flat_npv_musd(price + 1.0)


def test_same_npv_as_the_models_bankability_test(world):
    # prepare's option NPVs (test "expected", grants up to all of capex: every level is an
    # option) are bankability's expected NPVs at the same floors
    data = prepare(load_instance(world), load_design(world / "design.toml"))
    rows = _table(world).iloc[0]
    popt = data.plant_options
    got = {ent[0].level_usd_per_kg: npv
           for ent, npv in zip(popt.entries, popt.npv_test_musd, strict=True)}
    assert got[0.0] == pytest.approx(rows["npv_market_musd"], rel=1e-12)
    assert got[55.0] == pytest.approx(rows["npv_at_55_musd"], rel=1e-12)
    assert got[60.0] == pytest.approx(rows["npv_at_60_musd"], rel=1e-12)


def test_a_project_without_output_in_the_horizon_never_breaks_even(world):
    ctx = bk.context_for(load_instance(world), _design(world))
    ctx = replace(ctx, projects=ctx.projects.assign(capacity_t=0.0))
    case = bk.cases(ctx)[0]
    assert bk.incentive_price(case) == float("inf")
    assert bk.breakeven_floor(case) == float("inf")


def test_bands_share_capacity_by_incentive_price(world):
    rows = _table(world)
    band = bk.bands(rows, {"X": [55, 60]})
    assert band["capacity_share"].tolist() == [0.0, 1.0, 0.0]  # 59.84 in (55, 60]


def test_cli_text_and_json(world):
    r = CliRunner().invoke(main, ["bankability", str(world), "--floors", "X=55,60",
                                  "--hurdle", "0.1"])
    assert r.exit_code == 0, r.output
    assert "59.8" in r.output and "hurdle 10.0%" in r.output
    r = CliRunner().invoke(main, ["bankability", str(world), "--json"])  # design's terms
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["hurdle_rate"] == 0.1 and out["floors_usd_per_kg"] == {"X": [55.0, 60.0]}
    assert out["projects"][0]["bankable_at_60"] is True


@pytest.mark.parametrize("spec, message", [
    ("X=55,abc", "error: --floors X=55,abc: level 'abc' is not a positive number; give "
                 "floor levels in USD/kg, e.g. --floors NDPR=54,75,85,110"),
    ("Y=55", "error: --floors Y=55: unknown product 'Y'; use one of X"),
    ("X55", "error: --floors X55: not PRODUCT=LEVEL,LEVEL,...; write e.g. --floors "
            "NDPR=54,75,85,110"),
    ("X=-5", "error: --floors X=-5: level '-5' is not a positive number; give floor levels "
             "in USD/kg, e.g. --floors NDPR=54,75,85,110"),
])
def test_bad_floors_is_one_line_and_exit_2(world, spec, message):
    r = CliRunner().invoke(main, ["bankability", str(world), "--floors", spec])
    assert r.exit_code == 2
    assert r.output.strip() == message
    assert "Traceback" not in r.output


def test_bad_hurdle_and_repeated_product():
    with pytest.raises(InputError, match="--hurdle 0.9: not a rate between 0 and 0.5"):
        bk.check_hurdle(0.9)
    with pytest.raises(InputError, match="X given twice"):
        bk.parse_floors(("X=1", "X=2"), ["X"])


def test_shipped_instance_runs():
    r = CliRunner().invoke(main, ["bankability", str(REAL), "--floors", "NDPR=54,75,85,110",
                                  "--hurdle", "0.15", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["projects"]


def test_a_joint_plant_counts_its_other_lines_and_its_capex_once(world):
    # P1 (X) and P2 (Y: 100 t/yr, cost 50, no capex of its own) are plant PL. Y sells at 100
    # USD/kg in both scenarios: P2 earns 50 t x 50 = 2.5 MUSD in 2031, 5 in 2032 and the
    # tail year: O = (2.5 x 1.21 + 5 x 1.1 + 5) / 1.331 = 13.525 / 1.331 MUSD. The plant's
    # incentive price for X: 50 + (20 - O) / (W x 1e-3) = 50 + 13095 / 2705 = 54.8410;
    # its expected NPV at market 0.5 x 10 x W x 1e-3 + O - 20 = 2 O - 20 = +0.3231: the
    # plant is bankable where P1 alone (-9.8385) is not.
    src = "assumption: test data"
    write(world, "products.csv", [
        {"product": p, "name": p, "stage": "separation", "shortfall_penalty_usd_per_kg": 100,
         "source": src} for p in ("X", "Y")])
    rows = [{"scenario": s, "year": y, "product": "Y", "price_usd_per_kg": 100, "source": src}
            for s in ("low", "high") for y in (2030, 2031, 2032)]
    prices = read(world, "prices.csv").to_dict("records") + rows
    write(world, "prices.csv", prices)
    write(world, "supply.csv", [{"product": p, "year": y, "china_supply_t": 1000,
                                 "other_supply_t": 0, "source": src}
                                for p in ("X", "Y") for y in (2030, 2031, 2032)])
    pj = read(world, "projects.csv").to_dict("records")
    pj[0]["plant"] = "PL"
    pj.append({**pj[0], "project": "P2", "product": "Y", "capacity_t": 100,
               "capex_musd": 0})
    write(world, "projects.csv", pj)
    rows = _table(world).set_index("product")
    o_musd = 13.525 / 1.331
    x = rows.loc["X"]
    assert (x["project"], x["lines"], x["capex_musd"]) == ("PL", "P1", 20.0)
    assert x["others_npv_musd"] == pytest.approx(o_musd, rel=1e-12)
    assert x["incentive_usd_per_kg"] == pytest.approx(50 + 13095 / 2705, rel=1e-12)
    assert x["npv_market_musd"] == pytest.approx(2 * o_musd - 20, rel=1e-12)
    assert x["bankable_market"] and x["breakeven_floor_usd_per_kg"] == 0.0
    # the model's plant option without floors has the same NPV
    data = prepare(load_instance(world), load_design(world / "design.toml"))
    popt = data.plant_options
    npv = {tuple(e.level_usd_per_kg for _, e in sorted(ent.items())): v
           for ent, v in zip(popt.entries, popt.npv_test_musd, strict=True)}
    assert npv[(55.0, 0.0)] == pytest.approx(rows.loc["X", "npv_at_55_musd"], rel=1e-12)


def test_incentive_price_is_the_models_grant_threshold_with_cost_tiers(world):
    # P1's cost curve: half its capacity at 40 USD/kg, half at 60 (mean 50, its unit cost).
    # Between the kinks only the first tier runs: NPV(P) = 0.5 (P - 40) W 1e-3 - 20, zero at
    # P* = 40 + 40 / (W 1e-3) = 40 + 53240 / 2705 = 59.6821 USD/kg (below 60: the upper tier
    # never runs; one tier at 50 would give 59.8410). Both scenarios sell at 30 USD/kg, so
    # a floor F is a flat price over the horizon and the tail (no contract_years): the
    # model's plant option at F = P* needs no grant, at F below it needs -NPV.
    write(world, "prices.csv", [
        {"scenario": s, "year": y, "product": "X", "price_usd_per_kg": 30, "source": SRC}
        for s in ("low", "high") for y in (2030, 2031, 2032)])
    write(world, "cost_tiers.csv", [
        {"project": "P1", "tier": k, "share_of_capacity": 0.5, "unit_cost_usd_per_kg": c,
         "source": SRC} for k, c in ((1, 40), (2, 60))])
    p_star = 40 + 53240 / 2705
    case = bk.cases(bk.context_for(load_instance(world), _design(world)))[0]
    assert bk.incentive_price(case) == pytest.approx(p_star, rel=1e-12)
    assert bk.breakeven_floor(case) == pytest.approx(p_star, abs=bk.FLOOR_TOLERANCE_USD_PER_KG)
    toml = (world / "design.toml").read_text().replace(
        "X = [55, 60]", f"X = [59.0, {p_star!r}]")
    (world / "design.toml").write_text(toml)
    data = prepare(load_instance(world), load_design(world / "design.toml"))
    popt = data.plant_options
    grant = {ent[0].level_usd_per_kg: g
             for ent, g in zip(popt.entries, popt.grant_musd, strict=True)}
    assert grant[p_star] == pytest.approx(0.0, abs=1e-9)
    assert grant[59.0] == pytest.approx(0.5 * (p_star - 59.0) * 2705 / 1.331 * 1e-3, rel=1e-9)
    rows = bk.table(load_instance(world), load_design(world / "design.toml"),
                    {"X": [59.0, p_star]}).iloc[0]
    assert rows[f"npv_at_{59.0:g}_musd"] == pytest.approx(-grant[59.0], rel=1e-12)
