"""Infeasibility in the user's words.

remech.solving finds an irreducible infeasible subset (IIS) of the LP relaxation as Pyomo
component names and indices (``c_security[0]``, bounds of ``shortfall_t[1,0,0]``). Here
they become products, years, scenarios, allies and projects, with the target or bound
that causes the conflict first and a hint. This module knows the model's component names
and the ModelData, not the files.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from remech.model.data import ModelData

#: lines reported at most (targets and bounds first; the rest is counted)
LIMIT = 8

_TARGETS = {
    "c_security": "max_expected_shortfall_share",
    "c_target_non_chinese": "min_non_chinese_share",
    "c_target_china_share": "max_single_country_share",
    "c_target_host_share": "max_single_country_share",
    "c_target_cover": "stockpile_cover_days",
    "c_target_reagent": "reagent_limits",
}
#: limits the user sets in a file (not targets): reported right after the targets
_LIMITS = {"contribution_musd", "stock_capacity_t", "c_stock_capacity", "c_grant_stage_cap",
           "c_grant_host_cap", "c_one_option", "c_one_level", "c_floor_used"}


def _soft_hint(target: str) -> str:
    return (f"make it soft ([security] soft = {{ {target} = 50 }}, a penalty in USD/kg), "
            "loosen it, or add supply")


class _Words:
    def __init__(self, data: ModelData):
        self.d = data

    def product(self, p: int) -> str:
        return self.d.products[p] if 0 <= p < len(self.d.products) else f"product #{p}"

    def where(self, s: int, t: int) -> str:
        d = self.d
        return f"in {d.years[t]}, scenario {d.scenarios[s]}"

    def demand(self, t: int, p: int) -> float:
        return float(self.d.demand_t[t, p])

    def value(self, arr: np.ndarray, p: int) -> str:
        return f"{float(arr[p]):g}"


def _describe(comp: str, idx: tuple, kind: str, w: _Words) -> tuple[str, str, str]:
    """(group key, sentence, hint) for one IIS member."""
    try:
        found = _describe_target(comp, idx, w) or _describe_limit(comp, idx, w)
    except (ValueError, IndexError, KeyError, TypeError):
        found = None
    return found or (comp, comp, "")


def _describe_target(comp: str, idx: tuple, w: _Words) -> tuple[str, str, str] | None:
    """A security target's row (design [security])."""
    d = w.d
    if comp == "c_security":
        (p,) = idx
        theta = float(d.max_expected_shortfall_share[p])
        return (f"{comp}/{p}",
                f"hard target max_expected_shortfall_share = {theta:g} for "
                f"{w.product(p)} cannot hold: the expected shortfall over the horizon "
                f"must be at most {theta * float(d.demand_t[:, p].sum()):,.0f} t",
                "loosen it (design [security]), or allow instruments and supply that "
                "close the gap (floors, stockpile, grants, projects)")
    if comp in ("c_target_non_chinese", "c_target_china_share"):
        s, t, p = idx
        name = _TARGETS[comp]
        share = float((d.min_non_chinese_share if comp == "c_target_non_chinese"
                       else d.max_single_country_share)[p])
        most = (1 - share if comp == "c_target_non_chinese" else share) * w.demand(t, p)
        return (f"{comp}/{p}",
                f"hard target {name} = {share:g} for {w.product(p)} cannot hold "
                f"{w.where(s, t)}: China may then deliver at most {most:,.0f} t",
                _soft_hint(name))
    if comp == "c_target_host_share":
        s, t, p, k = idx
        share = float(d.max_single_country_share[p])
        return (f"{comp}/{p}/{k}",
                f"hard target max_single_country_share = {share:g} for {w.product(p)} "
                f"cannot hold for host {k} {w.where(s, t)}: its projects may supply at "
                f"most {share * w.demand(t, p):,.0f} t",
                _soft_hint("max_single_country_share"))
    if comp == "c_target_cover":
        s, t, p = idx
        days = float(d.stockpile_cover_days[p])
        return (f"{comp}/{p}",
                f"hard target stockpile_cover_days = {days:g} for {w.product(p)} cannot "
                f"hold {w.where(s, t)}: the stock must hold "
                f"{days / 365 * w.demand(t, p):,.0f} t",
                _soft_hint("stockpile_cover_days") + " (a stockpile: [instruments] "
                "stockpile = true, stockpile.csv max_capacity_t)")
    if comp == "c_target_reagent":
        s, t, r = idx
        return (f"{comp}/{r}",
                f"hard target reagent_limits for reagent {d.reagents[r]} cannot hold "
                f"{w.where(s, t)}: refiners may use at most "
                f"{float(d.reagent_supply_t[s, t, r]):,.0f} t",
                _soft_hint("reagent_limits"))
    return None


def _describe_limit(comp: str, idx: tuple, w: _Words) -> tuple[str, str, str] | None:
    """A cap, bound or rule of the instruments and the balance."""
    d = w.d
    if comp == "contribution_musd":
        (a,) = idx
        return (f"{comp}/{a}",
                f"budget cap of {d.members[a]}: {float(d.budget_cap_musd[a]):,.1f} MUSD "
                "(allies.csv budget_cap_musd)",
                "raise the cap or leave it blank (no cap)")
    if comp == "c_share":
        (a,) = idx
        return (f"{comp}/{a}",
                f"{d.members[a]} pays its {float(d.sharing_share[a]):.1%} share of the "
                "outlay (design [burden_sharing])", "")
    if comp in ("stock_capacity_t", "c_stock_capacity"):
        p = idx[-1]
        return (f"{comp}/{p}",
                f"stockpile capacity of {w.product(p)}: at most "
                f"{float(d.stock_max_capacity_t[p]):,.0f} t (stockpile.csv max_capacity_t)",
                "raise max_capacity_t")
    if comp == "c_balance":
        s, t, p = idx
        return (f"{comp}/{p}",
                f"supply of {w.product(p)} plus shortfall must meet the demand of "
                f"{w.demand(t, p):,.0f} t {w.where(s, t)}", "")
    if comp == "shortfall_t":
        s, t, p = idx
        return (f"{comp}/{p}",
                f"the shortfall of {w.product(p)} {w.where(s, t)} is at most the demand "
                f"({w.demand(t, p):,.0f} t)", "")
    if comp == "china_used_t":
        s, t, p = idx
        return (f"{comp}/{p}",
                f"China delivers at most "
                f"{float(d.china_cap_t[s, t, p]):,.0f} t "
                f"of {w.product(p)} {w.where(s, t)} (supply.csv, availability.csv)", "")
    if comp == "support":
        k, y = idx
        return (f"{comp}/{k}",
                f"plant {d.plants[k]} is supported from {y} or not (a yes/no choice)", "")
    if comp in ("option", "c_plant_start"):
        return ("plant_options", "a plant is supported only under a combination of floors "
                "for its products that makes it bankable (with a grant within the design's "
                "share of capex) and that its producer would sign", "check the floor menus "
                "and [grants] max_share_of_capex")
    if comp in ("outlay_musd", "c_outlay"):
        return ("outlay", "the outlay (grants, stockpile, top-ups) is paid by the allies",
                "")
    if comp in ("c_one_option", "c_link", "c_floor_used", "c_one_level",
                "floor_choice", "c_tariff_auto", "c_line_support", "line_support"):
        return ("floor_rules", "the floor rules: one level per product, a plant supported "
                "only at its products' levels, a floor only with a contracted plant; "
                "check mandatory_floor, eligible_projects and support_existing "
                "(design [price_floor])", "")
    if comp in ("c_grant_stage_cap", "c_grant_host_cap"):
        (k,) = idx
        caps = d.grant_cap_by_stage_musd if comp == "c_grant_stage_cap" \
            else d.grant_cap_by_host_musd
        return (f"{comp}/{k}", f"grant cap for {k}: {float(caps[k]):,.1f} MUSD "
                "(design [grants])", "raise the cap")
    return None


def _rank(comp: str, kind: str) -> int:
    if comp in _TARGETS:
        return 0
    if comp in _LIMITS:
        return 1
    return 2 if kind == "bound" else 3


def _pyomo(comp: str, idx: tuple, kind: str) -> str:
    text = comp + (f"[{','.join(str(i) for i in idx)}]" if idx else "")
    return f"bound of {text}" if kind == "bound" else text


def explain(items: list[tuple[str, tuple, str]], data: ModelData,
            limit: int = LIMIT) -> list[str]:
    """One line per group of IIS members in the user's words, the cause (targets, then
    limits from the files) first; each ends with the Pyomo name it stands for."""
    if not items:
        return []
    w = _Words(data)
    groups: dict[str, list] = defaultdict(list)
    meta: dict[str, tuple[int, str, str]] = {}
    for comp, idx, kind in items:
        key, text, hint = _describe(comp, tuple(idx), kind, w)
        groups[key].append(_pyomo(comp, tuple(idx), kind))
        if key not in meta:
            meta[key] = (_rank(comp, kind), text, hint)
    order = sorted(groups, key=lambda k: meta[k][0])
    lines = []
    for key in order[:limit]:
        rank, text, hint = meta[key]
        names = groups[key]
        more = f" and {len(names) - 1} more like it" if len(names) > 1 else ""
        line = f"{text}{'; ' + hint if hint else ''} ({names[0]}{more})"
        lines.append(line)
    if len(order) > limit:
        lines.append(f"... and {len(order) - limit} more group(s) of constraints")
    if not any(meta[k][0] == 0 for k in order):
        lines.append("no security target is in the conflict: check the limits above "
                     "(budget caps, stockpile capacity, grant caps, floor rules)")
    return lines


def integer_conflict(data: ModelData) -> list[str]:
    """When the LP relaxation is feasible but the MIP is not: the yes/no choices cannot
    meet the constraints together. Name the hard targets in play (the usual cause)."""
    hard = []
    for name in ("max_expected_shortfall_share", "min_non_chinese_share",
                 "max_single_country_share", "stockpile_cover_days"):
        if name in data.soft_penalty_usd_per_kg:
            continue
        values = getattr(data, name)
        for p, v in enumerate(values):
            if not np.isnan(v):
                hard.append(f"{name} = {float(v):g} for {data.products[p]}")
    text = ("the LP relaxation is feasible, so the yes/no choices (floor levels, supported "
            "projects, stockpile builds) cannot meet every constraint together")
    if hard:
        return [f"{text}; the hard targets in play: {', '.join(hard)}: loosen one, make a "
                "share or cover target soft ([security] soft), or add supply"]
    return [f"{text}: check mandatory_floor, eligible_projects and support_existing (design "
            "[price_floor]) and the grant caps"]
