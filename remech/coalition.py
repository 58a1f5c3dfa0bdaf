"""A coalition's own world: the instance restricted to a subset of the allies.

c(S) is the optimal cost of the same design when only S forms the mechanism: S's demand,
the projects hosted in S and in partner countries (partners sell to any buyer), S's
budgets. China's and other suppliers' normal supply to the bloc is scaled by S's share of
the bloc's demand for each product and year, and the stockpile's maximum capacity by S's
share of the product's demand over the horizon (limits such as "100 days of demand" are
sized on the bloc). Data layer: knows nothing of Pyomo.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from remech.design import Design, uses_custom_weights
from remech.errors import InputError
from remech.instance import Instance


def restrict(inst: Instance, coalition: list[str] | tuple[str, ...]) -> Instance:
    members = set(coalition)
    unknown = members - set(inst.members)
    if unknown:
        raise InputError(f"coalition: '{sorted(unknown)[0]}' is not an ally of "
                         f"{inst.name}; known: {', '.join(inst.members)}")
    allies = inst.allies[(inst.allies["role"] == "partner") | inst.allies["ally"].isin(members)]
    hosts = set(allies["ally"])
    demand = inst.demand[inst.demand["ally"].isin(members)]
    total = inst.demand.groupby(["product", "year"])["demand_t"].sum()
    mine = demand.groupby(["product", "year"])["demand_t"].sum()
    share = (mine.reindex(total.index, fill_value=0.0) / total.where(total > 0)).fillna(0.0)
    supply = inst.supply.copy()
    key = pd.MultiIndex.from_frame(supply[["product", "year"]].astype({"year": "int64"}))
    factor = share.reindex(key, fill_value=0.0).to_numpy()
    supply["china_supply_t"] = supply["china_supply_t"] * factor
    supply["other_supply_t"] = supply["other_supply_t"] * factor
    if "china_normal_deliveries_t" in supply:
        supply["china_normal_deliveries_t"] = supply["china_normal_deliveries_t"] * factor
    # stockpile limits are sized on the bloc's demand: scale them like supply, by S's share
    # of the product's demand over the horizon
    stockpile = inst.stockpile.copy()
    if len(stockpile):
        by_product = (demand.groupby("product")["demand_t"].sum()
                      / inst.demand.groupby("product")["demand_t"].sum()).fillna(0.0)
        stockpile["max_capacity_t"] = stockpile["max_capacity_t"] * stockpile["product"].map(
            by_product).fillna(0.0).to_numpy()
    return dataclasses.replace(
        inst, allies=allies, demand=demand, supply=supply, stockpile=stockpile,
        projects=inst.projects[inst.projects["host"].isin(hosts)],
        name=f"{inst.name}[{'+'.join(sorted(members, key=inst.members.index))}]")


def restrict_design(design: Design, coalition) -> Design:
    """Custom burden-sharing weights restricted to the coalition's members."""
    if not uses_custom_weights(design):
        return design
    weights = {a: w for a, w in design.sharing_weights.items() if a in set(coalition)}
    return dataclasses.replace(design, sharing_weights=weights)
