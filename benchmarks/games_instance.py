"""One process of the instance-based game benchmark (run by ``benchmarks/games.py
--instance``): coalitions of an instance solved on demand, within a deadline, with a JSON
line on stdout after every step so that what was reached is known when time runs out.

    python benchmarks/games_instance.py FOLDER --phase shapley-lc --seconds 1680 --cache DIR
    python benchmarks/games_instance.py FOLDER --phase owen --unions FILE --seconds 1200 ...

shapley-lc: c(N), the 2n singletons and complements, then random orders of the allies
(each gives every ally one marginal cost: n - 1 coalition solves) for half the time, then
the least core by row generation (remech.rowgen, the "search" separation with a budget of
n solves per search) until the deadline; each LP's epsilon is a proved lower bound.
owen: the quotient game among the unions, enumerated (remech.owen.quotient_game: exact
union totals and the exact values of the allies alone), then random orders consistent with
the unions for the members' split. Plain random orders (not the stratified sampler of
remech game, whose first round alone needs more solves than the deadline allows) estimate
each ally's marginal-cost variance; the projection to a 1 % half-width follows from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remech import rowgen  # noqa: E402
from remech.costgame import shapley  # noqa: E402
from remech.owen import parse_unions, quotient_game  # noqa: E402
from remech.stability import InstanceOracle  # noqa: E402

Z = 1.959963984540054
T0 = time.perf_counter()


class Deadline(Exception):
    pass


def emit(**record) -> None:
    record["elapsed_s"] = round(time.perf_counter() - T0, 1)
    print(json.dumps(record), flush=True)


class Timed(InstanceOracle):
    """Refuses a batch of solves after the deadline."""

    deadline = float("inf")

    def _costs(self, rows):
        if time.perf_counter() > self.deadline:
            raise Deadline
        return super()._costs(rows)


def orders_costs(oracle, orders: list[np.ndarray], grand: float) -> np.ndarray:
    """Marginal cost of each player in each order: [orders, n]."""
    n = oracle.n
    rows = np.zeros((len(orders), n - 1, n), dtype=bool)
    for k, order in enumerate(orders):
        for j in range(n - 1):
            rows[k, j, order[:j + 1]] = True
    costs = oracle.costs(rows.reshape(-1, n)).reshape(len(orders), n - 1)
    full = np.concatenate([np.zeros((len(orders), 1)), costs,
                           np.full((len(orders), 1), grand)], axis=1)
    out = np.zeros((len(orders), n))
    for k, order in enumerate(orders):
        out[k, order] = np.diff(full[k])
    return out


def sample(oracle, draw, grand: float, until: float, phase: str, players: np.ndarray,
           batch: int, fixed: np.ndarray | None = None) -> np.ndarray:
    """Random orders until ``until``; emits the half-widths of ``players`` after each batch."""
    rng = np.random.default_rng(7)
    draws = []
    tol = 0.01 * abs(grand)
    while time.perf_counter() < until:
        try:
            draws.append(orders_costs(oracle, [draw(rng) for _ in range(batch)], grand))
        except Deadline:
            break
        d = np.concatenate(draws)
        m = len(d)
        if m < 2:
            continue
        sd = d[:, players].std(axis=0, ddof=1)
        half = Z * sd / np.sqrt(m)
        per_solve = oracle.wall / max(oracle.solved_count, 1)
        need = float((Z * sd.max() / tol) ** 2)
        emit(phase=phase, orders=m, solves=oracle.solved_count, wall_per_solve_s=per_solve,
             largest_half_width=float(half.max()), tolerance=tol,
             mean_half_width=float(half.mean()), orders_for_tolerance=need,
             projected_hours=need * (oracle.n - 1) * per_solve / 3600,
             estimate=dict(zip(np.array(oracle.players)[players].tolist(),
                               d[:, players].mean(axis=0).round(2).tolist(), strict=True)))
    return np.concatenate(draws) if draws else np.zeros((0, oracle.n))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("instance")
    ap.add_argument("--design", default=str(ROOT / "models" / "floor-stockpile-grants.toml"))
    ap.add_argument("--phase", choices=["shapley-lc", "owen"], required=True)
    ap.add_argument("--unions")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    oracle = Timed(args.instance, args.design, jobs=args.jobs, cache_dir=Path(args.cache))
    oracle.deadline = T0 + args.seconds
    oracle.solved_count, oracle.wall = 0, 0.0
    inner = oracle._costs

    def counted(rows):
        t = time.perf_counter()
        before = len(oracle.stored)
        out = inner(rows)
        oracle.solved_count += len(oracle.stored) - before
        oracle.wall += time.perf_counter() - t
        return out

    oracle._costs = counted
    n = oracle.n
    grand = oracle.cost(oracle.grand())
    emit(phase="start", players=n, grand_cost=grand)
    if args.phase == "shapley-lc":
        try:
            init = rowgen.initial_rows(oracle)
        except Deadline:
            emit(phase="initial rows stopped at the deadline", solves=oracle.solved_count)
            return
        emit(phase="initial rows", solves=oracle.solved_count)
        half_time = T0 + args.seconds / 2
        sample(oracle, lambda rng: rng.permutation(n), grand, half_time, "shapley",
               np.arange(n), batch=2)
        solve = rowgen.ExcessLP.solve

        def logged(self):
            out = solve(self)
            emit(phase="least core", lp_rows=len(self.rows), epsilon_lower_bound=out[0],
                 solves=oracle.solved_count)
            return out

        rowgen.ExcessLP.solve = logged
        try:
            sep = rowgen.Separator(oracle, "search", budget=n)
            stage, x, _ = rowgen.least_core(oracle, sep, grand, init)
            emit(phase="least core done", epsilon=stage.epsilon, proved=stage.proved,
                 largest_excess_found=stage.largest_found, rounds=stage.rounds,
                 solves=oracle.solved_count)
        except Deadline:
            emit(phase="least core stopped at the deadline", solves=oracle.solved_count)
    else:
        unions = parse_unions([args.unions], oracle.players)
        try:
            quotient = quotient_game(oracle, unions, grand)
        except Deadline:
            emit(phase="quotient game stopped at the deadline", solves=oracle.solved_count)
            return
        totals = shapley(quotient)
        emit(phase="quotient game", unions=unions.u, solves=oracle.solved_count,
             union_totals=dict(zip(unions.names, totals.round(3).tolist(), strict=True)))
        big = [b for b in unions.blocks if len(b) > 1]

        def draw(rng):
            order = rng.permutation(unions.u)
            return np.concatenate([rng.permutation(unions.blocks[k]) for k in order])

        sample(oracle, draw, grand, T0 + args.seconds, "owen members",
               np.concatenate(big), batch=2)


if __name__ == "__main__":
    main()
