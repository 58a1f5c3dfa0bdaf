"""Benchmark remech solve --decompose against the extensive form on generated scenario sets.

    python benchmarks/decompose_bench.py --scenarios 100 500 1000 \\
        --cases ef lshaped:1 lshaped:2 --time-limit 600 --gap 0.005

For each N, ``remech scenarios generate instances/allied-ree-2026 -n N --seed 3 --stress all``
writes the instance (once, under --workdir); each case is one ``remech solve`` in its own
process: ``ef`` the extensive form (HiGHS, --mip-gap 1e-4), ``METHOD:RANKS`` a decomposed
solve (--mip-gap = --gap, the certified gap at which it stops). Peak memory is the largest
sum of the resident set sizes of the process tree (all MPI ranks), sampled every 0.2 s.
Prints one Markdown row per case and appends the JSON record to --results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "instances" / "allied-ree-2026"


def instance(n: int, workdir: Path) -> Path:
    dest = workdir / f"gen-{n}"
    if not (dest / "scenarios.csv").exists():
        subprocess.run(["remech", "scenarios", "generate", str(REAL), "-n", str(n), "--seed",
                        "3", "--stress", "all", "-o", str(dest)], check=True,
                       stdout=subprocess.DEVNULL)
    return dest


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_case(inst: Path, case: str, out: Path, time_limit: float, gap: float,
             bundle: int) -> dict:
    cmd = ["remech", "solve", str(inst), "-o", str(out), "--force", "-q",
           "--time-limit", str(time_limit)]
    if case == "ef":
        cmd += ["--mip-gap", "1e-4"]
    else:
        method, ranks = case.split(":")
        cmd += ["--mip-gap", str(gap), "--decompose", method, "--ranks", ranks,
                "--bundle-size", str(bundle)]
    t0, peak = time.perf_counter(), 0
    log = out.parent / f"{out.name}.txt"
    with open(log, "w") as f:
        proc = psutil.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc))
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    try:
        mech = json.loads((out / "mechanism.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {"case": case, "error": f"exit {proc.returncode}, see {log}",
                "seconds": seconds}
    dec = mech.get("decomposition") or {}
    return {"case": case, "scenarios": mech["sizes"]["scenarios"], "status": mech["status"],
            "seconds": round(seconds, 1), "peak_rss_mb": round(peak / 2**20),
            "objective_musd": mech["objective_musd"], "bound_musd": mech["dual_bound_musd"],
            "gap": mech["mip_gap"], "iterations": dec.get("iterations"),
            "bundles": dec.get("bundles"), "decomposition_s": dec.get("seconds"),
            "timings_s": mech.get("timings_s"), "model_size": mech["solver"]["model_size"]}


def row(r: dict) -> str:
    if "error" in r:
        return f"| {r['case']} | error: {r['error']} |"
    gap = f"{r['gap'] * 100:.3f} %" if r["gap"] is not None else "n/a"
    bound = f"{r['bound_musd']:,.1f}" if r["bound_musd"] is not None else "n/a"
    return (f"| {r['scenarios']} | {r['case']} | {r['status']} | {r['objective_musd']:,.1f} | "
            f"{bound} | {gap} | {r['iterations'] or '-'} | {r['seconds']:,.0f} s | "
            f"{r['peak_rss_mb']:,} MB |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--cases", nargs="+", default=["ef", "lshaped:1", "lshaped:2"])
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--gap", type=float, default=0.005)
    ap.add_argument("--bundle-size", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/remech-decompose-bench"))
    ap.add_argument("--results", type=Path,
                    default=ROOT / "benchmarks" / "results-decompose.jsonl")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| scenarios | case | status | objective (inner) MUSD | bound (outer) MUSD | gap | "
          "iterations | end-to-end | peak RSS |\n|---|---|---|---|---|---|---|---|---|",
          flush=True)
    for n in args.scenarios:
        inst = instance(n, args.workdir)
        for case in args.cases:
            out = args.workdir / f"out-{n}-{case.replace(':', '-')}"
            r = run_case(inst, case, out, args.time_limit, args.gap, args.bundle_size)
            r["requested_scenarios"] = n
            print(row(r), flush=True)
            with open(args.results, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    sys.exit(main())
