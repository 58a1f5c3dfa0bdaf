"""One call from files to a solved mechanism, for Python and Jupyter users and the CLI.

    from remech.run import solve_files
    run = solve_files("instances/allied-ree-2026")
    run.mechanism["floors_usd_per_kg"], run.tables["projects.csv"]
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
from remech.model import build_model
from remech.prepare import ModelData, prepare
from remech.results import collect
from remech.solve import STATUS_INTERRUPTED, SolveResult, SolverOptions, solve
from remech.stability import GameOptions, apply_core_split


@dataclass
class Run:
    instance: Instance
    design: Design
    data: ModelData
    model: pyo.ConcreteModel | None = None
    result: SolveResult | None = None
    mechanism: dict = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


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
               report=None) -> Run:
    """Read and check the instance and design, and prepare the model data."""
    timings: dict[str, float] = {}
    inst = _timed(timings, "read instance", load_instance, instance, report=report)
    if model is None:
        if inst.default_model is None:
            raise InputError(f"{instance}/instance.toml: no default_model and no --model; "
                             "pass --model models/<design>.toml")
        model = inst.default_model
    design = _timed(timings, "read design", load_design, model, report=report)
    with _as_input_error(inst, design, "prepared"):
        data = _timed(timings, "prepare data", prepare, inst, design, report=report)
    return Run(instance=inst, design=design, data=data, timings_s=timings)


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


def solve_files(instance: str | Path, model: str | Path | None = None,
                options: SolverOptions | None = None, write_model: Path | None = None,
                report=None, game: GameOptions | None = None, on_coalition=None) -> Run:
    """Read, build, solve with HiGHS and collect the mechanism (nothing written).

    With burden-sharing rule 'core', also solves every coalition (``game`` says how) and
    replaces the contributions by the core-stable split.
    """
    return solve_run(load_files(instance, model, report), options, write_model, report, game,
                     on_coalition)


def solve_run(run: Run, options: SolverOptions | None = None, write_model: Path | None = None,
              report=None, game: GameOptions | None = None, on_coalition=None) -> Run:
    """Build, solve and collect a loaded run (see solve_files)."""
    run = build(run, report)
    run.result = _timed(run.timings_s, "hand-off + solve", solve, run.model,
                        options or SolverOptions(), write_model, report=report)
    if run.result.status == "infeasible":  # name the conflict in the user's words
        run.result.conflict = explain(run.result.conflict_items, run.data) or \
            integer_conflict(run.data)
    run.mechanism, run.tables = _timed(run.timings_s, "collect results", collect, run.model,
                                       run.data, run.instance, run.design, run.result,
                                       report=report)
    if run.design.sharing_rule == "core" and run.result.has_solution:
        if run.result.status == STATUS_INTERRUPTED:
            run.mechanism["burden_sharing"]["note"] = (
                "solve interrupted: the core split was not computed; contributions are the "
                "MIP's, free within the budget caps")
        else:
            _timed(run.timings_s, "coalition costs + core split", apply_core_split, run,
                   game or GameOptions(), on_coalition, report=report)
    return run
