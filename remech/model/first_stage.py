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

#: first-stage variables by block (the contributions follow from the outlay)
FIRST_STAGE_VARS = {
    "price_floor": ("floor_choice", "support"),
    "stockpile": ("stock_build", "stock_capacity_t", "stock_target_t"),
    "reserve": ("reserve_share",),
    "offtake": ("offtake",),
}


@dataclass
class FirstStage:
    """What a mechanism decides before any scenario unfolds."""

    #: product -> the floor-menu entry chosen
    floor_level: dict[str, MenuEntry] = field(default_factory=dict)
    #: (project, menu entry) -> grant MUSD, for every supported option
    support: dict[tuple[str, MenuEntry], float] = field(default_factory=dict)
    #: projects built (or existing) without support
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
    def supported_projects(self) -> set[str]:
        return {project for project, _ in self.support}

    def to_json(self) -> dict:
        """mechanism.json's ``first_stage`` block (lists and plain keys, sorted)."""
        def order(item):
            (project, entry), _ = item
            return (project,) + entry.key

        return {
            "floor_level": {p: e.to_json() for p, e in sorted(self.floor_level.items())},
            "support": [{"project": project, **entry.to_json(), "grant_musd": grant}
                        for (project, entry), grant in sorted(self.support.items(), key=order)],
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
            support={(e["project"], MenuEntry.from_json(e)): float(e.get("grant_musd", 0.0))
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
