"""Out-of-sample simulation: run a solved mechanism on scenarios it was not solved on.

    from remech.simulating import simulate_files
    report, tables = simulate_files("out/mechanism.json", "instances/allied-ree-2026",
                                    n=1000, seed=1)
    report["cost"]["mean_musd"], tables["scenario_costs.csv"]

The mechanism's first stage (mechanism.json ``first_stage``: floor-menu entries, supported
projects, stockpile build and capacity, the stockpile rule's target level per year and the
reserve share) is fixed with ``remech.evaluate.evaluate`` in the model of the new scenarios
and the rest is solved. Under the default stockpile policy "rule" the rest only executes
the mechanism year by year with what is known that year, so each scenario's cost is what
the mechanism would really cost on that path. A "clairvoyant" stockpile sees each
scenario's future: it is a bound, not a policy, and is refused. "tree" needs a scenario
tree, which fresh generated paths lack: it is simulated on the instance's own scenarios
(or resampled ones) only.

Scenario sets (``ScenarioSample``): the instance's own scenarios with their probabilities;
``generate``: N fresh paths from remech's scenario generator (equally likely);
``resample``: N draws with replacement from the instance's own scenarios by their
probabilities (duplicates merged, weight = count / N).

Large sets are cut into batches of ``batch_size`` scenarios evaluated in parallel
processes (``remech.executor.map_tasks``); only batches whose evaluation HiGHS proved
optimal are counted. The mechanism's investment decisions are kept as solved
(``prepare(..., fixed=...)``): its supported projects with their grants, and the projects
built without support; none is re-tested on the new scenarios' futures, so a scenario's
cost does not depend on the batch it is evaluated in.

Statistics (``remech.stats.mean_ci``): mean with a two-sided 95 % Student-t interval.
For N i.i.d. draws (generate, resample) the t interval on N - 1 degrees of freedom; for
the instance's own scenarios the mean is the exact expectation under their probabilities
and the interval treats them as a sample of Kish's effective size 1 / sum p^2. CVaR95 is
the mean of the worst 5 % of the distribution. Each ally pays its share (from
mechanism.json) of the outlay: its mean and interval are the share times the outlay's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from remech.design import Design, load_design
from remech.errors import InputError
from remech.evaluate import (
    evaluate,
    scenario_costs,
    supported_projects,
    with_scenario_rows,
)
from remech.instance import Instance, load_instance
from remech.mechanism import REPORT_CVAR_ALPHA, cvar
from remech.model.first_stage import FirstStage
from remech.prepare import prepare
from remech.solving import SolverOptions
from remech.stats import mean_ci

BATCH_SIZE = 500
SAMPLERS = ("generate", "resample")


@dataclass
class ScenarioSample:
    """Scenarios to evaluate on, in the instance format.

    ``weights`` sum to 1; ``draws``: the number of i.i.d. draws the weights are the
    frequencies of (None: a given distribution, e.g. the instance's own)."""

    names: list[str]
    weights: np.ndarray
    prices: pd.DataFrame
    availability: pd.DataFrame
    source: str  # "instance" | "generate" | "resample"
    draws: int | None = None
    seed: int | None = None
    stress: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        if self.source == "instance":
            return f"the instance's own {len(self.names):,} scenarios"
        if self.source == "instance-flooded":
            return (f"the instance's own {len(self.names):,} scenarios with China's flooding "
                    "response")
        what = ("generated scenarios" if self.source == "generate"
                else "scenarios resampled from the instance")
        extra = f" + {', '.join(self.stress)}" if self.stress else ""
        return f"{self.draws:,} {what} (seed {self.seed}{extra})"


def own_scenarios(inst: Instance) -> ScenarioSample:
    prob = inst.scenarios["probability"].to_numpy(float)
    return ScenarioSample(inst.scenarios["scenario"].tolist(), prob / prob.sum(),
                          inst.prices, inst.availability, "instance")


def generated_scenarios(inst: Instance, n: int, seed: int,
                        stress: tuple[str, ...] = ()) -> ScenarioSample:
    """N fresh paths of remech's scenario generator (default settings) on the instance's
    world, plus the named stress tests if asked."""
    from remech.scenarios import (
        GeneratorSettings,
        china_multiple,
        first_new_capacity,
        generate,
        to_tables,
    )

    products = inst.products["product"].tolist()
    sset = generate(products, inst.years, GeneratorSettings(n=n, seed=seed, stress=stress),
                    first_new_capacity(inst))
    tables = to_tables(sset, china_multiple(inst), f"derived: remech simulate (seed {seed})")
    return ScenarioSample(sset.names, np.asarray(sset.probability, float),
                          tables["prices.csv"], tables["availability.csv"], "generate",
                          draws=len(sset.names), seed=seed, stress=tuple(stress))


def resampled_scenarios(inst: Instance, n: int, seed: int) -> ScenarioSample:
    """N draws with replacement from the instance's scenarios by their probabilities;
    a scenario drawn k times gets weight k / N."""
    names = inst.scenarios["scenario"].to_numpy()
    prob = inst.scenarios["probability"].to_numpy(float)
    idx = np.random.default_rng(seed).choice(len(names), size=n, p=prob / prob.sum())
    counts = np.bincount(idx, minlength=len(names))
    kept = np.flatnonzero(counts)
    chosen = names[kept].tolist()
    return ScenarioSample(chosen, counts[kept] / n,
                          inst.prices[inst.prices["scenario"].isin(chosen)],
                          inst.availability[inst.availability["scenario"].isin(chosen)],
                          "resample", draws=n, seed=seed)


def default_sampler(inst: Instance) -> str:
    """'generate' if the generator knows the price history of every product, else
    'resample'."""
    from remech.scenarios import history_returns

    try:
        history_returns(inst.products["product"].tolist())
    except InputError:
        return "resample"
    return "generate"


def draw(inst: Instance, n: int, seed: int, sampler: str,
         stress: tuple[str, ...] = ()) -> ScenarioSample:
    if sampler == "generate":
        return generated_scenarios(inst, n, seed, stress)
    if sampler == "resample":
        return resampled_scenarios(inst, n, seed)
    raise InputError(f"sampler {sampler}: unknown; use one of {', '.join(SAMPLERS)}")


def sample_instance(inst: Instance, sample: ScenarioSample) -> Instance:
    """The instance on the sample's scenarios (probabilities = its weights)."""
    if sample.source == "instance":
        return inst
    return with_scenario_rows(inst, sample.names, list(sample.weights), sample.prices,
                              sample.availability)


def batches(sample: ScenarioSample, size: int) -> list[ScenarioSample]:
    """Cut a sample into parts of at most ``size`` scenarios (weights renormalised
    within a part for the model; the statistics use the sample's weights)."""
    if len(sample.names) <= size:
        return [sample]
    out = []
    for start in range(0, len(sample.names), size):
        names = sample.names[start:start + size]
        w = sample.weights[start:start + size]
        keep = set(names)
        out.append(replace(sample, names=names, weights=w / w.sum(),
                           prices=sample.prices[sample.prices["scenario"].isin(keep)],
                           availability=sample.availability[
                               sample.availability["scenario"].isin(keep)],
                           source="batch" if sample.source == "instance" else sample.source))
    return out


# -- reading a mechanism ---------------------------------------------------------------

def load_mechanism(path) -> tuple[Path, dict]:
    """Read mechanism.json (or the mechanism.json in a ``remech solve -o`` folder); a
    ``Mechanism`` (or its JSON as a mapping) is taken as it is, named ``(mechanism)``."""
    if isinstance(path, Mapping):
        mech = path.to_json() if hasattr(path, "to_json") else dict(path)
        return _checked(Path("(mechanism)"), mech)
    path = Path(path)
    if path.is_dir():
        path = path / "mechanism.json"
    if not path.is_file():
        raise InputError(f"{path}: mechanism file not found; give the mechanism.json written "
                         "by remech solve -o OUTDIR")
    try:
        mech = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{path}{where}: not valid JSON; give the mechanism.json written by "
                         "remech solve -o OUTDIR") from None
    if not isinstance(mech, dict):
        raise InputError(f"{path}: not a mechanism (a JSON object expected); give the "
                         "mechanism.json written by remech solve -o OUTDIR")
    return _checked(path, mech)


def _checked(path: Path, mech: dict) -> tuple[Path, dict]:
    if "first_stage" not in mech:
        if "status" in mech and "costs" not in mech:
            raise InputError(f"{path}: the solve found no mechanism (status "
                             f"'{mech['status']}'), nothing to simulate; solve until remech "
                             "solve writes one")
        raise InputError(f"{path}: no 'first_stage' block; write the mechanism with this "
                         "version of remech solve -o OUTDIR")
    try:
        FirstStage.from_json(mech["first_stage"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path} 'first_stage': malformed ({type(exc).__name__}: {exc}); "
                         "write it with remech solve -o OUTDIR") from None
    return path, mech


def mechanism_design(mech_path: Path, mech: dict, model: str | Path | None) -> Design:
    """The design to simulate with: ``model`` if given, else the mechanism's own."""
    if model is None:
        recorded = (mech.get("design") or {}).get("path")
        if not recorded:
            raise InputError(f"{mech_path} 'design.path': missing; pass --model DESIGN")
        if not Path(recorded).is_file():
            raise InputError(f"{mech_path} 'design.path': design file {recorded} not found; "
                             "pass --model DESIGN")
        model = recorded
    return load_design(model, (mech.get("design") or {}).get("overrides") or None)


def check_mechanism(mech_path: Path, mech: dict, inst: Instance, design: Design) -> None:
    """The mechanism fits the design it was solved with and the instance it is run on:
    same design file (SHA-256), a solve that found a mechanism, every product and project
    known, every first-stage value finite and in range, every floor on the design's menu."""
    def bad(where: str, problem: str, fix: str) -> InputError:
        return InputError(f"{mech_path} {where}: {problem}; {fix}")

    status = mech.get("status")
    if status not in ("optimal", "time_limit", "interrupted"):
        raise bad("'status'", f"'{status}' is not a solved mechanism",
                  "simulate a mechanism.json whose solve found one (optimal, time_limit or "
                  "interrupted)")
    recorded = (mech.get("design") or {}).get("sha256")
    if recorded and recorded != design.sha256:
        raise bad("'design.sha256'", f"the design {design.path} differs from the one the "
                  "mechanism was solved with", "simulate with that design file, or solve "
                  "again with this one")
    fs = FirstStage.from_json(mech["first_stage"])
    products = set(inst.products["product"])
    plants = set(inst.projects["plant"])
    solved_on = (mech.get("instance") or {}).get("name", "another instance")
    for where, names, known, what in (
            ("'first_stage.floor_level'", fs.floor_level, products, "product"),
            ("'first_stage.stock'", fs.stock, products, "product"),
            ("'first_stage.support'", fs.supported_plants, plants, "plant"),
            ("'first_stage.support' entries", {p for c in fs.support for p, _ in c.entries},
             products, "product"),
            ("'first_stage.built_outside'", fs.built_outside, plants, "plant")):
        for name in sorted(names):
            if name not in known:
                raise bad(where, f"{what} '{name}' is not in instance '{inst.name}' "
                          f"({inst.folder}); the mechanism was solved on '{solved_on}'",
                          "simulate it on an instance with the same products and plants")
    values = [("stock capacity_t", v[1], 0.0, None) for v in fs.stock.values()]
    values += [("stock_target_t", v, 0.0, None) for v in fs.stock_target.values()]
    values += [("reserve_share", v, 0.0, 1.0) for v in fs.reserve_share.values()]
    values += [("grant_musd", v, 0.0, None) for v in fs.support.values()]
    for e in list(fs.floor_level.values()) + [e for c in fs.support for _, e in c.entries]:
        values += [("level_usd_per_kg", e.level_usd_per_kg, 0.0, None),
                   ("upside_share", e.upside_share, 0.0, 1.0)]
    for name, v, low, high in values:
        if not np.isfinite(v) or v < low or (high is not None and v > high):
            raise bad(f"'first_stage' {name}", f"{v!r} is not a finite value in "
                      f"[{low:g}, {'inf' if high is None else f'{high:g}'}]",
                      "write the mechanism with remech solve -o OUTDIR")
    for p, (level, share, _cap, tariff) in ((p, e.key) for p, e in fs.floor_level.items()):
        menu = (design.tariff_reference_usd_per_kg if tariff
                else design.floor_levels_usd_per_kg).get(p, [])
        if level and (level not in menu or (not tariff and share not in design.upside_shares)):
            raise bad(f"'first_stage.floor_level.{p}'", f"{level:g} USD/kg (upside share "
                      f"{share:g}) is not on the design's menu for {p}",
                      "simulate with the design the mechanism was solved with")


def check_simulable(mech_path: Path, mech: dict, design: Design, sample_source: str,
                    tree_fix: str = "simulate on the instance's own scenarios (no -n)") -> None:
    """Refuse what cannot be simulated: a clairvoyant stockpile, a tree on fresh paths."""
    fix = 'solve with [stockpile] policy = "rule" and simulate that mechanism'
    if design.stockpile_policy == "clairvoyant":
        raise InputError(f"{design.path} [stockpile] policy: 'clairvoyant' sees each "
                         "scenario's whole future, so it is a bound and cannot be simulated; "
                         + fix)
    if (mech.get("stockpile_policy") or {}).get("policy") == "clairvoyant":
        raise InputError(f"{mech_path} 'stockpile_policy': solved with the clairvoyant "
                         "stockpile bound, which sees each scenario's whole future and "
                         "cannot be simulated; " + fix)
    if design.stockpile_policy == "tree" and sample_source == "generate":
        raise InputError(f"{design.path} [stockpile] policy: 'tree' needs a scenario tree and "
                         f"generated paths have none; {tree_fix} or use policy = \"rule\"")


# -- evaluation ------------------------------------------------------------------------

@dataclass
class _Batch:
    inst: Instance
    design: Design
    decisions: FirstStage
    sample: ScenarioSample
    options: SolverOptions
    index: int


def _evaluate_batch(task: _Batch) -> dict:
    """Fix the first stage on one batch of scenarios, solve, return per-scenario costs."""
    t0 = time.perf_counter()
    data = prepare(sample_instance(task.inst, task.sample), task.design, fixed=task.decisions)
    m, res = evaluate(data, task.decisions, task.options)
    out = {"batch": task.index, "scenarios": len(task.sample.names), "status": res.status,
           "highs_status": res.highs_status, "table": None, "supported": []}
    if res.has_solution:
        out["table"] = scenario_costs(m, data)
        out["supported"] = sorted(supported_projects(m, data))
    out["demand_t"] = dict(zip(data.products, data.demand_t.sum(0).tolist(), strict=True))
    out["seconds"] = time.perf_counter() - t0
    return out


def evaluate_sample(inst: Instance, design: Design, decisions: FirstStage,
                    sample: ScenarioSample,
                    options: SolverOptions | None = None, jobs: int | None = None,
                    batch_size: int = BATCH_SIZE, on_done=None) -> list[dict]:
    """Evaluate the first stage ``decisions`` on every batch of ``sample``: one record per
    batch (status, per-scenario cost table if solved, projects supported)."""
    from remech.executor import map_tasks

    parts = batches(sample, batch_size)
    opts = options or SolverOptions()
    if len(parts) > 1 and (jobs or 0) != 1:
        opts = replace(opts, threads=1, log_file=None, log_to_console=False)
    tasks = [_Batch(inst, design, decisions, part, opts, k) for k, part in enumerate(parts)]
    return map_tasks(_evaluate_batch, tasks, jobs=min(jobs or len(tasks), len(tasks)),
                     on_done=on_done)


def summarise(records: list[dict], sample: ScenarioSample, mech: dict,
              decisions: FirstStage) -> tuple[dict, pd.DataFrame]:
    """Distribution of the scenario cost over the batches HiGHS proved optimal."""
    weight = dict(zip(sample.names, sample.weights, strict=True))
    frames = []
    for r in records:
        if r["table"] is not None:
            t = r["table"].copy()
            t.insert(1, "batch", r["batch"])
            t.insert(2, "status", r["status"])
            t["probability"] = t["scenario"].map(weight)
            frames.append(t)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["scenario", "batch", "status", "probability", "total_cost_musd"])
    counted = table[table["status"] == "optimal"] if len(table) else table
    n_ok = sum(r["status"] == "optimal" for r in records)
    report: dict = {
        "evaluations": {"batches": len(records), "optimal": n_ok,
                        "scenarios": len(sample.names),
                        "scenarios_counted": int(len(counted)),
                        "by_batch": [{k: r[k] for k in ("batch", "scenarios", "status",
                                                        "highs_status", "seconds")}
                                     for r in records]},
    }
    report["projects"] = {
        "supported": sorted(decisions.supported_plants),
        "built_outside": sorted(decisions.built_outside),
        "meaning": "the mechanism's investment decisions as solved: supported plants (with "
                   "their terms, start years and grants) and plants built without support are "
                   "kept, not re-tested on these scenarios' futures"}
    if not len(counted):
        report["cost"] = None
        return report, table
    w = counted["probability"].to_numpy(float)
    draws = None
    if sample.draws:
        draws = int(round(sample.draws * w.sum()))
        report["evaluations"].update(draws=sample.draws, draws_counted=draws)
    w = w / w.sum()
    total = counted["total_cost_musd"].to_numpy(float)
    outlay = counted["outlay_musd"].to_numpy(float)
    cost = mean_ci(total, w, draws)
    worst = int(np.argmax(total))
    cost.update({"cvar_alpha": REPORT_CVAR_ALPHA,
                 "cvar_musd": cvar(total, w, REPORT_CVAR_ALPHA),
                 "worst_musd": float(total[worst]),
                 "worst_scenario": str(counted["scenario"].iloc[worst])})
    report["cost"] = cost
    report["outlay"] = mean_ci(outlay, w, draws)
    demand = next(r["demand_t"] for r in records)
    report["shortfall"] = {}
    for p, d in demand.items():
        exp = float(w @ counted[f"shortfall_{p}_t"].to_numpy(float))
        report["shortfall"][p] = {"expected_t": exp, "expected_share": exp / d if d else 0.0}
    lo, hi = report["outlay"]["ci95_musd"]
    report["contributions"] = {
        a: {"share": v["share"], "mean_musd": v["share"] * report["outlay"]["mean_musd"],
            "ci95_musd": [v["share"] * lo, v["share"] * hi]}
        for a, v in (mech.get("contributions") or {}).items()}
    return report, table


def simulate(mech: dict, inst: Instance, design: Design, sample: ScenarioSample,
             options: SolverOptions | None = None, jobs: int | None = None,
             batch_size: int = BATCH_SIZE, on_done=None,
             mech_path: Path | str = "mechanism.json", response=None
             ) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Run the mechanism ``mech`` (mechanism.json's content) on ``sample``; with
    ``response`` (remech.response.FloodingResponse), China answers the capacity it brings
    online by flooding (the stress test of remech.response).

    Returns the report (simulation.json's content) and {"scenario_costs.csv": table}."""
    mech_path = Path(mech_path)
    check_simulable(mech_path, mech, design, sample.source)
    decisions = FirstStage.from_json(mech["first_stage"])
    flooding = None
    if response is not None:
        from remech.response import apply_response

        sample, flooding = apply_response(sample, inst, decisions, response)
    t0 = time.perf_counter()
    records = evaluate_sample(inst, design, decisions, sample, options, jobs, batch_size,
                              on_done)
    report, table = summarise(records, sample, mech, decisions)
    costs = mech.get("costs") or {}
    head = {
        "mechanism": {"path": str(mech_path), "status": mech.get("status"),
                      "instance": (mech.get("instance") or {}).get("name"),
                      "in_sample_expected_cost_musd": costs.get("expected_cost_musd"),
                      "in_sample_scenarios": (mech.get("sizes") or {}).get("scenarios")},
        "instance": {"name": inst.name, "path": str(inst.folder), "sha256": inst.sha256,
                     "overrides": dict(inst.overrides or {})},
        "design": {"name": design.name, "path": str(design.path), "sha256": design.sha256,
                   "overrides": dict(design.overrides),
                   "stockpile_policy": design.stockpile_policy},
        "scenarios": {"source": sample.source, "n": len(sample.names), "draws": sample.draws,
                      "seed": sample.seed, "stress": list(sample.stress),
                      "description": sample.describe()},
        "confidence": 0.95,
    }
    if flooding is not None:
        head["china_response"] = flooding
    report = {**head, **report, "wall_seconds": time.perf_counter() - t0}
    return report, {"scenario_costs.csv": table}


def load_simulation(mechanism: str | Path, instance: str | Path,
                    model: str | Path | None = None, n: int | None = None, seed: int = 0,
                    sampler: str = "generate", stress: tuple[str, ...] = ()
                    ) -> tuple[Path, dict, Instance, Design, ScenarioSample]:
    """Read and check the mechanism, the instance and the design; draw the scenarios (the
    instance's own without ``n``). Everything a simulation needs, before any solve."""
    mech_path, mech = load_mechanism(mechanism)
    # a mechanism solved with overrides (remech solve --set) runs with the same ones
    inst = load_instance(instance, (mech.get("instance") or {}).get("overrides") or None)
    design = mechanism_design(mech_path, mech, model)
    check_mechanism(mech_path, mech, inst, design)
    if n is None:
        if stress:
            raise InputError("--stress: only with -n N (fresh scenarios); add -n or drop "
                             "--stress")
        check_simulable(mech_path, mech, design, "instance")
        return mech_path, mech, inst, design, own_scenarios(inst)
    check_simulable(mech_path, mech, design, sampler)
    return mech_path, mech, inst, design, draw(inst, n, seed, sampler, stress)


@dataclass
class Simulation:
    """A simulated mechanism: ``report`` is simulation.json, ``tables`` its CSV files."""

    report: dict
    tables: dict[str, pd.DataFrame] = field(repr=False)

    @property
    def costs_by_scenario(self) -> pd.DataFrame:
        """scenario_costs.csv: each simulated scenario's cost by category (MUSD)."""
        return self.tables["scenario_costs.csv"]

    def to_json(self) -> dict:
        return self.report

    def summary(self) -> str:
        """What remech simulate prints."""
        return summary(self.report)

    def write(self, outdir: str | Path, force: bool = False, formats=()) -> None:
        """simulation.json and scenario_costs.csv, as ``remech simulate -o`` writes them
        (``formats``: also "xlsx", "parquet")."""
        from remech.results import write_results

        write_results(Path(outdir), self.report, self.tables, force,
                      json_name="simulation.json", kind="simulate", formats=formats)


def simulate_files(mechanism: str | Path, instance: str | Path,
                   model: str | Path | None = None, n: int | None = None, seed: int = 0,
                   sampler: str = "generate", stress: tuple[str, ...] = (),
                   options: SolverOptions | None = None, jobs: int | None = None,
                   batch_size: int = BATCH_SIZE, on_done=None, response=None
                   ) -> tuple[dict, dict[str, pd.DataFrame]]:
    """From files: ``load_simulation``, then ``simulate``."""
    mech_path, mech, inst, design, sample = load_simulation(mechanism, instance, model, n,
                                                            seed, sampler, stress)
    return simulate(mech, inst, design, sample, options, jobs, batch_size, on_done,
                    mech_path, response)


def _money(x: float) -> str:
    return f"{x:,.1f}"


def summary(report: dict) -> str:
    """The printed summary of a simulation."""
    lines = [f"remech simulate: {report['mechanism']['instance']} mechanism x "
             f"{report['design']['name']} on {report['scenarios']['description']}"]
    if "china_response" in report:
        plan = report["china_response"]["by_product"]
        lines.append("China answers " + ("; ".join(
            f"{p}: new capacity {v['new_capacity_share_of_demand'] * 100:.0f} % of demand "
            f"from {v['first_year']}, prices -{v['depth'] * 100:.0f} % for {v['years']} "
            f"year{'s' if v['years'] > 1 else ''}" for p, v in plan.items())
            or "nothing: the mechanism brings no new capacity online") + " (assumption)")
    ev = report["evaluations"]
    lines.append(f"evaluations   {ev['optimal']} of {ev['batches']} batch"
                 f"{'es' if ev['batches'] > 1 else ''} proved optimal by HiGHS "
                 f"({ev['scenarios_counted']:,} of {ev['scenarios']:,} scenarios counted)")
    c = report.get("cost")
    if c is None:
        lines.append("cost          none: no evaluation was proved optimal")
        return "\n".join(lines)
    lo, hi = c["ci95_musd"]
    lines.append(f"cost          mean {_money(c['mean_musd'])} MUSD (95 % CI {_money(lo)} to "
                 f"{_money(hi)}, {c['ci_method']}), std {_money(c['std_musd'])}, "
                 f"CVaR{int(c['cvar_alpha'] * 100)} {_money(c['cvar_musd'])}, worst "
                 f"{_money(c['worst_musd'])} ({c['worst_scenario']})")
    ins = report["mechanism"]["in_sample_expected_cost_musd"]
    if ins is not None:
        lines.append(f"in-sample     {_money(ins)} MUSD expected on the "
                     f"{report['mechanism']['in_sample_scenarios']} scenarios it was solved on")
    lines.append("shortfall     " + ", ".join(
        f"{p} {v['expected_t']:,.0f} t ({v['expected_share'] * 100:.2f} %)"
        for p, v in report["shortfall"].items()) + " expected over the horizon")
    o = report["outlay"]
    lines.append(f"outlay        mean {_money(o['mean_musd'])} MUSD (95 % CI "
                 f"{_money(o['ci95_musd'][0])} to {_money(o['ci95_musd'][1])})")
    if report["contributions"]:
        lines.append("contributions " + ", ".join(
            f"{a} {_money(v['mean_musd'])} ({_money(v['ci95_musd'][0])}-"
            f"{_money(v['ci95_musd'][1])})" for a, v in report["contributions"].items())
            + " MUSD (share x outlay, 95 % CI)")
    pj = report["projects"]
    lines.append(f"plants        {len(pj['supported'])} supported"
                 + (f" ({', '.join(pj['supported'])})" if pj["supported"] else "")
                 + f", {len(pj['built_outside'])} built without support; as decided, not "
                 "re-tested on these scenarios")
    return "\n".join(lines)
