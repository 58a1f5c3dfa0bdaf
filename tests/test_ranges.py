"""HiGHS reports no coefficient-range warning on the shipped instances (issue 11, item 3).

HiGHS 1.16 writes "excessively small/large costs|bounds|matrix values" into its log when a
model's ranges fall outside what it handles well; remech scales the objective
(remech.solving.objective_scale) and keeps its own units (e.g. the value chain's idle
output in kt) so that none is written. Each case builds the model, hands it to HiGHS as
remech solve does and stops HiGHS before its first iteration (time limit 0): the range
assessment comes first.
"""

from __future__ import annotations

from pathlib import Path

import highspy
import pytest

from remech.run import build, load_files
from remech.solving import objective_scale, write_lp

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("allied-ree-2026", None),
    ("allied-ree-2026", "full-toolkit"),
    ("allied-ree-2026", "crma-targets"),
    ("allied-ree-chain-2026", None),  # chain-full: the idle tie-break warned in t
    ("allied-ree-chain-2026", "chain-crma-targets"),
    ("allied-ree-eu27-2026", None),
]


@pytest.mark.parametrize(("instance", "design"), CASES)
def test_no_range_warning_on_shipped(instance, design, tmp_path):
    model = None if design is None else ROOT / "models" / f"{design}.toml"
    run = build(load_files(ROOT / "instances" / instance, model))
    write_lp(run.model, tmp_path / "model.lp")
    log = tmp_path / "highs.log"
    h = highspy.Highs()
    h.setOptionValue("output_flag", True)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("log_file", str(log))
    assert h.readModel(str(tmp_path / "model.lp")) != highspy.HighsStatus.kError
    h.setOptionValue("user_objective_scale", objective_scale(h.getLp().col_cost_))
    h.setOptionValue("time_limit", 0.0)
    h.run()
    text = log.read_text()
    assert "Coefficient ranges" in text  # the assessment ran
    assert [line for line in text.splitlines() if "excessively" in line] == []
