"""Write results folders and print the summary of a mechanism (remech.mechanism)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from remech.errors import InputError
from remech.mechanism import as_json

#: table formats written on request next to the CSV files (which are always written: remech
#: report, simulate and compare read them): the module each needs and the extra holding it
TABLE_FORMATS = {"csv": None, "xlsx": "openpyxl", "parquet": "pyarrow"}
XLSX_NAME = "tables.xlsx"


def check_formats(formats) -> tuple[str, ...]:
    """The requested table formats, checked: known, and their library installed."""
    import importlib.util

    out = []
    for f in formats or ():
        f = str(f).lower().lstrip(".")
        if f not in TABLE_FORMATS:
            raise InputError(f"--format {f}: unknown; use one of: {', '.join(TABLE_FORMATS)}")
        module = TABLE_FORMATS[f]
        if module and importlib.util.find_spec(module) is None:
            raise InputError(f"--format {f}: needs {module}, which is not installed; pip "
                             "install 'remech[tables]' (or drop --format)")
        if f != "csv" and f not in out:
            out.append(f)
    return tuple(out)


def _plain_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts in object columns as JSON text, and a column of mixed types as text
    (what Excel and Parquet accept; CSV writes them as text anyway)."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = df[col]
        nested = values.map(lambda v: isinstance(v, list | dict | tuple))
        if nested.any():
            df[col] = values.map(lambda v: json.dumps(v) if isinstance(v, list | dict | tuple)
                                 else v)
        kinds = {type(v) for v in df[col] if v is not None and not
                 (isinstance(v, float) and pd.isna(v))}
        if len(kinds) > 1:
            df[col] = df[col].map(lambda v: v if v is None or
                                  (isinstance(v, float) and pd.isna(v)) else str(v))
    return df


def write_table_formats(folder: Path, tables: dict[str, pd.DataFrame],
                        formats: tuple[str, ...]) -> list[str]:
    """``tables`` as tables.xlsx (one sheet per table, named as the CSV file) and/or
    NAME.parquet next to NAME.csv; returns the names written."""
    written = []
    if "xlsx" in formats and tables:
        with pd.ExcelWriter(folder / XLSX_NAME, engine="openpyxl") as xl:
            for name, df in tables.items():
                _plain_cells(df).to_excel(xl, sheet_name=_sheet(name), index=False)
        written.append(XLSX_NAME)
    if "parquet" in formats:
        for name, df in tables.items():
            target = Path(name).with_suffix(".parquet").name
            _plain_cells(df).to_parquet(folder / target, index=False)
            written.append(target)
    return written


def _sheet(name: str) -> str:
    """An Excel sheet name (at most 31 characters) for a CSV file name."""
    return Path(name).stem[:31]


def write_results(outdir: Path, mech: dict, tables: dict[str, pd.DataFrame], force: bool,
                  extra_files: dict[str, Path] | None = None,
                  json_name: str = "mechanism.json", kind: str = "solve",
                  texts: dict[str, str] | None = None, formats=()) -> None:
    """Write everything to a temporary sibling folder, then swap it into ``outdir``
    (remech.outdir.replace_folder: marker file, previous result kept until the swap,
    fallback folder on a write error). ``formats`` ("xlsx", "parquet") add the tables in
    those formats (write_table_formats)."""
    from remech.outdir import replace_folder

    formats = check_formats(formats)

    def fill(folder: Path) -> None:
        (folder / json_name).write_text(json.dumps(as_json(mech), indent=2) + "\n")
        for name, df in tables.items():
            df.to_csv(folder / name, index=False)
        write_table_formats(folder, tables, formats)
        for name, text in (texts or {}).items():
            (folder / name).write_text(text)
        for name, path in (extra_files or {}).items():
            if Path(path).exists():
                shutil.copyfile(path, folder / name)

    replace_folder(Path(outdir), fill, force, kind)


def _decomposition_line(mech: dict, dec: dict, gap_text: str) -> str:
    """The status line of a decomposed solve: what the bounds certify."""
    def musd(x):
        return f"{x:,.1f}" if x is not None else "n/a"

    proved = "within the target gap" if mech["status"] == "optimal" else \
        f"not within the target gap {dec['target_gap'] * 100:g} %"
    return (f"status        {mech['status']} ({dec['method']} on mpi-sppy, {dec['ranks']} "
            f"ranks, {dec['iterations']} iterations: certified gap {gap_text} between the "
            f"outer bound {musd(dec['outer_bound_musd'])} and this mechanism's cost "
            f"{musd(dec['inner_bound_musd'])} MUSD, {proved})")


def _head_lines(mech: dict) -> list[str]:
    """Status, objective and costs."""
    lines = [f"remech: {mech['instance']['name']} x {mech['design']['name']}"]
    given = {**mech["instance"].get("overrides", {}), **mech["design"].get("overrides", {})}
    if given:
        lines.append("overrides     " + ", ".join(f"{k}={json.dumps(v)}" if not isinstance(
            v, str) else f"{k}={v}" for k, v in given.items()))
    gap = mech.get("mip_gap")
    gap_text = f"{gap * 100:.3f} %" if gap is not None else "n/a"
    dec = mech.get("decomposition")
    if dec is not None:
        lines.append(_decomposition_line(mech, dec, gap_text))
    elif mech["status"] == "optimal":
        lines.append(f"status        optimal (proved by HiGHS; relative gap {gap_text})")
    else:
        bound = mech.get("dual_bound_musd")
        bound_text = f"{bound:,.1f} MUSD" if bound is not None else "n/a"
        lines.append(f"status        {mech['status']} (HiGHS: {mech['highs_status']}; "
                     f"gap {gap_text}, bound {bound_text})")
    if "costs" not in mech:
        if mech.get("conflict"):
            lines.append("conflicting   " + "; ".join(mech["conflict"]))
        return lines
    c = mech["costs"]
    lines.append(f"objective     {mech['objective_musd']:,.1f} MUSD "
                 f"(expected cost{' + risk term' if c['risk_weight'] else ''}, "
                 f"discounted to {c['discounted_to_year']})")
    lines.append(_cost_line(c))
    lines.append(f"cost at risk  CVaR{int(c['cvar_alpha'] * 100)} {c['cvar_cost_musd']:,.1f} MUSD"
                 f" (worst scenario {c['worst_scenario_cost_musd']:,.1f})")
    if "views" in c:
        v = c["views"]
        lines.append(f"views         fiscal {v['fiscal']['expected_cost_musd']:,.1f} MUSD, "
                     f"economic {v['economic']['expected_cost_musd']:,.1f} MUSD (MCPF "
                     f"{c['mcpf']:g}); minimised: {c['view']}")
    return lines


def _cost_line(c: dict) -> str:
    """'expected cost X = outlay + ...' in the view the model minimised: every term shown,
    so that the parts add up to the total."""
    cat = c["by_category_musd"]
    economic = c.get("view") == "economic"
    outlay = f"outlay {c['expected_outlay_musd']:,.1f}"
    parts = [f"MCPF {c['mcpf']:g} x {outlay}" if economic else outlay]
    for key, label in (("consumer_cost_net", "consumers' tariff premium"),
                       ("shortfall_loss", "shortfall loss"),
                       ("target_penalty", "target penalties")):
        if cat.get(key) or key == "shortfall_loss":
            parts.append(f"{label} {cat.get(key, 0.0):,.1f}")
    text = f"expected cost {c['expected_cost_musd']:,.1f} MUSD = " + " + ".join(parts)
    if economic:
        gain = -cat.get("producer_surplus", 0.0)
        text += f" - producers' gain {gain if abs(gain) >= 0.05 else 0.0:,.1f}"
    return text


def summary(mech: Mapping) -> str:
    """The printed summary of a solve."""
    mech = as_json(mech)
    lines = _head_lines(mech)
    if "costs" not in mech:
        return "\n".join(lines)

    def floor_text(p, v):
        if v is None:
            return f"{p} none"
        share = mech.get("upside_share", {}).get(p, 0.0)
        collar = (f" (collar: {share * 100:g} % of the price above "
                  f"{mech['upside_cap_usd_per_kg'][p]:g} paid back)" if share else "")
        return f"{p} {v:g} USD/kg{collar}"

    lines.append("floors        " + ", ".join(
        floor_text(p, v) for p, v in mech["floors_usd_per_kg"].items()))
    tariffs = {p: v for p, v in mech.get("tariff_reference_usd_per_kg", {}).items() if v}
    if tariffs:
        cons = sum(v["consumer_cost_musd"] for v in mech["contributions"].values())
        rev = sum(v["tariff_revenue_musd"] for v in mech["contributions"].values())
        lines.append("tariffs       " + ", ".join(f"{p} reference {v:g} USD/kg"
                                                  for p, v in tariffs.items())
                     + f"; consumers pay {cons:,.1f}, tariff revenue {rev:,.1f} MUSD")
    for r in mech.get("last_resort_reserve", []):
        if r["expected_purchases_t"] < 0.5:
            continue
        lines.append(f"reserve       {r['product']}: buys {r['expected_purchases_t']:,.0f} t "
                     f"at the floor ({r['purchases_at_floor_musd']:,.1f} MUSD), sells back "
                     f"{r['expected_releases_t']:,.0f} t at {r['buyback_usd_per_kg']:g} USD/kg "
                     f"({r['buyback_revenue_musd']:,.1f} MUSD) (expected)")
    lines.append(plants_line(mech))
    if mech["grants_musd"]:
        lines.append(f"grants        {mech['grants_musd']:,.1f} MUSD")
    if mech.get("offtakes") is not None:
        lines.append("offtakes      " + (", ".join(
            f"{r['project']} at {r['price_usd_per_kg']:g} USD/kg "
            f"({r['expected_net_payment_musd']:,.1f} MUSD net)" for r in mech["offtakes"])
            or "none signed"))
    built = [s for s in mech["stockpiles"] if s["built"]]
    lines.append("stockpiles    " + (", ".join(
        f"{s['product']} {s['capacity_t']:,.0f} t" for s in built) if built else "none built")
        + (f"; policy {mech['stockpile_policy']['policy']}" if built else ""))
    if mech["stockpile_policy"]["clairvoyant_bound"]:
        lines.append("WARNING       " + mech["stockpile_policy"]["meaning"])
    lines.append("shortfall     " + ", ".join(
        f"{p} {v['expected_t']:,.0f} t ({v['expected_share'] * 100:.2f} %)"
        for p, v in mech["shortfall"].items()) + " expected over the horizon")
    for key, v in mech.get("shadow_prices", {}).items():
        lines.append(f"shadow price  {key}: {v['marginal_cost_musd']:,.3f} {v['unit']} "
                     "(integers fixed)")
    if "vss" in mech:
        v = mech["vss"]
        lines.append(f"VSS / EVPI    VSS {v['vss_musd']:,.1f} MUSD (EEV {v['eev_musd']:,.1f} - RP "
                     f"{v['rp_musd']:,.1f}), EVPI {v['evpi_musd']:,.1f} MUSD (RP - WS "
                     f"{v['ws_musd']:,.1f}); EV {v['ev_musd']:,.1f}")
    if mech.get("foresight"):
        f = mech["foresight"]
        gap = f["value_of_foresight_musd"]
        lines.append(f"foresight     clairvoyant bound {f['clairvoyant_musd']:,.1f} MUSD "
                     f"({f['status']}); value of foresight {gap:,.1f} MUSD over policy "
                     f"{f['policy']}" if gap is not None else
                     f"foresight     clairvoyant bound not found ({f['status']})")
    if "legal_risk" in mech:
        from remech.legal import screen_text

        lines.append(f"trade law     {screen_text(mech['legal_risk'])} (screening tags, not "
                     "legal advice: mechanism.json legal_risk)")
    lines.append(f"contributions ({mech['burden_sharing']['rule']}) " + ", ".join(
        f"{a} {v['contribution_musd']:,.1f}" for a, v in mech["contributions"].items())
        + " MUSD")
    return "\n".join(lines)


def plants_line(mech: Mapping) -> str:
    """The summary's line of supported plants: each with its lines (if it has several or
    its one line has another name) and its start year where the mechanism moved it."""
    parts = []
    for plant in mech.get("plants") or []:
        if not plant["supported"]:
            continue
        lines = plant["lines"].split()
        text = plant["plant"] if lines == [plant["plant"]] else \
            f"{plant['plant']} ({' '.join(lines)})"
        start, planned = plant.get("start_year"), plant.get("planned_start_year")
        if plant["status"] == "new" and start is not None and start != planned:
            text += f" from {start:g} (planned {planned:g})"
        parts.append(text)
    return f"plants        {len(parts)} supported: {', '.join(parts) if parts else '-'}"
