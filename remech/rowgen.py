"""Least core and (pre)nucleolus by coalition (row) generation, for games too large to
list.

The LPs are those of ``remech.costgame`` (Maschler, Peleg and Shapley 1979), written only on
the coalitions seen so far: solve, look for the coalition with the largest excess
e(S, x) = x(S) - c(S) at the LP's allocation x, add it if it exceeds the LP's epsilon,
repeat. The LP on fewer rows is a relaxation, so its epsilon is a *lower bound* of the
true one whatever the search; it equals the true one when the search is exact:

- ``enumeration``: every coalition of a cheap oracle (n <= 16 for formulas, any table);
- ``mip``: a MIP over membership z in {0,1}^n, max x.z - c(z), for formula games whose
  cost is linear-representable; proved by HiGHS's dual bound. Coalitions already fixed, or
  of constant excess, are excluded without one cut each: all of them are unions of the
  *blocks* of players that the fixed coalitions keep together, so one MIP searches the
  coalitions that split a block, and a second (only while the fixed coalitions do not yet
  span every union of blocks) the unions of blocks, with a no-good cut per exclusion;
- ``search``: a stated heuristic for costs that need a solve each (the instance): the
  coalitions already solved; the n - 2 coalitions of the players who pay most above
  their stand-alone cost (x_i - c({i}) largest first, 2 to n - 1 of them); then a
  steepest-ascent local search (add or drop one member) from the largest excesses,
  within a budget of solves (2n by default). It proves nothing beyond the lower bound.

Each stage of the nucleolus fixes the coalitions with a non-zero dual (tight in every
optimum of the full LP, since the restricted LP's dual is also optimal for it), and the
players whose imputation bound has a non-zero reduced cost; coalitions whose membership
vector lies in the span of the fixed ones have a constant excess and are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np

from remech.highs import new_highs
from remech.oracle import CHUNK_BITS, FormulaGame, Oracle, row_key

TOL = 1e-7
#: LP rounds per stage before giving up (reported as not converged)
MAX_ROUNDS = 400
#: seconds for one separation MIP
MIP_SECONDS = 60.0


@dataclass
class Separation:
    """Coalitions with the largest excesses found (largest first) and what is proved."""

    rows: np.ndarray
    costs: np.ndarray
    excess: np.ndarray
    exact: bool  # the largest excess over all eligible coalitions is known
    bound: float | None = None  # proved upper bound of that largest excess
    count: int | None = None  # coalitions above the threshold (enumeration only)

    @classmethod
    def empty(cls, n: int, exact: bool, bound: float | None = None) -> Separation:
        return cls(np.zeros((0, n), dtype=bool), np.zeros(0), np.zeros(0), exact, bound, 0)


@dataclass
class Exclusions:
    """Coalitions the search must skip (fixed, or of constant excess), by key and row."""

    keys: set[int] = field(default_factory=set)
    rows: list[np.ndarray] = field(default_factory=list)

    def add(self, row: np.ndarray) -> None:
        key = row_key(row)
        if key not in self.keys:
            self.keys.add(key)
            self.rows.append(row.copy())


def _subset_sums(v: np.ndarray) -> np.ndarray:
    out = np.zeros(1)
    for value in v:
        out = np.concatenate([out, out + value])
    return out


def _top(rows, costs, excess, top: int) -> tuple:
    if len(excess) > top:
        keep = np.argpartition(-excess, top - 1)[:top]
        rows, costs, excess = rows[keep], costs[keep], excess[keep]
    order = np.argsort(-excess, kind="stable")
    return rows[order], costs[order], excess[order]


def enumerate_separation(oracle: Oracle, x: np.ndarray, threshold: float,
                         exclude: Exclusions, top: int) -> Separation:
    """Every proper coalition, a chunk of masks at a time (n <= 25)."""
    n = oracle.n
    b = min(n, CHUNK_BITS)
    low, high = _subset_sums(x[:b]), _subset_sums(x[b:])
    best_rows, best_costs, best_excess = [], [], []
    count, bound = 0, -np.inf
    for masks, costs in oracle.chunks():
        excess = low[masks & ((1 << b) - 1)] + high[masks >> b] - costs
        for key in exclude.keys:
            if masks[0] <= key <= masks[-1]:
                excess[key - masks[0]] = -np.inf
        count += int(np.count_nonzero(excess > threshold))
        bound = max(bound, float(excess.max()))
        keep = np.argpartition(-excess, min(top, len(excess)) - 1)[:top]
        best_rows.append(masks[keep])
        best_costs.append(costs[keep])
        best_excess.append(excess[keep])
    masks, costs, excess = (np.concatenate(a) for a in (best_rows, best_costs, best_excess))
    finite = np.isfinite(excess)
    rows = ((masks[finite][:, None] >> np.arange(n)) & 1).astype(bool)
    rows, costs, excess = _top(rows, costs[finite], excess[finite], top)
    return Separation(rows, costs, excess, True, bound, count)


def atoms(span: Span | None, n: int) -> list[np.ndarray]:
    """The blocks of players that every fixed coalition (and pinned player) keeps together:
    every coalition in the span is a union of them."""
    if span is None:
        return [np.arange(n)]
    signature = np.array(span.vectors) > 0.5
    groups: dict[bytes, list[int]] = {}
    for i in range(n):
        groups.setdefault(signature[:, i].tobytes(), []).append(i)
    return [np.array(g) for g in groups.values()]


def _mip(formula: FormulaGame, x: np.ndarray, exclude: Exclusions, blocks: list[np.ndarray],
         unions: bool):
    """max x.z - c(z) over proper non-empty coalitions that split one of the ``blocks`` (no
    fixed coalition or coalition of constant excess does), or, with ``unions``, over the
    unions of blocks outside the exclusions (no-good cuts)."""
    n = formula.n
    big = [b for b in blocks if len(b) > 1]
    if not unions and not big:
        return None, -np.inf, True
    h = new_highs()
    for name, value in (("output_flag", False), ("mip_rel_gap", 0.0), ("presolve", "off"),
                        ("mip_abs_gap", 1e-9), ("time_limit", MIP_SECONDS)):
        h.setOptionValue(name, value)
    inf = highspy.kHighsInf
    h.addVars(n, [0.0] * n, [1.0] * n)
    z = list(range(n))
    for i in z:
        h.changeColIntegrality(i, highspy.HighsVarType.kInteger)
        h.changeColCost(i, float(x[i]))
    h.addRow(1.0, n - 1.0, n, z, [1.0] * n)
    if unions:
        for b in big:
            for j in b[1:]:
                h.addRow(0.0, 0.0, 2, [int(b[0]), int(j)], [1.0, -1.0])
        for row in exclude.rows:  # no-good: at least one membership differs from row
            h.addRow(1.0 - float(row.sum()), inf, n, z, [-1.0 if v else 1.0 for v in row])
    else:  # split_b = 1 only if 1 <= z(b) <= |b| - 1; at least one block split
        first = h.getNumCol()
        h.addVars(len(big), [0.0] * len(big), [1.0] * len(big))
        for k, b in enumerate(big):
            h.changeColIntegrality(first + k, highspy.HighsVarType.kInteger)
            idx = [int(i) for i in b] + [first + k]
            h.addRow(0.0, inf, len(idx), idx, [1.0] * len(b) + [-1.0])
            h.addRow(-inf, float(len(b)), len(idx), idx, [1.0] * len(b) + [1.0])
        h.addRow(1.0, inf, len(big), list(range(first, first + len(big))), [1.0] * len(big))
    formula.add_cost(h, z)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.run()
    status = h.getModelStatus()
    if status in (highspy.HighsModelStatus.kNotset, highspy.HighsModelStatus.kModelError,
                  highspy.HighsModelStatus.kSolveError):
        raise RuntimeError(f"separation MIP: {h.modelStatusToString(status)}")
    info = h.getInfo()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None, -np.inf, True
    if info.primal_solution_status == 0:
        return None, float(info.mip_dual_bound), False
    row = np.array(h.getSolution().col_value[:n]) > 0.5
    return row, float(info.mip_dual_bound), status == highspy.HighsModelStatus.kOptimal


def mip_separation(formula: FormulaGame, x: np.ndarray, threshold: float,
                   exclude: Exclusions, top: int, span: Span | None = None) -> Separation:
    """MIPs over membership: coalitions that split a block of the fixed ones, and (when the
    fixed ones do not span every union of blocks) unions of blocks with no-good cuts.
    Exact when HiGHS proves both bounds. A violated coalition found comes back with the
    violated coalitions of a local search from it (cheap)."""
    n = formula.n
    blocks = atoms(span, n)
    found = [_mip(formula, x, exclude, blocks, unions=False)]
    if span is not None and span.rank < len(blocks):
        found.append(_mip(formula, x, exclude, blocks, unions=True))
    proved = all(p for _, _, p in found)
    bound = max(b for _, b, _ in found)
    rows = [r for r, _, _ in found if r is not None]
    if not rows:
        return Separation.empty(n, proved, bound)
    rows = np.array(rows)
    costs = formula.costs(rows)
    excess = rows.astype(float) @ x - costs
    best = int(np.argmax(excess))
    if excess[best] > threshold:
        more, more_costs, _ = local_search(formula, x, rows[best][None], threshold, exclude,
                                           2 * n)
        rows, costs = np.concatenate([rows, more]), np.concatenate([costs, more_costs])
        excess = rows.astype(float) @ x - costs
    return Separation(*_top(rows, costs, excess, top), exact=proved, bound=bound)


def local_search(oracle: Oracle, x: np.ndarray, starts: np.ndarray, threshold: float,
                 exclude: Exclusions, budget: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Steepest ascent of the excess by adding or dropping one member, from each start
    (largest excess first), within ``budget`` coalition evaluations. Returns every
    coalition evaluated with an excess above ``threshold`` (rows, costs) and the
    evaluations used."""
    n = oracle.n
    seen: dict[int, float] = {}
    hits_rows, hits_costs, used = [], [], 0
    for start in starts:
        current = start.copy()
        current_excess = -np.inf
        while used < budget:
            flips = np.repeat(current[None], n, axis=0)
            flips[np.arange(n), np.arange(n)] ^= True
            sizes = flips.sum(axis=1)
            keys = [row_key(r) for r in flips]
            ok = (sizes > 0) & (sizes < n) & np.array([k not in exclude.keys and k not in seen
                                                       for k in keys])
            if not ok.any():
                break
            cand = flips[ok][: max(1, budget - used)]
            costs = oracle.costs(cand)
            used += len(cand)
            excess = cand.astype(float) @ x - costs
            for row, c, e in zip(cand, costs, excess, strict=True):
                seen[row_key(row)] = e
                if e > threshold:
                    hits_rows.append(row)
                    hits_costs.append(c)
            k = int(np.argmax(excess))
            if excess[k] <= current_excess + TOL:
                break
            current, current_excess = cand[k], float(excess[k])
        if used >= budget:
            break
    if not hits_rows:
        return np.zeros((0, n), dtype=bool), np.zeros(0), used
    return np.array(hits_rows), np.array(hits_costs), used


class Separator:
    """Finds the coalitions of largest excess by the method the oracle allows (see the
    module docstring). ``method``: enumeration, mip or search."""

    def __init__(self, oracle: Oracle, method: str, budget: int | None = None,
                 top: int | None = None) -> None:
        self.oracle, self.method = oracle, method
        self.budget = budget if budget is not None else 2 * oracle.n
        self.top = top or max(5, oracle.n)
        self.searched = 0  # coalitions evaluated by the local searches

    @property
    def exact(self) -> bool:
        return self.method in ("enumeration", "mip")

    def find(self, x: np.ndarray, threshold: float, exclude: Exclusions,
             starts: np.ndarray, top: int | None = None,
             span: Span | None = None) -> Separation:
        top = top or self.top
        if self.method == "enumeration":
            return enumerate_separation(self.oracle, x, threshold, exclude, top)
        if self.method == "mip":
            # cheap first: a local search from the LP's rows; the MIP proves the rest
            budget = 4 * self.oracle.n
            rows, costs, used = local_search(self.oracle, x, starts[:3], threshold, exclude,
                                             budget)
            self.searched += used
            if len(rows):
                excess = rows.astype(float) @ x - costs
                return Separation(*_top(rows, costs, excess, top), exact=False)
            return mip_separation(self.oracle, x, threshold, exclude, top, span)
        return self._search(x, threshold, exclude, starts, top)

    def _search(self, x, threshold, exclude, starts, top) -> Separation:
        n = self.oracle.n
        rows, costs = self.oracle.known()
        proper = (rows.sum(axis=1) > 0) & (rows.sum(axis=1) < n)
        rows, costs = rows[proper], costs[proper]
        keep = np.array([row_key(r) not in exclude.keys for r in rows], dtype=bool)
        rows, costs = rows[keep], costs[keep]
        excess = rows.astype(float) @ x - costs
        exhaustive = n <= 25 and len(rows) + len(exclude.keys) >= (1 << n) - 2
        if exhaustive:
            return Separation(*_top(rows, costs, excess, top), exact=True,
                              bound=float(excess.max()) if len(excess) else -np.inf,
                              count=int(np.count_nonzero(excess > threshold)))
        prefixes, prefix_costs, used = self._prefixes(x, rows, exclude)
        rows, costs = np.concatenate([rows, prefixes]), np.concatenate([costs, prefix_costs])
        excess = rows.astype(float) @ x - costs
        new_rows, new_costs, climbed = local_search(self.oracle, x,
                                                    _diverse_starts(rows, excess, starts, n),
                                                    threshold, exclude, self.budget)
        self.searched += used + climbed
        rows, costs = np.concatenate([rows, new_rows]), np.concatenate([costs, new_costs])
        _, first = np.unique([row_key(r) for r in rows], return_index=True)
        rows, costs = rows[first], costs[first]
        excess = rows.astype(float) @ x - costs
        return Separation(*_top(rows, costs, excess, top), exact=False)


    def _prefixes(self, x: np.ndarray, known: np.ndarray, exclude: Exclusions):
        """The n - 2 coalitions of the players who pay most above their stand-alone cost,
        x_i - c({i}) largest first, of 2 to n - 1 members (one batch of costs)."""
        n = self.oracle.n
        alone = self.oracle.costs(np.eye(n, dtype=bool))
        order = np.argsort(-(x - alone), kind="stable")
        rows = np.zeros((max(n - 2, 0), n), dtype=bool)
        for k in range(2, n):
            rows[k - 2, order[:k]] = True
        have = {row_key(r) for r in known} | exclude.keys
        rows = rows[[row_key(r) not in have for r in rows]]
        if not len(rows):
            return rows, np.zeros(0), 0
        return rows, self.oracle.costs(rows), len(rows)


def _diverse_starts(rows: np.ndarray, excess: np.ndarray, starts: np.ndarray,
                    n: int) -> np.ndarray:
    """Starting points of the local search: the 3 largest excesses among the known
    coalitions, the 3 first given starts, and the largest excess among the known
    coalitions of one player and of n - 1 (the LP's tight rows alone tend to lead back to
    the same local maximum)."""
    order = np.argsort(-excess, kind="stable")
    size = rows.sum(axis=1)
    picks = [rows[order[:3]], starts[:3]]
    for k in (1, n - 1):
        of_size = order[size[order] == k]
        picks.append(rows[of_size[:1]])
    begin = np.concatenate([p.reshape(-1, n) for p in picks])
    _, first = np.unique([row_key(r) for r in begin], return_index=True)
    return begin[np.sort(first)]


class ExcessLP:
    """min eps s.t. x(S) - eps <= c(S) (active S), x(S) = c(S) + e_S (fixed S),
    x(N) = c(N), x <= upper; rows added as they are found (HiGHS warm-starts)."""

    def __init__(self, n: int, grand_cost: float, upper: np.ndarray | None,
                 fixed: list[tuple[np.ndarray, float]], pinned: np.ndarray | None = None):
        self.n = n
        h = self.h = new_highs()
        h.setOptionValue("output_flag", False)
        inf = highspy.kHighsInf
        ub = [inf] * n if upper is None else [float(u) for u in upper]
        lb = [-inf] * n
        if pinned is not None:
            lb = [ub[i] if pinned[i] else -inf for i in range(n)]
        h.addVars(n + 1, lb + [-inf], ub + [inf])
        h.changeColCost(n, 1.0)
        h.addRow(grand_cost, grand_cost, n, list(range(n)), [1.0] * n)
        for row, value in fixed:
            idx = list(np.flatnonzero(row))
            h.addRow(value, value, len(idx), idx, [1.0] * len(idx))
        self.offset = 1 + len(fixed)
        self.rows: list[np.ndarray] = []
        self.costs: list[float] = []
        self.keys: set[int] = set()

    def add(self, rows: np.ndarray, costs: np.ndarray) -> int:
        added = 0
        for row, c in zip(rows, costs, strict=True):
            key = row_key(row)
            if key in self.keys:
                continue
            idx = [int(i) for i in np.flatnonzero(row)] + [self.n]
            self.h.addRow(-highspy.kHighsInf, float(c), len(idx), idx,
                          [1.0] * (len(idx) - 1) + [-1.0])
            self.rows.append(row.copy())
            self.costs.append(float(c))
            self.keys.add(key)
            added += 1
        return added

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(eps, x, duals of the active rows, reduced costs of x)."""
        h = self.h
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"excess LP: {h.modelStatusToString(h.getModelStatus())}")
        sol = h.getSolution()
        col = np.array(sol.col_value)
        duals = np.array(sol.row_dual[self.offset:])
        return float(col[self.n]), col[:self.n], duals, np.array(sol.col_dual[:self.n])


class Span:
    """The linear span of the fixed coalitions, N and the pinned players."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.vectors: list[np.ndarray] = [np.ones(n)]
        self.q = np.ones((n, 1)) / np.sqrt(n)

    def add(self, v: np.ndarray) -> None:
        self.vectors.append(np.asarray(v, dtype=float))
        u, sv, _ = np.linalg.svd(np.array(self.vectors).T, full_matrices=False)
        self.q = u[:, sv > 1e-9 * sv[0]]

    @property
    def rank(self) -> int:
        return self.q.shape[1]

    def contains(self, rows: np.ndarray) -> np.ndarray:
        v = rows.astype(float)
        residual = v - (v @ self.q) @ self.q.T
        return np.linalg.norm(residual, axis=1) <= 1e-7


@dataclass
class StageResult:
    epsilon: float
    proved: bool
    rounds: int
    largest_found: float  # largest excess found at x (= epsilon when proved)
    bound: float | None  # proved upper bound of the largest excess (exact search)


def _starts(lp: ExcessLP, x: np.ndarray) -> np.ndarray:
    if not lp.rows:
        return np.zeros((0, lp.n), dtype=bool)
    rows = np.array(lp.rows)
    excess = rows.astype(float) @ x - np.array(lp.costs)
    return rows[np.argsort(-excess, kind="stable")]


def minimise_max_excess(lp: ExcessLP, sep: Separator, exclude: Exclusions, span: Span | None,
                        tol: float) -> tuple[StageResult, np.ndarray, np.ndarray, np.ndarray]:
    """Row generation for one LP: add the most violated coalitions until none is found.
    Coalitions in ``span`` (constant excess) join the exclusions instead of the LP."""
    rounds, eps = 0, -np.inf
    while True:
        eps, x, duals, reduced = lp.solve()
        rounds += 1
        while True:
            s = sep.find(x, eps + tol, exclude, _starts(lp, x), span=span)
            viol = s.excess > eps + tol
            rows, costs = s.rows[viol], s.costs[viol]
            fresh = np.array([row_key(r) not in lp.keys for r in rows], dtype=bool)
            rows, costs = rows[fresh] if len(rows) else rows, costs[fresh] if len(rows) else costs
            if span is not None and len(rows):
                inside = span.contains(rows)
                for row in rows[inside]:
                    exclude.add(row)
                rows, costs = rows[~inside], costs[~inside]
                if not len(rows) and inside.any():
                    continue  # re-search without the constant-excess coalitions
            break
        if not len(rows) or rounds >= MAX_ROUNDS:
            largest = float(s.excess[0]) if len(s.excess) else eps
            converged = not len(rows)
            return (StageResult(eps, s.exact and converged, rounds, max(largest, eps),
                                s.bound if s.exact else None), x, duals, reduced)
        lp.add(rows, costs)


@dataclass
class Lexicographic:
    """Result of the sequence of row-generation LPs."""

    x: np.ndarray
    stages: list[StageResult]
    lp_rows: list[tuple[np.ndarray, float]]  # every coalition that entered an LP
    converged: bool

    @property
    def proved(self) -> bool:
        return self.converged and all(s.proved for s in self.stages)


def initial_rows(oracle: Oracle) -> tuple[np.ndarray, np.ndarray]:
    """Singletons and their complements (2n coalitions; they bound the first LP)."""
    n = oracle.n
    eye = np.eye(n, dtype=bool)
    rows = eye if n <= 2 else np.concatenate([eye, ~eye])
    return rows, oracle.costs(rows)


def least_core(oracle: Oracle, sep: Separator, grand_cost: float,
               init: tuple[np.ndarray, np.ndarray]) -> tuple[StageResult, np.ndarray, list]:
    """epsilon of the least core (a lower bound unless proved) and an allocation."""
    lp = ExcessLP(oracle.n, grand_cost, None, [])
    lp.add(*init)
    tol = TOL * max(1.0, abs(grand_cost))
    stage, x, _, _ = minimise_max_excess(lp, sep, Exclusions(), None, tol)
    return stage, x, list(zip(lp.rows, lp.costs, strict=True))


def lexicographic(oracle: Oracle, sep: Separator, grand_cost: float,
                  init: tuple[np.ndarray, np.ndarray],
                  upper: np.ndarray | None) -> Lexicographic:
    """Prenucleolus (upper None) or nucleolus (upper = stand-alone costs): minimise the
    excesses lexicographically, each stage by row generation."""
    n = oracle.n
    tol = TOL * max(1.0, abs(grand_cost))
    fixed: list[tuple[np.ndarray, float]] = []
    pinned = np.zeros(n, dtype=bool)
    exclude, span = Exclusions(), Span(n)
    active_rows, active_costs = list(init[0]), list(init[1])
    stages: list[StageResult] = []
    seen: dict[int, tuple[np.ndarray, float]] = {}
    x = np.full(n, grand_cost / n)
    for _ in range(4 * n + 4):
        if span.rank >= n:
            break
        lp = ExcessLP(n, grand_cost, upper, fixed, pinned)
        lp.add(np.array(active_rows, dtype=bool).reshape(-1, n), np.array(active_costs))
        stage, x, duals, reduced = minimise_max_excess(lp, sep, exclude, span, tol)
        stages.append(stage)
        for row, c in zip(lp.rows, lp.costs, strict=True):
            seen[row_key(row)] = (row, c)
        tight = np.abs(duals) > TOL
        before = span.rank
        for row, c in zip(np.array(lp.rows)[tight], np.array(lp.costs)[tight], strict=True):
            exclude.add(row)
            if not span.contains(row[None])[0]:  # dependent rows would only add noise
                fixed.append((row, c + stage.epsilon))
                span.add(row)
        if upper is not None:
            for i in np.flatnonzero((np.abs(reduced) > TOL) & ~pinned):
                if not span.contains(np.eye(n, dtype=bool)[i][None])[0]:
                    pinned[i] = True
                    span.add(np.eye(n)[i])
        # rows of constant excess leave the LP; they join the exclusions (no-good cuts of
        # the MIP) only if a search returns them
        rest = [(r, c) for r, c in zip(lp.rows, lp.costs, strict=True)
                if row_key(r) not in exclude.keys]
        inside = span.contains(np.array([r for r, _ in rest]).reshape(-1, n))
        active_rows = [r for (r, _), s in zip(rest, inside, strict=True) if not s]
        active_costs = [c for (_, c), s in zip(rest, inside, strict=True) if not s]
        if span.rank == before and not tight.any():
            break  # nothing fixed: x cannot be pinned down further
    return Lexicographic(x, stages, list(seen.values()), span.rank >= n)
