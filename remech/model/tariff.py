"""Tariff reference price (design [tariff]): entries of the floor menu with is_tariff.

When chosen, every existing producer and every new one bankable at max(price, R) receives
max(price, R):
  c_tariff_auto[o]: support[o] >= floor_choice[p(o), l(o)]   (so support[o] = floor_choice)
Its premium u_ost = output x max(R - price, 0) x 1e-3 is paid by member consumers, not by a
treasury: category consumer_cost_net (allied output is assumed sold inside the zone).

Report: consumers pay the premium on all they consume; the part on imports from China
comes back as tariff revenue; both per ally by its share of demand.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.model.data import MUSD_PER_T_USD_PER_KG, ModelData
from remech.model.ledger import Category, Ledger
from remech.model.price_floor import Support


def enabled(data: ModelData) -> bool:
    return bool(len(data.options.project) and data.options.is_tariff.any())


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support) -> None:
    opt = data.options
    prod_of, level_of = data.project_product, opt.level
    tariff_opts = [int(o) for o in np.flatnonzero(opt.is_tariff)]
    m.c_tariff_auto = pyo.Constraint(
        tariff_opts, rule=lambda m, o: support.support[o]
        >= support.floor_choice[int(prod_of[opt.project[o]]), int(level_of[o])])
    topup_pv = np.einsum("ost,t->os", opt.topup_musd, data.discount)
    for s in range(len(data.scenarios)):
        col = topup_pv[:, s]
        for o in np.flatnonzero(col * opt.is_tariff):
            ledger.add_second(Category.CONSUMER_COST_NET, s, col[o], support.support[int(o)])


def references(data: ModelData, entries) -> dict[str, float | None]:
    """The tariff reference price chosen per product (None: no tariff)."""
    return {name: (e.level_usd_per_kg if e is not None and e.is_tariff
                   and e.level_usd_per_kg > 0 else None)
            for name, e in zip(data.products, entries, strict=True)}


def report(data: ModelData, reference: dict[str, float | None], shortfall_t: np.ndarray,
           china_used_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ally [a]: consumers' premium and tariff revenue (MUSD, expected, discounted)."""
    ref = np.array([reference[p] or 0.0 for p in data.products])
    prem = np.where(ref[None, None] > 0, np.maximum(ref[None, None] - data.price_usd_per_kg,
                                                     0.0), 0.0)  # [s, t, p] USD/kg
    w = (data.probability[:, None, None] * data.discount[None, :, None] * prem
         * MUSD_PER_T_USD_PER_KG)
    share_tp = np.divide(data.demand_by_ally_t, data.demand_t[None],
                         where=data.demand_t[None] > 0, out=np.zeros_like(data.demand_by_ally_t))
    consumer = np.einsum("stp,atp->a", w * (data.demand_t[None] - shortfall_t), share_tp)
    revenue = np.einsum("stp,atp->a", w * china_used_t, share_tp)
    return consumer, revenue
