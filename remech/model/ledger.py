"""The cost ledger and the expression helpers every instrument module uses.

Each instrument adds its cost terms to one ``Ledger`` as (coefficient, variable) pairs in
MUSD, discounted to the first year, under a ``Category``. The objective, the outlay that
the burden sharing splits, the CVaR rows and every report are built from the same terms:
nothing is recomputed by hand after the solve. This module imports no instrument module
(they import it), so there is no import circle.
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression


class Category(StrEnum):
    """Who bears a cost term. The first six are the mechanism's outlay (paid by the
    allies' treasuries); the others are costs to the allies that no treasury pays, and
    the allied producers' surplus from the mechanism (counted in the economic view only)."""

    GRANTS = "grants"
    STOCKPILE_BUILD = "stockpile_build"
    TOPUP = "topup"
    STOCKPILE_OPERATION = "stockpile_operation"
    LAST_RESORT_PURCHASE = "last_resort_purchase"
    #: minus the proceeds of stockpile and reserve releases, sold at that year's price
    RELEASE_REVENUE = "release_revenue"
    #: offtake contracts: what the buyer pays less the resale value of what it buys
    OFFTAKE = "offtake"
    #: consumers' net premium under a tariff reference price
    CONSUMER_COST_NET = "consumer_cost_net"
    #: the economic loss of missing material
    SHORTFALL_LOSS = "shortfall_loss"
    #: the price of violating soft security targets
    TARGET_PENALTY = "target_penalty"
    #: minus the allied producers' gain from the mechanism: their margins (top-ups and
    #: tariff premiums included) and grants, less the capex of plants built because of it
    PRODUCER_SURPLUS = "producer_surplus"


#: cost categories paid by the allies (the mechanism's outlay)
OUTLAY_CATEGORIES = (Category.GRANTS, Category.STOCKPILE_BUILD, Category.TOPUP,
                     Category.STOCKPILE_OPERATION, Category.LAST_RESORT_PURCHASE,
                     Category.RELEASE_REVENUE, Category.OFFTAKE)
OTHER_CATEGORIES = (Category.CONSUMER_COST_NET, Category.SHORTFALL_LOSS,
                    Category.TARGET_PENALTY, Category.PRODUCER_SURPLUS)
CATEGORIES = OUTLAY_CATEGORIES + OTHER_CATEGORIES
VIEWS = ("fiscal", "economic")


def view_weights(view: str, mcpf: float) -> dict[Category, float]:
    """The weight of each category in a view of cost.

    fiscal: what the treasuries pay (the outlay), plus what consumers pay under a tariff,
        shortfall losses and target penalties; producers' gains do not count.
    economic (allied welfare): a treasury's outlay costs mcpf per USD (raising it has a
        welfare cost, the marginal cost of public funds); consumers' tariff premium and the
        top-ups and grants reach allied producers and come back as their surplus, so a
        transfer inside the alliance costs only its (mcpf - 1) excess burden, while real
        resource costs (capex, running a plant below its cost, material bought from
        China) and shortfall losses count in full.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view '{view}'; use one of {', '.join(VIEWS)}")
    weights = {c: 1.0 for c in CATEGORIES}
    weights[Category.PRODUCER_SURPLUS] = 0.0
    if view == "economic":
        for c in OUTLAY_CATEGORIES:
            weights[c] = float(mcpf)
        weights[Category.PRODUCER_SURPLUS] = 1.0
    return weights


def _category(category: str) -> Category:
    """The Category of ``category``; a misspelt name is an error, not a dropped cost."""
    try:
        return Category(category)
    except ValueError:
        raise ValueError(f"unknown cost category '{category}'; use one of "
                         f"{', '.join(c.value for c in Category)}") from None


class Ledger:
    """Cost terms contributed by the modules, as (coefficient, variable) pairs in MUSD,
    discounted to the first year.

    ``first[category]``: first-stage terms; ``second[category][s]``: terms of scenario s.
    """

    def __init__(self, discount: np.ndarray | None = None, track_years: bool = False) -> None:
        self.first: dict[Category, list] = defaultdict(list)
        self.second: dict[Category, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        #: with ``track_years``: the outlay by year, undiscounted MUSD: (s, t) -> terms and,
        #: for first-stage terms (in every scenario), t -> terms
        self.discount = discount
        self.track_years = track_years
        self.year_first: dict[int, list] = defaultdict(list)
        self.year_second: dict[tuple[int, int], list] = defaultdict(list)

    def add_first(self, category: Category | str, coef: float, var, t: int | None = None
                  ) -> None:
        """A first-stage term (discounted MUSD); ``t``: the year it is paid in."""
        category = _category(category)
        self.first[category].append((float(coef), var))
        if t is not None:
            self._year(category, None, t, coef, var)

    def add_second(self, category: Category | str, s: int, coef: float, var,
                   t: int | None = None) -> None:
        """A term of scenario s (discounted MUSD); ``t``: the year it is paid in."""
        category = _category(category)
        self.second[category][s].append((float(coef), var))
        if t is not None:
            self._year(category, s, t, coef, var)

    def add_year(self, s: int, t: int, coef_undiscounted: float, var) -> None:
        """An outlay term of year t in scenario s, undiscounted MUSD, recorded only for the
        yearly budget caps (for outlay entered in the ledger as a sum over years)."""
        if self.track_years:
            self.year_second[s, t].append((float(coef_undiscounted), var))

    def _year(self, category: Category, s: int | None, t: int, coef: float, var) -> None:
        if not self.track_years or category not in OUTLAY_CATEGORIES:
            return
        term = (float(coef) / float(self.discount[t]), var)
        (self.year_first[t] if s is None else self.year_second[s, t]).append(term)

    def year_terms(self, s: int, t: int) -> list:
        """The outlay of year t in scenario s, undiscounted, merged by variable."""
        return aggregate([self.year_first[t], self.year_second[s, t]])

    def scenario_terms(self, s: int, weights: dict[Category, float]) -> list:
        """First-stage and scenario s's terms, weighted by category, merged by variable."""
        cats = [c for c in CATEGORIES if weights[c]]
        return aggregate([_scaled(self.first[c], weights[c]) for c in cats]
                         + [_scaled(self.second[c][s], weights[c]) for c in cats])

    def expected_terms(self, probability: np.ndarray, categories) -> list:
        """Expected terms of ``categories`` (first stage + probability-weighted second
        stage), merged by variable across scenarios."""
        lists = [self.first[c] for c in categories]
        lists += [[(float(probability[s]) * coef, v) for coef, v in self.second[c][s]]
                  for c in categories for s in self.second[c]]
        return aggregate(lists)


def _scaled(terms: list, weight: float) -> list:
    return terms if weight == 1.0 else [(weight * c, v) for c, v in terms]


def linear(terms) -> LinearExpression:
    """A linear expression from (coefficient, variable) pairs, built without the
    operator overloading of ``sum``/``quicksum`` (about 6x faster)."""
    return LinearExpression([MonomialTermExpression((c, v)) for c, v in terms])


def linear_value(expr) -> float:
    """The value of an expression at the loaded solution: a LinearExpression (what
    ``linear`` builds) term by term, about 5x faster than pyo.value; anything else through
    pyo.value."""
    if isinstance(expr, LinearExpression):
        return float(expr.constant) + sum(float(c) * v.value
                                          for c, v in zip(expr.linear_coefs,
                                                          expr.linear_vars, strict=True))
    return float(pyo.value(expr))


def var_array(var, *shape: int) -> np.ndarray:
    """The data objects of an indexed Var as an object array in index order, so that
    rules look them up by position instead of through Pyomo's indexing."""
    return np.array(list(var.values()), dtype=object).reshape(shape)


def values(var, shape: tuple[int, ...]) -> np.ndarray:
    """The solution values of an indexed Var as a dense array (0 where unset or absent)."""
    out = np.zeros(shape)
    for idx, v in var.items():
        out[idx] = v.value if v.value is not None else 0.0
    return out


def aggregate(term_lists) -> list:
    """Merge (coefficient, variable) pairs by variable, keeping first-seen order."""
    merged: dict[int, list] = {}
    for terms in term_lists:
        for c, v in terms:
            entry = merged.get(id(v))
            if entry is None:
                merged[id(v)] = [c, v]
            else:
                entry[0] += c
    return [(c, v) for c, v in merged.values() if c != 0.0]


def ledger_values(m: pyo.ConcreteModel, n_scenarios: int) -> tuple[dict, dict]:
    """After a solve: first-stage cost per category, and second-stage cost per category
    as an array over scenarios (MUSD, discounted)."""
    ledger = m.cost_ledger

    def value(terms) -> float:
        return sum(c * (v.value or 0.0) for c, v in terms)

    first = {c: value(ledger.first.get(c, [])) for c in CATEGORIES}
    second = {c: np.array([value(ledger.second[c].get(s, [])) if c in ledger.second else 0.0
                           for s in range(n_scenarios)]) for c in CATEGORIES}
    return first, second


def scenario_costs(m: pyo.ConcreteModel, scenarios: list[str], probability: np.ndarray,
                   shortfall_t: np.ndarray, products: list[str]) -> pd.DataFrame:
    """After a solve: one row per scenario with its probability, its cost per ledger
    category, outlay, cost in each view and total (the view the model minimised) (MUSD,
    discounted; first-stage costs counted in every scenario, no floor tie-break) and its
    shortfall per product over the horizon (``shortfall_t`` [s, t, p], t)."""
    first, second = ledger_values(m, len(scenarios))
    out = pd.DataFrame({"scenario": scenarios, "probability": probability})
    for c in CATEGORIES:
        out[f"{c}_musd"] = first[c] + second[c]
    out["outlay_musd"] = sum(out[f"{c}_musd"] for c in OUTLAY_CATEGORIES)
    for view in VIEWS:
        w = view_weights(view, m.cost_mcpf)
        out[f"{view}_cost_musd"] = sum(w[c] * out[f"{c}_musd"] for c in CATEGORIES if w[c])
    out["total_cost_musd"] = out[f"{m.cost_view}_cost_musd"]
    for p, name in enumerate(products):
        out[f"shortfall_{name}_t"] = shortfall_t[:, :, p].sum(1)
    return out


def finish(m: pyo.ConcreteModel, ledger: Ledger, probability: np.ndarray, view: str,
           mcpf: float) -> None:
    """Turn the ledger into the expressions the objective and the burden sharing use.

    outlay_musd          variable = expected discounted cost over OUTLAY_CATEGORIES
                         (c_outlay), so that rows needing the outlay hold one coefficient
    expected_cost_musd   expected discounted cost in ``view`` (view_weights)
    Terms are merged by variable across scenarios. The ledger itself stays on the model
    (``m.cost_ledger``, with ``m.cost_view`` and ``m.cost_mcpf``): reports evaluate its
    terms after the solve, so report and objective are computed from the same coefficients.
    """
    weights = view_weights(view, mcpf)
    outlay = ledger.expected_terms(probability, OUTLAY_CATEGORIES)
    m.outlay_musd = pyo.Var()
    m.c_outlay = pyo.Constraint(expr=m.outlay_musd == linear(outlay))
    # The objective holds the merged terms themselves, not outlay_musd: measured on the
    # 500-scenario benchmark, routing the objective through outlay_musd made HiGHS 19x
    # slower (187 s vs 9.8 s, same optimum).
    weighted = aggregate(
        [_scaled(ledger.expected_terms(probability, (c,)), weights[c])
         for c in CATEGORIES if weights[c]]) if view != "fiscal" else \
        outlay + ledger.expected_terms(probability, tuple(
            c for c in OTHER_CATEGORIES if weights[c]))
    m.expected_cost_musd = pyo.Expression(expr=linear(weighted))
    m.cost_ledger, m.cost_view, m.cost_mcpf = ledger, view, float(mcpf)


def cost_without_tie_break(m: pyo.ConcreteModel, objective_musd: float | None) -> float | None:
    """A solve's objective without the tie-break terms (MUSD): the cost every report
    and comparison uses. The tie-breaks only order equally costly solutions: the lower
    floor (remech.model.price_floor), plants running rather than idle (remech.model
    .chain), output not curtailed (remech.model.reagents)."""
    if objective_musd is None:
        return None
    ties = [getattr(m, name, None) for name in ("floor_tie_break_musd",
                                                 "chain_tie_break_musd",
                                                 "reagent_tie_break_musd")]
    return objective_musd - sum(pyo.value(t) for t in ties if t is not None)
