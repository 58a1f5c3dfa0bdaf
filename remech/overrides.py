"""Overrides: one run with a design key or an instance value changed, no file edited.

A key is dotted. Design keys are written as in the design file, ``SECTION.KEY`` or
``SECTION.KEY.NAME`` for a table entry::

    price_floor.levels_usd_per_kg.NDPR=[80]     objective.view=economic
    burden_sharing.rule=equal                    instruments.stockpile=false

Instance values start with ``instance.``: ``instance.discount_rate`` (instance.toml) or one
cell of a table keyed by its first column, ``instance.TABLE.ROW.COLUMN``::

    instance.products.NDPR.shortfall_penalty_usd_per_kg=500
    instance.allies.US.budget_cap_musd=400       (blank: no cap)

A value is read as TOML (``[80]``, ``0.3``, ``true``, ``"text"``); anything else is text
(``economic``). Design overrides are checked by the design file's schema
(remech.schema.DesignFile), instance cells by their column's checks (remech.tables) and the
instance's cross-table checks: the same one-line errors as the files, naming the
``--set`` that caused them. A run records its overrides and the SHA-256 of the *effective*
design and instance (``effective_sha256`` in mechanism.json). This module knows nothing of
Pyomo.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from remech.errors import InputError

INSTANCE = "instance"
#: instance tables whose rows are named by one key column: table -> (file, key column)
KEYED_TABLES = {"allies": ("allies.csv", "ally"), "products": ("products.csv", "product"),
                "projects": ("projects.csv", "project"),
                "stockpile": ("stockpile.csv", "product"),
                "reagents": ("reagents.csv", "reagent")}
#: instance.toml keys an override may change (not the horizon: the tables follow it)
INSTANCE_SCALARS = ("discount_rate",)
#: instance-wide scalings of the export-control overlay (remech sweep --tornado uses them);
#: 1 leaves the instance as it is
INSTANCE_SCALINGS = {
    "cut_severity": "multiplies every export-control cut, 1 - china_availability "
                    "(availability.csv), capped so that availability stays in [0, 1]",
    "cut_probability": "multiplies the total probability of the scenarios with an "
                       "export-control cut (any china_availability < 1); the other "
                       "scenarios share the rest in proportion to their probabilities",
}
EXAMPLE = "--set price_floor.levels_usd_per_kg.NDPR=[80]"
_KEY = re.compile(r"^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*$")


@dataclass(frozen=True)
class Override:
    """One override: a dotted key, its value (JSON-ready) and the text as given."""

    key: str
    value: Any
    text: str

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    @property
    def is_instance(self) -> bool:
        return self.parts[0] == INSTANCE


Overrides = tuple[Override, ...]


def _top_level_commas(text: str) -> list[int]:
    """Positions of the commas outside brackets, braces and quotes."""
    depth, quote, out = 0, "", []
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(i)
    return out


def split_values(text: str) -> list[str]:
    """``a,[b,c],d`` -> ``['a', '[b,c]', 'd']``: the commas that separate values."""
    cuts = [-1, *_top_level_commas(text), len(text)]
    return [text[a + 1:b].strip() for a, b in zip(cuts, cuts[1:], strict=False)]


def parse_value(text: str, where: str) -> Any:
    """A value as TOML reads it (list, number, boolean, quoted text, inline table), or the
    bare text; InputError naming ``where`` if it looks like TOML but is not."""
    s = text.strip()
    try:
        value = tomllib.loads(f"v = {s}")["v"]
    except tomllib.TOMLDecodeError:
        if s and s[0] in "[{\"'":
            raise InputError(f"{where}: '{s}' is not a TOML value; write lists as [80, 110], "
                             "text inside them in quotes ([\"LYN-EXP\"])") from None
        return s
    if not isinstance(value, str | int | float | bool | list | dict):
        return s  # a TOML date or time: keep the text
    return value


def parse_set(text: str, option: str = "--set") -> Override:
    """``KEY=VALUE`` from the command line, one value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"{option} {text}: not KEY=VALUE; write e.g. {EXAMPLE}")
    check_key(key, f"{option} {text}")
    value = parse_value(raw, f"{option} {text}")
    if isinstance(value, str) and _top_level_commas(raw.strip()):
        raise InputError(f"{option} {text}: several values; give one value per key here "
                         "(remech sweep solves several), or a list in brackets: [50, 80]")
    return Override(key, value, f"{key}={raw.strip()}")


def check_key(key: str, where: str) -> None:
    if not _KEY.match(key):
        raise InputError(f"{where}: '{key}' is not a dotted key; write SECTION.KEY or "
                         f"SECTION.KEY.NAME, e.g. {EXAMPLE}")


def as_overrides(items: Mapping[str, Any] | Iterable | None) -> Overrides:
    """Overrides from a mapping ``{key: value}`` (Python), or from Override objects or
    ``KEY=VALUE`` strings (command line); a key given twice is an error."""
    if items is None:
        return ()
    if isinstance(items, Mapping):
        out = []
        for key, value in items.items():
            check_key(str(key), f"override {key!r}")
            out.append(Override(str(key), _plain(value), f"{key}={value_text(_plain(value))}"))
    else:
        out = [o if isinstance(o, Override) else parse_set(str(o)) for o in items]
    seen: set[str] = set()
    for o in out:
        if o.key in seen:
            raise InputError(f"--set {o.key}: given twice; give each key once")
        seen.add(o.key)
    return tuple(out)


def _plain(value: Any) -> Any:
    """A JSON-ready copy: tuples to lists, numpy scalars to Python."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value


def value_text(value: Any) -> str:
    """A value as it would be written after ``--set KEY=``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def design_part(items: Overrides) -> Overrides:
    return tuple(o for o in items if not o.is_instance)


def instance_part(items: Overrides) -> Overrides:
    return tuple(o for o in items if o.is_instance)


def as_dict(items: Overrides) -> dict[str, Any]:
    """The overrides as mechanism.json records them (in the order given)."""
    return {o.key: o.value for o in items}


def label(items: Overrides) -> str:
    """A short name for a run with these overrides: ``NDPR=[80], view=economic``."""
    return ", ".join(f"{o.parts[-1]}={value_text(o.value)}" for o in items)


def effective_sha256(base_sha256: str, items: Overrides) -> str:
    """The base files' SHA-256 when nothing is overridden, else a SHA-256 of the files'
    hash and the overrides (canonical JSON)."""
    if not items:
        return base_sha256
    text = json.dumps([base_sha256, as_dict(items)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# -- design overrides -------------------------------------------------------------------

def apply_to_doc(doc: dict, items: Overrides, path: Path) -> dict:
    """A copy of a design file's TOML document with the overrides set."""
    doc = copy.deepcopy(doc)
    for o in items:
        node = doc
        for i, part in enumerate(o.parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            elif not isinstance(nxt, dict):
                head = ".".join(o.parts[:i + 1])
                raise InputError(f"--set {o.text}: {head} is a value in {path.name}, not a "
                                 f"table; set {head}=VALUE")
            node = nxt
        node[o.parts[-1]] = copy.deepcopy(o.value)
    return doc


def blame(items: Overrides, path: Path):
    """For remech.schema.validate: the ``--set`` a problem at ``loc`` comes from (the last
    one whose key and ``loc`` share their start), or the file."""
    def where(loc: tuple) -> str:
        parts = tuple(str(p) for p in loc if p != "*")
        for o in reversed(items):
            n = min(len(parts), len(o.parts))
            if parts[:n] == o.parts[:n]:
                return f"--set {o.text}:"
        return path.name
    return where


def canonical_sha256(data: Mapping) -> str:
    """SHA-256 of a JSON-ready mapping, keys sorted."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# -- instance overrides -----------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A value as a CSV cell holds it (None: blank)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) \
        else str(value)


def _unknown_instance_key(o: Override) -> InputError:
    return InputError(
        f"--set {o.text}: unknown instance key '{'.'.join(o.parts[1:])}'; use "
        f"instance.{'/'.join((*INSTANCE_SCALARS, *INSTANCE_SCALINGS))} or "
        "instance.TABLE.ROW.COLUMN with TABLE one "
        f"of {', '.join(KEYED_TABLES)} (e.g. instance.products.NDPR."
        "shortfall_penalty_usd_per_kg=500)")


def _set_cell(inst, o: Override, copied: set[str]) -> None:
    """One cell of a keyed table, checked as the file's cell would be."""
    from remech.instance import SCHEMAS
    from remech.tables import convert_value

    table, row, column = o.parts[1:]
    name, key = KEYED_TABLES[table]
    df = getattr(inst, table)
    cols = {c.name: c for c in SCHEMAS[name] if c.name not in (key, "source")}
    if column not in cols:
        close = difflib.get_close_matches(column, list(cols), n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(cols)}"
        raise InputError(f"--set {o.text}: {name} has no column '{column}' to override; {fix}")
    hit = df.index[df[key].astype(str) == row] if df is not None else []
    if not len(hit):
        known = ", ".join(df[key].astype(str).tolist()[:12]) if df is not None else "none"
        raise InputError(f"--set {o.text}: {key} '{row}' is not in {name}; use one of: "
                         f"{known or 'none (the table is empty)'}")
    value = convert_value(cols[column], cell_text(o.value), f"--set {o.text}")
    if table not in copied:
        df = df.copy()
        setattr(inst, table, df)
        copied.add(table)
    if cols[column].kind != "str":
        df[column] = df[column].astype(float)
    df.loc[hit[0], column] = value


def _scale_cuts(inst, o: Override, what: str) -> None:
    """instance.cut_severity / instance.cut_probability (INSTANCE_SCALINGS)."""
    k = o.value
    if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k) or k < 0:
        raise InputError(f"--set {o.text}: a factor >= 0 expected (1 leaves the instance as "
                         f"it is), e.g. --set instance.{what}=1.25")
    av = inst.availability
    if av is None or not len(av) or not (av["china_availability"] < 1).any():
        raise InputError(f"--set {o.text}: {inst.folder}/availability.csv has no export-control "
                         "cut (china_availability < 1) to scale; drop this --set")
    if what == "cut_severity":
        av = av.copy()
        cut = 1.0 - av["china_availability"].astype(float)
        av["china_availability"] = (1.0 - k * cut).clip(0.0, 1.0)
        inst.availability = av
        return
    sc = inst.scenarios.copy()
    cut_names = set(av.loc[av["china_availability"] < 1, "scenario"].astype(str))
    is_cut = sc["scenario"].astype(str).isin(cut_names)
    prob = sc["probability"].astype(float)
    q = float(prob[is_cut].sum())
    target = k * q
    if not 0 < q < 1 or target >= 1:
        raise InputError(f"--set {o.text}: the scenarios with a cut have probability {q:.3g}; "
                         f"x {k:g} must stay below 1 with other scenarios left; choose a "
                         "factor below " + (f"{1 / q:.3g}" if q > 0 else "1"))
    sc["probability"] = np.where(is_cut, prob * (target / q), prob * ((1 - target) / (1 - q)))
    inst.scenarios = sc


def apply_instance(inst, items: Overrides):
    """A copy of a checked Instance with the instance overrides applied and checked again
    (cross-table checks); the instance itself is not changed."""
    from remech.instance import _check
    from remech.schema import InstanceFile, validate

    items = instance_part(items)
    if not items:
        return inst
    new = dataclasses.replace(inst)
    copied: set[str] = set()
    for o in items:
        rest = o.parts[1:]
        if len(rest) == 1 and rest[0] in INSTANCE_SCALARS:
            root = {"name": inst.name, "first_year": inst.years[0],
                    "last_year": inst.years[-1], rest[0]: o.value}
            checked = validate(InstanceFile, {"instance": root}, Path("instance.toml"),
                               where=lambda loc, o=o: f"--set {o.text}:").instance
            setattr(new, rest[0], float(getattr(checked, rest[0])))
        elif len(rest) == 1 and rest[0] in INSTANCE_SCALINGS:
            _scale_cuts(new, o, rest[0])
        elif len(rest) == 3 and rest[0] in KEYED_TABLES:
            _set_cell(new, o, copied)
        else:
            raise _unknown_instance_key(o)
    new.overrides = {**(inst.overrides or {}), **as_dict(items)}
    try:
        _check(new)
    except InputError as exc:
        given = ", ".join(f"--set {o.text}" for o in items)
        raise InputError.many([f"{line} (with {given})" for line in exc.lines]) from None
    return new
