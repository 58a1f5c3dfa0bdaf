"""Tariff reference price (design [tariff]): entries of the floor menu with is_tariff.

When chosen, every existing producer and every new one bankable at max(price, R) receives
max(price, R). A plant making several products is supported as a whole: for each plant k
and each of its admissible combinations g of entries with a tariff among them (its options
q in g over the start years),

  c_tariff_auto[g]: sum_{q in g} option[q] >= sum_{p of k} floor_choice[p, l_p(g)] - (n_k - 1)

so the plant is supported under g whenever every one of its products has g's entry (the
lower bound of a product of binaries: exact, no big-M); for a one-product plant
sum_y option >= floor_choice[p, l]. A plant making a tariffed and a floored product is then
contracted for the floor too. Its premium u_ost = output x max(R - price, 0) x 1e-3 per
line is paid by member consumers, not by a treasury: category consumer_cost_net (allied
output is assumed sold inside the zone).

Report: consumers pay the premium on all they consume; the part on imports from China
comes back as tariff revenue; both per ally by its share of demand.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.model.data import MUSD_PER_T_USD_PER_KG, ModelData
from remech.model.ledger import Category, Ledger, linear
from remech.model.price_floor import Support


def enabled(data: ModelData) -> bool:
    return bool(len(data.options.project) and data.options.is_tariff.any())


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger, support: Support) -> None:
    opt, popt = data.options, data.plant_options
    groups: dict[tuple, list[int]] = {}  # (plant, entries) -> its options over start years
    for q in np.flatnonzero(popt.has_tariff):
        key = (int(popt.plant[q]), tuple(sorted((p, e.index)
                                                for p, e in popt.entries[q].items())))
        groups.setdefault(key, []).append(int(q))
    keys = sorted(groups)

    def auto(m, g):
        _, levels = keys[g]
        return linear([(1.0, support.option[q]) for q in groups[keys[g]]]
                      + [(-1.0, support.floor_choice[p, l]) for p, l in levels]) \
            >= 1.0 - len(levels)

    m.c_tariff_auto = pyo.Constraint(range(len(keys)), rule=auto)
    topup_pv = np.einsum("ost,t->os", opt.topup_musd, data.discount)
    for s in range(len(data.scenarios)):
        col = topup_pv[:, s]
        for o in np.flatnonzero(col * opt.is_tariff):
            ledger.add_second(Category.CONSUMER_COST_NET, s, col[o], support.line[int(o)])


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
