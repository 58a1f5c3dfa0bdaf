"""Coalition costs, the executor (local processes and Dask), caching, the 'core'
burden-sharing rule and the game command, on a two-ally world computed by hand.

Two-ally world (tiny-floor with US 600 t and EU 400 t of demand, GDP 3000 : 1000; P1 is
hosted in the US): the US alone keeps P1 under the 60 USD/kg floor: c(US) = expected
top-up 0.5 x 20 = 10 MUSD. The EU alone has no project: c(EU) = shortfall 0.5 x 400 t x
100 USD/kg = 20 MUSD. Together: c(US+EU) = 10 (P1 covers both).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import design, read, two_allies, write
from remech.cli import main
from remech.coalition import restrict
from remech.instance import load_instance
from remech.stability import GameOptions, coalition_game


@pytest.fixture
def duo(tiny):
    return two_allies(tiny)


def test_restrict_keeps_own_projects_demand_and_supply_share(duo):
    inst = load_instance(duo)
    eu = restrict(inst, ["EU"])
    assert eu.projects.empty and eu.members == ["EU"]
    assert eu.supply["china_supply_t"].tolist() == [pytest.approx(400.0)]
    us = restrict(inst, ["US"])
    assert us.projects["project"].tolist() == ["P1"]


def costs_of(game):
    return {game.label(m): float(game.cost[m]) for m in range(1, game.grand + 1)}


def test_coalition_costs_by_hand_and_cache(duo, tmp_path):
    cache = tmp_path / "cache"
    game, records = coalition_game(duo, duo / "design.toml", jobs=1, cache_dir=cache)
    costs = costs_of(game)
    assert costs["US"] == pytest.approx(10.0, abs=1e-4)
    assert costs["EU"] == pytest.approx(20.0, abs=1e-4)
    assert costs["US+EU"] == pytest.approx(10.0, abs=1e-4)
    assert all(r["status"] == "optimal" and not r["cached"] for r in records)
    _, again = coalition_game(duo, duo / "design.toml", jobs=1, cache_dir=cache)
    assert all(r["cached"] for r in again)


def test_process_pool_gives_the_same_game(duo):
    game, _ = coalition_game(duo, duo / "design.toml", jobs=2, cache_dir=None)
    assert costs_of(game)["EU"] == pytest.approx(20.0, abs=1e-4)


def test_dask_local_cluster_gives_the_same_game(duo):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        game, records = coalition_game(duo, duo / "design.toml",
                                       scheduler=cluster.scheduler_address, cache_dir=None)
    assert costs_of(game) == pytest.approx({"US": 10.0, "EU": 20.0, "US+EU": 10.0},
                                           abs=1e-4)
    assert len(records) == 3


def core_design(folder, extra=""):
    return design(folder, extra='[burden_sharing]\nrule = "core"\nreference = "gdp"\n' + extra)


def test_core_rule_keeps_the_reference_split_when_it_is_stable(duo):
    core_design(duo)
    from remech.run import solve_files
    from remech.solving import SolverOptions

    run = solve_files(duo, None, SolverOptions(), game=GameOptions(jobs=1, cache_dir=None))
    bs = run.mechanism["burden_sharing"]
    c = run.mechanism["contributions"]
    # GDP 3 : 1 of the outlay 10 is (7.5, 2.5): inside the core {x_US <= 10, x_EU <= 20}
    assert c["US"]["contribution_musd"] == pytest.approx(7.5, abs=1e-4)
    assert c["EU"]["contribution_musd"] == pytest.approx(2.5, abs=1e-4)
    assert bs["core_empty"] is False
    assert bs["saving_musd"] == pytest.approx({"US": 2.5, "EU": 17.5}, abs=1e-4)
    assert run.tables["contributions.csv"]["saving_musd"].tolist() == pytest.approx(
        [2.5, 17.5], abs=1e-4)
    # net cost follows the core split (no tariff here: net cost = contribution), in
    # mechanism.json and in contributions.csv
    assert c["US"]["net_cost_musd"] == pytest.approx(7.5, abs=1e-4)
    assert c["EU"]["net_cost_musd"] == pytest.approx(2.5, abs=1e-4)
    table = run.tables["contributions.csv"]
    assert table["net_cost_musd"].tolist() == pytest.approx([7.5, 2.5], abs=1e-4)
    assert (table["net_cost_musd"] == table["contribution_musd"] + table["consumer_cost_musd"]
            - table["tariff_revenue_musd"]).all()


def test_core_rule_respects_budget_caps(duo):
    from remech.run import solve_files
    from remech.solving import SolverOptions

    allies = read(duo, "allies.csv")
    allies.loc[allies["ally"] == "EU", "budget_cap_musd"] = "2"
    write(duo, "allies.csv", allies)
    core_design(duo)
    run = solve_files(duo, None, SolverOptions(), game=GameOptions(jobs=1, cache_dir=None))
    # inside the MIP the contributions are free within the caps, so the floor stays
    assert run.mechanism["floors_usd_per_kg"]["X"] == 60.0
    c = run.mechanism["contributions"]
    assert c["EU"]["contribution_musd"] == pytest.approx(2.0, abs=1e-4)
    assert c["US"]["contribution_musd"] == pytest.approx(8.0, abs=1e-4)


def test_game_command_on_an_instance_and_on_its_costs(duo, tmp_path):
    out = tmp_path / "g"
    result = CliRunner().invoke(main, ["game", str(duo), "--jobs", "1", "--cache",
                                       str(tmp_path / "c"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "saving from joining" in result.stdout
    assert "3 coalitions: 3 solved" in result.stdout
    saved = json.loads((out / "game.json").read_text())
    assert saved["stand_alone"] == pytest.approx({"US": 10.0, "EU": 20.0}, abs=1e-4)
    assert set(saved["rules"]) >= {"shapley", "nucleolus", "least_core", "gdp",
                                   "consumption", "equal"}
    # Shapley of (10, 20; 10): US 10/2 + (10 - 20)/2 = 0, EU 20/2 + (10 - 10)/2 = 10
    assert saved["shapley"] == pytest.approx({"US": 0.0, "EU": 10.0}, abs=1e-4)
    again = CliRunner().invoke(main, ["game", "--costs", str(out / "coalition_costs.csv"),
                                      "--json"])
    assert again.exit_code == 0
    data = json.loads(again.stdout)
    for key in ("shapley", "nucleolus", "least_core", "core_empty"):
        assert key in data
    assert data["shapley"] == pytest.approx(saved["shapley"], abs=1e-6)
    assert data["least_core"]["epsilon"] <= 0 and data["core_empty"] is False
    assert np.isclose(sum(data["nucleolus"].values()), 10.0)


def test_game_command_errors(tmp_path):
    r = CliRunner().invoke(main, ["game"])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: missing INSTANCE (or --costs FILE.csv); see remech "
                                "game --help")
    (tmp_path / "bad.csv").write_text("coalition,cost\nA,1\nB,x\n")
    r = CliRunner().invoke(main, ["game", "--costs", str(tmp_path / "bad.csv")])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: bad.csv row 3, column 'cost': 'x' is not a number; "
                                "write the coalition's cost as a number")
