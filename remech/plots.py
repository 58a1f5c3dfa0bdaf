"""Fan charts of scenario prices (PNG), with history and floor levels.

History is drawn in full: the product's own annual FOB China averages and, where those are
short (NdPr oxide from 2021 only), its proxy's (Nd oxide from 2011, remech.scenarios.PROXY),
plus the dated quotes of the fact sheet's cycle markers (remech/data/price_markers.csv: the
2011 spike, the 2014 and 2024 troughs, the 2021 and 2026 highs). The caption names every
source key drawn. The price axis is logarithmic with plain tick labels (20, 50, 100, 200;
never 2x10^2).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np

from remech.instance import Instance
from remech.scenarios import PROXY, history_sources, load_markers, scenario_set

BANDS = [(5, 95, 0.18), (25, 75, 0.35)]
_KEYS = re.compile(r"\[([A-Za-z0-9_.-]+)\]")


def price_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks covering [low, high] (USD/kg), for a logarithmic axis."""
    low, high = max(low, 1e-6), max(high, low * 1.0001)
    ticks = []
    for e in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1):
        ticks += [m * 10.0 ** e for m in (1, 2, 5)]
    inside = [t for t in ticks if low <= t <= high]
    return inside if len(inside) >= 2 else [t for t in ticks if low / 10 <= t <= high * 10]


def tick_text(v: float) -> str:
    """A plain price label: 2, 20, 200, 2,000, 0.5."""
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def _keys(cells) -> list[str]:
    return sorted({k for c in cells for k in _KEYS.findall(str(c))},
                  key=lambda k: (len(k), k))


def history_for(product: str) -> dict:
    """The product's history: own annual averages, its proxy's, dated quotes (of both),
    and the source keys of what is returned."""
    hist = history_sources()
    own = hist[hist["product"] == product].sort_values("year")
    proxy_code = PROXY.get(product)
    proxy = hist[hist["product"] == proxy_code].sort_values("year") if proxy_code else \
        hist.iloc[:0]
    marks = load_markers()
    marks = marks[marks["product"].isin([product, proxy_code])].sort_values("date")
    return {"own": own, "proxy": proxy, "proxy_code": proxy_code, "markers": marks,
            "sources": _keys([*own["source"], *proxy["source"], *marks["source"]])}


def fan_charts(inst: Instance, outdir: Path, floors: dict | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sset = scenario_set(inst)
    w = sset.probability
    paths = []
    for i, product in enumerate(sset.products):
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
        x = np.array(sset.years)
        prices = sset.price[:, :, i]
        order = np.argsort(prices, axis=0)
        cum = np.cumsum(w[order], axis=0)

        cols = np.arange(len(x))

        def pct(q, prices=prices, order=order, cum=cum, cols=cols):
            pos = np.argmax(cum >= q / 100 - 1e-12, axis=0)
            return prices[order[pos, cols], cols]

        shown = [prices.min(), prices.max()]
        for lo, hi, alpha in BANDS:
            ax.fill_between(x, pct(lo), pct(hi), color="tab:blue", alpha=alpha, lw=0,
                            label=f"scenarios {lo}-{hi} %")
        ax.plot(x, pct(50), color="tab:blue", lw=2, label="scenario median")
        h = history_for(product)
        if len(h["proxy"]):
            ax.plot(h["proxy"]["year"], h["proxy"]["price_usd_per_kg"], color="0.45", lw=1.3,
                    ls="--", marker="o", ms=2.5,
                    label=f"history {h['proxy_code']} oxide (proxy), FOB China annual")
            shown += list(h["proxy"]["price_usd_per_kg"])
        if len(h["own"]):
            ax.plot(h["own"]["year"], h["own"]["price_usd_per_kg"], color="black", lw=1.6,
                    marker="o", ms=3, label=f"history {product}, FOB China annual")
            shown += list(h["own"]["price_usd_per_kg"])
        if len(h["markers"]):
            ax.scatter(h["markers"]["date"], h["markers"]["price_usd_per_kg"], marker="D",
                       s=18, color="tab:purple", zorder=5, label="dated quotes (spikes, "
                       "troughs)")
            shown += list(h["markers"]["price_usd_per_kg"])
        floor = (floors or {}).get(product)
        if floor:
            ax.axhline(floor, color="tab:red", ls="--", lw=1.5, label=f"floor {floor:g}")
            shown.append(floor)
        name = inst.products.set_index("product").at[product, "name"]
        ax.set_title(f"{name}: {len(sset.names)} scenarios, {inst.name}")
        ax.set_ylabel("USD/kg (log scale)")
        ax.set_xlabel("year")
        ax.set_yscale("log")
        low, high = float(np.min(shown)) * 0.9, float(np.max(shown)) * 1.1
        ax.set_ylim(low, high)
        ticks = price_ticks(low, high)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: tick_text(v)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower left", ncol=2)
        caption = ("Bands: probability-weighted percentiles of the instance's scenario prices. "
                   "History: annual FOB China oxide averages (USGS Mineral Commodity "
                   "Summaries, Argus data) and dated quotes from the remech fact sheet; "
                   f"sources {' '.join(f'[{k}]' for k in h['sources']) or 'none'} "
                   "(remech/data/sources.csv).")
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 150)), fontsize=6.5,
                 color="#444444")
        fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.2)
        path = outdir / f"fan_{product}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
