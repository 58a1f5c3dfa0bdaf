"""China's response as a stress test: flooding that grows with the capacity a mechanism
brings online (issue 9, item 10).

For each product p, let x_p be the new allied capacity the mechanism brings online (the
lines of the supported plants that would not be built without it, at full capacity, from
the start year chosen for them) as a share of allied demand in the year the first of them
produces, t0_p. From t0_p, China's price suppression lowers the product's price in every scenario by

    depth_p = min(max_depth, depth_per_share x x_p)
    for years_p = min(horizon left, max(1, ceil(years_per_share x x_p))) years.

The defaults are assumptions, not estimates: depth_per_share = 1 (capacity of 10 % of
allied demand, 10 % lower prices), max_depth = 0.35 and years_per_share = 10 (20 % of
demand, two years), the depth and length of the scenario generator's strategic-flooding
overlay (remech.scenarios, itself an assumption). The sources hold no estimate of how
China's pricing responds to allied capacity; `remech simulate --china-response` takes
other values. The mechanism's first stage is fixed, so the stress shows what its floors,
stockpiles and budgets cost when China answers it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from remech.errors import InputError
from remech.instance import Instance
from remech.model.first_stage import FirstStage

SOURCE = ("assumption: flooding response to the mechanism's new capacity (remech simulate "
          "--china-response)")


@dataclass(frozen=True)
class FloodingResponse:
    depth_per_share: float = 1.0  # price cut per unit of new capacity / demand
    max_depth: float = 0.35  # largest price cut (share)
    years_per_share: float = 10.0  # years of flooding per unit of new capacity / demand


KEYS = {"depth": "depth_per_share", "max": "max_depth", "years": "years_per_share"}


def parse_response(text: str) -> FloodingResponse:
    """'default' or 'depth=1,max=0.35,years=10' (any subset) -> FloodingResponse."""
    out = FloodingResponse()
    if text.strip() in ("", "default"):
        return out
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        try:
            number = float(value) if sep else math.nan
        except ValueError:
            number = math.nan
        if key not in KEYS or not math.isfinite(number) or number < 0:
            raise InputError(f"--china-response {text}: '{part}' is not one of "
                             "depth=N, max=SHARE, years=N with a finite number >= 0; write "
                             "e.g. --china-response depth=1,max=0.35,years=10")
        if key == "max" and number >= 1:
            raise InputError(f"--china-response {text}: max={value} must be below 1 (a share "
                             "of the price); write e.g. max=0.35")
        out = replace(out, **{KEYS[key]: number})
    return out


def response_plan(inst: Instance, decisions: FirstStage, response: FloodingResponse
                  ) -> dict[str, dict]:
    """Per product with new capacity brought online by the mechanism: the capacity share
    x, the first year, the depth and the number of years of flooding."""
    years = inst.years
    demand = inst.demand.groupby(["year", "product"])["demand_t"].sum()
    start_of = {c.plant: c.start_year for c in decisions.support
                if c.plant not in decisions.built_outside}  # the plant's chosen start
    pj = inst.projects[inst.projects["plant"].isin(start_of)].set_index("project")
    pj = pj.assign(start_year=pj["plant"].map(start_of))
    plan: dict[str, dict] = {}
    for product, group in pj.groupby("product") if len(pj) else []:
        start = int(max(group["start_year"].min(), years[0]))
        if start > years[-1]:
            continue
        share = float(group["capacity_t"].sum()) / max(float(demand.get((start, product),
                                                                         0.0)), 1e-9)
        depth = min(response.max_depth, response.depth_per_share * share)
        n_years = min(years[-1] - start + 1,
                      max(1, math.ceil(response.years_per_share * share)))
        plan[str(product)] = {"projects": sorted(group.index), "first_year": start,
                              "new_capacity_share_of_demand": share, "depth": depth,
                              "years": int(n_years)}
    return plan


def flooded_prices(prices: pd.DataFrame, plan: dict[str, dict]) -> pd.DataFrame:
    """``prices`` (scenario, year, product, price_usd_per_kg) with the plan's flooding."""
    out = prices.copy()
    for product, step in plan.items():
        hit = (out["product"] == product) & out["year"].between(
            step["first_year"], step["first_year"] + step["years"] - 1)
        out.loc[hit, "price_usd_per_kg"] = out.loc[hit, "price_usd_per_kg"] * (1 - step["depth"])
        if "source" in out:
            out.loc[hit, "source"] = SOURCE
    return out


def apply_response(sample, inst: Instance, decisions: FirstStage,
                   response: FloodingResponse) -> tuple[object, dict]:
    """The sample (remech.simulating.ScenarioSample) with China's response, and the plan
    (mechanism.json-ready). The instance's own scenarios keep their names and weights."""
    plan = response_plan(inst, decisions, response)
    flooded = replace(sample, prices=flooded_prices(sample.prices, plan),
                      source="instance-flooded" if sample.source == "instance"
                      else sample.source)
    return flooded, {"parameters": {k: getattr(response, v) for k, v in KEYS.items()},
                     "by_product": plan, "source": SOURCE}
