"""remech report: content, files and refusals, and the page in a real (headless) browser.

The browser tests drive the system's Chromium (Debian package ``chromium``) with the
``playwright`` package. They skip only where no browser can be found, and fail instead
under CI (CI=true) or with REMECH_REQUIRE_BROWSER=1, as .ci/run sets.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import TINY, write
from remech import __version__
from remech.cli import main
from remech.document import markdown_table
from remech.reporting import cost_per_t_avoided, load_result, solve_document

CHROMIUM = os.environ.get("REMECH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SRC = "assumption: test data"
YEARS = (2030, 2031, 2032, 2033)
#: four equally likely scenarios; "cut": China delivers nothing in 2032-33
PRICES = {"low": 40, "mid": 55, "high": 70, "cut": 90}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def small_world(folder: Path) -> Path:
    """tiny-floor over 2030-33, four scenarios, a stockpile option, a shortfall penalty of
    1000 USD/kg and the floor menu {none, 50, 60, 70} with a stockpile allowed."""
    shutil.copytree(TINY, folder)
    toml = (folder / "instance.toml").read_text().replace("last_year = 2030",
                                                          "last_year = 2033")
    (folder / "instance.toml").write_text(toml.replace('name = "tiny-floor"',
                                                       'name = "small-report"'))
    write(folder, "scenarios.csv", [{"scenario": s, "probability": 0.25, "description": s,
                                     "source": SRC} for s in PRICES])
    write(folder, "prices.csv", [{"scenario": s, "year": y, "product": "X",
                                  "price_usd_per_kg": p + 2 * (y - 2030), "source": SRC}
                                 for s, p in PRICES.items() for y in YEARS])
    write(folder, "availability.csv", [{"scenario": "cut", "year": y, "product": "X",
                                        "china_availability": 0, "source": SRC}
                                       for y in (2032, 2033)])
    write(folder, "demand.csv", [{"ally": "US", "product": "X", "year": y, "demand_t": 1500,
                                  "source": SRC} for y in YEARS])
    write(folder, "supply.csv", [{"product": "X", "year": y, "china_supply_t": 1000,
                                  "other_supply_t": 0, "source": SRC} for y in YEARS])
    write(folder, "products.csv", [{"product": "X", "name": "Test oxide", "stage": "separation",
                                    "shortfall_penalty_usd_per_kg": 1000, "source": SRC}])
    write(folder, "stockpile.csv", [{"product": "X", "fixed_cost_musd": 1,
                                     "capacity_cost_usd_per_kg": 1,
                                     "holding_cost_usd_per_kg_yr": 0.5,
                                     "max_capacity_t": 800, "salvage_fraction": 0.5,
                                     "source": SRC}])
    (folder / "design.toml").write_text(
        '[design]\nname = "small-floor-stock"\n[instruments]\nprice_floor = true\n'
        "stockpile = true\ngrants = false\n[price_floor]\n"
        "levels_usd_per_kg = { X = [50, 60, 70] }\n[bankability]\ntest = \"expected\"\n"
        "hurdle_rate = 0.0\ntail_years = 0\n")
    return folder


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    """The small world solved once into a result folder (read-only for the tests)."""
    base = tmp_path_factory.mktemp("report")
    world = small_world(base / "small")
    out = base / "out"
    r = invoke("solve", world, "-o", out, "-q")
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def result(solved, tmp_path) -> Path:
    """A private copy of the solved folder (tests that write into it)."""
    dest = tmp_path / "out"
    shutil.copytree(solved, dest)
    return dest


def _mech(folder: Path) -> dict:
    return json.loads((folder / "mechanism.json").read_text())


# ---- content ---------------------------------------------------------------------------

def test_small_world_chooses_a_floor_and_a_stockpile(solved):
    mech = _mech(solved)
    assert mech["floors_usd_per_kg"]["X"] in (50.0, 60.0, 70.0)
    assert mech["supported_projects"] == ["P1"]
    assert [s["product"] for s in mech["stockpiles"] if s["built"]] == ["X"]


def test_fan_chart_bands_are_the_scenario_percentiles(solved):
    """Four equally likely prices 40/55/70/90 (+2 per year): the 5 % band edge is the
    lowest, the 95 % edge the highest, the median the lower middle one (55)."""
    doc = solve_document(load_result(solved))
    fan = next(c for c in doc.charts if c.key == "fan_X")
    outer, inner, median = fan.traces[:3]
    up = np.array([0, 2, 4, 6])
    assert list(fan.traces[0].x) == list(YEARS)
    np.testing.assert_allclose(outer.low, 40 + up)
    np.testing.assert_allclose(outer.high, 90 + up)
    np.testing.assert_allclose(inner.low, 40 + up)  # P(X <= 40) = 0.25 >= 0.25
    np.testing.assert_allclose(inner.high, 70 + up)
    np.testing.assert_allclose(median.y, 55 + up)
    floor = _mech(solved)["floors_usd_per_kg"]["X"]
    assert [t.value for t in fan.traces if t.kind == "hline"] == [floor]


def test_shortfall_chart_adds_up_to_the_expected_shortfall(solved):
    doc = solve_document(load_result(solved))
    chart = next(c for c in doc.charts if c.key == "shortfall")
    total = sum(float(np.sum(t.y)) for t in chart.traces if t.kind == "bar")
    assert total == pytest.approx(_mech(solved)["shortfall"]["X"]["expected_t"], abs=1e-6)
    assert [str(x) for x in chart.traces[0].x] == [str(y) for y in YEARS]


def test_cost_histogram_is_a_probability_distribution(solved):
    doc = solve_document(load_result(solved))
    chart = next(c for c in doc.charts if c.key == "cost_distribution")
    bars = [t for t in chart.traces if t.kind == "bar"]
    assert sum(float(np.sum(t.y)) for t in bars) == pytest.approx(1.0)
    c = _mech(solved)["costs"]
    assert sorted(t.value for t in chart.traces if t.kind == "vline") == pytest.approx(
        sorted([c["expected_cost_musd"], c["cvar_cost_musd"]]))


def test_every_chart_has_title_units_and_a_full_caption(solved):
    doc = solve_document(load_result(solved))
    keys = [c.key for c in doc.charts]
    assert keys == ["cost_distribution", "ally_contributions", "fan_X", "stockpile_X",
                    "shortfall"]
    for c in doc.charts:
        assert c.title and "(" in c.y_label, c.key  # units in brackets
        for needle in ("small-report", "small-floor-stock", "HiGHS seed 0",
                       f"remech {__version__}"):
            assert needle in c.caption, (c.key, needle)


def test_markdown_twin(result):
    r = invoke("report", result)
    assert r.exit_code == 0, r.output
    md = (result / "report.md").read_text()
    floor = _mech(result)["floors_usd_per_kg"]["X"]
    order = [md.index(h) for h in ("## The recommended mechanism", "## Charts",
                                   "## Assumptions and sources")]
    assert order == sorted(order)
    assert f"X, Test oxide: price floor {floor:g} USD/kg" in md
    assert "contracted with P1 (Test refinery" in md
    assert "| ally | share (%) | contribution (MUSD) |" in md
    assert "| T1 | Test data made up for hand computation |" in md  # sources.csv
    assert 'name = "small-floor-stock"' in md  # the design file as solved
    images = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md)
    assert len(images) == 5
    from PIL import Image

    for rel in images:
        png = Image.open(result / rel).convert("RGB")
        assert png.size[0] > 600
        assert len(png.getcolors(maxcolors=1 << 20)) > 50, rel  # drawn, not blank


def test_html_is_self_contained(result):
    assert invoke("report", result).exit_code == 0
    page = (result / "report.html").read_text()
    assert '<meta name="generator" content="remech report' in page
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inlined
    # the markup outside inline scripts loads nothing: no script or style sheet by URL, no
    # remote image or frame (links to sources in the text are fine: <a href> loads nothing)
    markup = re.sub(r"<script([^>]*)>.*?</script>", r"<script\1></script>", page, flags=re.S)
    assert re.findall(r"<script[^>]*>", markup) and not re.search(r"<script[^>]+src=",
                                                                  markup, re.I)
    assert not re.search(r"<link\b", markup, re.I)
    assert not re.search(r"<(img|iframe|embed|object|source|video|audio)\b[^>]*(src|data)="
                         r"[\"']?(https?:)?//", markup, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", markup, re.I)
    assert "<a href=" not in markup.split("</head>")[0]


# ---- files: marker, refusals, missing instance -----------------------------------------

def test_report_is_registered_so_force_replaces_the_folder(result):
    r = invoke("report", result)
    assert r.exit_code == 0, r.output
    files = json.loads((result / ".remech-result").read_text())["files"]
    assert {"report.html", "report.md", "report-charts",
            "report-charts/fan_X.png"} <= set(files)
    again = invoke("report", result)  # its own report: rewritten
    assert again.exit_code == 0, again.output
    world = Path(_mech(result)["instance"]["path"])
    solve = invoke("solve", world, "-o", result, "--force", "-q")
    assert solve.exit_code == 0, solve.output
    assert not (result / "report.html").exists()  # the new result has no report yet


def test_report_refuses_files_remech_did_not_write(result, tmp_path):
    mine = tmp_path / "mine.html"
    mine.write_text("<html>my notes</html>")
    r = invoke("report", result, "-o", mine)
    assert r.exit_code == 2
    assert r.stderr == (f"error: -o {mine}: exists and remech did not write it; remech "
                        "overwrites only reports it wrote, so move it or choose another -o\n")
    assert mine.read_text() == "<html>my notes</html>"
    (tmp_path / "other.md").write_text("notes")
    r = invoke("report", result, "-o", tmp_path / "other.html")
    assert r.exit_code == 2 and "other.md: exists and remech did not write it" in r.stderr
    (result / "report.html").write_text("someone else's")  # not in the marker
    r = invoke("report", result)
    assert r.exit_code == 2 and "report.html: exists and remech did not write it" in r.stderr
    assert (result / "report.html").read_text() == "someone else's"


def test_report_elsewhere_rewrites_its_own_files_only(result, tmp_path):
    target = tmp_path / "reports" / "allied.html"
    for _ in range(2):
        r = invoke("report", result, "-o", target)
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "allied-charts", "allied.html", "allied.md"]
    assert not (target.parent / ".remech-result").exists()  # the folder is not ours
    marker = json.loads((target.parent / "allied-charts" / ".remech-result").read_text())
    assert marker["kind"] == "report-charts" and "fan_X.png" in marker["files"]
    assert "report.html" not in json.loads((result / ".remech-result").read_text())["files"]


def test_report_without_its_instance_says_so(result, tmp_path):
    mech = _mech(result)
    mech["instance"]["path"] = str(tmp_path / "gone")
    (result / "mechanism.json").write_text(json.dumps(mech))
    r = invoke("report", result)
    assert r.exit_code == 0, r.output
    assert f"note: the instance {tmp_path / 'gone'} named by the result is not found" \
        in r.stderr
    md = (result / "report.md").read_text()
    assert "Price fan charts left out" in md and "fan_X.png" not in md
    assert "stockpile_X.png" in md  # the rest still comes from the result folder


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "folder not found; give a folder written by remech solve -o"),
    ("plain", "not a remech result (no .remech-result)"),
    ("game", "holds a remech game result; remech report reads the results of remech solve"),
    ("badjson", "mechanism.json: cannot be read as JSON"),
    ("suffix", "give a file name ending in .html"),
])
def test_report_input_errors_are_one_line(result, tmp_path, setup, message):
    folder, extra = result, []
    if setup == "missing":
        folder = tmp_path / "nothing"
    elif setup == "plain":
        folder = tmp_path / "plain"
        folder.mkdir()
    elif setup == "game":
        (result / ".remech-result").write_text('{"kind": "game"}')
    elif setup == "badjson":
        (result / "mechanism.json").write_text("{")
    else:
        extra = ["-o", tmp_path / "report.pdf"]
    r = invoke("report", folder, *extra)
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.output


# ---- compare ---------------------------------------------------------------------------

def test_markdown_table_escapes_and_aligns():
    import pandas as pd

    text = markdown_table(pd.DataFrame({"a": ["x|y", None], "b": [1234.5, 2.0]}), index=False)
    assert text.splitlines() == ["| a | b |", "|:---|---:|", "| x\\|y | 1,234.5 |",
                                 "|  | 2.0 |"]


def test_cost_per_tonne_avoided_by_hand():
    row = {"vs_baseline": {"extra_outlay_musd": 6.0,
                           "shortfall_avoided_t": {"X": 100.0, "Y": 200.0}}}
    assert cost_per_t_avoided(row) == pytest.approx(20.0)  # 6 MUSD / 300 t = 20 USD/kg
    row["vs_baseline"]["shortfall_avoided_t"] = {"X": 0.0}
    assert cost_per_t_avoided(row) is None


def _compare(world: Path, tmp_path: Path, *extra) -> tuple[Path, object]:
    none = tmp_path / "none.toml"
    none.write_text('[design]\nname = "no-floor"\n[instruments]\nprice_floor = false\n'
                    "stockpile = false\ngrants = false\n[bankability]\nhurdle_rate = 0.0\n"
                    "tail_years = 0\n")
    out = tmp_path / "cmp"
    r = invoke("compare", world, "-m", world / "design.toml", "-m", none, "--baseline",
               "no-floor", "--jobs", "1", "-o", out, "-q", *extra)
    return out, r


def test_compare_writes_markdown_and_a_side_by_side_report(tmp_path):
    world = small_world(tmp_path / "small")
    out, r = _compare(world, tmp_path)
    assert r.exit_code == 0, r.output
    md = (out / "compare.md").read_text().splitlines()
    assert md[0].startswith("|  | small-floor-stock | no-floor |")
    assert set(md[1]) <= set("|:-") and all(line.startswith("| ") for line in md[2:])
    rows = {d["design"]: d for d in json.loads((out / "compare.json").read_text())["designs"]}
    saving = rows["small-floor-stock"]["vs_baseline"]["expected_cost_saving_musd"]
    report = (out / "report.md").read_text()
    assert "Lowest expected cost: small-floor-stock" in report
    assert "| small-floor-stock | optimal |" in report and f"{saving:,.1f}" in report
    for key in ("compare_cost", "compare_saving", "compare_shortfall", "compare_allies"):
        assert (out / "report-charts" / f"{key}.png").is_file()
    _, again = _compare(world, tmp_path, "--force")  # the report is registered
    assert again.exit_code == 0, again.output


# ---- in a real browser -----------------------------------------------------------------

def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e .)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set REMECH_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true" or os.environ.get("REMECH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required here (CI / REMECH_REQUIRE_BROWSER) but "
                        f"{missing}")
        pytest.skip(f"no browser for the report tests: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        yield b
        b.close()


def _open(browser, page_file: Path):
    """The page loaded with every chart drawn; console errors and non-file requests."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(page_file.as_uri(), wait_until="load", timeout=60_000)
    page.wait_for_function(  # every chart has drawn its traces
        "[...document.querySelectorAll('.js-plotly-plot')].every("
        "d => d.querySelector('.main-svg g.trace'))", timeout=30_000)
    return page, errors, outside


def _colours(png: bytes) -> tuple[int, dict]:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    counts = img.getcolors(maxcolors=1 << 20)
    return len(counts), {c: n for n, c in counts}


def _near(counts: dict, rgb: tuple[int, int, int], tol: int = 40) -> int:
    return sum(n for c, n in counts.items()
               if all(abs(a - b) <= tol for a, b in zip(c, rgb, strict=True)))


def test_report_in_the_browser(browser, result):
    r = invoke("report", result)
    assert r.exit_code == 0, r.output
    page, errors, outside = _open(browser, result / "report.html")
    try:
        assert errors == [] and outside == []
        assert page.locator(".js-plotly-plot").count() == 5
        floor = _mech(result)["floors_usd_per_kg"]["X"]
        words = page.locator("ul").first.inner_text()
        assert f"price floor {floor:g} USD/kg" in words and "P1" in words
        # the plot area (plotly's drag layer covers exactly it) of the fan chart
        png = page.locator("#chart-fan_X .nsewdrag").first.screenshot()
        n, counts = _colours(png)
        assert n > 20, n  # bands, median, grid: not a blank rectangle
        assert _near(counts, (0xD6, 0x27, 0x28)) > 100  # the floor's red dashed line
        _, counts = _colours(
            page.locator("#chart-cost_distribution .nsewdrag").first.screenshot())
        assert _near(counts, (0x1F, 0x77, 0xB4), 10) > 1000  # the histogram's blue bars
    finally:
        page.close()


def test_blank_page_fails_the_chart_check(browser, tmp_path):
    """The pixel check can fail: an empty plot area has few colours and no floor red."""
    page = browser.new_page(viewport={"width": 600, "height": 400})
    try:
        page.set_content("<div style='width:500px;height:300px;border:1px solid #ccc'></div>")
        n, counts = _colours(page.screenshot(clip={"x": 0, "y": 0, "width": 500,
                                                   "height": 300}))
        assert n <= 20 and _near(counts, (0xD6, 0x27, 0x28)) == 0
    finally:
        page.close()


def test_compare_report_in_the_browser(browser, tmp_path):
    out, r = _compare(small_world(tmp_path / "small"), tmp_path)
    assert r.exit_code == 0, r.output
    page, errors, outside = _open(browser, out / "report.html")
    try:
        assert errors == [] and outside == []
        assert page.locator(".js-plotly-plot").count() == 4
        assert "Lowest expected cost" in page.locator("body").inner_text()
        _, counts = _colours(page.locator("#chart-compare_cost .nsewdrag").first.screenshot())
        assert _near(counts, (0x1F, 0x77, 0xB4), 10) > 500  # outlay bars
        assert _near(counts, (0xFF, 0x7F, 0x0E), 10) > 500  # shortfall-loss bars
    finally:
        page.close()
