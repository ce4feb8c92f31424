"""What the ledger counts and reports: spend per (phase, round), reservations, snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.request import Phase


class BudgetTooSmall(EvokdError):
    """The whole budget is smaller than one request's worst case."""

    def __init__(self, budget: int, needed: int, prompt: int, max_tokens: int) -> None:
        super().__init__(
            f"token budget of {budget} is below one teacher request, which needs up to {needed} "
            f"tokens ({prompt} prompt + {max_tokens} max_tokens)",
            f"set a budget of at least {needed} tokens (in practice many times that) "
            "or lower max_tokens",
        )
        self.budget = budget
        self.needed = needed


@dataclass
class Spend:
    """Tokens spent by one (phase, round), and tokens the cache saved."""

    requests: int = 0
    """Requests answered by the server (billed)."""
    prompt_tokens: int = 0
    """Prompt tokens the server reported (or we counted), cached ones included."""
    completion_tokens: int = 0
    """Completion tokens the server reported (or we counted)."""
    cached_prompt_tokens: int = 0
    """The share of the prompt tokens (of `replayed_tokens` for replayed answers) the server
    served from its prefix cache; already inside those counts, so not added to `total`."""
    unconfirmed_tokens: int = 0
    """Worst case charged for attempts whose real cost is unknown (timeouts, dropped, garbled)."""
    cache_hits: int = 0
    """Answers served from our own response cache (nothing sent)."""
    cache_saved_tokens: int = 0
    """Tokens the cached answers cost when they were first paid for."""
    replayed_tokens: int = 0
    """Cached answers this run already paid for, charged again on replay (see TokenLedger)."""
    overruns: int = 0
    """Replies whose reported usage passed their reservation (already inside the counts)."""
    overrun_tokens: int = 0
    """Tokens those replies used beyond their reservations (already inside the counts)."""
    cost_usd: float = 0.0
    """Dollars the tokens charged cost at the teacher's prices (0 when it has none): prompt,
    cached prompt and completion tokens at their prices, unconfirmed ones at the dearest."""

    @property
    def total(self) -> int:
        """Tokens charged against the budget (cached prompt tokens count in full)."""
        return (
            self.prompt_tokens
            + self.completion_tokens
            + self.unconfirmed_tokens
            + self.replayed_tokens
        )

    def record_overrun(self, tokens: int) -> None:
        if tokens > 0:
            self.overruns += 1
            self.overrun_tokens += tokens

    def add(self, other: Spend) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True)
class Reservation:
    """Tokens set aside for one attempt; commit, charge or release it exactly once."""

    id: int
    tokens: int
    """Prompt part + completion part."""
    phase: Phase
    round: int
    prompt: int = 0
    """The prompt part of `tokens` (the rest is max_tokens x n); re-bounded on an overrun."""


@dataclass(frozen=True)
class BudgetStatus:
    """A snapshot of the ledger."""

    budget: int | None
    spent: int
    reserved: int
    remaining: int | None
    exhausted: bool
    total: Spend
    by_phase: Mapping[str, Spend] = field(default_factory=dict)
    by_round: Mapping[int, Spend] = field(default_factory=dict)
    overruns: int = 0
    """Requests whose reported usage exceeded their reservation."""
    stopped: str | None = None
    """Why the ledger stopped sending before the budget was spent (an overrun), or None."""
    priced: bool = False
    """Whether the teacher has prices (`total.cost_usd` is then its cost in dollars)."""
    budget_usd: float | None = None
    """The dollar budget, if any."""

    def summary(self) -> str:
        """One line for people and for the agent's budget_status tool."""
        budget = "unlimited" if self.budget is None else str(self.budget)
        left = "" if self.remaining is None else f", {self.remaining} left"
        phases = ", ".join(f"{k} {v.total}" for k, v in sorted(self.by_phase.items()) if v.total)
        return (
            f"{self.spent} of {budget} tokens spent{left}"
            + (f" ({phases})" if phases else "")
            + (f"; ${self.total.cost_usd:.4f}" if self.priced else "")
            + (f" of ${self.budget_usd:g}" if self.budget_usd is not None else "")
            + (
                f"; {self.total.cached_prompt_tokens} prompt tokens served from the provider's "
                "prefix cache (counted in full)"
                if self.total.cached_prompt_tokens
                else ""
            )
            + f"; {self.total.requests} requests, {self.total.cache_hits} cache hits saving "
            f"{self.total.cache_saved_tokens} tokens"
            + (
                f"; {self.overruns} replies over their reservation "
                f"(+{self.total.overrun_tokens} tokens)"
                if self.overruns
                else ""
            )
            + (
                f"; stopped: {self.stopped}"
                if self.stopped
                else "; budget exhausted"
                if self.exhausted
                else ""
            )
        )
