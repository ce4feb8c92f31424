"""Teacher prices: the shipped table, overrides, and the cost the ledger and a run report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer
from evokd_agent.teacher.ledger import Reservation, TokenLedger
from evokd_agent.teacher.prices import Prices, prices_for, read_table
from tests.methods.test_baselines import Teacher, make_config


def test_a_request_costs_its_prompt_cached_prompt_and_completion_tokens() -> None:
    prices = Prices(prompt=2.0, cached_prompt=0.5, completion=8.0)
    # 1,000 prompt tokens of which 400 cached, 100 completion tokens.
    assert prices.cost(1_000, 100, 400) == pytest.approx((600 * 2 + 400 * 0.5 + 100 * 8) / 1e6)
    assert Prices(prompt=1.0, completion=3.0).cost(10, 0, 10) == pytest.approx(10 / 1e6)
    assert prices.unknown(1_000) == pytest.approx(1_000 * 8 / 1e6)  # the dearest price
    assert prices.worst(1_000, 100) == pytest.approx((1_000 * 2 + 100 * 8) / 1e6)


def test_the_shipped_table_matches_names_and_dated_model_names(tmp_path: Path) -> None:
    mini = prices_for("gpt-4o-mini-2024-07-18")
    assert mini == prices_for("gpt-4o-mini") and mini != prices_for("gpt-4o")
    assert prices_for("smollm2-135m-instruct") == Prices(prompt=0, cached_prompt=0, completion=0)
    assert prices_for("my-own-llama") is None
    mine = tmp_path / "prices.yaml"
    mine.write_text(
        "my-own-llama: {prompt: 0.2, completion: 0.2}\ngpt-4o: {prompt: 1, completion: 1}\n"
    )
    assert prices_for("my-own-llama", table=mine) == Prices(prompt=0.2, completion=0.2)
    assert prices_for("gpt-4o", table=mine) == Prices(prompt=1, completion=1)
    override = Prices(prompt=9, completion=9)
    assert prices_for("gpt-4o", override=override, table=mine) is override
    mine.write_text("gpt-4o: {prompt: cheap}\n")
    with pytest.raises(EvokdError, match="gpt-4o"):
        read_table(mine)


async def test_the_ledger_prices_answers_replays_and_unconfirmed_attempts() -> None:
    prices = Prices(prompt=1.0, cached_prompt=0.25, completion=4.0)
    ledger = TokenLedger(10_000, charge_cache_hits=True, prices=prices)
    answered = await ledger.reserve(300, "generation", 1, prompt=200)
    lost = await ledger.reserve(300, "generation", 1, prompt=200)
    assert isinstance(answered, Reservation) and isinstance(lost, Reservation)
    ledger.commit(answered, 150, 50, 100)
    ledger.charge_unconfirmed(lost)
    ledger.record_cache_hit("labelling", 2, 80, cost_usd=prices.cost(60, 20))
    # The unconfirmed attempt costs its reservation's worst case: 200 prompt + 100 completion.
    expected = prices.cost(150, 50, 100) + prices.worst(200, 100) + prices.cost(60, 20)
    status = ledger.status()
    assert status.priced and status.total.cost_usd == pytest.approx(expected)
    assert f"${expected:.4f}" in status.summary()
    saved = ledger.to_dict()
    assert saved["prices"] == prices.model_dump()
    assert TokenLedger.from_dict(saved).status().total.cost_usd == pytest.approx(expected)


async def test_a_run_reports_its_cost(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = {"prompt": 0.15, "cached_prompt": 0.075, "completion": 0.60}
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(
            tmp_path, server.base_url, tiny_model_dir, "zerogen", teacher={"prices": prices}
        )
        outcome = await run_distillation(config, progress=False)
    ledger = json.loads((outcome.run_dir / "ledger.json").read_text())
    total = ledger["total"]
    expected = (total["prompt_tokens"] * 0.15 + total["completion_tokens"] * 0.60) / 1e6
    assert total["cost_usd"] == pytest.approx(expected) and expected > 0
    assert f"Teacher cost: ${expected:.4f}" in (outcome.run_dir / "report.md").read_text()
    assert (
        f"| teacher cost | ${expected:.4f} |" in (outcome.run_dir / "final/README.md").read_text()
    )
    assert f"(${expected:.4f})" in capsys.readouterr().err  # the progress line
