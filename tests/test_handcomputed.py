"""Hand-computed optima on tiny worlds, one constraint family at a time.

The base world (instances/tiny-floor): one ally (US), one product X (shortfall penalty
100 USD/kg), demand 1000 t in 2030, China supplies 1000 t; one new project P1
(1000 t/yr, unit cost 50 USD/kg, capex 20 MUSD); two scenarios with probability 0.5:
'low' (price 40, China available) and 'cut' (price 80, China supplies nothing).
No discounting; hurdle rate 0; no tail years. 1 t x 1 USD/kg = 1e-3 MUSD.

P1's margin: at market, low 0 (does not run, 40 < 50), cut 1000 t x 30 = 30 MUSD;
under a 60 USD/kg floor, low 1000 x (60 - 50) = 10 MUSD (top-up 1000 x 20 = 20 MUSD),
cut 30 MUSD. NPV - capex: market (-20, +10); floor 60 (-10, +10).
"""

from __future__ import annotations

import pytest

from conftest import design, read, solve, two_allies, two_year_world, write
from remech.model.price_floor import FLOOR_TIE_BREAK

TOL = dict(rel=1e-6, abs=1e-6)


def objective_without_tie_break(run) -> float:
    floor = run.mechanism["floors_usd_per_kg"]["X"] or 0.0
    return run.result.objective_musd - FLOOR_TIE_BREAK * floor


def test_floor_makes_project_bankable_and_avoids_shortfall(tiny):
    # expected NPV under floor 60: 0.5 x 10 + 0.5 x 30 - 20 = 0 -> bankable.
    # cost = expected top-up 0.5 x 20 = 10 MUSD; without it: shortfall 0.5 x 1000 t x 100 = 50.
    run = solve(tiny)
    m = run.mechanism
    assert m["status"] == "optimal" and m["proved_optimal"]
    assert objective_without_tie_break(run) == pytest.approx(10.0, **TOL)
    assert m["floors_usd_per_kg"] == {"X": 60.0}
    assert m["supported_projects"] == ["P1"]
    assert m["costs"]["by_category_musd"]["topup"] == pytest.approx(10.0, **TOL)
    assert m["shortfall"]["X"]["expected_t"] == pytest.approx(0.0, abs=1e-6)
    assert m["contributions"]["US"]["contribution_musd"] == pytest.approx(10.0, **TOL)


def test_without_floor_the_shortfall_is_paid(tiny):
    # expected market NPV 0.5 x 0 + 0.5 x 30 - 20 = -5: P1 is not built -> 50 MUSD loss.
    run = solve(tiny, design(tiny, floor=False))
    assert run.result.status == "optimal"
    assert run.result.objective_musd == pytest.approx(50.0, **TOL)
    assert run.mechanism["floors_usd_per_kg"] == {"X": None}
    assert run.mechanism["costs"]["by_category_musd"]["shortfall_loss"] == pytest.approx(50.0)


@pytest.mark.parametrize(("test", "quantile", "grants", "share", "expected", "grant"), [
    # worst case under floor 60: -10 -> needs a 10 MUSD grant (allowed: 10 <= 0.5 x 20)
    ("worst", 0.1, True, 0.5, 10.0 + 10.0, 10.0),
    # the same gap is above a 40 % cap (8 MUSD): no support -> shortfall 50
    ("worst", 0.1, True, 0.4, 50.0, 0.0),
    # no grants at all: the worst-case test cannot be met -> 50
    ("worst", 0.1, False, 0.5, 50.0, 0.0),
    # lower 50 % quantile = the 'low' scenario's NPV (-10): as the worst case
    ("quantile", 0.5, True, 0.5, 20.0, 10.0),
    # 90 % quantile at market = +10: P1 bankable without any floor -> no shortfall, cost 0
    ("quantile", 0.9, False, 0.5, 0.0, 0.0),
])
def test_bankability_tests_and_grants(tiny, test, quantile, grants, share, expected, grant):
    run = solve(tiny, design(tiny, test=test, quantile=quantile, grants=grants,
                             grant_share=share))
    assert run.result.status == "optimal"
    assert objective_without_tie_break(run) == pytest.approx(expected, **TOL)
    assert run.mechanism["grants_musd"] == pytest.approx(grant, **TOL)


@pytest.mark.parametrize(("holding", "expected"), [(0.0, 2.0), (2.0, 4.0)])
def test_stockpile_bought_before_the_cut_and_released_in_it(tiny, holding, expected):
    # Buy 1000 t in 2030 at 40 USD/kg = 40 MUSD, hold it a year (1000 t x holding),
    # release it in 2031, sold at that year's price: 1000 t x 40 = 40 MUSD back. Build:
    # 1 MUSD fixed + 1000 t x 1 USD/kg = 1 MUSD. Total 2 + 40 - 40 (+ 2 of holding). No
    # shortfall (which would cost 1000 t x 100 = 100 MUSD). Left-over stock is worth only
    # 0.5 x 40 = 20 USD/kg and nothing is released into a surplus, so nothing more is bought.
    two_year_world(tiny, holding=holding)  # China can supply 2000 t: room for the stock
    run = solve(tiny, design(tiny, floor=False, stock=True))
    m = run.mechanism
    assert m["status"] == "optimal"
    assert run.result.objective_musd == pytest.approx(expected, **TOL)
    assert m["stockpiles"] == [{"product": "X", "built": True, "capacity_t": pytest.approx(1000),
                                "max_capacity_t": 2000.0, "at_max_capacity": False,
                                "expected_purchases_t": pytest.approx(1000),
                                "expected_releases_t": pytest.approx(1000),
                                "max_capacity_value_musd_per_t": pytest.approx(0.0, abs=1e-9)}]
    policy = run.tables["stockpile_policy.csv"].set_index("year")
    assert policy.loc[2030, "purchase_t"] == pytest.approx(1000)
    assert policy.loc[2031, "release_t"] == pytest.approx(1000)


@pytest.mark.parametrize(("rule", "extra", "us", "eu"), [
    ("gdp", "", 7.5, 2.5),  # 3000 : 1000
    ("consumption", "", 6.0, 4.0),  # 600 t : 400 t at the same prices
    ("equal", "", 5.0, 5.0),
    ("custom", "weights = { US = 1, EU = 4 }", 2.0, 8.0),
])
def test_burden_sharing_rules_split_the_outlay(tiny, rule, extra, us, eu):
    two_allies(tiny)
    run = solve(tiny, design(tiny, extra=f'[burden_sharing]\nrule = "{rule}"\n{extra}\n'))
    c = run.mechanism["contributions"]
    assert run.mechanism["costs"]["expected_outlay_musd"] == pytest.approx(10.0, **TOL)
    assert c["US"]["contribution_musd"] == pytest.approx(us, **TOL)
    assert c["EU"]["contribution_musd"] == pytest.approx(eu, **TOL)
    assert run.tables["contributions_by_scenario.csv"]["US"].tolist() == pytest.approx(
        [2 * us, 0.0])  # the top-up is paid in 'low' only


@pytest.mark.parametrize(("cap", "expected", "floor"), [(2.5, 10.0, 60.0), (2.0, 50.0, None)])
def test_budget_cap_limits_the_outlay(tiny, cap, expected, floor):
    # GDP shares 0.75 / 0.25: an EU cap of 2.5 allows outlay 10 (the floor); 2.0 allows
    # only 8, so the floor is unaffordable and the shortfall (50) is borne instead.
    two_allies(tiny)
    allies = read(tiny, "allies.csv")
    allies.loc[allies["ally"] == "EU", "budget_cap_musd"] = str(cap)
    write(tiny, "allies.csv", allies)
    run = solve(tiny)
    assert objective_without_tie_break(run) == pytest.approx(expected, **TOL)
    assert run.mechanism["floors_usd_per_kg"]["X"] == floor


def test_cvar_term(tiny):
    # scenario costs with the floor: low 20, cut 0. CVaR_0.5 = mean of the worst half = 20.
    # objective = E 10 + 1 x 20 = 30 (without the floor: 50 + 100 = 150).
    run = solve(tiny, design(tiny, extra="[risk]\ncvar_weight = 1.0\ncvar_alpha = 0.5\n"))
    assert objective_without_tie_break(run) == pytest.approx(30.0, **TOL)
    assert run.mechanism["costs"]["cvar_cost_musd"] == pytest.approx(20.0, **TOL)  # CVaR95


def test_security_target_met_by_the_floor(tiny):
    run = solve(tiny, design(tiny, extra="[security]\nmax_expected_shortfall_share = 0.0\n"))
    assert run.result.status == "optimal"
    assert objective_without_tie_break(run) == pytest.approx(10.0, **TOL)


def test_security_target_infeasible_without_instruments_is_diagnosed(tiny):
    # no instrument can avoid the 500 t expected shortfall (50 %): a 10 % cap is infeasible
    run = solve(tiny, design(tiny, floor=False,
                             extra="[security]\nmax_expected_shortfall_share = { X = 0.1 }\n"))
    assert run.result.status == "infeasible"
    assert not run.result.has_solution
    assert run.mechanism["objective_musd"] is None
    assert any("c_security" in c for c in run.result.conflict)


@pytest.mark.parametrize(("caps", "expected"), [
    # the worst-case test needs a 10 MUSD grant for P1 (see above): a separation-stage
    # or US budget of 10 allows it (cost 20), one of 9 does not (shortfall, 50)
    ("cap_musd_by_stage = { separation = 10 }", 20.0),
    ("cap_musd_by_stage = { separation = 9 }", 50.0),
    ("cap_musd_by_host = { US = 9 }", 50.0),
    ("cap_musd_by_stage = { magnet = 0 }", 20.0),  # no project of that stage: no effect
])
def test_grant_caps_per_stage_and_host(tiny, caps, expected):
    path = design(tiny, test="worst", grants=True, grant_share=0.5)
    path.write_text(path.read_text().replace("[grants]\n", f"[grants]\n{caps}\n"))
    run = solve(tiny, path)
    assert objective_without_tie_break(run) == pytest.approx(expected, **TOL)


def test_buyer_of_last_resort_reserve(tiny):
    # 2030-31, one scenario: 40 USD/kg in 2030, 80 in 2031 when China supplies nothing;
    # demand 1500 t/yr, China normally 3000 t. P1 (capex 20) runs at market only in 2031;
    # under the 60 USD/kg floor also in 2030 (top-up 1000 t x 20 = 20 MUSD). The reserve
    # may only buy supported output below the floor: 500 t in 2030 at the market value
    # 500 x 40 = 20 MUSD, released in 2031 against the 500 t short and sold back at the
    # floor, 500 x 60 = 30 MUSD; build 1 + 500 t x 1 USD/kg = 1.5. Total 20 + 20 + 1.5 - 30
    # = 11.5 (without it: 50 MUSD of shortfall).
    two_year_world(tiny, prices=(40, 80), demand_t=1500, china_t=3000)
    path = design(tiny, stock=True)
    path.write_text(path.read_text().replace("grants = false\n",
                                             "grants = false\nbuyer_of_last_resort = true\n")
                    + "[buyer_of_last_resort]\nmarket_purchases = false\n")
    run = solve(tiny, path)
    assert objective_without_tie_break(run) == pytest.approx(11.5, **TOL)
    (r,) = run.mechanism["last_resort_reserve"]
    assert r["expected_purchases_t"] == pytest.approx(500)
    assert r["expected_releases_t"] == pytest.approx(500)
    assert r["purchases_at_floor_musd"] == pytest.approx(30.0)  # 500 t x 60
    assert r["of_which_market_value_musd"] == pytest.approx(20.0)
    assert r["of_which_topup_musd"] == pytest.approx(10.0)
    assert r["buyback_revenue_musd"] == pytest.approx(30.0)  # sold back at the floor
    assert r["manufacturers_premium_musd"] == pytest.approx(-10.0)  # 60 vs 80 market
    assert run.mechanism["costs"]["by_category_musd"]["last_resort_purchase"] == \
        pytest.approx(20.0)
    assert run.mechanism["costs"]["by_category_musd"]["release_revenue"] == \
        pytest.approx(-30.0)  # the buy-back revenue, in the objective
    # China's deliveries: in 2030 consumers take 1500 t and P1 makes 1000 t of which the
    # reserve buys 500 t, so China delivers 1000 t; none in 2031. Non-Chinese share of use
    # 1 - 1000 / 3000 = 2/3 (the report left the reserve's purchases out before: 5/6)
    (share,) = run.mechanism["non_chinese_share"].values()
    assert share == pytest.approx(2 / 3, abs=1e-6)

