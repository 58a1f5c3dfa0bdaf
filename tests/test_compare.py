"""Collars, eligible projects, producer participation, and remech compare."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import design, read, solve, write
from remech.cli import main
from remech.model.price_floor import FLOOR_TIE_BREAK


def _capex(folder, value: str, status: str = "new") -> None:
    df = read(folder, "projects.csv")
    df.loc[0, "capex_musd"] = value
    df.loc[0, "status"] = status
    write(folder, "projects.csv", df)


@pytest.mark.parametrize(("shares", "expected", "share_chosen"), [
    # P1 with capex 17: market NPV 0.5 x 0 + 0.5 x 30 - 17 = -2 (not built at market).
    # CfD at 60: NPV 0.5 x 10 + 0.5 x 30 - 17 = 3; expected top-up 0.5 x 20 = 10.
    ("[0.0]", 10.0, 0.0),
    # Collar paying back 25 % above 60: in 'cut' P1 receives 80 - 0.25 x 20 = 75, NPV
    # 0.5 x 10 + 0.5 x 25 - 17 = 0.5 >= 0; top-up 0.5 x 20 + 0.5 x (-5) = 7.5 < 10.
    ("[0.0, 0.25]", 7.5, 0.25),
    # A 50 % collar: NPV 0.5 x 10 + 0.5 x 20 - 17 = -2, not bankable: the CfD stays.
    ("[0.0, 0.5]", 10.0, 0.0),
])
def test_collar_by_hand(tiny, shares, expected, share_chosen):
    _capex(tiny, "17")
    path = design(tiny)
    text = path.read_text().replace("levels_usd_per_kg = { X = [60] }",
                                    f"levels_usd_per_kg = {{ X = [60] }}\nupside_share = {shares}")
    path.write_text(text)
    run = solve(tiny)
    assert run.result.status == "optimal"
    assert run.result.objective_musd - FLOOR_TIE_BREAK * 60 == pytest.approx(expected, abs=1e-6)
    assert run.mechanism["upside_share"]["X"] == share_chosen


def test_producer_participation_excludes_a_collar_that_takes_value(tiny):
    # P1 existing (no capex): expected NPV outside = 0.5 x 0 + 0.5 x 30 = 15. Under a 60
    # floor with 50 % paid back above 60: 0.5 x 10 + 0.5 x 20 = 15 (signs); with 60 %:
    # 0.5 x 10 + 0.5 x 18 = 14 < 15 (does not sign).
    _capex(tiny, "0", "existing")
    path = design(tiny)
    path.write_text(path.read_text().replace(
        "levels_usd_per_kg = { X = [60] }",
        "levels_usd_per_kg = { X = [60] }\nupside_share = [0.5, 0.6]"))
    run = solve(tiny)
    offered = sorted(run.data.options.upside_share.tolist())
    assert offered == [0.5]


def test_eligible_projects_and_mandatory_floor(tiny):
    path = design(tiny)
    path.write_text(path.read_text().replace(
        "levels_usd_per_kg = { X = [60] }",
        'levels_usd_per_kg = { X = [60] }\neligible_projects = []\nmandatory_floor = ["X"]'))
    # no project may be supported, yet the floor is mandatory and must be contracted: the
    # model is infeasible, and says which constraint
    run = solve(tiny)
    assert run.result.status == "infeasible"


def test_mp_style_design_reproduces_the_dod_mp_deal(shipped_compare):
    row = shipped_compare[0]["mp-style"]  # compare_row of the session's remech compare
    assert row["status"] == "optimal"
    assert row["floors_usd_per_kg"]["NDPR"] == 110.0
    assert row["upside_share"]["NDPR"] == 0.3
    assert row["supported_projects"] == ["MP-NDPR"]


def test_compare_all_shipped_designs(shipped_compare):
    by, out = shipped_compare  # remech compare of every shipped design (conftest)
    rows = list(by.values())
    assert set(by) >= {"no-mechanism", "floor-only", "floor-stockpile",
                       "floor-stockpile-grants", "mp-style", "full-toolkit"}
    assert all(row["status"] == "optimal" for row in rows)
    full = by["full-toolkit"]["objective_musd"]
    for row in rows:  # the full toolkit allows everything the others do
        assert full <= row["objective_musd"] * (1 + 2e-4), row["design"]
    assert by["no-mechanism"]["vs_baseline"]["expected_cost_saving_musd"] == 0.0
    assert by["full-toolkit"]["vs_baseline"]["expected_cost_saving_musd"] > 0
    for name in ("compare.csv", "compare.md", "compare.json"):
        assert (out / name).is_file()


def test_compare_keeps_a_failing_design(tiny, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[design]\nname = "too-strict"\n[instruments]\nprice_floor = false\n'
                   'stockpile = false\ngrants = false\n[bankability]\nhurdle_rate = 0.0\n'
                   'tail_years = 0\n[security]\nmax_expected_shortfall_share = 0.1\n')
    r = CliRunner().invoke(main, ["compare", str(tiny), "-m", str(tiny / "design.toml"),
                                  "-m", str(bad), "--jobs", "1", "--json", "-q"])
    assert r.exit_code == 0, r.output
    rows = {row["design"]: row for row in json.loads(r.stdout)}
    assert rows["too-strict"]["status"] == "infeasible"
    assert rows["too-strict"]["objective_musd"] is None
    assert rows["tiny-floor"]["status"] == "optimal"


def _tariff(tiny, demand: int):
    src = "assumption: test data"
    write(tiny, "demand.csv", [{"ally": "US", "product": "X", "year": 2030,
                                "demand_t": demand, "source": src}])
    write(tiny, "supply.csv", [{"product": "X", "year": 2030, "china_supply_t": demand,
                                "other_supply_t": 0, "source": src}])
    path = design(tiny, floor=False)
    path.write_text(path.read_text().replace(
        "grants = false\n", "grants = false\ntariff = true\n")
        + "[tariff]\nreference_usd_per_kg = { X = [60] }\n")
    return solve(tiny, path)


def test_tariff_reference_price_by_hand(tiny):
    # R = 60: P1's NPV at max(price, 60) is 0.5 x 10 + 0.5 x 30 - 20 = 0: built without any
    # contract. In 'low' it supplies all 1000 t: consumers pay 0.5 x 20 x 1000 t = 10 MUSD,
    # no imports, no tariff revenue; no treasury outlay.
    run = _tariff(tiny, 1000)
    m = run.mechanism
    assert m["tariff_reference_usd_per_kg"]["X"] == 60.0
    assert m["floors_usd_per_kg"]["X"] is None
    assert m["costs"]["expected_outlay_musd"] == pytest.approx(0.0, abs=1e-9)
    us = m["contributions"]["US"]
    assert us["consumer_cost_musd"] == pytest.approx(10.0)
    assert us["tariff_revenue_musd"] == pytest.approx(0.0, abs=1e-9)
    assert run.result.objective_musd - FLOOR_TIE_BREAK * 60 == pytest.approx(10.0)


def test_tariff_revenue_is_the_premium_on_imports(tiny):
    # demand 1500 t: in 'low' P1 supplies 1000 t and China 500 t. Consumers pay
    # (60 - 40) x 1500 t x 0.5 = 15 MUSD; tariff revenue = (reference - import price) x
    # imports = 20 x 500 t x 0.5 = 5; net 10 = the premium on allied output. 'cut': 500 t
    # short (0.5 x 500 x 100 = 25).
    run = _tariff(tiny, 1500)
    us = run.mechanism["contributions"]["US"]
    assert us["consumer_cost_musd"] == pytest.approx(15.0)
    assert us["tariff_revenue_musd"] == pytest.approx(5.0)
    assert us["net_cost_musd"] == pytest.approx(10.0)
    assert run.mechanism["costs"]["by_category_musd"]["consumer_cost_net"] == pytest.approx(
        10.0)
    assert run.result.objective_musd - FLOOR_TIE_BREAK * 60 == pytest.approx(35.0)
