"""``remech new NAME``: a new instance folder from commented templates.

The templates describe a small world that ``remech validate`` accepts and ``remech solve``
solves (two allies, one product, one existing and one new project, two years, two
scenarios: one with an export-control cut; as written, the optimum is the 80 USD/kg floor
that makes the new plant bankable), so that a user edits working files rather than
starting from an empty page. TOML files carry their comments inline; CSV files cannot, so
README.md in the folder describes every column of every table (from the same schema the
reader checks, remech.instance.SCHEMAS). Every value is marked ``assumption: template`` and
must be replaced by a sourced figure. An existing folder is never touched. Data layer: no
Pyomo.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from remech.errors import InputError

SRC = "assumption: template value; replace with a sourced figure ([KEY] of sources.csv)"

INSTANCE_TOML = '''\
# {name}: a remech instance (the world, as data). Written by `remech new {name}` from
# templates: every number below and in the CSV files is a placeholder to replace.
# README.md in this folder describes each table's columns, units and checks;
# `remech validate {folder}` checks the folder after each edit.
[instance]
name = "{name}"
description = "Template: two allies, one product (NdPr oxide), two years, two scenarios."
# the horizon: every table's years must lie within it
first_year = 2027
last_year = 2028
# real social discount rate for public outlays, a fraction (0.05 = 5 %)
discount_rate = 0.05
# the design `remech solve` uses without --model: a file next to this one, or the name of
# a design shipped with remech (e.g. "floor-stockpile-grants")
default_model = "design.toml"
'''

DESIGN_TOML = '''\
# The mechanism design solved by default on this instance (see README, "Design format";
# `remech schema design` prints every key with its range and default).
[design]
name = "{name}-design"
description = "Template: a CfD price floor on NdPr oxide, no stockpile, no grants."

[instruments]
price_floor = true      # contract for difference: pays floor - market price when below
stockpile = false       # buyer-of-last-resort stockpile (needs stockpile.csv)
grants = false          # capex grants closing a project's bankability gap

[price_floor]
# the floor menu in USD/kg per product; "no floor" is always on the menu
levels_usd_per_kg = {{ NDPR = [60, 80] }}

[bankability]
# a new project is supported only if its NPV at the guaranteed price covers its capex:
# "expected" over the scenarios, a low "quantile", or the "worst" scenario
test = "expected"
hurdle_rate = 0.08      # discount rate of the project's NPV, a fraction
tail_years = 0          # years after the horizon counted at the last year's margin

[burden_sharing]
rule = "gdp"            # gdp | consumption | equal | custom | core

[objective]
view = "fiscal"         # fiscal (treasury outlay) or economic (allied welfare)
'''

TABLES = {
    "sources.csv": ("key,title,url\n"
                    "T1,Template: replace with the sources of your figures,\n"),
    "allies.csv": ("ally,name,role,gdp_usd_bn,budget_cap_musd,source\n"
                   f"US,United States,ally,30000,,{SRC}\n"
                   f"EU,European Union,ally,20000,1000,{SRC}\n"),
    "products.csv": ("product,name,stage,shortfall_penalty_usd_per_kg,source\n"
                     f"NDPR,NdPr oxide,separation,400,{SRC}\n"),
    "projects.csv": ("project,name,host,product,stage,status,capacity_t,start_year,"
                     "ramp_years,unit_cost_usd_per_kg,capex_musd,source\n"
                     f"OLD,Existing separation plant,US,NDPR,separation,existing,2000,2020,1,"
                     f"45,0,{SRC}\n"
                     f"NEW,New separation plant,EU,NDPR,separation,new,3000,2027,1,58,150,"
                     f"{SRC}\n"),
    "demand.csv": ("ally,product,year,demand_t,source\n"
                   + "".join(f"{a},NDPR,{y},{d},{SRC}\n" for y in (2027, 2028)
                             for a, d in (("US", 3000), ("EU", 5000)))),
    "supply.csv": ("product,year,china_supply_t,other_supply_t,source\n"
                   + "".join(f"NDPR,{y},8000,0,{SRC}\n" for y in (2027, 2028))),
    "scenarios.csv": ("scenario,probability,description,source\n"
                      f"calm,0.6,prices near the long-run level; China supplies,{SRC}\n"
                      f"cut,0.4,China cuts exports in 2028; prices spike,{SRC}\n"),
    "prices.csv": ("scenario,year,product,price_usd_per_kg,source\n"
                   + "".join(f"{s},{y},NDPR,{p},{SRC}\n" for s, y, p in (
                       ("calm", 2027, 55), ("calm", 2028, 50),
                       ("cut", 2027, 60), ("cut", 2028, 120)))),
    "availability.csv": ("scenario,year,product,china_availability,source\n"
                         f"cut,2028,NDPR,0.1,{SRC}\n"),
}

ABOUT = {
    "instance.toml": "name, horizon, discount rate and default design",
    "design.toml": "the default mechanism design (instruments, floor menus, bankability)",
    "sources.csv": "the sources that values cite as [KEY]",
    "allies.csv": "allies (members that pay and consume) and partners (host projects)",
    "products.csv": "products and the loss per kg of allied demand not met",
    "projects.csv": "existing and new non-Chinese projects",
    "demand.csv": "each ally's demand per product and year (every ally, product, year)",
    "supply.csv": "China's and other non-Chinese supply per product and year",
    "scenarios.csv": "price and export-control scenarios with probabilities (sum 1)",
    "prices.csv": "each scenario's price path (every scenario, year, product)",
    "availability.csv": "optional: China's availability (share of normal deliveries) in a "
                        "scenario and year; a missing row means 1 (no cut)",
}


def _readme(name: str) -> str:
    from remech.instance import OPTIONAL, SCHEMAS

    lines = [f"# {name}", "", "A remech instance written by `remech new` from templates. "
             "Every value is a placeholder marked `assumption: template value`: replace it "
             "with a sourced figure (cite a key of sources.csv as `[KEY]`, or say "
             "`assumption: ...`), then run `remech validate` on this folder.", "",
             "| file | what it holds |", "|---|---|"]
    lines += [f"| {f} | {what} |" for f, what in ABOUT.items()]
    for table in TABLES:
        if table == "sources.csv":
            continue
        lines += ["", f"## {table}" + (" (optional)" if table in OPTIONAL else ""), "",
                  "| column | type | allowed | meaning |", "|---|---|---|---|"]
        for c in SCHEMAS[table]:
            allowed = []
            if c.choices:
                allowed.append(" / ".join(c.choices))
            if c.minimum is not None:
                allowed.append(f"{'>' if c.exclusive_min else '>='} {c.minimum:g}")
            if c.maximum is not None:
                allowed.append(f"<= {c.maximum:g}")
            if c.allow_blank:
                allowed.append("may be blank")
            if not c.required:
                allowed.append("column optional")
            lines.append(f"| {c.name} | {c.kind} | {', '.join(allowed)} | {c.help} |")
    return "\n".join(lines) + "\n"


def scaffold(folder: str | Path) -> list[Path]:
    """Write a new instance folder ``folder`` from the templates; InputError if it exists.
    Returns the files written."""
    folder = Path(folder)
    if folder.exists() or folder.is_symlink():
        raise InputError(f"{folder}: already exists; remech new writes a new folder only, "
                         "choose another NAME (nothing was changed)")
    if not folder.parent.is_dir():
        raise InputError(f"{folder.parent}: folder not found; create it first or choose "
                         "another NAME")
    name = folder.name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError(f"{name!r}: not a usable instance name; use letters, digits, '-', "
                         "'_' and '.', e.g. remech new my-instance")
    texts = {"instance.toml": INSTANCE_TOML.format(name=name, folder=folder),
             "design.toml": DESIGN_TOML.format(name=name), **TABLES,
             "README.md": _readme(name)}
    # written next to it, then renamed: the folder appears whole or not at all
    tmp = folder.with_name(f".{name}.tmp-{os.getpid()}")
    try:
        tmp.mkdir()
        for file, text in texts.items():
            (tmp / file).write_text(text, encoding="utf-8")
        os.rename(tmp, folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{folder}: could not be written ({exc.strerror or exc}); check the "
                         "permissions or choose another NAME") from None
    return [folder / file for file in texts]
