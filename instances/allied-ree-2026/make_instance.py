"""Write demand.csv, supply.csv, scenarios.csv, prices.csv and availability.csv.

Run from anywhere: ``python instances/allied-ree-2026/make_instance.py``. Deterministic
(seeded). Every number below is from shared/data/rare-earth-facts.md (keys in brackets,
titles and addresses in sources.csv) or marked as an assumption; the same text goes into
the ``source`` column of the rows it produces.

Scenario method (60 scenarios, equally likely):
* 56 paths: circular block bootstrap (blocks of 3 years) of the joint annual log returns of
  Nd, Dy and Tb oxide FOB China 2011-2025 [S1][S2][S3][S4][S5] (joint draws keep the
  cross-product correlation), from the 2025e level [S1], with mean reversion of strength
  KAPPA toward the 2014-2025 geometric mean. Nd oxide returns stand in for NdPr oxide
  (the two move together in 2021-2025 [S1]).
* An export-control episode is overlaid on each bootstrap path with probability 0.5 (about
  one episode a decade: 2010-14 quotas, 2025 licences [S85][S87]): it starts in a uniform
  year, lasts 1-2 years, cuts Chinese availability of Dy and Tb to a uniform level between
  0.26 (magnet exports May 2025, -74 % y/y [S87]) and 0.65 (Dy exports 2025, -35 % [S91]),
  and of NdPr to between 0.855 (magnet exports Jan-May 2025, -14.5 % [S87]) and 1. These
  are ratios of observed flows, which in normal times meet allied demand; as supply.csv
  gives China's normal supply as CHINA_MULTIPLE x demand (room for stockpile purchases),
  availability.csv holds flow ratio / CHINA_MULTIPLE, so that China delivers (flow ratio) x
  demand in an episode. Ex-China
  prices rise with severity up to 3.3x (Dy) and 3.6x (Tb) at availability 0.26 (Europe vs
  FOB China 2025 [S88][S1]).
* 4 named stress replays from 2026: 2011-style spike and crash, 2015-16 slump, 2022-24
  trough, 2025-style export controls.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
YEARS = list(range(2026, 2036))
PRODUCTS = ["NDPR", "DY", "TB"]
SEED = 20260204  # the date of the Critical Minerals Ministerial [S68]
N_BOOTSTRAP = 56
BLOCK = 3
KAPPA = 0.25  # assumption: mean-reversion speed per year
P_EPISODE = 0.5

# Annual prices FOB China, USD/kg [S1][S2][S3][S4][S5]; 2011-13 are year-end quotes
# (midpoints of ranges), 2014-2025 annual averages (midpoints where vintages differ).
HISTORY = {
    "NDPR": [195, 77.5, 67.5, 63, 48, 40, 50, 50, 45, 47, 98, 134, 78, 56, 73],  # Nd oxide
    "DY": [1410, 615, 465, 395, 279, 198, 187, 179, 239, 259.5, 410, 382, 330, 258.5, 239],
    "TB": [2810, 1250, 825, 713, 564, 415, 501, 455, 507, 649, 1343, 2050.5, 1299, 811,
           1010],
}
HIST_YEARS = list(range(2011, 2026))
BASE_2025 = {"NDPR": 69.0, "DY": 239.0, "TB": 1010.0}  # 2025e FOB China [S1]
PREMIUM_MAX = {"NDPR": 1.0, "DY": 3.3, "TB": 3.6}  # derived [S88][S1]
AVAIL_SEVERE = {"NDPR": 0.855, "DY": 0.26, "TB": 0.26}  # [S87]
AVAIL_MILD = {"NDPR": 1.0, "DY": 0.65, "TB": 0.62}  # [S91] (Dy -35 %, Tb -38 % in 2025)

# Demand: world magnet-REE demand 93 kt (2023) [S25]; world Dy+Tb ~4000 t/yr (Caremag's
# 600 t/yr is ~15 % of world [S58]), so NdPr ~89 kt (derived); growth 5.0 %/yr = IEA APS
# 131 kt in 2030 from 93 kt in 2023 [S25] (derived). Allied share of world demand: 25 %
# for NdPr (China exports 58152 t of magnets (2024) [S29], ~19 % of >300 kt output [S28],
# plus Japan's own <9 % of world magnet output [S36]; derived and rounded); 50 % for Dy and
# Tb (assumption: Japan alone ~1475 t/yr potential HRE demand [S37], ~37 % of world).
WORLD_2023_T = {"NDPR": 89000.0, "DY": 3400.0, "TB": 600.0}
GROWTH = (131.0 / 93.0) ** (1 / 7) - 1
ALLIED_SHARE = {"NDPR": 0.25, "DY": 0.50, "TB": 0.50}
CHINA_MULTIPLE = 2.0  # assumption: China's normal-time supply to allies / allied demand
SPLIT = {  # each ally's share of allied demand
    "NDPR": {"EU": 0.38, "JP": 0.25, "KR": 0.15, "US": 0.11, "IN": 0.05, "UK": 0.03,
             "CA": 0.015, "AU": 0.015},
    "DY": {"JP": 0.40, "EU": 0.25, "KR": 0.15, "US": 0.12, "IN": 0.03, "UK": 0.03,
           "CA": 0.01, "AU": 0.01},
}
SPLIT["TB"] = SPLIT["DY"]
SPLIT_SOURCE = {
    "NDPR": "EU 38 % = EU share of China magnet exports Jul 2025, KR 15 % and US 11 % = "
            "shares Sept/Jul 2025 [S30]; assumption: JP 25 % (2nd magnet maker [S36]), "
            "IN 5 %, UK 3 %, CA 1.5 %, AU 1.5 %",
    "DY": "assumption: JP 40 % (largest Dy user outside China [S36][S37]), EU 25 %, KR 15 %, "
          "US 12 %, IN 3 %, UK 3 %, CA 1 %, AU 1 %",
}
SPLIT_SOURCE["TB"] = SPLIT_SOURCE["DY"]


def allied_demand_t(product: str, year: int) -> float:
    return WORLD_2023_T[product] * (1 + GROWTH) ** (year - 2023) * ALLIED_SHARE[product]


def write(name: str, header: list[str], rows: list[list]) -> None:
    with open(HERE / name, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def demand_and_supply() -> None:
    rows, supply = [], []
    for p in PRODUCTS:
        for y in YEARS:
            total = allied_demand_t(p, y)
            for ally, share in SPLIT[p].items():
                src = (f"derived: allied demand {total:.0f} t = world {WORLD_2023_T[p]:.0f} t "
                       f"(2023) [S25][S58] x {1 + GROWTH:.4f}^{y - 2023} [S25] x allied share "
                       f"{ALLIED_SHARE[p]:.2f} [S29][S28][S36][S37]; split: {SPLIT_SOURCE[p]}")
                rows.append([ally, p, y, round(total * share, 1), src])
            supply.append([p, y, round(CHINA_MULTIPLE * total, 1), 0.0,
                           f"assumption: in normal times China can supply {CHINA_MULTIPLE:g}x "
                           "allied demand, enough for all of it and for stockpile purchases "
                           "(China separates 85-92 % of world output [S25]; separation quota "
                           "254 kt REO in 2024 [S48]); other non-Chinese supply is counted "
                           "in projects.csv"])
    write("demand.csv", ["ally", "product", "year", "demand_t", "source"], rows)
    write("supply.csv", ["product", "year", "china_supply_t", "other_supply_t", "source"],
          supply)


def scenarios() -> None:
    rng = np.random.default_rng(SEED)
    hist = np.log(np.array([HISTORY[p] for p in PRODUCTS], dtype=float))  # [p, year]
    returns = np.diff(hist, axis=1).T  # [14, p], joint annual log returns 2012-2025
    long_run = hist[:, HIST_YEARS.index(2014):].mean(axis=1)  # geometric mean 2014-2025
    base = np.log([BASE_2025[p] for p in PRODUCTS])
    n_t, n_r = len(YEARS), len(returns)

    def path(draws: np.ndarray) -> np.ndarray:
        """Log-price path from base with mean reversion; draws [t, p]."""
        level, out = base.copy(), []
        for r in draws:
            level = level + r - KAPPA * (level - long_run)
            out.append(level.copy())
        return np.exp(np.array(out))  # [t, p]

    table, avail_rows, scen_rows = [], [], []
    boot_src = ("derived: block bootstrap of 2011-2025 Nd/Dy/Tb oxide FOB China log returns "
                "[S1][S2][S3][S4][S5] from 2025e level [S1]; assumption: mean reversion 0.25/yr; "
                "see make_instance.py")
    for k in range(N_BOOTSTRAP):
        draws = []
        while len(draws) < n_t:
            start = rng.integers(n_r)
            draws.extend(returns[(start + i) % n_r] for i in range(BLOCK))
        prices = path(np.array(draws[:n_t]))
        avail = np.ones((n_t, len(PRODUCTS)))
        desc = "bootstrap of 2011-2025 history"
        src = boot_src
        if rng.random() < P_EPISODE:
            y0 = int(rng.integers(n_t))
            dur = int(rng.integers(1, 3))
            sev = rng.random()  # 0 mild .. 1 severe
            for t in range(y0, min(n_t, y0 + dur)):
                for i, p in enumerate(PRODUCTS):
                    a = AVAIL_MILD[p] + sev * (AVAIL_SEVERE[p] - AVAIL_MILD[p])
                    avail[t, i] = a / CHINA_MULTIPLE
                    frac = (1 - a) / (1 - AVAIL_SEVERE["DY"])
                    prices[t, i] *= 1 + (PREMIUM_MAX[p] - 1) * min(frac, 1.0)
            desc += f"; export controls {YEARS[y0]}-{YEARS[min(n_t, y0 + dur) - 1]}"
            src += ("; export-control overlay: flow ratio [S87][S91] / 2 (China's normal "
                    "supply is 2x demand, assumption), ex-China premium [S88][S1]")
        scen_rows.append((f"boot{k + 1:02d}", desc, src, prices, avail))

    def replay(first: int, last: int) -> np.ndarray:
        """Historical returns of years first..last (then none), as draws [t, p]."""
        r = np.zeros((n_t, len(PRODUCTS)))
        seg = returns[first - 2012:last - 2012 + 1]
        r[:len(seg)] = seg
        return r

    spike = replay(2012, 2013)
    spike = np.vstack([np.log([[2.0, 3.0, 3.0]]), spike[:-1]])
    ones = np.ones((n_t, len(PRODUCTS)))
    controls = ones.copy()
    controls[:2] = [AVAIL_SEVERE[p] / CHINA_MULTIPLE for p in PRODUCTS]
    ctrl_prices = path(np.zeros((n_t, len(PRODUCTS))))
    ctrl_prices[:2] *= [PREMIUM_MAX[p] for p in PRODUCTS]
    scen_rows += [
        ("stress-spike-2011", "2011-style spike (NdPr x2, Dy/Tb x3 in 2026) then the "
         "2012-13 crash", "derived: spike from Nd ~130 -> ~260 USD/kg in 2011 [S8] and Dy "
         "x26 in 31 months [S7], annualised; crash = 2012-13 returns [S5]",
         path(spike), ones),
        ("stress-slump-2015", "2015-16 slump replayed from 2026",
         "derived: 2015-2016 returns of Nd/Dy/Tb oxide [S4][S3]", path(replay(2015, 2016)),
         ones),
        ("stress-trough-2024", "2023-24 slide to the 2024 trough replayed from 2026",
         "derived: 2023-2024 returns [S1][S2]", path(replay(2023, 2024)), ones),
        ("stress-controls-2025", "2025-style export controls in 2026-27: Dy/Tb availability "
         "0.26, NdPr 0.855, ex-China Dy x3.3, Tb x3.6",
         "derived: flow ratio from magnet exports May 2025 -74 % and Jan-May -14.5 % [S87], "
         "divided by 2 (China's normal supply is 2x demand, assumption); "
         "premium Europe vs FOB China [S88][S1]", ctrl_prices, controls),
    ]
    n = len(scen_rows)
    prob = f"{1 / n:.15f}"
    for name, _desc, src, prices, avail in scen_rows:
        table.extend([name, y, p, round(float(prices[t, i]), 2), src]
                     for t, y in enumerate(YEARS) for i, p in enumerate(PRODUCTS))
        avail_rows.extend([name, y, p, round(float(avail[t, i]), 4), src]
                          for t, y in enumerate(YEARS) for i, p in enumerate(PRODUCTS)
                          if avail[t, i] < 1)
    write("scenarios.csv", ["scenario", "probability", "description", "source"],
          [[name, prob, desc, "assumption: equally likely; " + src]
           for name, desc, src, _, _ in scen_rows])
    write("prices.csv", ["scenario", "year", "product", "price_usd_per_kg", "source"], table)
    write("availability.csv", ["scenario", "year", "product", "china_availability", "source"],
          avail_rows)


if __name__ == "__main__":
    demand_and_supply()
    scenarios()
    print(f"wrote demand, supply and {N_BOOTSTRAP + 4} scenarios to {HERE}")
