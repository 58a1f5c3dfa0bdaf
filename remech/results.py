"""Read the solved model into the recommended mechanism: a JSON-ready dict and tables.

Costs are evaluated from the model's cost ledger (core.ledger_values): the same
coefficients the objective is built from, so the report and the objective cannot disagree.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech import __version__
from remech.design import Design
from remech.evaluate import first_stage, first_stage_to_json
from remech.instance import Instance
from remech.model.core import CATEGORIES, OUTLAY_CATEGORIES, ledger_values
from remech.prepare import ModelData, weighted_quantile
from remech.solve import SolveResult

SCHEMA_VERSION = "1.0"
REPORT_CVAR_ALPHA = 0.95


def _values(var, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape)
    for idx, v in var.items():
        out[idx] = v.value if v.value is not None else 0.0
    return out


def cvar(values: np.ndarray, prob: np.ndarray, alpha: float) -> float:
    """CVaR_alpha of a discrete distribution: mean of the worst (1 - alpha) tail."""
    var_ = float(weighted_quantile(values, prob, alpha))
    return var_ + float(prob @ np.maximum(values - var_, 0.0)) / (1.0 - alpha)


def _clean(x):
    """JSON-safe: numpy scalars to Python, inf/nan to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def software_versions() -> dict[str, str]:
    import pyomo

    from remech.solve import new_highs

    return {"remech": __version__, "python": platform.python_version(),
            "pyomo": pyomo.__version__, "highspy": new_highs().version(),
            "pandas": pd.__version__, "numpy": np.__version__}


def shadow_prices(res: SolveResult, data: ModelData) -> dict:
    """Marginal cost (MUSD) of tightening each security target by one unit, from the duals
    of the LP with the integer decisions fixed at the optimum: +1 percentage point of
    non-Chinese share, -1 point of single-country share or expected shortfall share, +1 day
    of stockpile cover. Conditional on the fixed integer decisions."""
    D = data.demand_t
    agg: dict[tuple[str, str], float] = {}

    def add(target: str, p: int, value: float) -> None:  # per product
        key = (target, data.products[p])
        agg[key] = agg.get(key, 0.0) + value

    for comp, rows in res.target_duals.items():
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


POLICY_TEXT = {
    "rule": "rule: a target level per year chosen in advance; each year's purchases and "
            "releases use only that year's prices and export controls",
    "tree": "tree: decisions equal across scenarios that share their history (nodes.csv)",
    "clairvoyant": "CLAIRVOYANT BOUND: each scenario's stockpile sees its whole future; "
                   "no agency can follow this, it bounds what foresight would be worth",
}


def stock_targets(m: pyo.ConcreteModel, data: ModelData) -> dict[str, list[float]]:
    """Policy "rule": the target level per year (t) of each stockpiled product."""
    if not hasattr(m, "stock_target_t"):
        return {}
    return {data.products[p]: [round(float(m.stock_target_t[t, p].value or 0.0), 6)
                               for t in m.T] for p in m.SP}


def policy_report(m: pyo.ConcreteModel, data: ModelData, targets: dict,
                  short: np.ndarray) -> dict:
    """How the stockpile decisions were taken, and a check that under the rule nothing was
    held back in a cut while the product ran short (the stock is drawn first)."""
    out = {"policy": data.stock_policy, "clairvoyant_bound": data.stock_policy == "clairvoyant",
           "meaning": POLICY_TEXT[data.stock_policy], "target_t_by_year": targets,
           "years": data.years}
    if not len(m.SP):
        return out
    held = 0.0
    lev = _values(m.stock_level_t, short.shape)
    if len(m.RP):
        lev = lev + _values(m.reserve_level_t, short.shape)
    for p in m.SP:
        both = np.minimum(lev[:, :, p], short[:, :, p]) * data.cut[:, :, p]
        held += float(data.probability @ both.sum(1))
    out["expected_held_back_while_short_t"] = held
    return out


def collect(m: pyo.ConcreteModel, data: ModelData, inst: Instance, design: Design,
            res: SolveResult) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Build mechanism.json's content and the result tables."""
    head = {
        "schema_version": SCHEMA_VERSION,
        "status": res.status,
        "proved_optimal": res.status == "optimal",
        "highs_status": res.highs_status,
        "objective_musd": res.objective_musd,
        "dual_bound_musd": res.dual_bound_musd,
        "mip_gap": res.mip_gap,
        "instance": {"name": inst.name, "path": str(inst.folder), "sha256": inst.sha256},
        "design": {"name": design.name, "path": str(design.path), "sha256": design.sha256},
        "solver": {**res.options, "nodes": res.nodes,
                   "simplex_iterations": res.simplex_iterations,
                   "model_size": res.model_size,
                   "timings_s": {k: round(v, 4) for k, v in res.timings_s.items()}},
        "software": software_versions(),
        "conflict": res.conflict,
    }
    if not res.has_solution:
        return _clean(head), {}

    S, T, P = len(data.scenarios), len(data.years), len(data.products)
    prob, opt = data.probability, data.options
    support = np.array([round(m.support[o].value or 0.0) for o in range(len(opt.project))])

    # floors
    floors, upside, cap_up, tariff_ref = {}, {}, {}, {}
    for p, name in enumerate(data.products):
        chosen = [l for l in range(len(data.levels_usd_per_kg[p]))
                  if (m.floor_choice[p, l].value or 0.0) > 0.5]
        l = chosen[0] if chosen else None
        level = float(data.levels_usd_per_kg[p][l]) if l is not None else 0.0
        is_tariff = bool(l is not None and data.level_is_tariff[p][l])
        tariff_ref[name] = level if is_tariff and level > 0 else None
        level = 0.0 if is_tariff else level
        floors[name] = level if level > 0 else None
        upside[name] = float(data.level_upside_share[p][l]) if level > 0 else 0.0
        cap_up[name] = float(data.level_upside_cap_usd_per_kg[p][l]) if upside[name] else None
    floors_df = pd.DataFrame({"product": data.products,
                              "floor_usd_per_kg": [floors[p] for p in data.products],
                              "upside_share": [upside[p] for p in data.products],
                              "tariff_reference_usd_per_kg": [
                                  np.nan if tariff_ref[p] is None else tariff_ref[p]
                                  for p in data.products],
                              "upside_cap_usd_per_kg": [np.nan if cap_up[p] is None
                                                        else cap_up[p]
                                                        for p in data.products]})

    # projects
    pj = inst.projects.reset_index(drop=True)
    output = data.outside_output_t.copy()  # [j, s, t]
    supported = np.zeros(len(pj), bool)
    proj_floor = np.full(len(pj), np.nan)
    grant = np.zeros(len(pj))
    npv = np.full(len(pj), np.nan)
    for o in np.flatnonzero(support):
        j = opt.project[o]
        supported[j] = True
        output[j] = opt.output_t[o]
        proj_floor[j] = opt.floor_usd_per_kg[o]
        grant[j] = opt.grant_musd[o]
        npv[j] = opt.npv_test_musd[o]
    exp_output = np.einsum("s,jst->j", prob, output)
    projects_df = pd.DataFrame({
        "project": pj["project"], "name": pj["name"], "host": pj["host"],
        "product": pj["product"], "status": pj["status"], "supported": supported,
        "floor_usd_per_kg": np.where(supported & (proj_floor > 0), proj_floor, np.nan),
        "grant_musd": grant.round(6), "npv_test_musd": npv.round(6),
        "expected_output_t": exp_output.round(3),
    })

    # stockpile
    buy = _values(m.stock_purchase_t, (S, T, P))
    rel = _values(m.stock_release_t, (S, T, P))
    lev = _values(m.stock_level_t, (S, T, P))
    stock_rows = []
    cap_dual = dict(res.target_duals.get("c_stock_capacity", []))
    for p, name in enumerate(data.products):
        if p not in m.SP:
            continue
        capacity = float(m.stock_capacity_t[p].value or 0.0)
        stock_rows.append({
            "product": name, "built": bool(round(m.stock_build[p].value or 0)),
            "capacity_t": round(capacity, 6),
            "max_capacity_t": float(data.stock_max_capacity_t[p]),
            "at_max_capacity": bool(capacity >= data.stock_max_capacity_t[p] * (1 - 1e-6)
                                    and capacity > 0),
            "expected_purchases_t": float(prob @ buy[:, :, p].sum(1)),
            "expected_releases_t": float(prob @ rel[:, :, p].sum(1)),
            # MUSD saved per extra t of allowed capacity of a built stockpile (dual of
            # c_stock_capacity with the integers fixed; 0 when below its limit)
            "max_capacity_value_musd_per_t": -cap_dual.get(p, 0.0)
            if m.stock_build[p].value and m.stock_build[p].value > 0.5 else None})
    stock_df = pd.DataFrame(stock_rows, columns=["product", "built", "capacity_t",
                                                 "max_capacity_t", "at_max_capacity",
                                                 "expected_purchases_t",
                                                 "expected_releases_t",
                                                 "max_capacity_value_musd_per_t"])
    targets = stock_targets(m, data)
    sidx = pd.MultiIndex.from_product([data.scenarios, data.years, data.products],
                                      names=["scenario", "year", "product"])
    policy_df = pd.DataFrame({"purchase_t": buy.ravel(), "release_t": rel.ravel(),
                              "level_t": lev.ravel()}, index=sidx).reset_index()
    policy_df = policy_df[policy_df["product"].isin([data.products[p] for p in m.SP])]

    # buyer of last resort: purchases at the floor, releases sold back at the buy-back price
    reserve_rows = []
    if len(m.RP):
        r_buy = _values(m.reserve_buy_t, (S, T, P))
        r_rel = _values(m.reserve_release_t, (S, T, P))
        r_lev = _values(m.reserve_level_t, (S, T, P))
        w = prob[:, None] * data.discount[None, :] * 1e-3  # [s, t] -> MUSD per t x USD/kg
        for p in m.RP:
            name = data.products[p]
            floor = floors[name] or 0.0
            back = data.buyback_usd_per_kg[p] if not np.isnan(data.buyback_usd_per_kg[p]) \
                else floor
            pi = data.price_usd_per_kg[:, :, p]
            reserve_rows.append({
                "product": name, "buyback_usd_per_kg": back,
                "expected_purchases_t": float(prob @ r_buy[:, :, p].sum(1)),
                "expected_releases_t": float(prob @ r_rel[:, :, p].sum(1)),
                "purchases_at_floor_musd": float((w * floor * r_buy[:, :, p]).sum()),
                "of_which_market_value_musd": float((w * pi * r_buy[:, :, p]).sum()),
                "of_which_topup_musd": float((w * (floor - pi) * r_buy[:, :, p]).sum()),
                "holding_musd": float((w * data.stock_holding_cost_usd_per_kg_yr[p]
                                       * r_lev[:, :, p]).sum()),
                "buyback_revenue_musd": float((w * back * r_rel[:, :, p]).sum()),
                "manufacturers_premium_musd": float((w * (back - pi) * r_rel[:, :, p]).sum()),
            })
    reserve_df = pd.DataFrame(reserve_rows, columns=[
        "product", "buyback_usd_per_kg", "expected_purchases_t", "expected_releases_t",
        "purchases_at_floor_musd", "of_which_market_value_musd", "of_which_topup_musd",
        "holding_musd", "buyback_revenue_musd", "manufacturers_premium_musd"])

    # costs per scenario and category
    first, second = ledger_values(m, S)
    by_cat = {c: first[c] + second[c] for c in CATEGORIES}  # [s] arrays
    total = sum(by_cat[c] for c in CATEGORIES)
    outlay = sum(by_cat[c] for c in OUTLAY_CATEGORIES)
    short = _values(m.shortfall_t, (S, T, P))
    scen_df = pd.DataFrame({"scenario": data.scenarios, "probability": prob})
    for c in CATEGORIES:
        scen_df[f"{c}_musd"] = by_cat[c]
    scen_df["outlay_musd"] = outlay
    scen_df["total_cost_musd"] = total
    for p, name in enumerate(data.products):
        scen_df[f"shortfall_{name}_t"] = short[:, :, p].sum(1)

    # Chinese deliveries actually needed, after the solve: demand + purchases - releases -
    # shortfall - allied output - other supply, within what China makes available
    allied = np.zeros((S, T, P))
    for j, p in enumerate(data.project_product):
        allied[:, :, p] += output[j]
    need = (data.demand_t[None] + buy - rel - short - allied - data.other_supply_t[None])
    china_used = np.clip(need, 0.0, data.china_cap_t)
    non_chinese = 1.0 - np.einsum("s,stp->p", prob, china_used) / np.where(
        data.demand_t.sum(0) > 0, data.demand_t.sum(0), 1.0)
    # tariff: consumers pay the premium on all they consume; the part on imports from
    # China comes back as tariff revenue. Per ally by demand share.
    ref = np.array([tariff_ref[p] or 0.0 for p in data.products])
    prem = np.where(ref[None, None] > 0, np.maximum(ref[None, None] - data.price_usd_per_kg,
                                                     0.0), 0.0)  # [s, t, p] USD/kg
    w = prob[:, None, None] * data.discount[None, :, None] * prem * 1e-3
    share_tp = np.divide(data.demand_by_ally_t, data.demand_t[None],
                         where=data.demand_t[None] > 0, out=np.zeros_like(data.demand_by_ally_t))
    consumer = np.einsum("stp,atp->a", w * (data.demand_t[None] - short), share_tp)
    revenue = np.einsum("stp,atp->a", w * china_used, share_tp)
    exp_short = np.einsum("s,stp->p", prob, short)
    demand = data.demand_t.sum(0)
    shortfall = {name: {"expected_t": float(exp_short[p]),
                        "expected_share": float(exp_short[p] / demand[p]) if demand[p] else 0.0}
                 for p, name in enumerate(data.products)}

    contrib = np.array([m.contribution_musd[a].value or 0.0 for a in range(len(data.members))])
    contrib_df = pd.DataFrame({"ally": data.members, "share": data.sharing_share,
                               "contribution_musd": contrib,
                               "budget_cap_musd": data.budget_cap_musd,
                               "consumer_cost_musd": consumer,
                               "tariff_revenue_musd": revenue,
                               "net_cost_musd": contrib + consumer - revenue})
    # each ally's payment in each scenario under its share of the outlay
    contrib_scen = pd.DataFrame(np.outer(outlay, data.sharing_share), columns=data.members)
    contrib_scen.insert(0, "scenario", data.scenarios)

    expected_cost = float(prob @ total)
    mech = {
        **head,
        "floors_usd_per_kg": floors,
        "upside_share": upside,
        "upside_cap_usd_per_kg": cap_up,
        "supported_projects": projects_df.loc[projects_df["supported"], "project"].tolist(),
        "projects": projects_df.to_dict(orient="records"),
        "stockpiles": stock_df.to_dict(orient="records"),
        "stockpile_policy": policy_report(m, data, targets, short),
        "first_stage": first_stage_to_json(first_stage(m, data)),
        "last_resort_reserve": reserve_df.to_dict(orient="records"),
        "grants_musd": float(grant.sum()),
        "burden_sharing": {"rule": data.sharing_rule},
        "contributions": {a: {"share": float(data.sharing_share[i]),
                              "contribution_musd": float(contrib[i]),
                              "budget_cap_musd": float(data.budget_cap_musd[i]),
                              "consumer_cost_musd": float(consumer[i]),
                              "tariff_revenue_musd": float(revenue[i]),
                              "net_cost_musd": float(contrib[i] + consumer[i] - revenue[i])}
                          for i, a in enumerate(data.members)},
        "tariff_reference_usd_per_kg": tariff_ref,
        "costs": {
            "expected_cost_musd": expected_cost,
            "expected_outlay_musd": float(prob @ outlay),
            "cvar_alpha": REPORT_CVAR_ALPHA,
            "cvar_cost_musd": cvar(total, prob, REPORT_CVAR_ALPHA),
            "cvar_outlay_musd": cvar(outlay, prob, REPORT_CVAR_ALPHA),
            "worst_scenario_cost_musd": float(total.max()),
            "by_category_musd": {c: float(prob @ by_cat[c]) for c in CATEGORIES},
            "risk_weight": data.cvar_weight, "risk_alpha": data.cvar_alpha,
            "discounted_to_year": data.years[0],
        },
        "shortfall": shortfall,
        "shadow_prices": shadow_prices(res, data),
        "shadow_prices_note": "duals of the LP with the integer decisions fixed at the "
                              "optimum and re-solved; conditional on that fix",
        "non_chinese_share": dict(zip(data.products, non_chinese.tolist(), strict=True)),
        "sizes": data.sizes,
    }
    tables = {"floors.csv": floors_df, "projects.csv": projects_df,
              "stockpile.csv": stock_df, "stockpile_policy.csv": policy_df,
              "stockpile_targets.csv": pd.DataFrame(
                  [{"product": p, "year": y, "target_t": v} for p, vals in targets.items()
                   for y, v in zip(data.years, vals, strict=True)],
                  columns=["product", "year", "target_t"]),
              "last_resort_reserve.csv": reserve_df,
              "contributions.csv": contrib_df, "contributions_by_scenario.csv": contrib_scen,
              "scenario_costs.csv": scen_df}
    return _clean(mech), tables


def write_results(outdir: Path, mech: dict, tables: dict[str, pd.DataFrame], force: bool,
                  extra_files: dict[str, Path] | None = None,
                  json_name: str = "mechanism.json", kind: str = "solve",
                  texts: dict[str, str] | None = None) -> None:
    """Write everything to a temporary sibling folder, then swap it into ``outdir``
    (remech.outdir.replace_folder: marker file, previous result kept until the swap,
    fallback folder on a write error)."""
    from remech.outdir import replace_folder

    def fill(folder: Path) -> None:
        (folder / json_name).write_text(json.dumps(_clean(mech), indent=2) + "\n")
        for name, df in tables.items():
            df.to_csv(folder / name, index=False)
        for name, text in (texts or {}).items():
            (folder / name).write_text(text)
        for name, path in (extra_files or {}).items():
            if Path(path).exists():
                shutil.copyfile(path, folder / name)

    replace_folder(Path(outdir), fill, force, kind)


def summary(mech: dict) -> str:
    """The printed summary of a solve."""
    lines = [f"remech: {mech['instance']['name']} x {mech['design']['name']}"]
    gap = mech.get("mip_gap")
    gap_text = f"{gap * 100:.3f} %" if gap is not None else "n/a"
    if mech["status"] == "optimal":
        lines.append(f"status        optimal (proved by HiGHS; relative gap {gap_text})")
    else:
        bound = mech.get("dual_bound_musd")
        bound_text = f"{bound:,.1f} MUSD" if bound is not None else "n/a"
        lines.append(f"status        {mech['status']} (HiGHS: {mech['highs_status']}; "
                     f"gap {gap_text}, bound {bound_text})")
    if "costs" not in mech:
        if mech.get("conflict"):
            lines.append("conflicting   " + "; ".join(mech["conflict"]))
        return "\n".join(lines)
    c = mech["costs"]
    lines.append(f"objective     {mech['objective_musd']:,.1f} MUSD "
                 f"(expected cost{' + risk term' if c['risk_weight'] else ''}, "
                 f"discounted to {c['discounted_to_year']})")
    penalty = c["by_category_musd"].get("target_penalty", 0.0)
    lines.append(f"expected cost {c['expected_cost_musd']:,.1f} MUSD = outlay "
                 f"{c['expected_outlay_musd']:,.1f} + shortfall loss "
                 f"{c['by_category_musd']['shortfall_loss']:,.1f}"
                 + (f" + target penalties {penalty:,.1f}" if penalty else ""))
    lines.append(f"cost at risk  CVaR{int(c['cvar_alpha'] * 100)} {c['cvar_cost_musd']:,.1f} MUSD"
                 f" (worst scenario {c['worst_scenario_cost_musd']:,.1f})")
    def floor_text(p, v):
        if v is None:
            return f"{p} none"
        share = mech.get("upside_share", {}).get(p, 0.0)
        collar = (f" (collar: {share * 100:g} % of the price above "
                  f"{mech['upside_cap_usd_per_kg'][p]:g} paid back)" if share else "")
        return f"{p} {v:g} USD/kg{collar}"

    lines.append("floors        " + ", ".join(
        floor_text(p, v) for p, v in mech["floors_usd_per_kg"].items()))
    tariffs = {p: v for p, v in mech.get("tariff_reference_usd_per_kg", {}).items() if v}
    if tariffs:
        cons = sum(v["consumer_cost_musd"] for v in mech["contributions"].values())
        rev = sum(v["tariff_revenue_musd"] for v in mech["contributions"].values())
        lines.append("tariffs       " + ", ".join(f"{p} reference {v:g} USD/kg"
                                                  for p, v in tariffs.items())
                     + f"; consumers pay {cons:,.1f}, tariff revenue {rev:,.1f} MUSD")
    for r in mech.get("last_resort_reserve", []):
        if r["expected_purchases_t"] < 0.5:
            continue
        lines.append(f"reserve       {r['product']}: buys {r['expected_purchases_t']:,.0f} t "
                     f"at the floor ({r['purchases_at_floor_musd']:,.1f} MUSD), sells back "
                     f"{r['expected_releases_t']:,.0f} t at {r['buyback_usd_per_kg']:g} USD/kg "
                     f"({r['buyback_revenue_musd']:,.1f} MUSD) (expected)")
    sup = mech["supported_projects"]
    lines.append(f"projects      {len(sup)} supported: {', '.join(sup) if sup else '-'}")
    if mech["grants_musd"]:
        lines.append(f"grants        {mech['grants_musd']:,.1f} MUSD")
    built = [s for s in mech["stockpiles"] if s["built"]]
    lines.append("stockpiles    " + (", ".join(
        f"{s['product']} {s['capacity_t']:,.0f} t" for s in built) if built else "none built")
        + (f"; policy {mech['stockpile_policy']['policy']}" if built else ""))
    if mech["stockpile_policy"]["clairvoyant_bound"]:
        lines.append("WARNING       " + mech["stockpile_policy"]["meaning"])
    lines.append("shortfall     " + ", ".join(
        f"{p} {v['expected_t']:,.0f} t ({v['expected_share'] * 100:.2f} %)"
        for p, v in mech["shortfall"].items()) + " expected over the horizon")
    for key, v in mech.get("shadow_prices", {}).items():
        lines.append(f"shadow price  {key}: {v['marginal_cost_musd']:,.3f} {v['unit']} "
                     "(integers fixed)")
    if "vss" in mech:
        v = mech["vss"]
        lines.append(f"VSS / EVPI    VSS {v['vss_musd']:,.1f} MUSD (EEV {v['eev_musd']:,.1f} - RP "
                     f"{v['rp_musd']:,.1f}), EVPI {v['evpi_musd']:,.1f} MUSD (RP - WS "
                     f"{v['ws_musd']:,.1f}); EV {v['ev_musd']:,.1f}")
    if mech.get("foresight"):
        f = mech["foresight"]
        gap = f["value_of_foresight_musd"]
        lines.append(f"foresight     clairvoyant bound {f['clairvoyant_musd']:,.1f} MUSD "
                     f"({f['status']}); value of foresight {gap:,.1f} MUSD over policy "
                     f"{f['policy']}" if gap is not None else
                     f"foresight     clairvoyant bound not found ({f['status']})")
    lines.append(f"contributions ({mech['burden_sharing']['rule']}) " + ", ".join(
        f"{a} {v['contribution_musd']:,.1f}" for a, v in mech["contributions"].items())
        + " MUSD")
    return "\n".join(lines)
