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
                        - sum_t d_t * 1e-3 * sale[s,t,p] * release   (release_revenue)
terminal_value[s,p] = salvage_fraction[p] * price[s,T,p] (the final-year price, as
stockpile.csv documents). Releases are sold (their proceeds are the category
release_revenue, part of the outlay): sale = that year's price in an export-control year,
salvage_fraction x price in other years (selling down is a disposal of strategic stock,
valued like the stock left at the end, so the stock does not trade on the price path).
Releases also avoid shortfall (supply balance). The shortfall penalty is consumers' loss
net of the price they would pay, so the two do not count the same value twice
(docs/formulation.md, "Two views of cost").

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

The buyer-of-last-resort reserve (remech.model.reserve) shares the capacity:
  c_stock_limit[s,t,p]: stock_level + reserve_level <= stock_capacity_t
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.errors import InputError
from remech.model.data import MUSD_PER_T_USD_PER_KG as K
from remech.model.data import Context, ModelData
from remech.model.ledger import Category, Ledger, linear, values, var_array

# ----------------------------------------------------------------------------- prepare


def _nodes(ctx: Context) -> np.ndarray | None:
    """[s, t] integer id of each scenario's tree node per year (policy "tree")."""
    inst, design = ctx.inst, ctx.design
    if design.stockpile_policy != "tree":
        return None
    if inst.nodes is None or not len(inst.nodes):
        raise InputError(f"{design.path.name} [stockpile] policy = \"tree\": instance "
                         f"'{inst.name}' has no nodes.csv (scenario tree); write one with "
                         "remech scenarios generate --tree, or use policy = \"rule\"")
    keyed = inst.nodes.assign(key=inst.nodes["year"].astype(str) + "/" + inst.nodes["node"])
    codes = {k: i for i, k in enumerate(dict.fromkeys(keyed["key"]))}
    table = keyed.set_index(["scenario", "year"])["key"]
    return np.array([[codes[table[s, y]] for y in ctx.years] for s in ctx.scenarios],
                    dtype=int)


def prepare(ctx: Context) -> dict:
    """Costs and limits of each product's stockpile (stockpile.csv), which products have
    one (design [instruments] stockpile and a row), the policy and the scenario tree."""
    sp = ctx.inst.stockpile.set_index("product") if len(ctx.inst.stockpile) else None

    def stock(col: str) -> np.ndarray:
        if sp is None:
            return np.zeros(len(ctx.products))
        return sp[col].reindex(ctx.products).fillna(0.0).to_numpy(float)

    allowed = ctx.design.stockpile_products
    on = np.array([ctx.design.stockpile and sp is not None and p in sp.index
                   and (allowed is None or p in allowed) for p in ctx.products], dtype=bool)
    return {"stockpile_enabled": on,
            "stock_fixed_cost_musd": stock("fixed_cost_musd"),
            "stock_capacity_cost_usd_per_kg": stock("capacity_cost_usd_per_kg"),
            "stock_holding_cost_usd_per_kg_yr": stock("holding_cost_usd_per_kg_yr"),
            "stock_max_capacity_t": stock("max_capacity_t"),
            "stock_salvage_fraction": stock("salvage_fraction"),
            "stock_terminal_value_usd_per_kg": stock("salvage_fraction")[None, :]
            * ctx.price_usd_per_kg[:, -1, :],
            "stock_policy": ctx.design.stockpile_policy, "scenario_node": _nodes(ctx)}


def enabled(data: ModelData) -> bool:
    return bool(data.stockpile_enabled.any())


# ----------------------------------------------------------------------------- model


@dataclass
class Stock:
    """The handles other blocks use: arrays [s, t, k] of the stockpile's variables, with
    k = k_of[p] the position of product p among the stockpiled products."""

    products: list[int]
    k_of: dict[int, int]
    level: np.ndarray
    purchase: np.ndarray
    release: np.ndarray


def balance_rule(level, buy, sell, index: dict):
    """level[s,t] = level[s,t-1] + buy - sell (level[s,-1] = 0), as a constraint rule."""
    def rule(m, s, t, p):
        k = index[p]
        terms = [(1.0, level[s, t, k]), (-1.0, buy[s, t, k]), (1.0, sell[s, t, k])]
        if t > 0:
            terms.append((-1.0, level[s, t - 1, k]))
        return linear(terms) == 0.0
    return rule


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> Stock:
    products = [p for p in range(len(data.products)) if data.stockpile_enabled[p]]
    m.SP = pyo.Set(initialize=products, ordered=True)
    m.stock_build = pyo.Var(m.SP, within=pyo.Binary)
    m.stock_capacity_t = pyo.Var(m.SP, within=pyo.NonNegativeReals)
    m.stock_purchase_t = pyo.Var(m.S, m.T, m.SP, within=pyo.NonNegativeReals)
    m.stock_release_t = pyo.Var(m.S, m.T, m.SP, within=pyo.NonNegativeReals)
    m.stock_level_t = pyo.Var(m.S, m.T, m.SP, within=pyo.NonNegativeReals)
    if data.stock_policy == "rule":
        m.stock_target_t = pyo.Var(m.T, m.SP, within=pyo.NonNegativeReals)
        m.c_stock_target_cap = pyo.Constraint(
            m.T, m.SP, rule=lambda m, t, p: m.stock_target_t[t, p] <= m.stock_capacity_t[p])
    m.c_stock_capacity = pyo.Constraint(
        m.SP, rule=lambda m, p: m.stock_capacity_t[p]
        <= float(data.stock_max_capacity_t[p]) * m.stock_build[p])
    n_s, n_t, k_of = len(data.scenarios), len(data.years), {p: k for k, p in enumerate(m.SP)}
    stock = Stock(products, k_of, var_array(m.stock_level_t, n_s, n_t, len(k_of)),
                  var_array(m.stock_purchase_t, n_s, n_t, len(k_of)),
                  var_array(m.stock_release_t, n_s, n_t, len(k_of)))
    m.c_stock_balance = pyo.Constraint(m.S, m.T, m.SP, rule=balance_rule(
        stock.level, stock.purchase, stock.release, k_of))
    for p in products:
        ledger.add_first(Category.STOCKPILE_BUILD, data.stock_fixed_cost_musd[p],
                         m.stock_build[p], 0)
        ledger.add_first(Category.STOCKPILE_BUILD, data.stock_capacity_cost_usd_per_kg[p] * K,
                         m.stock_capacity_t[p], 0)
    operation_costs(ledger, data, stock, k_of, Category.STOCKPILE_OPERATION,
                    sale_price(data, data.price_usd_per_kg))
    return stock


def add_limits(m: pyo.ConcreteModel, data: ModelData, stock: Stock, reserve) -> None:
    """The capacity shared with the reserve (``reserve``: remech.model.reserve.Reserve or
    None) and, under policy "rule", the level at the target in years without a cut."""
    level, k_of = stock.level, stock.k_of

    def limit(m, s, t, p):
        terms = [(1.0, level[s, t, k_of[p]]), (-1.0, m.stock_capacity_t[p])]
        if reserve is not None and p in reserve.r_of:
            terms.append((1.0, reserve.level[s, t, reserve.r_of[p]]))
        return linear(terms) <= 0.0

    m.c_stock_limit = pyo.Constraint(m.S, m.T, m.SP, rule=limit)
    if data.stock_policy != "rule":
        return
    cut = data.cut
    normal = [(s, t, p) for s in m.S for t in m.T for p in m.SP if not cut[s, t, p]]
    m.c_stock_rule_level = pyo.Constraint(normal, rule=lambda m, s, t, p: linear(
        [(1.0, level[s, t, k_of[p]]), (-1.0, m.stock_target_t[t, p])]) == 0.0)
    for s, t, p in zip(*np.nonzero(cut), strict=True):  # no market purchases in a cut
        if p in k_of:
            stock.purchase[s, t, k_of[p]].fix(0.0)


def sale_price(data: ModelData, price_usd_per_kg: np.ndarray) -> np.ndarray:
    """[s, t, p] what a kg released earns: ``price_usd_per_kg`` in an export-control year
    (the stock does what it is for), the salvage fraction of it otherwise (a disposal of
    strategic stock, valued like the stock left at the end: no trading on the price path)."""
    return np.where(data.cut, price_usd_per_kg,
                    data.stock_salvage_fraction[None, None, :] * price_usd_per_kg)


def operation_costs(ledger: Ledger, data: ModelData, store, index: dict,
                    purchase_category: Category, sale_usd_per_kg: np.ndarray) -> None:
    """Purchases at the market price (in ``purchase_category``), holding and the terminal
    value of the stock left (both in stockpile_operation), and the proceeds of releases
    sold at ``sale_usd_per_kg`` [s, t, p] (release_revenue), discounted, per scenario.
    ``store``: the Stock or Reserve handles (level, purchases or buys, releases)."""
    n_s, n_t = len(data.scenarios), len(data.years)
    last = n_t - 1
    level = store.level
    buy = store.purchase if isinstance(store, Stock) else store.buy
    sell = store.release
    d = data.discount[None, :, None] * K
    buy_cost, sale = d * data.price_usd_per_kg, d * sale_usd_per_kg  # [s, t, p]
    for s in range(n_s):
        for p, k in index.items():
            hold = float(data.stock_holding_cost_usd_per_kg_yr[p])
            for t in range(n_t):
                ledger.add_second(purchase_category, s, buy_cost[s, t, p], buy[s, t, k], t)
                if hold:
                    ledger.add_second(Category.STOCKPILE_OPERATION, s,
                                      data.discount[t] * K * hold, level[s, t, k], t)
                if not np.isnan(sale[s, t, p]):  # nan: priced by the caller
                    ledger.add_second(Category.RELEASE_REVENUE, s, -sale[s, t, p],
                                      sell[s, t, k], t)
            salvage = float(data.discount[last] * K
                            * data.stock_terminal_value_usd_per_kg[s, p])
            if salvage:
                ledger.add_second(Category.STOCKPILE_OPERATION, s, -salvage, level[s, last, k],
                                  last)


# ----------------------------------------------------------------------------- policy


def add_policy(m: pyo.ConcreteModel, data: ModelData, stock: Stock, reserve, balance) -> None:
    """The constraints of the stockpile policy that need the supply balance (``balance``:
    remech.model.supply.Balance); called after remech.model.supply.add."""
    if data.stock_policy == "rule":
        _rule_greedy(m, data, stock, reserve, balance)
    elif data.stock_policy == "tree":
        _tree(m, data, reserve)


def _rule_greedy(m, data: ModelData, stock: Stock, reserve, balance) -> None:
    """Greedy release in a cut: the stock (and the reserve) is drawn to zero, or the
    product has no shortfall; and nothing is released while supply is left over."""
    cut, cap = data.cut, data.stock_max_capacity_t
    most = most_shortfall_t(data, reserve, balance)
    idx = [(s, t, p) for s in m.S for t in m.T for p in m.SP
           if cut[s, t, p] and most[s, t, p] > 1e-9]
    m.stock_drawn = pyo.Var(idx, within=pyo.Binary)

    def held(s, t, p, var_stock, var_reserve) -> list:
        terms = [(1.0, var_stock[s, t, p])]
        if reserve is not None and p in reserve.r_of:
            terms.append((1.0, var_reserve[s, t, p]))
        return terms

    m.c_rule_drawn = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
        held(s, t, p, m.stock_level_t, getattr(m, "reserve_level_t", None))
        + [(float(cap[p]), m.stock_drawn[s, t, p])]) <= float(cap[p]))
    m.c_rule_covered = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
        [(1.0, balance.shortfall[s, t, p]), (-float(most[s, t, p]), m.stock_drawn[s, t, p])])
        <= 0.0)
    surplus = _most_surplus_t(data, balance)
    cells = [(s, t, p) for s in m.S for t in m.T for p in m.SP
             if cut[s, t, p] and data.demand_t[t, p] > 0]
    m.stock_surplus = pyo.Var(cells, within=pyo.Binary)
    rows = balance.rows
    m.c_rule_surplus = pyo.Constraint(cells, rule=lambda m, s, t, p: rows[s, t, p].body
                                      - float(surplus[s, t, p]) * m.stock_surplus[s, t, p]
                                      <= rows[s, t, p].lower)
    m.c_rule_no_release = pyo.Constraint(cells, rule=lambda m, s, t, p: linear(
        held(s, t, p, m.stock_release_t, getattr(m, "reserve_release_t", None))
        + [(float(cap[p]), m.stock_surplus[s, t, p])]) <= float(cap[p]))


def most_shortfall_t(data: ModelData, reserve, balance) -> np.ndarray:
    """[s, t, p] the largest shortfall possible: demand less the supply no decision can
    take away (China's available deliveries, other supply, output of projects outside
    the mechanism), or the whole demand where reserve purchases or reagent curtailment
    can take supply away."""
    outside = np.zeros(data.price_usd_per_kg.shape)
    for p in range(len(data.products)):
        outside[:, :, p] = data.outside_output_t[data.project_product == p].sum(0)
    fixed = outside + data.other_supply_t[None] + data.china_cap_t
    most = np.clip(data.demand_t[None] - fixed, 0.0, data.demand_t[None])
    if data.china_share_decided:  # a share target may leave China's supply unused
        return np.broadcast_to(data.demand_t[None], most.shape).copy()
    taken = list(reserve.r_of) if reserve is not None else []
    taken += [p for x in getattr(balance, "extra", ()) for p in x.taken]  # chain, offtake
    for p in taken + [int(data.project_product[j]) for j in balance.reagent_users]:
        most[:, :, p] = data.demand_t[None, :, p]
    return most


def _most_surplus_t(data: ModelData, balance=None) -> np.ndarray:
    """[s, t, p] an upper bound on supply beyond demand in the balance: every source at its
    largest (China's available deliveries, other supply, projects outside and the most any
    support option adds, the whole stockpile released, what an offtake adds) plus a
    shortfall of all demand. The value chain only takes supply away (its idle terms add at
    most what its use of the input takes)."""
    opt = data.options
    most = data.china_cap_t + data.other_supply_t[None] \
        + data.demand_t[None] + data.stock_max_capacity_t[None, None]
    extra = np.maximum(opt.output_t - data.outside_output_t[opt.project], 0.0)
    for j in range(len(data.projects)):
        p = int(data.project_product[j])
        mine = opt.project == j
        most[:, :, p] += data.outside_output_t[j] + (extra[mine].max(0) if mine.any() else 0)
    for x in getattr(balance, "extra", ()):
        if x.most_added_t is not None:
            most = most + x.most_added_t
    return most


def _tree(m, data: ModelData, reserve) -> None:
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
    names = ["stock_purchase_t", "stock_release_t", "stock_level_t"]
    if reserve is not None:
        names += ["reserve_buy_t", "reserve_release_t", "reserve_level_t"]
    for name in names:
        var = getattr(m, name)
        products = m.SP if name.startswith("stock") else m.RP
        idx = [(s, t, p) for s, _, t in pairs for p in products]
        m.add_component(f"c_nonanticipative_{name}", pyo.Constraint(
            idx, rule=lambda m, s, t, p, var=var: var[s, t, p] == var[first_of[s, t], t, p]))


# ----------------------------------------------------------------------------- report

POLICY_TEXT = {
    "rule": "rule: a target level per year chosen in advance; each year's purchases and "
            "releases use only that year's prices and export controls",
    "tree": "tree: decisions equal across scenarios that share their history (nodes.csv)",
    "clairvoyant": "CLAIRVOYANT BOUND: each scenario's stockpile sees its whole future; "
                   "no agency can follow this, it bounds what foresight would be worth",
}

STOCK_COLUMNS = ["product", "built", "capacity_t", "max_capacity_t", "at_max_capacity",
                 "expected_purchases_t", "expected_releases_t", "max_capacity_value_musd_per_t"]


def targets(m: pyo.ConcreteModel, data: ModelData) -> dict[str, list[float]]:
    """Policy "rule": the target level per year (t) of each stockpiled product."""
    if not hasattr(m, "stock_target_t"):
        return {}
    return {data.products[p]: [round(float(m.stock_target_t[t, p].value or 0.0), 6)
                               for t in m.T] for p in m.SP}


def report(m: pyo.ConcreteModel, data: ModelData, duals: dict, short: np.ndarray) -> dict:
    """The stockpile section of the mechanism and its tables. ``duals``: the capacity rows'
    duals with the integers fixed; ``short``: shortfall [s, t, p] as solved."""
    shape, prob = short.shape, data.probability
    built = hasattr(m, "SP")
    buy = values(m.stock_purchase_t, shape) if built else np.zeros(shape)
    rel = values(m.stock_release_t, shape) if built else np.zeros(shape)
    lev = values(m.stock_level_t, shape) if built else np.zeros(shape)
    rows, cap_value = [], capacity_value(m, duals) if built else {}
    for p in (m.SP if built else []):
        capacity = float(m.stock_capacity_t[p].value or 0.0)
        is_built = (m.stock_build[p].value or 0) > 0.5
        rows.append({
            "product": data.products[p], "built": bool(round(m.stock_build[p].value or 0)),
            "capacity_t": round(capacity, 6),
            "max_capacity_t": float(data.stock_max_capacity_t[p]),
            "at_max_capacity": bool(capacity >= data.stock_max_capacity_t[p] * (1 - 1e-6)
                                    and capacity > 0),
            "expected_purchases_t": float(prob @ buy[:, :, p].sum(1)),
            "expected_releases_t": float(prob @ rel[:, :, p].sum(1)),
            # MUSD saved per extra t of allowed capacity of a built stockpile (dual of
            # c_stock_capacity with the integers fixed; 0 when below its limit)
            "max_capacity_value_musd_per_t": cap_value.get(p, 0.0) if is_built else None})
    target = targets(m, data)
    sidx = pd.MultiIndex.from_product([data.scenarios, data.years, data.products],
                                      names=["scenario", "year", "product"])
    policy_df = pd.DataFrame({"purchase_t": buy.ravel(), "release_t": rel.ravel(),
                              "level_t": lev.ravel()}, index=sidx).reset_index()
    stocked = [data.products[p] for p in (m.SP if built else [])]
    policy_df = policy_df[policy_df["product"].isin(stocked)]
    targets_df = pd.DataFrame([{"product": p, "year": y, "target_t": v}
                               for p, vals in target.items()
                               for y, v in zip(data.years, vals, strict=True)],
                              columns=["product", "year", "target_t"])
    stock_df = pd.DataFrame(rows, columns=STOCK_COLUMNS)
    return {"stockpiles": stock_df, "policy": _policy(m, data, target, short, lev),
            "tables": {"stockpile.csv": stock_df, "stockpile_policy.csv": policy_df,
                       "stockpile_targets.csv": targets_df}}


def capacity_value(m: pyo.ConcreteModel, duals: dict) -> dict[int, float]:
    """MUSD saved per extra t of a product's max_capacity_t, from the duals of the LP with
    the integers fixed (remech.solving): max_capacity_t M is the right-hand side of
    c_stock_capacity (cap <= M build) and of the rule's rows that use it as a bound,
    c_rule_drawn (level + M drawn <= M), c_rule_no_release (release + M surplus <= M) and
    c_reserve_release_floor (release_l <= M floor_choice), so d cost / d M is the sum of
    each row's dual times the coefficient M carries in it."""
    value: dict[int, float] = {}

    def add(p: int, dual: float, coef: float) -> None:
        value[p] = value.get(p, 0.0) - dual * coef

    for p, dual in duals.get("c_stock_capacity", []):
        add(p, dual, round(m.stock_build[p].value or 0.0))
    for name, var in (("c_rule_drawn", "stock_drawn"), ("c_rule_no_release", "stock_surplus")):
        for (s, t, p), dual in duals.get(name, []):
            add(p, dual, 1.0 - round(getattr(m, var)[s, t, p].value or 0.0))
    for (_s, _t, p, l), dual in duals.get("c_reserve_release_floor", []):
        add(p, dual, round(m.floor_choice[p, l].value or 0.0))
    return value


def _policy(m, data: ModelData, target: dict, short: np.ndarray, lev: np.ndarray) -> dict:
    """How the stockpile decisions were taken, and a check that under the rule nothing was
    held back in a cut while the product ran short (the stock is drawn first)."""
    out = {"policy": data.stock_policy, "clairvoyant_bound": data.stock_policy == "clairvoyant",
           "meaning": POLICY_TEXT[data.stock_policy], "target_t_by_year": target,
           "years": data.years}
    if not hasattr(m, "SP"):
        return out
    if hasattr(m, "RP"):
        lev = lev + values(m.reserve_level_t, short.shape)
    held = 0.0
    for p in m.SP:
        both = np.minimum(lev[:, :, p], short[:, :, p]) * data.cut[:, :, p]
        held += float(data.probability @ both.sum(1))
    out["expected_held_back_while_short_t"] = held
    return out


# ----------------------------------------------------------------------------- first stage


def read_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    """Build, capacity and (policy "rule") the target level per year."""
    fs.stock = {data.products[p]: (round(m.stock_build[p].value or 0),
                                   float(m.stock_capacity_t[p].value or 0.0)) for p in m.SP}
    if hasattr(m, "stock_target_t"):
        fs.stock_target = {(data.products[p], data.years[t]): float(v.value or 0.0)
                           for (t, p), v in m.stock_target_t.items()}


def fix_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    for p in m.SP:
        build, cap = fs.stock.get(data.products[p], (0, 0.0))
        m.stock_build[p].fix(build)
        m.stock_capacity_t[p].fix(cap)
    if hasattr(m, "stock_target_t"):
        for (t, p), var in m.stock_target_t.items():
            var.fix(fs.stock_target.get((data.products[p], data.years[t]), 0.0))
