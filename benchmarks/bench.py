"""Benchmark remech solve: time per phase, peak memory, model size, gaps, nodes.

    python benchmarks/bench.py                       # realistic + synthetic 50/200/500
    python benchmarks/bench.py --scenarios 50 200    # chosen synthetic sizes only
    python benchmarks/bench.py --handoff             # also time Pyomo's APPSI HiGHS route
    python benchmarks/bench.py --policy rule clairvoyant --scenarios 500 1000
                                                     # the stockpile policies side by side
    python benchmarks/bench.py --base instances/allied-ree-chain-2026 \
        --model models/chain-full.toml --scenarios 500   # the value-chain instance

Each case runs in its own process (peak memory = that process's max RSS). Synthetic
instances resample the realistic instance's scenarios with replacement and scale each
price path by lognormal noise (sigma 0.1, seeded), with equal probabilities; everything
else is the realistic instance. "HiGHS alone" re-reads the model written with
--write-model into a fresh highspy and times its run with the options remech set
(objective scale, seed, gap): the ratio end-to-end / HiGHS alone is remech's overhead
factor. The LP-relaxation gap is (objective - LP bound) / objective, the tightness of the
formulation before HiGHS's cuts.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "instances" / "allied-ree-2026"
DESIGN = ROOT / "models" / "floor-stockpile-grants.toml"


def synthetic(n: int, dest: Path, seed: int = 7, base: Path = REAL) -> Path:
    """The realistic instance (or ``base``) with n resampled, perturbed scenarios."""
    REAL_ = base  # noqa: N806
    shutil.copytree(REAL_, dest)
    rng = np.random.default_rng(seed)
    scen = pd.read_csv(REAL_ / "scenarios.csv")
    prices = pd.read_csv(REAL_ / "prices.csv")
    avail = pd.read_csv(REAL_ / "availability.csv")
    picks = rng.integers(len(scen), size=n)
    rows_s, rows_p, rows_a = [], [], []
    src = f"assumption: synthetic benchmark scenario resampled from {REAL_.name}"
    for k, i in enumerate(picks):
        name, new = scen.at[i, "scenario"], f"syn{k:04d}"
        rows_s.append({"scenario": new, "probability": 1.0 / n, "description": name,
                       "source": src})
        p = prices[prices["scenario"] == name].copy()
        p["scenario"] = new
        p["price_usd_per_kg"] = (p["price_usd_per_kg"] * np.exp(
            rng.normal(0, 0.1, size=len(p)))).round(2)
        p["source"] = src
        rows_p.append(p)
        a = avail[avail["scenario"] == name].copy()
        a["scenario"] = new
        a["source"] = src
        rows_a.append(a)
    s = pd.DataFrame(rows_s)
    s["probability"] = f"{1.0 / n:.15f}"
    s.to_csv(dest / "scenarios.csv", index=False)
    pd.concat(rows_p).to_csv(dest / "prices.csv", index=False)
    pd.concat(rows_a).to_csv(dest / "availability.csv", index=False)
    return dest


def design_with_policy(policy: str, dest: Path, design: Path = DESIGN) -> Path:
    """The default design (or ``design``) with [stockpile] policy set (rule, tree or
    clairvoyant)."""
    text = design.read_text()
    if "[stockpile]" in text:
        text = re.sub(r'(?m)^policy = ".*"$', f'policy = "{policy}"', text)
    else:
        text += f'\n[stockpile]\npolicy = "{policy}"\n'
    path = dest / f"design-{policy}.toml"
    path.write_text(text)
    return path


def run_case(instance: Path, handoff: bool, time_limit: float,
             design: Path = DESIGN) -> dict:
    """One measured solve, in this process."""
    import highspy

    from remech.results import write_results
    from remech.run import solve_files
    from remech.solving import SolverOptions, new_highs

    work = Path(tempfile.mkdtemp(prefix="remech-bench-"))
    lp = work / "model.lp"
    t0 = time.perf_counter()
    run = solve_files(instance, design, SolverOptions(time_limit_s=time_limit), lp)
    t1 = time.perf_counter()
    write_results(work / "out", run.mechanism, run.tables, force=True)
    end_to_end = time.perf_counter() - t0
    write_s = time.perf_counter() - t1
    r, ts = run.result, run.timings_s
    out = {
        "instance": str(instance.name), "policy": run.data.stock_policy,
        "sizes": run.data.sizes, "model": r.model_size,
        "status": r.status, "objective_musd": r.objective_musd, "mip_gap": r.mip_gap,
        "nodes": r.nodes,
        "read_s": ts["read instance"] + ts["read design"], "prepare_s": ts["prepare data"],
        "build_s": ts["build model"],
        "handoff_s": r.timings_s["write_lp"] + r.timings_s["read_lp"],
        "write_lp_s": r.timings_s["write_lp"], "solve_s": r.timings_s["solve"],
        "load_and_collect_s": r.timings_s["load_solution"] + ts["collect results"],
        "write_s": write_s, "end_to_end_s": end_to_end,
    }
    # HiGHS alone on the written model with the options remech set (the objective scale
    # changes HiGHS's search path: without it the two runs are not the same solve), and
    # its LP relaxation
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", time_limit)
    h.readModel(str(lp))
    h.setOptionValue("user_objective_scale", int(r.options["user_objective_scale"]))
    h.setOptionValue("random_seed", int(r.options["random_seed"]))
    h.setOptionValue("mip_rel_gap", float(r.options["mip_rel_gap"]))
    t = time.perf_counter()
    h.run()
    out["highs_alone_s"] = time.perf_counter() - t
    relax = new_highs()
    relax.setOptionValue("output_flag", False)
    relax.passModel(h.getLp())
    n = h.getLp().num_col_
    relax.changeColsIntegrality(n, list(range(n)), [highspy.HighsVarType.kContinuous] * n)
    t = time.perf_counter()
    relax.run()
    out["lp_relaxation_s"] = time.perf_counter() - t
    lp_bound = relax.getInfo().objective_function_value
    if r.objective_musd:
        out["lp_relaxation_gap"] = (r.objective_musd - lp_bound) / abs(r.objective_musd)
    out["overhead_ratio"] = end_to_end / out["highs_alone_s"]
    out["build_plus_handoff_share"] = (out["build_s"] + out["handoff_s"]) / end_to_end
    if handoff:
        out.update(appsi_handoff(instance, time_limit, design))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(work, ignore_errors=True)
    return out


def appsi_handoff(instance: Path, time_limit: float, design: Path) -> dict:
    """Time Pyomo's in-memory APPSI HiGHS interface on the same model, for comparison."""
    from pyomo.contrib.appsi.solvers.highs import Highs as AppsiHighs

    from remech.run import build, load_files

    run = build(load_files(instance, design))
    solver = AppsiHighs()
    solver.config.time_limit = time_limit
    solver.config.load_solution = False
    solver.highs_options = {"output_flag": False}
    t = time.perf_counter()
    solver.set_instance(run.model)
    handoff = time.perf_counter() - t
    t = time.perf_counter()
    res = solver.solve(run.model)
    total = handoff + (time.perf_counter() - t)
    return {"appsi_set_instance_s": handoff, "appsi_total_s": total,
            "appsi_objective_musd": res.best_feasible_objective}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, nargs="*", default=[50, 200, 500])
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--handoff", action="store_true")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--policy", nargs="*", default=["rule"],
                    help="stockpile policies to run each case with (rule, tree, clairvoyant;"
                         " tree needs instances with nodes.csv)")
    ap.add_argument("--instance", type=Path, nargs="*", default=[],
                    help="further instance folders to run (e.g. a generated tree)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--design", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--base", type=Path, default=REAL,
                    help="the realistic instance the synthetic ones resample (default: "
                         "instances/allied-ree-2026)")
    ap.add_argument("--model", type=Path, default=DESIGN,
                    help="the design (default: models/floor-stockpile-grants.toml)")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(Path(args.case), args.handoff, args.time_limit,
                                  Path(args.design))))
        return
    tmp = Path(tempfile.mkdtemp(prefix="remech-bench-inst-"))
    base = args.base.resolve()
    cases = [] if args.no_real else [base]
    cases += [synthetic(n, tmp / f"synthetic-{n}", base=base) for n in args.scenarios]
    cases += list(args.instance)
    designs = [design_with_policy(p, tmp, args.model.resolve()) for p in args.policy]
    results = []
    for inst in cases:
        for design in designs:
            if "tree" in design.name and not (inst / "nodes.csv").is_file():
                continue
            cmd = [sys.executable, __file__, "--case", str(inst), "--design", str(design),
                   "--time-limit", str(args.time_limit)] + (
                       ["--handoff"] if args.handoff else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            print(format_row(res), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


def format_row(r: dict) -> str:
    m = r["model"]
    parts = [
        f"{r['instance']:<24} {r['policy']:<11} S={r['sizes']['scenarios']:<4} "
        f"cols={m['columns']:<7} "
        f"rows={m['rows']:<7} nnz={m['nonzeros']:<8} int={m['integer_columns']:<4}",
        f"  status {r['status']}, objective {r['objective_musd']:.2f} MUSD, gap "
        f"{(r['mip_gap'] or 0) * 100:.3f} %, nodes {r['nodes']}, LP-relaxation gap "
        f"{r.get('lp_relaxation_gap', float('nan')) * 100:.2f} %",
        f"  read {r['read_s']:.2f} s, prepare {r['prepare_s']:.2f} s, build "
        f"{r['build_s']:.2f} s, hand-off {r['handoff_s']:.2f} s (write LP "
        f"{r['write_lp_s']:.2f}), solve {r['solve_s']:.2f} s, load+collect "
        f"{r['load_and_collect_s']:.2f} s, write {r['write_s']:.2f} s",
        f"  end-to-end {r['end_to_end_s']:.2f} s; HiGHS alone on the written model "
        f"{r['highs_alone_s']:.2f} s (ratio {r['overhead_ratio']:.2f}); build+hand-off "
        f"{r['build_plus_handoff_share'] * 100:.1f} % of end-to-end; LP relaxation "
        f"{r['lp_relaxation_s']:.2f} s; peak RSS {r['peak_rss_mb']:.0f} MB",
    ]
    if "appsi_total_s" in r:
        parts.append(f"  APPSI route: set_instance {r['appsi_set_instance_s']:.2f} s, "
                     f"set_instance+solve {r['appsi_total_s']:.2f} s "
                     f"(objective {r['appsi_objective_musd']:.2f})")
    return "\n".join(parts)


if __name__ == "__main__":
    main()
