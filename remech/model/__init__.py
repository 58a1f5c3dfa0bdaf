"""The Pyomo model: ``build_model(data)`` assembles one block per instrument.

Modules: ``price_floor`` (floor menu, project support, top-ups), ``tariff`` (tariff
reference prices), ``grants`` (capex grants and their budgets), ``stockpile`` (build,
purchases, releases, policy), ``reserve`` (buyer of last resort), ``supply`` (balance and
shortfall), ``security`` (targets), ``reagents`` (critical-reagent limits),
``burden_sharing`` (contributions and budget caps), ``risk`` (CVaR). Each adds its cost
terms to the ledger (``ledger``); ``core`` decides which blocks are built and in which
order. This package knows nothing of files.
"""

from remech.model.core import build_model
from remech.model.ledger import OUTLAY_CATEGORIES, Category

__all__ = ["build_model", "Category", "OUTLAY_CATEGORIES"]
