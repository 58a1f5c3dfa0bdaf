"""remech sweep on instances/tiny-floor against hand-computed points.

With the floor menu {none, L}: the project is bankable for L >= 60 (expected NPV
0.5 (L - 50) + 0.5 x 30 - 20 = 0.5 L - 30 >= 0); the expected top-up is
0.5 x 1000 t x (L - 40) USD/kg = 0.5 (L - 40) MUSD (none in the cut, where the price is 80).
Below 60 no project is bankable, the floor is useless and the cut's shortfall costs
0.5 x 1000 t x 100 USD/kg = 50 MUSD. With a shortfall penalty of 10 USD/kg that shortfall
costs 5 MUSD, less than any floor: no floor, 5 MUSD.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from test_report import _open, browser  # noqa: F401 - the shared headless Chromium

from conftest import TINY
from remech.cli import main
from remech.errors import InputError
from remech.sweeping import grid, parse_axis, parse_range

FLOOR = "price_floor.levels_usd_per_kg.X"
PENALTY = "instance.products.X.shortfall_penalty_usd_per_kg"
BY_HAND = {55: (50.0, None), 60: (10.0, 60.0), 70: (15.0, 70.0), 80: (20.0, 80.0)}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_floor_sweep_matches_the_hand_computation(tmp_path):
    out = tmp_path / "sweep"
    r = invoke("sweep", TINY, "--set", f"{FLOOR}=[55],[60],[70],[80]", "--jobs", "2",
               "-o", out, "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["axes"] == {FLOOR: [[55], [60], [70], [80]]}
    assert [p["design"] for p in doc["designs"]] == ["X=[55]", "X=[60]", "X=[70]", "X=[80]"]
    for row in doc["designs"]:
        level = row["point"][FLOOR][0]
        cost, floor = BY_HAND[level]
        assert row["status"] == "optimal"
        assert row["expected_cost_musd"] == pytest.approx(cost, abs=1e-6), level
        assert row["floors_usd_per_kg"]["X"] == floor
        assert row["ally_cost_musd"]["US"] == pytest.approx(cost if floor else 0.0, abs=1e-6)
        assert row["overrides"] == {FLOOR: [level]}
    table = pd.read_csv(out / "sweep.csv")
    assert table[FLOOR].tolist() == ["[55]", "[60]", "[70]", "[80]"]
    assert table["expected_cost_musd"].round(6).tolist() == [50.0, 10.0, 15.0, 20.0]
    assert "| X | status | expected cost | fiscal | economic | floors | US (net) |" in \
        (out / "sweep.md").read_text()
    # the report: the points side by side and the charts against the swept value
    md = (out / "report.md").read_text()
    assert md.startswith("<!-- remech report")
    assert "# remech report: sweep of tiny-floor on tiny-floor" in md
    for key in ("sweep_cost", "sweep_allies", "sweep_floors", "compare_cost"):
        assert (out / "report-charts" / f"{key}.png").is_file(), key
    assert "No baseline design" not in md
    again = invoke("sweep", TINY, "--set", f"{FLOOR}=[60],[70]", "-o", out, "-q", "--force",
                   "--jobs", "1")
    assert again.exit_code == 0, again.output  # its own folder, report included


def test_two_axes_and_a_fixed_override(tmp_path):
    out = tmp_path / "grid"
    r = invoke("sweep", TINY, "--set", f"{PENALTY}=10,100", "--set",
               "objective.view=fiscal,economic", "--set", f"{FLOOR}=[60]", "--jobs", "1",
               "-o", out, "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["fixed"] == {FLOOR: [60]}
    rows = {(p["point"][PENALTY], p["point"]["objective.view"]): p for p in doc["designs"]}
    assert list(rows) == [(10, "fiscal"), (10, "economic"), (100, "fiscal"), (100, "economic")]
    for view in ("fiscal", "economic"):
        low = rows[(10, view)]
        assert low["floors_usd_per_kg"]["X"] is None
        assert low["fiscal_cost_musd"] == pytest.approx(5.0, abs=1e-6)
        assert low["view"] == view
        assert rows[(100, view)]["floors_usd_per_kg"]["X"] == 60.0
    assert rows[(100, "fiscal")]["overrides"] == {PENALTY: 100, "objective.view": "fiscal",
                                                  FLOOR: [60]}


@pytest.mark.parametrize(("args", "message"), [
    (["--set", f"{FLOOR}=[60],[-1]"], f"--set {FLOOR}=[-1]: [price_floor] "
     "levels_usd_per_kg.X[0]: level -1 is not > 0"),
    (["--set", "objective.view=economic"], "remech sweep: nothing to sweep; give a key with "
     "several values"),
    (["--vary", f"{FLOOR}=80:50:10"], f"--vary {FLOOR}=80:50:10: needs finite numbers, "
     "STEP > 0 and STOP >= START"),
    (["--vary", f"{FLOOR}=1:100000:1"], f"--vary {FLOOR}=1:100000:1: 100000 values, more "
     "than 2000"),
    (["--set", f"{PENALTY}=10,-5"], f"--set {PENALTY}=-5: -5 is out of range"),
    (["--set", "objective.view=fiscal,,economic"], "--set objective.view=fiscal,,economic: "
     "an empty value between commas"),
])
def test_bad_points_stop_before_any_solve(tmp_path, args, message):
    out = tmp_path / "bad"
    r = invoke("sweep", TINY, *args, "-o", out, "-q", "--jobs", "1")
    assert r.exit_code == 2, r.output
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"error: {message}"), \
        r.stderr
    assert not out.exists()


def test_axes_and_grid():
    assert parse_range(f"{FLOOR}=50:110:20").values == ([50], [70], [90], [110])
    assert parse_range("risk.cvar_weight=0:0.3:0.1").values == (0, 0.1, 0.2, 0.3)
    assert parse_axis(f"{FLOOR}=[50],[60, 70]").values == ([50], [60, 70])
    points = grid([parse_axis("objective.view=fiscal,economic"),
                   parse_axis("risk.cvar_weight=0,0.5")])
    assert [[o.value for o in p] for p in points] == [
        ["fiscal", 0], ["fiscal", 0.5], ["economic", 0], ["economic", 0.5]]
    with pytest.raises(InputError, match="given twice"):
        grid([parse_axis("risk.cvar_weight=0,1"), parse_range("risk.cvar_weight=0:1:1")])


def test_sweep_report_in_the_browser(browser, tmp_path):  # noqa: F811 - the fixture
    out = tmp_path / "sweep"
    r = invoke("sweep", TINY, "--set", f"{FLOOR}=[60],[70]", "--jobs", "1", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    page, errors, outside = _open(browser, out / "report.html")
    try:
        assert errors == [] and outside == []
        assert page.locator(".js-plotly-plot").count() == 6  # 3 sweep, cost, shortfall, allies
        assert "2 points solved on instance tiny-floor" in page.locator("body").inner_text()
    finally:
        page.close()
