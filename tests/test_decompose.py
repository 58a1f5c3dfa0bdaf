"""Decomposition on mpi-sppy (remech.decompose): the same model, a certified gap.

Each solve here is checked against the extensive form's optimum: the outer bound lies below
it, the decomposed mechanism's cost (the inner bound) above it, and the first stage found is
the extensive form's. MPI runs use the mpich wheel's mpiexec (installed by .ci/run).
"""

from __future__ import annotations

import json

import pyomo.environ as pyo
import pytest
from click.testing import CliRunner

from conftest import REAL, design
from remech.cli import main
from remech.decompose import DecomposeOptions, bundle_model, bundles, mpiexec
from remech.evaluate import with_scenario_rows
from remech.instance import load_instance
from remech.model import first_stage as stage
from remech.prepare import prepare
from remech.run import load_files, solve_decomposed, solve_files
from remech.solving import SolverOptions, solve


def _certifies(dec_run, ef_run) -> dict:
    """The decomposed solve brackets the extensive form's optimum and finds its design."""
    d = dec_run.mechanism.decomposition
    optimum = ef_run.result.objective_musd
    tol = 1e-6 * max(1.0, abs(optimum))
    assert d["outer_bound_musd"] <= optimum + tol
    assert d["inner_bound_musd"] >= optimum - tol
    assert d["gap"] == pytest.approx((d["inner_bound_musd"] - d["outer_bound_musd"])
                                     / abs(d["inner_bound_musd"]), abs=1e-12)
    dec_fs, ef_fs = dec_run.mechanism.first_stage, ef_run.mechanism.first_stage
    assert (dec_fs.floor_level, dec_fs.support) == (ef_fs.floor_level, ef_fs.support)
    assert {p: b for p, (b, _) in dec_fs.stock.items()} == \
        {p: b for p, (b, _) in ef_fs.stock.items()}
    for p, (_, capacity) in ef_fs.stock.items():
        assert dec_fs.stock[p][1] == pytest.approx(capacity, rel=1e-6, abs=1e-6)
    return d


def _same_costs(dec_run, ef_run) -> None:
    dc, ec = dec_run.mechanism.costs, ef_run.mechanism.costs
    assert dc["expected_cost_musd"] == pytest.approx(ec["expected_cost_musd"], rel=1e-6)
    assert dc["by_category_musd"] == pytest.approx(ec["by_category_musd"], rel=1e-6, abs=1e-6)


def test_bundle_objectives_add_up_to_the_extensive_form(tmp_path):
    """Six scenarios of the shipped instance in bundles of 2, 2, 2: with the extensive
    form's first stage fixed, sum_b P_b (bundle b's optimum) = the extensive form's optimum
    (top-ups on the support binaries go through the bundles' second-stage copies)."""
    inst = load_instance(REAL)
    names = inst.scenarios["scenario"].tolist()[:6]
    probs = inst.scenarios["probability"].to_numpy()[:6]
    small = with_scenario_rows(inst, names, list(probs / probs.sum()))
    ef = load_files(REAL)  # only for the design object (read, not solved)
    data = prepare(small, ef.design)
    from remech.model import build_model

    m = build_model(data)
    res = solve(m, SolverOptions())
    assert res.status == "optimal"
    fs = stage.read(m, data)
    groups = bundles(6, 2)
    total = 0.0
    for b in range(len(groups)):
        mb = bundle_model(f"bundle{b}", data, groups)
        stage.fix(mb, mb_data := _bundle_data(data, groups[b]), fs)
        assert mb_data.scenarios == [data.scenarios[s] for s in groups[b]]
        rb = solve(mb, SolverOptions())
        assert rb.status == "optimal"
        total += mb._mpisppy_probability * pyo.value(mb.bundle_objective)
    assert total == pytest.approx(res.objective_musd, rel=1e-6)


def _bundle_data(data, idx):
    from remech.model.data import restrict_scenarios

    return restrict_scenarios(data, idx)


def test_lshaped_in_process_certifies_the_optimum(tiny):
    ef = solve_files(tiny)
    run = solve_decomposed(load_files(tiny), DecomposeOptions(method="lshaped", ranks=1,
                                                              bundle_size=1))
    d = _certifies(run, ef)
    _same_costs(run, ef)
    assert (d["method"], d["ranks"], d["bundles"]) == ("lshaped", 1, 2)
    assert d["gap"] <= 1e-4 and run.mechanism.status == "optimal"
    assert run.mechanism.proved_optimal
    assert run.mechanism.supported_projects == ef.mechanism.supported_projects


def test_lshaped_on_two_mpi_ranks_certifies_the_optimum(tiny):
    """An L-shaped hub and an xhat spoke, one MPI rank each (mpiexec -n 2)."""
    assert mpiexec()  # CI installs the mpich wheel: no silent skip
    ef = solve_files(tiny)
    run = solve_decomposed(load_files(tiny), DecomposeOptions(method="lshaped", ranks=2,
                                                              bundle_size=1))
    d = _certifies(run, ef)
    _same_costs(run, ef)
    assert d["ranks"] == 2 and d["spoke_inner_bound_musd"] == pytest.approx(
        ef.result.objective_musd, rel=1e-6)
    assert run.mechanism.status == "optimal"


def test_ph_on_three_mpi_ranks_certifies_the_optimum(tiny):
    """PH hub (proximal term linearised), Lagrangian and xhat-shuffle spokes."""
    ef = solve_files(tiny)
    run = solve_decomposed(load_files(tiny), DecomposeOptions(method="ph", ranks=3,
                                                              bundle_size=1))
    d = _certifies(run, ef)
    _same_costs(run, ef)
    assert d["gap"] <= 1e-4 and run.mechanism.status == "optimal"


def test_stockpile_rule_on_shipped_scenarios_is_certified(tmp_path):
    """Eight scenarios of the shipped instance (stockpile rule: second-stage binaries):
    L-shaped relaxes them for its cuts, so its bound may stay below the optimum; the gap it
    certifies still brackets the extensive form's optimum."""
    inst = load_instance(REAL)
    names = inst.scenarios["scenario"].tolist()[:8]
    probs = inst.scenarios["probability"].to_numpy()[:8]
    folder = tmp_path / "eight"
    _write_subset(REAL, folder, names, probs / probs.sum())
    ef = solve_files(folder)
    run = solve_decomposed(load_files(folder), DecomposeOptions(
        method="lshaped", ranks=1, bundle_size=4, rel_gap=1e-4), SolverOptions(mip_gap=0.01))
    d = _certifies(run, ef)
    assert d["relaxed_in_bundles"] == ["budget caps on the expected outlay"]
    assert run.mechanism.status == "optimal"  # within the 1 % asked for
    assert d["gap"] <= 0.01
    # the stock targets may differ from the extensive form's within that gap
    assert d["inner_bound_musd"] <= ef.result.objective_musd * (1 + d["gap"]) + 1e-9


def _write_subset(src, folder, names, probs) -> None:
    import shutil

    import pandas as pd

    shutil.copytree(src, folder)
    scen = pd.read_csv(folder / "scenarios.csv")
    scen = scen[scen["scenario"].isin(names)].copy()
    scen["probability"] = probs
    scen.to_csv(folder / "scenarios.csv", index=False)
    for name in ("prices.csv", "availability.csv"):
        df = pd.read_csv(folder / name)
        df[df["scenario"].isin(names)].to_csv(folder / name, index=False)


def test_cli_decompose_writes_the_same_schema_plus_bounds(tiny, tmp_path):
    ef_out, dec_out = tmp_path / "ef", tmp_path / "dec"
    r1 = CliRunner().invoke(main, ["solve", str(tiny), "-o", str(ef_out), "-q"])
    r2 = CliRunner().invoke(main, ["solve", str(tiny), "-o", str(dec_out), "-q",
                                   "--decompose", "lshaped", "--bundle-size", "1"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.output
    ef = json.loads((ef_out / "mechanism.json").read_text())
    dec = json.loads((dec_out / "mechanism.json").read_text())
    assert set(dec) - set(ef) == {"decomposition"} and set(ef) - set(dec) == set()
    assert set(dec["decomposition"]) >= {"method", "ranks", "outer_bound_musd",
                                         "inner_bound_musd", "gap", "iterations", "seconds"}
    assert dec["objective_musd"] == pytest.approx(ef["objective_musd"])
    assert dec["first_stage"] == ef["first_stage"]
    assert (dec_out / "decompose.log").exists()
    assert "certified gap" in r2.output


def test_cvar_design_is_refused_with_one_line(tiny, tmp_path):
    path = design(tiny, extra="[risk]\ncvar_weight = 0.5\ncvar_alpha = 0.9\n")
    result = CliRunner().invoke(main, ["solve", str(tiny), "-m", str(path), "-o",
                                       str(tmp_path / "out"), "--decompose", "lshaped"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: --decompose: the design cannot be decomposed by scenario: [risk] "
        "cvar_weight > 0 (CVaR couples the scenarios in the objective; set it to 0 or solve "
        "the extensive form)")


@pytest.mark.parametrize("args, message", [
    (["--ranks", "2"], "--ranks and --bundle-size need --decompose ph or lshaped"),
    (["--decompose", "lshaped", "--ranks", "3"], "--decompose lshaped --ranks 3: use 1 rank "
     "or an even number"),
    (["--decompose", "ph", "--ranks", "1"], "--decompose ph --ranks 1: PH runs"),
    (["--decompose", "lshaped", "--vss"], "--decompose solves no single model"),
])
def test_bad_decompose_options_are_one_line_errors(tiny, tmp_path, args, message):
    result = CliRunner().invoke(main, ["solve", str(tiny), "-o", str(tmp_path / "out"),
                                       *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_report_states_what_the_bounds_certify():
    from remech.reporting import status_text

    mech = {"status": "time_limit", "mip_gap": 0.07, "costs": {}, "highs_status": "Optimal",
            "decomposition": {"method": "lshaped", "ranks": 2, "outer_bound_musd": 1758.5,
                              "target_gap": 0.005}}
    para = status_text(mech)
    assert "certified gap 7.000 % between the outer bound 1,758.5 MUSD" in para.text
    assert "not proved within the target 0.5 %" in para.text and "HiGHS" not in para.text
