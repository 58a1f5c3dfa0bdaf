"""Seeded mutations of instances/tiny-floor (its CSV tables, instance.toml and design.toml)
for the fuzz test (tests/test_fuzz.py) and the long run (benchmarks/fuzz.py).

Each case copies the instance, applies one to three mutations and runs `remech validate`
(and, for some, `remech solve`) in-process. A case passes when it ends with exit 0 (and a
mechanism for solve), exit 2 with one "error: <file> ..." line per problem, or, for solve,
exit 3/4 with a mechanism; never a traceback, and no file outside the output folder
touched.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from remech.cli import main

TINY = Path(__file__).resolve().parents[1] / "instances" / "tiny-floor"

BAD_CELLS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "-1", "", " ",
             "garbage", "1e12", "1e300", "0", "-0", "2030.5", "1,5", "é", "=1+1", "None",
             "true", "0x10", "1_000", "1e-320", "99999999999999999999", '"', "[S1]",
             "assumption", "US", "X", "2031", "1900", "2201", "-2030",
             # valid but extreme: the bounds, tiny and zero values
             "1e7", "1e6", "9999999", "1e-300", "100", "0.5", "1", "2200"]
TOML_VALUES = ["nan", "inf", "-inf", "-1", "1e309", "1e12", '"x"', "true", "[]", "{}",
               "[1, 2]", "0", "0.5", "2030", '"design.toml"', '"floor-only"', "1979-05-27",
               '{ X = nan }', '{ X = [60, 50] }', '{ Y = 1 }', '"../outside.toml"']

#: sections a design may add to tiny-floor's (valid, or nearly): targets, soft targets,
#: risk, grants, tariffs, reserve, stockpile policy
DESIGN_SECTIONS = [
    "[security]\nmin_non_chinese_share = 0.4\nsoft = { min_non_chinese_share = 50 }",
    "[security]\nmin_non_chinese_share = { X = 0.9 }",
    "[security]\nstockpile_cover_days = 60",
    "[security]\nmax_single_country_share = 0.65\nmax_expected_shortfall_share = 0.2",
    "[security]\nmax_expected_shortfall_share = { separation = 0.0 }",
    "[security]\nreagent_limits = true\nsoft = { reagent_limits = 0 }",
    "[risk]\ncvar_weight = 1.0\ncvar_alpha = 0.999",
    "[grants]\nmax_share_of_capex = 1.0\ncap_musd_by_host = { US = 0 }",
    "[tariff]\nreference_usd_per_kg = { X = [55, 70] }",
    "[buyer_of_last_resort]\nmarket_purchases = false\nbuyback_usd_per_kg = 1e6",
    "[stockpile]\npolicy = \"tree\"",
    "[burden_sharing]\nrule = \"custom\"\nweights = { US = 0 }",
    "[burden_sharing]\nrule = \"equal\"",
]


@dataclass
class Case:
    seed: int
    mutations: list[str] = field(default_factory=list)
    command: str = "validate"
    exit_code: int | None = None
    problem: str = ""  # why the case failed; empty if it passed

    @property
    def exit_class(self) -> str:
        return "traceback" if self.exit_code == 1 else f"exit {self.exit_code}"


def _split(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text)))


def _join(rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def mutate_csv(rng: random.Random, path: Path) -> str:
    try:
        rows = _split(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, OSError):
        return f"{path.name}: left alone (already unreadable)"
    if not rows:
        return f"{path.name}: left alone (empty)"
    kind = rng.choice(["cell"] * 8 + ["dup_row", "drop_row", "drop_col", "rename_col",
                                      "add_col", "trailing_comma", "extra_field", "bom",
                                      "latin1", "delete", "empty", "truncate", "header_only",
                                      "blank_lines", "swap_cols"])
    header, body = rows[0], rows[1:]
    if kind == "cell" and body:
        r, c = rng.randrange(len(body)), rng.randrange(len(header))
        value = rng.choice(BAD_CELLS)
        if c < len(body[r]):
            body[r][c] = value
        path.write_text(_join([header] + body), encoding="utf-8")
        return f"{path.name} row {r + 2} {header[c]} = {value!r}"
    if kind == "dup_row" and body:
        body.insert(rng.randrange(len(body) + 1), list(rng.choice(body)))
    elif kind == "drop_row" and body:
        body.pop(rng.randrange(len(body)))
    elif kind == "drop_col":
        c = rng.randrange(len(header))
        header = header[:c] + header[c + 1:]
        body = [row[:c] + row[c + 1:] for row in body]
    elif kind == "rename_col":
        c = rng.randrange(len(header))
        header[c] = header[c][:-1] if len(header[c]) > 1 else header[c] + "x"
    elif kind == "add_col":
        header = header + [rng.choice(["note", "extra", ""])]
        body = [row + [rng.choice(BAD_CELLS)] for row in body]
    elif kind == "swap_cols" and len(header) > 1:
        a, b = rng.sample(range(len(header)), 2)
        header[a], header[b] = header[b], header[a]
    elif kind in ("trailing_comma", "extra_field"):
        add = "" if kind == "trailing_comma" else "oops"
        body = [row + [add] for row in body]
        if kind == "trailing_comma":
            header = header + [""]
    elif kind == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        return f"{path.name}: BOM"
    elif kind == "latin1":
        path.write_bytes(path.read_bytes() + b"\xe9\xff\n")
        return f"{path.name}: non-UTF-8 bytes"
    elif kind == "delete":
        path.unlink()
        return f"{path.name}: deleted"
    elif kind == "empty":
        path.write_bytes(b"")
        return f"{path.name}: emptied"
    elif kind == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[:rng.randrange(len(raw) + 1)])
        return f"{path.name}: truncated"
    elif kind == "header_only":
        body = []
    elif kind == "blank_lines":
        path.write_text(path.read_text(encoding="utf-8").replace("\n", "\n\n"),
                        encoding="utf-8")
        return f"{path.name}: blank lines"
    path.write_text(_join([header] + body), encoding="utf-8")
    return f"{path.name}: {kind}"


def mutate_toml(rng: random.Random, path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return f"{path.name}: left alone"
    keyed = [i for i, ln in enumerate(lines) if re.match(r"^\s*[A-Za-z_]+\s*=", ln)]
    sections = [i for i, ln in enumerate(lines) if ln.strip().startswith("[")]
    kind = rng.choice(["value"] * 5 + ["misspell_key", "drop_key", "misspell_section",
                                       "unknown_section", "section_as_value", "syntax",
                                       "duplicate_key", "bom", "add_key"]
                      + ["append_section"] * 3 * (path.name == "design.toml"))
    if kind == "value" and keyed:
        i = rng.choice(keyed)
        key = lines[i].split("=")[0].strip()
        value = rng.choice(TOML_VALUES)
        lines[i] = f"{key} = {value}"
        detail = f"{key} = {value}"
    elif kind == "misspell_key" and keyed:
        i = rng.choice(keyed)
        key, rest = lines[i].split("=", 1)
        key = key.strip()
        lines[i] = f"{key}s ={rest}" if rng.random() < 0.5 else f"{key[:-1]} ={rest}"
        detail = key
    elif kind == "drop_key" and keyed:
        detail = lines.pop(rng.choice(keyed))
    elif kind == "misspell_section" and sections:
        i = rng.choice(sections)
        lines[i] = lines[i].replace("]", "s]", 1)
        detail = lines[i]
    elif kind == "unknown_section":
        lines += ["[stockpiles]", "policy = \"tree\""]
        detail = "[stockpiles]"
    elif kind == "section_as_value":
        lines.insert(0, f"{rng.choice(['security', 'instance', 'risk', 'stockpile'])} = 5")
        detail = lines[0]
    elif kind == "syntax":
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["x = ", "[", "a = 'b",
                                                               "= 1", "\x00"]))
        detail = "syntax"
    elif kind == "duplicate_key" and keyed:
        i = rng.choice(keyed)
        lines.insert(i + 1, lines[i])
        detail = lines[i]
    elif kind == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        return f"{path.name}: BOM"
    elif kind == "append_section":
        detail = rng.choice(DESIGN_SECTIONS)
        lines += detail.splitlines()
    elif kind == "add_key" and sections:
        i = rng.choice(sections)
        lines.insert(i + 1, f"{rng.choice(['policy', 'quantile', 'speed', 'soft'])} = "
                            f"{rng.choice(TOML_VALUES)}")
        detail = lines[i + 1]
    else:
        detail = "no change"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"{path.name}: {kind} {detail}"


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_case(seed: int, base: Path, solve: bool = False) -> Case:
    """Mutate a copy of tiny-floor under ``base`` (a fresh folder) and run remech on it."""
    rng = random.Random(seed)
    case = Case(seed, command="solve" if solve else "validate")
    folder = base / "inst"
    shutil.copytree(TINY, folder)
    files = sorted(folder.iterdir())
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        path = rng.choice(files)
        if not path.exists():
            continue
        case.mutations.append(mutate_toml(rng, path) if path.suffix == ".toml"
                              else mutate_csv(rng, path))
    before = _snapshot(base)
    out = base / "out"
    args = ["solve", str(folder), "-o", str(out), "-q"] if solve else \
        ["validate", str(folder), "-q"]
    result = CliRunner().invoke(main, args)
    case.exit_code = result.exit_code
    after = _snapshot(base)
    touched = sorted(k for k in set(before) | set(after)
                     if before.get(k) != after.get(k) and not k.startswith("out/"))
    allowed = {0, 2} | ({3, 4} if solve else set())
    if result.exit_code not in allowed:
        exc = result.exception
        case.problem = f"exit {result.exit_code}: {type(exc).__name__}: {exc}"
    elif "Traceback" in result.output:
        case.problem = "traceback in the output"
    elif touched:
        case.problem = f"touched {touched}"
    elif result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        names = {p.name for p in files} | {folder.name, "instance.toml", "design.toml"}
        if not lines or not all(ln.startswith("error: ") for ln in lines):
            case.problem = f"bad error output {result.stderr!r}"
        elif not any(n in lines[0] for n in names):
            case.problem = f"error does not name a file: {lines[0]}"
    elif solve and not (out / "mechanism.json").is_file():
        case.problem = f"exit {result.exit_code} without mechanism.json"
    return case
