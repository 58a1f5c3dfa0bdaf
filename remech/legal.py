"""Trade-law screening tags of the instruments: which WTO rules each one touches.

The seed names "legal scrutiny under international trade rules, depending on the design"
as a main risk. Each instrument remech can recommend carries tags that a trade lawyer
would recognise (WTO SCM Agreement: actionable or prohibited subsidies, purchases of
goods; GATT 1994: most-favoured-nation treatment, bound rates, state trading, export
restrictions, the security exception), each with a one-line reason and its basis. They
live in one place, ``remech/data/legal_risk.csv``; a basis cites keys of the fact sheet
(``remech/data/sources.csv``) where the sources say something, and says
``assumption:`` where the reading is remech's own.

**This is a screening aid, not legal advice.** ``screen`` orders the tags coarsely:

- ``high``: as designed, inconsistent with a GATT obligation unless an exception or an
  agreement among the members covers it;
- ``medium``: lawful as such but challengeable (an actionable subsidy: a dispute, or
  countervailing duties if it harms another member's trade);
- ``low``: usually covered by an exemption or exception, or a risk only if a real
  contract adds a condition remech does not model.

A design can leave out every instrument carrying a tag: ``[legal] exclude = ["gatt-i"]``.
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

TABLE = Path(__file__).resolve().parent / "data" / "legal_risk.csv"
SCREENS = ("low", "medium", "high")
NOTE = ("Screening tags, not legal advice: each instrument the mechanism uses is tagged "
        "with the WTO rules it touches, a one-line reason and its basis (fact-sheet sources "
        "where they say something, 'assumption' where the reading is remech's own); "
        "screen high = inconsistent as designed unless an exception or agreement covers "
        "it, medium = challengeable (actionable subsidy, countervailing duties), low = "
        "usually exempt or a risk only under conditions remech does not model. Ask trade "
        "lawyers before relying on any of it.")
NAMES = {"price_floor": "price-floor top-ups (contracts for difference)",
         "grants": "capex grants", "stockpile": "government stockpile",
         "buyer_of_last_resort": "buyer-of-last-resort reserve",
         "tariff": "tariff-enforced reference price",
         "offtake": "offtake contracts (guaranteed purchase)"}
#: the design switch of each instrument ([instruments] in a design file)
INSTRUMENTS = tuple(NAMES)


@functools.cache
def tags() -> pd.DataFrame:
    """The tag table: instrument, tag, agreement, provisions, category, screen, reason,
    source (one row per instrument and tag)."""
    return pd.read_csv(TABLE, dtype=str, keep_default_na=False)


def known_tags() -> list[str]:
    return list(dict.fromkeys(tags()["tag"]))


def excluded_instruments(exclude: list[str]) -> dict[str, list[str]]:
    """The instruments a design's ``[legal] exclude`` removes, with the tags that did."""
    df = tags()
    out: dict[str, list[str]] = {}
    for name in INSTRUMENTS:
        hit = [t for t in df.loc[df["instrument"] == name, "tag"] if t in exclude]
        if hit:
            out[name] = hit
    return out


def _floors(mech: Mapping) -> dict[str, float]:
    refs = mech.get("tariff_reference_usd_per_kg") or {}
    return {p: v for p, v in (mech.get("floors_usd_per_kg") or {}).items()
            if v and not refs.get(p)}


def used_instruments(mech: Mapping) -> dict[str, str]:
    """The instruments a solved mechanism (mechanism.json's sections) uses, each with what
    it does there."""
    used: dict[str, str] = {}
    floors = _floors(mech)
    if floors:
        used["price_floor"] = "floors " + ", ".join(f"{p} {v:g}" for p, v in floors.items()) \
            + " USD/kg"
    if (mech.get("grants_musd") or 0.0) > 1e-6:
        used["grants"] = f"grants {mech['grants_musd']:,.1f} MUSD"
    built = [s for s in mech.get("stockpiles") or [] if s.get("built")]
    if built:
        used["stockpile"] = "stockpiles " + ", ".join(
            f"{s['product']} {s['capacity_t']:,.0f} t" for s in built)
    buys = [r for r in mech.get("last_resort_reserve") or []
            if r.get("expected_purchases_t", 0.0) > 0.5]
    if buys:
        used["buyer_of_last_resort"] = "reserve buys " + ", ".join(
            f"{r['product']} {r['expected_purchases_t']:,.0f} t" for r in buys) + " (expected)"
    offtakes = mech.get("offtakes") or []
    if offtakes:
        used["offtake"] = "offtakes " + ", ".join(
            f"{r['project']} at {r['price_usd_per_kg']:g}" for r in offtakes) + " USD/kg"
    refs = {p: v for p, v in (mech.get("tariff_reference_usd_per_kg") or {}).items() if v}
    if refs:
        used["tariff"] = "reference prices " + ", ".join(
            f"{p} {v:g}" for p, v in refs.items()) + " USD/kg"
    return used


def worst(screens) -> str | None:
    ranked = [s for s in screens if s in SCREENS]
    return max(ranked, key=SCREENS.index) if ranked else None


def legal_risk(mech: Mapping, excluded: Mapping[str, list[str]] | None = None) -> dict:
    """mechanism.json's ``legal_risk`` section: the tags of the instruments used."""
    df = tags()
    rows = []
    for name, why in used_instruments(mech).items():
        mine = df[df["instrument"] == name].drop(columns="instrument")
        rows.append({"instrument": name, "name": NAMES[name], "used": why,
                     "screen": worst(mine["screen"]),
                     "tags": mine.to_dict(orient="records")})
    return {"note": NOTE, "instruments": rows,
            "highest_screen": worst(r["screen"] for r in rows),
            "excluded_by_design": dict(excluded or {})}


def screen_text(section: Mapping | None) -> str:
    """One line: each instrument used with its screen and tags."""
    if not section:
        return "not recorded (solved with an older remech)"
    if not section["instruments"]:
        return "no instrument used"
    return "; ".join(f"{r['instrument']} {r['screen']} ("
                     + ", ".join(t["tag"] for t in r["tags"]) + ")"
                     for r in section["instruments"])


def screens(section: Mapping | None) -> dict[str, str]:
    """{instrument: screen} of the instruments used (compare rows)."""
    return {r["instrument"]: r["screen"] for r in (section or {}).get("instruments", [])}


def tag_frame(section: Mapping) -> pd.DataFrame:
    """One row per (instrument used, tag), for reports."""
    rows = [{"instrument": r["name"], "used": r["used"], "tag": t["tag"],
             "rule": f"{t['agreement']} {t['provisions']}", "category": t["category"],
             "screen": t["screen"], "reason": t["reason"], "basis": t["source"]}
            for r in section.get("instruments", []) for t in r["tags"]]
    return pd.DataFrame(rows, columns=["instrument", "used", "tag", "rule", "category",
                                       "screen", "reason", "basis"])
