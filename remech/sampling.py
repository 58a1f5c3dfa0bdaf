"""Shapley value by stratified random sampling, with a confidence interval per player.

phi_i = (1/n) sum_{k=0}^{n-1} mu_ik, where mu_ik is the mean marginal cost
c(S + i) - c(S) over the coalitions S of k other players (all C(n-1, k) equally likely).
Following Castro, Gomez, Molina and Tejada (2017), "Improving polynomial estimation of the
Shapley value by stratified random sampling with optimum allocation", Computers &
Operations Research 82, 180-188: one stratum per player i and size k, a pilot sample in
every stratum, then samples allocated by the strata's estimated standard deviations
(Neyman's optimum allocation, which minimises Var(phi_i) for a number of samples). Strata
with at most ``pilot`` coalitions (k = 0 and k = n - 1 always) are enumerated exactly.

Unlike the paper's fixed budget, sampling goes on in rounds: each round asks, per player
whose half-width is still above the tolerance, the allocation that would reach it,
(m_ik = s_ik sum_k s_ik / v*, v* = (n tol / z)^2), at most doubling the samples drawn so
far, until every half-width z sqrt(sum_k s_ik^2 / m_ik) / n is at most the tolerance or
the sample budget is spent. The interval is the normal approximation with the strata's
variances estimated from the samples (z = 1.96 for 95 %); a stratum whose pilot shows no
variance (all its draws equal) keeps the rule-of-three floor 3 R^2 / m as its variance
(see ``_Strata.var``), so that a rare large marginal cost is not taken for absent; on
weighted-majority and airport games the intervals then cover the exact value about 95 %
of the time (tests/test_lazygame.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from remech.errors import InputError
from remech.oracle import Oracle

Z95 = 1.959963984540054
#: samples per stratum in the first round (fewer if the budget cannot pay for them)
PILOT = 10
MIN_PILOT = 2


@dataclass
class ShapleyEstimate:
    estimate: np.ndarray
    half_width: np.ndarray  # of the 95 % confidence interval
    samples: int  # marginal costs drawn (each needs two coalition costs)
    stopped: str  # "tolerance met" or "sample budget reached"
    tolerance: float
    max_samples: int
    seed: int
    rounds: int
    pilot: int

    @property
    def met(self) -> bool:
        return self.stopped == "tolerance met"


class _Strata:
    """Running sums of the marginal costs per (player, stratum), shifted by the first draw;
    the strata are the coalition sizes (``width`` n) unless ``width`` says otherwise
    (``remech.owen``: one per number of other unions and of union partners)."""

    def __init__(self, n: int, width: int | None = None) -> None:
        shape = (n, width or n)
        self.count = np.zeros(shape)
        self.shift = np.full(shape, np.nan)
        self.s1 = np.zeros(shape)
        self.s2 = np.zeros(shape)
        self.exact = np.zeros(shape, dtype=bool)
        self.lo = np.full(shape, np.inf)
        self.hi = np.full(shape, -np.inf)

    def add(self, i: int, k: int, values: np.ndarray) -> None:
        if np.isnan(self.shift[i, k]):
            self.shift[i, k] = values[0]
        d = values - self.shift[i, k]
        self.count[i, k] += len(values)
        self.s1[i, k] += d.sum()
        self.s2[i, k] += (d * d).sum()
        self.lo[i, k] = min(self.lo[i, k], d.min())
        self.hi[i, k] = max(self.hi[i, k], d.max())

    def mean(self) -> np.ndarray:
        return self.shift + self.s1 / self.count

    def var(self) -> np.ndarray:
        """Sample variance per stratum; 0 for enumerated strata; for a sampled stratum
        whose draws were all equal, the rule-of-three floor 3 R_i^2 / m (a marginal cost
        that differs with probability up to 3/m could hide there; R_i the range of player
        i's marginal costs seen so far, or of every player's if i showed none)."""
        m = np.maximum(self.count, 1)
        v = np.maximum((self.s2 - self.s1 ** 2 / m) / np.maximum(self.count - 1, 1), 0.0)
        seen = self.count > 0
        low = np.where(seen, self.shift + self.lo, np.inf).min(axis=1)
        high = np.where(seen, self.shift + self.hi, -np.inf).max(axis=1)
        r = high - low
        r = np.where(r > 0, r, r.max())
        flat = v <= 1e-12 * r[:, None] ** 2
        v = np.where(flat, 3 * r[:, None] ** 2 / m, v)
        return np.where(self.exact, 0.0, v)


def _draw(rng: np.random.Generator, n: int, i: int, k: int, m: int) -> np.ndarray:
    """m random coalitions of k players other than i, as membership rows."""
    others = np.delete(np.arange(n), i)
    rows = np.zeros((m, n), dtype=bool)
    if k:
        pick = np.argpartition(rng.random((m, n - 1)), k - 1, axis=1)[:, :k]
        rows[np.arange(m)[:, None], others[pick]] = True
    return rows


def _enumerated(n: int, i: int, k: int) -> np.ndarray:
    others = [j for j in range(n) if j != i]
    combos = list(itertools.combinations(others, k))
    rows = np.zeros((len(combos), n), dtype=bool)
    for r, combo in enumerate(combos):
        rows[r, list(combo)] = True
    return rows


def _evaluate(oracle: Oracle, plan: list[tuple[int, int, np.ndarray]], strata: _Strata,
              grand_cost: float) -> int:
    """Marginal costs of every drawn S (one batch of costs for the oracle)."""
    if not plan:
        return 0
    n = oracle.n
    without = np.concatenate([rows for _, _, rows in plan])
    with_i = without.copy()
    at = 0
    for i, _, rows in plan:
        with_i[at:at + len(rows), i] = True
        at += len(rows)
    both = np.concatenate([without, with_i])
    sizes = both.sum(axis=1)
    costs = np.zeros(len(both))
    middle = (sizes > 0) & (sizes < n)
    costs[sizes == n] = grand_cost
    if middle.any():
        costs[middle] = oracle.costs(both[middle])
    marginal = costs[len(without):] - costs[:len(without)]
    at = 0
    for i, k, rows in plan:
        strata.add(i, k, marginal[at:at + len(rows)])
        at += len(rows)
    return len(without)


def _half_widths(strata: _Strata, n: int, z: float) -> np.ndarray:
    return z * np.sqrt((strata.var() / np.maximum(strata.count, 1)).sum(axis=1)) / n


def _allocate(strata: _Strata, half: np.ndarray, tol: float, n: int, z: float,
              cap: int) -> np.ndarray:
    """Extra samples per stratum: the Neyman allocation that reaches the tolerance for each
    player still above it, scaled down to at most ``cap`` in all."""
    s = np.sqrt(strata.var())
    target_var = (tol * n / z) ** 2
    want = s * s.sum(axis=1, keepdims=True) / target_var
    extra = np.where((half > tol)[:, None] & ~strata.exact,
                     np.maximum(np.ceil(want) - strata.count, 0), 0)
    if extra.sum() == 0:  # rounding: one more draw where the variance per draw is largest
        per = np.where(strata.exact, -1.0, strata.var() / np.maximum(strata.count, 1))
        for i in np.flatnonzero(half > tol):
            extra[i, int(np.argmax(per[i]))] = 1
    if extra.sum() > cap:
        extra = np.floor(extra * cap / extra.sum())
        if extra.sum() == 0:
            extra.flat[int(np.argmax(want * (half > tol)[:, None]))] = 1
    return extra.astype(int)


def _first_round(oracle: Oracle, rng, strata: _Strata, pilot: int, grand_cost: float) -> int:
    n = oracle.n
    plan = []
    for i in range(n):
        for k in range(n):
            if math.comb(n - 1, k) <= pilot:
                strata.exact[i, k] = True
                plan.append((i, k, _enumerated(n, i, k)))
            else:
                plan.append((i, k, _draw(rng, n, i, k, pilot)))
    return _evaluate(oracle, plan, strata, grand_cost)


def pilot_size(n: int, max_samples: int) -> int:
    """Samples per sampled stratum in the first round: PILOT, or what the budget allows."""
    sampled = sum(n for k in range(n) if math.comb(n - 1, k) > PILOT)
    exact = sum(n * math.comb(n - 1, k) for k in range(n) if math.comb(n - 1, k) <= PILOT)
    return pilot_for(exact, sampled, max_samples, f"the first round for {n} players")


def pilot_for(exact: int, sampled: int, max_samples: int, what: str) -> int:
    """The pilot per sampled stratum, given the samples of the enumerated strata and the
    number of sampled strata; an InputError if the budget cannot pay MIN_PILOT each."""
    if not sampled:
        return PILOT
    pilot = min(PILOT, (max_samples - exact) // sampled)
    if pilot < MIN_PILOT:
        need = exact + MIN_PILOT * sampled
        raise InputError(f"--max-samples {max_samples}: below {what} ({MIN_PILOT} per "
                         f"stratum: {need:,} samples); give at least --max-samples {need}")
    return pilot


def sample_rounds(used: int, half_widths: Callable[[], np.ndarray],
                  more: Callable[[np.ndarray, int], int], tolerance: float, max_samples: int,
                  progress: Callable[[int, float], None] | None
                  ) -> tuple[np.ndarray, str, int, int]:
    """Rounds after the first: ``more(half-widths, samples so far)`` draws and evaluates
    the next allocation and returns its samples, until every half-width is at most the
    tolerance or the budget is spent. Returns (half-widths, why it stopped, samples,
    rounds)."""
    rounds = 1
    while True:
        half = half_widths()
        if progress:
            progress(used, float(half.max()))
        if half.max() <= tolerance:
            return half, "tolerance met", used, rounds
        if used >= max_samples:
            return half, "sample budget reached", used, rounds
        used += more(half, used)
        rounds += 1


def shapley_stratified(oracle: Oracle, grand_cost: float, tolerance: float, max_samples: int,
                       seed: int = 0, z: float = Z95,
                       progress: Callable[[int, float], None] | None = None
                       ) -> ShapleyEstimate:
    """Estimate the Shapley value until every 95 % half-width <= ``tolerance`` (MUSD) or
    ``max_samples`` marginal costs are drawn. ``progress(samples, largest half-width)``."""
    n = oracle.n
    rng = np.random.default_rng(seed)
    strata = _Strata(n)
    pilot = pilot_size(n, max_samples)
    used = _first_round(oracle, rng, strata, pilot, grand_cost)

    def more(half: np.ndarray, used: int) -> int:
        extra = _allocate(strata, half, tolerance, n, z, min(max(used, n * n),
                                                             max_samples - used))
        plan = [(i, k, _draw(rng, n, i, k, int(extra[i, k])))
                for i, k in zip(*np.nonzero(extra), strict=True)]
        return _evaluate(oracle, plan, strata, grand_cost)

    half, stopped, used, rounds = sample_rounds(
        used, lambda: _half_widths(strata, n, z), more, tolerance, max_samples, progress)
    estimate = strata.mean().sum(axis=1) / n
    return ShapleyEstimate(estimate, half, used, stopped, tolerance, max_samples, seed,
                           rounds, pilot)
