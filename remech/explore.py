"""remech explore: a what-if page for negotiators, served on this computer only.

One command starts a small web server bound to 127.0.0.1 (Python's ThreadingHTTPServer,
no account, nothing leaves the machine) and prints its address. The page (one HTML file,
remech/data/explore.html, with plotly's JavaScript inlined: it loads nothing from the
network) has controls for the price floors, the instruments, the burden-sharing rule, the
objective view, the allies' budget caps and the shortfall penalties. Each change is sent
as overrides (remech.overrides) to ``POST /api/solve``, which re-solves the mechanism and
answers with the same summary as remech compare (remech.comparing.summary_row): each ally's
contribution and net cost, the expected cost in both views, floors, projects,
stockpiles, the stability verdict where the rule computes one ('core') and the trade-law
screening tags.

With ``--precomputed DIR`` (a remech sweep folder) nothing is solved: the controls are the
sweep's axes and each answer is the sweep's point (for instances too slow to re-solve).

The server runs one solve at a time: a request while a solve runs gets HTTP 409 with a JSON
message (the page waits and sends its latest request then). Bad requests get a JSON
``{"error": ...}`` with the one-line message of the command line, never a traceback.
Ctrl-C (or SIGTERM) stops HiGHS at its next callback and the server.
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from remech.errors import InputError

HOST = "127.0.0.1"
PAGE = Path(__file__).resolve().parent / "data" / "explore.html"
#: the largest request body accepted (bytes)
MAX_BODY = 1 << 20
#: burden-sharing rule 'core' solves every coalition: beyond this many, not in the explorer
MAX_COALITIONS = 31
BUSY = ("a solve is already running (the explorer solves one at a time); wait for it to "
        "finish and send the request again")


class Rejected(Exception):
    """A request the explorer answers with an HTTP error and a JSON message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- the controls -------------------------------------------------------------------------

def _level_range(menu: list[float], prices) -> tuple[float, float, float]:
    """Slider range of a floor: up to twice the highest of the menu and the prices' median."""
    top = max([*menu, float(prices.median()) if len(prices) else 0.0, 1.0]) * 2
    step = 10 ** max(0, len(str(int(top))) - 3)
    return 0.0, float(round(top / step) * step), float(step)


def live_controls(inst, design) -> list[dict]:
    """The page's controls for a live re-solve: each names the override key it sets."""
    names = dict(zip(inst.products["product"], inst.products["name"], strict=True))
    controls: list[dict] = []
    for p in inst.products["product"]:
        menu = design.floor_levels_usd_per_kg.get(p, [])
        low, high, step = _level_range(menu, inst.prices.loc[inst.prices["product"] == p,
                                                               "price_usd_per_kg"])
        controls.append({"group": "Price floors (USD/kg)", "kind": "level", "product": p,
                         "key": f"price_floor.levels_usd_per_kg.{p}",
                         "label": f"{p} ({names[p]})", "menu": menu, "min": low,
                         "max": high, "step": step,
                         "required": p in design.mandatory_floor})
    for name, label in (("price_floor", "price floors (top-ups)"), ("stockpile", "stockpile"),
                        ("grants", "capex grants"), ("tariff", "tariff reference price"),
                        ("buyer_of_last_resort", "buyer-of-last-resort reserve")):
        controls.append({"group": "Instruments", "kind": "bool", "key": f"instruments.{name}",
                         "label": label, "default": getattr(design, name)})
    from remech.schema import OBJECTIVE_VIEWS, SHARING_RULES

    controls.append({"group": "Rules", "kind": "choice", "key": "burden_sharing.rule",
                     "label": "burden-sharing rule", "options": list(SHARING_RULES),
                     "default": design.sharing_rule})
    controls.append({"group": "Rules", "kind": "choice", "key": "objective.view",
                     "label": "cost minimised (view)", "options": list(OBJECTIVE_VIEWS),
                     "default": design.objective_view})
    allies = inst.allies.set_index("ally")
    for a in inst.members:
        cap = allies.at[a, "budget_cap_musd"]
        controls.append({"group": "Budget caps (MUSD; blank: no cap)", "kind": "number",
                         "key": f"instance.allies.{a}.budget_cap_musd", "label": a,
                         "default": None if cap != cap else float(cap), "min": 0})
    for p, pen in zip(inst.products["product"], inst.products["shortfall_penalty_usd_per_kg"],
                      strict=True):
        controls.append({"group": "Shortfall penalties (USD/kg)", "kind": "number",
                         "key": f"instance.products.{p}.shortfall_penalty_usd_per_kg",
                         "label": p, "default": float(pen), "min": 0, "required": True})
    return controls


def sweep_controls(doc: dict) -> list[dict]:
    """A precomputed sweep's controls: one choice per swept key, its values as JSON."""
    from remech.overrides import value_text

    return [{"group": "Swept values (precomputed)", "kind": "json-choice", "key": key,
             "label": key, "options": [json.dumps(v) for v in values],
             "labels": [value_text(v) for v in values], "default": json.dumps(values[0])}
            for key, values in (doc.get("axes") or {}).items()]


# -- where the answers come from ----------------------------------------------------------

@dataclass
class LiveSource:
    """Re-solves the design on the instance (read once) with the page's overrides."""

    instance: Path
    design: Path | None = None
    time_limit_s: float = 60.0
    mip_gap: float = 1e-4
    threads: int = 0
    jobs: int | None = None
    mode: str = field(default="live", init=False)

    def __post_init__(self) -> None:
        from remech.instance import load_instance
        from remech.run import with_design

        self.inst = load_instance(self.instance)
        self.base = with_design(self.inst, self.design).design
        self.design = self.base.path

    def config(self) -> dict:
        return {"mode": self.mode, "instance": self.inst.name, "design": self.base.name,
                "controls": live_controls(self.inst, self.base),
                "mandatory_key": "price_floor.mandatory_floor",
                "mandatory_default": list(self.base.mandatory_floor),
                "time_limit_s": self.time_limit_s}

    def answer(self, overrides: dict) -> dict:
        from remech.comparing import summary_row
        from remech.overrides import apply_instance, as_overrides
        from remech.run import solve_run, with_design
        from remech.solving import STOP, SolverOptions
        from remech.stability import GameOptions

        items = as_overrides(overrides)
        run = with_design(apply_instance(self.inst, items), self.design, items)
        coalitions = (1 << len(run.instance.members)) - 1
        if run.design.sharing_rule == "core" and coalitions > MAX_COALITIONS:
            raise InputError(f"burden_sharing.rule=core: needs {coalitions} coalition solves "
                             f"here ({len(run.instance.members)} allies), too many for the "
                             "explorer; run remech solve --set burden_sharing.rule=core (or "
                             "remech game) and read its stability verdict there")
        STOP.clear()
        opts = SolverOptions(time_limit_s=self.time_limit_s, mip_gap=self.mip_gap,
                             threads=self.threads)
        run = solve_run(run, opts, game=GameOptions(jobs=self.jobs, mip_gap=self.mip_gap,
                                                    time_limit_s=self.time_limit_s))
        return {"row": summary_row(run.mechanism), "command": self.command(items)}

    def command(self, items) -> str:
        """The same solve on the command line."""
        parts = ["remech", "solve", str(self.instance), "-m", str(self.design)]
        for o in items:
            parts += ["--set", o.text]
        return " ".join(shlex.quote(p) for p in parts) + " -o OUTDIR"


@dataclass
class SweepSource:
    """Answers from a remech sweep folder: the point whose swept values are asked for."""

    folder: Path
    mode: str = field(default="precomputed", init=False)

    def __post_init__(self) -> None:
        from remech.reporting import load_result

        res = load_result(self.folder)
        if res.kind != "sweep":
            raise InputError(f"--precomputed {self.folder}: holds a remech {res.kind} "
                             "result; give a folder written by remech sweep -o")
        self.doc = res.doc
        self.points = {_canonical(r.get("point") or {}): r for r in self.doc["designs"]}

    def config(self) -> dict:
        return {"mode": self.mode, "instance": self.doc["instance"]["name"],
                "design": self.doc["design"]["name"], "controls": sweep_controls(self.doc),
                "fixed": self.doc.get("fixed") or {}, "points": len(self.points)}

    def answer(self, overrides: dict) -> dict:
        axes = self.doc.get("axes") or {}
        unknown = sorted(set(overrides) - set(axes))
        if unknown:
            raise InputError(f"'{unknown[0]}' was not swept in {self.folder}; the swept keys "
                             f"are: {', '.join(axes)}")
        point = {k: overrides.get(k, values[0]) for k, values in axes.items()}
        row = self.points.get(_canonical(point))
        if row is None:
            raise Rejected(HTTPStatus.NOT_FOUND, f"this combination is not in the sweep "
                           f"{self.folder}; choose values the sweep solved")
        from remech.overrides import value_text

        parts = ["remech", "solve", self.doc["instance"]["path"], "-m",
                 self.doc["design"]["path"]]
        for k, v in {**(self.doc.get("fixed") or {}), **point}.items():
            parts += ["--set", f"{k}={value_text(v)}"]
        return {"row": row, "solved_in_s": row.get("seconds"),
                "command": " ".join(shlex.quote(p) for p in parts) + " -o OUTDIR "
                           f"(looked up in the sweep {self.folder})"}


def _canonical(point: dict) -> str:
    return json.dumps(point, sort_keys=True)


# -- the server ---------------------------------------------------------------------------

class Explorer:
    """The page, its configuration and one solve at a time."""

    def __init__(self, source, log=None) -> None:
        from plotly.offline import get_plotlyjs

        self.source = source
        self.lock = threading.Lock()
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.page = PAGE.read_text(encoding="utf-8").replace(
            "/*PLOTLY*/", get_plotlyjs()).encode("utf-8")

    def solve(self, body: bytes) -> dict:
        """POST /api/solve: ``{"overrides": {key: value}}`` -> the answer (Rejected or
        InputError for a bad request)."""
        try:
            request = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError) as exc:
            raise Rejected(HTTPStatus.BAD_REQUEST, f"the request is not JSON ({exc}); send "
                           '{"overrides": {"KEY": value}}') from None
        overrides = request.get("overrides", {}) if isinstance(request, dict) else None
        if not isinstance(overrides, dict):
            raise Rejected(HTTPStatus.BAD_REQUEST, 'send {"overrides": {"KEY": value}} with '
                           "overrides as a JSON object")
        if not self.lock.acquire(blocking=False):
            raise Rejected(HTTPStatus.CONFLICT, BUSY)
        try:
            t0 = time.perf_counter()
            out = self.source.answer(overrides)
            out["seconds"] = time.perf_counter() - t0
            out["overrides"] = overrides
            self.log(f"[remech] {self.source.mode} {out['row']['status']} in "
                     f"{out['seconds']:.2f} s: "
                     + (", ".join(f"{k}={json.dumps(v)}" for k, v in overrides.items())
                        or "the design as it is"))
            return out
        finally:
            self.lock.release()


class Handler(BaseHTTPRequestHandler):
    server_version = "remech-explore"
    explorer: Explorer  # set on the class made by make_server

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per solve is logged by the Explorer instead

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, doc: dict) -> None:
        from remech.mechanism import clean

        self._send(status, json.dumps(clean(doc)).encode(), "application/json")

    def _local(self) -> bool:
        """The Host header names this server (no DNS rebinding from another site)."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return host in (HOST, "localhost")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._guarded(self._post)

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.explorer.page, "text/html; charset=utf-8")
        elif path == "/api/config":
            self._json(HTTPStatus.OK, self.explorer.source.config())
        else:
            raise Rejected(HTTPStatus.NOT_FOUND, f"no page {path}; open / or use POST "
                           "/api/solve")

    def _post(self) -> None:
        if self.path.split("?", 1)[0] != "/api/solve":
            raise Rejected(HTTPStatus.NOT_FOUND, f"no endpoint {self.path}; POST /api/solve")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != \
                "application/json":
            raise Rejected(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the request as "
                           "Content-Type: application/json")
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            raise Rejected(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise Rejected(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"the request is larger than {MAX_BODY} bytes")
        self._json(HTTPStatus.OK, self.explorer.solve(self.rfile.read(length)))

    def _guarded(self, handle) -> None:
        """Every failure becomes a JSON error: a bad request names the problem; anything
        else is logged on the server's stderr in one line and reported as internal."""
        try:
            if not self._local():
                raise Rejected(HTTPStatus.FORBIDDEN, f"this server answers only requests to "
                               f"{HOST} or localhost")
            handle()
        except Rejected as exc:
            self._json(exc.status, {"error": str(exc)})
        except InputError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "; ".join(exc.lines)})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        except Exception as exc:  # noqa: BLE001 - a server must answer every request
            self.explorer.log(f"[remech] internal error: {type(exc).__name__}: {exc}")
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                       {"error": f"internal error ({type(exc).__name__}: {exc}); see the "
                                 "terminal running remech explore"})


def make_server(explorer: Explorer, port: int = 0) -> ThreadingHTTPServer:
    """The server bound to 127.0.0.1:``port`` (0: a free port); InputError if it cannot."""
    handler = type("ExploreHandler", (Handler,), {"explorer": explorer})
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        why = exc.strerror or exc
        raise InputError(f"--port {port}: cannot listen on {HOST}:{port} ({why}); choose "
                         "another --port, or --port 0 for any free one") from None
    server.daemon_threads = True
    return server


def url(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"


def serve(server: ThreadingHTTPServer, open_browser: bool = True) -> None:
    """Serve until Ctrl-C or SIGTERM; a running HiGHS solve is asked to stop."""
    import signal

    from remech.solving import STOP

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt

    # Ctrl-C stops the server even where the shell started it with SIGINT ignored (a
    # background job of a script)
    previous = signal.signal(signal.SIGTERM, stop), signal.signal(signal.SIGINT,
                                                                  signal.default_int_handler)
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(url(server),), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        STOP.set()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
        server.server_close()
