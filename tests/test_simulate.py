"""Out-of-sample simulation (remech simulate) and SAA bounds (remech solve --saa).

Hand-computed cases on the tiny worlds (see tests/test_handcomputed.py for the
tiny-floor arithmetic and tests/test_stockpile_policy.py for the two-year stockpile).
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_stockpile_policy import calm_and_cut, policy

from conftest import REAL, design, solve, write
from remech.cli import main
from remech.errors import InputError
from remech.evaluate import cost
from remech.instance import load_instance
from remech.mechanism import collect
from remech.model import build_model
from remech.prepare import prepare
from remech.saa import saa, seeds
from remech.scenarios import (
    GeneratorSettings,
    china_multiple,
    first_new_capacity,
    generate,
    to_tables,
    write_instance,
)
from remech.simulating import (
    own_scenarios,
    resampled_scenarios,
    sample_instance,
    simulate,
    simulate_files,
)
from remech.solving import SolverOptions
from remech.solving import solve as highs_solve
from remech.stats import mean_ci, t_quantile

TOL = dict(rel=1e-6, abs=1e-6)
SRC = "assumption: test data"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tiny_on(folder, probs: dict[str, float]):
    """The tiny-floor instance keeping only the scenarios in ``probs``, re-weighted."""
    rows = [{"scenario": "low", "probability": 0.5, "description": "", "source": SRC},
            {"scenario": "cut", "probability": 0.5, "description": "", "source": SRC}]
    write(folder, "scenarios.csv", [dict(r, probability=probs[r["scenario"]])
                                    for r in rows if r["scenario"] in probs])
    for name in ("prices.csv", "availability.csv"):
        df = pd.read_csv(folder / name)
        write(folder, name, df[df["scenario"].isin(probs)])
    return load_instance(folder)


def test_t_quantiles_match_tables():
    for p, dof, ref in [(0.95, 1, 6.313752), (0.975, 9, 2.262157), (0.95, 4, 2.131847),
                        (0.975, 30, 2.042272)]:
        assert t_quantile(p, dof) == pytest.approx(ref, abs=1e-6)
    r = mean_ci(np.array([1.0, 2.0, 3.0]), np.full(3, 1 / 3), draws=3)
    assert r["mean_musd"] == 2.0 and r["std_musd"] == pytest.approx(1.0)
    assert r["ci95_musd"] == pytest.approx([2 - 4.302653 / math.sqrt(3),
                                            2 + 4.302653 / math.sqrt(3)], abs=1e-5)


def test_floor_mechanism_on_other_scenarios_by_hand(tiny, tmp_path):
    # the tiny-floor optimum (floor 60, P1 supported) run on other scenario sets
    run = solve(tiny)
    mech, dsg = run.mechanism, run.design
    # 'cut' alone: price 80 above the floor, P1 covers the 1000 t China withholds: cost 0
    cut = tiny_on(shutil.copytree(tiny, tmp_path / "cut"), {"cut": 1.0})
    rep, tables = simulate(mech, cut, dsg, own_scenarios(cut))
    assert rep["cost"]["mean_musd"] == pytest.approx(0.0, **TOL)
    assert rep["shortfall"]["X"]["expected_t"] == pytest.approx(0.0, **TOL)
    assert rep["projects"]["supported"] == ["P1"]
    # 'low' 0.25, 'cut' 0.75: P1 bankable (0.25 x 10 + 0.75 x 30 - 20 = 5 >= 0); top-up
    # 20 MUSD in 'low', nothing in 'cut': mean 5, worst and CVaR95 20
    mix = tiny_on(shutil.copytree(tiny, tmp_path / "mix"), {"low": 0.25, "cut": 0.75})
    rep, tables = simulate(mech, mix, dsg, own_scenarios(mix))
    c = rep["cost"]
    assert c["mean_musd"] == pytest.approx(5.0, **TOL)
    assert (c["worst_musd"], c["worst_scenario"]) == (pytest.approx(20.0), "low")
    assert c["cvar_musd"] == pytest.approx(20.0, **TOL)
    assert rep["outlay"]["mean_musd"] == pytest.approx(5.0, **TOL)
    assert rep["contributions"]["US"]["mean_musd"] == pytest.approx(5.0, **TOL)
    costs = tables["scenario_costs.csv"].set_index("scenario")["total_cost_musd"]
    assert costs.to_dict() == {"low": pytest.approx(20.0), "cut": pytest.approx(0.0, abs=1e-6)}
    assert rep["evaluations"]["optimal"] == rep["evaluations"]["batches"] == 1
    # 'low' alone: P1 stays supported as decided (it would not be bankable on 'low' alone,
    # but the decision is not taken again with that future): top-up 1000 t x 20 = 20 MUSD
    low = tiny_on(shutil.copytree(tiny, tmp_path / "low"), {"low": 1.0})
    rep, _ = simulate(mech, low, dsg, own_scenarios(low))
    assert rep["cost"]["mean_musd"] == pytest.approx(20.0, **TOL)
    assert rep["projects"]["supported"] == ["P1"]


@pytest.mark.parametrize("name", ["floor", "rule"])
def test_own_scenarios_reproduce_the_in_sample_cost(tiny, name):
    # EEV-style evaluation of the solved first stage on the scenarios it was solved on
    if name == "rule":
        calm_and_cut(tiny)
        run = solve(tiny, policy(tiny, "rule"))
        expected = 12.0
    else:
        run = solve(tiny)
        expected = 10.0
    rep, tables = simulate(run.mechanism, run.instance, run.design,
                           own_scenarios(run.instance))
    assert rep["cost"]["mean_musd"] == pytest.approx(expected, **TOL)
    assert rep["cost"]["mean_musd"] == pytest.approx(
        run.mechanism["costs"]["expected_cost_musd"], **TOL)
    mine = tables["scenario_costs.csv"].set_index("scenario")["total_cost_musd"]
    theirs = run.tables["scenario_costs.csv"].set_index("scenario")["total_cost_musd"]
    assert mine.to_dict() == pytest.approx(theirs.to_dict(), **TOL)


def test_resampled_set_reproduces_its_own_solve(tiny):
    calm_and_cut(tiny)
    run = solve(tiny, policy(tiny, "rule"))
    sample = resampled_scenarios(run.instance, 7, seed=3)
    inst = sample_instance(run.instance, sample)
    data = prepare(inst, run.design)
    m = build_model(data)
    res = highs_solve(m, SolverOptions())
    mech = collect(m, data, inst, run.design, res)
    rep, _ = simulate(mech, run.instance, run.design, resampled_scenarios(run.instance, 7, 3))
    assert rep["cost"]["mean_musd"] == pytest.approx(cost(m, res), **TOL)
    assert rep["evaluations"]["draws_counted"] == 7


def test_generated_set_reproduces_its_own_solve(tmp_path):
    # 12 generated paths on the shipped world: solved as an instance, then simulated on
    # the same draw (-n 12, same seed): the mean equals the in-sample expected cost
    inst = load_instance(REAL)
    sset = generate(inst.products["product"].tolist(), inst.years,
                    GeneratorSettings(n=12, seed=5), first_new_capacity(inst))
    gen = tmp_path / "gen"
    write_instance(inst, to_tables(sset, china_multiple(inst), "assumption: test"), gen,
                   False)
    out = tmp_path / "out"
    assert invoke("solve", gen, "-o", out, "-q").exit_code == 0
    rep, _ = simulate_files(out, REAL, n=12, seed=5, jobs=1)
    mech = json.loads((out / "mechanism.json").read_text())
    assert rep["cost"]["mean_musd"] == pytest.approx(mech["costs"]["expected_cost_musd"],
                                                     rel=1e-6)
    assert rep["scenarios"]["n"] == 12 and rep["evaluations"]["optimal"] == 1


def test_batches_give_the_same_costs_as_one_evaluation(tiny):
    calm_and_cut(tiny)
    run = solve(tiny, policy(tiny, "rule"))
    sample = resampled_scenarios(run.instance, 50, seed=2)  # both scenarios drawn
    one, t1 = simulate(run.mechanism, run.instance, run.design, sample, jobs=1)
    two, t2 = simulate(run.mechanism, run.instance, run.design, sample, jobs=2,
                       batch_size=1)
    assert two["evaluations"]["batches"] == 2 and two["evaluations"]["optimal"] == 2
    assert two["cost"]["mean_musd"] == pytest.approx(one["cost"]["mean_musd"], **TOL)
    assert two["cost"]["ci95_musd"] == pytest.approx(one["cost"]["ci95_musd"], **TOL)


def v_by_hand(share_cut: float) -> float:
    """Optimum of the two-year stockpile world when 'cut' has probability f: build and
    fill 1000 t, sold in the cut and worth 20 at the end otherwise (42 - 20 (1 - f) - 40 f
    = 22 - 20 f), or bear the shortfall (100 f) (test_stockpile_policy.py)."""
    return min(22.0 - 20.0 * share_cut, 100.0 * share_cut)


def test_saa_bounds_bracket_the_known_optimum(tiny):
    # true problem: the instance itself (resample), optimum 12 MUSD by hand
    calm_and_cut(tiny)
    run = solve(tiny, policy(tiny, "rule"))
    s = saa(run.instance, run.design, run.mechanism, 6, 4, 300, "resample", seed=1, jobs=1)
    rep_seeds, eval_seed = seeds(1, 6)
    assert s["replication_seeds"] == rep_seeds and s["evaluation_seed"] == eval_seed
    for r, seed in zip(s["replication_results"], rep_seeds, strict=True):
        sample = resampled_scenarios(run.instance, 4, seed)
        f = dict(zip(sample.names, sample.weights, strict=True)).get("cut", 0.0)
        assert r["status"] == "optimal"
        assert r["objective_musd"] == pytest.approx(v_by_hand(f), **TOL)
        assert r["lower_bound_musd"] <= r["objective_musd"] + 1e-9
    lo, up, gap = s["lower_bound"], s["upper_bound"], s["gap"]
    assert s["replications_proved_optimal"] == 6 and lo["valid"] and up["valid"]
    assert lo["ci95_lower_musd"] <= 12.0
    assert up["ci95_upper_musd"] >= 12.0
    assert gap["ci95_upper_musd"] >= 0.0
    assert gap["estimate_musd"] == pytest.approx(up["estimate_musd"] - lo["estimate_musd"])
    again = saa(run.instance, run.design, run.mechanism, 6, 4, 300, "resample", seed=1,
                jobs=1)
    strip = ("wall_seconds", "replication_results")
    assert {k: v for k, v in again.items() if k not in strip} == \
        {k: v for k, v in s.items() if k not in strip}


def test_saa_refuses_a_risk_term(tiny):
    run = solve(tiny, design(tiny, extra="[risk]\ncvar_weight = 1.0\ncvar_alpha = 0.5\n"))
    with pytest.raises(InputError, match=r"\[risk\] cvar_weight is 1; the MMW bounds need"):
        saa(run.instance, run.design, run.mechanism, 2, 2, 2, "resample")


# -- the command line ------------------------------------------------------------------

def test_cli_help_has_examples():
    result = invoke("simulate", "--help")
    assert result.exit_code == 0 and "Example" in result.output
    assert "--saa M,N,N2" in invoke("solve", "--help").output


def test_cli_simulate_round_trip(tiny, tmp_path):
    out, sim = tmp_path / "out", tmp_path / "sim"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    result = invoke("simulate", out / "mechanism.json", tiny, "-o", sim, "-q")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for needle in ("remech simulate: tiny-floor mechanism x tiny-floor on the instance's own 2 "
                   "scenarios", "evaluations   1 of 1 batch proved optimal by HiGHS (2 of 2 "
                   "scenarios counted)", "cost          mean 10.0 MUSD",
                   "CVaR95 20.0, worst 20.0 (low)", "in-sample     10.0 MUSD",
                   "contributions US 10.0", "plants        1 supported (P1), 0 built "
                   "without support; as decided, not re-tested on these scenarios"):
        assert needle in text, text
    report = json.loads((sim / "simulation.json").read_text())
    assert report["cost"]["mean_musd"] == pytest.approx(10.0, **TOL)
    assert len(pd.read_csv(sim / "scenario_costs.csv")) == 2
    # the folder works as MECHANISM too, with fresh resampled scenarios, printed as JSON
    result = invoke("simulate", out, tiny, "-n", 40, "--sampler", "resample", "--seed", 4,
                    "--json", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["scenarios"] == {"source": "resample", "n": 2, "draws": 40, "seed": 4,
                                   "stress": [],
                                   "description": "40 scenarios resampled from the instance "
                                                  "(seed 4)"}


def test_cli_simulate_bad_mechanism_files(tiny, tmp_path):
    missing = tmp_path / "none" / "mechanism.json"
    result = invoke("simulate", missing, tiny)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {missing}: mechanism file not found; give the "
                                     "mechanism.json written by remech solve -o OUTDIR")
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "optimal",\n oops}')
    result = invoke("simulate", bad, tiny)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {bad} line 2: not valid JSON; give the "
                                     "mechanism.json written by remech solve -o OUTDIR")
    bad.write_text('{"status": "optimal", "costs": {}}')
    assert invoke("simulate", bad, tiny).stderr.strip() == (
        f"error: {bad}: no 'first_stage' block; write the mechanism with this version of "
        "remech solve -o OUTDIR")


def test_cli_simulate_refuses_a_clairvoyant_stockpile(tiny, tmp_path):
    calm_and_cut(tiny)
    path = policy(tiny, "clairvoyant")
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-m", path, "-o", out, "-q").exit_code == 0
    result = invoke("simulate", out, tiny)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {path} [stockpile] policy: 'clairvoyant' sees each scenario's whole future, "
        "so it is a bound and cannot be simulated; solve with [stockpile] policy = \"rule\" "
        "and simulate that mechanism")


def test_cli_solve_saa(tiny, tmp_path):
    calm_and_cut(tiny)
    policy(tiny, "rule")
    out = tmp_path / "out"
    result = invoke("solve", tiny, "-o", out, "--saa", "3,4,60", "--saa-seed", 2,
                    "--jobs", 2)
    assert result.exit_code == 0, result.output
    assert "SAA (MMW)     lower bound" in result.stdout
    assert "3 of 3 replications of 4 scenarios proved optimal" in result.stdout
    s = json.loads((out / "mechanism.json").read_text())["saa"]
    assert s["sampler"] == "resample"  # product X has no price history
    assert (s["replications"], s["scenarios_per_replication"], s["evaluation_scenarios"]) \
        == (3, 4, 60)
    assert s["gap"]["ci95_upper_musd"] >= 0
    result = invoke("solve", tiny, "-o", tmp_path / "o2", "--saa", "1,4")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --saa 1,4: expected M,N,N2 (replications, scenarios per replication, "
        "evaluation scenarios); write e.g. --saa 10,100,2000")


def test_cli_simulate_checks_the_mechanism_against_design_and_instance(tiny, tmp_path):
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    mech_file = out / "mechanism.json"
    mech = json.loads(mech_file.read_text())
    edited = tmp_path / "edited.json"

    def run_with(change) -> str:
        doc = json.loads(json.dumps(mech))
        change(doc)
        edited.write_text(json.dumps(doc))
        result = invoke("simulate", edited, tiny)
        assert result.exit_code == 2, result.output
        return result.stderr.strip()

    assert run_with(lambda d: d["first_stage"]["support"][0].update(plant="NOPE")) == (
        f"error: {edited} 'first_stage.support': plant 'NOPE' is not in instance "
        f"'tiny-floor' ({tiny}); the mechanism was solved on 'tiny-floor'; simulate it on an "
        "instance with the same products and plants")
    assert run_with(lambda d: d["first_stage"]["support"][0].update(
        grant_musd=float("nan"))) == (
        f"error: {edited} 'first_stage' grant_musd: nan is not a finite value in [0, inf]; "
        "write the mechanism with remech solve -o OUTDIR")
    assert run_with(lambda d: d["first_stage"]["floor_level"]["X"].update(
        level_usd_per_kg=55.0)) == (
        f"error: {edited} 'first_stage.floor_level.X': 55 USD/kg (upside share 0) is not on "
        "the design's menu for X; simulate with the design the mechanism was solved with")
    assert run_with(lambda d: d.update(status="infeasible")) == (
        f"error: {edited} 'status': 'infeasible' is not a solved mechanism; simulate a "
        "mechanism.json whose solve found one (optimal, time_limit or interrupted)")
    design_file = tiny / "design.toml"
    design_file.write_text(design_file.read_text() + "\n# edited after the solve\n")
    result = invoke("simulate", out, tiny)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {mech_file} 'design.sha256': the design {design_file} differs from the one "
        "the mechanism was solved with; simulate with that design file, or solve again with "
        "this one")


# -- China's flooding response (issue 9, item 10) -----------------------------------------

def test_china_response_floods_what_the_mechanism_brings_online(tiny):
    # tiny-floor: the 60 floor brings P1 (1,000 t, new) online, equal to allied demand
    # (1,000 t): x = 1, depth min(0.35, 1 x 1) = 0.35, years min(1, ceil(10)) = 1 (the
    # horizon is one year). Prices 40 -> 26 ('low') and 80 -> 52 ('cut'); P1 still runs at
    # the floor, so the top-up is 1,000 t x 34 = 34 MUSD in 'low' and 8 in 'cut': 21
    # expected, against 10 without the response.
    from remech.response import FloodingResponse, parse_response

    run = solve(tiny)
    plain, _ = simulate(run.mechanism, run.instance, run.design,
                        own_scenarios(run.instance))
    rep, tables = simulate(run.mechanism, run.instance, run.design,
                           own_scenarios(run.instance), response=FloodingResponse())
    assert plain["cost"]["mean_musd"] == pytest.approx(10.0, **TOL)
    assert rep["cost"]["mean_musd"] == pytest.approx(21.0, **TOL)
    step = rep["china_response"]["by_product"]["X"]
    assert step == {"projects": ["P1"], "first_year": 2030,
                    "new_capacity_share_of_demand": pytest.approx(1.0), "depth": 0.35,
                    "years": 1}
    costs = tables["scenario_costs.csv"].set_index("scenario")["topup_musd"]
    assert costs.to_dict() == pytest.approx({"low": 34.0, "cut": 8.0}, **TOL)
    milder = parse_response("depth=0.1,max=0.5")
    rep, _ = simulate(run.mechanism, run.instance, run.design,
                      own_scenarios(run.instance), response=milder)
    # depth 0.1: prices 36 and 72, top-ups 24 and 0
    assert rep["cost"]["mean_musd"] == pytest.approx(12.0, **TOL)


def test_china_response_spec_errors():
    from remech.response import parse_response

    with pytest.raises(InputError) as err:
        parse_response("depth=x")
    assert str(err.value) == (
        "--china-response depth=x: 'depth=x' is not one of depth=N, max=SHARE, years=N with "
        "a finite number >= 0; write e.g. --china-response depth=1,max=0.35,years=10")
    with pytest.raises(InputError, match="max=1.5 must be below 1"):
        parse_response("max=1.5")


def test_cli_china_response(tiny, tmp_path):
    run = solve(tiny)
    out = tmp_path / "out"
    run.mechanism.write(out, force=False)
    result = invoke("simulate", str(out), str(tiny), "--china-response", "default")
    assert result.exit_code == 0, result.output
    assert "China answers X: new capacity 100 % of demand from 2030, prices -35 % for 1 " \
           "year (assumption)" in result.output
    assert "mean 21.0 MUSD" in result.output
