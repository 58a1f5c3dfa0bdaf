"""The recommended mechanism: one typed object, built once after the solve, the core split
and the extra steps (VSS, foresight, SAA), serialised by one writer.

``collect`` asks each instrument block for its section (remech.model.<instrument>.report)
and the ledger for the costs: the same coefficients the objective is built from, so the
report and the objective cannot disagree. The CLI, the Python API (remech.run), compare,
game and the report all read this object; ``to_json()`` is mechanism.json and
``tables`` are the CSV files. A ``Mechanism`` is also a read-only mapping of its JSON
(``mech["floors_usd_per_kg"]``).
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech import __version__
from remech.design import Design
from remech.instance import Instance
from remech.legal import legal_risk
from remech.model import (
    burden_sharing,
    chain,
    offtake,
    price_floor,
    reserve,
    security,
    stockpile,
    supply,
    tariff,
)
from remech.model import first_stage as stage
from remech.model.data import ModelData, weighted_quantile
from remech.model.first_stage import FirstStage
from remech.model.ledger import (
    CATEGORIES,
    OUTLAY_CATEGORIES,
    VIEWS,
    scenario_costs,
    values,
)
from remech.solving import SolveResult

SCHEMA_VERSION = "1.0"
REPORT_CVAR_ALPHA = 0.95
SHADOW_PRICES_NOTE = ("duals of the LP with the integer decisions fixed at the optimum and "
                      "re-solved; conditional on that fix")
VIEW_TEXT = {
    "fiscal": "what the allies' treasuries pay (outlay), plus consumers' tariff premium, "
              "shortfall losses and target penalties",
    "economic": "allied welfare: treasury outlay x MCPF, shortfall losses and penalties, "
                "less the allied producers' gain (top-ups, premiums and grants are "
                "transfers inside the alliance; capex and running costs are real costs)",
}
#: a field whose JSON key differs from its name (the name ``contributions`` is the table)
_JSON_KEY = {"contributions_by_ally": "contributions"}
#: JSON keys written even when they are None (the others are left out when None)
_ALWAYS = ("schema_version", "status", "proved_optimal", "highs_status", "objective_musd",
           "dual_bound_musd", "mip_gap", "instance", "design", "solver", "software",
           "conflict")


@dataclass(eq=False)  # equality is Mapping's: equal JSON
class Mechanism(Mapping):
    """mechanism.json, field by field in file order, and the tables. Sections after
    ``conflict`` exist only when HiGHS returned a solution; ``vss``, ``foresight`` and
    ``saa`` only when asked for."""

    schema_version: str
    status: str
    proved_optimal: bool
    highs_status: str
    objective_musd: float | None
    dual_bound_musd: float | None
    mip_gap: float | None
    instance: dict
    design: dict
    solver: dict
    software: dict
    conflict: list[str]
    floors_usd_per_kg: dict[str, float | None] | None = None
    upside_share: dict[str, float] | None = None
    upside_cap_usd_per_kg: dict[str, float | None] | None = None
    supported_projects: list[str] | None = None
    supported_plants: list[str] | None = None
    projects: list[dict] | None = None
    plants: list[dict] | None = None
    stockpiles: list[dict] | None = None
    stockpile_policy: dict | None = None
    first_stage: FirstStage | None = None
    last_resort_reserve: list[dict] | None = None
    #: offtake contracts signed (remech.model.offtake); absent without the instrument
    offtakes: list[dict] | None = None
    #: the value chain's converters: possible and made output, inputs used
    #: (remech.model.chain); absent without conversions.csv
    value_chain: dict | None = None
    grants_musd: float | None = None
    burden_sharing: dict | None = None
    #: mechanism.json's "contributions" section ({ally: {...}}); ``contributions`` is its
    #: table (contributions.csv), as ``floors`` is floors.csv
    contributions_by_ally: dict[str, dict] | None = None
    tariff_reference_usd_per_kg: dict[str, float | None] | None = None
    costs: dict | None = None
    shortfall: dict[str, dict] | None = None
    shadow_prices: dict | None = None
    shadow_prices_note: str | None = None
    non_chinese_share: dict[str, float] | None = None
    legal_risk: dict | None = None
    sizes: dict[str, int] | None = None
    vss: dict | None = None
    foresight: dict | None = None
    saa: dict | None = None
    #: a decomposed solve (remech.decompose): method, ranks, bounds, certified gap
    decomposition: dict | None = None
    timings_s: dict[str, float] | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_solution(self) -> bool:
        return self.costs is not None

    def to_json(self) -> dict:
        """mechanism.json's content: JSON-safe (numpy scalars to Python, inf/nan to null)."""
        out = {}
        for f in fields(self):
            if f.name == "tables":
                continue
            value = getattr(self, f.name)
            if value is None and f.name not in _ALWAYS:
                continue
            key = _JSON_KEY.get(f.name, f.name)
            out[key] = value.to_json() if isinstance(value, FirstStage) else value
        return clean(out)

    def __getitem__(self, key: str):
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def write(self, outdir: str | Path, force: bool = False,
              extra_files: dict[str, Path] | None = None, formats=()) -> None:
        """mechanism.json and the tables into ``outdir`` (remech.outdir's safe swap; an
        existing folder only with ``force`` and only if remech wrote it); ``formats``
        ("xlsx", "parquet") add tables.xlsx or NAME.parquet next to the CSV files."""
        from remech.results import write_results

        write_results(Path(outdir), self.to_json(), self.tables, force, extra_files,
                      formats=formats)

    # -- the tables by name (the CSV files of remech solve -o) ---------------------------

    @property
    def table_names(self) -> list[str]:
        """The tables' names: ``projects``, ``scenario_costs``, ... (file name less .csv)."""
        return [name.removesuffix(".csv") for name in self.tables]

    def table(self, name: str) -> pd.DataFrame:
        """A table by name, ``"projects"`` or ``"projects.csv"``."""
        key = name if name.endswith(".csv") else f"{name}.csv"
        if key not in self.tables:
            raise KeyError(f"no table {name!r}; the tables are: {', '.join(self.table_names)}")
        return self.tables[key]

    @property
    def frames(self) -> Frames:
        """The tables as attributes: ``mech.frames.projects``, ``mech.frames.shortfall``."""
        return Frames(self.tables)

    @property
    def floors(self) -> pd.DataFrame:
        """floors.csv: the floor (or reference price) chosen per product, with collars."""
        return self.table("floors")

    @property
    def costs_by_scenario(self) -> pd.DataFrame:
        """scenario_costs.csv: each scenario's probability and cost by category (MUSD)."""
        return self.table("scenario_costs")

    @property
    def contributions(self) -> pd.DataFrame:
        """contributions.csv: each ally's share, contribution and net cost (MUSD); the JSON
        section is ``contributions_by_ally`` (``mech["contributions"]``)."""
        return self.table("contributions")

    #: the name of ``contributions`` before it became the table
    contributions_table = contributions


class Frames:
    """A mechanism's tables as attributes (tab completion in Jupyter)."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self._tables = tables

    def __getattr__(self, name: str) -> pd.DataFrame:
        try:
            return self._tables[f"{name}.csv"]
        except KeyError:
            names = ", ".join(n.removesuffix(".csv") for n in self._tables)
            raise AttributeError(f"no table {name!r}; the tables are: {names}") from None

    def __getitem__(self, name: str) -> pd.DataFrame:
        return getattr(self, name.removesuffix(".csv"))

    def __dir__(self) -> list[str]:
        return [n.removesuffix(".csv") for n in self._tables]


def cvar(values: np.ndarray, prob: np.ndarray, alpha: float) -> float:
    """CVaR_alpha of a discrete distribution: mean of the worst (1 - alpha) tail."""
    var_ = float(weighted_quantile(values, prob, alpha))
    return var_ + float(prob @ np.maximum(values - var_, 0.0)) / (1.0 - alpha)


def clean(x):
    """JSON-safe: numpy scalars to Python, inf/nan to None."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def as_json(doc: Mapping) -> dict:
    """A Mechanism's JSON, or any JSON-ready mapping made JSON-safe."""
    return doc.to_json() if isinstance(doc, Mechanism) else clean(dict(doc))


def software_versions() -> dict[str, str]:
    import pyomo

    from remech.solving import new_highs

    return {"remech": __version__, "python": platform.python_version(),
            "pyomo": pyomo.__version__, "highspy": new_highs().version(),
            "pandas": pd.__version__, "numpy": np.__version__}


def _head(inst: Instance, design: Design, res: SolveResult) -> Mechanism:
    return Mechanism(
        schema_version=SCHEMA_VERSION, status=res.status,
        proved_optimal=res.status == "optimal", highs_status=res.highs_status,
        objective_musd=res.objective_musd, dual_bound_musd=res.dual_bound_musd,
        mip_gap=res.mip_gap,
        instance={"name": inst.name, "path": str(inst.folder), "sha256": inst.sha256,
                  "overrides": dict(inst.overrides or {}),
                  "effective_sha256": inst.effective_sha256},
        design={"name": design.name, "path": str(design.path), "sha256": design.sha256,
                "overrides": dict(design.overrides),
                "effective_sha256": design.effective_sha256},
        solver={**res.options, "nodes": res.nodes, "simplex_iterations": res.simplex_iterations,
                "model_size": res.model_size,
                "timings_s": {k: round(v, 4) for k, v in res.timings_s.items()}},
        software=software_versions(), conflict=res.conflict)


def collect(m: pyo.ConcreteModel, data: ModelData, inst: Instance, design: Design,
            res: SolveResult) -> Mechanism:
    """The mechanism of a solved model: each block's section, the costs from the ledger."""
    mech = _head(inst, design, res)
    if not res.has_solution:
        return mech
    floor = price_floor.report(m, data, inst.projects)
    stock = stockpile.report(m, data, res.target_duals,
                             values(m.shortfall_t, data.price_usd_per_kg.shape))
    possible = offtake.apply_output(m, data, floor["output_t"])
    links = chain.report(m, data, getattr(m, "value_chain", None), possible)
    off = offtake.report(m, data)
    bal = supply.report(m, data, links.get("used_t"))
    refs = tariff.references(data, price_floor.chosen(m, data))
    consumer, revenue = tariff.report(data, refs, bal["shortfall_t"], bal["china_used_t"])
    scen = scenario_costs(m, data.scenarios, data.probability, bal["shortfall_t"],
                          data.products)
    payers = burden_sharing.report(m, data, scen["outlay_musd"].to_numpy(), consumer, revenue)
    reserve_df = reserve.report(m, data, floor["floors"])
    projects_df = floor["projects"]
    mech.floors_usd_per_kg, mech.upside_share = floor["floors"], floor["upside"]
    mech.upside_cap_usd_per_kg = floor["cap_up"]
    plants_df = floor["plants"]
    mech.supported_projects = projects_df.loc[projects_df["supported"], "project"].tolist()
    mech.supported_plants = plants_df.loc[plants_df["supported"], "plant"].tolist()
    mech.projects = projects_df.to_dict(orient="records")
    mech.plants = plants_df.to_dict(orient="records")
    mech.stockpiles = stock["stockpiles"].to_dict(orient="records")
    mech.stockpile_policy = stock["policy"]
    mech.first_stage = stage.read(m, data)
    mech.last_resort_reserve = reserve_df.to_dict(orient="records")
    mech.offtakes = off["rows"]
    mech.value_chain = links["section"]
    mech.grants_musd = floor["grants_musd"]
    mech.burden_sharing = {"rule": data.sharing_rule}
    mech.contributions_by_ally = payers["contributions"]
    mech.tariff_reference_usd_per_kg = refs
    mech.costs = _costs(scen, data)
    mech.shortfall = bal["shortfall"]
    mech.shadow_prices = security.report(res.target_duals, data)
    mech.shadow_prices_note = SHADOW_PRICES_NOTE
    mech.non_chinese_share = bal["non_chinese_share"]
    mech.legal_risk = legal_risk({
        "floors_usd_per_kg": mech.floors_usd_per_kg, "tariff_reference_usd_per_kg": refs,
        "grants_musd": mech.grants_musd, "stockpiles": mech.stockpiles,
        "last_resort_reserve": mech.last_resort_reserve, "offtakes": mech.offtakes},
        design.legal_excluded)
    mech.sizes = data.sizes
    mech.tables = {"floors.csv": price_floor.floors_table(data, floor, refs),
                   "projects.csv": projects_df, "plants.csv": plants_df, **stock["tables"],
                   "last_resort_reserve.csv": reserve_df, **payers["tables"],
                   "scenario_costs.csv": scen, **bal["tables"], **off["tables"],
                   **links["tables"]}
    return mech


def _costs(scen: pd.DataFrame, data: ModelData) -> dict:
    """The costs section, from the ledger's per-scenario table."""
    prob = data.probability
    total = scen["total_cost_musd"].to_numpy()
    outlay = scen["outlay_musd"].to_numpy()
    return {
        "expected_cost_musd": float(prob @ total),
        "expected_outlay_musd": float(prob @ outlay),
        "cvar_alpha": REPORT_CVAR_ALPHA,
        "cvar_cost_musd": cvar(total, prob, REPORT_CVAR_ALPHA),
        "cvar_outlay_musd": cvar(outlay, prob, REPORT_CVAR_ALPHA),
        "worst_scenario_cost_musd": float(total.max()),
        "by_category_musd": {str(c): float(prob @ scen[f"{c}_musd"].to_numpy())
                             for c in CATEGORIES},
        "risk_weight": data.cvar_weight, "risk_alpha": data.cvar_alpha,
        "discounted_to_year": data.years[0],
        "view": data.objective_view, "mcpf": data.mcpf,
        "views": {view: {"expected_cost_musd": float(prob @ scen[f"{view}_cost_musd"]),
                         "cvar_cost_musd": cvar(scen[f"{view}_cost_musd"].to_numpy(), prob,
                                                REPORT_CVAR_ALPHA),
                         "meaning": VIEW_TEXT[view]}
                  for view in VIEWS},
    }


__all__ = ["Mechanism", "collect", "cvar", "clean", "OUTLAY_CATEGORIES", "REPORT_CVAR_ALPHA"]
