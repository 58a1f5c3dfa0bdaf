"""Trade-law screening tags (remech.legal): the table's basis, the instruments a mechanism
uses, where the tags are shown, and excluding instruments by tag."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import design
from remech.cli import main
from remech.legal import INSTRUMENTS, SCREENS, known_tags, tags, used_instruments
from remech.tables import check_sources

ROOT = Path(__file__).resolve().parents[1]
TARIFF = """
[instruments]
price_floor = false
stockpile = false
grants = false
tariff = true
[tariff]
reference_usd_per_kg = { X = [60] }
[bankability]
test = "expected"
hurdle_rate = 0.0
tail_years = 0
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_every_tag_has_a_basis_and_says_it_is_not_advice():
    df = tags()
    assert set(df["instrument"]) == set(INSTRUMENTS)
    assert set(df["screen"]) <= set(SCREENS)
    assert not df.duplicated(["instrument", "tag"]).any()
    for col in df.columns:
        assert (df[col].str.strip() != "").all(), col
    # a basis cites the fact sheet's keys or says 'assumption' (the instance rule)
    keys = set(pd.read_csv(ROOT / "remech" / "data" / "sources.csv")["key"])
    check_sources(Path("legal_risk.csv"), df.assign(_row=range(2, len(df) + 2)), keys)
    for _, row in df.iterrows():
        assert "assumption" in row["source"] or row["tag"] == "gatt-xi", row["tag"]


def test_used_instruments_from_the_mechanism():
    mech = {"floors_usd_per_kg": {"NDPR": 50.0, "DY": None, "TB": 1200.0},
            "tariff_reference_usd_per_kg": {"NDPR": None, "DY": None, "TB": 1200.0},
            "grants_musd": 0.0,
            "stockpiles": [{"product": "DY", "built": True, "capacity_t": 595.0},
                           {"product": "TB", "built": False, "capacity_t": 0.0}],
            "last_resort_reserve": [{"product": "NDPR", "expected_purchases_t": 0.1}]}
    assert used_instruments(mech) == {"price_floor": "floors NDPR 50 USD/kg",
                                      "stockpile": "stockpiles DY 595 t",
                                      "tariff": "reference prices TB 1200 USD/kg"}


def _solve(folder: Path, out: Path, *extra) -> tuple[dict, str]:
    r = invoke("solve", folder, "-o", out, "-q", *extra)
    assert r.exit_code == 0, r.output
    return json.loads((out / "mechanism.json").read_text()), r.output


def test_floor_tags_in_mechanism_json_summary_and_report(tmp_path, tiny):
    mech, printed = _solve(tiny, tmp_path / "o")
    section = mech["legal_risk"]
    assert "not legal advice" in section["note"]
    assert [r["instrument"] for r in section["instruments"]] == ["price_floor"]
    assert [t["tag"] for t in section["instruments"][0]["tags"]] == ["scm-actionable",
                                                                    "scm-prohibited"]
    assert section["highest_screen"] == "medium"
    assert ("trade law     price_floor medium (scm-actionable, scm-prohibited) (screening "
            "tags, not legal advice" in printed)
    assert invoke("report", tmp_path / "o").exit_code == 0
    md = (tmp_path / "o" / "report.md").read_text()
    assert "### Trade-law screening (not legal advice)" in md
    assert "| price-floor top-ups (contracts for difference) | floors X 60 USD/kg | " \
           "scm-actionable | WTO SCM Agreement" in md


def test_tariff_is_screened_high_and_excluded_by_its_tag(tmp_path, tiny):
    (tiny / "tariff.toml").write_text(TARIFF)
    mech, _ = _solve(tiny, tmp_path / "t", "-m", tiny / "tariff.toml")
    assert mech["legal_risk"]["highest_screen"] == "high"
    assert [t["tag"] for t in mech["legal_risk"]["instruments"][0]["tags"]] == [
        "gatt-i", "gatt-ii", "gatt-xxi"]
    (tiny / "no-mfn.toml").write_text(TARIFF + '[legal]\nexclude = ["gatt-i"]\n')
    mech, _ = _solve(tiny, tmp_path / "x", "-m", tiny / "no-mfn.toml")
    assert mech["tariff_reference_usd_per_kg"] == {"X": None}
    assert mech["legal_risk"]["instruments"] == []
    assert mech["legal_risk"]["excluded_by_design"] == {"tariff": ["gatt-i"]}
    # no instrument left: the cut's shortfall, 0.5 x 1000 t x 100 USD/kg = 50 MUSD
    assert mech["costs"]["expected_cost_musd"] == pytest.approx(50.0, abs=1e-6)


def test_excluding_actionable_subsidies_removes_the_floor(tmp_path, tiny):
    design(tiny, extra='[legal]\nexclude = ["scm-actionable"]\n')
    mech, _ = _solve(tiny, tmp_path / "o")
    assert mech["floors_usd_per_kg"] == {"X": None} and mech["supported_projects"] == []
    assert mech["legal_risk"]["excluded_by_design"] == {"price_floor": ["scm-actionable"]}
    mech, _ = _solve(tiny, tmp_path / "o2", "--set", "legal.exclude=[]")
    assert mech["floors_usd_per_kg"] == {"X": 60.0}


def test_unknown_tag_is_a_one_line_error(tmp_path, tiny):
    r = invoke("solve", tiny, "-o", tmp_path / "o", "-q", "--set", 'legal.exclude=["gatt-1"]')
    assert r.exit_code == 2
    assert r.stderr.startswith("error: --set legal.exclude=[\"gatt-1\"]: [legal] exclude: "
                               "'gatt-1' is not a trade-law tag; did you mean 'gatt-i'?")
    assert set(known_tags()) >= {"scm-actionable", "gatt-i", "gatt-xxi"}
