"""Where the extensive form's integrality gap sits: the LP relaxation, the model with only
the first stage integer (the stockpile rule's binaries stock_drawn/stock_surplus relaxed)
and the full MIP, solved by HiGHS on the written model with remech's objective scale.

    python benchmarks/root_gap.py instances/allied-ree-2026
    python benchmarks/root_gap.py FOLDER [--design models/X.toml] [--time-limit 900]

(The synthetic instances of benchmarks/bench.py: ``bench.synthetic(200, Path(DEST))``.)
Used for benchmarks/README.md, "Item 3 of issue 11".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import highspy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remech.run import build, load_files  # noqa: E402
from remech.solving import new_highs, objective_scale, write_lp  # noqa: E402

RULE_BINARIES = ("stock_drawn", "stock_surplus")


def solve(lp: Path, relax: str, time_limit: float) -> tuple[float, float, int, int]:
    """(objective, seconds, integers kept, nodes) with ``relax``: "none", "rule" or "all"."""
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(lp))
    model = h.getLp()
    n = model.num_col_
    h.setOptionValue("user_objective_scale", objective_scale(model.col_cost_))
    h.setOptionValue("time_limit", time_limit)
    ints = [i for i in range(n)
            if model.integrality_ and model.integrality_[i] != highspy.HighsVarType.kContinuous]
    if relax == "all":
        freed = ints
    elif relax == "rule":
        freed = [i for i in ints if model.col_names_[i].startswith(RULE_BINARIES)]
    else:
        freed = []
    if freed:
        h.changeColsIntegrality(len(freed), freed,
                                [highspy.HighsVarType.kContinuous] * len(freed))
    t = time.perf_counter()
    h.run()
    info = h.getInfo()
    return (info.objective_function_value, time.perf_counter() - t, len(ints) - len(freed),
            info.mip_node_count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", type=Path)
    ap.add_argument("--design", type=Path, default=None)
    ap.add_argument("--time-limit", type=float, default=900.0)
    args = ap.parse_args()
    run = build(load_files(args.instance, args.design))
    with tempfile.TemporaryDirectory() as tmp:
        lp = Path(tmp) / "model.lp"
        write_lp(run.model, lp, symbolic=True)  # names tell the rule's binaries apart
        full = solve(lp, "none", args.time_limit)
        print(f"full MIP: {full[0]:.2f} MUSD ({full[1]:.1f} s, {full[2]} integers, "
              f"{full[3]} nodes)")
        for label, relax in (("LP relaxation", "all"),
                             ("first stage integer only (rule binaries relaxed)", "rule")):
            value, secs, kept, nodes = solve(lp, relax, args.time_limit)
            print(f"{label}: {value:.2f} MUSD ({secs:.1f} s, {kept} integers, {nodes} nodes); "
                  f"gap to the MIP {(full[0] - value) / full[0]:.2%}")


if __name__ == "__main__":
    main()
