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
  flow ratio divided by China's normal supply as a multiple of allied demand.
* strategic flooding with probability ``p_flooding``: in the first year new allied
  capacity of a product comes online (projects.csv), Chinese price suppression lowers that
  product's price by ``flooding_depth`` for ``flooding_years`` years.

Named stress tests replay history from the first year (``STRESS``).
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
#: products without a long history borrow the returns of a proxy for the missing years
PROXY = {"NDPR": "ND", "PR": "ND"}
AVAIL_SEVERE = {"NDPR": 0.855, "ND": 0.855, "PR": 0.855, "DY": 0.26, "TB": 0.26}  # [S87]
AVAIL_MILD = {"NDPR": 1.0, "ND": 1.0, "PR": 1.0, "DY": 0.65, "TB": 0.62}  # [S91]
PREMIUM_SEVERE = {"DY": 3.3, "TB": 3.6}  # [S88][S1]; others 1.0


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


def _paths(draws: np.ndarray, start: np.ndarray, long_run: np.ndarray,
           kappa: float) -> np.ndarray:
    """Log-price recursion with mean reversion; draws [s, t, p] -> prices [s, t, p]."""
    level = np.broadcast_to(np.log(start), draws[:, 0].shape).copy()
    out = np.empty_like(draws)
    for t in range(draws.shape[1]):
        level = level + draws[:, t] - kappa * (level - np.log(long_run))
        out[:, t] = level
    return np.exp(out)


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


def generate(products: list[str], years: list[int], settings: GeneratorSettings,
             first_new_capacity: dict[str, int] | None = None) -> ScenarioSet:
    """N equally likely bootstrap paths with overlays, plus the named stress tests."""
    rng = np.random.default_rng(settings.seed)
    ret = history_returns(products)
    hist = load_history()
    n_t, n = len(years), settings.n
    last = {p: float(hist[p].dropna().iloc[-1]) if p in hist else
            float(hist[PROXY[p]].dropna().iloc[-1]) for p in products}
    start = np.array([settings.start_usd_per_kg.get(p, last[p]) for p in products])
    lr_default = {p: float(np.exp(np.log(hist[p if p in hist else PROXY[p]]
                                         .loc[2014:].dropna()).mean())) for p in products}
    long_run = np.array([settings.long_run_usd_per_kg.get(p, lr_default[p])
                         for p in products])
    r = ret.to_numpy()
    r = r - r.mean(axis=0)  # de-meaned: the long-run level, not 2011's spike, sets the drift
    n_r = len(r)
    n_blocks = -(-n_t // settings.block)
    starts = rng.integers(n_r, size=(n, n_blocks))
    idx = (starts[:, :, None] + np.arange(settings.block)) % n_r  # [n, blocks, block]
    draws = r[idx.reshape(n, n_blocks * settings.block)[:, :n_t]]  # [n, t, p]
    price = _paths(draws, start, long_run, settings.kappa)
    flow = np.ones_like(price)
    desc = ["bootstrap of history"] * n

    controls = rng.random(n) < settings.p_controls
    c_start = rng.integers(n_t, size=n)
    c_len = rng.integers(1, settings.controls_max_years + 1, size=n)
    c_sev = rng.random(n)
    mild = np.array([AVAIL_MILD.get(p, 1.0) for p in products])
    severe = np.array([AVAIL_SEVERE.get(p, 1.0) for p in products])
    premium = np.array([PREMIUM_SEVERE.get(p, 1.0) for p in products])
    for k in np.flatnonzero(controls):
        span = slice(c_start[k], min(n_t, c_start[k] + c_len[k]))
        ratio = mild + c_sev[k] * (severe - mild)
        flow[k, span] = ratio
        price[k, span] *= 1 + (premium - 1) * c_sev[k]
        desc[k] += f"; export controls {years[span.start]}-{years[span.stop - 1]}"

    flooding = rng.random(n) < settings.p_flooding
    for i, p in enumerate(products):
        year = (first_new_capacity or {}).get(p)
        if year is None or not years[0] <= year <= years[-1]:
            continue
        t0 = years.index(year)
        span = slice(t0, min(n_t, t0 + settings.flooding_years))
        price[flooding, span, i] *= 1 - settings.flooding_depth
    for k in np.flatnonzero(flooding):
        desc[k] += "; strategic flooding when allied capacity comes online"

    names = [f"gen{k + 1:05d}" for k in range(n)]
    prob = np.full(n, 1.0 / n) if n else np.zeros(0)
    stress = stress_tests(products, years, start, long_run, settings.kappa, ret)
    chosen = list(stress) if "all" in settings.stress else list(settings.stress)
    for name in chosen:
        if name not in stress:
            raise InputError(f"--stress {name}: unknown stress test; use one of: "
                             f"{', '.join(stress)}, all")
    if chosen:
        extra = np.array([stress[s][0] for s in chosen])
        price = np.concatenate([price, extra]) if n else extra
        flow = np.concatenate([flow, np.array([stress[s][1] for s in chosen])]) if n else \
            np.array([stress[s][1] for s in chosen])
        names += chosen
        desc += [stress[s][2] for s in chosen]
        prob = np.full(len(names), 1.0 / len(names))
    return ScenarioSet(names, prob, price, flow, desc, years, products)


def first_new_capacity(inst: Instance) -> dict[str, int]:
    new = inst.projects[inst.projects["status"] == "new"]
    return new.groupby("product")["start_year"].min().astype(int).to_dict()


def china_multiple(inst: Instance) -> np.ndarray:
    """China's normal supply as a multiple of allied demand, per (year, product)."""
    demand = inst.demand.groupby(["year", "product"])["demand_t"].sum()
    supply = inst.supply.set_index(["year", "product"])["china_supply_t"]
    ratio = (supply / demand.reindex(supply.index)).replace([np.inf], np.nan).fillna(1.0)
    years, products = inst.years, inst.products["product"].tolist()
    full = pd.MultiIndex.from_product([years, products])
    return ratio.reindex(full, fill_value=1.0).to_numpy().reshape(len(years), len(products))


def to_tables(sset: ScenarioSet, multiple: np.ndarray, source: str
              ) -> dict[str, pd.DataFrame]:
    """scenarios.csv, prices.csv and availability.csv in the instance format."""
    avail = np.minimum(sset.flow_ratio / np.maximum(multiple[None], 1e-12), 1.0)
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
                       av * china_multiple(inst)[None], inst.scenarios["description"].tolist(),
                       years, products)


def write_instance(inst: Instance, tables: dict[str, pd.DataFrame], out: Path,
                   force: bool) -> None:
    """Copy the instance folder to ``out`` with new scenario tables (temp + rename)."""
    out = Path(out)
    if out.exists() and not force:
        raise InputError(f"{out}: output folder exists; pass --force to replace it or "
                         "choose another -o")
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(inst.folder, tmp)
    default = inst.default_model
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
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


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
