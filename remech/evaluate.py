"""Evaluate first-stage decisions on another scenario set, and VSS / EVPI.

``evaluate_on(inst, design, first_stage)`` evaluates a mechanism on another scenario set:
it prepares the data with the mechanism's investment decisions kept (``prepare(...,
fixed=first_stage)``: the projects built outside the mechanism, the supported options
and their grants are not re-tested on the new scenarios' futures), then ``evaluate(data,
first_stage)`` fixes the first-stage decisions (floor levels, supported (project, level)
pairs, stockpile build, capacity and, under policy "rule", the target level and reserve
share per year) and solves the rest. Under "rule" the rest only executes the policy year
by year (buy up to the target, draw the stock first in a cut, release nothing while supply
is left over), so the evaluation is non-anticipative and a scenario's cost does not depend
on which other scenarios are evaluated with it; under "clairvoyant" it re-optimises each
scenario with foresight. ``c_floor_used`` is dropped, since it only selects among equally
costly floors.

VSS and EVPI (Birge and Louveaux): RP = the stochastic optimum; EV = the problem on the
expected scenario (mean prices and availability); EEV = EV's first stage evaluated on all
scenarios; WS = sum_s p_s (optimum of scenario s alone). VSS = EEV - RP >= 0,
EVPI = RP - WS >= 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.design import Design
from remech.instance import Instance
from remech.model import build_model
from remech.prepare import ModelData, prepare
from remech.solve import SolverOptions, solve


def _entry(data: ModelData, p: int, l: int) -> tuple[float, float, float, bool]:
    """A floor-menu entry as (floor or reference USD/kg, upside share, cap USD/kg,
    is a tariff reference price): a floor and a tariff reference of the same value are
    different entries."""
    return (float(data.levels_usd_per_kg[p][l]), float(data.level_upside_share[p][l]),
            float(data.level_upside_cap_usd_per_kg[p][l]), bool(data.level_is_tariff[p][l]))


def _option_key(data: ModelData, o: int) -> tuple:
    """A support option as (project, its floor-menu entry)."""
    j = int(data.options.project[o])
    return (data.projects[j],) + _entry(data, int(data.project_product[j]),
                                        int(data.options.level[o]))


def first_stage(m: pyo.ConcreteModel, data: ModelData) -> dict:
    """The first-stage decisions of a solved model, by name: floor-menu entries, supported
    (project, entry) pairs, stockpile build and capacity, and (policy "rule") the target
    level per year."""
    def by_year(name: str) -> dict:
        if not hasattr(m, name):
            return {}
        return {(data.products[p], data.years[t]): float(v.value or 0.0)
                for (t, p), v in getattr(m, name).items()}

    return {
        "floor_level": {data.products[p]: _entry(data, p, l)
                        for (p, l), v in m.floor_choice.items() if (v.value or 0) > 0.5},
        "support": {_option_key(data, o) for o, v in m.support.items()
                    if (v.value or 0) > 0.5},
        "grant_musd": {_option_key(data, o): float(data.options.grant_musd[o])
                       for o, v in m.support.items() if (v.value or 0) > 0.5},
        "built_outside": {data.projects[j] for j in np.flatnonzero(data.project_built_outside)},
        "stock": {data.products[p]: (round(m.stock_build[p].value or 0),
                                     float(m.stock_capacity_t[p].value or 0.0))
                  for p in m.SP},
        "stock_target": by_year("stock_target_t"),
        "reserve_share": by_year("reserve_share"),
    }


def first_stage_to_json(decisions: dict) -> dict:
    """The first stage in mechanism.json's form (lists and plain keys, sorted)."""
    def entry(e):
        return {"level_usd_per_kg": e[0], "upside_share": e[1], "upside_cap_usd_per_kg": e[2],
                "tariff_reference": e[3]}

    return {
        "floor_level": {p: entry(e) for p, e in sorted(decisions["floor_level"].items())},
        "support": [{"project": k[0], **entry(k[1:]),
                     "grant_musd": decisions["grant_musd"].get(k, 0.0)}
                    for k in sorted(decisions["support"])],
        "built_outside": sorted(decisions["built_outside"]),
        "stock": {p: {"build": int(b), "capacity_t": c}
                  for p, (b, c) in sorted(decisions["stock"].items())},
        "stock_target_t": [{"product": p, "year": y, "target_t": v}
                           for (p, y), v in sorted(decisions["stock_target"].items())],
        "reserve_share": [{"product": p, "year": y, "share": v}
                          for (p, y), v in sorted(decisions["reserve_share"].items())],
    }


def first_stage_from_json(doc: dict) -> dict:
    """Inverse of first_stage_to_json."""
    def entry(e):
        return (float(e["level_usd_per_kg"]), float(e["upside_share"]),
                float(e["upside_cap_usd_per_kg"]), bool(e["tariff_reference"]))

    return {
        "floor_level": {p: entry(e) for p, e in doc["floor_level"].items()},
        "support": {(e["project"],) + entry(e) for e in doc["support"]},
        "grant_musd": {(e["project"],) + entry(e): float(e.get("grant_musd", 0.0))
                       for e in doc["support"]},
        "built_outside": set(doc.get("built_outside", [])),
        "stock": {p: (int(v["build"]), float(v["capacity_t"])) for p, v in doc["stock"].items()},
        "stock_target": {(r["product"], int(r["year"])): float(r["target_t"])
                         for r in doc["stock_target_t"]},
        "reserve_share": {(r["product"], int(r["year"])): float(r["share"])
                          for r in doc["reserve_share"]},
    }


def evaluate_on(inst: Instance, design: Design, decisions: dict,
                options: SolverOptions | None = None):
    """The mechanism ``decisions`` on ``inst``'s scenarios (see the module docstring)."""
    return evaluate(prepare(inst, design, fixed=decisions), decisions, options)


def evaluate(data: ModelData, decisions: dict, options: SolverOptions | None = None):
    """Build the model of ``data`` with the first stage fixed to ``decisions``; solve."""
    m = build_model(data)
    for (p, l), var in m.floor_choice.items():
        level = _entry(data, p, l)
        var.fix(1.0 if decisions["floor_level"].get(data.products[p]) == level else 0.0)
    for o, var in m.support.items():
        var.fix(1.0 if _option_key(data, o) in decisions["support"] else 0.0)
    for p in m.SP:
        build, cap = decisions["stock"].get(data.products[p], (0, 0.0))
        m.stock_build[p].fix(build)
        m.stock_capacity_t[p].fix(cap)
    for name, key in (("stock_target_t", "stock_target"), ("reserve_share", "reserve_share")):
        values = decisions.get(key, {})
        for (t, p), var in getattr(m, name, {}).items() if hasattr(m, name) else []:
            var.fix(values.get((data.products[p], data.years[t]), 0.0))
    m.c_floor_used.deactivate()
    return m, solve(m, options or SolverOptions())


def with_scenario_rows(inst: Instance, names: list[str], probability: list[float],
                       prices: pd.DataFrame | None = None,
                       availability: pd.DataFrame | None = None) -> Instance:
    """The instance on other scenarios (by default a subset of its own)."""
    src = "assumption: derived scenario set"
    scen = pd.DataFrame({"scenario": names, "probability": probability,
                         "description": "", "source": src, "_row": 0})
    if prices is None:
        prices = inst.prices[inst.prices["scenario"].isin(names)]
    if availability is None:
        availability = inst.availability[inst.availability["scenario"].isin(names)]
    nodes = inst.nodes
    if nodes is not None and len(nodes):  # a sub-tree; a scenario alone is its own path
        nodes = nodes[nodes["scenario"].isin(names)]
        if len(names) == 1 or nodes["scenario"].nunique() != len(names):
            nodes = pd.DataFrame([{"scenario": n, "year": y, "node": f"{n}/{y}",
                                   "source": src, "_row": 0}
                                  for n in names for y in inst.years])
    return dataclasses.replace(inst, scenarios=scen, prices=prices,
                               availability=availability, nodes=nodes)


def expected_instance(inst: Instance) -> Instance:
    """One scenario 'expected' with the probability-weighted mean prices and availability."""
    prob = inst.scenarios.set_index("scenario")["probability"]
    prices = inst.prices.assign(w=inst.prices["scenario"].map(prob))
    mean_p = (prices["price_usd_per_kg"] * prices["w"]).groupby(
        [prices["year"], prices["product"]]).sum().rename("price_usd_per_kg").reset_index()
    mean_p["scenario"], mean_p["source"] = "expected", "assumption: expected path"
    names, years = inst.scenarios["scenario"], inst.years
    products = inst.products["product"].tolist()
    full = pd.MultiIndex.from_product([names, years, products],
                                      names=["scenario", "year", "product"])
    av = inst.availability.set_index(["scenario", "year", "product"])["china_availability"]
    av = av.reindex(full, fill_value=1.0).reset_index()
    av["china_availability"] = _cap_share(inst, av)
    av["w"] = av["scenario"].map(prob)
    mean_a = (av["china_availability"] * av["w"]).groupby([av["year"], av["product"]]).sum()
    mean_a = mean_a.rename("china_availability").reset_index()
    mean_a["scenario"], mean_a["source"] = "expected", "assumption: expected path"
    # the expected path's availability scales china_supply_t (no normal deliveries): its
    # China cap is then the expected cap, availability x normal deliveries in cut years
    supply = inst.supply.assign(china_normal_deliveries_t=np.nan)
    return dataclasses.replace(with_scenario_rows(inst, ["expected"], [1.0], mean_p, mean_a),
                               supply=supply)


def _cap_share(inst: Instance, av: pd.DataFrame) -> np.ndarray:
    """Per row of ``av`` (scenario, year, product, china_availability): China's cap as a
    share of china_supply_t: 1 without a cut, availability x normal deliveries / supply in a
    cut year (ModelData.china_cap_t). Equal to the availability where the instance gives no
    normal deliveries."""
    sup = inst.supply.set_index(["year", "product"])
    china = sup["china_supply_t"]
    normal = sup["china_normal_deliveries_t"].fillna(china) \
        if "china_normal_deliveries_t" in sup else china
    key = pd.MultiIndex.from_frame(av[["year", "product"]].astype({"year": "int64"}))
    c, n = china.reindex(key).to_numpy(float), normal.reindex(key).to_numpy(float)
    a = av["china_availability"].to_numpy(float)
    share = a * np.divide(n, c, out=np.ones_like(c), where=c > 0)
    return np.where(a >= 1.0 - 1e-9, 1.0, np.minimum(share, 1.0))


def cost(m: pyo.ConcreteModel, result) -> float | None:
    """A solve's objective without the floor tie-break term (MUSD)."""
    if result.objective_musd is None:
        return None
    return result.objective_musd - pyo.value(m.floor_tie_break_musd)


def vss(inst: Instance, design: Design, data: ModelData, rp_objective: float,
        options: SolverOptions | None = None, on_step=None) -> dict:
    """EV, EEV, WS, VSS and EVPI for a solved stochastic problem with objective RP.

    EV: the design on the expected path (its own bankability view); EEV: EV's first stage
    evaluated on all scenarios; WS: each scenario solved alone (perfect information)."""
    opts = options or SolverOptions()
    ev_data = prepare(expected_instance(inst), design)
    m_ev = build_model(ev_data)
    ev = solve(m_ev, opts)
    m_eev, eev = evaluate_on(inst, design, first_stage(m_ev, ev_data), opts)
    ws_costs, statuses = [], {ev.status, eev.status}
    names = inst.scenarios["scenario"].tolist()
    for k, name in enumerate(names):
        d_s = prepare(with_scenario_rows(inst, [name], [1.0]), design)
        m_s = build_model(d_s)
        r_s = solve(m_s, opts)
        statuses.add(r_s.status)
        ws_costs.append(cost(m_s, r_s))
        if on_step:
            on_step(k, len(names))
    ws = float(data.probability @ ws_costs)
    eev_cost = cost(m_eev, eev)
    return {"rp_musd": rp_objective, "ev_musd": cost(m_ev, ev), "eev_musd": eev_cost,
            "ws_musd": ws, "vss_musd": eev_cost - rp_objective,
            "evpi_musd": rp_objective - ws, "all_optimal": statuses == {"optimal"},
            "wait_and_see_solves": len(names)}


def foresight_gap(inst: Instance, design: Design, objective: float,
                  options: SolverOptions | None = None) -> dict:
    """The value of foresight: the design with a clairvoyant stockpile (each scenario's
    stockpile sees its whole path: a bound, no agency can follow it) against ``objective``,
    the optimum under the design's own (non-anticipative) policy. Both without the floor
    tie-break; the clairvoyant optimum is a lower bound, so the gap is >= 0 up to the MIP
    gaps of the two solves."""
    bound_design = dataclasses.replace(design, stockpile_policy="clairvoyant")
    data = prepare(inst, bound_design)
    m = build_model(data)
    res = solve(m, options or SolverOptions())
    proved = res.status == "optimal"
    bound = cost(m, res) if proved else None  # an unproved incumbent bounds nothing
    return {"policy": design.stockpile_policy, "policy_musd": objective,
            "clairvoyant_musd": bound, "status": res.status,
            "clairvoyant_dual_bound_musd": res.dual_bound_musd,
            "value_of_foresight_musd": None if bound is None else objective - bound,
            "clairvoyant_first_stage": first_stage_to_json(first_stage(m, data))
            if res.has_solution else None}


def scenario_costs(m: pyo.ConcreteModel, data: ModelData) -> pd.DataFrame:
    """After a solve: one row per scenario with its probability, its cost per ledger
    category, outlay and total (MUSD, discounted; first-stage costs counted in every
    scenario, no floor tie-break) and its shortfall per product over the horizon (t)."""
    from remech.model.core import CATEGORIES, OUTLAY_CATEGORIES, ledger_values

    n_s = len(data.scenarios)
    first, second = ledger_values(m, n_s)
    out = pd.DataFrame({"scenario": data.scenarios, "probability": data.probability})
    for c in CATEGORIES:
        out[f"{c}_musd"] = first[c] + second[c]
    out["outlay_musd"] = sum(out[f"{c}_musd"] for c in OUTLAY_CATEGORIES)
    out["total_cost_musd"] = sum(out[f"{c}_musd"] for c in CATEGORIES)
    short = {(s, p): 0.0 for s in range(n_s) for p in range(len(data.products))}
    for (s, _t, p), v in m.shortfall_t.items():
        short[s, p] += v.value or 0.0
    for p, name in enumerate(data.products):
        out[f"shortfall_{name}_t"] = [short[s, p] for s in range(n_s)]
    return out


def supported_projects(m: pyo.ConcreteModel, data: ModelData) -> set[str]:
    """Projects supported in a solved (or fixed) model."""
    return {data.projects[int(data.options.project[o])] for o, v in m.support.items()
            if (v.value or 0) > 0.5}
