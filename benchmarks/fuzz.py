"""Long fuzz run of remech's input checks: mutate instances/tiny-floor and count outcomes.

    python benchmarks/fuzz.py --cases 3000 --solve-every 5 --seed 0

Prints the number of cases per command and exit class, and every failing case (a
traceback, an error that names no file, a file touched outside the output folder) with
its seed and mutations; tests/test_fuzz.py runs a few hundred of the same cases.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_cases import run_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--solve-every", type=int, default=5,
                    help="run remech solve on every N-th case (0: never)")
    args = ap.parse_args()
    counts: Counter = Counter()
    failures = []
    t0 = time.perf_counter()
    for seed in range(args.seed, args.seed + args.cases):
        solve = bool(args.solve_every) and seed % args.solve_every == 0
        with tempfile.TemporaryDirectory(prefix="remech-fuzz-") as tmp:
            case = run_case(seed, Path(tmp), solve=solve)
        counts[(case.command, case.exit_class)] += 1
        if case.problem:
            failures.append(case)
            counts[(case.command, "FAILED")] += 1
    wall = time.perf_counter() - t0
    print(f"{args.cases} cases in {wall:.0f} s (seeds {args.seed}-{args.seed + args.cases - 1})")
    for (command, cls), n in sorted(counts.items()):
        print(f"  {command:9s} {cls:10s} {n}")
    for case in failures:
        print(f"FAILED seed {case.seed} {case.command}: {case.problem}\n    "
              + "\n    ".join(case.mutations))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
