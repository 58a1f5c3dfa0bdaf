"""Compare designs on the same instance: one solve per design, side by side.

``compare_row`` is the picklable task run in a worker process (remech.executor): it
solves one design and returns a flat, JSON-ready summary, with the honest status even
when the design fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from remech.errors import InputError


@dataclass(frozen=True)
class DesignTask:
    instance: str
    design: str
    time_limit_s: float
    mip_gap: float


def compare_row(task: DesignTask) -> dict:
    from remech.run import solve_files
    from remech.solve import SolverOptions

    t0 = time.perf_counter()
    row: dict = {"design": Path(task.design).stem, "file": task.design}
    try:
        run = solve_files(task.instance, task.design,
                          SolverOptions(time_limit_s=task.time_limit_s, mip_gap=task.mip_gap,
                                        threads=1))
    except InputError as exc:
        row.update(status="input error", error=str(exc), seconds=time.perf_counter() - t0)
        return row
    m = run.mechanism
    row.update(design=run.design.name, status=m["status"], objective_musd=m["objective_musd"],
               mip_gap=m["mip_gap"], seconds=time.perf_counter() - t0)
    if "costs" not in m:
        row["conflict"] = m.get("conflict", [])
        return row
    c = m["costs"]
    row.update(
        floors_usd_per_kg=m["floors_usd_per_kg"], upside_share=m["upside_share"],
        supported_projects=m["supported_projects"],
        stockpiles_t={s["product"]: s["capacity_t"] for s in m["stockpiles"] if s["built"]},
        grants_musd=m["grants_musd"], expected_cost_musd=c["expected_cost_musd"],
        view=c["view"],
        fiscal_cost_musd=c["views"]["fiscal"]["expected_cost_musd"],
        economic_cost_musd=c["views"]["economic"]["expected_cost_musd"],
        expected_outlay_musd=c["expected_outlay_musd"], cvar95_cost_musd=c["cvar_cost_musd"],
        expected_shortfall_t={p: v["expected_t"] for p, v in m["shortfall"].items()},
        expected_shortfall_share={p: v["expected_share"] for p, v in m["shortfall"].items()},
        non_chinese_share=m["non_chinese_share"],
        ally_cost_musd={a: v["net_cost_musd"] for a, v in m["contributions"].items()},
        tariff_reference_usd_per_kg=m["tariff_reference_usd_per_kg"],
    )
    return row


def with_baseline(rows: list[dict], baseline: str | None) -> list[dict]:
    """Add each design's difference against the baseline (the value of its instruments)."""
    base = next((r for r in rows if r["design"] == baseline and "expected_cost_musd" in r),
                None)
    for r in rows:
        if base is None or "expected_cost_musd" not in r:
            continue
        r["vs_baseline"] = {
            "baseline": base["design"],
            "expected_cost_saving_musd": base["expected_cost_musd"] - r["expected_cost_musd"],
            "fiscal_saving_musd": base["fiscal_cost_musd"] - r["fiscal_cost_musd"],
            "economic_saving_musd": base["economic_cost_musd"] - r["economic_cost_musd"],
            "extra_outlay_musd": r["expected_outlay_musd"] - base["expected_outlay_musd"],
            "shortfall_avoided_t": {p: base["expected_shortfall_t"][p] - v
                                    for p, v in r["expected_shortfall_t"].items()},
        }
    return rows


def _fmt(v, digits=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def table(rows: list[dict]) -> pd.DataFrame:
    """Metrics x designs, as strings for printing."""
    cols = {}
    for r in rows:
        col: dict[str, str] = {"status": r["status"]}
        col["objective (MUSD)"] = _fmt(r.get("objective_musd"))
        col["gap"] = "-" if r.get("mip_gap") is None else f"{r['mip_gap'] * 100:.3f} %"
        if "expected_cost_musd" in r:
            for p, f in r["floors_usd_per_kg"].items():
                share = r["upside_share"].get(p, 0.0)
                ref = r["tariff_reference_usd_per_kg"].get(p)
                col[f"floor {p}"] = (f"tariff ref. {ref:g}" if ref else "none" if f is None
                                     else f"{f:g}" + (f" (+{share * 100:g} % collar)"
                                                      if share else ""))
            col["projects supported"] = (f"{len(r['supported_projects'])}: "
                                         + " ".join(r["supported_projects"]))
            col["stockpiles (t)"] = " ".join(f"{p} {v:,.0f}"
                                             for p, v in r["stockpiles_t"].items()) or "none"
            col["grants (MUSD)"] = _fmt(r["grants_musd"])
            col["expected outlay (MUSD)"] = _fmt(r["expected_outlay_musd"])
            col["expected cost (MUSD)"] = _fmt(r["expected_cost_musd"]) + f" ({r['view']})"
            col["fiscal view (MUSD)"] = _fmt(r["fiscal_cost_musd"])
            col["economic view (MUSD)"] = _fmt(r["economic_cost_musd"])
            col["CVaR95 cost (MUSD)"] = _fmt(r["cvar95_cost_musd"])
            for p, v in r["expected_shortfall_share"].items():
                col[f"shortfall {p}"] = f"{r['expected_shortfall_t'][p]:,.0f} t ({v * 100:.2f} %)"
            for p, v in r["non_chinese_share"].items():
                col[f"non-Chinese share {p}"] = f"{v * 100:.1f} %"
            for a, v in r["ally_cost_musd"].items():
                col[f"{a} net cost (MUSD)"] = _fmt(v)
            if "vs_baseline" in r:
                base = r["vs_baseline"]["baseline"]
                col[f"saving vs {base} (MUSD)"] = _fmt(
                    r["vs_baseline"]["expected_cost_saving_musd"])
                col[f"fiscal saving vs {base}"] = _fmt(r["vs_baseline"]["fiscal_saving_musd"])
                col[f"economic saving vs {base}"] = _fmt(
                    r["vs_baseline"]["economic_saving_musd"])
        else:
            col["note"] = r.get("error") or "; ".join(r.get("conflict", [])) or "-"
        col["time (s)"] = _fmt(r["seconds"], 2)
        cols[r["design"]] = col
    return pd.DataFrame(cols).fillna("")


def flat(rows: list[dict]) -> pd.DataFrame:
    """One CSV row per design, nested fields flattened as field.key."""
    return pd.json_normalize([{k: v for k, v in r.items() if k != "supported_projects"}
                              | {"supported_projects": " ".join(r.get("supported_projects",
                                                                      []))}
                              for r in rows], sep=".")
