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
from remech.legal import screens
from remech.mechanism import as_json


@dataclass(frozen=True)
class DesignTask:
    instance: str
    design: str
    time_limit_s: float
    mip_gap: float
    #: remech.overrides.Override objects applied to this solve
    overrides: tuple = ()


def compare_row(task: DesignTask) -> dict:
    from remech.run import solve_files
    from remech.solving import SolverOptions

    t0 = time.perf_counter()
    row: dict = {"design": Path(task.design).stem, "file": task.design}
    try:
        run = solve_files(task.instance, task.design,
                          SolverOptions(time_limit_s=task.time_limit_s, mip_gap=task.mip_gap,
                                        threads=1), overrides=task.overrides)
    except InputError as exc:
        row.update(status="input error", error=str(exc), seconds=time.perf_counter() - t0)
        return row
    row.update(summary_row(run.mechanism), design=run.design.name)
    row["seconds"] = time.perf_counter() - t0
    return row


def summary_row(m) -> dict:
    """One mechanism (remech.mechanism.Mechanism or its JSON) as a flat, JSON-ready row:
    what compare, sweep and the explorer show of it."""
    m = as_json(m)
    row: dict = {"design": m["design"]["name"], "status": m["status"],
                 "objective_musd": m["objective_musd"], "mip_gap": m["mip_gap"]}
    overrides = {**m["instance"].get("overrides", {}), **m["design"].get("overrides", {})}
    if overrides:
        row["overrides"] = overrides
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
        sharing_rule=m["burden_sharing"]["rule"],
        contribution_musd={a: v["contribution_musd"] for a, v in m["contributions"].items()},
        ally_cost_musd={a: v["net_cost_musd"] for a, v in m["contributions"].items()},
        tariff_reference_usd_per_kg=m["tariff_reference_usd_per_kg"],
        stability=stability_verdict(m),
        legal_screen=screens(m.get("legal_risk")),
        legal_tags={r["instrument"]: [t["tag"] for t in r["tags"]]
                    for r in (m.get("legal_risk") or {}).get("instruments", [])},
    )
    if m.get("value_chain"):  # the products made from others (magnets): where demand is
        row["chain_products"] = sorted({p["product"] for p in m["value_chain"]["plants"]})
    if m.get("offtakes"):
        row["offtakes"] = {r["project"]: r["price_usd_per_kg"] for r in m["offtakes"]}
    return row


def stability_verdict(m: dict) -> dict:
    """Whether the split is stable, where the result knows (burden-sharing rule 'core':
    every coalition's stand-alone cost was computed); otherwise why it is not known."""
    bs = m.get("burden_sharing") or {}
    if "stand_alone_musd" not in bs:
        return {"known": False, "text": "not computed: only burden-sharing rule 'core' "
                "solves every coalition (remech game gives the verdict for every rule)"}
    if bs.get("core_empty"):
        return {"known": True, "stable": False, "epsilon_musd": bs["epsilon_musd"],
                "text": f"core empty: least-core split, a coalition pays up to "
                        f"{bs['epsilon_musd']:,.2f} MUSD more than alone"}
    return {"known": True, "stable": True, "epsilon_musd": bs["epsilon_musd"],
            "text": f"stable: in the core, no coalition pays less alone "
                    f"({bs.get('coalitions', '?')} coalitions solved)"}


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
        # what each tonne of avoided shortfall of a chain product (magnets) costs the
        # treasuries: extra expected outlay / expected shortfall avoided, USD/kg (= kUSD/t)
        extra = r["vs_baseline"]["extra_outlay_musd"]
        r["vs_baseline"]["outlay_per_t_avoided_usd_per_kg"] = {
            p: (extra * 1e3 / avoided if avoided > 1.0 else None)
            for p, avoided in r["vs_baseline"]["shortfall_avoided_t"].items()
            if p in r.get("chain_products", ())}
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
            if r.get("chain_products"):
                col["offtakes (USD/kg)"] = " ".join(
                    f"{j} {v:g}" for j, v in r.get("offtakes", {}).items()) or "none"
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
            col["trade-law screen (not legal advice)"] = ", ".join(
                f"{k} {v}" for k, v in r.get("legal_screen", {}).items()) or "none"
            if "vs_baseline" in r:
                base = r["vs_baseline"]["baseline"]
                col[f"saving vs {base} (MUSD)"] = _fmt(
                    r["vs_baseline"]["expected_cost_saving_musd"])
                col[f"fiscal saving vs {base}"] = _fmt(r["vs_baseline"]["fiscal_saving_musd"])
                col[f"economic saving vs {base}"] = _fmt(
                    r["vs_baseline"]["economic_saving_musd"])
                for p, v in r["vs_baseline"].get("outlay_per_t_avoided_usd_per_kg",
                                                 {}).items():
                    avoided = r["vs_baseline"]["shortfall_avoided_t"][p]
                    col[f"{p} shortfall avoided (t)"] = f"{avoided:,.0f}"
                    col[f"outlay per t of {p} shortfall avoided (USD/kg)"] = _fmt(v)
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


@dataclass
class Comparison:
    """Designs solved side by side on one instance: compare.json's content."""

    instance: dict
    rows: list[dict]
    wall_seconds: float
    overrides: dict

    def table(self) -> pd.DataFrame:
        """Metrics x designs, as printed by remech compare."""
        return table(self.rows)

    def frame(self) -> pd.DataFrame:
        """One row per design (compare.csv)."""
        return flat(self.rows)

    def to_json(self) -> dict:
        return {"instance": self.instance, "overrides": self.overrides, "designs": self.rows,
                "wall_seconds": self.wall_seconds}


def design_paths(inst, models=(), skipped: dict | None = None) -> tuple[Path, ...]:
    """The design files to compare: ``models`` (files or shipped names), or every design
    next to the instance's default design that fits the instance (a design naming a product
    or project the instance lacks, such as a value-chain design's magnets on an oxide-only
    instance, is left out and put in ``skipped`` with the reason); InputError if one is
    missing."""
    from remech.design import resolve_design, shipped_designs

    if not models:
        if inst.default_model is None:
            raise InputError(f"{inst.folder}/instance.toml: no default_model to find the "
                             "designs; pass --model for each design")
        models = tuple(p for p in sorted(inst.default_model.parent.glob("*.toml"))
                       if _fits(inst, p, skipped))
    paths = tuple(resolve_design(p) for p in models)
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"{path}: design file not found; pass --model with a design "
                             f"file or the name of a shipped design "
                             f"({', '.join(shipped_designs())})")
    return paths


def _fits(inst, path: Path, skipped: dict | None) -> bool:
    """Whether the design at ``path`` names only products, allies and projects of
    ``inst`` (remech.design.check_against); if not, its reason goes into ``skipped``."""
    from remech.design import check_against, load_design

    try:
        check_against(load_design(path), inst.products["product"].tolist(), inst.members,
                      inst.projects["project"].tolist())
    except InputError as exc:
        if skipped is not None:
            skipped[path.stem] = str(exc)
        return False
    return True


def compare_designs(instance, models=(), baseline: str | None = "no-mechanism",
                    jobs: int | None = None, time_limit_s: float = 600.0,
                    mip_gap: float = 1e-4, overrides=None, on_done=None) -> Comparison:
    """Solve each design on ``instance`` in parallel processes (remech.executor), with the
    same ``overrides`` (checked for every design before any solve)."""
    from remech.design import load_design
    from remech.executor import map_tasks
    from remech.instance import load_instance
    from remech.overrides import as_dict, as_overrides

    items = as_overrides(overrides)
    inst = load_instance(instance, items)
    paths = design_paths(inst, models)
    if items:
        for path in paths:
            load_design(path, items)
    tasks = [DesignTask(str(instance), str(path), time_limit_s, mip_gap, items)
             for path in paths]
    t0 = time.perf_counter()
    rows = with_baseline(map_tasks(compare_row, tasks, jobs=jobs, on_done=on_done), baseline)
    return Comparison({"name": inst.name, "path": str(inst.folder), "sha256": inst.sha256},
                      rows, time.perf_counter() - t0, as_dict(items))


def write_compare(outdir: Path, comparison: Comparison, force: bool, formats=()) -> Path:
    """compare.json, compare.csv, compare.md and the report into ``outdir``; returns the
    report's HTML file."""
    from remech.document import markdown_table
    from remech.reporting import write_report
    from remech.results import write_results

    write_results(outdir, comparison.to_json(), {"compare.csv": comparison.frame()}, force,
                  json_name="compare.json", kind="compare",
                  texts={"compare.md": markdown_table(comparison.table()) + "\n"},
                  formats=formats)
    return write_report(outdir).html
