"""The shipped instance against the facts (issue 9, item 9): de-meaned price paths, the cut
base, and the incentive-price calibration stated in README.md ('Calibration').

The figures asserted here are the ones the README states; if the instance is rebuilt, update
both together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import REAL
from remech import bankability as bk
from remech.design import load_design
from remech.instance import load_instance
from remech.scenarios import GeneratorSettings, load_history, long_run_default, scenario_set

PRODUCTS = ["NDPR", "DY", "TB"]
KAPPA = GeneratorSettings().kappa
#: band for the mean annual log-return innovation (the return net of the mean-reversion
#: pull) of the shipped paths without overlays: the history's own means, which the old
#: bootstrap carried into the future, lie far outside (NdPr -0.07, Dy -0.13, Tb -0.07 per
#: year; measured on the old shipped paths: -0.087, -0.138, -0.095)
DEMEANED_BAND = 0.05


def test_shipped_paths_are_de_meaned():
    inst = load_instance(REAL)
    sset = scenario_set(inst)
    calm = [i for i, d in enumerate(sset.description) if d == "bootstrap of history"]
    assert len(calm) >= 15
    hist = load_history()
    log_run = np.log([long_run_default(hist, p) for p in PRODUCTS])
    logp = np.log(sset.price[calm])  # [s, t, p]
    prev = np.concatenate([np.broadcast_to(np.log(hist.loc[2025, PRODUCTS].to_numpy(
        float)), (len(calm), 1, 3)), logp[:, :-1]], axis=1)
    innovation = logp - prev + KAPPA * (prev - log_run)
    assert np.abs(innovation.mean(axis=(0, 1))).max() <= DEMEANED_BAND
    # and the plain mean annual log return of every generated path, overlays included
    gen = [i for i, n in enumerate(sset.names) if n.startswith("gen")]
    plain = np.diff(np.log(sset.price[gen]), axis=1).mean(axis=(0, 1))
    assert np.abs(plain).max() <= DEMEANED_BAND


def test_shipped_cut_base_is_normal_deliveries():
    inst = load_instance(REAL)
    demand = inst.demand.groupby(["product", "year"])["demand_t"].sum()
    supply = inst.supply.set_index(["product", "year"])
    existing = {"NDPR": 6558 + 4000 + 925, "DY": 579, "TB": 102}  # at capacity from 2026
    for (p, y), row in supply.iterrows():
        assert row["china_normal_deliveries_t"] == pytest.approx(
            demand[p, y] - existing[p], abs=0.5)
        assert row["china_supply_t"] == pytest.approx(2 * demand[p, y], abs=0.5)
    # availability is the flow ratio: Dy/Tb at most cut to 0.26, NdPr to 0.855 [S87]
    av = inst.availability.groupby("product")["china_availability"].min()
    assert av["DY"] >= 0.26 - 1e-9 and av["NDPR"] >= 0.855 - 1e-9


def ndpr_table(hurdle: float) -> pd.DataFrame:
    inst = load_instance(REAL)
    rows = bk.table(inst, load_design(inst.default_model), {"NDPR": [54, 75, 85, 110]},
                    hurdle)  # the default design: 10 tail years, no contract_years
    return rows[rows["product"] == "NDPR"].set_index("project")


def test_benchmark_incentive_band_at_15_percent():
    # README 'Calibration': at a 15 % hurdle no NdPr-led plant's incentive price is at or
    # below 54 USD/kg (Benchmark: none earns 15 % at ~54 [S67]): reproduced, narrowly
    # (EF-WM2 54.2 with its Dy and Tb lines at market prices, LYN-EXP 56.0). Caremag (CAR),
    # a heavy-RE plant with an 800 t NdPr line, needs no NdPr price: its Dy and Tb lines at
    # the scenarios' prices repay its capex in expectation. Benchmark's ~40 % of the
    # pipeline at 75-85 and ~15 % above 85 is not reproduced: 7 of 9 plants (93 % of new
    # NdPr capacity) need 54-75, none 75-85, only the stalled LYN-TX (4 %) more than 85.
    t = ndpr_table(0.15)
    price = t["incentive_usd_per_kg"]
    assert len(t) == 9
    assert price["CAR"] == 0.0
    led = price.drop("CAR")
    assert led.min() == pytest.approx(54.2, abs=0.05)  # EF-WM2
    assert (led > 54).all()
    assert ((price > 54) & (price <= 75)).sum() == 7
    assert not ((price > 75) & (price <= 85)).any()
    assert price[price > 85].index.tolist() == ["LYN-TX"]
    assert price["LYN-TX"] == pytest.approx(87.4, abs=0.05)
    assert price["ILU"] == pytest.approx(69.1, abs=0.05)  # the whole plant's capex, once
    share = bk.bands(t.reset_index(), {"NDPR": [54, 75, 85, 110]})["capacity_share"]
    assert share.round(2).tolist() == [0.03, 0.93, 0.0, 0.04, 0.0]
    # expected NPV over the scenarios: four are bankable at market prices, all at 85
    assert sorted(t.index[t["bankable_market"]]) == ["CAR", "EF-WM2", "LYN-EXP", "SOL-NDPR"]
    assert t["bankable_at_85"].all() and not t["bankable_at_75"]["LYN-TX"]


def test_incentive_prices_at_8_percent():
    price = ndpr_table(0.08)["incentive_usd_per_kg"]
    assert price.min() == 0.0  # CAR
    assert price.max() == pytest.approx(74.6, abs=0.05)
    assert (price <= 54).sum() == 3
