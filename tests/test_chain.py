"""The value chain (remech.model.chain) and offtakes (remech.model.offtake): hand-computed
optima on tiny worlds, an invariance, and the data checks of conversions.csv."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import TINY, solve, write
from remech.errors import InputError
from remech.instance import load_instance

SRC = "assumption: test data"


def chain_world(folder: Path, *, years=(2030,), cut_x=(0.0,), cut_m=(0.0,),
                china_x=1000.0, china_m=1000.0, plants=(("MAG", 1000.0),),
                conversions=True, stock=False, prices_x=40.0, prices_m=60.0) -> Path:
    """Oxide X (penalty 100 USD/kg) and magnets M (penalty 200 USD/kg, 0.5 t of X per t);
    demand 1000 t of M a year, none of X; existing magnet plants (unit cost 10 USD/kg);
    one scenario 'only'; China's availability per year for X and M (1: no cut)."""
    shutil.copytree(TINY, folder)
    toml = (folder / "instance.toml").read_text().replace(
        "last_year = 2030", f"last_year = {years[-1]}")
    (folder / "instance.toml").write_text(toml)
    write(folder, "products.csv", [
        {"product": "X", "name": "oxide", "stage": "separation",
         "shortfall_penalty_usd_per_kg": 100, "source": SRC},
        {"product": "M", "name": "magnet", "stage": "magnet",
         "shortfall_penalty_usd_per_kg": 200, "source": SRC}])
    write(folder, "projects.csv", [
        {"project": name, "name": name, "host": "US", "product": "M", "stage": "magnet",
         "status": "existing", "capacity_t": cap, "start_year": 2020, "ramp_years": 1,
         "unit_cost_usd_per_kg": 10, "capex_musd": 0, "source": SRC}
        for name, cap in plants])
    write(folder, "scenarios.csv", [{"scenario": "only", "probability": 1,
                                     "description": "", "source": SRC}])
    write(folder, "prices.csv", [
        {"scenario": "only", "year": y, "product": p, "price_usd_per_kg": v, "source": SRC}
        for y in years for p, v in (("X", prices_x), ("M", prices_m))])
    write(folder, "availability.csv", [
        {"scenario": "only", "year": y, "product": p, "china_availability": a,
         "source": SRC}
        for p, cuts in (("X", cut_x), ("M", cut_m)) for y, a in zip(years, cuts, strict=True)
        if a < 1])
    write(folder, "demand.csv", [{"ally": "US", "product": p, "year": y,
                                  "demand_t": 1000 if p == "M" else 0, "source": SRC}
                                 for y in years for p in ("X", "M")])
    write(folder, "supply.csv", [
        {"product": p, "year": y, "china_supply_t": c, "other_supply_t": 0, "source": SRC}
        for y in years for p, c in (("X", china_x), ("M", china_m))])
    if conversions:
        write(folder, "conversions.csv", [{"product": "M", "input": "X", "input_t_per_t": 0.5,
                                           "project": "", "source": SRC}])
    if stock:
        write(folder, "stockpile.csv", [
            {"product": p, "fixed_cost_musd": 1, "capacity_cost_usd_per_kg": 1,
             "holding_cost_usd_per_kg_yr": 0, "max_capacity_t": 5000, "salvage_fraction": 0.5,
             "source": SRC} for p in ("X", "M")])
    (folder / "design.toml").write_text(
        '[design]\nname = "chain-test"\n[instruments]\nprice_floor = false\n'
        f'stockpile = {str(stock).lower()}\ngrants = false\n'
        '[bankability]\ntest = "expected"\nhurdle_rate = 0.0\ntail_years = 0\n')
    return folder


def test_magnet_plant_without_oxide_is_useless_in_a_cut(tmp_path):
    """China cuts oxide and magnets; the magnet plant has no oxide: it makes nothing and
    the whole magnet demand is short: 1000 t x 200 USD/kg = 200 MUSD. Without the chain
    the same plant covers the demand out of nothing (cost 0)."""
    with_chain = solve(chain_world(tmp_path / "a")).mechanism
    assert with_chain.status == "optimal"
    assert with_chain["costs"]["expected_cost_musd"] == pytest.approx(200.0, abs=1e-6)
    assert with_chain["shortfall"]["M"]["expected_t"] == pytest.approx(1000.0, abs=1e-6)
    assert with_chain["shortfall"]["X"]["expected_t"] == pytest.approx(0.0, abs=1e-6)
    plant = with_chain["value_chain"]["plants"][0]
    assert plant["expected_made_t"] == pytest.approx(0.0, abs=1e-6)
    assert plant["expected_idle_t"] == pytest.approx(1000.0, abs=1e-6)
    without = solve(chain_world(tmp_path / "b", conversions=False)).mechanism
    assert without["costs"]["expected_cost_musd"] == pytest.approx(0.0, abs=1e-6)
    assert "value_chain" not in without.to_json()


def test_yield_conversion(tmp_path):
    """China still delivers 300 t of oxide (no cut of X, china_supply 300 t): at 0.5 t of
    oxide per t the plant makes 600 t of magnets; 400 t short x 200 USD/kg = 80 MUSD."""
    mech = solve(chain_world(tmp_path / "w", cut_x=(1.0,), china_x=300.0)).mechanism
    assert mech.status == "optimal"
    assert mech["costs"]["expected_cost_musd"] == pytest.approx(80.0, abs=1e-6)
    assert mech["value_chain"]["plants"][0]["expected_made_t"] == pytest.approx(600.0)
    assert mech["value_chain"]["expected_input_use_t"]["X"] == pytest.approx(300.0)
    assert mech["non_chinese_share"]["X"] == pytest.approx(0.0)  # all from China


def test_splitting_a_plant_changes_nothing(tmp_path):
    """Two identical plants of 500 t each give the same optimum as one of 1000 t."""
    one = solve(chain_world(tmp_path / "one", cut_x=(1.0,), china_x=300.0)).mechanism
    two = solve(chain_world(tmp_path / "two", cut_x=(1.0,), china_x=300.0,
                            plants=(("MAG1", 500.0), ("MAG2", 500.0)))).mechanism
    cost = one["costs"]["expected_cost_musd"]
    assert two["costs"]["expected_cost_musd"] == pytest.approx(cost, abs=1e-6)
    made = sum(p["expected_made_t"] for p in two["value_chain"]["plants"])
    assert made == pytest.approx(600.0)


def test_a_recycler_needs_no_oxide(tmp_path):
    """A plant's own conversions.csv rows replace its product's: a recycler (0 t of oxide
    per t) makes its 1000 t in a cut of oxide and magnets: no shortfall."""
    folder = chain_world(tmp_path / "r", plants=(("REC", 1000.0),))
    write(folder, "conversions.csv", [
        {"product": "M", "input": "X", "input_t_per_t": 0.5, "project": "", "source": SRC},
        {"product": "M", "input": "X", "input_t_per_t": 0.0, "project": "REC",
         "source": SRC}])
    mech = solve(folder).mechanism
    assert mech["costs"]["expected_cost_musd"] == pytest.approx(0.0, abs=1e-6)


def test_stockpile_of_oxide_beats_magnet_block_when_the_plant_can_use_it(tmp_path):
    """Two years, prices flat (X 40, M 60 USD/kg), both cut in 2031. A stock covering
    2031 costs its fixed 1 MUSD + 1 USD/kg of capacity (purchase and release at the same
    price cancel): oxide 500 t -> 1.5 MUSD, magnet block 1000 t -> 2.0 MUSD. With the
    magnet plant the oxide stock wins; without a plant to convert it the oxide stock is
    useless and the magnet block is chosen."""
    kw = {"years": (2030, 2031), "cut_x": (1.0, 0.0), "cut_m": (1.0, 0.0),
          "china_x": 2000.0, "china_m": 2000.0, "stock": True}
    mech = solve(chain_world(tmp_path / "s", **kw)).mechanism
    assert mech.status == "optimal"
    assert mech["costs"]["expected_cost_musd"] == pytest.approx(1.5, abs=1e-6)
    built = {s["product"]: s["capacity_t"] for s in mech["stockpiles"] if s["built"]}
    assert built == {"X": pytest.approx(500.0)}
    idle = solve(chain_world(tmp_path / "n", plants=(("MAG", 0.0),), **kw)).mechanism
    assert idle["costs"]["expected_cost_musd"] == pytest.approx(2.0, abs=1e-6)
    built = {s["product"]: s["capacity_t"] for s in idle["stockpiles"] if s["built"]}
    assert built == {"M": pytest.approx(1000.0)}


OFFTAKE = """
[design]
name = "offtake-test"
[instruments]
price_floor = false
stockpile = false
grants = false
offtake = true
[offtake]
prices_usd_per_kg = {{ X = [60, 80] }}
contract_years = {years}
[bankability]
test = "expected"
hurdle_rate = 0.0
tail_years = 0
"""


def test_offtake_paid_at_its_price(tiny):
    """tiny-floor: P1 (capex 20, unit cost 50, 1000 t) at prices 40 / 80 (China cut).
    Offtake at 60: margin 10 in both scenarios, NPV 10 - 20 < 0: not bankable. At 80:
    margin 30 each, NPV 10: signed; the buyer pays 80 and resells at the market price:
    1000 t x (80 - 40) = 40 MUSD (low), 0 (cut): expected 20 MUSD, and no shortfall.
    Without it the cut costs 0.5 x 1000 t x 100 USD/kg = 50 MUSD."""
    (tiny / "design.toml").write_text(OFFTAKE.format(years=10))
    mech = solve(tiny).mechanism
    assert mech.status == "optimal"
    assert mech["costs"]["expected_cost_musd"] == pytest.approx(20.0, abs=1e-6)
    assert mech["costs"]["by_category_musd"]["offtake"] == pytest.approx(20.0, abs=1e-6)
    (row,) = mech["offtakes"]
    assert row["project"] == "P1" and row["price_usd_per_kg"] == 80.0
    assert row["expected_bought_t"] == pytest.approx(1000.0)
    assert row["expected_net_payment_musd"] == pytest.approx(20.0)
    # economic view: outlay x MCPF 1.3 less the producer's gain (30 - 20 capex = 10)
    econ = mech["costs"]["views"]["economic"]["expected_cost_musd"]
    assert econ == pytest.approx(1.3 * 20.0 - 10.0, abs=1e-6)
    assert any(r["instrument"] == "offtake" for r in mech["legal_risk"]["instruments"])


def test_offtake_excluded_by_its_legal_tag(tiny):
    (tiny / "design.toml").write_text(OFFTAKE.format(years=10)
                                      + '[legal]\nexclude = ["gatt-iii-8"]\n')
    mech = solve(tiny).mechanism
    assert mech["costs"]["expected_cost_musd"] == pytest.approx(50.0, abs=1e-6)
    assert "offtakes" not in mech.to_json()


def test_conversions_reject_nan_and_cycles(tmp_path):
    folder = chain_world(tmp_path / "v")
    write(folder, "conversions.csv", [{"product": "M", "input": "X", "input_t_per_t": "nan",
                                       "project": "", "source": SRC}])
    with pytest.raises(InputError, match=r"conversions.csv row 2.*input_t_per_t"):
        load_instance(folder)
    write(folder, "conversions.csv", [
        {"product": "M", "input": "X", "input_t_per_t": 0.5, "project": "", "source": SRC},
        {"product": "X", "input": "M", "input_t_per_t": 0.1, "project": "", "source": SRC}])
    with pytest.raises(InputError, match="input of itself"):
        load_instance(folder)
    write(folder, "conversions.csv", [{"product": "M", "input": "Y", "input_t_per_t": 0.5,
                                       "project": "", "source": SRC}])
    with pytest.raises(InputError, match="conversions.csv row 2"):
        load_instance(folder)


def test_saa_lower_bound_discounts_the_idle_tie_break(tmp_path):
    """The idle plant's tie-break (1e-7 MUSD per t, 1,000 t idle) is in HiGHS's bound; the
    SAA lower bound subtracts its largest value, so it stays below the cost (200 MUSD)."""
    from remech.saa import max_tie_break_musd

    run = solve(chain_world(tmp_path / "a"))
    assert run.result.status == "optimal"
    bound = run.result.dual_bound_musd
    assert bound == pytest.approx(200.0 + 1e-4, abs=1e-9)
    assert max_tie_break_musd(run.data, run.model) == pytest.approx(1e-4, abs=1e-12)
    assert bound - max_tie_break_musd(run.data, run.model) <= 200.0 + 1e-9
