"""Command-line option values and the costs table of remech game: every bad value gets one
line naming the option (or file and row), the value and the fix, with exit code 2, before
any work is done."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import REAL
from remech.cli import main
from remech.executor import default_jobs, max_jobs


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


CORES = default_jobs()


@pytest.mark.parametrize(("args", "message"), [
    (["--time-limit", "nan"], "--time-limit nan: not a finite number; give e.g. "
                              "--time-limit 600"),
    (["--time-limit", "inf"], "--time-limit inf: not a finite number; give e.g. "
                              "--time-limit 600"),
    (["--time-limit", "-5"], "--time-limit -5: must be above 0 seconds; give e.g. "
                             "--time-limit 600"),
    (["--time-limit", "0"], "--time-limit 0: must be above 0 seconds; give e.g. "
                            "--time-limit 600"),
    (["--mip-gap", "nan"], "--mip-gap nan: not a finite number; give e.g. --mip-gap 1e-4"),
    (["--mip-gap", "-0.1"], "--mip-gap -0.1: must be at least 0 (a relative gap); give e.g. "
                            "--mip-gap 1e-4"),
    (["--mip-gap", "5"], "--mip-gap 5: more than 1 (a relative gap); give e.g. "
                         "--mip-gap 1e-4"),
    (["--threads", "5000"], f"--threads 5000: more than 1024 threads (this machine has "
                            f"{CORES} cores); give e.g. --threads {CORES} or 0 for HiGHS to "
                            "choose"),
    (["--threads", "-1"], f"--threads -1: must be at least 0 threads (this machine has "
                          f"{CORES} cores); give e.g. --threads {CORES} or 0 for HiGHS to "
                          "choose"),
    (["--jobs", "0"], f"--jobs 0: must be at least 1 processes (this machine has {CORES} "
                      f"cores); give e.g. --jobs {CORES}"),
    (["--jobs", "100000"], f"--jobs 100000: more than {max_jobs()} processes (this machine "
                           f"has {CORES} cores); give e.g. --jobs {CORES}"),
])
def test_solver_options(tiny, tmp_path, args, message):
    r = invoke("solve", tiny, "-o", tmp_path / "o", *args)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {message}"
    assert not (tmp_path / "o").exists()


def test_compare_and_game_check_their_options_too(tiny, tmp_path):
    r = invoke("compare", tiny, "--time-limit", "inf")
    assert (r.exit_code, r.stderr.strip()) == (
        2, "error: --time-limit inf: not a finite number; give e.g. --time-limit 600")
    r = invoke("game", tiny, "--mip-gap", "nan")
    assert (r.exit_code, r.stderr.strip()) == (
        2, "error: --mip-gap nan: not a finite number; give e.g. --mip-gap 1e-4")


@pytest.mark.parametrize(("args", "message"), [
    (["--long-run", "NDPR=-5"], "--long-run NDPR=-5: NDPR price -5 is not a positive finite "
                                "number; give a price in USD/kg, e.g. NDPR=80"),
    (["--long-run", "NDPR=nan"], "--long-run NDPR=nan: NDPR price nan is not a positive "
                                 "finite number; give a price in USD/kg, e.g. NDPR=80"),
    (["--long-run", "XX=80"], "--long-run XX=80: unknown product 'XX'; use one of NDPR, DY, "
                              "TB"),
    (["--long-run", "NDPR80"], "--long-run NDPR80: 'NDPR80' is not PRODUCT=number; write "
                               "e.g. NDPR=80"),
    (["--start", "DY=inf"], "--start DY=inf: DY price inf is not a positive finite number; "
                            "give a price in USD/kg, e.g. DY=80"),
    (["--start", "TB=1,TB=2"], "--start TB=1,TB=2: TB given twice; give each product once"),
    (["--p-controls", "nan"], "--p-controls nan: not a finite number; give e.g. "
                              "--p-controls 0.3"),
    (["--mean-reversion", "nan"], "--mean-reversion nan: not a finite number; give e.g. "
                                  "--mean-reversion 0.3"),
])
def test_scenario_generator_options(tmp_path, args, message):
    r = invoke("scenarios", "generate", REAL, "-n", 2, "-o", tmp_path / "g", *args)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {message}"
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize(("text", "message"), [
    (None, "{path}: file not found; give a CSV with columns coalition,cost"),
    ("", "costs.csv: empty file; give a header coalition,cost and one row per non-empty "
         "coalition"),
    ("coalition,cost\n", "costs.csv: no rows under the header; give one row per non-empty "
                         "coalition, e.g. US+JP,120.5"),
    ("who,what\nA,1\n", "costs.csv: missing column 'coalition'; the header must be "
                        "coalition,cost"),
    ("coalition,cost\nA,1\nB,x\nA+B,1\n", "costs.csv row 3, column 'cost': 'x' is not a "
                                          "number; write the coalition's cost as a number"),
    ("coalition,cost\nA,1\nB,nan\nA+B,1\n", "costs.csv row 3, column 'cost': nan is not "
                                            "finite; give a finite cost"),
    ("coalition,cost\nA,1\nB,\nA+B,1\n", "costs.csv row 3, column 'cost': '' is not a "
                                         "number; write the coalition's cost as a number"),
    ("coalition,cost\nA,1\nB,2\nA&B,1\n", "costs.csv row 4, column 'coalition': 'A&B' is not "
                                          "members joined by '+' (member names are letters, "
                                          "digits, '_', '-' or '.'); write e.g. US+JP"),
    ("coalition,cost\nA,1\nB,2\nA++B,1\n", "costs.csv row 4, column 'coalition': 'A++B' is "
                                           "not members joined by '+' (member names are "
                                           "letters, digits, '_', '-' or '.'); write e.g. "
                                           "US+JP"),
    ("coalition,cost\nA,1\nA+A,2\n", "costs.csv row 3, column 'coalition': 'A+A' lists a "
                                     "member twice; list each member once"),
    ("coalition,cost\nA,1\nB,2\n", "costs.csv: 1 coalition(s) missing, first: A+B; give one "
                                   "row for every non-empty coalition of A, B"),
    ("coalition,cost\nA,1\nB,2\nA+B,3\nB+A,3\n", "costs.csv row 5: coalition 'B+A' appears "
                                                 "twice; keep one row per coalition"),
])
def test_game_costs_table(tmp_path, text, message):
    path = tmp_path / "costs.csv"
    if text is not None:
        path.write_text(text)
    r = invoke("game", "--costs", path)
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: " + message.replace("{path}", str(path))


def test_game_costs_table_that_is_not_text(tmp_path):
    path = tmp_path / "costs.csv"
    path.write_bytes(b"coalition,cost\n\xff\xfe\x00A,1\n")
    r = invoke("game", "--costs", path)
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: costs.csv: cannot read it as CSV (not UTF-8 text); "
                                "give a CSV with columns coalition,cost")


def test_game_report_says_when_there_is_no_nucleolus(tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text("coalition,cost\nA,1\nB,1\nA+B,3\n")
    r = invoke("game", "--costs", path)
    assert r.exit_code == 0, r.output
    assert ("nucleolus    no nucleolus: the imputation set is empty (stand-alone costs sum to "
            "2 < grand coalition cost 3)") in r.stdout
    assert "prenucleolus" in r.stdout
