"""The shape of the code: blocks built only when enabled, a strict ledger, one mechanism."""

from __future__ import annotations

import ast
import json

import numpy as np
import pyomo.environ as pyo
import pytest
from click.testing import CliRunner

from conftest import MODELS, REAL, ROOT, design, two_year_world
from remech.cli import main
from remech.design import load_design
from remech.instance import load_instance
from remech.model import build_model
from remech.model.data import EntryKind, MenuEntry
from remech.model.first_stage import FirstStage, first_stage_vars
from remech.model.ledger import Category, Ledger
from remech.prepare import prepare
from remech.run import Extras, solve_files


def _components(m: pyo.ConcreteModel) -> set[str]:
    return {c.name for c in m.component_objects((pyo.Var, pyo.Constraint, pyo.Set),
                                                descend_into=False)}


def test_design_without_stockpile_builds_no_stockpile_component(tiny):
    data = prepare(load_instance(tiny), load_design(design(tiny, stock=False)))
    m = build_model(data)
    names = _components(m)
    assert not {n for n in names if n.startswith(("stock", "c_stock", "reserve", "c_reserve",
                                                  "c_rule", "c_nonanticipative"))}
    assert "stockpile" not in m.blocks and "reserve" not in m.blocks
    assert {"c_tariff_auto", "c_grant_stage_cap", "reagent_curtail_t", "c_security",
            "cvar_excess_musd"}.isdisjoint(names)
    assert m.blocks == ["price_floor", "supply", "burden_sharing"]


def test_design_with_stockpile_builds_it(tiny):
    two_year_world(tiny)
    data = prepare(load_instance(tiny), load_design(design(tiny, stock=True)))
    m = build_model(data)
    assert {"stock_level_t", "c_stock_balance", "c_stock_limit"} <= _components(m)
    assert "stockpile" in m.blocks
    assert [v.name for v in first_stage_vars(m)] == [
        "floor_choice", "support", "option", "line_support", "stock_build",
        "stock_capacity_t", "stock_target_t"]


def test_misspelt_ledger_category_fails():
    book = Ledger()
    with pytest.raises(ValueError, match="unknown cost category 'topups'; use one of grants"):
        book.add_first("topups", 1.0, object())
    with pytest.raises(ValueError, match="unknown cost category 'shortfall'"):
        book.add_second("shortfall", 0, 1.0, object())
    book.add_first("grants", 2.0, "x")  # the enum's value is accepted as the category
    assert book.first[Category.GRANTS] == [(2.0, "x")]


def test_menu_entries_are_typed_with_stable_index():
    inst, dsg = load_instance(REAL), load_design(MODELS / "full-toolkit.toml")
    data = prepare(inst, dsg)
    for menu in data.menus:
        assert [e.index for e in menu] == list(range(len(menu)))
    kinds = {e.kind for menu in data.menus for e in menu}
    assert EntryKind.FLOOR in kinds
    assert MenuEntry(50.0, index=3) == MenuEntry(50.0, index=0)  # compared by terms
    assert MenuEntry(50.0).kind == EntryKind.FLOOR
    assert MenuEntry(50.0, 0.3, 80.0).kind == EntryKind.COLLAR
    assert MenuEntry(50.0, is_tariff=True).kind == EntryKind.TARIFF
    assert MenuEntry(0.0).kind == EntryKind.NONE
    for o, e in enumerate(data.options.entry):  # options point into their product's menu
        assert data.menus[data.project_product[data.options.project[o]]][e.index] == e


def test_api_mechanism_equals_cli_mechanism_json(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(REAL), "-o", str(out), "-q",
                                       "--foresight-gap"])
    assert result.exit_code == 0, result.output
    written = json.loads((out / "mechanism.json").read_text())
    run = solve_files(REAL, extras=Extras(foresight=True))
    api = run.mechanism.to_json()

    def strip(doc: dict) -> dict:
        doc = {k: v for k, v in doc.items() if k != "timings_s"}
        doc["solver"] = {k: v for k, v in doc["solver"].items() if k != "timings_s"}
        return doc

    assert list(api) == list(written)
    assert strip(api) == strip(written)
    assert set(api["timings_s"]) == set(written["timings_s"])
    assert api["foresight"]["value_of_foresight_musd"] > 0
    for name, table in run.mechanism.tables.items():
        assert (out / name).read_text() == table.to_csv(index=False), name


def test_first_stage_round_trip(tiny):
    two_year_world(tiny)
    run = solve_files(tiny, design(tiny, stock=True, grants=True))
    fs = run.mechanism.first_stage
    assert isinstance(fs, FirstStage)
    assert FirstStage.from_json(json.loads(json.dumps(fs.to_json()))) == fs
    assert run.mechanism["first_stage"] == fs.to_json()


def test_no_function_longer_than_80_lines_without_a_reason():
    long = []
    for path in sorted((ROOT / "remech").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 85:
                doc = ast.get_docstring(node) or ""
                if "Long because" not in doc:
                    long.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long == []


def test_instrument_modules_do_not_import_core():
    # the ledger is its own module: no instrument imports the assembly (no circle)
    for path in sorted((ROOT / "remech" / "model").glob("*.py")):
        if path.name in ("core.py", "__init__.py"):
            continue
        text = path.read_text()
        assert "remech.model.core" not in text, path.name
        assert "from remech.model import build_model" not in text, path.name


def test_scenario_costs_sum_to_the_objective(tiny):
    two_year_world(tiny)
    run = solve_files(tiny, design(tiny, stock=True))
    table = run.mechanism.tables["scenario_costs.csv"]
    expected = float(np.dot(table["probability"], table["total_cost_musd"]))
    assert expected == pytest.approx(run.mechanism.costs["expected_cost_musd"])
    assert run.mechanism.objective_musd == pytest.approx(expected, abs=1e-4)


def test_architecture_doc_names_every_instrument_module():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for path in sorted((ROOT / "remech" / "model").glob("*.py")):
        if path.stem != "__init__":
            assert f"model/{path.name}" in text, path.name
