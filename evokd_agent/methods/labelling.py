"""Labelling: the teacher's separate call that labels each written input.

Every candidate is labelled apart from the prompt that wrote it, so a generation prompt's target
label is only a hint; the samples log records each decision (accepted or rejected, and why).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from evokd_agent.methods.context import Candidate, DistillContext, Sample
from evokd_agent.methods.parsing import parse_entities, parse_label
from evokd_agent.methods.steps import (
    StepReport,
    count_rejection,
    describe,
    failed_report,
    split_words,
    teacher_request,
)
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.teacher.request import ChatRequest


def _fewshot(ctx: DistillContext, limit: int = 8) -> str:
    return "\n".join(f"- {describe(s)}" for s in list(ctx.seeds)[:limit])


def label_request(ctx: DistillContext, text: str, *, logprobs: bool = False) -> ChatRequest:
    """The separate labelling call for one input (with logprobs for confidence scores)."""
    spec = ctx.spec
    if spec.task == "classification":
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": list(spec.labels)}},
            "required": ["label"],
        }
        max_tokens = 24
    else:
        entity = {
            "type": "object",
            "properties": {"text": {"type": "string"}, "type": {"enum": list(spec.labels)}},
            "required": ["text", "type"],
        }
        schema = {
            "type": "object",
            "properties": {"entities": {"type": "array", "items": entity}},
            "required": ["entities"],
        }
        max_tokens = 160
    prompt = ctx.prompts.render(
        "label",
        task_description=spec.description,
        label_list=spec.label_list(),
        label_names=", ".join(spec.labels),
        examples=_fewshot(ctx),
        text=text,
    )
    request = teacher_request(
        ctx,
        [{"role": "user", "content": prompt}],
        step="label",
        phase="labelling",
        max_tokens=max_tokens,
        temperature=0.0,
        schema=schema,
    )
    if logprobs:
        return replace(request, logprobs=True, top_logprobs=10)
    return request


async def label_candidates(
    ctx: DistillContext, *, keep_hints: bool = False
) -> tuple[StepReport, list[Sample]]:
    """Label every pending candidate in a separate call; return the accepted samples.

    With `keep_hints` (AugGPT: a rewrite keeps its seed's label), classification candidates
    carrying a `label_hint` take it without a teacher call; NER hints name entities, not
    where they are, so NER candidates are always labelled.
    """
    candidates, ctx.state.candidates = ctx.state.candidates, []
    report = StepReport(ok=True)
    accepted: list[Sample] = []
    if keep_hints and ctx.spec.task == "classification":
        for cand in candidates:
            if cand.label_hint is not None:
                _keep_hint(ctx, report, accepted, cand, cand.label_hint)
        candidates = [c for c in candidates if c.label_hint is None]
    requests = [label_request(ctx, c.text) for c in candidates]
    results = await ctx.generator.run(requests, desc="labelling") if requests else []
    for cand, result in zip(candidates, results, strict=True):
        report.produced += 1
        row: dict[str, Any] = {
            "round": cand.round,
            "kind": cand.kind,
            "prompt_id": cand.prompt_id,
            "label_prompt_id": result.request.template_version,
            "text": cand.text,
            "stage": "labelled",
            "teacher_confidence": None,
            "cached": result.cached,
        }
        if not result.ok:
            failed = failed_report(result)
            report.budget_exhausted |= failed.budget_exhausted
            reason = "budget" if failed.budget_exhausted else "teacher_error"
            count_rejection(report, reason)
            ctx.record_sample({**row, "accepted": False, "reason": reason, "error": failed.error})
            continue
        sample, reason = _to_sample(ctx, cand.text, result.text)
        if sample is None:
            count_rejection(report, reason)
            ctx.record_sample({**row, "accepted": False, "reason": reason, "reply": result.text})
            continue
        if isinstance(sample, TextSample):
            row["label"] = sample.label
        else:
            row |= {"tokens": list(sample.tokens), "tags": list(sample.tags)}
        ctx.hygiene.accept(cand.text)
        ctx.record_sample({**row, "accepted": True, "reason": None})
        report.accepted += 1
        accepted.append(sample)
    report.ok = report.accepted > 0 or not report.budget_exhausted
    return report, accepted


def _keep_hint(
    ctx: DistillContext, report: StepReport, accepted: list[Sample], cand: Candidate, label: str
) -> None:
    report.produced += 1
    row: dict[str, Any] = {
        "round": cand.round,
        "kind": cand.kind,
        "prompt_id": cand.prompt_id,
        "label_prompt_id": None,
        "label_source": "hint",
        "text": cand.text,
        "stage": "labelled",
        "teacher_confidence": None,
    }
    reason = ctx.hygiene.check_label(label)
    if reason is not None:
        count_rejection(report, reason)
        ctx.record_sample({**row, "accepted": False, "reason": reason, "label_hint": label})
        return
    ctx.hygiene.accept(cand.text)
    ctx.record_sample({**row, "label": label, "accepted": True, "reason": None})
    report.accepted += 1
    accepted.append(TextSample(cand.text, label))


def _to_sample(ctx: DistillContext, text: str, reply: str | None) -> tuple[Sample | None, str]:
    spec = ctx.spec
    if spec.task == "classification":
        label = parse_label(reply, spec.labels)
        if label is None:
            return None, "reply_not_json"
        reason = ctx.hygiene.check_label(label)
        if reason is not None:
            return None, reason
        return TextSample(text, label), ""
    entities = parse_entities(reply)
    if entities is None:
        return None, "reply_not_json"
    aligned = ctx.hygiene.align(split_words(text), entities)
    if isinstance(aligned, str):
        return None, aligned
    tokens, tags = aligned
    return NerSample(tuple(tokens), tuple(tags)), ""
