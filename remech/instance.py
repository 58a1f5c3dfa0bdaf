"""The instance (the world, as data): read an instance folder and check it.

An instance folder holds ``instance.toml`` (horizon, discount rate, default
design) and CSV tables; see README.md, 'Instance format'. This module knows
nothing of Pyomo.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from remech.design import resolve_design
from remech.errors import Collector, InputError
from remech.schema import (
    MAX_HORIZON_YEARS,
    YEAR_RANGE,
    InstanceFile,
    InstanceSection,
    read_toml,
    validate,
)
from remech.tables import (
    Column,
    check_member,
    check_sources,
    check_unique,
    fail,
    read_table,
)

STAGES = ("mining", "separation", "metal", "magnet")
SOURCE = Column("source", "str", help="a source key like [S1] or 'assumption: ...'")

# Sanity bounds: a value above one is a typo or a unit slip (kg for t, USD for MUSD), far
# above anything real (world rare-earth output is about 4e5 t/yr; Tb oxide peaked near
# 4,000 USD/kg). README, 'Instance format', lists them.
MAX_TONNES = 1e7  # t or t/yr: capacity, demand, supply, stockpile capacity
MAX_USD_PER_KG = 1e6  # prices, costs, penalties
MAX_MUSD = 1e7  # USD million: capex, fixed costs, budget caps (10 trillion USD)
UNITS = "a sanity bound; check the unit"


def _year(name: str, **kw) -> Column:
    return Column(name, "int", minimum=YEAR_RANGE[0], maximum=YEAR_RANGE[1],
                  why_max="a sanity bound", **kw)


def _t(name: str, **kw) -> Column:
    return Column(name, "float", minimum=0, maximum=MAX_TONNES, why_max=UNITS, **kw)


def _usd_kg(name: str, **kw) -> Column:
    kw.setdefault("minimum", 0)
    return Column(name, "float", maximum=MAX_USD_PER_KG, why_max=UNITS, **kw)


def _musd(name: str, **kw) -> Column:
    return Column(name, "float", minimum=0, maximum=MAX_MUSD, why_max=UNITS, **kw)


SCHEMAS: dict[str, list[Column]] = {
    "sources.csv": [Column("key", "str"), Column("title", "str"),
                    Column("url", "str", allow_blank=True)],
    "allies.csv": [
        Column("ally", "str", help="a short code such as US"),
        Column("name", "str"),
        Column("role", "str", choices=("ally", "partner"),
               help="'ally' (member that pays and consumes) or 'partner' (hosts projects)"),
        Column("gdp_usd_bn", "float", minimum=0, maximum=1e6, why_max=UNITS, allow_blank=True),
        _musd("budget_cap_musd", allow_blank=True,
              help="the ally's cap on its contribution in USD million (blank: no cap)"),
        SOURCE,
    ],
    "products.csv": [
        Column("product", "str"), Column("name", "str"),
        Column("stage", "str", choices=STAGES),
        _usd_kg("shortfall_penalty_usd_per_kg", exclusive_min=True),
        SOURCE,
    ],
    "projects.csv": [
        Column("project", "str"),
        Column("plant", "str", required=False, allow_blank=True,
               help="the plant the line belongs to (blank: the line is a plant of its own)"),
        Column("name", "str"), Column("host", "str"),
        Column("product", "str"), Column("stage", "str", choices=STAGES),
        Column("status", "str", choices=("existing", "new")),
        _t("capacity_t", help="nameplate output in t/yr"),
        _year("start_year"),
        Column("ramp_years", "int", minimum=1, maximum=MAX_HORIZON_YEARS,
               why_max="the longest horizon"),
        _usd_kg("unit_cost_usd_per_kg"),
        _musd("capex_musd"),
        SOURCE,
    ],
    "demand.csv": [Column("ally", "str"), Column("product", "str"), _year("year"),
                   _t("demand_t"), SOURCE],
    "supply.csv": [Column("product", "str"), _year("year"),
                   _t("china_supply_t"), _t("other_supply_t"),
                   _t("china_normal_deliveries_t", required=False, allow_blank=True,
                      help="China's normal deliveries to the allies, the base of export "
                           "cuts (t/yr; blank: china_supply_t)"),
                   SOURCE],
    "stockpile.csv": [
        Column("product", "str"),
        _musd("fixed_cost_musd"),
        _usd_kg("capacity_cost_usd_per_kg"),
        _usd_kg("holding_cost_usd_per_kg_yr"),
        _t("max_capacity_t"),
        Column("salvage_fraction", "float", minimum=0, maximum=1),
        SOURCE,
    ],
    "scenarios.csv": [Column("scenario", "str"),
                      Column("probability", "float", minimum=0, maximum=1),
                      Column("description", "str", allow_blank=True), SOURCE],
    "prices.csv": [Column("scenario", "str"), _year("year"), Column("product", "str"),
                   _usd_kg("price_usd_per_kg", minimum=0, exclusive_min=True), SOURCE],
    "reagents.csv": [Column("reagent", "str"), Column("name", "str"),
                     _t("non_chinese_supply_t",
                        help="reagent supply to allied refiners from outside China, t/yr"),
                     _t("china_supply_t", help="normal reagent supply from China, t/yr"),
                     SOURCE],
    "reagent_use.csv": [Column("project", "str"), Column("reagent", "str"),
                        Column("use_t_per_t", "float", minimum=0, maximum=1e4, why_max=UNITS,
                               help="t of reagent per t of product"), SOURCE],
    "nodes.csv": [Column("scenario", "str"), _year("year"),
                  Column("node", "str", help="the scenario-tree node the scenario is in that "
                                             "year; scenarios sharing it share their history"),
                  SOURCE],
    "cost_tiers.csv": [
        Column("project", "str"),
        Column("tier", "str", help="a name for the tier, unique within the project"),
        Column("share_of_capacity", "float", minimum=0, exclusive_min=True, maximum=1,
               help="the tier's share of the project's capacity (> 0, <= 1)"),
        _usd_kg("unit_cost_usd_per_kg", help="the tier's cash cost in USD/kg"),
        SOURCE,
    ],
    "conversions.csv": [
        Column("product", "str", help="the product made (e.g. NDFEB magnets)"),
        Column("input", "str", help="a product it is made from (e.g. NDPR oxide)"),
        Column("input_t_per_t", "float", minimum=0, maximum=1e3, why_max=UNITS,
               help="t of input per t of product (rare-earth content / yield)"),
        Column("project", "str", required=False, allow_blank=True,
               help="blank: every plant making the product; a project: that plant only "
                    "(its rows replace the product's rows, e.g. a recycler)"),
        SOURCE,
    ],
    "availability.csv": [Column("scenario", "str"), _year("year"),
                         Column("product", "str", help="a product or a reagent"),
                         Column("china_availability", "float", minimum=0, maximum=1), SOURCE],
}
OPTIONAL = {"stockpile.csv", "availability.csv", "reagents.csv", "reagent_use.csv",
            "nodes.csv", "cost_tiers.csv", "conversions.csv"}
PROBABILITY_TOLERANCE = 1e-6
#: shares of a project's cost tiers must sum to 1 within this
SHARE_TOLERANCE = 1e-6
#: USD/kg: projects.csv unit_cost_usd_per_kg must equal the share-weighted mean of its tiers
#: within this (a cent: rounding in a spreadsheet)
TIER_MEAN_TOLERANCE_USD_PER_KG = 0.01


@dataclass
class Instance:
    """An instance, checked. Tables keep their spreadsheet row in ``_row``."""

    folder: Path
    name: str
    description: str
    years: list[int]
    discount_rate: float
    default_model: Path | None
    allies: pd.DataFrame
    products: pd.DataFrame
    projects: pd.DataFrame
    demand: pd.DataFrame
    supply: pd.DataFrame
    stockpile: pd.DataFrame
    scenarios: pd.DataFrame
    prices: pd.DataFrame
    availability: pd.DataFrame
    sources: pd.DataFrame
    sha256: str
    reagents: pd.DataFrame = None  # optional: reagent, name, supplies
    reagent_use: pd.DataFrame = None  # optional: project, reagent, use_t_per_t
    nodes: pd.DataFrame = None  # optional scenario tree: scenario, year, node
    #: optional cost curves: project, tier, share_of_capacity, unit_cost_usd_per_kg; a
    #: project without rows has one tier at its projects.csv unit cost
    cost_tiers: pd.DataFrame = None
    #: optional value chain: product, input, input_t_per_t, project (remech.model.chain);
    #: without rows no product is made from another
    conversions: pd.DataFrame = None
    #: overrides applied for this run (remech.overrides), {dotted key: value}
    overrides: dict | None = None

    @property
    def effective_sha256(self) -> str:
        """The files' SHA-256, or with overrides a SHA-256 of that and the overrides."""
        from remech.overrides import as_overrides, effective_sha256

        return effective_sha256(self.sha256, as_overrides(self.overrides))

    @property
    def members(self) -> list[str]:
        """Allies that pay into the mechanism and consume (role 'ally')."""
        return self.allies.loc[self.allies["role"] == "ally", "ally"].tolist()


def _read_root(folder: Path) -> InstanceSection:
    path = folder / "instance.toml"
    if not folder.is_dir():
        raise InputError(f"{folder}: instance folder not found; give the path of a folder "
                         "holding instance.toml (e.g. instances/allied-ree-2026)")
    if not path.is_file():
        raise fail(path, "file not found", f"an instance folder needs instance.toml ({folder})")
    doc, _ = read_toml(path)
    root = validate(InstanceFile, doc, path).instance
    if root.last_year < root.first_year:
        raise fail(path, f"last_year {root.last_year} is before first_year {root.first_year}",
                   "set last_year >= first_year")
    span = root.last_year - root.first_year + 1
    if span > MAX_HORIZON_YEARS:
        raise fail(path, f"the horizon {root.first_year}-{root.last_year} spans {span} years",
                   f"give at most {MAX_HORIZON_YEARS} years (first_year/last_year)")
    return root


def hash_folder(folder: Path) -> str:
    """SHA-256 over the instance's files (names and bytes), for provenance."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and (path.suffix in {".csv", ".toml"}):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def load_instance(folder: str | Path, overrides=None) -> Instance:
    """Read and check an instance folder; raise InputError with a one-line message.

    ``overrides`` (remech.overrides: ``{key: value}`` or ``KEY=VALUE`` texts; only the
    ``instance.`` keys are used) change values of the files for this run, checked as the
    files' values are."""
    if overrides:
        from remech.overrides import apply_instance, as_overrides

        return apply_instance(load_instance(folder), as_overrides(overrides))
    folder = Path(folder)
    root = _read_root(folder)
    name, description = root.name, root.description
    first, last, rate = root.first_year, root.last_year, float(root.discount_rate)
    # a path relative to the folder, or the name of a shipped design
    default_model = resolve_design(root.default_model, folder) if root.default_model \
        else None

    t: dict[str, pd.DataFrame | None] = {}
    problems = Collector()  # every table's problems, reported together
    for name_, cols in SCHEMAS.items():
        t[name_] = None
        with problems.collect():
            t[name_] = read_table(folder, name_, cols, optional=name_ in OPTIONAL)
    problems.raise_if_any()
    years = list(range(first, last + 1))
    inst = Instance(
        folder=folder, name=name, description=description, years=years,
        discount_rate=rate, default_model=default_model,
        allies=t["allies.csv"], products=t["products.csv"], projects=t["projects.csv"],
        demand=t["demand.csv"], supply=t["supply.csv"],
        stockpile=t["stockpile.csv"] if t["stockpile.csv"] is not None
        else pd.DataFrame(columns=[c.name for c in SCHEMAS["stockpile.csv"]] + ["_row"]),
        scenarios=t["scenarios.csv"], prices=t["prices.csv"],
        availability=t["availability.csv"] if t["availability.csv"] is not None
        else pd.DataFrame(columns=[c.name for c in SCHEMAS["availability.csv"]] + ["_row"]),
        sources=t["sources.csv"], sha256=hash_folder(folder),
        reagents=_or_empty(t["reagents.csv"], "reagents.csv"),
        reagent_use=_or_empty(t["reagent_use.csv"], "reagent_use.csv"),
        nodes=_or_empty(t["nodes.csv"], "nodes.csv"),
        cost_tiers=_or_empty(t["cost_tiers.csv"], "cost_tiers.csv"),
        conversions=_conversions(t["conversions.csv"]),
    )
    _plants(inst.projects)
    _check(inst)
    return inst


def _conversions(df: pd.DataFrame | None) -> pd.DataFrame:
    """conversions.csv with a 'project' column (blank where the file has none)."""
    out = _or_empty(df, "conversions.csv")
    if "project" not in out:
        out["project"] = ""
    out["project"] = out["project"].fillna("").astype(str)
    return out


def _plants(pj: pd.DataFrame) -> None:
    """Fill projects.csv ``plant``: a blank cell (or no column) is the line's own id."""
    blank = pj["plant"].isna() | (pj["plant"].astype(str).str.strip() == "")
    pj["plant"] = pj["plant"].where(~blank, pj["project"])


def _or_empty(df: pd.DataFrame | None, name: str) -> pd.DataFrame:
    return df if df is not None else pd.DataFrame(
        columns=[c.name for c in SCHEMAS[name]] + ["_row"])


def _check(inst: Instance) -> None:
    """Cross-table checks: references, horizon, completeness, probabilities. Independent
    checks all run; their problems are reported together."""
    c = Collector()
    _check_all(inst, c)
    c.raise_if_any()


def _check_all(inst: Instance, c: Collector) -> None:
    f = inst.folder
    c.run(check_unique, f / "sources.csv", inst.sources, ["key"])
    keys = set(inst.sources["key"])
    for name, df in [("allies.csv", inst.allies), ("products.csv", inst.products),
                     ("projects.csv", inst.projects), ("demand.csv", inst.demand),
                     ("supply.csv", inst.supply), ("stockpile.csv", inst.stockpile),
                     ("scenarios.csv", inst.scenarios), ("prices.csv", inst.prices),
                     ("availability.csv", inst.availability)]:
        if len(df):
            c.run(check_sources, f / name, df, keys)

    c.run(check_unique, f / "allies.csv", inst.allies, ["ally"])
    if not inst.members:
        c.add(fail(f / "allies.csv", "no row has role 'ally'",
                   "mark at least one country as role 'ally'"))
    members = inst.allies[inst.allies["role"] == "ally"]
    nogdp = members["gdp_usd_bn"].isna()
    if nogdp.any():
        i = int(nogdp.idxmax())
        c.add(fail(f / "allies.csv", f"ally '{members.at[i, 'ally']}' has no GDP",
                   "fill in gdp_usd_bn for every role 'ally' row",
                   int(members.at[i, "_row"]), "gdp_usd_bn"))
    c.run(check_unique, f / "products.csv", inst.products, ["product"])
    products = inst.products["product"].tolist()
    countries = inst.allies["ally"].tolist()

    pj = inst.projects
    c.run(check_unique, f / "projects.csv", pj, ["project"])
    c.run(check_member, f / "projects.csv", pj, "host", countries, "host")
    c.run(check_member, f / "projects.csv", pj, "product", products, "product")
    c.run(_check_years, f / "projects.csv", pj, "start_year", None, inst.years[-1])
    c.run(_check_plants, f / "projects.csv", pj)

    d = inst.demand
    c.run(check_member, f / "demand.csv", d, "ally", inst.members, "ally (role 'ally')")
    c.run(check_member, f / "demand.csv", d, "product", products, "product")
    c.run(_check_years, f / "demand.csv", d, "year", inst.years[0], inst.years[-1])
    c.run(check_unique, f / "demand.csv", d, ["ally", "product", "year"])

    s = inst.supply
    c.run(check_member, f / "supply.csv", s, "product", products, "product")
    c.run(_check_years, f / "supply.csv", s, "year", inst.years[0], inst.years[-1])
    c.run(check_unique, f / "supply.csv", s, ["product", "year"])
    c.run(_check_complete, f / "supply.csv", s, {"product": products, "year": inst.years})
    c.run(_check_normal_deliveries, f / "supply.csv", s)

    if len(inst.stockpile):
        c.run(check_member, f / "stockpile.csv", inst.stockpile, "product", products, "product")
        c.run(check_unique, f / "stockpile.csv", inst.stockpile, ["product"])

    reagents = _check_optional_tables(inst, c, keys, products)
    _check_scenarios(inst, c, products, reagents, keys)


def _check_scenarios(inst: Instance, c: Collector, products: list[str], reagents: list[str],
                     keys: set[str]) -> None:
    """scenarios.csv (probabilities), prices.csv, availability.csv and nodes.csv."""
    f = inst.folder
    sc = inst.scenarios
    c.run(check_unique, f / "scenarios.csv", sc, ["scenario"])
    total = float(sc["probability"].sum())
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        c.add(fail(f / "scenarios.csv", f"probabilities sum to {total:.9g}, not 1",
                   "rescale the column 'probability' so that it sums to 1", None, "probability"))
    names = sc["scenario"].tolist()
    for table, df in [("prices.csv", inst.prices), ("availability.csv", inst.availability)]:
        if not len(df):
            continue
        c.run(check_member, f / table, df, "scenario", names, "scenario")
        known = products + reagents if table == "availability.csv" else products
        c.run(check_member, f / table, df, "product", known, "product")
        c.run(_check_years, f / table, df, "year", inst.years[0], inst.years[-1])
        c.run(check_unique, f / table, df, ["scenario", "year", "product"])
    c.run(_check_complete, f / "prices.csv", inst.prices,
          {"scenario": names, "year": inst.years, "product": products})
    if len(inst.nodes):
        c.run(_check_tree, inst, keys)


#: what every line of a plant must share: a plant is built, hosted and contracted as a whole
PLANT_SHARED = ("host", "status", "stage")


def _check_plants(path: Path, pj: pd.DataFrame) -> None:
    """projects.csv ``plant``: a plant's lines share host, status and stage, and a new
    plant's lines its start year (the plant is built at once); a plant id that is also a
    project id names that project's own plant."""
    own = dict(zip(pj["project"], pj["plant"], strict=True))
    for _, row in pj.iterrows():
        other = own.get(row["plant"])
        if other is not None and other != row["plant"]:
            raise fail(path, f"plant '{row['plant']}' of line '{row['project']}' is the id "
                       f"of project '{row['plant']}', which belongs to plant '{other}'",
                       f"use plant '{other}' or another id", int(row["_row"]), "plant")
    for _, lines in pj.groupby("plant", sort=False):
        first = lines.iloc[0]
        shared = PLANT_SHARED + (("start_year",) if first["status"] == "new" else ())
        for col in shared:
            bad = lines[lines[col] != first[col]]
            if len(bad):
                row = bad.iloc[0]
                raise fail(path, f"line '{row['project']}' of plant '{first['plant']}' has "
                           f"{col} {_shown(row[col])} but line '{first['project']}' (row "
                           f"{int(first['_row'])}) has {_shown(first[col])}",
                           f"give every line of a plant the same {col}, or put the line in "
                           "another plant", int(row["_row"]), col)


def _shown(value) -> str:
    return f"'{value}'" if isinstance(value, str) else f"{float(value):g}"


def _check_tiers(inst: Instance, keys: set[str]) -> None:
    """cost_tiers.csv: known projects, one row per (project, tier), shares summing to 1 per
    project, and projects.csv's unit cost equal to the share-weighted mean of the tiers (so
    that no sourced figure is silently ignored)."""
    path, ct, pj = inst.folder / "cost_tiers.csv", inst.cost_tiers, inst.projects
    check_sources(path, ct, keys)
    check_member(path, ct, "project", pj["project"].tolist(), "project")
    check_unique(path, ct, ["project", "tier"])
    by = ct.assign(weighted=ct["share_of_capacity"] * ct["unit_cost_usd_per_kg"]).groupby(
        "project", sort=False)
    total, last_row = by["share_of_capacity"].sum(), by["_row"].max()
    for name, share in total.items():
        if abs(share - 1.0) > SHARE_TOLERANCE:
            raise fail(path, f"the shares of project '{name}' sum to {share:.9g}, not 1",
                       "give each project's tiers shares of capacity that sum to 1",
                       int(last_row[name]), "share_of_capacity")
    mean = by["weighted"].sum()
    for _, row in pj[pj["project"].isin(mean.index)].iterrows():
        want = float(mean[row["project"]])
        if abs(float(row["unit_cost_usd_per_kg"]) - want) > TIER_MEAN_TOLERANCE_USD_PER_KG:
            raise fail(inst.folder / "projects.csv",
                       f"unit cost {row['unit_cost_usd_per_kg']:g} of project "
                       f"'{row['project']}' is not the share-weighted mean of its tiers in "
                       f"cost_tiers.csv ({want:.6g} USD/kg)",
                       f"set it to {want:.6g} or fix the tiers", int(row["_row"]),
                       "unit_cost_usd_per_kg")


def _check_optional_tables(inst: Instance, c: Collector, keys: set[str],
                           products: list[str]) -> list[str]:
    """reagents.csv, reagent_use.csv, cost_tiers.csv, conversions.csv; returns the
    reagents' names."""
    f, pj = inst.folder, inst.projects
    reagents = inst.reagents["reagent"].tolist()
    if len(inst.reagents):
        c.run(check_sources, f / "reagents.csv", inst.reagents, keys)
        c.run(check_unique, f / "reagents.csv", inst.reagents, ["reagent"])
        clash = [r for r in reagents if r in products]
        if clash:
            c.add(fail(f / "reagents.csv", f"reagent '{clash[0]}' has a product's name",
                       "give reagents names that differ from the products'"))
    if len(inst.reagent_use):
        c.run(check_sources, f / "reagent_use.csv", inst.reagent_use, keys)
        c.run(check_member, f / "reagent_use.csv", inst.reagent_use, "project",
              pj["project"].tolist(), "project")
        c.run(check_member, f / "reagent_use.csv", inst.reagent_use, "reagent", reagents, "reagent")
        c.run(check_unique, f / "reagent_use.csv", inst.reagent_use, ["project", "reagent"])
    if len(inst.cost_tiers):
        c.run(_check_tiers, inst, keys)
    if len(inst.conversions):
        c.run(_check_conversions, inst, keys)
    return reagents


def _check_conversions(inst: Instance, keys: set[str]) -> None:
    """conversions.csv: known products and projects, a project's rows name its own product,
    no product made from itself, one row per (product, input, project), and no cycle
    (a product cannot be, through other products, an input of itself)."""
    path, cv, pj = inst.folder / "conversions.csv", inst.conversions, inst.projects
    products = inst.products["product"].tolist()
    check_sources(path, cv, keys)
    check_member(path, cv, "product", products, "product")
    check_member(path, cv, "input", products, "product")
    check_unique(path, cv, ["product", "input", "project"])
    named = cv[cv["project"] != ""]
    check_member(path, named, "project", pj["project"].tolist(), "project")
    product_of = pj.set_index("project")["product"].to_dict()
    for _, row in named.iterrows():
        if product_of[row["project"]] != row["product"]:
            raise fail(path, f"project '{row['project']}' makes "
                       f"'{product_of[row['project']]}', not '{row['product']}'",
                       "give the project's own product", int(row["_row"]), "product")
    for _, row in cv.iterrows():
        if row["product"] == row["input"]:
            raise fail(path, f"'{row['product']}' is made from itself",
                       "give an input that differs from the product", int(row["_row"]),
                       "input")
    inputs = cv.groupby("product")["input"].apply(set).to_dict()

    def reaches(a: str, b: str, seen: set) -> bool:
        for q in inputs.get(a, ()):
            if q == b or (q not in seen and reaches(q, b, seen | {q})):
                return True
        return False

    for _, row in cv.iterrows():
        if reaches(row["input"], row["product"], {row["input"]}):
            raise fail(path, f"'{row['product']}' is, through other products, an input of "
                       "itself", "remove the row that closes the cycle", int(row["_row"]),
                       "input")


def _check_tree(inst: Instance, keys: set[str]) -> None:
    """nodes.csv describes a tree: scenarios that share a node in year t shared one in
    every earlier year, and have the same prices and availability up to t (checked year by
    year against the node's first scenario, with arrays)."""
    path, nd = inst.folder / "nodes.csv", inst.nodes
    names, years = inst.scenarios["scenario"].tolist(), inst.years
    check_sources(path, nd, keys)
    check_member(path, nd, "scenario", names, "scenario")
    _check_years(path, nd, "year", years[0], years[-1])
    check_unique(path, nd, ["scenario", "year"])
    _check_complete(path, nd, {"scenario": names, "year": years})
    full = pd.MultiIndex.from_product([names, years])
    table = nd.set_index(["scenario", "year"])
    node = table["node"].reindex(full).to_numpy().reshape(len(names), len(years))
    row = table["_row"].reindex(full).to_numpy().reshape(node.shape)
    products = inst.products["product"].tolist()
    known_av = sorted(set(inst.availability["product"]))
    price = inst.prices.set_index(["scenario", "year", "product"])["price_usd_per_kg"]
    price = price.reindex(pd.MultiIndex.from_product([names, years, products])).to_numpy(
        float).reshape(len(names), len(years), len(products))
    av = inst.availability.set_index(["scenario", "year", "product"])["china_availability"]
    av = av.reindex(pd.MultiIndex.from_product([names, years, known_av]), fill_value=1.0
                    ).to_numpy(float).reshape(len(names), len(years), len(known_av))
    for t, year in enumerate(years):
        _, first, inverse = np.unique(node[:, t], return_index=True, return_inverse=True)
        s0 = first[inverse]  # the first scenario of each scenario's node in year t
        same = s0 != np.arange(len(names))
        checks = [(node[s0, t - 1] != node[:, t - 1]) if t else np.zeros(len(names), bool),
                  (price[s0, t] != price[:, t]).any(axis=1),
                  (av[s0, t] != av[:, t]).any(axis=1)]
        for kind, bad in enumerate(checks):
            hit = np.flatnonzero(same & bad)
            if not len(hit):
                continue
            s = int(hit[0])
            a, b, where = names[int(s0[s])], names[s], int(row[s, t])
            shared = f"scenarios '{a}' and '{b}' share node '{node[s, t]}' in {year}"
            if kind == 0:
                raise fail(path, f"{shared} but not in {years[t - 1]}", "a node's scenarios "
                           "must share every earlier node: give them different nodes",
                           where, "node")
            values, labels = (price, products) if kind == 1 else (av, known_av)
            q = int(np.flatnonzero(values[s0[s], t] != values[s, t])[0])
            what = (f"their {labels[q]} prices differ ({values[s0[s], t, q]:g} and "
                    f"{values[s, t, q]:g} USD/kg)" if kind == 1 else
                    f"China's {labels[q]} availability differs ({values[s0[s], t, q]:g} "
                    f"and {values[s, t, q]:g})")
            fix = "the same prices" if kind == 1 else "the same availability"
            raise fail(path, f"{shared} but {what}", f"give them different nodes or {fix}",
                       where, "node")


def _check_years(path: Path, df: pd.DataFrame, column: str, first: int | None,
                 last: int) -> None:
    low = df[column] < first if first is not None else pd.Series(False, index=df.index)
    bad = low | (df[column] > last)
    if bad.any():
        i = int(bad.idxmax())
        span = f"{first}-{last}" if first is not None else f"<= {last}"
        raise fail(path, f"year {int(df.at[i, column])} is outside the horizon",
                   f"use years {span} (instance.toml first_year/last_year)",
                   int(df.at[i, "_row"]), column)


def _check_normal_deliveries(path: Path, df: pd.DataFrame) -> None:
    """China's normal deliveries to the allies (the base of export cuts) are part of its
    normal supply to them: at most china_supply_t, or a cut would raise supply."""
    if "china_normal_deliveries_t" not in df:
        return
    bad = df["china_normal_deliveries_t"] > df["china_supply_t"] + 1e-9
    if bad.any():
        i = int(bad.idxmax())
        raise fail(path, f"china_normal_deliveries_t {df.at[i, 'china_normal_deliveries_t']:g}"
                   f" is above china_supply_t {df.at[i, 'china_supply_t']:g}",
                   "give normal deliveries of at most China's normal supply (an export cut "
                   "cannot raise supply)", int(df.at[i, "_row"]), "china_normal_deliveries_t")


def _check_complete(path: Path, df: pd.DataFrame, axes: dict[str, list]) -> None:
    full = pd.MultiIndex.from_product(list(axes.values()), names=list(axes.keys()))
    have = pd.MultiIndex.from_frame(df[list(axes.keys())].astype(
        {k: ("int64" if k == "year" else object) for k in axes}))
    missing = full.difference(have)
    if len(missing):
        first = ", ".join(f"{k}={v}" for k, v in zip(axes.keys(), missing[0], strict=True))
        raise fail(path, f"{len(missing)} row(s) missing, first: {first}",
                   "give one row for every " + ", ".join(axes.keys()))
