"""Capex grants: the grant a plant option needs to make its plant bankable (computed with
the options in remech.model.plants, up to the design's share of the plant's capex), and the
design's grant budgets.

Constraints
  c_grant_stage_cap[st], c_grant_host_cap[h]: sum of grant_musd[q] option[q] over the plant
                    options of plants of stage st / hosted by country h <= the design's cap
                    (MUSD) (a plant's lines share host and stage)
Cost (first stage, category grants): sum_q grant_musd[q] option[q], paid (for the yearly
budget caps) the year before the option's start year.
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
    return bool(data.grants_enabled or data.plant_options.grant_musd.any()
                or data.grant_cap_by_stage_musd or data.grant_cap_by_host_musd)


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support) -> None:
    popt = data.plant_options
    lead = {k: int(np.flatnonzero(data.project_plant == k)[0])
            for k in range(len(data.plants))}
    granted = [int(q) for q in np.flatnonzero(popt.grant_musd)]

    def capped(name: str, caps: dict[str, float], key_of) -> None:
        keys = [c for c in caps if any(key_of(lead[int(k)]) == c for k in popt.plant)]
        m.add_component(name, pyo.Constraint(keys, rule=lambda m, c: linear(
            [(float(popt.grant_musd[q]), support.option[q]) for q in granted
             if key_of(lead[int(popt.plant[q])]) == c]) <= float(caps[c])))

    capped("c_grant_stage_cap", data.grant_cap_by_stage_musd, lambda j: data.project_stage[j])
    capped("c_grant_host_cap", data.grant_cap_by_host_musd, lambda j: data.project_host[j])
    first, last = data.years[0], len(data.years) - 1
    for q in granted:  # paid the year before the plant option's start (its capex year)
        year = min(max(int(popt.start_year[q]) - 1, first) - first, last)
        ledger.add_first(Category.GRANTS, popt.grant_musd[q], support.option[q], year)
