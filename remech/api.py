"""remech from Python or Jupyter: the same objects the command line writes from.

    from remech import api
    mech = api.solve("instances/allied-ree-2026", overrides={
        "price_floor.levels_usd_per_kg.NDPR": [80], "objective.view": "economic"})
    mech.floors_usd_per_kg, mech.costs["views"], mech.legal_risk["highest_screen"]
    mech.table("projects")            # or mech.frames.projects, mech.tables["projects.csv"]
    mech.costs_by_scenario            # scenario_costs.csv as a DataFrame
    mech.write("out/")                # exactly what remech solve -o writes

    cmp = api.compare("instances/allied-ree-2026", ["floor-only", "no-mechanism"])
    cmp.table()                       # what remech compare prints; cmp.frame(): compare.csv
    sw = api.sweep("instances/allied-ree-2026",
                   {"price_floor.levels_usd_per_kg.NDPR": [[50], [80], [110]]})
    sw.frame()                        # sweep.csv
    api.report("out/")                # out/report.html (and report.md)

Overrides are ``{dotted key: value}`` (remech.overrides; README, 'Overrides'). Every
function raises remech.errors.InputError with the command line's one-line message for bad
input. Documented with an example in docs/api.md (run by the tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from remech.compare import Comparison
from remech.mechanism import Mechanism
from remech.sweep import SweepResult

__all__ = ["solve", "compare", "sweep", "report", "Mechanism", "Comparison", "SweepResult"]


def _options(time_limit_s: float, mip_gap: float, threads: int = 0, jobs: int | None = None):
    from remech.cli import check_solver_options

    check_solver_options(time_limit_s, mip_gap, threads, jobs)


def solve(instance: str | Path, design: str | Path | None = None,
          overrides: Mapping | None = None, *, time_limit_s: float = 600.0,
          mip_gap: float = 1e-4, threads: int = 0, seed: int = 0, vss: bool = False,
          foresight: bool = False, jobs: int | None = None) -> Mechanism:
    """Solve ``design`` (a file or a shipped design's name; default: the instance's
    default_model) on ``instance`` with ``overrides``; the Mechanism ``remech solve -o``
    would write (``vss``/``foresight`` add the --vss and --foresight-gap sections; ``jobs``
    are the processes of the coalition solves under burden-sharing rule 'core')."""
    from remech.run import Extras, solve_files
    from remech.solve import SolverOptions
    from remech.stability import GameOptions

    _options(time_limit_s, mip_gap, threads, jobs)
    opts = SolverOptions(time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads,
                         seed=seed)
    extras = Extras(vss=vss, foresight=foresight, jobs=jobs) if vss or foresight else None
    run = solve_files(instance, design, opts, game=GameOptions(
        jobs=jobs, time_limit_s=time_limit_s, mip_gap=mip_gap), extras=extras,
        overrides=overrides)
    return run.mechanism


def compare(instance: str | Path, designs: Iterable[str | Path] = (),
            overrides: Mapping | None = None, *, baseline: str | None = "no-mechanism",
            jobs: int | None = None, time_limit_s: float = 600.0,
            mip_gap: float = 1e-4) -> Comparison:
    """Solve several designs (default: every design next to the instance's default) side
    by side, as remech compare does; ``overrides`` apply to every design."""
    from remech.compare import compare_designs

    _options(time_limit_s, mip_gap, jobs=jobs)
    return compare_designs(instance, tuple(designs), baseline, jobs, time_limit_s, mip_gap,
                           overrides)


def sweep(instance: str | Path, vary: Mapping[str, Iterable], design: str | Path | None = None,
          overrides: Mapping | None = None, *, jobs: int | None = None,
          time_limit_s: float = 600.0, mip_gap: float = 1e-4) -> SweepResult:
    """Solve ``design`` at every combination of the values in ``vary`` ({dotted key:
    [values]}), with ``overrides`` at every point, as remech sweep does."""
    from remech.sweep import Axis, run_sweep

    _options(time_limit_s, mip_gap, jobs=jobs)
    axes = [Axis(str(k), tuple(v)) for k, v in vary.items()] + \
        [Axis(str(k), (v,)) for k, v in (overrides or {}).items()]
    return run_sweep(instance, axes, design, jobs, time_limit_s, mip_gap)


def report(folder: str | Path, out: str | Path | None = None,
           instance: str | Path | None = None) -> Path:
    """Write the report of a result folder (remech report); returns the HTML file."""
    from remech.report import write_report

    return write_report(Path(folder), Path(out) if out is not None else None,
                        Path(instance) if instance is not None else None).html
