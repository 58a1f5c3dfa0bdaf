"""Two views of cost: fiscal (what treasuries pay) and economic (allied welfare), by hand.

tiny-floor: one ally, product X (demand 1,000 t, shortfall 100 USD/kg), scenarios 'low'
(price 40, China supplies 1,000 t) and 'cut' (price 80, China supplies nothing), 0.5 each,
no discounting; project P1 (new, 1,000 t, unit cost 50, capex 20 MUSD).
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import design, read, solve, two_allies, write
from remech.errors import InputError

TOL = {"abs": 1e-6}


def test_floor_for_a_new_plant_in_both_views(tiny):
    # floor 60: P1 runs in both scenarios; top-up 1,000 t x 20 USD/kg = 20 MUSD in 'low'
    # (expected 10); no shortfall. Fiscal: 10 (no floor: 0.5 x 100 MUSD shortfall = 50).
    # Economic (MCPF 1.3): 1.3 x 10 minus the producer's gain: margins with the top-up
    # 0.5 x 10 + 0.5 x 30 = 20, less capex 20 (built only because of the floor) = 0 -> 13:
    # the excess burden of the top-up (3) plus the plant's net real cost (capex 20 less its
    # expected margin at market prices 0.5 x -10 + 0.5 x 30 = 10).
    run = solve(tiny, design(tiny, extra="[objective]\nview = \"economic\"\n"))
    c = run.mechanism.costs
    assert run.mechanism.status == "optimal"
    assert run.mechanism.floors_usd_per_kg == {"X": 60.0}
    assert c["view"] == "economic" and c["mcpf"] == 1.3
    assert c["views"]["fiscal"]["expected_cost_musd"] == pytest.approx(10.0, **TOL)
    assert c["views"]["economic"]["expected_cost_musd"] == pytest.approx(13.0, **TOL)
    assert c["expected_cost_musd"] == pytest.approx(13.0, **TOL)
    assert run.mechanism.objective_musd == pytest.approx(13.0, abs=1e-4)
    assert c["by_category_musd"]["producer_surplus"] == pytest.approx(0.0, **TOL)
    table = run.mechanism.tables["scenario_costs.csv"].set_index("scenario")
    # 'low': -(10 + 0 - 20) = 10 of producer loss; 'cut': -(30 - 20) = -10
    assert table.loc["low", "producer_surplus_musd"] == pytest.approx(10.0, **TOL)
    assert table.loc["cut", "producer_surplus_musd"] == pytest.approx(-10.0, **TOL)
    assert table.loc["low", "economic_cost_musd"] == pytest.approx(1.3 * 20 + 10, **TOL)


def test_topup_to_an_allys_own_producer_is_a_transfer(tiny):
    # P1 existing at unit cost 30: it runs at 40 and at 80 with or without the floor.
    # A compulsory 60 floor pays it 20 MUSD in 'low' (expected 10): the fiscal view counts
    # 10, the economic view only the excess burden (1.3 - 1) x 10 = 3.
    projects = read(tiny, "projects.csv")
    projects.loc[0, ["status", "unit_cost_usd_per_kg"]] = ["existing", "30"]
    write(tiny, "projects.csv", projects)
    extra = ("[objective]\nview = \"economic\"\n")
    path = design(tiny, extra=extra)
    path.write_text(path.read_text().replace(
        "levels_usd_per_kg = { X = [60] }",
        "levels_usd_per_kg = { X = [60] }\nmandatory_floor = [\"X\"]\nsupport_existing = \"all\""))
    run = solve(tiny, path)
    c = run.mechanism.costs
    assert run.mechanism.floors_usd_per_kg == {"X": 60.0}
    assert c["by_category_musd"]["topup"] == pytest.approx(10.0, **TOL)
    assert c["by_category_musd"]["producer_surplus"] == pytest.approx(-10.0, **TOL)
    assert c["views"]["fiscal"]["expected_cost_musd"] == pytest.approx(10.0, **TOL)
    assert c["views"]["economic"]["expected_cost_musd"] == pytest.approx(3.0, **TOL)


def test_the_view_can_change_the_decision(tiny):
    # Shortfall penalty 22 USD/kg: no floor costs 0.5 x 1,000 t x 22 = 11 MUSD of shortfall.
    # The floor costs 10 in the fiscal view (chosen) but 13 in the economic view (not).
    products = read(tiny, "products.csv")
    products.loc[0, "shortfall_penalty_usd_per_kg"] = "22"
    write(tiny, "products.csv", products)
    fiscal = solve(tiny, design(tiny))
    assert fiscal.mechanism.floors_usd_per_kg == {"X": 60.0}
    assert fiscal.mechanism.costs["expected_cost_musd"] == pytest.approx(10.0, **TOL)
    economic = solve(tiny, design(tiny, extra="[objective]\nview = \"economic\"\n"))
    assert economic.mechanism.floors_usd_per_kg == {"X": None}
    assert economic.mechanism.costs["expected_cost_musd"] == pytest.approx(11.0, **TOL)
    # the other view is reported next to the one minimised
    assert economic.mechanism.costs["views"]["fiscal"]["expected_cost_musd"] == \
        pytest.approx(11.0, **TOL)


def test_mcpf_is_checked(tiny):
    with pytest.raises(InputError, match=r"\[objective\] mcpf"):
        solve(tiny, design(tiny, extra="[objective]\nmcpf = 0.5\n"))
    with pytest.raises(InputError, match=r"\[objective\] view"):
        solve(tiny, design(tiny, extra="[objective]\nview = \"social\"\n"))


# -- budget caps that hold in every scenario (issue 9, item 6) ---------------------------

def test_cap_in_every_scenario_binds_where_the_expected_cap_does_not(tiny):
    # The 60 floor pays 20 MUSD in 'low' and 0 in 'cut' (expected 10). An expected-outlay
    # cap of 15 allows it; a cap of 15 in every scenario does not (20 > 15), so the floor is
    # dropped and the shortfall (0.5 x 100 = 50) is borne.
    allies = read(tiny, "allies.csv")
    allies.loc[0, "budget_cap_musd"] = "15"
    write(tiny, "allies.csv", allies)
    expected_only = solve(tiny, design(tiny))
    assert expected_only.mechanism.floors_usd_per_kg == {"X": 60.0}
    assert expected_only.mechanism.costs["expected_cost_musd"] == pytest.approx(10.0, **TOL)
    capped = solve(tiny, design(tiny, extra="[burden_sharing]\n"
                                            "cap_musd_per_scenario = { US = 15 }\n"))
    assert capped.mechanism.status == "optimal"
    assert capped.mechanism.floors_usd_per_kg == {"X": None}
    assert capped.mechanism.costs["expected_cost_musd"] == pytest.approx(50.0, **TOL)
    us = capped.mechanism.contributions_by_ally["US"]
    assert us["cap_per_scenario_musd"] == 15.0
    assert us["max_scenario_payment_musd"] == pytest.approx(0.0, abs=1e-9)
    loose = solve(tiny, design(tiny, extra="[burden_sharing]\n"
                                          "cap_musd_per_scenario = { US = 20 }\n"))
    assert loose.mechanism.floors_usd_per_kg == {"X": 60.0}
    assert loose.mechanism.contributions_by_ally["US"]["max_scenario_payment_musd"] == \
        pytest.approx(20.0, **TOL)


def test_yearly_cap_splits_by_share(tiny):
    # Two allies, GDP shares 0.75 / 0.25: the EU's yearly cap of 5 allows an outlay of 20
    # in any year (the floor's 20 MUSD in 'low'); 4.9 allows 19.6 and drops the floor.
    two_allies(tiny)
    ok = solve(tiny, design(tiny, extra="[burden_sharing]\ncap_musd_per_year = { EU = 5 }\n"))
    assert ok.mechanism.floors_usd_per_kg == {"X": 60.0}
    eu = ok.mechanism.contributions_by_ally["EU"]
    assert eu["max_year_payment_musd"] == pytest.approx(5.0, **TOL)
    assert eu["cap_per_year_musd"] == 5.0
    tight = solve(tiny, design(tiny, extra="[burden_sharing]\n"
                                           "cap_musd_per_year = { EU = 4.9 }\n"))
    assert tight.mechanism.floors_usd_per_kg == {"X": None}
    assert tight.mechanism.costs["expected_cost_musd"] == pytest.approx(50.0, **TOL)


def test_scenario_caps_need_fixed_shares(tiny):
    with pytest.raises(InputError, match=r"\[burden_sharing\] cap_musd_per_scenario: needs "
                                         r"fixed shares of the outlay"):
        solve(tiny, design(tiny, extra="[burden_sharing]\nrule = \"core\"\n"
                                       "cap_musd_per_scenario = { US = 15 }\n"))
    with pytest.raises(InputError, match=r"cap_musd_per_year.XX: 'XX' is not in the instance"):
        solve(tiny, design(tiny, extra="[burden_sharing]\ncap_musd_per_year = { XX = 1 }\n"))


def _add_partner(tiny) -> None:
    """ZA, role 'partner': it hosts projects but does not pay or consume."""
    allies = read(tiny, "allies.csv")
    partner = allies.iloc[0].copy()
    partner[["ally", "name", "role", "gdp_usd_bn", "budget_cap_musd"]] = [
        "ZA", "South Africa", "partner", "400", ""]
    write(tiny, "allies.csv", pd.concat([allies, partner.to_frame().T]))


def test_topup_to_a_partner_leaves_the_alliance(tiny):
    # As the transfer test, but P1 is hosted by a partner (role 'partner': it hosts a
    # project but does not pay or consume): the 10 MUSD of top-up leave the alliance, so
    # the economic view counts MCPF x 10 = 13 and no producer gain.
    _add_partner(tiny)
    projects = read(tiny, "projects.csv")
    projects.loc[0, ["status", "unit_cost_usd_per_kg", "host"]] = ["existing", "30", "ZA"]
    write(tiny, "projects.csv", projects)
    path = design(tiny, extra="[objective]\nview = \"economic\"\n")
    path.write_text(path.read_text().replace(
        "levels_usd_per_kg = { X = [60] }",
        "levels_usd_per_kg = { X = [60] }\nmandatory_floor = [\"X\"]\nsupport_existing = \"all\""))
    c = solve(tiny, path).mechanism.costs
    assert c["by_category_musd"]["producer_surplus"] == pytest.approx(0.0, **TOL)
    assert c["views"]["economic"]["expected_cost_musd"] == pytest.approx(13.0, **TOL)


def test_normal_deliveries_cannot_exceed_normal_supply(tiny):
    supply = read(tiny, "supply.csv")
    supply["china_normal_deliveries_t"] = "2500"
    write(tiny, "supply.csv", supply)
    with pytest.raises(InputError) as err:
        solve(tiny)
    assert str(err.value) == (
        "supply.csv row 2, column 'china_normal_deliveries_t': china_normal_deliveries_t "
        "2500 is above china_supply_t 1000; give normal deliveries of at most China's "
        "normal supply (an export cut cannot raise supply)")


@pytest.mark.parametrize("host, low, cut", [("US", 15.0, -15.0), ("ZA", 0.0, 0.0)])
def test_a_partner_plants_grant_and_margins_leave_the_alliance(tiny, host, low, cut):
    # P1 (new, 1,000 t, cost 50, capex 20) with grants up to its whole capex: at market
    # prices it runs only in 'cut' (margin 30), expected NPV 15 - 20 = -5 at 0 %, so a
    # 5 MUSD grant builds it without a floor (the 60 floor would cost 0.5 x 20 = 10 of
    # top-up); fiscal 5 against 50 of shortfall without it. Hosted by the ally US, the
    # producer's gain per scenario is margin - capex + grant: 0 - 20 + 5 = -15 ('low', a
    # cost of 15) and 30 - 20 + 5 = 15 ('cut'). Hosted by a partner (ZA) its margins and
    # its grant leave the alliance: 0 in both.
    _add_partner(tiny)
    projects = read(tiny, "projects.csv")
    projects.loc[0, "host"] = host
    write(tiny, "projects.csv", projects)
    run = solve(tiny, design(tiny, grants=True, grant_share=1.0))
    c = run.mechanism.costs
    assert run.mechanism.floors_usd_per_kg == {"X": None}
    assert c["by_category_musd"]["grants"] == pytest.approx(5.0, **TOL)
    assert c["views"]["fiscal"]["expected_cost_musd"] == pytest.approx(5.0, **TOL)
    table = run.mechanism.tables["scenario_costs.csv"].set_index("scenario")
    assert table.loc["low", "producer_surplus_musd"] == pytest.approx(low, **TOL)
    assert table.loc["cut", "producer_surplus_musd"] == pytest.approx(cut, **TOL)
    economic = 1.3 * 5.0 + (0.5 * (low + cut))
    assert c["views"]["economic"]["expected_cost_musd"] == pytest.approx(economic, **TOL)
