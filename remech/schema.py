"""Schemas of the TOML files (design files and instance.toml), with pydantic v2.

Every key is typed and range-checked, unknown sections and keys are rejected with a
did-you-mean suggestion, and NaN and +-inf (which TOML accepts) are rejected everywhere.
pydantic's ValidationError becomes our InputError: one line per problem,
"<file> [section] key: <problem>; <fix>". ``remech schema design`` prints the JSON Schema
(docs/design.schema.json is generated from it) so that editors can complete keys.
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from remech.errors import InputError

#: the most problems listed in one error
MAX_ERRORS = 20

BANKABILITY_TESTS = ("expected", "quantile", "worst")
SHARING_RULES = ("gdp", "consumption", "equal", "custom", "core")
REFERENCE_RULES = ("gdp", "consumption", "equal", "custom")
SOFT_TARGETS = ("min_non_chinese_share", "max_single_country_share", "stockpile_cover_days",
                "reagent_limits")
STOCKPILE_POLICIES = ("rule", "tree", "clairvoyant")
#: years an instance may span (first_year, last_year, and every year column of the tables)
YEAR_RANGE = (1900, 2200)
MAX_HORIZON_YEARS = 100


def _range_text(low: float | None, high: float | None) -> str:
    if high is None:
        return f"give a value >= {low:g}"
    if low is None:
        return f"give a value <= {high:g}"
    return f"give a value between {low:g} and {high:g}"


def _bounded(low: float | None, high: float | None, *, kind: type = float,
             open_low: bool = False):
    """A number in [low, high] (or (low, high] when ``open_low``), finite, with our message
    and the bounds in the JSON Schema."""
    def check(v):
        if (low is not None and (v < low or (open_low and v == low))) or \
                (high is not None and v > high):
            fix = _range_text(low, high) if not open_low else f"give a value > {low:g}" + (
                f" and <= {high:g}" if high is not None else "")
            raise PydanticCustomError("out_of_range", "{v} is out of range; {fix}",
                                      {"v": f"{v:g}", "fix": fix})
        return v

    js: dict[str, Any] = {"type": "integer" if kind is int else "number"}
    if low is not None:
        js["exclusiveMinimum" if open_low else "minimum"] = low
    if high is not None:
        js["maximum"] = high
    return Annotated[kind, AfterValidator(check), WithJsonSchema(js)]


def _scalar_to_map(v):
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"*": v}
    return v


def _number_map(low: float, high: float | None):
    """``{ PRODUCT or STAGE = value }`` or one number for all (stored under "*")."""
    item = _bounded(low, high)
    one = {"type": "number", "minimum": low} | ({"maximum": high} if high is not None else {})
    js = {"anyOf": [one, {"type": "object", "additionalProperties": one}]}
    return Annotated[dict[str, item], BeforeValidator(_scalar_to_map), WithJsonSchema(js)]


def _ascending(menu: list[float]) -> list[float]:
    for a, b in zip(menu, menu[1:], strict=False):
        if b <= a:
            raise PydanticCustomError(
                "not_ascending", "levels do not ascend ({a} then {b}); list the levels "
                "from lowest to highest, each once", {"a": f"{a:g}", "b": f"{b:g}"})
    return menu


def _level(v: float) -> float:
    if v <= 0:
        raise PydanticCustomError("not_positive", "level {v} is not > 0; leave out 0: 'none' "
                                  "is always on the menu", {"v": f"{v:g}"})
    if v > MAX_PRICE_USD_PER_KG:
        raise PydanticCustomError("out_of_range", "level {v} is above {high} USD/kg; give "
                                  "levels in USD/kg", {"v": f"{v:g}",
                                                       "high": f"{MAX_PRICE_USD_PER_KG:g}"})
    return v


#: the highest price level or price a file may give, USD/kg (a sanity bound)
MAX_PRICE_USD_PER_KG = 1e6
_LEVEL = Annotated[float, AfterValidator(_level)]
_MENU_JS = {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0,
                                       "maximum": 1e6}}
Menu = Annotated[list[_LEVEL], AfterValidator(_ascending), WithJsonSchema(_MENU_JS)]
Menus = dict[str, Menu]
Share = _bounded(0.0, 1.0)


def _to_list(v):
    if isinstance(v, int | float) and not isinstance(v, bool):
        return [v]
    return v


def _non_empty(v: list) -> list:
    if not v:
        raise PydanticCustomError("empty", "is an empty list; write e.g. upside_share = 0.3 "
                                  "or [0.0, 0.3]")
    return v


_SHARE_JS = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                       {"type": "array", "minItems": 1,
                        "items": {"type": "number", "minimum": 0, "maximum": 1}}]}
ShareMenu = Annotated[list[Share], BeforeValidator(_to_list), AfterValidator(_non_empty),
                      WithJsonSchema(_SHARE_JS)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


class DesignSection(_Section):
    name: str | None = None
    """Name shown in reports (default: the file name)."""
    description: str = ""


class InstrumentsSection(_Section):
    price_floor: bool = True
    stockpile: bool = True
    grants: bool = True
    tariff: bool = False
    buyer_of_last_resort: bool = False
    offtake: bool = False


class OfftakeSection(_Section):
    prices_usd_per_kg: Menus = {}
    """Menus of contract prices per product, USD/kg, positive and ascending: the buyer
    takes the plant's output at that price (like the DoD-MP 10X magnet offtake)."""
    contract_years: _bounded(1, MAX_HORIZON_YEARS, kind=int) = 10
    """Length of an offtake in years from the plant's first year of output (10: DoD-MP)."""
    volume_share: _bounded(0.0, 1.0) = 1.0
    """Share of the plant's output bought under the contract (1: all of it, as 10X)."""
    eligible_projects: list[str] | None = None


class BuyerOfLastResortSection(_Section):
    buyback_usd_per_kg: _number_map(0.0, 1e6) = {}
    """Price at which the reserve sells back (default: the floor)."""
    market_purchases: bool = True


class TariffSection(_Section):
    reference_usd_per_kg: Menus = {}
    """Menus of reference prices per product, USD/kg, positive and ascending."""


class PriceFloorSection(_Section):
    levels_usd_per_kg: Menus = {}
    """Menus of floor levels per product, USD/kg, positive and ascending."""
    support_existing: Literal["choose", "all"] = "choose"
    upside_share: ShareMenu = [0.0]
    """Share of the price above the cap paid back (collar): one share or a menu."""
    upside_cap_usd_per_kg: _number_map(0.0, 1e6) = {}
    eligible_projects: list[str] | None = None
    mandatory_floor: list[str] = []
    contract_years: _bounded(1, MAX_HORIZON_YEARS, kind=int) | None = None
    """Length of a floor contract in years, from the project's first year of output (the
    first model year for existing plants); top-ups and collars stop after it and
    bankability values later years, and the tail, at market prices. Default: the contract
    covers the whole horizon and bankability values the tail years under it."""


class BankabilitySection(_Section):
    test: Literal[BANKABILITY_TESTS] = "expected"
    quantile: _bounded(0.0, 1.0) = 0.1
    hurdle_rate: _bounded(0.0, 0.5) = 0.08
    tail_years: _bounded(0, 60, kind=int) = 10


class GrantsSection(_Section):
    max_share_of_capex: Share = 0.5
    cap_musd_by_stage: _number_map(0.0, None) = {}
    cap_musd_by_host: _number_map(0.0, None) = {}


class BurdenSharingSection(_Section):
    rule: Literal[SHARING_RULES] = "gdp"
    weights: _number_map(0.0, None) = {}
    reference: Literal[REFERENCE_RULES] = "gdp"
    cap_musd_per_scenario: _number_map(0.0, None) = {}
    """Per ally: its share of the discounted outlay may not exceed this in any scenario
    (MUSD), besides the expected-outlay cap of allies.csv."""
    cap_musd_per_year: _number_map(0.0, None) = {}
    """Per ally: its share of one year's outlay (undiscounted MUSD) in any scenario."""


class RiskSection(_Section):
    cvar_weight: _bounded(0.0, 100.0) = 0.0
    cvar_alpha: _bounded(0.0, 0.999) = 0.95


_PENALTY = _bounded(0.0, None)


class SoftTargets(_Section):
    """Penalty in USD per kg of violation per soft target (absent: hard)."""

    min_non_chinese_share: _PENALTY | None = None
    max_single_country_share: _PENALTY | None = None
    stockpile_cover_days: _PENALTY | None = None
    reagent_limits: _PENALTY | None = None


class SecuritySection(_Section):
    max_expected_shortfall_share: _number_map(0.0, 1.0) = {}
    min_non_chinese_share: _number_map(0.0, 1.0) = {}
    max_single_country_share: _number_map(0.0, 1.0) = {}
    stockpile_cover_days: _number_map(0.0, 3650.0) = {}
    reagent_limits: bool = False
    soft: SoftTargets = SoftTargets()


OBJECTIVE_VIEWS = ("fiscal", "economic")


class ObjectiveSection(_Section):
    view: Literal[OBJECTIVE_VIEWS] = "fiscal"
    """Cost minimised: "fiscal" (what treasuries pay, plus consumers' tariff premium,
    shortfall losses and target penalties) or "economic" (allied welfare: transfers
    inside the alliance net out, treasury flows weighted by the MCPF). Both are reported."""
    mcpf: _bounded(1.0, 3.0) = 1.3
    """Marginal cost of public funds: welfare cost of 1 USD raised by a treasury
    (1.1-1.5 in advanced economies [S98]; 1.3 the middle)."""


def _int_map(low: int, high: int):
    """``{ PLANT = whole number }`` or one whole number for all (stored under "*")."""
    item = _bounded(low, high, kind=int)
    one = {"type": "integer", "minimum": low, "maximum": high}
    js = {"anyOf": [one, {"type": "object", "additionalProperties": one}]}
    return Annotated[dict[str, item], BeforeValidator(_scalar_to_map), WithJsonSchema(js)]


class InvestmentSection(_Section):
    max_delay_years: _int_map(0, MAX_HORIZON_YEARS) = {}
    """How many years past its earliest start (projects.csv start_year) the mechanism may
    start a new plant it supports: one number for every new plant, or { PLANT = years }
    ("*" for the others). The start is a first-stage decision, one per plant. Default: 0
    (each plant starts in its start_year)."""


def _known_tags(v: list[str]) -> list[str]:
    from remech.legal import known_tags

    known = known_tags()
    for tag in v:
        if tag not in known:
            close = difflib.get_close_matches(tag, known, n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(known)}"
            raise PydanticCustomError("unknown_tag", "'{tag}' is not a trade-law tag; {fix}",
                                      {"tag": tag, "fix": fix})
    return v


class LegalSection(_Section):
    exclude: Annotated[list[str], AfterValidator(_known_tags)] = []
    """Leave out every instrument carrying one of these trade-law screening tags
    (remech/data/legal_risk.csv, e.g. "gatt-i" removes the tariff-enforced reference
    price). A screening aid, not legal advice."""


class StockpileSection(_Section):
    policy: Literal[STOCKPILE_POLICIES] = "rule"
    """How releases are decided: a rule, a scenario tree, or with perfect foresight."""
    products: list[str] | None = None
    """Products that may be stockpiled (default: every product with a stockpile.csv row),
    e.g. ["NDFEB"] for a magnet-block stockpile only."""


class DesignFile(_Section):
    """A remech design file (models/*.toml); see README, 'Design format'."""

    model_config = ConfigDict(title="remech design")
    design: DesignSection = DesignSection()
    instruments: InstrumentsSection = InstrumentsSection()
    price_floor: PriceFloorSection = PriceFloorSection()
    tariff: TariffSection = TariffSection()
    offtake: OfftakeSection = OfftakeSection()
    buyer_of_last_resort: BuyerOfLastResortSection = BuyerOfLastResortSection()
    bankability: BankabilitySection = BankabilitySection()
    grants: GrantsSection = GrantsSection()
    burden_sharing: BurdenSharingSection = BurdenSharingSection()
    risk: RiskSection = RiskSection()
    security: SecuritySection = SecuritySection()
    stockpile: StockpileSection = StockpileSection()
    objective: ObjectiveSection = ObjectiveSection()
    investment: InvestmentSection = InvestmentSection()
    legal: LegalSection = LegalSection()


_YEAR = _bounded(*YEAR_RANGE, kind=int)


class InstanceSection(_Section):
    name: str
    description: str = ""
    first_year: _YEAR
    last_year: _YEAR
    discount_rate: Annotated[float, AfterValidator(lambda v: _rate(v)),
                             WithJsonSchema({"type": "number", "minimum": 0,
                                             "exclusiveMaximum": 1})]
    default_model: str | None = None
    """A design file relative to the instance folder, or the name of a design shipped
    with remech (e.g. "floor-stockpile-grants")."""


def _rate(v: float) -> float:
    if not 0 <= v < 1:
        raise PydanticCustomError("out_of_range", "{v} is out of range; give a "
                                  "rate as a fraction, e.g. 0.05 for 5 %", {"v": f"{v:g}"})
    return v


class InstanceFile(_Section):
    """instance.toml of a remech instance folder; see README, 'Instance format'."""

    model_config = ConfigDict(title="remech instance.toml")
    instance: InstanceSection


# ---------------------------------------------------------------------------------------
# reading TOML, translating errors


def read_toml(path: Path) -> tuple[dict, bytes]:
    """Parse a TOML file (UTF-8, a byte-order mark is accepted); InputError if unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path.name}: cannot be read ({exc.strerror or exc}); check that "
                         "it is a readable file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path.name}: is not UTF-8 text (byte 0x{raw[exc.start]:02x} in "
                         f"line {line}); save it as UTF-8") from None
    try:
        return tomllib.loads(text), raw
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path.name}: is not valid TOML ({exc}); fix the syntax") from None


def _where(loc: tuple) -> str:
    parts = [p for p in loc if p != "*"]
    if not parts:
        return ""
    head = f"[{parts[0]}]"
    tail = ""
    for p in parts[1:]:
        tail += f"[{p}]" if isinstance(p, int) else (f".{p}" if tail else str(p))
    return head if len(parts) == 1 else f"{head} {tail}"


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class holding the last element of ``loc`` (for suggestions)."""
    cls = root
    for part in loc[:-1]:
        field = cls.model_fields.get(str(part)) if isinstance(cls, type) else None
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        cls = ann
    return cls


def _fmt(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    return repr(value)


_KINDS = {"string_type": "text in quotes", "bool_type": "true or false",
          "int_type": "a whole number", "float_type": "a number", "list_type": "a list [...]",
          "dict_type": "a table { KEY = value, ... }", "int_from_float": "a whole number"}


def _line(root: type[BaseModel], err: dict) -> str:
    loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
    where = _where(loc)
    if kind == "extra_forbidden":
        model = _model_at(root, loc)
        known = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        what = "unknown section" if len(loc) == 1 else (
            "unknown target" if loc[-2:-1] == ("soft",) else "unknown key")
        fix = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(known)}"
        return f"{where}: {what}; {fix}"
    if kind == "missing" and len(loc) == 1:
        return f": has no [{loc[0]}] section; add one (see README, 'Instance format')"
    if kind == "missing":
        sec = _where(loc[:-1])
        return f"{sec} has no '{loc[-1]}'; add '{loc[-1]} = ...' under {sec}"
    if kind in ("model_type", "model_attributes_type") or (kind == "dict_type" and
                                                          len(loc) == 1):
        return f"{where}: {_fmt(value)} is not a table; write it as a {where} section" \
            if len(loc) == 1 else f"{where}: {_fmt(value)} is not a table; write " \
            f"{loc[-1]} = {{ KEY = value, ... }}"
    if kind == "literal_error":
        import re

        choices = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        return f"{where}: '{value}' is not allowed; use one of: {', '.join(choices)}"
    if kind == "finite_number":
        return f"{where}: {_fmt(value)} is not a finite number; write a number (nan and " \
            "inf are not allowed)"
    if kind in _KINDS:
        return f"{where}: {_fmt(value)} has the wrong type; write {_KINDS[kind]}"
    return f"{where}: {err['msg']}"


def validate(model: type[BaseModel], doc: dict, path: Path,
             where: Callable[[tuple], str] | None = None) -> BaseModel:
    """Check ``doc`` against ``model``; InputError with one line per problem (at most
    MAX_ERRORS) naming the file, or what ``where(loc)`` names for the problem at ``loc``
    (an override on the command line, see remech.overrides)."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        lines = []
        for e in errs:
            text = _line(model, e)
            head = where(tuple(e["loc"])) if where is not None else path.name
            line = f"{head}{'' if text.startswith(':') else ' '}{text}"
            if line not in lines:
                lines.append(line)
        raise InputError.many(lines) from None


def _json_schema(model: type[BaseModel]) -> dict:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema"} | schema


def design_json_schema() -> dict:
    """The JSON Schema of design files (for editors: completion and checks)."""
    return _json_schema(DesignFile)


def instance_json_schema() -> dict:
    """The JSON Schema of instance.toml."""
    return _json_schema(InstanceFile)
