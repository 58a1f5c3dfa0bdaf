"""Write allied-ree-eu27-2026: allied-ree-2026 with the EU split into its 27 members.

Run from anywhere with remech installed:
``python instances/allied-ree-eu27-2026/make_instance.py``. Deterministic. It reads the
tables of ``instances/allied-ree-2026`` and writes this folder: 34 allies (the 7 non-EU
allies unchanged, 27 EU members) and the two partners. Everything that is not per ally
(products, projects, supply, stockpile, scenarios, prices, availability, sources) is copied
unchanged, except that the EU-hosted projects are hosted by France (Solvay La Rochelle
[S56] and Carester Caremag, Lacq [S58] are in France). ``unions.toml`` lists the EU as an a
priori union for ``remech game --unions``.

The split keeps the world of allied-ree-2026: the members' demand sums to the EU's row by
row, their GDPs sum to the EU-27's 19,990 USD bn [S84] and their budget caps to the EU's
3,300 MUSD, each in proportion to GDP. Under the default design's GDP burden sharing each
member's cap then binds exactly when the EU's did, so the grand coalition's optimum equals
allied-ree-2026's (tests/test_owen.py checks it).

* GDP (allies.csv gdp_usd_bn): Germany 4,740, France 3,210, Italy 2,420 USD bn (IMF WEO Apr
  2025 [S84]). The fact sheet has no other member's GDP: assumption: the other 24 get the
  rest of the EU-27's 19,990 [S84] (9,620) in proportion to their approximate 2024 nominal
  GDPs as recalled from the IMF WEO (``OTHER_GDP_RECALLED`` below; verify before citing
  a member's figure).
* Budget caps (budget_cap_musd): assumption: RESourceEU's ~3,300 MUSD [S74] is an EU-budget
  instrument, financed mainly by GNI-based own resources, so each member's cap is its GDP
  share of it (GDP as the proxy of GNI).
* Demand (demand.csv), every product and year: Germany takes 1,116 / 2,140 = 52.1 % of
  the EU's, its share of China's magnet exports to the EU in July 2025 [S30] (derived; the
  EU row itself is derived from the same trade figures, see allied-ree-2026's
  make_instance.py). assumption: the other 26 members share the remaining 47.9 % in
  proportion to GDP (the fact sheet has no magnet consumption or imports per member, gap 5),
  and Dy/Tb follow NdPr as in allied-ree-2026.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
BASE = HERE.parent / "allied-ree-2026"
COPIED = ["products.csv", "supply.csv", "stockpile.csv", "scenarios.csv", "prices.csv",
          "availability.csv", "sources.csv"]

EU_GDP_USD_BN = 19990.0  # IMF WEO Apr 2025 [S84]
SOURCED_GDP = {"DE": ("Germany", 4740.0), "FR": ("France", 3210.0), "IT": ("Italy", 2420.0)}
#: assumption: approximate 2024 nominal GDP, USD bn, recalled from the IMF WEO (not in the
#: fact sheet); only their proportions are used
OTHER_GDP_RECALLED = {
    "ES": ("Spain", 1730), "NL": ("Netherlands", 1230), "PL": ("Poland", 910),
    "BE": ("Belgium", 670), "SE": ("Sweden", 610), "IE": ("Ireland", 580),
    "AT": ("Austria", 530), "DK": ("Denmark", 430), "RO": ("Romania", 380),
    "CZ": ("Czechia", 350), "PT": ("Portugal", 310), "FI": ("Finland", 300),
    "GR": ("Greece", 260), "HU": ("Hungary", 220), "SK": ("Slovakia", 140),
    "BG": ("Bulgaria", 110), "LU": ("Luxembourg", 90), "HR": ("Croatia", 90),
    "LT": ("Lithuania", 85), "SI": ("Slovenia", 73), "LV": ("Latvia", 43),
    "EE": ("Estonia", 42), "CY": ("Cyprus", 35), "MT": ("Malta", 24)}
#: China's magnet exports in July 2025: to Germany 1,116 t of 2,140 t to the EU [S30]
DE_DEMAND_SHARE = 1116 / 2140
DESCRIPTION = ("allied-ree-2026 with the EU as its 27 member states: 34 allies, for "
               "coalition games with dozens of players.")
EU_HOST = "FR"  # Solvay La Rochelle [S56], Carester Caremag Lacq [S58]


def members() -> pd.DataFrame:
    """The 27 members: GDP, budget cap and demand share, with the source text."""
    rest = EU_GDP_USD_BN - sum(g for _, g in SOURCED_GDP.values())
    recalled = sum(g for _, g in OTHER_GDP_RECALLED.values())
    rows = []
    for code, (name, gdp) in SOURCED_GDP.items():
        rows.append([code, name, gdp, "GDP 2025 [S84]"])
    for code, (name, gdp) in OTHER_GDP_RECALLED.items():
        rows.append([code, name, gdp * rest / recalled,
                     f"derived: EU-27 GDP {EU_GDP_USD_BN:,.0f} [S84] - DE - FR - IT [S84] = "
                     f"{rest:,.0f}, split by assumption: approximate 2024 GDP {gdp} USD bn "
                     "recalled from the IMF WEO (not in the fact sheet; verify)"])
    out = pd.DataFrame(rows, columns=["ally", "name", "gdp_usd_bn", "gdp_source"])
    out["gdp_share"] = out["gdp_usd_bn"] / out["gdp_usd_bn"].sum()
    others = out["ally"] != "DE"
    out["demand_share"] = DE_DEMAND_SHARE
    out.loc[others, "demand_share"] = (1 - DE_DEMAND_SHARE) * out.loc[others, "gdp_usd_bn"] \
        / out.loc[others, "gdp_usd_bn"].sum()
    return out


def allies(eu: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    row = base[base["ally"] == "EU"].iloc[0]
    cap = float(row["budget_cap_musd"])
    new = pd.DataFrame({
        "ally": eu["ally"], "name": eu["name"], "role": "ally",
        "gdp_usd_bn": eu["gdp_usd_bn"], "budget_cap_musd": cap * eu["gdp_share"],
        "source": [f"{s}; cap = EU's {cap:,.0f} MUSD (RESourceEU [S74]) x GDP share "
                   f"{g:.4f} (assumption: EU-budget instruments are financed by GNI-based "
                   "own resources; GDP as the proxy)" for s, g in
                   zip(eu["gdp_source"], eu["gdp_share"], strict=True)],
        "note": "EU member (allied-ree-eu27-2026/make_instance.py)"})
    i = int(row.name)
    return pd.concat([base.iloc[:i], new, base.iloc[i + 1:]], ignore_index=True)


def demand(eu: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in base.iterrows():
        if r["ally"] != "EU":
            rows.append(r.to_dict())
            continue
        total, given = float(r["demand_t"]), 0.0
        for k, m in enumerate(eu.itertuples()):
            value = total - given if k == len(eu) - 1 else total * m.demand_share
            given += value
            how = ("derived: Germany's share of China's magnet exports to the EU, July 2025, "
                   "1116/2140 [S30]" if m.ally == "DE" else
                   "assumption: the rest of the EU's demand (1 - 1116/2140 [S30]) in "
                   "proportion to GDP among the 26 other members (no per-member consumption "
                   "in the sources)")
            rows.append({"ally": m.ally, "product": r["product"], "year": r["year"],
                         "demand_t": value,
                         "source": f"derived: EU demand {total} t (allied-ree-2026 "
                                   f"demand.csv: {r['source'][:60]}...) x {m.demand_share:.5f}"
                                   f" ({how})"})
    return pd.DataFrame(rows)


def main() -> None:
    eu = members()
    base_allies = pd.read_csv(BASE / "allies.csv", keep_default_na=False, na_values=[""])
    allies(eu, base_allies).to_csv(HERE / "allies.csv", index=False)
    demand(eu, pd.read_csv(BASE / "demand.csv")).to_csv(HERE / "demand.csv", index=False)
    projects = pd.read_csv(BASE / "projects.csv", keep_default_na=False, na_values=[""])
    moved = projects["host"] == "EU"
    projects.loc[moved, "note"] = projects.loc[moved, "note"].fillna("").astype(str) + \
        " host FR: the plant is in France [S56][S58] (allied-ree-2026 hosts it as EU)"
    projects.loc[moved, "host"] = EU_HOST
    projects.to_csv(HERE / "projects.csv", index=False)
    for name in COPIED:
        shutil.copyfile(BASE / name, HERE / name)
    base_toml = tomllib.loads((BASE / "instance.toml").read_text())["instance"]
    (HERE / "instance.toml").write_text(f'''\
# allied-ree-eu27-2026: allied-ree-2026 with the EU split into its 27 members (34 allies).
# Written by make_instance.py (python instances/allied-ree-eu27-2026/make_instance.py),
# which documents every derivation; each row carries its source key or "assumption:".
[instance]
name = "allied-ree-eu27-2026"
description = "{DESCRIPTION}"
first_year = {base_toml["first_year"]}
last_year = {base_toml["last_year"]}
# assumption: 5 % real social discount rate for public outlays (as allied-ree-2026)
discount_rate = {base_toml["discount_rate"]}
default_model = "{base_toml["default_model"]}"
''')
    names = ", ".join(f'"{a}"' for a in eu["ally"])
    (HERE / "unions.toml").write_text(
        "# A priori unions for remech game --unions (the Owen value): the EU negotiates as a\n"
        "# bloc, its members pay separately. Allies in no union stand alone.\n"
        f"[unions]\nEU = [{names}]\n")
    print(f"wrote {len(eu)} EU members (34 allies) to {HERE}")


if __name__ == "__main__":
    main()
