"""Tool: the teacher's confidence in labels, from logprobs (or agreement of sampled replies)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from evokd_agent.agent import ToolRetry, tool
from evokd_agent.methods.context import DistillContext
from evokd_agent.methods.steps import score_texts
from evokd_agent.student.data import TextSample


@tool
async def score_confidence(
    ctx: DistillContext,
    source: Literal["batch", "pool"] = "batch",
    limit: Annotated[int, Field(ge=1, le=256)] = 16,
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0,
) -> dict[str, Any]:
    """Ask how sure the teacher is of labels (probability of its label, from its logprobs).

    "batch" scores the newest labelled samples and drops those below min_confidence from the
    training set. "pool" labels up to `limit` unused texts of the unlabeled pool and adds
    those scoring at least min_confidence to the training set, instead of generating new ones.

    Args:
        source: What to score: "batch" (newest labelled samples) or "pool" (unlabeled texts).
        limit: Most texts to score.
        min_confidence: Samples below this confidence are dropped (batch) or not added (pool).
    """
    state = ctx.state
    if ctx.spec.task != "classification":
        raise ToolRetry("score_confidence scores classification labels only; do not use it here")
    if source == "pool":
        start = state.pool_used
        texts = list(ctx.pool[start : start + limit])
        state.pool_used = start + len(texts)
        if not texts:
            raise ToolRetry("the unlabeled pool is empty or used up; use generate_samples")
    else:
        batch = [s for s in state.batch[:limit] if isinstance(s, TextSample)]
        texts = [s.text for s in batch]
        if not texts:
            raise ToolRetry("no labelled batch to score yet; call label_samples first")
    scores = await score_texts(ctx, texts)
    kept, dropped = [], []
    for text, score in zip(texts, scores, strict=True):
        row: dict[str, Any] = {
            "round": state.round + 1,
            "kind": source,
            "prompt_id": "confidence",
            "text": text,
            "stage": "scored",
            "label": score.label if score else None,
            "teacher_confidence": round(score.confidence, 4) if score else None,
            "confidence_method": score.method if score else None,
        }
        if score is None or score.label is None or score.confidence < min_confidence:
            dropped.append(text)
            reason = "teacher_error" if score is None else "low_confidence"
            ctx.record_sample({**row, "accepted": False, "reason": reason})
            continue
        kept.append(TextSample(text, score.label))
        ctx.record_sample({**row, "accepted": True, "reason": None})
    if source == "batch":
        gone = set(dropped)
        state.batch = [s for s in state.batch if not (isinstance(s, TextSample) and s.text in gone)]
        state.synthetic = [
            s for s in state.synthetic if not (isinstance(s, TextSample) and s.text in gone)
        ]
    elif kept:
        state.batch = list(kept)
        state.synthetic.extend(kept)
    confidences = [s.confidence for s in scores if s is not None]
    methods = sorted({s.method for s in scores if s is not None})
    return {
        "scored": len(texts),
        "kept": len(kept),
        "dropped": len(dropped),
        "mean_confidence": round(sum(confidences) / len(confidences), 4) if confidences else None,
        "method": ", ".join(methods) or None,
        "train_size": len(ctx.train_set),
        "stop": ctx.generator.ledger.exhausted,
    }
