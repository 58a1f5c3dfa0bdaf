"""The instance (the world, as data): read an instance folder and check it.

An instance folder holds ``instance.toml`` (horizon, discount rate, default
design) and CSV tables; see README.md, 'Instance format'. This module knows
nothing of Pyomo.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from remech.errors import InputError
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

SCHEMAS: dict[str, list[Column]] = {
    "sources.csv": [Column("key", "str"), Column("title", "str"),
                    Column("url", "str", allow_blank=True)],
    "allies.csv": [
        Column("ally", "str", help="a short code such as US"),
        Column("name", "str"),
        Column("role", "str", choices=("ally", "partner"),
               help="'ally' (member that pays and consumes) or 'partner' (hosts projects)"),
        Column("gdp_usd_bn", "float", minimum=0, allow_blank=True),
        Column("budget_cap_musd", "float", minimum=0, allow_blank=True,
               help="the ally's cap on its contribution in USD million (blank: no cap)"),
        SOURCE,
    ],
    "products.csv": [
        Column("product", "str"), Column("name", "str"),
        Column("stage", "str", choices=STAGES),
        Column("shortfall_penalty_usd_per_kg", "float", minimum=0, exclusive_min=True),
        SOURCE,
    ],
    "projects.csv": [
        Column("project", "str"), Column("name", "str"), Column("host", "str"),
        Column("product", "str"), Column("stage", "str", choices=STAGES),
        Column("status", "str", choices=("existing", "new")),
        Column("capacity_t", "float", minimum=0, help="nameplate output in t/yr"),
        Column("start_year", "int"),
        Column("ramp_years", "int", minimum=1),
        Column("unit_cost_usd_per_kg", "float", minimum=0),
        Column("capex_musd", "float", minimum=0),
        SOURCE,
    ],
    "demand.csv": [Column("ally", "str"), Column("product", "str"), Column("year", "int"),
                   Column("demand_t", "float", minimum=0), SOURCE],
    "supply.csv": [Column("product", "str"), Column("year", "int"),
                   Column("china_supply_t", "float", minimum=0),
                   Column("other_supply_t", "float", minimum=0), SOURCE],
    "stockpile.csv": [
        Column("product", "str"),
        Column("fixed_cost_musd", "float", minimum=0),
        Column("capacity_cost_usd_per_kg", "float", minimum=0),
        Column("holding_cost_usd_per_kg_yr", "float", minimum=0),
        Column("max_capacity_t", "float", minimum=0),
        Column("salvage_fraction", "float", minimum=0, maximum=1),
        SOURCE,
    ],
    "scenarios.csv": [Column("scenario", "str"),
                      Column("probability", "float", minimum=0, maximum=1),
                      Column("description", "str", allow_blank=True), SOURCE],
    "prices.csv": [Column("scenario", "str"), Column("year", "int"), Column("product", "str"),
                   Column("price_usd_per_kg", "float", minimum=0, exclusive_min=True), SOURCE],
    "reagents.csv": [Column("reagent", "str"), Column("name", "str"),
                     Column("non_chinese_supply_t", "float", minimum=0,
                            help="reagent supply to allied refiners from outside China, t/yr"),
                     Column("china_supply_t", "float", minimum=0,
                            help="normal reagent supply from China, t/yr"), SOURCE],
    "reagent_use.csv": [Column("project", "str"), Column("reagent", "str"),
                        Column("use_t_per_t", "float", minimum=0,
                               help="t of reagent per t of product"), SOURCE],
    "nodes.csv": [Column("scenario", "str"), Column("year", "int"),
                  Column("node", "str", help="the scenario-tree node the scenario is in that "
                                             "year; scenarios sharing it share their history"),
                  SOURCE],
    "availability.csv": [Column("scenario", "str"), Column("year", "int"),
                         Column("product", "str", help="a product or a reagent"),
                         Column("china_availability", "float", minimum=0, maximum=1), SOURCE],
}
OPTIONAL = {"stockpile.csv", "availability.csv", "reagents.csv", "reagent_use.csv",
            "nodes.csv"}
PROBABILITY_TOLERANCE = 1e-6


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

    @property
    def members(self) -> list[str]:
        """Allies that pay into the mechanism and consume (role 'ally')."""
        return self.allies.loc[self.allies["role"] == "ally", "ally"].tolist()


def _read_root(folder: Path) -> dict:
    path = folder / "instance.toml"
    if not folder.is_dir():
        raise InputError(f"{folder}: instance folder not found; give the path of a folder "
                         "holding instance.toml (e.g. instances/allied-ree-2026)")
    if not path.is_file():
        raise fail(path, "file not found", f"an instance folder needs instance.toml ({folder})")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise fail(path, f"is not valid TOML ({exc})", "fix the syntax") from None


def _root_value(path: Path, root: dict, key: str, kind: type, default=None):
    section = root.get("instance", {})
    if key not in section:
        if default is not None:
            return default
        raise fail(path, f"[instance] has no '{key}'", f"add '{key} = ...' under [instance]")
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise fail(path, f"[instance] {key} = {value!r} has the wrong type",
                   f"write it as {kind.__name__}")
    return value


def hash_folder(folder: Path) -> str:
    """SHA-256 over the instance's files (names and bytes), for provenance."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and (path.suffix in {".csv", ".toml"}):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def load_instance(folder: str | Path) -> Instance:
    """Read and check an instance folder; raise InputError with a one-line message."""
    folder = Path(folder)
    root = _read_root(folder)
    root_path = folder / "instance.toml"
    name = _root_value(root_path, root, "name", str)
    description = root.get("instance", {}).get("description", "")
    first = _root_value(root_path, root, "first_year", int)
    last = _root_value(root_path, root, "last_year", int)
    if last < first:
        raise fail(root_path, f"last_year {last} is before first_year {first}",
                   "set last_year >= first_year")
    rate = _root_value(root_path, root, "discount_rate", float)
    if not 0 <= rate < 1:
        raise fail(root_path, f"discount_rate {rate} is out of range",
                   "give a rate as a fraction, e.g. 0.05 for 5 %")
    default_model = root.get("instance", {}).get("default_model")
    default_model = (folder / default_model).resolve() if default_model else None

    t = {name_: read_table(folder, name_, cols, optional=name_ in OPTIONAL)
         for name_, cols in SCHEMAS.items()}
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
    )
    _check(inst)
    return inst


def _or_empty(df: pd.DataFrame | None, name: str) -> pd.DataFrame:
    return df if df is not None else pd.DataFrame(
        columns=[c.name for c in SCHEMAS[name]] + ["_row"])


def _check(inst: Instance) -> None:
    """Cross-table checks: references, horizon, completeness, probabilities."""
    f = inst.folder
    check_unique(f / "sources.csv", inst.sources, ["key"])
    keys = set(inst.sources["key"])
    for name, df in [("allies.csv", inst.allies), ("products.csv", inst.products),
                     ("projects.csv", inst.projects), ("demand.csv", inst.demand),
                     ("supply.csv", inst.supply), ("stockpile.csv", inst.stockpile),
                     ("scenarios.csv", inst.scenarios), ("prices.csv", inst.prices),
                     ("availability.csv", inst.availability)]:
        if len(df):
            check_sources(f / name, df, keys)

    check_unique(f / "allies.csv", inst.allies, ["ally"])
    if not inst.members:
        raise fail(f / "allies.csv", "no row has role 'ally'",
                   "mark at least one country as role 'ally'")
    members = inst.allies[inst.allies["role"] == "ally"]
    nogdp = members["gdp_usd_bn"].isna()
    if nogdp.any():
        i = int(nogdp.idxmax())
        raise fail(f / "allies.csv", f"ally '{members.at[i, 'ally']}' has no GDP",
                   "fill in gdp_usd_bn for every role 'ally' row",
                   int(members.at[i, "_row"]), "gdp_usd_bn")
    check_unique(f / "products.csv", inst.products, ["product"])
    products = inst.products["product"].tolist()
    countries = inst.allies["ally"].tolist()

    pj = inst.projects
    check_unique(f / "projects.csv", pj, ["project"])
    check_member(f / "projects.csv", pj, "host", countries, "host")
    check_member(f / "projects.csv", pj, "product", products, "product")
    _check_years(f / "projects.csv", pj, "start_year", None, inst.years[-1])

    d = inst.demand
    check_member(f / "demand.csv", d, "ally", inst.members, "ally (role 'ally')")
    check_member(f / "demand.csv", d, "product", products, "product")
    _check_years(f / "demand.csv", d, "year", inst.years[0], inst.years[-1])
    check_unique(f / "demand.csv", d, ["ally", "product", "year"])

    s = inst.supply
    check_member(f / "supply.csv", s, "product", products, "product")
    _check_years(f / "supply.csv", s, "year", inst.years[0], inst.years[-1])
    check_unique(f / "supply.csv", s, ["product", "year"])
    _check_complete(f / "supply.csv", s, {"product": products, "year": inst.years})

    if len(inst.stockpile):
        check_member(f / "stockpile.csv", inst.stockpile, "product", products, "product")
        check_unique(f / "stockpile.csv", inst.stockpile, ["product"])

    reagents = inst.reagents["reagent"].tolist()
    if len(inst.reagents):
        check_sources(f / "reagents.csv", inst.reagents, keys)
        check_unique(f / "reagents.csv", inst.reagents, ["reagent"])
        clash = [r for r in reagents if r in products]
        if clash:
            raise fail(f / "reagents.csv", f"reagent '{clash[0]}' has a product's name",
                       "give reagents names that differ from the products'")
    if len(inst.reagent_use):
        check_sources(f / "reagent_use.csv", inst.reagent_use, keys)
        check_member(f / "reagent_use.csv", inst.reagent_use, "project",
                     pj["project"].tolist(), "project")
        check_member(f / "reagent_use.csv", inst.reagent_use, "reagent", reagents, "reagent")
        check_unique(f / "reagent_use.csv", inst.reagent_use, ["project", "reagent"])
    sc = inst.scenarios
    check_unique(f / "scenarios.csv", sc, ["scenario"])
    total = float(sc["probability"].sum())
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        raise fail(f / "scenarios.csv", f"probabilities sum to {total:.9g}, not 1",
                   "rescale the column 'probability' so that it sums to 1", None, "probability")
    names = sc["scenario"].tolist()
    for table, df in [("prices.csv", inst.prices), ("availability.csv", inst.availability)]:
        if not len(df):
            continue
        check_member(f / table, df, "scenario", names, "scenario")
        known = products + reagents if table == "availability.csv" else products
        check_member(f / table, df, "product", known, "product")
        _check_years(f / table, df, "year", inst.years[0], inst.years[-1])
        check_unique(f / table, df, ["scenario", "year", "product"])
    _check_complete(f / "prices.csv", inst.prices,
                    {"scenario": names, "year": inst.years, "product": products})
    if len(inst.nodes):
        _check_tree(inst, keys)


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


def _check_complete(path: Path, df: pd.DataFrame, axes: dict[str, list]) -> None:
    full = pd.MultiIndex.from_product(list(axes.values()), names=list(axes.keys()))
    have = pd.MultiIndex.from_frame(df[list(axes.keys())].astype(
        {k: ("int64" if k == "year" else object) for k in axes}))
    missing = full.difference(have)
    if len(missing):
        first = ", ".join(f"{k}={v}" for k, v in zip(axes.keys(), missing[0], strict=True))
        raise fail(path, f"{len(missing)} row(s) missing, first: {first}",
                   "give one row for every " + ", ".join(axes.keys()))
