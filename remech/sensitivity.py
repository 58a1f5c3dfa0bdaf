"""One-at-a-time sensitivity (a tornado chart): ``remech sweep INSTANCE --tornado``.

Each main uncertain input is set low and high while the others keep their file values, and
the design is solved at every point (the base, then two per input) in parallel processes
(remech.executor, as a sweep). The inputs, and what low/high mean for a spread s (default
0.25):

- shortfall penalties: every product's ``shortfall_penalty_usd_per_kg`` x (1 -/+ s);
- discount rate: ``instance.discount_rate`` x (1 -/+ s);
- hurdle rate: the design's ``bankability.hurdle_rate`` x (1 -/+ s);
- export-control severity: every cut (1 - china_availability) x (1 -/+ s)
  (``instance.cut_severity``);
- export-control probability: the probability of the scenarios with a cut x (1 -/+ s)
  (``instance.cut_probability``);
- MCPF: the design's ``objective.mcpf`` x (1 -/+ s), within its range [1, 3].

An input whose base value is 0 (nothing to scale), or that the instance lacks (no export
controls), is left out with a note; so is a note that the MCPF moves nothing when the
design minimises the fiscal view. The result is a table (tornado.csv: input, low and high
value, the expected cost of the view minimised at each, the swing high - low) sorted by the
swing's size, tornado.json, and the chart (tornado.html, plotly inlined so that it opens
offline, and tornado.png). Each row is the whole summary of remech compare at that point,
so the chosen floors are there as well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from remech.errors import InputError
from remech.overrides import Override, as_dict

#: the spread's range: a factor 1 - s must stay positive
MAX_SPREAD = 0.9
MCPF_RANGE = (1.0, 3.0)


@dataclass
class Input:
    """One input of the tornado: its name, unit, base and low/high values, overrides."""

    name: str
    unit: str
    base: float
    low: float
    high: float
    low_overrides: tuple[Override, ...]
    high_overrides: tuple[Override, ...]


def _ov(key: str, value) -> Override:
    return Override(key, value, f"{key}={value}")


def _scaled(name, unit, base, s, key_values, low=None, high=None) -> Input:
    """An input whose overrides come from ``key_values(factor)``."""
    lo, hi = (1 - s, 1 + s) if low is None else (low, high)
    return Input(name, unit, base, base * lo, base * hi, key_values(lo), key_values(hi))


def inputs(inst, design, spread: float) -> tuple[list[Input], list[str]]:
    """The tornado's inputs on ``inst`` and ``design`` at ``spread``, and notes on the
    inputs left out."""
    s = spread
    found: list[Input] = []
    notes: list[str] = []
    pen = inst.products.set_index("product")["shortfall_penalty_usd_per_kg"].astype(float)
    if (pen > 0).any():
        mean = float(pen.mean())
        found.append(_scaled(
            "shortfall penalties" + (f" ({pen.index[0]})" if len(pen) == 1 else
                                     " (all products, mean shown)"), "USD/kg", mean, s,
            lambda f: tuple(_ov(f"instance.products.{p}.shortfall_penalty_usd_per_kg",
                                round(float(v) * f, 10)) for p, v in pen.items())))
    else:
        notes.append("shortfall penalties: all 0, nothing to scale")
    for name, key, base in (("discount rate", "instance.discount_rate", inst.discount_rate),
                            ("hurdle rate", "bankability.hurdle_rate", design.hurdle_rate)):
        if base > 0:
            found.append(_scaled(name, "1/yr", base, s,
                                 lambda f, key=key, base=base: (_ov(key, round(base * f, 10)),)))
        else:
            notes.append(f"{name}: 0 in the files, nothing to scale")
    av = inst.availability
    cuts = av is not None and len(av) and bool((av["china_availability"] < 1).any())
    if cuts:
        found.append(_scaled("export-control severity (x cut depth)", "factor", 1.0, s,
                             lambda f: (_ov("instance.cut_severity", round(f, 10)),)))
        cut_names = set(av.loc[av["china_availability"] < 1, "scenario"].astype(str))
        sc = inst.scenarios
        q = float(sc.loc[sc["scenario"].astype(str).isin(cut_names), "probability"].sum())
        if 0 < q and q * (1 + s) < 1:
            found.append(Input("export-control probability", "probability", q, q * (1 - s),
                               q * (1 + s), (_ov("instance.cut_probability", round(1 - s, 10)),),
                               (_ov("instance.cut_probability", round(1 + s, 10)),)))
        else:
            notes.append(f"export-control probability: {q:.3g} x {1 + s:g} is not below 1")
    else:
        notes.append("export controls: the instance has no cut (availability.csv), nothing "
                     "to scale")
    lo = max(MCPF_RANGE[0], design.mcpf * (1 - s))
    hi = min(MCPF_RANGE[1], design.mcpf * (1 + s))
    if hi > lo:
        found.append(Input(f"MCPF (range {MCPF_RANGE[0]:g}-{MCPF_RANGE[1]:g})", "factor",
                           design.mcpf, lo, hi, (_ov("objective.mcpf", round(lo, 10)),),
                           (_ov("objective.mcpf", round(hi, 10)),)))
        if design.objective_view == "fiscal":
            notes.append("MCPF: weighs treasury money in the economic view only; this "
                         "design minimises the fiscal view, so the MCPF moves no decision "
                         "(--set objective.view=economic to see its effect)")
    return found, notes


@dataclass
class Sensitivity:
    """A solved tornado: the base row, one low and one high row per input."""

    instance: dict
    design: dict
    spread: float
    metric: str
    base: dict
    inputs: list[Input]
    rows: list[tuple[dict, dict]]  # (low row, high row) per input, summary_row + overrides
    notes: list[str]
    wall_seconds: float
    points: int = field(default=0)

    def frame(self) -> pd.DataFrame:
        """tornado.csv: one row per input, the largest swing first."""
        out = []
        base = self.base.get(self.metric)
        for inp, (lo, hi) in zip(self.inputs, self.rows, strict=True):
            a, b = lo.get(self.metric), hi.get(self.metric)
            out.append({
                "input": inp.name, "unit": inp.unit, "base_value": inp.base,
                "low_value": inp.low, "high_value": inp.high,
                "low_status": lo["status"], "high_status": hi["status"],
                f"base_{self.metric}": base, f"low_{self.metric}": a,
                f"high_{self.metric}": b,
                "swing_musd": (b - a) if a is not None and b is not None else None,
                "low_floors": _floors(lo), "high_floors": _floors(hi)})
        df = pd.DataFrame(out)
        if len(df):
            order = df["swing_musd"].abs().fillna(-1).sort_values(ascending=False,
                                                                  kind="stable").index
            df = df.loc[order].reset_index(drop=True)
        return df

    def to_json(self) -> dict:
        return {"instance": self.instance, "design": self.design, "spread": self.spread,
                "metric": self.metric, "base": self.base,
                "inputs": [{"input": i.name, "unit": i.unit, "base_value": i.base,
                            "low_value": i.low, "high_value": i.high,
                            "low_overrides": as_dict(i.low_overrides),
                            "high_overrides": as_dict(i.high_overrides),
                            "low": lo, "high": hi}
                           for i, (lo, hi) in zip(self.inputs, self.rows, strict=True)],
                "notes": self.notes, "points": self.points,
                "wall_seconds": self.wall_seconds}

    def table(self) -> pd.DataFrame:
        """The printed table."""
        df = self.frame()
        m = self.metric
        show = pd.DataFrame({
            "input": df["input"],
            "low": [_num(v) for v in df["low_value"]],
            "high": [_num(v) for v in df["high_value"]],
            "cost at low": df[f"low_{m}"].round(1), "cost at high": df[f"high_{m}"].round(1),
            "swing": df["swing_musd"].round(1),
            "floors at low": df["low_floors"], "floors at high": df["high_floors"]})
        return show


def _num(v: float) -> str:
    return f"{v:.4g}"


def _floors(row: dict) -> str:
    floors = row.get("floors_usd_per_kg") or {}
    return ", ".join(f"{p} {'none' if v is None else f'{v:g}'}" for p, v in floors.items())


def check_spread(spread: float) -> None:
    if not 0 < spread <= MAX_SPREAD:
        raise InputError(f"--spread {spread:g}: must be in (0, {MAX_SPREAD:g}] (low = base x "
                         "(1 - spread), high = base x (1 + spread)); e.g. --spread 0.25")


def run_tornado(instance: str | Path, design: str | Path | None = None, spread: float = 0.25,
                jobs: int | None = None, time_limit_s: float = 600.0, mip_gap: float = 1e-4,
                overrides=None, on_done=None, on_start=None) -> Sensitivity:
    """Solve the base and each input low and high (see the module doc); ``overrides``
    (remech.overrides) apply at every point, before the inputs are varied; ``on_start(n)``
    is told the number of solves before they start."""
    from remech.comparing import DesignTask, compare_row
    from remech.design import load_design
    from remech.executor import map_tasks
    from remech.overrides import apply_instance, as_overrides
    from remech.sweeping import check_points

    check_spread(spread)
    fixed = as_overrides(overrides)
    inst, path = check_points(instance, design, [fixed])
    inst = apply_instance(inst, fixed)
    base_design = load_design(path, fixed)
    found, notes = inputs(inst, base_design, spread)
    if not found:
        raise InputError(f"{instance}: no input to vary ({'; '.join(notes)})")
    taken = {o.key for o in fixed}
    for inp in found:
        clash = [o.key for o in inp.low_overrides if o.key in taken]
        if clash:
            raise InputError(f"--set {clash[0]}: the tornado varies this key itself; drop "
                             "the --set")
    points = [fixed] + [fixed + ov for inp in found
                        for ov in (inp.low_overrides, inp.high_overrides)]
    check_points(instance, path, points)
    tasks = [DesignTask(str(instance), str(path), time_limit_s, mip_gap, p) for p in points]
    if on_start is not None:
        on_start(len(tasks))
    t0 = time.perf_counter()
    rows = map_tasks(compare_row, tasks, jobs=jobs, on_done=on_done)
    base = rows[0]
    pairs = [(rows[1 + 2 * i], rows[2 + 2 * i]) for i in range(len(found))]
    metric = "expected_cost_musd"
    return Sensitivity(
        {"name": inst.name, "path": str(inst.folder), "sha256": inst.sha256,
         "overrides": as_dict(fixed)},
        {"name": base_design.name, "path": str(base_design.path),
         "sha256": base_design.sha256, "view": base_design.objective_view},
        spread, metric, base, found, pairs, notes, time.perf_counter() - t0, len(points))


# -- the chart ----------------------------------------------------------------------------

def _bars(result: Sensitivity) -> tuple[pd.DataFrame, float]:
    df = result.frame().iloc[::-1]  # the largest swing on top
    return df, float(result.base.get(result.metric) or 0.0)


def _title(result: Sensitivity) -> tuple[str, str]:
    title = (f"What moves the expected cost: each input at -/+ {result.spread * 100:g} % "
             f"({result.instance['name']} x {result.design['name']})")
    from remech import __version__

    caption = (f"Expected cost of the {result.design.get('view', 'fiscal')} view (MUSD), "
               "solved with one input at its low (blue) or high (orange) value and the others "
               f"at the base (line: {result.base.get(result.metric, 0):,.1f} MUSD). "
               f"Instance {result.instance['name']}, design {result.design['name']}, "
               f"remech {__version__}.")
    return title, caption


def _label(row) -> str:
    return f"{row['input']} [{_num(row['low_value'])} / {_num(row['high_value'])}]"


def plotly_tornado(result: Sensitivity):
    import plotly.graph_objects as go

    df, base = _bars(result)
    m = result.metric
    labels = [_label(r) for _, r in df.iterrows()]
    fig = go.Figure()
    for side, color in (("low", "#1f77b4"), ("high", "#ff7f0e")):
        values = df[f"{side}_{m}"].astype(float)
        fig.add_trace(go.Bar(
            y=labels, x=values - base, base=base, orientation="h", name=f"input {side}",
            marker_color=color,
            customdata=df[f"{side}_value"], hovertemplate=(
                f"%{{y}}<br>{side}: %{{customdata:.4g}}<br>cost %{{x:,.1f}} MUSD"
                "<extra></extra>")))
    fig.add_vline(x=base, line_color="black", line_width=1)
    title, caption = _title(result)
    fig.update_layout(title=title, barmode="overlay", xaxis_title="expected cost (MUSD)",
                      xaxis_tickformat=",.0f", height=160 + 45 * len(df),
                      margin={"l": 20, "r": 20, "t": 60, "b": 90}, template="plotly_white",
                      annotations=[{"text": caption, "xref": "paper", "yref": "paper",
                                    "x": 0, "y": -0.35 if len(df) > 2 else -0.6,
                                    "showarrow": False, "align": "left",
                                    "font": {"size": 10}}])
    return fig


def save_tornado_png(result: Sensitivity, path: Path) -> Path:
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    df, base = _bars(result)
    m = result.metric
    labels = [_label(r) for _, r in df.iterrows()]
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.55 * len(df)))
    for side, color in (("low", "#1f77b4"), ("high", "#ff7f0e")):
        values = df[f"{side}_{m}"].astype(float).to_numpy()
        ax.barh(labels, values - base, left=base, color=color, alpha=0.8,
                label=f"input {side}")
    ax.axvline(base, color="black", linewidth=1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("expected cost (MUSD)")
    title, caption = _title(result)
    fig.suptitle("\n".join(textwrap.wrap(title, 70)), fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 130)), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_tornado(outdir: Path, result: Sensitivity, force: bool, formats=()) -> None:
    """tornado.json, tornado.csv, tornado.md, tornado.html and tornado.png into
    ``outdir`` (a remech result folder of kind 'tornado')."""
    import tempfile

    from remech.document import markdown_table
    from remech.results import write_results

    with tempfile.TemporaryDirectory(prefix="remech-tornado-") as tmp:
        png = save_tornado_png(result, Path(tmp) / "tornado.png")
        html = Path(tmp) / "tornado.html"
        html.write_text(plotly_tornado(result).to_html(include_plotlyjs=True, full_html=True),
                        encoding="utf-8")
        notes = "".join(f"\n- {n}" for n in result.notes)
        md = (f"# {_title(result)[0]}\n\n{markdown_table(result.table(), index=False)}\n\n"
              f"![tornado](tornado.png)\n\n{_title(result)[1]}\n"
              + (f"\nNotes:{notes}\n" if notes else ""))
        write_results(outdir, result.to_json(), {"tornado.csv": result.frame()}, force,
                      extra_files={"tornado.html": html, "tornado.png": png},
                      json_name="tornado.json", kind="tornado", texts={"tornado.md": md},
                      formats=formats)
