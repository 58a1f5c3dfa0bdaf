"""remech explore: the server's answers and refusals, the command's start and Ctrl-C, and
the page driven in headless Chromium (the browser fixture of tests/test_report.py: skipped
only where no browser is found, failed instead under CI / REMECH_REQUIRE_BROWSER=1).

Numbers on instances/tiny-floor (tests/test_overrides.py): the design as it is costs 10 MUSD
(floor 60), with the floor menu {none, 70} 15 MUSD; with a shortfall penalty of 10 USD/kg,
5 MUSD without a floor.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report import browser  # noqa: F401 - the shared headless Chromium fixture

from conftest import TINY
from remech import api
from remech.cli import main
from remech.comparing import summary_row
from remech.errors import InputError
from remech.explore import BUSY, Explorer, LiveSource, SweepSource, make_server, url

FLOOR = "price_floor.levels_usd_per_kg.X"
PENALTY = "instance.products.X.shortfall_penalty_usd_per_kg"


class Served:
    """An explorer served on a free port in a background thread."""

    def __init__(self, source) -> None:
        self.logged: list[str] = []
        self.explorer = Explorer(source, log=self.logged.append)
        self.server = make_server(self.explorer, 0)
        self.url = url(self.server)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def request(self, path: str, body=None, kind: str = "application/json",
                headers: dict | None = None) -> tuple[int, dict]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data,
                                     headers={"Content-Type": kind, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def live():
    served = Served(LiveSource(TINY))
    yield served
    served.close()


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explore") / "sweep"
    r = CliRunner().invoke(main, ["sweep", str(TINY), "--set", f"{FLOOR}=[60],[70]", "--set",
                                  f"{PENALTY}=10,100", "--jobs", "1", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    return out


# ---- the server -------------------------------------------------------------------------

def test_config_names_the_controls(live):
    status, config = live.request("/api/config")
    assert status == 200 and config["mode"] == "live" and config["instance"] == "tiny-floor"
    keys = [c["key"] for c in config["controls"]]
    assert keys[:2] == [FLOOR, "instruments.price_floor"]
    assert {"burden_sharing.rule", "objective.view", "instance.allies.US.budget_cap_musd",
            PENALTY} <= set(keys)
    floor = config["controls"][0]
    assert floor["kind"] == "level" and floor["menu"] == [60.0]


def test_a_solve_answers_what_the_library_gives(live):
    status, doc = live.request("/api/solve", {"overrides": {FLOOR: [70]}})
    assert status == 200, doc
    expected = summary_row(api.solve(TINY, overrides={FLOOR: [70]}))
    assert doc["row"] == json.loads(json.dumps(expected))
    assert doc["row"]["fiscal_cost_musd"] == pytest.approx(15.0, abs=1e-6)
    assert doc["overrides"] == {FLOOR: [70]}
    assert doc["command"].endswith(f"--set '{FLOOR}=[70]' -o OUTDIR")
    assert any(f"{FLOOR}=[70]" in line for line in live.logged)


@pytest.mark.parametrize(("path", "body", "kind", "code", "message"), [
    ("/api/solve", b"not json", "application/json", 400, "the request is not JSON"),
    ("/api/solve", {"overrides": [1]}, "application/json", 400,
     'send {"overrides": {"KEY": value}} with overrides as a JSON object'),
    ("/api/solve", {"overrides": {"objective.view": "cheap"}}, "application/json", 400,
     "--set objective.view=cheap: [objective] view: 'cheap' is not allowed; use one of: "
     "fiscal, economic"),
    ("/api/solve", {"overrides": {PENALTY: -5}}, "application/json", 400,
     f"--set {PENALTY}=-5: -5 is out of range"),
    ("/api/solve", {}, "text/plain", 415, "send the request as Content-Type: "
     "application/json"),
    ("/api/other", {}, "application/json", 404, "no endpoint /api/other"),
    ("/secret.txt", None, "application/json", 404, "no page /secret.txt"),
])
def test_bad_requests_get_a_json_error(live, path, body, kind, code, message):
    status, doc = live.request(path, body, kind)
    assert status == code
    assert list(doc) == ["error"] and doc["error"].startswith(message), doc


def test_only_local_hosts_are_answered(live):
    status, doc = live.request("/api/config", headers={"Host": "attacker.example:80"})
    assert status == 403 and "answers only requests to 127.0.0.1" in doc["error"]


def test_one_solve_at_a_time(live):
    """While a solve holds the explorer, another request is refused with 409."""
    with live.explorer.lock:
        status, doc = live.request("/api/solve", {"overrides": {}})
    assert status == 409 and doc == {"error": BUSY}
    status, doc = live.request("/api/solve", {"overrides": {}})
    assert status == 200 and doc["row"]["fiscal_cost_musd"] == pytest.approx(10.0, abs=1e-6)


def test_precomputed_answers_from_the_sweep(swept):
    served = Served(SweepSource(swept))
    try:
        status, config = served.request("/api/config")
        assert config["mode"] == "precomputed" and config["points"] == 4
        assert [c["key"] for c in config["controls"]] == [FLOOR, PENALTY]
        assert config["controls"][0]["options"] == ["[60]", "[70]"]
        rows = json.loads((swept / "sweep.json").read_text())["designs"]
        status, doc = served.request("/api/solve", {"overrides": {FLOOR: [70], PENALTY: 10}})
        assert status == 200
        assert doc["row"] == next(r for r in rows if r["point"] == {FLOOR: [70], PENALTY: 10})
        assert doc["row"]["fiscal_cost_musd"] == pytest.approx(5.0, abs=1e-6)
        status, doc = served.request("/api/solve", {"overrides": {FLOOR: [65]}})
        assert status == 404 and "this combination is not in the sweep" in doc["error"]
        status, doc = served.request("/api/solve", {"overrides": {"objective.view": "x"}})
        assert status == 400 and "'objective.view' was not swept" in doc["error"]
    finally:
        served.close()
    with pytest.raises(InputError, match="holds a remech solve result; give a folder "
                                         "written by remech sweep -o"):
        out = swept.parent / "solved"
        CliRunner().invoke(main, ["solve", str(TINY), "-o", str(out), "-q"])
        SweepSource(out)


# ---- the command ------------------------------------------------------------------------

def test_command_prints_the_address_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "remech.cli", "explore", str(TINY),
                             "--port", "0", "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first == "remech explore: tiny-floor x tiny-floor (live)\n"
        address = second.split()[2]
        assert second.startswith("serving on http://127.0.0.1:") and "Ctrl-C" in second
        with urllib.request.urlopen(address + "api/config", timeout=60) as r:
            assert json.loads(r.read())["instance"] == "tiny-floor"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == "[remech] explorer stopped"
    assert "Traceback" not in err


def test_command_errors_are_one_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["explore", "--no-browser"])
    assert r.exit_code == 2
    assert r.stderr == "error: missing INSTANCE (or --precomputed DIR); see remech explore " \
                       "--help\n"
    r = runner.invoke(main, ["explore", str(TINY), "--precomputed", str(tmp_path)])
    assert r.exit_code == 2 and "give either INSTANCE (to solve) or --precomputed" in r.stderr
    r = runner.invoke(main, ["explore", "--precomputed", str(tmp_path / "none")])
    assert r.exit_code == 2 and "folder not found" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = runner.invoke(main, ["explore", str(TINY), "--port", str(port), "--no-browser"])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: --port {port}: cannot listen on 127.0.0.1:{port} (")
    assert len(r.stderr.splitlines()) == 1


# ---- in a real browser ------------------------------------------------------------------

def _page(browser, served):  # noqa: F811 - the fixture
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served.url, wait_until="load", timeout=60_000)
    return page, errors


def _wait_solved(page, n: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#history tbody tr').length >= {n}"
                           " && !document.body.classList.contains('busy')", timeout=120_000)


def _value(page, sel: str) -> float:
    return float(page.locator(sel).get_attribute("data-value"))


def test_explorer_in_the_browser(browser, live):  # noqa: F811
    page, errors = _page(browser, live)
    try:
        _wait_solved(page, 1)
        base = api.solve(TINY).costs["views"]
        assert _value(page, "#cost-fiscal") == pytest.approx(base["fiscal"][
            "expected_cost_musd"], abs=1e-6)
        assert page.locator("#cost-fiscal").inner_text() == "10.0"
        assert page.locator("#floors").inner_text() == "X 60"
        page.wait_for_function("[...document.querySelectorAll('.chart')].every("
                               "d => d.querySelector('.main-svg g.trace'))", timeout=30_000)
        # move the floor: a re-solve, and the numbers the library gives for that override
        floor = page.locator(f"input[type=number][data-key='{FLOOR}']")
        floor.fill("70")
        floor.dispatch_event("input")
        _wait_solved(page, 2)
        mech = api.solve(TINY, overrides={FLOOR: [70]})
        views = mech.costs["views"]
        assert _value(page, "#cost-fiscal") == pytest.approx(
            views["fiscal"]["expected_cost_musd"], abs=1e-6)
        assert _value(page, "#cost-economic") == pytest.approx(
            views["economic"]["expected_cost_musd"], abs=1e-6)
        assert page.locator("#cost-fiscal").inner_text() == "15.0"
        assert _value(page, "#ally-US-net") == pytest.approx(
            mech.contributions_by_ally["US"]["net_cost_musd"], abs=1e-6)
        assert page.locator("#floors").inner_text() == "X 70"
        assert page.locator("[data-mode='X']").input_value() == "optional"
        assert "price_floor: medium (scm-actionable, scm-prohibited)" in \
            page.locator("#legal").inner_text()
        assert errors == []
    finally:
        page.close()


def test_bad_value_shows_the_message_in_the_page(browser, live):  # noqa: F811
    page, errors = _page(browser, live)
    try:
        _wait_solved(page, 1)
        penalty = page.locator(f"input[data-key='{PENALTY}']")
        penalty.fill("-5")
        penalty.dispatch_event("input")
        page.wait_for_function("document.querySelector('#error').textContent.length > 0",
                               timeout=120_000)
        assert page.locator("#error").inner_text().startswith(
            f"--set {PENALTY}=-5: -5 is out of range")
        assert page.locator("#cost-fiscal").inner_text() == "10.0"  # the last answer stays
        # the browser logs the refused request (HTTP 400), and nothing else
        assert all("status of 400" in e for e in errors), errors
    finally:
        page.close()


def test_precomputed_explorer_in_the_browser(browser, swept):  # noqa: F811
    served = Served(SweepSource(swept))
    page, errors = _page(browser, served)
    try:
        _wait_solved(page, 1)  # the sweep's first point: floor menu [60], penalty 10
        assert _value(page, "#cost-fiscal") == pytest.approx(5.0, abs=1e-6)
        assert page.locator("#floors").inner_text() == "X none"
        page.locator(f"select[data-key='{PENALTY}']").select_option("100")
        _wait_solved(page, 2)
        assert _value(page, "#cost-fiscal") == pytest.approx(10.0, abs=1e-6)
        assert page.locator("#floors").inner_text() == "X 60"
        assert "looked up" in page.locator("#status").inner_text()
        assert errors == []
    finally:
        page.close()
        served.close()
