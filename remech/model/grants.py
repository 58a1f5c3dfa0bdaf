"""Capex grants: the grant an option needs to make its project bankable (computed with the
options in remech.model.price_floor, up to the design's share of capex), and the design's
grant budgets.

Constraints
  c_grant_stage_cap[st], c_grant_host_cap[k]: sum of grant_musd[o] support[o] over the
                    projects of stage st / hosted by country k <= the design's cap (MUSD)
Cost (first stage, category grants): sum_o grant_musd[o] * support[o].
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.model.data import Context, ModelData
from remech.model.ledger import Category, Ledger, linear
from remech.model.price_floor import Support


def prepare(ctx: Context) -> dict:
    return {"grants_enabled": ctx.design.grants,
            "grant_cap_by_stage_musd": dict(ctx.design.grant_cap_by_stage_musd),
            "grant_cap_by_host_musd": dict(ctx.design.grant_cap_by_host_musd)}


def enabled(data: ModelData) -> bool:
    return bool(data.grants_enabled or data.options.grant_musd.any()
                or data.grant_cap_by_stage_musd or data.grant_cap_by_host_musd)


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support) -> None:
    opt = data.options

    def capped(name: str, caps: dict[str, float], key_of) -> None:
        keys = [k for k in caps if any(key_of(int(j)) == k for j in opt.project)]
        m.add_component(name, pyo.Constraint(keys, rule=lambda m, k: linear(
            [(float(opt.grant_musd[o]), support.support[int(o)]) for o in np.flatnonzero(
                opt.grant_musd) if key_of(int(opt.project[o])) == k]) <= float(caps[k])))

    capped("c_grant_stage_cap", data.grant_cap_by_stage_musd, lambda j: data.project_stage[j])
    capped("c_grant_host_cap", data.grant_cap_by_host_musd, lambda j: data.project_host[j])
    for o in np.flatnonzero(opt.grant_musd):  # paid the year before the first output
        year = max(data.project_start_year[opt.project[o]] - 1, data.years[0]) - data.years[0]
        ledger.add_first(Category.GRANTS, opt.grant_musd[o], support.support[int(o)],
                         min(int(year), len(data.years) - 1))
