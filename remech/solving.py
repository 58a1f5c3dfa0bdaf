"""Hand the Pyomo model to HiGHS and bring the solution back, reporting honestly.

Route (chosen by measurement, see benchmarks/README.md): Pyomo's LP writer writes the
model to a file, highspy reads it, HiGHS solves in-process, and column values are
mapped back to Pyomo variables through the writer's symbol map. The same file is what
``--write-model`` saves, so the model solved and the model exported are one and the same.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import highspy
import pyomo.environ as pyo

from remech.highs import _stdout_to_stderr, new_highs

#: statuses a user sees; only "optimal" means HiGHS proved optimality (within mip_gap)
STATUS_OPTIMAL = "optimal"
STATUS_INTERRUPTED = "interrupted"
#: seconds between two progress lines from the HiGHS callbacks (env REMECH_PROGRESS_SECONDS)
PROGRESS_EVERY_S = float(os.environ.get("REMECH_PROGRESS_SECONDS", "5"))

#: set by request_stop (a SIGINT/SIGTERM handler): HiGHS stops at its next callback
STOP = threading.Event()
_SOLVING = threading.Event()


def quiet_pyomo() -> None:
    """Silence Pyomo's loggers: an interrupted model construction is logged as an error
    (on stdout) by a child logger such as pyomo.core, which disabling "pyomo" alone does not
    stop; a level above CRITICAL on "pyomo" does, for every child left at NOTSET."""
    root = logging.getLogger("pyomo")
    root.disabled = True
    root.setLevel(logging.CRITICAL + 1)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("pyomo.") and isinstance(logger, logging.Logger):
            logger.disabled = True


def request_stop(signum=None, frame=None) -> None:
    """Signal handler: during a HiGHS solve, ask HiGHS to stop at its next callback (the
    incumbent is kept); at any other time, raise KeyboardInterrupt."""
    if not _SOLVING.is_set():
        STOP.set()
        quiet_pyomo()  # no error log of the interrupted build
        raise KeyboardInterrupt
    again = STOP.is_set()
    STOP.set()
    print("\n[remech] " + ("still " if again else "") + "stopping HiGHS at its next callback "
          "(in some phases HiGHS calls none for a while)", file=sys.stderr, flush=True)


@dataclass
class SolverOptions:
    time_limit_s: float = 600.0
    mip_gap: float = 1e-4
    threads: int = 0  # 0: HiGHS chooses
    seed: int = 0
    log_file: Path | None = None
    log_to_console: bool = False
    #: print best solution, bound and gap on stderr every PROGRESS_EVERY_S seconds
    progress: bool = False


@dataclass
class SolveResult:
    status: str  # optimal | time_limit | interrupted | infeasible | unbounded | no_solution
    #            | error
    highs_status: str
    has_solution: bool
    objective_musd: float | None
    dual_bound_musd: float | None
    mip_gap: float | None
    nodes: int
    simplex_iterations: int
    timings_s: dict[str, float] = field(default_factory=dict)
    model_size: dict[str, int] = field(default_factory=dict)
    conflict: list[str] = field(default_factory=list)
    #: the irreducible infeasible subset: (component name, index, "row" or "bound")
    conflict_items: list[tuple[str, tuple, str]] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    #: duals of target rows after fixing the integers: component -> [(index, dual)]
    target_duals: dict[str, list] = field(default_factory=dict)


def write_lp(model: pyo.ConcreteModel, path: Path, symbolic: bool = False):
    """Write the model as CPLEX LP; return the symbol map (LP name -> Pyomo object)."""
    _, smap_id = model.write(str(path), format="cpxlp",
                             io_options={"symbolic_solver_labels": symbolic})
    return model.solutions.symbol_map[smap_id]


#: HiGHS warns of "excessively small costs" below about 1e-4 and of large ones above about
#: 3e5 (measured on HiGHS 1.16); the objective is in MUSD, so probability-weighted costs per
#: tonne fall far below 1e-4 (5e-6 on the shipped instance, 9e-7 at 1,000 scenarios)
SMALL_COST, LARGE_COST = 1e-4, 2e5


def objective_scale(costs) -> int:
    """HiGHS's user_objective_scale: the power of 2 that lifts the smallest nonzero cost to
    SMALL_COST without lifting the largest past LARGE_COST (0 if none is needed or room is
    short). HiGHS solves the scaled model and reports everything unscaled: same optimum,
    solution and duals (checked on the shipped instance)."""
    import math

    import numpy as np

    c = np.abs(np.asarray(costs, dtype=float))
    c = c[c > 0]
    if not len(c):
        return 0
    need = math.ceil(math.log2(SMALL_COST / c.min())) if c.min() < SMALL_COST else 0
    room = math.floor(math.log2(LARGE_COST / c.max()))
    return max(0, min(need, room))


def solve(model: pyo.ConcreteModel, opts: SolverOptions,
          write_model: Path | None = None) -> SolveResult:
    """Solve ``model`` with HiGHS; load values into the Pyomo variables if a solution exists."""
    timings: dict[str, float] = {}
    workdir = Path(tempfile.mkdtemp(prefix="remech-"))
    try:
        t0 = time.perf_counter()
        lp_path = workdir / "model.lp"
        smap = write_lp(model, lp_path)
        timings["write_lp"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        h = new_highs()
        with _stdout_to_stderr():
            h.setOptionValue("output_flag", bool(opts.log_to_console or opts.log_file))
            h.setOptionValue("log_to_console", bool(opts.log_to_console))
            if opts.log_file:
                h.setOptionValue("log_file", str(opts.log_file))
            h.setOptionValue("time_limit", float(opts.time_limit_s))
            h.setOptionValue("mip_rel_gap", float(opts.mip_gap))
            h.setOptionValue("random_seed", int(opts.seed))
            if opts.threads:
                h.setOptionValue("threads", int(opts.threads))
            status = h.readModel(str(lp_path))
        if status == highspy.HighsStatus.kError:
            raise RuntimeError(f"HiGHS could not read the model written to {lp_path}")
        timings["read_lp"] = time.perf_counter() - t0
        if write_model is not None:
            _export_model(h, lp_path, write_model)

        lp = h.getLp()
        scale = objective_scale(lp.col_cost_)
        with _stdout_to_stderr():
            h.setOptionValue("user_objective_scale", scale)
        n_int = sum(1 for v in (lp.integrality_ or []) if v != highspy.HighsVarType.kContinuous)
        size = {"columns": lp.num_col_, "rows": lp.num_row_,
                "nonzeros": len(lp.a_matrix_.value_), "integer_columns": n_int}

        t0 = time.perf_counter()
        with _stdout_to_stderr():
            if opts.threads:
                # HiGHS refuses a thread count other than the one its global scheduler was
                # started with in this process (e.g. by an earlier solve): restart it
                highspy.Highs.resetGlobalScheduler(True)
            _run_interruptible(h, opts.progress, scale)
        timings["solve"] = time.perf_counter() - t0

        result = _result(h, n_int > 0)
        result.timings_s, result.model_size = timings, size
        result.options = {"time_limit_s": opts.time_limit_s, "mip_rel_gap": opts.mip_gap,
                          "threads": opts.threads, "random_seed": opts.seed,
                          "highs_version": h.version(), "handoff": "lp-file",
                          "user_objective_scale": scale}
        t0 = time.perf_counter()
        if result.has_solution:
            values = h.getSolution().col_value
            by_symbol = smap.bySymbol
            for name, value in zip(lp.col_names_, values, strict=True):
                var = by_symbol[name]
                if not var.fixed:
                    var.set_value(value, skip_validation=True)
            if n_int and not STOP.is_set():
                result.target_duals = _fixed_integer_duals(lp, values, smap)
        elif result.status == "infeasible":
            result.conflict_items = _infeasible_subset(h, lp, smap)
            result.conflict = conflict_names(result.conflict_items)
        timings["load_solution"] = time.perf_counter() - t0
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_interruptible(h: highspy.Highs, progress: bool, scale: int = 0) -> None:
    """h.run() in a worker thread, so that the main thread keeps handling signals; HiGHS's
    interrupt callbacks stop the solve once STOP is set (request_stop), and, with
    ``progress``, the MIP callback prints the best solution, bound and gap. HiGHS's
    callback reports the objective scaled by 2**scale (``user_objective_scale``): the
    printed figures are divided back to MUSD."""
    unscale = 2.0 ** -scale
    last = [time.monotonic(), "\n"]  # the first line ends the "hand-off + solve ..." line

    def interrupt(event) -> None:
        if STOP.is_set():
            event.interrupt()

    def report(event) -> None:
        interrupt(event)
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        out = event.data_out
        best = out.mip_primal_bound * unscale
        gap = out.mip_gap
        best_text = f"{best:,.1f} MUSD" if abs(best) < 1e30 else "none yet"
        gap_text = f"{gap * 100:.2f} %" if abs(best) < 1e30 and gap < 1e30 else "n/a"
        bound = out.mip_dual_bound * unscale
        print(f"{last[1]}[remech]   HiGHS {out.running_time:.0f} s: best {best_text}, bound "
              f"{bound:,.1f} MUSD, gap {gap_text}, {out.mip_node_count} nodes",
              file=sys.stderr, flush=True)
        last[1] = ""

    h.cbSimplexInterrupt += interrupt
    h.cbIpmInterrupt += interrupt
    h.cbMipInterrupt += report if progress else interrupt
    errors: list[BaseException] = []

    def target() -> None:
        try:
            h.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    worker = threading.Thread(target=target, name="highs", daemon=True)
    _SOLVING.set()
    try:
        if STOP.is_set():  # a signal arrived before the solve started
            raise KeyboardInterrupt
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    finally:
        _SOLVING.clear()
        if worker.is_alive():  # an exception in this thread: stop HiGHS, wait for it
            STOP.set()
            worker.join()
    if errors:
        raise errors[0]


def _export_model(h: highspy.Highs, lp_path: Path, target: Path) -> None:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    if target.suffix.lower() == ".lp":
        shutil.copyfile(lp_path, tmp)
    else:  # .mps: HiGHS writes the model it read, so it is the same model
        with _stdout_to_stderr():
            h.writeModel(str(tmp.with_suffix(".mps")))
        tmp.with_suffix(".mps").rename(tmp)
    tmp.replace(target)


def _result(h: highspy.Highs, is_mip: bool) -> SolveResult:
    ms = h.getModelStatus()
    info = h.getInfo()
    text = h.modelStatusToString(ms)
    feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
    MS = highspy.HighsModelStatus
    if ms == MS.kOptimal:
        status = STATUS_OPTIMAL
    elif ms == MS.kInfeasible:
        status = "infeasible"
    elif ms in (MS.kUnbounded, MS.kUnboundedOrInfeasible):
        status = "unbounded" if ms == MS.kUnbounded else "infeasible_or_unbounded"
    elif ms == MS.kInterrupt:
        status = STATUS_INTERRUPTED if feasible else "no_solution"
    elif ms in (MS.kTimeLimit, MS.kIterationLimit, MS.kSolutionLimit):
        status = "time_limit" if feasible else "no_solution"
    else:
        status = "error"
    has_solution = feasible and status in (STATUS_OPTIMAL, "time_limit", STATUS_INTERRUPTED)
    obj = info.objective_function_value if has_solution else None
    if is_mip:
        bound = info.mip_dual_bound
        gap = info.mip_gap if has_solution else None
        nodes = int(info.mip_node_count)
    else:
        bound = obj
        gap = 0.0 if status == STATUS_OPTIMAL else None
        nodes = 0
    return SolveResult(status=status, highs_status=text, has_solution=has_solution,
                       objective_musd=obj, dual_bound_musd=bound, mip_gap=gap, nodes=nodes,
                       simplex_iterations=int(info.simplex_iteration_count))


TARGET_ROWS = ("c_security", "c_target_", "c_stock_capacity")
#: rows whose duals (integers fixed) are reported: the targets, and the rows in which a
#: stockpile's max_capacity_t appears (its value, remech.model.stockpile.capacity_value)
DUAL_ROWS = TARGET_ROWS + ("c_rule_drawn", "c_rule_no_release", "c_reserve_release_floor")


def _fixed_integer_duals(lp, values, smap) -> dict[str, list]:
    """Duals of the security-target rows in the LP obtained by fixing every integer
    variable at its optimal value (as GenX does; conditional on that fix)."""
    rows = []
    for r, name in enumerate(lp.row_names_):
        obj = smap.bySymbol.get(name)
        if obj is not None and hasattr(obj, "parent_component") and \
                obj.parent_component().name.startswith(DUAL_ROWS):
            rows.append((r, obj))
    if not rows:
        return {}
    h = new_highs()
    with _stdout_to_stderr():
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        ints = [c for c, v in enumerate(lp.integrality_ or [])
                if v != highspy.HighsVarType.kContinuous]
        vals = [float(round(values[c])) for c in ints]
        h.changeColsBounds(len(ints), ints, vals, vals)
        h.changeColsIntegrality(len(ints), ints, [highspy.HighsVarType.kContinuous] * len(ints))
        h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return {}
    dual = h.getSolution().row_dual
    out: dict[str, list] = {}
    for r, obj in rows:
        out.setdefault(obj.parent_component().name, []).append((obj.index(), dual[r]))
    return out


def _infeasible_subset(h: highspy.Highs, lp, smap) -> list[tuple[str, tuple, str]]:
    """Constraints and bounds in an irreducible infeasible subset of the LP relaxation
    (integrality relaxed), as (component name, index, "row" | "bound"); empty if the
    relaxation is feasible. remech.diagnose puts them in the user's words."""
    try:
        relaxed = new_highs()
        with _stdout_to_stderr():
            relaxed.setOptionValue("output_flag", False)
            relaxed.passModel(lp)
            n = lp.num_col_
            relaxed.changeColsIntegrality(
                n, list(range(n)), [highspy.HighsVarType.kContinuous] * n)
            relaxed.setOptionValue("iis_strategy", 2)  # from the LP, irreducible
            relaxed.run()
            status, iis = relaxed.getIis()
    except Exception:  # noqa: BLE001 - the diagnosis is a courtesy, never a crash
        return []
    if status != highspy.HighsStatus.kOk or not hasattr(iis, "row_index_"):
        return []
    items = []
    for kind, indices, names in (("row", iis.row_index_, lp.row_names_),
                                 ("bound", iis.col_index_, lp.col_names_)):
        for i in indices:
            obj = smap.bySymbol.get(names[i])
            if obj is None:
                items.append((names[i], (), kind))
                continue
            index = obj.index()
            index = index if isinstance(index, tuple) else (() if index is None else (index,))
            items.append((obj.parent_component().name, index, kind))
    return items


def conflict_names(items: list[tuple[str, tuple, str]], limit: int = 8) -> list[str]:
    """Pyomo names of a conflict, targets and bounds first (they are the usual cause)."""
    def name(item):
        comp, index, kind = item
        text = comp + (f"[{','.join(str(i) for i in index)}]" if index else "")
        return f"bound of {text}" if kind == "bound" else text

    ranked = sorted(items, key=lambda it: (not it[0].startswith(TARGET_ROWS),
                                           it[2] != "bound"))
    return [name(it) for it in ranked[:limit]]
