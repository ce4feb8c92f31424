"""The reliability suite, small: a few kills, an over-reporting server, an outage (slow: each
run is a child process; `python -m tests.reliability.suite` runs the full 100-kill protocol)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability.suite import (
    BUDGET,
    Figures,
    run_bad_inputs,
    run_killed,
    run_outage,
    run_over_reporting,
)

pytestmark = pytest.mark.slow


def test_kills_with_faults_resume_exactly_within_budget(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    figures = Figures()
    run_killed(tmp_path, tiny_model_dir, 3, random.Random(7), figures)
    print(figures.show())
    assert figures.kills >= 1 and figures.kills_survived == figures.kills
    assert figures.answered_resent == 0 and figures.orphaned_answers == 0
    assert figures.failures_resent == 0
    assert figures.tracebacks == 0
    [row] = figures.rows
    assert row["billed"] <= BUDGET and row["ledger"] >= row["billed"]


def test_an_over_reporting_server_stays_within_budget(tmp_path: Path, tiny_model_dir: Path) -> None:
    figures = Figures()
    run_over_reporting(tmp_path, tiny_model_dir, figures)
    [row] = figures.rows
    assert row["exits"] == "0" and row["billed"] <= BUDGET and row["ledger"] == row["billed"]


def test_an_outage_exits_3_and_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    figures = Figures()
    run_outage(tmp_path, tiny_model_dir, figures)
    [row] = figures.rows
    assert row["exits"] == "3 0" and figures.tracebacks == 0
    assert row["billed"] <= BUDGET


def test_bad_inputs_end_in_one_line_never_a_traceback(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = Figures()
    run_bad_inputs(tmp_path, tiny_model_dir, figures)
    err = capsys.readouterr().err
    assert figures.bad_inputs >= 45
    assert figures.bad_input_tracebacks == [] and figures.tracebacks == 0
    assert "Traceback" not in err
