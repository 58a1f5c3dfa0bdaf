"""Risk: CVaR of the scenario cost (Rockafellar-Uryasev), weighted into the objective.

risk_term_musd = lambda * (cvar_eta_musd + 1/(1-alpha) * sum_s prob_s * cvar_excess_musd[s])
c_cvar[s]: cvar_excess_musd[s] >= scenario_cost_musd[s] - cvar_eta_musd, excess >= 0,
where scenario_cost_musd[s] = first-stage cost + discounted second-stage cost of s (all
categories weighted as in the design's view of cost, merged by variable). With lambda = 0
the block is not built.
"""

from __future__ import annotations

import pyomo.environ as pyo

from remech.model.data import Context, ModelData
from remech.model.ledger import Ledger, linear, view_weights


def prepare(ctx: Context) -> dict:
    return {"cvar_weight": ctx.design.cvar_weight, "cvar_alpha": ctx.design.cvar_alpha}


def enabled(data: ModelData) -> bool:
    return data.cvar_weight > 0


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> None:
    lam, alpha = data.cvar_weight, data.cvar_alpha
    weights = view_weights(data.objective_view, data.mcpf)
    m.scenario_cost_musd = pyo.Expression(
        m.S, rule=lambda m, s: linear(ledger.scenario_terms(s, weights)))
    m.cvar_eta_musd = pyo.Var()
    m.cvar_excess_musd = pyo.Var(m.S, within=pyo.NonNegativeReals)
    m.c_cvar = pyo.Constraint(
        m.S, rule=lambda m, s: m.cvar_excess_musd[s]
        >= m.scenario_cost_musd[s] - m.cvar_eta_musd)
    prob = data.probability
    m.risk_term_musd = pyo.Expression(expr=lam * (
        m.cvar_eta_musd + sum(float(prob[s]) * m.cvar_excess_musd[s] for s in m.S)
        / (1.0 - alpha)))
