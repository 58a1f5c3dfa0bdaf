"""Bankability of the instance's new plants: incentive prices and floors that finance them.

Data layer (numpy and pandas, nothing of Pyomo). The conventions are those of the
bankability test in ``remech/model/plants.py`` (docs/formulation.md, "Bankability"):

* capacity in year t: capacity_t x min(1, (t - start_year + 1) / ramp_years);
* a plant runs (at capacity) in a year only if the price it receives covers its unit cost;
* margin m_t = output_t x (received_t - unit_cost) x 1e-3 MUSD, discounted at the hurdle
  rate h to the first year: e_t = (1 + h)^-(t - t0);
* the last year's margin again for ``tail_years`` years after the horizon (annuity A_h(n));
* capex K at (1 + h)^-(max(start_year - 1, t0) - t0), for new plants only, counted once
  per plant (the sum of its lines' capex_musd).

A plant making several products (projects.csv ``plant``) is seen from each of its products
p in turn: one row per (new plant, product). Its lines of p receive the flat price or the
floor; its other lines sell at the scenarios' prices, and their expected NPV O (MUSD, at the
hurdle rate, tail in, no capex) counts towards the plant's. (Several lines of p in one plant
are taken as one line with their summed capacity and capacity-weighted unit cost.)

**Incentive price** P*: the flat real price of p at which the plant's NPV is zero,

    NPV(P) = (P - c) x 1e-3 x W + O - K (1 + h)^-(capex year),
    W = sum_t e_t q_t + e_T q_T A_h(n)

so P* = c + (K (1 + h)^-(capex year) - O) x 1e3 / W (infinite if the lines of p have no
output in the horizon; 0 if the other lines alone repay the capex). **Bankable at a floor
F**: the plant's expected NPV over the instance's scenarios, its lines of p receiving
max(F, price), is >= 0 (the model's ``expected`` test for the plant option with F for p and
no floor for its other products; F = 0 is the market alone). The **break-even floor** is the
lowest F at which that holds (0 if the plant is bankable at market prices); it is at most
P*, since a floor at P* earns at least P*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from remech.errors import InputError
from remech.instance import Instance

MUSD_PER_T_USD_PER_KG = 1e-3
FLOORS_EXAMPLE = "NDPR=54,75,85,110"
#: bisection tolerance of the break-even floor, USD/kg
FLOOR_TOLERANCE_USD_PER_KG = 0.005


@dataclass
class Terms:
    """The financing terms of the test: hurdle rate (a fraction) and tail years."""

    hurdle_rate: float
    tail_years: int


@dataclass
class ProjectCase:
    """One new plant seen from one of its products, as the bankability test sees it."""

    project: str  # the plant (a line without a plant is its own)
    product: str
    host: str
    start_year: int
    capacity_t: float  # nameplate of its lines of the product, t/yr
    unit_cost_usd_per_kg: float
    capex_musd: float  # the plant's, counted once
    output_t: np.ndarray  # [t] capacity by year (ramped)
    price_usd_per_kg: np.ndarray  # [s, t]
    lines: str = ""  # its lines of the product (space-separated)
    #: [s] NPV (MUSD, hurdle rate, tail in, no capex) of the plant's other lines at the
    #: scenarios' prices; None: none
    others_npv_musd: np.ndarray | None = None


def parse_floors(values: tuple[str, ...] | list[str], products: list[str]
                 ) -> dict[str, list[float]]:
    """``("NDPR=54,75,85,110", "DY=300,400")`` -> {"NDPR": [54, 75, 85, 110], ...}: known
    products, each given once, positive finite levels in USD/kg (sorted, duplicates
    dropped)."""
    out: dict[str, list[float]] = {}
    for text in values:
        name, sep, rest = text.partition("=")
        name = name.strip()
        if not sep or not name or not rest.strip():
            raise InputError(f"--floors {text}: not PRODUCT=LEVEL,LEVEL,...; write e.g. "
                             f"--floors {FLOORS_EXAMPLE}")
        if name not in products:
            raise InputError(f"--floors {text}: unknown product '{name}'; use one of "
                             f"{', '.join(products)}")
        if name in out:
            raise InputError(f"--floors {text}: {name} given twice; give each product once "
                             "with all its levels, e.g. --floors " + FLOORS_EXAMPLE)
        levels = []
        for part in rest.split(","):
            try:
                level = float(part)
            except ValueError:
                level = math.nan
            if not math.isfinite(level) or level <= 0:
                raise InputError(f"--floors {text}: level '{part.strip()}' is not a positive "
                                 f"number; give floor levels in USD/kg, e.g. --floors "
                                 f"{FLOORS_EXAMPLE}")
            levels.append(level)
        out[name] = sorted(set(levels))
    return out


def check_hurdle(hurdle: float) -> None:
    if not math.isfinite(hurdle) or not 0.0 <= hurdle <= 0.5:
        raise InputError(f"--hurdle {hurdle:g}: not a rate between 0 and 0.5; give a real "
                         "discount rate as a fraction, e.g. --hurdle 0.15")


def new_projects(inst: Instance, terms: Terms | None = None) -> list[ProjectCase]:
    """The instance's new plants, one case per (plant, product it makes), with the ramped
    capacity and price paths of its lines of that product; ``terms`` (needed for plants
    with several products) values its other lines."""
    years = np.asarray(inst.years)
    names = inst.scenarios["scenario"].tolist()
    prices = inst.prices.set_index(["scenario", "year", "product"])["price_usd_per_kg"]
    new = inst.projects[inst.projects["status"] == "new"]
    out = []
    for plant, lines in new.groupby("plant", sort=False):
        parts = {p: _line_case(lines[lines["product"] == p], prices, names, years)
                 for p in dict.fromkeys(lines["product"])}
        capex = float(lines["capex_musd"].sum())
        for p, case in parts.items():
            case.project, case.capex_musd = str(plant), capex
            others = [c for q, c in parts.items() if q != p]
            if others:
                case.others_npv_musd = sum(_market_npv_s(c, terms) for c in others)
            out.append(case)
    return out


def _line_case(rows: pd.DataFrame, prices: pd.Series, names: list[str],
               years: np.ndarray) -> ProjectCase:
    """The lines ``rows`` (one product of one plant) as one case: summed ramped capacity,
    capacity-weighted unit cost."""
    row = rows.iloc[0]
    cap = rows["capacity_t"].to_numpy(float)
    output = sum(float(r["capacity_t"]) * np.clip(
        (years - int(r["start_year"]) + 1) / int(r["ramp_years"]), 0.0, 1.0)
        for _, r in rows.iterrows())
    cost = float(cap @ rows["unit_cost_usd_per_kg"].to_numpy(float) / cap.sum()) \
        if cap.sum() > 0 else float(row["unit_cost_usd_per_kg"])
    idx = pd.MultiIndex.from_product([names, list(years), [row["product"]]])
    return ProjectCase(
        project=row["project"], product=row["product"], host=row["host"],
        start_year=int(row["start_year"]), capacity_t=float(cap.sum()),
        unit_cost_usd_per_kg=cost, capex_musd=float(rows["capex_musd"].sum()),
        output_t=output, price_usd_per_kg=prices.reindex(idx).to_numpy(float).reshape(
            len(names), len(years)), lines=" ".join(rows["project"]))


def _market_npv_s(case: ProjectCase, terms: Terms | None) -> np.ndarray:
    """[s] NPV of a case's lines at the scenarios' prices (no capex, no other lines)."""
    if terms is None:
        raise ValueError("new_projects needs the terms to value a plant's other lines")
    return _margin_npv_s(case, 0.0, terms)


def _discounting(n_years: int, terms: Terms) -> tuple[np.ndarray, float]:
    """e_t = (1 + h)^-t and the tail's annuity factor A_h(n)."""
    h = terms.hurdle_rate
    disc = (1.0 + h) ** -np.arange(n_years)
    tail = sum((1.0 + h) ** -k for k in range(1, terms.tail_years + 1))
    return disc, tail


def capex_pv_musd(case: ProjectCase, first_year: int, terms: Terms) -> float:
    """Capex discounted to the first year: spent the year before the start (or in the
    first year if that is earlier)."""
    year = max(case.start_year - 1, first_year) - first_year
    return case.capex_musd * (1.0 + terms.hurdle_rate) ** -year


def _others_musd(case: ProjectCase, probability: np.ndarray) -> float:
    """O: the expected NPV of the plant's other lines at the scenarios' prices."""
    return 0.0 if case.others_npv_musd is None else float(case.others_npv_musd @ probability)


def incentive_price(case: ProjectCase, first_year: int, terms: Terms,
                    probability: np.ndarray | None = None) -> float:
    """The flat price (USD/kg) of the case's product at which the plant's NPV at the
    hurdle rate is zero (its other lines at the scenarios' prices, weighted by
    ``probability``)."""
    disc, tail = _discounting(len(case.output_t), terms)
    weight = float(disc @ case.output_t + disc[-1] * case.output_t[-1] * tail)  # t
    if weight <= 0:
        return math.inf
    others = _others_musd(case, probability) if probability is not None else 0.0
    capex = capex_pv_musd(case, first_year, terms) - others
    if capex <= 0:
        return 0.0  # the other lines alone repay the capex
    return case.unit_cost_usd_per_kg + capex / (weight * MUSD_PER_T_USD_PER_KG)


def _margin_npv_s(case: ProjectCase, floor_usd_per_kg: float, terms: Terms) -> np.ndarray:
    """[s] NPV (MUSD) of the case's lines receiving max(floor, price), tail in, no capex."""
    disc, tail = _discounting(len(case.output_t), terms)
    received = np.maximum(floor_usd_per_kg, case.price_usd_per_kg)  # [s, t]
    runs = received >= case.unit_cost_usd_per_kg
    margin = case.output_t[None] * runs * (received - case.unit_cost_usd_per_kg) \
        * MUSD_PER_T_USD_PER_KG
    return margin @ disc + margin[:, -1] * disc[-1] * tail


def expected_npv_musd(case: ProjectCase, floor_usd_per_kg: float, probability: np.ndarray,
                      first_year: int, terms: Terms) -> float:
    """The plant's expected NPV (MUSD) when its lines of the case's product receive
    max(floor, price) and its other lines the price; floor 0: market."""
    return float(_margin_npv_s(case, floor_usd_per_kg, terms) @ probability) \
        + _others_musd(case, probability) - capex_pv_musd(case, first_year, terms)


def breakeven_floor(case: ProjectCase, probability: np.ndarray, first_year: int,
                    terms: Terms) -> float:
    """The lowest floor (USD/kg) at which the expected NPV is >= 0; 0 if the market alone
    finances the project, inf if no floor does."""
    if expected_npv_musd(case, 0.0, probability, first_year, terms) >= 0:
        return 0.0
    high = incentive_price(case, first_year, terms, probability)
    if not math.isfinite(high):
        return math.inf
    low = 0.0  # expected NPV is continuous and non-decreasing in the floor
    while high - low > FLOOR_TOLERANCE_USD_PER_KG:
        mid = 0.5 * (low + high)
        if expected_npv_musd(case, mid, probability, first_year, terms) >= 0:
            high = mid
        else:
            low = mid
    return high


def table(inst: Instance, floors: dict[str, list[float]], terms: Terms) -> pd.DataFrame:
    """One row per new plant and product it makes: incentive price, break-even floor,
    expected NPV and bankability at market prices and at each floor of the product (the
    plant's other lines at market prices)."""
    prob = inst.scenarios["probability"].to_numpy(float)
    prob = prob / prob.sum()
    first = inst.years[0]
    rows = []
    for case in new_projects(inst, terms):
        market = expected_npv_musd(case, 0.0, prob, first, terms)
        row = {"project": case.project, "lines": case.lines, "product": case.product,
               "host": case.host, "start_year": case.start_year,
               "capacity_t": case.capacity_t,
               "unit_cost_usd_per_kg": case.unit_cost_usd_per_kg,
               "capex_musd": case.capex_musd,
               "others_npv_musd": _others_musd(case, prob),
               "incentive_usd_per_kg": incentive_price(case, first, terms, prob),
               "breakeven_floor_usd_per_kg": breakeven_floor(case, prob, first, terms),
               "npv_market_musd": market, "bankable_market": market >= 0}
        for level in floors.get(case.product, []):
            npv = expected_npv_musd(case, level, prob, first, terms)
            row[f"npv_at_{level:g}_musd"] = npv
            row[f"bankable_at_{level:g}"] = npv >= 0
        rows.append(row)
    return pd.DataFrame(rows)


def bands(rows: pd.DataFrame, floors: dict[str, list[float]]) -> pd.DataFrame:
    """Per product, the share of the new projects' capacity (t/yr) whose incentive price
    lies at or below the first floor, between consecutive floors, and above the last:
    the shape of an incentive-price curve (Benchmark's '~40 % of the pipeline needs
    75-85 USD/kg')."""
    out: list[dict] = []
    if not len(rows):
        return pd.DataFrame(out)
    for product, group in rows.groupby("product", sort=False):
        edges = [0.0] + floors.get(product, []) + [math.inf]
        total = float(group["capacity_t"].sum())
        for low, high in zip(edges[:-1], edges[1:], strict=True):
            # the first band takes 0: a plant whose other lines repay its capex
            inside = ((group["incentive_usd_per_kg"] > low) | (low == 0.0)) & \
                (group["incentive_usd_per_kg"] <= high)
            out.append({"product": product, "above_usd_per_kg": low,
                        "up_to_usd_per_kg": high, "projects": int(inside.sum()),
                        "capacity_t": float(group.loc[inside, "capacity_t"].sum()),
                        "capacity_share": float(group.loc[inside, "capacity_t"].sum())
                        / total if total else 0.0})
    return pd.DataFrame(out)


def _price(value: float) -> str:
    return "never" if not math.isfinite(value) else f"{value:,.1f}"


def _product_table(rows: pd.DataFrame, levels: list[float]) -> str:
    out = pd.DataFrame({
        "plant": rows["project"], "host": rows["host"], "start": rows["start_year"],
        "cap t/yr": rows["capacity_t"].map("{:,.0f}".format),
        "cost USD/kg": rows["unit_cost_usd_per_kg"].map("{:,.1f}".format),
        "capex MUSD": rows["capex_musd"].map("{:,.1f}".format)})
    if (rows["others_npv_musd"] != 0).any():
        out["other lines MUSD"] = rows["others_npv_musd"].map("{:,.1f}".format)
    out["incentive USD/kg"] = rows["incentive_usd_per_kg"].map(_price)
    out["floor needed"] = rows["breakeven_floor_usd_per_kg"].map(
        lambda v: "market" if v == 0 else _price(v))
    out["market"] = rows["bankable_market"].map({True: "yes", False: "no"})
    for level in levels:
        out[f"at {level:g}"] = rows[f"bankable_at_{level:g}"].map({True: "yes", False: "no"})
    return out.to_string(index=False)


def _band_line(product: str, rows: pd.DataFrame, band: pd.DataFrame,
               floors: dict[str, list[float]]) -> str:
    if not floors.get(product):
        prices = rows.loc[rows["product"] == product, "incentive_usd_per_kg"]
        return (f"{product} incentive prices {_price(prices.min())}-{_price(prices.max())} "
                "USD/kg (no floors given)")
    parts = []
    for _, b in band[band["product"] == product].iterrows():
        span = (f"<= {b['up_to_usd_per_kg']:g}" if b["above_usd_per_kg"] == 0 else
                f"> {b['above_usd_per_kg']:g}" if not math.isfinite(b["up_to_usd_per_kg"])
                else f"{b['above_usd_per_kg']:g}-{b['up_to_usd_per_kg']:g}")
        parts.append(f"{span}: {b['capacity_share']:.0%} ({b['projects']})")
    return f"{product} incentive price, share of new capacity (projects): " + ", ".join(parts)


def render(rows: pd.DataFrame, band: pd.DataFrame, floors: dict[str, list[float]],
           terms: Terms) -> str:
    """The table as text: per product, one line per project and the incentive-price
    bands."""
    if not len(rows):
        return "no new projects in this instance"
    lines = [f"expected NPV at hurdle {terms.hurdle_rate:.1%} (tail {terms.tail_years} years "
             "at the last year's margin) over the instance's scenarios; yes = bankable; a "
             "plant's capex counts once, its other products' lines at the scenarios' prices "
             "(other lines MUSD)"]
    for product, group in rows.groupby("product", sort=False):
        lines += ["", f"{product}:", _product_table(group, floors.get(product, [])),
                  _band_line(product, rows, band, floors)]
    return "\n".join(lines)


def as_json(inst: Instance, design_name: str, rows: pd.DataFrame, band: pd.DataFrame,
            floors: dict[str, list[float]], terms: Terms) -> dict:
    """The same as a JSON-ready dict (infinite prices as null)."""
    def clean(records: list[dict]) -> list[dict]:
        return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                     v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in records]

    return {"instance": inst.name, "design": design_name, "test": "expected",
            "hurdle_rate": terms.hurdle_rate, "tail_years": terms.tail_years,
            "floors_usd_per_kg": floors, "projects": clean(rows.to_dict("records")),
            "bands": clean(band.to_dict("records"))}
