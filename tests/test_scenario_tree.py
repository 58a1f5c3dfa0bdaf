"""remech scenarios generate --tree: a scenario tree for decisions that cannot see the future."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import MODELS, REAL, solve
from remech.cli import main
from remech.errors import InputError
from remech.instance import load_instance
from remech.scenarios import (
    GeneratorSettings,
    generate_tree,
    history_statistics,
    parse_tree,
    statistics,
)

PRODUCTS, YEARS = ["NDPR", "DY", "TB"], list(range(2026, 2036))
TABLES = ("scenarios.csv", "prices.csv", "availability.csv", "nodes.csv")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def shares_history(price: np.ndarray, flow: np.ndarray, node: np.ndarray) -> None:
    """Scenarios sharing a node in year t share every earlier node and all values up to t."""
    for t in range(node.shape[1]):
        for name in set(node[:, t]):
            members = np.flatnonzero(node[:, t] == name)
            assert len(set(node[members, t - 1])) == 1 if t else True
            for k in members[1:]:
                assert (price[k, :t + 1] == price[members[0], :t + 1]).all()
                assert (flow[k, :t + 1] == flow[members[0], :t + 1]).all()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("tree") / "t"
    r = invoke("scenarios", "generate", REAL, "--tree", "2027:3,2030:2", "-o", out)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("wrote 6 scenarios to ")
    assert "scenario tree 2027:3,2030:2: 10 nodes in nodes.csv" in r.stdout
    return out


def test_generated_tree_validates_and_shares_history_up_to_each_node(tree):
    inst = load_instance(tree)  # runs the tree check of nodes.csv
    assert invoke("validate", tree).exit_code == 0
    names = inst.scenarios["scenario"].tolist()
    prob = inst.scenarios["probability"].to_numpy(float)
    assert prob.sum() == pytest.approx(1.0)
    assert prob == pytest.approx(np.full(6, 1 / 3 * 1 / 2), abs=1e-12)
    node = inst.nodes.pivot(index="scenario", columns="year", values="node").loc[names]
    assert set(node[2026]) == {"r"}
    assert set(node[2029]) == {"r/1", "r/2", "r/3"} and set(node[2030]) == {
        f"r/{i}/{j}" for i in (1, 2, 3) for j in (1, 2)}
    assert (node[2027] == node[2029]).all() and (node[2030] == node[2035]).all()
    idx = pd.MultiIndex.from_product([names, inst.years, PRODUCTS])
    price = (inst.prices.set_index(["scenario", "year", "product"])["price_usd_per_kg"]
             .reindex(idx).to_numpy().reshape(6, 10, 3))
    av = (inst.availability.set_index(["scenario", "year", "product"])["china_availability"]
          .reindex(idx, fill_value=1.0).to_numpy().reshape(6, 10, 3))
    shares_history(price, av, node.to_numpy())
    # children differ from their branching year on
    assert len({tuple(price[k, 1]) for k in range(6)}) == 3  # 2027: one path per r/i
    assert len({tuple(price[k, 4]) for k in range(6)}) == 6  # 2030: one path per leaf
    source = pd.read_csv(tree / "nodes.csv")["source"]
    assert (source == pd.read_csv(tree / "prices.csv")["source"][0]).all()
    assert source[0].startswith("derived: remech scenarios generate (seed 0, tree 2027:3,2030:2")


def test_same_seed_gives_the_same_tree(tree, tmp_path):
    r = invoke("scenarios", "generate", REAL, "--tree", "2027:3,2030:2", "-o", tmp_path / "b")
    assert r.exit_code == 0, r.output
    for f in TABLES:
        assert filecmp.cmp(tree / f, tmp_path / "b" / f, shallow=False), f
    r = invoke("scenarios", "generate", REAL, "--tree", "2027:3,2030:2", "--seed", 1,
               "-o", tmp_path / "c")
    assert not filecmp.cmp(tree / "prices.csv", tmp_path / "c" / "prices.csv", shallow=False)


def test_overlays_are_decided_in_a_node_and_inherited():
    spec, capacity = parse_tree("2027:4,2029:3,2032:2", YEARS), {"NDPR": 2028}
    s, node = generate_tree(PRODUCTS, YEARS, GeneratorSettings(seed=2, p_controls=1,
                                                               p_flooding=0.5),
                            spec, first_new_capacity=capacity)
    assert len(s.names) == 24 and s.probability == pytest.approx(np.full(24, 1 / 24))
    shares_history(s.price, s.flow_ratio, node)
    assert (s.flow_ratio < 1).any(axis=(1, 2)).all()  # every leaf has its episode
    # flooding (NdPr from 2028, when its new capacity comes online) is decided in the node
    # of 2028 (r/i) and holds for all of its leaves
    calm, _ = generate_tree(PRODUCTS, YEARS, GeneratorSettings(seed=2, p_controls=1,
                                                               p_flooding=0),
                            spec, first_new_capacity=capacity)
    flooded = np.array(["strategic flooding" in d for d in s.description])
    ratio = s.price[:, :, 0] / calm.price[:, :, 0]
    assert ratio[flooded][:, 2:4] == pytest.approx(0.65)  # 2028-29
    assert ratio[~flooded] == pytest.approx(1.0) and ratio[:, 4:] == pytest.approx(1.0)
    by_node = {n: set(flooded[node[:, 2] == n]) for n in set(node[:, 2])}
    assert all(len(v) == 1 for v in by_node.values())
    assert 0 < flooded.sum() < 24  # seed 2: r/1 not flooded, r/2-r/4 flooded


def test_episodes_keep_their_probability_and_uniform_start_on_a_tree():
    # Over 20 seeds of a 1,000-leaf tree (500 nodes from 2026, 2 children each in 2030),
    # the share of leaves with an export-control episode is p_controls = 0.5 (measured
    # 0.503) and each first year has about 1/10 of them (measured 0.095-0.104), as for
    # independent paths: an episode starts in a node with its conditional probability.
    first = np.zeros(len(YEARS))
    for seed in range(20):
        s, _ = generate_tree(PRODUCTS, YEARS, GeneratorSettings(seed=seed, p_flooding=0),
                             parse_tree("2026:500,2030:2", YEARS))
        cut = s.flow_ratio[:, :, 1] < 1
        first += np.bincount(cut.argmax(1)[cut.any(1)], minlength=len(YEARS))
    assert first.sum() / 20_000 == pytest.approx(0.5, abs=0.02)
    assert first / first.sum() == pytest.approx(np.full(len(YEARS), 0.1), abs=0.015)


def test_calibration_of_a_tree_against_history():
    # Without overlays, 10,000 leaves reproduce the history's annual log-return standard
    # deviation within 10 % (measured: NDPR 0.403 vs 0.379, DY 0.294 vs 0.293, TB 0.410 vs
    # 0.399) and the Dy-Tb correlation within 0.05 (measured 0.81 vs 0.84; README).
    s, _ = generate_tree(PRODUCTS, YEARS, GeneratorSettings(seed=1, p_controls=0,
                                                            p_flooding=0),
                         parse_tree("2026:100,2030:100", YEARS))
    gen, hist = statistics(s), history_statistics(PRODUCTS)
    for p in PRODUCTS:
        assert gen["std"][p] == pytest.approx(hist["std"][p], rel=0.10)
    assert gen["corr"]["DY-TB"] == pytest.approx(hist["corr"]["DY-TB"], abs=0.05)


def test_branching_in_the_first_year_leaves_no_shared_root():
    s, node = generate_tree(PRODUCTS, YEARS, GeneratorSettings(seed=0),
                            parse_tree("2026:2", YEARS))
    assert node[:, 0].tolist() == ["r/1", "r/2"] and (node[:, 0] == node[:, -1]).all()
    assert (s.price[0, 0] != s.price[1, 0]).any()
    assert s.probability.tolist() == [0.5, 0.5]


@pytest.mark.parametrize(("spec", "message"), [
    ("2028:5,2031", "--tree 2028:5,2031: '2031' is not YEAR:FACTOR; write branching years "
                    "and factors like 2028:5,2031:4"),
    ("", "--tree '': no branching year; write branching years and factors like "
         "2028:5,2031:4"),
    ("2028:0", "--tree 2028:0: factor '0' for 2028 is not an integer >= 1; give every "
               "branching year a whole number of children, e.g. 2028:3"),
    ("2028:2.5", "--tree 2028:2.5: factor '2.5' for 2028 is not an integer >= 1; give every "
                 "branching year a whole number of children, e.g. 2028:3"),
    ("2036:2", "--tree 2036:2: branching year 2036 is outside the horizon 2026-2035; use "
               "years 2026-2035 (instance.toml first_year/last_year)"),
    ("2031:4,2028:5", "--tree 2031:4,2028:5: branching year 2028 does not come after 2031; "
                      "list each branching year once, in ascending order"),
    ("2028:2,2028:3", "--tree 2028:2,2028:3: branching year 2028 does not come after 2028; "
                      "list each branching year once, in ascending order"),
    ("2026:100,2027:100,2028:11", "--tree 2026:100,2027:100,2028:11: 110,000 scenarios (the "
                                  "product of the factors) exceed the limit of 100,000; use "
                                  "fewer branching years or smaller factors"),
])
def test_a_bad_tree_spec_is_one_line(spec, message, tmp_path):
    with pytest.raises(InputError) as err:
        parse_tree(spec, YEARS)
    assert str(err.value) == message
    r = invoke("scenarios", "generate", REAL, "--tree", spec, "-o", tmp_path / "x")
    assert r.exit_code == 2 and r.stderr == f"error: {message}\n"
    assert not (tmp_path / "x").exists()


def test_tree_is_not_given_with_n_or_stress(tmp_path):
    r = invoke("scenarios", "generate", REAL, "--tree", "2028:2", "-n", 100, "-o", tmp_path)
    assert r.exit_code == 2
    assert r.stderr == ("error: -n 100: with --tree 2028:2 the number of scenarios is the "
                        "product of the factors; drop -n\n")
    r = invoke("scenarios", "generate", REAL, "--tree", "2028:2", "--stress", "all",
               "-o", tmp_path)
    assert r.exit_code == 2
    assert r.stderr == ("error: --stress all: the named stress tests replay history from the "
                        "first year and cannot share the root of a scenario tree (--tree "
                        "2028:2); drop --stress, or generate them without --tree\n")


def test_reducing_a_tree_drops_nodes_csv_and_says_so(tree, tmp_path):
    r = invoke("scenarios", "reduce", tree, "--to", 3, "--no-check", "-o", tmp_path / "red")
    assert r.exit_code == 0, r.output
    assert f"{tree} is a scenario tree; the kept scenarios do not form one, so " in r.stdout
    assert not (tmp_path / "red" / "nodes.csv").exists()
    assert len(load_instance(tmp_path / "red").scenarios) == 3


def test_tree_policy_decides_alike_in_shared_nodes(tree, tmp_path):
    model = tmp_path / "tree.toml"
    model.write_text((MODELS / "floor-stockpile-grants.toml").read_text()
                     + '\n[stockpile]\npolicy = "tree"\n')
    run = solve(tree, model)
    assert run.result.status == "optimal"
    df = run.tables["stockpile_policy.csv"].merge(
        pd.read_csv(tree / "nodes.csv")[["scenario", "year", "node"]], on=["scenario", "year"])
    root = df[df["year"] == 2026]
    assert root["scenario"].nunique() == 6
    for _, g in root.groupby("product"):
        assert g["purchase_t"].nunique() == 1
    spread = df.groupby(["year", "node", "product"])[["purchase_t", "level_t"]].agg(
        lambda x: x.max() - x.min())
    assert (spread.to_numpy() == 0).all()
    shared = df.groupby(["year", "node"])["scenario"].transform("nunique") > 1
    assert (df.loc[shared, "purchase_t"] > 1).any()  # not only trivially equal zeros
