"""Output folders: remech never destroys what it did not write, replaces its own results
only with --force and crash-safely, keeps a solve's result when writing fails, and stops
cleanly on Ctrl-C / SIGTERM (exit 130, no traceback, no temporary leftovers)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import REAL, ROOT
from remech.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under root (except under skip): size and mtime."""
    out = {}
    for path in root.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file():
            st = path.stat()
            out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def sys_tmp(tmp_path, monkeypatch) -> Path:
    """The system temp dir, redirected into the test's folder."""
    folder = tmp_path / "sys-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_output_folder_must_not_be_or_hold_the_inputs(tiny, tmp_path):
    model = tiny / "design.toml"  # tiny-floor's default design
    before = snapshot(tmp_path)
    cases = [
        (tiny, f"error: -o {tiny}: is the instance folder {tiny.resolve()}; write the results "
               "to a folder outside it"),
        (tiny / "out", f"error: -o {tiny / 'out'}: lies inside the instance folder "
                       f"{tiny.resolve()}; write the results to a folder outside it"),
        (tmp_path, f"error: -o {tmp_path}: contains the instance folder {tiny.resolve()}; "
                   "write the results to a folder outside it"),
    ]
    for out, message in cases:
        r = invoke("solve", tiny, "-o", out, "--force")
        assert r.exit_code == 2
        assert r.stderr.strip() == message
    models = tmp_path / "models"
    models.mkdir()
    (models / "d.toml").write_text(model.read_text())
    r = invoke("solve", tiny, "-m", models / "d.toml", "-o", models, "--force")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: -o {models}: contains the input "
                                f"{(models / 'd.toml').resolve()}; write the results to a "
                                "folder that holds none of the inputs")
    assert snapshot(tmp_path, skip=models) == before


def test_cwd_home_and_root_are_refused(tiny, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out, what in ((".", "the current folder"), (home, "the home folder"), ("/", "/"),
                      (tmp_path, "a folder containing the home folder")):
        r = invoke("solve", tiny, "-o", out, "--force")
        assert r.exit_code == 2
        assert r.stderr.strip() == (f"error: -o {out}: is {what}; remech replaces its output "
                                    "folder, so give a new folder for the results, e.g. "
                                    "-o results/")
    assert list(work.iterdir()) == [] and list(home.iterdir()) == []


def test_a_folder_remech_did_not_write_is_never_replaced(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    for extra in ([], ["--force"]):
        r = invoke("solve", tiny, "-o", out, *extra)
        assert r.exit_code == 2
        assert r.stderr.strip() == (f"error: -o {out}: folder exists and is not a remech "
                                    "result (no .remech-result); remech replaces only folders "
                                    "it wrote, so choose another -o")
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    for cmd in (["compare", tiny, "-m", tiny / "design.toml"], ["game", "--costs", "x.csv"],
                ["scenarios", "generate", REAL, "-n", "2"], ["scenarios", "plot", REAL]):
        r = invoke(*cmd, "-o", out, "--force")
        assert r.exit_code == 2, cmd
        assert "is not a remech result" in r.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder holds nothing to lose
    assert invoke("solve", tiny, "-o", empty, "-q").exit_code == 0


def test_force_replaces_a_previous_result_and_nothing_else(tiny, tmp_path):
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    marker = json.loads((out / ".remech-result").read_text())
    assert marker["kind"] == "solve" and marker["remech_version"]
    assert "mechanism.json" in marker["files"]
    before = snapshot(tmp_path, skip=out)
    r = invoke("solve", tiny, "-o", out, "--force", "-q")
    assert r.exit_code == 0
    assert (out / "mechanism.json").is_file()
    assert snapshot(tmp_path, skip=out) == before  # no file outside OUTDIR touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


def test_force_keeps_what_the_user_added_and_other_kinds_of_result(tiny, tmp_path):
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    r = invoke("solve", tiny, "-o", out, "--force", "-q")
    assert r.exit_code == 2
    assert r.output.strip() == (
        f"error: -o {out}: it holds 1 file(s) remech did not write there (e.g. notes.txt); "
        "--force replaces only a result of the same kind as remech wrote it, so choose "
        "another -o")
    assert snapshot(out) == before
    inst = tmp_path / "gen"
    assert invoke("scenarios", "generate", REAL, "-n", 2, "-o", inst).exit_code == 0
    before = snapshot(inst)
    r = invoke("solve", tiny, "-o", inst, "--force", "-q")
    assert r.exit_code == 2
    assert r.output.strip() == (
        f"error: -o {inst}: it holds a remech instance result, not a solve result; --force "
        "replaces only a result of the same kind as remech wrote it, so choose another -o")
    assert snapshot(inst) == before


def test_unwritable_location_is_refused_before_solving(tiny, tmp_path):
    (tmp_path / "file").write_text("")
    r = invoke("solve", tiny, "-o", tmp_path / "file" / "out")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: -o {tmp_path / 'file' / 'out'}: {tmp_path / 'file'} "
                                "is a file, not a folder; choose a location in a folder")
    r = invoke("solve", tiny, "-o", tmp_path / "file")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: -o {tmp_path / 'file'}: exists and is not a folder; "
                                "remove it or choose another -o")
    assert "read instance" not in r.stderr  # refused before any work


def test_write_failure_after_the_solve_keeps_the_result(tiny, tmp_path, sys_tmp, monkeypatch):
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    previous = snapshot(out)
    real_to_csv = pd.DataFrame.to_csv

    def full_disk(self, path=None, *args, **kwargs):
        if path is not None and Path(path).parent.name.startswith(".out.tmp-"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    r = invoke("solve", tiny, "-o", out, "--force", "-q")
    assert r.exit_code == 2
    rescued = [p for p in sys_tmp.iterdir() if p.name.startswith("remech-solve-rescued-")]
    assert len(rescued) == 1 and r.stdout == ""
    assert r.stderr.strip() == (f"error: -o {out}: could not write the results (No space left "
                                f"on device); they are kept in {rescued[0]}; free space or fix "
                                "permissions and move them")
    mech = json.loads((rescued[0] / "mechanism.json").read_text())
    assert mech["status"] == "optimal" and (rescued[0] / "projects.csv").is_file()
    assert snapshot(out) == previous  # the previous result is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sys-tmp", "tiny"]
    assert [p.name for p in sys_tmp.iterdir()] == [rescued[0].name]  # HiGHS log folder gone


def test_leftovers_of_a_killed_run_are_restored_or_removed(tiny, tmp_path):
    out = tmp_path / "out"
    assert invoke("solve", tiny, "-o", out, "-q").exit_code == 0
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    old = tmp_path / f".out.old-{dead}"
    out.rename(old)  # killed between the two renames: only the backup is left
    tmp = tmp_path / f".out.tmp-{dead}"
    tmp.mkdir()
    (tmp / "half.csv").write_text("x")
    r = invoke("solve", tiny, "-o", out, "-q")
    assert r.exit_code == 2  # the restored previous result needs --force
    assert r.stderr.splitlines() == [
        f"[remech] restored {out} from {old.name}, left by an interrupted run",
        f"[remech] removed {tmp}, left by an interrupted run",
        f"error: {out}: output folder exists; pass --force to replace it or choose another -o"]
    assert (out / "mechanism.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


def test_compare_writes_its_markdown_inside_the_swap(tiny, tmp_path):
    out = tmp_path / "cmp"
    r = invoke("compare", tiny, "-m", tiny / "design.toml", "--jobs", "1", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {".remech-result", "compare.json",
                                                "compare.csv", "compare.md", "report.html",
                                                "report.md", "report-charts"}
    marker = json.loads((out / ".remech-result").read_text())
    assert marker["kind"] == "compare"
    assert {"compare.md", "report.html", "report.md", "report-charts"} <= set(marker["files"])


def test_scenarios_generate_refuses_its_source(tmp_path):
    r = invoke("scenarios", "generate", REAL, "-n", 2, "-o", REAL / "new", "--force")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: -o {REAL / 'new'}: lies inside the instance folder "
                                f"{REAL}; write the results to a folder outside it")


# ---- interrupts (subprocesses, as a user's terminal sends them) ----

class Cli:
    """remech in a subprocess; stderr read by a thread so the test can wait for a line."""

    def __init__(self, args, tmp: Path | None = None, new_session: bool = False):
        env = {**os.environ, **({"TMPDIR": str(tmp)} if tmp else {}),
               "REMECH_PROGRESS_SECONDS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "remech.cli", *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, start_new_session=new_session)
        self.err: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stderr.read(1):
            self.err.append(chunk)

    def wait_for(self, predicate, timeout: float = 120) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and self.proc.poll() is None:
            if predicate("".join(self.err)):
                return
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError("never got there; stderr:\n" + "".join(self.err))

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        stdout = self.proc.stdout.read()
        self.proc.wait(timeout)
        self.reader.join(timeout)
        return self.proc.returncode, stdout, "".join(self.err)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """150 generated scenarios with the default design and a clairvoyant stockpile (the
    hard variant: a solve of about 40 s, the first incumbent after ~4 s; the design's
    default, the non-anticipative rule, closes in about a second)."""
    folder = tmp_path_factory.mktemp("gen") / "big"
    assert invoke("scenarios", "generate", REAL, "-n", 150, "--seed", 1, "-o",
                  folder).exit_code == 0
    design = (ROOT / "models" / "floor-stockpile-grants.toml").read_text()
    (folder / "hard.toml").write_text(design + '\n[stockpile]\npolicy = "clairvoyant"\n')
    toml = (folder / "instance.toml").read_text().splitlines()
    (folder / "instance.toml").write_text("\n".join(
        'default_model = "hard.toml"' if ln.startswith("default_model") else ln
        for ln in toml) + "\n")
    return folder


def _previous_result(out: Path) -> None:
    out.mkdir()
    (out / ".remech-result").write_text('{"kind": "solve"}\n')
    (out / "mechanism.json").write_text('{"status": "optimal"}\n')


def test_ctrl_c_during_the_solve_writes_the_incumbent(tmp_path, big):
    """An interrupted solve with a feasible incumbent writes it with status "interrupted",
    its gap and bound, beside the previous result (OUTDIR.interrupted), which stays
    untouched even with --force; exit 130."""
    out, sys_tmp = tmp_path / "out", tmp_path / "sys-tmp"
    sys_tmp.mkdir()
    _previous_result(out)
    before = snapshot(out)
    cli = Cli(["solve", big, "-o", out, "--force"], sys_tmp)
    cli.wait_for(lambda t: "MUSD, bound" in t and "best none yet" not in
                 t.rsplit("[remech]   HiGHS", 1)[-1])
    cli.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = cli.finish()
    assert code == 130
    assert "Traceback" not in stderr
    assert "status        interrupted (HiGHS: Interrupted by user; gap" in stdout
    kept = tmp_path / "out.interrupted"
    assert stderr.strip().endswith(f"[remech] interrupted: the best mechanism found so far is "
                                   f"written to {kept}/ with status interrupted")
    assert snapshot(out) == before  # the previous result is untouched
    mech = json.loads((kept / "mechanism.json").read_text())
    assert mech["status"] == "interrupted" and mech["proved_optimal"] is False
    assert mech["mip_gap"] > 0 and mech["dual_bound_musd"] <= mech["objective_musd"]
    # the progress lines are in MUSD, not in HiGHS's scaled objective (user_objective_scale)
    last = re.findall(r"best ([\d,.]+) MUSD, bound ([\d,.-]+) MUSD", stderr)[-1]
    best, bound = (float(v.replace(",", "")) for v in last)
    assert bound <= mech["dual_bound_musd"] + 0.1 <= mech["objective_musd"] + 0.1 <= best + 0.2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.interrupted", "sys-tmp"]
    assert list(sys_tmp.iterdir()) == []  # HiGHS log and LP work folders removed


def test_stop_before_an_incumbent_leaves_the_previous_result(tmp_path, big, sys_tmp):
    """The stop request (what the SIGINT handler does) arrives as HiGHS starts, before it
    has a feasible mechanism: nothing is written, exit 130."""
    import remech.solving as solve_module

    def stop_when_solving() -> None:
        while not solve_module._SOLVING.wait(0.01):
            pass
        solve_module.STOP.set()

    out = tmp_path / "out"
    _previous_result(out)
    before = snapshot(out)
    stopper = threading.Thread(target=stop_when_solving, daemon=True)
    stopper.start()
    try:
        r = invoke("solve", big, "-o", out, "--force")
    finally:
        stopper.join(5)
        solve_module.STOP.clear()
    assert r.exit_code == 130 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1] == (
        f"[remech] interrupted before HiGHS found a feasible mechanism; nothing written "
        f"({out} untouched)")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sys-tmp"]
    assert list(sys_tmp.iterdir()) == []


def test_sigterm_before_the_solve_leaves_the_previous_result(tmp_path, big):
    out, sys_tmp = tmp_path / "out", tmp_path / "sys-tmp"
    sys_tmp.mkdir()
    out.mkdir()
    (out / ".remech-result").write_text('{"kind": "solve"}\n')
    (out / "mechanism.json").write_text('{"status": "optimal"}\n')
    before = snapshot(out)
    cli = Cli(["solve", big, "-o", out, "--force"], sys_tmp)
    cli.wait_for(lambda t: "build model ..." in t)
    cli.proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = cli.finish()
    assert code == 130
    assert "Traceback" not in stderr and stdout == ""
    assert stderr.strip().endswith("[remech] interrupted; no result written (any previous "
                                   "result is untouched)")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sys-tmp"]
    assert list(sys_tmp.iterdir()) == []


def test_ctrl_c_stops_compare_workers(tmp_path):
    cli = Cli(["compare", REAL, "--jobs", "2"], new_session=True)
    cli.wait_for(lambda t: "solving 10 designs" in t)
    time.sleep(1.0)  # the workers are solving
    t0 = time.monotonic()
    os.killpg(cli.proc.pid, signal.SIGINT)  # like Ctrl-C: the whole process group
    code, stdout, stderr = cli.finish()
    assert code == 130
    assert time.monotonic() - t0 < 15
    assert "Traceback" not in stderr
    with pytest.raises(ProcessLookupError):  # no worker left behind
        os.killpg(cli.proc.pid, 0)


def test_ctrl_c_stops_game_workers(tmp_path):
    cli = Cli(["game", REAL, "--jobs", "2", "--no-cache"], new_session=True)
    cli.wait_for(lambda t: "solving 255 coalitions" in t)
    time.sleep(1.0)
    os.killpg(cli.proc.pid, signal.SIGINT)
    code, stdout, stderr = cli.finish()
    assert code == 130
    assert "Traceback" not in stderr
    assert stderr.strip().endswith("[remech] interrupted; no result written (any previous "
                                   "result is untouched)")
    with pytest.raises(ProcessLookupError):
        os.killpg(cli.proc.pid, 0)
