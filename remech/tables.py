"""Reading CSV tables against a declared schema, with errors a user can act on.

Row numbers in messages are spreadsheet rows: the header is row 1, the first
data row is row 2 (the same as the line number in a text editor).
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from remech.errors import MAX_LINES, Collector, InputError

_SOURCE_KEY = re.compile(r"\[([A-Za-z0-9_.-]+)\]")


@dataclass(frozen=True)
class Column:
    """One column of a table: its type and the range of allowed values."""

    name: str
    kind: str  # "str", "float", "int"
    required: bool = True  # column must exist
    allow_blank: bool = False  # a cell may be empty (becomes NaN / "")
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    choices: tuple[str, ...] | None = None
    help: str = ""
    #: why the maximum is what it is, when it is a sanity bound rather than a definition
    why_max: str = ""

    @property
    def bound_note(self) -> str:
        return f" ({self.why_max})" if self.why_max else ""


def _where(path: Path, row: int | None = None, column: str | None = None) -> str:
    text = path.name
    if row is not None:
        text += f" row {row}"
    if column is not None:
        text += f", column '{column}'" if row is not None else f" column '{column}'"
    return text


def fail(path: Path, problem: str, fix: str, row: int | None = None,
         column: str | None = None) -> InputError:
    """Build the one-line error: where, what, how to fix it."""
    return InputError(f"{_where(path, row, column)}: {problem}; {fix}")


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and their spreadsheet rows (line numbers) of a CSV file.

    UTF-8 (a byte-order mark is accepted); blank lines are skipped; empty trailing fields
    (a trailing comma) are dropped; more fields than the header is an error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror or exc})",
                   "check that it is a readable file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise fail(path, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} in line {line})",
                   "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8')") from None
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                records.append((reader.line_num, fields))
    except csv.Error as exc:
        raise fail(path, f"cannot be parsed as CSV (line {reader.line_num}: {exc})",
                   "save it as comma-separated UTF-8 text") from None
    if not records:
        raise fail(path, "file is empty", "add a header row and data rows")
    header = [h.strip() for h in records[0][1]]
    while header and header[-1] == "":
        header.pop()  # a trailing comma in the header
    rows, numbers, problems = [], [], Collector()
    for line, fields in records[1:]:
        while len(fields) > len(header) and fields[-1].strip() == "":
            fields = fields[:-1]
        if len(fields) > len(header):
            problems.add(fail(path, f"{len(fields)} fields but the header has {len(header)}",
                              "remove the extra fields or quote a cell that holds a comma",
                              line))
            continue
        rows.append(fields + [""] * (len(header) - len(fields)))
        numbers.append(line)
    problems.raise_if_any()
    return header, rows, numbers


def read_table(folder: Path, filename: str, columns: list[Column],
               optional: bool = False) -> pd.DataFrame | None:
    """Read ``folder/filename`` and check every column against ``columns``.

    Returns a DataFrame with typed columns and a ``_row`` column holding the
    spreadsheet row of each record (for later cross-table messages). Every bad cell is
    reported (one line each, see InputError.many), not only the first.
    """
    path = folder / filename
    if not path.is_file():
        if optional and not path.exists():
            return None
        raise fail(path, "file not found", f"create it in {folder} (see README, 'Instance format')")
    header, rows, numbers = _read_rows(path)
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise fail(path, f"column '{dup[0]}' appears twice in the header", "keep one")
    raw = pd.DataFrame(rows, columns=header, dtype=str) if rows else \
        pd.DataFrame(columns=header, dtype=str)
    known = {c.name for c in columns}
    for col in columns:
        if col.name not in raw.columns:
            if col.required:
                expected = ", ".join(c.name for c in columns)
                raise fail(path, f"missing column '{col.name}'",
                           f"add it to the header (expected columns: {expected})")
            raw[col.name] = ""
    extra = [c for c in raw.columns if c not in known and not c.startswith("note")]
    if extra:
        raise fail(path, f"unknown column '{extra[0]}'",
                   f"remove or rename it (expected columns: {', '.join(c.name for c in columns)}; "
                   "columns starting with 'note' are free text)")
    out = pd.DataFrame({"_row": numbers}, dtype="int64")
    problems = Collector()
    for col in columns:
        cells = raw[col.name].astype(str).str.strip().reset_index(drop=True)
        out[col.name] = _convert(path, cells, col, out["_row"], problems)
    problems.raise_if_any()
    return out


def _convert(path: Path, cells: pd.Series, col: Column, rows: pd.Series,
             problems: Collector) -> pd.Series:
    """Typed values of one column; every bad cell is added to ``problems``."""
    def report(mask: pd.Series, problem, fix: str) -> None:
        bad = np.flatnonzero(mask.to_numpy())
        for i in bad[:MAX_LINES]:
            problems.add(fail(path, problem(cells.iat[i]), fix, int(rows.iat[i]), col.name))
        problems.hidden += max(0, len(bad) - MAX_LINES)

    blank = cells == ""
    if blank.any() and not col.allow_blank:
        report(blank, lambda v: "empty cell", f"fill in {col.help or col.name}")
    if col.kind == "str":
        if col.choices is not None:
            report(~cells.isin(col.choices) & ~blank, lambda v: f"'{v}' is not allowed",
                   f"use one of: {', '.join(col.choices)}")
        return cells
    kind = "a whole number" if col.kind == "int" else "a number"
    values = pd.to_numeric(cells.where(~blank, None), errors="coerce").astype(float)
    lowered = cells.str.lower().str.lstrip("+-")
    nonfinite = ~blank & (lowered.isin(("nan", "inf", "infinity"))
                          | (values.notna() & ~np.isfinite(values)))
    report(nonfinite, lambda v: f"'{v}' is not a finite number",
           f"write {col.help or col.name} as {kind} (nan and inf are not allowed)")
    bad = values.isna() & ~blank & ~nonfinite
    report(bad, lambda v: f"'{v}' is not {kind}", f"write {col.help or col.name} as {kind}")
    ok = ~blank & np.isfinite(values)
    values = values.where(ok | blank)
    if col.kind == "int":
        report(ok & (values % 1 != 0), lambda v: f"'{v}' is not a whole number",
               f"write {col.help or col.name} as a whole number")
    if col.minimum is not None:
        low = (values <= col.minimum) if col.exclusive_min else (values < col.minimum)
        op = ">" if col.exclusive_min else ">="
        report(low & ok, lambda v: f"{v} is out of range", f"{col.name} must be {op} "
               f"{col.minimum:g}")
    if col.maximum is not None:
        report((values > col.maximum) & ok, lambda v: f"{v} is out of range",
               f"{col.name} must be <= {col.maximum:g}{col.bound_note}")
    return values


def convert_value(col: Column, text: str, where: str):
    """One value checked as a cell of ``col`` is in a file (type, range, blank, choices);
    InputError "<where>: <problem>; <fix>"."""
    problems = Collector()
    values = _convert(Path("-"), pd.Series([text.strip()]), col, pd.Series([0]), problems)
    if problems.lines:
        head = f"{_where(Path('-'), 0, col.name)}: "
        raise InputError(f"{where}: {problems.lines[0].removeprefix(head)}")
    value = values.iat[0]
    return value.item() if hasattr(value, "item") else value


def _rows(mask: pd.Series) -> list:
    return list(mask[mask].index)


def check_unique(path: Path, df: pd.DataFrame, keys: list[str]) -> None:
    dup = df.duplicated(subset=keys, keep="first")
    lines = []
    for i in _rows(dup):
        key = ", ".join(f"{k}={df.at[i, k]}" for k in keys)
        lines.append(str(fail(path, f"duplicate entry ({key})",
                              "keep one row per " + " and ".join(keys), int(df.at[i, "_row"]))))
    if lines:
        raise InputError.many(lines)


def check_member(path: Path, df: pd.DataFrame, column: str, known: list[str],
                 what: str) -> None:
    bad = ~df[column].isin(known)
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    lines = [str(fail(path, f"{what} '{df.at[i, column]}' is not known", f"use one of: {shown}",
                      int(df.at[i, "_row"]), column)) for i in _rows(bad)]
    if lines:
        raise InputError.many(lines)


def check_sources(path: Path, df: pd.DataFrame, keys: set[str]) -> None:
    """Every value carries a source: a cell citing ``[KEY]``s from sources.csv or
    starting with 'assumption'."""
    for i, text in df["source"].items():
        if text.lower().startswith("assumption"):
            continue
        cited = _SOURCE_KEY.findall(text)
        if not cited:
            raise fail(path, f"source '{text}' cites no source key",
                       "cite keys from sources.csv in brackets, e.g. [S1], or start the cell "
                       "with 'assumption:' and say what was assumed", int(df.at[i, "_row"]),
                       "source")
        unknown = [k for k in cited if k not in keys]
        if unknown:
            raise fail(path, f"source key '{unknown[0]}' is not in sources.csv",
                       "add it to sources.csv or fix the key", int(df.at[i, "_row"]), "source")
