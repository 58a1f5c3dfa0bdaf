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

    def balance(m, s, t, p):
        before = m.stock_level_t[s, t - 1, p] if t > 0 else 0.0
        return (m.stock_level_t[s, t, p]
                == before + m.stock_purchase_t[s, t, p] - m.stock_release_t[s, t, p])

    m.c_stock_balance = pyo.Constraint(m.S, m.T, m.SP, rule=balance)
    m.c_stock_limit = pyo.Constraint(
        m.S, m.T, m.SP, rule=lambda m, s, t, p: m.stock_level_t[s, t, p]
        <= m.stock_capacity_t[p])

    for p in stock_products:
        ledger.add_first("stockpile_build",
                         float(data.stock_fixed_cost_musd[p]) * m.stock_build[p]
                         + float(data.stock_capacity_cost_usd_per_kg[p]) * K
                         * m.stock_capacity_t[p])
    last = len(data.years) - 1
    price, d = data.price_usd_per_kg, data.discount
    for s in range(len(data.scenarios)):
        for p in stock_products:
            hold = float(data.stock_holding_cost_usd_per_kg_yr[p])
            for t in range(len(data.years)):
                ledger.add_second("stockpile_operation", s,
                                  float(d[t] * K * price[s, t, p]) * m.stock_purchase_t[s, t, p])
                if hold:
                    ledger.add_second("stockpile_operation", s,
                                      float(d[t] * K * hold) * m.stock_level_t[s, t, p])
            salvage = float(d[last] * K * data.stock_terminal_value_usd_per_kg[s, p])
            if salvage:
                ledger.add_second("stockpile_operation", s,
                                  -salvage * m.stock_level_t[s, last, p])
