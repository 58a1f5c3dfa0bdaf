"""remech from Python or Jupyter: the same objects the command line writes from.

    import remech
    mech = remech.solve("instances/allied-ree-2026", **{
        "price_floor.levels_usd_per_kg.NDPR": [80], "objective.view": "economic"})
    mech.floors, mech.costs_by_scenario, mech.contributions    # DataFrames
    mech.floors_usd_per_kg, mech.costs["views"], mech.legal_risk["highest_screen"]
    mech.table("projects")            # or mech.frames.projects, mech.tables["projects.csv"]
    mech.to_json()                    # mechanism.json's content
    mech.write("out/")                # exactly what remech solve -o writes

    cmp = remech.compare("instances/allied-ree-2026", ["floor-only", "no-mechanism"])
    cmp.table()                       # what remech compare prints; cmp.frame(): compare.csv
    sw = remech.sweep("instances/allied-ree-2026",
                      {"price_floor.levels_usd_per_kg.NDPR": [[50], [80], [110]]})
    sw.frame()                        # sweep.csv
    t = remech.tornado("instances/allied-ree-2026", spread=0.25)   # t.frame(): tornado.csv
    g = remech.game("instances/allied-ree-2026")    # g.allocations, g.allocation("shapley")
    sim = remech.simulate("out/", "instances/allied-ree-2026", n=200)
    remech.report("out/")             # out/report.html (and report.md)

Overrides are dotted keys (remech.overrides; README, 'Overrides'): keyword arguments of
``solve`` (``**overrides``, with the dots, hence ``**{...}``) or the ``overrides`` mapping
of every function. Every function raises remech.errors.InputError with the command line's
one-line message for bad input. ``remech.api`` is the same module under its old name
(``from remech import api; api.solve(...)``). Documented with an example in docs/api.md
(run by the tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from remech.comparing import Comparison
from remech.errors import InputError
from remech.game_runner import GameResult
from remech.mechanism import Mechanism
from remech.sensitivity import Sensitivity
from remech.simulating import Simulation
from remech.sweeping import SweepResult

__all__ = ["solve", "compare", "sweep", "tornado", "game", "simulate", "report", "Mechanism",
           "Comparison", "SweepResult", "Sensitivity", "GameResult", "Simulation"]


def _merged(overrides: Mapping | None, more: Mapping) -> dict | None:
    """``overrides`` and the keyword overrides together; a key in both is refused."""
    both = sorted(set(overrides or {}) & set(more))
    if both:
        raise InputError(f"override {both[0]!r} given twice (in overrides= and as a keyword); "
                         "give it once")
    merged = {**(overrides or {}), **more}
    return merged or None


def _options(time_limit_s: float, mip_gap: float, threads: int = 0, jobs: int | None = None):
    from remech.cli import check_solver_options

    check_solver_options(time_limit_s, mip_gap, threads, jobs)


def solve(instance: str | Path, design: str | Path | None = None,
          overrides: Mapping | None = None, *, time_limit_s: float = 600.0,
          mip_gap: float = 1e-4, threads: int = 0, seed: int = 0, vss: bool = False,
          foresight: bool = False, jobs: int | None = None, **more_overrides) -> Mechanism:
    """Solve ``design`` (a file or a shipped design's name; default: the instance's
    default_model) on ``instance`` with ``overrides`` and ``**more_overrides`` (dotted
    keys: ``remech.solve(inst, **{"risk.cvar_weight": 0.3})``); the Mechanism ``remech
    solve -o`` would write (``vss``/``foresight`` add the --vss and --foresight-gap
    sections; ``jobs`` are the processes of the coalition solves under burden-sharing rule
    'core')."""
    overrides = _merged(overrides, more_overrides)
    from remech.run import Extras, solve_files
    from remech.solving import SolverOptions
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
    from remech.comparing import compare_designs

    _options(time_limit_s, mip_gap, jobs=jobs)
    return compare_designs(instance, tuple(designs), baseline, jobs, time_limit_s, mip_gap,
                           overrides)


def sweep(instance: str | Path, vary: Mapping[str, Iterable], design: str | Path | None = None,
          overrides: Mapping | None = None, *, jobs: int | None = None,
          time_limit_s: float = 600.0, mip_gap: float = 1e-4) -> SweepResult:
    """Solve ``design`` at every combination of the values in ``vary`` ({dotted key:
    [values]}), with ``overrides`` at every point, as remech sweep does."""
    from remech.sweeping import Axis, run_sweep

    _options(time_limit_s, mip_gap, jobs=jobs)
    axes = [Axis(str(k), tuple(v)) for k, v in vary.items()] + \
        [Axis(str(k), (v,)) for k, v in (overrides or {}).items()]
    return run_sweep(instance, axes, design, jobs, time_limit_s, mip_gap)


def tornado(instance: str | Path, design: str | Path | None = None,
            overrides: Mapping | None = None, *, spread: float = 0.25,
            jobs: int | None = None, time_limit_s: float = 600.0,
            mip_gap: float = 1e-4) -> Sensitivity:
    """One-at-a-time sensitivity, as remech sweep --tornado: the base and each main
    uncertain input at base x (1 -/+ spread). Returns a Sensitivity: ``frame()``
    (tornado.csv, the largest swing first), ``table()`` (as printed), ``to_json()``."""
    from remech.sensitivity import run_tornado

    _options(time_limit_s, mip_gap, jobs=jobs)
    return run_tornado(instance, design, spread, jobs, time_limit_s, mip_gap, overrides)


def report(folder: str | Path, out: str | Path | None = None,
           instance: str | Path | None = None) -> Path:
    """Write the report of a result folder (remech report); returns the HTML file."""
    from remech.reporting import write_report

    return write_report(Path(folder), Path(out) if out is not None else None,
                        Path(instance) if instance is not None else None).html


def game(instance: str | Path | None = None, design: str | Path | None = None,
         overrides: Mapping | None = None, *, costs: str | Path | None = None,
         jobs: int | None = None, cache_dir: str | Path | None = None,
         no_cache: bool = False, time_limit_s: float = 300.0, mip_gap: float = 1e-4,
         samples: int = 0, seed: int = 0, lazy: bool = False,
         tolerance: float | None = None, max_samples: int | None = None) -> GameResult:
    """The coalition game of ``instance`` (``design`` solved for every coalition of allies,
    cached; ``lazy`` or more than 10 allies: coalitions solved on demand through the
    oracle, Shapley value sampled, least core and nucleolus by row generation), or of the
    cost table or formula ``costs``, as remech game does. Returns a GameResult:
    ``allocations`` and ``coalition_costs`` (DataFrames), ``allocation("shapley")``,
    ``to_json()`` (game.json), ``write(outdir)``."""
    from remech.cli import check_number
    from remech.game_runner import run_game

    _options(time_limit_s, mip_gap, jobs=jobs)
    check_number("--tolerance", tolerance, low=0, low_open=True, unit=" MUSD", example="0.5")
    return run_game(instance, design, costs=costs, overrides=overrides, jobs=jobs,
                    cache_dir=cache_dir, no_cache=no_cache, time_limit_s=time_limit_s,
                    mip_gap=mip_gap, samples=samples, seed=seed, lazy=lazy,
                    tolerance=tolerance, max_samples=max_samples)


def simulate(mechanism: str | Path | Mechanism, instance: str | Path,
             design: str | Path | None = None, *, n: int | None = None, seed: int = 0,
             sampler: str = "generate", stress: Iterable[str] = (),
             china_response: str | None = None, jobs: int | None = None,
             batch_size: int = 500, time_limit_s: float = 600.0,
             mip_gap: float = 1e-4) -> Simulation:
    """Run a solved mechanism (a Mechanism, a mechanism.json or its folder) on
    ``instance``'s own scenarios or on ``n`` fresh ones, its first stage fixed, as remech
    simulate does. Returns a Simulation: ``report`` (simulation.json), ``costs_by_scenario``,
    ``summary()``, ``to_json()``, ``write(outdir)``."""
    from remech.simulating import simulate_files
    from remech.solving import SolverOptions

    _options(time_limit_s, mip_gap, jobs=jobs)
    if n is not None and n < 2:
        raise InputError(f"n={n}: at least 2 fresh scenarios; give n >= 2 or None (the "
                         "instance's own)")
    response = None
    if china_response is not None:
        from remech.response import parse_response

        response = parse_response(china_response)
    report, tables = simulate_files(
        mechanism, instance, design, n, seed, sampler, tuple(stress),
        SolverOptions(time_limit_s=time_limit_s, mip_gap=mip_gap), jobs, batch_size,
        response=response)
    return Simulation(report, tables)
