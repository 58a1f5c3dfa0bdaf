"""Benchmark remech game on large formula games: wall time, peak memory, what was proved.

    python benchmarks/games.py                        # airport 20/30/50, majority 30/50,
                                                      # and the 20-player table
    python benchmarks/games.py --players 30 --no-table

Each case runs ``remech game --costs FILE --json -q`` in its own process under
``/usr/bin/time -v`` (peak memory = that process's maximum resident set size) with the
default tolerance (95 % half-width <= 1 % of |c(N)|) unless --tolerance is given. Formula
games are seeded: airport costs a_i ~ U(1, 100) rounded to 0.1 (c(S) = max a_i), weighted
majority weights w_i ~ U{1..19}, quota half the total plus one, prize 100 MUSD. The
reference values are closed forms (airport: Littlechild and Owen 1973 for the Shapley
value, Littlechild 1974 for the nucleolus; majority: the exact Shapley value by counting);
the script reports the largest error and the share of players whose interval covers the
exact value. The table case writes the 20-player airport game as a CSV of all 2^20 - 1
coalitions and analyses it as before this change (enumerated) and with --lazy.

    python benchmarks/games.py --owen 34 --players --majority --no-table

The Owen cases (``--owen N``): N-player airport and majority games with the first
N - 7 players as one union "EU" (34: the EU's 27 members and 7 allies alone), run as
``remech game --costs FILE --unions EU=...``; the airport reference is the closed form of
Vazquez-Brage, van den Nouweland and Garcia-Jurado (1997).

    python benchmarks/games.py --instance instances/allied-ree-eu27-2026 --minutes 28 \
        --owen-minutes 20 --players --majority --no-table

The instance cases run ``benchmarks/games_instance.py`` (coalitions solved on demand with
--jobs 2, a fresh cache) under /usr/bin/time, one after the other: the Shapley value by
random orders and the least core by row generation within ``--minutes``, then the Owen
value with the EU as a union within ``--owen-minutes``; peak memory is the largest sum of
the resident sets of the process group (parent and solver processes), sampled every
second. Each prints its JSON progress lines and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remech.oracle import AirportGame, MajorityGame, rows_to_masks  # noqa: E402


def write_toml(game, path: Path) -> Path:
    if isinstance(game, AirportGame):
        head, values = 'game = "airport"\n[cost_musd]\n', game.a
    else:
        head = (f'game = "weighted_majority"\nquota = {game.quota:g}\n'
                f"prize_musd = {game.prize:g}\n[weight]\n")
        values = game.w
    path.write_text(head + "".join(f"{p} = {v:g}\n" for p, v in
                                   zip(game.players, values, strict=True)))
    return path


def write_table(game, path: Path) -> Path:
    """Every coalition of a (small) formula game as coalition,cost rows."""
    n = game.n
    with path.open("w") as f:
        f.write("coalition,cost\n")
        step = 1 << 16
        for start in range(1, 1 << n, step):
            masks = np.arange(start, min(start + step, 1 << n), dtype=np.int64)
            rows = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)
            assert (rows_to_masks(rows) == masks).all()
            costs = game.costs(rows)
            names = np.array(game.players)
            f.write("".join(f"{'+'.join(names[r])},{c:g}\n" for r, c in
                            zip(rows, costs, strict=True)))
    return path


def run(costs: Path, extra: list[str], timeout: float) -> dict | None:
    """One case in its own process group (killed whole after ``timeout`` seconds: None)."""
    cmd = ["/usr/bin/time", "-v", str(Path(sys.executable).parent / "remech"), "game",
           "--costs", str(costs), "--json", "-q", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    if proc.returncode:
        raise RuntimeError(stderr[-2000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)",
                     stderr)[1]
    seconds = sum(float(x) * 60 ** k for k, x in enumerate(reversed(wall.split(":"))))
    return {"seconds": seconds, "peak_rss_mb": rss / 1024, "result": json.loads(stdout)}


def summarise(name: str, game, case: dict) -> dict:
    r = case["result"]
    players = r["players"]
    shap = r.get("shapley_method", {"method": "exact (enumerated)"})
    phi = np.array([r["shapley"][p] for p in players])
    exact_phi = game.shapley_closed_form() if isinstance(game, AirportGame) \
        else game.shapley_exact()
    row = {"case": name, "n": len(players), "seconds": case["seconds"],
           "peak_rss_mb": case["peak_rss_mb"],
           "shapley": shap.get("stopped", "exact"),
           "samples": shap.get("samples"), "half_width": shap.get("largest_half_width"),
           "tolerance": shap.get("tolerance_musd"),
           "shapley_err": float(np.abs(phi - exact_phi).max()),
           "epsilon": r["least_core"]["epsilon"],
           "lc_proved": r["least_core"].get("proved", True),
           "nuc_proved": r.get("nucleoli_proof", {}).get("nucleolus", {}).get("proved", True)}
    if "ci95_half_width" in shap:
        half = np.array([shap["ci95_half_width"][p] for p in players])
        row["covered"] = float(np.mean(np.abs(phi - exact_phi) <= half))
    if isinstance(game, AirportGame) and r["nucleolus"] is not None:
        nuc = np.array([r["nucleolus"][p] for p in players])
        row["nucleolus_err"] = float(np.abs(nuc - game.nucleolus_closed_form()).max())
    return row


def fmt(row: dict) -> str:
    def num(key, spec):
        return format(row[key], spec) if row.get(key) is not None else "-"
    samples = f"{row['samples']:,}" if row.get("samples") else "-"
    nuc = "proved" if row["nuc_proved"] else "searched"
    if "nucleolus_err" in row:
        nuc += f", err {row['nucleolus_err']:.1g}"
    return (f"| {row['case']} | {row['n']} | {row['seconds']:.1f} s | "
            f"{row['peak_rss_mb']:,.0f} MB | {row['shapley']} | {samples} | "
            f"{num('half_width', '.3f')} / {num('tolerance', '.3f')} | "
            f"{num('covered', '.0%')} | {row['shapley_err']:.2g} | "
            f"{row['epsilon']:.3f} ({'proved' if row['lc_proved'] else 'searched'}) | "
            f"{nuc} |")


def case(name: str, game, path: Path, extra: list[str], timeout: float) -> None:
    result = run(path, extra, timeout)
    if result is None:
        print(f"| {name} | {game.n} | > {timeout:.0f} s (stopped) | | | | | | | | |",
              flush=True)
    else:
        print(fmt(summarise(name, game, result)), flush=True)




def owen_case(name: str, game, path: Path, extra: list[str], timeout: float) -> None:
    members = game.players[:game.n - 7]
    result = run(path, ["--unions", "EU=" + ",".join(members), *extra], timeout)
    if result is None:
        print(f"| {name} | {game.n} | > {timeout:.0f} s (stopped) | | | | | |", flush=True)
        return
    r = result["result"]
    owen = r["owen"]
    value = np.array([owen["value"][p] for p in game.players])
    err = cover = "-"
    if isinstance(game, AirportGame):
        blocks = [list(range(len(members)))] + [[i] for i in range(len(members), game.n)]
        exact = game.owen_closed_form(blocks)
        half = np.array([owen["ci95_half_width"][p] for p in game.players])
        err = f"{np.abs(value - exact).max():.2g}"
        cover = f"{np.mean(np.abs(value - exact) <= half + 1e-9):.0%}"
    shap = r["shapley_method"]
    print(f"| {name} | {game.n} | {result['seconds']:.1f} s | "
          f"{result['peak_rss_mb']:,.0f} MB | {shap.get('samples', 0):,} / "
          f"{shap.get('largest_half_width', 0):.3f} | {r['least_core']['epsilon']:.3f} "
          f"({'proved' if r['least_core']['proved'] else 'searched'}) | "
          f"{owen.get('samples', 0):,} / {owen.get('largest_half_width', 0):.3f} "
          f"(tol. {owen.get('tolerance_musd', 0):.3f}) | "
          f"EU {owen['union_totals']['EU']['total']:,.2f}"
          f" | {err} | {cover} |", flush=True)


def group_rss_mb(pgid: int) -> float:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of /proc/PID/stat: process group
            total += int(fields[21])  # rss in pages (field 24)
    return total * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def instance_case(folder: str, phase: str, seconds: float, extra: list[str]) -> None:
    """One run of games_instance.py: its JSON lines as they come, then the summary."""
    with tempfile.TemporaryDirectory() as cache:
        cmd = ["/usr/bin/time", "-v", sys.executable, str(ROOT / "benchmarks" /
               "games_instance.py"), folder, "--phase", phase, "--seconds", str(seconds),
               "--cache", cache, *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, start_new_session=True)
        peak = [0.0]

        def watch():
            while proc.poll() is None:
                peak[0] = max(peak[0], group_rss_mb(proc.pid))
                time.sleep(1.0)

        threading.Thread(target=watch, daemon=True).start()
        err = []
        threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
        for line in proc.stdout:
            print(line.rstrip(), flush=True)
        proc.wait(timeout=seconds + 900)
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)",
                         "".join(err))
        print(f"# {phase}: exit {proc.returncode}, wall {wall[1] if wall else '?'}, peak RSS "
              f"of the process group {peak[0]:,.0f} MB, load {os.getloadavg()}", flush=True)
        if proc.returncode:
            print("".join(err)[-3000:], file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--players", type=int, nargs="*", default=[20, 30, 50])
    ap.add_argument("--majority", type=int, nargs="*", default=[30, 50])
    ap.add_argument("--tolerance", type=float, default=None)
    ap.add_argument("--no-table", action="store_true", help="skip the 20-player table")
    ap.add_argument("--no-enumerated", action="store_true",
                    help="analyse the 20-player table only with --lazy")
    ap.add_argument("--case-timeout", type=float, default=3600.0, help="seconds per case")
    ap.add_argument("--owen", type=int, nargs="*", default=[34],
                    help="players of the airport and majority games with an 'EU' union")
    ap.add_argument("--instance", help="also the instance cases on this folder")
    ap.add_argument("--minutes", type=float, default=28.0,
                    help="instance: Shapley value and least core within this many minutes")
    ap.add_argument("--owen-minutes", type=float, default=20.0,
                    help="instance: Owen value within this many minutes")
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    extra = ["--tolerance", str(args.tolerance)] if args.tolerance else []
    print("| case | players | time | peak RSS | Shapley | samples | half-width / tol. | "
          "covered | Shapley err. | least-core eps | nucleolus |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [(f"airport {n} (formula)", AirportGame.seeded(n)) for n in args.players]
        cases += [(f"majority {n} (formula)", MajorityGame.seeded(n)) for n in args.majority]
        for name, game in cases:
            path = write_toml(game, tmp / f"{game.formula}-{game.n}.toml")
            lazy = ["--lazy"] if game.n <= 16 else []
            case(name, game, path, lazy + extra, args.case_timeout)
        if not args.no_table:
            game = AirportGame.seeded(20)
            path = write_table(game, tmp / "airport-20.csv")
            case("airport 20 (table, --lazy)", game, path, ["--lazy"] + extra,
                 args.case_timeout)
            if not args.no_enumerated:
                case("airport 20 (table, enumerated)", game, path, [], args.case_timeout)
        if args.owen:
            print("\n| case | players | time | peak RSS | Shapley samples / half-width | "
                  "least-core eps | Owen samples / half-width | EU total | Owen err. | "
                  "covered |\n|---|---|---|---|---|---|---|---|---|---|")
        for n in args.owen:
            for name, game in ((f"airport {n} + EU union", AirportGame.seeded(n)),
                               (f"majority {n} + EU union", MajorityGame.seeded(n))):
                path = write_toml(game, tmp / f"{game.formula}-owen-{n}.toml")
                owen_case(name, game, path, extra, args.case_timeout)
    if args.instance:
        unions = str(Path(args.instance) / "unions.toml")
        instance_case(args.instance, "shapley-lc", 60 * args.minutes, [])
        instance_case(args.instance, "owen", 60 * args.owen_minutes, ["--unions", unions])


if __name__ == "__main__":
    main()
