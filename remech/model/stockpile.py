"""Stockpile: build decision, capacity, purchases, releases and inventory.

Defined for products whose stockpile is enabled (design [instruments] stockpile and a
row in stockpile.csv).

Variables (first stage)
  stock_build[p] in {0,1}; stock_capacity_t[p] >= 0
Variables (second stage, per s, t)
  stock_purchase_t[s,t,p], stock_release_t[s,t,p], stock_level_t[s,t,p] >= 0

Constraints
  c_stock_capacity[p]:  stock_capacity_t[p] <= max_capacity_t[p] * stock_build[p]
  c_stock_balance[s,t,p]: level[s,t,p] = level[s,t-1,p] + purchase[s,t,p] - release[s,t,p]
                          (level[s,-1,p] = 0: the stockpile starts empty)
  c_stock_limit[s,t,p]:  level[s,t,p] <= stock_capacity_t[p]

Costs (MUSD)
  stockpile_build (first stage): fixed_cost_musd * build + capacity_cost * capacity * 1e-3
  stockpile_operation[s]: sum_t d_t * 1e-3 * (price[s,t,p] * purchase + holding_cost * level)
                          - d_T * 1e-3 * terminal_value[s,p] * level[s,T,p]
terminal_value[s,p] = salvage_fraction[p] * min_t price[s,t,p]: stock left at the end is
worth at most what it could have been bought for, so that a stockpile cannot profit from
the foresight of prices that a scenario's second stage has. Releases are valued through
the shortfall they avoid (supply balance); their sale proceeds are not credited.
"""

from __future__ import annotations

import pyomo.environ as pyo

from remech.model.core import linear, var_array
from remech.prepare import MUSD_PER_T_USD_PER_KG as K
from remech.prepare import ModelData


def add(m: pyo.ConcreteModel, data: ModelData, ledger) -> None:
    stock_products = [p for p in range(len(data.products)) if data.stockpile_enabled[p]]
    m.SP = pyo.Set(initialize=stock_products, ordered=True)
    m.stock_build = pyo.Var(m.SP, within=pyo.Binary)
    m.stock_capacity_t = pyo.Var(m.SP, within=pyo.NonNegativeReals)
    m.stock_purchase_t = pyo.Var(m.S, m.T, m.SP, within=pyo.NonNegativeReals)
    m.stock_release_t = pyo.Var(m.S, m.T, m.SP, within=pyo.NonNegativeReals)
    m.stock_level_t = pyo.Var(m.S, m.T, m.SP, within=pyo.NonNegativeReals)
    if not stock_products:
        return

    m.c_stock_capacity = pyo.Constraint(
        m.SP, rule=lambda m, p: m.stock_capacity_t[p]
        <= float(data.stock_max_capacity_t[p]) * m.stock_build[p])

    n_s, n_t, k_of = len(data.scenarios), len(data.years), {p: k for k, p in enumerate(m.SP)}
    level = var_array(m.stock_level_t, n_s, n_t, len(k_of))
    buy = var_array(m.stock_purchase_t, n_s, n_t, len(k_of))
    sell = var_array(m.stock_release_t, n_s, n_t, len(k_of))

    def balance(m, s, t, p):
        k = k_of[p]
        terms = [(1.0, level[s, t, k]), (-1.0, buy[s, t, k]), (1.0, sell[s, t, k])]
        if t > 0:
            terms.append((-1.0, level[s, t - 1, k]))
        return linear(terms) == 0.0

    m.c_stock_balance = pyo.Constraint(m.S, m.T, m.SP, rule=balance)
    m.c_stock_limit = pyo.Constraint(
        m.S, m.T, m.SP, rule=lambda m, s, t, p: linear(
            [(1.0, level[s, t, k_of[p]]), (-1.0, m.stock_capacity_t[p])]) <= 0.0)

    for p in stock_products:
        ledger.add_first("stockpile_build", data.stock_fixed_cost_musd[p], m.stock_build[p])
        ledger.add_first("stockpile_build", data.stock_capacity_cost_usd_per_kg[p] * K,
                         m.stock_capacity_t[p])
    last = n_t - 1
    buy_cost = data.discount[None, :, None] * K * data.price_usd_per_kg  # [s, t, p]
    for s in range(n_s):
        for p, k in k_of.items():
            hold = float(data.stock_holding_cost_usd_per_kg_yr[p])
            for t in range(n_t):
                ledger.add_second("stockpile_operation", s, buy_cost[s, t, p], buy[s, t, k])
                if hold:
                    ledger.add_second("stockpile_operation", s, data.discount[t] * K * hold,
                                      level[s, t, k])
            salvage = float(data.discount[last] * K
                            * data.stock_terminal_value_usd_per_kg[s, p])
            if salvage:
                ledger.add_second("stockpile_operation", s, -salvage, level[s, last, k])
