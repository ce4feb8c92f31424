"""What a report says about a run, computed from its records alone (no model, no data files)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evokd_agent.rundir.records import RoundMetrics, RunState, SampleRecord
from evokd_agent.teacher.cost_estimate import Comparison, CostEstimate, compare


@dataclass(frozen=True)
class ClassScore:
    """Dev score of one label or entity type."""

    name: str
    f1: float
    support: int
    precision: float | None = None
    recall: float | None = None


@dataclass(frozen=True)
class PhaseSamples:
    """Samples of one phase: how many joined the training data and how many were refused."""

    phase: str
    accepted: int
    rejected: int


@dataclass(frozen=True)
class RunSummary:
    """Everything the report shows."""

    name: str
    config: Mapping[str, Any]
    created: str | None
    rounds: Sequence[RoundMetrics]
    best: RoundMetrics | None
    final: RoundMetrics | None
    state: RunState
    tokens_spent: int
    tokens_by_phase: Mapping[str, int]
    samples: Sequence[PhaseSamples]
    rejections: Mapping[str, int]
    per_class: Sequence[ClassScore] = field(default_factory=tuple)
    errors: Sequence[tuple[str, str, int]] = field(default_factory=tuple)
    """(gold, predicted, count) of the best round's dev confusions, most frequent first."""
    cached_by_phase: Mapping[str, int] = field(default_factory=dict)
    """Prompt tokens per phase the provider served from its prefix cache (inside
    `tokens_by_phase`: they count in the budget in full)."""
    overruns: int = 0
    """Replies whose reported usage passed their reservation (the ledger's `overruns`)."""
    overrun_tokens: int = 0
    """Tokens those replies used beyond their reservations (inside `tokens_spent`)."""
    sending_stopped: str | None = None
    """Why the ledger stopped sending before the budget was spent, if it did."""
    cost_usd: float | None = None
    """The teacher's cost in dollars, when it has prices (the ledger's `total.cost_usd`)."""
    estimate: CostEstimate | None = None
    """What the run estimated before it started (`estimate.json`), if it did."""
    against_estimate: Sequence[Comparison] = field(default_factory=tuple)
    """The estimate per phase beside the spend (the last row: the total)."""

    @property
    def cached_prompt_tokens(self) -> int:
        """Prompt tokens the provider served from its prefix cache, over the whole run."""
        return sum(self.cached_by_phase.values())

    @property
    def budget(self) -> int | None:
        """The configured token budget."""
        value = self.config.get("budget_tokens")
        return int(value) if isinstance(value, int) else None


def best_round(rounds: Sequence[RoundMetrics]) -> RoundMetrics | None:
    """The round with the highest dev F1; on a tie the earliest (fewest tokens)."""
    best: RoundMetrics | None = None
    for m in rounds:
        if best is None or m.dev_f1 > best.dev_f1:
            best = m
    return best


def summarize(
    config: Mapping[str, Any],
    rounds: Sequence[RoundMetrics],
    samples: Sequence[SampleRecord],
    state: RunState,
    *,
    ledger: Mapping[str, Any] | None = None,
    created: str | None = None,
    estimate: Mapping[str, Any] | None = None,
) -> RunSummary:
    """The report's content for a run's config, metrics, samples, state and token ledger."""
    best = best_round(rounds)
    final = rounds[-1] if rounds else None
    spent = max(final.tokens_spent if final else 0, state.tokens_spent)
    by_phase, cached = _ledger_phases(ledger)
    by_phase = by_phase or (dict(final.tokens_by_phase) if final else {})
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for s in samples:
        if s.accepted:
            accepted[s.phase] += 1
        else:
            rejected[s.phase] += 1
            reasons[s.reason or "unknown"] += 1
    phases = sorted(set(accepted) | set(rejected), key=_phase_order(samples))
    planned = _read_estimate(estimate)
    return RunSummary(
        name=str(config.get("name", "run")),
        config=config,
        created=created,
        rounds=list(rounds),
        best=best,
        final=final,
        state=state,
        tokens_spent=spent,
        tokens_by_phase=by_phase,
        samples=[PhaseSamples(p, accepted[p], rejected[p]) for p in phases],
        rejections=dict(reasons.most_common()),
        per_class=per_class_scores(best.dev) if best else (),
        errors=confusions(best.dev) if best else (),
        cached_by_phase=cached,
        estimate=planned,
        against_estimate=compare(planned, (ledger or {}).get("spend", [])) if planned else (),
        **_ledger_totals(ledger),
    )


def _read_estimate(data: Mapping[str, Any] | None) -> CostEstimate | None:
    """The run's saved estimate; None when it has none, or one this version cannot read."""
    if not data:
        return None
    try:
        return CostEstimate.from_dict(data)
    except (KeyError, TypeError, ValueError):  # an edited or foreign file: report without it
        return None


def _ledger_totals(ledger: Mapping[str, Any] | None) -> dict[str, Any]:
    """The summary's fields from a saved ledger's totals: overruns, why sending stopped, and the
    cost in dollars (absent from ledgers written before they were recorded)."""
    if not isinstance(ledger, Mapping):
        return {}
    total = ledger.get("total")
    total = total if isinstance(total, Mapping) else {}
    stopped = ledger.get("stopped")
    priced = isinstance(ledger.get("prices"), Mapping)
    return {
        "overruns": int(total.get("overruns") or 0),
        "overrun_tokens": int(total.get("overrun_tokens") or 0),
        "sending_stopped": stopped if isinstance(stopped, str) else None,
        "cost_usd": float(total.get("cost_usd") or 0.0) if priced else None,
    }


def _phase_order(samples: Sequence[SampleRecord]) -> Any:
    first: dict[str, int] = {}
    for i, s in enumerate(samples):
        first.setdefault(s.phase, i)
    return lambda phase: first[phase]


# The fields of a ledger row charged to the budget (`Spend.total`).
_CHARGED = ("prompt_tokens", "completion_tokens", "unconfirmed_tokens", "replayed_tokens")


def _ledger_phases(ledger: Mapping[str, Any] | None) -> tuple[dict[str, int], dict[str, int]]:
    """(tokens, prefix-cached prompt tokens) per phase from a saved `TokenLedger.to_dict()`."""
    tokens: dict[str, int] = {}
    cached: dict[str, int] = {}
    rows = ledger.get("spend", []) if isinstance(ledger, Mapping) else []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        phase = str(row.get("phase", "other"))
        tokens[phase] = tokens.get(phase, 0) + sum(int(row.get(k) or 0) for k in _CHARGED)
        # Rows of ledgers written before prompt caching was read have no such field: 0.
        cached[phase] = cached.get(phase, 0) + int(row.get("cached_prompt_tokens") or 0)
    return tokens, cached


def ledger_cost(ledger: Mapping[str, Any] | None) -> float | None:
    """The teacher's cost in dollars from a saved ledger; None when it had no prices."""
    cost: float | None = _ledger_totals(ledger).get("cost_usd")
    return cost


def cached_prompt_tokens(ledger: Mapping[str, Any] | None) -> int:
    """Prompt tokens the provider served from its prefix cache, from a saved ledger (0 for a
    ledger written before they were recorded)."""
    return sum(_ledger_phases(ledger)[1].values())


def accepted_samples(samples: Sequence[SampleRecord]) -> int:
    """New samples that joined the training data: teacher-labelled ones (and EDA's edits);
    the seeds, and re-scores of samples already counted ("batch"), are not new."""
    return sum(s.accepted and s.phase not in ("seed", "batch") for s in samples)


def per_class_scores(metrics: Mapping[str, Any]) -> list[ClassScore]:
    """Per-label (classification) or per-type (NER) scores from a `Metrics.to_dict()`."""
    scores: list[ClassScore] = []
    per_class = metrics.get("per_class_f1")
    if isinstance(per_class, Mapping):
        support = metrics.get("support")
        support = support if isinstance(support, Mapping) else {}
        for name, f1 in per_class.items():
            scores.append(ClassScore(str(name), float(f1), int(support.get(name, 0))))
    per_type = metrics.get("per_type")
    if isinstance(per_type, Mapping):
        for name, s in per_type.items():
            if isinstance(s, Mapping):
                scores.append(
                    ClassScore(
                        str(name),
                        float(s.get("f1", 0.0)),
                        int(s.get("support", 0)),
                        float(s.get("precision", 0.0)),
                        float(s.get("recall", 0.0)),
                    )
                )
    return scores


def confusions(metrics: Mapping[str, Any], limit: int = 10) -> list[tuple[str, str, int]]:
    """The most frequent (gold, predicted) mistakes of a classification `Metrics.to_dict()`."""
    labels, matrix = metrics.get("labels"), metrics.get("confusion")
    if not isinstance(labels, list) or not isinstance(matrix, list):
        return []
    errors = [
        (str(labels[i]), str(labels[j]), int(count))
        for i, row in enumerate(matrix)
        if isinstance(row, list) and i < len(labels)
        for j, count in enumerate(row)
        if j < len(labels) and i != j and count
    ]
    errors.sort(key=lambda e: -e[2])
    return errors[:limit]
