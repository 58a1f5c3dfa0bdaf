"""Decomposition: the same two-stage model solved by mpi-sppy over MPI, with a certified gap.

One formulation, two ways to solve it. ``remech solve --decompose`` prepares the data once on
the whole scenario set (support options, bankability, the projects built outside, burden-
sharing shares: never recomputed per scenario), cuts the scenarios into bundles and gives
mpi-sppy one *bundle model* per bundle: ``build_model`` on the bundle's slice of the data
(``remech.model.data.restrict_scenarios``), the same instrument modules as the extensive
form, with ``first_stage_vars`` declared non-anticipative (``attach_root_node``).

Objective of a bundle b (probability P_b = sum of its scenarios' probabilities):

    first-stage cost(x) + tie-break(x) + sum_{s in b} (p_s / P_b) second-stage cost_s(x, y_s)

so that sum_b P_b objective_b is the extensive form's objective. A second-stage cost term on
a first-stage variable (top-ups, producers' surplus: coefficients that differ by scenario, on
``support``) is put on a second-stage copy of that variable (``nonant_copy[k] = x_k``):
mpi-sppy's L-shaped root takes the first-stage objective coefficients from one scenario, so
they must be the same in every bundle.

The outlay the allies split, ``outlay_musd``, is a bundle's own expected outlay in a bundle
model; the contributions (``contribution_musd[a] = share_a x outlay``) are left free of caps, so
they constrain nothing there, and are computed on the whole scenario set when the mechanism
is evaluated (below). Designs that couple scenarios in a row are refused: CVaR (lambda > 0),
an expected-shortfall target, finite budget caps, the burden-sharing rule 'core' (every
coalition's extensive form) and the scenario-tree stockpile policy.

Methods (hub and spokes of ``mpisppy.spin_the_wheel.WheelSpinner``):

- ``lshaped``: L-shaped hub (outer bound: the root problem with the bundles' cuts; the
  bundles' second stage is *relaxed to an LP* for the cuts, since L-shaped needs an LP
  recourse: the stockpile rule's draw and surplus binaries are second-stage integers, so the
  outer bound is that of the relaxed recourse and the gap keeps their integrality gap) and an
  xhat-L-shaped spoke that evaluates each root solution exactly (MIP bundles, first stage
  fixed: the inner bound). 1 rank: the hub alone, in-process.
- ``ph``: progressive hedging hub with the proximal term linearised (HiGHS has no MIQP), a
  Lagrangian spoke (outer bound) and an xhat-shuffle spoke (inner bound); 3 ranks or a
  multiple. With 2 ranks the Lagrangian spoke is left out and the outer bound is PH's trivial
  bound (the bundles solved alone).

After mpi-sppy stops, the best first stage is fixed and the extensive form is evaluated
(``remech.evaluate.evaluate``): that is the mechanism written, its cost is the inner bound,
and mechanism.json has the same schema as an extensive-form solve plus ``decomposition``.

Run as ``mpiexec -n N python -m remech.decompose DATA.pkl OPTIONS.json RESULT.json``
(``remech solve --decompose`` does it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyomo.environ as pyo

from remech.errors import InputError
from remech.model import build_model
from remech.model.data import ModelData, restrict_scenarios
from remech.model.first_stage import FirstStage, first_stage_vars
from remech.model.ledger import CATEGORIES, aggregate, linear, view_weights

METHODS = ("ph", "lshaped")
#: the Pyomo solver interface mpi-sppy drives (pyomo.contrib.solver's HiGHS)
SOLVER = "highs"


@dataclass
class DecomposeOptions:
    method: str = "lshaped"
    ranks: int = 1
    #: scenarios per bundle (one mpi-sppy subproblem); 0: about sqrt(scenarios)
    bundle_size: int = 0
    time_limit_s: float = 600.0
    rel_gap: float = 1e-3
    max_iterations: int = 200
    #: relative MIP gap of each bundle solve
    sub_mip_gap: float = 1e-5
    threads: int = 1


def check_decomposable(data: ModelData) -> None:
    """Refuse a design whose objective or rows couple scenarios in a way a bundle cannot
    relax (one line, what to do)."""
    reasons = []
    if data.cvar_weight > 0:
        reasons.append("[risk] cvar_weight > 0 (CVaR couples the scenarios in the objective; "
                       "set it to 0 or solve the extensive form)")
    if data.sharing_rule == "core":
        reasons.append("[burden_sharing] rule 'core' (it solves every coalition's extensive "
                       "form)")
    if data.stock_policy == "tree":
        reasons.append("[stockpile] policy 'tree' (non-anticipativity across scenarios)")
    if reasons:
        raise InputError("--decompose: the design cannot be decomposed by scenario: "
                         + "; ".join(reasons))


def relaxed_rows(data: ModelData) -> list[str]:
    """The rows on expectations over all scenarios that the bundle models leave out (a
    relaxation: the outer bound stays valid; the evaluation of the first stage found keeps
    them, so a mechanism that breaks one is reported infeasible, never written as feasible)."""
    out = []
    if np.any(np.isfinite(data.budget_cap_musd)):
        out.append("budget caps on the expected outlay")
    if np.any(~np.isnan(data.max_expected_shortfall_share)):
        out.append("max_expected_shortfall_share")
    return out


def _relax(m: pyo.ConcreteModel) -> None:
    """Leave out the rows of relaxed_rows in a bundle model."""
    for v in m.contribution_musd.values():
        v.setub(None)
    if hasattr(m, "c_security"):
        m.c_security.deactivate()


def check_options(opts: DecomposeOptions, n_scenarios: int | None = None) -> None:
    """One-line errors for options that cannot run (bundle size: once the scenarios are
    known), and for a missing install."""
    import importlib.util

    missing = [m for m in ("mpisppy", "mpi4py", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"--decompose needs {', '.join(missing)}: pip install "
                         "'remech[decompose]'")
    if opts.method not in METHODS:
        raise InputError(f"--decompose {opts.method}: unknown method; use one of "
                         + ", ".join(METHODS))
    if opts.ranks < 1:
        raise InputError(f"--ranks {opts.ranks}: must be at least 1")
    if opts.method == "ph" and opts.ranks % 3 and opts.ranks % 2:
        raise InputError(f"--decompose ph --ranks {opts.ranks}: PH runs a hub and spokes on "
                         "2 ranks (hub, xhat) or a multiple of 3 (hub, Lagrangian, xhat)")
    if opts.method == "lshaped" and opts.ranks > 1 and opts.ranks % 2:
        raise InputError(f"--decompose lshaped --ranks {opts.ranks}: use 1 rank or an even "
                         "number (an L-shaped hub and an xhat spoke on as many ranks each)")
    if n_scenarios is not None and not 0 <= opts.bundle_size <= n_scenarios:
        raise InputError(f"--bundle-size {opts.bundle_size}: must be between 1 and the "
                         f"number of scenarios ({n_scenarios}), or 0 for automatic")


def bundles(n_scenarios: int, size: int) -> list[np.ndarray]:
    """Consecutive bundles of ``size`` scenarios (the last ones one smaller if it does not
    divide); ``size`` 0: about sqrt(n_scenarios)."""
    size = size or max(1, round(math.sqrt(n_scenarios)))
    count = math.ceil(n_scenarios / size)
    return [np.asarray(b, dtype=int) for b in np.array_split(np.arange(n_scenarios), count)]


def bundle_names(n_bundles: int) -> list[str]:
    return [f"bundle{i}" for i in range(n_bundles)]


def nonants(m: pyo.ConcreteModel) -> list:
    """The first-stage variables' data objects, in a fixed order."""
    return [v for var in first_stage_vars(m) for v in var.values()]


def bundle_model(name: str, data: ModelData, groups: list[np.ndarray]) -> pyo.ConcreteModel:
    """mpi-sppy's scenario creator: the model of bundle ``name`` (see the module docstring)."""
    from mpisppy.utils import sputils

    idx = groups[int(name.removeprefix("bundle"))]
    part = restrict_scenarios(data, idx)
    m = build_model(part)
    _relax(m)
    first = _split_objective(m, part.probability)
    sputils.attach_root_node(m, first, nonants(m))
    m._mpisppy_probability = float(data.probability[idx].sum())
    return m


def _split_objective(m: pyo.ConcreteModel, prob: np.ndarray):
    """Replace the objective by first stage + second stage with every first-stage variable
    in a second-stage term on a copy (module docstring); return the first-stage part."""
    book, weights = m.cost_ledger, view_weights(m.cost_view, m.cost_mcpf)
    first_ids = {id(v) for v in nonants(m)}
    first_terms = [(weights[c] * k, v) for c in CATEGORIES if weights[c]
                   for k, v in book.first[c]]
    second = [(weights[c] * float(prob[s]) * k, v) for c in CATEGORIES if weights[c]
              for s, terms in book.second[c].items() for k, v in terms]
    shared = list({id(v): v for _, v in second if id(v) in first_ids}.values())
    m.NC = pyo.RangeSet(0, len(shared) - 1)
    m.nonant_copy = pyo.Var(m.NC, domain=pyo.Reals)
    m.c_nonant_copy = pyo.Constraint(m.NC, rule=lambda m, k: m.nonant_copy[k] == shared[k])
    copy_of = {id(v): m.nonant_copy[k] for k, v in enumerate(shared)}
    second = aggregate([[(k, copy_of.get(id(v), v)) for k, v in second]])
    first_expr = linear(first_terms) + m.floor_tie_break_musd
    m.objective.deactivate()
    m.bundle_objective = pyo.Objective(expr=first_expr + linear(second), sense=pyo.minimize)
    return first_expr



#: HiGHS for the L-shaped hub: its models' variables never change after the hand-off (the
#: hub only adds and removes cut and fixing rows), so Pyomo's checks of every variable
#: before each solve are switched off (measured: they cost more than HiGHS itself)
FAST_SOLVER = "remech_highs_lshaped"


def register_solvers() -> None:
    """Register FAST_SOLVER with Pyomo and HiGHS's dual sign for the Benders cuts."""
    import pyomo.contrib.benders.benders_cuts as benders

    # HiGHS through pyomo.contrib.solver reports duals with Pyomo's sign (as Gurobi does)
    benders.solver_dual_sign_convention[SOLVER] = -1
    if FAST_SOLVER in pyo.SolverFactory:
        return
    base = type(pyo.SolverFactory(SOLVER))

    class _StaticHighs(base):
        def __init__(self, **kwds):
            super().__init__(**kwds)
            updates = self.config.auto_updates
            for key in ("check_for_new_or_removed_vars", "update_vars",
                        "check_for_new_or_removed_params", "update_parameters",
                        "update_named_expressions"):
                setattr(updates, key, False)

    pyo.SolverFactory.register(FAST_SOLVER, doc="HiGHS, static variables")(_StaticHighs)


def _config(opts: DecomposeOptions):
    """mpi-sppy's Config with the options of the hub and spokes (cfg_vanilla reads it)."""
    from mpisppy.utils import config

    cfg = config.Config()
    for args in (cfg.popular_args, cfg.two_sided_args, cfg.ph_args, cfg.lagrangian_args,
                 cfg.xhatshuffle_args, cfg.xhatlshaped_args, cfg.lshaped_args):
        args()
    cfg.solver_name = SOLVER
    cfg.max_iterations = opts.max_iterations
    cfg.time_limit = opts.time_limit_s
    cfg.rel_gap, cfg.abs_gap = opts.rel_gap, 0.0
    cfg.default_rho = 1.0
    cfg.linearize_proximal_terms = True  # HiGHS has no MIQP
    cfg.linearize_binary_proximal_terms = True
    cfg.solver_options = f"mip_rel_gap={opts.sub_mip_gap}" + _threads(opts, " threads={}")
    cfg.display_progress = False
    return cfg


def _hub_and_spokes(opts: DecomposeOptions, kwargs: dict, names: list[str]):
    """The hub dict and spoke dicts of ``opts.method`` for ``opts.ranks`` ranks."""
    from mpisppy.utils import cfg_vanilla as vanilla

    cfg = _config(opts)
    common = (cfg, bundle_model, None, names)
    if opts.method == "lshaped":
        hub = vanilla.lshaped_hub(*common, scenario_creator_kwargs=kwargs)
        hub["hub_class"] = _timed_hub(hub["hub_class"], opts.time_limit_s)
        threads = {"threads": opts.threads} if _threads(opts, "x") else {}
        hub["opt_kwargs"]["options"].update(
            root_solver=FAST_SOLVER, sp_solver=FAST_SOLVER, verbose=True,  # to the log
            root_solver_options={"mip_rel_gap": opts.sub_mip_gap, **threads},
            sp_solver_options=threads)
        spokes = [vanilla.xhatlshaped_spoke(*common, scenario_creator_kwargs=kwargs)]
        return hub, spokes if opts.ranks > 1 else []
    hub = vanilla.ph_hub(*common, scenario_creator_kwargs=kwargs)
    hub["hub_class"] = _timed_hub(hub["hub_class"], opts.time_limit_s)
    spokes = [vanilla.xhatshuffle_spoke(*common, scenario_creator_kwargs=kwargs)]
    if opts.ranks % 3 == 0:
        spokes.insert(0, vanilla.lagrangian_spoke(*common, scenario_creator_kwargs=kwargs))
    return hub, spokes


def _threads(opts: DecomposeOptions, text: str) -> str:
    """``text`` with the thread count, on MPI ranks only: in this process HiGHS keeps the
    thread count its global scheduler started with (remech.solving), and refuses another."""
    return text.format(opts.threads) if opts.ranks > 1 else ""


def _timed_hub(cls, limit_s: float):
    """The hub class with a wall-clock limit: converged once ``limit_s`` has passed."""
    start = time.perf_counter()

    class Timed(cls):
        def is_converged(self, *args, **kwargs):
            done = super().is_converged(*args, **kwargs)
            self.remech_timed_out = time.perf_counter() - start > limit_s
            return done or self.remech_timed_out

    Timed.__name__ = cls.__name__
    return Timed


def _xhat_writer(file_name: str, scenario, bundling) -> None:
    """mpi-sppy first-stage writer: the nonants' values, in order, as JSON."""
    values = [pyo.value(v) for v in scenario._mpisppy_node_list[0].nonant_vardata_list]
    Path(file_name).write_text(json.dumps(values))


class _Limits:
    """An L-shaped converger for a hub without spokes: stop at the time limit."""

    def __init__(self, limit_s: float):
        self.start, self.limit_s, self.timed_out = time.perf_counter(), limit_s, False

    def __call__(self, *args):
        return self

    def convergence_value(self) -> float:
        self.timed_out = time.perf_counter() - self.start > self.limit_s
        return 0.0

    def is_converged(self) -> bool:
        return self.timed_out


def _alone(opts: DecomposeOptions, hub: dict) -> dict:
    """1 rank: the L-shaped method alone, in this process (no spokes: the inner bound is
    the evaluation of its last root solution, made by the caller)."""
    method = hub["opt_class"](**hub["opt_kwargs"])
    limits = _Limits(opts.time_limit_s)
    method.lshaped_algorithm(converger=limits)
    return {"outer_bound_musd": float(method._LShaped_bound), "inner_bound_musd": None,
            "iterations": method.iter + 1, "timed_out": limits.timed_out,
            "candidates": [[pyo.value(v) for v in method.root_vars]]}


def run_wheel(data: ModelData, opts: DecomposeOptions, workdir: Path) -> dict | None:
    """Run mpi-sppy on this MPI world; on global rank 0 return the bounds, the iteration
    count and the best first stage (nonant values in ``nonants`` order), else None."""
    from mpisppy import MPI
    from mpisppy.spin_the_wheel import WheelSpinner

    register_solvers()
    # mpi-sppy's L-shaped replaces model components by assignment (a Pyomo warning each)
    logging.getLogger("pyomo.core").setLevel(logging.ERROR)
    groups = bundles(len(data.scenarios), opts.bundle_size)
    names = bundle_names(len(groups))
    hub, spokes = _hub_and_spokes(opts, {"data": data, "groups": groups}, names)
    if MPI.COMM_WORLD.size == 1:
        if opts.method != "lshaped":
            raise InputError("--decompose ph needs at least 2 ranks (a hub and an xhat spoke)")
        return _alone(opts, hub)
    wheel = WheelSpinner(hub, spokes)
    wheel.spin()
    xhat_file = workdir / "xhat.json"
    wheel.write_first_stage_solution(str(xhat_file), first_stage_solution_writer=_xhat_writer)
    MPI.COMM_WORLD.Barrier()
    if MPI.COMM_WORLD.rank != 0:
        return None
    spcomm = wheel.spcomm
    root = getattr(spcomm.opt, "root_vars", None)  # L-shaped: the hub's last root solution
    candidates = [json.loads(xhat_file.read_text())] if xhat_file.exists() else []
    if root is not None:
        candidates.append([pyo.value(v) for v in root])
    return {"outer_bound_musd": _finite(wheel.BestOuterBound),
            "inner_bound_musd": _finite(wheel.BestInnerBound),
            "iterations": int(spcomm.current_iteration()) + (opts.method == "lshaped"),
            "timed_out": bool(getattr(spcomm, "remech_timed_out", False)),
            "candidates": candidates}


def mpiexec() -> str:
    """The MPI launcher: $REMECH_MPIEXEC (a cluster's own), else the mpiexec next to this
    Python (the mpich wheel's), else the first on PATH."""
    for candidate in (os.environ.get("REMECH_MPIEXEC"),
                      str(Path(sys.executable).parent / "mpiexec"), shutil.which("mpiexec")):
        if candidate and Path(candidate).exists():
            return candidate
    raise InputError("--ranks > 1 needs mpiexec: pip install 'remech[decompose]' (the mpich "
                     "wheel provides it), or set REMECH_MPIEXEC to your MPI's launcher")


def launch(data: ModelData, opts: DecomposeOptions, workdir: Path) -> dict:
    """Run the decomposition: in this process on 1 rank, else ``mpiexec -n ranks python -m
    remech.decompose``; mpi-sppy's output goes to workdir/decompose.log."""
    log = workdir / "decompose.log"
    if opts.ranks == 1:
        import contextlib

        # mpi-sppy's modules open their log files (hub.log ...) in the working directory
        with open(log, "w") as out, contextlib.redirect_stdout(out), \
                contextlib.chdir(workdir):
            t0 = time.perf_counter()
            result = run_wheel(data, opts, workdir)
        result["seconds"] = time.perf_counter() - t0
        return result
    with open(workdir / "data.pkl", "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    (workdir / "options.json").write_text(json.dumps(asdict(opts)))
    cmd = [mpiexec(), "-n", str(opts.ranks), sys.executable, "-m", "remech.decompose",
           str(workdir)]
    with open(log, "w") as out:
        try:  # the hub stops at the time limit; past twice that (+ set-up) something hangs
            code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False,
                                  cwd=workdir, timeout=2 * opts.time_limit_s + 600).returncode
        except subprocess.TimeoutExpired:
            code = "a timeout (2 x --time-limit + 600 s)"
    if code or not (workdir / "result.json").exists():
        tail = log.read_text().strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(cmd[:3])} ... ended with {code}: " + " | ".join(tail))
    return json.loads((workdir / "result.json").read_text())


def first_stage_from_xhat(data: ModelData, xhat: list[float]) -> FirstStage:
    """The FirstStage whose nonant values (in ``nonants`` order) are ``xhat``."""
    part = restrict_scenarios(data, [0])
    m = build_model(part)
    variables = nonants(m)
    if len(variables) != len(xhat):
        raise RuntimeError(f"mpi-sppy returned {len(xhat)} first-stage values for "
                           f"{len(variables)} variables")
    for v, x in zip(variables, xhat, strict=True):
        v.set_value(round(x) if v.is_integer() else max(x, 0.0) if v.lb == 0 else x,
                    skip_validation=True)
    from remech.model import first_stage

    return first_stage.read(m, part)


def certified(inner: float | None, outer: float | None) -> float | None:
    """The relative gap (inner - outer) / |inner|, 0 where the bounds cross within
    rounding; None without both bounds."""
    if inner is None or outer is None:
        return None
    return max(0.0, (inner - outer) / max(abs(inner), 1e-9))


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def main(argv: list[str] | None = None) -> int:
    """``python -m remech.decompose WORKDIR``: WORKDIR holds data.pkl and options.json;
    rank 0 writes result.json there."""
    workdir = Path((argv or sys.argv[1:])[0])
    with open(workdir / "data.pkl", "rb") as f:
        data = pickle.load(f)
    opts = DecomposeOptions(**json.loads((workdir / "options.json").read_text()))
    t0 = time.perf_counter()
    try:
        result = run_wheel(data, opts, workdir)
    except BaseException:  # one rank failing would leave the others waiting forever
        import traceback

        from mpi4py import MPI

        traceback.print_exc()
        sys.stdout.flush()
        MPI.COMM_WORLD.Abort(1)
        raise
    if result is not None:
        result["seconds"] = time.perf_counter() - t0
        (workdir / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
