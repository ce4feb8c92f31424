"""When a run stops: budget spent, round limit reached, or dev F1 no longer worth its tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evokd_agent.config.run_config import RunConfig, StopRule


@dataclass(frozen=True)
class Point:
    """One evaluated round: teacher tokens spent so far and the student's dev F1 after it."""

    round: int
    tokens_spent: int
    dev_f1: float


def plateau_reason(history: Sequence[Point], rule: StopRule) -> str | None:
    """Why dev F1 has stopped improving per tokens spent, or None while it still improves.

    With w = `rule.patience_rounds`, compares the best dev F1 of all rounds with the best of the
    rounds before the last w (see `StopRule`). Needs more than w evaluated rounds.
    """
    w = rule.patience_rounds
    if len(history) <= w:
        return None
    before = history[: len(history) - w]
    best_before = max(p.dev_f1 for p in before)
    best_now = max(p.dev_f1 for p in history)
    gain = best_now - best_before
    if gain < rule.min_delta:
        return (
            f"dev F1 plateaued: best improved by {gain:.4f} in the last {w} round(s), "
            f"less than stop.min_delta {rule.min_delta}"
        )
    if rule.min_gain_per_1k_tokens is not None:
        tokens = history[-1].tokens_spent - before[-1].tokens_spent
        if tokens > 0:
            rate = gain * 1000 / tokens
            if rate < rule.min_gain_per_1k_tokens:
                return (
                    f"dev F1 no longer pays for its tokens: +{gain:.4f} for {tokens} tokens in "
                    f"the last {w} round(s) ({rate:.5f} per 1k tokens, less than "
                    f"stop.min_gain_per_1k_tokens {rule.min_gain_per_1k_tokens})"
                )
    return None


def stop_reason(config: RunConfig, history: Sequence[Point]) -> str | None:
    """Why the run should stop after the last round of `history`, or None to go on.

    `history` holds round 0 (the seeds-only student) and every round after it, in order.
    """
    if not history:
        return None
    last = history[-1]
    if last.tokens_spent >= config.budget_tokens:
        return f"token budget reached: {last.tokens_spent} of {config.budget_tokens} spent"
    if last.round >= config.max_rounds:
        return f"round limit reached: {last.round} of max_rounds {config.max_rounds}"
    return plateau_reason(history, config.stop)
