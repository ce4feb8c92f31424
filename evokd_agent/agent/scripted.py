"""The paper's fixed EvoKD loop as a policy: no model decisions, fixed arguments."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evokd_agent.agent.actions import Action, AgentState
from evokd_agent.agent.result import says_stop
from evokd_agent.agent.tool import ToolOutcome

EVOKD_ROUND: tuple[str, ...] = (
    "evaluate_student",
    "sample_errors",
    "analyze_weakness",
    "generate_samples",
    "label_samples",
    "train_student",
)


@dataclass(frozen=True)
class ScriptedConfig:
    """Settings of the scripted EvoKD loop."""

    max_rounds: int = 3
    """Rounds of `round_steps` before `finish`."""
    round_steps: tuple[str, ...] = EVOKD_ROUND
    """Tools called in this order in every round."""
    arguments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Fixed arguments per tool name; a tool not listed is called with its defaults."""
    finish_tool: str = "finish"
    """Tool called last, after the rounds or once the budget is exhausted."""
    finish_arguments: Mapping[str, Any] = field(default_factory=dict)
    """Arguments of the finish call."""
    closing_step: str | None = "train_student"
    """Run even after exhaustion if still ahead in the current round, so that samples already
    paid for are trained on before `finish`."""
    stop_on_retry: tuple[str, ...] = ()
    """Tools whose retry outcome means there is nothing left to do (e.g. `score_confidence`
    with its unlabeled pool used up): the rounds end at once, with `finish` given the tool's
    message as its "reason" (when `finish_arguments` has one), instead of idling to the cap."""

    def __post_init__(self) -> None:
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {self.max_rounds}")


class ScriptedPolicy:
    """Prelude actions, then `max_rounds` x `round_steps`, then `finish`; then stop.

    The prelude is any list of actions run once before round 1 ("+Init": a `generate_samples`
    call in rewrite mode, then labelling and training). A tool result whose typed `stop` is set
    (budget spent, round limit; see `ToolResult`) skips to the closing step, then `finish`.
    """

    def __init__(
        self,
        config: ScriptedConfig | None = None,
        prelude: Sequence[Action] = (),
        *,
        source: str = "scripted",
    ) -> None:
        self.config = config or ScriptedConfig()
        self._source = source
        self._plan = self._planned(list(prelude))
        self._exhausted = False
        self._finished = False
        self._idle_reason: str | None = None
        self.round = 0
        """Current round (0 during the prelude)."""
        self._ahead: tuple[str, ...] = ()

    async def next_action(self, state: AgentState) -> Action:
        if self._finished:
            return Action.stop("scripted loop finished", source=self._source)
        if self._idle_reason is not None:
            action = self._finish()
        elif self._exhausted:
            action = self._closing()
        else:
            action = next(self._plan, None) or self._finish()
        if action.tool == self.config.finish_tool:
            self._finished = True
        return action

    def observe(self, action: Action, outcome: ToolOutcome) -> None:
        if says_stop(outcome.value):
            self._exhausted = True
        if outcome.status == "retry" and action.tool in self.config.stop_on_retry:
            self._idle_reason = f"{action.tool} has nothing left to do: {outcome.content}"

    def _planned(self, prelude: list[Action]) -> Iterator[Action]:
        names = [a.tool or "" for a in prelude]
        for i, action in enumerate(prelude):
            self._ahead = tuple(names[i + 1 :])
            yield replace(action, source=action.source or self._source)
        steps = self.config.round_steps
        for number in range(1, self.config.max_rounds + 1):
            self.round = number
            for i, name in enumerate(steps):
                self._ahead = steps[i + 1 :]
                arguments = dict(self.config.arguments.get(name, {}))
                yield Action(name, arguments, source=self._source)

    def _closing(self) -> Action:
        """After exhaustion: the closing step if it is still ahead in this round (or in the
        prelude), else finish."""
        closing = self.config.closing_step
        if closing is not None and closing in self._ahead:
            self._ahead = ()  # once only
            return Action(
                closing, dict(self.config.arguments.get(closing, {})), source=self._source
            )
        return self._finish()

    def _finish(self) -> Action:
        arguments = dict(self.config.finish_arguments)
        if self._idle_reason is not None and "reason" in arguments:
            arguments["reason"] = self._idle_reason
        return Action(self.config.finish_tool, arguments, source=self._source)
