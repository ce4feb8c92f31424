"""A run's cost estimate, made before it sends anything, and how it reads against the spend.

`run.dry_run` makes one (`evokd run --dry-run` prints it; every run writes it to
`estimate.json`); the report sets it against `ledger.json`. Phases are the ledger's (analysis,
generation, labelling, agent), so the two compare row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from evokd_agent.teacher.spend import Spend


@dataclass(frozen=True)
class PhaseEstimate:
    """What one phase of the run is expected to send and cost."""

    phase: str
    """The ledger's phase: analysis, generation, labelling or agent."""
    requests: int = 0
    """Requests the plan sends."""
    prompt_tokens: int = 0
    """Prompt tokens of those requests (the teacher's tiktoken encoding)."""
    completion_tokens: int = 0
    """Completion tokens of replies of typical size."""
    cost_usd: float = 0.0
    """Those tokens at the teacher's prices (0 without prices)."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def per_request(self) -> float:
        """Tokens per request (0 with no request)."""
        return self.tokens / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class CostEstimate:
    """The requests a run plans, their tokens and their price, before it starts."""

    method: str
    """The run's method."""
    rounds: int
    """Rounds the plan gets through before it stops (see `stop`)."""
    stop: str
    """Why the rehearsal of the plan ended: its round limit, the budget, or the pool."""
    budget_tokens: int
    """The run's token budget."""
    budget_usd: float | None = None
    """The run's dollar limit, if any."""
    priced: bool = False
    """Whether the teacher has prices (else `cost_usd` is 0 and means unknown)."""
    phases: tuple[PhaseEstimate, ...] = ()
    """Per phase, in the order first used."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """What the estimate leaves out or assumes, for the reader."""

    @property
    def total(self) -> PhaseEstimate:
        return PhaseEstimate(
            "total",
            sum(p.requests for p in self.phases),
            sum(p.prompt_tokens for p in self.phases),
            sum(p.completion_tokens for p in self.phases),
            sum(p.cost_usd for p in self.phases),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total"] = asdict(self.total)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostEstimate:
        names = {f.name for f in fields(PhaseEstimate)}
        phases = tuple(
            PhaseEstimate(**{k: v for k, v in row.items() if k in names})
            for row in data.get("phases", [])
        )
        return cls(
            method=str(data["method"]),
            rounds=int(data["rounds"]),
            stop=str(data["stop"]),
            budget_tokens=int(data["budget_tokens"]),
            budget_usd=data.get("budget_usd"),
            priced=bool(data.get("priced", False)),
            phases=phases,
            notes=tuple(data.get("notes", ())),
        )

    def table(self) -> str:
        """The estimate as a plain-text table with its total, stop and notes."""
        rows = [("phase", "requests", "tokens/request", "prompt", "completion", "tokens", "$")]
        for p in (*self.phases, self.total):
            rows.append(
                (
                    p.phase,
                    f"{p.requests:,}",
                    f"{p.per_request():,.0f}",
                    f"{p.prompt_tokens:,}",
                    f"{p.completion_tokens:,}",
                    f"{p.tokens:,}",
                    _usd(p.cost_usd) if self.priced else "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        lines.append(f"{self.rounds} round(s), then: {self.stop}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _usd(value: float) -> str:
    return f"{value:.4f}"


@dataclass(frozen=True)
class Comparison:
    """One phase of the estimate beside what the run spent."""

    phase: str
    estimated: PhaseEstimate
    spent_requests: int
    spent_tokens: int
    spent_usd: float

    @property
    def ratio(self) -> float | None:
        """Spent / estimated tokens (None when nothing was estimated)."""
        return self.spent_tokens / self.estimated.tokens if self.estimated.tokens else None


def compare(estimate: CostEstimate, spend_rows: Sequence[Mapping[str, Any]]) -> list[Comparison]:
    """The estimate per phase against `ledger.json`'s `spend` rows (per phase and round),
    with a last row for the total."""
    spent: dict[str, tuple[int, int, float]] = {}
    for row in spend_rows:
        requests, tokens, usd = spent.get(str(row["phase"]), (0, 0, 0.0))
        spent[str(row["phase"])] = (
            requests + int(row.get("requests", 0)),
            tokens + _row_total(row),
            usd + float(row.get("cost_usd", 0.0)),
        )
    by_phase = {p.phase: p for p in estimate.phases}
    phases = [*by_phase, *(name for name in spent if name not in by_phase)]
    out = [
        Comparison(name, by_phase.get(name, PhaseEstimate(name)), *spent.get(name, (0, 0, 0.0)))
        for name in phases
    ]
    out.append(
        Comparison(
            "total",
            estimate.total,
            sum(c.spent_requests for c in out),
            sum(c.spent_tokens for c in out),
            sum(c.spent_usd for c in out),
        )
    )
    return out


def _row_total(row: Mapping[str, Any]) -> int:
    """A ledger row's tokens charged against the budget."""
    names = {f.name for f in fields(Spend)}
    return Spend(**{k: v for k, v in row.items() if k in names}).total
