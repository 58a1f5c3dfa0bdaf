"""One call from files to a solved mechanism, for Python and Jupyter users and the CLI.

    from remech.run import solve_files
    run = solve_files("instances/allied-ree-2026")
    run.mechanism.floors_usd_per_kg, run.mechanism.tables["projects.csv"]
    run.mechanism.write("out/", force=False)   # what remech solve -o writes
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyomo.environ as pyo

from remech.design import Design, load_design
from remech.diagnose import explain, integer_conflict
from remech.errors import InputError
from remech.instance import Instance, load_instance
from remech.mechanism import Mechanism, collect
from remech.model import build_model
from remech.model.data import ModelData
from remech.prepare import prepare
from remech.solving import STATUS_INTERRUPTED, SolveResult, SolverOptions, solve
from remech.stability import GameOptions, apply_core_split


@dataclass
class Run:
    instance: Instance
    design: Design
    data: ModelData
    model: pyo.ConcreteModel | None = None
    result: SolveResult | None = None
    mechanism: Mechanism | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    #: the extra step (vss, foresight_gap, saa) a stop request interrupted, if any
    dropped_step: str | None = None

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The mechanism's tables (the CSV files of remech solve -o)."""
        return self.mechanism.tables if self.mechanism is not None else {}


def _timed(timings: dict, name: str, fn: Callable, *args, report=None, **kwargs):
    if report:
        report(name, None)
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[name] = time.perf_counter() - t0
    if report:
        report(name, timings[name])
    return out


def load_files(instance: str | Path, model: str | Path | None = None,
               report=None, overrides=None) -> Run:
    """Read and check the instance and design, and prepare the model data.

    ``overrides`` (see remech.overrides): ``{dotted key: value}`` or ``KEY=VALUE`` texts
    changing design keys and instance values for this run, checked like the files."""
    from remech.overrides import as_overrides

    overrides = as_overrides(overrides)
    timings: dict[str, float] = {}
    inst = _timed(timings, "read instance", load_instance, instance, overrides,
                  report=report)
    return with_design(inst, model, overrides, report, timings)


def with_design(inst: Instance, model: str | Path | None = None, overrides=None,
                report=None, timings: dict | None = None) -> Run:
    """A loaded instance (overrides applied) with its design read and checked and the
    model data prepared; ``overrides`` apply to the design (remech explore reads the
    instance once and calls this for every re-solve)."""
    from remech.overrides import as_overrides

    overrides = as_overrides(overrides)
    timings = {} if timings is None else timings
    if model is None:
        if inst.default_model is None:
            raise InputError(f"{inst.folder}/instance.toml: no default_model and no "
                             "--model; pass --model models/<design>.toml")
        model = inst.default_model
    design = _timed(timings, "read design", load_design, model, overrides, report=report)
    if design.overrides:  # a key an override names must exist in the instance
        check_names(inst, design, overrides)
    with _as_input_error(inst, design, "prepared"):
        data = _timed(timings, "prepare data", prepare, inst, design, report=report)
    return Run(instance=inst, design=design, data=data, timings_s=timings)


def check_names(inst: Instance, design: Design, overrides) -> None:
    """The design's products, allies and projects exist in the instance (as prepare checks),
    naming the overrides in the error."""
    from remech.design import check_against

    try:
        check_against(design, inst.products["product"].tolist(), inst.members,
                      inst.projects["project"].tolist())
    except InputError as exc:
        given = ", ".join(f"--set {o.text}" for o in overrides if not o.is_instance)
        raise InputError(f"{exc} (with {given})") from None


def build(run: Run, report=None) -> Run:
    with _as_input_error(run.instance, run.design, "built"):
        run.model = _timed(run.timings_s, "build model", build_model, run.data,
                           report=report)
    return run


@contextmanager
def _as_input_error(inst: Instance, design: Design, what: str):
    """A failure while preparing or building the model from checked files is reported as
    bad input (exit 2, one line) rather than a traceback; --debug shows the cause."""
    try:
        yield
    except InputError:
        raise
    except (ArithmeticError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise InputError(
            f"{inst.folder.name} with {design.path.name}: the model cannot be {what} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check "
            "the values these files give, and report it with the files if they look "
            "right (--debug shows the traceback)") from exc


@dataclass
class Extras:
    """Steps after the solve that add a section to the mechanism (each one solve or more)."""

    vss: bool = False  # EV, EEV, wait-and-see, VSS and EVPI
    foresight: bool = False  # the clairvoyant bound and the value of foresight
    saa: tuple[int, int, int] | None = None  # (M, N, N2) sample-average bounds
    saa_sampler: str | None = None  # None: remech.simulating.default_sampler
    saa_seed: int = 0
    jobs: int | None = None  # processes for the SAA solves


def solve_files(instance: str | Path, model: str | Path | None = None,
                options: SolverOptions | None = None, write_model: Path | None = None,
                report=None, game: GameOptions | None = None, on_coalition=None,
                extras: Extras | None = None, overrides=None) -> Run:
    """Read, build, solve with HiGHS and collect the mechanism (nothing written).

    With burden-sharing rule 'core', also solves every coalition (``game`` says how) and
    replaces the contributions by the core-stable split; ``extras`` adds VSS, the
    foresight gap or SAA bounds; ``overrides`` change design keys and instance values
    (remech.overrides). ``run.mechanism`` is what remech solve writes.
    """
    return solve_run(load_files(instance, model, report, overrides), options, write_model,
                     report, game, on_coalition, extras)


def solve_run(run: Run, options: SolverOptions | None = None, write_model: Path | None = None,
              report=None, game: GameOptions | None = None, on_coalition=None,
              extras: Extras | None = None, on_saa=None) -> Run:
    """Build, solve and collect a loaded run (see solve_files). A stop request (remech.solve
    .STOP) during an extra step drops that step's section (``run.dropped_step``)."""
    run = build(run, report)
    opts = options or SolverOptions()
    run.result = _timed(run.timings_s, "hand-off + solve", solve, run.model, opts,
                        write_model, report=report)
    if run.result.status == "infeasible":  # name the conflict in the user's words
        run.result.conflict = explain(run.result.conflict_items, run.data) or \
            integer_conflict(run.data)
    run.mechanism = _timed(run.timings_s, "collect results", collect, run.model, run.data,
                           run.instance, run.design, run.result, report=report)
    if run.design.sharing_rule == "core" and run.result.has_solution:
        if run.result.status == STATUS_INTERRUPTED:
            run.mechanism.burden_sharing["note"] = (
                "solve interrupted: the core split was not computed; contributions are the "
                "MIP's, free within the budget caps")
        else:
            _timed(run.timings_s, "coalition costs + core split", apply_core_split, run,
                   game or GameOptions(), on_coalition, report=report)
    if extras is not None and run.result.has_solution:
        run.dropped_step = _extras(run, opts, extras, on_saa)
    run.mechanism.timings_s = {k: round(v, 4) for k, v in run.timings_s.items()}
    return run


def solve_decomposed(run: Run, dopts, options: SolverOptions | None = None,
                     report=None, log: Path | None = None) -> Run:
    """Solve a loaded run by decomposition (remech.decompose, ``dopts`` a DecomposeOptions):
    mpi-sppy finds a first stage and an outer bound; that first stage is fixed and the
    extensive form evaluated (the mechanism, its cost the inner bound). The status is
    "optimal" only if the certified gap is within ``options.mip_gap``. ``log`` receives
    mpi-sppy's output."""
    import shutil
    import tempfile

    from remech import decompose

    opts = options or SolverOptions()
    decompose.check_decomposable(run.data)
    decompose.check_options(dopts, len(run.data.scenarios))
    workdir = Path(tempfile.mkdtemp(prefix="remech-decompose-"))
    try:
        found = _timed(run.timings_s, f"decomposition ({dopts.method}, {dopts.ranks} ranks)",
                       decompose.launch, run.data, dopts, workdir, report=report)
        if log is not None:
            shutil.copyfile(workdir / "decompose.log", log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    run.model, run.result = _timed(run.timings_s, "evaluate first stage", _best_candidate,
                                   run.data, found["candidates"], opts, report=report)
    section = _certify(run.result, found, dopts, opts, run.data)
    run.mechanism = _timed(run.timings_s, "collect results", collect, run.model, run.data,
                           run.instance, run.design, run.result, report=report)
    run.mechanism.decomposition = section
    run.mechanism.timings_s = {k: round(v, 4) for k, v in run.timings_s.items()}
    return run


def _best_candidate(data: ModelData, candidates: list[list[float]], opts: SolverOptions):
    """Evaluate each distinct first stage mpi-sppy returned (the spoke's best xhat, the
    L-shaped hub's last root solution) on the extensive form; keep the cheapest."""
    from remech import decompose
    from remech.evaluate import evaluate

    if not candidates:
        raise RuntimeError("mpi-sppy returned no first stage (no spoke found a feasible one)")
    stages = []
    for xhat in candidates:
        fs = decompose.first_stage_from_xhat(data, xhat)
        if fs.to_json() not in [s.to_json() for s in stages]:
            stages.append(fs)
    best = None
    for fs in stages:
        m, res = evaluate(data, fs, opts)
        if best is None or (res.has_solution and (not best[1].has_solution or
                                                  res.objective_musd < best[1].objective_musd)):
            best = (m, res)
    return best


def _certify(res: SolveResult, found: dict, dopts, opts: SolverOptions,
             data: ModelData) -> dict:
    """The decomposition section, and the result's status, bound and gap set from the
    certified gap (the evaluated cost against mpi-sppy's outer bound)."""
    from remech.decompose import bundles, certified, relaxed_rows

    groups = bundles(len(data.scenarios), dopts.bundle_size)

    inner = res.objective_musd if res.has_solution else None
    outer = found["outer_bound_musd"]
    gap = certified(inner, outer)
    evaluated = res.status
    if res.has_solution:
        proved = gap is not None and gap <= opts.mip_gap and evaluated == "optimal"
        res.status = "optimal" if proved else "time_limit" if found["timed_out"] else \
            "iteration_limit" if found["iterations"] >= dopts.max_iterations else \
            "converged_with_gap"
        res.dual_bound_musd, res.mip_gap = outer, gap
    return {"method": dopts.method, "ranks": dopts.ranks, "outer_bound_musd": outer,
            "inner_bound_musd": inner, "gap": gap, "iterations": found["iterations"],
            "seconds": round(found["seconds"], 3),
            "bundles": len(groups), "bundle_size": int(max(len(b) for b in groups)),
            "target_gap": opts.mip_gap, "relaxed_in_bundles": relaxed_rows(data),
            "spoke_inner_bound_musd": found["inner_bound_musd"],
            "evaluation_status": evaluated}


def _extras(run: Run, options: SolverOptions, extras: Extras, on_saa) -> str | None:
    """VSS, the foresight gap and SAA bounds, in that order, each skipped once a stop is
    requested; returns the step a stop request interrupted (its section is dropped)."""
    from remech.evaluate import cost, foresight_gap, vss
    from remech.solving import STOP

    opts = SolverOptions(time_limit_s=options.time_limit_s, mip_gap=options.mip_gap,
                         threads=options.threads, seed=options.seed)
    rp = cost(run.model, run.result)
    steps = []
    if extras.vss:
        steps.append(("vss", lambda: vss(run.instance, run.design, run.data, rp, opts)))
    if extras.foresight:
        steps.append(("foresight_gap", lambda: foresight_gap(run.instance, run.design, rp,
                                                             opts)))
    if extras.saa is not None:
        steps.append(("saa", lambda: _saa(run, opts, extras, on_saa)))
    last = None
    for name, step in steps:
        if STOP.is_set():
            break
        last = name
        section = _timed(run.timings_s, name, step)
        setattr(run.mechanism, "foresight" if name == "foresight_gap" else name, section)
    if not STOP.is_set() or last is None:
        return None
    setattr(run.mechanism, "foresight" if last == "foresight_gap" else last, None)
    return last


def _saa(run: Run, opts: SolverOptions, extras: Extras, on_saa) -> dict:
    from remech.saa import saa
    from remech.simulating import default_sampler

    sampler = extras.saa_sampler or default_sampler(run.instance)
    return saa(run.instance, run.design, run.mechanism.to_json(), *extras.saa,
               sampler=sampler, seed=extras.saa_seed, options=opts, jobs=extras.jobs,
               on_done=on_saa)


def model_counts(model) -> dict[str, int]:
    """Variables, binaries and constraints of a built model (as Pyomo counts them)."""
    variables = list(model.component_data_objects(pyo.Var, active=True))
    return {"variables": len(variables),
            "binaries": sum(1 for v in variables if v.is_binary()),
            "constraints": sum(1 for _ in model.component_data_objects(pyo.Constraint,
                                                                        active=True))}


def what_if(folder: str | Path, overrides, instance: str | Path | None = None,
            options: SolverOptions | None = None) -> tuple[Mechanism, list[str]]:
    """``remech report OUTDIR --set ...``: the solve of the result folder ``folder`` again,
    on its recorded instance (or ``instance``, if it moved) and design, with the overrides it
    was solved with plus ``overrides`` (these win). The --vss and --foresight-gap sections
    are recomputed if the folder had them. Returns the mechanism and notes on what is not
    carried over (SAA, decomposition). Only a solve result can be re-solved."""
    from remech.overrides import as_dict, as_overrides
    from remech.reporting import load_result

    res = load_result(Path(folder), instance)
    if res.kind != "solve":
        raise InputError(f"{folder}: a remech {res.kind} result; --set re-solves a remech "
                         f"solve result only; run remech {res.kind} again with --set")
    doc = res.doc
    inst_path = Path(instance) if instance is not None else Path(
        (doc.get("instance") or {}).get("path") or "")
    design_path = (doc.get("design") or {}).get("path")
    if not design_path or not Path(design_path).is_file():
        raise InputError(f"{folder}/mechanism.json 'design.path': design file "
                         f"{design_path or '(none)'} not found; solve again with remech solve "
                         "--set ... -o NEWDIR")
    if not inst_path.is_dir():
        raise InputError(f"{folder}/mechanism.json 'instance.path': instance folder "
                         f"{inst_path} not found; give it with --instance FOLDER")
    recorded = {**((doc.get("design") or {}).get("overrides") or {}),
                **((doc.get("instance") or {}).get("overrides") or {})}
    merged = {**recorded, **as_dict(as_overrides(overrides))}
    solver = doc.get("solver") or {}
    opts = options or SolverOptions(
        time_limit_s=float(solver.get("time_limit_s", 600.0)),
        mip_gap=float(solver.get("mip_rel_gap", 1e-4)), threads=int(solver.get("threads", 0)),
        seed=int(solver.get("random_seed", 0)))
    extras = Extras(vss="vss" in doc, foresight="foresight" in doc)
    notes = [f"{folder} had a {what} section, which the re-solve does not recompute"
             for what in ("saa", "decomposition") if doc.get(what)]
    run = solve_files(inst_path, design_path, opts, extras=extras
                      if extras.vss or extras.foresight else None, overrides=merged)
    return run.mechanism, notes
