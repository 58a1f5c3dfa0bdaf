"""Allocations of cost games, checked against games with published solutions and against
the axioms. Value (profit) games v from the literature are turned into cost games
c = -v; their allocations change sign with them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from remech.costgame import (
    CostGame,
    analyse,
    blocking,
    closest_stable,
    imputations_empty,
    in_core,
    least_core,
    nucleolus,
    prenucleolus,
    shapley,
    shapley_sampled,
)


def value_game(players, v) -> CostGame:
    """Cost game c = -v from a value function on frozensets."""
    costs = {frozenset(S): -v(frozenset(S)) for k in range(1, len(players) + 1)
             for S in itertools.combinations(players, k)}
    return CostGame.from_costs(players, costs)


def bankruptcy(estate, claims):
    players = [f"c{d}" for d in claims]
    claim = dict(zip(players, claims, strict=True))
    return value_game(players, lambda S: max(0.0, estate - sum(
        claim[p] for p in players if p not in S)))


# Aumann, R. J. and Maschler, M. (1985), "Game theoretic analysis of a bankruptcy problem
# from the Talmud", Journal of Economic Theory 36(2), 195-213: claims 100, 200, 300; the
# Talmud's divisions of estates 100, 200, 300 are the nucleoli of the bankruptcy games.
# Shapley values computed by hand from the definition (six orders of three players).
TALMUD = [
    (100, (100 / 3, 100 / 3, 100 / 3), (100 / 3, 100 / 3, 100 / 3)),
    (200, (50, 75, 75), (100 / 3, 250 / 3, 250 / 3)),
    (300, (50, 100, 150), (50, 100, 150)),
]


@pytest.mark.parametrize(("estate", "nuc", "phi"), TALMUD)
def test_talmud_bankruptcy_games(estate, nuc, phi):
    game = bankruptcy(estate, (100, 200, 300))
    assert -nucleolus(game) == pytest.approx(nuc, abs=1e-6)
    assert -shapley(game) == pytest.approx(phi, abs=1e-9)
    assert in_core(game, nucleolus(game))  # bankruptcy games are convex: core not empty


def test_glove_game():
    # Maschler, Solan and Zamir (2013), Game Theory, Cambridge University Press: the glove
    # game with one left glove (L) and two right gloves (R1, R2); v(S) = 1 if S holds a
    # pair. Shapley value (2/3, 1/6, 1/6); the core is the single point (1, 0, 0), which
    # is therefore the nucleolus.
    game = value_game(["L", "R1", "R2"],
                      lambda S: 1.0 if "L" in S and ({"R1", "R2"} & S) else 0.0)
    assert -shapley(game) == pytest.approx([2 / 3, 1 / 6, 1 / 6])
    assert -nucleolus(game) == pytest.approx([1, 0, 0], abs=1e-7)
    eps, _ = least_core(game)
    assert eps == pytest.approx(0.0, abs=1e-7)  # the core is non-empty (but thin)
    shap_blocks = blocking(game, shapley(game))
    assert [game.label(m) for m, _ in shap_blocks][:2] == ["L+R1", "L+R2"]


def test_majority_game_has_an_empty_core():
    # Three-player simple majority game (e.g. Peleg and Sudhoelter (2007), Introduction to
    # the Theory of Cooperative Games, Springer): v(S) = 1 if |S| >= 2. The core is empty;
    # Shapley value and nucleolus are (1/3, 1/3, 1/3); the least-core epsilon is 1/3.
    game = value_game(["A", "B", "C"], lambda S: 1.0 if len(S) >= 2 else 0.0)
    eps, x = least_core(game)
    assert eps == pytest.approx(1 / 3)
    assert -x == pytest.approx([1 / 3] * 3)
    assert -nucleolus(game) == pytest.approx([1 / 3] * 3)
    assert -shapley(game) == pytest.approx([1 / 3] * 3)
    result = analyse(game)
    assert result["core_empty"] is True
    assert result["rules"]["nucleolus"]["stable"] is False


@pytest.mark.parametrize(("costs", "phi", "nuc"), [
    # Littlechild and Owen (1973), "A simple expression for the Shapley value in a special
    # case", Management Science 20(3), 370-372: in the airport game c(S) = max_{i in S}
    # c_i, each runway segment is shared equally by the players who need it. Nucleolus by
    # the algorithm of Littlechild (1974), International Journal of Game Theory 3, 21-29.
    ((1.0, 2.0, 4.0), (1 / 3, 1 / 3 + 1 / 2, 1 / 3 + 1 / 2 + 2), (0.5, 0.75, 2.75)),
    ((2.0, 4.0, 4.0, 8.0), (0.5, 0.5 + 2 / 3, 0.5 + 2 / 3, 0.5 + 2 / 3 + 4), None),
])
def test_airport_games(costs, phi, nuc):
    players = [f"a{i}" for i in range(len(costs))]
    c = dict(zip(players, costs, strict=True))
    game = CostGame.from_costs(players, {
        frozenset(S): max(c[p] for p in S) for k in range(1, len(players) + 1)
        for S in itertools.combinations(players, k)})
    assert shapley(game) == pytest.approx(phi)
    x = nucleolus(game)
    if nuc is not None:
        assert x == pytest.approx(nuc, abs=1e-7)
    assert in_core(game, x)
    assert in_core(game, shapley(game))  # airport games are concave: Shapley in the core


def random_game(n, rng, concave=False) -> CostGame:
    players = [f"p{i}" for i in range(n)]
    if concave:  # c(S) = sqrt(sum of weights): submodular, so the core is not empty
        w = rng.uniform(1, 10, n)
        costs = {frozenset(S): float(np.sqrt(sum(w[players.index(p)] for p in S)))
                 for k in range(1, n + 1) for S in itertools.combinations(players, k)}
    else:
        costs = {frozenset(S): float(rng.uniform(0.5, 1.5) * len(S) ** 0.8)
                 for k in range(1, n + 1) for S in itertools.combinations(players, k)}
    return CostGame.from_costs(players, costs)


@pytest.mark.parametrize("seed", range(6))
def test_shapley_axioms(seed):
    rng = np.random.default_rng(seed)
    n = 3 + seed % 3
    g1, g2 = random_game(n, rng), random_game(n, rng)
    phi = shapley(g1)
    assert phi.sum() == pytest.approx(g1.cost[g1.grand])  # efficiency
    summed = CostGame(g1.players, g1.cost + g2.cost)
    assert shapley(summed) == pytest.approx(phi + shapley(g2))  # additivity
    # dummy player: add player d with c(S + d) = c(S) + 5
    players = g1.players + ["d"]
    dummy = CostGame(players, np.concatenate([g1.cost, g1.cost + 5.0]))
    assert shapley(dummy)[-1] == pytest.approx(5.0)
    # symmetry: duplicate player 0 in a game defined by weights
    w = rng.uniform(1, 5, n)
    w[1] = w[0]
    sym = CostGame.from_costs(g1.players, {
        frozenset(S): float(np.sqrt(sum(w[g1.players.index(p)] for p in S)))
        for k in range(1, n + 1) for S in itertools.combinations(g1.players, k)})
    phi_sym = shapley(sym)
    assert phi_sym[0] == pytest.approx(phi_sym[1])


@pytest.mark.parametrize("seed", range(8))
def test_nucleolus_and_least_core_properties(seed):
    rng = np.random.default_rng(100 + seed)
    game = random_game(3 + seed % 3, rng, concave=seed % 2 == 0)
    eps, x_lc = least_core(game)
    pre = prenucleolus(game)
    nuc = nucleolus(game)
    assert pre.sum() == pytest.approx(game.cost[game.grand])
    core_nonempty = eps <= 1e-7
    assert core_nonempty == in_core(game, pre)  # prenucleolus in the core iff it is not empty
    if seed % 2 == 0:
        assert core_nonempty  # concave games have a core
    # the prenucleolus is in the least core: its largest excess is epsilon
    masks = range(1, game.grand)

    def worst(x):
        return max(sum(x[i] for i in range(game.n) if m >> i & 1) - game.cost[m]
                   for m in masks)

    assert worst(pre) == pytest.approx(eps, abs=1e-6)
    assert nuc is not None  # these games have imputations
    alone = np.array([game.cost[1 << i] for i in range(game.n)])
    assert nuc.sum() == pytest.approx(game.cost[game.grand])
    assert np.all(nuc <= alone + 1e-6)  # an imputation: nobody pays more than alone
    assert worst(nuc) >= eps - 1e-6
    if core_nonempty:  # the core lies in the imputation set: the two coincide
        assert nuc == pytest.approx(pre, abs=1e-6)


def test_nucleolus_differs_from_prenucleolus_when_the_core_is_empty():
    """A 3-player game with an empty core, constructed for this test, where the
    prenucleolus is not individually rational, so the nucleolus (Schmeidler 1969: over the
    imputations) and the prenucleolus (Sobolev 1975: over all allocations of c(N)) differ.
    They coincide whenever the core is non-empty (Maschler, Peleg and Shapley 1979).

    Value game v: v(i) = 0, v(12) = v(13) = 1, v(23) = 3, v(N) = 1; cost game c = -v.
    Core empty: x2 + x3 >= 3 > v(N) (value terms). By hand, in value terms with excess
    e(S) = v(S) - x(S):

    Prenucleolus: e(23) + e(12) + e(13) = 5 - 2 x(N) = 3, so the largest excess is at
    least 1, reached only with e(23) = e(12) = e(13) = 1 (then e(1) = -x1 = 1 too):
    x = (-1, 1, 1). Player 1 gets less than v(1) = 0 alone.

    Nucleolus (x_i >= 0): e(23) = 3 - x2 - x3 = 2 + x1 is smallest, 2, at x1 = 0; then
    x2 + x3 = 1 and the next largest excess max(e(12), e(13)) = max(x3, x2) is smallest,
    1/2, at x2 = x3 = 1/2: x = (0, 1/2, 1/2). In cost terms both change sign.
    """
    v = {"1": 0, "2": 0, "3": 0, "12": 1, "13": 1, "23": 3, "123": 1}
    game = value_game(["1", "2", "3"], lambda S: float(v["".join(sorted(S))]))
    assert least_core(game)[0] > 0  # core empty
    assert -prenucleolus(game) == pytest.approx([-1, 1, 1], abs=1e-7)
    assert -nucleolus(game) == pytest.approx([0, 0.5, 0.5], abs=1e-7)
    result = analyse(game)
    assert result["prenucleolus"] == pytest.approx({"1": 1, "2": -1, "3": -1}, abs=1e-7)
    assert result["nucleolus"] == pytest.approx({"1": 0, "2": -0.5, "3": -0.5}, abs=1e-7)
    assert set(result["rules"]) >= {"nucleolus", "prenucleolus"}


def test_no_nucleolus_when_the_imputation_set_is_empty():
    """Stand-alone costs 1 + 1 < c(AB) = 3: no split of 3 has both pay at most 1, so the
    imputation set and the nucleolus are empty; the prenucleolus is (1.5, 1.5)."""
    game = CostGame.from_costs(["A", "B"], {frozenset("A"): 1.0, frozenset("B"): 1.0,
                                            frozenset("AB"): 3.0})
    assert imputations_empty(game)
    assert nucleolus(game) is None
    assert prenucleolus(game) == pytest.approx([1.5, 1.5])
    result = analyse(game)
    assert result["nucleolus"] is None
    assert result["nucleolus_note"] == (
        "no nucleolus: the imputation set is empty (stand-alone costs sum to 2 < grand "
        "coalition cost 3), so no split of the grand coalition's cost has every player pay "
        "at most its stand-alone cost")
    assert "nucleolus" not in result["rules"] and "prenucleolus" in result["rules"]


def test_sampled_shapley_covers_the_exact_value():
    game = random_game(5, np.random.default_rng(3))
    mean, half = shapley_sampled(game, samples=4000, seed=1)
    exact = shapley(game)
    assert np.all(np.abs(mean - exact) <= half * 1.5)
    assert np.all(half < 0.05)


def test_closest_stable_split_follows_the_reference_inside_the_core():
    game = bankruptcy(200, (100, 200, 300))  # c = -v, core not empty
    reference = np.array([-200.0, 0.0, 0.0])  # outside the core: player 1 gets it all
    x, eps = closest_stable(game, reference)
    assert eps == 0.0
    assert in_core(game, x)
    assert x.sum() == pytest.approx(game.cost[game.grand])


def test_costs_csv_round_trip_and_errors(tmp_path):
    game = bankruptcy(300, (100, 200, 300))
    path = tmp_path / "costs.csv"
    game.to_frame().to_csv(path, index=False)
    back = CostGame.from_csv(path)
    assert back.players == game.players
    assert np.allclose(back.cost, game.cost)
    lines = path.read_text().splitlines()
    (tmp_path / "short.csv").write_text("\n".join(lines[:-1]) + "\n")
    from remech.errors import InputError

    with pytest.raises(InputError, match=r"short.csv: 1 coalition\(s\) missing, first: "
                                         r"c100\+c200\+c300; give one row for every"):
        CostGame.from_csv(tmp_path / "short.csv")
