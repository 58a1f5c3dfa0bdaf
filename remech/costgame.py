"""Cost games and their allocations: Shapley value, nucleolus, least core, core checks.

A cost game gives every non-empty coalition S of players a cost c(S) (here: MUSD, what S
would pay running the mechanism alone). An allocation x splits c(N) among the players.
S *blocks* x if x(S) > c(S): its members pay more inside the deal than on their own.
The core is the set of allocations no coalition blocks. The excess of S at x is
e(S, x) = x(S) - c(S); the least core minimises the largest excess over proper
coalitions (its epsilon is <= 0 exactly when the core is non-empty). The nucleolus
minimises the excesses lexicographically, largest first, over the imputations: the
allocations of c(N) in which nobody pays more than its stand-alone cost, x_i <= c({i})
(Schmeidler 1969). The prenucleolus does the same over all allocations of c(N), without
that individual rationality. The two coincide when the core is not empty; the nucleolus
does not exist when the imputation set is empty (stand-alone costs sum to less than c(N)).
Both are computed by the sequence of LPs of Maschler, Peleg and Shapley (1979) with HiGHS.

Works on any cost game (``CostGame.from_csv``), not only on ones remech computed.
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import highspy
import numpy as np
import pandas as pd

from remech.errors import InputError
from remech.highs import new_highs

TOL = 1e-7
PLAYER = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_EXACT_SHAPLEY = 20


@dataclass
class CostGame:
    """A cost game; ``cost[mask]`` is c(S) for the coalition whose bit i is player i."""

    players: list[str]
    cost: np.ndarray  # [2^n], cost[0] = 0

    @property
    def n(self) -> int:
        return len(self.players)

    @property
    def grand(self) -> int:
        return (1 << self.n) - 1

    def members(self, mask: int) -> list[str]:
        return [p for i, p in enumerate(self.players) if mask >> i & 1]

    def mask(self, names) -> int:
        index = {p: i for i, p in enumerate(self.players)}
        return sum(1 << index[p] for p in names)

    def label(self, mask: int) -> str:
        return "+".join(self.members(mask))

    @classmethod
    def from_costs(cls, players: list[str], costs: dict[frozenset, float]) -> CostGame:
        game = cls(list(players), np.zeros(1 << len(players)))
        for coalition, value in costs.items():
            game.cost[game.mask(coalition)] = float(value)
        return game

    @classmethod
    def from_csv(cls, path: str | Path) -> CostGame:
        """Read ``coalition,cost`` rows (members joined by '+', e.g. US+JP), one per
        non-empty coalition."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: file not found; give a CSV with columns "
                             "coalition,cost")
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise InputError(f"{path.name}: empty file; give a header coalition,cost and one "
                             "row per non-empty coalition") from None
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else \
                str(exc).strip().splitlines()[-1]
            raise InputError(f"{path.name}: cannot read it as CSV ({reason}); give a CSV "
                             "with columns coalition,cost") from None
        df.columns = [str(c).strip() for c in df.columns]
        for col in ("coalition", "cost"):
            if col not in df.columns:
                raise InputError(f"{path.name}: missing column '{col}'; the header must be "
                                 "coalition,cost")
        if df.empty:
            raise InputError(f"{path.name}: no rows under the header; give one row per "
                             "non-empty coalition, e.g. US+JP,120.5")
        fast = _well_formed(df)
        if fast is not None:
            return fast
        rows: dict[frozenset, float] = {}
        players: list[str] = []
        for i, (coal, cost) in enumerate(zip(df["coalition"], df["cost"], strict=True)):
            row = i + 2
            names = [p.strip() for p in coal.split("+")]
            if not coal.strip():
                raise InputError(f"{path.name} row {row}, column 'coalition': empty coalition;"
                                 " list the members joined by '+', e.g. US+JP")
            bad = next((p for p in names if not PLAYER.fullmatch(p)), None)
            if bad is not None:
                raise InputError(f"{path.name} row {row}, column 'coalition': '{coal}' is not "
                                 "members joined by '+' (member names are letters, digits, "
                                 "'_', '-' or '.'); write e.g. US+JP")
            if len(set(names)) != len(names):
                raise InputError(f"{path.name} row {row}, column 'coalition': '{coal}' lists "
                                 "a member twice; list each member once")
            try:
                value = float(cost)
            except ValueError:
                raise InputError(f"{path.name} row {row}, column 'cost': '{cost}' is not a "
                                 "number; write the coalition's cost as a number") from None
            if not math.isfinite(value):
                raise InputError(f"{path.name} row {row}, column 'cost': {cost} is not finite;"
                                 " give a finite cost")
            key = frozenset(names)
            if key in rows:
                raise InputError(f"{path.name} row {row}: coalition '{coal}' appears twice; "
                                 "keep one row per coalition")
            rows[key] = value
            players += [p for p in names if p not in players]
        n = len(players)
        if n > 25:
            raise InputError(f"{path.name}: {n} players; at most 25 are supported")
        if len(rows) != (1 << n) - 1:
            have = set(rows)
            missing = next(m for m in range(1, 1 << n)
                           if frozenset(p for i, p in enumerate(players) if m >> i & 1)
                           not in have)
            label = "+".join(p for i, p in enumerate(players) if missing >> i & 1)
            raise InputError(f"{path.name}: {(1 << n) - 1 - len(rows)} coalition(s) missing, "
                             f"first: {label}; give one row for every non-empty coalition "
                             f"of {', '.join(players)}")
        return cls.from_costs(players, rows)

    def to_frame(self) -> pd.DataFrame:
        masks = range(1, 1 << self.n)
        return pd.DataFrame({"coalition": [self.label(m) for m in masks],
                             "cost": [self.cost[m] for m in masks]})


def _well_formed(df: pd.DataFrame) -> CostGame | None:
    """The game of a table with no problem, read in one pass (20 players: seconds, not the
    minutes of the row-by-row checks); None if any row needs those checks (they then find
    the first problem and say it)."""
    players: dict[str, int] = {}
    masks = np.empty(len(df), dtype=np.int64)
    for k, coalition in enumerate(df["coalition"]):
        mask, count = 0, 0
        for name in coalition.split("+"):
            name = name.strip()
            bit = players.get(name)
            if bit is None:
                if len(players) >= 25 or not PLAYER.fullmatch(name):
                    return None
                bit = players[name] = 1 << len(players)
            mask |= bit
            count += 1
        if mask.bit_count() != count:  # a member listed twice
            return None
        masks[k] = mask
    try:
        cost = np.array(df["cost"].tolist(), dtype=float)
    except ValueError:
        return None
    n = len(players)
    if len(masks) != (1 << n) - 1 or not np.isfinite(cost).all() \
            or len(np.unique(masks)) != len(masks):
        return None
    game = CostGame(list(players), np.zeros(1 << n))
    game.cost[masks] = cost
    return game


def _sizes(n: int) -> np.ndarray:
    return np.array([bin(m).count("1") for m in range(1 << n)])


def shapley(game: CostGame) -> np.ndarray:
    """Exact Shapley value: phi_i = sum_{S not containing i} |S|!(n-|S|-1)!/n! *
    (c(S + i) - c(S))."""
    n = game.n
    if n > MAX_EXACT_SHAPLEY:
        raise ValueError(f"exact Shapley value for {n} players; use shapley_sampled")
    size = _sizes(n)
    weight = np.array([math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                       for k in range(n)])
    masks = np.arange(1 << n)
    phi = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i & 1) == 0]
        phi[i] = np.sum(weight[size[without]] * (game.cost[without | (1 << i)]
                                                  - game.cost[without]))
    return phi


def shapley_sampled(game: CostGame, samples: int = 2000, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Shapley value estimated from random orders of the players: the mean marginal
    cost and the half-width of its 95 % confidence interval (1.96 standard errors)."""
    rng = np.random.default_rng(seed)
    n = game.n
    draws = np.zeros((samples, n))
    for k in range(samples):
        mask = 0
        for i in rng.permutation(n):
            draws[k, i] = game.cost[mask | 1 << i] - game.cost[mask]
            mask |= 1 << i
    half = 1.96 * draws.std(axis=0, ddof=1) / math.sqrt(samples) if samples > 1 else \
        np.full(n, np.inf)
    return draws.mean(axis=0), half


def proportional(game: CostGame, weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return game.cost[game.grand] * w / w.sum()


def _incidence(n: int, masks) -> np.ndarray:
    return np.array([[m >> i & 1 for i in range(n)] for m in masks], dtype=float)


def _excess_lp(game: CostGame, active: list[int], fixed: dict[int, float],
               upper: np.ndarray | None = None):
    """min eps s.t. x(S) - eps <= c(S) (S active), x(S) = c(S) + e_S (S fixed),
    x(N) = c(N), x <= upper (if given). Returns (eps, x, row duals of the active rows)."""
    n = game.n
    h = new_highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    ub = [inf] * n if upper is None else [float(u) for u in upper]
    h.addVars(n + 1, [-inf] * (n + 1), ub + [inf])
    h.changeColCost(n, 1.0)
    for m in active:
        idx = [i for i in range(n) if m >> i & 1] + [n]
        val = [1.0] * (len(idx) - 1) + [-1.0]
        h.addRow(-inf, float(game.cost[m]), len(idx), idx, val)
    for m, e in fixed.items():
        idx = [i for i in range(n) if m >> i & 1]
        h.addRow(float(game.cost[m] + e), float(game.cost[m] + e), len(idx), idx,
                 [1.0] * len(idx))
    c_n = float(game.cost[game.grand])
    h.addRow(c_n, c_n, n, list(range(n)), [1.0] * n)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"nucleolus LP: {h.modelStatusToString(h.getModelStatus())}")
    sol = h.getSolution()
    col = np.array(sol.col_value)
    return col[n], col[:n], np.array(sol.row_dual[:len(active)])


def least_core(game: CostGame) -> tuple[float, np.ndarray]:
    """Epsilon of the least core and an allocation in it (proper, non-empty coalitions)."""
    active = list(range(1, game.grand))
    if not active:  # one player
        return 0.0, game.cost[[1]].astype(float)
    eps, x, _ = _excess_lp(game, active, {})
    return float(eps), x


def stand_alone(game: CostGame) -> np.ndarray:
    return np.array([game.cost[1 << i] for i in range(game.n)], dtype=float)


def imputations_empty(game: CostGame) -> bool:
    """No allocation of c(N) gives every player at most its stand-alone cost:
    sum_i c({i}) < c(N)."""
    alone = stand_alone(game)
    scale = TOL * max(1.0, abs(float(game.cost[game.grand])), float(np.abs(alone).sum()))
    return float(alone.sum()) < float(game.cost[game.grand]) - scale


def _lexicographic(game: CostGame, upper: np.ndarray | None) -> np.ndarray:
    """Minimise the excesses lexicographically (sequence of LPs): each LP minimises the
    largest excess among the coalitions not yet fixed; coalitions with a positive dual are
    tight in every optimal solution (complementary slackness) and are fixed at that
    excess; stop when the fixed coalitions determine x or none is left."""
    n = game.n
    if n == 1:
        return game.cost[[1]].astype(float)
    active = list(range(1, game.grand))
    fixed: dict[int, float] = {}
    while True:
        eps, x, dual = _excess_lp(game, active, fixed, upper)
        tight = [m for m, y in zip(active, dual, strict=True) if abs(y) > TOL]
        if not tight:  # numerically degenerate: fall back on tightness at this solution
            tight = [m for m in active
                     if abs(sum(x[i] for i in range(n) if m >> i & 1) - game.cost[m] - eps)
                     <= 1e-9 * max(1.0, abs(eps))]
        if not tight:  # nothing to fix: x is as good as it gets
            return x
        for m in tight:
            fixed[m] = eps
        active = [m for m in active if m not in fixed]
        basis = _incidence(n, list(fixed) + [game.grand])
        if np.linalg.matrix_rank(basis) >= n or not active:
            return x


def prenucleolus(game: CostGame) -> np.ndarray:
    """Prenucleolus: the lexicographic minimum of the excesses over all allocations of
    c(N) (no individual rationality; Sobolev 1975)."""
    return _lexicographic(game, None)


def nucleolus(game: CostGame) -> np.ndarray | None:
    """Nucleolus (Schmeidler 1969): the lexicographic minimum of the excesses over the
    imputations (x(N) = c(N), x_i <= c({i})); None when there is no imputation."""
    if imputations_empty(game):
        return None
    alone = stand_alone(game)
    # a hair of slack so that a one-point imputation set stays feasible in floating point
    slack = TOL * max(1.0, float(np.abs(alone).max()))
    return _lexicographic(game, alone + slack)


def blocking(game: CostGame, x: np.ndarray, tol: float = 1e-6) -> list[tuple[int, float]]:
    """Coalitions S with x(S) > c(S) (+ tol), largest excess first, as (mask, excess)."""
    n = game.n
    masks = np.arange(1, game.grand)
    inc = ((masks[:, None] >> np.arange(n)) & 1).astype(float)
    excess = inc @ x - game.cost[masks]
    scale = tol * max(1.0, abs(float(game.cost[game.grand])))
    bad = np.flatnonzero(excess > scale)
    return sorted(((int(masks[k]), float(excess[k])) for k in bad), key=lambda t: -t[1])


def in_core(game: CostGame, x: np.ndarray, tol: float = 1e-6) -> bool:
    scale = tol * max(1.0, abs(float(game.cost[game.grand])))
    return abs(float(np.sum(x)) - game.cost[game.grand]) <= scale and not blocking(game, x, tol)


def closest_stable(game: CostGame, reference: np.ndarray,
                   upper: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The allocation in the core (or, if it is empty, the least core) closest to
    ``reference`` in the sum of absolute deviations, with optional per-player upper
    bounds. Returns (allocation, epsilon used: 0 when the core is not empty)."""
    eps, _ = least_core(game)
    eps = max(eps, 0.0)
    n = game.n
    h = new_highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    ub = [inf] * n if upper is None else [float(u) if np.isfinite(u) else inf for u in upper]
    h.addVars(n, [-inf] * n, ub)  # x
    h.addVars(n, [0.0] * n, [inf] * n)  # deviation d >= |x - r|
    for i in range(n):
        h.changeColCost(n + i, 1.0)
        h.addRow(float(reference[i]), inf, 2, [i, n + i], [1.0, 1.0])  # x + d >= r
        h.addRow(-inf, float(reference[i]), 2, [i, n + i], [1.0, -1.0])  # x - d <= r
    for m in range(1, game.grand):
        idx = [i for i in range(n) if m >> i & 1]
        h.addRow(-inf, float(game.cost[m] + eps), len(idx), idx, [1.0] * len(idx))
    c_n = float(game.cost[game.grand])
    h.addRow(c_n, c_n, n, list(range(n)), [1.0] * n)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise InputError("no stable split respects the budget caps: the (least) core and "
                         "the caps do not intersect; raise the caps or use another rule")
    return np.array(h.getSolution().col_value[:n]), eps


def analyse(game: CostGame, weights: dict[str, np.ndarray] | None = None,
            samples: int = 0, seed: int = 0) -> dict:
    """Everything negotiators ask of a cost game, JSON-ready."""
    n = game.n
    players = game.players
    eps, lc_x = least_core(game)
    nuc = nucleolus(game)
    pre = prenucleolus(game)
    out: dict = {"players": players, "grand_coalition_cost": float(game.cost[game.grand])}
    rules: dict[str, np.ndarray] = {}
    if n <= MAX_EXACT_SHAPLEY:
        rules["shapley"] = shapley(game)
    if samples or n > MAX_EXACT_SHAPLEY:
        mean, half = shapley_sampled(game, samples or 2000, seed)
        out["shapley_sampled"] = {"estimate": dict(zip(players, mean.tolist(), strict=True)),
                                  "ci95_half_width": dict(zip(players, half.tolist(),
                                                              strict=True)),
                                  "samples": samples or 2000, "seed": seed}
        rules.setdefault("shapley", mean)
    if nuc is not None:
        rules["nucleolus"] = nuc
    rules["prenucleolus"] = pre
    rules["least_core"] = lc_x
    rules["equal"] = proportional(game, np.ones(n))
    for name, w in (weights or {}).items():
        rules[name] = proportional(game, w)
    alone = stand_alone(game)
    out["stand_alone"] = dict(zip(players, alone.tolist(), strict=True))
    out["shapley"] = dict(zip(players, rules["shapley"].tolist(), strict=True))
    if nuc is None:
        out["nucleolus"] = None
        out["nucleolus_note"] = (
            f"no nucleolus: the imputation set is empty (stand-alone costs sum to "
            f"{alone.sum():,.6g} < grand coalition cost {game.cost[game.grand]:,.6g}), so no "
            "split of the grand coalition's cost has every player pay at most its "
            "stand-alone cost")
    else:
        out["nucleolus"] = dict(zip(players, nuc.tolist(), strict=True))
    out["prenucleolus"] = dict(zip(players, pre.tolist(), strict=True))
    out["least_core"] = {"epsilon": eps,
                         "allocation": dict(zip(players, lc_x.tolist(), strict=True))}
    out["core_empty"] = bool(eps > TOL * max(1.0, abs(float(game.cost[game.grand]))))
    out["rules"] = {}
    for name, x in rules.items():
        blocks = blocking(game, x)
        out["rules"][name] = {
            "allocation": dict(zip(players, x.tolist(), strict=True)),
            "saving_vs_alone": dict(zip(players, (alone - x).tolist(), strict=True)),
            "stable": not blocks,
            "blocking": [{"coalition": game.label(m), "excess": e} for m, e in blocks[:5]],
            "n_blocking": len(blocks),
        }
    return out


def allocation_table(result: dict) -> pd.DataFrame:
    """One row per player: stand-alone cost, each rule's allocation and saving."""
    df = pd.DataFrame({"player": result["players"]})
    df["stand_alone"] = [result["stand_alone"][p] for p in result["players"]]
    for name, r in result["rules"].items():
        df[name] = [r["allocation"][p] for p in result["players"]]
        df[f"saving_{name}"] = [r["saving_vs_alone"][p] for p in result["players"]]
    return df


def game_text(result: dict, records: list[dict] | None) -> str:
    """Per-ally report of a cost game: stand-alone cost, each rule, savings, stability."""
    players = result["players"]
    rules = list(result["rules"])
    width = max(8, *(len(p) for p in players))
    lines = [f"grand coalition cost {result['grand_coalition_cost']:,.1f}; least-core epsilon "
             f"{result['least_core']['epsilon']:,.3f} "
             f"({'core EMPTY' if result['core_empty'] else 'core not empty'})"]
    col = max(11, *(len(r) for r in rules))
    head = f"{'ally':<{width}} {'alone':>10} " + " ".join(f"{r:>{col}}" for r in rules)
    lines += ["", "cost under each rule", head]
    for p in players:
        lines.append(f"{p:<{width}} {result['stand_alone'][p]:>10,.1f} " + " ".join(
            f"{result['rules'][r]['allocation'][p]:>{col},.1f}" for r in rules))
    lines += ["", "saving from joining (alone - rule)", head]
    for p in players:
        lines.append(f"{p:<{width}} {'':>10} " + " ".join(
            f"{result['rules'][r]['saving_vs_alone'][p]:>{col},.1f}" for r in rules))
    lines.append("")
    for r in rules:
        info = result["rules"][r]
        if info["stable"]:
            lines.append(f"{r:<12} stable: no coalition pays less on its own")
        else:
            b = info["blocking"][0]
            lines.append(f"{r:<12} NOT stable: {info['n_blocking']} blocking coalition(s), "
                         f"e.g. {b['coalition']} pays {b['excess']:,.2f} more than alone")
    if result.get("nucleolus_note"):
        lines.append(f"{'nucleolus':<12} {result['nucleolus_note']}")
    if records:
        solved = [r for r in records if not r.get("cached")]
        secs = sum(r["seconds"] for r in solved)
        lines.append(f"\n{len(records)} coalitions: {len(solved)} solved "
                     f"({secs:,.1f} s of solver processes, "
                     f"{secs / max(1, len(solved)):.2f} s each), "
                     f"{len(records) - len(solved)} from cache; "
                     f"{sum(r['status'] == 'optimal' for r in records)} proved optimal")
    return "\n".join(lines)
