"""Price and disruption scenarios from history: calibration, generation, stress tests,
reduction. Data layer: numpy and pandas only, nothing of Pyomo.

Method (``generate``), per path and year t, for the instance's products jointly:

    log P_t = log P_{t-1} + r_t - kappa (log P_{t-1} - log L)

* r_t: annual log returns of the history (``remech/data/price_history.csv``: USGS/Argus
  FOB China oxide prices 2011-2025), de-meaned (the series starts at the 2011 spike, so
  their mean is a -13 %/yr trend that should not carry into the future; the drift comes
  from the mean reversion), drawn by a circular block bootstrap (blocks of
  ``block`` consecutive years, all products from the same years, so the cross-product
  correlation of the history is kept; Dy and Tb move together);
* kappa: mean-reversion speed per year toward the long-run level L (default: the geometric
  mean of 2014-2025; settable per product);
* P_0: the last history year (2025e), unless given.

Overlays (each path independently):

* export controls with probability ``p_controls``: a start year, a duration of 1 to
  ``controls_max_years`` years and a severity u ~ U(0, 1); China's deliveries to the allies
  fall to a flow ratio between the mild and the severe observation (Dy, Tb: 0.65 -> 0.26;
  NdPr: 1 -> 0.855; fact sheet s.6, [S87][S91]) and ex-China prices rise by up to 3.3x (Dy)
  and 3.6x (Tb) at the severe end ([S88][S1]). The instance's availability column is the
  flow ratio where supply.csv gives China's normal deliveries (the cut base), else the flow
  ratio divided by China's normal supply as a multiple of allied demand.
* strategic flooding with probability ``p_flooding``: in the first year new allied
  capacity of a product comes online (projects.csv), Chinese price suppression lowers that
  product's price by ``flooding_depth`` for ``flooding_years`` years.

Named stress tests replay history from the first year (``stress_tests``).

Scenario trees (``generate_tree``, ``remech scenarios generate --tree 2028:5,2031:4``): the
same recursion and overlays generated node by node; scenarios share a node's path until
their next branching year, and ``nodes.csv`` records the node of every scenario and year.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from remech.errors import InputError
from remech.instance import Instance

DATA = Path(__file__).resolve().parent / "data"
HISTORY_FILE = DATA / "price_history.csv"
#: dated quotes (spikes, troughs) between the annual averages, for the fan charts
MARKERS_FILE = DATA / "price_markers.csv"
#: products without a long history borrow the returns of a proxy for the missing years
PROXY = {"NDPR": "ND", "PR": "ND"}
AVAIL_SEVERE = {"NDPR": 0.855, "ND": 0.855, "PR": 0.855, "DY": 0.26, "TB": 0.26}  # [S87]
AVAIL_MILD = {"NDPR": 1.0, "ND": 1.0, "PR": 1.0, "DY": 0.65, "TB": 0.62}  # [S91]
PREMIUM_SEVERE = {"DY": 3.3, "TB": 3.6}  # [S88][S1]; others 1.0


def load_markers(path: Path = MARKERS_FILE) -> pd.DataFrame:
    """Dated price quotes between the annual averages (fact sheet section 1b): date as a
    decimal year, product, USD/kg, what, source keys."""
    return pd.read_csv(path)


def history_sources(path: Path = HISTORY_FILE) -> pd.DataFrame:
    """price_history.csv as it is: year, product, price, basis, source keys."""
    return pd.read_csv(path)


def load_history(path: Path = HISTORY_FILE) -> pd.DataFrame:
    """Annual prices as a table year x product (USD/kg)."""
    df = pd.read_csv(path)
    return df.pivot(index="year", columns="product", values="price_usd_per_kg").sort_index()


def history_returns(products: list[str], history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Joint annual log returns (years x products), proxies filling missing years."""
    h = load_history() if history is None else history
    unknown = [p for p in products if p not in h.columns and PROXY.get(p) not in h.columns]
    if unknown:
        raise InputError(f"no price history for product '{unknown[0]}'; history covers "
                         f"{', '.join(h.columns)} (remech/data/price_history.csv)")
    logs = np.log(h)
    ret = logs.diff().iloc[1:]
    out = pd.DataFrame(index=ret.index)
    for p in products:
        own = ret[p] if p in ret else pd.Series(np.nan, index=ret.index)
        proxy = ret[PROXY[p]] if p in PROXY and PROXY[p] in ret else own
        out[p] = own.fillna(proxy)
    return out.dropna()


@dataclass
class GeneratorSettings:
    n: int = 100
    seed: int = 0
    block: int = 3
    kappa: float = 0.25
    long_run_usd_per_kg: dict[str, float] = field(default_factory=dict)
    start_usd_per_kg: dict[str, float] = field(default_factory=dict)
    p_controls: float = 0.5
    controls_max_years: int = 2
    p_flooding: float = 0.3
    flooding_depth: float = 0.35
    flooding_years: int = 2
    stress: tuple[str, ...] = ()


@dataclass
class ScenarioSet:
    names: list[str]
    probability: np.ndarray  # [s]
    price: np.ndarray  # [s, t, p] USD/kg
    flow_ratio: np.ndarray  # [s, t, p] China's deliveries / normal (1 = normal)
    description: list[str]
    years: list[int]
    products: list[str]


def _log_paths(draws: np.ndarray, log_start: np.ndarray, long_run: np.ndarray,
               kappa: float) -> np.ndarray:
    """Log-price recursion with mean reversion; draws [s, t, p] and log start prices [p] or
    [s, p] -> log prices [s, t, p]."""
    level = np.broadcast_to(log_start, draws[:, 0].shape).copy()
    out = np.empty_like(draws)
    for t in range(draws.shape[1]):
        level = level + draws[:, t] - kappa * (level - np.log(long_run))
        out[:, t] = level
    return out


def _paths(draws: np.ndarray, start: np.ndarray, long_run: np.ndarray,
           kappa: float) -> np.ndarray:
    """Log-price recursion with mean reversion; draws [s, t, p] -> prices [s, t, p]."""
    return np.exp(_log_paths(draws, np.log(start), long_run, kappa))


def stress_tests(products: list[str], years: list[int], start: np.ndarray,
                 long_run: np.ndarray, kappa: float, returns: pd.DataFrame
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Deterministic replays of history from the first year: name -> (price [t, p],
    flow ratio [t, p], description)."""
    n_t, n_p = len(years), len(products)

    def replay(first: int, last: int, head: np.ndarray | None = None) -> np.ndarray:
        r = np.zeros((1, n_t, n_p))
        seg = returns.loc[first:last].to_numpy()
        if head is not None:
            seg = np.vstack([head, seg])
        r[0, :min(n_t, len(seg))] = seg[:n_t]
        return _paths(r, start, long_run, kappa)[0]

    ones = np.ones((n_t, n_p))
    spike_head = np.log([[2.0 if p in ("NDPR", "ND", "PR") else 3.0 for p in products]])
    controls = ones.copy()
    controls[:2] = [AVAIL_SEVERE.get(p, 1.0) for p in products]
    ctrl_price = _paths(np.zeros((1, n_t, n_p)), start, long_run, kappa)[0]
    ctrl_price[:2] *= [PREMIUM_SEVERE.get(p, 1.0) for p in products]
    return {
        "stress-spike-2011": (replay(2012, 2013, spike_head), ones,
                              "2011-style spike (NdPr x2, others x3) then the 2012-13 crash"),
        "stress-slump-2015": (replay(2015, 2016), ones, "2015-16 slump replayed"),
        "stress-trough-2024": (replay(2023, 2024), ones, "2023-24 slide to the 2024 trough"),
        "stress-controls-2025": (ctrl_price, controls,
                                 "2025-style export controls for two years"),
    }


@dataclass
class _Calibration:
    returns: pd.DataFrame  # the history's joint annual log returns (years x products)
    draws: np.ndarray  # [years, p] the same, de-meaned: what the bootstrap draws from
    start: np.ndarray  # [p] USD/kg
    long_run: np.ndarray  # [p] USD/kg


LONG_RUN_FROM = 2014


def long_run_default(hist: pd.DataFrame, product: str) -> float:
    """The geometric mean of the product's prices from 2014 to the last history year. A
    product whose own series starts later (NdPr oxide: 2021) is chain-linked to its proxy
    (Nd oxide) before that, as its returns are: the proxy's prices scaled by the ratio of
    the two in the first year of the own series. (Before this, NdPr reverted toward the
    mean of 2021-2025 alone, the 2021-22 boom: 79.9 USD/kg instead of 57.6.)"""
    own = hist[product].dropna() if product in hist else pd.Series(dtype=float)
    proxy = PROXY.get(product)
    series = own.loc[LONG_RUN_FROM:]
    if proxy in hist and (own.empty or own.index.min() > LONG_RUN_FROM):
        other = hist[proxy].dropna()
        first = own.index.min() if len(own) else None
        scale = own[first] / other[first] if first in other.index else 1.0
        earlier = other.loc[LONG_RUN_FROM:(first - 1 if first is not None else None)]
        series = pd.concat([earlier * scale, series])
    return float(np.exp(np.log(series).mean()))


def _calibrate(products: list[str], settings: GeneratorSettings) -> _Calibration:
    ret = history_returns(products)
    hist = load_history()
    last = {p: float(hist[p].dropna().iloc[-1]) if p in hist else
            float(hist[PROXY[p]].dropna().iloc[-1]) for p in products}
    start = np.array([settings.start_usd_per_kg.get(p, last[p]) for p in products])
    lr_default = {p: long_run_default(hist, p) for p in products}
    long_run = np.array([settings.long_run_usd_per_kg.get(p, lr_default[p])
                         for p in products])
    r = ret.to_numpy()
    r = r - r.mean(axis=0)  # de-meaned: the long-run level, not 2011's spike, sets the drift
    return _Calibration(ret, r, start, long_run)


def _bootstrap(rng: np.random.Generator, r: np.ndarray, n: int, n_t: int,
               block: int) -> np.ndarray:
    """Circular block bootstrap: n paths of n_t joint annual returns, [n, n_t, p]."""
    n_r = len(r)
    n_blocks = -(-n_t // block)
    starts = rng.integers(n_r, size=(n, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)) % n_r  # [n, blocks, block]
    return r[idx.reshape(n, n_blocks * block)[:, :n_t]]  # [n, t, p]


@dataclass
class _Overlays:
    """Drawn overlays per path: an export-control episode (on, first year index, length,
    severity) and strategic flooding (on)."""
    controls: np.ndarray  # [s] bool
    start: np.ndarray  # [s] year index
    length: np.ndarray  # [s] years
    severity: np.ndarray  # [s] in [0, 1)
    flooding: np.ndarray  # [s] bool

    def take(self, idx: np.ndarray) -> _Overlays:
        return _Overlays(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))


def _apply_overlays(price: np.ndarray, flow: np.ndarray, desc: list[str], ov: _Overlays,
                    years: list[int], products: list[str], settings: GeneratorSettings,
                    first_new_capacity: dict[str, int] | None) -> None:
    """Export controls, then strategic flooding, in place on price, flow and desc."""
    n_t = len(years)
    mild = np.array([AVAIL_MILD.get(p, 1.0) for p in products])
    severe = np.array([AVAIL_SEVERE.get(p, 1.0) for p in products])
    premium = np.array([PREMIUM_SEVERE.get(p, 1.0) for p in products])
    for k in np.flatnonzero(ov.controls):
        span = slice(ov.start[k], min(n_t, ov.start[k] + ov.length[k]))
        ratio = mild + ov.severity[k] * (severe - mild)
        flow[k, span] = ratio
        price[k, span] *= 1 + (premium - 1) * ov.severity[k]
        desc[k] += f"; export controls {years[span.start]}-{years[span.stop - 1]}"
    for i, p in enumerate(products):
        year = (first_new_capacity or {}).get(p)
        if year is None or not years[0] <= year <= years[-1]:
            continue
        t0 = years.index(year)
        span = slice(t0, min(n_t, t0 + settings.flooding_years))
        price[ov.flooding, span, i] *= 1 - settings.flooding_depth
    for k in np.flatnonzero(ov.flooding):
        desc[k] += "; strategic flooding when allied capacity comes online"


def _stress_chosen(settings: GeneratorSettings, names: list[str]) -> list[str]:
    chosen = list(names) if "all" in settings.stress else list(settings.stress)
    for name in chosen:
        if name not in names:
            raise InputError(f"--stress {name}: unknown stress test; use one of: "
                             f"{', '.join(names)}, all")
    return chosen


def generate(products: list[str], years: list[int], settings: GeneratorSettings,
             first_new_capacity: dict[str, int] | None = None) -> ScenarioSet:
    """N equally likely bootstrap paths with overlays, plus the named stress tests."""
    rng = np.random.default_rng(settings.seed)
    cal = _calibrate(products, settings)
    n_t, n = len(years), settings.n
    draws = _bootstrap(rng, cal.draws, n, n_t, settings.block)
    price = _paths(draws, cal.start, cal.long_run, settings.kappa)
    flow = np.ones_like(price)
    desc = ["bootstrap of history"] * n
    controls = rng.random(n) < settings.p_controls
    c_start = rng.integers(n_t, size=n)
    c_len = rng.integers(1, settings.controls_max_years + 1, size=n)
    c_sev = rng.random(n)
    flooding = rng.random(n) < settings.p_flooding
    _apply_overlays(price, flow, desc, _Overlays(controls, c_start, c_len, c_sev, flooding),
                    years, products, settings, first_new_capacity)

    names = [f"gen{k + 1:05d}" for k in range(n)]
    prob = np.full(n, 1.0 / n) if n else np.zeros(0)
    stress = stress_tests(products, years, cal.start, cal.long_run, settings.kappa,
                          cal.returns)
    chosen = _stress_chosen(settings, list(stress))
    if chosen:
        extra = np.array([stress[s][0] for s in chosen])
        price = np.concatenate([price, extra]) if n else extra
        flow = np.concatenate([flow, np.array([stress[s][1] for s in chosen])]) if n else \
            np.array([stress[s][1] for s in chosen])
        names += chosen
        desc += [stress[s][2] for s in chosen]
        prob = np.full(len(names), 1.0 / len(names))
    return ScenarioSet(names, prob, price, flow, desc, years, products)


MAX_TREE_SCENARIOS = 100_000
TREE_EXAMPLE = "2028:5,2031:4"


def tree_spec(branchings: list[tuple[int, int]]) -> str:
    return ",".join(f"{y}:{f}" for y, f in branchings)


def parse_tree(text: str, years: list[int]) -> list[tuple[int, int]]:
    """'2028:5,2031:4' -> [(2028, 5), (2031, 4)]: branching years (ascending, in the
    horizon) and the number of children of every node there (integers >= 1)."""
    out: list[tuple[int, int]] = []
    parts = [x.strip() for x in text.split(",")]
    if not any(parts):
        raise InputError(f"--tree '{text}': no branching year; write branching years and "
                         f"factors like {TREE_EXAMPLE}")
    for part in parts:
        year, sep, factor = part.partition(":")
        try:
            y = int(year)
        except ValueError:
            y = None
        if y is None or not sep:
            raise InputError(f"--tree {text}: '{part}' is not YEAR:FACTOR; write branching "
                             f"years and factors like {TREE_EXAMPLE}")
        try:
            f = int(factor)
        except ValueError:
            f = 0
        if f < 1:
            raise InputError(f"--tree {text}: factor '{factor.strip()}' for {y} is not an "
                             f"integer >= 1; give every branching year a whole number of "
                             f"children, e.g. {y}:3")
        if not years[0] <= y <= years[-1]:
            raise InputError(f"--tree {text}: branching year {y} is outside the horizon "
                             f"{years[0]}-{years[-1]}; use years {years[0]}-{years[-1]} "
                             "(instance.toml first_year/last_year)")
        if out and y <= out[-1][0]:
            raise InputError(f"--tree {text}: branching year {y} does not come after "
                             f"{out[-1][0]}; list each branching year once, in ascending "
                             "order")
        out.append((y, f))
    leaves = int(np.prod([f for _, f in out], dtype=object))
    if leaves > MAX_TREE_SCENARIOS:
        raise InputError(f"--tree {text}: {leaves:,} scenarios (the product of the factors) "
                         f"exceed the limit of {MAX_TREE_SCENARIOS:,}; use fewer branching "
                         "years or smaller factors")
    return out


def generate_tree(products: list[str], years: list[int], settings: GeneratorSettings,
                  branchings: list[tuple[int, int]],
                  first_new_capacity: dict[str, int] | None = None
                  ) -> tuple[ScenarioSet, np.ndarray]:
    """A scenario tree: returns the leaves as scenarios and their node per year
    ([scenarios, years] of names such as 'r/3/1').

    All scenarios share the root's path until the first branching year; at a branching
    year (y, f) every node gets f children, which share every year before y and may
    differ from y on. Each node's path is one bootstrap path (blocks restart at the node's
    first year) continuing from its parent's last log price level with the same mean
    reversion; so are the overlays. An export-control episode starts in a node with the
    probability that, over the whole horizon, makes each leaf's chance of an episode
    ``p_controls`` with a uniform first year, as in ``generate`` (one episode per path);
    flooding is decided in the node of the first year new allied capacity comes online.
    Decided overlays pass to all descendants. Leaves are equally likely: the product of
    1 / factor over the branching years. No named stress tests: they replay history
    from the first year and cannot share the root."""
    if settings.stress:
        raise InputError(f"--stress {','.join(settings.stress)}: the named stress tests "
                         "replay history from the first year and cannot share the root of "
                         f"a scenario tree (--tree {tree_spec(branchings)}); drop --stress, "
                         "or generate them without --tree")
    rng = np.random.default_rng(settings.seed)
    cal = _calibrate(products, settings)
    n_t, n_p = len(years), len(products)
    # segments of the horizon: (first year index, children per node at its start)
    segments = [] if branchings[0][0] == years[0] else [(0, 1)]
    segments += [(years.index(y), f) for y, f in branchings]
    bounds = [a for a, _ in segments] + [n_t]
    n_leaves = int(np.prod([f for _, f in segments]))
    capacity = [years.index(y) for y in (first_new_capacity or {}).values()
                if years[0] <= y <= years[-1]]
    t_flood = min(capacity) if capacity else 0
    p_c = settings.p_controls

    log_price = np.empty((n_leaves, n_t, n_p))
    node = np.empty((n_leaves, n_t), dtype=object)
    names = ["r"]
    log_level = np.log(cal.start)[None]  # [nodes, p] at the end of the parent's segment
    ov = _Overlays(np.zeros(1, bool), np.zeros(1, np.int64), np.ones(1, np.int64),
                   np.zeros(1), np.zeros(1, bool))
    n_nodes = 1
    for j, (a, f) in enumerate(segments):
        b, length = bounds[j + 1], bounds[j + 1] - a
        root = j == 0 and branchings[0][0] != years[0]  # the shared root path
        n_nodes *= f
        if not root:
            names = [f"{names[k // f]}/{k % f + 1}" for k in range(n_nodes)]
        parent = np.arange(n_nodes) // f
        ov = ov.take(parent)
        draws = _bootstrap(rng, cal.draws, n_nodes, length, settings.block)
        seg = _log_paths(draws, log_level[parent], cal.long_run, settings.kappa)
        log_level = seg[:, -1]
        # an episode starts here with P(start in [a, b) | none before a)
        new = ~ov.controls & (rng.random(n_nodes) < p_c * length / (n_t - p_c * a))
        c_start = a + rng.integers(length, size=n_nodes)
        c_len = rng.integers(1, settings.controls_max_years + 1, size=n_nodes)
        c_sev = rng.random(n_nodes)
        ov.controls = ov.controls | new
        ov.start = np.where(new, c_start, ov.start)
        ov.length = np.where(new, c_len, ov.length)
        ov.severity = np.where(new, c_sev, ov.severity)
        if a <= t_flood < b:
            ov.flooding = rng.random(n_nodes) < settings.p_flooding
        ancestor = np.arange(n_leaves) // (n_leaves // n_nodes)
        log_price[:, a:b] = seg[ancestor]
        node[:, a:b] = np.asarray(names, dtype=object)[ancestor][:, None]
    price = np.exp(log_price)
    flow = np.ones_like(price)
    desc = [f"bootstrap of history (tree leaf {leaf})" for leaf in names]
    _apply_overlays(price, flow, desc, ov, years, products, settings, first_new_capacity)
    sset = ScenarioSet([f"gen{k + 1:05d}" for k in range(n_leaves)],
                       np.full(n_leaves, 1.0 / n_leaves), price, flow, desc, years, products)
    return sset, node


def nodes_table(sset: ScenarioSet, node: np.ndarray, source: str) -> pd.DataFrame:
    """nodes.csv: the tree node of every scenario in every year."""
    idx = pd.MultiIndex.from_product([sset.names, sset.years], names=["scenario", "year"])
    out = pd.DataFrame({"node": node.ravel()}, index=idx).reset_index()
    out["source"] = source
    return out


def first_new_capacity(inst: Instance) -> dict[str, int]:
    new = inst.projects[inst.projects["status"] == "new"]
    return new.groupby("product")["start_year"].min().astype(int).to_dict()


def china_multiple(inst: Instance) -> np.ndarray:
    """What a flow ratio is divided by to give the instance's availability, per (year,
    product): 1 where supply.csv gives China's normal deliveries (the availability is then
    the flow ratio itself, a share of those deliveries); else China's normal supply as a
    multiple of allied demand (the older convention: availability scales china_supply_t)."""
    demand = inst.demand.groupby(["year", "product"])["demand_t"].sum()
    table = inst.supply.set_index(["year", "product"])
    supply = table["china_supply_t"]
    ratio = (supply / demand.reindex(supply.index)).replace([np.inf], np.nan).fillna(1.0)
    if "china_normal_deliveries_t" in table:
        ratio = ratio.where(table["china_normal_deliveries_t"].isna(), 1.0)
    years, products = inst.years, inst.products["product"].tolist()
    full = pd.MultiIndex.from_product([years, products])
    return ratio.reindex(full, fill_value=1.0).to_numpy().reshape(len(years), len(products))


def to_tables(sset: ScenarioSet, multiple: np.ndarray, source: str
              ) -> dict[str, pd.DataFrame]:
    """scenarios.csv, prices.csv and availability.csv in the instance format."""
    # a year at the normal flow (ratio >= 1) is no cut (availability 1), whatever the
    # multiple: under the older convention (multiple 2) it used to be written as 0.5, which
    # made every year a cut year (no stockpile purchases under the rule)
    avail = np.where(sset.flow_ratio >= 1.0, 1.0,
                     np.minimum(sset.flow_ratio / np.maximum(multiple[None], 1e-12), 1.0))
    idx = pd.MultiIndex.from_product([sset.names, sset.years, sset.products],
                                     names=["scenario", "year", "product"])
    prices = pd.DataFrame({"price_usd_per_kg": np.round(sset.price.ravel(), 4)},
                          index=idx).reset_index()
    prices["source"] = source
    av = pd.DataFrame({"china_availability": np.round(avail.ravel(), 6)}, index=idx)
    av = av[av["china_availability"] < 1].reset_index()
    av["source"] = source
    scen = pd.DataFrame({"scenario": sset.names,
                         "probability": [f"{p:.15g}" for p in sset.probability],
                         "description": sset.description, "source": source})
    return {"scenarios.csv": scen, "prices.csv": prices, "availability.csv": av}


def scenario_set(inst: Instance) -> ScenarioSet:
    """The instance's own scenarios as arrays (flow ratio = availability x multiple)."""
    names = inst.scenarios["scenario"].tolist()
    years, products = inst.years, inst.products["product"].tolist()
    idx = pd.MultiIndex.from_product([names, years, products])
    price = inst.prices.set_index(["scenario", "year", "product"])["price_usd_per_kg"]
    price = price.reindex(idx).to_numpy().reshape(len(names), len(years), len(products))
    av = inst.availability.set_index(["scenario", "year", "product"])["china_availability"]
    av = av.reindex(idx, fill_value=1.0).to_numpy().reshape(price.shape)
    return ScenarioSet(names, inst.scenarios["probability"].to_numpy(float), price,
                       np.where(av >= 1.0, 1.0, av * china_multiple(inst)[None]),
                       inst.scenarios["description"].tolist(),
                       years, products)


def write_instance(inst: Instance, tables: dict[str, pd.DataFrame], out: Path,
                   force: bool) -> None:
    """Copy the instance folder to ``out`` with new scenario tables (temp + rename)."""
    from remech.outdir import replace_folder

    out = Path(out)
    default = inst.default_model

    def fill(tmp: Path) -> None:
        for src in inst.folder.iterdir():  # the instance's own files, not remech's marker
            if src.name.startswith(".remech-") or src.is_symlink():
                continue
            if src.is_dir():
                shutil.copytree(src, tmp / src.name)
            else:
                shutil.copy2(src, tmp / src.name)
        if "nodes.csv" not in tables:  # the old scenario tree does not fit new scenarios
            (tmp / "nodes.csv").unlink(missing_ok=True)
        for name, df in tables.items():
            df.to_csv(tmp / name, index=False)
        if default is not None:  # keep the default design reachable, never outside the folder
            value = _portable_default(default, inst.folder, tmp)
            root = (tmp / "instance.toml").read_text(encoding="utf-8-sig")
            lines = [f"default_model = {json.dumps(value)}"
                     if ln.strip().startswith("default_model") else ln
                     for ln in root.splitlines()]
            (tmp / "instance.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        # cite the history's sources: add the keys the new rows use if the instance lacks them
        ours = pd.read_csv(DATA / "sources.csv", dtype=str, keep_default_na=False)
        theirs = pd.read_csv(tmp / "sources.csv", dtype=str, keep_default_na=False)
        missing = ours[~ours["key"].isin(theirs["key"])]
        if len(missing):
            pd.concat([theirs, missing]).to_csv(tmp / "sources.csv", index=False)

    replace_folder(out, fill, force, "instance")


def _portable_default(default: Path, source: Path, new_folder: Path) -> str:
    """default_model for a copy of an instance: the name of a shipped design, a file inside
    the folder (copied with it), or else the design file copied into the new folder."""
    from remech.design import shipped_designs

    default = Path(default).resolve()
    for name, path in shipped_designs().items():
        if path.resolve() == default:
            return name
    try:
        return default.relative_to(Path(source).resolve()).as_posix()
    except ValueError:
        pass
    target = new_folder / default.name
    if target.exists() and target.read_bytes() != default.read_bytes():
        target = new_folder / f"design-{default.name}"
    shutil.copyfile(default, target)
    return target.name


def features(sset: ScenarioSet) -> np.ndarray:
    """Path features for distances: log prices standardised per product, and flow ratios."""
    logp = np.log(sset.price)
    scale = logp.reshape(-1, logp.shape[-1]).std(axis=0)
    scale[scale == 0] = 1.0
    return np.concatenate([(logp / scale).reshape(len(sset.names), -1),
                           sset.flow_ratio.reshape(len(sset.names), -1) * 3.0], axis=1)


def fast_forward_selection(x: np.ndarray, prob: np.ndarray, k: int
                           ) -> tuple[np.ndarray, np.ndarray, float]:
    """Heitsch and Roemisch (2003) fast forward selection of k scenarios.

    Returns (kept indices, their new probabilities: each deleted scenario's probability
    goes to its nearest kept one, Kantorovich distance between the full and reduced
    distributions under the Euclidean distance of ``x``)."""
    n = len(x)
    k = min(k, n)
    x = np.asarray(x, dtype=np.float64)
    sq = (x * x).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)).astype(
        np.float32)
    np.fill_diagonal(dist, 0.0)
    p32 = prob.astype(np.float64)
    # score[u] = sum_k p_k min(best_k, dist[k, u]): the Kantorovich distance if u is added.
    # Updated incrementally: adding u* only changes the rows k whose best distance falls.
    score = p32 @ dist
    best = np.full(n, np.inf, dtype=np.float32)
    kept: list[int] = []
    free = np.ones(n, bool)
    for _ in range(k):
        masked = np.where(free, score, np.inf)
        u = int(np.argmin(masked))
        kept.append(u)
        free[u] = False
        new_best = np.minimum(best, dist[:, u])
        changed = np.flatnonzero(new_best < best)
        if len(changed):
            rows = dist[changed]
            old = np.minimum(best[changed, None], rows)
            new = np.minimum(new_best[changed, None], rows)
            score += p32[changed] @ (new - old).astype(np.float64)
        best = new_best
    kept_arr = np.array(kept)
    nearest = kept_arr[np.argmin(dist[:, kept_arr], axis=1)]
    new_prob = np.array([prob[nearest == u].sum() for u in kept_arr])
    distance = float(prob @ dist[np.arange(n), nearest].astype(np.float64))
    return kept_arr, new_prob, distance


def reduce(sset: ScenarioSet, k: int) -> tuple[ScenarioSet, float]:
    kept, prob, distance = fast_forward_selection(features(sset), sset.probability, k)
    order = np.argsort(kept)
    kept, prob = kept[order], prob[order]
    out = dataclasses.replace(
        sset, names=[sset.names[i] for i in kept], probability=prob,
        price=sset.price[kept], flow_ratio=sset.flow_ratio[kept],
        description=[sset.description[i] for i in kept])
    return out, distance


def statistics(sset: ScenarioSet) -> dict:
    """Annual log-return standard deviation per product and the return correlations."""
    r = np.diff(np.log(sset.price), axis=1).reshape(-1, len(sset.products))
    corr = np.corrcoef(r.T)
    return {"std": dict(zip(sset.products, r.std(axis=0).tolist(), strict=True)),
            "corr": {f"{a}-{b}": float(corr[i, j]) for i, a in enumerate(sset.products)
                     for j, b in enumerate(sset.products) if i < j}}


def history_statistics(products: list[str]) -> dict:
    r = history_returns(products).to_numpy()
    corr = np.corrcoef(r.T)
    return {"std": dict(zip(products, r.std(axis=0).tolist(), strict=True)),
            "corr": {f"{a}-{b}": float(corr[i, j]) for i, a in enumerate(products)
                     for j, b in enumerate(products) if i < j}}


def generated_tables(inst: Instance, settings: GeneratorSettings, tree: str | None,
                     n_given: bool = False
                     ) -> tuple[ScenarioSet, dict[str, pd.DataFrame], str]:
    """The scenario tables of ``remech scenarios generate``: N independent paths, or a
    scenario tree (``tree``: a spec such as 2028:5,2031:4, with nodes.csv; ``n_given``: the
    user also gave -n, which a tree refuses). Returns the scenario set, the tables and a
    note on the tree's shape ('' without one)."""
    products = inst.products["product"].tolist()
    s = settings
    if tree is None:
        sset = generate(products, inst.years, s, first_new_capacity(inst))
        if not sset.names:
            raise InputError("-n 0 and no --stress: nothing to generate; give -n or --stress")
        source = (f"derived: remech scenarios generate (seed {s.seed}, n {s.n}, block "
                  f"{s.block}, mean reversion {s.kappa}) from oxide price history "
                  "[S1][S2][S3][S4][S5]; overlays [S87][S88][S91]; assumption: overlay "
                  "probabilities")
        return sset, to_tables(sset, china_multiple(inst), source), ""
    branchings = parse_tree(tree, inst.years)
    spec = tree_spec(branchings)
    if n_given:
        raise InputError(f"-n {s.n}: with --tree {spec} the number of scenarios is the "
                         "product of the factors; drop -n")
    sset, node = generate_tree(products, inst.years, s, branchings, first_new_capacity(inst))
    source = (f"derived: remech scenarios generate (seed {s.seed}, tree {spec}, block "
              f"{s.block}, mean reversion {s.kappa}) from oxide price history "
              "[S1][S2][S3][S4][S5]; overlays [S87][S88][S91]; assumption: overlay "
              "probabilities, equally likely branches")
    tables = to_tables(sset, china_multiple(inst), source)
    tables["nodes.csv"] = nodes_table(sset, node, source)
    return sset, tables, f"; scenario tree {spec}: {len(set(node.ravel()))} nodes in nodes.csv"


def calibration(sset: ScenarioSet) -> dict:
    """The generated paths' return volatility and correlation against history, as JSON:
    {"std": {product: {"generated", "history"}}, "corr": {pair: {...}}}."""
    products = list(sset.products)
    hist, gen = history_statistics(products), statistics(sset)
    return {what: {k: {"generated": float(gen[what][k]), "history": float(hist[what][k])}
                   for k in gen[what]} for what in ("std", "corr")}


def calibration_text(sset: ScenarioSet) -> str:
    """The generated paths' return volatility and correlation against history."""
    products = list(sset.products)
    hist, gen = history_statistics(products), statistics(sset)
    return ("annual log-return std  " + ", ".join(
        f"{p} {gen['std'][p]:.3f} (history {hist['std'][p]:.3f})" for p in products)
        + "\nreturn correlation     " + ", ".join(
        f"{k} {gen['corr'][k]:.2f} (history {hist['corr'][k]:.2f})" for k in gen["corr"]))
