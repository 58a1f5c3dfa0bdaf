"""The CLI as a user runs it, and the exports: round trips and re-solvable model files."""

from __future__ import annotations

import json

import highspy
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import design, solve
from remech.cli import main
from remech.results import write_results


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_help_explains_itself_with_examples():
    for args in ([], ["solve"], ["validate"]):
        result = invoke(*args, "--help")
        assert result.exit_code == 0
        assert "Example" in result.output


def test_solve_prints_summary_and_writes_results(tiny, tmp_path):
    out = tmp_path / "out"
    result = invoke("solve", tiny, "-o", out)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for needle in ("status        optimal (proved by HiGHS", "floors        X 60 USD/kg",
                   "plants        1 supported: P1", "contributions (gdp) US 10.0 MUSD",
                   "cost at risk  CVaR95 20.0 MUSD", "shortfall     X 0 t"):
        assert needle in text
    for phase in ("read instance", "build model", "hand-off", "HiGHS solve", "write results"):
        assert phase in result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"mechanism.json", "floors.csv", "projects.csv", "stockpile.csv",
            "stockpile_policy.csv", "contributions.csv", "scenario_costs.csv",
            "highs.log"} <= names
    mech = json.loads((out / "mechanism.json").read_text())
    assert mech["schema_version"] == "1.0"
    assert mech["status"] == "optimal" and mech["mip_gap"] == pytest.approx(0, abs=1e-9)
    assert mech["objective_musd"] == pytest.approx(10.0, abs=1e-4)
    assert mech["instance"]["sha256"] and mech["solver"]["random_seed"] == 0
    assert set(mech["software"]) >= {"remech", "pyomo", "highspy", "python"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_existing_outdir_needs_force(tiny, tmp_path):
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    (out / "mechanism.json").write_text("old result")
    result = invoke("solve", tiny, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {out}: output folder exists; pass --force to "
                                     "replace it or choose another -o")
    assert (out / "mechanism.json").read_text() == "old result"
    result = invoke("solve", tiny, "-o", out, "--force", "-q")
    assert result.exit_code == 0
    assert json.loads((out / "mechanism.json").read_text())["status"] == "optimal"
    assert json.loads((out / ".remech-result").read_text())["kind"] == "solve"


def test_json_output_is_the_mechanism(tiny, tmp_path):
    result = invoke("solve", tiny, "-o", tmp_path / "o", "--json", "-q")
    assert result.exit_code == 0
    mech = json.loads(result.stdout)
    assert mech == json.loads((tmp_path / "o" / "mechanism.json").read_text())


def test_infeasible_exit_code_and_report(tiny, tmp_path):
    design(tiny, floor=False, extra="[security]\nmax_expected_shortfall_share = 0.1\n")
    result = invoke("solve", tiny, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 4
    assert "status        infeasible" in result.stdout
    assert "c_security" in result.stdout  # the conflicting constraint is named
    mech = json.loads((tmp_path / "o" / "mechanism.json").read_text())
    assert mech["status"] == "infeasible" and mech["objective_musd"] is None


def test_export_round_trip(tiny, tmp_path):
    run = solve(tiny)
    out = tmp_path / "rt"
    write_results(out, run.mechanism, run.tables, force=False)
    assert json.loads((out / "mechanism.json").read_text()) == run.mechanism
    for name, df in run.tables.items():
        back = pd.read_csv(out / name)
        pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=False)
    # what was written is what the solver found
    m = run.model
    assert run.mechanism["objective_musd"] == pytest.approx(m.objective(), abs=1e-9)


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_written_model_resolves_to_the_same_optimum(tiny, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    result = invoke("solve", tiny, "-o", tmp_path / "o", "-q", "--write-model", path)
    assert result.exit_code == 0 and path.exists()
    mech = json.loads((tmp_path / "o" / "mechanism.json").read_text())
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(path))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(mech["objective_musd"],
                                                                 rel=1e-9)


def test_write_model_rejects_unknown_format(tiny, tmp_path):
    result = invoke("solve", tiny, "-o", tmp_path / "o", "--write-model", tmp_path / "m.txt")
    assert result.exit_code == 2
    assert "use a .lp or .mps file name" in result.stderr
