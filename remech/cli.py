"""The remech command line: wires the data layer, the model and the solver.

Exit codes: 0 optimal (proved by HiGHS), 2 bad input, 3 stopped at the time limit with a
feasible mechanism (written, with its gap), 4 infeasible, unbounded or no solution found,
130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import click

from remech import __version__
from remech.errors import InputError

EXIT_OK, EXIT_INPUT, EXIT_TIME_LIMIT, EXIT_NO_SOLUTION = 0, 2, 3, 4
EXIT_INTERRUPTED = 130
MAX_THREADS = 1024
SAMPLER_CHOICES = ("generate", "resample")


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


def check_outdir(outdir: Path | None, force: bool, *, inside_of=(), contains=(),
                 kind: str | None = None) -> None:
    """Refuse an output folder remech must not replace (see remech.outdir)."""
    from remech.outdir import check_outdir as check

    check(outdir, force, inside_of=inside_of, contains=contains, kind=kind)


def check_number(option: str, value: float | int | None, *, low: float | None = None,
                 low_open: bool = False, high: float | None = None, unit: str = "",
                 example: str = "") -> None:
    """One-line InputError for a non-finite or out-of-range numeric option."""
    if value is None:
        return
    fix = f"give e.g. {option} {example}" if example else "give a finite number"
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{option} {value}: not a finite number; {fix}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"{'above' if low_open else 'at least'} {low:g}"
        raise InputError(f"{option} {value:g}: must be {bound}{unit}; {fix}")
    if high is not None and value > high:
        raise InputError(f"{option} {value:g}: more than {high:g}{unit}; {fix}")


def check_solver_options(time_limit: float | None = None, mip_gap: float | None = None,
                         threads: int | None = None, jobs: int | None = None) -> None:
    from remech.executor import default_jobs, max_jobs

    check_number("--time-limit", time_limit, low=0, low_open=True, unit=" seconds",
                 example="600")
    check_number("--mip-gap", mip_gap, low=0, high=1, unit=" (a relative gap)",
                 example="1e-4")
    check_number("--threads", threads, low=0, high=MAX_THREADS,
                 unit=f" threads (this machine has {default_jobs()} cores)",
                 example=f"{default_jobs()} or 0 for HiGHS to choose")
    check_number("--jobs", jobs, low=1, high=max_jobs(),
                 unit=f" processes (this machine has {default_jobs()} cores)",
                 example=str(default_jobs()))


def _raise_interrupt(signum, frame) -> None:
    quiet_pyomo()
    raise KeyboardInterrupt


def quiet_pyomo() -> None:
    """Pyomo logs an interrupted model construction as an error (on stdout): we are
    leaving anyway and say so in one line."""
    from remech.solving import quiet_pyomo as quiet

    quiet()


def user_errors(fn):
    """Turn InputError into one red line and exit code 2; --debug shows the traceback.
    Ctrl-C and SIGTERM end the command with one line and exit code 130."""
    @functools.wraps(fn)
    def wrapper(*args, debug: bool = False, **kwargs):
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            if debug:
                raise
            for line in str(exc).splitlines() or [""]:  # collected errors: one per line
                click.secho(f"error: {line}", err=True, fg="red")
            sys.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("\n[remech] interrupted; no result written (any previous result is "
                       "untouched)", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return click.option("--debug", is_flag=True, help="Show Python tracebacks.")(wrapper)


def model_option(fn):
    return click.option(
        "--model", "-m", "model_path", type=click.Path(path_type=Path),
        help="Design file (models/*.toml). Default: the instance's default_model.")(fn)


def out_option(help: str, required: bool = False):
    return click.option("-o", "--out", "outdir", type=click.Path(path_type=Path),
                        required=required, help=help)


def json_option(what: str):
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} on stdout.")


def quiet_option(help: str = "No progress on stderr."):
    return click.option("--quiet", "-q", is_flag=True, help=help)


def jobs_option(help: str = "Parallel solver processes (default: the number of cores)."):
    return click.option("--jobs", "-j", type=int, default=None, help=help)


force_option = click.option("--force", is_flag=True,
                            help="Replace OUTDIR if it is an earlier remech result.")
set_option = click.option(
    "--set", "set_texts", multiple=True, metavar="KEY=VALUE",
    help="Override a design key or an instance value for this run (repeat), checked like "
         "the files: e.g. --set price_floor.levels_usd_per_kg.NDPR=[80], --set "
         "objective.view=economic, --set burden_sharing.rule=equal, --set "
         "instance.products.NDPR.shortfall_penalty_usd_per_kg=500, --set "
         "instance.allies.US.budget_cap_musd=400. Recorded in mechanism.json.")


format_option = click.option(
    "--format", "formats", multiple=True, type=click.Choice(["csv", "xlsx", "parquet"],
                                                            case_sensitive=False),
    help="Also write the result tables as xlsx (tables.xlsx, one sheet per table) or "
         "parquet (NAME.parquet next to NAME.csv); repeat for both. The CSV files are always "
         "written. Needs the extra remech[tables] (openpyxl, pyarrow).")


def formats_checked(formats: tuple[str, ...]) -> tuple[str, ...]:
    from remech.results import check_formats

    return check_formats(formats)


def parse_sets(texts: tuple[str, ...]):
    """The --set options as remech.overrides.Override objects (InputError if malformed)."""
    from remech.overrides import as_overrides

    return as_overrides(texts)


def solver_limit_options(per: str, time_limit_s: float = 600.0):
    """--time-limit and --mip-gap of a command whose solves run per design, batch, ..."""
    def decorate(fn):
        fn = click.option("--mip-gap", type=float, default=1e-4, show_default=True,
                          help=f"Relative MIP gap at which HiGHS stops each {per}'s solve "
                               "and calls it optimal.")(fn)
        return click.option("--time-limit", type=float, default=time_limit_s,
                            show_default=True,
                            help=f"HiGHS time limit per {per}, seconds.")(fn)
    return decorate


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
@out_option("Folder for mechanism.json and the CSV tables (new, empty, or an earlier "
                   "remech result with --force).", required=True)
@force_option
@click.option("--time-limit", type=float, default=600.0,
              show_default=True, help="HiGHS time limit in seconds.")
@click.option("--mip-gap", type=float, default=1e-4, show_default=True,
              help="Relative MIP gap at which HiGHS stops and calls the result optimal.")
@click.option("--threads", type=int, default=0, show_default=True,
              help="HiGHS threads (0: HiGHS chooses).")
@click.option("--seed", type=int, default=0, show_default=True, help="HiGHS random seed.")
@click.option("--write-model", type=click.Path(path_type=Path),
              help="Also write the exact model solved to this .lp or .mps file.")
@json_option("mechanism.json")
@quiet_option()
@click.option("--log", "show_log", is_flag=True, help="Show the HiGHS log on stderr.")
@jobs_option("Parallel processes for the --saa replications and evaluation and, "
                   "under burden-sharing rule 'core', the coalition solves (default: the "
                   "number of cores).")
@click.option("--scheduler", help="Burden-sharing rule 'core' only: a dask.distributed "
                                  "scheduler address for the coalition solves.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="Burden-sharing rule 'core' only: cache folder for coalition results "
                   "(default ~/.cache/remech).")
@click.option("--vss", "with_vss", is_flag=True,
              help="Also report EV, EEV, wait-and-see (WS), VSS and EVPI (one solve per "
                   "scenario more).")
@click.option("--foresight-gap", "with_foresight", is_flag=True,
              help="Also solve the design with a clairvoyant stockpile (a bound) and report "
                   "the value of foresight against the design's own policy.")
@click.option("--saa", "saa_spec", metavar="M,N,N2",
              help="Also bound the optimality gap (Mak, Morton and Wood 1999): solve M "
                   "samples of N scenarios (lower bound) and evaluate this mechanism on N2 "
                   "fresh scenarios (upper bound), e.g. --saa 10,100,2000.")
@click.option("--saa-sampler", type=click.Choice(SAMPLER_CHOICES), default=None,
              help="--saa scenarios: 'generate' (remech's scenario generator; default when "
                   "every product has a price history) or 'resample' (the instance's own "
                   "scenarios drawn with replacement by their probabilities).")
@click.option("--saa-seed", type=int, default=0, show_default=True,
              help="--saa: seed from which the replication and evaluation seeds derive.")
@set_option
@click.option("--decompose", "decompose_method", type=click.Choice(["ph", "lshaped"]),
              help="Solve by scenario decomposition on mpi-sppy (L-shaped or progressive "
                   "hedging, hub and spokes over MPI); the result carries a certified gap "
                   "(see README, 'Decomposition').")
@click.option("--ranks", type=int, default=1, show_default=True,
              help="--decompose: MPI ranks (1: in this process; more: mpiexec -n RANKS).")
@click.option("--bundle-size", type=int, default=0, show_default=True,
              help="--decompose: scenarios per mpi-sppy subproblem (0: about the square root "
                   "of the number of scenarios).")
@format_option
@user_errors
def solve(instance: Path, model_path: Path | None, outdir: Path, force: bool,
          time_limit: float, mip_gap: float, threads: int, seed: int,
          write_model: Path | None, as_json: bool, quiet: bool, show_log: bool,
          jobs: int | None, scheduler: str | None, cache_dir: Path | None,
          with_vss: bool, with_foresight: bool, saa_spec: str | None,
          saa_sampler: str | None, saa_seed: int, decompose_method: str | None,
          ranks: int, bundle_size: int, set_texts: tuple[str, ...],
          formats: tuple[str, ...]) -> None:
    """Solve INSTANCE and write the recommended mechanism to OUTDIR.

    Prints a summary (floors, supported projects, stockpiles, contributions, expected
    cost, CVaR, expected shortfall, solver status and gap); writes mechanism.json, CSV
    tables and the HiGHS log to OUTDIR. Exit code 0 only if HiGHS proved optimality.

    \b
    Example:
      remech solve instances/allied-ree-2026 -o out/
      remech solve instances/allied-ree-2026 -m models/floor-only.toml -o out-floor \\
          --time-limit 60 --write-model out-floor.lp
      remech solve instances/allied-ree-2026 -o out/ --format xlsx --format parquet
      remech solve instances/allied-ree-2026 -o out-80 \\
          --set 'price_floor.levels_usd_per_kg.NDPR=[80]' --set objective.view=economic
      remech solve big-instance -o out-big --decompose lshaped --ranks 2 --mip-gap 0.005
    """
    import shutil
    import tempfile

    from remech.run import Extras, load_files
    from remech.solving import STOP, SolverOptions, request_stop
    from remech.stability import DEFAULT_CACHE, GameOptions

    formats = formats_checked(formats)
    check_solver_options(time_limit, mip_gap, threads, jobs)
    overrides = parse_sets(set_texts)
    saa_mnn = None
    if saa_spec is not None:
        from remech.saa import parse_saa

        saa_mnn = parse_saa(saa_spec)
        _check_saa_early(instance, model_path, saa_sampler)
    if write_model is not None and write_model.suffix.lower() not in (".lp", ".mps"):
        raise InputError(f"--write-model {write_model}: unknown format; use a .lp or .mps "
                         "file name")
    dopts = _decompose_options(decompose_method, ranks, bundle_size, time_limit, mip_gap,
                               threads, write_model, with_vss or with_foresight or saa_spec)
    inputs = [p for p in (model_path, write_model) if p is not None]
    check_outdir(outdir, force, inside_of=[instance], contains=inputs, kind="solve")
    report = progress(quiet)
    STOP.clear()
    previous = signal.signal(signal.SIGINT, request_stop), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, request_stop)
    log_dir = Path(tempfile.mkdtemp(prefix="remech-log-"))
    try:
        run = load_files(instance, model_path, report, overrides)
        check_outdir(outdir, force, inside_of=[run.instance.folder],
                     contains=[run.design.path, *inputs], kind="solve")
        opts = SolverOptions(time_limit_s=time_limit, mip_gap=mip_gap, threads=threads,
                             seed=seed, log_file=log_dir / "highs.log",
                             log_to_console=show_log, progress=not quiet)
        game_opts = GameOptions(jobs=jobs, scheduler=scheduler,
                                cache_dir=cache_dir or DEFAULT_CACHE, time_limit_s=time_limit,
                                mip_gap=mip_gap)
        extras = Extras(vss=with_vss, foresight=with_foresight, saa=saa_mnn,
                        saa_sampler=saa_sampler, saa_seed=saa_seed, jobs=jobs)
        _solve_and_write(run, outdir, force, opts, game_opts, extras, write_model, as_json,
                         quiet, dopts, formats)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        shutil.rmtree(log_dir, ignore_errors=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _decompose_options(method: str | None, ranks: int, bundle_size: int, time_limit: float,
                       mip_gap: float, threads: int, write_model: Path | None, extras):
    """The DecomposeOptions of --decompose (None without it); its options alone are errors."""
    if method is None:
        if ranks != 1 or bundle_size != 0:
            raise InputError("--ranks and --bundle-size need --decompose ph or lshaped")
        return None
    if write_model is not None or extras:
        raise InputError("--decompose solves no single model: leave out --write-model, --vss, "
                         "--foresight-gap and --saa")
    from remech.decompose import DecomposeOptions, check_options

    dopts = DecomposeOptions(method=method, ranks=ranks, bundle_size=bundle_size,
                             time_limit_s=time_limit, rel_gap=mip_gap, threads=threads or 1)
    check_options(dopts)
    return dopts


def _solve_and_write(run, outdir: Path, force: bool, opts, game_opts, extras,
                     write_model: Path | None, as_json: bool, quiet: bool,
                     dopts=None, formats: tuple[str, ...] = ()) -> None:
    """Solve a loaded run (remech.run.solve_run, or solve_decomposed with ``dopts``), write
    the mechanism, print, exit."""
    from remech.run import solve_decomposed, solve_run
    from remech.solving import STATUS_INTERRUPTED, STOP

    report = progress(quiet)
    err = sys.stderr if not quiet else open(os.devnull, "w")
    extra_files = {"highs.log": opts.log_file}
    if dopts is not None:
        extra_files["decompose.log"] = opts.log_file.parent / "decompose.log"
        run = solve_decomposed(run, dopts, opts, report, log=extra_files["decompose.log"])
    else:
        with _bar(err, "solving {} coalitions") as on_coalition, \
                _bar(err, "SAA: {} replications + evaluation") as on_saa:
            run = solve_run(run, opts, write_model, report=report, game=game_opts,
                            on_coalition=lambda k, record, total: on_coalition(total),
                            extras=extras, on_saa=lambda k, total: on_saa(total))
    result, mech = run.result, run.mechanism
    if not quiet:
        _print_sizes(run)
    stopped = STOP.is_set()
    if stopped and not result.has_solution:
        click.echo(f"[remech] interrupted before HiGHS found a feasible mechanism; nothing "
                   f"written ({outdir} untouched)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if run.dropped_step is not None:
        step = {"foresight_gap": "foresight"}.get(run.dropped_step, run.dropped_step)
        click.echo(f"[remech] interrupted during the {step} step: the mechanism is written "
                   "without it", err=True)
    t0 = time.perf_counter()
    if stopped:  # an interrupted run never replaces a previous result
        outdir = _interrupted_target(outdir)
    from remech.results import summary, write_results

    write_results(outdir, mech, mech.tables, force or stopped, extra_files, formats=formats)
    if not quiet:
        click.echo(f"[remech] write results {time.perf_counter() - t0:.2f} s", err=True)
    if as_json:
        click.echo(json.dumps(mech.to_json(), indent=2))
    else:
        click.echo(summary(mech))
        if mech.saa is not None:
            from remech.saa import saa_text

            click.echo(saa_text(mech.saa))
        click.echo(f"results       {outdir}/ (mechanism.json, {len(mech.tables)} CSV tables, "
                   "highs.log)")
    if stopped:
        if result.status == STATUS_INTERRUPTED:
            click.echo(f"[remech] interrupted: the best mechanism found so far is written to "
                       f"{outdir}/ with status interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.status == "optimal":
        sys.exit(EXIT_OK)
    sys.exit(EXIT_TIME_LIMIT if result.has_solution else EXIT_NO_SOLUTION)


def _print_sizes(run) -> None:
    size, t = run.result.model_size, run.result.timings_s
    click.echo(f"[remech] {', '.join(f'{v} {k}' for k, v in run.data.sizes.items())}; "
               f"model {size['columns']} columns, {size['rows']} rows, {size['nonzeros']} "
               f"nonzeros, {size['integer_columns']} integer", err=True)
    click.echo(f"[remech]   hand-off {t['write_lp'] + t['read_lp']:.2f} s (write LP "
               f"{t['write_lp']:.2f}, HiGHS read {t['read_lp']:.2f}), HiGHS solve "
               f"{t['solve']:.2f} s, load solution {t['load_solution']:.2f} s", err=True)


@contextlib.contextmanager
def _bar(file, label: str):
    """A progress bar opened at the first tick, when the total is known; yields
    tick(total)."""
    bars: list = []

    def tick(total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label=label.format(total), file=file,
                                          show_pos=True))
            bars[0].__enter__()
        bars[0].length = total
        bars[0].update(1)

    try:
        yield tick
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


@main.command()
@click.argument("mechanism", type=click.Path(path_type=Path))
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("--model", "-m", "model_path", type=click.Path(path_type=Path),
              help="Design file. Default: the design the mechanism was solved with "
                   "(mechanism.json design.path).")
@click.option("-n", "n", type=click.IntRange(min=2), default=None,
              help="Simulate on N fresh scenarios (default: the instance's own scenarios).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the fresh scenarios (-n).")
@click.option("--sampler", type=click.Choice(SAMPLER_CHOICES), default="generate",
              show_default=True, help="With -n: 'generate' draws new paths with remech's "
              "scenario generator; 'resample' draws the instance's own scenarios with "
              "replacement by their probabilities.")
@click.option("--stress", default="", help="With -n and the generator: add named stress "
              "tests (all, or a comma list, as in remech scenarios generate).")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Scenarios per evaluation; batches run in parallel processes.")
@click.option("--china-response", "china_response", metavar="SPEC",
              help="Stress test: China floods each product the mechanism brings new "
                   "capacity online for, deeper and longer the more capacity: 'default' or "
                   "depth=1,max=0.35,years=10 (price cut per unit of capacity/demand, largest "
                   "cut, years per unit; assumptions, see remech/response.py).")
@jobs_option("Parallel processes for the batches (default: the number of cores).")
@solver_limit_options("batch", 600.0)
@out_option("Write simulation.json and scenario_costs.csv here.")
@force_option
@json_option("simulation.json")
@quiet_option()
@format_option
@user_errors
def simulate(mechanism: Path, instance: Path, model_path: Path | None, n: int | None,
             seed: int, sampler: str, stress: str, batch_size: int,
             china_response: str | None, jobs: int | None,
             time_limit: float, mip_gap: float, outdir: Path | None, force: bool,
             as_json: bool, quiet: bool, formats: tuple[str, ...]) -> None:
    """Run a solved MECHANISM on scenarios it was not solved on.

    MECHANISM is a mechanism.json written by remech solve -o (or that folder). Its first
    stage (floors, supported projects, stockpiles, the stockpile rule's yearly targets) is
    fixed and executed year by year on INSTANCE's own scenarios, or on N fresh ones with
    -n. Prints the distribution of the scenario cost (mean with a 95 % Student-t interval,
    std, CVaR95, worst), the expected shortfall per product, the outlay and each ally's
    share of it, and how many evaluations HiGHS proved optimal (only those count). A
    clairvoyant stockpile cannot be simulated and is refused. Exit code 0 if every batch
    was proved optimal, 3 if some were, 4 if none.

    \b
    Example:
      remech solve instances/allied-ree-2026 -o out/
      remech simulate out/mechanism.json instances/allied-ree-2026 -n 1000 --seed 1 \\
          -o sim-out/
    """
    from remech.simulating import batches, load_simulation, simulate, summary
    from remech.solving import SolverOptions

    formats = formats_checked(formats)
    inputs = [p for p in (mechanism, model_path) if p is not None]
    check_outdir(outdir, force, inside_of=[instance], contains=inputs, kind="simulate")
    check_solver_options(time_limit, mip_gap, None, jobs)
    stress_names = tuple(x.strip() for x in stress.split(",") if x.strip())
    if stress_names and sampler != "generate":
        raise InputError("--stress: only with --sampler generate; drop --stress or use the "
                         "generator")
    response = None
    if china_response is not None:
        from remech.response import parse_response

        response = parse_response(china_response)
    mech_path, mech, inst, design, sample = load_simulation(
        mechanism, instance, model_path, n, seed, sampler, stress_names)
    opts = SolverOptions(time_limit_s=time_limit, mip_gap=mip_gap)
    n_batches = len(batches(sample, batch_size))
    with click.progressbar(length=n_batches, label=f"simulating {len(sample.names):,} "
                           f"scenarios in {n_batches} batch{'es' if n_batches > 1 else ''}",
                           file=sys.stderr if not quiet else open(os.devnull, "w"),
                           show_pos=True) as bar:
        report, tables = simulate(mech, inst, design, sample, opts, jobs, batch_size,
                                  lambda k, r: bar.update(1), mech_path, response)
    if outdir is not None:
        from remech.results import write_results

        write_results(outdir, report, tables, force, json_name="simulation.json",
                      kind="simulate", formats=formats)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(summary(report))
        if outdir is not None:
            click.echo(f"results       {outdir}/ (simulation.json, scenario_costs.csv)")
    ev = report["evaluations"]
    if ev["optimal"] == ev["batches"]:
        sys.exit(EXIT_OK)
    sys.exit(EXIT_TIME_LIMIT if report.get("cost") else EXIT_NO_SOLUTION)


def _interrupted_target(outdir: Path) -> Path:
    """Where an interrupted solve writes its incumbent: OUTDIR if it is new or empty, else
    a sibling OUTDIR.interrupted (replaced only if an earlier remech result), so that the
    previous result stays untouched."""
    from remech.outdir import is_result

    if not outdir.exists() or not any(outdir.iterdir()):
        return outdir
    target = outdir.with_name(f"{outdir.name}.interrupted")
    if target.exists() and any(target.iterdir()) and not is_result(target):
        target = outdir.with_name(f"{outdir.name}.interrupted-{os.getpid()}")
    return target


def _check_saa_early(instance: Path, model_path: Path | None, sampler: str | None) -> None:
    """Refuse --saa for a design it cannot bound before the main solve, not after."""
    from remech.design import load_design
    from remech.instance import load_instance
    from remech.saa import check_saa
    from remech.simulating import default_sampler

    inst = load_instance(instance)
    path = model_path or inst.default_model
    if path is not None:
        check_saa(load_design(path), sampler or default_sampler(inst))


@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@model_option
@quiet_option("Print nothing on success.")
@set_option
@click.option("--json", "as_json", is_flag=True,
              help='Print the verdict as JSON on stdout: {"ok": true, sizes, model counts} '
                   'or {"ok": false, "errors": [one line each]} (exit code 2).')
@user_errors
def validate(instance: Path, model_path: Path | None, quiet: bool,
             set_texts: tuple[str, ...], as_json: bool) -> None:
    """Read and check INSTANCE and a design, and build the model without solving.

    Bad input is reported on one line naming the file, the row or field, the bad value
    and the fix, with exit code 2.

    \b
    Example:
      remech validate instances/allied-ree-2026
      remech validate instances/allied-ree-2026 --model models/floor-only.toml
      remech validate instances/allied-ree-2026 --set objective.view=economic
      remech validate my-instance --json
    """
    from remech.run import build, load_files, model_counts

    try:
        run = build(load_files(instance, model_path, overrides=parse_sets(set_texts)))
    except InputError as exc:
        if not as_json:
            raise
        click.echo(json.dumps({"ok": False, "instance": str(instance), "errors": exc.lines},
                              indent=2))
        sys.exit(EXIT_INPUT)
    counts = model_counts(run.model)
    if as_json:
        click.echo(json.dumps({
            "ok": True, "instance": {"name": run.instance.name,
                                     "path": str(run.instance.folder),
                                     "overrides": dict(run.instance.overrides or {})},
            "design": {"name": run.design.name, "path": str(run.design.path),
                       "overrides": dict(run.design.overrides)},
            "sizes": run.data.sizes, "model": counts,
            "build_seconds": round(run.timings_s["build model"], 4)}, indent=2))
    elif not quiet:
        sizes = ", ".join(f"{v} {k}" for k, v in run.data.sizes.items())
        click.echo(f"ok: {run.instance.name} with design {run.design.name}: {sizes}; model "
                   f"has {counts['variables']} variables ({counts['binaries']} binary) and "
                   f"{counts['constraints']} constraints (built in "
                   f"{run.timings_s['build model']:.2f} s)")


@main.command("new")
@click.argument("name", type=click.Path(path_type=Path))
@user_errors
def new_command(name: Path) -> None:
    """Write a new instance folder NAME from commented templates.

    A small working world (two allies, NdPr oxide, an existing and a new project, two years,
    a calm and an export-control scenario) with a default design.toml; every value is a
    placeholder marked as a template assumption, README.md in the folder explains every
    column. remech validate accepts it as written. An existing NAME is never touched.

    \b
    Example:
      remech new instances/my-world && remech validate instances/my-world
      remech solve instances/my-world -o out-my-world/
    """
    from remech.scaffold import scaffold

    files = scaffold(name)
    click.echo(f"wrote {name}/ ({', '.join(p.name for p in files)})")
    click.echo(f"next: edit the files (README.md explains the columns), then remech validate "
               f"{name}")


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


@main.command()
@click.argument("instance", type=click.Path(path_type=Path), required=False)
@model_option
@click.option("--costs", "costs_csv", type=click.Path(path_type=Path),
              help="Analyse this cost game instead: a CSV with columns coalition,cost "
                   "(members joined by '+', one row per non-empty coalition), or a formula "
                   "game (.toml: game = \"airport\" or \"weighted_majority\").")
@jobs_option()
@click.option("--scheduler", help="Address of a dask.distributed scheduler "
                                  "(e.g. tcp://10.0.0.5:8786) to run the solves on.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="Cache folder for coalition results (default ~/.cache/remech).")
@click.option("--no-cache", is_flag=True, help="Solve every coalition again.")
@solver_limit_options("coalition", 300.0)
@click.option("--samples", type=click.IntRange(min=0), default=0,
              help="Also estimate the Shapley value from this many random orders "
                   "(with a 95 % confidence interval); enumerated games only.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the sampled Shapley value.")
@click.option("--lazy", is_flag=True,
              help="Compute coalition costs only as needed: Shapley value by stratified "
                   "sampling, least core and nucleolus by row generation. Automatic beyond "
                   "10 allies (INSTANCE), 16 players (formula) or 20 (table).")
@click.option("--tolerance", type=float, default=None,
              help="Lazy: sample until every player's 95 % half-width is at most this "
                   "(MUSD; default 1 % of |c(N)|).")
@click.option("--max-samples", type=click.IntRange(min=1), default=None,
              help="Lazy: at most this many sampled marginal costs (default 1,000,000; "
                   "with INSTANCE max(2,000, 4 n^2) for n allies, up to two solves each).")
@click.option("--unions", "unions", multiple=True, metavar="NAME=A,B,...|FILE.toml",
              help="A priori union (repeat): these players negotiate as a bloc; adds the "
                   "Owen value, each union's total and its split inside (owen.csv). Or a "
                   ".toml file with a [unions] table. Players in no union stand alone.")
@click.option("--owen-only", is_flag=True,
              help="With --unions: compute only the Owen value (no Shapley value, least "
                   "core or nucleolus).")
@out_option("Write coalition_costs.csv, allocations.csv and game.json here.")
@force_option
@json_option("the analysis as JSON")
@quiet_option("No progress bar.")
@set_option
@format_option
@user_errors
def game(instance: Path | None, model_path: Path | None, costs_csv: Path | None,
         jobs: int | None, scheduler: str | None, cache_dir: Path | None, no_cache: bool,
         time_limit: float, mip_gap: float, samples: int, seed: int, lazy: bool,
         tolerance: float | None, max_samples: int | None, unions: tuple[str, ...],
         owen_only: bool, outdir: Path | None, force: bool, as_json: bool, quiet: bool,
         set_texts: tuple[str, ...], formats: tuple[str, ...]) -> None:
    """Burden sharing that holds: coalition costs, Shapley value, (pre)nucleolus, least core.

    With INSTANCE, solves the design for every coalition of allies (2^n - 1 solves, in
    parallel, cached) to get each coalition's stand-alone cost c(S), then reports per ally
    the stand-alone cost, the cost under the Shapley value, nucleolus (over the
    imputations: nobody pays more than alone; none if that set is empty), prenucleolus,
    least core and the GDP, consumption and equal splits, the saving from joining, and
    whether each split is stable (no coalition would pay less on its own) with a blocking
    coalition if not.
    With --costs, analyses any cost game given as a table or a formula.
    Larger games (--lazy) are never tabulated: coalitions are solved only as needed, and
    the report says what was proved and what was only searched.

    \b
    Example:
      remech game instances/allied-ree-2026 --jobs 2 -o game-out/
      remech game --costs game-out/coalition_costs.csv --json
      remech game --costs airport.toml --tolerance 0.5 --seed 1
      remech game --costs airport.toml --unions EU=P01,P02,P03
      remech game instances/allied-ree-eu27-2026 --owen-only \\
          --unions instances/allied-ree-eu27-2026/unions.toml
    """
    from remech.game_runner import run_game

    formats = formats_checked(formats)
    check_solver_options(time_limit, mip_gap, jobs=jobs)
    check_number("--tolerance", tolerance, low=0, low_open=True, unit=" MUSD", example="0.5")
    overrides = parse_sets(set_texts)
    inputs = [p for p in (costs_csv, model_path) if p is not None]
    check_outdir(outdir, force, inside_of=[instance] if instance else [], contains=inputs,
                 kind="game")
    run = None
    if costs_csv is None and instance is not None:
        from remech.run import load_files

        run = load_files(instance, model_path, overrides=overrides)
        check_outdir(outdir, force, inside_of=[run.instance.folder],
                     contains=[run.design.path], kind="game")
    say = (lambda msg: None) if quiet else (lambda m: click.echo(f"[remech] {m}", err=True))
    bars: list = []

    def on_coalition(done: int, total: int) -> None:
        if not bars:  # drawn once the coalitions are being solved (not for --costs)
            bars.append(click.progressbar(
                length=total, label=f"solving {total} coalitions", show_pos=True,
                show_eta=True, file=sys.stderr if not quiet else open(os.devnull, "w")))
            bars[0].__enter__()
        bars[0].update(1)

    try:
        game_result = run_game(instance, model_path, costs=costs_csv, overrides=overrides,
                               jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                               no_cache=no_cache, time_limit_s=time_limit, mip_gap=mip_gap,
                               samples=samples, seed=seed, lazy=lazy, tolerance=tolerance,
                               max_samples=max_samples, say=say, on_coalition=on_coalition,
                               unions=unions, owen_only=owen_only, loaded=run)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    result, text = game_result.result, game_result.text
    if outdir is not None:
        game_result.write(outdir, force, formats)
    click.echo(json.dumps(result, indent=2) if as_json else text)


@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("--model", "-m", "models", type=click.Path(path_type=Path), multiple=True,
              help="Design file to compare (repeat). Default: every *.toml in the folder of "
                   "the instance's default design (models/) that fits the instance (designs "
                   "naming products or projects it lacks are skipped, said on stderr).")
@click.option("--baseline", default="no-mechanism", show_default=True,
              help="Design the others are measured against.")
@jobs_option()
@solver_limit_options("design", 600.0)
@out_option("Write compare.csv, compare.md and compare.json here.")
@force_option
@json_option("the comparison as JSON")
@quiet_option("No progress bar.")
@set_option
@format_option
@user_errors
def compare(instance: Path, models: tuple[Path, ...], baseline: str, jobs: int | None,
            time_limit: float, mip_gap: float, outdir: Path | None, force: bool,
            as_json: bool, quiet: bool, set_texts: tuple[str, ...],
            formats: tuple[str, ...]) -> None:
    """Solve several designs on the same INSTANCE and put them side by side.

    For each design: status and gap, floors (and collars), supported projects, stockpiles,
    grants, expected outlay and cost, CVaR95, expected shortfall and non-Chinese share per
    product, what each ally pays, the trade-law screening tags of the instruments it uses,
    and the saving against the baseline design (the value of its instruments). A design
    that fails keeps its row with its status. --set applies to every design.

    \b
    Example:
      remech compare instances/allied-ree-2026 --jobs 2 -o compare-out/
      remech compare instances/allied-ree-2026 -m models/floor-only.toml \\
          -m models/mp-style.toml -m models/no-mechanism.toml --json
      remech compare instances/allied-ree-2026 -m floor-only -m no-mechanism \\
          --set instance.products.NDPR.shortfall_penalty_usd_per_kg=500
    """
    from remech.comparing import compare_designs, design_paths, write_compare
    from remech.instance import load_instance

    formats = formats_checked(formats)
    check_solver_options(time_limit, mip_gap, jobs=jobs)
    overrides = parse_sets(set_texts)
    check_outdir(outdir, force, inside_of=[instance], contains=models, kind="compare")
    inst = load_instance(instance)
    skipped: dict[str, str] = {}
    paths = design_paths(inst, models, skipped)
    if skipped:
        click.echo(f"skipped {len(skipped)} designs written for another instance: "
                   + ", ".join(skipped), err=True)
    check_outdir(outdir, force, inside_of=[inst.folder], contains=paths, kind="compare")
    with click.progressbar(length=len(paths), label=f"solving {len(paths)} designs",
                           file=sys.stderr if not quiet else open(os.devnull, "w"),
                           show_pos=True) as bar:
        result = compare_designs(instance, paths, baseline, jobs, time_limit, mip_gap,
                                 overrides, on_done=lambda k, r: bar.update(1))
    if outdir is not None:
        click.echo(f"report        {write_compare(outdir, result, force, formats)}",
                   err=True)
    rows = result.rows
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        with pd_options():
            click.echo(result.table().to_string())
        if result.overrides:
            click.echo("\noverrides (every design): " + ", ".join(
                f"{o.text}" for o in overrides))
        click.echo(f"\n{len(rows)} designs in {result.wall_seconds:.1f} s "
                   f"({sum(r['seconds'] for r in rows):.1f} s of solver processes)")


@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@model_option
@click.option("--set", "set_texts", multiple=True, metavar="KEY=V1[,V2,...]",
              help="A key to sweep over these values (the commas outside brackets separate "
                   "them: [50],[80] are two menus), or with one value an override for every "
                   "point; keys as for remech solve --set. Repeat for more keys.")
@click.option("--vary", "vary_texts", multiple=True, metavar="KEY=START:STOP:STEP",
              help="A key to sweep over START, START+STEP, ..., STOP; on a floor or tariff "
                   "menu each value v is the one-level menu [v].")
@jobs_option()
@solver_limit_options("point", 600.0)
@click.option("--tornado", is_flag=True,
              help="One-at-a-time sensitivity instead of a grid: shortfall penalties, "
                   "discount and hurdle rates, export-control severity and probability and "
                   "the MCPF, each at -/+ --spread around the files' values; writes "
                   "tornado.csv, tornado.md, tornado.json, tornado.html and tornado.png.")
@click.option("--spread", type=float, default=0.25, show_default=True,
              help="With --tornado: low = base x (1 - spread), high = base x (1 + spread).")
@out_option("Write sweep.csv, sweep.md, sweep.json and the report here (with --tornado: "
            "the tornado files).", required=True)
@force_option
@json_option("the points as JSON")
@quiet_option("No progress bar.")
@format_option
@user_errors
def sweep(instance: Path, model_path: Path | None, set_texts: tuple[str, ...],
          vary_texts: tuple[str, ...], tornado: bool, spread: float, jobs: int | None,
          time_limit: float, mip_gap: float, outdir: Path, force: bool, as_json: bool,
          quiet: bool, formats: tuple[str, ...]) -> None:
    """Solve one design of INSTANCE at every point of a grid of overrides, in parallel.

    Every combination of the swept values is one solve (checked before any solve starts);
    prints one row per point (swept values, status, expected cost in both views, floors,
    each ally's net cost) and writes sweep.csv (every result of compare per point),
    sweep.json (remech explore --precomputed reads it) and the compare-style report with
    charts against the swept value.

    With --tornado, one input at a time instead: the base and each main uncertain input low
    and high (2 n + 1 solves), a table sorted by the swing in expected cost and a tornado
    chart; --set values (one each) apply at every point.

    \b
    Example:
      remech sweep instances/allied-ree-2026 --vary price_floor.levels_usd_per_kg.NDPR=50:110:20 \\
          --set 'price_floor.mandatory_floor=["NDPR"]' --jobs 2 -o sweep-ndpr/
      remech sweep instances/allied-ree-2026 --set objective.view=fiscal,economic \\
          --set burden_sharing.rule=gdp,equal -o sweep-views/
      remech sweep instances/allied-ree-2026 --tornado --spread 0.25 --jobs 2 -o tornado/
    """
    from remech.sweeping import grid, parse_axes, run_sweep, table, write_sweep

    formats = formats_checked(formats)
    check_solver_options(time_limit, mip_gap, jobs=jobs)
    inputs = [model_path] if model_path is not None else []
    if tornado:
        return _tornado(instance, model_path, set_texts, vary_texts, spread, jobs, time_limit,
                        mip_gap, outdir, force, as_json, quiet, inputs, formats)
    if spread != 0.25:
        raise InputError("--spread: only with --tornado; add --tornado or drop --spread")
    check_outdir(outdir, force, inside_of=[instance], contains=inputs, kind="sweep")
    axes = parse_axes(set_texts, vary_texts)
    n = len(grid(axes))
    with click.progressbar(length=n, label=f"solving {n} points",
                           file=sys.stderr if not quiet else open(os.devnull, "w"),
                           show_pos=True) as bar:
        result = run_sweep(instance, axes, model_path, jobs, time_limit, mip_gap,
                           on_done=lambda k, r: bar.update(1))
    check_outdir(outdir, force, inside_of=[result.instance["path"]],
                 contains=[result.design["path"]], kind="sweep")
    html = write_sweep(outdir, result, force, formats)
    if as_json:
        click.echo(json.dumps(result.rows, indent=2))
    else:
        with pd_options():
            click.echo(table(result).to_string(index=False))
        click.echo(f"\n{len(result.rows)} points in {result.wall_seconds:.1f} s "
                   f"({sum(r['seconds'] for r in result.rows):.1f} s of solver processes)")
        click.echo(f"results       {outdir}/ (sweep.csv, sweep.md, sweep.json, "
                   f"{Path(html).name})")


def _tornado(instance: Path, model_path: Path | None, set_texts: tuple[str, ...],
             vary_texts: tuple[str, ...], spread: float, jobs: int | None, time_limit: float,
             mip_gap: float, outdir: Path, force: bool, as_json: bool, quiet: bool,
             inputs: list[Path], formats: tuple[str, ...] = ()) -> None:
    """remech sweep --tornado (remech/sensitivity.py)."""
    from remech.sensitivity import check_spread, run_tornado, write_tornado

    check_spread(spread)
    if vary_texts:
        raise InputError("--vary: not with --tornado (it varies its own inputs); drop --vary, "
                         "or --tornado for a grid")
    overrides = parse_sets(set_texts)
    check_outdir(outdir, force, inside_of=[instance], contains=inputs, kind="tornado")
    bars: list = []

    def start(n: int) -> None:
        bars.append(click.progressbar(length=n, label=f"solving {n} points", show_pos=True,
                                      file=sys.stderr if not quiet else open(os.devnull, "w")))
        bars[0].__enter__()

    try:
        result = run_tornado(instance, model_path, spread, jobs, time_limit, mip_gap,
                             overrides, on_done=lambda k, r: bars[0].update(1), on_start=start)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    check_outdir(outdir, force, inside_of=[result.instance["path"]],
                 contains=[result.design["path"]], kind="tornado")
    write_tornado(outdir, result, force, formats)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    with pd_options():
        click.echo(result.table().to_string(index=False))
    base = result.base.get(result.metric)
    click.echo(f"\nbase: expected cost {base:,.1f} MUSD ({result.design['view']} view); "
               f"{result.points} points in {result.wall_seconds:.1f} s")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"results       {outdir}/ (tornado.csv, tornado.md, tornado.json, "
               "tornado.html, tornado.png)")


@main.command()
@click.argument("instance", type=click.Path(path_type=Path), required=False)
@model_option
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 to serve the page on (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; only print the "
                                                 "address.")
@click.option("--precomputed", type=click.Path(path_type=Path), metavar="DIR",
              help="Serve the points of a remech sweep folder instead of solving (for "
                   "instances too slow to re-solve at each change).")
@click.option("--time-limit", type=float, default=60.0, show_default=True,
              help="HiGHS time limit per re-solve, seconds.")
@click.option("--mip-gap", type=float, default=1e-4, show_default=True,
              help="Relative MIP gap of each re-solve.")
@click.option("--threads", type=int, default=0, show_default=True,
              help="HiGHS threads (0: HiGHS chooses).")
@user_errors
def explore(instance: Path | None, model_path: Path | None, port: int, no_browser: bool,
            precomputed: Path | None, time_limit: float, mip_gap: float,
            threads: int) -> None:
    """A what-if page in the browser: move a floor, switch instruments, change the
    burden-sharing rule, the objective view, a budget cap or a shortfall penalty, and see
    the mechanism solved again (each ally's contribution and net cost, the expected cost in
    the fiscal and the economic view, floors, projects, stockpiles, the stability verdict
    under rule 'core', the trade-law screening tags).

    Serves on 127.0.0.1 only (nothing leaves this computer), one solve at a time; prints
    the address and opens a browser. Ctrl-C stops it. With --precomputed DIR (from remech
    sweep -o DIR) the page shows the sweep's points and solves nothing.

    \b
    Example:
      remech explore instances/allied-ree-2026
      remech explore instances/tiny-floor --port 8800 --no-browser
      remech sweep instances/allied-ree-2026 --vary \\
          price_floor.levels_usd_per_kg.NDPR=50:110:20 -o sweep-ndpr/ \\
          && remech explore --precomputed sweep-ndpr/
    """
    from remech.explore import Explorer, LiveSource, SweepSource, make_server, serve, url

    check_solver_options(time_limit, mip_gap, threads)
    if precomputed is not None:
        if instance is not None or model_path is not None:
            raise InputError("--precomputed: give either INSTANCE (to solve) or "
                             "--precomputed DIR (a remech sweep folder), not both")
        source = SweepSource(precomputed)
    elif instance is None:
        raise InputError("missing INSTANCE (or --precomputed DIR); see remech explore --help")
    else:
        source = LiveSource(instance, model_path, time_limit, mip_gap, threads)
    server = make_server(Explorer(source), port)
    config = source.config()
    click.echo(f"remech explore: {config['instance']} x {config['design']} ({source.mode})")
    click.echo(f"serving on {url(server)}  (Ctrl-C stops it)", nl=True)
    sys.stdout.flush()
    serve(server, open_browser=not no_browser)
    click.echo("[remech] explorer stopped", err=True)


# -- remech report (issue 13): the logic lives in remech/reporting.py --------------------------
@main.command("report")
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="The HTML file to write (default OUTDIR/report.html, or NEWDIR/report.html "
                   "with --set); the Markdown twin NAME.md and its charts folder "
                   "NAME-charts/ go next to it.")
@click.option("--instance", type=click.Path(path_type=Path),
              help="The instance folder, if it moved since the solve (default: the path "
                   "recorded in mechanism.json); used for the price fans and the sources.")
@click.option("--set", "set_texts", multiple=True, metavar="KEY=VALUE",
              help="What if: solve OUTDIR's instance and design again with this override "
                   "(repeat; added to the ones OUTDIR was solved with, checked like --set of "
                   "remech solve), write that result to --into NEWDIR and report on it. "
                   "OUTDIR stays as it is. Solve results only.")
@click.option("--into", "into", type=click.Path(path_type=Path),
              help="With --set: the new result folder (mechanism.json, tables, report).")
@force_option
@user_errors
def report_command(outdir: Path, out: Path | None, instance: Path | None,
                   set_texts: tuple[str, ...], into: Path | None, force: bool) -> None:
    """Write a report of the result folder OUTDIR (of remech solve, compare or sweep): one
    self-contained HTML page with interactive charts (opens without a network) and a
    Markdown twin with PNG charts. Overwrites only reports remech wrote.

    With --set, a what-if report: OUTDIR's mechanism is solved again with the overrides it
    had plus the new ones (same instance, design and solver options), the new result is
    written to --into NEWDIR and the report is of NEWDIR; OUTDIR is not changed.

    \b
    Example:
      remech solve instances/allied-ree-2026 -o out/ && remech report out/
      remech report out/ -o ~/reports/allied-2026.html
      remech report out/ --set risk.cvar_weight=0.3 --into out-cvar/
    """
    from remech.reporting import write_report

    t0 = time.perf_counter()
    if not set_texts and (into is not None or force):
        raise InputError(f"{'--into' if into is not None else '--force'}: only with --set "
                         "(a what-if re-solve); drop it, or add --set KEY=VALUE")
    if set_texts:
        from remech.run import what_if

        overrides = parse_sets(set_texts)
        if into is None:
            raise InputError("--set re-solves OUTDIR's mechanism with the change; say where "
                             "the new result goes with --into NEWDIR (OUTDIR stays as it is)")
        if into.resolve() == outdir.resolve():
            raise InputError(f"--into {into}: that is OUTDIR; the what-if result goes to a "
                             f"new folder, e.g. --into {outdir.name}-what-if")
        from remech.outdir import check_outdir as check

        check(into, force, option="--into", kind="solve")
        mech, notes = what_if(outdir, overrides, instance)
        for note in notes:
            click.echo(f"[remech] note: {note}", err=True)
        mech.write(into, force)
        click.echo(f"wrote {into}/ (re-solved with "
                   f"{', '.join(o.text for o in overrides)}: "
                   f"{mech.status}, expected cost {_musd(mech)})")
        outdir = into
    done = write_report(outdir, out, instance)
    for note in done.notes:
        click.echo(f"[remech] note: {note}", err=True)
    click.echo(f"wrote {done.html}\nwrote {done.markdown} (charts in {done.charts}/) in "
               f"{time.perf_counter() - t0:.1f} s")


def _musd(mech) -> str:
    cost = (mech.costs or {}).get("expected_cost_musd")
    return "none" if cost is None else f"{cost:,.1f} MUSD"


def pd_options():
    import pandas as pd

    return pd.option_context("display.max_colwidth", 60, "display.width", 250)


def _per_product(text: str | None, option: str, products: list[str]) -> dict[str, float]:
    """Parse 'NDPR=80,DY=300' into {'NDPR': 80.0, 'DY': 300.0}: known products, positive
    finite prices in USD/kg."""
    out: dict[str, float] = {}
    for part in filter(None, (text or "").split(",")):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            number = float(value) if sep else None
        except ValueError:
            number = None
        if number is None:
            raise InputError(f"{option} {text}: '{part}' is not PRODUCT=number; write e.g. "
                             f"{products[0]}=80")
        if name not in products:
            raise InputError(f"{option} {text}: unknown product '{name}'; use one of "
                             f"{', '.join(products)}")
        if not math.isfinite(number) or number <= 0:
            raise InputError(f"{option} {text}: {name} price {value.strip()} is not a "
                             f"positive finite number; give a price in USD/kg, e.g. "
                             f"{name}=80")
        if name in out:
            raise InputError(f"{option} {text}: {name} given twice; give each product once")
        out[name] = number
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
@out_option("New instance folder: a copy of INSTANCE with the generated scenarios.", required=True)
@click.option("-n", "n", type=click.IntRange(min=0), default=100, show_default=True,
              help="Number of bootstrap paths.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the bootstrap and the export-control/flooding draws (the same "
                   "seed gives the same scenarios).")
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
@click.option("--flooding-years", type=click.IntRange(min=1), default=2, show_default=True,
              help="Years a flooding episode lasts.")
@click.option("--tree", "tree", default=None, metavar="SPEC",
              help="A scenario tree instead of N independent paths: branching years and "
                   "children per node, e.g. 2028:5,2031:4 (one shared path until 2028, 20 "
                   "leaves); writes nodes.csv. Not with -n or --stress.")
@force_option
@json_option("what was written and the calibration against history as JSON")
@user_errors
def generate(instance: Path, outdir: Path, n: int, seed: int, stress: str, block: int,
             kappa: float, long_run: str | None, start: str | None, p_controls: float,
             p_flooding: float, flooding_depth: float, flooding_years: int,
             tree: str | None, force: bool, as_json: bool) -> None:
    """Generate N price paths (and export-control paths) for INSTANCE from history.

    Block bootstrap of the joint annual log returns of USGS/Argus oxide prices 2011-2025
    with mean reversion, export-control and strategic-flooding overlays, and named stress
    tests; reproducible with --seed. Writes a new instance folder that remech solve uses
    directly, and prints the calibration against history. With --tree, the paths form a
    scenario tree (nodes.csv) for designs with [stockpile] policy = "tree".

    \b
    Example:
      remech scenarios generate instances/allied-ree-2026 -n 200 --seed 7 --stress all \\
          -o my-200
      remech scenarios generate instances/allied-ree-2026 --tree 2028:5,2031:4 -o my-tree
      remech scenarios generate instances/allied-ree-2026 -n 50 -o my-50 --json
    """
    from remech.instance import load_instance
    from remech.scenarios import (
        GeneratorSettings,
        calibration,
        calibration_text,
        generated_tables,
        write_instance,
    )

    for option, value in (("--mean-reversion", kappa), ("--p-controls", p_controls),
                          ("--p-flooding", p_flooding), ("--flooding-depth", flooding_depth)):
        check_number(option, value, low=0, high=1, unit=" (a share)", example="0.3")
    check_outdir(outdir, force, inside_of=[instance], kind="instance")
    inst = load_instance(instance)
    check_outdir(outdir, force, inside_of=[inst.folder], kind="instance")
    products = inst.products["product"].tolist()
    settings = GeneratorSettings(
        n=n, seed=seed, block=block, kappa=kappa,
        long_run_usd_per_kg=_per_product(long_run, "--long-run", products),
        start_usd_per_kg=_per_product(start, "--start", products), p_controls=p_controls,
        p_flooding=p_flooding, flooding_depth=flooding_depth, flooding_years=flooding_years,
        stress=tuple(x.strip() for x in stress.split(",") if x.strip()))
    n_given = click.get_current_context().get_parameter_source("n") \
        is not click.core.ParameterSource.DEFAULT
    sset, tables, shape = generated_tables(inst, settings, tree, n_given)
    write_instance(inst, tables, outdir, force)
    if as_json:
        click.echo(json.dumps({"outdir": str(outdir), "scenarios": len(sset.names),
                               "seed": seed, "tree": tree, "stress": list(settings.stress),
                               "calibration": calibration(sset)}, indent=2))
        return
    click.echo(f"wrote {len(sset.names)} scenarios to {outdir}/ (seed {seed}){shape}")
    click.echo(calibration_text(sset))


@scenarios.command()
@click.argument("instance", type=click.Path(path_type=Path))
@click.option("--to", "k", type=click.IntRange(min=1), required=True,
              help="Number of scenarios to keep.")
@out_option("New instance folder with the reduced scenarios.", required=True)
@model_option
@click.option("--check/--no-check", default=True, show_default=True,
              help="Solve on the reduced set and evaluate that mechanism on the full set.")
@force_option
@json_option("the reduction (and the check) as JSON")
@user_errors
def reduce(instance: Path, k: int, outdir: Path, model_path: Path | None, check: bool,
           force: bool, as_json: bool) -> None:
    """Keep K representative scenarios of INSTANCE (fast forward selection).

    Probabilities of dropped scenarios go to their nearest kept scenario; prints the
    Kantorovich distance between the full and the reduced sets and, with --check, the
    cost of the mechanism solved on the reduced set, evaluated on the full set, against
    the full set's optimum (out-of-sample check).

    \b
    Example:
      remech scenarios reduce my-200 --to 40 -o my-40
      remech scenarios reduce my-200 --to 40 -o my-40 --no-check --json
    """
    import time

    from remech.instance import load_instance
    from remech.scenarios import china_multiple, scenario_set, to_tables, write_instance
    from remech.scenarios import reduce as cut

    check_outdir(outdir, force, inside_of=[instance], kind="instance")
    inst = load_instance(instance)
    check_outdir(outdir, force, inside_of=[inst.folder], kind="instance")
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
    tree_note = (f"{instance} is a scenario tree; the kept scenarios do not form one, so "
                 f"{outdir}/ has no nodes.csv (designs with [stockpile] policy = \"tree\" "
                 "need one)") if inst.nodes is not None and len(inst.nodes) else None
    c = None
    if check:
        from remech.evaluate import out_of_sample_check

        c = out_of_sample_check(outdir, instance, model_path)
    if as_json:
        click.echo(json.dumps({"outdir": str(outdir), "kept": len(small.names),
                               "of": len(full.names), "kantorovich_distance": float(distance),
                               "seconds": seconds, "note": tree_note,
                               "check": c}, indent=2, default=float))
        return
    click.echo(f"kept {len(small.names)} of {len(full.names)} scenarios in {seconds:.2f} s; "
               f"Kantorovich distance {distance:.4f} (standardised log-price and "
               f"availability paths); written to {outdir}/")
    if tree_note:
        click.echo(tree_note)
    if c is not None:
        click.echo(f"in-sample (reduced set) {c['in_sample_musd']:,.1f} MUSD; that mechanism "
                   f"on the full set {c['out_of_sample_musd']:,.1f} MUSD; full-set optimum "
                   f"{c['full_optimum_musd']:,.1f} MUSD (out-of-sample loss "
                   f"{c['loss_musd']:,.1f} MUSD, {c['loss_share'] * 100:.2f} %)")


@scenarios.command()
@click.argument("instance", type=click.Path(path_type=Path))
@out_option("Folder for the PNG fan charts (one per product).", required=True)
@click.option("--mechanism", type=click.Path(path_type=Path),
              help="A mechanism.json whose floor levels are drawn.")
@force_option
@json_option('the files written as JSON ({"files": [...]})')
@user_errors
def plot(instance: Path, outdir: Path, mechanism: Path | None, force: bool,
         as_json: bool) -> None:
    """Fan chart per product: percentile bands of the scenario prices, history overlaid,
    and the floors of a solved mechanism if given.

    \b
    Example:
      remech scenarios plot my-40 -o plots/ --mechanism out-40/mechanism.json
    """
    from remech.instance import load_instance
    from remech.outdir import replace_folder
    from remech.plots import fan_charts

    inputs = [mechanism] if mechanism is not None else []
    check_outdir(outdir, force, inside_of=[instance], contains=inputs, kind="plot")
    inst = load_instance(instance)
    floors = {}
    if mechanism is not None:
        if not mechanism.is_file():
            raise InputError(f"{mechanism}: file not found; give the mechanism.json written "
                             "by remech solve")
        floors = json.loads(mechanism.read_text()).get("floors_usd_per_kg", {})
    names: list[str] = []
    replace_folder(outdir, lambda folder: names.extend(
        p.name for p in fan_charts(inst, folder, floors)), force, "plot")
    if as_json:
        click.echo(json.dumps({"outdir": str(outdir),
                               "files": [str(outdir / name) for name in names]}, indent=2))
        return
    for name in names:
        click.echo(f"wrote {outdir / name}")


# --- remech bankability (issue 9: calibration of the projects' incentive prices) --------
@main.command()
@click.argument("instance", type=click.Path(path_type=Path))
@model_option
@click.option("--floors", "floor_specs", multiple=True, metavar="PRODUCT=L1,L2,...",
              help="Floor levels in USD/kg to test, one product per option (repeat), e.g. "
                   "--floors NDPR=54,75,85,110. Default: the design's floor menus.")
@click.option("--hurdle", type=float, default=None,
              help="Hurdle rate (real, a fraction). Default: the design's hurdle_rate.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@user_errors
def bankability(instance: Path, model_path: Path | None, floor_specs: tuple[str, ...],
                hurdle: float | None, as_json: bool) -> None:
    """Incentive price of each new plant of INSTANCE and whether it is bankable.

    The incentive price is the flat real price of a product at which the plant's NPV at
    the hurdle rate is zero (its capacity ramp, start year, capex the year before the
    start, counted once per plant, unit cost, and the design's tail years at the last
    year's margin, as remech's bankability test; a plant's lines of other products sell at
    the scenarios' prices). A plant is bankable at a floor (or at market prices) if its
    expected NPV over the instance's scenarios, its lines of the product receiving
    max(floor, price), is >= 0. Prints one row per (plant, product), the floor each needs
    and the share of new capacity per incentive-price band.

    \b
    Example:
      remech bankability instances/allied-ree-2026 --floors NDPR=54,75,85,110 --hurdle 0.15
      remech bankability instances/allied-ree-2026 -m floor-only --json
    """
    from remech import bankability as bk
    from remech.design import Design, load_design
    from remech.instance import load_instance

    inst = load_instance(instance)
    model = model_path if model_path is not None else inst.default_model
    design = load_design(model) if model is not None else Design(Path("-"), "defaults")
    products = inst.products["product"].tolist()
    floors = bk.parse_floors(floor_specs, products) if floor_specs else (
        {p: sorted(v) for p, v in design.floor_levels_usd_per_kg.items()}
        if design.price_floor else {})
    if hurdle is not None:
        bk.check_hurdle(hurdle)
    terms = bk.Terms.of(design, hurdle)
    rows = bk.table(inst, design, floors, hurdle)
    band = bk.bands(rows, floors)
    if as_json:
        click.echo(json.dumps(bk.as_json(inst, design.name, rows, band, floors, terms),
                              indent=2))
    else:
        with pd_options():
            click.echo(bk.render(rows, band, floors, terms))


if __name__ == "__main__":  # pragma: no cover
    main()
