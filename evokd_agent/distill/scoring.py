"""Teacher confidence for texts: the labelling call with logprobs, or sampled replies.

Used by `score_confidence` (and so by LLKD): completion scoring when the run labels that way
(`distill.label_scoring`), else logprobs where the endpoint gives them, otherwise
self-consistency over `votes` sampled replies; each score says which was used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from evokd_agent.distill.batch import item_list
from evokd_agent.distill.confidence import (
    LabelConfidence,
    NerConfidence,
    batch_from_logprobs,
    from_logprobs,
    from_votes,
    ner_batch_from_logprobs,
    ner_from_logprobs,
    ner_from_votes,
)
from evokd_agent.distill.context import DistillContext
from evokd_agent.distill.label_scoring import score_by_completion
from evokd_agent.distill.labelling import ItemLabel, ask_labels
from evokd_agent.distill.parsing import parse_entities, parse_label

T = TypeVar("T")


async def score_texts(
    ctx: DistillContext, texts: Sequence[str], *, votes: int = 5
) -> list[LabelConfidence | None]:
    """The teacher's label and confidence for each text (classification).

    Logprobs when the endpoint gives them (in a batched reply, each item's own label token);
    otherwise `votes` sampled labelling replies per text (self-consistency). None for a text
    whose replies failed or named no label.
    """
    labels = ctx.spec.labels
    if ctx.label_scoring is not None:
        scored = await score_by_completion(ctx, ctx.label_scoring, texts)
        return [s.confidence if s.confidence and s.confidence.label else None for s in scored]

    def from_reply(answer: ItemLabel, logprobs: Any) -> LabelConfidence | None:
        if not answer.batched:
            return from_logprobs(logprobs, labels)
        scores = batch_from_logprobs(logprobs, labels, answer.listed)
        return None if scores is None else scores[answer.position]

    return await _score(
        ctx,
        texts,
        votes,
        from_reply,
        lambda chunk: from_votes([parse_label(a.reply, labels) for a in chunk], labels),
    )


async def score_ner_texts(
    ctx: DistillContext, texts: Sequence[str], *, votes: int = 5
) -> list[NerConfidence | None]:
    """The teacher's entities for each sentence, with a confidence per entity and per sentence.

    Logprobs of each entity's type token when the endpoint gives them (in a batched reply,
    within the sentence's own item); otherwise `votes` sampled replies per sentence
    (self-consistency). None where every reply failed.
    """
    types = ctx.spec.labels

    def from_reply(answer: ItemLabel, logprobs: Any) -> NerConfidence | None:
        entities = parse_entities(answer.reply)
        if entities is None:
            return None
        if not answer.batched:
            return ner_from_logprobs(logprobs, types, entities)
        listed = item_list(answer.result.text) or []
        parsed = [parse_entities(json.dumps(item)) for item in listed]
        scores = ner_batch_from_logprobs(logprobs, types, parsed)
        return None if scores is None else scores[answer.position]

    return await _score(
        ctx,
        texts,
        votes,
        from_reply,
        lambda chunk: ner_from_votes([parse_entities(a.reply) if a.reply else None for a in chunk]),
    )


async def _score(
    ctx: DistillContext,
    texts: Sequence[str],
    votes: int,
    from_reply: Callable[[ItemLabel, Any], T | None],
    from_sampled: Callable[[Sequence[ItemLabel]], T],
) -> list[T | None]:
    """One labelling answer with logprobs per text, scored by `from_reply(answer, logprobs)`;
    texts it cannot score (no logprobs) get `votes` sampled answers, scored by
    `from_sampled`. Texts share requests as `ask_labels` groups them."""
    answers = await ask_labels(ctx, texts, logprobs=True, desc="confidence")
    scores: list[T | None] = []
    missing: list[int] = []
    for i, answer in enumerate(answers):
        response = answer.result.response
        score = None
        if response is not None and answer.reply is not None:
            score = from_reply(answer, response.choices[0].logprobs)
        scores.append(score)
        if score is None and answer.reply is not None:
            missing.append(i)
    if missing:
        rounds = [
            await ask_labels(
                ctx,
                [texts[i] for i in missing],
                temperature=0.8,
                sample_index=k + 1,
                desc="self-consistency",
            )
            for k in range(votes)
        ]
        for n, i in enumerate(missing):
            scores[i] = from_sampled([answers_k[n] for answers_k in rounds])
    return scores
