"""The Owen value: cost sharing when some players negotiate as a bloc (a priori unions).

The EU negotiates as one, its 27 members pay separately. Owen (1977), "Values of games with
a priori unions": with the players partitioned into unions U_1..U_u, the Owen value is the
mean marginal cost over the orders of the players that keep every union together (the
unions in a random order, the members of each union in a random order inside it):

    Owen_i = sum_{R subset of the other unions} sum_{T subset of U_k - i}
             |R|! (u - |R| - 1)! / u!  *  |T|! (m - |T| - 1)! / m!
             * (c(Q_R + T + i) - c(Q_R + T))

for i in union U_k of m members, Q_R the members of the unions in R. Two steps: a union's
total is the Shapley value of the *quotient game* among the unions (c of a set of unions =
c of their members); inside the union the total is split by the members' marginal costs
given the unions before them. With every player alone, or all in one union, it is the
Shapley value.

How it is computed here:

- ``owen_exact``: by the formula above on the table of every coalition (games small enough
  to enumerate: n <= ``MAX_EXACT_PLAYERS``);
- otherwise the unions' totals are exact when the quotient game can be enumerated (2^u - 1
  coalitions of unions: u <= ``MAX_QUOTIENT[kind]``), so a player alone in its union gets
  its exact value, and the members of larger unions are sampled: strata (i, r, t) with r
  other unions and t partners before i, each of probability 1 / (u m); a pilot in every
  stratum (strata with at most ``PILOT`` coalitions enumerated), then Neyman's allocation
  in rounds until every 95 % half-width is at most the tolerance or the budget is spent
  (the scheme of ``remech.sampling``, Castro et al. 2017, with these strata). When the
  quotient game is too large, every player is sampled and a union's total is the sum of its
  members' estimates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from remech.costgame import PLAYER, CostGame, shapley
from remech.errors import InputError
from remech.oracle import Oracle, read_toml
from remech.sampling import PILOT, Z95, _evaluate, _Strata, pilot_for, sample_rounds

#: players up to which the Owen value is computed exactly from the table of all coalitions
MAX_EXACT_PLAYERS = 20
#: unions up to which the quotient game is enumerated (2^u - 1 coalition costs)
MAX_QUOTIENT = {"instance": 10, "formula": 20, "table": 20}


@dataclass
class Unions:
    """A partition of the players: ``blocks[k]`` the indices of union k's members, named
    ``names[k]`` (a player alone is a union named after it)."""

    names: list[str]
    blocks: list[list[int]]
    given: dict[str, list[str]]  # the unions the user gave (players alone not listed)

    @property
    def u(self) -> int:
        return len(self.blocks)

    def of(self, n: int) -> np.ndarray:
        """The union of each player."""
        out = np.empty(n, dtype=int)
        for k, block in enumerate(self.blocks):
            out[block] = k
        return out


def _read_toml(path: Path) -> dict[str, list[str]]:
    doc = read_toml(path)
    table = doc.get("unions")
    if not isinstance(table, dict) or not table:
        raise InputError(f"{path}: missing table [unions]; give one line per union, e.g. "
                         '[unions] then EU = ["DE", "FR", "IT"]')
    out = {}
    for name, members in table.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InputError(f"{path} [unions] {name}: {members!r} is not a list of player "
                             f'names; give e.g. {name} = ["DE", "FR"]')
        out[name] = members
    return out


def _read_spec(spec: str) -> dict[str, list[str]]:
    if "=" not in spec:
        path = Path(spec)
        if path.suffix.lower() == ".toml" or path.exists():
            if not path.is_file():
                raise InputError(f"--unions {spec}: file not found; give NAME=A,B,C or a "
                                 ".toml file with a [unions] table")
            return _read_toml(path)
        raise InputError(f"--unions '{spec}': not NAME=A,B,C nor a .toml file; give e.g. "
                         "--unions EU=DE,FR,IT")
    name, _, members = spec.partition("=")
    return {name.strip(): [m.strip() for m in members.split(",") if m.strip()]}


def parse_unions(specs: tuple[str, ...] | list[str], players: list[str]) -> Unions:
    """Unions from ``--unions`` values (NAME=A,B,C, or a .toml file with a [unions]
    table); the players in none stand alone."""
    given: dict[str, list[str]] = {}
    for spec in specs:
        for name, members in _read_spec(spec).items():
            where = f"--unions {spec}" if "=" in spec else f"{spec} [unions] {name}"
            if not PLAYER.fullmatch(name):
                raise InputError(f"{where}: union name '{name}' is not a name of letters, "
                                 "digits, '_', '-' or '.'; rename it")
            if name in given:
                raise InputError(f"{where}: union '{name}' is given twice; give each union "
                                 "once")
            if not members:
                raise InputError(f"{where}: union '{name}' has no members; list them, e.g. "
                                 f"{name}=DE,FR")
            given[name] = members
    index = {p: i for i, p in enumerate(players)}
    seen: dict[str, str] = {}
    blocks, names = [], []
    for name, members in given.items():
        for m in members:
            if m not in index:
                raise InputError(f"--unions: '{m}' in union '{name}' is not a player; known: "
                                 f"{', '.join(players)}")
            if m in seen:
                raise InputError(f"--unions: '{m}' is in union '{seen[m]}' and in '{name}'; "
                                 "put each player in one union")
            seen[m] = name
        if name in index and name not in members:
            raise InputError(f"--unions: union '{name}' has the name of player '{name}', "
                             "who is not in it; rename the union")
        blocks.append(sorted(index[m] for m in members))
        names.append(name)
    for p, i in index.items():
        if p not in seen:
            blocks.append([i])
            names.append(p)
    if len(set(names)) < len(names):
        dup = next(x for x in names if names.count(x) > 1)
        raise InputError(f"--unions: union '{dup}' has the name of a player who stands "
                         "alone; rename the union")
    return Unions(names, blocks, given)


def _subset_masks(bits: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every subset of the given bit masks: (mask, size)."""
    masks, sizes = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    for b in bits:
        masks = np.concatenate([masks, masks | np.int64(b)])
        sizes = np.concatenate([sizes, sizes + 1])
    return masks, sizes


def _weights(n: int) -> np.ndarray:
    """k! (n - k - 1)! / n! for k = 0..n-1."""
    return np.array([1.0 / (n * math.comb(n - 1, k)) for k in range(n)])


def owen_exact(game: CostGame, unions: Unions) -> np.ndarray:
    """The Owen value by the formula of the module docstring, on the full table."""
    n = game.n
    if n > MAX_EXACT_PLAYERS:
        raise ValueError(f"exact Owen value for {n} players")
    union_mask = [sum(1 << i for i in block) for block in unions.blocks]
    w_r = _weights(unions.u)
    out = np.zeros(n)
    for k, block in enumerate(unions.blocks):
        r_masks, r_sizes = _subset_masks([m for j, m in enumerate(union_mask) if j != k])
        w_t = _weights(len(block))
        for i in block:
            t_masks, t_sizes = _subset_masks([1 << j for j in block if j != i])
            masks = (r_masks[:, None] | t_masks[None, :]).ravel()
            weight = (w_r[r_sizes][:, None] * w_t[t_sizes][None, :]).ravel()
            out[i] = np.sum(weight * (game.cost[masks | (1 << i)] - game.cost[masks]))
    return out


def quotient_game(oracle: Oracle, unions: Unions, grand: float) -> CostGame:
    """The game among the unions: c(set of unions) = c(their members); 2^u - 1 costs."""
    u, n = unions.u, oracle.n
    masks = np.arange(1, (1 << u) - 1, dtype=np.int64)
    rows = np.zeros((len(masks), n), dtype=bool)
    for k, block in enumerate(unions.blocks):
        rows[:, block] = ((masks >> k) & 1).astype(bool)[:, None]
    cost = np.zeros(1 << u)
    if len(rows):
        cost[masks] = oracle.costs(rows)
    cost[(1 << u) - 1] = grand
    return CostGame(list(unions.names), cost)


@dataclass
class OwenEstimate:
    estimate: np.ndarray
    half_width: np.ndarray  # 95 %; 0 where exact
    sampled: np.ndarray  # bool per player
    samples: int
    stopped: str
    rounds: int
    pilot: int


class _Design:
    """The strata of the sampled players: stratum j = r * m + t for r other unions and t
    partners before the player, probability 1 / (u m)."""

    def __init__(self, unions: Unions, n: int, sampled: np.ndarray) -> None:
        self.unions, self.n = unions, n
        self.union = unions.of(n)
        self.size = np.array([len(unions.blocks[k]) for k in self.union])
        self.width = unions.u * int(self.size[sampled].max()) if sampled.any() else 1
        self.players = np.flatnonzero(sampled)
        self.weight = np.zeros((n, self.width))
        self.valid = np.zeros((n, self.width), dtype=bool)
        for i in self.players:
            m = self.size[i]
            self.valid[i, :unions.u * m] = True
            self.weight[i, :unions.u * m] = 1.0 / (unions.u * m)

    def strata(self, i: int) -> list[tuple[int, int, int]]:
        m = int(self.size[i])
        return [(r * m + t, r, t) for r in range(self.unions.u) for t in range(m)]

    def combos(self, i: int, r: int, t: int) -> int:
        return math.comb(self.unions.u - 1, r) * math.comb(int(self.size[i]) - 1, t)

    def _others(self, i: int) -> tuple[list[list[int]], list[int]]:
        k = self.union[i]
        unions = [b for j, b in enumerate(self.unions.blocks) if j != k]
        partners = [j for j in self.unions.blocks[k] if j != i]
        return unions, partners

    def draw(self, rng, i: int, r: int, t: int, count: int) -> np.ndarray:
        unions, partners = self._others(i)
        rows = np.zeros((count, self.n), dtype=bool)
        idx = np.arange(count)[:, None]
        if r:
            pick = np.argpartition(rng.random((count, len(unions))), r - 1, axis=1)[:, :r]
            for j, block in enumerate(unions):
                rows[:, block] |= (pick == j).any(axis=1)[:, None]
        if t:
            pick = np.argpartition(rng.random((count, len(partners))), t - 1, axis=1)[:, :t]
            rows[idx, np.array(partners)[pick]] = True
        return rows

    def enumerate(self, i: int, r: int, t: int) -> np.ndarray:
        unions, partners = self._others(i)
        out = []
        for us in itertools.combinations(range(len(unions)), r):
            for ps in itertools.combinations(partners, t):
                row = np.zeros(self.n, dtype=bool)
                for j in us:
                    row[unions[j]] = True
                row[list(ps)] = True
                out.append(row)
        return np.array(out, dtype=bool).reshape(-1, self.n)


def _pilot(design: _Design, max_samples: int) -> int:
    exact = sampled = 0
    for i in design.players:
        for _, r, t in design.strata(i):
            c = design.combos(i, r, t)
            if c <= PILOT:
                exact += c
            else:
                sampled += 1
    return pilot_for(exact, sampled, max_samples, "the Owen value's first round")


def _half(strata: _Strata, design: _Design, z: float) -> np.ndarray:
    var = np.where(design.valid, strata.var(), 0.0)
    return z * np.sqrt((design.weight ** 2 * var / np.maximum(strata.count, 1)).sum(axis=1))


def _allocate(strata: _Strata, design: _Design, half: np.ndarray, tol: float, z: float,
              cap: int) -> np.ndarray:
    """Neyman's allocation (m_j proportional to w_j s_j) that reaches the tolerance for each
    player still above it, scaled down to at most ``cap`` samples."""
    ws = design.weight * np.sqrt(np.where(design.valid, strata.var(), 0.0))
    want = ws * ws.sum(axis=1, keepdims=True) / (tol / z) ** 2
    open_ = (half > tol)[:, None] & design.valid & ~strata.exact
    extra = np.where(open_, np.maximum(np.ceil(want) - strata.count, 0), 0)
    if extra.sum() == 0:
        per = np.where(open_, design.weight ** 2 * strata.var()
                       / np.maximum(strata.count, 1), -1.0)
        for i in np.flatnonzero(half > tol):
            extra[i, int(np.argmax(per[i]))] = 1
    if extra.sum() > cap:
        extra = np.floor(extra * cap / extra.sum())
        if extra.sum() == 0:
            extra.flat[int(np.argmax(np.where(open_, want, -1)))] = 1
    return extra.astype(int)


def owen_sampled(oracle: Oracle, unions: Unions, sampled: np.ndarray, grand: float,
                 tolerance: float, max_samples: int, seed: int = 0, z: float = Z95,
                 progress: Callable[[int, float], None] | None = None) -> OwenEstimate:
    """Estimate the Owen value of the ``sampled`` players (their other entries are 0)."""
    n = oracle.n
    design = _Design(unions, n, sampled)
    strata = _Strata(n, design.width)
    strata.exact |= ~design.valid
    rng = np.random.default_rng(seed)
    pilot = _pilot(design, max_samples)
    plan = []
    for i in design.players:
        for j, r, t in design.strata(i):
            if design.combos(i, r, t) <= pilot:
                strata.exact[i, j] = True
                plan.append((i, j, design.enumerate(i, r, t)))
            else:
                plan.append((i, j, design.draw(rng, i, r, t, pilot)))
    used = _evaluate(oracle, plan, strata, grand)

    def more(half: np.ndarray, used: int) -> int:
        extra = _allocate(strata, design, half, tolerance, z,
                          min(max(used, len(design.players) * design.width),
                              max_samples - used))
        plan = []
        for i, j in zip(*np.nonzero(extra), strict=True):
            m = int(design.size[i])
            plan.append((i, j, design.draw(rng, i, j // m, j % m, int(extra[i, j]))))
        return _evaluate(oracle, plan, strata, grand)

    half, stopped, used, rounds = sample_rounds(
        used, lambda: _half(strata, design, z), more, tolerance, max_samples, progress)
    with np.errstate(invalid="ignore", divide="ignore"):  # padding strata: 0 / 0
        mean = np.where(design.valid, strata.mean(), 0.0)
    estimate = (design.weight * np.nan_to_num(mean)).sum(axis=1)
    return OwenEstimate(estimate, half, sampled, used, stopped, rounds, pilot)


def _named(players, values) -> dict:
    return dict(zip(players, np.asarray(values, dtype=float).tolist(), strict=True))


def analyse_owen(oracle: Oracle, unions: Unions, grand: float, tolerance: float | None,
                 max_samples: int, seed: int = 0, shapley_value: dict | None = None,
                 say: Callable[[str], None] | None = None) -> dict:
    """The Owen value, each union's total (its quotient-game Shapley value) and the split
    inside it, JSON-ready, saying what is exact and what is sampled (with 95 % intervals).
    """
    say = say or (lambda msg: None)
    n, players = oracle.n, oracle.players
    tol = tolerance if tolerance is not None else 0.01 * max(abs(grand), 1e-9)
    out: dict = {"unions": {name: [players[i] for i in block] for name, block in
                            zip(unions.names, unions.blocks, strict=True) if len(block) > 1
                            or name in unions.given}}
    if oracle.cheap and n <= MAX_EXACT_PLAYERS:
        say("Owen value: exact, from every coalition")
        value = owen_exact(oracle.tabulate(), unions)
        half = np.zeros(n)
        totals = np.array([value[b].sum() for b in unions.blocks])
        out |= {"method": f"exact (all {(1 << n) - 1:,} coalitions enumerated)",
                "union_method": "exact (sum of the members' exact values)"}
    else:
        if unions.u <= MAX_QUOTIENT.get(oracle.kind, 0):
            say(f"Owen value: quotient game of {unions.u} unions "
                f"({(1 << unions.u) - 1} coalitions)")
            totals = shapley(quotient_game(oracle, unions, grand))
            sampled = np.array([len(unions.blocks[k]) > 1 for k in unions.of(n)])
            union_method = (f"exact: Shapley value of the quotient game ({(1 << unions.u) - 1}"
                            " coalitions of unions enumerated)")
        else:
            totals = None
            sampled = np.ones(n, dtype=bool)
            union_method = "sampled: sum of the members' estimates"
        est = owen_sampled(oracle, unions, sampled, grand, tol, max_samples, seed,
                           progress=lambda k, h: say(f"Owen value: {k:,} samples, largest "
                                                     f"95 % half-width {h:,.4g} MUSD"))
        value, half = est.estimate.copy(), est.half_width.copy()
        if totals is None:
            totals = np.array([value[b].sum() for b in unions.blocks])
        else:
            for k, block in enumerate(unions.blocks):
                if len(block) == 1:
                    value[block[0]], half[block[0]] = totals[k], 0.0
        out |= {"method": "sampled: orders consistent with the unions, stratified by the "
                          "number of other unions and of partners before the player "
                          "(Castro et al. 2017 scheme); exact for players alone",
                "union_method": union_method, "samples": est.samples,
                "max_samples": max_samples, "stopped": est.stopped, "rounds": est.rounds,
                "pilot_per_stratum": est.pilot, "tolerance_musd": tol, "seed": seed,
                "largest_half_width": float(half.max())}
    union_half = [float(np.sqrt((half[b] ** 2).sum())) if "sampled: sum" in
                  out["union_method"] else 0.0 for b in unions.blocks]
    out["value"] = _named(players, value)
    out["ci95_half_width"] = _named(players, half)
    out["union_totals"] = {name: {"total": float(totals[k]), "ci95_half_width": union_half[k],
                                  "members": [players[i] for i in unions.blocks[k]],
                                  "members_sum": float(value[unions.blocks[k]].sum())}
                           for k, name in enumerate(unions.names)}
    out["sum_minus_grand_cost"] = float(value.sum() - grand)
    if shapley_value is not None:
        out["shapley"] = dict(shapley_value)
    return out


def owen_table(result: dict, players: list[str]) -> pd.DataFrame:
    owen = result["owen"]
    union_of = {p: name for name, info in owen["union_totals"].items()
                for p in info["members"]}
    rows = []
    for p in players:
        name = union_of[p]
        total = owen["union_totals"][name]["total"]
        rows.append({"player": p, "union": name, "owen": owen["value"][p],
                     "owen_ci95_half_width": owen["ci95_half_width"][p],
                     "union_total": total,
                     "share_of_union": owen["value"][p] / total if total else float("nan"),
                     "shapley": result.get("shapley", {}).get(p)})
    return pd.DataFrame(rows)


def owen_text(result: dict) -> str:
    owen, players = result["owen"], result["players"]
    given = ", ".join(f"{k} = {'+'.join(v) if len(v) <= 8 else f'{len(v)} members'}"
                      for k, v in owen["unions"].items())
    lines = ["", f"Owen value (a priori unions: {given}; the others stand alone): "
                 f"{owen['method']}"]
    if "stopped" in owen:
        lines.append(f"  {owen['samples']:,} samples, {owen['stopped']} (largest 95 % "
                     f"half-width {owen['largest_half_width']:,.4g} MUSD, tolerance "
                     f"{owen['tolerance_musd']:,.4g}, seed {owen['seed']})")
    lines.append(f"  union totals: {owen['union_method']}")
    width = max(8, *(len(p) for p in players), *(len(u) for u in owen["union_totals"]))
    lines.append(f"{'union':<{width}} {'members':>7} {'total':>10} {'+/-':>8} "
                 f"{'members sum':>11}")
    for name, info in owen["union_totals"].items():
        lines.append(f"{name:<{width}} {len(info['members']):>7} {info['total']:>10,.1f} "
                     f"{info['ci95_half_width']:>8,.2f} {info['members_sum']:>11,.1f}")
    shap = result.get("shapley", {})
    lines.append(f"{'player':<{width}} {'union':<{width}} {'owen':>10} {'+/-':>8} "
                 f"{'shapley':>10}")
    for name, info in owen["union_totals"].items():
        for p in info["members"]:
            s = f"{shap[p]:>10,.1f}" if p in shap else f"{'-':>10}"
            lines.append(f"{p:<{width}} {name:<{width}} {owen['value'][p]:>10,.1f} "
                         f"{owen['ci95_half_width'][p]:>8,.2f} {s}")
    return "\n".join(lines)


def with_owen(oracle: Oracle, specs: tuple[str, ...], result: dict | None,
              tables: dict[str, pd.DataFrame], text: str, tolerance: float | None,
              max_samples: int | None, seed: int,
              say: Callable[[str], None] | None = None
              ) -> tuple[dict, dict[str, pd.DataFrame], str]:
    """Add the Owen value of the unions ``specs`` (``--unions``) to a game's analysis;
    ``result`` None (``--owen-only``): the Owen value alone."""
    from remech.lazygame import DEFAULT_MAX_SAMPLES

    unions = parse_unions(specs, oracle.players)
    if result is None:
        grand = oracle.cost(oracle.grand())
        result = {"players": list(oracle.players), "grand_coalition_cost": grand}
        text = (f"{oracle.describe()}\ngrand coalition cost {grand:,.1f} "
                "(Owen value only: no Shapley value, least core or nucleolus)")
    budget = max_samples or DEFAULT_MAX_SAMPLES.get(oracle.kind, 1_000_000)
    result["owen"] = analyse_owen(oracle, unions, result["grand_coalition_cost"], tolerance,
                                  budget, seed, result.get("shapley"), say)
    tables = dict(tables) | {"owen.csv": owen_table(result, oracle.players)}
    return result, tables, text + "\n" + owen_text(result)
