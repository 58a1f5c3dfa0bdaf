"""Turn an Instance and a Design into the indexed arrays the model is built from.

Everything that can be computed before the solve is computed here with numpy,
once: capacities by year, each project's output, top-up and NPV under each floor
level and scenario, and which (project, level) pairs are admissible at all.
This is what keeps the MIP tight: the model links binaries to these data-derived
coefficients, never through a big-M. This module knows nothing of Pyomo.

Units: t (tonnes), USD/kg, USD million (MUSD). 1 t x 1 USD/kg = 1,000 USD = 1e-3 MUSD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from remech.design import Design, check_against
from remech.errors import InputError
from remech.instance import Instance

MUSD_PER_T_USD_PER_KG = 1e-3


@dataclass
class Options:
    """The support options: one per admissible (project, floor level) pair.

    Arrays are indexed [option] or [option, scenario, year].
    """

    project: np.ndarray  # int index into ModelData.projects
    level: np.ndarray  # int index into the product's level menu
    floor_usd_per_kg: np.ndarray
    upside_share: np.ndarray  # [o] share of the price above the cap paid back (collar)
    is_tariff: np.ndarray  # [o] bool: a tariff reference price (automatic, paid by consumers)
    output_t: np.ndarray  # [o, s, t] output if supported at this level
    topup_musd: np.ndarray  # [o, s, t] contract-for-difference payment (undiscounted)
    grant_musd: np.ndarray  # [o] capex grant needed to make the project bankable
    npv_test_musd: np.ndarray  # [o] NPV under the design's bankability test, before grant


@dataclass
class ModelData:
    """Indexed data for the model; see docs/formulation.md for every symbol."""

    products: list[str]
    years: list[int]
    scenarios: list[str]
    members: list[str]
    projects: list[str]
    project_product: np.ndarray  # [j] product index
    project_existing: np.ndarray  # [j] bool
    project_forced: np.ndarray  # [j] bool: support is compulsory (design support_existing=all)
    capacity_t: np.ndarray  # [j, t]
    levels_usd_per_kg: list[np.ndarray]  # per product menu: floor (0.0 = no floor)
    level_upside_share: list[np.ndarray]  # per product menu: upside share (collar)
    level_upside_cap_usd_per_kg: list[np.ndarray]  # per product menu: cap of the collar
    level_is_tariff: list[np.ndarray]  # per product menu: tariff reference price entry
    probability: np.ndarray  # [s]
    discount: np.ndarray  # [t] (1+r)^-(year - first_year)
    price_usd_per_kg: np.ndarray  # [s, t, p]
    china_availability: np.ndarray  # [s, t, p]
    demand_t: np.ndarray  # [t, p] (members' total)
    demand_by_ally_t: np.ndarray  # [a, t, p]
    china_supply_t: np.ndarray  # [t, p]
    other_supply_t: np.ndarray  # [t, p]
    outside_output_t: np.ndarray  # [j, s, t] output of a project outside the mechanism
    project_built_outside: np.ndarray  # [j] bool: built (or existing) without support
    options: Options
    shortfall_penalty_usd_per_kg: np.ndarray  # [p]
    stockpile_enabled: np.ndarray  # [p] bool
    stock_fixed_cost_musd: np.ndarray  # [p]
    stock_capacity_cost_usd_per_kg: np.ndarray  # [p]
    stock_holding_cost_usd_per_kg_yr: np.ndarray  # [p]
    stock_max_capacity_t: np.ndarray  # [p]
    stock_salvage_fraction: np.ndarray  # [p]
    stock_terminal_value_usd_per_kg: np.ndarray  # [s, p] salvage x final-year price of s
    stock_policy: str  # "rule" | "tree" | "clairvoyant" (design [stockpile] policy)
    #: [s, t] id of the scenario-tree node scenario s is in at year t (policy "tree");
    #: None without a tree
    scenario_node: np.ndarray | None
    grants_enabled: bool
    last_resort_enabled: np.ndarray  # [p] bool: buyer of last resort (needs a stockpile)
    buyback_usd_per_kg: np.ndarray  # [p] nan: at the chosen floor
    reserve_market_purchases: bool
    sharing_rule: str
    sharing_share: np.ndarray  # [a], sums to 1
    budget_cap_musd: np.ndarray  # [a], inf where none
    max_expected_shortfall_share: np.ndarray  # [p], nan where none
    min_non_chinese_share: np.ndarray  # [p], nan where none
    max_single_country_share: np.ndarray  # [p], nan where none
    stockpile_cover_days: np.ndarray  # [p], nan where none
    soft_penalty_usd_per_kg: dict[str, float]  # target -> penalty; absent: hard
    reagents: list[str]  # limited reagents (empty unless the design asks for the limits)
    reagent_use_t_per_t: np.ndarray  # [j, r]
    reagent_supply_t: np.ndarray  # [s, t, r] non-Chinese + Chinese x availability
    project_host: list[str]  # [j]
    project_stage: list[str]  # [j]
    grant_cap_by_stage_musd: dict[str, float]
    grant_cap_by_host_musd: dict[str, float]
    cvar_weight: float
    cvar_alpha: float
    #: [t, p] China's normal deliveries to the members, the base export cuts act on
    #: (supply.csv china_normal_deliveries_t; china_supply_t where not given)
    china_normal_deliveries_t: np.ndarray | None = None

    @property
    def cut(self) -> np.ndarray:
        """[s, t, p] bool: an export-control year, China delivers less than normal."""
        return self.china_availability < 1.0 - 1e-9

    @property
    def china_cap_t(self) -> np.ndarray:
        """[s, t, p] the most China delivers: its normal supply (china_supply_t) in a year
        without a cut; availability x its normal deliveries in a cut year (issue 9: the
        observed flow ratios are shares of China's normal deliveries to the allies). Where
        the instance gives no normal deliveries this is china_supply_t x availability."""
        base = self.china_supply_t if self.china_normal_deliveries_t is None \
            else self.china_normal_deliveries_t
        return np.where(self.cut, base[None] * self.china_availability,
                        self.china_supply_t[None])

    @property
    def sizes(self) -> dict[str, int]:
        return {"scenarios": len(self.scenarios), "years": len(self.years),
                "products": len(self.products), "projects": len(self.projects),
                "allies": len(self.members), "support_options": len(self.options.project)}


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Lower q-quantile along the last axis: smallest v with P(X <= v) >= q."""
    order = np.argsort(values, axis=-1, kind="stable")
    v = np.take_along_axis(values, order, axis=-1)
    cum = np.cumsum(weights[order], axis=-1)
    idx = np.argmax(cum >= q - 1e-12, axis=-1)
    return np.take_along_axis(v, idx[..., None], axis=-1)[..., 0]


def _grid(df: pd.DataFrame, index: list[tuple[str, list]], value: str,
          fill: float) -> np.ndarray:
    """Pivot a long table onto a dense array with axes in ``index`` order."""
    names = [n for n, _ in index]
    full = pd.MultiIndex.from_product([labels for _, labels in index], names=names)
    series = df.set_index(names)[value]
    return series.reindex(full, fill_value=fill).to_numpy(dtype=float).reshape(
        [len(labels) for _, labels in index])


def rule_weights(rule: str, allies: pd.DataFrame, demand_a: np.ndarray, prob: np.ndarray,
                 price: np.ndarray, discount: np.ndarray,
                 custom: dict[str, float] | None = None) -> np.ndarray:
    """Burden-sharing weights of the members (rows of ``allies``, indexed by ally):
    GDP; consumption = value of each ally's demand at expected prices, discounted;
    equal; or custom weights."""
    if rule == "gdp":
        return allies["gdp_usd_bn"].to_numpy(float)
    if rule == "consumption":
        exp_price = np.einsum("s,stp->tp", prob, price)
        return np.einsum("atp,tp,t->a", demand_a, exp_price, discount)
    if rule == "equal":
        return np.ones(len(allies))
    return np.array([(custom or {})[a] for a in allies.index])


def _nodes(inst: Instance, design: Design, scen: list[str], years: list[int]
           ) -> np.ndarray | None:
    """[s, t] integer id of each scenario's tree node per year (policy "tree")."""
    if design.stockpile_policy != "tree":
        return None
    if inst.nodes is None or not len(inst.nodes):
        raise InputError(f"{design.path.name} [stockpile] policy = \"tree\": instance "
                         f"'{inst.name}' has no nodes.csv (scenario tree); write one with "
                         "remech scenarios generate --tree, or use policy = \"rule\"")
    keyed = inst.nodes.assign(key=inst.nodes["year"].astype(str) + "/" + inst.nodes["node"])
    codes = {k: i for i, k in enumerate(dict.fromkeys(keyed["key"]))}
    table = keyed.set_index(["scenario", "year"])["key"]
    return np.array([[codes[table[s, y]] for y in years] for s in scen], dtype=int)


def prepare(inst: Instance, design: Design, fixed: dict | None = None) -> ModelData:
    """Compute every coefficient of the model from the instance and the design.

    ``fixed`` (remech.evaluate.first_stage of a solved mechanism) evaluates that mechanism
    on this instance's scenarios: its investment decisions are not taken again with these
    scenarios' futures. The projects built outside the mechanism are ``built_outside``, and
    exactly its supported (project, menu entry) options exist, with its grants, whether or
    not they would pass the bankability and participation tests on these scenarios."""
    products = inst.products["product"].tolist()
    members = inst.members
    check_against(design, products, members, inst.projects["project"].tolist())
    years = inst.years
    scen = inst.scenarios["scenario"].tolist()
    n_t = len(years)
    prob = inst.scenarios["probability"].to_numpy(float)
    prob = prob / prob.sum()
    first = years[0]
    t_off = np.arange(n_t)
    discount = (1.0 + inst.discount_rate) ** -t_off

    price = _grid(inst.prices, [("scenario", scen), ("year", years), ("product", products)],
                  "price_usd_per_kg", np.nan)
    avail = _grid(inst.availability, [("scenario", scen), ("year", years),
                                      ("product", products)], "china_availability", 1.0)
    demand_a = _grid(inst.demand, [("ally", members), ("year", years), ("product", products)],
                     "demand_t", 0.0)
    china = _grid(inst.supply, [("product", products), ("year", years)], "china_supply_t",
                  0.0).T
    other = _grid(inst.supply, [("product", products), ("year", years)], "other_supply_t",
                  0.0).T
    normal = _grid(inst.supply, [("product", products), ("year", years)],
                   "china_normal_deliveries_t", np.nan).T if \
        "china_normal_deliveries_t" in inst.supply else np.full_like(china, np.nan)
    normal = np.where(np.isnan(normal), china, normal)  # blank: the old base, china_supply_t

    pj = inst.projects.reset_index(drop=True)
    pidx = {p: i for i, p in enumerate(products)}
    proj_p = pj["product"].map(pidx).to_numpy(int)
    existing = (pj["status"] == "existing").to_numpy()
    forced = existing & (design.support_existing == "all")
    yr = np.asarray(years)[None, :]
    since = yr - pj["start_year"].to_numpy()[:, None] + 1
    ramp = np.clip(since / pj["ramp_years"].to_numpy()[:, None], 0.0, 1.0)
    capacity = pj["capacity_t"].to_numpy()[:, None] * ramp  # [j, t]
    cost = pj["unit_cost_usd_per_kg"].to_numpy()
    capex = pj["capex_musd"].to_numpy()

    # Floor menus: entries (floor, upside share, cap); (0, 0, 0) is "no floor" and comes
    # first unless the design makes the product's floor mandatory. Without the floor
    # instrument it is the only entry.
    levels, shares, caps_up, tariffs = [], [], [], []
    for p in products:
        menu = design.floor_levels_usd_per_kg.get(p, []) if design.price_floor else []
        entries = [] if (menu and p in design.mandatory_floor) else [(0.0, 0.0, 0.0)]
        entries = [(f, sh, cap, False) for f, sh, cap in entries]
        entries += [(f, sh, design.upside_cap_usd_per_kg.get(p, f), False)
                    for f in menu for sh in design.upside_shares]
        if design.tariff:  # reference prices enforced by tariffs: (R, 0, 0, True)
            entries += [(r, 0.0, 0.0, True) for r in design.tariff_reference_usd_per_kg.get(p, [])]
        levels.append(np.array([e[0] for e in entries]))
        shares.append(np.array([e[1] for e in entries]))
        caps_up.append(np.array([e[2] for e in entries]))
        tariffs.append(np.array([e[3] for e in entries], dtype=bool))
    eligible = (np.ones(len(pj), bool) if design.eligible_projects is None
                else pj["project"].isin(design.eligible_projects).to_numpy())
    forced = forced & eligible

    # Project economics under every level, as arrays [j, l, s, t] per product group.
    h = design.hurdle_rate
    disc_h = (1.0 + h) ** -t_off
    tail = sum((1.0 + h) ** -k for k in range(1, design.tail_years + 1))
    capex_year = np.maximum(pj["start_year"].to_numpy() - 1, first) - first
    capex_pv = capex * (1.0 + h) ** -capex_year

    opt_rows: list[tuple[int, int]] = []
    opt_out, opt_top, opt_grant, opt_npv = [], [], [], []
    outside = np.zeros((len(pj), len(scen), n_t))
    built_outside = np.zeros(len(pj), bool)
    for j in range(len(pj)):
        p = proj_p[j]
        f = levels[p][:, None, None]  # [l, 1, 1]
        sh = shares[p][:, None, None]
        cap_up = caps_up[p][:, None, None]
        pi = price[None, :, :, p]  # [1, s, t]
        clawback = sh * np.maximum(pi - cap_up, 0.0)  # collar: upside paid back, USD/kg
        received = np.maximum(f, pi) - clawback
        runs = received >= cost[j]
        out = capacity[j][None, None, :] * runs  # [l, s, t]
        top = out * (np.maximum(f - pi, 0.0) - clawback) * MUSD_PER_T_USD_PER_KG
        margin = out * (received - cost[j]) * MUSD_PER_T_USD_PER_KG
        npv_s = (margin * disc_h).sum(-1) + margin[..., -1] * disc_h[-1] * tail
        if not existing[j]:
            npv_s = npv_s - capex_pv[j]
        if design.bankability_test == "expected":
            npv = npv_s @ prob
        elif design.bankability_test == "worst":
            npv = npv_s.min(-1)
        else:
            npv = weighted_quantile(npv_s, prob, design.bankability_quantile)
        gap = np.where(existing[j], 0.0, np.maximum(-npv, 0.0))
        # outside the mechanism: the market price alone (as if at "no floor")
        market = capacity[j][None, :] * (price[:, :, p] >= cost[j])
        m_npv = ((market * (price[:, :, p] - cost[j]) * MUSD_PER_T_USD_PER_KG * disc_h)
                 .sum(-1) + market[:, -1] * (price[:, -1, p] - cost[j])
                 * MUSD_PER_T_USD_PER_KG * disc_h[-1] * tail)
        if not existing[j]:
            m_npv = m_npv - capex_pv[j]
        m_test = (m_npv @ prob if design.bankability_test == "expected" else
                  m_npv.min() if design.bankability_test == "worst" else
                  weighted_quantile(m_npv, prob, design.bankability_quantile))
        outside_ok = existing[j] or m_test >= 0.0
        if fixed is not None:
            outside_ok = existing[j] or pj.at[j, "project"] in fixed["built_outside"]
        built_outside[j] = outside_ok
        outside[j] = market if outside_ok else 0.0
        # participation: a producer signs a contract (a collar can take upside away) only if
        # its expected NPV under it is at least its expected NPV outside the mechanism
        outside_value = float(m_npv @ prob) if outside_ok else -np.inf
        expected_npv = npv_s @ prob
        for lvl in range(len(levels[p])):
            tariff = tariffs[p][lvl]
            if fixed is not None:
                key = (pj.at[j, "project"], float(levels[p][lvl]), float(shares[p][lvl]),
                       float(caps_up[p][lvl]), bool(tariff))
                if key in fixed["support"]:
                    opt_rows.append((j, lvl))
                    opt_out.append(out[lvl])
                    opt_top.append(top[lvl])
                    opt_grant.append(float(fixed["grant_musd"].get(key, 0.0)))
                    opt_npv.append(float(npv[lvl]))
                continue
            if not (eligible[j] or tariff):  # a tariff reaches every producer
                continue
            bankable = gap[lvl] <= 0.0 or (
                design.grants and not tariff
                and gap[lvl] <= design.grant_max_share_of_capex * capex[j] + 1e-9)
            if not bankable:
                continue
            if not forced[j] and not tariff and expected_npv[lvl] < outside_value - 1e-9:
                continue  # the producer would not sign
            if not forced[j] and not tariff:
                same_as_outside = (np.array_equal(out[lvl], outside[j])
                                   and not top[lvl].any() and gap[lvl] <= 0.0)
                if same_as_outside:
                    continue  # identical to leaving the project outside: no option needed
            opt_rows.append((j, lvl))
            opt_out.append(out[lvl])
            opt_top.append(top[lvl])
            opt_grant.append(float(gap[lvl]) if gap[lvl] > 0 else 0.0)
            opt_npv.append(float(npv[lvl]))
        if fixed is None and forced[j] and not any(r[0] == j for r in opt_rows):
            raise InputError(f"{design.path.name} [price_floor] support_existing: project "
                             f"'{pj.at[j, 'project']}' must be supported but no floor level "
                             "is admissible for it; use support_existing = \"choose\"")

    shape = (0, len(scen), n_t)
    options = Options(
        project=np.array([r[0] for r in opt_rows], dtype=int),
        level=np.array([r[1] for r in opt_rows], dtype=int),
        floor_usd_per_kg=np.array([levels[proj_p[j]][lvl] for j, lvl in opt_rows]),
        upside_share=np.array([shares[proj_p[j]][lvl] for j, lvl in opt_rows]),
        is_tariff=np.array([tariffs[proj_p[j]][lvl] for j, lvl in opt_rows], dtype=bool),
        output_t=np.array(opt_out) if opt_out else np.zeros(shape),
        topup_musd=np.array(opt_top) if opt_top else np.zeros(shape),
        grant_musd=np.array(opt_grant),
        npv_test_musd=np.array(opt_npv),
    )

    sp = inst.stockpile.set_index("product") if len(inst.stockpile) else None

    def stock(col: str) -> np.ndarray:
        if sp is None:
            return np.zeros(len(products))
        return sp[col].reindex(products).fillna(0.0).to_numpy(float)

    stock_on = np.array([design.stockpile and sp is not None and p in sp.index
                         for p in products])

    allies = inst.allies.set_index("ally").loc[members]
    rule = design.sharing_reference if design.sharing_rule == "core" else design.sharing_rule
    weight = rule_weights(rule, allies, demand_a, prob, price, discount,
                          design.sharing_weights)
    if weight.sum() <= 0:
        raise InputError(f"{design.path.name} [burden_sharing] rule '{rule}': "
                         "the weights sum to 0 for this instance; choose another rule")
    caps = allies["budget_cap_musd"].to_numpy(float)
    caps = np.where(np.isnan(caps), np.inf, caps)

    stage_of = inst.products.set_index("product")["stage"].to_dict()

    def per_product(table: dict[str, float]) -> np.ndarray:
        """A target by product, else by the product's stage, else '*' (all)."""
        return np.array([table.get(p, table.get(stage_of[p], table.get("*", np.nan)))
                         for p in products], dtype=float)

    security = per_product(design.max_expected_shortfall_share)
    cover = per_product(design.stockpile_cover_days)
    missing = [p for i, p in enumerate(products) if not np.isnan(cover[i]) and not stock_on[i]]
    if missing:
        raise InputError(f"{design.path.name} [security] stockpile_cover_days.{missing[0]}: "
                         f"no stockpile for '{missing[0]}'; enable [instruments] stockpile and "
                         "give the product a row in stockpile.csv, or drop the target")

    reagents = inst.reagents["reagent"].tolist() if design.reagent_limits else []
    if design.reagent_limits and not reagents:
        raise InputError(f"{design.path.name} [security] reagent_limits: the instance has no "
                         "reagents.csv; add reagents.csv and reagent_use.csv or drop the target")
    use = np.zeros((len(pj), len(reagents)))
    for _, row in inst.reagent_use.iterrows():
        if row["reagent"] in reagents:
            j = pj.index[pj["project"] == row["project"]][0]
            use[j, reagents.index(row["reagent"])] = row["use_t_per_t"]
    r_avail = _grid(inst.availability, [("scenario", scen), ("year", years),
                                        ("product", reagents)], "china_availability", 1.0) \
        if reagents else np.zeros((len(scen), n_t, 0))
    rg = inst.reagents.set_index("reagent")
    r_supply = (rg["non_chinese_supply_t"].reindex(reagents).to_numpy(float)[None, None]
                + rg["china_supply_t"].reindex(reagents).to_numpy(float)[None, None] * r_avail) \
        if reagents else r_avail

    return ModelData(
        products=products, years=years, scenarios=scen, members=members,
        projects=pj["project"].tolist(), project_product=proj_p, project_existing=existing,
        project_forced=forced, capacity_t=capacity, levels_usd_per_kg=levels,
        level_upside_share=shares, level_upside_cap_usd_per_kg=caps_up,
        level_is_tariff=tariffs,
        probability=prob, discount=discount, price_usd_per_kg=price,
        china_availability=avail, demand_t=demand_a.sum(0), demand_by_ally_t=demand_a,
        china_supply_t=china, other_supply_t=other, outside_output_t=outside,
        project_built_outside=built_outside,
        options=options,
        shortfall_penalty_usd_per_kg=inst.products["shortfall_penalty_usd_per_kg"].to_numpy(float),
        stockpile_enabled=stock_on,
        stock_fixed_cost_musd=stock("fixed_cost_musd"),
        stock_capacity_cost_usd_per_kg=stock("capacity_cost_usd_per_kg"),
        stock_holding_cost_usd_per_kg_yr=stock("holding_cost_usd_per_kg_yr"),
        stock_max_capacity_t=stock("max_capacity_t"),
        stock_salvage_fraction=stock("salvage_fraction"),
        stock_terminal_value_usd_per_kg=stock("salvage_fraction")[None, :] * price[:, -1, :],
        stock_policy=design.stockpile_policy, scenario_node=_nodes(inst, design, scen, years),
        grants_enabled=design.grants, sharing_rule=design.sharing_rule,
        last_resort_enabled=stock_on & design.buyer_of_last_resort,
        buyback_usd_per_kg=per_product(design.buyback_usd_per_kg),
        reserve_market_purchases=design.reserve_market_purchases,
        sharing_share=weight / weight.sum(), budget_cap_musd=caps,
        max_expected_shortfall_share=security,
        min_non_chinese_share=per_product(design.min_non_chinese_share),
        max_single_country_share=per_product(design.max_single_country_share),
        stockpile_cover_days=cover,
        soft_penalty_usd_per_kg=dict(design.soft_penalty_usd_per_kg),
        reagents=reagents, reagent_use_t_per_t=use, reagent_supply_t=r_supply,
        project_host=pj["host"].tolist(),
        project_stage=pj["stage"].tolist(),
        grant_cap_by_stage_musd=dict(design.grant_cap_by_stage_musd),
        grant_cap_by_host_musd=dict(design.grant_cap_by_host_musd),
        cvar_weight=design.cvar_weight, cvar_alpha=design.cvar_alpha,
        china_normal_deliveries_t=normal,
    )
