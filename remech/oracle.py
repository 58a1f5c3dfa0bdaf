"""Coalition costs on demand: the cost oracles of large games.

A game with n players has 2^n - 1 coalitions; beyond about 20 players no table of them
fits in memory and no negotiator can solve them all. The algorithms of
``remech.sampling`` and ``remech.rowgen`` ask an oracle for the costs of the coalitions
they need, as boolean membership rows (one row per coalition, column i = player i):

- ``TableOracle``: a table that lists every coalition (``remech game --costs FILE.csv``),
  held as the array of ``CostGame`` (the input is that large; at most 25 players);
- ``AirportGame``, ``MajorityGame``: *formula games* (``--costs FILE.toml``), costs
  computed from per-player data, never tabulated; their costs are linear-representable,
  so the most violated coalition is found exactly by a MIP over membership
  (``add_cost``);
- ``InstanceOracle`` (``remech.stability``): each coalition solved on demand through the
  instance, in parallel, cached on disk and in memory.

Data layer: no Pyomo here.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator
from pathlib import Path

import highspy
import numpy as np

from remech.costgame import PLAYER, CostGame
from remech.errors import InputError

#: players a formula game may have (the sampled Shapley value needs n^2 strata)
MAX_FORMULA_PLAYERS = 200
#: masks per chunk when a game is enumerated (2^16 coalitions: a few MB of membership rows)
CHUNK_BITS = 16


def masks_to_rows(masks: np.ndarray, n: int) -> np.ndarray:
    """Boolean membership rows of integer masks (bit i = player i), n <= 62."""
    return ((np.asarray(masks, dtype=np.int64)[:, None] >> np.arange(n)) & 1).astype(bool)


def rows_to_masks(rows: np.ndarray) -> np.ndarray:
    """Integer masks of membership rows (n <= 62)."""
    return rows.astype(np.int64) @ (np.int64(1) << np.arange(rows.shape[1], dtype=np.int64))


def row_key(row: np.ndarray) -> int:
    """A coalition as a Python int (bit i = player i), for any number of players."""
    return int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little")


def key_rows(keys, n: int) -> np.ndarray:
    """Membership rows of int keys."""
    return np.array([[key >> i & 1 for i in range(n)] for key in keys],
                    dtype=bool).reshape(-1, n)


class Oracle:
    """Costs of coalitions on demand (MUSD). ``costs(rows)`` takes a boolean array
    [k, n]; ``cheap`` oracles (tables, formulas) may be enumerated when n is small."""

    players: list[str]
    kind: str = "oracle"
    cheap: bool = True

    def __init__(self) -> None:
        self.evaluations = 0  # coalition costs served (with repetitions)

    @property
    def n(self) -> int:
        return len(self.players)

    def costs(self, rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(np.asarray(rows, dtype=bool))
        self.evaluations += len(rows)
        step = 1 << CHUNK_BITS  # bounds the formulas' temporary arrays
        if len(rows) <= step:
            return self._costs(rows)
        return np.concatenate([self._costs(rows[k:k + step])
                               for k in range(0, len(rows), step)])

    def _costs(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cost(self, row: np.ndarray) -> float:
        return float(self.costs(row[None])[0])

    def grand(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool)

    def label(self, row: np.ndarray) -> str:
        return "+".join(p for p, b in zip(self.players, row, strict=True) if b)

    def known(self) -> tuple[np.ndarray, np.ndarray]:
        """Coalitions whose costs are stored (rows, costs): free candidates for a search."""
        return np.zeros((0, self.n), dtype=bool), np.zeros(0)

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All proper non-empty coalitions as (masks, costs), 2^CHUNK_BITS at a time."""
        n = self.n
        if n > 25:
            raise ValueError(f"enumerating {n} players")
        step = 1 << min(n, CHUNK_BITS)
        for start in range(0, 1 << n, step):
            masks = np.arange(max(start, 1), min(start + step, (1 << n) - 1), dtype=np.int64)
            if len(masks):
                yield masks, self.mask_costs(masks)

    def mask_costs(self, masks: np.ndarray) -> np.ndarray:
        return self.costs(masks_to_rows(masks, self.n))

    def tabulate(self) -> CostGame:
        """The full table (small n only): the exact analysis of ``remech.costgame``."""
        game = CostGame(list(self.players), np.zeros(1 << self.n))
        for masks, cost in self.chunks():
            game.cost[masks] = cost
        game.cost[game.grand] = self.cost(self.grand())
        return game

    def describe(self) -> str:
        return self.kind


class TableOracle(Oracle):
    """A cost table that lists every coalition (the array of a ``CostGame``)."""

    kind = "table"

    def __init__(self, game: CostGame) -> None:
        super().__init__()
        self.game = game
        self.players = list(game.players)

    def _costs(self, rows: np.ndarray) -> np.ndarray:
        return self.game.cost[rows_to_masks(rows)]

    def mask_costs(self, masks: np.ndarray) -> np.ndarray:
        self.evaluations += len(masks)
        return self.game.cost[masks]

    def tabulate(self) -> CostGame:
        return self.game

    def describe(self) -> str:
        return f"table of all {(1 << self.n) - 1} coalitions"


class FormulaGame(Oracle):
    """A cost game given by a formula of per-player data (never tabulated)."""

    kind = "formula"
    formula = ""

    def add_cost(self, h: highspy.Highs, z: list[int]) -> None:
        """Add to the maximisation model ``h`` (binaries z_i = membership) the columns and
        rows whose objective terms equal -c(S) at every integer point."""
        raise NotImplementedError


class AirportGame(FormulaGame):
    """c(S) = max_{i in S} a_i: a facility sized for the most demanding member
    (Littlechild and Owen 1973). Costs a_i >= 0."""

    formula = "airport"

    def __init__(self, players: list[str], cost: np.ndarray) -> None:
        super().__init__()
        self.players = list(players)
        self.a = np.asarray(cost, dtype=float)

    def _costs(self, rows: np.ndarray) -> np.ndarray:
        return np.where(rows, self.a, 0.0).max(axis=1)

    def add_cost(self, h: highspy.Highs, z: list[int]) -> None:
        """u_j = 1 for the costliest member j (in the order of a, ties by index):
        sum_j u_j = 1, u_j <= z_j, z_i <= sum_{j at or after i} u_j; -c(S) = -sum a_j u_j.
        The rows form an interval matrix (totally unimodular)."""
        n = self.n
        order = np.argsort(self.a, kind="stable")
        first = h.getNumCol()
        h.addVars(n, [0.0] * n, [1.0] * n)
        for j in range(n):
            h.changeColIntegrality(first + j, highspy.HighsVarType.kInteger)
            h.changeColCost(first + j, -float(self.a[j]))
            h.addRow(-highspy.kHighsInf, 0.0, 2, [first + j, z[j]], [1.0, -1.0])
        h.addRow(1.0, 1.0, n, list(range(first, first + n)), [1.0] * n)
        for pos, i in enumerate(order):
            later = [first + int(j) for j in order[pos:]]
            h.addRow(0.0, highspy.kHighsInf, len(later) + 1, later + [z[i]],
                     [1.0] * len(later) + [-1.0])

    def shapley_closed_form(self) -> np.ndarray:
        """Littlechild and Owen (1973): each runway segment a_(k) - a_(k-1) is shared
        equally by the n - k + 1 players who need it."""
        order = np.argsort(self.a, kind="stable")
        c = self.a[order]
        steps = np.diff(np.concatenate([[0.0], c])) / (self.n - np.arange(self.n))
        out = np.empty(self.n)
        out[order] = np.cumsum(steps)
        return out

    def nucleolus_closed_form(self) -> np.ndarray:
        """Littlechild (1974): with a sorted, j players settled and A paid, the next ones
        up to k* pay r = min_{j < k < n} (a_(k) - A) / (k - j + 1) each (k* the last
        minimiser); the costliest player pays the rest."""
        order = np.argsort(self.a, kind="stable")
        c, n = self.a[order], self.n
        x, j, paid = np.zeros(n), 0, 0.0
        while j < n - 1:
            ks = np.arange(j + 1, n)
            r = (c[ks - 1] - paid) / (ks - j + 1)
            k = int(ks[np.flatnonzero(r <= r.min() + 1e-12)[-1]])
            x[j:k] = r.min()
            paid += (k - j) * r.min()
            j = k
        x[n - 1] = c[n - 1] - paid
        out = np.empty(n)
        out[order] = x
        return out

    def owen_closed_form(self, blocks: list[list[int]]) -> np.ndarray:
        """Vazquez-Brage, van den Nouweland and Garcia-Jurado (1997), "Owen's coalitional
        value and aircraft landing fees", Math. Soc. Sci. 34: each runway segment is shared
        equally by the unions (``blocks``: lists of player indices) with a member who needs
        it, then equally by those members."""
        out = np.zeros(self.n)
        levels = np.concatenate([[0.0], np.unique(self.a)])
        for lo, hi in zip(levels[:-1], levels[1:], strict=True):
            need = [b for b in ([i for i in blk if self.a[i] >= hi] for blk in blocks) if b]
            for b in need:
                out[b] += (hi - lo) / len(need) / len(b)
        return out

    @classmethod
    def seeded(cls, n: int, seed: int = 1) -> AirportGame:
        """n players P00, P01, ... with costs a_i ~ U(1, 100) rounded to 0.1 (the tests'
        and benchmarks/games.py's airport games)."""
        a = np.round(np.random.default_rng(seed).uniform(1, 100, n), 1)
        return cls([f"P{i:02d}" for i in range(n)], a)

    def describe(self) -> str:
        return f"formula game 'airport' (c(S) = max of the members' costs), {self.n} players"


class MajorityGame(FormulaGame):
    """Weighted majority as a cost game: c(S) = -prize if w(S) >= quota, else 0 (a
    winning coalition gains the prize)."""

    formula = "weighted_majority"

    def __init__(self, players: list[str], weight: np.ndarray, quota: float,
                 prize: float) -> None:
        super().__init__()
        self.players = list(players)
        self.w = np.asarray(weight, dtype=float)
        self.quota, self.prize = float(quota), float(prize)

    def _costs(self, rows: np.ndarray) -> np.ndarray:
        return np.where(rows.astype(float) @ self.w >= self.quota - 1e-9, -self.prize, 0.0)

    @classmethod
    def seeded(cls, n: int, seed: int = 2) -> MajorityGame:
        """n voters V00, V01, ... with weights w_i ~ U{1..19}, quota half the total plus one,
        prize 100 MUSD (the tests' and benchmarks/games.py's majority games)."""
        w = np.random.default_rng(seed).integers(1, 20, n)
        return cls([f"V{i:02d}" for i in range(n)], w, w.sum() // 2 + 1, 100.0)

    def add_cost(self, h: highspy.Highs, z: list[int]) -> None:
        """y = 1 only if w(S) >= quota: quota y - sum_i w_i z_i <= 0; -c(S) = prize y."""
        y = h.getNumCol()
        h.addVar(0.0, 1.0)
        h.changeColIntegrality(y, highspy.HighsVarType.kInteger)
        h.changeColCost(y, self.prize)
        h.addRow(-highspy.kHighsInf, 1e-9, self.n + 1, z + [y],
                 [-float(w) for w in self.w] + [self.quota])

    def shapley_exact(self) -> np.ndarray:
        """Exact Shapley value for integer weights, by counting coalitions of each size
        and weight without player i (dynamic programming, pseudo-polynomial)."""
        w = np.rint(self.w).astype(int)
        if not np.allclose(w, self.w):
            raise ValueError("exact Shapley value of a weighted majority needs integer weights")
        n, total, quota = self.n, int(w.sum()), math.ceil(self.quota - 1e-9)
        phi = np.zeros(n)
        for i in range(n):
            count = np.zeros((n, total + 1), dtype=object)  # [size, weight] -> coalitions
            count[0, 0] = 1
            for j in range(n):
                if j != i:
                    count[1:, w[j]:] = count[1:, w[j]:] + count[:-1, :total + 1 - w[j]]
            for k in range(n):
                pivotal = sum(count[k, s] for s in range(max(0, quota - w[i]),
                                                         min(quota, total + 1)))
                phi[i] += float(pivotal) * math.factorial(k) * math.factorial(n - k - 1) \
                    / math.factorial(n)
        return -self.prize * phi

    def describe(self) -> str:
        return (f"formula game 'weighted_majority' (c(S) = -{self.prize:g} if the weights "
                f"reach {self.quota:g}), {self.n} players")


FORMULAS = {"airport": ("cost_musd", "a facility sized for the most demanding member: "
                                     "c(S) = max of the members' cost_musd"),
            "weighted_majority": ("weight", "c(S) = -prize_musd if the members' weights "
                                            "reach quota, else 0")}


def _player_table(path: Path, doc: dict, key: str) -> tuple[list[str], np.ndarray]:
    table = doc.get(key)
    if not isinstance(table, dict) or not table:
        raise InputError(f"{path.name}: missing table [{key}]; give one line per player, "
                         f"e.g. [{key}] then US = 120.0")
    players, values = [], []
    for name, value in table.items():
        if not PLAYER.fullmatch(name):
            raise InputError(f"{path.name} [{key}]: player '{name}' is not a name of letters, "
                             "digits, '_', '-' or '.'; rename it")
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value < 0:
            raise InputError(f"{path.name} [{key}] {name}: {value!r} is not a finite number "
                             ">= 0; give e.g. {name} = 10.0")
        players.append(name)
        values.append(float(value))
    if len(players) > MAX_FORMULA_PLAYERS:
        raise InputError(f"{path.name} [{key}]: {len(players)} players; at most "
                         f"{MAX_FORMULA_PLAYERS} are supported")
    return players, np.array(values)


def _number(path: Path, doc: dict, key: str, example: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise InputError(f"{path.name}: '{key}' is {'missing' if value is None else repr(value)}"
                         f"; give a finite number, e.g. {key} = {example}")
    return float(value)


def read_toml(path: Path) -> dict:
    """A TOML document, or an InputError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name}: not valid TOML ({str(exc).splitlines()[0]}); fix the "
                         "syntax") from None


def formula_from_toml(path: str | Path) -> FormulaGame:
    """Read a formula game: ``game = "airport"`` with ``[cost_musd]`` per player, or
    ``game = "weighted_majority"`` with ``quota``, ``prize_musd`` and ``[weight]``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; give a formula game (.toml) or a cost "
                         "table (.csv)")
    doc = read_toml(path)
    game = doc.get("game")
    if game not in FORMULAS:
        known = "; ".join(f"'{k}' ({v[1]})" for k, v in FORMULAS.items())
        raise InputError(f"{path.name}: game = {game!r} is not a known formula; use one of "
                         f"{known}")
    players, values = _player_table(path, doc, FORMULAS[game][0])
    if game == "airport":
        return AirportGame(players, values)
    quota = _number(path, doc, "quota", "51")
    prize = _number(path, doc, "prize_musd", "100.0")
    if not 0 < quota <= values.sum():
        raise InputError(f"{path.name}: quota {quota:g} must lie in (0, {values.sum():g}], "
                         "the total weight; otherwise no coalition (or every one) wins")
    return MajorityGame(players, values, quota, prize)


def load_costs(path: str | Path) -> Oracle:
    """A cost table (.csv: every coalition) or a formula game (.toml)."""
    path = Path(path)
    if path.suffix.lower() == ".toml":
        return formula_from_toml(path)
    return TableOracle(CostGame.from_csv(path))
