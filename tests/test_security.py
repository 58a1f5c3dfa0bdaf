"""Security targets, hard and soft, and their shadow prices, computed by hand.

Base world: instances/tiny-floor (see test_handcomputed.py). Without instruments P1 is
not built: 'low' is supplied by China, 'cut' is 1000 t short (0.5 x 100 MUSD = 50)."""

from __future__ import annotations

import pytest

from conftest import design, read, solve, two_year_world, write
from remech.model.reagents import KT


def _no_instruments(tiny, security: str):
    return design(tiny, floor=False, extra=f"[security]\n{security}\n")


def test_min_non_chinese_share_hard_with_shadow_price(tiny):
    # China may supply at most 50 % in 'low': 500 t short there (0.5 x 500 x 100 = 25):
    # 75 in all. One point more costs 10 t x 100 USD/kg x 0.5 = 0.5 MUSD.
    run = solve(tiny, _no_instruments(tiny, "min_non_chinese_share = { X = 0.5 }"))
    assert run.result.objective_musd == pytest.approx(75.0)
    sp = run.mechanism["shadow_prices"]["min_non_chinese_share.X"]
    assert sp["marginal_cost_musd"] == pytest.approx(0.5)


def test_min_non_chinese_share_soft(tiny):
    # at 20 USD/kg the violation (500 t in 'low') is cheaper than a shortfall:
    # 0.5 x 500 x 20 = 5; total 50 + 5 = 55; one point costs 10 t x 20 x 0.5 = 0.1 MUSD.
    run = solve(tiny, _no_instruments(
        tiny, "min_non_chinese_share = 0.5\nsoft = { min_non_chinese_share = 20 }"))
    assert run.result.objective_musd == pytest.approx(55.0)
    assert run.mechanism["costs"]["by_category_musd"]["target_penalty"] == pytest.approx(5.0)
    assert run.mechanism["shadow_prices"]["min_non_chinese_share.X"][
        "marginal_cost_musd"] == pytest.approx(0.1)


def test_the_floor_meets_the_non_chinese_target(tiny):
    # with the 60 USD/kg floor P1 supplies 1000 t in both scenarios: the target costs nothing
    run = solve(tiny, design(tiny, extra="[security]\nmin_non_chinese_share = 0.5\n"))
    assert run.result.objective_musd == pytest.approx(10.0, abs=1e-4)
    assert run.mechanism["non_chinese_share"]["X"] == pytest.approx(1.0)


def test_single_country_share_caps_china_and_hosts(tiny):
    # 50 % cap: China <= 500 t in 'low'; P1 (US) would supply 1000 t > 500, so it cannot
    # be supported: 'low' 500 t short (25) and 'cut' 1000 t short (50): 75.
    run = solve(tiny, design(tiny, extra="[security]\nmax_single_country_share = 0.5\n"))
    assert run.result.objective_musd == pytest.approx(75.0, abs=1e-4)
    assert run.mechanism["supported_projects"] == []


def test_stockpile_cover_days(tiny):
    # 2030-31, one scenario at 40 USD/kg, China always supplies; 73 days of cover in 2031
    # = 200 t held at the end of 2031: buy 200 t x 40 = 8, capacity 200 t x 1 USD/kg = 0.2,
    # fixed 1, stock left worth 0.5 x 40 = 20 USD/kg: -4. Total 5.2 MUSD. One more day:
    # 1000/365 t x (40 + 1 - 20) USD/kg = 0.0575 MUSD.
    two_year_world(tiny, cut_2031=False)
    projects = read(tiny, "projects.csv")
    projects.loc[0, "capex_musd"] = "1000"  # P1 never bankable here
    write(tiny, "projects.csv", projects)
    run = solve(tiny, design(tiny, floor=False, stock=True,
                             extra="[security]\nstockpile_cover_days = { X = 73 }\n"))
    assert run.result.objective_musd == pytest.approx(5.2, abs=1e-6)
    assert run.mechanism["shadow_prices"]["stockpile_cover_days.X"][
        "marginal_cost_musd"] == pytest.approx(1000 / 365 * 21 * 1e-3, rel=1e-6)


def test_cover_target_needs_a_stockpile(tiny):
    from remech.errors import InputError

    with pytest.raises(InputError, match=r"stockpile_cover_days.X: no stockpile for 'X'"):
        solve(tiny, design(tiny, extra="[security]\nstockpile_cover_days = 30\n"))


def test_unknown_soft_target_is_an_input_error(tiny):
    from remech.errors import InputError

    with pytest.raises(InputError, match=r"\[security\] soft.speed: unknown target"):
        solve(tiny, design(tiny, extra="[security]\nsoft = { speed = 3 }\n"))


def _acid(tiny):
    src = "assumption: test data"
    write(tiny, "reagents.csv", [{"reagent": "ACID", "name": "hydrochloric acid",
                                  "non_chinese_supply_t": 500, "china_supply_t": 1500,
                                  "source": src}])
    write(tiny, "reagent_use.csv", [{"project": "P1", "reagent": "ACID", "use_t_per_t": 2,
                                     "source": src}])
    av = read(tiny, "availability.csv")
    av.loc[len(av)] = ["cut", "2030", "ACID", "0", src]
    write(tiny, "availability.csv", av)


def test_reagent_limit_hard_curtails_refining(tiny):
    # P1 needs 2 t of acid per t. In 'cut' China's acid is gone: 500 t of acid -> 250 t of
    # X; 750 t short: 0.5 x 750 x 100 = 37.5, plus the top-up 10 = 47.5. One more t of acid
    # (in every scenario) gives 0.5 t more X in 'cut': 0.5 x 0.5 t x 100 USD/kg = 0.025 MUSD.
    _acid(tiny)
    run = solve(tiny, design(tiny, extra="[security]\nreagent_limits = true\n"))
    assert run.result.objective_musd == pytest.approx(47.5, abs=1e-4)
    assert run.mechanism["shadow_prices"]["reagent_limits.ACID"][
        "marginal_cost_musd"] == pytest.approx(0.025, abs=1e-6)
    # curtailed only where the acid runs out: 750 t in 'cut', nothing elsewhere (without
    # the tie-break HiGHS may curtail any output the balance does not need, at equal cost,
    # and the report would count it as deliveries China had to make)
    scen = run.data.scenarios
    curtailed = {scen[s]: KT * v.value for (s, t, j), v in run.model.reagent_curtail_kt.items()}
    assert curtailed.pop("cut") == pytest.approx(750.0, abs=1e-6)
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in curtailed.values())


def test_reagent_limit_soft(tiny):
    # violating costs 1500 t x 10 USD/kg x 0.5 = 7.5 < curtailing: 10 + 7.5 = 17.5
    _acid(tiny)
    run = solve(tiny, design(tiny, extra="[security]\nreagent_limits = true\n"
                                         "soft = { reagent_limits = 10 }\n"))
    assert run.result.objective_musd == pytest.approx(17.5, abs=1e-4)


def test_reagent_limits_need_reagent_data(tiny):
    from remech.errors import InputError

    with pytest.raises(InputError, match="reagent_limits: the instance has no reagents.csv"):
        solve(tiny, design(tiny, extra="[security]\nreagent_limits = true\n"))


def test_targets_can_be_set_per_stage(tiny):
    # X is a separation-stage product: a separation target applies to it (as in 'by product')
    run = solve(tiny, _no_instruments(tiny, "min_non_chinese_share = { separation = 0.5 }"))
    assert run.result.objective_musd == pytest.approx(75.0)
