"""Turn an Instance and a Design into the indexed arrays the model is built from.

Everything that can be computed before the solve is computed here with numpy, once:
the shared grids (prices, demand, capacities by year) here, and each instrument's own
coefficients by that instrument's ``prepare`` (remech.model.<instrument>): the floor
menus and each project's output, top-up and NPV under each menu entry and scenario,
the stockpile's costs, the targets, the burden-sharing weights. This is what keeps the
MIP tight: the model links binaries to these data-derived coefficients, never through a
big-M. Nothing here builds a Pyomo component.

Units: t (tonnes), USD/kg, USD million (MUSD). 1 t x 1 USD/kg = 1,000 USD = 1e-3 MUSD.
"""

from __future__ import annotations

import numpy as np

from remech.design import Design, check_against
from remech.instance import Instance
from remech.model import (
    burden_sharing,
    chain,
    grants,
    offtake,
    price_floor,
    reagents,
    reserve,
    risk,
    security,
    stockpile,
    supply,
)
from remech.model.data import (
    MUSD_PER_T_USD_PER_KG,
    Context,
    ModelData,
    Options,
    grid,
    weighted_quantile,
)
from remech.model.first_stage import FirstStage

__all__ = ["MUSD_PER_T_USD_PER_KG", "ModelData", "Options", "prepare", "weighted_quantile"]


def context(inst: Instance, design: Design) -> Context:
    """The grids every instrument's prepare starts from."""
    products = inst.products["product"].tolist()
    members = inst.members
    pj = inst.projects.reset_index(drop=True)
    plants = list(dict.fromkeys(pj["plant"]))  # in the order of their first line
    status = dict(zip(pj["plant"], pj["status"], strict=True))
    check_against(design, products, members, pj["project"].tolist(), status)
    years, scen = inst.years, inst.scenarios["scenario"].tolist()
    prob = inst.scenarios["probability"].to_numpy(float)
    since = np.asarray(years)[None, :] - pj["start_year"].to_numpy()[:, None] + 1
    ramp = np.clip(since / pj["ramp_years"].to_numpy()[:, None], 0.0, 1.0)
    pidx = {p: i for i, p in enumerate(products)}
    return Context(
        inst=inst, design=design, products=products, years=years, scenarios=scen,
        members=members, probability=prob / prob.sum(),
        discount=(1.0 + inst.discount_rate) ** -np.arange(len(years)),
        price_usd_per_kg=grid(inst.prices, [("scenario", scen), ("year", years),
                                            ("product", products)], "price_usd_per_kg",
                              np.nan),
        demand_by_ally_t=grid(inst.demand, [("ally", members), ("year", years),
                                            ("product", products)], "demand_t", 0.0),
        projects=pj, project_product=pj["product"].map(pidx).to_numpy(int),
        plants=plants, project_plant=pj["plant"].map({k: i for i, k in enumerate(plants)}
                                                      ).to_numpy(int),
        capacity_t=pj["capacity_t"].to_numpy()[:, None] * ramp,
        **_cost_tiers(pj, inst.cost_tiers))


def _cost_tiers(pj, tiers) -> dict[str, np.ndarray]:
    """[j, k] share of capacity and cash cost of each project's cost tiers, padded with
    zero shares; a project without rows in cost_tiers.csv has one tier (share 1) at its
    projects.csv unit cost."""
    rows = [tiers[tiers["project"] == name] if tiers is not None and len(tiers) else None
            for name in pj["project"]]
    k = max([1] + [len(r) for r in rows if r is not None])
    share, cost = np.zeros((len(pj), k)), np.zeros((len(pj), k))
    for j, r in enumerate(rows):
        if r is None or not len(r):
            share[j, 0], cost[j, 0] = 1.0, float(pj.at[j, "unit_cost_usd_per_kg"])
        else:
            share[j, :len(r)] = r["share_of_capacity"].to_numpy(float)
            cost[j, :len(r)] = r["unit_cost_usd_per_kg"].to_numpy(float)
    return {"tier_share": share, "tier_cost_usd_per_kg": cost}


def prepare(inst: Instance, design: Design, fixed: FirstStage | None = None) -> ModelData:
    """Compute every coefficient of the model from the instance and the design.

    ``fixed`` (the FirstStage of a solved mechanism) evaluates that mechanism on this
    instance's scenarios: its investment decisions are not taken again with these
    scenarios' futures. The projects built outside the mechanism are ``built_outside``, and
    exactly its supported (project, menu entry) options exist, with its grants, whether or
    not they would pass the bankability and participation tests on these scenarios."""
    ctx = context(inst, design)
    stock = stockpile.prepare(ctx)
    floor = price_floor.prepare(ctx, fixed)
    fields = {
        **floor, **offtake.prepare(ctx, floor, fixed), **chain.prepare(ctx),
        **supply.prepare(ctx), **stock,
        **reserve.prepare(ctx, stock["stockpile_enabled"]), **grants.prepare(ctx),
        **security.prepare(ctx, stock["stockpile_enabled"]), **reagents.prepare(ctx),
        **burden_sharing.prepare(ctx), **risk.prepare(ctx)}
    pj = ctx.projects
    return ModelData(
        products=ctx.products, years=ctx.years, scenarios=ctx.scenarios, members=ctx.members,
        projects=pj["project"].tolist(), project_product=ctx.project_product,
        capacity_t=ctx.capacity_t, probability=ctx.probability, discount=ctx.discount,
        price_usd_per_kg=ctx.price_usd_per_kg, project_host=pj["host"].tolist(),
        project_stage=pj["stage"].tolist(),
        project_start_year=pj["start_year"].to_numpy(int), objective_view=design.objective_view,
        mcpf=design.mcpf, **fields)
