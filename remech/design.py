"""The design (the mechanism to optimise over): read a design TOML file and check it.

See README.md, 'Design format', and the commented files under ``models/``.
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from remech.errors import InputError

BANKABILITY_TESTS = ("expected", "quantile", "worst")
SHARING_RULES = ("gdp", "consumption", "equal", "custom", "core")
REFERENCE_RULES = ("gdp", "consumption", "equal", "custom")
SOFT_TARGETS = ("min_non_chinese_share", "max_single_country_share", "stockpile_cover_days",
                "reagent_limits")
STOCKPILE_POLICIES = ("rule", "tree", "clairvoyant")
KNOWN_SECTIONS = {"design", "instruments", "price_floor", "tariff", "buyer_of_last_resort",
                  "stockpile", "bankability", "grants",
                  "burden_sharing", "risk", "security"}


@dataclass
class Design:
    """A mechanism design, checked. Money in USD million, prices in USD/kg."""

    path: Path
    name: str
    description: str = ""
    price_floor: bool = True
    stockpile: bool = True
    #: how stockpile and reserve decisions are taken in the second stage: "rule" (a target
    #: level per year chosen in the first stage, executed with what is known each year),
    #: "tree" (equal decisions across scenarios sharing their history, from the instance's
    #: scenario tree) or "clairvoyant" (each scenario's whole path known: a bound only)
    stockpile_policy: str = "rule"
    grants: bool = True
    tariff: bool = False
    buyer_of_last_resort: bool = False
    buyback_usd_per_kg: dict[str, float] = field(default_factory=dict)  # default: the floor
    reserve_market_purchases: bool = True  # False: the stockpile is filled only by the reserve
    tariff_reference_usd_per_kg: dict[str, list[float]] = field(default_factory=dict)
    floor_levels_usd_per_kg: dict[str, list[float]] = field(default_factory=dict)
    support_existing: str = "choose"  # "choose" or "all"
    upside_shares: list[float] = field(default_factory=lambda: [0.0])  # collar menu
    upside_cap_usd_per_kg: dict[str, float] = field(default_factory=dict)  # default: floor
    eligible_projects: list[str] | None = None  # None: every project may be supported
    mandatory_floor: list[str] = field(default_factory=list)  # products without "no floor"
    bankability_test: str = "expected"
    bankability_quantile: float = 0.1
    hurdle_rate: float = 0.08
    tail_years: int = 10
    grant_max_share_of_capex: float = 0.5
    grant_cap_by_stage_musd: dict[str, float] = field(default_factory=dict)
    grant_cap_by_host_musd: dict[str, float] = field(default_factory=dict)
    sharing_rule: str = "gdp"
    sharing_weights: dict[str, float] = field(default_factory=dict)
    sharing_reference: str = "gdp"  # for rule "core": the split to stay closest to
    cvar_weight: float = 0.0
    cvar_alpha: float = 0.95
    max_expected_shortfall_share: dict[str, float] = field(default_factory=dict)
    min_non_chinese_share: dict[str, float] = field(default_factory=dict)
    max_single_country_share: dict[str, float] = field(default_factory=dict)
    stockpile_cover_days: dict[str, float] = field(default_factory=dict)
    reagent_limits: bool = False
    #: soft targets: target name -> penalty in USD per kg of violation (absent: hard)
    soft_penalty_usd_per_kg: dict[str, float] = field(default_factory=dict)
    sha256: str = ""


class _Reader:
    def __init__(self, path: Path, doc: dict):
        self.path, self.doc = path, doc

    def err(self, where: str, problem: str, fix: str) -> InputError:
        return InputError(f"{self.path.name} {where}: {problem}; {fix}")

    def get(self, section: str, key: str, kind, default, *, low=None, high=None,
            choices=None):
        table = self.doc.get(section, {})
        if not isinstance(table, dict):
            raise self.err(f"[{section}]", "is not a table", f"write it as a [{section}] section")
        if key not in table:
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.err(f"[{section}] {key}", f"{value!r} has the wrong type",
                           f"write a {kind.__name__}")
        if choices is not None and value not in choices:
            raise self.err(f"[{section}] {key}", f"'{value}' is not allowed",
                           f"use one of: {', '.join(choices)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.err(f"[{section}] {key}", f"{value} is out of range",
                           f"give a value between {low} and {high}")
        return value

    def number_map(self, section: str, key: str, low: float, high: float | None
                   ) -> dict[str, float]:
        table = self.doc.get(section, {}).get(key, {})
        if isinstance(table, int | float) and not isinstance(table, bool):
            return {"*": float(table)}
        if not isinstance(table, dict):
            raise self.err(f"[{section}] {key}", f"{table!r} is not a table",
                           f"write {key} = {{ PRODUCT = value, ... }} or a single number")
        out = {}
        for k, v in table.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise self.err(f"[{section}] {key}.{k}", f"{v!r} is not a number", "write a number")
            if v < low or (high is not None and v > high):
                raise self.err(f"[{section}] {key}.{k}", f"{v} is out of range",
                               f"give a value between {low} and {high}")
            out[str(k)] = float(v)
        return out


def _menus(r: _Reader, table, where: str) -> dict[str, list[float]]:
    """Menus of price levels per product: positive, ascending (USD/kg)."""
    if not isinstance(table, dict):
        raise r.err(where, "is not a table", "write { PRODUCT = [60, 80, 100], ... }")
    out = {}
    for product, menu in table.items():
        at = f"{where}.{product}"
        if not isinstance(menu, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in menu):
            raise r.err(at, f"{menu!r} is not a list of numbers",
                        "write the levels in USD/kg, e.g. [60, 80, 100]")
        menu = [float(v) for v in menu]
        if any(v <= 0 for v in menu):
            raise r.err(at, "levels must be > 0", "leave out 0: 'none' is always on the menu")
        for a, b in zip(menu, menu[1:], strict=False):
            if b <= a:
                raise r.err(at, f"levels do not ascend ({a:g} then {b:g})",
                            "list the levels from lowest to highest, each once")
        out[str(product)] = menu
    return out


def load_design(path: str | Path) -> Design:
    """Read and check a design file; raise InputError with a one-line message."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: design file not found; pass --model with a file from "
                         "models/ (e.g. models/floor-stockpile-grants.toml)")
    raw = path.read_bytes()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name}: is not valid TOML ({exc}); fix the syntax") from None
    r = _Reader(path, doc)
    unknown = sorted(set(doc) - KNOWN_SECTIONS)
    if unknown:
        raise r.err(f"[{unknown[0]}]", "unknown section",
                    f"use only: {', '.join(sorted(KNOWN_SECTIONS))}")
    d = Design(path=path, name=r.get("design", "name", str, path.stem),
               sha256=hashlib.sha256(raw).hexdigest())
    d.description = r.get("design", "description", str, "")
    d.price_floor = r.get("instruments", "price_floor", bool, True)
    d.stockpile = r.get("instruments", "stockpile", bool, True)
    d.grants = r.get("instruments", "grants", bool, True)
    d.stockpile_policy = r.get("stockpile", "policy", str, "rule", choices=STOCKPILE_POLICIES)
    d.tariff = r.get("instruments", "tariff", bool, False)
    d.buyer_of_last_resort = r.get("instruments", "buyer_of_last_resort", bool, False)
    d.buyback_usd_per_kg = r.number_map("buyer_of_last_resort", "buyback_usd_per_kg", 0.0,
                                        None)
    d.reserve_market_purchases = r.get("buyer_of_last_resort", "market_purchases", bool, True)
    if d.buyer_of_last_resort and not (d.price_floor and d.stockpile):
        raise r.err("[instruments] buyer_of_last_resort", "needs price_floor and stockpile",
                    "set price_floor = true and stockpile = true")
    d.tariff_reference_usd_per_kg = _menus(r, doc.get("tariff", {}).get(
        "reference_usd_per_kg", {}), "[tariff] reference_usd_per_kg")

    d.floor_levels_usd_per_kg = _menus(r, doc.get("price_floor", {}).get(
        "levels_usd_per_kg", {}), "[price_floor] levels_usd_per_kg")
    d.support_existing = r.get("price_floor", "support_existing", str, "choose",
                               choices=("choose", "all"))
    shares = doc.get("price_floor", {}).get("upside_share", [0.0])
    shares = [shares] if isinstance(shares, int | float) and not isinstance(shares, bool) \
        else shares
    if not isinstance(shares, list) or not shares or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
            for v in shares):
        raise r.err("[price_floor] upside_share", f"{shares!r} is not a share or a list of "
                    "shares in [0, 1]", "write e.g. upside_share = 0.3 or [0.0, 0.3]")
    d.upside_shares = sorted({float(v) for v in shares})
    d.upside_cap_usd_per_kg = r.number_map("price_floor", "upside_cap_usd_per_kg", 0.0, None)
    for key in ("eligible_projects", "mandatory_floor"):
        value = doc.get("price_floor", {}).get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(v, str) for v in value)):
            raise r.err(f"[price_floor] {key}", f"{value!r} is not a list of names",
                        f'write {key} = ["NAME", ...]')
    d.eligible_projects = doc.get("price_floor", {}).get("eligible_projects")
    d.mandatory_floor = doc.get("price_floor", {}).get("mandatory_floor", [])
    d.bankability_test = r.get("bankability", "test", str, "expected",
                               choices=BANKABILITY_TESTS)
    d.bankability_quantile = r.get("bankability", "quantile", float, 0.1, low=0.0, high=1.0)
    d.hurdle_rate = r.get("bankability", "hurdle_rate", float, 0.08, low=0.0, high=0.5)
    d.tail_years = r.get("bankability", "tail_years", int, 10, low=0, high=60)
    d.grant_max_share_of_capex = r.get("grants", "max_share_of_capex", float, 0.5,
                                       low=0.0, high=1.0)
    d.grant_cap_by_stage_musd = r.number_map("grants", "cap_musd_by_stage", 0.0, None)
    d.grant_cap_by_host_musd = r.number_map("grants", "cap_musd_by_host", 0.0, None)
    d.sharing_rule = r.get("burden_sharing", "rule", str, "gdp", choices=SHARING_RULES)
    d.sharing_weights = r.number_map("burden_sharing", "weights", 0.0, None)
    d.sharing_reference = r.get("burden_sharing", "reference", str, "gdp",
                                choices=REFERENCE_RULES)
    if uses_custom_weights(d) and not d.sharing_weights:
        raise r.err("[burden_sharing] weights", "missing for rule 'custom'",
                    "give weights = { US = 0.4, EU = 0.3, ... }")
    d.cvar_weight = r.get("risk", "cvar_weight", float, 0.0, low=0.0, high=100.0)
    d.cvar_alpha = r.get("risk", "cvar_alpha", float, 0.95, low=0.0, high=0.999)
    d.max_expected_shortfall_share = r.number_map("security", "max_expected_shortfall_share",
                                                  0.0, 1.0)
    d.min_non_chinese_share = r.number_map("security", "min_non_chinese_share", 0.0, 1.0)
    d.max_single_country_share = r.number_map("security", "max_single_country_share",
                                              0.0, 1.0)
    d.stockpile_cover_days = r.number_map("security", "stockpile_cover_days", 0.0, 3650.0)
    d.reagent_limits = r.get("security", "reagent_limits", bool, False)
    soft = doc.get("security", {}).get("soft", {})
    if not isinstance(soft, dict):
        raise r.err("[security] soft", f"{soft!r} is not a table",
                    "write soft = { min_non_chinese_share = 20 } (penalty in USD/kg)")
    for name, value in soft.items():
        if name not in SOFT_TARGETS:
            raise r.err(f"[security] soft.{name}", "unknown target",
                        f"use one of: {', '.join(SOFT_TARGETS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise r.err(f"[security] soft.{name}", f"{value!r} is not a penalty",
                        "give the penalty in USD per kg of violation, >= 0")
        d.soft_penalty_usd_per_kg[name] = float(value)
    return d


def uses_custom_weights(design: Design) -> bool:
    return design.sharing_rule == "custom" or (
        design.sharing_rule == "core" and design.sharing_reference == "custom")


def check_against(design: Design, products: list[str], members: list[str],
                  projects: list[str] | None = None) -> None:
    """Cross-file checks: every product or ally named in the design exists in the instance."""
    def unknown(where: str, name: str, known: list[str]) -> InputError:
        return InputError(f"{design.path.name} {where}: '{name}' is not in the instance; "
                          f"use one of: {', '.join(known)}")

    for p in design.floor_levels_usd_per_kg:
        if p not in products:
            raise unknown(f"[price_floor] levels_usd_per_kg.{p}", p, products)
    for p in design.tariff_reference_usd_per_kg:
        if p not in products:
            raise unknown(f"[tariff] reference_usd_per_kg.{p}", p, products)
    from remech.instance import STAGES

    for st in design.grant_cap_by_stage_musd:
        if st not in STAGES:
            raise unknown(f"[grants] cap_musd_by_stage.{st}", st, list(STAGES))
    for p in list(design.upside_cap_usd_per_kg) + design.mandatory_floor:
        if p not in products:
            raise unknown(f"[price_floor] {p}", p, products)
    for j in design.eligible_projects or []:
        if projects is not None and j not in projects:
            raise unknown("[price_floor] eligible_projects", j, projects)
    for p in design.mandatory_floor:
        if not design.floor_levels_usd_per_kg.get(p):
            raise InputError(f"{design.path.name} [price_floor] mandatory_floor: '{p}' has no "
                             f"floor levels; give levels_usd_per_kg.{p}")
    for key in ("max_expected_shortfall_share", "min_non_chinese_share",
                "max_single_country_share", "stockpile_cover_days"):
        for p in getattr(design, key):
            if p != "*" and p not in products and p not in STAGES:
                raise unknown(f"[security] {key}.{p}", p, products + list(STAGES))
    if uses_custom_weights(design):
        for a in design.sharing_weights:
            if a not in members:
                raise unknown(f"[burden_sharing] weights.{a}", a, members)
        missing = [a for a in members if a not in design.sharing_weights]
        if missing:
            raise InputError(f"{design.path.name} [burden_sharing] weights: no weight for "
                             f"'{missing[0]}'; give a weight for every ally "
                             f"({', '.join(members)})")
        if sum(design.sharing_weights.values()) <= 0:
            raise InputError(f"{design.path.name} [burden_sharing] weights: all weights are 0; "
                             "give at least one positive weight")
