"""The indexed data the model is built from, and the typed floor menu.

``ModelData`` is filled by ``remech.prepare.prepare``, which calls each instrument module's
``prepare`` for its own fields. Nothing here knows Pyomo or files.

Units: t (tonnes), USD/kg, USD million (MUSD). 1 t x 1 USD/kg = 1,000 USD = 1e-3 MUSD.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd

from remech.design import Design
from remech.instance import Instance

MUSD_PER_T_USD_PER_KG = 1e-3
#: t per kt: variables kept in kt so that their small per-t costs sit in HiGHS's range
T_PER_KT = 1000.0


class EntryKind(StrEnum):
    NONE = "none"  # no floor
    FLOOR = "floor"  # a contract for difference at the floor
    COLLAR = "collar"  # a floor with a share of the upside above a cap paid back
    TARIFF = "tariff"  # a reference price enforced by tariffs, paid by consumers


@dataclass(frozen=True)
class MenuEntry:
    """One entry of a product's floor menu. ``index`` is its stable position in the menu
    (the model's floor_choice[p, index]); entries compare by their terms, not by index."""

    level_usd_per_kg: float  # floor, or tariff reference price; 0.0 = no floor
    upside_share: float = 0.0  # collar: share of the price above the cap paid back
    upside_cap_usd_per_kg: float = 0.0  # collar: the cap
    is_tariff: bool = False
    index: int = field(default=0, compare=False)

    @property
    def kind(self) -> EntryKind:
        if self.is_tariff:
            return EntryKind.TARIFF
        if self.level_usd_per_kg <= 0:
            return EntryKind.NONE
        return EntryKind.COLLAR if self.upside_share > 0 else EntryKind.FLOOR

    @property
    def key(self) -> tuple[float, float, float, bool]:
        """The entry's terms: what identifies it across instances and files."""
        return (float(self.level_usd_per_kg), float(self.upside_share),
                float(self.upside_cap_usd_per_kg), bool(self.is_tariff))

    def to_json(self) -> dict:
        return {"level_usd_per_kg": self.level_usd_per_kg, "upside_share": self.upside_share,
                "upside_cap_usd_per_kg": self.upside_cap_usd_per_kg,
                "tariff_reference": self.is_tariff}

    @classmethod
    def from_json(cls, doc: dict) -> MenuEntry:
        return cls(float(doc["level_usd_per_kg"]), float(doc["upside_share"]),
                   float(doc["upside_cap_usd_per_kg"]), bool(doc["tariff_reference"]))


@dataclass
class Options:
    """The line rows of the support options: one per (line, floor-menu entry, start year)
    that some plant option uses (remech.model.plants). A plant option is made of one row
    per line of its plant; a row may serve several plant options (the same line, entry and
    start under different entries for the plant's other products).

    Arrays are indexed [option] or [option, scenario, year].
    """

    project: np.ndarray  # int index into ModelData.projects (the line)
    entry: list[MenuEntry]  # [o] the menu entry (entry.index: position in the menu)
    start_year: np.ndarray  # [o] the plant's start year under the option
    output_t: np.ndarray  # [o, s, t] output if supported at this level
    topup_musd: np.ndarray  # [o, s, t] contract-for-difference payment (undiscounted)
    #: [o, s] the line's part of the producer's gain from the option over staying outside
    #: (MUSD, discounted at the instance's rate; remech.model.plants._surplus); the grant
    #: is counted on the plant option
    producer_surplus_musd: np.ndarray
    #: [o, t] the entry's terms apply in year t: the floor contract's years (design
    #: [price_floor] contract_years), every year for a tariff reference price
    in_contract: np.ndarray = None
    #: [o] last year of the floor contract (may lie beyond the horizon); nan for a tariff
    contract_last_year: np.ndarray = None

    @property
    def level(self) -> np.ndarray:
        """[o] position of the option's entry in its product's menu."""
        return np.array([e.index for e in self.entry], dtype=int)

    @property
    def floor_usd_per_kg(self) -> np.ndarray:
        return np.array([e.level_usd_per_kg for e in self.entry], dtype=float)

    @property
    def upside_share(self) -> np.ndarray:
        return np.array([e.upside_share for e in self.entry], dtype=float)

    @property
    def is_tariff(self) -> np.ndarray:
        return np.array([e.is_tariff for e in self.entry], dtype=bool)


@dataclass
class PlantOptions:
    """The plant options: one per admissible (plant, one menu entry per product it makes,
    start year), the unit the mechanism supports, builds, grants and contracts."""

    plant: np.ndarray  # [q] int index into ModelData.plants
    entries: list[dict[int, MenuEntry]]  # [q] product index -> the entry for it
    start_year: np.ndarray  # [q]
    rows: list[list[int]]  # [q] its line rows (ModelData.options), one per line
    grant_musd: np.ndarray  # [q] capex grant needed to make the plant bankable
    npv_test_musd: np.ndarray  # [q] the plant's NPV under the bankability test, before grant

    @property
    def has_tariff(self) -> np.ndarray:
        """[q] some entry is a tariff reference price."""
        return np.array([any(e.is_tariff for e in ent.values()) for ent in self.entries],
                        dtype=bool)


@dataclass
class Context:
    """What every instrument's ``prepare`` starts from: the instance and design, and the
    grids shared by all (axes in the order of the names)."""

    inst: Instance
    design: Design
    products: list[str]
    years: list[int]
    scenarios: list[str]
    members: list[str]
    probability: np.ndarray  # [s]
    discount: np.ndarray  # [t]
    price_usd_per_kg: np.ndarray  # [s, t, p]
    demand_by_ally_t: np.ndarray  # [a, t, p]
    projects: pd.DataFrame  # instance projects (lines), index 0..J-1
    project_product: np.ndarray  # [j]
    plants: list[str]  # plant ids, in the order of their first line
    project_plant: np.ndarray  # [j] plant index of each line
    capacity_t: np.ndarray  # [j, t]
    tier_share: np.ndarray  # [j, k] share of capacity of each cost tier (0: padding)
    tier_cost_usd_per_kg: np.ndarray  # [j, k] cash cost of each cost tier

    def per_product(self, table: dict[str, float]) -> np.ndarray:
        """A value by product, else by the product's stage, else '*' (all); nan if none."""
        stage_of = self.inst.products.set_index("product")["stage"].to_dict()
        return np.array([table.get(p, table.get(stage_of[p], table.get("*", np.nan)))
                         for p in self.products], dtype=float)


@dataclass
class ModelData:
    """Indexed data for the model; see docs/formulation.md for every symbol."""

    products: list[str]
    years: list[int]
    scenarios: list[str]
    members: list[str]
    projects: list[str]  # the lines (projects.csv rows)
    project_product: np.ndarray  # [j] product index
    plants: list[str]  # plant ids
    project_plant: np.ndarray  # [j] plant index of each line
    plant_existing: np.ndarray  # [P] bool
    plant_forced: np.ndarray  # [P] bool: support is compulsory (design support_existing=all)
    plant_capex_musd: np.ndarray  # [P] the plant's capex, counted once
    #: [P] bool: hosted by a member (a partner-hosted plant earns no allied producer surplus)
    plant_allied: np.ndarray
    capacity_t: np.ndarray  # [j, t] at the earliest start
    menus: list[list[MenuEntry]]  # per product: its floor menu, entry.index = position
    probability: np.ndarray  # [s]
    discount: np.ndarray  # [t] (1+r)^-(year - first_year)
    price_usd_per_kg: np.ndarray  # [s, t, p]
    china_availability: np.ndarray  # [s, t, p]
    demand_t: np.ndarray  # [t, p] (members' total)
    demand_by_ally_t: np.ndarray  # [a, t, p]
    china_supply_t: np.ndarray  # [t, p]
    other_supply_t: np.ndarray  # [t, p]
    outside_output_t: np.ndarray  # [j, s, t] output of a line outside the mechanism
    plant_built_outside: np.ndarray  # [P] bool: built (or existing) without support
    options: Options  # line rows
    plant_options: PlantOptions
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
    budget_cap_musd: np.ndarray  # [a], inf where none: cap on the expected outlay share
    #: [a] cap on the ally's share of the discounted outlay in every scenario (inf: none)
    cap_per_scenario_musd: np.ndarray
    #: [a] cap on the ally's share of the (undiscounted) outlay of any year of any scenario
    cap_per_year_musd: np.ndarray
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
    project_start_year: np.ndarray  # [j] first year of output
    grant_cap_by_stage_musd: dict[str, float]
    grant_cap_by_host_musd: dict[str, float]
    cvar_weight: float
    cvar_alpha: float
    objective_view: str  # "fiscal" | "economic" (remech.model.ledger.view_weights)
    mcpf: float  # marginal cost of public funds
    #: [t, p] China's normal deliveries to the members, the base export cuts act on
    #: (supply.csv china_normal_deliveries_t; china_supply_t where not given)
    china_normal_deliveries_t: np.ndarray | None = None
    #: [j, p] t of product p used per t of project j's output (remech.model.chain); None
    #: without conversions.csv
    chain_input_t_per_t: np.ndarray | None = None
    #: the offtake options (remech.model.offtake.OfftakeOptions); None without offtakes
    offtake: object | None = None

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
    def china_share_decided(self) -> bool:
        """China's deliveries are a decision (china_used_t) when a share target needs them."""
        return bool(np.any(~np.isnan(self.min_non_chinese_share))
                    or np.any(~np.isnan(self.max_single_country_share)))

    @property
    def sizes(self) -> dict[str, int]:
        out = {"scenarios": len(self.scenarios), "years": len(self.years),
               "products": len(self.products), "projects": len(self.projects),
               "plants": len(self.plants), "allies": len(self.members),
               "support_options": len(self.plant_options.plant),
               "option_lines": len(self.options.project)}
        if self.offtake is not None:
            out["offtake_options"] = len(self.offtake.project)
        return out


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Lower q-quantile along the last axis: smallest v with P(X <= v) >= q."""
    order = np.argsort(values, axis=-1, kind="stable")
    v = np.take_along_axis(values, order, axis=-1)
    cum = np.cumsum(weights[order], axis=-1)
    idx = np.argmax(cum >= q - 1e-12, axis=-1)
    return np.take_along_axis(v, idx[..., None], axis=-1)[..., 0]


def grid(df: pd.DataFrame, index: list[tuple[str, list]], value: str,
         fill: float) -> np.ndarray:
    """Pivot a long table onto a dense array with axes in ``index`` order."""
    names = [n for n, _ in index]
    full = pd.MultiIndex.from_product([labels for _, labels in index], names=names)
    series = df.set_index(names)[value]
    return series.reindex(full, fill_value=fill).to_numpy(dtype=float).reshape(
        [len(labels) for _, labels in index])


def restrict_scenarios(data: ModelData, index) -> ModelData:
    """``data`` on the scenarios at ``index`` (positions), probabilities renormalised to sum
    to 1 over them. Everything computed over the whole scenario set (the support options,
    their bankability and grants, the projects built outside, the burden-sharing shares)
    is kept as it is, not recomputed on the subset: this is the data of a scenario (or a
    bundle of scenarios) of the same problem, as a decomposition solves it."""
    idx = np.asarray(index, dtype=int)
    prob = data.probability[idx]
    o = data.options
    options = replace(o, output_t=o.output_t[:, idx], topup_musd=o.topup_musd[:, idx],
                      producer_surplus_musd=o.producer_surplus_musd[:, idx])
    from remech.model.offtake import restrict

    return replace(
        data, scenarios=[data.scenarios[s] for s in idx], probability=prob / prob.sum(),
        offtake=restrict(data.offtake, idx),
        price_usd_per_kg=data.price_usd_per_kg[idx],
        china_availability=data.china_availability[idx],
        outside_output_t=data.outside_output_t[:, idx],
        stock_terminal_value_usd_per_kg=data.stock_terminal_value_usd_per_kg[idx],
        scenario_node=None if data.scenario_node is None else data.scenario_node[idx],
        reagent_supply_t=data.reagent_supply_t[idx], options=options)
