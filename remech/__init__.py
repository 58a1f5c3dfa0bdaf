"""remech: allied price-support mechanisms for rare earths, as a two-stage stochastic MIP.

From Python: ``from remech import api`` (``api.solve``, ``api.compare``, ``api.sweep``,
``api.report``; see docs/api.md). The functions live in remech.api rather than here because
``remech.solve``, ``remech.compare``, ``remech.sweep`` and ``remech.report`` are the modules
that do the work.
"""

__version__ = "0.1.0"
