"""Price floor (contract for difference), collars and plant support.

prepare: the floor menu of each product (typed entries: no floor, floor, collar, tariff
reference) and the support options, computed by remech.model.plants: the plant options
q = admissible (plant, one menu entry per product it makes, start year) with their grant
and NPV, and the line rows o = (line, entry, start year) they are made of, with output,
top-up and the producer's gain per scenario and year as data.

Line economics (per line row, scenario and year, before the model is built; details in
remech.model.plants):
  received_ost = max(F_l, price_st) - sigma_l max(price_st - C_l, 0) in contract years,
                 price_st after the contract (design [price_floor] contract_years, from
                 the plant's first year of output; default: the whole horizon)
  output_ost   = cap_jyt x sum_k share_jk [received_ost >= c_jk]   (cost tiers k; a line
                 without cost_tiers.csv rows has one tier, share 1, at its unit cost)
  NPV_q        = the design's test over s of sum_{lines} (discounted margins + tail)
                 - the plant's capex (counted once, the year before its start)

Variables
  floor_choice[p, l] in {0,1}   product p gets menu entry l (l = 0: no floor)
  support[k, y] in {0,1}        plant k is supported and starts in year y
  option[q] in [0,1]            plant option q = (plant k, entry l_p for each product p it
                                makes, start y) is chosen; 0 or 1 in integer solutions
  line_support[o] in [0,1]      line row o = (line j, entry l, start y) is supported

Constraints
  c_one_level[p]:       sum_l floor_choice[p, l] = 1
  c_link[k, p, l]:      sum_{q of k, l_p(q) = l} option[q] <= floor_choice[p, l]
  c_plant_start[k, y]:  sum_{q of k starting in y} option[q] = support[k, y]
  c_one_option[k]:      sum_y support[k, y] <= 1   (= 1 if support is compulsory)
  c_line_support[o]:    line_support[o] = sum_{q using row o} option[q]
  c_floor_used[p, l], F_l > 0:  floor_choice[p, l] <= sum_{q with l_p(q) = l} option[q]
                        (a floor is declared only if some plant is contracted under it)

Together these make option[q] = support[k, y] x prod_{p of k} floor_choice[p, l_p(q)]
exactly, without big-M: for binary floor choices c_link leaves open one option per plant
and start year, the one whose entries are the chosen floors, and c_plant_start sets it to
the plant's support binary. So a plant is supported at the floors chosen for its products
and only under an admissible combination of them (remech.model.plants), with that
combination's grant. The binaries are one per plant and start year: a plant making three
products has up to |menu_NdPr| x |menu_Dy| x |menu_Tb| options (4,864 in the full-toolkit
design), which as binaries kept HiGHS's presolve probing for longer than its 900 s limit
before any search; as continuous variables they keep the same LP relaxation. (A weaker
formulation with one variable per plant, product and entry, and rows cutting the
inadmissible combinations, was measured too: its root bound on the shipped default was
853.6 MUSD against 1,379.6 here.)
Tariff reference entries (remech.model.tariff) and grants (remech.model.grants) are
options of this menu with their own rows and cost categories.

Costs (MUSD)
  tie-break (first stage, in no category): FLOOR_TIE_BREAK * sum F_l * floor_choice[p, l],
                          at most 1e-7 MUSD per USD/kg, so that among designs of equal cost
                          the lower floor is reported (remech.model.ledger
                          cost_without_tie_break removes it)
  topup[s]:               sum_o (sum_t d_t * topup_musd[o, s, t]) * line_support[o]
  producer_surplus[s]:    - sum_o PS_os line_support[o] - sum_q g_q option[q]
where topup_musd[o,s,t] = output_t[o,s,t] * (max(F_l - price[s,t,p], 0) - clawback) * 1e-3
in the contract's years, 0 after them (paid per line on actual output: the tiers that run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.model import plants
from remech.model.data import Context, MenuEntry, ModelData
from remech.model.ledger import Category, Ledger, linear

#: MUSD per (USD/kg) of declared floor: prefers the lower of two equally costly floors
FLOOR_TIE_BREAK = 1e-7


# ----------------------------------------------------------------------------- prepare


def menus(ctx: Context) -> list[list[MenuEntry]]:
    """Each product's floor menu: (0, 0, 0) "no floor" first unless the design makes the
    product's floor mandatory; without the floor instrument it is the only entry; then
    floors x upside shares, then tariff reference prices."""
    design, out = ctx.design, []
    for p in ctx.products:
        menu = design.floor_levels_usd_per_kg.get(p, []) if design.price_floor else []
        terms = [] if (menu and p in design.mandatory_floor) else [(0.0, 0.0, 0.0, False)]
        terms += [(f, sh, design.upside_cap_usd_per_kg.get(p, f), False)
                  for f in menu for sh in design.upside_shares]
        if design.tariff:
            terms += [(r, 0.0, 0.0, True)
                      for r in design.tariff_reference_usd_per_kg.get(p, [])]
        out.append([MenuEntry(float(f), float(sh), float(cap), bool(tar), index=i)
                    for i, (f, sh, cap, tar) in enumerate(terms)])
    return out


def prepare(ctx: Context, fixed=None) -> dict:
    """The menus, the plant options and their line rows (remech.model.plants), and the
    output of lines outside the mechanism.

    ``fixed`` (a FirstStage) keeps a solved mechanism's investment decisions: the plants
    built outside it and exactly its chosen plant options with their grants."""
    return plants.prepare(ctx, menus(ctx), fixed)


# ----------------------------------------------------------------------------- model


@dataclass
class Support:
    """The handles other blocks use: the plants' support binaries per start year, the
    plant options, the line rows' support and the floor choice."""

    support: pyo.Var  # [k, y] binary: plant k is supported and starts in y
    floor_choice: pyo.Var  # [p, l]
    line: pyo.Var  # [o] in [0, 1]: line row o is supported (0 or 1 in integer solutions)
    option: pyo.Var  # [q] in [0, 1]: plant option q is chosen (0 or 1 in integer solutions)


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> Support:
    popt = data.plant_options
    levels = [(p, e.index) for p in range(len(data.products)) for e in data.menus[p]]
    m.PL = pyo.Set(initialize=levels, dimen=2, ordered=True)
    m.O = pyo.RangeSet(0, len(data.options.project) - 1)
    m.Q = pyo.RangeSet(0, len(popt.plant) - 1)
    starts = sorted({(int(k), int(y)) for k, y in zip(popt.plant, popt.start_year,
                                                      strict=True)})
    m.KY = pyo.Set(initialize=starts, dimen=2, ordered=True)
    m.floor_choice = pyo.Var(m.PL, within=pyo.Binary)
    m.support = pyo.Var(m.KY, within=pyo.Binary)
    m.option = pyo.Var(m.Q, bounds=(0.0, 1.0))
    m.line_support = pyo.Var(m.O, bounds=(0.0, 1.0))
    m.c_one_level = pyo.Constraint(
        m.P, rule=lambda m, p: sum(m.floor_choice[p, e.index] for e in data.menus[p]) == 1)
    at_entry = _links(m, data)
    _plant_rows(m, data, starts)
    m.c_floor_used = pyo.Constraint(
        [(p, l) for (p, l) in levels if data.menus[p][l].level_usd_per_kg > 0],
        rule=lambda m, p, l: linear([(1.0, m.floor_choice[p, l])] + [
            (-1.0, m.option[q]) for (_, pp, ll), qs in at_entry.items() if (pp, ll) == (p, l)
            for q in qs]) <= 0.0)
    m.floor_tie_break_musd = pyo.Expression(expr=FLOOR_TIE_BREAK * sum(
        float(data.menus[p][l].level_usd_per_kg) * m.floor_choice[p, l] for (p, l) in levels))
    _costs(m, data, ledger)
    return Support(m.support, m.floor_choice, m.line_support, m.option)


def _links(m: pyo.ConcreteModel, data: ModelData) -> dict[tuple[int, int, int], list[int]]:
    """c_link[k, p, l]: sum_{q of plant k with l_p(q) = l} option[q] <= floor_choice[p, l],
    for every product p of plant k and entry l some option of k uses. It implies the
    per-option rows option[q] <= floor_choice[p, l_p(q)] and, with one option per plant,
    loses no integer point; summed over a plant's options it is tighter in the LP
    relaxation and has one row per plant, product and entry instead of one per option and
    product. Returns the options by (k, p, l)."""
    popt = data.plant_options
    groups: dict[tuple[int, int, int], list[int]] = {}
    for q, ent in enumerate(popt.entries):
        for p, e in ent.items():
            groups.setdefault((int(popt.plant[q]), p, e.index), []).append(q)
    m.c_link = pyo.Constraint(sorted(groups), rule=lambda m, k, p, l: linear(
        [(1.0, m.option[q]) for q in groups[k, p, l]] + [(-1.0, m.floor_choice[p, l])])
        <= 0.0)
    return groups


def _plant_rows(m: pyo.ConcreteModel, data: ModelData, starts: list[tuple[int, int]]
                ) -> None:
    """The plant's options against its support binaries and its line rows:

      c_plant_start[k, y]: sum_{q of k starting in y} option[q] = support[k, y]
      c_one_option[k]:     sum_y support[k, y] <= 1        (= 1 if support is compulsory)
      c_line_support[o]:   line_support[o] = sum_{q using row o} option[q]

    For binary floor choices, c_link leaves open at most one option per plant and start
    (the one whose entries are the chosen floors), so option[q] = support[k, y] is 0 or 1:
    the option variables need not be binary."""
    popt = data.plant_options
    of_start: dict[tuple[int, int], list[int]] = {}
    for q, (k, y) in enumerate(zip(popt.plant, popt.start_year, strict=True)):
        of_start.setdefault((int(k), int(y)), []).append(q)
    m.c_plant_start = pyo.Constraint(m.KY, rule=lambda m, k, y: linear(
        [(1.0, m.option[q]) for q in of_start[k, y]] + [(-1.0, m.support[k, y])]) == 0.0)
    by_plant: dict[int, list[int]] = {}
    for k, y in starts:
        by_plant.setdefault(k, []).append(y)
    m.K_supportable = pyo.Set(initialize=sorted(by_plant), ordered=True)

    def one_option(m, k):
        total = sum(m.support[k, y] for y in by_plant[k])
        return total == 1 if data.plant_forced[k] else total <= 1

    m.c_one_option = pyo.Constraint(m.K_supportable, rule=one_option)
    of_row: dict[int, list[int]] = {}
    for q, rows in enumerate(popt.rows):
        for o in rows:
            of_row.setdefault(o, []).append(q)
    m.c_line_support = pyo.Constraint(m.O, rule=lambda m, o: linear(
        [(1.0, m.line_support[o])] + [(-1.0, m.option[q]) for q in of_row[o]]) == 0.0)


def _costs(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> None:
    """Top-ups (contracts, not tariffs) and the producers' gain per line row and scenario;
    the grant's part of the producers' gain per plant option (first stage)."""
    opt, popt = data.options, data.plant_options
    if len(opt.project):  # discounted top-up per line row and scenario: [o, s]
        topup_pv = np.einsum("ost,t->os", opt.topup_musd, data.discount)
        contracts = ~opt.is_tariff
        for s in range(len(data.scenarios)):
            col = topup_pv[:, s]
            for o in np.flatnonzero(col * contracts):
                ledger.add_second(Category.TOPUP, s, col[o], m.line_support[int(o)])
                for t in np.flatnonzero(opt.topup_musd[o, s]) if ledger.track_years else ():
                    ledger.add_year(s, int(t), opt.topup_musd[o, s, t], m.line_support[int(o)])
            gain = opt.producer_surplus_musd[:, s]
            for o in np.flatnonzero(gain):
                ledger.add_second(Category.PRODUCER_SURPLUS, s, -gain[o],
                                  m.line_support[int(o)])
    for q in np.flatnonzero(popt.grant_musd * data.plant_allied[popt.plant]):
        ledger.add_first(Category.PRODUCER_SURPLUS, -popt.grant_musd[q], m.option[int(q)])


def chosen_options(m: pyo.ConcreteModel, data: ModelData) -> list[int]:
    """The plant options chosen in a solved (or fixed) model."""
    return [int(q) for q, v in m.option.items() if (v.value or 0.0) > 0.5]


def chosen(m: pyo.ConcreteModel, data: ModelData) -> list[MenuEntry | None]:
    """[p] the menu entry chosen for each product (None if the solve left it unset)."""
    out: list[MenuEntry | None] = []
    for p in range(len(data.products)):
        picks = [e for e in data.menus[p] if (m.floor_choice[p, e.index].value or 0.0) > 0.5]
        out.append(picks[0] if picks else None)
    return out


# ----------------------------------------------------------------------------- report


def report(m: pyo.ConcreteModel, data: ModelData, projects: pd.DataFrame) -> dict:
    """Floors, collars, the projects table (one row per line) and the plants table;
    ``output_t`` [j, s, t] is each line's output as solved (for the other reports)."""
    floors, upside, cap_up = {}, {}, {}
    for name, e in zip(data.products, chosen(m, data), strict=True):
        level = 0.0 if e is None or e.is_tariff else e.level_usd_per_kg
        floors[name] = level if level > 0 else None
        upside[name] = float(e.upside_share) if level > 0 else 0.0
        cap_up[name] = float(e.upside_cap_usd_per_kg) if upside[name] else None
    opt, popt, pj = data.options, data.plant_options, projects.reset_index(drop=True)
    output = data.outside_output_t.copy()  # [j, s, t]
    sup = np.zeros(len(pj), bool)
    proj_floor, last_year = np.full(len(pj), np.nan), np.full(len(pj), np.nan)
    start = np.where([data.plant_built_outside[k] for k in data.project_plant],
                     pj["start_year"].to_numpy(float), np.nan)
    picked = np.array(chosen_options(m, data), dtype=int)
    for q in picked:
        for o in popt.rows[q]:
            j = opt.project[o]
            sup[j], output[j], start[j] = True, opt.output_t[o], opt.start_year[o]
            proj_floor[j], last_year[j] = opt.entry[o].level_usd_per_kg, \
                opt.contract_last_year[o]
    expected = np.einsum("s,jst->j", data.probability, output)
    capacity = data.capacity_t.sum(1)
    projects_df = pd.DataFrame({
        "project": pj["project"], "plant": pj["plant"], "name": pj["name"],
        "host": pj["host"], "product": pj["product"], "status": pj["status"],
        "supported": sup, "start_year": start,
        "floor_usd_per_kg": np.where(sup & (proj_floor > 0), proj_floor, np.nan),
        "contract_last_year": np.where(sup & (proj_floor > 0), last_year, np.nan),
        "expected_output_t": expected.round(3),
        "expected_capacity_use": np.divide(expected, capacity, out=np.full(len(pj), np.nan),
                                           where=capacity > 0).round(6),
    })
    plants_df = _plants_table(data, pj, picked, expected)
    return {"floors": floors, "upside": upside, "cap_up": cap_up, "projects": projects_df,
            "plants": plants_df, "output_t": output,
            "grants_musd": float(popt.grant_musd[picked].sum()) if len(picked) else 0.0}


def _plants_table(data: ModelData, pj: pd.DataFrame, picked: np.ndarray,
                  expected_t: np.ndarray) -> pd.DataFrame:
    """plants.csv: one row per plant: its lines, whether and how it is supported (the
    entry per product, start year, grant and NPV under the test), its capex (counted
    once) and its expected output."""
    popt, rows = data.plant_options, []
    chosen_of = {int(popt.plant[q]): q for q in picked}
    for k, name in enumerate(data.plants):
        lines = np.flatnonzero(data.project_plant == k)
        q = chosen_of.get(k)
        terms = "" if q is None else ", ".join(
            f"{data.products[p]} {_entry_text(e)}" for p, e in sorted(popt.entries[q].items()))
        first = pj.iloc[lines[0]]
        rows.append({
            "plant": name, "lines": " ".join(pj.iloc[lines]["project"]),
            "products": " ".join(dict.fromkeys(pj.iloc[lines]["product"])),
            "host": first["host"], "status": first["status"], "supported": q is not None,
            "built_outside": bool(data.plant_built_outside[k]),
            "planned_start_year": float(first["start_year"]),
            "start_year": float(popt.start_year[q]) if q is not None else (
                float(first["start_year"]) if data.plant_built_outside[k] else np.nan),
            "terms": terms, "capex_musd": float(data.plant_capex_musd[k]),
            "grant_musd": round(float(popt.grant_musd[q]), 6) if q is not None else 0.0,
            "npv_test_musd": round(float(popt.npv_test_musd[q]), 6) if q is not None
            else np.nan,
            "expected_output_t": round(float(expected_t[lines].sum()), 3)})
    return pd.DataFrame(rows)


def _entry_text(e: MenuEntry) -> str:
    if e.is_tariff:
        return f"tariff reference {e.level_usd_per_kg:g}"
    if e.level_usd_per_kg <= 0:
        return "market"
    collar = f" (collar {e.upside_share:g} above {e.upside_cap_usd_per_kg:g})" \
        if e.upside_share else ""
    return f"floor {e.level_usd_per_kg:g}{collar}"


def floors_table(data: ModelData, sections: dict, tariff_ref: dict) -> pd.DataFrame:
    """floors.csv: the floor, upside share, tariff reference and cap per product."""
    return pd.DataFrame({
        "product": data.products,
        "floor_usd_per_kg": [sections["floors"][p] for p in data.products],
        "upside_share": [sections["upside"][p] for p in data.products],
        "tariff_reference_usd_per_kg": [np.nan if tariff_ref[p] is None else tariff_ref[p]
                                        for p in data.products],
        "upside_cap_usd_per_kg": [np.nan if sections["cap_up"][p] is None
                                  else sections["cap_up"][p] for p in data.products]})


# ----------------------------------------------------------------------------- first stage


def read_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    """Floor-menu entries, the chosen plant options (plant, entry per product, start year)
    with their grants, and the plants built outside the mechanism."""
    from remech.model.first_stage import PlantChoice

    fs.floor_level = {data.products[p]: data.menus[p][l]
                      for (p, l), v in m.floor_choice.items() if (v.value or 0) > 0.5}
    popt = data.plant_options
    fs.support = {PlantChoice.of(data, q): float(popt.grant_musd[q])
                  for q in chosen_options(m, data)}
    fs.built_outside = {data.plants[k] for k in np.flatnonzero(data.plant_built_outside)}


def fix_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    for (p, l), var in m.floor_choice.items():
        var.fix(1.0 if fs.floor_level.get(data.products[p]) == data.menus[p][l] else 0.0)
    starts = {(c.plant, c.start_year) for c in fs.support}
    for (k, y), var in m.support.items():
        var.fix(1.0 if (data.plants[k], y) in starts else 0.0)
    m.c_floor_used.deactivate()  # it only selects among equally costly floors
