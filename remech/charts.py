"""Charts of results, described once and drawn twice: interactive (plotly, for the HTML
report) and static (matplotlib PNG, for the Markdown twin and for print).

A ``Chart`` holds only data and words (title, axis labels with units, caption); the two
renderers below know nothing of remech's results.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: matplotlib's tab10, so both renderers use the same colours
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
BAND_ALPHA = {"5-95 %": 0.18, "25-75 %": 0.35}


@dataclass(frozen=True)
class Trace:
    """One drawn thing.

    kind: "line" (x, y), "band" (x, low, high: a shaded interval), "bar" (x categories or
    numbers, y heights; optional whiskers err_low/err_high in y units; width for numeric
    x), "vline"/"hline" (a reference line at ``value`` across the plot).
    """

    kind: str
    label: str
    x: Sequence = ()
    y: Sequence = ()
    low: Sequence = ()
    high: Sequence = ()
    err_low: Sequence = ()
    err_high: Sequence = ()
    width: float | None = None
    value: float | None = None
    color: str = PALETTE[0]
    dash: bool = False
    alpha: float = 0.3


@dataclass
class Chart:
    """A chart: ``key`` names its PNG file; labels carry units; ``bar_mode`` is "group",
    "stack" or "overlay" (bars of several traces side by side, stacked, or on top)."""

    key: str
    title: str
    x_label: str
    y_label: str
    caption: str
    traces: list[Trace] = field(default_factory=list)
    bar_mode: str = "group"
    categorical_x: bool = False


def weighted_percentiles(values: np.ndarray, prob: np.ndarray,
                         qs: Sequence[float]) -> dict[float, np.ndarray]:
    """Lower q-quantiles over the scenario axis 0 of ``values`` [s, ...] with scenario
    probabilities ``prob`` [s]: the smallest v with P(X <= v) >= q."""
    v = np.moveaxis(np.asarray(values, float), 0, -1)
    order = np.argsort(v, axis=-1, kind="stable")
    sv = np.take_along_axis(v, order, axis=-1)
    cum = np.cumsum(np.asarray(prob, float)[order], axis=-1)
    out = {}
    for q in qs:
        idx = np.argmax(cum >= q - 1e-12, axis=-1)
        out[q] = np.take_along_axis(sv, idx[..., None], axis=-1)[..., 0]
    return out


def fan_traces(x: Sequence, values: np.ndarray, prob: np.ndarray, what: str,
               color: str = PALETTE[0]) -> list[Trace]:
    """Percentile bands 5-95 % and 25-75 % and the median of ``values`` [s, t] over x."""
    p = weighted_percentiles(values, prob, (0.05, 0.25, 0.5, 0.75, 0.95))
    return [Trace("band", f"{what} 5-95 %", x=x, low=p[0.05], high=p[0.95], color=color,
                  alpha=BAND_ALPHA["5-95 %"]),
            Trace("band", f"{what} 25-75 %", x=x, low=p[0.25], high=p[0.75], color=color,
                  alpha=BAND_ALPHA["25-75 %"]),
            Trace("line", f"{what} median", x=x, y=p[0.5], color=color)]


# -- plotly --------------------------------------------------------------------------

def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _plotly_trace(fig, t: Trace) -> None:
    import plotly.graph_objects as go

    dash = "dash" if t.dash else "solid"
    if t.kind == "line":
        fig.add_trace(go.Scatter(x=list(t.x), y=list(t.y), name=t.label, mode="lines+markers",
                                 line={"color": t.color, "dash": dash, "width": 2},
                                 marker={"size": 5}))
    elif t.kind == "band":
        fig.add_trace(go.Scatter(x=list(t.x), y=list(t.low), mode="lines", showlegend=False,
                                 line={"width": 0}, hoverinfo="skip", legendgroup=t.label))
        fig.add_trace(go.Scatter(x=list(t.x), y=list(t.high), mode="lines", name=t.label,
                                 fill="tonexty", line={"width": 0}, legendgroup=t.label,
                                 fillcolor=_rgba(t.color, t.alpha)))
    elif t.kind == "bar":
        err = None
        if len(t.err_high):
            err = {"type": "data", "symmetric": False, "color": "#333333",
                   "array": list(np.asarray(t.err_high) - np.asarray(t.y)),
                   "arrayminus": list(np.asarray(t.y) - np.asarray(t.err_low))}
        fig.add_trace(go.Bar(x=list(t.x), y=list(t.y), name=t.label, error_y=err,
                             marker={"color": t.color}, width=t.width))
    elif t.kind in ("vline", "hline"):
        add = fig.add_vline if t.kind == "vline" else fig.add_hline
        add(t.value, line={"color": t.color, "dash": "dash" if t.dash else "solid",
                           "width": 2},
            annotation_text=t.label, annotation_font_color=t.color,
            annotation_position="top right" if t.kind == "vline" else "top left")
    else:
        raise ValueError(f"unknown trace kind {t.kind}")


def plotly_figure(chart: Chart):
    """The chart as a plotly Figure (legend below, units in the axis titles)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for t in chart.traces:
        _plotly_trace(fig, t)
    fig.update_layout(
        title={"text": chart.title}, template="plotly_white", height=440,
        barmode=chart.bar_mode, bargap=0.15 if chart.bar_mode != "overlay" else 0.02,
        xaxis_title=chart.x_label, yaxis_title=chart.y_label,
        legend={"orientation": "h", "y": -0.2}, margin={"l": 70, "r": 30, "t": 60, "b": 90},
        separators=".,")
    fig.update_yaxes(tickformat=",~r")
    if _starts_at_zero(chart) and chart.bar_mode != "stack" and _y_range(chart):
        fig.update_yaxes(range=list(_y_range(chart)))
    elif _starts_at_zero(chart):
        fig.update_yaxes(rangemode="tozero")
    if chart.categorical_x:
        fig.update_xaxes(type="category")
    elif _integer_x(chart):
        fig.update_xaxes(tickformat="d", dtick=1 if _x_span(chart) <= 15 else None)
    else:
        fig.update_xaxes(tickformat=",~r")
    return fig


def _y_range(chart: Chart) -> tuple[float, float] | None:
    """A y axis that includes zero, with 8 % headroom for lines drawn at the extremes (a
    stock at its capacity, a floor above every price); None if there is nothing to show."""
    values = [float(v) for t in chart.traces for seq in (t.y, t.low, t.high, t.err_low,
                                                          t.err_high)
              for v in seq if v is not None and np.isfinite(v)]
    values += [float(t.value) for t in chart.traces if t.kind == "hline" and t.value]
    lo, hi = min(values + [0.0]), max(values + [0.0])
    return (lo * 1.08, hi * 1.08) if hi > lo else None


def _starts_at_zero(chart: Chart) -> bool:
    return any(t.kind == "bar" for t in chart.traces) or chart.key.startswith("stockpile")


def _numeric_x(chart: Chart) -> list[float]:
    xs = [v for t in chart.traces for v in t.x]
    return [float(v) for v in xs if isinstance(v, int | float | np.number)]


def _integer_x(chart: Chart) -> bool:
    xs = _numeric_x(chart)
    return bool(xs) and all(float(v).is_integer() for v in xs)


def _x_span(chart: Chart) -> float:
    xs = _numeric_x(chart)
    return max(xs) - min(xs) if xs else 0.0


# -- matplotlib -----------------------------------------------------------------------

def _mpl_bars(ax, bars: list[Trace], chart: Chart) -> None:
    """Bars: grouped, stacked or overlaid; categories on a shared axis."""
    if chart.categorical_x:
        cats = list(dict.fromkeys(str(v) for t in bars for v in t.x))
        pos = {c: i for i, c in enumerate(cats)}
        n = len(bars) if chart.bar_mode == "group" else 1
        width = 0.8 / n
        bottom = np.zeros(len(cats))
        for k, t in enumerate(bars):
            xi = np.array([pos[str(v)] for v in t.x], float)
            off = (k - (n - 1) / 2) * width if chart.bar_mode == "group" else 0.0
            base = bottom[xi.astype(int)] if chart.bar_mode == "stack" else 0.0
            err = None
            if len(t.err_high):
                err = [np.asarray(t.y) - np.asarray(t.err_low),
                       np.asarray(t.err_high) - np.asarray(t.y)]
            ax.bar(xi + off, t.y, width=width, bottom=base, color=t.color, label=t.label,
                   yerr=err, capsize=3, ecolor="#333333")
            if chart.bar_mode == "stack":
                bottom[xi.astype(int)] += np.asarray(t.y, float)
        crowded = sum(len(c) for c in cats) > 60
        ax.set_xticks(range(len(cats)), cats, rotation=25 if crowded else 0,
                      ha="right" if crowded else "center")
        return
    for t in bars:
        ax.bar(t.x, t.y, width=t.width or 0.8, color=t.color, label=t.label,
               alpha=0.85 if chart.bar_mode == "overlay" else 1.0)


def save_png(chart: Chart, path: Path) -> Path:
    """Draw the chart with matplotlib into a PNG (title, axis units, legend; the caption is
    printed under the plot so that a printed page keeps it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=110)
    bars = [t for t in chart.traces if t.kind == "bar"]
    if bars:
        _mpl_bars(ax, bars, chart)
    for t in chart.traces:
        ls = "--" if t.dash else "-"
        if t.kind == "line":
            ax.plot(t.x, t.y, color=t.color, ls=ls, lw=2, marker="o", ms=3, label=t.label)
        elif t.kind == "band":
            ax.fill_between(t.x, t.low, t.high, color=t.color, alpha=t.alpha, lw=0,
                            label=t.label)
        elif t.kind == "vline":
            ax.axvline(t.value, color=t.color, ls=ls, lw=1.8, label=t.label)
        elif t.kind == "hline":
            ax.axhline(t.value, color=t.color, ls=ls, lw=1.8, label=t.label)
    ax.set_title(chart.title, fontsize=11)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
    if _integer_x(chart) and not chart.categorical_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if _starts_at_zero(chart) and chart.bar_mode != "stack" and _y_range(chart):
        ax.set_ylim(*_y_range(chart))
    elif _starts_at_zero(chart):
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    caption = textwrap.wrap(chart.caption, 170)
    fig.text(0.01, 0.01, "\n".join(caption), fontsize=6.5, color="#444444")
    # fixed margins: tight_layout would double the drawing time
    rotated = any(lab.get_rotation() for lab in ax.get_xticklabels())
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92,
                        bottom=0.14 + 0.03 * len(caption) + (0.08 if rotated else 0.0))
    fig.savefig(path)
    plt.close(fig)
    return path
