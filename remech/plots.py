"""Fan charts of scenario prices (PNG), with history and floor levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from remech.instance import Instance
from remech.scenarios import PROXY, load_history, scenario_set

BANDS = [(5, 95, 0.18), (25, 75, 0.35)]


def fan_charts(inst: Instance, outdir: Path, floors: dict | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sset = scenario_set(inst)
    hist = load_history()
    w = sset.probability
    paths = []
    for i, product in enumerate(sset.products):
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
        x = np.array(sset.years)
        prices = sset.price[:, :, i]
        order = np.argsort(prices, axis=0)
        cum = np.cumsum(w[order], axis=0)

        cols = np.arange(len(x))

        def pct(q, prices=prices, order=order, cum=cum, cols=cols):
            pos = np.argmax(cum >= q / 100 - 1e-12, axis=0)
            return prices[order[pos, cols], cols]

        for lo, hi, alpha in BANDS:
            ax.fill_between(x, pct(lo), pct(hi), color="tab:blue", alpha=alpha, lw=0,
                            label=f"scenarios {lo}-{hi} %")
        ax.plot(x, pct(50), color="tab:blue", lw=2, label="scenario median")
        column = product if product in hist else PROXY.get(product)
        if column in hist:
            h = hist[column].dropna()
            label = "history (FOB China)" + ("" if column == product else f", {column} oxide")
            ax.plot(h.index, h.values, color="black", lw=1.5, marker="o", ms=3, label=label)
        floor = (floors or {}).get(product)
        if floor:
            ax.axhline(floor, color="tab:red", ls="--", lw=1.5, label=f"floor {floor:g}")
        name = inst.products.set_index("product").at[product, "name"]
        ax.set_title(f"{name}: {len(sset.names)} scenarios, {inst.name}")
        ax.set_ylabel("USD/kg")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        path = outdir / f"fan_{product}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
