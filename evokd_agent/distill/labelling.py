"""Labelling: the teacher's separate calls that label the written inputs.

Every candidate is labelled apart from the prompt that wrote it, so a generation prompt's target
label is only a hint. `ctx.texts_per_request` texts share one request (numbered items, see
`distill.batch`); 1 keeps the one-text prompt. A run that labels by completion scoring
(`distill.label_scoring`) reads classification labels, and their confidence, from logprobs
instead. The samples log records each decision (accepted or rejected, and why).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from evokd_agent.distill.batch import chunks, numbered, parse_batch
from evokd_agent.distill.context import Candidate, DistillContext, Sample
from evokd_agent.distill.intake import Intake
from evokd_agent.distill.label_scoring import score_by_completion, scoring_requests
from evokd_agent.distill.requests import (
    StepReport,
    affordable,
    failed_report,
    reserved_tokens,
    teacher_request,
)
from evokd_agent.distill.tasks import describe, task_of
from evokd_agent.prompting import Step
from evokd_agent.student.data import TextSample
from evokd_agent.teacher.request import ChatRequest, ChatResult

# A scored text whose label words were all outside the reported alternatives.
NO_LABEL = "no_label"


def _fewshot(ctx: DistillContext, limit: int = 8) -> str:
    return "\n".join(f"- {describe(s)}" for s in list(ctx.seeds)[:limit])


def _render(ctx: DistillContext, step: Step, **values: str) -> str:
    spec = ctx.spec
    return ctx.prompts.render(
        step,
        task_description=spec.description,
        label_list=spec.label_list(),
        label_names=", ".join(spec.labels),
        examples=_fewshot(ctx),
        **values,
    )


def label_request(ctx: DistillContext, text: str, *, logprobs: bool = False) -> ChatRequest:
    """The separate labelling call for one input (with logprobs for confidence scores)."""
    task = task_of(ctx.spec)
    props, key = task.answer_schema(ctx.spec.labels), task.answer_key
    request = teacher_request(
        ctx,
        [{"role": "user", "content": _render(ctx, "label", text=text)}],
        step="label",
        phase="labelling",
        max_tokens=task.answer_tokens,
        temperature=0.0,
        schema={"type": "object", "properties": props, "required": [key]},
    )
    if logprobs:
        return replace(request, logprobs=True, top_logprobs=10)
    return request


def label_batch_request(
    ctx: DistillContext, texts: Sequence[str], *, logprobs: bool = False
) -> ChatRequest:
    """One labelling call for several inputs, numbered 1..m: one item per input in the reply.

    The prompt puts the static part (task, labels, examples, format) first and the texts last,
    so providers' prefix caching serves the shared part of every labelling request.
    """
    task = task_of(ctx.spec)
    props, key = task.answer_schema(ctx.spec.labels), task.answer_key
    item = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, **props},
        "required": ["id", key],
    }
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": item,
                "minItems": len(texts),
                "maxItems": len(texts),
            }
        },
        "required": ["items"],
    }
    request = teacher_request(
        ctx,
        [{"role": "user", "content": _render(ctx, "label_batch", texts=numbered(list(texts)))}],
        step="label_batch",
        phase="labelling",
        max_tokens=16 + task.item_tokens * len(texts),
        temperature=0.0,
        schema=schema,
    )
    if logprobs:
        return replace(request, logprobs=True, top_logprobs=10)
    return request


def labelling_requests(
    ctx: DistillContext, texts: Sequence[str], *, logprobs: bool = False
) -> list[ChatRequest]:
    """The requests that label `texts`, `ctx.texts_per_request` per request (or the label
    scoring requests, when the run labels by completion scoring)."""
    if ctx.label_scoring is not None and task_of(ctx.spec).scores_by_completion:
        return scoring_requests(ctx, ctx.label_scoring, texts)
    if ctx.texts_per_request <= 1:
        return [label_request(ctx, t, logprobs=logprobs) for t in texts]
    return [
        label_batch_request(ctx, [texts[i] for i in group], logprobs=logprobs)
        for group in chunks(len(texts), ctx.texts_per_request)
    ]


def affordable_texts(ctx: DistillContext, texts: Sequence[str], *, logprobs: bool = True) -> int:
    """How many of `texts` (a prefix) the budget left can label (at least 1, 0 for none)."""
    if not texts:
        return 0
    return affordable(
        ctx,
        len(texts),
        lambda n: reserved_tokens(ctx, labelling_requests(ctx, texts[:n], logprobs=logprobs)),
    )


@dataclass(frozen=True)
class ItemLabel:
    """The teacher's answer for one text of a labelling request (batched or not)."""

    result: ChatResult
    """The request's result (shared by every text of a batch)."""
    reply: str | None
    """This text's answer as JSON (`{"label": ..}` or `{"entities": [..]}`), or None."""
    reason: str | None
    """Why there is no answer: a teacher error, the budget, or a batch item rejection."""
    position: int = 0
    """The answer's index in the reply's item list (to find its logprobs)."""
    listed: int = 1
    """Items in the reply's list (1 for a one-text request)."""
    batched: bool = False
    """The request carried several texts (the batch prompt)."""
    confidence: float | None = None
    """The label's probability when it was read from logprobs (label scoring)."""


def _error_reason(result: ChatResult) -> str:
    return "budget" if failed_report(result).budget_exhausted else "teacher_error"


async def ask_labels(
    ctx: DistillContext,
    texts: Sequence[str],
    *,
    logprobs: bool = False,
    temperature: float = 0.0,
    sample_index: int = 0,
    desc: str = "labelling",
) -> list[ItemLabel]:
    """The teacher's answer for each text, `ctx.texts_per_request` texts per request.

    With 1, each text gets the one-text prompt; otherwise consecutive texts share a request and
    each takes its own numbered item of the reply (see `distill.batch` for what is rejected).
    """
    m = ctx.texts_per_request
    groups = chunks(len(texts), max(m, 1))
    requests = labelling_requests(ctx, texts, logprobs=logprobs)
    requests = [replace(r, temperature=temperature, sample_index=sample_index) for r in requests]
    results = await ctx.generator.run(requests, desc=desc) if requests else []
    out: list[ItemLabel] = []
    for group, result in zip(groups, results, strict=True):
        if not result.ok:
            out += [ItemLabel(result, None, _error_reason(result), batched=m > 1) for _ in group]
        elif m <= 1:
            out.append(ItemLabel(result, result.text, None))
        else:
            parsed = parse_batch(result.text, len(group))
            for item, reason, position in zip(
                parsed.items, parsed.reasons, parsed.order, strict=True
            ):
                reply = None if item is None else json.dumps(item, ensure_ascii=False)
                out.append(ItemLabel(result, reply, reason, position or 0, parsed.listed, True))
    return out


async def label_candidates(
    ctx: DistillContext, *, keep_hints: bool = False
) -> tuple[StepReport, list[Sample]]:
    """Label every pending candidate (`ctx.texts_per_request` per call); return the accepted.

    With `keep_hints` (AugGPT: a rewrite keeps its seed's label), classification candidates
    carrying a `label_hint` take it without a teacher call; NER hints name entities, not
    where they are, so NER candidates are always labelled.
    """
    candidates, ctx.state.candidates = ctx.state.candidates, []
    report = StepReport(ok=True)
    intake = Intake(ctx, report.rejected)
    if keep_hints and task_of(ctx.spec).hint_is_label:
        for cand in candidates:
            if cand.label_hint is not None:
                report.produced += 1
                _keep_hint(intake, cand, cand.label_hint)
        candidates = [c for c in candidates if c.label_hint is None]
    answers = await _answers(ctx, [c.text for c in candidates])
    for cand, answer in zip(candidates, answers, strict=True):
        result = answer.result
        report.produced += 1
        row: dict[str, Any] = {
            "round": cand.round,
            "kind": cand.kind,
            "prompt_id": cand.prompt_id,
            "label_prompt_id": result.request.template_version,
            "text": cand.text,
            "stage": "labelled",
            "teacher_confidence": answer.confidence,
            "cached": result.cached,
        }
        if answer.reason in ("budget", "teacher_error"):
            failed = failed_report(result)
            report.budget_exhausted |= failed.budget_exhausted
            intake.reject(row, answer.reason, error=failed.error)
            continue
        if answer.reply is None:  # a batch item missing, repeated or out of order
            sample, reason = None, answer.reason or "reply_not_json"
        else:
            sample, reason = task_of(ctx.spec).read_answer(
                ctx.hygiene, ctx.spec.labels, cand.text, answer.reply
            )
        if sample is None:
            intake.reject(row, reason, reply=answer.reply or result.text)
            continue
        intake.admit(row, sample, index=cand.text)
    report.accepted = len(intake.accepted)
    report.ok = report.accepted > 0 or not report.budget_exhausted
    return report, intake.accepted


async def _answers(ctx: DistillContext, texts: Sequence[str]) -> list[ItemLabel]:
    """Each text's label: by completion scoring when the run uses it, else by `ask_labels`."""
    setup = ctx.label_scoring
    if setup is None or not task_of(ctx.spec).scores_by_completion:
        return await ask_labels(ctx, texts)
    out = []
    for scored in await score_by_completion(ctx, setup, texts):
        score = scored.confidence
        if score is None or score.label is None:
            reason = _error_reason(scored.result) if not scored.result.ok else NO_LABEL
            out.append(ItemLabel(scored.result, None, reason))
            continue
        reply = json.dumps({"label": score.label}, ensure_ascii=False)
        out.append(ItemLabel(scored.result, reply, None, confidence=round(score.confidence, 4)))
    return out


def _keep_hint(intake: Intake, cand: Candidate, label: str) -> None:
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
    reason = intake.ctx.hygiene.check_label(label)
    if reason is not None:
        intake.reject(row, reason, label_hint=label)
        return
    intake.admit(row, TextSample(cand.text, label), index=cand.text)
