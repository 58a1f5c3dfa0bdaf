"""A coalition game from files, as ``remech game`` and ``remech.game(...)`` run it: the
instance's design solved for the coalitions of allies (enumerated, or lazily through
``remech.oracle``/``remech.lazygame`` beyond ``lazygame.ENUMERATE``), or a cost game read
from a table or a formula, then analysed (Shapley value, nucleolus, least core, stability).

``run_game`` returns a ``GameResult``: game.json's content, the tables
(``allocations.csv``, ``coalition_costs.csv``) as DataFrames and the printed text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from remech.errors import InputError


@dataclass
class GameResult:
    """An analysed cost game: ``result`` is game.json, ``tables`` the CSV files by name."""

    result: dict
    tables: dict[str, pd.DataFrame] = field(repr=False)
    text: str = field(repr=False)

    @property
    def players(self) -> list[str]:
        return list(self.result["players"])

    @property
    def allocations(self) -> pd.DataFrame:
        """allocations.csv: per ally, the stand-alone cost and each split (MUSD)."""
        return self.tables["allocations.csv"]

    @property
    def coalition_costs(self) -> pd.DataFrame:
        """coalition_costs.csv: c(S) per coalition (lazy games: the coalitions solved)."""
        return self.tables.get("coalition_costs.csv",
                               pd.DataFrame({"coalition": [], "cost": []}))

    def allocation(self, name: str) -> dict[str, float] | None:
        """A split by name (``"shapley"``, ``"nucleolus"``, ``"least_core"``, ``"gdp"``, ...)
        as {ally: MUSD}; None where it does not exist (e.g. an empty imputation set)."""
        rules = self.result["rules"]
        if name not in rules:
            raise KeyError(f"no allocation {name!r}; the allocations are: {', '.join(rules)}")
        return rules[name].get("allocation")

    def to_json(self) -> dict:
        return self.result

    def write(self, outdir: str | Path, force: bool = False, formats=()) -> None:
        """game.json and the tables, as ``remech game -o`` writes them (``formats``: also
        "xlsx", "parquet")."""
        from remech.results import write_results

        write_results(Path(outdir), self.result, self.tables, force, json_name="game.json",
                      kind="game", formats=formats)


def run_game(instance: str | Path | None = None, design: str | Path | None = None, *,
             costs: str | Path | None = None, overrides: Mapping | None = None,
             jobs: int | None = None, scheduler: str | None = None,
             cache_dir: str | Path | None = None, no_cache: bool = False,
             time_limit_s: float = 300.0, mip_gap: float = 1e-4, samples: int = 0,
             seed: int = 0, lazy: bool = False, tolerance: float | None = None,
             max_samples: int | None = None, say: Callable[[str], None] | None = None,
             on_coalition: Callable[[int, int], None] | None = None,
             unions: tuple[str, ...] = (), owen_only: bool = False,
             loaded=None) -> GameResult:
    """The game of ``instance`` (its ``design``; coalition solves cached under
    ``cache_dir``) or of a cost table/formula ``costs``, analysed. ``on_coalition(done,
    total)`` follows the enumerated solves. ``unions`` (``--unions`` values) add the Owen
    value (``remech.owen``), alone with ``owen_only`` (an instance is then never
    enumerated). ``loaded``: the remech.run.Run of ``instance``, ``design`` and
    ``overrides`` if the caller has read it already (it is then not read again)."""
    from remech.lazygame import LazyOptions, analyse_any
    from remech.oracle import TableOracle, load_costs

    records, weights = None, {}
    if costs is not None:
        if instance is not None or overrides:
            raise InputError("give either INSTANCE (with any --set) or --costs, not both")
        oracle = load_costs(costs)
    else:
        if instance is None:
            raise InputError("missing INSTANCE (or --costs FILE.csv); see remech game --help")
        from remech.lazygame import ENUMERATE
        from remech.run import load_files
        from remech.stability import (
            DEFAULT_CACHE,
            InstanceOracle,
            coalition_game,
            reference_weights,
        )

        if loaded is not None and Path(loaded.instance.folder).resolve() != \
                Path(instance).resolve():
            raise ValueError(f"run_game: loaded is {loaded.instance.folder}, not {instance}")
        run = loaded if loaded is not None else load_files(instance, design,
                                                           overrides=overrides)
        n = len(run.instance.members)
        cache = None if no_cache else (Path(cache_dir) if cache_dir else DEFAULT_CACHE)
        weights = reference_weights(run)
        if lazy or owen_only or n > ENUMERATE["instance"]:
            if overrides:
                raise InputError("--set: not with a lazy game (--lazy, or more than "
                                 f"{ENUMERATE['instance']} allies); drop --set or --lazy")
            oracle = InstanceOracle(instance, run.design.path, jobs=jobs, scheduler=scheduler,
                                    cache_dir=cache, time_limit_s=time_limit_s,
                                    mip_gap=mip_gap, on_solve=say)
        else:
            done = [0]

            def on_done(k, r, total):
                done[0] += 1
                if on_coalition is not None:
                    on_coalition(done[0], total)

            cost_game, records = coalition_game(
                instance, run.design.path, jobs=jobs, scheduler=scheduler, cache_dir=cache,
                time_limit_s=time_limit_s, mip_gap=mip_gap, on_done=on_done,
                overrides=overrides)
            oracle = TableOracle(cost_game)
    result, tables, text = analyse_any(oracle, lazy, LazyOptions(tolerance, max_samples, seed),
                                       weights, samples, records, say, unions, owen_only)
    return GameResult(result, tables, text)
