"""Export cuts act on China's normal deliveries to the allies (issue 9, item 3), by hand.

World (tiny-floor edited), one year, no mechanism: demand 1000 t of X (shortfall penalty
100 USD/kg); China can supply up to 2000 t (china_supply_t, room for stockpile purchases);
one existing allied plant E, 400 t/yr at a unit cost of 50 USD/kg; China's normal
deliveries 600 t (= demand - E's output). Two equally likely scenarios:

* 'normal': price 40, no cut. E does not run (40 < 50); China supplies all 1000 t asked
  (within its 2000 t): no shortfall.
* 'cut': price 80, availability 0.5. E runs (400 t); China delivers at most
  0.5 x 600 = 300 t: shortfall 1000 - 400 - 300 = 300 t, a loss of 300 t x 100 USD/kg =
  30 MUSD. Expected cost 0.5 x 30 = 15 MUSD.

Without the normal-deliveries column the cut scales china_supply_t (the older convention):
0.5 x 2000 = 1000 t, no shortfall, cost 0.
"""

from __future__ import annotations

import pytest

from conftest import solve, write
from remech.design import load_design
from remech.evaluate import expected_instance
from remech.instance import load_instance
from remech.prepare import prepare
from remech.scenarios import china_multiple

SRC = "assumption: test data"


@pytest.fixture
def world(tiny):
    write(tiny, "projects.csv", [{
        "project": "E", "name": "Existing plant", "host": "US", "product": "X",
        "stage": "separation", "status": "existing", "capacity_t": 400, "start_year": 2020,
        "ramp_years": 1, "unit_cost_usd_per_kg": 50, "capex_musd": 0, "source": SRC}])
    write(tiny, "scenarios.csv", [
        {"scenario": s, "probability": 0.5, "description": "", "source": SRC}
        for s in ("normal", "cut")])
    write(tiny, "prices.csv", [
        {"scenario": "normal", "year": 2030, "product": "X", "price_usd_per_kg": 40,
         "source": SRC},
        {"scenario": "cut", "year": 2030, "product": "X", "price_usd_per_kg": 80,
         "source": SRC}])
    write(tiny, "availability.csv", [{"scenario": "cut", "year": 2030, "product": "X",
                                      "china_availability": 0.5, "source": SRC}])
    (tiny / "design.toml").write_text(
        '[design]\nname = "none"\n[instruments]\nprice_floor = false\nstockpile = false\n'
        'grants = false\n')
    return tiny


def supply(folder, normal: float | str) -> None:
    write(folder, "supply.csv", [{"product": "X", "year": 2030, "china_supply_t": 2000,
                                  "other_supply_t": 0, "china_normal_deliveries_t": normal,
                                  "source": SRC}])


def test_cut_acts_on_normal_deliveries(world):
    supply(world, 600)
    run = solve(world)
    assert run.result.status == "optimal"
    assert run.result.objective_musd == pytest.approx(15.0, abs=1e-6)
    costs = run.tables["scenario_costs.csv"].set_index("scenario")
    assert costs.loc["cut", "shortfall_X_t"] == pytest.approx(300.0, abs=1e-6)
    assert costs.loc["normal", "shortfall_X_t"] == pytest.approx(0.0, abs=1e-6)
    assert run.data.china_cap_t[:, 0, 0].tolist() == [2000.0, 300.0]


def test_blank_normal_deliveries_keep_the_old_base(world):
    supply(world, "")
    run = solve(world)
    assert run.result.objective_musd == pytest.approx(0.0, abs=1e-6)
    assert run.data.china_cap_t[:, 0, 0].tolist() == [2000.0, 1000.0]


def test_generated_availability_is_the_flow_ratio_with_normal_deliveries(world):
    # the generator divides a flow ratio by China's supply as a multiple of demand only
    # under the old convention; with normal deliveries the availability is the flow ratio
    supply(world, 600)
    assert china_multiple(load_instance(world)).tolist() == [[1.0]]
    supply(world, "")
    assert china_multiple(load_instance(world)).tolist() == [[2.0]]


def test_expected_path_has_the_expected_cap(world):
    # EV (remech solve --vss): China's cap on the expected path is 0.5 x 2000 + 0.5 x 300 =
    # 1150 t, written as availability 1150 / 2000 of china_supply_t
    supply(world, 600)
    ev = expected_instance(load_instance(world))
    data = prepare(ev, load_design(world / "design.toml"))
    assert data.china_cap_t[0, 0, 0] == pytest.approx(1150.0)
    supply(world, "")  # older convention: the mean availability, 0.75 x 2000
    ev = expected_instance(load_instance(world))
    assert prepare(ev, load_design(world / "design.toml")).china_cap_t[0, 0, 0] == \
        pytest.approx(1500.0)
