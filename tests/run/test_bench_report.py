"""The bench table's spend columns, from run results alone (no runs, no teacher)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.bench.report import (
    aggregate,
    runs_csv,
    table_csv,
    table_markdown,
    unspent_runs,
)
from evokd_agent.bench.results import RunResult
from evokd_agent.report.summary import accepted_samples, cached_prompt_tokens
from evokd_agent.rundir.records import SampleRecord


def result(method: str, budget: int, seed: int, tokens: int, accepted: int, **kw: Any) -> RunResult:
    return RunResult(
        dataset="d",
        method=method,
        budget=budget,
        seed=seed,
        task="classification",
        teacher="t",
        scores={"accuracy": 0.5, "macro_f1": 0.5},
        tokens_spent=tokens,
        wall_seconds=1.0,
        rounds=(),
        run_dir=Path(f"/runs/{method}/{seed}"),
        accepted=accepted,
        **kw,
    )


def test_spend_columns_aggregate_over_seeds() -> None:
    runs = [
        result("zerogen", 1000, 1, 990, 9, cached_prompt_tokens=300),
        result("zerogen", 1000, 2, 900, 1, cached_prompt_tokens=100,
               stop_reason="round limit reached: 100 of max_rounds 100"),
        result("eda", 0, 1, 0, 8),
    ]  # fmt: skip
    zerogen, eda = aggregate(runs)
    assert zerogen.budget_share == pytest.approx(0.945)
    assert zerogen.cached == 200 and zerogen.accepted == 5
    # All tokens over all samples (1890 / 10), not the mean of the ratios ((110 + 900) / 2).
    assert zerogen.tokens_per_accepted == pytest.approx(189.0)
    assert eda.budget_share is None and eda.tokens_per_accepted is None and eda.accepted == 8

    md = table_markdown([zerogen, eda], ["t"], seeds=(1, 2))
    assert "| 945 | 94.5% | 200 | 5.0 | 189 |" in md
    assert "| 0 | – | 0 | 8.0 | – |" in md
    table = table_csv([zerogen, eda], "t").splitlines()
    assert table[1].split(",")[-8:-2] == ["945.0", "94.5", "200.0", "5.0", "189.0", "1.0"]
    assert table[1].split(",")[-2] == ""  # no cost: the runs' teacher had no price
    per_run = runs_csv(runs).splitlines()
    assert per_run[2].endswith(",900,90.0,100,1,900.0,1.0,0,round limit reached: 100 of max_rounds "
                               "100,/runs/zerogen/2,")  # fmt: skip
    assert unspent_runs(runs) == ["d zerogen b1000 s2: round limit reached: 100 of max_rounds 100"]


def test_runs_csv_names_runs_relative_to_a_relative_out_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `evokd bench --out bench_out/x`: the cells' folders are resolved, the out folder is not.
    monkeypatch.chdir(tmp_path)
    run = result("evokd", 1000, 1, 990, 3)
    run = dataclasses.replace(run, run_dir=tmp_path / "bench_out/x/runs/d/evokd/b1000/s1/r")
    last = runs_csv([run], Path("bench_out/x")).splitlines()[1]
    assert last.endswith(",runs/d/evokd/b1000/s1/r,") and str(tmp_path) not in last


def test_unspent_runs_skip_budget_ends_and_teacherless_runs() -> None:
    runs = [
        result("evokd", 1000, 1, 990, 3, stop_reason="token budget exhausted: 990 of 1000 spent"),
        result("evokd", 1000, 2, 1000, 3, stop_reason="token budget reached: 1000 of 1000 spent"),
        result("eda", 0, 1, 0, 8, stop_reason="round limit reached: 4 of max_rounds 4"),
    ]
    assert unspent_runs(runs) == []
    many = [result("llkd", 10, s, 1, 1, stop_reason="pool used up") for s in range(12)]
    listed = unspent_runs(many, limit=10)
    assert len(listed) == 11 and listed[-1] == "... and 2 more (runs.csv)"


def test_accepted_samples_count_new_training_samples_once() -> None:
    samples = [
        SampleRecord(round=0, phase="seed", accepted=True, text="s"),
        SampleRecord(round=1, phase="hard", accepted=True, text="a"),
        SampleRecord(round=1, phase="easy", accepted=True, text="b"),
        SampleRecord(round=1, phase="hard", accepted=False, reason="near_duplicate", text="c"),
        SampleRecord(round=1, phase="batch", accepted=True, text="a"),  # a re-score of "a"
        SampleRecord(round=2, phase="pool", accepted=True, text="p"),
    ]
    assert accepted_samples(samples) == 3


def test_cached_prompt_tokens_from_a_saved_ledger() -> None:
    ledger = {
        "spend": [
            {"phase": "generation", "round": 1, "prompt_tokens": 90, "cached_prompt_tokens": 60},
            {"phase": "labelling", "round": 1, "prompt_tokens": 40},  # an older ledger's row
        ]
    }
    assert cached_prompt_tokens(ledger) == 60
    assert cached_prompt_tokens(None) == 0 and cached_prompt_tokens({"spend": "?"}) == 0
