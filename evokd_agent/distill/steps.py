"""The teacher's part of each method: analyse weaknesses and write inputs (labels: `labelling`).

Tools and baselines call these; each returns what it produced and leaves filtering decisions in
the samples log (accepted or rejected, and why).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from evokd_agent.distill.batch import UNKNOWN_ID, chunks, parse_batch
from evokd_agent.distill.context import Candidate, DistillContext, Kind
from evokd_agent.distill.intake import Intake
from evokd_agent.distill.labelling import labelling_requests
from evokd_agent.distill.requests import (
    StepReport,
    affordable,
    count_rejection,
    failed_report,
    reserved_tokens,
    teacher_request,
)
from evokd_agent.distill.tasks import describe, task_of
from evokd_agent.prompting import Step
from evokd_agent.teacher.request import ChatRequest, ChatResult

# Bounded strings: a small model inside an unbounded JSON string may never close it.
_TEXT = {"type": "string", "minLength": 8, "maxLength": 200}
# Sample indexes of one prompt per generation step (above the tools' per-prompt limit of 32).
_STEP_STRIDE = 1000


# The newest exchange (e.g. the analysis prompt, the analysis and the new request) is always
# sent, whatever its size: a generation request without its analysis would repeat itself.
_ALWAYS_KEPT = 3


def _trimmed(ctx: DistillContext, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """System prompt, the newest exchange, and as many earlier turns as fit in
    `max_history_chars` (counted without the system prompt). Each teacher reply is cut to
    `max_history_chars` first: one huge reply must not inflate every later request (our own
    prompts are kept whole)."""
    head = messages[:1]
    rest = [_clipped(m, ctx.max_history_chars) for m in messages[1:]]
    kept: list[dict[str, str]] = []
    size = 0
    for message in reversed(rest):
        size += len(message["content"])
        if len(kept) >= _ALWAYS_KEPT and size > ctx.max_history_chars:
            break
        kept.append(message)
    kept.reverse()
    # A conversation must not start with an assistant turn.
    while len(kept) > 1 and kept[0]["role"] == "assistant":
        kept.pop(0)
    return head + kept


def _clipped(message: dict[str, str], chars: int) -> dict[str, str]:
    content = message["content"]
    if message["role"] != "assistant" or len(content) <= chars:
        return message
    return {**message, "content": content[:chars] + " [cut]"}


def _conversation(ctx: DistillContext) -> list[dict[str, str]]:
    if not ctx.state.conversation:
        system = ctx.prompts.render(
            "system", task_description=ctx.spec.description, label_list=ctx.spec.label_list()
        )
        ctx.state.conversation.append({"role": "system", "content": system})
    return ctx.state.conversation


# A typical generated sentence, for estimating what labelling it will reserve.
_LABEL_TEXT_ESTIMATE = " ".join(["word"] * 24)


async def analyze_weakness(ctx: DistillContext, max_tokens: int = 200) -> StepReport:
    """Ask the teacher, in the running conversation, what the student gets wrong."""
    conversation = _conversation(ctx)
    wrong = "\n".join(
        f"- {describe(p.sample)} (guessed: {_show(p.predicted)})" for p in ctx.state.wrong
    )
    correct = "\n".join(f"- {describe(p.sample)}" for p in ctx.state.correct)
    user = ctx.prompts.render(
        "analyze", round=ctx.state.round + 1, wrong=wrong or "(none)", correct=correct or "(none)"
    )
    messages = _trimmed(ctx, [*conversation, {"role": "user", "content": user}])
    result = await ctx.generator.complete(
        teacher_request(
            ctx,
            messages,
            step="analyze",
            phase="analysis",
            max_tokens=max_tokens,
            temperature=0.7,
            schema={},
        )
    )
    if not result.ok or not result.text:
        return failed_report(result)
    conversation += [
        {"role": "user", "content": user},
        {"role": "assistant", "content": result.text},
    ]
    return StepReport(ok=True, produced=1, accepted=1, text=result.text)


def _show(predicted: Any) -> str:
    if isinstance(predicted, str):
        return predicted
    return " ".join(predicted)


def _items_schema(n: int, extra: dict[str, Any]) -> dict[str, Any]:
    """`{"items": [n x {"id", **extra, "text"}]}`: extra keys come before the text, so the
    teacher states the plan (label, difficulty) before writing to it."""
    item = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, **extra, "text": _TEXT},
        "required": ["id", *extra, "text"],
    }
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item, "minItems": n, "maxItems": n}},
        "required": ["items"],
    }


def _plan_line(ctx: DistillContext, i: int, label: str, kind: str) -> str:
    return f'{i}. {task_of(ctx.spec).noun} "{label}", {kind.upper()}'


async def generate_inputs(ctx: DistillContext, n_hard: int, n_easy: int) -> StepReport:
    """Hard and easy new inputs, written in the same conversation as the analyses.

    Each request writes up to `ctx.inputs_per_request` inputs as a JSON list, following a
    numbered plan (target label, hard or easy), so the conversation is paid for once per k
    inputs. Target labels rotate over the label set for balance (the separate labelling call
    still decides the label). The conversation then records what was written, so later rounds
    build on it.
    """
    conversation = _conversation(ctx)
    labels = ctx.spec.labels
    offset = ctx.state.round * (n_hard + n_easy)
    step_index = _next_generation_step(ctx)
    all_jobs = [
        (kind, labels[(offset + j) % len(labels)])
        for j, kind in enumerate(["hard"] * n_hard + ["easy"] * n_easy)
    ]
    extra = {
        task_of(ctx.spec).noun: {"enum": list(labels)},
        "difficulty": {"enum": ["hard", "easy"]},
    }

    def build(n: int) -> tuple[list[range], list[ChatRequest]]:
        groups = chunks(n, ctx.inputs_per_request)
        requests = []
        for g, group in enumerate(groups):
            lines = [
                _plan_line(ctx, i + 1, all_jobs[j][1], all_jobs[j][0]) for i, j in enumerate(group)
            ]
            user = ctx.prompts.render("generate", n=len(group), plan="\n".join(lines))
            messages = _trimmed(ctx, [*conversation, {"role": "user", "content": user}])
            requests.append(
                teacher_request(
                    ctx,
                    messages,
                    step="generate",
                    phase="generation",
                    max_tokens=ctx.max_tokens * len(group),
                    temperature=ctx.temperature,
                    schema=_items_schema(len(group), extra),
                    # The step is part of the cache key even if two steps' prompts match.
                    sample_index=step_index * _STEP_STRIDE + g,
                )
            )
        return groups, requests

    # The last round writes fewer when the budget cannot pay for them all (and their labels).
    n = affordable(ctx, len(all_jobs), lambda n: _with_labelling(ctx, n, build(n)[1]))
    jobs = all_jobs[:n]
    groups, requests = build(n)
    report = StepReport(ok=True)
    intake = Intake(ctx, report.rejected)
    written: dict[str, list[str]] = {"hard": [], "easy": []}
    results = await ctx.generator.run(requests, desc="generation")
    for group, result in zip(groups, results, strict=True):
        for j, text in zip(group, _written_texts(report, result, len(group)), strict=True):
            if text is None:
                continue
            kind, label = jobs[j]
            written[kind].append(text)
            _offer(intake, report, text, kind, result.request.template_version, label)  # type: ignore[arg-type]
    if written["hard"] or written["easy"]:
        conversation += [
            {"role": "user", "content": f"Write {n_hard} hard and {n_easy} easy new inputs."},
            {"role": "assistant", "content": json.dumps(written, ensure_ascii=False)},
        ]
    report.ok = report.produced > 0 or not report.budget_exhausted
    return report


async def write_variants(
    ctx: DistillContext, step: Step, jobs: Sequence[dict[str, Any]], kind: Kind
) -> StepReport:
    """Independent generation calls (rewrites of seeds, label-conditioned ZeroGen texts).

    Each job holds the template values and `n`, the number of texts wanted; a request writes
    up to `ctx.inputs_per_request` of them as a JSON list (`$n` in the template is that
    request's count), told apart in the cache by `sample_index`. A job's "label" becomes the
    candidates' hint. The same prompts come back every step (ZeroGen, AugGPT): the step's
    number is part of the sample index, so a later step draws new texts instead of reading
    the first one's back from the cache.
    """
    first = _next_generation_step(ctx) * _STEP_STRIDE

    def build(per_job: int) -> tuple[list[tuple[dict[str, Any], range]], list[ChatRequest]]:
        k = ctx.inputs_per_request
        plan = [(job, part) for job in jobs for part in chunks(min(int(job["n"]), per_job), k)]
        requests = [
            teacher_request(
                ctx,
                [{"role": "user", "content": ctx.prompts.render(step, **{**job, "n": len(part)})}],
                step=step,
                phase="generation",
                max_tokens=ctx.max_tokens * len(part),
                temperature=ctx.temperature,
                schema=_items_schema(len(part), {}),
                sample_index=first + part.start,
            )
            for job, part in plan
        ]
        return plan, requests

    # The last round writes fewer per job when the budget cannot pay for them all.
    most = max((int(job["n"]) for job in jobs), default=0)
    per_job = affordable(ctx, most, lambda n: _with_labelling(ctx, n * len(jobs), build(n)[1]))
    plan, requests = build(per_job)
    report = StepReport(ok=True)
    intake = Intake(ctx, report.rejected)
    for (job, part), result in zip(plan, await ctx.generator.run(requests, desc=step), strict=True):
        for text in _written_texts(report, result, len(part)):
            if text is not None:
                hint = job.get("label")
                _offer(intake, report, text, kind, result.request.template_version, hint)
    report.ok = report.produced > 0 or not report.budget_exhausted
    return report


def _next_generation_step(ctx: DistillContext) -> int:
    """This generation step's number (counted in the run state, so a resume counts alike)."""
    ctx.state.generation_steps += 1
    return ctx.state.generation_steps


def _with_labelling(ctx: DistillContext, n: int, requests: Sequence[ChatRequest]) -> int:
    """Tokens reserved by generation `requests` writing n inputs, plus by labelling them."""
    labels = labelling_requests(ctx, [_LABEL_TEXT_ESTIMATE] * n)
    return reserved_tokens(ctx, [*requests, *labels])


def _written_texts(report: StepReport, result: ChatResult, n: int) -> list[str | None]:
    """The n texts of a generation reply (None where an item is unusable, with why counted)."""
    if not result.ok:
        failed = failed_report(result)
        report.budget_exhausted |= failed.budget_exhausted
        count_rejection(report, "budget" if failed.budget_exhausted else "teacher_error")
        return [None] * n
    parsed = parse_batch(result.text, n)
    if parsed.stray:
        report.rejected[UNKNOWN_ID] = report.rejected.get(UNKNOWN_ID, 0) + parsed.stray
    texts: list[str | None] = []
    for item, reason in zip(parsed.items, parsed.reasons, strict=True):
        text = item.get("text") if item is not None else None
        if isinstance(text, str) and text.strip():
            texts.append(text.strip())
            continue
        count_rejection(report, reason or "reply_not_json")
        texts.append(None)
    return texts


def _offer(
    intake: Intake,
    report: StepReport,
    text: str,
    kind: Kind,
    prompt_id: str,
    label_hint: str | None = None,
) -> None:
    """A written input joins the candidates waiting for a label, unless the run's hygiene
    refuses it (counted in the report through `intake`, which shares its rejections)."""
    ctx = intake.ctx
    report.produced += 1
    # Small models trained on web text emit HTML entities (&#34; for a quote).
    text = " ".join(html.unescape(text).split())
    seen = [c.text for c in ctx.state.candidates]
    row = {
        "round": ctx.state.round + 1,
        "kind": kind,
        "prompt_id": prompt_id,
        "text": text,
        "stage": "generated",
    }
    if not intake.check_text(row, text, extra=seen, written=True):
        return
    report.accepted += 1
    ctx.state.candidates.append(Candidate(text, kind, ctx.state.round + 1, prompt_id, label_hint))
