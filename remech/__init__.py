"""remech: allied price-support mechanisms for rare earths, as a two-stage stochastic MIP.

From Python (docs/api.md)::

    import remech
    mech = remech.solve("instances/allied-ree-2026", **{"risk.cvar_weight": 0.3})
    mech.floors, mech.costs_by_scenario, mech.contributions   # pandas DataFrames
    remech.compare(...), remech.sweep(...), remech.tornado(...), remech.game(...),
    remech.simulate(...), remech.report(...)

The functions live in ``remech.api`` (also importable under that name) and are loaded on
first use, so that ``import remech`` stays cheap (no Pyomo, pandas or HiGHS until then).
"""

__version__ = "0.1.0"

#: the public API, from remech.api (loaded on first attribute access)
_API = ("solve", "compare", "sweep", "tornado", "game", "simulate", "report",
        "Mechanism", "Comparison", "SweepResult", "Sensitivity", "GameResult", "Simulation")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from remech import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'remech' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
