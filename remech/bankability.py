"""Bankability of the instance's new plants: incentive prices and floors that finance them.

Preparation layer (numpy and pandas; builds no Pyomo component). The economics are the
model's own: every number comes from ``remech/model/plants.py`` (docs/formulation.md,
"Bankability"), on the context ``remech.prepare.context`` builds for the design, so a
plant's lines, cost tiers (cost_tiers.csv), capacity ramp, capex (counted once per plant,
the year before its start), tail years and the design's ``contract_years`` are those of the
plant options the model is offered. Each plant is taken at its earliest start
(projects.csv start_year).

A plant making several products (projects.csv ``plant``) is seen from each of its products
p in turn: one row per (new plant, product). Its lines of p receive the flat price or the
floor; its other lines sell at the scenarios' prices, and their expected NPV O (MUSD, at the
hurdle rate, tail in, no capex) counts towards the plant's.

**Incentive price** P*: the flat real price of p (in every year and the tail; a market
price, no contract) at which the plant's expected NPV is zero:

    NPV(P) = sum_{lines j of p} V_j(P) + O - K (1 + h)^-(capex year)

V_j(P) is line j's value (plants.line_economics, at market prices) when the price of p is
P: piecewise linear and non-decreasing in P, with kinks at its cost tiers' cash costs, so
P* is found exactly between two kinks (0 if the other lines alone repay the capex, infinite
if the lines of p have no output in the horizon). **Bankable at a floor F**: the plant's
expected NPV over the instance's scenarios under the plant option with the floor F for p
(no collar, the design's contract terms) and no floor for its other products is >= 0: the
model's plant-option NPV (``expected`` test) for that combination; F = 0 is the market
alone. The **break-even floor** is the lowest F at which that holds (0 if the plant is
bankable at market prices; found by bisection), and the grant the model offers a plant
option is max(0, -NPV) of the same number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from remech.design import Design
from remech.errors import InputError
from remech.instance import Instance
from remech.model import plants as pl
from remech.model.data import Context, MenuEntry

FLOORS_EXAMPLE = "NDPR=54,75,85,110"
#: bisection tolerance of the break-even floor, USD/kg
FLOOR_TOLERANCE_USD_PER_KG = 0.005
#: "no floor": what a plant's other products receive (the market price)
MARKET = MenuEntry(0.0, 0.0, 0.0, False, index=0)


@dataclass
class Terms:
    """The financing terms of the test: hurdle rate (a fraction), tail years and the floor
    contract's length (None: the whole horizon, the tail under the floor)."""

    hurdle_rate: float
    tail_years: int
    contract_years: int | None = None

    @classmethod
    def of(cls, design: Design, hurdle: float | None = None) -> Terms:
        return cls(design.hurdle_rate if hurdle is None else hurdle, design.tail_years,
                   design.contract_years)


@dataclass
class PlantCase:
    """One new plant seen from one of its products, at its earliest start."""

    ctx: Context
    plant: pl.Plant
    product: int  # index of the product in ctx.products

    @property
    def start(self) -> int:
        return self.plant.starts[0]

    @property
    def own(self) -> list[int]:
        """The plant's lines of the product."""
        return [j for j in self.plant.lines if self.ctx.project_product[j] == self.product]

    @property
    def others(self) -> list[int]:
        return [j for j in self.plant.lines if self.ctx.project_product[j] != self.product]

    def capex_pv(self) -> float:
        return self.plant.capex_pv(self.ctx, self.start, self.ctx.design.hurdle_rate)

    def others_npv_s(self) -> np.ndarray:
        """[s] NPV of the plant's other lines at the scenarios' prices (no capex)."""
        return sum((self.plant.economics[j, self.start].market_value_s for j in self.others),
                   np.zeros(len(self.ctx.scenarios)))

    def npv_s(self, floor_usd_per_kg: float) -> np.ndarray:
        """[s] the plant's NPV (MUSD, hurdle rate, tail in, capex once) with a floor on
        its lines of the product (0: the market) and its other lines at the market: the
        model's plant-option NPV for that combination of entries."""
        entry = MARKET if floor_usd_per_kg <= 0 else MenuEntry(
            float(floor_usd_per_kg), 0.0, float(floor_usd_per_kg), False, index=0)
        own = sum(pl.line_economics(self.ctx, j, [entry], self.start).value_s[0]
                  for j in self.own)
        return own + self.others_npv_s() - self.capex_pv()

    def expected_npv_musd(self, floor_usd_per_kg: float = 0.0) -> float:
        return float(self.npv_s(floor_usd_per_kg) @ self.ctx.probability)

    def flat_npv_musd(self, price_usd_per_kg: float) -> float:
        """The plant's expected NPV when the product sells at a flat price (every year,
        every scenario, the tail), its other lines at the scenarios' prices."""
        prices = self.ctx.price_usd_per_kg.copy()
        prices[:, :, self.product] = price_usd_per_kg
        flat = replace(self.ctx, price_usd_per_kg=prices)
        own = sum(float(pl.line_economics(flat, j, [MARKET], self.start).market_value_s[0])
                  for j in self.own)
        return own + float(self.others_npv_s() @ self.ctx.probability) - self.capex_pv()


def cases(ctx: Context) -> list[PlantCase]:
    """The new plants of the context, one case per (plant, product it makes)."""
    found = pl.plants(ctx, [[MARKET] for _ in ctx.products])
    return [PlantCase(ctx, plant, p) for plant in found if not plant.existing
            for p in plant.products]


def incentive_price(case: PlantCase) -> float:
    """P* (USD/kg): the flat price of the case's product at which the plant's expected NPV
    is zero. NPV(P) is linear between the cash costs of the lines' cost tiers, so P* is
    interpolated exactly between the two kinks around it."""
    if case.flat_npv_musd(0.0) >= 0:
        return 0.0  # the other lines alone repay the capex
    kinks = sorted({0.0} | {float(c) for j in case.own
                            for c, w in zip(case.ctx.tier_cost_usd_per_kg[j],
                                            case.ctx.tier_share[j], strict=True) if w > 0})
    values = [case.flat_npv_musd(k) for k in kinks]
    for low, high, v_low, v_high in zip(kinks[:-1], kinks[1:], values[:-1], values[1:],
                                        strict=True):
        if v_high >= 0:
            return low + (high - low) * -v_low / (v_high - v_low)
    slope = case.flat_npv_musd(kinks[-1] + 1.0) - values[-1]  # MUSD per USD/kg
    if slope <= 0:
        return math.inf  # no output of the product in the horizon
    return kinks[-1] - values[-1] / slope


def breakeven_floor(case: PlantCase) -> float:
    """The lowest floor (USD/kg) at which the expected NPV is >= 0; 0 if the market alone
    finances the plant, inf if no floor does (e.g. a contract too short to repay it)."""
    if case.expected_npv_musd(0.0) >= 0:
        return 0.0
    high = max(incentive_price(case), 1.0)
    if not math.isfinite(high):
        return math.inf
    for _ in range(60):  # the NPV is non-decreasing in the floor
        if case.expected_npv_musd(high) >= 0:
            break
        if case.expected_npv_musd(2 * high) <= case.expected_npv_musd(high):
            return math.inf
        high *= 2
    else:
        return math.inf
    low = 0.0
    while high - low > FLOOR_TOLERANCE_USD_PER_KG:
        mid = 0.5 * (low + high)
        if case.expected_npv_musd(mid) >= 0:
            high = mid
        else:
            low = mid
    return high


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


def context_for(inst: Instance, design: Design, hurdle: float | None = None) -> Context:
    """The model's context for ``design`` (its hurdle rate replaced by ``hurdle``)."""
    from remech.prepare import context

    return context(inst, design if hurdle is None else replace(design, hurdle_rate=hurdle))


def table(inst: Instance, design: Design, floors: dict[str, list[float]],
          hurdle: float | None = None) -> pd.DataFrame:
    """One row per new plant and product it makes: incentive price, break-even floor,
    expected NPV and bankability at market prices and at each floor of the product (the
    plant's other lines at market prices), with the design's terms (``hurdle`` replacing
    its hurdle rate)."""
    ctx = context_for(inst, design, hurdle)
    pj, rows = ctx.projects, []
    for case in cases(ctx):
        own = pj.iloc[case.own]
        cap = own["capacity_t"].to_numpy(float)
        cost = own["unit_cost_usd_per_kg"].to_numpy(float)
        market = case.expected_npv_musd(0.0)
        row = {"project": case.plant.name, "lines": " ".join(own["project"]),
               "product": ctx.products[case.product], "host": own.iloc[0]["host"],
               "start_year": case.start, "capacity_t": float(cap.sum()),
               "unit_cost_usd_per_kg": float(cap @ cost / cap.sum()) if cap.sum() > 0
               else float(cost[0]),
               "capex_musd": case.plant.capex_musd,
               "others_npv_musd": float(case.others_npv_s() @ ctx.probability),
               "incentive_usd_per_kg": incentive_price(case),
               "breakeven_floor_usd_per_kg": breakeven_floor(case),
               "npv_market_musd": market, "bankable_market": market >= 0}
        for level in floors.get(ctx.products[case.product], []):
            npv = case.expected_npv_musd(level)
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
    contract = "" if terms.contract_years is None else \
        f"; floors contracted for {terms.contract_years} years"
    lines = [f"expected NPV at hurdle {terms.hurdle_rate:.1%} (tail {terms.tail_years} years "
             "at the last year's margin) over the instance's scenarios, with the model's "
             "plant economics; yes = bankable; a plant's capex counts once, its other "
             f"products' lines at the scenarios' prices (other lines MUSD){contract}"]
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
            "contract_years": terms.contract_years,
            "floors_usd_per_kg": floors, "projects": clean(rows.to_dict("records")),
            "bands": clean(band.to_dict("records"))}
