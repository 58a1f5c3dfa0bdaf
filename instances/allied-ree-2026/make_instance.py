"""Write demand.csv, supply.csv, scenarios.csv, prices.csv and availability.csv.

Run from anywhere with remech installed: ``python instances/allied-ree-2026/make_instance.py``.
Deterministic (seeded). Every number below is from shared/data/rare-earth-facts.md (keys in
brackets, titles and addresses in sources.csv) or marked as an assumption; the same text goes
into the ``source`` column of the rows it produces. projects.csv, allies.csv, products.csv
and stockpile.csv are written by hand (each row carries its source).

Demand (demand.csv). World magnet-REE demand 93 kt (2023) [S25]; world Dy+Tb ~4,000 t/yr
(Caremag's 600 t/yr is ~15 % of world [S58]), so NdPr ~89 kt (derived); growth 5.0 %/yr =
IEA APS 131 kt in 2030 from 93 kt in 2023 [S25] (derived). Allied share of world demand: 25 %
for NdPr (China exported 58,152 t of magnets in 2024 [S29], ~19 % of its >300 kt output
[S28], plus Japan's own <9 % of world magnet output [S36]; derived and rounded); 50 % for Dy
and Tb (assumption). The split among allies follows allied consumption where the fact sheet
supports it (section 2; it has no official per-country consumption, only trade proxies):
* NdPr: each ally's NdFeB magnet imports from all origins = China's magnet exports to it in
  Sept 2025 [S30] / China's share of its magnet imports (KITA 2022 [S38]): EU 2,470 t
  (Germany's 1,288 t scaled by the EU/Germany ratio of July 2025, 2,140/1,116 [S30]) / 0.90,
  KR 854 / 0.879, US 420 / 0.768, JP 228 / 0.311 t per month; these four take 89 %. JP counts
  imports only: the NdPr its own magnet makers use has no tonnage in the sources (fact sheet
  gap 5), so JP's share is a lower bound. IN 5 %, UK 3 %, CA 1.5 %, AU 1.5 % (assumption).
* Dy, Tb: Japan's potential heavy-RE demand ~1,475 t/yr (250 t Dy + 45 t Tb is ~20 % of it
  [S37], derived) against the allied Dy+Tb demand of 2025 (2,206 t, above); the other allies
  share the rest as they share NdPr (assumption: heavy-RE use follows magnet use).

Supply (supply.csv). china_supply_t: in a year without a cut China can supply 2x allied
demand (assumption: enough for all of it, for stockpile purchases and for allied plants
that shut down; China separates 85-92 % of world output [S25]). china_normal_deliveries_t,
the base export cuts act on: allied demand - the output of the existing allied plants at
capacity (projects.csv) - other supply (0). Check against trade data: NdPr 2026 14.3 kt,
against ~17.4 kt NdPr in China's 2024 magnet exports to all buyers (58,152 t [S29] x ~30 %
Nd+Pr [S95]), of which the allies take the larger part [S30].

Scenarios (scenarios.csv, prices.csv, availability.csv) come from remech's own generator,
``remech.scenarios.generate`` (the code behind ``remech scenarios generate``): 56 paths,
circular block bootstrap (3-year blocks) of the *de-meaned* joint annual log returns of
NdPr (Nd before 2021), Dy and Tb oxide FOB China 2011-2025 [S1][S2][S3][S4][S5], mean
reversion 0.25/yr toward the 2014-2025 geometric mean, from the 2025e level [S1]; export-
control episodes (probability 0.5 per path, 1-2 years, flow ratio between the observed mild
and severe 2025 ratios [S87][S91], ex-China premia up to 3.3x Dy and 3.6x Tb [S88][S1]);
strategic flooding (probability 0.3 per path: prices -35 % for two years from the first
start year of a new allied project of the product; assumption); and the four named stress
tests (stress-spike-2011, stress-slump-2015, stress-trough-2024, stress-controls-2025).
All 60 are equally likely. availability.csv holds the flow ratio itself: a share of China's
normal deliveries (supply.csv).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from remech.scenarios import GeneratorSettings, generate, to_tables

HERE = Path(__file__).resolve().parent
YEARS = list(range(2026, 2036))
PRODUCTS = ["NDPR", "DY", "TB"]
SEED = 20260204  # the date of the Critical Minerals Ministerial [S68]
N_PATHS = 56  # + 4 stress tests = 60 scenarios

WORLD_2023_T = {"NDPR": 89000.0, "DY": 3400.0, "TB": 600.0}
GROWTH = (131.0 / 93.0) ** (1 / 7) - 1
ALLIED_SHARE = {"NDPR": 0.25, "DY": 0.50, "TB": 0.50}
CHINA_MULTIPLE = 2.0  # assumption: what China can supply in a normal year / allied demand

# NdFeB magnet imports from all origins, t per month, Sept 2025: China's exports to the ally
# [S30] / China's share of the ally's magnet imports (KITA 2022) [S38]
MAGNET_IMPORTS_T = {"EU": 1288 * 2140 / 1116 / 0.90, "KR": 854 / 0.879, "US": 420 / 0.768,
                    "JP": 228 / 0.311}
OTHER_NDPR_SHARE = {"IN": 0.05, "UK": 0.03, "CA": 0.015, "AU": 0.015}  # assumption
JP_HRE_T = 1475.0  # Japan's potential heavy-RE demand (derived [S37])
HRE_BASE_YEAR = 2025


def allied_demand_t(product: str, year: int) -> float:
    return WORLD_2023_T[product] * (1 + GROWTH) ** (year - 2023) * ALLIED_SHARE[product]


def splits() -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Each ally's share of allied demand per product, and the source text."""
    big = 1.0 - sum(OTHER_NDPR_SHARE.values())
    total = sum(MAGNET_IMPORTS_T.values())
    ndpr = {a: big * v / total for a, v in MAGNET_IMPORTS_T.items()} | OTHER_NDPR_SHARE
    hre_total = sum(allied_demand_t(p, HRE_BASE_YEAR) for p in ("DY", "TB"))
    jp = JP_HRE_T / hre_total
    rest = {a: s for a, s in ndpr.items() if a != "JP"}
    hre = {"JP": jp} | {a: (1 - jp) * s / sum(rest.values()) for a, s in rest.items()}
    shares = ", ".join(f"{a} {s:.1%}" for a, s in ndpr.items())
    src_ndpr = (f"split {shares}: derived, magnet imports from all origins (t/month, Sept "
                "2025) = China's exports to EU (Germany 1288 x EU/Germany 2140/1116 in July), "
                "KR 854, US 420, JP 228 [S30] / China's share of their magnet imports 0.90, "
                "0.879, 0.768, 0.311 (KITA 2022) [S38]; JP imports only (its own magnet "
                "makers' use has no tonnage in the sources: a lower bound); assumption: IN 5 %, "
                "UK 3 %, CA 1.5 %, AU 1.5 %")
    src_hre = (f"split JP {jp:.1%} = Japan's potential heavy-RE demand ~1475 t/yr (derived "
               f"[S37]) / allied Dy+Tb demand {hre_total:.0f} t in {HRE_BASE_YEAR}; "
               "assumption: the other allies' heavy-RE use follows their NdPr magnet use "
               "[S30][S38]")
    return {"NDPR": ndpr, "DY": hre, "TB": hre}, {"NDPR": src_ndpr, "DY": src_hre,
                                                  "TB": src_hre}


def existing_output_t() -> dict[tuple[str, int], float]:
    """Output of the existing allied plants at capacity (ramped), by (product, year)."""
    out: dict[tuple[str, int], float] = {}
    with open(HERE / "projects.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "existing":
                continue
            for y in YEARS:
                ramp = min(1.0, max(0.0, (y - int(row["start_year"]) + 1)
                                    / int(row["ramp_years"])))
                key = (row["product"], y)
                out[key] = out.get(key, 0.0) + float(row["capacity_t"]) * ramp
    return out


def write(name: str, header: list[str], rows: list[list]) -> None:
    with open(HERE / name, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def demand_and_supply() -> None:
    split, split_src = splits()
    existing = existing_output_t()
    rows, supply = [], []
    for p in PRODUCTS:
        for y in YEARS:
            total = allied_demand_t(p, y)
            for ally, share in split[p].items():
                src = (f"derived: allied demand {total:.0f} t = world {WORLD_2023_T[p]:.0f} t "
                       f"(2023) [S25][S58] x {1 + GROWTH:.4f}^{y - 2023} [S25] x allied share "
                       f"{ALLIED_SHARE[p]:.2f} [S29][S28][S36] (assumption for Dy/Tb); "
                       f"{split_src[p]}")
                rows.append([ally, p, y, round(total * share, 1), src])
            normal = max(0.0, total - existing.get((p, y), 0.0))
            supply.append([
                p, y, round(CHINA_MULTIPLE * total, 1), 0.0, round(normal, 1),
                f"china_supply_t: assumption: in a year without a cut China can supply "
                f"{CHINA_MULTIPLE:g}x allied demand (all of it, stockpile purchases, allied "
                "plants that shut down; China separates 85-92 % of world output [S25]); "
                f"china_normal_deliveries_t: derived: allied demand {total:.0f} t - existing "
                f"allied output at capacity {existing.get((p, y), 0.0):.0f} t (projects.csv: "
                "[S49][S20][S55][S71]) - other supply 0; other_supply_t: other non-Chinese "
                "supply is counted in projects.csv"])
    write("demand.csv", ["ally", "product", "year", "demand_t", "source"], rows)
    write("supply.csv", ["product", "year", "china_supply_t", "other_supply_t",
                         "china_normal_deliveries_t", "source"], supply)


def first_new_capacity() -> dict[str, int]:
    """First start year of a new project per product (when strategic flooding strikes)."""
    out: dict[str, int] = {}
    with open(HERE / "projects.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] == "new":
                p, y = row["product"], int(row["start_year"])
                out[p] = min(out.get(p, y), y)
    return out


def scenarios() -> None:
    settings = GeneratorSettings(n=N_PATHS, seed=SEED, stress=("all",))
    sset = generate(PRODUCTS, YEARS, settings, first_new_capacity())
    source = (f"derived: remech.scenarios.generate (seed {SEED}, n {N_PATHS}, block "
              f"{settings.block}, mean reversion {settings.kappa}, de-meaned returns) from "
              "oxide price history [S1][S2][S3][S4][S5]; export controls [S87][S91], ex-China "
              "premia [S88][S1]; availability = flow ratio, a share of China's normal "
              "deliveries (supply.csv); assumption: overlay probabilities (controls 0.5, "
              f"flooding {settings.p_flooding}, depth {settings.flooding_depth}), equally "
              "likely scenarios; see make_instance.py")
    multiple = np.ones((len(YEARS), len(PRODUCTS)))  # availability is the flow ratio itself
    for name, df in to_tables(sset, multiple, source).items():
        df.to_csv(HERE / name, index=False)


if __name__ == "__main__":
    demand_and_supply()
    scenarios()
    print(f"wrote demand, supply and {N_PATHS + 4} scenarios to {HERE}")
