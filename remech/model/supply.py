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

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.model.data import MUSD_PER_T_USD_PER_KG as K
from remech.model.data import T_PER_KT as CURTAIL_KT
from remech.model.data import Context, ModelData, grid
from remech.model.ledger import Category, Ledger, linear, linear_value, values, var_array
from remech.model.price_floor import Support


def prepare(ctx: Context) -> dict:
    """Demand, China's and other supply, availability and the shortfall penalty."""
    inst, keys = ctx.inst, [("product", ctx.products), ("year", ctx.years)]
    china = grid(inst.supply, keys, "china_supply_t", 0.0).T
    normal = grid(inst.supply, keys, "china_normal_deliveries_t", np.nan).T \
        if "china_normal_deliveries_t" in inst.supply else np.full_like(china, np.nan)
    return {
        "china_availability": grid(inst.availability, [("scenario", ctx.scenarios),
                                                       ("year", ctx.years),
                                                       ("product", ctx.products)],
                                   "china_availability", 1.0),
        "demand_t": ctx.demand_by_ally_t.sum(0), "demand_by_ally_t": ctx.demand_by_ally_t,
        "china_supply_t": china,
        # blank: the old base, china_supply_t
        "china_normal_deliveries_t": np.where(np.isnan(normal), china, normal),
        "other_supply_t": grid(inst.supply, keys, "other_supply_t", 0.0).T,
        "shortfall_penalty_usd_per_kg":
            inst.products["shortfall_penalty_usd_per_kg"].to_numpy(float)}


@dataclass
class BalanceTerms:
    """Terms another block adds to c_balance[s,t,p] (remech.model.chain, remech.model
    .offtake): left-hand-side terms by (s, t, p), a constant added to the right-hand side
    [s, t, p], the products whose supply its decisions can take away, and an upper bound
    on what it adds to the left-hand side [s, t, p] (for the stockpile rule's bounds)."""

    terms: dict
    rhs_t: np.ndarray
    taken: set
    most_added_t: np.ndarray | None = None
    #: the value chain's use of each product by converters: use_t [s, t, p] (constant)
    #: + sum of use_terms[(s, t, p)] (coef, var): what share targets count besides demand
    use_t: np.ndarray | None = None
    use_terms: dict | None = None


@dataclass
class Balance:
    """The handles other blocks use: shortfall_t [s, t, p], the balance rows, China's
    deliveries when they are a decision (else None) and the reagent-curtailing projects."""

    shortfall: pyo.Var
    rows: pyo.Constraint
    china_used: pyo.Var | None
    reagent_users: list[int]
    #: the other blocks' terms in the balance (remech.model.chain, remech.model.offtake)
    extra: tuple = ()


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support,
        stock=None, reserve=None, curtail=None, extra: tuple = ()) -> Balance:
    """The balance with the stockpile's (remech.model.stockpile.Stock), the reserve's
    (remech.model.reserve.Reserve) and the reagent curtailment's (remech.model.reagents
    .Curtailment) terms where those blocks exist, and the ``extra`` BalanceTerms of the
    value chain and the offtakes (none: the balance as without them)."""
    m.shortfall_t = pyo.Var(m.S, m.T, m.P, within=pyo.NonNegativeReals,
                            bounds=lambda m, s, t, p: (0.0, float(data.demand_t[t, p])))
    n_p = len(data.products)
    outside_by_p = np.zeros(data.price_usd_per_kg.shape)  # [s, t, p]
    for p in range(n_p):
        outside_by_p[:, :, p] = data.outside_output_t[data.project_product == p].sum(0)
    china_cap = data.china_cap_t  # [s, t, p] (ModelData.china_cap_t: the cut base)
    china_var = data.china_share_decided
    fixed = outside_by_p + data.other_supply_t[None] + (0.0 if china_var else china_cap)
    # China's deliveries are a variable only when a share target needs them:
    # china_used_t[s,t,p] in [0, china_cap_t]
    if china_var:
        m.china_used_t = pyo.Var(m.S, m.T, m.P, bounds=lambda m, s, t, p: (
            0.0, float(china_cap[s, t, p])))
    heads_of, heads_var, marginal = _groups(m, data, support)
    n_s, n_t = len(data.scenarios), len(data.years)
    short = var_array(m.shortfall_t, n_s, n_t, n_p)
    rhs = data.demand_t[None] - fixed  # [s, t, p]
    for x in extra:
        rhs = rhs + x.rhs_t
    users = curtail.users if curtail is not None else []
    users_of = {p: [j for j in users if data.project_product[j] == p] for p in range(n_p)}
    k_of = stock.k_of if stock is not None else {}
    r_of = reserve.r_of if reserve is not None else {}

    def balance(m, s, t, p):
        coef = marginal[heads_of[p], s, t]
        terms = [(float(c), v) for v, c in zip(heads_var[p], coef, strict=True) if c]
        terms.append((1.0, short[s, t, p]))
        if china_var:
            terms.append((1.0, m.china_used_t[s, t, p]))
        k = k_of.get(p)
        if k is not None:
            terms += [(1.0, stock.release[s, t, k]), (-1.0, stock.purchase[s, t, k])]
        terms += [(-CURTAIL_KT, curtail.var[s, t, j]) for j in users_of[p]]
        r = r_of.get(p)
        if r is not None:
            terms += [(1.0, reserve.release[s, t, r]), (-1.0, reserve.buy[s, t, r])]
        for x in extra:
            terms += x.terms.get((s, t, p), [])
        return linear(terms) >= float(rhs[s, t, p])

    m.c_balance = pyo.Constraint(m.S, m.T, m.P, rule=balance)
    loss = data.discount[:, None] * data.shortfall_penalty_usd_per_kg[None, :] * K  # [t, p]
    active = [(t, p) for t in range(n_t) for p in range(n_p) if data.demand_t[t, p] > 0]
    for s in range(n_s):
        for t, p in active:
            ledger.add_second(Category.SHORTFALL_LOSS, s, loss[t, p], short[s, t, p])
    return Balance(m.shortfall_t, m.c_balance, getattr(m, "china_used_t", None), users,
                   tuple(extra))


def _groups(m, data: ModelData, support: Support):
    """Options of a project with identical marginal output enter the balance through one
    aggregate support_group[g] = sum_{o in g} support[o]. Returns, per product, the head
    option of each group, its variable, and the marginal output [o, s, t]."""
    opt = data.options
    extra = opt.output_t - data.outside_output_t[opt.project]
    groups: dict[tuple[int, bytes], list[int]] = {}
    for o, j in enumerate(opt.project):
        groups.setdefault((int(j), extra[o].tobytes()), []).append(o)
    members = [g for g in groups.values() if np.any(extra[g[0]])]
    multi = [g for g in members if len(g) > 1]
    m.G = pyo.RangeSet(0, len(multi) - 1)
    m.support_group = pyo.Var(m.G, bounds=(0.0, 1.0))
    m.c_support_group = pyo.Constraint(
        m.G, rule=lambda m, g: m.support_group[g]
        == sum(support.line[o] for o in multi[g]))
    group_var = {}
    for g in members:
        group_var[g[0]] = m.support_group[multi.index(g)] if len(g) > 1 \
            else support.line[g[0]]
    heads = np.array(sorted(group_var), dtype=int)
    heads_of = [heads[data.project_product[opt.project[heads]] == p] if len(heads) else heads
                for p in range(len(data.products))]
    heads_var = [[group_var[int(o)] for o in heads_of[p]] for p in range(len(data.products))]
    return heads_of, heads_var, extra


def report(m: pyo.ConcreteModel, data: ModelData, used_t: np.ndarray | None = None) -> dict:
    """Shortfall, China's deliveries actually needed and the non-Chinese share, after the
    solve. ``used_t`` [s, t, p]: what the value chain's converters used of each product
    (remech.model.chain).

    China's deliveries needed are what China offers (china_cap_t, or china_used_t where a
    share target makes it a variable) less the balance row's surplus, within [0, offer]:
    the surplus is left with China first, and every term of the row counts (stock and
    reserve purchases and releases, reagent curtailment, converters' use, offtake resale)."""
    S, T, P = len(data.scenarios), len(data.years), len(data.products)
    prob = data.probability
    short = values(m.shortfall_t, (S, T, P))
    surplus = np.zeros((S, T, P))
    for (s, t, p), row in m.c_balance.items():
        surplus[s, t, p] = linear_value(row.body) - float(pyo.value(row.lower))
    offer = values(m.china_used_t, (S, T, P)) if hasattr(m, "china_used_t") \
        else data.china_cap_t
    china_used = np.clip(offer - np.maximum(surplus, 0.0), 0.0, data.china_cap_t)
    demand = data.demand_t.sum(0)
    # the product's use in the alliance: final demand and what the chain's converters use
    use = demand + (np.einsum("s,stp->p", prob, used_t) if used_t is not None else 0.0)
    non_chinese = 1.0 - np.einsum("s,stp->p", prob, china_used) / np.where(
        use > 0, use, 1.0)
    exp_short = np.einsum("s,stp->p", prob, short)
    shortfall = {name: {"expected_t": float(exp_short[p]),
                        "expected_share": float(exp_short[p] / demand[p]) if demand[p] else 0.0}
                 for p, name in enumerate(data.products)}
    sidx = pd.MultiIndex.from_product([data.scenarios, data.years, data.products],
                                      names=["scenario", "year", "product"])
    table = pd.DataFrame({"shortfall_t": short.ravel(), "demand_t": np.broadcast_to(
        data.demand_t[None], short.shape).ravel()}, index=sidx).reset_index()
    return {"shortfall_t": short, "china_used_t": china_used, "shortfall": shortfall,
            "non_chinese_share": dict(zip(data.products, non_chinese.tolist(), strict=True)),
            "tables": {"shortfall.csv": table}}
