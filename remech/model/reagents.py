"""Critical-reagent limits on refining, with curtailment of output (design [security]
reagent_limits; reagents.csv and reagent_use.csv).

Variables: curtail_jst = 1000 reagent_curtail_kt[s,t,j] >= 0 (t) for the projects that use a
limited reagent (they enter the supply balance, remech.model.supply, as less output).
c_reagent_curtail[s,t,j]: curtail_jst <= output_j[s,t]
c_target_reagent[s,t,r]:
    sum_j use[j,r] (output_j[s,t] - curtail_jst) - slack
    <= non_chinese_supply_r + china_supply_r x availability[s,t,r]
Tie-break (in no cost category, like the value chain's idle output): 1e-4 MUSD per kt
curtailed (0.1 USD/t), so that output is curtailed only where the limit needs it, not
wherever the balance has supply to spare (remech.model.supply.report reads China's
deliveries from the balance rows); ledger.cost_without_tie_break removes it. The variable is
in kt so that this cost sits inside HiGHS's cost range.
output_j = outside_output_t[j] + sum_{o of j} (output_t[o] - outside) support[o]. Top-ups
are paid on the nominal output (curtailment is not deducted from them). Soft with a
penalty like the other targets (remech.model.security).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from remech.errors import InputError
from remech.model.data import T_PER_KT as KT
from remech.model.data import Context, ModelData, grid
from remech.model.ledger import Ledger, linear
from remech.model.price_floor import Support
from remech.model.security import slack_var


def prepare(ctx: Context) -> dict:
    """The limited reagents, each project's use per t of output, and the supply per
    scenario and year (non-Chinese + Chinese x availability)."""
    inst, design, pj = ctx.inst, ctx.design, ctx.projects
    reagents = inst.reagents["reagent"].tolist() if design.reagent_limits else []
    if design.reagent_limits and not reagents:
        raise InputError(f"{design.path.name} [security] reagent_limits: the instance has no "
                         "reagents.csv; add reagents.csv and reagent_use.csv or drop the target")
    use = np.zeros((len(pj), len(reagents)))
    for _, row in inst.reagent_use.iterrows():
        if row["reagent"] in reagents:
            j = pj.index[pj["project"] == row["project"]][0]
            use[j, reagents.index(row["reagent"])] = row["use_t_per_t"]
    n_s, n_t = len(ctx.scenarios), len(ctx.years)
    if not reagents:
        return {"reagents": reagents, "reagent_use_t_per_t": use,
                "reagent_supply_t": np.zeros((n_s, n_t, 0))}
    avail = grid(inst.availability, [("scenario", ctx.scenarios), ("year", ctx.years),
                                     ("product", reagents)], "china_availability", 1.0)
    rg = inst.reagents.set_index("reagent")
    supply = (rg["non_chinese_supply_t"].reindex(reagents).to_numpy(float)[None, None]
              + rg["china_supply_t"].reindex(reagents).to_numpy(float)[None, None] * avail)
    return {"reagents": reagents, "reagent_use_t_per_t": use, "reagent_supply_t": supply}


def enabled(data: ModelData) -> bool:
    return bool(data.reagents)


#: MUSD per kt curtailed (0.1 USD/t): among equally costly solutions, output is not curtailed
CURTAIL_TIE_BREAK = 1e-4


@dataclass
class Curtailment:
    users: list[int]  # projects that use a limited reagent
    var: pyo.Var  # reagent_curtail_kt[s, t, j] (kt)


def add_curtailment(m: pyo.ConcreteModel, data: ModelData) -> Curtailment:
    """The curtailment variables (before the supply balance, which holds them), bounded by
    the most the project can make (outside output plus its largest supported addition), and
    their tie-break."""
    users = [int(j) for j in np.flatnonzero(data.reagent_use_t_per_t.sum(1) > 0)]
    opt = data.options
    extra = np.maximum(opt.output_t - data.outside_output_t[opt.project], 0.0)
    most = {j: data.outside_output_t[j] + (extra[opt.project == j].max(0)
                                           if (opt.project == j).any() else 0.0)
            for j in users}  # [s, t] t
    m.J_reagent = pyo.Set(initialize=users, ordered=True)
    m.reagent_curtail_kt = pyo.Var(m.S, m.T, m.J_reagent, within=pyo.NonNegativeReals,
                                   bounds=lambda m, s, t, j: (0.0, float(most[j][s, t]) / KT))
    m.reagent_tie_break_musd = pyo.Expression(expr=linear(
        [(CURTAIL_TIE_BREAK, v) for v in m.reagent_curtail_kt.values()]))
    return Curtailment(users, m.reagent_curtail_kt)


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support,
        curtail: Curtailment) -> None:
    opt = data.options
    extra = opt.output_t - data.outside_output_t[opt.project]
    users = curtail.users

    def output_terms(j, s, t):
        return [(float(extra[o, s, t]), support.line[int(o)])
                for o in np.flatnonzero(opt.project == j) if extra[o, s, t]]

    m.c_reagent_curtail = pyo.Constraint(m.S, m.T, m.J_reagent, rule=lambda m, s, t, j: linear(
        [(KT, curtail.var[s, t, j])] + [(-c, v) for c, v in output_terms(j, s, t)])
        <= float(data.outside_output_t[j, s, t]))
    idx = [(s, t, r) for s in range(len(data.scenarios)) for t in range(len(data.years))
           for r in range(len(data.reagents))]
    slack = slack_var(m, "slack_reagent_t", idx, data, ledger, "reagent_limits")
    use = data.reagent_use_t_per_t

    def rule(m, s, t, r):
        terms, base = [], 0.0
        for j in users:
            if use[j, r] == 0:
                continue
            base += use[j, r] * data.outside_output_t[j, s, t]
            terms += [(use[j, r] * c, v) for c, v in output_terms(j, s, t)]
            terms.append((-use[j, r] * KT, curtail.var[s, t, j]))
        if slack is not None:
            terms.append((-1.0, slack[s, t, r]))
        return linear(terms) <= float(data.reagent_supply_t[s, t, r] - base)

    m.c_target_reagent = pyo.Constraint(idx, rule=rule)
