"""Reading CSV tables against a declared schema, with errors a user can act on.

Row numbers in messages are spreadsheet rows: the header is row 1, the first
data row is row 2 (the same as the line number in a text editor).
This module knows nothing of Pyomo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from remech.errors import InputError

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


def read_table(folder: Path, filename: str, columns: list[Column],
               optional: bool = False) -> pd.DataFrame | None:
    """Read ``folder/filename`` and check every column against ``columns``.

    Returns a DataFrame with typed columns and a ``_row`` column holding the
    spreadsheet row of each record (for later cross-table messages).
    """
    path = folder / filename
    if not path.is_file():
        if optional:
            return None
        raise fail(path, "file not found", f"create it in {folder} (see README, 'Instance format')")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                          comment=None)
    except pd.errors.EmptyDataError:
        raise fail(path, "file is empty", "add a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise fail(path, f"cannot be parsed as CSV ({first})",
                   "save it as comma-separated UTF-8 text") from None
    raw.columns = [str(c).strip() for c in raw.columns]
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
    out = pd.DataFrame({"_row": range(2, len(raw) + 2)})
    for col in columns:
        out[col.name] = _convert(path, raw[col.name].astype(str).str.strip(), col)
    return out


def _convert(path: Path, cells: pd.Series, col: Column) -> pd.Series:
    blank = cells == ""
    if blank.any() and not col.allow_blank:
        row = int(blank.idxmax()) + 2
        raise fail(path, "empty cell", f"fill in {col.help or col.name}", row, col.name)
    if col.kind == "str":
        if col.choices is not None:
            bad = ~cells.isin(col.choices) & ~blank
            if bad.any():
                i = int(bad.idxmax())
                raise fail(path, f"'{cells[i]}' is not allowed",
                           f"use one of: {', '.join(col.choices)}", i + 2, col.name)
        return cells
    values = pd.to_numeric(cells.where(~blank, None), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        i = int(bad.idxmax())
        kind = "a whole number" if col.kind == "int" else "a number"
        raise fail(path, f"'{cells[i]}' is not {kind}", f"write {col.help or col.name} as {kind}",
                   i + 2, col.name)
    if col.kind == "int":
        frac = (values % 1 != 0) & ~blank
        if frac.any():
            i = int(frac.idxmax())
            raise fail(path, f"'{cells[i]}' is not a whole number",
                       f"write {col.help or col.name} as a whole number", i + 2, col.name)
    if col.minimum is not None:
        low = (values <= col.minimum) if col.exclusive_min else (values < col.minimum)
        low &= ~blank
        if low.any():
            i = int(low.idxmax())
            op = ">" if col.exclusive_min else ">="
            raise fail(path, f"{cells[i]} is out of range",
                       f"{col.name} must be {op} {col.minimum:g}", i + 2, col.name)
    if col.maximum is not None:
        high = (values > col.maximum) & ~blank
        if high.any():
            i = int(high.idxmax())
            raise fail(path, f"{cells[i]} is out of range",
                       f"{col.name} must be <= {col.maximum:g}", i + 2, col.name)
    return values.astype(float)


def check_unique(path: Path, df: pd.DataFrame, keys: list[str]) -> None:
    dup = df.duplicated(subset=keys, keep="first")
    if dup.any():
        i = int(dup.idxmax())
        key = ", ".join(f"{k}={df.at[i, k]}" for k in keys)
        raise fail(path, f"duplicate entry ({key})", "keep one row per " + " and ".join(keys),
                   int(df.at[i, "_row"]))


def check_member(path: Path, df: pd.DataFrame, column: str, known: list[str],
                 what: str) -> None:
    bad = ~df[column].isin(known)
    if bad.any():
        i = int(bad.idxmax())
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise fail(path, f"{what} '{df.at[i, column]}' is not known",
                   f"use one of: {shown}", int(df.at[i, "_row"]), column)


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
