"""Teacher confidence for texts: the labelling call with logprobs, or sampled replies.

Used by `score_confidence` (and so by LLKD): logprobs where the endpoint gives them, otherwise
self-consistency over `votes` sampled replies; each score says which was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from evokd_agent.methods.confidence import (
    LabelConfidence,
    NerConfidence,
    from_logprobs,
    from_votes,
    ner_from_logprobs,
    ner_from_votes,
)
from evokd_agent.methods.context import DistillContext
from evokd_agent.methods.parsing import parse_entities, parse_label
from evokd_agent.methods.steps import label_request


async def score_texts(
    ctx: DistillContext, texts: Sequence[str], *, votes: int = 5
) -> list[LabelConfidence | None]:
    """The teacher's label and confidence for each text (classification).

    Logprobs when the endpoint gives them; otherwise `votes` sampled labelling replies per text
    (self-consistency). None for a text whose replies failed or named no label.
    """
    labels = ctx.spec.labels
    results = await ctx.generator.run(
        [label_request(ctx, t, logprobs=True) for t in texts], desc="confidence"
    )
    scores: list[LabelConfidence | None] = []
    missing: list[int] = []
    for i, result in enumerate(results):
        choice = result.response.choices[0] if result.response is not None else None
        score = from_logprobs(choice.logprobs, labels) if choice is not None else None
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
            chunk = replies[n * votes : (n + 1) * votes]
            scores[i] = from_votes([parse_label(r.text, labels) for r in chunk], labels)
    return scores


async def score_ner_texts(
    ctx: DistillContext, texts: Sequence[str], *, votes: int = 5
) -> list[NerConfidence | None]:
    """The teacher's entities for each sentence, with a confidence per entity and per sentence.

    Logprobs of each entity's type token when the endpoint gives them; otherwise `votes`
    sampled replies per sentence (self-consistency). None where every reply failed.
    """
    types = ctx.spec.labels
    results = await ctx.generator.run(
        [label_request(ctx, t, logprobs=True) for t in texts], desc="confidence"
    )
    scores: list[NerConfidence | None] = []
    missing: list[int] = []
    for i, result in enumerate(results):
        choice = result.response.choices[0] if result.response is not None else None
        entities = parse_entities(result.text) if choice is not None else None
        score = None
        if choice is not None and entities is not None:
            score = ner_from_logprobs(choice.logprobs, types, entities)
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
            chunk = replies[n * votes : (n + 1) * votes]
            scores[i] = ner_from_votes([parse_entities(r.text) if r.ok else None for r in chunk])
    return scores
