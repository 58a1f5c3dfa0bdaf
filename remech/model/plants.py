"""Plants and their support options: each product line's economics under every floor-menu
entry and start year, and the plant options built from them (data only; no Pyomo).

A **plant** (projects.csv ``plant``; a line without one is a plant of its own) makes one or
more products, each on a line (a row of projects.csv). It is supported, built, granted and
contracted as a whole: a plant option q is (plant P, one menu entry l_p for every product p
it makes, one start year y). Its revenue is the basket of its lines (each line receives
its own product's floor, or the market price), its capex K_P = sum of its lines'
capex_musd is counted once, and bankability and the grant are tested on the plant's NPV.

Line economics, per line j, entry l of its product, start year y (new plants: from the
earliest start, projects.csv start_year, to that plus the design's [investment]
max_delay_years; existing plants: their start), scenario s and year t:

  cap_jyt   = capacity_j x min(1, max(0, t - y + 1) / ramp_j)
  received  = max(F_l, price_st) - sigma_l max(price_st - C_l, 0) in the contract's years
              (from a_jy = max(y, t0) for a new plant, t0 for an existing one, for the
              design's contract_years), price_st after them
  out_jlyst = cap_jyt x sum_k w_jk [received >= c_jk]   (each line its own cost curve)
  top_jlyst = out x (max(F_l - price, 0) - clawback) x 1e-3 during the contract
  m_jlyst   = cap_jyt x sum_k w_jk max(received - c_jk, 0) x 1e-3            (MUSD)
  V_jlys    = sum_t e_t m_jlyst + e_T (A_c m_jlysT + A_m m0_jysT)   (hurdle rate, no capex)

Plant option q = (P, (l_p)_p, y):

  NPV_qs = sum_{j of P} V_{j, l_p(j), y, s} - K_P (1 + h)^-(max(y - 1, t0) - t0)
  NPV_q  = the design's test of NPV_qs over s;  grant g_q = max(0, -NPV_q) (new plants)

A plant is **built outside** the mechanism if it exists or passes the test at market prices
at its earliest start; outside, its lines produce their market output from that start.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from remech.errors import InputError
from remech.model.data import (
    MUSD_PER_T_USD_PER_KG,
    Context,
    MenuEntry,
    Options,
    PlantOptions,
    weighted_quantile,
)

#: MUSD: tolerance of the bankability, grant-cap and participation comparisons
TOLERANCE_MUSD = 1e-9


# ----------------------------------------------------------------------------- lines


@dataclass
class _Terms:
    """One line's contract terms under each menu entry of its product."""

    in_contract: np.ndarray  # [l, t] bool: the entry's terms apply in year t
    tail_contract: np.ndarray  # [l] annuity factor of the tail years under the terms
    tail_market: np.ndarray  # [l] annuity factor of the tail years at market prices
    last_year: np.ndarray  # [l] last contract year (nan: no floor, or a tariff)


@dataclass
class Line:
    """One line's economics at one start year, under every entry of its product's menu."""

    out: np.ndarray  # [l, s, t] output (t) if supported
    top: np.ndarray  # [l, s, t] top-up MUSD (undiscounted)
    value_s: np.ndarray  # [l, s] NPV of its margins at the hurdle rate, tail in, no capex
    market: np.ndarray  # [s, t] output at market prices
    market_value_s: np.ndarray  # [s] the same NPV at market prices
    terms: _Terms
    surplus_pv: np.ndarray  # [l, s] its margin while supported, social discount
    market_surplus_pv: np.ndarray  # [s] its margin at market prices, social discount
    #: [s] tail years of the expected last-year market margin of the scenarios without an
    #: export cut in the last year (social discount; the same in every scenario)
    after_horizon_pv: np.ndarray


def capacity_t(ctx: Context, j: int, start: int) -> np.ndarray:
    """[t] line j's capacity by year when its plant starts in ``start`` (ramped)."""
    row = ctx.projects.iloc[j]
    since = np.asarray(ctx.years) - start + 1
    return float(row["capacity_t"]) * np.clip(since / float(row["ramp_years"]), 0.0, 1.0)


def first_output_year(ctx: Context, j: int, start: int | None = None) -> int:
    """The first year a line's floor contract covers: its start (``start``, else
    projects.csv start_year) for a new line, at the earliest the first model year; the first
    model year for an existing one."""
    row, first = ctx.projects.iloc[j], ctx.years[0]
    if row["status"] == "existing":
        return first
    return max(int(row["start_year"] if start is None else start), first)


def contract_span(ctx: Context, j: int, start: int | None = None) -> tuple[int, float]:
    """First and last year of a floor contract with line j (starting in ``start``): from
    its first year of output for the design's ``contract_years``; without contract_years
    it never ends (the horizon, and the bankability tail under it)."""
    begin, n = first_output_year(ctx, j, start), ctx.design.contract_years
    return begin, (np.inf if n is None else float(begin + n - 1))


def _terms(ctx: Context, j: int, menu: list[MenuEntry], start: int) -> _Terms:
    """The years each entry's terms apply, and the tail's annuity factors at the hurdle
    rate split into tail years under the terms and at market prices. A tariff reference
    price (a policy, not a contract) and "no floor" apply in every year."""
    years, n_tail, h = np.asarray(ctx.years), ctx.design.tail_years, ctx.design.hurdle_rate
    begin, last = contract_span(ctx, j, start)
    always = np.array([e.is_tariff or e.level_usd_per_kg <= 0 for e in menu])[:, None]
    in_contract = always | ((years >= begin) & (years <= last))[None, :]  # [l, t]
    tail_years = years[-1] + np.arange(1, n_tail + 1)
    tail_in = always | ((tail_years >= begin) & (tail_years <= last))[None, :]  # [l, k]
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
    """[l, s, t] USD/kg: what line j receives and what the mechanism pays it per kg
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


def _tiered(ctx: Context, j: int, capacity: np.ndarray,
            received: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output (t) and operating margin (MUSD) of line j with ``capacity`` [t] receiving
    ``received`` USD/kg ([..., t]): capacity x the shares of the cost tiers whose cash
    cost it covers, and capacity x sum over those tiers of share_k (received - c_k) x 1e-3."""
    share, cost = ctx.tier_share[j], ctx.tier_cost_usd_per_kg[j]  # [k]
    runs = received[..., None] >= cost  # [..., t, k]
    out = capacity * (runs * share).sum(-1)
    margin = capacity * (runs * share * (received[..., None] - cost)).sum(-1)
    return out, margin * MUSD_PER_T_USD_PER_KG


def annuity(rate: float, years: int) -> float:
    """A(n): the value at the horizon's last year of 1 MUSD a year over the ``years``
    following it, at ``rate``."""
    return sum((1.0 + rate) ** -k for k in range(1, years + 1))


def _value(ctx: Context, margin: np.ndarray, market_margin: np.ndarray,
           tail_contract, tail_market) -> np.ndarray:
    """[..., s] NPV (MUSD) at the hurdle rate of ``margin`` [..., s, t], plus the tail: the
    last year's margin under the terms for the tail years the contract covers and at market
    prices (``market_margin`` [s, t], the scenario's last price) for the rest. No capex."""
    disc_h = (1.0 + ctx.design.hurdle_rate) ** -np.arange(len(ctx.years))
    return ((margin * disc_h).sum(-1) + margin[..., -1] * disc_h[-1] * tail_contract
            + market_margin[..., -1] * disc_h[-1] * tail_market)


def line_economics(ctx: Context, j: int, menu: list[MenuEntry], start: int) -> Line:
    """Output, top-up and value of line j under each menu entry and at market prices when
    its plant starts in ``start``: each cost tier runs when what the line receives covers
    its cash cost; top-ups are paid on that output during the contract."""
    terms = _terms(ctx, j, menu, start)
    cap = capacity_t(ctx, j, start)
    received, pay = _received(ctx, j, menu, terms.in_contract)
    out, margin = _tiered(ctx, j, cap, received)  # [l, s, t]
    market, market_margin = _tiered(ctx, j, cap,
                                    ctx.price_usd_per_kg[:, :, ctx.project_product[j]])
    d, rate = ctx.discount, ctx.inst.discount_rate
    return Line(
        out=out, top=out * pay * MUSD_PER_T_USD_PER_KG,
        value_s=_value(ctx, margin, market_margin, terms.tail_contract[:, None],
                       terms.tail_market[:, None]),
        market=market,
        market_value_s=_value(ctx, market_margin, market_margin,
                              annuity(ctx.design.hurdle_rate, ctx.design.tail_years), 0.0),
        terms=terms, surplus_pv=(margin * d).sum(-1),
        market_surplus_pv=(market_margin * d).sum(-1),
        after_horizon_pv=np.full(len(ctx.scenarios), _calm_last_margin(ctx, j, market_margin)
                                 * d[-1] * annuity(rate, ctx.design.tail_years)))


def _calm_last_margin(ctx: Context, j: int, market_margin: np.ndarray) -> float:
    """MUSD: line j's expected last-year market margin over the scenarios without an export
    cut of its product in the last year (all scenarios if every one has a cut): the margin
    the economic view carries into the tail years, the same in every scenario, so that a
    crisis premium of the last year is not carried into the tail."""
    weight = ctx.probability * ~_cut_last_year(ctx, j)
    if weight.sum() <= 0:
        weight = ctx.probability
    return float(weight @ market_margin[:, -1] / weight.sum())


def _cut_last_year(ctx: Context, j: int) -> np.ndarray:
    """[s] whether the last year is an export-control year for line j's product."""
    av = ctx.inst.availability
    product, year = ctx.products[ctx.project_product[j]], ctx.years[-1]
    rows = av[(av["product"] == product) & (av["year"] == year)]
    low = set(rows.loc[rows["china_availability"] < 1.0 - 1e-9, "scenario"])
    return np.array([s in low for s in ctx.scenarios], dtype=bool)


# ----------------------------------------------------------------------------- plants


@dataclass
class Plant:
    """One plant: its lines, products, start years and their economics."""

    index: int
    name: str
    lines: list[int]  # project indices, in file order (the first is the plant's lead line)
    products: list[int]  # distinct products it makes, in the order of its lines
    existing: bool
    starts: list[int]  # the start years it may be given (earliest first)
    eligible: bool
    forced: bool
    capex_musd: float  # K_P: the sum of its lines' capex_musd, counted once
    #: hosted by a member of the alliance (a partner-hosted plant's gain leaves it)
    allied: bool = True
    economics: dict[tuple[int, int], Line] = field(default_factory=dict)  # (j, start)
    built_outside: bool = False

    def capex_pv(self, ctx: Context, start: int, rate: float) -> float:
        """Capex (MUSD) discounted at ``rate`` to the first year: spent the year before the
        start, at the earliest in the first year; 0 for an existing plant."""
        if self.existing:
            return 0.0
        return self.capex_musd * (1.0 + rate) ** -(max(start - 1, ctx.years[0])
                                                   - ctx.years[0])

    def market_value_s(self, ctx: Context, start: int) -> np.ndarray:
        """[s] NPV at market prices (hurdle rate) when started in ``start``, capex in."""
        return sum(self.economics[j, start].market_value_s for j in self.lines) \
            - self.capex_pv(ctx, start, ctx.design.hurdle_rate)


def delay_years(ctx: Context, name: str) -> int:
    """The design's [investment] max_delay_years for plant ``name`` (0 without one)."""
    table = ctx.design.max_delay_years
    return int(table.get(name, table.get("*", 0)))


def plants(ctx: Context, menus: list[list[MenuEntry]]) -> list[Plant]:
    """The instance's plants with every line's economics at every start year."""
    design, pj = ctx.design, ctx.projects
    out = []
    for k, name in enumerate(ctx.plants):
        lines = [int(j) for j in np.flatnonzero(ctx.project_plant == k)]
        lead = pj.iloc[lines[0]]
        existing = lead["status"] == "existing"
        first = int(lead["start_year"])
        starts = [first] if existing else [
            y for y in range(first, first + delay_years(ctx, name) + 1)
            if y <= ctx.years[-1]] or [first]
        named = set(design.eligible_projects or [])
        eligible = design.eligible_projects is None or name in named or any(
            pj.at[j, "project"] in named for j in lines)
        plant = Plant(
            index=k, name=name, lines=lines,
            products=list(dict.fromkeys(int(ctx.project_product[j]) for j in lines)),
            existing=existing, starts=starts, eligible=eligible,
            forced=bool(existing and eligible and design.support_existing == "all"),
            capex_musd=float(pj.iloc[lines]["capex_musd"].sum()),
            allied=bool(lead["host"] in ctx.members))
        for j in lines:
            for y in starts:
                plant.economics[j, y] = line_economics(
                    ctx, j, menus[ctx.project_product[j]], y)
        out.append(plant)
    return out


def test_npv(npv_s: np.ndarray, ctx: Context) -> np.ndarray:
    """The design's bankability test of NPVs over scenarios (last axis)."""
    d = ctx.design
    if d.bankability_test == "expected":
        return npv_s @ ctx.probability
    if d.bankability_test == "worst":
        return npv_s.min(-1)
    return weighted_quantile(npv_s, ctx.probability, d.bankability_quantile)


# ----------------------------------------------------------------------------- options


@dataclass
class _Combos:
    """Every combination of one menu entry per product of a plant, at one start year."""

    levels: list[tuple[int, ...]]  # [c] entry index per product of the plant
    npv_s: np.ndarray  # [c, s]
    npv: np.ndarray  # [c] under the design's test
    expected: np.ndarray  # [c]
    has_tariff: np.ndarray  # [c] some entry is a tariff reference price
    has_floor: np.ndarray  # [c] some entry is a floor or collar (a contract)
    #: [c] the entries make one contract: its floors (and collars) share one upside share,
    #: and tariff references (a policy, not a contract) do not mix with floors
    one_contract: np.ndarray
    same_as_outside: np.ndarray  # [c] every line's output and top-up as outside


def _combos(ctx: Context, plant: Plant, menus: list[list[MenuEntry]], start: int,
            outside: np.ndarray) -> _Combos:
    """The plant's NPV for every combination of entries (broadcast over products)."""
    dims = [len(menus[p]) for p in plant.products]
    total = np.zeros(dims + [len(ctx.scenarios)])
    same = np.ones(dims, bool)
    for axis, p in enumerate(plant.products):
        shape = [1] * len(dims) + [len(ctx.scenarios)]
        shape[axis] = dims[axis]
        flag = [1] * len(dims)
        flag[axis] = dims[axis]
        for j in plant.lines:
            if ctx.project_product[j] != p:
                continue
            eco = plant.economics[j, start]
            total = total + eco.value_s.reshape(shape)
            alike = np.array([np.array_equal(eco.out[l], outside[j]) and not eco.top[l].any()
                              for l in range(dims[axis])])
            same = same & alike.reshape(flag)
    npv_s = total.reshape(-1, len(ctx.scenarios)) - plant.capex_pv(
        ctx, start, ctx.design.hurdle_rate)
    levels = list(itertools.product(*[range(n) for n in dims]))
    entries = [[menus[p][l] for p, l in zip(plant.products, c, strict=True)] for c in levels]
    tariff = np.array([any(e.is_tariff for e in es) for es in entries], bool)
    floors = [{e.upside_share for e in es if not e.is_tariff and e.level_usd_per_kg > 0}
              for es in entries]
    has_floor = np.array([bool(f) for f in floors], bool)
    return _Combos(levels, npv_s, test_npv(npv_s, ctx), npv_s @ ctx.probability,
                   tariff, has_floor,
                   np.array([len(f) <= 1 for f in floors], bool) & ~(tariff & has_floor),
                   same.reshape(-1) & (start == plant.starts[0]))


def _admissible(ctx: Context, plant: Plant, c: _Combos) -> tuple[np.ndarray, np.ndarray]:
    """[c] which combinations are plant options, and the grant each needs: one contract
    (the plant's floors share one upside share; a tariff reference does not mix with a
    floor), eligible (a tariff reaches every producer: an ineligible plant only gets
    tariff-and-no-floor combinations), bankable (with a grant within the design's share
    of capex; no grant with a tariff, whose support is automatic), the producer would sign
    (its expected NPV is at least outside the mechanism's) and it differs from leaving the
    plant outside."""
    design = ctx.design
    gap = np.zeros_like(c.npv) if plant.existing else np.maximum(-c.npv, 0.0)
    ok = (np.full(len(c.npv), plant.eligible) | (c.has_tariff & ~c.has_floor)) \
        & c.one_contract
    ok &= (gap <= 0.0) | (design.grants & ~c.has_tariff
                          & (gap <= design.grant_max_share_of_capex * plant.capex_musd
                             + TOLERANCE_MUSD))
    outside_value = float(plant.market_value_s(ctx, plant.starts[0]) @ ctx.probability) \
        if plant.built_outside else -np.inf
    signs = (c.expected >= outside_value - TOLERANCE_MUSD) & ~(c.same_as_outside & (gap <= 0))
    ok &= plant.forced | c.has_tariff | signs
    return ok, np.where(gap > 0, gap, 0.0)


@dataclass
class _Chosen:
    """A plant option while the options are gathered."""

    plant: Plant
    levels: tuple[int, ...]  # entry index per product of the plant
    start: int
    grant: float
    npv: float


def _plant_options(ctx: Context, plant: Plant, menus, outside: np.ndarray,
                   fixed) -> list[_Chosen]:
    """The plant's options: every admissible combination at every start year, or exactly
    a fixed mechanism's choices (``fixed``, a FirstStage) with their grants."""
    out: list[_Chosen] = []
    for y in plant.starts:
        c = _combos(ctx, plant, menus, y, outside)
        if fixed is not None:
            for key, grant in fixed.support.items():
                if key.plant == plant.name and key.start_year == y:
                    levels = _levels_of(ctx, plant, menus, dict(key.entries))
                    if levels is not None:
                        npv = float(c.npv[c.levels.index(levels)])
                        out.append(_Chosen(plant, levels, y, float(grant), npv))
            continue
        ok, grant = _admissible(ctx, plant, c)
        out += [_Chosen(plant, c.levels[i], y, float(grant[i]), float(c.npv[i]))
                for i in np.flatnonzero(ok)]
    if plant.forced and not out and fixed is None:
        raise InputError(f"{ctx.design.path.name} [price_floor] support_existing: plant "
                         f"'{plant.name}' must be supported but no floor level is admissible "
                         "for it; use support_existing = \"choose\"")
    return out


def _levels_of(ctx: Context, plant: Plant, menus, entries: dict[str, MenuEntry]
               ) -> tuple[int, ...] | None:
    """The menu positions of a fixed mechanism's entries for the plant's products (None if
    one is missing or off the menu)."""
    levels = []
    for p in plant.products:
        entry = entries.get(ctx.products[p])
        hits = [e.index for e in menus[p] if e == entry]
        if not hits:
            return None
        levels.append(hits[0])
    return tuple(levels)


def prepare(ctx: Context, menus: list[list[MenuEntry]], fixed=None) -> dict:
    """The plants, their options (plant options and the line rows they are made of) and
    the output of lines outside the mechanism. ``fixed`` (a FirstStage) keeps a solved
    mechanism's investment decisions: the plants built outside it and exactly its chosen
    plant options with their grants."""
    cases = plants(ctx, menus)
    outside = np.zeros((len(ctx.projects), len(ctx.scenarios), len(ctx.years)))
    chosen: list[_Chosen] = []
    for plant in cases:
        y0 = plant.starts[0]
        plant.built_outside = bool(plant.existing or (
            plant.name in fixed.built_outside if fixed is not None
            else test_npv(plant.market_value_s(ctx, y0), ctx) >= 0.0))
        if plant.built_outside:
            for j in plant.lines:
                outside[j] = plant.economics[j, y0].market
        chosen += _plant_options(ctx, plant, menus, outside, fixed)
    options, plant_options = _assemble(ctx, menus, chosen)
    return {"menus": menus, "options": options, "plant_options": plant_options,
            "outside_output_t": outside, "plants": list(ctx.plants),
            "project_plant": ctx.project_plant,
            "plant_built_outside": np.array([p.built_outside for p in cases], bool),
            "plant_forced": np.array([p.forced for p in cases], bool),
            "plant_existing": np.array([p.existing for p in cases], bool),
            "plant_capex_musd": np.array([p.capex_musd for p in cases], float),
            "plant_allied": np.array([p.allied for p in cases], bool)}


def _surplus(ctx: Context, plant: Plant, j: int, level: int, start: int) -> np.ndarray:
    """[s] line j's part of the producer's gain from a plant option (economic view; social
    discount rate): its margin while supported less its margin outside (if the plant is
    built outside, at its earliest start); the lead line also carries the plant's part:
    the capex and the margin after the horizon of a plant built only because of the
    support, or the shift of both when a plant built anyway starts later. The grant is
    counted on the plant option (first stage). Zero for a plant hosted outside the alliance
    (a partner): what it is paid leaves the alliance."""
    if not plant.allied:
        return np.zeros(len(ctx.scenarios))
    eco, y0 = plant.economics[j, start], plant.starts[0]
    rate = ctx.inst.discount_rate
    gain = eco.surplus_pv[level].copy()
    if plant.built_outside:
        gain -= plant.economics[j, y0].market_surplus_pv
    if j != plant.lines[0]:
        return gain
    after = sum(plant.economics[i, start].after_horizon_pv for i in plant.lines)
    if plant.built_outside:
        before = sum(plant.economics[i, y0].after_horizon_pv for i in plant.lines)
        return gain + after - before + plant.capex_pv(ctx, y0, rate) \
            - plant.capex_pv(ctx, start, rate)
    return gain + after - plant.capex_pv(ctx, start, rate)


def _assemble(ctx: Context, menus, chosen: list[_Chosen]) -> tuple[Options, PlantOptions]:
    """The line rows (one per line, entry and start year used by some plant option) and
    the plant options that reference them."""
    row_of: dict[tuple[int, int, int], int] = {}
    rows: list[tuple[Plant, int, int, int]] = []  # (plant, j, level, start)
    members = []
    for ch in chosen:
        level_of = dict(zip(ch.plant.products, ch.levels, strict=True))
        mine = []
        for j in ch.plant.lines:
            key = (j, level_of[int(ctx.project_product[j])], ch.start)
            if key not in row_of:
                row_of[key] = len(rows)
                rows.append((ch.plant, *key))
            mine.append(row_of[key])
        members.append(mine)
    n_s, n_t = len(ctx.scenarios), len(ctx.years)

    def stack(get, shape) -> np.ndarray:
        return np.array([get(pl.economics[j, y], l) for pl, j, l, y in rows]) if rows \
            else np.zeros(shape)

    options = Options(
        project=np.array([j for _, j, _, _ in rows], dtype=int),
        entry=[menus[int(ctx.project_product[j])][l] for _, j, l, _ in rows],
        start_year=np.array([y for *_, y in rows], dtype=int),
        output_t=stack(lambda eco, l: eco.out[l], (0, n_s, n_t)),
        topup_musd=stack(lambda eco, l: eco.top[l], (0, n_s, n_t)),
        producer_surplus_musd=np.array([_surplus(ctx, pl, j, l, y) for pl, j, l, y in rows])
        if rows else np.zeros((0, n_s)),
        in_contract=stack(lambda eco, l: eco.terms.in_contract[l], (0, n_t)).astype(bool),
        contract_last_year=np.array([pl.economics[j, y].terms.last_year[l]
                                     for pl, j, l, y in rows], dtype=float))
    plant_options = PlantOptions(
        plant=np.array([ch.plant.index for ch in chosen], dtype=int),
        entries=[{p: menus[p][l] for p, l in zip(ch.plant.products, ch.levels, strict=True)}
                 for ch in chosen],
        start_year=np.array([ch.start for ch in chosen], dtype=int),
        rows=members, grant_musd=np.array([ch.grant for ch in chosen], dtype=float),
        npv_test_musd=np.array([ch.npv for ch in chosen], dtype=float))
    return options, plant_options
