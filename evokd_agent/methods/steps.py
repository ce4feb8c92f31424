"""The teacher's part of each method: analyse weaknesses and write inputs (labels: `labelling`).

Tools and baselines call these; each returns what it produced and leaves filtering decisions in
the samples log (accepted or rejected, and why).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evokd_agent.methods.context import Candidate, DistillContext, Kind, Sample, sample_text
from evokd_agent.methods.parsing import parse_texts
from evokd_agent.prompting import Step
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.ner import bio_entities
from evokd_agent.teacher.request import ChatRequest, ChatResult, Phase

_TEXT_SCHEMA: dict[str, Any] = {
    "type": "object",
    # Bounded strings: a small model inside an unbounded JSON string may never close it.
    "properties": {"text": {"type": "string", "minLength": 8, "maxLength": 200}},
    "required": ["text"],
}
# Sample indexes of one prompt per round (above the tools' per-prompt limit of 32).
_ROUND_STRIDE = 1000
_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def split_words(text: str) -> tuple[str, ...]:
    """Words and punctuation, the way NER data sets usually tokenise."""
    return tuple(_WORD.findall(text))


def entities_of(sample: NerSample) -> list[tuple[str, str]]:
    """(surface, type) pairs of a BIO-tagged sentence."""
    return bio_entities(sample.tokens, sample.tags)


def describe(sample: Sample) -> str:
    """A sample as the teacher reads it in prompts."""
    if isinstance(sample, TextSample):
        return f'"{sample.text}" -> {sample.label}'
    ents = ", ".join(f"{s} ({k})" for s, k in entities_of(sample)) or "no entities"
    return f'"{sample_text(sample)}" -> {ents}'


def _json_format(ctx: DistillContext, schema: dict[str, Any]) -> dict[str, Any] | None:
    mode = ctx.json_mode
    if mode == "off":
        return None
    if mode == "object":
        return {"type": "json_object"}
    return {"type": "json_object", "schema": schema}


def teacher_request(
    ctx: DistillContext,
    messages: list[dict[str, str]],
    *,
    step: Step,
    phase: Phase,
    max_tokens: int,
    temperature: float,
    schema: dict[str, Any],
    sample_index: int = 0,
) -> ChatRequest:
    return ChatRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        response_format=_json_format(ctx, schema) if schema else None,
        phase=phase,
        round=ctx.state.round + 1,
        template_version=f"{ctx.prompts.task}/{step}@{ctx.prompts.version(step)}",
        sample_index=sample_index,
    )


def _trimmed(ctx: DistillContext, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """System prompt plus as many of the latest turns as fit in `max_history_chars`."""
    head, rest = messages[:1], messages[1:]
    kept: list[dict[str, str]] = []
    size = sum(len(m["content"]) for m in head)
    for message in reversed(rest):
        size += len(message["content"])
        if kept and size > ctx.max_history_chars:
            break
        kept.append(message)
    kept.reverse()
    # A conversation must not start with an assistant turn.
    while len(kept) > 1 and kept[0]["role"] == "assistant":
        kept.pop(0)
    return head + kept


def _conversation(ctx: DistillContext) -> list[dict[str, str]]:
    if not ctx.state.conversation:
        system = ctx.prompts.render(
            "system", task_description=ctx.spec.description, label_list=ctx.spec.label_list()
        )
        ctx.state.conversation.append({"role": "system", "content": system})
    return ctx.state.conversation


@dataclass
class StepReport:
    """What a teacher step produced, for the tool result and the event log."""

    ok: bool
    """Whether the teacher answered."""
    error: str = ""
    """Why not, when it did not."""
    budget_exhausted: bool = False
    """The token budget cannot pay for this step."""
    produced: int = 0
    """Items produced (inputs written or samples labelled)."""
    accepted: int = 0
    """Items that passed the filters."""
    rejected: dict[str, int] = field(default_factory=dict)
    """Rejections by reason."""
    text: str = ""
    """The analysis text (analysis step only)."""


def failed_report(result: ChatResult) -> StepReport:
    error = result.error
    return StepReport(
        ok=False,
        error=str(error) if error else "empty reply",
        budget_exhausted=error is not None and error.kind == "budget",
    )


def count_rejection(report: StepReport, reason: str) -> None:
    report.rejected[reason] = report.rejected.get(reason, 0) + 1


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


_DIFFICULTY = {
    "hard": "It should be a HARD case: one the model would likely get wrong, given the "
    "weakness you found.",
    "easy": "It should be an EASY, clear case that the model would get right.",
}


async def generate_inputs(ctx: DistillContext, n_hard: int, n_easy: int) -> StepReport:
    """Hard and easy new inputs, written in the same conversation as the analyses.

    One request per input, each with the whole conversation: small teachers write one good
    sentence far more reliably than a JSON list of them. Target labels rotate over the label
    set for balance (the separate labelling call still decides the label). The conversation
    then records what was written, so later rounds build on it.
    """
    conversation = _conversation(ctx)
    labels = ctx.spec.labels
    offset = ctx.state.round * (n_hard + n_easy)
    jobs = [("hard", i) for i in range(n_hard)] + [("easy", i) for i in range(n_easy)]
    requests = []
    for j, (kind, _) in enumerate(jobs):
        user = ctx.prompts.render(
            "generate", label=labels[(offset + j) % len(labels)], difficulty=_DIFFICULTY[kind]
        )
        messages = _trimmed(ctx, [*conversation, {"role": "user", "content": user}])
        requests.append(
            teacher_request(
                ctx,
                messages,
                step="generate",
                phase="generation",
                max_tokens=ctx.max_tokens,
                temperature=ctx.temperature,
                schema=_TEXT_SCHEMA,
                sample_index=j,
            )
        )
    report = StepReport(ok=True)
    written: dict[str, list[str]] = {"hard": [], "easy": []}
    results = await ctx.generator.run(requests, desc="generation")
    for (kind, _), result in zip(jobs, results, strict=True):
        text = _written_text(report, result)
        if text is not None:
            written[kind].append(text)
            _offer(ctx, report, text, kind, result.request.template_version)  # type: ignore[arg-type]
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

    Each job holds the template values and `n`, the number of texts wanted (one request each,
    told apart in the cache by `sample_index`); its "label" becomes the candidate's hint.
    The same prompts come back every round (ZeroGen, AugGPT): the round is part of the sample
    index, so a later round draws new texts instead of reading round 1's back from the cache.
    """
    first = ctx.state.round * _ROUND_STRIDE
    plan = [(job, first + k) for job in jobs for k in range(int(job["n"]))]
    requests = [
        teacher_request(
            ctx,
            [{"role": "user", "content": ctx.prompts.render(step, **job)}],
            step=step,
            phase="generation",
            max_tokens=ctx.max_tokens,
            temperature=ctx.temperature,
            schema=_TEXT_SCHEMA,
            sample_index=k,
        )
        for job, k in plan
    ]
    report = StepReport(ok=True)
    for (job, _), result in zip(plan, await ctx.generator.run(requests, desc=step), strict=True):
        text = _written_text(report, result)
        if text is not None:
            _offer(ctx, report, text, kind, result.request.template_version, job.get("label"))
    report.ok = report.produced > 0 or not report.budget_exhausted
    return report


def _written_text(report: StepReport, result: ChatResult) -> str | None:
    """The text of a one-input generation reply, or None with the failure counted."""
    if not result.ok:
        failed = failed_report(result)
        report.budget_exhausted |= failed.budget_exhausted
        count_rejection(report, "budget" if failed.budget_exhausted else "teacher_error")
        return None
    texts = parse_texts(result.text, ("text",)).get("text", [])
    if not texts:
        count_rejection(report, "reply_not_json")
        return None
    return texts[0]


def _offer(
    ctx: DistillContext,
    report: StepReport,
    text: str,
    kind: Kind,
    prompt_id: str,
    label_hint: str | None = None,
) -> None:
    report.produced += 1
    # Small models trained on web text emit HTML entities (&#34; for a quote).
    text = " ".join(html.unescape(text).split())
    seen = [c.text for c in ctx.state.candidates]
    reason = ctx.hygiene.check_text(text, extra=seen)
    provenance = {"round": ctx.state.round + 1, "kind": kind, "prompt_id": prompt_id}
    if reason is not None:
        count_rejection(report, reason)
        ctx.record_sample(
            {**provenance, "text": text, "stage": "generated", "accepted": False, "reason": reason}
        )
        return
    report.accepted += 1
    ctx.state.candidates.append(Candidate(text, kind, ctx.state.round + 1, prompt_id, label_hint))
