"""Statistical bounds on the optimality gap of a mechanism: sample average approximation
with the multiple replication procedure of Mak, Morton and Wood (1999).

The true problem is  z* = min_x E_xi[f(x, xi)]  over the distribution the sampler draws
from; the mechanism x^ was solved on a finite scenario set. With ``--saa M,N,N2``:

* lower bound: M independent samples of N scenarios (seeds in the report), each solved
  with the design as given. E[v_N] <= z* (the optimum of a sample is biased low), so
  L = mean_m(l_m) estimates a lower bound, where l_m is HiGHS's dual bound of
  replication m (valid even when a solve stops at the time limit) minus the largest
  possible floor tie-break term. One-sided 95 % confidence limit:
      L - t_{0.95, M-1} s_L / sqrt(M)   (Student t, M - 1 degrees of freedom);
* upper bound: the candidate x^ is the first stage of the main solve (on the instance's
  own scenarios). It is evaluated with its first stage fixed (remech.simulating, the
  non-anticipative execution under the stockpile rule) on N2 fresh scenarios drawn with
  an independent seed: U = mean cost, one-sided 95 % limit U + z_{0.95} s_U / sqrt(N2);
* gap: G = U - L, and the 95 % confidence interval on the optimality gap of x^
  (Bonferroni-free form of the two independent estimators, as in Mak, Morton and Wood
  1999 section 3 and Bayraksan and Morton 2009, "Assessing solution quality in
  stochastic programs via sampling", TutORials in OR):
      [0, G + t_{0.95, M-1} s_L / sqrt(M) + z_{0.95} s_U / sqrt(N2)].

Samplers: ``generate`` (fresh paths of remech's scenario generator: the true problem is
the generator's distribution, not the instance's finite set) and ``resample`` (i.i.d.
draws from the instance's own scenarios by their probabilities: the true problem is then
the instance itself, whose optimum the main solve knows, so the bounds can be checked).

Caveats (reported, not hidden): the bounds need an expected-cost objective, so a design
with a CVaR term is refused; bankability is tested on each replication's sample, so which
projects may be supported depends on the sample (as in any SAA of this model), while the
candidate's evaluation keeps its investment decisions as solved; hard targets on
expectations (e.g. a maximum expected shortfall share) hold per sample, not for the true
distribution. mpi-sppy's ``confidence_intervals`` implements MMW for its own scenario
creators and MPI; for remech's batch model a direct implementation was shorter.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from remech.design import Design
from remech.errors import InputError
from remech.evaluate import cost
from remech.instance import Instance
from remech.model import build_model
from remech.model.chain import IDLE_TIE_BREAK
from remech.model.price_floor import FLOOR_TIE_BREAK
from remech.model.reagents import CURTAIL_TIE_BREAK
from remech.prepare import ModelData, prepare
from remech.simulating import (
    BATCH_SIZE,
    ScenarioSample,
    check_simulable,
    draw,
    evaluate_sample,
    sample_instance,
    summarise,
)
from remech.solving import SolverOptions, solve
from remech.stats import t_quantile, z_quantile

CONFIDENCE = 0.95


def parse_saa(text: str) -> tuple[int, int, int]:
    """'M,N,N2' -> (M, N, N2) with M >= 2, N >= 1, N2 >= 2."""
    parts = [x.strip() for x in text.split(",")]
    try:
        m, n, n2 = (int(x) for x in parts)
    except ValueError:
        raise InputError(f"--saa {text}: expected M,N,N2 (replications, scenarios per "
                         "replication, evaluation scenarios); write e.g. --saa 10,100,2000"
                         ) from None
    if m < 2 or n < 1 or n2 < 2:
        raise InputError(f"--saa {text}: need M >= 2 replications, N >= 1 and N2 >= 2 "
                         "scenarios; write e.g. --saa 10,100,2000")
    return m, n, n2


def seeds(seed: int, m: int) -> tuple[list[int], int]:
    """Independent seeds for the M replications and the evaluation, from one seed."""
    state = np.random.SeedSequence(seed).generate_state(m + 1)
    return [int(x) for x in state[:m]], int(state[m])


def max_tie_break_musd(data: ModelData, m=None) -> float:
    """The largest value the tie-break terms of the objective can take: the floor's and,
    in model ``m``, the value chain's idle tie-break and the reagent curtailment's at every
    variable's upper bound (remech.model.chain, remech.model.reagents)."""
    out = FLOOR_TIE_BREAK * sum(max((e.level_usd_per_kg for e in menu), default=0.0)
                                for menu in data.menus)
    for name, per_unit in (("chain_idle_kt", IDLE_TIE_BREAK),
                           ("reagent_curtail_kt", CURTAIL_TIE_BREAK)):
        var = getattr(m, name, None)
        if var is not None:
            out += per_unit * sum(v.ub or 0.0 for v in var.values())
    return out


@dataclass
class _Replication:
    inst: Instance
    design: Design
    sample: ScenarioSample
    options: SolverOptions
    index: int


def _solve_replication(task: _Replication) -> dict:
    t0 = time.perf_counter()
    data = prepare(sample_instance(task.inst, task.sample), task.design)
    m = build_model(data)
    res = solve(m, task.options)
    bound = res.dual_bound_musd
    finite = bound is not None and math.isfinite(bound)
    return {"replication": task.index, "seed": task.sample.seed,
            "scenarios": task.sample.draws, "distinct_scenarios": len(task.sample.names),
            "status": res.status, "objective_musd": cost(m, res),
            "dual_bound_musd": bound if finite else None,
            "lower_bound_musd": bound - max_tie_break_musd(data, m) if finite else None,
            "mip_gap": res.mip_gap, "seconds": time.perf_counter() - t0}


def check_saa(design: Design, sampler: str) -> None:
    if design.cvar_weight > 0:
        raise InputError(f"--saa: {design.path} [risk] cvar_weight is {design.cvar_weight:g}; "
                         "the MMW bounds need an expected-cost objective; set cvar_weight = 0 "
                         "or drop --saa")
    check_simulable(design.path, {}, design, sampler, tree_fix="use --saa-sampler resample")


def saa(inst: Instance, design: Design, mech: dict, m: int, n: int, n2: int,
        sampler: str, seed: int = 0, options: SolverOptions | None = None,
        jobs: int | None = None, batch_size: int = BATCH_SIZE, on_done=None) -> dict:
    """MMW bounds for the candidate mechanism ``mech`` (mechanism.json's content, its
    ``first_stage`` is x^). ``on_done(k, total)`` is called as each solve finishes."""
    from remech.executor import map_tasks
    from remech.model.first_stage import FirstStage

    check_saa(design, sampler)
    t0 = time.perf_counter()
    rep_seeds, eval_seed = seeds(seed, m)
    opts = options or SolverOptions()
    parallel = (jobs or 0) != 1
    solo = replace(opts, threads=1, log_file=None, log_to_console=False) if parallel else \
        replace(opts, log_file=None, log_to_console=False)
    eval_sample = draw(inst, n2, eval_seed, sampler)
    n_eval = -(-len(eval_sample.names) // batch_size)
    total = m + n_eval
    done = [0]

    def tick(*_args) -> None:
        done[0] += 1
        if on_done:
            on_done(done[0], total)

    tasks = [_Replication(inst, design, draw(inst, n, s, sampler), solo, k)
             for k, s in enumerate(rep_seeds)]
    reps = map_tasks(_solve_replication, tasks, jobs=jobs, on_done=tick)
    decisions = FirstStage.from_json(mech["first_stage"])
    records = evaluate_sample(inst, design, decisions, eval_sample, solo, jobs, batch_size,
                              on_done=tick)
    upper, _ = summarise(records, eval_sample, mech, decisions)

    lbs = np.array([r["lower_bound_musd"] for r in reps if r["lower_bound_musd"] is not None])
    n_opt = sum(r["status"] == "optimal" for r in reps)
    t_l = t_quantile(CONFIDENCE, m - 1)
    z_u = z_quantile(CONFIDENCE)
    lower: dict = {"replications": m, "bounds_counted": int(len(lbs)),
                   "valid": len(lbs) == m, "t_quantile": t_l, "dof": m - 1,
                   "from": "HiGHS dual bound of each replication minus the largest floor "
                           "tie-break"}
    if len(lbs) >= 2:
        s_l = float(lbs.std(ddof=1))
        lower.update(estimate_musd=float(lbs.mean()), std_musd=s_l,
                     ci95_lower_musd=float(lbs.mean() - t_l * s_l / math.sqrt(len(lbs))))
    else:
        lower.update(estimate_musd=None, std_musd=None, ci95_lower_musd=None)
    c = upper.get("cost")
    up: dict = {"candidate": "first stage of the main solve on the instance's own scenarios",
                "scenarios": n2, "seed": eval_seed,
                "evaluations": upper["evaluations"]["batches"],
                "evaluations_optimal": upper["evaluations"]["optimal"],
                "scenarios_counted": upper["evaluations"]["scenarios_counted"],
                "z_quantile": z_u,
                "valid": upper["evaluations"]["optimal"] == upper["evaluations"]["batches"]}
    if c is not None:
        k = c["n_effective"]
        up.update(estimate_musd=c["mean_musd"], std_musd=c["std_musd"],
                  ci95_upper_musd=c["mean_musd"] + z_u * c["std_musd"] / math.sqrt(k))
    else:
        up.update(estimate_musd=None, std_musd=None, ci95_upper_musd=None)
    gap: dict = {"estimate_musd": None, "ci95_upper_musd": None}
    if lower["estimate_musd"] is not None and up["estimate_musd"] is not None:
        est = up["estimate_musd"] - lower["estimate_musd"]
        bound = up["ci95_upper_musd"] - lower["ci95_lower_musd"]
        gap = {"estimate_musd": est, "ci95_upper_musd": max(0.0, bound),
               "ci95_musd": [0.0, max(0.0, bound)],
               "relative_to_upper": est / abs(up["estimate_musd"])
               if up["estimate_musd"] else None}
    return {
        "method": "Mak, Morton and Wood (1999) multiple replication procedure; gap interval "
                  "[0, U - L + t s_L/sqrt(M) + z s_U/sqrt(N2)]",
        "sampler": sampler, "replications": m, "scenarios_per_replication": n,
        "evaluation_scenarios": n2, "seed": seed, "replication_seeds": rep_seeds,
        "evaluation_seed": eval_seed, "confidence": CONFIDENCE,
        "lower_bound": lower, "upper_bound": up, "gap": gap,
        "replications_proved_optimal": n_opt,
        "replication_results": reps,
        "wall_seconds": time.perf_counter() - t0,
    }


def _m(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f}"


def saa_text(s: dict) -> str:
    """Lines for the printed summary of remech solve --saa."""
    lo, up, g = s["lower_bound"], s["upper_bound"], s["gap"]
    note = "" if lo["valid"] else " NOT A VALID BOUND: a replication has no dual bound;"
    upnote = "" if up["valid"] else " (not every evaluation counted)"
    return "\n".join([
        f"SAA (MMW)     lower bound {_m(lo['estimate_musd'])} MUSD (95 % one-sided limit "
        f"{_m(lo['ci95_lower_musd'])}, t with {lo['dof']} d.o.f.;{note} "
        f"{s['replications_proved_optimal']} of {s['replications']} replications of "
        f"{s['scenarios_per_replication']:,} scenarios proved optimal)",
        f"              upper bound {_m(up['estimate_musd'])} MUSD (95 % one-sided limit "
        f"{_m(up['ci95_upper_musd'])}, normal; main-solve mechanism on "
        f"{up['scenarios']:,} fresh scenarios, {up['evaluations_optimal']} of "
        f"{up['evaluations']} evaluations optimal{upnote})",
        f"              gap {_m(g['estimate_musd'])} MUSD, 95 % confidence bound "
        f"{_m(g['ci95_upper_musd'])} MUSD (sampler {s['sampler']}, seed {s['seed']}; "
        f"{s['wall_seconds']:.1f} s)",
    ])
