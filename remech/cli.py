"""The remech command line: wires the data layer, the model and the solver.

Exit codes: 0 optimal (proved by HiGHS), 2 bad input, 3 stopped at the time limit with a
feasible mechanism (written, with its gap), 4 infeasible, unbounded or no solution found.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from remech import __version__
from remech.errors import InputError

EXIT_OK, EXIT_INPUT, EXIT_TIME_LIMIT, EXIT_NO_SOLUTION = 0, 2, 3, 4


def progress(quiet: bool):
    """A reporter for remech.run: phase names and timings on stderr."""
    def report(name: str, seconds: float | None) -> None:
        if quiet:
            return
        if seconds is None:
            click.echo(f"[remech] {name} ...", err=True, nl=False)
        else:
            click.echo(f" {seconds:.2f} s", err=True)
    return report


def check_outdir(outdir: Path | None, force: bool) -> None:
    """Refuse to replace an existing output folder unless --force."""
    if outdir is not None and outdir.exists() and not force:
        raise InputError(f"{outdir}: output folder exists; pass --force to replace it or "
                         "choose another -o")


def user_errors(fn):
    """Turn InputError into one red line and exit code 2; --debug shows the traceback."""
    @functools.wraps(fn)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            if debug:
                raise
            for line in str(exc).splitlines() or [""]:  # collected errors: one per line
                click.secho(f"error: {line}", err=True, fg="red")
            sys.exit(EXIT_INPUT)
    return click.option("--debug", is_flag=True, help="Show Python tracebacks.")(wrapper)


def model_option(fn):
    return click.option(
        "--model", "-m", "model_path", type=click.Path(path_type=Path),
        help="Design file (models/*.toml). Default: the instance's default_model.")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remech")
def main() -> None:
    """remech: design allied price-support mechanisms for rare earths.

    Formulates the choice of price floors, supported projects, stockpiles, grants and
    burden sharing as a two-stage stochastic MIP (Pyomo) and solves it with HiGHS.

    \b
    Example:
      remech solve instances/allied-ree-2026 -o out/
      remech validate instances/allied-ree-2026 --model models/floor-only.toml
    """


@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@model_option
@click.option("-o", "--out", "outdir", type=click.Path(path_type=Path), required=True,
              help="Folder for mechanism.json and the CSV tables (must not exist unless "
                   "--force).")
@click.option("--force", is_flag=True, help="Replace OUTDIR if it exists.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=600.0,
              show_default=True, help="HiGHS time limit in seconds.")
@click.option("--mip-gap", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Relative MIP gap at which HiGHS stops and calls the result optimal.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="HiGHS threads (0: HiGHS chooses).")
@click.option("--seed", type=int, default=0, show_default=True, help="HiGHS random seed.")
@click.option("--write-model", type=click.Path(path_type=Path),
              help="Also write the exact model solved to this .lp or .mps file.")
@click.option("--json", "as_json", is_flag=True, help="Print mechanism.json on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@click.option("--log", "show_log", is_flag=True, help="Show the HiGHS log on stderr.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Burden-sharing rule 'core' only: parallel processes for the coalition "
                   "solves (default: the number of cores).")
@click.option("--scheduler", help="Burden-sharing rule 'core' only: a dask.distributed "
                                  "scheduler address for the coalition solves.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="Burden-sharing rule 'core' only: cache folder for coalition results "
                   "(default ~/.cache/remech).")
@click.option("--vss", "with_vss", is_flag=True,
              help="Also report EV, EEV, wait-and-see (WS), VSS and EVPI (one solve per "
                   "scenario more).")
@user_errors
def solve(instance: Path, model_path: Path | None, outdir: Path, force: bool,
          time_limit: float, mip_gap: float, threads: int, seed: int,
          write_model: Path | None, as_json: bool, quiet: bool, show_log: bool,
          jobs: int | None, scheduler: str | None, cache_dir: Path | None,
          with_vss: bool) -> None:
    """Solve INSTANCE and write the recommended mechanism to OUTDIR.

    Prints a summary (floors, supported projects, stockpiles, contributions, expected
    cost, CVaR, expected shortfall, solver status and gap); writes mechanism.json, CSV
    tables and the HiGHS log to OUTDIR. Exit code 0 only if HiGHS proved optimality.

    \b
    Example:
      remech solve instances/allied-ree-2026 -o out/
      remech solve instances/allied-ree-2026 -m models/floor-only.toml -o out-floor \\
          --time-limit 60 --write-model out-floor.lp
    """
    import tempfile

    from remech.results import summary, write_results
    from remech.run import solve_files
    from remech.solve import SolverOptions

    check_outdir(outdir, force)
    if write_model is not None and write_model.suffix.lower() not in (".lp", ".mps"):
        raise InputError(f"--write-model {write_model}: unknown format; use a .lp or .mps "
                         "file name")
    report = progress(quiet)
    log_file = Path(tempfile.mkdtemp(prefix="remech-log-")) / "highs.log"
    opts = SolverOptions(time_limit_s=time_limit, mip_gap=mip_gap, threads=threads,
                         seed=seed, log_file=log_file, log_to_console=show_log)
    from remech.stability import DEFAULT_CACHE, GameOptions

    game_opts = GameOptions(jobs=jobs, scheduler=scheduler,
                            cache_dir=cache_dir or DEFAULT_CACHE, time_limit_s=time_limit,
                            mip_gap=mip_gap)
    bars: list = []

    def on_coalition(k: int, record: dict, total: int) -> None:
        if not bars:  # only designs with burden-sharing rule 'core' solve coalitions
            bars.append(click.progressbar(length=total, label=f"solving {total} coalitions",
                                          file=sys.stderr if not quiet
                                          else open(os.devnull, "w"), show_pos=True))
            bars[0].__enter__()
        bars[0].update(1)

    try:
        run = solve_files(instance, model_path, opts, write_model, report=report,
                          game=game_opts, on_coalition=on_coalition)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    result, mech, tables = run.result, run.mechanism, run.tables
    if not quiet:
        t = result.timings_s
        click.echo(f"[remech] {', '.join(f'{v} {k}' for k, v in run.data.sizes.items())}; "
                   f"model {result.model_size['columns']} columns, "
                   f"{result.model_size['rows']} rows, {result.model_size['nonzeros']} "
                   f"nonzeros, {result.model_size['integer_columns']} integer", err=True)
        click.echo(f"[remech]   hand-off {t['write_lp'] + t['read_lp']:.2f} s (write LP "
                   f"{t['write_lp']:.2f}, HiGHS read {t['read_lp']:.2f}), HiGHS solve "
                   f"{t['solve']:.2f} s, load solution {t['load_solution']:.2f} s", err=True)
    if with_vss and result.has_solution:
        from remech.evaluate import cost, vss

        t0 = time.perf_counter()
        mech["vss"] = vss(run.instance, run.design, run.data, cost(run.model, result),
                          SolverOptions(time_limit_s=time_limit, mip_gap=mip_gap,
                                        threads=threads, seed=seed))
        run.timings_s["vss"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mech["timings_s"] = {k: round(v, 4) for k, v in run.timings_s.items()}
    write_results(outdir, mech, tables, force, {"highs.log": log_file})
    if not quiet:
        click.echo(f"[remech] write results {time.perf_counter() - t0:.2f} s", err=True)
    if as_json:
        click.echo(json.dumps(mech, indent=2))
    else:
        click.echo(summary(mech))
        click.echo(f"results       {outdir}/ (mechanism.json, {len(tables)} CSV tables, "
                   "highs.log)")
    if result.status == "optimal":
        sys.exit(EXIT_OK)
    sys.exit(EXIT_TIME_LIMIT if result.has_solution else EXIT_NO_SOLUTION)


@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@model_option
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@user_errors
def validate(instance: Path, model_path: Path | None, quiet: bool) -> None:
    """Read and check INSTANCE and a design, and build the model without solving.

    Bad input is reported on one line naming the file, the row or field, the bad value
    and the fix, with exit code 2.

    \b
    Example:
      remech validate instances/allied-ree-2026
      remech validate instances/allied-ree-2026 --model models/floor-only.toml
    """
    from remech.run import build, load_files

    run = build(load_files(instance, model_path))
    counts = model_counts(run.model)
    if not quiet:
        sizes = ", ".join(f"{v} {k}" for k, v in run.data.sizes.items())
        click.echo(f"ok: {run.instance.name} with design {run.design.name}: {sizes}; model "
                   f"has {counts['variables']} variables ({counts['binaries']} binary) and "
                   f"{counts['constraints']} constraints (built in "
                   f"{run.timings_s['build model']:.2f} s)")


@main.command()
@click.argument("kind", type=click.Choice(["design", "instance"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of design files (KIND design) or instance.toml (instance).

    Point an editor at it for completion and checks of keys; docs/design.schema.json and
    docs/instance.schema.json hold the same.

    \b
    Example:
      remech schema design > design.schema.json
    """
    from remech.schema import design_json_schema, instance_json_schema

    schema = design_json_schema() if kind == "design" else instance_json_schema()
    click.echo(json.dumps(schema, indent=2))


def model_counts(model) -> dict[str, int]:
    """Variables, binaries and constraints of a built model (as Pyomo counts them)."""
    import pyomo.environ as pyo

    variables = list(model.component_data_objects(pyo.Var, active=True))
    return {"variables": len(variables),
            "binaries": sum(1 for v in variables if v.is_binary()),
            "constraints": sum(1 for _ in model.component_data_objects(pyo.Constraint,
                                                                        active=True))}


def _game_text(result: dict, records: list[dict] | None) -> str:
    """Per-ally report of a cost game: stand-alone cost, each rule, savings, stability."""
    players = result["players"]
    rules = list(result["rules"])
    width = max(8, *(len(p) for p in players))
    lines = [f"grand coalition cost {result['grand_coalition_cost']:,.1f}; least-core epsilon "
             f"{result['least_core']['epsilon']:,.3f} "
             f"({'core EMPTY' if result['core_empty'] else 'core not empty'})"]
    head = f"{'ally':<{width}} {'alone':>10} " + " ".join(f"{r:>11}" for r in rules)
    lines += ["", "cost under each rule", head]
    for p in players:
        lines.append(f"{p:<{width}} {result['stand_alone'][p]:>10,.1f} " + " ".join(
            f"{result['rules'][r]['allocation'][p]:>11,.1f}" for r in rules))
    lines += ["", "saving from joining (alone - rule)", head]
    for p in players:
        lines.append(f"{p:<{width}} {'':>10} " + " ".join(
            f"{result['rules'][r]['saving_vs_alone'][p]:>11,.1f}" for r in rules))
    lines.append("")
    for r in rules:
        info = result["rules"][r]
        if info["stable"]:
            lines.append(f"{r:<12} stable: no coalition pays less on its own")
        else:
            b = info["blocking"][0]
            lines.append(f"{r:<12} NOT stable: {info['n_blocking']} blocking coalition(s), "
                         f"e.g. {b['coalition']} pays {b['excess']:,.2f} more than alone")
    if records:
        solved = [r for r in records if not r.get("cached")]
        secs = sum(r["seconds"] for r in solved)
        lines.append(f"\n{len(records)} coalitions: {len(solved)} solved "
                     f"({secs:,.1f} s of solver processes, "
                     f"{secs / max(1, len(solved)):.2f} s each), "
                     f"{len(records) - len(solved)} from cache; "
                     f"{sum(r['status'] == 'optimal' for r in records)} proved optimal")
    return "\n".join(lines)


@main.command()
@click.argument("instance", type=click.Path(path_type=Path), required=False)
@model_option
@click.option("--costs", "costs_csv", type=click.Path(path_type=Path),
              help="Analyse this cost game instead: CSV with columns coalition,cost "
                   "(members joined by '+', one row per non-empty coalition).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Parallel solver processes (default: the number of cores).")
@click.option("--scheduler", help="Address of a dask.distributed scheduler "
                                  "(e.g. tcp://10.0.0.5:8786) to run the solves on.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="Cache folder for coalition results (default ~/.cache/remech).")
@click.option("--no-cache", is_flag=True, help="Solve every coalition again.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=300.0,
              show_default=True, help="HiGHS time limit per coalition, seconds.")
@click.option("--mip-gap", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("--samples", type=click.IntRange(min=0), default=0,
              help="Also estimate the Shapley value from this many random orders "
                   "(with a 95 %% confidence interval); automatic beyond 20 players.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the sampled Shapley value.")
@click.option("-o", "--out", "outdir", type=click.Path(path_type=Path),
              help="Write coalition_costs.csv, allocations.csv and game.json here.")
@click.option("--force", is_flag=True, help="Replace OUTDIR if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors
def game(instance: Path | None, model_path: Path | None, costs_csv: Path | None,
         jobs: int | None, scheduler: str | None, cache_dir: Path | None, no_cache: bool,
         time_limit: float, mip_gap: float, samples: int, seed: int, outdir: Path | None,
         force: bool, as_json: bool, quiet: bool) -> None:
    """Burden sharing that holds: coalition costs, Shapley value, nucleolus, least core.

    With INSTANCE, solves the design for every coalition of allies (2^n - 1 solves, in
    parallel, cached) to get each coalition's stand-alone cost c(S), then reports per ally
    the stand-alone cost, the cost under the Shapley value, nucleolus, least core and the
    GDP, consumption and equal splits, the saving from joining, and whether each split is
    stable (no coalition would pay less on its own) with a blocking coalition if not.
    With --costs, analyses any cost game given as a table.

    \b
    Example:
      remech game instances/allied-ree-2026 --jobs 2 -o game-out/
      remech game --costs game-out/coalition_costs.csv --json
    """
    from remech.game import CostGame, allocation_table, analyse

    check_outdir(outdir, force)
    records = None
    weights = {}
    if costs_csv is not None:
        if instance is not None:
            raise InputError("give either INSTANCE or --costs, not both")
        cost_game = CostGame.from_csv(costs_csv)
    else:
        if instance is None:
            raise InputError("missing INSTANCE (or --costs FILE.csv); see remech game --help")
        from remech.run import load_files
        from remech.stability import DEFAULT_CACHE, coalition_game, reference_weights

        run = load_files(instance, model_path)
        n = len(run.instance.members)
        cache = None if no_cache else (cache_dir or DEFAULT_CACHE)
        with click.progressbar(length=(1 << n) - 1, label=f"solving {(1 << n) - 1} coalitions",
                               file=sys.stderr if not quiet else open(os.devnull, "w"),
                               show_pos=True, show_eta=True) as bar:
            cost_game, records = coalition_game(
                instance, run.design.path, jobs=jobs, scheduler=scheduler, cache_dir=cache,
                time_limit_s=time_limit, mip_gap=mip_gap,
                on_done=lambda k, r, total: bar.update(1))
        weights = reference_weights(run)
    result = analyse(cost_game, weights=weights, samples=samples, seed=seed)
    if records is not None:
        result["coalitions"] = records
    if outdir is not None:
        from remech.results import write_results

        write_results(outdir, result, {"coalition_costs.csv": cost_game.to_frame(),
                                       "allocations.csv": allocation_table(result)}, force,
                      json_name="game.json")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_game_text(result, records))


@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("--model", "-m", "models", type=click.Path(path_type=Path), multiple=True,
              help="Design file to compare (repeat). Default: every *.toml in the folder of "
                   "the instance's default design (models/).")
@click.option("--baseline", default="no-mechanism", show_default=True,
              help="Design the others are measured against.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Parallel solver processes (default: the number of cores).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=600.0,
              show_default=True, help="HiGHS time limit per design, seconds.")
@click.option("--mip-gap", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("-o", "--out", "outdir", type=click.Path(path_type=Path),
              help="Write compare.csv, compare.md and compare.json here.")
@click.option("--force", is_flag=True, help="Replace OUTDIR if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors
def compare(instance: Path, models: tuple[Path, ...], baseline: str, jobs: int | None,
            time_limit: float, mip_gap: float, outdir: Path | None, force: bool,
            as_json: bool, quiet: bool) -> None:
    """Solve several designs on the same INSTANCE and put them side by side.

    For each design: status and gap, floors (and collars), supported projects, stockpiles,
    grants, expected outlay and cost, CVaR95, expected shortfall and non-Chinese share per
    product, what each ally pays, and the saving against the baseline design (the value
    of its instruments). A design that fails keeps its row with its status.

    \b
    Example:
      remech compare instances/allied-ree-2026 --jobs 2 -o compare-out/
      remech compare instances/allied-ree-2026 -m models/floor-only.toml \\
          -m models/mp-style.toml -m models/no-mechanism.toml --json
    """
    from remech.compare import DesignTask, compare_row, flat, table, with_baseline
    from remech.executor import map_tasks
    from remech.instance import load_instance

    check_outdir(outdir, force)
    inst = load_instance(instance)
    if not models:
        if inst.default_model is None:
            raise InputError(f"{instance}/instance.toml: no default_model to find the designs;"
                             " pass --model for each design")
        models = tuple(sorted(inst.default_model.parent.glob("*.toml")))
    for path in models:
        if not Path(path).is_file():
            raise InputError(f"{path}: design file not found; pass --model with a file from "
                             "models/")
    tasks = [DesignTask(str(instance), str(path), time_limit, mip_gap) for path in models]
    t0 = time.perf_counter()
    with click.progressbar(length=len(tasks), label=f"solving {len(tasks)} designs",
                           file=sys.stderr if not quiet else open(os.devnull, "w"),
                           show_pos=True) as bar:
        rows = map_tasks(compare_row, tasks, jobs=jobs, on_done=lambda k, r: bar.update(1))
    rows = with_baseline(rows, baseline)
    wall = time.perf_counter() - t0
    if outdir is not None:
        from remech.results import write_results

        md = table(rows).to_markdown() if _has_tabulate() else table(rows).to_string()
        write_results(outdir, {"designs": rows, "wall_seconds": wall},
                      {"compare.csv": flat(rows)}, force, json_name="compare.json")
        (outdir / "compare.md").write_text(md + "\n")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        with pd_options():
            click.echo(table(rows).to_string())
        click.echo(f"\n{len(rows)} designs in {wall:.1f} s "
                   f"({sum(r['seconds'] for r in rows):.1f} s of solver processes)")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def pd_options():
    import pandas as pd

    return pd.option_context("display.max_colwidth", 60, "display.width", 250)


def _per_product(text: str | None, option: str) -> dict[str, float]:
    """Parse 'NDPR=80,DY=300' into {'NDPR': 80.0, 'DY': 300.0}."""
    out: dict[str, float] = {}
    for part in filter(None, (text or "").split(",")):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"{option} {text}: '{part}' is not PRODUCT=number; write e.g. "
                             "NDPR=80,DY=300") from None
    return out


@main.group()
def scenarios() -> None:
    """Generate, reduce and plot price and export-control scenarios.

    \b
    Example:
      remech scenarios generate instances/allied-ree-2026 -n 200 --seed 7 --stress all \\
          -o instances/allied-ree-200
      remech scenarios reduce instances/allied-ree-200 --to 40 -o instances/allied-ree-40
      remech scenarios plot instances/allied-ree-40 -o plots/
    """


@scenarios.command()
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("-o", "--out", "outdir", type=click.Path(path_type=Path), required=True,
              help="New instance folder: a copy of INSTANCE with the generated scenarios.")
@click.option("-n", "n", type=click.IntRange(min=0), default=100, show_default=True,
              help="Number of bootstrap paths.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--stress", default="", help="Named stress tests to add: all, or a comma "
              "list of stress-spike-2011, stress-slump-2015, stress-trough-2024, "
              "stress-controls-2025.")
@click.option("--block", type=click.IntRange(min=1), default=3, show_default=True,
              help="Bootstrap block length, years.")
@click.option("--mean-reversion", "kappa", type=click.FloatRange(0, 1), default=0.25,
              show_default=True, help="Share of the gap to the long-run level closed each "
                                      "year.")
@click.option("--long-run", default=None, help="Long-run price levels, e.g. NDPR=80,DY=300 "
              "(default: geometric mean of 2014-2025).")
@click.option("--start", default=None, help="Start prices (default: 2025e), e.g. NDPR=100.")
@click.option("--p-controls", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Probability of an export-control episode per path.")
@click.option("--p-flooding", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Probability of strategic flooding when allied capacity comes online.")
@click.option("--flooding-depth", type=click.FloatRange(0, 1, max_open=True), default=0.35,
              show_default=True, help="Price cut during flooding (share).")
@click.option("--flooding-years", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--force", is_flag=True, help="Replace OUTDIR if it exists.")
@user_errors
def generate(instance: Path, outdir: Path, n: int, seed: int, stress: str, block: int,
             kappa: float, long_run: str | None, start: str | None, p_controls: float,
             p_flooding: float, flooding_depth: float, flooding_years: int,
             force: bool) -> None:
    """Generate N price paths (and export-control paths) for INSTANCE from history.

    Block bootstrap of the joint annual log returns of USGS/Argus oxide prices 2011-2025
    with mean reversion, export-control and strategic-flooding overlays, and named stress
    tests; reproducible with --seed. Writes a new instance folder that remech solve uses
    directly, and prints the calibration against history.
    """
    from remech.instance import load_instance
    from remech.scenarios import (
        GeneratorSettings,
        china_multiple,
        first_new_capacity,
        history_statistics,
        statistics,
        to_tables,
        write_instance,
    )
    from remech.scenarios import (
        generate as make,
    )

    inst = load_instance(instance)
    products = inst.products["product"].tolist()
    settings = GeneratorSettings(
        n=n, seed=seed, block=block, kappa=kappa,
        long_run_usd_per_kg=_per_product(long_run, "--long-run"),
        start_usd_per_kg=_per_product(start, "--start"), p_controls=p_controls,
        p_flooding=p_flooding, flooding_depth=flooding_depth, flooding_years=flooding_years,
        stress=tuple(x.strip() for x in stress.split(",") if x.strip()))
    sset = make(products, inst.years, settings, first_new_capacity(inst))
    if not sset.names:
        raise InputError("-n 0 and no --stress: nothing to generate; give -n or --stress")
    source = (f"derived: remech scenarios generate (seed {seed}, n {n}, block {block}, "
              f"mean reversion {kappa}) from oxide price history [S1][S2][S3][S4][S5]; "
              "overlays [S87][S88][S91]; assumption: overlay probabilities")
    write_instance(inst, to_tables(sset, china_multiple(inst), source), outdir, force)
    hist, gen = history_statistics(products), statistics(sset)
    click.echo(f"wrote {len(sset.names)} scenarios to {outdir}/ (seed {seed})")
    click.echo("annual log-return std  " + ", ".join(
        f"{p} {gen['std'][p]:.3f} (history {hist['std'][p]:.3f})" for p in products))
    click.echo("return correlation     " + ", ".join(
        f"{k} {gen['corr'][k]:.2f} (history {hist['corr'][k]:.2f})" for k in gen["corr"]))


@scenarios.command()
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("--to", "k", type=click.IntRange(min=1), required=True,
              help="Number of scenarios to keep.")
@click.option("-o", "--out", "outdir", type=click.Path(path_type=Path), required=True,
              help="New instance folder with the reduced scenarios.")
@model_option
@click.option("--check/--no-check", default=True, show_default=True,
              help="Solve on the reduced set and evaluate that mechanism on the full set.")
@click.option("--force", is_flag=True, help="Replace OUTDIR if it exists.")
@user_errors
def reduce(instance: Path, k: int, outdir: Path, model_path: Path | None, check: bool,
           force: bool) -> None:
    """Keep K representative scenarios of INSTANCE (fast forward selection).

    Probabilities of dropped scenarios go to their nearest kept scenario; prints the
    Kantorovich distance between the full and the reduced sets and, with --check, the
    cost of the mechanism solved on the reduced set, evaluated on the full set, against
    the full set's optimum (out-of-sample check).
    """
    import time

    from remech.instance import load_instance
    from remech.scenarios import china_multiple, scenario_set, to_tables, write_instance
    from remech.scenarios import reduce as cut

    inst = load_instance(instance)
    t0 = time.perf_counter()
    full = scenario_set(inst)
    small, distance = cut(full, k)
    seconds = time.perf_counter() - t0
    source = (f"assumption: representative scenarios of {inst.name} kept by remech scenarios "
              f"reduce --to {k} (fast forward selection), probabilities re-weighted; each "
              f"path as sourced in {inst.name}")
    tables = to_tables(small, china_multiple(inst), source)
    tables["scenarios.csv"]["description"] = small.description
    write_instance(inst, tables, outdir, force)
    click.echo(f"kept {len(small.names)} of {len(full.names)} scenarios in {seconds:.2f} s; "
               f"Kantorovich distance {distance:.4f} (standardised log-price and "
               f"availability paths); written to {outdir}/")
    if check:
        from remech.evaluate import cost, evaluate, first_stage
        from remech.run import load_files, solve_files

        reduced = solve_files(outdir, model_path)
        whole = solve_files(instance, model_path)
        full_data = load_files(instance, model_path).data
        m_eval, res = evaluate(full_data, first_stage(reduced.model, reduced.data))
        r_cost = cost(reduced.model, reduced.result)
        o_cost = cost(m_eval, res)
        f_cost = cost(whole.model, whole.result)
        click.echo(f"in-sample (reduced set) {r_cost:,.1f} MUSD; that mechanism on the full "
                   f"set {o_cost:,.1f} MUSD; full-set optimum {f_cost:,.1f} MUSD "
                   f"(out-of-sample loss {o_cost - f_cost:,.1f} MUSD, "
                   f"{(o_cost - f_cost) / abs(f_cost) * 100:.2f} %)")


@scenarios.command()
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("-o", "--out", "outdir", type=click.Path(path_type=Path), required=True,
              help="Folder for the PNG fan charts (one per product).")
@click.option("--mechanism", type=click.Path(path_type=Path),
              help="A mechanism.json whose floor levels are drawn.")
@user_errors
def plot(instance: Path, outdir: Path, mechanism: Path | None) -> None:
    """Fan chart per product: percentile bands of the scenario prices, history overlaid,
    and the floors of a solved mechanism if given."""
    from remech.instance import load_instance
    from remech.plots import fan_charts

    inst = load_instance(instance)
    floors = {}
    if mechanism is not None:
        if not mechanism.is_file():
            raise InputError(f"{mechanism}: file not found; give the mechanism.json written "
                             "by remech solve")
        floors = json.loads(mechanism.read_text()).get("floors_usd_per_kg", {})
    for path in fan_charts(inst, outdir, floors):
        click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
