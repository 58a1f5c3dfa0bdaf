"""The Owen value (remech.owen) and the 34-ally instance allied-ree-eu27-2026: values
computed by hand, the closed form of airport games with a priori unions (Vazquez-Brage,
van den Nouweland and Garcia-Jurado 1997), the trivial union structures (the Shapley
value), efficiency and the quotient game, sampled values within their intervals, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import two_allies
from remech.cli import main
from remech.costgame import CostGame, shapley
from remech.errors import InputError
from remech.oracle import AirportGame, MajorityGame, TableOracle
from remech.owen import analyse_owen, owen_exact, owen_sampled, parse_unions, quotient_game

ROOT = Path(__file__).resolve().parents[1]
EU27 = ROOT / "instances" / "allied-ree-eu27-2026"


def hand_game() -> CostGame:
    """c(A) 6, c(B) 8, c(C) 10, c(AB) 10, c(AC) 14, c(BC) 15, c(ABC) 18."""
    return CostGame.from_costs(["A", "B", "C"], {
        frozenset("A"): 6, frozenset("B"): 8, frozenset("C"): 10, frozenset("AB"): 10,
        frozenset("AC"): 14, frozenset("BC"): 15, frozenset("ABC"): 18})


def test_owen_value_by_hand():
    """Unions {A, B} and {C}. Quotient game: c(U1) = 10, c(U2) = 10, c(U1 U2) = 18, so each
    union's Shapley value is 1/2 * 10 + 1/2 * (18 - 10) = 9. Inside U1, A's marginal costs:
    without C: c(A) = 6 and c(AB) - c(B) = 2 (mean 4); after C: c(AC) - c(C) = 4 and
    c(ABC) - c(BC) = 3 (mean 3.5); Owen_A = (4 + 3.5) / 2 = 3.75, Owen_B = 9 - 3.75 = 5.25
    (by hand: (8 + 4) / 2 and (5 + 4) / 2, mean 5.25). The Shapley value differs:
    (4, 5.5, 8.5)."""
    game = hand_game()
    unions = parse_unions(["U1=A,B"], game.players)
    assert unions.names == ["U1", "C"]
    assert owen_exact(game, unions) == pytest.approx([3.75, 5.25, 9.0], abs=1e-12)
    assert shapley(game) == pytest.approx([4.0, 5.5, 8.5], abs=1e-12)
    result = analyse_owen(TableOracle(game), unions, 18.0, None, 1000)
    assert result["union_totals"]["U1"]["total"] == pytest.approx(9.0)
    assert result["union_totals"]["C"]["total"] == pytest.approx(9.0)


def test_owen_value_of_the_majority_game_with_a_union():
    """The textbook illustration of a priori unions: three voters, simple majority; when 1
    and 2 form a union
    they always win together, so the union takes the whole prize (split equally) and 3 gets
    nothing; the Shapley value gives a third each. As a cost game c(S) = -100 if |S| >= 2."""
    game = MajorityGame(["v1", "v2", "v3"], np.ones(3), 2, 100.0)
    unions = parse_unions(["U=v1,v2"], game.players)
    assert owen_exact(game.tabulate(), unions) == pytest.approx([-50, -50, 0], abs=1e-12)
    assert shapley(game.tabulate()) == pytest.approx([-100 / 3] * 3, abs=1e-12)


def random_game(n: int, seed: int) -> CostGame:
    rng = np.random.default_rng(seed)
    masks = np.arange(1 << n)
    rows = (masks[:, None] >> np.arange(n)) & 1
    cost = rng.uniform(0.5, 1.5, 1 << n) * np.sqrt(rows @ rng.uniform(1, 10, n))
    cost[0] = 0.0
    return CostGame([f"p{i}" for i in range(n)], cost)


def test_trivial_union_structures_give_the_shapley_value():
    game = random_game(6, seed=3)
    phi = shapley(game)
    alone = parse_unions([], game.players)
    everyone = parse_unions(["ALL=" + ",".join(game.players)], game.players)
    assert owen_exact(game, alone) == pytest.approx(phi, abs=1e-10)
    assert owen_exact(game, everyone) == pytest.approx(phi, abs=1e-10)


def test_efficiency_and_the_quotient_game():
    """The Owen value splits c(N); each union's total is the quotient game's Shapley
    value."""
    game = random_game(7, seed=5)
    unions = parse_unions(["X=p0,p2,p5", "Y=p1,p6"], game.players)
    value = owen_exact(game, unions)
    assert value.sum() == pytest.approx(game.cost[game.grand], abs=1e-10)
    quotient = shapley(quotient_game(TableOracle(game), unions, game.cost[game.grand]))
    totals = [value[block].sum() for block in unions.blocks]
    assert totals == pytest.approx(quotient, abs=1e-10)






def test_exact_owen_value_of_an_airport_game_matches_the_closed_form():
    game = AirportGame.seeded(10, seed=4)
    unions = parse_unions(["X=P00,P03,P04,P07", "Y=P01,P09"], game.players)
    expected = game.owen_closed_form(unions.blocks)
    assert owen_exact(game.tabulate(), unions) == pytest.approx(expected, abs=1e-9)


def test_sampled_owen_value_within_its_intervals():
    """14 players (every player sampled) and 24 players (beyond enumeration: the quotient
    game of 13 unions is exact, so are the players alone; the union's members sampled)."""
    game = AirportGame.seeded(14, seed=1)
    unions = parse_unions(["X=P00,P01,P02,P03,P04,P05", "Y=P06,P07,P08"], game.players)
    exact = game.owen_closed_form(unions.blocks)
    est = owen_sampled(game, unions, np.ones(14, dtype=bool), game.a.max(), 0.2, 10**6, 1)
    assert est.stopped == "tolerance met" and est.half_width.max() <= 0.2
    assert np.abs(est.estimate - exact).max() <= 2 * 0.2
    assert np.mean(np.abs(est.estimate - exact) <= est.half_width) >= 0.8

    big = AirportGame.seeded(24, seed=2)
    members = [f"P{i:02d}" for i in range(12)]
    unions = parse_unions(["EU=" + ",".join(members)], big.players)
    exact = big.owen_closed_form(unions.blocks)
    result = analyse_owen(big, unions, big.a.max(), 0.25, 10**6, seed=3)
    assert result["union_method"].startswith("exact: Shapley value of the quotient game")
    assert result["union_totals"]["EU"]["total"] == pytest.approx(exact[:12].sum(), abs=1e-9)
    for p in big.players[12:]:  # alone: exact
        assert result["value"][p] == pytest.approx(exact[big.players.index(p)], abs=1e-9)
        assert result["ci95_half_width"][p] == 0.0
    err = [abs(result["value"][p] - exact[i]) for i, p in enumerate(members)]
    assert max(err) <= 2 * 0.25 and result["largest_half_width"] <= 0.25


@pytest.mark.parametrize("specs, message", [
    (["EU=DE,XX"], "'XX' in union 'EU' is not a player"),
    (["EU=DE,FR", "B=FR"], "'FR' is in union 'EU' and in 'B'"),
    (["EU="], "union 'EU' has no members"),
    (["US=DE,FR"], "union 'US' has the name of player 'US'"),
    (["EU DE"], "not NAME=A,B,C nor a .toml file"),
])
def test_bad_unions_name_the_fix(specs, message):
    with pytest.raises(InputError, match=message):
        parse_unions(specs, ["US", "DE", "FR"])


def test_game_command_with_unions(tmp_path):
    path = tmp_path / "airport.toml"
    path.write_text('game = "airport"\n[cost_musd]\nP01 = 10\nP02 = 20\nP03 = 30\n'
                    "P04 = 40\nP05 = 25\n")
    unions = tmp_path / "unions.toml"
    unions.write_text('[unions]\nEU = ["P01", "P02", "P03"]\n')
    out = tmp_path / "g"
    r = CliRunner().invoke(main, ["game", "--costs", str(path), "--unions", str(unions),
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "Owen value (a priori unions: EU = P01+P02+P03" in r.stdout
    # by the closed form: the 0-10 segment: 10/3 per union, EU's third split three ways;
    # 10-20: P02, P03 (EU), P04, P05: 10/3 per union, EU's split two ways; ...
    table = pd.read_csv(out / "owen.csv").set_index("player")
    expected = AirportGame(list('ABCDE'), np.array([10, 20, 30, 40, 25.0])).owen_closed_form(
        [[0, 1, 2], [3], [4]])
    assert table["owen"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert table.loc["P01", "union"] == "EU"
    assert table["union_total"]["P01"] == pytest.approx(expected[:3].sum())
    saved = json.loads((out / "game.json").read_text())
    assert saved["owen"]["sum_minus_grand_cost"] == pytest.approx(0.0, abs=1e-9)

    r = CliRunner().invoke(main, ["game", "--costs", str(path), "--owen-only",
                                  "--unions", "EU=P01,P02", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert "shapley" not in result and set(result["owen"]["value"]) == {
        "P01", "P02", "P03", "P04", "P05"}

    for args, message in ((["--unions", "EU=P01,PX"], "'PX' in union 'EU' is not a player"),
                          (["--owen-only"], "--owen-only needs --unions")):
        r = CliRunner().invoke(main, ["game", "--costs", str(path), *args])
        assert r.exit_code == 2 and message in r.stderr, r.output


def test_owen_value_on_an_instance_solved_on_demand(tiny, tmp_path):
    """The two-ally world (c(US) = 10, c(EU) = 20, c(US+EU) = 10) with both in one union:
    the Owen value is the Shapley value, US 0, EU 10; every stratum holds one coalition."""
    duo = two_allies(tiny)
    r = CliRunner().invoke(main, ["game", str(duo), "--owen-only", "--unions", "B=US,EU",
                                  "--jobs", "1", "--cache", str(tmp_path / "c"), "--json"])
    assert r.exit_code == 0, r.output
    owen = json.loads(r.stdout)["owen"]
    assert owen["value"] == pytest.approx({"US": 0.0, "EU": 10.0}, abs=1e-4)
    assert owen["union_totals"]["B"]["total"] == pytest.approx(10.0, abs=1e-4)
    assert owen["largest_half_width"] == pytest.approx(0.0, abs=1e-9)


# --- the 34-ally instance ------------------------------------------------------------------

def test_eu27_instance_splits_the_eu_exactly():
    base = ROOT / "instances" / "allied-ree-2026"
    allies = pd.read_csv(EU27 / "allies.csv")
    members = allies[allies["role"] == "ally"]
    assert len(members) == 34
    eu = [a for a in members["ally"] if a not in {"US", "JP", "KR", "UK", "CA", "AU", "IN"}]
    assert len(eu) == 27
    old = pd.read_csv(base / "allies.csv").set_index("ally")
    mine = members.set_index("ally").loc[eu]
    assert mine["gdp_usd_bn"].sum() == pytest.approx(old.loc["EU", "gdp_usd_bn"])
    assert mine["budget_cap_musd"].sum() == pytest.approx(old.loc["EU", "budget_cap_musd"])
    assert mine.loc["DE", "gdp_usd_bn"] == 4740.0  # [S84]
    demand = pd.read_csv(EU27 / "demand.csv")
    split = demand[demand["ally"].isin(eu)].groupby(["product", "year"])["demand_t"].sum()
    given = pd.read_csv(base / "demand.csv").query("ally == 'EU'").set_index(
        ["product", "year"])["demand_t"]
    assert split.to_numpy() == pytest.approx(given.loc[split.index].to_numpy(), rel=1e-12)
    assert all("[S" in s or "assumption" in s for s in demand["source"])
    unions = (EU27 / "unions.toml").read_text()
    assert all(f'"{a}"' in unions for a in eu)


def test_eu27_grand_coalition_costs_what_allied_ree_2026_costs():
    """With the members' demand summing to the EU's (and GDP and caps too), the grand
    coalition's optimum is allied-ree-2026's; both proved optimal by HiGHS (gap 1e-4)."""
    from remech.stability import coalition_task, solve_coalition

    design = ROOT / "models" / "floor-stockpile-grants.toml"
    costs = []
    for folder in (EU27, ROOT / "instances" / "allied-ree-2026"):
        allies = pd.read_csv(folder / "allies.csv").query("role == 'ally'")["ally"]
        record = solve_coalition(coalition_task(folder, design, tuple(allies), 300.0, 1e-4,
                                                None))
        assert record["status"] == "optimal"
        costs.append(record["cost_musd"])
    assert costs[0] == pytest.approx(costs[1], rel=2e-4)
