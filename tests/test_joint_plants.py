"""Plants as one decision (issue 9, item 2) and start years as a decision (item 7), by hand.

Worlds derived from instances/tiny-floor: one ally (US), no discounting, hurdle rate 0, no
tail years, two equally likely scenarios in 2030: 'low' (China delivers normally) and
'cut' (China delivers nothing). 1 t x 1 USD/kg = 1e-3 MUSD.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import design, read, solve, write
from remech.cli import main
from remech.design import load_design
from remech.instance import load_instance
from remech.model.price_floor import FLOOR_TIE_BREAK
from remech.prepare import prepare

TOL = dict(rel=1e-6, abs=1e-6)
SRC = "assumption: test data"


def line(project, product, capacity, cost, capex, plant="", status="new", start=2030,
         host="US"):
    return {"project": project, "plant": plant, "name": project, "host": host,
            "product": product, "stage": "separation", "status": status,
            "capacity_t": capacity, "start_year": start, "ramp_years": 1,
            "unit_cost_usd_per_kg": cost, "capex_musd": capex, "source": SRC}


def two_products(folder, y_price=(100, 100), y_cut: bool = False, y_penalty=100.0):
    """tiny-floor with a second product Y: demand 100 t, China supplies 200 t (nothing in
    'cut' if ``y_cut``), prices 'low'/'cut' = ``y_price``, shortfall penalty ``y_penalty``.
    X as in tiny-floor: demand 1000 t, price 40 / 80, China cut to nothing in 'cut'."""
    write(folder, "products.csv", [
        {"product": "X", "name": "Test oxide", "stage": "separation",
         "shortfall_penalty_usd_per_kg": 100, "source": SRC},
        {"product": "Y", "name": "Second oxide", "stage": "separation",
         "shortfall_penalty_usd_per_kg": y_penalty, "source": SRC}])
    write(folder, "demand.csv", [
        {"ally": "US", "product": p, "year": 2030, "demand_t": d, "source": SRC}
        for p, d in (("X", 1000), ("Y", 100))])
    write(folder, "supply.csv", [
        {"product": p, "year": 2030, "china_supply_t": c, "other_supply_t": 0,
         "source": SRC} for p, c in (("X", 1000), ("Y", 200))])
    write(folder, "prices.csv", [
        {"scenario": s, "year": 2030, "product": p, "price_usd_per_kg": v, "source": SRC}
        for s, x, y in (("low", 40, y_price[0]), ("cut", 80, y_price[1]))
        for p, v in (("X", x), ("Y", y))])
    write(folder, "availability.csv", [
        {"scenario": "cut", "year": 2030, "product": p, "china_availability": 0,
         "source": SRC} for p in (["X", "Y"] if y_cut else ["X"])])
    return folder


def levels(folder, menu: str, extra: str = "", grants=False, grant_share=0.5):
    text = design(folder, grants=grants, grant_share=grant_share).read_text().replace(
        "levels_usd_per_kg = { X = [60] }", f"levels_usd_per_kg = {menu}")
    path = folder / "design.toml"
    path.write_text(text + extra)
    return path


def cost(run) -> float:
    floors = [v or 0.0 for v in run.mechanism["floors_usd_per_kg"].values()]
    return run.result.objective_musd - FLOOR_TIE_BREAK * sum(floors)


# ----------------------------------------------------------------------------- joint plant


@pytest.mark.parametrize("capex", [(25, 0), (15, 10)])
def test_joint_plant_is_bankable_on_its_basket_and_capex_counts_once(tiny, capex):
    # Plant PL: line P1 (X, 1000 t, cost 50) and line P2 (Y, 100 t, cost 50), capex 25 MUSD
    # in all, however it is spread over the lines. Y sells at 100: P2 earns 100 x 50 = 5
    # MUSD in each scenario. X under a 60 floor earns 10 (low) and 30 (cut): 20 expected.
    # Plant NPV at (X 60, Y market) = 20 + 5 - 25 = 0 -> bankable; at market 15 + 5 - 25
    # = -5 -> not built outside. Cost: the top-up in 'low', 1000 x (60 - 40) = 20 MUSD,
    # expected 10; X's shortfall in 'cut' is avoided.
    two_products(tiny)
    write(tiny, "projects.csv", [line("P1", "X", 1000, 50, capex[0], plant="PL"),
                                 line("P2", "Y", 100, 50, capex[1], plant="PL")])
    data = prepare(load_instance(tiny), load_design(levels(tiny, "{ X = [60] }")))
    assert data.plants == ["PL"]
    assert data.plant_capex_musd.tolist() == [25.0]
    popt = data.plant_options
    assert len(popt.plant) == 1  # (X market, Y market) is not bankable: NPV -5
    assert {data.products[p]: e.level_usd_per_kg for p, e in popt.entries[0].items()} == \
        {"X": 60.0, "Y": 0.0}
    assert popt.npv_test_musd[0] == pytest.approx(0.0, **TOL)
    assert sorted(data.projects[j] for j in data.options.project[popt.rows[0]]) == \
        ["P1", "P2"]
    run = solve(tiny)
    m = run.mechanism
    assert m["status"] == "optimal"
    assert cost(run) == pytest.approx(10.0, **TOL)
    assert m["supported_plants"] == ["PL"]
    assert sorted(m["supported_projects"]) == ["P1", "P2"]
    assert m["costs"]["by_category_musd"]["topup"] == pytest.approx(10.0, **TOL)
    assert m["shortfall"]["X"]["expected_t"] == pytest.approx(0.0, abs=1e-6)
    plant = m["plants"][0]
    assert (plant["lines"], plant["terms"], plant["capex_musd"]) == (
        "P1 P2", "X floor 60, Y market", 25.0)


def test_one_line_alone_is_not_bankable(tiny):
    # the same lines as two plants: P1 alone under the 60 floor, 20 - 25 = -5: not
    # bankable (no grants); P2 alone (no capex) is built at market. X is short by 1000 t
    # in 'cut': 0.5 x 1000 x 100 x 1e-3 = 50 MUSD.
    two_products(tiny)
    write(tiny, "projects.csv", [line("P1", "X", 1000, 50, 25), line("P2", "Y", 100, 50, 0)])
    run = solve(tiny, levels(tiny, "{ X = [60] }"))
    assert cost(run) == pytest.approx(50.0, **TOL)
    assert run.mechanism["supported_plants"] == []
    assert run.mechanism["floors_usd_per_kg"]["X"] is None


def test_plant_option_takes_the_floor_chosen_for_each_of_its_products(tiny):
    # Y: demand 100 t, price 100, China cut to nothing in 'cut', penalty 1000 USD/kg.
    # Plant A: A-X (X, 1000 t, cost 50) and A-Y (Y, 50 t, cost 50), capex 22.5; plant B:
    # B-Y, existing (Y, 50 t, cost 150: idle at market). Menus X {60}, Y {150}.
    #   no floor: A's market NPV 15 + 2.5 - 22.5 < 0, B idle: shortfall in 'cut' X 1000 t
    #     x 100 + Y 100 t x 1000 = 200 MUSD, expected 100;
    #   X 60 only: A at (X 60, Y market), NPV 20 + 2.5 - 22.5 = 0; Y short 50 t in 'cut'
    #     (25 expected), top-up X 10: 35;
    #   X 60 and Y 150: A must take Y's floor too, (X 60, Y 150): NPV 20 + 5 - 22.5 = 2.5;
    #     B at 150. Top-ups: X 10, A-Y 50 x 50 = 2.5, B-Y 50 x 50 = 2.5: 15 (a line-by-line
    #     choice, A-Y at market under a declared Y floor, would give 12.5);
    #   Y 150 only: A at (X market, Y 150) has NPV 15 + 5 - 22.5 < 0; X short: 77.5.
    two_products(tiny, y_cut=True, y_penalty=1000.0)
    write(tiny, "projects.csv", [
        line("A-X", "X", 1000, 50, 22.5, plant="A"), line("A-Y", "Y", 50, 50, 0, plant="A"),
        line("B-Y", "Y", 50, 150, 0, status="existing")])
    run = solve(tiny, levels(tiny, "{ X = [60], Y = [150] }"))
    m = run.mechanism
    assert cost(run) == pytest.approx(15.0, **TOL)
    assert m["floors_usd_per_kg"] == {"X": 60.0, "Y": 150.0}
    plants = {p["plant"]: p for p in m["plants"]}
    assert plants["A"]["terms"] == "X floor 60, Y floor 150"
    assert plants["B-Y"]["supported"]
    lines = {p["project"]: p for p in m["projects"]}
    assert lines["A-Y"]["floor_usd_per_kg"] == 150.0
    assert m["costs"]["by_category_musd"]["topup"] == pytest.approx(15.0, **TOL)
    # the plant's options: one per bankable combination of entries; each entry a plant
    # option uses is linked to its product's floor choice (c_link[A, p, l])
    data, a = run.data, run.data.plants.index("A")
    combos = {tuple(sorted((data.products[p], e.level_usd_per_kg) for p, e in ent.items()))
              for ent, k in zip(data.plant_options.entries, data.plant_options.plant,
                                strict=True) if k == a}
    assert combos == {(("X", 60.0), ("Y", 0.0)), (("X", 60.0), ("Y", 150.0))}
    links = {(data.products[p], data.menus[p][l].level_usd_per_kg): len(
        run.model.c_link[k, p, l].body.linear_vars) for k, p, l in run.model.c_link if k == a}
    assert links == {("X", 60.0): 3, ("Y", 0.0): 2, ("Y", 150.0): 2}


def test_an_inadmissible_mix_of_admissible_entries_stays_closed(tiny):
    # Plant A: A-X (X, 1000 t, cost 50) and A-Y (Y, 50 t, cost 50), capex 21; Y sells at
    # 100 (China supplies Y in full). NPV: X at market 15, at the 60 floor 20; Y at market
    # 2.5, at a 200 floor 50 x 150 = 7.5. (X 60, Y market) 22.5 and (X market, Y 200) 22.5
    # are bankable, (X market, Y market) 17.5 is not, though both of its entries are used
    # by some option: it is no plant option, so the floor choices cannot open it (otherwise
    # A would run at market prices for free and cover X's cut). Best: Y 200 (top-up 50 x
    # 100 = 5 in each scenario) -> 5; X 60 would cost 10.
    two_products(tiny)
    write(tiny, "projects.csv", [line("A-X", "X", 1000, 50, 21, plant="A"),
                                 line("A-Y", "Y", 50, 50, 0, plant="A")])
    run = solve(tiny, levels(tiny, "{ X = [60], Y = [200] }"))
    data = run.data
    combos = {tuple(data.menus[p][e.index].level_usd_per_kg for p, e in sorted(ent.items()))
              for ent in data.plant_options.entries}
    assert combos == {(60.0, 0.0), (0.0, 200.0), (60.0, 200.0)}
    assert cost(run) == pytest.approx(5.0, **TOL)
    assert run.mechanism["floors_usd_per_kg"] == {"X": None, "Y": 200.0}
    assert run.mechanism["plants"][0]["terms"] == "X market, Y floor 200"


# ----------------------------------------------------------------------------- start years


def three_years_with_a_late_cut(folder):
    """tiny-floor over 2030-32, one scenario: price of X 40, 40, 45 USD/kg; China delivers
    1000 t in 2030 and 2031 and nothing in 2032; demand 1000 t a year. P1 (1000 t, cost
    50, capex 20) may start in 2030."""
    toml = (folder / "instance.toml").read_text().replace("last_year = 2030",
                                                          "last_year = 2032")
    (folder / "instance.toml").write_text(toml)
    years = (2030, 2031, 2032)
    write(folder, "scenarios.csv", [{"scenario": "only", "probability": 1,
                                     "description": "", "source": SRC}])
    write(folder, "prices.csv", [{"scenario": "only", "year": y, "product": "X",
                                  "price_usd_per_kg": p, "source": SRC}
                                 for y, p in zip(years, (40, 40, 45), strict=True)])
    write(folder, "availability.csv", [{"scenario": "only", "year": 2032, "product": "X",
                                        "china_availability": 0, "source": SRC}])
    write(folder, "demand.csv", [{"ally": "US", "product": "X", "year": y, "demand_t": 1000,
                                  "source": SRC} for y in years])
    write(folder, "supply.csv", [{"product": "X", "year": y, "china_supply_t": 1000,
                                  "other_supply_t": 0, "source": SRC} for y in years])
    return folder


@pytest.mark.parametrize(("delay", "expected", "start", "grant"), [
    # start 2030 under the 60 floor: margins 10 a year, NPV 30 - 20 = 10; top-ups 20, 20,
    # 15: 55 MUSD (the only way to cover 2032's cut: no floor, the plant never runs)
    (None, 55.0, 2030, 0.0),
    # start 2031: NPV 20 - 20 = 0; top-ups 20 + 15 = 35
    (1, 35.0, 2031, 0.0),
    # start 2032: NPV 10 - 20 = -10, a 10 MUSD grant; top-up 15: 25. The plant is built
    # for the year China cuts, not two years early at a floor above the market.
    (2, 25.0, 2032, 10.0),
])
def test_delaying_a_plant_to_the_cut_is_cheaper(tiny, delay, expected, start, grant):
    three_years_with_a_late_cut(tiny)
    extra = "" if delay is None else f"\n[investment]\nmax_delay_years = {delay}\n"
    path = design(tiny, grants=True, grant_share=1.0)
    path.write_text(path.read_text() + extra)
    run = solve(tiny)
    m = run.mechanism
    assert m["status"] == "optimal"
    assert cost(run) == pytest.approx(expected, **TOL)
    plant = m["plants"][0]
    assert (plant["start_year"], plant["planned_start_year"]) == (start, 2030)
    assert m["grants_musd"] == pytest.approx(grant, **TOL)
    assert m["shortfall"]["X"]["expected_t"] == pytest.approx(0.0, abs=1e-6)
    line_row = m["projects"][0]
    assert line_row["start_year"] == start


def test_start_year_moves_output_capex_and_contract(tiny):
    # hurdle 10 %: each start's NPV is discounted to 2030, its capex spent the year before
    # the start (2030 at the earliest): under the 60 floor the plant earns 10 MUSD a year
    # from its start; output, top-ups (20, 20, 15 USD/kg below the floor) and the contract
    # begin with the start
    three_years_with_a_late_cut(tiny)
    path = design(tiny, grants=True, grant_share=1.0)
    path.write_text(path.read_text().replace("hurdle_rate = 0.0", "hurdle_rate = 0.1")
                    + "\n[investment]\nmax_delay_years = 2\n")
    data = prepare(load_instance(tiny), load_design(path))
    popt, opt = data.plant_options, data.options
    at60 = {int(popt.start_year[q]): q for q, ent in enumerate(popt.entries)
            if ent[0].level_usd_per_kg == 60.0}
    assert sorted(at60) == [2030, 2031, 2032]
    npv = {2030: 10 + 10 / 1.1 + 10 / 1.21 - 20, 2031: 10 / 1.1 + 10 / 1.21 - 20,
           2032: 10 / 1.21 - 20 / 1.1}
    for y, q in at60.items():
        assert popt.npv_test_musd[q] == pytest.approx(npv[y], **TOL)
        assert popt.grant_musd[q] == pytest.approx(max(0.0, -npv[y]), **TOL)
        (o,) = popt.rows[q]
        out = [1000.0 if year >= y else 0.0 for year in (2030, 2031, 2032)]
        assert opt.output_t[o, 0].tolist() == out
        assert opt.topup_musd[o, 0] == pytest.approx(
            [v * d for v, d in zip(out, (0.02, 0.02, 0.015), strict=True)])


def test_without_the_setting_nothing_moves(tiny):
    three_years_with_a_late_cut(tiny)
    data = prepare(load_instance(tiny), load_design(design(tiny, grants=True)))
    assert set(data.plant_options.start_year.tolist()) == {2030}


# ----------------------------------------------------------------------------- input errors


def validate(folder):
    return CliRunner().invoke(main, ["validate", str(folder)])


@pytest.mark.parametrize(("lines", "message"), [
    ([line("P1", "X", 1000, 50, 20, plant="PL"),
      line("P2", "X", 100, 50, 0, plant="PL", host="EU")],
     "projects.csv row 3, column 'host': line 'P2' of plant 'PL' has host 'EU' but line "
     "'P1' (row 2) has 'US'; give every line of a plant the same host, or put the line in "
     "another plant"),
    ([line("P1", "X", 1000, 50, 20, plant="PL"),
      line("P2", "X", 100, 50, 0, plant="PL", status="existing")],
     "projects.csv row 3, column 'status': line 'P2' of plant 'PL' has status 'existing' "
     "but line 'P1' (row 2) has 'new'; give every line of a plant the same status, or put "
     "the line in another plant"),
    ([line("P1", "X", 1000, 50, 20, plant="PL"),
      line("P2", "X", 100, 50, 0, plant="PL", start=2029)],
     "projects.csv row 3, column 'start_year': line 'P2' of plant 'PL' has start_year 2029 "
     "but line 'P1' (row 2) has 2030; give every line of a plant the same start_year, or "
     "put the line in another plant"),
    ([line("P1", "X", 1000, 50, 20, plant="PL"), line("P2", "X", 100, 50, 0, plant="P1")],
     "projects.csv row 3, column 'plant': plant 'P1' of line 'P2' is the id of project "
     "'P1', which belongs to plant 'PL'; use plant 'PL' or another id"),
])
def test_a_plants_lines_must_agree(tiny, lines, message):
    allies = read(tiny, "allies.csv")
    write(tiny, "allies.csv", allies.to_dict("records") + [
        {"ally": "EU", "name": "European Union", "role": "partner", "gdp_usd_bn": "",
         "budget_cap_musd": "", "source": SRC}])
    write(tiny, "projects.csv", lines)
    result = validate(tiny)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: {message}"
    assert "Traceback" not in result.output


def test_existing_lines_of_a_plant_may_have_started_in_different_years(tiny):
    write(tiny, "projects.csv", [
        line("P1", "X", 1000, 50, 0, plant="PL", status="existing", start=2020),
        line("P2", "X", 100, 50, 0, plant="PL", status="existing", start=2025)])
    assert validate(tiny).exit_code == 0


@pytest.mark.parametrize(("setting", "message"), [
    ("max_delay_years = { NOPE = 2 }",
     "design.toml [investment] max_delay_years.NOPE: 'NOPE' is not a plant of the "
     "instance; use one of its new plants: P1 (projects.csv plant, or the project of a "
     "line without one)"),
    ("max_delay_years = { P0 = 2 }",
     "design.toml [investment] max_delay_years.P0: plant 'P0' exists, so its start is not "
     "a decision; name only new plants"),
    ("max_delay_years = -1",
     "design.toml [investment] max_delay_years: -1 is out of range; give a value between 0 "
     "and 100"),
])
def test_delay_setting_names_new_plants(tiny, setting, message):
    write(tiny, "projects.csv", [line("P1", "X", 1000, 50, 20),
                                 line("P0", "X", 100, 50, 0, status="existing")])
    path = design(tiny)
    path.write_text(path.read_text() + f"\n[investment]\n{setting}\n")
    result = validate(tiny)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: {message}"


def test_eligible_projects_may_name_a_plant(tiny):
    two_products(tiny)
    write(tiny, "projects.csv", [line("P1", "X", 1000, 50, 25, plant="PL"),
                                 line("P2", "Y", 100, 50, 0, plant="PL")])
    path = levels(tiny, '{ X = [60] }\neligible_projects = ["PL"]')
    run = solve(tiny, path)
    assert run.mechanism["supported_plants"] == ["PL"]
    path.write_text(path.read_text().replace('["PL"]', '["NOPE"]'))
    result = validate(tiny)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: design.toml [price_floor] eligible_projects: 'NOPE' is not in the instance; "
        "use one of: P1, P2, PL")


def test_a_plant_read_from_projects_csv_without_the_column(tiny):
    inst = load_instance(tiny)
    assert inst.projects["plant"].tolist() == ["P1"]
    df = read(tiny, "projects.csv")
    assert "plant" not in df.columns


def test_a_plant_option_is_one_contract(tiny):
    # collars (30 % above the floor) and tariff references on both products: X's menu is
    # {none, floor 60, collar 60, tariff 60}, Y's the same at 150: 16 combinations. A plant
    # option's floors share one upside share, and a tariff is not mixed with a floor; "no
    # floor" combines with either: 10 are one contract (none-none, floor-floor,
    # collar-collar, tariff-tariff, and each of the three with none, both ways); the 6
    # mixed ones are no option.
    two_products(tiny)
    write(tiny, "projects.csv", [line("P1", "X", 1000, 50, 0, plant="PL", status="existing"),
                                 line("P2", "Y", 100, 50, 0, plant="PL", status="existing")])
    path = levels(tiny, "{ X = [60], Y = [150] }\nupside_share = [0.0, 0.3]",
                  extra="\n[tariff]\nreference_usd_per_kg = { X = [60], Y = [150] }\n")
    path.write_text(path.read_text().replace("grants = false", "grants = false\ntariff = true"))
    data = prepare(load_instance(tiny), load_design(path))
    kinds = set()
    for ent in data.plant_options.entries:
        floors = {e.upside_share for e in ent.values()
                  if not e.is_tariff and e.level_usd_per_kg > 0}
        tariffs = any(e.is_tariff for e in ent.values())
        assert len(floors) <= 1 and not (floors and tariffs), ent
        kinds.add(tuple(sorted(e.kind.value for e in ent.values())))
    assert {("collar", "collar"), ("floor", "floor"), ("tariff", "tariff"),
            ("collar", "none"), ("none", "tariff")} <= kinds
    assert ("collar", "floor") not in kinds and ("floor", "tariff") not in kinds
    assert len(data.plant_options.entries) <= 10
