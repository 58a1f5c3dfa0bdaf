"""Supply-demand balance of the allied bloc, with shortfall at a penalty.

Variables (second stage)
  shortfall_t[s,t,p] in [0, demand_t[t,p]]

Constraint c_balance[s,t,p]:
    sum_j outside_output_t[j,s,t]
  + sum_{o of p} (output_t[o,s,t] - outside_output_t[j(o),s,t]) * support[o]
  + other_supply_t[t,p] + china_cap_t[s,t,p]
    (china_cap_t = china_supply_t in a year without a cut, china_availability x
     china_normal_deliveries_t in a cut year; see ModelData.china_cap_t)
    (or china_used_t[s,t,p] <= that, a variable, when a share target needs it)
  + stock_release_t[s,t,p] + shortfall_t[s,t,p]
  >= demand_t[t,p] + stock_purchase_t[s,t,p]

A project outside the mechanism produces outside_output_t (existing projects, and new
ones bankable at market prices, when the price covers their unit cost); supported at
level l it produces output_t[o]. Surplus supply is not bought (free disposal).

Options of a project whose output vectors are identical (typically all levels at or above
its unit cost: it then always runs) enter the balance through one aggregate
  support_group[g] in [0, 1],  c_support_group[g]: support_group[g] = sum_{o in g} support[o]
which is exact and cuts the balance rows' nonzeros by the number of levels per group.

Cost shortfall_loss[s] = sum_{t,p} d_t * penalty_usd_per_kg[p] * shortfall_t * 1e-3 (MUSD).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.model.core import linear, var_array
from remech.prepare import MUSD_PER_T_USD_PER_KG as K
from remech.prepare import ModelData


def add(m: pyo.ConcreteModel, data: ModelData, ledger) -> None:
    opt = data.options
    m.shortfall_t = pyo.Var(m.S, m.T, m.P, within=pyo.NonNegativeReals,
                            bounds=lambda m, s, t, p: (0.0, float(data.demand_t[t, p])))
    # constant supply [s, t, p]: outside output + other + available Chinese supply
    n_p = len(data.products)
    outside_by_p = np.zeros(data.price_usd_per_kg.shape)
    for p in range(n_p):
        mask = data.project_product == p
        outside_by_p[:, :, p] = data.outside_output_t[mask].sum(0)
    china_cap = data.china_cap_t  # [s, t, p] (ModelData.china_cap_t: the cut base)
    china_var = bool(np.any(~np.isnan(data.min_non_chinese_share))
                     or np.any(~np.isnan(data.max_single_country_share)))
    fixed = outside_by_p + data.other_supply_t[None] + (0.0 if china_var else china_cap)
    # China's deliveries are a variable only when a share target needs them:
    # china_used_t[s,t,p] in [0, china_cap_t]
    if china_var:
        m.china_used_t = pyo.Var(m.S, m.T, m.P, bounds=lambda m, s, t, p: (
            0.0, float(china_cap[s, t, p])))
    # marginal output of each option over staying outside: [o, s, t]
    extra = opt.output_t - data.outside_output_t[opt.project]
    # group options with identical marginal output: one balance term per group
    groups: dict[tuple[int, bytes], list[int]] = {}
    for o, j in enumerate(opt.project):
        groups.setdefault((int(j), extra[o].tobytes()), []).append(o)
    members = [g for g in groups.values() if np.any(extra[g[0]])]
    multi = [g for g in members if len(g) > 1]
    m.G = pyo.RangeSet(0, len(multi) - 1)
    m.support_group = pyo.Var(m.G, bounds=(0.0, 1.0))
    m.c_support_group = pyo.Constraint(
        m.G, rule=lambda m, g: m.support_group[g] == sum(m.support[o] for o in multi[g]))
    group_var = {}
    for g in members:
        group_var[g[0]] = m.support_group[multi.index(g)] if len(g) > 1 else m.support[g[0]]
    heads = np.array(sorted(group_var), dtype=int)
    heads_of = [heads[data.project_product[opt.project[heads]] == p] if len(heads) else heads
                for p in range(n_p)]
    n_s, n_t = len(data.scenarios), len(data.years)
    short = var_array(m.shortfall_t, n_s, n_t, n_p)
    stock_k = {p: k for k, p in enumerate(m.SP)}
    reserve_k = set(m.RP)
    release = var_array(m.stock_release_t, n_s, n_t, len(stock_k))
    purchase = var_array(m.stock_purchase_t, n_s, n_t, len(stock_k))
    heads_var = [[group_var[int(o)] for o in heads_of[p]] for p in range(n_p)]
    rhs = data.demand_t[None] - fixed  # [s, t, p]

    # refiners short of reagents may curtail output (design [security] reagent_limits):
    # reagent_curtail_t[s,t,j] >= 0 for the projects that use a limited reagent
    users = [int(j) for j in np.flatnonzero(data.reagent_use_t_per_t.sum(1) > 0)] \
        if data.reagents else []
    m.J_reagent = pyo.Set(initialize=users, ordered=True)
    m.reagent_curtail_t = pyo.Var(m.S, m.T, m.J_reagent, within=pyo.NonNegativeReals)
    users_of = {p: [j for j in users if data.project_product[j] == p] for p in range(n_p)}

    def balance(m, s, t, p):
        coef = extra[heads_of[p], s, t]
        terms = [(float(c), v) for v, c in zip(heads_var[p], coef, strict=True) if c]
        terms.append((1.0, short[s, t, p]))
        if china_var:
            terms.append((1.0, m.china_used_t[s, t, p]))
        k = stock_k.get(p)
        if k is not None:
            terms += [(1.0, release[s, t, k]), (-1.0, purchase[s, t, k])]
        terms += [(-1.0, m.reagent_curtail_t[s, t, j]) for j in users_of[p]]
        if p in reserve_k:
            terms += [(1.0, m.reserve_release_t[s, t, p]), (-1.0, m.reserve_buy_t[s, t, p])]
        return linear(terms) >= float(rhs[s, t, p])

    m.c_balance = pyo.Constraint(m.S, m.T, m.P, rule=balance)
    loss = data.discount[:, None] * data.shortfall_penalty_usd_per_kg[None, :] * K  # [t, p]
    active = [(t, p) for t in range(n_t) for p in range(n_p) if data.demand_t[t, p] > 0]
    for s in range(n_s):
        for t, p in active:
            ledger.add_second("shortfall_loss", s, loss[t, p], short[s, t, p])
