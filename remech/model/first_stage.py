"""The first-stage decisions of a mechanism, typed, read from and fixed on a model.

The instrument modules that have first-stage variables provide ``read_first_stage`` and
``fix_first_stage``; ``build_model`` records on the model which blocks it built
(``m.blocks``), so reading and fixing go through exactly those. ``first_stage_vars(m)``
lists the first-stage variables (what a decomposition declares non-anticipative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyomo.environ as pyo

from remech.model.data import MenuEntry, ModelData

#: first-stage variables by block (the contributions follow from the outlay). line_support
#: follows from the plant options (c_line_support, a first-stage row); it is declared too so
#: that a decomposition's recourse depends on the line rows only: L-shaped's cuts are then in
#: the line rows (123 on the shipped default) rather than the plant options (1,006), and the
#: 8-scenario test closes to 0.11 % in 34 iterations instead of 71 % after 38
FIRST_STAGE_VARS = {
    "price_floor": ("floor_choice", "support", "option", "line_support"),
    "stockpile": ("stock_build", "stock_capacity_t", "stock_target_t"),
    "reserve": ("reserve_share",),
    "offtake": ("offtake",),
}


@dataclass(frozen=True)
class PlantChoice:
    """A chosen plant option: the plant, the menu entry for each product it makes (sorted
    by product) and its start year."""

    plant: str
    entries: tuple[tuple[str, MenuEntry], ...]
    start_year: int

    @classmethod
    def of(cls, data: ModelData, q: int) -> PlantChoice:
        """Plant option q of ``data``."""
        popt = data.plant_options
        return cls(data.plants[int(popt.plant[q])],
                   tuple(sorted((data.products[p], e) for p, e in popt.entries[q].items())),
                   int(popt.start_year[q]))

    def to_json(self) -> dict:
        return {"plant": self.plant, "start_year": self.start_year,
                "entries": {p: e.to_json() for p, e in self.entries}}

    @classmethod
    def from_json(cls, doc: dict) -> PlantChoice:
        return cls(str(doc["plant"]),
                   tuple(sorted((str(p), MenuEntry.from_json(e))
                                for p, e in doc["entries"].items())),
                   int(doc["start_year"]))


@dataclass
class FirstStage:
    """What a mechanism decides before any scenario unfolds."""

    #: product -> the floor-menu entry chosen
    floor_level: dict[str, MenuEntry] = field(default_factory=dict)
    #: chosen plant option -> grant MUSD, for every supported plant
    support: dict[PlantChoice, float] = field(default_factory=dict)
    #: plants built (or existing) without support
    built_outside: set[str] = field(default_factory=set)
    #: product -> (built 0/1, capacity t)
    stock: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: (product, year) -> target level t (stockpile policy "rule")
    stock_target: dict[tuple[str, int], float] = field(default_factory=dict)
    #: (product, year) -> share of the output offered below the floor that the reserve buys
    reserve_share: dict[tuple[str, int], float] = field(default_factory=dict)
    #: (project, contract price USD/kg) of every offtake signed (remech.model.offtake)
    offtake: set[tuple[str, float]] = field(default_factory=set)

    @property
    def supported_plants(self) -> set[str]:
        return {choice.plant for choice in self.support}

    def to_json(self) -> dict:
        """mechanism.json's ``first_stage`` block (lists and plain keys, sorted)."""
        def order(item):
            choice, _ = item
            return (choice.plant, choice.start_year) + tuple(
                (p,) + e.key for p, e in choice.entries)

        return {
            "floor_level": {p: e.to_json() for p, e in sorted(self.floor_level.items())},
            "support": [{**choice.to_json(), "grant_musd": grant}
                        for choice, grant in sorted(self.support.items(), key=order)],
            "built_outside": sorted(self.built_outside),
            "stock": {p: {"build": int(b), "capacity_t": c}
                      for p, (b, c) in sorted(self.stock.items())},
            "stock_target_t": [{"product": p, "year": y, "target_t": v}
                               for (p, y), v in sorted(self.stock_target.items())],
            "reserve_share": [{"product": p, "year": y, "share": v}
                              for (p, y), v in sorted(self.reserve_share.items())],
            **({"offtake": [{"project": j, "price_usd_per_kg": f}
                            for j, f in sorted(self.offtake)]} if self.offtake else {}),
        }

    @classmethod
    def from_json(cls, doc: dict) -> FirstStage:
        """Inverse of to_json."""
        return cls(
            floor_level={p: MenuEntry.from_json(e) for p, e in doc["floor_level"].items()},
            support={PlantChoice.from_json(e): float(e.get("grant_musd", 0.0))
                     for e in doc["support"]},
            built_outside=set(doc.get("built_outside", [])),
            stock={p: (int(v["build"]), float(v["capacity_t"]))
                   for p, v in doc["stock"].items()},
            stock_target={(r["product"], int(r["year"])): float(r["target_t"])
                          for r in doc["stock_target_t"]},
            reserve_share={(r["product"], int(r["year"])): float(r["share"])
                           for r in doc["reserve_share"]},
            offtake={(r["project"], float(r["price_usd_per_kg"]))
                     for r in doc.get("offtake", [])})


def _modules(m: pyo.ConcreteModel) -> list:
    from remech.model import offtake, price_floor, reserve, stockpile

    known = {"price_floor": price_floor, "stockpile": stockpile, "reserve": reserve,
             "offtake": offtake}
    return [known[b] for b in m.blocks if b in known]


def read(m: pyo.ConcreteModel, data: ModelData) -> FirstStage:
    """The first-stage decisions of a solved model."""
    fs = FirstStage()
    for module in _modules(m):
        module.read_first_stage(m, data, fs)
    return fs


def fix(m: pyo.ConcreteModel, data: ModelData, fs: FirstStage) -> None:
    """Fix the model's first stage to ``fs`` (the floor-used rows, which only choose among
    equally costly floors, are dropped)."""
    for module in _modules(m):
        module.fix_first_stage(m, data, fs)


def first_stage_vars(m: pyo.ConcreteModel) -> list[pyo.Var]:
    """The model's first-stage variables, block by block."""
    return [getattr(m, name) for b in m.blocks for name in FIRST_STAGE_VARS.get(b, ())
            if hasattr(m, name)]
