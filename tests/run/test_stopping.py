"""The stop rule: budget, round limit, and dev F1 no longer improving for the tokens spent."""

from __future__ import annotations

from evokd_agent.config.run_config import RunConfig, StopRule
from evokd_agent.config.stopping import Point, plateau_reason, stop_reason


def history(*f1s: float, tokens_per_round: int = 1000) -> list[Point]:
    return [Point(r, r * tokens_per_round, f1) for r, f1 in enumerate(f1s)]


def test_needs_more_rounds_than_the_window() -> None:
    rule = StopRule(patience_rounds=2, min_delta=0.01)
    assert plateau_reason(history(0.5, 0.5), rule) is None


def test_stops_when_best_f1_did_not_gain_min_delta_over_the_window() -> None:
    rule = StopRule(patience_rounds=2, min_delta=0.01)
    assert plateau_reason(history(0.5, 0.6, 0.605, 0.608), rule) is not None
    assert plateau_reason(history(0.5, 0.6, 0.605, 0.615), rule) is None


def test_a_dip_does_not_count_as_a_gain_nor_as_a_loss() -> None:
    rule = StopRule(patience_rounds=2, min_delta=0.01)
    # Best stays 0.7 from round 1: the window (rounds 2-3) brought nothing.
    reason = plateau_reason(history(0.5, 0.7, 0.4, 0.69), rule)
    assert reason is not None and "0.0000" in reason
    # A recovery above the old best within the window counts.
    assert plateau_reason(history(0.5, 0.7, 0.4, 0.75), rule) is None


def test_gain_per_thousand_tokens() -> None:
    rule = StopRule(patience_rounds=1, min_delta=0.0, min_gain_per_1k_tokens=0.01)
    # +0.02 for 1,000 tokens: 0.02 per 1k, enough.
    assert plateau_reason(history(0.5, 0.52), rule) is None
    # +0.02 for 4,000 tokens: 0.005 per 1k, too little.
    reason = plateau_reason(history(0.5, 0.52, tokens_per_round=4000), rule)
    assert reason is not None and "per 1k tokens" in reason


def test_budget_and_round_limit(config: RunConfig) -> None:
    budget = config.budget_tokens
    assert stop_reason(config, []) is None
    assert stop_reason(config, [Point(0, 0, 0.5), Point(1, budget, 0.9)]) is not None
    improving = [Point(r, r, 0.1 * r) for r in range(config.max_rounds + 1)]
    reason = stop_reason(config, improving)
    assert reason is not None and "round limit" in reason
    assert stop_reason(config, improving[:-1]) is None
