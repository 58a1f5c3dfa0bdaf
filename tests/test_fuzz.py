"""Fuzzing the input checks: a few hundred seeded mutations of instances/tiny-floor (CSV
cells set to nan/inf/1e309/-1/garbage/huge, rows duplicated or dropped, columns dropped or
misspelt, TOML keys misspelt, values of the wrong type, files emptied, truncated or not
UTF-8). Each ends with exit 0 (a result), or exit 2 with errors naming the file, never a
traceback, and touches nothing outside the output folder. `pytest --slow` runs 2000
cases; benchmarks/fuzz.py runs any number and prints counts by exit class."""

from __future__ import annotations

import pytest

from fuzz_cases import run_case

FAST_CASES = 150
SLOW_CASES = 2000


def _check(seed: int, tmp_path, solve: bool) -> None:
    case = run_case(seed, tmp_path, solve=solve)
    assert not case.problem, f"seed {case.seed} {case.command}: {case.problem}\n" + \
        "\n".join(case.mutations)


@pytest.mark.parametrize("seed", range(FAST_CASES))
def test_fuzz_validate(seed, tmp_path):
    _check(seed, tmp_path, solve=False)


@pytest.mark.parametrize("seed", range(10_000, 10_015))
def test_fuzz_solve(seed, tmp_path):
    _check(seed, tmp_path, solve=True)


@pytest.mark.slow
def test_fuzz_long(tmp_path):
    failures = []
    for seed in range(100_000, 100_000 + SLOW_CASES):
        base = tmp_path / str(seed)
        base.mkdir()
        case = run_case(seed, base, solve=seed % 10 == 0)
        if case.problem:
            failures.append(f"seed {case.seed} {case.command}: {case.problem}; "
                            + "; ".join(case.mutations))
    assert not failures, "\n".join(failures)
