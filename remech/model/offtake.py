"""Offtake: a guaranteed-purchase contract (a volume bought at a fixed price for N years,
like the DoD-MP 10X magnet offtake [S52]), per product and stage.

prepare: the options c = admissible (project j, contract price F) pairs for the products
with a price menu in the design's [offtake] section, with the plant's output, the net
payment, the NPV and the producer's gain per scenario as data. During the contract
(design ``contract_years`` from the plant's first year of output; the first model year for
an existing plant) the buyer takes a share v (``volume_share``) of the plant's output at
F and resells it at that year's market price; the plant receives

  received_cst = v F + (1 - v) price_st   in contract years,  price_st after them,
  q_cst        = cap_jt x sum_k w_jk [received_cst >= c_jk]   (its cost curve, as floors)
  pay_cst      = v q_cst (F - price_st) x 1e-3   MUSD (negative when the market is above F)

An option is admissible if the plant exists or its NPV under the contract passes the
design's bankability test (remech.model.plants; offtakes carry no grant), if the
producer's expected NPV under it is at least outside the mechanism, and if it differs from
leaving the plant outside.

Variables (first stage)
  offtake[c] in {0, 1}

Constraints
  c_offtake_one[k]:  sum_{c of plant k} offtake[c] + sum_y support[k, y] <= 1
                     (one contract per plant: a floor or an offtake, not both)
  in c_balance[s,t,p(j)] (remech.model.supply): + (q_cst - q0_jst) offtake[c]

Costs (MUSD)
  offtake[s] (outlay, fiscal):  sum_c (sum_t d_t pay_cst) offtake[c]
                                = what the buyer pays less the resale value of the material
  producer_surplus[s]:          - sum_c PS_cs offtake[c]  (the producer's gain over staying
                                outside, as remech.model.plants._surplus: a transfer
                                inside the alliance in the economic view)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.model import plants as pl
from remech.model.data import MUSD_PER_T_USD_PER_KG, Context, ModelData
from remech.model.ledger import Category, Ledger, linear
from remech.model.supply import BalanceTerms


@dataclass
class OfftakeOptions:
    """The offtake options; arrays indexed [c], [c, s] or [c, s, t]."""

    project: np.ndarray  # [c] project index
    price_usd_per_kg: np.ndarray  # [c] contract price F
    output_t: np.ndarray  # [c, s, t] the plant's output under the contract
    pay_musd: np.ndarray  # [c, s, t] net payment (undiscounted)
    bought_t: np.ndarray  # [c, s, t] tonnes bought under the contract
    npv_test_musd: np.ndarray  # [c]
    producer_surplus_musd: np.ndarray  # [c, s]
    contract_last_year: np.ndarray  # [c]


def enabled(data: ModelData) -> bool:
    return data.offtake is not None and len(data.offtake.project) > 0


def _span(ctx: Context, j: int, n: int) -> tuple[np.ndarray, float, float, int]:
    """[t] in-contract years, tail annuity factors under it and after it, last year."""
    years, h = np.asarray(ctx.years), ctx.design.hurdle_rate
    start = pl.first_output_year(ctx, j)
    last = start + n - 1
    tail = years[-1] + np.arange(1, ctx.design.tail_years + 1)
    disc = (1.0 + h) ** -np.arange(1, ctx.design.tail_years + 1)
    inside = (tail >= start) & (tail <= last)
    return (years >= start) & (years <= last), float(disc[inside].sum()), \
        float(disc[~inside].sum()), last


def _capex_pv(ctx: Context, j: int, rate: float) -> float:
    """Line j's capex (MUSD) discounted at ``rate`` to the first year, spent the year
    before its start (0 for an existing line)."""
    row = ctx.projects.iloc[j]
    if row["status"] == "existing":
        return 0.0
    year = max(int(row["start_year"]) - 1, ctx.years[0]) - ctx.years[0]
    return float(row["capex_musd"]) * (1.0 + rate) ** -year


def prepare(ctx: Context, floor: dict, fixed=None) -> dict:
    """The offtake options (``floor``: remech.model.price_floor.prepare's fields: the
    output outside the mechanism and which plants are built without support)."""
    d = ctx.design
    if not d.offtake or not d.offtake_prices_usd_per_kg:
        return {"offtake": None}
    pj = ctx.projects
    eligible = (np.ones(len(pj), bool) if d.offtake_eligible_projects is None
                else pj["project"].isin(d.offtake_eligible_projects).to_numpy())
    existing = (pj["status"] == "existing").to_numpy()
    rows = []
    for j in range(len(pj)):
        product = ctx.products[ctx.project_product[j]]
        menu = d.offtake_prices_usd_per_kg.get(product, [])
        name = pj.at[j, "project"]
        if fixed is not None:
            menu = [f for (p, f) in fixed.offtake if p == name]
        elif not eligible[j]:
            continue
        for price in menu:
            row = _option(ctx, j, float(price), floor, bool(existing[j]))
            if row.pop("ok") or fixed is not None:
                rows.append(row)
    n_s, n_t = len(ctx.scenarios), len(ctx.years)

    def stack(key, shape):
        return np.array([r[key] for r in rows], dtype=float) if rows else np.zeros(shape)

    return {"offtake": OfftakeOptions(
        project=np.array([r["project"] for r in rows], dtype=int),
        price_usd_per_kg=stack("price", (0,)), output_t=stack("out", (0, n_s, n_t)),
        pay_musd=stack("pay", (0, n_s, n_t)), bought_t=stack("bought", (0, n_s, n_t)),
        npv_test_musd=stack("npv", (0,)), producer_surplus_musd=stack("surplus", (0, n_s)),
        contract_last_year=stack("last", (0,)))}


def _option(ctx: Context, j: int, price: float, floor: dict, existing: bool) -> dict:
    """One (plant, contract price) option's data, with ``ok``: admissible."""
    d = ctx.design
    inside, tail_c, tail_m, last = _span(ctx, j, d.offtake_contract_years)
    market_price = ctx.price_usd_per_kg[:, :, ctx.project_product[j]]  # [s, t]
    v = d.offtake_volume_share
    received = np.where(inside[None], v * price + (1 - v) * market_price, market_price)
    cap, h, tail_n = ctx.capacity_t[j], ctx.design.hurdle_rate, ctx.design.tail_years
    out, margin = pl._tiered(ctx, j, cap, received)  # [s, t]
    _, market_margin = pl._tiered(ctx, j, cap, market_price)
    bought = np.where(inside[None], v * out, 0.0)
    pay = bought * (price - market_price) * MUSD_PER_T_USD_PER_KG
    npv_s = pl._value(ctx, margin, market_margin, tail_c, tail_m) - _capex_pv(ctx, j, h)
    npv = float(pl.test_npv(npv_s, ctx))
    outside = floor["outside_output_t"][j]
    built = bool(floor["plant_built_outside"][ctx.project_plant[j]])
    market_npv = pl._value(ctx, market_margin, market_margin, pl.annuity(h, tail_n), 0.0) \
        - _capex_pv(ctx, j, h)
    outside_value = float(market_npv @ ctx.probability) if built else -np.inf
    d, rate = ctx.discount, ctx.inst.discount_rate
    surplus_pv, market_pv = (margin * d).sum(-1), (market_margin * d).sum(-1)
    allied = ctx.projects.at[j, "host"] in ctx.members
    if not allied:
        surplus = np.zeros(len(ctx.scenarios))
    elif built:
        surplus = surplus_pv - market_pv
    else:
        after = pl._calm_last_margin(ctx, j, market_margin) * d[-1] * pl.annuity(rate, tail_n)
        surplus = surplus_pv + after - _capex_pv(ctx, j, rate)
    ok = ((existing or npv >= 0.0)
          and float(npv_s @ ctx.probability) >= outside_value - 1e-9
          and not (np.array_equal(out, outside) and not pay.any()))
    return {"project": j, "price": price, "out": out, "pay": pay, "bought": bought,
            "npv": npv, "surplus": surplus, "last": float(last), "ok": ok}


@dataclass
class Offtake:
    """The handle: the offtake binaries, each plant's extra output by contract (for the
    value chain) and the balance terms."""

    var: pyo.Var
    potential: dict  # j -> [(extra [s, t], var)]
    balance: BalanceTerms


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support) -> Offtake:
    """offtake[c], c_offtake_one[j], the balance terms, the costs (module docstring)."""
    off = data.offtake
    m.C = pyo.RangeSet(0, len(off.project) - 1)
    m.offtake = pyo.Var(m.C, within=pyo.Binary)
    by_project: dict[int, list[int]] = {}
    for c, j in enumerate(off.project):
        by_project.setdefault(int(j), []).append(c)
    plant_of = data.project_plant
    starts: dict[int, list] = {}
    for k, y in support.support:
        starts.setdefault(int(k), []).append((k, y))
    m.J_offtake = pyo.Set(initialize=sorted({int(plant_of[j]) for j in by_project}),
                          ordered=True)
    m.c_offtake_one = pyo.Constraint(m.J_offtake, rule=lambda m, k: linear(
        [(1.0, m.offtake[c]) for j, cs in by_project.items() if plant_of[j] == k
         for c in cs] + [(1.0, support.support[ky]) for ky in starts.get(k, [])]) <= 1.0)
    extra = off.output_t - data.outside_output_t[off.project]  # [c, s, t]
    n_s, n_t, n_p = data.price_usd_per_kg.shape
    potential: dict[int, list] = {}
    terms: dict[tuple[int, int, int], list] = {}
    most = np.zeros((n_s, n_t, n_p))
    for c, j in enumerate(off.project):
        p = int(data.project_product[j])
        if not np.any(extra[c]):
            continue
        potential.setdefault(int(j), []).append((extra[c], m.offtake[c]))
        for s, t in zip(*np.nonzero(extra[c]), strict=True):
            terms.setdefault((int(s), int(t), p), []).append((float(extra[c, s, t]),
                                                              m.offtake[c]))
    for j, cs in by_project.items():
        p = int(data.project_product[j])
        most[:, :, p] += np.maximum(extra[cs], 0.0).max(0)
    pay_pv = np.einsum("cst,t->cs", off.pay_musd, data.discount)
    for s in range(n_s):
        for c in np.flatnonzero(pay_pv[:, s]):
            ledger.add_second(Category.OFFTAKE, s, pay_pv[c, s], m.offtake[int(c)])
            for t in np.flatnonzero(off.pay_musd[c, s]) if ledger.track_years else ():
                ledger.add_year(s, int(t), off.pay_musd[c, s, t], m.offtake[int(c)])
        for c in np.flatnonzero(off.producer_surplus_musd[:, s]):
            ledger.add_second(Category.PRODUCER_SURPLUS, s, -off.producer_surplus_musd[c, s],
                              m.offtake[int(c)])
    return Offtake(m.offtake, potential, BalanceTerms(terms, np.zeros((n_s, n_t, n_p)),
                                                      set(), most))


def chosen(m: pyo.ConcreteModel) -> np.ndarray:
    """[c] 0/1 after a solve."""
    return np.array([round(v.value or 0.0) for v in m.offtake.values()], dtype=int)


def apply_output(m: pyo.ConcreteModel, data: ModelData, output_t: np.ndarray) -> np.ndarray:
    """Each project's possible output [j, s, t] with the chosen offtakes' output."""
    out = output_t.copy()
    if not enabled(data) or not hasattr(m, "offtake"):
        return out
    for c in np.flatnonzero(chosen(m)):
        out[data.offtake.project[c]] = data.offtake.output_t[c]
    return out


def report(m: pyo.ConcreteModel, data: ModelData) -> dict:
    """offtakes: one row per contract signed: plant, price, expected tonnes bought and net
    payment (discounted MUSD)."""
    if not enabled(data) or not hasattr(m, "offtake"):
        return {"rows": None, "tables": {}}
    off, prob = data.offtake, data.probability
    pay_pv = np.einsum("cst,t->cs", off.pay_musd, data.discount)
    rows = []
    for c in np.flatnonzero(chosen(m)):
        j = int(off.project[c])
        rows.append({
            "project": data.projects[j], "product": data.products[data.project_product[j]],
            "price_usd_per_kg": float(off.price_usd_per_kg[c]),
            "contract_last_year": float(off.contract_last_year[c]),
            "expected_bought_t": float(np.einsum("s,st->", prob, off.bought_t[c])),
            "expected_net_payment_musd": float(prob @ pay_pv[c]),
            "npv_test_musd": float(off.npv_test_musd[c])})
    df = pd.DataFrame(rows, columns=["project", "product", "price_usd_per_kg",
                                     "contract_last_year", "expected_bought_t",
                                     "expected_net_payment_musd", "npv_test_musd"])
    return {"rows": rows, "tables": {"offtakes.csv": df}}


def read_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    off = data.offtake
    fs.offtake = {(data.projects[int(off.project[c])], float(off.price_usd_per_kg[c]))
                  for c, v in m.offtake.items() if (v.value or 0) > 0.5}


def fix_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    off = data.offtake
    for c, var in m.offtake.items():
        key = (data.projects[int(off.project[c])], float(off.price_usd_per_kg[c]))
        var.fix(1.0 if key in fs.offtake else 0.0)


def restrict(off: OfftakeOptions | None, idx: np.ndarray) -> OfftakeOptions | None:
    """The options on the scenarios at ``idx`` (remech.model.data.restrict_scenarios)."""
    if off is None:
        return None
    return replace(off, output_t=off.output_t[:, idx], pay_musd=off.pay_musd[:, idx],
                   bought_t=off.bought_t[:, idx],
                   producer_surplus_musd=off.producer_surplus_musd[:, idx])
