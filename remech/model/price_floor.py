"""Price floor (contract for difference), collars and project support.

prepare: the floor menu of each product (typed entries: no floor, floor, collar, tariff
reference) and the support options o = admissible (project j, menu entry) pairs with their
output, top-up, grant and NPV as data, computed from the project economics per scenario.

Project economics (per option, scenario and year, before the model is built):
  received_lst = max(F_l, price_st) - sigma_l max(price_st - C_l, 0) in contract years,
                 price_st after the contract (design [price_floor] contract_years, from
                 the project's first year of output; default: the whole horizon)
  output_lst   = cap_jt x sum_k share_jk [received_lst >= c_jk]   (cost tiers k; a project
                 without cost_tiers.csv rows has one tier, share 1, at its unit cost)
  margin_lst   = cap_jt x sum_k share_jk max(received_lst - c_jk, 0) x 1e-3    MUSD
  NPV_ls       = sum_t e_t margin_lst + e_T (A_c margin_lsT + A_m margin0_sT) - capex
                 with A_c, A_m the annuity factors of the tail years under the contract
                 and after it (at the scenario's last market price, margin0).

Variables
  floor_choice[p, l] in {0,1}   product p gets menu entry l (l = 0: no floor)
  support[o] in {0,1}           project j(o) is supported at entry l(o)

Constraints
  c_one_level[p]:   sum_l floor_choice[p, l] = 1
  c_link[o]:        support[o] <= floor_choice[p(o), l(o)]
  c_one_option[j]:  sum_{o in j} support[o] <= 1   (= 1 if support is compulsory)
  c_floor_used[p, l], F_l > 0:  floor_choice[p, l] <= sum_{o at (p, l)} support[o]
                    (a floor is declared only if some project is contracted under it)

Together these make support[o] = y[j] * floor_choice[p, l] exactly (y[j] = sum_o support[o]),
without a big-M: a project can only be supported at the level chosen for its product.
Tariff reference entries (remech.model.tariff) and grants (remech.model.grants) are
options of this menu with their own rows and cost categories.

Costs (MUSD)
  tie-break (first stage, in no category): FLOOR_TIE_BREAK * sum F_l * floor_choice[p, l],
                          at most 1e-7 MUSD per USD/kg, so that among designs of equal cost
                          the lower floor is reported (remech.model.ledger
                          cost_without_tie_break removes it)
  topup[s]:               sum_o (sum_t d_t * topup_musd[o, s, t]) * support[o]
where topup_musd[o,s,t] = output_t[o,s,t] * (max(F_l - price[s,t,p], 0) - clawback) * 1e-3
in the contract's years, 0 after them (paid on actual output: the tiers that run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.errors import InputError
from remech.model.data import (
    MUSD_PER_T_USD_PER_KG,
    Context,
    MenuEntry,
    ModelData,
    Options,
    weighted_quantile,
)
from remech.model.ledger import Category, Ledger

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


@dataclass
class _Terms:
    """One project's contract terms under each menu entry of its product."""

    in_contract: np.ndarray  # [l, t] bool: the entry's terms apply in year t
    tail_contract: np.ndarray  # [l] annuity factor of the tail years under the terms
    tail_market: np.ndarray  # [l] annuity factor of the tail years at market prices
    last_year: np.ndarray  # [l] last contract year (nan: no floor, or a tariff)


@dataclass
class _Economics:
    """One project's economics under every menu entry of its product."""

    out: np.ndarray  # [l, s, t] output if supported
    top: np.ndarray  # [l, s, t] top-up MUSD
    npv: np.ndarray  # [l] NPV under the bankability test
    expected_npv: np.ndarray  # [l]
    gap: np.ndarray  # [l] grant needed (0 for existing projects)
    market: np.ndarray  # [s, t] output at market prices
    market_npv: np.ndarray  # [s]
    terms: _Terms
    surplus_pv: np.ndarray  # [l, s] producer's margin while supported, social discount
    market_surplus_pv: np.ndarray  # [s] its margin at market prices, social discount
    after_horizon_pv: np.ndarray  # [s] tail years of the last year's market margin
    capex_pv: float  # capex at the social discount rate (0 for an existing plant)
    built_outside: bool = False  # built or existing without support (set by prepare)
    allied: bool = True  # hosted by a member of the alliance (set by prepare)


def _test(npv_s: np.ndarray, ctx: Context) -> np.ndarray:
    """The design's bankability test of NPVs over scenarios (last axis)."""
    d = ctx.design
    if d.bankability_test == "expected":
        return npv_s @ ctx.probability
    if d.bankability_test == "worst":
        return npv_s.min(-1)
    return weighted_quantile(npv_s, ctx.probability, d.bankability_quantile)


def contract_span(ctx: Context, j: int) -> tuple[int, float]:
    """First and last year of a floor contract with project j: from its first year of
    output (existing plants: the first model year) for the design's ``contract_years``;
    without contract_years it never ends (the horizon, and the bankability tail under it)."""
    row, first = ctx.projects.iloc[j], ctx.years[0]
    start = first if row["status"] == "existing" else max(int(row["start_year"]), first)
    n = ctx.design.contract_years
    return start, (np.inf if n is None else float(start + n - 1))


def _terms(ctx: Context, j: int, menu: list[MenuEntry]) -> _Terms:
    """The years each entry's terms apply, and the tail's annuity factors at the hurdle
    rate split into tail years under the terms and at market prices. A tariff reference
    price (a policy, not a contract) and "no floor" apply in every year."""
    years, n_tail, h = np.asarray(ctx.years), ctx.design.tail_years, ctx.design.hurdle_rate
    start, last = contract_span(ctx, j)
    always = np.array([e.is_tariff or e.level_usd_per_kg <= 0 for e in menu])[:, None]
    in_contract = always | ((years >= start) & (years <= last))[None, :]  # [l, t]
    tail_years = years[-1] + np.arange(1, n_tail + 1)
    tail_in = always | ((tail_years >= start) & (tail_years <= last))[None, :]  # [l, k]
    disc = [(1.0 + h) ** -k for k in range(1, n_tail + 1)]  # summed as in _annuity
    tail_c = np.array([sum(d for d, inside in zip(disc, row, strict=True) if inside)
                       for row in tail_in], dtype=float)
    tail_m = np.array([sum(d for d, inside in zip(disc, row, strict=True) if not inside)
                       for row in tail_in], dtype=float)
    contract_end = float(min(last, years[-1]))  # the default contract: the horizon
    last_year = np.where(always[:, 0], np.nan, contract_end if np.isinf(last) else last)
    return _Terms(in_contract, tail_c, tail_m, last_year)


def _received(ctx: Context, j: int, menu: list[MenuEntry],
              in_contract: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[l, s, t] USD/kg: what project j receives and what the mechanism pays it per kg
    (top-up less the collar's clawback) under each entry; during the contract
    max(F, price) - sigma max(price - C, 0), after it the market price and no payment."""
    f = np.array([e.level_usd_per_kg for e in menu])[:, None, None]  # [l, 1, 1]
    sh = np.array([e.upside_share for e in menu])[:, None, None]
    cap_up = np.array([e.upside_cap_usd_per_kg for e in menu])[:, None, None]
    pi = ctx.price_usd_per_kg[None, :, :, ctx.project_product[j]]  # [1, s, t]
    clawback = sh * np.maximum(pi - cap_up, 0.0)  # collar: upside paid back, USD/kg
    inside = in_contract[:, None, :]
    received = np.where(inside, np.maximum(f, pi) - clawback, pi)
    pay = np.where(inside, np.maximum(f - pi, 0.0) - clawback, 0.0)
    return received, pay


def _tiered(ctx: Context, j: int, received: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output (t) and operating margin (MUSD) of project j receiving ``received`` USD/kg
    ([..., t]): cap_jt x the shares of the cost tiers whose cash cost it covers, and
    cap_jt x sum over those tiers of share_k (received - c_k) x 1e-3."""
    share, cost = ctx.tier_share[j], ctx.tier_cost_usd_per_kg[j]  # [k]
    runs = received[..., None] >= cost  # [..., t, k]
    capacity = ctx.capacity_t[j]  # [t]
    out = capacity * (runs * share).sum(-1)
    margin = capacity * (runs * share * (received[..., None] - cost)).sum(-1)
    return out, margin * MUSD_PER_T_USD_PER_KG


def _annuity(ctx: Context) -> float:
    """A_h(n): the value at the horizon's last year of 1 MUSD a year over the design's
    ``tail_years`` following it, at the hurdle rate."""
    h = ctx.design.hurdle_rate
    return sum((1.0 + h) ** -k for k in range(1, ctx.design.tail_years + 1))


def _npv(ctx: Context, j: int, margin: np.ndarray, market_margin: np.ndarray,
         tail_contract: np.ndarray, tail_market: np.ndarray) -> np.ndarray:
    """[..., s] NPV (MUSD) at the hurdle rate of ``margin`` [..., s, t], plus the tail: the
    last year's margin under the terms for the tail years the contract covers and at market
    prices (``market_margin`` [s, t], the scenario's last price) for the rest, less capex
    (new projects, spent the year before the first output)."""
    row, design, t_off = ctx.projects.iloc[j], ctx.design, np.arange(len(ctx.years))
    disc_h = (1.0 + design.hurdle_rate) ** -t_off
    capex_pv = 0.0 if row["status"] == "existing" else float(row["capex_musd"]) * (
        1.0 + design.hurdle_rate) ** -(max(int(row["start_year"]) - 1, ctx.years[0])
                                       - ctx.years[0])
    return ((margin * disc_h).sum(-1) + margin[..., -1] * disc_h[-1] * tail_contract
            + market_margin[..., -1] * disc_h[-1] * tail_market - capex_pv)


def _economics(ctx: Context, j: int, menu: list[MenuEntry]) -> _Economics:
    """Output, top-up and NPV of project j under each menu entry and at market prices:
    each cost tier runs when what the plant receives covers its cash cost; top-ups are paid
    on that output during the contract; NPV at the hurdle rate with the tail."""
    terms = _terms(ctx, j, menu)
    received, pay = _received(ctx, j, menu, terms.in_contract)
    out, margin = _tiered(ctx, j, received)  # [l, s, t]
    top = out * pay * MUSD_PER_T_USD_PER_KG
    market, market_margin = _tiered(ctx, j, ctx.price_usd_per_kg[:, :, ctx.project_product[j]])
    npv_s = _npv(ctx, j, margin, market_margin, terms.tail_contract[:, None],
                 terms.tail_market[:, None])
    npv = _test(npv_s, ctx)
    gap = np.where(ctx.projects.iloc[j]["status"] == "existing", 0.0, np.maximum(-npv, 0.0))
    market_npv = _npv(ctx, j, market_margin, market_margin, _annuity(ctx), 0.0)
    return _Economics(out, top, npv, npv_s @ ctx.probability, gap, market, market_npv, terms,
                      **_social(ctx, j, margin, market_margin))


def _social(ctx: Context, j: int, margin: np.ndarray, market_margin: np.ndarray) -> dict:
    """The producer's margins at the instance's (social) discount rate, for the economic
    view: while supported [l, s], at market prices [s], after the horizon [s], and the
    capex. After the horizon: the design's tail years of the expected last-year market
    margin over the scenarios without an export cut in that year (the same in every
    scenario: a crisis premium of the last year is not carried into the tail)."""
    row, d = ctx.projects.iloc[j], ctx.discount
    tail = sum((1.0 + ctx.inst.discount_rate) ** -k
               for k in range(1, ctx.design.tail_years + 1))
    capex_year = max(int(row["start_year"]) - 1, ctx.years[0]) - ctx.years[0]
    calm = ~_cut_last_year(ctx, j)  # [s]
    weight = ctx.probability * calm
    last = float(weight @ market_margin[:, -1] / weight.sum()) if weight.sum() > 0 \
        else float(ctx.probability @ market_margin[:, -1])
    return {"surplus_pv": (margin * d).sum(-1), "market_surplus_pv": (market_margin * d).sum(-1),
            "after_horizon_pv": np.full(len(ctx.scenarios), last * d[-1] * tail),
            "capex_pv": 0.0 if row["status"] == "existing"
            else float(row["capex_musd"]) * float(d[capex_year])}


def _cut_last_year(ctx: Context, j: int) -> np.ndarray:
    """[s] whether the last year is an export-control year for project j's product."""
    av = ctx.inst.availability
    product, year = ctx.products[ctx.project_product[j]], ctx.years[-1]
    rows = av[(av["product"] == product) & (av["year"] == year)]
    low = set(rows.loc[rows["china_availability"] < 1.0 - 1e-9, "scenario"])
    return np.array([s in low for s in ctx.scenarios], dtype=bool)


def _surplus(eco: _Economics, l: int, grant: float) -> np.ndarray:
    """[s] the producer's gain from being supported at entry l rather than left alone:
    its margin while supported (what it receives less its cost) and the grant, less its
    margin outside (if it is built or exists without support), less the capex and plus
    the plant's market margin after the horizon (if it is built only because of the
    support). Social discount rate; see remech.model.ledger.view_weights. Zero for a
    producer hosted outside the alliance (a partner): what it is paid leaves the alliance."""
    if not eco.allied:
        return np.zeros_like(eco.market_surplus_pv)
    if eco.built_outside:
        return eco.surplus_pv[l] - eco.market_surplus_pv + grant
    return eco.surplus_pv[l] + eco.after_horizon_pv - eco.capex_pv + grant


def prepare(ctx: Context, fixed=None) -> dict:
    """The menus, the support options and the output of projects outside the mechanism.

    ``fixed`` (a FirstStage) keeps a solved mechanism's investment decisions: the projects
    built outside it and exactly its supported options with their grants."""
    design, pj = ctx.design, ctx.projects
    menu_of = menus(ctx)
    existing = (pj["status"] == "existing").to_numpy()
    eligible = (np.ones(len(pj), bool) if design.eligible_projects is None
                else pj["project"].isin(design.eligible_projects).to_numpy())
    forced = existing & (design.support_existing == "all") & eligible
    rows: list[tuple[int, MenuEntry, _Economics, float]] = []  # (j, entry, economics, grant)
    outside = np.zeros((len(pj), len(ctx.scenarios), len(ctx.years)))
    built_outside = np.zeros(len(pj), bool)
    for j in range(len(pj)):
        menu = menu_of[ctx.project_product[j]]
        eco = _economics(ctx, j, menu)
        name = pj.at[j, "project"]
        ok = bool(existing[j] or _test(eco.market_npv, ctx) >= 0.0)
        if fixed is not None:
            ok = bool(existing[j] or name in fixed.built_outside)
        built_outside[j] = eco.built_outside = ok
        eco.allied = bool(pj.at[j, "host"] in ctx.members)
        outside[j] = eco.market if ok else 0.0
        if fixed is not None:
            rows += [(j, e, eco, fixed.support[name, e]) for e in menu
                     if (name, e) in fixed.support]
            continue
        mine = [(j, e, eco, float(eco.gap[e.index]) if eco.gap[e.index] > 0 else 0.0)
                for e in menu if _admissible(ctx, e, eco, j, forced[j], eligible[j],
                                             outside[j], ok)]
        if forced[j] and not mine:
            raise InputError(f"{design.path.name} [price_floor] support_existing: project "
                             f"'{name}' must be supported but no floor level is admissible "
                             "for it; use support_existing = \"choose\"")
        rows += mine
    return {"menus": menu_of, "options": _options(ctx, rows), "outside_output_t": outside,
            "project_built_outside": built_outside, "project_forced": forced,
            "project_existing": existing}


def _options(ctx: Context, rows: list[tuple[int, MenuEntry, _Economics, float]]) -> Options:
    """The support options' arrays from (project, entry, economics, grant) rows."""
    shape = (0, len(ctx.scenarios), len(ctx.years))

    def stack(get, empty_shape) -> np.ndarray:
        return np.array([get(eco, e.index) for _, e, eco, _ in rows]) if rows \
            else np.zeros(empty_shape)

    return Options(
        project=np.array([r[0] for r in rows], dtype=int), entry=[r[1] for r in rows],
        output_t=stack(lambda eco, l: eco.out[l], shape),
        topup_musd=stack(lambda eco, l: eco.top[l], shape),
        grant_musd=np.array([r[3] for r in rows], dtype=float),
        npv_test_musd=np.array([float(eco.npv[e.index]) for _, e, eco, _ in rows],
                               dtype=float),
        in_contract=stack(lambda eco, l: eco.terms.in_contract[l], (0, len(ctx.years))
                          ).astype(bool),
        contract_last_year=np.array([eco.terms.last_year[e.index] for _, e, eco, _ in rows],
                                    dtype=float),
        producer_surplus_musd=np.array([_surplus(eco, e.index, grant)
                                        for _, e, eco, grant in rows]) if rows
        else np.zeros((0, len(ctx.scenarios))))


def _admissible(ctx: Context, e: MenuEntry, eco: _Economics, j: int, forced: bool,
                eligible: bool, outside: np.ndarray, outside_ok: bool) -> bool:
    """Whether (project j, entry e) is a support option: eligible (a tariff reaches every
    producer), bankable (with a grant within the design's share of capex), the producer
    would sign (a collar can take upside away: its expected NPV under the contract is at
    least outside the mechanism), and it differs from leaving the project outside."""
    design, l = ctx.design, e.index
    if not (eligible or e.is_tariff):
        return False
    capex = float(ctx.projects.at[j, "capex_musd"])
    bankable = eco.gap[l] <= 0.0 or (
        design.grants and not e.is_tariff
        and eco.gap[l] <= design.grant_max_share_of_capex * capex + 1e-9)
    if not bankable:
        return False
    if forced or e.is_tariff:
        return True
    outside_value = float(eco.market_npv @ ctx.probability) if outside_ok else -np.inf
    if eco.expected_npv[l] < outside_value - 1e-9:
        return False  # the producer would not sign
    same_as_outside = (np.array_equal(eco.out[l], outside) and not eco.top[l].any()
                       and eco.gap[l] <= 0.0)
    return not same_as_outside  # identical to leaving the project outside: no option


# ----------------------------------------------------------------------------- model


@dataclass
class Support:
    """The handles other blocks use: the support binaries and the floor choice."""

    support: pyo.Var  # [o]
    floor_choice: pyo.Var  # [p, l]


def add(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> Support:
    opt = data.options
    levels = [(p, e.index) for p in range(len(data.products)) for e in data.menus[p]]
    m.PL = pyo.Set(initialize=levels, dimen=2, ordered=True)
    m.O = pyo.RangeSet(0, len(opt.project) - 1)
    m.floor_choice = pyo.Var(m.PL, within=pyo.Binary)
    m.support = pyo.Var(m.O, within=pyo.Binary)

    m.c_one_level = pyo.Constraint(
        m.P, rule=lambda m, p: sum(m.floor_choice[p, e.index] for e in data.menus[p]) == 1)
    prod_of, level_of = data.project_product, opt.level
    m.c_link = pyo.Constraint(
        m.O, rule=lambda m, o: m.support[o]
        <= m.floor_choice[int(prod_of[opt.project[o]]), int(level_of[o])])

    by_project: dict[int, list[int]] = {}
    for o, j in enumerate(opt.project):
        by_project.setdefault(int(j), []).append(o)
    m.J_supportable = pyo.Set(initialize=sorted(by_project), ordered=True)

    def one_option(m, j):
        total = sum(m.support[o] for o in by_project[j])
        return total == 1 if data.project_forced[j] else total <= 1

    m.c_one_option = pyo.Constraint(m.J_supportable, rule=one_option)
    at_level: dict[tuple[int, int], list[int]] = {}
    for o, (j, lvl) in enumerate(zip(opt.project, level_of, strict=True)):
        at_level.setdefault((int(prod_of[j]), int(lvl)), []).append(o)
    m.c_floor_used = pyo.Constraint(
        [(p, l) for (p, l) in levels if data.menus[p][l].level_usd_per_kg > 0],
        rule=lambda m, p, l: m.floor_choice[p, l]
        <= sum(m.support[o] for o in at_level.get((p, l), [])))
    m.floor_tie_break_musd = pyo.Expression(expr=FLOOR_TIE_BREAK * sum(
        float(data.menus[p][l].level_usd_per_kg) * m.floor_choice[p, l] for (p, l) in levels))

    if len(opt.project):  # discounted top-up per option and scenario: [o, s]
        topup_pv = np.einsum("ost,t->os", opt.topup_musd, data.discount)
        contracts = ~opt.is_tariff
        for s in range(len(data.scenarios)):
            col = topup_pv[:, s]
            for o in np.flatnonzero(col * contracts):
                ledger.add_second(Category.TOPUP, s, col[o], m.support[int(o)])
                for t in np.flatnonzero(opt.topup_musd[o, s]) if ledger.track_years else ():
                    ledger.add_year(s, int(t), opt.topup_musd[o, s, t], m.support[int(o)])
            gain = opt.producer_surplus_musd[:, s]
            for o in np.flatnonzero(gain):
                ledger.add_second(Category.PRODUCER_SURPLUS, s, -gain[o], m.support[int(o)])
    return Support(m.support, m.floor_choice)


def supported(m: pyo.ConcreteModel) -> np.ndarray:
    """[o] 0/1 support of each option after a solve."""
    return np.array([round(v.value or 0.0) for v in m.support.values()], dtype=int)


def chosen(m: pyo.ConcreteModel, data: ModelData) -> list[MenuEntry | None]:
    """[p] the menu entry chosen for each product (None if the solve left it unset)."""
    out: list[MenuEntry | None] = []
    for p in range(len(data.products)):
        picks = [e for e in data.menus[p] if (m.floor_choice[p, e.index].value or 0.0) > 0.5]
        out.append(picks[0] if picks else None)
    return out


# ----------------------------------------------------------------------------- report


def report(m: pyo.ConcreteModel, data: ModelData, projects: pd.DataFrame) -> dict:
    """Floors, collars and the projects table; ``output_t`` [j, s, t] is each project's
    output as solved (for the other reports)."""
    floors, upside, cap_up = {}, {}, {}
    for name, e in zip(data.products, chosen(m, data), strict=True):
        level = 0.0 if e is None or e.is_tariff else e.level_usd_per_kg
        floors[name] = level if level > 0 else None
        upside[name] = float(e.upside_share) if level > 0 else 0.0
        cap_up[name] = float(e.upside_cap_usd_per_kg) if upside[name] else None
    opt, pj = data.options, projects.reset_index(drop=True)
    output = data.outside_output_t.copy()  # [j, s, t]
    sup = np.zeros(len(pj), bool)
    proj_floor, grant, npv = np.full(len(pj), np.nan), np.zeros(len(pj)), np.full(len(pj), np.nan)
    last_year = np.full(len(pj), np.nan)
    for o in np.flatnonzero(supported(m)):
        j = opt.project[o]
        sup[j], output[j] = True, opt.output_t[o]
        proj_floor[j], grant[j], npv[j] = opt.entry[o].level_usd_per_kg, opt.grant_musd[o], \
            opt.npv_test_musd[o]
        last_year[j] = opt.contract_last_year[o]
    expected = np.einsum("s,jst->j", data.probability, output)
    capacity = data.capacity_t.sum(1)
    projects_df = pd.DataFrame({
        "project": pj["project"], "name": pj["name"], "host": pj["host"],
        "product": pj["product"], "status": pj["status"], "supported": sup,
        "floor_usd_per_kg": np.where(sup & (proj_floor > 0), proj_floor, np.nan),
        "contract_last_year": np.where(sup & (proj_floor > 0), last_year, np.nan),
        "grant_musd": grant.round(6), "npv_test_musd": npv.round(6),
        "expected_output_t": expected.round(3),
        "expected_capacity_use": np.divide(expected, capacity, out=np.full(len(pj), np.nan),
                                           where=capacity > 0).round(6),
    })
    return {"floors": floors, "upside": upside, "cap_up": cap_up, "projects": projects_df,
            "output_t": output, "grant_by_project_musd": grant}


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
    """Floor-menu entries, supported (project, entry) options with their grants, and the
    projects built outside the mechanism."""
    fs.floor_level = {data.products[p]: data.menus[p][l]
                      for (p, l), v in m.floor_choice.items() if (v.value or 0) > 0.5}
    opt = data.options
    fs.support = {(data.projects[int(opt.project[o])], opt.entry[o]): float(opt.grant_musd[o])
                  for o, v in m.support.items() if (v.value or 0) > 0.5}
    fs.built_outside = {data.projects[j] for j in np.flatnonzero(data.project_built_outside)}


def fix_first_stage(m: pyo.ConcreteModel, data: ModelData, fs) -> None:
    for (p, l), var in m.floor_choice.items():
        var.fix(1.0 if fs.floor_level.get(data.products[p]) == data.menus[p][l] else 0.0)
    opt = data.options
    for o, var in m.support.items():
        key = (data.projects[int(opt.project[o])], opt.entry[o])
        var.fix(1.0 if key in fs.support else 0.0)
    m.c_floor_used.deactivate()  # it only selects among equally costly floors
