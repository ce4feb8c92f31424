"""What the run directory records: samples with provenance, per-round metrics, loop state.

Records allow extra fields, so a method can add its own provenance (e.g. raw entities) without
a schema change; readers validate the fields named here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_RECORD = ConfigDict(frozen=True, extra="allow", use_attribute_docstrings=True)


class SampleRecord(BaseModel):
    """One generated, labelled or seed sample, accepted or rejected, with where it came from."""

    model_config = _RECORD

    round: int = Field(ge=0)
    """Round that produced it (0: seeds and initial augmentation)."""
    phase: str
    """What produced it: "seed", "init", "hard", "easy", "pool", "zerogen", "eda", ..."""
    accepted: bool
    """Whether it joined the training data."""
    reason: str | None = None
    """Machine-readable rejection reason (see `evokd_agent.distill.hygiene`); None when accepted."""
    detail: str | None = None
    """Human-readable detail of the rejection."""
    text: str | None = None
    """Classification input (or the NER sentence as the teacher wrote it)."""
    tokens: list[str] | None = None
    """NER words, as tokenized by the framework."""
    label: str | None = None
    """Classification label."""
    tags: list[str] | None = None
    """NER BIO tags, one per token, built by the framework."""
    prompt_id: str | None = None
    """Prompt template (and version) that produced it."""
    teacher_confidence: float | None = None
    """Teacher's probability of the chosen label (from logprobs), when known."""
    time: str | None = None
    """UTC ISO time it was recorded (filled in by the store)."""

    @model_validator(mode="before")
    @classmethod
    def _default_phase(cls, data: Any) -> Any:
        # Methods may name the phase `kind` (hard/easy) or only give a `stage`.
        if isinstance(data, dict) and "phase" not in data:
            return {**data, "phase": data.get("kind") or data.get("stage") or "other"}
        return data

    @model_validator(mode="after")
    def _reason_iff_rejected(self) -> SampleRecord:
        if not self.accepted and not self.reason:
            raise ValueError("a rejected sample needs a reason")
        if self.accepted and self.reason:
            raise ValueError("an accepted sample has no rejection reason")
        return self


class RoundMetrics(BaseModel):
    """Student scores after one round, against the teacher tokens spent so far."""

    model_config = _RECORD

    round: int = Field(ge=0)
    """Round number; 0 is the student trained on the seeds (and initial data) only."""
    tokens_spent: int = Field(ge=0)
    """Teacher tokens spent by the whole run up to the end of this round."""
    dev_f1: float
    """Dev main score: macro-F1 (classification) or entity micro-F1 (NER)."""
    test_f1: float | None = None
    """Test main score when the test set was scored this round."""
    n_train: int = Field(ge=0)
    """Training samples the student was trained on this round."""
    wall_seconds: float = 0.0
    """Wall time of the round."""
    dev: dict[str, Any] = Field(default_factory=dict)
    """Full dev metrics (`Metrics.to_dict()`: per-class F1, confusion, per entity type, ...)."""
    test: dict[str, Any] | None = None
    """Full test metrics, when scored."""
    tokens_by_phase: dict[str, int] = Field(default_factory=dict)
    """Cumulative tokens spent per teacher phase (analysis, generation, labelling, ...)."""
    checkpoint: str | None = None
    """Student checkpoint of this round, relative to the run directory, if one was kept."""
    time: str | None = None
    """UTC ISO time it was recorded (filled in by the store)."""


class RunState(BaseModel):
    """Loop progress for `--resume`: what is finished, so nothing is done (or paid for) twice."""

    model_config = _RECORD

    round_completed: int = Field(default=-1, ge=-1)
    """Last round whose training, evaluation and records are complete (-1: none yet)."""
    tokens_spent: int = Field(default=0, ge=0)
    """Teacher tokens spent when the state was written."""
    best_round: int | None = None
    """Round with the best dev F1 so far."""
    best_dev_f1: float | None = None
    """Best dev F1 so far."""
    finished: bool = False
    """The run ended normally (stop rule, budget or round limit)."""
    stop_reason: str | None = None
    """Why it ended, when finished."""
    reported: bool = False
    """The report of the finished run is written (a run killed before it gets it on resume)."""
    resumes: int = Field(default=0, ge=0)
    """How many times the run was resumed."""
    updated: str | None = None
    """UTC ISO time the state was written (filled in by the store)."""
