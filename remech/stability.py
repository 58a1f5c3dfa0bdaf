"""Coalition stand-alone costs c(S) for every coalition of allies, and core-stable splits.

Each coalition's solve is an independent task (``solve_coalition``), run through
``remech.executor`` (local processes or a Dask cluster) and cached on disk, keyed by the
instance's and design's SHA-256, the coalition and the solver options, so that a rerun or
an interrupted run does not solve a coalition twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from remech import __version__
from remech.costgame import CostGame, closest_stable
from remech.errors import InputError
from remech.oracle import Oracle, key_rows, row_key

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "remech"
#: bump when what a coalition's cost means changes (restriction rules, cost definition)
CACHE_FORMAT = 2


@dataclass(frozen=True)
class CoalitionTask:
    instance: str
    design: str
    coalition: tuple[str, ...]
    time_limit_s: float
    mip_gap: float
    cache_file: str | None
    #: overrides of the run (remech.overrides) as JSON [[key, value], ...]
    overrides: str = "[]"


@functools.lru_cache(maxsize=4)
def _load(instance: str, design: str, overrides: str = "[]"):
    from remech.design import load_design
    from remech.instance import load_instance

    items = dict(json.loads(overrides))
    return load_instance(instance, items), load_design(design, items)


def solve_coalition(task: CoalitionTask) -> dict:
    """c(S) for one coalition: the optimal objective of the design run by S alone."""
    if task.cache_file and Path(task.cache_file).is_file():
        out = json.loads(Path(task.cache_file).read_text())
        out["cached"] = True
        return out
    from remech.coalition import restrict, restrict_design
    from remech.model import build_model
    from remech.model.ledger import cost_without_tie_break
    from remech.prepare import prepare
    from remech.solving import SolverOptions, solve

    t0 = time.perf_counter()
    inst, design = _load(task.instance, task.design, task.overrides)
    data = prepare(restrict(inst, task.coalition), restrict_design(design, task.coalition))
    model = build_model(data)
    res = solve(model, SolverOptions(time_limit_s=task.time_limit_s, mip_gap=task.mip_gap,
                                     threads=1))
    cost = cost_without_tie_break(model, res.objective_musd) if res.has_solution else None
    out = {"coalition": list(task.coalition), "cost_musd": cost, "status": res.status,
           "mip_gap": res.mip_gap, "seconds": time.perf_counter() - t0, "cached": False}
    if task.cache_file and res.status == "optimal":
        path = Path(task.cache_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(out))
        tmp.replace(path)
    return out


def cache_key(inst_sha: str, design_sha: str, coalition, time_limit: float,
              mip_gap: float) -> str:
    text = json.dumps([inst_sha, design_sha, sorted(coalition), time_limit, mip_gap,
                       __version__, CACHE_FORMAT])
    return hashlib.sha256(text.encode()).hexdigest()


def coalition_task(instance: str | Path, design: str | Path, coalition: tuple[str, ...],
                   time_limit_s: float, mip_gap: float,
                   cache_dir: Path | None, overrides: str = "[]") -> CoalitionTask:
    """The solve of one coalition, with its cache file (None: no cache); ``overrides``:
    the run's overrides as JSON (the cache key uses the effective files' hashes)."""
    instance, design = str(Path(instance).resolve()), str(Path(design).resolve())
    inst, des = _load(instance, design, overrides)
    key = cache_key(inst.effective_sha256, des.effective_sha256, coalition, time_limit_s,
                    mip_gap)
    cache_file = str(cache_dir / "coalitions" / f"{key}.json") if cache_dir else None
    return CoalitionTask(instance, design, coalition, time_limit_s, mip_gap, cache_file,
                         overrides)


def check_costs(records: list[dict]) -> None:
    missing = [r for r in records if r["cost_musd"] is None]
    if missing:
        r = missing[0]
        raise InputError(f"coalition {'+'.join(r['coalition'])}: no stand-alone cost "
                         f"(status {r['status']}); every coalition needs one for the game - "
                         "relax the design's hard targets or raise --time-limit")


def coalition_game(instance: str | Path, design: str | Path, *, jobs: int | None = None,
                   scheduler: str | None = None, cache_dir: Path | None = DEFAULT_CACHE,
                   time_limit_s: float = 300.0, mip_gap: float = 1e-4,
                   on_done=None, overrides=None) -> tuple[CostGame, list[dict]]:
    """Solve every non-empty coalition of the instance's allies; return the cost game
    (MUSD) and one record per coalition (cost, status, gap, seconds, cached).
    ``on_done(k, record, total)`` is called as each coalition finishes; ``overrides``
    (remech.overrides) apply to every coalition's design and instance."""
    from remech.executor import map_tasks
    from remech.overrides import as_dict, as_overrides

    given = json.dumps(list(as_dict(as_overrides(overrides)).items()))
    inst, des = _load(str(Path(instance).resolve()), str(Path(design).resolve()), given)
    players = inst.members
    n = len(players)
    tasks = [coalition_task(instance, design,
                            tuple(p for i, p in enumerate(players) if mask >> i & 1),
                            time_limit_s, mip_gap, cache_dir, given)
             for mask in range(1, 1 << n)]
    records = map_tasks(solve_coalition, tasks, jobs=jobs, scheduler=scheduler,
                        on_done=(lambda k, r: on_done(k, r, len(tasks))) if on_done else None)
    check_costs(records)
    costs = {frozenset(r["coalition"]): r["cost_musd"] for r in records}
    return CostGame.from_costs(players, costs), records


class InstanceOracle(Oracle):
    """Coalition costs solved on demand through the instance (``solve_coalition``): in
    parallel batches (``--jobs`` processes or a Dask scheduler), cached on disk as
    ``coalition_game`` does and in memory. ``on_solve(message)`` after each solve."""

    kind = "instance"
    cheap = False

    def __init__(self, instance: str | Path, design: str | Path, *, jobs: int | None = None,
                 scheduler: str | None = None, cache_dir: Path | None = DEFAULT_CACHE,
                 time_limit_s: float = 300.0, mip_gap: float = 1e-4, on_solve=None) -> None:
        super().__init__()
        self.instance, self.design = instance, design
        inst, _ = _load(str(Path(instance).resolve()), str(Path(design).resolve()))
        self.players = list(inst.members)
        self.options = (jobs, scheduler, cache_dir, time_limit_s, mip_gap)
        self.on_solve = on_solve
        self.stored: dict[int, float] = {}
        self.records: list[dict] = []
        self.solved = 0

    def _costs(self, rows: np.ndarray) -> np.ndarray:
        from remech.executor import map_tasks

        jobs, scheduler, cache_dir, time_limit_s, mip_gap = self.options
        keys = [row_key(r) for r in rows]
        todo = {k: r for k, r in zip(keys, rows, strict=True) if k not in self.stored}
        tasks = [coalition_task(self.instance, self.design,
                                tuple(p for p, b in zip(self.players, r, strict=True) if b),
                                time_limit_s, mip_gap, cache_dir) for r in todo.values()]
        records = map_tasks(solve_coalition, tasks, jobs=jobs, scheduler=scheduler,
                            on_done=self._done if self.on_solve else None)
        check_costs(records)
        for key, record in zip(todo, records, strict=True):
            self.stored[key] = float(record["cost_musd"])
        self.records += records
        return np.array([self.stored[k] for k in keys])

    def _done(self, k: int, record: dict) -> None:
        self.solved += 1
        how = "from cache" if record.get("cached") else f"{record['seconds']:.1f} s"
        self.on_solve(f"coalition {self.solved:,}: {'+'.join(record['coalition'])} ({how})")

    def known(self) -> tuple[np.ndarray, np.ndarray]:
        rows = key_rows(self.stored, self.n)
        return rows, np.array(list(self.stored.values()))

    def describe(self) -> str:
        return (f"instance {Path(self.instance).name}: {self.n} allies, coalitions solved on "
                "demand")


def core_split(game: CostGame, reference_total: np.ndarray, own_loss: np.ndarray,
               caps: np.ndarray) -> dict:
    """Contributions whose total cost per ally (contribution + own shortfall loss) lies
    in the core (least core if empty), closest to the reference split, within the caps."""
    x, eps = closest_stable(game, reference_total, upper=caps + own_loss)
    contribution = x - own_loss
    alone = np.array([game.cost[1 << i] for i in range(game.n)])
    return {"total_cost": x, "contribution": contribution, "epsilon": eps,
            "core_empty": eps > 0, "stand_alone": alone, "saving": alone - x}


def reference_weights(run) -> dict[str, np.ndarray]:
    """The proportional rules negotiators compare with: GDP, consumption (value of each
    ally's demand at expected prices, discounted) and custom weights if the design has
    them; the same definitions as the design's burden-sharing rules."""
    from remech.design import uses_custom_weights
    from remech.model.burden_sharing import rule_weights

    d = run.data
    allies = run.instance.allies.set_index("ally").loc[d.members]
    rules = ["gdp", "consumption"] + (["custom"] if uses_custom_weights(run.design) else [])
    return {r: rule_weights(r, allies, d.demand_by_ally_t, d.probability, d.price_usd_per_kg,
                            d.discount, run.design.sharing_weights) for r in rules}


@dataclass
class GameOptions:
    """How the coalition solves of a 'core' burden-sharing rule are run."""

    jobs: int | None = None
    scheduler: str | None = None
    cache_dir: Path | None = DEFAULT_CACHE
    time_limit_s: float = 300.0
    mip_gap: float = 1e-4


def apply_core_split(run, opts: GameOptions, on_done=None) -> None:
    """Replace the contributions of a solved 'core' design by the core-stable split.

    Each ally's total cost = contribution + its own expected shortfall loss (shortfalls
    shared by demand). The split is the allocation of c(N) in the core (least core if
    empty) closest to the reference rule's split (sum of absolute deviations), with
    contributions within the budget caps.
    """
    import pandas as pd

    from remech.model.ledger import cost_without_tie_break, values

    d, m, mech = run.data, run.model, run.mechanism
    game, records = coalition_game(run.instance.folder, run.design.path, jobs=opts.jobs,
                                   scheduler=opts.scheduler, cache_dir=opts.cache_dir,
                                   time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                                   on_done=on_done,
                                   overrides={**(run.instance.overrides or {}),
                                              **run.design.overrides})
    S, T, P = len(d.scenarios), len(d.years), len(d.products)
    short = values(m.shortfall_t, (S, T, P))
    loss_stp = short * d.discount[None, :, None] * d.shortfall_penalty_usd_per_kg * 1e-3
    share_tp = np.divide(d.demand_by_ally_t, d.demand_t[None], where=d.demand_t[None] > 0,
                         out=np.zeros_like(d.demand_by_ally_t))
    own_loss = np.einsum("s,stp,atp->a", d.probability, loss_stp, share_tp)
    total = float(game.cost[game.grand])
    reference = d.sharing_share * (total - own_loss.sum()) + own_loss
    split = core_split(game, reference, own_loss, d.budget_cap_musd)
    contrib = split["contribution"]
    consumer = np.array([mech.contributions_by_ally[a]["consumer_cost_musd"] for a in d.members])
    revenue = np.array([mech.contributions_by_ally[a]["tariff_revenue_musd"] for a in d.members])
    net = contrib + consumer - revenue  # as in burden_sharing.report, the new contributions
    for i, a in enumerate(d.members):
        mech.contributions_by_ally[a]["contribution_musd"] = float(contrib[i])
        mech.contributions_by_ally[a]["share"] = float(contrib[i] / contrib.sum()) \
            if contrib.sum() else 0.0
        mech.contributions_by_ally[a]["net_cost_musd"] = float(net[i])
    solved = [r for r in records if not r.get("cached")]
    mech.burden_sharing = {
        "rule": "core", "reference": run.design.sharing_reference,
        "core_empty": bool(split["core_empty"]), "epsilon_musd": float(split["epsilon"]),
        "grand_coalition_cost_musd": total,
        "objective_minus_tie_break_musd": float(
            cost_without_tie_break(m, run.result.objective_musd)),
        "stand_alone_musd": dict(zip(d.members, split["stand_alone"].tolist(), strict=True)),
        "total_cost_musd": dict(zip(d.members, split["total_cost"].tolist(), strict=True)),
        "own_shortfall_loss_musd": dict(zip(d.members, own_loss.tolist(), strict=True)),
        "saving_musd": dict(zip(d.members, split["saving"].tolist(), strict=True)),
        "coalitions": len(records), "coalitions_solved": len(solved),
        "coalition_seconds": float(sum(r["seconds"] for r in solved)),
        "note": "contributions chosen after the solve from the coalition costs; inside the "
                "MIP they were free within the budget caps",
    }
    shares = contrib / contrib.sum() if contrib.sum() else np.zeros_like(contrib)
    mech.tables["contributions.csv"] = pd.DataFrame({
        "ally": d.members, "share": shares, "contribution_musd": contrib,
        "budget_cap_musd": d.budget_cap_musd, "consumer_cost_musd": consumer,
        "tariff_revenue_musd": revenue, "net_cost_musd": net,
        "own_shortfall_loss_musd": own_loss,
        "total_cost_musd": split["total_cost"], "stand_alone_musd": split["stand_alone"],
        "saving_musd": split["saving"]})
    outlay = mech.tables["scenario_costs.csv"]["outlay_musd"].to_numpy()
    by_scen = pd.DataFrame(np.outer(outlay, shares), columns=d.members)
    by_scen.insert(0, "scenario", d.scenarios)
    mech.tables["contributions_by_scenario.csv"] = by_scen
