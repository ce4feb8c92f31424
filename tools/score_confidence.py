"""Tool: the teacher's confidence in labels, from logprobs (or agreement of sampled replies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from evokd_agent.agent import ToolResult, ToolRetry, tool
from evokd_agent.distill.confidence import LabelConfidence, NerConfidence
from evokd_agent.distill.context import DistillContext, PseudoLabel, Sample, sample_text
from evokd_agent.distill.intake import Intake, new_batch
from evokd_agent.distill.labelling import affordable_texts
from evokd_agent.distill.scoring import score_ner_texts, score_texts
from evokd_agent.distill.tasks import split_words, strategy_for
from evokd_agent.student.data import NerSample, TextSample


@dataclass(frozen=True, kw_only=True)
class Scored(ToolResult):
    """How many texts were scored and kept, with the teacher's mean confidence."""

    scored: int
    kept: int
    dropped: int
    mean_confidence: float | None
    method: str | None
    pool_left: int
    train_size: int
    stop: bool  # the budget is spent: end the rounds


@tool
async def score_confidence(
    ctx: DistillContext,
    source: Literal["batch", "pool"] = "batch",
    limit: Annotated[int, Field(ge=1, le=256)] = 16,
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0,
) -> Scored:
    """Ask how sure the teacher is of labels (probability of its label, from its logprobs).

    "batch" re-scores the newest labelled samples and drops those below min_confidence from the
    training set. "pool" has the teacher label up to `limit` unused texts of the unlabeled pool
    and adds those scoring at least min_confidence to the training set, instead of generating
    new ones (cheaper than generating). For NER the confidence is per sentence: its least
    sure entity.

    Args:
        source: What to score: "batch" (newest labelled samples) or "pool" (unlabeled texts).
        limit: Most texts to score.
        min_confidence: Samples below this confidence are dropped (batch) or not added (pool).
    """
    state = ctx.state
    intake = Intake(ctx)
    if source == "pool":
        # Near the end of the budget, take only as many pool texts as it can still label.
        limit = affordable_texts(ctx, ctx.pool[state.pool_used : state.pool_used + limit])
        texts = _fresh_pool_texts(intake, limit)
        if not texts:
            raise ToolRetry("the unlabeled pool is empty or used up; use generate_samples")
    else:
        texts = [sample_text(s) for s in state.batch[:limit]]
        if not texts:
            raise ToolRetry("no labelled batch to score yet; call label_samples first")
    scores: list[LabelConfidence | NerConfidence | None]
    if ctx.spec.task == "classification":
        scores = list(await score_texts(ctx, texts))
    else:
        scores = list(await score_ner_texts(ctx, texts))
    dropped: list[str] = []
    for text, score in zip(texts, scores, strict=True):
        row: dict[str, Any] = {
            "round": state.round + 1,
            "kind": source,
            "prompt_id": "confidence",
            "text": text,
            "stage": "scored",
            "teacher_confidence": round(score.confidence, 4) if score else None,
            "confidence_method": score.method if score else None,
        }
        sample, reason = _to_sample(ctx, text, score)
        if isinstance(score, LabelConfidence):
            row["label"] = score.label
        elif isinstance(score, NerConfidence):
            row["entities"] = [
                {"text": e.text, "type": e.type, "confidence": round(e.confidence, 4)}
                for e in score.entities
            ]
        if sample is None or score is None or score.confidence < min_confidence:
            dropped.append(text)
            intake.reject(row, reason or "low_confidence")
            continue
        if source == "pool":
            label = strategy_for(sample).pseudo_label(sample)
            gold = ctx.pool_gold.get(text)
            state.pseudo[text] = PseudoLabel(score.confidence, label, gold)
        # A batch sample is in the training set already: it stays indexed as it was. The row
        # already holds the teacher's label or entities.
        intake.admit(row, sample, index=text if source == "pool" else None, described=False)
    if source == "batch":
        gone = set(dropped)
        state.batch = [s for s in state.batch if sample_text(s) not in gone]
        state.synthetic = [s for s in state.synthetic if sample_text(s) not in gone]
    else:
        new_batch(ctx, intake.accepted)
    confidences = [s.confidence for s in scores if s is not None]
    methods = sorted({s.method for s in scores if s is not None})
    return Scored(
        scored=len(texts),
        kept=len(intake.accepted),
        dropped=len(dropped),
        mean_confidence=round(sum(confidences) / len(confidences), 4) if confidences else None,
        method=", ".join(methods) or None,
        pool_left=len(ctx.pool) - state.pool_used,
        train_size=len(ctx.train_set),
        stop=ctx.generator.ledger.exhausted,
    )


def _fresh_pool_texts(intake: Intake, limit: int) -> list[str]:
    """The next `limit` pool texts that pass the run's hygiene (leak guard, duplicates)."""
    ctx = intake.ctx
    state = ctx.state
    texts: list[str] = []
    while len(texts) < limit and state.pool_used < len(ctx.pool):
        text = ctx.pool[state.pool_used]
        state.pool_used += 1
        row = {
            "round": state.round + 1,
            "kind": "pool",
            "prompt_id": "confidence",
            "text": text,
            "stage": "pool",
        }
        if intake.check_text(row, text, extra=texts):
            texts.append(text)
    return texts


def _to_sample(
    ctx: DistillContext, text: str, score: LabelConfidence | NerConfidence | None
) -> tuple[Sample | None, str | None]:
    if score is None:
        # No usable reply: refused by the budget (nothing was sent) or a failed request.
        return None, "budget" if ctx.generator.ledger.exhausted else "teacher_error"
    if isinstance(score, LabelConfidence):
        if score.label is None:
            return None, "no_label"
        return TextSample(text, score.label), None
    # Pool rows given as tokens were joined by single spaces: keep their tokenisation.
    words = tuple(text.split()) if text in ctx.pool_gold else split_words(text)
    aligned = ctx.hygiene.align(words, [(e.text, e.type) for e in score.entities])
    if isinstance(aligned, str):
        return None, aligned
    tokens, tags = aligned
    return NerSample(tuple(tokens), tuple(tags)), None
