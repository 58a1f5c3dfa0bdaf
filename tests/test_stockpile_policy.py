"""Stockpile decisions that cannot see the future (design [stockpile] policy).

World (hand-computable): tiny-floor over 2030-31, product X (shortfall penalty 100 USD/kg),
demand 1000 t/yr, China normally supplies 2000 t/yr, price 40 USD/kg in every year and
scenario, no discounting. Two equally likely scenarios share 2030 and differ in 2031:
'calm' (China supplies) and 'cut' (China supplies nothing in 2031). Stockpile: fixed cost
1 MUSD, capacity 1 USD/kg, no holding cost, up to 2000 t, left-over stock worth 50 % of the
final-year price (20 USD/kg). The project P1 (unit cost 50) never runs at 40 USD/kg.

Releases in an export-control year are sold at that year's price (40 USD/kg).

clairvoyant: buy 1000 t in 2030 only in 'cut' and release (sell) it in 2031:
    1 + 1000 x 1e-3 + 0.5 x 1000 x (40e-3 - 40e-3) = 2 MUSD.
rule (and tree, whose 2030 node holds both scenarios): the 2030 purchase is the same in
both. Buying L <= 1000 t costs per t 1e-3 (capacity) + 40e-3 (purchase) - 0.5 x 20e-3
(worth at the end in 'calm') - 0.5 x (100e-3 + 40e-3) (shortfall avoided and sale in
'cut') = -39e-3 MUSD, so L = 1000 (beyond 1000 t nothing is released into a surplus:
+1 + 40 - 10 - 10 > 0):
    1 + 1 + 40 - 0.5 x 20 - 0.5 x 40 = 12 MUSD, against 0.5 x 1000 x 100e-3 = 50 without a
    stockpile. Value of foresight: 12 - 2 = 10 MUSD.
"""

from __future__ import annotations

import json

import pytest

from conftest import design, solve, two_year_world, write
from remech.errors import InputError
from remech.evaluate import evaluate, first_stage
from remech.instance import load_instance
from remech.model.first_stage import FirstStage
from remech.run import load_files

TOL = dict(rel=1e-6, abs=1e-6)
SRC = "assumption: test data"


def calm_and_cut(folder, tree: bool = False):
    two_year_world(folder, prices=(40, 40))
    write(folder, "scenarios.csv", [
        {"scenario": "calm", "probability": 0.5, "description": "", "source": SRC},
        {"scenario": "cut", "probability": 0.5, "description": "", "source": SRC}])
    write(folder, "prices.csv", [{"scenario": s, "year": y, "product": "X",
                                  "price_usd_per_kg": 40, "source": SRC}
                                 for s in ("calm", "cut") for y in (2030, 2031)])
    write(folder, "availability.csv", [{"scenario": "cut", "year": 2031, "product": "X",
                                        "china_availability": 0, "source": SRC}])
    if tree:
        write(folder, "nodes.csv", [{"scenario": s, "year": y,
                                     "node": "root" if y == 2030 else s, "source": SRC}
                                    for s in ("calm", "cut") for y in (2030, 2031)])
    return folder


def policy(folder, name: str):
    return design(folder, floor=False, stock=True,
                  extra=f'[stockpile]\npolicy = "{name}"\n')


def purchases_2030(run) -> dict[str, float]:
    df = run.tables["stockpile_policy.csv"]
    df = df[df["year"] == 2030].set_index("scenario")
    return df["purchase_t"].to_dict()


@pytest.mark.parametrize(("name", "tree", "cost", "calm", "cut"), [
    ("rule", False, 12.0, 1000.0, 1000.0),
    ("tree", True, 12.0, 1000.0, 1000.0),
    ("clairvoyant", False, 2.0, 0.0, 1000.0),
])
def test_year_zero_decision_is_the_same_unless_clairvoyant(tiny, name, tree, cost, calm, cut):
    calm_and_cut(tiny, tree=tree)
    run = solve(tiny, policy(tiny, name))
    m = run.mechanism
    assert m["status"] == "optimal"
    assert run.result.objective_musd == pytest.approx(cost, **TOL)
    assert purchases_2030(run) == {"calm": pytest.approx(calm, abs=1e-6),
                                   "cut": pytest.approx(cut, abs=1e-6)}
    assert m["stockpile_policy"]["policy"] == name
    assert m["stockpile_policy"]["clairvoyant_bound"] is (name == "clairvoyant")
    assert m["shortfall"]["X"]["expected_t"] == pytest.approx(0.0, abs=1e-6)


def test_rule_reports_its_targets_and_draws_the_stock_in_the_cut(tiny):
    calm_and_cut(tiny)
    run = solve(tiny, policy(tiny, "rule"))
    sp = run.mechanism["stockpile_policy"]
    assert sp["target_t_by_year"]["X"][0] == pytest.approx(1000)
    assert sp["expected_held_back_while_short_t"] == pytest.approx(0.0, abs=1e-6)
    df = run.tables["stockpile_policy.csv"].set_index(["scenario", "year"])
    assert df.loc[("cut", 2031), "release_t"] == pytest.approx(1000)
    # in 'calm' the stock is kept to the end or sold down in 2031: both worth 20 USD/kg
    calm = df.loc[("calm", 2031)]
    assert calm["level_t"] + calm["release_t"] == pytest.approx(1000)
    targets = run.tables["stockpile_targets.csv"]
    assert targets["target_t"].tolist()[0] == pytest.approx(1000)


def test_rule_draws_the_stock_before_running_short(tiny):
    # Only 600 t of stock (max capacity) for a 1000 t gap: the rule releases all 600 t
    # in the cut year; nothing is kept back. Cost: 1 + 0.6 + 0.6 x 40 - 0.5 x 0.6 x 20
    # - 0.5 x 0.6 x 40 + 0.5 x 400 x 100e-3 = 1 + 0.6 + 24 - 6 - 12 + 20 = 27.6 MUSD.
    calm_and_cut(tiny)
    write(tiny, "stockpile.csv", [{"product": "X", "fixed_cost_musd": 1,
                                   "capacity_cost_usd_per_kg": 1,
                                   "holding_cost_usd_per_kg_yr": 0, "max_capacity_t": 600,
                                   "salvage_fraction": 0.5, "source": SRC}])
    run = solve(tiny, policy(tiny, "rule"))
    assert run.result.objective_musd == pytest.approx(27.6, **TOL)
    df = run.tables["stockpile_policy.csv"].set_index(["scenario", "year"])
    assert df.loc[("cut", 2031), "release_t"] == pytest.approx(600)
    assert df.loc[("cut", 2031), "level_t"] == pytest.approx(0, abs=1e-6)
    stock = run.mechanism["stockpiles"][0]
    assert stock["at_max_capacity"] is True
    # one more t of capacity, bought in 2030, drawn and sold in the cut, kept to the end in
    # 'calm': 0.5 x (100e-3 + 40e-3) + 0.5 x 20e-3 - 1e-3 - 40e-3 = 39e-3 MUSD (measured:
    # 27.6 - 27.561 with max_capacity_t 601). The capacity also bounds the rule's release
    # rows, whose duals count too (remech.model.stockpile.capacity_value).
    assert stock["max_capacity_value_musd_per_t"] == pytest.approx(0.039, abs=1e-9)


def test_tree_whose_shared_node_disagrees_on_prices_is_rejected(tiny):
    calm_and_cut(tiny, tree=True)
    write(tiny, "prices.csv", [{"scenario": s, "year": y, "product": "X",
                                "price_usd_per_kg": 45 if (s, y) == ("cut", 2030) else 40,
                                "source": SRC}
                               for s in ("calm", "cut") for y in (2030, 2031)])
    with pytest.raises(InputError) as err:
        load_instance(tiny)
    assert str(err.value) == (
        "nodes.csv row 4, column 'node': scenarios 'calm' and 'cut' share node 'root' in "
        "2030 but their X prices differ (40 and 45 USD/kg); give them different nodes or "
        "the same prices")


def test_tree_needs_a_shared_history(tiny):
    calm_and_cut(tiny, tree=True)
    write(tiny, "nodes.csv", [{"scenario": s, "year": y,
                               "node": s if y == 2030 else "late", "source": SRC}
                              for s in ("calm", "cut") for y in (2030, 2031)])
    with pytest.raises(InputError) as err:
        load_instance(tiny)
    assert str(err.value) == (
        "nodes.csv row 5, column 'node': scenarios 'calm' and 'cut' share node 'late' in "
        "2031 but not in 2030; a node's scenarios must share every earlier node: give them "
        "different nodes")


def test_tree_policy_without_a_tree_is_bad_input(tiny):
    calm_and_cut(tiny)
    with pytest.raises(InputError, match="has no nodes.csv"):
        load_files(tiny, policy(tiny, "tree"))


def test_evaluating_the_rule_on_its_own_scenarios_gives_its_cost(tiny):
    calm_and_cut(tiny)
    run = solve(tiny, policy(tiny, "rule"))
    decisions = FirstStage.from_json(run.mechanism["first_stage"])
    assert decisions == first_stage(run.model, run.data)
    m, res = evaluate(run.data, decisions)
    assert res.status == "optimal"
    assert res.objective_musd == pytest.approx(12.0, **TOL)


def test_value_of_foresight_on_the_command_line(tiny, tmp_path):
    from click.testing import CliRunner

    from remech.cli import main

    calm_and_cut(tiny)
    policy(tiny, "rule")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["solve", str(tiny), "-o", str(out), "-q",
                                  "--foresight-gap"])
    assert r.exit_code == 0, r.output
    assert ("foresight     clairvoyant bound 2.0 MUSD (optimal); value of foresight "
            "10.0 MUSD over policy rule") in r.output
    f = json.loads((out / "mechanism.json").read_text())["foresight"]
    assert f["value_of_foresight_musd"] == pytest.approx(10.0, **TOL)


def test_rule_cannot_dump_stock_it_may_need_later(tiny):
    """2030-32; A and B share 2030 (normal) and 2031 (China delivers half of its 2000 t:
    exactly the 1000 t demand, nothing short); in 2032 China cuts everything in A only.
    Holding 5 USD/kg/yr, no salvage, price 40. Stock of L t bought in 2030 costs per t
    1 + 40 + 5 (2030) + 5 (2031) = 51e-3 MUSD and saves 0.5 x (100e-3 + 40e-3) = 70e-3 in A
    (shortfall avoided, sold at 40); in B (2032 calm) it is sold down at the salvage value,
    0. So the rule buys 1000 t: 1 + 51 - 20 = 32 MUSD (50 without a stock). Dumping the
    stock in 2031 in B only (whose 2032 is calm) would save B's 2031 holding cost (29.5
    MUSD), but that uses 2032's news: the rule may not release while supply is left over.
    The clairvoyant stockpile buys in 2030 in A only: 2 + 0.5 x (40 + 5 + 5 - 40) = 7 MUSD."""
    calm_and_cut(tiny)
    toml = (tiny / "instance.toml").read_text().replace("last_year = 2031", "last_year = 2032")
    (tiny / "instance.toml").write_text(toml)
    years = (2030, 2031, 2032)
    write(tiny, "scenarios.csv", [
        {"scenario": s, "probability": 0.5, "description": "", "source": SRC} for s in "AB"])
    write(tiny, "prices.csv", [{"scenario": s, "year": y, "product": "X",
                                "price_usd_per_kg": 40, "source": SRC}
                               for s in "AB" for y in years])
    write(tiny, "availability.csv", [
        {"scenario": s, "year": 2031, "product": "X", "china_availability": 0.5,
         "source": SRC} for s in "AB"] + [
        {"scenario": "A", "year": 2032, "product": "X", "china_availability": 0,
         "source": SRC}])
    write(tiny, "demand.csv", [{"ally": "US", "product": "X", "year": y, "demand_t": 1000,
                                "source": SRC} for y in years])
    write(tiny, "supply.csv", [{"product": "X", "year": y, "china_supply_t": 2000,
                                "other_supply_t": 0, "source": SRC} for y in years])
    write(tiny, "stockpile.csv", [{"product": "X", "fixed_cost_musd": 1,
                                   "capacity_cost_usd_per_kg": 1,
                                   "holding_cost_usd_per_kg_yr": 5, "max_capacity_t": 2000,
                                   "salvage_fraction": 0, "source": SRC}])
    for name, cost in (("rule", 32.0), ("clairvoyant", 7.0)):
        run = solve(tiny, policy(tiny, name))
        assert run.result.status == "optimal"
        assert run.result.objective_musd == pytest.approx(cost, **TOL), name
