"""Price floor (contract for difference), project support and capex grants.

Sets: options o = admissible (project j, floor level l) pairs, prepared in
remech.prepare with their output, top-up and grant as data.

Variables
  floor_choice[p, l] in {0,1}   product p gets floor level l (l = 0: no floor)
  support[o] in {0,1}           project j(o) is supported at level l(o)

Constraints
  c_one_level[p]:   sum_l floor_choice[p, l] = 1
  c_link[o]:        support[o] <= floor_choice[p(o), l(o)]
  c_one_option[j]:  sum_{o in j} support[o] <= 1   (= 1 if support is compulsory)
  c_grant_stage_cap[st], c_grant_host_cap[k]: sum of grant_musd[o] support[o] over the
                    projects of stage st / hosted by country k <= the design's cap (MUSD)
  c_floor_used[p, l], F_l > 0:  floor_choice[p, l] <= sum_{o at (p, l)} support[o]
                    (a floor is declared only if some project is contracted under it)

Together these make support[o] = y[j] * floor_choice[p, l] exactly (y[j] = sum_o support[o]),
without a big-M: a project can only be supported at the level chosen for its product.

Tariff reference price (design [tariff]): menu entries with is_tariff; when chosen, every
existing producer and every new one bankable at max(price, R) receives max(price, R):
  c_tariff_auto[o]: support[o] >= floor_choice[p(o), l(o)]   (so support[o] = floor_choice)
Its premium u_ost = output x max(R - price, 0) x 1e-3 is paid by member consumers, not by a
treasury: category consumer_cost_net (allied output is assumed sold inside the zone).

Costs (MUSD)
  grants (first stage):   sum_o grant_musd[o] * support[o]
  tie-break (first stage, category "grants" is untouched): FLOOR_TIE_BREAK * sum F_l *
                          floor_choice[p, l], at most 1e-7 MUSD per USD/kg, so that among
                          designs of equal cost the lower floor is reported
  topup[s]:               sum_o (sum_t d_t * topup_musd[o, s, t]) * support[o]
where topup_musd[o,s,t] = output_t[o,s,t] * max(F_l - price[s,t,p], 0) * 1e-3.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.model.core import linear
from remech.prepare import ModelData

#: MUSD per (USD/kg) of declared floor: prefers the lower of two equally costly floors
FLOOR_TIE_BREAK = 1e-7


def add(m: pyo.ConcreteModel, data: ModelData, ledger) -> None:
    opt = data.options
    levels = [(p, l) for p in range(len(data.products))
              for l in range(len(data.levels_usd_per_kg[p]))]
    m.PL = pyo.Set(initialize=levels, dimen=2, ordered=True)
    m.O = pyo.RangeSet(0, len(opt.project) - 1)
    m.floor_choice = pyo.Var(m.PL, within=pyo.Binary)
    m.support = pyo.Var(m.O, within=pyo.Binary)

    m.c_one_level = pyo.Constraint(
        m.P, rule=lambda m, p: sum(m.floor_choice[p, l]
                                   for l in range(len(data.levels_usd_per_kg[p]))) == 1)
    prod_of = data.project_product
    m.c_link = pyo.Constraint(
        m.O, rule=lambda m, o: m.support[o]
        <= m.floor_choice[int(prod_of[opt.project[o]]), int(opt.level[o])])

    by_project: dict[int, list[int]] = {}
    for o, j in enumerate(opt.project):
        by_project.setdefault(int(j), []).append(o)
    m.J_supportable = pyo.Set(initialize=sorted(by_project), ordered=True)

    def one_option(m, j):
        total = sum(m.support[o] for o in by_project[j])
        return total == 1 if data.project_forced[j] else total <= 1

    m.c_one_option = pyo.Constraint(m.J_supportable, rule=one_option)

    # a tariff reference price is no contract: every admissible producer receives it
    tariff_opts = [int(o) for o in np.flatnonzero(opt.is_tariff)] if len(opt.project) else []
    m.c_tariff_auto = pyo.Constraint(
        tariff_opts, rule=lambda m, o: m.support[o]
        >= m.floor_choice[int(prod_of[opt.project[o]]), int(opt.level[o])])

    at_level: dict[tuple[int, int], list[int]] = {}
    for o, (j, lvl) in enumerate(zip(opt.project, opt.level, strict=True)):
        at_level.setdefault((int(prod_of[j]), int(lvl)), []).append(o)
    m.c_floor_used = pyo.Constraint(
        [(p, l) for (p, l) in levels if data.levels_usd_per_kg[p][l] > 0],
        rule=lambda m, p, l: m.floor_choice[p, l]
        <= sum(m.support[o] for o in at_level.get((p, l), [])))
    m.floor_tie_break_musd = pyo.Expression(expr=FLOOR_TIE_BREAK * sum(
        float(data.levels_usd_per_kg[p][l]) * m.floor_choice[p, l] for (p, l) in levels))

    # grant budgets: sum of grants to the projects of a stage / hosted by a country <= cap
    def capped(name: str, caps: dict[str, float], key_of) -> None:
        keys = [k for k in caps if any(key_of(int(j)) == k for j in opt.project)]
        m.add_component(name, pyo.Constraint(keys, rule=lambda m, k: linear(
            [(float(opt.grant_musd[o]), m.support[int(o)]) for o in np.flatnonzero(
                opt.grant_musd) if key_of(int(opt.project[o])) == k]) <= float(caps[k])))

    capped("c_grant_stage_cap", data.grant_cap_by_stage_musd, lambda j: data.project_stage[j])
    capped("c_grant_host_cap", data.grant_cap_by_host_musd, lambda j: data.project_host[j])

    if len(opt.project):
        for o in np.flatnonzero(opt.grant_musd):
            ledger.add_first("grants", opt.grant_musd[o], m.support[int(o)])
        # discounted top-up per option and scenario: [o, s]
        topup_pv = np.einsum("ost,t->os", opt.topup_musd, data.discount)
        category = np.where(opt.is_tariff, "consumer_cost_net", "topup")
        for s in range(len(data.scenarios)):
            col = topup_pv[:, s]
            for o in np.flatnonzero(col):
                ledger.add_second(str(category[o]), s, col[o], m.support[int(o)])
