"""Invariances: results must not depend on how the same world is written down."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from conftest import MODELS, REAL, read, solve, write


def test_duplicated_scenario_gives_the_same_objective(tiny):
    base = solve(tiny).result.objective_musd
    for name in ("scenarios.csv", "prices.csv", "availability.csv"):
        df = read(tiny, name)
        cut = df[df["scenario"] == "cut"].copy()
        df.loc[df["scenario"] == "cut", "scenario"] = "cut_a"
        cut["scenario"] = "cut_b"
        if name == "scenarios.csv":
            df.loc[df["scenario"] == "cut_a", "probability"] = "0.25"
            cut["probability"] = "0.25"
        write(tiny, name, pd.concat([df, cut]))
    run = solve(tiny)
    assert run.data.sizes["scenarios"] == 3
    assert run.result.objective_musd == pytest.approx(base, rel=1e-9)


def test_identical_scenarios_equal_one_deterministic_scenario(tiny):
    # two copies of 'cut' with probability 0.5 each == one 'cut' with probability 1:
    # deterministic NPV 30 - 20 = 10 >= 0, P1 is built at market, nothing is paid.
    src = "assumption: test data"
    write(tiny, "scenarios.csv", [{"scenario": "only", "probability": 1, "description": "",
                                   "source": src}])
    write(tiny, "prices.csv", [{"scenario": "only", "year": 2030, "product": "X",
                                "price_usd_per_kg": 80, "source": src}])
    write(tiny, "availability.csv", [{"scenario": "only", "year": 2030, "product": "X",
                                      "china_availability": 0, "source": src}])
    one = solve(tiny).result.objective_musd
    write(tiny, "scenarios.csv", [{"scenario": s, "probability": 0.5, "description": "",
                                   "source": src} for s in ("a", "b")])
    write(tiny, "prices.csv", [{"scenario": s, "year": 2030, "product": "X",
                                "price_usd_per_kg": 80, "source": src} for s in ("a", "b")])
    write(tiny, "availability.csv", [{"scenario": s, "year": 2030, "product": "X",
                                      "china_availability": 0, "source": src}
                                     for s in ("a", "b")])
    two = solve(tiny).result.objective_musd
    assert one == pytest.approx(0.0, abs=1e-9)
    assert two == pytest.approx(one, abs=1e-9)


def test_row_order_of_allies_scenarios_and_projects_changes_nothing(tmp_path):
    model = MODELS / "floor-only.toml"
    base = solve(REAL, model)
    shuffled = tmp_path / "shuffled"
    shutil.copytree(REAL, shuffled)
    for name in ("allies.csv", "scenarios.csv", "projects.csv", "demand.csv"):
        df = read(shuffled, name)
        write(shuffled, name, df.iloc[::-1])
    other = solve(shuffled, model)
    assert other.result.status == base.result.status == "optimal"
    assert other.result.objective_musd == pytest.approx(base.result.objective_musd, rel=1e-6)
    assert other.mechanism["floors_usd_per_kg"] == base.mechanism["floors_usd_per_kg"]
    assert sorted(other.mechanism["supported_projects"]) == sorted(
        base.mechanism["supported_projects"])
    for ally, c in base.mechanism["contributions"].items():
        assert other.mechanism["contributions"][ally]["contribution_musd"] == pytest.approx(
            c["contribution_musd"], rel=1e-6, abs=1e-6)
