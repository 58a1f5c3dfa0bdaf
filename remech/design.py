"""The design (the mechanism to optimise over): read a design TOML file and check it.

See README.md, 'Design format', and the commented files under ``models/``.
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from remech.errors import InputError
from remech.schema import (  # noqa: F401 - re-exported: the design's vocabulary
    BANKABILITY_TESTS,
    REFERENCE_RULES,
    SHARING_RULES,
    SOFT_TARGETS,
    STOCKPILE_POLICIES,
    DesignFile,
    read_toml,
    validate,
)

KNOWN_SECTIONS = set(DesignFile.model_fields)


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
    #: products that may be stockpiled (None: every product with a stockpile.csv row)
    stockpile_products: list[str] | None = None
    grants: bool = True
    tariff: bool = False
    buyer_of_last_resort: bool = False
    #: guaranteed-purchase contracts (remech.model.offtake): a menu of contract prices per
    #: product, the contract length, the share of output bought, which plants may sign
    offtake: bool = False
    offtake_prices_usd_per_kg: dict[str, list[float]] = field(default_factory=dict)
    offtake_contract_years: int = 10
    offtake_volume_share: float = 1.0
    offtake_eligible_projects: list[str] | None = None
    buyback_usd_per_kg: dict[str, float] = field(default_factory=dict)  # default: the floor
    reserve_market_purchases: bool = True  # False: the stockpile is filled only by the reserve
    tariff_reference_usd_per_kg: dict[str, list[float]] = field(default_factory=dict)
    floor_levels_usd_per_kg: dict[str, list[float]] = field(default_factory=dict)
    support_existing: str = "choose"  # "choose" or "all"
    upside_shares: list[float] = field(default_factory=lambda: [0.0])  # collar menu
    upside_cap_usd_per_kg: dict[str, float] = field(default_factory=dict)  # default: floor
    eligible_projects: list[str] | None = None  # None: every project may be supported
    mandatory_floor: list[str] = field(default_factory=list)  # products without "no floor"
    #: floor contract length in years from the project's first year of output (existing
    #: plants: the first model year); None: the whole horizon, tail years valued under it
    contract_years: int | None = None
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
    #: ally -> cap on its share of the discounted outlay in every scenario (MUSD)
    cap_per_scenario_musd: dict[str, float] = field(default_factory=dict)
    #: ally -> cap on its share of any year's undiscounted outlay in any scenario (MUSD)
    cap_per_year_musd: dict[str, float] = field(default_factory=dict)
    cvar_weight: float = 0.0
    cvar_alpha: float = 0.95
    max_expected_shortfall_share: dict[str, float] = field(default_factory=dict)
    min_non_chinese_share: dict[str, float] = field(default_factory=dict)
    max_single_country_share: dict[str, float] = field(default_factory=dict)
    stockpile_cover_days: dict[str, float] = field(default_factory=dict)
    reagent_limits: bool = False
    #: soft targets: target name -> penalty in USD per kg of violation (absent: hard)
    soft_penalty_usd_per_kg: dict[str, float] = field(default_factory=dict)
    #: cost minimised: "fiscal" or "economic" (allied welfare, see remech.model.ledger)
    objective_view: str = "fiscal"
    #: marginal cost of public funds (welfare cost of 1 USD of treasury outlay)
    mcpf: float = 1.3
    #: [investment] max_delay_years: plant -> years a supported new plant may start after
    #: its earliest start ("*": every other new plant); empty: no start choice
    max_delay_years: dict[str, int] = field(default_factory=dict)
    #: SHA-256 of the design file's bytes
    sha256: str = ""
    #: trade-law tags whose instruments are left out ([legal] exclude, remech.legal)
    legal_exclude: list[str] = field(default_factory=list)
    #: the instruments switched off by them, with the tags that did
    legal_excluded: dict[str, list[str]] = field(default_factory=dict)
    #: overrides applied for this run (remech.overrides), {dotted key: value}
    overrides: dict = field(default_factory=dict)
    #: SHA-256 of the design as solved: every section but [design], defaults filled in and
    #: overrides applied, as canonical JSON (equal for equal content, comments aside)
    effective_sha256: str = ""


def shipped_designs() -> dict[str, Path]:
    """The designs shipped with remech, by name: the files of ``models/``.

    A wheel carries ``models/`` as the package ``remech.designs``; a source checkout or an
    editable install reads ``models/`` next to the package. One copy either way."""
    folder = Path(__file__).resolve().parent / "designs"  # installed from a wheel
    if not folder.is_dir():
        folder = Path(__file__).resolve().parents[1] / "models"  # source checkout, editable
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def is_design_name(text: str) -> bool:
    """A bare design name (no folder, no .toml): names a shipped design."""
    return bool(text) and "/" not in text and "\\" not in text and \
        not text.endswith(".toml") and text not in (".", "..")


def resolve_design(value: str | Path, folder: Path | None = None) -> Path:
    """A design given as a path (relative to ``folder`` if given) or as the name of a
    shipped design ("floor-stockpile-grants"); a file of that name wins over the name."""
    path = Path(value) if folder is None else folder / value
    if path.is_file() or not is_design_name(str(value)):
        return path.resolve() if folder is not None else path
    shipped = shipped_designs()
    return shipped.get(str(value), path)


def load_design(path: str | Path, overrides=None) -> Design:
    """Read and check a design file against the schema (remech.schema.DesignFile); raise
    InputError naming the file, the section and key, the problem and the fix.

    ``path`` may also be the name of a shipped design (see ``shipped_designs``).
    ``overrides`` (remech.overrides: ``{key: value}`` or ``KEY=VALUE`` texts; instance keys
    are ignored here) change keys of the file for this run, checked by the same schema."""
    from remech.overrides import (
        apply_to_doc,
        as_dict,
        as_overrides,
        blame,
        canonical_sha256,
        design_part,
    )

    path = resolve_design(path)
    if not path.is_file():
        names = ", ".join(shipped_designs())
        raise InputError(f"{path}: design file not found; pass --model with a design file "
                         f"or the name of a shipped design ({names})")
    doc, raw = read_toml(path)
    f = validate(DesignFile, doc, path)
    items = design_part(as_overrides(overrides))
    if items:
        f = validate(DesignFile, apply_to_doc(doc, items, path), path, blame(items, path))
    try:
        d = _design(f, path, hashlib.sha256(raw).hexdigest())
    except InputError as exc:
        if not items:
            raise
        given = ", ".join(f"--set {o.text}" for o in items)
        raise InputError(f"{exc} (with {given})") from None
    d.overrides = as_dict(items)
    d.effective_sha256 = canonical_sha256(f.model_dump(mode="json", exclude={"design"}))
    return d


def _design(f: DesignFile, path: Path, sha256: str) -> Design:
    """The checked Design of a validated design document."""
    pf, sec = f.price_floor, f.security

    def err(where: str, problem: str, fix: str) -> InputError:
        return InputError(f"{path.name} {where}: {problem}; {fix}")

    d = Design(path=path, name=f.design.name if f.design.name is not None else path.stem,
               sha256=sha256)
    d.description = f.design.description
    d.price_floor = f.instruments.price_floor
    d.stockpile = f.instruments.stockpile
    d.grants = f.instruments.grants
    d.tariff = f.instruments.tariff
    d.buyer_of_last_resort = f.instruments.buyer_of_last_resort
    d.offtake = f.instruments.offtake
    d.offtake_prices_usd_per_kg = _menus(f.offtake.prices_usd_per_kg)
    d.offtake_contract_years = int(f.offtake.contract_years)
    d.offtake_volume_share = float(f.offtake.volume_share)
    d.offtake_eligible_projects = list(f.offtake.eligible_projects) \
        if f.offtake.eligible_projects is not None else None
    _exclude_by_tag(d, list(f.legal.exclude))
    d.buyback_usd_per_kg = _floats(f.buyer_of_last_resort.buyback_usd_per_kg)
    d.reserve_market_purchases = f.buyer_of_last_resort.market_purchases
    if d.buyer_of_last_resort and not (d.price_floor and d.stockpile):
        raise err("[instruments] buyer_of_last_resort", "needs price_floor and stockpile",
                  "set price_floor = true and stockpile = true")
    d.tariff_reference_usd_per_kg = _menus(f.tariff.reference_usd_per_kg)
    d.floor_levels_usd_per_kg = _menus(pf.levels_usd_per_kg)
    d.support_existing = pf.support_existing
    d.upside_shares = sorted({float(v) for v in pf.upside_share})
    d.upside_cap_usd_per_kg = _floats(pf.upside_cap_usd_per_kg)
    d.eligible_projects = list(pf.eligible_projects) if pf.eligible_projects is not None \
        else None
    d.mandatory_floor = list(pf.mandatory_floor)
    d.contract_years = pf.contract_years
    d.bankability_test = f.bankability.test
    d.bankability_quantile = float(f.bankability.quantile)
    d.hurdle_rate = float(f.bankability.hurdle_rate)
    d.tail_years = int(f.bankability.tail_years)
    d.grant_max_share_of_capex = float(f.grants.max_share_of_capex)
    d.grant_cap_by_stage_musd = _floats(f.grants.cap_musd_by_stage)
    d.grant_cap_by_host_musd = _floats(f.grants.cap_musd_by_host)
    d.sharing_rule = f.burden_sharing.rule
    d.sharing_weights = _floats(f.burden_sharing.weights)
    d.sharing_reference = f.burden_sharing.reference
    d.cap_per_scenario_musd = _floats(f.burden_sharing.cap_musd_per_scenario)
    d.cap_per_year_musd = _floats(f.burden_sharing.cap_musd_per_year)
    if d.sharing_rule == "core" and (d.cap_per_scenario_musd or d.cap_per_year_musd):
        key = "cap_musd_per_scenario" if d.cap_per_scenario_musd else "cap_musd_per_year"
        raise err(f"[burden_sharing] {key}", "needs fixed shares of the outlay, and rule "
                  "'core' chooses them after the solve", "use another rule, or the expected-"
                  "outlay caps of allies.csv")
    if uses_custom_weights(d) and not d.sharing_weights:
        raise err("[burden_sharing] weights", "missing for rule 'custom'",
                  "give weights = { US = 0.4, EU = 0.3, ... }")
    d.cvar_weight = float(f.risk.cvar_weight)
    d.cvar_alpha = float(f.risk.cvar_alpha)
    d.max_expected_shortfall_share = _floats(sec.max_expected_shortfall_share)
    d.min_non_chinese_share = _floats(sec.min_non_chinese_share)
    d.max_single_country_share = _floats(sec.max_single_country_share)
    d.stockpile_cover_days = _floats(sec.stockpile_cover_days)
    d.reagent_limits = sec.reagent_limits
    d.soft_penalty_usd_per_kg = {k: float(v) for k, v in sec.soft.model_dump().items()
                                 if v is not None}
    d.stockpile_policy = f.stockpile.policy
    d.stockpile_products = list(f.stockpile.products) if f.stockpile.products is not None \
        else None
    d.objective_view = f.objective.view
    d.mcpf = float(f.objective.mcpf)
    d.max_delay_years = {str(k): int(v) for k, v in f.investment.max_delay_years.items()}
    return d


def _exclude_by_tag(d: Design, exclude: list[str]) -> None:
    """Switch off the instruments that carry an excluded trade-law tag (remech.legal); a
    buyer-of-last-resort reserve goes with the floors or stockpile it needs."""
    from remech.legal import excluded_instruments

    d.legal_exclude = exclude
    d.legal_excluded = {k: v for k, v in excluded_instruments(exclude).items()
                        if getattr(d, k)}
    for name in d.legal_excluded:
        setattr(d, name, False)
    if d.buyer_of_last_resort and not (d.price_floor and d.stockpile) and d.legal_excluded:
        d.buyer_of_last_resort = False
        d.legal_excluded["buyer_of_last_resort"] = ["needs price_floor and stockpile"]


def _floats(table: dict) -> dict[str, float]:
    return {str(k): float(v) for k, v in table.items()}


def _menus(table: dict) -> dict[str, list[float]]:
    return {str(k): [float(v) for v in menu] for k, menu in table.items()}


def _check_delays(design: Design, plants: dict[str, str]) -> None:
    """[investment] max_delay_years names plants of the instance, and only new ones (an
    existing plant's start is history, not a decision)."""
    where = f"{design.path.name} [investment] max_delay_years"
    new = sorted(k for k, status in plants.items() if status == "new")
    for k in design.max_delay_years:
        if k == "*":
            continue
        if k not in plants:
            raise InputError(f"{where}.{k}: '{k}' is not a plant of the instance; use one "
                             f"of its new plants: {', '.join(new) or 'none'} (projects.csv "
                             "plant, or the project of a line without one)")
        if plants[k] != "new":
            raise InputError(f"{where}.{k}: plant '{k}' exists, so its start is not a "
                             "decision; name only new plants")


def uses_custom_weights(design: Design) -> bool:
    return design.sharing_rule == "custom" or (
        design.sharing_rule == "core" and design.sharing_reference == "custom")


def check_against(design: Design, products: list[str], members: list[str],
                  projects: list[str] | None = None,
                  plants: dict[str, str] | None = None) -> None:
    """Cross-file checks: every product, ally, project or plant named in the design exists
    in the instance (``plants``: plant -> its status, existing or new)."""
    def unknown(where: str, name: str, known: list[str]) -> InputError:
        return InputError(f"{design.path.name} {where}: '{name}' is not in the instance; "
                          f"use one of: {', '.join(known)}")

    for p in design.floor_levels_usd_per_kg:
        if p not in products:
            raise unknown(f"[price_floor] levels_usd_per_kg.{p}", p, products)
    for p in design.tariff_reference_usd_per_kg:
        if p not in products:
            raise unknown(f"[tariff] reference_usd_per_kg.{p}", p, products)
    for p in design.stockpile_products or []:
        if p not in products:
            raise unknown("[stockpile] products", p, products)
    for p in design.offtake_prices_usd_per_kg:
        if p not in products:
            raise unknown(f"[offtake] prices_usd_per_kg.{p}", p, products)
    for j in design.offtake_eligible_projects or []:
        if projects is not None and j not in projects:
            raise unknown("[offtake] eligible_projects", j, projects)
    from remech.instance import STAGES

    for st in design.grant_cap_by_stage_musd:
        if st not in STAGES:
            raise unknown(f"[grants] cap_musd_by_stage.{st}", st, list(STAGES))
    for p in list(design.upside_cap_usd_per_kg) + design.mandatory_floor:
        if p not in products:
            raise unknown(f"[price_floor] {p}", p, products)
    known = (projects or []) + [k for k in (plants or {}) if k not in (projects or [])]
    for j in design.eligible_projects or []:
        if projects is not None and j not in known:
            raise unknown("[price_floor] eligible_projects", j, known)
    if plants is not None:
        _check_delays(design, plants)
    for p in design.mandatory_floor:
        if not design.floor_levels_usd_per_kg.get(p):
            raise InputError(f"{design.path.name} [price_floor] mandatory_floor: '{p}' has no "
                             f"floor levels; give levels_usd_per_kg.{p}")
    for key in ("max_expected_shortfall_share", "min_non_chinese_share",
                "max_single_country_share", "stockpile_cover_days"):
        for p in getattr(design, key):
            if p != "*" and p not in products and p not in STAGES:
                raise unknown(f"[security] {key}.{p}", p, products + list(STAGES))
    for key, caps in (("cap_musd_per_scenario", design.cap_per_scenario_musd),
                      ("cap_musd_per_year", design.cap_per_year_musd)):
        for a in caps:
            if a not in members:
                raise unknown(f"[burden_sharing] {key}.{a}", a, members)
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
