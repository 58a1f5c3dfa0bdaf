"""Security targets. Each is hard, or soft with a penalty price (design [security] soft).

c_security[p] (max_expected_shortfall_share theta_p):
    sum_s prob_s sum_t shortfall_t[s,t,p] <= theta_p sum_t demand_t[t,p]
c_target_non_chinese[s,t,p] (min_non_chinese_share theta_p; EU CRMA processing: 40 %):
    china_used_t[s,t,p] - slack <= (1 - theta_p) use_t[s,t,p]
    use = demand_t[t,p] + what the value chain's converters use of p (remech.model.chain:
    sum_k a_kp (Q_kst - 1000 chain_idle_kt[s,t,k])); demand_t alone without conversions.csv
c_target_china_share[s,t,p] and c_target_host_share[s,t,p,k] (max_single_country_share
sigma_p; EU CRMA: 65 %), for China and for every host k whose projects could exceed it:
    china_used_t[s,t,p] - slack <= sigma_p use_t[s,t,p]
    sum_{j of k, p} output_j[s,t] - slack <= sigma_p demand_t[t,p]
    output_j[s,t] = outside_output_t[j,s,t] + sum_{o of j} (output_t[o,s,t] - outside) support[o]
c_target_cover[s,t,p] (stockpile_cover_days D_p; Japan 60, Korea 100 days), in the years
t >= 1 in which China supplies normally (availability 1), so that the stock can be drawn
in a cut:
    stock_level_t[s,t,p] + slack >= D_p / 365 x demand_t[t,p]
Soft: slack >= 0 costs penalty_usd_per_kg x slack x 1e-3 x d_t in category target_penalty.
Shadow prices: remech.solving re-solves the LP with the integer decisions fixed and reports
the duals of these rows (conditional on that fix); remech.results aggregates them per
target and product.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.errors import InputError
from remech.model.data import MUSD_PER_T_USD_PER_KG as K
from remech.model.data import Context, ModelData
from remech.model.ledger import Category, Ledger, linear
from remech.model.price_floor import Support


def prepare(ctx: Context, stockpile_enabled: np.ndarray) -> dict:
    """The targets per product (by product, else its stage, else '*') and soft penalties."""
    design = ctx.design
    cover = ctx.per_product(design.stockpile_cover_days)
    missing = [p for i, p in enumerate(ctx.products)
               if not np.isnan(cover[i]) and not stockpile_enabled[i]]
    if missing:
        raise InputError(f"{design.path.name} [security] stockpile_cover_days.{missing[0]}: "
                         f"no stockpile for '{missing[0]}'; enable [instruments] stockpile and "
                         "give the product a row in stockpile.csv, or drop the target")
    return {"max_expected_shortfall_share": ctx.per_product(design.max_expected_shortfall_share),
            "min_non_chinese_share": ctx.per_product(design.min_non_chinese_share),
            "max_single_country_share": ctx.per_product(design.max_single_country_share),
            "stockpile_cover_days": cover,
            "soft_penalty_usd_per_kg": dict(design.soft_penalty_usd_per_kg)}


def enabled(data: ModelData) -> bool:
    return bool(any(np.any(~np.isnan(x)) for x in (
        data.max_expected_shortfall_share, data.min_non_chinese_share,
        data.max_single_country_share, data.stockpile_cover_days)))


def slack_var(m, name: str, index, data: ModelData, ledger: Ledger, target: str):
    """Slack variables of a soft target (None when the target is hard)."""
    penalty = data.soft_penalty_usd_per_kg.get(target)
    if penalty is None:
        return None
    var = pyo.Var(index, within=pyo.NonNegativeReals)
    m.add_component(name, var)
    for key in index:
        s, t = key[0], key[1]
        ledger.add_second(Category.TARGET_PENALTY, s, data.discount[t] * penalty * K, var[key])
    return var


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support, balance,
        stock=None) -> None:
    """The targets, with the supply balance's handles (remech.model.supply.Balance) and the
    stockpile's (remech.model.stockpile.Stock, for the cover target)."""
    prob = data.probability
    n_s, n_t, n_p = len(data.scenarios), len(data.years), len(data.products)
    D = data.demand_t
    theta = data.max_expected_shortfall_share
    targets = [p for p in range(n_p) if not np.isnan(theta[p])]
    m.P_secured = pyo.Set(initialize=targets, ordered=True)
    m.c_security = pyo.Constraint(
        m.P_secured, rule=lambda m, p: sum(
            float(prob[s]) * balance.shortfall[s, t, p] for s in m.S for t in m.T)
        <= float(theta[p] * D[:, p].sum()))

    # a product's use: demand, plus what the value chain's converters use of it
    # (remech.model.chain; none without conversions.csv)
    chain_use = next((x for x in getattr(balance, "extra", ()) if x.use_terms is not None),
                     None)
    use_t = np.broadcast_to(D[None], (n_s, n_t, n_p)) if chain_use is None \
        else D[None] + chain_use.use_t
    can_use = use_t > 0
    if chain_use is not None:
        for (s, t, p) in chain_use.use_terms:
            can_use[s, t, p] = True

    def share_row(s, t, p, share, slack):
        """china_used - slack - share x chain use terms <= share x (D + chain use constant)"""
        terms = [(1.0, balance.china_used[s, t, p])] + ([(-1.0, slack[s, t, p])]
                                                        if slack else [])
        if chain_use is not None:
            terms += [(-share * c, v) for c, v in chain_use.use_terms.get((s, t, p), [])]
        return linear(terms) <= float(share * use_t[s, t, p])

    nc = data.min_non_chinese_share
    idx = [(s, t, p) for s in range(n_s) for t in range(n_t) for p in range(n_p)
           if not np.isnan(nc[p]) and can_use[s, t, p]]
    if idx:
        slack = slack_var(m, "slack_non_chinese_t", idx, data, ledger, "min_non_chinese_share")
        m.c_target_non_chinese = pyo.Constraint(idx, rule=lambda m, s, t, p: share_row(
            s, t, p, 1.0 - nc[p], slack))

    sigma = data.max_single_country_share
    idx = [(s, t, p) for s in range(n_s) for t in range(n_t) for p in range(n_p)
           if not np.isnan(sigma[p]) and can_use[s, t, p]]
    if idx:
        slack = slack_var(m, "slack_china_share_t", idx, data, ledger,
                          "max_single_country_share")
        m.c_target_china_share = pyo.Constraint(idx, rule=lambda m, s, t, p: share_row(
            s, t, p, sigma[p], slack))
        _host_shares(m, data, ledger, sigma, support)

    cover = data.stockpile_cover_days
    idx = [(s, t, p) for s in range(n_s) for t in range(1, n_t) for p in range(n_p)
           if not np.isnan(cover[p]) and data.china_availability[s, t, p] >= 1 - 1e-9]
    if idx:
        level, k_of = stock.level, stock.k_of
        slack = slack_var(m, "slack_cover_t", idx, data, ledger, "stockpile_cover_days")
        m.c_target_cover = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
            [(1.0, level[s, t, k_of[p]])] + ([(1.0, slack[s, t, p])] if slack else []))
            >= float(cover[p] / 365.0 * D[t, p]))


def _host_shares(m, data: ModelData, ledger: Ledger, sigma: np.ndarray,
                 support: Support) -> None:
    """Single-country caps for the hosts of projects, where they could bind."""
    opt = data.options
    extra = opt.output_t - data.outside_output_t[opt.project]
    hosts = sorted(set(data.project_host))
    rows = []
    for p in range(len(data.products)):
        if np.isnan(sigma[p]):
            continue
        for k in hosts:
            js = [j for j, h in enumerate(data.project_host)
                  if h == k and data.project_product[j] == p]
            if not js:
                continue
            most = data.outside_output_t[js].sum(0) + sum(
                np.maximum(extra[opt.project == j], 0).max(0, initial=0.0) for j in js)
            cap = sigma[p] * data.demand_t[:, p][None, :]
            for s, t in zip(*np.nonzero(most > cap + 1e-9), strict=True):
                rows.append((int(s), int(t), p, k, js))
    if not rows:
        return
    index = [(s, t, p, k) for s, t, p, k, _ in rows]
    slack = slack_var(m, "slack_host_share_t", index, data, ledger, "max_single_country_share")
    members = {(s, t, p, k): js for s, t, p, k, js in rows}

    def rule(m, s, t, p, k):
        terms = []
        for j in members[s, t, p, k]:
            for o in np.flatnonzero(opt.project == j):
                if extra[o, s, t]:
                    terms.append((float(extra[o, s, t]), support.line[int(o)]))
        if slack is not None:
            terms.append((-1.0, slack[s, t, p, k]))
        base = float(data.outside_output_t[members[s, t, p, k], s, t].sum())
        return linear(terms) <= float(sigma[p] * data.demand_t[t, p]) - base

    m.c_target_host_share = pyo.Constraint(index, rule=rule)


def report(target_duals: dict, data: ModelData) -> dict:
    """Marginal cost (MUSD) of tightening each security target by one unit, from the duals
    of the LP with the integer decisions fixed at the optimum: +1 percentage point of
    non-Chinese share, -1 point of single-country share or expected shortfall share, +1 day
    of stockpile cover. Conditional on the fixed integer decisions."""
    D = data.demand_t
    agg: dict[tuple[str, str], float] = {}

    def add(target: str, p: int, value: float) -> None:  # per product
        key = (target, data.products[p])
        agg[key] = agg.get(key, 0.0) + value

    for comp, rows in target_duals.items():
        for idx, dual in rows:
            if comp == "c_security":
                add("max_expected_shortfall_share", idx, -0.01 * dual * D[:, idx].sum())
            elif comp == "c_target_non_chinese":
                s, t, p = idx
                add("min_non_chinese_share", p, -0.01 * dual * D[t, p])
            elif comp in ("c_target_china_share", "c_target_host_share"):
                s, t, p = idx[:3]
                add("max_single_country_share", p, -0.01 * dual * D[t, p])
            elif comp == "c_target_cover":
                s, t, p = idx
                add("stockpile_cover_days", p, dual * D[t, p] / 365.0)
            elif comp == "c_target_reagent":
                s, t, r = idx
                key = ("reagent_limits", data.reagents[r])
                agg[key] = agg.get(key, 0.0) - dual
    units = {"max_expected_shortfall_share": "MUSD per percentage point tighter",
             "min_non_chinese_share": "MUSD per percentage point higher",
             "max_single_country_share": "MUSD per percentage point tighter",
             "stockpile_cover_days": "MUSD per extra day of cover",
             "reagent_limits": "MUSD per extra t/yr of reagent supply in every scenario"}
    return {f"{t}.{p}": {"marginal_cost_musd": v, "unit": units[t]}
            for (t, p), v in sorted(agg.items())}
