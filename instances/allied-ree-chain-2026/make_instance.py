"""Write the value-chain instance from instances/allied-ree-2026 and the fact sheet.

Run from anywhere with remech installed:
``python instances/allied-ree-chain-2026/make_instance.py``. Deterministic. It reads the
oxide instance next to it (its allies, oxide projects, scenarios, prices, availability,
oxide demand) and adds the magnet stage: product NDFEB (sintered NdFeB magnets, stage
magnet), the magnet plants, magnet demand, China's magnet supply and its export-control
path, magnet prices, a magnet-block stockpile row and conversions.csv. Every number is
from shared/data/rare-earth-facts.md (keys in brackets) or marked as an assumption; the
same text goes into the ``source`` column of the rows it writes.

Conversions (t of oxide per t of magnet; conversions.csv):
* NdPr: Nd+Pr 29-32.5 wt % of a sintered magnet [S95], midpoint 30.75 %, x 1.19 kg oxide
  per kg NdPr metal (midpoint of 1.17-1.21, stoichiometry, derived) = 0.366. Swarf (20-30 %
  of the feed [S97]) is assumed recycled inside the plant (assumption: no net loss).
* Dy: 0.6-1.2 wt % in standard grades [S95], midpoint 0.9 %, x 1.148 kg Dy2O3 per kg Dy
  (stoichiometry, derived) = 0.0103; high-temperature grades hold >= 3 % Dy/Tb and grain-
  boundary diffusion < 0.6 % [S96]: the midpoint of the standard grades is an assumption
  for the allied mix.
* Tb: no grade figure in the sources; assumption: Tb/Dy in magnets as in world demand
  (600/3400 t, the oxide instance's split [S58]) -> 0.159 wt %, x 1.176 kg Tb4O7 per kg Tb
  (stoichiometry) = 0.00187.
* Recyclers (HyProMag, magnet scrap to magnets by hydrogen processing [S64]) use no
  separated oxide: their own rows with 0.

Magnet demand (demand.csv, NDFEB): each ally's magnet imports from all origins, Sept 2025
(China's exports to it [S30] / China's share of its magnet imports, KITA 2022 [S38]: EU
2,744, KR 972, US 547, JP 733 t/month; these four take 89 % of allied demand in the oxide
instance's split, the rest IN 5 %, UK 3 %, CA 1.5 %, AU 1.5 % (assumption)); x 12 = the
2025 level (derived), growing 5.0 %/yr (IEA magnet-REE demand 93 kt 2023 -> 131 kt 2030
[S25], derived): 67.4 kt in 2025, 70.7 kt in 2026. Check: EU 32.9 kt/yr in 2025 against
~16 kt/yr of magnet imports in 2021 [S33]: the trade proxy is twice as high (growth since
2021 and one month scaled to a year); JP counts imports only. The magnets' NdPr content
(0.366 t/t) then exceeds the oxide instance's allied NdPr demand, so direct NdPr oxide
demand is 0: the oxide instance's NdPr demand was itself derived from this magnet trade.

Oxide demand (demand.csv, NDPR/DY/TB): the oxide instance's allied demand (which derives
from the same magnet trade) less what the allies' magnet demand holds (magnet demand x the
conversions above), per ally, not below 0 (derived): the oxide used outside magnets
(catalysts, glass, polishing) and by the allies' own magnet makers outside projects.csv
(Japan's: the 2nd-largest magnet maker [S36], no tonnage in the sources).

Prices (prices.csv, NDFEB): magnet price = conversion spread + the oxide content at that
scenario's oxide prices; the spread = China's 2024 magnet export unit value (58,152 t for
USD 2.86 bn = 49.2 USD/kg [S29], derived) less the content at 2024 FOB prices (NdPr 55, Dy
258.5, Tb 811 USD/kg [S1]) = 24.86 USD/kg (derived). In export-control years the ex-China
premia of Dy and Tb [S88] reach the magnet price through its content.

China's magnet deliveries (supply.csv, availability.csv): normal supply 2x allied magnet
demand (assumption, as for oxides); normal deliveries = demand - existing allied magnet
plants at capacity (derived). In a scenario year where the oxide instance cuts Dy (the
April 2025 licences cover Dy/Tb and magnets containing them [S87]), magnets are cut with
the same severity u = (0.65 - a_Dy) / (0.65 - 0.26): flow ratio 0.85 - u (0.85 - 0.26), from
Jan-Jul 2025 magnet exports -15 % y/y (mild) to May 2025 -74 % y/y (severe) [S87][S30].
China's oxide supply: 2x (direct oxide demand + all magnet plants' oxide need at capacity)
(assumption); normal oxide deliveries = direct oxide demand + existing magnet plants' oxide
need - existing allied oxide output, not below 0 (derived).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
BASE = HERE.parent / "allied-ree-2026"
YEARS = list(range(2026, 2036))
OXIDES = ["NDPR", "DY", "TB"]
MAG = "NDFEB"
GROWTH = (131.0 / 93.0) ** (1 / 7) - 1  # [S25], derived
CHINA_MULTIPLE = 2.0  # assumption, as in the oxide instance

CONTENT = {"NDPR": 0.3075 * 1.19, "DY": 0.009 * 1.148, "TB": 0.009 * 600 / 3400 * 1.176}
CONTENT_SRC = {
    "NDPR": "derived: Nd+Pr 29-32.5 wt % of a sintered magnet, midpoint 30.75 % [S95] x 1.19 "
            "kg NdPr oxide per kg metal (midpoint of 1.17-1.21, stoichiometry); assumption: "
            "swarf (20-30 % of feed [S97]) recycled inside the plant, no net loss",
    "DY": "derived: Dy 0.6-1.2 wt % in standard grades, midpoint 0.9 % [S95] x 1.148 kg "
          "Dy2O3 per kg Dy (stoichiometry); assumption: the standard-grade midpoint for the "
          "allied mix (H-grades >= 3 %, grain-boundary diffusion < 0.6 % [S96])",
    "TB": "assumption: no Tb grade figure in the sources; Tb/Dy in magnets as in world "
          "demand 600/3400 t (oxide instance [S58]) -> 0.159 wt % x 1.176 kg Tb4O7 per kg Tb "
          "(stoichiometry)"}
PRICE_2024 = {"NDPR": 55.0, "DY": 258.5, "TB": 811.0}  # [S1]
PRICE_2025 = {"NDPR": 69.0, "DY": 239.0, "TB": 1010.0}  # [S1] 2025e
UNIT_VALUE_2024 = 2860e6 / 58152 / 1000 * 1000 / 1000  # USD/kg: 2.86 bn / 58,152 t [S29]
SPREAD = UNIT_VALUE_2024 - sum(CONTENT[p] * PRICE_2024[p] for p in OXIDES)
# t/month of magnet imports from all origins, Sept 2025 [S30][S38] (oxide instance)
IMPORTS_T = {"EU": 1288 * 2140 / 1116 / 0.90, "KR": 854 / 0.879, "US": 420 / 0.768,
             "JP": 228 / 0.311}
OTHER_SHARE = {"IN": 0.05, "UK": 0.03, "CA": 0.015, "AU": 0.015}  # assumption
MAG_MILD, MAG_SEVERE = 0.85, 0.26  # Jan-Jul 2025 -15 % y/y, May 2025 -74 % y/y [S87][S30]
DY_MILD, DY_SEVERE = 0.65, 0.26  # remech.scenarios (the oxide instance's generator)

# KMP (ASM, Korea): NdFeB alloy, USD 204 m revenue, USD 26 m EBITDA at 3,600 t/yr [S62]
KMP_CASH = (204.0 - 26.0) / 3600 * 1000  # USD/kg alloy, derived
CONTENT_2025 = sum(CONTENT[p] * PRICE_2025[p] for p in OXIDES)
ALLOY_STEP = KMP_CASH - CONTENT_2025  # ex-China alloy making, USD/kg, derived
MAGNET_COST = CONTENT_2025 + 2 * ALLOY_STEP
COST_SRC = (f"derived: rare-earth content at 2025e FOB prices {CONTENT_2025:.1f} USD/kg "
            f"[S1][S95] + 2 x the ex-China alloy-making cash cost {ALLOY_STEP:.1f} USD/kg "
            f"(KMP: (USD 204 m revenue - 26 m EBITDA) / 3600 t = {KMP_CASH:.1f} USD/kg alloy "
            "less its content [S62]); assumption: making magnets from alloy costs as much again "
            "as making the alloy (no published ex-China magnet cash cost)")
CAPEX_PER_T = 650.0 / 9000  # MUSD per t/yr: MP 10X, USD 650 m for ~9,000 t/yr [S51]
NARVA_PER_T = 87.5 * 1.10 / 2000  # Neo Narva phase 1, EUR 75-100 m for 2,000 t/yr [S57]


def plants() -> list[dict]:
    """The magnet plants of the fact sheet (projects.csv rows)."""
    def row(project, name, host, status, cap, start, ramp, capex, src, note="",
            cost=MAGNET_COST, cost_src=COST_SRC):
        return {"project": project, "plant": project, "name": name, "host": host,
                "product": MAG,
                "stage": "magnet", "status": status, "capacity_t": cap,
                "start_year": start, "ramp_years": ramp,
                "unit_cost_usd_per_kg": round(cost, 2), "capex_musd": round(capex, 1),
                "source": f"{src}; unit cost {cost_src}", "note": note}

    return [
        row("MP-IND", "MP Materials Independence, Fort Worth", "US", "existing", 1000, 2025,
            1, 0, "~1000 t/yr NdFeB (GM offtake) [S51]", "GM offtake not modelled"),
        row("MP-10X", "MP Materials 10X", "US", "new", 9000, 2028, 2, 650,
            "derived: 10X brings MP to ~10000 t/yr, commissioning 2028 [S51][S52]: 9000 t/yr; "
            "capex USD 650 m of the USD 1 bn JPM/GS facility [S51]",
            "DoD buys 100 % of 10X output for 10 years [S52]"),
        row("NEO-NARVA", "Neo Performance Materials Narva phase 1", "EU", "existing", 2000,
            2025, 2, 0, "2000 t/yr sintered, opened Sept 2025 [S57]; assumption: 2-yr ramp"),
        row("NEO-NARVA2", "Neo Narva phase 2", "EU", "new", 3000, 2027, 2,
            (250.0 - 87.5) * 1.10,
            "derived: 5000 t/yr phase 2 - 2000 t/yr phase 1, expansion from 2027 [S57]; capex "
            "~EUR 250 m if expanded - EUR 87.5 m phase 1 (midpoint of 75-100) [S57] x 1.10 USD/"
            "EUR (assumption)"),
        row("USAR-STILL", "USA Rare Earth Stillwater", "US", "new", 10000, 2026, 3,
            CAPEX_PER_T * 10000,
            "10000 t/yr NdFeB, first magnets 2026 [S60]; assumption: 3-yr ramp; assumption: "
            "capex per t/yr as MP 10X (USD 650 m / 9000 t [S51]) since the USD 3.3 bn [S60] "
            "covers the Round Top mine too"),
        row("VULCAN", "Vulcan Elements (with ReElement)", "US", "new", 10000, 2027, 3,
            CAPEX_PER_T * 10000,
            "10000 t/yr magnets, expansion 2026+ [S59]; assumption: first output 2027, 3-yr "
            "ramp; assumption: capex per t/yr as MP 10X [S51] (the USD 1.4 bn [S59] includes "
            "ReElement's separation)"),
        row("HYP-UK", "HyProMag UK (recycling)", "UK", "new", 225, 2026, 1,
            NARVA_PER_T * 225,
            "midpoint of 100-350 t/yr (2026) [S64]; magnet scrap -> magnets, no separated "
            "oxide (conversions.csv); assumption: capex per t/yr as Neo Narva phase 1 [S57]"),
        row("HYP-US", "HyProMag USA (recycling)", "US", "new", 500, 2027, 2,
            NARVA_PER_T * 500,
            ">= 500 t/yr magnets [S64]; assumption: first output 2027; assumption: capex per "
            "t/yr as Neo Narva phase 1 [S57]"),
        row("IN-REPM", "India REPM scheme winners (programme of 5 plants)", "IN", "new", 6000,
            2028, 3, CAPEX_PER_T * 6000,
            "6000 t/yr integrated magnet capacity, 5 winners <= 1200 t/yr each, 7-yr scheme "
            "from Nov 2025 [S40]; assumption: first output 2028, 3-yr ramp; assumption: capex "
            "per t/yr as MP 10X [S51]",
            "INR 6450 crore sales-linked incentives + INR 750 crore capex subsidy [S40] are "
            "India's own support, not modelled as given"),
    ]


def write(name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(HERE / name, index=False, quoting=csv.QUOTE_MINIMAL)


def split() -> dict[str, float]:
    big = 1.0 - sum(OTHER_SHARE.values())
    total = sum(IMPORTS_T.values())
    return {a: big * v / total for a, v in IMPORTS_T.items()} | OTHER_SHARE


def magnet_demand_t(year: int) -> float:
    big = 1.0 - sum(OTHER_SHARE.values())
    return sum(IMPORTS_T.values()) * 12 / big * (1 + GROWTH) ** (year - 2025)


def ramped(row: dict, year: int) -> float:
    return float(row["capacity_t"]) * min(1.0, max(0.0, (year - int(row["start_year"]) + 1)
                                                   / int(row["ramp_years"])))


def main() -> None:
    for name in ("allies.csv", "scenarios.csv"):
        shutil.copy(BASE / name, HERE / name)
    mags = plants()
    base_pj = pd.read_csv(BASE / "projects.csv")
    projects = pd.concat([base_pj, pd.DataFrame(mags)], ignore_index=True)
    projects.to_csv(HERE / "projects.csv", index=False)
    products = pd.read_csv(BASE / "products.csv")
    penalty = sum(CONTENT[p] * float(products.set_index("product").at[p,
                  "shortfall_penalty_usd_per_kg"]) for p in OXIDES) + SPREAD
    products = pd.concat([products, pd.DataFrame([{
        "product": MAG, "name": "NdFeB sintered magnet", "stage": "magnet",
        "shortfall_penalty_usd_per_kg": round(penalty, 2),
        "source": "assumption: a magnet short costs its rare-earth content at the oxides' "
                  "shortfall penalties (products.csv rows above) plus China's conversion "
                  f"spread {SPREAD:.2f} USD/kg (derived [S29][S1]): no sourced loss per kg of "
                  "magnet"}])], ignore_index=True)
    products.to_csv(HERE / "products.csv", index=False)
    conv = [{"product": MAG, "input": p, "input_t_per_t": round(CONTENT[p], 6), "project": "",
             "source": CONTENT_SRC[p]} for p in OXIDES]
    conv += [{"product": MAG, "input": p, "input_t_per_t": 0.0, "project": j,
              "source": "HyProMag makes magnets from magnet scrap by hydrogen processing "
                        "[S64]: no separated oxide (its scrap supply is not modelled)"}
             for j in ("HYP-UK", "HYP-US") for p in OXIDES]
    write("conversions.csv", conv)

    shares = split()
    base_d = pd.read_csv(BASE / "demand.csv")
    rows = []
    mag_src = ("derived: allied magnet demand = magnet imports from all origins Sept 2025 "
               "(EU 2744, KR 972, US 547, JP 733 t/month = China's exports [S30] / China's "
               "share of imports, KITA 2022 [S38]) x 12 / 0.89 x 1.0502^(year-2025) [S25]; "
               "split as the oxide instance (IN 5 %, UK 3 %, CA 1.5 %, AU 1.5 %: assumption)")
    for y in YEARS:
        total = magnet_demand_t(y)
        for a, sh in shares.items():
            rows.append({"ally": a, "product": MAG, "year": y, "demand_t": round(total * sh, 1),
                         "source": mag_src})
    for _, r in base_d.iterrows():
        inside = magnet_demand_t(int(r["year"])) * shares[r["ally"]] * CONTENT[r["product"]]
        rows.append({"ally": r["ally"], "product": r["product"], "year": r["year"],
                     "demand_t": round(max(0.0, float(r["demand_t"]) - inside), 1),
                     "source": f"derived: oxide instance demand {float(r['demand_t']):.1f} t "
                               f"less the ally's magnet demand x {CONTENT[r['product']]:.5f} t "
                               "per t (conversions.csv), not below 0: oxide used outside the "
                               "modelled magnet plants; " + mag_src.split(";")[0][9:]})
    demand = pd.DataFrame(rows)
    demand.to_csv(HERE / "demand.csv", index=False)

    base_pj = base_pj.to_dict(orient="records")
    supply = []
    for y in YEARS:
        md = magnet_demand_t(y)
        existing_mag = sum(ramped(r, y) for r in mags if r["status"] == "existing")
        supply.append({
            "product": MAG, "year": y, "china_supply_t": round(CHINA_MULTIPLE * md, 1),
            "other_supply_t": 0.0, "china_normal_deliveries_t": round(max(0.0, md
                                                                          - existing_mag), 1),
            "source": f"china_supply_t: assumption: {CHINA_MULTIPLE:g}x allied magnet demand "
                      "(China makes 90-94 % of the world's magnets [S45]); "
                      f"china_normal_deliveries_t: derived: demand {md:.0f} t - existing allied "
                      f"magnet plants at capacity {existing_mag:.0f} t [S51][S57]"})
        for p in OXIDES:
            direct = float(demand[(demand["product"] == p) & (demand["year"] == y)]
                           ["demand_t"].sum())
            need_all = sum(float(r["capacity_t"]) for r in mags) * CONTENT[p]
            need_old = sum(ramped(r, y) for r in mags if r["status"] == "existing"
                           and not r["project"].startswith("HYP")) * CONTENT[p]
            own = sum(ramped(r, y) for r in base_pj if r["product"] == p
                      and r["status"] == "existing")
            supply.append({
                "product": p, "year": y,
                "china_supply_t": round(CHINA_MULTIPLE * (direct + need_all), 1),
                "other_supply_t": 0.0,
                "china_normal_deliveries_t": round(max(0.0, direct + need_old - own), 1),
                "source": f"china_supply_t: assumption: {CHINA_MULTIPLE:g}x (direct oxide "
                          f"demand {direct:.0f} t + every magnet plant's oxide need at "
                          f"capacity {need_all:.0f} t); china_normal_deliveries_t: derived: "
                          f"direct demand + existing magnet plants' need {need_old:.0f} t - "
                          f"existing allied oxide output {own:.0f} t "
                          "([S49][S20][S55][S71]), not below 0"})
    write("supply.csv", supply)

    prices = pd.read_csv(BASE / "prices.csv")
    wide = prices.pivot_table(index=["scenario", "year"], columns="product",
                              values="price_usd_per_kg").reset_index()
    mag = wide.assign(product=MAG, price_usd_per_kg=SPREAD + sum(
        CONTENT[p] * wide[p] for p in OXIDES))
    mag["price_usd_per_kg"] = mag["price_usd_per_kg"].round(4)
    mag["source"] = (f"derived: conversion spread {SPREAD:.2f} USD/kg (China's 2024 magnet "
                     "export unit value USD 2.86 bn / 58152 t [S29] less the content at 2024 "
                     "FOB prices [S1]) + the content (conversions.csv) at the scenario's oxide "
                     "prices (prices.csv rows of this scenario and year)")
    out = pd.concat([prices, mag[["scenario", "year", "product", "price_usd_per_kg",
                                  "source"]]], ignore_index=True)
    out.to_csv(HERE / "prices.csv", index=False)

    av = pd.read_csv(BASE / "availability.csv")
    dy = av[av["product"] == "DY"].copy()
    u = ((DY_MILD - dy["china_availability"]) / (DY_MILD - DY_SEVERE)).clip(0.0, 1.0)
    dy["product"] = MAG
    dy["china_availability"] = (MAG_MILD - u * (MAG_MILD - MAG_SEVERE)).round(6)
    dy["source"] = ("derived: the April 2025 licences cover Dy/Tb and magnets containing them "
                    "[S87]: magnets are cut in the scenario's Dy cut years with the Dy cut's "
                    "severity u = (0.65 - a_DY) / (0.39); flow ratio 0.85 - 0.59 u between Jan-"
                    "Jul 2025 (-15 % y/y) and May 2025 (-74 % y/y) magnet exports [S87][S30]")
    pd.concat([av, dy], ignore_index=True).to_csv(HERE / "availability.csv", index=False)

    stock = pd.read_csv(BASE / "stockpile.csv")
    md30 = magnet_demand_t(2030)
    price25 = SPREAD + CONTENT_2025
    stock.loc[len(stock)] = {
        "product": MAG, "fixed_cost_musd": 10, "capacity_cost_usd_per_kg": 1,
        "holding_cost_usd_per_kg_yr": round(0.02 * price25, 2),
        "max_capacity_t": round(100 / 365 * md30), "salvage_fraction": 0.8,
        "source": f"derived: magnet block (the NDS lists NdFeB magnet block [S75]); max = 100 "
                  f"days (KOMIR [S72b]) of 2030 allied magnet demand ({md30:.0f} t/yr); holding "
                  f"2 %/yr of the 2025e magnet price {price25:.1f} USD/kg (prices.csv "
                  "derivation); assumption: fixed cost 10 MUSD, capacity cost 1 USD/kg, "
                  "salvage 80 % (as the oxides)"}
    stock.to_csv(HERE / "stockpile.csv", index=False)

    src = pd.read_csv(BASE / "sources.csv")
    extra = [
        {"key": "S95", "title": "NdFeB composition (manufacturers' composition sheets; "
                                "approximate)", "url": "http://www.couragemagnet.com/faq/324.html"},
        {"key": "S96", "title": "Heavy rare earths in high-temperature grades (manufacturer "
                                "case study)",
         "url": "https://www.mainrichinternational.com/success-stories/lawn-mower-motors"},
        {"key": "S97", "title": "Swarf in NdFeB production (Roskill estimate as quoted; "
                                "secondary)", "url": "https://geomega.ca/swarf-tweets"}]
    pd.concat([src, pd.DataFrame(extra)], ignore_index=True).to_csv(HERE / "sources.csv",
                                                                     index=False)
    print(f"wrote the chain instance to {HERE}: spread {SPREAD:.2f} USD/kg, magnet cost "
          f"{MAGNET_COST:.2f} USD/kg, penalty {penalty:.2f} USD/kg, 2026 magnet demand "
          f"{magnet_demand_t(2026):.0f} t")


if __name__ == "__main__":
    main()
