"""Evaluate first-stage decisions on another scenario set, and VSS / EVPI.

``evaluate_on(inst, design, first_stage)`` evaluates a mechanism on another scenario set:
it prepares the data with the mechanism's investment decisions kept (``prepare(...,
fixed=first_stage)``: the plants built outside the mechanism, the chosen plant options
and their grants are not re-tested on the new scenarios' futures), then ``evaluate(data,
first_stage)`` fixes the first-stage decisions (floor levels, chosen plant options (plant,
entry per product, start year), stockpile build, capacity and, under policy "rule", the
target level and reserve share per year) and solves the rest. Under "rule" the rest only
executes the policy year by year (buy up to the target, draw the stock first in a cut,
release nothing while supply is left over), so the evaluation is non-anticipative and a
scenario's cost does not depend on which other scenarios are evaluated with it; under
"clairvoyant" it re-optimises each scenario with foresight. ``c_floor_used`` is dropped,
since it only selects among equally costly floors.

VSS and EVPI (Birge and Louveaux): RP = the stochastic optimum; EV = the problem on the
expected scenario (mean prices and availability); EEV = EV's first stage evaluated on all
scenarios; WS = sum_s p_s (optimum of scenario s alone). VSS = EEV - RP >= 0,
EVPI = RP - WS >= 0.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.design import Design
from remech.instance import Instance
from remech.model import build_model
from remech.model import first_stage as stage
from remech.model.data import ModelData
from remech.model.first_stage import FirstStage
from remech.model.ledger import cost_without_tie_break, values
from remech.model.ledger import scenario_costs as ledger_scenario_costs
from remech.prepare import prepare
from remech.solving import SolverOptions, solve


def first_stage(m: pyo.ConcreteModel, data: ModelData) -> FirstStage:
    """The first-stage decisions of a solved model (remech.model.first_stage.read)."""
    return stage.read(m, data)


def evaluate_on(inst: Instance, design: Design, decisions: FirstStage,
                options: SolverOptions | None = None):
    """The mechanism ``decisions`` on ``inst``'s scenarios (see the module docstring)."""
    return evaluate(prepare(inst, design, fixed=decisions), decisions, options)


def evaluate(data: ModelData, decisions: FirstStage, options: SolverOptions | None = None):
    """Build the model of ``data`` with the first stage fixed to ``decisions``; solve."""
    m = build_model(data)
    stage.fix(m, data, decisions)
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
    return cost_without_tie_break(m, result.objective_musd)


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
            "clairvoyant_first_stage": first_stage(m, data).to_json()
            if res.has_solution else None}


def scenario_costs(m: pyo.ConcreteModel, data: ModelData) -> pd.DataFrame:
    """After a solve: one row per scenario with its cost per ledger category, outlay and
    total, and its shortfall per product (remech.model.ledger.scenario_costs)."""
    shape = (len(data.scenarios), len(data.years), len(data.products))
    return ledger_scenario_costs(m, data.scenarios, data.probability,
                                 values(m.shortfall_t, shape), data.products)


def supported_projects(m: pyo.ConcreteModel, data: ModelData) -> set[str]:
    """Lines (projects) supported in a solved (or fixed) model: those of the chosen plant
    options."""
    return {data.projects[int(data.options.project[o])] for o, v in m.line_support.items()
            if (v.value or 0) > 0.5}


def out_of_sample_check(reduced: str | Path, full: str | Path,
                        model: str | Path | None = None) -> dict:
    """The mechanism solved on a reduced scenario set, evaluated on the full set, against
    the full set's optimum (MUSD, without the floor tie-break)."""
    from remech.run import solve_files

    small = solve_files(reduced, model)
    whole = solve_files(full, model)
    m_eval, res = evaluate_on(whole.instance, whole.design,
                              first_stage(small.model, small.data))
    r_cost, o_cost, f_cost = cost(small.model, small.result), cost(m_eval, res), \
        cost(whole.model, whole.result)
    return {"in_sample_musd": r_cost, "out_of_sample_musd": o_cost,
            "full_optimum_musd": f_cost, "loss_musd": o_cost - f_cost,
            "loss_share": (o_cost - f_cost) / abs(f_cost)}
