"""The model assembly: which instrument blocks are built, in which order, with what.

Naming: variables carry their unit (``_t``, ``_musd``), constraints start with
``c_``; indices are (s)cenario, (t) year, (p)roduct, (o) support option,
(j) project, (a) ally, (l) floor-menu entry. See docs/formulation.md.

Each block is one module of this package. A block is built only when the design and the
instance give it something to do; what a block needs from another is passed explicitly
as a typed handle (Support, Stock, Reserve, Balance, Curtailment), never read off the
model. The order is the order below: a block's handles exist before the blocks that
use them.
"""

from __future__ import annotations

import pyomo.environ as pyo

from remech.model import (
    burden_sharing,
    chain,
    grants,
    ledger,
    offtake,
    price_floor,
    reagents,
    reserve,
    risk,
    security,
    stockpile,
    supply,
    tariff,
)
from remech.model.data import ModelData


def build_model(data: ModelData) -> pyo.ConcreteModel:
    """Build the two-stage stochastic MIP for ``data``.

    First stage: floor choice, project support, grants, stockpile build, capacity and
    targets, reserve shares, contributions. Second stage (per scenario and year):
    top-ups, stockpile operation, shortfall. Objective: expected discounted cost +
    lambda * CVaR_alpha(cost) + the floor tie-break.
    """
    m = pyo.ConcreteModel(name="remech")
    m.S = pyo.RangeSet(0, len(data.scenarios) - 1)
    m.T = pyo.RangeSet(0, len(data.years) - 1)
    m.P = pyo.RangeSet(0, len(data.products) - 1)
    m.A = pyo.RangeSet(0, len(data.members) - 1)
    book = ledger.Ledger(data.discount, track_years=burden_sharing.tracks_years(data))
    built = ["price_floor", "supply", "burden_sharing"]  # always: the menu, balance, payers

    support = price_floor.add(m, data, book)
    if tariff.enabled(data):
        tariff.add(m, data, book, support)
        built.append("tariff")
    if grants.enabled(data):
        grants.add(m, data, book, support)
        built.append("grants")
    stock = res = None
    if stockpile.enabled(data):
        stock = stockpile.add(m, data, book)
        built.append("stockpile")
        if reserve.enabled(data):
            res = reserve.add(m, data, book, stock, support)
            built.append("reserve")
        stockpile.add_limits(m, data, stock, res)
    curtail = reagents.add_curtailment(m, data) if reagents.enabled(data) else None
    extra = []
    off = None
    if offtake.enabled(data):
        off = offtake.add(m, data, book, support)
        extra.append(off.balance)
        built.append("offtake")
    if chain.enabled(data):
        m.value_chain = chain.add(m, data, chain.potential_terms(data, support, off))
        extra.append(m.value_chain.balance)
        built.append("chain")
    balance = supply.add(m, data, book, support, stock, res, curtail, tuple(extra))
    if stock is not None:
        stockpile.add_policy(m, data, stock, res, balance)
        if res is not None:
            reserve.add_policy(m, data, res, support)
    if security.enabled(data):
        security.add(m, data, book, support, balance, stock)
        built.append("security")
    if curtail is not None:
        reagents.add(m, data, book, support, curtail)
        built.append("reagents")
    ledger.finish(m, book, data.probability, data.objective_view, data.mcpf)
    burden_sharing.add(m, data, book)
    objective = m.expected_cost_musd + m.floor_tie_break_musd
    if risk.enabled(data):
        risk.add(m, data, book)
        built.append("risk")
        objective = m.expected_cost_musd + m.risk_term_musd + m.floor_tie_break_musd
    for tie in ("chain_tie_break_musd", "reagent_tie_break_musd"):
        if hasattr(m, tie):
            objective = objective + getattr(m, tie)
    m.blocks = built
    m.objective = pyo.Objective(expr=objective, sense=pyo.minimize)
    return m
