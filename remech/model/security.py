"""Security targets: a cap on the expected shortfall share per product.

Constraint c_security[p] (only for products with a target theta_p):
    sum_s prob_s * sum_t shortfall_t[s,t,p] <= theta_p * sum_t demand_t[t,p]
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from remech.prepare import ModelData


def add(m: pyo.ConcreteModel, data: ModelData) -> None:
    theta = data.max_expected_shortfall_share
    targets = [p for p in range(len(data.products)) if not np.isnan(theta[p])]
    m.P_secured = pyo.Set(initialize=targets, ordered=True)
    prob = data.probability
    m.c_security = pyo.Constraint(
        m.P_secured, rule=lambda m, p: sum(
            float(prob[s]) * m.shortfall_t[s, t, p] for s in m.S for t in m.T)
        <= float(theta[p] * data.demand_t[:, p].sum()))
