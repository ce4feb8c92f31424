"""Teacher confidence for texts: the labelling call with logprobs, or sampled replies.

Used by `score_confidence` (and so by LLKD): logprobs where the endpoint gives them, otherwise
self-consistency over `votes` sampled replies; each score says which was used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from evokd_agent.methods.confidence import (
    LabelConfidence,
    NerConfidence,
    from_logprobs,
    from_votes,
    ner_from_logprobs,
    ner_from_votes,
)
from evokd_agent.methods.context import DistillContext
from evokd_agent.methods.labelling import label_request
from evokd_agent.methods.parsing import parse_entities, parse_label
from evokd_agent.teacher.request import ChatResult

T = TypeVar("T")


async def score_texts(
    ctx: DistillContext, texts: Sequence[str], *, votes: int = 5
) -> list[LabelConfidence | None]:
    """The teacher's label and confidence for each text (classification).

    Logprobs when the endpoint gives them; otherwise `votes` sampled labelling replies per text
    (self-consistency). None for a text whose replies failed or named no label.
    """
    labels = ctx.spec.labels
    return await _score(
        ctx,
        texts,
        votes,
        lambda result, choice: from_logprobs(choice.logprobs, labels),
        lambda chunk: from_votes([parse_label(r.text, labels) for r in chunk], labels),
    )


async def score_ner_texts(
    ctx: DistillContext, texts: Sequence[str], *, votes: int = 5
) -> list[NerConfidence | None]:
    """The teacher's entities for each sentence, with a confidence per entity and per sentence.

    Logprobs of each entity's type token when the endpoint gives them; otherwise `votes`
    sampled replies per sentence (self-consistency). None where every reply failed.
    """
    types = ctx.spec.labels

    def from_reply(result: ChatResult, choice: Any) -> NerConfidence | None:
        entities = parse_entities(result.text)
        return None if entities is None else ner_from_logprobs(choice.logprobs, types, entities)

    return await _score(
        ctx,
        texts,
        votes,
        from_reply,
        lambda chunk: ner_from_votes([parse_entities(r.text) if r.ok else None for r in chunk]),
    )


async def _score(
    ctx: DistillContext,
    texts: Sequence[str],
    votes: int,
    from_reply: Callable[[ChatResult, Any], T | None],
    from_sampled: Callable[[Sequence[ChatResult]], T],
) -> list[T | None]:
    """One labelling call with logprobs per text, scored by `from_reply(result, choice)`; texts
    it cannot score (no logprobs) get `votes` sampled calls, scored by `from_sampled`."""
    results = await ctx.generator.run(
        [label_request(ctx, t, logprobs=True) for t in texts], desc="confidence"
    )
    scores: list[T | None] = []
    missing: list[int] = []
    for i, result in enumerate(results):
        choice = result.response.choices[0] if result.response is not None else None
        score = from_reply(result, choice) if choice is not None else None
        scores.append(score)
        if score is None and choice is not None:
            missing.append(i)
    if missing:
        sampled = [
            replace(label_request(ctx, texts[i]), temperature=0.8, sample_index=k + 1)
            for i in missing
            for k in range(votes)
        ]
        replies = await ctx.generator.run(sampled, desc="self-consistency")
        for n, i in enumerate(missing):
            scores[i] = from_sampled(replies[n * votes : (n + 1) * votes])
    return scores
