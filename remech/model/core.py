"""Shared sets, the cost ledger, and the model assembly.

Naming: variables carry their unit (``_t``, ``_musd``), constraints start with
``c_``; indices are (s)cenario, (t) year, (p)roduct, (o) support option,
(j) project, (a) ally, (l) floor level. See docs/formulation.md.
"""

from __future__ import annotations

from collections import defaultdict

import pyomo.environ as pyo

from remech.prepare import ModelData

#: cost categories paid by the allies (the mechanism's outlay); "shortfall_loss" is
#: the economic loss of missing material, part of the objective but not of the outlay.
OUTLAY_CATEGORIES = ("grants", "stockpile_build", "topup", "stockpile_operation")
CATEGORIES = OUTLAY_CATEGORIES + ("shortfall_loss",)


class Ledger:
    """Cost terms contributed by the modules (MUSD, discounted to the first year).

    ``first[category]``: first-stage terms; ``second[category][s]``: terms of scenario s.
    """

    def __init__(self) -> None:
        self.first: dict[str, list] = defaultdict(list)
        self.second: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))

    def add_first(self, category: str, expr) -> None:
        self.first[category].append(expr)

    def add_second(self, category: str, s: int, expr) -> None:
        self.second[category][s].append(expr)


def build_model(data: ModelData) -> pyo.ConcreteModel:
    """Build the two-stage stochastic MIP for ``data``.

    First stage: floor choice, project support, grants, stockpile build and capacity,
    contributions. Second stage (per scenario and year): top-ups, stockpile operation,
    shortfall. Objective: expected discounted cost + lambda * CVaR_alpha(cost).
    """
    from remech.model import burden_sharing, price_floor, risk, security, stockpile, supply

    m = pyo.ConcreteModel(name="remech")
    m.S = pyo.RangeSet(0, len(data.scenarios) - 1)
    m.T = pyo.RangeSet(0, len(data.years) - 1)
    m.P = pyo.RangeSet(0, len(data.products) - 1)
    m.A = pyo.RangeSet(0, len(data.members) - 1)
    ledger = Ledger()

    price_floor.add(m, data, ledger)
    stockpile.add(m, data, ledger)
    supply.add(m, data, ledger)
    _finish_costs(m, data, ledger)
    burden_sharing.add(m, data)
    security.add(m, data)
    risk.add(m, data)
    m.objective = pyo.Objective(
        expr=m.expected_cost_musd + m.risk_term_musd + m.floor_tie_break_musd,
        sense=pyo.minimize)
    return m


def _finish_costs(m: pyo.ConcreteModel, data: ModelData, ledger: Ledger) -> None:
    """Turn the ledger into named expressions used by the objective, risk and reports.

    cost_first_musd[c]         first-stage cost of category c
    cost_second_musd[c, s]     discounted second-stage cost of category c in scenario s
    scenario_cost_musd[s]      total cost in scenario s (all categories)
    expected_cost_musd         sum_s prob_s * scenario_cost_musd[s]
    expected_outlay_musd       the same over OUTLAY_CATEGORIES only
    """
    m.C = pyo.Set(initialize=CATEGORIES, ordered=True)
    m.cost_first_musd = pyo.Expression(
        m.C, rule=lambda m, c: pyo.quicksum(ledger.first[c]))
    m.cost_second_musd = pyo.Expression(
        m.C, m.S, rule=lambda m, c, s: pyo.quicksum(ledger.second[c][s]))
    m.scenario_cost_musd = pyo.Expression(
        m.S, rule=lambda m, s: sum(m.cost_first_musd[c] + m.cost_second_musd[c, s]
                                   for c in m.C))
    prob = data.probability

    def expected(categories):
        return (sum(m.cost_first_musd[c] for c in categories)
                + sum(float(prob[s]) * m.cost_second_musd[c, s]
                      for c in categories for s in m.S))

    m.expected_cost_musd = pyo.Expression(expr=expected(CATEGORIES))
    m.expected_outlay_musd = pyo.Expression(expr=expected(OUTLAY_CATEGORIES))
