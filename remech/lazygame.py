"""Cost games with dozens of players, analysed without their 2^n table.

``analyse_lazy`` asks a cost oracle (``remech.oracle``, ``remech.stability``) only for the
coalitions it needs: the stand-alone costs, c(N), the complements of the singletons, the
coalitions drawn by the stratified Shapley sampler (``remech.sampling``) and those found
by the row generation of the least core and (pre)nucleolus (``remech.rowgen``). Every
result says what was proved (exact search: enumeration or a MIP that HiGHS solved to
optimality) and what was only searched (a heuristic over solved coalitions).

Which games are enumerated instead (the exact analysis of ``remech.costgame``): up to
``ENUMERATE[kind]`` players, unless ``--lazy`` asks otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from remech.costgame import MAX_EXACT_SHAPLEY, TOL, allocation_table, analyse, game_text, shapley
from remech.errors import InputError
from remech.oracle import Oracle
from remech.rowgen import (
    Exclusions,
    Separator,
    StageResult,
    initial_rows,
    least_core,
    lexicographic,
)
from remech.sampling import shapley_stratified

#: players up to which a game is enumerated by default: 2^n - 1 solves of an instance,
#: a formula tabulated, a table as given
ENUMERATE = {"instance": 10, "formula": 16, "table": 20}
#: formula games up to this size are searched by enumeration, larger ones by a MIP
ENUMERATE_SEPARATION = 16
DEFAULT_MAX_SAMPLES = {"instance": 2_000, "formula": 1_000_000, "table": 1_000_000}
#: with an instance, at least this many draws per (player, size) stratum by default
DEFAULT_INSTANCE_DRAWS = 4
#: default --tolerance: this share of |c(N)|
DEFAULT_TOLERANCE_SHARE = 0.01
#: blocking tolerance, relative to c(N) (as remech.costgame.blocking)
BLOCK_TOL = 1e-6


@dataclass
class LazyOptions:
    tolerance: float | None = None  # MUSD; None: DEFAULT_TOLERANCE_SHARE of |c(N)|
    max_samples: int | None = None  # None: DEFAULT_MAX_SAMPLES[kind]
    seed: int = 0
    search_budget: int | None = None  # instance: solves per separation (None: 2n)


def lazy_wanted(oracle: Oracle, forced: bool) -> bool:
    return forced or oracle.n > ENUMERATE.get(oracle.kind, 0)


def separation_method(oracle: Oracle) -> str:
    if oracle.kind == "table" or (oracle.cheap and oracle.n <= ENUMERATE_SEPARATION):
        return "enumeration"
    return "mip" if oracle.kind == "formula" else "search"


def _named(players: list[str], values) -> dict:
    return dict(zip(players, np.asarray(values, dtype=float).tolist(), strict=True))


def _shapley(oracle: Oracle, grand: float, opts: LazyOptions,
             say: Callable[[str], None]) -> tuple[np.ndarray, dict]:
    if oracle.cheap and oracle.n <= MAX_EXACT_SHAPLEY:
        return shapley(oracle.tabulate()), {"method": "exact (enumerated)"}
    tol = opts.tolerance if opts.tolerance is not None else \
        DEFAULT_TOLERANCE_SHARE * max(abs(grand), 1e-9)
    budget = opts.max_samples or max(DEFAULT_MAX_SAMPLES[oracle.kind],
                                     DEFAULT_INSTANCE_DRAWS * oracle.n ** 2
                                     if oracle.kind == "instance" else 0)
    est = shapley_stratified(oracle, grand, tol, budget, opts.seed,
                             progress=lambda k, h: say(f"Shapley: {k:,} samples, largest "
                                                       f"95 % half-width {h:,.4g} MUSD"))
    players = oracle.players
    return est.estimate, {
        "method": "stratified sampling by coalition size (Castro et al. 2017)",
        "estimate": _named(players, est.estimate),
        "ci95_half_width": _named(players, est.half_width),
        "largest_half_width": float(est.half_width.max()), "tolerance_musd": tol,
        "samples": est.samples, "max_samples": budget, "stopped": est.stopped,
        "rounds": est.rounds, "pilot_per_stratum": est.pilot, "seed": opts.seed,
        "sum_minus_grand_cost": float(est.estimate.sum() - grand)}


def _proof(stage: StageResult, method: str, searched: int) -> dict:
    if stage.proved:
        how = {"enumeration": "every coalition enumerated",
               "mip": "MIP over membership solved to optimality by HiGHS",
               "search": "every coalition already solved"}[method]
        return {"proved": True, "how": how}
    return {"proved": False,
            "how": f"searched ({method}): the LP's epsilon is a proved lower bound; the "
                   f"largest excess found at its allocation is {stage.largest_found:,.6g} "
                   f"after {searched:,} coalition costs searched; not proved"}


def _stability(oracle: Oracle, sep: Separator, x: np.ndarray, starts: np.ndarray,
               grand: float) -> dict:
    thr = BLOCK_TOL * max(1.0, abs(grand))
    order = np.argsort(-(starts.astype(float) @ x), kind="stable") if len(starts) else []
    s = sep.find(x, thr, Exclusions(), starts[order] if len(starts) else starts, top=5)
    bad = s.excess > thr
    blocking = [{"coalition": oracle.label(r), "excess": float(e)}
                for r, e in zip(s.rows[bad], s.excess[bad], strict=True)]
    if blocking:
        stable, how = False, "blocked"
    else:
        stable, how = (True, "proved") if s.exact else (None, "searched")
    return {"stable": stable, "stability": how, "blocking": blocking,
            "n_blocking": s.count if sep.method == "enumeration" else None}


def _lexicographic(oracle, sep, grand, init, upper, say, name):
    say(f"{name}: row generation")
    return lexicographic(oracle, sep, grand, init, upper)


def _solutions(oracle: Oracle, sep: Separator, grand: float, alone: np.ndarray, init,
               say: Callable[[str], None]) -> dict:
    """Least core, prenucleolus and nucleolus. When the core is proved non-empty the
    nucleolus is the prenucleolus (it lies in the core, inside the imputations), so it is
    not computed twice."""
    say("least core: row generation")
    stage, lc_x, _ = least_core(oracle, sep, grand, init)
    pre = _lexicographic(oracle, sep, grand, init, None, say, "prenucleolus")
    scale = TOL * max(1.0, abs(grand), float(np.abs(alone).sum()))
    nuc = None
    if _core_empty(stage, grand) is False:
        nuc = pre
    elif alone.sum() >= grand - scale:
        slack = TOL * max(1.0, float(np.abs(alone).max()))
        nuc = _lexicographic(oracle, sep, grand, init, alone + slack, say, "nucleolus")
    return {"least_core": (stage, lc_x), "prenucleolus": pre, "nucleolus": nuc}


def _core_empty(stage: StageResult, grand: float) -> bool | None:
    scale = TOL * max(1.0, abs(grand))
    if stage.epsilon > scale:  # a lower bound above 0 proves it
        return True
    return False if stage.proved else None


def analyse_lazy(oracle: Oracle, opts: LazyOptions | None = None,
                 weights: dict[str, np.ndarray] | None = None,
                 say: Callable[[str], None] | None = None) -> dict:
    """The analysis of ``remech.costgame.analyse`` from an oracle, JSON-ready, with what was
    proved and what was searched."""
    opts, say = opts or LazyOptions(), say or (lambda msg: None)
    n, players = oracle.n, oracle.players
    grand = oracle.cost(oracle.grand())
    init = initial_rows(oracle)
    alone = init[1][:n]
    method = separation_method(oracle)
    sep = Separator(oracle, method, budget=opts.search_budget)
    phi, shap = _shapley(oracle, grand, opts, say)
    sol = _solutions(oracle, sep, grand, alone, init, say)
    stage, lc_x = sol["least_core"]
    rules = {"shapley": phi}
    if sol["nucleolus"] is not None:
        rules["nucleolus"] = sol["nucleolus"].x
    rules |= {"prenucleolus": sol["prenucleolus"].x, "least_core": lc_x,
              "equal": np.full(n, grand / n)}
    for name, w in (weights or {}).items():
        rules[name] = grand * np.asarray(w, float) / np.sum(w)
    say("stability of each rule")
    starts = init[0]
    out: dict = {"players": players, "grand_coalition_cost": grand,
                 "analysis": {"mode": "lazy", "costs": oracle.describe(),
                              "separation": method}}
    out["stand_alone"] = _named(players, alone)
    out["shapley"] = _named(players, phi)
    out["shapley_method"] = shap
    out |= _nucleoli(sol, players, alone, grand, method, sep.searched)
    out["least_core"] = {"epsilon": stage.epsilon, "allocation": _named(players, lc_x),
                         "largest_excess_found": stage.largest_found, "rounds": stage.rounds,
                         **_proof(stage, method, sep.searched)}
    out["core_empty"] = _core_empty(stage, grand)
    out["rules"] = {}
    for name, x in rules.items():
        out["rules"][name] = {"allocation": _named(players, x),
                              "saving_vs_alone": _named(players, alone - x),
                              **_stability(oracle, sep, x, starts, grand)}
    out["analysis"] |= {"coalition_costs_requested": oracle.evaluations,
                        "coalitions_searched": sep.searched}
    records = getattr(oracle, "records", None)
    if records is not None:  # coalitions solved on demand
        solved = [r for r in records if not r.get("cached")]
        out["analysis"] |= {
            "coalitions_solved": len(solved), "coalitions_from_cache": len(records) - len(solved),
            "coalitions_not_proved_optimal": sum(r["status"] != "optimal" for r in records),
            "coalition_seconds": float(sum(r["seconds"] for r in solved))}
        out["coalitions"] = records
    return out


def _nucleoli(sol: dict, players, alone, grand, method, searched) -> dict:
    out: dict = {}
    nuc, pre = sol["nucleolus"], sol["prenucleolus"]
    if nuc is None:
        out["nucleolus"] = None
        out["nucleolus_note"] = (
            f"no nucleolus: the imputation set is empty (stand-alone costs sum to "
            f"{alone.sum():,.6g} < grand coalition cost {grand:,.6g}), so no split of the "
            "grand coalition's cost has every player pay at most its stand-alone cost")
    else:
        out["nucleolus"] = _named(players, nuc.x)
    out["prenucleolus"] = _named(players, pre.x)
    out["nucleoli_proof"] = {
        name: {"proved": r.proved, "stages": len(r.stages), "converged": r.converged,
               "stage_epsilons": [s.epsilon for s in r.stages],
               "how": _lexicographic_how(r, method, name == "nucleolus" and nuc is pre)}
        for name, r in (("nucleolus", nuc), ("prenucleolus", pre)) if r is not None}
    return out


def _lexicographic_how(r, method: str, same: bool) -> str:
    how = "every stage's search exact" if r.proved else \
        f"searched ({method}); not proved" + ("" if r.converged else
                                             ", x not pinned down by the LPs")
    return ("the prenucleolus, since the core is not empty (proved); " + how) if same else how


def _short(label: str, most: int = 8) -> str:
    members = label.split("+")
    if len(members) <= most:
        return label
    return f"{len(members)} members ({'+'.join(members[:3])}+...+{members[-1]})"


def _stability_line(name: str, info: dict) -> str:
    if info["stability"] == "blocked":
        b = info["blocking"][0]
        count = f"{info['n_blocking']} blocking coalition(s)" if info["n_blocking"] \
            else "a blocking coalition found"
        return (f"{name:<12} NOT stable: {count}, e.g. {_short(b['coalition'])} pays "
                f"{b['excess']:,.2f} more than alone")
    if info["stability"] == "proved":
        return f"{name:<12} stable: no coalition pays less on its own (proved)"
    return (f"{name:<12} no blocking coalition found by the search (not proved: costs are "
            "solved on demand)")


def lazy_text(result: dict) -> str:
    """Per-player report of a lazily analysed game, saying what is proved."""
    players, rules = result["players"], list(result["rules"])
    lc = result["least_core"]
    core = {True: "core EMPTY", False: "core not empty", None: "core emptiness not proved"}
    lines = [f"{result['analysis']['costs']}",
             f"grand coalition cost {result['grand_coalition_cost']:,.1f}; least-core epsilon "
             f"{lc['epsilon']:,.3f} ({core[result['core_empty']]}); "
             f"{'proved: ' if lc['proved'] else ''}{lc['how']}"]
    shap = result["shapley_method"]
    if "stopped" in shap:
        lines.append(f"Shapley value: {shap['method']}, {shap['samples']:,} samples, "
                     f"{shap['stopped']} (largest 95 % half-width "
                     f"{shap['largest_half_width']:,.4g} MUSD, tolerance "
                     f"{shap['tolerance_musd']:,.4g}, seed {shap['seed']})")
    width = max(8, *(len(p) for p in players))
    col = max(11, *(len(r) for r in rules))
    ci = shap.get("ci95_half_width")
    head = f"{'player':<{width}} {'alone':>10} " + " ".join(f"{r:>{col}}" for r in rules) + \
        (f" {'shapley +/-':>11}" if ci else "")
    lines += ["", "cost under each rule", head]
    for p in players:
        lines.append(f"{p:<{width}} {result['stand_alone'][p]:>10,.1f} " + " ".join(
            f"{result['rules'][r]['allocation'][p]:>{col},.1f}" for r in rules)
            + (f" {ci[p]:>11,.2f}" if ci else ""))
    lines.append("")
    lines += [_stability_line(r, result["rules"][r]) for r in rules]
    if ci:
        lines.append(f"{'':<12} (shapley: the sampled estimate; the JSON lists every "
                     "blocking coalition found in full)")
    if result.get("nucleolus_note"):
        lines.append(f"{'nucleolus':<12} {result['nucleolus_note']}")
    for name, proof in result["nucleoli_proof"].items():
        lines.append(f"{name:<12} {'proved' if proof['proved'] else 'NOT proved'}: "
                     f"{proof['stages']} LP stage(s), {proof['how']}")
    a = result["analysis"]
    lines.append(f"\n{a['coalition_costs_requested']:,} coalition costs requested, "
                 f"{a['coalitions_searched']:,} by the searches; separation: {a['separation']}")
    if "coalitions_solved" in a:
        lines.append(f"{a['coalitions_solved'] + a['coalitions_from_cache']:,} coalitions: "
                     f"{a['coalitions_solved']:,} solved ({a['coalition_seconds']:,.1f} s of "
                     f"solver processes), {a['coalitions_from_cache']:,} from cache; "
                     f"{a['coalitions_not_proved_optimal']} not proved optimal")
    return "\n".join(lines)


def lazy_tables(result: dict, oracle: Oracle) -> dict[str, pd.DataFrame]:
    """allocations.csv (with the Shapley half-widths when sampled) and, for costs solved
    on demand, coalition_costs.csv of the coalitions solved (not the whole game)."""
    tables = {"allocations.csv": allocation_table(result)}
    ci = result["shapley_method"].get("ci95_half_width")
    if ci:
        tables["allocations.csv"]["shapley_ci95_half_width"] = [ci[p] for p in
                                                                result["players"]]
    rows, costs = oracle.known()
    if len(rows):
        tables["coalition_costs.csv"] = pd.DataFrame(
            {"coalition": [oracle.label(r) for r in rows], "cost": costs})
    return tables


def analyse_any(oracle: Oracle, lazy: bool, opts: LazyOptions, weights: dict,
                samples: int, records: list[dict] | None = None,
                say: Callable[[str], None] | None = None
                ) -> tuple[dict, dict[str, pd.DataFrame], str]:
    """The analysis a game gets: enumerated (``remech.costgame.analyse``) or lazy. Returns
    (result, tables to write, text)."""
    if not lazy_wanted(oracle, lazy):
        if opts.tolerance is not None or opts.max_samples is not None:
            raise InputError(f"--tolerance/--max-samples: this game of {oracle.n} players is "
                             "enumerated and its Shapley value exact; add --lazy to sample "
                             "it instead")
        game = oracle.tabulate()
        result = analyse(game, weights=weights, samples=samples, seed=opts.seed)
        if records is not None:
            result["coalitions"] = records
        tables = {"coalition_costs.csv": game.to_frame(),
                  "allocations.csv": allocation_table(result)}
        return result, tables, game_text(result, records)
    if samples:
        raise InputError("--samples draws random orders of an enumerated game; for this "
                         "lazy analysis give --tolerance and --max-samples instead")
    result = analyse_lazy(oracle, opts, weights, say)
    return result, lazy_tables(result, oracle), lazy_text(result)
