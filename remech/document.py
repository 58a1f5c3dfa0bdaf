"""A report as a list of blocks, written out as one self-contained HTML file (charts drawn
by plotly, whose JavaScript is inlined: nothing is fetched when the page opens) or as
Markdown with PNG charts beside it.

Text is plain (escaped for HTML); tables are pandas DataFrames of strings or numbers.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from remech.charts import Chart, plotly_figure, save_png

#: first line of every Markdown report remech writes, and the generator tag of its HTML:
#: how remech recognises a report it wrote (it overwrites no other file)
SIGNATURE = "remech report"


@dataclass
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass
class Para:
    text: str
    css: str = ""  # "warning" or "note": drawn as a box in HTML, quoted in Markdown


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    frame: pd.DataFrame
    links: tuple[str, ...] = ()  # columns whose http(s) values become links in HTML


@dataclass
class Pre:
    text: str


@dataclass
class Figure:
    chart: Chart


Block = Heading | Para | Bullets | Table | Pre | Figure


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    @property
    def charts(self) -> list[Chart]:
        return [b.chart for b in self.blocks if isinstance(b, Figure)]


# -- Markdown ---------------------------------------------------------------------------

def cell_text(value) -> str:
    """A table cell as text: blank for missing, thousands separators for numbers (floats
    with one decimal)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        return f"{value:,.1f}"
    return str(value)


def _md_cell(value) -> str:
    return cell_text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = True) -> str:
    """A GitHub-flavoured Markdown pipe table (no dependency on tabulate); with
    ``index`` the frame's index is the first column."""
    df = frame.reset_index() if index else frame
    cols = [str(c) for c in df.columns]
    if index and df.columns[0] == "index":
        cols[0] = ""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |",
             "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return "\n".join(lines)


def to_markdown(doc: Document, chart_dir: str) -> str:
    """The document as Markdown; charts as images ``chart_dir/KEY.png`` with captions."""
    out = [f"<!-- {SIGNATURE}: written by remech; remech report rewrites this file -->",
           f"# {doc.title}", "", f"*{doc.subtitle}*", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * b.level} {b.text}", ""]
        elif isinstance(b, Para):
            prefix = {"warning": "> **Warning.** ", "note": "> "}.get(b.css, "")
            out += [prefix + b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            out += [markdown_table(b.frame, index=False), ""]
        elif isinstance(b, Pre):
            out += ["```", b.text.rstrip("\n"), "```", ""]
        elif isinstance(b, Figure):
            c = b.chart
            out += [f"![{c.title}]({chart_dir}/{c.key}.png)", "", f"*{c.caption}*", ""]
    return "\n".join(out)


def save_charts(doc: Document, folder: Path) -> list[Path]:
    """Every chart of the document as folder/KEY.png."""
    return [save_png(c, Path(folder) / f"{c.key}.png") for c in doc.charts]


# -- HTML -------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; } td a { overflow-wrap: anywhere; }
.warning { background: #fff3cd; border-left: 5px solid #d39e00; padding: 0.6em 1em; }
.note { background: #eef4fb; border-left: 5px solid #1f77b4; padding: 0.6em 1em; }
figure { margin: 1.2em 0 2em 0; } figcaption { color: #444; font-size: 0.88em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
@media print { .chart { page-break-inside: avoid; } }
"""


def _html_cell(value, link: bool) -> str:
    text = html.escape(cell_text(value))
    if link and str(value).startswith(("http://", "https://")):
        return f'<a href="{text}">{text}</a>'
    return text


def html_table(t: Table) -> str:
    df = t.frame
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td{" class=num" if n else ""}>{_html_cell(v, c in t.links)}</td>'
            for v, n, c in zip(row, numeric, df.columns, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure_html(chart: Chart) -> str:
    import plotly.io as pio

    div = pio.to_html(plotly_figure(chart), full_html=False, include_plotlyjs=False,
                      div_id=f"chart-{chart.key}",
                      config={"displaylogo": False, "responsive": True})
    return (f'<figure class="chart" id="fig-{chart.key}">{div}'
            f"<figcaption>{html.escape(chart.caption)}</figcaption></figure>")


def _block_html(b: Block) -> str:
    if isinstance(b, Heading):
        anchor = f' id="{html.escape(b.anchor)}"' if b.anchor else ""
        return f"<h{b.level}{anchor}>{html.escape(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        css = f' class="{b.css}"' if b.css else ""
        return f"<p{css}>{html.escape(b.text)}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return html_table(b)
    if isinstance(b, Pre):
        return f"<pre>{html.escape(b.text)}</pre>"
    return _figure_html(b.chart)


def to_html(doc: Document, version: str) -> str:
    """One self-contained page: plotly.js inlined once in the head, every chart a div."""
    from plotly.offline import get_plotlyjs

    body = "\n".join(_block_html(b) for b in doc.blocks)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta name="generator" content="{SIGNATURE} {html.escape(version)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(doc.title)}</title>\n<style>{CSS}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
        f"<h1>{html.escape(doc.title)}</h1>\n"
        f'<p class="subtitle">{html.escape(doc.subtitle)}</p>\n{body}\n</body></html>\n')
