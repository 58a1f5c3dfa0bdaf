"""remech sweep: one design solved over a grid of overrides, in parallel processes.

Each axis is a key (remech.overrides) with several values: ``--set KEY=V1,V2,...`` (values
separated by the commas outside brackets: ``[50],[80]`` are two one-level menus) or
``--vary KEY=START:STOP:STEP`` (numbers, both ends included; on a floor or tariff menu,
``price_floor.levels_usd_per_kg.NDPR`` or ``tariff.reference_usd_per_kg.NDPR``, each
value v is the one-level menu [v]: "no floor or a floor at v"). A ``--set`` with one value
applies to every point. The grid is every combination of the axes' values; every point
is checked (schema, instance checks) before any solve, and the points run through
remech.executor like the designs of remech compare. Results: one row per point (the same
summary as compare, with the point's overrides), sweep.csv, sweep.json and the
compare-style report with charts against the swept value.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from remech.errors import InputError
from remech.overrides import (
    Override,
    Overrides,
    as_dict,
    check_key,
    parse_value,
    split_values,
    value_text,
)

#: keys whose value is a menu (a list): --vary gives them one-level menus
MENU_KEYS = ("price_floor.levels_usd_per_kg.", "tariff.reference_usd_per_kg.")
#: the most points one sweep solves
MAX_POINTS = 2000


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, in order."""

    key: str
    values: tuple

    @property
    def overrides(self) -> list[Override]:
        return [Override(self.key, v, f"{self.key}={value_text(v)}") for v in self.values]


def parse_axis(text: str, option: str = "--set") -> Axis:
    """``KEY=V1,V2,...`` (one value is an axis of one point: a fixed override)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"{option} {text}: not KEY=VALUE[,VALUE...]; write e.g. --set "
                         "price_floor.levels_usd_per_kg.NDPR=[50],[80],[110]")
    key = key.strip()
    check_key(key, f"{option} {text}")
    parts = split_values(raw)
    if any(p == "" for p in parts) and len(parts) > 1:
        raise InputError(f"{option} {text}: an empty value between commas; give each value "
                         "once, e.g. 0.1,0.2")
    values = tuple(parse_value(p, f"{option} {text}") for p in parts)
    return Axis(key, values)


def parse_range(text: str, option: str = "--vary") -> Axis:
    """``KEY=START:STOP:STEP``: START, START + STEP, ... up to STOP (included)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    fix = "write e.g. --vary price_floor.levels_usd_per_kg.NDPR=50:110:10"
    if not sep or not key:
        raise InputError(f"{option} {text}: not KEY=START:STOP:STEP; {fix}")
    check_key(key, f"{option} {text}")
    try:
        start, stop, step = (float(x) for x in raw.split(":"))
    except ValueError:
        raise InputError(f"{option} {text}: '{raw}' is not START:STOP:STEP (three numbers); "
                         f"{fix}") from None
    if not all(math.isfinite(x) for x in (start, stop, step)) or step <= 0 or stop < start:
        raise InputError(f"{option} {text}: needs finite numbers, STEP > 0 and STOP >= "
                         f"START; {fix}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_POINTS:
        raise InputError(f"{option} {text}: {count} values, more than {MAX_POINTS}; take a "
                         "larger STEP")
    nums = [round(start + k * step, 10) for k in range(count)]
    nums = [int(v) if float(v).is_integer() else v for v in nums]
    menu = key.startswith(MENU_KEYS)
    return Axis(key, tuple([v] if menu else v for v in nums))


def grid(axes: list[Axis]) -> list[Overrides]:
    """Every combination of the axes' values (the first axis varies slowest)."""
    keys = [a.key for a in axes]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise InputError(f"--set/--vary {dup[0]}: given twice; give each key once")
    points = list(itertools.product(*(a.overrides for a in axes)))
    if len(points) > MAX_POINTS:
        raise InputError(f"the grid has {len(points):,} points, more than {MAX_POINTS}; "
                         "sweep fewer values")
    return [tuple(p) for p in points]


@dataclass
class SweepResult:
    """A solved grid: one row per point (remech.comparing.summary_row plus ``point``)."""

    instance: dict
    design: dict
    axes: list[Axis]
    rows: list[dict]
    wall_seconds: float
    fixed: dict = field(default_factory=dict)

    @property
    def varied(self) -> list[Axis]:
        return [a for a in self.axes if len(a.values) > 1]

    def frame(self) -> pd.DataFrame:
        """sweep.csv: the swept values, then the results, one row per point."""
        from remech.comparing import flat

        cells = [{a.key: _cell(r["point"].get(a.key)) for a in self.varied}
                 for r in self.rows]
        rest = flat([{k: v for k, v in r.items() if k not in ("point", "overrides")}
                     for r in self.rows])
        return pd.concat([pd.DataFrame(cells, index=rest.index), rest], axis=1)

    def to_json(self) -> dict:
        return {"instance": self.instance, "design": self.design,
                "axes": {a.key: list(a.values) for a in self.varied}, "fixed": self.fixed,
                "designs": self.rows, "wall_seconds": self.wall_seconds}


def _cell(value):
    import json

    return value if isinstance(value, str | int | float | bool) or value is None \
        else json.dumps(value)


def check_points(instance: str | Path, design: str | Path | None,
                 points: list[Overrides]):
    """Load the instance and design once and check every point's overrides (InputError
    naming the --set of the first bad point); returns (instance, design path)."""
    from remech.design import load_design
    from remech.instance import load_instance
    from remech.overrides import apply_instance
    from remech.run import check_names

    inst = load_instance(instance)
    path = design if design is not None else inst.default_model
    if path is None:
        raise InputError(f"{instance}/instance.toml: no default_model and no --model; pass "
                         "--model models/<design>.toml")
    path = load_design(path).path
    for point in points:
        check_names(apply_instance(inst, point), load_design(path, point), point)
    return inst, path


def run_sweep(instance: str | Path, axes: list[Axis], design: str | Path | None = None,
              jobs: int | None = None, time_limit_s: float = 600.0, mip_gap: float = 1e-4,
              on_done=None) -> SweepResult:
    """Solve ``design`` on ``instance`` at every point of the grid of ``axes``."""
    from remech.comparing import DesignTask, compare_row
    from remech.design import load_design
    from remech.executor import map_tasks

    points = grid(axes)
    inst, path = check_points(instance, design, points)
    tasks = [DesignTask(str(instance), str(path), time_limit_s, mip_gap, p) for p in points]
    t0 = time.perf_counter()
    rows = map_tasks(compare_row, tasks, jobs=jobs, on_done=on_done)
    varied = {a.key for a in axes if len(a.values) > 1}
    for row, point in zip(rows, points, strict=True):
        row["point"] = {o.key: o.value for o in point if o.key in varied}
        row["design"] = _label(row["point"]) or row["design"]
    base = load_design(path)
    return SweepResult(
        {"name": inst.name, "path": str(inst.folder), "sha256": inst.sha256},
        {"name": base.name, "path": str(base.path), "sha256": base.sha256}, list(axes), rows,
        time.perf_counter() - t0,
        as_dict(tuple(a.overrides[0] for a in axes if len(a.values) == 1)))


def _label(point: dict) -> str:
    from remech.overrides import label

    return label(tuple(Override(k, v, "") for k, v in point.items()))


def parse_axes(sets: tuple[str, ...] = (), varies: tuple[str, ...] = ()) -> list[Axis]:
    """The axes of the command line (--set with one or several values, --vary ranges)."""
    axes = [parse_axis(t) for t in sets] + [parse_range(t, "--vary") for t in varies]
    if not any(len(a.values) > 1 for a in axes):
        raise InputError("remech sweep: nothing to sweep; give a key with several values, "
                         "e.g. --set objective.view=fiscal,economic or --vary "
                         "price_floor.levels_usd_per_kg.NDPR=50:110:10")
    return axes


def table(result: SweepResult) -> pd.DataFrame:
    """The printed table: swept values, status, costs in both views, floors, allies."""
    rows = []
    for r in result.rows:
        row = {a.key.split(".")[-1]: value_text(r["point"][a.key]) for a in result.varied}
        row["status"] = r["status"]
        if "expected_cost_musd" in r:
            row["expected cost"] = round(r["expected_cost_musd"], 1)
            row["fiscal"] = round(r["fiscal_cost_musd"], 1)
            row["economic"] = round(r["economic_cost_musd"], 1)
            row["floors"] = ", ".join(f"{p} {'none' if v is None else f'{v:g}'}"
                                      for p, v in r["floors_usd_per_kg"].items())
            row.update({f"{a} (net)": round(v, 1) for a, v in r["ally_cost_musd"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep(outdir: Path, result: SweepResult, force: bool, formats=()) -> Path:
    """sweep.json, sweep.csv, sweep.md and the report into ``outdir``; returns the
    report's HTML file."""
    from remech.document import markdown_table
    from remech.reporting import write_report
    from remech.results import write_results

    write_results(outdir, result.to_json(), {"sweep.csv": result.frame()}, force,
                  json_name="sweep.json", kind="sweep",
                  texts={"sweep.md": markdown_table(table(result), index=False) + "\n"},
                  formats=formats)
    return write_report(outdir).html
