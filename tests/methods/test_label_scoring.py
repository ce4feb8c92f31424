"""Completion scoring of labels: few-shot prompt on /v1/completions, label words' logprobs,
calibration; real HTTP through the real client against the fake server."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from evokd_agent.distill.calibration import calibrated
from evokd_agent.distill.context import Candidate
from evokd_agent.distill.label_scoring import (
    CONTENT_FREE,
    ScoringSetup,
    score_by_completion,
    word_mass,
)
from evokd_agent.distill.labelling import label_candidates
from evokd_agent.distill.scoring import score_texts
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
from evokd_agent.student.data import TextSample
from evokd_agent.teacher.client import parse_completion
from tests.teacher.conftest import generator_for
from tests.teacher.test_simulated import make_ctx

SEEDS = [TextSample("a dull, lifeless film", "negative"), TextSample("a warm delight", "positive")]


def scored_reply(probs: dict[str, float]) -> FakeReply:
    """A one-token completion whose alternatives carry `probs` (token -> probability)."""
    top = {t: math.log(p) for t, p in probs.items()}
    first = max(top, key=lambda t: top[t])
    return FakeReply.text(first, logprobs=(FakeTokenLogprob(first, top[first], top),))


def text_of(prompt: str) -> str:
    """The text being labelled: the last "Text:" line of a scoring prompt."""
    return prompt.rsplit("Text: ", 1)[1].split("\n", 1)[0]


def biased_teacher(body: dict[str, Any]) -> FakeReply:
    """Leans to "negative" everywhere: 0.7 on "good" texts, 0.9 otherwise (and on
    content-free inputs 0.8); surface forms split the mass."""
    text = text_of(body["prompt"])
    neg = 0.7 if "good" in text else 0.8 if text in CONTENT_FREE else 0.9
    return scored_reply(
        {" negative": neg * 0.75, "Negative": neg * 0.2, " positive": (1 - neg) * 0.9, "\n": 0.01}
    )


async def context(server: FakeOpenAIServer, setup: ScoringSetup) -> Any:
    generator_cm = generator_for(server.base_url)
    generator = await generator_cm.__aenter__()
    made = make_ctx(generator)
    made.ctx = dataclasses.replace(made.ctx, seeds=SEEDS, label_scoring=setup)
    made.close = generator_cm.__aexit__
    return made


def test_word_mass_sums_surface_forms_and_skips_ambiguous_tokens() -> None:
    alternatives = {
        " positive": math.log(0.4),
        "Positive": math.log(0.1),
        " pos": math.log(0.05),
        " ne": math.log(0.2),  # begins "negative" and "neutral": counts for neither
        " neg": math.log(0.15),
        " ": math.log(0.1),
    }
    mass = word_mass(alternatives, ["negative", "neutral", "positive"])
    assert mass["positive"] == pytest.approx(0.55)
    assert mass["negative"] == pytest.approx(0.15)
    assert mass["neutral"] == 0.0


def test_calibration_divides_by_the_prior_and_renormalises() -> None:
    out = calibrated({"negative": 0.6, "positive": 0.4}, {"negative": 0.8, "positive": 0.2})
    assert out["positive"] == pytest.approx((0.4 / 0.2) / (0.4 / 0.2 + 0.6 / 0.8))
    assert sum(out.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("calibration", "labels"),
    [
        ("off", ["negative", "negative"]),  # the bias wins on every text
        ("batch", ["positive", "negative"]),  # the mean over the two texts removes it
        ("mixture", ["positive", "negative"]),  # too few texts to fit: the batch prior
        ("content_free", ["positive", "negative"]),  # "N/A"-style inputs measure it
    ],
)
async def test_scoring_reads_label_words_and_calibrates(
    calibration: str, labels: list[str]
) -> None:
    with FakeOpenAIServer(handler=biased_teacher) as server:
        made = await context(server, ScoringSetup(calibration=calibration))  # type: ignore[arg-type]
        try:
            scored = await score_by_completion(
                made.ctx, made.ctx.label_scoring, ["a good film", "a bad film"]
            )
        finally:
            await made.close(None, None, None)
        bodies = list(server.requests)
    assert [s.confidence.label for s in scored if s.confidence] == labels
    first = scored[0].confidence
    assert first is not None and sum(first.distribution.values()) == pytest.approx(1.0)
    assert first.method == ("scoring" if calibration == "off" else "calibrated_scoring")
    assert scored[0].mass == pytest.approx(0.7 * 0.95 + 0.3 * 0.9)
    if calibration == "off":
        # raw: P(neg) = 0.7 * 0.95 / (0.7 * 0.95 + 0.3 * 0.9)
        assert first.confidence == pytest.approx(0.665 / (0.665 + 0.27))
    # Few-shot completion prompts: the seeds, then the text and its open label field.
    [prompt] = [b["prompt"] for b in bodies if text_of(b["prompt"]) == "a bad film"]
    assert "Text: a dull, lifeless film\nLabel: negative" in prompt
    assert prompt.endswith("Text: a bad film\nLabel:")
    assert all(b["max_tokens"] == 1 and b["logprobs"] == 10 for b in bodies)
    assert all("messages" not in b for b in bodies)
    cf = [b for b in bodies if text_of(b["prompt"]) in CONTENT_FREE]
    assert len(cf) == (3 if calibration == "content_free" else 0)


def jittered_teacher(body: dict[str, Any]) -> FakeReply:
    """Leans to "negative" (0.6 to 0.68 on "good" texts, 0.8 to 0.88 otherwise), the amount
    varying with the number the text ends with."""
    text = text_of(body["prompt"])
    neg = (0.6 if "good" in text else 0.8) + 0.02 * (int(text.rsplit(" ", 1)[1]) % 5)
    return scored_reply({" negative": neg, " positive": 1 - neg})


async def test_mixture_calibration_sharpens_the_batch_calibrated_labels() -> None:
    texts = [f"a {kind} film {i}" for i in range(12) for kind in ("good", "bad")]
    scored = {}
    for calibration in ("batch", "mixture"):
        with FakeOpenAIServer(handler=jittered_teacher) as server:
            made = await context(server, ScoringSetup(calibration=calibration))
            try:
                scored[calibration] = [
                    s.confidence
                    for s in await score_by_completion(made.ctx, made.ctx.label_scoring, texts)
                ]
            finally:
                await made.close(None, None, None)
    expected = ["positive" if "good" in t else "negative" for t in texts]
    for calibration, confidences in scored.items():
        assert [c.label for c in confidences if c] == expected, calibration
        assert all(c and c.method == "calibrated_scoring" for c in confidences)
    batch = [c.confidence for c in scored["batch"] if c]
    mixture = [c.confidence for c in scored["mixture"] if c]
    assert max(batch) < 0.75
    assert min(mixture) > 0.9  # two well-separated groups: the mixture is sure of each


async def test_two_orders_score_each_text_under_both_example_orders() -> None:
    def handler(body: dict[str, Any]) -> FakeReply:
        prompt = body["prompt"]
        positive_last = prompt.index("a warm delight") > prompt.index("a dull, lifeless film")
        neg = 0.3 if positive_last else 0.6  # the last example's label sways the model
        return scored_reply({" negative": neg, " positive": 1 - neg})

    with FakeOpenAIServer(handler=handler) as server:
        made = await context(server, ScoringSetup(calibration="off", orders=2))
        try:
            scored = await score_by_completion(made.ctx, made.ctx.label_scoring, ["a film"])
        finally:
            await made.close(None, None, None)
        prompts = [b["prompt"] for b in server.requests]
    assert len(prompts) == 2
    first, second = prompts
    assert first.index("a warm delight") > first.index("a dull")  # labels interleaved
    assert second.index("a warm delight") < second.index("a dull")  # then reversed
    [one] = scored
    assert one.confidence is not None
    neg = math.sqrt(0.3 * 0.6)
    assert one.confidence.distribution["negative"] == pytest.approx(
        neg / (neg + math.sqrt(0.7 * 0.4))
    )


async def test_labels_sharing_a_first_word_are_told_apart_by_their_next_word() -> None:
    def handler(body: dict[str, Any]) -> FakeReply:
        if body["prompt"].endswith("Label:"):
            return scored_reply({" very": 0.6, " fine": 0.4})
        assert body["prompt"].endswith("Label: very")
        return scored_reply({" good": 0.75, " bad": 0.25})

    with FakeOpenAIServer(handler=handler) as server:
        made = await context(server, ScoringSetup(calibration="off"))
        ctx = dataclasses.replace(
            made.ctx,
            spec=dataclasses.replace(made.ctx.spec, labels=("very good", "very bad", "fine")),
            seeds=[],
        )
        try:
            [scored] = await score_by_completion(ctx, ctx.label_scoring, ["text"])
        finally:
            await made.close(None, None, None)
        assert len(server.requests) == 2
    assert scored.confidence is not None
    dist = scored.confidence.distribution
    assert dist["very good"] == pytest.approx(0.45)
    assert dist["very bad"] == pytest.approx(0.15)
    assert dist["fine"] == pytest.approx(0.4)


async def test_no_label_word_among_the_alternatives_gives_no_label() -> None:
    with FakeOpenAIServer(handler=lambda body: scored_reply({" the": 0.9, " a": 0.1})) as server:
        made = await context(server, ScoringSetup())
        try:
            labels = await score_texts(made.ctx, ["x y z"])
            made.ctx.state.candidates.append(Candidate("some new text", "hard", 1, "p"))
            report, accepted = await label_candidates(made.ctx)
        finally:
            await made.close(None, None, None)
    assert labels == [None]
    assert accepted == [] and report.rejected == {"no_label": 1}


async def test_labelling_by_scoring_records_the_confidence() -> None:
    with FakeOpenAIServer(handler=biased_teacher) as server:
        made = await context(server, ScoringSetup(calibration="off"))
        made.ctx.state.candidates.extend(
            Candidate(t, "hard", 1, "p") for t in ("a bad film indeed", "a good film indeed")
        )
        try:
            _, accepted = await label_candidates(made.ctx)
        finally:
            await made.close(None, None, None)
    # uncalibrated: the bias wins
    assert accepted == [
        TextSample("a bad film indeed", "negative"),
        TextSample("a good film indeed", "negative"),
    ]
    confidences = [row["teacher_confidence"] for row in made.rows]
    assert confidences == [
        pytest.approx(0.9 * 0.95 / (0.9 * 0.95 + 0.1 * 0.9), abs=1e-4),
        pytest.approx(0.665 / (0.665 + 0.27), abs=1e-4),
    ]


def test_a_text_completion_body_reads_as_a_chat_completion() -> None:
    body = (
        b'{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",'
        b' "choices": [{"text": " negative", "index": 0, "finish_reason": "length",'
        b' "logprobs": {"tokens": [" negative"], "token_logprobs": [-0.5],'
        b' "top_logprobs": [{" negative": -0.5, " positive": -1.0}], "text_offset": [10]}}],'
        b' "usage": {"prompt_tokens": 54, "completion_tokens": 1, "total_tokens": 55}}'
    )
    completion = parse_completion(body)
    choice = completion.choices[0]
    assert choice.message.content == " negative"
    assert choice.logprobs is not None and choice.logprobs.content is not None
    top = {a.token: a.logprob for a in choice.logprobs.content[0].top_logprobs}
    assert top == {" negative": -0.5, " positive": -1.0}
    assert completion.usage is not None and completion.usage.prompt_tokens == 54
