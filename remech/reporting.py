"""remech report: what a negotiator reads, from a result folder.

``write_report(folder)`` reads a folder written by ``remech solve -o`` (mechanism.json and
its CSV tables) or ``remech compare -o`` (compare.json) and writes one self-contained HTML
page (interactive charts, plotly.js inlined: it opens without a network) and its Markdown
twin with PNG charts beside it: the recommended mechanism in plain words first, then the
charts, then the assumptions and sources it rests on.

It reads nothing but the result folder and, for the price fan charts and the sources, the
instance that mechanism.json names (if it is still there; otherwise the report says so).
Default output: FOLDER/report.html, FOLDER/report.md and FOLDER/report-charts/, registered
in the folder's marker so that a later ``--force`` run knows them. Elsewhere (``out``), a
file or folder is only ever overwritten if remech wrote it.

Money in USD million (MUSD), discounted to the first year of the horizon; quantities in
tonnes (t); prices in USD/kg.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from remech import __version__
from remech.charts import PALETTE, Chart, Trace, fan_traces, weighted_percentiles
from remech.document import (
    SIGNATURE,
    Bullets,
    Document,
    Figure,
    Heading,
    Para,
    Pre,
    Table,
    save_charts,
    to_html,
    to_markdown,
)
from remech.errors import InputError
from remech.outdir import MARKER, is_result, read_marker, register_files, write_marker

KINDS = {"solve": "mechanism.json", "compare": "compare.json", "sweep": "sweep.json"}
READ_FIX = "give a folder written by remech solve -o (or remech compare -o, remech sweep -o)"


@dataclass
class Result:
    """A result folder as read: its JSON document, tables and (if found) the instance."""

    folder: Path
    kind: str
    doc: dict
    marker: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    instance: object | None = None  # remech.instance.Instance
    notes: list[str] = field(default_factory=list)

    def caption(self, what: str) -> str:
        """A chart caption: what it shows, then instance, design, seed and version."""
        if self.kind == "solve":
            ident = (f"instance {self.doc['instance']['name']}, design "
                     f"{self.doc['design']['name']}, HiGHS seed "
                     f"{self.doc['solver'].get('random_seed', 0)}")
        elif self.kind == "sweep":
            ident = (f"instance {self.doc['instance']['name']}, design "
                     f"{self.doc['design']['name']} swept over "
                     f"{', '.join(self.doc.get('axes') or {})}, HiGHS seed 0")
        else:
            names = [r["design"] for r in self.doc.get("designs", [])]
            ident = (f"instance {self.doc.get('instance', {}).get('name', '(not recorded)')}, "
                     f"designs {', '.join(names)}, HiGHS seed 0")
        solved = self.marker.get("remech_version", "?")
        version = (f"remech {solved}" if solved == __version__
                   else f"solved with remech {solved}, report by remech {__version__}")
        return f"{what} {ident[0].upper()}{ident[1:]}; {version}."

    @property
    def product_names(self) -> dict[str, str]:
        if self.instance is None:
            return {}
        df = self.instance.products
        return dict(zip(df["product"], df["name"], strict=True))


# -- reading ----------------------------------------------------------------------------

def load_result(folder: Path, instance: Path | None = None) -> Result:
    """Read a solve or compare result folder; InputError naming the file and the fix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found; {READ_FIX}")
    if not is_result(folder):
        raise InputError(f"{folder}: not a remech result (no {MARKER}); {READ_FIX}")
    marker = read_marker(folder)
    kind = marker.get("kind")
    if kind not in KINDS:
        raise InputError(f"{folder}: holds a remech {kind} result; remech report reads the "
                         f"results of remech solve, compare and sweep; {READ_FIX}")
    path = folder / KINDS[kind]
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; {READ_FIX}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as JSON ({exc}); run remech {kind} "
                         "again to rewrite it") from None
    if not isinstance(doc, dict) or (kind == "solve" and "status" not in doc):
        raise InputError(f"{path}: not a remech {kind} result (no status); run remech "
                         f"{kind} again to rewrite it")
    res = Result(folder, kind, doc, marker)
    for csv in sorted(folder.glob("*.csv")):
        try:
            res.tables[csv.name] = pd.read_csv(csv)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{csv}: cannot be read as CSV ({exc}); run remech {kind} "
                             "again to rewrite it") from None
    _attach_instance(res, instance)
    return res


def _attach_instance(res: Result, override: Path | None) -> None:
    """Load the instance the result names (or ``override``), or note why not."""
    from remech.instance import load_instance

    info = res.doc.get("instance") or {}
    path = Path(override) if override is not None else (
        Path(info["path"]) if info.get("path") else None)
    if path is None:
        res.notes.append("the result does not record its instance; the price fan charts "
                         "and the instance's sources are left out (give --instance)")
        return
    if not (path / "instance.toml").is_file():
        where = "" if path.is_absolute() else f" from {Path.cwd()}"
        res.notes.append(f"the instance {path} named by the result is not found{where} "
                         f"(moved or deleted, or remech {res.kind} ran in another folder); "
                         "the price fan charts and the instance's sources are left out "
                         "(give --instance FOLDER to include them)")
        return
    try:
        res.instance = load_instance(path)
    except InputError as exc:
        res.notes.append(f"the instance {path} cannot be read any more ({exc.lines[0]}); "
                         "the price fan charts and its sources are left out")
        return
    if info.get("sha256") and res.instance.sha256 != info["sha256"]:
        res.notes.append(f"the instance files in {path} changed since the result was "
                         "written (SHA-256 differs): the price fans and sources show the "
                         "files as they are now, not as they were solved")


# -- formatting -------------------------------------------------------------------------

def musd(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.1f} MUSD"


def tonnes(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f} t"


def _horizon(mech: dict) -> str:
    years = mech.get("stockpile_policy", {}).get("years") or []
    return f"{years[0]}-{years[-1]}" if years else "the horizon"


def _product(res: Result, code: str) -> str:
    name = res.product_names.get(code)
    return f"{code}, {name}" if name else code


def status_text(mech: dict) -> Para:
    gap = mech.get("mip_gap")
    gap_text = f"{gap * 100:.3f} %" if gap is not None else "n/a"
    dec = mech.get("decomposition")
    if dec is not None and "costs" in mech:  # a decomposed solve: what its bounds certify
        text = (f"Solved by {dec['method']} on mpi-sppy ({dec['ranks']} ranks): certified gap "
                f"{gap_text} between the outer bound {musd(dec.get('outer_bound_musd'))} and "
                f"this mechanism's cost")
        if mech["status"] == "optimal":
            return Para(text + f", within the target {dec['target_gap'] * 100:g} %.")
        return Para(text + f"; status {mech['status']}: not proved within the target "
                    f"{dec['target_gap'] * 100:g} %.", "warning")
    if mech["status"] == "optimal":
        return Para(f"HiGHS proved this mechanism optimal (relative gap {gap_text}).")
    if "costs" not in mech:
        return Para(f"Status {mech['status']} (HiGHS: {mech.get('highs_status')}).", "warning")
    return Para(f"Status {mech['status']} (HiGHS: {mech.get('highs_status')}): not proved "
                f"optimal; gap {gap_text}, best bound {musd(mech.get('dual_bound_musd'))}.",
                "warning")


# -- the mechanism in plain words -------------------------------------------------------

def _project_text(p: dict, horizon: str) -> str:
    extra = [f"{p['host']}", p["status"]]
    if p.get("plant") and p["plant"] != p["project"]:
        extra.append(f"a line of plant {p['plant']}")
    extra.append(f"expected output {tonnes(p.get('expected_output_t'))} over {horizon}")
    return f"{p['project']} ({p['name']}; {', '.join(extra)})"


def plant_items(res: Result) -> list[str]:
    """One sentence per supported plant with several lines, a moved start or a grant: the
    plant is contracted, built and granted as a whole."""
    items = []
    for p in res.doc.get("plants") or []:
        lines = p["lines"].split()
        moved = p["status"] == "new" and p.get("start_year") != p.get("planned_start_year")
        if not p["supported"] or (lines == [p["plant"]] and not moved
                                  and not p.get("grant_musd")):
            continue
        text = (f"Plant {p['plant']} ({', '.join(lines)}; {p['host']}, {p['status']}) is "
                f"contracted as a whole: {p['terms']}")
        if p["status"] == "new":
            text += f"; starts in {p['start_year']:g}"
            if moved:
                text += f" (planned {p['planned_start_year']:g})"
        if p.get("grant_musd"):
            text += f"; capex grant {musd(p['grant_musd'])} of {musd(p['capex_musd'])}"
        items.append(text + ".")
    return items


def floor_items(res: Result) -> list[str]:
    """One sentence per product: its floor (or reference price) and contracted projects."""
    mech, horizon = res.doc, _horizon(res.doc)
    items = []
    for code, level in mech["floors_usd_per_kg"].items():
        name = _product(res, code)
        ref = (mech.get("tariff_reference_usd_per_kg") or {}).get(code)
        contracted = [p for p in mech.get("projects", [])
                      if p["supported"] and p["product"] == code]
        if ref:
            items.append(f"{name}: no floor; a reference price of {ref:g} USD/kg enforced by "
                         "tariffs on non-member supply (allied producers receive the higher "
                         "of the market price and the reference; member consumers pay the "
                         "premium).")
            continue
        if level is None:
            items.append(f"{name}: no price floor.")
            continue
        text = (f"{name}: price floor {level:g} USD/kg (contract for difference: when the "
                f"market price is below {level:g} USD/kg the allies pay the difference)")
        share = (mech.get("upside_share") or {}).get(code) or 0.0
        if share:
            cap = (mech.get("upside_cap_usd_per_kg") or {}).get(code) or level
            text += (f", with a collar: producers pay back {share * 100:g} % of the price "
                     f"above {cap:g} USD/kg")
        text += ("; contracted with " + "; ".join(_project_text(p, horizon) for p in contracted)
                 if contracted else "; no project contracted at this level")
        items.append(text + ".")
    return items


def _targets_text(targets: list[float]) -> str:
    if not targets:
        return ""
    lo, hi = min(targets), max(targets)
    if abs(hi - lo) < 0.5:
        return f"; target level {tonnes(hi)} in every year"
    return f"; target level {tonnes(lo)} to {tonnes(hi)} by year"


def stockpile_items(res: Result) -> list[str]:
    mech = res.doc
    policy = mech.get("stockpile_policy") or {}
    rows = mech.get("stockpiles") or []
    if not rows:
        return ["No stockpile (the design does not allow one)."]
    items = []
    for s in rows:
        name = _product(res, s["product"])
        if not s["built"]:
            items.append(f"{name}: no stockpile.")
            continue
        at_max = " (its maximum capacity)" if s.get("at_max_capacity") else ""
        items.append(
            f"{name}: a stockpile of {tonnes(s['capacity_t'])}{at_max}; expected purchases "
            f"{tonnes(s['expected_purchases_t'])} and releases "
            f"{tonnes(s['expected_releases_t'])} over {_horizon(mech)}"
            + _targets_text((policy.get("target_t_by_year") or {}).get(s["product"], []))
            + ".")
    if policy.get("meaning"):
        items.append(f"Stockpile policy {policy['meaning']}.")
    for r in mech.get("last_resort_reserve") or []:
        if r["expected_purchases_t"] >= 0.5:
            items.append(
                f"Buyer-of-last-resort reserve for {_product(res, r['product'])}: buys "
                f"{tonnes(r['expected_purchases_t'])} of below-floor output at the floor "
                f"({musd(r['purchases_at_floor_musd'])}) and sells back "
                f"{tonnes(r['expected_releases_t'])} at {r['buyback_usd_per_kg']:g} USD/kg "
                f"({musd(r['buyback_revenue_musd'])}), expected.")
    return items


def chain_items(res: Result) -> list[str]:
    """Offtakes signed and the value chain's converters (empty without either)."""
    mech, items = res.doc, []
    if mech.get("offtakes") is not None:
        for r in mech["offtakes"]:
            items.append(
                f"Offtake with {r['project']} ({_product(res, r['product'])}) at "
                f"{r['price_usd_per_kg']:g} USD/kg to {r['contract_last_year']:.0f}: buys "
                f"{tonnes(r['expected_bought_t'])}, net payment (less resale) "
                f"{musd(r['expected_net_payment_musd'])}, expected.")
        if not mech["offtakes"]:
            items.append("No offtake signed (the design allows them).")
    chain = mech.get("value_chain")
    if chain:
        made = sum(p["expected_made_t"] for p in chain["plants"])
        idle = sum(p["expected_idle_t"] for p in chain["plants"])
        uses = ", ".join(f"{_product(res, p)} {tonnes(v)}"
                         for p, v in chain["expected_input_use_t"].items())
        items.append(f"Converters (plants made from other products) make {tonnes(made)} over "
                     f"{_horizon(mech)} and leave {tonnes(idle)} of their possible output "
                     "unmade (an input short, or worth more elsewhere; expected); they use "
                     f"{uses or 'nothing'}.")
    return items


def cost_items(res: Result) -> list[str]:
    mech = res.doc
    c = mech["costs"]
    items = [f"Expected cost {musd(c['expected_cost_musd'])} (discounted to "
             f"{c['discounted_to_year']}) = outlay {musd(c['expected_outlay_musd'])} + "
             f"shortfall loss {musd(c['by_category_musd'].get('shortfall_loss'))}"
             + (f" + target penalties {musd(c['by_category_musd']['target_penalty'])}"
                if c["by_category_musd"].get("target_penalty") else "") + ".",
             f"Cost at risk: CVaR{int(c['cvar_alpha'] * 100)} {musd(c['cvar_cost_musd'])} "
             f"(the mean of the worst {100 - int(c['cvar_alpha'] * 100)} % of scenarios); "
             f"worst scenario {musd(c['worst_scenario_cost_musd'])}."]
    if mech.get("grants_musd"):
        items.append(f"Capex grants {musd(mech['grants_musd'])} in total.")
    items.append("Expected shortfall over " + _horizon(mech) + ": " + ", ".join(
        f"{k} {tonnes(v['expected_t'])} ({v['expected_share'] * 100:.2f} % of demand)"
        for k, v in mech["shortfall"].items()) + ".")
    if mech.get("non_chinese_share"):
        items.append("Non-Chinese share of allied supply: " + ", ".join(
            f"{k} {v * 100:.1f} %" for k, v in mech["non_chinese_share"].items()) + ".")
    if "vss" in mech:
        v = mech["vss"]
        items.append(f"Value of the stochastic solution {musd(v['vss_musd'])}; expected "
                     f"value of perfect information {musd(v['evpi_musd'])}.")
    if mech.get("foresight") and mech["foresight"].get("value_of_foresight_musd") is not None:
        items.append(f"Value of foresight over the stockpile policy: "
                     f"{musd(mech['foresight']['value_of_foresight_musd'])} (clairvoyant bound "
                     f"{musd(mech['foresight']['clairvoyant_musd'])}).")
    return items


def who_pays(res: Result) -> list:
    """Burden sharing in words and a table per ally (with stand-alone costs under 'core')."""
    mech = res.doc
    bs = mech.get("burden_sharing") or {}
    rule = bs.get("rule", "?")
    words = {"gdp": "in proportion to GDP", "consumption": "in proportion to consumption",
             "equal": "in equal shares", "custom": "by the design's custom weights",
             "core": "by a split in the core of the cost game (no ally or group of allies "
                     "would pay less on its own; the least core if the core is empty), "
                     f"closest to the {bs.get('reference', 'reference')} rule"}
    total = sum(v["contribution_musd"] for v in mech["contributions"].values())
    blocks: list = [Para(f"The allies share the expected outlay of {musd(total)} "
                         f"{words.get(rule, f'by rule {rule}')} (rule {rule}).")]
    rows = []
    for a, v in mech["contributions"].items():
        row = {"ally": a, "share (%)": round(v["share"] * 100, 1),
               "contribution (MUSD)": round(v["contribution_musd"], 1),
               "budget cap (MUSD; blank: none)": None if v.get("budget_cap_musd") is None
               else round(v["budget_cap_musd"], 1)}
        if v.get("consumer_cost_musd") or v.get("tariff_revenue_musd"):
            row["consumer cost (MUSD)"] = round(v["consumer_cost_musd"], 1)
            row["tariff revenue (MUSD)"] = round(v["tariff_revenue_musd"], 1)
        row["net cost (MUSD)"] = round(v["net_cost_musd"], 1)
        if "stand_alone_musd" in bs:
            row["total cost incl. own shortfall (MUSD)"] = round(bs["total_cost_musd"][a], 1)
            row["stand-alone cost (MUSD)"] = round(bs["stand_alone_musd"][a], 1)
            row["saving from joining (MUSD)"] = round(bs["saving_musd"][a], 1)
        rows.append(row)
    df = pd.DataFrame(rows)
    caps = pd.to_numeric(df["budget cap (MUSD; blank: none)"], errors="coerce")
    df["budget cap (MUSD; blank: none)"] = caps.where(caps < 1e12)  # no cap: blank
    blocks.append(Table(df))
    if "stand_alone_musd" in bs:
        blocks.append(Para(stability_text(bs)))
    return blocks


def stability_text(bs: dict) -> str:
    if bs.get("core_empty"):
        return (f"The core is empty: the split lies in the least core, where every group of "
                f"allies pays at most {bs['epsilon_musd']:,.2f} MUSD more than on its own.")
    return ("Stable: the split lies in the core; no ally or group of allies pays less on its "
            f"own ({bs.get('coalitions', '?')} coalitions solved).")


def legal_section(res: Result) -> list:
    """The trade-law screening tags of the instruments the mechanism uses."""
    from remech.legal import NOTE, tag_frame

    section = res.doc.get("legal_risk")
    blocks: list = [Heading("Trade-law screening (not legal advice)", 3)]
    if section is None:
        return blocks + [Para("This result has no trade-law screening (written by an older "
                              "remech); solve again to add it.", "note")]
    blocks.append(Para(NOTE, "note"))
    if not section["instruments"]:
        blocks.append(Para("The mechanism uses no instrument: nothing to screen."))
    else:
        blocks.append(Para(f"Highest screen: {section['highest_screen']}. " + "; ".join(
            f"{r['name']} ({r['used']}): {r['screen']}" for r in section["instruments"])
            + "."))
        blocks.append(Table(tag_frame(section)))
    for name, why in (section.get("excluded_by_design") or {}).items():
        blocks.append(Para(f"Left out by the design's [legal] exclude: {name} "
                           f"({', '.join(why)}).", "note"))
    return blocks


def mechanism_section(res: Result) -> list:
    mech = res.doc
    blocks: list = [Heading("The recommended mechanism", anchor="mechanism"),
                    status_text(mech)]
    if (mech.get("stockpile_policy") or {}).get("clairvoyant_bound"):
        blocks.append(Para(mech["stockpile_policy"]["meaning"], "warning"))
    blocks += [Heading("Price floors and contracted projects", 3),
               Bullets(floor_items(res) + plant_items(res))]
    chain = chain_items(res)
    if chain:
        blocks += [Heading("Offtakes and the value chain", 3), Bullets(chain)]
    blocks += [Heading("Stockpiles", 3), Bullets(stockpile_items(res)),
               Heading("Costs, risk and shortfall", 3), Bullets(cost_items(res)),
               Heading("Who pays what", 3), *who_pays(res), *legal_section(res)]
    return blocks


# -- charts of a solve ------------------------------------------------------------------

def cost_chart(res: Result) -> Chart | None:
    sc = res.tables.get("scenario_costs.csv")
    if sc is None or sc.empty:
        return None
    c = res.doc["costs"]
    values, prob = sc["total_cost_musd"].to_numpy(float), sc["probability"].to_numpy(float)
    bins = min(30, max(5, len(values) // 3))
    span = float(values.max() - values.min())
    edges = (np.histogram_bin_edges(values, bins=bins) if span > 1e-9
             else np.array([values.min() - 0.5, values.max() + 0.5]))
    heights, edges = np.histogram(values, bins=edges, weights=prob)
    alpha = int(c["cvar_alpha"] * 100)
    return Chart(
        "cost_distribution", "Cost across scenarios",
        f"total cost of a scenario (MUSD, discounted to {c['discounted_to_year']})",
        "probability (the bars sum to 1)", res.caption(
            f"Probability-weighted histogram of the cost of each of the {len(values)} "
            f"scenarios (outlay plus shortfall loss); expected cost "
            f"{musd(c['expected_cost_musd'])}, CVaR{alpha} {musd(c['cvar_cost_musd'])}."),
        [Trace("bar", "scenarios", x=(edges[:-1] + edges[1:]) / 2, y=heights,
               width=float(edges[1] - edges[0]) * 0.95, color=PALETTE[0]),
         Trace("vline", f"expected cost {c['expected_cost_musd']:,.0f}",
               value=c["expected_cost_musd"], color=PALETTE[2]),
         Trace("vline", f"CVaR{alpha} {c['cvar_cost_musd']:,.0f}", value=c["cvar_cost_musd"],
               color=PALETTE[3], dash=True)],
        bar_mode="overlay")


def ally_chart(res: Result) -> Chart:
    """Each ally's expected contribution with its 5-95 % range over scenarios; net cost
    and stand-alone cost where the result has them."""
    mech = res.doc
    allies = list(mech["contributions"])
    contrib = [mech["contributions"][a]["contribution_musd"] for a in allies]
    bar = Trace("bar", "contribution (expected)", x=allies, y=contrib, color=PALETTE[0])
    by_scen, sc = res.tables.get("contributions_by_scenario.csv"), \
        res.tables.get("scenario_costs.csv")
    if by_scen is not None and sc is not None and set(allies) <= set(by_scen.columns):
        pct = weighted_percentiles(by_scen[allies].to_numpy(float),
                                   sc["probability"].to_numpy(float), (0.05, 0.95))
        bar = Trace("bar", "contribution (expected; whiskers: 5-95 % of scenarios)",
                    x=allies, y=contrib, err_low=np.minimum(pct[0.05], contrib),
                    err_high=np.maximum(pct[0.95], contrib), color=PALETTE[0])
    traces = [bar]
    net = [mech["contributions"][a]["net_cost_musd"] for a in allies]
    if any(abs(n - c) > 1e-6 for n, c in zip(net, contrib, strict=True)):
        traces.append(Trace("bar", "net cost (contribution + consumer cost - tariff "
                            "revenue)", x=allies, y=net, color=PALETTE[1]))
    bs = mech.get("burden_sharing") or {}
    note, mark = "", ""
    if "stand_alone_musd" in bs:
        mark = "; core empty: least core" if bs.get("core_empty") else "; stable: in the core"
        traces += [Trace("bar", "total cost inside the deal (incl. own shortfall loss)",
                         x=allies, y=[bs["total_cost_musd"][a] for a in allies],
                         color=PALETTE[2]),
                   Trace("bar", "stand-alone cost (outside the deal)", x=allies,
                         y=[bs["stand_alone_musd"][a] for a in allies], color=PALETTE[7])]
        note = " " + stability_text(bs)
    return Chart("ally_contributions",
                 f"What each ally pays (rule {bs.get('rule', '?')}{mark})",
                 "ally", "MUSD (expected, discounted)",
                 res.caption("Each ally's expected contribution to the mechanism's outlay "
                             "under the burden-sharing rule; whiskers: the range of its "
                             f"payment over 90 % of the scenarios.{note}"),
                 traces, categorical_x=True)


def fan_charts(res: Result) -> list[Chart]:
    """Per product: percentile bands of the instance prices, the floor as a line."""
    inst, mech = res.instance, res.doc
    if inst is None:
        return []
    prob = inst.scenarios.set_index("scenario")["probability"].astype(float)
    prices = inst.prices.pivot_table(index=["scenario", "product"], columns="year",
                                     values="price_usd_per_kg")
    years = [int(y) for y in prices.columns]
    charts = []
    for code in mech["floors_usd_per_kg"]:
        if code not in prices.index.get_level_values("product"):
            continue
        grid = prices.xs(code, level="product").reindex(prob.index)
        traces = fan_traces(years, grid.to_numpy(float), prob.to_numpy(), "price",
                            PALETTE[0])
        history, cited = _history_traces(code)
        traces = history + traces
        floor = mech["floors_usd_per_kg"][code]
        ref = (mech.get("tariff_reference_usd_per_kg") or {}).get(code)
        if floor:
            traces.append(Trace("hline", f"floor {floor:g} USD/kg", value=floor,
                                color=PALETTE[3], dash=True))
        if ref:
            traces.append(Trace("hline", f"tariff reference {ref:g} USD/kg", value=ref,
                                color=PALETTE[4], dash=True))
        chosen = f"floor {floor:g} USD/kg" if floor else (
            f"tariff reference {ref:g} USD/kg" if ref else "no floor chosen")
        charts.append(Chart(
            f"fan_{code}", f"{_product(res, code)}: scenario prices, {chosen}",
            "year", "price received by allied producers (USD/kg)",
            res.caption(f"Percentile bands (5-95 %, 25-75 %) and median of the "
                        f"{len(prob)} scenario prices of {code}, weighted by probability; "
                        f"{chosen}." + (f" History: annual FOB China oxide averages (USGS "
                                         f"MCS, Argus data) {cited}." if history else "")),
            traces))
    return charts


def _history_traces(code: str) -> tuple[list[Trace], str]:
    """The product's annual price history and its proxy's (NdPr: Nd oxide from 2011), as
    lines before the fan, and the source keys drawn."""
    from remech.plots import history_for

    h = history_for(code)
    traces = []
    if len(h["proxy"]):
        traces.append(Trace("line", f"history {h['proxy_code']} oxide (proxy), USD/kg",
                            x=[int(y) for y in h["proxy"]["year"]],
                            y=[float(v) for v in h["proxy"]["price_usd_per_kg"]],
                            color="#7f7f7f", dash=True))
    if len(h["own"]):
        traces.append(Trace("line", f"history {code}, USD/kg",
                            x=[int(y) for y in h["own"]["year"]],
                            y=[float(v) for v in h["own"]["price_usd_per_kg"]],
                            color="#000000"))
    keys = [k for k in h["sources"]
            if any(f"[{k}]" in str(c) for c in (*h["own"]["source"], *h["proxy"]["source"]))]
    return traces, " ".join(f"[{k}]" for k in keys)


def stockpile_charts(res: Result) -> list[Chart]:
    """Per built stockpile: percentile bands of the stock level over scenarios."""
    pol, sc = res.tables.get("stockpile_policy.csv"), res.tables.get("scenario_costs.csv")
    built = [s for s in res.doc.get("stockpiles") or [] if s["built"]]
    if pol is None or sc is None or not built:
        return []
    prob = sc.set_index("scenario")["probability"].astype(float)
    targets = (res.doc.get("stockpile_policy") or {}).get("target_t_by_year") or {}
    policy = (res.doc.get("stockpile_policy") or {}).get("policy", "?")
    charts = []
    for s in built:
        grid = pol[pol["product"] == s["product"]].pivot_table(
            index="scenario", columns="year", values="level_t").reindex(prob.index)
        years = [int(y) for y in grid.columns]
        traces = fan_traces(years, grid.to_numpy(float), prob.to_numpy(), "stock level",
                            PALETTE[2])
        if targets.get(s["product"]) and len(targets[s["product"]]) == len(years):
            traces.append(Trace("line", "target level (policy rule)", x=years,
                                y=targets[s["product"]], color=PALETTE[1], dash=True))
        traces.append(Trace("hline", f"capacity {s['capacity_t']:,.0f} t",
                            value=s["capacity_t"], color=PALETTE[7], dash=True))
        bound = " (clairvoyant bound)" if policy == "clairvoyant" else ""
        charts.append(Chart(
            f"stockpile_{s['product']}",
            f"{_product(res, s['product'])}: stockpile level{bound}",
            "year (end of year)", "stock level (t)",
            res.caption(f"Percentile bands (5-95 %, 25-75 %) and median over scenarios of "
                        f"the {s['product']} stock at the end of each year, policy "
                        f"{policy}, with the stockpile's capacity."), traces))
    return charts


def shortfall_chart(res: Result) -> tuple[Chart | None, str | None]:
    """Expected shortfall by product and year (shortfall.csv), or by product over the
    horizon for results written before shortfall.csv existed (with a note)."""
    short, sc = res.tables.get("shortfall.csv"), res.tables.get("scenario_costs.csv")
    if short is not None and sc is not None:
        prob = sc.set_index("scenario")["probability"].astype(float)
        df = short.assign(w=short["scenario"].map(prob) * short["shortfall_t"])
        exp = df.groupby(["product", "year"], sort=False)["w"].sum()
        products = list(dict.fromkeys(short["product"]))
        traces = [Trace("bar", p, x=[int(y) for y in exp[p].index], y=exp[p].to_numpy(),
                        color=PALETTE[i % len(PALETTE)]) for i, p in enumerate(products)]
        return Chart("shortfall", "Expected shortfall by product and year", "year",
                     "expected shortfall (t)",
                     res.caption("Allied demand not met (t), probability-weighted over "
                                 "scenarios, per product and year."), traces,
                     categorical_x=True), None
    if not res.doc.get("shortfall"):
        return None, None
    items = res.doc["shortfall"]
    return Chart("shortfall", "Expected shortfall by product over the horizon", "product",
                 "expected shortfall (t)",
                 res.caption("Allied demand not met over the horizon (t), expected."),
                 [Trace("bar", "expected shortfall", x=list(items),
                        y=[v["expected_t"] for v in items.values()])],
                 categorical_x=True), ("this result has no shortfall.csv (written by an "
                                       "older remech): shortfall is shown per product over "
                                       "the horizon, not per year; solve again for years")


def charts_section(res: Result) -> list:
    blocks: list = [Heading("Charts", anchor="charts")]
    charts = [cost_chart(res), ally_chart(res), *fan_charts(res), *stockpile_charts(res)]
    chart, note = shortfall_chart(res)
    charts.append(chart)
    if res.instance is None:
        blocks.append(Para("Price fan charts left out: the instance was not found (see "
                           "Assumptions and sources).", "note"))
    if note:
        blocks.append(Para(note, "note"))
    return blocks + [Figure(c) for c in charts if c is not None]


# -- assumptions and sources ------------------------------------------------------------

def _design_text(mech: dict) -> tuple[str | None, str | None]:
    """The design file's text if it is still the file that was solved; else a note."""
    import hashlib

    info = mech.get("design") or {}
    path = Path(info.get("path") or "")
    if not info.get("path") or not path.is_file():
        return None, f"the design file {info.get('path')} is not there any more"
    raw = path.read_bytes()
    if info.get("sha256") and hashlib.sha256(raw).hexdigest() != info["sha256"]:
        return None, f"the design file {path} changed since the solve (SHA-256 differs)"
    return raw.decode("utf-8", errors="replace"), None


def sources_blocks(res: Result) -> list:
    if res.instance is None or res.instance.sources is None:
        return [Para("The instance's sources.csv is not shown: the instance was not "
                     "found.", "note")]
    df = res.instance.sources[["key", "title", "url"]].fillna("")
    return [Heading("Sources (the instance's sources.csv)", 3), Table(df, links=("url",))]


def assumptions_section(res: Result) -> list:
    mech = res.doc
    inst, design, solver = mech["instance"], mech["design"], mech.get("solver", {})
    items = [f"Instance {inst['name']} ({inst.get('path')}; SHA-256 "
             f"{str(inst.get('sha256'))[:12]}...)"
             + (f": {res.instance.description} Years {res.instance.years[0]}-"
                f"{res.instance.years[-1]}, discount rate {res.instance.discount_rate:g}."
                if res.instance is not None else "."),
             f"Design {design['name']} ({design.get('path')}; SHA-256 "
             f"{str(design.get('sha256'))[:12]}...).",
             f"Stockpile policy: {(mech.get('stockpile_policy') or {}).get('meaning', 'n/a')}.",
             f"Solver: HiGHS {solver.get('highs_version', '?')}, seed "
             f"{solver.get('random_seed', 0)}, MIP gap tolerance "
             f"{solver.get('mip_rel_gap', '?')}, time limit {solver.get('time_limit_s')} s; "
             f"status {mech['status']}.",
             "Software: " + ", ".join(f"{k} {v}" for k, v in
                                      (mech.get("software") or {}).items()) + "."]
    given = {**inst.get("overrides", {}), **design.get("overrides", {})}
    if given:
        items.insert(2, "Overrides applied to these files for this solve (--set): " + ", ".join(
            f"{k} = {json.dumps(v)}" for k, v in given.items()) + f"; effective SHA-256 of "
            f"the design {str(design.get('effective_sha256'))[:12]}..., of the instance "
            f"{str(inst.get('effective_sha256'))[:12]}...; the design file below is shown "
            "as it is on disk, before the overrides.")
    if mech.get("costs"):
        c = mech["costs"]
        items.append(f"Objective: expected cost + {c['risk_weight']:g} x CVaR"
                     f"{int(c['risk_alpha'] * 100)}; costs discounted to "
                     f"{c['discounted_to_year']}.")
    blocks: list = [Heading("Assumptions and sources", anchor="assumptions")]
    if (mech.get("stockpile_policy") or {}).get("clairvoyant_bound"):
        blocks.append(Para(mech["stockpile_policy"]["meaning"], "warning"))
    blocks += [Bullets(items)] + [Para(f"Note: {n}.", "note") for n in res.notes]
    text, note = _design_text(mech)
    blocks.append(Heading("Design file", 3))
    blocks.append(Pre(text) if text is not None else Para(f"Not shown: {note}.", "note"))
    return blocks + sources_blocks(res)


def solve_document(res: Result) -> Document:
    mech = res.doc
    title = f"remech report: {mech['instance']['name']} x {mech['design']['name']}"
    sub = (f"Recommended price-support mechanism; result folder {res.folder}; "
           f"remech {__version__}")
    doc = Document(title, sub)
    if "costs" not in mech:
        doc.add(Heading("No mechanism"), status_text(mech),
                Para(f"HiGHS found no mechanism (status {mech['status']}); "
                     + ("conflicting: " + "; ".join(mech["conflict"]) if mech.get("conflict")
                        else "see highs.log in the result folder") + ".", "warning"))
        doc.add(*assumptions_section(res))
        return doc
    doc.add(*mechanism_section(res), *charts_section(res), *assumptions_section(res))
    return doc


# -- designs side by side (remech compare) ----------------------------------------------

def compare_rows(res: Result) -> tuple[list[dict], list[dict]]:
    rows = res.doc.get("designs") or []
    return [r for r in rows if "expected_cost_musd" in r], \
        [r for r in rows if "expected_cost_musd" not in r]


def cost_per_t_avoided(r: dict) -> float | None:
    """Extra outlay against the baseline per tonne of expected shortfall avoided
    (MUSD/t x 1000 = USD/kg); None when nothing is avoided."""
    vs = r.get("vs_baseline")
    if not vs:
        return None
    avoided = sum(vs["shortfall_avoided_t"].values())
    return vs["extra_outlay_musd"] * 1e3 / avoided if avoided > 1e-6 else None


def _floor_cell(r: dict, p: str) -> str:
    ref = (r.get("tariff_reference_usd_per_kg") or {}).get(p)
    floor = r["floors_usd_per_kg"][p]
    share = (r.get("upside_share") or {}).get(p) or 0.0
    if ref:
        return f"{p} tariff ref. {ref:g}"
    if floor is None:
        return f"{p} none"
    return f"{p} {floor:g}" + (f" (+{share * 100:g} % collar)" if share else "")


def compare_table(ok: list[dict]) -> pd.DataFrame:
    out = []
    for r in ok:
        vs = r.get("vs_baseline") or {}
        per_t = cost_per_t_avoided(r)
        out.append({
            "design": r["design"], "status": r["status"],
            "floors (USD/kg)": ", ".join(_floor_cell(r, p) for p in r["floors_usd_per_kg"]),
            "stockpiles (t)": ", ".join(f"{p} {v:,.0f}" for p, v in r["stockpiles_t"].items())
            or "none",
            "expected cost (MUSD)": round(r["expected_cost_musd"], 1),
            "expected outlay (MUSD)": round(r["expected_outlay_musd"], 1),
            "CVaR95 (MUSD)": round(r["cvar95_cost_musd"], 1),
            "saving vs baseline (MUSD)": round(vs["expected_cost_saving_musd"], 1)
            if vs else None,
            "shortfall avoided (t)": round(sum(vs["shortfall_avoided_t"].values()))
            if vs else None,
            "extra outlay per t avoided (kUSD/t = USD/kg)":
                None if per_t is None else round(per_t, 1),
            "trade-law screen (not legal advice)": ", ".join(
                f"{k} {v}" for k, v in (r.get("legal_screen") or {}).items()) or "none",
        })
    return pd.DataFrame(out)


def compare_words(res: Result, ok: list[dict], failed: list[dict]) -> list:
    rows = res.doc.get("designs") or []
    baseline = next((r["vs_baseline"]["baseline"] for r in ok if r.get("vs_baseline")), None)
    sweep = res.kind == "sweep"
    blocks: list = [Heading("The points of the sweep side by side" if sweep else
                            "The designs side by side", anchor="mechanism")]
    if sweep:
        blocks.append(Para(sweep_text(res)))
    if not ok:
        return blocks + [Para("No design produced a mechanism.", "warning")]
    best = min(ok, key=lambda r: r["expected_cost_musd"])
    text = (f"{len(rows)} {'points' if sweep else 'designs'} solved on instance "
            f"{res.doc.get('instance', {}).get('name', '?')}. Lowest expected cost: "
            f"{best['design']}, {musd(best['expected_cost_musd'])}")
    if best.get("vs_baseline"):
        text += (f", {musd(best['vs_baseline']['expected_cost_saving_musd'])} less than the "
                 f"baseline {baseline}")
    blocks.append(Para(text + "."))
    if baseline is None and not sweep:
        blocks.append(Para("No baseline design among the results: savings are not shown "
                           "(give --baseline with the name of a compared design).", "note"))
    blocks.append(Table(compare_table(ok)))
    blocks.append(Para("Saving: the baseline's expected cost minus the design's. Extra outlay "
                       "per t avoided: the design's expected outlay above the baseline's, "
                       "divided by the expected shortfall it avoids (all products, t); "
                       "USD/kg, comparable to the shortfall penalties. Trade-law screen: the "
                       "highest screening tag of each instrument used (remech.legal: high, "
                       "medium, low; a screening aid with its basis in each result's report, "
                       "not legal advice).", "note"))
    for r in failed:
        blocks.append(Para(f"{r['design']}: {r['status']}"
                           + (f" ({r.get('error') or '; '.join(r.get('conflict', []))})"
                              if r.get("error") or r.get("conflict") else "") + ".",
                           "warning"))
    return blocks


def compare_charts(res: Result, ok: list[dict]) -> list[Chart]:
    ok = sorted(ok, key=lambda r: r["expected_cost_musd"])
    names = [r["design"] for r in ok]
    outlay = [r["expected_outlay_musd"] for r in ok]
    rest = [r["expected_cost_musd"] - r["expected_outlay_musd"] for r in ok]
    charts = [Chart("compare_cost", "Expected cost by design", "design",
                    "expected cost (MUSD, discounted)",
                    res.caption("Expected cost of each design split into the mechanism's "
                                "outlay and the shortfall loss (with any target penalties), "
                                "cheapest first."),
                    [Trace("bar", "outlay", x=names, y=outlay, color=PALETTE[0]),
                     Trace("bar", "shortfall loss and penalties", x=names, y=rest,
                           color=PALETTE[1])], bar_mode="stack", categorical_x=True)]
    with_vs = [r for r in ok if r.get("vs_baseline")]
    if with_vs:
        base = with_vs[0]["vs_baseline"]["baseline"]
        charts.append(Chart(
            "compare_saving", f"Saving against {base}", "design",
            "expected cost saving (MUSD, discounted)",
            res.caption(f"The baseline {base}'s expected cost minus each design's."),
            [Trace("bar", "saving", x=[r["design"] for r in with_vs],
                   y=[r["vs_baseline"]["expected_cost_saving_musd"] for r in with_vs],
                   color=PALETTE[2])], categorical_x=True))
    products = list(ok[0]["expected_shortfall_t"])
    charts.append(Chart(
        "compare_shortfall", "Expected shortfall by design", "design",
        "expected shortfall over the horizon (t)",
        res.caption("Allied demand not met over the horizon per product, expected."),
        [Trace("bar", p, x=names, y=[r["expected_shortfall_t"][p] for r in ok],
               color=PALETTE[i % len(PALETTE)]) for i, p in enumerate(products)],
        categorical_x=True))
    allies = list(ok[0]["ally_cost_musd"])
    charts.append(Chart(
        "compare_allies", "What each ally pays, by design", "ally",
        "net cost (MUSD, expected, discounted)",
        res.caption("Each ally's net cost (contribution plus consumer cost minus tariff "
                    "revenue) under each design."),
        [Trace("bar", r["design"], x=allies, y=[r["ally_cost_musd"][a] for a in allies],
               color=PALETTE[i % len(PALETTE)]) for i, r in enumerate(ok)],
        categorical_x=True))
    return charts


def sweep_text(res: Result) -> str:
    axes = res.doc.get("axes") or {}
    fixed = res.doc.get("fixed") or {}
    text = (f"Design {res.doc['design']['name']} solved at every combination of "
            + "; ".join(f"{k} = {', '.join(json.dumps(v) for v in vals)}"
                        for k, vals in axes.items()) + ".")
    if fixed:
        text += " At every point: " + ", ".join(f"{k} = {json.dumps(v)}"
                                                 for k, v in fixed.items()) + "."
    return text


def _swept_number(value) -> float | None:
    """A point's swept value as a number: itself, or the level of a one-level menu."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def sweep_charts(res: Result, ok: list[dict]) -> list[Chart]:
    """With one swept key of numbers: cost in both views, each ally's net cost and the
    chosen floors against the swept value."""
    axes = list(res.doc.get("axes") or {})
    if len(axes) != 1:
        return []
    key = axes[0]
    pts = sorted(((_swept_number(r["point"].get(key)), r) for r in ok),
                 key=lambda p: (p[0] is None, p[0] or 0.0))
    if not pts or any(x is None for x, _ in pts):
        return []
    xs, rows = [x for x, _ in pts], [r for _, r in pts]
    name = key.split(".")[-1]
    cost = Chart("sweep_cost", f"Expected cost against {name}", key,
                 "expected cost (MUSD, discounted)",
                 res.caption(f"Expected cost of the mechanism solved at each value of {key}, "
                             f"in the fiscal and the economic view (the design minimises "
                             f"the {rows[0].get('view', 'fiscal')} view)."),
                 [Trace("line", "fiscal view", x=xs, y=[r["fiscal_cost_musd"] for r in rows],
                        color=PALETTE[0]),
                  Trace("line", "economic view", x=xs,
                        y=[r["economic_cost_musd"] for r in rows], color=PALETTE[1])])
    allies = list(rows[0]["ally_cost_musd"])
    bills = Chart("sweep_allies", f"What each ally pays against {name}", key,
                  "net cost (MUSD, expected, discounted)",
                  res.caption(f"Each ally's net cost at each value of {key}."),
                  [Trace("line", a, x=xs, y=[r["ally_cost_musd"][a] for r in rows],
                         color=PALETTE[i % len(PALETTE)]) for i, a in enumerate(allies)])
    products = list(rows[0]["floors_usd_per_kg"])
    floors = Chart("sweep_floors", f"Chosen floors against {name}", key,
                   "floor chosen (USD/kg; gap: no floor)",
                   res.caption(f"The floor level the solve chose for each product at each "
                               f"value of {key} (no point: no floor)."),
                   [Trace("line", p, x=xs, y=[float("nan") if r["floors_usd_per_kg"][p] is None
                                              else r["floors_usd_per_kg"][p] for r in rows],
                          color=PALETTE[i % len(PALETTE)]) for i, p in enumerate(products)])
    return [cost, bills, floors]


def compare_document(res: Result) -> Document:
    """The report of a compare result, or of a sweep (its points side by side, and charts
    against the swept value)."""
    ok, failed = compare_rows(res)
    inst = res.doc.get("instance") or {}
    title = (f"remech report: sweep of {res.doc['design']['name']} on {inst.get('name', '?')}"
             if res.kind == "sweep" else
             f"remech report: designs compared on {inst.get('name', '?')}")
    doc = Document(title, f"Result folder {res.folder}; remech {__version__}")
    doc.add(*compare_words(res, ok, failed))
    if ok:
        charts = (sweep_charts(res, ok) if res.kind == "sweep" else []) + \
            compare_charts(res, ok)
        doc.add(Heading("Charts", anchor="charts"), *[Figure(c) for c in charts])
    if res.doc.get("overrides"):
        notes = ["Overrides at every design (--set): " + ", ".join(
            f"{k} = {json.dumps(v)}" for k, v in res.doc["overrides"].items()) + "."]
    else:
        notes = []
    items = [f"Instance {inst.get('name', '(not recorded)')} ({inst.get('path', '?')}).",
             *notes,
             ("Points: " + "; ".join(f"{r['design']}" for r in res.doc.get("designs") or [])
              + f" (design file {res.doc['design'].get('path')})." if res.kind == "sweep" else
              "Designs: " + "; ".join(f"{r['design']} ({r.get('file')})"
                                      for r in res.doc.get("designs") or []) + "."),
             "Every design was solved with HiGHS defaults (seed 0) in its own process."]
    doc.add(Heading("Assumptions and sources", anchor="assumptions"), Bullets(items),
            *[Para(f"Note: {n}.", "note") for n in res.notes], *sources_blocks(res))
    return doc


# -- writing ----------------------------------------------------------------------------

@dataclass
class Written:
    html: Path
    markdown: Path
    charts: Path
    notes: list[str]


def _ours(path: Path) -> bool:
    """A file or folder remech wrote: registered in its folder's marker, a chart folder
    with its own marker, or a report carrying remech's signature."""
    folder = path.parent
    if is_result(folder) and path.name in (read_marker(folder).get("files") or []):
        return True
    if path.is_dir():
        return read_marker(path).get("kind") == "report-charts" if is_result(path) else False
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(600)
    except OSError:
        return False
    return (f'<meta name="generator" content="{SIGNATURE}' in head
            or head.startswith(f"<!-- {SIGNATURE}"))


def targets(folder: Path, out: Path | None) -> tuple[Path, Path, Path]:
    """The HTML, Markdown and chart-folder paths; InputError if any exists and remech did
    not write it."""
    html = Path(out) if out is not None else Path(folder) / "report.html"
    if html.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"-o {out}: give a file name ending in .html (the Markdown twin "
                         "and its charts folder are written next to it)")
    paths = (html, html.with_suffix(".md"), html.with_name(f"{html.stem}-charts"))
    for path in paths:
        if path.is_symlink() or (path.exists() and not _ours(path)):
            option = "-o " if out is not None else ""
            raise InputError(f"{option}{path}: exists and remech did not write it; remech "
                             f"overwrites only reports it wrote, so move it or choose "
                             f"another -o")
        if path.exists() and path.is_dir() != (path == paths[2]):
            raise InputError(f"{path}: exists and is a {'folder' if path.is_dir() else 'file'}"
                             "; move it or choose another -o")
    return paths


def _replace_dir(new: Path, dest: Path) -> None:
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def write_report(folder: Path, out: Path | None = None,
                 instance: Path | None = None) -> Written:
    """Render the report of a solve or compare result folder (see the module doc)."""
    res = load_result(folder, instance)
    html, md, charts = targets(folder, out)
    doc = solve_document(res) if res.kind == "solve" else compare_document(res)
    html.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    tmp_charts = charts.with_name(f".{charts.name}.tmp-{pid}")
    tmp_files = [p.with_name(f".{p.name}.tmp-{pid}") for p in (html, md)]
    try:
        shutil.rmtree(tmp_charts, ignore_errors=True)
        tmp_charts.mkdir()
        pngs = save_charts(doc, tmp_charts)
        write_marker(tmp_charts, "report-charts", [p.name for p in pngs])
        tmp_files[0].write_text(to_html(doc, __version__), encoding="utf-8")
        tmp_files[1].write_text(to_markdown(doc, charts.name), encoding="utf-8")
        _replace_dir(tmp_charts, charts)
        for tmp, dest in zip(tmp_files, (html, md), strict=True):
            os.replace(tmp, dest)
    except OSError as exc:
        raise InputError(f"{html}: could not write the report ({exc.strerror or exc}); "
                         "free space or fix permissions, or choose another -o") from None
    finally:
        shutil.rmtree(tmp_charts, ignore_errors=True)
        for tmp in tmp_files:
            tmp.unlink(missing_ok=True)
    if is_result(html.parent):
        register_files(html.parent, [html.name, md.name, charts.name,
                                     *(f"{charts.name}/{p.name}" for p in pngs)])
    return Written(html, md, charts, res.notes)
