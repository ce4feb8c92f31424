"""The cost estimate: `evokd run --dry-run` sends nothing; a run writes estimate.json and its
report sets the estimate against the spend."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.cli.main import main
from evokd_agent.config.run_config import load_run_config
from evokd_agent.run.dry_run import estimate_line, estimate_run
from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
from evokd_agent.teacher.cost_estimate import CostEstimate, PhaseEstimate, compare
from tests.methods.test_baselines import Teacher, make_config, write_rows


class LogprobTeacher(Teacher):
    """The fake teacher, with a logprob for every piece of its replies, label words on their
    own (as OpenAI, vLLM and llama.cpp send them; the estimate assumes a teacher that does)."""

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        reply = super().__call__(body)
        pieces = [p for p in re.split(r"(positive|negative)", reply.content or "") if p]
        return replace(reply, logprobs=tuple(FakeTokenLogprob(p, 0.0, {p: 0.0}) for p in pieces))


def _spent_requests(run_dir: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in json.loads((run_dir / "ledger.json").read_text())["spend"]:
        out[row["phase"]] = out.get(row["phase"], 0) + row["requests"]
    return out


@pytest.mark.parametrize("method", ["evokd", "evokd_init", "zerogen", "auggpt", "llkd"])
async def test_the_estimate_plans_the_requests_the_run_sends(
    tmp_path: Path, tiny_model_dir: Path, method: str
) -> None:
    pool = write_rows(
        tmp_path / "pool.jsonl",
        [(f"pool {w} film {i}", 0) for i in range(40) for w in ("good", "bad")],
    )
    with FakeOpenAIServer(handler=LogprobTeacher()) as server:
        config = make_config(
            tmp_path,
            server.base_url,
            tiny_model_dir,
            method,
            data={"pool": str(pool)},
            labelling={"per_request": 4},
            generation={"per_request": 2},
        )
        outcome = await run_distillation(config, progress=False)
    estimate = CostEstimate.from_dict(json.loads((outcome.run_dir / "estimate.json").read_text()))
    planned = {p.phase: p.requests for p in estimate.phases}
    # The fake teacher answers every request with usable items, as the rehearsal's does, and
    # gives logprobs (without, LLKD samples each label 5 times: the estimate's notes say so).
    assert planned == _spent_requests(outcome.run_dir)
    assert estimate.rounds == 2 and "round limit" in estimate.stop
    report = (outcome.run_dir / "report.md").read_text()
    assert "## Cost: estimated before the run, and spent" in report
    total = estimate.total
    assert f"| total | {total.requests} | {total.requests} | {total.tokens:,} |" in report


async def test_the_estimate_stops_where_the_budget_does(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = load_run_config(
        make_config(
            tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, "zerogen", budget_tokens=1500
        )
    )
    estimate = await estimate_run(config)
    assert "budget" in estimate.stop
    assert 0 < estimate.total.tokens <= 1500
    loose = await estimate_run(config.model_copy(update={"budget_tokens": 1_000_000}))
    assert loose.total.tokens > estimate.total.tokens and "round limit" in loose.stop


async def test_the_estimate_is_priced_at_the_teachers_prices(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    path = make_config(
        tmp_path,
        "http://127.0.0.1:9/v1",
        tiny_model_dir,
        "evokd",
        teacher={"prices": {"prompt": 2.0, "completion": 8.0}},
    )
    estimate = await estimate_run(load_run_config(path))
    assert estimate.priced
    assert f"(${estimate.total.cost_usd:.4f})" in estimate_line(estimate)
    free = CostEstimate("evokd", 1, "round limit", 100, priced=True, phases=estimate.phases[:0])
    assert "$" not in estimate_line(free)
    for phase in estimate.phases:
        expected = (phase.prompt_tokens * 2.0 + phase.completion_tokens * 8.0) / 1e6
        assert phase.cost_usd == pytest.approx(expected, rel=1e-6)
    assert {p.phase for p in estimate.phases} == {"analysis", "generation", "labelling"}


async def test_a_method_without_teacher_plans_no_request(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    path = make_config(tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, "eda")
    estimate = await estimate_run(load_run_config(path))
    assert estimate.total.requests == 0 and estimate.phases == ()


def test_dry_run_prints_the_estimate_and_sends_nothing(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(handler=Teacher()) as server:
        path = make_config(tmp_path, server.base_url, tiny_model_dir, "evokd")
        assert main(["run", str(path), "--dry-run"]) == 0
        assert server.requests == []
    out = capsys.readouterr().out
    assert "nothing was sent" in out
    assert out.count("\ntotal ") == 1 and "analysis" in out and "generation" in out
    assert not (tmp_path / "runs").exists()  # no run directory either


def test_dry_run_needs_a_config_not_a_run_dir(tmp_path: Path) -> None:
    assert main(["run", "--resume", str(tmp_path), "--dry-run"]) == 2


def test_an_estimate_reads_back_and_compares_per_phase() -> None:
    estimate = CostEstimate(
        method="evokd",
        rounds=2,
        stop="round limit",
        budget_tokens=10_000,
        phases=(PhaseEstimate("generation", 2, 300, 100), PhaseEstimate("labelling", 1, 50, 10)),
    )
    assert CostEstimate.from_dict(json.loads(json.dumps(estimate.to_dict()))) == estimate
    rows: list[dict[str, Any]] = [
        {"phase": "generation", "round": 1, "requests": 1, "prompt_tokens": 200},
        {
            "phase": "generation",
            "round": 2,
            "requests": 1,
            "prompt_tokens": 150,
            "completion_tokens": 50,
        },
        {"phase": "analysis", "round": 1, "requests": 1, "unconfirmed_tokens": 30},
    ]
    by_phase = {c.phase: c for c in compare(estimate, rows)}
    assert by_phase["generation"].spent_tokens == 400 and by_phase["generation"].ratio == 1.0
    assert by_phase["labelling"].spent_requests == 0 and by_phase["labelling"].ratio == 0.0
    assert by_phase["analysis"].estimated.tokens == 0 and by_phase["analysis"].ratio is None
    assert by_phase["total"].spent_tokens == 430 and by_phase["total"].spent_requests == 3


def test_a_report_skips_an_estimate_it_cannot_read() -> None:
    from evokd_agent.report.summary import summarize
    from evokd_agent.rundir.records import RunState

    summary = summarize({}, [], [], RunState(), estimate={"method": "evokd"})  # no rounds, stop
    assert summary.estimate is None and summary.against_estimate == ()
