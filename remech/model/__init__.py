"""The Pyomo model: ``build_model(data)`` assembles one block of constraints per concern.

Modules: ``price_floor`` (floor choice, project support, top-ups, grants),
``stockpile`` (build, purchases, releases, inventory), ``supply`` (balance and
shortfall), ``burden_sharing`` (contributions and budget caps), ``security``
(shortfall targets), ``risk`` (CVaR). Each adds its cost terms to the shared
ledger in ``core``. This package knows nothing of files.
"""

from remech.model.core import OUTLAY_CATEGORIES, build_model

__all__ = ["build_model", "OUTLAY_CATEGORIES"]
