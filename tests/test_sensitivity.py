"""One-at-a-time sensitivity (remech sweep --tornado) and the export-control scalings it uses
(instance.cut_severity, instance.cut_probability), on instances/tiny-floor by hand.

tiny-floor: two equally likely scenarios, 'low' (price 40, China supplies) and 'cut' (price
80, China's availability 0); one project P1 (1000 t, unit cost 50, capex 20) bankable under
the 60 USD/kg floor if its expected NPV q x 30 + (1 - q) x 10 - 20 >= 0 with q = P(cut), i.e.
q >= 0.5. With the floor the cost is the top-up in 'low': (1 - q) x 20 MUSD; without it the
shortfall in 'cut': q x 1000 t x 100 USD/kg = 100 q MUSD.

- cut probability x 0.75 (q = 0.375): P1 is not bankable, no floor, cost 37.5;
  x 1.25 (q = 0.625): floor 60, cost 0.375 x 20 = 7.5.
- cut severity x 0.75: availability 0.25, China delivers 250 t; the floor (10) still beats
  750 t x 100 x 0.5 = 37.5: cost 10 at both ends. Penalty 75/125 and MCPF (fiscal view): 10.
- discount and hurdle rates are 0 in the files: left out with a note.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import TINY
from remech.cli import main
from remech.errors import InputError
from remech.instance import load_instance
from remech.outdir import read_marker
from remech.overrides import apply_instance, as_overrides
from remech.sensitivity import run_tornado


def test_cut_scalings_change_availability_and_probabilities():
    inst = load_instance(TINY)
    sev = apply_instance(inst, as_overrides({"instance.cut_severity": 0.75}))
    assert sev.availability["china_availability"].tolist() == [pytest.approx(0.25)]
    assert inst.availability["china_availability"].tolist() == [0.0]  # not changed
    assert apply_instance(inst, as_overrides({"instance.cut_severity": 2})) \
        .availability["china_availability"].tolist() == [0.0]  # capped at 0
    prob = apply_instance(inst, as_overrides({"instance.cut_probability": 1.25}))
    assert dict(zip(prob.scenarios["scenario"], prob.scenarios["probability"],
                    strict=True)) == pytest.approx({"low": 0.375, "cut": 0.625})
    assert prob.overrides == {"instance.cut_probability": 1.25}
    with pytest.raises(InputError, match=r"instance.cut_probability=2: the scenarios with a "
                                         r"cut have probability 0.5; x 2 must stay below 1"):
        apply_instance(inst, as_overrides({"instance.cut_probability": 2}))
    with pytest.raises(InputError, match="a factor >= 0 expected"):
        apply_instance(inst, as_overrides({"instance.cut_severity": -1}))
    with pytest.raises(InputError, match="cut_severity/cut_probability or instance.TABLE"):
        apply_instance(inst, as_overrides({"instance.cut_depth": 1}))


def test_tornado_on_tiny_by_hand():
    res = run_tornado(TINY, spread=0.25, jobs=1)
    df = res.frame()
    assert res.base["expected_cost_musd"] == pytest.approx(10.0)
    assert df.loc[0, "input"] == "export-control probability"  # the largest swing first
    row = df.iloc[0]
    assert (row["low_value"], row["high_value"]) == pytest.approx((0.375, 0.625))
    assert row["low_expected_cost_musd"] == pytest.approx(37.5)
    assert row["high_expected_cost_musd"] == pytest.approx(7.5)
    assert row["swing_musd"] == pytest.approx(-30.0)
    assert (row["low_floors"], row["high_floors"]) == ("X none", "X 60")
    rest = df.iloc[1:].set_index("input")
    assert set(rest.index) == {"shortfall penalties (X)", "export-control severity (x cut "
                               "depth)", "MCPF (range 1-3)"}
    assert rest["low_expected_cost_musd"].tolist() == pytest.approx([10.0] * 3)
    assert rest["high_expected_cost_musd"].tolist() == pytest.approx([10.0] * 3)
    assert rest.loc["shortfall penalties (X)", ["low_value", "high_value"]].tolist() == \
        pytest.approx([75.0, 125.0])
    assert rest.loc["MCPF (range 1-3)", ["low_value", "high_value"]].tolist() == \
        pytest.approx([1.0, 1.625])  # 1.3 x 0.75 = 0.975 is below the MCPF's range
    assert res.notes[:2] == ["discount rate: 0 in the files, nothing to scale",
                             "hurdle rate: 0 in the files, nothing to scale"]
    assert res.notes[2].startswith("MCPF: weighs treasury money in the economic view only")
    assert res.points == 9


def test_tornado_command_writes_registered_files(tmp_path):
    out = tmp_path / "tornado"
    r = CliRunner().invoke(main, ["sweep", str(TINY), "--tornado", "--jobs", "1", "-o",
                                  str(out), "-q", "--set", "objective.view=economic"])
    assert r.exit_code == 0, r.output
    assert "export-control probability" in r.output and "note: discount rate" in r.output
    names = ["tornado.csv", "tornado.html", "tornado.json", "tornado.md", "tornado.png"]
    marker = read_marker(out)
    assert marker["kind"] == "tornado" and sorted(marker["files"]) == names
    doc = json.loads((out / "tornado.json").read_text())
    assert doc["instance"]["overrides"] == {"objective.view": "economic"}
    assert doc["design"]["view"] == "economic" and doc["spread"] == 0.25
    # every point was solved with the fixed --set and its own input
    first = doc["inputs"][0]
    assert first["low"]["overrides"]["objective.view"] == "economic"
    csv = pd.read_csv(out / "tornado.csv")
    assert csv.loc[0, "input"] == "export-control probability"
    assert (out / "tornado.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "tornado.html").read_text()
    assert "plotly" in html and "https://cdn" not in html.split("<body>")[0]
    assert "![tornado](tornado.png)" in (out / "tornado.md").read_text()
    again = CliRunner().invoke(main, ["sweep", str(TINY), "--tornado", "-o", str(out), "-q"])
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize("args, message", [
    (["--tornado", "--spread", "0"], "--spread 0: must be in (0, 0.9]"),
    (["--spread", "0.5", "--set", "objective.view=fiscal,economic"],
     "--spread: only with --tornado"),
    (["--tornado", "--vary", "price_floor.levels_usd_per_kg.X=50:70:10"],
     "--vary: not with --tornado"),
    (["--tornado", "--set", "objective.mcpf=1.5"],
     "--set objective.mcpf: the tornado varies this key itself"),
    (["--tornado", "--set", "objective.view=cheap"], "'cheap' is not allowed"),
])
def test_tornado_errors(tmp_path, args, message):
    r = CliRunner().invoke(main, ["sweep", str(TINY), "-o", str(tmp_path / "t"), "-q", *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "t").exists()


def test_api_tornado_is_the_command_s_table(tmp_path):
    import remech

    res = remech.tornado(TINY, spread=0.5, jobs=1)
    row = res.frame().set_index("input").loc["export-control probability"]
    # q = 0.25: not bankable, cost 25; q = 0.75: P1 pays at market prices (it runs in
    # 'cut' only: 0.75 x 30 - 20 = 2.5 >= 0), is built without support: no shortfall, cost 0
    assert (row["low_expected_cost_musd"], row["high_expected_cost_musd"]) == \
        pytest.approx((25.0, 0.0))
    assert res.to_json()["spread"] == 0.5
