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

Buyer of last resort (products with last_resort_enabled): when the market is below the
floor, the mechanism buys supported producers' output at the floor into its own reserve
  reserve_buy_t, reserve_release_t, reserve_level_t [s,t,p] >= 0
  c_reserve_source[s,t,p]: reserve_buy_t <= sum_{o of p, F_o > price} output_t[o,s,t] support[o]
  c_reserve_balance[s,t,p]: reserve_level = reserve_level[t-1] + buy - release
  c_stock_limit: stock_level + reserve_level <= stock_capacity_t
Paying the floor = the top-up (already in category topup) + the market value, here in
category last_resort_purchase: d_t price reserve_buy 1e-3. Holding and terminal value as
above. Buy-back revenue (release x buy-back price) and the manufacturers' premium over the
market (buy-back - price) are reported after the solve, not optimised (releases are valued
by the shortfall they avoid, as for the stockpile).
"""

from __future__ import annotations

import numpy as np
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
    m.RP = pyo.Set(initialize=[p for p in stock_products if data.last_resort_enabled[p]],
                   ordered=True)
    m.reserve_buy_t = pyo.Var(m.S, m.T, m.RP, within=pyo.NonNegativeReals)
    m.reserve_release_t = pyo.Var(m.S, m.T, m.RP, within=pyo.NonNegativeReals)
    m.reserve_level_t = pyo.Var(m.S, m.T, m.RP, within=pyo.NonNegativeReals)
    if not stock_products:
        return

    m.c_stock_capacity = pyo.Constraint(
        m.SP, rule=lambda m, p: m.stock_capacity_t[p]
        <= float(data.stock_max_capacity_t[p]) * m.stock_build[p])

    n_s, n_t, k_of = len(data.scenarios), len(data.years), {p: k for k, p in enumerate(m.SP)}
    level = var_array(m.stock_level_t, n_s, n_t, len(k_of))
    buy = var_array(m.stock_purchase_t, n_s, n_t, len(k_of))
    sell = var_array(m.stock_release_t, n_s, n_t, len(k_of))

    def balance(level, buy, sell, index=k_of):
        def rule(m, s, t, p):
            k = index[p]
            terms = [(1.0, level[s, t, k]), (-1.0, buy[s, t, k]), (1.0, sell[s, t, k])]
            if t > 0:
                terms.append((-1.0, level[s, t - 1, k]))
            return linear(terms) == 0.0
        return rule

    m.c_stock_balance = pyo.Constraint(m.S, m.T, m.SP, rule=balance(level, buy, sell))
    if not data.reserve_market_purchases:  # the reserve is the stockpile's only source
        for (_s, _t, p), v in m.stock_purchase_t.items():
            if p in m.RP:
                v.fix(0.0)
    reserve = _last_resort(m, data, k_of, balance)

    def limit(m, s, t, p):
        terms = [(1.0, level[s, t, k_of[p]]), (-1.0, m.stock_capacity_t[p])]
        if reserve is not None and p in reserve[3]:
            terms.append((1.0, reserve[0][s, t, reserve[3][p]]))
        return linear(terms) <= 0.0

    m.c_stock_limit = pyo.Constraint(m.S, m.T, m.SP, rule=limit)

    for p in stock_products:
        ledger.add_first("stockpile_build", data.stock_fixed_cost_musd[p], m.stock_build[p])
        ledger.add_first("stockpile_build", data.stock_capacity_cost_usd_per_kg[p] * K,
                         m.stock_capacity_t[p])
    _operation_costs(ledger, data, level, buy, k_of, "stockpile_operation")
    if reserve is not None:
        r_level, r_buy, _, r_of = reserve
        _operation_costs(ledger, data, r_level, r_buy, r_of, "last_resort_purchase")


def _operation_costs(ledger, data: ModelData, level, buy, index: dict,
                     purchase_category: str) -> None:
    """Purchases at the market price (in ``purchase_category``), holding, and the terminal
    value of the stock left (both in stockpile_operation), discounted, per scenario."""
    n_s, n_t = len(data.scenarios), len(data.years)
    last = n_t - 1
    buy_cost = data.discount[None, :, None] * K * data.price_usd_per_kg  # [s, t, p]
    for s in range(n_s):
        for p, k in index.items():
            hold = float(data.stock_holding_cost_usd_per_kg_yr[p])
            for t in range(n_t):
                ledger.add_second(purchase_category, s, buy_cost[s, t, p], buy[s, t, k])
                if hold:
                    ledger.add_second("stockpile_operation", s, data.discount[t] * K * hold,
                                      level[s, t, k])
            salvage = float(data.discount[last] * K
                            * data.stock_terminal_value_usd_per_kg[s, p])
            if salvage:
                ledger.add_second("stockpile_operation", s, -salvage, level[s, last, k])


def _last_resort(m, data: ModelData, k_of: dict, balance):
    """The buyer-of-last-resort reserve: variables, source limit and balance."""
    products = list(m.RP)
    if not products:
        return None
    n_s, n_t = len(data.scenarios), len(data.years)
    r_of = {p: k for k, p in enumerate(products)}
    level = var_array(m.reserve_level_t, n_s, n_t, len(r_of))
    buy = var_array(m.reserve_buy_t, n_s, n_t, len(r_of))
    sell = var_array(m.reserve_release_t, n_s, n_t, len(r_of))
    m.c_reserve_balance = pyo.Constraint(m.S, m.T, m.RP, rule=balance(level, buy, sell, r_of))
    opt = data.options
    below = (opt.floor_usd_per_kg[:, None, None]
             > data.price_usd_per_kg[:, :, data.project_product[opt.project]].transpose(2, 0, 1)
             ) & ~opt.is_tariff[:, None, None]  # [o, s, t]
    source = opt.output_t * below

    def rule(m, s, t, p):
        idx = np.flatnonzero((data.project_product[opt.project] == p) & (source[:, s, t] > 0))
        terms = [(float(source[o, s, t]), m.support[int(o)]) for o in idx]
        return linear([(1.0, buy[s, t, r_of[p]])] + [(-c, v) for c, v in terms]) <= 0.0

    m.c_reserve_source = pyo.Constraint(m.S, m.T, m.RP, rule=rule)
    return level, buy, sell, r_of
