"""Helpers: small worlds derived from instances/tiny-floor, edited per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from remech.run import solve_files
from remech.solving import SolverOptions

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny-floor"
REAL = ROOT / "instances" / "allied-ree-2026"
MODELS = ROOT / "models"

DESIGN_HEAD = """
[design]
name = "test"
[instruments]
price_floor = {floor}
stockpile = {stock}
grants = {grants}
[price_floor]
levels_usd_per_kg = {{ X = [60] }}
[bankability]
test = "{test}"
quantile = {quantile}
hurdle_rate = 0.0
tail_years = 0
[grants]
max_share_of_capex = {grant_share}
"""


@pytest.fixture(scope="session")
def shipped_compare(tmp_path_factory) -> tuple[dict[str, dict], Path]:
    """Every shipped design solved once per session on the shipped instance, by `remech
    compare --jobs 2 -o DIR --json` (its rows by design, and DIR): tests/test_compare.py
    checks the comparison, tests/test_shipped.py the stored optima (the shipped designs are
    the slowest solves of the suite; each is solved here and nowhere else)."""
    import json

    from click.testing import CliRunner

    from remech.cli import main

    out = tmp_path_factory.mktemp("shipped") / "cmp"
    r = CliRunner().invoke(main, ["compare", str(REAL), "--jobs", "2", "-o", str(out),
                                  "--json", "-q"])
    assert r.exit_code == 0, r.output
    return {row["design"]: row for row in json.loads(r.stdout)}, out


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A fresh copy of instances/tiny-floor."""
    dest = tmp_path / "tiny"
    shutil.copytree(TINY, dest)
    return dest


def design(folder: Path, *, floor=True, stock=False, grants=False, test="expected",
           quantile=0.1, grant_share=0.5, extra: str = "") -> Path:
    """Write folder/design.toml (the instance's default model) and return its path."""
    text = DESIGN_HEAD.format(floor=str(floor).lower(), stock=str(stock).lower(),
                              grants=str(grants).lower(), test=test, quantile=quantile,
                              grant_share=grant_share) + extra
    path = folder / "design.toml"
    path.write_text(text)
    return path


def read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def write(folder: Path, name: str, df: pd.DataFrame | list[dict]) -> None:
    if isinstance(df, list):
        df = pd.DataFrame(df)
    df.to_csv(folder / name, index=False)


def two_allies(folder: Path) -> Path:
    """US (GDP 3000, demand 600 t) and EU (GDP 1000, demand 400 t) instead of the US alone;
    P1 stays hosted in the US."""
    src = "assumption: test data"
    write(folder, "allies.csv", [
        {"ally": "US", "name": "United States", "role": "ally", "gdp_usd_bn": 3000,
         "budget_cap_musd": "", "source": src},
        {"ally": "EU", "name": "European Union", "role": "ally", "gdp_usd_bn": 1000,
         "budget_cap_musd": "", "source": src}])
    write(folder, "demand.csv", [
        {"ally": "US", "product": "X", "year": 2030, "demand_t": 600, "source": src},
        {"ally": "EU", "product": "X", "year": 2030, "demand_t": 400, "source": src}])
    return folder


def two_year_world(folder: Path, prices=(40, 40), cut_2031: bool = True,
                   demand_t: float = 1000, china_t: float = 2000,
                   holding: float = 0.0) -> Path:
    """tiny-floor over 2030-31 with one scenario 'only' (probability 1): the given prices,
    China's supply cut to nothing in 2031 (if cut_2031), and a stockpile row for X (fixed
    cost 1 MUSD, capacity cost 1 USD/kg, the given holding cost, up to 2000 t, salvage 50 %)."""
    toml = (folder / "instance.toml").read_text().replace("last_year = 2030",
                                                          "last_year = 2031")
    (folder / "instance.toml").write_text(toml)
    src = "assumption: test data"
    years = (2030, 2031)
    write(folder, "scenarios.csv", [{"scenario": "only", "probability": 1,
                                     "description": "", "source": src}])
    write(folder, "prices.csv", [{"scenario": "only", "year": y, "product": "X",
                                  "price_usd_per_kg": p, "source": src}
                                 for y, p in zip(years, prices, strict=True)])
    if cut_2031:
        write(folder, "availability.csv", [{"scenario": "only", "year": 2031, "product": "X",
                                            "china_availability": 0, "source": src}])
    else:
        (folder / "availability.csv").unlink()
    write(folder, "demand.csv", [{"ally": "US", "product": "X", "year": y,
                                  "demand_t": demand_t, "source": src} for y in years])
    write(folder, "supply.csv", [{"product": "X", "year": y, "china_supply_t": china_t,
                                  "other_supply_t": 0, "source": src} for y in years])
    write(folder, "stockpile.csv", [{"product": "X", "fixed_cost_musd": 1,
                                     "capacity_cost_usd_per_kg": 1,
                                     "holding_cost_usd_per_kg_yr": holding,
                                     "max_capacity_t": 2000, "salvage_fraction": 0.5,
                                     "source": src}])
    return folder


def solve(folder: Path, model: Path | None = None):
    run = solve_files(folder, model, SolverOptions(time_limit_s=120))
    return run


def assert_stored(run, stored: tuple, cost: float) -> None:
    """A shipped design's run against its stored (objective MUSD, Pyomo variables,
    binaries, constraints): proved optimal by HiGHS within 1e-4, ``cost`` within a relative
    2e-4 of the objective, and the model's size."""
    from remech.run import model_counts

    objective, n_var, n_bin, n_con = stored
    assert run.result.status == "optimal"  # proved by HiGHS, not just a number
    assert run.mechanism["proved_optimal"] is True
    assert run.result.mip_gap <= 1e-4
    assert cost == pytest.approx(objective, rel=2e-4)
    counts = model_counts(run.model)
    assert (counts["variables"], counts["binaries"], counts["constraints"]) == (
        n_var, n_bin, n_con)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (the long fuzz run)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
