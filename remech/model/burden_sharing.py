"""Burden sharing: each ally's contribution to the expected outlay, within budget caps.

Variables
  contribution_musd[a]  (free; upper bound budget_cap_musd[a] where the ally has a cap)

Constraint c_share[a]: contribution_musd[a] = share[a] * outlay_musd
where share comes from the design's rule (GDP, consumption value, equal, custom weights)
and outlay_musd is the expected discounted outlay (grants, stockpile, top-ups; core.c_outlay).
With fixed shares the caps bound the total outlay: outlay <= min_a cap[a] / share[a].
Caps in every scenario (design [burden_sharing] cap_musd_per_scenario, cap_musd_per_year):
see _scenario_caps. Rule "core": the contributions are free within the caps,
  c_share_total: sum_a contribution_musd[a] = outlay_musd,
and remech.stability chooses the split after the solve, once the coalition costs are known.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.errors import InputError
from remech.model.data import Context, ModelData
from remech.model.ledger import CATEGORIES, OUTLAY_CATEGORIES, Ledger, linear


def rule_weights(rule: str, allies: pd.DataFrame, demand_a: np.ndarray, prob: np.ndarray,
                 price: np.ndarray, discount: np.ndarray,
                 custom: dict[str, float] | None = None) -> np.ndarray:
    """Burden-sharing weights of the members (rows of ``allies``, indexed by ally):
    GDP; consumption = value of each ally's demand at expected prices, discounted;
    equal; or custom weights."""
    if rule == "gdp":
        return allies["gdp_usd_bn"].to_numpy(float)
    if rule == "consumption":
        exp_price = np.einsum("s,stp->tp", prob, price)
        return np.einsum("atp,tp,t->a", demand_a, exp_price, discount)
    if rule == "equal":
        return np.ones(len(allies))
    return np.array([(custom or {})[a] for a in allies.index])


def prepare(ctx: Context) -> dict:
    """Each member's share under the design's rule (the reference rule under 'core') and
    budget cap (inf where none)."""
    design = ctx.design
    allies = ctx.inst.allies.set_index("ally").loc[ctx.members]
    rule = design.sharing_reference if design.sharing_rule == "core" else design.sharing_rule
    weight = rule_weights(rule, allies, ctx.demand_by_ally_t, ctx.probability,
                          ctx.price_usd_per_kg, ctx.discount, design.sharing_weights)
    if weight.sum() <= 0:
        raise InputError(f"{design.path.name} [burden_sharing] rule '{rule}': "
                         "the weights sum to 0 for this instance; choose another rule")
    caps = allies["budget_cap_musd"].to_numpy(float)

    def per_ally(table: dict[str, float]) -> np.ndarray:
        return np.array([table.get(a, np.inf) for a in ctx.members], dtype=float)

    return {"sharing_rule": design.sharing_rule, "sharing_share": weight / weight.sum(),
            "budget_cap_musd": np.where(np.isnan(caps), np.inf, caps),
            "cap_per_scenario_musd": per_ally(design.cap_per_scenario_musd),
            "cap_per_year_musd": per_ally(design.cap_per_year_musd)}


def outlay_limit(share: np.ndarray, caps: np.ndarray) -> float:
    """The largest outlay whose fixed shares respect every ally's cap: min_a cap_a/share_a
    over the allies with a cap and a positive share (inf without any)."""
    limits = [c / sh for c, sh in zip(caps, share, strict=True) if np.isfinite(c) and sh > 0]
    return min(limits, default=np.inf)


def tracks_years(data: ModelData) -> bool:
    """Whether the ledger must record the outlay by year (a yearly cap exists)."""
    return bool(np.isfinite(data.cap_per_year_musd).any())


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> None:
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
    _scenario_caps(m, data, ledger)


def _scenario_caps(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> None:
    """Caps that hold in every scenario (design [burden_sharing]): with fixed shares, each
    ally's payment share_a x outlay is below its cap iff the outlay is below
    L = min_a cap_a / share_a:
      c_outlay_scenario_cap[s]: discounted outlay of scenario s <= L_scenario
      c_outlay_year_cap[s,t]:   undiscounted outlay of year t in scenario s <= L_year"""
    share = data.sharing_share
    limit = outlay_limit(share, data.cap_per_scenario_musd)
    if np.isfinite(limit):
        weights = {c: (1.0 if c in OUTLAY_CATEGORIES else 0.0) for c in CATEGORIES}
        m.c_outlay_scenario_cap = pyo.Constraint(m.S, rule=lambda m, s: linear(
            ledger.scenario_terms(s, weights)) <= float(limit))
    limit = outlay_limit(share, data.cap_per_year_musd)
    if np.isfinite(limit):
        m.c_outlay_year_cap = pyo.Constraint(m.S, m.T, rule=lambda m, s, t: linear(
            ledger.year_terms(s, t)) <= float(limit) if ledger.year_terms(s, t)
            else pyo.Constraint.Skip)


def report(m: pyo.ConcreteModel, data: ModelData, outlay_by_scenario: np.ndarray,
           consumer: np.ndarray, revenue: np.ndarray) -> dict:
    """Each ally's contribution, consumer cost and tariff revenue (MUSD, expected) and its
    payment in each scenario under its share of the outlay."""
    contrib = np.array([m.contribution_musd[a].value or 0.0 for a in range(len(data.members))])
    net = contrib + consumer - revenue
    table = pd.DataFrame({"ally": data.members, "share": data.sharing_share,
                          "contribution_musd": contrib, "budget_cap_musd": data.budget_cap_musd,
                          "consumer_cost_musd": consumer, "tariff_revenue_musd": revenue,
                          "net_cost_musd": net})
    by_scenario = pd.DataFrame(np.outer(outlay_by_scenario, data.sharing_share),
                               columns=data.members)
    by_scenario.insert(0, "scenario", data.scenarios)
    section = {a: {"share": float(data.sharing_share[i]), "contribution_musd": float(contrib[i]),
                   "budget_cap_musd": float(data.budget_cap_musd[i]),
                   "consumer_cost_musd": float(consumer[i]),
                   "tariff_revenue_musd": float(revenue[i]),
                   "net_cost_musd": float(net[i])}
               for i, a in enumerate(data.members)}
    _cap_report(m, data, section, outlay_by_scenario)
    return {"contributions": section,
            "tables": {"contributions.csv": table, "contributions_by_scenario.csv": by_scenario}}


def _cap_report(m: pyo.ConcreteModel, data: ModelData, section: dict,
                outlay_by_scenario: np.ndarray) -> None:
    """Each capped ally's largest payment in a scenario (discounted) and in a year
    (undiscounted), next to its cap."""
    share = data.sharing_share
    ledger = m.cost_ledger
    year_outlay = max((sum(c * (v.value or 0.0) for c, v in ledger.year_terms(s, t))
                       for s in range(len(data.scenarios)) for t in range(len(data.years))),
                      default=0.0) if ledger.track_years else None
    for i, a in enumerate(data.members):
        if np.isfinite(data.cap_per_scenario_musd[i]):
            section[a]["cap_per_scenario_musd"] = float(data.cap_per_scenario_musd[i])
            section[a]["max_scenario_payment_musd"] = float(share[i] * outlay_by_scenario.max())
        if np.isfinite(data.cap_per_year_musd[i]) and year_outlay is not None:
            section[a]["cap_per_year_musd"] = float(data.cap_per_year_musd[i])
            section[a]["max_year_payment_musd"] = float(share[i] * year_outlay)
