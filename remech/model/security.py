"""Security targets. Each is hard, or soft with a penalty price (design [security] soft).

c_security[p] (max_expected_shortfall_share theta_p):
    sum_s prob_s sum_t shortfall_t[s,t,p] <= theta_p sum_t demand_t[t,p]
c_target_non_chinese[s,t,p] (min_non_chinese_share theta_p; EU CRMA processing: 40 %):
    china_used_t[s,t,p] - slack <= (1 - theta_p) demand_t[t,p]
c_target_china_share[s,t,p] and c_target_host_share[s,t,p,k] (max_single_country_share
sigma_p; EU CRMA: 65 %), for China and for every host k whose projects could exceed it:
    china_used_t[s,t,p] - slack <= sigma_p demand_t[t,p]
    sum_{j of k, p} output_j[s,t] - slack <= sigma_p demand_t[t,p]
    output_j[s,t] = outside_output_t[j,s,t] + sum_{o of j} (output_t[o,s,t] - outside) support[o]
c_target_cover[s,t,p] (stockpile_cover_days D_p; Japan 60, Korea 100 days), in the years
t >= 1 in which China supplies normally (availability 1), so that the stock can be drawn
in a cut:
    stock_level_t[s,t,p] + slack >= D_p / 365 x demand_t[t,p]
Soft: slack >= 0 costs penalty_usd_per_kg x slack x 1e-3 x d_t in category target_penalty.
Shadow prices: remech.solve re-solves the LP with the integer decisions fixed and reports
the duals of these rows (conditional on that fix); remech.results aggregates them per
target and product.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.model.core import linear, var_array
from remech.prepare import MUSD_PER_T_USD_PER_KG as K
from remech.prepare import ModelData


def _slack(m, name: str, index, data: ModelData, ledger, target: str):
    """Slack variables of a soft target (None when the target is hard)."""
    penalty = data.soft_penalty_usd_per_kg.get(target)
    if penalty is None:
        return None
    var = pyo.Var(index, within=pyo.NonNegativeReals)
    m.add_component(name, var)
    for key in index:
        s, t = key[0], key[1]
        ledger.add_second("target_penalty", s, data.discount[t] * penalty * K, var[key])
    return var


def add(m: pyo.ConcreteModel, data: ModelData, ledger) -> None:
    prob = data.probability
    n_s, n_t, n_p = len(data.scenarios), len(data.years), len(data.products)
    D = data.demand_t
    theta = data.max_expected_shortfall_share
    targets = [p for p in range(n_p) if not np.isnan(theta[p])]
    m.P_secured = pyo.Set(initialize=targets, ordered=True)
    m.c_security = pyo.Constraint(
        m.P_secured, rule=lambda m, p: sum(
            float(prob[s]) * m.shortfall_t[s, t, p] for s in m.S for t in m.T)
        <= float(theta[p] * D[:, p].sum()))

    nc = data.min_non_chinese_share
    idx = [(s, t, p) for s in range(n_s) for t in range(n_t) for p in range(n_p)
           if not np.isnan(nc[p]) and D[t, p] > 0]
    if idx:
        slack = _slack(m, "slack_non_chinese_t", idx, data, ledger, "min_non_chinese_share")
        m.c_target_non_chinese = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
            [(1.0, m.china_used_t[s, t, p])] + ([(-1.0, slack[s, t, p])] if slack else []))
            <= float((1.0 - nc[p]) * D[t, p]))

    sigma = data.max_single_country_share
    idx = [(s, t, p) for s in range(n_s) for t in range(n_t) for p in range(n_p)
           if not np.isnan(sigma[p]) and D[t, p] > 0]
    if idx:
        slack = _slack(m, "slack_china_share_t", idx, data, ledger,
                       "max_single_country_share")
        m.c_target_china_share = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
            [(1.0, m.china_used_t[s, t, p])] + ([(-1.0, slack[s, t, p])] if slack else []))
            <= float(sigma[p] * D[t, p]))
        _host_shares(m, data, ledger, sigma)

    if data.reagents:
        _reagents(m, data, ledger)

    cover = data.stockpile_cover_days
    k_of = {p: k for k, p in enumerate(m.SP)}
    idx = [(s, t, p) for s in range(n_s) for t in range(1, n_t) for p in range(n_p)
           if not np.isnan(cover[p]) and data.china_availability[s, t, p] >= 1 - 1e-9]
    if idx:
        level = var_array(m.stock_level_t, n_s, n_t, len(k_of))
        slack = _slack(m, "slack_cover_t", idx, data, ledger, "stockpile_cover_days")
        m.c_target_cover = pyo.Constraint(idx, rule=lambda m, s, t, p: linear(
            [(1.0, level[s, t, k_of[p]])] + ([(1.0, slack[s, t, p])] if slack else []))
            >= float(cover[p] / 365.0 * D[t, p]))


def _host_shares(m, data: ModelData, ledger, sigma: np.ndarray) -> None:
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
    slack = _slack(m, "slack_host_share_t", index, data, ledger, "max_single_country_share")
    members = {(s, t, p, k): js for s, t, p, k, js in rows}

    def rule(m, s, t, p, k):
        terms = []
        for j in members[s, t, p, k]:
            for o in np.flatnonzero(opt.project == j):
                if extra[o, s, t]:
                    terms.append((float(extra[o, s, t]), m.support[int(o)]))
        if slack is not None:
            terms.append((-1.0, slack[s, t, p, k]))
        base = float(data.outside_output_t[members[s, t, p, k], s, t].sum())
        return linear(terms) <= float(sigma[p] * data.demand_t[t, p]) - base

    m.c_target_host_share = pyo.Constraint(index, rule=rule)


def _reagents(m, data: ModelData, ledger) -> None:
    """Critical-reagent limits on refining, with curtailment of output.

    c_reagent_curtail[s,t,j]: reagent_curtail_t <= output_j[s,t]
    c_target_reagent[s,t,r]:
        sum_j use[j,r] (output_j[s,t] - reagent_curtail_t[s,t,j]) - slack
        <= non_chinese_supply_r + china_supply_r x availability[s,t,r]
    output_j = outside_output_t[j] + sum_{o of j} (output_t[o] - outside) support[o]. Top-ups
    are paid on the nominal output (curtailment is not deducted from them).
    """
    opt = data.options
    extra = opt.output_t - data.outside_output_t[opt.project]
    users = list(m.J_reagent)

    def output_terms(j, s, t):
        return [(float(extra[o, s, t]), m.support[int(o)])
                for o in np.flatnonzero(opt.project == j) if extra[o, s, t]]

    m.c_reagent_curtail = pyo.Constraint(m.S, m.T, m.J_reagent, rule=lambda m, s, t, j: linear(
        [(1.0, m.reagent_curtail_t[s, t, j])] + [(-c, v) for c, v in output_terms(j, s, t)])
        <= float(data.outside_output_t[j, s, t]))
    idx = [(s, t, r) for s in range(len(data.scenarios)) for t in range(len(data.years))
           for r in range(len(data.reagents))]
    slack = _slack(m, "slack_reagent_t", idx, data, ledger, "reagent_limits")
    use = data.reagent_use_t_per_t

    def rule(m, s, t, r):
        terms, base = [], 0.0
        for j in users:
            if use[j, r] == 0:
                continue
            base += use[j, r] * data.outside_output_t[j, s, t]
            terms += [(use[j, r] * c, v) for c, v in output_terms(j, s, t)]
            terms.append((-use[j, r], m.reagent_curtail_t[s, t, j]))
        if slack is not None:
            terms.append((-1.0, slack[s, t, r]))
        return linear(terms) <= float(data.reagent_supply_t[s, t, r] - base)

    m.c_target_reagent = pyo.Constraint(idx, rule=rule)
