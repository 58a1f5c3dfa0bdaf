"""Games analysed without their 2^n table (remech.oracle, remech.sampling, remech.rowgen,
remech.lazygame): closed forms of airport and weighted-majority games, confidence
intervals that cover the exact Shapley value, and row generation that reproduces the
enumerated least core, nucleolus and prenucleolus."""

from __future__ import annotations

import itertools
import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import two_allies
from remech.cli import main
from remech.costgame import (
    CostGame,
    analyse,
    least_core,
    nucleolus,
    prenucleolus,
    shapley,
    stand_alone,
)
from remech.errors import InputError
from remech.lazygame import LazyOptions, analyse_lazy
from remech.oracle import AirportGame, MajorityGame, Oracle, TableOracle, load_costs
from remech.rowgen import Exclusions, Separator, enumerate_separation, initial_rows, lexicographic
from remech.rowgen import least_core as rg_least_core
from remech.sampling import shapley_stratified


def random_table(n: int, rng, concave: bool) -> CostGame:
    masks = np.arange(1 << n)
    rows = (masks[:, None] >> np.arange(n)) & 1
    if concave:  # sqrt of a weight sum: submodular, the core is not empty
        cost = np.sqrt(rows @ rng.uniform(1, 10, n))
    else:
        cost = rng.uniform(0.5, 1.5, 1 << n) * rows.sum(axis=1) ** 0.8
    cost[0] = 0.0
    return CostGame([f"p{i}" for i in range(n)], cost)


class Expensive(Oracle):
    """A cheap game posing as one solved on demand: remembers what it was asked."""

    kind = "instance"
    cheap = False

    def __init__(self, inner: Oracle) -> None:
        super().__init__()
        self.inner, self.players, self.stored = inner, inner.players, {}

    def _costs(self, rows):
        costs = self.inner.costs(rows)
        for r, c in zip(rows, costs, strict=True):
            self.stored[r.tobytes()] = (r.copy(), float(c))
        return costs

    def known(self):
        if not self.stored:
            return super().known()
        rows, costs = zip(*self.stored.values(), strict=True)
        return np.array(rows), np.array(costs)


# --- formula games and their closed forms -------------------------------------------------

@pytest.mark.parametrize("n", [3, 5, 8])
def test_closed_forms_match_the_enumerated_game(n):
    g = AirportGame.seeded(n, seed=n)
    table = g.tabulate()
    assert g.shapley_closed_form() == pytest.approx(shapley(table), abs=1e-9)
    assert g.nucleolus_closed_form() == pytest.approx(nucleolus(table), abs=1e-6)
    m = MajorityGame.seeded(n, seed=n)
    assert m.shapley_exact() == pytest.approx(shapley(m.tabulate()), abs=1e-9)


def test_airport_closed_forms_by_hand():
    # Littlechild and Owen (1973) / Littlechild (1974) on costs (1, 2, 4), as in
    # tests/test_game.py: Shapley (1/3, 5/6, 17/6), nucleolus (0.5, 0.75, 2.75)
    g = AirportGame(["a", "b", "c"], np.array([1.0, 2.0, 4.0]))
    assert g.shapley_closed_form() == pytest.approx([1 / 3, 5 / 6, 17 / 6])
    assert g.nucleolus_closed_form() == pytest.approx([0.5, 0.75, 2.75])
    assert g.costs(np.array([[1, 1, 0], [0, 0, 1]], dtype=bool)).tolist() == [2.0, 4.0]


def test_formula_files_and_their_errors(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('game = "airport"\n[cost_musd]\nUS = 3.0\nEU = 1.5\nJP = 2\n')
    g = load_costs(path)
    assert isinstance(g, AirportGame) and g.players == ["US", "EU", "JP"]
    cases = [
        ('game = "glove"\n', "g.toml: game = 'glove' is not a known formula; use one of "
                             "'airport'"),
        ('game = "airport"\n', "g.toml: missing table [cost_musd]; give one line per player"),
        ('game = "airport"\n[cost_musd]\nUS = -1\n', "g.toml [cost_musd] US: -1 is not a "
                                                      "finite number >= 0"),
        ('game = "weighted_majority"\nprize_musd = 1\n[weight]\nA = 1\n',
         "g.toml: 'quota' is missing; give a finite number, e.g. quota = 51"),
        ('game = "weighted_majority"\nquota = 9\nprize_musd = 1\n[weight]\nA = 1\nB = 2\n',
         "g.toml: quota 9 must lie in (0, 3], the total weight"),
        ("game = [", "g.toml: not valid TOML"),
    ]
    for text, message in cases:
        path.write_text(text)
        with pytest.raises(InputError) as err:
            load_costs(path)
        assert str(err.value).startswith(message), str(err.value)


# --- stratified Shapley -------------------------------------------------------------------

@pytest.mark.parametrize(("game", "truth"), [
    (AirportGame.seeded(34), lambda g: g.shapley_closed_form()),
    (MajorityGame.seeded(34), lambda g: g.shapley_exact()),
])
def test_stratified_shapley_covers_the_exact_value_at_34_players(game, truth):
    exact = truth(game)
    grand = game.cost(game.grand())
    assert exact.sum() == pytest.approx(grand)
    est = shapley_stratified(game, grand, 0.5, 5_000_000, seed=7)
    assert est.stopped == "tolerance met"
    assert est.half_width.max() <= 0.5
    error = np.abs(est.estimate - exact)
    # 95 % intervals: a few of 34 may miss; none by much
    assert np.mean(error <= est.half_width) >= 0.85
    assert np.all(error <= 2 * est.half_width)


def test_intervals_cover_about_95_percent_over_seeds():
    game = MajorityGame.seeded(10, seed=4)
    exact = game.shapley_exact()
    covered = []
    for seed in range(30):
        est = shapley_stratified(game, -100.0, 0.3, 5_000_000, seed=seed)
        covered += list(np.abs(est.estimate - exact) <= est.half_width)
    assert 0.9 <= np.mean(covered) <= 1.0


def test_sample_budget_stops_and_says_so():
    game = AirportGame.seeded(30)
    est = shapley_stratified(game, game.cost(game.grand()), 1e-3, 20_000, seed=1)
    assert est.stopped == "sample budget reached"
    assert est.samples <= 20_000 and est.half_width.max() > 1e-3
    with pytest.raises(InputError, match=r"--max-samples 100: below the first round for 30 "
                                         r"players \(2 per stratum"):
        shapley_stratified(game, 1.0, 1.0, 100)


def test_small_game_strata_are_enumerated_exactly():
    table = random_table(5, np.random.default_rng(0), concave=False)
    est = shapley_stratified(TableOracle(table), float(table.cost[-1]), 1e-9, 10_000)
    assert est.stopped == "tolerance met" and est.samples == 5 * 16
    assert est.estimate == pytest.approx(shapley(table), abs=1e-12)


# --- row generation against the enumerated LPs --------------------------------------------

def _check_rowgen(oracle: Oracle, method: str, table: CostGame) -> None:
    sep = Separator(oracle, method)
    grand = float(table.cost[table.grand])
    init = initial_rows(oracle)
    stage, x, _ = rg_least_core(oracle, sep, grand, init)
    eps, _ = least_core(table)
    masks = np.arange(1, table.grand)
    inc = ((masks[:, None] >> np.arange(table.n)) & 1).astype(float)
    assert stage.proved
    assert stage.epsilon == pytest.approx(eps, abs=1e-6)
    assert np.max(inc @ x - table.cost[masks]) == pytest.approx(eps, abs=1e-6)
    pre = lexicographic(oracle, sep, grand, init, None)
    assert pre.proved and pre.x == pytest.approx(prenucleolus(table), abs=1e-6)
    nuc = nucleolus(table)
    if nuc is not None:
        alone = stand_alone(table)
        got = lexicographic(oracle, sep, grand, init, alone + 1e-7 * max(1, abs(alone).max()))
        assert got.proved and got.x == pytest.approx(nuc, abs=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_row_generation_reproduces_enumerated_tables(seed):
    rng = np.random.default_rng(200 + seed)
    table = random_table(3 + seed, rng, concave=seed % 2 == 0)  # 3 to 12 players
    _check_rowgen(TableOracle(table), "enumeration", table)


@pytest.mark.parametrize("n", [4, 7, 10])
def test_mip_separation_reproduces_enumerated_formula_games(n):
    for game in (AirportGame.seeded(n, seed=n), MajorityGame.seeded(n, seed=n)):
        _check_rowgen(game, "mip", game.tabulate())


def test_nucleolus_of_a_30_player_airport_game_is_littlechilds():
    game = AirportGame.seeded(30)
    result = analyse_lazy(game, LazyOptions(tolerance=1.0, seed=3))
    assert result["analysis"]["separation"] == "mip"
    x = np.array([result["nucleolus"][p] for p in game.players])
    assert x == pytest.approx(game.nucleolus_closed_form(), abs=1e-6)
    assert result["nucleoli_proof"]["nucleolus"]["proved"] is True
    assert result["least_core"]["proved"] is True and result["core_empty"] is False
    for rule in ("nucleolus", "least_core"):  # airport games are concave
        assert result["rules"][rule]["stable"] is True
        assert result["rules"][rule]["stability"] == "proved"
    assert result["rules"]["equal"]["stable"] is False  # small users pay too much


def _value_game(players, v) -> CostGame:
    return CostGame.from_costs(players, {
        frozenset(S): -v(frozenset(S)) for k in range(1, len(players) + 1)
        for S in itertools.combinations(players, k)})


@pytest.mark.parametrize("game", [
    _value_game(["c100", "c200", "c300"],  # Talmud estate 200 (tests/test_game.py)
                lambda S: max(0.0, 200 - sum(int(p[1:]) for p in
                                             {"c100", "c200", "c300"} - S))),
    _value_game(["A", "B", "C"], lambda S: 1.0 if len(S) >= 2 else 0.0),  # empty core
    _value_game(["1", "2", "3"], lambda S: float({"1": 0, "2": 0, "3": 0, "12": 1, "13": 1,
                                                  "23": 3, "123": 1}["".join(sorted(S))])),
    CostGame.from_costs(["A", "B"], {frozenset("A"): 1.0, frozenset("B"): 1.0,
                                     frozenset("AB"): 3.0}),  # no imputation
    random_table(9, np.random.default_rng(9), concave=False),
])
def test_lazy_analysis_reproduces_the_enumerated_one(game):
    exact = analyse(game)
    lazy = analyse_lazy(TableOracle(game))
    assert lazy["shapley"] == pytest.approx(exact["shapley"], abs=1e-9)
    assert lazy["prenucleolus"] == pytest.approx(exact["prenucleolus"], abs=1e-6)
    if exact["nucleolus"] is None:
        assert lazy["nucleolus"] is None and lazy["nucleolus_note"] == exact["nucleolus_note"]
    else:
        assert lazy["nucleolus"] == pytest.approx(exact["nucleolus"], abs=1e-6)
    assert lazy["least_core"]["epsilon"] == pytest.approx(exact["least_core"]["epsilon"],
                                                          abs=1e-6)
    assert lazy["core_empty"] == exact["core_empty"]
    for rule in ("shapley", "prenucleolus", "equal"):
        assert lazy["rules"][rule]["stable"] == exact["rules"][rule]["stable"]
        assert lazy["rules"][rule]["n_blocking"] == exact["rules"][rule]["n_blocking"]


# --- the stated heuristic for costs solved on demand --------------------------------------

def test_search_reports_bounds_not_proofs():
    inner = MajorityGame.seeded(14, seed=5)
    table = inner.tabulate()
    oracle = Expensive(inner)
    result = analyse_lazy(oracle, LazyOptions(tolerance=2.0, max_samples=50_000))
    eps, _ = least_core(table)
    lc = result["least_core"]
    assert result["analysis"]["separation"] == "search"
    assert lc["proved"] is False and "not proved" in lc["how"]
    assert lc["epsilon"] <= eps + 1e-6  # the LP on the coalitions seen: a lower bound
    x = np.array([lc["allocation"][p] for p in oracle.players])
    masks = np.arange(1, table.grand)
    inc = ((masks[:, None] >> np.arange(14)) & 1).astype(float)
    assert np.max(inc @ x - table.cost[masks]) >= eps - 1e-6
    assert result["nucleoli_proof"]["prenucleolus"]["proved"] is False
    assert all(r["stable"] in (False, None) for r in result["rules"].values())
    assert result["rules"]["equal"]["stability"] in ("blocked", "searched")


def test_search_finds_the_least_core_of_a_20_player_airport_game():
    """Not proved by the search, but checked here by enumeration: the searched least-core
    allocation has no excess above epsilon, and the nucleolus is Littlechild's."""
    game = AirportGame.seeded(20)
    result = analyse_lazy(Expensive(game), LazyOptions(tolerance=5.0, max_samples=20_000))
    x = np.array([result["least_core"]["allocation"][p] for p in game.players])
    eps = result["least_core"]["epsilon"]
    assert eps == pytest.approx(-1.85)
    check = enumerate_separation(game, x, eps + 1e-6, Exclusions(), 5)
    assert check.count == 0 and check.bound == pytest.approx(eps)
    nuc = np.array([result["nucleolus"][p] for p in game.players])
    assert nuc == pytest.approx(game.nucleolus_closed_form(), abs=1e-6)
    assert result["rules"]["least_core"]["stability"] == "searched"


def test_search_is_exact_once_every_coalition_is_known():
    table = random_table(4, np.random.default_rng(1), concave=True)
    oracle = Expensive(TableOracle(table))
    oracle.costs(((np.arange(1, 16)[:, None] >> np.arange(4)) & 1).astype(bool))
    result = analyse_lazy(oracle)
    assert result["least_core"]["proved"] is True
    assert result["prenucleolus"] == pytest.approx(analyse(table)["prenucleolus"], abs=1e-6)


# --- the command line ---------------------------------------------------------------------

def _airport_toml(path, n: int) -> None:
    g = AirportGame.seeded(n)
    path.write_text('game = "airport"\n[cost_musd]\n' + "".join(
        f"{p} = {a}\n" for p, a in zip(g.players, g.a, strict=True)))


def test_game_command_on_a_34_player_formula_game(tmp_path):
    path = tmp_path / "airport.toml"
    _airport_toml(path, 34)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["game", "--costs", str(path), "--tolerance", "1",
                                  "--seed", "2", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "least-core epsilon" in r.stdout and "proved: MIP over membership" in r.stdout
    assert "tolerance met" in r.stdout
    saved = json.loads((out / "game.json").read_text())
    assert saved["shapley_method"]["stopped"] == "tolerance met"
    assert saved["shapley_method"]["largest_half_width"] <= 1.0
    assert set(saved["rules"]) == {"shapley", "nucleolus", "prenucleolus", "least_core",
                                   "equal"}
    assert (out / "allocations.csv").read_text().splitlines()[0].endswith(
        "shapley_ci95_half_width")
    assert not (out / "coalition_costs.csv").exists()  # a formula: nothing worth keeping


def test_game_command_lazy_options_and_errors(tmp_path):
    table = tmp_path / "costs.csv"
    table.write_text("coalition,cost\nA,1\nB,2\nA+B,2.5\n")
    r = CliRunner().invoke(main, ["game", "--costs", str(table), "--tolerance", "1"])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: --tolerance/--max-samples: this game of 2 players is "
                                "enumerated and its Shapley value exact; add --lazy to sample "
                                "it instead")
    r = CliRunner().invoke(main, ["game", "--costs", str(table), "--lazy", "--samples", "9"])
    assert r.exit_code == 2 and "--samples draws random orders" in r.stderr
    r = CliRunner().invoke(main, ["game", "--costs", str(table), "--lazy", "--tolerance",
                                  "-1"])
    assert r.exit_code == 2 and "--tolerance -1: must be above 0 MUSD" in r.stderr
    r = CliRunner().invoke(main, ["game", "--costs", str(table), "--lazy", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    # Shapley of (1, 2; 2.5): A 1/2 + (2.5 - 2)/2 = 0.75, B 1.75
    assert data["shapley"] == pytest.approx({"A": 0.75, "B": 1.75})
    assert data["least_core"]["proved"] is True and data["core_empty"] is False


def test_25_player_formula_game_never_holds_its_table(tmp_path):
    """2^25 costs would take 268 MB; the lazy analysis stays far below (numpy's
    allocations are traced; HiGHS's are small)."""
    path = tmp_path / "airport.toml"
    _airport_toml(path, 25)
    tracemalloc.start()
    try:
        r = CliRunner().invoke(main, ["game", "--costs", str(path), "--tolerance", "2",
                                      "-q", "--json"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["analysis"]["mode"] == "lazy"
    assert peak < (1 << 25) * 8 / 4


def test_game_command_lazy_on_an_instance(tiny, tmp_path):
    """The two-ally world of tests/test_stability.py, solved on demand: c(US) = 10,
    c(EU) = 20, c(US+EU) = 10; both strata of each player hold one coalition, so the
    sampled Shapley value is exact: US 0, EU 10."""
    duo = two_allies(tiny)
    out = tmp_path / "g"
    r = CliRunner().invoke(main, ["game", str(duo), "--lazy", "--jobs", "1", "--cache",
                                  str(tmp_path / "c"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "coalition 1:" in r.stderr
    assert "3 coalitions: 3 solved" in r.stdout and "0 not proved optimal" in r.stdout
    saved = json.loads((out / "game.json").read_text())
    assert saved["shapley"] == pytest.approx({"US": 0.0, "EU": 10.0}, abs=1e-4)
    assert saved["shapley_method"]["largest_half_width"] == pytest.approx(0.0, abs=1e-9)
    assert saved["least_core"]["proved"] is True  # every coalition was solved
    assert saved["analysis"]["separation"] == "search"
    assert set(saved["rules"]) >= {"gdp", "consumption"}
    costs = pd.read_csv(out / "coalition_costs.csv").set_index("coalition")["cost"]
    assert costs.to_dict() == pytest.approx({"US": 10.0, "EU": 20.0, "US+EU": 10.0},
                                            abs=1e-4)
