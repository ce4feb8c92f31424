"""The scripted EvoKD loop: prelude, rounds in paper order, finish, budget exhaustion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evokd_agent.agent import (
    EVOKD_ROUND,
    Action,
    AgentState,
    ScriptedConfig,
    ScriptedPolicy,
    ToolOutcome,
    ToolResult,
)


@dataclass(frozen=True)
class Spent(ToolResult):
    """A tool result carrying the typed stop signal (the budget is spent)."""

    left: int = 0
    stop: bool = True


async def drive(
    policy: ScriptedPolicy, values: dict[int, Any] | None = None, limit: int = 100
) -> list[Action]:
    """Ask for actions until a stop, answering each with an ok outcome (value by step)."""
    state = AgentState(max_steps=limit)
    actions: list[Action] = []
    for index in range(limit):
        action = await policy.next_action(state)
        actions.append(action)
        if action.is_stop:
            return actions
        value = (values or {}).get(index, {"ok": True})
        policy.observe(action, ToolOutcome(str(action.tool), "ok", "done", value))
    raise AssertionError("the scripted policy never stopped")


async def test_two_rounds_with_prelude_then_finish() -> None:
    config = ScriptedConfig(
        max_rounds=2,
        arguments={"generate_samples": {"n": 8, "mode": "hard"}, "train_student": {"epochs": 2}},
        finish_arguments={"summary": "done"},
    )
    prelude = [
        Action("generate_samples", {"mode": "rewrite", "n": 4}),
        Action("train_student", {"epochs": 1}),
    ]
    actions = await drive(ScriptedPolicy(config, prelude))
    names = [a.tool for a in actions]
    assert names == [
        "generate_samples",
        "train_student",
        *EVOKD_ROUND,
        *EVOKD_ROUND,
        "finish",
        None,
    ]
    assert actions[0].arguments == {"mode": "rewrite", "n": 4}
    round_generate = [a for a in actions[2:] if a.tool == "generate_samples"]
    assert [a.arguments for a in round_generate] == [{"n": 8, "mode": "hard"}] * 2
    assert actions[-2].arguments == {"summary": "done"}
    assert actions[2].arguments == {}  # evaluate_student: not configured, its defaults apply
    assert {a.source for a in actions[:-1]} == {"scripted"}
    assert actions[-1].is_stop


async def test_budget_exhausted_trains_on_what_was_paid_for_then_finishes() -> None:
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=5))
    actions = await drive(policy, values={3: Spent()})
    assert [a.tool for a in actions] == [*EVOKD_ROUND[:4], "train_student", "finish", None]


async def test_only_the_typed_signal_stops_not_a_dict_key() -> None:
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=1))
    values = {3: {"stop": True, "budget_exhausted": True}, 4: Spent(stop=False)}
    actions = await drive(policy, values=values)
    assert [a.tool for a in actions] == [*EVOKD_ROUND, "finish", None]


async def test_exhausted_by_the_closing_step_itself_finishes() -> None:
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=5))
    actions = await drive(policy, values={5: Spent()})
    assert [a.tool for a in actions] == [*EVOKD_ROUND, "finish", None]


async def test_no_closing_step_skips_straight_to_finish() -> None:
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=5, closing_step=None))
    actions = await drive(policy, values={3: Spent()})
    assert [a.tool for a in actions] == [*EVOKD_ROUND[:4], "finish", None]


async def test_zero_rounds_is_prelude_then_finish() -> None:
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=0), [Action("generate_samples")])
    actions = await drive(policy)
    assert [a.tool for a in actions] == ["generate_samples", "finish", None]


async def test_round_counter_follows_the_plan() -> None:
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=2, round_steps=("a", "b")))
    state = AgentState(max_steps=10)
    rounds = []
    for _ in range(5):
        await policy.next_action(state)
        rounds.append(policy.round)
    assert rounds == [1, 1, 2, 2, 2]


async def test_exhausted_in_the_prelude_still_trains_on_what_it_paid_for() -> None:
    prelude = [Action("generate_samples"), Action("label_samples"), Action("train_student")]
    policy = ScriptedPolicy(ScriptedConfig(max_rounds=3), prelude)
    actions = await drive(policy, values={1: Spent()})
    assert [a.tool for a in actions] == [
        "generate_samples",
        "label_samples",
        "train_student",
        "finish",
        None,
    ]


async def test_a_step_with_nothing_left_to_do_finishes_with_its_reason() -> None:
    config = ScriptedConfig(
        max_rounds=50,
        round_steps=("score_confidence", "train_student"),
        finish_arguments={"reason": "scripted loop done"},
        stop_on_retry=("score_confidence",),
    )
    policy = ScriptedPolicy(config)
    state = AgentState(max_steps=20)
    actions = []
    for step in range(6):
        action = await policy.next_action(state)
        actions.append(action)
        if action.is_stop:
            break
        if step == 2:  # the pool is used up in round 2
            outcome = ToolOutcome(
                "score_confidence", "retry", "the unlabeled pool is empty or used up"
            )
        else:
            outcome = ToolOutcome(str(action.tool), "ok", "done", {})
        policy.observe(action, outcome)
    assert [a.tool for a in actions] == [
        "score_confidence",
        "train_student",
        "score_confidence",
        "finish",
        None,
    ]
    assert actions[3].arguments == {
        "reason": "score_confidence has nothing left to do: the unlabeled pool is empty or used up"
    }


async def test_a_retry_of_another_step_does_not_stop() -> None:
    config = ScriptedConfig(max_rounds=2, round_steps=("a", "b"), stop_on_retry=("b",))
    policy = ScriptedPolicy(config)
    state = AgentState(max_steps=20)
    names = []
    for _ in range(10):
        action = await policy.next_action(state)
        names.append(action.tool)
        if action.is_stop:
            break
        retry = action.tool == "a"
        outcome = ToolOutcome(str(action.tool), "retry" if retry else "ok", "try again")
        policy.observe(action, outcome)
    assert names == ["a", "b", "a", "b", "finish", None]
