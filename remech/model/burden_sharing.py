"""Burden sharing: each ally's contribution to the expected outlay, within budget caps.

Variables
  contribution_musd[a]  (free; upper bound budget_cap_musd[a] where the ally has a cap)

Constraint c_share[a]: contribution_musd[a] = share[a] * outlay_musd
where share comes from the design's rule (GDP, consumption value, equal, custom weights)
and outlay_musd is the expected discounted outlay (grants, stockpile, top-ups; core.c_outlay).
With fixed shares the caps bound the total outlay: outlay <= min_a cap[a] / share[a].
Rule "core": the contributions are free within the caps,
  c_share_total: sum_a contribution_musd[a] = outlay_musd,
and remech.stability chooses the split after the solve, once the coalition costs are known.
"""

from __future__ import annotations

import math

import pyomo.environ as pyo

from remech.prepare import ModelData


def add(m: pyo.ConcreteModel, data: ModelData) -> None:
    caps = data.budget_cap_musd
    m.contribution_musd = pyo.Var(
        m.A, bounds=lambda m, a: (None, None if math.isinf(caps[a]) else float(caps[a])))
    if data.sharing_rule == "core":
        m.c_share_total = pyo.Constraint(
            expr=sum(m.contribution_musd[a] for a in m.A) == m.outlay_musd)
        return
    m.c_share = pyo.Constraint(
        m.A, rule=lambda m, a: m.contribution_musd[a]
        == float(data.sharing_share[a]) * m.outlay_musd)
