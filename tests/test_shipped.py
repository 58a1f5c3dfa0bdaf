"""The shipped realistic instance: stored optimum, status and model size per design.

Objectives are HiGHS-proved optima (relative MIP gap 1e-4), so they are compared with a
relative tolerance of 2e-4. If a formulation change moves them, update the figures here
and say why in the commit message.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys

import pytest

from conftest import MODELS, REAL, assert_stored, solve
from remech.instance import load_instance
from remech.run import build, load_files

STORED = {
    # design: (objective MUSD, Pyomo variables, binaries, constraints)
    # issue 9 rebuild (generator scenarios, cuts on China's normal deliveries, data fixes)
    # and releases sold; before them: 1,370.9, 1,607.3 and 1,678.5 MUSD. Measured one change
    # at a time on the default (README, 'Calibration').
    "floor-stockpile-grants": (1774.6346268050877, 7594, 331, 7716),
    "floor-only": (2130.1329303882017, 1933, 104, 1953),
    "no-mechanism": (2373.7157638135427, 1812, 3, 1812),
}


@pytest.fixture(scope="module")
def runs():
    return {name: solve(REAL, MODELS / f"{name}.toml") for name in STORED}


@pytest.mark.parametrize("name", list(STORED))
def test_stored_optimum_status_and_size(runs, name):
    assert_stored(runs[name], STORED[name], runs[name].result.objective_musd)


def test_more_instruments_never_cost_more(runs):
    obj = {k: r.result.objective_musd for k, r in runs.items()}
    assert obj["floor-stockpile-grants"] <= obj["floor-only"] * (1 + 2e-4)
    assert obj["floor-only"] <= obj["no-mechanism"] * (1 + 2e-4)


def test_realistic_instance_has_the_promised_scope():
    inst = load_instance(REAL)
    assert len(inst.members) >= 8
    assert {"NDPR", "DY", "TB"} <= set(inst.products["product"])
    assert len(inst.projects) >= 12
    assert len(inst.scenarios) >= 50
    names = set(inst.scenarios["scenario"])
    assert {"stress-spike-2011", "stress-slump-2015", "stress-trough-2024",
            "stress-controls-2025"} <= names


def test_every_value_carries_a_source_or_is_an_assumption():
    # load_instance rejects any row whose source cites no known key and is not marked
    # 'assumption'; here we also check that no table is without a source column.
    inst = load_instance(REAL)
    for table in (inst.allies, inst.products, inst.projects, inst.demand, inst.supply,
                  inst.stockpile, inst.scenarios, inst.prices, inst.availability):
        assert "source" in table.columns and (table["source"].str.len() > 0).all()


def test_make_instance_reproduces_the_shipped_tables(tmp_path):
    copy = tmp_path / "allied"
    shutil.copytree(REAL, copy)
    subprocess.run([sys.executable, str(copy / "make_instance.py")], check=True,
                   capture_output=True)
    for name in ("demand.csv", "supply.csv", "scenarios.csv", "prices.csv",
                 "availability.csv"):
        assert filecmp.cmp(copy / name, REAL / name, shallow=False), name


def test_validate_builds_every_shipped_design():
    """Every design builds on the instance it is written for: the chain-* designs on the
    value-chain instance (they name its magnet product), the others on the oxide one."""
    chain = REAL.parent / "allied-ree-chain-2026"
    for path in sorted(MODELS.glob("*.toml")):
        run = build(load_files(chain if path.stem.startswith("chain-") else REAL, path))
        assert run.model is not None
