"""Buyer of last resort (products with last_resort_enabled): when the market is below the
floor, the mechanism buys supported producers' output at the floor into its own reserve
  reserve_buy_t, reserve_release_t, reserve_level_t [s,t,p] >= 0
  c_reserve_source[s,t,p]: reserve_buy_t <= sum_{o of p, F_o > price, t in o's contract}
                           output_t[o,s,t] support[o]
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
Releases are sold back (category release_revenue) at the design's buy-back price, or at
the chosen floor where it gives none (the salvage fraction of it outside export-control
years, as for the stockpile):
  c_reserve_release_split[s,t,p]: reserve_release_t = sum_l reserve_release_at_floor_t[.,l]
  c_reserve_release_floor[s,t,p,l]: reserve_release_at_floor_t <= max_capacity_t floor_choice
The manufacturers' premium over the market (buy-back - price) is reported after the solve.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.model.data import MUSD_PER_T_USD_PER_KG as K
from remech.model.data import Context, ModelData
from remech.model.ledger import Category, Ledger, linear, values, var_array
from remech.model.price_floor import Support
from remech.model.stockpile import Stock, balance_rule, operation_costs, sale_price

COLUMNS = ["product", "buyback_usd_per_kg", "expected_purchases_t", "expected_releases_t",
           "purchases_at_floor_musd", "of_which_market_value_musd", "of_which_topup_musd",
           "holding_musd", "buyback_revenue_musd", "manufacturers_premium_musd"]


def prepare(ctx: Context, stockpile_enabled: np.ndarray) -> dict:
    return {"last_resort_enabled": stockpile_enabled & ctx.design.buyer_of_last_resort,
            "buyback_usd_per_kg": ctx.per_product(ctx.design.buyback_usd_per_kg),
            "reserve_market_purchases": ctx.design.reserve_market_purchases}


def enabled(data: ModelData) -> bool:
    return bool((data.stockpile_enabled & data.last_resort_enabled).any())


@dataclass
class Reserve:
    """The handles other blocks use: arrays [s, t, r] of the reserve's variables, with
    r = r_of[p]; ``source[s, t, p]``: [(output t offered below the floor, option o)]."""

    r_of: dict[int, int]
    level: np.ndarray
    buy: np.ndarray
    release: np.ndarray
    source: dict


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, stock: Stock,
        support: Support) -> Reserve:
    """Variables, balance and (except under policy "rule") the source limit."""
    products = [p for p in stock.products if data.last_resort_enabled[p]]
    m.RP = pyo.Set(initialize=products, ordered=True)
    m.reserve_buy_t = pyo.Var(m.S, m.T, m.RP, within=pyo.NonNegativeReals)
    m.reserve_release_t = pyo.Var(m.S, m.T, m.RP, within=pyo.NonNegativeReals)
    m.reserve_level_t = pyo.Var(m.S, m.T, m.RP, within=pyo.NonNegativeReals)
    if not data.reserve_market_purchases:  # the reserve is the stockpile's only source
        for p in products:
            for v in stock.purchase[:, :, stock.k_of[p]].ravel():
                v.fix(0.0)
    n_s, n_t = len(data.scenarios), len(data.years)
    r_of = {p: k for k, p in enumerate(products)}
    res = Reserve(r_of, var_array(m.reserve_level_t, n_s, n_t, len(r_of)),
                  var_array(m.reserve_buy_t, n_s, n_t, len(r_of)),
                  var_array(m.reserve_release_t, n_s, n_t, len(r_of)), _sources(data, products))
    m.c_reserve_balance = pyo.Constraint(m.S, m.T, m.RP, rule=balance_rule(
        res.level, res.buy, res.release, r_of))
    if data.stock_policy != "rule":  # under the rule, c_rule_take fixes the purchases
        m.c_reserve_source = pyo.Constraint(m.S, m.T, m.RP, rule=lambda m, s, t, p: linear(
            [(1.0, res.buy[s, t, r_of[p]])]
            + [(-c, support.line[o]) for c, o in res.source[s, t, p]]) <= 0.0)
    operation_costs(ledger, data, res, r_of, Category.LAST_RESORT_PURCHASE, _sale_price(data))
    _floor_revenue(m, data, ledger, res, support)
    return res


def _sale_price(data: ModelData) -> np.ndarray:
    """[s, t, p] what a release earns where the design gives a buy-back price (nan where
    the buy-back is at the chosen floor: _floor_revenue prices those)."""
    back = np.broadcast_to(data.buyback_usd_per_kg[None, None, :],
                           data.price_usd_per_kg.shape)
    return sale_price(data, back)


def _floor_revenue(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, res: Reserve,
                   support: Support) -> None:
    """Releases sold back at the chosen floor: release = sum_l release_at_floor[s,t,p,l],
    release_at_floor[s,t,p,l] <= max_capacity_t[p] floor_choice[p,l] (exact: one entry is
    chosen), earning F_l (salvage fraction of it outside cuts) per kg."""
    cells = [(p, e.index, e.level_usd_per_kg) for p in res.r_of
             if np.isnan(data.buyback_usd_per_kg[p])
             for e in data.menus[p] if e.level_usd_per_kg > 0 and not e.is_tariff]
    if not cells:
        return
    idx = [(s, t, p, l) for s in m.S for t in m.T for p, l, _ in cells]
    m.reserve_release_at_floor_t = pyo.Var(idx, within=pyo.NonNegativeReals)
    r = m.reserve_release_at_floor_t
    levels = {p: [(l, f) for q, l, f in cells if q == p] for p in {c[0] for c in cells}}
    m.c_reserve_release_split = pyo.Constraint(
        [(s, t, p) for s in m.S for t in m.T for p in levels], rule=lambda m, s, t, p: linear(
            [(1.0, res.release[s, t, res.r_of[p]])] + [(-1.0, r[s, t, p, l])
                                                      for l, _ in levels[p]]) == 0.0)
    cap = data.stock_max_capacity_t
    m.c_reserve_release_floor = pyo.Constraint(idx, rule=lambda m, s, t, p, l: linear(
        [(1.0, r[s, t, p, l]), (-float(cap[p]), support.floor_choice[p, l])]) <= 0.0)
    factor = sale_price(data, np.ones_like(data.price_usd_per_kg))  # 1 in cuts, else salvage
    for s, t, p, l in idx:
        f = dict(levels[p])[l]
        ledger.add_second(Category.RELEASE_REVENUE, s,
                          -data.discount[t] * K * factor[s, t, p] * f, r[s, t, p, l], t)


def _sources(data: ModelData, products: list[int]) -> dict:
    """(s, t, p) -> [(output t, option o)]: the supported output offered below the floor
    during the floor contract (after it the producer sells at market prices)."""
    opt = data.options
    below = (opt.floor_usd_per_kg[:, None, None]
             > data.price_usd_per_kg[:, :, data.project_product[opt.project]].transpose(2, 0, 1)
             ) & ~opt.is_tariff[:, None, None] & opt.in_contract[:, None, :]  # [o, s, t]
    source = opt.output_t * below
    out = {}
    for s in range(len(data.scenarios)):
        for t in range(len(data.years)):
            for p in products:
                idx = np.flatnonzero((data.project_product[opt.project] == p)
                                     & (source[:, s, t] > 0))
                out[s, t, p] = [(float(source[o, s, t]), int(o)) for o in idx]
    return out


def add_policy(m: pyo.ConcreteModel, data: ModelData, res: Reserve, support: Support) -> None:
    """Policy "rule": the reserve releases only in cuts (drawn with the stockpile, see
    remech.model.stockpile) and buys its first-stage share of what is offered."""
    if data.stock_policy != "rule":
        return
    cut = data.cut
    for (s, t, p), v in m.reserve_release_t.items():
        if not cut[s, t, p]:
            v.fix(0.0)
    _rule_share(m, data, res, support)


def _rule_share(m, data: ModelData, res: Reserve, support: Support) -> None:
    """The reserve buys a share reserve_share[t,p] (first stage) of the supported output
    offered below the floor, reserve_buy_t[s,t,p] = sum_o source[o,s,t] share_support[o,t],
    with share_support[o,t] = reserve_share[t,p(o)] x support[o] linearised exactly
    (support is binary): share_support <= support, <= share, >= share + support - 1."""
    by_year: dict[tuple[int, int], set[int]] = {}  # (t, p) -> options with an offer
    for (_s, t, p), terms in res.source.items():
        by_year.setdefault((t, p), set()).update(o for _, o in terms)
    m.reserve_share = pyo.Var(m.T, m.RP, bounds=(0.0, 1.0))
    pairs = sorted((o, t) for (t, p), options in by_year.items() for o in options)
    p_of = {o: int(data.project_product[data.options.project[o]]) for o, _ in pairs}
    m.reserve_share_support = pyo.Var(pairs, bounds=(0.0, 1.0))
    w, share, sup = m.reserve_share_support, m.reserve_share, support.line
    m.c_rule_share_support = pyo.Constraint(pairs, rule=lambda m, o, t: w[o, t] <= sup[o])
    m.c_rule_share_level = pyo.Constraint(pairs, rule=lambda m, o, t: w[o, t]
                                          <= share[t, p_of[o]])
    m.c_rule_share_both = pyo.Constraint(pairs, rule=lambda m, o, t: w[o, t]
                                         >= share[t, p_of[o]] + sup[o] - 1)

    def take(m, s, t, p):
        terms = [(c, w[o, t]) for c, o in res.source[s, t, p]]
        return linear([(1.0, m.reserve_buy_t[s, t, p])] + [(-c, v) for c, v in terms]) == 0.0

    m.c_rule_take = pyo.Constraint(list(res.source), rule=take)


def report(m: pyo.ConcreteModel, data: ModelData, floors: dict) -> pd.DataFrame:
    """Purchases at the floor, releases sold back at the buy-back price (expected, MUSD)."""
    rows = []
    if hasattr(m, "RP") and len(m.RP):
        prob = data.probability
        shape = (len(data.scenarios), len(data.years), len(data.products))
        r_buy, r_rel, r_lev = (values(m.reserve_buy_t, shape),
                               values(m.reserve_release_t, shape),
                               values(m.reserve_level_t, shape))
        w = prob[:, None] * data.discount[None, :] * K  # [s, t] -> MUSD per t x USD/kg
        for p in m.RP:
            name = data.products[p]
            floor = floors[name] or 0.0
            back = data.buyback_usd_per_kg[p] if not np.isnan(data.buyback_usd_per_kg[p]) \
                else floor
            pi = data.price_usd_per_kg[:, :, p]
            rows.append({
                "product": name, "buyback_usd_per_kg": back,
                "expected_purchases_t": float(prob @ r_buy[:, :, p].sum(1)),
                "expected_releases_t": float(prob @ r_rel[:, :, p].sum(1)),
                "purchases_at_floor_musd": float((w * floor * r_buy[:, :, p]).sum()),
                "of_which_market_value_musd": float((w * pi * r_buy[:, :, p]).sum()),
                "of_which_topup_musd": float((w * (floor - pi) * r_buy[:, :, p]).sum()),
                "holding_musd": float((w * data.stock_holding_cost_usd_per_kg_yr[p]
                                       * r_lev[:, :, p]).sum()),
                "buyback_revenue_musd": float((w * back * r_rel[:, :, p]).sum()),
                "manufacturers_premium_musd": float((w * (back - pi) * r_rel[:, :, p]).sum()),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def reserve_values(m: pyo.ConcreteModel, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(purchases, releases) [s, t, p] of the reserve as solved (zeros without one)."""
    if not hasattr(m, "RP"):
        return np.zeros(shape), np.zeros(shape)
    return values(m.reserve_buy_t, shape), values(m.reserve_release_t, shape)


def read_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    if hasattr(m, "reserve_share"):
        fs.reserve_share = {(data.products[p], data.years[t]): float(v.value or 0.0)
                            for (t, p), v in m.reserve_share.items()}


def fix_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    if hasattr(m, "reserve_share"):
        for (t, p), var in m.reserve_share.items():
            var.fix(fs.reserve_share.get((data.products[p], data.years[t]), 0.0))
