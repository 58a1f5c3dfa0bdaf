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
terminal_value[s,p] = salvage_fraction[p] * price[s,T,p] (the final-year price, as
stockpile.csv documents). Releases are valued through the shortfall they avoid (supply
balance); their sale proceeds are not credited.

Policy (design [stockpile] policy): what a second-stage decision may know.
  "rule" (default): the first stage chooses a target level per year,
      stock_target_t[t,p] >= 0, c_stock_target_cap[t,p]: target <= stock_capacity_t[p].
      The second stage only executes it, with what is known in year t:
      c_stock_rule_level[s,t,p]: level[s,t,p] = stock_target_t[t,p] in years without a cut
          (buy up to the target at that year's price; refill after a cut; sell down when
          the target falls);
      purchases are 0 in cut years (availability < 1), releases only then or to sell down;
      greedy release in a cut: either the stock (and the reserve) is drawn to zero or the
      product has no shortfall that year, with stock_drawn[s,t,p] in {0,1} where a
      shortfall is possible at all:
          c_rule_drawn[s,t,p]:  level + reserve_level <= max_capacity_t[p] (1 - drawn)
          c_rule_covered[s,t,p]: shortfall_t <= most_shortfall_t[s,t,p] drawn
      (most_shortfall_t: demand less the supply no decision can take away; all demand
      where a share target makes China's deliveries a decision); and no release while
      supply is left over, stock_surplus[s,t,p] in {0,1} in every cut year:
          c_rule_surplus[s,t,p]:    balance lhs - rhs <= most_surplus_t[s,t,p] surplus
          c_rule_no_release[s,t,p]: release + reserve_release <= max_capacity_t[p] (1 - surplus)
      so stock is never held back in a cut for a later year whose prices the scenario
      would reveal.
  "tree": decisions are equal across the scenarios that share a node of the instance's
      scenario tree (nodes.csv) in that year: c_nonanticipative_*[s,t,p] x[s,t,p] =
      x[s0(node),t,p] for purchases, releases, levels (and the reserve's).
  "clairvoyant": each scenario's second stage sees its whole path. A bound, not a
      mechanism: mechanism.json and the summary say so.

Buyer of last resort (products with last_resort_enabled): when the market is below the
floor, the mechanism buys supported producers' output at the floor into its own reserve
  reserve_buy_t, reserve_release_t, reserve_level_t [s,t,p] >= 0
  c_reserve_source[s,t,p]: reserve_buy_t <= sum_{o of p, F_o > price} output_t[o,s,t] support[o]
                           (not under policy "rule", whose c_rule_take fixes the purchases)
  c_reserve_balance[s,t,p]: reserve_level = reserve_level[t-1] + buy - release
  c_stock_limit: stock_level + reserve_level <= stock_capacity_t
Paying the floor = the top-up (already in category topup) + the market value, here in
category last_resort_purchase: d_t price reserve_buy 1e-3. Holding and terminal value as
above. Under policy "rule" the reserve buys a first-stage share reserve_share[t,p] of the
supported output offered below the floor in year t and releases only in cuts (greedy, as
the stockpile):
  c_rule_take[s,t,p]: reserve_buy_t = sum_o source[o,s,t] reserve_share_support[o,t]
  reserve_share_support[o,t] = reserve_share[t,p] x support[o], linearised exactly
Buy-back revenue (release x buy-back price) and the manufacturers' premium over the
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
    rule = data.stock_policy == "rule"
    if rule:
        m.stock_target_t = pyo.Var(m.T, m.SP, within=pyo.NonNegativeReals)
        m.c_stock_target_cap = pyo.Constraint(
            m.T, m.SP, rule=lambda m, t, p: m.stock_target_t[t, p] <= m.stock_capacity_t[p])

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
    if rule:
        _rule_levels(m, data, level, buy, k_of)

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
    m.reserve_source = {}  # (s, t, p) -> [(output t offered below the floor, option o)]
    level = var_array(m.reserve_level_t, n_s, n_t, len(r_of))
    buy = var_array(m.reserve_buy_t, n_s, n_t, len(r_of))
    sell = var_array(m.reserve_release_t, n_s, n_t, len(r_of))
    m.c_reserve_balance = pyo.Constraint(m.S, m.T, m.RP, rule=balance(level, buy, sell, r_of))
    opt = data.options
    below = (opt.floor_usd_per_kg[:, None, None]
             > data.price_usd_per_kg[:, :, data.project_product[opt.project]].transpose(2, 0, 1)
             ) & ~opt.is_tariff[:, None, None]  # [o, s, t]
    source = opt.output_t * below

    for s in range(n_s):  # (s, t, p) -> [(output t, support var)]: what can be offered
        for t in range(n_t):
            for p in products:
                idx = np.flatnonzero((data.project_product[opt.project] == p)
                                     & (source[:, s, t] > 0))
                m.reserve_source[s, t, p] = [(float(source[o, s, t]), int(o)) for o in idx]
    if data.stock_policy == "rule":  # c_rule_take fixes the purchases instead
        return level, buy, sell, r_of
    m.c_reserve_source = pyo.Constraint(m.S, m.T, m.RP, rule=lambda m, s, t, p: linear(
        [(1.0, buy[s, t, r_of[p]])]
        + [(-c, m.support[o]) for c, o in m.reserve_source[s, t, p]]) <= 0.0)
    return level, buy, sell, r_of


def _rule_levels(m, data: ModelData, level, buy, k_of: dict) -> None:
    """Policy "rule": the level equals the first-stage target in years without a cut;
    no market purchases in a cut."""
    cut = data.cut
    normal = [(s, t, p) for s in m.S for t in m.T for p in m.SP if not cut[s, t, p]]
    m.c_stock_rule_level = pyo.Constraint(normal, rule=lambda m, s, t, p: linear(
        [(1.0, level[s, t, k_of[p]]), (-1.0, m.stock_target_t[t, p])]) == 0.0)
    for s, t, p in zip(*np.nonzero(cut), strict=True):
        if p in k_of:
            buy[s, t, k_of[p]].fix(0.0)


def add_policy(m: pyo.ConcreteModel, data: ModelData) -> None:
    """The constraints of the stockpile policy that need the supply balance's variables
    (shortfall_t); called after remech.model.supply.add."""
    if not len(m.SP):
        return
    if data.stock_policy == "rule":
        _rule_greedy(m, data)
    elif data.stock_policy == "tree":
        _tree(m, data)


def _rule_greedy(m, data: ModelData) -> None:
    """Greedy release in a cut (stock and reserve drawn to zero, or no shortfall); the
    reserve releases only in cuts and buys its first-stage share of what is offered."""
    cut, cap = data.cut, data.stock_max_capacity_t
    most = _most_shortfall_t(m, data)
    idx = [(s, t, p) for s in m.S for t in m.T for p in m.SP
           if cut[s, t, p] and most[s, t, p] > 1e-9]
    m.stock_drawn = pyo.Var(idx, within=pyo.Binary)

    def stored(s, t, p) -> list:
        terms = [(1.0, m.stock_level_t[s, t, p])]
        if p in m.RP:
            terms.append((1.0, m.reserve_level_t[s, t, p]))
        return terms

    m.c_rule_drawn = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
        stored(s, t, p) + [(float(cap[p]), m.stock_drawn[s, t, p])]) <= float(cap[p]))
    m.c_rule_covered = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
        [(1.0, m.shortfall_t[s, t, p]), (-float(most[s, t, p]), m.stock_drawn[s, t, p])])
        <= 0.0)
    # no release while supply is left over (it would be thrown away): in a cut year either
    # the balance is tight or nothing is released
    surplus = _most_surplus_t(data)
    cells = [(s, t, p) for s in m.S for t in m.T for p in m.SP
             if cut[s, t, p] and data.demand_t[t, p] > 0]
    m.stock_surplus = pyo.Var(cells, within=pyo.Binary)
    m.c_rule_surplus = pyo.Constraint(cells, rule=lambda m, s, t, p: m.c_balance[s, t, p].body
                                      - float(surplus[s, t, p]) * m.stock_surplus[s, t, p]
                                      <= m.c_balance[s, t, p].lower)

    def no_release(m, s, t, p):
        terms = [(1.0, m.stock_release_t[s, t, p])]
        if p in m.RP:
            terms.append((1.0, m.reserve_release_t[s, t, p]))
        terms.append((float(cap[p]), m.stock_surplus[s, t, p]))
        return linear(terms) <= float(cap[p])

    m.c_rule_no_release = pyo.Constraint(cells, rule=no_release)
    if not len(m.RP):
        return
    for (s, t, p), v in m.reserve_release_t.items():
        if not cut[s, t, p]:
            v.fix(0.0)
    _rule_reserve_share(m, data)


def _most_shortfall_t(m, data: ModelData) -> np.ndarray:
    """[s, t, p] the largest shortfall possible: demand less the supply no decision can
    take away (China's available deliveries, other supply, output of projects outside
    the mechanism), or the whole demand where reserve purchases or reagent curtailment
    can take supply away."""
    outside = np.zeros(data.price_usd_per_kg.shape)
    for p in range(len(data.products)):
        outside[:, :, p] = data.outside_output_t[data.project_product == p].sum(0)
    fixed = outside + data.other_supply_t[None] + data.china_cap_t
    most = np.clip(data.demand_t[None] - fixed, 0.0, data.demand_t[None])
    if hasattr(m, "china_used_t"):  # a share target may leave China's supply unused
        return np.broadcast_to(data.demand_t[None], most.shape).copy()
    for p in list(m.RP) + [int(data.project_product[j]) for j in m.J_reagent]:
        most[:, :, p] = data.demand_t[None, :, p]
    return most


def _most_surplus_t(data: ModelData) -> np.ndarray:
    """[s, t, p] an upper bound on supply beyond demand in the balance: every source at its
    largest (China's available deliveries, other supply, projects outside and the most any
    support option adds, the whole stockpile released) plus a shortfall of all demand."""
    opt = data.options
    most = data.china_cap_t + data.other_supply_t[None] \
        + data.demand_t[None] + data.stock_max_capacity_t[None, None]
    extra = np.maximum(opt.output_t - data.outside_output_t[opt.project], 0.0)
    for j in range(len(data.projects)):
        p = int(data.project_product[j])
        mine = opt.project == j
        most[:, :, p] += data.outside_output_t[j] + (extra[mine].max(0) if mine.any() else 0)
    return most


def _rule_reserve_share(m, data: ModelData) -> None:
    """The reserve buys a share reserve_share[t,p] (first stage) of the supported output
    offered below the floor, reserve_buy_t[s,t,p] = sum_o source[o,s,t] share_support[o,t],
    with share_support[o,t] = reserve_share[t,p(o)] x support[o] linearised exactly
    (support is binary): share_support <= support, <= share, >= share + support - 1."""
    by_year: dict[tuple[int, int], set[int]] = {}  # (t, p) -> options with an offer
    for (_s, t, p), terms in m.reserve_source.items():
        by_year.setdefault((t, p), set()).update(o for _, o in terms)
    m.reserve_share = pyo.Var(m.T, m.RP, bounds=(0.0, 1.0))
    pairs = sorted((o, t) for (t, p), options in by_year.items() for o in options)
    p_of = {o: int(data.project_product[data.options.project[o]]) for o, _ in pairs}
    m.reserve_share_support = pyo.Var(pairs, bounds=(0.0, 1.0))
    w, share, sup = m.reserve_share_support, m.reserve_share, m.support
    m.c_rule_share_support = pyo.Constraint(pairs, rule=lambda m, o, t: w[o, t] <= sup[o])
    m.c_rule_share_level = pyo.Constraint(pairs, rule=lambda m, o, t: w[o, t]
                                          <= share[t, p_of[o]])
    m.c_rule_share_both = pyo.Constraint(pairs, rule=lambda m, o, t: w[o, t]
                                         >= share[t, p_of[o]] + sup[o] - 1)

    def take(m, s, t, p):
        terms = [(c, w[o, t]) for c, o in m.reserve_source[s, t, p]]
        return linear([(1.0, m.reserve_buy_t[s, t, p])] + [(-c, v) for c, v in terms]) == 0.0

    m.c_rule_take = pyo.Constraint(list(m.reserve_source), rule=take)


def _tree(m, data: ModelData) -> None:
    """Non-anticipativity on a scenario tree: scenarios in one node decide alike."""
    node = data.scenario_node
    pairs = []  # (s, s0, t): scenario s shares year t's node with its first member s0
    for t in range(len(data.years)):
        first: dict[int, int] = {}
        for s in range(len(data.scenarios)):
            s0 = first.setdefault(int(node[s, t]), s)
            if s0 != s:
                pairs.append((s, s0, t))
    first_of = {(s, t): s0 for s, s0, t in pairs}
    for name in ("stock_purchase_t", "stock_release_t", "stock_level_t", "reserve_buy_t",
                 "reserve_release_t", "reserve_level_t"):
        var = getattr(m, name)
        products = m.SP if name.startswith("stock") else m.RP
        idx = [(s, t, p) for s, _, t in pairs for p in products]
        m.add_component(f"c_nonanticipative_{name}", pyo.Constraint(
            idx, rule=lambda m, s, t, p, var=var: var[s, t, p] == var[first_of[s, t], t, p]))
