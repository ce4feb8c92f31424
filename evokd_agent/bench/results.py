"""One finished bench run as the report reads it: its scores, spend and rounds (`RunResult`),
loaded from the run directory alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evokd_agent.bench.cells import CellResult, cell_wall_seconds
from evokd_agent.report.summary import accepted_samples, cached_prompt_tokens, ledger_cost
from evokd_agent.rundir.records import RoundMetrics
from evokd_agent.rundir.store import LEDGER_FILE, RunStore
from evokd_agent.student.task_kind import task_kind
from evokd_agent.teacher.simulated_config import SimulatedTeacherConfig

SIMULATED_NOTE = "SIMULATED teacher, not an LLM"


@dataclass(frozen=True)
class RunResult:
    """One finished run, as the benchmark reports it."""

    dataset: str
    method: str
    budget: int
    """The cell's budget (0: a method that spends no tokens)."""
    seed: int
    task: str
    teacher: str
    """Who the teacher was, in words (see `describe_teacher`)."""
    scores: Mapping[str, float]
    """Final test scores: accuracy and macro_f1 (classification) or entity_f1 (NER)."""
    tokens_spent: int
    """Teacher tokens the run spent (prompt + completion, cached prompt tokens included)."""
    wall_seconds: float | None
    rounds: Sequence[RoundMetrics]
    run_dir: Path
    cached_prompt_tokens: int = 0
    """Prompt tokens the provider served from its prefix cache (inside `tokens_spent`)."""
    accepted: int = 0
    """New samples that joined the training data (see `summary.accepted_samples`)."""
    stop_reason: str | None = None
    """Why the run ended (state.json)."""
    cost_usd: float | None = None
    """The teacher's cost in dollars (None: its model has no price)."""

    @property
    def budget_share(self) -> float | None:
        """Tokens spent as a fraction of the budget; None for a method that spends none."""
        return self.tokens_spent / self.budget if self.budget else None

    @property
    def tokens_per_accepted(self) -> float | None:
        """Tokens spent per accepted sample; None without a teacher or without samples."""
        return self.tokens_spent / self.accepted if self.budget and self.accepted else None


def describe_teacher(teacher: Mapping[str, Any]) -> str:
    """The teacher of a run config, in words; a simulated one is named as such."""
    url = str(teacher.get("base_url", "?"))
    if url == "simulated":
        block = teacher.get("simulated")
        block = block if isinstance(block, Mapping) else {}
        corpus = Path(str(block.get("corpus", "?"))).name
        noise = block.get("noise", SimulatedTeacherConfig.model_fields["noise"].default)
        return f"{SIMULATED_NOTE} (serves labelled corpus {corpus}, label noise {noise})"
    if url == "embedded":
        return "embedded llama.cpp teacher (SmolLM2-135M-Instruct, offline)"
    return f"{teacher.get('model', '?')} at {url}"


def load_result(result: CellResult) -> RunResult | None:
    """The finished run of a cell, or None when it did not finish."""
    if result.run_dir is None or not (result.run_dir / "final.json").is_file():
        return None
    store = RunStore.open(result.run_dir, resume=False)
    final = store.read_json("final.json") or {}
    test = final.get("test") if isinstance(final.get("test"), Mapping) else {}
    task = str(store.config_record.get("task", "?"))
    kind = task_kind(task)
    scores = {column: float(test[key]) for column, key in kind.bench_scores} if test else {}
    cell = result.cell
    rounds = store.read_metrics()
    ledger = store.read_json(LEDGER_FILE)
    return RunResult(
        dataset=cell.dataset,
        method=cell.method,
        budget=cell.budget,
        seed=cell.seed,
        task=task,
        teacher=describe_teacher(store.config_record.get("teacher") or {}),
        scores=scores,
        tokens_spent=int(final.get("tokens_spent") or 0),
        wall_seconds=cell_wall_seconds(cell.directory, result.run_dir) or _recorded_wall(rounds),
        rounds=rounds,
        run_dir=result.run_dir,
        cached_prompt_tokens=cached_prompt_tokens(ledger),
        accepted=accepted_samples(store.read_samples()),
        stop_reason=store.read_state().stop_reason,
        cost_usd=ledger_cost(ledger),
    )


def _recorded_wall(rounds: Sequence[RoundMetrics]) -> float | None:
    # A run the bench did not time itself: its rounds' training and evaluation time.
    return sum(m.wall_seconds for m in rounds) if rounds else None
