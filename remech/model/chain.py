"""The value chain: plants that make a product from other products (oxide -> metal/alloy
-> magnet), and the material balance that links the stages.

prepare: a_jp, the tonnes of product p that plant j uses per tonne of its output, from the
instance's ``conversions.csv`` (rows of the plant's product; a plant's own rows replace
them, e.g. a recycler that makes magnets from scrap). A plant with some a_jp > 0 is a
*converter*. Without conversions.csv no block is built and the model is unchanged.

Variables (second stage), for each converter k and (s, t) where it can produce at all:
  idle_kst = 1000 chain_idle_kt[s,t,k] >= 0    t of its possible output not made (input
                                               missing, or not worth it)

Its possible output is the output the other blocks give it (as a project outside the
mechanism, or supported by a floor or an offtake):
  Q_kst = q0_kst + sum_{o of k} (q_ost - q0_kst) line_support[o]
                 + sum_{c of k} (q_cst - q0_kst) offtake[c]

Constraints
  c_chain_idle[s,t,k]:  idle_kst <= Q_kst
  in c_balance[s,t,p] (remech.model.supply), the product p(k) it makes loses the idle part
  and every input p loses what the plant uses:
      ... - idle_kst                        (p = p(k))
      ... - a_kp (Q_kst - idle_kst)         (a_kp > 0)
  so made_kst = Q_kst - idle_kst <= Q_kst and input use = a_kp made_kst: a magnet plant
  without oxide makes nothing, and the shortfall moves to magnets.

The idle variable is in kt, so that the tie-break's cost sits inside HiGHS's cost range (in t
it was 1e-7 MUSD, below the range HiGHS accepts without a warning on the shipped chain
instance).

Tie-break (in no cost category, like the floor tie-break): 1e-7 MUSD per t idle in the
objective (1e-4 MUSD per kt), so that a plant runs unless idling lowers the cost (in a year
without a cut China's supply makes both equally costly); ledger.cost_without_tie_break
removes it.

The plant's input comes from wherever its input product's balance finds it: allied
output, other supply, China's deliveries of that product (cut by that product's own
availability path), stockpile releases, or (at its penalty) a shortfall of the input
that the idle variable turns into a shortfall of the output. Dispatch (how much to idle)
is a decision of year t of the scenario, taken with year t's supply; the stockpile rule's
bounds treat a product made or used by a converter as one whose supply a decision can take
away (remech.model.stockpile.most_shortfall_t).

No cost terms: a converter's running cost is in its unit cost (projects.csv), its revenue
in the floors' and offtakes' economics (remech.model.plants, remech.model.offtake).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from remech.model.data import T_PER_KT as KT
from remech.model.data import Context, ModelData
from remech.model.ledger import linear
from remech.model.supply import BalanceTerms

#: MUSD per kt of idle output (0.1 USD/t): among equally costly dispatches, plants run
IDLE_TIE_BREAK = 1e-4


def prepare(ctx: Context) -> dict:
    """a_jp [j, p]: t of product p used per t of plant j's output (0: none)."""
    pj, cv = ctx.projects, ctx.inst.conversions
    use = np.zeros((len(pj), len(ctx.products)))
    if cv is None or not len(cv):
        return {"chain_input_t_per_t": None}
    pidx = {p: i for i, p in enumerate(ctx.products)}
    generic = cv[cv["project"] == ""]
    for j in range(len(pj)):
        own = cv[cv["project"] == pj.at[j, "project"]]
        rows = own if len(own) else generic[generic["product"] == pj.at[j, "product"]]
        for _, r in rows.iterrows():
            use[j, pidx[r["input"]]] = float(r["input_t_per_t"])
    return {"chain_input_t_per_t": use}


def enabled(data: ModelData) -> bool:
    return data.chain_input_t_per_t is not None and bool(np.any(data.chain_input_t_per_t))


def converters(data: ModelData) -> np.ndarray:
    """[k] project indices of the plants that use other products."""
    return np.flatnonzero(data.chain_input_t_per_t.any(1))


def potential_terms(data: ModelData, support, offtake=None) -> dict[int, list]:
    """j -> [(extra [s, t], var)]: what each supported option (floor or offtake) adds to
    project j's output over q0 (its output outside the mechanism)."""
    out: dict[int, list] = {}
    opt = data.options
    extra = opt.output_t - data.outside_output_t[opt.project]
    for o, j in enumerate(opt.project):
        if np.any(extra[o]):
            out.setdefault(int(j), []).append((extra[o], support.line[o]))
    if offtake is not None:
        for j, terms in offtake.potential.items():
            out.setdefault(j, []).extend(terms)
    return out


@dataclass
class Chain:
    """The handle: the idle variables, the converters and the balance terms."""

    idle: pyo.Var
    cells: list  # (s, t, k) with an idle variable
    plants: np.ndarray  # [k] project index
    balance: BalanceTerms


def add(m: pyo.ConcreteModel, data: ModelData, potential: dict[int, list]) -> Chain:
    """chain_idle_kt, c_chain_idle and the balance terms (see the module docstring)."""
    plants = converters(data)
    use = data.chain_input_t_per_t
    q0 = data.outside_output_t  # [j, s, t]
    n_s, n_t, n_p = data.price_usd_per_kg.shape
    most = np.zeros((len(plants), n_s, n_t))
    for k, j in enumerate(plants):
        most[k] = q0[j] + sum((np.maximum(x, 0.0) for x, _ in potential.get(int(j), [])),
                              np.zeros((n_s, n_t)))
    cells = [(s, t, k) for k in range(len(plants)) for s in range(n_s) for t in range(n_t)
             if most[k, s, t] > 1e-9]
    m.chain_idle_kt = pyo.Var(cells, within=pyo.NonNegativeReals,
                              bounds=lambda m, s, t, k: (0.0, float(most[k, s, t]) / KT))

    def row(m, s, t, k):
        j = int(plants[k])
        terms = [(KT, m.chain_idle_kt[s, t, k])]
        terms += [(-float(x[s, t]), v) for x, v in potential.get(j, []) if x[s, t]]
        return linear(terms) <= float(q0[j, s, t])

    m.c_chain_idle = pyo.Constraint(cells, rule=row)
    # ties: a plant idles only when that lowers the cost (not when China's supply makes
    # running or idling equally costly); removed from every reported cost
    m.chain_tie_break_musd = pyo.Expression(expr=linear(
        [(IDLE_TIE_BREAK, m.chain_idle_kt[c]) for c in cells]) if cells else 0.0)
    terms: dict[tuple[int, int, int], list] = {}
    use_terms: dict[tuple[int, int, int], list] = {}
    rhs = np.zeros((n_s, n_t, n_p))
    taken: set[int] = set()
    for s, t, k in cells:
        j = int(plants[k])
        idle = m.chain_idle_kt[s, t, k]
        p_out = int(data.project_product[j])
        terms.setdefault((s, t, p_out), []).append((-KT, idle))
        taken.add(p_out)
        for p in np.flatnonzero(use[j]):
            a = float(use[j, p])
            mine = [(-a * KT, idle)] + [(a * float(x[s, t]), v)
                                   for x, v in potential.get(j, []) if x[s, t]]
            use_terms.setdefault((s, t, int(p)), []).extend(mine)
            terms.setdefault((s, t, int(p)), []).extend((-c, v) for c, v in mine)
            rhs[s, t, p] += a * q0[j, s, t]
            taken.add(int(p))
    return Chain(m.chain_idle_kt, cells, plants,
                 BalanceTerms(terms, rhs, taken, use_t=rhs, use_terms=use_terms))


def made_and_used(m: pyo.ConcreteModel, data: ModelData, chain: Chain | None,
                  output_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """After the solve: each project's output as made [j, s, t] (possible output less idle)
    and the inputs the converters used [s, t, p]. ``output_t`` [j, s, t]: possible output."""
    made = output_t.copy()
    used = np.zeros(data.price_usd_per_kg.shape)
    if chain is None:
        return made, used
    for (s, t, k), v in chain.idle.items():
        made[int(chain.plants[k]), s, t] -= KT * (v.value or 0.0)
    made = np.maximum(made, 0.0)
    for j in chain.plants:
        used += np.einsum("st,p->stp", made[j], data.chain_input_t_per_t[j])
    return made, used


def _idle_while_stocked(m, data: ModelData, chain: Chain, output_t: np.ndarray,
                       made: np.ndarray) -> float:
    """Expected t of converter output left idle in a year that ends with stock of every
    one of its inputs (a check of the dispatch: the stockpile rule draws a product's stock
    when it is short, but a converter idling could keep its inputs from being short and so
    keep their stock for a later year; idling explained by an input without stock left is
    not counted; 0 means the anticipation never happened)."""
    level = getattr(m, "stock_level_t", None)
    if level is None:
        return 0.0
    held = np.zeros(data.price_usd_per_kg.shape)
    for (s, t, p), v in level.items():
        held[s, t, p] = v.value or 0.0
    total = 0.0
    for j in chain.plants:
        inputs = np.flatnonzero(data.chain_input_t_per_t[j])
        stocked = (held[:, :, inputs] > 1e-6).all(-1)  # [s, t]
        idle = np.maximum(output_t[j] - made[j], 0.0)
        total += float(data.probability @ (idle * stocked).sum(1))
    return total


def report(m: pyo.ConcreteModel, data: ModelData, chain: Chain | None,
           output_t: np.ndarray) -> dict:
    """The chain section: per converter, its expected possible and made output and the
    inputs it used (t over the horizon); chain.csv per plant, scenario and year."""
    if chain is None:
        return {"section": None, "tables": {}}
    made, used = made_and_used(m, data, chain, output_t)
    prob = data.probability
    plants = []
    rows = []
    for j in chain.plants:
        j = int(j)
        possible = float(np.einsum("s,st->", prob, output_t[j]))
        done = float(np.einsum("s,st->", prob, made[j]))
        plants.append({
            "project": data.projects[j], "product": data.products[data.project_product[j]],
            "expected_possible_t": possible, "expected_made_t": done,
            "expected_idle_t": possible - done,
            "inputs_t_per_t": {data.products[p]: float(data.chain_input_t_per_t[j, p])
                               for p in np.flatnonzero(data.chain_input_t_per_t[j])}})
        for s, name in enumerate(data.scenarios):
            for t, year in enumerate(data.years):
                rows.append({"project": data.projects[j], "scenario": name, "year": year,
                             "possible_t": output_t[j, s, t], "made_t": made[j, s, t]})
    exp_used = np.einsum("s,stp->p", prob, used)
    section = {"plants": plants, "expected_input_use_t": {
        data.products[p]: float(exp_used[p]) for p in range(len(data.products))
        if exp_used[p] > 0},
        "expected_idle_while_input_stocked_t": _idle_while_stocked(m, data, chain, output_t,
                                                                   made)}
    return {"section": section, "made_t": made, "used_t": used,
            "tables": {"chain.csv": pd.DataFrame(rows)}}


__all__ = ["Chain", "add", "converters", "enabled", "made_and_used", "potential_terms",
           "prepare", "report"]
